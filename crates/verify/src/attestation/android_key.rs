//! `android-key` (WebAuthn §8.4): Android Keystore attestation.

use der::asn1::ObjectIdentifier;
use latchkey_cose::Algorithm;
use latchkey_cose::cbor::Value;

use super::packed::as_invalid;
use super::{AttestationType, Input, Verified, bytes_member, statement};
use crate::certificate::parse_chain;
use crate::error::{Error, Result};

/// The Android key description extension.
const KEY_DESCRIPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.11129.2.1.17");

/// AuthorizationList tags (Android Keymaster / KeyMint schema).
const TAG_PURPOSE: u32 = 1;
const TAG_ALL_APPLICATIONS: u32 = 600;
const TAG_ORIGIN: u32 = 702;
const KM_PURPOSE_SIGN: u64 = 2;
const KM_ORIGIN_GENERATED: u64 = 0;

/// ```cddl
/// androidStmtFormat = {
///                       alg: COSEAlgorithmIdentifier,
///                       sig: bytes,
///                       x5c: [ credCert: bytes, * (caCert: bytes) ]
///                     }
/// ```
pub(super) fn verify(input: &Input<'_, '_>) -> Result<Verified> {
    let map = statement(input.object, &["alg", "sig", "x5c"])?;
    let alg = map
        .text_key("alg")
        .and_then(Value::as_i64)
        .ok_or(Error::AttestationInvalid("alg"))?;
    let algorithm = Algorithm::from_cose(alg).ok_or(Error::UnsupportedAlgorithm(alg))?;
    let sig = bytes_member(map, "sig")?;
    let x5c = map
        .text_key("x5c")
        .and_then(Value::as_array)
        .ok_or(Error::AttestationInvalid("x5c"))?;
    let chain = parse_chain(x5c)?;
    let leaf = chain
        .first()
        .ok_or(Error::AttestationInvalid("x5c is empty"))?;

    let signed = [
        input.object.auth_data().as_bytes(),
        input.client_data_hash.as_slice(),
    ];
    leaf.verifying_key(algorithm)?
        .verify(&signed, sig, &input.options.signature)
        .map_err(as_invalid)?;
    if !leaf
        .key_material()?
        .same_key(input.credential_key.material())
    {
        return Err(Error::AttestationInvalid(
            "android-key certificate key is not the credential key",
        ));
    }

    let (_, extension) = leaf
        .extension(KEY_DESCRIPTION)?
        .ok_or(Error::AttestationInvalid(
            "android-key key description extension missing",
        ))?;
    let description = KeyDescription::parse(extension)?;
    if description.challenge != input.client_data_hash.as_slice() {
        return Err(Error::AttestationInvalid(
            "android-key attestationChallenge is not the client data hash",
        ));
    }
    let lists = [&description.software_enforced, &description.tee_enforced];
    if lists.iter().any(|list| list.has(TAG_ALL_APPLICATIONS)) {
        return Err(Error::AttestationInvalid(
            "android-key allApplications present",
        ));
    }
    // The union of both lists; `android_key_require_tee` looks at the TEE list alone.
    let generated = |list: &AuthorizationList<'_>| list.holds(TAG_ORIGIN, KM_ORIGIN_GENERATED);
    let for_signing = |list: &AuthorizationList<'_>| list.holds(TAG_PURPOSE, KM_PURPOSE_SIGN);
    let origins_known = lists.iter().all(|l| {
        l.integers(TAG_ORIGIN)
            .iter()
            .all(|&o| o == KM_ORIGIN_GENERATED)
    });
    if !lists.iter().any(|l| generated(l)) || !origins_known {
        return Err(Error::AttestationInvalid(
            "android-key origin is not KM_ORIGIN_GENERATED",
        ));
    }
    if !lists.iter().any(|l| for_signing(l)) {
        return Err(Error::AttestationInvalid(
            "android-key purpose lacks KM_PURPOSE_SIGN",
        ));
    }
    let tee = &description.tee_enforced;
    if input.options.android_key_require_tee && !(generated(tee) && for_signing(tee)) {
        return Err(Error::AttestationUntrusted(
            "android-key origin and purpose are not enforced by the TEE",
        ));
    }
    Ok(Verified {
        attestation_type: AttestationType::Basic,
        chain,
    })
}

