// C2SP signed notes and checkpoints against the shared vectors, byte for byte.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";

import { b64decode, b64encode, fromHex, toHex, utf8 } from "../bytes.js";
import { leafHash, treeRoot } from "../merkle.js";
import { parseCheckpoint, parseNote, parseVerifierKey, verifyCheckpoint, verifyNote } from "../note.js";
import { tlogDir } from "./conformance.js";
import { signNote, testKey, vkeyOf } from "./keys.js";

const { dir, skip } = tlogDir();
const vectors = () => JSON.parse(readFileSync(join(dir, "signed-note", "signed-note-vectors.json"), "utf8"));
const LOG = () => join(dir, "tessera-testlog", "testdata", "log");

test("the C2SP signed-note example verifies with its vkey", { skip }, async () => {
  const v = vectors().c2sp_signed_note_example;
  const key = await parseVerifierKey(v.vkey);
  assert.equal(await verifyNote(v.note, key), "This is an example message.\n");
  // One flipped character of the text, and the signature no longer holds.
  await assert.rejects(verifyNote(v.note.replace("example", "exanple"), key), /does not verify/);
});

test("Go sumdb note: verify, re-sign byte for byte, and a second signer", { skip }, async () => {
  const v = vectors().go_sumdb_note_TestSign;
  const key = await parseVerifierKey(v.vkey);
  assert.equal(await verifyNote(v.signed_note, key), v.text);
  // skey: PRIVATE+KEY+name+hexid+base64(0x01 ‖ seed).
  const fields = v.skey_published_test_key.split("+");
  const name = fields[2];
  const b64 = fields.slice(4).join("+");
  const raw = b64decode(b64);
  assert.equal(raw[0], 1);
  const signer = await testKey(raw.slice(1));
  assert.equal(await vkeyOf(name, signer), v.vkey);
  assert.equal(await signNote(v.text, name, signer), v.signed_note);
  const both = v.signed_note + v.second_signature_line;
  assert.equal(await verifyNote(both, key), v.text);
  assert.equal(await verifyNote(both, await parseVerifierKey(v.second_signer_vkey)), v.text);
  assert.equal(parseNote(both).signatures.length, 2);
  // A note signed by someone else only does not verify with this key.
  await assert.rejects(verifyNote(v.text + "\n" + v.second_signature_line, key), /no signature by PeterNeumann/);
});

test("Go sumdb tlog FormatTree parses as a checkpoint body", { skip }, async () => {
  const v = vectors().go_sumdb_tlog_FormatTree;
  const cp = parseCheckpoint(v.formatted);
  assert.equal(cp.origin, "go.sum database tree");
  assert.equal(cp.size, BigInt(v.tree_size));
  assert.equal(b64encode(cp.rootHash), b64encode(await leafHash(utf8(v.record))));
});

test("Tessera log: 16 checkpoints verify and match roots recomputed from tiles and entries", { skip }, async () => {
  const key = await parseVerifierKey(vectors().tessera_testlog_vkey.vkey);
  let checked = 0;
  for (let n = 0; n <= 15; n++) {
    const cp = await verifyCheckpoint(readFileSync(join(LOG(), `checkpoint.${n}`), "utf8"), key);
    assert.equal(cp.origin, "example.com/log/testdata");
    assert.equal(cp.size, BigInt(n));
    /** @type {Uint8Array[]} */
    let leaves = [];
    if (n > 0) {
      const bundle = readFileSync(join(LOG(), "tile", "entries", "000.p", String(n)));
      const tile = readFileSync(join(LOG(), "tile", "0", "000.p", String(n)));
      const entries = [];
      for (let o = 0; o < bundle.length; ) {
        const len = bundle.readUInt16BE(o);
        entries.push(new Uint8Array(bundle.subarray(o + 2, o + 2 + len)));
        o += 2 + len;
      }
      assert.equal(entries.length, n);
      leaves = await Promise.all(entries.map(leafHash));
      assert.equal(tile.length, 32 * n);
      assert.equal(toHex(new Uint8Array(tile)), leaves.map(toHex).join(""), `tile ${n}`);
    }
    assert.equal(toHex(await treeRoot(leaves)), toHex(cp.rootHash), `root of size ${n}`);
    checked++;
  }
  assert.equal(readFileSync(join(LOG(), "checkpoint"), "utf8"), readFileSync(join(LOG(), "checkpoint.15"), "utf8"));
  assert.equal(checked, 16);
});

test("verifier keys: a wrong id, a non-Ed25519 type or a bad name are refused", async () => {
  const k = await testKey(fromHex("11".repeat(32)));
  const good = await vkeyOf("example.com/log", k);
  await parseVerifierKey(good);
  const [name, hex] = good.split("+");
  const b64 = good.split("+").slice(2).join("+");
  const wrongId = (parseInt(hex, 16) ^ 1).toString(16).padStart(8, "0");
  await assert.rejects(parseVerifierKey(`${name}+${wrongId}+${b64}`), /id does not match/);
  const raw = b64decode(b64);
  raw[0] = 2;
  await assert.rejects(parseVerifierKey(`${name}+${hex}+${b64encode(raw)}`), /not an Ed25519 key/);
  await assert.rejects(parseVerifierKey(`bad name+${hex}+${b64}`), /name/);
  await assert.rejects(parseVerifierKey(good + "+x"), /base64/);
  await assert.rejects(parseVerifierKey("nameonly"), /name\+hexid\+base64/);
});

test("notes: structure errors are refused, other signers' lines are ignored", async () => {
  const k = await testKey();
  const other = await testKey();
  const key = await parseVerifierKey(await vkeyOf("log", k));
  const text = "log\n3\n" + b64encode(new Uint8Array(32)) + "\n";
  const note = await signNote(text, "log", k);
  assert.equal(await verifyNote(note, key), text);
  const otherLine = (await signNote(text, "witness", other)).slice(text.length + 1);
  assert.equal(await verifyNote(note + otherLine, key), text);
  // Same name, another key: the id differs, so the note has no signature by this key.
  await assert.rejects(verifyNote(await signNote(text, "log", other), key), /no signature/);
  await assert.rejects(verifyNote(note.replace("\n\n", "\n"), key), /blank line/);
  await assert.rejects(verifyNote(note.slice(0, -1), key), /end with a newline/);
  await assert.rejects(verifyNote(note.replace("\u2014", "-"), key), /em dash/);
  await assert.rejects(verifyNote("log\x01\n" + note, key), /control characters/);
  await assert.rejects(verifyNote("log\u0085\n" + note, key), /control characters/);
  await assert.rejects(verifyNote(note + otherLine.repeat(100), key), /too many signatures/);
  assert.throws(() => parseCheckpoint("log\n03\n" + b64encode(new Uint8Array(32)) + "\n"), /size/);
  assert.throws(() => parseCheckpoint("log\n3\n" + b64encode(new Uint8Array(31)) + "\n"), /32 bytes/);
  assert.throws(() => parseCheckpoint("log\n3\n"), /at least/);
});
