//! Lineage: which execution caused which, carried as W3C trace context too.

use serde::{Deserialize, Serialize};

use crate::ids::ExecutionId;

/// Where an execution sits in its causal tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lineage {
    pub execution: ExecutionId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<ExecutionId>,
    pub root: ExecutionId,
    /// W3C trace context `traceparent` (version 00): the span id is the low 64 bits of this
    /// execution; the trace id is the caller's when it sent a `traceparent` (so Writ's spans
    /// join the agent's trace), else the parent's, else the root execution's.
    pub traceparent: String,
}

/// A parsed W3C trace context `traceparent` (version 00): `00-TRACE_ID-PARENT_ID-FLAGS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    /// 16 bytes, not all zero.
    pub trace_id: [u8; 16],
    /// The caller's span: 8 bytes, not all zero.
    pub parent_id: [u8; 8],
    /// Trace flags (bit 0: sampled).
    pub flags: u8,
}

impl TraceParent {
    /// Parses a `traceparent` header value; `None` for anything but a well-formed version 00
    /// value with non-zero ids (W3C: an invalid header starts a new trace).
    pub fn parse(s: &str) -> Option<TraceParent> {
        let mut parts = s.split('-');
        let (v, t, p, f) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let lower_hex = |x: &str| x.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if parts.next().is_some() || v != "00" || ![t, p, f].into_iter().all(lower_hex) {
            return None;
        }
        let mut tp = TraceParent {
            trace_id: [0; 16],
            parent_id: [0; 8],
            flags: 0,
        };
        hex::decode_to_slice(t, &mut tp.trace_id).ok()?;
        hex::decode_to_slice(p, &mut tp.parent_id).ok()?;
        if f.len() != 2 {
            return None;
        }
        tp.flags = u8::from_str_radix(f, 16).ok()?;
        (tp.trace_id != [0; 16] && tp.parent_id != [0; 8]).then_some(tp)
    }

    /// The trace id as 32 lowercase hex digits.
    pub fn trace_id_hex(&self) -> String {
        hex::encode(self.trace_id)
    }
}

impl std::fmt::Display for TraceParent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "00-{}-{}-{:02x}",
            hex::encode(self.trace_id),
            hex::encode(self.parent_id),
            self.flags
        )
    }
}

impl Lineage {
    /// Lineage of a new root execution (nothing caused it), in a trace of its own.
    pub fn root(execution: ExecutionId) -> Self {
        Self::root_in(execution, None)
    }

    /// Lineage of a new root execution; in the caller's trace when it sent one.
    pub fn root_in(execution: ExecutionId, caller: Option<&TraceParent>) -> Self {
        let trace_id = match caller {
            Some(tp) => tp.trace_id_hex(),
            None => execution.as_uuid().simple().to_string(),
        };
        Self::build(execution, None, execution, trace_id)
    }

    /// Lineage of an execution caused by `parent`, in the parent's trace.
    pub fn child_of(execution: ExecutionId, parent: &Lineage) -> Self {
        Self::child_in(execution, parent, None)
    }

    /// The lineage of an execution as a v2 ledger entry's clear members give it back: its
    /// recorded traceparent when it has one (entries before it had none: then the root's trace).
    pub fn from_parts(
        execution: ExecutionId,
        parent: Option<ExecutionId>,
        root: ExecutionId,
        traceparent: Option<String>,
    ) -> Self {
        match traceparent {
            Some(traceparent) => Self {
                execution,
                parent,
                root,
                traceparent,
            },
            None => Self::build(execution, parent, root, root.as_uuid().simple().to_string()),
        }
    }

    /// Lineage of an execution caused by `parent`: in the caller's trace when it sent one,
    /// else in the parent's.
    pub fn child_in(
        execution: ExecutionId,
        parent: &Lineage,
        caller: Option<&TraceParent>,
    ) -> Self {
        let trace_id = match caller.or(TraceParent::parse(&parent.traceparent).as_ref()) {
            Some(tp) => tp.trace_id_hex(),
            None => parent.root.as_uuid().simple().to_string(),
        };
        Self::build(execution, Some(parent.execution), parent.root, trace_id)
    }

    fn build(
        execution: ExecutionId,
        parent: Option<ExecutionId>,
        root: ExecutionId,
        trace_id: String,
    ) -> Self {
        Self {
            execution,
            parent,
            root,
            traceparent: format!("00-{trace_id}-{:016x}-01", Self::span_of(execution)),
        }
    }

    /// The span id an execution's `traceparent` carries: its low 64 bits.
    pub fn span_of(execution: ExecutionId) -> u64 {
        execution.as_uuid().as_u128() as u64
    }
}

/// Writ's spans in a caller's trace (the `otel` feature): what the server and the gates use to
/// continue the trace a `traceparent` names, and to pass theirs on.
#[cfg(feature = "otel")]
pub mod otel {
    use opentelemetry::trace::{
        SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState,
    };
    use tracing_opentelemetry::OpenTelemetrySpanExt;

    use super::TraceParent;

    /// Makes `span` a child of the caller's span `caller`, in the caller's trace. Without an
    /// OpenTelemetry layer installed (no `--otlp-endpoint`) nothing is recorded.
    pub fn join(span: &tracing::Span, caller: &TraceParent) {
        let remote = SpanContext::new(
            TraceId::from_bytes(caller.trace_id),
            SpanId::from_bytes(caller.parent_id),
            TraceFlags::new(caller.flags),
            true,
            TraceState::default(),
        );
        let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(remote));
    }

    /// The `traceparent` naming `span` as exported, to send downstream; `None` when no
    /// OpenTelemetry layer records it.
    pub fn traceparent_of(span: &tracing::Span) -> Option<TraceParent> {
        let cx = span.context();
        let sc = cx.span().span_context().clone();
        sc.is_valid().then(|| TraceParent {
            trace_id: sc.trace_id().to_bytes(),
            parent_id: sc.span_id().to_bytes(),
            flags: sc.trace_flags().to_u8(),
        })
    }
}

