//! Collected client data (WebAuthn §5.8.1): what the browser says about the ceremony.

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use crate::error::{ClientDataError, Error, Result};
use crate::origin::Origins;

/// Longest clientDataJSON accepted, in bytes. Browsers send a few hundred.
pub const MAX_CLIENT_DATA_LEN: usize = 8 * 1024;

/// The ceremony a client data object claims to belong to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CeremonyType {
    /// `webauthn.create`: a registration.
    Create,
    /// `webauthn.get`: an assertion.
    Get,
}

impl CeremonyType {
    /// The `type` string.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "webauthn.create",
            Self::Get => "webauthn.get",
        }
    }
}

/// Parsed clientDataJSON, borrowing from the bytes where no JSON escape forces a copy.
///
/// ```webidl
/// dictionary CollectedClientData {
///     required DOMString           type;
///     required DOMString           challenge;
///     required DOMString           origin;
///     DOMString                    topOrigin;
///     boolean                      crossOrigin;
/// };
/// ```
///
/// Members are read by name from the top-level object (never by substring search, §5.8.1.2);
/// a member given twice is an error (the browser never does it, an attacker might); unknown
/// members are ignored as the spec requires; a leading UTF-8 BOM is skipped (§7.1 step 5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientData<'a> {
    ty: Cow<'a, str>,
    challenge: Cow<'a, str>,
    origin: Cow<'a, str>,
    cross_origin: bool,
    top_origin: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Wire<'a> {
    #[serde(rename = "type", borrow)]
    ty: Cow<'a, str>,
    #[serde(borrow)]
    challenge: Cow<'a, str>,
    #[serde(borrow)]
    origin: Cow<'a, str>,
    // `null` is not "absent": the member is present with the wrong type (C.66).
    #[serde(rename = "crossOrigin", default, deserialize_with = "present")]
    cross_origin: Option<bool>,
    #[serde(
        rename = "topOrigin",
        borrow,
        default,
        deserialize_with = "present_str"
    )]
    top_origin: Option<Cow<'a, str>>,
    // `tokenBinding` is reserved in Level 3 (§5.8.1) and ignored like any unknown member:
    // clients have sent it as an object and as a bare string.
}

impl<'a> ClientData<'a> {
    /// Parses clientDataJSON.
    ///
    /// # Errors
    ///
    /// [`ClientDataError`] when the bytes are too long, not UTF-8 JSON, not an object, lack
    /// `type`, `challenge` or `origin`, give a member the wrong type or give one twice.
    pub fn parse(bytes: &'a [u8]) -> Result<Self> {
        if bytes.len() > MAX_CLIENT_DATA_LEN {
            let error = ClientDataError::TooLarge {
                len: bytes.len(),
                max: MAX_CLIENT_DATA_LEN,
            };
            return Err(error.into());
        }
        let json = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
        // serde_json does not check the UTF-8 of members it skips (C.71).
        if core::str::from_utf8(json).is_err() {
            return Err(ClientDataError::Json("clientDataJSON is not UTF-8".into()).into());
        }
        // serde_json refuses a lone surrogate escape where it decodes a string, not in
        // the members it skips (C.71: refused wherever it is).
        if has_lone_surrogate(json) {
            return Err(
                ClientDataError::Json("lone surrogate escape in clientDataJSON".into()).into(),
            );
        }
        // serde's derive also reads a struct from a JSON array, by position: the
        // dictionary is an object and nothing else (C.72).
        if json.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(ClientDataError::Json("clientDataJSON is not a JSON object".into()).into());
        }
        let wire: Wire<'a> = serde_json::from_slice(json)
            .map_err(|e| Error::ClientData(ClientDataError::Json(e.to_string())))?;
        Ok(Self {
            ty: wire.ty,
            challenge: wire.challenge,
            origin: wire.origin,
            cross_origin: wire.cross_origin.unwrap_or(false),
            top_origin: wire.top_origin,
        })
    }

    /// `type`.
    #[must_use]
    pub fn ceremony_type(&self) -> &str {
        &self.ty
    }

    /// `challenge`, base64url as sent.
    #[must_use]
    pub fn challenge(&self) -> &str {
        &self.challenge
    }

    /// `origin`.
    #[must_use]
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// `crossOrigin` (absent means false).
    #[must_use]
    pub fn cross_origin(&self) -> bool {
        self.cross_origin
    }

    /// `topOrigin`.
    #[must_use]
    pub fn top_origin(&self) -> Option<&str> {
        self.top_origin.as_deref()
    }

    /// Checks type, challenge and origins (§7.1 steps 7-11, §7.2 steps 10-14).
    ///
    /// # Errors
    ///
    /// The first mismatch found, in the spec's order.
    pub fn check(&self, ty: CeremonyType, challenge: &[u8], origins: &Origins) -> Result<()> {
        if self.ty != ty.as_str() {
            return Err(Error::TypeMismatch {
                expected: ty.as_str(),
            });
        }
        if !challenge_matches(&self.challenge, challenge) {
            return Err(Error::ChallengeMismatch);
        }
        origins.check(&self.origin, self.cross_origin, self.top_origin.as_deref())
    }
}

/// A member that, when present, holds a value of its type: `null` is refused rather than
/// read as absent (absence is `#[serde(default)]`).
fn present<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> core::result::Result<Option<bool>, D::Error> {
    bool::deserialize(deserializer).map(Some)
}

/// [`present`] for a string member, borrowed where no escape forces a copy.
fn present_str<'de: 'a, 'a, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> core::result::Result<Option<Cow<'a, str>>, D::Error> {
    #[derive(Deserialize)]
    struct Text<'t>(#[serde(borrow)] Cow<'t, str>);
    Text::deserialize(deserializer).map(|text| Some(text.0))
}

/// Whether a string of `json` holds a `\uD800`-`\uDFFF` escape without its other half
/// right beside it. Malformed escapes are left to serde_json, which refuses them anyway.
fn has_lone_surrogate(json: &[u8]) -> bool {
    let mut bytes = json.iter().copied();
    let mut in_string = false;
    // A high surrogate escape was just read: only its low half may come next.
    let mut high_pending = false;
    while let Some(byte) = bytes.next() {
        if !in_string {
            in_string = byte == b'"';
            continue;
        }
        let unit = match byte {
            b'\\' => match bytes.next() {
                Some(b'u') => hex_unit(&mut bytes),
                _ => None,
            },
            b'"' => {
                in_string = false;
                None
            }
            _ => None,
        };
        match unit {
            Some(0xD800..=0xDBFF) if !high_pending => high_pending = true,
            Some(0xDC00..=0xDFFF) if high_pending => high_pending = false,
            Some(0xD800..=0xDFFF) => return true,
            _ if high_pending => return true,
            _ => {}
        }
    }
    high_pending
}

/// The four hex digits of a `\u` escape.
fn hex_unit(bytes: &mut impl Iterator<Item = u8>) -> Option<u16> {
    (0..4).try_fold(0u16, |unit, _| {
        let digit = char::from(bytes.next()?).to_digit(16)?;
        Some(unit << 4 | u16::try_from(digit).ok()?)
    })
}

/// Compares against the canonical base64url of the expected challenge, so a non-canonical
/// encoding of the right bytes does not match. No allocation for challenges up to 96 bytes.
fn challenge_matches(received: &str, expected: &[u8]) -> bool {
    let mut buffer = [0u8; 128];
    match URL_SAFE_NO_PAD.encode_slice(expected, &mut buffer) {
        Ok(len) => buffer.get(..len) == Some(received.as_bytes()),
        Err(_) => URL_SAFE_NO_PAD.encode(expected) == received,
    }
}
