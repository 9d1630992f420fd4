//! The stdio transport: the gateway spawns the upstream server and sits between its own
//! stdin/stdout (the client) and the server's, one JSON-RPC message per line.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::exec::ChildEnv;

use super::enforce::{
    Admission, Enforcer, IdMap, Inbound, LIST_CHANGED, LISTS, Permit, cancellation_upstream,
    classify, id_in_flight_answer, with_id,
};
use super::error::McpError;
use super::pins::PinKind;
use super::upstream::UpstreamSandbox;

/// JSON-RPC error code of a request whose upstream ended before answering (internal error).
const UPSTREAM_ENDED_CODE: i64 = -32603;

/// How long the gateway waits for the upstream's own `tools/list` before denying a call.
const LIST_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a session that ends waits for the receipts still being signed and posted (each is
/// retried while its failure may pass; see [`Enforcer::finish`]).
const RECEIPT_DRAIN: Duration = Duration::from_secs(60);

/// What a request forwarded upstream (under the gateway's own id) needs when its answer comes
/// back.
enum Pending {
    /// The client's request: its own id, and what to do with the answer.
    Client { id: Value, kind: Kind },
    /// The gateway's own `tools/list`, for pin checks.
    Internal(oneshot::Sender<Value>),
}

enum Kind {
    Forward,
    List(&'static str),
    Call(Box<Permit>),
}

/// Lines up to this size are written with their newline in one `write` (copied into the
/// writer's buffer); longer ones in two.
const COALESCE_LIMIT: usize = 64 * 1024;

/// Writes one message and its newline, then flushes: one system call for most messages, so
/// the reader never wakes up to half a line.
async fn write_line<W: AsyncWrite + Unpin>(
    w: &mut W,
    buf: &mut Vec<u8>,
    line: &str,
) -> std::io::Result<()> {
    if line.len() < COALESCE_LIMIT {
        buf.clear();
        buf.extend_from_slice(line.as_bytes());
        buf.push(b'\n');
        w.write_all(buf).await?;
    } else {
        w.write_all(line.as_bytes()).await?;
        w.write_all(b"\n").await?;
    }
    w.flush().await
}

/// What routing an upstream message needs: its `method` and its `id` (kept even when `null`).
#[derive(Deserialize)]
struct Head<'a> {
    #[serde(default, borrow)]
    method: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, deserialize_with = "present")]
    id: Option<Value>,
}

fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// The `method` (when a string) and `id` of an upstream line, without building the rest of
/// the message (a tool result can be large); `None` when the line is not JSON.
pub fn head(line: &str) -> Option<(Option<String>, Option<Value>)> {
    if line.trim_start().starts_with('{')
        && let Ok(h) = serde_json::from_str::<Head>(line)
    {
        return Some((h.method.map(std::borrow::Cow::into_owned), h.id));
    }
    // Anything unusual (duplicate keys, a non-string method, a batch): the full parse decides.
    let msg = serde_json::from_str::<Value>(line).ok()?;
    Some((
        msg.get("method").and_then(Value::as_str).map(str::to_owned),
        msg.get("id").cloned(),
    ))
}

struct Session {
    enforcer: Arc<Enforcer>,
    token: Option<String>,
    /// Requests forwarded upstream, by the gateway's id for them.
    pending: Mutex<HashMap<u64, Pending>>,
    /// The client's ids in flight (a second request with one of them is refused).
    ids: std::sync::Mutex<IdMap>,
    to_upstream: mpsc::UnboundedSender<String>,
    /// Lines for the client; shared with the receipt task that digests a call's answer.
    to_client: mpsc::UnboundedSender<Arc<String>>,
    /// The next id a request is forwarded upstream under; never reused.
    next_upstream: AtomicU64,
    /// Receipts being signed and posted after their call was answered: the session does not
    /// end before they are done, so a client that leaves at once loses none.
    receipts: std::sync::Mutex<tokio::task::JoinSet<()>>,
}

impl Session {
    fn ids(&self) -> std::sync::MutexGuard<'_, IdMap> {
        self.ids.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a receipt's signing and posting off the client's path, tracked so the session
    /// waits for it ([`Session::receipts_done`]); finished ones are reaped as new ones start.
    fn spawn_receipt(&self, work: impl std::future::Future<Output = ()> + Send + 'static) {
        let mut set = self.receipts.lock().unwrap_or_else(|p| p.into_inner());
        while set.try_join_next().is_some() {}
        set.spawn(work);
    }

