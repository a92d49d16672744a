#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

#[cfg(feature = "conformance")]
pub mod conformance;
#[cfg(feature = "conformance")]
pub mod crash;
mod error;
mod memory;
mod model;
mod store;

pub use error::StoreError;
pub use memory::MemoryStore;
pub use model::{AccountId, ChallengeRecord, Taken, Versioned};
pub use store::{Store, credential_changes};
