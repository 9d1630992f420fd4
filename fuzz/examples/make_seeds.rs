//! Writes the seed corpus of every fuzz target (`fuzz/corpus/TARGET/`), made by Writ's own
//! code from the fixtures of `writ_fuzz` and the example policy files: an issued writ, signed
//! notes and checkpoints, a proof bundle from a real tree, gateway messages, bundles and
//! authorize bodies. Deterministic: running it again rewrites the same files.
//!
//! `cargo run --manifest-path fuzz/Cargo.toml --example make_seeds`

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use writ_authorize::{BundleSigningKey, decide_with_entry};
use writ_fuzz as fx;
use writ_ledger::bundle::{BundleEntry, BundleLog, PROOF_FORMAT};
use writ_ledger::note::sign_note;
use writ_ledger::proof::{MemoryTree, consistency_proof, inclusion_proof, tree_root};
use writ_ledger::tiles::{encode_bundle, tile_bytes};
use writ_ledger::{Checkpoint, ConsistencyProof, NoteSigner, ProofBundle, SignedCheckpoint};
use writ_model::{AuthorizeRequest, Intent};

fn write(dir: &Path, target: &str, name: &str, mode: Option<u8>, bytes: &[u8]) {
    let d = dir.join(target);
    std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
    let mut out = mode.map(|m| vec![m]).unwrap_or_default();
    out.extend_from_slice(bytes);
    std::fs::write(d.join(name), out).unwrap_or_else(|e| panic!("{name}: {e}"));
}

