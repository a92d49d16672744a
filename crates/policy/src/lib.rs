#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod apply;
mod command;
mod config;
mod decide;
mod error;
mod event;
mod model;
mod names;

pub use apply::apply;
pub use command::{AssertionFacts, Command, NewCredential, StepUp};
pub use config::{
    AaguidTable, AaguidTableError, CounterMode, Limits, PolicyConfig, ProviderRules,
    ProviderVerdict,
};
pub use decide::{Decision, Warning, decide};
pub use error::PolicyError;
pub use event::{Event, EventKind, StepUpKind};
pub use model::{
    AccountState, Credential, CredentialId, Factor, Intent, ProviderClass, Realm, RequestContext,
    Scope, Timestamp,
};
pub use names::{DEFAULT_NAME, MAX_NAME_CHARS, is_valid_name};
