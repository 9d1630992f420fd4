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
/** The token `who` was learnt from: a page that stores another one (the demo) is noticed. */
let whoToken = /** @type {string | null} */ (null);
/** @type {(() => void) | null} */
let leave = null;

const main = /** @type {HTMLElement} */ (document.getElementById('main'));

function header() {
  const slot = document.getElementById('who');
  if (!slot) return;
  if (!who) { replace(slot); return; }
  const out = h('button', { type: 'button', class: 'link' }, 'Sign out');
  out.addEventListener('click', () => { setToken(null); who = null; whoToken = null; show(route(location.pathname)); });
  replace(slot, h('span', { 'data-who': who.subject }, `${who.subject} (${who.role ?? who.kind})`), ' ', out);
}

/** @param {import('./lib/router.js').Route} r */
function show(r) {
  // The token changed since `who` was learnt (the demo page stored its own): ask again first.
  if (getToken() !== whoToken) {
    learn().then(() => show(route(location.pathname)));
    return;
  }
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
    leave = signInPage(main, (w) => { who = w; whoToken = getToken(); show(route(location.pathname)); });
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

/** Learns who the stored token belongs to; a refused or unusable token is forgotten. */
async function learn() {
  const token = getToken();
  who = null;
  whoToken = token;
  if (!token) return;
  /** @type {import('./lib/session.js').Who | null} */
  let w = null;
  try {
    w = await api('/v1/whoami');
  } catch {
    w = null;
  }
  // Changed again meanwhile: `whoToken` stays stale, so show() asks once more.
  if (getToken() !== token) return;
  if (w && !refusal(w)) who = w;
  else setToken(null);
  whoToken = getToken();
}

async function boot() {
  await learn();
  startRouter(show);
}

boot();
