//! A request to one of the gateway's own endpoints, as the proxy layer hands it over (no
//! pingora types), and the user as those endpoints show it.

use std::net::IpAddr;

use bytes::Bytes;
use http::{HeaderMap, Method};
use serde::Serialize;

use crate::identity::Identity;

/// Largest request body any own endpoint reads.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A request to an own endpoint.
pub struct OwnRequest<'a> {
    pub method: &'a Method,
    /// The normalised path below `auth_path`: `/me`, `/verify`, or `` for the prefix itself.
    pub sub_path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    /// Lower-case host without port.
    pub host: &'a str,
    /// The client, after `X-Forwarded-For` from trusted proxies.
    pub client: IpAddr,
    /// The TCP peer (a proxy, for forward auth).
    pub peer: Option<IpAddr>,
    pub now: u64,
    /// A top-level browser navigation (HTML answers rather than JSON).
    pub navigation: bool,
    pub body: Bytes,
}

impl OwnRequest<'_> {
    pub fn query_param(&self, name: &str) -> Option<String> {
        form_urlencoded::parse(self.query.unwrap_or("").as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    /// A form post from a page (it accepts HTML and is not a script call).
    pub fn navigation_form(&self) -> bool {
        !self.headers.contains_key("x-requested-with")
            && self
                .headers
                .get(http::header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("text/html"))
    }
}

/// The user as `/.auth/me` and the session exchange show it.
#[derive(Serialize)]
pub struct UserView<'a> {
    pub id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub openid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unionid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<&'a str>,
    pub method: &'a str,
}

impl<'a> UserView<'a> {
    pub fn of(identity: &'a Identity) -> Self {
        UserView {
            id: identity.user_id.as_str(),
            openid: identity.openid.as_ref().map(|v| v.as_str()),
            unionid: identity.unionid.as_ref().map(|v| v.as_str()),
            phone: identity.phone.as_ref().map(|v| v.as_str()),
            method: identity.method.as_str(),
        }
    }
}
