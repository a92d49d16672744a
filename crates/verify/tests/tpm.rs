//! `tpm` attestation built here, field by field, with our own AIK certificates
//! (`fixtures/make-certificates.sh`), and the hostile inputs of checklist C.85-C.91.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use latchkey_cose::cbor::{Map, Value};
use latchkey_cose::{AttestationObject, KeyParams};
use latchkey_testkit::authenticator::{Authenticator, Client, SoftKey};
use latchkey_testkit::hex;
use latchkey_testkit::x509::{CertificateBuilder, der};
use latchkey_verify::{
    AttestationType, Ceremony, Error, Origins, RegistrationBytes, Trust, TrustAnchors, Verifier,
    VerifierOptions,
};
use sha2::{Digest as _, Sha256};

mod common;
use common::{ROOT, in_2040, leaf_key, root_key};

const CHALLENGE: &[u8] = b"tpm-registration-challenge-32by!";
const AIK: &[u8] = include_bytes!("fixtures/aik.der");
const AIK_WITH_SUBJECT: &[u8] = include_bytes!("fixtures/aik-with-subject.der");
const AIK_WITHOUT_EKU: &[u8] = include_bytes!("fixtures/aik-without-eku.der");
const AIK_WITHOUT_SAN: &[u8] = include_bytes!("fixtures/aik-without-san.der");

/// The parts a TPM attestation is made of, editable before signing.
struct Tpm {
    auth_data: Vec<u8>,
    client_data_json: Vec<u8>,
    credential_id: Vec<u8>,
    pub_area: Vec<u8>,
    /// certInfo fields.
    magic: u32,
    kind: u16,
    extra_data: Vec<u8>,
    name: Vec<u8>,
    ver: &'static str,
    aik: &'static [u8],
}

fn tpm2b(bytes: &[u8]) -> Vec<u8> {
    [
        &u16::try_from(bytes.len()).unwrap().to_be_bytes()[..],
        bytes,
    ]
    .concat()
}

impl Tpm {
    /// A valid attestation of an ES256 credential.
    fn new() -> Self {
        let client = Client::new("example.com", "https://example.com");
        let authenticator = Authenticator::new(SoftKey::es256([4; 32]));
        let registration = authenticator.register(&client, CHALLENGE);
        let KeyParams::Ec2 { x, y, .. } = authenticator.key().public_key().params().clone() else {
            panic!()
        };
        let pub_area = [
            &hex::decode(concat!(
                "0023",     // type: TPM_ALG_ECC
                "000b",     // nameAlg: SHA-256
                "00060472", // objectAttributes
            ))[..],
            &tpm2b(&[]),                         // authPolicy: empty
            &hex::decode("0010 0010 0003 0010"), // symmetric NULL, scheme NULL, NIST P-256, kdf NULL
            &tpm2b(&x),                          // unique.x
            &tpm2b(&y),                          // unique.y
        ]
        .concat();
        let client_data_hash = Sha256::digest(&registration.client_data_json);
        let extra_data = Sha256::digest(
            [
                registration.authenticator_data.as_slice(),
                &client_data_hash,
            ]
            .concat(),
        )
        .to_vec();
        let name = [&[0x00, 0x0b][..], &Sha256::digest(&pub_area)].concat();
        Self {
            auth_data: registration.authenticator_data,
            client_data_json: registration.client_data_json,
            credential_id: registration.credential_id,
            pub_area,
            magic: 0xff54_4347,
            kind: 0x8017,
            extra_data,
            name,
            ver: "2.0",
            aik: AIK,
        }
    }

    fn cert_info(&self) -> Vec<u8> {
        [
            &self.magic.to_be_bytes()[..],
            &self.kind.to_be_bytes(),
            &tpm2b(&[]),              // qualifiedSigner
            &tpm2b(&self.extra_data), // extraData
            &[0; 17],                 // clockInfo
            &[0; 8],                  // firmwareVersion
            &tpm2b(&self.name),       // attested.name
            &tpm2b(&[]),              // attested.qualifiedName
        ]
        .concat()
    }

