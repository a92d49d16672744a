//! Certificate paths validated as RFC 5280 §6.1 does (issue 14), for every chain latchkey
//! builds: names chain at every link, issuers may sign certificates, the two signature
//! algorithm fields agree, no constraint or critical extension goes unprocessed; and the
//! certificate fields WebAuthn fixes (SafetyNet's host, packed's subject, checklist C.103
//! and C.78). Every certificate is written here with the test kit's `CertificateBuilder`
//! under our own test CA (`fixtures/make-certificates.sh`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use latchkey_cose::cbor::{Map, Value};
use latchkey_cose::{Aaguid, AttestationObject};
use latchkey_testkit::authenticator::{Attestation, Authenticator, Client, Registration, SoftKey};
use latchkey_testkit::jws;
use latchkey_testkit::x509::{
    CertificateBuilder, PRINTABLE_STRING, RevocationListBuilder, UTF8_STRING, der, key_usage,
};
use latchkey_verify::{
    Ceremony, Error, MetadataBlob, Origins, RegistrationBytes, RevocationList, Trust, TrustAnchors,
    VerifiedRegistration, Verifier,
};
use sha2::{Digest as _, Sha256};

mod common;
use common::{INTERMEDIATE, ROOT, in_2040, intermediate_key, leaf_key, root_key};

const CHALLENGE: &[u8] = b"x509-path-registration-challenge";

/// The §8.2.1 subject of a packed attestation certificate, with its string types.
const PACKED_SUBJECT: [(&str, u8, &str); 4] = [
    ("2.5.4.6", PRINTABLE_STRING, "US"),
    ("2.5.4.10", UTF8_STRING, "Latchkey Test"),
    ("2.5.4.11", UTF8_STRING, "Authenticator Attestation"),
    ("2.5.4.3", UTF8_STRING, "Latchkey Test Batch 7"),
];

/// A packed attestation certificate for `leaf_key()`, CA:FALSE, with `subject`.
fn packed_leaf_with(subject: &[(&str, u8, &str)]) -> CertificateBuilder {
    CertificateBuilder::with_typed_subject(subject).extension(
        "2.5.29.19",
        false,
        &der::sequence(&[]),
    )
}

fn packed_leaf() -> CertificateBuilder {
    packed_leaf_with(&PACKED_SUBJECT)
}

fn ca_key(seed: u8) -> SoftKey {
    SoftKey::es256([seed; 32])
}

/// A CA under the test root: `builder` (extensions chosen by the test), key `ca_key(seed)`.
fn ca_under_root(builder: CertificateBuilder, seed: u8) -> Vec<u8> {
    builder
        .serial(u64::from(seed))
        .issued_by(ROOT, &root_key())
        .sign(&ca_key(seed))
        .unwrap()
}

fn client() -> Client {
    Client::new("example.com", "https://example.com")
}

/// A packed registration whose statement carries `x5c`, signed by `leaf_key()`.
fn packed_registration(x5c: &[&[u8]]) -> Registration {
    Authenticator::new(SoftKey::es256([5; 32]))
        .with_aaguid(Aaguid::from_bytes([7; 16]))
        .with_attestation(Attestation::Packed {
            key: leaf_key(),
            x5c: x5c.iter().map(|c| c.to_vec()).collect(),
        })
        .register(&client(), CHALLENGE)
}

fn verify_with(
    anchors: TrustAnchors,
    registration: &Registration,
) -> Result<VerifiedRegistration, Error> {
    Verifier::new("example.com", Origins::new(["https://example.com"]))
        .with_trust_anchors(anchors)
        .verify_registration(
            &RegistrationBytes {
                client_data_json: &registration.client_data_json,
                attestation_object: &registration.attestation_object,
                raw_id: &registration.credential_id,
            },
            &Ceremony::new(CHALLENGE),
            in_2040(),
        )
}

fn anchors(fmt: &str, root: &[u8]) -> TrustAnchors {
    let mut anchors = TrustAnchors::default();
    anchors.add_for_format(fmt, root).unwrap();
    anchors
}

