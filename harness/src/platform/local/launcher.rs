//! How the host starts an instance: a [`Launcher`] turns the instance's command line into a
//! running instance, with its stdout (the address, then send reports), a future of how it
//! ended, and the two signals the host sends (SIGTERM, SIGKILL).
//!
//! [`ProcessLauncher`] runs a real OS process, each in its own process group with
//! `PR_SET_PDEATHSIG`, as users run their apps. [`InProcessLauncher`] runs the built-in test
//! function on a thread of its own with its own single-threaded runtime, for tests of the
//! strategies that need no process start-up: SIGTERM fires its cancellation token, and
//! SIGKILL drops its runtime, every task of it at once, as the kernel would.

use std::ffi::OsString;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use tokio::io::AsyncRead;
use tokio_util::sync::CancellationToken;

use crate::app::AppProgram;
use crate::platform::process_group::{kill_group, own_group_dying_with_us};

/// A signal the host sends an instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// The cancellation token: stop taking work, end the runs as `--on-cancel` says.
    Term,
    /// Gone at once, mid-work.
    Kill,
    /// Frozen where it stands (a fault's pause); a process only.
    Stop,
    /// Thawed after a [`Signal::Stop`].
    Cont,
}

/// How to signal a running instance.
pub trait Control: Send + Sync {
    fn signal(&self, signal: Signal);

    /// Whether [`Signal::Stop`] can freeze it: a thread of the harness cannot be.
    fn can_stop(&self) -> bool {
        true
    }
}

/// A started instance.
pub struct Launched {
    /// The OS process id (0 in process).
    pub pid: u32,
    /// Its stdout: the address on the first line, then send reports.
    pub stdout: Pin<Box<dyn AsyncRead + Send>>,
    /// Its stderr, for the host to log and stamp line by line; `None` when the instance
    /// writes its log itself (in process, through the harness's own subscriber).
    pub stderr: Option<Pin<Box<dyn AsyncRead + Send>>>,
    /// Resolves when it has ended, to how: `code=N`, `signal=N` or `error=TEXT`.
    pub exited: Pin<Box<dyn Future<Output = String> + Send>>,
    pub control: Arc<dyn Control>,
}

/// Starts instances.
pub trait Launcher: Send + Sync {
    /// Starts one instance with the host's flags (`--listen ... --version ...`); its stderr
    /// is [`Launched::stderr`], for the host to copy to its log.
    fn launch(&self, args: Vec<OsString>) -> std::io::Result<Launched>;

    /// Whether its instances log through the harness's own subscriber rather than on a
    /// stderr of their own (the virtual-time platform's): no lines to stamp in `traces.csv`.
    fn logs_itself(&self) -> bool {
        false
    }
}

/// The launcher for a program: in process for [`crate::app::AppKind::InProcess`], else a
/// process.
pub fn for_program(program: &AppProgram, env: Vec<(String, String)>) -> Arc<dyn Launcher> {
    if program.kind == crate::app::AppKind::InProcess {
        Arc::new(InProcessLauncher)
    } else {
        Arc::new(ProcessLauncher {
            program: program.program.clone(),
            args: program.args.clone(),
            env,
        })
    }
}

/// Real OS processes.
pub struct ProcessLauncher {
    pub program: PathBuf,
    /// Arguments before the host's own (`testfn` for the built-in function).
    pub args: Vec<OsString>,
    /// Environment variables every instance gets (secrets: never on a command line, which
    /// every user of the machine can read in /proc).
    pub env: Vec<(String, String)>,
}

struct ProcessGroup(u32);

impl Control for ProcessGroup {
    fn signal(&self, signal: Signal) {
        let signal = match signal {
            Signal::Term => libc::SIGTERM,
            Signal::Kill => libc::SIGKILL,
            Signal::Stop => libc::SIGSTOP,
            Signal::Cont => libc::SIGCONT,
        };
        kill_group(self.0, signal);
    }
}

