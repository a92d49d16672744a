//! The attestation object (WebAuthn §6.5.4): what a registration returns.

use crate::authenticator_data::{AttestedCredentialData, AuthenticatorData};
use crate::cbor::{Map, Value, decode_in};
use crate::error::{AttestationObjectError, Context, Result};
use crate::options::ParseOptions;

/// The format whose statement is an array of statements (§8.9).
const COMPOUND: &str = "compound";

/// Longest attestation statement format identifier (§8.1).
pub const MAX_FMT_LEN: usize = 32;

/// A parsed attestation object.
///
/// ```cddl
/// attObj = {
///     authData: bytes,
///     ; Each choice in $$attStmtType defines the fmt value and attStmt structure
///     $$attStmtType
/// } .within attStmtTemplate
///
/// attStmtTemplate = (
///     fmt: text,
///     attStmt: (
///         { * tstr => any } ; Map is filled in by each concrete attStmtType
///         //
///         [ * any ]         ; array used by the "compound" format
///     )
/// )
/// ```
///
/// Exactly the three members, each once, with the right types; `fmt` is 1 to 32 printable
/// US-ASCII characters (§8.1); `authData` must carry attested credential data. The
/// attestation statement is kept as a bounded CBOR value for `latchkey-verify` to check
/// against its format.
///
/// ```
/// use latchkey_cose::{
///     Aaguid, Algorithm, AttestationObject, AuthenticatorData, CredentialPublicKey, Curve,
///     Flags, KeyParams, cbor::{Map, Value},
/// };
///
/// # let x = vec![0x6b, 0x17, 0xd1, 0xf2, 0xe1, 0x2c, 0x42, 0x47, 0xf8, 0xbc, 0xe6, 0xe5, 0x63, 0xa4, 0x40, 0xf2, 0x77, 0x03, 0x7d, 0x81, 0x2d, 0xeb, 0x33, 0xa0, 0xf4, 0xa1, 0x39, 0x45, 0xd8, 0x98, 0xc2, 0x96];
/// # let y = vec![0x4f, 0xe3, 0x42, 0xe2, 0xfe, 0x1a, 0x7f, 0x9b, 0x8e, 0xe7, 0xeb, 0x4a, 0x7c, 0x0f, 0x9e, 0x16, 0x2b, 0xce, 0x33, 0x57, 0x6b, 0x31, 0x5e, 0xce, 0xcb, 0xb6, 0x40, 0x68, 0x37, 0xbf, 0x51, 0xf5];
/// let key = CredentialPublicKey::new(Algorithm::Es256, KeyParams::Ec2 { curve: Curve::P256, x, y })?;
/// let auth_data = AuthenticatorData::builder([0x11; 32])
///     .flags(Flags::USER_PRESENT)
///     .attested_credential_data(Aaguid::ZERO, b"credential-id-16", &key)
///     .build();
/// let bytes = AttestationObject::encode("none", &Value::Map(Map::default()), &auth_data);
///
/// let parsed = AttestationObject::parse(&bytes)?;
/// assert_eq!(parsed.fmt(), "none");
/// let credential = parsed.credential();
/// assert_eq!(credential.credential_id(), b"credential-id-16");
/// assert_eq!(credential.public_key(), &key);
/// # Ok::<(), latchkey_cose::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttestationObject<'a> {
    fmt: &'a str,
    att_stmt: Value<'a>,
    auth_data: AuthenticatorData<'a>,
    credential: AttestedCredentialData<'a>,
}

impl<'a> AttestationObject<'a> {
    /// Parses an attestation object with strict CBOR and default limits.
    ///
    /// # Errors
    ///
    /// [`Error::AttestationObject`](crate::Error::AttestationObject) for a wrong shape,
    /// authenticator data errors from [`AuthenticatorData::parse`], and CBOR / limit errors.
    pub fn parse(bytes: &'a [u8]) -> Result<Self> {
        Self::parse_with(bytes, &ParseOptions::STRICT)
    }

    /// Parses an attestation object with the given options (used for the embedded
    /// authenticator data too).
    ///
    /// # Errors
    ///
    /// As [`parse`](Self::parse).
    pub fn parse_with(bytes: &'a [u8], options: &ParseOptions) -> Result<Self> {
        let value = decode_in(bytes, options, Context::AttestationObject)?;
        let Value::Map(map) = value else {
            return Err(AttestationObjectError::NotAMap.into());
        };
        let (mut fmt, mut att_stmt, mut auth_data) = (None, None, None);
        for (key, value) in map.iter() {
            match key.as_text() {
                Some("fmt") => fmt = Some(value),
                Some("attStmt") => att_stmt = Some(value),
                Some("authData") => auth_data = Some(value),
                _ => return Err(AttestationObjectError::UnexpectedMember.into()),
            }
        }

        let fmt = fmt.ok_or(AttestationObjectError::MissingMember("fmt"))?;
        let fmt = fmt.as_text().ok_or(AttestationObjectError::WrongType {
            member: "fmt",
            expected: "a text string",
        })?;
        if fmt.is_empty() || fmt.len() > MAX_FMT_LEN || !fmt.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(AttestationObjectError::InvalidFmt.into());
        }

        let att_stmt = att_stmt.ok_or(AttestationObjectError::MissingMember("attStmt"))?;
        // A map for every format but `compound`, whose statement is an array.
        let shape_ok = match att_stmt {
            Value::Map(_) => fmt != COMPOUND,
            Value::Array(_) => fmt == COMPOUND,
            _ => false,
        };
        if !shape_ok {
            let expected = if fmt == COMPOUND { "an array" } else { "a map" };
            return Err(AttestationObjectError::WrongType {
                member: "attStmt",
                expected,
            }
            .into());
        }

        let auth_data = auth_data.ok_or(AttestationObjectError::MissingMember("authData"))?;
        let auth_data = auth_data
            .as_bytes()
            .ok_or(AttestationObjectError::WrongType {
                member: "authData",
                expected: "a byte string",
            })?;
        let auth_data = AuthenticatorData::parse_with(auth_data, options)?;
        let credential = auth_data
            .attested_credential_data()
            .cloned()
            .ok_or(AttestationObjectError::MissingAttestedCredentialData)?;
        Ok(Self {
            fmt,
            att_stmt: att_stmt.clone(),
            auth_data,
            credential,
        })
    }

    /// Encodes an attestation object in canonical form (fmt, attStmt, authData).
    #[must_use]
    pub fn encode(fmt: &str, att_stmt: &Value<'_>, auth_data: &[u8]) -> Vec<u8> {
        let entries = vec![
            (Value::Text("fmt"), Value::Text(fmt)),
            (Value::Text("attStmt"), att_stmt.clone()),
            (Value::Text("authData"), Value::Bytes(auth_data)),
        ];
        // The three keys are distinct, so building the map cannot fail.
        Map::new(entries)
            .map(|map| Value::Map(map).to_vec())
            .unwrap_or_default()
    }

    /// The attestation statement format identifier (`none`, `packed`, `tpm`...).
    #[must_use]
    pub fn fmt(&self) -> &'a str {
        self.fmt
    }

    /// The attestation statement: a map, or an array for `compound`.
    #[must_use]
    pub fn att_stmt(&self) -> &Value<'a> {
        &self.att_stmt
    }

    /// The authenticator data.
    #[must_use]
    pub fn auth_data(&self) -> &AuthenticatorData<'a> {
        &self.auth_data
    }

    /// The attested credential data (always present in a parsed attestation object).
    #[must_use]
    pub fn credential(&self) -> &AttestedCredentialData<'a> {
        &self.credential
    }
}
