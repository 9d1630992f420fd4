// Unit tests of the console's pure parts (node --test ui/tests/): formatting, the search
// filters, the chart geometry, and the event-feed reader (SSE parsing, reconnection, refusal).

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { fmtAgo, fmtBytes, fmtMs, fmtRate, fmtTime, shortDigest } from '../lib/format.js';
import { matchesLive, parseTime, searchQuery, zonesOf } from '../lib/filter.js';
import { linePath, scaleMax } from '../lib/chart.js';
import { SseParser, backoff, openFeed } from '../lib/feed.js';
import { route } from '../lib/router.js';

test('formats bytes, times, durations, rates and digests', () => {
  assert.equal(fmtBytes(0), '0 B');
  assert.equal(fmtBytes(1023), '1023 B');
  assert.equal(fmtBytes(1536), '1.5 KiB');
  assert.equal(fmtBytes(50 * 1024 * 1024), '50 MiB');
  assert.equal(fmtBytes(null), '—');
  assert.equal(fmtTime(0), '1970-01-01 00:00:00Z');
  assert.equal(fmtTime(1796532901), '2026-12-06 04:55:01Z');
  assert.equal(fmtAgo(100, 100.5), 'just now');
  assert.equal(fmtAgo(100, 142), '42 s ago');
  assert.equal(fmtAgo(0, 300), '5 min ago');
  assert.equal(fmtAgo(0, 3 * 3600), '3 h ago');
  assert.equal(fmtAgo(null, 5), 'never');
  assert.equal(fmtMs(0.25), '0.25 ms');
  assert.equal(fmtMs(12.4), '12 ms');
  assert.equal(fmtMs(1500), '1.5 s');
  assert.equal(fmtRate(0), '0');
  assert.equal(fmtRate(0.0512), '0.05');
  assert.equal(fmtRate(3.333), '3.3');
  assert.equal(fmtRate(120.4), '120');
  assert.equal(shortDigest('abcdef0123456789ff'), 'abcdef012345');
  assert.equal(shortDigest(''), '—');
});

test('builds the search query: empty fields out, times as Unix seconds, paging', () => {
  const q = new URLSearchParams(searchQuery(
    { principal: ' agent:a ', decision: 'deny', reason_code: '', zone: 'dev', since: '2026-12-06T04:00', until: '1800000000' },
    { limit: 50, cursor: 'c1' }));
  assert.equal(q.get('principal'), 'agent:a');
  assert.equal(q.get('decision'), 'deny');
  assert.equal(q.has('reason_code'), false);
  assert.equal(q.get('zone'), 'dev');
  assert.equal(q.get('since'), String(Date.UTC(2026, 11, 6, 4, 0) / 1000));
  assert.equal(q.get('until'), '1800000000');
  assert.equal(q.get('limit'), '50');
  assert.equal(q.get('cursor'), 'c1');
  assert.equal(searchQuery({}), '');
  assert.equal(parseTime('not a time'), undefined);
  assert.equal(parseTime('2026-12-06T04:00:00+01:00'), Date.UTC(2026, 11, 6, 3, 0) / 1000);
});

test('filters live decisions by the fields an event carries', () => {
  const ev = { principal: 'agent:a', decision: 'deny', reason_code: 'quarantined' };
  assert.equal(matchesLive(ev, {}), true);
  assert.equal(matchesLive(ev, { decision: 'deny', principal: 'agent:a' }), true);
  assert.equal(matchesLive(ev, { decision: 'allow' }), false);
  assert.equal(matchesLive(ev, { principal: 'agent:b' }), false);
  assert.equal(matchesLive(ev, { reason_code: 'quarantined', resource: 'tool:x' }), true);
});

test('groups principals and gates by zone', () => {
  const z = zonesOf([{ id: 'agent:a', zone: 'prod' }, { id: 'agent:b', zone: 'dev' }, { id: 'human:x', zone: null }],
    [{ id: 'gate:g', zone: 'dev' }]);
  assert.deepEqual(z, [
    { zone: 'dev', principals: ['agent:b'], gates: ['gate:g'] },
    { zone: 'prod', principals: ['agent:a'], gates: [] },
  ]);
});

test('draws chart lines scaled to the box, breaking at missing values', () => {
  assert.equal(linePath([], 100, 10, 1), '');
  assert.equal(linePath([0, 5, 10], 100, 10, 10), 'M0 10L50 5L100 0');
  assert.equal(linePath([1, null, 1], 100, 10, 2), 'M0 5M100 5');
  assert.equal(linePath([20], 100, 10, 10), 'M0 0');
  assert.equal(scaleMax([[1, 2], [null, 7]]), 7);
  assert.equal(scaleMax([[0.1]], 1), 1);
});

