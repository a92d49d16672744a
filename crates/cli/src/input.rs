//! Reading input: a file or standard input, as JSON, hex or base64url.

use std::io::Read as _;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::Failure;

/// Largest input read, in bytes: far above any WebAuthn response, far below memory.
const MAX_INPUT: u64 = 16 * 1024 * 1024;

/// What the input text turned out to be.
pub(crate) enum Input {
    /// A JSON document.
    Json(serde_json::Value),
    /// Bytes given as hex or base64url.
    Bytes(Vec<u8>),
}

/// Reads `path` (or standard input for `-` / `None`) and recognises its form.
pub(crate) fn read(path: Option<&str>) -> Result<Input, Failure> {
    let mut raw = Vec::new();
    let source = path.filter(|p| *p != "-");
    let read = match source {
        Some(path) => std::fs::File::open(path)
            .and_then(|file| file.take(MAX_INPUT + 1).read_to_end(&mut raw)),
        None => std::io::stdin()
            .lock()
            .take(MAX_INPUT + 1)
            .read_to_end(&mut raw),
    };
    let name = source.unwrap_or("standard input");
    read.map_err(|e| Failure::io(format!("cannot read {name}: {e}")))?;
    if raw.len() as u64 > MAX_INPUT {
        return Err(Failure::input(format!(
            "{name} is larger than {MAX_INPUT} bytes"
        )));
    }
    let text = String::from_utf8(raw).map_err(|e| {
        Failure::input(format!(
            "{name} is not UTF-8 text (byte {})",
            e.utf8_error().valid_up_to()
        ))
    })?;
    recognise(text.trim()).map_err(|message| Failure::input(format!("{name}: {message}")))
}

/// JSON when it looks like JSON; otherwise hex when every character is a hex digit;
/// otherwise base64url.
fn recognise(text: &str) -> Result<Input, String> {
    if text.is_empty() {
        return Err("empty input".into());
    }
    if text.starts_with('{') || text.starts_with('[') {
        return serde_json::from_str(text).map(Input::Json).map_err(|e| {
            format!(
                "invalid JSON at line {} column {}: {e}",
                e.line(),
                e.column()
            )
        });
    }
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if compact.len().is_multiple_of(2) && compact.chars().all(|c| c.is_ascii_hexdigit()) {
        return Ok(Input::Bytes(hex(&compact)));
    }
    base64url(&compact, "input").map(Input::Bytes)
}

fn hex(digits: &str) -> Vec<u8> {
    digits
        .as_bytes()
        .chunks_exact(2)
        .filter_map(|pair| std::str::from_utf8(pair).ok())
        .filter_map(|pair| u8::from_str_radix(pair, 16).ok())
        .collect()
}

/// Strict base64url without padding, as WebAuthn's JSON uses: no `+/=`, no non-zero
/// padding bits.
pub(crate) fn base64url(text: &str, what: &str) -> Result<Vec<u8>, String> {
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|e| format!("{what} is not canonical base64url: {e}"))
}

/// Encodes bytes as base64url without padding.
pub(crate) fn to_base64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_each_form() {
        assert!(matches!(recognise("{\"a\":1}"), Ok(Input::Json(_))));
        assert!(matches!(recognise("a1 01 02"), Ok(Input::Bytes(b)) if b == [0xa1, 1, 2]));
        assert!(matches!(recognise("oQEC"), Ok(Input::Bytes(b)) if b == [0xa1, 1, 2]));
        assert!(recognise("").is_err());
        assert!(recognise("{").is_err());
        // Standard base64 characters and non-zero padding bits are refused.
        assert!(recognise("oQ+C").is_err());
        assert!(recognise("AR").is_err()); // "AQ" is the canonical form of 0x01
    }
}
