//! `expected.json`: what should arrive, and when.
//!
//! Each source's expected keys form a dense grid: every occurrence `m` in `first..=last` times
//! every iteration `n` in `0..items`. The checker keeps one cell per grid point, so its memory
//! grows with the expected keys, never with the number of arrival rows.

use serde::{Deserialize, Serialize};

/// The whole `expected.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedSpec {
    pub sources: Vec<SourceSpec>,
    /// An item whose first arrival is more than this after its scheduled time is late.
    pub late_after_ns: i64,
}

/// One source's schedule and window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    pub source: String,
    /// The schedule's origin: occurrence `m` fires at `epoch_ns + m * period_ns`.
    pub epoch_ns: i64,
    pub period_ns: i64,
    /// Iterations per occurrence: `n` runs over `0..items`.
    pub items: u64,
    /// Time between the scheduled sends of consecutive iterations.
    pub item_delay_ns: i64,
    /// First and last expected occurrence, inclusive.
    pub first: u64,
    pub last: u64,
}

/// Why an `expected.json` cannot describe a window.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("source {name:?}: {why}")]
    Source { name: String, why: String },
    #[error("source {0:?} is listed twice")]
    DuplicateSource(String),
    #[error("late_after_ns must not be negative (got {0})")]
    NegativeLateAfter(i64),
    #[error(
        "the expected grid has {0} keys, more than the checker's limit of {MAX_EXPECTED_KEYS}"
    )]
    TooManyKeys(u128),
}

/// The most expected keys one check holds in memory (16 bytes each: 1.6 GB at the limit).
pub const MAX_EXPECTED_KEYS: u128 = 100_000_000;

impl SourceSpec {
    /// Number of expected keys of this source.
    pub fn key_count(&self) -> u64 {
        (self.last - self.first + 1) * self.items
    }

    /// Where `(m, n)` sits in this source's grid, if it is expected.
    #[inline]
    pub fn index(&self, m: u64, n: u64) -> Option<usize> {
        if m < self.first || m > self.last || n >= self.items {
            return None;
        }
        Some(((m - self.first) * self.items + n) as usize)
    }

    /// The key at a grid index (the inverse of [`SourceSpec::index`]).
    pub fn key_at(&self, index: usize) -> (u64, u64) {
        let i = index as u64;
        (self.first + i / self.items, i % self.items)
    }

    /// `epoch + m*period + n*item_delay`, saturating rather than wrapping on absurd input.
    pub fn scheduled_ns(&self, m: u64, n: u64) -> i64 {
        let t = i128::from(self.epoch_ns)
            + i128::from(m) * i128::from(self.period_ns)
            + i128::from(n) * i128::from(self.item_delay_ns);
        t.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
    }

    fn validate(&self) -> Result<(), SpecError> {
        let err = |why: String| SpecError::Source {
            name: self.source.clone(),
            why,
        };
        sink::item::check_name(&self.source).map_err(|why| err(format!("name {why}")))?;
        if self.period_ns <= 0 {
            return Err(err(format!(
                "period_ns must be positive (got {})",
                self.period_ns
            )));
        }
        if self.items == 0 {
            return Err(err("items must be at least 1".into()));
        }
        if self.item_delay_ns < 0 {
            return Err(err(format!(
                "item_delay_ns must not be negative (got {})",
                self.item_delay_ns
            )));
        }
        if self.first > self.last {
            return Err(err(format!(
                "first ({}) is after last ({}): the window is empty",
                self.first, self.last
            )));
        }
        Ok(())
    }
}

impl ExpectedSpec {
    /// Checks every source and the total size of the grid.
    pub fn validate(&self) -> Result<(), SpecError> {
        if self.late_after_ns < 0 {
            return Err(SpecError::NegativeLateAfter(self.late_after_ns));
        }
        let mut total: u128 = 0;
        for (i, s) in self.sources.iter().enumerate() {
            s.validate()?;
            if self.sources[..i].iter().any(|o| o.source == s.source) {
                return Err(SpecError::DuplicateSource(s.source.clone()));
            }
            total += u128::from(s.last - s.first + 1) * u128::from(s.items);
        }
        if total > MAX_EXPECTED_KEYS {
            return Err(SpecError::TooManyKeys(total));
        }
        Ok(())
    }

    /// |E|: the number of expected keys.
    pub fn key_count(&self) -> u64 {
        self.sources.iter().map(SourceSpec::key_count).sum()
    }

    pub fn source_index(&self, source: &str) -> Option<usize> {
        self.sources.iter().position(|s| s.source == source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tick() -> SourceSpec {
        SourceSpec {
            source: "tick".into(),
            epoch_ns: 0,
            period_ns: 10_000_000_000,
            items: 10,
            item_delay_ns: 1_000_000_000,
            first: 3,
            last: 9,
        }
    }

    #[test]
    fn grid_indexing_round_trips() {
        let s = tick();
        assert_eq!(s.key_count(), 70);
        assert_eq!(s.index(3, 0), Some(0));
        assert_eq!(s.index(9, 9), Some(69));
        assert_eq!(s.index(2, 0), None);
        assert_eq!(s.index(10, 0), None);
        assert_eq!(s.index(3, 10), None);
        for i in 0..70 {
            let (m, n) = s.key_at(i);
            assert_eq!(s.index(m, n), Some(i));
        }
        assert_eq!(s.scheduled_ns(3, 2), 32_000_000_000);
    }

    #[test]
    fn validation_names_the_problem() {
        let mut s = tick();
        s.first = 10;
        let spec = ExpectedSpec {
            sources: vec![s],
            late_after_ns: 0,
        };
        assert!(spec
            .validate()
            .unwrap_err()
            .to_string()
            .contains("window is empty"));
        let spec = ExpectedSpec {
            sources: vec![tick(), tick()],
            late_after_ns: 0,
        };
        assert_eq!(
            spec.validate().unwrap_err(),
            SpecError::DuplicateSource("tick".into())
        );
    }
}
