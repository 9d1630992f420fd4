// The web Runtime Governance Demo in a real browser (issue 17, acceptance 4), run by
// crates/writ-cli/tests/it/demo_web.rs, which starts the built `writ demo --web` and passes
// its printed URL (with the viewer token in the fragment) and paths as one JSON line on stdin.
// Plays every step in order with the keyboard, checks each outcome, the ledger growing, the
// links, and the proof verified in the browser; probes the demo routes' refusals from node;
// runs axe-core; takes screenshots. Exits non-zero on the first failed check; prints
// `RESULT {…}` (what happened, the measured times) as its last line.

import { join } from 'node:path';
import assert from 'node:assert/strict';
import { log, start } from './harness.mjs';

const { cfg, launch, problems, openPage, axe: axeOn, shots } = await start();

const url = new URL(cfg.url);
const token = new URLSearchParams(url.hash.slice(1)).get('token');
assert.ok(token, 'the printed URL carries the token in its fragment');
const base = url.origin;

/** A demo route called from node (outside the browser): status and body. */
async function call(method, path, withToken = true) {
  const headers = withToken ? { authorization: `Bearer ${token}` } : {};
  const r = await fetch(`${base}${path}`, { method, headers });
  return { status: r.status, body: await r.json() };
}

// What each step must end with (the outcome line the page shows).
const expected = {
  1: /^⇒ allowed, executed, receipted$/,
  2: /^⇒ denied: no_permit$/,
  3: /^⇒ refused at the gate: writ_intent_mismatch$/,
  4: /^⇒ child writ minted within the grant; anything wider refused$/,
  5: /^⇒ running command stopped \(writ_revoked_principal\); trust withdrawn everywhere$/,
  6: /^⇒ verified$/,
};

