//! `writ inspect` and `writ verify-writ`: read a writ as a person, and check it offline
//! exactly as a gate would before executing anything.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use serde_json::{Value, json};
use writ_artifact::{
    DEFAULT_LEEWAY_SECS, VerificationKeys, VerifiedWrit, Verifier, VerifierConfig, VerifyError,
    decode_unverified,
};
use writ_model::{Clock, FixedClock, GateId, Intent, SystemClock, ZoneId};

use crate::cli_output::{Exit, Format, invalid_input, print_json};

/// Print the decoded header and claims of a writ, readable. Does NOT verify it.
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// The writ: a JWS compact string, a file holding one, or `-` to read standard input.
    pub writ: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

/// Verify a writ offline, as a gate would: signature (strict Ed25519) against the JWKS,
/// alg/typ pinned, time window, audience, and the intent of the call about to be made.
///
/// Exit codes: 0 the writ authorizes the call, 2 denied (the reason code is printed),
/// 3 invalid input (unreadable writ, JWKS or intent), 1 failure.
#[derive(Debug, clap::Args)]
pub struct VerifyWritArgs {
    /// The writ: a JWS compact string, a file holding one, or `-` to read standard input.
    pub writ: String,
    /// JWKS file with the control plane's writ keys (as served at /.well-known/jwks.json).
    #[arg(long, env = "WRIT_JWKS")]
    pub jwks: PathBuf,
    /// This gate's id (`gate:NAME`); the writ's `aud` must equal it.
    #[arg(
        long = "gate-id",
        alias = "gate",
        env = "WRIT_GATE_ID",
        value_name = "GATE"
    )]
    pub gate: String,
    /// JSON file with the call about to be made: {"action":…,"resource":…,"args":{…}}.
    #[arg(long)]
    pub intent: PathBuf,
    /// The control plane's id; when given, the writ's `iss` must equal it.
    #[arg(long, env = "WRIT_ISSUER")]
    pub issuer: Option<String>,
    /// This gate's zone; when given, the writ's `env.zone` must equal it.
    #[arg(long, env = "WRIT_GATE_ZONE")]
    pub zone: Option<String>,
    /// Clock leeway in seconds for nbf/iat/exp.
    #[arg(long, default_value_t = DEFAULT_LEEWAY_SECS)]
    pub leeway: i64,
    /// Verify as of this Unix time instead of now (for audits and tests).
    #[arg(long)]
    pub at: Option<i64>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

pub fn inspect(args: InspectArgs) -> anyhow::Result<Exit> {
    let token = read_writ(&args.writ)?;
    let decoded = decode_unverified(&token).map_err(|e| {
        invalid_input(format!(
            "{} ({}): pass a writ as JWS compact serialization",
            e,
            e.reason_code()
        ))
    })?;
    match args.format {
        Format::Json => print_json(&json!({
            "verified": false,
            "header": decoded.header,
            "claims": decoded.claims,
        }))?,
        Format::Human => print!("{}", describe(&decoded.header, &decoded.claims)),
    }
    Ok(Exit::Ok)
}