/// The trust of a packed registration with `x5c`, under the test root.
fn packed_trust(x5c: &[&[u8]]) -> Trust {
    verify_with(anchors("packed", ROOT), &packed_registration(x5c))
        .unwrap()
        .trust()
}

/// A packed leaf under the fixture intermediate, as `builder` describes it.
fn leaf_under_intermediate(builder: CertificateBuilder) -> Vec<u8> {
    builder
        .issued_by(INTERMEDIATE, &intermediate_key())
        .sign(&leaf_key())
        .unwrap()
}

#[test]
fn x5c_names_chain_at_every_link() {
    const NAMES: Trust =
        Trust::Untrusted("certificate issuer name is not the next certificate's subject");
    // The same leaf, its issuer name right and then another CA's, signed by the same key.
    let leaf = leaf_under_intermediate(packed_leaf());
    assert_eq!(packed_trust(&[&leaf, INTERMEDIATE]), Trust::Trusted);
    let misnamed = packed_leaf()
        .issued_by(INTERMEDIATE, &intermediate_key())
        .with_issuer_name(&[("2.5.4.3", "Latchkey Test Other CA")])
        .sign(&leaf_key())
        .unwrap();
    assert_eq!(packed_trust(&[&misnamed, INTERMEDIATE]), NAMES);

    // Deeper: root <- upper CA <- lower CA <- leaf, the lower CA naming another issuer.
    let upper = ca_under_root(CertificateBuilder::new("Latchkey Test Upper CA").ca(), 0x31);
    let upper_key = ca_key(0x31);
    let lower = |issuer_name: Option<&str>| {
        let issued = CertificateBuilder::new("Latchkey Test Lower CA")
            .ca()
            .serial(0x32)
            .issued_by(&upper, &upper_key);
        let issued = match issuer_name {
            Some(name) => issued.with_issuer_name(&[("2.5.4.3", name)]),
            None => issued,
        };
        issued.sign(&ca_key(0x32)).unwrap()
    };
    for (issuer_name, expected) in [(None, Trust::Trusted), (Some("Latchkey Test Root"), NAMES)] {
        let lower = lower(issuer_name);
        let leaf = packed_leaf()
            .issued_by(&lower, &ca_key(0x32))
            .sign(&leaf_key())
            .unwrap();
        assert_eq!(packed_trust(&[&leaf, &lower, &upper]), expected);
    }
}

#[test]
fn x5c_names_chain_at_every_link_in_the_metadata_blob_chain() {
    // The MDS BLOB's own chain goes through the same path validation.
    let intermediate = ca_under_root(CertificateBuilder::new("Latchkey Test MDS CA").ca(), 0x41);
    let signer_key = ca_key(0x42);
    let crls: Vec<RevocationList> = [
        RevocationListBuilder::new().sign(ROOT, &root_key()),
        RevocationListBuilder::new().sign(&intermediate, &ca_key(0x41)),
    ]
    .into_iter()
    .map(|der| RevocationList::parse(&der.unwrap()).unwrap())
    .collect();
    let payload = serde_json::json!({
        "legalHeader": "Test data of the latchkey project.",
        "no": 1,
        "nextUpdate": "2040-02-01",
        "entries": [],
    });
    let verify = |signer: &[u8]| {
        let blob = jws::sign(
            &signer_key,
            &[signer, &intermediate],
            &serde_json::json!({"typ": "JWT"}),
            &payload,
        );
        MetadataBlob::verify(&blob, &[ROOT], &crls, in_2040())
    };
    let intermediate_key = ca_key(0x41);
    let signer = || {
        CertificateBuilder::new("Latchkey Test MDS Signer")
            .issued_by(&intermediate, &intermediate_key)
    };
    let good = signer().sign(&signer_key).unwrap();
    assert!(verify(&good).is_ok());
    let misnamed = signer()
        .with_issuer_name(&[("2.5.4.3", "Latchkey Test Root")])
        .sign(&signer_key)
        .unwrap();
    let err = verify(&misnamed).unwrap_err();
    assert_eq!(err.code(), "attestation_untrusted");
    assert!(err.to_string().contains("issuer name"), "{err}");
}

