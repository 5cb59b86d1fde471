//! The item: its key `(source, m, n)`, the version that sent it, and its label `A(m,n)`.
//!
//! An item is one unit of work the test function must deliver exactly once. Two versions may
//! send the same item: `A(7,3)` and `B(7,3)` share the key `(tick, 7, 3)`. The label is the
//! human form used in logs, plots and CSV exports; [`Label::parse`] and `Display` round-trip.
//!
//! ```
//! use sink::item::Label;
//! let label: Label = "B(7,3)".parse().unwrap();
//! assert_eq!((label.version.as_str(), label.m, label.n), ("B", 7, 3));
//! assert_eq!(label.to_string(), "B(7,3)");
//! ```

use std::fmt;
use std::str::FromStr;

/// Longest source, version or instance name the protocol accepts, in bytes.
pub const MAX_NAME_BYTES: usize = 128;

/// The identity of an item, independent of the version that sent it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    /// The function that emits it: `tick` for the timer loop, `proc` for the queue processor.
    pub source: String,
    /// The occurrence (timer firing or queue message group).
    pub m: u64,
    /// The iteration inside the occurrence.
    pub n: u64,
}

/// The human form of an item as sent by one version: `version "(" m "," n ")"`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Label {
    pub version: String,
    pub m: u64,
    pub n: u64,
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({},{})", self.version, self.m, self.n)
    }
}

/// Why a label or name did not parse; `at` is the byte offset where the text went wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{what} at byte {at} of {text:?}")]
pub struct LabelError {
    pub text: String,
    pub at: usize,
    pub what: &'static str,
}

impl Label {
    /// Parses `A(m,n)`. No whitespace is allowed anywhere, so a label has one spelling.
    pub fn parse(text: &str) -> Result<Label, LabelError> {
        let err = |at: usize, what: &'static str| LabelError {
            text: text.to_owned(),
            at,
            what,
        };
        let bytes = text.as_bytes();
        let open = bytes
            .iter()
            .position(|&b| b == b'(')
            .ok_or_else(|| err(text.len(), "expected '(' after the version"))?;
        let version = &text[..open];
        if let Err(at) = check_version(version) {
            return Err(err(at, version_problem(version, at)));
        }
        let (m, after_m) = parse_u64(bytes, open + 1).map_err(|(at, what)| err(at, what))?;
        if bytes.get(after_m) != Some(&b',') {
            return Err(err(after_m, "expected ',' after m"));
        }
        let (n, after_n) = parse_u64(bytes, after_m + 1).map_err(|(at, what)| err(at, what))?;
        if bytes.get(after_n) != Some(&b')') {
            return Err(err(after_n, "expected ')' after n"));
        }
        if after_n + 1 != bytes.len() {
            return Err(err(after_n + 1, "unexpected text after ')'"));
        }
        Ok(Label {
            version: version.to_owned(),
            m,
            n,
        })
    }
}

impl FromStr for Label {
    type Err = LabelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Label::parse(s)
    }
}

/// Parses the decimal digits starting at `start`; returns the value and the index after it.
fn parse_u64(bytes: &[u8], start: usize) -> Result<(u64, usize), (usize, &'static str)> {
    let mut i = start;
    let mut value: u64 = 0;
    while let Some(&b) = bytes.get(i) {
        if !b.is_ascii_digit() {
            break;
        }
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(b - b'0')))
            .ok_or((start, "number does not fit in 64 bits"))?;
        i += 1;
    }
    if i == start {
        return Err((start, "expected a non-negative integer"));
    }
    // A leading zero would give one number two spellings and break the round trip.
    if bytes[start] == b'0' && i - start > 1 {
        return Err((start, "leading zero in number"));
    }
    Ok((value, i))
}

