//! Verifying an authentication assertion (WebAuthn §7.2).

use sha2::{Digest as _, Sha256};

use crate::client_data::{CeremonyType, ClientData};
use crate::error::{Error, Result};
use crate::extensions::CredProtect;
use crate::signature::VerifyingKey;
use crate::verifier::{Ceremony, CounterPolicy, Verifier, check_flags};
use latchkey_cose::{AuthenticatorData, Flags};

/// What the client sent for an assertion (`AuthenticatorAssertionResponse`), as bytes.
#[derive(Clone, Copy, Debug)]
pub struct AssertionBytes<'a> {
    /// clientDataJSON.
    pub client_data_json: &'a [u8],
    /// authenticatorData.
    pub authenticator_data: &'a [u8],
    /// signature.
    pub signature: &'a [u8],
}

/// What the relying party stored about the credential.
#[derive(Clone, Copy, Debug)]
pub struct StoredCredential<'a> {
    /// The credential's verifying key, built once at registration.
    pub key: &'a VerifyingKey,
    /// The stored signature counter.
    pub sign_count: u32,
    /// The stored backup eligibility (BE), when known.
    pub backup_eligible: Option<bool>,
    /// The FIDO AppID this credential was registered under through U2F, if any: only then
    /// may rpIdHash be SHA-256 of the AppID (§10.1.1).
    pub app_id: Option<&'a str>,
    /// The `credProtect` level the authenticator applied at registration, when it said:
    /// level 3 demands UV on every assertion, level 2 on discoverable ones.
    pub cred_protect: Option<CredProtect>,
}

/// How the signature counter compares with the stored one (§6.1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CounterVerdict {
    /// Both are zero: the authenticator keeps no counter.
    BothZero,
    /// The counter grew.
    Grows,
    /// The counter did not grow though one side is non-zero: a clone signal. Only returned
    /// under [`CounterPolicy::Flag`]; the default refuses.
    Regression,
}

/// An assertion that passed every check of §7.2 that needs no storage. Only this crate can
/// build one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedAssertion {
    flags: Flags,
    sign_count: u32,
    new_sign_count: u32,
    counter: CounterVerdict,
    backup_eligibility_changed: bool,
}

impl VerifiedAssertion {
    /// The authenticator data flags.
    #[must_use]
    pub fn flags(&self) -> Flags {
        self.flags
    }

    /// Whether the user was verified (UV).
    #[must_use]
    pub fn user_verified(&self) -> bool {
        self.flags.user_verified()
    }

    /// Backup eligibility (BE) as asserted.
    #[must_use]
    pub fn backup_eligible(&self) -> bool {
        self.flags.backup_eligible()
    }

    /// Backup state (BS), to store (§7.2 step 24).
    #[must_use]
    pub fn backed_up(&self) -> bool {
        self.flags.backed_up()
    }

    /// The counter in this assertion.
    #[must_use]
    pub fn sign_count(&self) -> u32 {
        self.sign_count
    }

    /// The counter to store: the received one, except that a lower or zero counter never
    /// lowers the stored value.
    #[must_use]
    pub fn new_sign_count(&self) -> u32 {
        self.new_sign_count
    }

    /// How the counter compared.
    #[must_use]
    pub fn counter(&self) -> CounterVerdict {
        self.counter
    }

    /// Whether BE differs from the stored value: a warning, not a failure (P12).
    #[must_use]
    pub fn backup_eligibility_changed(&self) -> bool {
        self.backup_eligibility_changed
    }
}

/// An assertion that passed every check of §7.2 before the signature (client data,
/// authenticator data, flags): what remains is the signature over
/// [`signed_message`](Self::signed_message), and the counter. It proves nothing by itself;
/// [`Verifier::verify_assertion`] finishes it, and callers that check many signatures at
/// once (approval receipts, with [`verify_batch`](crate::verify_batch)) finish it
/// themselves.
#[derive(Clone, Debug)]
pub struct PendingAssertion<'a> {
    authenticator_data: &'a [u8],
    client_data_hash: [u8; 32],
    signature: &'a [u8],
    flags: Flags,
    sign_count: u32,
}

