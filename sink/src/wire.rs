//! The wire format of `POST /items`: one JSON object, or a JSON array of them (a batch).
//!
//! ```json
//! {"source": "tick", "m": 7, "n": 3, "version": "B", "instance": "b-0", "attempt": 1,
//!  "sent_ns": 1700000000000000000}
//! ```
//!
//! `source`, `m`, `n` and `version` are required; `instance`, `attempt` and `sent_ns` are
//! optional. Unknown fields are refused, so a misspelt optional field is not silently lost.
//! A body is accepted or refused whole: [`parse_body`] returns every item or one [`Reject`].

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::item::{check_name, version_error, Label};

/// One item as sent by a test function. Strings borrow from the request body when they can.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Item<'a> {
    #[serde(borrow)]
    pub source: Cow<'a, str>,
    pub m: u64,
    pub n: u64,
    #[serde(borrow)]
    pub version: Cow<'a, str>,
    #[serde(
        default,
        borrow,
        deserialize_with = "borrowed_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub instance: Option<Cow<'a, str>>,
    /// 1 for the first try of a submit, 2 for its first retry, and so on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    /// The sender's clock when it sent the item, ns since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_ns: Option<u64>,
}

/// A string that borrows from the body unless it holds escapes: serde borrows a `Cow<str>`
/// only when told to, and cannot be told through an `Option`.
#[derive(Deserialize)]
struct BorrowedStr<'a>(#[serde(borrow)] Cow<'a, str>);

fn borrowed_opt<'de: 'a, 'a, D>(d: D) -> Result<Option<Cow<'a, str>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    Ok(Option::<BorrowedStr<'a>>::deserialize(d)?.map(|s| s.0))
}

impl Item<'_> {
    pub fn label(&self) -> Label {
        Label {
            version: self.version.to_string(),
            m: self.m,
            n: self.n,
        }
    }

    /// Checks what serde cannot: the grammar of the names.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        check_name(&self.source).map_err(|why| ("source", format!("source {why}")))?;
        if let Some(why) = version_error(&self.version) {
            return Err(("version", format!("{why} (got {:?})", self.version)));
        }
        if let Some(instance) = &self.instance {
            check_name(instance).map_err(|why| ("instance", format!("instance {why}")))?;
        }
        Ok(())
    }
}

/// Why a request body was refused. Nothing of a refused body is recorded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Reject {
    #[error("content type must be application/json ({})", match got {
        Some(g) => format!("got {g}"),
        None => "the request has no Content-Type header".to_owned(),
    })]
    UnsupportedContentType { got: Option<String> },
    #[error("body is larger than the limit of {limit_bytes} bytes")]
    BodyTooLarge { limit_bytes: usize },
    #[error("body is not valid UTF-8 (invalid byte at offset {at})")]
    InvalidUtf8 { at: usize },
    #[error("malformed JSON: {message}")]
    MalformedJson { message: String },
    #[error("invalid item{}: {reason}", index.map(|i| format!(" at index {i}")).unwrap_or_default())]
    InvalidItem {
        /// The position of the bad item in a batch, when it is known.
        index: Option<usize>,
        /// The offending field, when it is known (an unknown field is named as sent).
        field: Option<String>,
        reason: String,
    },
    #[error("empty batch: send at least one item")]
    EmptyBatch,
    #[error("invalid event{}: {reason}", index.map(|i| format!(" at index {i}")).unwrap_or_default())]
    InvalidEvent {
        /// The position of the bad event in a batch, when it is known.
        index: Option<usize>,
        reason: String,
    },
    #[error("{reason}")]
    InvalidLease { reason: String },
    #[error("this sink requires `Authorization: Bearer TOKEN` (the sink's --token){}", if *.given { "; the token given is wrong" } else { "" })]
    Unauthorized {
        /// A token was sent, but not the sink's.
        given: bool,
    },
    #[error(
        "the sink is serving its limit of {max_connections} connections (--max-connections): \
         nothing of this request was recorded and this connection is closed; retry on a new \
         one"
    )]
    Overloaded {
        /// The sink's cap on connections served at once.
        max_connections: usize,
    },
}

