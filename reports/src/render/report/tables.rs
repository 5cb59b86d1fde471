//! Every table of one run's report, in order, built from its history as plain data: the run,
//! the verdict, thresholds, causes, lateness, downtime, faults, what the probes could
//! resolve, instances, phases, the update's own tables (update.rs), the scenario and items.

use super::table::{ms, row, Table};
use crate::analysis::history::History;

/// Every table of the report, in order.
pub fn tables(h: &History) -> Vec<Table> {
    let v = &h.verdict;
    let mut out = Vec::new();
    if let Some(run) = &h.run {
        let mut rows = vec![
            row(["scenario".into(), run.scenario.clone().unwrap_or_default()]),
            row(["strategy".into(), run.strategy.clone().unwrap_or_default()]),
            row([
                "seed".into(),
                run.seed.map(|s| s.to_string()).unwrap_or_default(),
            ]),
            row([
                "time scale".into(),
                run.time_scale.map(|s| s.to_string()).unwrap_or_default(),
            ]),
            row(["harness version".into(), run.harness_version.clone()]),
        ];
        if let Some(app) = &run.app_command {
            rows.push(row(["app command".into(), app.clone()]));
        }
        if let Some(phase) = &run.failed_phase {
            rows.push(row(["failed in phase".into(), phase.clone()]));
        }
        if let Some(platform) = &run.platform {
            rows.push(row(["platform".into(), platform.clone()]));
        }
        if let Some(driver) = &run.driver {
            rows.push(row(["driver".into(), driver.clone()]));
        }
        if let Some(command) = run.update_command_ms {
            rows.push(row([
                "update command returned after (ms)".into(),
                ms(command),
            ]));
            if let Some(done) = run.update_complete_ms {
                rows.push(row([
                    "update complete (status) after (ms)".into(),
                    ms(done),
                ]));
            }
        }
        if let Some(lag) = run.probe_send_lag_ms {
            rows.push(row([
                "probe send lag p99 (ms)".into(),
                format!("{:.2}", lag.p99),
            ]));
        }
        for note in &run.notes {
            rows.push(row(["note".into(), note.clone()]));
        }
        out.push(Table {
            title: "Run".into(),
            header: vec!["field".into(), "value".into()],
            rows,
        });
    }
    let count =
        |name: &str, n: u64, meaning: &str| row([name.into(), n.to_string(), meaning.into()]);
    out.push(Table {
        title: "Verdict".into(),
        header: vec!["items".into(), "count".into(), "meaning".into()],
        rows: vec![
            count(
                "expected",
                v.expected,
                "whole loops inside the measured span",
            ),
            count("delivered", v.delivered, "arrived at least once"),
            count("lost", v.lost, "never arrived"),
            count("duplicated", v.duplicated, "arrived more than once"),
            count("extra copies", v.extra_copies, "arrivals beyond the first"),
            count(
                "late",
                v.late,
                &format!(
                    "first arrival more than {} ms after schedule",
                    v.late_after_ms
                ),
            ),
            count("ok", v.ok, "once and on time"),
            count(
                "unexpected",
                v.unexpected,
                "rows outside the expected window",
            ),
            count(
                "recovered",
                v.causes.recovered,
                "delivered although a run failed or was killed",
            ),
        ],
    });
    if let Some(summary) = &h.summary_extras {
        if !summary.thresholds.is_empty() {
            out.push(Table {
                title: "Thresholds".into(),
                header: vec!["threshold".into(), "measured".into(), "outcome".into()],
                rows: summary
                    .thresholds
                    .iter()
                    .map(|t| {
                        row([
                            t.threshold.clone(),
                            t.value
                                .map_or("not measured".into(), crate::model::metric::number),
                            if t.ok { "ok".into() } else { "FAILED".into() },
                        ])
                    })
                    .collect(),
            });
        }
        if !summary.budgets.is_empty() {
            let opt = |x: Option<f64>| x.map_or("-".into(), crate::model::metric::number);
            out.push(Table {
                title: "Budgets from history".into(),
                header: [
                    "budget",
                    "runs",
                    "reference",
                    "limit",
                    "measured",
                    "outcome",
                ]
                .map(String::from)
                .to_vec(),
                rows: summary
                    .budgets
                    .iter()
                    .map(|b| {
                        row([
                            b.budget.clone(),
                            format!("{} of {}", b.runs, b.min_runs),
                            opt(b.reference),
                            opt(b.limit),
                            opt(b.value),
                            match b.state {
                                crate::model::budget::BudgetState::Pass => "ok".into(),
                                crate::model::budget::BudgetState::Fail => "FAILED".into(),
                                crate::model::budget::BudgetState::Skipped => {
                                    "not evaluated".into()
                                }
                            },
                        ])
                    })
                    .collect(),
            });
        }
        for why in &summary.invalid {
            out.push(Table {
                title: "Invalid run".into(),
                header: vec!["why".into()],
                rows: vec![vec![why.clone()]],
            });
        }
    }
    let mut causes = Vec::new();
    for (name, n) in v.causes.lost.entries() {
        if n > 0 {
            causes.push(row(["lost".into(), name.into(), n.to_string()]));
        }
    }
    for (name, n) in v.causes.duplicated.entries() {
        if n > 0 {
            causes.push(row(["duplicated".into(), name.into(), n.to_string()]));
        }
    }
    let u = &v.causes.unexpected;
    for (name, n) in [
        ("unknown_source", u.unknown_source),
        ("outside_window", u.outside_window),
        ("past_loop", u.past_loop),
    ] {
        if n > 0 {
            causes.push(row(["unexpected".into(), name.into(), n.to_string()]));
        }
    }
    if causes.is_empty() {
        causes.push(row([
            "-".into(),
            "nothing lost, duplicated or unexpected".into(),
            "0".into(),
        ]));
    }
    out.push(Table {
        title: "Causes".into(),
        header: vec!["kind".into(), "cause".into(), "items".into()],
        rows: causes,
    });
    out.push(Table {
        title: "Lateness (ms)".into(),
        header: vec!["p50".into(), "p90".into(), "p99".into(), "max".into()],
        rows: vec![match &v.lateness_ms {
            Some(q) => row([ms(q.p50), ms(q.p90), ms(q.p99), ms(q.max)]),
            None => row(["-".into(), "-".into(), "-".into(), "-".into()]),
        }],
    });
    let d = &v.downtime;
    let gap = v.gap_max_ms.map(ms).unwrap_or_else(|| "-".into());
    let downtime_row = |series: &str, d: &crate::model::verdict::Downtime, gap: String| {
        row([
            series.into(),
            d.windows.to_string(),
            ms(d.total_ms),
            ms(d.max_ms),
            d.probes.to_string(),
            crate::render::terminal::failed_probes(d, ""),
            gap,
        ])
    };
    let mut rows = vec![downtime_row("all", d, gap)];
    if v.downtime_by_conn.len() > 1 {
        for (conn, d) in &v.downtime_by_conn {
            rows.push(downtime_row(conn, d, String::new()));
        }
    }
    out.push(Table {
        title: "Downtime".into(),
        header: vec![
            "series".into(),
            "windows".into(),
            "total (ms)".into(),
            "max (ms)".into(),
            "probes".into(),
            "failed probes".into(),
            "largest arrival gap (ms)".into(),
        ],
        rows,
    });
    if v.recovery.is_some() || v.throughput.is_some() {
        let opt = |x: Option<f64>| x.map_or("-".into(), crate::model::metric::number);
        let mut rows = Vec::new();
        if let Some(r) = &v.recovery {
            rows.push(row(["recovery (ms)".into(), opt(r.recovery_ms)]));
            rows.push(row(["steady window (ms)".into(), ms(r.steady_ms)]));
        }
        if let Some(t) = &v.throughput {
            rows.push(row([
                "delivered per second before".into(),
                opt(Some(t.before_per_s)),
            ]));
            rows.push(row([
                "delivered per second during".into(),
                opt(Some(t.update_per_s)),
            ]));
            rows.push(row(["throughput drop".into(), opt(Some(t.drop))]));
        }
        out.push(Table {
            title: "Recovery and throughput".into(),
            header: vec!["measure".into(), "value".into()],
            rows,
        });
    }
    if let Some(c) = &v.control {
        out.push(Table {
            title: "Control probes (the sink's /health: not the app)".into(),
            header: vec![
                "probes".into(),
                "failed probes".into(),
                "windows".into(),
                "total (ms)".into(),
                "max (ms)".into(),
                "app downtime inside them, not counted (ms)".into(),
            ],
            rows: vec![row([
                c.probes.to_string(),
                crate::render::terminal::failed_probes(
                    &crate::model::verdict::Downtime {
                        failed_probes: c.failed_probes,
                        failed_by: c.failed_by.clone(),
                        ..Default::default()
                    },
                    "",
                ),
                c.windows.len().to_string(),
                ms(c.total_ms),
                ms(c.max_ms),
                ms(c.excluded_ms),
            ])],
        });
    }
    if !v.faults.is_empty() {
        let origin = h.origin_ns();
        let s = |t: i64| format!("{:.3}", (t - origin) as f64 / 1e9).replace("-0.000", "0.000");
        out.push(Table {
            title: "Faults".into(),
            header: vec![
                "#".into(),
                "kind".into(),
                "target / instances".into(),
                "window (s)".into(),
                "requests / affected".into(),
                "down (ms)".into(),
                "lost".into(),
                "dup".into(),
                "late".into(),
                "parameters".into(),
            ],
            rows: v
                .faults
                .iter()
                .map(|f| {
                    let acted: Vec<String> = f
                        .actions
                        .iter()
                        .map(|a| format!("{} {}", a.instance, a.action))
                        .collect();
                    row([
                        f.fault.to_string(),
                        f.kind.clone(),
                        if acted.is_empty() {
                            f.target()
                        } else {
                            acted.join(", ")
                        },
                        format!(
                            "{} to {}{}",
                            s(f.start_ns),
                            s(f.end_ns),
                            if f.ended { "" } else { " (run's end)" }
                        ),
                        match (f.requests, f.affected) {
                            (Some(r), a) => {
                                format!("{r} / {}", a.map_or("-".into(), |a| a.to_string()))
                            }
                            (None, _) => "-".into(),
                        },
                        ms(f.downtime_ms),
                        f.lost.to_string(),
                        f.duplicated.to_string(),
                        f.late.to_string(),
                        f.params_text(),
                    ])
                })
                .collect(),
        });
    }
    let resolution = probe_resolution(h);
    if !resolution.is_empty() {
        out.push(Table {
            title: "What the probes could resolve".into(),
            header: vec!["series".into(), "resolution".into()],
            rows: resolution,
        });
    }
    if v.instances.iter().any(|i| i.exit_code.is_some()) {
        out.push(Table {
            title: "Containers, as their Engine told it".into(),
            header: vec![
                "instance".into(),
                "signals sent".into(),
                "SIGTERM reached the code".into(),
                "exit code".into(),
                "out of memory".into(),
            ],
            rows: v
                .instances
                .iter()
                .filter(|i| i.exit_code.is_some() || !i.signals_sent.is_empty())
                .map(|i| {
                    let sent: Vec<String> = i
                        .signals_sent
                        .iter()
                        .map(|s| crate::model::lifecycle::signal_name(*s))
                        .collect();
                    row([
                        i.instance.clone(),
                        if sent.is_empty() {
                            "-".into()
                        } else {
                            sent.join(", ")
                        },
                        match i.cancellation_reached() {
                            Some(true) => "yes".into(),
                            Some(false) => "no".into(),
                            None => "- (still running)".into(),
                        },
                        i.exit_code.map_or_else(|| "-".into(), |c| c.to_string()),
                        if i.oom_killed { "yes" } else { "no" }.into(),
                    ])
                })
                .collect(),
        });
    }
    if !v.instances.is_empty() {
        out.push(Table {
            title: "Instances, as they told it".into(),
            header: vec![
                "instance".into(),
                "version".into(),
                "SIGTERM reached the code".into(),
                "effective grace (ms)".into(),
                "ended".into(),
                "unacknowledged at exit".into(),
            ],
            rows: v
                .instances
                .iter()
                .map(|i| {
                    row([
                        i.instance.clone(),
                        i.version.clone(),
                        match i.cancellation_reached() {
                            Some(true) => "yes".into(),
                            Some(false) => "no".into(),
                            None => "- (still running)".into(),
                        },
                        i.grace_ms().map(ms).unwrap_or_else(|| "-".into()),
                        if !i.during_run && !i.alive_at_end {
                            "stopped after the run (teardown)".into()
                        } else if i.exited {
                            "exited".into()
                        } else if i.alive_at_end {
                            "running at the end".into()
                        } else {
                            "went silent (killed)".into()
                        },
                        i.unacked.to_string(),
                    ])
                })
                .collect(),
        });
    }
    super::update::tables(h, &mut out);
    let origin = h.origin_ns();
    let s = |t: i64| format!("{:.3}", (t - origin) as f64 / 1e9).replace("-0.000", "0.000");
    out.push(Table {
        title: "Phases".into(),
        header: vec![
            "phase".into(),
            "version".into(),
            "start (s)".into(),
            "end (s)".into(),
            "duration (ms)".into(),
        ],
        rows: h
            .phases()
            .iter()
            .map(|p| {
                row([
                    p.name.clone(),
                    p.version.clone(),
                    s(p.start_ns),
                    s(p.end_ns),
                    ms((p.end_ns - p.start_ns) as f64 / 1e6),
                ])
            })
            .collect(),
    });
    if let Some(text) = &h.scenario_text {
        if let Ok(table) = text.parse::<toml::Table>() {
            let mut rows = Vec::new();
            flatten("", &toml::Value::Table(table), &mut rows);
            out.push(Table {
                title: "Scenario parameters".into(),
                header: vec!["key".into(), "value".into()],
                rows,
            });
        }
    }
    let several = {
        let mut s: Vec<&str> = v
            .lost_items
            .iter()
            .chain(&v.duplicated_items)
            .map(|i| i.source.as_str())
            .collect();
        s.sort_unstable();
        s.dedup();
        s.len() > 1
    };
    let mut items = Vec::new();
    for (kind, list, total) in [
        ("lost", &v.lost_items, v.lost),
        ("duplicated", &v.duplicated_items, v.duplicated),
        ("late", &v.late_items, v.late),
    ] {
        for i in list.iter().take(20) {
            let detail = match kind {
                "late" => format!("{:.1} ms late", i.lateness_ms.unwrap_or(0.0)),
                "duplicated" => format!(
                    "{} copies, {}",
                    i.copies.unwrap_or(0),
                    i.cause.as_deref().unwrap_or("")
                ),
                _ => i.cause.clone().unwrap_or_default(),
            };
            items.push(row([kind.into(), i.label(several), detail]));
        }
        if total > 20 {
            items.push(row([
                kind.into(),
                format!("... and {} more", total - 20),
                String::new(),
            ]));
        }
    }
    if !items.is_empty() {
        out.push(Table {
            title: "Items".into(),
            header: vec!["kind".into(), "item".into(), "detail".into()],
            rows: items,
        });
    }
    out
}

