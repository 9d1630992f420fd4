//! Server configuration: a TOML file, then `WRIT_*` environment variables over it.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::ServerError;

/// Settings of `writ serve`. Every field has a safe default.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on (`WRIT_LISTEN`).
    pub listen: String,
    /// Where the ledger, keys and control store live (`WRIT_DATA_DIR`).
    pub data_dir: PathBuf,
    /// The control plane's id, the writs' `iss` (`WRIT_ISSUER`).
    pub issuer: String,
    /// The ledger's origin line (`WRIT_LEDGER_ORIGIN`).
    pub ledger_origin: String,
    /// Default writ lifetime in seconds (`WRIT_WRIT_LIFETIME_SECS`).
    pub writ_lifetime_secs: u64,
    /// Upper bound a request may ask for (`WRIT_WRIT_MAX_LIFETIME_SECS`).
    pub writ_max_lifetime_secs: u64,
    /// Largest request body accepted, in bytes (`WRIT_MAX_BODY_BYTES`).
    pub max_body_bytes: usize,
    /// Seconds between heartbeats on the event feed (`WRIT_HEARTBEAT_SECS`).
    pub heartbeat_secs: u64,
    /// Optional TLS (`WRIT_TLS_CERT`, `WRIT_TLS_KEY`): PEM files.
    pub tls: Option<TlsConfig>,
    /// Most connections served at once (`WRIT_MAX_CONNECTIONS`); at the cap the oldest
    /// connection waiting for a request is closed to make room (see `serve.rs`).
    pub max_connections: usize,
    /// Seconds a client may take to send a request's head, and the longest a kept-alive
    /// connection may stay idle (`WRIT_HEADER_READ_TIMEOUT_SECS`).
    pub header_read_timeout_secs: u64,
    /// Seconds a request's body may take to arrive, and the longest a write to a client that
    /// stopped reading may wait before its connection is closed (`WRIT_BODY_READ_TIMEOUT_SECS`).
    pub body_read_timeout_secs: u64,
    /// Seconds between two sweeps for executions whose lease ran out without a receipt
    /// (`WRIT_LEASE_SWEEP_SECS`); see `lease.rs`.
    pub lease_sweep_secs: u64,
    /// Seconds a lease may be overdue before the sweep ends it (`WRIT_LEASE_GRACE_SECS`): room
    /// for a receipt or renewal on its way.
    pub lease_grace_secs: u64,
    /// The `[ledger]` table: who may read the ledger's tiles.
    pub ledger: LedgerConfig,
    /// The `[store]` table: SQLite in the data directory (the default) or PostgreSQL.
    pub store: StoreConfig,
}

/// The `[store]` table of the configuration file: where the ledger, the evidence and the
/// control store live. Without `url`, in SQLite files inside the data directory; with a
/// PostgreSQL URL, in that database, shared by every node given the same URL and schema
/// prefix (the execution index stays a per-node file, derived from the shared ledger).
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `postgres://user:password@host:port/db` (`WRIT_DATABASE_URL`, or `writ serve
    /// --database`). It may carry a password: it is never printed, logged or passed to a child.
    pub url: Option<String>,
    /// Prefix of the PostgreSQL schemas (`WRIT_DATABASE_SCHEMA`): `PREFIX_ledger` holds the
    /// ledger and its evidence, `PREFIX_control` the control store. Lowercase letters, digits
    /// and `_`.
    pub schema: String,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            url: None,
            schema: DEFAULT_SCHEMA_PREFIX.to_owned(),
        }
    }
}

/// The default prefix of the PostgreSQL schemas.
pub const DEFAULT_SCHEMA_PREFIX: &str = "writ";

impl std::fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreConfig")
            .field("url", &self.url.as_deref().map(redact_url))
            .field("schema", &self.schema)
            .finish()
    }
}

impl StoreConfig {
    /// The PostgreSQL schema of the ledger.
    pub fn ledger_schema(&self) -> String {
        format!("{}_ledger", self.schema)
    }

    /// The PostgreSQL schema of the control store.
    pub fn control_schema(&self) -> String {
        format!("{}_control", self.schema)
    }
}

/// `url` with any password replaced by `***`, for messages.
pub fn redact_url(url: &str) -> String {
    redact(url, url)
}