impl Reject {
    /// A short stable name for counting rejections by kind (never by formatted message).
    pub fn kind(&self) -> &'static str {
        match self {
            Reject::UnsupportedContentType { .. } => "unsupported_content_type",
            Reject::BodyTooLarge { .. } => "body_too_large",
            Reject::InvalidUtf8 { .. } => "invalid_utf8",
            Reject::MalformedJson { .. } => "malformed_json",
            Reject::InvalidItem { .. } => "invalid_item",
            Reject::EmptyBatch => "empty_batch",
            Reject::InvalidEvent { .. } => "invalid_event",
            Reject::InvalidLease { .. } => "invalid_lease",
            Reject::Unauthorized { .. } => "unauthorized",
            Reject::Overloaded { .. } => "overloaded",
        }
    }

    /// Every kind, in a fixed order, for metrics that must list zero counts too.
    pub const KINDS: [&'static str; 10] = [
        "unsupported_content_type",
        "body_too_large",
        "invalid_utf8",
        "malformed_json",
        "invalid_item",
        "empty_batch",
        "invalid_event",
        "invalid_lease",
        "unauthorized",
        "overloaded",
    ];

    /// The HTTP status this rejection is answered with.
    pub fn status(&self) -> u16 {
        match self {
            Reject::UnsupportedContentType { .. } => 415,
            Reject::BodyTooLarge { .. } => 413,
            Reject::InvalidUtf8 { .. } | Reject::MalformedJson { .. } => 400,
            Reject::InvalidItem { .. }
            | Reject::EmptyBatch
            | Reject::InvalidEvent { .. }
            | Reject::InvalidLease { .. } => 422,
            Reject::Unauthorized { .. } => 401,
            Reject::Overloaded { .. } => 503,
        }
    }

    /// The JSON body of the refusal: `{"error": kind, "reason": text, ...}`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut body = serde_json::json!({"error": self.kind(), "reason": self.to_string()});
        if let Reject::InvalidEvent {
            index: Some(index), ..
        } = self
        {
            body["index"] = (*index).into();
        }
        if let Reject::InvalidItem { index, field, .. } = self {
            if let Some(index) = index {
                body["index"] = (*index).into();
            }
            if let Some(field) = field {
                body["field"] = field.as_str().into();
            }
        }
        body
    }
}

/// Is this `Content-Type` header value JSON? Parameters such as `charset=utf-8` are allowed.
pub fn is_json_content_type(value: &str) -> bool {
    let essence = value.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/json")
}

/// Parses and validates a whole body: every item, or the first reason to refuse it.
pub fn parse_body(body: &[u8]) -> Result<Vec<Item<'_>>, Reject> {
    let text = std::str::from_utf8(body).map_err(|e| Reject::InvalidUtf8 {
        at: e.valid_up_to(),
    })?;
    let items = match text.bytes().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[') => {
            serde_json::from_str::<Vec<Item<'_>>>(text).map_err(|e| json_reject(e, text))?
        }
        Some(b'{') => {
            vec![serde_json::from_str::<Item<'_>>(text).map_err(|e| json_reject(e, text))?]
        }
        Some(_) => {
            return Err(Reject::MalformedJson {
                message: "expected a JSON object or an array of objects".into(),
            })
        }
        None => {
            return Err(Reject::MalformedJson {
                message: "empty body".into(),
            })
        }
    };
    if items.is_empty() {
        return Err(Reject::EmptyBatch);
    }
    // Only an item of a batch has an index: a lone object has no position to name.
    let batch = text.trim_start().starts_with('[');
    for (index, item) in items.iter().enumerate() {
        item.validate()
            .map_err(|(field, reason)| Reject::InvalidItem {
                index: batch.then_some(index),
                field: Some(field.to_owned()),
                reason,
            })?;
    }
    Ok(items)
}

fn json_reject(e: serde_json::Error, text: &str) -> Reject {
    use serde_json::error::Category;
    match e.classify() {
        // serde's own words name Rust types (`expected struct Item`) and not the batch
        // index: on this slow path only, read the body again to say what is wrong in the
        // protocol's terms.
        Category::Data => diagnose(text).unwrap_or_else(|| Reject::InvalidItem {
            index: None,
            field: None,
            reason: e.to_string(),
        }),
        Category::Syntax | Category::Eof | Category::Io => Reject::MalformedJson {
            message: e.to_string(),
        },
    }
}

