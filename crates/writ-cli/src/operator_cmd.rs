//! Operator commands against a running control plane: `writ principal`, `writ gate`,
//! `writ revoke`, `writ quarantine`, `writ kill-switch` and `writ policy activate`.
//!
//! Each command is one admin API call. Exit codes: 0 ok, 2 refused by the server (403),
//! 3 invalid input (the server answered 4xx, or a flag or file is wrong), 1 failure (the server
//! is unreachable or answered 5xx).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signer, SigningKey};
use serde_json::{Value, json};
use writ_model::env::{EnvironmentAttestation, EnvironmentClaims};
use writ_model::{GateId, ZoneId};

use crate::cli_output::{Exit, Format, invalid_input, print_json};

/// Where the server is and how to authenticate to it.
#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    /// Base URL of the control plane.
    #[arg(
        long = "control-plane",
        env = "WRIT_SERVER",
        default_value = "http://127.0.0.1:8787",
        value_name = "URL"
    )]
    pub server: String,
    /// Refused: a token on the command line is visible to every local user (`ps`); use
    /// --token-file or WRIT_TOKEN.
    #[arg(long = "token", hide = true, value_name = "TOKEN")]
    pub token_inline: Option<String>,
    /// A file (mode 0600) holding an admin bearer token (`writ serve --init` writes the first
    /// one to DATA_DIR/admin.token); or set WRIT_TOKEN.
    #[arg(long, env = "WRIT_TOKEN_FILE", value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

impl ServerArgs {
    pub(crate) fn token(&self) -> anyhow::Result<String> {
        crate::cli_output::file_or_env_secret(
            self.token_inline.as_ref(),
            self.token_file.as_ref(),
            "token",
            "WRIT_TOKEN",
            "the token",
        )?
        .ok_or_else(|| {
            invalid_input(
                "no token: pass --token-file FILE or set WRIT_TOKEN_FILE or WRIT_TOKEN (`writ serve --init` wrote an admin token to DATA_DIR/admin.token)",
            )
        })
    }
}

/// A server's answer: HTTP status and JSON body (or the raw text as a JSON string).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

/// Sends one JSON request to the server and waits for the answer.
pub fn call(
    server: &str,
    token: Option<&str>,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
) -> anyhow::Result<Answer> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the I/O runtime")?;
    let url = format!("{}{path}", server.trim_end_matches('/'));
    runtime.block_on(async move {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .context("cannot build the HTTP client")?;
        let mut req = client.request(method, &url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|e| {
            anyhow::anyhow!(
                "cannot reach the control plane at {url}: {e}; start it with `writ serve` or point --control-plane (WRIT_SERVER) at it"
            )
        })?;
        let status = resp.status().as_u16();
        let text = resp
            .text()
            .await
            .with_context(|| format!("the answer from {url} was cut off"))?;
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok(Answer { status, body })
    })
}

/// Maps an answer to an exit code, printing failures to stderr.
pub(crate) fn conclude(
    args: &ServerArgs,
    answer: &Answer,
    human: impl FnOnce(&Value),
) -> anyhow::Result<Exit> {
    if (200..300).contains(&answer.status) {
        match args.format {
            Format::Json => print_json(&answer.body)?,
            Format::Human => human(&answer.body),
        }
        return Ok(Exit::Ok);
    }
    let code = at(&answer.body, "code")
        .as_str()
        .or_else(|| at(&answer.body, "reason_code").as_str())
        .unwrap_or("unknown");
    let message = at(&answer.body, "message")
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| answer.body.to_string());
    if args.format == Format::Json {
        print_json(&json!({"status": answer.status, "code": code, "message": message}))?;
    }
    eprintln!(
        "error: the server answered {} ({code}): {message}",
        answer.status
    );
    Ok(match answer.status {
        403 => Exit::Denied,
        400..=499 => Exit::InvalidInput,
        _ => Exit::Failure,
    })
}

fn admin_call(
    args: &ServerArgs,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
    human: impl FnOnce(&Value),
) -> anyhow::Result<Exit> {
    let token = args.token()?;
    let answer = call(&args.server, Some(&token), method, path, body)?;
    conclude(args, &answer, human)
}

