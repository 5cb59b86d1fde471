//! A bad release: how the test function misbehaves when the scenario ships a bad version
//! (`[app.to_behaviour]`): it exits at start, never becomes ready, fails a fraction of its
//! invocations or HTTP requests, is slower, or crashes after a while. The host passes these
//! flags to the instances of the version being deployed only.

use std::sync::atomic::{AtomicU64, Ordering};

/// The release's flags on the function's command line.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ReleaseArgs {
    /// How it starts: ok, exit (exits before serving) or unready (its /health answers 503).
    #[arg(long, default_value = "ok", value_parser = ["ok", "exit", "unready"])]
    pub start: String,
    /// Fraction of invocations (timer runs, queue messages) that fail at once.
    #[arg(long, default_value_t = 0.0)]
    pub fail_rate: f64,
    /// Fraction of /api/ping requests answered 500.
    #[arg(long, default_value_t = 0.0)]
    pub http_fail_rate: f64,
    /// Processing and item waits take this many times as long.
    #[arg(long, default_value_t = 1.0)]
    pub slowdown: f64,
    /// Exit with an error this long after serving began.
    #[arg(long)]
    pub crash_after_ns: Option<u64>,
    /// Hold this many MiB of memory, written, from the start (before serving).
    #[arg(long, default_value_t = 0)]
    pub hold_mib: u64,
    /// Seeds which invocations fail, so a run replays exactly.
    #[arg(long, default_value_t = 1)]
    pub fault_seed: u64,
}

/// The release's behaviour, as the running function consults it.
#[derive(Debug, Default)]
pub struct Release {
    pub args: ReleaseArgs,
    /// Requests seen, for the HTTP failures' draw.
    requests: AtomicU64,
}

impl Release {
    pub fn new(args: ReleaseArgs) -> Release {
        Release {
            args,
            requests: AtomicU64::new(0),
        }
    }

    pub fn never_ready(&self) -> bool {
        self.args.start == "unready"
    }

    /// Whether the invocation of `(source, m, n)` fails: the same answer in every instance
    /// and every replay of the run, drawn from the seed.
    pub fn invocation_fails(&self, source: &str, m: u64, n: u64) -> bool {
        self.args.fail_rate > 0.0 && draw(self.args.fault_seed, source, m, n) < self.args.fail_rate
    }

    /// Whether this HTTP request fails (every request draws the next number of the seed).
    pub fn request_fails(&self) -> bool {
        if self.args.http_fail_rate <= 0.0 {
            return false;
        }
        let i = self.requests.fetch_add(1, Ordering::Relaxed);
        draw(self.args.fault_seed, "http", i, 0) < self.args.http_fail_rate
    }
}

/// A uniform draw in [0, 1) from the seed and the key (SplitMix64 over an FNV-1a hash).
fn draw(seed: u64, source: &str, m: u64, n: u64) -> f64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for b in source.bytes().chain(m.to_le_bytes()).chain(n.to_le_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let mut z = h.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fail_rate_fails_about_that_fraction_the_same_way_every_time() {
        let r = Release::new(ReleaseArgs {
            fail_rate: 0.3,
            fault_seed: 7,
            ..ReleaseArgs::default()
        });
        let fails: Vec<bool> = (0..2000)
            .map(|m| r.invocation_fails("tick", m, 0))
            .collect();
        let rate = fails.iter().filter(|f| **f).count() as f64 / 2000.0;
        assert!((0.26..0.34).contains(&rate), "about 30%: {rate}");
        let again: Vec<bool> = (0..2000)
            .map(|m| r.invocation_fails("tick", m, 0))
            .collect();
        assert_eq!(fails, again, "the same draws for the same seed");
        let healthy = Release::new(ReleaseArgs {
            slowdown: 1.0,
            ..ReleaseArgs::default()
        });
        assert!(!(0..100).any(|m| healthy.invocation_fails("tick", m, 0)));
        assert!(!healthy.request_fails());
    }
}
