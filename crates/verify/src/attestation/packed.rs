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
    // §8.2.1 names each attribute's string type; C and OU are fixed values, so a
    // different type is a different certificate profile, not a spelling.
    let (country_tag, country) = one(COUNTRY, "subject C missing")?;
    if country_tag != Tag::PrintableString || !is_iso_3166_code(country) {
        return Err(Error::AttestationInvalid(
            "subject C is not an ISO 3166 code as PrintableString",
        ));
    }
    one(ORGANIZATION, "subject O missing")?;
    let (ou_tag, ou) = one(ORGANIZATIONAL_UNIT, "subject OU missing")?;
    if ou_tag != Tag::Utf8String || ou != b"Authenticator Attestation" {
        return Err(Error::AttestationInvalid(
            "subject OU is not the UTF8String \"Authenticator Attestation\"",
        ));
    }
    one(COMMON_NAME, "subject CN missing")?;
    if leaf.is_ca()? {
        return Err(Error::AttestationInvalid("attestation certificate is a CA"));
    }
    Ok(())
}

/// Whether `code` is an ISO 3166-1 alpha-2 code element: officially assigned, or `AA`,
/// the one user-assigned code kept because the WebAuthn L3 §16 test vectors' packed
/// certificates say `C=AA`. Every other user-assigned code (QM-QZ, XA-XZ, ZZ: checklist
/// C.78 names `XX`), reserved codes (`UK`, `EU`) and unassigned ones (`AB`) are refused.
fn is_iso_3166_code(code: &[u8]) -> bool {
    let Ok(code) = <[u8; 2]>::try_from(code) else {
        return false;
    };
    code == *b"AA" || ISO_3166_ALPHA_2.binary_search(&code).is_ok()
}

/// The 249 officially assigned ISO 3166-1 alpha-2 codes, sorted (for the binary search).
#[rustfmt::skip]
const ISO_3166_ALPHA_2: [[u8; 2]; 249] = [
    *b"AD", *b"AE", *b"AF", *b"AG", *b"AI", *b"AL", *b"AM", *b"AO", *b"AQ", *b"AR",
    *b"AS", *b"AT", *b"AU", *b"AW", *b"AX", *b"AZ", *b"BA", *b"BB", *b"BD", *b"BE",
    *b"BF", *b"BG", *b"BH", *b"BI", *b"BJ", *b"BL", *b"BM", *b"BN", *b"BO", *b"BQ",
    *b"BR", *b"BS", *b"BT", *b"BV", *b"BW", *b"BY", *b"BZ", *b"CA", *b"CC", *b"CD",
    *b"CF", *b"CG", *b"CH", *b"CI", *b"CK", *b"CL", *b"CM", *b"CN", *b"CO", *b"CR",
    *b"CU", *b"CV", *b"CW", *b"CX", *b"CY", *b"CZ", *b"DE", *b"DJ", *b"DK", *b"DM",
    *b"DO", *b"DZ", *b"EC", *b"EE", *b"EG", *b"EH", *b"ER", *b"ES", *b"ET", *b"FI",
    *b"FJ", *b"FK", *b"FM", *b"FO", *b"FR", *b"GA", *b"GB", *b"GD", *b"GE", *b"GF",
    *b"GG", *b"GH", *b"GI", *b"GL", *b"GM", *b"GN", *b"GP", *b"GQ", *b"GR", *b"GS",
    *b"GT", *b"GU", *b"GW", *b"GY", *b"HK", *b"HM", *b"HN", *b"HR", *b"HT", *b"HU",
    *b"ID", *b"IE", *b"IL", *b"IM", *b"IN", *b"IO", *b"IQ", *b"IR", *b"IS", *b"IT",
    *b"JE", *b"JM", *b"JO", *b"JP", *b"KE", *b"KG", *b"KH", *b"KI", *b"KM", *b"KN",
    *b"KP", *b"KR", *b"KW", *b"KY", *b"KZ", *b"LA", *b"LB", *b"LC", *b"LI", *b"LK",
    *b"LR", *b"LS", *b"LT", *b"LU", *b"LV", *b"LY", *b"MA", *b"MC", *b"MD", *b"ME",
    *b"MF", *b"MG", *b"MH", *b"MK", *b"ML", *b"MM", *b"MN", *b"MO", *b"MP", *b"MQ",
    *b"MR", *b"MS", *b"MT", *b"MU", *b"MV", *b"MW", *b"MX", *b"MY", *b"MZ", *b"NA",
    *b"NC", *b"NE", *b"NF", *b"NG", *b"NI", *b"NL", *b"NO", *b"NP", *b"NR", *b"NU",
    *b"NZ", *b"OM", *b"PA", *b"PE", *b"PF", *b"PG", *b"PH", *b"PK", *b"PL", *b"PM",
    *b"PN", *b"PR", *b"PS", *b"PT", *b"PW", *b"PY", *b"QA", *b"RE", *b"RO", *b"RS",
    *b"RU", *b"RW", *b"SA", *b"SB", *b"SC", *b"SD", *b"SE", *b"SG", *b"SH", *b"SI",
    *b"SJ", *b"SK", *b"SL", *b"SM", *b"SN", *b"SO", *b"SR", *b"SS", *b"ST", *b"SV",
    *b"SX", *b"SY", *b"SZ", *b"TC", *b"TD", *b"TF", *b"TG", *b"TH", *b"TJ", *b"TK",
    *b"TL", *b"TM", *b"TN", *b"TO", *b"TR", *b"TT", *b"TV", *b"TW", *b"TZ", *b"UA",
    *b"UG", *b"UM", *b"US", *b"UY", *b"UZ", *b"VA", *b"VC", *b"VE", *b"VG", *b"VI",
    *b"VN", *b"VU", *b"WF", *b"WS", *b"YE", *b"YT", *b"ZA", *b"ZM", *b"ZW",
];

#[cfg(test)]
mod tests {
    use super::{ISO_3166_ALPHA_2, is_iso_3166_code};

    #[test]
    fn the_country_list_is_sorted_and_strict() {
        assert!(
            ISO_3166_ALPHA_2
                .windows(2)
                .all(|pair| pair.first() < pair.last())
        );
        for code in ["US", "DE", "SE", "CN", "GB", "AX", "ZW", "AA"] {
            assert!(is_iso_3166_code(code.as_bytes()), "{code}");
        }
        for code in [
            "UK", "EU", "AB", "QL", "QZ", "XX", "ZZ", "ZY", "us", "USA", "U", "",
        ] {
            assert!(!is_iso_3166_code(code.as_bytes()), "{code}");
        }
    }
}
