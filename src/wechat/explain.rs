//! What a WeChat `errcode` means to an operator, in plain words with what to do about it.
//!
//! [`explain`] knows the codes by themselves; [`explain_for`] first asks what the code means
//! for the API that answered it, because some codes mean different things per API: 45009 is
//! `qrcode/create`'s daily quota but `getwxacodeunlimit`'s per-minute limit, and 40001 is a
//! wrong AppSecret when fetching a token but a token invalidated by another program elsewhere.

use super::client::Api;

/// The meaning of `errcode` as answered by `api`, falling back to [`explain`].
pub fn explain_for(api: Api, errcode: i64) -> Option<&'static str> {
    for_api(api, errcode).or_else(|| explain(errcode))
}

fn for_api(api: Api, errcode: i64) -> Option<&'static str> {
    let text = match (api, errcode) {
        (Api::StableToken, 40001) => {
            "WeChat refused the AppSecret. Copy it again from the account's Basic Configuration \
            page (设置与开发 → 基本配置), or reset it there."
        }
        (_, 40001) => {
            "WeChat refused the access token even after fetching a fresh one: another program \
            is fetching tokens for this account with the old cgi-bin/token API, which invalidates \
            ours. Let only one service fetch tokens for the account (scangate uses stable_token), \
            or point the other program at scangate's token."
        }
        (Api::QrCodeCreate, 45009) => {
            "qrcode/create's daily quota is used up (100,000 calls a day for a Service Account, \
            10,000 for a test account; every login page view spends one). Logins by the Official \
            Account start again at midnight Beijing time; an administrator can reset the quota \
            early with clear_quota (a few times a month). The Mini Program method's codes are \
            not limited by day."
        }
        (Api::WxaCodeUnlimited, 45009) => {
            "getwxacodeunlimit allows 5,000 calls a minute per Mini Program, and this minute's \
            are used up: codes can be made again from the next minute."
        }
        (Api::WxaCodeUnlimited, 41030) => {
            "The page in wechat.mini_program.page is not in the Mini Program's published \
            version (or is misspelled: no leading slash, no .js). Publish a version that has the \
            page, or, while testing with env_version trial or develop, set check_path: false."
        }
        (Api::WxaCodeUnlimited, 40097) => {
            "WeChat refused the code's parameters: check wechat.mini_program.page and \
            env_version (release, trial or develop)."
        }
        (Api::Jscode2Session | Api::GetUserPhoneNumber, 40029 | 40163) => {
            "The code from the Mini Program page is invalid, expired or already used. One \
            refusal is a replayed or stale page; many mean the page and the gateway use \
            different Mini Program AppIDs."
        }
        (Api::GenerateUrlLink, 48001) => {
            "The Mini Program may not make URL Links: only Mini Programs of a verified, \
            non-individual subject can. Without it, phone browsers cannot open the Mini Program; \
            remove mini_program from their methods or have the subject verified."
        }
        (Api::GenerateUrlLink, 40165) => {
            "generate_urllink refused wechat.mini_program.page: it must be a page of the \
            published version, written without a leading slash or a query."
        }
        (Api::GenerateUrlLink, 85079) => {
            "The Mini Program has no published version: URL Links open published Mini \
            Programs only."
        }
        (Api::GenerateUrlLink, 44990 | 45009) => {
            "generate_urllink's rate (100 a second) or daily total (URL Links and Schemes \
            together) is used up; links can be made again later."
        }
        (Api::SnsAccessToken, 40029 | 40163) => {
            "The code WeChat's authorization page handed the browser is invalid, expired or \
            already used: a reloaded or shared callback link. Many of them mean the code was \
            issued for another AppID than the one exchanging it (official_account.app_id inside \
            WeChat, website.app_id for the website login)."
        }
        (Api::SnsAccessToken, 40013 | 40125) => {
            "WeChat refused the AppID or AppSecret exchanging a web-authorization code: check \
            official_account.app_id/app_secret (inside WeChat) or website.app_id/app_secret (the \
            Open Platform website application)."
        }
        (Api::SnsUserInfo, 48001) => {
            "sns/userinfo needs a grant of snsapi_userinfo or snsapi_login; a snsapi_base grant \
            carries the openid only."
        }
        (Api::GetUserPhoneNumber, 40013) => {
            "The phone-number code was issued by another Mini Program than \
            wechat.mini_program.app_id."
        }
        _ => return None,
    };
    Some(text)
}

