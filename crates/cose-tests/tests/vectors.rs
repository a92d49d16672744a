//! Every response in `shared/vectors` parses: attestation objects, authenticator data and
//! stored COSE keys. Cases whose expected error says the encoding itself is broken must
//! fail to parse instead.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use latchkey_cose::{AttestationObject, AuthenticatorData, CredentialPublicKey, ParseOptions};
use latchkey_testkit::{shared, vectors};

/// Cases whose bytes are broken on purpose (see their `expected_error`), with the error
/// code each must get.
const BROKEN_ENCODING: &[(&str, &str)] = &[
    // credentialIdLength reads 9377: Firefox 98 dropped AAGUID bytes.
    (
        "webauthn-rs/firefox_98_hello_incorrectly_truncates_aaguid",
        "malformed",
    ),
    // The attestationObject is empty.
    (
        "py_webauthn/registration/raises_useful_error_on_bad_attestation_object",
        "malformed",
    ),
    // The Firefox 117 EdDSA key: text kty "OKP", map of 3 holding 4 entries (checklist C.38).
    ("webauthn-rs/solokey_v2_a_sealed_attestation", "malformed"),
    (
        "webauthn-rs/solokey_v2_a_sealed_ed25519_invalid_cbor",
        "malformed",
    ),
];

/// Cases that are not CTAP2 canonical, so only `Strictness::Relaxed` reads them. Exact ids
/// are also checked to fail in strict mode, so the list cannot go stale; an entry ending in
/// `/` covers a family in which some cases happen to be canonical.
const NOT_CANONICAL: &[(&str, &str)] = &[
    // RegistrationTestData writes indefinite-length maps and RSA moduli with a sign byte.
    (
        "java-webauthn-server/testdata/",
        "test authenticator output",
    ),
    // attStmt keys written x5c, sig (canonical order is alg, sig, x5c): fido2-net-lib output.
    (
        "simplewebauthn/packed/succeed_if_id_fido_gen_ce_aaguid_extension_is_present_and_matches_aaguid_in_auth",
        "attStmt key order",
    ),
    (
        "simplewebauthn/packed/fail_if_id_fido_gen_ce_aaguid_extension_is_present_and_does_not_match_aaguid_in_",
        "attStmt key order",
    ),
    (
        "simplewebauthn/tpm/succeed_if_id_fido_gen_ce_aaguid_extension_is_present_and_matches_aaguid_in_auth",
        "attStmt key order",
    ),
    (
        "simplewebauthn/tpm/fail_if_id_fido_gen_ce_aaguid_extension_is_present_and_does_not_match_aaguid_in_",
        "attStmt key order",
    ),
    ("go-webauthn/statement/packedES256", "attStmt key order"),
];

fn needs_relaxed(id: &str) -> bool {
    NOT_CANONICAL.iter().any(|(entry, _)| {
        if entry.ends_with('/') {
            id.starts_with(entry)
        } else {
            id == *entry
        }
    })
}

#[test]
fn every_vector_response_parses() {
    let Some(shared) = shared::dir() else { return };
    let cases = vectors::load_all(&shared).unwrap();
    assert!(
        cases.len() >= 247,
        "expected the whole corpus, found {}",
        cases.len()
    );

    let mut failures = Vec::new();
    let mut parsed = 0;
    for case in &cases {
        let outcome = parse_case(case, &ParseOptions::STRICT);
        let outcome = match outcome {
            Err(strict) if needs_relaxed(&case.id) => {
                assert_eq!(strict.code(), "malformed", "{}: {strict}", case.id);
                parse_case(case, &ParseOptions::RELAXED)
            }
            Ok(()) if NOT_CANONICAL.iter().any(|(id, _)| *id == case.id) => {
                failures.push(format!(
                    "{}: canonical after all, drop it from NOT_CANONICAL",
                    case.id
                ));
                continue;
            }
            other => other,
        };
        let broken = BROKEN_ENCODING.iter().find(|(id, _)| *id == case.id);
        match (outcome, broken) {
            (Ok(()), None) => parsed += 1,
            (Err(e), Some((_, code))) if e.code() == *code => {}
            (Ok(()), Some(_)) => failures.push(format!("{}: parsed but is broken", case.id)),
            (Err(e), _) => failures.push(format!("{}: {e} ({})", case.id, e.code())),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    eprintln!(
        "{parsed} vector responses parsed, {} broken on purpose",
        BROKEN_ENCODING.len()
    );
}

fn parse_case(case: &vectors::Case, options: &ParseOptions) -> Result<(), latchkey_cose::Error> {
    if let Some(bytes) = case.response_bytes("attestationObject") {
        let att = AttestationObject::parse_with(&bytes, options)?;
        if let Some(alg) = case.cose_alg {
            assert_eq!(
                att.credential().public_key().algorithm().cose(),
                alg,
                "{}",
                case.id
            );
        }
    }
    if let Some(bytes) = case.response_bytes("authenticatorData") {
        AuthenticatorData::parse_with(&bytes, options)?;
    }
    if let Some(bytes) = case.stored_key() {
        CredentialPublicKey::from_cose_with(&bytes, options)?;
    }
    Ok(())
}
