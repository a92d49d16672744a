//! Authenticator data (WebAuthn §6.1): the bytes an authenticator signs.

use crate::aaguid::Aaguid;
use crate::cbor::{Map, Value, decode_in};
use crate::error::{AuthenticatorDataError, Context, Error, LimitExceeded, Result};
use crate::flags::Flags;
use crate::key::CredentialPublicKey;
use crate::options::ParseOptions;

/// Longest credential id WebAuthn allows (§6.5.1, §7.1 step 25).
pub const MAX_CREDENTIAL_ID_LEN: usize = 1023;

/// Length of the fixed part: rpIdHash (32), flags (1), signCount (4).
const FIXED_LEN: usize = 37;

/// A borrowed, validated view of authenticator data.
///
/// ```text
/// rpIdHash (32) | flags (1) | signCount (4, big-endian)
///   | attestedCredentialData (if AT): aaguid (16) | credentialIdLength (2)
///                                     | credentialId | credentialPublicKey (COSE_Key)
///   | extensions (if ED): CBOR map, text keys
/// ```
///
/// Parsing is strict: AT and ED are set exactly when their data is present, the COSE key
/// is read as exactly one CBOR item and its length is what was consumed (never a
/// re-encoding), and no byte may follow. Whether AT is allowed at all depends on the
/// ceremony (required at registration, forbidden in assertions) and is checked by the
/// caller: [`AttestationObject`](crate::AttestationObject) requires it.
///
/// Without AT or ED, parsing allocates nothing.
///
/// ```
/// use latchkey_cose::{AuthenticatorData, Flags};
///
/// let rp_id_hash = [0x11; 32];
/// let bytes = AuthenticatorData::builder(rp_id_hash)
///     .flags(Flags::USER_PRESENT | Flags::USER_VERIFIED)
///     .sign_count(7)
///     .build();
/// let auth_data = AuthenticatorData::parse(&bytes)?;
/// assert_eq!(auth_data.rp_id_hash(), &rp_id_hash);
/// assert!(auth_data.flags().user_verified());
/// assert_eq!(auth_data.sign_count(), 7);
/// assert!(auth_data.attested_credential_data().is_none());
///
/// // One byte more is an error, never ignored.
/// let mut longer = bytes.clone();
/// longer.push(0);
/// assert!(AuthenticatorData::parse(&longer).is_err());
/// # Ok::<(), latchkey_cose::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthenticatorData<'a> {
    raw: &'a [u8],
    rp_id_hash: &'a [u8; 32],
    flags: Flags,
    sign_count: u32,
    attested_credential_data: Option<AttestedCredentialData<'a>>,
    extensions: Option<Extensions<'a>>,
}

/// The attested credential data of a registration (WebAuthn §6.5.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttestedCredentialData<'a> {
    aaguid: Aaguid,
    credential_id: &'a [u8],
    public_key: CredentialPublicKey,
}

/// The authenticator extension outputs: a CBOR map with text keys (WebAuthn §9).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extensions<'a> {
    raw: &'a [u8],
    map: Map<'a>,
}

impl<'a> AuthenticatorData<'a> {
    /// Parses authenticator data with strict CBOR and default limits.
    ///
    /// # Errors
    ///
    /// [`Error::AuthenticatorData`] for layout violations, [`Error::CoseKey`] /
    /// [`Error::UnsupportedAlgorithm`] for the credential key, [`Error::Cbor`] /
    /// [`Error::Limit`] for the embedded CBOR.
    pub fn parse(bytes: &'a [u8]) -> Result<Self> {
        Self::parse_with(bytes, &ParseOptions::STRICT)
    }

