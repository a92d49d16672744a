//! Fixed inputs for the benchmarks and the `ratios` binary, made with the test kit, and
//! the raw signature verifications they are compared with.

// Benchmark fixtures: a set-up failure is a bug to surface loudly, not an input to handle.
#![allow(clippy::expect_used, clippy::panic, clippy::missing_panics_doc)]

use std::cell::RefCell;

use std::time::SystemTime;

use latchkey::json::{AuthenticationResponse, RegistrationResponse};
use latchkey::{
    AccountId, Factor, FinishAuthentication, FinishRegistration, Intent, MemoryStore, Passkeys,
    RelyingParty, RequestContext, Scope, StepUp, User,
};
use latchkey_testkit::authenticator::{Attestation, Authenticator, Client, SoftKey};
use latchkey_testkit::block_on;
use latchkey_verify::{
    AssertionBytes, Ceremony, Origins, RegistrationBytes as VerifyRegistration, StoredCredential,
    TrustAnchors, Verifier, VerifyingKey,
};
use p256::ecdsa::signature::Verifier as _;
use sha2::{Digest as _, Sha256};

const RP_ID: &str = "example.com";
const ORIGIN: &str = "https://example.com";
const CHALLENGE: [u8; 32] = [0x5a; 32];

use latchkey_testkit::ca::{INTERMEDIATE, LEAF, ROOT};

fn client() -> Client {
    Client::new(RP_ID, ORIGIN)
}

fn verifier() -> Verifier {
    Verifier::new(RP_ID, Origins::new([ORIGIN]))
}

/// A public key for the raw baseline: the primitive alone, no WebAuthn.
enum RawKey {
    P256(p256::ecdsa::VerifyingKey),
    Ed25519(ed25519_dalek::VerifyingKey),
    Rsa(Box<rsa::PublicKey>),
}

/// One signed assertion, ready to verify again and again.
pub struct AssertionInput {
    /// The algorithm's name, for reports.
    pub name: &'static str,
    verifier: Verifier,
    key: VerifyingKey,
    raw_key: RawKey,
    client_data_json: Vec<u8>,
    authenticator_data: Vec<u8>,
    signature: Vec<u8>,
    /// `authData || SHA-256(clientDataJSON)`: what the raw baseline verifies.
    message: Vec<u8>,
    /// The key parsed into AWS-LC once, as the `aws-lc` backend keeps it: the baseline
    /// the pure-Rust warm path is measured against, in every build.
    aws_key: Option<aws_lc_rs::signature::ParsedPublicKey>,
    /// The credential's COSE key, for the cold path (parsed anew on every call).
    public: latchkey_cose::CredentialPublicKey,
    /// The key as a SEC1 point (P-256 only), for the cold raw baseline.
    sec1: Option<Vec<u8>>,
}

impl AssertionInput {
    /// ES256, EdDSA and RS256 inputs.
    #[must_use]
    pub fn all() -> Vec<Self> {
        vec![
            Self::new("ES256", SoftKey::es256([1; 32])),
            Self::new("EdDSA", SoftKey::eddsa([2; 32])),
            Self::new("RS256", SoftKey::rs256()),
        ]
    }

