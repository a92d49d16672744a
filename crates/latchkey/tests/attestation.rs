//! The facade's attestation policy through the public API: a scope that requires a
//! trusted attestation, FIDO metadata refusing compromised models and naming passkeys.
//! Certificates and the metadata BLOB are our own (the verify crate's test CA).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use latchkey::json::AttestationConveyance;
use latchkey::json::AuthenticationResponse;
use latchkey::json::RegistrationResponse;
use latchkey::verify::{LastAccepted, MetadataBlob, TrustAnchors};
use latchkey::{
    AccountId, AttestationPolicy, Factor, FinishAuthentication, FinishRegistration, Intent,
    ManualClock, MemoryStore, Passkeys, PolicyConfig, RelyingParty, RequestContext, Scope, StepUp,
    Timestamp, User,
};
use latchkey_cose::Aaguid;
use latchkey_testkit::authenticator::{Attestation, Authenticator, Client, SoftKey};
use latchkey_testkit::block_on;
use latchkey_testkit::{hex, jws};
use serde_json::json;

use latchkey_testkit::ca::{INTERMEDIATE, LEAF, LEAF_ENTERPRISE, ROOT, leaf_key};

/// The AAGUID `leaf.der` attests (its id-fido-gen-ce-aaguid extension).
const CERTIFIED: [u8; 16] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];
const REVOKED: [u8; 16] = [0xaa; 16];

/// 2040-01-01: inside the test certificates' validity.
const NOW: Timestamp = Timestamp(2_208_988_800);

fn metadata() -> MetadataBlob {
    metadata_with(7, json!([]))
}

/// The test BLOB numbered `no`, with `extra` entries after the two of every test.
fn metadata_with(no: u64, extra: serde_json::Value) -> MetadataBlob {
    let mut payload = json!({
        "no": no,
        "nextUpdate": "2040-02-01",
        "entries": [
            {
                "aaguid": Aaguid::from_bytes(CERTIFIED).to_string(),
                "metadataStatement": {
                    "description": "Latchkey Test Key",
                    "attestationRootCertificates": [base64_std(ROOT)],
                },
                "statusReports": [{"status": "FIDO_CERTIFIED_L2"}],
                "timeOfLastStatusChange": "2030-01-01"
            },
            {
                "aaguid": Aaguid::from_bytes(REVOKED).to_string(),
                "metadataStatement": {"description": "Withdrawn Key"},
                "statusReports": [{"status": "REVOKED", "effectiveDate": "2035-01-01"}],
                "timeOfLastStatusChange": "2035-01-01"
            }
        ]
    });
    if let (Some(entries), Some(extra)) = (payload["entries"].as_array_mut(), extra.as_array()) {
        entries.extend(extra.iter().cloned());
    }
    let blob = jws::sign(&leaf_key(), &[LEAF, INTERMEDIATE], &json!({}), &payload);
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(NOW.0.try_into().unwrap());
    // Revocation of the BLOB's chain is the verify crate's tests' concern.
    MetadataBlob::verify_without_revocation(&blob, &[ROOT], now).unwrap()
}

