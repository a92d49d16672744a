//! latchkey's facade against 1Password's passkey-rs (`passkey-client` +
//! `passkey-authenticator`, RustCrypto backend), a WebAuthn client and a software
//! authenticator that nobody here wrote.
//!
//! latchkey's options JSON (`PublicKeyCredentialCreationOptionsJSON` /
//! `...RequestOptionsJSON`) is handed to the client as a browser's
//! `parse*OptionsFromJSON` would take it; the client's answer, serialized as
//! `PublicKeyCredential.toJSON()` would be, goes back into `finish_registration` /
//! `finish_authentication`. Matrix: ES256 and EdDSA (the algorithms passkey-rs's
//! authenticator creates and latchkey asks for by default), discoverable and not, user
//! verification on and off.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use latchkey::json::{AuthenticationResponse, RegistrationResponse, UserVerificationRequirement};
use latchkey::{
    AccountId, Factor, FinishAuthentication, FinishRegistration, MemoryStore, Passkeys,
    RelyingParty, RequestContext, Scope, StepUp, User,
};
use latchkey_cose::CredentialPublicKey;
use latchkey_testkit::block_on;
use passkey_authenticator::{
    Authenticator, CredentialStore, DiscoverabilitySupport, StoreInfo, UiHint, UserCheck,
};
use passkey_client::{Client, DefaultClientData};
use passkey_crypto::coset;
use passkey_crypto::iana;
use passkey_crypto::rust_crypto::RustCryptoBackend;
use passkey_types::Passkey;
use passkey_types::ctap2::make_credential::{
    Options, PublicKeyCredentialRpEntity, PublicKeyCredentialUserEntity,
};
use passkey_types::ctap2::{Aaguid, Ctap2Error, StatusCode};
use passkey_types::webauthn::{
    CredentialCreationOptions, CredentialRequestOptions, PublicKeyCredentialDescriptor,
};
use serde_json::{Value, json};
use url::Url;

const RP_ID: &str = "example.com";
const ORIGIN: &str = "https://example.com";

/// The user in front of the authenticator: always present, verified only while `uv` is
/// on (a device without a PIN or biometric set up, or a user who skips it).
struct User_ {
    uv: Arc<AtomicBool>,
}

#[async_trait::async_trait]
impl passkey_authenticator::UserValidationMethod for User_ {
    type PasskeyItem = Passkey;

    async fn check_user<'a>(
        &self,
        _hint: UiHint<'a, Passkey>,
        presence: bool,
        verification: bool,
    ) -> Result<UserCheck, Ctap2Error> {
        Ok(UserCheck {
            presence,
            verification: verification && self.uv.load(Ordering::SeqCst),
        })
    }

    fn is_presence_enabled(&self) -> bool {
        true
    }

    fn is_verification_enabled(&self) -> Option<bool> {
        Some(self.uv.load(Ordering::SeqCst))
    }
}

/// The authenticator's credential storage. passkey-rs's own stores make every credential
/// discoverable (`ForcedDiscoverable`) and its `MemoryStore` never answers an empty
/// allow list, so this one keeps the `rk` option: with no allow list it offers the
/// discoverable credentials only, as CTAP 2.1 §6.2.2 step 7 requires.
/// Shared by the device's two clients (see [`Device`]).
#[derive(Clone, Default)]
struct KeyStore {
    keys: Arc<Mutex<Vec<(Passkey, bool)>>>,
}

#[async_trait::async_trait]
impl CredentialStore for KeyStore {
    type PasskeyItem = Passkey;

    async fn find_credentials(
        &self,
        ids: Option<&[PublicKeyCredentialDescriptor]>,
        _rp_id: &str,
        _user_handle: Option<&[u8]>,
    ) -> Result<Vec<Passkey>, StatusCode> {
        let keys = self.keys.lock().unwrap();
        let found: Vec<Passkey> = keys
            .iter()
            .filter(|(key, discoverable)| match ids {
                Some(ids) if !ids.is_empty() => ids.iter().any(|id| id.id == key.credential_id),
                _ => *discoverable,
            })
            .map(|(key, _)| key.clone())
            .collect();
        if found.is_empty() {
            Err(Ctap2Error::NoCredentials.into())
        } else {
            Ok(found)
        }
    }

    async fn save_credential(
        &mut self,
        key: Passkey,
        _user: PublicKeyCredentialUserEntity,
        _rp: PublicKeyCredentialRpEntity,
        options: Options,
    ) -> Result<(), StatusCode> {
        self.keys.lock().unwrap().push((key, options.rk));
        Ok(())
    }

    async fn update_credential(&mut self, key: &Passkey) -> Result<(), StatusCode> {
        for (stored, _) in self.keys.lock().unwrap().iter_mut() {
            if stored.credential_id == key.credential_id {
                *stored = key.clone();
            }
        }
        Ok(())
    }

