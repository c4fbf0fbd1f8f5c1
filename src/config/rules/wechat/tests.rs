use crate::config::model::{
    Keyword, KeywordMatch, OAuthScope, OfficialAccountConfig, Replies, ScanReplies, Secret,
};
use crate::config::testing::{errors, ok};

#[test]
fn api_base_is_http_and_loses_its_trailing_slash() {
    assert_eq!(
        ok("wechat: {api_base: 'http://127.0.0.1:9000/wx/'}")
            .wechat
            .api_base,
        "http://127.0.0.1:9000/wx"
    );
    assert_eq!(
        errors("wechat: {api_base: 'api.weixin.qq.com'}"),
        ["wechat.api_base: is not an http:// or https:// URL"]
    );
}

#[test]
fn open_base_defaults_to_wechats_pages_and_is_checked_like_api_base() {
    assert_eq!(ok("{}").wechat.open_base, "https://open.weixin.qq.com");
    assert_eq!(
        ok("wechat: {open_base: 'http://127.0.0.1:9001/'}")
            .wechat
            .open_base,
        "http://127.0.0.1:9001"
    );
    assert_eq!(
        errors("wechat: {open_base: 'open.weixin.qq.com', api_base: 'http://x/?a'}"),
        [
            "wechat.api_base: must not have a query or fragment",
            "wechat.open_base: is not an http:// or https:// URL",
        ]
    );
}

#[test]
fn oauth_is_off_by_default_and_takes_either_scope() {
    assert_eq!(official_account("{}").oauth, None);
    assert_eq!(
        official_account("{oauth: true}").oauth,
        Some(OAuthScope::Base)
    );
    assert_eq!(
        official_account("{oauth: true, oauth_scope: snsapi_userinfo}").oauth,
        Some(OAuthScope::UserInfo)
    );
    // The default scope may be written out with oauth off; another one would do nothing.
    assert_eq!(
        official_account("{oauth: false, oauth_scope: snsapi_base}").oauth,
        None
    );
    assert_eq!(
        oa_errors("{oauth_scope: snsapi_userinfo}"),
        ["wechat.official_account.oauth_scope: has no effect without oauth: true"]
    );
    let errors = oa_errors("{oauth: true, oauth_scope: snsapi_login}");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("wechat.official_account.oauth_scope"),
        "{errors:?}"
    );
}

#[test]
fn website_needs_its_own_app_id_and_a_secret() {
    let c = ok("wechat: {website: {app_id: wxweb, app_secret: s3cret}}");
    let site = c.wechat.website.unwrap();
    assert_eq!(site.app_id, "wxweb");
    assert_eq!(site.app_secret.expose(), "s3cret");
    assert_eq!(
        errors("wechat: {website: {}}"),
        [
            "wechat.website.app_id: is required",
            "wechat.website.app_secret: is required (or app_secret_file)",
        ]
    );
    // BASE's Official Account is wx1.
    assert_eq!(
        errors("wechat: {website: {app_id: wx1, app_secret: s3cret}}"),
        ["wechat.website.app_id: \"wx1\" is the Official Account's or the Mini Program's AppID; the website application (网站应用, on open.weixin.qq.com) has an AppID of its own"]
    );
    assert!(ok("{}").wechat.website.is_none());
}

#[test]
fn official_account_needs_app_id_secret_and_token() {
    assert_eq!(
        errors("wechat: {official_account: {app_id: null, app_secret: null, token: null}}"),
        [
            "wechat.official_account.app_id: is required",
            "wechat.official_account.app_secret: is required (or app_secret_file)",
            "wechat.official_account.token: is required (or token_file)",
        ]
    );
}

#[test]
fn official_account_token_is_3_to_32_letters_or_digits() {
    for bad in ["ab", "tok-123", "t".repeat(33).as_str()] {
        assert_eq!(
            errors(&format!("wechat: {{official_account: {{token: '{bad}'}}}}")),
            ["wechat.official_account.token: must be 3 to 32 letters or digits"],
            "{bad}"
        );
    }
}

