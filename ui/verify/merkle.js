// RFC 6962 / RFC 9162 Merkle tree hashing and proof verification (§2.1.1, §2.1.3.2, §2.1.4.2),
// with the edge rules of the shared conformance vectors: consistency from size 0 is an error,
// equal sizes need an empty proof and equal roots, a proof must have exactly the right length,
// and every hash is 32 bytes.

import { bytesEqual, concat, sha256 } from "./bytes.js";

/** Size in bytes of every hash of the tree (SHA-256). */
export const HASH_SIZE = 32;

/** A proof that does not verify, or inputs that cannot make one. */
export class ProofError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = "ProofError";
  }
}

/**
 * RFC 6962 leaf hash: SHA-256(0x00 ‖ entry).
 * @param {Uint8Array} entry
 * @returns {Promise<Uint8Array>}
 */
export function leafHash(entry) {
  return sha256(concat(Uint8Array.of(0), entry));
}

/**
 * RFC 6962 interior node hash: SHA-256(0x01 ‖ left ‖ right).
 * @param {Uint8Array} left
 * @param {Uint8Array} right
 * @returns {Promise<Uint8Array>}
 */
export function nodeHash(left, right) {
  return sha256(concat(Uint8Array.of(1), left, right));
}

/**
 * The Merkle tree hash (MTH) of a list of leaf hashes; SHA-256 of nothing for an empty tree.
 * @param {Uint8Array[]} leaves
 * @returns {Promise<Uint8Array>}
 */
export async function treeRoot(leaves) {
  if (leaves.length === 0) return sha256(new Uint8Array(0));
  /** @type {Uint8Array[]} */
  let level = leaves.slice();
  // Pairing left to right and carrying an odd last node up unchanged gives the RFC 6962 shape.
  while (level.length > 1) {
    /** @type {Uint8Array[]} */
    const next = [];
    for (let i = 0; i + 1 < level.length; i += 2) next.push(await nodeHash(level[i], level[i + 1]));
    if (level.length % 2 === 1) next.push(level[level.length - 1]);
    level = next;
  }
  return level[0];
}

/**
 * @param {unknown} n
 * @param {string} what
 * @returns {bigint}
 */
function size(n, what) {
  if (typeof n === "bigint" && n >= 0n && n < 1n << 64n) return n;
  if (typeof n === "number" && Number.isSafeInteger(n) && n >= 0) return BigInt(n);
  throw new ProofError(`${what} must be a non-negative integer`);
}

/**
 * @param {unknown} h
 * @param {string} what
 * @returns {Uint8Array}
 */
function hash(h, what) {
  if (!(h instanceof Uint8Array) || h.length !== HASH_SIZE) {
    throw new ProofError(`${what} must be a ${HASH_SIZE}-byte hash`);
  }
  return h;
}

/**
 * The root an inclusion proof leads to (RFC 9162 §2.1.3.2), or a ProofError.
 * @param {number|bigint} index leaf index
 * @param {number|bigint} treeSize
 * @param {Uint8Array} leaf the leaf hash
 * @param {Uint8Array[]} proof the audit path
 * @returns {Promise<Uint8Array>}
 */
export async function rootFromInclusion(index, treeSize, leaf, proof) {
  const idx = size(index, "leaf index");
  const n = size(treeSize, "tree size");
  if (idx >= n) throw new ProofError(`leaf index ${idx} is not below tree size ${n}`);
  hash(leaf, "leaf hash");
  if (!Array.isArray(proof)) throw new ProofError("proof must be a list of hashes");
  proof.forEach((p, i) => hash(p, `proof hash ${i}`));
  let fn = idx;
  let sn = n - 1n;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0n) throw new ProofError("proof is longer than the tree needs");
    if ((fn & 1n) === 1n || fn === sn) {
      r = await nodeHash(p, r);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      r = await nodeHash(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) throw new ProofError("proof is shorter than the tree needs");
  return r;
}

/**
 * Verifies an inclusion proof; resolves when it holds, rejects with ProofError otherwise.
 * @param {number|bigint} index
 * @param {number|bigint} treeSize
 * @param {Uint8Array} leaf
 * @param {Uint8Array[]} proof
 * @param {Uint8Array} root
 * @returns {Promise<void>}
 */
export async function verifyInclusion(index, treeSize, leaf, proof, root) {
  const got = await rootFromInclusion(index, treeSize, leaf, proof);
  if (!(root instanceof Uint8Array) || !bytesEqual(got, root)) {
    throw new ProofError("the proof leads to a different root");
  }
}

/**
 * Verifies a consistency proof between two tree sizes (RFC 9162 §2.1.4.2).
 * @param {number|bigint} size1 the older size
 * @param {number|bigint} size2 the newer size
 * @param {Uint8Array[]} proof
 * @param {Uint8Array} root1
 * @param {Uint8Array} root2
 * @returns {Promise<void>}
 */
export async function verifyConsistency(size1, size2, proof, root1, root2) {
  const m = size(size1, "size1");
  const n = size(size2, "size2");
  if (!Array.isArray(proof)) throw new ProofError("proof must be a list of hashes");
  if (!(root1 instanceof Uint8Array) || !(root2 instanceof Uint8Array)) {
    throw new ProofError("roots must be byte strings");
  }
  if (m > n) throw new ProofError(`size1 ${m} is larger than size2 ${n}`);
  if (m === 0n) throw new ProofError("a consistency proof from an empty tree is meaningless");
  if (m === n) {
    if (proof.length !== 0) throw new ProofError("equal sizes need an empty proof");
    if (!bytesEqual(root1, root2)) throw new ProofError("equal sizes but different roots");
    return;
  }
  if (proof.length === 0) throw new ProofError("empty proof");
  hash(root1, "root1");
  hash(root2, "root2");
  proof.forEach((p, i) => hash(p, `proof hash ${i}`));
  const path = (m & (m - 1n)) === 0n ? [root1, ...proof] : proof;
  let fn = m - 1n;
  let sn = n - 1n;
  while ((fn & 1n) === 1n) {
    fn >>= 1n;
    sn >>= 1n;
  }
  let fr = path[0];
  let sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0n) throw new ProofError("proof is longer than the trees need");
    if ((fn & 1n) === 1n || fn === sn) {
      fr = await nodeHash(c, fr);
      sr = await nodeHash(c, sr);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      sr = await nodeHash(sr, c);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) throw new ProofError("proof is shorter than the trees need");
  if (!bytesEqual(fr, root1)) throw new ProofError("the proof does not lead to root1");
  if (!bytesEqual(sr, root2)) throw new ProofError("the proof does not lead to root2");
}
