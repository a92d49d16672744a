//! `verify_assertion` allocates nothing for ES256 (its warm path: the key's table built)
//! and EdDSA with a stored key: a counting
//! global allocator (`allocation-counter`) proves it. Its own test binary, so no other
//! test allocates meanwhile.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use latchkey_testkit::authenticator::{Authenticator, Client, SoftKey};
use latchkey_verify::{
    AssertionBytes, Ceremony, Origins, StoredCredential, Verifier, VerifyingKey,
};

#[test]
fn verify_assertion_does_not_allocate() {
    // The counter counts: a closure that allocates is seen.
    let info = allocation_counter::measure(|| drop(std::hint::black_box(vec![1u8; 8])));
    assert_eq!(info.count_total, 1);

    let verifier = Verifier::new("example.com", Origins::new(["https://example.com"]));
    let client = Client::new("example.com", "https://example.com");
    let challenge = [7u8; 32];
    for soft in [SoftKey::es256([1; 32]), SoftKey::eddsa([2; 32])] {
        let name = soft.algorithm().name();
        let key = VerifyingKey::from_credential_key(&soft.public_key()).unwrap();
        let mut authenticator = Authenticator::new(soft);
        let assertion = authenticator.assert(&client, &challenge);
        let response = AssertionBytes {
            client_data_json: &assertion.client_data_json,
            authenticator_data: &assertion.authenticator_data,
            signature: &assertion.signature,
        };
        let stored = StoredCredential {
            key: &key,
            sign_count: 0,
            backup_eligible: Some(false),
            app_id: None,
            cred_protect: None,
        };
        let ceremony = Ceremony::new(&challenge);
        // Warm up twice (lazy statics in dependencies; an ES256 key builds its table on
        // its second use), then count.
        for _ in 0..2 {
            verifier
                .verify_assertion(&response, &ceremony, &stored)
                .unwrap();
        }
        let mut verified = false;
        let info = allocation_counter::measure(|| {
            verified = verifier
                .verify_assertion(&response, &ceremony, &stored)
                .is_ok();
        });
        assert!(verified, "{name}");
        assert_eq!(
            info.count_total, 0,
            "{name}: verify_assertion allocated {} times",
            info.count_total
        );
    }
}
