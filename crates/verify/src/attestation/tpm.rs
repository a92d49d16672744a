//! `tpm` (WebAuthn §8.3): a TPM 2.0 certifies the credential key with its attestation key.

use der::asn1::ObjectIdentifier;
use der::{Decode as _, Tag, Tagged as _};
use latchkey_cose::cbor::Value;
use latchkey_cose::{Algorithm, Curve, KeyParams};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{ExtendedKeyUsage, SubjectAltName};

use super::packed::as_invalid;
use super::tpm_vendors::is_accepted_manufacturer;
use super::{AttestationType, Input, Verified, bytes_member, statement};
use crate::certificate::{Cert, parse_chain};
use crate::error::{Error, Result};

const TPM_GENERATED_VALUE: u32 = 0xff54_4347;
const TPM_ST_ATTEST_CERTIFY: u16 = 0x8017;
const TPM_ALG_RSA: u16 = 0x0001;
const TPM_ALG_SHA1: u16 = 0x0004;
const TPM_ALG_SHA256: u16 = 0x000b;
const TPM_ALG_SHA384: u16 = 0x000c;
const TPM_ALG_SHA512: u16 = 0x000d;
const TPM_ALG_NULL: u16 = 0x0010;
const TPM_ALG_SM3_256: u16 = 0x0012;
const TPM_ALG_SHA3_256: u16 = 0x0027;
const TPM_ALG_SHA3_384: u16 = 0x0028;
const TPM_ALG_SHA3_512: u16 = 0x0029;
const TPM_ALG_ECC: u16 = 0x0023;
// Asymmetric schemes and key derivation functions (TPM 2.0 Part 2, Table 9 TPM_ALG_ID).
const TPM_ALG_MGF1: u16 = 0x0007;
const TPM_ALG_RSASSA: u16 = 0x0014;
const TPM_ALG_RSAES: u16 = 0x0015;
const TPM_ALG_RSAPSS: u16 = 0x0016;
const TPM_ALG_OAEP: u16 = 0x0017;
const TPM_ALG_ECDSA: u16 = 0x0018;
const TPM_ALG_ECDH: u16 = 0x0019;
const TPM_ALG_ECDAA: u16 = 0x001a;
const TPM_ALG_SM2: u16 = 0x001b;
const TPM_ALG_ECSCHNORR: u16 = 0x001c;
const TPM_ALG_ECMQV: u16 = 0x001d;
const TPM_ALG_KDF1_SP800_56A: u16 = 0x0020;
const TPM_ALG_KDF2: u16 = 0x0021;
const TPM_ALG_KDF1_SP800_108: u16 = 0x0022;
const TPM_ECC_NIST_P256: u16 = 0x0003;
const TPM_ECC_NIST_P384: u16 = 0x0004;
const TPM_ECC_NIST_P521: u16 = 0x0005;

/// tcg-kp-AIKCertificate (TCG EK profile).
const TCG_KP_AIK_CERTIFICATE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.23.133.8.3");
const SUBJECT_ALT_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.17");
const EXTENDED_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");
const TPM_MANUFACTURER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.23.133.2.1");
const TPM_MODEL: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.23.133.2.2");
const TPM_VERSION: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.23.133.2.3");

