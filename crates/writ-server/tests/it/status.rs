//! Status at a glance, readiness, metrics by route and the executions search (issue 14).

use serde_json::{Value, json};

use crate::harness::{Gate, TestServer};

fn call_tool(gate: &Gate, tool: &str, args: Value) -> Value {
    json!({"intent": {"action": "mcp.call_tool", "resource": format!("tool:{tool}"), "args": args}, "attestation": gate.attest()})
}

async fn person(srv: &TestServer, id: &str, role: Option<&str>) -> String {
    let mut body = json!({"id": id, "zone": "dev"});
    if let Some(r) = role {
        body["role"] = json!(r);
    }
    let (st, answer) = srv
        .call("POST", "/v1/admin/principals", Some(&srv.admin), Some(body))
        .await;
    assert_eq!(st, 201, "{answer}");
    answer["token"].as_str().unwrap().to_owned()
}

/// Issue 14: there was no way to see the control plane's state at a glance. `GET /v1/status`
/// reports the active bundle (who activated it, when), the kill switch, quarantines and
/// revocations in force, the gates seen, and the ledger's size, bytes and checkpoint age; it is
/// for operators (admin token, people with a role), not agents or gates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_reports_bundle_kill_switch_ledger_and_gates() {
    let (srv, agent, gate) = TestServer::provisioned().await;
    let auditor = person(&srv, "human:alice", Some("auditor")).await;
    let nobody = person(&srv, "human:bob", None).await;
    srv.authorize_ok(&agent, call_tool(&gate, "github/get_issue", json!({})))
        .await;
    let (st, s) = srv.call("GET", "/v1/status", Some(&srv.admin), None).await;
    assert_eq!(st, 200, "{s}");
    let active = srv.state.bundles.current().unwrap();
    assert_eq!(s["bundle"]["sha256"], active.digest());
    assert_eq!(s["bundle"]["activated_by"], "admin:root");
    assert!(s["bundle"]["activated_at"].as_i64().unwrap() > 1_700_000_000);
    assert_eq!(s["kill_switch"], false);
    let size = srv.state.ledger.checkpoint().size();
    assert_eq!(s["ledger"]["size"], size);
    assert!(s["ledger"]["bytes"].as_u64().unwrap() > 0, "{s}");
    assert!(s["ledger"]["checkpoint_age_ms"].is_u64(), "{s}");
    assert!(
        s["storage"]["total_bytes"].as_u64().unwrap() >= s["ledger"]["bytes"].as_u64().unwrap()
    );
    // Issue 14: the evidence store's size, as the ledger holds it.
    let (held, held_bytes) = srv.state.ledger.evidence_size().unwrap();
    assert!(held >= 1, "the v2 decision's disclosure: {s}");
    assert_eq!(s["evidence"]["disclosures"], held, "{s}");
    assert_eq!(s["evidence"]["bytes"], held_bytes, "{s}");
    assert!(held_bytes > 32 * held, "{s}");
    let g = s["gates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["gate"] == "gate:mcp-1")
        .unwrap_or_else(|| panic!("gate:mcp-1 missing: {s}"));
    assert_eq!(g["zone"], "dev");
    assert_eq!(g["executions"], 1);
    assert!(g["last_seen"].as_i64().unwrap() > 1_700_000_000);

    // Governance in force shows.
    srv.quarantine(json!({"zone": "staging"})).await;
    srv.quarantine(json!({"principal": "agent:triage-bot"}))
        .await;
    srv.revoke(json!({"zone": "legacy"})).await;
    let (st, body) = srv
        .call(
            "POST",
            "/v1/admin/kill-switch",
            Some(&srv.admin),
            Some(json!({"on": true})),
        )
        .await;
    assert_eq!(st, 200, "{body}");
    // A person with a role reads it too.
    let (st, s) = srv.call("GET", "/v1/status", Some(&auditor), None).await;
    assert_eq!(st, 200, "{s}");
    assert_eq!(s["kill_switch"], true);
    assert_eq!(s["quarantines"]["zones"], json!(["staging"]));
    assert_eq!(s["quarantines"]["principals"], json!(["agent:triage-bot"]));
    assert_eq!(s["revocations"]["zones"], json!(["legacy"]));
    assert!(s["ledger"]["size"].as_u64().unwrap() > size);

    // Agents, gates and people without a role do not.
    for token in [&agent, &gate.token, &nobody] {
        let (st, body) = srv.call("GET", "/v1/status", Some(token), None).await;
        assert_eq!(st, 403, "{body}");
        assert_eq!(body["code"], "scope_insufficient");
    }
    srv.stop().await;
}

