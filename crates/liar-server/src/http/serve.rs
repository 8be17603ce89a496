//! The HTTP accept loop (SPEC §4: "an HTTP connection that has not sent its full request head
//! within 10 s, or stays idle past 60 s, is closed").
//!
//! `axum::serve` has neither timeout, so connections are served with hyper-util directly:
//! `ConnectInfo<SocketAddr>` is attached as axum's own `serve` does, WebSocket upgrades work,
//! and shutdown is graceful (stop accepting, let every connection finish its request).
//!
//! hyper's `header_read_timeout` starts when hyper begins waiting for a request head, which on a
//! kept-alive connection is also when it falls idle; alone, it would close idle connections
//! after the (short) header timeout. So hyper is given a timer of its own ([`HeadTimer`]) that
//! knows whether bytes have arrived since: until the first byte of the next request it waits
//! for the idle timeout, from that byte on for the header timeout. A fresh connection must send
//! its whole first head within the header timeout of being accepted.

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tower::Service;

/// How long the accept loop pauses after a failed accept (typically out of file descriptors),
/// so it does not spin while the condition lasts.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// The two connection timeouts (settings `http_header_timeout_ms`, `http_idle_timeout_ms`).
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// From a request's first byte (a fresh connection: from being accepted) to its whole head.
    pub header: Duration,
    /// How long a kept-alive connection may wait, with nothing sent, for its next request.
    pub idle: Duration,
}

/// Serves `app` on `listener` until `shutdown` completes, then stops accepting and returns once
/// every connection has finished its in-flight request (upgraded WebSockets are on their own by
/// then). Handlers see the peer as `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    timeouts: Timeouts,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let mut make_service = app.into_make_service_with_connect_info::<SocketAddr>();
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(connection) => connection,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        // Events are small frames written one after another (a note, then an ERROR, then the
        // close): without this, Nagle holds each behind the peer's delayed ACK (~40 ms).
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
        let service = match make_service.call(peer).await {
            Ok(service) => service,
            Err(never) => match never {},
        };
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let activity = Arc::new(Activity::new(timeouts));
            // hyper-util reads the first bytes itself (to tell HTTP/1 from HTTP/2) without a
            // timeout: a connection that never sends anything is closed here.
            let mut first = [0u8; 1];
            match tokio::time::timeout(timeouts.header, stream.peek(&mut first)).await {
                Ok(Ok(n)) if n > 0 => {}
                _ => return,
            }
            let io = TokioIo::new(Metered {
                inner: stream,
                activity: activity.clone(),
            });
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(HeadTimer(activity))
                .header_read_timeout(timeouts.header);
            let conn =
                builder.serve_connection_with_upgrades(io, TowerToHyperService::new(service));
            if let Err(e) = watcher.watch(conn).await {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// What one connection's IO and its head timer share.
struct Activity {
    timeouts: Timeouts,
    accepted: Instant,
    /// Reads that returned bytes.
    reads: AtomicU64,
    /// Whether hyper has armed its head timer before (the first head is timed from accept).
    armed_before: AtomicBool,
}

impl Activity {
    fn new(timeouts: Timeouts) -> Activity {
        Activity {
            timeouts,
            accepted: Instant::now(),
            reads: AtomicU64::new(0),
            armed_before: AtomicBool::new(false),
        }
    }
}

/// The TCP stream, counting reads that bring bytes.
struct Metered {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Metered {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.reads.fetch_add(1, Ordering::Relaxed);
        }
        polled
    }
}

impl AsyncWrite for Metered {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The timer hyper uses for its header-read timeout on one connection. hyper arms it only
/// while it waits for a request head, and drops it once the head is read.
struct HeadTimer(Arc<Activity>);

impl hyper::rt::Timer for HeadTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        self.sleep_until(std::time::Instant::now() + duration)
    }

    fn sleep_until(&self, _deadline: std::time::Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        let activity = self.0.clone();
        let now = Instant::now();
        let first = !activity.armed_before.swap(true, Ordering::Relaxed);
        let (deadline, head_started) = if first {
            (activity.accepted + activity.timeouts.header, true)
        } else {
            (now + activity.timeouts.idle, false)
        };
        Box::pin(HeadSleep {
            reads_at_start: activity.reads.load(Ordering::Relaxed),
            activity,
            head_started,
            sleep: Box::pin(tokio::time::sleep_until(deadline)),
        })
    }
}

/// Fires at the idle deadline while no byte of the next request has arrived, and at the header
/// deadline (counted from the first byte) once one has.
struct HeadSleep {
    activity: Arc<Activity>,
    reads_at_start: u64,
    head_started: bool,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl Future for HeadSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // hyper polls this right after every read that leaves the head incomplete.
        if !self.head_started && self.activity.reads.load(Ordering::Relaxed) > self.reads_at_start {
            self.head_started = true;
            let deadline = Instant::now() + self.activity.timeouts.header;
            self.sleep.as_mut().reset(deadline);
        }
        self.sleep.as_mut().poll(cx)
    }
}

impl hyper::rt::Sleep for HeadSleep {}
