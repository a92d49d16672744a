//! Registrations end to end: `none`, `packed` (self and x5c), `fido-u2f`, trust anchors,
//! and the hostile inputs of the security checklist §C.7 and §C.8 for these formats.
//!
//! Certificates come from `fixtures/make-certificates.sh` (our own test CA).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::{Duration, SystemTime};

use latchkey_cose::cbor::{Map, Value};
use latchkey_cose::{Aaguid, Algorithm, AttestationObject, Flags};
use latchkey_testkit::authenticator::{Attestation, Authenticator, Client, Registration, SoftKey};
use latchkey_testkit::x509::{CertificateBuilder, der};
use latchkey_verify::{
    AttestationType, Ceremony, Error, Origins, RegistrationBytes, Trust, TrustAnchors,
    VerifiedRegistration, Verifier, VerifierOptions,
};

mod common;
use common::{INTERMEDIATE, LEAF, ROGUE, ROOT, in_2040, intermediate_key, leaf_key, scalar};

const RP_ID: &str = "example.com";
const ORIGIN: &str = "https://example.com";
const CHALLENGE: &[u8] = b"registration-challenge-32-bytes!";
const AAGUID: [u8; 16] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];

const LEAF_FROM_ROOT: &[u8] = include_bytes!("fixtures/leaf-from-root.der");
const LEAF_BAD_OU: &[u8] = include_bytes!("fixtures/leaf-bad-ou.der");
const LEAF_CA: &[u8] = include_bytes!("fixtures/leaf-ca.der");
const LEAF_CRITICAL_AAGUID: &[u8] = include_bytes!("fixtures/leaf-critical-aaguid.der");
const LEAF_SINGLE_AAGUID: &[u8] = include_bytes!("fixtures/leaf-single-aaguid.der");
const LEAF_OTHER_AAGUID: &[u8] = include_bytes!("fixtures/leaf-other-aaguid.der");
const LEAF_ENTERPRISE: &[u8] = latchkey_testkit::ca::LEAF_ENTERPRISE;
const LEAF_EXPLICIT_CURVE: &[u8] = include_bytes!("fixtures/leaf-explicit-curve.der");

fn rogue_key() -> SoftKey {
    SoftKey::es256(scalar(include_str!("fixtures/rogue.scalar")))
}

fn verifier() -> Verifier {
    Verifier::new(RP_ID, Origins::new([ORIGIN]))
}

fn anchored(anchors: TrustAnchors) -> Verifier {
    verifier().with_trust_anchors(anchors)
}

fn root_for_packed() -> TrustAnchors {
    let mut anchors = TrustAnchors::default();
    anchors.add_for_format("packed", ROOT).unwrap();
    anchors
}

fn client() -> Client {
    Client::new(RP_ID, ORIGIN)
}

fn register(authenticator: &Authenticator) -> Registration {
    authenticator.register(&client(), CHALLENGE)
}

fn verify_at(
    verifier: &Verifier,
    registration: &Registration,
    now: SystemTime,
) -> Result<VerifiedRegistration, Error> {
    let response = RegistrationBytes {
        client_data_json: &registration.client_data_json,
        attestation_object: &registration.attestation_object,
        raw_id: &registration.credential_id,
    };
    verifier.verify_registration(&response, &Ceremony::new(CHALLENGE), now)
}

fn verify(verifier: &Verifier, registration: &Registration) -> Result<VerifiedRegistration, Error> {
    verify_at(verifier, registration, in_2040())
}

fn packed(x5c: &[&[u8]]) -> Authenticator {
    let x5c = x5c.iter().map(|c| c.to_vec()).collect();
    Authenticator::new(SoftKey::es256([5; 32]))
        .with_aaguid(Aaguid::from_bytes(AAGUID))
        .with_attestation(Attestation::Packed {
            key: leaf_key(),
            x5c,
        })
}

/// The registration with its attestation statement replaced (the authenticator data and
/// client data stay as signed).
fn with_statement(registration: &Registration, fmt: &str, att_stmt: &Value<'_>) -> Registration {
    let mut changed = registration.clone();
    changed.attestation_object =
        AttestationObject::encode(fmt, att_stmt, &registration.authenticator_data);
    changed
}

