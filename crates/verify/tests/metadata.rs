//! FIDO MDS3 metadata BLOBs built here with our own test CA (`fixtures/make-certificates.sh`
//! and certificates and CRLs built at test time; no network, no third-party data): a valid
//! BLOB, a bad signature, an expired chain, a wrong root, revoked and unchecked chain
//! certificates, a stale BLOB, a rolled-back one, revoked and compromised authenticators,
//! and attestation roots from the metadata making a registration trusted.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use latchkey_cose::Aaguid;
use latchkey_testkit::authenticator::{Attestation, Authenticator, Client, SoftKey};
use latchkey_testkit::jws;
use latchkey_testkit::x509::{CertificateBuilder, RevocationListBuilder};
use latchkey_verify::{
    AuthenticatorStatus, Ceremony, LastAccepted, MetadataBlob, Origins, RegistrationBytes,
    RevocationList, Trust, TrustAnchors, Verifier,
};
use serde_json::json;

mod common;
use common::{INTERMEDIATE, LEAF, ROGUE, ROOT, in_2040, leaf_key, root_key};

/// The AAGUID in `leaf.der`'s id-fido-gen-ce-aaguid extension.
const CERTIFIED: &str = "01020304-0506-0708-090a-0b0c0d0e0f10";
const REVOKED: &str = "aaaaaaaa-0000-4000-8000-000000000001";
const COMPROMISED_THEN_UPDATED: &str = "aaaaaaaa-0000-4000-8000-000000000002";

fn payload(next_update: &str) -> serde_json::Value {
    let root = STANDARD.encode(ROOT);
    json!({
        "legalHeader": "Test data of the latchkey project.",
        "no": 42,
        "nextUpdate": next_update,
        "entries": [
            {
                "aaguid": CERTIFIED,
                "metadataStatement": {
                    "description": "Latchkey Test Key",
                    "attestationRootCertificates": [root],
                },
                "statusReports": [
                    {"status": "FIDO_CERTIFIED_L1", "effectiveDate": "2030-05-01"}
                ],
                "timeOfLastStatusChange": "2030-05-01"
            },
            {
                "aaguid": REVOKED,
                "metadataStatement": {
                    "description": "Withdrawn Key",
                    "attestationRootCertificates": [root],
                },
                "statusReports": [
                    {"status": "FIDO_CERTIFIED", "effectiveDate": "2030-01-01"},
                    {"status": "REVOKED", "effectiveDate": "2035-01-01"}
                ],
                "timeOfLastStatusChange": "2035-01-01"
            },
            {
                "aaguid": COMPROMISED_THEN_UPDATED,
                "statusReports": [
                    {"status": "UPDATE_AVAILABLE", "effectiveDate": "2036-01-01",
                     "authenticatorVersion": 5},
                    {"status": "ATTESTATION_KEY_COMPROMISE", "effectiveDate": "2035-06-01"}
                ],
                "timeOfLastStatusChange": "2036-01-01"
            },
            {
                "attestationCertificateKeyIdentifiers": ["bf7bcaa0d0c6187a8c6abbdd16a15640e7c7bde2"],
                "statusReports": [{"status": "FIDO_CERTIFIED"}],
                "timeOfLastStatusChange": "2020-01-01"
            }
        ]
    })
}

/// The BLOB's signing chain, built here as the FIDO service's is: a signer under an
/// intermediate CA (which may sign CRLs) under the test root.
struct Chain {
    signer: Vec<u8>,
    intermediate: Vec<u8>,
}

fn signer_key() -> SoftKey {
    SoftKey::es256([0x61; 32])
}

fn mds_intermediate_key() -> SoftKey {
    SoftKey::es256([0x62; 32])
}

fn chain() -> Chain {
    let intermediate = CertificateBuilder::new("Latchkey Test Metadata CA")
        .serial(0x62)
        .ca()
        .issued_by(ROOT, &root_key())
        .sign(&mds_intermediate_key())
        .unwrap();
    let signer = CertificateBuilder::new("Latchkey Test Metadata Signer")
        .serial(0x61)
        .issued_by(&intermediate, &mds_intermediate_key())
        .sign(&signer_key())
        .unwrap();
    Chain {
        signer,
        intermediate,
    }
}

