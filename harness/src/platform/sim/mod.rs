//! The virtual-time platform: the local emulator's own parts (its host, front door, timer,
//! queue, scale controller and the five strategies) and the built-in test function, run in
//! virtual time on one thread, on an in-memory network, with nothing but the process and the
//! network modelled.
//!
//! A run on it is the emulator's run with the operating system taken out: an instance is the
//! test function's own code as a group of tasks ([`crate::instance_tasks`]) rather than a
//! process, its HTTP is a call of the server's router ([`crate::net::sim`]) rather than TCP,
//! and time is tokio's paused clock, which jumps to the next timer whenever every task
//! waits. What takes real time on the machine and none here is modelled by [`Model`]: a
//! process's start-up, and the network's latency. The same seed and binary give the same
//! run directory, byte for byte.
//!
//! - `section.rs`: its capabilities and `[platform]` keys;
//! - `model.rs`: what is modelled, its defaults and where they come from;
//! - `launcher.rs`: starting an instance as a task group;
//! - `build.rs`: the local platform built with that launcher, on the in-memory network.

pub mod build;
pub mod launcher;
pub mod model;
pub mod section;

pub use model::Model;