    /// Waits (at most [`RECEIPT_DRAIN`]) until every receipt started has been posted or has
    /// failed for good; one still going then is reported, not silently dropped.
    async fn receipts_done(&self) {
        let mut set = std::mem::take(&mut *self.receipts.lock().unwrap_or_else(|p| p.into_inner()));
        let drained = tokio::time::timeout(RECEIPT_DRAIN, async {
            while set.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            eprintln!(
                "writ gateway: {} receipt(s) still unposted after {}s; giving up on them",
                set.len(),
                RECEIPT_DRAIN.as_secs()
            );
        }
    }

    fn answer_client(&self, msg: &Value) {
        let _ = self.to_client.send(Arc::new(msg.to_string()));
    }

    /// Relays an upstream answer under the client's id; one the gateway cannot re-address
    /// becomes an error answer, so the client is never left waiting.
    fn relay(&self, line: &str, client_id: &Value) {
        let out = with_id(line, client_id)
            .unwrap_or_else(|| super::enforce::unreadable_answer(client_id).to_string());
        let _ = self.to_client.send(Arc::new(out));
    }

    /// Takes a client request in: claims its id (refusing it when that id is already in flight)
    /// and returns the id it goes upstream under.
    fn claim(&self, id: &Value) -> Option<u64> {
        let upstream = self.next_upstream.fetch_add(1, Ordering::Relaxed);
        if self.ids().claim(id, upstream) {
            Some(upstream)
        } else {
            self.answer_client(&id_in_flight_answer(id));
            None
        }
    }

    /// Forwards a client request under `upstream`, remembering what its answer needs.
    async fn forward(&self, mut msg: Value, id: Value, upstream: u64, kind: Kind) {
        self.pending
            .lock()
            .await
            .insert(upstream, Pending::Client { id, kind });
        if let Some(o) = msg.as_object_mut() {
            o.insert("id".into(), json!(upstream));
        }
        let _ = self.to_upstream.send(msg.to_string());
    }

    /// Lists the upstream's definitions of `kind` (every page) on the gateway's own behalf,
    /// so a request can be pin-checked.
    async fn load_definitions(&self, kind: PinKind) {
        let mut cursor: Option<Value> = None;
        for _ in 0..super::discover::MAX_PAGES {
            let n = self.next_upstream.fetch_add(1, Ordering::Relaxed);
            let (tx, rx) = oneshot::channel();
            self.pending.lock().await.insert(n, Pending::Internal(tx));
            let params = cursor.take().map_or(json!({}), |c| json!({"cursor": c}));
            let req = json!({"jsonrpc": "2.0", "id": n, "method": kind.list().0, "params": params});
            if self.to_upstream.send(req.to_string()).is_err() {
                return;
            }
            let Ok(Ok(answer)) = tokio::time::timeout(LIST_TIMEOUT, rx).await else {
                return;
            };
            let Some(result) = answer.get("result") else {
                return;
            };
            self.enforcer.record_listing(kind, result);
            match result.get("nextCursor").filter(|c| !c.is_null()) {
                Some(c) => cursor = Some(c.clone()),
                None => return,
            }
        }
    }

    /// One governed request, its id claimed as `upstream`: decide, then forward or answer with
    /// the denial.
    async fn govern(self: Arc<Self>, msg: Value, upstream: u64) {
        let id = msg.get("id").cloned().unwrap_or(Value::Null);
        for kind in self.enforcer.definitions_needed(&msg) {
            self.load_definitions(kind).await;
        }
        let kind = match self.enforcer.admit(self.token.as_deref(), &msg).await {
            Admission::Forward => Kind::Forward,
            Admission::List(method) => Kind::List(method),
            Admission::Call(permit) => Kind::Call(Box::new(permit)),
            Admission::Deny(denial) => {
                self.ids().release(&id);
                self.answer_client(&denial.to_response(&id));
                return;
            }
        };
        self.forward(msg, id, upstream, kind).await;
    }

    /// One line from the upstream: answers go back to the client under the id it chose (lists
    /// filtered, calls receipted); answers to nothing the gateway forwarded are dropped.
    async fn upstream_line(&self, line: String) {
        let Some((method, id)) = head(&line) else {
            let _ = self.to_client.send(Arc::new(line));
            return;
        };
        if method.as_deref().is_some_and(|m| LIST_CHANGED.contains(&m)) {
            self.enforcer.forget_definitions();
        }
        let answered = match (&method, &id) {
            (None, Some(id)) => Some(id.as_u64()),
            _ => None,
        };
        let Some(answered) = answered else {
            // A notification or a request of the server's: passed on.
            let _ = self.to_client.send(Arc::new(line));
            return;
        };
        let pending = match answered {
            Some(n) => self.pending.lock().await.remove(&n),
            None => None,
        };
        let full = |line: &str| serde_json::from_str::<Value>(line).unwrap_or(Value::Null);
        let (client_id, kind) = match pending {
            None => {
                // Every client request goes upstream under an id of the gateway's, so this
                // answers nothing the client asked: passing it on could only confuse the client.
                eprintln!("writ gateway: dropped an upstream answer to no request in flight");
                return;
            }
            Some(Pending::Internal(tx)) => {
                let _ = tx.send(full(&line));
                return;
            }
            Some(Pending::Client { id, kind }) => (id, kind),
        };
        self.ids().release(&client_id);
        match kind {
            Kind::Forward => self.relay(&line, &client_id),
            Kind::List(list) => {
                let mut msg = full(&line);
                if let Some(o) = msg.as_object_mut() {
                    o.insert("id".into(), client_id.clone());
                } else {
                    msg = super::enforce::unreadable_list_answer(list, &client_id);
                }
                self.enforcer
                    .filter_list(list, self.token.as_deref(), &mut msg)
                    .await;
                self.answer_client(&msg);
            }
            Kind::Call(permit) => {
                // The answer goes to the client first; the receipt (which digests the whole
                // result) is signed and posted next, off the client's path.
                let out = super::enforce::with_id_and_execution(
                    &line,
                    &client_id,
                    &permit.execution_meta(),
                )
                .unwrap_or_else(|| super::enforce::unreadable_answer(&client_id).to_string());
                let _ = self.to_client.send(Arc::new(out));
                let enforcer = self.enforcer.clone();
                self.spawn_receipt(async move {
                    let msg = full(&line);
                    drop(line);
                    if let Err(e) = enforcer.finish(*permit, &msg).await {
                        eprintln!(
                            "writ gateway: the receipt of a call could not be posted ({}): {e}",
                            e.reason_code()
                        );
                    }
                });
            }
        }
    }

    /// The upstream is gone: every client request still waiting for it gets an error answer
    /// (`upstream_ended`), so no client waits for an answer that cannot come.
    async fn upstream_ended(&self) {
        let pending: Vec<Pending> = self.pending.lock().await.drain().map(|(_, p)| p).collect();
        for p in pending {
            if let Pending::Client { id, .. } = p {
                self.ids().release(&id);
                self.answer_client(&json!({
                    "jsonrpc": "2.0",
                    "id": id,
                    "error": {
                        "code": UPSTREAM_ENDED_CODE,
                        "message": "the upstream server ended before answering",
                        "data": {"reason_code": writ_model::ReasonCode::UpstreamEnded},
                    },
                }));
            }
        }
    }

    /// One line from the client.
    async fn client_line(self: &Arc<Self>, line: String) {
        match classify(line.as_bytes()) {
            Inbound::Govern(msg) => {
                let id = msg.get("id").cloned().unwrap_or(Value::Null);
                let Some(upstream) = self.claim(&id) else {
                    return;
                };
                if msg
                    .get("method")
                    .and_then(Value::as_str)
                    .is_some_and(|m| LISTS.contains(&m))
                {
                    self.clone().govern(msg, upstream).await;
                } else {
                    // Authorization takes a round trip: do not hold up other messages.
                    tokio::spawn(self.clone().govern(msg, upstream));
                }
            }
            Inbound::Request(msg) => {
                let id = msg.get("id").cloned().unwrap_or(Value::Null);
                if let Some(upstream) = self.claim(&id) {
                    self.forward(msg, id, upstream, Kind::Forward).await;
                }
            }
            Inbound::Pass(msg) => {
                let _ = self.to_upstream.send(msg.to_string());
            }
            Inbound::Cancel(msg) => {
                // It names a request by the client's id: name it by the gateway's.
                let rewritten = cancellation_upstream(&msg, &self.ids());
                if let Some(m) = rewritten {
                    let _ = self.to_upstream.send(m.to_string());
                }
            }
            Inbound::Refuse(answer) => {
                if let Some(a) = answer {
                    self.answer_client(&a);
                }
            }
        }
    }
}

/// The client's side of a stdio gateway: the process's own stdin and stdout.
pub type ClientIo = (
    Box<dyn AsyncRead + Unpin + Send>,
    Box<dyn AsyncWrite + Unpin + Send>,
);

/// The process's stdin and stdout for [`run_stdio`], to be called inside the runtime. When they
/// are pipes (as an MCP client starts a stdio server) they are read and written on the
/// runtime's own reactor: `tokio::io::stdin()`/`stdout()` hand every read, write and flush to a
/// blocking thread and back, a cross-thread wake-up per message each way on every call
/// (`writ bench mcp` measured it). Anything else (a file, a terminal) uses tokio's.
/// The pipes are put in non-blocking mode, as tokio's async pipes require.
pub fn client_stdio() -> ClientIo {
    use std::os::fd::AsFd;
    let input: Box<dyn AsyncRead + Unpin + Send> = match std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .map(std::fs::File::from)
        .and_then(tokio::net::unix::pipe::Receiver::from_file)
    {
        Ok(r) => Box::new(r),
        Err(_) => Box::new(tokio::io::stdin()),
    };
    let output: Box<dyn AsyncWrite + Unpin + Send> = match std::io::stdout()
        .as_fd()
        .try_clone_to_owned()
        .map(std::fs::File::from)
        .and_then(tokio::net::unix::pipe::Sender::from_file)
    {
        Ok(w) => Box::new(w),
        Err(_) => Box::new(tokio::io::stdout()),
    };
    (input, output)
}

/// Runs the gateway over stdio: spawns `command` as the upstream and relays `client_in` /
/// `client_out` (normally the gateway's own stdin/stdout) until either side ends.
/// `token` is the principal's token every governed call is authorized with. The upstream gets
/// only the allowlisted environment ([`ChildEnv::default`]); see [`run_stdio_with`].
pub async fn run_stdio<R, W>(
    enforcer: Arc<Enforcer>,
    token: Option<String>,
    command: &[String],
    client_in: R,
    client_out: W,
) -> Result<(), McpError>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    run_stdio_with(
        enforcer,
        token,
        command,
        &ChildEnv::default(),
        client_in,
        client_out,
    )
    .await
}

