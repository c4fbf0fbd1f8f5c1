//! The one place that turns the gateway's own answers and errors into HTTP responses
//! (linkerd's "rescue" idea): every status code, error body and cache header the gateway
//! writes itself comes from here.
//!
//! An error body is always JSON `{"error": "<snake_case_code>", "message": "<human text>"}`;
//! a browser navigation gets a small HTML page instead, with the same words.

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE};
use pingora::http::ResponseHeader;
use pingora::proxy::Session;
use serde::Serialize;

use super::gate::{Decision, DenyReason};
use crate::metrics::{AuthDecision, Metrics};
use crate::wechat::Impact;

/// The one place a gate decision becomes an answer and a metric, for the inline gate and
/// `/verify` alike. `None` for a decision that lets the request pass (counted as public or
/// allowed); the response for one that refuses. `login_url` is built only when a login is
/// needed; `redirect` answers a login with 302 to it (a browser navigation), else 401 JSON
/// naming it; `html` words a 403 as a page.
pub fn decision(
    metrics: &Metrics,
    decision: Decision,
    redirect: bool,
    html: bool,
    login_url: impl FnOnce() -> String,
) -> Option<Reply> {
    match decision {
        Decision::Public => {
            metrics.decision(AuthDecision::Public);
            None
        }
        Decision::Allow => {
            metrics.decision(AuthDecision::Allowed);
            None
        }
        Decision::Login if redirect => {
            metrics.decision(AuthDecision::Redirected);
            Some(Reply::redirect(302, &login_url()))
        }
        Decision::Login => {
            metrics.decision(AuthDecision::Unauthenticated);
            let err = GatewayError::Unauthenticated {
                login_url: login_url(),
            };
            Some(Reply::error(&err, false))
        }
        Decision::Deny(reason) => {
            metrics.decision(AuthDecision::Forbidden);
            Some(Reply::error(&GatewayError::Forbidden(reason), html))
        }
    }
}

/// Errors the gateway answers itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GatewayError {
    /// No valid session on a protected route (non-navigation requests).
    Unauthenticated {
        login_url: String,
    },
    /// A session the route refuses.
    Forbidden(DenyReason),
    /// No route for this host and path.
    NoRoute,
    /// An unknown path under `auth_path`.
    NotFound,
    MethodNotAllowed,
    BadRequest {
        code: &'static str,
        message: String,
    },
    PayloadTooLarge,
    /// Too many requests; try again after this many seconds.
    RateLimited {
        retry_after_seconds: u64,
    },
    /// A login step refused for a reason the user can act on (wrong code, phone taken, ...).
    Login {
        status: u16,
        code: &'static str,
        message: String,
    },
    /// The upstream could not be reached or failed mid-response.
    BadGateway,
    /// A dependency (store, WeChat) is unavailable.
    Unavailable {
        message: String,
    },
    /// A dependency refused or failed with a reason the person is told (WeChat busy, not
    /// available on this site, not answering); `Retry-After` when trying later can help.
    Dependency {
        status: u16,
        code: &'static str,
        message: String,
        retry_after_seconds: Option<u64>,
    },
    /// Refused for a reason with its own status and code (a cross-site form post, a
    /// forward-auth call we do not believe, a body that stalled, ...).
    Refused {
        status: u16,
        code: &'static str,
        message: String,
    },
    Internal,
}

impl From<crate::login::LoginError> for GatewayError {
    /// The response for a login error: the user's own mistakes are 4xx with their code;
    /// failures of WeChat, the store or the SMS provider are 502/503 and logged here, with
    /// details kept out of the response.
    fn from(e: crate::login::LoginError) -> GatewayError {
        use crate::login::LoginError as L;
        let status = match &e {
            L::NotFound | L::TicketInvalid | L::SceneInvalid => 404,
            L::MpCodeInvalid => 400,
            L::Expired => 410,
            // The provider's per-number limit: a conflict with the number's state there,
            // not our own rate limit (429 with Retry-After), whose end we would know.
            L::WrongState | L::PhoneTaken | L::SmsLimited { .. } => 409,
            L::Disabled | L::CookiesBlocked | L::NoAccount => 403,
            L::OAuth(crate::login::OAuthRefusal::OtherBrowser) => 403,
            L::OAuth(_) => 400,
            L::MethodUnavailable => 400,
            L::BadPhone(_) | L::SmsNumberRefused => 400,
            L::InvalidCode { .. } | L::CodeDead | L::CodeExpired => 400,
            L::RateLimited {
                retry_after_seconds,
            } => {
                return GatewayError::RateLimited {
                    retry_after_seconds: *retry_after_seconds,
                }
            }
            // The page tells the person when logins are back, from `Retry-After`.
            L::Paused {
                retry_after_seconds,
                ..
            } => {
                return GatewayError::Dependency {
                    status: 503,
                    code: e.code(),
                    message: capitalised(&e.to_string()),
                    retry_after_seconds: Some(*retry_after_seconds),
                };
            }
            // The client logged WeChat's answer (errcode, rid, what to fix) already.
            L::Wechat(wechat) => {
                let (status, retry_after_seconds) = match wechat.impact() {
                    Impact::Busy {
                        retry_after_seconds,
                    } => (503, Some(retry_after_seconds)),
                    Impact::Misconfigured => (503, None),
                    Impact::Unavailable => (502, None),
                };
                return GatewayError::Dependency {
                    status,
                    code: e.code(),
                    message: capitalised(&e.to_string()),
                    retry_after_seconds,
                };
            }
            L::Sms(_) => {
                tracing::error!(error = %e, "login step failed upstream");
                return GatewayError::Login {
                    status: 502,
                    code: e.code(),
                    message: "The SMS provider did not answer; please try again.".into(),
                };
            }
            _ => {
                tracing::error!(error = %e, "login step failed");
                return GatewayError::Unavailable {
                    message: "Login is unavailable right now; please try again.".into(),
                };
            }
        };
        GatewayError::Login {
            status,
            code: e.code(),
            message: e.to_string(),
        }
    }
}

