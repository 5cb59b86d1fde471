//! Benchmarks and load tools; the library holds the soak's parts, which the `soak` binary
//! runs (see `benches/scripts/soak.sh`).

pub mod soak;
