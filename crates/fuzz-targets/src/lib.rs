//! The bodies of latchkey's fuzz targets.
//!
//! `fuzz/` (cargo-fuzz, its own workspace) calls these from one target each; the replay
//! test in this crate runs every committed corpus file through them on stable, so CI
//! covers the corpus without a fuzzer. Every function must return normally for any input:
//! a panic is a bug.

use std::time::{Duration, SystemTime};

use latchkey::RelyingParty;
use latchkey::json::{AuthenticationResponse, RegistrationResponse};
use latchkey_cose::cbor::{self, Value};
use latchkey_cose::{AttestationObject, AuthenticatorData, CredentialPublicKey, ParseOptions};
use latchkey_verify::{
    AssertionBytes, Ceremony, ClientData, MetadataBlob, Origins,
    RegistrationBytes as VerifyRegistration, RevocationList, StoredCredential, TrustAnchors,
    Verifier, VerifyingKey,
};

/// A fuzz target body.
pub type Target = fn(&[u8]);

/// The fuzz targets by name, for the replay test and the corpus generator.
pub const TARGETS: &[(&str, Target)] = &[
    ("authenticator_data", authenticator_data),
    ("attestation_object", attestation_object),
    ("cose_key", cose_key),
    ("client_data", client_data),
    ("response_json", response_json),
    ("x509_chain", x509_chain),
    ("verify_assertion", verify_assertion),
    ("verify_registration", verify_registration),
    ("cbor_roundtrip", cbor_roundtrip),
    ("metadata_blob", metadata_blob),
    ("revocation_list", revocation_list),
    ("approval_receipt", approval_receipt),
    ("es256_table", es256_table),
];

const OPTIONS: [ParseOptions; 2] = [ParseOptions::STRICT, ParseOptions::RELAXED];

/// Authenticator data, strict and relaxed.
pub fn authenticator_data(data: &[u8]) {
    for options in &OPTIONS {
        let _ = AuthenticatorData::parse_with(data, options);
    }
}

/// Attestation objects, strict and relaxed.
pub fn attestation_object(data: &[u8]) {
    for options in &OPTIONS {
        let _ = AttestationObject::parse_with(data, options);
    }
}

/// COSE keys, then verifying keys built from them.
pub fn cose_key(data: &[u8]) {
    for options in &OPTIONS {
        if let Ok(key) = CredentialPublicKey::from_cose_with(data, options) {
            let _ = VerifyingKey::from_credential_key(&key);
        }
    }
}

/// clientDataJSON, and its checks against fixed expectations.
pub fn client_data(data: &[u8]) {
    if let Ok(client_data) = ClientData::parse(data) {
        let origins = Origins::new(["https://example.com"]).allow_subdomains_of("example.com");
        let _ = client_data.check(latchkey_verify::CeremonyType::Get, b"challenge", &origins);
    }
}

/// The WebAuthn JSON responses a browser posts, through the one path every caller
/// takes: parse, then the envelope checks and decoding.
pub fn response_json(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(response) = RegistrationResponse::from_json(text) {
            let _ = response.client_data_json();
            let _ = response.decode();
        }
        if let Ok(response) = AuthenticationResponse::from_json(text) {
            let _ = response.client_data_json();
            let _ = response.decode();
        }
    }
}

/// Splits input into length-prefixed parts (2-byte big-endian lengths).
fn parts(mut data: &[u8], count: usize) -> Vec<&[u8]> {
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let len = match data {
            [high, low, rest @ ..] => {
                data = rest;
                usize::from(u16::from_be_bytes([*high, *low]))
            }
            _ => 0,
        };
        let (part, rest) = data.split_at(len.min(data.len()));
        out.push(part);
        data = rest;
    }
    out
}

/// A registration of fixed shape whose `packed` statement carries fuzzed certificates:
/// certificate parsing, chain building and trust to a fixed anchor.
pub fn x509_chain(data: &[u8]) {
    let certificates = parts(data, 3);
    let entries: Vec<(Value<'_>, Value<'_>)> = vec![
        (Value::Text("alg"), Value::Integer(-7)),
        (
            Value::Text("sig"),
            Value::Bytes(&[0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01]),
        ),
        (
            Value::Text("x5c"),
            Value::Array(certificates.iter().map(|c| Value::Bytes(c)).collect()),
        ),
    ];
    let Ok(map) = cbor::Map::new(entries) else {
        return;
    };
    let fixture = fixture();
    let object = AttestationObject::encode("packed", &Value::Map(map), &fixture.auth_data);
    let mut anchors = TrustAnchors::default();
    if let Some(root) = certificates.last() {
        let _ = anchors.add_for_format("packed", root);
    }
    let verifier = Verifier::new("example.com", Origins::new(["https://example.com"]))
        .with_trust_anchors(anchors);
    let response = VerifyRegistration {
        client_data_json: &fixture.client_data_json,
        attestation_object: &object,
        raw_id: &fixture.credential_id,
    };
    let _ = verifier.verify_registration(&response, &Ceremony::new(CHALLENGE), in_2040());
}