/// Issue 14: `/readyz` did not say whether the kill switch was on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_reports_the_kill_switch() {
    let srv = TestServer::start().await;
    srv.activate_default().await;
    let (st, r) = srv.call("GET", "/readyz", None, None).await;
    assert_eq!((st, r["kill_switch"].clone()), (200, json!(false)), "{r}");
    let (st, body) = srv
        .call(
            "POST",
            "/v1/admin/kill-switch",
            Some(&srv.admin),
            Some(json!({"on": true})),
        )
        .await;
    assert_eq!(st, 200, "{body}");
    let (st, r) = srv.call("GET", "/readyz", None, None).await;
    assert_eq!((st, r["kill_switch"].clone()), (200, json!(true)), "{r}");
    srv.stop().await;
}

fn sample(metrics: &str, name_and_labels: &str) -> Option<f64> {
    metrics.lines().find_map(|l| {
        l.strip_prefix(name_and_labels)
            .and_then(|rest| rest.strip_prefix(' '))
            .and_then(|v| v.parse().ok())
    })
}

/// Issue 14: `writ_http_requests_total` was declared but never counted anything. Requests are
/// counted by route template (ids in paths would make a series per execution), method and
/// status, and timed; the ledger gauges follow the ledger.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_by_route_template() {
    let (srv, agent, _gate) = TestServer::provisioned().await;
    for id in [
        "0190f5c2-1c2d-7a00-8000-000000000001",
        "0190f5c2-1c2d-7a00-8000-000000000002",
        "0190f5c2-1c2d-7a00-8000-000000000003",
    ] {
        let (st, _) = srv.proof(&agent, id).await;
        assert_eq!(st, 404);
    }
    let (st, _) = srv.call("GET", "/v1/no/such/route", None, None).await;
    assert_eq!(st, 404);
    let resp = srv
        .client
        .get(srv.url("/metrics"))
        .bearer_auth(&srv.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let text = resp.text().await.unwrap();
    assert_eq!(
        sample(
            &text,
            r#"writ_http_requests_total{route="/v1/proofs/{execution}",method="GET",status="404"}"#
        ),
        Some(3.0),
        "{text}"
    );
    assert!(
        !text.contains("0190f5c2-1c2d-7a00-8000-000000000001"),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"writ_http_requests_total{route="/v1/admin/principals",method="POST",status="201"}"#
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"writ_http_requests_total{route="unmatched",method="GET",status="404"}"#
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"writ_http_request_duration_seconds_count{route="/v1/proofs/{execution}"}"#
        ),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "writ_ledger_entries"),
        Some(srv.state.ledger.checkpoint().size() as f64),
        "{text}"
    );
    assert!(
        sample(&text, "writ_checkpoint_age_seconds").is_some(),
        "{text}"
    );
    assert_eq!(sample(&text, "writ_kill_switch"), Some(0.0), "{text}");
    srv.stop().await;
}

async fn search(srv: &TestServer, token: &str, query: &str) -> Value {
    let (st, page) = srv
        .call("GET", &format!("/v1/executions{query}"), Some(token), None)
        .await;
    assert_eq!(st, 200, "{query}: {page}");
    page
}

