//! The files of a run directory: their names, the headers we write them with, and how many
//! rows of one the reports load whole.

pub const EXPECTED_FILE: &str = "expected.json";
pub const ARRIVALS_FILE: &str = sink::ARRIVALS_FILE;
pub const PROBES_FILE: &str = "probes.csv";
pub const LEDGER_FILE: &str = "ledger.csv";
/// The apps' lifecycle events, as the sink records them (`sink::events`).
pub const EVENTS_FILE: &str = "events.csv";
pub const SUMMARY_FILE: &str = "summary.json";

pub const PROBES_HEADER: &str = "intended_ns,sent_ns,done_ns,ok,status,instance,version,error,conn";
pub const LEDGER_HEADER: &str = "t_ns,event,instance,version,slot,detail";
pub const TRACES_FILE: &str = "traces.csv";
pub const TRACES_HEADER: &str = "t_ns,instance,version";

/// Rows of one file the reports load whole into memory (a `Probe` or an `Arrival` takes
/// 100-200 bytes, so about 1 GB): a 24 h run at 57 probes a second, or 50,000 occurrences of
/// 100 items. Streaming reads are not limited.
pub const MAX_ROWS_LOADED: usize = 5_000_000;
