//! Kept-alive HTTP/1.1 connections to a control plane served over plain HTTP, for the two
//! requests on every governed call's path: `POST /v1/authorize` and `POST /v1/receipts`.
//! hyper's connection API, without reqwest's pool, URL handling and layers: about 40 µs less
//! per request on the two-core machine `writ bench mcp` runs on (against `writ serve`'s
//! `/healthz`: 65–80 µs a round trip, reqwest 107–123 µs, a bare socket 64–70 µs). A control
//! plane behind `https://` keeps reqwest (and its TLS) for everything.
//!
//! A gateway that embeds its control plane (`writ gateway mcp --embedded-plane`) gives the
//! lane a [`LocalApi`] instead: the same requests, served by the control plane's router in this
//! process, with no socket, no HTTP parsing and no wake-up of another process.
//!
//! A request is written on an idle connection when one is open and ready, else on a new one.
//! It is sent again (once, on a new connection) only when hyper hands it back unsent, so a
//! decision is never asked for twice; any other failure is the caller's to fail closed on.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

/// Most idle connections kept (one per call in flight, up to this many).
const MAX_IDLE: usize = 32;
/// How long a connection is kept idle: well under the shortest time `writ serve` keeps an
/// idle connection open (`header_read_timeout_secs`, at least 1 s), so a request is not
/// written into a connection the server is closing.
const IDLE_FOR: Duration = Duration::from_millis(500);
/// Largest answer read; a control plane's answers are a few KiB.
const MAX_ANSWER_BYTES: usize = 4 << 20;

/// Why a request through the lane failed.
#[derive(Debug)]
pub(crate) enum LaneError {
    /// No answer within the client's timeout.
    Timeout,
    /// The control plane could not be reached, or the exchange broke.
    Failed(String),
    /// The control plane in this process gave an answer that could not be read (nothing to
    /// reach: retrying does not help).
    Unreadable(String),
}

/// A control plane's answer, served in this process: its status and body, or why it failed.
pub type LocalAnswer = Pin<Box<dyn Future<Output = Result<(u16, Bytes), String>> + Send>>;

/// A control plane served in this process: answers the lane's requests (the exact requests it
/// would send over a connection: path, `Host`, `Content-Type`, bearer token, `traceparent`)
/// without a socket.
pub trait LocalApi: Send + Sync {
    /// Serves one request.
    fn call(&self, request: hyper::Request<Bytes>) -> LocalAnswer;
}

/// Open connections between requests, with when each went idle.
type Idle = Mutex<Vec<(SendRequest<Full<Bytes>>, Instant)>>;

/// Where the lane's requests go.
enum Target {
    /// Kept-alive connections.
    Remote(Idle),
    /// The control plane in this process.
    Local(Arc<dyn LocalApi>),
}

/// The connections to one control plane at `authority` (`host:port`), or that control plane
/// in this process.
pub(crate) struct Lane {
    authority: String,
    target: Target,
}

impl std::fmt::Debug for Lane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let target = match self.target {
            Target::Remote(_) => "connections",
            Target::Local(_) => "in process",
        };
        f.debug_struct("Lane")
            .field("authority", &self.authority)
            .field("target", &target)
            .finish()
    }
}

impl Lane {
    /// A lane for `base` when it is a plain `http://` URL with nothing after the authority but
    /// an optional `/`; `None` otherwise (reqwest serves it).
    pub(crate) fn for_base(base: &str) -> Option<Lane> {
        Some(Lane {
            authority: plain_http_authority(base)?,
            target: Target::Remote(Mutex::new(Vec::new())),
        })
    }

    /// A lane whose requests `api` serves in this process; `base` is where that control plane
    /// also listens (its authority is the `Host` the requests name). `None` as for
    /// [`Lane::for_base`].
    pub(crate) fn local(base: &str, api: Arc<dyn LocalApi>) -> Option<Lane> {
        Some(Lane {
            authority: plain_http_authority(base)?,
            target: Target::Local(api),
        })
    }