fn statement_of(registration: &Registration) -> Vec<(String, Vec<u8>, Option<i64>)> {
    // (member, bytes if bytes, integer if integer), for rebuilding statements in tests.
    let att = AttestationObject::parse(&registration.attestation_object).unwrap();
    att.att_stmt()
        .as_map()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            (
                k.as_text().unwrap().to_owned(),
                v.as_bytes().unwrap_or_default().to_vec(),
                v.as_i64(),
            )
        })
        .collect()
}

#[test]
fn none_registers_every_algorithm() {
    for key in [
        SoftKey::es256([7; 32]),
        SoftKey::es384([9; 48]),
        SoftKey::eddsa([3; 32]),
        SoftKey::rs256(),
    ] {
        let alg = key.algorithm();
        let authenticator = Authenticator::new(key).with_aaguid(Aaguid::from_bytes(AAGUID));
        let verified = verify(&verifier(), &register(&authenticator))
            .unwrap_or_else(|e| panic!("{}: {e}", alg.name()));
        assert_eq!(verified.fmt(), "none");
        assert_eq!(verified.attestation_type(), AttestationType::None);
        assert_eq!(verified.trust(), Trust::NotApplicable);
        assert_eq!(verified.credential_id(), authenticator.credential_id());
        assert_eq!(verified.aaguid(), Aaguid::from_bytes(AAGUID));
        assert_eq!(verified.public_key().algorithm(), alg);
        assert_eq!(verified.verifying_key().algorithm(), alg);
    }
}

#[test]
fn packed_self_attestation_for_every_algorithm() {
    for key in [
        SoftKey::es256([7; 32]),
        SoftKey::es384([9; 48]),
        SoftKey::eddsa([3; 32]),
        SoftKey::rs256(),
    ] {
        let alg = key.algorithm();
        let authenticator = Authenticator::new(key).with_attestation(Attestation::PackedSelf);
        let verified = verify(&verifier(), &register(&authenticator))
            .unwrap_or_else(|e| panic!("{}: {e}", alg.name()));
        assert_eq!(
            verified.attestation_type(),
            AttestationType::SelfAttestation
        );
        assert_eq!(verified.trust(), Trust::NotApplicable);
    }
}

#[test]
fn packed_chain_to_a_configured_root() {
    let registration = register(&packed(&[LEAF, INTERMEDIATE]));
    let verified = verify(&anchored(root_for_packed()), &registration).unwrap();
    assert_eq!(verified.attestation_type(), AttestationType::Basic);
    assert_eq!(verified.trust(), Trust::Trusted);

    // The same root configured for this AAGUID instead of the format.
    let mut by_model = TrustAnchors::default();
    by_model
        .add_for_aaguid(Aaguid::from_bytes(AAGUID), ROOT)
        .unwrap();
    assert_eq!(
        verify(&anchored(by_model), &registration).unwrap().trust(),
        Trust::Trusted
    );
    // ...or for another model: no anchor applies.
    let mut other_model = TrustAnchors::default();
    other_model
        .add_for_aaguid(Aaguid::from_bytes([9; 16]), ROOT)
        .unwrap();
    assert_eq!(
        verify(&anchored(other_model), &registration)
            .unwrap()
            .trust(),
        Trust::NoAnchor
    );
}

#[test]
fn x5c_without_an_anchor_is_reported_not_trusted() {
    let registration = register(&packed(&[LEAF, INTERMEDIATE]));
    assert_eq!(
        verify(&verifier(), &registration).unwrap().trust(),
        Trust::NoAnchor
    );
    let mut strict = VerifierOptions::default();
    strict.require_trusted_attestation = true;
    let err = verify(&verifier().with_options(strict), &registration).unwrap_err();
    assert_eq!(err.code(), "attestation_untrusted");
}

