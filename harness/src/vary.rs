//! What `harness sweep --vary KEY=SPEC` varies: a scenario key and the values it takes, and
//! the grid of every combination of several of them.
//!
//! `KEY` is a dotted key exactly as a scenario file writes it (`swap.recycle_after`,
//! `faults[0].at`). `SPEC` is either a range or a list:
//!
//! ```text
//! SPEC  := RANGE | LIST
//! RANGE := LO ".." HI ":" COUNT     COUNT evenly spaced values from LO to HI, both included
//! LIST  := VALUE ("," VALUE)*
//! ```
//!
//! In a range, LO and HI are both durations in the scenario's syntax (`250ms`, `1.5s`) or
//! both plain numbers; the values of a duration range are rounded to the millisecond (to
//! the microsecond or nanosecond when an end is finer), those of an integer range (`1..9:5`)
//! to integers, and a range whose rounding would repeat a value is refused. A list's value
//! is an integer, a float, `true` or `false`, a duration, or else text, written into the
//! file as the key's current value is written (text stays text).
//!
//! ```
//! use harness::vary::Vary;
//! let v: Vary = "swap.recycle_after=1s..2s:3".parse().unwrap();
//! let texts: Vec<String> = v.values.iter().map(|s| s.to_string()).collect();
//! assert_eq!(texts, ["1s", "1500ms", "2s"]);
//! ```

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::duration::{self, Span};

/// Values of one key, at most.
pub const MAX_VALUES: usize = 1000;

/// Points of a grid (every combination of the keys' values), at most.
pub const MAX_POINTS: usize = 10_000;

/// One value a varied key takes.
#[derive(Clone, Debug, PartialEq)]
pub enum Setting {
    Integer(i64),
    Float(f64),
    Bool(bool),
    /// A duration, with the text it is written as (`1.5s`, `1500ms`).
    Duration(Span, String),
    Text(String),
}

impl Setting {
    /// A list's value, by its look: a number, a boolean, a duration, or text.
    fn of_literal(text: &str) -> Setting {
        if let Ok(i) = text.parse::<i64>() {
            return Setting::Integer(i);
        }
        if let Some(f) = float(text) {
            return Setting::Float(f);
        }
        match text {
            "true" => return Setting::Bool(true),
            "false" => return Setting::Bool(false),
            _ => {}
        }
        let starts_with_digit = text.starts_with(|c: char| c.is_ascii_digit());
        match duration::parse(text) {
            Ok(d) if starts_with_digit => Setting::Duration(Span(d), text.to_owned()),
            _ => Setting::Text(text.to_owned()),
        }
    }

    /// The value as the scenario file holds it. `like` is the key's current value, when the
    /// file has one: text stays text (`case = "1"`) and a float stays a float.
    pub fn to_toml(&self, like: Option<&toml::Value>) -> toml::Value {
        let value = match self {
            Setting::Integer(i) => toml::Value::Integer(*i),
            Setting::Float(f) => toml::Value::Float(*f),
            Setting::Bool(b) => toml::Value::Boolean(*b),
            Setting::Duration(_, text) | Setting::Text(text) => toml::Value::String(text.clone()),
        };
        match (like, &value) {
            (Some(toml::Value::String(_)), v) if !v.is_str() => {
                toml::Value::String(self.to_string())
            }
            (Some(toml::Value::Float(_)), toml::Value::Integer(i)) => toml::Value::Float(*i as f64),
            _ => value,
        }
    }

    /// Where the value sits on a plot's axis: a number as itself, a duration in
    /// milliseconds; `None` for a boolean or text.
    pub fn x(&self) -> Option<f64> {
        match self {
            Setting::Integer(i) => Some(*i as f64),
            Setting::Float(f) => Some(*f),
            Setting::Duration(d, _) => Some(d.0.as_secs_f64() * 1e3),
            Setting::Bool(_) | Setting::Text(_) => None,
        }
    }
}

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Setting::Integer(i) => write!(f, "{i}"),
            Setting::Float(x) => write!(f, "{x}"),
            Setting::Bool(b) => write!(f, "{b}"),
            Setting::Duration(_, text) | Setting::Text(text) => f.write_str(text),
        }
    }
}

