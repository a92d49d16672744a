//! The browser's JSON (`PublicKeyCredential.toJSON()`, WebAuthn L3 §5.1.8) and the one
//! strict path from it to the bytes the ceremonies verify.
//!
//! Every caller - a service through the facade, `latchkey vectors`, `latchkey inspect`,
//! the benchmarks and the fuzz targets - reads responses here, so the envelope checks of
//! checklist C.1 hold everywhere: `type` is `public-key`, `id` and `rawId` are the same
//! canonical base64url, every binary member is canonical base64url without padding, and
//! each has a size cap of its own.
//!
//! ```
//! use latchkey_verify::json::{RegistrationResponse, b64};
//!
//! let json = format!(
//!     r#"{{"id":"AQID","rawId":"AQID","type":"public-key","response":{{
//!         "clientDataJSON":"{}","attestationObject":"{}","transports":["usb","usb"]}}}}"#,
//!     b64(b"{}"),
//!     b64(&[0xa0]),
//! );
//! let decoded = RegistrationResponse::from_json(&json)?.decode()?;
//! assert_eq!(decoded.credential_id(), [1, 2, 3]);
//! assert_eq!(decoded.transports(), ["usb"]);
//! assert_eq!(decoded.bytes().attestation_object, [0xa0]);
//!
//! let password = json.replace("public-key", "password");
//! assert!(RegistrationResponse::from_json(&password)?.decode().is_err());
//! # Ok::<(), latchkey_verify::Error>(())
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::assertion::AssertionBytes;
use crate::client_data::MAX_CLIENT_DATA_LEN;
use crate::error::{Error, ResponseError, Result};
use crate::registration::RegistrationBytes;

/// Longest response JSON read, in bytes: attestation chains fit many times over.
pub const MAX_RESPONSE_JSON_LEN: usize = 256 * 1024;

/// Longest credential id, in bytes (WebAuthn §5.8.3 and §6.5.1: 1023).
pub const MAX_CREDENTIAL_ID_LEN: usize = latchkey_cose::MAX_CREDENTIAL_ID_LEN;

/// Longest user handle, in bytes (WebAuthn §5.4.3).
pub const MAX_USER_HANDLE_LEN: usize = 64;

/// Longest signature, in bytes: an ML-DSA-87 signature (4627) with room to spare.
pub const MAX_SIGNATURE_LEN: usize = 8 * 1024;

/// Most transports read from a registration response: WebAuthn Level 3 defines six, and
/// the list is stored and echoed in every later options object.
pub const MAX_TRANSPORTS: usize = 8;

/// Longest transport name, in bytes (the longest defined, `smart-card`, has 10).
pub const MAX_TRANSPORT_LEN: usize = 32;

/// Encodes bytes as base64url without padding.
#[must_use]
pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes canonical base64url without padding: `+`, `/`, `=` and non-zero trailing bits
/// are refused (checklist C.1, C.4).
///
/// # Errors
///
/// [`ResponseError::Base64`] naming `member`.
pub fn unb64(text: &str, member: &'static str) -> Result<Vec<u8>> {
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| ResponseError::Base64 { member }.into())
}

/// `RegistrationResponseJSON`: what `create()` gives, as the browser serialises it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationResponse {
    /// base64url credential id.
    pub id: String,
    /// The same, as `rawId`.
    pub raw_id: String,
    /// Always `public-key`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The attestation response.
    pub response: AttestationResponse,
    /// `platform` or `cross-platform`.
    #[serde(default)]
    pub authenticator_attachment: Option<String>,
    /// Unsigned client extension outputs: never a security input.
    #[serde(default)]
    pub client_extension_results: serde_json::Value,
}

/// `AuthenticatorAttestationResponseJSON`. Its convenience members (`authenticatorData`,
/// `publicKey`, `publicKeyAlgorithm`) are ignored: the attestation object is the source.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttestationResponse {
    /// base64url clientDataJSON.
    #[serde(rename = "clientDataJSON")]
    pub client_data_json: String,
    /// base64url attestationObject.
    pub attestation_object: String,
    /// Transports the authenticator supports. Unsigned and only informational: `null`
    /// (which the FIDO conformance tool sends) reads as none.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub transports: Vec<String>,
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> core::result::Result<Vec<String>, D::Error> {
    Option::<Vec<String>>::deserialize(deserializer).map(Option::unwrap_or_default)
}

