#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod assertion;
mod attestation;
#[cfg(feature = "aws-lc")]
mod aws;
mod batch;
mod certificate;
mod client_data;
mod error;
mod extensions;
pub mod json;
mod jws;
mod key_identifier;
pub mod metadata;
mod name;
mod origin;
mod p256_table;
mod registration;
mod revocation;
mod signature;
mod trust;
mod u2f;
mod verifier;

pub use assertion::{
    AssertionBytes, CounterVerdict, PendingAssertion, StoredCredential, VerifiedAssertion,
};
pub use attestation::AttestationType;
pub use batch::{BatchItem, verify_batch};
pub use certificate::{MAX_CERTIFICATE_LEN, MAX_CHAIN_LEN};
pub use client_data::{CeremonyType, ClientData, MAX_CLIENT_DATA_LEN};
pub use error::{ClientDataError, Error, ResponseError, Result};
pub use extensions::{CredProtect, RegistrationExtensions};
pub use metadata::{AuthenticatorStatus, LastAccepted, MetadataBlob, MetadataEntry, StatusReport};
pub use origin::Origins;
pub use registration::{RegistrationBytes, VerifiedRegistration};
pub use revocation::{MAX_CRL_LEN, MAX_CRLS, RevocationList};
pub use signature::{SignatureOptions, VerifyingKey};
pub use trust::{CHAIN_FORMATS, Trust, TrustAnchors};
pub use u2f::{MAX_APP_ID_LEN, U2fCredential};
pub use verifier::{Ceremony, CounterPolicy, UserVerification, Verifier, VerifierOptions};
