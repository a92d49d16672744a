//! Writes the seed corpus of every fuzz target to `fuzz/corpus/<target>/`, from the test
//! kit and our own test CA (no third-party data):
//!
//! ```text
//! cargo run -p latchkey-fuzz-targets --bin make-corpus
//! ```
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::Path;

use base64::Engine as _;
use latchkey_cose::cbor::{Map, Value};
use latchkey_cose::{Aaguid, AttestationObject, AuthenticatorData, Flags};
use latchkey_fuzz_targets::{CHALLENGE, fixture};
use latchkey_testkit::authenticator::{
    Attestation, Authenticator, Client, SoftKey, assertion_json,
};
use latchkey_testkit::jws;
use latchkey_testkit::x509::RevocationListBuilder;

use latchkey_testkit::ca::{INTERMEDIATE, LEAF, ROOT};

fn prefixed(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for part in parts {
        out.extend_from_slice(&u16::try_from(part.len()).unwrap().to_be_bytes());
        out.extend_from_slice(part);
    }
    out
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    let write = |target: &str, name: &str, bytes: &[u8]| {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), bytes).unwrap();
    };
    let client = Client::new("example.com", "https://example.com");
    let keys = [
        ("es256", SoftKey::es256([9; 32])),
        ("es384", SoftKey::es384([8; 48])),
        ("eddsa", SoftKey::eddsa([7; 32])),
        ("rs256", SoftKey::rs256()),
    ];
    for (name, key) in keys {
        write("cose_key", name, key.public_key().as_cose_bytes());
        write(
            "cbor_roundtrip",
            &format!("cose-{name}"),
            key.public_key().as_cose_bytes(),
        );
        let attestations = [
            ("none", Attestation::None),
            ("packed-self", Attestation::PackedSelf),
            (
                "packed-x5c",
                Attestation::Packed {
                    key: latchkey_testkit::ca::leaf_key(),
                    x5c: vec![LEAF.to_vec(), INTERMEDIATE.to_vec()],
                },
            ),
            (
                "fido-u2f",
                Attestation::FidoU2f {
                    key: latchkey_testkit::ca::leaf_key(),
                    certificate: LEAF.to_vec(),
                },
            ),
        ];
        for (kind, attestation) in attestations {
            let mut authenticator = Authenticator::new(key.clone())
                .with_aaguid(Aaguid::from_bytes([
                    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                ]))
                .with_attestation(attestation);
            let registration = authenticator.register(&client, CHALLENGE);
            let tag = format!("{name}-{kind}");
            write("attestation_object", &tag, &registration.attestation_object);
            write(
                "cbor_roundtrip",
                &format!("attobj-{tag}"),
                &registration.attestation_object,
            );
            write(
                "authenticator_data",
                &format!("registration-{tag}"),
                &registration.authenticator_data,
            );
            write(
                "verify_registration",
                &tag,
                &prefixed(&[
                    &registration.client_data_json,
                    &registration.attestation_object,
                ]),
            );
            write(
                "response_json",
                &format!("registration-{tag}"),
                authenticator.registration_json(&client, "Zm9v").as_bytes(),
            );
            let assertion = authenticator.assert(&client, CHALLENGE);
            write(
                "authenticator_data",
                &format!("assertion-{tag}"),
                &assertion.authenticator_data,
            );
            write(
                "response_json",
                &format!("authentication-{tag}"),
                assertion_json(&assertion, &[1; 32]).as_bytes(),
            );
        }
    }

    // Metadata BLOBs: valid (ES256 by the test CA's leaf), and one whose payload is
    // not MDS3 (signed all the same, so the fuzzer reaches the payload parser).
    let leaf_key = latchkey_testkit::ca::leaf_key();
    let payload = serde_json::json!({
        "no": 3,
        "nextUpdate": "2040-06-01",
        "entries": [{
            "aaguid": "01020304-0506-0708-090a-0b0c0d0e0f10",
            "metadataStatement": {
                "description": "Latchkey Test Key",
                "attestationRootCertificates": [base64::engine::general_purpose::STANDARD.encode(ROOT)]
            },
            "statusReports": [
                {"status": "FIDO_CERTIFIED_L1", "effectiveDate": "2030-01-01"},
                {"status": "REVOKED", "effectiveDate": "2035-01-01", "authenticatorVersion": 2}
            ],
            "timeOfLastStatusChange": "2035-01-01"
        }]
    });
    let blob = jws::sign(
        &leaf_key,
        &[LEAF, INTERMEDIATE],
        &serde_json::json!({"typ": "JWT"}),
        &payload,
    );
    write("metadata_blob", "valid", blob.as_bytes());
    let odd = jws::sign(
        &leaf_key,
        &[LEAF, INTERMEDIATE],
        &serde_json::json!({}),
        &serde_json::json!({"no": 1, "nextUpdate": "2040-13-01", "entries": [{"aaguid": "x"}]}),
    );
    write("metadata_blob", "odd-payload", odd.as_bytes());

    // CRLs: the root's (revoking the intermediate), the intermediate's (revoking the leaf,
    // with a CRL number), one without nextUpdate.
    let (root_key, intermediate_key) = (
        latchkey_testkit::ca::root_key(),
        latchkey_testkit::ca::intermediate_key(),
    );
    let crl = RevocationListBuilder::new()
        .revoke(INTERMEDIATE)
        .sign(ROOT, &root_key);
    write("revocation_list", "root", &crl.unwrap());
    let crl = RevocationListBuilder::new()
        .revoke(LEAF)
        .extension("2.5.29.20", false, &[0x02, 0x01, 0x07])
        .sign(INTERMEDIATE, &intermediate_key);
    write("revocation_list", "intermediate", &crl.unwrap());
    let crl = RevocationListBuilder::new()
        .updates("20260101000000Z", None)
        .sign(ROOT, &root_key);
    write("revocation_list", "no-next-update", &crl.unwrap());

    // Authenticator data with extensions, and with reserved flags.
    let extensions = Map::new(vec![(Value::Text("credProtect"), Value::Integer(2))]).unwrap();
    let with_extensions = AuthenticatorData::builder([1; 32])
        .flags(Flags::USER_PRESENT)
        .sign_count(9)
        .extensions(&extensions)
        .build();
    write("authenticator_data", "extensions", &with_extensions);
    write(
        "cbor_roundtrip",
        "extensions",
        &Value::Map(extensions.clone()).to_vec(),
    );
    write(
        "authenticator_data",
        "reserved-flags",
        &AuthenticatorData::builder([2; 32])
            .flags(Flags::from_bits(0x27))
            .build(),
    );
    let compound = Value::Array(vec![
        Value::Map(
            Map::new(vec![
                (Value::Text("fmt"), Value::Text("none")),
                (Value::Text("attStmt"), Value::Map(Map::default()))
            ])
            .unwrap()
        );
        2
    ]);
    let fixture = fixture();
    write(
        "attestation_object",
        "compound",
        &AttestationObject::encode("compound", &compound, &fixture.auth_data),
    );

    // Client data: both ceremonies, a BOM, cross-origin, an escape.
    for (name, json) in [
        ("get", client.client_data_json("webauthn.get", CHALLENGE)),
        ("create", client.client_data_json("webauthn.create", CHALLENGE)),
        ("bom", [b"\xef\xbb\xbf".as_slice(), &client.client_data_json("webauthn.get", CHALLENGE)].concat()),
        ("cross-origin", br#"{"type":"webauthn.get","challenge":"Y2hhbGxlbmdl","origin":"https://a.example.com","crossOrigin":true,"topOrigin":"https://shop.example"}"#.to_vec()),
        ("escaped", br#"{"type":"webauthn.get","challenge":"Y2hhbGxlbmdl","origin":"https:\/\/example.com","x":"\u00e9"}"#.to_vec()),
    ] {
        write("client_data", name, &json);
    }

    // Certificate chains: leaf, intermediate, root, length-prefixed.
    write(
        "x509_chain",
        "leaf-intermediate-root",
        &prefixed(&[LEAF, INTERMEDIATE, ROOT]),
    );
    write("x509_chain", "leaf-root", &prefixed(&[LEAF, ROOT, ROOT]));

    // A valid assertion for the fixed key the end-to-end target uses.
    let mut authenticator = Authenticator::new(SoftKey::es256([9; 32]));
    let assertion = authenticator.assert(&client, CHALLENGE);
    write(
        "verify_assertion",
        "valid",
        &prefixed(&[
            &assertion.client_data_json,
            &assertion.authenticator_data,
            &assertion.signature,
        ]),
    );

    // Approval receipts (P10) of the keys the receipt target verifies with: the challenge
    // is 32 random bytes and the bound digest of what the receipt says. The target never
    // sees the transaction, so a fixed digest stands in for its SHA-256.
    let account = latchkey::AccountId::new("alice");
    let hash = [0x77; 32];
    let bound = latchkey::bound_digest(
        latchkey::Scope::Pay,
        latchkey::Intent::PaySign,
        &account,
        &hash,
    );
    let challenge = [[0x5a; 32].as_slice(), &bound].concat();
    for (name, key) in [
        ("valid-es256", SoftKey::es256([9; 32])),
        ("valid-eddsa", SoftKey::eddsa([9; 32])),
    ] {
        let public_key = key.public_key().as_cose_bytes().to_vec();
        let assertion = Authenticator::new(key).assert(&client, &challenge);
        let b64 = latchkey::json::b64;
        let receipt = latchkey::ApprovalReceipt {
            account: account.as_str().to_owned(),
            scope: latchkey::Scope::Pay,
            intent: latchkey::Intent::PaySign,
            transaction_digest: b64(&hash),
            credential_id: b64(&assertion.credential_id),
            public_key: b64(&public_key),
            authenticator_data: b64(&assertion.authenticator_data),
            client_data_json: b64(&assertion.client_data_json),
            signature: b64(&assertion.signature),
            at: latchkey::Timestamp(1_800_000_000),
        };
        write(
            "approval_receipt",
            name,
            &serde_json::to_vec_pretty(&receipt).unwrap(),
        );
    }
    println!("corpus written to {}", root.display());
}
