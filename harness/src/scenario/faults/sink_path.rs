//! The sink-path faults: `latency`, `http_error`, `reset`, `blackhole`, `fail_first` and
//! `bandwidth`, which act on each request in the fault proxy between the instances and the
//! sink (a [`fault_proxy::Action`](Action)), for the fault's window.

use std::time::Duration;

use serde::Serialize;

use super::entry::{Entry, Refusal};
use super::kind::Kind;
use super::scheduled::{ms, Act};
use crate::duration::{Span, TimeScale};
use crate::fault_proxy::Action;

/// The chance a sink-path fault acts on a request. Default 1.
fn chance(probability: Option<f64>) -> f64 {
    probability.unwrap_or(1.0)
}

/// The status an `http_error` or `fail_first` answers. Default 503.
fn status_or_default(status: Option<u16>) -> u16 {
    status.unwrap_or(503)
}

/// The longest `latency`, so a typo cannot hold every item for a day.
const MAX_LATENCY: Duration = Duration::from_secs(60);

/// `latency`: each request waits `latency ± jitter` before it is forwarded.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Latency {
    pub at: Span,
    pub duration: Span,
    pub latency: Span,
    /// The added latency is uniform in `latency ± jitter`. Default 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jitter: Option<Span>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
}

impl Latency {
    pub(super) fn read(e: &mut Entry) -> Result<Latency, Refusal> {
        Ok(Latency {
            at: e.at()?,
            duration: e.duration()?,
            latency: e.need("latency", || "a latency fault needs a latency".into())?,
            jitter: e.opt("jitter")?,
            probability: e.opt("probability")?,
        })
    }
}

impl Kind for Latency {
    fn at(&self) -> Span {
        self.at
    }
    fn duration(&self) -> Option<Span> {
        Some(self.duration)
    }
    fn on_sink_path(&self) -> bool {
        true
    }
    fn probability(&self) -> Option<f64> {
        self.probability
    }
    fn check(&self) -> Result<(), (&'static str, String)> {
        if self.latency.0 > MAX_LATENCY {
            return Err(("latency", "must be at most 60s".into()));
        }
        if self.jitter.is_some_and(|j| j > self.latency) {
            return Err(("jitter", "must be at most the latency".into()));
        }
        Ok(())
    }
    fn act(&self, scale: TimeScale, params: &mut Vec<(&'static str, String)>) -> Act {
        let (base, jitter) = (
            scale.span(self.latency),
            scale.span(self.jitter.unwrap_or_default()),
        );
        let probability = chance(self.probability);
        params.push(("latency_ms", ms(base)));
        params.push(("jitter_ms", ms(jitter)));
        params.push(("probability", probability.to_string()));
        Act::SinkPath(Action::Latency {
            base,
            jitter,
            probability,
        })
    }
}

/// `http_error`: answers `status` instead of forwarding.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HttpError {
    pub at: Span,
    pub duration: Span,
    /// Default 503.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
}

impl HttpError {
    pub(super) fn read(e: &mut Entry) -> Result<HttpError, Refusal> {
        Ok(HttpError {
            at: e.at()?,
            duration: e.duration()?,
            status: e.opt("status")?,
            probability: e.opt("probability")?,
        })
    }
}

impl Kind for HttpError {
    fn at(&self) -> Span {
        self.at
    }
    fn duration(&self) -> Option<Span> {
        Some(self.duration)
    }
    fn on_sink_path(&self) -> bool {
        true
    }
    fn probability(&self) -> Option<f64> {
        self.probability
    }
    fn status(&self) -> Option<u16> {
        self.status
    }
    fn act(&self, _: TimeScale, params: &mut Vec<(&'static str, String)>) -> Act {
        let (status, probability) = (status_or_default(self.status), chance(self.probability));
        params.push(("status", status.to_string()));
        params.push(("probability", probability.to_string()));
        Act::SinkPath(Action::HttpError {
            status,
            probability,
        })
    }
}

/// `reset`: the connection is reset under the request.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Reset {
    pub at: Span,
    pub duration: Span,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
}

impl Reset {
    pub(super) fn read(e: &mut Entry) -> Result<Reset, Refusal> {
        Ok(Reset {
            at: e.at()?,
            duration: e.duration()?,
            probability: e.opt("probability")?,
        })
    }
}

