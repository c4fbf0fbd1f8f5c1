//! The error of WeChat API calls and its classification (wechat-protocol.md §1, §2.4).

use std::borrow::Cow;

/// An API failure. No variant ever contains the AppSecret or an access token: transport
/// errors are stripped of their URL (which carries `access_token=...`), decode errors of the
/// offending value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// WeChat answered with a non-zero `errcode`. `errmsg` ends with WeChat's `rid`, which
    /// Tencent support asks for.
    #[error("wechat api error {errcode}: {errmsg}")]
    Api {
        /// WeChat's error code (§1 table).
        errcode: i64,
        /// WeChat's text, `rid` included.
        errmsg: String,
    },
    /// The request did not complete (connect, TLS, non-2xx status).
    #[error("wechat request failed: {0}")]
    Http(String),
    /// The answer is not the JSON we expect.
    #[error("wechat response not understood: {0}")]
    Decode(String),
    /// No answer within the configured timeout.
    #[error("wechat request timed out")]
    Timeout,
    /// WeChat did not answer the last calls; this one was not even tried (circuit breaker).
    #[error("wechat api unreachable; calls paused for {retry_after_seconds} s")]
    Unavailable {
        /// When the next call will be tried.
        retry_after_seconds: u64,
    },
    /// The call was refused locally (e.g. a scene longer than 64 bytes).
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
    /// A menu WeChat would refuse, refused before sending: every problem, each with its path
    /// (see `Menu::validate`).
    #[error("menu refused before sending: {}", .0.join("; "))]
    InvalidMenu(Vec<String>),
}

impl Error {
    /// The `errcode` of an API error.
    pub fn errcode(&self) -> Option<i64> {
        match self {
            Error::Api { errcode, .. } => Some(*errcode),
            _ => None,
        }
    }

    /// The access token was refused (40001 invalid or not latest, 40014 invalid, 42001
    /// expired): refetch and retry once.
    pub fn is_token_invalid(&self) -> bool {
        matches!(self.errcode(), Some(40001 | 40014 | 42001))
    }

    /// WeChat did not answer at all (no connection, timeout, non-2xx): what the circuit
    /// breaker counts.
    pub fn is_transport(&self) -> bool {
        matches!(self, Error::Http(_) | Error::Timeout)
    }

    /// WeChat is busy (-1): retry with backoff.
    pub fn is_busy(&self) -> bool {
        self.errcode() == Some(-1)
    }

    /// Retrying cannot help; the configuration or the account must change (wrong appid or
    /// secret, IP not whitelisted, secret frozen, API not permitted for this account).
    pub fn is_config_error(&self) -> bool {
        matches!(
            self.errcode(),
            Some(40013 | 40125 | 40164 | 61004 | 40243 | 48001)
        )
    }

    /// A short, bounded label for metrics (`outcome` of `scangate_wechat_api_requests_total`).
    pub fn label(&self) -> &'static str {
        match self {
            Error::Api { .. } if self.is_busy() => "busy",
            Error::Api { .. } if self.is_token_invalid() => "token_invalid",
            Error::Api { .. } => "api_error",
            Error::Http(_) => "http",
            Error::Decode(_) => "decode",
            Error::Timeout => "timeout",
            Error::Unavailable { .. } => "circuit_open",
            Error::InvalidArgument(_) | Error::InvalidMenu(_) => "invalid_argument",
        }
    }

    /// What an operator should know about this error's `errcode`, in plain words
    /// (see [`super::explain()`]).
    pub fn explanation(&self) -> Option<&'static str> {
        self.errcode().and_then(super::explain::explain)
    }

    /// WeChat's request id (the `rid: ...` at the end of `errmsg`), which Tencent's support
    /// asks for.
    pub fn rid(&self) -> Option<&str> {
        match self {
            Error::Api { errmsg, .. } => split_rid(errmsg).1,
            _ => None,
        }
    }

    /// The `errcode` as a metric label: the number for codes operators meet (bounded, so a
    /// label per code is affordable), `other` for the rest, `none` when WeChat answered no
    /// code (transport, decode, local refusals).
    pub fn errcode_label(&self) -> Cow<'static, str> {
        match self.errcode() {
            Some(code) if is_labelled(code) => Cow::Owned(code.to_string()),
            Some(_) => Cow::Borrowed("other"),
            None => Cow::Borrowed("none"),
        }
    }

    /// What this failure means for the person waiting for a login. Called on a final error:
    /// a refused token here already failed its one retry, so it is the configuration's fault.
    pub fn impact(&self) -> Impact {
        match self.errcode() {
            Some(-1) => Impact::Busy {
                retry_after_seconds: 10,
            },
            // A daily quota (qrcode/create) or a per-minute limit (getwxacodeunlimit, 45011):
            // which one is the operator's to read in the log; the person can only come back.
            // 44990: generate_urllink's per-second limit.
            Some(45009 | 45011 | 44990) => Impact::Busy {
                retry_after_seconds: 60,
            },
            Some(_) if self.is_config_error() || self.is_token_invalid() => Impact::Misconfigured,
            Some(41001 | 41002 | 41004 | 41030 | 40097 | 50002) => Impact::Misconfigured,
            // generate_urllink: the page is not published (40165), nothing is (85079).
            Some(40165 | 85079) => Impact::Misconfigured,
            _ => Impact::Unavailable,
        }
    }
}

