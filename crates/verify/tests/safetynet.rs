//! `android-safetynet` attestation built here: a JWS signed with the test kit's RSA key,
//! whose certificate (`fixtures/make-certificates.sh`) our test CA issued to
//! attest.android.com; and the hostile inputs of checklist C.101-C.103.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use latchkey_cose::AttestationObject;
use latchkey_cose::cbor::{Map, Value};
use latchkey_testkit::authenticator::{Authenticator, Client, Registration, SoftKey};
use latchkey_testkit::jws;
use latchkey_verify::{
    AttestationType, Ceremony, Error, Origins, RegistrationBytes, Trust, TrustAnchors, Verifier,
    VerifierOptions,
};
use sha2::{Digest as _, Sha256};

mod common;
use common::{INTERMEDIATE, ROOT, in_2040};

const CHALLENGE: &[u8] = b"safetynet-registration-challenge";
/// Issued to attest.android.com; its key is `SoftKey::rs256()`.
const SIGNER: &[u8] = include_bytes!("fixtures/safetynet.der");
/// The same key, issued to attest.example.com.
const SIGNER_OTHER_HOST: &[u8] = include_bytes!("fixtures/safetynet-other-host.der");

fn now_ms() -> i64 {
    2_208_988_800_000
}

/// The parts of a SafetyNet attestation, editable before the JWS is signed.
struct SafetyNet {
    registration: Registration,
    ver: &'static str,
    alg: &'static str,
    x5c: Vec<&'static [u8]>,
    nonce: String,
    timestamp_ms: i64,
    cts_profile_match: bool,
}

impl SafetyNet {
    /// A valid attestation, stamped ten seconds before `in_2040()`.
    fn new() -> Self {
        let client = Client::new("example.com", "https://example.com");
        let registration = Authenticator::new(SoftKey::es256([9; 32])).register(&client, CHALLENGE);
        let nonce = STANDARD.encode(Sha256::digest(
            [
                registration.authenticator_data.as_slice(),
                &Sha256::digest(&registration.client_data_json),
            ]
            .concat(),
        ));
        Self {
            registration,
            ver: "14366018",
            alg: "RS256",
            x5c: vec![SIGNER, INTERMEDIATE],
            nonce,
            timestamp_ms: now_ms() - 10_000,
            cts_profile_match: true,
        }
    }

    /// The compact JWS `header.payload.signature`.
    fn jws(&self) -> String {
        let payload = serde_json::json!({
            "nonce": self.nonce,
            "timestampMs": self.timestamp_ms,
            "apkPackageName": "com.google.android.gms",
            "ctsProfileMatch": self.cts_profile_match,
            "basicIntegrity": true,
        });
        let alg = serde_json::json!({ "alg": self.alg });
        jws::sign(&SoftKey::rs256(), &self.x5c, &alg, &payload)
    }

    fn verify_response(
        &self,
        verifier: &Verifier,
        response: &[u8],
    ) -> Result<latchkey_verify::VerifiedRegistration, Error> {
        let att_stmt = Map::new(vec![
            (Value::Text("ver"), Value::Text(self.ver)),
            (Value::Text("response"), Value::Bytes(response)),
        ])
        .unwrap();
        let object = AttestationObject::encode(
            "android-safetynet",
            &Value::Map(att_stmt),
            &self.registration.authenticator_data,
        );
        let response = RegistrationBytes {
            client_data_json: &self.registration.client_data_json,
            attestation_object: &object,
            raw_id: &self.registration.credential_id,
        };
        verifier.verify_registration(&response, &Ceremony::new(CHALLENGE), in_2040())
    }

    fn verify(&self, verifier: &Verifier) -> Result<latchkey_verify::VerifiedRegistration, Error> {
        self.verify_response(verifier, self.jws().as_bytes())
    }
}

fn verifier() -> Verifier {
    let mut anchors = TrustAnchors::default();
    anchors.add_for_format("android-safetynet", ROOT).unwrap();
    Verifier::new("example.com", Origins::new(["https://example.com"])).with_trust_anchors(anchors)
}

/// The error code and message of a refusal.
fn refused(safetynet: &SafetyNet) -> (&'static str, String) {
    let err = safetynet
        .verify(&verifier())
        .expect_err("should be refused");
    (err.code(), err.to_string())
}

#[test]
fn a_valid_safetynet_attestation_verifies_and_is_trusted() {
    let verified = SafetyNet::new().verify(&verifier()).unwrap();
    assert_eq!(verified.fmt(), "android-safetynet");
    assert_eq!(verified.attestation_type(), AttestationType::Basic);
    assert_eq!(verified.trust(), Trust::Trusted);
    // Without anchors for the format the outcome says so, and the checks still ran.
    let bare = Verifier::new("example.com", Origins::new(["https://example.com"]));
    let verified = SafetyNet::new().verify(&bare).unwrap();
    assert_ne!(verified.trust(), Trust::Trusted);
}

#[test]
fn empty_ver_response_and_x5c_are_refused() {
    // C.101: ver "" (F-1), response h'' (F-2), an empty header x5c (F-4).
    let mut safetynet = SafetyNet::new();
    safetynet.ver = "";
    assert!(refused(&safetynet).1.contains("ver"));
    let safetynet = SafetyNet::new();
    let err = safetynet.verify_response(&verifier(), b"").unwrap_err();
    assert_eq!(err.code(), "attestation_invalid");
    let mut safetynet = SafetyNet::new();
    safetynet.x5c.clear();
    assert!(refused(&safetynet).1.contains("x5c is empty"));
}

