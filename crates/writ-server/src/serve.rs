//! The serving loop: accepts connections and serves HTTP/1.1 on them within limits, so that slow,
//! silent or numerous clients cannot starve the control plane (gates fail closed when they cannot
//! reach it, so its availability is part of its safety).
//!
//! - **Header read timeout** (`header_read_timeout_secs`): a client must send a request's whole
//!   head within it, counted from the connection's start or the end of its previous request; a
//!   kept-alive connection that stays idle that long is closed (it is the idle timeout too).
//! - **Body read timeout** (`body_read_timeout_secs`): a request's whole body must arrive within
//!   it, counted from the end of its head; a body that trickles in fails and the request is
//!   answered 400 `body_unreadable`. The same bound applies to sending: a connection whose
//!   writes make no progress for that long (a client that stopped reading its response or its
//!   event feed) is closed, so it cannot keep its slot by never reading.
//! - **Connection cap** (`max_connections`): at most that many connections (TLS handshakes
//!   included) are served at once. When a new one arrives at the cap, the oldest connection that
//!   is not inside a request (one waiting for a request head: idle, or slowly sending one) is
//!   closed to make room; connections inside a request (event feeds included) are never closed
//!   for it. When every connection is inside a request, accepting waits until one ends or
//!   finishes its request (then that one, or another waiting one, is closed for the newcomer).
//! - Running out of file descriptors on accept also closes a waiting connection, then retries.
//!
//! The process's open-file limit is raised by `writ serve` at start (see the CLI); the cap keeps
//! the server within it.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore, TryAcquireError, watch};
use tower_service::Service;

use crate::config::ServerConfig;

/// The limits the serving loop keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most connections served at once.
    pub max_connections: usize,
    /// Longest wait for a request's head (also the idle timeout of a kept-alive connection).
    pub header_read_timeout: Duration,
    /// Longest time a request's body may take to arrive; also the longest a write to the
    /// client may wait without progress.
    pub body_read_timeout: Duration,
}

impl Limits {
    /// The limits `config` sets.
    pub fn from_config(config: &ServerConfig) -> Limits {
        Limits {
            max_connections: config.max_connections.max(1),
            header_read_timeout: Duration::from_secs(config.header_read_timeout_secs.max(1)),
            body_read_timeout: Duration::from_secs(config.body_read_timeout_secs.max(1)),
        }
    }
}

/// Why a request body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyReadError {
    #[error("the request body did not arrive within {0:?}; send it at once")]
    TimedOut(Duration),
    #[error("the request body could not be read: {0}")]
    Read(#[from] hyper::Error),
}

/// Serves `router` on connections accepted from `listener` until `shutdown` resolves, then stops
/// accepting, lets every connection finish its request in flight and returns when all are closed.
/// `handshake` turns an accepted TCP stream into the stream HTTP is served on (plain TCP, or
/// TLS); `None` drops the connection. It runs inside the connection's slot, so the cap and the
/// eviction of waiting connections cover handshakes too.
pub async fn serve<F, Fut, Io>(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
    handshake: F,
) -> std::io::Result<()>
where
    F: Fn(TcpStream) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Option<Io>> + Send + 'static,
    Io: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let router = crate::access_log::layer(router);
    let conns = Arc::new(Connections::new(limits.max_connections));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _peer)) => tcp,
                Err(e) => {
                    // Out of file descriptors (or another transient failure): make room by
                    // closing a waiting connection, then try again a little later.
                    tracing::warn!(error = %e, "accept failed");
                    conns.evict_one_waiting();
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let permit = match Arc::clone(&conns.slots).try_acquire_owned() {
            Ok(p) => p,
            Err(TryAcquireError::NoPermits) => {
                let acquire = Arc::clone(&conns.slots).acquire_owned();
                tokio::pin!(acquire);
                let permit = loop {
                    conns.make_room();
                    tokio::select! {
                        p = &mut acquire => break p.ok(),
                        // A connection left its request: it may be the one to close.
                        () = conns.request_ended.notified() => {}
                        () = &mut shutdown => break None,
                    }
                };
                match permit {
                    Some(p) => p,
                    None => break,
                }
            }
            Err(TryAcquireError::Closed) => break,
        };
        let entry = conns.register();
        let conns = Arc::clone(&conns);
        let http = http.clone();
        let router = router.clone();
        let handshake = handshake.clone();
        let mut stop = stop_rx.clone();
        let body_timeout = limits.body_read_timeout;
        tokio::spawn(async move {
            // Dropped in reverse: the slot is free before the connection leaves `live`, so an
            // accept waiting at the cap takes it rather than closing another connection.
            let _registered = Registered {
                conns: &conns,
                id: entry.id,
            };
            let _permit = permit;
            let io = tokio::select! {
                io = handshake(tcp) => match io {
                    Some(io) => io,
                    None => return,
                },
                () = entry.evict.notified() => return,
                _ = stop.wait_for(|s| *s) => return,
            };
            let service = {
                let entry = Arc::clone(&entry);
                let conns = Arc::clone(&conns);
                hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                    let guard = InRequest::enter(&entry, &conns);
                    let mut router = router.clone();
                    let req = req.map(|b| Body::new(DeadlineBody::new(b, body_timeout)));
                    async move {
                        let resp = router.call(req).await?;
                        Ok::<_, std::convert::Infallible>(resp.map(|b| {
                            Body::new(TrackedBody {
                                inner: b,
                                _guard: guard,
                            })
                        }))
                    }
                })
            };
            let io = StallBoundIo::new(io, body_timeout);
            let conn = http.serve_connection(TokioIo::new(io), service);
            tokio::pin!(conn);
            let mut stopping = false;
            loop {
                tokio::select! {
                    _ = conn.as_mut() => break,
                    () = entry.evict.notified() => {
                        // Raced with a request that has just begun: keep it.
                        if entry.in_request.load(Ordering::Acquire) == 0 {
                            break;
                        }
                        entry.evicting.store(false, Ordering::Release);
                    }
                    _ = stop.wait_for(|s| *s), if !stopping => {
                        stopping = true;
                        conn.as_mut().graceful_shutdown();
                    }
                }
            }
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(stop_rx);
    // Every connection task holds a receiver; all are gone once every connection has closed.
    stop_tx.closed().await;
    Ok(())
}