/// A compact JWS: ES256 by the signer, x5c leaf first; `alg` may be overridden.
fn blob_with(alg: &str, payload: &serde_json::Value) -> String {
    let chain = chain();
    jws::sign(
        &signer_key(),
        &[&chain.signer, &chain.intermediate],
        &json!({"alg": alg, "typ": "JWT"}),
        payload,
    )
}

fn blob() -> String {
    blob_with("ES256", &payload("2040-02-01"))
}

/// Current CRLs from the root and the intermediate, revoking nothing.
fn crls() -> Vec<RevocationList> {
    let chain = chain();
    parsed(&[
        RevocationListBuilder::new()
            .sign(ROOT, &root_key())
            .unwrap(),
        RevocationListBuilder::new()
            .sign(&chain.intermediate, &mds_intermediate_key())
            .unwrap(),
    ])
}

/// DER CRLs, parsed.
fn parsed(lists: &[Vec<u8>]) -> Vec<RevocationList> {
    lists
        .iter()
        .map(|der| RevocationList::parse(der).unwrap())
        .collect()
}

fn verify(jws: &str, root: &[u8], now: SystemTime) -> Result<MetadataBlob, latchkey_verify::Error> {
    MetadataBlob::verify(jws, &[root], &crls(), now)
}

fn aaguid(text: &str) -> Aaguid {
    text.parse().unwrap()
}

#[test]
fn a_valid_blob_verifies_and_its_entries_are_found_by_aaguid() {
    let blob = verify(&blob(), ROOT, in_2040()).unwrap();
    assert_eq!(blob.number(), 42);
    assert_eq!(blob.next_update(), "2040-02-01");
    assert_eq!(blob.entries().len(), 4);

    let certified = blob.entry(aaguid(CERTIFIED)).unwrap();
    assert_eq!(certified.description(), Some("Latchkey Test Key"));
    assert_eq!(
        certified.status(),
        Some(&AuthenticatorStatus::FidoCertified)
    );
    assert!(!certified.is_compromised());
    assert_eq!(certified.attestation_roots(), [ROOT.to_vec()]);

    // C.116 - Revoked: the latest report, and a compromise.
    let revoked = blob.entry(aaguid(REVOKED)).unwrap();
    assert_eq!(revoked.status(), Some(&AuthenticatorStatus::Revoked));
    assert!(revoked.is_compromised());

    // A key compromise stays a compromise after a later UPDATE_AVAILABLE (old devices
    // keep the broken firmware); the latest status is the update, by effectiveDate.
    let updated = blob.entry(aaguid(COMPROMISED_THEN_UPDATED)).unwrap();
    assert_eq!(
        updated.status(),
        Some(&AuthenticatorStatus::UpdateAvailable)
    );
    assert!(updated.is_compromised());
    assert_eq!(updated.status_reports()[0].authenticator_version, Some(5));

    // C.117 - A U2F entry has no AAGUID and is never found by one (nor gives roots to
    // one); unknown AAGUIDs have no entry.
    assert_eq!(blob.entries()[3].aaguid(), None);
    assert!(blob.entry(Aaguid::ZERO).is_none());
}

#[test]
fn metadata_roots_make_a_registration_trusted_and_skip_compromised_models() {
    let blob = verify(&blob(), ROOT, in_2040()).unwrap();
    let mut anchors = TrustAnchors::default();
    // The certified model's root; the revoked model's is left out.
    assert_eq!(blob.add_roots_to(&mut anchors).unwrap(), 1);

    let client = Client::new("example.com", "https://example.com");
    let authenticator = Authenticator::new(SoftKey::es256([5; 32]))
        .with_aaguid(aaguid(CERTIFIED))
        .with_attestation(Attestation::Packed {
            key: leaf_key(),
            x5c: vec![LEAF.to_vec(), INTERMEDIATE.to_vec()],
        });
    let challenge = b"metadata-registration-challenge!";
    let registration = authenticator.register(&client, challenge);
    let response = RegistrationBytes {
        client_data_json: &registration.client_data_json,
        attestation_object: &registration.attestation_object,
        raw_id: &registration.credential_id,
    };
    let verifier = |anchors: TrustAnchors| {
        Verifier::new("example.com", Origins::new(["https://example.com"]))
            .with_trust_anchors(anchors)
    };
    let verified = verifier(anchors)
        .verify_registration(&response, &Ceremony::new(challenge), in_2040())
        .unwrap();
    assert_eq!(verified.trust(), Trust::Trusted);
    // Without the metadata there is no anchor for this AAGUID.
    let verified = verifier(TrustAnchors::default())
        .verify_registration(&response, &Ceremony::new(challenge), in_2040())
        .unwrap();
    assert_eq!(verified.trust(), Trust::NoAnchor);
}