/// `text` as a sentence: first letter upper-case, a full stop at the end.
fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    let mut sentence: String = chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default();
    if !sentence.ends_with('.') {
        sentence.push('.');
    }
    sentence
}

impl GatewayError {
    /// The refusal of a path whose spelling a loose upstream would read as another route's.
    pub fn ambiguous_path() -> GatewayError {
        GatewayError::BadRequest {
            code: "ambiguous_path",
            message: "This path's spelling (letter case, or a segment ending in '.' or a space) \
                      would reach another route than it names; use its exact spelling."
                .into(),
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            GatewayError::Unauthenticated { .. } => 401,
            GatewayError::Forbidden(_) => 403,
            GatewayError::NoRoute | GatewayError::NotFound => 404,
            GatewayError::MethodNotAllowed => 405,
            GatewayError::BadRequest { .. } => 400,
            GatewayError::PayloadTooLarge => 413,
            GatewayError::RateLimited { .. } => 429,
            GatewayError::Login { status, .. }
            | GatewayError::Refused { status, .. }
            | GatewayError::Dependency { status, .. } => *status,
            GatewayError::BadGateway => 502,
            GatewayError::Unavailable { .. } => 503,
            GatewayError::Internal => 500,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            GatewayError::Unauthenticated { .. } => "unauthenticated",
            GatewayError::Forbidden(DenyReason::PhoneRequired) => "phone_required",
            GatewayError::Forbidden(DenyReason::NotAllowed) => "forbidden",
            GatewayError::Forbidden(DenyReason::Blocked) => "blocked",
            GatewayError::NoRoute => "no_route",
            GatewayError::NotFound => "not_found",
            GatewayError::MethodNotAllowed => "method_not_allowed",
            GatewayError::BadRequest { code, .. } => code,
            GatewayError::PayloadTooLarge => "payload_too_large",
            GatewayError::RateLimited { .. } => "rate_limited",
            GatewayError::Login { code, .. }
            | GatewayError::Refused { code, .. }
            | GatewayError::Dependency { code, .. } => code,
            GatewayError::BadGateway => "bad_gateway",
            GatewayError::Unavailable { .. } => "unavailable",
            GatewayError::Internal => "internal",
        }
    }

    pub fn message(&self) -> String {
        match self {
            GatewayError::Unauthenticated { .. } => "You need to sign in.".into(),
            GatewayError::Forbidden(DenyReason::PhoneRequired) => {
                "This page needs a verified phone number on your account.".into()
            }
            GatewayError::Forbidden(DenyReason::NotAllowed) => {
                "Your account is not allowed to use this page.".into()
            }
            GatewayError::Forbidden(DenyReason::Blocked) => {
                "This account has been blocked. Contact the site's administrator.".into()
            }
            GatewayError::NoRoute => "Nothing is served at this address.".into(),
            GatewayError::NotFound => "Not found.".into(),
            GatewayError::MethodNotAllowed => "This method is not allowed here.".into(),
            GatewayError::BadRequest { message, .. } => message.clone(),
            GatewayError::PayloadTooLarge => "The request body is too large.".into(),
            GatewayError::RateLimited {
                retry_after_seconds,
            } => format!("Too many requests: try again in {retry_after_seconds} s."),
            GatewayError::Login { message, .. }
            | GatewayError::Refused { message, .. }
            | GatewayError::Dependency { message, .. } => message.clone(),
            GatewayError::BadGateway => {
                "The application behind the gateway is not answering.".into()
            }
            GatewayError::Unavailable { message } => message.clone(),
            GatewayError::Internal => "Something went wrong in the gateway.".into(),
        }
    }
}

/// A complete response the gateway writes itself.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Bytes,
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    login_url: Option<&'a str>,
}

impl Reply {
    pub fn json<T: Serialize>(status: u16, value: &T) -> Reply {
        match serde_json::to_vec(value) {
            Ok(body) => Reply {
                status,
                content_type: "application/json",
                body: body.into(),
                headers: Vec::new(),
            },
            Err(_) => Reply::error(&GatewayError::Internal, false),
        }
    }

