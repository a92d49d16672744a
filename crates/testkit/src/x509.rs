//! X.509 certificates built at test time, for the attestation checks whose certificate
//! must depend on the ceremony (Apple's nonce is a hash of the authenticator data) or
//! must be malformed in a way no certificate tool will write (an extension twice).
//!
//! ```
//! use latchkey_testkit::authenticator::SoftKey;
//! use latchkey_testkit::x509::CertificateBuilder;
//!
//! let ca = SoftKey::es256([1; 32]);
//! let root = CertificateBuilder::new("Test Root").ca().self_signed(&ca).unwrap();
//! let leaf = CertificateBuilder::new("Test Leaf")
//!     .extension("1.2.840.113635.100.8.2", false, &[0x30, 0x00])
//!     .issued_by(&root, &ca)
//!     .sign(&SoftKey::es256([2; 32]))
//!     .unwrap();
//! assert_eq!(leaf.first(), Some(&0x30));
//! ```
//!
//! Every certificate is X.509 v3, signed ecdsa-with-SHA256 by a P-256 [`SoftKey`], valid
//! from 2026-01-01 to 2126-01-01. The subject key is P-256 or the RSA test key.

use latchkey_cose::{Algorithm, KeyParams};

use crate::authenticator::SoftKey;

/// DER building blocks: enough to write certificates and the extensions attestation
/// formats put in them.
pub mod der {
    /// One TLV: `tag`, the definite length, `content`.
    #[must_use]
    pub fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let len = content.len();
        if len < 0x80 {
            out.push(u8::try_from(len).unwrap_or_default());
        } else {
            let bytes = len.to_be_bytes();
            let significant: Vec<u8> = bytes.iter().copied().skip_while(|b| *b == 0).collect();
            out.push(0x80 | u8::try_from(significant.len()).unwrap_or_default());
            out.extend(significant);
        }
        out.extend_from_slice(content);
        out
    }

    /// `SEQUENCE { parts... }`.
    #[must_use]
    pub fn sequence(parts: &[&[u8]]) -> Vec<u8> {
        tlv(0x30, &parts.concat())
    }

    /// `SEQUENCE { items... }` of parts built separately.
    #[must_use]
    pub fn sequence_of(items: &[Vec<u8>]) -> Vec<u8> {
        tlv(0x30, &items.concat())
    }

    /// `OCTET STRING`.
    #[must_use]
    pub fn octet_string(bytes: &[u8]) -> Vec<u8> {
        tlv(0x04, bytes)
    }

    /// A non-negative `INTEGER`.
    #[must_use]
    pub fn integer(value: u64) -> Vec<u8> {
        let bytes = value.to_be_bytes();
        let mut content: Vec<u8> = bytes.iter().copied().skip_while(|b| *b == 0).collect();
        // A leading 1 bit would make it negative; zero needs one byte.
        if content.first().is_none_or(|b| b & 0x80 != 0) {
            content.insert(0, 0);
        }
        tlv(0x02, &content)
    }

    /// A non-negative `INTEGER` of any size, from its big-endian magnitude (an RSA
    /// modulus).
    #[must_use]
    pub fn unsigned(magnitude: &[u8]) -> Vec<u8> {
        let mut content: Vec<u8> = magnitude.iter().copied().skip_while(|b| *b == 0).collect();
        if content.first().is_none_or(|b| b & 0x80 != 0) {
            content.insert(0, 0);
        }
        tlv(0x02, &content)
    }

    /// `[number] EXPLICIT`, constructed, in the high-tag-number form above 30.
    #[must_use]
    pub fn explicit(number: u32, content: &[u8]) -> Vec<u8> {
        if number < 31 {
            return tlv(0xa0 | u8::try_from(number).unwrap_or_default(), content);
        }
        let mut digits = Vec::new();
        let mut rest = number;
        while rest > 0 {
            digits.push(u8::try_from(rest & 0x7f).unwrap_or_default());
            rest >>= 7;
        }
        let mut tag = vec![0xbf];
        for (i, digit) in digits.iter().rev().enumerate() {
            let more = i + 1 < digits.len();
            tag.push(if more { digit | 0x80 } else { *digit });
        }
        let mut out = tlv(0, content);
        out.splice(0..1, tag);
        out
    }

    /// An `OBJECT IDENTIFIER` from its dotted form; `None` unless it is at least two
    /// numeric arcs.
    #[must_use]
    pub fn oid(dotted: &str) -> Option<Vec<u8>> {
        let arcs: Vec<u64> = dotted
            .split('.')
            .map(|arc| arc.parse().ok())
            .collect::<Option<_>>()?;
        let [first, second, rest @ ..] = arcs.as_slice() else {
            return None;
        };
        let mut content = Vec::new();
        for arc in std::iter::once(first * 40 + second).chain(rest.iter().copied()) {
            let mut digits = vec![u8::try_from(arc & 0x7f).unwrap_or_default()];
            let mut rest = arc >> 7;
            while rest > 0 {
                digits.push(0x80 | u8::try_from(rest & 0x7f).unwrap_or_default());
                rest >>= 7;
            }
            content.extend(digits.iter().rev());
        }
        Some(tlv(0x06, &content))
    }

    /// A `Time` from `YYYYMMDDHHMMSSZ`: UTCTime through 2049, GeneralizedTime after, as
    /// RFC 5280 §4.1.2.5 requires.
    #[must_use]
    pub fn time(text: &str) -> Vec<u8> {
        match text.get(..4).and_then(|year| year.parse::<u32>().ok()) {
            Some(year) if year < 2050 => tlv(0x17, text.get(2..).unwrap_or_default().as_bytes()),
            _ => tlv(0x18, text.as_bytes()),
        }
    }

    /// The content and the bytes after the TLV at the start of `bytes`, for DER this
    /// module wrote or a fixture holds (short and long definite lengths).
    #[must_use]
    pub fn split(bytes: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
        // The tag: one byte in everything these tests read.
        let rest = bytes.get(1..)?;
        let (&len_byte, rest) = rest.split_first()?;
        let (len, rest) = if len_byte < 0x80 {
            (usize::from(len_byte), rest)
        } else {
            let count = usize::from(len_byte & 0x7f);
            let (len_bytes, rest) = rest.split_at_checked(count)?;
            let len = len_bytes.iter().try_fold(0usize, |acc, b| {
                acc.checked_mul(256)?.checked_add(usize::from(*b))
            })?;
            (len, rest)
        };
        let header = bytes.len() - rest.len();
        let (content, after) = rest.split_at_checked(len)?;
        Some((bytes.get(..header + len)?, content, after))
    }
}

