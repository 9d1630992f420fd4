//! `writ demo --web`: the demo's scenario played step by step in the browser (`/ui/demo`).
//!
//! The steps run here, in the demo process, with the same code as `writ demo` ([`World::play`]);
//! the browser triggers them through two routes merged into this process's control plane only
//! (`writ serve` has no such routes): `GET /v1/demo` (the steps and their state) and
//! `POST /v1/demo/steps/{n}` (run step n). Both take the bearer token of the demo's viewer,
//! `human:demo` (role auditor), minted at start and handed to the browser in the URL's fragment.
//! Steps run in order, once each: any other request answers 409 and changes nothing.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use anyhow::{Context, anyhow};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use writ_server::AppState;
use writ_server::auth::Access;

use crate::cli_output::{Exit, Format};
use crate::demo_cmd::{STEPS, World};

/// The demo's viewer: a person with a read-only role.
const VIEWER: &str = "human:demo";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Pending,
    Running,
    Done,
    Failed,
}

impl Phase {
    fn as_str(self) -> &'static str {
        match self {
            Phase::Pending => "pending",
            Phase::Running => "running",
            Phase::Done => "done",
            Phase::Failed => "failed",
        }
    }
}

struct StepState {
    phase: Phase,
    /// The step's answer once it ran (done or failed).
    result: Value,
}

/// What the demo routes share.
struct Web {
    /// The control plane's state (to check bearer tokens), once it started.
    app: OnceLock<Arc<AppState>>,
    /// The scenario; held while a step runs, so a second step cannot start meanwhile.
    world: Arc<tokio::sync::Mutex<Option<World>>>,
    /// Each step's state, readable while a step runs.
    steps: Mutex<Vec<StepState>>,
}

impl Web {
    fn steps(&self) -> std::sync::MutexGuard<'_, Vec<StepState>> {
        // A poisoned lock only means a panic elsewhere; the states themselves stay consistent.
        self.steps
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn refusal(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (
        status,
        Json(json!({"code": code, "message": message.into()})),
    )
        .into_response()
}

/// Only the demo's viewer may read or play the demo: the refusal for anyone else.
fn not_viewer(web: &Web, headers: &HeaderMap) -> Option<Response> {
    let Some(app) = web.app.get() else {
        return Some(refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            "demo_starting",
            "the demo is still starting",
        ));
    };
    let caller = match writ_server::guard::require(app, headers, Access::Reader) {
        Ok(c) => c,
        Err(e) => return Some(e.into_response()),
    };
    if caller.subject != VIEWER {
        return Some(refusal(
            StatusCode::FORBIDDEN,
            writ_model::ReasonCode::ScopeInsufficient.as_str(),
            format!("only the demo's viewer ({VIEWER}) plays the demo"),
        ));
    }
    None
}

fn ledger_size(web: &Web) -> u64 {
    web.app.get().map_or(0, |a| a.ledger.checkpoint().size())
}

async fn overview(State(web): State<Arc<Web>>, headers: HeaderMap) -> Response {
    if let Some(r) = not_viewer(&web, &headers) {
        return r;
    }
    let steps = web.steps();
    let list: Vec<Value> = STEPS
        .iter()
        .zip(steps.iter())
        .enumerate()
        .map(|(i, ((stage, title), st))| {
            json!({"n": i + 1, "stage": stage, "title": title, "state": st.phase.as_str(), "result": st.result})
        })
        .collect();
    let next = steps
        .iter()
        .position(|s| s.phase != Phase::Done)
        .map_or(Value::Null, |i| json!(i + 1));
    let vkey = web.app.get().map(|a| a.ledger.vkey());
    Json(json!({"steps": list, "next": next, "ledger_size": ledger_size(&web), "vkey": vkey}))
        .into_response()
}

