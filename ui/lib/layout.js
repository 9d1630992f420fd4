// Layered tidy-tree layout for the lineage explorer: pure functions, no DOM.
//
// Each node sits on the layer of its depth (parents above children). Leaves take consecutive
// slots in depth-first order (children in `order`, then id, so the input's order does not
// matter); a parent is centred over its first and last child. Each subtree thus owns a
// contiguous run of slots no other subtree shares: no two nodes overlap, edges never cross,
// and the same tree always gets the same picture. Linear time and no recursion (a chain of
// 10,000 executions does not blow the stack).

/**
 * A node to lay out. `parent` names another node's id, or nothing for a root; a parent that is
 * not among the nodes makes the node a root. `order` sorts siblings (the ledger index).
 * @typedef {{id: string, parent?: string | null, order?: number}} TreeInput
 */

/**
 * @typedef {{id: string, parent: string | null, x: number, y: number, depth: number}} Placed
 * @typedef {{nodes: Placed[], edges: {from: string, to: string}[], width: number, height: number, depth: number}} Layout
 * @typedef {{nodeWidth?: number, nodeHeight?: number, gapX?: number, gapY?: number}} Sizes
 */

/** Default node box and gaps, in SVG user units. */
export const SIZES = Object.freeze({ nodeWidth: 220, nodeHeight: 96, gapX: 28, gapY: 64 });

/**
 * @param {TreeInput} a
 * @param {TreeInput} b
 */
function bySiblingOrder(a, b) {
  const oa = a.order ?? Number.MAX_SAFE_INTEGER;
  const ob = b.order ?? Number.MAX_SAFE_INTEGER;
  if (oa !== ob) return oa - ob;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * Lays out a forest. Duplicate ids after the first are ignored; a cycle of parents (which a
 * lineage cannot have, but input is input) is broken at its earliest node in sibling order.
 * `x`, `y` are the centre of each node's box; the picture spans [0, width] × [0, height].
 * @param {TreeInput[]} input
 * @param {Sizes} [sizes]
 * @returns {Layout}
 */
export function layoutTree(input, sizes = {}) {
  const { nodeWidth, nodeHeight, gapX, gapY } = { ...SIZES, ...sizes };
  /** @type {Map<string, TreeInput>} */
  const byId = new Map();
  for (const n of input) {
    if (n && typeof n.id === 'string' && !byId.has(n.id)) byId.set(n.id, n);
  }
  const all = [...byId.values()].sort(bySiblingOrder);
  /** @type {Map<string, TreeInput[]>} */
  const kids = new Map();
  /** @type {TreeInput[]} */
  const roots = [];
  for (const n of all) {
    const p = n.parent;
    if (typeof p === 'string' && p !== n.id && byId.has(p)) {
      const list = kids.get(p);
      if (list) list.push(n);
      else kids.set(p, [n]);
    } else {
      roots.push(n);
    }
  }

  /** @type {Map<string, Placed>} */
  const placed = new Map();
  /** @type {{from: string, to: string}[]} */
  const edges = [];
  let slot = 0;
  let maxDepth = 0;
  const pitchX = nodeWidth + gapX;
  const pitchY = nodeHeight + gapY;

  /**
   * Places the tree under `root` (iterative post-order: children before their parent).
   * @param {TreeInput} root
   */
  const placeFrom = (root) => {
    /** @type {{n: TreeInput, depth: number, next: number}[]} */
    const stack = [{ n: root, depth: 0, next: 0 }];
    placed.set(root.id, { id: root.id, parent: null, x: 0, y: 0, depth: 0 });
    while (stack.length) {
      const top = stack[stack.length - 1];
      if (!top) break;
      const children = kids.get(top.n.id) ?? [];
      // Children already placed (reached again through a cycle) are skipped.
      while (top.next < children.length && placed.has(children[top.next]?.id ?? '')) top.next++;
      const child = children[top.next];
      if (child) {
        top.next++;
        placed.set(child.id, { id: child.id, parent: top.n.id, x: 0, y: 0, depth: top.depth + 1 });
        edges.push({ from: top.n.id, to: child.id });
        stack.push({ n: child, depth: top.depth + 1, next: 0 });
        continue;
      }
      stack.pop();
      const me = placed.get(top.n.id);
      if (!me) continue;
      me.depth = top.depth;
      me.y = top.depth * pitchY + nodeHeight / 2;
      maxDepth = Math.max(maxDepth, top.depth);
      const mine = children.filter((c) => placed.get(c.id)?.parent === top.n.id);
      const first = mine[0] ? placed.get(mine[0].id) : undefined;
      const last = mine[mine.length - 1] ? placed.get(/** @type {TreeInput} */ (mine[mine.length - 1]).id) : undefined;
      if (first && last) {
        me.x = (first.x + last.x) / 2;
      } else {
        me.x = slot * pitchX + nodeWidth / 2;
        slot++;
      }
    }
  };

  for (const r of roots) placeFrom(r);
  // Whatever is left hangs in a cycle: start each from its earliest member.
  for (const n of all) {
    if (!placed.has(n.id)) placeFrom(n);
  }

  return {
    nodes: all.map((n) => /** @type {Placed} */ (placed.get(n.id))),
    edges,
    width: Math.max(0, slot * pitchX - gapX),
    height: placed.size ? (maxDepth + 1) * pitchY - gapY : 0,
    depth: maxDepth,
  };
}

/**
 * The scale and translation that fit a `width` × `height` picture into a `viewW` × `viewH`
 * view with `margin` around it, never enlarging past `maxScale`.
 * @param {number} width
 * @param {number} height
 * @param {number} viewW
 * @param {number} viewH
 * @param {number} [margin]
 * @param {number} [maxScale]
 * @returns {{k: number, x: number, y: number}}
 */
export function fitView(width, height, viewW, viewH, margin = 16, maxScale = 1) {
  const w = Math.max(1, width);
  const hgt = Math.max(1, height);
  const k = Math.min(maxScale, (viewW - 2 * margin) / w, (viewH - 2 * margin) / hgt);
  const scale = Number.isFinite(k) && k > 0 ? k : 1;
  return { k: scale, x: (viewW - w * scale) / 2, y: margin };
}

/**
 * Zooms by `factor` about the view point (`px`, `py`), keeping that point fixed; the scale
 * stays within [minK, maxK].
 * @param {{k: number, x: number, y: number}} view
 * @param {number} factor
 * @param {number} px
 * @param {number} py
 * @param {number} [minK]
 * @param {number} [maxK]
 * @returns {{k: number, x: number, y: number}}
 */
export function zoomAt(view, factor, px, py, minK = 0.02, maxK = 4) {
  const k = Math.min(maxK, Math.max(minK, view.k * factor));
  const f = k / view.k;
  return { k, x: px - (px - view.x) * f, y: py - (py - view.y) * f };
}