/// The start of every certificate's validity and every CRL's default thisUpdate.
const FROM: &str = "20260101000000Z";
/// The end of every certificate's validity and every CRL's default nextUpdate.
const UNTIL: &str = "21260101000000Z";

/// ecdsa-with-SHA256 (RFC 5758 §3.2), the only signature these certificates carry.
const ECDSA_WITH_SHA256: &str = "1.2.840.10045.4.3.2";

/// DER tag of a UTF8String, for [`CertificateBuilder::with_typed_subject`].
pub const UTF8_STRING: u8 = 0x0c;
/// DER tag of a PrintableString, for [`CertificateBuilder::with_typed_subject`].
pub const PRINTABLE_STRING: u8 = 0x13;

/// keyUsage bit numbers (RFC 5280 §4.2.1.3), for [`CertificateBuilder::key_usage`].
pub mod key_usage {
    /// digitalSignature (0).
    pub const DIGITAL_SIGNATURE: u8 = 0;
    /// keyCertSign (5).
    pub const KEY_CERT_SIGN: u8 = 5;
    /// cRLSign (6).
    pub const CRL_SIGN: u8 = 6;
}

/// An X.509 v3 certificate to be signed.
#[derive(Clone, Debug)]
pub struct CertificateBuilder {
    /// `None` where an attribute's OID did not parse: [`IssuedCertificate::sign`] then
    /// fails.
    subject: Option<Vec<u8>>,
    serial: u64,
    /// `None` where an OID did not parse: [`IssuedCertificate::sign`] then fails.
    extensions: Vec<Option<Vec<u8>>>,
    /// The OID written in `tbsCertificate.signature` when it must differ from the outer
    /// ecdsa-with-SHA256.
    inner_signature_algorithm: Option<String>,
}

/// A builder with its issuer chosen: [`IssuedCertificate::sign`] adds the subject's key.
#[derive(Clone, Debug)]
pub struct IssuedCertificate<'a> {
    builder: CertificateBuilder,
    /// `None` when the issuer certificate did not parse.
    issuer_name: Option<Vec<u8>>,
    issuer_key: &'a SoftKey,
}

