//! `record.json`: what a run knows of itself beyond its data files, as it stood before it
//! was judged (see [`crate::judge`]).

use serde::{Deserialize, Serialize};

use crate::model::budget::BudgetBasis;
use crate::model::summary::{RunInfo, Summary};

/// The file a run writes its [`Record`] to.
pub const RECORD_FILE: &str = "record.json";
/// `record.json`'s format: a name and a major version.
pub const RECORD_SCHEMA: &str = "update-harness/record/1";

/// What a run knows of itself beyond its data files, as it stood before it was judged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub schema: String,
    /// The run's identity and its own measurements (send lag, the update's span).
    pub run: RunInfo,
    /// Why the measuring itself went wrong, if it did: the phase the run failed in, items
    /// the sink refused, files the run could not read. Each makes the run invalid.
    pub invalid: Vec<String>,
    /// The baseline the run was compared with, as it was when the run began.
    pub baseline: Option<BaselineRecord>,
    /// The budgets the run is judged by, each with what its history said when the run
    /// began.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub budgets: Vec<BudgetBasis>,
}

impl Record {
    pub fn new(run: RunInfo, invalid: Vec<String>, baseline: Option<BaselineRecord>) -> Record {
        Record {
            schema: RECORD_SCHEMA.to_owned(),
            run,
            invalid,
            baseline,
            budgets: Vec::new(),
        }
    }

    /// The record of a run directory that predates `record.json`, from its `summary.json`:
    /// the reasons the judge itself gives (`judged`: the control probes', the send lag's)
    /// are taken out, so judging again gives them once. Its baseline, if it had one, is not
    /// known.
    pub fn from_summary(summary: &Summary, judged: &[String]) -> Record {
        let invalid = summary
            .invalid
            .iter()
            .filter(|reason| !judged.contains(reason))
            .cloned()
            .collect();
        let mut record = Record::new(summary.run.clone(), invalid, None);
        // A judged budget keeps what its history said; one whose history could not be read
        // stays unread.
        record.budgets = summary
            .budgets
            .iter()
            .filter_map(|o| {
                Some(BudgetBasis {
                    budget: o.budget.parse().ok()?,
                    runs: o.runs,
                    reference: o.reference,
                    unavailable: o.unavailable.clone(),
                })
            })
            .collect();
        record
    }
}

/// A baseline as a run was compared with it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BaselineRecord {
    /// As the user named it (`main`, or a directory).
    pub name: String,
    /// `--max-regression`, as given (`lost:0,downtime.max_ms:20%`).
    pub max_regression: String,
    pub summary: Summary,
}
