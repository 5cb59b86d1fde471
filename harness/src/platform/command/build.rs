//! Builds the command platform from a resolved run: the scenario's commands, the front door
//! (a free port when the URL's is 0), and the environment the commands are given: the run's
//! facts as `HARNESS_*` variables, the contract every platform script reads (README,
//! "Command platform").

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{CommandPlatform, CommandSettings};
use crate::clock::{Clock, Schedule};
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
        net: _,
    } = wiring;
    let (s, t, out) = (&plan.scenario, &plan.timing, &plan.out_dir);
    let p = &s.platform;
    let door = front_door(p.url.as_deref().unwrap_or_default()).await?;
    let driver = s.driver();
    let schedule = schedule(&clock, driver, t.period);
    let run_dir = std::path::absolute(out)?;
    let state_dir = run_dir.join("platform");
    std::fs::create_dir_all(&state_dir)?;
    let contract = Contract {
        sink_url,
        sink_token: sink_token.unwrap_or_default(),
        run_dir,
        state_dir,
        app_command: app_command(plan)?,
        work_args: work_args(plan, driver, &schedule),
    };
    let env = contract.env(plan, &door, driver, &schedule);
    let dir = Path::new(&plan.scenario_path)
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
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
        front_door: door.addr,
        url: door.url,
        host: door.authority,
        driver,
        first: s.first_expected(),
        until: s.occurrences_fired(),
        invoke_timeout: t.invoke_timeout,
        schedule,
        env,
    };
    CommandPlatform::new(settings, ledger)
}

/// The real front door, as `platform.url` names it.
struct FrontDoor {
    addr: SocketAddr,
    port: u16,
    /// `HOST:PORT`, the `Host` header.
    authority: String,
    /// `http://HOST:PORT`.
    url: String,
}

/// Resolves `platform.url`; port 0 becomes a free port, which the commands are told.
async fn front_door(url: &str) -> anyhow::Result<FrontDoor> {
    let (host, mut port) = super::section::front_door_addr(url).map_err(anyhow::Error::msg)?;
    // `[::1]` is written with brackets and resolved without.
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let mut addrs: Vec<SocketAddr> = tokio::net::lookup_host((bare, port))
        .await
        .map_err(|e| anyhow::anyhow!("platform.url: resolving {host}: {e}"))?
        .collect();
    // `localhost` may resolve to ::1 first, while a script listens on 127.0.0.1.
    addrs.sort_by_key(|a| !a.is_ipv4());
    let mut addr = *addrs
        .first()
        .ok_or_else(|| anyhow::anyhow!("platform.url: {host} resolves to no address"))?;
    if port == 0 {
        port = free_port(addr.ip())?;
        addr.set_port(port);
    }
    let authority = format!("{host}:{port}");
    Ok(FrontDoor {
        addr,
        port,
        url: format!("http://{authority}"),
        authority,
    })
}

/// The ports the kernel hands out for outgoing connections and `bind(0)`
/// (`net.ipv4.ip_local_port_range`; Linux's default when it cannot be read).
fn ephemeral_range() -> (u16, u16) {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|t| {
            let mut it = t.split_whitespace().map(|w| w.parse::<u16>().ok());
            Some((it.next()??, it.next()??))
        })
        .unwrap_or((32768, 60999))
}

/// A free port for a script to bind, which the commands are told: one outside the kernel's
/// ephemeral range, free when tried. The script binds it a moment later, so a port from
/// `bind(0)` could meanwhile go to any process's outgoing connection; a port outside that
/// range only another explicit bind can take. Tried from a point that differs per process
/// and per call, so runs at once try different ports.
fn free_port(ip: std::net::IpAddr) -> std::io::Result<u16> {
    static CALLS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let (low, high) = ephemeral_range();
    // Above the well-known and most registered services' ports, below the range.
    let (from, to) = if low > 20_000 {
        (10_000u32, u32::from(low))
    } else {
        (u32::from(high) + 1, 65_536)
    };
    let span = to.saturating_sub(from).max(1);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let start = (std::process::id().wrapping_mul(7919) ^ call.wrapping_mul(104_729)) % span;
    for k in 0..span.min(4096) {
        let port = (from + (start + k * 7) % span) as u16;
        if std::net::TcpListener::bind((ip, port)).is_ok() {
            return Ok(port);
        }
    }
    // Every try taken: the kernel's choice, as a last resort.
    Ok(std::net::TcpListener::bind((ip, 0))?.local_addr()?.port())
}

