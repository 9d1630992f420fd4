//! The API against its own document: schemathesis (from PyPI, installed by scripts/test.sh into
//! the interop venv) generates requests from /v1/openapi.json and sends them to a real server.
//!
//! Needs WRIT_TEST_PYTHON (a Python with tests/interop/requirements.txt). Without it the test is
//! skipped, unless WRIT_REQUIRE_CONFORMANCE=1 makes it required.

use std::process::Command;

use crate::harness::TestServer;

/// Issue 12 (fuzzing, and finding 13): every answer of the API conforms to its document.
/// With the admin token and a bounded, seeded number of examples per operation, schemathesis
/// checks that no request gets a 5xx (or kills the server), that every status code and media
/// type answered is documented, and that every JSON answer matches its documented schema.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_answers_as_its_document_says() {
    let python = match std::env::var("WRIT_TEST_PYTHON") {
        Ok(p) if !p.is_empty() => p,
        _ => {
            assert!(
                std::env::var("WRIT_REQUIRE_CONFORMANCE").as_deref() != Ok("1"),
                "WRIT_TEST_PYTHON is not set but WRIT_REQUIRE_CONFORMANCE=1: run scripts/test.sh"
            );
            eprintln!("skipped: WRIT_TEST_PYTHON not set (schemathesis)");
            return;
        }
    };
    let srv = TestServer::start().await;
    // Ready (an active bundle), with a principal and a gate, as in service.
    srv.activate_default().await;
    srv.add_principal("agent:triage-bot", "dev").await;
    srv.add_gate("gate:mcp-1", "dev").await;
    let work = tempfile::tempdir().unwrap();
    let schema = srv.url("/v1/openapi.json");
    let auth = format!("Authorization: Bearer {}", srv.admin);
    let out = tokio::task::spawn_blocking({
        let work = work.path().to_owned();
        move || {
            Command::new(python)
                .current_dir(work)
                .args([
                    "-c",
                    "import sys; from schemathesis.cli import schemathesis; sys.exit(schemathesis())",
                    "run",
                    &schema,
                    "--header",
                    &auth,
                    "--checks",
                    "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
                    "--max-examples",
                    "25",
                    "--seed",
                    "20261205",
                    "--generation-database",
                    "none",
                    "--request-timeout",
                    "30",
                    "--no-color",
                ])
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "schemathesis found failures (exit {:?}):\n{stdout}\n{stderr}",
        out.status.code()
    );
    // The server is still up and well after the run.
    let (st, _) = srv.call("GET", "/readyz", None, None).await;
    assert_eq!(st, 200);
    srv.stop().await;
}
