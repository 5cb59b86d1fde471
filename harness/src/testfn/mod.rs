//! The test function: a small HTTP server in the style of an Azure Functions custom handler.
//!
//! The host invokes it; it submits items to the sink. Its protocol, which any app that wants
//! to be measured by the harness can speak:
//!
//! | endpoint | what |
//! |---|---|
//! | `POST /tick` `{"m": 7, "scheduled_ns": ..., "catch_up": false}` | run occurrence `m`: `items` iterations, `item_delay` apart, each item submitted to the sink as `VERSION(m,n)`; answers `200 {"sent": k}`, `500 {"error": ..., "sent": k}` when a submit failed for good, `503 {"cancelled": true, "sent": k, "stashed": s}` when cancelled; every answer names the `instance` and `version` |
//! | `POST /tick` `{"Data": {"timer": {"IsPastDue": false, ...}}, "Metadata": {"sys": {"UtcNow": "...", ...}}}` | the Azure Functions host's timer invocation: runs occurrence `m` = `UtcNow` rounded down to the period (`HARNESS_TIMER_*`), `catch_up` = `IsPastDue`; answers `{"Outputs": {}, "Logs": ["sent k"], "ReturnValue": {"sent": k, "m": m, ...}}` with the run's status, or `200` without running an occurrence outside `[HARNESS_TIMER_FIRST, HARNESS_TIMER_UNTIL)` (`testfn/functions_host.rs`) |
//! | `POST /api/tick` | the same, as an HTTP-triggered function behind a real front door |
//! | `POST /poll` `{"m": 7, "scheduled_ns": ...}` | the queue workload's timer: answers `{"messages": [{"m", "n"}...]}`, `events` of them, which the host enqueues (an output binding) |
//! | `POST /proc` `{"m": 7, "n": 2, "dequeue": 1}` | the queue trigger: processes one message, submits item `proc(m,n)`; `200`, or `500` when the handler fails |
//! | `GET /api/ping` | the HTTP trigger: `{"version", "instance", "slot"}` |
//! | `GET /health` | `ok` once it serves |
//! | `GET /admin/mode`, `POST /admin/mode {"mode": "PreparingForStop"}` | the app's drain modes: `Normal`, `PreparingForStop` (finish or stash current work, start nothing new), `SafeToStop` (nothing running) |
//!
//! On SIGTERM its cancellation token fires: it stops taking invocations and each running loop
//! does what `--on-cancel` says (`abandon`, `finish-item` or `stash`), then the process exits.
//! With `stash`, the unsent items of the run are written to the stash directory, and every
//! instance in `Normal` mode replays whatever it finds there, at start and then every item
//! delay (so stashed items arrive late rather than never).
//!
//! It reports its own life to the sink's `POST /events` (`testfn/lifecycle.rs`), and with
//! `--timer-epoch-ns` it runs its own timer instead of waiting to be invoked
//! (`testfn/own_timer.rs`). How an instance starts (its command line, stdout and token) is
//! in `testfn/start.rs`. Started by the Azure Functions host, with no `--listen` or
//! `--instance`, it serves on `FUNCTIONS_CUSTOMHANDLER_PORT` and names itself by
//! `WEBSITE_INSTANCE_ID` or the host name (`testfn/functions_host.rs`). A `/tick` body
//! that is neither shape gets a 400 or 422 with the reason, and nothing runs.

mod app;
mod config;
pub mod functions_host;
mod lifecycle;
mod line_out;
mod own_timer;
pub mod release;
mod rfc3339;
mod start;
mod state;
mod tick;

pub use app::{router, serve};
pub use config::{Config, OwnTimer, Place, Schedule, Stash, Work, DEFAULT_HEARTBEAT};
pub use line_out::LineOut;
pub use start::{main, parse_on_cancel, run_with, Args};
pub use state::AppState;
