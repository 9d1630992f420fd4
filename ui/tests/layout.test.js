// Unit tests of the lineage explorer's tree layout (ui/lib/layout.js), under node's test
// runner: no two boxes overlap, parents sit above their children, the same tree always gets
// the same picture whatever order its nodes come in, cycles and strays do not hang it, and a
// 1,000-node tree lays out (time printed, not asserted).

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { SIZES, fitView, layoutTree, zoomAt } from '../lib/layout.js';

/**
 * A seeded pseudo-random tree of `n` nodes: each node's parent is an earlier node.
 * @param {number} n
 * @param {number} seed
 */
function randomTree(n, seed) {
  let s = seed >>> 0;
  const rnd = () => { s = (s * 1664525 + 1013904223) >>> 0; return s / 2 ** 32; };
  const nodes = [{ id: 'n0', parent: null, order: 0 }];
  for (let i = 1; i < n; i++) {
    // Mostly near the end (deep trees), sometimes anywhere (wide ones).
    const p = rnd() < 0.5 ? Math.floor(rnd() * i) : Math.max(0, i - 1 - Math.floor(rnd() * 5));
    nodes.push({ id: `n${i}`, parent: `n${p}`, order: i });
  }
  return nodes;
}

/** @param {import('../lib/layout.js').Placed[]} placed */
function assertNoOverlap(placed) {
  const byLayer = new Map();
  for (const p of placed) {
    const list = byLayer.get(p.y) ?? [];
    list.push(p);
    byLayer.set(p.y, list);
  }
  // Layers are a full box height plus a gap apart, so boxes can only overlap within one.
  const ys = [...byLayer.keys()].sort((a, b) => a - b);
  for (let i = 1; i < ys.length; i++) assert.ok(ys[i] - ys[i - 1] >= SIZES.nodeHeight, 'layers overlap');
  for (const list of byLayer.values()) {
    list.sort((a, b) => a.x - b.x);
    for (let i = 1; i < list.length; i++) {
      assert.ok(list[i].x - list[i - 1].x >= SIZES.nodeWidth, `${list[i - 1].id} and ${list[i].id} overlap`);
    }
  }
}

/** @param {import('../lib/layout.js').Layout} l @param {{id: string, parent: string | null}[]} input */
function assertParentsAbove(l, input) {
  const at = new Map(l.nodes.map((p) => [p.id, p]));
  for (const n of input) {
    if (!n.parent) continue;
    const me = at.get(n.id);
    const parent = at.get(n.parent);
    assert.ok(me && parent);
    assert.equal(me.depth, parent.depth + 1);
    assert.ok(parent.y < me.y, `${n.parent} is not above ${n.id}`);
  }
}

test('a small tree: layers, centred parents, edges, bounds', () => {
  const input = [
    { id: 'r', parent: null, order: 1 },
    { id: 'a', parent: 'r', order: 2 },
    { id: 'b', parent: 'r', order: 5 },
    { id: 'a1', parent: 'a', order: 3 },
    { id: 'a2', parent: 'a', order: 4 },
  ];
  const l = layoutTree(input);
  const at = Object.fromEntries(l.nodes.map((p) => [p.id, p]));
  assert.deepEqual([at.r.depth, at.a.depth, at.b.depth, at.a1.depth, at.a2.depth], [0, 1, 1, 2, 2]);
  // Leaves left to right in sibling order: a1, a2, b.
  assert.ok(at.a1.x < at.a2.x && at.a2.x < at.b.x);
  assert.equal(at.a.x, (at.a1.x + at.a2.x) / 2);
  assert.equal(at.r.x, (at.a.x + at.b.x) / 2);
  assert.deepEqual(l.edges.map((e) => `${e.from}->${e.to}`).sort(), ['a->a1', 'a->a2', 'r->a', 'r->b']);
  assert.equal(l.depth, 2);
  for (const p of l.nodes) {
    assert.ok(p.x - SIZES.nodeWidth / 2 >= 0 && p.x + SIZES.nodeWidth / 2 <= l.width, `${p.id} outside`);
    assert.ok(p.y - SIZES.nodeHeight / 2 >= 0 && p.y + SIZES.nodeHeight / 2 <= l.height, `${p.id} outside`);
  }
  assertNoOverlap(l.nodes);
  assertParentsAbove(l, input);
});

