//! Tests of the `writ` ledger commands: the built binary on a temporary directory, its output
//! checked with the writ-ledger verifier.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::fleet::postgres_url;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::Value;
use writ_ledger::tiles::{decode_bundle, entries_path, tile_hashes, tile_path};
use writ_ledger::{ConsistencyProof, Ed25519Verifier, ProofBundle, SignedCheckpoint, leaf_hash};

fn writ(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_writ"))
        .args(args)
        .env_remove("WRIT_LEDGER_DIR")
        .env_remove("WRIT_DATABASE_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn ok(args: &[&str], stdin: &[u8]) -> String {
    let out = writ(args, stdin);
    assert!(
        out.status.success(),
        "writ {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn json(args: &[&str], stdin: &[u8]) -> Value {
    serde_json::from_str(&ok(args, stdin)).unwrap()
}

fn init(dir: &Path) -> String {
    let d = dir.to_str().unwrap();
    let v = json(
        &[
            "ledger",
            "init",
            d,
            "--origin",
            "cli.test/log",
            "--format",
            "json",
        ],
        b"",
    );
    assert_eq!(v["origin"], "cli.test/log");
    assert_eq!(v["size"], 0);
    v["vkey"].as_str().unwrap().to_owned()
}

fn size(dir: &str) -> u64 {
    json(
        &["ledger", "checkpoint", "--dir", dir, "--format", "json"],
        b"",
    )["size"]
        .as_u64()
        .unwrap()
}

#[test]
fn init_append_checkpoint_vkey_proof_consistency_verify() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("l");
    let vkey = init(&dir);
    let d = dir.to_str().unwrap();
    let key_mode = std::fs::metadata(dir.join("log.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(key_mode & 0o777, 0o600);

    assert_eq!(ok(&["ledger", "vkey", "--dir", d], b"").trim(), vkey);
    let verifier = Ed25519Verifier::from_vkey(&vkey).unwrap();

    let out = ok(
        &["ledger", "append", "--dir", d],
        b"{\"type\":\"decision\",\"v\":1}\n{\"n\":2,\"type\":\"receipt\",\"v\":1}\n\n",
    );
    assert_eq!(out, "0\n1\n");
    let v = json(
        &["ledger", "append", "--dir", d, "--format", "json"],
        b"{\"type\":\"revocation\",\"v\":1}\n",
    );
    assert_eq!(v["indexes"], serde_json::json!([2]));
    assert_eq!(v["checkpoint_size"], 3);

    // The human checkpoint is the signed note itself.
    let note = ok(&["ledger", "checkpoint", "--dir", d], b"");
    let cp = SignedCheckpoint::open(&note, &verifier).unwrap();
    assert_eq!(cp.size(), 3);

    let bundle = ok(
        &[
            "ledger", "proof", "--dir", d, "--index", "1", "--index", "2",
        ],
        b"",
    );
    let checked = ProofBundle::from_json(bundle.as_bytes())
        .unwrap()
        .verify(Some(&vkey))
        .unwrap();
    assert_eq!(
        checked.entries[0].entry,
        br#"{"n":2,"type":"receipt","v":1}"#
    );
    assert_eq!(checked.entries[1].index, 2);
    let old = ok(
        &["ledger", "proof", "--dir", d, "--index", "0", "--size", "2"],
        b"",
    );
    let old = ProofBundle::from_json(old.as_bytes())
        .unwrap()
        .verify(Some(&vkey))
        .unwrap();
    assert_eq!(old.checkpoint.size(), 2);

    let c: ConsistencyProof = serde_json::from_str(&ok(
        &[
            "ledger",
            "consistency",
            "--dir",
            d,
            "--from",
            "2",
            "--to",
            "3",
        ],
        b"",
    ))
    .unwrap();
    c.verify_between(&old.checkpoint, &cp).unwrap();

    let r = json(
        &["ledger", "verify", "--dir", d, "--full", "--format", "json"],
        b"",
    );
    assert_eq!(r["ok"], true);
    assert_eq!(r["entries_checked"], 3);
    assert!(r["checkpoints_checked"].as_u64().unwrap() >= 3);
    assert!(ok(&["ledger", "verify", "--dir", d], b"").starts_with("ok: size 3"));

    // Bad requests are invalid input (exit 3), not failures.
    for args in [
        &["ledger", "proof", "--dir", d, "--index", "3"][..],
        &["ledger", "proof", "--dir", d, "--index", "0", "--size", "9"],
        &[
            "ledger",
            "consistency",
            "--dir",
            d,
            "--from",
            "0",
            "--to",
            "3",
        ],
        &[
            "ledger",
            "consistency",
            "--dir",
            d,
            "--from",
            "1",
            "--to",
            "4",
        ],
    ] {
        assert_eq!(writ(args, b"").status.code(), Some(3), "{args:?}");
    }
    let again = writ(&["ledger", "init", d], b"");
    assert_eq!(again.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds a ledger"));
}

#[test]
fn append_refuses_non_canonical_and_oversized_entries_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("l");
    init(&dir);
    let d = dir.to_str().unwrap();
    ok(
        &["ledger", "append", "--dir", d],
        b"{\"type\":\"decision\",\"v\":1}\n",
    );
    let big = format!(
        "{{\"pad\":\"{}\",\"type\":\"decision\",\"v\":1}}\n",
        "a".repeat(65_536)
    );
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"{\"v\":1,\"type\":\"decision\"}\n".to_vec(), "canonical"),
        (b"{\"type\": \"decision\",\"v\":1}\n".to_vec(), "canonical"),
        (b"{\"type\":\"decision\"}\n".to_vec(), "\"v\""),
        (b"[1,2]\n".to_vec(), "object"),
        (big.into_bytes(), "65535"),
        // A valid line first: still all or nothing.
        (
            b"{\"type\":\"decision\",\"v\":2}\n{\"type\":\"decision\",\"v\":1.5}\n".to_vec(),
            "line 2",
        ),
    ];
    for (input, needle) in cases {
        let out = writ(&["ledger", "append", "--dir", d], &input);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{err}");
        assert!(err.contains(needle), "{err:?} does not mention {needle:?}");
        assert!(err.contains("nothing was written"), "{err}");
        assert_eq!(size(d), 1);
    }
    let r = json(
        &["ledger", "verify", "--dir", d, "--full", "--format", "json"],
        b"",
    );
    assert_eq!(r["ok"], true);
    assert_eq!(r["entries_checked"], 1);
}

#[test]
fn verify_names_a_tampered_entry_and_exits_non_zero() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("l");
    init(&dir);
    let d = dir.to_str().unwrap();
    let lines: String = (0..40)
        .map(|i| format!("{{\"n\":{i},\"type\":\"decision\",\"v\":1}}\n"))
        .collect();
    ok(&["ledger", "append", "--dir", d], lines.as_bytes());
    // Fold the WAL in, then change one byte of entry 17 in the file.
    let db = dir.join("ledger.db");
    {
        let conn = writ_ledger::store::SqliteStore::open(&db, false).unwrap();
        conn.connection()
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
            .unwrap();
    }
    let mut bytes = std::fs::read(&db).unwrap();
    let needle = br#"{"n":17,"type":"decision","v":1}"#;
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap();
    bytes[at + 5] = b'8';
    std::fs::write(&db, bytes).unwrap();

    let out = writ(&["ledger", "verify", "--dir", d, "--full"], b"");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("entry 17"), "{err}");
    let out = writ(
        &["ledger", "verify", "--dir", d, "--full", "--format", "json"],
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["ok"], false);
    assert_eq!(r["problem"]["kind"], "entry");
    assert_eq!(r["problem"]["at"], "17");
}