/// Checks the form of a W3C `traceparent` header value (version 00).
pub fn is_valid_traceparent(s: &str) -> bool {
    TraceParent::parse(s).is_some()
}

/// How an execution ended, as its lineage shows it: the gate's receipt when there is one, else
/// a lease end recorded by governance, else whether it was ever to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineageOutcome {
    /// Receipt: it ran and succeeded.
    Success,
    /// Receipt: it ran and failed.
    Failure,
    /// Receipt: the gate refused to run it.
    DeniedAtGate,
    /// Receipt, or a lease ended by a denied renewal: governance stopped it while it ran.
    TerminatedByGovernance,
    /// The lease sweep ended it: its runner stopped renewing and reported nothing.
    LeaseExpired,
    /// Denied at authorization: it never ran.
    NotRun,
    /// Allowed, with no receipt or lease end yet.
    Open,
}

impl From<crate::receipt::Outcome> for LineageOutcome {
    fn from(o: crate::receipt::Outcome) -> Self {
        use crate::receipt::Outcome;
        match o {
            Outcome::Success => LineageOutcome::Success,
            Outcome::Failure => LineageOutcome::Failure,
            Outcome::DeniedAtGate => LineageOutcome::DeniedAtGate,
            Outcome::TerminatedByGovernance => LineageOutcome::TerminatedByGovernance,
        }
    }
}

/// One execution of a lineage tree (`GET /v1/lineage/{execution}`, `nodes`). A node the caller
/// may not read keeps only its place in the tree (`redacted`: execution, parent, ledger index).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineageNode {
    pub execution: ExecutionId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<ExecutionId>,
    /// The ledger index of its first decision: nodes come in this order, parents first.
    pub ledger_index: u64,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub redacted: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// The on-behalf-of chain of its writ (`act`), nearest first; empty without a writ.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub on_behalf_of: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<crate::Decision>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<LineageOutcome>,
    /// The receipt's or the lease end's reason code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate: Option<String>,
    /// When it was decided (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<i64>,
    /// From its receipt (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<i64>,
    /// From its receipt, or when its lease was ended (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<i64>,
}

impl LineageNode {
    /// The node of an execution the caller may not read: its place in the tree only.
    pub fn redacted(
        execution: ExecutionId,
        parent: Option<ExecutionId>,
        ledger_index: u64,
    ) -> Self {
        LineageNode {
            execution,
            parent,
            ledger_index,
            redacted: true,
            principal: None,
            on_behalf_of: Vec::new(),
            action: None,
            resource: None,
            decision: None,
            reason_code: None,
            outcome: None,
            outcome_reason: None,
            zone: None,
            gate: None,
            decided_at: None,
            started_at: None,
            finished_at: None,
        }
    }
}

/// The on-behalf-of chain of a writ's `act` claim (RFC 8693 nesting), nearest first; stops at
/// the first member that is not `{"sub": …}` and after 32 hops.
pub fn on_behalf_of_chain(act: Option<&serde_json::Value>) -> Vec<String> {
    let mut out = Vec::new();
    let mut next = act;
    while let Some(a) = next {
        let Some(sub) = a.get("sub").and_then(|s| s.as_str()) else {
            break;
        };
        if out.len() >= 32 {
            break;
        }
        out.push(sub.to_owned());
        next = a.get("act");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_behalf_of_chain_follows_nested_act() {
        let act =
            serde_json::json!({"sub": "agent:a", "act": {"sub": "human:alice", "act": {"x": 1}}});
        assert_eq!(on_behalf_of_chain(Some(&act)), ["agent:a", "human:alice"]);
        assert!(on_behalf_of_chain(None).is_empty());
        let node = LineageNode::redacted(ExecutionId::new_v7(), None, 3);
        let v = serde_json::to_value(&node).unwrap();
        assert_eq!(v["redacted"], true);
        assert!(v.get("principal").is_none());
        assert_eq!(serde_json::from_value::<LineageNode>(v).unwrap(), node);
    }

    #[test]
    fn child_keeps_root_and_trace() {
        let root = Lineage::root(ExecutionId::new_v7());
        let child = Lineage::child_of(ExecutionId::new_v7(), &root);
        assert_eq!(child.root, root.execution);
        assert_eq!(child.parent, Some(root.execution));
        assert!(is_valid_traceparent(&root.traceparent));
        assert!(is_valid_traceparent(&child.traceparent));
        assert_eq!(root.traceparent.get(3..35), child.traceparent.get(3..35));
        assert!(!is_valid_traceparent("00-0-0-0"));
    }

    #[test]
    fn a_callers_trace_is_joined_with_a_span_of_our_own() {
        let agent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let tp = TraceParent::parse(agent).unwrap();
        assert_eq!(tp.to_string(), agent);
        let exec = ExecutionId::new_v7();
        let root = Lineage::root_in(exec, Some(&tp));
        assert!(
            root.traceparent
                .starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-")
        );
        assert!(!root.traceparent.contains("00f067aa0ba902b7"));
        assert!(
            root.traceparent
                .ends_with(&format!("-{:016x}-01", Lineage::span_of(exec)))
        );
        // A child stays in the parent's trace unless its caller sent another.
        let child = Lineage::child_of(ExecutionId::new_v7(), &root);
        assert_eq!(child.traceparent.get(3..35), root.traceparent.get(3..35));
        for bad in [
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        ] {
            assert!(TraceParent::parse(bad).is_none(), "{bad}");
        }
    }
}