impl CertificateBuilder {
    /// A certificate whose subject is `CN=<common_name>` (UTF8String).
    #[must_use]
    pub fn new(common_name: &str) -> Self {
        Self::with_subject(&[("2.5.4.3", common_name)])
    }

    /// A certificate whose subject has these attributes, one RDN each, in order:
    /// `(OID, value)`, the country (2.5.4.6) as PrintableString, the rest as UTF8String.
    #[must_use]
    pub fn with_subject(attributes: &[(&str, &str)]) -> Self {
        let typed: Vec<(&str, u8, &str)> = attributes
            .iter()
            .map(|(oid, value)| (*oid, default_string_type(oid), *value))
            .collect();
        Self::with_typed_subject(&typed)
    }

    /// A certificate whose subject has these attributes, one RDN each, in order:
    /// `(OID, DER string tag, value)` ([`UTF8_STRING`], [`PRINTABLE_STRING`]...).
    #[must_use]
    pub fn with_typed_subject(attributes: &[(&str, u8, &str)]) -> Self {
        Self {
            subject: name(attributes),
            serial: 1,
            extensions: Vec::new(),
            inner_signature_algorithm: None,
        }
    }

    /// Its serial number (default 1).
    #[must_use]
    pub fn serial(mut self, serial: u64) -> Self {
        self.serial = serial;
        self
    }

    /// Adds an extension, in order; adding one OID twice writes it twice.
    #[must_use]
    pub fn extension(mut self, oid: &str, critical: bool, value: &[u8]) -> Self {
        self.extensions.push(extension(oid, critical, value));
        self
    }

    /// Marks it a CA: critical `basicConstraints` CA:TRUE and `keyUsage` keyCertSign and
    /// cRLSign.
    #[must_use]
    pub fn ca(self) -> Self {
        self.ca_constraints()
            .key_usage(&[key_usage::KEY_CERT_SIGN, key_usage::CRL_SIGN])
    }

    /// Adds critical `basicConstraints` CA:TRUE alone (no path length, no key usage).
    #[must_use]
    pub fn ca_constraints(self) -> Self {
        let ca_true = der::sequence(&[&der::tlv(0x01, &[0xff])]);
        self.extension("2.5.29.19", true, &ca_true)
    }

    /// Adds a critical `keyUsage` with these bits set (see [`key_usage`]).
    #[must_use]
    pub fn key_usage(self, bits: &[u8]) -> Self {
        self.extension("2.5.29.15", true, &named_bits(bits))
    }

    /// Writes `oid` (no parameters) in `tbsCertificate.signature`, while the outer
    /// `signatureAlgorithm` and the signature stay ecdsa-with-SHA256: the mismatch RFC
    /// 5280 §4.1.2.3 forbids.
    #[must_use]
    pub fn inner_signature_algorithm(mut self, oid: &str) -> Self {
        self.inner_signature_algorithm = Some(oid.to_owned());
        self
    }

    /// To be signed by `issuer_key`, under the subject name of the `issuer` certificate.
    #[must_use]
    pub fn issued_by<'a>(self, issuer: &[u8], issuer_key: &'a SoftKey) -> IssuedCertificate<'a> {
        IssuedCertificate {
            builder: self,
            issuer_name: subject_of(issuer),
            issuer_key,
        }
    }

    /// The DER certificate, self-signed by `key`; `None` as for [`IssuedCertificate::sign`].
    #[must_use]
    pub fn self_signed(self, key: &SoftKey) -> Option<Vec<u8>> {
        IssuedCertificate {
            issuer_name: self.subject.clone(),
            builder: self,
            issuer_key: key,
        }
        .sign(key)
    }
}

