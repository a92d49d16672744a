//! Approval receipts (P10): offline-verifiable evidence that a passkey approved one
//! transaction, for one account, scope and intent.
//!
//! A receipt carries what the ceremony signed and what its challenge committed to; it
//! carries no key and no RP ID. Whoever re-verifies it takes the credential's public key
//! (looked up by [`ApprovalReceipt::credential_id`]) and the relying party from their own
//! records, so a receipt built around someone else's key proves nothing.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use latchkey_policy::{Intent, Scope, Timestamp};
use latchkey_verify::{
    AssertionResponse, BatchItem, Ceremony, ClientData, PendingAssertion, StoredCredential,
    Verifier, VerifyingKey, verify_batch,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::challenge::CHALLENGE_RANDOM_LEN;
use crate::config::RelyingParty;
use crate::error::{Error, Result};
use crate::json::unb64;
use crate::transaction;

/// What a signing intent returns: the assertion, and what its challenge committed to.
///
/// The challenge was 32 random bytes followed by
/// [`bound_digest`](crate::bound_digest)`(scope, intent, account, transaction digest)`, and
/// the passkey signed `authenticatorData || SHA-256(clientDataJSON)`, so the signature
/// covers `account`, `scope`, `intent` and `transaction_digest`. `credential_id` and `at`
/// are not covered: the first only names the key to look up, the second is the service's
/// note of when it accepted the assertion, which [`verify`](Self::verify) does not judge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalReceipt {
    /// The account that approved (the service's account id).
    pub account: String,
    /// The scope of the passkey that signed.
    pub scope: Scope,
    /// What was approved.
    pub intent: Intent,
    /// base64url SHA-256 of the transaction bytes.
    pub transaction_digest: String,
    /// base64url credential id: which passkey signed. Not signed; the verifier looks the
    /// public key up by it.
    pub credential_id: String,
    /// base64url authenticator data, as signed.
    pub authenticator_data: String,
    /// base64url clientDataJSON, as signed.
    pub client_data_json: String,
    /// base64url signature.
    pub signature: String,
    /// When the service accepted the assertion: its own record, not signed by the passkey
    /// and not checked by [`verify`](Self::verify).
    pub at: Timestamp,
}

impl ApprovalReceipt {
    /// Re-verifies the receipt as evidence, with the credential's COSE public key and the
    /// relying party from the verifier's own records, never from the receipt. It checks
    /// what the ceremony checked: clientDataJSON of type `webauthn.get`, whose challenge is
    /// 32 bytes followed by the bound digest of this receipt's account, scope, intent and
    /// transaction digest, from an origin the relying party accepts; authenticator data
    /// (parsed strictly) for the RP ID, with UP and UV set; and the signature over
    /// `authData || SHA-256(clientDataJSON)`. Given the transaction, it also checks that
    /// the receipt's digest is its SHA-256.
    ///
    /// A receipt of a credential that signed under a FIDO AppID (U2F) does not verify:
    /// such keys cannot verify the user, which every signing intent requires.
    ///
    /// # Errors
    ///
    /// With their codes: `malformed` for a field that is not base64url, a digest that is
    /// not 32 bytes, unreadable clientDataJSON or authenticator data, or an unusable key;
    /// `challenge_mismatch` when the transaction is not the one in the receipt or the
    /// challenge does not commit to what the receipt says; `type_mismatch`,
    /// `origin_mismatch`, `rp_id_mismatch`, `user_presence_required`,
    /// `user_verification_required`; `signature_invalid`.
    pub fn verify(
        &self,
        public_key: &[u8],
        rp: &RelyingParty,
        transaction: Option<&[u8]>,
    ) -> Result<()> {
        let decoded = Decoded::new(self, public_key, transaction)?;
        let verifier = receipt_verifier(rp);
        let pending = decoded.check(&verifier)?;
        decoded.key.verify(
            &pending.signed_message(),
            pending.signature(),
            &verifier.options().signature,
        )?;
        Ok(())
    }
}