/// [`run_stdio`] with the variables `env` lets through (`--pass-env`). The upstream runs
/// uncontained: see [`run_stdio_contained`] for a server that must not reach the gateway.
pub async fn run_stdio_with<R, W>(
    enforcer: Arc<Enforcer>,
    token: Option<String>,
    command: &[String],
    env: &ChildEnv,
    client_in: R,
    client_out: W,
) -> Result<(), McpError>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (child, up_in, up_out) = spawn_upstream(command, env)?;
    relay(enforcer, token, child, up_in, up_out, client_in, client_out).await
}

/// The gateway over stdio with its upstream contained ([`UpstreamSandbox`]): the server
/// cannot read the gateway's environment, command line, memory, key, token or pin files, nor
/// signal it, and nothing it starts outlives it or the gateway. Ends with
/// [`McpError::UpstreamEnded`] when the server ends while the client is still there.
pub async fn run_stdio_contained<R, W>(
    enforcer: Arc<Enforcer>,
    token: Option<String>,
    command: &[String],
    env: &ChildEnv,
    sandbox: &UpstreamSandbox,
    client_in: R,
    client_out: W,
) -> Result<(), McpError>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let up = sandbox.spawn(command, env)?;
    let result = relay(
        enforcer, token, up.child, up.stdin, up.stdout, client_in, client_out,
    )
    .await;
    drop(up.tmp);
    result
}

