//! The store: an embedded SQLite file, or a PostgreSQL database a team shares, behind one
//! interface. Opening one applies the migrations it lacks ([`crate::schema`]), one process
//! at a time (SQLite's write lock, PostgreSQL's advisory lock), so that many CI jobs may
//! open and write the same store at once: each run is one transaction, and a run recorded
//! twice (the same directory) is kept once.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::record::RunRow;
use crate::schema::{MIGRATIONS, VERSION_TABLE};

/// How long a SQLite writer waits for another's lock before it fails.
const SQLITE_BUSY: Duration = Duration::from_secs(60);

/// The advisory lock that makes PostgreSQL migrations one at a time ("uh" in ASCII, and a
/// few digits of ours).
const PG_MIGRATION_LOCK: i64 = 0x7568_0023;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the history store {place}: {source}")]
    Sqlite {
        place: String,
        source: rusqlite::Error,
    },
    #[error("the history store {place}: {source}")]
    Postgres {
        place: String,
        source: postgres::Error,
    },
    #[error("the history store {0}: {1}")]
    Io(String, std::io::Error),
    #[error("the history store {place} has schema version {found}, newer than this harness's {known}: upgrade the harness")]
    Newer {
        place: String,
        found: i64,
        known: i64,
    },
}

/// An open store.
pub struct Store {
    place: String,
    db: Db,
}

enum Db {
    Sqlite(rusqlite::Connection),
    Postgres(Box<postgres::Client>),
}

/// A query parameter, for either store.
#[derive(Clone, Debug)]
enum Param {
    Text(String),
    Int(i64),
    Real(f64),
    /// A null of a `DOUBLE PRECISION` column, and of a `BIGINT` one: PostgreSQL types even
    /// a null parameter.
    NullReal,
    NullInt,
}

/// What [`Store::runs`] returns: the runs that match, by start.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Filter {
    /// Scenario names; empty: every scenario.
    pub scenarios: Vec<String>,
    /// Runs recorded at or after this (ns since the Unix epoch).
    pub since_ns: Option<i64>,
    /// Runs carrying every one of these labels.
    pub labels: Vec<(String, String)>,
    /// Runs of this scenario as run ([`crate::record::scenario_hash`]), platform and
    /// strategy: one series.
    pub series: Option<Series>,
}

/// One series: the runs of one scenario as run, on one platform, with one strategy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Series {
    pub scenario_hash: String,
    pub platform: String,
    pub strategy: String,
}

/// `postgres://...` or `postgresql://...`: PostgreSQL; anything else (a path, or
/// `sqlite:PATH`): a SQLite file.
pub fn is_postgres(target: &str) -> bool {
    target.starts_with("postgres://") || target.starts_with("postgresql://")
}

/// The target as it may be shown: a PostgreSQL URL without its password.
pub fn shown(target: &str) -> String {
    if !is_postgres(target) {
        return target.to_owned();
    }
    match (target.find("://"), target.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &target[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &target[..s + 3], &target[at..]),
                None => target.to_owned(),
            }
        }
        _ => target.to_owned(),
    }
}

impl Store {
    /// Opens (creating a SQLite file and its directory if need be) and migrates the store.
    pub fn open(target: &str) -> Result<Store, StoreError> {
        let mut store = Store::open_unmigrated(target)?;
        store.migrate_to(crate::schema::latest())?;
        Ok(store)
    }