#[test]
fn self_signed_rogue_certificate_is_untrusted() {
    // C.108: x5c is a lone self-signed certificate whose key signed the statement.
    let authenticator =
        Authenticator::new(SoftKey::es256([5; 32])).with_attestation(Attestation::Packed {
            key: rogue_key(),
            x5c: vec![ROGUE.to_vec()],
        });
    let registration = register(&authenticator);
    let trust = verify(&anchored(root_for_packed()), &registration)
        .unwrap()
        .trust();
    assert!(matches!(trust, Trust::Untrusted(_)), "{trust:?}");
    let mut strict = VerifierOptions::default();
    strict.require_trusted_attestation = true;
    let verifier = anchored(root_for_packed()).with_options(strict);
    assert_eq!(
        verify(&verifier, &registration).unwrap_err().code(),
        "attestation_untrusted"
    );
}

#[test]
fn chain_shapes() {
    // C.109: by default the path ends at the anchor wherever x5c carries it (RFC 5280
    // path building); the conformance mode that refuses it is in review_14.rs.
    let with_root = register(&packed(&[LEAF, INTERMEDIATE, ROOT]));
    assert_eq!(
        verify(&anchored(root_for_packed()), &with_root)
            .unwrap()
            .trust(),
        Trust::Trusted
    );
    // A leaf that is itself the configured anchor (conformance Resp-5 P-3).
    let mut leaf_anchor = TrustAnchors::default();
    leaf_anchor
        .add_for_format("packed", LEAF_FROM_ROOT)
        .unwrap();
    let alone = register(&packed(&[LEAF_FROM_ROOT]));
    assert_eq!(
        verify(&anchored(leaf_anchor), &alone).unwrap().trust(),
        Trust::Trusted
    );
    // A leaf straight from the root, and a missing intermediate.
    let direct = register(&packed(&[LEAF_FROM_ROOT]));
    assert_eq!(
        verify(&anchored(root_for_packed()), &direct)
            .unwrap()
            .trust(),
        Trust::Trusted
    );
    let missing = register(&packed(&[LEAF]));
    assert!(matches!(
        verify(&anchored(root_for_packed()), &missing)
            .unwrap()
            .trust(),
        Trust::Untrusted(_)
    ));
    // C.93: the chain in the wrong order.
    let reversed = register(&packed(&[LEAF, ROOT, INTERMEDIATE]));
    assert!(matches!(
        verify(&anchored(root_for_packed()), &reversed)
            .unwrap()
            .trust(),
        Trust::Untrusted(_)
    ));
}

#[test]
fn certificate_validity_uses_the_given_time() {
    // C.110: before notBefore and after notAfter.
    let registration = register(&packed(&[LEAF, INTERMEDIATE]));
    let verifier = anchored(root_for_packed());
    for now in [
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_577_836_800), // 2020
        SystemTime::UNIX_EPOCH + Duration::from_secs(7_258_118_400),
    ]
    // 2200
    {
        let trust = verify_at(&verifier, &registration, now).unwrap().trust();
        assert_eq!(
            trust,
            Trust::Untrusted("certificate expired or not yet valid")
        );
    }
}

#[test]
fn attestation_certificate_requirements() {
    // C.78, C.79, C.80.
    for (cert, why) in [
        (LEAF_BAD_OU, "OU"),
        (LEAF_CA, "CA"),
        (LEAF_OTHER_AAGUID, "AAGUID"),
        (LEAF_CRITICAL_AAGUID, "critical"),
        (LEAF_SINGLE_AAGUID, "OCTET STRING"),
    ] {
        let registration = register(&packed(&[cert, INTERMEDIATE]));
        let err = verify(&anchored(root_for_packed()), &registration).unwrap_err();
        assert_eq!(err.code(), "attestation_invalid", "{why}: {err}");
        assert!(err.to_string().contains(why), "{why}: {err}");
    }
}