/// The secrets a database `url` carries (its password, raw and percent-decoded; in a
/// URL's userinfo, or `password=` of a key=value string or a URL's query), to cut
/// out of messages. Empty when it carries none.
pub fn url_secrets(url: &str) -> Vec<String> {
    let mut out = Vec::new();
    // Any scheme's userinfo: a URL of the wrong kind is quoted in the error that refuses it.
    if let Some((_, rest)) = url.split_once("://") {
        let authority = rest.split(['/', '?']).next().unwrap_or_default();
        if let Some((userinfo, _)) = authority.rsplit_once('@')
            && let Some((_, password)) = userinfo.split_once(':')
        {
            out.push(password.to_owned());
        }
    }
    // `password=…` in a key=value string or a URL's query.
    let mut from = 0;
    while let Some(at) = url.get(from..).and_then(|s| s.find("password=")) {
        let start = from + at + "password=".len();
        let tail = url.get(start..).unwrap_or_default();
        let value = match tail.strip_prefix('\'') {
            Some(quoted) => quoted.split('\'').next().unwrap_or_default(),
            None => tail
                .split(|c: char| c == '&' || c.is_whitespace())
                .next()
                .unwrap_or_default(),
        };
        out.push(value.to_owned());
        from = start;
    }
    let decoded: Vec<String> = out.iter().map(|s| percent_decode(s)).collect();
    out.extend(decoded);
    out.retain(|s| !s.is_empty());
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out.dedup();
    out
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b, hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `message` with every secret of `url` replaced by `***`.
pub fn redact(message: &str, url: &str) -> String {
    let mut out = message.to_owned();
    for secret in url_secrets(url) {
        out = out.replace(&secret, "***");
    }
    out
}

/// The `[ledger]` table of the configuration file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct LedgerConfig {
    /// Serve tiles, entry bundles and consistency proofs without a token
    /// (`WRIT_LEDGER_PUBLIC_READS=true`). Off by default: they then need the bearer token of a
    /// read role (admin, operator, auditor). Checkpoints are always public.
    pub public_reads: bool,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8787".into(),
            data_dir: PathBuf::from("writ-data"),
            issuer: "writ:local".into(),
            ledger_origin: "writ.local/ledger".into(),
            writ_lifetime_secs: 60,
            writ_max_lifetime_secs: 600,
            max_body_bytes: 256 * 1024,
            heartbeat_secs: 5,
            tls: None,
            max_connections: 1024,
            header_read_timeout_secs: 15,
            body_read_timeout_secs: 30,
            lease_sweep_secs: 5,
            lease_grace_secs: 10,
            ledger: LedgerConfig::default(),
            store: StoreConfig::default(),
        }
    }
}

