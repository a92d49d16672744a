//! Assertions end to end with the software authenticator, and the hostile inputs of the
//! security checklist §C.5, §C.6 and §C.9 that reach `verify_assertion`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use latchkey_cose::Flags;
use latchkey_testkit::authenticator::{Assertion, Authenticator, Client, SoftKey};
use latchkey_verify::{
    AssertionBytes, Ceremony, ClientData, CounterPolicy, CounterVerdict, Error, Origins,
    StoredCredential, UserVerification, VerifiedAssertion, Verifier, VerifierOptions, VerifyingKey,
};

const RP_ID: &str = "example.com";
const ORIGIN: &str = "https://example.com";
const CHALLENGE: &[u8] = b"0123456789abcdef0123456789abcdef";

fn keys() -> Vec<SoftKey> {
    vec![
        SoftKey::es256([7; 32]),
        SoftKey::es384([9; 48]),
        SoftKey::eddsa([3; 32]),
        SoftKey::rs256(),
    ]
}

fn verifier() -> Verifier {
    Verifier::new(RP_ID, Origins::new([ORIGIN]))
}

fn client() -> Client {
    Client::new(RP_ID, ORIGIN)
}

fn verify(
    verifier: &Verifier,
    assertion: &Assertion,
    key: &VerifyingKey,
    stored_count: u32,
) -> Result<VerifiedAssertion, Error> {
    let response = AssertionBytes {
        client_data_json: &assertion.client_data_json,
        authenticator_data: &assertion.authenticator_data,
        signature: &assertion.signature,
    };
    let stored = StoredCredential {
        key,
        sign_count: stored_count,
        backup_eligible: None,
        app_id: None,
        cred_protect: None,
    };
    verifier.verify_assertion(&response, &Ceremony::new(CHALLENGE), &stored)
}

fn setup(key: SoftKey) -> (Authenticator, VerifyingKey) {
    let verifying = VerifyingKey::from_credential_key(&key.public_key()).unwrap();
    (Authenticator::new(key), verifying)
}

/// Re-signs edited authenticator data and client data, so that a test isolates one check.
fn resign(authenticator: &Authenticator, assertion: &mut Assertion) {
    let hash = <sha2::Sha256 as sha2::Digest>::digest(&assertion.client_data_json);
    let message = [assertion.authenticator_data.as_slice(), hash.as_slice()].concat();
    assertion.signature = authenticator.key().sign(&message);
}

#[test]
fn every_algorithm_verifies() {
    for key in keys() {
        let alg = key.algorithm();
        let (mut authenticator, verifying) = setup(key);
        let assertion = authenticator.assert(&client(), CHALLENGE);
        let verified = verify(&verifier(), &assertion, &verifying, 0)
            .unwrap_or_else(|e| panic!("{}: {e}", alg.name()));
        assert_eq!(verified.sign_count(), 1);
        assert_eq!(verified.new_sign_count(), 1);
        assert_eq!(verified.counter(), CounterVerdict::Grows);
        assert!(verified.user_verified());
    }
}

#[test]
fn flipping_any_bit_fails() {
    // Every bit of clientDataJSON, authenticator data and signature, for each algorithm.
    for key in keys() {
        let alg = key.algorithm();
        let (mut authenticator, verifying) = setup(key);
        let assertion = authenticator.assert(&client(), CHALLENGE);
        let verifier = verifier();
        let fields: [fn(&mut Assertion) -> &mut Vec<u8>; 3] = [
            |a| &mut a.client_data_json,
            |a| &mut a.authenticator_data,
            |a| &mut a.signature,
        ];
        for (field_index, field) in fields.iter().enumerate() {
            let len = field(&mut assertion.clone()).len();
            for bit in 0..len * 8 {
                let mut tampered = assertion.clone();
                field(&mut tampered)[bit / 8] ^= 1 << (bit % 8);
                assert!(
                    verify(&verifier, &tampered, &verifying, 0).is_err(),
                    "{}: field {field_index} bit {bit} flipped still verifies",
                    alg.name()
                );
            }
        }
    }
}

