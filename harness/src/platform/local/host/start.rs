//! Starting an instance: its id and the instance limit, its command line, its stdout (the
//! address, then its send reports) and stderr (its log), the watcher that records how it
//! ended, and readiness (its address printed and `/health` answered within the ready
//! timeout).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reports::ledger::{Kind, LedgerEvent};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::watch;

use super::{Entry, Host, StartPromise};
use crate::ledger::Ledger;
use crate::protocol::SendReport;
use crate::strategy::instances::{InstanceView, Phase};

/// Reads an instance's stdout to its end: the first line (its address) goes to `address`;
/// then its send reports, so that what it sent and the sink never acknowledged can be put
/// in the ledger when it exits (with the time each was first reported sent). Other lines
/// are skipped; reading on keeps a chatty app from blocking on a full pipe.
async fn read_stdout(
    stdout: std::pin::Pin<Box<dyn tokio::io::AsyncRead + Send>>,
    address: tokio::sync::oneshot::Sender<String>,
    ledger: Ledger,
) -> Vec<(i64, SendReport)> {
    // Split on bytes, not UTF-8 lines: a line of garbage must not stop the reading.
    let mut lines = BufReader::new(stdout).split(b'\n');
    match lines.next_segment().await {
        Ok(Some(first)) => {
            let _ = address.send(String::from_utf8_lossy(&first).into_owned());
        }
        _ => return Vec::new(),
    }
    let mut pending: HashMap<(String, u64, u64), (i64, SendReport)> = HashMap::new();
    while let Ok(Some(line)) = lines.next_segment().await {
        let Some(report) = std::str::from_utf8(&line).ok().and_then(SendReport::parse) else {
            continue;
        };
        let key = (report.source.clone(), report.m, report.n);
        if report.acked {
            pending.remove(&key);
        } else {
            pending.entry(key).or_insert((ledger.now_ns(), report));
        }
    }
    let mut unacked: Vec<(i64, SendReport)> = pending.into_values().collect();
    unacked.sort_by_key(|(t, _)| *t);
    unacked
}

/// Copies an instance's stderr to its log file line by line, to its end, calling `stamp`
/// with each line's arrival time. Reading on whatever happens keeps the app from blocking
/// on a full pipe.
async fn copy_log(
    stderr: std::pin::Pin<Box<dyn tokio::io::AsyncRead + Send>>,
    mut log: std::fs::File,
    stamp: impl Fn(i64),
    ledger: Ledger,
) {
    use std::io::Write;
    let mut lines = BufReader::new(stderr).split(b'\n');
    let mut writable = true;
    while let Ok(Some(mut line)) = lines.next_segment().await {
        stamp(ledger.now_ns());
        line.push(b'\n');
        if writable && log.write_all(&line).is_err() {
            writable = false;
        }
    }
}

impl Host {
    /// Lets this run start at most `limit` instances instead of [`MAX_INSTANCES_STARTED`].
    ///
    /// [`MAX_INSTANCES_STARTED`]: super::MAX_INSTANCES_STARTED
    pub fn set_instance_limit(&self, limit: u64) {
        self.inner.instance_limit.store(limit, Ordering::SeqCst);
    }

    /// Starts one instance of `version` in `slot` and waits until it is ready; fails at
    /// once when the run has started as many as it may ([`MAX_INSTANCES_STARTED`]).
    ///
    /// [`MAX_INSTANCES_STARTED`]: super::MAX_INSTANCES_STARTED
    pub async fn start_instance(&self, version: &str, slot: &str) -> anyhow::Result<String> {
        self.start_promised(version, slot, None).await
    }