#[test]
fn packed_statement_shape() {
    // C.74, C.76.
    let registration = register(&packed(&[LEAF, INTERMEDIATE]));
    let members = statement_of(&registration);
    let sig = members.iter().find(|(k, ..)| k == "sig").unwrap().1.clone();
    fn stmt<'a>(entries: Vec<(Value<'a>, Value<'a>)>) -> Value<'a> {
        Value::Map(Map::new(entries).unwrap())
    }
    let leaf = Value::Bytes(LEAF);
    let x5c = Value::Array(vec![leaf.clone(), Value::Bytes(INTERMEDIATE)]);
    let cases = vec![
        ("empty statement", stmt(vec![])),
        (
            "alg missing",
            stmt(vec![
                (Value::Text("sig"), Value::Bytes(&sig)),
                (Value::Text("x5c"), x5c.clone()),
            ]),
        ),
        (
            "alg as text",
            stmt(vec![
                (Value::Text("alg"), Value::Text("ES256")),
                (Value::Text("sig"), Value::Bytes(&sig)),
            ]),
        ),
        (
            "sig missing",
            stmt(vec![
                (Value::Text("alg"), Value::Integer(-7)),
                (Value::Text("x5c"), x5c.clone()),
            ]),
        ),
        (
            "sig empty",
            stmt(vec![
                (Value::Text("alg"), Value::Integer(-7)),
                (Value::Text("sig"), Value::Bytes(&[])),
                (Value::Text("x5c"), x5c.clone()),
            ]),
        ),
        (
            "sig as text",
            stmt(vec![
                (Value::Text("alg"), Value::Integer(-7)),
                (Value::Text("sig"), Value::Text("x")),
                (Value::Text("x5c"), x5c.clone()),
            ]),
        ),
        (
            "x5c as bytes",
            stmt(vec![
                (Value::Text("alg"), Value::Integer(-7)),
                (Value::Text("sig"), Value::Bytes(&sig)),
                (Value::Text("x5c"), leaf.clone()),
            ]),
        ),
        (
            "x5c empty",
            stmt(vec![
                (Value::Text("alg"), Value::Integer(-7)),
                (Value::Text("sig"), Value::Bytes(&sig)),
                (Value::Text("x5c"), Value::Array(vec![])),
            ]),
        ),
        (
            "unknown member",
            stmt(vec![
                (Value::Text("alg"), Value::Integer(-7)),
                (Value::Text("sig"), Value::Bytes(&sig)),
                (Value::Text("x5c"), x5c.clone()),
                (Value::Text("ecdaaKeyId"), Value::Bytes(&[1])),
            ]),
        ),
    ];
    for (why, att_stmt) in cases {
        let err = verify(
            &verifier(),
            &with_statement(&registration, "packed", &att_stmt),
        )
        .unwrap_err();
        assert_eq!(err.code(), "attestation_invalid", "{why}: {err}");
    }
    // x5c with six certificates: a limit, checked before any parsing.
    let six = Value::Array(vec![leaf; 6]);
    let att_stmt = stmt(vec![
        (Value::Text("alg"), Value::Integer(-7)),
        (Value::Text("sig"), Value::Bytes(&sig)),
        (Value::Text("x5c"), six),
    ]);
    let err = verify(
        &verifier(),
        &with_statement(&registration, "packed", &att_stmt),
    )
    .unwrap_err();
    assert_eq!(err.code(), "limit_exceeded");
}