#[test]
fn encoding_aes_key_is_43_base64_characters_of_32_bytes() {
    // Keys from wechat-protocol.md: the official sample (zero trailing bits) and the
    // sample with non-zero trailing bits that the strict base64 engine rejects.
    for good in [
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
        "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR",
    ] {
        let c = ok(&format!(
            "wechat: {{official_account: {{encoding_aes_key: {good}}}}}"
        ));
        assert!(c
            .wechat
            .official_account
            .unwrap()
            .encoding_aes_key
            .is_some());
    }
    for bad in [
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF",
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH",
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF!",
        // Base64, but not what WeChat generates: the callback codec refuses it at start.
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDE+/",
    ] {
        assert_eq!(
            errors(&format!("wechat: {{official_account: {{encoding_aes_key: '{bad}'}}}}")),
            ["wechat.official_account.encoding_aes_key: must be the 43 characters WeChat generated (base64 of a 32-byte key)"],
            "{bad}"
        );
    }
}

#[test]
fn qr_expire_seconds_is_between_a_minute_and_thirty_days() {
    assert_eq!(
        errors("wechat: {official_account: {qr_expire_seconds: 59}}"),
        ["wechat.official_account.qr_expire_seconds: must be between 60 and 2592000 seconds (30 days)"]
    );
    let c = ok("wechat: {official_account: {qr_expire_seconds: 2592000}}");
    assert_eq!(
        c.wechat.official_account.unwrap().qr_expire_seconds,
        2_592_000
    );
}

#[test]
fn forward_url_must_be_http() {
    assert_eq!(
        errors("wechat: {official_account: {forward_url: 'tcp://x'}}"),
        ["wechat.official_account.forward_url: must start with http:// or https://"]
    );
    let c = ok("wechat: {official_account: {forward_url: 'https://cms.example.com/wx?k=1', scan_reply: ''}}");
    let oa = c.wechat.official_account.unwrap();
    assert_eq!(
        (
            oa.forward_url.as_deref(),
            oa.scan_replies.confirmed.as_str()
        ),
        (Some("https://cms.example.com/wx?k=1"), "")
    );
}

#[test]
fn scan_replies_default_to_chinese_texts_and_each_can_be_silenced() {
    let oa = official_account("{}");
    assert_eq!(oa.scan_replies, ScanReplies::default());
    assert_eq!(oa.scan_replies.confirmed, "登录成功");
    assert!(oa.scan_replies.expired.contains("过期"));
    let quiet = official_account(
        "{scan_replies: {confirmed: '', need_phone: '', expired: '', used: '', blocked: ''}}",
    );
    let ScanReplies {
        confirmed,
        need_phone,
        expired,
        used,
        blocked,
    } = quiet.scan_replies;
    assert_eq!(
        [confirmed, need_phone, expired, used, blocked],
        [""; 5].map(String::from)
    );
    let custom = official_account("{scan_replies: {used: 'Someone else used this code'}}");
    assert_eq!(custom.scan_replies.used, "Someone else used this code");
    assert_eq!(custom.scan_replies.confirmed, "登录成功");
}

#[test]
fn scan_reply_is_the_older_spelling_of_scan_replies_confirmed() {
    let oa = official_account("{scan_reply: 'OK'}");
    assert_eq!(oa.scan_replies.confirmed, "OK");
    assert_eq!(
        oa_errors("{scan_reply: 'OK', scan_replies: {confirmed: 'Yes'}}"),
        ["wechat.official_account.scan_reply: and scan_replies.confirmed say the same thing: keep only scan_replies.confirmed"]
    );
}

#[test]
fn scan_replies_are_held_to_wechats_reply_limit() {
    let long = "长".repeat(700);
    assert_eq!(
        oa_errors(&format!("{{scan_replies: {{expired: '{long}', used: '   '}}}}")),
        [
            "wechat.official_account.scan_replies.expired: is 2100 bytes; WeChat allows at most 2048 bytes in a passive text reply (a Chinese character takes 3)",
            "wechat.official_account.scan_replies.used: must not be empty",
        ]
    );
}

fn official_account(snippet: &str) -> OfficialAccountConfig {
    ok(&format!("wechat: {{official_account: {snippet}}}"))
        .wechat
        .official_account
        .unwrap()
}

fn oa_errors(snippet: &str) -> Vec<String> {
    errors(&format!("wechat: {{official_account: {snippet}}}"))
}

#[test]
fn forwarding_and_replies_default_to_off() {
    let oa = official_account("{}");
    assert_eq!(
        (oa.forward_logins, oa.forward_timeout_ms, &oa.replies),
        (false, 4000, &Replies::default())
    );
}

