//! Approval receipts as evidence (P10), through the public API: a receipt verifies only
//! with the passkey's record (id, key, scope, AppID) and relying party from the
//! verifier's own records, only for the account,
//! scope, intent and transaction it was signed for, and only when the assertion passes
//! what the ceremony checked. Checking many at once gives the one-by-one verdicts.
//!
//! The receipts are built here from software-authenticator assertions whose challenge is
//! computed with `bound_digest`, as the facade computes it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use latchkey::cose::{AuthenticatorData, Flags};
use latchkey::json::{b64, unb64};
use latchkey::{
    AccountId, ApprovalReceipt, Intent, ReceiptSigner, RelyingParty, Scope, Timestamp,
    bound_digest, verify_receipts,
};
use latchkey_testkit::authenticator::{Assertion, Authenticator, Client, SoftKey};
use sha2::{Digest as _, Sha256};

const TX: &[u8] = b"pay 25.00 USDT to merchant 771";
const NONCE: [u8; 32] = [0x5a; 32];

fn rp() -> RelyingParty {
    RelyingParty::builder("example.com", "Example Exchange")
        .origin("https://example.com")
        .build()
        .unwrap()
}

fn client() -> Client {
    Client::new("example.com", "https://example.com")
}

/// What a receipt is for.
#[derive(Clone)]
struct For {
    account: &'static str,
    scope: Scope,
    intent: Intent,
    transaction: Vec<u8>,
}

/// Alice signs `TX` with her Pay passkey.
fn pay() -> For {
    For {
        account: "alice",
        scope: Scope::Pay,
        intent: Intent::PaySign,
        transaction: TX.to_vec(),
    }
}

/// The challenge the facade issues for `what`: 32 random bytes, then the bound digest.
fn challenge(what: &For) -> Vec<u8> {
    let hash: [u8; 32] = Sha256::digest(&what.transaction).into();
    let bound = bound_digest(
        what.scope,
        what.intent,
        &AccountId::new(what.account),
        &hash,
    );
    [NONCE.as_slice(), &bound].concat()
}

/// The receipt the facade would return for `assertion` by the passkey with `key`.
fn receipt(what: &For, assertion: &Assertion, key: &SoftKey) -> ApprovalReceipt {
    ApprovalReceipt {
        account: what.account.to_owned(),
        scope: what.scope,
        intent: what.intent,
        transaction_digest: b64(&Sha256::digest(&what.transaction)),
        credential_id: b64(&assertion.credential_id),
        public_key: b64(&cose(key)),
        authenticator_data: b64(&assertion.authenticator_data),
        client_data_json: b64(&assertion.client_data_json),
        signature: b64(&assertion.signature),
        at: Timestamp(1_800_000_000),
    }
}

/// A receipt signed by `authenticator` on `client` for `what`.
fn signed(authenticator: &mut Authenticator, client: &Client, what: &For) -> ApprovalReceipt {
    let assertion = authenticator.assert(client, &challenge(what));
    receipt(what, &assertion, &authenticator.key().clone())
}

/// A receipt whose assertion is signed by hand: client data of type `ty` and
/// authenticator data with `flags`.
fn hand_signed(key: &SoftKey, ty: &str, flags: Flags, what: &For) -> ApprovalReceipt {
    let client = client();
    let client_data_json = client.client_data_json(ty, &challenge(what));
    let authenticator_data = AuthenticatorData::builder(client.rp_id_hash())
        .flags(flags)
        .sign_count(1)
        .build();
    let signature = key.sign(
        &[
            authenticator_data.as_slice(),
            &Sha256::digest(&client_data_json),
        ]
        .concat(),
    );
    receipt(
        what,
        &Assertion {
            credential_id: vec![1; 16],
            client_data_json,
            authenticator_data,
            signature,
        },
        key,
    )
}

/// A change to a receipt.
type Edit = fn(&mut ApprovalReceipt);

fn cose(key: &SoftKey) -> Vec<u8> {
    key.public_key().as_cose_bytes().to_vec()
}

fn code(result: latchkey::Result<()>) -> Result<(), &'static str> {
    result.map_err(|e| e.code())
}

/// A verifier's record of a passkey: what [`ReceiptSigner`] borrows.
struct Record {
    id: Vec<u8>,
    key: Vec<u8>,
    scope: Scope,
    app_id: Option<String>,
}

impl Record {
    /// Alice's Pay passkey with COSE key `key`, under the id `receipt` names (the
    /// records that disagree with the receipt have their own test).
    fn named_by(receipt: &ApprovalReceipt, key: &[u8]) -> Self {
        Self {
            id: unb64(&receipt.credential_id, "credentialId").unwrap_or_default(),
            key: key.to_vec(),
            scope: Scope::Pay,
            app_id: None,
        }
    }