/// An admin call whose answer carries a token shown once. With `token_out`, the token goes to
/// that new file (mode 0600, created before the call so an existing file is refused before
/// anything is registered) and the answer shows `token_file` instead of `token`.
fn token_call(
    args: &ServerArgs,
    path: &str,
    body: &Value,
    token_out: Option<&Path>,
    human: impl FnOnce(&Value),
) -> anyhow::Result<Exit> {
    use std::io::Write;
    let Some(out) = token_out else {
        return admin_call(args, reqwest::Method::POST, path, Some(body), human);
    };
    let token = args.token()?;
    let mut file = crate::cli_output::create_private(out, "tokens")?;
    let answer = match call(
        &args.server,
        Some(&token),
        reqwest::Method::POST,
        path,
        Some(body),
    ) {
        Ok(a) => a,
        Err(e) => {
            drop(file);
            let _ = std::fs::remove_file(out);
            return Err(e);
        }
    };
    let issued = at(&answer.body, "token").as_str().map(str::to_owned);
    let (true, Some(issued)) = ((200..300).contains(&answer.status), issued) else {
        drop(file);
        let _ = std::fs::remove_file(out);
        if (200..300).contains(&answer.status) {
            anyhow::bail!(
                "the server's answer carries no token; nothing was written to {}",
                out.display()
            );
        }
        return conclude(args, &answer, human);
    };
    if let Err(e) = file
        .write_all(format!("{issued}\n").as_bytes())
        .and_then(|()| file.sync_all())
    {
        drop(file);
        let _ = std::fs::remove_file(out);
        anyhow::bail!(
            "cannot write the token to {}: {e}; the registration stands: revoke it and add it again",
            out.display()
        );
    }
    let mut shown = answer.body;
    if let Some(m) = shown.as_object_mut() {
        m.remove("token");
        m.insert("token_file".into(), json!(out.display().to_string()));
    }
    conclude(
        args,
        &Answer {
            status: answer.status,
            body: shown,
        },
        human,
    )
}

/// Prints the token line of an add command: the token, or the file it was written to.
fn print_token(b: &Value, note: &str) {
    match b.get("token_file") {
        Some(f) => println!("token written to {} (mode 0600)", text(f)),
        None => {
            println!("token: {}", text(at(b, "token")));
            println!("{note}");
        }
    }
}

/// A field of a JSON object, or `null` (never panics on unexpected answers).
pub fn at<'a>(v: &'a Value, key: &str) -> &'a Value {
    v.get(key).unwrap_or(&Value::Null)
}

fn text(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_owned)
}

// ---------------------------------------------------------------- principal

#[derive(Debug, clap::Args)]
pub struct PrincipalArgs {
    #[command(subcommand)]
    command: PrincipalCommand,
}

