//! The sink's parsers never panic: the label grammar, the wire format of `POST /items`,
//! the events of `POST /events`, a lease request and the torn-row cut, fed arbitrary bytes
//! and near-misses of valid input. Each returns a value or an error that says where, and
//! the regression corpus under `tests/corpus/` (every input that once failed, and tricky
//! near-misses) is replayed on every run.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};
use serde_json::{json, Value};
use sink::events::parse_events;
use sink::item::{check_name, version_error, Label};
use sink::lease::{LeaseAnswer, LeaseRequest, Leases, MAX_TTL_MS};
use sink::wire::{is_json_content_type, parse_body, Reject};

#[path = "support/mutate.rs"]
mod mutate;
use mutate::{any_bytes, any_text, near_miss, near_miss_text, TOKENS};

/// Few enough cases for a debug build to run each property in about a second. The seed is
/// the workspace's fixed one (`.cargo/config.toml`, `PROPTEST_RNG_SEED`), said on stderr so
/// a failure's log names it; a failing case's seed is kept in `tests/corpus/proptest-seeds.txt`
/// and replayed first on every later run, beside the inputs kept by hand in `tests/corpus/`.
fn config() -> Config {
    let config = Config {
        cases: 256,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "tests/corpus/proptest-seeds.txt",
        ))),
        ..Config::default()
    };
    eprintln!(
        "proptest: seed {:?} (PROPTEST_RNG_SEED), {} cases",
        config.rng_seed, config.cases
    );
    config
}

fn corpus_dir(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(kind)
}

const LABEL_SEEDS: &[&str] = &[
    "A(0,0)",
    "B(7,3)",
    "v2_rc-1(18446744073709551615,3)",
    "Z-9(12,345)",
];

/// A label parses to one that prints as the same text, or fails at a byte inside it.
fn check_label(text: &str) -> Result<Label, sink::item::LabelError> {
    let got = Label::parse(text);
    match &got {
        Ok(label) => assert_eq!(label.to_string(), text, "a label has one spelling"),
        Err(e) => {
            assert!(e.at <= text.len(), "{e} points past the end");
            assert_eq!(e.text, text);
            let _ = e.to_string();
        }
    }
    got
}

const WIRE_SEEDS: &[&str] = &[
    r#"{"source":"tick","m":7,"n":3,"version":"B"}"#,
    r#"{"source": "tick", "m": 7, "n": 3, "version": "B", "instance": "b-0", "attempt": 1, "sent_ns": 1700000000000000000}"#,
    r#"[{"source":"tick","m":1,"n":2,"version":"A","attempt":2},
        {"source":"proc","m":3,"n":0,"version":"B","instance":"b-1","sent_ns":5}]"#,
    r#"[{"source":"tick","m":18446744073709551615,"n":0,"version":"A","instance":"a\u002d1","attempt":4294967295}]"#,
];

/// A body is accepted whole, and prints and parses back to the same items; or it is
/// refused with a reason whose position (a byte, a line and column, a batch index) lies
/// inside the body.
fn check_wire(body: &[u8]) -> Result<usize, Reject> {
    let got = parse_body(body);
    match &got {
        Ok(items) => {
            assert!(!items.is_empty());
            // Every accepted item meets the protocol's rule as the design document states
            // it (checked here, not by the parser's own validate()).
            for item in items {
                let v = serde_json::to_value(item).unwrap();
                assert!(item_is_valid(&v), "accepted an invalid item: {v}");
            }
            let again = serde_json::to_vec(items).unwrap();
            let back = parse_body(&again).expect("printed items parse back");
            assert_eq!(&back, items);
        }
        Err(reject) => {
            let _ = (reject.to_string(), reject.to_json(), reject.status());
            check_reject(body, reject);
        }
    }
    got.map(|items| items.len())
}

fn check_reject(body: &[u8], reject: &Reject) {
    match reject {
        Reject::InvalidUtf8 { at } => {
            assert!(*at < body.len(), "{reject}");
            assert!(std::str::from_utf8(&body[..*at]).is_ok(), "{reject}");
        }
        Reject::MalformedJson { message } => {
            mutate::assert_line_column_within(message, std::str::from_utf8(body).unwrap());
        }
        Reject::InvalidItem { index: Some(i), .. }
        | Reject::InvalidEvent { index: Some(i), .. } => {
            let value: Value = serde_json::from_slice(body).expect("a batch is well-formed JSON");
            let len = value.as_array().expect("an index is into a batch").len();
            assert!(*i < len, "{reject}: a batch of {len}");
        }
        Reject::InvalidItem { .. }
        | Reject::InvalidEvent { .. }
        | Reject::InvalidLease { .. }
        | Reject::EmptyBatch => {}
        other => panic!("a body parser cannot answer {other}"),
    }
}

const EVENT_SEEDS: &[&str] = &[
    r#"{"event":"cancelled","instance":"a-0","version":"A","t_ns":1700000000000000000,"detail":{"active":1}}"#,
    r#"[{"event":"started","instance":"a-0","version":"A","t_ns":5,"detail":{"pid":42}},
        {"event":"heartbeat","instance":"a-0","detail":{"active":1,"ok":true,"mode":"drain"}}]"#,
];