/// The fields of an item, required first.
const FIELDS: [&str; 7] = [
    "source", "m", "n", "version", "instance", "attempt", "sent_ns",
];
const REQUIRED: usize = 4;

/// The first problem of a well-formed JSON body that is not a valid item or batch: which
/// item (in a batch), which field, and why, in the protocol's words.
fn diagnose(text: &str) -> Option<Reject> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    let (items, batch) = match &value {
        serde_json::Value::Array(a) => (a.iter().collect::<Vec<_>>(), true),
        other => (vec![other], false),
    };
    items.iter().enumerate().find_map(|(i, item)| {
        let (field, reason) = item_problem(item)?;
        Some(Reject::InvalidItem {
            index: batch.then_some(i),
            field,
            reason,
        })
    })
}

/// What is wrong with one item, if anything serde would refuse.
fn item_problem(item: &serde_json::Value) -> Option<(Option<String>, String)> {
    use serde_json::Value;
    let Value::Object(map) = item else {
        return Some((
            None,
            format!("an item must be a JSON object (got {})", kind(item)),
        ));
    };
    if let Some(unknown) = map.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Some((
            Some(unknown.clone()),
            format!(
                "unknown field {unknown:?} (the fields are {})",
                FIELDS.join(", ")
            ),
        ));
    }
    for (i, field) in FIELDS.iter().enumerate() {
        let problem = match (map.get(*field), i < REQUIRED) {
            (None, true) => Some("is required".to_owned()),
            (None, false) | (Some(Value::Null), false) => None,
            (Some(v), _) => match *field {
                "source" | "version" | "instance" => {
                    (!v.is_string()).then(|| format!("must be a string (got {})", kind(v)))
                }
                "attempt" => v
                    .as_u64()
                    .filter(|a| u32::try_from(*a).is_ok())
                    .is_none()
                    .then(|| format!("must be an integer from 0 to 4294967295 (got {v})")),
                _ => v
                    .as_u64()
                    .is_none()
                    .then(|| format!("must be a non-negative integer (got {v})")),
            },
        };
        if let Some(p) = problem {
            return Some((Some((*field).to_owned()), format!("{field} {p}")));
        }
    }
    None
}

