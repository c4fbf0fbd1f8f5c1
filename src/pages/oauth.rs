//! What the login page shows of sign-in through WeChat's own pages, and how the widget
//! reads it (`ScanGate.mount` options `notice`, `attempt`, `retryUrl`, `inWechat`).

use serde::Serialize;

/// The page's part of web authorization, built per request by the proxy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OAuthView<'a> {
    /// An error code to show at once (why the last sign-in did not happen: `oauth_declined`,
    /// `account_disabled`, ...), in the page's language.
    pub notice: Option<&'a str>,
    /// An attempt of this browser to resume, at its phone step.
    pub attempt: Option<&'a str>,
    /// Where "try again" goes instead of a new QR code (inside WeChat: its authorization).
    pub retry_url: Option<&'a str>,
    /// Web authorization inside WeChat is on (the demo offers to simulate it).
    pub in_wechat: bool,
}

/// The same, as widget options; absent ones are left out.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct OAuthOptions<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    notice: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    attempt: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_url: Option<&'a str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    in_wechat: bool,
}

impl<'a> From<OAuthView<'a>> for OAuthOptions<'a> {
    fn from(view: OAuthView<'a>) -> Self {
        OAuthOptions {
            notice: view.notice,
            attempt: view.attempt,
            retry_url: view.retry_url,
            in_wechat: view.in_wechat,
        }
    }
}