async fn play(State(web): State<Arc<Web>>, headers: HeaderMap, Path(n): Path<String>) -> Response {
    if let Some(r) = not_viewer(&web, &headers) {
        return r;
    }
    let Some(n) = n
        .parse::<usize>()
        .ok()
        .filter(|n| (1..=STEPS.len()).contains(n))
    else {
        return refusal(
            StatusCode::NOT_FOUND,
            "demo_no_such_step",
            format!("the demo's steps are 1 to {}", STEPS.len()),
        );
    };
    let Ok(mut world) = Arc::clone(&web.world).try_lock_owned() else {
        return refusal(
            StatusCode::CONFLICT,
            "demo_step_running",
            "another step is running; wait for it to end",
        );
    };
    {
        let mut steps = web.steps();
        if let Some(k) = steps.iter().position(|s| s.phase == Phase::Failed) {
            return refusal(
                StatusCode::CONFLICT,
                "demo_step_failed",
                format!(
                    "step {} failed, the story cannot go on: restart writ demo --web",
                    k + 1
                ),
            );
        }
        let next = steps.iter().position(|s| s.phase != Phase::Done);
        match next {
            None => {
                return refusal(
                    StatusCode::CONFLICT,
                    "demo_step_done",
                    format!("step {n} already ran; every step has"),
                );
            }
            Some(i) if i + 1 > n => {
                return refusal(
                    StatusCode::CONFLICT,
                    "demo_step_done",
                    format!("step {n} already ran; the next step is {}", i + 1),
                );
            }
            Some(i) if i + 1 < n => {
                return refusal(
                    StatusCode::CONFLICT,
                    "demo_step_out_of_order",
                    format!("steps run in order: run step {} first", i + 1),
                );
            }
            Some(_) => {}
        }
        if let Some(s) = steps.get_mut(n - 1) {
            s.phase = Phase::Running;
        }
    }
    let before = ledger_size(&web);
    // The step runs in its own task: a browser that goes away mid-step does not cut it short.
    let task = tokio::spawn(async move {
        match world.as_mut() {
            Some(w) => w.play(n).await,
            None => Err(anyhow!("the demo is stopping")),
        }
    });
    let outcome = task
        .await
        .map_err(|e| anyhow!("the step's task ended abnormally: {e}"))
        .and_then(|r| r);
    let after = ledger_size(&web);
    let (status, phase, body) = match outcome {
        Ok(step) => {
            let mut body = serde_json::to_value(&step).unwrap_or(Value::Null);
            if let Some(o) = body.as_object_mut() {
                o.insert("n".into(), json!(n));
                o.insert("state".into(), json!("done"));
                o.insert("ledger_before".into(), json!(before));
                o.insert("ledger_after".into(), json!(after));
            }
            (StatusCode::OK, Phase::Done, body)
        }
        Err(e) => {
            tracing::error!(step = n, error = %format!("{e:#}"), "demo step failed");
            let body = json!({
                "n": n, "state": "failed", "code": "demo_step_failed",
                "message": format!("{e:#}"), "ledger_before": before, "ledger_after": after,
            });
            (StatusCode::INTERNAL_SERVER_ERROR, Phase::Failed, body)
        }
    };
    if let Some(s) = web.steps().get_mut(n - 1) {
        s.phase = phase;
        s.result = body.clone();
    }
    (status, Json(body)).into_response()
}

/// Runs the web demo until Ctrl-C or SIGTERM.
pub async fn run(dir: Option<PathBuf>, format: Format) -> anyhow::Result<Exit> {
    let tmp;
    let data_dir = match dir {
        Some(d) => d,
        None => {
            tmp = tempfile::tempdir().context("cannot create a temporary directory")?;
            tmp.path().join("writ-data")
        }
    };
    let web = Arc::new(Web {
        app: OnceLock::new(),
        world: Arc::new(tokio::sync::Mutex::new(None)),
        steps: Mutex::new(
            STEPS
                .iter()
                .map(|_| StepState {
                    phase: Phase::Pending,
                    result: Value::Null,
                })
                .collect(),
        ),
    });
    let routes = axum::Router::new()
        .route("/v1/demo", get(overview))
        .route("/v1/demo/steps/{n}", post(play))
        .with_state(Arc::clone(&web));
    let world = World::start(data_dir.clone(), routes).await?;
    let registered = world
        .control_plane()
        .admin(
            world.admin_token(),
            "POST",
            "/v1/admin/principals",
            Some(&json!({"id": VIEWER, "zone": "dev", "role": "auditor"})),
        )
        .await?;
    let token = registered
        .pointer("/token")
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("no token for {VIEWER}"))?
        .to_owned();
    let base = world.base.clone();
    let vkey = world.state.ledger.vkey();
    let _ = web.app.set(Arc::clone(&world.state));
    *web.world.lock().await = Some(world);
    // The token goes in the fragment: browsers never send it to the server.
    let url = format!("{base}/ui/demo#token={token}");
    if format == Format::Json {
        println!(
            "{}",
            json!({"url": url, "server": base, "data_dir": data_dir, "vkey": vkey})
        );
    } else {
        println!(
            "Writ demo, in the browser: every agent action goes verify -> authorize -> execute -> prove."
        );
        println!("Control plane: {base} (data: {})", data_dir.display());
        println!("Ledger verifier key (the page verifies the proof against it): {vkey}");
        println!(
            "Open this URL in a browser; it carries the demo viewer's token, keep it to yourself:"
        );
        println!("\n    {url}\n");
        println!("Press Ctrl-C to stop.");
    }
    drop(token);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot watch SIGTERM")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("cannot watch Ctrl-C")?,
        _ = term.recv() => {}
    }
    eprintln!("stopping the demo");
    let world = web.world.lock().await.take();
    if let Some(w) = world {
        w.stop().await?;
    }
    Ok(Exit::Ok)
}