impl<'a> PendingAssertion<'a> {
    /// The signed message, in parts: `authData || SHA-256(clientDataJSON)` (§7.2 step 20).
    #[must_use]
    pub fn signed_message(&self) -> [&[u8]; 2] {
        [self.authenticator_data, &self.client_data_hash]
    }

    /// The signature to check over [`signed_message`](Self::signed_message).
    #[must_use]
    pub fn signature(&self) -> &'a [u8] {
        self.signature
    }

    /// The authenticator data flags (UP, UV, BE, BS already checked).
    #[must_use]
    pub fn flags(&self) -> Flags {
        self.flags
    }
}

impl Verifier {
    /// Verifies an assertion against the ceremony's challenge and the stored credential.
    ///
    /// Steps, in the spec's order: client data (type, challenge, origin, crossOrigin,
    /// topOrigin), authenticator data (layout, no AT, rpIdHash, UP, UV, BE/BS), the
    /// signature over `authData || SHA-256(clientDataJSON)`, then the counter. The steps
    /// before the signature are [`check_assertion`](Self::check_assertion).
    ///
    /// # Errors
    ///
    /// The first failed check, as an [`Error`] with its stable code.
    pub fn verify_assertion(
        &self,
        response: &AssertionBytes<'_>,
        ceremony: &Ceremony<'_>,
        stored: &StoredCredential<'_>,
    ) -> Result<VerifiedAssertion> {
        let pending = self.check_assertion(response, ceremony, stored)?;
        stored.key.verify(
            &pending.signed_message(),
            pending.signature,
            &self.options().signature,
        )?;

        let flags = pending.flags;
        let received = pending.sign_count;
        let counter = match (stored.sign_count, received) {
            (0, 0) => CounterVerdict::BothZero,
            (stored, received) if received > stored => CounterVerdict::Grows,
            (stored, received) => match self.options().counter {
                CounterPolicy::Reject => return Err(Error::CounterRegression { stored, received }),
                CounterPolicy::Flag => CounterVerdict::Regression,
            },
        };
        Ok(VerifiedAssertion {
            flags,
            sign_count: received,
            new_sign_count: received.max(stored.sign_count),
            counter,
            backup_eligibility_changed: stored
                .backup_eligible
                .is_some_and(|be| be != flags.backup_eligible()),
        })
    }

    /// Every check of [`verify_assertion`](Self::verify_assertion) before the signature:
    /// client data (type, challenge, origin, crossOrigin, topOrigin), then authenticator
    /// data (layout, no AT, rpIdHash, UP, UV, BE/BS, the stored `credProtect` level).
    /// `stored.key` and `stored.sign_count` are not used here.
    ///
    /// # Errors
    ///
    /// The first failed check, as an [`Error`] with its stable code.
    pub fn check_assertion<'a>(
        &self,
        response: &AssertionBytes<'a>,
        ceremony: &Ceremony<'_>,
        stored: &StoredCredential<'_>,
    ) -> Result<PendingAssertion<'a>> {
        let client_data = ClientData::parse(response.client_data_json)?;
        client_data.check(CeremonyType::Get, ceremony.challenge, self.origins())?;

        let auth_data =
            AuthenticatorData::parse_with(response.authenticator_data, &self.options().cbor)?;
        if auth_data.flags().attested_credential_data() {
            return Err(Error::AttestedDataInAssertion);
        }
        let rp_id_hash = auth_data.rp_id_hash();
        let app_id_matches = stored
            .app_id
            .is_some_and(|app_id| Sha256::digest(app_id.as_bytes()).as_slice() == rp_id_hash);
        if rp_id_hash != self.rp_id_hash() && !app_id_matches {
            return Err(Error::RpIdMismatch);
        }
        let flags = auth_data.flags();
        check_flags(flags, ceremony, self.options())?;
        if stored
            .cred_protect
            .is_some_and(|level| !level.allows(flags.user_verified(), ceremony.discoverable))
        {
            return Err(Error::UserVerificationRequired);
        }
        Ok(PendingAssertion {
            authenticator_data: response.authenticator_data,
            client_data_hash: Sha256::digest(response.client_data_json).into(),
            signature: response.signature,
            flags,
            sign_count: auth_data.sign_count(),
        })
    }
}