    fn signer(&self) -> ReceiptSigner<'_> {
        ReceiptSigner {
            credential_id: &self.id,
            public_key: &self.key,
            scope: self.scope,
            app_id: self.app_id.as_deref(),
        }
    }
}

/// `receipt` checked against Alice's Pay passkey with COSE key `key`.
fn check(
    receipt: &ApprovalReceipt,
    key: &[u8],
    transaction: Option<&[u8]>,
) -> Result<(), &'static str> {
    let record = Record::named_by(receipt, key);
    code(receipt.verify(&record.signer(), &rp(), transaction))
}

#[test]
fn a_valid_receipt_verifies_with_the_verifiers_own_key() {
    for soft in [SoftKey::eddsa([2; 32]), SoftKey::es256([3; 32])] {
        let key = cose(&soft);
        let receipt = signed(&mut Authenticator::new(soft), &client(), &pay());
        check(&receipt, &key, Some(TX)).unwrap();
        check(&receipt, &key, None).unwrap();
        // It proves this transaction and no other.
        assert_eq!(
            check(&receipt, &key, Some(b"pay 2500.00 USDT to merchant 771")),
            Err("challenge_mismatch")
        );
        // It survives JSON, naming the passkey and its key (P10), with no RP ID in it.
        let json = serde_json::to_value(&receipt).unwrap();
        assert_eq!(json["publicKey"], b64(&key));
        assert!(json.get("rpId").is_none());
        assert_eq!(json["account"], "alice");
        assert_eq!(json["scope"], "pay");
        assert_eq!(json["intent"], "pay_sign");
        let back: ApprovalReceipt = serde_json::from_value(json).unwrap();
        assert_eq!(back, receipt);
    }
}

#[test]
fn a_receipt_signed_with_an_attackers_key_fails_against_the_victims() {
    // The old receipt carried its own key: an attacker could sign "alice approved this"
    // with any key. Now the verifier supplies alice's record: a receipt naming the
    // attacker's key is not hers, and one copying her key fails on the signature.
    let victim = SoftKey::eddsa([2; 32]);
    let attacker = SoftKey::eddsa([66; 32]);
    let forged = signed(&mut Authenticator::new(attacker.clone()), &client(), &pay());
    assert!(check(&forged, &cose(&attacker), Some(TX)).is_ok());
    for victim in [victim, SoftKey::es256([3; 32])] {
        assert_eq!(
            check(&forged, &cose(&victim), Some(TX)),
            Err("unknown_credential")
        );
        let mut dressed = forged.clone();
        dressed.public_key = b64(&cose(&victim));
        assert_eq!(
            check(&dressed, &cose(&victim), Some(TX)),
            Err("signature_invalid")
        );
    }
}

#[test]
fn the_verifiers_record_decides_who_signed() {
    // P10 with P1: the signer's id, key and scope come from the record, and the receipt
    // must agree with all three. A Pay passkey's assertion dressed as an Exchange
    // approval (it signed a challenge that claims Exchange) is refused on the record's
    // scope, before anything else.
    let soft = SoftKey::eddsa([2; 32]);
    let key = cose(&soft);
    let mut alice = Authenticator::new(soft);
    let receipt = signed(&mut alice, &client(), &pay());
    let exact = Record::named_by(&receipt, &key);
    assert_eq!(
        code(receipt.verify(&exact.signer(), &rp(), Some(TX))),
        Ok(())
    );
    let other_id = Record {
        id: b"another id".to_vec(),
        ..Record::named_by(&receipt, &key)
    };
    assert_eq!(
        code(receipt.verify(&other_id.signer(), &rp(), Some(TX))),
        Err("unknown_credential")
    );
    let dex = For {
        scope: Scope::Exchange,
        intent: Intent::DexTrade,
        ..pay()
    };
    let dressed = signed(&mut alice, &client(), &dex);
    let pay_record = Record::named_by(&dressed, &key);
    assert_eq!(
        code(dressed.verify(&pay_record.signer(), &rp(), Some(TX))),
        Err("scope_mismatch")
    );
    let exchange_record = Record {
        scope: Scope::Exchange,
        ..Record::named_by(&dressed, &key)
    };
    assert_eq!(
        code(dressed.verify(&exchange_record.signer(), &rp(), Some(TX))),
        Ok(())
    );
}