/// The meaning of a WeChat `errcode` in plain words, with what to do about it, for the codes
/// operators meet when wiring an account (credentials, IP whitelist, permissions, quotas) and
/// when pushing a menu. `None` for codes not listed here; WeChat's `errmsg` still says something.
pub fn explain(errcode: i64) -> Option<&'static str> {
    let text = match errcode {
        -1 => {
            "WeChat is busy (system error). Try again in a minute; if it persists, WeChat has an \
            outage."
        }
        40001 => {
            "WeChat refused the credential. When fetching a token this means the AppSecret is \
            wrong; on other calls the access token is no longer valid because another program \
            fetched a new one for this account. Check the AppSecret, and let only one service \
            fetch tokens for the account."
        }
        40002 => {
            "grant_type must be client_credential. This is a bug in the caller, not in your \
            settings."
        }
        40013 => {
            "The AppID is not valid. Copy it again from the account's Basic Configuration \
            page (设置与开发 → 基本配置): it starts with \"wx\", is 18 characters long and \
            case-sensitive."
        }
        40014 => {
            "The access token is not valid (cut short, or another account's). It is fetched \
            again by itself; if this repeats, check that the AppID and the AppSecret belong to the \
            same account."
        }
        40033 => {
            "The request contained \\uXXXX escapes, which WeChat refuses: send raw UTF-8. \
            This is a bug in the caller."
        }
        40125 => {
            "The AppSecret is wrong. Copy it again from the account's Basic Configuration \
            page (设置与开发 → 基本配置), or reset it there (the old one stops working at once). \
            It is 32 characters long."
        }
        40164 | 61004 => {
            "This server's IP address is not in the account's API IP whitelist. Add \
            the outgoing public IP address named in WeChat's message on mp.weixin.qq.com under \
            设置与开发 (Settings and Development) → 基本配置 (Basic Configuration) → IP白名单 (IP \
            whitelist), or, for accounts managed on the WeChat developers platform, under 开发信息 \
            → API IP白名单; an administrator confirms by scanning."
        }
        40243 => {
            "The AppSecret is frozen. Reset it on the account's Basic Configuration page \
            (设置与开发 → 基本配置) and configure the new one."
        }
        41001 => "No access token was sent. This is a bug in the caller.",
        41002 => "The AppID is missing: configure it.",
        41004 => {
            "The AppSecret is missing: configure it (it is shown on the account's Basic \
            Configuration page, 设置与开发 → 基本配置)."
        }
        42001 => {
            "The access token expired. It is fetched again by itself; if this repeats, \
            another program may be using old tokens of this account."
        }
        45009 => {
            "This API's daily quota is used up. It starts again the next day; an \
            administrator can reset it early with the clear_quota API (a few times a month)."
        }
        45011 => "Too many calls of this API this minute: wait for the next minute.",
        47001 => "The request body is not the JSON WeChat expects. This is a bug in the caller.",
        48001 => {
            "This account is not allowed to use this API: its type or verification does not \
            include it. See the account's interface permissions (接口权限) page; parametric QR \
            codes need a verified Service Account (认证服务号)."
        }
        50002 => {
            "The account is restricted (for example frozen after a violation), and its APIs \
            are blocked. Read the notices on mp.weixin.qq.com."
        }
        40016 => "The menu needs 1 to 3 top-level buttons.",
        40017 => {
            "A top-level button has no type or an unknown one (click, view, miniprogram, \
            scancode_push, ...), or has neither a type nor sub-buttons."
        }
        40018 => {
            "A top-level button's name is empty or longer than 16 bytes (5 Chinese \
            characters)."
        }
        40019 => "A top-level button's key is missing or longer than 128 bytes.",
        40020 => "A top-level button's url is missing or longer than 1024 bytes.",
        40023 => "A button has more than 5 sub-buttons.",
        40024 => {
            "A sub-button has no type or an unknown one (click, view, miniprogram, \
            scancode_push, ...)."
        }
        40025 => "A sub-button's name is empty or longer than 60 bytes (20 Chinese characters).",
        40026 => "A sub-button's key is missing or longer than 128 bytes.",
        40027 => "A sub-button's url is missing or longer than 1024 bytes.",
        40054 => {
            "A sub-button's url is not a valid http:// or https:// link, or its domain is \
            refused."
        }
        40055 => {
            "A top-level button's url is not a valid http:// or https:// link, or its domain \
            is refused."
        }
        40165 => "A miniprogram button's pagepath is not a page of that Mini Program.",
        65303 => {
            "The account has no ordinary menu: create one with menu/create before a \
            conditional menu."
        }
        _ => return None,
    };
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wechat::Error;

    #[test]
    fn operators_get_plain_words_for_the_codes_they_meet() {
        let credential = [
            -1, 40001, 40002, 40013, 40125, 40164, 41004, 42001, 45009, 48001, 50002,
        ];
        let menu = [
            40016, 40017, 40018, 40019, 40023, 40024, 40025, 40026, 40027, 40054, 40055, 65303,
        ];
        for code in credential.into_iter().chain(menu) {
            let text = explain(code).unwrap_or_else(|| panic!("{code} unexplained"));
            assert!(text.ends_with('.') && text.len() > 30, "{code}: {text}");
            assert!(
                !text.contains("  ") && !text.contains('\n'),
                "{code}: {text}"
            );
        }
        assert!(explain(40164).unwrap().contains("IP白名单"));
        assert!(explain(48001).unwrap().contains("接口权限"));
        assert_eq!(explain(0), None);
        assert_eq!(explain(12345), None);
        let e = Error::Api {
            errcode: 40125,
            errmsg: "invalid appsecret rid: x".into(),
        };
        assert_eq!(e.explanation(), explain(40125));
        assert_eq!(Error::Timeout.explanation(), None);
    }

    #[test]
    fn the_same_code_means_what_it_means_for_its_api() {
        let quota = explain_for(Api::QrCodeCreate, 45009).unwrap();
        let per_minute = explain_for(Api::WxaCodeUnlimited, 45009).unwrap();
        assert!(
            quota.contains("daily") && quota.contains("midnight Beijing"),
            "{quota}"
        );
        assert!(
            per_minute.contains("a minute") && !per_minute.contains("daily"),
            "{per_minute}"
        );
        assert!(explain_for(Api::WxaCodeUnlimited, 41030)
            .unwrap()
            .contains("check_path"));
        let secret = explain_for(Api::StableToken, 40001).unwrap();
        let elsewhere = explain_for(Api::QrCodeCreate, 40001).unwrap();
        assert!(secret.contains("AppSecret") && elsewhere.contains("another program"));
        // Codes without an API-specific meaning read as they read alone.
        assert_eq!(explain_for(Api::UserInfo, 40164), explain(40164));
        assert_eq!(explain_for(Api::UserInfo, 12345), None);
        for api in [Api::QrCodeCreate, Api::WxaCodeUnlimited, Api::StableToken] {
            for code in [40001, 45009, 41030, 40097, 40029] {
                if let Some(text) = explain_for(api, code) {
                    assert!(
                        text.ends_with('.') && !text.contains("  "),
                        "{code}: {text}"
                    );
                }
            }
        }
    }
}
