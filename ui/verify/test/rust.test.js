// Agreement with the Rust side on real bundles: `writ demo` runs a real control plane and
// prints the proof bundle of its first execution; `writ ledger proof` proves more entries of
// the same ledger. The JS verifier must find them verified, and each tampered kind failed with
// the right check. Needs WRIT_BIN (the built `writ`); skipped without it unless
// WRIT_REQUIRE_CONFORMANCE=1.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { b64decode, b64encode, b64urlDecode, b64urlEncode, fromUtf8, utf8 } from "../bytes.js";
import { canonicalize } from "../jcs.js";
import { leafHash } from "../merkle.js";
import { parseNote } from "../note.js";
import { verifyBundle } from "../bundle.js";
import { jwksOf, signNote, signWrit, testKey } from "./keys.js";

const BIN = process.env.WRIT_BIN;
const skip = BIN ? false : "WRIT_BIN is not set (path of the built writ binary)";
if (!BIN && process.env.WRIT_REQUIRE_CONFORMANCE === "1") throw new Error("WRIT_REQUIRE_CONFORMANCE=1 but WRIT_BIN is not set");

/** @param {string[]} args @returns {string} */
function writ(args) {
  const r = spawnSync(/** @type {string} */ (BIN), args, { encoding: "utf8", timeout: 120_000 });
  assert.equal(r.status, 0, `writ ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

/**
 * Whether `writ verify-writ` (the Rust gate-side verifier) accepts a writ for the call its
 * decision records (its request, in clear in v1, disclosed in v2), as of the writ's own iat.
 * @param {string} dir
 * @param {string} compact
 * @param {unknown} jwks
 * @param {any} decision
 * @returns {boolean}
 */
function rustAcceptsWrit(dir, compact, jwks, decision) {
  const jwksFile = join(dir, "jwks.json");
  const intentFile = join(dir, "intent.json");
  writeFileSync(jwksFile, JSON.stringify(jwks));
  const { action, resource, args } = decision.request.intent;
  writeFileSync(intentFile, JSON.stringify({ action, resource, args: args ?? {} }));
  const iat = JSON.parse(fromUtf8(b64urlDecode(compact.split(".")[1]))).iat;
  const r = spawnSync(/** @type {string} */ (BIN), ["verify-writ", "--jwks", jwksFile, "--intent", intentFile, "--gate-id", decision.request.env.gate, "--zone", decision.request.env.zone, "--at", String(iat), compact], { encoding: "utf8", timeout: 60_000 });
  return r.status === 0;
}

/** @param {any} e @returns {any} */
const entryOf = (e) => JSON.parse(fromUtf8(b64decode(e.entry_b64)));

/** @param {import("../bundle.js").Result} r */
const failing = (r) => r.checks.filter((c) => c.status === "fail").map((c) => c.name).sort();

/** @param {import("../bundle.js").Result} r @param {string} name */
const status = (r, name) => r.checks.find((c) => c.name === name)?.status;

/**
 * The gate of a receipt entry: in clear in v2, inside the signed receipt in v1.
 * @param {any} entry
 * @returns {string}
 */
function receiptGate(entry) {
  return entry.v === 2 ? entry.gate : entry.receipt.body.gate;
}

test("bundles from writ demo and writ ledger proof verify; each tampered kind fails", { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "writ-verifyjs-"));
  try {
    const data = join(dir, "demo");
    const demo = JSON.parse(writ(["demo", "--format", "json", "--dir", data]));
    const served = demo.steps.at(-1).data.proof;
    const vkey = served.log.vkey;

    // The server's bundle as it is: verified; it proves its gate's gate.changed entry, so the
    // receipt's signature checks with no pinned key.
    const r0 = await verifyBundle(served, { pinnedVkey: vkey });
    assert.deepEqual(failing(r0), []);
    assert.equal(r0.verdict, "verified");
    const receiptIndex = served.entries.map(entryOf).findIndex((/** @type {any} */ e) => e.type === "receipt");
    assert.ok(receiptIndex >= 0, "the demo bundle holds a receipt");
    const rIdx = served.entries[receiptIndex].index;
    assert.equal(status(r0, `receipt:${rIdx}`), "pass");
    assert.ok(served.entries.map(entryOf).some((/** @type {any} */ e) => e.type === "gate.changed"), "the served bundle proves the gate's key");
    assert.equal(status(r0, "writ-claims"), "pass");

    // The same ledger proved with its gate registration too: the receipt's signature checks.
    const size = Number(parseNote(served.checkpoint).text.split("\n")[1]);
    const all = JSON.parse(writ(["ledger", "proof", "--dir", join(data, "ledger"), "--format", "json", ...Array.from({ length: size }, (_, i) => ["--index", String(i)]).flat()]));
    const gateChanged = all.entries.filter((/** @type {any} */ e) => entryOf(e).type === "gate.changed" && entryOf(e).gate === receiptGate(entryOf(served.entries[receiptIndex])));
    assert.ok(gateChanged.length > 0, "the ledger registers the demo's gate");
    const bundle = JSON.parse(writ(["ledger", "proof", "--dir", join(data, "ledger"), "--format", "json", "--size", String(size), ...[...new Set([gateChanged[0].index, ...served.entries.map((/** @type {any} */ e) => e.index)])].flatMap((i) => ["--index", String(i)])]));
    bundle.writ = served.writ;
    bundle.jwks = served.jwks;
    const good = await verifyBundle(bundle, { pinnedVkey: vkey });
    assert.deepEqual(failing(good), []);
    assert.equal(status(good, `receipt:${rIdx}`), "pass");
    assert.equal(good.verdict, "verified");

    // Every entry of the ledger is included in its checkpoint.
    const whole = await verifyBundle(all, { pinnedVkey: vkey });
    assert.deepEqual(failing(whole), []);
    assert.equal(whole.entries.length, size);

    // Consistency from every older size, with the Rust side's proofs.
    for (let from = 1; from < size; from++) {
      const proof = JSON.parse(writ(["ledger", "consistency", "--dir", join(data, "ledger"), "--format", "json", "--from", String(from), "--to", String(size)]));
      const older = JSON.parse(writ(["ledger", "proof", "--dir", join(data, "ledger"), "--format", "json", "--size", String(from), "--index", "0"])).checkpoint;
      const r = await verifyBundle(bundle, { pinnedVkey: vkey, olderCheckpoint: older, consistencyProof: proof });
      assert.equal(status(r, "consistency"), "pass", `from ${from}`);
    }

    const other = await testKey();
    const claims = JSON.parse(fromUtf8(b64urlDecode(served.writ.split(".")[1])));
    const kid = JSON.parse(fromUtf8(b64urlDecode(served.writ.split(".")[0]))).kid;
    const decisionIdx = claims.ledger.index;
    const pos = (/** @type {number} */ index) => bundle.entries.findIndex((/** @type {any} */ e) => e.index === index);
    /** @type {[string, (b: any) => Promise<void>|void, string[]][]} */
    const receiptV2 = entryOf(bundle.entries[pos(rIdx)]).v === 2;
    const kinds = [
      ["flipped inclusion hash", (b) => {
        const h = b64decode(b.entries[pos(decisionIdx)].inclusion_b64[1]);
        h[7] ^= 0x10;
        b.entries[pos(decisionIdx)].inclusion_b64[1] = b64encode(h);
      }, [`inclusion:${decisionIdx}`]],
      ["checkpoint signed by another key", async (b) => {
        b.checkpoint = await signNote(parseNote(b.checkpoint).text, b.log.origin, other);
      }, ["checkpoint"]],
      ["re-signed writ", async (b) => {
        b.writ = await signWrit(claims, kid, other);
      }, ["writ-signature"]],
      ["writ intent differs from its decision", async (b) => {
        b.writ = await signWrit({ ...claims, intent: { ...claims.intent, resource: "tool:github/delete_repo" } }, "other", other);
        b.jwks = jwksOf("other", other);
      }, ["writ-claims", `receipt:${rIdx}`]],
      // v1: the signed receipt is in the entry, so forging it breaks the inclusion; v2: it is
      // in the disclosure, so forging it breaks the commitment.
      ["forged receipt", async (b) => {
        const e = b.entries[pos(rIdx)];
        const entry = entryOf(e);
        const disclosed = (b.disclosures ?? []).find((/** @type {any} */ d) => d.index === rIdx);
        const receipt = entry.v === 2 ? disclosed.private.receipt : entry.receipt;
        const sig = b64urlDecode(receipt.sig);
        sig[3] ^= 1;
        receipt.sig = b64urlEncode(sig);
        if (entry.v !== 2) {
          const bytes = utf8(canonicalize(entry));
          e.entry_b64 = b64encode(bytes);
          e.leaf_hash_b64 = b64encode(await leafHash(bytes));
        }
      // (a disclosure that fails its commitment is not read further, so v2's receipt check skips).
      }, receiptV2 ? [`disclosure:${rIdx}`] : [`inclusion:${rIdx}`, `receipt:${rIdx}`]],
    ];
    // v1 holds the request in clear; v2 in the decision's disclosure.
    const decisionEntry = entryOf(bundle.entries[pos(decisionIdx)]);
    const decision = decisionEntry.v === 2
      ? { request: (bundle.disclosures ?? []).find((/** @type {any} */ d) => d.index === decisionIdx)?.private.request }
      : decisionEntry;
    assert.ok(decision.request, "the decision's request is readable (in clear or disclosed)");
    assert.equal(rustAcceptsWrit(dir, bundle.writ, bundle.jwks, decision), true, "the Rust verifier accepts the demo's writ");
    for (const [what, tamper, want] of kinds) {
      const b = structuredClone(bundle);
      await tamper(b);
      const r = await verifyBundle(b, { pinnedVkey: vkey });
      assert.equal(r.verdict, "failed", what);
      assert.deepEqual(failing(r), want.sort(), what);
      // Where the writ changed, the Rust gate-side verifier refuses it for the recorded call too.
      if (b.writ !== bundle.writ) {
        const jsWritOk = status(r, "writ-signature") === "pass" && status(r, "writ-claims") === "pass";
        assert.equal(rustAcceptsWrit(dir, b.writ, b.jwks, decision), jsWritOk, `${what}: Rust and JS agree on the writ`);
      }
    }
    // A bundle with disclosures (entries v2) gets the changed-disclosure case too.
    const withDisclosure = (bundle.disclosures ?? []).length > 0;
    if (withDisclosure) {
      const b = structuredClone(bundle);
      b.disclosures[0].private = { ...b.disclosures[0].private, tampered: true };
      assert.ok(failing(await verifyBundle(b, { pinnedVkey: vkey })).includes(`disclosure:${b.disclosures[0].index}`));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
