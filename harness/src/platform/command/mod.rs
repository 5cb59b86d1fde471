//! The command platform: a real platform driven through the user's commands.
//!
//! The harness runs no instance itself. `deploy` brings version A up behind the front door
//! at `platform.url`; `update` performs the update; `status`, when given, is polled until it
//! exits 0 ("the platform says the update is complete"); `teardown` always runs. Each command
//! is an argv array (no shell) run from the scenario file's directory with the run's facts in
//! its environment ([`CommandSettings::env`]); its output goes to `commands/NN-NAME.log`, and
//! its start, end, exit code and duration go into the ledger (`command_started`,
//! `command_ended`). Each runs in its own process group, and teardown kills every group that
//! is left, so no process the commands started outlives the run (servers the scripts start
//! must not daemonize: a daemon leaves the group).
//!
//! Work on a real platform comes from the driver: the harness POSTs `/api/tick` through the
//! front door at each occurrence (`harness`; the request's outcome is the invocation), the
//! apps run their own timer (`app`), or there is none (`none`: probes only).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reports::ledger::Kind;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub mod build;
pub mod section;

use super::{BoxFuture, Platform};
use crate::clock::Schedule;
use crate::ledger::Ledger;
use crate::protocol::{TickRequest, TickResponse};
use crate::scenario::Driver;

/// Everything the command platform needs, resolved by the runner.
#[derive(Clone, Debug)]
pub struct CommandSettings {
    /// Where the commands run, and what a relative program path is relative to.
    pub dir: PathBuf,
    /// `commands/` in the run directory.
    pub log_dir: PathBuf,
    pub deploy: Vec<String>,
    pub update: Vec<String>,
    pub status: Option<Vec<String>>,
    pub teardown: Option<Vec<String>>,
    /// Longest any one command may run.
    pub timeout: Duration,
    pub status_interval: Duration,
    /// The front door (probes and the harness driver's requests).
    pub front_door: SocketAddr,
    /// The base URL of the front door, and its authority (the `Host` header).
    pub url: String,
    pub host: String,
    pub driver: Driver,
    /// The harness driver fires occurrences `first..until`.
    pub first: u64,
    pub until: u64,
    /// Longest one harness-driven invocation may take.
    pub invoke_timeout: Duration,
    /// The schedule, fixed before `deploy` so the apps' own timers can be given it (used
    /// for the app driver only; the others start once deployed).
    pub schedule: Schedule,
    /// The commands' environment: the run's facts (see the README's "Command platform").
    pub env: Vec<(String, String)>,
}

/// The command platform; cheap to clone.
#[derive(Clone)]
pub struct CommandPlatform {
    inner: Arc<Inner>,
}

struct Inner {
    settings: CommandSettings,
    ledger: Ledger,
    /// Process groups of every command started, killed at teardown.
    groups: Mutex<Vec<i32>>,
    /// Numbers the command logs in the order they ran.
    next_log: AtomicU32,
    /// The harness driver's requests in flight.
    ticks: TaskTracker,
    stop_ticks: CancellationToken,
    /// Gives up on the requests still in flight (teardown).
    abort_ticks: CancellationToken,
    client: reqwest::Client,
}

/// How one command ended.
#[derive(Debug)]
struct Ran {
    code: Option<i32>,
    log: PathBuf,
}

impl CommandPlatform {
    pub fn new(settings: CommandSettings, ledger: Ledger) -> anyhow::Result<CommandPlatform> {
        std::fs::create_dir_all(&settings.log_dir)?;
        let client = reqwest::Client::builder()
            .timeout(settings.invoke_timeout)
            .build()?;
        Ok(CommandPlatform {
            inner: Arc::new(Inner {
                settings,
                ledger,
                groups: Mutex::new(Vec::new()),
                next_log: AtomicU32::new(0),
                ticks: TaskTracker::new(),
                stop_ticks: CancellationToken::new(),
                abort_ticks: CancellationToken::new(),
                client,
            }),
        })
    }

    fn settings(&self) -> &CommandSettings {
        &self.inner.settings
    }

