//! The harness's integration tests, in one binary: the command line, the platform's timer
//! service on real processes, and whole runs at small time scales.

mod advise;
mod cli;
mod command;
mod common;
mod custom_handler;
mod deployables;
mod docker;
mod docs;
mod faults;
mod flex;
mod fuzz;
mod history;
mod host;
mod outcomes;
mod proxies;
mod releases;
mod runs;
mod sim;
mod strategies;
mod structure;
mod swarm;
mod sweep;
mod timer;
mod virtual_time;
