// The Governance Proof Viewer's browser tests (issue 17, points 2 and 5 for the proof face), run
// by crates/writ-cli/tests/it/ui_proof.rs, which starts a real `writ serve` on 127.0.0.1 and
// makes the bundles (one from the server, the same tampered, one with a forged receipt). Reads
// its configuration (URL, token, bundles, paths) as one JSON line on stdin. Checks the console
// page signed out and signed in, then the standalone file from file:// with the network
// blocked. Exits non-zero on the first failed check; prints `RESULT {…}` (what it measured).

import { pathToFileURL } from 'node:url';
import assert from 'node:assert/strict';
import { log, start, tabWalk } from './harness.mjs';

const { cfg, launch, openPage, axe, shots, finish } = await start();
const result = { verify_ms: {} };

/** Every visible control is reachable with Tab. */
async function keyboard(page, name) {
  const keyOf = () => {
    /** @param {Element | null} e */
    const key = (e) => (e ? [e.tagName, e.id, e.getAttribute('data-act'), e.textContent?.trim().slice(0, 30)].join('|') : null);
    return { key, all: () => [...document.querySelectorAll('a[href], button, input, select, textarea, summary')]
      .filter((e) => !e.closest('[hidden]') && e.checkVisibility({ contentVisibilityAuto: true })).map(key) };
  };
  const { size, missed } = await tabWalk(page, keyOf, { rounds: 2, scrollTop: true });
  assert.deepEqual(missed, [], `controls not reachable by Tab on ${name} (of ${size})`);
  log(`keyboard ${name}: all ${size} controls reachable by Tab`);
}

/** The verdict and the names of the failed checks shown now. */
async function shown(page) {
  const verdict = await page.getAttribute('[data-verdict]', 'data-verdict');
  const failed = await page.$$eval('[data-check][data-status="fail"]', (els) => els.map((e) => e.getAttribute('data-check')));
  const ms = Number(await page.getAttribute('[data-verdict]', 'data-verify-ms'));
  const all = await page.$$eval('[data-check]', (els) => els.map((e) => `${e.getAttribute('data-status')} ${e.getAttribute('data-check')}: ${e.textContent}`));
  return { verdict, failed: failed.sort(), ms, all };
}

/** Pastes a bundle (and a pinned key, or none), presses Verify, waits for the new result. */
async function verifyPasted(page, bundle, vkey) {
  await page.evaluate(() => document.querySelector('.proof-result')?.setAttribute('hidden', ''));
  await page.evaluate(() => document.querySelector('[data-verdict]')?.remove());
  await page.fill('#proof-bundle', JSON.stringify(bundle));
  await page.fill('#proof-vkey', vkey ?? '');
  await page.click('[data-act="verify"]');
  await page.waitForSelector('[data-verdict]');
  return shown(page);
}

/** Runs every case on the page: the right verdict, exactly the right checks failing. */
async function everyCase(page, where) {
  for (const c of cfg.cases) {
    const s = await verifyPasted(page, c.bundle, c.vkey);
    const want = c.fail.length === 0 ? 'verified' : 'failed';
    assert.equal(s.verdict, want, `${where}: ${c.name}\n${s.all.join('\n')}`);
    assert.deepEqual(s.failed, [...c.fail].sort(), `${where}: ${c.name}: failed checks\n${s.all.join('\n')}`);
    // The pinned key was the one used.
    assert.equal(await page.getAttribute('[data-trust]', 'data-trust'), 'pinned', `${where}: ${c.name}`);
    result.verify_ms[`${where}: ${c.name}`] = s.ms;
    log(`${where}: ${c.name}: ${s.verdict}${s.failed.length ? ` (${s.failed.join(', ')} failed)` : ''} in ${s.ms} ms`);
  }
}

const good = cfg.cases[0];
assert.deepEqual(good.fail, []);

