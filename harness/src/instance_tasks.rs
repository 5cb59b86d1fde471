//! The tasks of one instance that runs inside the harness on the run's own runtime (the
//! virtual-time platform's instances): spawned together, frozen together and killed
//! together, as the kernel does to a process's threads on SIGSTOP and SIGKILL.
//!
//! Code of the test function spawns through [`spawn`] rather than `tokio::spawn`: inside an
//! instance's group the task joins it (and so do the tasks it spawns); outside any group (a
//! real process, where the kernel does this) it is a plain `tokio::spawn`. A frozen group's
//! tasks are not polled until thawed, so their timers fire late, all at once, as a
//! SIGSTOPped process's do; a killed group's tasks are dropped where they stand.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use tokio::task::{AbortHandle, JoinHandle};
use tokio_util::sync::CancellationToken;

tokio::task_local! {
    static GROUP: InstanceTasks;
}

/// One instance's tasks; cheap to clone.
#[derive(Clone, Default)]
pub struct InstanceTasks {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    killed: CancellationToken,
    frozen: AtomicBool,
    /// Tasks waiting for the thaw.
    waiting: Mutex<Vec<Waker>>,
    tasks: Mutex<Vec<AbortHandle>>,
}

impl InstanceTasks {
    pub fn new() -> InstanceTasks {
        InstanceTasks::default()
    }

    /// The group the calling task belongs to, if any.
    pub fn current() -> Option<InstanceTasks> {
        GROUP.try_with(Clone::clone).ok()
    }

    /// Runs `future` as a task of this group.
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let gated = Gated {
            group: self.clone(),
            future: Box::pin(future),
        };
        let handle = tokio::spawn(GROUP.scope(self.clone(), gated));
        let mut tasks = self.inner.tasks.lock().unwrap_or_else(|e| e.into_inner());
        // Keeps the list as long as the live tasks only.
        tasks.retain(|t| !t.is_finished());
        tasks.push(handle.abort_handle());
        if self.inner.killed.is_cancelled() {
            handle.abort();
        }
        handle
    }

    /// SIGKILL: every task of the group is dropped where it stands.
    pub fn kill(&self) {
        self.inner.killed.cancel();
        let tasks =
            std::mem::take(&mut *self.inner.tasks.lock().unwrap_or_else(|e| e.into_inner()));
        for t in tasks {
            t.abort();
        }
        self.thaw();
    }

    pub fn is_killed(&self) -> bool {
        self.inner.killed.is_cancelled()
    }

    /// Resolves once the group is killed.
    pub fn killed(&self) -> tokio_util::sync::WaitForCancellationFutureOwned {
        self.inner.killed.clone().cancelled_owned()
    }

    /// SIGSTOP: no task of the group runs until [`InstanceTasks::thaw`].
    pub fn freeze(&self) {
        self.inner.frozen.store(true, Ordering::SeqCst);
    }

    /// SIGCONT.
    pub fn thaw(&self) {
        self.inner.frozen.store(false, Ordering::SeqCst);
        let waiting =
            std::mem::take(&mut *self.inner.waiting.lock().unwrap_or_else(|e| e.into_inner()));
        for w in waiting {
            w.wake();
        }
    }

    pub fn is_frozen(&self) -> bool {
        self.inner.frozen.load(Ordering::SeqCst)
    }
}

/// Spawns `future` in the calling task's group, or as a plain task outside any.
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match InstanceTasks::current() {
        Some(group) => group.spawn(future),
        None => tokio::spawn(future),
    }
}

/// A future polled only while its group is not frozen.
struct Gated<F: Future> {
    group: InstanceTasks,
    future: Pin<Box<F>>,
}

impl<F: Future> Future for Gated<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        if self.group.is_frozen() {
            let mut waiting = self
                .group
                .inner
                .waiting
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            // Checked again under the lock: a thaw in between would otherwise be missed.
            if self.group.is_frozen() {
                waiting.push(cx.waker().clone());
                return Poll::Pending;
            }
        }
        self.future.as_mut().poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn a_killed_group_drops_its_tasks_and_their_children() {
        let group = InstanceTasks::new();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<&'static str>();
        let t = tx.clone();
        group.spawn(async move {
            // A child spawned from inside joins the group.
            let t2 = t.clone();
            spawn(async move {
                tokio::time::sleep(Duration::from_secs(2)).await;
                let _ = t2.send("child");
            });
            tokio::time::sleep(Duration::from_secs(2)).await;
            let _ = t.send("parent");
        });
        let outside = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(2)).await;
            let _ = tx.send("outside");
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        group.kill();
        outside.await.unwrap();
        tokio::time::sleep(Duration::from_secs(5)).await;
        let mut got = Vec::new();
        while let Ok(m) = rx.try_recv() {
            got.push(m);
        }
        assert_eq!(got, vec!["outside"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_frozen_group_runs_late_once_thawed() {
        let group = InstanceTasks::new();
        let start = tokio::time::Instant::now();
        let done = group.spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            tokio::time::Instant::now()
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        group.freeze();
        tokio::time::sleep(Duration::from_millis(500)).await;
        group.thaw();
        let at = done.await.unwrap();
        // It would have woken at 100 ms; frozen from 50 to 550 ms, it runs at the thaw.
        assert_eq!(at.duration_since(start), Duration::from_millis(550));
    }
}