/// ```cddl
/// tpmStmtFormat = {
///                     ver: "2.0",
///                     (
///                         alg: COSEAlgorithmIdentifier,
///                         x5c: [ aikCert: bytes, * (caCert: bytes) ]
///                     )
///                     sig: bytes,
///                     certInfo: bytes,
///                     pubArea: bytes
///                 }
/// ```
pub(super) fn verify(input: &Input<'_, '_>) -> Result<Verified> {
    let map = statement(
        input.object,
        &["ver", "alg", "x5c", "sig", "certInfo", "pubArea"],
    )?;
    if map.text_key("ver").and_then(Value::as_text) != Some("2.0") {
        return Err(Error::AttestationInvalid("tpm ver is not \"2.0\""));
    }
    let alg = map
        .text_key("alg")
        .and_then(Value::as_i64)
        .ok_or(Error::AttestationInvalid("alg"))?;
    let algorithm = Algorithm::from_cose(alg).ok_or(Error::UnsupportedAlgorithm(alg))?;
    let sig = bytes_member(map, "sig")?;
    let cert_info = bytes_member(map, "certInfo")?;
    let pub_area_bytes = bytes_member(map, "pubArea")?;
    let x5c = map
        .text_key("x5c")
        .and_then(Value::as_array)
        .ok_or(Error::AttestationInvalid("x5c"))?;
    let chain = parse_chain(x5c)?;
    let aik = chain
        .first()
        .ok_or(Error::AttestationInvalid("x5c is empty"))?;
    let allow_sha1 = input.options.signature.allow_rs1;

    // The key the TPM certified is the credential key.
    let pub_area = PubArea::parse(pub_area_bytes)?;
    pub_area.check_matches(input.object.credential().public_key().params())?;

    // certInfo is signed by the attestation key and commits to authData || clientDataHash
    // and to pubArea's name.
    let attest = CertInfo::parse(cert_info)?;
    let extra_data_hash = hash_for(algorithm)?;
    if extra_data_hash == TPM_ALG_SHA1 && !allow_sha1 {
        return Err(Error::UnsupportedAlgorithm(alg));
    }
    let signed = [
        input.object.auth_data().as_bytes(),
        input.client_data_hash.as_slice(),
    ];
    if attest.extra_data != digest(extra_data_hash, &signed)?.as_slice() {
        return Err(Error::AttestationInvalid(
            "tpm extraData is not the hash of attToBeSigned",
        ));
    }
    // The name's algorithm is the one its first two bytes name (conformance Resp-9 P-3).
    let [high, low, name_digest @ ..] = attest.name else {
        return Err(Error::AttestationInvalid("tpm attested name too short"));
    };
    let name_alg = u16::from_be_bytes([*high, *low]);
    if name_alg == TPM_ALG_SHA1 && !allow_sha1 {
        return Err(Error::AttestationInvalid("tpm name uses SHA-1"));
    }
    if name_digest != digest(name_alg, &[pub_area_bytes])?.as_slice() {
        return Err(Error::AttestationInvalid(
            "tpm attested name is not pubArea's",
        ));
    }
    aik.verifying_key(algorithm)?
        .verify(&[cert_info], sig, &input.options.signature)
        .map_err(as_invalid)?;

    check_aik_certificate(aik, input.options.tpm_test_manufacturers)?;
    if let Some(aaguid) = aik.aaguid()?
        && aaguid != input.object.credential().aaguid()
    {
        return Err(Error::AttestationInvalid(
            "certificate AAGUID differs from authData",
        ));
    }
    Ok(Verified {
        attestation_type: AttestationType::Basic,
        chain,
    })
}

/// The TPM hash algorithm of a COSE signature algorithm (for extraData).
fn hash_for(algorithm: Algorithm) -> Result<u16> {
    use Algorithm as A;
    Ok(match algorithm {
        A::Rs1 => TPM_ALG_SHA1,
        A::Rs256 | A::Ps256 | A::Es256 | A::Esp256 => TPM_ALG_SHA256,
        A::Rs384 | A::Ps384 | A::Es384 | A::Esp384 => TPM_ALG_SHA384,
        A::Rs512 | A::Ps512 | A::Es512 | A::Esp512 => TPM_ALG_SHA512,
        other => return Err(Error::UnsupportedAlgorithm(other.cose())),
    })
}

fn digest(tpm_alg: u16, parts: &[&[u8]]) -> Result<Vec<u8>> {
    fn run<D: sha2::Digest>(parts: &[&[u8]]) -> Vec<u8> {
        let mut hasher = D::new();
        for part in parts {
            hasher.update(part);
        }
        hasher.finalize().to_vec()
    }
    Ok(match tpm_alg {
        TPM_ALG_SHA1 => run::<sha1::Sha1>(parts),
        TPM_ALG_SHA256 => run::<sha2::Sha256>(parts),
        TPM_ALG_SHA384 => run::<sha2::Sha384>(parts),
        TPM_ALG_SHA512 => run::<sha2::Sha512>(parts),
        _ => {
            return Err(Error::AttestationInvalid(
                "tpm hash algorithm not supported",
            ));
        }
    })
}

