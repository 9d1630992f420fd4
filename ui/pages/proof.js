// Governance Proof Viewer (/ui/proof, /ui/proof/{execution}): verifies a writ.proof/v1 bundle in
// the browser with the independent verifier (ui/verify/). Signed in, it fetches a bundle by
// execution id, the log key and consistency proofs through the API; signed out, it verifies a
// pasted or dropped bundle only. The viewer itself is ui/lib/proofview.js (also the body of the
// standalone file `writ proof viewer` writes).

import { api } from '../lib/api.js';
import { proofViewer } from '../lib/proofview.js';

/**
 * Text of an API answer that is not JSON (the log key is text/plain).
 * @param {string} path
 * @returns {Promise<string>}
 */
async function text(path) {
  const resp = await fetch(path, { cache: 'no-store' });
  if (!resp.ok) throw new Error(`${path}: HTTP ${resp.status}`);
  return resp.text();
}

/**
 * @param {HTMLElement} main
 * @param {import('../lib/session.js').Who | null} who
 * @param {string | undefined} execution
 * @returns {() => void} called when the page is left
 */
export function proofPage(main, who, execution) {
  const signedIn = who !== null;
  return proofViewer(main, {
    mode: 'console',
    signedIn,
    execution,
    fetchBundle: signedIn ? (e) => api(`/v1/proofs/${encodeURIComponent(e)}`) : undefined,
    fetchVkey: signedIn ? () => text('/v1/ledger/vkey') : undefined,
    fetchJwks: signedIn ? () => api('/.well-known/jwks.json') : undefined,
    fetchConsistency: signedIn ? (from, to) => api(`/v1/ledger/consistency?from=${from}&to=${to}`) : undefined,
  });
}
