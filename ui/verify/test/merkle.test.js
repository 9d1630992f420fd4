// RFC 6962 hashing and proofs against the shared vectors (transparency-dev/merkle testdata).

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";

import { b64decode, fromHex, toHex } from "../bytes.js";
import {
  leafHash,
  nodeHash,
  treeRoot,
  verifyConsistency,
  verifyInclusion,
  rootFromInclusion,
} from "../merkle.js";
import { tlogDir } from "./conformance.js";

const { dir, skip } = tlogDir();
const testdata = join(dir, "transparency-dev-merkle", "testdata");

/**
 * @param {string} d
 * @returns {string[]}
 */
function jsonFiles(d) {
  /** @type {string[]} */
  const out = [];
  for (const name of readdirSync(d).sort()) {
    const p = join(d, name);
    if (statSync(p).isDirectory()) out.push(...jsonFiles(p));
    else if (name.endsWith(".json")) out.push(p);
  }
  return out;
}

/** A vector's base64 field (empty or missing is an empty byte string). @param {unknown} s */
function b(s) {
  return typeof s === "string" && s !== "" ? b64decode(s) : new Uint8Array(0);
}

test("all 196 inclusion and consistency vectors give the expected verdict", { skip }, async () => {
  const inclusion = jsonFiles(join(testdata, "inclusion"));
  const consistency = jsonFiles(join(testdata, "consistency"));
  assert.equal(inclusion.length + consistency.length, 196);
  let errors = 0;
  for (const file of inclusion) {
    const v = JSON.parse(readFileSync(file, "utf8"));
    const proof = (v.proof || []).map(b);
    const got = await verifyInclusion(v.leafIdx, v.treeSize, b(v.leafHash), proof, b(v.root)).then(
      () => false,
      () => true,
    );
    assert.equal(got, v.wantErr, `${file}: ${v.desc}`);
    if (got) errors++;
  }
  for (const file of consistency) {
    const v = JSON.parse(readFileSync(file, "utf8"));
    const proof = (v.proof || []).map(b);
    const got = await verifyConsistency(v.size1, v.size2, proof, b(v.root1), b(v.root2)).then(
      () => false,
      () => true,
    );
    assert.equal(got, v.wantErr, `${file}: ${v.desc}`);
    if (got) errors++;
  }
  // Most vectors are negative cases; a verifier that accepted nothing would fail the happy paths.
  assert.ok(errors > 100 && errors < 196, `error cases: ${errors}`);
});

test("the 8-leaf tree: roots for sizes 0..8 and every full-subtree node", { skip }, async () => {
  const t = JSON.parse(readFileSync(join(dir, "transparency-dev-merkle", "rfc6962-tree-8-leaves.json"), "utf8"));
  const leaves = await Promise.all(t.leaf_inputs_hex.map((/** @type {string} */ h) => leafHash(fromHex(h))));
  for (let n = 0; n <= 8; n++) {
    assert.equal(toHex(await treeRoot(leaves.slice(0, n))), t.root_by_tree_size_hex[n], `size ${n}`);
  }
  let level = leaves;
  for (const want of t.node_hashes_by_level_hex) {
    assert.deepEqual(level.map(toHex), want);
    const next = [];
    for (let i = 0; i + 1 < level.length; i += 2) next.push(await nodeHash(level[i], level[i + 1]));
    level = next;
  }
});

test("inclusion edge rules: short hashes and wrong lengths are errors", async () => {
  const leaves = await Promise.all([1, 2, 3].map((i) => leafHash(Uint8Array.of(i))));
  const root = await treeRoot(leaves);
  const proof = [leaves[1], leaves[2]];
  await verifyInclusion(0, 3, leaves[0], proof, root);
  await assert.rejects(verifyInclusion(0, 3, leaves[0], [leaves[1]], root), /shorter/);
  await assert.rejects(verifyInclusion(0, 3, leaves[0], [...proof, leaves[0]], root), /longer/);
  await assert.rejects(verifyInclusion(0, 3, leaves[0].slice(1), proof, root), /32-byte/);
  await assert.rejects(verifyInclusion(3, 3, leaves[0], proof, root), /not below/);
  await assert.rejects(rootFromInclusion(-1, 3, leaves[0], proof), /non-negative/);
  await assert.rejects(verifyConsistency(0, 3, [], new Uint8Array(0), root), /empty tree/);
  await verifyConsistency(3, 3, [], root, root);
  await assert.rejects(verifyConsistency(3, 3, [root], root, root), /empty proof/);
});
