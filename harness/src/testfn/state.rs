//! The test function's state while it serves: its config, its client to the sink, its
//! lifecycle events, its drain mode and the runs in progress.

use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::config::Config;
use super::lifecycle::Lifecycle;
use super::release;
use crate::protocol::Mode;

/// The app's drain modes, as the blog's app exposes them.
pub const MODE_NORMAL: u8 = 0;
pub const MODE_PREPARING: u8 = 1;

pub struct AppState {
    pub(super) config: Config,
    /// Carries the sink's token.
    pub(super) client: crate::net::HttpClient,
    pub(super) lifecycle: Lifecycle,
    /// Runs the function started itself (its own timer's), which it waits for before exit.
    pub(super) runs: tokio_util::task::TaskTracker,
    /// The `cancelled` event was posted.
    pub(super) said_cancelled: std::sync::atomic::AtomicBool,
    /// Fires on SIGTERM: the function's cancellation token.
    pub(super) cancel: CancellationToken,
    pub(super) mode: AtomicU8,
    /// Runs (timer loops, queue messages) in progress.
    pub(super) active: AtomicU32,
    /// A bad release's behaviour (a healthy one's does nothing).
    pub(super) release: release::Release,
}

fn sink_headers(config: &Config) -> axum::http::HeaderMap {
    let mut headers = axum::http::HeaderMap::new();
    if let Some(token) = &config.sink_token {
        if let Ok(mut value) = format!("Bearer {token}").parse::<axum::http::HeaderValue>() {
            value.set_sensitive(true);
            headers.insert(axum::http::header::AUTHORIZATION, value);
        }
    }
    headers
}

/// Counts a run as active while it lives.
pub(super) struct Active<'a>(&'a AtomicU32);

impl<'a> Active<'a> {
    pub(super) fn new(counter: &'a AtomicU32) -> Self {
        counter.fetch_add(1, Ordering::SeqCst);
        Active(counter)
    }
}

impl Drop for Active<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl AppState {
    pub fn new(config: Config, cancel: CancellationToken) -> Arc<AppState> {
        let client = config.place.net.client(crate::net::ClientOptions {
            timeout: Some(config.work.submit_timeout),
            pool_max_idle_per_host: 4,
            default_headers: sink_headers(&config),
        });
        let lifecycle = Lifecycle::new(
            &config.instance,
            &config.version,
            client.clone(),
            config.lifecycle.then(|| config.sink_url.clone()),
            config.place.clock,
        );
        Arc::new(AppState {
            client,
            lifecycle,
            runs: tokio_util::task::TaskTracker::new(),
            said_cancelled: std::sync::atomic::AtomicBool::new(false),
            cancel,
            mode: AtomicU8::new(MODE_NORMAL),
            active: AtomicU32::new(0),
            release: release::Release::new(config.release.clone()),
            config,
        })
    }

    /// The headers every request to the sink carries (its token).
    pub(super) fn sink_headers(&self) -> axum::http::HeaderMap {
        sink_headers(&self.config)
    }

    pub(super) fn draining(&self) -> bool {
        self.mode.load(Ordering::SeqCst) != MODE_NORMAL
    }

    pub(super) fn mode(&self) -> Mode {
        if !self.draining() {
            Mode::Normal
        } else if self.active.load(Ordering::SeqCst) == 0 {
            Mode::SafeToStop
        } else {
            Mode::PreparingForStop
        }
    }
}