/// The error code and message of a refused BLOB.
fn refused(jws: &str, root: &[u8], now: SystemTime) -> (&'static str, String) {
    let err = verify(jws, root, now).unwrap_err();
    (err.code(), err.to_string())
}

#[test]
fn a_bad_signature_is_refused() {
    // C.115 (mds-1 F-3): the BLOB's signature.
    let jws = blob();
    let (signed, signature) = jws.rsplit_once('.').unwrap();
    let mut raw = URL_SAFE_NO_PAD.decode(signature).unwrap();
    raw[10] ^= 1;
    let forged = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(raw));
    let (code, message) = refused(&forged, ROOT, in_2040());
    assert_eq!(code, "attestation_untrusted");
    assert!(message.contains("signature"), "{message}");
    // Another payload under the original signature.
    let other = blob_with("ES256", &payload("2040-03-01"));
    let swapped = format!("{}.{signature}", other.rsplit_once('.').unwrap().0);
    assert_eq!(
        refused(&swapped, ROOT, in_2040()).0,
        "attestation_untrusted"
    );
}

#[test]
fn an_expired_chain_or_a_foreign_root_is_refused() {
    // C.115 (mds-1 F-4 to F-6): the BLOB's chain, at the verification time.
    // The certificates run 100 years from their creation in 2026: 2200 is past them,
    // 2000 before them. The BLOB itself is fresh for both.
    let fresh = blob_with("ES256", &payload("2300-01-01"));
    for year_2xxx in [
        SystemTime::UNIX_EPOCH + Duration::from_secs(7_258_118_400), // 2200-01-01
        SystemTime::UNIX_EPOCH + Duration::from_secs(946_684_800),   // 2000-01-01
    ] {
        let (code, message) = refused(&fresh, ROOT, year_2xxx);
        assert_eq!(code, "attestation_untrusted");
        assert!(message.contains("expired or not yet valid"), "{message}");
    }
    let (code, message) = refused(&blob(), ROGUE, in_2040());
    assert_eq!(code, "attestation_untrusted");
    assert!(message.contains("anchor"), "{message}");
    // While the service pins two roots (a root rotation), the one the chain leads to
    // counts, and its CRL with it.
    assert!(MetadataBlob::verify(&blob(), &[ROGUE, ROOT], &crls(), in_2040()).is_ok());
}

#[test]
fn a_stale_blob_and_other_algorithms_are_refused() {
    // C.115: never fall back silently to stale data.
    // nextUpdate 2040-02-01; a day later the BLOB is stale.
    let later = in_2040() + Duration::from_secs(32 * 86_400);
    let (code, message) = refused(&blob(), ROOT, later);
    assert_eq!(code, "attestation_untrusted");
    assert!(message.contains("nextUpdate"), "{message}");
    // On the day itself it is still current.
    assert!(verify(&blob(), ROOT, in_2040() + Duration::from_secs(31 * 86_400)).is_ok());
    for alg in ["none", "HS256", "ES384", "es256"] {
        let (code, message) = refused(&blob_with(alg, &payload("2040-02-01")), ROOT, in_2040());
        assert_eq!(code, "attestation_untrusted", "{alg}");
        assert!(message.contains("alg"), "{alg}: {message}");
    }
}

