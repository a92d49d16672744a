//! COSE algorithm and curve identifiers (IANA "COSE Algorithms" and "COSE Elliptic Curves").

/// The family of key a COSE algorithm uses (`kty`, RFC 9052 §7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyType {
    /// Octet key pair (`kty` 1): EdDSA keys.
    Okp,
    /// Elliptic curve with x and y (`kty` 2): ECDSA keys.
    Ec2,
    /// RSA (`kty` 3, RFC 8230).
    Rsa,
    /// Algorithm key pair (`kty` 7, draft-ietf-cose-dilithium): ML-DSA keys.
    Akp,
}

impl KeyType {
    /// Maps a COSE `kty` value.
    #[must_use]
    pub fn from_cose(kty: i64) -> Option<Self> {
        Some(match kty {
            1 => Self::Okp,
            2 => Self::Ec2,
            3 => Self::Rsa,
            7 => Self::Akp,
            _ => return None,
        })
    }

    /// The COSE `kty` value.
    #[must_use]
    pub fn cose(self) -> i64 {
        match self {
            Self::Okp => 1,
            Self::Ec2 => 2,
            Self::Rsa => 3,
            Self::Akp => 7,
        }
    }

    /// The registry name (`OKP`, `EC2`, `RSA`, `AKP`).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Okp => "OKP",
            Self::Ec2 => "EC2",
            Self::Rsa => "RSA",
            Self::Akp => "AKP",
        }
    }
}

/// A COSE curve (`crv`) that WebAuthn signature keys use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Curve {
    /// NIST P-256 (`crv` 1).
    P256,
    /// NIST P-384 (`crv` 2).
    P384,
    /// NIST P-521 (`crv` 3).
    P521,
    /// Ed25519 (`crv` 6).
    Ed25519,
    /// Ed448 (`crv` 7).
    Ed448,
}

impl Curve {
    /// Maps a COSE `crv` value. Key-agreement curves (X25519, X448) and curves WebAuthn
    /// does not use map to `None`.
    #[must_use]
    pub fn from_cose(crv: i64) -> Option<Self> {
        Some(match crv {
            1 => Self::P256,
            2 => Self::P384,
            3 => Self::P521,
            6 => Self::Ed25519,
            7 => Self::Ed448,
            _ => return None,
        })
    }

    /// The COSE `crv` value.
    #[must_use]
    pub fn cose(self) -> i64 {
        match self {
            Self::P256 => 1,
            Self::P384 => 2,
            Self::P521 => 3,
            Self::Ed25519 => 6,
            Self::Ed448 => 7,
        }
    }

    /// The registry name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::P256 => "P-256",
            Self::P384 => "P-384",
            Self::P521 => "P-521",
            Self::Ed25519 => "Ed25519",
            Self::Ed448 => "Ed448",
        }
    }

    /// Length of one coordinate (EC2) or of the public key (OKP), in bytes.
    #[must_use]
    pub fn coordinate_len(self) -> usize {
        match self {
            Self::P256 | Self::Ed25519 => 32,
            Self::P384 => 48,
            Self::Ed448 => 57,
            Self::P521 => 66,
        }
    }
}

/// A COSE signature algorithm that a WebAuthn credential key can carry.
///
/// Knowing an algorithm here means latchkey can parse its keys; which ones a relying
/// party accepts is decided in `latchkey-verify` (RS1, for instance, only behind a named
/// legacy option).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// ECDSA with SHA-256 (-7); P-256 in WebAuthn (§5.8.5).
    Es256,
    /// ECDSA with SHA-384 (-35); P-384.
    Es384,
    /// ECDSA with SHA-512 (-36); P-521.
    Es512,
    /// ECDSA P-256 with SHA-256, fully specified (-9, RFC 9864).
    Esp256,
    /// ECDSA P-384 with SHA-384, fully specified (-51, RFC 9864).
    Esp384,
    /// ECDSA P-521 with SHA-512, fully specified (-52, RFC 9864).
    Esp512,
    /// EdDSA (-8); Ed25519 in WebAuthn (§5.8.5).
    EdDsa,
    /// Ed25519, fully specified (-19, RFC 9864).
    Ed25519,
    /// Ed448, fully specified (-53, RFC 9864).
    Ed448,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (-257).
    Rs256,
    /// RSASSA-PKCS1-v1_5 with SHA-384 (-258).
    Rs384,
    /// RSASSA-PKCS1-v1_5 with SHA-512 (-259).
    Rs512,
    /// RSASSA-PKCS1-v1_5 with SHA-1 (-65535): legacy, TPM and old Windows Hello.
    Rs1,
    /// RSASSA-PSS with SHA-256 (-37).
    Ps256,
    /// RSASSA-PSS with SHA-384 (-38).
    Ps384,
    /// RSASSA-PSS with SHA-512 (-39).
    Ps512,
    /// ML-DSA-44 (-48, FIPS 204).
    MlDsa44,
    /// ML-DSA-65 (-49, FIPS 204).
    MlDsa65,
    /// ML-DSA-87 (-50, FIPS 204).
    MlDsa87,
}