#[test]
fn counter_rules() {
    // C.138.
    let (mut authenticator, key) = setup(SoftKey::es256([7; 32]));
    let assertion = authenticator.assert(&client(), CHALLENGE); // counter 1
    let regression = verify(&verifier(), &assertion, &key, 5).unwrap_err();
    assert_eq!(
        regression,
        Error::CounterRegression {
            stored: 5,
            received: 1
        }
    );
    assert_eq!(regression.code(), "counter_regression");
    assert_eq!(
        verify(&verifier(), &assertion, &key, 1).unwrap_err().code(),
        "counter_regression"
    );

    let mut options = VerifierOptions::default();
    options.counter = CounterPolicy::Flag;
    let flagging = verifier().with_options(options);
    let flagged = verify(&flagging, &assertion, &key, 5).unwrap();
    assert_eq!(flagged.counter(), CounterVerdict::Regression);
    assert_eq!(
        flagged.new_sign_count(),
        5,
        "a lower counter never lowers the stored one"
    );

    // No counter at all: both zero is fine; a zero against a stored counter is not.
    let mut counterless = Authenticator::new(SoftKey::es256([7; 32])).with_sign_count(None);
    let zero = counterless.assert(&client(), CHALLENGE);
    assert_eq!(
        verify(&verifier(), &zero, &key, 0).unwrap().counter(),
        CounterVerdict::BothZero
    );
    assert_eq!(
        verify(&verifier(), &zero, &key, 5).unwrap_err().code(),
        "counter_regression"
    );
}

#[test]
fn flags_up_uv_be_bs() {
    let key = SoftKey::es256([7; 32]);
    let verifying = VerifyingKey::from_credential_key(&key.public_key()).unwrap();
    let with = |flags: Flags| Authenticator::new(key.clone()).with_flags(flags);

    // C.57: UP clear.
    let assertion = with(Flags::USER_VERIFIED).assert(&client(), CHALLENGE);
    assert_eq!(
        verify(&verifier(), &assertion, &verifying, 0),
        Err(Error::UserPresenceRequired)
    );
    // C.58: UV required, only UP set.
    let assertion = with(Flags::USER_PRESENT).assert(&client(), CHALLENGE);
    assert_eq!(
        verify(&verifier(), &assertion, &verifying, 0),
        Err(Error::UserVerificationRequired)
    );
    // ...which is fine when UV is only preferred.
    let response = AssertionBytes {
        client_data_json: &assertion.client_data_json,
        authenticator_data: &assertion.authenticator_data,
        signature: &assertion.signature,
    };
    let stored = StoredCredential {
        key: &verifying,
        sign_count: 0,
        backup_eligible: Some(true),
        app_id: None,
        cred_protect: None,
    };
    let preferred = Ceremony {
        user_verification: UserVerification::Preferred,
        ..Ceremony::new(CHALLENGE)
    };
    let verified = verifier()
        .verify_assertion(&response, &preferred, &stored)
        .unwrap();
    assert!(!verified.user_verified());
    assert!(
        verified.backup_eligibility_changed(),
        "stored BE=1, asserted BE=0 (C.140: a warning)"
    );
    // C.55: BS without BE.
    let assertion = with(Flags::USER_PRESENT | Flags::USER_VERIFIED | Flags::BACKED_UP)
        .assert(&client(), CHALLENGE);
    assert_eq!(
        verify(&verifier(), &assertion, &verifying, 0),
        Err(Error::BackupStateWithoutEligibility)
    );
    // C.56: reserved bits are accepted.
    let assertion = with(Flags::from_bits(0x27)).assert(&client(), CHALLENGE);
    assert!(verify(&verifier(), &assertion, &verifying, 0).is_ok());
}

#[test]
fn attested_data_in_an_assertion_is_refused() {
    // C.48: AT set in an assertion (authData taken from a registration, re-signed).
    let (mut authenticator, key) = setup(SoftKey::es256([7; 32]));
    let registration = authenticator.register(&client(), CHALLENGE);
    let att = latchkey_cose::AttestationObject::parse(&registration.attestation_object).unwrap();
    let mut assertion = authenticator.assert(&client(), CHALLENGE);
    assertion.authenticator_data = att.auth_data().as_bytes().to_vec();
    resign(&authenticator, &mut assertion);
    assert_eq!(
        verify(&verifier(), &assertion, &key, 0),
        Err(Error::AttestedDataInAssertion)
    );
}

#[test]
fn rp_id_hash_and_app_id() {
    // C.60: another RP ID, and the same one in another case.
    let (mut authenticator, key) = setup(SoftKey::es256([7; 32]));
    for rp_id in ["evil.example", "Example.com"] {
        let assertion = authenticator.assert(&Client::new(rp_id, ORIGIN), CHALLENGE);
        assert_eq!(
            verify(&verifier(), &assertion, &key, 0),
            Err(Error::RpIdMismatch),
            "{rp_id}"
        );
    }
    // C.148: the AppID hash only for a credential registered through U2F with that AppID.
    let app_id = "https://example.com/app-id.json";
    let assertion = authenticator.assert(&Client::new(app_id, ORIGIN), CHALLENGE);
    assert_eq!(
        verify(&verifier(), &assertion, &key, 0),
        Err(Error::RpIdMismatch)
    );
    let response = AssertionBytes {
        client_data_json: &assertion.client_data_json,
        authenticator_data: &assertion.authenticator_data,
        signature: &assertion.signature,
    };
    let legacy = StoredCredential {
        key: &key,
        sign_count: 0,
        backup_eligible: None,
        app_id: Some(app_id),
        cred_protect: None,
    };
    assert!(
        verifier()
            .verify_assertion(&response, &Ceremony::new(CHALLENGE), &legacy)
            .is_ok()
    );
}

