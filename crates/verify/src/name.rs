//! Distinguished names compared as RFC 5280 §7.1 says: attribute values encoded as
//! PrintableString or UTF8String are compared after the LDAP string preparation of
//! RFC 4518 (caseIgnoreMatch, insignificant spaces), everything else byte for byte.
//!
//! Name matching only decides which certificate may have issued which: the signature is
//! still checked. A looser match can therefore never admit a certificate that the issuer
//! did not sign; a stricter one only fails closed. Where this preparation is narrower than
//! RFC 4518 (no table of unassigned code points, Unicode lowercase instead of the full
//! case folding of RFC 3454 table B.2), two names it cannot prepare compare as DER bytes.

use der::asn1::Any;
use der::{Tag, Tagged as _};
use unicode_normalization::UnicodeNormalization as _;
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::name::{Name, RelativeDistinguishedName};

/// Whether `a` and `b` name the same entity (RFC 5280 §7.1): the same number of RDNs,
/// pairwise matching, each RDN a set of attributes matched one to one.
pub(crate) fn names_match(a: &Name, b: &Name) -> bool {
    if a == b {
        return true;
    }
    a.len() == b.len()
        && a.iter_rdn()
            .zip(b.iter_rdn())
            .all(|(x, y)| rdns_match(x, y))
}

/// A multi-valued RDN is a SET: every attribute of `a` matches a distinct one of `b`.
fn rdns_match(a: &RelativeDistinguishedName, b: &RelativeDistinguishedName) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut used = vec![false; b.len()];
    a.iter().all(|x| {
        let found = b
            .iter()
            .zip(used.iter_mut())
            .find(|(y, used)| !**used && attributes_match(x, y));
        found.map(|(_, used)| *used = true).is_some()
    })
}

fn attributes_match(a: &AttributeTypeAndValue, b: &AttributeTypeAndValue) -> bool {
    a.oid == b.oid
        && (a.value == b.value || prepared(&a.value).is_some_and(|p| Some(p) == prepared(&b.value)))
}

/// The RFC 4518 preparation of a PrintableString or UTF8String value; `None` for other
/// string types and for values holding what §2.4 prohibits (compared as bytes then).
fn prepared(value: &Any) -> Option<String> {
    if !matches!(value.tag(), Tag::PrintableString | Tag::Utf8String) {
        return None;
    }
    let text = std::str::from_utf8(value.value()).ok()?;
    prepare(text)
}

/// RFC 4518 §2.2 Map (with caseIgnoreMatch's case folding), §2.3 Normalize (NFKC),
/// §2.4 Prohibit, §2.6.1 Insignificant Space Handling: no leading or trailing space,
/// inner runs of spaces count as one.
pub(crate) fn prepare(text: &str) -> Option<String> {
    let mapped: String = text
        .chars()
        .filter(|c| !mapped_to_nothing(*c))
        .map(|c| if mapped_to_space(c) { ' ' } else { c })
        .flat_map(char::to_lowercase)
        .collect();
    let normalized: String = mapped.nfkc().collect();
    if normalized.chars().any(prohibited) {
        return None;
    }
    Some(
        normalized
            .split(' ')
            .filter(|word| !word.is_empty())
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// §2.2: soft hyphens, joiners, variation selectors, the object replacement character,
/// zero width space, and every other control (Cc) or format (Cf) code point.
fn mapped_to_nothing(c: char) -> bool {
    matches!(c,
        '\u{0000}'..='\u{0008}' | '\u{000E}'..='\u{001F}' | '\u{007F}'..='\u{0084}'
        | '\u{0086}'..='\u{009F}' | '\u{00AD}' | '\u{034F}' | '\u{0600}'..='\u{0605}'
        | '\u{061C}' | '\u{06DD}' | '\u{070F}' | '\u{0890}'..='\u{0891}' | '\u{08E2}'
        | '\u{1806}' | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206F}'
        | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFC}'
        | '\u{110BD}' | '\u{110CD}' | '\u{13430}'..='\u{1343F}' | '\u{1BCA0}'..='\u{1BCA3}'
        | '\u{1D173}'..='\u{1D17A}' | '\u{E0001}' | '\u{E0020}'..='\u{E007F}')
}

/// §2.2: tab, line feed, line tabulation, form feed, carriage return, next line, and the
/// separators (Zs, Zl, Zp) become SPACE.
fn mapped_to_space(c: char) -> bool {
    matches!(c,
        '\u{0009}'..='\u{000D}' | '\u{0085}' | ' ' | '\u{00A0}' | '\u{1680}'
        | '\u{2000}'..='\u{200A}' | '\u{2028}' | '\u{2029}' | '\u{202F}' | '\u{205F}'
        | '\u{3000}')
}

/// §2.4: private use, non-characters and the replacement character.
fn prohibited(c: char) -> bool {
    let code = u32::from(c);
    matches!(c, '\u{E000}'..='\u{F8FF}' | '\u{FDD0}'..='\u{FDEF}' | '\u{FFFD}')
        || code >= 0xF_0000
        || code & 0xFFFE == 0xFFFE
}

#[cfg(test)]
mod tests {
    use super::prepare;

    #[test]
    fn preparation_folds_case_spaces_and_compatibility_forms() {
        assert_eq!(
            prepare("  Latchkey   Test\tCA "),
            Some("latchkey test ca".into())
        );
        assert_eq!(prepare("LATCH\u{00AD}KEY"), Some("latchkey".into()));
        assert_eq!(prepare("\u{FF2C}atchkey"), Some("latchkey".into()));
        assert_eq!(prepare("Cafe\u{0301}"), prepare("caf\u{00E9}"));
        assert_eq!(prepare("   "), Some(String::new()));
    }

    #[test]
    fn prohibited_code_points_leave_the_value_unprepared() {
        for text in ["\u{E000}CA", "CA\u{FFFD}", "CA\u{FFFF}", "\u{F0000}"] {
            assert_eq!(prepare(text), None, "{text:?}");
        }
    }
}