pub fn verify_writ(args: VerifyWritArgs) -> anyhow::Result<Exit> {
    let token = read_writ(&args.writ)?;
    let jwks_bytes = read_file(&args.jwks)?;
    let keys = VerificationKeys::from_jwks_json(&jwks_bytes).map_err(|e| {
        invalid_input(format!(
            "{}: {e} ({})",
            args.jwks.display(),
            e.reason_code()
        ))
    })?;
    if keys.is_empty() {
        return Err(invalid_input(format!(
            "{}: the JWKS holds no OKP/Ed25519 key: fetch it from the control plane's /.well-known/jwks.json",
            args.jwks.display()
        )));
    }
    let intent_bytes = read_file(&args.intent)?;
    // Numbers JSON readers disagree on (beyond 2^53, more digits than a double holds) would be
    // checked as the neighbour a double rounds them to: refuse them as the gates do.
    writ_model::number::check_json_numbers(&intent_bytes).map_err(|e| {
        invalid_input(format!(
            "{}: {e} ({})",
            args.intent.display(),
            e.reason_code()
        ))
    })?;
    let call: Intent = serde_json::from_slice(&intent_bytes).map_err(|e| {
        invalid_input(format!(
            "{}: {e}: expected {{\"action\":…,\"resource\":…,\"args\":{{…}}}}",
            args.intent.display()
        ))
    })?;
    let gate: GateId = args
        .gate
        .parse()
        .map_err(|e| invalid_input(format!("--gate: {e}")))?;
    let mut config = VerifierConfig::new(gate);
    config.issuer = args.issuer;
    config.zone = args
        .zone
        .map(|z| z.parse::<ZoneId>())
        .transpose()
        .map_err(|e| invalid_input(format!("--zone: {e}")))?;
    if args.leeway < 0 {
        return Err(invalid_input("--leeway must not be negative"));
    }
    config.leeway_secs = args.leeway;
    let clock: Arc<dyn Clock> = match args.at {
        Some(t) => Arc::new(FixedClock::new(t)),
        None => Arc::new(SystemClock),
    };
    let verifier = Verifier::new(keys, config, clock);
    match verifier.verify_call(&token, &call) {
        Ok(v) => {
            print_ok(&v, args.format)?;
            Ok(Exit::Ok)
        }
        Err(e) if e.is_malformed_input() => {
            if args.format == Format::Json {
                print_refusal("invalid", &e)?;
            }
            Err(invalid_input(format!("{e} ({})", e.reason_code())))
        }
        Err(e) => {
            match args.format {
                Format::Json => print_refusal("denied", &e)?,
                Format::Human => println!("denied: {}: {e}", e.reason_code()),
            }
            Ok(Exit::Denied)
        }
    }
}

fn print_ok(v: &VerifiedWrit, format: Format) -> anyhow::Result<()> {
    let c = v.claims();
    match format {
        Format::Json => print_json(&json!({
            "result": "ok",
            "kid": v.kid(),
            "jti": c.jti,
            "sub": c.sub,
            "aud": c.aud,
            "exp": c.exp,
            "execution": c.lineage.execution,
        })),
        Format::Human => {
            println!(
                "ok: writ {} lets {} run {} on {} at {} until {} (key {})",
                c.jti,
                c.sub,
                c.intent.action,
                c.intent.resource,
                c.aud,
                utc(c.exp),
                v.kid()
            );
            Ok(())
        }
    }
}

fn print_refusal(result: &str, e: &VerifyError) -> anyhow::Result<()> {
    print_json(&json!({
        "result": result,
        "reason": e.reason_code(),
        "message": e.to_string(),
    }))
}

fn read_file(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| invalid_input(format!("cannot read {}: {e}", path.display())))
}

/// The writ from the argument: `-` for stdin, an existing file, or the token itself.
fn read_writ(arg: &str) -> anyhow::Result<String> {
    let text = if arg == "-" {
        let mut s = String::new();
        std::io::stdin()
            .take(64 * 1024)
            .read_to_string(&mut s)
            .context("cannot read the writ from standard input")?;
        s
    } else if !arg.contains('.') || Path::new(arg).is_file() {
        // A JWS always holds dots; anything else must be a file name.
        let bytes = read_file(Path::new(arg))?;
        String::from_utf8(bytes)
            .map_err(|_| invalid_input(format!("{arg}: a writ file must be ASCII text")))?
    } else {
        arg.to_owned()
    };
    Ok(text.trim().to_owned())
}

// ---- human-readable description ----