/// An assertion whose clientDataJSON is `json`, correctly signed.
fn with_client_data(json: &[u8]) -> (Assertion, VerifyingKey) {
    let (mut authenticator, key) = setup(SoftKey::es256([7; 32]));
    let mut assertion = authenticator.assert(&client(), CHALLENGE);
    assertion.client_data_json = json.to_vec();
    resign(&authenticator, &mut assertion);
    (assertion, key)
}

fn client_data_verdict(json: &str) -> Result<VerifiedAssertion, Error> {
    let (assertion, key) = with_client_data(json.as_bytes());
    verify(&verifier(), &assertion, &key, 0)
}

const GOOD_CHALLENGE: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY";

#[test]
fn client_data_type() {
    // C.61.
    let body = |ty: &str| format!(r#"{{{ty}"challenge":"{GOOD_CHALLENGE}","origin":"{ORIGIN}"}}"#);
    assert!(client_data_verdict(&body(r#""type":"webauthn.get","#)).is_ok());
    for ty in [r#""type":"webauthn.create","#, r#""type":"","#] {
        assert_eq!(
            client_data_verdict(&body(ty)).unwrap_err(),
            Error::TypeMismatch {
                expected: "webauthn.get"
            }
        );
    }
    for ty in ["", r#""type":1,"#, r#""type":null,"#] {
        assert_eq!(
            client_data_verdict(&body(ty)).unwrap_err().code(),
            "malformed",
            "{ty}"
        );
    }
}

#[test]
fn client_data_challenge() {
    // C.62: missing, empty, a number, standard base64, non-canonical base64url, another.
    let body =
        |challenge: &str| format!(r#"{{"type":"webauthn.get",{challenge}"origin":"{ORIGIN}"}}"#);
    assert_eq!(
        client_data_verdict(&body("")).unwrap_err().code(),
        "malformed"
    );
    assert_eq!(
        client_data_verdict(&body(r#""challenge":1,"#))
            .unwrap_err()
            .code(),
        "malformed"
    );
    for challenge in [
        r#""challenge":"","#,
        r#""challenge":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=","#,
        r#""challenge":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWZ","#, // padding bits set
        r#""challenge":"b3RoZXItY2hhbGxlbmdl","#,
    ] {
        assert_eq!(
            client_data_verdict(&body(challenge)).unwrap_err(),
            Error::ChallengeMismatch,
            "{challenge}"
        );
    }
}

#[test]
fn client_data_duplicates_substrings_and_extras() {
    // C.63: the challenge twice.
    let twice = format!(
        r#"{{"type":"webauthn.get","challenge":"{GOOD_CHALLENGE}","challenge":"b3RoZXI","origin":"{ORIGIN}"}}"#
    );
    assert_eq!(client_data_verdict(&twice).unwrap_err().code(), "malformed");
    // C.68: the right challenge only inside another member's string.
    let nested = format!(
        r#"{{"type":"webauthn.get","challenge":"b3RoZXI","origin":"{ORIGIN}","x":"\"challenge\":\"{GOOD_CHALLENGE}\""}}"#
    );
    assert_eq!(
        client_data_verdict(&nested).unwrap_err(),
        Error::ChallengeMismatch
    );
    // C.69: unknown members are ignored; C.73: tokenBinding in any shape too.
    let extra = format!(
        r#"{{"type":"webauthn.get","challenge":"{GOOD_CHALLENGE}","origin":"{ORIGIN}","other_keys_can_be_added_here":"do not compare clientDataJSON against a template","tokenBinding":"unused"}}"#
    );
    assert!(client_data_verdict(&extra).is_ok());
    // Escapes are decoded before comparing: "\u002f" is "/".
    let escaped = format!(
        r#"{{"type":"webauthn.get","challenge":"{GOOD_CHALLENGE}","origin":"https:\u002f\u002fexample.com"}}"#
    );
    assert!(client_data_verdict(&escaped).is_ok());
}

#[test]
fn client_data_encoding_and_size() {
    let good =
        format!(r#"{{"type":"webauthn.get","challenge":"{GOOD_CHALLENGE}","origin":"{ORIGIN}"}}"#);
    // C.70: a leading BOM is skipped (and the raw bytes, BOM included, are what is hashed).
    let mut bom = b"\xef\xbb\xbf".to_vec();
    bom.extend_from_slice(good.as_bytes());
    let (assertion, key) = with_client_data(&bom);
    assert!(verify(&verifier(), &assertion, &key, 0).is_ok());
    // C.71: invalid UTF-8 and a lone surrogate.
    let mut invalid = good.clone().into_bytes();
    invalid.splice(2..2, [0xff]);
    let (assertion, key) = with_client_data(&invalid);
    assert_eq!(
        verify(&verifier(), &assertion, &key, 0).unwrap_err().code(),
        "malformed"
    );
    let surrogate = good.replace("example.com\"", "example.com\\ud800\"");
    assert_eq!(
        client_data_verdict(&surrogate).unwrap_err().code(),
        "malformed"
    );
    // C.72: an array, null, deep nesting, and more than 8 KiB.
    for json in [
        "[]".to_owned(),
        "null".to_owned(),
        format!("{}{}", "[".repeat(4_000), "]".repeat(4_000)), // under 8 KiB: the JSON depth limit,
    ] {
        assert_eq!(client_data_verdict(&json).unwrap_err().code(), "malformed");
    }
    let padded = good.replace("}", &format!(r#","pad":"{}"}}"#, "x".repeat(9000)));
    assert_eq!(
        client_data_verdict(&padded).unwrap_err().code(),
        "limit_exceeded"
    );
    // C.66: crossOrigin as a string.
    let string_flag = good.replace("}", r#","crossOrigin":"false"}"#);
    assert_eq!(
        client_data_verdict(&string_flag).unwrap_err().code(),
        "malformed"
    );
}

#[test]
fn c72_client_data_with_the_members_in_an_array_is_malformed() {
    // serde's derive reads a struct from a JSON array by position: the dictionary as
    // `["webauthn.get", challenge, origin]` must not verify.
    let positional = format!(r#"["webauthn.get","{GOOD_CHALLENGE}","{ORIGIN}"]"#);
    assert!(ClientData::parse(positional.as_bytes()).is_err());
    assert_eq!(
        client_data_verdict(&positional).unwrap_err().code(),
        "malformed"
    );
    let spaced = format!(" \n{positional}");
    assert_eq!(
        client_data_verdict(&spaced).unwrap_err().code(),
        "malformed"
    );
    // The object form of the same members verifies.
    let object =
        format!(r#"{{"type":"webauthn.get","challenge":"{GOOD_CHALLENGE}","origin":"{ORIGIN}"}}"#);
    assert!(client_data_verdict(&object).is_ok());
}

#[test]
fn c66_c67_cross_origin_and_top_origin_null_are_not_absent() {
    let body = |extra: &str| {
        format!(
            r#"{{"type":"webauthn.get","challenge":"{GOOD_CHALLENGE}","origin":"{ORIGIN}"{extra}}}"#
        )
    };
    for extra in [r#","crossOrigin":null"#, r#","topOrigin":null"#] {
        assert!(
            ClientData::parse(body(extra).as_bytes()).is_err(),
            "{extra}"
        );
        assert_eq!(
            client_data_verdict(&body(extra)).unwrap_err().code(),
            "malformed",
            "{extra}"
        );
    }
    // Absent and false are fine.
    assert!(client_data_verdict(&body("")).is_ok());
    assert!(client_data_verdict(&body(r#","crossOrigin":false"#)).is_ok());
}

#[test]
fn c67_a_cross_origin_ceremony_names_its_top_origin_when_top_origins_are_configured() {
    let framed = Origins::new([ORIGIN]).allow_cross_origin(["https://shop.example"]);
    assert_eq!(
        framed.check(ORIGIN, true, None),
        Err(Error::TopOriginMismatch)
    );
    assert!(
        framed
            .check(ORIGIN, true, Some("https://shop.example"))
            .is_ok()
    );
    // The named looser mode, for browsers that predate topOrigin.
    let legacy = framed.allow_cross_origin_without_top_origin();
    assert!(legacy.check(ORIGIN, true, None).is_ok());
    assert_eq!(
        legacy.check(ORIGIN, true, Some("https://attacker.example")),
        Err(Error::TopOriginMismatch)
    );
}

#[test]
fn client_data_origins_through_verification() {
    // C.64, C.66, C.67 end to end (the rules themselves are unit-tested in `origin`).
    let body = |extra: &str| {
        format!(
            r#"{{"type":"webauthn.get","challenge":"{GOOD_CHALLENGE}","origin":"{ORIGIN}"{extra}}}"#
        )
    };
    assert_eq!(
        client_data_verdict(&body(r#","crossOrigin":true"#)),
        Err(Error::CrossOriginNotAllowed)
    );
    assert_eq!(
        client_data_verdict(&body(r#","topOrigin":"https://attacker.example""#)),
        Err(Error::TopOriginMismatch)
    );
    let evil = format!(
        r#"{{"type":"webauthn.get","challenge":"{GOOD_CHALLENGE}","origin":"https://example.com.evil.com"}}"#
    );
    assert_eq!(client_data_verdict(&evil), Err(Error::OriginMismatch));
}

/// An ES256 assertion with the signature replaced by `signature`.
fn es256_with_signature(signature: Vec<u8>) -> Result<VerifiedAssertion, Error> {
    let (mut authenticator, key) = setup(SoftKey::es256([7; 32]));
    let mut assertion = authenticator.assert(&client(), CHALLENGE);
    assertion.signature = signature;
    verify(&verifier(), &assertion, &key, 0)
}

#[test]
fn ecdsa_signature_encodings() {
    use latchkey_testkit::hex;
    let order = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";
    let der = |r: &str, s: &str| {
        let r = hex::decode(r);
        let s = hex::decode(s);
        let len = |n: usize| u8::try_from(n).unwrap();
        let mut out = vec![0x30, len(4 + r.len() + s.len()), 0x02, len(r.len())];
        out.extend_from_slice(&r);
        out.extend_from_slice(&[0x02, len(s.len())]);
        out.extend_from_slice(&s);
        out
    };
    // C.118: zero and out-of-range scalars.
    for sig in [
        hex::decode("30 06 02 01 00 02 01 00"), // r = s = 0 (CVE-2022-21449)
        der("00", "01"),
        der("01", "00"),
        der(&format!("00{order}"), "01"), // r = n
        der("01", &format!("00{order}")), // s = n
        der(&format!("01{order}"), "01"), // r > n, 33 bytes
    ] {
        assert_eq!(es256_with_signature(sig), Err(Error::SignatureInvalid));
    }

    let (mut authenticator, key) = setup(SoftKey::es256([7; 32]));
    let assertion = authenticator.assert(&client(), CHALLENGE);
    let valid = p256::ecdsa::Signature::from_der(&assertion.signature).unwrap();
    // C.119: raw r || s instead of DER.
    assert_eq!(
        es256_with_signature(valid.to_bytes().to_vec()),
        Err(Error::SignatureInvalid)
    );
    // C.121: trailing byte, long-form length, a third INTEGER.
    let good = assertion.signature.clone();
    let mut trailing = good.clone();
    trailing.push(0);
    let mut long_form = vec![0x30, 0x81, good[1]];
    long_form.extend_from_slice(&good[2..]);
    let mut third = good.clone();
    third[1] += 3;
    third.extend_from_slice(&[0x02, 0x01, 0x01]);
    for sig in [trailing, long_form, third] {
        assert_eq!(es256_with_signature(sig), Err(Error::SignatureInvalid));
    }
    // C.120: a superfluous leading zero on r.
    let (r, s) = valid.split_bytes();
    let mut padded_r = vec![0x00];
    padded_r.extend_from_slice(&r);
    let non_minimal = der(&hex::encode(&padded_r), &hex::encode(&s));
    if r[0] < 0x80 {
        assert_eq!(
            es256_with_signature(non_minimal),
            Err(Error::SignatureInvalid)
        );
    }
    // C.122: high-S is accepted: WebAuthn does not require low-S.
    let (r, s) = valid.split_scalars();
    let high = p256::ecdsa::Signature::from_scalars(r.to_bytes(), (-*s).to_bytes()).unwrap();
    let mut high_s = assertion.clone();
    high_s.signature = high.to_der().as_bytes().to_vec();
    assert!(verify(&verifier(), &high_s, &key, 0).is_ok());
}

#[test]
fn signatures_over_the_wrong_message() {
    // C.123: unhashed client data, a double hash, another client data's hash.
    use sha2::{Digest as _, Sha256};
    let (mut authenticator, key) = setup(SoftKey::es256([7; 32]));
    let assertion = authenticator.assert(&client(), CHALLENGE);
    let auth_data = &assertion.authenticator_data;
    let hash = Sha256::digest(&assertion.client_data_json);
    let other = Sha256::digest(b"{}");
    for message in [
        [auth_data.as_slice(), &assertion.client_data_json].concat(),
        Sha256::digest([auth_data.as_slice(), &hash].concat()).to_vec(),
        [auth_data.as_slice(), &other].concat(),
    ] {
        let mut forged = assertion.clone();
        forged.signature = authenticator.key().sign(&message);
        assert_eq!(
            verify(&verifier(), &forged, &key, 0),
            Err(Error::SignatureInvalid)
        );
    }
}

#[test]
fn ed25519_signature_malleability() {
    // C.125: S + L, and 63- and 65-byte signatures.
    let (mut authenticator, key) = setup(SoftKey::eddsa([3; 32]));
    let assertion = authenticator.assert(&client(), CHALLENGE);
    let order: [u8; 32] = {
        let mut l = [0u8; 32];
        let hex = latchkey_testkit::hex::decode(
            "edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010",
        );
        l.copy_from_slice(&hex);
        l
    };
    let mut s_plus_l = assertion.clone();
    let mut carry = 0u16;
    for (byte, l) in s_plus_l.signature[32..].iter_mut().zip(order) {
        let sum = u16::from(*byte) + u16::from(l) + carry;
        *byte = sum.to_le_bytes()[0];
        carry = sum >> 8;
    }
    assert_eq!(
        verify(&verifier(), &s_plus_l, &key, 0),
        Err(Error::SignatureInvalid)
    );
    for len in [63, 65] {
        let mut wrong = assertion.clone();
        wrong.signature.resize(len, 0);
        assert_eq!(
            verify(&verifier(), &wrong, &key, 0),
            Err(Error::SignatureInvalid)
        );
    }
}

#[test]
fn rsa_signature_length_and_rs1() {
    // C.126: the signature one byte short (a leading zero stripped, or not).
    let (mut authenticator, key) = setup(SoftKey::rs256());
    let assertion = authenticator.assert(&client(), CHALLENGE);
    let mut short = assertion.clone();
    short.signature.remove(0);
    assert_eq!(
        verify(&verifier(), &short, &key, 0),
        Err(Error::SignatureInvalid)
    );
    let mut long = assertion.clone();
    long.signature.insert(0, 0);
    assert_eq!(
        verify(&verifier(), &long, &key, 0),
        Err(Error::SignatureInvalid)
    );
    // C.128: an RS1 key is refused unless RS1 is allowed.
    let public = SoftKey::rs256().public_key();
    let latchkey_cose::KeyParams::Rsa { n, e } = public.params().clone() else {
        panic!()
    };
    let rs1 = latchkey_cose::CredentialPublicKey::new(
        latchkey_cose::Algorithm::Rs1,
        latchkey_cose::KeyParams::Rsa { n, e },
    )
    .unwrap();
    let rs1_key = VerifyingKey::from_credential_key(&rs1).unwrap();
    assert_eq!(
        verify(&verifier(), &assertion, &rs1_key, 0),
        Err(Error::UnsupportedAlgorithm(-65535))
    );
    let mut options = VerifierOptions::default();
    options.signature.allow_rs1 = true;
    let legacy = verifier().with_options(options);
    // Allowed, the RS256 signature still does not verify as RS1: the hash is bound to alg.
    assert_eq!(
        verify(&legacy, &assertion, &rs1_key, 0),
        Err(Error::SignatureInvalid)
    );
}

#[test]
fn stored_key_validation() {
    use latchkey_cose::{Algorithm, CredentialPublicKey, Curve, KeyParams};
    use latchkey_testkit::hex;
    let ec = |x: &str, y: &str| {
        CredentialPublicKey::new(
            Algorithm::Es256,
            KeyParams::Ec2 {
                curve: Curve::P256,
                x: hex::decode(x),
                y: hex::decode(y),
            },
        )
        .unwrap()
    };
    let one = format!("{}01", "00".repeat(31));
    // C.30, C.31, C.32: off the curve, the all-zero "identity", an unreduced coordinate.
    for (x, y) in [
        (one.clone(), one.clone()),
        ("00".repeat(32), "00".repeat(32)),
        ("ff".repeat(32), one),
    ] {
        let err = VerifyingKey::from_credential_key(&ec(&x, &y)).unwrap_err();
        assert_eq!(err.code(), "malformed", "{x} {y}");
    }
    // C.36, C.37: Ed25519 small-order and non-canonical keys.
    for x in [
        "0100000000000000000000000000000000000000000000000000000000000000",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0000000000000000000000000000000000000000000000000000000000000080",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    ] {
        let key = CredentialPublicKey::new(
            Algorithm::EdDsa,
            KeyParams::Okp {
                curve: Curve::Ed25519,
                x: hex::decode(x),
            },
        )
        .unwrap();
        let err = VerifyingKey::from_credential_key(&key).unwrap_err();
        assert_eq!(err.code(), "malformed", "{x}");
    }
    // Ed448 keys: y >= p, a stray bit beside the sign of x, and small-order points
    // (the identity, and a point of order 4: x = 0 is of order 2, y = 0 of order 4).
    let mut p = vec![0xff; 57];
    p[28] = 0xfe;
    p[56] = 0;
    let mut stray = vec![0; 57];
    stray[0] = 1;
    stray[56] = 0x01;
    let mut identity = vec![0; 57];
    identity[0] = 1;
    let mut minus_one = p.clone();
    minus_one[0] = 0xfe;
    for (x, why) in [
        (p, "y = p"),
        (stray, "stray bit"),
        (identity, "identity"),
        (minus_one, "order 2"),
        (vec![0; 57], "order 4"),
        (vec![1; 56], "length"),
    ] {
        let key = CredentialPublicKey::new(
            Algorithm::Ed448,
            KeyParams::Okp {
                curve: Curve::Ed448,
                x,
            },
        );
        // A wrong length is already refused by the COSE layer.
        let Ok(key) = key else {
            assert_eq!(why, "length");
            continue;
        };
        let err = VerifyingKey::from_credential_key(&key).unwrap_err();
        // Without the `ed448` feature every Ed448 key is refused before its bytes are read.
        let expected = if cfg!(feature = "ed448") {
            "malformed"
        } else {
            "unsupported_algorithm"
        };
        assert_eq!(err.code(), expected, "{why}: {err}");
    }
}

/// A user-verified assertion over `authData || SHA-256(clientData)`, signed by `sign`
/// (for algorithms the test kit's `SoftKey` does not have).
fn signed_assertion(sign: impl Fn(&[u8]) -> Vec<u8>) -> Assertion {
    use latchkey_cose::AuthenticatorData;
    use sha2::{Digest as _, Sha256};
    let authenticator_data = AuthenticatorData::builder(client().rp_id_hash())
        .flags(Flags::USER_PRESENT | Flags::USER_VERIFIED)
        .sign_count(1)
        .build();
    let client_data_json = client().client_data_json("webauthn.get", CHALLENGE);
    let message = [
        authenticator_data.as_slice(),
        &Sha256::digest(&client_data_json),
    ]
    .concat();
    Assertion {
        credential_id: vec![1; 16],
        signature: sign(&message),
        client_data_json,
        authenticator_data,
    }
}

/// `assertion` verifies with `key`; a flipped bit in any signed part, or a signature one
/// byte short, does not.
fn assert_verifies_and_tampering_fails(assertion: &Assertion, key: &VerifyingKey, what: &str) {
    assert!(verify(&verifier(), assertion, key, 0).is_ok(), "{what}");
    for field in 0..3 {
        let mut tampered = assertion.clone();
        let bytes = match field {
            0 => &mut tampered.client_data_json,
            1 => &mut tampered.authenticator_data,
            _ => &mut tampered.signature,
        };
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x10;
        assert!(
            verify(&verifier(), &tampered, key, 0).is_err(),
            "{what} field {field}"
        );
    }
    let mut short = assertion.clone();
    short.signature.pop();
    assert_eq!(
        verify(&verifier(), &short, key, 0),
        Err(Error::SignatureInvalid),
        "{what}"
    );
}

/// Without the `ed448` feature an Ed448 credential fails closed.
#[cfg(not(feature = "ed448"))]
#[test]
fn ed448_is_unsupported_without_its_feature() {
    use latchkey_cose::{Algorithm, CredentialPublicKey, Curve, KeyParams};
    let mut x = vec![0; 57];
    x[0] = 0x14; // any 57 bytes: they are never read
    let key = CredentialPublicKey::new(
        Algorithm::Ed448,
        KeyParams::Okp {
            curve: Curve::Ed448,
            x,
        },
    )
    .unwrap();
    let err = VerifyingKey::from_credential_key(&key).unwrap_err();
    assert_eq!(err.code(), "unsupported_algorithm");
}

#[cfg(feature = "ed448")]
#[test]
fn ed448_assertions_verify_and_tampering_fails() {
    // Ed448 (RFC 8032 pure, COSE -53) over authData || SHA-256(clientData).
    use latchkey_cose::{Algorithm, CredentialPublicKey, Curve, KeyParams};

    let signing = ed448_goldilocks::SigningKey::from(&ed448_goldilocks::SecretKey::from([9; 57]));
    let key = CredentialPublicKey::new(
        Algorithm::Ed448,
        KeyParams::Okp {
            curve: Curve::Ed448,
            x: signing.verifying_key().as_bytes().to_vec(),
        },
    )
    .unwrap();
    let key = VerifyingKey::from_credential_key(&key).unwrap();
    let assertion = signed_assertion(|message| signing.sign_raw(message).to_bytes().to_vec());
    assert_verifies_and_tampering_fails(&assertion, &key, "Ed448");
    // S >= L: its 57th byte set.
    let mut high_s = assertion.clone();
    high_s.signature[113] = 0x01;
    assert_eq!(
        verify(&verifier(), &high_s, &key, 0),
        Err(Error::SignatureInvalid)
    );
}

#[test]
fn ml_dsa_assertions_verify_and_tampering_fails() {
    // ML-DSA-44/65/87 (FIPS 204, pure, empty context) over authData || SHA-256(clientData).
    use latchkey_cose::{Algorithm, CredentialPublicKey, KeyParams};
    use ml_dsa::signature::{Keypair as _, Signer as _};

    fn check<P: ml_dsa::MlDsaParams>(algorithm: Algorithm) {
        let signing = ml_dsa::SigningKey::<P>::from_seed(&[11u8; 32].into());
        let public = signing.verifying_key().encode().to_vec();
        let key = CredentialPublicKey::new(algorithm, KeyParams::Akp { public }).unwrap();
        let key = VerifyingKey::from_credential_key(&key).unwrap();
        let assertion = signed_assertion(|message| {
            let signature: ml_dsa::Signature<P> = signing.sign(message);
            signature.encode().to_vec()
        });
        assert_verifies_and_tampering_fails(&assertion, &key, algorithm.name());
    }
    check::<ml_dsa::MlDsa44>(Algorithm::MlDsa44);
    check::<ml_dsa::MlDsa65>(Algorithm::MlDsa65);
    check::<ml_dsa::MlDsa87>(Algorithm::MlDsa87);
}

#[test]
fn the_hash_comes_from_the_algorithm_never_from_the_signature() {
    // C.124: a P-256 signature over the SHA-384 (or SHA-512) digest of the right message.
    // The same key and message under SHA-256 verifies: the refusal is the hash's.
    use p256::ecdsa::signature::hazmat::PrehashSigner as _;
    use sha2::{Digest as _, Sha256, Sha384, Sha512};
    let signing = p256::ecdsa::SigningKey::from_bytes(&[7; 32].into()).unwrap();
    let key = VerifyingKey::from_credential_key(&SoftKey::es256([7; 32]).public_key()).unwrap();
    type Digest = fn(&[u8]) -> Vec<u8>;
    let digests: [(Digest, bool); 3] = [
        (|m| Sha384::digest(m).to_vec(), false),
        (|m| Sha512::digest(m).to_vec(), false),
        (|m| Sha256::digest(m).to_vec(), true),
    ];
    for (digest, verifies) in digests {
        let assertion = signed_assertion(|message| {
            let signature: p256::ecdsa::Signature = signing.sign_prehash(&digest(message)).unwrap();
            signature.to_der().as_bytes().to_vec()
        });
        let result = verify(&verifier(), &assertion, &key, 0);
        if verifies {
            assert!(result.is_ok());
        } else {
            assert_eq!(result, Err(Error::SignatureInvalid));
        }
    }
}

#[test]
fn rsa_signatures_with_a_sloppy_padding_are_refused() {
    // C.127 (Bleichenbacher '06, jsrsasign CVE-2021-30246): with e = 3, s = ceil(cbrt(
    // 00 01 ff.. 00 DigestInfo(SHA-256(m)) 00..)) cubes to the right prefix followed by
    // garbage, with 1 and with 4 ff bytes. Computed offline (integer cube root) for the
    // test kit's modulus; only a verifier that compares the whole encoded message refuses.
    use latchkey_cose::{Algorithm, CredentialPublicKey, KeyParams};
    let KeyParams::Rsa { n, .. } = SoftKey::rs256().public_key().params().clone() else {
        panic!("RSA key")
    };
    let key = CredentialPublicKey::new(Algorithm::Rs256, KeyParams::Rsa { n, e: vec![3] }).unwrap();
    let key = VerifyingKey::from_credential_key(&key).unwrap();
    let message: &[u8] = b"latchkey C.127: Bleichenbacher '06";
    // The signatures' significant bytes; they are left-padded to the modulus length.
    for forged in [
        concat!(
            "32c38624845911817bf125c3cf15343cee1389f8ceff47cdb05d826fecde3ad2",
            "bb2600dca9f6929d21f023e5b505352c781237a0f36681885aabf5141d322c0b",
            "363e88ba09755c85a0d1f2dd0d2b2b43dd106ef997",
        ),
        concat!(
            "32cbfd4a7266bc23f886fcdbd129cda2ade5fce4c36c7889207a8dcced201bef",
            "1ac19e2a153be184660b1cf005f3e2026008e3d668c16865c7f07f90e83a80d0",
            "8bae8a1003013bae373225249414836bfef1c03970",
        ),
    ] {
        let significant = latchkey_testkit::hex::decode(forged);
        let mut signature = vec![0; 256 - significant.len()];
        signature.extend_from_slice(&significant);
        assert_eq!(
            key.verify(
                &[message],
                &signature,
                &latchkey_verify::SignatureOptions::default()
            ),
            Err(Error::SignatureInvalid)
        );
    }
}
