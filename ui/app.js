// The console's entry point: sign-in, routes, the header.

import { h, replace } from './lib/dom.js';
import { api } from './lib/api.js';
import { startRouter, route } from './lib/router.js';
import { getToken, refusal, setToken } from './lib/session.js';
import { signInPage } from './pages/signin.js';
import { consolePage } from './pages/console.js';
import { healthPage } from './pages/health.js';
import { proofPage } from './pages/proof.js';
import { lineagePage } from './pages/lineage.js';
import { demoPage } from './pages/demo.js';

/** @type {import('./lib/session.js').Who | null} */
let who = null;
/** @type {(() => void) | null} */
let leave = null;

const main = /** @type {HTMLElement} */ (document.getElementById('main'));

function header() {
  const slot = document.getElementById('who');
  if (!slot) return;
  if (!who) { replace(slot); return; }
  const out = h('button', { type: 'button', class: 'link' }, 'Sign out');
  out.addEventListener('click', () => { setToken(null); who = null; show(route(location.pathname)); });
  replace(slot, h('span', { 'data-who': who.subject }, `${who.subject} (${who.role ?? who.kind})`), ' ', out);
}

/** @param {import('./lib/router.js').Route} r */
function show(r) {
  leave?.();
  leave = null;
  header();
  for (const a of document.querySelectorAll('a[data-nav]')) {
    if (a.getAttribute('href') === r.path) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  // The proof viewer verifies a pasted or dropped bundle with no token; the demo signs itself
  // in. Both take `who` when there is one (to fetch by execution id, for instance).
  if (r.page === 'proof') {
    document.title = 'Proof · Writ';
    leave = proofPage(main, who, r.param);
    return;
  }
  if (r.page === 'demo') {
    document.title = 'Demo · Writ';
    leave = demoPage(main, who);
    return;
  }
  if (!who) {
    document.title = 'Sign in · Writ';
    leave = signInPage(main, (w) => { who = w; show(route(location.pathname)); });
    return;
  }
  if (r.page === 'health') {
    document.title = 'Health · Writ';
    leave = healthPage(main, who);
  } else if (r.page === 'lineage') {
    document.title = 'Lineage · Writ';
    leave = lineagePage(main, who, r.param);
  } else if (r.page === 'console') {
    document.title = 'Governance · Writ';
    leave = consolePage(main, who);
  } else {
    document.title = 'Not found · Writ';
    replace(main, h('h1', null, 'No such page'), h('p', null, h('a', { href: '/ui/' }, 'Back to the console')));
  }
}

async function boot() {
  if (getToken()) {
    try {
      const w = await api('/v1/whoami');
      if (refusal(w)) setToken(null);
      else who = w;
    } catch {
      setToken(null);
    }
  }
  startRouter(show);
}

boot();
