//! Passkey names (P6): labels only, validated, unique within a scope.

use crate::error::PolicyError;

/// Longest name, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// The name when the AAGUID is unknown or zero.
pub const DEFAULT_NAME: &str = "Passkey";

/// Whether `name` is acceptable as a passkey name (P6): 1 to [`MAX_NAME_CHARS`]
/// characters after trimming, no control characters.
#[must_use]
pub fn is_valid_name(name: &str) -> bool {
    validate(name).is_ok()
}

/// Trims and validates a name chosen by the user.
pub(crate) fn validate(name: &str) -> Result<String, PolicyError> {
    let trimmed = name.trim();
    let chars = trimmed.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS || trimmed.chars().any(char::is_control) {
        return Err(PolicyError::InvalidName);
    }
    Ok(trimmed.to_owned())
}

/// `base`, or `base 2`, `base 3`... whichever is not in `taken`.
pub(crate) fn unique<'a>(base: &str, taken: impl Iterator<Item = &'a str> + Clone) -> String {
    if !taken.clone().any(|t| t == base) {
        return base.to_owned();
    }
    (2..)
        .map(|n| format!("{base} {n}"))
        .find(|candidate| !taken.clone().any(|t| t == candidate))
        .unwrap_or_else(|| base.to_owned())
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
}
