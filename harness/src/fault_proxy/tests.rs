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

// On paused time the sleep below returns only once every task waits: the held request has
// reached the proxy by then, whatever the machine's load.
#[tokio::test(start_paused = true)]
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

// The delays are timed on a runtime whose clock is paused: tokio moves it on only when every
// task waits, and the proxy, its upstream and the client all talk over loopback on one thread,
// so the time a request takes is exactly what the proxy waited, with none of the machine's
// load in it. That is what lets these tests hold the delays to upper bounds too.

/// Sends `n` requests one after another, each with `body_bytes` of body: the time each took.
async fn timed(url: &str, n: usize, body_bytes: usize) -> Vec<Duration> {
    let c = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut took = Vec::new();
    for _ in 0..n {
        let t = tokio::time::Instant::now();
        let r = c
            .post(url)
            .body(vec![b'x'; body_bytes])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        took.push(t.elapsed());
    }
    took
}

#[tokio::test(start_paused = true)]
async fn latency_waits_uniformly_within_its_jitter_of_the_base() {
    let (proxy, url, hits, stop) = proxied().await;
    proxy.begin(
        0,
        Action::Latency {
            base: Duration::from_millis(150),
            jitter: Duration::from_millis(50),
            probability: 1.0,
        },
    );
    let n = 400;
    let took = timed(&url, n, 10).await;
    assert_eq!(proxy.end(0).affected, n as u64);
    assert_eq!(hits.load(Ordering::SeqCst), n as u64);
    // Every wait within 150 +- 50 ms; tokio's timers round up to the next millisecond.
    let ms: Vec<f64> = took.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    for w in &ms {
        assert!((100.0..=201.0).contains(w), "a wait of {w} ms");
    }
    // Uniform on [100, 200] ms: the Kolmogorov-Smirnov distance of the waits from it stays
    // under the 0.1% critical value, 1.95 / sqrt(n). A constant wait (jitter ignored) is 0.5
    // away, a normal one or one on half the range about 0.25.
    let mut sorted = ms.clone();
    sorted.sort_by(f64::total_cmp);
    let d = sorted
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let cdf = ((w - 100.0) / 100.0).clamp(0.0, 1.0);
            let (below, above) = (i as f64 / n as f64, (i + 1) as f64 / n as f64);
            (cdf - below).abs().max((above - cdf).abs())
        })
        .fold(0.0, f64::max);
    assert!(
        d < 1.95 / (n as f64).sqrt(),
        "KS distance {d} from uniform on [100, 200] ms"
    );
    // With the fault ended, a request takes no time at all.
    assert_eq!(timed(&url, 1, 10).await, [Duration::ZERO]);
    stop.cancel();
}

#[tokio::test(start_paused = true)]
async fn latency_with_a_probability_delays_about_that_share_by_exactly_the_base() {
    let (proxy, url, _hits, stop) = proxied().await;
    proxy.begin(
        0,
        Action::Latency {
            base: Duration::from_millis(40),
            jitter: Duration::ZERO,
            probability: 0.25,
        },
    );
    let n = 400;
    let took = timed(&url, n, 10).await;
    let delayed = took.iter().filter(|d| !d.is_zero()).count();
    // Each one delayed waited the base, no more, and the rest not at all.
    assert!(
        took.iter()
            .all(|d| d.is_zero() || *d == Duration::from_millis(40)),
        "{took:?}"
    );
    assert_eq!(proxy.end(0).affected, delayed as u64);
    // Binomial(400, 0.25): 100 +- 4.4 sigma.
    assert!((62..=138).contains(&delayed), "{delayed} of {n} delayed");
    stop.cancel();
}

#[tokio::test(start_paused = true)]
async fn bandwidth_passes_bytes_at_the_cap_and_no_slower() {
    let (proxy, url, hits, stop) = proxied().await;
    proxy.begin(
        0,
        Action::Bandwidth {
            bytes_per_s: 100_000,
        },
    );
    // 10 bodies of 10 kB at 100 kB/s: one second for the bodies, and a little for each
    // request's head (under 300 bytes) and answer (`got 10000`): at most 50 ms more.
    let took: Duration = timed(&url, 10, 10_000).await.into_iter().sum();
    assert!(
        took >= Duration::from_secs(1) && took <= Duration::from_millis(1050),
        "{took:?}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 10);
    assert_eq!(proxy.end(0).affected, 10);
    stop.cancel();
}

#[tokio::test(start_paused = true)]
async fn bandwidth_is_shared_by_the_requests_that_meet_it() {
    let (proxy, url, _hits, stop) = proxied().await;
    proxy.begin(
        0,
        Action::Bandwidth {
            bytes_per_s: 100_000,
        },
    );
    // Four requests of 25 kB at once: together, they pass in a second, not in a quarter.
    let t = tokio::time::Instant::now();
    let mut all = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let url = url.clone();
        all.spawn(async move { timed(&url, 1, 25_000).await });
    }
    while let Some(done) = all.join_next().await {
        done.unwrap();
    }
    let took = t.elapsed();
    assert!(
        took >= Duration::from_secs(1) && took <= Duration::from_millis(1020),
        "{took:?}"
    );
    assert_eq!(proxy.end(0).affected, 4);
    stop.cancel();
}
