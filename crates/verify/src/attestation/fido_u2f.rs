//! `fido-u2f` (WebAuthn §8.6): a U2F authenticator's registration signature.

use latchkey_cose::{Algorithm, KeyParams};

use super::packed::as_invalid;
use super::{AttestationType, Input, Verified, bytes_member, statement};
use crate::certificate::parse_chain;
use crate::error::{Error, Result};

/// ```cddl
/// u2fStmtFormat = {
///                     x5c: [ attestnCert: bytes ],
///                     sig: bytes
///                 }
/// ```
pub(super) fn verify(input: &Input<'_, '_>) -> Result<Verified> {
    let map = statement(input.object, &["sig", "x5c"])?;
    let sig = bytes_member(map, "sig")?;
    let x5c = map
        .text_key("x5c")
        .and_then(|v| v.as_array())
        .ok_or(Error::AttestationInvalid("x5c"))?;
    if x5c.len() != 1 {
        return Err(Error::AttestationInvalid(
            "fido-u2f x5c must hold one certificate",
        ));
    }
    let chain = parse_chain(x5c)?;
    let cert = chain.first().ok_or(Error::AttestationInvalid("x5c"))?;
    // The attestation key must be P-256 (verified with ES256 below).
    let key = cert.verifying_key(Algorithm::Es256)?;

    // §8.6 does not look at the AAGUID (clients write zero for U2F devices; the FIDO
    // conformance tool additionally requires it, software test authenticators do not).
    let credential = input.object.credential();
    let public_key = credential.public_key();
    let (x, y) = match public_key.params() {
        KeyParams::Ec2 { x, y, .. } if public_key.algorithm() == Algorithm::Es256 => (x, y),
        _ => {
            return Err(Error::AttestationInvalid(
                "fido-u2f credential key is not ES256",
            ));
        }
    };
    let rp_id_hash = input.object.auth_data().rp_id_hash();
    let verification_data: [&[u8]; 7] = [
        &[0x00],
        rp_id_hash,
        input.client_data_hash,
        credential.credential_id(),
        &[0x04],
        x,
        y,
    ];
    key.verify(&verification_data, sig, &input.options.signature)
        .map_err(as_invalid)?;
    Ok(Verified {
        attestation_type: AttestationType::Basic,
        chain,
    })
}
