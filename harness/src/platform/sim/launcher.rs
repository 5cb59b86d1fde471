//! Starting an instance of the built-in test function as a group of tasks on the run's own
//! runtime: after the modelled process start, the function's own `main`
//! ([`crate::testfn::run_with`]) runs on the in-memory network and the run's clock. SIGTERM
//! fires its cancellation token, SIGKILL drops its tasks where they stand, SIGSTOP and
//! SIGCONT freeze and thaw them ([`InstanceTasks`]).

use std::ffi::OsString;
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use super::Model;
use crate::clock::Clock;
use crate::dist::Rng;
use crate::instance_tasks::InstanceTasks;
use crate::net::Net;
use crate::platform::local::launcher::{
    parse_testfn_args, stdout_pipe, Control, Launched, Launcher, Signal,
};
use crate::testfn::Place;

pub struct SimLauncher {
    net: Net,
    clock: Clock,
    model: Model,
    rng: Mutex<Rng>,
}

impl SimLauncher {
    pub fn new(net: Net, clock: Clock, model: Model, seed: u64) -> SimLauncher {
        SimLauncher {
            net,
            clock,
            model,
            rng: Mutex::new(Rng::new(seed)),
        }
    }
}

struct Signals {
    term: CancellationToken,
    group: InstanceTasks,
}

impl Control for Signals {
    fn signal(&self, signal: Signal) {
        match signal {
            Signal::Term => self.term.cancel(),
            Signal::Kill => self.group.kill(),
            Signal::Stop => self.group.freeze(),
            Signal::Cont => self.group.thaw(),
        }
    }
}

impl Launcher for SimLauncher {
    fn logs_itself(&self) -> bool {
        true
    }

    fn launch(&self, args: Vec<OsString>) -> std::io::Result<Launched> {
        let args = parse_testfn_args(args)?;
        let (out, stdout) = stdout_pipe();
        let term = CancellationToken::new();
        let group = InstanceTasks::new();
        let (start, exit) = {
            let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
            // Drawn whether or not a replay replaces them, so a replay moves no other draw.
            let (start, exit) = (
                self.model.process_start.sample(&mut rng),
                self.model.process_exit.sample(&mut rng),
            );
            let measured = args
                .instance
                .as_deref()
                .and_then(|id| self.model.instances.get(id));
            (
                measured.and_then(|m| m.start).map_or(start, |s| s.0),
                measured.and_then(|m| m.exit).map_or(exit, |s| s.0),
            )
        };
        let place = Place {
            net: self.net.clone(),
            clock: self.clock,
            pid: 0,
        };
        let token = term.clone();
        let main = group.spawn(async move {
            tokio::time::sleep(start).await;
            match crate::testfn::run_with(args, out, token, place).await {
                Ok(()) => "code=0".to_owned(),
                Err(e) => {
                    tracing::debug!(error = %e, "the simulated function failed");
                    "code=1".to_owned()
                }
            }
        });
        let (exit_tx, exit_rx) = tokio::sync::oneshot::channel::<String>();
        let reaper = group.clone();
        tokio::spawn(async move {
            let how = main
                .await
                .unwrap_or_else(|_| format!("signal={}", libc::SIGKILL));
            // A process that returns from main ends every thread it had.
            reaper.kill();
            tokio::time::sleep(exit).await;
            let _ = exit_tx.send(how);
        });
        Ok(Launched {
            pid: 0,
            stdout,
            stderr: None,
            exited: Box::pin(async move { exit_rx.await.unwrap_or_else(|_| "unknown".into()) }),
            control: Arc::new(Signals { term, group }),
        })
    }
}
