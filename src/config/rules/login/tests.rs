use crate::config::model::PhonePolicy;
use crate::config::testing::{errors, ok};
use crate::identity::LoginMethod;

#[test]
fn login_methods_are_known_non_empty_and_distinct() {
    assert_eq!(
        errors("login: {methods: []}"),
        ["login.methods: must list at least one method"]
    );
    assert_eq!(
        errors("login: {methods: [official_account, qq, official_account]}"),
        [
            "login.methods[1]: \"qq\" is not a login method (official_account, mini_program, website or sms)",
            "login.methods[2]: official_account is listed twice",
        ]
    );
}

#[test]
fn a_login_method_needs_its_wechat_section() {
    assert_eq!(
        errors("login: {methods: [official_account, mini_program]}"),
        ["login.methods[1]: mini_program needs a wechat.mini_program section (or wechat.simulate: true)"]
    );
}

#[test]
fn website_needs_its_wechat_section_and_in_wechat_is_not_a_page_method() {
    assert_eq!(
        errors("login: {methods: [official_account, website, in_wechat]}"),
        [
            "login.methods[1]: website needs a wechat.website section (or wechat.simulate: true)",
            "login.methods[2]: in_wechat is not a method of the login page: set wechat.official_account.oauth: true instead",
        ]
    );
    let c = ok("{wechat: {website: {app_id: wxweb, app_secret: s}}, login: {methods: [website]}}");
    assert_eq!(c.login.methods, [LoginMethod::Website]);
    // A website section with problems of its own is reported there, not again here.
    assert_eq!(
        errors("{wechat: {website: {app_id: wxweb}}, login: {methods: [website]}}"),
        ["wechat.website.app_secret: is required (or app_secret_file)"]
    );
}

#[test]
fn the_simulator_stands_in_for_missing_sections() {
    let c = ok("{wechat: {simulate: true, official_account: null}, login: {methods: [mini_program, official_account]}}");
    assert_eq!(
        c.login.methods,
        [LoginMethod::MiniProgram, LoginMethod::OfficialAccount]
    );
    assert!(c.wechat.simulate && c.wechat.official_account.is_none());
}

#[test]
fn sms_needs_no_wechat_section_and_signup_is_off_by_default() {
    let c = ok("{wechat: {simulate: false, official_account: null}, login: {methods: [sms]}}");
    assert_eq!(c.login.methods, [LoginMethod::Sms]);
    assert!(!c.login.sms_signup);
    let c = ok("login: {methods: [official_account, sms], sms_signup: true}");
    assert_eq!(
        c.login.methods,
        [LoginMethod::OfficialAccount, LoginMethod::Sms]
    );
    assert!(c.login.sms_signup);
    assert_eq!(
        errors("login: {methods: [sms, sms]}"),
        ["login.methods[1]: sms is listed twice"]
    );
}

#[test]
fn phone_policy_takes_its_three_values() {
    assert_eq!(ok("login: {phone: off}").login.phone, PhonePolicy::Off);
    assert_eq!(
        ok("login: {phone: optional}").login.phone,
        PhonePolicy::Optional
    );
}

#[test]
fn code_ttl_is_between_a_minute_and_an_hour() {
    assert_eq!(
        errors("login: {code_ttl_seconds: 3601}"),
        ["login.code_ttl_seconds: must be between 60 and 3600 seconds"]
    );
}

#[test]
fn phone_countries_default_to_china() {
    let codes = ok("{}").login.phone_countries;
    let codes: Vec<&str> = codes.codes().iter().map(|c| c.as_str()).collect();
    assert_eq!(codes, ["86"]);
}

#[test]
fn phone_countries_take_codes_quoted_or_not() {
    let c = ok("login: {phone_countries: ['86', 1, \"852\"]}");
    assert_eq!(c.login.phone_countries.code_strs(), ["86", "1", "852"]);
}