#[derive(Debug, clap::Subcommand)]
enum PrincipalCommand {
    /// Register a principal and print its bearer token (shown once: store it now).
    Add {
        /// The principal's id: `agent:NAME`, `human:NAME` or `service:NAME`.
        id: String,
        /// The trust zone it belongs to.
        #[arg(long)]
        zone: String,
        /// Attributes as a JSON object, e.g. '{"owner":"human:bob"}'. Policies read those the
        /// bundle's schema declares for the principal's type (`principal.owner`); the zone is
        /// `principal.zone`.
        #[arg(long, value_name = "JSON")]
        attrs: Option<String>,
        /// A person's role (human: principals only): admin, operator or auditor. Every role
        /// reads every execution's proofs and lineage; admin calls still take the admin token.
        #[arg(long, value_parser = ["admin", "operator", "auditor"])]
        role: Option<String>,
        /// Write the token to this new file (mode 0600; refused if it exists) instead of
        /// printing it.
        #[arg(long, value_name = "FILE")]
        token_out: Option<PathBuf>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// List registered principals.
    List {
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Revoke a principal: its tokens stop working and it is refused from now on.
    Revoke {
        /// The principal's id (`agent:NAME`, `human:NAME` or `service:NAME`).
        id: String,
        #[command(flatten)]
        server: ServerArgs,
    },
}

pub fn principal(args: PrincipalArgs) -> anyhow::Result<Exit> {
    match args.command {
        PrincipalCommand::Add {
            id,
            zone,
            attrs,
            role,
            token_out,
            server,
        } => {
            let mut body = json!({"id": id, "zone": zone});
            if let Some(role) = role {
                if !id.starts_with("human:") {
                    return Err(invalid_input(
                        "--role is for people only: give it to a human: principal",
                    ));
                }
                if let Some(m) = body.as_object_mut() {
                    m.insert("role".into(), json!(role));
                }
            }
            if let Some(a) = attrs {
                let v: Value = serde_json::from_str(&a)
                    .map_err(|e| invalid_input(format!("--attrs is not JSON: {e}")))?;
                if !v.is_object() {
                    return Err(invalid_input("--attrs must be a JSON object"));
                }
                if let Some(m) = body.as_object_mut() {
                    m.insert("attrs".into(), v);
                }
            }
            token_call(
                &server,
                "/v1/admin/principals",
                &body,
                token_out.as_deref(),
                |b| {
                    println!(
                        "added {} in zone {}",
                        text(at(b, "principal")),
                        text(at(b, "zone"))
                    );
                    print_token(
                        b,
                        "(shown once: give it to the principal now; revoke with `writ principal revoke`)",
                    );
                },
            )
        }
        PrincipalCommand::List { server } => admin_call(
            &server,
            reqwest::Method::GET,
            "/v1/admin/principals",
            None,
            |b| {
                let rows = at(b, "principals").as_array().cloned().unwrap_or_default();
                if rows.is_empty() {
                    println!("no principals registered");
                }
                for r in rows {
                    let role = r
                        .get("role")
                        .and_then(Value::as_str)
                        .map(|role| format!("\trole {role}"))
                        .unwrap_or_default();
                    println!(
                        "{}\tzone {}\t{}{role}",
                        text(at(&r, "id")),
                        text(at(&r, "zone")),
                        text(at(&r, "status"))
                    );
                }
            },
        ),
        PrincipalCommand::Revoke { id, server } => {
            let path = format!("/v1/admin/principals/{}/revoke", path_segment(&id)?);
            admin_call(&server, reqwest::Method::POST, &path, None, |b| {
                println!(
                    "revoked {} (ledger index {})",
                    text(at(at(b, "revoked"), "id")),
                    at(b, "ledger_index")
                );
            })
        }
    }
}

/// Refuses characters that would change the URL path, instead of silently escaping them.
fn path_segment(id: &str) -> anyhow::Result<&str> {
    // Ids are `kind:name`; the colon also keeps `.` and `..` (which URLs resolve) out.
    if !id.contains(':')
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b":-_.@+".contains(&b))
    {
        return Err(invalid_input(format!(
            "{id:?} is not a valid id (letters, digits and : - _ . @ +)"
        )));
    }
    Ok(id)
}

// ---------------------------------------------------------------- gate

#[derive(Debug, clap::Args)]
pub struct GateArgs {
    #[command(subcommand)]
    command: GateCommand,
}

#[derive(Debug, clap::Subcommand)]
enum GateCommand {
    /// Register a gate with its Ed25519 public key; prints the gate's bearer token once.
    Add {
        /// The gate's id: `gate:NAME`.
        id: String,
        /// The zone the gate runs in.
        #[arg(long)]
        zone: String,
        /// The gate's Ed25519 public key in hex (printed by `writ gate keygen`).
        #[arg(long, value_name = "HEX")]
        public_key: String,
        /// Write the gate's token to this new file (mode 0600; refused if it exists) instead of
        /// printing it.
        #[arg(long, value_name = "FILE")]
        token_out: Option<PathBuf>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// List registered gates.
    List {
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Generate a gate signing key: writes the secret seed to FILE (mode 0600, hex) and the
    /// public key to FILE.pub, and prints the public key to register with `writ gate add
    /// --public-key`.
    Keygen {
        /// Where to write the secret key (refused if it exists).
        file: PathBuf,
        /// Output format: `human` (text) or `json` (one JSON document on stdout).
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
}

pub fn gate(args: GateArgs) -> anyhow::Result<Exit> {
    match args.command {
        GateCommand::Add {
            id,
            zone,
            public_key,
            token_out,
            server,
        } => token_call(
            &server,
            "/v1/admin/gates",
            &json!({"id": id, "zone": zone, "public_key": public_key}),
            token_out.as_deref(),
            |b| {
                println!(
                    "added {} in zone {}",
                    text(at(b, "gate")),
                    text(at(b, "zone"))
                );
                print_token(b, "(shown once: configure the gate with it now)");
            },
        ),
        GateCommand::List { server } => admin_call(
            &server,
            reqwest::Method::GET,
            "/v1/admin/gates",
            None,
            |b| {
                let rows = at(b, "gates").as_array().cloned().unwrap_or_default();
                if rows.is_empty() {
                    println!("no gates registered");
                }
                for r in rows {
                    println!(
                        "{}\tzone {}\tkey {}",
                        text(at(&r, "id")),
                        text(at(&r, "zone")),
                        text(at(&r, "public_key"))
                    );
                }
            },
        ),
        GateCommand::Keygen { file, format } => {
            let public = gate_keygen(&file)?;
            match format {
                Format::Json => print_json(
                    &json!({"key_file": file.display().to_string(), "public_key": public}),
                )?,
                Format::Human => {
                    println!("wrote the gate's secret key to {}", file.display());
                    println!("public key: {public}");
                    println!(
                        "register it: writ gate add gate:NAME --zone ZONE --public-key {public}"
                    );
                }
            }
            Ok(Exit::Ok)
        }
    }
}

/// Writes a new Ed25519 seed (hex) to `file` with mode 0600 and returns the public key in hex.
pub fn gate_keygen(file: &Path) -> anyhow::Result<String> {
    use std::io::Write;
    let pub_path = PathBuf::from(format!("{}.pub", file.display()));
    if pub_path.symlink_metadata().is_ok() {
        return Err(invalid_input(format!(
            "{} already exists; pick another file (keys are never overwritten)",
            pub_path.display()
        )));
    }
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no system randomness: {e}"))?;
    let key = SigningKey::from_bytes(&seed);
    let mut f = crate::cli_output::create_private(file, "keys")?;
    f.write_all(format!("{}\n", hex::encode(seed)).as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write {}", file.display()))?;
    let public = hex::encode(key.verifying_key().to_bytes());
    // The public half beside it, for `writ gate add --public-key "$(cat FILE.pub)"`.
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    opts.open(&pub_path)
        .and_then(|mut p| {
            p.write_all(format!("{public}\n").as_bytes())?;
            p.sync_all()
        })
        .with_context(|| {
            format!(
                "wrote the secret key to {} but cannot write {} (the public key is {public})",
                file.display(),
                pub_path.display()
            )
        })?;
    Ok(public)
}

/// Reads a gate's secret key (from `writ gate keygen`), refusing a file others may read.
pub fn read_gate_key(file: &Path) -> anyhow::Result<SigningKey> {
    crate::cli_output::ensure_private(file, "the gate key")?;
    let text = std::fs::read_to_string(file)
        .map_err(|e| invalid_input(format!("cannot read the gate key {}: {e}", file.display())))?;
    let seed: [u8; 32] = hex::decode(text.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            invalid_input(format!(
                "{} is not a gate key (64 hex characters from `writ gate keygen`)",
                file.display()
            ))
        })?;
    Ok(SigningKey::from_bytes(&seed))
}

/// A gate's signed environment attestation, as `POST /v1/authorize` expects it.
pub fn attest(key: &SigningKey, gate: &GateId, zone: &ZoneId, iat: i64) -> anyhow::Result<Value> {
    let claims = EnvironmentClaims::new(zone.clone(), gate.clone());
    let kid = gate.to_string();
    let input = EnvironmentAttestation::signing_input(&claims, iat, &kid)
        .context("cannot encode the attestation")?;
    let sig = URL_SAFE_NO_PAD.encode(key.sign(&input).to_bytes());
    Ok(serde_json::to_value(EnvironmentAttestation {
        claims,
        iat,
        kid,
        sig,
    })?)
}

// ---------------------------------------------------------------- revoke, quarantine, kill switch

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["jti", "principal", "zone"])))]
pub struct RevokeArgs {
    /// Revoke one writ by its `jti`.
    #[arg(long)]
    jti: Option<String>,
    /// Revoke a principal (same as `writ principal revoke`).
    #[arg(long)]
    principal: Option<String>,
    /// Revoke every writ for a zone.
    #[arg(long)]
    zone: Option<String>,
    #[command(flatten)]
    server: ServerArgs,
}