fn executions(page: &Value) -> Vec<String> {
    page["executions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["execution"].as_str().unwrap().to_owned())
        .collect()
}

/// Issue 14: there was no way to find executions but to read the ledger. `GET /v1/executions`
/// searches by principal, decision, reason code, action, resource, gate, zone and time, pages
/// with a cursor, and shows a caller only the executions it may read (as proofs do).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executions_search_filters_pages_and_hides_others_executions() {
    let (srv, agent, gate) = TestServer::provisioned().await;
    let other = srv.add_principal("agent:other-bot", "dev").await;
    let gate2 = srv.add_gate("gate:mcp-two", "dev").await;
    let auditor = person(&srv, "human:alice", Some("auditor")).await;
    let mut mine = Vec::new();
    for n in 0..3 {
        let a = srv
            .authorize_ok(
                &agent,
                call_tool(&gate, "github/get_issue", json!({"n": n})),
            )
            .await;
        mine.push(a["execution"].as_str().unwrap().to_owned());
    }
    // A denial (a write outside /workspace).
    let (st, deny) = srv
        .authorize(
            &agent,
            call_tool(&gate, "fs/write_file", json!({"path": "/etc/passwd"})),
        )
        .await;
    assert_eq!(st, 403, "{deny}");
    let denied = deny["execution"].as_str().unwrap().to_owned();
    let theirs = srv
        .authorize_ok(&other, call_tool(&gate2, "github/get_issue", json!({})))
        .await["execution"]
        .as_str()
        .unwrap()
        .to_owned();

    // The admin sees all five, newest first.
    let all = search(&srv, &srv.admin, "").await;
    assert_eq!(
        executions(&all),
        vec![
            theirs.clone(),
            denied.clone(),
            mine[2].clone(),
            mine[1].clone(),
            mine[0].clone()
        ]
    );
    // The last page has no `next_cursor` at all (not `null`), as lineage's pages.
    assert!(all.get("next_cursor").is_none(), "{all}");
    let row = &all["executions"][1];
    assert_eq!(row["principal"], "agent:triage-bot");
    assert_eq!(row["action"], "mcp.call_tool");
    assert_eq!(row["resource"], "tool:fs/write_file");
    assert_eq!(row["gate"], "gate:mcp-1");
    assert_eq!(row["zone"], "dev");
    assert_eq!(row["decision"], "deny");
    assert!(row["ledger_index"].is_u64());

    // Each filter narrows.
    assert_eq!(
        executions(&search(&srv, &srv.admin, "?decision=deny").await),
        vec![denied.clone()]
    );
    let code = row["reason_code"].as_str().unwrap();
    assert_eq!(
        executions(&search(&srv, &srv.admin, &format!("?reason_code={code}")).await),
        vec![denied.clone()]
    );
    assert_eq!(
        executions(&search(&srv, &srv.admin, "?principal=agent:other-bot").await),
        vec![theirs.clone()]
    );
    assert_eq!(
        executions(
            &search(
                &srv,
                &srv.admin,
                "?resource=tool:fs/write_file&action=mcp.call_tool"
            )
            .await
        ),
        vec![denied.clone()]
    );
    assert_eq!(
        executions(&search(&srv, &srv.admin, "?gate=gate:mcp-two").await),
        vec![theirs.clone()]
    );
    assert_eq!(
        executions(&search(&srv, &srv.admin, "?zone=dev").await).len(),
        5
    );
    assert!(executions(&search(&srv, &srv.admin, "?zone=prod").await).is_empty());
    let t = row["time"].as_i64().unwrap();
    assert_eq!(
        executions(&search(&srv, &srv.admin, &format!("?since={}", t + 3600)).await).len(),
        0
    );
    assert_eq!(
        executions(&search(&srv, &srv.admin, &format!("?until={}", t - 3600)).await).len(),
        0
    );
    assert_eq!(
        executions(
            &search(
                &srv,
                &srv.admin,
                &format!("?since={}&until={}", t - 3600, t + 3600)
            )
            .await
        )
        .len(),
        5
    );

    // Pages of two, through the cursor, cover everything once.
    let mut seen = Vec::new();
    let mut query = "?limit=2".to_owned();
    loop {
        let page = search(&srv, &srv.admin, &query).await;
        assert!(executions(&page).len() <= 2);
        seen.extend(executions(&page));
        match page["next_cursor"].as_str() {
            Some(c) => query = format!("?limit=2&cursor={c}"),
            None => {
                assert!(page.get("next_cursor").is_none(), "{page}");
                break;
            }
        }
    }
    assert_eq!(seen, executions(&all));

    // An agent sees its own, never another's; a gate what it was named for; an auditor all.
    let own = search(&srv, &agent, "").await;
    assert_eq!(
        executions(&own),
        vec![
            denied.clone(),
            mine[2].clone(),
            mine[1].clone(),
            mine[0].clone()
        ]
    );
    assert!(executions(&search(&srv, &agent, "?principal=agent:other-bot").await).is_empty());
    assert_eq!(
        executions(&search(&srv, &other, "").await),
        vec![theirs.clone()]
    );
    assert_eq!(
        executions(&search(&srv, &gate2.token, "").await),
        vec![theirs.clone()]
    );
    assert_eq!(executions(&search(&srv, &auditor, "").await).len(), 5);
    // An agent's pages hold only its rows, cursor and all.
    let first = search(&srv, &other, "?limit=1").await;
    assert_eq!(executions(&first), vec![theirs.clone()]);

    // Bad queries are 400s with a code, never 500s.
    for bad in [
        "?limit=0",
        "?limit=501",
        "?decision=maybe",
        "?cursor=abc",
        "?since=x",
        "?bogus=1",
    ] {
        let (st, body) = srv
            .call(
                "GET",
                &format!("/v1/executions{bad}"),
                Some(&srv.admin),
                None,
            )
            .await;
        assert_eq!(
            (st, body["code"].clone()),
            (400, json!("query_invalid")),
            "{bad}: {body}"
        );
    }
    srv.stop().await;
}