#[test]
fn phone_countries_are_real_distinct_codes_and_at_least_one() {
    assert_eq!(
        errors("login: {phone_countries: []}"),
        ["login.phone_countries: must list at least one country calling code, such as \"86\""]
    );
    assert_eq!(
        errors("login: {phone_countries: ['+86', '86', 'cn', 12, '8', 86, '086']}"),
        [
            "login.phone_countries[0]: \"+86\" is not 1 to 3 digits (write 86, not +86)",
            "login.phone_countries[2]: \"cn\" is not 1 to 3 digits (write 86, not +86)",
            "login.phone_countries[3]: \"12\" is not a country calling code: numbers +12… have country code +1",
            "login.phone_countries[4]: \"8\" is not a country calling code: the codes that start with 8 have 3 digits",
            "login.phone_countries[5]: +86 is listed twice",
            "login.phone_countries[6]: \"086\" is not a country calling code: none starts with 0",
        ]
    );
}

#[test]
fn a_phone_country_of_another_type_is_named_by_its_index() {
    let found = errors("login: {phone_countries: ['86', [1]]}");
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("login.phone_countries[1]: ")
            && found[0].contains("a country calling code such as \"86\""),
        "{found:?}"
    );
}

#[test]
fn quota_reserve_is_a_share_or_a_count() {
    use crate::config::model::QuotaReserve;
    assert_eq!(ok("{}").login.quota_reserve, QuotaReserve::BasisPoints(100));
    assert_eq!(
        ok("login: {quota_reserve: \"2.5%\"}").login.quota_reserve,
        QuotaReserve::BasisPoints(250)
    );
    assert_eq!(
        ok("login: {quota_reserve: 500}").login.quota_reserve,
        QuotaReserve::Calls(500)
    );
    assert_eq!(QuotaReserve::BasisPoints(100).of(100_000), 1_000);
    assert_eq!(
        errors("login: {quota_reserve: \"80%\"}"),
        ["login.quota_reserve: \"80%\" is neither a share of the daily limit from \"0%\" to \"50%\" nor a number of calls"]
    );
    assert_eq!(errors("login: {quota_reserve: lots}").len(), 1);
}

#[test]
fn site_name_and_logo_are_optional_and_checked() {
    use crate::config::env::MapEnv;
    use crate::config::model::LogoFormat;
    use crate::config::testing::load_with;
    let c = ok("{}");
    assert_eq!((c.login.site_name, c.login.qr_logo), (None, None));
    let svg = "<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"/>";
    let env = MapEnv::new()
        .file("/logo.svg", svg)
        .file("/big.svg", format!("<svg>{}</svg>", " ".repeat(256 * 1024)))
        .file("/logo.txt", "hello");
    let c = load_with(
        "login: {site_name: ' Acme 商城 ', qr_logo: /logo.svg}",
        &env,
    )
    .unwrap();
    assert_eq!(c.login.site_name.as_deref(), Some("Acme 商城"));
    let logo = c.login.qr_logo.unwrap();
    assert_eq!(logo.format, LogoFormat::Svg);
    assert_eq!(&*logo.bytes, svg.as_bytes());
    for (yaml, want) in [
        (
            "{qr_logo: /missing.png}",
            "login.qr_logo: cannot read \"/missing.png\": no such file",
        ),
        (
            "{qr_logo: /big.svg}",
            "login.qr_logo: \"/big.svg\" is 257 KB; a logo may be at most 256 KB",
        ),
        (
            "{qr_logo: /logo.txt}",
            "login.qr_logo: \"/logo.txt\" is neither a PNG nor an SVG image",
        ),
        (
            "{site_name: ''}",
            "login.site_name: is empty (leave it out to show the host)",
        ),
        (
            "{site_name: \"a\\nb\"}",
            "login.site_name: must be one line of at most 60 characters",
        ),
    ] {
        let got = crate::config::testing::messages(load_with(&format!("login: {yaml}"), &env));
        assert_eq!(got, [want], "{yaml}");
    }
}
