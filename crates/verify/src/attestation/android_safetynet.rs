//! `android-safetynet` (WebAuthn §8.5, deprecated): a SafetyNet attestation JWS.

use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use latchkey_cose::Algorithm;
use latchkey_cose::cbor::Value;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use super::{AttestationType, Input, Verified, bytes_member, statement};
use crate::error::{Error, Result};
use crate::jws::{Jws, JwsError};

/// The host the JWS signing certificate must be issued to.
const ATTEST_HOST: &str = "attest.android.com";
/// How far in the future a timestamp may be: clocks that tick in whole seconds (the
/// service's, or a test's frozen one) must not refuse a JWS stamped within that second.
const FUTURE_SKEW_MS: u128 = 1000;

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
    let text = std::str::from_utf8(response)
        .map_err(|_| Error::AttestationInvalid("safetynet response is not a JWS"))?;
    let jws = Jws::parse(text).map_err(|e| match e {
        JwsError::Malformed(why) => Error::AttestationInvalid(why),
        JwsError::TooManyCertificates => Error::Limit("JWS x5c holds more than 5 certificates"),
        JwsError::Certificate(error) => error,
    })?;
    let payload: Payload = serde_json::from_slice(&jws.payload)
        .map_err(|_| Error::AttestationInvalid("safetynet JWS payload"))?;
    if jws.alg != "RS256" {
        return Err(Error::AttestationInvalid("safetynet JWS alg is not RS256"));
    }
    let leaf = jws
        .chain
        .first()
        .ok_or(Error::AttestationInvalid("JWS x5c is empty"))?;
    if !leaf.names_host(ATTEST_HOST)? {
        return Err(Error::AttestationUntrusted(
            "safetynet certificate not issued to attest.android.com",
        ));
    }
    if !jws.signed_by_leaf(Algorithm::Rs256) {
        return Err(Error::AttestationInvalid("safetynet JWS signature invalid"));
    }

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
        chain: jws.chain,
    })
}