#[test]
fn nonce_must_be_base64_of_the_hash_of_auth_data_and_client_data() {
    // C.102 (F-3): base64url instead of base64, and the hash of authData alone.
    let mut safetynet = SafetyNet::new();
    let digest = STANDARD.decode(&safetynet.nonce).unwrap();
    safetynet.nonce = URL_SAFE_NO_PAD.encode(&digest);
    // Only differs from base64 when the digest encodes a '+' or '/', or needs padding;
    // a 32-byte digest always needs one '=' in base64, never in base64url.
    assert_eq!(refused(&safetynet).0, "attestation_invalid");
    let mut safetynet = SafetyNet::new();
    safetynet.nonce = STANDARD.encode(Sha256::digest(&safetynet.registration.authenticator_data));
    let (code, message) = refused(&safetynet);
    assert_eq!(code, "attestation_invalid");
    assert!(message.contains("nonce"), "{message}");
}

#[test]
fn only_rs256_signatures_are_accepted() {
    // C.102: alg "none" and "HS256" (the signature is still RS256, which must not matter).
    for alg in ["none", "HS256", "RS384", "rs256"] {
        let mut safetynet = SafetyNet::new();
        safetynet.alg = alg;
        let (code, message) = refused(&safetynet);
        assert_eq!(code, "attestation_invalid", "{alg}");
        assert!(message.contains("RS256"), "{alg}: {message}");
    }
}

#[test]
fn the_jws_must_be_strict_base64url_and_correctly_signed() {
    // C.102: characters outside base64url inserted (the jsrsasign CVE-2022-25898 class),
    // padding, a fourth part, and a flipped payload byte.
    let jws = SafetyNet::new().jws();
    let (header, rest) = jws.split_once('.').unwrap();
    let mutations = [
        format!("{header}.#{rest}"),
        format!("{header}=.{rest}"),
        format!("{header} .{rest}"),
        format!("{jws}.AAAA"),
        jws.replacen('.', "..", 1),
    ];
    for mutated in &mutations {
        let err = SafetyNet::new()
            .verify_response(&verifier(), mutated.as_bytes())
            .unwrap_err();
        assert_eq!(err.code(), "attestation_invalid", "{mutated}: {err}");
    }
    // Another timestamp under the original signature.
    let original = SafetyNet::new();
    let mut other = SafetyNet::new();
    other.timestamp_ms -= 1;
    let forged = {
        let signature = original.jws().rsplit_once('.').unwrap().1.to_owned();
        let signed = other.jws().rsplit_once('.').unwrap().0.to_owned();
        format!("{signed}.{signature}")
    };
    let err = other
        .verify_response(&verifier(), forged.as_bytes())
        .unwrap_err();
    assert_eq!(err.code(), "attestation_invalid");
}

#[test]
fn the_signer_must_be_issued_to_attest_android_com() {
    // C.103: a valid chain to the anchor, for another host.
    let mut safetynet = SafetyNet::new();
    safetynet.x5c = vec![SIGNER_OTHER_HOST, INTERMEDIATE];
    let (code, message) = refused(&safetynet);
    assert_eq!(code, "attestation_untrusted");
    assert!(message.contains("attest.android.com"), "{message}");
}

#[test]
fn timestamps_outside_the_window_are_refused() {
    // C.103: now + 1 h (F-6), now - 2 min (F-7); within the 1 s skew is fine.
    for (offset_ms, accepted) in [
        (3_600_000, false),
        (-120_000, false),
        (1_000, true),
        (-59_000, true),
    ] {
        let mut safetynet = SafetyNet::new();
        safetynet.timestamp_ms = now_ms() + offset_ms;
        let result = safetynet.verify(&verifier());
        assert_eq!(result.is_ok(), accepted, "{offset_ms}: {result:?}");
        if let Err(err) = result {
            assert_eq!(err.code(), "attestation_invalid");
            assert!(err.to_string().contains("timestamp"), "{err}");
        }
    }
    // The window is the service's: `None` skips it, a larger one accepts older stamps.
    let mut safetynet = SafetyNet::new();
    safetynet.timestamp_ms = now_ms() - 120_000;
    for (max_age, accepted) in [(None, true), (Some(300), true), (Some(60), false)] {
        let mut options = VerifierOptions::default();
        options.safetynet_max_age_seconds = max_age;
        let verifier = verifier().with_options(options);
        assert_eq!(safetynet.verify(&verifier).is_ok(), accepted, "{max_age:?}");
    }
}

#[test]
fn cts_profile_mismatch_is_refused_unless_the_service_allows_it() {
    // C.103 (F-5).
    let mut safetynet = SafetyNet::new();
    safetynet.cts_profile_match = false;
    let (code, message) = refused(&safetynet);
    assert_eq!(code, "attestation_invalid");
    assert!(message.contains("ctsProfileMatch"), "{message}");
    let mut options = VerifierOptions::default();
    options.safetynet_require_cts = false;
    let lenient = verifier().with_options(options);
    assert!(safetynet.verify(&lenient).is_ok());
}