pub fn revoke(args: RevokeArgs) -> anyhow::Result<Exit> {
    let body = json!({"jti": args.jti, "principal": args.principal, "zone": args.zone});
    let body = drop_nulls(body);
    admin_call(
        &args.server,
        reqwest::Method::POST,
        "/v1/admin/revocations",
        Some(&body),
        |b| {
            println!(
                "revoked {} {} (ledger index {})",
                text(at(at(b, "revoked"), "target")),
                text(at(at(b, "revoked"), "id")),
                at(b, "ledger_index")
            );
        },
    )
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["principal", "zone"])))]
pub struct QuarantineArgs {
    /// Quarantine a principal: every request of it is refused.
    #[arg(long)]
    principal: Option<String>,
    /// Quarantine a zone: every request attested in it is refused.
    #[arg(long)]
    zone: Option<String>,
    /// Lift the quarantine instead.
    #[arg(long)]
    release: bool,
    #[command(flatten)]
    server: ServerArgs,
}

pub fn quarantine(args: QuarantineArgs) -> anyhow::Result<Exit> {
    let body =
        drop_nulls(json!({"principal": args.principal, "zone": args.zone, "on": !args.release}));
    admin_call(
        &args.server,
        reqwest::Method::POST,
        "/v1/admin/quarantines",
        Some(&body),
        |b| {
            let q = at(b, "quarantine");
            let verb = if at(q, "on") == &json!(true) {
                "quarantined"
            } else {
                "released"
            };
            println!(
                "{verb} {} {} (ledger index {})",
                text(at(q, "target")),
                text(at(q, "id")),
                at(b, "ledger_index")
            );
        },
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

#[derive(Debug, clap::Args)]
pub struct KillSwitchArgs {
    /// `on` stops every authorization at once; `off` releases it.
    #[arg(value_enum)]
    state: OnOff,
    #[command(flatten)]
    server: ServerArgs,
}

pub fn kill_switch(args: KillSwitchArgs) -> anyhow::Result<Exit> {
    let on = args.state == OnOff::On;
    admin_call(
        &args.server,
        reqwest::Method::POST,
        "/v1/admin/kill-switch",
        Some(&json!({"on": on})),
        |b| {
            let state = if on {
                "ON: nothing is authorized until `writ kill-switch off`"
            } else {
                "off"
            };
            println!(
                "kill switch {state} (ledger index {})",
                at(b, "ledger_index")
            );
        },
    )
}

// ---------------------------------------------------------------- evidence erasure

/// `writ evidence erase`: what was said in governed actions, erased from a running server.
#[derive(Debug, clap::Args)]
pub struct EvidenceArgs {
    #[command(subcommand)]
    command: EvidenceCommand,
}

#[derive(Debug, clap::Subcommand)]
enum EvidenceCommand {
    /// Erase the disclosures (arguments, command lines, outputs, on-behalf-of chains) of an
    /// execution's ledger entries, or of a principal's executions decided before a time, and
    /// the stored copies of their writs; records `evidence.erased`. The entries' commitments
    /// stay, so every proof still verifies.
    Erase(EraseArgs),
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["execution", "principal"])))]
pub struct EraseArgs {
    /// The execution whose evidence to erase.
    #[arg(long, conflicts_with_all = ["principal", "before"])]
    execution: Option<String>,
    /// Erase the evidence of every execution of this principal decided before --before.
    #[arg(long, requires = "before")]
    principal: Option<String>,
    /// With --principal: executions decided before this time (Unix seconds).
    #[arg(long, requires = "principal", allow_negative_numbers = true)]
    before: Option<i64>,
    /// Why (recorded in clear in the evidence.erased entry).
    #[arg(long)]
    reason: Option<String>,
    #[command(flatten)]
    server: ServerArgs,
}

