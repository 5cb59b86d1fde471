//! The test function as an Azure Functions custom handler: what the Functions host gives it
//! and how it answers the host (deploy/azure-functions/README.md, "The app as a custom
//! handler").
//!
//! - [`HostEnv`]: what a process of its own reads from its environment when no flag says
//!   it: the port the host calls (`FUNCTIONS_CUSTOMHANDLER_PORT`), a per-instance id
//!   (`WEBSITE_INSTANCE_ID`, else the host name) and how the host's timer invocations are
//!   numbered (`HARNESS_TIMER_*`). Only `harness testfn`'s own process reads it; an
//!   instance in the harness's process (the in-process and virtual-time platforms) is
//!   always given `--listen` and `--instance`, and never the host's payload.
//! - [`TickBody`]: a body on `POST /tick`, either the harness's own [`TickRequest`] or the
//!   host's invocation `{"Data": {"timer": ...}, "Metadata": {"sys": {"UtcNow": ...}}}`,
//!   or the reason it is neither (a 4xx: nothing runs).
//! - [`HostInvocation::answer`]: the host's answer `{"Outputs": {}, "Logs": [...],
//!   "ReturnValue": ...}`, for a run and for an occurrence outside the run's window.

use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};

use super::config::Schedule;
use super::rfc3339;
use crate::protocol::{TickRequest, TickResponse};

/// What the function learns from its process's environment.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HostEnv {
    /// The port the Functions host calls: `FUNCTIONS_CUSTOMHANDLER_PORT`, else the older
    /// `FUNCTIONS_HTTPWORKER_PORT`.
    pub port: Option<u16>,
    /// A per-instance id: `WEBSITE_INSTANCE_ID` (App Service's id of the VM the site runs
    /// on, different per instance), else the host name; cut to the sink's charset.
    pub instance: Option<String>,
    /// How the Functions timer's invocations are numbered, and the run's window:
    /// `HARNESS_TIMER_EPOCH_NS`, `HARNESS_TIMER_PERIOD_NS` (both, or none),
    /// `HARNESS_TIMER_FIRST` (default 0) and `HARNESS_TIMER_UNTIL` (default: no end).
    pub timer: Option<Schedule>,
}

impl HostEnv {
    /// Reads the variables through `var` (an unset or empty one is absent), and
    /// `host_name` for the instance's fallback. A variable that is set to something that
    /// does not parse is an error naming it: better to fail at start than to number
    /// every invocation wrongly.
    pub fn read(
        var: impl Fn(&str) -> Option<String>,
        host_name: Option<String>,
    ) -> Result<HostEnv, String> {
        let get = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let parse = |name: &str| -> Result<Option<u64>, String> {
            get(name)
                .map(|v| {
                    v.trim()
                        .parse::<u64>()
                        .map_err(|e| format!("{name}={v:?}: {e}"))
                })
                .transpose()
        };
        let port = match get("FUNCTIONS_CUSTOMHANDLER_PORT")
            .map(|v| ("FUNCTIONS_CUSTOMHANDLER_PORT", v))
            .or_else(|| get("FUNCTIONS_HTTPWORKER_PORT").map(|v| ("FUNCTIONS_HTTPWORKER_PORT", v)))
        {
            None => None,
            Some((name, v)) => Some(
                v.trim()
                    .parse::<u16>()
                    .map_err(|e| format!("{name}={v:?} is not a port: {e}"))?,
            ),
        };
        let instance = get("WEBSITE_INSTANCE_ID")
            .or(host_name.filter(|h| !h.trim().is_empty()))
            .map(|id| instance_name(id.trim()));
        let epoch = get("HARNESS_TIMER_EPOCH_NS")
            .map(|v| {
                v.trim()
                    .parse::<i64>()
                    .map_err(|e| format!("HARNESS_TIMER_EPOCH_NS={v:?}: {e}"))
            })
            .transpose()?;
        let timer = match (epoch, parse("HARNESS_TIMER_PERIOD_NS")?) {
            (None, None) => None,
            (Some(_), Some(0)) => return Err("HARNESS_TIMER_PERIOD_NS must be positive".into()),
            (Some(epoch_ns), Some(period_ns)) => Some(Schedule {
                epoch_ns,
                period: std::time::Duration::from_nanos(period_ns),
                first: parse("HARNESS_TIMER_FIRST")?.unwrap_or(0),
                until: parse("HARNESS_TIMER_UNTIL")?,
            }),
            _ => {
                return Err("HARNESS_TIMER_EPOCH_NS and HARNESS_TIMER_PERIOD_NS go together".into())
            }
        };
        Ok(HostEnv {
            port,
            instance,
            timer,
        })
    }