#[test]
fn ca_certificates_need_key_cert_sign_when_key_usage_is_present() {
    let chain_through = |ca: CertificateBuilder, seed: u8| {
        let ca = ca_under_root(ca, seed);
        let leaf = packed_leaf()
            .issued_by(&ca, &ca_key(seed))
            .sign(&leaf_key())
            .unwrap();
        packed_trust(&[&leaf, &ca])
    };
    let named = |name: &str| CertificateBuilder::new(name).ca_constraints();
    // keyUsage absent: RFC 5280 leaves the key unrestricted.
    assert_eq!(
        chain_through(named("No Key Usage CA"), 0x51),
        Trust::Trusted
    );
    assert_eq!(
        chain_through(
            named("Cert Sign CA").key_usage(&[key_usage::KEY_CERT_SIGN]),
            0x52
        ),
        Trust::Trusted
    );
    // Present without keyCertSign: the key may not issue certificates.
    assert_eq!(
        chain_through(
            named("Signing Only CA")
                .key_usage(&[key_usage::DIGITAL_SIGNATURE, key_usage::CRL_SIGN]),
            0x53
        ),
        Trust::Untrusted("issuer key usage lacks keyCertSign")
    );

    // The anchor that issued the last certificate is held to it too.
    let anchor_key = ca_key(0x54);
    let anchor = CertificateBuilder::new("Latchkey Test Signing Only Root")
        .ca_constraints()
        .key_usage(&[key_usage::DIGITAL_SIGNATURE])
        .self_signed(&anchor_key)
        .unwrap();
    let leaf = packed_leaf()
        .issued_by(&anchor, &anchor_key)
        .sign(&leaf_key())
        .unwrap();
    let trust = verify_with(anchors("packed", &anchor), &packed_registration(&[&leaf]))
        .unwrap()
        .trust();
    assert_eq!(
        trust,
        Trust::Untrusted("chain does not lead to a configured anchor")
    );
}

#[test]
fn tbs_signature_algorithm_must_equal_the_outer_signature_algorithm() {
    // tbsCertificate.signature says ecdsa-with-SHA384; the signature is SHA-256 and the
    // outer signatureAlgorithm says so.
    const ECDSA_WITH_SHA384: &str = "1.2.840.10045.4.3.3";
    let leaf = leaf_under_intermediate(packed_leaf().inner_signature_algorithm(ECDSA_WITH_SHA384));
    let err = verify_with(
        anchors("packed", ROOT),
        &packed_registration(&[&leaf, INTERMEDIATE]),
    )
    .unwrap_err();
    assert_eq!(err.code(), "attestation_invalid");
    assert!(
        err.to_string().contains("signature algorithms differ"),
        "{err}"
    );

    // In a CA certificate of x5c, and in a configured anchor.
    let ca = ca_under_root(
        CertificateBuilder::new("Latchkey Test Mismatched CA")
            .ca()
            .inner_signature_algorithm(ECDSA_WITH_SHA384),
        0x61,
    );
    let leaf = packed_leaf()
        .issued_by(&ca, &ca_key(0x61))
        .sign(&leaf_key())
        .unwrap();
    let err =
        verify_with(anchors("packed", ROOT), &packed_registration(&[&leaf, &ca])).unwrap_err();
    assert_eq!(err.code(), "attestation_invalid");
    let root = CertificateBuilder::new("Latchkey Test Mismatched Root")
        .ca()
        .inner_signature_algorithm(ECDSA_WITH_SHA384)
        .self_signed(&ca_key(0x62))
        .unwrap();
    let err = TrustAnchors::default()
        .add_for_format("packed", &root)
        .unwrap_err();
    assert_eq!(err.code(), "attestation_invalid");
}

