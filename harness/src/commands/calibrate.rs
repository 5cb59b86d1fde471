//! `harness calibrate RUN_DIR...`: the virtual-time platform's model of the machine
//! (`platform::sim::Model`), fitted to what real runs measured, as a profile a scenario can
//! name (`[platform] profile = "profile.toml"`).
//!
//! Each modelled time is read from a run directory of any platform, where its two ends were
//! stamped:
//! - `process_start`: the host's `instance_started` (the launch, `ledger.csv`) to its
//!   `instance_ready` (the instance answered `/health`), less the cold start the run's
//!   `scenario.toml` gave it: the whole of a start's cost that is not the app's own wait
//!   (exec, the loader, the runtime, binding, the first answer);
//! - `net_latency`: an app's lifecycle event stamped by the app (`t_ns`) to its arrival at
//!   the sink (`recv_ns`), one way;
//! - `process_exit`: the app's `exiting` event to the host seeing it exit
//!   (`instance_stopped`).
//!
//! A command platform's runs have no host ledger: they give the network's latency only.
//! Each time is fitted as a log-normal (the median, and the standard deviation of the
//! logarithms), or fixed when every sample is the same; a time with no sample keeps the
//! default, and the profile says so.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use reports::ledger::Kind;

use super::{EXIT_OK, EXIT_USAGE};
use crate::dist::Dist;
use crate::duration::Span;
use crate::platform::sim::model::{Measured, Model};

/// The samples of each modelled time, in ns.
#[derive(Debug, Default)]
pub struct Samples {
    pub process_start: Vec<u64>,
    pub net_latency: Vec<u64>,
    pub process_exit: Vec<u64>,
    /// Per instance id: its start and its exit, where measured (`--replay`).
    pub by_instance: BTreeMap<String, (Option<u64>, Option<u64>)>,
}

pub fn run(dirs: &[PathBuf], replay: bool) -> u8 {
    if replay && dirs.len() != 1 {
        errln!("harness calibrate: --replay replays one run: give one run directory");
        return EXIT_USAGE;
    }
    let mut samples = Samples::default();
    for dir in dirs {
        if let Err(e) = read(dir, &mut samples) {
            errln!("harness calibrate: {}: {e}", dir.display());
            return EXIT_USAGE;
        }
    }
    let model = if replay {
        fit_replay(&samples)
    } else {
        fit(&samples)
    };
    let text = match toml::to_string(&model) {
        Ok(t) => t,
        Err(e) => {
            errln!("harness calibrate: writing the profile: {e}");
            return EXIT_USAGE;
        }
    };
    outln!("# The virtual-time platform's model, fitted by `harness calibrate` to");
    for dir in dirs {
        outln!("#   {}", dir.display());
    }
    let said = |name: &str, n: usize| {
        if n == 0 {
            format!("# {name}: no sample; the default is kept")
        } else {
            format!("# {name}: {n} samples")
        }
    };
    outln!("{}", said("process_start", samples.process_start.len()));
    outln!("{}", said("net_latency", samples.net_latency.len()));
    outln!("{}", said("process_exit", samples.process_exit.len()));
    outln!("# Name this file in a scenario: [platform] profile = \"FILE\".");
    out!("{text}");
    EXIT_OK
}

/// Adds a run directory's samples.
pub fn read(dir: &Path, into: &mut Samples) -> Result<(), String> {
    let run = reports::RunDir::new(dir);
    let ledger = match run.read_ledger() {
        Ok(l) => l,
        // A command platform's run keeps its commands' ledger; an older one none.
        Err(_) if !dir.join("ledger.csv").exists() => Vec::new(),
        Err(e) => return Err(e.to_string()),
    };
    let events = read_events(&dir.join(sink::EVENTS_FILE))?;
    if ledger.is_empty() && events.is_empty() {
        return Err("neither ledger.csv nor events.csv: not a run directory".into());
    }
    // The cold start each instance waited on purpose, as the run scaled it.
    let cold_start_ns = match crate::scenario::Scenario::load(&dir.join("scenario.toml")) {
        Ok(s) => s.app.cold_start.scaled(s.time_scale).as_nanos() as i64,
        Err(_) if ledger.is_empty() => 0,
        Err(e) => return Err(format!("reading the scenario as run: {e}")),
    };
    let positive = |d: i64| u64::try_from(d).ok().filter(|d| *d > 0);
    let mut launched: BTreeMap<&str, i64> = BTreeMap::new();
    let mut exited: BTreeMap<&str, i64> = BTreeMap::new();
    let mut by_instance: BTreeMap<&str, (Option<u64>, Option<u64>)> = BTreeMap::new();
    for e in &ledger {
        match e.event {
            Kind::InstanceStarted => {
                launched.entry(e.instance.as_str()).or_insert(e.t_ns);
            }
            Kind::InstanceReady => {
                if let Some(launch) = launched.get(e.instance.as_str()) {
                    let start = positive(e.t_ns - launch - cold_start_ns);
                    into.process_start.extend(start);
                    by_instance.entry(e.instance.as_str()).or_default().0 = start;
                }
            }
            Kind::InstanceStopped => {
                exited.entry(e.instance.as_str()).or_insert(e.t_ns);
            }
            _ => {}
        }
    }
    for e in &events {
        into.net_latency.extend(positive(e.recv_ns - e.t_ns));
        if e.event != sink::events::names::EXITING {
            continue;
        }
        if let Some(gone) = exited.get(e.instance.as_str()) {
            into.process_exit.extend(positive(gone - e.t_ns));
            by_instance.entry(e.instance.as_str()).or_default().1 = positive(gone - e.t_ns);
        }
    }
    into.by_instance
        .extend(by_instance.into_iter().map(|(i, t)| (i.to_owned(), t)));
    Ok(())
}