    /// [`HostEnv::read`] on this process's environment and host name.
    pub fn of_process() -> Result<HostEnv, String> {
        // Linux's host name (the harness runs on Linux); a container's is its own.
        let host_name = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .or_else(|| std::env::var("HOSTNAME").ok());
        HostEnv::read(|name| std::env::var(name).ok(), host_name)
    }

    /// Where to listen when `--listen` is not given: the host's port on the loopback
    /// (it calls `http://127.0.0.1:PORT`), else any free port.
    pub fn listen(&self) -> String {
        format!("127.0.0.1:{}", self.port.unwrap_or(0))
    }
}

/// `id` in the sink's name charset (`[A-Za-z0-9_.:-]`, at most 128 bytes): a host name
/// with anything else would have every item refused.
fn instance_name(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-') {
                c
            } else {
                '-'
            }
        })
        .take(sink::item::MAX_NAME_BYTES)
        .collect()
}

/// A body on `POST /tick` (and `POST /api/tick`).
#[derive(Debug)]
pub enum TickBody {
    /// The harness's own: the local platform's and the harness driver's.
    Harness(TickRequest),
    /// The Functions host's timer invocation.
    Host(HostInvocation),
}

/// Why a body is no invocation: its status (400 not JSON, 422 neither shape) and reason.
#[derive(Debug, PartialEq)]
pub struct Refusal {
    pub status: StatusCode,
    pub reason: String,
}

impl Refusal {
    fn unprocessable(reason: String) -> Refusal {
        Refusal {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            reason,
        }
    }

    /// `{"error": reason}`, with no `instance`: nothing ran (the harness driver reads an
    /// answer without one as no app's).
    pub fn body(&self) -> Value {
        json!({ "error": self.reason })
    }
}

/// The Functions host's invocation of the timer function, as far as the function reads it.
#[derive(Clone, Debug, PartialEq)]
pub struct HostInvocation {
    /// `Metadata.sys.UtcNow`: when the host invoked it.
    pub utc_now_ns: i64,
    /// `Data.timer.IsPastDue`: a late invocation, the host's catch-up.
    pub is_past_due: bool,
}

/// `{"Data": {"timer": <TimerInfo>}, "Metadata": {"sys": {...}, ...}}`. `timer` is the
/// binding's name in `tick/function.json`; `Schedule` and `ScheduleStatus` are not read.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HostPayload {
    data: HostData,
    metadata: HostMetadata,
}

