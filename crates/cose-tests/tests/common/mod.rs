//! Fixtures shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used)]

use latchkey_cose::{Algorithm, CredentialPublicKey, Curve, KeyParams};
use latchkey_testkit::hex;

/// The P-256 base point, a valid public key anyone can recompute.
pub(crate) const P256_X: &str = "6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296";
/// Its y coordinate.
pub(crate) const P256_Y: &str = "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5";

/// SHA-256("example.com").
pub(crate) const RP_ID_HASH: &str =
    "a379a6f6eeafb9a55e378c118034e2751e682fab9f2d30ab13d2125586ce1947";

/// An ES256 key on the base point.
pub(crate) fn es256_key() -> CredentialPublicKey {
    let params = KeyParams::Ec2 {
        curve: Curve::P256,
        x: hex::decode(P256_X),
        y: hex::decode(P256_Y),
    };
    CredentialPublicKey::new(Algorithm::Es256, params).unwrap()
}

/// Registration authenticator data: UP, AT, counter 0, a zero AAGUID, a 16-byte
/// credential id and the ES256 key.
pub(crate) fn registration_auth_data_hex() -> String {
    [
        RP_ID_HASH,                         // rpIdHash
        "41",                               // flags: UP | AT
        "00000000",                         // signCount: 0
        "00000000000000000000000000000000", // aaguid: zero
        "0010",                             // credentialIdLength: 16
        "000102030405060708090a0b0c0d0e0f", // credentialId
        "a5 01 02 03 26 20 01",             // COSE_Key: EC2, ES256, P-256
        "21 58 20",
        P256_X, //   x
        "22 58 20",
        P256_Y, //   y
    ]
    .join(" ")
}

/// The CBOR head of a byte string of `len` bytes, in shortest form.
pub(crate) fn bytes_head(len: usize) -> String {
    match len {
        0..=23 => format!("{:02x}", 0x40 + len),
        24..=0xff => format!("58 {len:02x}"),
        _ => format!("59 {len:04x}"),
    }
}

/// Byte length of a hex fixture.
pub(crate) fn hex_len(text: &str) -> usize {
    text.split_whitespace().map(str::len).sum::<usize>() / 2
}
