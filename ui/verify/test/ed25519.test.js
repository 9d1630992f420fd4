// Ed25519 with verify_strict semantics: small-order keys and R are refused even where
// WebCrypto alone would accept a signature that holds for any message.

import { test } from "node:test";
import assert from "node:assert/strict";

import { ed25519Verify, fromHex, utf8 } from "../bytes.js";

/** WebCrypto's own answer, without the small-order refusal. @param {Uint8Array} a @param {Uint8Array} sig @param {Uint8Array} m */
async function raw(a, sig, m) {
  const key = await crypto.subtle.importKey("raw", new Uint8Array(a), { name: "Ed25519" }, false, ["verify"]);
  return crypto.subtle.verify({ name: "Ed25519" }, key, new Uint8Array(sig), new Uint8Array(m));
}

test("small-order keys: WebCrypto accepts forgeries, ed25519Verify refuses them", async () => {
  const identity = fromHex("01" + "00".repeat(31));
  // Key of order 8: with R = identity and S = 0, [S]B = R + [k]A holds whenever 8 divides k.
  for (const hex of ["0100000000000000000000000000000000000000000000000000000000000000", "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"]) {
    const a = fromHex(hex);
    const sig = new Uint8Array(64);
    sig.set(identity);
    let forged = 0;
    for (let i = 0; i < 64; i++) {
      const m = utf8(`message ${i}`);
      if (await raw(a, sig, m).catch(() => false)) {
        forged++;
        assert.equal(await ed25519Verify(a, sig, m), false, hex);
      }
    }
    assert.ok(forged > 0, `no message forged under ${hex}: not a small-order key to WebCrypto`);
  }
});
