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
    #[error("content type must be application/json (got {got:?})")]
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
        /// The offending field, when it is known.
        field: Option<&'static str>,
        reason: String,
    },
    #[error("empty batch: send at least one item")]
    EmptyBatch,
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
        }
    }

    /// Every kind, in a fixed order, for metrics that must list zero counts too.
    pub const KINDS: [&'static str; 6] = [
        "unsupported_content_type",
        "body_too_large",
        "invalid_utf8",
        "malformed_json",
        "invalid_item",
        "empty_batch",
    ];

    /// The HTTP status this rejection is answered with.
    pub fn status(&self) -> u16 {
        match self {
            Reject::UnsupportedContentType { .. } => 415,
            Reject::BodyTooLarge { .. } => 413,
            Reject::InvalidUtf8 { .. } | Reject::MalformedJson { .. } => 400,
            Reject::InvalidItem { .. } | Reject::EmptyBatch => 422,
        }
    }

    /// The JSON body of the refusal: `{"error": kind, "reason": text, ...}`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut body = serde_json::json!({"error": self.kind(), "reason": self.to_string()});
        if let Reject::InvalidItem { index, field, .. } = self {
            if let Some(index) = index {
                body["index"] = (*index).into();
            }
            if let Some(field) = field {
                body["field"] = (*field).into();
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
        Some(b'[') => serde_json::from_str::<Vec<Item<'_>>>(text).map_err(json_reject)?,
        Some(b'{') => vec![serde_json::from_str::<Item<'_>>(text).map_err(json_reject)?],
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
    for (index, item) in items.iter().enumerate() {
        item.validate()
            .map_err(|(field, reason)| Reject::InvalidItem {
                index: Some(index),
                field: Some(field),
                reason,
            })?;
    }
    Ok(items)
}

fn json_reject(e: serde_json::Error) -> Reject {
    use serde_json::error::Category;
    match e.classify() {
        Category::Data => Reject::InvalidItem {
            index: None,
            field: None,
            reason: e.to_string(),
        },
        Category::Syntax | Category::Eof | Category::Io => Reject::MalformedJson {
            message: e.to_string(),
        },
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
    fn content_types() {
        assert!(is_json_content_type("application/json"));
        assert!(is_json_content_type("Application/JSON; charset=utf-8"));
        assert!(!is_json_content_type("text/plain"));
        assert!(!is_json_content_type("application/jsonx"));
    }
}
