//! `android-safetynet` (WebAuthn §8.5, deprecated): a SafetyNet attestation JWS.

use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use latchkey_cose::Algorithm;
use latchkey_cose::cbor::Value;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use super::packed::as_invalid;
use super::{AttestationType, Input, Verified, bytes_member, statement};
use crate::certificate::Cert;
use crate::error::{Error, Result};

/// The host the JWS signing certificate must be issued to.
const ATTEST_HOST: &str = "attest.android.com";
/// How far in the future a timestamp may be: clocks that tick in whole seconds (the
/// service's, or a test's frozen one) must not refuse a JWS stamped within that second.
const FUTURE_SKEW_MS: u128 = 1000;

/// Most certificates accepted in the JWS header.
const MAX_HEADER_CERTIFICATES: usize = 5;

#[derive(Deserialize)]
struct Header {
    alg: String,
    x5c: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Payload {
    nonce: String,
    timestamp_ms: u64,
    cts_profile_match: bool,
}

/// ```cddl
/// safetynetStmtFormat = {
///                           ver: text,
///                           response: bytes
///                       }
/// ```
pub(super) fn verify(input: &Input<'_, '_>, now: SystemTime) -> Result<Verified> {
    let map = statement(input.object, &["ver", "response"])?;
    if map
        .text_key("ver")
        .and_then(Value::as_text)
        .is_none_or(str::is_empty)
    {
        return Err(Error::AttestationInvalid("safetynet ver is empty"));
    }
    let response = bytes_member(map, "response")?;
    let jws = std::str::from_utf8(response)
        .map_err(|_| Error::AttestationInvalid("safetynet response is not a JWS"))?;
    let mut parts = jws.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Error::AttestationInvalid(
            "safetynet response is not a compact JWS",
        ));
    };
    // Strict base64url: no padding, no standard-alphabet characters, no stray bytes.
    let decode = |part: &str| {
        URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| Error::AttestationInvalid("safetynet JWS is not base64url"))
    };
    let header: Header = serde_json::from_slice(&decode(header_b64)?)
        .map_err(|_| Error::AttestationInvalid("safetynet JWS header"))?;
    let payload: Payload = serde_json::from_slice(&decode(payload_b64)?)
        .map_err(|_| Error::AttestationInvalid("safetynet JWS payload"))?;
    let signature = decode(signature_b64)?;

    if header.alg != "RS256" {
        return Err(Error::AttestationInvalid("safetynet JWS alg is not RS256"));
    }
    if header.x5c.is_empty() {
        return Err(Error::AttestationInvalid("safetynet JWS x5c is empty"));
    }
    if header.x5c.len() > MAX_HEADER_CERTIFICATES {
        return Err(Error::Limit("safetynet x5c holds more than 5 certificates"));
    }
    let chain = header
        .x5c
        .iter()
        .map(|c| {
            STANDARD
                .decode(c)
                .map_err(|_| Error::AttestationInvalid("safetynet x5c is not base64"))
                .and_then(|der| Cert::parse(&der))
        })
        .collect::<Result<Vec<_>>>()?;
    let leaf = chain
        .first()
        .ok_or(Error::AttestationInvalid("safetynet JWS x5c is empty"))?;
    if !leaf.names_host(ATTEST_HOST)? {
        return Err(Error::AttestationUntrusted(
            "safetynet certificate not issued to attest.android.com",
        ));
    }
    let signed_input = jws
        .get(..header_b64.len() + 1 + payload_b64.len())
        .unwrap_or_default();
    leaf.verifying_key(Algorithm::Rs256)?
        .verify(
            &[signed_input.as_bytes()],
            &signature,
            &input.options.signature,
        )
        .map_err(as_invalid)?;

    // nonce = base64(SHA-256(authenticatorData || clientDataHash)), standard alphabet.
    let mut hasher = Sha256::new();
    hasher.update(input.object.auth_data().as_bytes());
    hasher.update(input.client_data_hash);
    if payload.nonce != STANDARD.encode(hasher.finalize()) {
        return Err(Error::AttestationInvalid("safetynet nonce does not match"));
    }
    if input.options.safetynet_require_cts && !payload.cts_profile_match {
        return Err(Error::AttestationInvalid(
            "safetynet ctsProfileMatch is false",
        ));
    }
    if let Some(max_age) = input.options.safetynet_max_age_seconds {
        let now_ms = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let at = u128::from(payload.timestamp_ms);
        if at > now_ms + FUTURE_SKEW_MS {
            return Err(Error::AttestationInvalid(
                "safetynet timestamp is in the future",
            ));
        }
        if now_ms.saturating_sub(at) > u128::from(max_age) * 1000 {
            return Err(Error::AttestationInvalid("safetynet timestamp is too old"));
        }
    }
    Ok(Verified {
        attestation_type: AttestationType::Basic,
        chain,
    })
}
