// verifyBundle on bundles written by a test log with keys the test holds: entries v1 and v2,
// each tampered kind failing exactly the check that guards it, and malformed input never throwing.

import { test } from "node:test";
import assert from "node:assert/strict";

import { b64decode, b64encode, b64urlEncode, toHex } from "../bytes.js";
import { canonicalBytes, canonicalSha256 } from "../jcs.js";
import { verifyBundle } from "../bundle.js";
import { jwksOf, signWrit, testKey, vkeyOf } from "./keys.js";
import { TestLog, commit } from "./log.js";

const EXEC = "01a249af-6cb6-71e8-ae65-de3aa2044283";
const GATE = "gate:g1";
const ARGS = { repo: "acme/api", number: 7 };
const BUNDLE_SHA = "6ba66988cc56e0b93b31165512b842e41a6b1b7480279b9dc35b3d684e19dbe3";

/**
 * A log with a gate registration, a decision, a receipt and a writ, in entry version v.
 * @param {1|2} v
 * @param {{receiptBody?: (b: Record<string, unknown>) => void, forgeReceipt?: boolean}} [opts]
 */
async function scenario(v, opts = {}) {
  const log = await TestLog.create();
  const gate = await testKey();
  const writKey = await testKey();
  await log.append({ type: "gate.changed", v: 1, gate: GATE, zone: "dev", public_key: toHex(gate.publicKey), change: "added" });
  await log.append({ type: "policy.activated", v: 1, bundle_sha256: BUNDLE_SHA });
  const request = {
    principal: "agent:bot",
    intent: { action: "mcp.call_tool", resource: "tool:github/get_issue", args: ARGS },
    env: { gate: GATE, zone: "dev" },
    lineage: { execution: EXEC, root: EXEC },
  };
  /** @type {Record<string, unknown>[]} */
  const disclosures = [];
  const clear = { type: "decision", v, decision: "allow", bundle_sha256: BUNDLE_SHA, reason_code: "policy_permit", determining: ["p1"] };
  let decisionIndex;
  if (v === 1) {
    decisionIndex = await log.append({ ...clear, request, reasons: [], errors: [] });
  } else {
    const c = await commit(log.entries.length, { request, request_sha256: await canonicalSha256(request), reasons: [], errors: [] });
    disclosures.push(c.disclosure);
    decisionIndex = await log.append({ ...clear, execution: EXEC, principal: "agent:bot", action: "mcp.call_tool", resource: "tool:github/get_issue", gate: GATE, zone: "dev", commitment: c.commitment });
  }
  const argsSha = await canonicalSha256(ARGS);
  const body = { type: "receipt", v: 1, execution: EXEC, jti: EXEC, gate: GATE, intent: { action: "mcp.call_tool", resource: "tool:github/get_issue", args_sha256: argsSha }, outcome: "success", started_at: 1, finished_at: 2 };
  if (opts.receiptBody) opts.receiptBody(body);
  const signer = opts.forgeReceipt ? await testKey() : gate;
  const receipt = { body, kid: GATE, sig: b64urlEncode(await signer.sign(canonicalBytes(body))) };
  let receiptIndex;
  if (v === 1) {
    receiptIndex = await log.append({ type: "receipt", v: 1, receipt });
  } else {
    const c = await commit(log.entries.length, { receipt });
    disclosures.push(c.disclosure);
    receiptIndex = await log.append({ type: "receipt", v: 2, execution: EXEC, gate: GATE, outcome: "success", commitment: c.commitment });
  }
  const claims = {
    iss: "writ:test", sub: "agent:bot", aud: GATE, jti: EXEC, iat: 1, nbf: 1, exp: 61,
    intent: { action: "mcp.call_tool", resource: "tool:github/get_issue", args_sha256: argsSha },
    env: { zone: "dev", attestation_sha256: "00".repeat(32) },
    policy: { bundle_sha256: BUNDLE_SHA, engine: "test", determining: ["p1"] },
    scope: { max_uses: 1 }, lineage: { execution: EXEC, root: EXEC },
    ledger: { origin: log.origin, index: decisionIndex },
  };
  const extra = { writ: await signWrit(claims, "k1", writKey), jwks: jwksOf("k1", writKey) };
  if (v === 2) Object.assign(extra, { disclosures });
  const bundle = await log.bundle([0, decisionIndex, receiptIndex], extra);
  return { log, bundle, claims, writKey, decisionIndex, receiptIndex };
}

/** @param {import("../bundle.js").Result} r */
function failing(r) {
  return r.checks.filter((c) => c.status === "fail").map((c) => c.name).sort();
}

/** @param {import("../bundle.js").Result} r @param {string} name */
function status(r, name) {
  const c = r.checks.find((x) => x.name === name);
  return c ? c.status : "absent";
}

