//! Trusted bundle keys managed through the API (`writ policy trust`): each change is a ledger
//! event, takes effect without a restart and survives one.

use serde_json::{Value, json};
use writ_authorize::BundleSigningKey;
use writ_server::ServerConfig;

use crate::harness::{TestServer, bundle_files, sign_files};

fn types_in_ledger(srv: &TestServer) -> Vec<Value> {
    let size = srv.state.ledger.checkpoint().size();
    (0..size)
        .filter_map(|i| srv.state.ledger.entry(i).ok())
        .filter_map(|e| serde_json::from_slice::<Value>(&e).ok())
        .filter(|v| v["type"] == "trust.changed")
        .collect()
}

#[tokio::test]
async fn trusted_keys_are_added_and_removed_without_restart() {
    let srv = TestServer::start().await;
    let old = srv.bundle_key.verifying_key();
    let new = BundleSigningKey::from_seed([42; 32]);
    let mut files = bundle_files(None);
    sign_files(&new, &mut files);

    // A bundle signed by a key not yet trusted is refused.
    let (st, body) = srv.post_bundle(&files).await;
    assert_eq!(st, 422, "{body}");
    assert_eq!(body["code"], "bundle_key_untrusted", "{body}");

    // Trusting it takes effect at once.
    let (st, body) = srv
        .call(
            "POST",
            "/v1/admin/trust",
            Some(&srv.admin),
            Some(json!({"key": new.verifying_key().to_hex()})),
        )
        .await;
    assert_eq!(st, 201, "{body}");
    assert_eq!(body["trusted"]["kid"], new.verifying_key().kid());
    let (st, body) = srv
        .call(
            "POST",
            "/v1/admin/trust",
            Some(&srv.admin),
            Some(json!({"key": new.verifying_key().to_hex()})),
        )
        .await;
    assert_eq!((st, body["code"].as_str()), (409, Some("trust_key_exists")));
    let (st, body) = srv.post_bundle(&files).await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["signed_by"], new.verifying_key().kid());

    // The active bundle's signer stays; the old key goes.
    let (st, body) = srv
        .call(
            "POST",
            &format!("/v1/admin/trust/{}/remove", new.verifying_key().kid()),
            Some(&srv.admin),
            None,
        )
        .await;
    assert_eq!(st, 409, "{body}");
    assert_eq!(body["code"], "trust_key_in_use", "{body}");
    let (st, body) = srv
        .call(
            "POST",
            &format!("/v1/admin/trust/{}/remove", old.kid()),
            Some(&srv.admin),
            None,
        )
        .await;
    assert_eq!(st, 200, "{body}");
    let (st, body) = srv
        .call(
            "POST",
            &format!("/v1/admin/trust/{}/remove", old.kid()),
            Some(&srv.admin),
            None,
        )
        .await;
    assert_eq!(
        (st, body["code"].as_str()),
        (404, Some("trust_key_unknown"))
    );

    // A bundle signed by the removed key is refused from now on.
    let mut by_old = bundle_files(Some("permit(principal, action, resource) when { false };"));
    sign_files(&srv.bundle_key, &mut by_old);
    let (st, body) = srv.post_bundle(&by_old).await;
    assert_eq!(
        (st, body["code"].as_str()),
        (422, Some("bundle_key_untrusted"))
    );

    // Only admins manage trust.
    let agent = srv.add_principal("agent:triage-bot", "dev").await;
    let (st, _) = srv.call("GET", "/v1/admin/trust", Some(&agent), None).await;
    assert_eq!(st, 403);

    // Both changes are ledger events.
    let events = types_in_ledger(&srv);
    let changes: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e["change"].as_str().unwrap(), e["kid"].as_str().unwrap()))
        .collect();
    let (new_kid, old_kid) = (new.verifying_key().kid(), old.kid());
    assert_eq!(
        changes,
        [("added", new_kid.as_str()), ("removed", old_kid.as_str())]
    );

    // And they survive a restart: the new key alone is trusted, the bundle it signed loads.
    let (dir, admin, key) = srv.stop().await;
    let config = ServerConfig {
        data_dir: dir.path().join("data"),
        ..ServerConfig::default()
    };
    let srv = TestServer::start_in(dir, config, admin, key).await;
    let (st, body) = srv
        .call("GET", "/v1/admin/trust", Some(&srv.admin), None)
        .await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(
        body["keys"],
        json!([{"kid": new_kid, "key": new.verifying_key().to_hex()}])
    );
    let (st, body) = srv
        .call("GET", "/v1/admin/bundles/active", Some(&srv.admin), None)
        .await;
    assert_eq!(
        (st, body["signed_by"].as_str()),
        (200, Some(new_kid.as_str()))
    );
}

#[tokio::test]
async fn a_secret_key_is_refused_where_a_public_key_is_expected() {
    let srv = TestServer::start().await;
    let secret = BundleSigningKey::from_seed([9; 32]);
    for key in [secret.to_hex(), "not hex".to_owned(), "ab".repeat(16)] {
        let (st, body) = srv
            .call(
                "POST",
                "/v1/admin/trust",
                Some(&srv.admin),
                Some(json!({ "key": key })),
            )
            .await;
        assert_eq!(st, 400, "{body}");
        let want = if key.starts_with("writ-bundle-secret:") {
            "secret_key_given"
        } else {
            "verifying_key_invalid"
        };
        assert_eq!(body["code"], want, "{key}: {body}");
    }
    let (st, body) = srv
        .call("GET", "/v1/admin/trust", Some(&srv.admin), None)
        .await;
    assert_eq!(st, 200);
    assert_eq!(body["keys"].as_array().map(Vec::len), Some(1), "{body}");
}
