//! The sink over real HTTP on loopback port 0.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{json, Value};
use sink::stats::StatsSnapshot;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

struct TestSink {
    addr: SocketAddr,
    /// The sink's live counters, read in process.
    stats: std::sync::Arc<sink::stats::Stats>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<sink::Summary, sink::SinkError>>>,
    client: reqwest::Client,
}

impl TestSink {
    fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    async fn post_json(&self, body: &Value) -> (u16, Value) {
        self.post_raw(body.to_string().into_bytes(), Some("application/json"))
            .await
    }

    async fn post_raw(&self, body: Vec<u8>, content_type: Option<&str>) -> (u16, Value) {
        let mut req = self.client.post(self.url("/items")).body(body);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let resp = req.send().await.expect("request reaches the sink");
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        (status, body)
    }

    async fn stats(&self) -> StatsSnapshot {
        self.client
            .get(self.url("/stats"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn stop(mut self) -> sink::Summary {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap().unwrap()
    }
}

impl Drop for TestSink {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

async fn start_sink_with(config: sink::Config) -> TestSink {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let sink = sink::Sink::open(config).unwrap();
    let stats = sink.stats();
    let task = tokio::spawn(sink.serve(listener, async move {
        let _ = stop_rx.await;
    }));
    TestSink {
        addr,
        stats,
        stop: Some(stop_tx),
        task: Some(task),
        client: reqwest::Client::new(),
    }
}

async fn start_sink(dir: &Path) -> TestSink {
    start_sink_with(sink::Config::new(dir)).await
}

fn item(m: u64, n: u64) -> Value {
    json!({"source": "tick", "m": m, "n": n, "version": "A", "instance": "a-0", "attempt": 1})
}

/// The data rows of `arrivals.csv`, checking the header on the way.
fn rows(dir: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(dir.join("arrivals.csv")).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(sink::ARRIVALS_HEADER));
    lines
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect()
}

fn keys(rows: &[Vec<String>]) -> Vec<(String, u64, u64)> {
    rows.iter()
        .map(|r| (r[1].clone(), r[2].parse().unwrap(), r[3].parse().unwrap()))
        .collect()
}

#[tokio::test]
async fn good_items_are_recorded_once_each_with_every_column() {
    let dir = tempfile::tempdir().unwrap();
    let sink = start_sink(dir.path()).await;
    for n in 0..5 {
        let (status, body) = sink.post_json(&item(3, n)).await;
        assert_eq!((status, body["recorded"].as_u64()), (200, Some(1)));
    }
    let (status, _) = sink
        .post_json(&json!({"source": "proc", "m": 1, "n": 0, "version": "B", "sent_ns": 42}))
        .await;
    assert_eq!(status, 200);
    let stats = sink.stats().await;
    assert_eq!(
        (stats.items, stats.distinct_keys, stats.duplicate_items),
        (6, 6, 0)
    );
    let summary = sink.stop().await;
    assert_eq!(summary.stats.items, 6);
    let rows = rows(dir.path());
    assert_eq!(rows.len(), 6);
    let got: Vec<_> = keys(&rows);
    let mut want: Vec<_> = (0..5).map(|n| ("tick".to_string(), 3, n)).collect();
    want.push(("proc".to_string(), 1, 0));
    assert_eq!(got, want);
    assert_eq!(&rows[0][4..], ["A", "a-0", "1", ""]);
    assert_eq!(&rows[5][4..], ["B", "", "", "42"]);
    let recv: Vec<u64> = rows.iter().map(|r| r[0].parse().unwrap()).collect();
    assert!(
        recv.windows(2).all(|w| w[0] <= w[1]),
        "sequential posts keep order: {recv:?}"
    );
    assert!(
        recv[0] > 1_600_000_000_000_000_000,
        "recv_ns is Unix-epoch ns"
    );
}

#[tokio::test]
async fn duplicates_are_recorded_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let sink = start_sink(dir.path()).await;
    for _ in 0..3 {
        assert_eq!(sink.post_json(&item(1, 1)).await.0, 200);
    }
    assert_eq!(sink.post_json(&item(1, 2)).await.0, 200);
    let stats = sink.stats().await;
    assert_eq!(stats.items, 4);
    assert_eq!(stats.distinct_keys, 2);
    assert_eq!(stats.duplicate_items, 2);
    assert_eq!(stats.duplicated_keys, 1);
    assert!(stats.last_arrival_ns.is_some());
    sink.stop().await;
    assert_eq!(rows(dir.path()).len(), 4);
}

#[tokio::test]
async fn a_batch_is_recorded_whole_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let sink = start_sink(dir.path()).await;
    let good: Vec<Value> = (0..100).map(|n| item(7, n)).collect();
    let (status, body) = sink.post_json(&Value::Array(good.clone())).await;
    assert_eq!((status, body["recorded"].as_u64()), (200, Some(100)));

    let mut bad = good.clone();
    bad[57] = json!({"source": "tick", "m": 7, "n": "57", "version": "A"});
    let (status, body) = sink.post_json(&Value::Array(bad)).await;
    assert_eq!(status, 422, "{body}");
    let mut bad = good;
    bad[99]["version"] = json!("not a version");
    let (status, body) = sink.post_json(&Value::Array(bad)).await;
    assert_eq!(status, 422);
    assert_eq!(
        (body["index"].as_u64(), body["field"].as_str()),
        (Some(99), Some("version"))
    );

    sink.stop().await;
    let rows = rows(dir.path());
    assert_eq!(rows.len(), 100, "only the good batch is recorded");
    let all_same_time: BTreeSet<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(all_same_time.len(), 1, "a batch arrives at one instant");
}

#[tokio::test]
async fn bad_input_gets_a_4xx_with_a_reason_and_records_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = sink::Config::new(dir.path());
    config.max_body_bytes = 4096;
    let sink = start_sink_with(config).await;
    let json_ct = Some("application/json");
    // (name, body, content type, status, error kind)
    type Case<'a> = (&'a str, Vec<u8>, Option<&'a str>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            "malformed JSON",
            b"{\"source\": \"tick\", ".to_vec(),
            json_ct,
            400,
            "malformed_json",
        ),
        (
            "not an object",
            b"\"hello\"".to_vec(),
            json_ct,
            400,
            "malformed_json",
        ),
        ("empty body", Vec::new(), json_ct, 400, "malformed_json"),
        (
            "missing n",
            br#"{"source":"tick","m":1,"version":"A"}"#.to_vec(),
            json_ct,
            422,
            "invalid_item",
        ),
        (
            "m as string",
            br#"{"source":"tick","m":"1","n":0,"version":"A"}"#.to_vec(),
            json_ct,
            422,
            "invalid_item",
        ),
        (
            "negative n",
            br#"{"source":"tick","m":1,"n":-3,"version":"A"}"#.to_vec(),
            json_ct,
            422,
            "invalid_item",
        ),
        (
            "fractional m",
            br#"{"source":"tick","m":1.5,"n":0,"version":"A"}"#.to_vec(),
            json_ct,
            422,
            "invalid_item",
        ),
        (
            "bad version",
            br#"{"source":"tick","m":1,"n":0,"version":"1A"}"#.to_vec(),
            json_ct,
            422,
            "invalid_item",
        ),
        (
            "unknown field",
            br#"{"source":"tick","m":1,"n":0,"version":"A","atempt":2}"#.to_vec(),
            json_ct,
            422,
            "invalid_item",
        ),
        ("empty batch", b"[]".to_vec(), json_ct, 422, "empty_batch"),
        (
            "invalid UTF-8",
            b"{\"source\":\"ti\xc3\x28k\",\"m\":1,\"n\":0,\"version\":\"A\"}".to_vec(),
            json_ct,
            400,
            "invalid_utf8",
        ),
        (
            "too large",
            format!("[{}]", vec![item(1, 1).to_string(); 200].join(",")).into_bytes(),
            json_ct,
            413,
            "body_too_large",
        ),
        (
            "text/plain",
            item(1, 1).to_string().into_bytes(),
            Some("text/plain"),
            415,
            "unsupported_content_type",
        ),
        (
            "no content type",
            item(1, 1).to_string().into_bytes(),
            None,
            415,
            "unsupported_content_type",
        ),
    ];
    for (name, body, ct, status, kind) in &cases {
        let (got_status, got) = sink.post_raw(body.clone(), *ct).await;
        assert_eq!(got_status, *status, "{name}: {got}");
        assert_eq!(got["error"].as_str(), Some(*kind), "{name}: {got}");
        assert!(
            got["reason"].as_str().is_some_and(|r| !r.is_empty()),
            "{name} has a reason: {got}"
        );
    }
    let stats = sink.stats().await;
    assert_eq!(stats.items, 0);
    assert_eq!(stats.rejected.values().sum::<u64>(), cases.len() as u64);
    let metrics = reqwest::get(sink.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("sink_requests_rejected_total{reason=\"invalid_item\"} 6"),
        "{metrics}"
    );
    assert!(metrics.contains("sink_items_total 0"), "{metrics}");
    sink.stop().await;
    assert!(rows(dir.path()).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_clients_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let sink = start_sink(dir.path()).await;
    let url = sink.url("/items");
    let tasks: Vec<_> = (0..16u64)
        .map(|m| {
            let client = sink.client.clone();
            let url = url.clone();
            tokio::spawn(async move {
                for n in 0..1000u64 {
                    let resp = client.post(&url).json(&item(m, n)).send().await.unwrap();
                    assert_eq!(resp.status(), 200);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let summary = sink.stop().await;
    assert_eq!(summary.stats.items, 16_000);
    let mut counts: HashMap<(String, u64, u64), u32> = HashMap::new();
    for key in keys(&rows(dir.path())) {
        *counts.entry(key).or_default() += 1;
    }
    assert_eq!(counts.len(), 16_000);
    assert!(counts.values().all(|&c| c == 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shutdown_keeps_every_acknowledged_row() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = sink::Config::new(dir.path());
    config.fsync = sink::FsyncPolicy::Always;
    let sink = start_sink_with(config).await;
    let url = sink.url("/items");
    let tasks: Vec<_> = (0..8u64)
        .map(|m| {
            let client = sink.client.clone();
            let url = url.clone();
            tokio::spawn(async move {
                let mut acked = Vec::new();
                for n in 0..100_000u64 {
                    match client.post(&url).json(&item(m, n)).send().await {
                        Ok(resp) if resp.status() == 200 => acked.push(("tick".to_string(), m, n)),
                        _ => break,
                    }
                }
                acked
            })
        })
        .collect();
    // Let the clients get going, then stop the sink under load.
    while sink.stats().await.items < 200 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let summary = sink.stop().await;
    let mut acked = Vec::new();
    for t in tasks {
        acked.extend(t.await.unwrap());
    }
    let recorded: BTreeSet<_> = keys(&rows(dir.path())).into_iter().collect();
    assert!(acked.len() >= 200);
    for key in &acked {
        assert!(recorded.contains(key), "acknowledged {key:?} is on disk");
    }
    assert_eq!(summary.stats.items as usize, recorded.len());
}

#[tokio::test]
async fn an_existing_arrivals_file_is_refused_unless_appending() {
    let dir = tempfile::tempdir().unwrap();
    let sink = start_sink(dir.path()).await;
    assert_eq!(sink.post_json(&item(0, 0)).await.0, 200);
    sink.stop().await;
    let err = sink::Sink::open(sink::Config::new(dir.path()))
        .err()
        .unwrap();
    assert!(err.to_string().contains("already exists"), "{err}");
    let mut config = sink::Config::new(dir.path());
    config.append = true;
    let sink = start_sink_with(config).await;
    assert_eq!(sink.post_json(&item(0, 1)).await.0, 200);
    sink.stop().await;
    assert_eq!(rows(dir.path()).len(), 2);
}

/// Kills the child when dropped, so a failing test leaves no process behind.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_binary_prints_its_address_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr) = spawn_sink_binary(dir.path(), &[]);
    assert_ne!(addr.port(), 0);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = reqwest::Client::new();
        let batch: Vec<Value> = (0..50).map(|n| item(2, n)).collect();
        let resp = client
            .post(format!("http://{addr}/items"))
            .json(&batch)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    });
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.0.wait().unwrap();
    assert!(exit.success(), "sink exits 0 on SIGTERM: {exit:?}");
    assert_eq!(rows(dir.path()).len(), 50);
}

#[tokio::test]
async fn arrival_times_come_from_the_clock_the_sink_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let clock = std::sync::Arc::new(sink::clock::ManualClock::new(1_000));
    let mut config = sink::Config::new(dir.path());
    config.clock = clock.clone();
    let sink = start_sink_with(config).await;
    assert_eq!(sink.post_json(&item(0, 0)).await.0, 200);
    clock.advance_ns(500);
    assert_eq!(sink.post_json(&item(0, 1)).await.0, 200);
    sink.stop().await;
    let recv: Vec<String> = rows(dir.path()).into_iter().map(|r| r[0].clone()).collect();
    assert_eq!(recv, ["1000", "1500"]);
}

#[tokio::test]
async fn with_a_token_every_endpoint_but_health_needs_it_and_a_refusal_records_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = sink::Config::new(dir.path());
    config.token = Some("s3cret".into());
    let sink = start_sink_with(config).await;
    let post = |auth: Option<&str>| {
        let mut req = sink
            .client
            .post(sink.url("/items"))
            .header("content-type", "application/json")
            .body(item(1, 0).to_string());
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        req.send()
    };
    let none = post(None).await.unwrap();
    assert_eq!(none.status().as_u16(), 401);
    let body: Value = none.json().await.unwrap();
    assert_eq!(body["error"], "unauthorized");
    assert_eq!(
        post(Some("Bearer wrong")).await.unwrap().status().as_u16(),
        401
    );
    assert_eq!(post(Some("s3cret")).await.unwrap().status().as_u16(), 401);
    assert_eq!(
        post(Some("Bearer s3cret")).await.unwrap().status().as_u16(),
        200
    );
    for path in ["/stats", "/metrics"] {
        let r = sink.client.get(sink.url(path)).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 401, "{path}");
    }
    let events = sink
        .client
        .post(sink.url("/events"))
        .body(r#"{"event":"started","instance":"a-0"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(events.status().as_u16(), 401);
    let health = sink.client.get(sink.url("/health")).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
    let lease = sink
        .client
        .post(sink.url("/lease/tick"))
        .body(r#"{"holder":"a-0"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(lease.status().as_u16(), 401);
    let summary = sink.stop().await;
    assert_eq!(summary.stats.items, 1, "only the authorized item");
    assert_eq!(summary.stats.events, 0);
    let events = std::fs::read_to_string(dir.path().join(sink::EVENTS_FILE)).unwrap();
    assert_eq!(
        events.trim_end(),
        sink::EVENTS_HEADER,
        "no event, no lease change"
    );
    assert_eq!(summary.stats.rejected["unauthorized"], 7);
    assert_eq!(rows(dir.path()).len(), 1);
}

#[tokio::test]
async fn beyond_loopback_without_a_token_the_sink_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let result = sink::run(listener, sink::Config::new(dir.path()), async {}).await;
    let e = result.expect_err("refused");
    assert!(matches!(e, sink::SinkError::Unprotected(_)), "{e}");
    assert!(e.to_string().contains("token"), "{e}");
    // With a token it starts (and stops at once).
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let mut config = sink::Config::new(dir.path().join("b"));
    config.token = Some("t".into());
    assert!(sink::run(listener, config, async {}).await.is_ok());
}

#[tokio::test]
async fn events_go_to_events_csv_and_leases_have_one_holder() {
    let dir = tempfile::tempdir().unwrap();
    let sink = start_sink(dir.path()).await;
    let post = |path: &str, body: &str| {
        sink.client
            .post(sink.url(path))
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
    };
    let ok = post(
        "/events",
        r#"[{"event":"started","instance":"a-0","version":"A","detail":{"pid":7}},
            {"event":"exiting","instance":"a-0","version":"A","detail":{"unacked":0}}]"#,
    )
    .await
    .unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    let bad = post("/events", r#"{"event":"Bad","instance":"a-0"}"#)
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 422);
    let first = post("/lease/tick", r#"{"holder":"a-0","ttl_ms":60000}"#)
        .await
        .unwrap();
    assert_eq!(first.status().as_u16(), 200);
    let second = post("/lease/tick", r#"{"holder":"b-0","ttl_ms":60000}"#)
        .await
        .unwrap();
    assert_eq!(second.status().as_u16(), 409);
    let body: Value = second.json().await.unwrap();
    assert_eq!(body["holder"], "a-0");
    let release = sink
        .client
        .delete(sink.url("/lease/tick"))
        .body(r#"{"holder":"a-0"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(release.status().as_u16(), 200);
    let third = post("/lease/tick", r#"{"holder":"b-0","ttl_ms":60000}"#)
        .await
        .unwrap();
    assert_eq!(third.status().as_u16(), 200);
    let bad_ttl = post("/lease/tick", r#"{"holder":"b-0","ttl_ms":0}"#)
        .await
        .unwrap();
    assert_eq!(bad_ttl.status().as_u16(), 422);
    let summary = sink.stop().await;
    assert_eq!(summary.stats.events, 2);
    let text = std::fs::read_to_string(dir.path().join(sink::EVENTS_FILE)).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], sink::EVENTS_HEADER);
    assert!(lines[1].ends_with(",started,a-0,A,pid=7"), "{text}");
    assert!(lines[2].ends_with(",exiting,a-0,A,unacked=0"), "{text}");
    // The sink's own witness: who got the lease, from whom.
    let leases: Vec<&&str> = lines
        .iter()
        .filter(|l| l.contains("lease_acquired"))
        .collect();
    assert_eq!(leases.len(), 2, "{text}");
    assert!(leases[0].ends_with("lease=tick previous=none"), "{text}");
}

/// Starts the sink binary on `dir` (`extra` flags after it); returns the child and its
/// address.
fn spawn_sink_binary(dir: &Path, extra: &[&str]) -> (Child, SocketAddr) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_sink"));
    sink_args(&mut command, dir, extra);
    let mut child = Child(command.spawn().unwrap());
    let addr = read_address(&mut child);
    (child, addr)
}

/// The sink's flags for `dir` (`extra` after them), its output piped.
fn sink_args(command: &mut std::process::Command, dir: &Path, extra: &[&str]) {
    command
        .args(["--listen", "127.0.0.1:0", "--dir"])
        .arg(dir)
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
}

/// The address the sink prints on its first line, or a panic that says why it has none.
fn read_address(child: &mut Child) -> SocketAddr {
    use std::io::{BufRead, Read};
    let mut first = String::new();
    let _ = std::io::BufReader::new(child.0.stdout.take().unwrap()).read_line(&mut first);
    first.trim().parse().unwrap_or_else(|_| {
        let _ = child.0.kill();
        let mut stderr = String::new();
        let _ = child.0.stderr.take().unwrap().read_to_string(&mut stderr);
        panic!("the bound address, not {first:?}; stderr: {stderr}")
    })
}

/// A SIGKILL under load from 16 clients, a torn last row as a power loss leaves it, and a
/// restart with `--append`: the torn row is cut off and said so, the next rows are whole,
/// and every item acknowledged before the kill is in `arrivals.csv`.
#[test]
fn a_killed_sink_restarted_with_append_keeps_every_acknowledged_row_and_cuts_a_torn_one() {
    const TORN: &str = "1796000000000000000,tick,99,";
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr) = spawn_sink_binary(dir.path(), &["--fsync", "batch"]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let acked: Vec<(u64, u64)> = rt.block_on(async {
        let client = reqwest::Client::new();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut clients = tokio::task::JoinSet::new();
        for c in 0..16u64 {
            let (client, stop) = (client.clone(), stop.clone());
            clients.spawn(async move {
                let mut acked = Vec::new();
                for n in 0.. {
                    if stop.load(std::sync::atomic::Ordering::SeqCst) {
                        break;
                    }
                    let answer = client
                        .post(format!("http://{addr}/items"))
                        .json(&item(c, n))
                        .timeout(Duration::from_secs(2))
                        .send()
                        .await;
                    match answer {
                        Ok(r) if r.status() == 200 => acked.push((c, n)),
                        _ => break, // the sink is gone
                    }
                }
                acked
            });
        }
        tokio::time::sleep(Duration::from_millis(800)).await;
        // SIGKILL mid-load: whatever was answered 200 before this must survive.
        let _ = child.0.kill();
        let _ = child.0.wait();
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let mut acked = Vec::new();
        while let Some(joined) = clients.join_next().await {
            acked.extend(joined.unwrap());
        }
        acked
    });
    assert!(
        acked.len() > 100,
        "load was under way: {} acknowledged",
        acked.len()
    );
    // A power loss mid-write: half a row, no newline.
    let path = dir.path().join("arrivals.csv");
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        write!(f, "{TORN}").unwrap();
    }
    let (mut child, addr) = spawn_sink_binary(dir.path(), &["--fsync", "batch", "--append"]);
    rt.block_on(async {
        let client = reqwest::Client::new();
        let stats: StatsSnapshot = client
            .get(format!("http://{addr}/stats"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            stats.torn_bytes_cut,
            TORN.len() as u64,
            "the torn row's bytes, in /stats"
        );
        let r = client
            .post(format!("http://{addr}/items"))
            .json(&item(1000, 0))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    });
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status();
    let _ = child.0.wait();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.0.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(
        stderr.contains("torn"),
        "the sink said so on stderr: {stderr}"
    );
    let recorded = rows(dir.path());
    let keys: BTreeSet<(u64, u64)> = recorded
        .iter()
        .map(|r| (r[2].parse().unwrap(), r[3].parse().unwrap()))
        .collect();
    for k in &acked {
        assert!(keys.contains(k), "acknowledged {k:?} is in arrivals.csv");
    }
    assert!(keys.contains(&(1000, 0)), "the row after the cut is whole");
    assert!(!keys.contains(&(99, 0)), "the torn row is gone");
}

/// Sends `head` and `body` as one raw HTTP/1.1 exchange on a new connection and returns the
/// status and the body of the answer (the request must ask for `Connection: close`).
async fn raw_exchange(addr: SocketAddr, head: &str, body: &[u8]) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    conn.write_all(head.as_bytes()).await.unwrap();
    // The sink may answer before it has read everything; what it did not read is its own.
    let _ = conn.write_all(body).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut answer)).await;
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("an HTTP answer: {text:?}"));
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned());
    (status, body.unwrap_or_default())
}