impl Algorithm {
    /// Every algorithm, for tables and tests.
    pub const ALL: [Self; 19] = [
        Self::Es256,
        Self::Es384,
        Self::Es512,
        Self::Esp256,
        Self::Esp384,
        Self::Esp512,
        Self::EdDsa,
        Self::Ed25519,
        Self::Ed448,
        Self::Rs256,
        Self::Rs384,
        Self::Rs512,
        Self::Rs1,
        Self::Ps256,
        Self::Ps384,
        Self::Ps512,
        Self::MlDsa44,
        Self::MlDsa65,
        Self::MlDsa87,
    ];

    /// Maps a COSE algorithm identifier.
    #[must_use]
    pub fn from_cose(alg: i64) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.cose() == alg)
    }

    /// The COSE algorithm identifier.
    #[must_use]
    pub fn cose(self) -> i64 {
        match self {
            Self::Es256 => -7,
            Self::Es384 => -35,
            Self::Es512 => -36,
            Self::Esp256 => -9,
            Self::Esp384 => -51,
            Self::Esp512 => -52,
            Self::EdDsa => -8,
            Self::Ed25519 => -19,
            Self::Ed448 => -53,
            Self::Rs256 => -257,
            Self::Rs384 => -258,
            Self::Rs512 => -259,
            Self::Rs1 => -65535,
            Self::Ps256 => -37,
            Self::Ps384 => -38,
            Self::Ps512 => -39,
            Self::MlDsa44 => -48,
            Self::MlDsa65 => -49,
            Self::MlDsa87 => -50,
        }
    }

    /// The registry name (`ES256`, `EdDSA`, `ML-DSA-44`...).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::Es384 => "ES384",
            Self::Es512 => "ES512",
            Self::Esp256 => "ESP256",
            Self::Esp384 => "ESP384",
            Self::Esp512 => "ESP512",
            Self::EdDsa => "EdDSA",
            Self::Ed25519 => "Ed25519",
            Self::Ed448 => "Ed448",
            Self::Rs256 => "RS256",
            Self::Rs384 => "RS384",
            Self::Rs512 => "RS512",
            Self::Rs1 => "RS1",
            Self::Ps256 => "PS256",
            Self::Ps384 => "PS384",
            Self::Ps512 => "PS512",
            Self::MlDsa44 => "ML-DSA-44",
            Self::MlDsa65 => "ML-DSA-65",
            Self::MlDsa87 => "ML-DSA-87",
        }
    }

    /// The key type this algorithm signs with.
    #[must_use]
    pub fn key_type(self) -> KeyType {
        match self {
            Self::Es256 | Self::Es384 | Self::Es512 => KeyType::Ec2,
            Self::Esp256 | Self::Esp384 | Self::Esp512 => KeyType::Ec2,
            Self::EdDsa | Self::Ed25519 | Self::Ed448 => KeyType::Okp,
            Self::Rs256 | Self::Rs384 | Self::Rs512 | Self::Rs1 => KeyType::Rsa,
            Self::Ps256 | Self::Ps384 | Self::Ps512 => KeyType::Rsa,
            Self::MlDsa44 | Self::MlDsa65 | Self::MlDsa87 => KeyType::Akp,
        }
    }

    /// Whether `curve` may carry this algorithm. WebAuthn §5.8.5 binds ES256 to P-256,
    /// ES384 to P-384, ES512 to P-521 and EdDSA (-8) to Ed25519; Ed448 keys use the fully
    /// specified Ed448 (-53).
    #[must_use]
    pub fn allows_curve(self, curve: Curve) -> bool {
        matches!(
            (self, curve),
            (Self::Es256 | Self::Esp256, Curve::P256)
                | (Self::Es384 | Self::Esp384, Curve::P384)
                | (Self::Es512 | Self::Esp512, Curve::P521)
                | (Self::EdDsa | Self::Ed25519, Curve::Ed25519)
                | (Self::Ed448, Curve::Ed448)
        )
    }

    /// Length of an ML-DSA public key for this parameter set (FIPS 204 Table 2).
    #[must_use]
    pub fn ml_dsa_public_key_len(self) -> Option<usize> {
        match self {
            Self::MlDsa44 => Some(1312),
            Self::MlDsa65 => Some(1952),
            Self::MlDsa87 => Some(2592),
            _ => None,
        }
    }
}