    fn verify(&self, verifier: &Verifier) -> Result<latchkey_verify::VerifiedRegistration, Error> {
        let cert_info = self.cert_info();
        let sig = leaf_key().sign(&cert_info);
        let att_stmt = Map::new(vec![
            (Value::Text("ver"), Value::Text(self.ver)),
            (Value::Text("alg"), Value::Integer(-7)),
            (
                Value::Text("x5c"),
                Value::Array(vec![Value::Bytes(self.aik)]),
            ),
            (Value::Text("sig"), Value::Bytes(&sig)),
            (Value::Text("certInfo"), Value::Bytes(&cert_info)),
            (Value::Text("pubArea"), Value::Bytes(&self.pub_area)),
        ])
        .unwrap();
        let object = AttestationObject::encode("tpm", &Value::Map(att_stmt), &self.auth_data);
        let response = RegistrationBytes {
            client_data_json: &self.client_data_json,
            attestation_object: &object,
            raw_id: &self.credential_id,
        };
        verifier.verify_registration(&response, &Ceremony::new(CHALLENGE), in_2040())
    }
}

fn verifier() -> Verifier {
    let mut anchors = TrustAnchors::default();
    anchors.add_for_format("tpm", AIK).unwrap();
    Verifier::new("example.com", Origins::new(["https://example.com"])).with_trust_anchors(anchors)
}

fn refused(tpm: &Tpm) -> String {
    tpm.verify(&verifier())
        .expect_err("should be refused")
        .to_string()
}

#[test]
fn a_valid_tpm_attestation_verifies_and_is_trusted() {
    let verified = Tpm::new().verify(&verifier()).unwrap();
    assert_eq!(verified.fmt(), "tpm");
    assert_eq!(verified.attestation_type(), AttestationType::Basic);
    assert_eq!(verified.trust(), Trust::Trusted);
}

#[test]
fn version_magic_and_type() {
    // C.85, C.86.
    let mut tpm = Tpm::new();
    tpm.ver = "2.1";
    assert!(refused(&tpm).contains("ver"));
    let mut tpm = Tpm::new();
    tpm.magic = 0xff54_4348;
    assert!(refused(&tpm).contains("magic"));
    let mut tpm = Tpm::new();
    tpm.kind = 0x8018; // TPM_ST_ATTEST_QUOTE
    assert!(refused(&tpm).contains("TPM_ST_ATTEST_CERTIFY"));
}

#[test]
fn extra_data_must_hash_att_to_be_signed() {
    // C.87: SHA-1 of attToBeSigned with alg ES256, and the hash of authData alone.
    let mut tpm = Tpm::new();
    tpm.extra_data = sha1::Sha1::digest(
        [
            tpm.auth_data.as_slice(),
            &Sha256::digest(&tpm.client_data_json),
        ]
        .concat(),
    )
    .to_vec();
    assert!(refused(&tpm).contains("extraData"));
    let mut tpm = Tpm::new();
    tpm.extra_data = Sha256::digest(&tpm.auth_data).to_vec();
    assert!(refused(&tpm).contains("extraData"));
}

#[test]
fn attested_name_must_be_pub_areas() {
    // C.88: pubArea edited after certification; a name hash algorithm not supported (SM3).
    let mut tpm = Tpm::new();
    let last = tpm.pub_area.len() - 1;
    tpm.pub_area[last] ^= 1;
    assert_eq!(
        tpm.verify(&verifier()).unwrap_err().code(),
        "attestation_invalid"
    );
    let mut tpm = Tpm::new();
    tpm.name = [&[0x00, 0x12][..], &[0; 32]].concat();
    assert!(refused(&tpm).contains("hash algorithm"));
    // Conformance Resp-9 P-3: a name computed with another valid algorithm (SHA-384) than
    // pubArea's nameAlg (SHA-256) is accepted.
    let mut tpm = Tpm::new();
    tpm.name = [&[0x00, 0x0c][..], &sha2::Sha384::digest(&tpm.pub_area)].concat();
    assert!(tpm.verify(&verifier()).is_ok());
    // A SHA-1 name only with SHA-1 allowed.
    let mut tpm = Tpm::new();
    tpm.name = [&[0x00, 0x04][..], &sha1::Sha1::digest(&tpm.pub_area)].concat();
    assert!(refused(&tpm).contains("SHA-1"));
    let mut options = VerifierOptions::default();
    options.signature.allow_rs1 = true;
    assert!(tpm.verify(&verifier().with_options(options)).is_ok());
}