/// A float literal (`0.5`, `1e3`): digits, a point or an exponent; not `inf` or `nan`.
fn float(text: &str) -> Option<f64> {
    let looks = text
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'))
        && text.contains(|c: char| c.is_ascii_digit());
    text.parse::<f64>().ok().filter(|f| looks && f.is_finite())
}

/// One `--vary KEY=SPEC`: the key and its values, in order.
#[derive(Clone, Debug, PartialEq)]
pub struct Vary {
    pub key: String,
    pub values: Vec<Setting>,
}

impl Vary {
    /// The unit of the key's axis: `ms` when every value is a duration.
    pub fn unit(&self) -> Option<&'static str> {
        self.values
            .iter()
            .all(|v| matches!(v, Setting::Duration(..)))
            .then_some("ms")
    }
}

/// Why a `--vary` cannot be read; its text says what was given and what is wanted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("--vary {given:?}: {why}")]
pub struct VaryError {
    pub given: String,
    pub why: String,
}

impl FromStr for Vary {
    type Err = VaryError;

    fn from_str(given: &str) -> Result<Vary, VaryError> {
        let fail = |why: String| VaryError {
            given: given.to_owned(),
            why,
        };
        let (key, spec) = given
            .split_once('=')
            .ok_or_else(|| fail("write KEY=SPEC, e.g. swap.recycle_after=1s..5s:5".into()))?;
        let key = key.trim();
        check_key(key).map_err(fail)?;
        let values = parse_spec(spec.trim()).map_err(fail)?;
        Ok(Vary {
            key: key.to_owned(),
            values,
        })
    }
}

/// A dotted key of plain names, each optionally indexed (`faults[0].at`).
fn check_key(key: &str) -> Result<(), String> {
    let fine = !key.is_empty()
        && key.split('.').all(|part| {
            let (name, index) = part.split_once('[').unwrap_or((part, ""));
            let name_ok = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            let index_ok = index.is_empty()
                || index
                    .strip_suffix(']')
                    .is_some_and(|i| !i.is_empty() && i.chars().all(|c| c.is_ascii_digit()));
            name_ok && index_ok
        });
    if fine {
        Ok(())
    } else {
        Err(format!(
            "{key:?} is not a scenario key: write it as in the file, dotted (workload.items, faults[0].at)"
        ))
    }
}

/// `LO..HI:COUNT` or `a,b,c`.
pub fn parse_spec(spec: &str) -> Result<Vec<Setting>, String> {
    if spec.is_empty() {
        return Err("no values: write LO..HI:COUNT or a list a,b,c".into());
    }
    let values = match spec.split_once("..") {
        Some((lo, rest)) => {
            let (hi, count) = rest.rsplit_once(':').ok_or_else(|| {
                format!("the range {spec:?} needs a count: LO..HI:COUNT, e.g. 1s..5s:5")
            })?;
            let count: usize = count
                .trim()
                .parse()
                .map_err(|_| format!("the count {count:?} is not a whole number"))?;
            if !(2..=MAX_VALUES).contains(&count) {
                return Err(format!(
                    "the count must be from 2 to {MAX_VALUES} (got {count}); one value is a list of one"
                ));
            }
            range(lo.trim(), hi.trim(), count)?
        }
        None => list(spec)?,
    };
    for (i, v) in values.iter().enumerate() {
        if values[..i].contains(v) {
            return Err(format!("the value {v} is given twice"));
        }
    }
    Ok(values)
}

