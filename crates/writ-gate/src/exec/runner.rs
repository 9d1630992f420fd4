//! The command runner: authorize the exact command, verify the writ as a gate, run it in the
//! sandbox launcher, keep validating while it runs (lease renewal, the event feed), stop it
//! when governance says so, and post a signed receipt of what happened.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, watch};
use writ_artifact::{VerifiedWrit, WritClaims};
use writ_model::env::{Containment, EnvironmentAttestation, EnvironmentClaims};
use writ_model::receipt::Outcome;
use writ_model::{Clock, ExecutionId, IntentDigest, PrincipalId, ReasonCode};

use super::command::ExecRequest;
use super::error::ExecError;
use super::sandbox::{LandlockSupport, SandboxArgs, landlock_support};
use crate::call_log::{CallDecision, GovernedCall};
use crate::client::{Authorization, AuthorizeOptions, ControlPlane};
use crate::error::GateError;
use crate::gate::Gate;

/// How often a running command is checked against the revocation set and the feed's health
/// even when no event arrives (events wake the check at once).
const WATCH_TICK: Duration = Duration::from_millis(200);
/// How long output is still read after the command exited (a background child may hold the pipes).
const OUTPUT_DRAIN: Duration = Duration::from_secs(1);
/// Control-plane silence tolerated while running, when the gate has no feed grace configured.
const DEFAULT_GRACE_SECS: i64 = 15;

/// Settings of a runner.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// The acting principal's token (authorize, lease renewal).
    pub principal_token: String,
    /// The gate's token (receipts, the event feed).
    pub gate_token: String,
    /// The sandbox launcher and the arguments that select it (`writ` + `__sandbox`, or
    /// `writ-sandbox` + nothing).
    pub sandbox_program: PathBuf,
    pub sandbox_prefix: Vec<OsString>,
    /// Run when the kernel cannot enforce the writ's filesystem limits (said plainly).
    pub allow_unenforced_fs: bool,
    /// Run when the kernel offers no namespaces to contain the command (said plainly; the
    /// processes it starts may then outlive it).
    pub allow_uncontained: bool,
    /// Writ's own files the command must not read (the gate key, token files): hidden in the
    /// command's mount namespace.
    pub hide: Vec<PathBuf>,
    /// Between SIGTERM and SIGKILL.
    pub kill_grace: Duration,
    /// Lease renewal period (renewal also happens at half of the remaining lease when sooner).
    pub renew_every: Duration,
    /// How long to wait for the event feed to connect before the gate check.
    pub feed_wait: Duration,
    /// Keep stdout/stderr in the report instead of passing them through (library users, tests).
    pub capture_output: bool,
    /// Writ lifetime to ask for.
    pub lifetime_secs: Option<i64>,
    /// When set, a writ issued to any other principal is refused (`--as`).
    pub expected_principal: Option<PrincipalId>,
    /// The caller's W3C trace (`TRACEPARENT`, `--traceparent`): the command's span and the
    /// writ's lineage join it.
    pub traceparent: Option<writ_model::TraceParent>,
}

impl RunnerConfig {
    pub fn new(principal_token: String, gate_token: String, sandbox_program: PathBuf) -> Self {
        Self {
            principal_token,
            gate_token,
            sandbox_program,
            sandbox_prefix: Vec::new(),
            allow_unenforced_fs: false,
            allow_uncontained: false,
            hide: Vec::new(),
            kill_grace: Duration::from_secs(5),
            renew_every: Duration::from_secs(10),
            feed_wait: Duration::from_secs(5),
            capture_output: false,
            lifetime_secs: None,
            expected_principal: None,
            traceparent: None,
        }
    }
}

/// An execution allowed and about to start.
struct Started {
    execution: ExecutionId,
    digest: IntentDigest,
    started_at: i64,
    /// What the runner attested about containment.
    containment: Containment,
}

/// The gate's attestation with the runner's containment claim (renewals carry the same claims
/// as the authorization, so a re-decision sees them too).
fn attest(gate: &Gate, containment: Containment) -> Result<EnvironmentAttestation, GateError> {
    let mut claims = EnvironmentClaims::new(gate.zone().clone(), gate.id().clone());
    claims.containment = Some(containment);
    gate.attest_claims(claims)
}

