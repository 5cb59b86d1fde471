//! `expected.json`: what should arrive, and when.
//!
//! Each source's expected keys form a grid: every occurrence `m` in `first..=last` times every
//! iteration `n` in `0..items`. Under a demand schedule (a queue workload whose polls find more
//! changes at some times than at others) occurrence `m` expects only `n < counts[m - first]`;
//! the grid stays `items` (the largest count) wide and the cells past an occurrence's count
//! are not expected. The checker keeps one cell per grid point, so its memory grows with the
//! grid, never with the number of arrival rows.

use serde::{Deserialize, Serialize};

/// The whole `expected.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedSpec {
    pub sources: Vec<SourceSpec>,
    /// An item whose first arrival is more than this after its scheduled time is late.
    pub late_after_ns: i64,
    /// The log-based completion estimate to hold against the truth, when the run evaluates
    /// it (a rolling update).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion: Option<CompletionSpec>,
}

/// The completion estimate's parameters, as the Flex plan's query has them, scaled.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompletionSpec {
    /// How often the query runs and how far back it looks for current instances.
    pub check_interval_ns: i64,
    /// How far before the update's acceptance it looks for the original instances.
    pub buffer_ns: i64,
    /// The version the update moves from: its instances are the ones that must be gone.
    pub from_version: String,
}

/// One source's schedule and window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    pub source: String,
    /// The schedule's origin: occurrence `m` fires at `epoch_ns + m * period_ns`.
    pub epoch_ns: i64,
    pub period_ns: i64,
    /// Iterations per occurrence: `n` runs over `0..items` (the largest count, under `counts`).
    pub items: u64,
    /// Items of each occurrence `first..=last`, when they differ (a demand schedule): `m`
    /// expects `n < counts[m - first]`. Absent: every occurrence expects `items`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counts: Option<Vec<u64>>,
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
        match &self.counts {
            Some(counts) => counts.iter().sum(),
            None => (self.last - self.first + 1) * self.items,
        }
    }

    /// Cells of the grid, expected or not: `(last - first + 1) * items`.
    pub fn grid_len(&self) -> u64 {
        (self.last - self.first + 1) * self.items
    }

    /// Items occurrence `m` expects (0 outside the window).
    #[inline]
    pub fn count(&self, m: u64) -> u64 {
        if m < self.first || m > self.last {
            return 0;
        }
        match &self.counts {
            Some(counts) => counts.get((m - self.first) as usize).copied().unwrap_or(0),
            None => self.items,
        }
    }

    /// Whether the grid cell at `index` is an expected key.
    #[inline]
    pub fn expects_cell(&self, index: usize) -> bool {
        let (m, n) = self.key_at(index);
        n < self.count(m)
    }

    /// Where `(m, n)` sits in this source's grid, if it is expected.
    #[inline]
    pub fn index(&self, m: u64, n: u64) -> Option<usize> {
        if m < self.first || m > self.last || n >= self.items || n >= self.count(m) {
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
        // In u128, before anything sizes by it: `first = 0, last = u64::MAX` has 2^64
        // occurrences, and a grid of 2^32 x 2^32 cells wraps to 0 in u64.
        let rows = u128::from(self.last - self.first) + 1;
        let cells = rows * u128::from(self.items);
        if cells > MAX_EXPECTED_KEYS {
            return Err(SpecError::TooManyKeys(cells));
        }
        if let Some(counts) = &self.counts {
            if counts.len() as u128 != rows {
                return Err(err(format!(
                    "counts has {} entries for the {rows} occurrences {}..={}",
                    counts.len(),
                    self.first,
                    self.last
                )));
            }
            if let Some(c) = counts.iter().find(|&&c| c > self.items) {
                return Err(err(format!(
                    "a count ({c}) is above items ({}), the grid's width",
                    self.items
                )));
            }
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
            // Checks this source's grid against the limit, so `grid_len` cannot overflow.
            s.validate()?;
            if self.sources[..i].iter().any(|o| o.source == s.source) {
                return Err(SpecError::DuplicateSource(s.source.clone()));
            }
            total += u128::from(s.grid_len());
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
            counts: None,
        }
    }

    #[test]
    fn a_demand_schedule_expects_each_occurrence_its_own_count() {
        let s = SourceSpec {
            counts: Some(vec![2, 10, 0, 1, 1, 1, 1]),
            ..tick()
        };
        assert_eq!(s.key_count(), 16);
        assert_eq!(s.grid_len(), 70);
        assert_eq!(s.index(3, 1), Some(1));
        assert_eq!(s.index(3, 2), None, "occurrence 3 expects two items");
        assert_eq!(s.index(4, 9), Some(19));
        assert_eq!(s.index(5, 0), None, "occurrence 5 expects none");
        let expected: usize = (0..70).filter(|&i| s.expects_cell(i)).count();
        assert_eq!(expected, 16);
        ExpectedSpec {
            sources: vec![s.clone()],
            late_after_ns: 0,
            completion: None,
        }
        .validate()
        .unwrap();
        let short = SourceSpec {
            counts: Some(vec![1; 3]),
            ..tick()
        };
        assert!(short
            .validate()
            .unwrap_err()
            .to_string()
            .contains("3 entries"));
        let wide = SourceSpec {
            counts: Some(vec![11; 7]),
            ..tick()
        };
        assert!(wide
            .validate()
            .unwrap_err()
            .to_string()
            .contains("above items"));
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
            completion: None,
        };
        assert!(spec
            .validate()
            .unwrap_err()
            .to_string()
            .contains("window is empty"));
        let spec = ExpectedSpec {
            sources: vec![tick(), tick()],
            late_after_ns: 0,
            completion: None,
        };
        assert_eq!(
            spec.validate().unwrap_err(),
            SpecError::DuplicateSource("tick".into())
        );
    }
}
