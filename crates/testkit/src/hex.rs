//! Hex for fixtures: whitespace is ignored so that fixtures can be laid out field by field.
//!
//! ```
//! let bytes = latchkey_testkit::hex::decode(concat!(
//!     "a1",    // map(1)
//!     "01 02", // 1: 2
//! ));
//! assert_eq!(bytes, [0xa1, 0x01, 0x02]);
//! ```

/// Decodes hex digits, ignoring ASCII whitespace.
///
/// # Panics
///
/// On a character that is not a hex digit or whitespace, or an odd number of digits:
/// fixtures are written by hand, and a typo must fail the test that uses it.
#[must_use]
#[allow(clippy::panic)] // documented: fixture typos must fail loudly
pub fn decode(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .map(
            |c| match c.to_digit(16).and_then(|d| u8::try_from(d).ok()) {
                Some(d) => d,
                None => panic!("not a hex digit in fixture: {c:?}"),
            },
        )
        .collect();
    assert!(
        digits.len().is_multiple_of(2),
        "odd number of hex digits in fixture"
    );
    digits
        .chunks_exact(2)
        .map(|pair| pair.iter().fold(0, |acc, d| (acc << 4) | d))
        .collect()
}

/// Encodes bytes as lowercase hex.
#[must_use]
pub fn encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trips() {
        let bytes = super::decode("00 ff\n\t7F");
        assert_eq!(bytes, [0x00, 0xff, 0x7f]);
        assert_eq!(super::encode(&bytes), "00ff7f");
    }

    #[test]
    #[should_panic(expected = "odd number")]
    fn odd_length_fails() {
        let _ = super::decode("abc");
    }

    #[test]
    #[should_panic(expected = "not a hex digit")]
    fn typo_fails() {
        let _ = super::decode("zz");
    }
}