/// The AIK certificate requirements of §8.3.1, and a TCG-registered TPM manufacturer
/// (or a test one, when `test_manufacturers`).
fn check_aik_certificate(aik: &Cert, test_manufacturers: bool) -> Result<()> {
    if !aik.version_is_3() {
        return Err(Error::AttestationInvalid("AIK certificate is not X.509 v3"));
    }
    if !aik.subject_is_empty() {
        return Err(Error::AttestationInvalid(
            "AIK certificate subject is not empty",
        ));
    }
    if aik.is_ca()? {
        return Err(Error::AttestationInvalid("AIK certificate is a CA"));
    }
    let (_, eku) = aik
        .extension(EXTENDED_KEY_USAGE)?
        .ok_or(Error::AttestationInvalid(
            "AIK certificate without extended key usage",
        ))?;
    let eku = ExtendedKeyUsage::from_der(eku)
        .map_err(|_| Error::AttestationInvalid("AIK extended key usage malformed"))?;
    if !eku.0.contains(&TCG_KP_AIK_CERTIFICATE) {
        return Err(Error::AttestationInvalid(
            "AIK certificate lacks tcg-kp-AIKCertificate",
        ));
    }
    let (_, san) = aik
        .extension(SUBJECT_ALT_NAME)?
        .ok_or(Error::AttestationInvalid(
            "AIK certificate without subject alternative name",
        ))?;
    let san = SubjectAltName::from_der(san)
        .map_err(|_| Error::AttestationInvalid("AIK subject alternative name malformed"))?;
    // Manufacturer, model and version, in one RDN or three (both are seen, C.92).
    let present = |oid: ObjectIdentifier| {
        san.0.iter().any(|name| match name {
            GeneralName::DirectoryName(directory) => directory.iter().any(|atv| atv.oid == oid),
            _ => false,
        })
    };
    if !(present(TPM_MANUFACTURER) && present(TPM_MODEL) && present(TPM_VERSION)) {
        return Err(Error::AttestationInvalid(
            "AIK subject alternative name lacks TPM manufacturer, model or version",
        ));
    }
    // The manufacturer must be a TPM vendor the TCG registered (C.91), or a test TPM's
    // when the options allow it.
    let manufacturers = san
        .0
        .iter()
        .filter_map(|name| match name {
            GeneralName::DirectoryName(directory) => Some(directory),
            _ => None,
        })
        .flat_map(|directory| directory.iter())
        .filter(|atv| atv.oid == TPM_MANUFACTURER)
        .map(|atv| {
            if matches!(atv.value.tag(), Tag::Utf8String | Tag::PrintableString) {
                std::str::from_utf8(atv.value.value()).unwrap_or("")
            } else {
                ""
            }
        });
    for manufacturer in manufacturers {
        if is_accepted_manufacturer(manufacturer, test_manufacturers) {
            continue;
        }
        return Err(Error::AttestationInvalid(
            if is_accepted_manufacturer(manufacturer, true) {
                "AIK TPM manufacturer is a test TPM's, not in the TCG vendor ID registry \
                 (accepted only with tpm_test_manufacturers)"
            } else {
                "AIK TPM manufacturer is not in the TCG vendor ID registry"
            },
        ));
    }
    Ok(())
}

/// Big-endian reads that fail instead of panicking.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8]> {
        let (head, rest) = self
            .0
            .split_at_checked(len)
            .ok_or(Error::AttestationInvalid("tpm structure truncated"))?;
        self.0 = rest;
        Ok(head)
    }

    fn u16(&mut self) -> Result<u16> {
        let bytes: [u8; 2] = self
            .take(2)?
            .try_into()
            .map_err(|_| Error::AttestationInvalid("tpm structure truncated"))?;
        Ok(u16::from_be_bytes(bytes))
    }

    fn u32(&mut self) -> Result<u32> {
        let bytes: [u8; 4] = self
            .take(4)?
            .try_into()
            .map_err(|_| Error::AttestationInvalid("tpm structure truncated"))?;
        Ok(u32::from_be_bytes(bytes))
    }

    /// A TPM2B: a 2-byte size, then that many bytes.
    fn sized(&mut self) -> Result<&'a [u8]> {
        let len = usize::from(self.u16()?);
        self.take(len)
    }

    fn finish(self) -> Result<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Error::AttestationInvalid(
                "tpm structure has trailing bytes",
            ))
        }
    }
}

