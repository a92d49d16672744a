//! `packed` (WebAuthn §8.2): self attestation, or an attestation key with an `x5c` chain.

use der::Tag;
use der::asn1::ObjectIdentifier;
use latchkey_cose::Algorithm;
use latchkey_cose::cbor::Value;

use super::{AttestationType, Input, Verified, bytes_member, statement};
use crate::certificate::{Cert, parse_chain};
use crate::error::{Error, Result};

const COUNTRY: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.6");
const ORGANIZATION: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.10");
const ORGANIZATIONAL_UNIT: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.11");
const COMMON_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");

/// ```cddl
/// packedStmtFormat = {
///                        alg: COSEAlgorithmIdentifier,
///                        sig: bytes,
///                        x5c: [ attestnCert: bytes, * (caCert: bytes) ]
///                    } //
///                    {
///                        alg: COSEAlgorithmIdentifier
///                        sig: bytes,
///                    }
/// ```
/// id-fido-gen-ce-sernum (FIDO enterprise attestation: the device's serial number).
const ENTERPRISE_SERIAL: der::oid::ObjectIdentifier =
    der::oid::ObjectIdentifier::new_unwrap("1.3.6.1.4.1.45724.1.1.2");

pub(super) fn verify(input: &Input<'_, '_>) -> Result<Verified> {
    let map = statement(input.object, &["alg", "sig", "x5c"])?;
    let alg = map
        .text_key("alg")
        .and_then(Value::as_i64)
        .ok_or(Error::AttestationInvalid("alg"))?;
    let algorithm = Algorithm::from_cose(alg).ok_or(Error::UnsupportedAlgorithm(alg))?;
    let sig = bytes_member(map, "sig")?;
    let signed = [
        input.object.auth_data().as_bytes(),
        input.client_data_hash.as_slice(),
    ];

    let Some(x5c) = map.text_key("x5c") else {
        // Self attestation: the credential key signs, with its own algorithm.
        if algorithm != input.credential_key.algorithm() {
            return Err(Error::AttestationInvalid(
                "self attestation alg differs from the key's",
            ));
        }
        input
            .credential_key
            .verify(&signed, sig, &input.options.signature)
            .map_err(as_invalid)?;
        return Ok(Verified {
            attestation_type: AttestationType::SelfAttestation,
            chain: Vec::new(),
        });
    };

    let x5c = x5c
        .as_array()
        .ok_or(Error::AttestationInvalid("x5c is not an array"))?;
    let chain = parse_chain(x5c)?;
    let leaf = chain
        .first()
        .ok_or(Error::AttestationInvalid("x5c is empty"))?;
    leaf.verifying_key(algorithm)?
        .verify(&signed, sig, &input.options.signature)
        .map_err(as_invalid)?;
    check_leaf(leaf)?;
    if let Some(aaguid) = leaf.aaguid()?
        && aaguid != input.object.credential().aaguid()
    {
        return Err(Error::AttestationInvalid(
            "certificate AAGUID differs from authData",
        ));
    }
    // The enterprise extension carries a unique device serial: only with the relying
    // party's consent (`enterprise` conveyance, a permitted RP ID).
    if !input.options.allow_enterprise_attestation && leaf.extension(ENTERPRISE_SERIAL)?.is_some() {
        return Err(Error::AttestationUntrusted(
            "enterprise attestation (device serial) not requested",
        ));
    }
    Ok(Verified {
        attestation_type: AttestationType::Basic,
        chain,
    })
}

/// A bad attestation signature is an invalid attestation, not a bad assertion.
pub(super) fn as_invalid(error: Error) -> Error {
    match error {
        Error::SignatureInvalid => Error::AttestationInvalid("signature does not verify"),
        other => other,
    }
}

/// The attestation certificate requirements of §8.2.1.
fn check_leaf(leaf: &Cert) -> Result<()> {
    if !leaf.version_is_3() {
        return Err(Error::AttestationInvalid(
            "attestation certificate is not X.509 v3",
        ));
    }
    let one = |oid, what| match leaf.subject_attributes(oid).as_slice() {
        [(tag, value)] if !value.is_empty() => Ok((*tag, *value)),
        _ => Err(Error::AttestationInvalid(what)),
    };
    let (_, country) = one(COUNTRY, "subject C missing")?;
    if country.len() != 2 || !country.iter().all(u8::is_ascii_uppercase) {
        return Err(Error::AttestationInvalid(
            "subject C is not an ISO 3166 code",
        ));
    }
    one(ORGANIZATION, "subject O missing")?;
    let (ou_tag, ou) = one(ORGANIZATIONAL_UNIT, "subject OU missing")?;
    if ou != b"Authenticator Attestation"
        || !matches!(ou_tag, Tag::Utf8String | Tag::PrintableString)
    {
        return Err(Error::AttestationInvalid(
            "subject OU is not \"Authenticator Attestation\"",
        ));
    }
    one(COMMON_NAME, "subject CN missing")?;
    if leaf.is_ca()? {
        return Err(Error::AttestationInvalid("attestation certificate is a CA"));
    }
    Ok(())
}
