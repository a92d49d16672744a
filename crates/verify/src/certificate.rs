//! X.509 certificates as attestation needs them: keys, signatures, validity, constraints.

use std::time::{Duration, SystemTime};

use der::asn1::ObjectIdentifier;
use der::{Decode as _, Encode as _, Tag, Tagged as _};
use latchkey_cose::{Aaguid, Algorithm, Curve};
use x509_cert::Certificate;
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::AlgorithmIdentifierOwned;

use crate::error::{Error, Result};
use crate::signature::{
    Hash, Material, Scheme, VerifyingKey, ec_material, ed25519_material, ml_dsa_material,
    verify_scheme,
};

/// Most certificates accepted in one `x5c`.
pub const MAX_CHAIN_LEN: usize = 5;
/// Largest certificate accepted, in bytes.
pub const MAX_CERTIFICATE_LEN: usize = 16 * 1024;

const ID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const SECP521R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const ID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
/// id-ml-dsa-44/65/87 (NIST CSOR; RFC 9881): key and signature algorithm alike.
const ID_ML_DSA_44: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.3.17");
const ID_ML_DSA_65: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.3.18");
const ID_ML_DSA_87: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.3.19");

const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ECDSA_WITH_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const ECDSA_WITH_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.4");
const SHA1_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.5");
const SHA256_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const SHA384_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
const SHA512_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");

const BASIC_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.19");
const KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");
const SUBJECT_ALT_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.17");
const EXTENDED_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");
const COMMON_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
/// id-fido-gen-ce-aaguid (WebAuthn §8.2.1).
const FIDO_AAGUID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.45724.1.1.4");
/// id-fido-gen-ce-sernum (FIDO enterprise attestation: the device's serial number).
const FIDO_ENTERPRISE_SERIAL: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.45724.1.1.2");
/// The Android key description (android-key attestation, WebAuthn §8.4).
const ANDROID_KEY_DESCRIPTION: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.11129.2.1.17");
/// Apple's anonymous attestation nonce (WebAuthn §8.8).
const APPLE_NONCE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113635.100.8.2");

const NAME_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.30");
const CERTIFICATE_POLICIES: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.32");
const POLICY_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.36");

/// The extensions latchkey reads, so may accept marked critical (RFC 5280 §4.2: a
/// certificate with a critical extension the verifier does not process must be refused).
/// Path validation reads basicConstraints and keyUsage; the formats read the rest (tpm:
/// extendedKeyUsage and subjectAltName, which RFC 5280 §4.2.1.6 makes critical for the
/// AIK's empty subject; safetynet: subjectAltName). certificatePolicies is handled apart
/// (see [`Cert::check_path_extensions`]); policyMappings, inhibitAnyPolicy and every other
/// extension are not processed, so a certificate marking one critical is refused.
const PROCESSED_EXTENSIONS: &[ObjectIdentifier] = &[
    BASIC_CONSTRAINTS,
    KEY_USAGE,
    EXTENDED_KEY_USAGE,
    SUBJECT_ALT_NAME,
    FIDO_AAGUID,
    FIDO_ENTERPRISE_SERIAL,
    ANDROID_KEY_DESCRIPTION,
    APPLE_NONCE,
];

/// Constraints RFC 5280 §6.1.4 (g) and (i) apply whether or not they are marked critical,
/// and latchkey does not implement: ignoring one would accept a path a complete validator
/// refuses, so a certificate carrying one is refused, critical or not.
const UNIMPLEMENTED_CONSTRAINTS: &[ObjectIdentifier] = &[NAME_CONSTRAINTS, POLICY_CONSTRAINTS];

/// A parsed certificate with the DER it came from.
#[derive(Clone, Debug)]
pub(crate) struct Cert {
    der: Vec<u8>,
    cert: Certificate,
}

impl Cert {
    /// Parses strict DER (no trailing bytes), within the size cap.
    pub(crate) fn parse(der: &[u8]) -> Result<Self> {
        if der.len() > MAX_CERTIFICATE_LEN {
            return Err(Error::Limit("certificate larger than 16 KiB"));
        }
        let cert = Certificate::from_der(der)
            .map_err(|_| Error::AttestationInvalid("certificate is not DER X.509"))?;
        if !signature_algorithms_agree(
            cert.tbs_certificate().signature(),
            cert.signature_algorithm(),
        ) {
            return Err(Error::AttestationInvalid(
                "certificate signature algorithms differ inside and outside",
            ));
        }
        Ok(Self {
            der: der.to_vec(),
            cert,
        })
    }