#[test]
fn pub_area_must_be_the_credential_key() {
    // C.89: another key in unique; C.90: a TPM2B size prefix left on, trailing bytes.
    let mut tpm = Tpm::new();
    let x_start = tpm.pub_area.len() - 2 * 34 + 2;
    tpm.pub_area[x_start] ^= 0x40;
    tpm.name = [&[0x00, 0x0b][..], &Sha256::digest(&tpm.pub_area)].concat();
    assert!(refused(&tpm).contains("credential key"));
    for edit in [
        tpm2b(&Tpm::new().pub_area),
        [Tpm::new().pub_area, vec![0]].concat(),
    ] {
        let mut tpm = Tpm::new();
        tpm.pub_area = edit;
        tpm.name = [&[0x00, 0x0b][..], &Sha256::digest(&tpm.pub_area)].concat();
        assert_eq!(
            tpm.verify(&verifier()).unwrap_err().code(),
            "attestation_invalid"
        );
    }
}

#[test]
fn aik_certificate_requirements() {
    // C.91: a subject, no EKU, no SAN.
    for (aik, why) in [
        (AIK_WITH_SUBJECT, "subject"),
        (AIK_WITHOUT_EKU, "extended key usage"),
        (AIK_WITHOUT_SAN, "alternative name"),
    ] {
        let mut tpm = Tpm::new();
        tpm.aik = aik;
        let error = refused(&tpm);
        assert!(error.contains(why), "{why}: {error}");
    }
}

impl Tpm {
    /// This attestation with another ECC `parameters` tail (after `symmetric`): scheme,
    /// curveID and kdf as given, the name recomputed.
    fn with_ecc_parameters(mut self, parameters: &str) -> Self {
        // type, nameAlg, objectAttributes, authPolicy (2 + 2 + 4 + 2), then symmetric.
        let (head, rest) = self.pub_area.split_at(12);
        // The original scheme, curve and kdf are 6 bytes.
        let unique = rest[6..].to_vec();
        self.pub_area = [head, &hex::decode(parameters), &unique].concat();
        self.name = [&[0x00, 0x0b][..], &Sha256::digest(&self.pub_area)].concat();
        self
    }
}

/// Issue 14: pubArea `scheme` and `kdf` with a non-NULL value carry their `details`
/// (TPMT_ECC_SCHEME / TPMT_KDF_SCHEME, TPM 2.0 Part 2), which are parsed, not refused.
#[test]
fn tpm_pub_area_scheme_and_kdf_details_are_parsed() {
    for parameters in [
        "0018 000b 0003 0010",      // ECDSA SHA-256, P-256, kdf NULL
        "0010 0003 0020 000b",      // scheme NULL, P-256, KDF1_SP800_56A SHA-256
        "0018 000b 0003 0007 000c", // ECDSA SHA-256, P-256, MGF1 SHA-384
        "001a 000b 0001 0003 0010", // ECDAA SHA-256 count 1, P-256
        "0019 0004 0003 0022 000d", // ECDH SHA-1, P-256, KDF1_SP800_108 SHA-512
    ] {
        let tpm = Tpm::new().with_ecc_parameters(parameters);
        assert!(tpm.verify(&verifier()).is_ok(), "{parameters}");
    }
    for (parameters, why) in [
        ("0014 000b 0003 0010", "ECC scheme"), // RSASSA: an RSA scheme
        ("0099 000b 0003 0010", "ECC scheme"), // no such algorithm
        ("0018 0010 0003 0010", "hash"),       // ECDSA with hash NULL
        ("0018 0003 0010", "hash"),            // details cut short: reads the curve
        ("0010 0003 0018 000b", "key derivation"), // kdf ECDSA
        ("0010 0003 0020", "hash"),            // kdf details missing: reads unique
    ] {
        let tpm = Tpm::new().with_ecc_parameters(parameters);
        let error = tpm.verify(&verifier()).unwrap_err();
        assert_eq!(error.code(), "attestation_invalid", "{parameters}");
        assert!(error.to_string().contains(why), "{parameters}: {error}");
    }
}

