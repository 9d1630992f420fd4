// Runtime Governance Demo (/ui/demo): the scenario of `writ demo --web`, step by step.
//
// The steps run in the demo process (POST /v1/demo/steps/{n}, routes that exist only there);
// this page asks for them in order, shows each outcome, the ledger growing and links to the
// lineage and proof of what just happened, and verifies the last step's proof bundle here, in
// the browser, with ui/verify/bundle.js (an implementation independent of the Rust one).
//
// The demo hands its viewer token in the URL's fragment (#token=…), which browsers never send
// to a server: the page keeps it in the tab's session storage, as the console does, and removes
// it from the location bar at once.

import { h, replace } from '../lib/dom.js';
import { api, ApiError } from '../lib/api.js';
import { getToken, setToken } from '../lib/session.js';
import { verifyBundle } from '../verify/bundle.js';

/**
 * @typedef {{n: number, stage: string, title: string, state: string, result: StepResult | null}} DemoStep
 * @typedef {{
 *   n?: number, state?: string, outcome?: string, details?: string[], execution?: string,
 *   ledger_before?: number, ledger_after?: number, message?: string, code?: string, data?: any,
 * }} StepResult
 * @typedef {{steps: DemoStep[], next: number | null, ledger_size: number, vkey: string | null}} Overview
 */

/** Takes the token out of the fragment (if there is one) into session storage. */
function adoptFragmentToken() {
  const frag = new URLSearchParams(location.hash.slice(1));
  const token = frag.get('token');
  if (token) {
    setToken(token);
    history.replaceState(history.state, '', location.pathname + location.search);
  }
}

/** @param {unknown} e */
function message(e) {
  return e instanceof Error ? e.message : String(e);
}

/**
 * @param {HTMLElement} main
 * @param {import('../lib/session.js').Who | null} _who
 * @returns {() => void} called when the page is left
 */
