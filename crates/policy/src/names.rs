//! Passkey names (P6): labels only, validated, unique within a scope.

use unicode_normalization::UnicodeNormalization as _;

use crate::error::PolicyError;

/// Longest name, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// The name when the AAGUID is unknown or zero.
pub const DEFAULT_NAME: &str = "Passkey";

/// Whether `name` is acceptable as a passkey name (P6): 1 to [`MAX_NAME_CHARS`]
/// characters after trimming, no control characters and no format characters (Unicode
/// category Cf: bidi overrides and isolates, zero-width characters, the BOM...).
#[must_use]
pub fn is_valid_name(name: &str) -> bool {
    validate(name).is_ok()
}

/// Trims, normalises (NFC) and validates a name chosen by the user. In NFC, names that
/// render alike because one spells `é` as `e` + U+0301 are the same string, so the
/// second is numbered like any taken name.
pub(crate) fn validate(name: &str) -> Result<String, PolicyError> {
    let normalized: String = name.trim().nfc().collect();
    let chars = normalized.chars().count();
    if chars == 0
        || chars > MAX_NAME_CHARS
        || normalized.chars().any(|c| c.is_control() || is_format(c))
    {
        return Err(PolicyError::InvalidName);
    }
    Ok(normalized)
}

/// Unicode general category Cf (Unicode 15): characters that are invisible or change the
/// direction of the text around them, so a name could look like another (P6).
pub(crate) fn is_format(c: char) -> bool {
    matches!(
        u32::from(c),
        0xAD | 0x600..=0x605
            | 0x61C
            | 0x6DD
            | 0x70F
            | 0x890..=0x891
            | 0x8E2
            | 0x180E
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x2064
            | 0x2066..=0x206F
            | 0xFEFF
            | 0xFFF9..=0xFFFB
            | 0x110BD
            | 0x110CD
            | 0x13430..=0x1343F
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0001
            | 0xE0020..=0xE007F
    )
}

/// `base`, or `base 2`, `base 3`... whichever is not in `taken`, never longer than
/// [`MAX_NAME_CHARS`]: the number takes the place of the end of a long base.
pub(crate) fn unique<'a>(base: &str, taken: impl Iterator<Item = &'a str> + Clone) -> String {
    if !taken.clone().any(|t| t == base) {
        return base.to_owned();
    }
    (2_usize..)
        .map(|n| numbered(base, n))
        .find(|candidate| !taken.clone().any(|t| t == candidate))
        .unwrap_or_else(|| base.to_owned())
}

/// `base n`, with `base` cut (and its end trimmed) so that the whole fits.
fn numbered(base: &str, n: usize) -> String {
    let suffix = format!(" {n}");
    let room = MAX_NAME_CHARS.saturating_sub(suffix.chars().count());
    let cut: String = base.chars().take(room).collect();
    format!("{}{suffix}", cut.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(validate("  Blue key \t"), Ok("Blue key".to_owned()));
        assert_eq!(validate(&"é".repeat(64)), Ok("é".repeat(64)));
        for bad in [
            "",
            "   ",
            &"x".repeat(65),
            "tab\tinside",
            "new\nline",
            "nul\u{0}",
            "evil\u{202E}gpj.exe",
            "iso\u{2067}late",
            "zero\u{200B}width",
            "\u{FEFF}bom",
            "soft\u{AD}hyphen",
            "tag\u{E0041}",
            "\u{200D}",
        ] {
            assert_eq!(validate(bad), Err(PolicyError::InvalidName), "{bad:?}");
        }
    }

    #[test]
    fn taken_names_get_a_number() {
        let taken = ["Passkey", "Passkey 2", "iCloud Keychain"];
        assert_eq!(unique("Passkey", taken.iter().copied()), "Passkey 3");
        assert_eq!(
            unique("iCloud Keychain", taken.iter().copied()),
            "iCloud Keychain 2"
        );
        assert_eq!(unique("YubiKey", taken.iter().copied()), "YubiKey");
    }

    #[test]
    fn a_numbered_name_stays_within_the_limit() {
        let long = "k".repeat(MAX_NAME_CHARS);
        let taken = [long.as_str()];
        let second = unique(&long, taken.iter().copied());
        assert_eq!(second.chars().count(), MAX_NAME_CHARS);
        assert!(second.ends_with("k 2"));
        // A cut that ends in a space does not leave two.
        let spaced = format!("{} x", "k".repeat(MAX_NAME_CHARS - 2));
        let taken = [spaced.as_str()];
        assert_eq!(
            unique(&spaced, taken.iter().copied()),
            format!("{} 2", "k".repeat(MAX_NAME_CHARS - 2))
        );
    }

    #[test]
    fn names_are_stored_in_nfc() {
        assert_eq!(validate("Cafe\u{301}"), Ok("Caf\u{e9}".to_owned()));
        // 64 decomposed letters are 128 chars before NFC and 64 after.
        assert!(validate(&"e\u{301}".repeat(MAX_NAME_CHARS)).is_ok());
    }
}