pub fn evidence(args: EvidenceArgs) -> anyhow::Result<Exit> {
    let EvidenceCommand::Erase(a) = args.command;
    let body = drop_nulls(json!({
        "execution": a.execution, "principal": a.principal, "before": a.before, "reason": a.reason,
    }));
    admin_call(
        &a.server,
        reqwest::Method::POST,
        "/v1/admin/evidence/erase",
        Some(&body),
        |b| {
            let count = |k: &str| at(b, k).as_array().map_or(0, Vec::len);
            println!(
                "erased the disclosures of {} ledger entries and {} writ copies of {} executions (evidence.erased at ledger index {})",
                count("indexes"),
                at(b, "writs"),
                count("executions"),
                at(b, "ledger_index")
            );
            if count("clear_entries") > 0 {
                println!(
                    "not erasable: {} v1 entries hold their values in clear in the ledger itself: {}",
                    count("clear_entries"),
                    at(b, "clear_entries")
                );
            }
        },
    )
}

fn drop_nulls(mut v: Value) -> Value {
    if let Some(m) = v.as_object_mut() {
        m.retain(|_, x| !x.is_null());
    }
    v
}

// ---------------------------------------------------------------- policy trust

/// `writ policy trust add|list|remove`: the bundle-verifying keys of a running server.
#[derive(Debug, clap::Args)]
pub struct TrustArgs {
    #[command(subcommand)]
    command: TrustCommand,
}

