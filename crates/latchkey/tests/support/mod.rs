//! One service on a memory store, a manual clock and a browser, shared by the facade's
//! ceremony tests.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use latchkey::json::{AuthenticationResponse, RegistrationResponse};
use latchkey::{
    AccountId, Authenticated, Change, CredentialId, Factor, FinishAuthentication,
    FinishRegistration, Intent, ManualClock, MemoryStore, Passkeys, Registered, RelyingParty,
    RequestContext, Scope, StepUp, StepUpToken, Store, Timestamp, User,
};
use latchkey_testkit::authenticator::{Authenticator, Client};
use latchkey_testkit::block_on;

/// 2026-01-01T00:00:00Z.
pub const T0: Timestamp = Timestamp(1_767_225_600);

pub struct World<S = MemoryStore> {
    pub passkeys: Passkeys<S>,
    pub clock: Arc<ManualClock>,
    pub client: Client,
    pub context: RequestContext,
}

pub fn relying_party() -> RelyingParty {
    RelyingParty::builder("example.com", "Example")
        .origin("https://example.com")
        .build()
        .unwrap()
}

pub fn world() -> World {
    world_on(MemoryStore::new())
}

pub fn world_on<S: Store>(store: S) -> World<S> {
    let clock = Arc::new(ManualClock::new(T0));
    World {
        passkeys: Passkeys::new(relying_party(), store).with_clock(clock.clone()),
        clock,
        client: Client::new("example.com", "https://example.com"),
        context: RequestContext::default(),
    }
}

pub fn user(name: &str) -> User {
    User {
        name: name.into(),
        display_name: name.into(),
    }
}

pub fn id(authenticator: &Authenticator) -> CredentialId {
    CredentialId::new(authenticator.credential_id().to_vec())
}

/// Two distinct factors: enough for a factor step-up in either scope by default.
pub fn factors() -> StepUp {
    StepUp::Factors(vec![Factor::Email, Factor::Totp])
}

impl<S: Store> World<S> {
    /// Finishes an assertion `response` in this world's context, for any intent.
    pub fn finish(&self, response: &AuthenticationResponse) -> latchkey::Result<Authenticated> {
        block_on(
            self.passkeys
                .finish_authentication(FinishAuthentication::new(response, &self.context)),
        )
    }

    pub fn register(
        &self,
        account: &AccountId,
        authenticator: &Authenticator,
        scope: Scope,
        step_up: StepUp,
    ) -> latchkey::Result<Registered> {
        let options = block_on(self.passkeys.start_registration(
            account,
            &user(account.as_str()),
            scope,
            &step_up,
        ))?;
        let response = RegistrationResponse::from_json(
            &authenticator.registration_json(&self.client, &options.challenge),
        )?;
        block_on(self.passkeys.finish_registration(FinishRegistration::new(
            account,
            &response,
            &step_up,
            &self.context,
        )))
    }

    /// The response `authenticator` gives to `challenge`, with the user handle of its
    /// passkey's scope in `holder`'s account.
    pub fn answer(
        &self,
        authenticator: &mut Authenticator,
        challenge: &str,
        holder: &AccountId,
        scope: Scope,
    ) -> AuthenticationResponse {
        let handle = self.passkeys.user_handle(holder, scope);
        let json = authenticator.authentication_json(&self.client, challenge, &handle);
        AuthenticationResponse::from_json(&json).unwrap()
    }

    /// An assertion by one of `account`'s passkeys for `intent`, answered by
    /// `authenticator` as a passkey of `scope` held by `account`.
    pub fn authenticate(
        &self,
        account: &AccountId,
        authenticator: &mut Authenticator,
        scope: Scope,
        intent: Intent,
        transaction: Option<&[u8]>,
    ) -> latchkey::Result<Authenticated> {
        let options = block_on(
            self.passkeys
                .start_authentication(account, intent, transaction),
        )?;
        let response = self.answer(authenticator, &options.challenge, account, scope);
        block_on(self.passkeys.finish_authentication(
            FinishAuthentication::new(&response, &self.context).transaction(transaction),
        ))
    }

    /// A passkey step-up by `authenticator` (a passkey of `held_in` in `account`) for one
    /// change in `scope`.
    pub fn step_up(
        &self,
        account: &AccountId,
        authenticator: &mut Authenticator,
        held_in: Scope,
        scope: Scope,
        change: &Change,
    ) -> latchkey::Result<StepUpToken> {
        let options = block_on(self.passkeys.start_step_up(account, scope, change))?;
        let response = self.answer(authenticator, &options.challenge, account, held_in);
        let done = block_on(
            self.passkeys
                .finish_authentication(FinishAuthentication::new(&response, &self.context)),
        )?;
        Ok(done.step_up.expect("a step-up returns its token"))
    }
}

/// The service's identity check: the factors `id_document` and `face` (P18, P20).
pub fn identity() -> StepUp {
    StepUp::Factors(vec![Factor::IdDocument, Factor::Face])
}

/// A request made by operator `ops-7` (revocations, recoveries, unfreezing).
pub fn operator() -> RequestContext {
    RequestContext {
        actor: latchkey::Actor::Operator("ops-7".into()),
        request_id: Some("req-ops".into()),
        ..RequestContext::default()
    }
}

/// The code of a refusal; panics if `result` is a success.
pub fn code<T: std::fmt::Debug>(result: latchkey::Result<T>) -> &'static str {
    result.expect_err("should be refused").code()
}
