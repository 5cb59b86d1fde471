//! The store's one schema, as versioned migrations: each is applied once, in order, in the
//! transaction that records it in `schema_migrations`. The SQL is the subset SQLite and
//! PostgreSQL read alike (`TEXT`, `BIGINT`, `DOUBLE PRECISION`, no serial keys, no booleans),
//! so both stores hold the same tables, and a user's SQL for a dashboard runs on either.
//!
//! A migration is never edited once released: a change is a new one.

/// The table that says which migrations a store has had.
pub const VERSION_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version BIGINT PRIMARY KEY,
    applied_ns BIGINT NOT NULL
)";

/// `(version, SQL)`, in order.
pub const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        "CREATE TABLE runs (
            run_id TEXT PRIMARY KEY,
            scenario TEXT NOT NULL,
            scenario_path TEXT NOT NULL,
            scenario_hash TEXT NOT NULL,
            platform TEXT NOT NULL,
            strategy TEXT NOT NULL,
            run_case TEXT NOT NULL,
            time_scale DOUBLE PRECISION,
            seed BIGINT,
            harness_version TEXT NOT NULL,
            started_ns BIGINT NOT NULL,
            valid BIGINT NOT NULL,
            invalid_reason TEXT NOT NULL,
            run_dir TEXT NOT NULL,
            recorded_ns BIGINT NOT NULL
        );
        CREATE TABLE metrics (
            run_id TEXT NOT NULL REFERENCES runs (run_id),
            metric TEXT NOT NULL,
            value DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (run_id, metric)
        );
        CREATE INDEX runs_by_scenario ON runs (scenario, started_ns);",
    ),
    (
        2,
        "CREATE TABLE labels (
            run_id TEXT NOT NULL REFERENCES runs (run_id),
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            PRIMARY KEY (run_id, key)
        );
        CREATE INDEX runs_by_identity ON runs (scenario_hash, platform, strategy, started_ns);",
    ),
];

/// The version a store has once every migration is applied.
pub fn latest() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.0)
}