/// Accepted events become rows that are safe to append to `events.csv` unquoted: one line,
/// the five columns after `recv_ns`, no quote.
fn check_events(body: &[u8]) -> Result<usize, Reject> {
    let got = parse_events(body);
    match &got {
        Ok(rows) => {
            assert!(!rows.is_empty());
            for row in rows {
                assert!(!row.contains(['\n', '\r', '"']), "{row:?}");
                assert_eq!(row.matches(',').count(), 4, "{row:?}");
            }
        }
        Err(reject) => {
            let _ = (reject.to_string(), reject.to_json());
            check_reject(body, reject);
        }
    }
    got.map(|rows| rows.len())
}

/// The sink's own check of a lease request body (`server::lease_request`), as far as it
/// reads the body.
fn check_lease(body: &[u8]) -> Result<LeaseRequest, String> {
    let req: LeaseRequest = serde_json::from_slice(body).map_err(|e| {
        if let Ok(text) = std::str::from_utf8(body) {
            mutate::assert_line_column_within(&e.to_string(), text);
        }
        e.to_string()
    })?;
    check_name(&req.holder).map_err(str::to_owned)?;
    if req.ttl_ms.is_some_and(|t| t == 0 || t > MAX_TTL_MS) {
        return Err(format!("ttl_ms must be between 1 and {MAX_TTL_MS}"));
    }
    Ok(req)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn labels_from_arbitrary_text(text in any_text(40)) {
        let _ = check_label(&text);
        let _ = is_json_content_type(&text);
        let _ = version_error(&text);
        let _ = check_name(&text);
    }

    #[test]
    fn labels_near_misses(text in near_miss_text(LABEL_SEEDS, TOKENS)) {
        let _ = check_label(&text);
    }

    #[test]
    fn labels_round_trip(version in "[A-Za-z][A-Za-z0-9_-]{0,127}", m: u64, n: u64) {
        let label = Label { version, m, n };
        prop_assert_eq!(check_label(&label.to_string()).unwrap(), label);
    }

    #[test]
    fn wire_arbitrary_bytes(body in any_bytes(512)) {
        let _ = check_wire(&body);
    }

    #[test]
    fn wire_near_misses(body in near_miss(seeds(WIRE_SEEDS), TOKENS)) {
        let _ = check_wire(&body);
    }

    /// Items made of arbitrary JSON values per field: accepted exactly when every field
    /// is what the protocol says.
    #[test]
    fn wire_fields_of_any_type(items in proptest::collection::vec(item_value(), 0..4), batch: bool) {
        let body = if batch || items.len() != 1 {
            Value::Array(items.clone())
        } else {
            items[0].clone()
        };
        let got = check_wire(body.to_string().as_bytes());
        let valid = !items.is_empty() && items.iter().all(item_is_valid);
        prop_assert_eq!(got.is_ok(), valid, "{} -> {:?}", body, got);
    }

    #[test]
    fn events_arbitrary_bytes(body in any_bytes(512)) {
        let _ = check_events(&body);
    }

    #[test]
    fn events_near_misses(body in near_miss(seeds(EVENT_SEEDS), TOKENS)) {
        let _ = check_events(&body);
    }

    #[test]
    fn lease_requests(body in near_miss(seeds(&[r#"{"holder":"a-0","ttl_ms":3000}"#]), TOKENS)) {
        let _ = check_lease(&body);
    }

    /// Any sequence of acquisitions and releases at any times and TTLs: no overflow, and a
    /// lease is never both free and taken.
    #[test]
    fn leases_any_times(ops in proptest::collection::vec((any::<bool>(), 0u8..3, any::<u64>(), any::<u64>()), 0..32)) {
        let leases = Leases::default();
        for (acquire, holder, ttl_ms, now_ns) in ops {
            let holder = ["a-0", "b-0", "c-0"][usize::from(holder)];
            let answer = if acquire {
                leases.acquire("tick", holder, ttl_ms, now_ns)
            } else {
                leases.release("tick", holder, now_ns)
            };
            if let LeaseAnswer::Taken { holder: other, .. } = answer {
                prop_assert_ne!(other, holder);
            }
        }
    }

    /// The cut keeps exactly the file up to its last newline, across the 64 KiB chunks it
    /// reads backwards in, and a second cut finds nothing.
    #[test]
    fn torn_tail_cut(head in proptest::collection::vec(prop_oneof![Just(b'\n'), any::<u8>()], 0..300),
                     tail_len in prop_oneof![0usize..10, 60_000usize..140_000]) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("arrivals.csv");
        let mut bytes = head;
        bytes.extend(std::iter::repeat_n(b'x', tail_len));
        std::fs::write(&path, &bytes).unwrap();
        let keep = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let cut = sink::torn::cut_torn_tail(&path).unwrap();
        prop_assert_eq!(cut, (bytes.len() - keep) as u64);
        prop_assert_eq!(std::fs::read(&path).unwrap(), &bytes[..keep]);
        prop_assert_eq!(sink::torn::cut_torn_tail(&path).unwrap(), 0);
    }
}

fn seeds(seeds: &[&str]) -> Vec<Vec<u8>> {
    seeds.iter().map(|s| s.as_bytes().to_vec()).collect()
}

/// A JSON value of any type, with the edges of the protocol's numbers and names.
fn any_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        prop_oneof![
            Just(u64::MAX),
            Just(u64::from(u32::MAX)),
            Just(u64::from(u32::MAX) + 1),
            Just(0)
        ]
        .prop_map(Value::from),
        "[A-Za-z0-9_.:,-]{0,8}".prop_map(Value::from),
        any::<String>().prop_map(Value::from),
        Just(Value::from("x".repeat(129))),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z]{1,6}", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// An item's fields, each present or absent, valid or of any value; sometimes an unknown
/// field, sometimes not an object at all.
fn item_value() -> impl Strategy<Value = Value> {
    let name = || {
        prop_oneof![
            3 => "[a-z][a-z0-9-]{0,6}".prop_map(Value::from),
            1 => any_value(),
        ]
    };
    let number = || {
        prop_oneof![
            3 => any::<u64>().prop_map(Value::from),
            1 => any_value(),
        ]
    };
    let field = |v: BoxedStrategy<Value>| proptest::option::weighted(0.9, v);
    let fields = (
        field(name().boxed()),
        field(number().boxed()),
        field(number().boxed()),
        field(
            prop_oneof![3 => "[A-Z][A-Za-z0-9_-]{0,4}".prop_map(Value::from), 1 => any_value()]
                .boxed(),
        ),
        proptest::option::of(name()),
        proptest::option::of(prop_oneof![
            3 => (0u64..=u64::from(u32::MAX) + 1).prop_map(Value::from),
            1 => any_value()
        ]),
        proptest::option::of(number()),
        proptest::option::weighted(0.05, any_value()),
    );
    prop_oneof![
        20 => fields.prop_map(|(source, m, n, version, instance, attempt, sent_ns, extra)| {
            let mut map = serde_json::Map::new();
            let all = [
                ("source", source),
                ("m", m),
                ("n", n),
                ("version", version),
                ("instance", instance),
                ("attempt", attempt),
                ("sent_ns", sent_ns),
                ("colour", extra),
            ];
            for (key, value) in all {
                if let Some(v) = value {
                    map.insert(key.to_owned(), v);
                }
            }
            Value::Object(map)
        }),
        1 => any_value(),
    ]
}

/// The protocol's rule for one item, written from the design document's words (docs/
/// design.md: a version is `[A-Za-z][A-Za-z0-9_-]*` of at most 128 bytes; a source or
/// instance name 1 to 128 bytes of `[A-Za-z0-9_.:-]`; `m`, `n`, `sent_ns` unsigned 64-bit,
/// `attempt` unsigned 32-bit; no other key), with none of the crate's own checks.
fn item_is_valid(item: &Value) -> bool {
    let Some(map) = item.as_object() else {
        return false;
    };
    let known = [
        "source", "m", "n", "version", "instance", "attempt", "sent_ns",
    ];
    if map.keys().any(|k| !known.contains(&k.as_str())) {
        return false;
    }
    let name = |s: &str| {
        (1..=128).contains(&s.len())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.:-".contains(c))
    };
    let version = |s: &str| {
        s.len() <= 128
            && s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    let name_ok = |v: Option<&Value>| v.and_then(Value::as_str).is_some_and(name);
    let u64_ok = |v: Option<&Value>| v.and_then(Value::as_u64).is_some();
    let optional = |v: Option<&Value>, ok: &dyn Fn(&Value) -> bool| match v {
        None | Some(Value::Null) => true,
        Some(v) => ok(v),
    };
    name_ok(map.get("source"))
        && u64_ok(map.get("m"))
        && u64_ok(map.get("n"))
        && map
            .get("version")
            .and_then(Value::as_str)
            .is_some_and(version)
        && optional(map.get("instance"), &|v| name_ok(Some(v)))
        && optional(map.get("attempt"), &|v| {
            v.as_u64().is_some_and(|a| a <= u64::from(u32::MAX))
        })
        && optional(map.get("sent_ns"), &|v| v.as_u64().is_some())
}

/// Every input that once failed, and the near-misses kept beside them, still parse or fail
/// as their names say (`ok-*`, `err-*`), without a panic.
#[test]
fn regression_corpus() {
    for (name, bytes) in mutate::corpus(&corpus_dir("label")) {
        let text = String::from_utf8_lossy(&bytes);
        // A label file holds one label; a trailing newline is the editor's, not the label's.
        let text = text.strip_suffix('\n').unwrap_or(&text);
        mutate::check_want(&name, &check_label(text));
    }
    for (name, bytes) in mutate::corpus(&corpus_dir("wire")) {
        mutate::check_want(&name, &check_wire(&bytes));
    }
    for (name, bytes) in mutate::corpus(&corpus_dir("events")) {
        mutate::check_want(&name, &check_events(&bytes));
    }
    for (name, bytes) in mutate::corpus(&corpus_dir("lease")) {
        mutate::check_want(&name, &check_lease(&bytes));
    }
}