/// `AuthenticationResponseJSON`: what `get()` gives, as the browser serialises it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticationResponse {
    /// base64url credential id.
    pub id: String,
    /// The same, as `rawId`.
    pub raw_id: String,
    /// Always `public-key`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The assertion.
    pub response: AssertionResponse,
    /// `platform` or `cross-platform`.
    #[serde(default)]
    pub authenticator_attachment: Option<String>,
    /// Unsigned client extension outputs: never a security input.
    #[serde(default)]
    pub client_extension_results: serde_json::Value,
}

/// `AuthenticatorAssertionResponseJSON`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssertionResponse {
    /// base64url clientDataJSON.
    #[serde(rename = "clientDataJSON")]
    pub client_data_json: String,
    /// base64url authenticatorData.
    pub authenticator_data: String,
    /// base64url signature.
    pub signature: String,
    /// base64url user handle, when the authenticator returned one; `""` decodes as none.
    #[serde(default)]
    pub user_handle: Option<String>,
}

/// A registration response past the envelope checks: its bytes, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodedRegistration {
    credential_id: Vec<u8>,
    client_data_json: Vec<u8>,
    attestation_object: Vec<u8>,
    transports: Vec<String>,
}

/// An authentication response past the envelope checks: its bytes, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodedAssertion {
    credential_id: Vec<u8>,
    client_data_json: Vec<u8>,
    authenticator_data: Vec<u8>,
    signature: Vec<u8>,
    user_handle: Option<Vec<u8>>,
}

impl RegistrationResponse {
    /// Parses the JSON a browser posts.
    ///
    /// # Errors
    ///
    /// [`ResponseError::TooLarge`] past [`MAX_RESPONSE_JSON_LEN`]; [`ResponseError::Json`]
    /// with serde's position, never the content.
    pub fn from_json(json: &str) -> Result<Self> {
        parse(json)
    }

    /// clientDataJSON alone, checked as [`decode`](Self::decode) checks it: a service reads
    /// the challenge from it to consume that challenge before anything else is judged.
    ///
    /// # Errors
    ///
    /// [`Error::Response`] when it is not canonical base64url, empty or too long.
    pub fn client_data_json(&self) -> Result<Vec<u8>> {
        client_data(&self.response.client_data_json)
    }

    /// The envelope checks (C.1-C.3) and the bytes: `type`, `id` = `rawId`, canonical
    /// base64url everywhere, the size caps, transports as short lowercase tokens (unknown
    /// future values kept, repeats dropped).
    ///
    /// # Errors
    ///
    /// [`Error::Response`] for the first member that fails.
    pub fn decode(&self) -> Result<DecodedRegistration> {
        let credential_id = credential_id(&self.id, &self.raw_id, &self.kind)?;
        let client_data_json = client_data(&self.response.client_data_json)?;
        let attestation_object = unb64(&self.response.attestation_object, "attestationObject")?;
        non_empty(&attestation_object, "attestationObject")?;
        Ok(DecodedRegistration {
            credential_id,
            client_data_json,
            attestation_object,
            transports: transports(&self.response.transports)?,
        })
    }
}

impl AuthenticationResponse {
    /// Parses the JSON a browser posts.
    ///
    /// # Errors
    ///
    /// As [`RegistrationResponse::from_json`].
    pub fn from_json(json: &str) -> Result<Self> {
        parse(json)
    }

    /// clientDataJSON alone, as [`RegistrationResponse::client_data_json`].
    ///
    /// # Errors
    ///
    /// [`Error::Response`] when it is not canonical base64url, empty or too long.
    pub fn client_data_json(&self) -> Result<Vec<u8>> {
        client_data(&self.response.client_data_json)
    }

    /// The envelope checks (C.1-C.3, C.7) and the bytes: `type`, `id` = `rawId`, canonical
    /// base64url everywhere, the size caps (a user handle of at most 64 bytes).
    ///
    /// # Errors
    ///
    /// [`Error::Response`] for the first member that fails.
    pub fn decode(&self) -> Result<DecodedAssertion> {
        let credential_id = credential_id(&self.id, &self.raw_id, &self.kind)?;
        let client_data_json = client_data(&self.response.client_data_json)?;
        let authenticator_data = unb64(&self.response.authenticator_data, "authenticatorData")?;
        non_empty(&authenticator_data, "authenticatorData")?;
        let signature = unb64(&self.response.signature, "signature")?;
        non_empty(&signature, "signature")?;
        at_most(&signature, "signature", MAX_SIGNATURE_LEN)?;
        let user_handle = match &self.response.user_handle {
            // user.id is 1 to 64 bytes (§5.4.3): an empty handle names no user, and some
            // clients send an empty ArrayBuffer where the authenticator returned null.
            Some(text) if text.is_empty() => None,
            Some(text) => {
                let handle = unb64(text, "userHandle")?;
                if handle.len() > MAX_USER_HANDLE_LEN {
                    return Err(ResponseError::UserHandleTooLong.into());
                }
                Some(handle)
            }
            None => None,
        };
        Ok(DecodedAssertion {
            credential_id,
            client_data_json,
            authenticator_data,
            signature,
            user_handle,
        })
    }
}