/// `bytes` as one HTTP chunk and the last chunk: a body whose size is not declared.
fn chunked(bytes: &[u8]) -> Vec<u8> {
    let mut out = format!("{:x}\r\n", bytes.len()).into_bytes();
    out.extend_from_slice(bytes);
    out.extend_from_slice(b"\r\n0\r\n\r\n");
    out
}

#[tokio::test]
async fn a_body_past_the_default_limit_gets_413_even_undeclared_and_records_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let sink = start_sink(dir.path()).await;
    // A valid batch just over the default limit, sent chunked: no Content-Length to refuse it
    // by, so the limit must hold while the body is read.
    let one = item(1, 0).to_string();
    let count = sink::DEFAULT_MAX_BODY_BYTES / (one.len() + 1) + 1;
    let batch = format!("[{}]", vec![one; count].join(","));
    assert!(batch.len() > sink::DEFAULT_MAX_BODY_BYTES);
    for path in ["/items", "/events"] {
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: sink\r\ncontent-type: application/json\r\n\
             transfer-encoding: chunked\r\nconnection: close\r\n\r\n"
        );
        let (status, body) = raw_exchange(sink.addr, &head, &chunked(batch.as_bytes())).await;
        assert_eq!(status, 413, "{path}: {body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["error"], "body_too_large", "{path}: {body}");
        let reason = body["reason"].as_str().unwrap_or_default();
        assert!(
            reason.contains(&sink::DEFAULT_MAX_BODY_BYTES.to_string()),
            "{path}: the reason names the limit: {body}"
        );
    }
    // Just under the limit is taken.
    let under = format!("[{}]", vec![item(2, 0).to_string(); 1000].join(","));
    assert!(under.len() < sink::DEFAULT_MAX_BODY_BYTES);
    let (status, body) = sink
        .post_raw(under.into_bytes(), Some("application/json"))
        .await;
    assert_eq!(status, 200, "{body}");
    let summary = sink.stop().await;
    assert_eq!(summary.stats.rejected["body_too_large"], 2);
    assert_eq!(summary.stats.events, 0);
    let recorded = rows(dir.path());
    assert_eq!(recorded.len(), 1000);
    assert!(
        keys(&recorded).iter().all(|(_, m, _)| *m == 2),
        "nothing of the refused bodies"
    );
}

