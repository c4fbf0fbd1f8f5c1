//! Forwarding WeChat pushes to the Official Account's own backend (`forward_url`).
//!
//! WeChat allows one server URL per account; scangate takes it over for logins, so every
//! other push is passed on **verbatim**: the same query string (`signature`, `timestamp`,
//! `nonce`, `msg_signature`, ...) and the same body bytes, so the backend's own signature
//! check and decryption keep working unchanged. Its answer (already sealed by the backend
//! with the same Token and key) is relayed to WeChat when it comes within the time left of
//! WeChat's 5 s; a later answer is dropped with a log line. The backend also learns who sent
//! the push (`X-Forwarded-For`, `X-Real-IP`, WeChat's `User-Agent`), so one that checks
//! WeChat's source addresses keeps working behind the gateway.

use std::net::IpAddr;
use std::time::Duration;

use bytes::Bytes;
use http::HeaderValue;

use super::own_request::OwnRequest;

/// Who sent a push, as the backend would have seen it without the gateway in between.
#[derive(Clone, Debug)]
pub struct ForwardedFrom {
    /// The sender's address, after `X-Forwarded-For` from trusted proxies.
    pub client: IpAddr,
    pub user_agent: Option<HeaderValue>,
}

impl ForwardedFrom {
    pub fn of(req: &OwnRequest<'_>) -> Self {
        ForwardedFrom {
            client: req.client,
            user_agent: req.headers.get(http::header::USER_AGENT).cloned(),
        }
    }
}

/// Why a push could not be forwarded (logged; WeChat then gets `success`).
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error("the account's backend did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the account's backend answered HTTP {0}")]
    Status(u16),
    #[error("the account's backend could not be reached: {0}")]
    Transport(String),
}

#[derive(Clone)]
pub struct Forwarder {
    client: reqwest::Client,
    url: String,
}

impl Forwarder {
    pub fn new(url: &str) -> Result<Self, ForwardError> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ForwardError::Transport(e.to_string()))?;
        Ok(Forwarder {
            client,
            url: url.to_string(),
        })
    }

    /// The backend URL with WeChat's query string appended as received.
    fn target(&self, query: Option<&str>) -> String {
        match query.filter(|q| !q.is_empty()) {
            None => self.url.clone(),
            Some(q) if self.url.contains('?') => format!("{}&{q}", self.url),
            Some(q) => format!("{}?{q}", self.url),
        }
    }

    /// POSTs `body` as WeChat sent it and returns the backend's answer body, if it answers
    /// 2xx within `budget`.
    pub async fn forward(
        &self,
        query: Option<&str>,
        body: Bytes,
        from: &ForwardedFrom,
        budget: Duration,
    ) -> Result<Bytes, ForwardError> {
        // The gateway is the backend's only client, so the sender it names is the whole chain.
        let client = from.client.to_string();
        let mut request = self
            .client
            .post(self.target(query))
            .header(http::header::CONTENT_TYPE, "text/xml")
            .header("x-forwarded-for", &client)
            .header("x-real-ip", &client);
        if let Some(agent) = &from.user_agent {
            request = request.header(http::header::USER_AGENT, agent.clone());
        }
        let request = request.body(body).send();
        let call = async {
            let response = request
                .await
                .map_err(|e| ForwardError::Transport(e.without_url().to_string()))?;
            let status = response.status();
            if !status.is_success() {
                return Err(ForwardError::Status(status.as_u16()));
            }
            response
                .bytes()
                .await
                .map_err(|e| ForwardError::Transport(e.without_url().to_string()))
        };
        tokio::time::timeout(budget, call)
            .await
            .map_err(|_| ForwardError::Timeout(budget))?
    }
}

/// True when a backend's answer is a message WeChat should deliver (not empty, not the
/// `success` acknowledgement).
pub fn is_message(reply: &[u8]) -> bool {
    let trimmed = reply.trim_ascii();
    !trimmed.is_empty() && trimmed != b"success"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_is_appended_as_received() {
        let f = Forwarder::new("http://backend/wx").unwrap();
        assert_eq!(
            f.target(Some("signature=a%2Bb&timestamp=1")),
            "http://backend/wx?signature=a%2Bb&timestamp=1"
        );
        assert_eq!(f.target(None), "http://backend/wx");
        let f = Forwarder::new("http://backend/wx?tenant=3").unwrap();
        assert_eq!(
            f.target(Some("nonce=9")),
            "http://backend/wx?tenant=3&nonce=9"
        );
    }

    #[test]
    fn success_and_empty_are_not_messages() {
        assert!(!is_message(b""));
        assert!(!is_message(b"success"));
        assert!(!is_message(b" success\n"));
        assert!(is_message(b"<xml><Encrypt>..</Encrypt></xml>"));
    }
}
