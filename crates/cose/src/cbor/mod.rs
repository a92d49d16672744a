//! The subset of CBOR (RFC 8949) that WebAuthn structures use, decoded strictly.
//!
//! A [`Value`] borrows byte and text strings from the input, so decoding copies nothing
//! but the array and map spines. What WebAuthn never uses is refused rather than
//! represented: tags, floats, `undefined` and other simple values, indefinite-length
//! strings. This is latchkey's own decoder rather than a general-purpose CBOR crate
//! because each rule here is a security property (RFC 8949 §5.6 duplicate keys, §4.2.1
//! shortest form, CTAP2 key order, depth and allocation caps) and must hold for every
//! input, with the exact number of bytes consumed reported to the caller.

mod decode;
mod encode;
#[cfg(test)]
mod tests;

pub use decode::{MAX_PREALLOCATED_ITEMS, decode, decode_prefix};
pub(crate) use decode::{decode_in, decode_prefix_in};

use crate::error::{CborError, Context, Error, Result};

/// A decoded CBOR data item.
///
/// Ordering (derived) is a total order used to detect duplicate map keys by value; it is
/// not the canonical encoding order.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Value<'a> {
    /// An integer, major type 0 or 1: the range is -2^64 ..= 2^64 - 1.
    Integer(i128),
    /// A byte string (major type 2), borrowed from the input.
    Bytes(&'a [u8]),
    /// A UTF-8 text string (major type 3), borrowed from the input.
    Text(&'a str),
    /// An array (major type 4).
    Array(Vec<Value<'a>>),
    /// A map (major type 5) with unique keys.
    Map(Map<'a>),
    /// `false` or `true`.
    Bool(bool),
    /// `null`.
    Null,
}

impl<'a> Value<'a> {
    /// The map, if this is one.
    #[must_use]
    pub fn as_map(&self) -> Option<&Map<'a>> {
        match self {
            Self::Map(map) => Some(map),
            _ => None,
        }
    }

    /// The byte string, if this is one.
    #[must_use]
    pub fn as_bytes(&self) -> Option<&'a [u8]> {
        match self {
            Self::Bytes(bytes) => Some(bytes),
            _ => None,
        }
    }

    /// The text string, if this is one.
    #[must_use]
    pub fn as_text(&self) -> Option<&'a str> {
        match self {
            Self::Text(text) => Some(text),
            _ => None,
        }
    }

    /// The integer, if this is one and it fits an `i64`.
    #[must_use]
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Self::Integer(n) => i64::try_from(*n).ok(),
            _ => None,
        }
    }

    /// The array elements, if this is an array.
    #[must_use]
    pub fn as_array(&self) -> Option<&[Value<'a>]> {
        match self {
            Self::Array(items) => Some(items),
            _ => None,
        }
    }

    /// A short name of the CBOR type, for messages.
    #[must_use]
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Integer(_) => "integer",
            Self::Bytes(_) => "byte string",
            Self::Text(_) => "text string",
            Self::Array(_) => "array",
            Self::Map(_) => "map",
            Self::Bool(_) => "boolean",
            Self::Null => "null",
        }
    }

    /// Encodes this value as CTAP2 canonical CBOR (map keys sorted, shortest forms).
    #[must_use]
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    /// Appends the CTAP2 canonical encoding of this value to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        encode::value(self, out);
    }
}

/// A CBOR map whose keys are unique by decoded value.
///
/// Entries are kept sorted by key value, so two maps with the same entries are equal
/// whatever order they arrived in; [`Value::to_vec`] writes them in canonical order.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Map<'a> {
    entries: Vec<(Value<'a>, Value<'a>)>,
}

impl<'a> Map<'a> {
    /// Builds a map from entries.
    ///
    /// # Errors
    ///
    /// [`CborError::DuplicateMapKey`] when two keys are equal.
    pub fn new(entries: Vec<(Value<'a>, Value<'a>)>) -> Result<Self> {
        Self::from_entries(entries).ok_or(Error::Cbor {
            context: Context::Document,
            offset: 0,
            kind: CborError::DuplicateMapKey,
        })
    }

    /// Sorts by key and refuses duplicates (compared by decoded value, so `68 "authData"`
    /// and `78 08 "authData"` are the same key). O(n log n), no hashing of
    /// attacker-chosen keys.
    pub(crate) fn from_entries(mut entries: Vec<(Value<'a>, Value<'a>)>) -> Option<Self> {
        entries.sort_unstable_by(|(a, _), (b, _)| a.cmp(b));
        let duplicate = entries
            .windows(2)
            .any(|pair| matches!(pair, [(a, _), (b, _)] if a == b));
        (!duplicate).then_some(Self { entries })
    }

    /// The value under a text key.
    #[must_use]
    pub fn text_key(&self, key: &str) -> Option<&Value<'a>> {
        self.entries
            .iter()
            .find(|(k, _)| k.as_text() == Some(key))
            .map(|(_, v)| v)
    }

    /// The value under an integer key.
    #[must_use]
    pub fn int_key(&self, key: i64) -> Option<&Value<'a>> {
        let key = i128::from(key);
        self.entries
            .iter()
            .find(|(k, _)| *k == Value::Integer(key))
            .map(|(_, v)| v)
    }

    /// The entries, sorted by key value.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &(Value<'a>, Value<'a>)> {
        self.entries.iter()
    }

    /// Number of entries.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the map is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