test('random trees: no overlaps, parents above children', () => {
  for (const [n, seed] of [[2, 1], [17, 2], [200, 3], [600, 4]]) {
    const input = randomTree(n, seed);
    const l = layoutTree(input);
    assert.equal(l.nodes.length, n);
    assert.equal(l.edges.length, n - 1);
    assertNoOverlap(l.nodes);
    assertParentsAbove(l, input);
  }
});

test('stable: the same tree in any input order gets the same picture', () => {
  const input = randomTree(300, 9);
  const a = layoutTree(input);
  const shuffled = [...input].reverse();
  for (let i = 0; i < shuffled.length; i += 7) {
    const j = (i * 31) % shuffled.length;
    [shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]];
  }
  const b = layoutTree(shuffled);
  const key = (/** @type {import('../lib/layout.js').Layout} */ l) =>
    JSON.stringify([...l.nodes].sort((p, q) => (p.id < q.id ? -1 : 1)));
  assert.equal(key(a), key(b));
  assert.equal(JSON.stringify(layoutTree(input)), JSON.stringify(a));
  // Adding a new last child moves nothing to its left.
  const grown = layoutTree([...input, { id: 'late', parent: 'n0', order: 10_000 }]);
  const before = new Map(a.nodes.map((p) => [p.id, p]));
  const lateX = grown.nodes.find((p) => p.id === 'late')?.x ?? 0;
  for (const p of grown.nodes) {
    const old = before.get(p.id);
    if (old && p.x < lateX && p.depth > 0) assert.equal(p.x, old.x, `${p.id} moved`);
  }
});

test('untrusted shapes: strays, duplicates, self-parents and cycles all get placed once', () => {
  const l = layoutTree([
    { id: 'x', parent: 'missing' },
    { id: 'x', parent: null },
    { id: 's', parent: 's' },
    { id: 'c1', parent: 'c2', order: 1 },
    { id: 'c2', parent: 'c1', order: 2 },
    { id: 'c3', parent: 'c2', order: 3 },
  ]);
  assert.deepEqual(l.nodes.map((p) => p.id).sort(), ['c1', 'c2', 'c3', 's', 'x']);
  assert.deepEqual(l.edges.map((e) => `${e.from}->${e.to}`).sort(), ['c1->c2', 'c2->c3']);
  assertNoOverlap(l.nodes);
  assert.deepEqual(layoutTree([]), { nodes: [], edges: [], width: 0, height: 0, depth: 0 });
});

test('deep chains do not blow the stack', () => {
  const input = Array.from({ length: 20_000 }, (_, i) => ({ id: `c${i}`, parent: i ? `c${i - 1}` : null, order: i }));
  const l = layoutTree(input);
  assert.equal(l.depth, 19_999);
  assert.ok(l.nodes.every((p) => p.x === l.nodes[0]?.x));
});

test('1,000 nodes lay out (time printed)', () => {
  const input = randomTree(1000, 42);
  layoutTree(input); // warm up
  const t0 = performance.now();
  const runs = 20;
  for (let i = 0; i < runs; i++) layoutTree(input);
  const ms = (performance.now() - t0) / runs;
  console.log(`layout of 1,000 nodes in node: ${ms.toFixed(2)} ms (mean of ${runs})`);
  const l = layoutTree(input);
  assertNoOverlap(l.nodes);
  assertParentsAbove(l, input);
});

test('fit and zoom keep the picture in view and the pointer fixed', () => {
  const v = fitView(2000, 500, 1000, 600, 10);
  assert.ok(v.k > 0 && v.k <= 1);
  assert.ok(2000 * v.k <= 1000 - 20 + 1e-9);
  assert.equal(fitView(100, 100, 1000, 600).k, 1);
  const z = zoomAt({ k: 1, x: 0, y: 0 }, 2, 100, 50);
  assert.equal(z.k, 2);
  // The view point (100, 50) shows the same picture point before and after.
  assert.equal((100 - z.x) / z.k, 100);
  assert.equal((50 - z.y) / z.k, 50);
  assert.equal(zoomAt({ k: 4, x: 0, y: 0 }, 10, 0, 0).k, 4);
});
