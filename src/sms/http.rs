//! The HTTP side every provider shares: one client setup and one reading of transport
//! errors.

use std::time::Duration;

use super::SmsError;

/// Whole-request timeout of a provider call. The person is waiting on the phone form.
pub const PROVIDER_TIMEOUT: Duration = Duration::from_secs(5);

/// Largest answer read from a provider: theirs are a few hundred bytes.
pub(crate) const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// A client that gives up after `timeout` and follows no redirect (a redirect would carry
/// the code, or a signed request, elsewhere).
pub(crate) fn client(timeout: Duration) -> Result<reqwest::Client, SmsError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| SmsError::Unavailable(e.without_url().to_string()))
}

/// A transport error without its URL (it may hold credentials). The body, which holds the
/// code, is never part of a reqwest error.
pub(crate) fn transport(e: reqwest::Error) -> SmsError {
    if e.is_timeout() {
        return SmsError::Timeout;
    }
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    SmsError::Transport(text)
}

/// `host` or `host:port` of an endpoint URL, as the `Host` header carries it.
pub(crate) fn host_of(endpoint: &str) -> Result<String, SmsError> {
    let url = reqwest::Url::parse(endpoint)
        .map_err(|e| SmsError::Unavailable(format!("login.sms.endpoint: {e}")))?;
    let host = url
        .host_str()
        .ok_or_else(|| SmsError::Unavailable("login.sms.endpoint has no host".to_string()))?;
    Ok(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    })
}

/// The answer's status and body, the body cut at [`MAX_ANSWER_BYTES`].
pub(crate) async fn read_answer(
    mut response: reqwest::Response,
) -> Result<(u16, Vec<u8>), SmsError> {
    let status = response.status().as_u16();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport)? {
        let room = MAX_ANSWER_BYTES.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= MAX_ANSWER_BYTES {
            break;
        }
    }
    Ok((status, body))
}
