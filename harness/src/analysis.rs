//! The analysis that gates an update, as Argo Rollouts' and Flagger's do: while the update
//! runs, every `interval` each threshold of `[analysis]` is evaluated over the last
//! `window` of the run's probes and invocations; a threshold fails only with at least
//! `min_samples` samples in its window, so one early failure does not decide. The first
//! failing evaluation rolls the update back, once. Every evaluation goes into the ledger
//! (`analysis_evaluated`, and `analysis_failed` for the one that decided).
//!
//! The window is `(t - window, t]`: a sample exactly `window` old has left it.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex};

use reports::ledger::Kind;
use reports::threshold::{parse_expression, Op};
use reports::LedgerEvent;

/// What a window threshold measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowMetric {
    /// Failed probes / probes intended in the window.
    ProbesFailedRate,
    /// The probes' p99 latency in the window, ms (from their intended time).
    ProbesLatencyP99Ms,
    /// Failed invocations / invocations that answered in the window (ok or failed). A run
    /// the update itself killed says nothing about the release, so it is not counted.
    InvocationsFailedRate,
    /// Occurrences no instance could run, in the window.
    OccurrencesMissed,
}

impl WindowMetric {
    const ALL: [WindowMetric; 4] = [
        WindowMetric::ProbesFailedRate,
        WindowMetric::ProbesLatencyP99Ms,
        WindowMetric::InvocationsFailedRate,
        WindowMetric::OccurrencesMissed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            WindowMetric::ProbesFailedRate => "probes.failed_rate",
            WindowMetric::ProbesLatencyP99Ms => "probes.latency_p99_ms",
            WindowMetric::InvocationsFailedRate => "invocations.failed_rate",
            WindowMetric::OccurrencesMissed => "occurrences.missed",
        }
    }
}

/// One parsed `[analysis]` threshold.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WindowThreshold {
    pub metric: WindowMetric,
    pub op: Op,
    pub limit: f64,
}

impl fmt::Display for WindowThreshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {}",
            self.metric.name(),
            self.op.as_str(),
            self.limit
        )
    }
}

impl WindowThreshold {
    /// Parses `METRIC OP NUMBER` in the grammar of the run's thresholds.
    pub fn parse(text: &str) -> Result<WindowThreshold, String> {
        let e = parse_expression(text).map_err(|e| e.to_string())?;
        let metric = WindowMetric::ALL
            .into_iter()
            .find(|m| m.name() == e.name)
            .ok_or_else(|| {
                let names: Vec<&str> = WindowMetric::ALL.iter().map(|m| m.name()).collect();
                format!(
                    "unknown window metric {:?} at byte {} of {text:?} (one of {})",
                    e.name,
                    e.name_at,
                    names.join(", ")
                )
            })?;
        Ok(WindowThreshold {
            metric,
            op: e.op,
            limit: e.limit,
        })
    }
}

/// One probe as the analysis sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProbeSample {
    pub intended_ns: i64,
    pub ok: bool,
    /// From the intended time to the answer (or the failure).
    pub latency_ms: f64,
}

/// The probes so far, shared between the probe client (which pushes each as it ends) and
/// the analysis (which drops those older than its window).
#[derive(Clone, Debug, Default)]
pub struct LiveProbes(Arc<Mutex<VecDeque<ProbeSample>>>);

impl LiveProbes {
    pub fn push(&self, p: ProbeSample) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back(p);
    }

    /// The probes intended after `from_ns`, dropping the older ones: nothing older will be
    /// asked for again, so memory stays bounded by the window.
    pub fn since(&self, from_ns: i64) -> Vec<ProbeSample> {
        let mut q = self.0.lock().unwrap_or_else(|e| e.into_inner());
        // Probes end out of order: keep a little history rather than drop one still inside.
        while q
            .front()
            .is_some_and(|p| p.intended_ns <= from_ns - 60_000_000_000)
        {
            q.pop_front();
        }
        q.iter()
            .filter(|p| p.intended_ns > from_ns)
            .copied()
            .collect()
    }
}

/// One threshold's result at one evaluation.
#[derive(Clone, Debug, PartialEq)]
pub struct Judged {
    pub threshold: WindowThreshold,
    /// `None` when the window has no sample of it.
    pub value: Option<f64>,
    pub samples: u64,
    /// `None`: too few samples to decide.
    pub ok: Option<bool>,
}

