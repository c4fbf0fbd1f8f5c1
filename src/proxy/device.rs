//! Which device a login page is shown on, from its `User-Agent`: the page offers what that
//! device can use. A QR code is for a desktop (the phone in the other hand scans it); a phone's
//! browser cannot scan the code it shows, so it gets a link that opens the Mini Program in
//! WeChat, and SMS; WeChat's in-app browser is a phone's browser inside WeChat.
//!
//! `sdk.js` decides the same way from `navigator.userAgent` when a page embedding it names no
//! device; the hosted page names the one decided here.

/// A device, as the login page and the widget name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    Desktop,
    /// A phone's browser outside WeChat.
    Phone,
    /// WeChat's in-app browser (not WeCom's, whose agent says `wxwork`).
    Wechat,
}

impl Device {
    /// The device a `User-Agent` names. WeChat's browser says `MicroMessenger`; WeCom's says
    /// that too, and `wxwork`, and is not WeChat (no WeChat login inside it). A phone says
    /// `Mobile`, `Android` or `iPhone`. Anything else, or no header, is a desktop.
    pub fn of(user_agent: Option<&str>) -> Device {
        let ua = user_agent.unwrap_or("");
        let has = |needle: &str| {
            ua.as_bytes()
                .windows(needle.len())
                .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
        };
        if has("MicroMessenger") && !has("wxwork") {
            Device::Wechat
        } else if has("Mobile") || has("Android") || has("iPhone") {
            Device::Phone
        } else {
            Device::Desktop
        }
    }

    /// A device named by its wire name (`?device=` of the demo's device switch).
    pub fn parse(name: &str) -> Option<Device> {
        [Device::Desktop, Device::Phone, Device::Wechat]
            .into_iter()
            .find(|d| d.as_str() == name)
    }

    /// The wire name: `desktop`, `phone`, `wechat`.
    pub fn as_str(self) -> &'static str {
        match self {
            Device::Desktop => "desktop",
            Device::Phone => "phone",
            Device::Wechat => "wechat",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agents_name_their_device() {
        for (ua, want) in [
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
                 Chrome/120.0 Safari/537.36",
                Device::Desktop,
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like \
                 Gecko) Version/17.0 Safari/605.1.15",
                Device::Desktop,
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 \
                 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
                Device::Phone,
            ),
            (
                "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) \
                 Chrome/120.0 Mobile Safari/537.36",
                Device::Phone,
            ),
            (
                "Mozilla/5.0 (Linux; Android 14; V2227A Build/UP1A; wv) AppleWebKit/537.36 \
                 (KHTML, like Gecko) Version/4.0 Chrome/116.0 Mobile Safari/537.36 XWEB/1160065 \
                 MMWEBSDK/20231202 MMWEBID/2247 MicroMessenger/8.0.47.2560(0x28002F30) \
                 WeChat/arm64 Weixin NetType/WIFI Language/zh_CN ABI/arm64",
                Device::Wechat,
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 \
                 (KHTML, like Gecko) Mobile/15E148 wxwork/4.1.16 MicroMessenger/7.0.1 \
                 Language/zh ColorScheme/Light",
                Device::Phone,
            ),
            ("", Device::Desktop),
        ] {
            assert_eq!(Device::of(Some(ua)), want, "{ua}");
        }
        assert_eq!(Device::of(None), Device::Desktop);
    }

    #[test]
    fn wire_names_round_trip() {
        for d in [Device::Desktop, Device::Phone, Device::Wechat] {
            assert_eq!(Device::parse(d.as_str()), Some(d));
        }
        assert_eq!(Device::parse("tablet"), None);
        assert_eq!(Device::parse("Phone"), None);
    }
}