/// Opens a keep-alive connection and makes one request on it, so the sink has surely
/// accepted it; it stays open (and counted) until dropped.
async fn held_connection(addr: SocketAddr) -> tokio::net::TcpStream {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    conn.write_all(b"GET /health HTTP/1.1\r\nhost: sink\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 512];
    while !answer.ends_with(b"ok\n") {
        let n = conn.read(&mut buf).await.unwrap();
        assert!(
            n > 0,
            "the sink answered: {:?}",
            String::from_utf8_lossy(&answer)
        );
        answer.extend_from_slice(&buf[..n]);
    }
    assert!(answer.starts_with(b"HTTP/1.1 200"));
    conn
}

#[tokio::test]
async fn past_the_connection_cap_a_request_gets_503_overloaded_and_records_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = sink::Config::new(dir.path());
    config.max_connections = 2;
    let sink = start_sink_with(config).await;
    let first = held_connection(sink.addr).await;
    let _second = held_connection(sink.addr).await;

    // A third connection is answered, not dropped: 503 with the reason, and closed.
    let refused = reqwest::Client::new()
        .post(sink.url("/items"))
        .json(&item(1, 0))
        .send()
        .await
        .expect("an answer, not a dropped connection");
    assert_eq!(refused.status().as_u16(), 503);
    assert_eq!(
        refused.headers().get("connection").map(|v| v.as_bytes()),
        Some(&b"close"[..])
    );
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "overloaded", "{body}");
    let reason = body["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("limit of 2 connections"), "{body}");
    let mut refusals = 1;

    // A held connection closes: its place is free again (for this client's connection,
    // kept alive from then on).
    drop(first);
    let client = reqwest::Client::new();
    let stats = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let r = client.get(sink.url("/stats")).send().await.unwrap();
            if r.status() == 200 {
                return r.json::<StatsSnapshot>().await.unwrap();
            }
            assert_eq!(r.status(), 503);
            refusals += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("a closed connection frees its place");
    assert_eq!(stats.rejected["overloaded"], refusals);
    assert_eq!(stats.items, 0, "the refused item was not recorded");
    let accepted = client
        .post(sink.url("/items"))
        .json(&item(2, 0))
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 200);
    let metrics = client
        .get(sink.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(&format!(
            "sink_requests_rejected_total{{reason=\"overloaded\"}} {refusals}"
        )),
        "{metrics}"
    );
    drop(_second);
    let summary = sink.stop().await;
    assert_eq!(summary.stats.items, 1);
    assert_eq!(keys(&rows(dir.path())), [("tick".to_owned(), 2, 0)]);
}