/// The connections being served: their slots and which of them wait for a request.
struct Connections {
    slots: Arc<Semaphore>,
    next_id: AtomicU64,
    /// By id, so oldest first.
    live: Mutex<BTreeMap<u64, Arc<Entry>>>,
    /// Told when a connection stops being inside a request (wakes an accept waiting at the
    /// cap).
    request_ended: Notify,
}

struct Entry {
    id: u64,
    /// Requests being handled on the connection (their responses not yet fully sent).
    in_request: AtomicUsize,
    /// Set when the connection has been told to close (so it is not picked twice).
    evicting: AtomicBool,
    evict: Notify,
}

impl Connections {
    fn new(max: usize) -> Connections {
        Connections {
            slots: Arc::new(Semaphore::new(max.min(Semaphore::MAX_PERMITS))),
            next_id: AtomicU64::new(0),
            live: Mutex::new(BTreeMap::new()),
            request_ended: Notify::new(),
        }
    }

    fn register(&self) -> Arc<Entry> {
        let entry = Arc::new(Entry {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            in_request: AtomicUsize::new(0),
            evicting: AtomicBool::new(false),
            evict: Notify::new(),
        });
        self.live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(entry.id, Arc::clone(&entry));
        entry
    }

    /// Tells the oldest connection that is not inside a request to close. Returns whether
    /// there was one.
    fn evict_one_waiting(&self) -> bool {
        let live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        for entry in live.values() {
            if entry.in_request.load(Ordering::Acquire) == 0
                && !entry.evicting.swap(true, Ordering::AcqRel)
            {
                entry.evict.notify_one();
                return true;
            }
        }
        false
    }

    /// At the cap: closes the oldest waiting connection unless one is already closing (its
    /// slot is on its way).
    fn make_room(&self) {
        let closing = self
            .live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .any(|e| e.evicting.load(Ordering::Acquire));
        if !closing {
            self.evict_one_waiting();
        }
    }
}

/// Removes a connection from [`Connections`] when its task ends.
struct Registered<'a> {
    conns: &'a Connections,
    id: u64,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.conns
            .live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.id);
    }
}

/// Marks its connection as inside a request until the response has been sent (dropped with the
/// response body), so the connection is not closed to make room.
struct InRequest {
    entry: Arc<Entry>,
    conns: Arc<Connections>,
}

impl InRequest {
    fn enter(entry: &Arc<Entry>, conns: &Arc<Connections>) -> InRequest {
        entry.in_request.fetch_add(1, Ordering::AcqRel);
        InRequest {
            entry: Arc::clone(entry),
            conns: Arc::clone(conns),
        }
    }
}

impl Drop for InRequest {
    fn drop(&mut self) {
        if self.entry.in_request.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.conns.request_ended.notify_one();
        }
    }
}

/// A response body that keeps its connection marked as inside a request while it is sent.
struct TrackedBody {
    inner: Body,
    _guard: InRequest,
}

