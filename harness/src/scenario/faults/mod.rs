//! `[[faults]]`: what the run breaks on purpose, and when.
//!
//! Each entry is one fault at `at` on the scenario clock (from the schedule's epoch, scaled
//! like every duration). Instance faults act on the app's processes through the platform:
//! `crash` (SIGKILL, then a restart of the same version in the same slot, as a real platform
//! restarts a dead instance), `pause` (SIGSTOP for `duration`, then SIGCONT) and `crash_loop`
//! (the chosen instances keep dying for `duration`: each restart lives `up_for`). Sink-path
//! faults act in the fault proxy the harness puts between the instances and the sink: added
//! `latency` (with `jitter`), `http_error` (answers `status` instead of forwarding),
//! `reset` (the connection is reset under the request), `blackhole` (accepted, never
//! answered), `fail_first` (the first `count` requests of the window answer `status`) and
//! `bandwidth` (requests and answers share `bytes_per_s`). Every sink-path fault but
//! `fail_first` acts on a request with `probability` (default 1: always; 0: never).
//! `sink_crash` stops the harness's own sink: a drill showing that a run whose sink dies
//! is invalid, never a pass.
//!
//! ```toml
//! [[faults]]
//! kind = "pause"
//! at = "30s"
//! duration = "2s"
//! version = "A"
//!
//! [[faults]]
//! kind = "blackhole"
//! at = "60s"
//! duration = "2s"
//! ```
//!
//! Each kind is one struct holding exactly the keys it takes (the instance faults in
//! `instance.rs`, the sink-path faults in `sink_path.rs`, the sink's own crash in
//! `sink_crash.rs`), and one line of `kinds!` here: the struct reads its keys from the file
//! ([`Entry`](entry::Entry)), checks them, and says what the run acts out
//! ([`Act`]: a signal and restart through the platform, or a
//! [`fault_proxy::Action`](crate::fault_proxy::Action)). Adding a kind is a struct, its line,
//! and the code that acts it out when that is new (`chaos.rs`, `fault_proxy/`).
//!
//! This file holds what needs every kind at once: the [`Fault`] enum the `kinds!` list
//! makes, its checks and schedule, and the reading of each `[[faults]]` entry as its
//! `kind` says. Its parts never import it: it imports them and re-exports their public
//! types.

use serde::de::{Deserializer, EnumAccess, IgnoredAny, MapAccess, VariantAccess, Visitor};
use serde::{Deserialize, Serialize};
use toml::de::{DeTable, DeValue, ValueDeserializer};

use crate::duration::Span;
use crate::duration::TimeScale;

mod entry;
mod instance;
mod kind;
mod scheduled;
mod sink_crash;
mod sink_path;
mod target;

use entry::{Entry, Refusal};
pub use instance::*;
use kind::Kind;
use scheduled::ms;
pub use scheduled::{Act, InstanceAct, ScheduledFault};
pub use sink_crash::*;
pub use sink_path::*;
pub use target::{Pick, Target};

/// The kinds, each once: its name in the file and its struct (the variant of [`Fault`] has
/// the struct's name).
macro_rules! kinds {
    ($($name:literal => $kind:ident,)*) => {
        /// One `[[faults]]` entry: its kind, holding exactly the keys that kind takes.
        #[derive(Clone, Debug, PartialEq, Serialize)]
        #[serde(tag = "kind")]
        pub enum Fault {
            $(#[serde(rename = $name)] $kind($kind),)*
        }

        impl Fault {
            /// Every kind, as `kind = "..."` names it.
            pub const KINDS: &'static [&'static str] = &[$($name),*];

            /// Its kind, as `kind = "..."` names it (and the ledger's rows).
            pub fn kind(&self) -> &'static str {
                match self {
                    $(Fault::$kind(_) => $name,)*
                }
            }

            fn spec(&self) -> &dyn Kind {
                match self {
                    $(Fault::$kind(f) => f,)*
                }
            }

            /// Reads an entry of kind `name`; `None` for no such kind.
            fn read_as(name: &str, entry: &mut Entry) -> Option<Result<Fault, Refusal>> {
                Some(match name {
                    $($name => $kind::read(entry).map(Fault::$kind),)*
                    _ => return None,
                })
            }
        }
    };
}

kinds! {
    "crash" => Crash,
    "pause" => Pause,
    "crash_loop" => CrashLoop,
    "latency" => Latency,
    "http_error" => HttpError,
    "reset" => Reset,
    "blackhole" => Blackhole,
    "fail_first" => FailFirst,
    "bandwidth" => Bandwidth,
    "sink_crash" => SinkCrash,
}

impl Fault {
    /// Acts on the app's instances (the rest act between the instances and the sink, or
    /// on the sink).
    pub fn on_instances(&self) -> bool {
        self.spec().target().is_some()
    }

