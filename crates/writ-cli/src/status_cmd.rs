//! `writ status` and `writ executions list|show`: the control plane's state and its audit
//! trail, read from the terminal through the API (`GET /v1/status`, `GET /v1/executions`,
//! `GET /v1/proofs/{id}`, `GET /v1/lineage/{id}`).
//!
//! Exit codes as the operator commands: 0 ok, 2 refused (403), 3 invalid input (another 4xx,
//! or a bad flag), 1 failure (unreachable, 5xx).

use serde_json::{Value, json};

use crate::cli_output::{Exit, invalid_input};
use crate::operator_cmd::{ServerArgs, at, call, conclude};

// ------------------------------------------------------------------------------------- status

/// Show the control plane at a glance: active bundle, kill switch, quarantines and
/// revocations in force, gates and when they were last used, ledger size and checkpoint age,
/// index lag, storage (the admin token, or a person's token with a role).
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    server: ServerArgs,
}

/// `writ status`: the control plane at a glance (needs the admin token or a person's token
/// with a role).
pub fn status(args: StatusArgs) -> anyhow::Result<Exit> {
    let token = args.server.token()?;
    let answer = call(
        &args.server.server,
        Some(&token),
        reqwest::Method::GET,
        "/v1/status",
        None,
    )?;
    let server = args.server.server.clone();
    conclude(&args.server, &answer, |s| print_status(&server, s))
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn list(v: &Value) -> String {
    match v.as_array() {
        Some(items) if !items.is_empty() => items.iter().map(text).collect::<Vec<_>>().join(", "),
        _ => "none".to_owned(),
    }
}

fn when(v: &Value) -> String {
    v.as_i64()
        .map_or_else(|| "-".to_owned(), crate::writ_cmd::utc)
}

/// Bytes for a person: B, KiB, MiB, GiB.
fn bytes(v: &Value) -> String {
    let Some(n) = v.as_u64() else {
        return "-".to_owned();
    };
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut size = n as f64;
    let mut unit = 0;
    while size >= 1024.0 && unit + 1 < units.len() {
        size /= 1024.0;
        unit += 1;
    }
    match (unit, units.get(unit)) {
        (0, _) => format!("{n} B"),
        (_, Some(u)) => format!("{size:.1} {u}"),
        _ => format!("{n} B"),
    }
}

/// The `store` row of a node of a fleet on PostgreSQL: the schemas, how fresh its view of
/// the control store is, and what this node does for the fleet.
fn store_line(store: &Value, now: &Value) -> String {
    let i = at(store, "integration");
    let synced = match (at(store, "control_last_ok_unix_ms").as_i64(), now.as_i64()) {
        (Some(ok), Some(now)) => format!(
            "read {:.1} s ago",
            (now.saturating_mul(1000).saturating_sub(ok)).max(0) as f64 / 1000.0
        ),
        _ => "never read".to_owned(),
    };
    format!(
        "PostgreSQL, schemas {p}_ledger and {p}_control; control store version {}, {synced}; this node {} the integration lease now, {} batches integrated{}",
        text(at(store, "control_version")),
        if at(i, "holding_lease") == &Value::Bool(true) {
            "holds"
        } else {
            "does not hold"
        },
        text(at(i, "batches")),
        if at(store, "lease_sweeper") == &Value::Bool(true) {
            ", runs the lease sweep"
        } else {
            ""
        },
        p = text(at(store, "schema")),
    )
}

fn print_status(server: &str, s: &Value) {
    let bundle = at(s, "bundle");
    let ledger = at(s, "ledger");
    let index = at(s, "index");
    let storage = at(s, "storage");
    let q = at(s, "quarantines");
    let r = at(s, "revocations");
    let row = |k: &str, v: String| println!("{k:<15}{v}");
    row(
        "control plane",
        format!("{server} (writ {})", text(at(s, "version"))),
    );
    row(
        "bundle",
        match at(bundle, "sha256").as_str() {
            Some(sha) => format!(
                "{sha} ({} policies), activated {} by {}",
                text(at(bundle, "policies")),
                when(at(bundle, "activated_at")),
                text(at(bundle, "activated_by"))
            ),
            None => "none active: every request is denied (`writ policy activate`)".to_owned(),
        },
    );
    row(
        "kill switch",
        if at(s, "kill_switch") == &Value::Bool(true) {
            "ON: every request is denied".to_owned()
        } else {
            "off".to_owned()
        },
    );
    row(
        "quarantined",
        format!(
            "principals: {}; zones: {}",
            list(at(q, "principals")),
            list(at(q, "zones"))
        ),
    );
    row(
        "revoked",
        format!(
            "principals: {}; zones: {}; writs: {}",
            list(at(r, "principals")),
            list(at(r, "zones")),
            text(at(r, "writs"))
        ),
    );
    let age = at(ledger, "checkpoint_age_ms").as_u64().map_or_else(
        || "-".to_owned(),
        |ms| format!("{:.1} s", ms as f64 / 1000.0),
    );
    row(
        "ledger",
        format!(
            "{} entries, {}, checkpoint {age} old ({})",
            text(at(ledger, "size")),
            bytes(at(ledger, "bytes")),
            text(at(ledger, "origin"))
        ),
    );
    row(
        "index",
        format!(
            "{} entries indexed, {} behind{}",
            text(at(index, "indexed")),
            text(at(index, "lag")),
            at(index, "failure")
                .as_str()
                .map_or_else(String::new, |f| format!(", FAILING: {f}"))
        ),
    );
    let evidence = at(s, "evidence");
    row(
        "evidence",
        format!(
            "{} disclosures, {}",
            text(at(evidence, "disclosures")),
            bytes(at(evidence, "bytes"))
        ),
    );
    let store = at(s, "store");
    let postgres = at(store, "kind") == "postgres";
    if postgres {
        row("store", store_line(store, at(s, "now")));
        row(
            "storage",
            format!(
                "this node's files: index {}, writs {} (ledger, evidence and control store in the database)",
                bytes(at(storage, "index_bytes")),
                bytes(at(storage, "writ_log_bytes"))
            ),
        );
    } else {
        row(
            "storage",
            format!(
                "{} (ledger {}, control {}, index {}, writs {})",
                bytes(at(storage, "total_bytes")),
                bytes(at(storage, "ledger_bytes")),
                bytes(at(storage, "control_bytes")),
                bytes(at(storage, "index_bytes")),
                bytes(at(storage, "writ_log_bytes"))
            ),
        );
    }
    let gates = at(s, "gates").as_array().cloned().unwrap_or_default();
    if gates.is_empty() {
        row("gates", "none registered".to_owned());
        return;
    }
    println!("gates");
    println!(
        "  {:<24} {:<12} {:>10}  {:<20}  {:<9}  LAST CONTACT",
        "GATE", "ZONE", "EXECUTIONS", "LAST EXECUTION", "FEED"
    );
    for g in &gates {
        let feed = if at(g, "connected").as_bool() == Some(true) {
            "connected"
        } else {
            "-"
        };
        println!(
            "  {:<24} {:<12} {:>10}  {:<20}  {:<9}  {}",
            text(at(g, "gate")),
            text(at(g, "zone")),
            text(at(g, "executions")),
            when(at(g, "last_seen")),
            feed,
            when(at(g, "last_contact"))
        );
    }
}

// --------------------------------------------------------------------------------- executions

/// Search and show governed executions: decisions, receipts, lineage, ledger indexes.
#[derive(Debug, clap::Args)]
pub struct ExecutionsArgs {
    #[command(subcommand)]
    command: ExecutionsCommand,
}

#[derive(Debug, clap::Subcommand)]
enum ExecutionsCommand {
    /// List executions, newest first: those your token may read (all of them for the admin
    /// token and people with a role; an agent its own and its lineage's; a gate its own).
    List(Box<ListArgs>),
    /// Show one execution: its decision (decoded from the ledger), receipts, lineage and the
    /// ledger indexes of everything recorded about it.
    Show {
        /// The execution id (a UUID, as `writ executions list` prints it).
        execution: String,
        #[command(flatten)]
        server: ServerArgs,
    },
}

/// The filters of `writ executions list`.
#[derive(Debug, clap::Args)]
struct ListArgs {
    /// Only this principal's, e.g. agent:triage-bot.
    #[arg(long)]
    principal: Option<String>,
    /// Only allowed or only denied ones.
    #[arg(long, value_parser = ["allow", "deny"])]
    decision: Option<String>,
    /// Only those with this reason code, e.g. no_permit.
    #[arg(long)]
    reason_code: Option<String>,
    /// Only this action, e.g. mcp.call_tool or exec.
    #[arg(long)]
    action: Option<String>,
    /// Only this resource, e.g. tool:github/create_issue.
    #[arg(long)]
    resource: Option<String>,
    /// Only those authorized for this gate, e.g. gate:mcp-1.
    #[arg(long)]
    gate: Option<String>,
    /// Only those in this zone.
    #[arg(long)]
    zone: Option<String>,
    /// Decided at or after this time (Unix seconds).
    #[arg(long, value_name = "UNIX_SECONDS")]
    since: Option<i64>,
    /// Decided before this time (Unix seconds).
    #[arg(long, value_name = "UNIX_SECONDS")]
    until: Option<i64>,
    /// Rows per page (1 to 500).
    #[arg(long, default_value_t = 50)]
    limit: u32,
    /// Start after this cursor (printed at the end of the previous page).
    #[arg(long)]
    cursor: Option<String>,
    #[command(flatten)]
    server: ServerArgs,
}

pub fn executions(args: ExecutionsArgs) -> anyhow::Result<Exit> {
    match args.command {
        ExecutionsCommand::List(list) => {
            let ListArgs {
                principal,
                decision,
                reason_code,
                action,
                resource,
                gate,
                zone,
                since,
                until,
                limit,
                cursor,
                server,
            } = *list;
            let mut query = Vec::new();
            for (k, v) in [
                ("principal", principal),
                ("decision", decision),
                ("reason_code", reason_code),
                ("action", action),
                ("resource", resource),
                ("gate", gate),
                ("zone", zone),
                ("since", since.map(|t| t.to_string())),
                ("until", until.map(|t| t.to_string())),
                ("limit", Some(limit.to_string())),
                ("cursor", cursor),
            ] {
                if let Some(v) = v {
                    query.push(format!("{k}={}", encode(&v)));
                }
            }
            let path = format!("/v1/executions?{}", query.join("&"));
            let token = server.token()?;
            let answer = call(
                &server.server,
                Some(&token),
                reqwest::Method::GET,
                &path,
                None,
            )?;
            conclude(&server, &answer, print_list)
        }
        ExecutionsCommand::Show { execution, server } => show(&execution, &server),
    }
}

/// Percent-encodes a query value (RFC 3986 unreserved characters and `:` `/` kept).
fn encode(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn print_list(page: &Value) {
    let rows = at(page, "executions")
        .as_array()
        .cloned()
        .unwrap_or_default();
    println!(
        "{:<36}  {:<20}  {:<8}  {:<22}  {:<20}  {:<14}  RESOURCE",
        "EXECUTION", "TIME", "DECISION", "REASON", "PRINCIPAL", "ACTION"
    );
    for r in &rows {
        println!(
            "{:<36}  {:<20}  {:<8}  {:<22}  {:<20}  {:<14}  {}",
            text(at(r, "execution")),
            when(at(r, "time")),
            text(at(r, "decision")),
            text(at(r, "reason_code")),
            text(at(r, "principal")),
            text(at(r, "action")),
            text(at(r, "resource"))
        );
    }
    match at(page, "next_cursor").as_str() {
        Some(c) => println!("(more: --cursor {c})"),
        None => println!("({} executions)", rows.len()),
    }
}

fn show(execution: &str, server: &ServerArgs) -> anyhow::Result<Exit> {
    if execution.parse::<writ_model::ExecutionId>().is_err() {
        return Err(invalid_input(format!(
            "{execution:?} is not an execution id (a UUID, as `writ executions list` prints it)"
        )));
    }
    let token = server.token()?;
    let proof = call(
        &server.server,
        Some(&token),
        reqwest::Method::GET,
        &format!("/v1/proofs/{execution}"),
        None,
    )?;
    if !(200..300).contains(&proof.status) {
        return conclude(server, &proof, |_| {});
    }
    let lineage = call(
        &server.server,
        Some(&token),
        reqwest::Method::GET,
        &format!("/v1/lineage/{execution}"),
        None,
    )?;
    if !(200..300).contains(&lineage.status) {
        return conclude(server, &lineage, |_| {});
    }
    // Each entry with what its disclosure says (v2 entries keep it out of the log).
    let entries: Vec<(Value, Value)> = writ_ledger::evidence::bundle_entry_views(&proof.body)
        .into_iter()
        .map(|(i, v)| (json!(i), v))
        .collect();
    let mut decision = Value::Null;
    let mut receipts = Vec::new();
    let mut others = Vec::new();
    for (index, entry) in &entries {
        let kind = at(entry, "type").as_str().unwrap_or("");
        match kind {
            "decision" | "authorize.refused" if decision.is_null() => {
                decision = json!({"ledger_index": index, "entry": entry});
            }
            "receipt" => {
                receipts.push(json!({"ledger_index": index, "receipt": at(entry, "receipt")}))
            }
            _ => others.push(json!({"ledger_index": index, "entry": entry})),
        }
    }
    let shown = json!({
        "execution": execution,
        "decision": decision,
        "receipts": receipts,
        "other_entries": others,
        "ledger_indexes": entries.iter().map(|(i, _)| i.clone()).collect::<Vec<_>>(),
        "lineage": lineage.body,
        "writ": at(&proof.body, "writ").is_string(),
        "checkpoint": at(&proof.body, "checkpoint"),
    });
    let answer = crate::operator_cmd::Answer {
        status: 200,
        body: shown,
    };
    conclude(server, &answer, print_show)
}

fn print_show(s: &Value) {
    let row = |k: &str, v: String| println!("{k:<15}{v}");
    row("execution", text(at(s, "execution")));
    let d = at(s, "decision");
    let e = at(d, "entry");
    let request = at(e, "request");
    // A decision record holds the request; a refusal (before policy) holds its parts.
    let part = |k: &str| {
        let v = at(request, k);
        if v.is_null() {
            at(e, k).clone()
        } else {
            v.clone()
        }
    };
    // A v2 entry keeps action, resource, gate and zone in clear at its top level.
    let or_clear = |v: Value, keys: [&str; 2]| {
        if v.is_null() {
            json!({keys[0]: at(e, keys[0]), keys[1]: at(e, keys[1])})
        } else {
            v
        }
    };
    let intent = or_clear(part("intent"), ["action", "resource"]);
    let env = or_clear(part("env"), ["gate", "zone"]);
    let decision = match at(e, "type").as_str() {
        Some("authorize.refused") => "deny (refused before policy)".to_owned(),
        _ => text(at(e, "decision")),
    };
    row(
        "decision",
        format!(
            "{decision} ({}) at ledger index {}",
            text(at(e, "reason_code")),
            text(at(d, "ledger_index"))
        ),
    );
    row("when", when(at(e, "now")));
    row("principal", text(&part("principal")));
    row("action", text(at(&intent, "action")));
    row("resource", text(at(&intent, "resource")));
    row(
        "gate",
        format!(
            "{} in zone {}",
            text(at(&env, "gate")),
            text(at(&env, "zone"))
        ),
    );
    if let Some(ids) = at(e, "determining").as_array().filter(|a| !a.is_empty()) {
        row("determining", list(&Value::Array(ids.clone())));
    }
    for r in at(e, "reasons").as_array().into_iter().flatten() {
        row("reason", text(r));
    }
    if let Some(r) = at(e, "reason").as_str() {
        row("reason", r.to_owned());
    }
    for err in at(e, "errors").as_array().into_iter().flatten() {
        row("error", text(err));
    }
    row("bundle", text(at(e, "bundle_sha256")));
    let receipts = at(s, "receipts").as_array().cloned().unwrap_or_default();
    if receipts.is_empty() {
        row("receipts", "none".to_owned());
    }
    for r in &receipts {
        let body = at(at(r, "receipt"), "body");
        row(
            "receipt",
            format!(
                "{} by {} at ledger index {}{}",
                text(at(body, "outcome")),
                text(at(body, "gate")),
                text(at(r, "ledger_index")),
                at(body, "reason_code")
                    .as_str()
                    .map_or_else(String::new, |c| format!(" ({c})"))
            ),
        );
    }
    for o in at(s, "other_entries").as_array().into_iter().flatten() {
        row(
            "recorded",
            format!(
                "{} at ledger index {}",
                text(at(at(o, "entry"), "type")),
                text(at(o, "ledger_index"))
            ),
        );
    }
    let l = at(s, "lineage");
    row(
        "lineage",
        format!(
            "root {}, parent {}",
            text(at(l, "root")),
            at(l, "ancestors")
                .as_array()
                .and_then(|a| a.first())
                .map_or_else(|| "none".to_owned(), |p| text(at(p, "execution")))
        ),
    );
    for c in at(l, "descendants").as_array().into_iter().flatten() {
        row("child", text(at(c, "execution")));
    }
    row("ledger", list(at(s, "ledger_indexes")));
    row(
        "writ",
        if at(s, "writ") == &Value::Bool(true) {
            "issued (in the proof bundle: `writ inspect`)".to_owned()
        } else {
            "none".to_owned()
        },
    );
}
