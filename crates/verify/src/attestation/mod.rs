//! Attestation statement formats (WebAuthn §8).

mod android_key;
mod android_safetynet;
mod apple;
mod fido_u2f;
mod packed;
mod tpm;
mod tpm_vendors;

use std::time::SystemTime;

use latchkey_cose::AttestationObject;
use latchkey_cose::cbor::{Map, Value};

use crate::certificate::Cert;
use crate::error::{Error, Result};
use crate::signature::VerifyingKey;
use crate::trust::{PathRules, Trust, TrustAnchors};
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

/// What a verified statement proved: its type, its trust, and the key identifiers of its
/// attestation certificates (the first of each chain; several for `compound`).
pub(crate) struct Attested {
    pub(crate) attestation_type: AttestationType,
    pub(crate) trust: Trust,
    pub(crate) key_identifiers: Vec<[u8; 20]>,
}

/// Runs the verification procedure of the statement's format, then evaluates trust.
pub(crate) fn verify(
    input: &Input<'_, '_>,
    anchors: &TrustAnchors,
    now: SystemTime,
) -> Result<Attested> {
    let fmt = input.object.fmt();
    let verified = match fmt {
        "compound" => return compound(input, anchors, now),
        "none" => none(input.object)?,
        "packed" => packed::verify(input)?,
        "fido-u2f" => fido_u2f::verify(input)?,
        "apple" => apple::verify(input)?,
        "tpm" => tpm::verify(input)?,
        "android-key" => android_key::verify(input)?,
        "android-safetynet" => android_safetynet::verify(input, now)?,
        _ => return Err(Error::UnsupportedFormat),
    };
    let trust = if verified.chain.is_empty() {
        Trust::NotApplicable
    } else {
        let aaguid = input.object.credential().aaguid();
        let rules = PathRules {
            allow_sha1: input.options.signature.allow_rs1,
            refuse_anchor_in_chain: input.options.refuse_anchor_in_x5c,
        };
        anchors.evaluate(fmt, aaguid, &verified.chain, now, rules)
    };
    let key_identifiers = verified
        .chain
        .first()
        .and_then(|leaf| crate::key_identifier::of_certificate(leaf.der()))
        .into_iter()
        .collect();
    Ok(Attested {
        attestation_type: verified.attestation_type,
        trust,
        key_identifiers,
    })
}

/// `compound` (§8.9): at least two non-compound statements over the same authenticator
/// data, each verified by its own format. All must verify (a relying party wanting "any"
/// can register with the one it trusts). The result is the strongest type among them and
/// trusted when any chain is.
///
/// ```cddl
/// compoundStmtFormat = [2* nonCompoundAttStmt]
/// nonCompoundAttStmt = { fmt: text, attStmt: any }
/// ```
fn compound(input: &Input<'_, '_>, anchors: &TrustAnchors, now: SystemTime) -> Result<Attested> {
    let statements = input
        .object
        .att_stmt()
        .as_array()
        .ok_or(Error::AttestationInvalid(
            "compound statement is not an array",
        ))?;
    if statements.len() < 2 {
        return Err(Error::AttestationInvalid(
            "compound needs at least two statements",
        ));
    }
    let mut outcomes = Vec::with_capacity(statements.len());
    for statement in statements {
        let map = statement
            .as_map()
            .ok_or(Error::AttestationInvalid("compound entry is not a map"))?;
        if map.len() != 2 {
            return Err(Error::AttestationInvalid(
                "compound entry is not {fmt, attStmt}",
            ));
        }
        let fmt = map
            .text_key("fmt")
            .and_then(Value::as_text)
            .ok_or(Error::AttestationInvalid("compound entry fmt"))?;
        let att_stmt = map
            .text_key("attStmt")
            .ok_or(Error::AttestationInvalid("compound entry attStmt"))?;
        if fmt == "compound" {
            return Err(Error::AttestationInvalid("compound inside compound"));
        }
        let bytes = AttestationObject::encode(fmt, att_stmt, input.object.auth_data().as_bytes());
        let object = AttestationObject::parse_with(&bytes, &input.options.cbor)?;
        let sub = Input {
            object: &object,
            ..*input
        };
        outcomes.push(verify(&sub, anchors, now)?);
    }
    let strength = |t: &AttestationType| match t {
        AttestationType::Basic => 3,
        AttestationType::AnonymizationCa => 2,
        AttestationType::SelfAttestation => 1,
        AttestationType::None => 0,
    };
    let attestation_type = outcomes
        .iter()
        .map(|o| o.attestation_type)
        .max_by_key(strength)
        .unwrap_or(AttestationType::None);
    let trust = if outcomes.iter().any(|o| o.trust == Trust::Trusted) {
        Trust::Trusted
    } else {
        outcomes
            .iter()
            .map(|o| o.trust)
            .find(|t| *t != Trust::NotApplicable)
            .unwrap_or(Trust::NotApplicable)
    };
    let key_identifiers = outcomes
        .into_iter()
        .flat_map(|o| o.key_identifiers)
        .collect();
    Ok(Attested {
        attestation_type,
        trust,
        key_identifiers,
    })
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
