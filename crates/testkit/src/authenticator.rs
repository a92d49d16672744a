//! A software authenticator and client: real keys, real attestation objects, real signed
//! assertions, so that services can test their endpoints without a browser.
//!
//! ```
//! use latchkey_testkit::authenticator::{Authenticator, Client, SoftKey};
//!
//! let client = Client::new("example.com", "https://example.com");
//! let mut authenticator = Authenticator::new(SoftKey::es256([7; 32]));
//! let registration = authenticator.register(&client, b"registration challenge 32 bytes!");
//! let assertion = authenticator.assert(&client, b"assertion challenge, 32 bytes..!");
//! assert_eq!(registration.credential_id, authenticator.credential_id());
//! assert_eq!(assertion.authenticator_data.len(), 37);
//! ```
//!
//! Keys come from fixed seeds, so every run produces the same credentials; ECDSA and
//! Ed25519 signatures are deterministic too (RFC 6979, RFC 8032).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use latchkey_cose::cbor::{Map, Value};
use latchkey_cose::{
    Aaguid, Algorithm, AttestationObject, AuthenticatorData, CredentialPublicKey, Curve, Flags,
    KeyParams,
};
use sha2::{Digest as _, Sha256};

/// A 2048-bit RSA key generated for these tests only. Never use it for anything else.
const RSA_TEST_KEY: &[u8] = include_bytes!("keys/rsa2048-test-only.pkcs1.der");

/// A signing key with its COSE algorithm.
#[derive(Clone, Debug)]
pub struct SoftKey {
    signer: Signer,
}

#[derive(Clone, Debug)]
enum Signer {
    Es256(p256::ecdsa::SigningKey),
    Es384(p384::ecdsa::SigningKey),
    EdDsa(ed25519_dalek::SigningKey),
    Rs256(Box<rsa::PrivateKey>),
    Rs1(Box<rsa::PrivateKey>),
}

impl SoftKey {
    /// An ES256 (P-256) key from a 32-byte seed (a scalar; seeds of 0 or >= n fall back to
    /// seed 1).
    #[must_use]
    pub fn es256(seed: [u8; 32]) -> Self {
        let key = p256::ecdsa::SigningKey::from_slice(&seed)
            .or_else(|_| p256::ecdsa::SigningKey::from_slice(&one::<32>()));
        Self {
            signer: Signer::Es256(key.unwrap_or_else(|_| unreachable!("1 is a valid scalar"))),
        }
    }

    /// An ES384 (P-384) key from a 48-byte seed.
    #[must_use]
    pub fn es384(seed: [u8; 48]) -> Self {
        let key = p384::ecdsa::SigningKey::from_slice(&seed)
            .or_else(|_| p384::ecdsa::SigningKey::from_slice(&one::<48>()));
        Self {
            signer: Signer::Es384(key.unwrap_or_else(|_| unreachable!("1 is a valid scalar"))),
        }
    }

    /// An EdDSA (Ed25519) key from a 32-byte seed.
    #[must_use]
    pub fn eddsa(seed: [u8; 32]) -> Self {
        Self {
            signer: Signer::EdDsa(ed25519_dalek::SigningKey::from_bytes(&seed)),
        }
    }

    /// The fixed RS256 test key (2048 bits).
    ///
    /// # Panics
    ///
    /// Never: the embedded key is valid PKCS#1.
    #[must_use]
    pub fn rs256() -> Self {
        use rsa::pkcs1::DecodeRsaPrivateKey as _;
        #[allow(clippy::expect_used)] // safe: the embedded fixture is checked by the tests
        let key = rsa::PrivateKey::from_pkcs1_der(RSA_TEST_KEY).expect("embedded RSA test key");
        Self {
            signer: Signer::Rs256(Box::new(key)),
        }
    }

    /// The fixed RSA test key (2048 bits) as an RS1 key: RSASSA-PKCS1-v1_5 with SHA-1,
    /// COSE -65535 (legacy TPMs and old Windows Hello).
    #[must_use]
    pub fn rs1() -> Self {
        match Self::rs256().signer {
            Signer::Rs256(key) | Signer::Rs1(key) => Self {
                signer: Signer::Rs1(key),
            },
            other => Self { signer: other },
        }
    }

