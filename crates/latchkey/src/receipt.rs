//! Approval receipts (P10): offline-verifiable evidence that a passkey approved one
//! transaction, for one account, scope and intent.
//!
//! A receipt carries what the ceremony signed and what its challenge committed to, and
//! names the passkey that signed. Whoever re-verifies it takes that passkey's record (id,
//! public key, scope, AppID: a [`ReceiptSigner`], looked up by
//! [`ApprovalReceipt::credential_id`]) and the relying party from their own records, so a
//! receipt built around someone else's key, or a passkey of another scope, proves nothing.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use latchkey_policy::{Credential, Intent, PolicyError, Scope, Timestamp};
use latchkey_verify::{
    AssertionBytes, BatchItem, Ceremony, ClientData, PendingAssertion, StoredCredential, Verifier,
    VerifyingKey, verify_batch,
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
/// covers `account`, `scope`, `intent` and `transaction_digest`. `credential_id`,
/// `public_key` and `at` are not covered: the first two name the passkey, and
/// [`verify`](Self::verify) holds them against the verifier's record of it; the last is
/// the service's note of when it accepted the assertion, which `verify` does not judge.
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
    /// passkey's record up by it.
    pub credential_id: String,
    /// base64url COSE public key of that passkey, for the reader: verification uses the
    /// verifier's record and refuses a receipt whose key differs from it.
    pub public_key: String,
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
    /// Re-verifies the receipt as evidence, with the record of the passkey that signed and
    /// the relying party from the verifier's own records, never from the receipt. The
    /// record must be the passkey the receipt names, with the key it carries, of the scope
    /// it claims (a Pay passkey's signature is no Exchange approval). Then it checks what
    /// the ceremony checked: clientDataJSON of type `webauthn.get`, whose challenge is 32
    /// bytes followed by the bound digest of this receipt's account, scope, intent and
    /// transaction digest, from an origin the relying party accepts; authenticator data
    /// (parsed strictly) for the RP ID (or the record's FIDO AppID, for a passkey imported
    /// from U2F), with UP and UV set; and the signature over
    /// `authData || SHA-256(clientDataJSON)`. Given the transaction, it also checks that
    /// the receipt's digest is its SHA-256.
    ///
    /// # Errors
    ///
    /// With their codes: `unknown_credential` when the receipt names another passkey or
    /// key than the record; `scope_mismatch` when it claims another scope than the
    /// record's; `malformed` for a field that is not base64url, a digest that is not 32
    /// bytes, unreadable clientDataJSON or authenticator data, or an unusable key;
    /// `challenge_mismatch` when the transaction is not the one in the receipt or the
    /// challenge does not commit to what the receipt says; `type_mismatch`,
    /// `origin_mismatch`, `rp_id_mismatch`, `user_presence_required`,
    /// `user_verification_required`; `signature_invalid`.
    pub fn verify(
        &self,
        signer: &ReceiptSigner<'_>,
        rp: &RelyingParty,
        transaction: Option<&[u8]>,
    ) -> Result<()> {
        let decoded = Decoded::new(self, signer, transaction)?;
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

/// What the verifier's own records hold of the passkey a receipt names: everything
/// [`ApprovalReceipt::verify`] trusts about the signer. Made from a stored
/// [`Credential`], or field by field by an auditor with their own copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReceiptSigner<'a> {
    /// The credential id.
    pub credential_id: &'a [u8],
    /// Its COSE public key.
    pub public_key: &'a [u8],
    /// Its scope.
    pub scope: Scope,
    /// The FIDO AppID it was imported under from U2F, if any.
    pub app_id: Option<&'a str>,
}

impl<'a> From<&'a Credential> for ReceiptSigner<'a> {
    fn from(credential: &'a Credential) -> Self {
        Self {
            credential_id: credential.id.as_bytes(),
            public_key: &credential.public_key,
            scope: credential.scope,
            app_id: credential.app_id.as_deref(),
        }
    }
}

/// Re-verifies many receipts, as an auditor would: each with the record of the passkey it
/// names, from the auditor's records. The result at index `i` is exactly what
/// [`ApprovalReceipt::verify`]`(signer, rp, None)` gives for item `i`, by the same checks
/// (the signatures through `latchkey_verify::verify_batch`, whose verdicts are the
/// one-by-one verdicts on every input).
#[must_use]
pub fn verify_receipts(
    rp: &RelyingParty,
    items: &[(&ApprovalReceipt, ReceiptSigner<'_>)],
) -> Vec<Result<()>> {
    let verifier = receipt_verifier(rp);
    let decoded: Vec<Result<Decoded<'_>>> = items
        .iter()
        .map(|(receipt, signer)| Decoded::new(receipt, signer, None))
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

/// A receipt's fields decoded, with the signer's key and AppID and the challenge it must
/// carry.
struct Decoded<'a> {
    key: VerifyingKey,
    app_id: Option<&'a str>,
    authenticator_data: Vec<u8>,
    client_data_json: Vec<u8>,
    signature: Vec<u8>,
    challenge: [u8; CHALLENGE_RANDOM_LEN + 32],
}

impl<'a> Decoded<'a> {
    fn new(
        receipt: &ApprovalReceipt,
        signer: &ReceiptSigner<'a>,
        transaction: Option<&[u8]>,
    ) -> Result<Self> {
        if unb64(&receipt.credential_id, "credentialId")? != signer.credential_id
            || unb64(&receipt.public_key, "publicKey")? != signer.public_key
        {
            return Err(Error::WrongSigner);
        }
        if receipt.scope != signer.scope {
            return Err(PolicyError::ScopeMismatch.into());
        }
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
        let key = VerifyingKey::from_cose(signer.public_key)?;
        let bound = transaction::digest(receipt.scope, receipt.intent, &receipt.account, &digest);
        let challenge = expected_challenge(&client_data_json, &bound);
        Ok(Self {
            key,
            app_id: signer.app_id,
            authenticator_data,
            client_data_json,
            signature,
            challenge,
        })
    }

    /// Every check but the signature's, by the verifier's own assertion checks.
    fn check<'s>(&'s self, verifier: &Verifier) -> Result<PendingAssertion<'s>> {
        let response = AssertionBytes {
            client_data_json: &self.client_data_json,
            authenticator_data: &self.authenticator_data,
            signature: &self.signature,
        };
        let stored = StoredCredential {
            key: &self.key,
            sign_count: 0,
            backup_eligible: None,
            app_id: self.app_id,
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
