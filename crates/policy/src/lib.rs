#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod account;
mod apply;
mod changes;
mod command;
mod config;
mod decide;
mod error;
mod event;
mod fingerprint;
mod intent;
mod model;
mod names;
mod step_up;
mod uses;

pub use account::{MAX_REASON_CHARS, RECOVERY_REASON};
pub use apply::apply;
pub use command::{AssertionFacts, AttestationFacts, Command, NewCredential};
pub use config::{
    AaguidTable, AaguidTableError, CounterMode, FrozenLogin, Limits, PolicyConfig, ProviderRules,
    ProviderVerdict, StepUpFactors,
};
pub use decide::{Decision, Warning, decide, preflight, preflight_recovery};
pub use error::PolicyError;
pub use event::{Event, EventKind, StepUpKind};
pub use fingerprint::KeyFingerprint;
pub use intent::{Intent, UserVerificationRule};
pub use model::{
    AccountState, Actor, Credential, CredentialId, Factor, Freeze, ProviderClass, Realm,
    RequestContext, Scope, Timestamp,
};
pub use names::{DEFAULT_NAME, MAX_NAME_CHARS, is_valid_name};
pub use step_up::{Change, MAX_PENDING_STEP_UPS, PendingStepUp, ProofId, StepUp};