/// TPMT_PUBLIC, as far as WebAuthn needs it.
enum PubArea<'a> {
    Rsa {
        exponent: u32,
        modulus: &'a [u8],
    },
    Ecc {
        curve: u16,
        x: &'a [u8],
        y: &'a [u8],
    },
}

impl<'a> PubArea<'a> {
    fn parse(bytes: &'a [u8]) -> Result<Self> {
        let mut r = Reader(bytes);
        let kind = r.u16()?;
        let _name_alg = r.u16()?;
        let _object_attributes = r.u32()?;
        let _auth_policy = r.sized()?;
        let area = match kind {
            TPM_ALG_RSA => {
                if r.u16()? != TPM_ALG_NULL {
                    return Err(Error::AttestationInvalid(
                        "tpm RSA key with a symmetric algorithm",
                    ));
                }
                rsa_scheme(&mut r)?;
                let _key_bits = r.u16()?;
                let exponent = r.u32()?;
                Self::Rsa {
                    exponent,
                    modulus: r.sized()?,
                }
            }
            TPM_ALG_ECC => {
                if r.u16()? != TPM_ALG_NULL {
                    return Err(Error::AttestationInvalid(
                        "tpm ECC key with a symmetric algorithm",
                    ));
                }
                ecc_scheme(&mut r)?;
                let curve = r.u16()?;
                kdf_scheme(&mut r)?;
                Self::Ecc {
                    curve,
                    x: r.sized()?,
                    y: r.sized()?,
                }
            }
            _ => {
                return Err(Error::AttestationInvalid(
                    "tpm pubArea type is neither RSA nor ECC",
                ));
            }
        };
        r.finish()?;
        Ok(area)
    }

    /// pubArea's `parameters` and `unique` must be the credential public key.
    fn check_matches(&self, key: &KeyParams) -> Result<()> {
        let matches = match (self, key) {
            (Self::Rsa { exponent, modulus }, KeyParams::Rsa { n, e }) => {
                // An exponent of 0 means the default, 65537.
                let exponent = if *exponent == 0 {
                    65_537
                } else {
                    u64::from(*exponent)
                };
                let cose_exponent = e.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
                exponent == cose_exponent && significant(modulus) == significant(n)
            }
            (
                Self::Ecc { curve, x, y },
                KeyParams::Ec2 {
                    curve: cose_curve,
                    x: cx,
                    y: cy,
                },
            ) => {
                let same_curve = matches!(
                    (*curve, cose_curve),
                    (TPM_ECC_NIST_P256, Curve::P256)
                        | (TPM_ECC_NIST_P384, Curve::P384)
                        | (TPM_ECC_NIST_P521, Curve::P521)
                );
                // Coordinates compared as numbers: some TPM stacks drop leading zero bytes.
                same_curve && significant(x) == significant(cx) && significant(y) == significant(cy)
            }
            _ => false,
        };
        if matches {
            Ok(())
        } else {
            Err(Error::AttestationInvalid(
                "tpm pubArea is not the credential key",
            ))
        }
    }
}

/// TPMT_RSA_SCHEME (TPM 2.0 Part 2 §11.2.4.2): `scheme`, then the `details` its value
/// selects from TPMU_ASYM_SCHEME: TPMS_SCHEME_HASH for RSASSA, RSAPSS and OAEP, the empty
/// TPMS_ENC_SCHEME_RSAES for RSAES, nothing for TPM_ALG_NULL. Any other value is not an
/// RSA scheme.
fn rsa_scheme(r: &mut Reader<'_>) -> Result<()> {
    match r.u16()? {
        TPM_ALG_NULL | TPM_ALG_RSAES => Ok(()),
        TPM_ALG_RSASSA | TPM_ALG_RSAPSS | TPM_ALG_OAEP => scheme_hash(r),
        _ => Err(Error::AttestationInvalid(
            "tpm pubArea RSA scheme is not an RSA scheme",
        )),
    }
}