    pub fn html(status: u16, body: impl Into<Bytes>) -> Reply {
        Reply {
            status,
            content_type: "text/html; charset=utf-8",
            body: body.into(),
            headers: Vec::new(),
        }
    }

    pub fn text(status: u16, content_type: &'static str, body: impl Into<Bytes>) -> Reply {
        Reply {
            status,
            content_type,
            body: body.into(),
            headers: Vec::new(),
        }
    }

    /// A redirect with an empty body (`status` 302 or 303).
    pub fn redirect(status: u16, location: &str) -> Reply {
        Reply::text(status, "text/plain; charset=utf-8", Bytes::new()).header("location", location)
    }

    /// The error as JSON, or as a small HTML page for a browser navigation.
    pub fn error(err: &GatewayError, html: bool) -> Reply {
        let message = err.message();
        if html {
            let title = format!("{}", err.status());
            let page = crate::pages::render_error_page(
                err.status(),
                &title,
                &message,
                crate::pages::Lang::En,
            );
            return Reply::html(err.status(), page);
        }
        let login_url = match err {
            GatewayError::Unauthenticated { login_url } => Some(login_url.as_str()),
            _ => None,
        };
        let body = ErrorBody {
            error: err.code(),
            message: &message,
            login_url,
        };
        let mut reply = Reply::json(err.status(), &body);
        match err {
            GatewayError::Unauthenticated { .. } => {
                reply = reply.header("www-authenticate", "Cookie");
            }
            GatewayError::RateLimited {
                retry_after_seconds,
            }
            | GatewayError::Dependency {
                retry_after_seconds: Some(retry_after_seconds),
                ..
            } => {
                reply = reply.header("retry-after", &retry_after_seconds.to_string());
            }
            _ => {}
        }
        reply
    }

    /// Adds a header; a value that is not a valid header value is dropped (every caller
    /// passes values it built itself).
    pub fn header(mut self, name: &'static str, value: &str) -> Reply {
        if let Ok(value) = HeaderValue::from_str(value) {
            self.headers.push((HeaderName::from_static(name), value));
        }
        self
    }

    pub fn header_named(mut self, name: HeaderName, value: &str) -> Reply {
        if let Ok(value) = HeaderValue::from_str(value) {
            self.headers.push((name, value));
        }
        self
    }

    /// The response header pingora writes.
    pub fn response_header(&self) -> pingora::Result<ResponseHeader> {
        let mut resp = ResponseHeader::build(self.status, Some(4 + self.headers.len()))?;
        resp.insert_header(CONTENT_TYPE, self.content_type)?;
        resp.insert_header(CONTENT_LENGTH, self.body.len())?;
        let mut cache_set = false;
        for (name, value) in &self.headers {
            cache_set |= name == CACHE_CONTROL;
            resp.append_header(name.clone(), value.clone())?;
        }
        if !cache_set {
            // Our answers depend on the cookie: no shared cache may keep them.
            resp.insert_header(CACHE_CONTROL, "no-store")?;
        }
        Ok(resp)
    }
}

/// Writes `reply` to the client. `head` = the request was HEAD (headers only).
pub async fn write(session: &mut Session, reply: Reply, head: bool) -> pingora::Result<()> {
    let header = reply.response_header()?;
    let no_body = head || reply.body.is_empty();
    session
        .write_response_header(Box::new(header), no_body)
        .await?;
    if !no_body {
        session.write_response_body(Some(reply.body), true).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_json_with_code_and_message() {
        let reply = Reply::error(
            &GatewayError::Unauthenticated {
                login_url: "/.auth/login?rd=/x".into(),
            },
            false,
        );
        assert_eq!(reply.status, 401);
        let v: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(v["error"], "unauthenticated");
        assert_eq!(v["login_url"], "/.auth/login?rd=/x");
        assert!(v["message"].as_str().unwrap().len() > 3);
    }

    #[test]
    fn navigations_get_html_with_escaped_text() {
        let err = GatewayError::BadRequest {
            code: "bad",
            message: "<script>".into(),
        };
        let reply = Reply::error(&err, true);
        assert_eq!(reply.status, 400);
        let body = std::str::from_utf8(&reply.body).unwrap();
        assert!(body.contains("&lt;script&gt;"));
        assert!(!body.contains("<script>"));
    }

    #[test]
    fn responses_are_not_cacheable_unless_said_otherwise() {
        let h = Reply::json(200, &1).response_header().unwrap();
        assert_eq!(h.headers.get("cache-control").unwrap(), "no-store");
        assert_eq!(h.headers.get("content-length").unwrap(), "1");
        let h = Reply::json(200, &1)
            .header("cache-control", "public, max-age=300")
            .response_header()
            .unwrap();
        assert_eq!(h.headers.get_all("cache-control").iter().count(), 1);
    }
}