#[test]
fn malformed_blobs_are_refused_without_panicking() {
    let jws = blob();
    for bad in [
        String::new(),
        "not a jws".to_owned(),
        jws.replacen('.', "..", 1),
        format!("{jws}.AAAA"),
        format!("={jws}"),
    ] {
        let (code, _) = refused(&bad, ROOT, in_2040());
        assert_eq!(code, "malformed", "{bad:.40}");
    }
    // Signed, but the payload is not MDS3: no entries, a bad date, a bad AAGUID.
    for payload in [
        json!({"no": 1, "nextUpdate": "2040-02-01"}),
        json!({"no": 1, "nextUpdate": "2040-2-1", "entries": []}),
        json!({"no": 1, "nextUpdate": "2040-02-01", "entries": [
            {"aaguid": "not-a-uuid", "statusReports": [], "timeOfLastStatusChange": "2030-01-01"}
        ]}),
    ] {
        let (code, message) = refused(&blob_with("ES256", &payload), ROOT, in_2040());
        assert_eq!(code, "malformed", "{message}");
    }
    // Caps: the BLOB's size, the roots of one entry.
    let huge = "a".repeat(latchkey_verify::metadata::MAX_BLOB_BYTES + 1);
    assert_eq!(refused(&huge, ROOT, in_2040()).0, "limit_exceeded");
    let roots = vec![STANDARD.encode(ROOT); latchkey_verify::metadata::MAX_ROOTS_PER_ENTRY + 1];
    let crowded = json!({"no": 1, "nextUpdate": "2040-02-01", "entries": [
        {"aaguid": CERTIFIED, "metadataStatement": {"attestationRootCertificates": roots},
         "statusReports": [], "timeOfLastStatusChange": "2030-01-01"}
    ]});
    assert_eq!(
        refused(&blob_with("ES256", &crowded), ROOT, in_2040()).0,
        "limit_exceeded"
    );
}

/// The error message of a BLOB refused with these CRLs.
fn refused_with(lists: &[Vec<u8>]) -> String {
    let err = MetadataBlob::verify(&blob(), &[ROOT], &parsed(lists), in_2040()).unwrap_err();
    assert_eq!(err.code(), "attestation_untrusted", "{err}");
    err.to_string()
}

#[test]
fn a_revoked_chain_certificate_is_refused() {
    // C.115 (mds-1 F-5, F-6): the intermediate revoked by the root, or the signer by the
    // intermediate.
    let chain = chain();
    let root_list = |builder: RevocationListBuilder| builder.sign(ROOT, &root_key()).unwrap();
    let intermediate_list = |builder: RevocationListBuilder| {
        builder
            .sign(&chain.intermediate, &mds_intermediate_key())
            .unwrap()
    };
    let quiet_root = root_list(RevocationListBuilder::new());
    let quiet_intermediate = intermediate_list(RevocationListBuilder::new());
    let message = refused_with(&[
        root_list(RevocationListBuilder::new().revoke(&chain.intermediate)),
        quiet_intermediate,
    ]);
    assert!(message.contains("revoked"), "{message}");
    let revoking_signer = intermediate_list(RevocationListBuilder::new().revoke(&chain.signer));
    let message = refused_with(&[quiet_root.clone(), revoking_signer]);
    assert!(message.contains("revoked"), "{message}");
    // Another certificate's serial revokes nothing here.
    let revoking_other = intermediate_list(RevocationListBuilder::new().revoke(LEAF));
    let lists = parsed(&[quiet_root, revoking_other]);
    assert!(MetadataBlob::verify(&blob(), &[ROOT], &lists, in_2040()).is_ok());
    // The named looser mode skips revocation altogether.
    assert!(MetadataBlob::verify_without_revocation(&blob(), &[ROOT], in_2040()).is_ok());
}

