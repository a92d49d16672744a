#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod authenticator;
pub mod hex;
pub mod jws;
pub mod scenario;
pub mod shared;
pub mod vectors;
pub mod x509;
