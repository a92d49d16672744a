//! The flags byte of authenticator data.

use core::fmt;
use core::ops::BitOr;

/// The flags byte of authenticator data (WebAuthn §6.1).
///
/// Reserved bits (0x02, 0x20) are kept as received so that signed bytes round-trip, but
/// nothing in latchkey interprets them.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(u8);

impl Flags {
    /// UP: the user was present (bit 0).
    pub const USER_PRESENT: Self = Self(0x01);
    /// UV: the user was verified (bit 2).
    pub const USER_VERIFIED: Self = Self(0x04);
    /// BE: the credential may be backed up (bit 3). Fixed at creation.
    pub const BACKUP_ELIGIBLE: Self = Self(0x08);
    /// BS: the credential is backed up now (bit 4).
    pub const BACKED_UP: Self = Self(0x10);
    /// AT: attested credential data follows (bit 6).
    pub const ATTESTED_CREDENTIAL_DATA: Self = Self(0x40);
    /// ED: an extension map follows (bit 7).
    pub const EXTENSION_DATA: Self = Self(0x80);

    /// The named flags and their short names, in bit order.
    pub const NAMED: [(Self, &'static str); 6] = [
        (Self::USER_PRESENT, "UP"),
        (Self::USER_VERIFIED, "UV"),
        (Self::BACKUP_ELIGIBLE, "BE"),
        (Self::BACKED_UP, "BS"),
        (Self::ATTESTED_CREDENTIAL_DATA, "AT"),
        (Self::EXTENSION_DATA, "ED"),
    ];

    /// Wraps a raw flags byte, reserved bits included.
    #[must_use]
    pub const fn from_bits(bits: u8) -> Self {
        Self(bits)
    }

    /// The raw byte.
    #[must_use]
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Whether every bit of `other` is set.
    #[must_use]
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// UP.
    #[must_use]
    pub const fn user_present(self) -> bool {
        self.contains(Self::USER_PRESENT)
    }

    /// UV.
    #[must_use]
    pub const fn user_verified(self) -> bool {
        self.contains(Self::USER_VERIFIED)
    }

    /// BE.
    #[must_use]
    pub const fn backup_eligible(self) -> bool {
        self.contains(Self::BACKUP_ELIGIBLE)
    }

    /// BS.
    #[must_use]
    pub const fn backed_up(self) -> bool {
        self.contains(Self::BACKED_UP)
    }

    /// AT.
    #[must_use]
    pub const fn attested_credential_data(self) -> bool {
        self.contains(Self::ATTESTED_CREDENTIAL_DATA)
    }

    /// ED.
    #[must_use]
    pub const fn extension_data(self) -> bool {
        self.contains(Self::EXTENSION_DATA)
    }

    /// These flags with `other`'s bits cleared.
    #[must_use]
    pub const fn without(self, other: Self) -> Self {
        Self(self.0 & !other.0)
    }
}

impl BitOr for Flags {
    type Output = Self;

    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

/// `UP|UV|BE` style, reserved bits shown as hex.
impl fmt::Debug for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (flag, name) in Self::NAMED {
            if self.contains(flag) {
                f.write_str(if first { "" } else { "|" })?;
                f.write_str(name)?;
                first = false;
            }
        }
        let reserved = self.0 & 0x22;
        if reserved != 0 {
            write!(f, "{}RFU({reserved:#04x})", if first { "" } else { "|" })?;
        } else if first {
            f.write_str("(none)")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_every_flag_and_keeps_reserved_bits() {
        let flags = Flags::from_bits(0x5d); // UP UV BE BS AT
        assert!(flags.user_present() && flags.user_verified());
        assert!(flags.backup_eligible() && flags.backed_up());
        assert!(flags.attested_credential_data() && !flags.extension_data());
        assert_eq!(format!("{flags:?}"), "UP|UV|BE|BS|AT");
        assert_eq!(format!("{:?}", Flags::from_bits(0x23)), "UP|RFU(0x22)");
        assert_eq!(format!("{:?}", Flags::default()), "(none)");
        assert_eq!(Flags::from_bits(0x22).bits(), 0x22);
    }

    #[test]
    fn combines_and_clears() {
        let flags = Flags::USER_PRESENT | Flags::EXTENSION_DATA;
        assert_eq!(flags.bits(), 0x81);
        assert_eq!(flags.without(Flags::EXTENSION_DATA), Flags::USER_PRESENT);
    }
}