#[test]
fn each_chain_certificate_needs_a_current_crl_from_its_issuer() {
    // C.115: an unknown revocation status is not "not revoked".
    let chain = chain();
    let root_list = RevocationListBuilder::new()
        .sign(ROOT, &root_key())
        .unwrap();
    let from_intermediate = |builder: RevocationListBuilder, key: &SoftKey| {
        builder.sign(&chain.intermediate, key).unwrap()
    };
    let cases = [
        ("no CRL at all", vec![]),
        ("only the root's", vec![root_list.clone()]),
        (
            "the intermediate's, stale",
            vec![
                root_list.clone(),
                from_intermediate(
                    RevocationListBuilder::new()
                        .updates("20260101000000Z", Some("20300101000000Z")),
                    &mds_intermediate_key(),
                ),
            ],
        ),
        (
            "the intermediate's, not yet issued",
            vec![
                root_list.clone(),
                from_intermediate(
                    RevocationListBuilder::new()
                        .updates("20500101000000Z", Some("20600101000000Z")),
                    &mds_intermediate_key(),
                ),
            ],
        ),
        (
            "the intermediate's, without nextUpdate",
            vec![
                root_list.clone(),
                from_intermediate(
                    RevocationListBuilder::new().updates("20260101000000Z", None),
                    &mds_intermediate_key(),
                ),
            ],
        ),
        (
            "in the intermediate's name, signed by another key",
            vec![
                root_list.clone(),
                from_intermediate(RevocationListBuilder::new(), &SoftKey::es256([0x63; 32])),
            ],
        ),
    ];
    for (case, lists) in cases {
        let message = refused_with(&lists);
        assert!(message.contains("no current CRL"), "{case}: {message}");
    }
    // An issuer whose key usage excludes cRLSign (the fixture intermediate) cannot vouch.
    let fixture_chain_blob = jws::sign(
        &leaf_key(),
        &[LEAF, INTERMEDIATE],
        &json!({"alg": "ES256"}),
        &payload("2040-02-01"),
    );
    let lists = parsed(&[
        root_list,
        RevocationListBuilder::new()
            .sign(INTERMEDIATE, &common::intermediate_key())
            .unwrap(),
    ]);
    let err = MetadataBlob::verify(&fixture_chain_blob, &[ROOT], &lists, in_2040()).unwrap_err();
    assert!(err.to_string().contains("no current CRL"), "{err}");
}

#[test]
fn malformed_and_too_many_crls_are_refused() {
    let chain = chain();
    // A critical extension this library does not process (a delta CRL indicator): the
    // list may not be complete.
    let delta = RevocationListBuilder::new()
        .extension("2.5.29.27", true, &[0x02, 0x01, 0x01])
        .sign(&chain.intermediate, &mds_intermediate_key())
        .unwrap();
    let err = RevocationList::parse(&delta).unwrap_err();
    assert_eq!(err.code(), "malformed", "{err}");
    let mut trailing = RevocationListBuilder::new()
        .sign(ROOT, &root_key())
        .unwrap();
    trailing.push(0);
    for bad in [&b""[..], b"not a CRL", &trailing] {
        assert_eq!(RevocationList::parse(bad).unwrap_err().code(), "malformed");
    }
    let huge = vec![0x30; latchkey_verify::MAX_CRL_LEN + 1];
    assert_eq!(
        RevocationList::parse(&huge).unwrap_err().code(),
        "limit_exceeded"
    );
    let many: Vec<RevocationList> = std::iter::repeat_n(crls(), 5).flatten().collect();
    assert_eq!(
        MetadataBlob::verify(&blob(), &[ROOT], &many, in_2040())
            .unwrap_err()
            .code(),
        "limit_exceeded"
    );
}

#[test]
fn a_rolled_back_blob_is_refused() {
    // C.115: `no` must grow; an older BLOB replayed would undo a revocation.
    let blob = verify(&blob(), ROOT, in_2040()).unwrap();
    assert!(blob.check_newer_than(41).is_ok());
    for previous in [42, 43] {
        let err = blob.check_newer_than(previous).unwrap_err();
        assert_eq!(err.code(), "attestation_untrusted");
    }
}

/// Issue 14, C.115: the rollback check takes the number the service stored and gives
/// back the one to store.
#[test]
fn metadata_rollback_accept_after_the_stored_number_c115() {
    let blob = verify(&blob(), ROOT, in_2040()).unwrap();
    assert_eq!(blob.accept_after(LastAccepted::Never).unwrap(), 42);
    assert_eq!(blob.accept_after(LastAccepted::Number(41)).unwrap(), 42);
    for stored in [42, 43, u64::MAX] {
        let err = blob.accept_after(LastAccepted::Number(stored)).unwrap_err();
        assert_eq!(err.code(), "attestation_untrusted", "{stored}");
    }
    assert_eq!(blob.accept_after(LastAccepted::Reload(42)).unwrap(), 42);
    assert_eq!(
        blob.accept_after(LastAccepted::Reload(43))
            .unwrap_err()
            .code(),
        "attestation_untrusted"
    );
}