#[test]
fn a_passkey_imported_from_u2f_verifies_under_its_recorded_app_id() {
    // A U2F key signs for the AppID's hash, not the RP ID's: the record's AppID serves,
    // and only the record's.
    let app_id = "https://example.com/app-id.json";
    let soft = SoftKey::es256([4; 32]);
    let key = cose(&soft);
    let u2f_client = Client::new(app_id, "https://example.com");
    let receipt = signed(&mut Authenticator::new(soft), &u2f_client, &pay());
    let mut record = Record::named_by(&receipt, &key);
    assert_eq!(
        code(receipt.verify(&record.signer(), &rp(), Some(TX))),
        Err("rp_id_mismatch")
    );
    record.app_id = Some(app_id.to_owned());
    assert_eq!(
        code(receipt.verify(&record.signer(), &rp(), Some(TX))),
        Ok(())
    );
    record.app_id = Some("https://example.com/other-app-id.json".to_owned());
    assert_eq!(
        code(receipt.verify(&record.signer(), &rp(), Some(TX))),
        Err("rp_id_mismatch")
    );
}

#[test]
fn every_covered_field_is_bound() {
    let soft = SoftKey::eddsa([2; 32]);
    let key = cose(&soft);
    let receipt = signed(&mut Authenticator::new(soft), &client(), &pay());
    let changed: [(&str, Edit); 4] = [
        ("account", |r| r.account = "mallory".into()),
        ("account prefix", |r| r.account = "alic".into()),
        ("intent", |r| r.intent = Intent::PaySecurityChange),
        ("transaction digest", |r| {
            r.transaction_digest = b64(&Sha256::digest(b"pay 2500.00 USDT"));
        }),
    ];
    for (what, change) in changed {
        let mut forged = receipt.clone();
        change(&mut forged);
        assert_eq!(
            check(&forged, &key, None),
            Err("challenge_mismatch"),
            "{what}"
        );
    }
    // The scope is signed too, but the record's scope answers first (the test above).
    // `at` is the service's note, not signed: documented so, and changing it changes
    // nothing verify claims.
    let mut noted = receipt.clone();
    noted.at = Timestamp(0);
    assert!(check(&noted, &key, None).is_ok());
}

#[test]
fn the_ceremony_checks_are_made_again() {
    let soft = SoftKey::es256([3; 32]);
    let key = cose(&soft);
    let up_uv = Flags::USER_PRESENT | Flags::USER_VERIFIED;
    let cases = [
        (
            "UP clear",
            hand_signed(&soft, "webauthn.get", Flags::USER_VERIFIED, &pay()),
            "user_presence_required",
        ),
        (
            "UV clear",
            hand_signed(&soft, "webauthn.get", Flags::USER_PRESENT, &pay()),
            "user_verification_required",
        ),
        (
            "webauthn.create",
            hand_signed(&soft, "webauthn.create", up_uv, &pay()),
            "type_mismatch",
        ),
        (
            "foreign origin",
            signed(
                &mut Authenticator::new(soft.clone()),
                &Client::new("example.com", "https://example.com.evil.example"),
                &pay(),
            ),
            "origin_mismatch",
        ),
        (
            "other RP ID",
            signed(
                &mut Authenticator::new(soft.clone()),
                &Client::new("evil.example", "https://example.com"),
                &pay(),
            ),
            "rp_id_mismatch",
        ),
    ];
    for (what, receipt, expected) in &cases {
        assert_eq!(check(receipt, &key, Some(TX)), Err(*expected), "{what}");
    }
    // The hand-signed path itself is sound: with UP and UV it verifies.
    let good = hand_signed(&soft, "webauthn.get", up_uv, &pay());
    assert!(check(&good, &key, Some(TX)).is_ok());
}

#[test]
fn a_challenge_that_is_only_the_digest_fails() {
    // The pre-P10 challenge shape: the digest without the random bytes, or the bare
    // SHA-256 of the transaction after them.
    let soft = SoftKey::eddsa([2; 32]);
    let key = cose(&soft);
    let mut authenticator = Authenticator::new(soft.clone());
    let hash = Sha256::digest(TX);
    for challenge in [
        challenge(&pay())[32..].to_vec(),
        [NONCE.as_slice(), &hash].concat(),
    ] {
        let receipt = receipt(&pay(), &authenticator.assert(&client(), &challenge), &soft);
        assert_eq!(check(&receipt, &key, Some(TX)), Err("challenge_mismatch"));
    }
}

