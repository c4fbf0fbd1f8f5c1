//! `POST /cgi-bin/openapi/quota/get` (getApiQuota) and the daily quotas behind it: the
//! simulator counts the calls it served of each API that logins spend, and answers 45009
//! once an API's daily limit is spent, as WeChat does until midnight Beijing time.
//!
//! Answer shape (WeChat's documentation of getApiQuota):
//! `{"errcode":0,"errmsg":"ok","quota":{"daily_limit":100000,"used":3,"remain":99997}}`.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Serialize;
use serde_json::Value;

use super::api::{json, wx_error, Params, Shr};
use super::SimApi;

/// `qrcode/create`'s daily limit for a Service Account (wechat-protocol.md §3.3).
pub const QRCODE_CREATE_DAILY: u64 = 100_000;
/// `getwxacodeunlimit` is not limited by day, only to 5,000 a minute: as a daily figure that
/// is 5,000 × 1,440.
pub const WXACODE_DAILY: u64 = 5_000 * 1_440;

/// What the simulator counts per `cgi_path`.
#[derive(Default)]
pub(super) struct Quotas {
    /// Limits set by tests; otherwise [`default_limit`].
    limits: HashMap<String, u64>,
    used: HashMap<String, u64>,
}

fn default_limit(cgi_path: &str) -> u64 {
    match cgi_path {
        "/wxa/getwxacodeunlimit" => WXACODE_DAILY,
        // WeChat's default for the APIs this simulator does not single out.
        _ => QRCODE_CREATE_DAILY,
    }
}

impl Quotas {
    pub fn limit(&self, cgi_path: &str) -> u64 {
        self.limits
            .get(cgi_path)
            .copied()
            .unwrap_or_else(|| default_limit(cgi_path))
    }

    pub fn used(&self, cgi_path: &str) -> u64 {
        self.used.get(cgi_path).copied().unwrap_or(0)
    }

    pub fn set_limit(&mut self, cgi_path: &str, limit: u64) {
        self.limits.insert(cgi_path.to_owned(), limit);
    }

    pub fn set_used(&mut self, cgi_path: &str, used: u64) {
        self.used.insert(cgi_path.to_owned(), used);
    }

    /// Spends one call of `cgi_path`; `Err(45009)` when today's are used up.
    pub fn spend(&mut self, cgi_path: &str) -> Result<(), i64> {
        let used = self.used(cgi_path);
        if used >= self.limit(cgi_path) {
            return Err(45009);
        }
        self.used.insert(cgi_path.to_owned(), used + 1);
        Ok(())
    }
}

#[derive(Serialize)]
struct QuotaBody {
    errcode: i64,
    errmsg: &'static str,
    quota: QuotaFields,
}

#[derive(Serialize)]
struct QuotaFields {
    daily_limit: u64,
    used: u64,
    remain: u64,
}

pub(super) async fn quota_get(State(s): Shr, Query(q): Params, body: Bytes) -> Response {
    if let Some(code) = s.enter(SimApi::QuotaGet, &s.counters.quota_gets).await {
        return wx_error(code);
    }
    // Either account's token: each asks about its own APIs.
    let token = q.get("access_token");
    if s.check_token(token).is_err() && s.check_mp_token(token).is_err() {
        return wx_error(s.check_token(token).err().unwrap_or(40001));
    }
    let Ok(req) = serde_json::from_slice::<Value>(&body) else {
        return wx_error(47001);
    };
    let Some(cgi_path) = req.get("cgi_path").and_then(Value::as_str) else {
        return wx_error(47001);
    };
    if !cgi_path.starts_with('/') {
        return wx_error(40097);
    }
    // WeChat does not count web-authorization APIs this way.
    if cgi_path.contains("/sns/") {
        return wx_error(76022);
    }
    let inner = s.lock();
    let (limit, used) = (inner.quotas.limit(cgi_path), inner.quotas.used(cgi_path));
    json(&QuotaBody {
        errcode: 0,
        errmsg: "ok",
        quota: QuotaFields {
            daily_limit: limit,
            used,
            remain: limit.saturating_sub(used),
        },
    })
}
