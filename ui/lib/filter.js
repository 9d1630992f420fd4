// The decisions search and the live feed's filter. Pure functions (unit-tested).

/** The search fields `GET /v1/executions` takes, in the order the form shows them. */
export const SEARCH_FIELDS = /** @type {const} */ ([
  'principal', 'decision', 'reason_code', 'action', 'resource', 'gate', 'zone',
]);

/**
 * A `datetime-local` value (taken as UTC) or a number of Unix seconds → Unix seconds, or
 * undefined when empty or unreadable.
 * @param {string | undefined} text
 * @returns {number | undefined}
 */
export function parseTime(text) {
  const t = (text ?? '').trim();
  if (t === '') return undefined;
  if (/^\d+$/.test(t)) return Number(t);
  const ms = Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(t) ? t : `${t}Z`);
  return Number.isFinite(ms) ? Math.floor(ms / 1000) : undefined;
}

/**
 * The query string of a search: empty fields left out, times in Unix seconds.
 * @param {Record<string, string | undefined>} form
 * @param {{limit?: number, cursor?: string}} [page]
 * @returns {string}
 */
export function searchQuery(form, page = {}) {
  const q = new URLSearchParams();
  for (const f of SEARCH_FIELDS) {
    const v = (form[f] ?? '').trim();
    if (v !== '') q.set(f, v);
  }
  const since = parseTime(form.since);
  const until = parseTime(form.until);
  if (since !== undefined) q.set('since', String(since));
  if (until !== undefined) q.set('until', String(until));
  if (page.limit) q.set('limit', String(page.limit));
  if (page.cursor) q.set('cursor', page.cursor);
  return q.toString();
}

/**
 * Whether a live decision event matches the search form (the fields the event carries:
 * principal, decision, reason code; the others cannot be judged from the event and pass).
 * @param {{principal?: string, decision?: string, reason_code?: string}} ev
 * @param {Record<string, string | undefined>} form
 * @returns {boolean}
 */
export function matchesLive(ev, form) {
  for (const f of /** @type {const} */ (['principal', 'decision', 'reason_code'])) {
    const want = (form[f] ?? '').trim();
    if (want !== '' && (ev[f] ?? '') !== want) return false;
  }
  return true;
}

/**
 * Zones named by principals and gates, each with its members, sorted by name.
 * @param {{id: string, zone?: string | null}[]} principals
 * @param {{id: string, zone?: string | null}[]} gates
 * @returns {{zone: string, principals: string[], gates: string[]}[]}
 */
export function zonesOf(principals, gates) {
  /** @type {Map<string, {zone: string, principals: string[], gates: string[]}>} */
  const zones = new Map();
  /** @param {string} z */
  const get = (z) => {
    let v = zones.get(z);
    if (!v) { v = { zone: z, principals: [], gates: [] }; zones.set(z, v); }
    return v;
  };
  for (const p of principals) if (p.zone) get(p.zone).principals.push(p.id);
  for (const g of gates) if (g.zone) get(g.zone).gates.push(g.id);
  return [...zones.values()].sort((a, b) => (a.zone < b.zone ? -1 : a.zone > b.zone ? 1 : 0));
}