    /// Runs one command to its end (or its timeout, when its group is killed), recording it.
    async fn run(
        &self,
        name: &str,
        argv: &[String],
        log_name: Option<&str>,
    ) -> anyhow::Result<Ran> {
        let s = self.settings();
        let log = match log_name {
            Some(fixed) => s.log_dir.join(fixed),
            None => {
                let n = self.inner.next_log.fetch_add(1, Ordering::Relaxed);
                s.log_dir.join(format!("{n:02}-{name}.log"))
            }
        };
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)?;
        let program = resolve_program(&s.dir, &argv[0]);
        let mut cmd = tokio::process::Command::new(&program);
        cmd.args(&argv[1..])
            .current_dir(&s.dir)
            .envs(s.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            // Files, not pipes: a server a script leaves running keeps its output open, and
            // the harness must not wait for it.
            .stdout(Stdio::from(file.try_clone()?))
            .stderr(Stdio::from(file));
        crate::platform::process_group::own_group_dying_with_us(&mut cmd);
        let started = self.inner.ledger.clock().now();
        let mut child = cmd
            .spawn()
            .map_err(|e| anyhow::anyhow!("{name}: starting {} failed: {e}", program.display()))?;
        let pid = child.id().unwrap_or(0) as i32;
        self.inner.groups.lock().expect("groups").push(pid);
        // Dropped before the command ends (Ctrl-C drops the run's future): its group is
        // killed, so a script cannot go on beside the teardown.
        let mut running = Running {
            pgid: pid,
            done: false,
        };
        let l = &self.inner.ledger;
        l.record(
            l.event(Kind::CommandStarted, "", "", "")
                .with("command", name)
                .with("pid", pid),
        );
        let waited = tokio::time::timeout(s.timeout, child.wait()).await;
        let elapsed_ms = l.clock().now().duration_since(started).as_secs_f64() * 1e3;
        let (code, timed_out) = match waited {
            Ok(Ok(status)) => (status.code(), false),
            Ok(Err(e)) => return Err(anyhow::anyhow!("{name}: waiting for it failed: {e}")),
            Err(_) => {
                kill_group(pid, libc::SIGKILL);
                let _ = child.wait().await;
                (None, true)
            }
        };
        running.done = true;
        // A group nobody is left in is forgotten now: its number may be reused by another
        // process's group long before teardown.
        if !group_alive(pid) {
            self.inner
                .groups
                .lock()
                .expect("groups")
                .retain(|&g| g != pid);
        }
        let mut ended = l
            .event(Kind::CommandEnded, "", "", "")
            .with("command", name)
            .with("exit", code.map_or("none".to_owned(), |c| c.to_string()))
            .with("ms", format!("{elapsed_ms:.1}"));
        if timed_out {
            ended = ended.with("timed_out", true);
        }
        l.record(ended);
        if timed_out {
            anyhow::bail!(
                "{name} did not end within its timeout of {:?} (platform.timeout); its process \
                 group was killed; see {}",
                s.timeout,
                log.display()
            );
        }
        Ok(Ran { code, log })
    }

    /// Runs a command that must succeed.
    async fn must(&self, name: &str, argv: &[String]) -> anyhow::Result<()> {
        let ran = self.run(name, argv, None).await?;
        if ran.code == Some(0) {
            return Ok(());
        }
        let last = last_line(&ran.log).unwrap_or_default();
        anyhow::bail!(
            "{name} ({}) exited with {}{}; see {}",
            argv.join(" "),
            ran.code
                .map_or("a signal".to_owned(), |c| format!("code {c}")),
            if last.is_empty() {
                String::new()
            } else {
                format!(": {last}")
            },
            ran.log.display()
        )
    }

    /// Polls `status` until it exits 0; the time it first did is the platform's completion.
    async fn wait_complete(&self, status: &[String]) -> anyhow::Result<()> {
        let s = self.settings();
        let deadline = self.inner.ledger.clock().now() + s.timeout;
        loop {
            let ran = self.run("status", status, Some("status.log")).await?;
            if ran.code == Some(0) {
                let l = &self.inner.ledger;
                l.record(
                    l.event(Kind::UpdateComplete, "", "", "")
                        .with("by", "status"),
                );
                return Ok(());
            }
            if self.inner.ledger.clock().now() >= deadline {
                anyhow::bail!(
                    "status ({}) never exited 0 within {:?} after the update; see {}",
                    status.join(" "),
                    s.timeout,
                    ran.log.display()
                );
            }
            tokio::time::sleep(s.status_interval).await;
        }
    }

    /// Fires occurrences through the front door, as an external scheduler would.
    fn fire(&self, schedule: Schedule) {
        let this = self.clone();
        let s = self.settings().clone();
        let stop = self.inner.stop_ticks.clone();
        self.inner.ticks.spawn(async move {
            for m in s.first..s.until {
                tokio::select! {
                    () = tokio::time::sleep_until(schedule.instant(m)) => {}
                    () = stop.cancelled() => return,
                }
                let this2 = this.clone();
                this.inner.ticks.spawn(async move {
                    this2.invoke(m, schedule.scheduled_ns(m)).await;
                });
            }
        });
    }