    /// An input for `key`.
    ///
    /// # Panics
    ///
    /// Never for the test kit's keys.
    #[must_use]
    pub fn new(name: &'static str, soft: SoftKey) -> Self {
        use latchkey_cose::KeyParams;
        let public = soft.public_key();
        let key = VerifyingKey::from_credential_key(&public).expect("test kit key");
        let sec1 = match public.params() {
            KeyParams::Ec2 { x, y, .. } => Some([&[0x04][..], x, y].concat()),
            _ => None,
        };
        let raw_key = match public.params() {
            KeyParams::Ec2 { .. } => {
                let sec1 = sec1.as_deref().expect("an EC2 key has its SEC1 point");
                RawKey::P256(p256::ecdsa::VerifyingKey::from_sec1_bytes(sec1).expect("P-256 point"))
            }
            KeyParams::Okp { x, .. } => {
                let bytes: [u8; 32] = x.as_slice().try_into().expect("32 bytes");
                RawKey::Ed25519(
                    ed25519_dalek::VerifyingKey::from_bytes(&bytes).expect("Ed25519 key"),
                )
            }
            KeyParams::Rsa { n, e } => {
                let bits = |b: &[u8]| u32::try_from(b.len() * 8).unwrap_or(0);
                let n = rsa::BoxedUint::from_be_slice(n, bits(n)).expect("n");
                let e = rsa::BoxedUint::from_be_slice(e, bits(e).max(64)).expect("e");
                RawKey::Rsa(Box::new(rsa::PublicKey::new(n, e).expect("RSA key")))
            }
            _ => panic!("unsupported bench key"),
        };
        let mut authenticator = Authenticator::new(soft);
        let assertion = authenticator.assert(&client(), &CHALLENGE);
        let message = [
            assertion.authenticator_data.as_slice(),
            &Sha256::digest(&assertion.client_data_json),
        ]
        .concat();
        let aws_key = {
            use aws_lc_rs::signature::{
                ECDSA_P256_SHA256_ASN1, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256,
            };
            match &raw_key {
                RawKey::P256(key) => ParsedPublicKey::new(
                    &ECDSA_P256_SHA256_ASN1,
                    key.to_sec1_point(false).as_bytes(),
                )
                .ok(),
                RawKey::Rsa(key) => {
                    use rsa::pkcs1::EncodeRsaPublicKey as _;
                    let der = key.to_pkcs1_der().expect("RSA key encodes");
                    ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, der.as_bytes()).ok()
                }
                RawKey::Ed25519(_) => None,
            }
        };
        Self {
            name,
            verifier: verifier(),
            key,
            raw_key,
            aws_key,
            public,
            sec1,
            client_data_json: assertion.client_data_json,
            authenticator_data: assertion.authenticator_data,
            signature: assertion.signature,
            message,
        }
    }

    /// `Verifier::verify_assertion` on the input; true when it verifies. The key is the
    /// same object every call, so from the second call on an ES256 key is warm (its
    /// precomputed table is built), as for a key the facade has cached.
    #[must_use]
    pub fn verify_assertion(&self) -> bool {
        self.verify_assertion_with(&self.key)
    }

    /// [`verify_assertion`](Self::verify_assertion) with a key never used before: parsed
    /// from the credential's COSE key on every call, as for a key seen the first time.
    #[must_use]
    pub fn verify_assertion_cold(&self) -> bool {
        VerifyingKey::from_credential_key(&self.public)
            .is_ok_and(|key| self.verify_assertion_with(&key))
    }

    fn verify_assertion_with(&self, key: &VerifyingKey) -> bool {
        let response = AssertionBytes {
            client_data_json: &self.client_data_json,
            authenticator_data: &self.authenticator_data,
            signature: &self.signature,
        };
        let stored = StoredCredential {
            key,
            sign_count: 0,
            backup_eligible: Some(false),
            app_id: None,
            cred_protect: None,
        };
        self.verifier
            .verify_assertion(&response, &Ceremony::new(&CHALLENGE), &stored)
            .is_ok()
    }

    /// The raw signature check alone: decode the signature, hash the message, verify.
    #[must_use]
    pub fn raw_verify(&self) -> bool {
        self.raw_verify_of(&self.message, &self.signature)
    }

    /// [`raw_verify`](Self::raw_verify) of another message and signature by this key.
    #[must_use]
    pub fn raw_verify_of(&self, message: &[u8], signature: &[u8]) -> bool {
        match &self.raw_key {
            RawKey::P256(key) => p256::ecdsa::Signature::from_der(signature)
                .is_ok_and(|sig| key.verify(message, &sig).is_ok()),
            RawKey::Ed25519(key) => ed25519_dalek::Signature::from_slice(signature)
                .is_ok_and(|sig| key.verify_strict(message, &sig).is_ok()),
            RawKey::Rsa(key) => {
                let hashed = Sha256::digest(message);
                key.verify(rsa::Pkcs1v15Sign::new::<Sha256>(), &hashed, signature)
                    .is_ok()
            }
        }
    }

    /// The raw check in p256 with the key parsed from its SEC1 point on every call: the
    /// baseline of the cold path. `None` for keys other than P-256.
    #[must_use]
    pub fn raw_verify_cold(&self) -> Option<bool> {
        let sec1 = self.sec1.as_ref()?;
        Some(
            p256::ecdsa::VerifyingKey::from_sec1_bytes(sec1).is_ok_and(|key| {
                p256::ecdsa::Signature::from_der(&self.signature)
                    .is_ok_and(|sig| key.verify(&self.message, &sig).is_ok())
            }),
        )
    }

    /// The raw check in AWS-LC with the key parsed once (the `aws-lc` backend's
    /// baseline), where AWS-LC has the algorithm: ECDSA P-256 and RSA PKCS#1 v1.5.
    #[must_use]
    pub fn aws_raw_verify(&self) -> Option<bool> {
        self.aws_raw_verify_of(&self.message, &self.signature)
    }

    /// [`aws_raw_verify`](Self::aws_raw_verify) of another message and signature.
    #[must_use]
    pub fn aws_raw_verify_of(&self, message: &[u8], signature: &[u8]) -> Option<bool> {
        let key = self.aws_key.as_ref()?;
        Some(key.verify_sig(message, signature).is_ok())
    }

    /// The baseline this build's backend is measured against: AWS-LC where the `aws-lc`
    /// feature accelerates the algorithm, RustCrypto otherwise.
    #[must_use]
    pub fn baseline_verify(&self) -> bool {
        self.baseline_verify_of(&self.message, &self.signature)
    }

    /// [`baseline_verify`](Self::baseline_verify) of another message and signature.
    #[must_use]
    pub fn baseline_verify_of(&self, message: &[u8], signature: &[u8]) -> bool {
        #[cfg(feature = "aws-lc")]
        if let Some(verdict) = self.aws_raw_verify_of(message, signature) {
            return verdict;
        }
        self.raw_verify_of(message, signature)
    }

    /// The raw authenticator data, for parsing benchmarks.
    #[must_use]
    pub fn authenticator_data(&self) -> &[u8] {
        &self.authenticator_data
    }

    /// The raw client data, for parsing benchmarks.
    #[must_use]
    pub fn client_data_json(&self) -> &[u8] {
        &self.client_data_json
    }
}

