//! The cap on connections the sink serves at once ([`crate::Config::max_connections`],
//! `--max-connections`).
//!
//! A connection holds one of `max_connections` permits from its accept to its close, idle
//! keep-alive time included: that is what a connection costs the sink (a socket, a task,
//! buffers). One accepted past the cap is not dropped in silence: it is served, but each
//! request on it is answered `503 overloaded` with a reason and `Connection: close`, records
//! nothing and is counted (`rejected.overloaded` in `/stats`). The client learns why and can
//! retry on a new connection once others have closed.
//!
//! Refusing costs a little too, so it is bounded as well: at most [`REFUSING_CONNECTIONS`]
//! refused connections are held at once, each for at most [`REFUSED_READ_TIMEOUT`] before
//! it must have sent its request; past those, a connection is closed at once, unanswered,
//! and counted the same.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::stats::Stats;
use crate::wire::Reject;

/// Connections past the cap that are held at once to be answered 503; past these, a
/// connection is closed unanswered.
pub const REFUSING_CONNECTIONS: usize = 64;

/// How long a connection past the cap may take to send its request before it is closed.
pub const REFUSED_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// A listener that admits at most `max_connections` connections at once.
pub(crate) struct CappedListener {
    inner: TcpListener,
    max_connections: usize,
    admitted: Arc<Semaphore>,
    refusing: Arc<Semaphore>,
    stats: Arc<Stats>,
    /// The sink is refusing connections (said once per episode, not per connection).
    overloaded: bool,
}

impl CappedListener {
    pub(crate) fn new(inner: TcpListener, max_connections: usize, stats: Arc<Stats>) -> Self {
        CappedListener {
            inner,
            max_connections,
            admitted: Arc::new(Semaphore::new(max_connections)),
            refusing: Arc::new(Semaphore::new(REFUSING_CONNECTIONS)),
            stats,
            overloaded: false,
        }
    }
}

/// An accepted connection and its permit, released when the connection closes.
pub(crate) struct CappedIo {
    io: TcpStream,
    _permit: OwnedSemaphorePermit,
    admitted: bool,
    /// A refused connection's deadline to send its request; reads end (EOF) past it.
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Listener for CappedListener {
    type Io = CappedIo;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (CappedIo, SocketAddr) {
        loop {
            let (io, addr) = Listener::accept(&mut self.inner).await;
            if let Ok(permit) = self.admitted.clone().try_acquire_owned() {
                if self.overloaded {
                    self.overloaded = false;
                    tracing::info!("connections back under the cap");
                }
                let io = CappedIo {
                    io,
                    _permit: permit,
                    admitted: true,
                    deadline: None,
                };
                return (io, addr);
            }
            if !self.overloaded {
                self.overloaded = true;
                tracing::warn!(
                    max_connections = self.max_connections,
                    "at the connection cap: further connections get 503 overloaded"
                );
            }
            match self.refusing.clone().try_acquire_owned() {
                Ok(permit) => {
                    self.stats.refusals_held.fetch_add(1, Ordering::Relaxed);
                    let io = CappedIo {
                        io,
                        _permit: permit,
                        admitted: false,
                        deadline: Some(Box::pin(tokio::time::sleep(REFUSED_READ_TIMEOUT))),
                    };
                    return (io, addr);
                }
                Err(_) => {
                    // Too many refusals under way: closing is all this one gets.
                    self.stats.count_reject(&Reject::Overloaded {
                        max_connections: self.max_connections,
                    });
                    drop(io);
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// Whether a request's connection was admitted under the cap, for the handlers
/// (`ConnectInfo<Admission>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Admission {
    pub(crate) admitted: bool,
}

impl Connected<IncomingStream<'_, CappedListener>> for Admission {
    fn connect_info(stream: IncomingStream<'_, CappedListener>) -> Self {
        Admission {
            admitted: stream.io().admitted,
        }
    }
}

impl AsyncRead for CappedIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(deadline) = &mut this.deadline {
            if deadline.as_mut().poll(cx).is_ready() {
                // A refused connection that has not sent its request in time ends here.
                return Poll::Ready(Ok(()));
            }
        }
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for CappedIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}