    /// Opens the store as it is, migrating nothing: for a test of the migrations.
    pub fn open_unmigrated(target: &str) -> Result<Store, StoreError> {
        let place = shown(target);
        let db = if is_postgres(target) {
            let client = postgres::Client::connect(target, postgres::NoTls).map_err(|source| {
                StoreError::Postgres {
                    place: place.clone(),
                    source,
                }
            })?;
            Db::Postgres(Box::new(client))
        } else {
            let path = PathBuf::from(
                target
                    .strip_prefix("sqlite://")
                    .or_else(|| target.strip_prefix("sqlite:"))
                    .unwrap_or(target),
            );
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| StoreError::Io(place.clone(), e))?;
            }
            let sqlite = |source| StoreError::Sqlite {
                place: place.clone(),
                source,
            };
            let conn = rusqlite::Connection::open(&path).map_err(sqlite)?;
            conn.busy_timeout(SQLITE_BUSY).map_err(sqlite)?;
            // WAL: readers never wait for a writer, and writers queue on one lock.
            conn.pragma_update(None, "journal_mode", "wal")
                .map_err(sqlite)?;
            conn.pragma_update(None, "foreign_keys", "on")
                .map_err(sqlite)?;
            Db::Sqlite(conn)
        };
        Ok(Store { place, db })
    }

    /// Where the store is, as it may be shown.
    pub fn place(&self) -> &str {
        &self.place
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn kind(&self) -> &'static str {
        match self.db {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    fn pg_err(place: &str) -> impl Fn(postgres::Error) -> StoreError + '_ {
        move |source| StoreError::Postgres {
            place: place.to_owned(),
            source,
        }
    }

    /// The migrations the store has had: its schema's version (0: none).
    pub fn version(&mut self) -> Result<i64, StoreError> {
        let place = self.place.clone();
        match &mut self.db {
            Db::Sqlite(c) => {
                c.execute_batch(VERSION_TABLE)
                    .map_err(|source| StoreError::Sqlite {
                        place: place.clone(),
                        source,
                    })?;
                c.query_row(
                    "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                    [],
                    |r| r.get(0),
                )
                .map_err(|source| StoreError::Sqlite { place, source })
            }
            Db::Postgres(c) => {
                c.batch_execute(VERSION_TABLE)
                    .map_err(Self::pg_err(&place))?;
                let row = c
                    .query_one(
                        "SELECT COALESCE(MAX(version), 0)::BIGINT FROM schema_migrations",
                        &[],
                    )
                    .map_err(Self::pg_err(&place))?;
                Ok(row.get(0))
            }
        }
    }

    /// Applies, in order and each once, the migrations up to `version`, holding the store's
    /// migration lock: a process that finds them applied by another applies nothing.
    pub fn migrate_to(&mut self, version: i64) -> Result<i64, StoreError> {
        let now = now_ns();
        let place = self.place.clone();
        let found = match &mut self.db {
            Db::Sqlite(c) => {
                let err = |source| StoreError::Sqlite {
                    place: place.clone(),
                    source,
                };
                let tx = c
                    .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                    .map_err(err)?;
                tx.execute_batch(VERSION_TABLE).map_err(err)?;
                let found: i64 = tx
                    .query_row(
                        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                        [],
                        |r| r.get(0),
                    )
                    .map_err(err)?;
                for (v, sql) in MIGRATIONS.iter().filter(|m| m.0 > found && m.0 <= version) {
                    tx.execute_batch(sql).map_err(err)?;
                    tx.execute(
                        "INSERT INTO schema_migrations (version, applied_ns) VALUES (?1, ?2)",
                        rusqlite::params![v, now],
                    )
                    .map_err(err)?;
                }
                tx.commit().map_err(err)?;
                found
            }
            Db::Postgres(c) => {
                let err = Self::pg_err(&place);
                let mut tx = c.transaction().map_err(&err)?;
                tx.execute("SELECT pg_advisory_xact_lock($1)", &[&PG_MIGRATION_LOCK])
                    .map_err(&err)?;
                tx.batch_execute(VERSION_TABLE).map_err(&err)?;
                let found: i64 = tx
                    .query_one(
                        "SELECT COALESCE(MAX(version), 0)::BIGINT FROM schema_migrations",
                        &[],
                    )
                    .map_err(&err)?
                    .get(0);
                for (v, sql) in MIGRATIONS.iter().filter(|m| m.0 > found && m.0 <= version) {
                    tx.batch_execute(sql).map_err(&err)?;
                    tx.execute(
                        "INSERT INTO schema_migrations (version, applied_ns) VALUES ($1, $2)",
                        &[v, &now],
                    )
                    .map_err(&err)?;
                }
                tx.commit().map_err(&err)?;
                found
            }
        };
        let known = crate::schema::latest();
        if found > known {
            return Err(StoreError::Newer {
                place: self.place.clone(),
                found,
                known,
            });
        }
        Ok(found.max(version))
    }

    /// Records a run with its metrics and labels, in one transaction. Returns false when
    /// the store already holds it (the same run recorded again), changing nothing.
    pub fn record(&mut self, run: &RunRow) -> Result<bool, StoreError> {
        let row = [
            Param::Text(run.run_id.clone()),
            Param::Text(run.scenario.clone()),
            Param::Text(run.scenario_path.clone()),
            Param::Text(run.scenario_hash.clone()),
            Param::Text(run.platform.clone()),
            Param::Text(run.strategy.clone()),
            Param::Text(run.case.clone()),
            run.time_scale.map_or(Param::NullReal, Param::Real),
            run.seed.map_or(Param::NullInt, Param::Int),
            Param::Text(run.harness_version.clone()),
            Param::Int(run.started_ns),
            Param::Int(i64::from(run.valid)),
            Param::Text(run.invalid_reason.clone()),
            Param::Text(run.run_dir.clone()),
            Param::Int(run.recorded_ns),
        ];
        let insert_run = format!(
            "INSERT INTO runs ({RUN_COLUMNS}) VALUES ({}) \
             ON CONFLICT (run_id) DO NOTHING",
            placeholders(1, row.len())
        );
        let metrics: Vec<[Param; 3]> = run
            .metrics
            .iter()
            .map(|(m, v)| {
                [
                    Param::Text(run.run_id.clone()),
                    Param::Text(m.clone()),
                    Param::Real(*v),
                ]
            })
            .collect();
        let labels: Vec<[Param; 3]> = run
            .labels
            .iter()
            .map(|(k, v)| {
                [
                    Param::Text(run.run_id.clone()),
                    Param::Text(k.clone()),
                    Param::Text(v.clone()),
                ]
            })
            .collect();
        const METRIC: &str = "INSERT INTO metrics (run_id, metric, value) VALUES ($1, $2, $3)";
        const LABEL: &str = "INSERT INTO labels (run_id, key, value) VALUES ($1, $2, $3)";
        let place = self.place.clone();
        match &mut self.db {
            Db::Sqlite(c) => {
                let err = |source| StoreError::Sqlite {
                    place: place.clone(),
                    source,
                };
                // Immediate: the write lock first, so that concurrent writers queue on the
                // busy timeout instead of failing on a stale read.
                let tx = c
                    .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                    .map_err(err)?;
                let inserted = tx
                    .execute(&sqlite_sql(&insert_run), sqlite_params(&row))
                    .map_err(err)?;
                if inserted == 1 {
                    for p in &metrics {
                        tx.execute(&sqlite_sql(METRIC), sqlite_params(p))
                            .map_err(err)?;
                    }
                    for p in &labels {
                        tx.execute(&sqlite_sql(LABEL), sqlite_params(p))
                            .map_err(err)?;
                    }
                }
                tx.commit().map_err(err)?;
                Ok(inserted == 1)
            }
            Db::Postgres(c) => {
                let err = Self::pg_err(&place);
                let mut tx = c.transaction().map_err(&err)?;
                let inserted = tx.execute(&insert_run, &pg_params(&row)).map_err(&err)?;
                if inserted == 1 {
                    let metric = tx.prepare(METRIC).map_err(&err)?;
                    for p in &metrics {
                        tx.execute(&metric, &pg_params(p)).map_err(&err)?;
                    }
                    let label = tx.prepare(LABEL).map_err(&err)?;
                    for p in &labels {
                        tx.execute(&label, &pg_params(p)).map_err(&err)?;
                    }
                }
                tx.commit().map_err(&err)?;
                Ok(inserted == 1)
            }
        }
    }

    /// The runs `filter` picks, oldest first, each with its metrics and labels.
    pub fn runs(&mut self, filter: &Filter) -> Result<Vec<RunRow>, StoreError> {
        let mut params = Vec::new();
        let mut wheres = Vec::new();
        if !filter.scenarios.is_empty() {
            let first = params.len() + 1;
            params.extend(filter.scenarios.iter().cloned().map(Param::Text));
            wheres.push(format!(
                "scenario IN ({})",
                placeholders(first, filter.scenarios.len())
            ));
        }
        if let Some(since) = filter.since_ns {
            params.push(Param::Int(since));
            wheres.push(format!("recorded_ns >= ${}", params.len()));
        }
        if let Some(series) = &filter.series {
            for (column, value) in [
                ("scenario_hash", &series.scenario_hash),
                ("platform", &series.platform),
                ("strategy", &series.strategy),
            ] {
                params.push(Param::Text(value.clone()));
                wheres.push(format!("{column} = ${}", params.len()));
            }
        }
        for (k, v) in &filter.labels {
            params.push(Param::Text(k.clone()));
            params.push(Param::Text(v.clone()));
            wheres.push(format!(
                "EXISTS (SELECT 1 FROM labels l WHERE l.run_id = runs.run_id \
                 AND l.key = ${} AND l.value = ${})",
                params.len() - 1,
                params.len()
            ));
        }
        let picked = if wheres.is_empty() {
            "SELECT run_id FROM runs".to_owned()
        } else {
            format!("SELECT run_id FROM runs WHERE {}", wheres.join(" AND "))
        };
        let runs_sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE run_id IN ({picked}) ORDER BY recorded_ns, run_id"
        );
        let metrics_sql =
            format!("SELECT run_id, metric, value FROM metrics WHERE run_id IN ({picked})");
        let labels_sql =
            format!("SELECT run_id, key, value FROM labels WHERE run_id IN ({picked})");
        let place = self.place.clone();
        let (mut runs, metrics, labels) = match &mut self.db {
            Db::Sqlite(c) => {
                let err = |source| StoreError::Sqlite {
                    place: place.clone(),
                    source,
                };
                let mut stmt = c.prepare(&sqlite_sql(&runs_sql)).map_err(err)?;
                let runs = stmt
                    .query_map(sqlite_params(&params), |r| Ok(run_row!(r?)))
                    .map_err(err)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(err)?;
                let triples = |sql: &str| -> Result<
                    Vec<(String, String, rusqlite::types::Value)>,
                    StoreError,
                > {
                    let mut stmt = c.prepare(&sqlite_sql(sql)).map_err(err)?;
                    let rows = stmt
                        .query_map(sqlite_params(&params), |r| {
                            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                        })
                        .map_err(err)?
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(err)?;
                    Ok(rows)
                };
                let metrics = triples(&metrics_sql)?
                    .into_iter()
                    .filter_map(|(id, m, v)| match v {
                        rusqlite::types::Value::Real(x) => Some((id, m, x)),
                        rusqlite::types::Value::Integer(x) => Some((id, m, x as f64)),
                        _ => None,
                    })
                    .collect::<Vec<_>>();
                let labels = triples(&labels_sql)?
                    .into_iter()
                    .filter_map(|(id, k, v)| match v {
                        rusqlite::types::Value::Text(t) => Some((id, k, t)),
                        _ => None,
                    })
                    .collect::<Vec<_>>();
                (runs, metrics, labels)
            }
            Db::Postgres(c) => {
                let err = Self::pg_err(&place);
                let p = pg_params(&params);
                let runs = c
                    .query(&runs_sql, &p)
                    .map_err(&err)?
                    .into_iter()
                    .map(|r| run_row!(r))
                    .collect::<Vec<_>>();
                let metrics = c
                    .query(&metrics_sql, &p)
                    .map_err(&err)?
                    .into_iter()
                    .map(|r| (r.get(0), r.get(1), r.get(2)))
                    .collect::<Vec<(String, String, f64)>>();
                let labels = c
                    .query(&labels_sql, &p)
                    .map_err(&err)?
                    .into_iter()
                    .map(|r| (r.get(0), r.get(1), r.get(2)))
                    .collect::<Vec<(String, String, String)>>();
                (runs, metrics, labels)
            }
        };
        let index: BTreeMap<String, usize> = runs
            .iter()
            .enumerate()
            .map(|(i, r)| (r.run_id.clone(), i))
            .collect();
        for (id, m, v) in metrics {
            if let Some(&i) = index.get(&id) {
                runs[i].metrics.insert(m, v);
            }
        }
        for (id, k, v) in labels {
            if let Some(&i) = index.get(&id) {
                runs[i].labels.insert(k, v);
            }
        }
        Ok(runs)
    }
}