#[test]
fn tiles_export_writes_a_tree_our_verifier_accepts() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("l");
    let vkey = init(&dir);
    let d = dir.to_str().unwrap();
    let lines: String = (0..300)
        .map(|i| format!("{{\"n\":{i},\"type\":\"decision\",\"v\":1}}\n"))
        .collect();
    ok(&["ledger", "append", "--dir", d], lines.as_bytes());
    let out = tmp.path().join("static");
    let r = json(
        &[
            "ledger",
            "tiles",
            "export",
            "--dir",
            d,
            "--format",
            "json",
            out.to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(r["size"], 300);
    let note = std::fs::read_to_string(out.join("checkpoint")).unwrap();
    let cp = SignedCheckpoint::open(&note, &Ed25519Verifier::from_vkey(&vkey).unwrap()).unwrap();
    let mut leaves = Vec::new();
    for (index, width) in [(0u64, 256u64), (1, 44)] {
        let bundle =
            decode_bundle(&std::fs::read(out.join(entries_path(index, width))).unwrap()).unwrap();
        let tile =
            tile_hashes(&std::fs::read(out.join(tile_path(0, index, width))).unwrap()).unwrap();
        assert_eq!(
            bundle.iter().map(|e| leaf_hash(e)).collect::<Vec<_>>(),
            tile
        );
        leaves.extend(tile);
    }
    assert_eq!(
        &writ_ledger::hash::root_from_leaf_hashes(&leaves),
        cp.root()
    );
    let level1 = tile_hashes(&std::fs::read(out.join("tile/1/000.p/1")).unwrap()).unwrap();
    assert_eq!(
        level1[0],
        writ_ledger::hash::root_from_leaf_hashes(&leaves[..256])
    );
    assert_eq!(B64.encode(cp.root()).len(), 44);
}

#[test]
fn a_key_file_readable_by_others_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("l");
    init(&dir);
    std::fs::set_permissions(dir.join("log.key"), std::fs::Permissions::from_mode(0o640)).unwrap();
    let out = writ(
        &["ledger", "checkpoint", "--dir", dir.to_str().unwrap()],
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("chmod 600"), "{err}");
    let missing = writ(
        &["ledger", "vkey", "--dir", tmp.path().to_str().unwrap()],
        b"",
    );
    assert_ne!(missing.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("writ ledger init"));
}