/// The parts of `KeyDescription` WebAuthn checks.
///
/// ```asn1
/// KeyDescription ::= SEQUENCE {
///     attestationVersion, attestationSecurityLevel, keymasterVersion,
///     keymasterSecurityLevel, attestationChallenge OCTET STRING, uniqueId OCTET STRING,
///     softwareEnforced AuthorizationList, teeEnforced AuthorizationList }
/// ```
struct KeyDescription<'a> {
    challenge: &'a [u8],
    software_enforced: AuthorizationList<'a>,
    tee_enforced: AuthorizationList<'a>,
}

impl<'a> KeyDescription<'a> {
    fn parse(der: &'a [u8]) -> Result<Self> {
        let mut outer = Tlv::reader(der);
        let sequence = outer.take(Class::Universal, 16, true)?;
        outer.finish()?;
        let mut fields = Tlv::reader(sequence);
        for _ in 0..4 {
            fields.any()?; // versions and security levels
        }
        let challenge = fields.take(Class::Universal, 4, false)?;
        fields.take(Class::Universal, 4, false)?; // uniqueId
        let software_enforced =
            AuthorizationList::parse(fields.take(Class::Universal, 16, true)?)?;
        let tee_enforced = AuthorizationList::parse(fields.take(Class::Universal, 16, true)?)?;
        // Later KeyMint versions may append fields: tolerated, as the schema is extensible.
        Ok(Self {
            challenge,
            software_enforced,
            tee_enforced,
        })
    }
}

/// An AuthorizationList: `[tag] EXPLICIT value` entries, each tag at most once.
struct AuthorizationList<'a> {
    entries: Vec<(u32, &'a [u8])>,
}

impl<'a> AuthorizationList<'a> {
    fn parse(content: &'a [u8]) -> Result<Self> {
        let mut reader = Tlv::reader(content);
        let mut entries: Vec<(u32, &'a [u8])> = Vec::new();
        while !reader.is_empty() {
            let tlv = reader.next()?;
            if tlv.class != Class::ContextSpecific || !tlv.constructed {
                return Err(Error::AttestationInvalid(
                    "android-key AuthorizationList entry is not [tag] EXPLICIT",
                ));
            }
            if entries.iter().any(|(tag, _)| *tag == tlv.number) {
                return Err(Error::AttestationInvalid(
                    "android-key AuthorizationList tag repeated",
                ));
            }
            entries.push((tlv.number, tlv.content));
        }
        Ok(Self { entries })
    }

    fn has(&self, tag: u32) -> bool {
        self.entries.iter().any(|(t, _)| *t == tag)
    }

    /// Whether `value` is among the INTEGER values of `tag`.
    fn holds(&self, tag: u32, value: u64) -> bool {
        self.integers(tag).contains(&value)
    }

    /// The INTEGER values of `tag`: a single INTEGER, or a SET OF INTEGER. Undecodable
    /// values yield nothing, so a check that needs one fails closed.
    fn integers(&self, tag: u32) -> Vec<u64> {
        let Some((_, content)) = self.entries.iter().find(|(t, _)| *t == tag) else {
            return Vec::new();
        };
        let mut reader = Tlv::reader(content);
        let Ok(inner) = reader.next() else {
            return Vec::new();
        };
        match (inner.class, inner.number) {
            (Class::Universal, 2) => integer(inner.content).into_iter().collect(),
            (Class::Universal, 17) => {
                let mut set = Tlv::reader(inner.content);
                let mut values = Vec::new();
                while !set.is_empty() {
                    match set.next() {
                        Ok(item) if item.class == Class::Universal && item.number == 2 => {
                            values.extend(integer(item.content));
                        }
                        _ => return Vec::new(),
                    }
                }
                values
            }
            _ => Vec::new(),
        }
    }
}

/// A non-negative DER INTEGER of at most 8 bytes.
fn integer(content: &[u8]) -> Option<u64> {
    let trimmed = match content {
        [0, rest @ ..] if rest.first().is_some_and(|b| b & 0x80 != 0) => rest,
        [first, ..] if first & 0x80 != 0 => return None,
        other => other,
    };
    if trimmed.is_empty() || trimmed.len() > 8 {
        return None;
    }
    Some(
        trimmed
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)),
    )
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    Universal,
    Application,
    ContextSpecific,
    Private,
}

