//! The host's calls to an instance: invocations of its functions (recorded in the ledger),
//! and the typed calls a strategy makes (warm-up, the app's drain mode). Nothing else sends
//! HTTP to an instance.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use reports::ledger::Kind;

use super::{Host, InFlight, Outcome, Phase};
use crate::protocol::{
    Invocation, Message, Mode, ModeAnswer, ModeRequest, PollResponse, TickRequest, TickResponse,
};

/// How long one request to an app's admin endpoint may take.
const MODE_TIMEOUT: Duration = Duration::from_secs(1);

/// Why an app's mode could not be set.
#[derive(Debug, thiserror::Error)]
pub enum ModeError {
    #[error(
        "the app on {id} has no admin mode endpoint: POST /admin/mode answered {status} (an \
         app to be drained must serve GET and POST /admin/mode; see the test function's protocol)"
    )]
    Unsupported { id: String, status: String },
    #[error("the app on {id} refused the mode: POST /admin/mode answered {status}")]
    Refused { id: String, status: String },
    #[error("the app's admin endpoint could not be reached: {0}")]
    Unreachable(String),
}

impl Host {
    /// Runs timer occurrence `m` of the loop workload on instance `id`.
    pub async fn invoke_tick(
        &self,
        id: &str,
        m: u64,
        scheduled_ns: i64,
        catch_up: bool,
    ) -> Outcome {
        let request = TickRequest {
            m,
            scheduled_ns,
            catch_up,
        };
        self.invoke(id, Invocation::Tick(request)).await.0
    }

    /// Invokes a function on instance `id`, recording the invocation in the ledger; returns
    /// how it ended and, for a poll, the messages it returned.
    pub async fn invoke(&self, id: &str, call: Invocation) -> (Outcome, Vec<Message>) {
        let (view, in_flight) = {
            let state = self.state();
            match state.instances.get(id) {
                Some(e) => (e.view.clone(), InFlight::new(&e.in_flight)),
                None => {
                    return (
                        Outcome::Failed {
                            reason: "no_such_instance".into(),
                        },
                        Vec::new(),
                    )
                }
            }
        };
        let inv = self.inner.next_invocation.fetch_add(1, Ordering::Relaxed);
        let mut begun = self
            .record(Kind::InvocationBegun, &view)
            .with("inv", inv)
            .with("source", call.source())
            .with("m", call.m());
        if let Some(n) = call.n() {
            begun = begun.with("n", n);
        }
        if let Some(d) = call.dequeue() {
            begun = begun.with("dequeue", d);
        }
        if call.catch_up() {
            begun = begun.with("catch_up", true);
        }
        self.inner.ledger.record(begun);
        let mut messages = Vec::new();
        let outcome = match view.addr {
            None => Outcome::Failed {
                reason: "not_ready".into(),
            },
            Some(addr) => {
                let sent = self
                    .inner
                    .client
                    .post(format!("http://{addr}{}", call.path()))
                    .header(
                        axum::http::header::CONTENT_TYPE,
                        axum::http::HeaderValue::from_static("application/json"),
                    )
                    .body(call.body())
                    .send()
                    .await;
                match sent {
                    Ok(resp) => {
                        let status = resp.status();
                        let bytes = resp.bytes().clone();
                        if status.is_success() && matches!(call, Invocation::Poll { .. }) {
                            // The output binding: what the run returned, for the host to enqueue.
                            messages = serde_json::from_slice::<PollResponse>(&bytes)
                                .map(|p| p.messages)
                                .unwrap_or_default();
                        }
                        let body: TickResponse = serde_json::from_slice(&bytes).unwrap_or_default();
                        if status.is_success() {
                            Outcome::Ok {
                                sent: body.sent,
                                stashed: body.stashed,
                            }
                        } else if body.cancelled {
                            Outcome::Killed {
                                reason: format!("cancelled_stashed_{}", body.stashed),
                            }
                        } else {
                            Outcome::Failed {
                                reason: body
                                    .error
                                    .unwrap_or_else(|| format!("status_{}", status.as_u16())),
                            }
                        }
                    }
                    Err(e) => {
                        let dead = self.instance(id).is_some_and(|v| {
                            matches!(v.phase, Phase::Killing | Phase::Exited | Phase::Stopping)
                        });
                        if dead {
                            Outcome::Killed {
                                reason: "instance_gone".into(),
                            }
                        } else if e.is_timeout() {
                            Outcome::Failed {
                                reason: "timeout".into(),
                            }
                        } else {
                            Outcome::Failed {
                                reason: "connection_error".into(),
                            }
                        }
                    }
                }
            }
        };
        drop(in_flight);
        let (kind, reason) = match &outcome {
            Outcome::Ok { .. } => (Kind::InvocationOk, None),
            Outcome::Failed { reason } => (Kind::InvocationFailed, Some(reason.clone())),
            Outcome::Killed { reason } => (Kind::InvocationKilled, Some(reason.clone())),
        };
        let view = self.instance(id).unwrap_or(view);
        let mut ended = self.record(kind, &view).with("inv", inv);
        if let Outcome::Ok { sent, stashed } = outcome {
            ended = ended.with("sent", sent);
            if stashed > 0 {
                ended = ended.with("stashed", stashed);
            }
        }
        if let Some(reason) = reason {
            ended = ended.with("reason", reason);
        }
        self.inner.ledger.record(ended);
        (outcome, messages)
    }