#[test]
fn packed_signature_checks() {
    // C.75: self attestation whose alg is not the credential key's.
    let self_attested = register(
        &Authenticator::new(SoftKey::es256([7; 32])).with_attestation(Attestation::PackedSelf),
    );
    let sig = statement_of(&self_attested)
        .into_iter()
        .find(|(k, ..)| k == "sig")
        .unwrap()
        .1;
    let wrong_alg = Value::Map(
        Map::new(vec![
            (Value::Text("alg"), Value::Integer(-257)),
            (Value::Text("sig"), Value::Bytes(&sig)),
        ])
        .unwrap(),
    );
    let err = verify(
        &verifier(),
        &with_statement(&self_attested, "packed", &wrong_alg),
    )
    .unwrap_err();
    assert_eq!(err.code(), "attestation_invalid");

    // C.77: x5c present but the credential key signed (x5cSigMadeByRegistrationKeypair).
    let x5c = Value::Array(vec![Value::Bytes(LEAF), Value::Bytes(INTERMEDIATE)]);
    let forged = Value::Map(
        Map::new(vec![
            (Value::Text("alg"), Value::Integer(-7)),
            (Value::Text("sig"), Value::Bytes(&sig)),
            (Value::Text("x5c"), x5c),
        ])
        .unwrap(),
    );
    let err = verify(
        &verifier(),
        &with_statement(&self_attested, "packed", &forged),
    )
    .unwrap_err();
    assert_eq!(err, Error::AttestationInvalid("signature does not verify"));

    // The statement's alg must fit the certificate key (ES384 with a P-256 leaf).
    let registration = register(&packed(&[LEAF, INTERMEDIATE]));
    let sig = statement_of(&registration)
        .into_iter()
        .find(|(k, ..)| k == "sig")
        .unwrap()
        .1;
    let x5c = Value::Array(vec![Value::Bytes(LEAF), Value::Bytes(INTERMEDIATE)]);
    let es384 = Value::Map(
        Map::new(vec![
            (Value::Text("alg"), Value::Integer(-35)),
            (Value::Text("sig"), Value::Bytes(&sig)),
            (Value::Text("x5c"), x5c),
        ])
        .unwrap(),
    );
    let err = verify(
        &verifier(),
        &with_statement(&registration, "packed", &es384),
    )
    .unwrap_err();
    assert_eq!(err.code(), "attestation_invalid");
}

#[test]
fn fido_u2f() {
    let u2f = |credential: SoftKey, x5c: Vec<u8>| {
        Authenticator::new(credential).with_attestation(Attestation::FidoU2f {
            key: leaf_key(),
            certificate: x5c,
        })
    };
    let registration = register(&u2f(SoftKey::es256([5; 32]), LEAF.to_vec()));
    let verified = verify(&verifier(), &registration).unwrap();
    assert_eq!(verified.fmt(), "fido-u2f");
    assert_eq!(verified.attestation_type(), AttestationType::Basic);
    let mut anchors = TrustAnchors::default();
    anchors.add_for_format("fido-u2f", INTERMEDIATE).unwrap();
    assert_eq!(
        verify(&anchored(anchors), &registration).unwrap().trust(),
        Trust::Trusted
    );

    // C.82: two certificates.
    let sig = statement_of(&registration)
        .into_iter()
        .find(|(k, ..)| k == "sig")
        .unwrap()
        .1;
    let two = Value::Map(
        Map::new(vec![
            (Value::Text("sig"), Value::Bytes(&sig)),
            (
                Value::Text("x5c"),
                Value::Array(vec![Value::Bytes(LEAF), Value::Bytes(INTERMEDIATE)]),
            ),
        ])
        .unwrap(),
    );
    let err = verify(
        &verifier(),
        &with_statement(&registration, "fido-u2f", &two),
    )
    .unwrap_err();
    assert_eq!(err.code(), "attestation_invalid");
    // C.83: the credential key is Ed25519.
    let eddsa = register(&u2f(SoftKey::eddsa([3; 32]), LEAF.to_vec()));
    assert_eq!(
        verify(&verifier(), &eddsa).unwrap_err().code(),
        "attestation_invalid"
    );
    // C.84: the signature over other data (here: the packed message).
    let packed_sig = statement_of(&register(&packed(&[LEAF])))
        .into_iter()
        .find(|(k, ..)| k == "sig")
        .unwrap()
        .1;
    let wrong = Value::Map(
        Map::new(vec![
            (Value::Text("sig"), Value::Bytes(&packed_sig)),
            (Value::Text("x5c"), Value::Array(vec![Value::Bytes(LEAF)])),
        ])
        .unwrap(),
    );
    let err = verify(
        &verifier(),
        &with_statement(&registration, "fido-u2f", &wrong),
    )
    .unwrap_err();
    assert_eq!(err.code(), "attestation_invalid");
}