#[test]
fn malformed_fields_are_malformed() {
    let soft = SoftKey::eddsa([2; 32]);
    let key = cose(&soft);
    let receipt = signed(&mut Authenticator::new(soft), &client(), &pay());
    let changed: [(&str, Edit); 4] = [
        ("signature not base64url", |r| r.signature = "!!".into()),
        ("short digest", |r| r.transaction_digest = b64(&[0; 31])),
        ("client data not JSON", |r| r.client_data_json = b64(b"{")),
        ("authenticator data short", |r| {
            r.authenticator_data = b64(&[0; 36]);
        }),
    ];
    for (what, change) in changed {
        let mut bad = receipt.clone();
        change(&mut bad);
        assert_eq!(check(&bad, &key, None), Err("malformed"), "{what}");
    }
    let mut keyless = receipt.clone();
    keyless.public_key = b64(b"not a COSE key");
    assert_eq!(check(&keyless, b"not a COSE key", None), Err("malformed"));
}

#[test]
fn bulk_verdicts_are_the_one_by_one_verdicts() {
    // P10 audit: many receipts at once, Ed25519 ones in a batch. Every refusal above is in
    // the mix, and none taints its neighbours.
    let eddsa = SoftKey::eddsa([2; 32]);
    let es256 = SoftKey::es256([3; 32]);
    let attacker = SoftKey::eddsa([66; 32]);
    let mut alice_eddsa = Authenticator::new(eddsa.clone());
    let mut alice_es256 = Authenticator::new(es256.clone());
    let up_uv = Flags::USER_PRESENT | Flags::USER_VERIFIED;
    let mut items: Vec<(ApprovalReceipt, Vec<u8>, Result<(), &str>)> = Vec::new();
    for n in 0..6 {
        let what = For {
            transaction: format!("pay {n}.00 USDT").into_bytes(),
            ..pay()
        };
        let (authenticator, key) = if n == 3 {
            (&mut alice_es256, &es256)
        } else {
            (&mut alice_eddsa, &eddsa)
        };
        items.push((signed(authenticator, &client(), &what), cose(key), Ok(())));
    }
    let mut swapped = items[1].0.clone();
    swapped.signature = items[2].0.signature.clone(); // valid, over another receipt
    items.push((swapped, cose(&eddsa), Err("signature_invalid")));
    let mut moved = items[4].0.clone();
    moved.account = "bob".into();
    items.push((moved, cose(&eddsa), Err("challenge_mismatch")));
    let forged = signed(&mut Authenticator::new(attacker), &client(), &pay());
    items.push((forged.clone(), cose(&eddsa), Err("unknown_credential")));
    let mut dressed = forged;
    dressed.public_key = b64(&cose(&eddsa));
    items.push((dressed, cose(&eddsa), Err("signature_invalid")));
    for (flags, ty, expected) in [
        (
            Flags::USER_VERIFIED,
            "webauthn.get",
            "user_presence_required",
        ),
        (
            Flags::USER_PRESENT,
            "webauthn.get",
            "user_verification_required",
        ),
        (up_uv, "webauthn.create", "type_mismatch"),
    ] {
        items.push((
            hand_signed(&eddsa, ty, flags, &pay()),
            cose(&eddsa),
            Err(expected),
        ));
    }
    items.push((
        signed(
            &mut Authenticator::new(eddsa.clone()),
            &Client::new("example.com", "https://evil.example"),
            &pay(),
        ),
        cose(&eddsa),
        Err("origin_mismatch"),
    ));
    items.push((
        signed(
            &mut Authenticator::new(eddsa.clone()),
            &Client::new("evil.example", "https://example.com"),
            &pay(),
        ),
        cose(&eddsa),
        Err("rp_id_mismatch"),
    ));
    let mut garbled = items[0].0.clone();
    garbled.authenticator_data = "@".into();
    items.push((garbled, cose(&eddsa), Err("malformed")));

    let rp = rp();
    let records: Vec<Record> = items
        .iter()
        .map(|(receipt, key, _)| Record::named_by(receipt, key))
        .collect();
    let pairs: Vec<(&ApprovalReceipt, ReceiptSigner<'_>)> = items
        .iter()
        .zip(&records)
        .map(|((receipt, ..), record)| (receipt, record.signer()))
        .collect();
    let bulk: Vec<_> = verify_receipts(&rp, &pairs).into_iter().map(code).collect();
    let one_by_one: Vec<_> = pairs
        .iter()
        .map(|(receipt, signer)| code(receipt.verify(signer, &rp, None)))
        .collect();
    let expected: Vec<_> = items.iter().map(|(.., expected)| *expected).collect();
    assert_eq!(one_by_one, expected);
    assert_eq!(bulk, one_by_one);
    assert!(verify_receipts(&rp, &[]).is_empty());
}
