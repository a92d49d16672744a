//! Verifying a registration (WebAuthn §7.1).

use std::time::SystemTime;

use latchkey_cose::{Aaguid, Algorithm, AttestationObject, CredentialPublicKey, Flags};
use sha2::{Digest as _, Sha256};

use crate::attestation::{self, AttestationType};
use crate::client_data::{CeremonyType, ClientData};
use crate::error::{Error, Result};
use crate::extensions::RegistrationExtensions;
use crate::signature::VerifyingKey;
use crate::trust::Trust;
use crate::verifier::{Ceremony, Verifier, check_flags};

/// What the client sent for a registration (`AuthenticatorAttestationResponse`), as bytes.
#[derive(Clone, Copy, Debug)]
pub struct RegistrationBytes<'a> {
    /// clientDataJSON.
    pub client_data_json: &'a [u8],
    /// attestationObject.
    pub attestation_object: &'a [u8],
    /// The credential's `rawId`: it must be the credential id in the authenticator data.
    pub raw_id: &'a [u8],
}

/// A registration that passed §7.1 up to storage: the credential record to create and
/// what its attestation proved. Only this crate can build one.
#[derive(Clone, Debug)]
pub struct VerifiedRegistration {
    credential_id: Vec<u8>,
    public_key: CredentialPublicKey,
    verifying_key: VerifyingKey,
    sign_count: u32,
    flags: Flags,
    aaguid: Aaguid,
    fmt: String,
    attestation_type: AttestationType,
    trust: Trust,
    key_identifiers: Vec<[u8; 20]>,
    extensions: RegistrationExtensions,
}

impl VerifiedRegistration {
    /// The credential id.
    #[must_use]
    pub fn credential_id(&self) -> &[u8] {
        &self.credential_id
    }

    /// The credential public key (its COSE bytes are what to store).
    #[must_use]
    pub fn public_key(&self) -> &CredentialPublicKey {
        &self.public_key
    }

    /// The verifying key, already validated.
    #[must_use]
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.verifying_key
    }

    /// The initial signature counter.
    #[must_use]
    pub fn sign_count(&self) -> u32 {
        self.sign_count
    }

    /// The authenticator data flags (UV, BE, BS to store).
    #[must_use]
    pub fn flags(&self) -> Flags {
        self.flags
    }

    /// The authenticator model.
    #[must_use]
    pub fn aaguid(&self) -> Aaguid {
        self.aaguid
    }

    /// The attestation statement format.
    #[must_use]
    pub fn fmt(&self) -> &str {
        &self.fmt
    }

    /// The attestation type.
    #[must_use]
    pub fn attestation_type(&self) -> AttestationType {
        self.attestation_type
    }

    /// Whether the attestation chains to a configured anchor.
    #[must_use]
    pub fn trust(&self) -> Trust {
        self.trust
    }

    /// The key identifiers of the attestation certificates (SHA-1 of each leaf
    /// certificate's subjectPublicKey bits; one per chain, several for `compound`, none
    /// without a chain): how FIDO metadata names U2F and zero-AAGUID authenticators (see
    /// [`MetadataBlob::reports_compromise`](crate::MetadataBlob::reports_compromise)).
    #[must_use]
    pub fn attestation_key_identifiers(&self) -> &[[u8; 20]] {
        &self.key_identifiers
    }

    /// The signed extension outputs latchkey understands (`credProtect`, `hmac-secret`,
    /// `minPinLength`). Store `cred_protect` with the credential.
    #[must_use]
    pub fn extensions(&self) -> &RegistrationExtensions {
        &self.extensions
    }
}

impl Verifier {
    /// Verifies a registration, evaluating certificate validity at `now`.
    ///
    /// Steps: client data (type, challenge, origins), attestation object, rpIdHash, UP,
    /// UV, BE/BS, the key's algorithm against the offered ones (and RS1 only with
    /// [`SignatureOptions::allow_rs1`](crate::SignatureOptions::allow_rs1)), key validity, the format's
    /// verification procedure, then trust. Whether the credential id is already registered
    /// (§7.1 step 26) needs storage and is the caller's check.
    ///
    /// # Errors
    ///
    /// The first failed check, as an [`Error`] with its stable code.
    pub fn verify_registration(
        &self,
        response: &RegistrationBytes<'_>,
        ceremony: &Ceremony<'_>,
        now: SystemTime,
    ) -> Result<VerifiedRegistration> {
        let client_data = ClientData::parse(response.client_data_json)?;
        client_data.check(CeremonyType::Create, ceremony.challenge, self.origins())?;

        let object =
            AttestationObject::parse_with(response.attestation_object, &self.options().cbor)?;
        let auth_data = object.auth_data();
        if auth_data.rp_id_hash() != self.rp_id_hash() {
            return Err(Error::RpIdMismatch);
        }
        check_flags(auth_data.flags(), ceremony, self.options())?;

        let credential = object.credential();
        if credential.credential_id() != response.raw_id {
            return Err(Error::CredentialIdMismatch);
        }
        let public_key = credential.public_key();
        let algorithm = public_key.algorithm();
        if !ceremony.algorithms.is_empty() && !ceremony.algorithms.contains(&algorithm) {
            return Err(Error::UnsupportedAlgorithm(algorithm.cose()));
        }
        // An RS1 key could never sign in unless RS1 is allowed: refuse it now (C.35).
        if algorithm == Algorithm::Rs1 && !self.options().signature.allow_rs1 {
            return Err(Error::UnsupportedAlgorithm(algorithm.cose()));
        }
        let verifying_key = VerifyingKey::from_credential_key(public_key)?;
        let extensions = RegistrationExtensions::parse(auth_data.extensions())?;
        if let Some(required) = ceremony.required_cred_protect
            && extensions
                .cred_protect()
                .is_none_or(|applied| applied < required)
        {
            return Err(Error::CredProtectBelowRequired);
        }

        let client_data_hash: [u8; 32] = Sha256::digest(response.client_data_json).into();
        let input = attestation::Input {
            object: &object,
            client_data_hash: &client_data_hash,
            credential_key: &verifying_key,
            options: self.options(),
        };
        let attestation::Attested {
            attestation_type,
            trust,
            key_identifiers,
        } = attestation::verify(&input, self.trust_anchors(), now)?;
        if self.options().require_trusted_attestation {
            match trust {
                Trust::Trusted => {}
                Trust::Untrusted(reason) => return Err(Error::AttestationUntrusted(reason)),
                _ => return Err(Error::AttestationUntrusted("no trusted attestation chain")),
            }
        }

        Ok(VerifiedRegistration {
            credential_id: credential.credential_id().to_vec(),
            public_key: public_key.clone(),
            verifying_key,
            sign_count: auth_data.sign_count(),
            flags: auth_data.flags(),
            aaguid: credential.aaguid(),
            fmt: object.fmt().to_owned(),
            attestation_type,
            trust,
            key_identifiers,
            extensions,
        })
    }
}