export function demoPage(main, _who) {
  adoptFragmentToken();
  let left = false;
  const status = h('p', { class: 'demo-status', role: 'status', 'aria-live': 'polite' });
  const ledger = h('span', { 'data-ledger-size': '' }, '…');
  replace(main,
    h('h1', null, 'Runtime Governance Demo'),
    h('p', null, 'Every agent action goes verify → authorize → execute → prove. Run the steps in order: each one ',
      'happens for real in the demo\'s control plane on this machine, is recorded in its ledger, and links to the ',
      'lineage and the proof of what just happened. The last step verifies a proof bundle here, in your browser.'),
    h('p', { class: 'demo-ledger' }, 'Ledger size: ', ledger, ' entries'),
    status);
  if (!getToken()) {
    main.appendChild(h('p', { class: 'notice bad' },
      'No demo token: open the URL printed by ', h('code', null, 'writ demo --web'), ' (it ends with #token=…).'));
    return () => { left = true; };
  }
  const list = h('ol', { class: 'demo-steps' });
  main.appendChild(list);

  /** @type {Map<number, HTMLElement>} */
  const items = new Map();
  /** @type {string | null} */
  let vkey = null;
  /** @type {Promise<void> | null} */
  let verifying = null;
  /** Whether this page is running a step (its answer repaints the page). */
  let busy = false;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let poll;

  /**
   * Shows one step's state and result.
   * @param {DemoStep} s
   * @param {number | null} next
   */
  function paint(s, next) {
    let li = items.get(s.n);
    if (!li) {
      li = h('li', { class: 'demo-step', 'data-step': String(s.n) });
      items.set(s.n, li);
      list.appendChild(li);
    }
    const state = s.state;
    li.setAttribute('data-state', state);
    const titleId = `demo-step-${s.n}-title`;
    const button = h('button', {
      type: 'button', 'data-run': String(s.n), 'aria-describedby': titleId,
      disabled: next !== s.n || state === 'running',
      onclick: () => run(s.n),
    }, { running: 'Running…', done: 'Done', failed: 'Failed' }[state] ?? `Run step ${s.n}`);
    const r = s.result;
    /** @type {(HTMLElement | null)[]} */
    const body = [];
    if (state === 'running') body.push(h('p', { class: 'dim' }, 'Running in the demo\'s control plane…'));
    if (r && state === 'done') {
      // A denial or a refusal is the expected outcome of its step, shown as what it is.
      const refused = /^(denied|refused)/.test(r.outcome ?? '');
      body.push(h('p', { class: `demo-outcome${refused ? ' demo-refused' : ''}`, 'data-outcome': r.outcome ?? '' }, '⇒ ', r.outcome ?? ''));
      body.push(h('ul', { class: 'demo-details' }, (r.details ?? []).map((d) => h('li', null, d))));
    }
    if (r && state === 'failed') {
      body.push(h('p', { class: 'demo-outcome bad', 'data-outcome': 'failed' }, `Failed: ${r.message ?? 'unknown error'}`));
    }
    if (r && typeof r.ledger_before === 'number' && typeof r.ledger_after === 'number') {
      const grew = r.ledger_after - r.ledger_before;
      body.push(h('p', {
        class: 'demo-grew', 'data-ledger-before': String(r.ledger_before), 'data-ledger-after': String(r.ledger_after),
      }, `Ledger: ${r.ledger_before} → ${r.ledger_after} entries (${grew > 0 ? `+${grew}` : 'unchanged'})`));
    }
    if (r?.execution) {
      const ex = encodeURIComponent(r.execution);
      body.push(h('p', { class: 'demo-links' },
        'Execution ', h('code', null, r.execution), ': ',
        h('a', { href: `/ui/lineage/${ex}`, 'data-link': 'lineage' }, 'its lineage'), ' · ',
        h('a', { href: `/ui/proof/${ex}`, 'data-link': 'proof' }, 'its proof')));
    }
    const verified = li.querySelector('.demo-verify');
    replace(li,
      h('div', { class: 'demo-head' },
        h('h2', { id: titleId, class: 'demo-title' }, h('span', { class: 'demo-stage' }, s.stage), ' ', `${s.n}. ${s.title}`),
        button),
      body,
      verified);
  }

  /** @param {Overview} o */
  function paintAll(o) {
    vkey = o.vkey;
    ledger.textContent = String(o.ledger_size);
    for (const s of o.steps) paint(s, o.next);
    // The last step's bundle is verified here once it exists (also after a reload).
    const last = o.steps.find((s) => s.n === 6);
    const li = items.get(6);
    if (last?.state === 'done' && last.result?.data?.proof && li && !verifying) {
      verifying = verifyHere(li, last.result.data.proof);
    }
  }

  /** @returns {Promise<Overview | null>} */
  async function refresh() {
    try {
      const o = /** @type {Overview} */ (await api('/v1/demo'));
      if (left) return o;
      paintAll(o);
      // A step started elsewhere (another tab, or before a reload) is followed until it ends.
      if (!busy && o.steps.some((s) => s.state === 'running')) {
        clearTimeout(poll);
        poll = setTimeout(refresh, 500);
      }
      return o;
    } catch (e) {
      status.textContent = e instanceof ApiError && e.status === 401
        ? 'The demo token was refused: open the URL printed by writ demo --web again.'
        : e instanceof ApiError && e.status === 404
          ? 'This control plane does not run the demo: start writ demo --web and open the URL it prints.'
          : `Cannot reach the demo: ${message(e)}`;
      status.classList.add('bad');
      return null;
    }
  }

  /**
   * Verifies the proof bundle of the last step in the browser and shows every check.
   * @param {HTMLElement} li
   * @param {any} bundle
   */
  async function verifyHere(li, bundle) {
    const box = h('section', { class: 'demo-verify', 'aria-label': 'Proof verified in this browser' },
      h('h3', null, 'Verified in this browser'));
    li.appendChild(box);
    const t0 = performance.now();
    const res = await verifyBundle(bundle, vkey ? { pinnedVkey: vkey } : {});
    const ms = performance.now() - t0;
    box.setAttribute('data-verify-ms', ms.toFixed(1));
    box.append(
      h('p', { class: `demo-verdict ${res.verdict === 'verified' ? 'demo-ok' : 'bad'}`, 'data-verdict': res.verdict },
        res.verdict === 'verified' ? '✔ verified' : '✘ failed',
        h('span', { class: 'dim' }, ` — ${res.checks.length} checks in ${ms.toFixed(0)} ms, against the ledger key this demo printed`)),
      h('ul', { class: 'demo-checks' }, res.checks.map((c) =>
        h('li', { 'data-check': c.name, 'data-status': c.status },
          h('span', { class: `demo-check-${c.status}` }, c.status), ' ', h('code', null, c.name), ': ', c.detail))));
    status.textContent = `Step 6: the proof bundle ${res.verdict === 'verified' ? 'verified' : 'FAILED to verify'} in this browser.`;
  }

  /** @param {number} n */
  async function run(n) {
    const li = items.get(n);
    if (!li) return;
    paint({ n, stage: li.querySelector('.demo-stage')?.textContent ?? '', title: titleOf(li, n), state: 'running', result: null }, null);
    status.classList.remove('bad');
    status.textContent = `Step ${n} is running…`;
    const t0 = performance.now();
    /** @type {StepResult | null} */
    let result = null;
    busy = true;
    try {
      result = await api(`/v1/demo/steps/${n}`, { method: 'POST' });
    } catch (e) {
      status.textContent = `Step ${n}: ${message(e)}`;
      status.classList.add('bad');
    } finally {
      busy = false;
    }
    const ms = performance.now() - t0;
    if (left) return;
    const o = await refresh();
    const item = items.get(n);
    if (!item) return;
    item.setAttribute('data-ms', ms.toFixed(1));
    if (result?.state === 'done') status.textContent = `Step ${n} done: ${result.outcome ?? ''}`;
    if (n === 6 && verifying) await verifying;
    const next = o?.next ? items.get(o.next)?.querySelector('button') : null;
    if (next instanceof HTMLButtonElement) next.focus();
  }

  /**
   * @param {HTMLElement} li
   * @param {number} n
   */
  function titleOf(li, n) {
    const t = li.querySelector('.demo-title')?.textContent ?? '';
    const prefix = `${n}. `;
    const at = t.indexOf(prefix);
    return at >= 0 ? t.slice(at + prefix.length) : t;
  }

  refresh();
  return () => { left = true; clearTimeout(poll); };
}