/// The root the metadata BLOBs of the corpus chain to (the verify crate's test CA).
pub const METADATA_ROOT: &[u8] = latchkey_testkit::ca::ROOT;

/// A FIDO metadata BLOB (JWS text) verified against a fixed root: JWS splitting, strict
/// base64url, header JSON, the x5c chain, the signature, the payload and its entries
/// (revocation left out: it would stop every input before the signature).
pub fn metadata_blob(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(blob) = MetadataBlob::verify_without_revocation(text, &[METADATA_ROOT], in_2040()) {
        for entry in blob.entries() {
            let _ = (entry.status(), entry.is_compromised(), entry.description());
        }
        let _ = blob.add_roots_to(&mut TrustAnchors::default());
    }
}

/// `verify_assertion` end to end with a fixed ES256 key: input is clientDataJSON,
/// authenticatorData and signature, length-prefixed.
pub fn verify_assertion(data: &[u8]) {
    let [client_data_json, authenticator_data, signature] = parts(data, 3)[..] else {
        return;
    };
    let fixture = fixture();
    let verifier = Verifier::new("example.com", Origins::new(["https://example.com"]));
    let stored = StoredCredential {
        key: &fixture.key,
        sign_count: 0,
        backup_eligible: None,
        app_id: None,
        cred_protect: None,
    };
    let response = AssertionBytes {
        client_data_json,
        authenticator_data,
        signature,
    };
    let _ = verifier.verify_assertion(&response, &Ceremony::new(CHALLENGE), &stored);
}

/// `verify_registration` end to end: input is clientDataJSON and attestationObject,
/// length-prefixed.
pub fn verify_registration(data: &[u8]) {
    let [client_data_json, attestation_object] = parts(data, 2)[..] else {
        return;
    };
    let verifier = Verifier::new("example.com", Origins::new(["https://example.com"]));
    let raw_id = AttestationObject::parse(attestation_object)
        .map(|a| a.credential().credential_id().to_vec())
        .unwrap_or_default();
    let response = VerifyRegistration {
        client_data_json,
        attestation_object,
        raw_id: &raw_id,
    };
    let _ = verifier.verify_registration(&response, &Ceremony::new(CHALLENGE), in_2040());
}

/// Decode, encode, decode: a value that decodes re-encodes canonically to the same value;
/// strictly accepted input is its own canonical encoding.
///
/// # Panics
///
/// When either property fails: that is the bug this target looks for.
pub fn cbor_roundtrip(data: &[u8]) {
    for options in &OPTIONS {
        if let Ok(value) = cbor::decode(data, options) {
            let encoded = value.to_vec();
            let again = cbor::decode(&encoded, &ParseOptions::STRICT);
            assert_eq!(
                again.as_ref(),
                Ok(&value),
                "canonical re-encoding does not decode to the same value"
            );
            if *options == ParseOptions::STRICT {
                assert_eq!(
                    encoded, data,
                    "strictly accepted input is not its canonical encoding"
                );
            }
        }
    }
}

/// An approval receipt (JSON) re-verified as an auditor would, with fixed ES256 and
/// EdDSA keys for `example.com`; then in bulk, which must give the one-by-one verdicts
/// (the EdDSA items go through the Ed25519 batch).
///
/// # Panics
///
/// When the bulk and one-by-one verdicts differ: that is the bug this target looks for.
pub fn approval_receipt(data: &[u8]) {
    let Ok(receipt) = serde_json::from_slice::<latchkey::ApprovalReceipt>(data) else {
        return;
    };
    let Ok(rp) = RelyingParty::builder("example.com", "fuzz")
        .origin("https://example.com")
        .build()
    else {
        return;
    };
    // The records it is checked against: the passkey it names, with each test key (the
    // checks then reach the signature for the key it really carries).
    let id = latchkey::json::unb64(&receipt.credential_id, "credentialId").unwrap_or_default();
    let [es256, eddsa] = receipt_keys();
    let signer = |public_key| latchkey::ReceiptSigner {
        credential_id: &id,
        public_key,
        scope: receipt.scope,
        app_id: None,
    };
    let items = [
        (&receipt, signer(es256.as_slice())),
        (&receipt, signer(eddsa.as_slice())),
        (&receipt, signer(eddsa.as_slice())),
    ];
    let one_by_one: Vec<_> = items
        .iter()
        .map(|(receipt, signer)| receipt.verify(signer, &rp, None))
        .collect();
    assert_eq!(latchkey::verify_receipts(&rp, &items), one_by_one);
}