/// Relays between the client and a started upstream until either side ends; an upstream that
/// ends first is [`McpError::UpstreamEnded`].
async fn relay<R, W>(
    enforcer: Arc<Enforcer>,
    token: Option<String>,
    mut child: tokio::process::Child,
    mut up_in: tokio::process::ChildStdin,
    up_out: tokio::process::ChildStdout,
    client_in: R,
    client_out: W,
) -> Result<(), McpError>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (to_upstream, mut upstream_rx) = mpsc::unbounded_channel::<String>();
    let (to_client, mut client_rx) = mpsc::unbounded_channel::<Arc<String>>();
    let session = Arc::new(Session {
        enforcer,
        token,
        pending: Mutex::new(HashMap::new()),
        ids: std::sync::Mutex::new(IdMap::default()),
        to_upstream,
        to_client,
        next_upstream: AtomicU64::new(1),
        receipts: std::sync::Mutex::new(tokio::task::JoinSet::new()),
    });

    // Closing the upstream's stdin is how it learns the client left; the session (and so the
    // sender) may outlive that, so the writer also stops on `close`, after draining.
    let (close_tx, mut close_rx) = oneshot::channel::<()>();
    let upstream_writer = tokio::spawn(async move {
        let mut buf = Vec::new();
        loop {
            let line = tokio::select! {
                l = upstream_rx.recv() => l,
                _ = &mut close_rx => {
                    while let Ok(line) = upstream_rx.try_recv() {
                        let _ = write_line(&mut up_in, &mut buf, &line).await;
                    }
                    None
                }
            };
            let Some(line) = line else { break };
            if write_line(&mut up_in, &mut buf, &line).await.is_err() {
                break;
            }
        }
    });
    let mut client_out = client_out;
    let client_writer = tokio::spawn(async move {
        let mut buf = Vec::new();
        while let Some(line) = client_rx.recv().await {
            if write_line(&mut client_out, &mut buf, &line).await.is_err() {
                break;
            }
        }
    });

    let s = session.clone();
    let upstream_reader = tokio::spawn(async move {
        let mut lines = BufReader::new(up_out).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            s.upstream_line(line).await;
        }
    });

    let mut lines = BufReader::new(client_in).lines();
    let mut ended = None;
    loop {
        tokio::select! {
            next = lines.next_line() => {
                let Ok(Some(line)) = next else { break };
                session.client_line(line).await;
            }
            status = child.wait() => {
                ended = Some(match status {
                    Ok(s) => s.to_string(),
                    Err(e) => format!("cannot wait for it: {e}"),
                });
                break;
            }
        }
    }
    // The client is gone (or the upstream ended): close the upstream's stdin and let it exit.
    let _ = close_tx.send(());
    let _ = upstream_writer.await;
    let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
    let _ = child.start_kill();
    let _ = tokio::time::timeout(Duration::from_secs(5), upstream_reader).await;
    if ended.is_some() {
        // Everything the upstream wrote has been relayed: what is still pending never will be.
        session.upstream_ended().await;
    }
    // Every answer relayed has its receipt started: wait for them before the gateway exits.
    session.receipts_done().await;
    drop(session);
    let _ = tokio::time::timeout(Duration::from_secs(5), client_writer).await;
    match ended {
        Some(status) => Err(McpError::UpstreamEnded { status }),
        None => Ok(()),
    }
}