    /// [`Host::start_instance`], keeping `promise` until the instance exists, so the count
    /// of instances never misses it in between.
    pub async fn start_promised(
        &self,
        version: &str,
        slot: &str,
        promise: Option<StartPromise>,
    ) -> anyhow::Result<String> {
        let c = &self.inner.config;
        let id = {
            let mut state = self.state();
            let limit = self.inner.instance_limit.load(Ordering::SeqCst);
            if state.started >= limit {
                let first = !std::mem::replace(&mut state.limit_said, true);
                drop(state);
                if first {
                    self.inner.ledger.record(
                        self.inner
                            .ledger
                            .event(Kind::InstanceLimit, "", version, slot)
                            .with("limit", limit),
                    );
                }
                anyhow::bail!(
                    "not starting another instance of {version}: this run has started {limit} \
                     instances, the most one run may (a release that keeps failing to start, \
                     or a crash loop)"
                );
            }
            state.started += 1;
            let next = state.next_index.entry(version.to_owned()).or_insert(0);
            let id = format!("{}-{}", version.to_lowercase(), next);
            *next += 1;
            id
        };
        let log = std::fs::File::create(c.log_dir.join(format!("{id}.log")))?;
        let mut args: Vec<std::ffi::OsString> = [
            "--listen",
            "127.0.0.1:0",
            "--version",
            version,
            "--instance",
            &id,
            "--slot",
            slot,
            "--sink",
            &c.sink_url,
            "--stash-dir",
        ]
        .into_iter()
        .map(Into::into)
        .collect();
        args.push(c.stash_dir.clone().into());
        args.extend(c.work.args().into_iter().map(Into::into));
        if let Some((bad, flags)) = &c.release {
            if bad == version {
                args.extend(flags.iter().map(Into::into));
            }
        }
        // A process gets the token in its environment; one in this process (a test) has no
        // command line anyone else can read.
        if let (Some(token), crate::app::AppKind::InProcess) = (&c.sink_token, c.program.kind) {
            args.extend(["--sink-token".into(), token.into()]);
        }
        args.extend(
            [
                "--startup-delay-ns".to_owned(),
                c.startup_delay.as_nanos().to_string(),
                "--report-sends".to_owned(),
            ]
            .map(Into::into),
        );
        let launched = self
            .inner
            .launcher
            .launch(args)
            .map_err(|e| anyhow::anyhow!("starting {} failed: {e}", c.program))?;
        let (pid, stdout, exited, control) = (
            launched.pid,
            launched.stdout,
            launched.exited,
            launched.control,
        );
        if let Some(stderr) = launched.stderr {
            let traces = c.traces.clone();
            let (id, version, ledger) = (id.clone(), version.to_owned(), self.inner.ledger.clone());
            tokio::spawn(copy_log(
                stderr,
                log,
                move |t_ns| {
                    if let Some(t) = &traces {
                        t.record(t_ns, &id, &version);
                    }
                },
                ledger,
            ));
        }
        let (address_tx, address_rx) = tokio::sync::oneshot::channel();
        let reader = tokio::spawn(read_stdout(stdout, address_tx, self.inner.ledger.clone()));
        let (exit_tx, exit_rx) = watch::channel(None);
        let view = InstanceView {
            id: id.clone(),
            version: version.to_owned(),
            slot: slot.to_owned(),
            addr: None,
            pid,
            phase: Phase::Starting,
            seq: 0,
        };
        let view = {
            let mut state = self.state();
            state.next_seq += 1;
            let view = InstanceView {
                seq: state.next_seq,
                ..view
            };
            state.instances.insert(
                id.clone(),
                Entry {
                    view: view.clone(),
                    control,
                    exited: exit_rx.clone(),
                    in_flight: Arc::new(AtomicU32::new(0)),
                    http_in_flight: Arc::new(AtomicU32::new(0)),
                },
            );
            // The instance exists and counts now: the promise is kept.
            drop(promise);
            view
        };
        self.inner
            .ledger
            .record(self.record(Kind::InstanceStarted, &view).with("pid", pid));
        // The watcher owns the child: it reaps it, reads the rest of its stdout, and records
        // the items it left in flight and how it ended.
        let host = self.clone();
        let watched = id.clone();
        tokio::spawn(async move {
            let status = exited.await;
            // The pipe ends with the process, unless a child of the app inherited it.
            let unacked = tokio::time::timeout(Duration::from_secs(1), reader)
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or_default();
            host.on_exit(&watched, status, unacked, &exit_tx);
        });
        match tokio::time::timeout(
            c.ready_timeout + c.startup_delay,
            self.wait_ready(&id, address_rx, exit_rx),
        )
        .await
        {
            Ok(Ok(addr)) => {
                let view = {
                    let mut state = self.state();
                    let entry = state.instances.get_mut(&id).expect("inserted above");
                    entry.view.addr = Some(addr);
                    if entry.view.phase == Phase::Starting {
                        entry.view.phase = Phase::Ready;
                    }
                    entry.view.clone()
                };
                self.inner.ledger.record(
                    self.record(Kind::InstanceReady, &view)
                        .with("port", addr.port()),
                );
                self.refresh_timer_lease(None);
                Ok(id)
            }
            Ok(Err(e)) => {
                self.kill(&id).await;
                Err(e)
            }
            Err(_) => {
                self.kill(&id).await;
                anyhow::bail!(
                    "instance {id} was not ready within {:?} (see its log in {})",
                    c.ready_timeout,
                    c.log_dir.display()
                )
            }
        }
    }

    async fn wait_ready(
        &self,
        id: &str,
        address: tokio::sync::oneshot::Receiver<String>,
        mut exited: watch::Receiver<Option<String>>,
    ) -> anyhow::Result<SocketAddr> {
        let first = tokio::select! {
            biased;
            line = address => line.ok(),
            _ = exited.wait_for(Option::is_some) => None,
        };
        let Some(first) = first else {
            anyhow::bail!("instance {id} exited before printing its address");
        };
        let addr: SocketAddr = first
            .trim()
            .parse()
            .map_err(|_| anyhow::anyhow!("instance {id} printed {first:?}, not an address"))?;
        let url = format!("http://{addr}/health");
        loop {
            if exited.borrow().is_some() {
                anyhow::bail!("instance {id} exited while starting");
            }
            if let Ok(resp) = self
                .inner
                .client
                .get(&url)
                .timeout(Duration::from_secs(1))
                .send()
                .await
            {
                if resp.status().is_success() {
                    return Ok(addr);
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn on_exit(
        &self,
        id: &str,
        description: String,
        unacked: Vec<(i64, SendReport)>,
        exit_tx: &watch::Sender<Option<String>>,
    ) {
        let (view, killed_by_us) = {
            let mut state = self.state();
            let Some(entry) = state.instances.get_mut(id) else {
                return;
            };
            let killed = entry.view.phase == Phase::Killing;
            entry.view.phase = Phase::Exited;
            (entry.view.clone(), killed)
        };
        for (t_ns, item) in unacked {
            let e = LedgerEvent::new(t_ns, Kind::ItemSent, &view.id, &view.version, &view.slot)
                .with("source", &item.source)
                .with("m", item.m)
                .with("n", item.n);
            self.inner.ledger.record(e);
        }
        let kind = if killed_by_us {
            Kind::InstanceKilled
        } else {
            Kind::InstanceStopped
        };
        // The launcher says how the process ended as one `key=value` pair (`code=0`,
        // `signal=9`, `error=...`), whose value may hold spaces.
        let e = self.record(kind, &view);
        let e = match description.split_once('=') {
            Some((key, value)) => e.with(key, value),
            None => LedgerEvent {
                detail: description.as_str().into(),
                ..e
            },
        };
        self.inner.ledger.record(e);
        let _ = exit_tx.send(Some(description));
        self.refresh_timer_lease(None);
    }
}
