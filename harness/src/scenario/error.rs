//! [`ScenarioError`]: a scenario file's error with where it is (the file, the line, the
//! key), and the positions it takes from the TOML parser's spans rather than from
//! rescanning the text.

use std::path::PathBuf;

/// A scenario error, with where it is.
#[derive(Debug, thiserror::Error)]
#[error("{}{}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default(), key.as_ref().map(|k| format!(": key `{k}`")).unwrap_or_default())]
pub struct ScenarioError {
    pub path: PathBuf,
    pub line: Option<usize>,
    pub key: Option<String>,
    pub message: String,
}

/// 1-based line of a byte offset.
pub(super) fn line_at(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// Where a key (`run.update_at`, `faults[1].latency`, as serde_path_to_error writes it) is
/// written, from the parser's spans: the key itself, an array's element, or, for a key the
/// file does not give, the nearest table or element that holds it (the `[[faults]]` header
/// of a fault missing its duration). `None` when not even the first part is written.
pub(super) fn span_of(doc: &toml::de::DeTable, key: &str) -> Option<std::ops::Range<usize>> {
    use toml::de::DeValue;
    let mut here: Option<&DeValue> = None;
    let mut span = None;
    for part in key.split('.') {
        let (name, indexes) = part.split_once('[').unwrap_or((part, ""));
        let table = match here {
            None => doc,
            Some(DeValue::Table(t)) => t,
            Some(_) => return span,
        };
        let Some((k, v)) = table.get_key_value(name) else {
            return span;
        };
        (span, here) = (Some(k.span()), Some(v.get_ref()));
        for index in indexes.split('[').filter(|i| !i.is_empty()) {
            let element = index
                .trim_end_matches(']')
                .parse::<usize>()
                .ok()
                .and_then(|i| here?.as_array()?.get(i));
            let Some(element) = element else {
                return span;
            };
            (span, here) = (Some(element.span()), Some(element.get_ref()));
        }
    }
    span
}
