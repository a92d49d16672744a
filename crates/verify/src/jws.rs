//! JWS compact serialization (RFC 7515 §7.1) as `android-safetynet` attestations and FIDO
//! metadata BLOBs use it: a protected header naming `alg` and an `x5c` chain, a payload,
//! a signature by the chain's first certificate.
//!
//! Strict base64url everywhere (no padding, no standard-alphabet characters: the
//! jsrsasign CVE-2022-25898 class), exactly three parts, and caps on the sizes.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use latchkey_cose::Algorithm;
use serde::Deserialize;

use crate::certificate::Cert;
use crate::signature::SignatureOptions;

/// Most certificates accepted in a header `x5c`.
pub(crate) const MAX_HEADER_CERTIFICATES: usize = 5;

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    x5c: Vec<String>,
}

/// A parsed JWS whose signature is not checked yet.
pub(crate) struct Jws<'a> {
    /// The header's `alg`, as written.
    pub(crate) alg: String,
    /// The header's `x5c`, leaf first.
    pub(crate) chain: Vec<Cert>,
    /// The decoded payload.
    pub(crate) payload: Vec<u8>,
    signed_input: &'a str,
    signature: Vec<u8>,
}

/// Why a JWS was refused; callers wrap it in their own error.
pub(crate) enum JwsError {
    /// Not a compact JWS with strict base64url parts and a JSON header.
    Malformed(&'static str),
    /// More than [`MAX_HEADER_CERTIFICATES`] certificates.
    TooManyCertificates,
    /// A certificate in `x5c` does not parse.
    Certificate(crate::Error),
}

impl<'a> Jws<'a> {
    /// Splits and decodes `text`.
    pub(crate) fn parse(text: &'a str) -> Result<Self, JwsError> {
        let malformed = JwsError::Malformed;
        let mut parts = text.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed("not a compact JWS"));
        };
        let decode = |part: &str| {
            URL_SAFE_NO_PAD
                .decode(part)
                .map_err(|_| malformed("JWS part is not base64url"))
        };
        let parsed: Header = serde_json::from_slice(&decode(header)?)
            .map_err(|_| malformed("JWS header is not the expected JSON"))?;
        if parsed.x5c.is_empty() {
            return Err(malformed("JWS x5c is empty"));
        }
        if parsed.x5c.len() > MAX_HEADER_CERTIFICATES {
            return Err(JwsError::TooManyCertificates);
        }
        let chain = parsed
            .x5c
            .iter()
            .map(|c| {
                let der = STANDARD
                    .decode(c)
                    .map_err(|_| malformed("JWS x5c is not base64"))?;
                Cert::parse(&der).map_err(JwsError::Certificate)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            alg: parsed.alg,
            chain,
            payload: decode(payload)?,
            // `header.payload`: both parts are ASCII, so the slice is on a boundary.
            signed_input: text
                .get(..header.len() + 1 + payload.len())
                .unwrap_or_default(),
            signature: decode(signature)?,
        })
    }

    /// Whether the first certificate's key signed the JWS with `algorithm` (RS256 or
    /// ES256; JWS ECDSA signatures are `r || s`, RFC 7518 §3.4).
    pub(crate) fn signed_by_leaf(&self, algorithm: Algorithm) -> bool {
        let Some(leaf) = self.chain.first() else {
            return false;
        };
        let Ok(key) = leaf.verifying_key(algorithm) else {
            return false;
        };
        let der;
        let signature = match algorithm {
            Algorithm::Es256 => match p256::ecdsa::Signature::from_slice(&self.signature) {
                Ok(signature) => {
                    der = signature.to_der();
                    der.as_bytes()
                }
                Err(_) => return false,
            },
            _ => self.signature.as_slice(),
        };
        key.verify(
            &[self.signed_input.as_bytes()],
            signature,
            &SignatureOptions::default(),
        )
        .is_ok()
    }
}