/// The run's schedule, fixed before the deploy. The apps' own timers fire on the wall
/// clock's grid of the period, as a real timer's schedule (a CRON expression) does: the
/// epoch is the next multiple of the period.
pub(crate) fn schedule(clock: &Clock, driver: Driver, period: Duration) -> Schedule {
    let now = clock.now();
    let now_ns = clock.ns_at(now);
    let period_ns = period.as_nanos().max(1) as i64;
    let epoch_ns = match driver {
        Driver::App => (now_ns + period_ns - 1) / period_ns * period_ns,
        _ => now_ns,
    };
    Schedule {
        epoch_ns,
        epoch: now + Duration::from_nanos((epoch_ns - now_ns) as u64),
        period,
    }
}

/// What each instance is started to do; the app driver's instances also get the schedule
/// and the lease.
pub(crate) fn work_args(plan: &RunPlan, driver: Driver, schedule: &Schedule) -> Vec<String> {
    let (s, t) = (&plan.scenario, &plan.timing);
    let mut args = plan.work.args();
    if driver != Driver::App {
        return args;
    }
    args.extend([
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
        args.extend([
            "--lease".into(),
            lease.clone(),
            "--lease-ttl-ms".into(),
            t.lease_ttl.as_millis().max(1).to_string(),
        ]);
    }
    args
}

/// The app's command line as one string of shell words.
fn app_command(plan: &RunPlan) -> anyhow::Result<String> {
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
    Ok(words.join(" "))
}

/// What the commands are told of the run, beyond the scenario.
struct Contract {
    sink_url: String,
    sink_token: String,
    run_dir: PathBuf,
    state_dir: PathBuf,
    app_command: String,
    work_args: Vec<String>,
}

impl Contract {
    /// The commands' environment: the run's facts as `HARNESS_*` variables, the contract
    /// every platform script reads (README, "Command platform"), sorted.
    fn env(
        self,
        plan: &RunPlan,
        door: &FrontDoor,
        driver: Driver,
        schedule: &Schedule,
    ) -> Vec<(String, String)> {
        let (s, t) = (&plan.scenario, &plan.timing);
        let mut env: Vec<(String, String)> = [
            ("HARNESS_SINK_URL", self.sink_url),
            ("HARNESS_SINK_TOKEN", self.sink_token.clone()),
            ("TESTFN_SINK_TOKEN", self.sink_token),
            ("HARNESS_FROM", s.app.from.clone()),
            ("HARNESS_TO", s.app.to.clone()),
            ("HARNESS_INSTANCES", s.app.instances.to_string()),
            ("HARNESS_RUN_DIR", self.run_dir.display().to_string()),
            ("HARNESS_STATE_DIR", self.state_dir.display().to_string()),
            ("HARNESS_TIME_SCALE", plan.time_scale.to_string()),
            ("HARNESS_URL", door.url.clone()),
            ("HARNESS_PORT", door.port.to_string()),
            ("HARNESS_APP_COMMAND", self.app_command),
            ("HARNESS_WORK_ARGS", self.work_args.join(" ")),
            ("HARNESS_DRIVER", driver.as_str().to_owned()),
            ("HARNESS_PERIOD_NS", t.period.as_nanos().to_string()),
            ("HARNESS_ITEMS", s.workload.items.to_string()),
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
        env
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_free_port_is_outside_the_ephemeral_range_and_free() {
        let (low, high) = ephemeral_range();
        let ip: std::net::IpAddr = "127.0.0.1".parse().unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..20 {
            let port = free_port(ip).unwrap();
            assert!(!(low..=high).contains(&port), "{port} is in {low}..={high}");
            // Free: it binds.
            drop(std::net::TcpListener::bind((ip, port)).unwrap());
            seen.insert(port);
        }
        assert!(seen.len() > 1, "calls try different ports: {seen:?}");
        // A port held by another listener is never given.
        let held = std::net::TcpListener::bind((ip, free_port(ip).unwrap())).unwrap();
        let taken = held.local_addr().unwrap().port();
        for _ in 0..50 {
            assert_ne!(free_port(ip).unwrap(), taken);
        }
    }
}
