// Test-only: a small in-memory log that writes real proof bundles (RFC 9162 §2.1.3.1 PATH and
// §2.1.4.1 PROOF), so bundle checks can be exercised with keys the test controls.

import { b64encode, concat, sha256, toHex, utf8 } from "../bytes.js";
import { canonicalBytes } from "../jcs.js";
import { leafHash, treeRoot } from "../merkle.js";
import { signNote, testKey, vkeyOf } from "./keys.js";

/** @param {number} n @returns {number} the largest power of two below n (n > 1) */
function split(n) {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/**
 * @param {number} m
 * @param {Uint8Array[]} d leaf hashes
 * @returns {Promise<Uint8Array[]>}
 */
export async function inclusionPath(m, d) {
  if (d.length <= 1) return [];
  const k = split(d.length);
  if (m < k) return [...(await inclusionPath(m, d.slice(0, k))), await treeRoot(d.slice(k))];
  return [...(await inclusionPath(m - k, d.slice(k))), await treeRoot(d.slice(0, k))];
}

/**
 * @param {number} m
 * @param {Uint8Array[]} d
 * @param {boolean} b
 * @returns {Promise<Uint8Array[]>}
 */
async function subproof(m, d, b) {
  if (m === d.length) return b ? [] : [await treeRoot(d)];
  const k = split(d.length);
  if (m <= k) return [...(await subproof(m, d.slice(0, k), b)), await treeRoot(d.slice(k))];
  return [...(await subproof(m - k, d.slice(k), false)), await treeRoot(d.slice(0, k))];
}

/**
 * @param {number} m
 * @param {Uint8Array[]} d
 */
export function consistencyPath(m, d) {
  return subproof(m, d, true);
}

export class TestLog {
  /** @param {string} origin @param {import("./keys.js").TestKey} key */
  constructor(origin, key) {
    this.origin = origin;
    this.key = key;
    /** @type {Uint8Array[]} */
    this.entries = [];
    /** @type {Uint8Array[]} */
    this.leaves = [];
  }

  static async create(origin = "test.writ/log") {
    return new TestLog(origin, await testKey());
  }

  /** @param {Record<string, unknown>} entry @returns {Promise<number>} its index */
  async append(entry) {
    const bytes = canonicalBytes(entry);
    this.entries.push(bytes);
    this.leaves.push(await leafHash(bytes));
    return this.entries.length - 1;
  }

  vkey() {
    return vkeyOf(this.origin, this.key);
  }

  /** @param {number} [size] @param {import("./keys.js").TestKey} [key] */
  async checkpoint(size = this.entries.length, key = this.key) {
    const root = await treeRoot(this.leaves.slice(0, size));
    return signNote(`${this.origin}\n${size}\n${b64encode(root)}\n`, this.origin, key);
  }

  /** @param {number} size1 @param {number} size2 */
  async consistency(size1, size2) {
    const hashes = await consistencyPath(size1, this.leaves.slice(0, size2));
    return { size1, size2, hashes_b64: hashes.map(b64encode) };
  }

  /**
   * A writ.proof/v1 bundle for some entries at the current size.
   * @param {number[]} indexes
   * @param {Record<string, unknown>} [extra]
   */
  async bundle(indexes, extra = {}) {
    const entries = [];
    for (const i of indexes) {
      entries.push({
        index: i,
        entry_b64: b64encode(this.entries[i]),
        leaf_hash_b64: b64encode(this.leaves[i]),
        inclusion_b64: (await inclusionPath(i, this.leaves)).map(b64encode),
      });
    }
    return {
      format: "writ.proof/v1",
      log: { origin: this.origin, vkey: await this.vkey() },
      checkpoint: await this.checkpoint(),
      entries,
      ...extra,
    };
  }
}

/**
 * The commitment of a private object under a salt (entries v2), and its disclosure.
 * @param {number} index
 * @param {Record<string, unknown>} priv
 */
export async function commit(index, priv) {
  const salt = crypto.getRandomValues(new Uint8Array(32));
  const commitment = toHex(await sha256(concat(utf8("writ.commitment/v1\n"), salt, canonicalBytes(priv))));
  return { commitment, disclosure: { index, salt_b64: b64encode(salt), private: priv } };
}
