//! Every documented route refuses a missing token (401) and, for admin routes, an agent's token (403).

use serde_json::{Value, json};

use crate::harness::TestServer;

fn concrete(path: &str) -> String {
    path.split('/')
        .map(|seg| match seg {
            "{execution}" => "0190f5c2-1c2d-7a00-8000-000000000000",
            "{jti}" => "some-jti",
            "{id}" => "agent:nobody",
            "{path}" => "0/000",
            s => s,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Finding 13 of the security review: `POST /v1/authorize/visible` was routed but missing from
/// /v1/openapi.json, and the coverage test walked the document, so it never saw that route.
/// Now the router's own table is the list: every routed (method, path) must be documented,
/// every documented one routed, and each request body described by its real fields.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_routed_path_is_in_the_api_document() {
    let srv = TestServer::start().await;
    let (st, doc) = srv.call("GET", "/v1/openapi.json", None, None).await;
    assert_eq!(st, 200);
    let routed = writ_server::api::routed();
    for (method, path) in &routed {
        let op = &doc["paths"][path.as_str()][*method];
        assert!(
            op.is_object(),
            "{method} {path} is routed but not in the API document"
        );
        if let Some(body) = op.get("requestBody") {
            let schema = &body["content"]["application/json"]["schema"];
            assert!(
                schema["properties"]
                    .as_object()
                    .is_some_and(|p| !p.is_empty()),
                "{method} {path}: the body schema names no fields: {schema}"
            );
        }
    }
    let documented: usize = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|ops| ops.as_object().unwrap().len())
        .sum();
    assert_eq!(
        documented,
        routed.len(),
        "documented operations that are not routed"
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_needs_the_right_token() {
    let srv = TestServer::start().await;
    let agent = srv.add_principal("agent:triage-bot", "dev").await;
    let (st, doc) = srv.call("GET", "/v1/openapi.json", None, None).await;
    assert_eq!(st, 200);
    let mut checked = 0;
    let mut admin_checked = 0;
    // The router's own routes, looked up in the document (a route missing there fails here).
    for (method, path) in writ_server::api::routed() {
        let op = &doc["paths"][path.as_str()][method];
        assert!(op.is_object(), "{method} {path} is not documented");
        let public = op["security"].as_array().unwrap().is_empty();
        if public {
            continue;
        }
        let url = concrete(&path);
        let body = op.get("requestBody").map(|_| json!({}));
        let (st, resp) = srv
            .call(&method.to_uppercase(), &url, None, body.clone())
            .await;
        assert_eq!(
            st, 401,
            "{method} {url} without a token answered {st}: {resp}"
        );
        assert_eq!(resp["code"], "unauthenticated", "{method} {url}: {resp}");
        let (st, _) = srv
            .call(
                &method.to_uppercase(),
                &url,
                Some("writ_admin_forged"),
                body.clone(),
            )
            .await;
        assert_eq!(
            st, 401,
            "{method} {url} with an unknown token answered {st}"
        );
        checked += 1;
        // Admin, governance and whole-state reads: never an agent's token.
        if matches!(
            op["x-writ-access"].as_str(),
            Some("admin" | "operator" | "reader" | "gate_or_reader")
        ) {
            let (st, resp) = srv
                .call(&method.to_uppercase(), &url, Some(&agent), body)
                .await;
            assert_eq!(
                st, 403,
                "{method} {url} with an agent token answered {st}: {resp}"
            );
            assert_eq!(resp["code"], "scope_insufficient");
            admin_checked += 1;
        }
    }
    assert!(checked >= 15, "only {checked} protected routes documented");
    assert!(
        admin_checked >= 10,
        "only {admin_checked} admin routes documented"
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_routes_answer_without_a_token() {
    let srv = TestServer::start().await;
    for path in [
        "/healthz",
        "/v1/openapi.json",
        "/.well-known/jwks.json",
        "/ledger/checkpoint",
        "/v1/ledger/vkey",
    ] {
        let (st, body) = srv.call("GET", path, None, None).await;
        assert_eq!(st, 200, "{path}: {body}");
    }
    // Not ready until a bundle is active: fail closed.
    let (st, body) = srv.call("GET", "/readyz", None, None).await;
    assert_eq!(
        (st, body["code"].clone()),
        (503, Value::from("no_active_bundle"))
    );
    srv.activate_default().await;
    let (st, _) = srv.call("GET", "/readyz", None, None).await;
    assert_eq!(st, 200);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_4xx_with_a_code() {
    let srv = TestServer::start().await;
    let agent = srv.add_principal("agent:triage-bot", "dev").await;
    let client = &srv.client;
    let url = srv.url("/v1/authorize");
    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
        (
            client
                .post(&url)
                .bearer_auth(&agent)
                .header("content-type", "application/json")
                .body("{not json"),
            400,
            "json_invalid",
        ),
        (
            client
                .post(&url)
                .bearer_auth(&agent)
                .header("content-type", "text/plain")
                .body("{}"),
            415,
            "content_type_invalid",
        ),
        (
            client
                .post(&url)
                .bearer_auth(&agent)
                .json(&json!({"intent": {"action": "x", "resource": "y"}, "bogus": 1})),
            422,
            "json_schema_invalid",
        ),
        (
            client
                .post(&url)
                .bearer_auth(&agent)
                .header("content-type", "application/json")
                .body(vec![b' '; 300 * 1024]),
            413,
            "body_too_large",
        ),
        (
            client
                .post(&url)
                .header(
                    "authorization",
                    reqwest::header::HeaderValue::from_bytes(b"Bearer \xff\xfe").unwrap(),
                )
                .json(&json!({})),
            401,
            "unauthenticated",
        ),
        (
            client
                .post(&url)
                .bearer_auth("writ_principal_guess")
                .json(&json!({})),
            401,
            "unauthenticated",
        ),
        (
            client.get(srv.url("/v1/no/such/route")),
            404,
            "route_not_found",
        ),
    ];
    for (req, want_status, want_code) in cases {
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap();
        assert_eq!(status, want_status, "{body}");
        assert_eq!(body["code"], want_code, "{body}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    // A field of the wrong type is named by its path, so the caller knows what to fix.
    let resp = client
        .post(&url)
        .bearer_auth(&agent)
        .json(&json!({"intent": {"action": 7, "resource": "tool:x", "args": {}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 422);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("intent.action")),
        "{body}"
    );
    let size = srv.state.ledger.checkpoint().size();
    // Nothing above reached the ledger beyond the principal registration.
    assert_eq!(size, 1);
    srv.stop().await;
}