    /// `POST path` with a JSON `body`, `Authorization: Bearer token` and `extra` headers;
    /// the answer's status and body, within `timeout`.
    pub(crate) async fn post_json(
        &self,
        path: &str,
        token: &str,
        extra: &[(&str, String)],
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<(u16, Bytes), LaneError> {
        let mut bearer = hyper::header::HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| LaneError::Failed("the token is not a valid header value".into()))?;
        bearer.set_sensitive(true);
        let mut builder = hyper::Request::post(path)
            .header(hyper::header::HOST, &self.authority)
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(hyper::header::AUTHORIZATION, bearer);
        for (name, value) in extra {
            builder = builder.header(*name, value);
        }
        let req = builder
            .body(Bytes::from(body))
            .map_err(|e| LaneError::Failed(format!("request: {e}")))?;
        let answer = match &self.target {
            Target::Remote(idle) => {
                tokio::time::timeout(timeout, self.exchange(idle, req.map(Full::new))).await
            }
            Target::Local(api) => {
                tokio::time::timeout(timeout, async {
                    api.call(req).await.map_err(LaneError::Unreadable)
                })
                .await
            }
        };
        answer.unwrap_or(Err(LaneError::Timeout))
    }

    async fn exchange(
        &self,
        idle: &Idle,
        req: hyper::Request<Full<Bytes>>,
    ) -> Result<(u16, Bytes), LaneError> {
        let mut req = req;
        // An idle connection first; a request it hands back unsent goes once more on a new one.
        if let Some(mut sender) = take_idle(idle) {
            match sender.try_send_request(req).await {
                Ok(resp) => return read(idle, sender, resp).await,
                Err(mut e) => match e.take_message() {
                    Some(unsent) => req = unsent,
                    None => return Err(LaneError::Failed(e.into_error().to_string())),
                },
            }
        }
        let mut sender = self.connect().await?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| LaneError::Failed(e.to_string()))?;
        read(idle, sender, resp).await
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, LaneError> {
        let tcp = tokio::net::TcpStream::connect(&self.authority)
            .await
            .map_err(|e| LaneError::Failed(format!("connect {}: {e}", self.authority)))?;
        tcp.set_nodelay(true)
            .map_err(|e| LaneError::Failed(format!("connect {}: {e}", self.authority)))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(|e| LaneError::Failed(e.to_string()))?;
        // The connection is driven on the caller's runtime until either side closes it.
        tokio::spawn(async move {
            let _ = conn.await;
        });
        sender
            .ready()
            .await
            .map_err(|e| LaneError::Failed(e.to_string()))?;
        Ok(sender)
    }
}

/// `host:port` of `base` when it is a plain `http://` URL with nothing after the authority but
/// an optional `/`.
fn plain_http_authority(base: &str) -> Option<String> {
    let url = reqwest::Url::parse(base).ok()?;
    if url.scheme() != "http"
        || !(url.path().is_empty() || url.path() == "/")
        || url.query().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return None;
    }
    // host_str() writes an IPv6 address in brackets, as an authority wants it.
    Some(format!(
        "{}:{}",
        url.host_str()?,
        url.port_or_known_default()?
    ))
}

/// The most recently used idle connection that is open, ready and not idle too long, if any;
/// the others found past their time are closed.
fn take_idle(idle: &Idle) -> Option<SendRequest<Full<Bytes>>> {
    let mut idle = idle.lock().unwrap_or_else(|p| p.into_inner());
    idle.retain(|(_, since)| since.elapsed() < IDLE_FOR);
    while let Some((sender, _)) = idle.pop() {
        if sender.is_ready() {
            return Some(sender);
        }
    }
    None
}