/// A JSON value's kind, with the value when it is short, for error messages.
fn kind(v: &serde_json::Value) -> String {
    use serde_json::Value;
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) if s.len() <= 40 => format!("the string {s:?}"),
        Value::String(_) => "a string".into(),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_and_many() {
        let one = parse_body(br#"{"source":"tick","m":1,"n":2,"version":"A"}"#).unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].label().to_string(), "A(1,2)");
        let many = parse_body(
            br#" [{"source":"tick","m":1,"n":2,"version":"A","attempt":2},
                 {"source":"proc","m":3,"n":0,"version":"B","instance":"b-1","sent_ns":5}]"#,
        )
        .unwrap();
        assert_eq!(many.len(), 2);
        assert_eq!(many[1].instance.as_deref(), Some("b-1"));
    }

    #[test]
    fn strings_borrow_from_the_body_unless_escaped() {
        let items = parse_body(
            br#"[{"source":"tick","m":1,"n":2,"version":"A","instance":"a-0"},
                 {"source":"tick","m":1,"n":3,"version":"A","instance":"a\u002d1"}]"#,
        )
        .unwrap();
        assert!(matches!(items[0].source, Cow::Borrowed("tick")));
        assert!(matches!(items[0].instance, Some(Cow::Borrowed("a-0"))));
        assert!(matches!(&items[1].instance, Some(Cow::Owned(s)) if s == "a-1"));
        let none = parse_body(br#"{"source":"tick","m":1,"n":2,"version":"A"}"#).unwrap();
        assert_eq!(none[0].instance, None);
    }

    #[test]
    fn refusals_by_kind() {
        let cases: [(&[u8], &str); 11] = [
            (b"", "malformed_json"),
            (b"{\"source\":", "malformed_json"),
            (b"42", "malformed_json"),
            (b"[]", "empty_batch"),
            (b"{\"source\":\"tick\",\"m\":1,\"version\":\"A\"}", "invalid_item"),
            (b"{\"source\":\"tick\",\"m\":-1,\"n\":0,\"version\":\"A\"}", "invalid_item"),
            (b"{\"source\":\"tick\",\"m\":\"1\",\"n\":0,\"version\":\"A\"}", "invalid_item"),
            (b"{\"source\":\"tick\",\"m\":1,\"n\":0,\"version\":\"9\"}", "invalid_item"),
            (b"{\"source\":\"tick\",\"m\":1,\"n\":0,\"version\":\"A\",\"x\":1}", "invalid_item"),
            (b"{\"source\":\"t\xff\",\"m\":1,\"n\":0,\"version\":\"A\"}", "invalid_utf8"),
            (b"[{\"source\":\"tick\",\"m\":1,\"n\":0,\"version\":\"A\"},{\"source\":\"a,b\",\"m\":1,\"n\":0,\"version\":\"A\"}]", "invalid_item"),
        ];
        for (body, kind) in cases {
            let got = parse_body(body).unwrap_err();
            assert_eq!(
                got.kind(),
                kind,
                "body {:?}: {got}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn batch_error_names_index_and_field() {
        let body = br#"[{"source":"tick","m":1,"n":0,"version":"A"},{"source":"tick","m":1,"n":1,"version":"A","instance":"x y"}]"#;
        let json = parse_body(body).unwrap_err().to_json();
        assert_eq!(json["index"], 1);
        assert_eq!(json["field"], "instance");
    }

    #[test]
    fn refusals_speak_the_protocol_not_rust() {
        for (body, index, field, reason) in [
            (
                r#"[{"source":"tick","m":1,"n":0,"version":"A"},{"source":"tick","m":"1","n":0,"version":"A"}]"#,
                Some(1),
                Some("m"),
                "m must be a non-negative integer (got \"1\")",
            ),
            (
                r#"[{"source":"tick","m":1,"n":0,"version":"A"},5]"#,
                Some(1),
                None,
                "an item must be a JSON object (got the number 5)",
            ),
            (
                r#"{"source":"tick","m":1,"version":"A"}"#,
                None,
                Some("n"),
                "n is required",
            ),
            (
                r#"{"source":"tick","m":1,"n":-1,"version":"A"}"#,
                None,
                Some("n"),
                "n must be a non-negative integer (got -1)",
            ),
            (
                r#"[{"source":"tick","m":1,"n":0,"version":"A","colour":"red"}]"#,
                Some(0),
                Some("colour"),
                "unknown field \"colour\"",
            ),
            (
                r#"{"source":7,"m":1,"n":0,"version":"A"}"#,
                None,
                Some("source"),
                "source must be a string (got the number 7)",
            ),
            (
                r#"{"source":"tick","m":1,"n":0,"version":"9"}"#,
                None,
                Some("version"),
                "version",
            ),
            (
                r#"[{"source":"tick","m":1,"n":0,"version":"A"},{"source":"tick","m":1,"n":0,"version":"9"}]"#,
                Some(1),
                Some("version"),
                "version",
            ),
        ] {
            let got = parse_body(body.as_bytes()).unwrap_err();
            let json = got.to_json();
            assert_eq!(json["error"], "invalid_item", "{body}");
            assert_eq!(
                json["index"].as_u64(),
                index.map(|i| i as u64),
                "{body}: {json}"
            );
            assert_eq!(json["field"].as_str(), field, "{body}: {json}");
            let text = json["reason"].as_str().unwrap();
            assert!(text.contains(reason), "{body}: {text}");
            for rust in ["Some(", "struct", "u64", "u32", "Item"] {
                assert!(!text.contains(rust), "{body}: {text}");
            }
        }
        let none = Reject::UnsupportedContentType { got: None }.to_string();
        assert!(none.contains("no Content-Type header"), "{none}");
        let plain = Reject::UnsupportedContentType {
            got: Some("text/plain".into()),
        }
        .to_string();
        assert!(plain.ends_with("(got text/plain)"), "{plain}");
    }

    #[test]
    fn content_types() {
        assert!(is_json_content_type("application/json"));
        assert!(is_json_content_type("Application/JSON; charset=utf-8"));
        assert!(!is_json_content_type("text/plain"));
        assert!(!is_json_content_type("application/jsonx"));
    }
}