#[test]
fn ledger_demo_proves_an_entry_and_catches_the_tampered_copy() {
    let v = json(&["ledger-demo", "--format", "json"], b"");
    assert_eq!(v["original_verifies"], true);
    assert_eq!(v["tampered_verifies"], false);
    assert_eq!(v["tampered_problem"]["kind"], "entry");
    let bundle = serde_json::to_vec(&v["proof_bundle"]).unwrap();
    let vkey = v["vkey"].as_str().unwrap();
    ProofBundle::from_json(&bundle)
        .unwrap()
        .verify(Some(vkey))
        .unwrap();
}

#[test]
fn bench_ledger_reports_throughput_latency_and_the_baseline_ratio() {
    let v = json(
        &[
            "bench",
            "ledger",
            "--appenders",
            "2",
            "--duration",
            "0.3",
            "--entry-size",
            "120",
            "--format",
            "json",
        ],
        b"",
    );
    assert!(v["appends"].as_u64().unwrap() > 0);
    assert!(v["ratio_to_baseline"].as_f64().unwrap() > 0.0);
    let lat = &v["integration_latency_ms"];
    assert!(lat["p50"].as_f64().unwrap() <= lat["p99"].as_f64().unwrap());
    assert!(v["bytes_per_entry"].as_f64().unwrap() > 120.0);
}

/// Issue 14: `writ ledger verify` without flags checked only the structure (tiles and
/// checkpoints against the stored hashes), so a copy of the ledger with one byte of an entry
/// altered passed. The default is now the full check, which rehashes the entries; `--quick`
/// keeps the structural check and says it does not rehash.
#[test]
fn default_verify_rehashes_and_names_an_altered_entry() {
    use serde_json::json;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("l");
    init(&dir);
    let d = dir.to_str().unwrap();
    let lines: String = (0..12)
        .map(|i| format!("{{\"n\":{i},\"type\":\"decision\",\"v\":1}}\n"))
        .collect();
    ok(&["ledger", "append", "--dir", d], lines.as_bytes());
    // A copy of the ledger, with one byte of entry 5 altered.
    let copy = tmp.path().join("copy");
    std::fs::create_dir(&copy).unwrap();
    for f in std::fs::read_dir(&dir).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), copy.join(f.file_name())).unwrap();
    }
    let db = copy.join("ledger.db");
    {
        let conn = writ_ledger::store::SqliteStore::open(&db, false).unwrap();
        conn.connection()
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
            .unwrap();
    }
    let mut bytes = std::fs::read(&db).unwrap();
    let needle = br#"{"n":5,"type":"decision","v":1}"#;
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap();
    bytes[at + 5] = b'6';
    std::fs::write(&db, bytes).unwrap();
    let c = copy.to_str().unwrap();

    // The original verifies, entries rehashed, by default.
    let r = json(&["ledger", "verify", "--dir", d, "--format", "json"], b"");
    assert_eq!(
        (r["ok"].clone(), r["full"].clone()),
        (json!(true), json!(true)),
        "{r}"
    );
    assert_eq!(r["entries_checked"], 12);
    // The altered copy fails by default, naming the entry.
    let out = writ(&["ledger", "verify", "--dir", c], b"");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("entry 5"), "{err}");
    let out = writ(&["ledger", "verify", "--dir", c, "--format", "json"], b"");
    assert_eq!(out.status.code(), Some(1));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (r["problem"]["kind"].clone(), r["problem"]["at"].clone()),
        (json!("entry"), json!("5")),
        "{r}"
    );
    // --quick does not rehash, and says so.
    let out = ok(&["ledger", "verify", "--dir", c, "--quick"], b"");
    assert!(out.contains("not rehashed"), "{out}");
    let r = json(
        &[
            "ledger", "verify", "--dir", c, "--quick", "--format", "json",
        ],
        b"",
    );
    assert_eq!(
        (r["full"].clone(), r["entries_checked"].clone()),
        (json!(false), json!(0)),
        "{r}"
    );
}

