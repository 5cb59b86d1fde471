//! Builds the command platform from a resolved run: the scenario's commands, the front door
//! (a free port when the URL's is 0), and the environment the commands are given: the run's
//! facts as `HARNESS_*` variables, the contract every platform script reads (README,
//! "Command platform").

use std::path::Path;
use std::time::Duration;

use super::{CommandPlatform, CommandSettings};
use crate::clock::Schedule;
use crate::platform::{Driver, Wiring};
use crate::run_plan::RunPlan;

/// The command platform for the plan: the scenario's commands, their environment, the front
/// door (a free port when the URL's is 0) and, for apps with their own timer, the schedule.
pub async fn build(plan: &RunPlan, wiring: Wiring) -> anyhow::Result<CommandPlatform> {
    let Wiring {
        ledger,
        clock,
        sink_url,
        sink_token,
    } = wiring;
    let sink_token = sink_token.as_deref();
    let (s, t, out) = (&plan.scenario, &plan.timing, &plan.out_dir);
    let p = &s.platform;
    let url = p.url.clone().unwrap_or_default();
    let (host, mut port) = super::section::front_door_addr(&url).map_err(anyhow::Error::msg)?;
    // `[::1]` is written with brackets and resolved without.
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let mut addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host((bare, port))
        .await
        .map_err(|e| anyhow::anyhow!("platform.url: resolving {host}: {e}"))?
        .collect();
    // `localhost` may resolve to ::1 first, while a script listens on 127.0.0.1.
    addrs.sort_by_key(|a| !a.is_ipv4());
    let mut front_door = *addrs
        .first()
        .ok_or_else(|| anyhow::anyhow!("platform.url: {host} resolves to no address"))?;
    if port == 0 {
        // The commands are told the port; bind-and-release is the best a script allows.
        port = std::net::TcpListener::bind((front_door.ip(), 0))?
            .local_addr()?
            .port();
        front_door.set_port(port);
    }
    let authority = format!("{host}:{port}");
    let base_url = format!("http://{authority}");
    let driver = s.driver();
    // The apps' own timers fire on the wall clock's grid of the period, as a real timer's
    // schedule (a CRON expression) does: the epoch is the next multiple of the period.
    let now = clock.now();
    let now_ns = clock.ns_at(now);
    let period_ns = t.period.as_nanos().max(1) as i64;
    let epoch_ns = match driver {
        Driver::App => (now_ns + period_ns - 1) / period_ns * period_ns,
        _ => now_ns,
    };
    let schedule = Schedule {
        epoch_ns,
        epoch: now + Duration::from_nanos((epoch_ns - now_ns) as u64),
        period: t.period,
    };
    let mut work_args = plan.work.args();
    if driver == Driver::App {
        work_args.extend([
            "--timer-epoch-ns".into(),
            schedule.epoch_ns.to_string(),
            "--timer-period-ns".into(),
            t.period.as_nanos().to_string(),
            "--timer-first".into(),
            s.first_expected().to_string(),
            "--timer-until".into(),
            s.occurrences_fired().to_string(),
        ]);
        if let Some(lease) = &s.workload.lease {
            work_args.extend([
                "--lease".into(),
                lease.clone(),
                "--lease-ttl-ms".into(),
                t.lease_ttl.as_millis().max(1).to_string(),
            ]);
        }
    }
    if plan.program.kind == crate::app::AppKind::InProcess {
        anyhow::bail!("a command platform starts the app as a process, not in the harness's own");
    }
    let words: Vec<String> = std::iter::once(plan.program.program.display().to_string())
        .chain(
            plan.program
                .args
                .iter()
                .map(|a| a.to_string_lossy().into_owned()),
        )
        .collect();
    // The scripts split HARNESS_APP_COMMAND on spaces: a word with one would break it.
    if let Some(w) = words.iter().find(|w| w.contains(char::is_whitespace)) {
        anyhow::bail!(
            "the app command {w:?} holds a space, which HARNESS_APP_COMMAND (shell words) \
             cannot carry; install or link it at a path without one"
        );
    }
    let app_command = words.join(" ");
    let run_dir = std::path::absolute(out)?;
    let state_dir = run_dir.join("platform");
    std::fs::create_dir_all(&state_dir)?;
    let w = &s.workload;
    let mut env: Vec<(String, String)> = [
        ("HARNESS_SINK_URL", sink_url),
        ("HARNESS_SINK_TOKEN", sink_token.unwrap_or("").to_owned()),
        ("TESTFN_SINK_TOKEN", sink_token.unwrap_or("").to_owned()),
        ("HARNESS_FROM", s.app.from.clone()),
        ("HARNESS_TO", s.app.to.clone()),
        ("HARNESS_INSTANCES", s.app.instances.to_string()),
        ("HARNESS_RUN_DIR", run_dir.display().to_string()),
        ("HARNESS_STATE_DIR", state_dir.display().to_string()),
        ("HARNESS_TIME_SCALE", plan.time_scale.to_string()),
        ("HARNESS_URL", base_url.clone()),
        ("HARNESS_PORT", port.to_string()),
        ("HARNESS_APP_COMMAND", app_command),
        ("HARNESS_WORK_ARGS", work_args.join(" ")),
        ("HARNESS_DRIVER", driver.as_str().to_owned()),
        ("HARNESS_PERIOD_NS", t.period.as_nanos().to_string()),
        ("HARNESS_ITEMS", w.items.to_string()),
        ("HARNESS_ITEM_DELAY_NS", t.item_delay.as_nanos().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    if driver == Driver::App {
        // Only the app driver's schedule is known before the deploy.
        env.push((
            "HARNESS_TIMER_EPOCH_NS".into(),
            schedule.epoch_ns.to_string(),
        ));
        env.push((
            "HARNESS_TIMER_PERIOD_NS".into(),
            t.period.as_nanos().to_string(),
        ));
    }
    env.sort();
    let dir = Path::new(&plan.scenario_path)
        .parent()
        .map(|d| {
            if d.as_os_str().is_empty() {
                Path::new(".")
            } else {
                d
            }
        })
        .unwrap_or(Path::new("."))
        .to_owned();
    let settings = CommandSettings {
        dir: std::path::absolute(dir)?,
        log_dir: out.join("commands"),
        deploy: p.deploy.clone(),
        update: p.update.clone(),
        status: p.status.clone(),
        teardown: p.teardown.clone(),
        timeout: p.timeout().0,
        status_interval: p.status_interval().0,
        front_door,
        url: base_url,
        host: authority,
        driver,
        first: s.first_expected(),
        until: s.occurrences_fired(),
        invoke_timeout: t.invoke_timeout,
        schedule,
        env,
    };
    CommandPlatform::new(settings, ledger)
}