#[test]
fn none_must_have_an_empty_statement_and_formats_fail_closed() {
    // C.106: `none` carrying a packed statement.
    let registration = register(&packed(&[LEAF, INTERMEDIATE]));
    let att = AttestationObject::parse(&registration.attestation_object).unwrap();
    let full = with_statement(&registration, "none", att.att_stmt());
    assert_eq!(
        verify(&verifier(), &full).unwrap_err().code(),
        "attestation_invalid"
    );
    // C.25, C.107: unknown and differently cased formats.
    for fmt in ["BananaPancake", "Packed", "compound"] {
        let other = with_statement(&registration, fmt, att.att_stmt());
        let err = verify(&verifier(), &other).unwrap_err();
        // `compound` is recognised, but its statement must be an array.
        let expected = if fmt == "compound" {
            "malformed"
        } else {
            "unsupported_format"
        };
        assert_eq!(err.code(), expected, "{fmt}");
    }
    // Verified formats refuse a foreign statement as invalid, not unsupported.
    for fmt in ["apple", "tpm", "android-key", "android-safetynet"] {
        let other = with_statement(&registration, fmt, att.att_stmt());
        let err = verify(&verifier(), &other).unwrap_err();
        assert_eq!(err.code(), "attestation_invalid", "{fmt}: {err}");
    }
}

#[test]
fn ceremony_checks_on_registration() {
    let authenticator = Authenticator::new(SoftKey::es256([7; 32]));
    // C.59: UP clear. C.58: UV required. C.55: BS without BE.
    for (flags, expected) in [
        (Flags::USER_VERIFIED, Error::UserPresenceRequired),
        (Flags::USER_PRESENT, Error::UserVerificationRequired),
        (
            Flags::USER_PRESENT | Flags::USER_VERIFIED | Flags::BACKED_UP,
            Error::BackupStateWithoutEligibility,
        ),
    ] {
        let registration = register(&authenticator.clone().with_flags(flags));
        assert_eq!(verify(&verifier(), &registration).unwrap_err(), expected);
    }
    // Another RP ID; the assertion type; another origin.
    let other_rp = authenticator.register(&Client::new("evil.example", ORIGIN), CHALLENGE);
    assert_eq!(
        verify(&verifier(), &other_rp).unwrap_err(),
        Error::RpIdMismatch
    );
    let mut wrong_type = register(&authenticator);
    wrong_type.client_data_json = client().client_data_json("webauthn.get", CHALLENGE);
    assert_eq!(
        verify(&verifier(), &wrong_type).unwrap_err(),
        Error::TypeMismatch {
            expected: "webauthn.create"
        }
    );
    let elsewhere = authenticator.register(&Client::new(RP_ID, "https://evil.example"), CHALLENGE);
    assert_eq!(
        verify(&verifier(), &elsewhere).unwrap_err(),
        Error::OriginMismatch
    );
    // C.6: rawId is not the attested credential id.
    let mut other_id = register(&authenticator);
    other_id.credential_id = vec![0; 16];
    assert_eq!(
        verify(&verifier(), &other_id).unwrap_err(),
        Error::CredentialIdMismatch
    );
}

#[test]
fn algorithm_must_have_been_offered() {
    // C.43: an RS256 key when only ES256 and EdDSA were offered.
    let registration = register(&Authenticator::new(SoftKey::rs256()));
    let response = RegistrationBytes {
        client_data_json: &registration.client_data_json,
        attestation_object: &registration.attestation_object,
        raw_id: &registration.credential_id,
    };
    let ceremony = Ceremony {
        algorithms: &[Algorithm::Es256, Algorithm::EdDsa],
        ..Ceremony::new(CHALLENGE)
    };
    let err = verifier()
        .verify_registration(&response, &ceremony, in_2040())
        .unwrap_err();
    assert_eq!(err, Error::UnsupportedAlgorithm(-257));
}

