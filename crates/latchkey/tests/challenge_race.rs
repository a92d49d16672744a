//! P16: of racing uses of one challenge, one succeeds and every other gets
//! `challenge_reused`, through the facade on a shared store.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Barrier};
use std::thread;

use latchkey::json::{AuthenticationResponse, RegistrationResponse};
use latchkey::{
    AccountId, Factor, FinishAuthentication, FinishRegistration, Intent, MemoryStore, Passkeys,
    RelyingParty, RequestContext, Scope, StepUp, User,
};
use latchkey_testkit::authenticator::{Authenticator, Client, SoftKey};
use latchkey_testkit::block_on;

const RACERS: usize = 8;

#[test]
fn racing_uses_of_a_challenge_one_succeeds_the_others_are_reused() {
    let rp = RelyingParty::builder("example.com", "Example")
        .origin("https://example.com")
        .build()
        .unwrap();
    let passkeys = Arc::new(Passkeys::new(rp, MemoryStore::new()));
    let client = Client::new("example.com", "https://example.com");
    let context = RequestContext::default();
    let alice = AccountId::new("alice");
    let mut key = Authenticator::new(SoftKey::es256([1; 32]));
    let user = User {
        name: "alice".into(),
        display_name: "alice".into(),
    };
    let step_up = StepUp::Factors(vec![Factor::Email, Factor::Totp]);
    let options =
        block_on(passkeys.start_registration(&alice, &user, Scope::Exchange, &step_up)).unwrap();
    let response =
        RegistrationResponse::from_json(&key.registration_json(&client, &options.challenge))
            .unwrap();
    block_on(passkeys.finish_registration(FinishRegistration::new(
        &alice, &response, &step_up, &context,
    )))
    .unwrap();

    for round in 0..10 {
        let options = block_on(passkeys.start_authentication(&alice, Intent::Login, None)).unwrap();
        let json = key.authentication_json(
            &client,
            &options.challenge,
            &passkeys.user_handle(&alice, Scope::Exchange),
        );
        let start = Arc::new(Barrier::new(RACERS));
        let racers: Vec<_> = (0..RACERS)
            .map(|_| {
                let (passkeys, json, start) =
                    (Arc::clone(&passkeys), json.clone(), Arc::clone(&start));
                thread::spawn(move || {
                    let response = AuthenticationResponse::from_json(&json).unwrap();
                    start.wait();
                    block_on(passkeys.finish_authentication(FinishAuthentication::new(
                        &response,
                        &RequestContext::default(),
                    )))
                    .map(|_| ())
                    .map_err(|e| e.code())
                })
            })
            .collect();
        let results: Vec<_> = racers.into_iter().map(|r| r.join().unwrap()).collect();
        let won = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(won, 1, "round {round}: {results:?}");
        for result in results.iter().filter_map(|r| r.err()) {
            assert_eq!(result, "challenge_reused", "round {round}: {results:?}");
        }
    }
}