/// One DER TLV. A small reader because AuthorizationList tags (600, 702...) use the
/// high-tag-number form.
struct Tlv<'a> {
    class: Class,
    constructed: bool,
    number: u32,
    content: &'a [u8],
}

struct TlvReader<'a>(&'a [u8]);

impl<'a> Tlv<'a> {
    fn reader(bytes: &'a [u8]) -> TlvReader<'a> {
        TlvReader(bytes)
    }
}

fn malformed() -> Error {
    Error::AttestationInvalid("android-key key description is not DER")
}

impl<'a> TlvReader<'a> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn byte(&mut self) -> Result<u8> {
        let (&first, rest) = self.0.split_first().ok_or_else(malformed)?;
        self.0 = rest;
        Ok(first)
    }

    fn next(&mut self) -> Result<Tlv<'a>> {
        let identifier = self.byte()?;
        let class = match identifier >> 6 {
            0 => Class::Universal,
            1 => Class::Application,
            2 => Class::ContextSpecific,
            _ => Class::Private,
        };
        let constructed = identifier & 0x20 != 0;
        let mut number = u32::from(identifier & 0x1f);
        if number == 0x1f {
            number = 0;
            for index in 0.. {
                let byte = self.byte()?;
                // Minimal encoding: no leading 0x80, at most 4 bytes.
                if (index == 0 && byte == 0x80) || index >= 4 {
                    return Err(malformed());
                }
                number = (number << 7) | u32::from(byte & 0x7f);
                if byte & 0x80 == 0 {
                    break;
                }
            }
        }
        let first = self.byte()?;
        let len = match first {
            0..=0x7f => usize::from(first),
            0x81 => match self.byte()? {
                byte if byte >= 0x80 => usize::from(byte),
                _ => return Err(malformed()),
            },
            0x82 => {
                let high = self.byte()?;
                let low = self.byte()?;
                let len = usize::from(u16::from_be_bytes([high, low]));
                if len < 0x100 {
                    return Err(malformed());
                }
                len
            }
            _ => return Err(malformed()),
        };
        let (content, rest) = self.0.split_at_checked(len).ok_or_else(malformed)?;
        self.0 = rest;
        Ok(Tlv {
            class,
            constructed,
            number,
            content,
        })
    }

    fn any(&mut self) -> Result<Tlv<'a>> {
        self.next()
    }

    /// The next TLV, which must have this class, number and form: its content.
    fn take(&mut self, class: Class, number: u32, constructed: bool) -> Result<&'a [u8]> {
        let tlv = self.next()?;
        if tlv.class != class || tlv.number != number || tlv.constructed != constructed {
            return Err(malformed());
        }
        Ok(tlv.content)
    }

    fn finish(&self) -> Result<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(malformed())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use latchkey_testkit::hex;

    #[test]
    fn high_tag_numbers_and_lists() {
        // [702] EXPLICIT INTEGER 0, [1] EXPLICIT SET OF { 2, 3 }, [600] EXPLICIT NULL.
        let list = hex::decode("bf853e 03 020100  a1 08 3106 020102 020103  bf8458 02 0500");
        let Ok(list) = AuthorizationList::parse(&list) else {
            panic!("a well-formed list is refused");
        };
        assert_eq!(list.integers(TAG_ORIGIN), [0]);
        assert_eq!(list.integers(TAG_PURPOSE), [2, 3]);
        assert!(list.has(TAG_ALL_APPLICATIONS));
        // A repeated tag, a primitive entry, and a non-minimal high tag are refused.
        assert!(AuthorizationList::parse(&hex::decode("a1 03 020102 a1 03 020102")).is_err());
        assert!(AuthorizationList::parse(&hex::decode("81 01 02")).is_err());
        assert!(AuthorizationList::parse(&hex::decode("bf80853e 03 020100")).is_err());
    }

    #[test]
    fn integers_are_non_negative_and_small() {
        assert_eq!(integer(&[0x02]), Some(2));
        assert_eq!(integer(&[0x00, 0x80]), Some(128));
        assert_eq!(integer(&[0x80]), None);
        assert_eq!(integer(&[]), None);
        assert_eq!(integer(&[1; 9]), None);
    }
}