/// Why this kernel cannot fully contain a command, if it cannot; probed without restricting
/// anything: Landlock with the launcher's whole ABI (filesystem rules and signal scoping), and
/// user, PID and mount namespaces neither missing nor switched off (`user.max_*_namespaces` of
/// 0, `kernel.unprivileged_userns_clone` of 0 for a user other than root).
pub fn containment_gap() -> Option<String> {
    use landlock::{ABI, Access, AccessFs, CompatLevel, Compatible, Ruleset, RulesetAttr, Scope};
    let abi = ABI::V6;
    let full = Ruleset::default()
        .set_compatibility(CompatLevel::HardRequirement)
        .handle_access(AccessFs::from_all(abi))
        .and_then(|r| r.scope(Scope::from_all(abi)))
        .and_then(|r| r.create());
    if let Err(e) = full {
        return Some(format!(
            "Landlock (ABI 6, with signal scoping) is not enforced: {e}"
        ));
    }
    for ns in ["user", "pid", "mnt"] {
        if !std::path::Path::new(&format!("/proc/self/ns/{ns}")).exists() {
            return Some(format!("the kernel has no {ns} namespaces"));
        }
    }
    let read = |f: &str| std::fs::read_to_string(f).ok().map(|s| s.trim().to_owned());
    for f in [
        "/proc/sys/user/max_user_namespaces",
        "/proc/sys/user/max_pid_namespaces",
        "/proc/sys/user/max_mnt_namespaces",
    ] {
        if read(f).as_deref() == Some("0") {
            return Some(format!("namespaces are switched off ({f} is 0)"));
        }
    }
    if !nix::unistd::geteuid().is_root()
        && read("/proc/sys/kernel/unprivileged_userns_clone").as_deref() == Some("0")
    {
        return Some("unprivileged user namespaces are switched off".into());
    }
    None
}

/// Why governance stopped a running command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Termination {
    pub reason_code: ReasonCode,
    pub message: String,
    /// SIGKILL was needed after the grace period.
    pub killed: bool,
}

/// What happened to one command.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub execution: ExecutionId,
    pub jti: String,
    pub outcome: Outcome,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub reason_code: Option<String>,
    pub termination: Option<Termination>,
    pub stdout_sha256: String,
    pub stderr_sha256: String,
    pub stdout_bytes: u64,
    pub stderr_bytes: u64,
    /// SHA-256 of the canonical JSON result document the receipt digests.
    pub result_sha256: String,
    pub receipt_index: Option<u64>,
    pub receipt_error: Option<String>,
    #[serde(skip)]
    pub stdout: Option<Vec<u8>>,
    #[serde(skip)]
    pub stderr: Option<Vec<u8>>,
}

impl RunReport {
    /// The exit code a shell would show: the command's own, or 128 + signal.
    pub fn shell_exit_code(&self) -> u8 {
        match (self.exit_code, self.signal) {
            (Some(c), _) => u8::try_from(c.clamp(0, 255)).unwrap_or(1),
            (None, Some(s)) => u8::try_from((128 + s).clamp(0, 255)).unwrap_or(1),
            (None, None) => 1,
        }
    }
}

/// A command runner: one gate, one control plane.
pub struct Runner {
    cp: ControlPlane,
    gate: Arc<Gate>,
    clock: Arc<dyn Clock>,
    config: RunnerConfig,
    events: watch::Sender<u64>,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("gate", &self.gate)
            .finish_non_exhaustive()
    }
}

enum Lease {
    Renewed,
    Denied(String),
    Failed(String),
}

/// The outcome of a governance check on a running command.
fn governance_check(
    gate: &Gate,
    claims: &WritClaims,
    now: i64,
    lease_denied: Option<&str>,
    cp_silent: Duration,
    grace_secs: i64,
    last_lease_error: Option<&str>,
) -> Option<(ReasonCode, String)> {
    if let Err(e) = gate.revocations().check(claims) {
        return Some((e.reason_code(), e.to_string()));
    }
    if let Some(why) = lease_denied {
        return Some((ReasonCode::LeaseDenied, why.to_owned()));
    }
    if let Some(feed) = gate.feed()
        && let Err(e) = feed.require_fresh(now)
    {
        return Some((e.reason_code(), e.to_string()));
    }
    let grace = u64::try_from(grace_secs).unwrap_or(0);
    if cp_silent > Duration::from_secs(grace) {
        return Some((
            ReasonCode::ControlPlaneUnreachable,
            format!(
                "no lease renewal for {} s (grace {grace} s): {}",
                cp_silent.as_secs(),
                last_lease_error.unwrap_or("no answer")
            ),
        ));
    }
    None
}

