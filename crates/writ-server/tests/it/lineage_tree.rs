//! `GET /v1/lineage/{execution}`: the whole tree of an execution from its root, a page at a
//! time, built on a real server through its own API (issue 17).

use std::collections::BTreeSet;

use serde_json::{Value, json};
use writ_model::Intent;

use crate::harness::{Gate, TestServer};

/// A three-level delegation with a denial, a zone crossing and a governance termination:
///
/// ```text
/// root      agent:triage-bot  delegate agent:sub-bot          dev      allow
/// ├─ child  agent:sub-bot     fs/read_file (from the writ)    dev      allow, receipt success
/// │  └─ grandchild agent:sub-bot github/get_issue            sandbox  allow, receipt terminated_by_governance
/// └─ denied agent:triage-bot  fs/write_file /etc/passwd       dev      deny
/// ```
pub struct Delegation {
    pub root: String,
    pub child: String,
    pub grandchild: String,
    pub denied: String,
    /// The tokens of agent:triage-bot and agent:sub-bot.
    pub triage: String,
    pub sub: String,
}

impl Delegation {
    /// Every execution, and every parent→child edge (`parent->child`).
    pub fn nodes(&self) -> BTreeSet<String> {
        [&self.root, &self.child, &self.grandchild, &self.denied]
            .into_iter()
            .cloned()
            .collect()
    }

    pub fn edges(&self) -> BTreeSet<String> {
        [
            format!("{}->{}", self.root, self.child),
            format!("{}->{}", self.child, self.grandchild),
            format!("{}->{}", self.root, self.denied),
        ]
        .into_iter()
        .collect()
    }
}

fn tool(name: &str, args: Value) -> Value {
    json!({"action": "mcp.call_tool", "resource": format!("tool:{name}"), "args": args})
}

/// Posts the gate's signed receipt for an allowed execution (asserts 201).
pub async fn post_receipt(
    srv: &TestServer,
    gate: &Gate,
    allow: &Value,
    call: &Intent,
    outcome: &str,
) {
    let claims = writ_artifact::decode_unverified(allow["writ"].as_str().unwrap())
        .unwrap()
        .claims;
    let mut body = json!({
        "type": "receipt", "v": 1, "execution": allow["execution"], "jti": claims["jti"],
        "gate": gate.id, "intent": call.digest().unwrap(), "outcome": outcome,
        "started_at": 1_767_000_000, "finished_at": 1_767_000_002
    });
    if outcome != "success" {
        body["reason_code"] = json!("revoked");
    }
    let input = writ_model::canonical::to_canonical_vec(&body).unwrap();
    let receipt = json!({"body": body, "kid": gate.id, "sig": gate.sign_b64(&input)});
    let (st, r) = srv
        .call("POST", "/v1/receipts", Some(&gate.token), Some(receipt))
        .await;
    assert_eq!(st, 201, "{r}");
}

/// Builds [`Delegation`] on a provisioned server (agent:triage-bot, gate:mcp-1 in dev).
pub async fn build_delegation(srv: &TestServer, triage: &str, dev: &Gate) -> Delegation {
    let sub = srv.add_principal("agent:sub-bot", "dev").await;
    let sandbox = srv.add_gate("gate:sbx-1", "sandbox").await;
    let grant = json!({"actions": ["mcp.call_tool"], "resources": ["tool:fs/*", "tool:github/*"], "zones": ["dev", "sandbox"]});
    let root = srv
        .authorize_ok(triage, json!({"intent": {"action": "delegate", "resource": "agent:sub-bot", "args": grant}, "attestation": dev.attest()}))
        .await;
    let read = json!({"path": "/workspace/a"});
    let child = srv
        .authorize_ok(triage, json!({"intent": tool("fs/read_file", read.clone()), "attestation": dev.attest(), "from_writ": root["writ"], "scope": {"max_uses": 1}}))
        .await;
    let call = Intent::new("mcp.call_tool", "tool:fs/read_file", read);
    post_receipt(srv, dev, &child, &call, "success").await;
    let issue = json!({"repo": "acme/api", "number": 7});
    let grandchild = srv
        .authorize_ok(&sub, json!({"intent": tool("github/get_issue", issue.clone()), "attestation": sandbox.attest(), "parent": child["execution"]}))
        .await;
    let call = Intent::new("mcp.call_tool", "tool:github/get_issue", issue);
    post_receipt(
        srv,
        &sandbox,
        &grandchild,
        &call,
        "terminated_by_governance",
    )
    .await;
    let (st, denied) = srv
        .authorize(triage, json!({"intent": tool("fs/write_file", json!({"path": "/etc/passwd"})), "attestation": dev.attest(), "parent": root["execution"]}))
        .await;
    assert_eq!(st, 403, "{denied}");
    let id = |v: &Value| v["execution"].as_str().unwrap().to_owned();
    Delegation {
        root: id(&root),
        child: id(&child),
        grandchild: id(&grandchild),
        denied: id(&denied),
        triage: triage.to_owned(),
        sub,
    }
}

