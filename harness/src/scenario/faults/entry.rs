//! [`Entry`]: one `[[faults]]` table of the spanned document, read key by key as its kind
//! asks, and [`Refusal`], why an entry is refused and where. Each kind's `read` asks for its
//! keys here; the keys it did not ask for are refused with the list of those it takes.

use std::ops::Range;

use toml::de::{DeTable, ValueDeserializer};

use crate::duration::Span;

/// Why an entry is refused: the key under its `faults[i]` to blame (none: the entry
/// itself), where, and why.
#[derive(Debug)]
pub struct Refusal {
    pub key: Option<String>,
    pub span: Option<Range<usize>>,
    pub message: String,
}

/// One `[[faults]]` table as the parser saw it, read key by key: a kind's `read` asks for
/// the keys it takes, in the order its error lists them.
pub struct Entry<'a, 'i> {
    pub(super) table: &'a DeTable<'i>,
    /// The entry (its `[[faults]]` header), blamed for a key it lacks.
    pub(super) span: Range<usize>,
    pub(super) kind: &'static str,
    /// The keys asked for, besides `at`.
    pub(super) taken: Vec<&'static str>,
    /// The first key the kind needs and the entry lacks: reported after a key the kind does
    /// not take, as a key of another kind is the likelier slip.
    pub(super) missing: Option<Refusal>,
}

impl Entry<'_, '_> {
    /// `key`'s value, if given.
    fn value<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<Option<T>, Refusal> {
        let Some((k, v)) = self.table.get_key_value(key) else {
            return Ok(None);
        };
        T::deserialize(ValueDeserializer::from(v.clone()))
            .map(Some)
            .map_err(|e| Refusal {
                key: Some(key.to_owned()),
                span: e.span().or(Some(k.span())),
                message: e.message().to_owned(),
            })
    }

    /// `at`, which every kind needs.
    pub(super) fn at(&mut self) -> Result<Span, Refusal> {
        self.value("at")?.ok_or_else(|| self.lacks("at"))
    }

    /// A key the kind may give.
    pub(super) fn opt<T: serde::de::DeserializeOwned>(
        &mut self,
        key: &'static str,
    ) -> Result<Option<T>, Refusal> {
        self.taken.push(key);
        self.value(key)
    }

    /// A key the kind needs: a lack is noted, and reported once every key is read.
    pub(super) fn need<T: serde::de::DeserializeOwned + Default>(
        &mut self,
        key: &'static str,
        why: impl FnOnce() -> String,
    ) -> Result<T, Refusal> {
        if let Some(v) = self.opt(key)? {
            return Ok(v);
        }
        self.missing.get_or_insert_with(|| Refusal {
            key: Some(key.to_owned()),
            span: Some(self.span.clone()),
            message: why(),
        });
        Ok(T::default())
    }

    /// `duration`, which every kind that lasts needs.
    pub(super) fn duration(&mut self) -> Result<Span, Refusal> {
        let kind = self.kind;
        self.need("duration", || format!("a {kind} fault needs a duration"))
    }

    /// The error for a key every entry needs, as serde words it.
    pub(super) fn lacks(&self, key: &'static str) -> Refusal {
        Refusal {
            key: None,
            span: Some(self.span.clone()),
            message: <toml::de::Error as serde::de::Error>::missing_field(key)
                .message()
                .to_owned(),
        }
    }

    /// Once the kind has read its keys: the first key it does not take, in the file's
    /// order, or the first it lacks.
    pub(super) fn finish(self) -> Result<(), Refusal> {
        let mut given: Vec<_> = self.table.keys().collect();
        given.sort_by_key(|k| k.span().start);
        let stray = given.into_iter().find(|k| {
            let k: &str = k.get_ref();
            k != "kind" && k != "at" && !self.taken.contains(&k)
        });
        if let Some(key) = stray {
            return Err(Refusal {
                key: Some(key.get_ref().to_string()),
                span: Some(key.span()),
                message: format!(
                    "a {} fault takes no `{}` (it takes {})",
                    self.kind,
                    key.get_ref(),
                    self.taken
                        .iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        }
        self.missing.map_or(Ok(()), Err)
    }
}