impl Runner {
    pub fn new(
        cp: ControlPlane,
        gate: Arc<Gate>,
        clock: Arc<dyn Clock>,
        config: RunnerConfig,
    ) -> Self {
        let (events, _) = watch::channel(0);
        Self {
            cp,
            gate,
            clock,
            config,
            events,
        }
    }

    pub fn gate(&self) -> &Arc<Gate> {
        &self.gate
    }

    /// Follows the event feed for this runner's gate (revocations reach running commands at
    /// once). Abort the handle to stop.
    pub fn follow_feed(&self) -> Option<tokio::task::JoinHandle<()>> {
        let health = self.gate.feed()?.clone();
        let tx = self.events.clone();
        Some(tokio::spawn(crate::events::follow(
            self.cp.clone(),
            self.config.gate_token.clone(),
            self.gate.revocations().clone(),
            health,
            self.clock.clone(),
            move |_| tx.send_modify(|n| *n = n.wrapping_add(1)),
        )))
    }

    fn grace_secs(&self) -> i64 {
        self.gate
            .feed()
            .map_or(DEFAULT_GRACE_SECS, |f| f.grace_secs())
    }

    /// Authorizes, verifies, runs and reports one command.
    pub async fn run(&self, req: &ExecRequest) -> Result<RunReport, ExecError> {
        self.run_with(req, |_| {}).await
    }

    /// [`Runner::run`], calling `on_spawn` with the process id once the command started.
    pub async fn run_with(
        &self,
        req: &ExecRequest,
        on_spawn: impl FnOnce(u32),
    ) -> Result<RunReport, ExecError> {
        // Refuse before asking for a writ when the launcher would refuse anyway: without
        // Landlock, neither the limits nor the containment would hold.
        let fs_needs_landlock = req.fs.is_some() && !self.config.allow_unenforced_fs;
        if (fs_needs_landlock || !self.config.allow_uncontained)
            && let LandlockSupport::Unsupported(detail) = landlock_support()
        {
            return Err(if fs_needs_landlock {
                ExecError::LandlockUnsupported { detail }
            } else {
                ExecError::ContainmentUnavailable { detail }
            });
        }
        let intent = req.intent()?;
        let arrived = Instant::now();
        // Each governed command is logged once, when it is allowed or denied.
        let log =
            |execution: Option<ExecutionId>, principal: Option<&str>, e: Option<&ExecError>| {
                GovernedCall {
                    execution: execution.map(|x| x.to_string()),
                    principal,
                    action: &intent.action,
                    resource: &intent.resource,
                    decision: if e.is_some() {
                        CallDecision::Deny
                    } else {
                        CallDecision::Allow
                    },
                    // The control plane allows only what a permit policy allows.
                    reason_code: e.map_or(ReasonCode::PolicyPermit, ExecError::reason_code),
                    started: arrived,
                }
                .log(self.gate.metrics());
            };
        let digest = intent
            .digest()
            .map_err(|e| ExecError::InvalidCommand(format!("intent: {e}")))?;
        // The environment says whether the command will be contained: policies may refuse
        // what runs in the weaker mode (`context.env.containment`).
        let containment = self.containment();
        let attestation = attest(&self.gate, containment).map_err(ExecError::ControlPlane)?;
        let span = tracing::info_span!("writ.exec", execution = tracing::field::Empty);
        if let Some(tp) = &self.config.traceparent {
            writ_model::lineage::otel::join(&span, tp);
        }
        let options = AuthorizeOptions {
            lifetime_secs: self.config.lifetime_secs,
            traceparent: writ_model::lineage::otel::traceparent_of(&span)
                .or(self.config.traceparent),
            ..AuthorizeOptions::default()
        };
        let answer = tracing::Instrument::instrument(
            self.cp.authorize(
                &self.config.principal_token,
                &intent,
                &attestation,
                &options,
            ),
            span.clone(),
        )
        .await
        .map_err(ExecError::ControlPlane)
        .inspect_err(|e| log(None, None, Some(e)))?;
        let (writ, execution) = match answer {
            Authorization::Allow {
                writ, execution, ..
            } => (writ, execution),
            Authorization::Deny {
                reason_code,
                reasons,
                principal,
                execution,
                ..
            } => {
                let e = ExecError::Denied {
                    code: reason_code,
                    reasons,
                };
                log(execution, principal.as_deref(), Some(&e));
                return Err(e);
            }
        };
        let started_at = self.clock.now_unix();
        self.wait_for_feed().await;
        let verified = match self.verify(&writ, &intent, req) {
            Ok(v) => v,
            Err(e) => {
                log(Some(execution), None, Some(&e));
                self.deny_receipt(execution, &digest, &e, started_at).await;
                return Err(e);
            }
        };
        let principal = verified.claims().sub.to_string();
        log(Some(execution), Some(&principal), None);
        span.record("execution", tracing::field::display(execution));
        let run = Started {
            execution,
            digest,
            started_at,
            containment,
        };
        tracing::Instrument::instrument(self.execute(req, verified, run, on_spawn), span).await
    }