    /// One harness-driven invocation: `POST /api/tick`, recorded like the host's. A request
    /// that could not even connect reached no app: the occurrence was missed (never
    /// invoked), not failed.
    async fn invoke(&self, m: u64, scheduled_ns: i64) {
        let l = &self.inner.ledger;
        let inv = format!("h{m}");
        let begun = l
            .event(Kind::InvocationBegun, "", "", "")
            .with("inv", &inv)
            .with("source", "tick")
            .with("m", m);
        let url = format!("{}/api/tick", self.settings().url.trim_end_matches('/'));
        let request = TickRequest {
            m,
            scheduled_ns,
            catch_up: false,
        };
        let send = self.inner.client.post(&url).json(&request).send();
        let answer = tokio::select! {
            answer = send => answer,
            () = self.inner.abort_ticks.cancelled() => {
                // Still unanswered when the run ended: begun, and never known to end
                // (its items, if lost, are `unfinished`).
                l.record(begun);
                return;
            }
        };
        let (kind, instance, version, reason) = match answer {
            Ok(resp) => {
                let status = resp.status();
                let body: TickResponse = resp.json().await.unwrap_or_default();
                let who = (
                    body.instance.clone().unwrap_or_default(),
                    body.version.clone().unwrap_or_default(),
                );
                if status.is_success() {
                    (Kind::InvocationOk, who.0, who.1, String::new())
                } else if body.instance.is_none() {
                    // An answer no app gave (the proxy's 502 or 503): no app ran it.
                    l.record(
                        l.event(Kind::OccurrenceMissed, "", "", "")
                            .with("source", "tick")
                            .with("m", m)
                            .with("reason", format!("http_{}", status.as_u16())),
                    );
                    return;
                } else if body.cancelled {
                    // The run was stopped by its cancellation token: what it had not sent
                    // was killed before it was sent.
                    (Kind::InvocationKilled, who.0, who.1, "cancelled".into())
                } else {
                    let reason = body
                        .error
                        .map(|e| e.replace([' ', ','], "_"))
                        .unwrap_or_else(|| format!("http_{}", status.as_u16()));
                    (Kind::InvocationFailed, who.0, who.1, reason)
                }
            }
            Err(e) if e.is_connect() => {
                l.record(
                    l.event(Kind::OccurrenceMissed, "", "", "")
                        .with("source", "tick")
                        .with("m", m)
                        .with("reason", "connect"),
                );
                return;
            }
            Err(e) if e.is_timeout() => (
                Kind::InvocationFailed,
                String::new(),
                String::new(),
                "timeout".into(),
            ),
            // Connected, sent, and the connection broke before an answer: whatever ran it
            // went away mid-run.
            Err(_) => (
                Kind::InvocationKilled,
                String::new(),
                String::new(),
                "connection_lost".into(),
            ),
        };
        // Stamped when it was sent, recorded once it is known to have reached something.
        l.record(begun);
        let mut ended = l.event(kind, &instance, &version, "").with("inv", &inv);
        if !reason.is_empty() {
            ended = ended.with("reason", reason);
        }
        l.record(ended);
    }
}

impl Platform for CommandPlatform {
    fn front_door(&self) -> SocketAddr {
        self.settings().front_door
    }

    fn front_door_host(&self) -> String {
        self.settings().host.clone()
    }

    fn fixed_schedule(&self) -> Option<Schedule> {
        let s = self.settings();
        (s.driver == Driver::App).then_some(s.schedule)
    }