    async fn get_info(&self) -> StoreInfo {
        StoreInfo {
            discoverability: DiscoverabilitySupport::Full,
        }
    }
}

type PasskeyRs = Client<KeyStore, User_, RustCryptoBackend, public_suffix::PublicSuffixList, ()>;

/// One authenticator (one credential store) behind two passkey-rs clients: the embedding
/// application decides whether a `preferred` user verification becomes CTAP `uv`
/// (`Client::user_verification_when_preferred`). passkey-rs's client does not read the
/// authenticator's `uv` option from getInfo for that, and its authenticator answers
/// `uv` it cannot do with CTAP2_ERR_UNSUPPORTED_OPTION, so a device whose user skips
/// verification is a client that does not ask for it.
struct Device {
    verifying: PasskeyRs,
    not_verifying: PasskeyRs,
    uv: Arc<AtomicBool>,
}

impl Device {
    /// A passkey-rs authenticator that creates keys of `algorithm` only.
    fn new(algorithm: iana::Algorithm) -> Self {
        let uv = Arc::new(AtomicBool::new(true));
        let store = KeyStore::default();
        let authenticator = |store: KeyStore| {
            let mut authenticator = Authenticator::new(
                Aaguid::new_empty(),
                store,
                User_ { uv: uv.clone() },
                RustCryptoBackend,
            );
            authenticator.set_algorithms(&[algorithm]).unwrap();
            authenticator
        };
        Self {
            verifying: Client::new(authenticator(store.clone())),
            not_verifying: Client::new(authenticator(store))
                .user_verification_when_preferred(false),
            uv,
        }
    }

    /// The public half of the (only) key the authenticator holds, as a coset value: its
    /// private key `d` (-4) dropped.
    fn public_coset_key(&self) -> coset::CoseKey {
        let keys = self.verifying.authenticator().store().keys.lock().unwrap();
        assert_eq!(keys.len(), 1);
        let mut key = keys[0].0.key.clone();
        key.params
            .retain(|(label, _)| *label != coset::Label::Int(-4));
        key
    }

    fn client(&mut self) -> &mut PasskeyRs {
        if self.uv.load(Ordering::SeqCst) {
            &mut self.verifying
        } else {
            &mut self.not_verifying
        }
    }

    fn register(&mut self, options: Value) -> Result<String, String> {
        let request: CredentialCreationOptions =
            serde_json::from_value(json!({ "publicKey": options }))
                .map_err(|e| format!("passkey-rs cannot read latchkey's creation options: {e}"))?;
        let origin = Url::parse(ORIGIN).unwrap();
        let created = block_on(self.client().register(origin, request, DefaultClientData))
            .map_err(|e| format!("passkey-rs refused to register: {e:?}"))?;
        Ok(serde_json::to_string(&created).unwrap())
    }

    fn authenticate(&mut self, options: Value) -> Result<String, String> {
        let request: CredentialRequestOptions =
            serde_json::from_value(json!({ "publicKey": options }))
                .map_err(|e| format!("passkey-rs cannot read latchkey's request options: {e}"))?;
        let origin = Url::parse(ORIGIN).unwrap();
        let asserted = block_on(
            self.client()
                .authenticate(origin, request, DefaultClientData),
        )
        .map_err(|e| format!("passkey-rs refused to authenticate: {e:?}"))?;
        Ok(serde_json::to_string(&asserted).unwrap())
    }
}

fn passkeys() -> Passkeys<MemoryStore> {
    let rp = RelyingParty::builder(RP_ID, "Example Exchange")
        .origin(ORIGIN)
        .build()
        .unwrap();
    Passkeys::new(rp, MemoryStore::new())
}

fn user() -> User {
    User {
        name: "alice@example.com".into(),
        display_name: "Alice".into(),
    }
}

/// Registers the account's first Exchange passkey on `device`. `discoverable: false`
/// asks for a server-side credential instead of latchkey's `residentKey: required`.
fn register(
    passkeys: &Passkeys<MemoryStore>,
    device: &mut Device,
    discoverable: bool,
) -> latchkey::Result<latchkey::Registered> {
    let alice = AccountId::new("alice");
    let step_up = StepUp::Factors(vec![Factor::Email, Factor::Totp]);
    let options =
        block_on(passkeys.start_registration(&alice, &user(), Scope::Exchange, &step_up)).unwrap();
    let mut options = serde_json::to_value(&options).unwrap();
    if !discoverable {
        options["authenticatorSelection"]["residentKey"] = json!("discouraged");
        options["authenticatorSelection"]["requireResidentKey"] = json!(false);
    }
    let json = device.register(options).unwrap_or_else(|e| panic!("{e}"));
    let response = RegistrationResponse::from_json(&json).unwrap_or_else(|e| {
        panic!("latchkey cannot read passkey-rs's registration JSON: {e}\n{json}")
    });
    block_on(passkeys.finish_registration(FinishRegistration::new(
        &alice,
        &response,
        &step_up,
        &RequestContext::default(),
    )))
}