    async fn wait_for_feed(&self) {
        let Some(feed) = self.gate.feed() else {
            return;
        };
        let deadline = Instant::now() + self.config.feed_wait;
        while feed.require_fresh(self.clock.now_unix()).is_err() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn verify(
        &self,
        writ: &str,
        intent: &writ_model::Intent,
        req: &ExecRequest,
    ) -> Result<VerifiedWrit, ExecError> {
        let verified = self.gate.check(writ, intent).map_err(ExecError::Refused)?;
        if let Some(expected) = &self.config.expected_principal
            && &verified.claims().sub != expected
        {
            return Err(ExecError::PrincipalMismatch {
                expected: expected.to_string(),
                granted: verified.claims().sub.to_string(),
            });
        }
        let granted = verified.claims().scope.fs.clone();
        if granted != req.fs {
            let show = |f: &Option<writ_artifact::FsScope>| {
                f.as_ref().map_or("none".to_owned(), |f| {
                    json!({"read": f.read, "write": f.write}).to_string()
                })
            };
            return Err(ExecError::FsScopeMismatch {
                asked: show(&req.fs),
                granted: show(&granted),
            });
        }
        Ok(verified)
    }

    async fn deny_receipt(
        &self,
        execution: ExecutionId,
        digest: &IntentDigest,
        err: &ExecError,
        started_at: i64,
    ) {
        let receipt = self.gate.receipt(
            execution,
            None,
            digest.clone(),
            Outcome::DeniedAtGate,
            None,
            Some(err.reason_code().as_str().to_owned()),
            started_at,
        );
        if let Ok(r) = receipt {
            // The denial stands whether or not its receipt lands.
            let _ = self.cp.post_receipt(&self.config.gate_token, &r).await;
        }
    }

    /// What the runner attests about containment: `uncontained` when the operator allowed the
    /// weaker mode and this kernel cannot fully contain the command (see [`containment_gap`]);
    /// otherwise `contained` (without `--allow-uncontained` the launcher refuses to run an
    /// uncontained command).
    pub fn containment(&self) -> Containment {
        if self.config.allow_uncontained && containment_gap().is_some() {
            Containment::Uncontained
        } else {
            Containment::Contained
        }
    }

    fn renewals(
        &self,
        jti: String,
        lease_until: i64,
        containment: Containment,
    ) -> mpsc::Receiver<Lease> {
        let (tx, rx) = mpsc::channel(4);
        let cp = self.cp.clone();
        let gate = self.gate.clone();
        let clock = self.clock.clone();
        let token = self.config.principal_token.clone();
        let every = self.config.renew_every;
        tokio::spawn(async move {
            let mut until = lease_until;
            loop {
                let left = until.saturating_sub(clock.now_unix()).max(0);
                let half = Duration::from_secs(u64::try_from(left / 2).unwrap_or(0));
                let delay = every.min(half).max(Duration::from_millis(500));
                tokio::time::sleep(delay).await;
                let msg = match attest(&gate, containment) {
                    Err(e) => Lease::Failed(e.to_string()),
                    Ok(att) => match cp.renew(&token, &jti, &att).await {
                        Ok(Some(u)) => {
                            until = u;
                            Lease::Renewed
                        }
                        Ok(None) => {
                            Lease::Denied("the control plane denied the lease renewal".into())
                        }
                        // A refused token is withdrawn trust, not an outage: stop at once.
                        Err(
                            e @ GateError::Api {
                                status: 401 | 403, ..
                            },
                        ) => Lease::Denied(format!("the lease renewal was refused: {e}")),
                        Err(e) => Lease::Failed(e.to_string()),
                    },
                };
                let stop = matches!(msg, Lease::Denied(_));
                if tx.send(msg).await.is_err() || stop {
                    return;
                }
            }
        });
        rx
    }

    async fn execute(
        &self,
        req: &ExecRequest,
        verified: VerifiedWrit,
        run: Started,
        on_spawn: impl FnOnce(u32),
    ) -> Result<RunReport, ExecError> {
        let Started {
            execution,
            digest,
            started_at,
            containment,
        } = run;
        let claims = verified.into_claims();
        let sandbox = SandboxArgs {
            landlock: req.fs.is_some(),
            read: req
                .fs
                .iter()
                .flat_map(|f| f.read.iter().map(PathBuf::from))
                .collect(),
            write: req
                .fs
                .iter()
                .flat_map(|f| f.write.iter().map(PathBuf::from))
                .collect(),
            allow_unenforced: self.config.allow_unenforced_fs,
            // The launcher may fall back to running uncontained only when that is what the
            // writ was issued for: a `contained` claim the launcher cannot make good is refused,
            // not run weaker than the policy saw.
            allow_uncontained: containment == Containment::Uncontained,
            hide: self.config.hide.clone(),
            parent: Some(std::process::id()),
            arg0: req.argv.first().map(OsString::from),
            program: req.program.clone(),
            args: req.argv.iter().skip(1).map(OsString::from).collect(),
            ..SandboxArgs::default()
        };
        let mut cmd = tokio::process::Command::new(&self.config.sandbox_program);
        cmd.args(&self.config.sandbox_prefix)
            .args(sandbox.to_args())
            .current_dir(&req.cwd)
            .env_clear()
            .envs(&req.env)
            .stdin(Stdio::inherit())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(source) => {
                let err = ExecError::Spawn {
                    program: self.config.sandbox_program.display().to_string(),
                    source,
                };
                self.deny_receipt(execution, &digest, &err, started_at)
                    .await;
                return Err(err);
            }
        };
        let pid = child.id().and_then(|p| i32::try_from(p).ok());
        if let Some(p) = child.id() {
            on_spawn(p);
        }
        let capture = self.config.capture_output;
        let out = child
            .stdout
            .take()
            .map(|r| tokio::spawn(pump(r, (!capture).then(tokio::io::stdout), capture)));
        let err = child
            .stderr
            .take()
            .map(|r| tokio::spawn(pump(r, (!capture).then(tokio::io::stderr), capture)));

        let mut events = self.events.subscribe();
        let mut leases = self.renewals(claims.jti.clone(), claims.exp, containment);
        let grace = self.grace_secs();
        let mut last_contact = Instant::now();
        let mut last_lease_error: Option<String> = None;
        let mut lease_denied: Option<String> = None;
        let mut termination: Option<Termination> = None;
        let status = loop {
            tokio::select! {
                s = child.wait() => break s,
                _ = events.changed() => {}
                _ = tokio::time::sleep(WATCH_TICK) => {}
                m = leases.recv() => match m {
                    Some(Lease::Renewed) => { last_contact = Instant::now(); last_lease_error = None; }
                    Some(Lease::Denied(why)) => lease_denied = Some(why),
                    Some(Lease::Failed(e)) => last_lease_error = Some(e),
                    None => {}
                },
            }
            if let Some((code, message)) = governance_check(
                &self.gate,
                &claims,
                self.clock.now_unix(),
                lease_denied.as_deref(),
                last_contact.elapsed(),
                grace,
                last_lease_error.as_deref(),
            ) {
                let killed = terminate(&mut child, pid, self.config.kill_grace).await;
                termination = Some(Termination {
                    reason_code: code,
                    message,
                    killed,
                });
                break child.wait().await;
            }
        };
        let status = status.map_err(ExecError::Output)?;
        if termination.is_some()
            && let Some(p) = pid
        {
            // Whatever the command left behind in its process group goes too.
            let _ = killpg(Pid::from_raw(p), Signal::SIGKILL);
        }
        let (stdout_sha256, stdout_bytes, stdout) = drain(out).await;
        let (stderr_sha256, stderr_bytes, stderr) = drain(err).await;

        use std::os::unix::process::ExitStatusExt;
        let exit_code = status.code();
        let signal = status.signal();
        let (outcome, reason_code) = match (&termination, exit_code) {
            (Some(t), _) => (
                Outcome::TerminatedByGovernance,
                Some(t.reason_code.as_str().to_owned()),
            ),
            (None, Some(0)) => (Outcome::Success, None),
            (None, Some(c)) => (Outcome::Failure, Some(format!("exit_status_{c}"))),
            (None, None) => (
                Outcome::Failure,
                Some(format!("signal_{}", signal.unwrap_or(0))),
            ),
        };
        let result = json!({
            "exit_code": exit_code,
            "signal": signal,
            "stdout_sha256": stdout_sha256,
            "stderr_sha256": stderr_sha256,
            "stdout_bytes": stdout_bytes,
            "stderr_bytes": stderr_bytes,
        });
        let result_bytes = writ_model::canonical::to_canonical_vec(&result)
            .map_err(|e| ExecError::InvalidCommand(format!("result: {e}")))?;
        let result_sha256 = writ_model::digest::sha256_hex(&result_bytes);
        let mut body = self.gate.receipt_body(
            execution,
            Some(claims.jti.clone()),
            digest,
            outcome,
            Some(&result_bytes),
            reason_code.clone(),
            started_at,
        );
        body.exec = Some(writ_model::receipt::ExecOutcome {
            exit_code,
            signal,
            stdout_sha256: stdout_sha256.clone(),
            stderr_sha256: stderr_sha256.clone(),
            stdout_bytes,
            stderr_bytes,
        });
        let (receipt_index, receipt_error) = match self.gate.sign_receipt(body) {
            Err(e) => (None, Some(e.to_string())),
            // A receipt is evidence: retried while the control plane may come back (the
            // command has ended already; this only delays the runner's own exit).
            Ok(r) => match self
                .cp
                .post_receipt_retrying(&self.config.gate_token, &r, 4)
                .await
            {
                Ok(i) => (Some(i), None),
                Err(e) => (None, Some(e.to_string())),
            },
        };
        Ok(RunReport {
            execution,
            jti: claims.jti,
            outcome,
            exit_code,
            signal,
            reason_code,
            termination,
            stdout_sha256,
            stderr_sha256,
            stdout_bytes,
            stderr_bytes,
            result_sha256,
            receipt_index,
            receipt_error,
            stdout,
            stderr,
        })
    }
}

