// The Governance Proof Viewer's body, shared by the console page (ui/pages/proof.js) and the
// standalone file of `writ proof viewer` (ui/lib/proof-standalone.js): load a writ.proof/v1
// bundle (pasted, dropped, chosen, or fetched through `source`), verify it here with the
// independent verifier (ui/verify/bundle.js), and show every check with what it compared, the
// verdict, and the decoded decision, writ, receipts and disclosed arguments. Untrusted strings
// are only ever set as text. This module makes no network request itself: all fetching goes
// through `source`, which the standalone file does not give.

import { h, replace } from './dom.js';
import { verifyBundle } from '../verify/bundle.js';

/**
 * What the page can fetch; each function is absent where it cannot (signed out, standalone).
 * @typedef {{
 *   mode: 'console' | 'standalone',
 *   signedIn: boolean,
 *   execution?: string,
 *   fetchBundle?: (execution: string) => Promise<unknown>,
 *   fetchVkey?: () => Promise<string>,
 *   fetchJwks?: () => Promise<unknown>,
 *   fetchConsistency?: (from: number, to: number) => Promise<unknown>,
 * }} Source
 */

/** Largest bundle read from a file or a paste (the CLI reads at most 16 MiB too). */
const MAX_BYTES = 16 * 1024 * 1024;

/** @param {unknown} e */
const msg = (e) => (e instanceof Error ? e.message : String(e));

/** @param {unknown} v @returns {v is Record<string, any>} */
const isObj = (v) => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * A value for display: strings as they are, the rest as JSON.
 * @param {unknown} v
 */
function show(v) {
  if (v === undefined || v === null) return '—';
  if (typeof v === 'string') return v;
  return JSON.stringify(v);
}

/**
 * A Unix time in seconds as UTC text.
 * @param {unknown} t
 */
function when(t) {
  if (typeof t !== 'number' || !Number.isFinite(t)) return show(t);
  const d = new Date(t * 1000);
  return Number.isNaN(d.getTime()) ? String(t) : `${d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z')} (${t})`;
}

/**
 * A definition list of [label, value] rows, values as text.
 * @param {string} label
 * @param {[string, unknown][]} rows
 */
function facts(label, rows) {
  return h('dl', { class: 'facts proof-facts', 'aria-label': label },
    ...rows.flatMap(([k, v]) => [h('dt', null, k), h('dd', null, h('code', null, show(v)))]));
}

/**
 * The size line of a checkpoint note, or NaN.
 * @param {string} note
 */
function noteSize(note) {
  const line = note.split('\n')[1] ?? '';
  return /^[0-9]+$/.test(line) ? Number(line) : Number.NaN;
}

/**
 * Mounts the viewer in `root`; returns the cleanup to call when the page is left.
 * @param {HTMLElement} root
 * @param {Source} source
 * @returns {() => void}
 */