    /// The COSE algorithm.
    #[must_use]
    pub fn algorithm(&self) -> Algorithm {
        match self.signer {
            Signer::Es256(_) => Algorithm::Es256,
            Signer::Es384(_) => Algorithm::Es384,
            Signer::EdDsa(_) => Algorithm::EdDsa,
            Signer::Rs256(_) => Algorithm::Rs256,
            Signer::Rs1(_) => Algorithm::Rs1,
        }
    }

    /// The public key as a COSE credential public key.
    ///
    /// # Panics
    ///
    /// Never for the keys this type builds.
    #[must_use]
    pub fn public_key(&self) -> CredentialPublicKey {
        use rsa::traits::PublicKeyParts as _;
        let params = match &self.signer {
            Signer::Es256(key) => {
                let point = key.verifying_key().to_sec1_point(false);
                let bytes = point.as_bytes();
                KeyParams::Ec2 {
                    curve: Curve::P256,
                    x: bytes.get(1..33).unwrap_or_default().to_vec(),
                    y: bytes.get(33..65).unwrap_or_default().to_vec(),
                }
            }
            Signer::Es384(key) => {
                let point = key.verifying_key().to_sec1_point(false);
                let bytes = point.as_bytes();
                KeyParams::Ec2 {
                    curve: Curve::P384,
                    x: bytes.get(1..49).unwrap_or_default().to_vec(),
                    y: bytes.get(49..97).unwrap_or_default().to_vec(),
                }
            }
            Signer::EdDsa(key) => KeyParams::Okp {
                curve: Curve::Ed25519,
                x: key.verifying_key().to_bytes().to_vec(),
            },
            Signer::Rs256(key) | Signer::Rs1(key) => KeyParams::Rsa {
                n: key.n().to_be_bytes_trimmed_vartime().to_vec(),
                e: key.e().to_be_bytes_trimmed_vartime().to_vec(),
            },
        };
        #[allow(clippy::expect_used)] // safe: keys built here are always valid COSE keys
        CredentialPublicKey::new(self.algorithm(), params).expect("soft key encodes")
    }

    /// The public key as a SEC1 uncompressed point `04 || x || y` (what U2F services
    /// stored and X.509 certificates carry), for the ECDSA keys; `None` for the others.
    #[must_use]
    pub fn uncompressed_point(&self) -> Option<Vec<u8>> {
        match &self.signer {
            Signer::Es256(key) => {
                Some(key.verifying_key().to_sec1_point(false).as_bytes().to_vec())
            }
            Signer::Es384(key) => {
                Some(key.verifying_key().to_sec1_point(false).as_bytes().to_vec())
            }
            Signer::EdDsa(_) | Signer::Rs256(_) | Signer::Rs1(_) => None,
        }
    }

    /// Signs `message` as WebAuthn expects for the algorithm: DER ECDSA, raw Ed25519,
    /// PKCS#1 v1.5 RSA (SHA-256, or SHA-1 for RS1).
    ///
    /// # Panics
    ///
    /// Never for the keys this type builds.
    #[must_use]
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        use p256::ecdsa::signature::Signer as _;
        match &self.signer {
            Signer::Es256(key) => {
                let sig: p256::ecdsa::Signature = key.sign(message);
                sig.to_der().as_bytes().to_vec()
            }
            Signer::Es384(key) => {
                let sig: p384::ecdsa::Signature = key.sign(message);
                sig.to_der().as_bytes().to_vec()
            }
            Signer::EdDsa(key) => key.sign(message).to_bytes().to_vec(),
            Signer::Rs256(key) => {
                let hashed = Sha256::digest(message);
                #[allow(clippy::expect_used)] // safe: a 2048-bit key signs a SHA-256 digest
                key.sign(rsa::Pkcs1v15Sign::new::<Sha256>(), &hashed)
                    .expect("RSA signs")
            }
            Signer::Rs1(key) => {
                let hashed = sha1::Sha1::digest(message);
                #[allow(clippy::expect_used)] // safe: a 2048-bit key signs a SHA-1 digest
                key.sign(rsa::Pkcs1v15Sign::new::<sha1::Sha1>(), &hashed)
                    .expect("RSA signs")
            }
        }
    }
}

fn one<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    if let Some(last) = bytes.last_mut() {
        *last = 1;
    }
    bytes
}

