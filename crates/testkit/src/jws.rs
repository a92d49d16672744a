//! JWS compact serialization (RFC 7515 §7.1) for tests: android-safetynet attestations
//! and FIDO metadata BLOBs, signed with a [`SoftKey`].

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use latchkey_cose::Algorithm;

use crate::authenticator::SoftKey;

/// `header.payload.signature`, the header being `{"alg": ..., "x5c": [...]}` plus
/// `extra` members: RS256 for RSA keys, ES256 (`r || s`, RFC 7518 §3.4) for P-256 keys.
///
/// # Panics
///
/// For other keys, or when `extra` is not a JSON object.
#[must_use]
#[allow(clippy::panic, clippy::expect_used)] // documented: a test set-up error must fail loudly
pub fn sign(
    key: &SoftKey,
    x5c: &[&[u8]],
    extra: &serde_json::Value,
    payload: &serde_json::Value,
) -> String {
    let alg = match key.algorithm() {
        Algorithm::Rs256 => "RS256",
        Algorithm::Es256 => "ES256",
        other => panic!("no JWS algorithm for {other:?} keys here"),
    };
    let mut header = serde_json::json!({
        "alg": alg,
        "x5c": x5c.iter().map(|c| STANDARD.encode(c)).collect::<Vec<_>>(),
    });
    if let (Some(header), Some(extra)) = (header.as_object_mut(), extra.as_object()) {
        header.extend(extra.clone());
    } else {
        panic!("extra header members must be an object");
    }
    let signed = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(payload.to_string())
    );
    let mut signature = key.sign(signed.as_bytes());
    if alg == "ES256" {
        signature = p256::ecdsa::Signature::from_der(&signature)
            .expect("the test kit signs DER")
            .to_bytes()
            .to_vec();
    }
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
}