/// SIGTERM to the process group, SIGKILL after `grace`. Returns whether SIGKILL was needed.
async fn terminate(child: &mut tokio::process::Child, pid: Option<i32>, grace: Duration) -> bool {
    let Some(p) = pid else {
        let _ = child.start_kill();
        return true;
    };
    let _ = killpg(Pid::from_raw(p), Signal::SIGTERM);
    if tokio::time::timeout(grace, child.wait()).await.is_ok() {
        return false;
    }
    let _ = killpg(Pid::from_raw(p), Signal::SIGKILL);
    true
}

type Pumped = (String, u64, Option<Vec<u8>>);

/// Copies a pipe to `sink` (when passing through), hashing and counting every byte.
async fn pump<R, W>(mut r: R, mut sink: Option<W>, capture: bool) -> std::io::Result<Pumped>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut hasher = Sha256::new();
    let mut total = 0u64;
    let mut kept = capture.then(Vec::new);
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = r.read(&mut buf).await?;
        let Some(chunk) = buf.get(..n) else { break };
        if n == 0 {
            break;
        }
        hasher.update(chunk);
        total = total.saturating_add(n as u64);
        if let Some(k) = kept.as_mut() {
            k.extend_from_slice(chunk);
        }
        if let Some(w) = sink.as_mut() {
            // A closed terminal must not stop the accounting: keep hashing.
            if w.write_all(chunk).await.is_err() || w.flush().await.is_err() {
                sink = None;
            }
        }
    }
    Ok((hex::encode(hasher.finalize()), total, kept))
}

async fn drain(h: Option<tokio::task::JoinHandle<std::io::Result<Pumped>>>) -> Pumped {
    let empty = || (writ_model::digest::sha256_hex(b""), 0, None);
    let Some(mut h) = h else { return empty() };
    match tokio::time::timeout(OUTPUT_DRAIN, &mut h).await {
        Ok(Ok(Ok(p))) => p,
        _ => {
            h.abort();
            empty()
        }
    }
}
