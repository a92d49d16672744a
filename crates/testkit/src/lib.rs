#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod authenticator;
pub mod ca;
mod executor;
pub mod hex;
pub mod jws;
pub mod scenario;
pub mod shared;
pub mod vectors;
pub mod x509;

pub use executor::block_on;
