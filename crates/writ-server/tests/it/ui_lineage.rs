//! The Execution Lineage Explorer in a real browser (issue 17, acceptance 3 and the lineage part
//! of 5): Debian's Chromium driven by Playwright (`ui/tests/lineage.mjs`, run by node) against
//! this real server on 127.0.0.1.
//!
//! This test builds, through the API, the three-level delegation of `lineage_tree.rs` (with a
//! denial, a zone crossing and a governance termination) and a 1,000-execution tree; the
//! script checks the page draws exactly their nodes and edges, marks what it must, verifies a
//! selected node's proof, pans, zooms and exports, and measures the layout of 1,000 nodes in
//! the browser. Tokens reach the script on stdin, never its command line or environment.
//!
//! Needs node with `playwright-core` and `axe-core` (WRIT_UI_NODE_MODULES) and Chromium
//! (WRIT_CHROMIUM, default /usr/bin/chromium); without them the test says so and skips, unless
//! WRIT_REQUIRE_UI=1.

use std::time::Instant;

use serde_json::{Value, json};

use crate::harness::TestServer;
use crate::lineage_tree::build_delegation;

/// A tree of `n` executions through the API: execution i's parent is execution (i-1)/3, so it
/// is built a level at a time, each level's authorizations sent 32 at once. Every tenth leaf
/// (i ≥ n/3 has no children) asks for something the policy denies. Returns the ids in creation order.
async fn big_tree(
    srv: &TestServer,
    token: &str,
    gate: &crate::harness::Gate,
    n: usize,
) -> Vec<String> {
    let mut ids: Vec<String> = Vec::with_capacity(n);
    let mut level = 0..1usize;
    while level.start < n {
        let end = level.end.min(n);
        let mut pending = Vec::new();
        for i in level.start..end {
            let parent = (i > 0).then(|| ids[(i - 1) / 3].clone());
            let tool = if i >= n / 3 && i % 10 == 9 {
                "fs/write_file"
            } else {
                "github/get_issue"
            };
            let mut body = json!({"intent": {"action": "mcp.call_tool", "resource": format!("tool:{tool}"), "args": {"path": "/etc/x", "n": i}},
                                  "attestation": gate.attest()});
            if let Some(p) = parent {
                body["parent"] = json!(p);
            }
            let req = srv
                .client
                .post(srv.url("/v1/authorize"))
                .bearer_auth(token)
                .json(&body);
            pending.push(async move {
                let resp = req.send().await.unwrap();
                let v: Value = resp.json().await.unwrap();
                v["execution"].as_str().unwrap().to_owned()
            });
        }
        let mut it = pending.into_iter();
        loop {
            let batch: Vec<_> = it.by_ref().take(32).collect();
            if batch.is_empty() {
                break;
            }
            ids.extend(futures_join(batch).await);
        }
        level = end..(end * 3 + 1);
    }
    ids
}

/// Awaits every future, in order, concurrently.
async fn futures_join<F: std::future::Future<Output = String> + Send + 'static>(
    fs: Vec<F>,
) -> Vec<String> {
    let handles: Vec<_> = fs.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lineage_explorer_in_chromium() {
    let Some(crate::harness::BrowserEnv {
        root,
        modules,
        chromium,
        screenshots: shots,
    }) = crate::harness::browser_env("the lineage explorer's browser test")
    else {
        return;
    };
    let (srv, triage, dev) = TestServer::provisioned().await;
    let (st, b) = srv
        .call(
            "POST",
            "/v1/admin/principals",
            Some(&srv.admin),
            Some(json!({"id": "human:alice", "zone": "dev", "role": "auditor"})),
        )
        .await;
    assert_eq!(st, 201, "{b}");
    let auditor = b["token"].as_str().unwrap().to_owned();
    let d = build_delegation(&srv, &triage, &dev).await;
    let bulk = srv.add_principal("agent:bulk-bot", "dev").await;
    let t0 = Instant::now();
    let big = big_tree(&srv, &bulk, &dev, 1000).await;
    eprintln!(
        "built a 1,000-execution tree through the API in {} ms",
        t0.elapsed().as_millis()
    );
    assert_eq!(big.len(), 1000);

    let downloads = tempfile::tempdir().unwrap();
    let config = json!({
        "base": srv.base, "chromium": chromium, "modules": modules,
        "screenshots": shots.display().to_string(), "downloads": downloads.path().display().to_string(),
        "tokens": {"auditor": auditor},
        "tree": {
            "root": d.root, "child": d.child, "grandchild": d.grandchild, "denied": d.denied,
            "nodes": d.nodes(), "edges": d.edges(),
        },
        "big": {"root": big[0], "some": big[500], "size": big.len()},
        "unknown": writ_model::ExecutionId::new_v7().to_string(),
    });
    let (mut child, _stdin, mut lines) =
        crate::harness::spawn_node(&root, "lineage.mjs", &modules, &config).await;
    let mut result = Value::Null;
    while let Some(line) = lines.next_line().await.unwrap() {
        if let Some(r) = line.strip_prefix("RESULT ") {
            result = serde_json::from_str(r).unwrap();
        } else {
            println!("{line}");
        }
    }
    let status = child.wait().await.unwrap();
    assert!(status.success(), "the browser script failed: {result}");
    println!("lineage measures: {result}");
    eprintln!("lineage measures: {result}");
    srv.stop().await;
}
