#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

#[cfg(feature = "conformance")]
pub mod conformance;
mod counted;
#[cfg(feature = "conformance")]
pub mod crash;
mod error;
mod memory;
mod model;
mod store;

pub use counted::{Calls, Counted};
pub use error::StoreError;
pub use memory::MemoryStore;
pub use model::{AccountId, ChallengeRecord, Owner, TakeAndAppend, Taken, Versioned};
pub use store::{KeyChanges, Store, credential_changes, key_changes};
