//! Credentials registered through the FIDO U2F JavaScript API, before WebAuthn. A service
//! moving to WebAuthn keeps each one's key handle and public key (FIDO U2F Raw Message
//! Formats v1.2 §4.3) and its AppID; browsers then sign for them with rpIdHash =
//! SHA-256(AppID) when asked with the `appid` extension (WebAuthn §10.1.1).

use latchkey_cose::{Algorithm, CredentialPublicKey, Curve, KeyParams};

use crate::error::{Error, Result};
use crate::signature::ec_material;

/// Longest AppID accepted, in bytes.
pub const MAX_APP_ID_LEN: usize = 1024;

/// A U2F registration, checked: a key handle of 1 to 255 bytes (its length is one byte in
/// the U2F message), an uncompressed P-256 point on the curve, an `https://` AppID.
///
/// ```
/// use latchkey_verify::U2fCredential;
///
/// use latchkey_testkit::hex;
///
/// // What a U2F server stored: the key handle, the public key (here P-256's generator
/// // point), the AppID.
/// let public_key = hex::decode(
///     "04 6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296
///         4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5",
/// );
/// let app_id = "https://example.com/app-id.json";
/// let credential = U2fCredential::new(&[0xab; 64], &public_key, app_id)?;
/// assert_eq!(credential.app_id(), app_id);
/// assert_eq!(credential.public_key().algorithm().name(), "ES256");
/// # Ok::<(), latchkey_verify::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct U2fCredential {
    credential_id: Vec<u8>,
    public_key: CredentialPublicKey,
    app_id: String,
}

impl U2fCredential {
    /// Checks a stored U2F registration.
    ///
    /// # Errors
    ///
    /// [`Error::Limit`] for a key handle or AppID too long; [`Error::InvalidKey`] for a
    /// public key that is not 65 bytes `04 || x || y` with the point on P-256;
    /// [`Error::ExtensionInvalid`] for an empty key handle or an AppID that is not an
    /// `https://` URL.
    pub fn new(key_handle: &[u8], public_key: &[u8], app_id: &str) -> Result<Self> {
        if key_handle.is_empty() {
            return Err(Error::ExtensionInvalid("U2F key handle is empty"));
        }
        if key_handle.len() > usize::from(u8::MAX) {
            return Err(Error::Limit("U2F key handle longer than 255 bytes"));
        }
        if app_id.len() > MAX_APP_ID_LEN {
            return Err(Error::Limit("AppID longer than 1024 bytes"));
        }
        let host = app_id
            .strip_prefix("https://")
            .and_then(|rest| rest.split('/').next())
            .filter(|host| !host.is_empty());
        if host.is_none() || app_id.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Error::ExtensionInvalid("AppID is not an https URL"));
        }
        let [0x04, coordinates @ ..] = public_key else {
            return Err(Error::InvalidKey(
                "U2F public key is not an uncompressed point",
            ));
        };
        let (x, y) = coordinates
            .split_at_checked(32)
            .filter(|(_, y)| y.len() == 32)
            .ok_or(Error::InvalidKey("U2F public key is not 65 bytes"))?;
        ec_material(Curve::P256, public_key)?;
        let public_key = CredentialPublicKey::new(
            Algorithm::Es256,
            KeyParams::Ec2 {
                curve: Curve::P256,
                x: x.to_vec(),
                y: y.to_vec(),
            },
        )?;
        Ok(Self {
            credential_id: key_handle.to_vec(),
            public_key,
            app_id: app_id.to_owned(),
        })
    }

    /// The key handle: the WebAuthn credential id.
    #[must_use]
    pub fn credential_id(&self) -> &[u8] {
        &self.credential_id
    }

    /// The public key as an ES256 COSE key.
    #[must_use]
    pub fn public_key(&self) -> &CredentialPublicKey {
        &self.public_key
    }

    /// The AppID it was registered under.
    #[must_use]
    pub fn app_id(&self) -> &str {
        &self.app_id
    }
}
