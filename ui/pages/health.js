// The Infrastructure Health Dashboard (/ui/health): each component's state with its reason,
// and the last hour from the server's ring buffer (GET /v1/status/history), so the page shows
// history the moment it opens. Refreshed every 2 s.

import { h, replace } from '../lib/dom.js';
import { api, ApiError } from '../lib/api.js';
import { fmtAgo, fmtBytes, fmtMs, fmtRate } from '../lib/format.js';
import { contactText } from '../lib/health.js';
import '../lib/chart.js';

const REFRESH_MS = 2000;

const NAMES = /** @type {Record<string, string>} */ ({
  ledger: 'Ledger', index: 'Execution index', policy: 'Policy bundle', kill_switch: 'Kill switch', gates: 'Gates', disk: 'Disk',
});

/**
 * @param {string} label
 * @param {{name: string, values: (number | null)[], cls: string}[]} series
 * @param {(v: number) => string} format
 */
function chart(label, series, format) {
  const el = /** @type {import('../lib/chart.js').WritChart} */ (h('writ-chart', { label }));
  el.format = format;
  el.series = series;
  return h('figure', { class: 'chart' }, h('figcaption', null, label), el);
}

/**
 * @param {HTMLElement} main
 * @param {import('../lib/session.js').Who} _who
 * @returns {() => void}
 */
export function healthPage(main, _who) {
  const states = h('ul', { class: 'states', 'aria-label': 'Component states' });
  const charts = h('div', { class: 'charts' });
  const gatesBody = h('tbody');
  const facts = h('dl', { class: 'facts' });
  const err = h('p', { class: 'notice bad', role: 'alert' });
  replace(main, h('h1', null, 'Infrastructure Health'), err,
    h('section', { 'aria-labelledby': 'h-states' }, h('h2', { id: 'h-states' }, 'Components'), states),
    h('section', { 'aria-labelledby': 'h-last-hour' }, h('h2', { id: 'h-last-hour' }, 'Last hour'), charts),
    h('section', { 'aria-labelledby': 'h-hgates' }, h('h2', { id: 'h-hgates' }, 'Gates'),
      h('div', { class: 'scroll' }, h('table', null, h('thead', null, h('tr', null,
        ...['Gate', 'Zone', 'Event feed', 'Last heartbeat or contact', 'Executions', 'Last execution'].map((t) => h('th', { scope: 'col' }, t)))), gatesBody))),
    h('section', { 'aria-labelledby': 'h-data' }, h('h2', { id: 'h-data' }, 'Data'), facts));

  let stopped = false;
  /** @type {ReturnType<typeof setTimeout> | null} */
  let timer = null;
  const tick = async () => {
    try {
      const [hist, status] = await Promise.all([api('/v1/status/history'), api('/v1/status')]);
      if (stopped) return;
      err.textContent = '';
      replace(states, ...hist.components.map((/** @type {any} */ c) => h('li', { 'data-component': c.component, 'data-state': c.state, class: `state ${c.state}` },
        h('span', { class: 'badge' }, c.state), ' ', h('strong', null, NAMES[c.component] ?? c.component), ': ', c.reason)));
      /** @type {any[]} */
      const s = hist.samples;
      /** @param {string} k @returns {(number | null)[]} */
      const col = (k) => s.map((x) => (x[k] === undefined ? null : x[k]));
      replace(charts,
        chart('Decisions per second', [{ name: 'allowed', values: col('allowed_per_s'), cls: 'allow' }, { name: 'denied', values: col('denied_per_s'), cls: 'deny' }], fmtRate),
        chart('Authorize latency', [{ name: 'p50', values: col('authorize_p50_ms'), cls: 'a' }, { name: 'p99', values: col('authorize_p99_ms'), cls: 'b' }], fmtMs),
        chart('Append→checkpoint latency', [{ name: 'p50', values: col('append_checkpoint_p50_ms'), cls: 'a' }, { name: 'p99', values: col('append_checkpoint_p99_ms'), cls: 'b' }], fmtMs),
        chart('Checkpoint age', [{ name: 'age', values: col('checkpoint_age_ms'), cls: 'a' }], fmtMs),
        chart('Index lag (entries)', [{ name: 'lag', values: col('index_lag'), cls: 'a' }], fmtRate),
        chart('Event-feed subscribers', [{ name: 'subscribers', values: col('subscribers'), cls: 'a' }], fmtRate),
        chart('Process memory', [{ name: 'RSS', values: col('rss_bytes'), cls: 'a' }], fmtBytes),
        chart('Process CPU (% of one core)', [{ name: 'CPU', values: col('cpu_percent'), cls: 'a' }], fmtRate));
      replace(gatesBody, ...(status.gates ?? []).map((/** @type {any} */ g) => h('tr', { 'data-gate': g.gate, 'data-connected': String(Boolean(g.connected)) },
        h('td', null, h('code', null, g.gate)), h('td', null, g.zone ?? '—'),
        h('td', null, g.connected ? `connected (${g.feeds ?? 1})` : 'not connected'),
        h('td', { 'data-last-contact': g.last_contact ?? '' }, contactText(g, status.now)),
        h('td', null, String(g.executions ?? 0)), h('td', null, fmtAgo(g.last_seen, status.now)))));
      const ac = status.ledger?.append_checkpoint ?? {};
      const last = s[s.length - 1] ?? {};
      replace(facts,
        h('dt', null, 'Ledger'), h('dd', null, `${status.ledger?.size ?? 0} entries, ${fmtBytes(status.storage?.ledger_bytes)}`),
        h('dt', null, 'Append→checkpoint'), h('dd', { 'data-fact': 'append-checkpoint' },
          ac.entries ? `last ${fmtMs(ac.last_ms)}, p50 ${fmtMs(ac.p50_ms)}, p99 ${fmtMs(ac.p99_ms)} over ${ac.entries} entries` : 'no entry appended since the server started'),
        h('dt', null, 'Checkpoint age'), h('dd', null, fmtMs(status.ledger?.checkpoint_age_ms)),
        h('dt', null, 'Index lag'), h('dd', null, `${status.index?.lag ?? 0} entries`),
        h('dt', null, 'Index'), h('dd', null, `${status.index?.indexed ?? 0} indexed, ${fmtBytes(status.storage?.index_bytes)}`),
        h('dt', null, 'Data in total'), h('dd', null, fmtBytes(status.storage?.total_bytes)),
        h('dt', null, 'Free disk'), h('dd', null, `${fmtBytes(last.disk_free_bytes)} of ${fmtBytes(last.disk_total_bytes)}`),
        h('dt', null, 'Samples'), h('dd', null, `${s.length} at ${hist.interval_secs} s`));
    } catch (e) {
      if (!stopped) err.textContent = e instanceof ApiError ? `${e.code}: ${e.message}` : String(e);
    }
    if (!stopped) timer = setTimeout(tick, REFRESH_MS);
  };
  tick();
  return () => { stopped = true; if (timer) clearTimeout(timer); };
}
