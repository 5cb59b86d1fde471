//! The history of runs: every run's identity, validity, labels and metrics in a SQL
//! database, an embedded SQLite file by default (`runs/history.sqlite`) or a PostgreSQL
//! database a team shares, and what it says of each scenario's metrics.
//!
//! - `schema.rs`: the tables, as versioned migrations;
//! - `record.rs`: one run as a row, read from its run directory;
//! - `store.rs`: the two stores behind one interface;
//! - `stats.rs`: quantiles and trends over a series of runs;
//! - `budget.rs`: what a series says a budget's reference is.

pub mod budget;
pub mod record;
pub mod schema;
pub mod stats;
pub mod store;

pub use budget::{band, basis};
pub use record::{RecordError, RunRow};
pub use stats::{quantile, stats, Stats};
pub use store::{Filter, ScratchDatabase, Series, Store, StoreError};

/// The store a run is recorded in when none is named: beside the run directories.
pub const DEFAULT_STORE: &str = "runs/history.sqlite";

/// The environment variable that names the store (a PostgreSQL URL, or a SQLite file).
pub const STORE_ENV: &str = "HARNESS_HISTORY";

/// Where the tests find a PostgreSQL server whose role may create databases: this
/// variable, else Debian's server on loopback as `.ci/run` sets it up.
pub const TEST_POSTGRES_ENV: &str = "HARNESS_TEST_POSTGRES";
pub const TEST_POSTGRES_DEFAULT: &str = "postgres://harness:harness@127.0.0.1:5432/harness";

/// The test server's URL ([`TEST_POSTGRES_ENV`], else [`TEST_POSTGRES_DEFAULT`]).
pub fn test_postgres() -> String {
    std::env::var(TEST_POSTGRES_ENV).unwrap_or_else(|_| TEST_POSTGRES_DEFAULT.to_owned())
}
