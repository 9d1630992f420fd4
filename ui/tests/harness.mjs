// The scaffolding shared by the browser tests (browser.mjs, proof.mjs, lineage.mjs, demo.mjs):
// the stdin line reader and the `@@ {"do": …}` protocol with the Rust driver, `log`, Chromium
// launched from the configuration's `modules`/`chromium`, pages watched for console errors and
// CSP violations, axe-core failing on a serious or critical violation, and screenshots.

import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import assert from 'node:assert/strict';

/** Writes one line to stdout (the Rust driver reads stdout line by line). */
export const log = (/** @type {unknown[]} */ ...a) => process.stdout.write(`${a.join(' ')}\n`);

/**
 * Walks the page with Tab from nothing focused, until every visible control was focused once
 * or `rounds` presses per control (plus 10) were made. Returns how many controls there are
 * and those Tab never reached.
 * @param {any} page
 * @param {() => { key: (e: Element | null) => string | null, all: () => (string | null)[] }} keyOf
 *   runs in the page (sent as its source): names a control, and lists the visible ones
 * @param {{ rounds?: number, scrollTop?: boolean }} [o] scrollTop: scroll to the top first
 */
export async function tabWalk(page, keyOf, o = {}) {
  /** @type {(string | null)[]} */
  const all = await page.evaluate(`(${keyOf.toString()})().all()`);
  await page.evaluate((/** @type {boolean} */ top) => {
    /** @type {HTMLElement} */ (document.activeElement)?.blur();
    if (top) window.scrollTo(0, 0);
  }, o.scrollTop ?? false);
  const want = new Set(all);
  const seen = new Set();
  for (let i = 0; i < want.size * (o.rounds ?? 2) + 10 && [...want].some((k) => !seen.has(k)); i += 1) {
    await page.keyboard.press('Tab');
    seen.add(await page.evaluate(`(${keyOf.toString()})().key(document.activeElement)`));
  }
  return { size: want.size, missed: [...want].filter((k) => !seen.has(k)) };
}

/**
 * Reads stdin line by line. The first line is the configuration (JSON).
 * @returns {{ nextLine: () => Promise<string>, ask: (what: string) => Promise<any>, close: () => void }}
 */
export function stdinLines() {
  const rl = createInterface({ input: process.stdin });
  /** @type {string[]} */
  const pending = [];
  /** @type {((l: string) => void)[]} */
  const waiting = [];
  rl.on('line', (l) => { const w = waiting.shift(); if (w) w(l); else pending.push(l); });
  /** @returns {Promise<string>} */
  const nextLine = () => new Promise((r) => { const l = pending.shift(); if (l !== undefined) r(l); else waiting.push(r); });
  /** Asks the Rust side to do something outside the browser; returns its answer. */
  async function ask(/** @type {string} */ what) {
    process.stdout.write(`@@ ${JSON.stringify({ do: what })}\n`);
    return JSON.parse(await nextLine());
  }
  return { nextLine, ask, close: () => rl.close() };
}

/**
 * Reads the configuration line; keeps stdin open only when the script will `ask`.
 * @param {{ keepOpen?: boolean }} [opts]
 */
export async function start(opts = {}) {
  const io = stdinLines();
  const cfg = JSON.parse(await io.nextLine());
  if (!opts.keepOpen) io.close();
  const require = createRequire(join(cfg.modules, 'writ-ui-tests.js'));
  const { chromium } = require('playwright-core');
  const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
  /** Debian's Chromium, headless. @param {string[]} [args] extra command-line switches */
  const launch = (args = []) => chromium.launch({ executablePath: cfg.chromium, headless: true, args: ['--no-sandbox', ...args] });
  /** Console errors, warnings and CSP violations seen on any page. @type {string[]} */
  const problems = [];

  /**
   * A fresh browser context (its own sessionStorage) and page, watched for errors: every
   * console error or warning, page error and CSP violation goes to `problems`.
   * @param {any} browser
   * @param {{ context?: object, ignore?: (m: any) => boolean, withUrl?: boolean }} [o]
   *   context: options for the context; ignore: a console message this test asks for;
   *   withUrl: name the message's source URL in the problem.
   */
  async function openPage(browser, o = {}) {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, ...(o.context ?? {}) });
    // A CSP violation is reported as a console error, whatever Chromium itself logs of it.
    await ctx.addInitScript(() => document.addEventListener('securitypolicyviolation',
      (e) => console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`)));
    const page = await ctx.newPage();
    page.on('console', (/** @type {any} */ m) => {
      if (m.type() !== 'error' && m.type() !== 'warning') return;
      if (o.ignore?.(m)) return;
      problems.push(`${m.type()}: ${m.text()}${o.withUrl ? ` (${m.location().url})` : ''}`);
    });
    page.on('pageerror', (/** @type {Error} */ e) => problems.push(`pageerror: ${e.message}`));
    return { ctx, page };
  }

  /**
   * axe-core on the page as it is: no serious or critical violation. Returns axe's result.
   * @param {any} page @param {string} name
   */
  async function axe(page, name) {
    await page.evaluate(axeSource);
    const r = await page.evaluate(() => /** @type {any} */ (window).axe.run(document, { resultTypes: ['violations'] }));
    /** @type {any[]} */
    const violations = r.violations;
    const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    assert.deepEqual(bad.map((v) => `${v.id}: ${v.nodes.map((/** @type {any} */ n) => n.target.join(' ')).slice(0, 3).join(' | ')}`), [], `axe on ${name}`);
    log(`axe ${name}: ${violations.length} violations, none serious${violations.length ? ` (${violations.map((v) => `${v.id}/${v.impact}`).join(', ')})` : ''}`);
    return r;
  }

  /**
   * Screenshots at 1280×800 and 390×844 into `cfg.screenshots`, then back to 1280×800.
   * @param {any} page @param {string} name
   * @param {(page: any) => Promise<void>} [frame] places the page for each picture (default:
   *   nothing focused, scrolled to the top)
   */
  async function shots(page, name, frame) {
    for (const [w, h] of [[1280, 800], [390, 844]]) {
      await page.setViewportSize({ width: w, height: h });
      if (frame) await frame(page);
      else await page.evaluate(() => { /** @type {HTMLElement} */ (document.activeElement)?.blur(); window.scrollTo(0, 0); });
      await page.screenshot({ path: join(cfg.screenshots, `${name}-${w}x${h}.png`), fullPage: false });
    }
    await page.setViewportSize({ width: 1280, height: 800 });
  }

  /** Fails on any problem seen; then prints the `RESULT {…}` line the driver parses. @param {object} result */
  function finish(result) {
    assert.deepEqual(problems, [], 'console errors or CSP violations');
    process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
  }

  return { cfg, ask: io.ask, close: io.close, chromium, launch, problems, openPage, axe, shots, finish };
}