#[test]
fn unrecognized_critical_extensions_refuse_the_chain() {
    const CRITICAL: Trust =
        Trust::Untrusted("certificate has a critical extension latchkey does not process");
    const CONSTRAINTS: Trust =
        Trust::Untrusted("certificate has name or policy constraints latchkey does not process");
    let chain_through = |ca: CertificateBuilder, seed: u8| {
        let ca = ca_under_root(ca.ca(), seed);
        let leaf = packed_leaf()
            .issued_by(&ca, &ca_key(seed))
            .sign(&leaf_key())
            .unwrap();
        packed_trust(&[&leaf, &ca])
    };
    let any_policy = der::sequence(&[&der::sequence(&[&der::oid("2.5.29.32.0").unwrap()])]);
    // nameConstraints: permittedSubtrees [0] { GeneralSubtree { dNSName example.com } }.
    let name_constraints = der::sequence(&[&der::tlv(
        0xa0,
        &der::sequence(&[&der::tlv(0x82, b"example.com")]),
    )]);
    // policyConstraints: requireExplicitPolicy [0] 0.
    let policy_constraints = der::sequence(&[&der::tlv(0x80, &[0])]);
    let ca = CertificateBuilder::new;
    for (why, builder, seed, expected) in [
        (
            "critical nameConstraints",
            ca("Name Constrained CA").extension("2.5.29.30", true, &name_constraints),
            0x71,
            CONSTRAINTS,
        ),
        (
            // §6.1.4 (g) applies it whatever the flag says.
            "non-critical nameConstraints",
            ca("Name Constrained CA").extension("2.5.29.30", false, &name_constraints),
            0x72,
            CONSTRAINTS,
        ),
        (
            "critical policyConstraints",
            ca("Policy Constrained CA").extension("2.5.29.36", true, &policy_constraints),
            0x73,
            CONSTRAINTS,
        ),
        (
            "critical inhibitAnyPolicy",
            ca("Inhibiting CA").extension("2.5.29.54", true, &der::integer(0)),
            0x74,
            CRITICAL,
        ),
        (
            "critical private extension",
            ca("Private CA").extension("1.3.6.1.4.1.55555.1", true, &[0x05, 0x00]),
            0x75,
            CRITICAL,
        ),
        (
            "critical certificatePolicies, one policy",
            ca("Policy CA").extension("2.5.29.32", true, &any_policy),
            0x76,
            Trust::Trusted,
        ),
        (
            "critical certificatePolicies, a policy twice",
            ca("Policy CA").extension(
                "2.5.29.32",
                true,
                &der::sequence(&[
                    &der::sequence(&[&der::oid("2.5.29.32.0").unwrap()]),
                    &der::sequence(&[&der::oid("2.5.29.32.0").unwrap()]),
                ]),
            ),
            0x77,
            Trust::Untrusted("certificate policies malformed"),
        ),
    ] {
        assert_eq!(chain_through(builder, seed), expected, "{why}");
    }

    // In the leaf: an unknown critical extension refuses; the extensions latchkey reads
    // are accepted critical (basicConstraints, keyUsage, extendedKeyUsage, the SAN).
    let leaf = leaf_under_intermediate(packed_leaf().extension(
        "1.3.6.1.4.1.55555.2",
        true,
        &[0x05, 0x00],
    ));
    assert_eq!(packed_trust(&[&leaf, INTERMEDIATE]), CRITICAL);
    let known = CertificateBuilder::with_typed_subject(&PACKED_SUBJECT)
        .extension("2.5.29.19", true, &der::sequence(&[]))
        .key_usage(&[key_usage::DIGITAL_SIGNATURE])
        .extension(
            "2.5.29.37",
            true,
            &der::sequence(&[&der::oid("1.3.6.1.5.5.7.3.2").unwrap()]),
        )
        .extension(
            "2.5.29.17",
            true,
            &der::sequence(&[&der::tlv(0x82, b"batch7.example.com")]),
        );
    let leaf = leaf_under_intermediate(known);
    assert_eq!(packed_trust(&[&leaf, INTERMEDIATE]), Trust::Trusted);
}

