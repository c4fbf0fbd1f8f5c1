//! The keyword rule: ASCII letters compare case-insensitively, every other character
//! (CJK, full-width, accented) exactly.

use crate::config::model::KeywordMatch;

/// Whether `message` (already trimmed by the caller) satisfies the rule `keyword` under
/// `matching`. Allocation-free: this runs on every text message.
pub(super) fn keyword_matches(matching: KeywordMatch, keyword: &str, message: &str) -> bool {
    match matching {
        KeywordMatch::Exact => message.eq_ignore_ascii_case(keyword),
        KeywordMatch::Contains => contains_ignore_ascii_case(message, keyword),
    }
}

/// Byte-wise search is sound on UTF-8: a needle starts with a leading byte, which no
/// continuation byte equals, so a hit never starts inside a character; and ASCII folding
/// only touches bytes below 0x80, which never occur inside a multi-byte character.
fn contains_ignore_ascii_case(haystack: &str, needle: &str) -> bool {
    let (haystack, needle) = (haystack.as_bytes(), needle.as_bytes());
    if needle.is_empty() {
        return true;
    }
    haystack
        .windows(needle.len())
        .any(|window| window.eq_ignore_ascii_case(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_compares_the_whole_message() {
        assert!(keyword_matches(KeywordMatch::Exact, "help", "HeLp"));
        assert!(!keyword_matches(KeywordMatch::Exact, "help", "help me"));
        assert!(!keyword_matches(KeywordMatch::Exact, "帮助", "帮助我"));
    }

    #[test]
    fn contains_finds_the_keyword_at_any_position() {
        for message in ["Menu", "the MENU", "see menu please", "菜单menu"] {
            assert!(
                keyword_matches(KeywordMatch::Contains, "menu", message),
                "{message}"
            );
        }
        assert!(!keyword_matches(KeywordMatch::Contains, "menu", "men"));
    }

    #[test]
    fn contains_matches_cjk_exactly() {
        assert!(keyword_matches(KeywordMatch::Contains, "价格", "请问价格"));
        assert!(!keyword_matches(KeywordMatch::Contains, "价格", "请问价钱"));
    }

    #[test]
    fn a_keyword_longer_than_the_message_never_matches() {
        assert!(!keyword_matches(KeywordMatch::Contains, "价格表", "价格"));
        assert!(!keyword_matches(KeywordMatch::Exact, "价格表", "价格"));
    }

    #[test]
    fn full_width_letters_do_not_fold() {
        // "Ａ" (U+FF21) and "ａ" (U+FF41) are upper and lower case, but not ASCII.
        assert!(!keyword_matches(KeywordMatch::Contains, "ａ", "Ａ"));
        assert!(keyword_matches(KeywordMatch::Contains, "ａ", "xａx"));
    }

    #[test]
    fn an_empty_keyword_does_not_panic() {
        // Validation refuses empty keywords; a hand-built config must not crash a request.
        assert!(keyword_matches(KeywordMatch::Contains, "", "anything"));
        assert!(!keyword_matches(KeywordMatch::Exact, "", "anything"));
    }
}
