//! The error of WeChat API calls and its classification (wechat-protocol.md §1, §2.4).

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
    /// (see [`explain`]).
    pub fn explanation(&self) -> Option<&'static str> {
        self.errcode().and_then(explain)
    }
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
    fn json_errors_keep_only_the_position() {
        let e = serde_json::from_str::<u32>("\"secret-token-value\"").unwrap_err();
        let Error::Decode(text) = json_error(e) else {
            panic!()
        };
        assert!(!text.contains("secret-token-value"), "{text}");
        assert!(text.contains("line 1"), "{text}");
    }
}