/// What a failed WeChat call means for the person waiting on it: what they are told, and
/// whether trying again can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Impact {
    /// WeChat refuses for now (busy, a quota or rate limit): trying later can help.
    Busy { retry_after_seconds: u64 },
    /// Nothing helps until the operator changes the configuration or the account.
    Misconfigured,
    /// WeChat did not answer, or answered something unexpected: trying again may help.
    Unavailable,
}

/// `errmsg` without WeChat's trailing `rid: ...`, and the rid. WeChat writes
/// `"invalid credential, access_token is invalid or not latest rid: 6523a3c4-..."`.
pub fn split_rid(errmsg: &str) -> (&str, Option<&str>) {
    match errmsg.rfind("rid:") {
        Some(at) => {
            let rid = errmsg[at + 4..].trim();
            let text = errmsg[..at].trim_end().trim_end_matches(',').trim_end();
            (text, Some(rid).filter(|r| !r.is_empty()))
        }
        None => (errmsg.trim(), None),
    }
}

/// Codes worth a label of their own: the ones [`super::explain()`] knows, and those the
/// login flow meets.
fn is_labelled(code: i64) -> bool {
    super::explain::explain(code).is_some()
        || matches!(code, 40029 | 40097 | 40163 | 41030 | 40165 | 44990 | 85079)
}

/// Keeps the position and class of a JSON error, never the offending value (it could be a
/// token).
pub(crate) fn json_error(e: serde_json::Error) -> Error {
    Error::Decode(format!(
        "{:?} error at line {} column {}",
        e.classify(),
        e.line(),
        e.column()
    ))
}

/// A transport error without its URL (which carries `access_token=...`), with its causes.
pub(crate) fn transport(e: reqwest::Error) -> Error {
    if e.is_timeout() {
        return Error::Timeout;
    }
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    Error::Http(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_classes() {
        let api = |errcode| Error::Api {
            errcode,
            errmsg: String::new(),
        };
        for code in [40001, 40014, 42001] {
            assert!(
                api(code).is_token_invalid() && !api(code).is_config_error(),
                "{code}"
            );
            assert_eq!(api(code).label(), "token_invalid");
        }
        for code in [40013, 40125, 40164, 61004, 40243, 48001] {
            assert!(
                api(code).is_config_error() && !api(code).is_token_invalid(),
                "{code}"
            );
        }
        assert!(api(-1).is_busy() && !api(45009).is_busy());
        assert_eq!(api(-1).label(), "busy");
        assert_eq!(api(45009).label(), "api_error");
        assert_eq!(Error::Timeout.label(), "timeout");
        assert_eq!(Error::Timeout.errcode(), None);
    }

    #[test]
    fn the_rid_is_split_off_the_message() {
        let e = Error::Api {
            errcode: 45009,
            errmsg: "reach max api daily quota limit rid: 6523a3c4-1b2c3d4e-5f607182".into(),
        };
        assert_eq!(e.rid(), Some("6523a3c4-1b2c3d4e-5f607182"));
        assert_eq!(
            split_rid("invalid credential, access_token is invalid or not latest, rid: ab-1"),
            (
                "invalid credential, access_token is invalid or not latest",
                Some("ab-1")
            )
        );
        assert_eq!(split_rid("ok"), ("ok", None));
        assert_eq!(split_rid("odd rid:"), ("odd", None));
        assert_eq!(Error::Timeout.rid(), None);
    }

    #[test]
    fn a_person_is_told_what_a_failure_means_for_them() {
        let api = |errcode| Error::Api {
            errcode,
            errmsg: String::new(),
        };
        for code in [45009, 45011] {
            assert_eq!(
                api(code).impact(),
                Impact::Busy {
                    retry_after_seconds: 60
                },
                "{code}"
            );
        }
        assert!(matches!(api(-1).impact(), Impact::Busy { .. }));
        // Configuration: credentials, whitelist, permissions, an unpublished page, and a
        // token refused again after its one retry.
        for code in [40001, 40013, 40125, 40164, 41030, 48001, 61004] {
            assert_eq!(api(code).impact(), Impact::Misconfigured, "{code}");
        }
        for e in [
            Error::Timeout,
            Error::Http("HTTP status 502".into()),
            Error::Decode("x".into()),
            api(44002),
        ] {
            assert_eq!(e.impact(), Impact::Unavailable, "{e}");
        }
    }

    #[test]
    fn errcode_labels_are_bounded() {
        let api = |errcode| Error::Api {
            errcode,
            errmsg: String::new(),
        };
        assert_eq!(api(45009).errcode_label(), "45009");
        assert_eq!(api(41030).errcode_label(), "41030");
        assert_eq!(api(-1).errcode_label(), "-1");
        assert_eq!(api(987_654_321).errcode_label(), "other");
        assert_eq!(Error::Timeout.errcode_label(), "none");
    }

    #[test]
    fn json_errors_keep_only_the_position() {
        let e = serde_json::from_str::<u32>("\"secret-token-value\"").unwrap_err();
        let Error::Decode(text) = json_error(e) else {
            panic!()
        };
        assert!(!text.contains("secret-token-value"), "{text}");
        assert!(text.contains("line 1"), "{text}");
    }
}