export function proofViewer(root, source) {
  let left = false;
  const bundleText = /** @type {HTMLTextAreaElement} */ (h('textarea', {
    id: 'proof-bundle', name: 'bundle', rows: 6, spellcheck: 'false', class: 'proof-text',
    placeholder: '{"format": "writ.proof/v1", …}', 'aria-describedby': 'proof-bundle-help',
  }));
  const file = /** @type {HTMLInputElement} */ (h('input', { id: 'proof-file', type: 'file', accept: '.json,application/json' }));
  const vkey = /** @type {HTMLInputElement} */ (h('input', {
    id: 'proof-vkey', name: 'vkey', type: 'text', spellcheck: 'false', autocomplete: 'off', class: 'proof-wide',
    placeholder: 'origin+hexid+base64 (writ ledger vkey)',
  }));
  const older = /** @type {HTMLTextAreaElement} */ (h('textarea', {
    id: 'proof-older', name: 'older', rows: 4, spellcheck: 'false', class: 'proof-text',
  }));
  const consistency = /** @type {HTMLTextAreaElement} */ (h('textarea', {
    id: 'proof-consistency', name: 'consistency', rows: 3, spellcheck: 'false', class: 'proof-text',
  }));
  const jwks = /** @type {HTMLTextAreaElement} */ (h('textarea', {
    id: 'proof-jwks', name: 'jwks', rows: 2, spellcheck: 'false', class: 'proof-text',
    placeholder: '{"keys": […]} (GET /.well-known/jwks.json)',
  }));
  const jwksTofu = h('p', { class: 'notice proof-warn', 'data-tofu-jwks': true, hidden: true, role: 'note' });
  const tofu = h('p', { class: 'notice proof-warn', 'data-tofu': true, hidden: true, role: 'note' });
  const status = h('p', { class: 'notice', role: 'status', 'aria-live': 'polite', 'data-proof-status': true });
  const result = h('section', { 'aria-labelledby': 'proof-h-result', class: 'proof-result', hidden: true });
  const execInput = /** @type {HTMLInputElement} */ (h('input', {
    id: 'proof-execution', name: 'execution', type: 'text', spellcheck: 'false', autocomplete: 'off', class: 'proof-wide',
    value: source.execution ?? '', placeholder: '0190…',
  }));

  /** @param {string} text @param {boolean} [bad] */
  const say = (text, bad = false) => { status.textContent = text; status.classList.toggle('bad', bad); };

  const fetchRow = source.fetchBundle
    ? h('form', { class: 'inline', 'data-fetch': true, 'aria-label': 'Fetch a bundle by execution' },
      h('label', { for: 'proof-execution' }, 'Execution id'), execInput,
      h('button', { type: 'submit', 'data-act': 'fetch' }, 'Fetch and verify'))
    : null;
  fetchRow?.addEventListener('submit', (e) => { e.preventDefault(); fetchAndVerify(execInput.value.trim()); });

  const intro = source.mode === 'standalone'
    ? h('p', { 'data-offline': true }, 'This standalone file verifies a bundle in this browser and makes no network request: paste or drop a ',
      h('code', null, 'writ.proof/v1'), ' bundle (from ', h('code', null, 'GET /v1/proofs/{execution}'), ' or ', h('code', null, 'writ ledger proof'), ').')
    : source.signedIn
      ? h('p', null, 'Fetch an execution\'s bundle, or paste or drop one. It is verified in this browser with an independent verifier, not by the server.')
      : h('p', { class: 'notice', 'data-signed-out': true }, 'You are not signed in: paste or drop a bundle to verify it here. ',
        h('a', { href: '/ui/' }, 'Sign in'), ' to fetch a bundle by execution id or take the log key from the server.');

  const takeKey = source.fetchVkey
    ? h('button', { type: 'button', 'data-act': 'take-vkey', class: 'proof-secondary' }, 'Take from server')
    : null;
  takeKey?.addEventListener('click', async () => {
    try {
      const k = await /** @type {NonNullable<Source['fetchVkey']>} */ (source.fetchVkey)();
      if (left) return;
      vkey.value = k.trim();
      tofu.hidden = false;
      tofu.textContent = 'Trust on first use: this key came from the server whose log you are checking. '
        + 'It proves the bundle matches what this server signs, not that the server is honest; '
        + 'compare it once with a key you obtained another way (writ ledger vkey on the host).';
      say('Log key taken from the server.');
    } catch (e) {
      say(`Could not take the log key: ${msg(e)}`, true);
    }
  });
  vkey.addEventListener('input', () => { tofu.hidden = true; });
  const takeJwks = source.fetchJwks
    ? h('button', { type: 'button', 'data-act': 'take-jwks', class: 'proof-secondary' }, 'Take writ keys from server')
    : null;
  takeJwks?.addEventListener('click', async () => {
    try {
      const k = await /** @type {NonNullable<Source['fetchJwks']>} */ (source.fetchJwks)();
      if (left) return;
      jwks.value = JSON.stringify(k);
      jwksTofu.hidden = false;
      jwksTofu.textContent = 'Trust on first use: these writ keys came from the server that issued the writ. '
        + 'Compare them once with keys you obtained another way.';
      say('Writ keys taken from the server.');
    } catch (e) {
      say(`Could not take the writ keys: ${msg(e)}`, true);
    }
  });
  jwks.addEventListener('input', () => { jwksTofu.hidden = true; });

  const form = h('form', { class: 'proof-form', 'data-drop': true, 'aria-labelledby': 'proof-h-load' },
    h('h2', { id: 'proof-h-load' }, 'Bundle'),
    h('label', { for: 'proof-bundle' }, 'Bundle JSON (paste, or drop a file on this page)'), bundleText,
    h('p', { id: 'proof-bundle-help', class: 'dim proof-help' }, 'Nothing is sent anywhere: the bundle is verified in this page.'),
    h('div', { class: 'inline' }, h('label', { for: 'proof-file' }, 'Or choose a file'), file),
    h('h2', { id: 'proof-h-trust' }, 'Trust'),
    h('label', { for: 'proof-vkey' }, 'Pinned log key (optional; without it the bundle\'s own key is used)'),
    h('div', { class: 'inline proof-keyrow' }, vkey, takeKey),
    tofu,
    h('label', { for: 'proof-jwks' }, 'Pinned writ keys, a JWKS (optional; without it the bundle\'s own JWKS is used)'),
    jwks,
    takeJwks ? h('div', { class: 'proof-keyrow' }, takeJwks) : null,
    jwksTofu,
    h('details', { class: 'proof-older' },
      h('summary', null, 'Older checkpoint (consistency check)'),
      h('label', { for: 'proof-older' }, 'An older signed checkpoint you saw before'), older,
      h('label', { for: 'proof-consistency' }, source.fetchConsistency
        ? 'Consistency proof JSON (optional: fetched from the server when empty)'
        : 'Consistency proof JSON (GET /v1/ledger/consistency?from=OLD&to=NEW)'), consistency),
    h('div', { class: 'row' }, h('button', { type: 'submit', 'data-act': 'verify' }, 'Verify')));

  form.addEventListener('submit', (e) => { e.preventDefault(); verifyText(); });
  // A file dropped anywhere on the page is read (not opened by the browser in place of it).
  /** @param {DragEvent} e */
  const onDragOver = (e) => { e.preventDefault(); form.classList.add('proof-dragging'); };
  const onDragLeave = () => form.classList.remove('proof-dragging');
  /** @param {DragEvent} e */
  const onDrop = (e) => {
    e.preventDefault();
    form.classList.remove('proof-dragging');
    const f = e.dataTransfer?.files?.[0];
    if (f) readFile(f);
  };
  root.addEventListener('dragover', onDragOver);
  root.addEventListener('dragleave', onDragLeave);
  root.addEventListener('drop', onDrop);
  file.addEventListener('change', () => { const f = file.files?.[0]; if (f) readFile(f); });

  replace(root, h('h1', null, 'Governance Proof Viewer'), intro, fetchRow, status, result, form);

  /** @param {File} f */
  async function readFile(f) {
    if (f.size > MAX_BYTES) return say(`${f.name} is larger than ${MAX_BYTES} bytes`, true);
    try {
      bundleText.value = await f.text();
    } catch (e) {
      return say(`Cannot read ${f.name}: ${msg(e)}`, true);
    }
    if (!left) verifyText();
  }

  /** @param {string} execution */
  async function fetchAndVerify(execution) {
    if (!source.fetchBundle || !execution) return;
    say(`Fetching the bundle of ${execution}…`);
    try {
      const b = await source.fetchBundle(execution);
      if (left) return;
      bundleText.value = JSON.stringify(b, null, 2);
      await verifyText();
    } catch (e) {
      say(`Could not fetch the bundle of ${execution}: ${msg(e)}`, true);
    }
  }

  async function verifyText() {
    const text = bundleText.value;
    if (text.length > MAX_BYTES) return say(`the bundle is larger than ${MAX_BYTES} bytes`, true);
    let bundle;
    try {
      bundle = JSON.parse(text);
    } catch (e) {
      return say(`The bundle is not JSON: ${msg(e)}`, true);
    }
    /** @type {import('../verify/bundle.js').Options} */
    const options = {};
    if (vkey.value.trim()) options.pinnedVkey = vkey.value.trim();
    if (jwks.value.trim()) {
      try {
        options.pinnedJwks = JSON.parse(jwks.value);
      } catch (e) {
        return say(`The pinned JWKS is not JSON: ${msg(e)}`, true);
      }
    }
    const olderNote = older.value.trim();
    if (olderNote) {
      options.olderCheckpoint = `${olderNote}\n`;
      const proofText = consistency.value.trim();
      if (proofText) {
        try {
          options.consistencyProof = JSON.parse(proofText);
        } catch (e) {
          return say(`The consistency proof is not JSON: ${msg(e)}`, true);
        }
      } else if (source.fetchConsistency && isObj(bundle) && typeof bundle.checkpoint === 'string') {
        const from = noteSize(options.olderCheckpoint);
        const to = noteSize(bundle.checkpoint);
        if (Number.isSafeInteger(from) && Number.isSafeInteger(to) && from !== to && from <= to) {
          try {
            options.consistencyProof = await source.fetchConsistency(from, to);
            consistency.value = JSON.stringify(options.consistencyProof);
          } catch (e) {
            say(`Could not fetch the consistency proof: ${msg(e)}`, true);
          }
        }
      }
    }
    say('Verifying…');
    const t0 = performance.now();
    let r;
    try {
      r = await verifyBundle(bundle, options);
    } catch (e) {
      return say(`The verifier stopped: ${msg(e)}`, true);
    }
    const ms = performance.now() - t0;
    if (left) return;
    render(r, options, ms);
    say(`Checked in this browser in ${ms.toFixed(1)} ms: ${r.verdict}.`, r.verdict !== 'verified');
  }

  /**
   * @param {import('../verify/bundle.js').Result} r
   * @param {import('../verify/bundle.js').Options} options
   * @param {number} ms
   */
  function render(r, options, ms) {
    const ok = r.verdict === 'verified';
    const fails = r.checks.filter((c) => c.status === 'fail');
    const count = (/** @type {string} */ s) => r.checks.filter((c) => c.status === s).length;
    const trust = options.pinnedVkey
      ? h('p', { 'data-trust': 'pinned' }, 'The checkpoint was checked against the pinned log key.')
      : h('p', { class: 'notice proof-warn', 'data-trust': 'bundle' }, 'No log key pinned: the bundle\'s own key was used. '
        + 'This shows the bundle is internally consistent, not that it came from your log; pin the log\'s key to be sure.');
    const checks = h('ol', { class: 'proof-checks', 'aria-label': 'Checks' },
      ...r.checks.map((c) => h('li', { 'data-check': c.name, 'data-status': c.status, class: `proof-check proof-${c.status}` },
        h('span', { class: 'proof-badge' }, c.status), ' ', h('strong', null, c.name), h('span', { class: 'proof-detail' }, c.detail))));
    replace(result,
      h('h2', { id: 'proof-h-result' }, 'Result'),
      h('p', { class: `proof-verdict ${ok ? 'proof-ok' : 'proof-bad'}`, 'data-verdict': r.verdict, 'data-verify-ms': ms.toFixed(1) },
        ok ? 'Verified' : 'Failed', h('span', { class: 'proof-counts' },
          ` — ${count('pass')} passed, ${count('fail')} failed, ${count('skip')} skipped`
          + (fails.length ? `; failed: ${fails.map((c) => c.name).join(', ')}` : ''))),
      trust,
      options.pinnedJwks !== undefined
        ? h('p', { 'data-trust-writ': 'pinned' }, 'The writ was checked against the pinned writ keys.')
        : h('p', { class: 'dim', 'data-trust-writ': 'bundle' }, 'No writ keys pinned: the writ was checked against the bundle\'s own JWKS.'),
      h('h3', null, 'Checks'), checks,
      ...decoded(r));
    result.hidden = false;
  }

  if (source.execution) {
    if (source.fetchBundle) fetchAndVerify(source.execution);
    else say(`Sign in to fetch the bundle of execution ${source.execution}, or paste it below.`);
  }
  return () => {
    left = true;
    root.removeEventListener('dragover', onDragOver);
    root.removeEventListener('dragleave', onDragLeave);
    root.removeEventListener('drop', onDrop);
  };
}