impl IssuedCertificate<'_> {
    /// Writes this issuer name instead of the issuer certificate's subject (attributes as
    /// in [`CertificateBuilder::with_subject`]): a certificate whose issuer name does not
    /// chain although the issuer's key signed it.
    #[must_use]
    pub fn with_issuer_name(mut self, attributes: &[(&str, &str)]) -> Self {
        self.issuer_name = CertificateBuilder::with_subject(attributes).subject;
        self
    }

    /// The DER certificate for `subject_key` (ES256 or RS256). `None` when the issuer key
    /// is not ES256, the subject key is neither, the issuer certificate did not parse or
    /// an OID was not dotted decimal.
    #[must_use]
    pub fn sign(self, subject_key: &SoftKey) -> Option<Vec<u8>> {
        let CertificateBuilder {
            subject,
            serial,
            extensions,
            inner_signature_algorithm,
        } = self.builder;
        let inner_algorithm = match inner_signature_algorithm {
            Some(oid) => der::sequence(&[&der::oid(&oid)?]),
            None => signature_algorithm()?,
        };
        let validity = der::sequence(&[&der::time(FROM), &der::time(UNTIL)]);
        let tbs = der::sequence(&[
            &der::explicit(0, &der::integer(2)),
            &der::integer(serial),
            &inner_algorithm,
            &self.issuer_name?,
            &validity,
            &subject?,
            &spki(subject_key)?,
            &optional_list(extensions, |list| der::explicit(3, &list))?,
        ]);
        signed(&tbs, self.issuer_key)
    }
}

/// A CRL (RFC 5280 §5, v2) to be signed, current from 2026 to 2126 unless told otherwise.
#[derive(Clone, Debug)]
pub struct RevocationListBuilder {
    /// The serial numbers' INTEGER contents; `None` where a certificate did not parse.
    revoked: Vec<Option<Vec<u8>>>,
    this_update: String,
    next_update: Option<String>,
    extensions: Vec<Option<Vec<u8>>>,
}

impl Default for RevocationListBuilder {
    fn default() -> Self {
        Self {
            revoked: Vec::new(),
            this_update: FROM.to_owned(),
            next_update: Some(UNTIL.to_owned()),
            extensions: Vec::new(),
        }
    }
}

impl RevocationListBuilder {
    /// An empty list.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Lists the DER `certificate` as revoked (by its serial number).
    #[must_use]
    pub fn revoke(mut self, certificate: &[u8]) -> Self {
        self.revoked.push(serial_of(certificate));
        self
    }

    /// thisUpdate and nextUpdate as `YYYYMMDDHHMMSSZ`; `None` leaves nextUpdate out.
    #[must_use]
    pub fn updates(mut self, this_update: &str, next_update: Option<&str>) -> Self {
        this_update.clone_into(&mut self.this_update);
        self.next_update = next_update.map(str::to_owned);
        self
    }

    /// Adds a CRL extension.
    #[must_use]
    pub fn extension(mut self, oid: &str, critical: bool, value: &[u8]) -> Self {
        self.extensions.push(extension(oid, critical, value));
        self
    }

    /// The DER CRL, issued under the subject name of `issuer` and signed by
    /// `issuer_key`. `None` when the key is not ES256, a certificate or an OID did not
    /// parse.
    #[must_use]
    pub fn sign(self, issuer: &[u8], issuer_key: &SoftKey) -> Option<Vec<u8>> {
        let entries = self.revoked.into_iter().map(|serial| {
            Some(der::sequence(&[
                &der::tlv(0x02, &serial?),
                &der::time(FROM),
            ]))
        });
        let tbs = der::sequence(&[
            &der::integer(1), // v2
            &signature_algorithm()?,
            &subject_of(issuer)?,
            &der::time(&self.this_update),
            &self
                .next_update
                .as_deref()
                .map(der::time)
                .unwrap_or_default(),
            &optional_list(entries.collect(), |list| list)?,
            &optional_list(self.extensions, |list| der::explicit(0, &list))?,
        ]);
        signed(&tbs, issuer_key)
    }
}

/// `SEQUENCE { tbs, ecdsa-with-SHA256, BIT STRING signature }`: a certificate or CRL
/// signed by `issuer_key`, or `None` when it is not ES256.
fn signed(tbs: &[u8], issuer_key: &SoftKey) -> Option<Vec<u8>> {
    p256_spki(issuer_key)?;
    let signature = issuer_key.sign(tbs);
    Some(der::sequence(&[
        tbs,
        &signature_algorithm()?,
        &der::tlv(0x03, &[&[0u8][..], &signature].concat()),
    ]))
}

/// `AlgorithmIdentifier` ecdsa-with-SHA256 (no parameters).
fn signature_algorithm() -> Option<Vec<u8>> {
    Some(der::sequence(&[&der::oid(ECDSA_WITH_SHA256)?]))
}