#[tokio::test]
async fn past_the_connection_cap_and_its_refusals_a_connection_is_closed_at_once_and_counted() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let mut config = sink::Config::new(dir.path());
    config.max_connections = 1;
    let sink = start_sink_with(config).await;
    let held = held_connection(sink.addr).await;
    // These are held to be refused, up to the bound, waiting for their requests.
    let mut refusing = Vec::new();
    for _ in 0..sink::connections::REFUSING_CONNECTIONS {
        refusing.push(tokio::net::TcpStream::connect(sink.addr).await.unwrap());
    }
    // A connection is the sink's once it has accepted it, not once the client is connected.
    let held_count = sink::connections::REFUSING_CONNECTIONS as u64;
    tokio::time::timeout(Duration::from_secs(10), async {
        while sink.stats.refusals_held.load(Ordering::Relaxed) < held_count {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .expect("the sink holds every refused connection");
    // One more is closed at once, well before the refused ones' read timeout.
    let mut closed = tokio::net::TcpStream::connect(sink.addr).await.unwrap();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(
        sink::connections::REFUSED_READ_TIMEOUT / 2,
        closed.read(&mut buf),
    )
    .await
    .expect("closed at once");
    assert!(
        matches!(read, Ok(0) | Err(_)),
        "closed unanswered: {read:?}"
    );
    // A held one that sends its request is answered 503.
    let mut waiting = refusing.pop().unwrap();
    waiting
        .write_all(b"GET /stats HTTP/1.1\r\nhost: sink\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    waiting.read_to_end(&mut answer).await.unwrap();
    assert!(
        answer.starts_with(b"HTTP/1.1 503"),
        "{:?}",
        String::from_utf8_lossy(&answer)
    );
    assert_eq!(
        sink.stats.refusals_held.load(Ordering::Relaxed),
        held_count,
        "the one closed at once was not held"
    );
    drop((held, refusing));
    let summary = sink.stop().await;
    assert_eq!(
        summary.stats.rejected["overloaded"], 2,
        "one closed, one answered"
    );
}

/// A connection past the cap that sends nothing is closed unanswered 5 s after it is accepted.
/// On tokio's paused clock the bounds are exact: time moves only when every task waits, and
/// then to the next timer, so the sink's deadline fires at 5 s to the nanosecond and a read
/// raced against a deadline sees a close that came before it.
#[tokio::test(start_paused = true)]
async fn a_refused_connection_that_sends_nothing_is_closed_after_5_s() {
    use tokio::io::AsyncReadExt;
    use tokio::time::{timeout_at, Instant};
    // The documented bound, written out rather than read from REFUSED_READ_TIMEOUT.
    const BOUND: Duration = Duration::from_secs(5);
    let dir = tempfile::tempdir().unwrap();
    let mut config = sink::Config::new(dir.path());
    config.max_connections = 1;
    // No writer thread: a paused clock jumps ahead while the runtime waits on one.
    config.inline_writer = true;
    let sink = start_sink_with(config).await;
    let held = held_connection(sink.addr).await;
    // Accepted at this instant: on loopback the handshake is done when `connect` returns, and
    // the sink accepts in the same turn of the runtime, before the clock can move.
    let mut silent = tokio::net::TcpStream::connect(sink.addr).await.unwrap();
    let accepted = Instant::now();
    let mut buf = [0u8; 64];
    let early = timeout_at(
        accepted + BOUND - Duration::from_millis(1),
        silent.read(&mut buf),
    )
    .await;
    assert!(early.is_err(), "still open 1 ms before 5 s: {early:?}");
    let read = timeout_at(
        accepted + BOUND + Duration::from_millis(10),
        silent.read(&mut buf),
    )
    .await
    .expect("closed by 5 s + 10 ms");
    assert!(
        matches!(read, Ok(0) | Err(_)),
        "closed unanswered: {read:?}"
    );
    let closed_after = accepted.elapsed();
    assert!(
        (BOUND..=BOUND + Duration::from_millis(10)).contains(&closed_after),
        "closed after {closed_after:?}"
    );
    assert_eq!(sink.stats.refusals_held.load(Ordering::Relaxed), 1);
    drop(held);
    sink.stop().await;
}

/// `--fsync batch` makes an item's row durable before the item is acknowledged. A killed
/// process proves nothing here (the page cache outlives it), so this watches the sink's
/// system calls under strace: before each `200` answer, the item's row was written to
/// `arrivals.csv`, and an `fsync` or `fdatasync` of it began after that write and ended
/// before the answer. `--fsync never`, the control, fails the same check for every item.
#[test]
fn with_fsync_batch_each_row_is_synced_before_its_item_is_acknowledged() {
    const ITEMS: u64 = 20;
    for (policy, unsynced) in [("batch", 0), ("never", ITEMS as usize)] {
        let dir = tempfile::tempdir().unwrap();
        let sink = TracedSink::start(&dir.path().join("run"), &dir.path().join("trace"), policy);
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let client = reqwest::Client::new();
            for n in 0..ITEMS {
                let answer = client
                    .post(format!("http://{}/items", sink.addr))
                    .json(&item(5, n))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(answer.status(), 200, "--fsync {policy}, item {n}");
            }
        });
        let calls = syscalls(&sink.stop());
        let rows: Vec<String> = (0..ITEMS)
            .map(|n| format!(",tick,5,{n},A,a-0,1,"))
            .collect();
        let check = Durability::of(&calls, &rows);
        assert_eq!(
            (check.rows_written, check.answers),
            (rows.len(), rows.len()),
            "--fsync {policy}: strace saw every row and every answer\n{check}"
        );
        assert_eq!(
            check.unsynced.len(),
            unsynced,
            "--fsync {policy}: items answered before their row was synced\n{check}"
        );
    }
}

/// The sink binary under strace, the two in a process group of their own: dropping this
/// kills the group, since killing strace alone would leave the sink running.
struct TracedSink {
    strace: Child,
    addr: SocketAddr,
    trace: std::path::PathBuf,
    /// strace was waited for: its id may name another process group by now.
    reaped: bool,
}

impl TracedSink {
    /// Runs the sink on `dir` with `--fsync policy`, traced into `trace`. Fails, never skips,
    /// without strace: CI installs it (.ci/run).
    fn start(dir: &Path, trace: &Path, policy: &str) -> TracedSink {
        use std::os::unix::process::CommandExt;
        let mut command = std::process::Command::new("strace");
        command
            // -yy names each fd: arrivals.csv by its path, a connection as TCP:[...]. -I 3:
            // strace blocks SIGTERM, so the group's reaches the sink alone.
            .args(["-f", "-yy", "-s", "256", "-I", "3", "-e"])
            .arg("trace=write,writev,pwrite64,sendto,sendmsg,fsync,fdatasync,sync_file_range")
            .arg("-o")
            .arg(trace)
            .arg(env!("CARGO_BIN_EXE_sink"))
            .process_group(0);
        sink_args(&mut command, dir, &["--fsync", policy]);
        let strace = command
            .spawn()
            .expect("strace runs (Debian package strace)");
        let mut sink = TracedSink {
            strace: Child(strace),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            trace: trace.to_owned(),
            reaped: false,
        };
        sink.addr = read_address(&mut sink.strace);
        sink
    }

    /// Stops the sink with SIGTERM, as an operator would, and returns the trace once strace,
    /// which exits after the sink, has.
    fn stop(mut self) -> String {
        assert!(self.signal_group("-TERM"), "SIGTERM to the sink");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while self.strace.0.try_wait().unwrap().is_none() {
            assert!(
                std::time::Instant::now() < deadline,
                "the sink stops on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        self.reaped = true;
        std::fs::read_to_string(&self.trace).unwrap()
    }

    fn signal_group(&self, signal: &str) -> bool {
        let group = format!("-{}", self.strace.0.id());
        std::process::Command::new("kill")
            .args([signal, "--", &group])
            .status()
            .is_ok_and(|s| s.success())
    }
}

impl Drop for TracedSink {
    fn drop(&mut self) {
        if !self.reaped {
            self.signal_group("-KILL");
        }
    }
}

/// A system call of the traced sink: `name(args) = result`, and where it began and ended in
/// the trace's order of events. strace prints a call whole when nothing happened meanwhile;
/// otherwise its start as `<unfinished ...>` and its end as `<... name resumed>`.
#[derive(Debug)]
struct Syscall {
    begin: usize,
    end: usize,
    text: String,
}

impl Syscall {
    fn name(&self) -> &str {
        self.text.split('(').next().unwrap_or_default()
    }

    /// What `-yy` says the first argument, a file descriptor, is: a path, or `TCP:[...]`.
    fn fd(&self) -> &str {
        let after = self.text.split_once('<').map_or("", |(_, a)| a);
        let end = [">,", ">)"]
            .iter()
            .filter_map(|e| after.find(e))
            .min()
            .unwrap_or(0);
        &after[..end]
    }

    fn succeeded(&self) -> bool {
        self.text
            .rsplit_once(" = ")
            .is_some_and(|(_, result)| result.starts_with(|c: char| c.is_ascii_digit()))
    }
}

/// The system calls in an `strace -f -o` trace (each line begins with the thread's id).
fn syscalls(trace: &str) -> Vec<Syscall> {
    let mut started: HashMap<&str, (usize, &str)> = HashMap::new();
    let mut calls = Vec::new();
    for (i, line) in trace.lines().enumerate() {
        let Some((tid, event)) = line.split_once(' ') else {
            continue;
        };
        let event = event.trim_start();
        if let Some(head) = event.strip_suffix(" <unfinished ...>") {
            started.insert(tid, (i, head));
        } else if let Some(resumed) = event.strip_prefix("<... ") {
            let (begin, head) = started
                .remove(tid)
                .unwrap_or_else(|| panic!("line {i} resumes what did not start: {line}"));
            let tail = resumed.split_once(" resumed>").map_or("", |(_, t)| t);
            calls.push(Syscall {
                begin,
                end: i,
                text: format!("{head}{tail}"),
            });
        } else if !event.starts_with("---") && !event.starts_with("+++") {
            calls.push(Syscall {
                begin: i,
                end: i,
                text: event.to_owned(),
            });
        }
    }
    calls
}

/// What a trace says of the rows `rows` (a text unique to each, in the order their items were
/// sent, one at a time) and of the `200` answers, the n-th being the n-th item's.
struct Durability<'a> {
    rows_written: usize,
    answers: usize,
    /// The answers sent before their item's row was written, or before every row written so
    /// far was synced: by an `fsync` or `fdatasync` of `arrivals.csv` that began after the
    /// last write to it had ended.
    unsynced: Vec<usize>,
    calls: Vec<&'a Syscall>,
}

impl<'a> Durability<'a> {
    fn of(calls: &'a [Syscall], rows: &[String]) -> Durability<'a> {
        let arrivals = |c: &Syscall| c.fd().ends_with(&format!("/{}", sink::ARRIVALS_FILE));
        let is = |c: &Syscall, names: &[&str]| c.succeeded() && names.contains(&c.name());
        let writes: Vec<&Syscall> = calls
            .iter()
            .filter(|c| arrivals(c) && is(c, &["write", "writev", "pwrite64"]))
            .collect();
        // Not sync_file_range: it neither flushes the disk's cache nor waits for metadata.
        let syncs: Vec<&Syscall> = calls
            .iter()
            .filter(|c| arrivals(c) && is(c, &["fsync", "fdatasync"]))
            .collect();
        let answers: Vec<&Syscall> = calls
            .iter()
            .filter(|c| {
                c.fd().starts_with("TCP") && is(c, &["write", "writev", "sendto", "sendmsg"])
            })
            .filter(|c| c.text.contains("HTTP/1.1 200 "))
            .collect();
        let row_write = |row: &str| writes.iter().find(|w| w.text.contains(row));
        let unsynced = answers
            .iter()
            .enumerate()
            .filter(|&(n, answer)| {
                let row_first = rows
                    .get(n)
                    .and_then(|row| row_write(row))
                    .is_some_and(|w| w.end < answer.begin);
                let last_write = writes
                    .iter()
                    .filter(|w| w.begin < answer.begin)
                    .max_by_key(|w| w.begin);
                let synced = last_write.is_some_and(|w| {
                    syncs
                        .iter()
                        .any(|s| w.end < s.begin && s.end < answer.begin)
                });
                !(row_first && synced)
            })
            .map(|(n, _)| n)
            .collect();
        Durability {
            rows_written: rows.iter().filter(|r| row_write(r).is_some()).count(),
            answers: answers.len(),
            unsynced,
            calls: writes.into_iter().chain(syncs).chain(answers).collect(),
        }
    }
}

impl std::fmt::Display for Durability<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "unsynced items: {:?}; the calls, by line of the trace:",
            self.unsynced
        )?;
        let mut calls = self.calls.clone();
        calls.sort_by_key(|c| c.begin);
        for c in calls {
            let text: String = c.text.chars().take(160).collect();
            writeln!(f, "{}..{} {text}", c.begin, c.end)?;
        }
        Ok(())
    }
}