    pub(crate) fn der(&self) -> &[u8] {
        &self.der
    }

    /// The subject key, checked against `algorithm` (a P-256 key for ES256...).
    pub(crate) fn verifying_key(&self, algorithm: Algorithm) -> Result<VerifyingKey> {
        VerifyingKey::from_parts(algorithm, self.key_material()?)
    }

    pub(crate) fn key_material(&self) -> Result<Material> {
        let spki = self.cert.tbs_certificate().subject_public_key_info();
        let key = spki
            .subject_public_key
            .as_bytes()
            .ok_or(Error::AttestationInvalid("certificate key has unused bits"))?;
        let oid = spki.algorithm.oid;
        if oid == ID_EC_PUBLIC_KEY {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.decode_as::<ObjectIdentifier>().ok())
                .ok_or(Error::AttestationInvalid("EC key without a named curve"))?;
            let curve = match curve {
                c if c == SECP256R1 => Curve::P256,
                c if c == SECP384R1 => Curve::P384,
                c if c == SECP521R1 => Curve::P521,
                _ => return Err(Error::AttestationInvalid("unsupported certificate curve")),
            };
            ec_material(curve, key)
        } else if oid == RSA_ENCRYPTION {
            use rsa::pkcs1::DecodeRsaPublicKey as _;
            let key = rsa::PublicKey::from_pkcs1_der(key)
                .map_err(|_| Error::AttestationInvalid("certificate RSA key"))?;
            Ok(Material::Rsa(key))
        } else if oid == ID_ED25519 {
            ed25519_material(key)
        } else if oid == ID_ML_DSA_44 {
            ml_dsa_material(Algorithm::MlDsa44, key)
        } else if oid == ID_ML_DSA_65 {
            ml_dsa_material(Algorithm::MlDsa65, key)
        } else if oid == ID_ML_DSA_87 {
            ml_dsa_material(Algorithm::MlDsa87, key)
        } else {
            Err(Error::AttestationInvalid(
                "unsupported certificate key type",
            ))
        }
    }

    /// Whether `issuer`'s key signed this certificate. SHA-1 signatures count only when
    /// `allow_sha1` is set.
    pub(crate) fn is_signed_by(&self, issuer: &Material, allow_sha1: bool) -> bool {
        let Ok(tbs) = self.cert.tbs_certificate().to_der() else {
            return false;
        };
        let Some(signature) = self.cert.signature().as_bytes() else {
            return false;
        };
        signed_by(
            self.cert.signature_algorithm().oid,
            &tbs,
            signature,
            issuer,
            allow_sha1,
        )
    }

    /// The serial number.
    pub(crate) fn serial(&self) -> &SerialNumber {
        self.cert.tbs_certificate().serial_number()
    }

    /// The subject name.
    pub(crate) fn subject(&self) -> &Name {
        self.cert.tbs_certificate().subject()
    }

    /// Whether the key may sign CRLs: `cRLSign` when a key usage extension is present.
    pub(crate) fn may_sign_crls(&self) -> bool {
        self.key_usage_allows(KeyUsage::crl_sign)
    }

    /// Whether the key may sign certificates: `keyCertSign` when a key usage extension is
    /// present (RFC 5280 §4.2.1.3, §6.1.4 (n)).
    pub(crate) fn may_sign_certificates(&self) -> bool {
        self.key_usage_allows(KeyUsage::key_cert_sign)
    }

    /// Whether the key usage extension, when present, grants `usage`. Absent, every use
    /// is allowed (RFC 5280 leaves it to the other constraints); present but duplicated or
    /// malformed, none is.
    fn key_usage_allows(&self, usage: fn(&KeyUsage) -> bool) -> bool {
        match self.extension(KEY_USAGE) {
            Ok(Some((_, value))) => KeyUsage::from_der(value).is_ok_and(|found| usage(&found)),
            Ok(None) => true,
            Err(_) => false,
        }
    }

    /// The extension checks of RFC 5280 §6.1 for a certificate of the path: no constraint
    /// latchkey does not implement, no critical extension it does not process (§6.1.4 (o),
    /// §6.1.5 (f)).
    ///
    /// A critical certificatePolicies (Windows Hello AIK certificates carry one) is
    /// processed as §6.1 does with latchkey's fixed inputs: user-initial-policy-set
    /// anyPolicy, no explicit policy required, mapping and anyPolicy not inhibited. With
    /// policyConstraints refused above, those inputs keep explicit_policy above zero, so
    /// the policy tree never fails a path and processing reduces to reading the extension
    /// well-formed, each policy once (§4.2.1.4).
    pub(crate) fn check_path_extensions(&self) -> Result<(), &'static str> {
        for ext in self
            .cert
            .tbs_certificate()
            .extensions()
            .into_iter()
            .flatten()
        {
            let oid = ext.extn_id;
            if UNIMPLEMENTED_CONSTRAINTS.contains(&oid) {
                return Err("certificate has name or policy constraints latchkey does not process");
            }
            if !ext.critical || PROCESSED_EXTENSIONS.contains(&oid) {
                continue;
            }
            if oid != CERTIFICATE_POLICIES {
                return Err("certificate has a critical extension latchkey does not process");
            }
            if !certificate_policies_well_formed(ext.extn_value.as_bytes()) {
                return Err("certificate policies malformed");
            }
        }
        Ok(())
    }

    /// Whether `now` lies within notBefore..=notAfter.
    pub(crate) fn valid_at(&self, now: SystemTime) -> bool {
        let validity = self.cert.tbs_certificate().validity();
        let now = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        validity.not_before.to_unix_duration() <= now
            && now <= validity.not_after.to_unix_duration()
    }

    /// The Basic Constraints extension, when present and well-formed.
    pub(crate) fn basic_constraints(&self) -> Result<Option<BasicConstraints>> {
        match self.extension(BASIC_CONSTRAINTS)? {
            Some((_, value)) => BasicConstraints::from_der(value)
                .map(Some)
                .map_err(|_| Error::AttestationInvalid("malformed basic constraints")),
            None => Ok(None),
        }
    }

    pub(crate) fn is_ca(&self) -> Result<bool> {
        Ok(self.basic_constraints()?.is_some_and(|bc| bc.ca))
    }

    /// The AAGUID extension (two nested OCTET STRINGs, non-critical), when present.
    pub(crate) fn aaguid(&self) -> Result<Option<Aaguid>> {
        let Some((critical, value)) = self.extension(FIDO_AAGUID)? else {
            return Ok(None);
        };
        if critical {
            return Err(Error::AttestationInvalid(
                "AAGUID extension marked critical",
            ));
        }
        let inner = der::asn1::OctetString::from_der(value)
            .map_err(|_| Error::AttestationInvalid("AAGUID extension not an OCTET STRING"))?;
        let bytes: [u8; 16] = inner
            .as_bytes()
            .try_into()
            .map_err(|_| Error::AttestationInvalid("AAGUID extension not 16 bytes"))?;
        Ok(Some(Aaguid::from_bytes(bytes)))
    }

    /// The one extension with `oid`: (critical, value). Duplicates are refused
    /// (RFC 5280 §4.2).
    pub(crate) fn extension(&self, oid: ObjectIdentifier) -> Result<Option<(bool, &[u8])>> {
        let mut found = None;
        for ext in self
            .cert
            .tbs_certificate()
            .extensions()
            .into_iter()
            .flatten()
        {
            if ext.extn_id == oid {
                if found.is_some() {
                    return Err(Error::AttestationInvalid("duplicate certificate extension"));
                }
                found = Some((ext.critical, ext.extn_value.as_bytes()));
            }
        }
        Ok(found)
    }

    /// The subject's attributes of type `oid`, as (tag, bytes).
    pub(crate) fn subject_attributes(&self, oid: ObjectIdentifier) -> Vec<(Tag, &[u8])> {
        self.cert
            .tbs_certificate()
            .subject()
            .iter()
            .filter(|atv| atv.oid == oid)
            .map(|atv| (atv.value.tag(), atv.value.value()))
            .collect()
    }

    /// Whether the certificate names `host`, as RFC 6125 §6.4.4 asks: by its dNSName
    /// subject alternative names when it has any, and only then by the subject CN (a CA
    /// that wrote dNSNames stated every name the key may serve; a CN beside them is not
    /// one more).
    pub(crate) fn names_host(&self, host: &str) -> Result<bool> {
        let dns_names = self.dns_names()?;
        if !dns_names.is_empty() {
            return Ok(dns_names.iter().any(|name| name == host));
        }
        Ok(self
            .subject_attributes(COMMON_NAME)
            .iter()
            .any(|(_, value)| *value == host.as_bytes()))
    }

    /// The dNSName entries of the subject alternative name extension, if any.
    fn dns_names(&self) -> Result<Vec<String>> {
        use x509_cert::ext::pkix::SubjectAltName;
        use x509_cert::ext::pkix::name::GeneralName;
        let Some((_, value)) = self.extension(SUBJECT_ALT_NAME)? else {
            return Ok(Vec::new());
        };
        let san = SubjectAltName::from_der(value)
            .map_err(|_| Error::AttestationInvalid("subject alternative name malformed"))?;
        Ok(san
            .0
            .iter()
            .filter_map(|name| match name {
                GeneralName::DnsName(dns) => Some(dns.as_str().to_owned()),
                _ => None,
            })
            .collect())
    }

    pub(crate) fn subject_is_empty(&self) -> bool {
        self.cert.tbs_certificate().subject().is_empty()
    }

    pub(crate) fn version_is_3(&self) -> bool {
        self.cert.tbs_certificate().version() == x509_cert::certificate::Version::V3
    }

    /// Whether this certificate's issuer name is `other`'s subject name (RFC 5280
    /// §6.1.3 (a)(4)), compared as §7.1 says (see [`crate::name`]).
    pub(crate) fn issuer_is_subject_of(&self, other: &Cert) -> bool {
        crate::name::names_match(
            self.cert.tbs_certificate().issuer(),
            other.cert.tbs_certificate().subject(),
        )
    }
}

