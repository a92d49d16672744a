//! Ceremony challenges (P16, P10): random, single-use, with a deadline, bound to what the
//! ceremony is for.

use latchkey_policy::{Intent, Scope, Timestamp};
use latchkey_store::{AccountId, ChallengeRecord, Store};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::clock::Random;
use crate::error::{Error, Result};

/// Random bytes in every challenge.
pub const CHALLENGE_RANDOM_LEN: usize = 32;

/// Marks a challenge that was taken, so a replay is told apart from a forgery.
const USED: &[u8] = b"latchkey:used";

/// What a challenge was issued for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "ceremony", rename_all = "snake_case")]
pub(crate) enum Binding {
    Registration {
        account: AccountId,
        scope: Scope,
    },
    Authentication {
        account: Option<AccountId>,
        intent: Intent,
        transaction: Option<String>,
    },
}

/// A fresh challenge: 32 random bytes, followed for signing intents by SHA-256 of the
/// transaction, so the signature commits to it (P10).
pub(crate) fn generate(random: &dyn Random, transaction: Option<&[u8]>) -> Result<Vec<u8>> {
    let mut challenge = vec![0u8; CHALLENGE_RANDOM_LEN];
    random.fill(&mut challenge)?;
    if let Some(transaction) = transaction {
        challenge.extend_from_slice(&Sha256::digest(transaction));
    }
    Ok(challenge)
}

/// Stores a challenge with its binding until `expires_at`.
pub(crate) async fn issue<S: Store>(
    store: &S,
    challenge: &[u8],
    binding: &Binding,
    expires_at: Timestamp,
) -> Result<()> {
    let binding = serde_json::to_vec(binding).map_err(|e| Error::Malformed(e.to_string()))?;
    let record = ChallengeRecord {
        challenge: challenge.to_vec(),
        expires_at,
        binding,
    };
    store.put_challenge(record).await?;
    Ok(())
}

/// Takes the challenge a response names, consuming it whatever happens next.
///
/// # Errors
///
/// [`Error::ChallengeMismatch`] for a challenge never issued, [`Error::ChallengeReused`]
/// for one already taken, [`Error::ChallengeExpired`] after its deadline.
pub(crate) async fn redeem<S: Store>(
    store: &S,
    challenge: &[u8],
    now: Timestamp,
) -> Result<Binding> {
    let record = store
        .take_challenge(challenge)
        .await?
        .ok_or(Error::ChallengeMismatch)?;
    // Leave a tombstone until the deadline, so a replay says "reused".
    let tombstone = ChallengeRecord {
        challenge: challenge.to_vec(),
        expires_at: record.expires_at,
        binding: USED.to_vec(),
    };
    store.put_challenge(tombstone).await?;
    if record.binding == USED {
        return Err(Error::ChallengeReused);
    }
    if now > record.expires_at {
        return Err(Error::ChallengeExpired);
    }
    serde_json::from_slice(&record.binding).map_err(|_| Error::ChallengeMismatch)
}

/// The base64url digest a binding records for a transaction.
pub(crate) fn transaction_digest(transaction: &[u8]) -> String {
    crate::json::b64(&Sha256::digest(transaction))
}