/// A SafetyNet registration whose JWS the RSA test key signed, `signer` first in x5c.
fn safetynet(signer: &[u8]) -> Result<VerifiedRegistration, Error> {
    let registration = Authenticator::new(SoftKey::es256([9; 32])).register(&client(), CHALLENGE);
    let nonce = STANDARD.encode(Sha256::digest(
        [
            registration.authenticator_data.as_slice(),
            &Sha256::digest(&registration.client_data_json),
        ]
        .concat(),
    ));
    let payload = serde_json::json!({
        "nonce": nonce,
        "timestampMs": 2_208_988_790_000_i64,
        "apkPackageName": "com.google.android.gms",
        "ctsProfileMatch": true,
        "basicIntegrity": true,
    });
    let response = jws::sign(
        &SoftKey::rs256(),
        &[signer, INTERMEDIATE],
        &serde_json::json!({}),
        &payload,
    );
    let statement = Map::new(vec![
        (Value::Text("ver"), Value::Text("14366018")),
        (Value::Text("response"), Value::Bytes(response.as_bytes())),
    ])
    .unwrap();
    let mut changed = registration.clone();
    changed.attestation_object = AttestationObject::encode(
        "android-safetynet",
        &Value::Map(statement),
        &registration.authenticator_data,
    );
    verify_with(anchors("android-safetynet", ROOT), &changed)
}

#[test]
fn c103_safetynet_host_is_read_from_dns_sans_when_there_are_any() {
    let signer = |san: Option<Vec<u8>>| {
        let builder = CertificateBuilder::with_subject(&[
            ("2.5.4.6", "US"),
            ("2.5.4.10", "Latchkey Test"),
            ("2.5.4.3", "attest.android.com"),
        ])
        .extension("2.5.29.19", false, &der::sequence(&[]));
        let builder = match san {
            Some(san) => builder.extension("2.5.29.17", false, &san),
            None => builder,
        };
        builder
            .issued_by(INTERMEDIATE, &intermediate_key())
            .sign(&SoftKey::rs256())
            .unwrap()
    };
    // CN alone, or beside a SAN without dNSName (a URI): the CN names the host.
    let cn_only = safetynet(&signer(None)).unwrap();
    assert_eq!(cn_only.trust(), Trust::Trusted);
    let uri = der::sequence(&[&der::tlv(0x86, b"https://attest.android.com/")]);
    assert!(safetynet(&signer(Some(uri))).is_ok());
    // dNSName for the host: accepted whatever the CN.
    let dns = |host: &[u8]| der::sequence(&[&der::tlv(0x82, host)]);
    assert!(safetynet(&signer(Some(dns(b"attest.android.com")))).is_ok());
    // A dNSName for another host: the CN no longer counts (RFC 6125 §6.4.4).
    let err = safetynet(&signer(Some(dns(b"attest.example.com")))).unwrap_err();
    assert_eq!(err.code(), "attestation_untrusted");
    assert!(err.to_string().contains("attest.android.com"), "{err}");
}

#[test]
fn c78_packed_subject_c_and_ou_have_exact_string_types_and_values() {
    let with = |oid: &str, tag: u8, value: &'static str| {
        let subject: Vec<(&str, u8, &str)> = PACKED_SUBJECT
            .iter()
            .map(|&(o, t, v)| if o == oid { (o, tag, value) } else { (o, t, v) })
            .collect();
        let leaf = leaf_under_intermediate(packed_leaf_with(&subject));
        verify_with(
            anchors("packed", ROOT),
            &packed_registration(&[&leaf, INTERMEDIATE]),
        )
    };
    const C: &str = "2.5.4.6";
    const OU: &str = "2.5.4.11";
    assert!(with(C, PRINTABLE_STRING, "US").is_ok());
    // A user-assigned code, as the WebAuthn L3 test vectors' certificates carry.
    assert!(with(C, PRINTABLE_STRING, "AA").is_ok());
    for (why, oid, tag, value, message) in [
        ("C as UTF8String", C, UTF8_STRING, "US", "subject C"),
        (
            "C reserved, not assigned",
            C,
            PRINTABLE_STRING,
            "UK",
            "subject C",
        ),
        ("C unassigned", C, PRINTABLE_STRING, "AB", "subject C"),
        ("C lower case", C, PRINTABLE_STRING, "us", "subject C"),
        (
            "OU as PrintableString",
            OU,
            PRINTABLE_STRING,
            "Authenticator Attestation",
            "subject OU",
        ),
        ("OU other text", OU, UTF8_STRING, "CWG", "subject OU"),
    ] {
        let err = with(oid, tag, value).unwrap_err();
        assert_eq!(err.code(), "attestation_invalid", "{why}");
        assert!(err.to_string().contains(message), "{why}: {err}");
    }
}
