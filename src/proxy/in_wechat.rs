//! WeChat's own browser. A link shared in a chat opens inside WeChat, where a QR code cannot
//! be scanned by the phone that shows it; with `official_account.oauth: true` such a browser
//! is sent to WeChat's web authorization instead of the login page, by the inline gate and by
//! `/verify` alike (both ask [`login_entry`]), and by the login page itself.

use http::HeaderMap;

use super::redirect::{login_url, oauth_start_url};
use crate::config::Config;

/// True for WeChat's in-app browser: its `User-Agent` has `MicroMessenger`, and not
/// `wxwork` (WeCom, 企业微信, says `MicroMessenger` too but cannot authorize for an Official
/// Account).
pub fn is_wechat_browser(headers: &HeaderMap) -> bool {
    let mut agents = headers
        .get_all(http::header::USER_AGENT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::to_ascii_lowercase);
    agents.any(|ua| ua.contains("micromessenger") && !ua.contains("wxwork"))
}

/// Whether web authorization inside WeChat is on (`official_account.oauth: true`).
pub fn oauth_on(config: &Config) -> bool {
    config
        .wechat
        .official_account
        .as_ref()
        .is_some_and(|oa| oa.oauth.is_some())
}

/// Where a browser that must sign in before `rd` goes, as a path under `auth_path`: WeChat's
/// web authorization when it is on and this is WeChat's browser, else the login page.
pub fn login_entry(config: &Config, headers: &HeaderMap, rd: &str) -> String {
    if oauth_on(config) && is_wechat_browser(headers) {
        oauth_start_url(&config.auth_path, "official_account", rd)
    } else {
        login_url(&config.auth_path, rd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::test_headers::headers;

    /// User agents as the clients send them.
    const WECHAT_IOS: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.47(0x18002f2c) NetType/WIFI Language/zh_CN";
    const WECHAT_ANDROID: &str = "Mozilla/5.0 (Linux; Android 13; V2055A Build/TP1A.220624.014; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/111.0.5563.116 Mobile Safari/537.36 XWEB/1110005 MMWEBSDK/20230805 MMWEBID/1234 MicroMessenger/8.0.42.2460(0x28002A3B) WeChat/arm64 Weixin NetType/WIFI Language/zh_CN ABI/arm64";
    const WECOM: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 wxwork/4.1.20 MicroMessenger/7.0.1 Language/zh ColorScheme/Light";
    const SAFARI: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1";

    #[test]
    fn wechat_is_micromessenger_without_wxwork() {
        for (ua, wechat) in [
            (WECHAT_IOS, true),
            (WECHAT_ANDROID, true),
            ("micromessenger", true),
            (WECOM, false),
            (SAFARI, false),
            ("", false),
        ] {
            assert_eq!(
                is_wechat_browser(&headers(&[("user-agent", ua)])),
                wechat,
                "{ua}"
            );
        }
        assert!(!is_wechat_browser(&headers(&[])));
    }

    #[test]
    fn the_entry_is_web_authorization_only_inside_wechat_with_oauth_on() {
        let mut config = crate::config::testing::ok("wechat: {official_account: {oauth: true}}");
        let wechat = headers(&[("user-agent", WECHAT_IOS)]);
        let safari = headers(&[("user-agent", SAFARI)]);
        assert_eq!(
            login_entry(&config, &wechat, "/a?b=1"),
            "/.auth/wechat/oauth/start?method=official_account&rd=/a%3Fb%3D1"
        );
        assert_eq!(
            login_entry(&config, &safari, "/a?b=1"),
            "/.auth/login?rd=/a%3Fb%3D1"
        );
        config.wechat.official_account = None;
        assert_eq!(login_entry(&config, &wechat, "/"), "/.auth/login?rd=/");
    }
}