impl http_body::Body for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A connection's stream whose writes fail once they have waited `limit` without progress:
/// a client that stops reading (a response, an event feed) would otherwise hold its
/// connection, marked inside a request, for as long as it likes.
struct StallBoundIo<Io> {
    inner: Io,
    limit: Duration,
    /// Armed while a write waits, reset by any progress.
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<Io> StallBoundIo<Io> {
    fn new(inner: Io, limit: Duration) -> StallBoundIo<Io> {
        StallBoundIo {
            inner,
            limit,
            stalled: None,
        }
    }

    /// Passes `polled` on, except that a wait longer than the limit becomes an error.
    fn bound<T>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<std::io::Result<T>>,
    ) -> Poll<std::io::Result<T>> {
        if polled.is_ready() {
            self.stalled = None;
            return polled;
        }
        let limit = self.limit;
        let stalled = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        ready!(stalled.as_mut().poll(cx));
        Poll::Ready(Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("the client read nothing for {limit:?}"),
        )))
    }
}

impl<Io: AsyncRead + Unpin> AsyncRead for StallBoundIo<Io> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<Io: AsyncWrite + Unpin> AsyncWrite for StallBoundIo<Io> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.bound(cx, polled)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.bound(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_flush(cx);
        this.bound(cx, polled)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_shutdown(cx);
        this.bound(cx, polled)
    }
}

/// A request body that must arrive in full before a deadline.
struct DeadlineBody {
    inner: Incoming,
    timeout: Duration,
    deadline: tokio::time::Instant,
    /// Armed on the first read that has to wait.
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl DeadlineBody {
    fn new(inner: Incoming, timeout: Duration) -> DeadlineBody {
        DeadlineBody {
            inner,
            timeout,
            deadline: tokio::time::Instant::now() + timeout,
            sleep: None,
        }
    }
}

impl http_body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = BodyReadError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyReadError>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(BodyReadError::from)));
        }
        let deadline = this.deadline;
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(BodyReadError::TimedOut(this.timeout)))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eviction_picks_the_oldest_connection_outside_a_request_once() {
        let conns = Arc::new(Connections::new(4));
        let a = conns.register();
        let b = conns.register();
        let _busy = InRequest::enter(&a, &conns);
        assert!(conns.evict_one_waiting());
        assert!(b.evicting.load(Ordering::Acquire));
        assert!(!a.evicting.load(Ordering::Acquire));
        // b is already told; a is inside a request: nothing else to close.
        assert!(!conns.evict_one_waiting());
    }

    /// At the cap, a newcomer waited for a connection to close: one that had finished its
    /// request and sat idle kept its slot until the header read timeout. It is now closed for
    /// the newcomer as soon as its request ends.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn at_the_cap_a_connection_leaving_its_request_makes_room() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let router = Router::new()
            .route(
                "/slow",
                axum::routing::get(|| async {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    "slow"
                }),
            )
            .route("/fast", axum::routing::get(|| async { "fast" }));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let limits = Limits {
            max_connections: 1,
            header_read_timeout: Duration::from_secs(60),
            body_read_timeout: Duration::from_secs(60),
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(
            listener,
            router,
            limits,
            async move {
                let _ = stopped.await;
            },
            |tcp| async move { Some(tcp) },
        ));
        let request = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
        // A: inside a request when B arrives, then idle on its kept-alive connection.
        let mut a = TcpStream::connect(addr).await.unwrap();
        a.write_all(request("/slow").as_bytes()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut b = TcpStream::connect(addr).await.unwrap();
        b.write_all(request("/fast").as_bytes()).await.unwrap();
        let mut answer = vec![0u8; 512];
        let n = tokio::time::timeout(Duration::from_secs(10), b.read(&mut answer))
            .await
            .expect("the newcomer waited for the idle connection's header timeout")
            .unwrap();
        let answer = String::from_utf8_lossy(answer.get(..n).unwrap());
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        // A got its whole answer before it was closed.
        let mut got = Vec::new();
        a.read_to_end(&mut got).await.unwrap();
        assert!(String::from_utf8_lossy(&got).ends_with("slow"));
        drop(b);
        let _ = stop.send(());
        server.await.unwrap().unwrap();
    }

    /// A client that stopped reading kept its connection (and, inside a request, its slot)
    /// for as long as it liked: writes that wait past the limit now fail, and progress resets
    /// the wait.
    #[tokio::test]
    async fn writes_to_a_client_that_stopped_reading_fail_after_the_limit() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (ours, mut client) = tokio::io::duplex(64);
        let mut io = StallBoundIo::new(ours, Duration::from_millis(100));
        // Progress: the client reads as it goes, so waits never add up past the limit.
        let reader = tokio::spawn(async move {
            let mut buf = vec![0u8; 256];
            client.read_exact(&mut buf).await.unwrap();
            client
        });
        io.write_all(&[7u8; 256]).await.unwrap();
        let _client = reader.await.unwrap();
        // Stalled: the client reads nothing more.
        let err = tokio::time::timeout(Duration::from_secs(10), io.write_all(&[7u8; 256]))
            .await
            .expect("a stalled write must fail, not wait forever")
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    }
}
