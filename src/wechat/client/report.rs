//! One log line per failed WeChat call, written when the call has finally failed (after its
//! busy retries and its one token refresh), with what WeChat said — `errcode`, `errmsg`, `rid`
//! — and what it means for this API in plain words ([`explain_for`]).
//!
//! Written after the client removed the caller's codes and secrets from the error, so the
//! line can show WeChat's text as is.

use super::Api;
use crate::wechat::error::{split_rid, Error, Impact};
use crate::wechat::explain::explain_for;

/// Logs `outcome`'s failure, if any, and hands `outcome` back.
pub(super) fn outcome<T>(api: Api, outcome: Result<T, Error>) -> Result<T, Error> {
    if let Err(e) = &outcome {
        failure(api, e);
    }
    outcome
}

fn failure(api: Api, e: &Error) {
    let api_label = api.label();
    let Error::Api { errcode, errmsg } = e else {
        tracing::warn!(api = api_label, error = %e, "WeChat call failed");
        return;
    };
    let (errmsg, rid) = split_rid(errmsg);
    let rid = rid.unwrap_or("-");
    let explanation = explain_for(api, *errcode).unwrap_or("see WeChat's errmsg");
    if matches!(errcode, 40029 | 40163) {
        // A code from a page that was replayed or went stale: the caller's, not ours.
        tracing::info!(
            api = api_label,
            errcode,
            errmsg,
            rid,
            "WeChat refused a code"
        );
        return;
    }
    match e.impact() {
        Impact::Misconfigured => tracing::error!(
            api = api_label,
            errcode,
            errmsg,
            rid,
            explanation,
            "WeChat refused a call: the configuration or the account must change"
        ),
        Impact::Busy { .. } => tracing::warn!(
            api = api_label,
            errcode,
            errmsg,
            rid,
            explanation,
            "WeChat refused a call for now"
        ),
        Impact::Unavailable => tracing::warn!(
            api = api_label,
            errcode,
            errmsg,
            rid,
            explanation,
            "WeChat refused a call"
        ),
    }
}