impl Kind for Reset {
    fn at(&self) -> Span {
        self.at
    }
    fn duration(&self) -> Option<Span> {
        Some(self.duration)
    }
    fn on_sink_path(&self) -> bool {
        true
    }
    fn probability(&self) -> Option<f64> {
        self.probability
    }
    fn act(&self, _: TimeScale, params: &mut Vec<(&'static str, String)>) -> Act {
        let probability = chance(self.probability);
        params.push(("probability", probability.to_string()));
        Act::SinkPath(Action::Reset { probability })
    }
}

/// `blackhole`: the request is accepted and never answered.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Blackhole {
    pub at: Span,
    pub duration: Span,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
}

impl Blackhole {
    pub(super) fn read(e: &mut Entry) -> Result<Blackhole, Refusal> {
        Ok(Blackhole {
            at: e.at()?,
            duration: e.duration()?,
            probability: e.opt("probability")?,
        })
    }
}

impl Kind for Blackhole {
    fn at(&self) -> Span {
        self.at
    }
    fn duration(&self) -> Option<Span> {
        Some(self.duration)
    }
    fn on_sink_path(&self) -> bool {
        true
    }
    fn probability(&self) -> Option<f64> {
        self.probability
    }
    fn act(&self, _: TimeScale, params: &mut Vec<(&'static str, String)>) -> Act {
        let probability = chance(self.probability);
        params.push(("probability", probability.to_string()));
        Act::SinkPath(Action::Blackhole { probability })
    }
}

/// `fail_first`: the first `count` requests of the window answer `status`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FailFirst {
    pub at: Span,
    pub duration: Span,
    /// Default 503.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    pub count: u64,
}

impl FailFirst {
    pub(super) fn read(e: &mut Entry) -> Result<FailFirst, Refusal> {
        Ok(FailFirst {
            at: e.at()?,
            duration: e.duration()?,
            count: e.need("count", || FailFirst::NO_COUNT.into())?,
            status: e.opt("status")?,
        })
    }

    const NO_COUNT: &'static str = "a fail_first fault needs a count of at least 1";
}

impl Kind for FailFirst {
    fn at(&self) -> Span {
        self.at
    }
    fn duration(&self) -> Option<Span> {
        Some(self.duration)
    }
    fn on_sink_path(&self) -> bool {
        true
    }
    fn status(&self) -> Option<u16> {
        self.status
    }
    fn check(&self) -> Result<(), (&'static str, String)> {
        if self.count == 0 {
            return Err(("count", FailFirst::NO_COUNT.into()));
        }
        Ok(())
    }
    fn act(&self, _: TimeScale, params: &mut Vec<(&'static str, String)>) -> Act {
        let status = status_or_default(self.status);
        params.push(("status", status.to_string()));
        params.push(("count", self.count.to_string()));
        Act::SinkPath(Action::FailFirst {
            count: self.count,
            status,
        })
    }
}

/// `bandwidth`: requests and answers through the proxy share `bytes_per_s`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Bandwidth {
    pub at: Span,
    pub duration: Span,
    /// The cap on request and answer bytes, per second. Scaled as a rate: divided by the
    /// time scale, so the delays it causes keep their size against the run's schedule.
    pub bytes_per_s: u64,
}

impl Bandwidth {
    pub(super) fn read(e: &mut Entry) -> Result<Bandwidth, Refusal> {
        Ok(Bandwidth {
            at: e.at()?,
            duration: e.duration()?,
            bytes_per_s: e.need("bytes_per_s", || Bandwidth::NO_RATE.into())?,
        })
    }

    const NO_RATE: &'static str = "a bandwidth fault needs bytes_per_s of at least 1";
}

impl Kind for Bandwidth {
    fn at(&self) -> Span {
        self.at
    }
    fn duration(&self) -> Option<Span> {
        Some(self.duration)
    }
    fn on_sink_path(&self) -> bool {
        true
    }
    fn check(&self) -> Result<(), (&'static str, String)> {
        if self.bytes_per_s == 0 {
            return Err(("bytes_per_s", Bandwidth::NO_RATE.into()));
        }
        Ok(())
    }
    fn act(&self, scale: TimeScale, params: &mut Vec<(&'static str, String)>) -> Act {
        params.push(("bytes_per_s", self.bytes_per_s.to_string()));
        // It takes no probability, but its rows have always said it acts on every request.
        params.push(("probability", chance(None).to_string()));
        Act::SinkPath(Action::Bandwidth {
            bytes_per_s: scale.rate(self.bytes_per_s),
        })
    }
}