fn list(spec: &str) -> Result<Vec<Setting>, String> {
    let items: Vec<&str> = spec.split(',').map(str::trim).collect();
    if items.len() > MAX_VALUES {
        return Err(format!("more than {MAX_VALUES} values"));
    }
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            if item.is_empty() {
                Err(format!("value {} of the list {spec:?} is empty", i + 1))
            } else {
                Ok(Setting::of_literal(item))
            }
        })
        .collect()
}

/// `count` values from `lo` to `hi`, both included, evenly spaced.
fn range(lo: &str, hi: &str, count: usize) -> Result<Vec<Setting>, String> {
    let at = |i: usize| i as f64 / (count - 1) as f64;
    let values = match (end(lo)?, end(hi)?) {
        (End::Duration(a), End::Duration(b)) => {
            let step = [1_000_000u128, 1_000, 1]
                .into_iter()
                .find(|u| a.as_nanos() % u == 0 && b.as_nanos() % u == 0)
                .unwrap_or(1);
            (0..count)
                .map(|i| {
                    let (a, b) = (a.as_nanos() as f64, b.as_nanos() as f64);
                    let ns = a + (b - a) * at(i);
                    let ns = (ns / step as f64).round() as u128 * step;
                    let span = Span(Duration::from_nanos(ns as u64));
                    Setting::Duration(span, span.to_string())
                })
                .collect::<Vec<_>>()
        }
        (End::Integer(a), End::Integer(b)) => (0..count)
            .map(|i| {
                let x = a as f64 + (b as f64 - a as f64) * at(i);
                Setting::Integer(x.round() as i64)
            })
            .collect(),
        (End::Integer(_) | End::Float, End::Integer(_) | End::Float) => {
            let (a, b) = (number(lo), number(hi));
            (0..count)
                .map(|i| {
                    let x = a * (1.0 - at(i)) + b * at(i);
                    // Twelve significant digits: 0.1..0.3:3 gives 0.2, not 0.20000000000000004.
                    let x: f64 = format!("{x:.12e}").parse().unwrap_or(x);
                    Setting::Float(x)
                })
                .collect()
        }
        _ => {
            return Err(format!(
                "{lo:?} and {hi:?} must be both durations (1s..5s) or both numbers (1..5)"
            ))
        }
    };
    for (i, v) in values.iter().enumerate() {
        if values[..i].contains(v) {
            return Err(format!(
                "{count} values from {lo} to {hi} would repeat {v} once rounded; give fewer, or \
                 finer ends (1.0..3.0 for fractions, 1000ms..3000ms for durations)"
            ));
        }
    }
    Ok(values)
}

enum End {
    Duration(Duration),
    Integer(i64),
    Float,
}

fn end(text: &str) -> Result<End, String> {
    if let Ok(i) = text.parse::<i64>() {
        return Ok(End::Integer(i));
    }
    if float(text).is_some() {
        return Ok(End::Float);
    }
    if text.starts_with(|c: char| c.is_ascii_digit()) {
        return duration::parse(text).map(End::Duration);
    }
    Err(format!(
        "{text:?} is neither a duration (250ms, 1.5s) nor a number"
    ))
}

fn number(text: &str) -> f64 {
    float(text).unwrap_or_default()
}

/// One point of a grid: a value of every key, in the keys' order.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    /// For each key, the index of its value.
    pub at: Vec<usize>,
    /// `KEY=VALUE`, joined by `,`: the point's name and its directory's.
    pub label: String,
}

