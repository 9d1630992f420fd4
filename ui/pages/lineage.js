// The Execution Lineage Explorer (/ui/lineage, /ui/lineage/{execution}): search executions by
// id, principal and time; draw the whole tree of one from its root (GET /v1/lineage, every
// page) as SVG, laid out by ui/lib/layout.js; select a node (click or keyboard) for its
// details and its proof bundle verified in the browser with the proof viewer's own code.
// Pan (drag, arrow buttons), zoom (wheel, buttons), export as SVG or JSON.
//
// Test hooks: each node `data-node` with `data-decision` and `data-outcome`; each edge
// `data-edge="<parent>-><child>"`, with `data-zone-crossing="true"` where the zones differ;
// the selected node's proof verdict `data-proof-verdict`; the graph's timings `data-layout-ms`.

import { h, replace } from '../lib/dom.js';
import { api, ApiError } from '../lib/api.js';
import { fmtTime } from '../lib/format.js';
import { SIZES, fitView, layoutTree, zoomAt } from '../lib/layout.js';
import { verifyBundle } from '../verify/bundle.js';

const SVG = 'http://www.w3.org/2000/svg';
/** Nodes asked per page, and the most drawn (a bigger tree is cut, and says so). */
const PAGE = 1000;
const MAX_NODES = 20_000;

/**
 * @typedef {{
 *   execution: string, parent?: string, ledger_index: number, redacted?: boolean,
 *   principal?: string, on_behalf_of?: string[], action?: string, resource?: string,
 *   decision?: 'allow' | 'deny', reason_code?: string, outcome?: string, outcome_reason?: string,
 *   zone?: string, gate?: string, decided_at?: number, started_at?: number, finished_at?: number
 * }} LNode
 */

/**
 * An SVG element; attributes set as given (presentation attributes, never `style`).
 * @param {string} tag
 * @param {Record<string, string | number | null | undefined>} [attrs]
 * @param {...(Element | string)} kids
 * @returns {SVGElement}
 */
function s(tag, attrs = {}, ...kids) {
  const el = /** @type {SVGElement} */ (document.createElementNS(SVG, tag));
  for (const [k, v] of Object.entries(attrs)) {
    if (v !== null && v !== undefined) el.setAttribute(k, String(v));
  }
  for (const kid of kids) el.append(kid);
  return el;
}

/** @param {string | undefined} t @param {number} n */
const clip = (t, n) => {
  const x = t ?? '';
  return x.length > n ? `${x.slice(0, n - 1)}…` : x;
};

/** @param {unknown} e */
const message = (e) => (e instanceof ApiError ? `${e.code}: ${e.message}` : String(e));

/** @param {string} href */
function go(href) {
  history.pushState(null, '', href);
  window.dispatchEvent(new PopStateEvent('popstate'));
}

/** Words for an outcome. @param {string | undefined} o */
function outcomeText(o) {
  return ({
    success: 'succeeded', failure: 'failed', denied_at_gate: 'denied at the gate',
    terminated_by_governance: 'terminated by governance', lease_expired: 'lease expired',
    not_run: 'not run', open: 'running or unreported',
  })[o ?? ''] ?? (o ?? '—');
}

/** @param {LNode} n */
function nodeClasses(n) {
  const c = ['lineage-node'];
  if (n.redacted) c.push('lineage-redacted');
  else c.push(n.decision === 'deny' ? 'lineage-deny' : 'lineage-allow');
  if (n.outcome === 'terminated_by_governance' || n.outcome === 'denied_at_gate') c.push('lineage-terminated');
  return c.join(' ');
}

/** @param {LNode} n */
function nodeLabel(n) {
  if (n.redacted) return `Execution ${n.execution}, not readable by you`;
  return `${n.principal} ${n.action} ${n.resource}: ${n.decision} (${n.reason_code}), ${outcomeText(n.outcome)}, zone ${n.zone ?? 'unknown'}`;
}