/// A row of [`RUN_COLUMNS`] as a [`RunRow`], for either client: `run_row!(r?)` with
/// rusqlite's fallible `get`, `run_row!(r)` with postgres's.
macro_rules! run_row {
    ($r:ident $($q:tt)?) => {
        RunRow {
            run_id: $r.get(0)$($q)?,
            scenario: $r.get(1)$($q)?,
            scenario_path: $r.get(2)$($q)?,
            scenario_hash: $r.get(3)$($q)?,
            platform: $r.get(4)$($q)?,
            strategy: $r.get(5)$($q)?,
            case: $r.get(6)$($q)?,
            time_scale: $r.get(7)$($q)?,
            seed: $r.get(8)$($q)?,
            harness_version: $r.get(9)$($q)?,
            started_ns: $r.get(10)$($q)?,
            valid: $r.get::<_, i64>(11)$($q)? != 0,
            invalid_reason: $r.get(12)$($q)?,
            run_dir: $r.get(13)$($q)?,
            recorded_ns: $r.get(14)$($q)?,
            labels: BTreeMap::new(),
            metrics: BTreeMap::new(),
        }
    };
}
use run_row;

/// The `runs` columns a [`RunRow`] reads, in its order.
const RUN_COLUMNS: &str = "run_id, scenario, scenario_path, scenario_hash, platform, \
     strategy, run_case, time_scale, seed, harness_version, started_ns, valid, \
     invalid_reason, run_dir, recorded_ns";