#[derive(Deserialize)]
struct HostData {
    timer: TimerInfo,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TimerInfo {
    is_past_due: bool,
}

#[derive(Deserialize)]
struct HostMetadata {
    sys: SysMetadata,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SysMetadata {
    utc_now: String,
}

impl TickBody {
    /// Reads a body: an object with `Data` or `Metadata` is the host's, anything else must
    /// be a [`TickRequest`]. The content type is not checked: the body says what it is.
    pub fn parse(bytes: &[u8]) -> Result<TickBody, Refusal> {
        let value: Value = serde_json::from_slice(bytes).map_err(|e| Refusal {
            status: StatusCode::BAD_REQUEST,
            reason: format!("the body is not JSON: {e}"),
        })?;
        let from_host = value
            .as_object()
            .is_some_and(|o| o.contains_key("Data") || o.contains_key("Metadata"));
        if !from_host {
            return serde_path_to_error::deserialize(value)
                .map(TickBody::Harness)
                .map_err(|e| {
                    Refusal::unprocessable(format!(
                        "not a tick request {{\"m\", \"scheduled_ns\", \"catch_up\"}}: {}: {}",
                        path_of(&e),
                        e.inner()
                    ))
                });
        }
        let payload: HostPayload = serde_path_to_error::deserialize(value).map_err(|e| {
            Refusal::unprocessable(format!(
                "not a Functions timer invocation {{\"Data\": {{\"timer\": {{\"IsPastDue\", ...}}}}, \
                 \"Metadata\": {{\"sys\": {{\"UtcNow\", ...}}}}}}: {}: {}",
                path_of(&e),
                e.inner()
            ))
        })?;
        let utc_now_ns = rfc3339::parse_ns(&payload.metadata.sys.utc_now)
            .map_err(|e| Refusal::unprocessable(format!("Metadata.sys.UtcNow: {e}")))?;
        Ok(TickBody::Host(HostInvocation {
            utc_now_ns,
            is_past_due: payload.data.timer.is_past_due,
        }))
    }
}

fn path_of<E>(e: &serde_path_to_error::Error<E>) -> String {
    match e.path().to_string().as_str() {
        "." => "the body".into(),
        path => path.to_owned(),
    }
}

/// What the function makes of a host invocation, given the schedule.
#[derive(Debug, PartialEq)]
pub enum Numbered {
    /// Run it as this occurrence.
    Run(TickRequest),
    /// Outside the run's window (or before the epoch: no `m`): answered, not run.
    Outside { m: Option<u64> },
}

impl HostInvocation {
    /// The occurrence it is: `UtcNow` rounded down to the period (the timer fires on the
    /// schedule's multiples, and the invocation comes a little after), and whether it is
    /// in the window.
    pub fn numbered(&self, schedule: &Schedule) -> Numbered {
        match schedule.occurrence_at(self.utc_now_ns) {
            Some(m) if schedule.in_window(m) => Numbered::Run(TickRequest {
                m,
                scheduled_ns: schedule.scheduled_ns(m),
                catch_up: self.is_past_due,
            }),
            m => Numbered::Outside { m },
        }
    }

    /// The answer to a run: the run's own status (a 500 or 503 is a failed invocation to
    /// the host) and `{"Outputs": {}, "Logs": [...], "ReturnValue": ...}`, whose
    /// `ReturnValue` is the answer the harness gets to the same run, with its `m`.
    pub fn answer(request: &TickRequest, status: StatusCode, body: &TickResponse) -> Value {
        let mut log = format!("sent {}", body.sent);
        if body.stashed > 0 {
            log += &format!(", stashed {}", body.stashed);
        }
        if body.cancelled {
            log = format!("cancelled: {log}");
        } else if let Some(error) = &body.error {
            log = format!("failed ({error}): {log}");
        } else if !status.is_success() {
            log = format!("failed: {log}");
        }
        let mut value = serde_json::to_value(body).unwrap_or_else(|_| json!({}));
        value["m"] = request.m.into();
        value["scheduled_ns"] = request.scheduled_ns.into();
        value["catch_up"] = request.catch_up.into();
        json!({ "Outputs": {}, "Logs": [log], "ReturnValue": value })
    }

