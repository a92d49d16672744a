#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod attestation;
mod backoff;
mod challenge;
mod clock;
mod config;
mod error;
pub mod extensions;
pub mod json;
mod key_cache;
mod passkeys;
mod receipt;
mod trace;
mod transaction;

pub use attestation::AttestationPolicy;
#[cfg(feature = "tokio")]
pub use backoff::TokioPause;
pub use backoff::{NoPause, Pause, PauseFuture};
pub use challenge::CHALLENGE_RANDOM_LEN;
pub use clock::{Clock, ManualClock, OsRandom, Random, SystemClock};
pub use config::{DEFAULT_ALGORITHMS, RelyingParty, RelyingPartyBuilder};
pub use error::{Error, ErrorKind, Result};
pub use extensions::ClientExtensionOutputs;
pub use key_cache::{DEFAULT_KEY_CACHE_BYTES, KeyCacheStats};
pub use passkeys::{
    AccountStatus, Authenticated, Changed, Deleted, FinishAuthentication, FinishRecovery,
    FinishRegistration, FinishReplacement, HistoryPage, InvalidStepUpToken, MAX_HISTORY_PAGE,
    Passkeys, Registered, StepUp, StepUpToken, User,
};
pub use receipt::{ApprovalReceipt, ReceiptSigner, verify_receipts};
pub use transaction::bound_digest;

/// CBOR and COSE (re-exported).
pub use latchkey_cose as cose;
/// The credential-policy engine (re-exported).
pub use latchkey_policy as policy;
/// Stores (re-exported: the trait and `MemoryStore`).
pub use latchkey_store as store;
/// Verification (re-exported).
pub use latchkey_verify as verify;

pub use latchkey_policy::{
    AaguidTable, Actor, Change, Credential, CredentialId, Event, EventKind, Factor, Freeze,
    FrozenLogin, Intent, PolicyConfig, RequestContext, Scope, Timestamp, Warning,
};
pub use latchkey_store::{AccountId, MemoryStore, Store};
pub use latchkey_verify::U2fCredential;
