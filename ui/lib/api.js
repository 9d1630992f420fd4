// The API client: the same calls as the CLI, with the signed-in person's bearer token.

import { getToken } from './session.js';

/** An error answer of the API: HTTP status, reason code and message. */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} code
   * @param {string} message
   */
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/**
 * Calls the API. JSON in, JSON out; an error answer throws ApiError.
 * @param {string} path
 * @param {{method?: string, body?: unknown}} [opts]
 * @returns {Promise<any>}
 */
export async function api(path, opts = {}) {
  const token = getToken();
  /** @type {Record<string, string>} */
  const headers = { accept: 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  let resp;
  try {
    resp = await fetch(path, {
      method: opts.method ?? (opts.body === undefined ? 'GET' : 'POST'),
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      cache: 'no-store',
    });
  } catch (e) {
    throw new ApiError(0, 'unreachable', `the control plane is unreachable: ${e instanceof Error ? e.message : e}`);
  }
  const text = await resp.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = { message: text }; }
  if (!resp.ok) {
    throw new ApiError(resp.status, body?.code ?? 'error', body?.message ?? `HTTP ${resp.status}`);
  }
  return body;
}

/** @param {string} path @returns {Promise<any>} */
export const get = (path) => api(path);
/** @param {string} path @param {unknown} body @returns {Promise<any>} */
export const post = (path, body) => api(path, { method: 'POST', body });