    fn deploy<'a>(
        &'a self,
        version: &'a str,
        _instances: u32,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let l = &self.inner.ledger;
            l.record(
                l.event(Kind::PhaseBegun, "", version, "")
                    .with("phase", "deploy"),
            );
            let result = self.must("deploy", &self.settings().deploy.clone()).await;
            l.record(
                l.event(Kind::PhaseEnded, "", version, "")
                    .with("phase", "deploy"),
            );
            result
        })
    }

    fn start_triggers(&self, schedule: Schedule) {
        if self.settings().driver == Driver::Harness {
            self.fire(schedule);
        }
    }

    fn update<'a>(
        &'a self,
        _from: &'a str,
        to: &'a str,
        _instances: u32,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            // The runner writes the `update` phase around this.
            let l = &self.inner.ledger;
            l.record(
                l.event(Kind::PhaseBegun, "", to, "")
                    .with("phase", "update_command"),
            );
            let s = self.settings().clone();
            let mut result = self.must("update", &s.update).await;
            l.record(
                l.event(Kind::PhaseEnded, "", to, "")
                    .with("phase", "update_command"),
            );
            if result.is_ok() {
                if let Some(status) = &s.status {
                    result = self.wait_complete(status).await;
                }
            }
            result
        })
    }

    fn stop_triggers(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.inner.stop_ticks.cancel();
        })
    }

    fn settle(&self, within: Duration) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let ticks = &self.inner.ticks;
            ticks.close();
            match self.settings().driver {
                Driver::Harness => {
                    let _ = tokio::time::timeout(within, ticks.wait()).await;
                }
                // The apps' own runs cannot be watched from here: give them the settle time.
                Driver::App => tokio::time::sleep(within).await,
                Driver::None | Driver::Platform => {}
            }
        })
    }

    fn alive(&self) -> Vec<String> {
        Vec::new()
    }

    fn teardown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.inner.stop_ticks.cancel();
            self.inner.abort_ticks.cancel();
            self.inner.ticks.close();
            let _ = tokio::time::timeout(Duration::from_secs(5), self.inner.ticks.wait()).await;
            if let Some(argv) = self.settings().teardown.clone() {
                match self.run("teardown", &argv, None).await {
                    Ok(ran) if ran.code == Some(0) => {}
                    Ok(ran) => tracing::warn!(
                        code = ?ran.code,
                        log = %ran.log.display(),
                        "the teardown command failed"
                    ),
                    Err(e) => tracing::warn!(error = %e, "the teardown command failed"),
                }
            }
            // The backstop: whatever the commands left in their process groups.
            let groups: Vec<i32> = self.inner.groups.lock().expect("groups").clone();
            let alive: Vec<i32> = groups.into_iter().filter(|&g| group_alive(g)).collect();
            if alive.is_empty() {
                return;
            }
            for &g in &alive {
                kill_group(g, libc::SIGTERM);
            }
            let clock = self.inner.ledger.clock();
            let deadline = clock.now() + Duration::from_secs(2);
            while clock.now() < deadline && alive.iter().any(|&g| group_alive(g)) {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let l = &self.inner.ledger;
            for &g in &alive {
                if group_alive(g) {
                    kill_group(g, libc::SIGKILL);
                }
                l.record(
                    l.event(Kind::CommandGroupKilled, "", "", "")
                        .with("pgid", g),
                );
            }
        })
    }
}

/// A command's process group while the command runs.
struct Running {
    pgid: i32,
    done: bool,
}

impl Drop for Running {
    fn drop(&mut self) {
        if !self.done {
            kill_group(self.pgid, libc::SIGKILL);
        }
    }
}

/// A program path with a `/` is relative to the scenario's directory; a bare name is looked
/// up on `PATH`.
fn resolve_program(dir: &Path, program: &str) -> PathBuf {
    let p = Path::new(program);
    if p.is_absolute() || !program.contains('/') {
        p.to_owned()
    } else {
        dir.join(p)
    }
}

fn kill_group(pgid: i32, signal: i32) {
    if pgid > 0 {
        crate::platform::process_group::kill_group(pgid as u32, signal);
    }
}

/// Whether any live process is left in group `pgid`. A zombie (exited, not yet reaped by
/// whoever inherited it) is not: `kill(-pgid, 0)` alone would count it.
fn group_alive(pgid: i32) -> bool {
    // SAFETY: signal 0 only checks that the group exists and may be signalled.
    if pgid <= 0 || unsafe { libc::kill(-pgid, 0) } != 0 {
        return false;
    }
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return true;
    };
    procs.flatten().any(|p| {
        let Ok(stat) = std::fs::read_to_string(p.path().join("stat")) else {
            return false;
        };
        // pid (comm) state ppid pgrp ...: comm may hold spaces, so split after its ')'.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            return false;
        };
        let mut fields = rest.split_ascii_whitespace();
        let state = fields.next();
        let group = fields.nth(1).and_then(|g| g.parse::<i32>().ok());
        group == Some(pgid) && state != Some("Z")
    })
}

/// The last non-empty line of a command's log, for the error message.
fn last_line(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| l.chars().take(300).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_with_a_slash_are_the_scenarios() {
        let dir = Path::new("/s");
        assert_eq!(resolve_program(dir, "bash"), PathBuf::from("bash"));
        assert_eq!(
            resolve_program(dir, "../platforms/x.sh"),
            PathBuf::from("/s/../platforms/x.sh")
        );
        assert_eq!(resolve_program(dir, "/bin/x"), PathBuf::from("/bin/x"));
    }
}