const browser = await launch();
const result = { steps: {} };
try {
  const { ctx, page } = await openPage(browser);
  /** Every URL the browser asked for: the token must be in none. */
  const requested = [];
  page.on('request', (r) => requested.push(r.url()));

  // Routes that exist only in the demo process refuse what they must, and change nothing.
  assert.equal((await call('GET', '/v1/demo', false)).status, 401, 'no token: 401');
  const early = await call('POST', '/v1/demo/steps/3');
  assert.equal(early.status, 409, JSON.stringify(early.body));
  assert.equal(early.body.code, 'demo_step_out_of_order');
  assert.equal((await call('POST', '/v1/demo/steps/7')).status, 404);
  assert.equal((await call('POST', '/v1/demo/steps/x')).status, 404);
  log('refusals: no token 401, step 3 first 409 demo_step_out_of_order, step 7 404');

  const t0 = Date.now();
  await page.goto(cfg.url);
  await page.waitForSelector('[data-step="6"] button');
  result.page_ready_ms = Date.now() - t0;
  assert.equal(new URL(page.url()).hash, '', 'the token is removed from the location bar');
  assert.equal(await page.evaluate(() => sessionStorage.getItem('writ.console.token')), token, 'kept in session storage');
  for (let n = 1; n <= 6; n++) {
    assert.equal(await page.getAttribute(`[data-step="${n}"]`, 'data-state'), 'pending');
  }
  assert.ok(await page.isDisabled('[data-step="2"] button'), 'a later step cannot be clicked first');
  await shots(page, 'demo-start');

  let tabs = 0;
  for (let n = 1; n <= 6; n++) {
    // By keyboard only: Tab to the step's button (the page focuses the next one after a step), Enter.
    const sel = `[data-run="${n}"]`;
    let presses = 0;
    while (!(await page.evaluate((s) => document.activeElement?.matches(s) ?? false, sel))) {
      assert.ok(presses < 60, `step ${n}'s button is not reachable with Tab`);
      await page.keyboard.press('Tab');
      presses++;
    }
    tabs += presses;
    const before = Number(await page.textContent('[data-ledger-size]'));
    await page.keyboard.press('Enter');
    if (n === 5) {
      // The same step again once the browser's request has reached the demo (while it runs, or
      // just after): refused, never run twice.
      for (let i = 0; (await call('GET', '/v1/demo')).body.steps[4].state === 'pending'; i++) {
        assert.ok(i < 2000, 'the click on step 5 never reached the demo');
        await new Promise((r) => setTimeout(r, 2));
      }
      const twice = await call('POST', '/v1/demo/steps/5');
      assert.equal(twice.status, 409, JSON.stringify(twice.body));
      assert.ok(['demo_step_running', 'demo_step_done'].includes(twice.body.code), twice.body.code);
      log(`step 5 asked twice: 409 ${twice.body.code}`);
    }
    const li = page.locator(`[data-step="${n}"]`);
    await page.waitForSelector(`[data-step="${n}"][data-state="done"], [data-step="${n}"][data-state="failed"]`, { timeout: 60_000 });
    const state = await li.getAttribute('data-state');
    const outcome = (await li.locator('[data-outcome]').textContent())?.trim();
    assert.equal(state, 'done', `step ${n}: ${outcome}`);
    assert.match(outcome ?? '', expected[n], `step ${n}'s outcome`);
    const grew = li.locator('[data-ledger-before]');
    const lb = Number(await grew.getAttribute('data-ledger-before'));
    const la = Number(await grew.getAttribute('data-ledger-after'));
    // Never less than the size shown before the click (nothing else appends here, but the
    // ledger may only grow, so a background entry would not make this wrong).
    assert.ok(lb >= before, `step ${n}: the ledger size before (${lb}) is at least the one shown (${before})`);
    if (n < 6) assert.ok(la > lb, `step ${n} is recorded: the ledger grows (${lb} -> ${la})`);
    else assert.ok(la >= lb);
    assert.equal(Number(await page.textContent('[data-ledger-size]')), la, 'the page shows the new size');
    const lineage = await li.locator('a[data-link="lineage"]').getAttribute('href');
    const proof = await li.locator('a[data-link="proof"]').getAttribute('href');
    const execution = decodeURIComponent(lineage.replace('/ui/lineage/', ''));
    assert.match(execution, /^[0-9a-f-]{36}$/, `step ${n} links to an execution: ${lineage}`);
    assert.equal(proof, `/ui/proof/${encodeURIComponent(execution)}`);
    result.steps[n] = { outcome, ledger_before: lb, ledger_after: la, execution, ms: Number(await li.getAttribute('data-ms')), tabs: presses };
    log(`step ${n}: ${outcome} (ledger ${lb} -> ${la}, ${result.steps[n].ms} ms in the browser)`);
    if (n === 1) {
      const again = await call('POST', '/v1/demo/steps/1');
      assert.equal(again.status, 409, 'step 1 twice');
      assert.equal(again.body.code, 'demo_step_done');
    }
  }
  result.tab_presses = tabs;

  // The proof, verified in this browser against the ledger key the demo printed.
  const verdict = page.locator('[data-step="6"] [data-verdict]');
  await verdict.waitFor({ timeout: 30_000 });
  assert.equal(await verdict.getAttribute('data-verdict'), 'verified');
  const statuses = await page.$$eval('[data-step="6"] [data-check]', (els) => els.map((e) => [e.getAttribute('data-check'), e.getAttribute('data-status')]));
  assert.ok(statuses.length >= 5, `checks shown: ${statuses.length}`);
  assert.deepEqual(statuses.filter(([, s]) => s === 'fail'), [], 'no check fails');
  for (const must of ['format', 'checkpoint', 'writ-signature', 'writ-claims']) {
    assert.ok(statuses.some(([c, s]) => c === must && s === 'pass'), `${must} passes: ${JSON.stringify(statuses)}`);
  }
  assert.ok(statuses.some(([c, s]) => c.startsWith('inclusion:') && s === 'pass'), 'an inclusion proof passes');
  const pinned = await page.textContent('[data-step="6"] [data-check="checkpoint"]');
  assert.ok(cfg.vkey && pinned.includes(cfg.vkey), `the checkpoint is checked against the printed key: ${pinned}`);
  assert.ok(statuses.some(([c, s]) => c.startsWith('receipt:') && s === 'pass'), 'the receipt passes');
  result.verify_ms = Number(await page.getAttribute('[data-step="6"] [data-verify-ms]', 'data-verify-ms'));
  result.checks = statuses.length;
  assert.equal(result.steps[6].execution, result.steps[1].execution, 'the proof is of the first execution');
  log(`proof verified in the browser: ${statuses.length} checks in ${result.verify_ms} ms`);

  // Every step ran: any further step is refused.
  const after = await call('POST', '/v1/demo/steps/6');
  assert.equal(after.status, 409);
  const overview = await call('GET', '/v1/demo');
  assert.deepEqual(overview.body.steps.map((s) => s.state), ['done', 'done', 'done', 'done', 'done', 'done']);
  result.revocation = overview.body.steps[4].result.data.command;

  await page.evaluate(() => window.scrollTo(0, 0));
  await shots(page, 'demo');
  // The end of the story, the verdict in view.
  await page.locator('[data-step="6"]').scrollIntoViewIfNeeded();
  await page.screenshot({ path: join(cfg.screenshots, 'demo-proof-1280x800.png') });
  await axe(page, 'demo (all steps done)');

  // A link opens the console's page for that execution, signed in as the demo's viewer; back on
  // the demo, every step is still done and the proof verifies again. The links are followed by
  // the in-app router (no page load): a mark left on `window` survives them only then.
  assert.deepEqual(problems, [], 'console errors or CSP violations on the demo page');
  await page.evaluate(() => { /** @type {any} */ (window).writDemoMark = 'same-document'; });
  const sameDocument = () => page.evaluate(() => /** @type {any} */ (window).writDemoMark === 'same-document');
  await page.click('[data-step="1"] a[data-link="lineage"]');
  await page.waitForURL(`${base}/ui/lineage/${result.steps[1].execution}`);
  await page.waitForSelector('[data-who="human:demo"]');
  assert.ok(await sameDocument(), 'the lineage link is followed in the app, not by a full load');
  // The lineage page is another face's: what it reports is logged here, not judged.
  for (const p of problems.splice(0)) log(`on the lineage page: ${p}`);
  await page.goBack();
  await page.waitForSelector('[data-step="6"][data-state="done"] [data-verdict="verified"]');
  log('lineage link: signed in as human:demo; back on the demo, still verified');
  // The proof link of the last step: the Proof Viewer fetches and verifies the same bundle.
  await page.click('[data-step="6"] a[data-link="proof"]');
  await page.waitForURL(`${base}/ui/proof/${result.steps[6].execution}`);
  const viewer = page.locator('[data-verdict]');
  await viewer.waitFor({ timeout: 30_000 });
  result.proof_viewer_verdict = await viewer.getAttribute('data-verdict');
  for (const p of problems.splice(0)) log(`on the proof page: ${p}`);
  log(`proof link: the Proof Viewer says ${result.proof_viewer_verdict}`);
  assert.equal(result.proof_viewer_verdict, 'verified', 'the Proof Viewer verifies the demo\'s proof too');
  await page.goBack();
  await page.waitForSelector('[data-step="6"][data-state="done"] [data-verdict="verified"]');
  assert.ok(await sameDocument(), 'the demo\'s links and Back never reloaded the page');

  const leaked = requested.filter((u) => u.includes(token));
  assert.deepEqual(leaked, [], 'the token is never in a requested URL');
  result.requests = requested.length;
  assert.deepEqual(problems, [], 'console errors or CSP violations');
  await ctx.close();
} finally {
  await browser.close();
}
log(`RESULT ${JSON.stringify(result)}`);

/** axe-core on the page as it is: no serious or critical violation; their number kept. */
async function axe(page, name) {
  result.axe_violations = (await axeOn(page, name)).violations.length;
}