/// `writ ledger verify --database` checks a ledger stored in PostgreSQL (the test server of
/// scripts/postgres.sh; skipped without WRIT_TEST_POSTGRES_URL unless
/// WRIT_REQUIRE_CONFORMANCE=1). The URL goes through the environment, not the command line.
#[test]
fn verify_with_database_checks_a_postgres_ledger_and_names_a_tampered_entry() {
    let Some(url) = postgres_url() else {
        return;
    };
    let schema = format!("cli_verify_{}", std::process::id());
    let keys = tempfile::tempdir().unwrap();
    let ledger =
        writ_ledger::pg::init_ledger(keys.path(), "example.com/pg", &url, &schema).unwrap();
    for n in 0..300u64 {
        let e = format!(r#"{{"n":{n},"type":"decision","v":1}}"#);
        ledger.append_durable(e.as_bytes()).unwrap();
    }
    drop(ledger);
    let dir = keys.path().to_str().unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec!["ledger", "verify", "--dir", dir, "--format", "json"];
        args.extend_from_slice(extra);
        Command::new(env!("CARGO_BIN_EXE_writ"))
            .args(&args)
            .env_remove("WRIT_LEDGER_DIR")
            .env("WRIT_DATABASE_URL", &url)
            .output()
            .unwrap()
    };
    let out = run(&["--schema", &schema]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ok"], true);
    assert_eq!(report["size"], 300);
    assert_eq!(report["entries_checked"], 300);
    // The SQLite store is not consulted: DIR holds only the key.
    assert!(!keys.path().join("ledger.db").exists());

    let mut store = writ_ledger::pg::PgStore::open(&url, &schema, false).unwrap();
    store
        .execute_raw(r#"UPDATE entries SET data = convert_to('{"n":1,"type":"decision","v":1}', 'UTF8') WHERE idx = 2"#)
        .unwrap();
    let out = run(&["--schema", &schema]);
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["problem"]["kind"], "entry");
    assert_eq!(report["problem"]["at"], "2");
    // A schema that holds no ledger is an error, not a pass.
    let out = run(&["--schema", "no_such_ledger"]);
    assert!(!out.status.success());
    writ_ledger::pg::PgStore::drop_schema(&url, &schema).unwrap();
}

/// `writ bench ledger --database` measures a PostgreSQL ledger against a plain batched insert
/// into the same database (skipped without WRIT_TEST_POSTGRES_URL, unless required).
#[test]
fn bench_ledger_on_postgres_reports_the_ratio_to_a_plain_insert() {
    let Some(url) = postgres_url() else {
        return;
    };
    let out = Command::new(env!("CARGO_BIN_EXE_writ"))
        .args([
            "bench",
            "ledger",
            "--appenders",
            "2",
            "--duration",
            "0.5",
            "--entry-size",
            "120",
            "--format",
            "json",
        ])
        .env("WRIT_DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["store"], "postgres");
    assert!(v["appends"].as_u64().unwrap() > 0);
    assert_eq!(v["size"].as_u64().unwrap(), v["appends"].as_u64().unwrap());
    assert!(
        v["baseline"]["what"]
            .as_str()
            .unwrap()
            .contains("PostgreSQL")
    );
    assert!(v["ratio_to_baseline"].as_f64().unwrap() > 0.0);
    assert!(v["bytes_per_entry"].as_f64().unwrap() > 120.0);
    eprintln!(
        "postgres ledger: {:.0} appends/s, baseline {:.0} inserts/s, ratio {:.3}",
        v["appends_per_s"].as_f64().unwrap(),
        v["baseline"]["inserts_per_s"].as_f64().unwrap(),
        v["ratio_to_baseline"].as_f64().unwrap()
    );
}
