//! The Mini Program URL Link (`POST /wxa/generate_urllink`, urllink.generate): a link like
//! `https://wxaurl.cn/<ticket>` that opens a page of the Mini Program from a phone's browser,
//! an SMS or a chat, on a [`WechatClient`] built with the Mini Program's appid.
//!
//! Request: `path` (a published page, no query), `query` (at most 1024 characters of
//! `[0-9A-Za-z!#$&'()*+,/:;=?@-._~%]`; the page receives it as its `onLoad` options),
//! `env_version`, and an expiry: `expire_type: 1` with `expire_interval` days (1..=30; since
//! April 2022 every link expires within 30 days). Answer: `{"errcode": 0, "url_link": "…"}`.
//! Only Mini Programs of non-individual, verified subjects may make links (48001 otherwise).

use serde::{Deserialize, Serialize};

use super::{report, Api, Error, WechatClient};

/// Longest `query` WeChat takes.
pub const MAX_URL_LINK_QUERY_LEN: usize = 1024;
/// Longest expiry WeChat grants, in days.
pub const MAX_URL_LINK_DAYS: u32 = 30;

/// A URL Link that opens `path` with `query` (urllink.generate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlLinkRequest {
    /// The page, like `pages/login/index`: no leading `/`, no query. Empty = the home page.
    pub path: String,
    /// What the page receives as its options, like `scene=AbC`.
    pub query: String,
    /// `release`, `trial` or `develop` (only honoured when opened outside WeChat).
    pub env_version: String,
    /// Days the link is valid, 1..=30.
    pub expire_days: u32,
}

/// True when `query` may be a URL Link's query: at most 1024 characters of
/// `[0-9A-Za-z!#$&'()*+,/:;=?@-._~%]`.
pub fn is_valid_url_link_query(query: &str) -> bool {
    query.len() <= MAX_URL_LINK_QUERY_LEN
        && query
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$&'()*+,/:;=?@-._~%".contains(&b))
}

impl WechatClient {
    /// `POST /wxa/generate_urllink`: a link that opens `req.path` with `req.query`. Arguments
    /// are checked locally first ([`Error::InvalidArgument`]); WeChat's refusals are
    /// [`Error::Api`]: 48001 (no URL Link permission), 40165 (no such published page), 40212
    /// (bad query), 85402 (bad expiry), 44990 or 45009 (rate limits).
    pub async fn url_link(&self, req: &UrlLinkRequest) -> Result<String, Error> {
        let path = req.path.as_str();
        if path.starts_with('/')
            || path
                .contains(|c: char| matches!(c, '?' | '#') || c.is_whitespace() || c.is_control())
        {
            return Err(Error::InvalidArgument(
                "path must be a page like pages/login/index, without a leading '/' or a query",
            ));
        }
        if !is_valid_url_link_query(&req.query) {
            return Err(Error::InvalidArgument(
                "query must be at most 1024 characters of [0-9A-Za-z!#$&'()*+,/:;=?@-._~%]",
            ));
        }
        if !matches!(
            req.env_version.as_str(),
            "" | "release" | "trial" | "develop"
        ) {
            return Err(Error::InvalidArgument(
                "env_version must be release, trial or develop",
            ));
        }
        if !(1..=MAX_URL_LINK_DAYS).contains(&req.expire_days) {
            return Err(Error::InvalidArgument("expire_days must be 1..=30"));
        }
        let body = UrlLinkBody {
            path,
            query: &req.query,
            env_version: Some(req.env_version.as_str()).filter(|e| !e.is_empty()),
            expire_type: 1,
            expire_interval: req.expire_days,
        };
        let url = format!("{}/wxa/generate_urllink", self.base);
        let answer: Result<UrlLinkResponse, Error> = self
            .with_token(Api::GenerateUrlLink, |token| {
                self.http
                    .post(&url)
                    .query(&[("access_token", token.expose())])
                    .json(&body)
            })
            .await;
        let answer = report::outcome(Api::GenerateUrlLink, answer)?;
        let link = answer.url_link;
        // A link the browser is sent to: nothing but an https (or, from a simulator, http) URL.
        let plausible = (link.starts_with("https://") || link.starts_with("http://"))
            && link.len() <= 2048
            && link.bytes().all(|b| b.is_ascii_graphic());
        if !plausible {
            return Err(Error::Decode("url_link is not a URL".into()));
        }
        Ok(link)
    }
}

#[derive(Serialize)]
struct UrlLinkBody<'a> {
    path: &'a str,
    query: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    env_version: Option<&'a str>,
    /// 1: expires after `expire_interval` days.
    expire_type: u8,
    expire_interval: u32,
}

#[derive(Deserialize)]
struct UrlLinkResponse {
    #[serde(default)]
    url_link: String,
}

#[cfg(test)]
mod tests;
