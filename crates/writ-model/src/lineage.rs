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
    /// W3C trace context `traceparent` (version 00): the trace id is the root execution,
    /// the span id the low 64 bits of this execution.
    pub traceparent: String,
}

impl Lineage {
    /// Lineage of a new root execution (nothing caused it).
    pub fn root(execution: ExecutionId) -> Self {
        Self::build(execution, None, execution)
    }

    /// Lineage of an execution caused by `parent`.
    pub fn child_of(execution: ExecutionId, parent: &Lineage) -> Self {
        Self::build(execution, Some(parent.execution), parent.root)
    }

    /// The lineage the control plane gives an execution with this parent and root (its
    /// traceparent follows from them): how a v2 ledger entry's clear members read back.
    pub fn from_parts(
        execution: ExecutionId,
        parent: Option<ExecutionId>,
        root: ExecutionId,
    ) -> Self {
        Self::build(execution, parent, root)
    }

    fn build(execution: ExecutionId, parent: Option<ExecutionId>, root: ExecutionId) -> Self {
        let trace_id = root.as_uuid().simple().to_string();
        let span = execution.as_uuid().as_u128() as u64;
        Self {
            execution,
            parent,
            root,
            traceparent: format!("00-{trace_id}-{span:016x}-01"),
        }
    }
}

/// Checks the form of a W3C `traceparent` header value (version 00).
pub fn is_valid_traceparent(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let hex = |p: &str, n: usize| {
        p.len() == n && p.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    match parts.as_slice() {
        [v, t, p, f] => {
            *v == "00"
                && hex(t, 32)
                && hex(p, 16)
                && hex(f, 2)
                && t.bytes().any(|b| b != b'0')
                && p.bytes().any(|b| b != b'0')
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