/// `$first, $first+1, ...`, `n` of them.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// PostgreSQL's `$N` as SQLite's `?N` (the statements here hold no `$` but those).
fn sqlite_sql(sql: &str) -> String {
    sql.replace('$', "?")
}

fn sqlite_params(params: &[Param]) -> rusqlite::ParamsFromIter<Vec<rusqlite::types::Value>> {
    use rusqlite::types::Value;
    rusqlite::params_from_iter(
        params
            .iter()
            .map(|p| match p {
                Param::Text(s) => Value::Text(s.clone()),
                Param::Int(i) => Value::Integer(*i),
                Param::Real(x) => Value::Real(*x),
                Param::NullReal | Param::NullInt => Value::Null,
            })
            .collect::<Vec<_>>(),
    )
}

fn pg_params(params: &[Param]) -> Vec<&(dyn postgres::types::ToSql + Sync)> {
    const NULL_REAL: Option<f64> = None;
    const NULL_INT: Option<i64> = None;
    params
        .iter()
        .map(|p| -> &(dyn postgres::types::ToSql + Sync) {
            match p {
                Param::Text(s) => s,
                Param::Int(i) => i,
                Param::Real(x) => x,
                Param::NullReal => &NULL_REAL,
                Param::NullInt => &NULL_INT,
            }
        })
        .collect()
}