#[derive(Debug, clap::Subcommand)]
enum TrustCommand {
    /// Trust a bundle-verifying public key: the `.pub` file `writ policy keygen` wrote (never
    /// the secret key beside it).
    Add {
        /// The public key file (FILE.pub).
        key: PathBuf,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// List the trusted keys (key id and hex).
    List {
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Stop trusting a key, by its key id (see `list`). The active bundle's signer is kept
    /// until a bundle signed by another trusted key is active.
    Remove {
        /// The key id (16 hex characters) shown by `writ policy trust list`.
        kid: String,
        #[command(flatten)]
        server: ServerArgs,
    },
}

pub fn trust(args: TrustArgs) -> anyhow::Result<Exit> {
    match args.command {
        TrustCommand::Add { key, server } => {
            let key = crate::policy_cmd::read_public_key(&key).map_err(invalid_input)?;
            admin_call(
                &server,
                reqwest::Method::POST,
                "/v1/admin/trust",
                Some(&json!({"key": key.to_hex()})),
                |b| {
                    println!(
                        "trusted key {} (ledger index {})",
                        text(at(at(b, "trusted"), "kid")),
                        at(b, "ledger_index")
                    );
                },
            )
        }
        TrustCommand::List { server } => admin_call(
            &server,
            reqwest::Method::GET,
            "/v1/admin/trust",
            None,
            |b| {
                let keys = at(b, "keys").as_array().cloned().unwrap_or_default();
                if keys.is_empty() {
                    println!(
                        "no key is trusted: no bundle can be activated (add one with `writ policy trust add KEY.pub`)"
                    );
                }
                for k in keys {
                    println!("{}\t{}", text(at(&k, "kid")), text(at(&k, "key")));
                }
            },
        ),
        TrustCommand::Remove { kid, server } => {
            if kid.is_empty() || !kid.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(invalid_input(format!(
                    "{kid:?} is not a key id (hex characters; see `writ policy trust list`)"
                )));
            }
            let path = format!("/v1/admin/trust/{kid}/remove");
            admin_call(&server, reqwest::Method::POST, &path, None, |b| {
                println!(
                    "no longer trusted: key {} (ledger index {})",
                    text(at(at(b, "removed"), "kid")),
                    at(b, "ledger_index")
                );
            })
        }
    }
}

// ---------------------------------------------------------------- policy activate

/// `writ policy activate DIR`: upload a signed bundle and make it the active one.
#[derive(Debug, clap::Args)]
pub struct PolicyActivateArgs {
    /// The bundle directory: `*.cedarschema`, `*.cedar`, `entities.json` and `bundle.sig`
    /// (from `writ policy sign`).
    pub dir: PathBuf,
    #[command(flatten)]
    pub server: ServerArgs,
}

/// Reads the bundle files of `dir` (only the kinds a bundle is made of) as name → text.
pub fn bundle_files(dir: &Path) -> anyhow::Result<serde_json::Map<String, Value>> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        invalid_input(format!(
            "cannot read the bundle directory {}: {e}",
            dir.display()
        ))
    })?;
    let mut files = serde_json::Map::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let wanted = name.ends_with(".cedarschema")
            || name.ends_with(".cedar")
            || name == "entities.json"
            || name == "bundle.sig";
        if !wanted || !entry.path().is_file() {
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).map_err(|e| {
            invalid_input(format!(
                "cannot read {} as UTF-8 text: {e}",
                entry.path().display()
            ))
        })?;
        files.insert(name, Value::String(text));
    }
    if !files.keys().any(|k| k.ends_with(".cedar")) {
        return Err(invalid_input(format!(
            "{} holds no *.cedar policy file: is it a bundle directory?",
            dir.display()
        )));
    }
    if !files.contains_key("bundle.sig") {
        return Err(invalid_input(format!(
            "{} has no bundle.sig: sign the bundle first with `writ policy sign`",
            dir.display()
        )));
    }
    Ok(files)
}