#[test]
fn the_code_constructor_agrees_with_the_file_defaults() {
    // Destructured so that a new field cannot be left out of the comparison.
    let fields = |oa: OfficialAccountConfig| {
        let OfficialAccountConfig {
            app_id,
            app_secret,
            token,
            encoding_aes_key,
            qr_expire_seconds,
            scan_replies,
            forward_url,
            forward_logins,
            forward_timeout_ms,
            replies,
            verify_source_ip,
            oauth,
        } = oa;
        (
            (app_id, app_secret, token, encoding_aes_key),
            (qr_expire_seconds, scan_replies),
            (forward_url, forward_logins, forward_timeout_ms, replies),
            (verify_source_ip, oauth),
        )
    };
    let code = OfficialAccountConfig::new("wx1", Secret::new("s3cret"), Secret::new("tok123"));
    assert_eq!(fields(code), fields(official_account("{}")));
}

#[test]
fn verify_source_ip_is_off_unless_switched_on() {
    assert!(!official_account("{}").verify_source_ip);
    assert!(official_account("{verify_source_ip: true}").verify_source_ip);
    let errors = oa_errors("{verify_source_ip: 'yes please'}");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("wechat.official_account.verify_source_ip"),
        "{errors:?}"
    );
}

#[test]
fn forward_logins_is_read_with_a_forward_url() {
    let oa = official_account("{forward_url: 'http://127.0.0.1:7001/wx', forward_logins: true}");
    assert!(oa.forward_logins);
}

#[test]
fn forward_logins_without_forward_url_is_an_error() {
    assert_eq!(
        oa_errors("{forward_logins: true}"),
        ["wechat.official_account.forward_logins: has no effect without forward_url"]
    );
}

#[test]
fn forward_timeout_leaves_room_in_wechats_five_seconds() {
    for bad in [99, 4501] {
        assert_eq!(
            oa_errors(&format!("{{forward_timeout_ms: {bad}}}")),
            ["wechat.official_account.forward_timeout_ms: must be between 100 and 4500 milliseconds (WeChat waits 5 seconds in all)"],
            "{bad}"
        );
    }
    assert_eq!(
        official_account("{forward_timeout_ms: 4500}").forward_timeout_ms,
        4500
    );
}

#[test]
fn replies_are_read_in_file_order() {
    let oa = official_account(
        "{replies: {subscribe: 欢迎, default: 收到, keywords: [{match: exact, keyword: 帮助, reply: h}, {match: contains, keyword: Price, reply: p}]}}",
    );
    assert_eq!(
        oa.replies,
        Replies {
            subscribe: Some("欢迎".into()),
            keywords: vec![
                Keyword {
                    matching: KeywordMatch::Exact,
                    keyword: "帮助".into(),
                    reply: "h".into()
                },
                Keyword {
                    matching: KeywordMatch::Contains,
                    keyword: "Price".into(),
                    reply: "p".into()
                },
            ],
            default: Some("收到".into()),
        }
    );
}

#[test]
fn every_reply_text_must_not_be_empty() {
    assert_eq!(
        oa_errors("{replies: {subscribe: '', default: '  ', keywords: [{match: exact, keyword: a, reply: x}, {match: exact, keyword: b, reply: ''}]}}"),
        [
            "wechat.official_account.replies.subscribe: must not be empty",
            "wechat.official_account.replies.keywords[1].reply: must not be empty",
            "wechat.official_account.replies.default: must not be empty",
        ]
    );
}

#[test]
fn a_reply_is_at_most_2048_bytes_not_characters() {
    // 683 CJK characters are 2049 bytes in UTF-8.
    let long = "好".repeat(683);
    assert_eq!(
        oa_errors(&format!("{{replies: {{default: {long}}}}}")),
        ["wechat.official_account.replies.default: is 2049 bytes; WeChat allows at most 2048 bytes in a passive text reply (a Chinese character takes 3)"]
    );
    let fits = "a".repeat(2048);
    assert_eq!(
        official_account(&format!("{{replies: {{subscribe: {fits}}}}}"))
            .replies
            .subscribe
            .map(|s| s.len()),
        Some(2048)
    );
}

#[test]
fn a_keyword_entry_needs_match_keyword_and_reply() {
    assert_eq!(
        oa_errors("{replies: {keywords: [{}]}}"),
        [
            "wechat.official_account.replies.keywords[0].match: is required: exact (the whole message) or contains (anywhere in it)",
            "wechat.official_account.replies.keywords[0].keyword: is required",
            "wechat.official_account.replies.keywords[0].reply: is required",
        ]
    );
}

#[test]
fn an_unknown_match_names_the_choices() {
    assert_eq!(
        oa_errors("{replies: {keywords: [{match: regex, keyword: a, reply: b}]}}"),
        ["wechat.official_account.replies.keywords[0].match: unknown variant `regex`, expected `exact` or `contains`"]
    );
}