pub(crate) fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// A PostgreSQL database made for one use (a test, a trial run) and dropped with this
/// value, on the server `admin_url` names (its role needs `CREATEDB`).
pub struct ScratchDatabase {
    admin_url: String,
    name: String,
    /// The new database's URL.
    pub url: String,
}

impl ScratchDatabase {
    pub fn create(admin_url: &str) -> Result<ScratchDatabase, StoreError> {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let name = format!(
            "uh_scratch_{}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst),
            now_ns() % 1_000_000
        );
        let place = shown(admin_url);
        let mut admin =
            postgres::Client::connect(admin_url, postgres::NoTls).map_err(Store::pg_err(&place))?;
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .map_err(Store::pg_err(&place))?;
        // The URL's path is the database: put the new one in its place.
        let after_scheme = admin_url.find("://").map_or(0, |i| i + 3);
        let (base, query) = match admin_url.find('?') {
            Some(q) => (&admin_url[..q], &admin_url[q..]),
            None => (admin_url, ""),
        };
        let host_end = base[after_scheme..]
            .find('/')
            .map_or(base.len(), |i| after_scheme + i);
        let url = format!("{}/{name}{query}", &base[..host_end]);
        Ok(ScratchDatabase {
            admin_url: admin_url.to_owned(),
            name,
            url,
        })
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        if let Ok(mut admin) = postgres::Client::connect(&self.admin_url, postgres::NoTls) {
            let _ = admin.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}