    /// Parses authenticator data with the given options.
    ///
    /// # Errors
    ///
    /// As [`parse`](Self::parse).
    pub fn parse_with(bytes: &'a [u8], options: &ParseOptions) -> Result<Self> {
        let max = options.limits.max_input_len;
        if bytes.len() > max {
            let limit = LimitExceeded::InputTooLarge {
                len: bytes.len(),
                max,
            };
            return Err(Error::Limit {
                context: Context::AuthenticatorData,
                limit,
            });
        }
        let too_short = AuthenticatorDataError::TooShort { len: bytes.len() };
        let (rp_id_hash, rest) = bytes.split_first_chunk::<32>().ok_or(too_short.clone())?;
        let (&[flags], rest) = rest.split_first_chunk::<1>().ok_or(too_short.clone())?;
        let (sign_count, mut rest) = rest.split_first_chunk::<4>().ok_or(too_short)?;
        let flags = Flags::from_bits(flags);

        let attested_credential_data = if flags.attested_credential_data() {
            let (data, after) = AttestedCredentialData::parse(rest, options)?;
            rest = after;
            Some(data)
        } else {
            None
        };

        let extensions = if flags.extension_data() {
            if rest.is_empty() {
                return Err(AuthenticatorDataError::ExtensionsMissing.into());
            }
            let extensions = Extensions::parse(rest, options)?;
            rest = &[];
            Some(extensions)
        } else {
            None
        };

        if !rest.is_empty() {
            let offset = bytes.len() - rest.len();
            return Err(AuthenticatorDataError::TrailingBytes {
                offset,
                count: rest.len(),
            }
            .into());
        }
        Ok(Self {
            raw: bytes,
            rp_id_hash,
            flags,
            sign_count: u32::from_be_bytes(*sign_count),
            attested_credential_data,
            extensions,
        })
    }

    /// Starts encoding authenticator data for the RP ID whose SHA-256 is `rp_id_hash`.
    #[must_use]
    pub fn builder(rp_id_hash: [u8; 32]) -> AuthenticatorDataBuilder<'a> {
        AuthenticatorDataBuilder {
            rp_id_hash,
            flags: Flags::default(),
            sign_count: 0,
            attested: None,
            extensions: None,
        }
    }

    /// The bytes this view was parsed from (what the signature covers).
    #[must_use]
    pub fn as_bytes(&self) -> &'a [u8] {
        self.raw
    }

    /// SHA-256 of the RP ID the credential is scoped to.
    #[must_use]
    pub fn rp_id_hash(&self) -> &'a [u8; 32] {
        self.rp_id_hash
    }

    /// The flags byte.
    #[must_use]
    pub fn flags(&self) -> Flags {
        self.flags
    }

    /// The signature counter (0 when the authenticator keeps none).
    #[must_use]
    pub fn sign_count(&self) -> u32 {
        self.sign_count
    }

    /// The attested credential data, present exactly when AT is set.
    #[must_use]
    pub fn attested_credential_data(&self) -> Option<&AttestedCredentialData<'a>> {
        self.attested_credential_data.as_ref()
    }

    /// The extension outputs, present exactly when ED is set.
    #[must_use]
    pub fn extensions(&self) -> Option<&Extensions<'a>> {
        self.extensions.as_ref()
    }
}

impl<'a> AttestedCredentialData<'a> {
    /// Parses attested credential data at the start of `bytes`, returning what follows.
    fn parse(bytes: &'a [u8], options: &ParseOptions) -> Result<(Self, &'a [u8])> {
        let truncated = AuthenticatorDataError::AttestedDataTruncated { offset: FIXED_LEN };
        let (aaguid, rest) = bytes.split_first_chunk::<16>().ok_or(truncated.clone())?;
        let (id_len, rest) = rest.split_first_chunk::<2>().ok_or(truncated)?;
        let len = usize::from(u16::from_be_bytes(*id_len));
        if len == 0 {
            return Err(AuthenticatorDataError::CredentialIdEmpty.into());
        }
        if len > MAX_CREDENTIAL_ID_LEN {
            return Err(AuthenticatorDataError::CredentialIdTooLong { len }.into());
        }
        let (credential_id, rest) =
            rest.split_at_checked(len)
                .ok_or(AuthenticatorDataError::CredentialIdTruncated {
                    len,
                    available: rest.len(),
                })?;
        let (public_key, used) = CredentialPublicKey::from_cose_prefix(rest, options)?;
        let rest = rest.get(used..).unwrap_or_default();
        Ok((
            Self {
                aaguid: Aaguid::from_bytes(*aaguid),
                credential_id,
                public_key,
            },
            rest,
        ))
    }