    /// Acts in the fault proxy between the instances and the sink.
    pub fn on_sink_path(&self) -> bool {
        self.spec().on_sink_path()
    }

    /// Checks the entry against the run's length and its own ranges; the error names the
    /// key (of this entry) to blame.
    pub fn validate(&self, run_duration: Span) -> Result<(), (&'static str, String)> {
        let f = self.spec();
        if f.at() >= run_duration {
            return Err(("at", "must be before run.duration".into()));
        }
        match f.duration() {
            Some(d) if d.0.is_zero() => return Err(("duration", "must be positive".into())),
            Some(d) if f.at().0 + d.0 > run_duration.0 => {
                return Err(("duration", "the fault must end by run.duration".into()))
            }
            _ => {}
        }
        if let Some(p) = f.probability() {
            if !(0.0..=1.0).contains(&p) {
                return Err(("probability", format!("must be between 0 and 1 (got {p})")));
            }
        }
        if let Some(status) = f.status() {
            if !(100..=599).contains(&status) {
                return Err(("status", format!("must be an HTTP status (got {status})")));
            }
        }
        if let Some(target) = f.target() {
            target.check()?;
        }
        f.check()
    }

    /// The fault as the run acts it out, every duration scaled by `scale`, with the
    /// `key=value` pairs its `fault_started` row carries.
    pub fn schedule(&self, scale: TimeScale) -> ScheduledFault {
        let f = self.spec();
        let duration = f.duration().map(|d| scale.span(d));
        let mut params = Vec::new();
        if let Some(d) = duration {
            params.push(("duration_ms", ms(d)));
        }
        if let Some(target) = f.target() {
            params.extend(target.params());
        }
        let act = f.act(scale, &mut params);
        ScheduledFault {
            kind: self.kind(),
            written_at: f.at(),
            at: scale.span(f.at()),
            duration: duration.unwrap_or_default(),
            params,
            act,
        }
    }
}

/// `kind`'s value: a name of [`Fault::KINDS`], refused as serde refuses an unknown variant.
struct KindName;

impl<'de> Visitor<'de> for KindName {
    type Value = &'static str;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a fault kind")
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<&'static str, A::Error> {
        let (name, variant): (String, _) = data.variant()?;
        variant.unit_variant()?;
        Fault::KINDS
            .iter()
            .find(|k| **k == name)
            .copied()
            .ok_or_else(|| serde::de::Error::unknown_variant(&name, Fault::KINDS))
    }
}

/// Reads one entry: its kind, then the keys that kind takes.
fn read_entry(entry: &toml::Spanned<DeValue>) -> Result<Fault, Refusal> {
    let span = entry.span();
    let Some(table) = entry.get_ref().as_table() else {
        return Err(Refusal {
            key: None,
            span: Some(span),
            message: "a fault is a table".into(),
        });
    };
    let mut e = Entry {
        table,
        span,
        kind: "",
        taken: Vec::new(),
        missing: None,
    };
    let Some((key, value)) = table.get_key_value("kind") else {
        return Err(e.lacks("kind"));
    };
    e.kind = ValueDeserializer::from(value.clone())
        .deserialize_enum("Fault", Fault::KINDS, KindName)
        .map_err(|err| Refusal {
            key: Some("kind".into()),
            span: err.span().or(Some(key.span())),
            message: err.message().to_owned(),
        })?;
    let fault = Fault::read_as(e.kind, &mut e).expect("a kind of KINDS")?;
    e.finish()?;
    Ok(fault)
}

/// Every `[[faults]]` entry of the spanned document, read as its kind says; the index of
/// the first refused and why.
pub(super) fn read(doc: &DeTable) -> Result<Vec<Fault>, (usize, Refusal)> {
    let Some(entries) = doc.get("faults").and_then(|f| f.get_ref().as_array()) else {
        return Ok(Vec::new());
    };
    entries
        .iter()
        .enumerate()
        .map(|(i, entry)| read_entry(entry).map_err(|r| (i, r)))
        .collect()
}

/// `faults` as serde sees it in the scenario file: only checked to be a list of tables, as
/// serde words it. Each entry is then [`read`] from the spanned document, as its kind
/// decides which keys it takes, which serde's internally tagged enums cannot say by key.
pub(super) fn tables<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Fault>, D::Error> {
    struct Table;
    impl<'de> Deserialize<'de> for Table {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Table, D::Error> {
            d.deserialize_struct("Fault", &[], Table)
        }
    }
    impl<'de> Visitor<'de> for Table {
        type Value = Table;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("struct Fault")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Table, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok(Table)
        }
    }
    Vec::<Table>::deserialize(d).map(|_| Vec::new())
}

#[cfg(test)]
mod tests;
