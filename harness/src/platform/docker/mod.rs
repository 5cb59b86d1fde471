//! The Docker platform: the local emulator's own host, front door, timer, queue, scale
//! controller and strategies, with every instance a container that a Docker Engine runs
//! (through its API), and the Engine's own account of each container in the ledger.
//!
//! What differs from the emulator is only how an instance starts, is signalled and ends:
//! `docker create` and `start` from an image (the harness builds the test function's image
//! from its own executable, or the user names theirs), `docker kill --signal` to the
//! container's PID 1, `docker pause`, and the Engine's wait. Whether a SIGTERM reaches the
//! app's code depends on what PID 1 is: the app itself (exec form), a shell that does not
//! forward it, or docker-init. The Engine's events (create, start, kill with its signal, die
//! with its exit code, oom, pause) are `engine` rows of the ledger.
//!
//! - `config.rs`: the `[platform.docker]` keys;
//! - `section.rs`: its capabilities and its checks of those keys;
//! - `engine.rs`: the connection, the labels, removal, and the events into the ledger;
//! - `image.rs`: the test function's image, from the harness's own executable;
//! - `launcher.rs`: an instance as a container;
//! - `build.rs`: the local platform with that launcher, and its teardown.

pub mod build;
pub mod config;
pub mod engine;
pub mod image;
pub mod launcher;
pub mod section;
