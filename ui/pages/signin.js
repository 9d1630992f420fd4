// The sign-in form: a person's token, checked with GET /v1/whoami; agent, service and gate
// tokens are refused here (and the API refuses them the console's calls anyway).

import { h, replace } from '../lib/dom.js';
import { ApiError, api } from '../lib/api.js';
import { refusal, setToken } from '../lib/session.js';

/**
 * @param {HTMLElement} main
 * @param {(who: import('../lib/session.js').Who) => void} signedIn
 * @returns {() => void}
 */
export function signInPage(main, signedIn) {
  const input = /** @type {HTMLInputElement} */ (h('input', {
    id: 'token', name: 'token', type: 'password', autocomplete: 'off', required: true, spellcheck: 'false',
  }));
  const error = h('p', { class: 'error', role: 'alert', id: 'signin-error' });
  const form = h('form', { 'data-signin': true, class: 'signin', 'aria-describedby': 'signin-help' },
    h('h1', null, 'Sign in to Writ'),
    h('p', { id: 'signin-help' }, 'Paste your personal token (from ', h('code', null, 'writ principal add human:NAME --role …'),
      '). It is kept in this tab only and sent as a bearer header.'),
    h('label', { for: 'token' }, 'Token'), input,
    h('button', { type: 'submit' }, 'Sign in'), error);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    setToken(input.value.trim());
    try {
      const who = await api('/v1/whoami');
      const why = refusal(who);
      if (why) {
        setToken(null);
        error.textContent = why;
        return;
      }
      signedIn(who);
    } catch (err) {
      setToken(null);
      error.textContent = err instanceof ApiError && err.status === 401
        ? 'This token is unknown or revoked.'
        : `Sign-in failed: ${err instanceof Error ? err.message : err}`;
    }
  });
  replace(main, form);
  input.focus();
  return () => {};
}