/// TPMT_ECC_SCHEME (TPM 2.0 Part 2 §11.2.5.6), in TPMS_ECC_PARMS: `scheme`, then its
/// `details`: TPMS_SCHEME_HASH for ECDSA, SM2, ECSCHNORR, ECDH and ECMQV,
/// TPMS_SCHEME_ECDAA (hashAlg, count) for ECDAA, nothing for TPM_ALG_NULL.
fn ecc_scheme(r: &mut Reader<'_>) -> Result<()> {
    match r.u16()? {
        TPM_ALG_NULL => Ok(()),
        TPM_ALG_ECDSA | TPM_ALG_SM2 | TPM_ALG_ECSCHNORR | TPM_ALG_ECDH | TPM_ALG_ECMQV => {
            scheme_hash(r)
        }
        TPM_ALG_ECDAA => {
            scheme_hash(r)?;
            let _count = r.u16()?;
            Ok(())
        }
        _ => Err(Error::AttestationInvalid(
            "tpm pubArea ECC scheme is not an ECC scheme",
        )),
    }
}

/// TPMT_KDF_SCHEME (TPM 2.0 Part 2 §11.2.3.3), the `kdf` of TPMS_ECC_PARMS: `scheme`,
/// then TPMS_SCHEME_HASH for MGF1 and the KDFs of SP 800-56A, SP 800-108 and IEEE 1363a
/// (KDF2), nothing for TPM_ALG_NULL.
fn kdf_scheme(r: &mut Reader<'_>) -> Result<()> {
    match r.u16()? {
        TPM_ALG_NULL => Ok(()),
        TPM_ALG_MGF1 | TPM_ALG_KDF1_SP800_56A | TPM_ALG_KDF2 | TPM_ALG_KDF1_SP800_108 => {
            scheme_hash(r)
        }
        _ => Err(Error::AttestationInvalid(
            "tpm pubArea kdf is not a key derivation function",
        )),
    }
}

/// TPMS_SCHEME_HASH: a TPMI_ALG_HASH, which may not be TPM_ALG_NULL.
fn scheme_hash(r: &mut Reader<'_>) -> Result<()> {
    match r.u16()? {
        TPM_ALG_SHA1 | TPM_ALG_SHA256 | TPM_ALG_SHA384 | TPM_ALG_SHA512 | TPM_ALG_SM3_256
        | TPM_ALG_SHA3_256 | TPM_ALG_SHA3_384 | TPM_ALG_SHA3_512 => Ok(()),
        _ => Err(Error::AttestationInvalid(
            "tpm pubArea scheme names no hash algorithm",
        )),
    }
}

/// `bytes` without leading zero bytes (TPM and COSE may differ on a sign byte).
fn significant(bytes: &[u8]) -> &[u8] {
    let zeros = bytes.iter().take_while(|&&b| b == 0).count();
    bytes.get(zeros..).unwrap_or_default()
}

/// TPMS_ATTEST of type TPM_ST_ATTEST_CERTIFY, as far as WebAuthn needs it.
struct CertInfo<'a> {
    extra_data: &'a [u8],
    name: &'a [u8],
}

impl<'a> CertInfo<'a> {
    fn parse(bytes: &'a [u8]) -> Result<Self> {
        let mut r = Reader(bytes);
        if r.u32()? != TPM_GENERATED_VALUE {
            return Err(Error::AttestationInvalid(
                "tpm certInfo magic is not TPM_GENERATED_VALUE",
            ));
        }
        if r.u16()? != TPM_ST_ATTEST_CERTIFY {
            return Err(Error::AttestationInvalid(
                "tpm certInfo type is not TPM_ST_ATTEST_CERTIFY",
            ));
        }
        let _qualified_signer = r.sized()?;
        let extra_data = r.sized()?;
        let _clock_info = r.take(17)?;
        let _firmware_version = r.take(8)?;
        let name = r.sized()?;
        let _qualified_name = r.sized()?;
        r.finish()?;
        Ok(Self { extra_data, name })
    }
}