fn example_requests() -> Vec<Value> {
    include_str!("../../examples/policy/requests.jsonl")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn main() {
    let dir: PathBuf = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus"));
    let requests = example_requests();

    // writ_verify: an issued writ, its header and payload, the JWKS that verifies it.
    let token = fx::issue_writ(&fx::call());
    write(
        &dir,
        "writ_verify",
        "issued-writ",
        Some(0),
        token.as_bytes(),
    );
    let mut segs = token.split('.');
    let header = URL_SAFE_NO_PAD
        .decode(segs.next().unwrap_or_default())
        .unwrap_or_default();
    let payload = URL_SAFE_NO_PAD
        .decode(segs.next().unwrap_or_default())
        .unwrap_or_default();
    let mut pair = header.clone();
    pair.push(0xff);
    pair.extend_from_slice(&payload);
    write(&dir, "writ_verify", "issued-header-payload", Some(1), &pair);
    let other = fx::issue_writ(&Intent::new("exec", "cmd:/usr/bin/git", json!({})));
    write(
        &dir,
        "writ_verify",
        "writ-for-another-call",
        Some(0),
        other.as_bytes(),
    );
    let jwks = writ_artifact::Jwks {
        keys: vec![fx::writ_key().public_jwk()],
    };
    write(
        &dir,
        "writ_verify",
        "jwks",
        Some(2),
        &serde_json::to_vec(&jwks).unwrap_or_default(),
    );

    // canonical_json and authorize_request: the example requests, a decision entry.
    let bundle = fx::mapping_bundle();
    for (i, r) in requests.iter().enumerate() {
        let text = serde_json::to_vec(r).unwrap_or_default();
        write(&dir, "canonical_json", &format!("request-{i}"), None, &text);
        write(
            &dir,
            "authorize_request",
            &format!("request-{i}"),
            Some(1),
            &text,
        );
        if let Ok(req) = serde_json::from_value::<AuthorizeRequest>(r.clone())
            && let (_, Ok(entry)) = decide_with_entry(&bundle, &req, fx::NOW)
            && i < 3
        {
            write(
                &dir,
                "canonical_json",
                &format!("decision-{i}"),
                None,
                &entry,
            );
        }
    }
    write(
        &dir,
        "canonical_json",
        "numbers",
        None,
        br#"{"a":2.0,"b":1e21,"c":-0.0,"d":9007199254740993,"e":1E-7,"f":[0.5,"\u00e9\ud83d\ude00"]}"#,
    );
    let gate = fx::fixture_gate();
    let attestation = gate
        .attest()
        .unwrap_or_else(|e| panic!("fixture attestation: {e}"));
    for (i, r) in requests.iter().take(4).enumerate() {
        let body = json!({
            "intent": r.get("intent").cloned().unwrap_or(Value::Null),
            "attestation": attestation,
            "act": {"sub": "human:alice"},
            "parent": fx::EXECUTION,
            "lifetime_secs": 30,
        });
        write(
            &dir,
            "authorize_request",
            &format!("body-{i}"),
            Some(0),
            &serde_json::to_vec(&body).unwrap_or_default(),
        );
    }

    // cedar_mapping: the example requests' arguments, and numbers the policies read.
    for (i, r) in requests.iter().enumerate() {
        if let Some(args) = r.pointer("/intent/args") {
            write(
                &dir,
                "cedar_mapping",
                &format!("args-{i}"),
                Some(u8::try_from(i * 3).unwrap_or(0)),
                &serde_json::to_vec(args).unwrap_or_default(),
            );
        }
    }
    write(&dir, "cedar_mapping", "forbidden-b", Some(6), br#"{"b":2}"#);
    write(
        &dir,
        "cedar_mapping",
        "numbers-n",
        Some(6),
        br#"{"n":[1,3],"b":3}"#,
    );

    // signed_note and checkpoint: notes and keys of the log.
    let signer = fx::log_signer();
    let note = sign_note("hello\nworld\n", &[&signer as &dyn NoteSigner])
        .unwrap_or_else(|e| panic!("note: {e}"));
    write(&dir, "signed_note", "note", Some(0), note.as_bytes());
    write(
        &dir,
        "signed_note",
        "vkey",
        Some(1),
        signer.verifier().to_vkey().as_bytes(),
    );
    write(
        &dir,
        "signed_note",
        "skey",
        Some(2),
        signer.to_skey().as_bytes(),
    );

    let entries: Vec<Vec<u8>> = (0..11u64)
        .map(|i| format!("{{\"i\":{i},\"type\":\"fuzz\",\"v\":1}}").into_bytes())
        .collect();
    let tree =
        MemoryTree::from_leaf_hashes(entries.iter().map(|e| writ_ledger::leaf_hash(e)).collect());
    let body = Checkpoint {
        origin: fx::LOG_ORIGIN.into(),
        size: tree.size(),
        root: tree.root(),
        extensions: vec!["writ-fuzz extension".into()],
    };
    let signed =
        SignedCheckpoint::sign(body.clone(), &signer).unwrap_or_else(|e| panic!("sign: {e}"));
    write(
        &dir,
        "signed_note",
        "checkpoint",
        Some(0),
        signed.note().as_bytes(),
    );
    write(
        &dir,
        "checkpoint",
        "body",
        Some(0),
        body.to_text().as_bytes(),
    );
    write(
        &dir,
        "checkpoint",
        "signed",
        Some(1),
        signed.note().as_bytes(),
    );
    write(
        &dir,
        "checkpoint",
        "to-sign",
        Some(2),
        body.to_text().as_bytes(),
    );

    // proof_bundle: a bundle for leaf 6 of the 11-leaf tree, a consistency proof 4 -> 11.
    let index = 6u64;
    let entry = entries.get(6).cloned().unwrap_or_default();
    let path = inclusion_proof(&tree, index, tree.size()).unwrap_or_else(|e| panic!("{e}"));
    let mut bundle_json = ProofBundle {
        format: PROOF_FORMAT.into(),
        log: BundleLog {
            origin: fx::LOG_ORIGIN.into(),
            vkey: signer.verifier().to_vkey(),
        },
        checkpoint: signed.note().to_owned(),
        entries: vec![BundleEntry {
            index,
            entry_b64: B64.encode(&entry),
            leaf_hash_b64: B64.encode(writ_ledger::leaf_hash(&entry)),
            inclusion_b64: path.iter().map(|h| B64.encode(h)).collect(),
        }],
        writ: Some(token.clone()),
        jwks: serde_json::to_value(&jwks).ok(),
        disclosures: None,
    };
    let bytes = serde_json::to_vec(&bundle_json).unwrap_or_default();
    write(&dir, "proof_bundle", "bundle", Some(0), &bytes);
    bundle_json.checkpoint = body.to_text();
    write(
        &dir,
        "proof_bundle",
        "bundle-unsigned-checkpoint",
        Some(1),
        &serde_json::to_vec(&bundle_json).unwrap_or_default(),
    );
    let root4 = tree_root(&tree, 4).unwrap_or_else(|e| panic!("{e}"));
    let hashes = consistency_proof(&tree, 4, tree.size()).unwrap_or_else(|e| panic!("{e}"));
    let proof = ConsistencyProof::new(4, tree.size(), &root4, &tree.root(), &hashes);
    write(
        &dir,
        "proof_bundle",
        "consistency",
        Some(2),
        &serde_json::to_vec(&proof).unwrap_or_default(),
    );
    write(
        &dir,
        "proof_bundle",
        "real-tree",
        Some(3),
        &[10, 6, 3, 1, 9, 0],
    );

    // tile_path: paths the log serves, an entry bundle, a hash tile.
    for (i, p) in ["0/x001/x234/067", "entries/000.p/15", "1/005.p/12", "2/000"]
        .iter()
        .enumerate()
    {
        write(
            &dir,
            "tile_path",
            &format!("path-{i}"),
            Some(0),
            p.as_bytes(),
        );
    }
    let eb = encode_bundle(&entries).unwrap_or_else(|e| panic!("{e}"));
    write(&dir, "tile_path", "entry-bundle", Some(1), &eb);
    write(
        &dir,
        "tile_path",
        "hash-tile",
        Some(2),
        &tile_bytes(&tree.level(0)[..4]),
    );

    // mcp_client: requests a client sends through the gateway.
    let client = [
        json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_issue","arguments":{"repo":"acme/api","number":7}}}),
        json!({"jsonrpc":"2.0","id":"a","method":"prompts/get","params":{"name":"summary","arguments":{"topic":"x"}}}),
        json!({"jsonrpc":"2.0","id":3,"method":"resources/read","params":{"uri":"file:///README.md","_meta":{"progressToken":1}}}),
        json!({"jsonrpc":"2.0","id":4,"method":"tools/list","params":{}}),
        json!({"jsonrpc":"2.0","id":5,"method":"ping"}),
        json!([{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"x"}},{"jsonrpc":"2.0","id":7,"method":"ping"}]),
        json!({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}),
    ];
    for (i, m) in client.iter().enumerate() {
        write(
            &dir,
            "mcp_client",
            &format!("msg-{i}"),
            None,
            m.to_string().as_bytes(),
        );
    }

    // mcp_upstream: list answers as an upstream sends them, JSON and SSE.
    let tools = json!({"jsonrpc":"2.0","id":4,"result":{"tools":[
        {"name":"get_issue","description":"Read an issue","inputSchema":{"type":"object","properties":{"number":{"type":"integer"}}}},
        {"name":"delete_repo","description":"Delete","inputSchema":{"type":"object"}}]}});
    write(
        &dir,
        "mcp_upstream",
        "tools",
        Some(0),
        tools.to_string().as_bytes(),
    );
    let prompts =
        json!({"jsonrpc":"2.0","id":5,"result":{"prompts":[{"name":"summary"}],"nextCursor":"2"}});
    write(
        &dir,
        "mcp_upstream",
        "prompts",
        Some(1),
        prompts.to_string().as_bytes(),
    );
    let resources =
        json!({"jsonrpc":"2.0","id":6,"result":{"resources":[{"uri":"file:///a","name":"a"}]}});
    let sse = format!("event: message\ndata: {resources}\n\n");
    write(
        &dir,
        "mcp_upstream",
        "resources-sse",
        Some(2),
        sse.as_bytes(),
    );
    let templates = json!({"jsonrpc":"2.0","id":7,"result":{"resourceTemplates":[{"uriTemplate":"file:///{path}","name":"f"}]}});
    write(
        &dir,
        "mcp_upstream",
        "templates",
        Some(3),
        templates.to_string().as_bytes(),
    );
    let error = json!({"jsonrpc":"2.0","id":8,"error":{"code":-32601,"message":"no"}});
    write(
        &dir,
        "mcp_upstream",
        "error",
        Some(0),
        error.to_string().as_bytes(),
    );

    // policy_bundle: the default bundle, signed and unsigned, and the numbers bundle.
    let join = |files: &[(String, String)]| -> Vec<u8> {
        let mut out = Vec::new();
        for (i, (name, text)) in files.iter().enumerate() {
            if i > 0 {
                out.push(0);
            }
            out.extend_from_slice(name.as_bytes());
            out.push(b'\n');
            out.extend_from_slice(text.as_bytes());
        }
        out
    };
    let mut files = fx::default_bundle_files();
    write(&dir, "policy_bundle", "default", None, &join(&files));
    let default = fx::compile_files(files.clone()).unwrap_or_else(|e| panic!("{e}"));
    let sig = BundleSigningKey::from_seed([3; 32]).sign(default.digest());
    files.push(("bundle.sig".into(), sig.to_json()));
    write(&dir, "policy_bundle", "default-signed", None, &join(&files));
    let mut small = fx::default_bundle_files();
    small.truncate(1);
    small.push((
        "now.cedar".into(),
        "@id(\"daytime\")\npermit (principal is Agent, action == Action::\"exec\", resource)\nwhen { context.now > 0 && context.args has argv && context.args.argv.contains(\"-v\") };\n".into(),
    ));
    write(&dir, "policy_bundle", "small", None, &join(&small));

    println!("seed corpus written under {}", dir.display());
}