/// A whole login through the facade on `MemoryStore`.
pub struct LoginInput {
    /// The algorithm's name.
    pub name: &'static str,
    passkeys: Passkeys<MemoryStore>,
    authenticator: RefCell<Authenticator>,
    account: AccountId,
    context: RequestContext,
}

impl LoginInput {
    /// An account with one Exchange passkey of `soft`.
    ///
    /// # Panics
    ///
    /// Never: the set-up ceremonies are valid.
    #[must_use]
    pub fn new(name: &'static str, soft: SoftKey) -> Self {
        let (passkeys, account, authenticator) = registered("bench", Scope::Exchange, soft);
        let context = RequestContext::default();
        Self {
            name,
            passkeys,
            authenticator: RefCell::new(authenticator),
            account,
            context,
        }
    }

    /// Starts a login and signs it (not what is measured).
    ///
    /// # Panics
    ///
    /// Never: the ceremony is valid.
    pub fn prepare(&self) -> AuthenticationResponse {
        let options = block_on(self.passkeys.start_authentication(
            &self.account,
            Intent::Login,
            None,
        ))
        .expect("options");
        let handle = self.passkeys.user_handle(&self.account, Scope::Exchange);
        let json = self.authenticator.borrow_mut().authentication_json(
            &client(),
            &options.challenge,
            &handle,
        );
        AuthenticationResponse::from_json(&json).expect("json")
    }

    /// What the signature of `response` covers (`authData || SHA-256(clientDataJSON)`)
    /// and the signature: for a raw baseline on the very signatures the logins verify.
    ///
    /// # Panics
    ///
    /// Never for a response from [`prepare`](Self::prepare).
    #[must_use]
    pub fn signed(response: &AuthenticationResponse) -> (Vec<u8>, Vec<u8>) {
        let decoded = response.decode().expect("a response from prepare");
        let bytes = decoded.bytes();
        let message = [
            bytes.authenticator_data,
            Sha256::digest(bytes.client_data_json).as_slice(),
        ]
        .concat();
        (message, bytes.signature.to_vec())
    }

    /// `Passkeys::finish_authentication`: take the challenge, verify, decide, append.
    #[must_use]
    pub fn finish(&self, response: &AuthenticationResponse) -> bool {
        block_on(
            self.passkeys
                .finish_authentication(FinishAuthentication::new(response, &self.context)),
        )
        .is_ok()
    }
}

/// One registration per attestation kind, verified repeatedly (registration challenges
/// are per ceremony, so the verifier is called directly).
pub struct RegistrationInput {
    /// none, packed self or packed x5c.
    pub name: &'static str,
    verifier: Verifier,
    client_data_json: Vec<u8>,
    attestation_object: Vec<u8>,
    credential_id: Vec<u8>,
}

