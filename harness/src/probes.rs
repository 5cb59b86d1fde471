//! Open-loop availability probes through the front door.
//!
//! Probe `i` is intended for `start + i / rate`, whatever happened to probe `i - 1`: a slow
//! answer never delays the next probe, and a late send keeps its intended time, so latency
//! and downtime measured from `intended_ns` are free of coordinated omission (wrk2). The
//! client's own lag (`sent_ns - intended_ns`) is recorded too, to show the harness measured
//! properly.

use std::sync::Arc;
use std::time::Duration;

use reports::Probe;
use sink::clock::Clock;
use tokio::sync::{mpsc, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

#[derive(Clone, Debug)]
pub struct ProbeConfig {
    /// Full URL probed, e.g. `http://127.0.0.1:4100/api/ping`.
    pub url: String,
    pub rate_per_s: u32,
    pub timeout: Duration,
}

/// Sends probes from `start` (whose wall-clock time is `start_ns`) until `stop`, and returns
/// them all once the last has answered or timed out.
pub async fn run(
    config: ProbeConfig,
    clock: Arc<dyn Clock>,
    start: Instant,
    start_ns: i64,
    stop: CancellationToken,
) -> Vec<Probe> {
    let client = reqwest::Client::builder()
        .timeout(config.timeout)
        .pool_max_idle_per_host(256)
        .build()
        .expect("a client with a timeout builds");
    let interval = Duration::from_nanos(1_000_000_000 / u64::from(config.rate_per_s.max(1)));
    // A bound on probes in flight: every probe ends within its timeout, so twice the probes
    // of one timeout is only reached when the client itself is starved.
    let in_flight_limit =
        (config.timeout.as_secs_f64() * f64::from(config.rate_per_s) * 2.0) as usize + 64;
    let permits = Arc::new(Semaphore::new(in_flight_limit));
    let (tx, mut rx) = mpsc::channel::<Probe>(4096);
    let collector = tokio::spawn(async move {
        let mut probes = Vec::new();
        while let Some(p) = rx.recv().await {
            probes.push(p);
        }
        probes
    });
    // The schedule runs on its own OS thread: tokio's timer wheel has 1 ms granularity,
    // while the thread's nanosleep wakes within tens of microseconds of the intended time.
    let runtime = tokio::runtime::Handle::current();
    let start = start.into_std();
    let scheduler = std::thread::Builder::new()
        .name("probe-scheduler".into())
        .spawn(move || {
            for i in 0u64.. {
                let due = start + interval * i as u32;
                loop {
                    let now = std::time::Instant::now();
                    if now >= due || stop.is_cancelled() {
                        break;
                    }
                    // Sleep in slices so a stop is noticed promptly.
                    std::thread::sleep((due - now).min(Duration::from_millis(20)));
                }
                if stop.is_cancelled() {
                    break;
                }
                let intended_ns = start_ns + (interval.as_nanos() as i64) * i as i64;
                let (client, url, clock, tx) = (
                    client.clone(),
                    config.url.clone(),
                    clock.clone(),
                    tx.clone(),
                );
                let Ok(permit) = permits.clone().try_acquire_owned() else {
                    // The client cannot keep up: say so rather than skip the probe silently.
                    let now_ns = clock.now_ns() as i64;
                    runtime.spawn(async move {
                        let probe = Probe {
                            error: Some("saturated".into()),
                            ..Probe::new(intended_ns, now_ns, false)
                        };
                        let _ = tx.send(probe).await;
                    });
                    continue;
                };
                runtime.spawn(async move {
                    let sent_ns = clock.now_ns() as i64;
                    let result = client.get(&url).send().await;
                    let probe = match result {
                        Ok(resp) => {
                            let status = resp.status();
                            let body: serde_json::Value = resp.json().await.unwrap_or_default();
                            let text =
                                |k: &str| body.get(k).and_then(|v| v.as_str()).map(str::to_owned);
                            Probe {
                                intended_ns,
                                sent_ns: Some(sent_ns),
                                done_ns: clock.now_ns() as i64,
                                ok: status.is_success(),
                                status: Some(status.as_u16()),
                                instance: text("instance"),
                                version: text("version"),
                                error: None,
                            }
                        }
                        Err(e) => Probe {
                            sent_ns: Some(sent_ns),
                            error: Some(
                                if e.is_timeout() {
                                    "timeout"
                                } else if e.is_connect() {
                                    "connect"
                                } else {
                                    "io"
                                }
                                .into(),
                            ),
                            ..Probe::new(intended_ns, clock.now_ns() as i64, false)
                        },
                    };
                    let _ = tx.send(probe).await;
                    drop(permit);
                });
            }
        })
        .expect("spawning the probe scheduler thread");
    // The scheduler thread owned the last sender but one; the spawned probes hold the rest.
    let _ = tokio::task::spawn_blocking(move || scheduler.join()).await;
    let mut probes = collector.await.unwrap_or_default();
    probes.sort_by_key(|p| p.intended_ns);
    probes
}

/// Quantiles of the probe client's send lag (`sent_ns - intended_ns`), in ms.
pub fn send_lag_ms(probes: &[Probe]) -> Option<reports::verdict::Quantiles> {
    let mut lags: Vec<i64> = probes
        .iter()
        .filter_map(|p| p.sent_ns.map(|s| (s - p.intended_ns).max(0)))
        .collect();
    if lags.is_empty() {
        return None;
    }
    lags.sort_unstable();
    // Nearest rank: the smallest lag with at least q of the probes at or below it.
    let at = |q: f64| {
        let rank = ((lags.len() as f64 * q).ceil() as usize).clamp(1, lags.len());
        lags[rank - 1] as f64 / 1e6
    };
    Some(reports::verdict::Quantiles {
        p50: at(0.5),
        p90: at(0.9),
        p99: at(0.99),
        max: at(1.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_lag_quantiles_by_nearest_rank() {
        let probes: Vec<Probe> = (1..=100)
            .map(|i| Probe {
                sent_ns: Some(i * 10 + i * 1_000_000),
                ..Probe::new(i * 10, 0, true)
            })
            .collect();
        let q = send_lag_ms(&probes).unwrap();
        assert_eq!((q.p50, q.p90, q.p99, q.max), (50.0, 90.0, 99.0, 100.0));
        assert_eq!(send_lag_ms(&[Probe::new(1, 2, false)]), None);
    }
}
