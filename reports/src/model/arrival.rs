//! One row of `arrivals.csv`: an item as the sink recorded it.

use serde::{Deserialize, Serialize};

/// An arrival with owned fields, for building histories in memory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Arrival {
    pub recv_ns: i64,
    pub source: String,
    pub m: u64,
    pub n: u64,
    pub version: String,
    pub instance: Option<String>,
    pub attempt: Option<u32>,
    pub sent_ns: Option<i64>,
}

/// An arrival borrowed from a CSV record: what the checker streams over without allocating.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArrivalRef<'a> {
    pub recv_ns: i64,
    pub source: &'a str,
    pub m: u64,
    pub n: u64,
    pub version: &'a str,
    pub instance: Option<&'a str>,
    pub attempt: Option<u32>,
    pub sent_ns: Option<i64>,
}

impl Arrival {
    pub fn as_ref(&self) -> ArrivalRef<'_> {
        ArrivalRef {
            recv_ns: self.recv_ns,
            source: &self.source,
            m: self.m,
            n: self.n,
            version: &self.version,
            instance: self.instance.as_deref(),
            attempt: self.attempt,
            sent_ns: self.sent_ns,
        }
    }

    /// A minimal arrival, for tests and generators.
    pub fn new(recv_ns: i64, source: &str, m: u64, n: u64, version: &str) -> Arrival {
        Arrival {
            recv_ns,
            source: source.into(),
            m,
            n,
            version: version.into(),
            instance: None,
            attempt: None,
            sent_ns: None,
        }
    }
}