impl RegistrationInput {
    /// `none`, `packed` self attestation and `packed` with a two-certificate chain to a
    /// configured root.
    ///
    /// # Panics
    ///
    /// Never for the embedded fixtures.
    #[must_use]
    pub fn all() -> Vec<Self> {
        let leaf_key = latchkey_testkit::ca::leaf_key();
        let mut anchors = TrustAnchors::default();
        anchors.add_for_format("packed", ROOT).expect("root");
        let kinds = [
            ("none", Attestation::None, verifier()),
            ("packed-self", Attestation::PackedSelf, verifier()),
            (
                "packed-x5c",
                Attestation::Packed {
                    key: leaf_key,
                    x5c: vec![LEAF.to_vec(), INTERMEDIATE.to_vec()],
                },
                verifier().with_trust_anchors(anchors),
            ),
        ];
        kinds
            .into_iter()
            .map(|(name, attestation, verifier)| {
                let authenticator = Authenticator::new(SoftKey::es256([3; 32]))
                    .with_aaguid(latchkey_cose::Aaguid::from_bytes([
                        1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                    ]))
                    .with_attestation(attestation);
                let registration = authenticator.register(&client(), &CHALLENGE);
                Self {
                    name,
                    verifier,
                    client_data_json: registration.client_data_json,
                    attestation_object: registration.attestation_object,
                    credential_id: registration.credential_id,
                }
            })
            .collect()
    }

    /// `Verifier::verify_registration`; true when it verifies.
    #[must_use]
    pub fn verify(&self) -> bool {
        let response = VerifyRegistration {
            client_data_json: &self.client_data_json,
            attestation_object: &self.attestation_object,
            raw_id: &self.credential_id,
        };
        // 2040: inside the fixtures' validity.
        let now = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(2_208_988_800);
        self.verifier
            .verify_registration(&response, &Ceremony::new(&CHALLENGE), now)
            .is_ok()
    }
}

/// Approval receipts of Pay signatures (P10), with what an auditor re-verifies them
/// against: the relying party and the passkey's record, from the service's records.
#[derive(Clone, Debug)]
pub struct Receipts {
    /// The relying party the ceremonies ran for.
    pub rp: RelyingParty,
    /// The stored record of the passkey that signed every receipt.
    pub signer: latchkey::Credential,
    /// The receipts.
    pub receipts: Vec<latchkey::ApprovalReceipt>,
}

/// `count` receipts of Pay signatures (P10), for the bulk re-verification benchmark.
///
/// # Panics
///
/// Never: the set-up ceremonies are valid.
#[must_use]
pub fn receipts(count: usize, soft: SoftKey) -> Receipts {
    let (passkeys, account, mut authenticator) = registered("payer", Scope::Pay, soft);
    let context = RequestContext::default();
    let handle = passkeys.user_handle(&account, Scope::Pay);
    let receipts = (0..count)
        .map(|n| {
            let transaction = format!("pay {n}.00 USDT to merchant 771");
            let options = block_on(passkeys.start_authentication(
                &account,
                Intent::PaySign,
                Some(transaction.as_bytes()),
            ))
            .expect("options");
            let json = authenticator.authentication_json(&client(), &options.challenge, &handle);
            let response = AuthenticationResponse::from_json(&json).expect("json");
            block_on(
                passkeys.finish_authentication(
                    FinishAuthentication::new(&response, &context)
                        .transaction(Some(transaction.as_bytes())),
                ),
            )
            .expect("payment")
            .receipt
            .expect("receipt")
        })
        .collect();
    let state =
        block_on(latchkey::Store::load(passkeys.store(), &account)).expect("the payer's record");
    let signer = state
        .value
        .credentials
        .first()
        .cloned()
        .expect("the payer's passkey");
    Receipts {
        rp: passkeys.relying_party().clone(),
        signer,
        receipts,
    }
}

/// A facade on `MemoryStore` with one account holding one passkey of `soft` in `scope`.
fn registered(
    account: &str,
    scope: Scope,
    soft: SoftKey,
) -> (Passkeys<MemoryStore>, AccountId, Authenticator) {
    let rp = RelyingParty::builder(RP_ID, "bench")
        .origin(ORIGIN)
        .build()
        .expect("valid RP");
    let passkeys = Passkeys::new(rp, MemoryStore::new());
    let id = AccountId::new(account);
    let authenticator = Authenticator::new(soft);
    let user = User {
        name: account.into(),
        display_name: account.into(),
    };
    let step_up = StepUp::Factors(vec![Factor::Email, Factor::Totp]);
    let options =
        block_on(passkeys.start_registration(&id, &user, scope, &step_up)).expect("options");
    let json = authenticator.registration_json(&client(), &options.challenge);
    let response = RegistrationResponse::from_json(&json).expect("json");
    block_on(passkeys.finish_registration(FinishRegistration::new(
        &id,
        &response,
        &step_up,
        &RequestContext::default(),
    )))
    .expect("registration");
    (passkeys, id, authenticator)
}