fn base64_std(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn passkeys(policy: AttestationPolicy) -> Passkeys<MemoryStore> {
    let rp = RelyingParty::builder("example.com", "Example")
        .origin("https://example.com")
        .build()
        .unwrap();
    Passkeys::new(rp, MemoryStore::new())
        .with_clock(Arc::new(ManualClock::new(NOW)))
        .with_attestation_policy(policy)
}

/// The policy that Pay passkeys need an attestation chaining to a trust anchor.
fn pay_needs_trust(passkeys: Passkeys<MemoryStore>) -> Passkeys<MemoryStore> {
    let mut policy = PolicyConfig::default();
    policy.trusted_attestation.push(Scope::Pay);
    passkeys.with_policy(policy)
}

fn register(
    passkeys: &Passkeys<MemoryStore>,
    authenticator: &Authenticator,
    scope: Scope,
    name: Option<&str>,
) -> latchkey::Result<latchkey::Registered> {
    let alice = AccountId::new("alice");
    let user = User {
        name: "alice".into(),
        display_name: "Alice".into(),
    };
    let step_up = StepUp::Factors(vec![Factor::Email, Factor::Totp]);
    let options = block_on(passkeys.start_registration(&alice, &user, scope, &step_up))?;
    let client = Client::new("example.com", "https://example.com");
    let json = authenticator.registration_json(&client, &options.challenge);
    block_on(
        passkeys.finish_registration(
            FinishRegistration::new(
                &alice,
                &RegistrationResponse::from_json(&json)?,
                &step_up,
                &RequestContext::default(),
            )
            .name(name),
        ),
    )
}

/// A security key of model `aaguid` with a packed attestation by the test CA's leaf.
fn hardware_key(seed: u8, aaguid: [u8; 16]) -> Authenticator {
    Authenticator::new(SoftKey::es256([seed; 32]))
        .with_aaguid(Aaguid::from_bytes(aaguid))
        .with_attestation(Attestation::Packed {
            key: leaf_key(),
            x5c: vec![LEAF.to_vec(), INTERMEDIATE.to_vec()],
        })
}

#[test]
fn a_scope_can_require_a_trusted_attestation() {
    let service = pay_needs_trust(passkeys(
        AttestationPolicy::default()
            .metadata(metadata(), LastAccepted::Never)
            .unwrap(),
    ));
    // `none` attestation: fine for Exchange, refused for Pay, and nothing is stored.
    let software = Authenticator::new(SoftKey::es256([1; 32]));
    register(&service, &software, Scope::Exchange, None).unwrap();
    let other = Authenticator::new(SoftKey::es256([2; 32]));
    let err = register(&service, &other, Scope::Pay, None).unwrap_err();
    assert_eq!(err.code(), "attestation_untrusted");
    let alice = AccountId::new("alice");
    assert!(
        block_on(service.list(&alice, Scope::Pay))
            .unwrap()
            .is_empty()
    );
    // A certified security key chains to the root the metadata gave.
    let registered = register(&service, &hardware_key(3, CERTIFIED), Scope::Pay, None).unwrap();
    assert_eq!(registered.credential.name, "Latchkey Test Key");

    // Without metadata or anchors nothing is trusted.
    let bare = pay_needs_trust(passkeys(AttestationPolicy::default()));
    let err = register(&bare, &hardware_key(4, CERTIFIED), Scope::Pay, None).unwrap_err();
    assert_eq!(err.code(), "attestation_untrusted");
    // Anchors given directly serve as well.
    let mut anchors = TrustAnchors::default();
    anchors.add_for_format("packed", ROOT).unwrap();
    let anchored = pay_needs_trust(passkeys(
        AttestationPolicy::default().trust_anchors(anchors),
    ));
    let registered = register(&anchored, &hardware_key(5, CERTIFIED), Scope::Pay, None).unwrap();
    assert_eq!(registered.credential.name, "Passkey");
}

#[test]
fn metadata_refuses_compromised_models_and_names_passkeys() {
    let service = passkeys(
        AttestationPolicy::default()
            .metadata(metadata(), LastAccepted::Never)
            .unwrap(),
    );
    // A revoked model is refused in any scope, whatever its attestation.
    let revoked =
        Authenticator::new(SoftKey::es256([6; 32])).with_aaguid(Aaguid::from_bytes(REVOKED));
    let err = register(&service, &revoked, Scope::Exchange, None).unwrap_err();
    assert_eq!(err.code(), "attestation_untrusted");
    assert!(err.to_string().contains("compromised"), "{err}");
    // The description names a passkey of a model the AAGUID table does not know; the
    // user's own name wins; a second one gets a number.
    let first = register(&service, &hardware_key(7, CERTIFIED), Scope::Exchange, None).unwrap();
    assert_eq!(first.credential.name, "Latchkey Test Key");
    let second = register(&service, &hardware_key(8, CERTIFIED), Scope::Exchange, None).unwrap();
    assert_eq!(second.credential.name, "Latchkey Test Key 2");
    let named = register(
        &service,
        &hardware_key(9, CERTIFIED),
        Scope::Exchange,
        Some("Desk key"),
    )
    .unwrap();
    assert_eq!(named.credential.name, "Desk key");
}

fn rp_builder() -> latchkey::RelyingPartyBuilder {
    RelyingParty::builder("example.com", "Example").origin("https://example.com")
}

fn service_for(rp: RelyingParty, policy: AttestationPolicy) -> Passkeys<MemoryStore> {
    Passkeys::new(rp, MemoryStore::new())
        .with_clock(Arc::new(ManualClock::new(NOW)))
        .with_attestation_policy(policy)
}

/// A login by `authenticator` (a passkey of alice's Exchange scope).
fn login(
    passkeys: &Passkeys<MemoryStore>,
    authenticator: &mut Authenticator,
) -> latchkey::Result<latchkey::Authenticated> {
    let alice = AccountId::new("alice");
    let options = block_on(passkeys.start_authentication(&alice, Intent::Login, None))?;
    let client = Client::new("example.com", "https://example.com");
    let json = authenticator.authentication_json(
        &client,
        &options.challenge,
        &passkeys.user_handle(&alice, Scope::Exchange),
    );
    block_on(passkeys.finish_authentication(FinishAuthentication::new(
        &AuthenticationResponse::from_json(&json)?,
        &RequestContext::default(),
    )))
}

/// Issue 14, C.35: RS1 is offered only when the relying party enables it, and then an
/// RS1 passkey registers and signs in. Before, it registered and every login failed with
/// `unsupported_algorithm`.
#[test]
fn rs1_is_offered_only_with_allow_rs1_c35() {
    let err = rp_builder()
        .algorithms(&[
            latchkey_cose::Algorithm::Es256,
            latchkey_cose::Algorithm::Rs1,
        ])
        .build()
        .unwrap_err();
    assert_eq!(err.code(), "internal");
    assert!(err.to_string().contains("allow_rs1"), "{err}");

    // Not offered: an RS1 key is refused at registration, not at every login.
    let service = service_for(rp_builder().build().unwrap(), AttestationPolicy::default());
    let rs1 = Authenticator::new(SoftKey::rs1());
    let err = register(&service, &rs1, Scope::Exchange, None).unwrap_err();
    assert_eq!(err.code(), "unsupported_algorithm");

    // Enabled and offered: it registers and signs in.
    let rp = rp_builder()
        .algorithms(&[
            latchkey_cose::Algorithm::Es256,
            latchkey_cose::Algorithm::Rs1,
        ])
        .allow_rs1()
        .build()
        .unwrap();
    assert!(rp.allows_rs1());
    let service = service_for(rp, AttestationPolicy::default());
    let mut rs1 = Authenticator::new(SoftKey::rs1());
    register(&service, &rs1, Scope::Exchange, None).unwrap();
    login(&service, &mut rs1).unwrap();
}

/// Issue 14: the verifier accepts the FIDO enterprise serial extension when the relying
/// party asks for `enterprise` conveyance, and only then (C.81).
#[test]
fn enterprise_attestation_only_with_enterprise_conveyance_c81() {
    let enterprise_key = || {
        Authenticator::new(SoftKey::es256([11; 32]))
            .with_aaguid(Aaguid::from_bytes(CERTIFIED))
            .with_attestation(Attestation::Packed {
                key: leaf_key(),
                x5c: vec![LEAF_ENTERPRISE.to_vec(), INTERMEDIATE.to_vec()],
            })
    };
    let mut anchors = TrustAnchors::default();
    anchors.add_for_format("packed", ROOT).unwrap();
    let policy = || AttestationPolicy::default().trust_anchors(anchors.clone());
    for conveyance in [
        AttestationConveyance::None,
        AttestationConveyance::Indirect,
        AttestationConveyance::Direct,
    ] {
        let service = service_for(
            rp_builder().attestation(conveyance).build().unwrap(),
            policy(),
        );
        let err = register(&service, &enterprise_key(), Scope::Exchange, None).unwrap_err();
        assert_eq!(err.code(), "attestation_untrusted", "{conveyance:?}");
    }
    let rp = rp_builder()
        .attestation(AttestationConveyance::Enterprise)
        .build()
        .unwrap();
    assert!(rp.enterprise_attestation());
    let service = pay_needs_trust(service_for(rp, policy()));
    register(&service, &enterprise_key(), Scope::Pay, None).unwrap();
}

/// Issue 14, C.115: a metadata BLOB whose number does not grow past the one the service
/// stored is refused; the service gets the number to store back.
#[test]
fn metadata_rollback_is_refused_by_default_c115() {
    let err = AttestationPolicy::default()
        .metadata(metadata_with(7, json!([])), LastAccepted::Number(7))
        .unwrap_err();
    assert_eq!(err.code(), "attestation_untrusted");
    let err = AttestationPolicy::default()
        .metadata(metadata_with(7, json!([])), LastAccepted::Number(8))
        .unwrap_err();
    assert_eq!(err.code(), "attestation_untrusted");
    let policy = AttestationPolicy::default()
        .metadata(metadata_with(7, json!([])), LastAccepted::Number(6))
        .unwrap();
    assert_eq!(policy.metadata_number(), Some(7));
    // A restart that reloads the BLOB it stored (same number) is not a rollback.
    let policy = AttestationPolicy::default()
        .metadata(metadata_with(7, json!([])), LastAccepted::Reload(7))
        .unwrap();
    assert_eq!(policy.metadata_number(), Some(7));
    assert!(
        AttestationPolicy::default()
            .metadata(metadata_with(7, json!([])), LastAccepted::Reload(8))
            .is_err()
    );
    assert_eq!(AttestationPolicy::default().metadata_number(), None);
}

/// Issue 14, C.116/C.117: a U2F security key (zero AAGUID) whose attestation certificate
/// key identifier a metadata entry reports compromised is refused; other U2F keys, and
/// entries naming other key identifiers, are not affected.
#[test]
fn metadata_compromise_matches_attestation_key_identifiers_c117() {
    use sha1::Digest as _;
    let batch_key = |seed: u8| SoftKey::es256([seed; 32]);
    let batch_certificate = |seed: u8| {
        latchkey_testkit::x509::CertificateBuilder::new("Latchkey U2F Batch")
            .serial(u64::from(seed))
            .self_signed(&batch_key(seed))
            .unwrap()
    };
    let key_identifier = |seed: u8| {
        hex::encode(&sha1::Sha1::digest(
            batch_key(seed).uncompressed_point().unwrap(),
        ))
    };
    let u2f_key = |seed: u8, batch: u8| {
        Authenticator::new(SoftKey::es256([seed; 32])).with_attestation(Attestation::FidoU2f {
            key: batch_key(batch),
            certificate: batch_certificate(batch),
        })
    };
    let blob = metadata_with(
        8,
        json!([
            {
                "attestationCertificateKeyIdentifiers": [key_identifier(0x41)],
                "statusReports": [
                    {"status": "FIDO_CERTIFIED", "effectiveDate": "2030-01-01"},
                    {"status": "ATTESTATION_KEY_COMPROMISE", "effectiveDate": "2035-01-01"}
                ],
                "timeOfLastStatusChange": "2035-01-01"
            },
            {
                "attestationCertificateKeyIdentifiers": [key_identifier(0x42)],
                "statusReports": [{"status": "FIDO_CERTIFIED", "effectiveDate": "2030-01-01"}],
                "timeOfLastStatusChange": "2030-01-01"
            }
        ]),
    );
    let service = passkeys(
        AttestationPolicy::default()
            .metadata(blob, LastAccepted::Number(7))
            .unwrap(),
    );
    let err = register(&service, &u2f_key(21, 0x41), Scope::Exchange, None).unwrap_err();
    assert_eq!(err.code(), "attestation_untrusted");
    assert!(err.to_string().contains("compromised"), "{err}");
    register(&service, &u2f_key(22, 0x42), Scope::Exchange, None).unwrap();
    register(&service, &u2f_key(23, 0x43), Scope::Exchange, None).unwrap();
}
