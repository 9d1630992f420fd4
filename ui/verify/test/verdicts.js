// Verdicts of the JS verifier for a file of cases, for the Rust agreement test
// (crates/writ-cli/tests/it/verify_js.rs): `node ui/verify/test/verdicts.js CASES.json` reads
// `[{"bundle": {...}, "pinnedVkey"?, "olderCheckpoint"?, "consistencyProof"?}, ...]` and prints `[{"verdict", "failing": [names]}]`.
// Without an argument (as when `node --test` runs every file here) it does nothing.

import { readFileSync } from "node:fs";

import { verifyBundle } from "../bundle.js";

const file = process.argv[2];
if (file) {
  const cases = JSON.parse(readFileSync(file, "utf8"));
  const out = [];
  for (const c of cases) {
    /** @type {import("../bundle.js").Options} */
    const options = {};
    if (typeof c.pinnedVkey === "string") options.pinnedVkey = c.pinnedVkey;
    if (typeof c.olderCheckpoint === "string") {
      options.olderCheckpoint = c.olderCheckpoint;
      options.consistencyProof = c.consistencyProof;
    }
    const r = await verifyBundle(c.bundle, options);
    out.push({ verdict: r.verdict, failing: r.checks.filter((x) => x.status === "fail").map((x) => x.name) });
  }
  process.stdout.write(JSON.stringify(out));
}