/// The search shows a principal what its proofs show: executions in lineages it acted in (a
/// sub-agent's execution delegated from the agent's), and not its ancestors' executions to the
/// sub-agent (they share the root, so the SQL narrowing alone would let them through).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executions_search_follows_lineage_as_proofs_do() {
    let (srv, agent, gate) = TestServer::provisioned().await;
    let sub = srv.add_principal("agent:sub-bot", "dev").await;
    let grant = json!({"actions": ["mcp.call_tool"], "resources": ["tool:fs/*"], "zones": ["dev"]});
    let deleg = srv.authorize_ok(&agent, json!({"intent": {"action": "delegate", "resource": "agent:sub-bot", "args": grant}, "attestation": gate.attest()})).await;
    let child = srv
        .authorize_ok(&agent, json!({"intent": {"action": "mcp.call_tool", "resource": "tool:fs/read_file", "args": {"path": "/workspace/a"}}, "attestation": gate.attest(), "from_writ": deleg["writ"], "scope": {"max_uses": 1}}))
        .await;
    let deleg_id = deleg["execution"].as_str().unwrap().to_owned();
    let child_id = child["execution"].as_str().unwrap().to_owned();
    // The agent sees both: its delegation and the sub-agent's execution under it.
    assert_eq!(
        executions(&search(&srv, &agent, "").await),
        vec![child_id.clone(), deleg_id.clone()]
    );
    let (st, _) = srv.proof(&sub, &deleg_id).await;
    assert_eq!(st, 404, "the sub-agent may not read its parent's proof");
    // The sub-agent sees only its own, on every page size.
    assert_eq!(
        executions(&search(&srv, &sub, "").await),
        vec![child_id.clone()]
    );
    let page = search(&srv, &sub, "?limit=1").await;
    assert_eq!(executions(&page), vec![child_id.clone()]);
    if let Some(c) = page["next_cursor"].as_str() {
        assert!(executions(&search(&srv, &sub, &format!("?limit=1&cursor={c}")).await).is_empty());
    }
    srv.stop().await;
}

/// An index made before the search tables existed is filled from the ledger when it is opened:
/// executions decided earlier are searchable and the status knows who activated the bundle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executions_search_covers_an_index_made_before_it() {
    let (srv, agent, gate) = TestServer::provisioned().await;
    let earlier = srv
        .authorize_ok(&agent, call_tool(&gate, "github/get_issue", json!({})))
        .await["execution"]
        .as_str()
        .unwrap()
        .to_owned();
    srv.state.execs.caught_up().await.unwrap();
    let config = srv.state.config.clone();
    let (dir, admin, key) = srv.stop().await;
    {
        let conn = rusqlite::Connection::open(config.data_dir.join("index.db")).unwrap();
        conn.execute_batch("DROP TABLE execution_search; DROP TABLE status_activation;")
            .unwrap();
    }
    let srv = TestServer::start_in(dir, config, admin, key).await;
    assert_eq!(
        executions(&search(&srv, &srv.admin, "").await),
        vec![earlier]
    );
    let (st, s) = srv.call("GET", "/v1/status", Some(&srv.admin), None).await;
    assert_eq!(st, 200, "{s}");
    assert_eq!(s["bundle"]["activated_by"], "admin:root", "{s}");
    srv.stop().await;
}
