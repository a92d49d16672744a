//! The bound transaction digest (P10): what a signing intent's challenge commits to, so
//! that the assertion proves who approved what, for which purpose.
//!
//! The challenge of a signing intent is 32 random bytes followed by [`bound_digest`].
//! Anyone holding an [`ApprovalReceipt`](crate::ApprovalReceipt) can recompute it from the
//! receipt's account, scope, intent and transaction digest.

use latchkey_policy::{Intent, Scope};
use latchkey_store::AccountId;
use sha2::{Digest as _, Sha256};

/// Domain separation: no other latchkey hash, and no other version of this one, starts so.
const DOMAIN: &[u8] = b"latchkey approval v1\0";

/// The digest a signing intent's challenge commits to after its 32 random bytes.
///
/// SHA-256 over this encoding, in which every field is delimited, so that no two
/// different inputs share one:
///
/// | bytes | field |
/// |---|---|
/// | `latchkey approval v1` `00` | domain tag (21 bytes) |
/// | scope name, `00` | `exchange` or `pay` (the serde names) |
/// | intent name, `00` | `dex_trade`, `dex_transfer`, `pay_sign`... (the serde names) |
/// | length, u32 big-endian; then the bytes | the account id, UTF-8 |
/// | 32 bytes | SHA-256 of the transaction bytes |
///
/// Names are ASCII snake_case and never contain a zero byte. An account id longer than
/// `u32::MAX` bytes has its length written as `u32::MAX`; the encoding stays
/// unambiguous, as the account is the last field of variable length.
///
/// ```
/// use latchkey::{AccountId, Intent, Scope, bound_digest};
/// use sha2::{Digest as _, Sha256};
///
/// let transaction = b"pay 25.00 USDT to merchant 771";
/// let hash: [u8; 32] = Sha256::digest(transaction).into();
/// let account = AccountId::new("alice");
/// let digest = bound_digest(Scope::Pay, Intent::PaySign, &account, &hash);
/// assert_ne!(digest, bound_digest(Scope::Pay, Intent::PaySign, &AccountId::new("bob"), &hash));
/// ```
#[must_use]
pub fn bound_digest(
    scope: Scope,
    intent: Intent,
    account: &AccountId,
    transaction_sha256: &[u8; 32],
) -> [u8; 32] {
    digest(scope, intent, account.as_str(), transaction_sha256)
}

/// [`bound_digest`] for an account id given as a string (as a receipt carries it).
pub(crate) fn digest(
    scope: Scope,
    intent: Intent,
    account: &str,
    transaction_sha256: &[u8; 32],
) -> [u8; 32] {
    // safe: only an account of over 4 GiB saturates, and the total length still tells.
    let account_len = u32::try_from(account.len()).unwrap_or(u32::MAX);
    let mut hash = Sha256::new();
    hash.update(DOMAIN);
    hash.update(scope_name(scope).as_bytes());
    hash.update([0]);
    hash.update(intent.as_str().as_bytes());
    hash.update([0]);
    hash.update(account_len.to_be_bytes());
    hash.update(account.as_bytes());
    hash.update(transaction_sha256);
    hash.finalize().into()
}

/// The serde name of a scope (a test holds the two together); traces use it too.
pub(crate) fn scope_name(scope: Scope) -> &'static str {
    match scope {
        Scope::Exchange => "exchange",
        Scope::Pay => "pay",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TX: [u8; 32] = [7; 32];

    fn of(scope: Scope, intent: Intent, account: &str, tx: &[u8; 32]) -> [u8; 32] {
        bound_digest(scope, intent, &AccountId::new(account), tx)
    }

    #[test]
    fn names_are_the_serde_names() {
        for scope in [Scope::Exchange, Scope::Pay] {
            let json = serde_json::to_string(&scope).unwrap();
            assert_eq!(json, format!("\"{}\"", scope_name(scope)));
        }
        for intent in Intent::ALL {
            let json = serde_json::to_string(&intent).unwrap();
            assert_eq!(json, format!("\"{}\"", intent.as_str()));
        }
    }

    #[test]
    fn encoding_is_the_documented_one() {
        // Recomputed by hand from the table in the docs, as an auditor would.
        let mut bytes = b"latchkey approval v1\0".to_vec();
        bytes.extend_from_slice(b"pay\0pay_sign\0");
        bytes.extend_from_slice(&[0, 0, 0, 5]);
        bytes.extend_from_slice(b"alice");
        bytes.extend_from_slice(&TX);
        let expected: [u8; 32] = Sha256::digest(&bytes).into();
        assert_eq!(of(Scope::Pay, Intent::PaySign, "alice", &TX), expected);
    }

    #[test]
    fn every_input_changes_the_digest() {
        let base = of(Scope::Exchange, Intent::DexTrade, "alice", &TX);
        assert_ne!(base, of(Scope::Pay, Intent::DexTrade, "alice", &TX));
        assert_ne!(base, of(Scope::Exchange, Intent::DexTransfer, "alice", &TX));
        assert_ne!(base, of(Scope::Exchange, Intent::DexTrade, "alicf", &TX));
        assert_ne!(base, of(Scope::Exchange, Intent::DexTrade, "", &TX));
        let mut other = TX;
        other[31] ^= 1;
        assert_ne!(base, of(Scope::Exchange, Intent::DexTrade, "alice", &other));
        // And every intent is told apart from every other.
        let all: Vec<_> = Intent::ALL
            .iter()
            .map(|intent| of(Scope::Pay, *intent, "alice", &TX))
            .collect();
        for (i, a) in all.iter().enumerate() {
            assert!(all.iter().skip(i + 1).all(|b| a != b));
        }
    }

    #[test]
    fn fields_cannot_shift_into_each_other() {
        // The account "a|b" against splits that would swallow or shed bytes were the
        // fields only concatenated or joined with a separator the account may contain.
        let split = of(Scope::Pay, Intent::PaySign, "a|b", &TX);
        for other in ["a", "a|", "|b", "b", "a|b|", "a|b\0"] {
            assert_ne!(
                split,
                of(Scope::Pay, Intent::PaySign, other, &TX),
                "{other:?}"
            );
        }
        // An account that ends with the transaction's bytes is still one account of its
        // own length, never an account "a" followed by its transaction.
        let mut forged = String::from("a");
        forged.push_str(std::str::from_utf8(&TX).unwrap());
        assert_ne!(
            of(Scope::Pay, Intent::PaySign, &forged, &TX),
            of(Scope::Pay, Intent::PaySign, "a", &TX)
        );
    }
}
