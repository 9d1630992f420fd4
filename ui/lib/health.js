// Pure helpers of the Health Dashboard and the console's gates and simulation views
// (unit-tested in ui/tests/health.test.js): a gate's contact in words, and a simulation's
// recorded rows split into changed and not simulated.

import { fmtAgo } from './format.js';

/**
 * A gate's contact as the status reports it (`connected`, `last_contact`, `contact_via`), in
 * words: `connected (heartbeat 3 s ago)`, `last contact 5 min ago (attestation)`, `never`.
 * @param {{connected?: boolean, last_contact?: number | null, contact_via?: string | null}} g
 * @param {number} now Unix seconds
 * @returns {string}
 */
export function contactText(g, now) {
  if (g.connected) return `connected (heartbeat ${fmtAgo(g.last_contact, now)})`;
  if (g.last_contact === null || g.last_contact === undefined) return 'no contact since the server started';
  const via = g.contact_via === 'feed_closed' ? 'feed closed' : (g.contact_via ?? '');
  return `last contact ${fmtAgo(g.last_contact, now)}${via ? ` (${via})` : ''}`;
}

/**
 * @typedef {{execution: string, principal: string, action: string, resource: string,
 *   recorded: {decision: string, reason_code?: string}, arguments: string | null,
 *   simulated: {decision: string, reason_code?: string, determining?: string[]} | null,
 *   changed: boolean | null, note: string | null}} SimRow
 */

/**
 * A simulation's recorded rows split: those whose decision would change, and those not
 * simulated (their arguments erased or unreadable), each with a line to show.
 * @param {SimRow[]} rows
 * @returns {{changed: {row: SimRow, text: string}[], missing: {row: SimRow, text: string}[], simulated: number}}
 */
export function splitSimulation(rows) {
  /** @type {{row: SimRow, text: string}[]} */
  const changed = [];
  /** @type {{row: SimRow, text: string}[]} */
  const missing = [];
  let simulated = 0;
  for (const row of rows) {
    const what = `${row.principal} ${row.action} ${row.resource}`;
    if (row.simulated === null || row.changed === null) {
      missing.push({ row, text: `${what}: ${row.note ?? `not simulated (arguments ${row.arguments ?? 'unknown'})`}` });
      continue;
    }
    simulated += 1;
    if (row.changed) {
      const d = row.simulated;
      const by = d.determining?.length ? `; by ${d.determining.join(', ')}` : '';
      changed.push({ row, text: `${what}: ${row.recorded.decision} → ${d.decision} (${d.reason_code ?? ''}${by}; arguments ${row.arguments})` });
    }
  }
  return { changed, missing, simulated };
}
