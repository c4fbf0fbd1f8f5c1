//! Our own passive replies to Official Account pushes (`wechat.official_account.replies`):
//! a greeting on a plain follow, keyword rules and a default for text messages.
//!
//! Pure: it picks the text; the callback handler wraps it in reply XML (and seals it in safe
//! mode). Depends only on `config::model`.

mod matching;

use crate::config::model::Replies;

use matching::keyword_matches;

/// What arrived, as far as replies care.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Incoming<'a> {
    /// A text message, with its content as sent.
    Text(&'a str),
    /// A follow that is not a login scan: no scene, or the scene of one of the account's own
    /// channel codes.
    PlainSubscribe,
    /// Anything else: menu clicks, unfollows, scans by followers, images, locations...
    Other,
}

/// The text to reply with, or `None` for no reply of ours.
///
/// - `Text`: the first keyword rule (in config order) that matches the trimmed message,
///   else `default`;
/// - `PlainSubscribe`: `subscribe`;
/// - `Other`: never a reply (a login scan gets its `scan_replies` text elsewhere).
pub fn reply_for<'r>(replies: &'r Replies, event: Incoming<'_>) -> Option<&'r str> {
    match event {
        Incoming::Text(text) => {
            let text = text.trim();
            replies
                .keywords
                .iter()
                .find(|rule| keyword_matches(rule.matching, &rule.keyword, text))
                .map(|rule| rule.reply.as_str())
                .or(replies.default.as_deref())
        }
        Incoming::PlainSubscribe => replies.subscribe.as_deref(),
        Incoming::Other => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::{Keyword, KeywordMatch};

    fn rule(matching: KeywordMatch, keyword: &str, reply: &str) -> Keyword {
        Keyword {
            matching,
            keyword: keyword.to_string(),
            reply: reply.to_string(),
        }
    }

    /// Greeting, two exact rules, one contains rule, a default.
    fn sample() -> Replies {
        Replies {
            subscribe: Some("欢迎关注".to_string()),
            keywords: vec![
                rule(KeywordMatch::Exact, "帮助", "help text"),
                rule(KeywordMatch::Exact, "Hours", "9 to 5"),
                rule(KeywordMatch::Contains, "价格", "see the price list"),
            ],
            default: Some("收到".to_string()),
        }
    }

    fn text(replies: &Replies, message: &str) -> Option<String> {
        reply_for(replies, Incoming::Text(message)).map(str::to_string)
    }

    #[test]
    fn an_exact_rule_needs_the_whole_message() {
        let r = sample();
        assert_eq!(text(&r, "帮助").as_deref(), Some("help text"));
        assert_eq!(text(&r, "帮助一下").as_deref(), Some("收到"));
    }

    #[test]
    fn a_contains_rule_matches_anywhere_in_the_message() {
        let r = sample();
        assert_eq!(
            text(&r, "请问价格是多少").as_deref(),
            Some("see the price list")
        );
    }

    #[test]
    fn ascii_case_is_ignored() {
        let r = sample();
        assert_eq!(text(&r, "HOURS").as_deref(), Some("9 to 5"));
        assert_eq!(text(&r, "hours").as_deref(), Some("9 to 5"));
    }

    #[test]
    fn non_ascii_case_is_not_folded() {
        // Only ASCII folds: full-width letters and accented capitals are other characters.
        let r = Replies {
            keywords: vec![rule(KeywordMatch::Exact, "é", "e-acute")],
            ..Replies::default()
        };
        assert_eq!(text(&r, "é").as_deref(), Some("e-acute"));
        assert_eq!(text(&r, "É"), None);
        assert_eq!(text(&sample(), "ＨＯＵＲＳ").as_deref(), Some("收到"));
    }

    #[test]
    fn the_message_is_trimmed_including_ideographic_spaces() {
        let r = sample();
        assert_eq!(text(&r, "  帮助\n").as_deref(), Some("help text"));
        assert_eq!(
            text(&r, "\u{3000}帮助\u{3000}").as_deref(),
            Some("help text")
        );
    }

    #[test]
    fn the_first_matching_rule_wins() {
        let r = Replies {
            keywords: vec![
                rule(KeywordMatch::Contains, "vip", "first"),
                rule(KeywordMatch::Exact, "vip", "second"),
            ],
            ..Replies::default()
        };
        assert_eq!(text(&r, "VIP").as_deref(), Some("first"));
    }

    #[test]
    fn an_unmatched_text_gets_the_default_or_nothing() {
        assert_eq!(text(&sample(), "你好").as_deref(), Some("收到"));
        let no_default = Replies {
            default: None,
            ..sample()
        };
        assert_eq!(text(&no_default, "你好"), None);
    }

    #[test]
    fn the_default_is_only_for_text() {
        let r = Replies {
            subscribe: None,
            ..sample()
        };
        assert_eq!(reply_for(&r, Incoming::Other), None);
        assert_eq!(reply_for(&r, Incoming::PlainSubscribe), None);
    }

    #[test]
    fn the_greeting_is_only_for_a_plain_follow() {
        let r = sample();
        assert_eq!(reply_for(&r, Incoming::PlainSubscribe), Some("欢迎关注"));
        assert_eq!(reply_for(&r, Incoming::Other), None);
        assert_eq!(text(&r, "subscribe").as_deref(), Some("收到"));
    }

    #[test]
    fn empty_replies_never_answer() {
        let r = Replies::default();
        for event in [
            Incoming::Text("帮助"),
            Incoming::PlainSubscribe,
            Incoming::Other,
        ] {
            assert_eq!(reply_for(&r, event), None, "{event:?}");
        }
    }
}
