//! One run as the store holds it, read from its run directory: `summary.json` (the
//! identity, the validity and every metric of [`reports::metric::Metric`]) and
//! `scenario.toml` (the scenario as run, whose hash names what was run).

use std::collections::BTreeMap;
use std::path::Path;

use reports::metric::Metric;

/// A run's row, its labels and its metrics.
#[derive(Clone, Debug, PartialEq)]
pub struct RunRow {
    /// Unique to the run: its start and its directory.
    pub run_id: String,
    /// The scenario's name.
    pub scenario: String,
    /// The scenario file as given.
    pub scenario_path: String,
    /// [`scenario_hash`] of the scenario as run.
    pub scenario_hash: String,
    pub platform: String,
    pub strategy: String,
    /// The case the scenario measures (`healthy`, or its bad release).
    pub case: String,
    pub time_scale: Option<f64>,
    pub seed: Option<i64>,
    pub harness_version: String,
    /// When the run started, by its own clock (a virtual-time run's is virtual: all its runs
    /// start at the same instant).
    pub started_ns: i64,
    /// When it was recorded, by the machine's clock, at the end of its command: the history's
    /// order and the basis of `--since`, the same for every platform.
    pub recorded_ns: i64,
    /// Valid and measured: a run that may be pooled.
    pub valid: bool,
    /// Why not, when not.
    pub invalid_reason: String,
    pub run_dir: String,
    pub labels: BTreeMap<String, String>,
    /// By [`Metric::name`]; a metric the run did not measure is absent.
    pub metrics: BTreeMap<String, f64>,
}

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("{0}: no summary.json (the run wrote none)")]
    NoSummary(String),
    #[error("{0}")]
    RunDir(#[from] reports::RunDirError),
    #[error("{0}: summary.json says no start time")]
    NoStart(String),
}

/// FNV-1a, 64 bits: a stable hash with no dependency, as the image tags use.
pub fn fnv64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// What was run, as a hash: the scenario as run (`scenario.toml`), read as TOML and written
/// back in its canonical form (keys sorted), without its `seed`, so that the repetitions of
/// a comparison (seed, seed + 1, ...) are runs of one scenario, and without how it is
/// judged (`[expect]`, `[[budget]]`), so that a new threshold or budget judges the same
/// series. A change of any other key is another series. 16 hex digits.
pub fn scenario_hash(scenario_toml: &str) -> String {
    let canonical = match toml::from_str::<toml::Table>(scenario_toml) {
        Ok(mut table) => {
            for judged in ["seed", "expect", "budget"] {
                table.remove(judged);
            }
            toml::to_string(&table).unwrap_or_else(|_| scenario_toml.to_owned())
        }
        Err(_) => scenario_toml.to_owned(),
    };
    format!("{:016x}", fnv64(canonical.as_bytes()))
}

impl RunRow {
    /// The run in `dir`, with `labels`.
    pub fn from_run_dir(
        dir: &Path,
        labels: &BTreeMap<String, String>,
    ) -> Result<RunRow, RecordError> {
        let shown = dir.display().to_string();
        let summary = reports::RunDir::new(dir)
            .read_summary()?
            .ok_or_else(|| RecordError::NoSummary(shown.clone()))?;
        let scenario_toml = std::fs::read_to_string(dir.join("scenario.toml")).unwrap_or_default();
        let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
        let run = &summary.run;
        let started_ns = run.started_ns.ok_or(RecordError::NoStart(shown))?;
        let metrics = Metric::ALL
            .iter()
            .filter_map(|m| {
                let v = m.value(&summary.verdict, run.update_duration_ms)?;
                v.is_finite().then(|| (m.name().to_owned(), v))
            })
            // The scoped measures it was judged by, under their names (`lost{phase=update}`).
            .chain(
                summary
                    .verdict
                    .scoped
                    .iter()
                    .filter(|(_, v)| v.is_finite())
                    .map(|(k, v)| (k.clone(), *v)),
            )
            .collect();
        let scenario_path = run.scenario.clone().unwrap_or_default();
        let scenario = run.name.clone().unwrap_or_else(|| {
            Path::new(&scenario_path)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
        let valid = summary.invalid.is_empty() && !run.unmeasured;
        let mut invalid_reason = summary.invalid.join("; ");
        if run.unmeasured && invalid_reason.is_empty() {
            invalid_reason = "it measured nothing".into();
        }
        Ok(RunRow {
            run_id: format!(
                "{started_ns:x}-{:08x}",
                fnv64(absolute.to_string_lossy().as_bytes()) as u32
            ),
            scenario,
            scenario_path,
            scenario_hash: scenario_hash(&scenario_toml),
            platform: run.platform.clone().unwrap_or_else(|| "local".into()),
            strategy: run.strategy.clone().unwrap_or_default(),
            case: run.case.clone().unwrap_or_default(),
            time_scale: run.time_scale,
            seed: run.seed.and_then(|s| i64::try_from(s).ok()),
            harness_version: run.harness_version.clone(),
            started_ns,
            recorded_ns: crate::store::now_ns(),
            valid,
            invalid_reason,
            run_dir: absolute.display().to_string(),
            labels: labels.clone(),
            metrics,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_ignores_the_seed_and_the_keys_order_but_not_a_value() {
        let a = "name = \"x\"\nseed = 1\n[run]\nupdate_at = \"60s\"\nduration = \"90s\"\n";
        let reordered = "seed = 2\nname = \"x\"\n[run]\nduration = \"90s\"\nupdate_at = \"60s\"\n";
        let changed = "name = \"x\"\nseed = 1\n[run]\nupdate_at = \"61s\"\nduration = \"90s\"\n";
        let judged =
            format!("{a}[expect]\nthresholds = [\"lost == 0\"]\n[[budget]]\nmetric = \"lost\"\n");
        assert_eq!(scenario_hash(a), scenario_hash(reordered));
        assert_eq!(scenario_hash(a), scenario_hash(&judged));
        assert_ne!(scenario_hash(a), scenario_hash(changed));
        assert_eq!(scenario_hash(a).len(), 16);
    }

    #[test]
    fn fnv64_is_the_published_function() {
        // The FNV-1a 64 test vectors (Fowler, Noll, Vo: "a" and "foobar").
        assert_eq!(fnv64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv64(b"foobar"), 0x8594_4171_f739_67e8);
    }
}
