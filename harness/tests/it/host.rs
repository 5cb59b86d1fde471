//! The host's own record of what an instance left unfinished when it died.

use reports::ledger::Kind;
use std::time::Duration;

use harness::slot::PRODUCTION;
use reports::{ExpectedSpec, RunDir, SourceSpec};

use crate::common::{host, surviving_pids};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_item_whose_submit_hangs_when_its_instance_dies_is_lost_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    // A sink that takes connections and never answers: the first submit hangs.
    let hung = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", hung.local_addr().unwrap());
    let items = 3u32;
    let host = host(dir.path(), &url, items, Duration::from_millis(10));
    let id = host.start_instance("A", PRODUCTION).await.unwrap();
    let epoch_ns = sink::clock::now_ns() as i64;
    let invoking = tokio::spawn({
        let (host, id) = (host.clone(), id.clone());
        async move { host.invoke_tick(&id, 0, epoch_ns, false).await }
    });
    // The instance reports an item sent before it connects, so once it has connected, the
    // report is in its stdout pipe. Its lifecycle events connect too: wait for the item's.
    let mut held = Vec::new();
    let submitting = async {
        loop {
            let (mut conn, _) = hung.accept().await.unwrap();
            let mut head = [0u8; 16];
            let n = tokio::io::AsyncReadExt::read(&mut conn, &mut head)
                .await
                .unwrap_or(0);
            held.push(conn);
            if head[..n].starts_with(b"POST /items") {
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), submitting)
        .await
        .expect("the instance submits");
    host.kill(&id).await;
    let _ = invoking.await.unwrap();

    let ledger = host.ledger().events();
    let sent: Vec<(u64, u64)> = ledger
        .iter()
        .filter(|e| e.event == Kind::ItemSent)
        .map(|e| (e.get_u64("m").unwrap(), e.get_u64("n").unwrap()))
        .collect();
    assert_eq!(
        sent,
        [(0, 0)],
        "only A(0,0) was sent, and never acknowledged"
    );
    let killed_at = ledger
        .iter()
        .find(|e| e.event == Kind::InstanceKilled)
        .unwrap()
        .t_ns;
    let sent_at = ledger
        .iter()
        .find(|e| e.event == Kind::ItemSent)
        .unwrap()
        .t_ns;
    assert!(sent_at < killed_at, "stamped when it was reported sent");

    let run = RunDir::new(dir.path());
    run.write_expected(&ExpectedSpec {
        sources: vec![SourceSpec {
            source: "tick".into(),
            epoch_ns,
            period_ns: 10_000_000_000,
            items: u64::from(items),
            item_delay_ns: 10_000_000,
            first: 0,
            last: 0,
            counts: None,
        }],
        late_after_ns: 1_000_000_000,
        completion: None,
    })
    .unwrap();
    std::fs::write(
        dir.path().join("arrivals.csv"),
        "recv_ns,source,m,n,version\n",
    )
    .unwrap();
    let v = reports::checker::check_run(&run).unwrap();
    assert_eq!(v.lost, 3);
    assert_eq!(v.causes.lost.in_flight, 1);
    assert_eq!(v.causes.lost.killed_before_send, 2);
    assert!(surviving_pids(&ledger).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_runs_instance_limit_a_start_fails_at_once_and_the_ledger_says_so_once() {
    let dir = tempfile::tempdir().unwrap();
    // Lifecycle events are best-effort: a sink that takes connections and never answers.
    let sink = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", sink.local_addr().unwrap());
    let host = host(dir.path(), &url, 1, Duration::from_millis(10));
    assert_eq!(
        harness::platform::local::host::MAX_INSTANCES_STARTED,
        10 * u64::from(harness::scenario::MAX_INSTANCES)
    );
    host.set_instance_limit(1);
    let first = host.start_instance("A", PRODUCTION).await.unwrap();
    for _ in 0..2 {
        let e = host
            .start_instance("B", PRODUCTION)
            .await
            .expect_err("past the limit");
        assert!(e.to_string().contains("has started 1 instances"), "{e:#}");
    }
    host.kill(&first).await;
    let ledger = host.ledger().events();
    let count = |name: Kind| ledger.iter().filter(|e| e.event == name).count();
    assert_eq!(
        count(Kind::InstanceStarted),
        1,
        "nothing launched past the limit"
    );
    let said: Vec<_> = ledger
        .iter()
        .filter(|e| e.event == Kind::InstanceLimit)
        .collect();
    assert_eq!(said.len(), 1, "said once");
    assert_eq!(said[0].get_u64("limit"), Some(1));
    assert_eq!(said[0].version, "B");
}