/// An optional `SEQUENCE OF` (extensions, revoked certificates): nothing when empty,
/// else the sequence as `wrap` tags it; `None` when an item failed to build.
fn optional_list(
    items: Vec<Option<Vec<u8>>>,
    wrap: impl FnOnce(Vec<u8>) -> Vec<u8>,
) -> Option<Vec<u8>> {
    let items: Vec<Vec<u8>> = items.into_iter().collect::<Option<_>>()?;
    Some(if items.is_empty() {
        Vec::new()
    } else {
        wrap(der::sequence_of(&items))
    })
}

/// An `Extension`: OID, the critical flag when set, the value in an OCTET STRING.
fn extension(oid: &str, critical: bool, value: &[u8]) -> Option<Vec<u8>> {
    let critical_field = if critical {
        der::tlv(0x01, &[0xff])
    } else {
        Vec::new()
    };
    Some(der::sequence(&[
        &der::oid(oid)?,
        &critical_field,
        &der::octet_string(value),
    ]))
}

/// `SubjectPublicKeyInfo` of a P-256 or RSA key; `None` for other keys.
fn spki(key: &SoftKey) -> Option<Vec<u8>> {
    match key.algorithm() {
        Algorithm::Rs256 => rsa_spki(key),
        _ => p256_spki(key),
    }
}

/// `SubjectPublicKeyInfo` of an RSA key: rsaEncryption with NULL parameters, the PKCS#1
/// `RSAPublicKey { modulus, publicExponent }`.
fn rsa_spki(key: &SoftKey) -> Option<Vec<u8>> {
    let public_key = key.public_key();
    let KeyParams::Rsa { n, e } = public_key.params() else {
        return None;
    };
    let rsa_public_key = der::sequence(&[&der::unsigned(n), &der::unsigned(e)]);
    Some(der::sequence(&[
        &der::sequence(&[&der::oid("1.2.840.113549.1.1.1")?, &der::tlv(0x05, &[])]),
        &der::tlv(0x03, &[&[0u8][..], &rsa_public_key].concat()),
    ]))
}

/// `SubjectPublicKeyInfo` of a P-256 key: id-ecPublicKey, prime256v1, the uncompressed
/// point.
fn p256_spki(key: &SoftKey) -> Option<Vec<u8>> {
    if key.algorithm() != Algorithm::Es256 {
        return None;
    }
    let point = key.uncompressed_point()?;
    Some(der::sequence(&[
        &der::sequence(&[
            &der::oid("1.2.840.10045.2.1")?,
            &der::oid("1.2.840.10045.3.1.7")?,
        ]),
        &der::tlv(0x03, &[&[0u8][..], &point].concat()),
    ]))
}

/// A `Name` of one RDN per attribute, `(OID, DER string tag, value)`; `None` when an OID
/// does not parse.
fn name(attributes: &[(&str, u8, &str)]) -> Option<Vec<u8>> {
    let rdns: Vec<Vec<u8>> = attributes
        .iter()
        .map(|(oid, tag, value)| {
            let attribute = der::sequence(&[&der::oid(oid)?, &der::tlv(*tag, value.as_bytes())]);
            Some(der::tlv(0x31, &attribute))
        })
        .collect::<Option<_>>()?;
    Some(der::sequence_of(&rdns))
}

/// The string type X.509 profiles give an attribute: PrintableString for the country
/// (RFC 5280 Appendix A), UTF8String for the rest.
fn default_string_type(oid: &str) -> u8 {
    if oid == "2.5.4.6" {
        PRINTABLE_STRING
    } else {
        UTF8_STRING
    }
}

/// A DER named-bit `BIT STRING` with `bits` set (bit 0 is the first byte's high bit), no
/// trailing zero bits, as RFC 5280 §4.2.1.3 key usages are written.
fn named_bits(bits: &[u8]) -> Vec<u8> {
    let Some(&highest) = bits.iter().max() else {
        return der::tlv(0x03, &[0]);
    };
    let mut content = vec![0u8; usize::from(highest / 8) + 1];
    for bit in bits {
        if let Some(byte) = content.get_mut(usize::from(bit / 8)) {
            *byte |= 0x80 >> (bit % 8);
        }
    }
    content.insert(0, 7 - highest % 8);
    der::tlv(0x03, &content)
}

/// The first `count` fields of a DER certificate's TBSCertificate: version [0],
/// serialNumber, signature, issuer, validity, subject...
fn tbs_fields(certificate: &[u8], count: usize) -> Option<Vec<&[u8]>> {
    let (_, certificate, _) = der::split(certificate)?;
    let (_, tbs, _) = der::split(certificate)?;
    let mut rest = tbs;
    let mut fields = Vec::new();
    while fields.len() < count {
        let (field, _, after) = der::split(rest)?;
        fields.push(field);
        rest = after;
    }
    Some(fields)
}

