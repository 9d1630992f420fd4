//! Policy tests: a file of requests with expected decisions, run like unit tests.
//!
//! ```json
//! { "now": 1767225600,
//!   "cases": [
//!     { "name": "bot may read issues",
//!       "request": { "principal": "agent:triage-bot",
//!                    "intent": {"action": "mcp.call_tool", "resource": "tool:github/get_issue"},
//!                    "env": {"zone": "dev", "gate": "gate:mcp-1"} },
//!       "expect": "allow",
//!       "determining": ["read-only-tools"] } ] }
//! ```
//! `now` (Unix seconds) may be set per case; `determining` and `reason_code` are optional
//! extra expectations.

use serde::{Deserialize, Serialize};
use writ_model::{AuthorizeRequest, Decision, DecisionCode, DecisionRecord};

use crate::bundle::Bundle;
use crate::decide::decide;
use crate::error::TestFileError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyTestFile {
    /// The decision time for cases that do not set their own.
    pub now: i64,
    pub cases: Vec<PolicyTestCase>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyTestCase {
    pub name: String,
    pub request: AuthorizeRequest,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub now: Option<i64>,
    pub expect: Decision,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub determining: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_code: Option<DecisionCode>,
}

/// The result of one case.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicyTestResult {
    pub name: String,
    pub passed: bool,
    /// What differed from the expectation, one line each.
    pub failures: Vec<String>,
    pub record: DecisionRecord,
}

/// Parses a policy test file.
pub fn parse_policy_tests(text: &str) -> Result<PolicyTestFile, TestFileError> {
    serde_json::from_str(text).map_err(|e| TestFileError::Invalid(e.to_string()))
}

/// Runs every case; the results are in file order.
pub fn run_policy_tests(bundle: &Bundle, file: &PolicyTestFile) -> Vec<PolicyTestResult> {
    file.cases
        .iter()
        .map(|case| {
            let record = decide(bundle, &case.request, case.now.unwrap_or(file.now));
            let mut failures = Vec::new();
            if record.decision != case.expect {
                failures.push(format!(
                    "expected {} but got {} ({})",
                    case.expect.as_str(),
                    record.decision.as_str(),
                    record.reasons.join("; ")
                ));
            }
            if let Some(want) = &case.determining {
                let mut want = want.clone();
                want.sort();
                if want != record.determining {
                    failures.push(format!(
                        "expected determining policies {:?} but got {:?}",
                        want, record.determining
                    ));
                }
            }
            if let Some(code) = case.reason_code
                && code != record.reason_code
            {
                failures.push(format!(
                    "expected reason code {} but got {}",
                    code.as_str(),
                    record.reason_code.as_str()
                ));
            }
            PolicyTestResult {
                name: case.name.clone(),
                passed: failures.is_empty(),
                failures,
                record,
            }
        })
        .collect()
}