/// An AIK certificate for the leaf key, as `aik.der` is, naming `manufacturer`.
fn aik_from(manufacturer: &str) -> &'static [u8] {
    let attribute = |oid: &str, value: &str| {
        der::tlv(
            0x31,
            &der::sequence(&[&der::oid(oid).unwrap(), &der::tlv(0x0c, value.as_bytes())]),
        )
    };
    let name = der::sequence_of(&[
        attribute("2.23.133.2.1", manufacturer),
        attribute("2.23.133.2.2", "latchkey-test"),
        attribute("2.23.133.2.3", "id:00020000"),
    ]);
    let san = der::sequence(&[&der::tlv(0xa4, &name)]);
    let eku = der::sequence(&[&der::oid("2.23.133.8.3").unwrap()]);
    let certificate = CertificateBuilder::with_subject(&[])
        .serial(0x71)
        .extension("2.5.29.17", true, &san)
        .extension("2.5.29.37", false, &eku)
        .issued_by(ROOT, &root_key())
        .sign(&leaf_key())
        .unwrap();
    Box::leak(certificate.into_boxed_slice())
}

/// Issue 14, C.91: the AIK certificate's TPM manufacturer must be in the TCG TPM Vendor
/// ID Registry.
#[test]
fn tpm_manufacturer_must_be_a_tcg_vendor_c91() {
    for registered in ["id:49465800", "id:53544D20", "id:4e544300"] {
        let mut tpm = Tpm::new();
        tpm.aik = aik_from(registered);
        assert!(tpm.verify(&verifier()).is_ok(), "{registered}");
    }
    for unknown in ["id:FFFFF1D0", "id:12345678", "id:414D44", "414D4400", "AMD"] {
        let mut tpm = Tpm::new();
        tpm.aik = aik_from(unknown);
        let error = tpm.verify(&verifier()).unwrap_err();
        assert_eq!(error.code(), "attestation_invalid", "{unknown}");
        assert!(
            error.to_string().contains("TCG vendor"),
            "{unknown}: {error}"
        );
    }
}

/// Issue 14: the test TPMs' manufacturer IDs (`id:FFFFF1D0`, the FIDO conformance tool's;
/// `id:00000000`, test vectors') are refused by default and accepted only with
/// `VerifierOptions::tpm_test_manufacturers`, which accepts nothing else besides.
#[test]
fn tpm_test_manufacturers_only_with_the_option() {
    assert!(!VerifierOptions::default().tpm_test_manufacturers);
    let mut options = VerifierOptions::default();
    options.tpm_test_manufacturers = true;
    let loose = verifier().with_options(options);
    for test in ["id:FFFFF1D0", "id:fffff1d0", "id:00000000"] {
        let mut tpm = Tpm::new();
        tpm.aik = aik_from(test);
        let error = tpm.verify(&verifier()).unwrap_err();
        assert_eq!(error.code(), "attestation_invalid", "{test}");
        assert!(
            error.to_string().contains("tpm_test_manufacturers"),
            "{test}: {error}"
        );
        let verified = tpm.verify(&loose).unwrap();
        assert_eq!(
            verified.attestation_type(),
            AttestationType::Basic,
            "{test}"
        );
    }
    // Registered vendors still pass with the option; unknown IDs still fail.
    let mut tpm = Tpm::new();
    tpm.aik = aik_from("id:49465800");
    assert!(tpm.verify(&loose).is_ok());
    for unknown in ["id:12345678", "id:FFFFF1D1", "FFFFF1D0"] {
        let mut tpm = Tpm::new();
        tpm.aik = aik_from(unknown);
        let error = tpm.verify(&loose).unwrap_err();
        assert_eq!(error.code(), "attestation_invalid", "{unknown}");
        assert!(
            error.to_string().contains("TCG vendor") && !error.to_string().contains("test TPM"),
            "{unknown}: {error}"
        );
    }
}
