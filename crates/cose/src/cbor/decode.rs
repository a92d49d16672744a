//! The decoder: one pass, bounded recursion, no allocation sized by the input's claims.

use super::{Map, Value};
use crate::error::{CborError, Context, Error, LimitExceeded, Result};
use crate::options::{ParseOptions, Strictness};

/// Most elements reserved up front for one array or map, whatever count it declares.
pub const MAX_PREALLOCATED_ITEMS: usize = 16;

/// Decodes exactly one CBOR item that must fill `input`.
///
/// # Errors
///
/// [`Error::Cbor`] for malformed or non-conforming bytes (including trailing bytes) and
/// [`Error::Limit`] when a cap of `options.limits` is exceeded.
///
/// # Example
///
/// ```
/// use latchkey_cose::{ParseOptions, cbor::{self, Value}};
///
/// let value = cbor::decode(&[0xa1, 0x01, 0x02], &ParseOptions::STRICT)?; // {1: 2}
/// assert_eq!(value.as_map().and_then(|m| m.int_key(1)), Some(&Value::Integer(2)));
///
/// // {1: 2, 1: 3}: duplicate keys never decode.
/// assert!(cbor::decode(&[0xa2, 0x01, 0x02, 0x01, 0x03], &ParseOptions::STRICT).is_err());
/// # Ok::<(), latchkey_cose::Error>(())
/// ```
pub fn decode<'a>(input: &'a [u8], options: &ParseOptions) -> Result<Value<'a>> {
    decode_in(input, options, Context::Document)
}

/// Decodes the first CBOR item of `input` and returns it with the number of bytes it
/// occupies. Used where an item is followed by other data (a COSE_Key inside
/// authenticator data).
///
/// # Errors
///
/// As [`decode`], except that bytes after the item are not an error.
pub fn decode_prefix<'a>(input: &'a [u8], options: &ParseOptions) -> Result<(Value<'a>, usize)> {
    decode_prefix_in(input, options, Context::Document)
}

pub(crate) fn decode_in<'a>(
    input: &'a [u8],
    options: &ParseOptions,
    context: Context,
) -> Result<Value<'a>> {
    let (value, used) = decode_prefix_in(input, options, context)?;
    let trailing = input.len().saturating_sub(used);
    if trailing > 0 {
        return Err(Error::Cbor {
            context,
            offset: used,
            kind: CborError::TrailingBytes(trailing),
        });
    }
    Ok(value)
}

pub(crate) fn decode_prefix_in<'a>(
    input: &'a [u8],
    options: &ParseOptions,
    context: Context,
) -> Result<(Value<'a>, usize)> {
    let max = options.limits.max_input_len;
    if input.len() > max {
        let limit = LimitExceeded::InputTooLarge {
            len: input.len(),
            max,
        };
        return Err(Error::Limit { context, limit });
    }
    let mut decoder = Decoder {
        input,
        pos: 0,
        items: 0,
        options,
        context,
    };
    let value = decoder.item(0)?;
    Ok((value, decoder.pos))
}

/// The argument of an item's head: a count or value, or "indefinite".
enum Argument {
    Definite(u64),
    Indefinite,
}

struct Decoder<'a, 'o> {
    input: &'a [u8],
    pos: usize,
    items: usize,
    options: &'o ParseOptions,
    context: Context,
}