/// The model that replays one run's machine: each instance's start and exit as that run
/// measured them, by instance id, and the rest fitted as [`fit`] does.
pub fn fit_replay(samples: &Samples) -> Model {
    let span = |ns: Option<u64>| ns.map(|ns| Span(std::time::Duration::from_nanos(ns)));
    Model {
        instances: samples
            .by_instance
            .iter()
            .map(|(id, (start, exit))| {
                let measured = Measured {
                    start: span(*start),
                    exit: span(*exit),
                };
                (id.clone(), measured)
            })
            .collect(),
        ..fit(samples)
    }
}

/// One row of `events.csv`, as stamped at both ends.
struct AppEvent {
    recv_ns: i64,
    t_ns: i64,
    event: String,
    instance: String,
}

fn read_events(path: &Path) -> Result<Vec<AppEvent>, String> {
    let mut reader = match csv::Reader::from_path(path) {
        Ok(r) => r,
        Err(_) if !path.exists() => return Ok(Vec::new()),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let headers = reader.headers().map_err(|e| e.to_string())?.clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| format!("{}: no column {name}", path.display()))
    };
    let (recv, t, event, instance) = (
        column("recv_ns")?,
        column("t_ns")?,
        column("event")?,
        column("instance")?,
    );
    let mut events = Vec::new();
    for row in reader.records() {
        let row = row.map_err(|e| format!("{}: {e}", path.display()))?;
        let number = |c: usize| row.get(c).and_then(|v| v.parse::<i64>().ok());
        // An event the app did not stamp (the sink's own) has no t_ns: no sample in it.
        let (Some(recv_ns), Some(t_ns)) = (number(recv), number(t)) else {
            continue;
        };
        events.push(AppEvent {
            recv_ns,
            t_ns,
            event: row.get(event).unwrap_or("").to_owned(),
            instance: row.get(instance).unwrap_or("").to_owned(),
        });
    }
    Ok(events)
}

/// The model the samples give; a time without samples keeps the default.
pub fn fit(samples: &Samples) -> Model {
    let default = Model::default();
    Model {
        process_start: fit_one(&samples.process_start).unwrap_or(default.process_start),
        net_latency: fit_one(&samples.net_latency).unwrap_or(default.net_latency),
        process_exit: fit_one(&samples.process_exit).unwrap_or(default.process_exit),
        instances: Default::default(),
    }
}

/// A log-normal with the samples' median and the standard deviation of their logarithms
/// (fixed when that is 0), rounded to the microsecond so a profile reads plainly.
fn fit_one(samples: &[u64]) -> Option<Dist> {
    let mut sorted: Vec<u64> = samples.iter().copied().filter(|s| *s > 0).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_unstable();
    let n = sorted.len();
    let median = if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2
    };
    let median = (median / 1_000).max(1) * 1_000;
    let logs: Vec<f64> = sorted.iter().map(|s| (*s as f64).ln()).collect();
    let mean = logs.iter().sum::<f64>() / n as f64;
    let var = logs.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / n as f64;
    let sigma = (var.sqrt() * 1_000.0).round() / 1_000.0;
    Some(if sigma == 0.0 {
        Dist::Fixed(median)
    } else {
        Dist::Lognormal { median, sigma }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fit_is_the_median_and_the_spread_of_the_logarithms() {
        // e^-1, 1, e^1 (in ms): the logarithms' mean is ln(1 ms) and their deviation
        // sqrt(2/3).
        let ms = |x: f64| (x * 1e6) as u64;
        let d = fit_one(&[ms((-1f64).exp()), ms(1.0), ms(1f64.exp())]).unwrap();
        match d {
            Dist::Lognormal { median, sigma } => {
                assert_eq!(median, 1_000_000);
                assert!((sigma - (2.0f64 / 3.0).sqrt()).abs() < 0.002, "{sigma}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            fit_one(&[5_000_000, 5_000_000]),
            Some(Dist::Fixed(5_000_000))
        );
        assert_eq!(fit_one(&[]), None);
    }
}
