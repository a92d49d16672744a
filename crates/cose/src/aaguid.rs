//! The authenticator's model identifier.

use core::fmt;
use core::str::FromStr;

/// An Authenticator Attestation GUID (WebAuthn §6.5.1): 16 bytes naming the authenticator
/// model, shown as a UUID (`ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4`).
///
/// The all-zero AAGUID means "not provided" (U2F authenticators, privacy-preserving
/// platforms).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Aaguid([u8; 16]);

impl Aaguid {
    /// The all-zero AAGUID.
    pub const ZERO: Self = Self([0; 16]);

    /// Wraps 16 bytes.
    #[must_use]
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// The 16 bytes.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// Whether this is the all-zero AAGUID.
    #[must_use]
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 16]
    }
}

impl fmt::Display for Aaguid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, byte) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Aaguid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Aaguid({self})")
    }
}

/// An AAGUID string that is not a UUID.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a UUID (expected 32 hex digits, optionally hyphenated 8-4-4-4-12)")]
pub struct ParseAaguidError;

impl FromStr for Aaguid {
    type Err = ParseAaguidError;

    /// Accepts the hyphenated form `8-4-4-4-12` or 32 bare hex digits, either case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hyphenated = s.len() == 36;
        let mut digits = Vec::with_capacity(32);
        for (i, c) in s.char_indices() {
            if hyphenated && matches!(i, 8 | 13 | 18 | 23) {
                if c != '-' {
                    return Err(ParseAaguidError);
                }
                continue;
            }
            let digit = c.to_digit(16).ok_or(ParseAaguidError)?;
            digits.push(u8::try_from(digit).map_err(|_| ParseAaguidError)?);
        }
        let mut bytes = [0u8; 16];
        if digits.len() != 32 {
            return Err(ParseAaguidError);
        }
        for (byte, pair) in bytes.iter_mut().zip(digits.chunks_exact(2)) {
            if let [high, low] = pair {
                *byte = (high << 4) | low;
            }
        }
        Ok(Self(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const YUBIKEY_5: &str = "ee882879-721c-4913-9775-3dfcce97072a";

    #[test]
    fn displays_as_hyphenated_lowercase_uuid() -> Result<(), ParseAaguidError> {
        let aaguid: Aaguid = YUBIKEY_5.parse()?;
        assert_eq!(aaguid.to_string(), YUBIKEY_5);
        assert_eq!(aaguid.as_bytes()[0], 0xee);
        assert_eq!(format!("{aaguid:?}"), format!("Aaguid({YUBIKEY_5})"));
        Ok(())
    }

    #[test]
    fn parses_bare_hex_and_upper_case() -> Result<(), ParseAaguidError> {
        let bare: Aaguid = "EE882879721C491397753DFCCE97072A".parse()?;
        assert_eq!(bare.to_string(), YUBIKEY_5);
        Ok(())
    }

    #[test]
    fn rejects_near_misses() {
        for bad in [
            "",
            "ee882879-721c-4913-9775-3dfcce97072", // one digit short
            "ee882879-721c-4913-9775-3dfcce97072a0", // one digit long
            "ee882879_721c_4913_9775_3dfcce97072a", // wrong separator
            "ee88287-9721c-4913-9775-3dfcce97072a", // hyphen misplaced
            "gg882879-721c-4913-9775-3dfcce97072a", // not hex
            "ee882879-721c-4913-9775-3dfcce97072\u{e9}", // non-ASCII
        ] {
            assert_eq!(bad.parse::<Aaguid>(), Err(ParseAaguidError), "{bad:?}");
        }
    }

    #[test]
    fn zero_is_zero() {
        assert!(Aaguid::ZERO.is_zero());
        assert_eq!(
            Aaguid::ZERO.to_string(),
            "00000000-0000-0000-0000-000000000000"
        );
        assert!(!Aaguid::from_bytes([1; 16]).is_zero());
    }
}