/// Whether `value` is a DER CertificatePolicies: at least one policy, none repeated.
fn certificate_policies_well_formed(value: &[u8]) -> bool {
    use x509_cert::ext::pkix::CertificatePolicies;
    let Ok(policies) = CertificatePolicies::from_der(value) else {
        return false;
    };
    let ids: Vec<ObjectIdentifier> = policies.0.iter().map(|p| p.policy_identifier).collect();
    !ids.is_empty()
        && ids
            .iter()
            .enumerate()
            .all(|(i, id)| !ids.iter().skip(i + 1).any(|other| other == id))
}

/// Whether a signed structure's inner `signature` field (in tbsCertificate, tbsCertList)
/// names the same algorithm, parameters included, as its outer `signatureAlgorithm`: RFC
/// 5280 §4.1.1.2 and §5.1.1.2 require it, and a verifier that trusts one field while the
/// signature used the other can be made to read two different claims from one signature.
/// Serves certificates and CRLs alike.
pub(crate) fn signature_algorithms_agree(
    inner: &AlgorithmIdentifierOwned,
    outer: &AlgorithmIdentifierOwned,
) -> bool {
    inner == outer
}

/// Whether `issuer` signed `tbs` with the X.509 signature algorithm `algorithm`, for
/// certificates and CRLs alike. SHA-1 signatures count only when `allow_sha1` is set.
pub(crate) fn signed_by(
    algorithm: ObjectIdentifier,
    tbs: &[u8],
    signature: &[u8],
    issuer: &Material,
    allow_sha1: bool,
) -> bool {
    let scheme = match algorithm {
        a if a == ECDSA_WITH_SHA256 => Scheme::Ecdsa(Hash::Sha256),
        a if a == ECDSA_WITH_SHA384 => Scheme::Ecdsa(Hash::Sha384),
        a if a == ECDSA_WITH_SHA512 => Scheme::Ecdsa(Hash::Sha512),
        a if a == SHA256_WITH_RSA => Scheme::RsaPkcs1(Hash::Sha256),
        a if a == SHA384_WITH_RSA => Scheme::RsaPkcs1(Hash::Sha384),
        a if a == SHA512_WITH_RSA => Scheme::RsaPkcs1(Hash::Sha512),
        a if a == SHA1_WITH_RSA && allow_sha1 => Scheme::RsaPkcs1(Hash::Sha1),
        a if a == ID_ED25519 => Scheme::Ed25519,
        a if a == ID_ML_DSA_44 || a == ID_ML_DSA_65 || a == ID_ML_DSA_87 => Scheme::MlDsa,
        _ => return false,
    };
    verify_scheme(issuer, scheme, &[tbs], signature).is_ok()
}

/// Parses an `x5c` array: 1 to [`MAX_CHAIN_LEN`] DER certificates.
pub(crate) fn parse_chain(x5c: &[latchkey_cose::cbor::Value<'_>]) -> Result<Vec<Cert>> {
    if x5c.is_empty() {
        return Err(Error::AttestationInvalid("x5c is empty"));
    }
    if x5c.len() > MAX_CHAIN_LEN {
        return Err(Error::Limit("x5c holds more than 5 certificates"));
    }
    x5c.iter()
        .map(|c| {
            c.as_bytes()
                .ok_or(Error::AttestationInvalid("x5c entry is not bytes"))
        })
        .map(|der| der.and_then(Cert::parse))
        .collect()
}