/// Every combination of the keys' values, the first key's changing slowest.
pub fn grid(keys: &[Vary]) -> Result<Vec<Point>, String> {
    for (i, v) in keys.iter().enumerate() {
        if keys[..i].iter().any(|w| w.key == v.key) {
            return Err(format!("--vary {} is given twice", v.key));
        }
    }
    let total = keys
        .iter()
        .try_fold(1usize, |n, v| n.checked_mul(v.values.len()))
        .filter(|&n| n <= MAX_POINTS)
        .ok_or_else(|| format!("the grid has more than {MAX_POINTS} points"))?;
    let mut points = Vec::with_capacity(total);
    for n in 0..total {
        let mut rest = n;
        let mut at = vec![0; keys.len()];
        for (k, v) in keys.iter().enumerate().rev() {
            at[k] = rest % v.values.len();
            rest /= v.values.len();
        }
        let label = keys
            .iter()
            .zip(&at)
            .map(|(v, &i)| format!("{}={}", v.key, v.values[i]))
            .collect::<Vec<_>>()
            .join(",");
        points.push(Point {
            at,
            label: dir_name(&label),
        });
    }
    for (i, p) in points.iter().enumerate() {
        if points[..i].iter().any(|q| q.label == p.label) {
            return Err(format!(
                "two points would share the directory {:?}: their values differ only in \
                 characters a file name cannot hold",
                p.label
            ));
        }
        if p.label.len() > 200 {
            return Err(format!(
                "the point {:?} makes too long a directory name",
                p.label
            ));
        }
    }
    Ok(points)
}