// ---------------------------------------------------------------- the console page
const browser = await launch();
{
  // Signed out: paste only, and the page says so; the bundle's own key is used, and it says so.
  const { ctx, page } = await openPage(browser);
  await page.goto(`${cfg.base}/ui/proof`);
  await page.waitForSelector('[data-signed-out]');
  assert.equal(await page.locator('[data-fetch]').count(), 0, 'a fetch form shown to no one signed in');
  assert.equal(await page.locator('[data-act="take-vkey"]').count(), 0);
  const s = await verifyPasted(page, good.bundle, '');
  assert.equal(s.verdict, 'verified', s.all.join('\n'));
  assert.equal(await page.getAttribute('[data-trust]', 'data-trust'), 'bundle');
  assert.match(await page.textContent('[data-trust]'), /bundle's own key was used/);
  assert.match(await page.textContent('[data-check="checkpoint"]'), /not pinned/);
  // A pinned key that differs fails the checkpoint.
  const other = cfg.cases.find((c) => c.name === 'a receipt the gate never signed, recorded');
  const wrong = await verifyPasted(page, good.bundle, other.vkey);
  assert.equal(wrong.verdict, 'failed');
  assert.deepEqual(wrong.failed, ['checkpoint'], wrong.all.join('\n'));
  // A dropped file is read and verified.
  await page.evaluate(() => document.querySelector('[data-verdict]')?.remove());
  await page.fill('#proof-vkey', '');
  const dt = await page.evaluateHandle((text) => {
    const d = new DataTransfer();
    d.items.add(new File([text], 'bundle.json', { type: 'application/json' }));
    return d;
  }, JSON.stringify(good.bundle));
  await page.dispatchEvent('h1', 'drop', { dataTransfer: dt });
  await page.waitForSelector('[data-verdict="verified"]');
  // An execution's address signed out: the page says to sign in, and fetches nothing.
  await page.goto(`${cfg.base}/ui/proof/${cfg.execution}`);
  await page.waitForSelector('[data-proof-status]:has-text("Sign in to fetch")');
  assert.equal(await page.locator('[data-verdict]').count(), 0);
  await axe(page, 'proof (signed out)');
  await keyboard(page, 'proof (signed out)');
  await ctx.close();
}
{
  // Signed in: /ui/proof/{execution} fetches and verifies; the log key taken from the server
  // shows the trust-on-first-use warning; an older checkpoint is checked for consistency.
  const { ctx, page } = await openPage(browser);
  await page.goto(`${cfg.base}/ui/`);
  await page.fill('[data-signin] input[name=token]', cfg.tokens.auditor);
  await page.click('[data-signin] button[type=submit]');
  await page.waitForSelector('[data-who]');
  const t0 = Date.now();
  await page.goto(`${cfg.base}/ui/proof/${cfg.execution}`);
  await page.waitForSelector('[data-verdict]', { timeout: 10000 });
  result.open_fetch_verify_ms = Date.now() - t0;
  let s = await shown(page);
  assert.equal(s.verdict, 'verified', s.all.join('\n'));
  assert.equal(await page.locator('[data-tofu]:visible').count(), 0);
  await page.click('[data-act="take-vkey"]');
  await page.waitForSelector('[data-tofu]:visible');
  assert.equal(await page.inputValue('#proof-vkey'), cfg.vkey);
  assert.match(await page.textContent('[data-tofu]'), /Trust on first use/);
  await page.click('summary');
  await page.fill('#proof-older', cfg.older_checkpoint);
  s = await verifyPasted(page, good.bundle, cfg.vkey);
  assert.equal(s.verdict, 'verified', s.all.join('\n'));
  // The consistency proof was fetched from the server (the field was empty).
  assert.equal(await page.getAttribute('[data-check="consistency"]', 'data-status'), 'pass', s.all.join('\n'));
  assert.match(await page.inputValue('#proof-consistency'), /hashes_b64/);
  assert.equal(await page.getAttribute('[data-trust]', 'data-trust'), 'pinned');
  // The decoded decision and its disclosed arguments are shown as text.
  assert.match(await page.textContent('[data-type="decision"]'), /allow/);
  assert.match(await page.textContent('[data-args]'), /"repo"/);
  assert.match(await page.textContent('[data-type="receipt"]'), /success/);
  result.verify_ms['console: from the server, pinned, with consistency'] = s.ms;
  // The writ keys taken from the server: the good bundle verifies against them; a writ signed
  // by a key only the bundle's own JWKS names fails its signature against them.
  await page.click('[data-act="take-jwks"]');
  await page.waitForSelector('[data-tofu-jwks]:visible');
  assert.match(await page.inputValue('#proof-jwks'), /"keys"/);
  const pinnedWrit = await verifyPasted(page, good.bundle, cfg.vkey);
  assert.equal(pinnedWrit.verdict, 'verified', pinnedWrit.all.join('\n'));
  assert.equal(await page.getAttribute('[data-trust-writ]', 'data-trust-writ'), 'pinned');
  assert.match(await page.textContent('[data-check="writ-signature"]'), /the pinned JWKS/);
  const intent = cfg.cases.find((x) => x.name === 'a writ whose intent differs from its decision');
  const against = await verifyPasted(page, intent.bundle, cfg.vkey);
  assert.deepEqual(against.failed, [...intent.fail, 'writ-signature'].sort(), against.all.join('\n'));
  await page.fill('#proof-jwks', '');
  s = await verifyPasted(page, good.bundle, cfg.vkey);
  assert.equal(s.verdict, 'verified', s.all.join('\n'));
  // The cases below are not checked against the older checkpoint.
  await page.fill('#proof-older', '');
  await page.fill('#proof-consistency', '');
  await page.click('summary');
  await axe(page, 'proof (signed in, verified)');
  await keyboard(page, 'proof (signed in)');
  await shots(page, 'proof');
  await everyCase(page, 'console');
  await axe(page, 'proof (failed)');
  await shots(page, 'proof-failed');
  await ctx.close();
}
await browser.close();

// ---------------------------------------------------------------- the standalone file, offline
{
  const offline = await launch(['--host-resolver-rules=MAP * ~NOTFOUND']);
  const { ctx, page } = await openPage(offline, { context: { offline: true } });
  /** Every request that is not the file itself (none is expected; each is aborted). */
  const requests = [];
  await ctx.route('**', (r) => {
    const u = r.request().url();
    if (u.startsWith('file:')) return r.continue();
    requests.push(u);
    return r.abort();
  });
  page.on('request', (r) => { if (!r.url().startsWith('file:') && !requests.includes(r.url())) requests.push(r.url()); });
  const url = pathToFileURL(cfg.viewer).href;
  await page.goto(url);
  await page.waitForSelector('[data-offline]');
  assert.equal(await page.locator('[data-fetch]').count(), 0);
  assert.equal(await page.locator('[data-act="take-vkey"]').count(), 0);
  const csp = await page.getAttribute('meta[http-equiv="Content-Security-Policy"]', 'content');
  assert.match(csp, /^default-src 'none'; script-src 'sha256-[A-Za-z0-9+/]+=*'; style-src 'sha256-/);
  // Unpinned, then every case pinned.
  const s = await verifyPasted(page, good.bundle, '');
  assert.equal(s.verdict, 'verified', s.all.join('\n'));
  assert.equal(await page.getAttribute('[data-trust]', 'data-trust'), 'bundle');
  // An older checkpoint and its consistency proof, pasted: consistency passes; a proof of
  // other hashes fails it (and only it).
  await page.click('summary');
  await page.fill('#proof-older', cfg.older_checkpoint);
  await page.fill('#proof-consistency', JSON.stringify(cfg.consistency));
  let c = await verifyPasted(page, good.bundle, cfg.vkey);
  assert.equal(c.verdict, 'verified', c.all.join('\n'));
  assert.equal(await page.getAttribute('[data-check="consistency"]', 'data-status'), 'pass', c.all.join('\n'));
  const bent = structuredClone(cfg.consistency);
  bent.hashes_b64[0] = bent.hashes_b64[0].startsWith('A') ? `B${bent.hashes_b64[0].slice(1)}` : `A${bent.hashes_b64[0].slice(1)}`;
  await page.fill('#proof-consistency', JSON.stringify(bent));
  c = await verifyPasted(page, good.bundle, cfg.vkey);
  assert.equal(c.verdict, 'failed');
  assert.deepEqual(c.failed, ['consistency'], c.all.join('\n'));
  await page.fill('#proof-older', '');
  await page.fill('#proof-consistency', '');
  await page.click('summary');
  log('standalone: a pasted consistency proof passes, a bent one fails');
  await everyCase(page, 'standalone');
  // A chosen file is read and verified.
  await page.evaluate(() => document.querySelector('[data-verdict]')?.remove());
  await page.fill('#proof-vkey', '');
  await page.setInputFiles('#proof-file', { name: 'bundle.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(good.bundle)) });
  await page.waitForSelector('[data-verdict="verified"]');
  await axe(page, 'standalone viewer');
  await keyboard(page, 'standalone viewer');
  await shots(page, 'proof-standalone');
  assert.deepEqual(requests, [], 'the standalone viewer made a request');
  log('standalone: no request made');
  await ctx.close();
  await offline.close();
}

finish(result);