#[test]
fn certificate_encoding_and_size_limits() {
    // C.111: a certificate followed by a trailing byte.
    let mut trailing = LEAF.to_vec();
    trailing.push(0);
    let registration = register(&packed(&[&trailing, INTERMEDIATE]));
    assert_eq!(
        verify(&verifier(), &registration).unwrap_err().code(),
        "attestation_invalid"
    );
    // C.113: a certificate over 16 KiB is refused before parsing.
    let huge = vec![0x30; 20 * 1024];
    let registration = register(&packed(&[&huge, INTERMEDIATE]));
    assert_eq!(
        verify(&verifier(), &registration).unwrap_err().code(),
        "limit_exceeded"
    );
}

#[test]
fn compound_statements_all_verify() {
    // §8.9: two statements over the same authenticator data (C.107 for the bad shapes).
    let with_x5c = register(&packed(&[LEAF, INTERMEDIATE]));
    let self_attested = register(
        &Authenticator::new(SoftKey::es256([5; 32]))
            .with_aaguid(Aaguid::from_bytes(AAGUID))
            .with_attestation(Attestation::PackedSelf),
    );
    assert_eq!(
        with_x5c.authenticator_data,
        self_attested.authenticator_data
    );
    let x5c_object = AttestationObject::parse(&with_x5c.attestation_object).unwrap();
    let self_object = AttestationObject::parse(&self_attested.attestation_object).unwrap();
    fn entry<'a>(fmt: &'a str, stmt: &Value<'a>) -> Value<'a> {
        Value::Map(
            Map::new(vec![
                (Value::Text("fmt"), Value::Text(fmt)),
                (Value::Text("attStmt"), stmt.clone()),
            ])
            .unwrap(),
        )
    }
    let x5c_stmt = x5c_object.att_stmt().clone();
    let self_stmt = self_object.att_stmt().clone();
    let both = Value::Array(vec![
        entry("packed", &x5c_stmt),
        entry("packed", &self_stmt),
    ]);
    let verified = verify(
        &anchored(root_for_packed()),
        &with_statement(&with_x5c, "compound", &both),
    )
    .unwrap();
    assert_eq!(verified.attestation_type(), AttestationType::Basic);
    assert_eq!(verified.trust(), Trust::Trusted);

    let empty = Value::Map(Map::default());
    for (why, statements) in [
        (
            "one statement",
            Value::Array(vec![entry("packed", &self_stmt)]),
        ),
        (
            "nested compound",
            Value::Array(vec![
                entry("packed", &self_stmt),
                entry("compound", &Value::Array(vec![])),
            ]),
        ),
        (
            "a bad statement",
            Value::Array(vec![entry("packed", &self_stmt), entry("none", &self_stmt)]),
        ),
        (
            "an extra member",
            Value::Array(vec![
                entry("packed", &self_stmt),
                Value::Map(
                    Map::new(vec![
                        (Value::Text("fmt"), Value::Text("none")),
                        (Value::Text("attStmt"), empty.clone()),
                        (Value::Text("x"), Value::Null),
                    ])
                    .unwrap(),
                ),
            ]),
        ),
    ] {
        let err = verify(
            &verifier(),
            &with_statement(&with_x5c, "compound", &statements),
        )
        .unwrap_err();
        assert_eq!(err.code(), "attestation_invalid", "{why}: {err}");
    }
    // An unknown format inside fails closed.
    let unknown = Value::Array(vec![
        entry("packed", &self_stmt),
        entry("BananaPancake", &empty),
    ]);
    assert_eq!(
        verify(
            &verifier(),
            &with_statement(&with_x5c, "compound", &unknown)
        )
        .unwrap_err(),
        Error::UnsupportedFormat
    );
}

#[test]
fn enterprise_attestation_needs_the_relying_partys_consent() {
    // C.81: a device serial (id-fido-gen-ce-sernum) in a non-enterprise ceremony.
    let registration = register(&packed(&[LEAF_ENTERPRISE, INTERMEDIATE]));
    let err = verify(&anchored(root_for_packed()), &registration).unwrap_err();
    assert_eq!(err.code(), "attestation_untrusted");
    assert!(err.to_string().contains("enterprise"), "{err}");
    let mut options = VerifierOptions::default();
    options.allow_enterprise_attestation = true;
    let verified = verify(
        &anchored(root_for_packed()).with_options(options),
        &registration,
    )
    .unwrap();
    assert_eq!(verified.trust(), Trust::Trusted);
}