/** @param {unknown} v @returns {any} */
const clone = (v) => JSON.parse(JSON.stringify(v));

for (const v of /** @type {const} */ ([1, 2])) {
  test(`entries v${v}: a good bundle is verified with every check passing`, async () => {
    const { bundle, decisionIndex, receiptIndex, log } = await scenario(v);
    const r = await verifyBundle(bundle, { pinnedVkey: await log.vkey() });
    assert.deepEqual(failing(r), []);
    assert.equal(r.verdict, "verified");
    for (const name of ["format", "checkpoint", `inclusion:${decisionIndex}`, `leaf-hash:${receiptIndex}`, "writ-signature", "writ-claims", `receipt:${receiptIndex}`]) {
      assert.equal(status(r, name), "pass", name);
    }
    assert.match(r.checks.find((c) => c.name === "writ-claims")?.detail ?? "", /args_sha256/);
    assert.match(r.checks.find((c) => c.name === "checkpoint")?.detail ?? "", /pinned/);
    if (v === 2) {
      assert.equal(status(r, `disclosure:${decisionIndex}`), "pass");
      assert.equal(status(r, `disclosure:${receiptIndex}`), "pass");
    }
    assert.equal(status(r, "consistency"), "skip");
  });

  test(`entries v${v}: each tampered kind fails with the right check`, async () => {
    const s = await scenario(v);
    const other = await testKey();
    const pinnedVkey = await s.log.vkey();
    /** @type {[string, (b: any) => Promise<void>|void, string[], object?][]} */
    const kinds = [
      ["flipped inclusion hash", (b) => {
        const h = b64decode(b.entries[1].inclusion_b64[0]);
        h[0] ^= 1;
        b.entries[1].inclusion_b64[0] = b64encode(h);
      }, [`inclusion:${s.decisionIndex}`]],
      ["checkpoint signed by another key", async (b) => {
        b.checkpoint = await s.log.checkpoint(undefined, other);
      }, ["checkpoint"]],
      ["another log key in the bundle, pinned key differs", async (b) => {
        b.checkpoint = await s.log.checkpoint(undefined, other);
        b.log.vkey = await vkeyOf(s.log.origin, other);
      }, ["checkpoint"], { pinnedVkey }],
      ["re-signed writ", async (b) => {
        b.writ = await signWrit({ ...s.claims, sub: "agent:evil" }, "k1", other);
      }, ["writ-claims", "writ-signature"]],
      ["writ intent differs from its decision", async (b) => {
        b.writ = await signWrit({ ...s.claims, intent: { ...s.claims.intent, resource: "tool:github/delete_repo" } }, "k2", other);
        b.jwks = jwksOf("k2", other);
        // The gate's receipt names the intent it ran, so it no longer matches the writ either.
      }, ["writ-claims", `receipt:${s.receiptIndex}`]],
      ["writ args differ from the decision's", async (b) => {
        b.writ = await signWrit({ ...s.claims, intent: { ...s.claims.intent, args_sha256: "00".repeat(32) } }, "k1", s.writKey);
      }, ["writ-claims", `receipt:${s.receiptIndex}`]],
    ];
    if (v === 2) {
      kinds.push(["changed disclosure", (b) => {
        b.disclosures[0].private.request.intent.args.number = 8;
        // A disclosure that does not match is not used, so the args are not compared with it.
      }, [`disclosure:${s.decisionIndex}`]]);
      kinds.push(["changed disclosure salt", (b) => {
        const salt = b64decode(b.disclosures[1].salt_b64);
        salt[31] ^= 0x80;
        b.disclosures[1].salt_b64 = b64encode(salt);
      }, [`disclosure:${s.receiptIndex}`]]);
    }
    for (const [what, tamper, want, opts] of kinds) {
      const b = clone(s.bundle);
      await tamper(b);
      const r = await verifyBundle(b, opts ?? {});
      assert.equal(r.verdict, "failed", what);
      assert.deepEqual(failing(r), want.sort(), what);
    }
    // The pinned key that matches still verifies; the one that differs fails (pinned or not).
    assert.equal((await verifyBundle(s.bundle, { pinnedVkey })).verdict, "verified");
    assert.deepEqual(failing(await verifyBundle(s.bundle, { pinnedVkey: await vkeyOf(s.log.origin, other) })), ["checkpoint"]);
  });

  test(`entries v${v}: a forged receipt fails only receipt`, async () => {
    const forged = await scenario(v, { forgeReceipt: true });
    const r = await verifyBundle(forged.bundle);
    assert.deepEqual(failing(r), [`receipt:${forged.receiptIndex}`]);
    assert.match(r.checks.find((c) => c.name === `receipt:${forged.receiptIndex}`)?.detail ?? "", /does not verify/);
    const other = await scenario(v, { receiptBody: (b) => { b.intent = { ...(/** @type {any} */ (b.intent)), resource: "tool:x" }; } });
    assert.deepEqual(failing(await verifyBundle(other.bundle)), [`receipt:${other.receiptIndex}`]);
  });
}

