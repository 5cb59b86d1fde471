//! Structured near-misses for the parsers' property tests: a valid input with a few edits
//! (a byte deleted, a range duplicated, a number replaced by one past its limit, a token
//! repeated into deep nesting or a very long string, the text cut short).
//!
//! Shared by the `tests/fuzz.rs` of `sink`, `reports` and `harness` through `#[path]`, so
//! the three crates' parsers meet the same hostile edits. Not a test target of its own:
//! cargo builds only `tests/*.rs` and `tests/*/main.rs`.

#![allow(dead_code)] // each crate's fuzz test uses what its formats need

use proptest::prelude::*;
use proptest::sample::Index;

/// What breaks parsers: numbers at and past the integer limits, negatives, non-finite and
/// malformed floats, control bytes, line ends, a byte-order mark, non-ASCII, a lone
/// surrogate escape, and every format's punctuation.
pub const TOKENS: &[&str] = &[
    "18446744073709551616",
    "18446744073709551615",
    "9223372036854775808",
    "-9223372036854775809",
    "340282366920938463463374607431768211456",
    "4294967296",
    "-1",
    "-0",
    "0",
    "00",
    "1e400",
    "-1e400",
    "1e-400",
    "NaN",
    "nan",
    "inf",
    "-inf",
    "1.5",
    ".",
    "1e",
    "0x10",
    "\0",
    "\r\n",
    "\r",
    "\n",
    "\t",
    " ",
    "\u{feff}",
    "é",
    "\u{10ffff}",
    "🦀",
    "\u{301}",
    "\"",
    "'",
    "\"\"\"",
    ",",
    ":",
    "=",
    "[",
    "]",
    "{",
    "}",
    "(",
    ")",
    "#",
    "\\",
    "\\u0000",
    "\\ud800",
    "true",
    "null",
    "[[",
    "]]",
    "[{\"a\":",
    "a=[",
];

/// One edit of an input; positions are [`Index`]es, so they fit any length.
#[derive(Clone, Debug)]
pub enum Edit {
    Delete(Index, usize),
    Duplicate(Index, usize),
    Insert(Index, Index),
    Replace(Index, usize, Index),
    /// Replaces the run of digits at or after the position by a token.
    ReplaceNumber(Index, Index),
    /// Inserts a token many times: deep nesting, a very long string or number.
    Repeat(Index, Index, usize),
    Truncate(Index),
    Byte(Index, u8),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<Index>(), 1usize..8).prop_map(|(i, n)| Edit::Delete(i, n)),
        (any::<Index>(), 1usize..64).prop_map(|(i, n)| Edit::Duplicate(i, n)),
        (any::<Index>(), any::<Index>()).prop_map(|(i, t)| Edit::Insert(i, t)),
        (any::<Index>(), 1usize..4, any::<Index>()).prop_map(|(i, n, t)| Edit::Replace(i, n, t)),
        (any::<Index>(), any::<Index>()).prop_map(|(i, t)| Edit::ReplaceNumber(i, t)),
        (any::<Index>(), any::<Index>(), 2usize..20_000)
            .prop_map(|(i, t, n)| Edit::Repeat(i, t, n)),
        any::<Index>().prop_map(Edit::Truncate),
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Edit::Byte(i, b)),
    ]
}

/// Applies `edit` to `bytes`, taking tokens from `tokens`.
pub fn apply(bytes: &mut Vec<u8>, edit: &Edit, tokens: &[&str]) {
    let at = |i: &Index, len: usize| i.index(len + 1);
    let token = |t: &Index| tokens[t.index(tokens.len())].as_bytes();
    match edit {
        Edit::Delete(i, n) => {
            let a = at(i, bytes.len());
            let b = (a + n).min(bytes.len());
            bytes.drain(a..b);
        }
        Edit::Duplicate(i, n) => {
            let a = at(i, bytes.len());
            let b = (a + n).min(bytes.len());
            let copy = bytes[a..b].to_vec();
            bytes.splice(b..b, copy);
        }
        Edit::Insert(i, t) => {
            let a = at(i, bytes.len());
            bytes.splice(a..a, token(t).iter().copied());
        }
        Edit::Replace(i, n, t) => {
            let a = at(i, bytes.len());
            let b = (a + n).min(bytes.len());
            bytes.splice(a..b, token(t).iter().copied());
        }
        Edit::ReplaceNumber(i, t) => {
            let from = at(i, bytes.len());
            let Some(a) = bytes[from..].iter().position(u8::is_ascii_digit) else {
                return;
            };
            let a = from + a;
            let b = a + bytes[a..].iter().take_while(|b| b.is_ascii_digit()).count();
            bytes.splice(a..b, token(t).iter().copied());
        }
        Edit::Repeat(i, t, n) => {
            let a = at(i, bytes.len());
            let run = token(t).repeat(*n);
            bytes.splice(a..a, run);
        }
        Edit::Truncate(i) => {
            let a = at(i, bytes.len());
            bytes.truncate(a);
        }
        Edit::Byte(i, b) => {
            if !bytes.is_empty() {
                let a = i.index(bytes.len());
                bytes[a] = *b;
            }
        }
    }
}

