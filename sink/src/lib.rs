//! The item protocol and the sink that records every arrival.
//!
//! A test function submits uniquely numbered items `A(m,n)` to the sink with
//! `POST /items`; the sink appends one row per item to `arrivals.csv` and acknowledges a
//! request only after its rows are written. Duplicates are recorded, never dropped: deciding
//! what a duplicate means is the checker's job (crate `reports`), not the sink's.
//!
//! - [`item`]: the key `(source, m, n)` and the label grammar `A(m,n)`.
//! - [`wire`]: the JSON body of `POST /items` and the reasons a body is refused.
//! - [`recorder`]: the single writer thread behind a bounded channel, and the fsync policy.
//! - [`stats`]: live counters for `GET /stats` and `GET /metrics`.
//! - [`events`]: apps' lifecycle events, `POST /events`, kept in `events.csv`.
//! - [`lease`]: named singleton leases held through the sink (`POST /lease/NAME`).
//! - [`server`]: the axum routes, the bearer token, and [`run`], which takes its listener
//!   and its shutdown.
//! - [`connections`]: the cap on connections served at once (503 `overloaded` past it).
//! - [`clock`]: the one place time comes from.
//!
//! This crate depends on no other crate of the workspace.

pub mod clock;
pub mod connections;
pub mod events;
pub mod item;
pub mod lease;
pub mod recorder;
pub mod server;
pub mod stats;
pub mod torn;
pub mod wire;

pub use events::{EVENTS_FILE, EVENTS_HEADER};
pub use item::{Key, Label};
pub use recorder::{FsyncPolicy, ARRIVALS_FILE, ARRIVALS_HEADER};
pub use server::{
    run, Config, Sink, SinkError, Summary, DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_CONNECTIONS,
};
pub use wire::{Item, Reject};