test("receipts without a provable gate key, or not disclosed, are skipped with the reason", async () => {
  const s = await scenario(1);
  const b = clone(s.bundle);
  b.entries.shift(); // drop the gate.changed entry
  const r = await verifyBundle(b);
  assert.equal(r.verdict, "verified");
  assert.equal(status(r, `receipt:${s.receiptIndex}`), "skip");
  // A pinned gate key makes it checkable again, and a wrong one fails it.
  const gateHex = JSON.parse(new TextDecoder().decode(b64decode(s.bundle.entries[0].entry_b64))).public_key;
  assert.equal(status(await verifyBundle(b, { gateKeys: { [GATE]: gateHex } }), `receipt:${s.receiptIndex}`), "pass");
  assert.equal(status(await verifyBundle(b, { gateKeys: { [GATE]: toHex((await testKey()).publicKey) } }), `receipt:${s.receiptIndex}`), "fail");
  const s2 = await scenario(2);
  const b2 = clone(s2.bundle);
  b2.disclosures = b2.disclosures.filter((/** @type {any} */ d) => d.index !== s2.receiptIndex);
  const r2 = await verifyBundle(b2);
  assert.equal(r2.verdict, "verified");
  assert.equal(status(r2, `receipt:${s2.receiptIndex}`), "skip");
  // Without the decision's disclosure the claims still match the clear fields, args not compared.
  b2.disclosures = [];
  const r3 = await verifyBundle(b2);
  assert.equal(status(r3, "writ-claims"), "pass");
  assert.match(r3.checks.find((c) => c.name === "writ-claims")?.detail ?? "", /not disclosed/);
});

test("consistency with an older checkpoint: pass, wrong proof, wrong key, none given", async () => {
  const s = await scenario(1);
  const older = await s.log.checkpoint(2);
  const proof = await s.log.consistency(2, s.log.entries.length);
  const ok = await verifyBundle(s.bundle, { olderCheckpoint: older, consistencyProof: proof });
  assert.equal(status(ok, "consistency"), "pass");
  assert.equal(ok.verdict, "verified");
  const bad = clone(proof);
  const h = b64decode(bad.hashes_b64[0]);
  h[5] ^= 4;
  bad.hashes_b64[0] = b64encode(h);
  assert.deepEqual(failing(await verifyBundle(s.bundle, { olderCheckpoint: older, consistencyProof: bad })), ["consistency"]);
  assert.deepEqual(failing(await verifyBundle(s.bundle, { olderCheckpoint: older })), ["consistency"]);
  // Roots named in the proof JSON must be the checkpoints' roots.
  const wrongRoot = { ...proof, root1_b64: b64encode(new Uint8Array(32)) };
  assert.deepEqual(failing(await verifyBundle(s.bundle, { olderCheckpoint: older, consistencyProof: wrongRoot })), ["consistency"]);
  const foreign = await s.log.checkpoint(2, await testKey());
  assert.deepEqual(failing(await verifyBundle(s.bundle, { olderCheckpoint: foreign, consistencyProof: proof })), ["consistency"]);
  // The same checkpoint is consistent with itself without a proof.
  assert.equal(status(await verifyBundle(s.bundle, { olderCheckpoint: s.bundle.checkpoint }), "consistency"), "pass");
});

test("malformed bundles fail closed and never throw", async () => {
  const s = await scenario(2);
  assert.equal((await verifyBundle(null)).verdict, "failed");
  assert.equal((await verifyBundle({ ...s.bundle, format: "writ.proof/v2" })).checks[0].status, "fail");
  assert.equal((await verifyBundle({ ...s.bundle, entries: [] })).verdict, "failed");
  const dup = clone(s.bundle);
  dup.entries.push(dup.entries[0]);
  assert.deepEqual(failing(await verifyBundle(dup)), ["format"]);
  // Deterministic pseudo-random mutations of every string and number in the bundle.
  let seed = 12345;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const text = JSON.stringify(s.bundle);
  let failed = 0;
  for (let i = 0; i < 300; i++) {
    const pos = Math.floor(rnd() * text.length);
    const ch = String.fromCharCode(32 + Math.floor(rnd() * 95));
    let mutated;
    try {
      mutated = JSON.parse(text.slice(0, pos) + ch + text.slice(pos + 1));
    } catch {
      continue;
    }
    const r = await verifyBundle(mutated);
    if (JSON.stringify(mutated) !== text) {
      if (r.verdict === "failed") failed++;
    }
  }
  assert.ok(failed > 50, `failed mutations: ${failed}`);
});
