//! Hex fixtures for the unit tests: whitespace ignored, a typo fails the test.
//!
//! `latchkey_testkit::hex::decode` is the same function; this crate cannot dev-depend on
//! the test kit, which depends on it (a loop `cargo publish` refuses).

/// Decodes hex digits, ignoring ASCII whitespace; panics on anything else.
pub(crate) fn decode(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .map(|c| {
            c.to_digit(16)
                .and_then(|d| u8::try_from(d).ok())
                .unwrap_or_else(|| panic!("not a hex digit in fixture: {c:?}"))
        })
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