/// Issue 14, C.116/C.117: a compromise reported for an attestation certificate key
/// identifier (how MDS lists U2F and zero-AAGUID authenticators) is found through a
/// registration's attestation key identifiers, and only for that key.
#[test]
fn metadata_compromise_by_attestation_key_identifier_c117() {
    use sha1::Digest as _;
    let batch_key = |seed: u8| SoftKey::es256([seed; 32]);
    let batch_certificate = |seed: u8| {
        CertificateBuilder::new("Latchkey U2F Batch")
            .serial(u64::from(seed))
            .self_signed(&batch_key(seed))
            .unwrap()
    };
    let identifier = |seed: u8| -> [u8; 20] {
        sha1::Sha1::digest(batch_key(seed).uncompressed_point().unwrap()).into()
    };
    let hex_of = |bytes: [u8; 20]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let mut with_u2f = payload("2040-02-01");
    with_u2f["entries"].as_array_mut().unwrap().push(json!({
        "metadataStatement": {
            "description": "Broken U2F Key",
            "attestationCertificateKeyIdentifiers": [hex_of(identifier(0x51)).to_uppercase()],
        },
        "attestationCertificateKeyIdentifiers": [hex_of(identifier(0x51))],
        "statusReports": [{"status": "ATTESTATION_KEY_COMPROMISE", "effectiveDate": "2035-01-01"}],
        "timeOfLastStatusChange": "2035-01-01"
    }));
    let blob = verify(&blob_with("ES256", &with_u2f), ROOT, in_2040()).unwrap();
    let entry = blob.entry_by_key_identifier(&identifier(0x51)).unwrap();
    assert_eq!(entry.description(), Some("Broken U2F Key"));
    assert_eq!(
        entry.attestation_certificate_key_identifiers(),
        [identifier(0x51)]
    );
    assert!(blob.entry_by_key_identifier(&identifier(0x52)).is_none());

    let client = Client::new("example.com", "https://example.com");
    let challenge = b"metadata-registration-challenge!";
    let verifier = Verifier::new("example.com", Origins::new(["https://example.com"]));
    let registered = |batch: u8| {
        let registration = Authenticator::new(SoftKey::es256([9; 32]))
            .with_attestation(Attestation::FidoU2f {
                key: batch_key(batch),
                certificate: batch_certificate(batch),
            })
            .register(&client, challenge);
        let response = RegistrationBytes {
            client_data_json: &registration.client_data_json,
            attestation_object: &registration.attestation_object,
            raw_id: &registration.credential_id,
        };
        verifier
            .verify_registration(&response, &Ceremony::new(challenge), in_2040())
            .unwrap()
    };
    let broken = registered(0x51);
    assert_eq!(broken.attestation_key_identifiers(), [identifier(0x51)]);
    assert!(blob.reports_compromise(broken.aaguid(), broken.attestation_key_identifiers()));
    let fine = registered(0x52);
    assert!(!blob.reports_compromise(fine.aaguid(), fine.attestation_key_identifiers()));
    // By AAGUID as before; `none` attestation has no key identifier.
    assert!(blob.reports_compromise(aaguid(REVOKED), &[]));
    assert!(!blob.reports_compromise(aaguid(CERTIFIED), &[]));

    // A key identifier that is not 40 hexadecimal digits makes the BLOB malformed.
    for bad in [
        "bf7bcaa0d0c6187a8c6abbdd16a15640e7c7bd",
        "zz7bcaa0d0c6187a8c6abbdd16a15640e7c7bde2",
    ] {
        let mut edited = payload("2040-02-01");
        edited["entries"][3]["attestationCertificateKeyIdentifiers"] = json!([bad]);
        let err = verify(&blob_with("ES256", &edited), ROOT, in_2040()).unwrap_err();
        assert_eq!(err.code(), "malformed", "{bad}");
    }
}