/// Starts an upstream MCP server `command` with piped stdin and stdout (stderr passes through);
/// it is killed when the child handle is dropped. Its environment is only what `env` lets
/// through: the gateway's tokens and key path never reach the server it governs.
pub(crate) fn spawn_upstream(
    command: &[String],
    env: &ChildEnv,
) -> Result<
    (
        tokio::process::Child,
        tokio::process::ChildStdin,
        tokio::process::ChildStdout,
    ),
    McpError,
> {
    let (program, args) = command.split_first().ok_or_else(|| McpError::Spawn {
        command: String::new(),
        detail: "no command given".into(),
    })?;
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .env_clear()
        .envs(env.from_current_process())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| McpError::Spawn {
            command: command.join(" "),
            detail: e.to_string(),
        })?;
    let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(McpError::Upstream(
            "the upstream's stdio is not piped".into(),
        ));
    };
    Ok((child, stdin, stdout))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_reads_method_and_id_as_the_full_parse_would() {
        let h = |l: &str| head(l).map(|(m, id)| (m, id.map(|v| v.to_string())));
        assert_eq!(
            h(r#"{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"x"}]}}"#),
            Some((None, Some("7".into())))
        );
        // A `null` id is an id (the full parse keeps it too).
        assert_eq!(
            h(r#"{"id":null,"result":{}}"#),
            Some((None, Some("null".into())))
        );
        assert_eq!(
            h(r#"{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}"#),
            Some((Some("notifications/tools/list_changed".into()), None))
        );
        // Duplicate keys: the last one wins, as with serde_json::Value.
        assert_eq!(
            h(r#"{"id":1,"id":2,"result":{}}"#),
            Some((None, Some("2".into())))
        );
        // A non-string method is no method; a batch has neither.
        assert_eq!(h(r#"{"id":3,"method":5}"#), Some((None, Some("3".into()))));
        assert_eq!(h(r#"[{"id":1,"result":{}}]"#), Some((None, None)));
        assert_eq!(h(r#"{"id":1,"result":"#), None);
        assert_eq!(h("not json"), None);
    }

    #[tokio::test]
    async fn a_line_and_its_newline_are_written_together() {
        let (mut a, mut b) = tokio::io::duplex(1 << 20);
        let mut buf = Vec::new();
        write_line(&mut a, &mut buf, r#"{"id":1}"#).await.unwrap();
        let long = "x".repeat(COALESCE_LIMIT + 10);
        write_line(&mut a, &mut buf, &long).await.unwrap();
        drop(a);
        let mut out = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut b, &mut out)
            .await
            .unwrap();
        assert_eq!(out, format!("{{\"id\":1}}\n{long}\n"));
    }
}