impl DecodedRegistration {
    /// The credential id (`rawId`).
    #[must_use]
    pub fn credential_id(&self) -> &[u8] {
        &self.credential_id
    }

    /// The reported transports, checked and without repeats.
    #[must_use]
    pub fn transports(&self) -> &[String] {
        &self.transports
    }

    /// The bytes [`Verifier::verify_registration`](crate::Verifier::verify_registration)
    /// takes.
    #[must_use]
    pub fn bytes(&self) -> RegistrationBytes<'_> {
        RegistrationBytes {
            client_data_json: &self.client_data_json,
            attestation_object: &self.attestation_object,
            raw_id: &self.credential_id,
        }
    }
}

impl DecodedAssertion {
    /// The credential id (`rawId`).
    #[must_use]
    pub fn credential_id(&self) -> &[u8] {
        &self.credential_id
    }

    /// The user handle, when the authenticator returned one (at most 64 bytes).
    #[must_use]
    pub fn user_handle(&self) -> Option<&[u8]> {
        self.user_handle.as_deref()
    }

    /// clientDataJSON.
    #[must_use]
    pub fn client_data_json(&self) -> &[u8] {
        &self.client_data_json
    }

    /// The bytes [`Verifier::verify_assertion`](crate::Verifier::verify_assertion) takes.
    #[must_use]
    pub fn bytes(&self) -> AssertionBytes<'_> {
        AssertionBytes {
            client_data_json: &self.client_data_json,
            authenticator_data: &self.authenticator_data,
            signature: &self.signature,
        }
    }
}

fn parse<T: for<'de> Deserialize<'de>>(json: &str) -> Result<T> {
    if json.len() > MAX_RESPONSE_JSON_LEN {
        return Err(ResponseError::TooLarge {
            member: "response JSON",
            max: MAX_RESPONSE_JSON_LEN,
        }
        .into());
    }
    serde_json::from_str(json).map_err(|e| ResponseError::Json(e.to_string()).into())
}

/// `type` is `public-key`; `id` and `rawId` are the same canonical base64url of 1 to
/// 1023 bytes (C.1-C.3).
fn credential_id(id: &str, raw_id: &str, kind: &str) -> Result<Vec<u8>> {
    if kind != "public-key" {
        return Err(ResponseError::NotPublicKey.into());
    }
    if id != raw_id {
        return Err(ResponseError::IdMismatch.into());
    }
    let bytes = unb64(raw_id, "rawId")?;
    non_empty(&bytes, "rawId")?;
    at_most(&bytes, "rawId", MAX_CREDENTIAL_ID_LEN)?;
    Ok(bytes)
}

fn client_data(text: &str) -> Result<Vec<u8>> {
    let bytes = unb64(text, "clientDataJSON")?;
    non_empty(&bytes, "clientDataJSON")?;
    at_most(&bytes, "clientDataJSON", MAX_CLIENT_DATA_LEN)?;
    Ok(bytes)
}

fn non_empty(bytes: &[u8], member: &'static str) -> Result<()> {
    if bytes.is_empty() {
        return Err(ResponseError::Empty { member }.into());
    }
    Ok(())
}

fn at_most(bytes: &[u8], member: &'static str, max: usize) -> Result<()> {
    if bytes.len() > max {
        return Err(ResponseError::TooLarge { member, max }.into());
    }
    Ok(())
}

/// The reported transports as they will be stored: each a lowercase token
/// (`[a-z0-9-]{1,32}`), without repeats, in the order sent.
fn transports(reported: &[String]) -> Result<Vec<String>> {
    if reported.len() > MAX_TRANSPORTS {
        return Err(Error::Response(ResponseError::TooMany {
            member: "transports",
            max: MAX_TRANSPORTS,
        }));
    }
    let mut kept: Vec<String> = Vec::with_capacity(reported.len());
    for name in reported {
        let token = !name.is_empty()
            && name.len() <= MAX_TRANSPORT_LEN
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !token {
            return Err(ResponseError::Transport.into());
        }
        if !kept.contains(name) {
            kept.push(name.clone());
        }
    }
    Ok(kept)
}