fn describe(header: &Value, claims: &Value) -> String {
    let mut out = String::new();
    let mut line = |label: &str, value: String| {
        out.push_str(&format!("{label:<14}{value}\n"));
    };
    line(
        "writ",
        "NOT verified (use `writ verify-writ` to check it)".into(),
    );
    line(
        "header",
        format!(
            "alg {}, typ {}, kid {}",
            text(header, "alg"),
            text(header, "typ"),
            text(header, "kid")
        ),
    );
    line("issuer", text(claims, "iss"));
    line("subject", text(claims, "sub"));
    if let Some(act) = claims.get("act") {
        let mut chain = Vec::new();
        let mut cur = Some(act);
        while let Some(a) = cur {
            chain.push(text(a, "sub"));
            cur = a.get("act");
            if chain.len() > 16 {
                break;
            }
        }
        line("on behalf of", chain.join(" <- "));
    }
    line("audience", text(claims, "aud"));
    line("jti", text(claims, "jti"));
    line("issued", time(claims.get("iat")));
    line("not before", time(claims.get("nbf")));
    line("expires", time(claims.get("exp")));
    if let (Some(iat), Some(exp)) = (
        claims.get("iat").and_then(Value::as_i64),
        claims.get("exp").and_then(Value::as_i64),
    ) {
        line("lifetime", format!("{} s", exp.saturating_sub(iat)));
    }
    let intent = claims.get("intent").unwrap_or(&Value::Null);
    line(
        "intent",
        format!("{} {}", text(intent, "action"), text(intent, "resource")),
    );
    line("  args sha256", text(intent, "args_sha256"));
    let env = claims.get("env").unwrap_or(&Value::Null);
    line("zone", text(env, "zone"));
    line("  attestation", text(env, "attestation_sha256"));
    let policy = claims.get("policy").unwrap_or(&Value::Null);
    line("policy", text(policy, "bundle_sha256"));
    line("  engine", text(policy, "engine"));
    line("  determining", list(policy.get("determining")));
    let scope = claims.get("scope").unwrap_or(&Value::Null);
    line("max uses", text(scope, "max_uses"));
    if let Some(fs) = scope.get("fs") {
        line("files read", list(fs.get("read")));
        line("files write", list(fs.get("write")));
    }
    if let Some(d) = scope.get("delegate") {
        line(
            "may delegate",
            format!(
                "actions {}; resources {}; zones {}",
                list(d.get("actions")),
                list(d.get("resources")),
                list(d.get("zones"))
            ),
        );
    }
    let lineage = claims.get("lineage").unwrap_or(&Value::Null);
    line("execution", text(lineage, "execution"));
    if lineage.get("parent").is_some() {
        line("  parent", text(lineage, "parent"));
    }
    line("  root", text(lineage, "root"));
    line("  traceparent", text(lineage, "traceparent"));
    let ledger = claims.get("ledger").unwrap_or(&Value::Null);
    line(
        "ledger",
        format!("{} #{}", text(ledger, "origin"), text(ledger, "index")),
    );
    const KNOWN: [&str; 14] = [
        "iss", "sub", "act", "aud", "jti", "iat", "nbf", "exp", "intent", "env", "policy", "scope",
        "lineage", "ledger",
    ];
    if let Some(obj) = claims.as_object() {
        let extra: Vec<&str> = obj
            .keys()
            .map(String::as_str)
            .filter(|k| !KNOWN.contains(k))
            .collect();
        if !extra.is_empty() {
            line("other claims", extra.join(", "));
        }
    }
    out
}

fn text(v: &Value, key: &str) -> String {
    match v.get(key) {
        None => "(missing)".into(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

fn list(v: Option<&Value>) -> String {
    match v.and_then(Value::as_array) {
        Some(items) if items.is_empty() => "(none)".into(),
        Some(items) => items
            .iter()
            .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
            .collect::<Vec<_>>()
            .join(", "),
        None => "(missing)".into(),
    }
}

fn time(v: Option<&Value>) -> String {
    match v {
        Some(Value::Number(n)) => match n.as_i64() {
            Some(t) => format!("{} ({t})", utc(t)),
            None => n.to_string(),
        },
        Some(other) => other.to_string(),
        None => "(missing)".into(),
    }
}

/// Unix seconds as RFC 3339 UTC (proleptic Gregorian; H. Hinnant's civil_from_days).
pub(crate) fn utc(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3_600,
        secs % 3_600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::utc;

    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(utc(-1), "1969-12-31T23:59:59Z");
    }
}