pub fn policy_activate(args: PolicyActivateArgs) -> anyhow::Result<Exit> {
    let files = bundle_files(&args.dir)?;
    admin_call(
        &args.server,
        reqwest::Method::POST,
        "/v1/admin/bundles/activate",
        Some(&json!({"files": files})),
        |b| {
            println!(
                "activated bundle {} ({}, signed by {}; ledger index {})",
                text(at(b, "bundle_sha256")),
                text(at(b, "engine")),
                text(at(b, "signed_by")),
                at(b, "ledger_index")
            );
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gate_keygen_writes_a_private_seed_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("gate.key");
        let public = gate_keygen(&f).unwrap();
        let key = read_gate_key(&f).unwrap();
        assert_eq!(hex::encode(key.verifying_key().to_bytes()), public);
        let pub_file = dir.path().join("gate.key.pub");
        assert_eq!(std::fs::read_to_string(&pub_file).unwrap().trim(), public);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        assert!(gate_keygen(&f).is_err());
        std::fs::write(&f, "zz").unwrap();
        assert!(read_gate_key(&f).is_err());
    }

    #[test]
    fn answers_map_to_exit_codes() {
        let args = ServerArgs {
            server: "http://x".into(),
            token_inline: None,
            token_file: None,
            format: Format::Json,
        };
        let cases = [
            (200, Exit::Ok),
            (201, Exit::Ok),
            (403, Exit::Denied),
            (400, Exit::InvalidInput),
            (401, Exit::InvalidInput),
            (409, Exit::InvalidInput),
            (503, Exit::Failure),
            (500, Exit::Failure),
        ];
        for (status, exit) in cases {
            let a = Answer {
                status,
                body: json!({"code": "x", "message": "m"}),
            };
            assert_eq!(conclude(&args, &a, |_| {}).unwrap(), exit, "{status}");
        }
    }

    #[test]
    fn path_segments_refuse_url_syntax() {
        assert!(path_segment("agent:bot-1").is_ok());
        for bad in ["", "..", "agent", "a:/b", "a:b?c", "a:#b", "a: b", "a:%2f"] {
            assert!(path_segment(bad).is_err(), "{bad}");
        }
    }
}
