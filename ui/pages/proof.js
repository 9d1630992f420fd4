// Governance Proof Viewer (/ui/proof, /ui/proof/{execution}): verifies a writ.proof/v1 bundle in the browser. Filled in by issue 17.

import { h, replace } from '../lib/dom.js';

/**
 * @param {HTMLElement} main
 * @param {import('../lib/session.js').Who | null} _who
 * @param {string | undefined} _execution
 * @returns {() => void} called when the page is left
 */
export function proofPage(main, _who, _execution) {
  replace(main, h('h1', null, 'Governance Proof Viewer'), h('p', null, 'Not built yet.'));
  return () => {};
}