/// An input's bytes, shown as text (escaped) when a property fails, not as a list of
/// numbers.
#[derive(Clone, PartialEq, Eq)]
pub struct Bytes(pub Vec<u8>);

impl std::ops::Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match std::str::from_utf8(&self.0) {
            Ok(text) => write!(f, "{text:?}"),
            Err(_) => write!(f, "b\"{}\"", self.0.escape_ascii()),
        }
    }
}

/// Arbitrary bytes, up to `max_len`.
pub fn any_bytes(max_len: usize) -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(any::<u8>(), 0..max_len).prop_map(Bytes)
}

/// One of `seeds` with one to four edits: mostly still close to valid, so parsers get past
/// their first check and meet the edit deep inside.
pub fn near_miss(
    seeds: Vec<Vec<u8>>,
    tokens: &'static [&'static str],
) -> impl Strategy<Value = Bytes> {
    (
        proptest::sample::select(seeds),
        proptest::collection::vec(edit(), 1..5),
    )
        .prop_map(move |(mut bytes, edits)| {
            for e in &edits {
                apply(&mut bytes, e, tokens);
            }
            Bytes(bytes)
        })
}

/// [`near_miss`] as text (invalid UTF-8 replaced), for parsers that take a `&str`.
pub fn near_miss_text(
    seeds: &[&str],
    tokens: &'static [&'static str],
) -> impl Strategy<Value = String> {
    let seeds = seeds.iter().map(|s| s.as_bytes().to_vec()).collect();
    near_miss(seeds, tokens).prop_map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// Arbitrary text: any chars, weighted towards the ASCII punctuation parsers split on.
pub fn any_text(max_len: usize) -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::collection::vec(any::<char>(), 0..max_len)
            .prop_map(|c| c.into_iter().collect::<String>()),
        proptest::string::string_regex(&format!("[ -~\\t\\r\\n\\x00é]{{0,{max_len}}}"))
            .expect("a valid regex"),
    ]
}

/// Every file of `dir` (sorted, so failures are reproducible), as name and bytes.
pub fn corpus(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "corpus {} is empty", dir.display());
    files
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let bytes = std::fs::read(&p).unwrap();
            (name, bytes)
        })
        .collect()
}

/// What a corpus file's name says its parse must give: `ok-*` a value, `err-*` an error,
/// anything else only no panic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Want {
    Ok,
    Err,
    Any,
}

pub fn want(name: &str) -> Want {
    if name.starts_with("ok-") {
        Want::Ok
    } else if name.starts_with("err-") {
        Want::Err
    } else {
        Want::Any
    }
}

/// Checks a corpus file's result against its name.
pub fn check_want<T, E: std::fmt::Debug>(name: &str, got: &Result<T, E>) {
    match (want(name), got) {
        (Want::Ok, Err(e)) => panic!("{name}: should parse, got {e:?}"),
        (Want::Err, Ok(_)) => panic!("{name}: should be refused, parsed"),
        _ => {}
    }
}

/// `" at line L column C"` of a serde or toml message, checked to lie within `text`.
pub fn assert_line_column_within(message: &str, text: &str) {
    let Some((_, rest)) = message.rsplit_once(" at line ") else {
        return;
    };
    let mut parts = rest.split(" column ");
    let line: usize = parts
        .next()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(0);
    let column: usize = parts
        .next()
        .and_then(|c| c.trim().parse().ok())
        .unwrap_or(0);
    let lines = text.split('\n').count();
    assert!(
        (1..=lines).contains(&line),
        "line {line} of a {lines}-line input: {message}"
    );
    let line_len = text.split('\n').nth(line - 1).map_or(0, str::len);
    assert!(
        column <= line_len + 1,
        "column {column} of a {line_len}-byte line: {message}"
    );
}