/// Per probe series, its interval and what it can and cannot see: a window shorter than
/// the interval can fall between two probes, and a keep-alive connection reused only every
/// so often sees a close of idle connections only when a probe races it.
fn probe_resolution(h: &History) -> Vec<Vec<String>> {
    let mut by_conn: std::collections::BTreeMap<&str, (i64, i64, u64)> = Default::default();
    for p in &h.probes {
        let e = by_conn
            .entry(p.conn.as_deref().unwrap_or("all"))
            .or_insert((i64::MAX, i64::MIN, 0));
        e.0 = e.0.min(p.intended_ns);
        e.1 = e.1.max(p.intended_ns);
        e.2 += 1;
    }
    // The scenario as run names the series' connections; an older run directory does not.
    let connections = h
        .scenario_text
        .as_deref()
        .and_then(|t| t.parse::<toml::Table>().ok())
        .and_then(|t| t.get("probes")?.get("connections")?.as_integer())
        .filter(|&c| c > 0);
    by_conn
        .into_iter()
        .filter(|(_, (_, _, n))| *n > 1)
        .map(|(conn, (first, last, n))| {
            let interval_ms = (last - first) as f64 / 1e6 / (n - 1) as f64;
            let mut text = format!(
                "one probe every {} ms: a window shorter than that may fall between two probes",
                ms(interval_ms)
            );
            if conn == "reused" {
                let reuse = match connections {
                    Some(c) => format!(
                        "each of its {c} keep-alive connection(s) is reused about every {} ms, \
                         and",
                        ms(interval_ms * c as f64)
                    ),
                    None => "a keep-alive connection".to_owned(),
                };
                text.push_str(&format!(
                    "; {reuse} sees a proxy closing idle connections (a reload) only when a \
                     probe is written on one as it closes: a closed-loop load such as wrk, \
                     whose connections are never idle, sees more of those"
                ));
            }
            if conn == "new" {
                text.push_str("; sees refused and reset connects, not the fate of idle ones");
            }
            row([conn.to_owned(), text])
        })
        .collect()
}

fn flatten(prefix: &str, value: &toml::Value, rows: &mut Vec<Vec<String>>) {
    match value {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, rows);
            }
        }
        toml::Value::String(s) => rows.push(vec![prefix.to_owned(), s.clone()]),
        other => rows.push(vec![prefix.to_owned(), other.to_string()]),
    }
}
