//! The test function as an Azure Functions custom handler, checked against the shapes the
//! custom handlers documentation gives (deploy/azure-functions/README.md, "The app as a
//! custom handler"). Each test starts the real `harness testfn` process as the Functions
//! host starts it (no `--listen`, no `--instance`; the host's variables in a clean
//! environment, the work flags on the command line as `%TESTFN_WORK_ARGS%` puts them),
//! plays the host's requests, and reads what reached a real sink.
//!
//! The reference, `articles/azure-functions/functions-custom-handlers.md` in
//! MicrosoftDocs/azure-docs (ms.date 11/12/2025):
//!
//! - "Request payload": the host POSTs a JSON object with two members, `Data` (one key per
//!   trigger and input binding, named as in function.json: here `timer`) and `Metadata`,
//!   whose `sys` holds `MethodName`, `UtcNow` (the article's example:
//!   `"2019-10-09T17:58:32.2205399Z"`) and `RandGuid`; it goes to `/<function name>`.
//! - "Response payload": the keys `Outputs` (object), `Logs` (array) and `ReturnValue`.
//! - "HTTP-only function": with the request forwarded, "the route ... is `/api/hello`, same
//!   as the original request"; the handler listens on `FUNCTIONS_CUSTOMHANDLER_PORT`.
//!
//! What the article does not show is the timer's own value: the host serializes the
//! trigger's `TimerInfo` (`JObject.FromObject`, in the host's
//! `ScriptInvocationContextExtensions`), which gives `{"Schedule": {...},
//! "ScheduleStatus": null, "IsPastDue": false}` with `useMonitor: false`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::TestSink;

/// 2026-01-01T00:00:00Z, a UTC multiple of the 10 s period, as deploy.sh requires.
const EPOCH_NS: &str = "1767225600000000000";
const PERIOD_NS: &str = "10000000000";
/// What App Service sets, different on every instance.
const WEBSITE_INSTANCE_ID: &str =
    "5f0c2d7e9a1b4c3d8e6f00112233445566778899aabbccddeeff001122334455";

/// `harness testfn` as a process; killed on drop, so a failing test leaves nothing behind.
struct Handler {
    child: Child,
    /// The address it printed on its first line.
    addr: String,
}