impl ServerConfig {
    /// Reads `path` (if given) and applies environment overrides from `env`.
    pub fn load(
        path: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ServerError> {
        let mut cfg = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| {
                    ServerError::Config(format!("cannot read {}: {e}", p.display()))
                })?;
                toml::from_str(&text)
                    .map_err(|e| ServerError::Config(format!("{}: {e}", p.display())))?
            }
            None => ServerConfig::default(),
        };
        let num = |name: &str, v: String| -> Result<u64, ServerError> {
            v.parse()
                .map_err(|_| ServerError::Config(format!("{name}={v:?} is not a whole number")))
        };
        if let Some(v) = env("WRIT_LISTEN") {
            cfg.listen = v;
        }
        if let Some(v) = env("WRIT_DATA_DIR") {
            cfg.data_dir = PathBuf::from(v);
        }
        if let Some(v) = env("WRIT_ISSUER") {
            cfg.issuer = v;
        }
        if let Some(v) = env("WRIT_LEDGER_ORIGIN") {
            cfg.ledger_origin = v;
        }
        if let Some(v) = env("WRIT_WRIT_LIFETIME_SECS") {
            cfg.writ_lifetime_secs = num("WRIT_WRIT_LIFETIME_SECS", v)?;
        }
        if let Some(v) = env("WRIT_WRIT_MAX_LIFETIME_SECS") {
            cfg.writ_max_lifetime_secs = num("WRIT_WRIT_MAX_LIFETIME_SECS", v)?;
        }
        if let Some(v) = env("WRIT_MAX_BODY_BYTES") {
            cfg.max_body_bytes =
                usize::try_from(num("WRIT_MAX_BODY_BYTES", v)?).unwrap_or(usize::MAX);
        }
        if let Some(v) = env("WRIT_HEARTBEAT_SECS") {
            cfg.heartbeat_secs = num("WRIT_HEARTBEAT_SECS", v)?;
        }
        if let Some(v) = env("WRIT_MAX_CONNECTIONS") {
            cfg.max_connections =
                usize::try_from(num("WRIT_MAX_CONNECTIONS", v)?).unwrap_or(usize::MAX);
        }
        if let Some(v) = env("WRIT_HEADER_READ_TIMEOUT_SECS") {
            cfg.header_read_timeout_secs = num("WRIT_HEADER_READ_TIMEOUT_SECS", v)?;
        }
        if let Some(v) = env("WRIT_BODY_READ_TIMEOUT_SECS") {
            cfg.body_read_timeout_secs = num("WRIT_BODY_READ_TIMEOUT_SECS", v)?;
        }
        if let Some(v) = env("WRIT_LEASE_SWEEP_SECS") {
            cfg.lease_sweep_secs = num("WRIT_LEASE_SWEEP_SECS", v)?;
        }
        if let Some(v) = env("WRIT_LEASE_GRACE_SECS") {
            cfg.lease_grace_secs = num("WRIT_LEASE_GRACE_SECS", v)?;
        }
        if let Some(v) = env("WRIT_LEDGER_PUBLIC_READS") {
            cfg.ledger.public_reads = match v.as_str() {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => {
                    return Err(ServerError::Config(format!(
                        "WRIT_LEDGER_PUBLIC_READS={v:?} must be true or false"
                    )));
                }
            };
        }
        if let Some(v) = env("WRIT_DATABASE_URL").filter(|v| !v.is_empty()) {
            cfg.store.url = Some(v);
        }
        if let Some(v) = env("WRIT_DATABASE_SCHEMA") {
            cfg.store.schema = v;
        }
        match (env("WRIT_TLS_CERT"), env("WRIT_TLS_KEY")) {
            (Some(cert), Some(key)) => {
                cfg.tls = Some(TlsConfig {
                    cert: cert.into(),
                    key: key.into(),
                })
            }
            (None, None) => {}
            _ => {
                return Err(ServerError::Config(
                    "set both WRIT_TLS_CERT and WRIT_TLS_KEY, or neither".into(),
                ));
            }
        }
        cfg.check()?;
        Ok(cfg)
    }

    /// Refuses values the server cannot run with, naming the setting to fix.
    pub fn check(&self) -> Result<(), ServerError> {
        if self.writ_lifetime_secs == 0 || self.writ_lifetime_secs > self.writ_max_lifetime_secs {
            return Err(ServerError::Config(format!(
                "writ_lifetime_secs ({}) must be between 1 and writ_max_lifetime_secs ({})",
                self.writ_lifetime_secs, self.writ_max_lifetime_secs
            )));
        }
        if self.heartbeat_secs == 0 {
            return Err(ServerError::Config(
                "heartbeat_secs must be at least 1".into(),
            ));
        }
        if self.max_connections == 0 {
            return Err(ServerError::Config(
                "max_connections must be at least 1".into(),
            ));
        }
        if self.header_read_timeout_secs == 0 || self.body_read_timeout_secs == 0 {
            return Err(ServerError::Config(
                "header_read_timeout_secs and body_read_timeout_secs must be at least 1".into(),
            ));
        }
        if self.lease_sweep_secs == 0 {
            return Err(ServerError::Config(
                "lease_sweep_secs must be at least 1".into(),
            ));
        }
        if i64::try_from(self.lease_grace_secs).is_err() {
            return Err(ServerError::Config("lease_grace_secs is too large".into()));
        }
        if let Some(url) = &self.store.url
            && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            return Err(ServerError::Config(format!(
                "store.url {} is not a postgres:// URL (leave it unset for SQLite in the data directory)",
                redact_url(url)
            )));
        }
        // Spliced into SQL as `PREFIX_ledger` / `PREFIX_control`: a valid name or nothing.
        if self.store.schema.len() > 50
            || !writ_ledger::pg::valid_schema_name(&self.store.ledger_schema())
        {
            return Err(ServerError::Config(format!(
                "store.schema {:?} must be lowercase letters, digits and _, starting with a letter, at most 50 bytes",
                self.store.schema
            )));
        }
        if self.max_body_bytes < 1024 {
            return Err(ServerError::Config(
                "max_body_bytes must be at least 1024".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_cuts_the_password_out_of_every_url_form() {
        let msg = "failed for s3cr%3At and s3cr:t and hunter2 and pw x";
        let r = redact(msg, "postgres://writ:s3cr%3At@127.0.0.1:5432/db");
        assert!(!r.contains("s3cr%3At") && !r.contains("s3cr:t"), "{r}");
        let r = redact(msg, "host=127.0.0.1 user=writ password=hunter2 dbname=x");
        assert!(!r.contains("hunter2"), "{r}");
        let r = redact(msg, "host=h password='pw x'");
        assert!(!r.contains("pw x"), "{r}");
        let r = redact(msg, "postgresql://h/db?user=u&password=hunter2");
        assert!(!r.contains("hunter2"), "{r}");
        // No password: nothing is cut.
        assert_eq!(redact(msg, "postgres://writ@127.0.0.1/db"), msg);
    }

    #[test]
    fn database_url_comes_from_env_and_never_shows_its_password() {
        let cfg = ServerConfig::load(None, |k| match k {
            "WRIT_DATABASE_URL" => Some("postgres://writ:s3cret-pw@127.0.0.1:5432/writ".into()),
            "WRIT_DATABASE_SCHEMA" => Some("fleet_a".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(
            cfg.store.url.as_deref(),
            Some("postgres://writ:s3cret-pw@127.0.0.1:5432/writ")
        );
        assert_eq!(cfg.store.ledger_schema(), "fleet_a_ledger");
        assert_eq!(cfg.store.control_schema(), "fleet_a_control");
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("s3cret-pw"), "{shown}");
        assert!(
            shown.contains("postgres://writ:***@127.0.0.1:5432/writ"),
            "{shown}"
        );
        assert_eq!(
            redact_url("host=db user=w password=pw dbname=x"),
            "host=db user=w password=*** dbname=x"
        );
        assert_eq!(redact_url("postgres://db/x"), "postgres://db/x");
        let bad = ServerConfig::load(None, |k| {
            (k == "WRIT_DATABASE_SCHEMA").then(|| "Bad-Name".to_string())
        });
        assert!(bad.is_err());
        let err = ServerConfig::load(None, |k| {
            (k == "WRIT_DATABASE_URL").then(|| "mysql://u:s3cret-pw@h/db".to_string())
        })
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("postgres://") && !err.contains("s3cret-pw"),
            "{err}"
        );
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("writ.toml");
        std::fs::write(
            &p,
            "[store]\nurl = \"postgres://a@h/db\"\nschema = \"w2\"\n",
        )
        .unwrap();
        let cfg = ServerConfig::load(Some(&p), |_| None).unwrap();
        assert_eq!(cfg.store.url.as_deref(), Some("postgres://a@h/db"));
        assert_eq!(cfg.store.control_schema(), "w2_control");
    }

    #[test]
    fn env_overrides_file_and_bad_values_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("writ.toml");
        std::fs::write(&p, "listen = \"127.0.0.1:9000\"\nwrit_lifetime_secs = 30\n").unwrap();
        let cfg = ServerConfig::load(Some(&p), |k| {
            (k == "WRIT_LISTEN").then(|| "127.0.0.1:0".to_string())
        })
        .unwrap();
        assert_eq!(cfg.listen, "127.0.0.1:0");
        assert_eq!(cfg.writ_lifetime_secs, 30);
        std::fs::write(&p, "lisen = 1\n").unwrap();
        assert!(ServerConfig::load(Some(&p), |_| None).is_err());
        assert!(
            ServerConfig::load(None, |k| (k == "WRIT_HEARTBEAT_SECS")
                .then(|| "x".to_string()))
            .is_err()
        );
        let cfg = ServerConfig::load(None, |k| {
            (k == "WRIT_MAX_CONNECTIONS").then(|| "64".to_string())
        })
        .unwrap();
        assert_eq!(cfg.max_connections, 64);
        assert!(
            ServerConfig::load(None, |k| (k == "WRIT_MAX_CONNECTIONS")
                .then(|| "0".to_string()))
            .is_err()
        );
        let cfg = ServerConfig::load(None, |k| match k {
            "WRIT_LEASE_SWEEP_SECS" => Some("2".to_string()),
            "WRIT_LEASE_GRACE_SECS" => Some("0".to_string()),
            _ => None,
        })
        .unwrap();
        assert_eq!((cfg.lease_sweep_secs, cfg.lease_grace_secs), (2, 0));
        assert!(
            ServerConfig::load(None, |k| (k == "WRIT_LEASE_SWEEP_SECS")
                .then(|| "0".to_string()))
            .is_err()
        );
        assert!(
            ServerConfig::load(None, |k| (k == "WRIT_TLS_CERT")
                .then(|| "c.pem".to_string()))
            .is_err()
        );
    }

    #[test]
    fn ledger_reads_are_private_unless_the_file_or_the_environment_says_public() {
        assert!(!ServerConfig::default().ledger.public_reads);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("writ.toml");
        std::fs::write(&p, "[ledger]\npublic_reads = true\n").unwrap();
        assert!(
            ServerConfig::load(Some(&p), |_| None)
                .unwrap()
                .ledger
                .public_reads
        );
        let off = ServerConfig::load(Some(&p), |k| {
            (k == "WRIT_LEDGER_PUBLIC_READS").then(|| "false".to_string())
        })
        .unwrap();
        assert!(!off.ledger.public_reads);
        let on = ServerConfig::load(None, |k| {
            (k == "WRIT_LEDGER_PUBLIC_READS").then(|| "true".to_string())
        })
        .unwrap();
        assert!(on.ledger.public_reads);
        assert!(
            ServerConfig::load(None, |k| (k == "WRIT_LEDGER_PUBLIC_READS")
                .then(|| "yes".to_string()))
            .is_err()
        );
        std::fs::write(&p, "[ledger]\npublic_read = true\n").unwrap();
        assert!(ServerConfig::load(Some(&p), |_| None).is_err());
    }
}
