//! A scenario file with some of its keys set to other values, as `harness sweep` runs it:
//! the file's TOML is edited, then read again by [`Scenario::parse`], the path every
//! scenario file is read by, so a key or value the file could not hold is refused as the
//! file would be (unknown keys are errors there; a wrong value names its key).

use std::path::{Path, PathBuf};

use super::error::ScenarioError;
use super::Scenario;
use crate::vary::Setting;

/// A scenario file held as parsed TOML, to read again with keys set.
#[derive(Clone, Debug)]
pub struct ScenarioText {
    path: PathBuf,
    table: toml::Table,
}

/// Why a key cannot be set.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// The key does not lead to a place in the file's tables.
    #[error("{}: key `{key}`: {why}", path.display())]
    Key {
        path: PathBuf,
        key: String,
        why: String,
    },
    /// The file with the key set is not a valid scenario.
    #[error(transparent)]
    Scenario(ScenarioError),
}

impl ScenarioText {
    /// Reads and checks the scenario file as it is (an error there names its line).
    pub fn load(path: &Path) -> Result<(ScenarioText, Scenario), ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
            path: path.to_owned(),
            line: None,
            key: None,
            message: e.to_string(),
        })?;
        let scenario = Scenario::parse(path, &text)?;
        let table = text.parse::<toml::Table>().map_err(|e| ScenarioError {
            path: path.to_owned(),
            line: None,
            key: None,
            message: e.message().to_owned(),
        })?;
        let source = ScenarioText {
            path: path.to_owned(),
            table,
        };
        Ok((source, scenario))
    }

    /// The scenario with each `(key, value)` set, in order, read and checked again as a
    /// file is. A key's table must be in the file (a missing `[app.to_behaviour]` would
    /// turn a good release into a bad one, not just change one value); the key itself may
    /// be absent, a default, and the file's reading decides whether the table takes it.
    pub fn with(&self, settings: &[(&str, &Setting)]) -> Result<Scenario, EditError> {
        let mut table = self.table.clone();
        for (key, setting) in settings {
            self.set(&mut table, key, setting)?;
        }
        let text =
            toml::to_string(&table).map_err(|e| self.refuse(settings[0].0, e.to_string()))?;
        Scenario::parse(&self.path, &text).map_err(|mut e| {
            // The line would be the edited text's, not the file's.
            e.line = None;
            EditError::Scenario(e)
        })
    }

    fn refuse(&self, key: &str, why: String) -> EditError {
        EditError::Key {
            path: self.path.clone(),
            key: key.to_owned(),
            why,
        }
    }

    fn set(&self, table: &mut toml::Table, key: &str, setting: &Setting) -> Result<(), EditError> {
        let parts: Vec<&str> = key.split('.').collect();
        let (last, tables) = parts.split_last().expect("split yields one part at least");
        let mut here = table;
        let mut walked = String::new();
        for part in tables {
            walked = if walked.is_empty() {
                (*part).to_owned()
            } else {
                format!("{walked}.{part}")
            };
            here = self.step(here, part, &walked)?;
        }
        if last.contains('[') {
            // `faults[0]` as a whole: only its keys can be set.
            return Err(self.refuse(key, "set a key of the entry, e.g. faults[0].at".into()));
        }
        match here.get(*last) {
            Some(toml::Value::Table(_)) => Err(self.refuse(
                key,
                format!("`{key}` is a table; vary one of its keys ({key}.NAME)"),
            )),
            Some(toml::Value::Array(a)) if a.iter().all(toml::Value::is_table) && !a.is_empty() => {
                Err(self.refuse(
                    key,
                    format!("`{key}` is a list of tables; vary a key of one ({key}[0].NAME)"),
                ))
            }
            like => {
                let value = setting.to_toml(like);
                here.insert((*last).to_owned(), value);
                Ok(())
            }
        }
    }

    /// From a table into its part `part` (`name` or `name[i]`), which must exist.
    fn step<'t>(
        &self,
        table: &'t mut toml::Table,
        part: &str,
        walked: &str,
    ) -> Result<&'t mut toml::Table, EditError> {
        let (name, index) = match part.split_once('[') {
            Some((name, rest)) => (name, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (part, None),
        };
        let value = table.get_mut(name).ok_or_else(|| {
            self.refuse(
                walked,
                format!(
                    "the file has no table [{name}]; add it (empty is enough) to vary its keys"
                ),
            )
        })?;
        let value = match (value, index) {
            (toml::Value::Array(entries), Some(i)) => {
                let len = entries.len();
                entries.get_mut(i).ok_or_else(|| {
                    self.refuse(
                        walked,
                        format!("`{name}` has {len} entries, numbered from 0"),
                    )
                })?
            }
            (_, Some(_)) => return Err(self.refuse(walked, format!("`{name}` is not a list"))),
            (value, None) => value,
        };
        match value {
            toml::Value::Table(t) => Ok(t),
            other => Err(self.refuse(
                walked,
                format!("`{walked}` is a {}, not a table", other.type_str()),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::duration::Span;

    fn seed(dir: &Path, text: &str) -> PathBuf {
        let path = dir.join("t.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    const SWAP: &str = r#"
strategy = "swap"

[app]
cold_start = "2s"

[workload]
period = "10s"
items = 10
item_delay = "1s"

[run]
warmup = "20s"
update_at = "62s"
duration = "100s"

[swap]
recycle_after = "5s"

[[faults]]
kind = "pause"
at = "30s"
duration = "1s"
"#;

    fn load() -> (tempfile::TempDir, ScenarioText, Scenario) {
        let dir = tempfile::tempdir().unwrap();
        let path = seed(dir.path(), SWAP);
        let (text, scenario) = ScenarioText::load(&path).unwrap();
        (dir, text, scenario)
    }

    #[test]
    fn a_known_key_changes_the_resolved_value() {
        let (_dir, text, base) = load();
        assert_eq!(base.swap().recycle_after, Span::from_secs(5));
        let two = Setting::Duration(Span::from_secs(2), "2s".into());
        let s = text.with(&[("swap.recycle_after", &two)]).unwrap();
        assert_eq!(s.swap().recycle_after, Span::from_secs(2));
        assert_eq!(s.name(), "t", "the name is still the file's");
        // An integer key, a key the file leaves to its default, a root key and a fault's.
        let s = text
            .with(&[
                ("workload.items", &Setting::Integer(4)),
                ("workload.retries", &Setting::Integer(2)),
                ("seed", &Setting::Integer(9)),
                (
                    "faults[0].duration",
                    &Setting::Duration(Span::from_millis(1500), "1.5s".into()),
                ),
            ])
            .unwrap();
        assert_eq!((s.workload.items, s.workload.retries, s.seed), (4, 2, 9));
        assert_eq!(s.items_per_occurrence(), 4);
        let again = text.with(&[]).unwrap();
        assert_eq!(again, base, "nothing set: the file as it is");
        assert_ne!(s.faults, base.faults);
    }

    #[test]
    fn an_unknown_key_is_refused_with_its_name() {
        let (_dir, text, _) = load();
        let one = Setting::Integer(1);
        let e = text.with(&[("swap.recycle_aftr", &one)]).unwrap_err();
        let e = e.to_string();
        assert!(e.contains("t.toml: key `swap.recycle_aftr`"), "{e}");
        assert!(e.contains("unknown field `recycle_aftr`"), "{e}");
        let e = text.with(&[("bogus", &one)]).unwrap_err().to_string();
        assert!(e.contains("unknown field `bogus`"), "{e}");
        let e = text
            .with(&[("faults[0].bogus", &one)])
            .unwrap_err()
            .to_string();
        assert!(e.contains("faults[0].bogus"), "{e}");
        // A table the file does not have is not made up.
        let e = text
            .with(&[("app.to_behaviour.crash_after", &one)])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("key `app.to_behaviour`: the file has no table [to_behaviour]"),
            "{e}"
        );
        let e = text
            .with(&[("recreate.stop", &one)])
            .unwrap_err()
            .to_string();
        assert!(e.contains("no table [recreate]"), "{e}");
        let e = text
            .with(&[("workload.items.x", &one)])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`workload.items` is a integer, not a table"),
            "{e}"
        );
        let e = text.with(&[("workload", &one)]).unwrap_err().to_string();
        assert!(e.contains("is a table; vary one of its keys"), "{e}");
        let e = text
            .with(&[("faults[3].at", &one)])
            .unwrap_err()
            .to_string();
        assert!(e.contains("`faults` has 1 entries"), "{e}");
        let e = text.with(&[("faults", &one)]).unwrap_err().to_string();
        assert!(e.contains("list of tables"), "{e}");
    }

    #[test]
    fn a_bad_value_is_refused_as_the_file_would_be() {
        let (_dir, text, _) = load();
        let e = text
            .with(&[("swap.recycle_after", &Setting::Text("soon".into()))])
            .unwrap_err()
            .to_string();
        // No line: it would be the edited text's.
        assert!(e.contains("t.toml: key `swap.recycle_after`"), "{e}");
        assert!(e.contains("\"soon\""), "{e}");
        let e = text
            .with(&[("workload.items", &Setting::Float(1.5))])
            .unwrap_err()
            .to_string();
        assert!(e.contains("key `workload.items`"), "{e}");
        // A value the checks refuse: the update after the run's end.
        let e = text
            .with(&[(
                "run.update_at",
                &Setting::Duration(Span::from_secs(200), "200s".into()),
            )])
            .unwrap_err()
            .to_string();
        assert!(e.contains("update_at"), "{e}");
    }
}
