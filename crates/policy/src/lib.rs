#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod apply;
mod changes;
mod command;
mod config;
mod decide;
mod error;
mod event;
mod intent;
mod model;
mod names;
mod step_up;
mod uses;

pub use apply::apply;
pub use command::{AssertionFacts, AttestationFacts, Command, NewCredential};
pub use config::{
    AaguidTable, AaguidTableError, CounterMode, Limits, PolicyConfig, ProviderRules,
    ProviderVerdict, StepUpFactors,
};
pub use decide::{Decision, Warning, decide, preflight};
pub use error::PolicyError;
pub use event::{Event, EventKind, StepUpKind};
pub use intent::{Intent, UserVerificationRule};
pub use model::{
    AccountState, Actor, Credential, CredentialId, Factor, ProviderClass, Realm, RequestContext,
    Scope, Timestamp,
};
pub use names::{DEFAULT_NAME, MAX_NAME_CHARS, is_valid_name};
pub use step_up::{Change, MAX_PENDING_STEP_UPS, PendingStepUp, ProofId, StepUp};
