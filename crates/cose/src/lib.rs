#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod aaguid;
mod attestation_object;
mod authenticator_data;
pub mod cbor;
#[cfg(feature = "coset")]
mod coset_bridge;
mod error;
mod flags;
mod key;
mod options;
#[cfg(test)]
mod test_hex;

pub use aaguid::{Aaguid, ParseAaguidError};
pub use attestation_object::{AttestationObject, MAX_FMT_LEN};
pub use authenticator_data::{
    AttestedCredentialData, AuthenticatorData, AuthenticatorDataBuilder, Extensions,
    MAX_CREDENTIAL_ID_LEN,
};
pub use error::{
    AttestationObjectError, AuthenticatorDataError, CborError, Context, CoseKeyError, Error,
    LimitExceeded, Result,
};
pub use flags::Flags;
pub use key::{
    Algorithm, CredentialPublicKey, Curve, KeyParams, KeyType, RSA_MAX_BITS, RSA_MIN_BITS,
};
pub use options::{Limits, ParseOptions, Strictness};
