//! Approval receipts (P10): offline-verifiable evidence that a passkey approved one
//! transaction.

use latchkey_policy::{Intent, Timestamp};
use latchkey_verify::{
    BatchItem, CeremonyType, ClientData, SignatureOptions, VerifyingKey, verify_batch,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::challenge::CHALLENGE_RANDOM_LEN;
use crate::error::{Error, Result};
use crate::json::unb64;

/// What a signing intent returns: everything needed to re-check, later and offline, that
/// this passkey approved this transaction and no other.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalReceipt {
    /// The RP ID the passkey is scoped to.
    pub rp_id: String,
    /// What was approved.
    pub intent: Intent,
    /// base64url credential id.
    pub credential_id: String,
    /// base64url COSE public key.
    pub public_key: String,
    /// base64url authenticator data.
    pub authenticator_data: String,
    /// base64url clientDataJSON.
    pub client_data_json: String,
    /// base64url signature.
    pub signature: String,
    /// base64url SHA-256 of the transaction bytes.
    pub transaction_digest: String,
    /// When the service accepted it.
    pub at: Timestamp,
}

/// A receipt whose fields check out, ready for its signature check.
struct Checked {
    key: VerifyingKey,
    authenticator_data: Vec<u8>,
    client_data_hash: [u8; 32],
    signature: Vec<u8>,
}

impl ApprovalReceipt {
    /// Re-verifies the receipt: the signature over `authData || SHA-256(clientDataJSON)`
    /// with the public key, a `webauthn.get` client data whose challenge ends with the
    /// transaction digest, authenticator data for the RP ID, and, when given, that the
    /// transaction is the one approved.
    ///
    /// # Errors
    ///
    /// [`Error::Malformed`] for undecodable fields, [`Error::ChallengeMismatch`] when the
    /// challenge does not commit to the transaction, verification errors otherwise.
    pub fn verify(&self, transaction: Option<&[u8]>) -> Result<()> {
        let checked = self.check_fields(transaction)?;
        checked.key.verify(
            &[&checked.authenticator_data, &checked.client_data_hash],
            &checked.signature,
            &SignatureOptions::default(),
        )?;
        Ok(())
    }

    /// Every check but the signature's.
    fn check_fields(&self, transaction: Option<&[u8]>) -> Result<Checked> {
        let authenticator_data = unb64(&self.authenticator_data, "authenticatorData")?;
        let client_data_json = unb64(&self.client_data_json, "clientDataJSON")?;
        let signature = unb64(&self.signature, "signature")?;
        let digest = unb64(&self.transaction_digest, "transactionDigest")?;
        if let Some(transaction) = transaction
            && Sha256::digest(transaction).as_slice() != digest.as_slice()
        {
            return Err(Error::ChallengeMismatch);
        }
        let client_data = ClientData::parse(&client_data_json)?;
        if client_data.ceremony_type() != CeremonyType::Get.as_str() {
            return Err(latchkey_verify::Error::TypeMismatch {
                expected: "webauthn.get",
            }
            .into());
        }
        let challenge = unb64(client_data.challenge(), "challenge")?;
        if challenge.get(CHALLENGE_RANDOM_LEN..) != Some(digest.as_slice()) {
            return Err(Error::ChallengeMismatch);
        }
        let rp_id_hash = Sha256::digest(self.rp_id.as_bytes());
        if authenticator_data.get(..32) != Some(rp_id_hash.as_slice()) {
            return Err(latchkey_verify::Error::RpIdMismatch.into());
        }
        let key = VerifyingKey::from_cose(&unb64(&self.public_key, "publicKey")?)?;
        Ok(Checked {
            key,
            authenticator_data,
            client_data_hash: Sha256::digest(&client_data_json).into(),
            signature,
        })
    }
}

/// Re-verifies many receipts, as an auditor would: the result at index `i` is receipt
/// `i`'s verdict, exactly as [`ApprovalReceipt::verify`] (without a transaction) gives
/// it. Ed25519 signatures are checked in one batch where the keys allow, which roughly
/// halves their cost; see `latchkey_verify::verify_batch`.
#[must_use]
pub fn verify_receipts(receipts: &[ApprovalReceipt]) -> Vec<Result<()>> {
    let checked: Vec<Result<Checked>> = receipts.iter().map(|r| r.check_fields(None)).collect();
    let parts: Vec<[&[u8]; 2]> = checked
        .iter()
        .filter_map(|c| c.as_ref().ok())
        .map(|c| {
            [
                c.authenticator_data.as_slice(),
                c.client_data_hash.as_slice(),
            ]
        })
        .collect();
    let items: Vec<BatchItem<'_>> = checked
        .iter()
        .filter_map(|c| c.as_ref().ok())
        .zip(&parts)
        .map(|(c, message)| BatchItem {
            key: &c.key,
            message,
            signature: &c.signature,
        })
        .collect();
    let mut verdicts = verify_batch(&items, &SignatureOptions::default()).into_iter();
    checked
        .iter()
        .map(|c| match c {
            Ok(_) => verdicts
                .next()
                .unwrap_or(Err(latchkey_verify::Error::SignatureInvalid))
                .map_err(Error::from),
            Err(e) => Err(e.clone()),
        })
        .collect()
}