    /// The answer to an occurrence outside the run's window: a success (the host's timer
    /// fires from deploy to teardown; only the run's window is work) that says so.
    pub fn answer_outside(m: Option<u64>, schedule: &Schedule, who: (&str, &str)) -> Value {
        let window = match schedule.until {
            Some(until) => format!("[{}, {until})", schedule.first),
            None => format!("[{}, ...)", schedule.first),
        };
        let log = match m {
            Some(m) => format!("occurrence {m} is outside the run's window {window}: not run"),
            None => "before the schedule's epoch: not run".to_owned(),
        };
        json!({
            "Outputs": {},
            "Logs": [log],
            "ReturnValue": {
                "outside_window": true,
                "m": m,
                "first": schedule.first,
                "until": schedule.until,
                "sent": 0,
                "instance": who.0,
                "version": who.1,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn the_host_environment_gives_the_port_the_instance_and_the_schedule() {
        let read = HostEnv::read(
            env(&[
                ("FUNCTIONS_CUSTOMHANDLER_PORT", "7071"),
                ("FUNCTIONS_HTTPWORKER_PORT", "7072"),
                ("WEBSITE_INSTANCE_ID", "4e1a9c"),
                ("HARNESS_TIMER_EPOCH_NS", "1767225600000000000"),
                ("HARNESS_TIMER_PERIOD_NS", "10000000000"),
                ("HARNESS_TIMER_FIRST", "6"),
                // deploy.sh writes an empty one when the run has no end.
                ("HARNESS_TIMER_UNTIL", ""),
            ]),
            Some("host-1".into()),
        )
        .unwrap();
        assert_eq!(read.port, Some(7071), "the newer name first");
        assert_eq!(read.listen(), "127.0.0.1:7071");
        assert_eq!(read.instance.as_deref(), Some("4e1a9c"));
        assert_eq!(
            read.timer,
            Some(Schedule {
                epoch_ns: 1_767_225_600_000_000_000,
                period: Duration::from_secs(10),
                first: 6,
                until: None,
            })
        );
        let older = HostEnv::read(
            env(&[("FUNCTIONS_HTTPWORKER_PORT", "7072")]),
            Some("web host\n".into()),
        )
        .unwrap();
        assert_eq!(older.port, Some(7072));
        assert_eq!(
            older.instance.as_deref(),
            Some("web-host"),
            "the host name, cut"
        );
        assert_eq!(older.timer, None);
        let nothing = HostEnv::read(env(&[]), None).unwrap();
        assert_eq!(nothing, HostEnv::default());
        assert_eq!(nothing.listen(), "127.0.0.1:0");
    }

    #[test]
    fn a_setting_that_does_not_parse_is_an_error_that_names_it() {
        for (vars, names) in [
            (
                vec![("FUNCTIONS_CUSTOMHANDLER_PORT", "70710")],
                "FUNCTIONS_CUSTOMHANDLER_PORT",
            ),
            (
                vec![
                    ("HARNESS_TIMER_EPOCH_NS", "soon"),
                    ("HARNESS_TIMER_PERIOD_NS", "1"),
                ],
                "HARNESS_TIMER_EPOCH_NS",
            ),
            (
                vec![("HARNESS_TIMER_EPOCH_NS", "0")],
                "HARNESS_TIMER_PERIOD_NS",
            ),
            (
                vec![
                    ("HARNESS_TIMER_EPOCH_NS", "0"),
                    ("HARNESS_TIMER_PERIOD_NS", "0"),
                ],
                "HARNESS_TIMER_PERIOD_NS",
            ),
            (
                vec![
                    ("HARNESS_TIMER_EPOCH_NS", "0"),
                    ("HARNESS_TIMER_PERIOD_NS", "1"),
                    ("HARNESS_TIMER_UNTIL", "-1"),
                ],
                "HARNESS_TIMER_UNTIL",
            ),
        ] {
            let error = HostEnv::read(env(&vars), None).unwrap_err();
            assert!(error.contains(names), "{vars:?}: {error}");
        }
    }

    fn schedule() -> Schedule {
        Schedule {
            epoch_ns: 1_000,
            period: Duration::from_nanos(100),
            first: 2,
            until: Some(5),
        }
    }

    #[test]
    fn an_invocation_is_the_occurrence_its_utc_now_rounds_down_to() {
        let at = |utc_now_ns, is_past_due| {
            HostInvocation {
                utc_now_ns,
                is_past_due,
            }
            .numbered(&schedule())
        };
        let run = |m, scheduled_ns, catch_up| {
            Numbered::Run(TickRequest {
                m,
                scheduled_ns,
                catch_up,
            })
        };
        assert_eq!(at(1_200, false), run(2, 1_200, false), "on the dot");
        assert_eq!(at(1_299, true), run(2, 1_200, true), "late, past due");
        assert_eq!(at(1_499, false), run(4, 1_400, false));
        assert_eq!(at(1_199, false), Numbered::Outside { m: Some(1) });
        assert_eq!(
            at(1_500, false),
            Numbered::Outside { m: Some(5) },
            "until is out"
        );
        assert_eq!(at(999, false), Numbered::Outside { m: None });
        assert_eq!(at(i64::MIN, false), Numbered::Outside { m: None });
    }

    #[test]
    fn bodies_are_the_harnesss_the_hosts_or_refused_with_a_reason() {
        let harness = TickBody::parse(br#"{"m": 7, "scheduled_ns": 5, "catch_up": true}"#);
        assert!(matches!(
            harness,
            Ok(TickBody::Harness(TickRequest {
                m: 7,
                scheduled_ns: 5,
                catch_up: true
            }))
        ));
        let host = TickBody::parse(
            br#"{"Data": {"timer": {"Schedule": {"AdjustForDST": true}, "ScheduleStatus": null,
                "IsPastDue": true}}, "Metadata": {"timer": {}, "sys": {"MethodName": "tick",
                "UtcNow": "1970-01-01T00:00:01.5Z", "RandGuid": "x"}}}"#,
        );
        assert!(matches!(
            host,
            Ok(TickBody::Host(HostInvocation {
                utc_now_ns: 1_500_000_000,
                is_past_due: true
            }))
        ));
        for (body, status, why) in [
            (&b"tick"[..], 400, "not JSON"),
            (b"", 400, "not JSON"),
            (b"{}", 422, "missing field `m`"),
            (b"[1]", 422, "not a tick request"),
            (br#"{"m": -1, "scheduled_ns": 0}"#, 422, "m: invalid value"),
            (
                br#"{"Data": {"timer": {"IsPastDue": false}}}"#,
                422,
                "the body: missing field `Metadata`",
            ),
            (
                br#"{"Data": {}, "Metadata": {"sys": {"UtcNow": "1970-01-01T00:00:00Z"}}}"#,
                422,
                "Data: missing field `timer`",
            ),
            (
                br#"{"Data": {"timer": {"IsPastDue": "no"}}, "Metadata": {"sys": {"UtcNow": "1970-01-01T00:00:00Z"}}}"#,
                422,
                "Data.timer.IsPastDue: invalid type",
            ),
            (
                br#"{"Data": {"timer": {"IsPastDue": false}}, "Metadata": {"sys": {"UtcNow": "noon"}}}"#,
                422,
                "Metadata.sys.UtcNow: \"noon\" is not an RFC 3339 date-time",
            ),
        ] {
            let refusal = TickBody::parse(body).expect_err(&String::from_utf8_lossy(body));
            assert_eq!(refusal.status.as_u16(), status, "{}", refusal.reason);
            assert!(refusal.reason.contains(why), "{}", refusal.reason);
        }
    }

    #[test]
    fn the_hosts_answer_has_outputs_logs_and_the_return_value() {
        let request = TickRequest {
            m: 7,
            scheduled_ns: 1_700,
            catch_up: false,
        };
        let ok = TickResponse {
            sent: 10,
            ..TickResponse::default()
        };
        let answer = HostInvocation::answer(&request, StatusCode::OK, &ok);
        assert_eq!(answer["Outputs"], json!({}));
        assert_eq!(answer["Logs"], json!(["sent 10"]));
        assert_eq!(answer["ReturnValue"]["sent"], 10);
        assert_eq!(answer["ReturnValue"]["m"], 7);
        let cancelled = TickResponse {
            sent: 3,
            cancelled: true,
            stashed: 7,
            ..TickResponse::default()
        };
        let answer = HostInvocation::answer(&request, StatusCode::SERVICE_UNAVAILABLE, &cancelled);
        assert_eq!(answer["Logs"], json!(["cancelled: sent 3, stashed 7"]));
        let outside = HostInvocation::answer_outside(Some(9), &schedule(), ("i", "A"));
        assert_eq!(
            outside["Logs"],
            json!(["occurrence 9 is outside the run's window [2, 5): not run"])
        );
        assert_eq!(outside["ReturnValue"]["outside_window"], true);
    }
}
