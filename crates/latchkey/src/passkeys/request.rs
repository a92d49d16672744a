//! What the `finish_*` calls take: what every finish needs, positionally in `new`, and
//! what only some need by name, so that a call reads without counting `None`s.

use latchkey_policy::{CredentialId, Factor, Intent, RequestContext};
use latchkey_store::AccountId;

use crate::json::{AuthenticationResponse, RegistrationResponse};
use crate::passkeys::outcome::StepUp;

/// The input of [`Passkeys::finish_registration`](crate::Passkeys::finish_registration).
///
/// ```
/// # use latchkey::{AccountId, FinishRegistration, RequestContext, StepUp};
/// # fn example(response: &latchkey::json::RegistrationResponse) {
/// let (account, context) = (AccountId::new("alice"), RequestContext::default());
/// let request = FinishRegistration::new(&account, response, &StepUp::None, &context)
///     .name("Work laptop");
/// assert_eq!(request.name, Some("Work laptop"));
/// # }
/// ```
#[derive(Clone, Copy, Debug)]
pub struct FinishRegistration<'a> {
    /// The account the registration was started for.
    pub account: &'a AccountId,
    /// What the browser returned.
    pub response: &'a RegistrationResponse,
    /// How the change was stepped up (P7).
    pub step_up: &'a StepUp,
    /// The request's actor and session (P14, P16).
    pub context: &'a RequestContext,
    /// The passkey's name; `None` names it after its provider (P6).
    pub name: Option<&'a str>,
}

impl<'a> FinishRegistration<'a> {
    /// A registration of `response` to `account`, unnamed.
    #[must_use]
    pub fn new(
        account: &'a AccountId,
        response: &'a RegistrationResponse,
        step_up: &'a StepUp,
        context: &'a RequestContext,
    ) -> Self {
        Self {
            account,
            response,
            step_up,
            context,
            name: None,
        }
    }

    /// Names the passkey (`None` leaves the provider's name).
    #[must_use]
    pub fn name(mut self, name: impl Into<Option<&'a str>>) -> Self {
        self.name = name.into();
        self
    }
}

/// The input of [`Passkeys::finish_replacement`](crate::Passkeys::finish_replacement).
#[derive(Clone, Copy, Debug)]
pub struct FinishReplacement<'a> {
    /// The account holding both passkeys.
    pub account: &'a AccountId,
    /// The passkey being replaced.
    pub old: &'a CredentialId,
    /// What the browser returned for the successor.
    pub response: &'a RegistrationResponse,
    /// How the replacement was stepped up (P7).
    pub step_up: &'a StepUp,
    /// The request's actor and session (P14, P16).
    pub context: &'a RequestContext,
    /// The user accepted the DEX terms again, so a DEX-authorized `old` hands its
    /// authorization to the successor (P2). Default false.
    pub dex_terms_accepted: bool,
    /// The successor's name; `None` names it after its provider (P6).
    pub name: Option<&'a str>,
}

impl<'a> FinishReplacement<'a> {
    /// A replacement of `old` by `response`, without the DEX terms, unnamed.
    #[must_use]
    pub fn new(
        account: &'a AccountId,
        old: &'a CredentialId,
        response: &'a RegistrationResponse,
        step_up: &'a StepUp,
        context: &'a RequestContext,
    ) -> Self {
        Self {
            account,
            old,
            response,
            step_up,
            context,
            dex_terms_accepted: false,
            name: None,
        }
    }

    /// Whether the user accepted the DEX terms for the successor.
    #[must_use]
    pub fn dex_terms_accepted(mut self, accepted: bool) -> Self {
        self.dex_terms_accepted = accepted;
        self
    }

    /// Names the successor (`None` leaves the provider's name).
    #[must_use]
    pub fn name(mut self, name: impl Into<Option<&'a str>>) -> Self {
        self.name = name.into();
        self
    }
}

/// The input of
/// [`Passkeys::finish_authentication`](crate::Passkeys::finish_authentication).
#[derive(Clone, Copy, Debug)]
pub struct FinishAuthentication<'a> {
    /// What the browser returned.
    pub response: &'a AuthenticationResponse,
    /// The request's actor and session (P14, P16).
    pub context: &'a RequestContext,
    /// For signing intents, the transaction the challenge was bound to (the same bytes
    /// given to `start_authentication`); `None` for every other intent.
    pub transaction: Option<&'a [u8]>,
    /// Factors the service checked in this request, for intents whose policy asks for
    /// them besides the passkey (P9).
    pub factors: &'a [Factor],
    /// The intents the caller's endpoint serves; empty serves any. A challenge started
    /// for another intent is `challenge_mismatch`, before anything is recorded.
    pub intents: &'a [Intent],
    /// The account the caller's session is signed in to, if any: a challenge or passkey
    /// of another account is `challenge_mismatch`, before anything is recorded.
    pub account: Option<&'a AccountId>,
    /// Whether the caller's endpoint finishes step-ups for a passkey change:
    /// `Some(true)` serves only a challenge of
    /// [`start_step_up`](crate::Passkeys::start_step_up), `Some(false)` never one,
    /// `None` either. A step-up and a `security_change` the service gates itself share
    /// the intent, so `intents` alone cannot tell them apart; a challenge for the other
    /// is `challenge_mismatch`, before anything is recorded.
    pub step_up: Option<bool>,
}

impl<'a> FinishAuthentication<'a> {
    /// An authentication by `response`, without a transaction or factors.
    #[must_use]
    pub fn new(response: &'a AuthenticationResponse, context: &'a RequestContext) -> Self {
        Self {
            response,
            context,
            transaction: None,
            factors: &[],
            intents: &[],
            account: None,
            step_up: None,
        }
    }

    /// The transaction a signing intent approves.
    #[must_use]
    pub fn transaction(mut self, transaction: impl Into<Option<&'a [u8]>>) -> Self {
        self.transaction = transaction.into();
        self
    }

    /// The factors the service checked in this request.
    #[must_use]
    pub fn factors(mut self, factors: &'a [Factor]) -> Self {
        self.factors = factors;
        self
    }

    /// Serves only these intents (a login endpoint: `&[Intent::Login]`).
    #[must_use]
    pub fn intents(mut self, intents: &'a [Intent]) -> Self {
        self.intents = intents;
        self
    }

    /// Serves only the account the session is signed in to.
    #[must_use]
    pub fn account(mut self, account: impl Into<Option<&'a AccountId>>) -> Self {
        self.account = account.into();
        self
    }

    /// Serves only step-ups for a passkey change (`true`), or never one (`false`).
    #[must_use]
    pub fn step_up(mut self, step_up: bool) -> Self {
        self.step_up = Some(step_up);
        self
    }
}

/// The input of [`Passkeys::finish_recovery`](crate::Passkeys::finish_recovery) (P20):
/// the same as a registration's, its step-up being the identity check (factors
/// `id_document` and `face`).
pub type FinishRecovery<'a> = FinishRegistration<'a>;