    /// The authenticator model.
    #[must_use]
    pub fn aaguid(&self) -> Aaguid {
        self.aaguid
    }

    /// The credential id (1 to 1023 bytes).
    #[must_use]
    pub fn credential_id(&self) -> &'a [u8] {
        self.credential_id
    }

    /// The credential public key.
    #[must_use]
    pub fn public_key(&self) -> &CredentialPublicKey {
        &self.public_key
    }
}

impl<'a> Extensions<'a> {
    fn parse(bytes: &'a [u8], options: &ParseOptions) -> Result<Self> {
        let value = decode_in(bytes, options, Context::Extensions)?;
        let Value::Map(map) = value else {
            return Err(AuthenticatorDataError::ExtensionsNotTextMap.into());
        };
        if map.iter().any(|(key, _)| key.as_text().is_none()) {
            return Err(AuthenticatorDataError::ExtensionsNotTextMap.into());
        }
        Ok(Self { raw: bytes, map })
    }

    /// The output of the extension named `id` (e.g. `"credProtect"`).
    #[must_use]
    pub fn get(&self, id: &str) -> Option<&Value<'a>> {
        self.map.text_key(id)
    }

    /// The extension outputs as a map (every key is text).
    #[must_use]
    pub fn as_map(&self) -> &Map<'a> {
        &self.map
    }

    /// The encoded extension map as received.
    #[must_use]
    pub fn as_bytes(&self) -> &'a [u8] {
        self.raw
    }
}

/// Encodes authenticator data; see [`AuthenticatorData::builder`].
///
/// AT and ED are set when their data is given; every other bit is written as given, so
/// tests can build inconsistent flags on purpose.
#[derive(Clone, Debug)]
pub struct AuthenticatorDataBuilder<'a> {
    rp_id_hash: [u8; 32],
    flags: Flags,
    sign_count: u32,
    attested: Option<(Aaguid, &'a [u8], &'a CredentialPublicKey)>,
    extensions: Option<&'a Map<'a>>,
}

impl<'a> AuthenticatorDataBuilder<'a> {
    /// Sets the flags byte (AT and ED are added when their data is given).
    #[must_use]
    pub fn flags(mut self, flags: Flags) -> Self {
        self.flags = flags;
        self
    }

    /// Sets the signature counter.
    #[must_use]
    pub fn sign_count(mut self, sign_count: u32) -> Self {
        self.sign_count = sign_count;
        self
    }

    /// Adds attested credential data. The credential id length is written as given, so an
    /// id longer than 1023 bytes produces data the parser rejects (useful in tests); one
    /// longer than 65535 bytes has its length field truncated.
    #[must_use]
    pub fn attested_credential_data(
        mut self,
        aaguid: Aaguid,
        credential_id: &'a [u8],
        public_key: &'a CredentialPublicKey,
    ) -> Self {
        self.attested = Some((aaguid, credential_id, public_key));
        self
    }

    /// Adds extension outputs.
    #[must_use]
    pub fn extensions(mut self, extensions: &'a Map<'a>) -> Self {
        self.extensions = Some(extensions);
        self
    }

    /// The encoded authenticator data.
    #[must_use]
    pub fn build(self) -> Vec<u8> {
        let mut flags = self.flags;
        if self.attested.is_some() {
            flags = flags | Flags::ATTESTED_CREDENTIAL_DATA;
        }
        if self.extensions.is_some() {
            flags = flags | Flags::EXTENSION_DATA;
        }
        let mut out = Vec::with_capacity(FIXED_LEN);
        out.extend_from_slice(&self.rp_id_hash);
        out.push(flags.bits());
        out.extend_from_slice(&self.sign_count.to_be_bytes());
        if let Some((aaguid, credential_id, public_key)) = self.attested {
            out.extend_from_slice(aaguid.as_bytes());
            let len = u16::try_from(credential_id.len()).unwrap_or(u16::MAX);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(credential_id);
            out.extend_from_slice(public_key.as_cose_bytes());
        }
        if let Some(extensions) = self.extensions {
            Value::Map(extensions.clone()).encode_into(&mut out);
        }
        out
    }
}
