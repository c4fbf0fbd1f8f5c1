//! `POST /cgi-bin/openapi/quota/get` (getApiQuota): how many calls of one API the account may
//! make today, and how many it made. Logins spend `qrcode/create` (Official Account) and
//! `getwxacodeunlimit` (Mini Program); the gateway reads both to see the end coming.

use serde::{Deserialize, Serialize};

use super::{report, Api, Error, WechatClient};

/// The `cgi_path` of `qrcode/create`, as getApiQuota names it.
pub const QRCODE_CREATE_PATH: &str = "/cgi-bin/qrcode/create";
/// The `cgi_path` of `getwxacodeunlimit` (asked with the Mini Program's token).
pub const WXACODE_UNLIMITED_PATH: &str = "/wxa/getwxacodeunlimit";

/// One API's quota for today (Beijing time), as WeChat counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiQuota {
    /// Calls allowed today.
    pub daily_limit: u64,
    /// Calls made today.
    pub used: u64,
    /// Calls left today.
    pub remain: u64,
}

#[derive(Serialize)]
struct QuotaRequest<'a> {
    cgi_path: &'a str,
}

#[derive(Deserialize)]
struct QuotaResponse {
    quota: ApiQuota,
}

impl WechatClient {
    /// The quota of the API at `cgi_path` (like [`QRCODE_CREATE_PATH`]), for this client's
    /// account: the Mini Program's APIs must be asked with the Mini Program's client.
    pub async fn api_quota(&self, cgi_path: &str) -> Result<ApiQuota, Error> {
        if !cgi_path.starts_with('/') {
            return Err(Error::InvalidArgument("cgi_path must start with /"));
        }
        let url = format!("{}/cgi-bin/openapi/quota/get", self.base);
        let body = QuotaRequest { cgi_path };
        let answer: QuotaResponse = report::outcome(
            Api::QuotaGet,
            self.with_token(Api::QuotaGet, |token| {
                self.http
                    .post(&url)
                    .query(&[("access_token", token.expose())])
                    .json(&body)
            })
            .await,
        )?;
        Ok(answer.quota)
    }
}
