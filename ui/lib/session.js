// Who is signed in: a person's token kept in sessionStorage (gone when the tab closes), sent
// as a bearer header (no cookies, so no cross-site request forgery).

const KEY = 'writ.console.token';

/** @typedef {{subject: string, kind: string, role: string | null, console: boolean, governs: boolean}} Who */

/** @returns {string | null} */
export function getToken() {
  try { return sessionStorage.getItem(KEY); } catch { return null; }
}

/** @param {string | null} token */
export function setToken(token) {
  if (token) sessionStorage.setItem(KEY, token);
  else sessionStorage.removeItem(KEY);
}

/**
 * Why a token may not sign in to the console, or null when it may.
 * @param {Who} who
 * @returns {string | null}
 */
export function refusal(who) {
  if (who.console) return null;
  if (who.kind === 'gate') return 'This is a gate token; gates cannot sign in to the console.';
  if (who.kind === 'agent' || who.kind === 'service') {
    return `This is an ${who.kind === 'agent' ? 'agent' : 'service'} token (${who.subject}); only people with a role sign in.`;
  }
  return `${who.subject} has no role; ask an admin: writ principal add ${who.subject} --role auditor`;
}
