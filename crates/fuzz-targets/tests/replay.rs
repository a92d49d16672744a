//! Every committed corpus file of every fuzz target runs through its target on stable:
//! CI covers the corpus (and every crash turned into a corpus file) without a fuzzer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use latchkey_fuzz_targets::TARGETS;

#[test]
fn every_corpus_file_runs_clean() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    let mut total = 0;
    for (name, target) in TARGETS {
        let dir = corpus.join(name);
        let files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.unwrap().path())
            .collect();
        assert!(!files.is_empty(), "{name}: empty corpus");
        for file in files {
            target(&std::fs::read(&file).unwrap());
            total += 1;
        }
    }
    eprintln!("{total} corpus files replayed");
}

#[test]
fn seeds_that_should_verify_do() {
    // The seeds are real inputs, not noise: the valid assertion verifies through the
    // same path the target takes.
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    let data = std::fs::read(corpus.join("verify_assertion/valid")).unwrap();
    let fixture = latchkey_fuzz_targets::fixture();
    let mut rest = data.as_slice();
    let mut parts = Vec::new();
    for _ in 0..3 {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        parts.push(&rest[2..2 + len]);
        rest = &rest[2 + len..];
    }
    let verifier = latchkey_verify::Verifier::new(
        "example.com",
        latchkey_verify::Origins::new(["https://example.com"]),
    );
    let response = latchkey_verify::AssertionBytes {
        client_data_json: parts[0],
        authenticator_data: parts[1],
        signature: parts[2],
    };
    let stored = latchkey_verify::StoredCredential {
        key: &fixture.key,
        sign_count: 0,
        backup_eligible: None,
        app_id: None,
        cred_protect: None,
    };
    let ceremony = latchkey_verify::Ceremony::new(latchkey_fuzz_targets::CHALLENGE);
    assert!(
        verifier
            .verify_assertion(&response, &ceremony, &stored)
            .is_ok()
    );
}

#[test]
fn receipt_seeds_verify() {
    // Each valid receipt seed verifies with its own key and fails with the other, so the
    // target reaches the signature check (and the Ed25519 batch) from the seeds.
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    let rp = latchkey::RelyingParty::builder("example.com", "fuzz")
        .origin("https://example.com")
        .build()
        .unwrap();
    let [es256, eddsa] = latchkey_fuzz_targets::receipt_keys();
    for (name, own, other) in [
        ("valid-es256", &es256, &eddsa),
        ("valid-eddsa", &eddsa, &es256),
    ] {
        let data = std::fs::read(corpus.join("approval_receipt").join(name)).unwrap();
        let receipt: latchkey::ApprovalReceipt = serde_json::from_slice(&data).unwrap();
        let id = latchkey::json::unb64(&receipt.credential_id, "credentialId").unwrap();
        for (key, verifies) in [(own, true), (other, false)] {
            let signer = latchkey::ReceiptSigner {
                credential_id: &id,
                public_key: key,
                scope: receipt.scope,
                app_id: None,
            };
            assert_eq!(
                receipt.verify(&signer, &rp, None).is_ok(),
                verifies,
                "{name}"
            );
        }
    }
}

#[test]
fn targets_survive_arbitrary_bytes() {
    // A fixed xorshift stream of lengths 0..600, through every target.
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    for round in 0..300usize {
        let bytes: Vec<u8> = (0..(round * 2) % 600)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state.to_le_bytes()[0]
            })
            .collect();
        for (_, target) in TARGETS {
            target(&bytes);
        }
    }
}

#[test]
fn the_metadata_seed_verifies() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    let text = std::fs::read_to_string(corpus.join("metadata_blob/valid")).unwrap();
    let now = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(2_208_988_800);
    let blob = latchkey_verify::MetadataBlob::verify_without_revocation(
        &text,
        &[latchkey_fuzz_targets::METADATA_ROOT],
        now,
    )
    .unwrap();
    assert!(blob.entries()[0].is_compromised());
}