/// Evaluates every threshold over `(t_ns - window_ns, t_ns]`.
pub fn evaluate(
    thresholds: &[WindowThreshold],
    t_ns: i64,
    window_ns: i64,
    min_samples: u64,
    probes: &[ProbeSample],
    ledger: &[LedgerEvent],
) -> Vec<Judged> {
    let inside = |t: i64| t > t_ns - window_ns && t <= t_ns;
    let window_probes: Vec<&ProbeSample> =
        probes.iter().filter(|p| inside(p.intended_ns)).collect();
    let ended: Vec<&LedgerEvent> = ledger
        .iter()
        .filter(|e| inside(e.t_ns))
        .filter(|e| matches!(e.event, Kind::InvocationOk | Kind::InvocationFailed))
        .collect();
    let missed = ledger
        .iter()
        .filter(|e| inside(e.t_ns) && e.event == Kind::OccurrenceMissed)
        .count() as u64;
    thresholds
        .iter()
        .map(|t| {
            let (value, samples) = match t.metric {
                WindowMetric::ProbesFailedRate => {
                    let n = window_probes.len() as u64;
                    let failed = window_probes.iter().filter(|p| !p.ok).count() as f64;
                    ((n > 0).then(|| failed / n as f64), n)
                }
                WindowMetric::ProbesLatencyP99Ms => {
                    let mut ms: Vec<f64> = window_probes.iter().map(|p| p.latency_ms).collect();
                    ms.sort_by(f64::total_cmp);
                    let p99 = (!ms.is_empty())
                        .then(|| ms[((ms.len() as f64 * 0.99).ceil() as usize).max(1) - 1]);
                    (p99, ms.len() as u64)
                }
                WindowMetric::InvocationsFailedRate => {
                    let n = ended.len() as u64;
                    let bad = ended
                        .iter()
                        .filter(|e| e.event != Kind::InvocationOk)
                        .count() as f64;
                    ((n > 0).then(|| bad / n as f64), n)
                }
                WindowMetric::OccurrencesMissed => {
                    // Every occurrence that fired or could not counts as a sample.
                    let fired = ledger
                        .iter()
                        .filter(|e| inside(e.t_ns) && e.event == Kind::InvocationBegun)
                        .count() as u64;
                    (Some(missed as f64), fired + missed)
                }
            };
            let ok = (samples >= min_samples).then(|| value.is_none_or(|v| t.op.holds(v, t.limit)));
            Judged {
                threshold: *t,
                value,
                samples,
                ok,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    fn probe(t_s: f64, ok: bool) -> ProbeSample {
        ProbeSample {
            intended_ns: (t_s * S as f64) as i64,
            ok,
            latency_ms: if ok { 1.0 } else { 1000.0 },
        }
    }

    fn ended(t_s: i64, kind: Kind) -> LedgerEvent {
        LedgerEvent::new(t_s * S, kind, "b-0", "B", "production")
    }

    #[test]
    fn thresholds_parse_in_the_runs_grammar_and_name_what_is_wrong() {
        let t = WindowThreshold::parse("probes.failed_rate < 0.05").unwrap();
        assert_eq!(
            (t.metric, t.op, t.limit),
            (WindowMetric::ProbesFailedRate, Op::Lt, 0.05)
        );
        assert_eq!(t.to_string(), "probes.failed_rate < 0.05");
        let e = WindowThreshold::parse("lost < 1").unwrap_err();
        assert!(
            e.contains("unknown window metric \"lost\"") && e.contains("invocations.failed_rate"),
            "{e}"
        );
        assert!(WindowThreshold::parse("probes.failed_rate <").is_err());
    }

    #[test]
    fn the_window_is_half_open_and_needs_its_samples() {
        let t = [WindowThreshold::parse("probes.failed_rate < 0.5").unwrap()];
        // Failures at 0 s and 1 s, successes at 1.5 s and 10 s.
        let probes = [
            probe(0.0, false),
            probe(1.0, false),
            probe(1.5, true),
            probe(10.0, true),
        ];
        // (0, 10]: the failure at 0 s has left; 1 of 3 failed.
        let at_10 = evaluate(&t, 10 * S, 10 * S, 1, &probes, &[]);
        assert_eq!(at_10[0].samples, 3);
        assert_eq!(at_10[0].value, Some(1.0 / 3.0));
        assert_eq!(at_10[0].ok, Some(true));
        // (-9, 1]: both failures and no success: it fails.
        let at_1 = evaluate(&t, S, 10 * S, 1, &probes, &[]);
        assert_eq!((at_1[0].samples, at_1[0].ok), (2, Some(false)));
        // With a minimum of 3 samples, the same window cannot fail yet.
        let early = evaluate(&t, S, 10 * S, 3, &probes, &[]);
        assert_eq!(early[0].ok, None, "too few samples to decide");
        // An empty window decides nothing.
        let empty = evaluate(&t, 100 * S, 10 * S, 0, &probes, &[]);
        assert_eq!((empty[0].value, empty[0].samples), (None, 0));
    }

    #[test]
    fn invocation_failures_and_missed_occurrences_are_counted_from_the_ledger() {
        let t = [
            WindowThreshold::parse("invocations.failed_rate <= 0.25").unwrap(),
            WindowThreshold::parse("occurrences.missed == 0").unwrap(),
        ];
        let ledger = vec![
            ended(1, Kind::InvocationBegun),
            ended(2, Kind::InvocationOk),
            ended(3, Kind::InvocationFailed),
            ended(4, Kind::InvocationKilled),
            ended(5, Kind::InvocationOk),
            ended(6, Kind::OccurrenceMissed),
        ];
        let j = evaluate(&t, 6 * S, 10 * S, 2, &[], &ledger);
        assert_eq!(
            j[0].value,
            Some(1.0 / 3.0),
            "1 of the 3 that answered failed; the killed one is the update's doing"
        );
        assert_eq!(j[0].ok, Some(false));
        assert_eq!((j[1].value, j[1].samples), (Some(1.0), 2));
        assert_eq!(j[1].ok, Some(false));
    }

    #[test]
    fn live_probes_keep_only_what_a_window_can_still_ask_for() {
        let live = LiveProbes::default();
        for i in 0..200 {
            live.push(probe(f64::from(i), true));
        }
        let recent = live.since(150 * S);
        assert_eq!(recent.len(), 49, "151..=199");
        let kept = live.0.lock().unwrap().len();
        assert!(
            kept <= 110,
            "older than a minute before the window is dropped: {kept}"
        );
    }
}