/// Re-verifies many receipts, as an auditor would: each with the COSE public key of its
/// credential, from the auditor's records. The result at index `i` is exactly what
/// [`ApprovalReceipt::verify`]`(key, rp, None)` gives for item `i`, by the same checks
/// (the signatures through `latchkey_verify::verify_batch`, whose verdicts are the
/// one-by-one verdicts on every input).
#[must_use]
pub fn verify_receipts(rp: &RelyingParty, items: &[(&ApprovalReceipt, &[u8])]) -> Vec<Result<()>> {
    let verifier = receipt_verifier(rp);
    let decoded: Vec<Result<Decoded>> = items
        .iter()
        .map(|(receipt, key)| Decoded::new(receipt, key, None))
        .collect();
    let pending: Vec<Result<(PendingAssertion<'_>, &VerifyingKey)>> = decoded
        .iter()
        .map(|d| match d {
            Ok(d) => d.check(&verifier).map(|pending| (pending, &d.key)),
            Err(e) => Err(e.clone()),
        })
        .collect();
    let messages: Vec<[&[u8]; 2]> = pending
        .iter()
        .filter_map(|p| p.as_ref().ok())
        .map(|(pending, _)| pending.signed_message())
        .collect();
    let batch: Vec<BatchItem<'_>> = pending
        .iter()
        .filter_map(|p| p.as_ref().ok())
        .zip(&messages)
        .map(|((pending, key), message)| BatchItem {
            key,
            message,
            signature: pending.signature(),
        })
        .collect();
    let mut verdicts = verify_batch(&batch, &verifier.options().signature).into_iter();
    pending
        .into_iter()
        .map(|p| match p {
            // verify_batch gives one verdict per item; a missing one would fail closed.
            Ok(_) => verdicts
                .next()
                .unwrap_or(Err(latchkey_verify::Error::SignatureInvalid))
                .map_err(Error::from),
            Err(e) => Err(e),
        })
        .collect()
}

/// How receipts are verified: the relying party's RP ID and origins, strict parsing, UP
/// required. The counter is not judged (a receipt is evidence of one assertion, not of
/// the order of assertions).
fn receipt_verifier(rp: &RelyingParty) -> Verifier {
    Verifier::new(rp.id(), rp.origin_rules())
}

/// A receipt's fields decoded, with the key and the challenge it must carry.
struct Decoded {
    key: VerifyingKey,
    authenticator_data: Vec<u8>,
    client_data_json: Vec<u8>,
    signature: Vec<u8>,
    challenge: [u8; CHALLENGE_RANDOM_LEN + 32],
}

impl Decoded {
    fn new(
        receipt: &ApprovalReceipt,
        public_key: &[u8],
        transaction: Option<&[u8]>,
    ) -> Result<Self> {
        let digest: [u8; 32] = unb64(&receipt.transaction_digest, "transactionDigest")?
            .try_into()
            .map_err(|_| Error::Malformed("transactionDigest is not 32 bytes".into()))?;
        if let Some(transaction) = transaction
            && Sha256::digest(transaction).as_slice() != digest.as_slice()
        {
            return Err(Error::ChallengeMismatch);
        }
        let authenticator_data = unb64(&receipt.authenticator_data, "authenticatorData")?;
        let client_data_json = unb64(&receipt.client_data_json, "clientDataJSON")?;
        let signature = unb64(&receipt.signature, "signature")?;
        let key = VerifyingKey::from_cose(public_key)?;
        let bound = transaction::digest(receipt.scope, receipt.intent, &receipt.account, &digest);
        let challenge = expected_challenge(&client_data_json, &bound);
        Ok(Self {
            key,
            authenticator_data,
            client_data_json,
            signature,
            challenge,
        })
    }

    /// Every check but the signature's, by the verifier's own assertion checks.
    fn check<'a>(&'a self, verifier: &Verifier) -> Result<PendingAssertion<'a>> {
        let response = AssertionResponse {
            client_data_json: &self.client_data_json,
            authenticator_data: &self.authenticator_data,
            signature: &self.signature,
        };
        let stored = StoredCredential {
            key: &self.key,
            sign_count: 0,
            backup_eligible: None,
            app_id: None,
            cred_protect: None,
        };
        // UV is required: receipts come from signing intents only (P9).
        let ceremony = Ceremony::new(&self.challenge);
        Ok(verifier.check_assertion(&response, &ceremony, &stored)?)
    }
}

/// The challenge the receipt's assertion must carry: its own 32 random bytes (whatever
/// they are) followed by the bound digest. When the client data has no 64-byte challenge
/// to take them from, zeros stand in, and the check reports `challenge_mismatch` in its
/// turn (after the type, as the spec orders them).
fn expected_challenge(
    client_data_json: &[u8],
    bound: &[u8; 32],
) -> [u8; CHALLENGE_RANDOM_LEN + 32] {
    let mut challenge = [0u8; CHALLENGE_RANDOM_LEN + 32];
    let received = ClientData::parse(client_data_json)
        .ok()
        .and_then(|client_data| URL_SAFE_NO_PAD.decode(client_data.challenge()).ok());
    let (random, digest) = challenge.split_at_mut(CHALLENGE_RANDOM_LEN);
    if let Some(received) = received
        && received.len() == CHALLENGE_RANDOM_LEN + 32
        && let Some(nonce) = received.get(..CHALLENGE_RANDOM_LEN)
    {
        // safe: both sides are CHALLENGE_RANDOM_LEN bytes, then both 32.
        random.copy_from_slice(nonce);
    }
    digest.copy_from_slice(bound);
    challenge
}
