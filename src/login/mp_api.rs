//! The Mini Program APIs the login flow calls, as a seam: the real [`WechatClient`] of
//! the Mini Program's app id in production, a fake in tests.

use async_trait::async_trait;

use crate::wechat::client::{ApiQuota, MpPhone, MpSession, UrlLinkRequest, WxaCodeRequest};
use crate::wechat::{Error, WechatClient};

/// What the login flow needs of the Mini Program side of WeChat (wechat-protocol.md §9).
/// Implementations must never return, log or keep `session_key`.
#[async_trait]
pub trait MiniProgramApi: Send + Sync {
    /// `getwxacodeunlimit`: the image bytes (PNG or JPEG) of a code that opens `req.page`
    /// with `req.scene`.
    async fn wxacode_unlimited(&self, req: &WxaCodeRequest) -> Result<Vec<u8>, Error>;
    /// `jscode2session`: who the `wx.login` code belongs to. A used or unknown code is an
    /// [`Error::Api`] with `errcode` 40029 or 40163.
    async fn code_to_session(&self, js_code: &str) -> Result<MpSession, Error>;
    /// `getuserphonenumber`: the WeChat-verified number behind a phone-button code, checked
    /// by WeChat to belong to `openid` (the user `jscode2session` named).
    async fn phone_number(&self, phone_code: &str, openid: &str) -> Result<MpPhone, Error>;
    /// `generate_urllink`: a link that opens `req.path` with `req.query` from outside WeChat.
    async fn url_link(&self, req: &UrlLinkRequest) -> Result<String, Error>;
    /// `openapi/quota/get`: today's quota of the Mini Program's API at `cgi_path`. A fake
    /// without quotas answers [`Error::InvalidArgument`].
    async fn api_quota(&self, _cgi_path: &str) -> Result<ApiQuota, Error> {
        Err(Error::InvalidArgument(
            "this Mini Program API has no quota to read",
        ))
    }
}

#[async_trait]
impl MiniProgramApi for WechatClient {
    async fn wxacode_unlimited(&self, req: &WxaCodeRequest) -> Result<Vec<u8>, Error> {
        WechatClient::wxacode_unlimited(self, req).await
    }

    async fn code_to_session(&self, js_code: &str) -> Result<MpSession, Error> {
        WechatClient::code_to_session(self, js_code).await
    }

    async fn phone_number(&self, phone_code: &str, openid: &str) -> Result<MpPhone, Error> {
        WechatClient::phone_number(self, phone_code, Some(openid)).await
    }

    async fn url_link(&self, req: &UrlLinkRequest) -> Result<String, Error> {
        WechatClient::url_link(self, req).await
    }

    async fn api_quota(&self, cgi_path: &str) -> Result<ApiQuota, Error> {
        WechatClient::api_quota(self, cgi_path).await
    }
}
