//! Builds the local platform from a resolved run: the host running the plan's program, its
//! triggers for the scenario's workload, and the scenario's strategy as its update.

use std::sync::Arc;

use super::host::LaunchWith;
use super::queue::QueueOptions;
use super::scale::ScaleOptions;
use super::timer::TimerFunction;
use super::{HostConfig, LocalPlatform, LocalSettings};
use crate::platform::Wiring;
use crate::run_plan::RunPlan;
use crate::scenario::Trigger;

/// The local platform for the plan: the host running the plan's program, its triggers for
/// the scenario's workload, and the scenario's strategy as its update.
pub async fn build(plan: &RunPlan, wiring: Wiring) -> anyhow::Result<LocalPlatform> {
    build_with(plan, wiring, None).await
}

/// [`build`] with the instances started by `launcher` rather than as the program says (the
/// virtual-time platform's), on the wiring's network.
pub async fn build_with(
    plan: &RunPlan,
    wiring: Wiring,
    launcher: Option<LaunchWith>,
) -> anyhow::Result<LocalPlatform> {
    let (s, t, out) = (&plan.scenario, &plan.timing, &plan.out_dir);
    let logs_itself = launcher.as_ref().is_some_and(|l| l.0.logs_itself());
    let Wiring {
        ledger,
        sink_url,
        sink_token,
        net,
        ..
    } = wiring;
    let config = HostConfig {
        program: plan.program.clone(),
        sink_url,
        stash_dir: out.join("stash"),
        log_dir: out.join("instances"),
        work: plan.work.clone(),
        startup_delay: t.cold_start,
        ready_timeout: t.ready_timeout,
        invoke_timeout: t.invoke_timeout,
        sink_token,
        release: s
            .app
            .to_behaviour
            .as_ref()
            .map(|b| (s.app.to.clone(), release_flags(b, t.crash_after, plan.seed))),
        net: net.clone(),
        launcher,
        // An instance in this process logs through the harness's own subscriber: it has no
        // lines of its own to stamp, and an empty traces.csv would read as silence.
        traces: match plan.program.kind {
            _ if logs_itself => None,
            crate::app::AppKind::InProcess => None,
            _ => Some(
                super::traces::Traces::create(&out.join(reports::rundir::TRACES_FILE))
                    .map_err(|e| anyhow::anyhow!("creating traces.csv: {e}"))?,
            ),
        },
    };
    let queue = (s.workload.trigger == Trigger::Queue).then(|| {
        let q = s.queue_settings();
        QueueOptions {
            visibility: t.queue_visibility,
            max_dequeue: q.max_dequeue,
            batch_size: q.batch_size,
        }
    });
    let settings = LocalSettings {
        function: match s.workload.trigger {
            Trigger::Timer => TimerFunction::Tick,
            Trigger::Queue => TimerFunction::Poll,
        },
        first: s.first_expected(),
        until: s.occurrences_fired(),
        use_monitor: s.use_monitor(),
        staging_triggers: s.swap().staging_triggers,
        queue,
        door_timeout: t.door_timeout,
        plan: plan
            .strategy
            .clone()
            .ok_or_else(|| anyhow::anyhow!("the local platform needs a local strategy"))?,
        scale: s.scale.as_ref().map(|sc| ScaleOptions {
            min: sc.min,
            max: sc.max,
            target_messages: sc.target_messages.unwrap_or(s.queue_settings().batch_size),
            target_requests: sc.target_requests,
            interval: t.scale_interval,
            cooldown: t.scale_cooldown,
            scale_in_grace: t.scale_in_grace,
            http_grace: t.http_grace,
        }),
        poll_events: s.workload.events.is_schedule().then(|| {
            Arc::new(
                (0..s.occurrences_fired())
                    .map(|m| s.poll_events(m))
                    .collect(),
            )
        }),
        run_end: t.duration,
    };
    let door_listener = crate::net::serve::Listener::bind(&net, "127.0.0.1:0").await?;
    LocalPlatform::start(config, ledger, door_listener, settings)
}

/// The test function's flags for a bad release.
pub(crate) fn release_flags(
    b: &crate::scenario::Behaviour,
    crash_after: Option<std::time::Duration>,
    seed: u64,
) -> Vec<String> {
    let mut flags = vec![
        "--start".to_owned(),
        b.start.as_str().to_owned(),
        "--fail-rate".to_owned(),
        b.fail_rate.to_string(),
        "--http-fail-rate".to_owned(),
        b.http_fail_rate.to_string(),
        "--slowdown".to_owned(),
        b.slowdown.to_string(),
        "--fault-seed".to_owned(),
        seed.to_string(),
    ];
    if b.hold_mib > 0 {
        flags.push("--hold-mib".to_owned());
        flags.push(b.hold_mib.to_string());
    }
    if let Some(c) = crash_after {
        flags.push("--crash-after-ns".to_owned());
        flags.push(c.as_nanos().to_string());
    }
    flags
}