/// Reads the whole answer; the connection goes back to the idle ones unless the server closes
/// it.
async fn read(
    idle: &Idle,
    sender: SendRequest<Full<Bytes>>,
    resp: hyper::Response<hyper::body::Incoming>,
) -> Result<(u16, Bytes), LaneError> {
    let status = resp.status().as_u16();
    let closing = resp
        .headers()
        .get(hyper::header::CONNECTION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("close"));
    let body = Limited::new(resp.into_body(), MAX_ANSWER_BYTES)
        .collect()
        .await
        .map_err(|e| LaneError::Failed(format!("answer: {e}")))?
        .to_bytes();
    if !closing {
        let mut idle = idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push((sender, Instant::now()));
        }
    }
    Ok((status, body))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    /// How a test server treats each connection after its first answer.
    #[derive(Clone, Copy)]
    enum After {
        KeepAlive,
        Close,
        NeverAnswer,
    }

    /// A minimal HTTP/1.1 server on 127.0.0.1 answering every request `{"n":N}` (N counting
    /// requests); returns its address and how many connections it accepted.
    async fn server(after: After) -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&accepted);
        let served = Arc::new(AtomicUsize::new(0));
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                count.fetch_add(1, Ordering::SeqCst);
                let served = Arc::clone(&served);
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        let Ok(n) = sock.read(&mut chunk).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        // One whole request: its head and the body its content-length names.
                        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                            continue;
                        };
                        let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
                        let len: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .map_or(0, |v| v.trim().parse().unwrap());
                        if buf.len() < end + 4 + len {
                            continue;
                        }
                        buf.drain(..end + 4 + len);
                        if matches!(after, After::NeverAnswer) {
                            tokio::time::sleep(Duration::from_secs(60)).await;
                            return;
                        }
                        let n = served.fetch_add(1, Ordering::SeqCst) + 1;
                        let body = format!("{{\"n\":{n}}}");
                        let answer = format!(
                            "HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                            body.len()
                        );
                        if sock.write_all(answer.as_bytes()).await.is_err() {
                            return;
                        }
                        if matches!(after, After::Close) {
                            return;
                        }
                    }
                });
            }
        });
        (addr, accepted)
    }

    /// A lane to a fresh test server, and how many connections that server accepted.
    async fn lane_to(after: After) -> (Lane, Arc<AtomicUsize>) {
        let (addr, accepted) = server(after).await;
        (Lane::for_base(&format!("http://{addr}")).unwrap(), accepted)
    }

    async fn post(lane: &Lane) -> Result<(u16, Bytes), LaneError> {
        lane.post_json(
            "/v1/receipts",
            "t0ken",
            &[],
            b"{}".to_vec(),
            Duration::from_secs(2),
        )
        .await
    }

    #[test]
    fn only_a_plain_http_control_plane_gets_a_lane() {
        let authority = |b: &str| Lane::for_base(b).map(|l| l.authority);
        assert_eq!(
            authority("http://127.0.0.1:8787").as_deref(),
            Some("127.0.0.1:8787")
        );
        assert_eq!(authority("http://[::1]:9/").as_deref(), Some("[::1]:9"));
        assert_eq!(
            authority("http://localhost").as_deref(),
            Some("localhost:80")
        );
        for refused in [
            "https://127.0.0.1:8787",
            "http://127.0.0.1:8787/prefix",
            "http://user:pw@127.0.0.1:8787",
            "http://127.0.0.1:8787/?q=1",
            "not a url",
        ] {
            assert!(authority(refused).is_none(), "{refused}");
        }
    }

    #[test]
    fn requests_in_turn_share_one_connection() {
        rt().block_on(async {
            let (lane, accepted) = lane_to(After::KeepAlive).await;
            for n in 1..=5 {
                let (status, body) = post(&lane).await.unwrap();
                assert_eq!(status, 201);
                assert_eq!(body, Bytes::from(format!("{{\"n\":{n}}}")));
            }
            assert_eq!(accepted.load(Ordering::SeqCst), 1);
        });
    }

    #[test]
    fn a_connection_the_server_closed_is_replaced() {
        rt().block_on(async {
            let (lane, accepted) = lane_to(After::Close).await;
            for n in 1..=3 {
                let (status, body) = post(&lane).await.unwrap();
                assert_eq!((status, body), (201, Bytes::from(format!("{{\"n\":{n}}}"))));
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            assert_eq!(accepted.load(Ordering::SeqCst), 3);
        });
    }

    #[test]
    fn a_connection_idle_too_long_is_not_reused() {
        rt().block_on(async {
            let (lane, accepted) = lane_to(After::KeepAlive).await;
            post(&lane).await.unwrap();
            tokio::time::sleep(IDLE_FOR + Duration::from_millis(100)).await;
            post(&lane).await.unwrap();
            assert_eq!(accepted.load(Ordering::SeqCst), 2);
        });
    }

    #[test]
    fn no_answer_in_time_and_no_server_are_errors() {
        rt().block_on(async {
            let (lane, _) = lane_to(After::NeverAnswer).await;
            let r = lane
                .post_json("/x", "t", &[], vec![], Duration::from_millis(300))
                .await;
            assert!(matches!(r, Err(LaneError::Timeout)), "{r:?}");
            // A port nothing listens on (bound, then closed).
            let free = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let gone = free.local_addr().unwrap();
            drop(free);
            let lane = Lane::for_base(&format!("http://{gone}")).unwrap();
            assert!(matches!(post(&lane).await, Err(LaneError::Failed(_))));
        });
    }

    /// What a [`LocalApi`] of a test saw, and answers.
    struct Recording(Mutex<Vec<hyper::Request<Bytes>>>);

    impl LocalApi for Recording {
        fn call(&self, request: hyper::Request<Bytes>) -> LocalAnswer {
            self.0.lock().unwrap().push(request);
            Box::pin(async { Ok((201, Bytes::from_static(br#"{"ledger_index":7}"#))) })
        }
    }

    struct Stuck;

    impl LocalApi for Stuck {
        fn call(&self, _request: hyper::Request<Bytes>) -> LocalAnswer {
            Box::pin(std::future::pending())
        }
    }

    struct Broken;

    impl LocalApi for Broken {
        fn call(&self, _request: hyper::Request<Bytes>) -> LocalAnswer {
            Box::pin(async { Err("over 4 MiB".to_owned()) })
        }
    }

    /// An answer the control plane in this process could not give is not a reachability
    /// problem (which the caller would retry): it says so apart.
    #[test]
    fn a_local_answer_that_cannot_be_read_is_told_apart() {
        rt().block_on(async {
            let lane = Lane::local("http://127.0.0.1:9", Arc::new(Broken)).unwrap();
            let r = lane
                .post_json("/v1/receipts", "t", &[], Vec::new(), Duration::from_secs(1))
                .await;
            assert!(
                matches!(&r, Err(LaneError::Unreadable(d)) if d == "over 4 MiB"),
                "{r:?}"
            );
        });
    }

    #[test]
    fn a_local_lane_hands_the_same_request_to_the_control_plane_in_process() {
        rt().block_on(async {
            let api = Arc::new(Recording(Mutex::new(Vec::new())));
            let lane = Lane::local("http://127.0.0.1:9", api.clone()).unwrap();
            let extra = [(
                "traceparent",
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".to_owned(),
            )];
            let (status, body) = lane
                .post_json(
                    "/v1/receipts",
                    "t0ken",
                    &extra,
                    b"{\"a\":1}".to_vec(),
                    Duration::from_secs(2),
                )
                .await
                .unwrap();
            assert_eq!((status, &body[..]), (201, &br#"{"ledger_index":7}"#[..]));
            let seen = api.0.lock().unwrap();
            assert_eq!(seen.len(), 1);
            let r = &seen[0];
            assert_eq!(
                (r.method().as_str(), r.uri().path()),
                ("POST", "/v1/receipts")
            );
            assert_eq!(r.headers()[hyper::header::AUTHORIZATION], "Bearer t0ken");
            assert_eq!(r.headers()[hyper::header::HOST], "127.0.0.1:9");
            assert_eq!(r.headers()[hyper::header::CONTENT_TYPE], "application/json");
            assert_eq!(r.headers()["traceparent"], extra[0].1.as_str());
            assert_eq!(&r.body()[..], br#"{"a":1}"#);
            // Nothing listens on 127.0.0.1:9: the answer came from the in-process API.
        });
    }

    #[test]
    fn a_local_lane_times_out_like_a_connection() {
        rt().block_on(async {
            let lane = Lane::local("http://127.0.0.1:9", Arc::new(Stuck)).unwrap();
            let r = lane
                .post_json(
                    "/v1/authorize",
                    "t",
                    &[],
                    Vec::new(),
                    Duration::from_millis(50),
                )
                .await;
            assert!(matches!(r, Err(LaneError::Timeout)), "{r:?}");
        });
    }
}