/// Every node of the tree of `execution`, following `next_cursor` with pages of `limit`;
/// the number of pages.
async fn all_pages(
    srv: &TestServer,
    token: &str,
    execution: &str,
    limit: u32,
) -> (Vec<Value>, usize) {
    let mut nodes = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut path = format!("/v1/lineage/{execution}?limit={limit}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let (st, page) = srv.call("GET", &path, Some(token), None).await;
        assert_eq!(st, 200, "{page}");
        pages += 1;
        let got = page["nodes"].as_array().unwrap();
        assert!(got.len() <= limit as usize);
        nodes.extend(got.iter().cloned());
        match page.get("next_cursor") {
            Some(c) => cursor = Some(c.as_str().unwrap().to_owned()),
            None => return (nodes, pages),
        }
        assert!(pages < 100, "the pages never end");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lineage_gives_the_whole_tree_from_the_root_with_each_nodes_story() {
    let (srv, triage, dev) = TestServer::provisioned().await;
    let d = build_delegation(&srv, &triage, &dev).await;
    // Asked from the grandchild, the answer is the tree from the root.
    let (st, t) = srv.lineage(&srv.admin, &d.grandchild).await;
    assert_eq!(st, 200, "{t}");
    assert_eq!(t["root"], json!(d.root));
    assert!(t.get("next_cursor").is_none(), "{t}");
    let nodes = t["nodes"].as_array().unwrap();
    let ids: BTreeSet<String> = nodes
        .iter()
        .map(|n| n["execution"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, d.nodes());
    assert_eq!(nodes.len(), 4);
    let edges: BTreeSet<String> = nodes
        .iter()
        .filter_map(|n| {
            Some(format!(
                "{}->{}",
                n["parent"].as_str()?,
                n["execution"].as_str()?
            ))
        })
        .collect();
    assert_eq!(edges, d.edges());
    // Ledger order: parents first.
    assert_eq!(nodes[0]["execution"], json!(d.root));
    let by = |id: &str| {
        nodes
            .iter()
            .find(|n| n["execution"] == json!(id))
            .unwrap()
            .clone()
    };
    let root = by(&d.root);
    assert_eq!(
        (
            root["principal"].clone(),
            root["action"].clone(),
            root["resource"].clone(),
            root["decision"].clone()
        ),
        (
            json!("agent:triage-bot"),
            json!("delegate"),
            json!("agent:sub-bot"),
            json!("allow")
        )
    );
    let child = by(&d.child);
    assert_eq!(child["principal"], "agent:sub-bot");
    assert_eq!(child["on_behalf_of"], json!(["agent:triage-bot"]));
    assert_eq!(
        (child["outcome"].clone(), child["zone"].clone()),
        (json!("success"), json!("dev"))
    );
    let grandchild = by(&d.grandchild);
    assert_eq!(
        (
            grandchild["zone"].clone(),
            grandchild["gate"].clone(),
            grandchild["outcome"].clone(),
            grandchild["outcome_reason"].clone()
        ),
        (
            json!("sandbox"),
            json!("gate:sbx-1"),
            json!("terminated_by_governance"),
            json!("revoked")
        )
    );
    assert_eq!(grandchild["finished_at"], 1_767_000_002);
    let denied = by(&d.denied);
    assert_eq!(
        (
            denied["decision"].clone(),
            denied["outcome"].clone(),
            denied["parent"].clone()
        ),
        (json!("deny"), json!("not_run"), json!(d.root))
    );
    assert_ne!(denied["reason_code"], json!(""));
    assert!(denied["decided_at"].as_i64().unwrap() > 1_700_000_000);
    assert!(nodes.iter().all(|n| n.get("redacted").is_none()));
    // The fields the console's execution page reads stay.
    assert_eq!(t["ancestors"][0]["execution"], json!(d.child));
    assert_eq!(t["ancestors"][1]["execution"], json!(d.root));
    assert_eq!(t["descendants"], json!([]));

    // agent:sub-bot may read its own executions, not the root's or triage-bot's denial: those
    // keep their place in the tree and nothing else.
    let (st, t) = srv.lineage(&d.sub, &d.child).await;
    assert_eq!(st, 200, "{t}");
    let nodes = t["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 4);
    for n in nodes {
        let id = n["execution"].as_str().unwrap();
        let hidden = id == d.root || id == d.denied;
        assert_eq!(n.get("redacted").is_some(), hidden, "{n}");
        assert_eq!(n.get("principal").is_none(), hidden, "{n}");
    }
    // triage-bot caused every one of them.
    let (_, t) = srv.lineage(&d.triage, &d.grandchild).await;
    assert!(
        t["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n.get("redacted").is_none()),
        "{t}"
    );

    // Unknown, malformed, unauthenticated, bad paging.
    let unknown = writ_model::ExecutionId::new_v7();
    assert_eq!(srv.lineage(&srv.admin, unknown).await.0, 404);
    assert_eq!(srv.lineage(&srv.admin, "nope").await.0, 400);
    let (st, _) = srv
        .call("GET", &format!("/v1/lineage/{}", d.root), None, None)
        .await;
    assert_eq!(st, 401);
    let stranger = srv.add_principal("agent:stranger", "dev").await;
    assert_eq!(srv.lineage(&stranger, &d.root).await.0, 404);
    for q in ["limit=0", "limit=1001", "cursor=x", "other=1"] {
        let (st, e) = srv
            .call(
                "GET",
                &format!("/v1/lineage/{}?{q}", d.root),
                Some(&srv.admin),
                None,
            )
            .await;
        assert_eq!(
            (st, e["code"].clone()),
            (400, json!("query_invalid")),
            "{q}"
        );
    }
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tree_larger_than_a_page_comes_whole_over_pages() {
    let (srv, agent, gate) = TestServer::provisioned().await;
    let read = |parent: Option<&str>| {
        let mut b =
            json!({"intent": tool("github/get_issue", json!({})), "attestation": gate.attest()});
        if let Some(p) = parent {
            b["parent"] = json!(p);
        }
        b
    };
    // A root with 4 children, each with 5 children: 25 executions, some denied.
    let root = srv.authorize_ok(&agent, read(None)).await["execution"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut all = BTreeSet::from([root.clone()]);
    for _ in 0..4 {
        let child = srv.authorize_ok(&agent, read(Some(&root))).await["execution"]
            .as_str()
            .unwrap()
            .to_owned();
        all.insert(child.clone());
        for k in 0..5 {
            let body = if k == 0 {
                json!({"intent": tool("fs/write_file", json!({"path": "/etc/x"})), "attestation": gate.attest(), "parent": child})
            } else {
                read(Some(&child))
            };
            let (_, a) = srv.authorize(&agent, body).await;
            all.insert(a["execution"].as_str().unwrap().to_owned());
        }
    }
    // Another tree in the same ledger is not part of it.
    srv.authorize_ok(&agent, read(None)).await;
    assert_eq!(all.len(), 25);
    let leaf = all.iter().last().unwrap().clone();
    for limit in [1, 7, 24, 25, 500] {
        let (nodes, pages) = all_pages(&srv, &agent, &leaf, limit).await;
        let ids: Vec<String> = nodes
            .iter()
            .map(|n| n["execution"].as_str().unwrap().to_owned())
            .collect();
        let unique: BTreeSet<String> = ids.iter().cloned().collect();
        assert_eq!(
            ids.len(),
            unique.len(),
            "a node came twice with limit {limit}"
        );
        assert_eq!(unique, all, "nodes lost with limit {limit}");
        assert_eq!(pages, 25usize.div_ceil(limit as usize), "limit {limit}");
        // Stable order: ledger order, each parent before its children.
        let indexes: Vec<u64> = nodes
            .iter()
            .map(|n| n["ledger_index"].as_u64().unwrap())
            .collect();
        assert!(indexes.windows(2).all(|w| w[0] < w[1]), "{indexes:?}");
        let mut seen = BTreeSet::new();
        for n in &nodes {
            if let Some(p) = n["parent"].as_str() {
                assert!(seen.contains(p), "{n} before its parent");
            }
            seen.insert(n["execution"].as_str().unwrap().to_owned());
        }
        assert_eq!(nodes.iter().filter(|n| n["decision"] == "deny").count(), 4);
    }
    srv.stop().await;
}
