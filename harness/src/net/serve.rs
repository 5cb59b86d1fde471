//! Serving an axum router on a [`Net`]: bound first (so its address can be handed out),
//! served later, until a shutdown future, answering open requests before returning, as
//! `axum::serve(..).with_graceful_shutdown(..)` does.

use std::future::Future;
use std::net::SocketAddr;

use axum::Router;

use super::sim::SimListener;
use super::Net;

/// A bound listener on a [`Net`].
pub enum Listener {
    Tcp(tokio::net::TcpListener),
    Sim(SimListener),
}

impl Listener {
    /// Binds `addr` (`127.0.0.1:0` for any free port) on `net`.
    pub async fn bind(net: &Net, addr: &str) -> std::io::Result<Listener> {
        match net {
            Net::Machine => Ok(Listener::Tcp(tokio::net::TcpListener::bind(addr).await?)),
            Net::Sim(sim) => Ok(Listener::Sim(sim.bind())),
        }
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        match self {
            Listener::Tcp(l) => l.local_addr(),
            Listener::Sim(l) => Ok(l.addr()),
        }
    }
}

impl From<tokio::net::TcpListener> for Listener {
    fn from(l: tokio::net::TcpListener) -> Self {
        Listener::Tcp(l)
    }
}

/// Serves `router` on `listener` until `shutdown`, then lets open requests finish.
pub async fn serve(
    listener: Listener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    match listener {
        Listener::Tcp(l) => {
            axum::serve(l, router)
                .with_graceful_shutdown(shutdown)
                .await
        }
        Listener::Sim(l) => {
            l.serve(router, shutdown).await;
            Ok(())
        }
    }
}