#[test]
fn certificate_keys_with_explicit_curve_parameters_are_refused() {
    // C.112: the leaf's own key (the attestation signature is good), its curve given as
    // explicit parameters instead of the named-curve OID.
    let registration = register(&packed(&[LEAF_EXPLICIT_CURVE, INTERMEDIATE]));
    let err = verify(&anchored(root_for_packed()), &registration).unwrap_err();
    assert_eq!(err.code(), "attestation_invalid");
    assert!(err.to_string().contains("named curve"), "{err}");
}

#[test]
fn revocation_and_issuer_urls_are_never_fetched() {
    // C.114: a leaf whose CRL distribution point and authority information access name the
    // cloud metadata address and localhost (SSRF bait). Verification does no I/O: the chain
    // is judged from the statement's certificates and the configured anchors alone.
    let uri = |text: &str| der::tlv(0x86, text.as_bytes()); // GeneralName [6] IA5String
    let crl_distribution_points = der::sequence(&[&der::sequence(&[&der::tlv(
        0xa0,                                                              // distributionPoint [0]
        &der::tlv(0xa0, &uri("http://169.254.169.254/latest/meta-data/")), // fullName [0]
    )])]);
    let authority_information_access = der::sequence(&[
        &der::sequence(&[
            &der::oid("1.3.6.1.5.5.7.48.2").unwrap(),
            &uri("http://localhost:8080/ca.der"),
        ]),
        &der::sequence(&[
            &der::oid("1.3.6.1.5.5.7.48.1").unwrap(),
            &uri("http://169.254.169.254/ocsp"),
        ]),
    ]);
    let leaf = CertificateBuilder::with_subject(&[
        ("2.5.4.6", "US"),
        ("2.5.4.10", "Latchkey Test"),
        ("2.5.4.11", "Authenticator Attestation"),
        ("2.5.4.3", "Latchkey Test Batch 1"),
    ])
    .extension("2.5.29.19", false, &der::sequence(&[])) // basicConstraints CA:FALSE
    .extension(
        "1.3.6.1.4.1.45724.1.1.4",
        false,
        &der::octet_string(&AAGUID),
    )
    .extension("2.5.29.31", false, &crl_distribution_points)
    .extension("1.3.6.1.5.5.7.1.1", false, &authority_information_access)
    .issued_by(INTERMEDIATE, &intermediate_key())
    .sign(&leaf_key())
    .unwrap();
    let registration = register(&packed(&[&leaf, INTERMEDIATE]));
    let verified = verify(&anchored(root_for_packed()), &registration).unwrap();
    assert_eq!(verified.trust(), Trust::Trusted);
}

/// Issue 14, C.35: an RS1 credential key (COSE -65535) is refused at registration unless
/// `allow_rs1` is on: it could never sign in otherwise.
#[test]
fn rs1_registration_needs_allow_rs1_c35() {
    let registration = register(&Authenticator::new(SoftKey::rs1()));
    let error = verify(&verifier(), &registration).unwrap_err();
    assert_eq!(error, Error::UnsupportedAlgorithm(-65_535));
    assert_eq!(error.code(), "unsupported_algorithm");
    let mut options = VerifierOptions::default();
    options.signature.allow_rs1 = true;
    let verified = verify(&verifier().with_options(options.clone()), &registration).unwrap();
    assert_eq!(verified.public_key().algorithm(), Algorithm::Rs1);
    // Self attestation by an RS1 key follows the same rule.
    let self_attested =
        register(&Authenticator::new(SoftKey::rs1()).with_attestation(Attestation::PackedSelf));
    assert_eq!(
        verify(&verifier(), &self_attested).unwrap_err().code(),
        "unsupported_algorithm"
    );
    assert!(verify(&verifier().with_options(options), &self_attested).is_ok());
}