impl<'a> Decoder<'a, '_> {
    fn error(&self, offset: usize, kind: CborError) -> Error {
        Error::Cbor {
            context: self.context,
            offset,
            kind,
        }
    }

    fn limit(&self, limit: LimitExceeded) -> Error {
        Error::Limit {
            context: self.context,
            limit,
        }
    }

    fn strict(&self) -> bool {
        self.options.strictness == Strictness::Canonical
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8]> {
        let start = self.pos;
        let bytes = start
            .checked_add(len)
            .and_then(|end| self.input.get(start..end))
            .ok_or_else(|| self.error(self.input.len(), CborError::Truncated))?;
        self.pos = start + len;
        Ok(bytes)
    }

    fn byte(&mut self) -> Result<u8> {
        match self.take(1)? {
            [b] => Ok(*b),
            _ => Err(self.error(self.pos, CborError::Truncated)),
        }
    }

    /// Reads an initial byte and its argument, checking shortest form in strict mode.
    fn head(&mut self) -> Result<(u8, u8, Argument)> {
        let start = self.pos;
        let initial = self.byte()?;
        let (major, info) = (initial >> 5, initial & 0x1f);
        let (argument, shortest_floor) = match info {
            0..=23 => (u64::from(info), 0),
            24 => (u64::from(self.byte()?), 24),
            25 => (u64::from(u16::from_be_bytes(self.array()?)), 0x100),
            26 => (u64::from(u32::from_be_bytes(self.array()?)), 0x1_0000),
            27 => (u64::from_be_bytes(self.array()?), 0x1_0000_0000),
            28..=30 => return Err(self.error(start, CborError::ReservedAdditionalInfo(info))),
            _ => return Ok((major, info, Argument::Indefinite)),
        };
        // Major type 7 uses the argument as a simple value or float bits, not a length.
        if major != 7 && argument < shortest_floor && self.strict() {
            return Err(self.error(start, CborError::NonMinimalEncoding));
        }
        Ok((major, info, Argument::Definite(argument)))
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let bytes = self.take(N)?;
        <[u8; N]>::try_from(bytes).map_err(|_| self.error(self.pos, CborError::Truncated))
    }

    fn count_item(&mut self) -> Result<()> {
        self.items += 1;
        let max = self.options.limits.max_items;
        if self.items > max {
            return Err(self.limit(LimitExceeded::TooManyItems { max }));
        }
        Ok(())
    }

    /// Decodes one item whose enclosing containers number `depth`.
    fn item(&mut self, depth: usize) -> Result<Value<'a>> {
        self.count_item()?;
        let start = self.pos;
        let (major, info, argument) = self.head()?;
        match (major, argument) {
            (0, Argument::Definite(n)) => Ok(Value::Integer(i128::from(n))),
            (1, Argument::Definite(n)) => Ok(Value::Integer(-1 - i128::from(n))),
            (2, Argument::Definite(len)) => Ok(Value::Bytes(self.string(len)?)),
            (3, Argument::Definite(len)) => {
                let bytes = self.string(len)?;
                let text = core::str::from_utf8(bytes)
                    .map_err(|_| self.error(start, CborError::InvalidUtf8))?;
                Ok(Value::Text(text))
            }
            (2 | 3, Argument::Indefinite) => Err(self.error(start, CborError::IndefiniteString)),
            (4, argument) => {
                self.enter(depth, start, &argument)?;
                let mut items = Vec::with_capacity(self.capacity_hint(&argument));
                while self.has_next(&argument, items.len())? {
                    items.push(self.item(depth + 1)?);
                }
                Ok(Value::Array(items))
            }
            (5, argument) => self.map(depth, start, &argument),
            (6, Argument::Definite(tag)) => Err(self.error(start, CborError::TagNotAllowed(tag))),
            (7, Argument::Definite(n)) => match (info, n) {
                (20, _) => Ok(Value::Bool(false)),
                (21, _) => Ok(Value::Bool(true)),
                (22, _) => Ok(Value::Null),
                (25..=27, _) => Err(self.error(start, CborError::FloatNotAllowed)),
                (_, simple) => {
                    let simple = u8::try_from(simple).unwrap_or(u8::MAX);
                    Err(self.error(start, CborError::SimpleValueNotAllowed(simple)))
                }
            },
            (7, Argument::Indefinite) => Err(self.error(start, CborError::UnexpectedBreak)),
            // Major 0, 1 and 6 with additional information 31 are not well-formed.
            _ => Err(self.error(start, CborError::ReservedAdditionalInfo(info))),
        }
    }

    fn string(&mut self, len: u64) -> Result<&'a [u8]> {
        // A length that does not fit usize cannot be present in memory either.
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        self.take(len)
    }

    fn enter(&self, depth: usize, start: usize, argument: &Argument) -> Result<()> {
        let max = self.options.limits.max_depth;
        if depth >= max {
            return Err(self.limit(LimitExceeded::NestingTooDeep { max }));
        }
        if matches!(argument, Argument::Indefinite) && self.strict() {
            return Err(self.error(start, CborError::IndefiniteLength));
        }
        Ok(())
    }

    /// Pre-allocation never trusts a declared count: at most [`MAX_PREALLOCATED_ITEMS`]
    /// and never more than the bytes actually left (every element needs one), so a
    /// container that declares 2^64 items costs a few hundred bytes until its items
    /// are really there; past that the vector grows as items arrive.
    fn capacity_hint(&self, argument: &Argument) -> usize {
        let remaining = self.input.len().saturating_sub(self.pos);
        match argument {
            Argument::Definite(n) => usize::try_from(*n)
                .unwrap_or(usize::MAX)
                .min(remaining)
                .min(MAX_PREALLOCATED_ITEMS),
            Argument::Indefinite => 0,
        }
    }

    /// Whether another element follows: by count, or up to the break byte.
    fn has_next(&mut self, argument: &Argument, done: usize) -> Result<bool> {
        match argument {
            Argument::Definite(n) => Ok(u64::try_from(done).is_ok_and(|done| done < *n)),
            Argument::Indefinite => match self.input.get(self.pos) {
                Some(0xff) => {
                    self.pos += 1;
                    Ok(false)
                }
                Some(_) => Ok(true),
                None => Err(self.error(self.pos, CborError::Truncated)),
            },
        }
    }

    fn map(&mut self, depth: usize, start: usize, argument: &Argument) -> Result<Value<'a>> {
        self.enter(depth, start, argument)?;
        let mut entries = Vec::with_capacity(self.capacity_hint(argument) / 2);
        let mut previous_key: Option<&'a [u8]> = None;
        while self.has_next(argument, entries.len())? {
            let key_start = self.pos;
            let key = self.item(depth + 1)?;
            let key_bytes = self.input.get(key_start..self.pos).unwrap_or_default();
            if self.strict()
                && let Some(previous) = previous_key
                && !canonical_less(previous, key_bytes)
            {
                // Equal encodings are duplicates; report them as such.
                let kind = if previous == key_bytes {
                    CborError::DuplicateMapKey
                } else {
                    CborError::UnsortedMapKeys
                };
                return Err(self.error(key_start, kind));
            }
            previous_key = Some(key_bytes);
            let value = self.item(depth + 1)?;
            entries.push((key, value));
        }
        // Duplicates by decoded value, in every mode.
        let map = Map::from_entries(entries)
            .ok_or_else(|| self.error(start, CborError::DuplicateMapKey))?;
        Ok(Value::Map(map))
    }
}

/// CTAP2 canonical key order (RFC 7049 §3.9): shorter encoding first, then bytewise.
fn canonical_less(a: &[u8], b: &[u8]) -> bool {
    (a.len(), a) < (b.len(), b)
}