/// A login: usernameless (no `allowCredentials`) or naming the account.
fn login(
    passkeys: &Passkeys<MemoryStore>,
    device: &mut Device,
    usernameless: bool,
) -> Result<latchkey::Authenticated, String> {
    let alice = AccountId::new("alice");
    let options = block_on(passkeys.start_login((!usernameless).then_some(&alice))).unwrap();
    let json = device.authenticate(serde_json::to_value(&options).unwrap())?;
    let response = AuthenticationResponse::from_json(&json)
        .map_err(|e| format!("latchkey cannot read passkey-rs's assertion JSON: {e}\n{json}"))?;
    block_on(passkeys.finish_authentication(FinishAuthentication::new(
        &response,
        &RequestContext::default(),
    )))
    .map_err(|e| {
        format!(
            "latchkey refused passkey-rs's assertion: {} ({e})",
            e.code()
        )
    })
}

fn algorithm_name(algorithm: iana::Algorithm) -> &'static str {
    match algorithm {
        iana::Algorithm::ES256 => "ES256",
        iana::Algorithm::EdDSA => "EdDSA",
        _ => "other",
    }
}

#[test]
fn registrations_and_logins_round_trip_for_every_combination() {
    for algorithm in [iana::Algorithm::ES256, iana::Algorithm::EdDSA] {
        for discoverable in [true, false] {
            let what = format!("{} discoverable={discoverable}", algorithm_name(algorithm));
            let passkeys = passkeys();
            let mut device = Device::new(algorithm);
            let registered = register(&passkeys, &mut device, discoverable).unwrap_or_else(|e| {
                panic!(
                    "{what}: latchkey refused the registration: {} ({e})",
                    e.code()
                )
            });
            let key =
                latchkey_cose::CredentialPublicKey::from_cose(&registered.credential.public_key)
                    .unwrap();
            assert_eq!(key.algorithm().cose(), algorithm as i64, "{what}");
            // The coset bridge: the key latchkey stored is the public half of the coset
            // key passkey-rs keeps.
            assert_eq!(
                CredentialPublicKey::try_from(&device.public_coset_key()).unwrap(),
                key,
                "{what}"
            );

            for uv in [true, false] {
                device.uv.store(uv, Ordering::SeqCst);
                // Naming the account works for every credential.
                let done = login(&passkeys, &mut device, false)
                    .unwrap_or_else(|e| panic!("{what} uv={uv}, named login: {e}"));
                assert_eq!(done.account, AccountId::new("alice"), "{what}");
                assert_eq!(done.user_verified, uv, "{what} uv={uv}");
                // A usernameless login finds only a discoverable credential.
                let usernameless = login(&passkeys, &mut device, true);
                if discoverable {
                    let done = usernameless
                        .unwrap_or_else(|e| panic!("{what} uv={uv}, usernameless login: {e}"));
                    assert_eq!(done.account, AccountId::new("alice"), "{what}");
                } else {
                    let error = usernameless
                        .expect_err("a server-side credential answered a usernameless login");
                    assert!(
                        error.contains("CredentialNotFound"),
                        "{what} uv={uv}: {error}"
                    );
                }
            }
        }
    }
}

/// latchkey asks for user verification at every registration (P7's registration is a
/// security change): an authenticator that cannot verify the user gets no passkey.
#[test]
fn a_registration_without_user_verification_is_refused() {
    let passkeys = passkeys();
    let mut device = Device::new(iana::Algorithm::ES256);
    device.uv.store(false, Ordering::SeqCst);
    let alice = AccountId::new("alice");
    let step_up = StepUp::Factors(vec![Factor::Email, Factor::Totp]);
    let options =
        block_on(passkeys.start_registration(&alice, &user(), Scope::Exchange, &step_up)).unwrap();
    assert_eq!(
        options.authenticator_selection.user_verification,
        UserVerificationRequirement::Required
    );
    match device.register(serde_json::to_value(&options).unwrap()) {
        // The client refuses itself (WebAuthn §5.1.3 step 22: uv required, not possible)...
        Err(error) => assert!(error.contains("refused to register"), "{error}"),
        // ...or answers without UV, and latchkey refuses.
        Ok(json) => {
            let response = RegistrationResponse::from_json(&json).unwrap();
            let error = block_on(passkeys.finish_registration(FinishRegistration::new(
                &alice,
                &response,
                &step_up,
                &RequestContext::default(),
            )))
            .unwrap_err();
            assert_eq!(error.code(), "user_verification_required");
        }
    }
}