/// The subject `Name` of a DER certificate, as its bytes.
fn subject_of(certificate: &[u8]) -> Option<Vec<u8>> {
    tbs_fields(certificate, 6)?
        .last()
        .map(|subject| subject.to_vec())
}

/// The INTEGER content of a DER certificate's serial number.
#[must_use]
pub fn serial_of(certificate: &[u8]) -> Option<Vec<u8>> {
    let fields = tbs_fields(certificate, 2)?;
    let (_, serial, _) = der::split(fields.get(1)?)?;
    Some(serial.to_vec())
}

#[cfg(test)]
mod tests {
    use super::{CertificateBuilder, RevocationListBuilder, der};
    use crate::authenticator::SoftKey;

    #[test]
    fn a_bad_oid_or_key_makes_signing_fail_rather_than_write_something_else() {
        let key = SoftKey::es256([1; 32]);
        let good = CertificateBuilder::new("ok").self_signed(&key);
        assert!(good.is_some());
        assert!(
            CertificateBuilder::with_subject(&[("2.5.4.x", "bad")])
                .self_signed(&key)
                .is_none()
        );
        let bad_extension = CertificateBuilder::new("ok").extension("1", false, &[]);
        assert!(bad_extension.self_signed(&key).is_none());
        assert!(
            CertificateBuilder::new("ok")
                .self_signed(&SoftKey::eddsa([1; 32]))
                .is_none()
        );
        let issuer = good.unwrap_or_default();
        assert!(RevocationListBuilder::new().sign(&issuer, &key).is_some());
        assert!(
            RevocationListBuilder::new()
                .sign(b"not DER", &key)
                .is_none()
        );
        assert!(
            RevocationListBuilder::new()
                .revoke(b"not DER")
                .sign(&issuer, &key)
                .is_none()
        );
    }

    #[test]
    fn key_usage_bits_and_rsa_subjects_encode_as_der() {
        use super::{key_usage, named_bits};
        // keyCertSign and cRLSign: 1 unused bit, 0x06 (what `ca()` always wrote).
        assert_eq!(
            named_bits(&[key_usage::KEY_CERT_SIGN, key_usage::CRL_SIGN]),
            [0x03, 0x02, 0x01, 0x06]
        );
        assert_eq!(
            named_bits(&[key_usage::DIGITAL_SIGNATURE]),
            [0x03, 0x02, 0x07, 0x80]
        );
        assert_eq!(named_bits(&[8]), [0x03, 0x03, 0x07, 0x00, 0x80]);
        assert_eq!(named_bits(&[]), [0x03, 0x01, 0x00]);
        assert_eq!(der::unsigned(&[0, 0, 0x80]), [0x02, 0x02, 0x00, 0x80]);
        let issuer = SoftKey::es256([1; 32]);
        let rsa = CertificateBuilder::new("rsa")
            .issued_by(
                &CertificateBuilder::new("ca")
                    .self_signed(&issuer)
                    .unwrap_or_default(),
                &issuer,
            )
            .sign(&SoftKey::rs256());
        assert!(rsa.is_some());
        // The issuer still signs with ES256 only.
        assert!(
            CertificateBuilder::new("x")
                .self_signed(&SoftKey::rs256())
                .is_none()
        );
    }

    #[test]
    fn der_encodings_match_their_standard_forms() {
        assert_eq!(
            der::oid("1.2.840.10045.4.3.2"),
            Some(vec![
                0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02
            ])
        );
        assert_eq!(der::oid("1.x"), None);
        assert_eq!(der::oid("1"), None);
        assert_eq!(der::integer(0), [0x02, 0x01, 0x00]);
        assert_eq!(der::integer(0x80), [0x02, 0x02, 0x00, 0x80]);
        assert_eq!(
            der::explicit(702, &[0x05, 0x00]),
            [0xbf, 0x85, 0x3e, 0x02, 0x05, 0x00]
        );
        let long = der::octet_string(&[7; 300]);
        assert_eq!(long.get(..4), Some(&[0x04, 0x82, 0x01, 0x2c][..]));
        assert_eq!(
            der::split(&long).map(|(_, content, after)| (content.len(), after.len())),
            Some((300, 0))
        );
    }
}