#[test]
fn a_keyword_must_not_be_empty() {
    assert_eq!(
        oa_errors("{replies: {keywords: [{match: contains, keyword: ' ', reply: b}]}}"),
        ["wechat.official_account.replies.keywords[0].keyword: must not be empty"]
    );
}

#[test]
fn an_exact_keyword_has_no_surrounding_spaces() {
    assert_eq!(
        oa_errors("{replies: {keywords: [{match: exact, keyword: 'help ', reply: b}]}}"),
        ["wechat.official_account.replies.keywords[0].keyword: \"help \" must not start or end with spaces: messages are trimmed before an exact match"]
    );
    // Inside a message a space is a real character to look for.
    let oa =
        official_account("{replies: {keywords: [{match: contains, keyword: ' vip', reply: b}]}}");
    assert_eq!(oa.replies.keywords[0].keyword, " vip");
}

#[test]
fn a_keyword_an_earlier_rule_always_wins_is_refused() {
    assert_eq!(
        oa_errors("{replies: {keywords: [{match: contains, keyword: Help, reply: a}, {match: exact, keyword: help me, reply: b}, {match: exact, keyword: 帮助, reply: c}, {match: exact, keyword: 帮助, reply: d}]}}"),
        [
            "wechat.official_account.replies.keywords[1].keyword: \"help me\" can never match: keywords[0] (contains \"Help\") comes first and matches every message it would",
            "wechat.official_account.replies.keywords[3].keyword: \"帮助\" can never match: keywords[2] (exact \"帮助\") comes first and matches every message it would",
        ]
    );
}

#[test]
fn an_exact_rule_before_a_contains_rule_leaves_it_reachable() {
    let oa = official_account("{replies: {keywords: [{match: exact, keyword: vip, reply: a}, {match: contains, keyword: vip, reply: b}]}}");
    assert_eq!(oa.replies.keywords.len(), 2);
}

#[test]
fn reply_problems_are_reported_with_every_other_one() {
    // A broken entry does not hide the shadowing between the entries around it.
    assert_eq!(
        oa_errors("{replies: {keywords: [{match: contains, keyword: a, reply: x}, {match: exact, keyword: b}, {match: exact, keyword: A, reply: y}]}}"),
        [
            "wechat.official_account.replies.keywords[1].reply: is required",
            "wechat.official_account.replies.keywords[2].keyword: \"A\" can never match: keywords[0] (contains \"a\") comes first and matches every message it would",
        ]
    );
}

#[test]
fn a_keyword_entry_that_is_not_a_mapping_is_one_issue() {
    assert_eq!(
        oa_errors("{replies: {keywords: [帮助, {match: exact, keyword: a, reply: b}]}}"),
        ["wechat.official_account.replies.keywords[0]: expected a mapping, found a string"]
    );
}

#[test]
fn replies_must_be_a_mapping_with_known_keys() {
    let got = oa_errors("{replies: {greeting: hi}}");
    assert_eq!(got.len(), 1, "{got:#?}");
    assert!(
        got[0].starts_with("wechat.official_account.replies.greeting: unknown key, expected one of `subscribe`, `keywords`, `default`"),
        "{got:#?}"
    );
}

#[test]
fn mini_program_needs_app_id_and_secret_and_takes_defaults() {
    assert_eq!(
        errors("wechat: {mini_program: {}}"),
        [
            "wechat.mini_program.app_id: is required",
            "wechat.mini_program.app_secret: is required (or app_secret_file)"
        ]
    );
    let mp = ok("wechat: {mini_program: {app_id: wx2, app_secret: x}}")
        .wechat
        .mini_program
        .unwrap();
    assert_eq!(
        (mp.page.as_str(), mp.env_version.as_str()),
        ("pages/login/index", "release")
    );
    let mp = ok("wechat: {mini_program: {app_id: wx2, app_secret: x, env_version: trial}}")
        .wechat
        .mini_program
        .unwrap();
    assert_eq!(mp.env_version, "trial");
}

#[test]
fn mini_program_page_has_no_leading_slash_or_query() {
    assert_eq!(
        errors("wechat: {mini_program: {app_id: wx2, app_secret: x, page: /pages/a?x=1}}"),
        ["wechat.mini_program.page: \"/pages/a?x=1\" is not a page path like pages/login/index (no leading /, no query)"]
    );
}