impl Drop for Handler {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Handler {
    /// Starts `harness testfn ARGS` with exactly the variables `env` (nothing inherited),
    /// and waits for its address; its stderr goes to `dir/handler.log`.
    fn start(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Handler {
        let log = dir.join("handler.log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_harness"))
            .arg("testfn")
            .args(args)
            .env_clear()
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("harness testfn starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line.trim().to_owned();
        let handler = Handler { child, addr };
        assert!(
            !handler.addr.is_empty(),
            "harness testfn printed no address; its stderr:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        handler
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// SIGTERM, as a platform stops it, and waits for it to exit (its lifecycle events
    /// are flushed by then).
    async fn terminate(&mut self) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        // Polled, not waited for: the sink runs on this test's runtime and must go on
        // taking the events the function flushes at exit.
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "harness testfn outlived SIGTERM");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// A port nobody holds: bound and released, for the host's variable.
fn free_port() -> String {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string()
}

/// What the Functions host and deploy.sh give the handler: its port, its settings (the
/// sink, the version, the timer's numbering and the run's window [5, 10)) and the
/// instance id App Service sets.
fn host_env<'a>(port: &'a str, sink: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("FUNCTIONS_CUSTOMHANDLER_PORT", port),
        ("FUNCTIONS_WORKER_RUNTIME", "custom"),
        ("WEBSITE_INSTANCE_ID", WEBSITE_INSTANCE_ID),
        ("TESTFN_VERSION", "A"),
        ("TESTFN_SINK", sink),
        ("HARNESS_TIMER_EPOCH_NS", EPOCH_NS),
        ("HARNESS_TIMER_PERIOD_NS", PERIOD_NS),
        ("HARNESS_TIMER_FIRST", "5"),
        ("HARNESS_TIMER_UNTIL", "10"),
    ]
}

/// `TESTFN_WORK_ARGS` as host.json's `arguments` passes it: 3 items, 1 ms apart.
const WORK_ARGS: [&str; 6] = [
    "--items",
    "3",
    "--item-delay-ns",
    "1000000",
    "--heartbeat-ms",
    "0",
];

/// The host's invocation of the `tick` timer function at `utc_now`.
fn timer_invocation(utc_now: &str, is_past_due: bool) -> Value {
    json!({
        "Data": {
            "timer": {
                "Schedule": {"AdjustForDST": true},
                "ScheduleStatus": null,
                "IsPastDue": is_past_due,
            }
        },
        "Metadata": {
            "sys": {
                "MethodName": "tick",
                "UtcNow": utc_now,
                "RandGuid": "9d3e1a6b-2f7c-4b8e-a5d0-6c1f2e3d4b5a",
            }
        }
    })
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// POSTs `body` to the handler's `/tick`, as the host does (JSON); the status and the
/// answer's JSON.
async fn invoke(handler: &Handler, body: &Value) -> (u16, Value) {
    let resp = client()
        .post(handler.url("/tick"))
        .json(body)
        .send()
        .await
        .expect("the handler answers");
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("the answer is not JSON ({e}): {text}"));
    (status, value)
}

/// Asserts the documented response payload: exactly `Outputs` (an object: the timer has
/// no output binding, so an empty one), `Logs` (an array of strings) and `ReturnValue`.
fn assert_response_payload(answer: &Value) {
    let keys: Vec<&String> = answer.as_object().expect("an object").keys().collect();
    assert_eq!(keys, ["Logs", "Outputs", "ReturnValue"], "{answer}");
    assert_eq!(answer["Outputs"], json!({}), "{answer}");
    let logs = answer["Logs"].as_array().expect("Logs is an array");
    assert!(logs.iter().all(Value::is_string), "{answer}");
}

/// The sink's rows, `(source, m, n, version, instance)`, once it has stopped.
fn arrivals(dir: &Path) -> Vec<(String, u64, u64, String, String)> {
    let text = std::fs::read_to_string(dir.join(sink::ARRIVALS_FILE)).unwrap_or_default();
    text.lines()
        .skip(1)
        .map(|row| {
            let f: Vec<&str> = row.split(',').collect();
            (
                f[1].to_owned(),
                f[2].parse().unwrap(),
                f[3].parse().unwrap(),
                f[4].to_owned(),
                f[5].to_owned(),
            )
        })
        .collect()
}

/// The items of `(source, m)` for `n` in `0..3`, as `A` on the App Service instance.
fn items_of(runs: &[(&str, u64)], instance: &str) -> Vec<(String, u64, u64, String, String)> {
    let mut items: Vec<_> = runs
        .iter()
        .flat_map(|&(source, m)| {
            (0..3).map(move |n| (source.to_owned(), m, n, "A".to_owned(), instance.to_owned()))
        })
        .collect();
    items.sort();
    items
}

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

#[tokio::test]
async fn the_hosts_timer_invocation_runs_the_occurrence_its_utc_now_rounds_down_to() {
    let dir = tempfile::tempdir().unwrap();
    let sink = TestSink::start(dir.path()).await;
    let port = free_port();
    let mut handler = Handler::start(dir.path(), &host_env(&port, &sink.url), &WORK_ARGS);
    assert_eq!(
        handler.addr,
        format!("127.0.0.1:{port}"),
        "no --listen: it serves where the host calls it"
    );

    // On time: 70.0123457 s after the epoch (.NET's 7 digits) is occurrence 7.
    let (status, answer) = invoke(
        &handler,
        &timer_invocation("2026-01-01T00:01:10.0123457Z", false),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_response_payload(&answer);
    assert_eq!(answer["Logs"], json!(["sent 3"]));
    let returned = &answer["ReturnValue"];
    assert_eq!(returned["sent"], 3, "{answer}");
    assert_eq!(returned["m"], 7, "{answer}");
    assert_eq!(returned["scheduled_ns"], 1_767_225_670_000_000_000i64);
    assert_eq!(returned["catch_up"], false, "{answer}");
    assert_eq!(returned["instance"], WEBSITE_INSTANCE_ID, "{answer}");

    // Past due, the last instant before occurrence 9: still occurrence 8, a catch-up.
    let (status, answer) = invoke(
        &handler,
        &timer_invocation("2026-01-01T00:01:29.9999999Z", true),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_response_payload(&answer);
    assert_eq!(answer["ReturnValue"]["m"], 8, "{answer}");
    assert_eq!(answer["ReturnValue"]["catch_up"], true, "{answer}");

    handler.terminate().await;
    sink.stop().await;
    assert_eq!(
        sorted(arrivals(dir.path())),
        items_of(&[("tick", 7), ("tick", 8)], WEBSITE_INSTANCE_ID),
        "each invocation's items, once, named by WEBSITE_INSTANCE_ID"
    );
    let events = std::fs::read_to_string(dir.path().join(sink::EVENTS_FILE)).unwrap();
    let begun: Vec<&str> = events
        .lines()
        .filter(|l| l.contains(",run_begun,"))
        .collect();
    let has = |words: &[&str]| {
        begun
            .iter()
            .any(|l| words.iter().all(|w| l.split([' ', ',']).any(|f| f == *w)))
    };
    assert!(has(&["m=7", "catch_up=false"]), "{begun:?}");
    assert!(
        has(&["m=8", "catch_up=true"]),
        "IsPastDue is a catch-up: {begun:?}"
    );
}

#[tokio::test]
async fn an_invocation_outside_the_runs_window_is_answered_and_not_run() {
    let dir = tempfile::tempdir().unwrap();
    let sink = TestSink::start(dir.path()).await;
    let port = free_port();
    let handler = Handler::start(dir.path(), &host_env(&port, &sink.url), &WORK_ARGS);
    // The window is [5, 10): the Functions timer fires from deploy to teardown.
    for (utc_now, m, log) in [
        (
            "2026-01-01T00:00:49.9999999Z",
            json!(4),
            "occurrence 4 is outside the run's window [5, 10): not run",
        ),
        (
            "2026-01-01T00:01:40Z",
            json!(10),
            "occurrence 10 is outside the run's window [5, 10): not run",
        ),
        (
            "2025-12-31T23:59:59Z",
            Value::Null,
            "before the schedule's epoch: not run",
        ),
    ] {
        let (status, answer) = invoke(&handler, &timer_invocation(utc_now, false)).await;
        assert_eq!(status, 200, "a success to the host: {answer}");
        assert_response_payload(&answer);
        assert_eq!(answer["Logs"], json!([log]), "{answer}");
        assert_eq!(answer["ReturnValue"]["outside_window"], true, "{answer}");
        assert_eq!(answer["ReturnValue"]["m"], m, "{answer}");
        assert_eq!(answer["ReturnValue"]["sent"], 0, "{answer}");
    }
    // The window's first occurrence runs.
    let (status, answer) = invoke(&handler, &timer_invocation("2026-01-01T00:00:50Z", false)).await;
    assert_eq!(
        (status, &answer["ReturnValue"]["m"]),
        (200, &json!(5)),
        "{answer}"
    );
    assert!(
        answer["ReturnValue"].get("outside_window").is_none(),
        "{answer}"
    );
    drop(handler);
    sink.stop().await;
    assert_eq!(
        sorted(arrivals(dir.path())),
        items_of(&[("tick", 5)], WEBSITE_INSTANCE_ID),
        "only the window's occurrence sent items"
    );
}

#[tokio::test]
async fn forwarded_http_requests_and_the_harnesss_own_tick_are_answered_as_before() {
    let dir = tempfile::tempdir().unwrap();
    let sink = TestSink::start(dir.path()).await;
    let port = free_port();
    let handler = Handler::start(dir.path(), &host_env(&port, &sink.url), &WORK_ARGS);
    let client = client();
    // ping/function.json: GET, route "ping", forwarded at its original path.
    let ping: Value = client
        .get(handler.url("/api/ping"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .expect("/api/ping answers JSON");
    assert_eq!(
        ping,
        json!({"version": "A", "instance": WEBSITE_INSTANCE_ID, "slot": "production"})
    );
    // The host's readiness check is any HTTP answer at `/`.
    client
        .get(handler.url("/"))
        .send()
        .await
        .expect("/ answers");
    // api-tick/function.json: the harness driver's TickRequest, forwarded as is; and the
    // local platform's on /tick. Their answer is today's, byte for byte.
    for (path, m) in [("/api/tick", 11), ("/tick", 12)] {
        let resp = client
            .post(handler.url(path))
            .json(&json!({"m": m, "scheduled_ns": 1_767_225_710_000_000_000i64, "catch_up": false}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{path}");
        assert_eq!(
            resp.text().await.unwrap(),
            format!(
                r#"{{"sent":3,"cancelled":false,"stashed":0,"instance":"{WEBSITE_INSTANCE_ID}","version":"A"}}"#
            ),
            "{path}"
        );
    }
    drop(handler);
    sink.stop().await;
    assert_eq!(
        sorted(arrivals(dir.path())),
        items_of(&[("tick", 11), ("tick", 12)], WEBSITE_INSTANCE_ID)
    );
}

#[tokio::test]
async fn a_malformed_body_gets_a_4xx_with_the_reason_and_nothing_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let sink = TestSink::start(dir.path()).await;
    let port = free_port();
    let mut handler = Handler::start(dir.path(), &host_env(&port, &sink.url), &WORK_ARGS);
    let mut no_timer = timer_invocation("2026-01-01T00:01:10Z", false);
    no_timer["Data"] = json!({"myTimer": no_timer["Data"]["timer"].clone()});
    let mut no_sys = timer_invocation("2026-01-01T00:01:10Z", false);
    no_sys["Metadata"] = json!({});
    let mut past_due_text = timer_invocation("2026-01-01T00:01:10Z", false);
    past_due_text["Data"]["timer"]["IsPastDue"] = json!("false");
    let bodies: Vec<(String, u16, &str)> = vec![
        ("not json".into(), 400, "not JSON"),
        (String::new(), 400, "not JSON"),
        ("{}".into(), 422, "missing field `m`"),
        (
            r#"{"m": -1, "scheduled_ns": 0}"#.into(),
            422,
            "m: invalid value",
        ),
        (no_timer.to_string(), 422, "Data: missing field `timer`"),
        (no_sys.to_string(), 422, "Metadata: missing field `sys`"),
        (
            past_due_text.to_string(),
            422,
            "Data.timer.IsPastDue: invalid type",
        ),
        (
            timer_invocation("Thursday", false).to_string(),
            422,
            "Metadata.sys.UtcNow: \"Thursday\" is not an RFC 3339 date-time",
        ),
        (
            timer_invocation("2026-02-29T00:01:10Z", false).to_string(),
            422,
            "no such day",
        ),
        (
            timer_invocation("2026-01-01T00:01:10", false).to_string(),
            422,
            "not an RFC 3339 date-time",
        ),
    ];
    let client = client();
    for (body, status, reason) in &bodies {
        let resp = client
            .post(handler.url("/tick"))
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .expect("the handler answers");
        assert_eq!(resp.status().as_u16(), *status, "{body}");
        let answer: Value = resp.json().await.expect("the refusal is JSON");
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(error.contains(reason), "{body}: {answer}");
    }
    assert!(
        handler.child.try_wait().unwrap().is_none(),
        "no body crashed it"
    );
    let health = client.get(handler.url("/health")).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 200, "it still serves");
    handler.terminate().await;
    sink.stop().await;
    assert_eq!(arrivals(dir.path()), vec![], "no item from a refused body");
    let events = std::fs::read_to_string(dir.path().join(sink::EVENTS_FILE)).unwrap();
    assert!(!events.contains(",run_begun,"), "no run began:\n{events}");
}

#[tokio::test]
async fn a_failed_or_cancelled_run_is_a_5xx_that_the_host_records_as_a_failed_invocation() {
    let dir = tempfile::tempdir().unwrap();
    // No sink listens here: every submit fails, so the run fails.
    let nowhere = format!("http://127.0.0.1:{}", free_port());
    let port = free_port();
    let failing = Handler::start(
        dir.path(),
        &host_env(&port, &nowhere),
        &[&WORK_ARGS[..], &["--no-lifecycle"]].concat(),
    );
    let (status, answer) = invoke(&failing, &timer_invocation("2026-01-01T00:01:10Z", false)).await;
    assert_eq!(status, 500, "{answer}");
    assert_response_payload(&answer);
    let log = answer["Logs"][0].as_str().unwrap();
    assert!(log.starts_with("failed (the submit"), "{answer}");
    assert!(log.ends_with("sent 0"), "{answer}");
    drop(failing);

    // SIGTERM mid-run (how the host stops it is for Azure to show): the run is cancelled.
    let sink = TestSink::start(dir.path()).await;
    let port = free_port();
    let mut slow = Handler::start(
        dir.path(),
        &host_env(&port, &sink.url),
        &[
            "--items",
            "3",
            "--item-delay-ns",
            "30000000000",
            "--heartbeat-ms",
            "0",
        ],
    );
    let url = slow.url("/tick");
    let call = tokio::spawn(async move {
        let resp = client()
            .post(url)
            .json(&timer_invocation("2026-01-01T00:01:10Z", false))
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json::<Value>().await.unwrap())
    });
    // Once its first item has reached the sink, the run is in progress.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let stats: Value = client()
            .get(format!("{}/stats", sink.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if stats["items"] == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the run never sent its first item"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    slow.terminate().await;
    let (status, answer) = call.await.unwrap();
    assert_eq!(status, 503, "{answer}");
    assert_response_payload(&answer);
    assert_eq!(answer["Logs"], json!(["cancelled: sent 1"]), "{answer}");
    assert_eq!(answer["ReturnValue"]["cancelled"], true, "{answer}");
    sink.stop().await;
}

#[tokio::test]
async fn the_port_and_the_instance_default_from_the_environment_and_flags_still_win() {
    let dir = tempfile::tempdir().unwrap();
    let sink = "http://127.0.0.1:9";
    let client = client();

    // The older variable alone, and no WEBSITE_INSTANCE_ID: the host name names it.
    let port = free_port();
    let older = Handler::start(
        dir.path(),
        &[
            ("FUNCTIONS_HTTPWORKER_PORT", port.as_str()),
            ("TESTFN_VERSION", "A"),
            ("TESTFN_SINK", sink),
        ],
        &[],
    );
    assert_eq!(older.addr, format!("127.0.0.1:{port}"));
    let host_name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let ping: Value = client
        .get(older.url("/api/ping"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ping["instance"], host_name.trim(), "{ping}");
    drop(older);

    // Every existing caller passes --listen and --instance (or TESTFN_INSTANCE): they win
    // over the host's variables.
    let port = free_port();
    let mut env = host_env(&port, sink);
    env.push(("TESTFN_INSTANCE", "a-0"));
    let explicit = Handler::start(dir.path(), &env, &["--listen", "127.0.0.1:0"]);
    assert_ne!(explicit.addr, format!("127.0.0.1:{port}"), "--listen wins");
    let ping: Value = client
        .get(explicit.url("/api/ping"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ping["instance"], "a-0", "TESTFN_INSTANCE wins");
    drop(explicit);

    // Neither: any free port, as before; with no HARNESS_TIMER_* it cannot number the
    // host's invocations, and says so rather than guess.
    let plain = Handler::start(
        dir.path(),
        &[
            ("TESTFN_VERSION", "A"),
            ("TESTFN_SINK", sink),
            ("TESTFN_INSTANCE", "x"),
        ],
        &[],
    );
    assert!(plain.addr.starts_with("127.0.0.1:"), "{}", plain.addr);
    assert_ne!(plain.addr, "127.0.0.1:0");
    let (status, answer) = invoke(&plain, &timer_invocation("2026-01-01T00:01:10Z", false)).await;
    assert_eq!(status, 500, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("HARNESS_TIMER_EPOCH_NS"),
        "{answer}"
    );

    // A host variable that does not parse stops it at start, naming the variable.
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .arg("testfn")
        .env_clear()
        .envs([
            ("FUNCTIONS_CUSTOMHANDLER_PORT", "http"),
            ("TESTFN_VERSION", "A"),
            ("TESTFN_SINK", sink),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("FUNCTIONS_CUSTOMHANDLER_PORT"), "{stderr}");
}
