//! Logs of the long-running commands (`serve`, `gateway mcp`, `exec`): a `tracing` subscriber
//! writing to stderr (stdout stays for data), filtered by `WRIT_LOG`, else `RUST_LOG`, else
//! `info`, as text or as one JSON object per line (`--log-format` / `WRIT_LOG_FORMAT`).
//!
//! What is logged never holds a secret: tokens, writs and argument values stay out of every
//! event by construction (the events name executions, principals, actions and resources only).
//!
//! Traces: with `--otlp-endpoint URL` (or `OTEL_EXPORTER_OTLP_ENDPOINT`) the spans Writ opens
//! (`writ.authorize` with `writ.decide`, `writ.record`, `writ.sign`; `writ.gate.call` with
//! `writ.gate.check`, `writ.gate.upstream`, `writ.gate.receipt`; `writ.exec`) are exported
//! over OTLP/HTTP with protobuf bodies to `URL/v1/traces`, in batches from a thread of their
//! own; where a caller sent a W3C `traceparent` they continue its trace. Only spans named
//! `writ.*` are exported, whatever `WRIT_LOG` says; log lines are not.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// `2026-01-01T00:00:00Z  INFO writ::call: governed call execution=… decision=allow …`
    #[default]
    Text,
    /// One JSON object per line, the event's fields under `fields`.
    Json,
}

/// The filter in force: `WRIT_LOG`, then `RUST_LOG` (the `EnvFilter` syntax, e.g.
/// `info,writ::access=warn`), then `info`. A filter that does not parse falls back to `info`
/// with a note, rather than silencing the logs.
fn filter() -> EnvFilter {
    for var in ["WRIT_LOG", "RUST_LOG"] {
        if let Ok(spec) = std::env::var(var)
            && !spec.trim().is_empty()
        {
            match EnvFilter::try_new(&spec) {
                Ok(f) => return f,
                Err(e) => {
                    eprintln!("note: {var}={spec:?} is not a log filter ({e}); logging at info");
                    return EnvFilter::new("info");
                }
            }
        }
    }
    EnvFilter::new("info")
}

/// The span exporter of a process; dropping it exports what is left and stops it.
pub struct Traces {
    provider: opentelemetry_sdk::trace::SdkTracerProvider,
}

impl Drop for Traces {
    fn drop(&mut self) {
        if let Err(e) = self.provider.shutdown() {
            eprintln!("note: the last spans could not be exported: {e}");
        }
    }
}

/// The exporter of spans to the OTLP/HTTP collector at `endpoint` (its base URL).
fn traces(endpoint: &str, service: &'static str) -> anyhow::Result<Traces> {
    let url = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_endpoint(url.clone())
        .build()
        .map_err(|e| {
            crate::cli_output::invalid_input(format!(
                "--otlp-endpoint {endpoint:?}: cannot export spans to {url}: {e}"
            ))
        })?;
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            opentelemetry_sdk::Resource::builder()
                .with_service_name(service)
                .build(),
        )
        .build();
    Ok(Traces { provider })
}

/// Installs the subscriber for the rest of the process, with span export when `otlp` names a
/// collector. Called once by each long-running command before it starts; a second call (tests
/// in one process) keeps the first.
pub fn init(
    format: LogFormat,
    otlp: Option<&str>,
    service: &'static str,
) -> anyhow::Result<Option<Traces>> {
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(true);
    let fmt = match format {
        LogFormat::Text => fmt.boxed(),
        LogFormat::Json => fmt
            .json()
            .flatten_event(false)
            .with_current_span(false)
            .with_span_list(false)
            .boxed(),
    };
    let traces = otlp
        .filter(|e| !e.trim().is_empty())
        .map(|e| traces(e, service))
        .transpose()?;
    let otel = traces.as_ref().map(|t| {
        tracing_opentelemetry::layer()
            .with_tracer(t.provider.tracer("writ"))
            .with_filter(tracing_subscriber::filter::filter_fn(|m| {
                m.is_span() && m.name().starts_with("writ.")
            }))
    });
    let _ = tracing_subscriber::registry()
        .with(fmt.with_filter(filter()))
        .with(otel)
        .try_init();
    Ok(traces)
}