impl Launcher for ProcessLauncher {
    fn launch(&self, args: Vec<OsString>) -> std::io::Result<Launched> {
        let mut cmd = tokio::process::Command::new(&self.program);
        cmd.args(&self.args)
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        own_group_dying_with_us(&mut cmd);
        let mut child = cmd.spawn()?;
        let pid = child.id().unwrap_or(0);
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let exited = async move {
            use std::os::unix::process::ExitStatusExt;
            match child.wait().await {
                Ok(s) => match (s.code(), s.signal()) {
                    (Some(code), _) => format!("code={code}"),
                    (None, Some(sig)) => format!("signal={sig}"),
                    _ => "unknown".into(),
                },
                Err(e) => format!("error={e}"),
            }
        };
        Ok(Launched {
            pid,
            stdout: Box::pin(stdout),
            stderr: Some(Box::pin(stderr)),
            exited: Box::pin(exited),
            control: Arc::new(ProcessGroup(pid)),
        })
    }
}

/// The built-in test function on a thread of the harness's own process.
pub struct InProcessLauncher;

/// The controls of one in-process instance.
struct InProcess {
    /// SIGTERM: the function's cancellation token.
    term: CancellationToken,
    /// SIGKILL: ends the instance's runtime, and with it every task it had.
    kill: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
}

impl Control for InProcess {
    fn signal(&self, signal: Signal) {
        match signal {
            Signal::Term => self.term.cancel(),
            Signal::Kill => {
                if let Some(kill) = self.kill.lock().unwrap_or_else(|e| e.into_inner()).take() {
                    let _ = kill.send(());
                }
            }
            // A thread cannot be frozen from outside; the host asks `can_stop` first.
            Signal::Stop | Signal::Cont => {}
        }
    }

    fn can_stop(&self) -> bool {
        false
    }
}

/// The in-process function's command line, parsed as `harness testfn` parses it.
#[derive(clap::Parser)]
#[command(name = "testfn", disable_version_flag = true)]
struct InProcessCli {
    #[command(flatten)]
    args: crate::testfn::Args,
}

/// The built-in function's flags as the host passes them, parsed as `harness testfn` does.
pub fn parse_testfn_args(args: Vec<OsString>) -> std::io::Result<crate::testfn::Args> {
    use clap::Parser;
    InProcessCli::try_parse_from(std::iter::once(OsString::from("testfn")).chain(args))
        .map(|cli| cli.args)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))
}

/// Its stdout, a pipe in memory: the function writes whole lines on the sender, the host
/// reads the other end, which ends once every sender is gone (the instance ended).
pub fn stdout_pipe() -> (crate::testfn::LineOut, Pin<Box<dyn AsyncRead + Send>>) {
    let (lines_tx, mut lines_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let (reader, mut writer) = tokio::io::duplex(1 << 16);
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        while let Some(line) = lines_rx.recv().await {
            if writer.write_all(line.as_bytes()).await.is_err() {
                break;
            }
        }
    });
    (crate::testfn::LineOut::channel(lines_tx), Box::pin(reader))
}

impl Launcher for InProcessLauncher {
    fn launch(&self, args: Vec<OsString>) -> std::io::Result<Launched> {
        let args = parse_testfn_args(args)?;
        let (out, reader) = stdout_pipe();
        let term = CancellationToken::new();
        let (kill_tx, kill_rx) = tokio::sync::oneshot::channel::<()>();
        let (exit_tx, exit_rx) = tokio::sync::oneshot::channel::<String>();
        let token = term.clone();
        std::thread::Builder::new()
            .name("testfn".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = exit_tx.send(format!("error={e}"));
                        return;
                    }
                };
                let how = runtime.block_on(async move {
                    tokio::select! {
                        biased;
                        r = crate::testfn::run_with(args, out, token, crate::testfn::Place::process()) => match r {
                            Ok(()) => "code=0".to_owned(),
                            Err(e) => {
                                tracing::warn!(error = %e, "the in-process function failed");
                                "code=1".to_owned()
                            }
                        },
                        _ = kill_rx => format!("signal={}", libc::SIGKILL),
                    }
                });
                // A current-thread runtime runs nothing once block_on returns: dropping it
                // drops every task the instance had, mid-work, like a SIGKILL.
                runtime.shutdown_background();
                let _ = exit_tx.send(how);
            })?;
        Ok(Launched {
            pid: 0,
            stdout: reader,
            stderr: None,
            exited: Box::pin(async move { exit_rx.await.unwrap_or_else(|_| "unknown".into()) }),
            control: Arc::new(InProcess {
                term,
                kill: Mutex::new(Some(kill_tx)),
            }),
        })
    }
}