/**
 * Every node of the tree `execution` belongs to, over all pages.
 * @param {string} execution
 * @returns {Promise<{root: string, nodes: LNode[], cut: boolean}>}
 */
async function fetchTree(execution) {
  /** @type {LNode[]} */
  const nodes = [];
  let cursor = '';
  let root = '';
  for (;;) {
    const q = `limit=${PAGE}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const page = await api(`/v1/lineage/${encodeURIComponent(execution)}?${q}`);
    root = page.root;
    nodes.push(...(page.nodes ?? []));
    if (!page.next_cursor) return { root, nodes, cut: false };
    if (nodes.length >= MAX_NODES) return { root, nodes, cut: true };
    cursor = page.next_cursor;
  }
}

/**
 * Downloads `text` as a file through a Blob URL.
 * @param {string} name
 * @param {string} type
 * @param {string} text
 */
function download(name, type, text) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = h('a', { href: url, download: name, class: 'vh' });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** The look of an exported SVG file (the page's own CSS does not travel with it). */
const EXPORT_CSS = `
.lineage-node rect{fill:#fff;stroke:#166534;stroke-width:2}
.lineage-deny rect{fill:#fef2f2;stroke:#b91c1c;stroke-width:3}
.lineage-terminated rect{stroke:#92400e;stroke-width:3;stroke-dasharray:6 3}
.lineage-redacted rect{fill:#f3f4f6;stroke:#6b7280;stroke-dasharray:2 2}
.lineage-node text{font:12px system-ui,sans-serif;fill:#111827}
.lineage-node .lineage-t1{font-weight:700}
.lineage-edge{fill:none;stroke:#6b7280;stroke-width:1.5}
.lineage-crossing{stroke:#7c3aed;stroke-width:2.5;stroke-dasharray:8 4}
.lineage-crossing-label{font:11px system-ui,sans-serif;fill:#6d28d9;font-weight:700}`;

/**
 * @param {HTMLElement} main
 * @param {import('../lib/session.js').Who} _who
 * @param {string | undefined} execution
 * @returns {() => void} called when the page is left
 */
export function lineagePage(main, _who, execution) {
  let stopped = false;
  /** @type {(() => void)[]} */
  const undo = [];

  // ---------------------------------------------------------------- search
  const form = h('form', { class: 'search lineage-search', role: 'search', 'aria-label': 'Find executions' },
    h('div', { class: 'field' }, h('label', { for: 'l-execution' }, 'Execution id'),
      h('input', { id: 'l-execution', name: 'execution', placeholder: '0193…', autocomplete: 'off', value: execution ?? '' })),
    h('div', { class: 'field' }, h('label', { for: 'l-principal' }, 'Principal'),
      h('input', { id: 'l-principal', name: 'principal', placeholder: 'agent:triage-bot', autocomplete: 'off' })),
    h('div', { class: 'field' }, h('label', { for: 'l-since' }, 'Decided from (UTC)'),
      h('input', { id: 'l-since', name: 'since', type: 'datetime-local' })),
    h('div', { class: 'field' }, h('label', { for: 'l-until' }, 'Decided before (UTC)'),
      h('input', { id: 'l-until', name: 'until', type: 'datetime-local' })),
    h('button', { type: 'submit' }, 'Find'));
  const found = h('div', { class: 'lineage-found', 'aria-live': 'polite' });
  const notice = h('p', { class: 'notice', role: 'status', 'aria-live': 'polite' });
  const graphSec = h('section', { 'aria-labelledby': 'h-lgraph', class: 'lineage-graph-section', hidden: !execution });
  replace(main, h('h1', null, 'Execution Lineage Explorer'),
    h('section', { 'aria-labelledby': 'h-lsearch' }, h('h2', { id: 'h-lsearch' }, 'Find an execution'), form, found),
    notice, graphSec);

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const fd = new FormData(/** @type {HTMLFormElement} */ (form));
    const id = String(fd.get('execution') ?? '').trim();
    if (id) { go(`/ui/lineage/${encodeURIComponent(id)}`); return; }
    const q = new URLSearchParams({ limit: '50' });
    const principal = String(fd.get('principal') ?? '').trim();
    if (principal) q.set('principal', principal);
    for (const k of ['since', 'until']) {
      const v = String(fd.get(k) ?? '');
      const t = v ? Date.parse(`${v}Z`) : NaN;
      if (Number.isFinite(t)) q.set(k, String(Math.floor(t / 1000)));
    }
    try {
      const page = await api(`/v1/executions?${q}`);
      if (stopped) return;
      /** @type {any[]} */
      const rows = page.executions ?? [];
      replace(found, rows.length === 0 ? h('p', null, 'No execution matches.') : h('div', { class: 'scroll' }, h('table', null,
        h('caption', { class: 'vh' }, 'Executions found, newest first'),
        h('thead', null, h('tr', null, ...['Decided', 'Principal', 'Intent', 'Decision', 'Zone', 'Lineage'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', null, ...rows.map((x) => h('tr', { 'data-found': x.execution },
          h('td', null, fmtTime(x.time)), h('td', null, x.principal), h('td', null, `${x.action} ${x.resource}`),
          h('td', { class: `d-${x.decision}` }, x.decision), h('td', null, x.zone ?? '—'),
          h('td', null, h('a', { href: `/ui/lineage/${encodeURIComponent(x.execution)}` }, 'Tree', h('span', { class: 'vh' }, ` of ${x.execution}`)))))))));
    } catch (err) {
      if (!stopped) replace(found, h('p', { class: 'bad', role: 'alert' }, message(err)));
    }
  });

  if (!execution) {
    notice.textContent = 'Enter an execution id, or find executions by principal and time.';
    return () => { stopped = true; };
  }

  // ---------------------------------------------------------------- graph
  const svg = /** @type {SVGSVGElement} */ (s('svg', { class: 'lineage-svg', role: 'group', 'aria-labelledby': 'h-lgraph', 'aria-describedby': 'lineage-help' }));
  const viewport = s('g', { class: 'lineage-viewport' });
  const edgeLayer = s('g', { class: 'lineage-edges' });
  const nodeLayer = s('g', { class: 'lineage-nodes' });
  viewport.append(edgeLayer, nodeLayer);
  svg.append(viewport);
  const detail = h('aside', { class: 'lineage-detail', 'aria-labelledby': 'h-ldetail', tabindex: '-1' },
    h('h2', { id: 'h-ldetail' }, 'Selected execution'), h('p', { class: 'dim' }, 'Select a node (click it, or Tab to it and press Enter).'));
  const facts = h('p', { class: 'lineage-facts dim' }, 'Loading the tree…');
  const canvas = h('div', { class: 'lineage-canvas' }, svg);
  /** @param {string} label @param {() => void} fn @param {string} act */
  const btn = (label, fn, act) => h('button', { type: 'button', 'data-lineage-act': act, onclick: fn }, label);
  const toolbar = h('div', { class: 'lineage-toolbar', role: 'toolbar', 'aria-label': 'Graph view' },
    btn('Zoom in', () => zoomBy(1.25), 'zoom-in'), btn('Zoom out', () => zoomBy(0.8), 'zoom-out'), btn('Fit', () => fit(), 'fit'),
    btn('← Pan', () => panBy(80, 0), 'pan-left'), btn('→ Pan', () => panBy(-80, 0), 'pan-right'),
    btn('↑ Pan', () => panBy(0, 80), 'pan-up'), btn('↓ Pan', () => panBy(0, -80), 'pan-down'),
    btn('Export SVG', () => exportSvg(), 'export-svg'), btn('Export JSON', () => exportJson(), 'export-json'));
  const key = (/** @type {string} */ cls, /** @type {string} */ text) => h('li', null, h('span', { class: `lineage-key ${cls}`, 'aria-hidden': 'true' }), text);
  const legend = h('ul', { class: 'lineage-legend', 'aria-label': 'Legend' },
    key('lineage-key-allow', 'allowed'), key('lineage-key-deny', 'denied'),
    key('lineage-key-terminated', 'terminated by governance or refused at the gate'),
    key('lineage-key-crossing', 'zone crossing (edge labelled from → to)'), key('lineage-key-redacted', 'not readable by you'));
  replace(graphSec, h('h2', { id: 'h-lgraph' }, 'Tree of ', h('code', null, execution)), facts, toolbar, legend,
    h('p', { id: 'lineage-help', class: 'vh' }, 'Each node is an execution. Tab to a node and press Enter to see its details and proof; arrow keys move to its parent, children and siblings.'),
    h('div', { class: 'lineage-body' }, canvas, detail));

  let view = { k: 1, x: 0, y: 0 };
  let size = { width: 0, height: 0 };
  const apply = () => viewport.setAttribute('transform', `translate(${view.x.toFixed(2)} ${view.y.toFixed(2)}) scale(${view.k.toFixed(4)})`);
  const box = () => svg.getBoundingClientRect();
  const fit = () => { const b = box(); view = fitView(size.width, size.height, b.width, b.height); apply(); };
  /** @param {number} f */
  const zoomBy = (f) => { const b = box(); view = zoomAt(view, f, b.width / 2, b.height / 2); apply(); };
  /** @param {number} dx @param {number} dy */
  const panBy = (dx, dy) => { view = { ...view, x: view.x + dx, y: view.y + dy }; apply(); };

  // Pointer drag pans (on the background: a press on a node selects it); the wheel zooms.
  /** @type {{x: number, y: number, vx: number, vy: number, id: number} | null} */
  let drag = null;
  svg.addEventListener('pointerdown', (e) => {
    if (e.button !== 0 || (e.target instanceof Element && e.target.closest('[data-node]'))) return;
    drag = { x: e.clientX, y: e.clientY, vx: view.x, vy: view.y, id: e.pointerId };
    svg.setPointerCapture(e.pointerId);
    svg.classList.add('lineage-dragging');
  });
  svg.addEventListener('pointermove', (e) => {
    if (!drag || e.pointerId !== drag.id) return;
    view = { ...view, x: drag.vx + e.clientX - drag.x, y: drag.vy + e.clientY - drag.y };
    apply();
  });
  const endDrag = () => { drag = null; svg.classList.remove('lineage-dragging'); };
  svg.addEventListener('pointerup', endDrag);
  svg.addEventListener('pointercancel', endDrag);
  svg.addEventListener('wheel', (e) => {
    e.preventDefault();
    const b = box();
    view = zoomAt(view, Math.exp(-e.deltaY * 0.0015), e.clientX - b.left, e.clientY - b.top);
    apply();
  }, { passive: false });

  /** @type {Map<string, LNode>} */
  let byId = new Map();
  /** @type {Map<string, SVGElement>} */
  const elOf = new Map();
  /** @type {Map<string, string[]>} */
  const kidsOf = new Map();
  let rootId = '';
  let selectSeq = 0;

  /** Moves the view so the node is in sight. @param {string} id */
  const reveal = (id) => {
    const el = elOf.get(id);
    const cx = Number(el?.dataset.x ?? NaN);
    const cy = Number(el?.dataset.y ?? NaN);
    if (!Number.isFinite(cx) || !Number.isFinite(cy)) return;
    const b = box();
    const px = view.x + cx * view.k;
    const py = view.y + cy * view.k;
    const mx = (SIZES.nodeWidth / 2) * view.k + 8;
    const my = (SIZES.nodeHeight / 2) * view.k + 8;
    if (px < mx || px > b.width - mx || py < my || py > b.height - my) {
      view = { ...view, x: b.width / 2 - cx * view.k, y: b.height / 2 - cy * view.k };
      apply();
    }
  };

  /** @param {string} id */
  const select = async (id) => {
    const n = byId.get(id);
    if (!n) return;
    const seq = ++selectSeq;
    for (const el of nodeLayer.querySelectorAll('.lineage-selected')) {
      el.classList.remove('lineage-selected');
      el.setAttribute('aria-pressed', 'false');
    }
    const el = elOf.get(id);
    el?.classList.add('lineage-selected');
    el?.setAttribute('aria-pressed', 'true');

    const dl = h('dl', { class: 'facts' });
    /** @param {string} t @param {any} v */
    const fact = (t, v) => dl.append(h('dt', null, t), h('dd', null, v));
    fact('Execution', h('code', null, n.execution));
    fact('Parent', n.parent ? h('code', null, n.parent) : 'none (the root)');
    fact('Ledger index', String(n.ledger_index));
    const proof = h('div', { class: 'lineage-proof', 'aria-live': 'polite' });
    const links = h('p', { class: 'row' },
      h('a', { href: `/ui/proof/${encodeURIComponent(n.execution)}`, 'data-proof-link': n.execution }, 'Open in the proof viewer'),
      h('a', { href: `/ui/lineage/${encodeURIComponent(n.execution)}` }, 'Link to this node'),
      h('a', { href: '/ui/#decisions' }, 'Decisions in the console'));
    if (n.redacted) {
      fact('Details', 'You may not read this execution: only its place in the tree is shown.');
      replace(detail, h('h2', { id: 'h-ldetail' }, 'Selected execution'), dl, links);
      return;
    }
    fact('Principal', n.principal ?? '—');
    if (n.on_behalf_of?.length) fact('On behalf of', n.on_behalf_of.join(' ← '));
    fact('Intent', h('span', null, n.action ?? '', ' ', h('code', null, n.resource ?? '')));
    fact('Decision', h('span', { class: `d-${n.decision}` }, `${n.decision} (${n.reason_code})`));
    fact('Outcome', `${outcomeText(n.outcome)}${n.outcome_reason ? ` (${n.outcome_reason})` : ''}`);
    fact('Zone and gate', `${n.zone ?? '—'} · ${n.gate ?? '—'}`);
    fact('Decided', fmtTime(n.decided_at));
    if (n.started_at !== undefined) fact('Ran', `${fmtTime(n.started_at)} to ${fmtTime(n.finished_at)}`);
    else if (n.finished_at !== undefined) fact('Ended', fmtTime(n.finished_at));
    replace(proof, h('p', { 'data-proof-verdict': 'pending' }, 'Verifying its proof bundle in this browser…'));
    replace(detail, h('h2', { id: 'h-ldetail' }, 'Selected execution'), dl, h('h3', null, 'Proof'), proof, links);
    try {
      const bundle = await api(`/v1/proofs/${encodeURIComponent(n.execution)}`);
      const t0 = performance.now();
      const r = await verifyBundle(bundle);
      const ms = performance.now() - t0;
      if (stopped || seq !== selectSeq) return;
      const failed = r.checks.filter((c) => c.status === 'fail');
      const passed = r.checks.filter((c) => c.status === 'pass').length;
      replace(proof,
        h('p', { 'data-proof-verdict': r.verdict, class: r.verdict === 'verified' ? 'lineage-verified' : 'bad' },
          r.verdict === 'verified' ? `Verified: ${passed} checks passed` : `Failed: ${failed.length} of ${r.checks.length} checks failed`,
          ` (${ms.toFixed(0)} ms, against the bundle's own log key and JWKS; pin keys in the proof viewer)`),
        failed.length ? h('ul', null, ...failed.map((c) => h('li', { 'data-check': c.name, 'data-status': c.status }, `${c.name}: ${c.detail}`))) : null);
    } catch (err) {
      if (!stopped && seq === selectSeq) replace(proof, h('p', { 'data-proof-verdict': 'failed', class: 'bad' }, `No proof: ${message(err)}`));
    }
  };

  // Keyboard: Enter/Space select; arrows move to the parent, first child, or a sibling. The
  // listeners sit on the HTML wrapper: Chromium makes an SVG element with key listeners a tab
  // stop of its own.
  canvas.addEventListener('keydown', (e) => {
    const g = e.target instanceof Element ? e.target.closest('[data-node]') : null;
    const id = g?.getAttribute('data-node');
    const n = id ? byId.get(id) : undefined;
    if (!id || !n) return;
    /** @type {string | undefined} */
    let to;
    if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); select(id); return; }
    const sibs = kidsOf.get(n.parent ?? '') ?? [];
    const i = sibs.indexOf(id);
    if (e.key === 'ArrowUp') to = n.parent;
    else if (e.key === 'ArrowDown') to = kidsOf.get(id)?.[0];
    else if (e.key === 'ArrowLeft') to = sibs[i - 1];
    else if (e.key === 'ArrowRight') to = sibs[i + 1];
    else return;
    e.preventDefault();
    const el = to ? elOf.get(to) : undefined;
    if (to && el) { reveal(to); /** @type {any} */ (el).focus(); }
  });
  canvas.addEventListener('click', (e) => {
    const id = e.target instanceof Element ? e.target.closest('[data-node]')?.getAttribute('data-node') : null;
    if (id) select(id);
  });
  canvas.addEventListener('focusin', (e) => {
    const id = e.target instanceof Element ? e.target.getAttribute('data-node') : null;
    if (id) reveal(id);
  });

  /** Draws the tree. @param {LNode[]} nodes */
  const draw = (nodes) => {
    const t0 = performance.now();
    const laid = layoutTree(nodes.map((n) => ({ id: n.execution, parent: n.parent ?? null, order: n.ledger_index })));
    const t1 = performance.now();
    byId = new Map(nodes.map((n) => [n.execution, n]));
    size = { width: laid.width, height: laid.height };
    const at = new Map(laid.nodes.map((p) => [p.id, p]));
    const hw = SIZES.nodeWidth / 2;
    const hh = SIZES.nodeHeight / 2;
    const edges = [];
    const labels = [];
    for (const e of laid.edges) {
      const a = at.get(e.from);
      const b = at.get(e.to);
      const from = byId.get(e.from);
      const to = byId.get(e.to);
      if (!a || !b || !from || !to) continue;
      const list = kidsOf.get(e.from) ?? [];
      list.push(e.to);
      kidsOf.set(e.from, list);
      const crossing = Boolean(from.zone && to.zone && from.zone !== to.zone);
      const y1 = a.y + hh;
      const y2 = b.y - hh;
      const my = (y1 + y2) / 2;
      edges.push(s('path', {
        d: `M${a.x} ${y1} C${a.x} ${my} ${b.x} ${my} ${b.x} ${y2}`,
        class: crossing ? 'lineage-edge lineage-crossing' : 'lineage-edge',
        'data-edge': `${e.from}->${e.to}`,
        'data-zone-crossing': crossing ? 'true' : null,
      }));
      if (crossing) {
        labels.push(s('text', { x: (a.x + b.x) / 2 + 6, y: my - 4, class: 'lineage-crossing-label', 'data-crossing-label': `${e.from}->${e.to}` },
          `${from.zone} → ${to.zone}`));
      }
    }
    const gs = [];
    for (const n of nodes) {
      const p = at.get(n.execution);
      if (!p) continue;
      const x = p.x - hw;
      const y = p.y - hh;
      const lines = n.redacted
        ? ['not readable by you', clip(n.execution, 34)]
        : [clip(n.principal, 30), clip(`${n.action} ${n.resource}`, 34), clip(`${n.decision} · ${n.reason_code}`, 34),
          clip(`${outcomeText(n.outcome)} · ${n.zone ?? '?'} · ${fmtTime(n.decided_at).slice(11)}`, 36)];
      const g = s('g', {
        class: nodeClasses(n), 'data-node': n.execution, 'data-decision': n.redacted ? 'unknown' : n.decision,
        'data-outcome': n.outcome ?? null, 'data-zone': n.zone ?? null, 'data-x': p.x, 'data-y': p.y,
        tabindex: '0', role: 'button', 'aria-pressed': 'false', 'aria-label': nodeLabel(n),
      },
      s('rect', { x, y, width: SIZES.nodeWidth, height: SIZES.nodeHeight, rx: 6 }),
      ...lines.map((t, i) => s('text', { x: x + 10, y: y + 22 + i * 19, class: `lineage-t${i + 1}` }, t)));
      if (n.execution === execution) g.classList.add('lineage-asked');
      elOf.set(n.execution, g);
      gs.push(g);
    }
    edgeLayer.replaceChildren(...edges, ...labels);
    nodeLayer.replaceChildren(...gs);
    fit();
    const t2 = performance.now();
    svg.dataset.layoutMs = (t1 - t0).toFixed(2);
    svg.dataset.renderMs = (t2 - t1).toFixed(2);
    svg.dataset.nodes = String(gs.length);
    return { layoutMs: t1 - t0, renderMs: t2 - t1 };
  };

  const exportSvg = () => {
    const copy = /** @type {SVGSVGElement} */ (svg.cloneNode(true));
    copy.setAttribute('xmlns', SVG);
    copy.setAttribute('viewBox', `-10 -10 ${size.width + 20} ${size.height + 20}`);
    copy.setAttribute('width', String(Math.ceil(size.width + 20)));
    copy.setAttribute('height', String(Math.ceil(size.height + 20)));
    copy.querySelector('.lineage-viewport')?.removeAttribute('transform');
    const style = document.createElementNS(SVG, 'style');
    style.textContent = EXPORT_CSS;
    copy.prepend(style);
    download(`lineage-${rootId}.svg`, 'image/svg+xml', new XMLSerializer().serializeToString(copy));
  };
  const exportJson = () => {
    download(`lineage-${rootId}.json`, 'application/json', `${JSON.stringify({
      format: 'writ.lineage/v1', root: rootId, execution, exported_at: Math.floor(Date.now() / 1000),
      nodes: [...byId.values()],
    }, null, 2)}\n`);
  };

  const onResize = () => fit();
  window.addEventListener('resize', onResize);
  undo.push(() => window.removeEventListener('resize', onResize));

  (async () => {
    try {
      const t0 = performance.now();
      const tree = await fetchTree(execution);
      if (stopped) return;
      const fetched = performance.now() - t0;
      rootId = tree.root;
      const t = draw(tree.nodes);
      const denied = tree.nodes.filter((n) => n.decision === 'deny').length;
      const crossings = edgeLayer.querySelectorAll('[data-zone-crossing]').length;
      replace(facts, `${tree.nodes.length} execution${tree.nodes.length === 1 ? '' : 's'} from the root `,
        h('a', { href: `/ui/lineage/${encodeURIComponent(tree.root)}` }, h('code', null, tree.root.slice(0, 13), '…')),
        `; ${denied} denied, ${crossings} zone crossing${crossings === 1 ? '' : 's'}. `,
        h('span', { class: 'dim' }, `Fetched in ${fetched.toFixed(0)} ms, laid out in ${t.layoutMs.toFixed(1)} ms, drawn in ${t.renderMs.toFixed(0)} ms.`),
        tree.cut ? h('strong', { class: 'bad' }, ` Only the first ${tree.nodes.length} are drawn.`) : null);
      facts.classList.remove('dim');
      graphSec.dataset.loaded = 'true';
      if (byId.has(execution)) {
        const el = elOf.get(execution);
        reveal(execution);
        if (el) el.classList.add('lineage-asked');
      }
    } catch (err) {
      if (stopped) return;
      replace(facts, h('span', { class: 'bad', role: 'alert' }, err instanceof ApiError && err.status === 404
        ? `No execution ${execution} that you may read.` : message(err)));
      graphSec.dataset.loaded = 'error';
    }
  })();

  return () => { stopped = true; for (const f of undo) f(); };
}