/**
 * The decoded contents: checkpoint, decision(s), writ claims, receipts, disclosed arguments.
 * @param {import('../verify/bundle.js').Result} r
 * @returns {HTMLElement[]}
 */
function decoded(r) {
  /** @type {HTMLElement[]} */
  const out = [h('h3', null, 'What the bundle says')];
  if (r.checkpoint) {
    out.push(facts('Checkpoint', [['Log', r.checkpoint.origin], ['Size', r.checkpoint.size], ['Root (base64)', r.checkpoint.root_b64]]));
  }
  for (const d of r.entries) {
    const e = d.entry;
    if (!e) {
      out.push(h('p', { class: 'bad', 'data-entry': d.index }, d.error ?? `entry ${d.index} is unreadable`));
      continue;
    }
    const priv = r.disclosed[d.index];
    const box = h('section', { class: 'proof-entry', 'data-entry': d.index, 'data-type': show(e.type), 'aria-label': `Entry ${d.index}` });
    out.push(box);
    if (e.type === 'decision') {
      /** @type {any} */
      const req = e.v === 1 ? e.request : priv?.request;
      const rows = /** @type {[string, unknown][]} */ ([
        ['Decision', e.decision], ['Reason', e.reason_code],
        ['Principal', e.v === 1 ? req?.principal : e.principal],
        ['Action', e.v === 1 ? req?.intent?.action : e.action],
        ['Resource', e.v === 1 ? req?.intent?.resource : e.resource],
        ['Gate', e.v === 1 ? req?.env?.gate : e.gate], ['Zone', e.v === 1 ? req?.env?.zone : e.zone],
        ['Execution', e.v === 1 ? req?.lineage?.execution : e.execution],
        ['Decided at', when(e.now)], ['Determining policies', e.determining],
        ['Policy bundle', e.bundle_sha256], ['Engine', e.engine],
      ]);
      replace(box, h('h4', null, `Decision — entry ${d.index}`), facts(`Decision entry ${d.index}`, rows));
      if (isObj(req) && isObj(req.intent)) {
        box.append(h('p', { class: 'proof-sub' }, e.v === 1 ? 'Arguments (recorded in clear):' : 'Disclosed arguments (verified against the commitment):'),
          h('pre', { 'data-args': d.index }, JSON.stringify(req.intent.args ?? {}, null, 2)));
      } else if (e.v !== 1) {
        box.append(h('p', { class: 'dim' }, priv === undefined && typeof e.commitment === 'string'
          ? 'The request is committed, not disclosed (or its disclosure failed): the arguments are not shown.' : ''));
      }
    } else if (e.type === 'receipt') {
      const signed = e.v === 1 ? e.receipt : priv?.receipt;
      const body = isObj(signed) && isObj(signed.body) ? signed.body : null;
      const rows = /** @type {[string, unknown][]} */ ([
        ['Outcome', e.outcome ?? body?.outcome], ['Gate', e.gate ?? body?.gate], ['Execution', e.execution ?? body?.execution],
        ['Started', when(e.started_at ?? body?.started_at)], ['Finished', when(e.finished_at ?? body?.finished_at)],
      ]);
      if (body) rows.push(['Action', body.intent?.action], ['Resource', body.intent?.resource], ['Result digest', body.result_sha256]);
      replace(box, h('h4', null, `Receipt — entry ${d.index}`), facts(`Receipt entry ${d.index}`, rows));
      if (!body) box.append(h('p', { class: 'dim' }, 'The gate-signed receipt is committed, not disclosed.'));
    } else {
      const rows = /** @type {[string, unknown][]} */ (Object.entries(e).filter(([k]) => k !== 'type' && k !== 'v'));
      replace(box, h('h4', null, `${show(e.type)} — entry ${d.index}`), facts(`Entry ${d.index}`, rows));
    }
  }
  /** @type {any} */
  const c = r.claims;
  if (c) {
    out.push(h('section', { class: 'proof-entry', 'data-writ': true, 'aria-label': 'Writ' }, h('h4', null, 'Writ (its claims)'),
      facts('Writ claims', [
        ['Subject', c.sub], ['Audience', c.aud], ['Action', c.intent?.action], ['Resource', c.intent?.resource],
        ['Arguments digest', c.intent?.args_sha256], ['Zone', c.env?.zone], ['Execution', c.lineage?.execution],
        ['Issued', when(c.iat)], ['Expires', when(c.exp)], ['Ledger', `${show(c.ledger?.origin)} #${show(c.ledger?.index)}`],
      ])));
  }
  return out;
}
