//! Attestation statement formats (WebAuthn §8).

mod android_key;
mod apple;
mod fido_u2f;
mod packed;
mod tpm;

use std::time::SystemTime;

use latchkey_cose::AttestationObject;
use latchkey_cose::cbor::{Map, Value};

use crate::certificate::Cert;
use crate::error::{Error, Result};
use crate::signature::VerifyingKey;
use crate::trust::{Trust, TrustAnchors};
use crate::verifier::VerifierOptions;

/// What an attestation proves about the authenticator (§6.5.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AttestationType {
    /// No attestation (`none`).
    None,
    /// Signed by the credential key itself.
    SelfAttestation,
    /// Signed by an attestation key whose certificate chain is given (Basic or AttCA;
    /// telling them apart needs metadata).
    Basic,
    /// Through an Anonymization CA (`apple`).
    AnonymizationCa,
}

/// Everything a format's procedure needs.
pub(crate) struct Input<'a, 'b> {
    pub(crate) object: &'b AttestationObject<'a>,
    pub(crate) client_data_hash: &'b [u8; 32],
    pub(crate) credential_key: &'b VerifyingKey,
    pub(crate) options: &'b VerifierOptions,
}

/// A verified statement: its type and, when it has one, the certificate chain to evaluate.
pub(crate) struct Verified {
    pub(crate) attestation_type: AttestationType,
    pub(crate) chain: Vec<Cert>,
}

/// Formats a later version will verify; named so they fail as unsupported, not unknown.
const NOT_YET_SUPPORTED: &[&str] = &["android-safetynet", "compound"];

/// Runs the verification procedure of the statement's format, then evaluates trust.
pub(crate) fn verify(
    input: &Input<'_, '_>,
    anchors: &TrustAnchors,
    now: SystemTime,
) -> Result<(AttestationType, Trust)> {
    let fmt = input.object.fmt();
    let verified = match fmt {
        "none" => none(input.object)?,
        "packed" => packed::verify(input)?,
        "fido-u2f" => fido_u2f::verify(input)?,
        "apple" => apple::verify(input)?,
        "tpm" => tpm::verify(input)?,
        "android-key" => android_key::verify(input)?,
        other if NOT_YET_SUPPORTED.contains(&other) => return Err(Error::UnsupportedFormat),
        _ => return Err(Error::UnsupportedFormat),
    };
    let trust = if verified.chain.is_empty() {
        Trust::NotApplicable
    } else {
        let aaguid = input.object.credential().aaguid();
        let allow_sha1 = input.options.signature.allow_rs1;
        anchors.evaluate(fmt, aaguid, &verified.chain, now, allow_sha1)
    };
    Ok((verified.attestation_type, trust))
}

/// `none` (§8.7): the statement must be the empty map.
fn none(object: &AttestationObject<'_>) -> Result<Verified> {
    match object.att_stmt() {
        Value::Map(map) if map.is_empty() => Ok(Verified {
            attestation_type: AttestationType::None,
            chain: Vec::new(),
        }),
        _ => Err(Error::AttestationInvalid(
            "none attestation with a non-empty statement",
        )),
    }
}

/// The statement map, with only the listed members allowed.
pub(crate) fn statement<'m, 'a>(
    object: &'m AttestationObject<'a>,
    allowed: &[&str],
) -> Result<&'m Map<'a>> {
    let map = object
        .att_stmt()
        .as_map()
        .ok_or(Error::AttestationInvalid("statement is not a map"))?;
    if map
        .iter()
        .any(|(k, _)| k.as_text().is_none_or(|k| !allowed.contains(&k)))
    {
        return Err(Error::AttestationInvalid("unexpected statement member"));
    }
    Ok(map)
}

/// A non-empty byte-string member.
pub(crate) fn bytes_member<'a>(map: &Map<'a>, name: &'static str) -> Result<&'a [u8]> {
    map.text_key(name)
        .and_then(Value::as_bytes)
        .filter(|b| !b.is_empty())
        .ok_or(Error::AttestationInvalid(name))
}