/// Checks a version label against `[A-Za-z][A-Za-z0-9_-]*`; `Err` holds the offending offset.
pub fn check_version(version: &str) -> Result<(), usize> {
    let bytes = version.as_bytes();
    match bytes.first() {
        None => return Err(0),
        Some(b) if !b.is_ascii_alphabetic() => return Err(0),
        _ => {}
    }
    if bytes.len() > MAX_NAME_BYTES {
        return Err(MAX_NAME_BYTES);
    }
    match bytes
        .iter()
        .position(|&b| !(b.is_ascii_alphanumeric() || b == b'_' || b == b'-'))
    {
        Some(at) => Err(at),
        None => Ok(()),
    }
}

fn version_problem(version: &str, at: usize) -> &'static str {
    if version.is_empty() {
        "empty version"
    } else if at == 0 {
        "version must start with a letter"
    } else if at >= MAX_NAME_BYTES {
        "version is too long"
    } else {
        "version may hold only letters, digits, '_' and '-'"
    }
}

/// Checks a source or instance name: 1 to [`MAX_NAME_BYTES`] bytes of `[A-Za-z0-9_.:-]`.
///
/// The charset keeps every name safe to write into CSV without quoting and into Prometheus
/// labels without escaping.
pub fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("must not be empty");
    }
    if name.len() > MAX_NAME_BYTES {
        return Err("is longer than 128 bytes");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'))
    {
        return Err("may hold only letters, digits, '_', '.', ':' and '-'");
    }
    Ok(())
}

/// Describes why `version` is not a valid version label, if it is not.
pub fn version_error(version: &str) -> Option<&'static str> {
    check_version(version)
        .err()
        .map(|at| version_problem(version, at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_and_formats() {
        let l = Label::parse("A(0,9)").unwrap();
        assert_eq!(
            l,
            Label {
                version: "A".into(),
                m: 0,
                n: 9
            }
        );
        assert_eq!(l.to_string(), "A(0,9)");
        let l = Label::parse("v2_rc-1(18446744073709551615,3)").unwrap();
        assert_eq!(l.m, u64::MAX);
    }

    #[test]
    fn errors_say_where() {
        let cases = [
            ("", 0, "expected '(' after the version"),
            ("A", 1, "expected '(' after the version"),
            ("(1,2)", 0, "empty version"),
            ("1A(1,2)", 0, "version must start with a letter"),
            (
                "A B(1,2)",
                1,
                "version may hold only letters, digits, '_' and '-'",
            ),
            ("A(,2)", 2, "expected a non-negative integer"),
            ("A(-1,2)", 2, "expected a non-negative integer"),
            ("A(1 ,2)", 3, "expected ',' after m"),
            ("A(1,2", 5, "expected ')' after n"),
            ("A(1,2)x", 6, "unexpected text after ')'"),
            ("A(01,2)", 2, "leading zero in number"),
            (
                "A(18446744073709551616,0)",
                2,
                "number does not fit in 64 bits",
            ),
        ];
        for (text, at, what) in cases {
            let e = Label::parse(text).unwrap_err();
            assert_eq!((e.at, e.what), (at, what), "parsing {text:?}");
        }
    }

    #[test]
    fn names() {
        assert!(check_name("tick").is_ok());
        assert!(check_name("host-1:9000").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("a,b").is_err());
        assert!(check_name(&"x".repeat(129)).is_err());
        assert_eq!(version_error("B"), None);
        assert!(version_error("9").is_some());
    }

    proptest! {
        #[test]
        fn label_round_trips(version in "[A-Za-z][A-Za-z0-9_-]{0,20}", m: u64, n: u64) {
            let label = Label { version, m, n };
            let text = label.to_string();
            prop_assert_eq!(Label::parse(&text).unwrap(), label);
        }

        #[test]
        fn parse_never_panics_and_accepts_only_canonical(text in "\\PC{0,24}") {
            if let Ok(label) = Label::parse(&text) {
                prop_assert_eq!(label.to_string(), text);
            }
        }
    }
}
