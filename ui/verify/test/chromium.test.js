// A subset of the verifier's tests in Chromium: the page imports the library over HTTP from
// 127.0.0.1, runs the 196 proof vectors, the signed-note and Tessera checkpoint vectors and a
// good and a tampered bundle, and posts its answers back; they must equal the expected ones.
// Chromium from $WRIT_CHROMIUM or `chromium` on PATH; skipped without it unless
// WRIT_REQUIRE_CONFORMANCE=1 (the vectors are needed too).

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { delimiter, join, normalize } from "node:path";

import { b64decode, b64encode } from "../bytes.js";
import { REPO_ROOT, tlogDir } from "./conformance.js";
import { TestLog } from "./log.js";

/** @returns {string|undefined} */
function chromium() {
  if (process.env.WRIT_CHROMIUM) return process.env.WRIT_CHROMIUM;
  for (const d of (process.env.PATH ?? "").split(delimiter)) {
    for (const name of ["chromium", "chromium-browser"]) {
      if (d && existsSync(join(d, name))) return join(d, name);
    }
  }
  return undefined;
}

const BROWSER = chromium();
const { dir, skip: noVectors } = tlogDir();
const skip = noVectors || (BROWSER ? false : "Chromium not found (set WRIT_CHROMIUM)");
if (!BROWSER && process.env.WRIT_REQUIRE_CONFORMANCE === "1") throw new Error("WRIT_REQUIRE_CONFORMANCE=1 but Chromium is not found");

/** @param {string} d @returns {string[]} */
function jsonFiles(d) {
  return readdirSync(d).sort().flatMap((n) => {
    const p = join(d, n);
    return statSync(p).isDirectory() ? jsonFiles(p) : n.endsWith(".json") ? [p] : [];
  });
}

const PAGE = `<!doctype html><meta charset="utf-8"><title>verify</title><script type="module">
import { b64decode } from "/verify/bytes.js";
import { verifyInclusion, verifyConsistency } from "/verify/merkle.js";
import { parseVerifierKey, verifyCheckpoint, verifyNote } from "/verify/note.js";
import { verifyBundle } from "/verify/bundle.js";
const b = (s) => (s ? b64decode(s) : new Uint8Array(0));
const ok = (p) => p.then(() => true, () => false);
let out;
try {
  const cases = await (await fetch("/cases.json")).json();
  out = [];
  for (const c of cases) {
    if (c.kind === "inclusion") out.push(await ok(verifyInclusion(c.leafIdx, c.treeSize, b(c.leafHash), (c.proof || []).map(b), b(c.root))));
    else if (c.kind === "consistency") out.push(await ok(verifyConsistency(c.size1, c.size2, (c.proof || []).map(b), b(c.root1), b(c.root2))));
    else if (c.kind === "note") out.push(await ok(parseVerifierKey(c.vkey).then((k) => verifyNote(c.note, k))));
    else if (c.kind === "checkpoint") out.push(await verifyCheckpoint(c.note, await parseVerifierKey(c.vkey)).then((cp) => cp.size + " " + btoa(String.fromCharCode(...cp.rootHash)), (e) => "error: " + e.message));
    else if (c.kind === "bundle") {
      const r = await verifyBundle(c.bundle, c.options);
      out.push(r.verdict + " " + r.checks.filter((x) => x.status === "fail").map((x) => x.name).join(","));
    }
  }
} catch (e) {
  out = { error: String(e && e.stack || e) };
}
await fetch("/result", { method: "POST", body: JSON.stringify(out) });
</script>`;

test("Chromium runs the proof, note and checkpoint vectors and bundles like Node", { skip }, async () => {
  /** @type {{kind: string, [k: string]: unknown}[]} */
  const cases = [];
  /** @type {unknown[]} */
  const want = [];
  const testdata = join(dir, "transparency-dev-merkle", "testdata");
  for (const kind of ["inclusion", "consistency"]) {
    for (const f of jsonFiles(join(testdata, kind))) {
      const v = JSON.parse(readFileSync(f, "utf8"));
      cases.push({ kind, ...v });
      want.push(!v.wantErr);
    }
  }
  assert.equal(cases.length, 196);
  const notes = JSON.parse(readFileSync(join(dir, "signed-note", "signed-note-vectors.json"), "utf8"));
  const ex = notes.c2sp_signed_note_example;
  const go = notes.go_sumdb_note_TestSign;
  cases.push({ kind: "note", vkey: ex.vkey, note: ex.note }, { kind: "note", vkey: go.vkey, note: go.signed_note },
    { kind: "note", vkey: go.second_signer_vkey, note: go.signed_note + go.second_signature_line },
    { kind: "note", vkey: ex.vkey, note: ex.note.replace("example", "exanple") });
  want.push(true, true, true, false);
  const log = join(dir, "tessera-testlog", "testdata", "log");
  for (let n = 0; n <= 15; n++) {
    const note = readFileSync(join(log, `checkpoint.${n}`), "utf8");
    cases.push({ kind: "checkpoint", vkey: notes.tessera_testlog_vkey.vkey, note });
    want.push(`${n} ${note.split("\n")[2]}`);
  }
  const tl = await TestLog.create();
  for (let i = 0; i < 11; i++) await tl.append({ type: "policy.activated", v: 1, n: i });
  const good = await tl.bundle([0, 5, 10]);
  const bad = structuredClone(good);
  const h = b64decode(bad.entries[1].inclusion_b64[0]);
  h[0] ^= 1;
  bad.entries[1].inclusion_b64[0] = b64encode(h);
  cases.push({ kind: "bundle", bundle: good, options: { pinnedVkey: await tl.vkey() } }, { kind: "bundle", bundle: bad, options: {} });
  want.push("verified ", "failed inclusion:5");

  /** @type {(v: unknown) => void} */
  let resolveResult = () => {};
  const result = new Promise((r) => (resolveResult = r));
  const root = join(REPO_ROOT, "ui", "verify");
  const server = createServer((req, res) => {
    const url = req.url ?? "/";
    if (req.method === "POST" && url === "/result") {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        res.end("ok");
        resolveResult(JSON.parse(body));
      });
      return;
    }
    if (url === "/") return void res.writeHead(200, { "content-type": "text/html" }).end(PAGE);
    if (url === "/cases.json") return void res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(cases));
    const file = normalize(join(root, url.replace(/^\/verify\//, "")));
    if (url.startsWith("/verify/") && file.startsWith(root) && url.endsWith(".js") && existsSync(file)) {
      return void res.writeHead(200, { "content-type": "text/javascript" }).end(readFileSync(file));
    }
    res.writeHead(404).end();
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", () => r(undefined)));
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : 0;
  const profile = mkdtempSync(join(tmpdir(), "writ-verifyjs-chromium-"));
  const child = spawn(/** @type {string} */ (BROWSER), ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions", `--user-data-dir=${profile}`, `http://127.0.0.1:${port}/`], { stdio: "ignore" });
  /** @type {Promise<number|null>} */
  const exit = new Promise((r) => child.on("exit", (code) => r(code)));
  const exited = exit.then((code) => ({ error: `chromium exited (${code}) before answering` }));
  try {
    const got = await Promise.race([result, exited]);
    assert.deepEqual(got, want);
  } finally {
    child.kill();
    await exit;
    server.close();
    // Chromium's helpers may still be writing the profile as it exits: retry, as rm -rf would.
    rmSync(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  }
});