test('routes console paths', () => {
  assert.equal(route('/ui/').page, 'console');
  assert.equal(route('/ui').page, 'console');
  assert.equal(route('/ui/health').page, 'health');
  assert.equal(route('/ui/health/').page, 'health');
  assert.equal(route('/ui/nope').page, 'notfound');
  assert.deepEqual(route('/ui/proof'), { page: 'proof', path: '/ui/proof' });
  assert.deepEqual(route('/ui/proof/exec%3A1/'), { page: 'proof', path: '/ui/proof', param: 'exec:1' });
  assert.deepEqual(route('/ui/lineage/abc'), { page: 'lineage', path: '/ui/lineage', param: 'abc' });
  assert.equal(route('/ui/lineage/a/b').page, 'notfound');
  assert.equal(route('/ui/proof/%E0%A4%A').page, 'notfound');
  assert.equal(route('/ui/demo').page, 'demo');
});

test('parses server-sent events across chunks, line endings, comments and multi-line data', () => {
  const p = new SseParser();
  assert.deepEqual(p.push('event: snapshot\ndata: {"a"'), []);
  assert.deepEqual(p.push(':1}\n\n: comment\n\nid: 7\nevent: decision\r\ndata: x\r\ndata: y\r\n\r'), [
    { event: 'snapshot', data: '{"a":1}' },
  ]);
  assert.deepEqual(p.push('\n'), [{ event: 'decision', data: 'x\ny', id: '7' }]);
  assert.deepEqual(p.push('data:no-space\n\nevent: empty\n\n'), [{ event: 'message', data: 'no-space', id: '7' }]);
});

test('backs off from 250 ms doubling to 8 s', () => {
  assert.deepEqual([0, 1, 2, 5, 9].map(backoff), [250, 500, 1000, 8000, 8000]);
});

/**
 * A fetch that answers each call with the next scripted response: a status and SSE text
 * chunks (a real Response over a ReadableStream), and records the headers it was sent.
 * @param {{status: number, chunks?: string[]}[]} script
 */
function scriptedFetch(script) {
  /** @type {any[]} */
  const calls = [];
  const f = async (/** @type {string} */ url, /** @type {any} */ init) => {
    calls.push({ url, headers: init.headers });
    const next = script.shift();
    if (!next) return new Promise(() => {}); // hangs: no more connections expected
    const body = new ReadableStream({
      start(c) {
        for (const ch of next.chunks ?? []) c.enqueue(new TextEncoder().encode(ch));
        c.close();
      },
    });
    return new Response(body, { status: next.status });
  };
  return { f, calls };
}

test('the feed reader sends the bearer, delivers events, reconnects with a fresh snapshot', async () => {
  const { f, calls } = scriptedFetch([
    { status: 200, chunks: ['event: snapshot\ndata: {"kill_switch":false}\n\n', 'event: decision\nid: 3\ndata: {"decision":"deny"}\n\n'] },
    { status: 503 },
    { status: 200, chunks: ['event: snapshot\ndata: {"kill_switch":true}\n\n', 'event: lagged\ndata: {"missed":4}\n\n'] },
    { status: 200, chunks: ['event: snapshot\ndata: {"kill_switch":true}\n\n'] },
  ]);
  /** @type {any[]} */
  const events = [];
  /** @type {string[]} */
  const statuses = [];
  const done = new Promise((resolve) => {
    const feed = openFeed({
      url: '/v1/events', token: () => 'tok', fetch: /** @type {any} */ (f), delay: () => 1,
      onStatus: (s) => statuses.push(s),
      onEvent: (ev) => { events.push(ev); if (events.length === 5) { feed.close(); resolve(null); } },
    });
  });
  await done;
  assert.equal(calls.length, 4);
  assert.equal(calls[0].headers.authorization, 'Bearer tok');
  assert.deepEqual(events.map((e) => e.kind), ['snapshot', 'decision', 'snapshot', 'lagged', 'snapshot']);
  assert.deepEqual(events[1], { kind: 'decision', data: { decision: 'deny' }, id: '3' });
  assert.equal(events[2].data.kill_switch, true);
  assert.ok(statuses.includes('retrying'));
  assert.equal(statuses.at(-1), 'closed');
});

test('the feed reader stops on a refused token instead of retrying', async () => {
  const { f, calls } = scriptedFetch([{ status: 403 }, { status: 200 }]);
  const status = await new Promise((resolve) => {
    openFeed({ url: '/v1/events', token: () => 'agent', fetch: /** @type {any} */ (f), delay: () => 1,
      onStatus: (s) => { if (s === 'denied') resolve(s); }, onEvent: () => {} });
  });
  assert.equal(status, 'denied');
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(calls.length, 1);
});