/// The COSE keys [`approval_receipt`] verifies with: ES256 and EdDSA test kit keys.
#[must_use]
pub fn receipt_keys() -> [Vec<u8>; 2] {
    use latchkey_testkit::authenticator::SoftKey;
    [SoftKey::es256([9; 32]), SoftKey::eddsa([9; 32])]
        .map(|key| key.public_key().as_cose_bytes().to_vec())
}

/// The challenge every fixed-shape target expects.
pub const CHALLENGE: &[u8] = b"fuzzing-challenge-32-bytes-long!";

fn in_2040() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(2_208_988_800)
}

/// A valid registration's parts and its key, from the test kit.
pub struct Fixture {
    /// The registration's authenticator data.
    pub auth_data: Vec<u8>,
    /// The registration's clientDataJSON.
    pub client_data_json: Vec<u8>,
    /// The credential id.
    pub credential_id: Vec<u8>,
    /// The credential's verifying key.
    pub key: VerifyingKey,
}

/// The fixed registration the end-to-end targets build on.
///
/// # Panics
///
/// Never: the test kit's key is valid.
#[must_use]
#[allow(clippy::expect_used)] // safe: fixed, valid test kit input
pub fn fixture() -> Fixture {
    use latchkey_testkit::authenticator::{Authenticator, Client, SoftKey};
    let soft = SoftKey::es256([9; 32]);
    let key = VerifyingKey::from_credential_key(&soft.public_key()).expect("test kit key");
    let registration = Authenticator::new(soft).register(
        &Client::new("example.com", "https://example.com"),
        CHALLENGE,
    );
    Fixture {
        auth_data: registration.authenticator_data,
        client_data_json: registration.client_data_json,
        credential_id: registration.credential_id,
        key,
    }
}

/// The corpus's valid metadata BLOB, whose chain [`revocation_list`] checks.
const METADATA_BLOB: &str = include_str!("../../../fuzz/corpus/metadata_blob/valid");

/// A CRL: the DER parser, then the revocation check of a valid BLOB's chain with it
/// (issuer match, key usage, signature, dates, serials).
pub fn revocation_list(data: &[u8]) {
    if let Ok(list) = RevocationList::parse(data) {
        let _ = MetadataBlob::verify(METADATA_BLOB, &[METADATA_ROOT], &[list], in_2040());
    }
}

/// ES256's table path (a key from its second use) and plain p256 (a fresh key) agree on
/// every signature. Input: a 32-byte key seed, a mode byte, a 32-byte message, then either
/// bytes xored into the genuine signature's `r || s` (odd mode) or a DER signature as it
/// is (even mode).
///
/// # Panics
///
/// When the two paths disagree: that is the finding.
pub fn es256_table(data: &[u8]) {
    let (Some(seed), Some(mode), Some(message)) = (data.get(..32), data.get(32), data.get(33..65))
    else {
        return;
    };
    let rest = data.get(65..).unwrap_or_default();
    let mut key_seed = [0u8; 32];
    key_seed.copy_from_slice(seed);
    let soft = latchkey_testkit::authenticator::SoftKey::es256(key_seed);
    let cose = soft.public_key();
    let Ok(warm) = VerifyingKey::from_cose(cose.as_cose_bytes()) else {
        return;
    };
    let options = latchkey_verify::SignatureOptions::default();
    let signature = if mode & 1 == 1 {
        let genuine = soft.sign(message);
        let Ok(parsed) = p256::ecdsa::Signature::from_der(&genuine) else {
            return;
        };
        let mut bytes: [u8; 64] = parsed.to_bytes().into();
        for (byte, mask) in bytes.iter_mut().zip(rest) {
            *byte ^= mask;
        }
        match p256::ecdsa::Signature::from_slice(&bytes) {
            Ok(tampered) => tampered.to_der().as_bytes().to_vec(),
            Err(_) => return,
        }
    } else {
        rest.to_vec()
    };
    // The first use goes the plain way; from the second, the table.
    let _ = warm.verify(&[b"warm up"], &signature, &options);
    let table = warm.verify(&[message], &signature, &options).is_ok();
    let plain = VerifyingKey::from_cose(cose.as_cose_bytes())
        .is_ok_and(|fresh| fresh.verify(&[message], &signature, &options).is_ok());
    assert_eq!(table, plain, "the ES256 table path and plain p256 disagree");
}
