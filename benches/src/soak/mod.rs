//! The soak: the sink under a steady open-loop load for minutes, the resident memory of the
//! sink and of a long harness run sampled beside it, and a check that nothing acknowledged
//! was lost.
//!
//! `benches/scripts/soak.sh` starts the processes; the `soak` binary does the measuring, in
//! three stages that talk through files in one output directory:
//!
//! - [`load`]: `soak load` posts uniquely numbered items at a fixed rate over N keep-alive
//!   connections and writes `load.json` (what was sent, acknowledged, refused, failed) and
//!   `acked.csv` (which items the sink acknowledged);
//! - [`sample`]: `soak sample` writes a process's `VmRSS` and `VmHWM` once a second
//!   (`sink-rss.csv`, `harness-rss.csv`);
//! - [`report`]: `soak report` reads them back with the sink's `arrivals.csv` and the harness
//!   run's `summary.json`, prints the table, writes `soak.json` and says whether the soak
//!   passed.
//!
//! Item `id` (0, 1, 2, ... in the order of the schedule) is sent as the key
//! `(soak, id / rate, id % rate)`: `m` is the second of the schedule it was intended for and
//! `n` its place in that second, so `A(37,512)` is the 513th item of second 37.

pub mod load;
pub mod report;
pub mod sample;

/// The `source` of every item the soak sends.
pub const SOURCE: &str = "soak";
/// The `version` of every item the soak sends.
pub const VERSION: &str = "A";

/// What `soak load` writes: its counts and settings.
pub const LOAD_FILE: &str = "load.json";
/// What `soak load` writes: the acknowledged items, as ranges of ids.
pub const ACKED_FILE: &str = "acked.csv";
/// What `soak report` writes: every figure it printed, and the verdict.
pub const SOAK_FILE: &str = "soak.json";

/// The schema of [`LOAD_FILE`].
pub const LOAD_SCHEMA: &str = "update-harness/soak-load/1";
/// The schema of [`SOAK_FILE`].
pub const SOAK_SCHEMA: &str = "update-harness/soak/1";
/// The header of [`ACKED_FILE`]: inclusive ranges of item ids, ascending.
pub const ACKED_HEADER: &str = "first_id,last_id";

/// How item ids map to keys: `m = id / items_per_m`, `n = id % items_per_m`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Numbering {
    pub items_per_m: u64,
}

impl Numbering {
    pub fn key(self, id: u64) -> (u64, u64) {
        (id / self.items_per_m, id % self.items_per_m)
    }

    /// The id of key `(m, n)`, or `None` when no item of this numbering has that key.
    pub fn id(self, m: u64, n: u64) -> Option<u64> {
        if n >= self.items_per_m {
            return None;
        }
        m.checked_mul(self.items_per_m)?.checked_add(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_keys_round_trip() {
        let numbering = Numbering { items_per_m: 1000 };
        for id in [0, 1, 999, 1000, 37_512, u64::MAX / 1000 * 1000] {
            let (m, n) = numbering.key(id);
            assert_eq!(numbering.id(m, n), Some(id), "id {id}");
        }
        assert_eq!(numbering.key(37_512), (37, 512));
        assert_eq!(numbering.id(0, 1000), None);
        assert_eq!(numbering.id(u64::MAX, 0), None);
    }
}