/// The client (browser) side: the origin it runs on and how it frames the ceremony.
#[derive(Clone, Debug)]
pub struct Client {
    /// The RP ID the authenticator scopes credentials to.
    pub rp_id: String,
    /// The origin written into clientDataJSON.
    pub origin: String,
    /// `crossOrigin`.
    pub cross_origin: bool,
    /// `topOrigin`.
    pub top_origin: Option<String>,
}

impl Client {
    /// A same-origin client.
    #[must_use]
    pub fn new(rp_id: &str, origin: &str) -> Self {
        Self {
            rp_id: rp_id.to_owned(),
            origin: origin.to_owned(),
            cross_origin: false,
            top_origin: None,
        }
    }

    /// clientDataJSON in the browser's serialisation order (§5.8.1.1).
    #[must_use]
    pub fn client_data_json(&self, ty: &str, challenge: &[u8]) -> Vec<u8> {
        let mut json = format!(
            r#"{{"type":"{ty}","challenge":"{}","origin":"{}","crossOrigin":{}"#,
            URL_SAFE_NO_PAD.encode(challenge),
            self.origin,
            self.cross_origin
        );
        if let Some(top) = &self.top_origin {
            json.push_str(&format!(r#","topOrigin":"{top}""#));
        }
        json.push('}');
        json.into_bytes()
    }

    /// SHA-256 of the RP ID.
    #[must_use]
    pub fn rp_id_hash(&self) -> [u8; 32] {
        Sha256::digest(self.rp_id.as_bytes()).into()
    }
}

/// Which attestation statement a registration carries.
#[derive(Clone, Debug, Default)]
pub enum Attestation {
    /// `none`.
    #[default]
    None,
    /// `packed` self attestation.
    PackedSelf,
    /// `packed` with an attestation key and its certificate chain (leaf first).
    Packed {
        /// The attestation key (the leaf certificate's).
        key: SoftKey,
        /// DER certificates.
        x5c: Vec<Vec<u8>>,
    },
    /// `fido-u2f` with an attestation key and its certificate; the credential key must be
    /// ES256.
    FidoU2f {
        /// The attestation key.
        key: SoftKey,
        /// The DER certificate.
        certificate: Vec<u8>,
    },
}

/// A registration as the client returns it.
#[derive(Clone, Debug)]
pub struct Registration {
    /// The credential id (`rawId`).
    pub credential_id: Vec<u8>,
    /// clientDataJSON.
    pub client_data_json: Vec<u8>,
    /// attestationObject.
    pub attestation_object: Vec<u8>,
    /// The authenticator data inside the attestation object.
    pub authenticator_data: Vec<u8>,
}

/// An assertion as the client returns it.
#[derive(Clone, Debug)]
pub struct Assertion {
    /// The credential id (`rawId`).
    pub credential_id: Vec<u8>,
    /// clientDataJSON.
    pub client_data_json: Vec<u8>,
    /// authenticatorData.
    pub authenticator_data: Vec<u8>,
    /// signature.
    pub signature: Vec<u8>,
}

/// One credential on a software authenticator.
#[derive(Clone, Debug)]
pub struct Authenticator {
    key: SoftKey,
    credential_id: Vec<u8>,
    aaguid: Aaguid,
    flags: Flags,
    sign_count: Option<u32>,
    attestation: Attestation,
    /// Signed extension outputs (an encoded CBOR map), written with ED set.
    extension_outputs: Option<Vec<u8>>,
}

impl Authenticator {
    /// A credential with this key: UP and UV set, a counter starting at 0, the zero AAGUID,
    /// `none` attestation, and a 16-byte credential id derived from the public key.
    #[must_use]
    pub fn new(key: SoftKey) -> Self {
        let digest = Sha256::digest(key.public_key().as_cose_bytes());
        Self {
            credential_id: digest.get(..16).unwrap_or_default().to_vec(),
            key,
            aaguid: Aaguid::ZERO,
            flags: Flags::USER_PRESENT | Flags::USER_VERIFIED,
            sign_count: Some(0),
            attestation: Attestation::None,
            extension_outputs: None,
        }
    }

    /// Sets the flags written (AT and ED are managed).
    #[must_use]
    pub fn with_flags(mut self, flags: Flags) -> Self {
        self.flags = flags;
        self
    }

    /// Sets the AAGUID.
    #[must_use]
    pub fn with_aaguid(mut self, aaguid: Aaguid) -> Self {
        self.aaguid = aaguid;
        self
    }

    /// Sets the attestation statement.
    #[must_use]
    pub fn with_attestation(mut self, attestation: Attestation) -> Self {
        self.attestation = attestation;
        self
    }

    /// Starts the counter at `count`, or keeps none (always 0) with `None`.
    #[must_use]
    pub fn with_sign_count(mut self, count: Option<u32>) -> Self {
        self.sign_count = count;
        self
    }

    /// Sets the credential id.
    #[must_use]
    pub fn with_credential_id(mut self, id: Vec<u8>) -> Self {
        self.credential_id = id;
        self
    }

    /// Changes the flags of later ceremonies (AT and ED are managed).
    pub fn set_flags(&mut self, flags: Flags) {
        self.flags = flags;
    }

    /// The flags written.
    #[must_use]
    pub fn flags(&self) -> Flags {
        self.flags
    }

    /// Writes `outputs` (an encoded CBOR map, e.g. `{"credProtect": 3}`) as the signed
    /// extension outputs of every later ceremony, with ED set.
    #[must_use]
    pub fn with_extension_outputs(mut self, outputs: Vec<u8>) -> Self {
        self.extension_outputs = Some(outputs);
        self
    }

    /// The decoded extension outputs, to hand to the authenticator-data builder.
    fn outputs(&self) -> Option<Map<'_>> {
        let bytes = self.extension_outputs.as_deref()?;
        match latchkey_cose::cbor::decode(bytes, &latchkey_cose::ParseOptions::RELAXED) {
            Ok(Value::Map(map)) => Some(map),
            _ => None,
        }
    }

    /// Sets the counter: the next assertion writes `count + 1`; `None` keeps no counter.
    pub fn set_sign_count(&mut self, count: Option<u32>) {
        self.sign_count = count;
    }

    /// The counter the last assertion wrote (`None` when the authenticator keeps none).
    #[must_use]
    pub fn sign_count(&self) -> Option<u32> {
        self.sign_count
    }

    /// The credential id.
    #[must_use]
    pub fn credential_id(&self) -> &[u8] {
        &self.credential_id
    }

    /// The signing key.
    #[must_use]
    pub fn key(&self) -> &SoftKey {
        &self.key
    }

    /// Creates the credential: `navigator.credentials.create()` on `client`.
    #[must_use]
    pub fn register(&self, client: &Client, challenge: &[u8]) -> Registration {
        let client_data_json = client.client_data_json("webauthn.create", challenge);
        let public_key = self.key.public_key();
        let outputs = self.outputs();
        let mut builder = AuthenticatorData::builder(client.rp_id_hash())
            .flags(self.flags)
            .sign_count(self.sign_count.unwrap_or(0))
            .attested_credential_data(self.aaguid, &self.credential_id, &public_key);
        if let Some(outputs) = &outputs {
            builder = builder.extensions(outputs);
        }
        let auth_data = builder.build();
        let client_data_hash = Sha256::digest(&client_data_json);
        let signed = [auth_data.as_slice(), &client_data_hash].concat();
        let (fmt, signature, x5c): (&str, Vec<u8>, Vec<&[u8]>) = match &self.attestation {
            Attestation::None => ("none", Vec::new(), Vec::new()),
            Attestation::PackedSelf => ("packed", self.key.sign(&signed), Vec::new()),
            Attestation::Packed { key, x5c } => (
                "packed",
                key.sign(&signed),
                x5c.iter().map(Vec::as_slice).collect(),
            ),
            Attestation::FidoU2f { key, certificate } => {
                let (x, y) = match public_key.params() {
                    KeyParams::Ec2 { x, y, .. } => (x.as_slice(), y.as_slice()),
                    _ => (&[][..], &[][..]),
                };
                let rp_id_hash = client.rp_id_hash();
                let data: Vec<u8> = [
                    &[0x00][..],
                    &rp_id_hash,
                    &client_data_hash,
                    &self.credential_id,
                    &[0x04],
                    x,
                    y,
                ]
                .concat();
                ("fido-u2f", key.sign(&data), vec![certificate.as_slice()])
            }
        };
        let mut entries = Vec::new();
        if !signature.is_empty() {
            entries.push((Value::Text("sig"), Value::Bytes(&signature)));
        }
        if fmt == "packed" {
            let alg = match &self.attestation {
                Attestation::Packed { key, .. } => key.algorithm(),
                _ => self.key.algorithm(),
            };
            entries.push((Value::Text("alg"), Value::Integer(alg.cose().into())));
        }
        if !x5c.is_empty() {
            let certs = x5c.into_iter().map(Value::Bytes).collect();
            entries.push((Value::Text("x5c"), Value::Array(certs)));
        }
        let att_stmt = Value::Map(Map::new(entries).unwrap_or_default());
        Registration {
            credential_id: self.credential_id.clone(),
            client_data_json,
            attestation_object: AttestationObject::encode(fmt, &att_stmt, &auth_data),
            authenticator_data: auth_data,
        }
    }

    /// [`register`](Self::register) for a base64url challenge, answered as the JSON that
    /// `PublicKeyCredential.toJSON()` produces.
    #[must_use]
    pub fn registration_json(&self, client: &Client, challenge_b64url: &str) -> String {
        let challenge = URL_SAFE_NO_PAD.decode(challenge_b64url).unwrap_or_default();
        let registration = self.register(client, &challenge);
        let id = URL_SAFE_NO_PAD.encode(&registration.credential_id);
        format!(
            r#"{{"id":"{id}","rawId":"{id}","type":"public-key","response":{{"clientDataJSON":"{}","attestationObject":"{}","transports":["internal"]}},"authenticatorAttachment":"platform","clientExtensionResults":{{}}}}"#,
            URL_SAFE_NO_PAD.encode(&registration.client_data_json),
            URL_SAFE_NO_PAD.encode(&registration.attestation_object),
        )
    }

    /// [`assert`](Self::assert) for a base64url challenge, answered as the JSON that
    /// `PublicKeyCredential.toJSON()` produces, with the account's user handle.
    #[must_use]
    pub fn authentication_json(
        &mut self,
        client: &Client,
        challenge_b64url: &str,
        user_handle: &[u8],
    ) -> String {
        let challenge = URL_SAFE_NO_PAD.decode(challenge_b64url).unwrap_or_default();
        let assertion = self.assert(client, &challenge);
        assertion_json(&assertion, user_handle)
    }

    /// Signs in: `navigator.credentials.get()` on `client`. Advances the counter.
    #[must_use]
    pub fn assert(&mut self, client: &Client, challenge: &[u8]) -> Assertion {
        if let Some(count) = self.sign_count.as_mut() {
            *count = count.wrapping_add(1);
        }
        let client_data_json = client.client_data_json("webauthn.get", challenge);
        let outputs = self.outputs();
        let mut builder = AuthenticatorData::builder(client.rp_id_hash())
            .flags(self.flags)
            .sign_count(self.sign_count.unwrap_or(0));
        if let Some(outputs) = &outputs {
            builder = builder.extensions(outputs);
        }
        let authenticator_data = builder.build();
        let client_data_hash = Sha256::digest(&client_data_json);
        let signature = self
            .key
            .sign(&[authenticator_data.as_slice(), &client_data_hash].concat());
        Assertion {
            credential_id: self.credential_id.clone(),
            client_data_json,
            authenticator_data,
            signature,
        }
    }
}

/// An assertion as the JSON that `PublicKeyCredential.toJSON()` produces.
#[must_use]
pub fn assertion_json(assertion: &Assertion, user_handle: &[u8]) -> String {
    let id = URL_SAFE_NO_PAD.encode(&assertion.credential_id);
    format!(
        r#"{{"id":"{id}","rawId":"{id}","type":"public-key","response":{{"clientDataJSON":"{}","authenticatorData":"{}","signature":"{}","userHandle":"{}"}},"authenticatorAttachment":"platform","clientExtensionResults":{{}}}}"#,
        URL_SAFE_NO_PAD.encode(&assertion.client_data_json),
        URL_SAFE_NO_PAD.encode(&assertion.authenticator_data),
        URL_SAFE_NO_PAD.encode(&assertion.signature),
        URL_SAFE_NO_PAD.encode(user_handle),
    )
}