/// A label as a directory name: every character but letters, digits and `._=,+-` becomes
/// `_`.
fn dir_name(label: &str) -> String {
    label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._=,+-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(spec: &str) -> Vec<String> {
        parse_spec(spec)
            .unwrap_or_else(|e| panic!("{spec}: {e}"))
            .iter()
            .map(Setting::to_string)
            .collect()
    }

    fn refusal(given: &str) -> String {
        given.parse::<Vary>().unwrap_err().to_string()
    }

    #[test]
    fn duration_ranges_are_evenly_spaced_in_the_scenario_syntax() {
        assert_eq!(texts("1s..3s:5"), ["1s", "1500ms", "2s", "2500ms", "3s"]);
        assert_eq!(texts("250ms..1s:4"), ["250ms", "500ms", "750ms", "1s"]);
        // Rounded to the millisecond when the ends are whole milliseconds.
        assert_eq!(texts("0s..1s:4"), ["0s", "333ms", "667ms", "1s"]);
        // Finer ends keep their precision.
        assert_eq!(texts("250us..1ms:4"), ["250us", "500us", "750us", "1ms"]);
        // Downwards, and minutes.
        assert_eq!(texts("2m..1m:3"), ["120s", "90s", "60s"]);
        let v = &parse_spec("1s..2s:2").unwrap()[1];
        assert_eq!(v.x(), Some(2000.0), "a duration's axis is in ms");
        assert_eq!(
            v.to_toml(None),
            toml::Value::String("2s".into()),
            "written as the file writes durations"
        );
    }

    #[test]
    fn number_ranges_keep_integers_integers() {
        assert_eq!(texts("1..9:5"), ["1", "3", "5", "7", "9"]);
        assert_eq!(texts("10..1:4"), ["10", "7", "4", "1"]);
        // Not evenly divisible: rounded to the nearest integer.
        assert_eq!(texts("1..10:4"), ["1", "4", "7", "10"]);
        assert_eq!(texts("0..2:3"), ["0", "1", "2"]);
        assert!(matches!(
            parse_spec("1..9:5").unwrap()[0],
            Setting::Integer(1)
        ));
        assert_eq!(texts("0.1..0.3:3"), ["0.1", "0.2", "0.3"]);
        assert_eq!(texts("0..1.0:5"), ["0", "0.25", "0.5", "0.75", "1"]);
        assert!(matches!(
            parse_spec("0..1.0:5").unwrap()[0],
            Setting::Float(_)
        ));
    }

    #[test]
    fn lists_take_their_values_by_their_look() {
        let v = parse_spec("1, 2.5,true,kill,250ms").unwrap();
        assert_eq!(
            v,
            [
                Setting::Integer(1),
                Setting::Float(2.5),
                Setting::Bool(true),
                Setting::Text("kill".into()),
                Setting::Duration(Span::from_millis(250), "250ms".into()),
            ]
        );
        assert_eq!(texts("1.5s,2s"), ["1.5s", "2s"]);
        assert_eq!(texts("7"), ["7"], "a list of one");
        // Text stays text where the file writes text, and an integer is a float where the
        // file writes a float.
        let like_text = toml::Value::String("healthy".into());
        assert_eq!(
            Setting::Integer(1).to_toml(Some(&like_text)),
            toml::Value::String("1".into())
        );
        let like_float = toml::Value::Float(1.0);
        assert_eq!(
            Setting::Integer(2).to_toml(Some(&like_float)),
            toml::Value::Float(2.0)
        );
        assert_eq!(Setting::Text("kill".into()).x(), None);
    }

    #[test]
    fn bad_specs_say_what_is_wrong() {
        let cases = [
            ("swap.recycle_after", "write KEY=SPEC"),
            ("swap.recycle_after=", "no values"),
            ("swap.recycle_after=1s..5s", "needs a count"),
            ("swap.recycle_after=1s..5s:x", "\"x\" is not a whole number"),
            ("swap.recycle_after=1s..5s:1", "the count must be from 2"),
            (
                "swap.recycle_after=1s..5s:1001",
                "the count must be from 2 to 1000",
            ),
            ("swap.recycle_after=1s..5:3", "both durations"),
            ("swap.recycle_after=1 parsec..2s:3", "unknown unit"),
            ("swap.recycle_after=fast..slow:3", "neither a duration"),
            ("workload.items=1..3:5", "would repeat 2 once rounded"),
            ("swap.recycle_after=1s..1s:2", "would repeat 1s"),
            ("swap.recycle_after=1s,,2s", "value 2 of the list"),
            ("swap.recycle_after=1s,2s,1s", "the value 1s is given twice"),
            ("=1s", "is not a scenario key"),
            ("swap..recycle_after=1s", "is not a scenario key"),
            ("faults[x].at=1s", "is not a scenario key"),
            ("swap recycle=1s", "is not a scenario key"),
        ];
        for (given, says) in cases {
            let e = refusal(given);
            assert!(e.contains(says), "{given}: {e}");
            assert!(e.starts_with(&format!("--vary {given:?}: ")), "{e}");
        }
        assert_eq!(
            "faults[0].at=1s".parse::<Vary>().unwrap().key,
            "faults[0].at"
        );
    }

    #[test]
    fn a_grid_is_every_combination_the_first_key_slowest() {
        let a: Vary = "swap.recycle_after=1s,2s".parse().unwrap();
        let b: Vary = "app.cold_start=0s..1s:3".parse().unwrap();
        let points = grid(&[a.clone(), b]).unwrap();
        let labels: Vec<&str> = points.iter().map(|p| p.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "swap.recycle_after=1s,app.cold_start=0s",
                "swap.recycle_after=1s,app.cold_start=500ms",
                "swap.recycle_after=1s,app.cold_start=1s",
                "swap.recycle_after=2s,app.cold_start=0s",
                "swap.recycle_after=2s,app.cold_start=500ms",
                "swap.recycle_after=2s,app.cold_start=1s",
            ]
        );
        assert_eq!(points[4].at, [1, 1]);
        assert!(grid(&[a.clone(), a]).unwrap_err().contains("given twice"));
        let path: Vary = "probes.path=/api/a,/api/b".parse().unwrap();
        assert_eq!(grid(&[path]).unwrap()[0].label, "probes.path=_api_a");
        let clash: Vary = "probes.path=/a,:a".parse().unwrap();
        assert!(grid(&[clash]).unwrap_err().contains("share the directory"));
        let big: Vary = "workload.items=1..1000:1000".parse().unwrap();
        let more: Vary = "app.instances=1..11:11".parse().unwrap();
        assert!(grid(&[big, more]).unwrap_err().contains("more than 10000"));
    }
}
