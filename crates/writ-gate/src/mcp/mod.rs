//! The MCP gateway (`writ gateway mcp`): a gate between MCP clients (agents) and upstream MCP
//! servers.
//!
//! Everything a client and a server say to each other passes through unchanged (initialize,
//! capabilities, notifications, progress, cancellation, ping, server-to-client requests), except
//! that every client request goes upstream under an id of the gateway's own and its answer comes
//! back under the client's (so an answer is tied to exactly the request it answers; a request
//! reusing an id in flight is refused with `request_id_in_flight`, a batch holding requests with
//! `batch_not_supported`), and:
//!
//! - `tools/call`: the tool must be pinned ([`PinSet`]: its whole definition, every member, as
//!   an operator approved it); the call is authorized with its exact arguments as the intent
//!   `mcp.call_tool` on `tool:SERVER/NAME`, the writ is checked with [`crate::Gate::check`]
//!   (which refuses while the event feed is stale), the call is forwarded, and a signed receipt
//!   with the SHA-256 of the canonical result is posted. A denial is a JSON-RPC error whose
//!   `data.reason_code` says why ([`Denial`]); a call to a tool the upstream does not list gets
//!   the answer SDK servers give for unknown tools, a tool result with `isError: true`, whose
//!   text and `_meta["dev.writ/denial"]` carry the reason (it is never forwarded either).
//! - `tools/list`: the answer lists only pinned, unchanged tools the principal's policy could
//!   allow (`POST /v1/authorize/visible`).
//! - `resources/read`, `prompts/get`, `resources/subscribe` and `completion/complete`: pin-checked
//!   and authorized and receipted the same way, as `mcp.read_resource` and
//!   `mcp.subscribe_resource` on `mcp-resource:SERVER/URI` (arguments: the request's parameters
//!   without `_meta`), `mcp.get_prompt` on `prompt:SERVER/NAME` (arguments: the prompt's), and
//!   `mcp.complete` on the prompt or `mcp-resource:SERVER/URI-TEMPLATE` (arguments: the
//!   parameters without `_meta`). A prompt must be listed with its pinned definition; a resource
//!   URI must be listed with its pinned definition, or (not listed) match a resource template
//!   listed with its pinned definition ([`uri_template`]); refusals are
//!   `<kind>_not_pinned`, `<kind>_definition_changed`, `<kind>_unknown` (kind: `tool`, `prompt`,
//!   `resource`, `resource_template`). `prompts/list`, `resources/list` and
//!   `resources/templates/list` answers are narrowed like `tools/list` (pinned, unchanged, and
//!   what the policy could allow); a template shows if its URI template may be read as it stands.
//!
//! Transports: [`stdio::run_stdio`] wraps a server command (newline-delimited JSON-RPC;
//! [`stdio::run_stdio_contained`] starts it inside the sandbox of [`upstream`], so it cannot
//! reach the gateway's secrets, and stops the gateway when it ends), and
//! [`http::router`] serves Streamable HTTP (MCP 2025-06-18) in front of an HTTP upstream.

pub mod discover;
pub mod enforce;
pub mod error;
pub mod http;
pub mod pins;
pub mod stdio;
pub mod upstream;
pub mod uri_template;

pub use enforce::{DENIAL_META, Denial, EXECUTION_META, Enforcer, Permit, TOOL_UNKNOWN};
pub use error::McpError;
pub use pins::{Listing, PinKind, PinSet, tool_digest};
pub use upstream::UpstreamSandbox;

/// JSON-RPC error code of a call the gateway refused (in the implementation-defined range).
pub const DENIED_CODE: i64 = -32001;
