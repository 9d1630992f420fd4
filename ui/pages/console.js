// The Governance Console (/ui/): overview, kill switch, decisions (live and searchable),
// principals, gates, zones and policies. Every act goes through the same API as the CLI and is
// recorded in the ledger under the signed-in person. Governance controls are rendered only for
// people whose role governs (admin, operator); auditors see none.

import { h, replace, confirmAct } from '../lib/dom.js';
import { api, post, ApiError } from '../lib/api.js';
import { getToken } from '../lib/session.js';
import { openFeed } from '../lib/feed.js';
import { SEARCH_FIELDS, matchesLive, searchQuery, zonesOf } from '../lib/filter.js';
import { fmtAgo, fmtTime, fmtRate, shortDigest } from '../lib/format.js';
import { contactText, splitSimulation } from '../lib/health.js';

/** How many recorded decisions a candidate bundle is simulated against. */
const SIMULATE_LAST = 200;
/** Live rows kept on the page. */
const LIVE_ROWS = 100;

/**
 * @param {HTMLElement} main
 * @param {import('../lib/session.js').Who} who
 * @returns {() => void}
 */
export function consolePage(main, who) {
  const governs = who.governs;
  const sections = {
    overview: h('section', { 'aria-labelledby': 'h-overview', id: 'overview' }),
    kill: h('section', { 'aria-labelledby': 'h-kill', id: 'kill-switch' }),
    decisions: h('section', { 'aria-labelledby': 'h-decisions', id: 'decisions' }),
    execution: h('section', { 'aria-labelledby': 'h-execution', id: 'execution', hidden: true }),
    principals: h('section', { 'aria-labelledby': 'h-principals', id: 'principals' }),
    gates: h('section', { 'aria-labelledby': 'h-gates', id: 'gates' }),
    zones: h('section', { 'aria-labelledby': 'h-zones', id: 'zones' }),
    policies: h('section', { 'aria-labelledby': 'h-policies', id: 'policies' }),
  };
  const notice = h('p', { class: 'notice', role: 'status', 'aria-live': 'polite' });
  const jump = h('nav', { 'aria-label': 'Sections', class: 'jump' },
    ...[['overview', 'Overview'], ['kill-switch', 'Kill switch'], ['decisions', 'Decisions'], ['principals', 'Principals'],
      ['gates', 'Gates'], ['zones', 'Zones'], ['policies', 'Policies']].map(([id, t]) => h('a', { href: `#${id}` }, t)));
  replace(main, h('h1', null, 'Governance Console'), jump, notice, ...Object.values(sections));

  /** @param {string} text @param {boolean} [bad] */
  const say = (text, bad = false) => {
    notice.textContent = text;
    notice.classList.toggle('bad', bad);
  };
  /** @param {unknown} e */
  const failed = (e) => say(e instanceof ApiError ? `${e.code}: ${e.message}` : String(e), true);

  /** @type {any} */
  let status = null;
  /** @type {any[]} */
  let principals = [];
  /** @type {any[]} */
  let gates = [];

  // ------------------------------------------------------------------ acts
  /**
   * Runs a governance act after a confirmation naming its effect.
   * @param {string} title @param {string} effect @param {string} label @param {() => Promise<any>} act
   */
  const act = async (title, effect, label, act) => {
    if (!(await confirmAct(title, effect, label))) return;
    try {
      const r = await act();
      say(`${title}: done${r?.ledger_index !== undefined ? ` (ledger entry ${r.ledger_index})` : ''}.`);
    } catch (e) { failed(e); }
    await load();
  };
  /** @param {string} id @param {boolean} on */
  const quarantinePrincipal = (id, on) => act(
    on ? `Quarantine ${id}` : `Release ${id}`,
    on ? `Every authorize by ${id} is denied until released; its running executions end at their next lease renewal.`
      : `${id} may be authorized again under the active policies.`,
    on ? 'Quarantine' : 'Release',
    () => post('/v1/admin/quarantines', { principal: id, on }));
  /** @param {string} id */
  const revokePrincipal = (id) => act(
    `Revoke ${id}`,
    `${id} and every token it holds stop working at once, for good; its writs are refused by gates.`,
    'Revoke', () => post(`/v1/admin/principals/${encodeURIComponent(id)}/revoke`, {}));
  /** @param {string} zone @param {boolean} on */
  const quarantineZone = (zone, on) => act(
    on ? `Quarantine zone ${zone}` : `Release zone ${zone}`,
    on ? `Every authorize in zone ${zone} is denied until released.` : `Zone ${zone} may be authorized again.`,
    on ? 'Quarantine zone' : 'Release zone',
    () => post('/v1/admin/quarantines', { zone, on }));

  // ------------------------------------------------------------------ overview and kill switch
  const renderOverview = (/** @type {any} */ hist) => {
    const s = status;
    if (!s) return;
    const last = hist?.samples?.[hist.samples.length - 1];
    const q = s.quarantines ?? {};
    const r = s.revocations ?? {};
    const list = (/** @type {string[]} */ xs) => (xs?.length ? xs.join(', ') : 'none');
    replace(sections.overview,
      h('h2', { id: 'h-overview' }, 'Overview'),
      h('dl', { class: 'facts' },
        h('dt', null, 'Active bundle'), h('dd', null, h('code', { title: s.bundle?.sha256 ?? '' }, shortDigest(s.bundle?.sha256)),
          s.bundle?.activated_at ? ` activated ${fmtTime(s.bundle.activated_at)} by ${s.bundle.activated_by}` : ''),
        h('dt', null, 'Kill switch'), h('dd', { 'data-kill-switch': s.kill_switch ? 'on' : 'off' }, s.kill_switch ? 'ON: every authorize is denied' : 'off'),
        h('dt', null, 'Quarantined'), h('dd', null, `principals: ${list(q.principals)}; zones: ${list(q.zones)}`),
        h('dt', null, 'Revoked'), h('dd', null, `principals: ${list(r.principals)}; zones: ${list(r.zones)}; writs: ${r.writs ?? 0}`),
        h('dt', null, 'Decisions per minute'), h('dd', null, last
          ? `${fmtRate(last.allowed_per_s * 60)} allowed, ${fmtRate(last.denied_per_s * 60)} denied` : '—'),
        h('dt', null, 'Gates'), h('dd', null, (s.gates ?? []).length
          ? (s.gates ?? []).map((/** @type {any} */ g) => `${g.gate}: ${contactText(g, s.now)}`).join('; ')
          : 'none registered'),
        h('dt', null, 'Ledger'), h('dd', null, `${s.ledger?.size ?? 0} entries`)));
    const on = Boolean(s.kill_switch);
    replace(sections.kill,
      h('h2', { id: 'h-kill' }, 'Kill switch'),
      h('p', null, on ? 'The kill switch is on: every authorize is denied and running executions end at their next renewal.'
        : 'The kill switch is off.'),
      governs && h('button', {
        type: 'button', class: on ? '' : 'danger', 'data-governance': true, 'data-act': on ? 'kill-off' : 'kill-on',
        onclick: () => act(on ? 'Turn the kill switch off' : 'Turn the kill switch on',
          on ? 'Authorize decides by the active policies again.'
            : 'Every authorize of every principal is denied, and running executions end at their next lease renewal, until it is turned off.',
          on ? 'Turn off' : 'Turn on', () => post('/v1/admin/kill-switch', { on: !on })),
      }, on ? 'Turn the kill switch off' : 'Turn the kill switch on'));
  };

  // ------------------------------------------------------------------ principals, gates, zones
  const renderPrincipals = () => {
    const q = new Set(status?.quarantines?.principals ?? []);
    const tokenOut = h('div', { class: 'token-out', 'aria-live': 'polite' });
    const rows = principals.map((p) => {
      const quarantined = q.has(p.id);
      const active = p.status === 'active';
      return h('tr', { 'data-principal': p.id },
        h('td', null, h('code', null, p.id)), h('td', null, p.zone ?? '—'), h('td', null, p.role ?? '—'),
        h('td', null, quarantined ? 'quarantined' : p.status),
        h('td', null, h('code', null, p.attrs && Object.keys(p.attrs).length ? JSON.stringify(p.attrs) : '—')),
        governs && h('td', { class: 'acts' },
          active && h('button', { type: 'button', 'data-governance': true, 'data-act': quarantined ? 'release' : 'quarantine',
            onclick: () => quarantinePrincipal(p.id, !quarantined) }, quarantined ? 'Release' : 'Quarantine',
          h('span', { class: 'vh' }, ` ${p.id}`)),
          active && h('button', { type: 'button', class: 'danger', 'data-governance': true, 'data-act': 'revoke',
            onclick: () => revokePrincipal(p.id) }, 'Revoke', h('span', { class: 'vh' }, ` ${p.id}`))));
    });
    /** @type {HTMLElement | false} */
    let add = false;
    if (who.kind === 'admin') {
      add = h('form', { class: 'inline', 'data-governance': true },
        h('label', { for: 'np-id' }, 'Id'), h('input', { id: 'np-id', name: 'id', placeholder: 'agent:name', required: true }),
        h('label', { for: 'np-zone' }, 'Zone'), h('input', { id: 'np-zone', name: 'zone', required: true }),
        h('label', { for: 'np-role' }, 'Role (people)'),
        h('select', { id: 'np-role', name: 'role' }, h('option', { value: '' }, 'none'),
          ...['auditor', 'operator', 'admin'].map((r) => h('option', { value: r }, r))),
        h('button', { type: 'submit' }, 'Add principal'));
      add.addEventListener('submit', async (e) => {
        e.preventDefault();
        const f = new FormData(/** @type {HTMLFormElement} */ (e.currentTarget));
        /** @type {Record<string, string>} */
        const body = { id: String(f.get('id')), zone: String(f.get('zone')) };
        if (f.get('role')) body.role = String(f.get('role'));
        try {
          const r = await post('/v1/admin/principals', body);
          const code = h('code', { 'data-token': true }, r.token);
          replace(tokenOut, h('p', null, `Token for ${body.id}, shown once: `), code, ' ',
            h('button', { type: 'button', onclick: () => navigator.clipboard?.writeText(r.token) }, 'Copy token'));
          await load();
        } catch (err) { failed(err); }
      });
    }
    replace(sections.principals, h('h2', { id: 'h-principals' }, 'Principals'),
      h('div', { class: 'scroll' }, h('table', null,
        h('thead', null, h('tr', null, ...['Principal', 'Zone', 'Role', 'Status', 'Attributes'].map((t) => h('th', { scope: 'col' }, t)),
          governs && h('th', { scope: 'col' }, 'Acts'))),
        h('tbody', null, ...rows))), add, tokenOut);
  };

  const renderGates = () => {
    const seen = new Map((status?.gates ?? []).map((/** @type {any} */ g) => [g.gate, g]));
    replace(sections.gates, h('h2', { id: 'h-gates' }, 'Gates'),
      h('div', { class: 'scroll' }, h('table', null,
        h('thead', null, h('tr', null, ...['Gate', 'Zone', 'Key (Ed25519)', 'Contact', 'Executions', 'Last execution'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', null, ...gates.map((g) => {
          const s = /** @type {any} */ (seen.get(g.id) ?? {});
          return h('tr', { 'data-gate': g.id }, h('td', null, h('code', null, g.id)), h('td', null, g.zone ?? '—'),
            h('td', null, h('code', { title: g.public_key ?? '' }, shortDigest(g.public_key, 16))),
            h('td', { 'data-connected': String(Boolean(s.connected)) }, contactText(s, status?.now ?? 0)),
            h('td', null, String(s.executions ?? 0)), h('td', null, fmtAgo(s.last_seen, status?.now ?? 0)));
        })))));
  };

  const renderZones = () => {
    const q = new Set(status?.quarantines?.zones ?? []);
    const zones = zonesOf(principals, gates);
    for (const z of q) if (!zones.some((x) => x.zone === z)) zones.push({ zone: z, principals: [], gates: [] });
    replace(sections.zones, h('h2', { id: 'h-zones' }, 'Zones'),
      h('div', { class: 'scroll' }, h('table', null,
        h('thead', null, h('tr', null, ...['Zone', 'State', 'Principals', 'Gates'].map((t) => h('th', { scope: 'col' }, t)),
          governs && h('th', { scope: 'col' }, 'Acts'))),
        h('tbody', null, ...zones.map((z) => h('tr', { 'data-zone': z.zone },
          h('td', null, h('code', null, z.zone)), h('td', null, q.has(z.zone) ? 'quarantined' : 'open'),
          h('td', null, z.principals.join(', ') || '—'), h('td', null, z.gates.join(', ') || '—'),
          governs && h('td', null, h('button', { type: 'button', 'data-governance': true, 'data-act': q.has(z.zone) ? 'release' : 'quarantine',
            onclick: () => quarantineZone(z.zone, !q.has(z.zone)) }, q.has(z.zone) ? 'Release' : 'Quarantine',
          h('span', { class: 'vh' }, ` zone ${z.zone}`)))))))));
  };

  // ------------------------------------------------------------------ decisions
  const live = h('ol', { 'data-feed': true, class: 'feed', 'aria-label': 'Live decisions' });
  const feedState = h('span', { class: 'feed-state', 'data-feed-state': 'connecting' }, 'connecting…');
  const results = h('tbody');
  const more = h('button', { type: 'button', hidden: true }, 'Next page');
  /** @type {Record<string, string>} */
  let form = {};
  /** @type {string | undefined} */
  let cursor;
  const searchForm = h('form', { class: 'search', 'aria-label': 'Search decisions' },
    ...SEARCH_FIELDS.map((f) => h('span', { class: 'field' }, h('label', { for: `s-${f}` }, f.replace('_', ' ')),
      f === 'decision'
        ? h('select', { id: `s-${f}`, name: f }, h('option', { value: '' }, 'any'), h('option', { value: 'allow' }, 'allow'), h('option', { value: 'deny' }, 'deny'))
        : h('input', { id: `s-${f}`, name: f }))),
    h('span', { class: 'field' }, h('label', { for: 's-since' }, 'since (UTC)'), h('input', { id: 's-since', name: 'since', type: 'datetime-local' })),
    h('span', { class: 'field' }, h('label', { for: 's-until' }, 'until (UTC)'), h('input', { id: 's-until', name: 'until', type: 'datetime-local' })),
    h('button', { type: 'submit' }, 'Search'));

  /** @param {any} x */
  const row = (x) => h('tr', { 'data-execution': x.execution, 'data-decision': x.decision },
    h('td', null, fmtTime(x.time)), h('td', null, h('code', null, x.principal)),
    h('td', { class: `d-${x.decision}` }, x.decision), h('td', null, x.reason_code),
    h('td', null, x.action), h('td', null, h('code', null, x.resource)), h('td', null, x.gate ?? '—'), h('td', null, x.zone ?? '—'),
    h('td', null, h('button', { type: 'button', onclick: () => openExecution(x.execution) }, 'Open', h('span', { class: 'vh' }, ` ${x.execution}`))));

  const search = async (/** @type {boolean} */ next) => {
    try {
      const page = await api(`/v1/executions?${searchQuery(form, { limit: 50, cursor: next ? cursor : undefined })}`);
      if (!next) results.replaceChildren();
      for (const x of page.executions) results.appendChild(row(x));
      cursor = page.next_cursor ?? undefined;
      more.hidden = !cursor;
    } catch (e) { failed(e); }
  };
  searchForm.addEventListener('submit', (e) => {
    e.preventDefault();
    const f = new FormData(/** @type {HTMLFormElement} */ (searchForm));
    form = Object.fromEntries([...f.entries()].map(([k, v]) => [k, String(v)]));
    search(false);
  });
  more.addEventListener('click', () => search(true));
  replace(sections.decisions, h('h2', { id: 'h-decisions' }, 'Decisions'),
    h('h3', null, 'Live ', feedState), live,
    h('h3', null, 'Search'), searchForm,
    h('div', { class: 'scroll' }, h('table', { class: 'results' },
      h('thead', null, h('tr', null, ...['Time', 'Principal', 'Decision', 'Reason', 'Action', 'Resource', 'Gate', 'Zone', 'Execution']
        .map((t) => h('th', { scope: 'col' }, t)))), results)), more);

  /** @param {string} id */
  const openExecution = async (id) => {
    const sec = sections.execution;
    sec.hidden = false;
    replace(sec, h('h2', { id: 'h-execution', tabindex: '-1' }, 'Execution ', h('code', null, id)), h('p', null, 'Loading…'));
    const [lineage, proof] = await Promise.all([
      api(`/v1/lineage/${encodeURIComponent(id)}`).catch((e) => ({ error: e })),
      api(`/v1/proofs/${encodeURIComponent(id)}`).catch((e) => ({ error: e })),
    ]);
    const entries = (proof.entries ?? []).map((/** @type {any} */ e) => {
      try { return { index: e.index, entry: JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(e.entry_b64), (c) => c.charCodeAt(0)))) }; } catch { return { index: e.index, entry: null }; }
    });
    const decision = entries.find((/** @type {any} */ e) => e.entry?.type === 'decision')?.entry;
    const receipts = entries.filter((/** @type {any} */ e) => e.entry && e.entry.type !== 'decision');
    const rec = decision ?? {};
    replace(sec, h('h2', { id: 'h-execution', tabindex: '-1' }, 'Execution ', h('code', null, id)),
      h('dl', { class: 'facts' },
        h('dt', null, 'Decision'), h('dd', null, String(rec.decision ?? '—'), rec.reason_code ? ` (${rec.reason_code})` : ''),
        h('dt', null, 'Reasons'), h('dd', null, (rec.reasons ?? []).join('; ') || '—'),
        h('dt', null, 'Determining policies'), h('dd', null, (rec.determining ?? []).join(', ') || '—'),
        h('dt', null, 'Receipts and closings'), h('dd', null, receipts.length
          ? receipts.map((/** @type {any} */ e) => `${e.entry.type} ${e.entry.outcome ?? ''} (entry ${e.index})`).join('; ') : 'none yet'),
        h('dt', null, 'Lineage'), h('dd', null, lineage.error ? String(lineage.error.message)
          : `root ${lineage.root}; parent ${lineage.ancestors?.[0]?.execution ?? 'none'}; children ${(lineage.descendants ?? []).map((/** @type {any} */ d) => d.execution).join(', ') || 'none'}`),
        h('dt', null, 'Ledger indexes'), h('dd', null, entries.map((/** @type {any} */ e) => e.index).join(', ') || (proof.error ? String(proof.error.message) : '—')),
        h('dt', null, 'Open in'), h('dd', null,
          h('a', { href: `/ui/lineage/${encodeURIComponent(id)}`, 'data-link': 'lineage' }, 'Lineage Explorer'), ' · ',
          h('a', { href: `/ui/proof/${encodeURIComponent(id)}`, 'data-link': 'proof' }, 'Proof Viewer'))),
      h('button', { type: 'button', onclick: () => { sec.hidden = true; } }, 'Close'));
    sec.querySelector('h2')?.focus();
  };

  // ------------------------------------------------------------------ policies
  /** @type {Record<string, string> | null} */
  let candidate = null;
  const polOut = h('div', { class: 'pol-out', 'aria-live': 'polite' });
  const renderPolicies = async () => {
    let active = null;
    try { active = await api('/v1/admin/bundles/active'); } catch (e) { if (!(e instanceof ApiError && e.status === 404)) failed(e); }
    const files = active?.files && typeof active.files === 'object' ? Object.entries(active.files).filter(([n]) => n !== 'bundle.sig') : [];
    const input = /** @type {HTMLInputElement} */ (h('input', { id: 'candidate', type: 'file', multiple: true,
      accept: '.cedar,.cedarschema,.json,.sig' }));
    input.addEventListener('change', async () => {
      candidate = {};
      for (const f of input.files ?? []) candidate[f.name] = await f.text();
      replace(polOut, h('p', null, `Candidate: ${Object.keys(candidate).join(', ')}`));
    });
    const need = () => { if (!candidate) { replace(polOut, h('p', { class: 'bad' }, 'Choose the candidate bundle files first.')); } return candidate; };
    const validate = async () => {
      const files = need(); if (!files) return;
      try {
        const r = await post('/v1/admin/bundles/validate', { files });
        replace(polOut, h('p', { 'data-valid': 'true' }, `Valid: ${r.policies} policies, digest ${shortDigest(r.bundle_sha256)}.`),
          r.warnings?.length ? h('pre', null, r.warnings.join('\n')) : '');
      } catch (e) {
        replace(polOut, h('p', { 'data-valid': 'false', class: 'bad' }, 'Invalid bundle:'), h('pre', null, e instanceof Error ? e.message : String(e)));
      }
    };
    const simulate = async () => {
      const files = need(); if (!files) return;
      try {
        // The server replays the recorded requests whole (v2 ones from their disclosures) and
        // names those it cannot (arguments erased) rather than deciding on empty arguments.
        const r = await post('/v1/admin/bundles/simulate', { files, last: SIMULATE_LAST });
        const rows = /** @type {import('../lib/health.js').SimRow[]} */ (r.recorded ?? []);
        const { changed, missing, simulated } = splitSimulation(rows);
        replace(polOut,
          h('p', { 'data-simulated': String(simulated) }, `Simulated against the last ${simulated} recorded requests: ${changed.length} would change.`),
          h('ul', { class: 'changed' }, ...changed.map((c) => h('li', { 'data-changed': c.row.execution }, c.text))),
          missing.length ? h('p', { class: 'bad' }, `${missing.length} recorded request(s) not simulated: their arguments are not available.`) : '',
          missing.length ? h('ul', { class: 'not-simulated' }, ...missing.map((c) => h('li', { 'data-not-simulated': c.row.execution, 'data-arguments': c.row.arguments ?? '' }, c.text))) : '');
      } catch (e) { replace(polOut, h('p', { class: 'bad' }, e instanceof Error ? e.message : String(e))); }
    };
    const activate = () => {
      const files = need(); if (!files) return;
      act('Activate the candidate bundle', 'Every authorize from now on is decided by the candidate bundle; the activation is recorded in the ledger.',
        'Activate', () => post('/v1/admin/bundles/activate', { files })).then(() => renderPolicies());
    };
    replace(sections.policies, h('h2', { id: 'h-policies' }, 'Policies'),
      h('p', null, active ? `Active bundle ${shortDigest(active.bundle_sha256)} (${active.policies} policies, ${active.engine}, signed by ${active.signed_by ?? 'nobody'})` : 'No bundle is active.'),
      ...files.map(([name, text]) => h('details', null, h('summary', null, name), h('pre', { class: 'source' }, String(text)))),
      governs && h('div', { class: 'candidate', 'data-governance': true },
        h('h3', null, 'Candidate bundle'),
        h('label', { for: 'candidate' }, 'Bundle files (schema, policies, entities.json, bundle.sig)'), input,
        h('div', { class: 'row' },
          h('button', { type: 'button', 'data-act': 'validate', onclick: validate }, 'Validate'),
          h('button', { type: 'button', 'data-act': 'simulate', onclick: simulate }, 'Simulate'),
          h('button', { type: 'button', class: 'danger', 'data-act': 'activate', onclick: activate }, 'Activate…'))),
      polOut);
  };

  // ------------------------------------------------------------------ loading and the feed
  const load = async () => {
    try {
      const [s, p, g, hist] = await Promise.all([
        api('/v1/status'), api('/v1/admin/principals'), api('/v1/admin/gates'), api('/v1/status/history').catch(() => null),
      ]);
      status = s; principals = p.principals ?? []; gates = g.gates ?? [];
      renderOverview(hist); renderPrincipals(); renderGates(); renderZones();
    } catch (e) { failed(e); }
  };
  let reloadTimer = /** @type {ReturnType<typeof setTimeout> | null} */ (null);
  const reloadSoon = () => { if (!reloadTimer) reloadTimer = setTimeout(() => { reloadTimer = null; load(); }, 150); };

  const feed = openFeed({
    url: '/v1/events',
    token: getToken,
    onStatus: (st, detail) => {
      feedState.setAttribute('data-feed-state', st);
      feedState.textContent = st === 'live' ? '● live' : st === 'retrying' ? `reconnecting (${detail ?? ''})` : st;
    },
    onEvent: (ev) => {
      if (ev.kind === 'decision') {
        const d = ev.data ?? {};
        if (!matchesLive(d, form)) return;
        live.prepend(h('li', { 'data-execution': d.execution, 'data-decision': d.decision },
          h('span', { class: `d-${d.decision}` }, d.decision), ' ', h('code', null, d.principal ?? '?'),
          d.reason_code ? ` ${d.reason_code}` : '', ' ', h('span', { class: 'dim' }, `#${d.ledger_index ?? ''}`)));
        while (live.children.length > LIVE_ROWS) live.lastElementChild?.remove();
      } else if (['snapshot', 'quarantine', 'revocation', 'kill_switch', 'policy', 'principal'].includes(ev.kind)) {
        reloadSoon();
      }
    },
  });

  load();
  search(false);
  renderPolicies();
  return () => { feed.close(); if (reloadTimer) clearTimeout(reloadTimer); };
}
