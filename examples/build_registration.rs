//! Builds a WebAuthn registration response (`none` attestation, ES256) with latchkey's
//! encoders and prints it as `PublicKeyCredential.toJSON()` would.
//!
//! ```text
//! cargo run -p latchkey-examples --example build_registration > registration.json
//! cargo run -p latchkey-cli -- inspect registration.json
//! ```
//!
//! The key is the P-256 base point: a valid public key, but one whose private key is 1.
//! Never register it anywhere real.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use latchkey_cose::cbor::{Map, Value};
use latchkey_cose::{
    Aaguid, Algorithm, AttestationObject, AuthenticatorData, CredentialPublicKey, Curve, Flags,
    KeyParams,
};

/// SHA-256("example.com"), the RP ID hash the authenticator would write.
const RP_ID_HASH: [u8; 32] = [
    0xa3, 0x79, 0xa6, 0xf6, 0xee, 0xaf, 0xb9, 0xa5, 0x5e, 0x37, 0x8c, 0x11, 0x80, 0x34, 0xe2, 0x75,
    0x1e, 0x68, 0x2f, 0xab, 0x9f, 0x2d, 0x30, 0xab, 0x13, 0xd2, 0x12, 0x55, 0x86, 0xce, 0x19, 0x47,
];

/// The P-256 base point (x, y).
const G_X: [u8; 32] = [
    0x6b, 0x17, 0xd1, 0xf2, 0xe1, 0x2c, 0x42, 0x47, 0xf8, 0xbc, 0xe6, 0xe5, 0x63, 0xa4, 0x40, 0xf2,
    0x77, 0x03, 0x7d, 0x81, 0x2d, 0xeb, 0x33, 0xa0, 0xf4, 0xa1, 0x39, 0x45, 0xd8, 0x98, 0xc2, 0x96,
];
const G_Y: [u8; 32] = [
    0x4f, 0xe3, 0x42, 0xe2, 0xfe, 0x1a, 0x7f, 0x9b, 0x8e, 0xe7, 0xeb, 0x4a, 0x7c, 0x0f, 0x9e, 0x16,
    0x2b, 0xce, 0x33, 0x57, 0x6b, 0x31, 0x5e, 0xce, 0xcb, 0xb6, 0x40, 0x68, 0x37, 0xbf, 0x51, 0xf5,
];

/// Google Password Manager's AAGUID, so the output names a provider.
const AAGUID: [u8; 16] = [
    0xea, 0x9b, 0x8d, 0x66, 0x4d, 0x01, 0x1d, 0x21, 0x3c, 0xe4, 0xb6, 0xb4, 0x8c, 0xb5, 0x75, 0xd4,
];

fn main() -> Result<(), latchkey_cose::Error> {
    let params = KeyParams::Ec2 {
        curve: Curve::P256,
        x: G_X.to_vec(),
        y: G_Y.to_vec(),
    };
    let key = CredentialPublicKey::new(Algorithm::Es256, params)?;
    let credential_id: Vec<u8> = (0u8..32).collect();
    let auth_data = AuthenticatorData::builder(RP_ID_HASH)
        .flags(
            Flags::USER_PRESENT | Flags::USER_VERIFIED | Flags::BACKUP_ELIGIBLE | Flags::BACKED_UP,
        )
        .attested_credential_data(Aaguid::from_bytes(AAGUID), &credential_id, &key)
        .build();
    let attestation_object =
        AttestationObject::encode("none", &Value::Map(Map::default()), &auth_data);
    let client_data = concat!(
        r#"{"type":"webauthn.create","#,
        r#""challenge":"bGF0Y2hrZXktZXhhbXBsZS1jaGFsbGVuZ2UtMzJieXRlcw","#,
        r#""origin":"https://example.com","crossOrigin":false}"#
    );

    let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
    let id = b64(&credential_id);
    println!(
        r#"{{
  "id": "{id}",
  "rawId": "{id}",
  "type": "public-key",
  "authenticatorAttachment": "platform",
  "response": {{
    "clientDataJSON": "{}",
    "attestationObject": "{}",
    "transports": ["hybrid", "internal"]
  }},
  "clientExtensionResults": {{ "credProps": {{ "rk": true }} }}
}}"#,
        b64(client_data.as_bytes()),
        b64(&attestation_object)
    );
    Ok(())
}