    /// The address of a live instance, or why there is none.
    fn addr_of(&self, id: &str) -> anyhow::Result<SocketAddr> {
        self.instance(id)
            .filter(|v| v.phase != Phase::Exited)
            .and_then(|v| v.addr)
            .ok_or_else(|| anyhow::anyhow!("instance {id} has no address (not ready, or gone)"))
    }

    /// Sends an instance its warm-up request (`GET path`) until it answers, at most
    /// `1 + retries` times, each within `timeout`. Any answer counts, as on the platform:
    /// only silence fails a warm-up.
    pub async fn warm_up(
        &self,
        id: &str,
        path: &str,
        timeout: Duration,
        retries: u32,
    ) -> anyhow::Result<bool> {
        let url = format!("http://{}{path}", self.addr_of(id)?);
        for _ in 0..=retries {
            let answer = self.inner.client.get(&url).timeout(timeout).send().await;
            if answer.is_ok() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Asks the app on an instance to enter `mode` (`POST /admin/mode`, the instance's own
    /// endpoint, never through the front door).
    pub async fn set_mode(&self, id: &str, mode: Mode) -> Result<(), ModeError> {
        let addr = self
            .addr_of(id)
            .map_err(|e| ModeError::Unreachable(e.to_string()))?;
        let answer = self
            .inner
            .client
            .post(format!("http://{addr}/admin/mode"))
            .timeout(MODE_TIMEOUT)
            .json(&ModeRequest { mode })
            .send()
            .await
            .map_err(|e| ModeError::Unreachable(format!("{id}: {e}")))?;
        let status = answer.status();
        match status.as_u16() {
            // An app without the endpoint cannot be drained: say so now, not after the run.
            404 | 405 | 501 => Err(ModeError::Unsupported {
                id: id.to_owned(),
                status: status.to_string(),
            }),
            _ if !status.is_success() => Err(ModeError::Refused {
                id: id.to_owned(),
                status: status.to_string(),
            }),
            _ => Ok(()),
        }
    }

    /// The app's mode on an instance (`GET /admin/mode`); `None` when it did not answer
    /// with one.
    pub async fn mode(&self, id: &str) -> Option<Mode> {
        let addr = self.addr_of(id).ok()?;
        let answer = self
            .inner
            .client
            .get(format!("http://{addr}/admin/mode"))
            .timeout(MODE_TIMEOUT)
            .send()
            .await
            .ok()?;
        answer.json::<ModeAnswer>().ok().map(|a| a.mode)
    }
}
