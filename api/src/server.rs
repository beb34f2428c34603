//! The connection server: accepts TCP connections and serves HTTP/1.1 on them with the routes
//! of [`crate::http`]. (HTTP/2 reaches the service through the TLS-terminating proxy or ingress
//! in front of it; serving cleartext HTTP/2 here would mean sniffing each connection's first
//! bytes, which no timeout covers: a connection that sends nothing would stay open.)
//!
//! poem's own server loop has no header-read timeout and no cap on open connections: bare or
//! half-sent connections stayed open forever, and about 20,000 of them exhausted the process's
//! open files, after which nothing was accepted. Here:
//! - at most `max_connections` are open (kept below the open-file limit); more wait in the
//!   kernel's backlog until one closes;
//! - a connection must send a request's headers within `header_timeout`, and an idle keep-alive
//!   connection is closed after the same time (hyper's header-read timer runs from the moment
//!   the connection is ready for its next request);
//! - bodies have their own timeout, in the handler (it knows when it reads one).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use poem::http::uri::Scheme;
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Addr, Endpoint, IntoResponse};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

/// Connection limits.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Most connections open at once.
    pub max_connections: usize,
    /// Longest wait for a request's headers (and longest idle keep-alive).
    pub header_timeout: Duration,
    /// Longest a connection may leave an answer unread (no write progress) before it is closed.
    pub write_timeout: Duration,
    /// Longest in-flight requests may take to finish after a shutdown signal.
    pub shutdown_grace: Duration,
}

/// Open files kept free for database connections, logs and the process itself.
const RESERVED_FILES: u64 = 256;

/// `wanted` connections, or fewer when the open-file limit (raised to its hard maximum
/// first) leaves less room: accepting past it fails with EMFILE, for every client.
pub fn connection_cap(wanted: usize) -> usize {
    let limit = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(1024);
    let room = limit.saturating_sub(RESERVED_FILES).max(16);
    let cap = wanted
        .min(usize::try_from(room).unwrap_or(usize::MAX))
        .max(1);
    if cap < wanted {
        tracing::warn!(
            wanted,
            cap,
            open_file_limit = limit,
            "MAX_CONNECTIONS lowered to fit the open-file limit"
        );
    }
    cap
}

/// Serves `endpoint` on `listener` until `shutdown` completes, then lets in-flight requests
/// finish for `limits.shutdown_grace` at most.
pub async fn serve<E>(
    listener: TcpListener,
    endpoint: E,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()>
where
    E: Endpoint + 'static,
{
    let local = listener.local_addr()?;
    let endpoint = Arc::new(endpoint);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let builder = Arc::new(builder);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        while connections.try_join_next().is_some() {}
        let slot = tokio::select! {
            _ = &mut shutdown => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
        };
        let (stream, remote) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning on the error.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let endpoint = endpoint.clone();
        let builder = builder.clone();
        let mut stop = stop_rx.clone();
        connections.spawn(async move {
            let _slot = slot;
            let service = hyper::service::service_fn(move |req| {
                let endpoint = endpoint.clone();
                async move { Ok::<_, Infallible>(respond(&*endpoint, req, local, remote).await) }
            });
            let io = WriteTimeout::new(stream, limits.write_timeout);
            let conn = builder.serve_connection(TokioIo::new(io), service);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = stop.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(limits.shutdown_grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!("connections still open after the shutdown grace period: closed");
        connections.abort_all();
    }
    Ok(())
}

/// A connection whose writes must make progress: a client that stops reading its answer (and
/// so keeps it in the server's memory) is cut off after `limit` without progress.
struct WriteTimeout {
    inner: tokio::net::TcpStream,
    limit: Duration,
    stalled: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl WriteTimeout {
    fn new(inner: tokio::net::TcpStream, limit: Duration) -> Self {
        Self {
            inner,
            limit,
            stalled: None,
        }
    }

    /// After a write that could not proceed: pending until `limit` has passed, then an error.
    fn stall<T>(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<T>> {
        let limit = self.limit;
        let sleep = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match sleep.as_mut().poll(cx) {
            std::task::Poll::Ready(()) => std::task::Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the client did not read its answer",
            ))),
            std::task::Poll::Pending => std::task::Poll::Pending,
        }
    }

    fn progress<T>(
        &mut self,
        cx: &mut std::task::Context<'_>,
        poll: std::task::Poll<std::io::Result<T>>,
    ) -> std::task::Poll<std::io::Result<T>> {
        if poll.is_pending() {
            return self.stall(cx);
        }
        self.stalled = None;
        poll
    }
}

impl tokio::io::AsyncRead for WriteTimeout {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for WriteTimeout {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let poll = std::pin::Pin::new(&mut this.inner).poll_write(cx, buf);
        this.progress(cx, poll)
    }

    fn poll_write_vectored(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let poll = std::pin::Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.progress(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let poll = std::pin::Pin::new(&mut this.inner).poll_flush(cx);
        this.progress(cx, poll)
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

async fn respond<E: Endpoint>(
    endpoint: &E,
    req: hyper::Request<Incoming>,
    local: SocketAddr,
    remote: SocketAddr,
) -> hyper::Response<http_body_util::combinators::BoxBody<bytes::Bytes, std::io::Error>> {
    let req = poem::Request::from((
        req,
        LocalAddr(Addr::SocketAddr(local)),
        RemoteAddr(Addr::SocketAddr(remote)),
        Scheme::HTTP,
    ));
    let response = match endpoint.call(req).await {
        Ok(r) => r.into_response(),
        Err(e) => e.into_response(),
    };
    response.into()
}
