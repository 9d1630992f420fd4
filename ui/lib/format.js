// Formatting of numbers, sizes, times and digests for display. Pure functions (unit-tested).

/**
 * Bytes in binary units: `512 B`, `1.5 KiB`, `12 MiB`.
 * @param {number | null | undefined} n
 * @returns {string}
 */
export function fmtBytes(n) {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i += 1; }
  return i === 0 ? `${v} B` : `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

/**
 * A Unix time (seconds) as an ISO-like UTC string, `2026-12-06 04:55:01Z`.
 * @param {number | null | undefined} unix
 * @returns {string}
 */
export function fmtTime(unix) {
  if (unix === null || unix === undefined || !Number.isFinite(unix)) return '—';
  return new Date(unix * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

/**
 * How long ago `unix` was, relative to `now` (both Unix seconds): `just now`, `42 s ago`,
 * `5 min ago`, `3 h ago`, `2 d ago`.
 * @param {number | null | undefined} unix
 * @param {number} now
 * @returns {string}
 */
export function fmtAgo(unix, now) {
  if (unix === null || unix === undefined || !Number.isFinite(unix)) return 'never';
  const d = Math.max(0, Math.round(now - unix));
  if (d < 2) return 'just now';
  if (d < 120) return `${d} s ago`;
  if (d < 7200) return `${Math.round(d / 60)} min ago`;
  if (d < 172800) return `${Math.round(d / 3600)} h ago`;
  return `${Math.round(d / 86400)} d ago`;
}

/**
 * Milliseconds: `0.25 ms`, `12 ms`, `1.5 s`.
 * @param {number | null | undefined} ms
 * @returns {string}
 */
export function fmtMs(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  if (ms < 1) return `${Number(ms.toFixed(2))} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${Number((ms / 1000).toFixed(1))} s`;
}

/**
 * A rate with up to two significant decimals: `0`, `0.05`, `3.3`, `120`.
 * @param {number | null | undefined} x
 * @returns {string}
 */
export function fmtRate(x) {
  if (x === null || x === undefined || !Number.isFinite(x)) return '—';
  if (x === 0) return '0';
  if (x < 1) return String(Number(x.toFixed(2)));
  if (x < 100) return String(Number(x.toFixed(1)));
  return String(Math.round(x));
}

/**
 * The first `n` characters of a hex digest, or `—`.
 * @param {string | null | undefined} hex
 * @param {number} [n]
 * @returns {string}
 */
export function shortDigest(hex, n = 12) {
  return typeof hex === 'string' && hex.length > 0 ? hex.slice(0, n) : '—';
}
