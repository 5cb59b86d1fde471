//! The test function's protocol: every body the host and an instance exchange, typed, in
//! one place. The host (`platform`) sends them and the test function (`testfn`) answers
//! them; an app of the user's speaks the same JSON (see the README's "The test function").

use serde::{Deserialize, Serialize};

/// One line an instance prints on stdout, after its address, when it reports its sends:
/// `sent SOURCE M N` before an item's first submit, `acked SOURCE M N` once the sink
/// acknowledged it. An item sent and never acknowledged was in flight when the run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendReport {
    pub acked: bool,
    pub source: String,
    pub m: u64,
    pub n: u64,
}

impl SendReport {
    /// Parses one line; anything else an app prints is not a report.
    pub fn parse(line: &str) -> Option<SendReport> {
        let mut words = line.split_ascii_whitespace();
        let acked = match words.next()? {
            "sent" => false,
            "acked" => true,
            _ => return None,
        };
        let source = words.next()?.to_owned();
        let m = words.next()?.parse().ok()?;
        let n = words.next()?.parse().ok()?;
        if words.next().is_some() {
            return None;
        }
        Some(SendReport {
            acked,
            source,
            m,
            n,
        })
    }
}

impl std::fmt::Display for SendReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let word = if self.acked { "acked" } else { "sent" };
        write!(f, "{word} {} {} {}", self.source, self.m, self.n)
    }
}

/// The body of `POST /tick`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TickRequest {
    pub m: u64,
    pub scheduled_ns: i64,
    #[serde(default)]
    pub catch_up: bool,
}

/// The body of a `/tick` answer.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct TickResponse {
    pub sent: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default)]
    pub cancelled: bool,
    #[serde(default)]
    pub stashed: u32,
    /// Who ran it: through a real front door the caller cannot know otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// An app's drain mode, as the seed post's app exposes it on `/admin/mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mode {
    /// Works as usual.
    Normal,
    /// Finishes or stashes its current work and starts nothing new.
    PreparingForStop,
    /// Prepared, and nothing runs any more: it may be stopped without loss.
    SafeToStop,
}

/// `POST /admin/mode`'s body: the mode to enter (`Normal` or `PreparingForStop`).
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct ModeRequest {
    pub mode: Mode,
}

/// `GET /admin/mode`'s answer.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct ModeAnswer {
    pub mode: Mode,
}

/// The body of `POST /poll`.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct PollRequest {
    pub m: u64,
    pub scheduled_ns: i64,
    /// How many changes the poll finds in the repository, when the platform's demand
    /// schedule says (the harness owns the repository); absent: the app's `--events`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<u32>,
}

/// One queue message: the item `(proc, m, n)` to process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub m: u64,
    pub n: u64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct PollResponse {
    pub messages: Vec<Message>,
}

/// The body of `POST /proc`.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct ProcRequest {
    pub m: u64,
    pub n: u64,
    pub dequeue: u32,
}

/// One invocation the host makes of a function, with what the ledger records of it.
#[derive(Clone, Copy, Debug)]
pub enum Invocation {
    /// A timer run of the loop workload: `POST /tick`.
    Tick(TickRequest),
    /// A timer run of the queue workload: `POST /poll`, whose answer the host enqueues.
    Poll {
        request: PollRequest,
        catch_up: bool,
    },
    /// One queue message: `POST /proc`.
    Proc(ProcRequest),
}

impl Invocation {
    /// The function's path.
    pub fn path(&self) -> &'static str {
        match self {
            Invocation::Tick(_) => "/tick",
            Invocation::Poll { .. } => "/poll",
            Invocation::Proc(_) => "/proc",
        }
    }

    /// The item source the ledger says it covers.
    pub fn source(&self) -> &'static str {
        match self {
            Invocation::Tick(_) => "tick",
            Invocation::Poll { .. } => "poll",
            Invocation::Proc(_) => "proc",
        }
    }

    pub fn m(&self) -> u64 {
        match self {
            Invocation::Tick(r) => r.m,
            Invocation::Poll { request, .. } => request.m,
            Invocation::Proc(r) => r.m,
        }
    }

    /// A queue message covers one item.
    pub fn n(&self) -> Option<u64> {
        match self {
            Invocation::Proc(r) => Some(r.n),
            _ => None,
        }
    }

    pub fn catch_up(&self) -> bool {
        match self {
            Invocation::Tick(r) => r.catch_up,
            Invocation::Poll { catch_up, .. } => *catch_up,
            Invocation::Proc(_) => false,
        }
    }

    pub fn dequeue(&self) -> Option<u32> {
        match self {
            Invocation::Proc(r) => Some(r.dequeue),
            _ => None,
        }
    }

    /// The request body as JSON.
    pub fn body(&self) -> Vec<u8> {
        let body = match self {
            Invocation::Tick(r) => serde_json::to_vec(r),
            Invocation::Poll { request, .. } => serde_json::to_vec(request),
            Invocation::Proc(r) => serde_json::to_vec(r),
        };
        body.expect("plain structs serialize")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_reports_read_back_what_they_print_and_nothing_else() {
        for acked in [false, true] {
            let r = SendReport {
                acked,
                source: "proc".into(),
                m: 12,
                n: 3,
            };
            assert_eq!(SendReport::parse(&r.to_string()), Some(r));
        }
        for line in [
            "",
            "sent tick 1",
            "sent tick 1 -2",
            "sent tick 1 2 3",
            "hello 1 2 3",
        ] {
            assert_eq!(SendReport::parse(line), None, "{line:?}");
        }
    }

    #[test]
    fn modes_are_spelt_as_the_app_spells_them() {
        let body = serde_json::to_string(&ModeRequest {
            mode: Mode::PreparingForStop,
        })
        .unwrap();
        assert_eq!(body, r#"{"mode":"PreparingForStop"}"#);
        let answer: ModeAnswer = serde_json::from_str(r#"{"mode":"SafeToStop"}"#).unwrap();
        assert_eq!(answer.mode, Mode::SafeToStop);
        assert!(serde_json::from_str::<ModeAnswer>(r#"{"mode":"Asleep"}"#).is_err());
    }

    #[test]
    fn an_invocation_says_what_it_covers() {
        let proc = Invocation::Proc(ProcRequest {
            m: 7,
            n: 3,
            dequeue: 2,
        });
        assert_eq!(
            (
                proc.path(),
                proc.source(),
                proc.m(),
                proc.n(),
                proc.dequeue()
            ),
            ("/proc", "proc", 7, Some(3), Some(2))
        );
        let body: serde_json::Value = serde_json::from_slice(&proc.body()).unwrap();
        assert_eq!(body, serde_json::json!({"m": 7, "n": 3, "dequeue": 2}));
        let tick = Invocation::Tick(TickRequest {
            m: 4,
            scheduled_ns: 10,
            catch_up: true,
        });
        assert_eq!(
            (tick.path(), tick.n(), tick.catch_up()),
            ("/tick", None, true)
        );
    }
}
