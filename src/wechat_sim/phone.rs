//! The simulated phone: scanning a QR code and delivering the resulting push to the callback
//! the way WeChat does (signed, encrypted per mode, 5 s timeout), then reading the reply.

use std::sync::atomic::Ordering;
use std::time::Instant;

use rand::Rng;

use super::wire::{self, event_xml, SealedPush};
use super::{state, unix_now, ScanOutcome, SimError, SimHandle, SimUser};

impl SimHandle {
    /// The phone scans the QR code of `ticket`: pushes `subscribe` with
    /// `EventKey=qrscene_<scene>` if the user does not follow yet (and from then on they do),
    /// or `SCAN` with `EventKey=<scene>`, with `Ticket`, to the callback. Returns the callback's
    /// answer. Fails without pushing for unknown or expired tickets, as WeChat does.
    pub async fn scan(&self, ticket: &str, user: &SimUser) -> Result<ScanOutcome, SimError> {
        let now = unix_now();
        let xml = {
            let mut inner = self.shared.lock();
            let code = inner.tickets.get(ticket).ok_or(SimError::UnknownTicket)?;
            if code.expires_at.is_some_and(|at| Instant::now() >= at) {
                return Err(SimError::TicketExpired);
            }
            let scene = code.scene.clone();
            let record = inner
                .users
                .entry(user.openid.clone())
                .or_insert(state::UserRecord {
                    unionid: None,
                    subscribed: false,
                    subscribe_time: 0,
                    qr_scene_str: None,
                });
            record.unionid = user.unionid.clone();
            let (event, key) = if user.follows {
                ("SCAN", scene.clone())
            } else {
                record.subscribe_time = now;
                record.qr_scene_str = Some(scene.clone());
                ("subscribe", format!("qrscene_{scene}"))
            };
            record.subscribed = true;
            event_xml(
                &self.original_id,
                &user.openid,
                now,
                event,
                Some(&key),
                Some(ticket),
            )
        };
        self.push_raw(&xml).await
    }

    /// Signs (and encrypts, per the push mode) any XML and POSTs it to the callback: for
    /// duplicates, junk and hand-made events.
    pub async fn push_raw(&self, xml: &str) -> Result<ScanOutcome, SimError> {
        let sealed = self.seal(xml);
        self.post(&sealed).await
    }

    /// The signed request for `xml` in the current push mode, with a fresh timestamp and nonce,
    /// for tests that tamper with it before [`SimHandle::post`].
    pub fn seal(&self, xml: &str) -> SealedPush {
        let mut rng = rand::thread_rng();
        let nonce = rng.gen_range(100_000_000u32..2_000_000_000).to_string();
        let random: [u8; 16] =
            std::array::from_fn(|_| rng.sample(rand::distributions::Alphanumeric));
        let openid = wire::element_text(xml, "FromUserName");
        self.wire.seal(
            xml,
            self.push_mode(),
            unix_now(),
            &nonce,
            &random,
            openid.as_deref(),
        )
    }

    /// POSTs a sealed push and reads the answer the way WeChat does.
    pub async fn post(&self, sealed: &SealedPush) -> Result<ScanOutcome, SimError> {
        self.shared.counters.pushes.fetch_add(1, Ordering::SeqCst);
        let mode = self.push_mode();
        let (status, body) = self
            .post_bytes(&sealed.query, sealed.body.as_bytes().to_vec())
            .await?;
        let reply = self.wire.open_reply(mode, &body);
        Ok(ScanOutcome {
            status,
            body,
            reply,
        })
    }

    /// POSTs arbitrary bytes with an arbitrary query to the callback; returns status and body.
    pub async fn post_bytes(&self, query: &str, body: Vec<u8>) -> Result<(u16, String), SimError> {
        let response = self
            .http
            .post(self.callback_with(query))
            .header(reqwest::header::CONTENT_TYPE, "text/xml")
            .body(body)
            .send()
            .await
            .map_err(|e| SimError::Callback(e.without_url().to_string()))?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .map_err(|e| SimError::Callback(e.without_url().to_string()))?;
        Ok((status, text))
    }

    /// The admin console's "submit" of the server URL: a signed GET with a random `echostr`.
    /// True when the callback answered 200 with exactly that `echostr`.
    pub async fn verify_url(&self) -> Result<bool, SimError> {
        let (nonce, echostr) = {
            let mut rng = rand::thread_rng();
            (
                rng.gen_range(100_000_000u32..2_000_000_000).to_string(),
                rng.gen_range(1_000_000_000_000_000_000u64..u64::MAX)
                    .to_string(),
            )
        };
        let query = self.wire.verification_query(unix_now(), &nonce, &echostr);
        let response = self
            .http
            .get(self.callback_with(&query))
            .send()
            .await
            .map_err(|e| SimError::Callback(e.without_url().to_string()))?;
        let ok = response.status() == reqwest::StatusCode::OK;
        let text = response
            .text()
            .await
            .map_err(|e| SimError::Callback(e.without_url().to_string()))?;
        Ok(ok && text == echostr)
    }
}
