// Execution Lineage Explorer (/ui/lineage/{execution}): the tree of an execution. Filled in by issue 17.

import { h, replace } from '../lib/dom.js';

/**
 * @param {HTMLElement} main
 * @param {import('../lib/session.js').Who | null} _who
 * @param {string | undefined} _execution
 * @returns {() => void} called when the page is left
 */
export function lineagePage(main, _who, _execution) {
  replace(main, h('h1', null, 'Execution Lineage Explorer'), h('p', null, 'Not built yet.'));
  return () => {};
}
