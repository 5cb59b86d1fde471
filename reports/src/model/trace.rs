//! `traces.csv`: the instances' log lines as the host received them, one row per line:
//! `t_ns,instance,version`. It is the local platform's counterpart of a platform's log table
//! (Application Insights' `traces`, with `timestamp` and `cloud_RoleInstance`), which the
//! log-based completion estimate queries. The lines' text stays in `instances/<id>.log`.

use serde::{Deserialize, Serialize};

/// One log line: when it arrived, and who wrote it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    pub t_ns: i64,
    pub instance: String,
    pub version: String,
}
