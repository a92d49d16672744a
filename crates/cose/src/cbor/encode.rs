//! The encoder: CTAP2 canonical form, the only form latchkey writes.

use super::Value;

/// Appends `value` in canonical form.
pub(super) fn value(value: &Value<'_>, out: &mut Vec<u8>) {
    match value {
        Value::Integer(n) => integer(*n, out),
        Value::Bytes(bytes) => {
            head(2, bytes.len() as u64, out);
            out.extend_from_slice(bytes);
        }
        Value::Text(text) => {
            head(3, text.len() as u64, out);
            out.extend_from_slice(text.as_bytes());
        }
        Value::Array(items) => {
            head(4, items.len() as u64, out);
            for item in items {
                self::value(item, out);
            }
        }
        Value::Map(map) => {
            head(5, map.len() as u64, out);
            // Canonical order is defined on encoded keys: encode each, then sort.
            let mut encoded: Vec<(Vec<u8>, &Value<'_>)> = map
                .iter()
                .map(|(k, v)| {
                    let mut key = Vec::new();
                    self::value(k, &mut key);
                    (key, v)
                })
                .collect();
            encoded.sort_by(|(a, _), (b, _)| (a.len(), a).cmp(&(b.len(), b)));
            for (key, v) in encoded {
                out.extend_from_slice(&key);
                self::value(v, out);
            }
        }
        Value::Bool(false) => out.push(0xf4),
        Value::Bool(true) => out.push(0xf5),
        Value::Null => out.push(0xf6),
    }
}

/// Integers outside CBOR's range (-2^64 ..= 2^64 - 1) cannot come from the decoder; a
/// caller-built value out of range is clamped to the nearest encodable integer.
fn integer(n: i128, out: &mut Vec<u8>) {
    if n >= 0 {
        head(0, u64::try_from(n).unwrap_or(u64::MAX), out);
    } else {
        head(1, u64::try_from(-1 - n).unwrap_or(u64::MAX), out);
    }
}

/// Writes an initial byte and argument in shortest form (RFC 8949 §4.2.1).
// Each match arm bounds the argument, so the narrowing casts are exact.
#[allow(clippy::cast_possible_truncation)]
pub(crate) fn head(major: u8, argument: u64, out: &mut Vec<u8>) {
    let major = major << 5;
    match argument {
        0..=23 => out.push(major | argument as u8),
        24..=0xff => out.extend_from_slice(&[major | 24, argument as u8]),
        0x100..=0xffff => {
            out.push(major | 25);
            out.extend_from_slice(&(argument as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(major | 26);
            out.extend_from_slice(&(argument as u32).to_be_bytes());
        }
        _ => {
            out.push(major | 27);
            out.extend_from_slice(&argument.to_be_bytes());
        }
    }
}
