// Runtime Governance Demo (/ui/demo): the demo scenario step by step. Filled in by issue 17.

import { h, replace } from '../lib/dom.js';

/**
 * @param {HTMLElement} main
 * @param {import('../lib/session.js').Who | null} _who
 * @returns {() => void} called when the page is left
 */
export function demoPage(main, _who) {
  replace(main, h('h1', null, 'Runtime Governance Demo'), h('p', null, 'Not built yet.'));
  return () => {};
}
