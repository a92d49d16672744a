//! Passkey names (P6): labels only, validated, unique within a scope.

use unicode_normalization::UnicodeNormalization as _;

use crate::error::PolicyError;

/// Longest name, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// The name when the AAGUID is unknown or zero.
pub const DEFAULT_NAME: &str = "Passkey";

/// Whether `name` is acceptable as a passkey name (P6): 1 to [`MAX_NAME_CHARS`]
/// characters after trimming, and nothing that lets one name imitate another unseen: no
/// control characters, no format characters (Unicode category Cf: bidi overrides and
/// isolates, zero-width characters, the BOM...), no other default-ignorable character
/// (the combining grapheme joiner U+034F, the Hangul fillers U+115F, U+1160, U+3164,
/// U+FFA0, the Khmer inherent vowels, the Mongolian variation selectors...), no blank
/// that is not a space (the Braille blank U+2800, the musical null notehead U+1D159), and
/// no whitespace but U+0020 (the no-break spaces, U+2000-U+200A, U+3000, the line and paragraph separators...).
///
/// A variation selector (U+FE00-U+FE0F, U+E0100-U+E01EF), which emoji need, is taken
/// once, directly after a visible symbol that is not ASCII (`"\u{2764}\u{FE0F}"`), in a
/// keycap (`"1\u{FE0F}\u{20E3}"`), and (U+E0100-U+E01EF) after a CJK ideograph; at the
/// start, after any other letter, a digit, a combining mark, an ASCII character or
/// another selector it is refused.
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
    if chars == 0 || chars > MAX_NAME_CHARS || !all_visible(&normalized) {
        return Err(PolicyError::InvalidName);
    }
    Ok(normalized)
}

/// P6: every character is visible or a plain space, and every variation selector is
/// where an emoji takes one (see [`is_valid_name`]).
fn all_visible(name: &str) -> bool {
    let mut previous: Option<char> = None;
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        let fine = if is_variation_selector(c) {
            previous.is_some_and(|p| {
                takes_variation_selector(p, c)
                    || (matches!(p, '0'..='9' | '#' | '*')
                        && c == '\u{FE0F}'
                        && chars.peek() == Some(&'\u{20E3}'))
            })
        } else {
            !is_hidden(c)
        };
        if !fine {
            return false;
        }
        previous = Some(c);
    }
    true
}

/// Whether the variation selector `selector` may follow `c`: U+FE00-U+FE0F a visible
/// symbol outside ASCII (emoji are symbols), U+E0100-U+E01EF a CJK ideograph (the
/// ideographic variation sequences). After a letter, a digit or a combining mark a
/// selector renders as nothing, so `"Laptoṕ\u{FE0F}"` would read as `"Laptoṕ"`.
fn takes_variation_selector(c: char, selector: char) -> bool {
    if u32::from(selector) >= 0xE0100 {
        return is_ideograph(c);
    }
    !c.is_ascii()
        && !c.is_alphanumeric()
        && !is_hidden(c)
        && !is_variation_selector(c)
        && !unicode_normalization::char::is_combining_mark(c)
}

/// CJK unified and compatibility ideographs, the bases of ideographic variation sequences.
fn is_ideograph(c: char) -> bool {
    matches!(
        u32::from(c),
        0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x3134F
    )
}

/// The variation selectors emoji and ideographs take: U+FE00-U+FE0F, U+E0100-U+E01EF.
pub(crate) fn is_variation_selector(c: char) -> bool {
    matches!(u32::from(c), 0xFE00..=0xFE0F | 0xE0100..=0xE01EF)
}

/// Characters a name never holds (P6): control, format (Cf), the other
/// default-ignorable code points (variation selectors are judged apart), blanks that
/// are not a space, and every whitespace but U+0020.
pub(crate) fn is_hidden(c: char) -> bool {
    c.is_control()
        || is_format(c)
        || (c.is_whitespace() && c != ' ')
        || (is_default_ignorable(c) && !is_variation_selector(c))
        // Assigned, not ignorable, and still drawn as nothing: the Braille blank and the
        // musical null notehead.
        || matches!(c, '\u{2800}' | '\u{1D159}')
}

/// Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties, Unicode 15): what a
/// renderer shows nothing for when it has no glyph, assigned or not.
fn is_default_ignorable(c: char) -> bool {
    matches!(
        u32::from(c),
        0xAD | 0x34F
            | 0x61C
            | 0x115F..=0x1160
            | 0x17B4..=0x17B5
            | 0x180B..=0x180F
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x206F
            | 0x3164
            | 0xFE00..=0xFE0F
            | 0xFEFF
            | 0xFFA0
            | 0xFFF0..=0xFFF8
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0000..=0xE0FFF
    )
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

    /// P6: one hostile name per class of invisible character outside Cf, each of which
    /// would let a name read as "Laptop" or "Lap top".
    #[test]
    fn hostile_names_that_imitate_others_are_refused() {
        let hostile = [
            ("combining grapheme joiner U+034F", "Laptop\u{34F}"),
            ("Hangul choseong filler U+115F", "Lap\u{115F}top"),
            ("Hangul jungseong filler U+1160", "Lap\u{1160}top"),
            ("Hangul filler U+3164", "Laptop\u{3164}"),
            ("halfwidth Hangul filler U+FFA0", "Lap\u{FFA0}top"),
            ("Khmer inherent vowel U+17B4", "Lap\u{17B4}top"),
            ("Mongolian variation selector U+180B", "Lap\u{180B}top"),
            ("unassigned default-ignorable U+2065", "Lap\u{2065}top"),
            ("unassigned tag-plane U+E0080", "Lap\u{E0080}top"),
            ("Braille blank U+2800", "Laptop\u{2800}"),
            ("line separator U+2028 (Zl)", "Lap\u{2028}top"),
            ("paragraph separator U+2029 (Zp)", "Lap\u{2029}top"),
            ("no-break space U+00A0", "Lap\u{A0}top"),
            ("en quad U+2000", "Lap\u{2000}top"),
            ("hair space U+200A", "Lap\u{200A}top"),
            ("narrow no-break space U+202F", "Lap\u{202F}top"),
            ("medium mathematical space U+205F", "Lap\u{205F}top"),
            ("ideographic space U+3000", "Lap\u{3000}top"),
            ("ogham space mark U+1680", "Lap\u{1680}top"),
            ("next line U+0085", "Lap\u{85}top"),
            ("variation selector after an ASCII letter", "Laptop\u{FE0F}"),
            ("variation selector after an ASCII digit", "Key 1\u{FE0E}"),
            ("variation selector after a space", "Lap \u{FE0F}top"),
            ("variation selector at the start", "\u{FE0F}Laptop"),
            (
                "ideographic variation selector after ASCII",
                "Laptop\u{E0100}",
            ),
            ("doubled variation selector", "Key \u{2764}\u{FE0F}\u{FE0F}"),
            (
                "variation selector after a hidden character",
                "Key\u{3164}\u{FE0F}",
            ),
            ("keycap selector without its keycap", "Key 1\u{FE0F}x"),
            ("keycap selector on a letter", "Key a\u{FE0F}\u{20E3}"),
        ];
        for (class, name) in hostile {
            assert_eq!(validate(name), Err(PolicyError::InvalidName), "{class}");
        }
    }

    #[test]
    fn emoji_keep_their_variation_selectors_and_plain_spaces_stay() {
        for name in [
            "Heart \u{2764}\u{FE0F}",
            "Smile \u{263A}\u{FE0E}",
            "\u{845B}\u{E0100} key",
            "Key 1\u{FE0F}\u{20E3}",
            "Caf\u{E9} key",
            "Lap top",
        ] {
            assert_eq!(validate(name), Ok(name.to_owned()), "{name:?}");
        }
    }

    proptest::proptest! {
        /// P6: a hidden character anywhere in a valid name makes it invalid.
        #[test]
        fn a_hidden_character_anywhere_is_refused(
            at in 0_usize..=6,
            hidden in proptest::sample::select(vec![
                '\u{34F}', '\u{115F}', '\u{1160}', '\u{3164}', '\u{FFA0}', '\u{2800}',
                '\u{2028}', '\u{2029}', '\u{A0}', '\u{2007}', '\u{202F}', '\u{205F}',
                '\u{3000}', '\u{200B}', '\u{FEFF}', '\u{E0020}', '\u{FE0F}', '\u{E01EF}',
            ]),
        ) {
            let mut name: Vec<char> = "Laptop".chars().collect();
            name.insert(at.min(name.len()), hidden);
            let name: String = name.into_iter().collect();
            // At either end whitespace is trimmed rather than refused: what is left is
            // the plain name, never a lookalike of it.
            match validate(&name) {
                Ok(kept) => proptest::prop_assert!(
                    kept == "Laptop" && hidden.is_whitespace(),
                    "{name:?} -> {kept:?}"
                ),
                Err(e) => proptest::prop_assert_eq!(e, PolicyError::InvalidName),
            }
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
