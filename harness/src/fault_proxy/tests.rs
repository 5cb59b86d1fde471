//! The proxy against an upstream that counts what reaches it: each action, its counts, and
//! forwarding untouched when no fault acts.

use super::*;
use std::sync::atomic::AtomicU64;

/// An upstream that counts what reaches it, and the proxy in front of it.
async fn proxied() -> (FaultProxy, String, Arc<AtomicU64>, CancellationToken) {
    let hits = Arc::new(AtomicU64::new(0));
    let counter = hits.clone();
    let app = axum::Router::new().route(
        "/items",
        axum::routing::post(move |body: Bytes| {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                (StatusCode::ACCEPTED, format!("got {}", body.len()))
            }
        }),
    );
    let upstream = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream_addr = upstream.local_addr().unwrap();
    let stop = CancellationToken::new();
    let s = stop.clone();
    tokio::spawn(async move {
        axum::serve(upstream, app)
            .with_graceful_shutdown(s.cancelled_owned())
            .await
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/items", listener.local_addr().unwrap());
    let proxy = FaultProxy::new(upstream_addr, 7, crate::clock::Clock::system());
    tokio::spawn(proxy.clone().serve(listener, stop.clone()));
    (proxy, url, hits, stop)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(800))
        .build()
        .unwrap()
}

/// Sends `n` requests one after another: each answer's status, or the error's kind.
async fn send(url: &str, n: usize) -> Vec<Result<u16, String>> {
    let c = client();
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(match c.post(url).body("0123456789").send().await {
            Ok(r) => Ok(r.status().as_u16()),
            Err(e) if e.is_timeout() => Err("timeout".into()),
            Err(e) => Err(format!("{:?}", std::error::Error::source(&e))),
        });
    }
    out
}

#[tokio::test]
async fn forwards_untouched_without_a_fault() {
    let (_proxy, url, hits, stop) = proxied().await;
    let r = client().post(&url).body("abc").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(r.text().await.unwrap(), "got 3");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    stop.cancel();
}

#[tokio::test]
async fn a_fault_set_to_never_acts_on_nothing() {
    let (proxy, url, hits, stop) = proxied().await;
    let actions = [
        Action::HttpError {
            status: 503,
            probability: 0.0,
        },
        Action::Reset { probability: 0.0 },
        Action::Blackhole { probability: 0.0 },
        Action::Latency {
            base: Duration::from_secs(5),
            jitter: Duration::ZERO,
            probability: 0.0,
        },
    ];
    for (i, a) in actions.into_iter().enumerate() {
        proxy.begin(i, a);
    }
    let got = send(&url, 20).await;
    assert!(got.iter().all(|r| *r == Ok(202)), "{got:?}");
    assert_eq!(hits.load(Ordering::SeqCst), 20);
    for i in 0..4 {
        assert_eq!(
            proxy.end(i),
            Counts {
                requests: 20,
                affected: 0
            }
        );
    }
    stop.cancel();
}

#[tokio::test]
async fn an_http_error_set_to_always_refuses_every_request() {
    let (proxy, url, hits, stop) = proxied().await;
    proxy.begin(
        0,
        Action::HttpError {
            status: 503,
            probability: 1.0,
        },
    );
    let got = send(&url, 10).await;
    assert!(got.iter().all(|r| *r == Ok(503)), "{got:?}");
    assert_eq!(hits.load(Ordering::SeqCst), 0);
    assert_eq!(proxy.end(0).affected, 10);
    // Once ended, requests pass again.
    assert_eq!(send(&url, 1).await, vec![Ok(202)]);
    stop.cancel();
}

#[tokio::test]
async fn a_reset_set_to_always_resets_every_connection() {
    let (proxy, url, hits, stop) = proxied().await;
    proxy.begin(0, Action::Reset { probability: 1.0 });
    let got = send(&url, 5).await;
    for r in &got {
        let e = r.as_ref().expect_err("no answer under a reset");
        assert!(e.contains("ConnectionReset"), "{e}");
    }
    assert_eq!(hits.load(Ordering::SeqCst), 0);
    assert_eq!(proxy.end(0).affected, 5);
    stop.cancel();
}

#[tokio::test]
async fn a_blackhole_never_answers_even_after_it_ends() {
    let (proxy, url, hits, stop) = proxied().await;
    proxy.begin(0, Action::Blackhole { probability: 1.0 });
    let got = send(&url, 2).await;
    assert_eq!(got, vec![Err("timeout".into()), Err("timeout".into())]);
    // A request held when the fault ends is still not answered: its client times out.
    let held = tokio::spawn({
        let url = url.clone();
        async move { client().post(&url).send().await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(proxy.end(0).affected, 3);
    let held = held.await.unwrap().expect_err("never answered");
    assert!(held.is_timeout(), "{held:?}");
    assert_eq!(hits.load(Ordering::SeqCst), 0);
    // New requests pass.
    assert_eq!(send(&url, 1).await, vec![Ok(202)]);
    stop.cancel();
}

#[tokio::test]
async fn fail_first_fails_exactly_its_count() {
    let (proxy, url, hits, stop) = proxied().await;
    proxy.begin(
        0,
        Action::FailFirst {
            count: 3,
            status: 500,
        },
    );
    let got = send(&url, 8).await;
    let want: Vec<Result<u16, String>> = [500, 500, 500, 202, 202, 202, 202, 202]
        .into_iter()
        .map(Ok)
        .collect();
    assert_eq!(got, want);
    assert_eq!(hits.load(Ordering::SeqCst), 5);
    assert_eq!(
        proxy.end(0),
        Counts {
            requests: 8,
            affected: 3
        }
    );
    stop.cancel();
}

#[tokio::test]
async fn latency_set_to_always_delays_every_request() {
    let (proxy, url, _hits, stop) = proxied().await;
    proxy.begin(
        0,
        Action::Latency {
            base: Duration::from_millis(150),
            jitter: Duration::from_millis(50),
            probability: 1.0,
        },
    );
    let c = client();
    for _ in 0..4 {
        let t = std::time::Instant::now();
        let r = c.post(&url).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        assert!(
            t.elapsed() >= Duration::from_millis(100),
            "{:?}",
            t.elapsed()
        );
    }
    assert_eq!(proxy.end(0).affected, 4);
    stop.cancel();
}

#[tokio::test]
async fn bandwidth_holds_requests_to_the_cap() {
    let (proxy, url, hits, stop) = proxied().await;
    // 10 requests of about 1 kB through 20 kB/s: at least half a second in all.
    proxy.begin(
        0,
        Action::Bandwidth {
            bytes_per_s: 20_000,
        },
    );
    let c = reqwest::Client::builder().no_proxy().build().unwrap();
    let t = std::time::Instant::now();
    for _ in 0..10 {
        let r = c.post(&url).body(vec![b'x'; 1000]).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::ACCEPTED);
    }
    assert!(
        t.elapsed() >= Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(hits.load(Ordering::SeqCst), 10);
    assert_eq!(proxy.end(0).affected, 10);
    stop.cancel();
}
