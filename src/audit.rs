//! The audit log: one structured line per security-relevant event, on the tracing target
//! `audit`, so operators can route it apart from the access log (`target: access`).
//!
//! Every line names the event, the client address and whoever it concerns: user id, openid,
//! a masked phone (`+86138****8000`), never a full number, a token, a code or a secret. The
//! functions take typed values (not strings) so that a caller cannot pass a raw phone by
//! mistake.

use std::net::IpAddr;

use crate::identity::{Identity, Phone, UserId};

/// The tracing target of every audit line.
pub const TARGET: &str = "audit";

/// A session was issued (ticket exchanged).
pub fn login(identity: &Identity, client: IpAddr) {
    tracing::info!(
        target: TARGET,
        event = "login",
        user_id = %identity.user_id,
        openid = identity.openid.as_ref().map_or("-", |o| o.as_str()),
        phone = %masked(identity.phone.as_ref()),
        method = %identity.method,
        client = %client,
    );
}

/// A phone number was bound to the user of a login attempt.
pub fn bind(attempt: &str, phone: &Phone, client: IpAddr) {
    tracing::info!(
        target: TARGET,
        event = "bind",
        attempt,
        phone = %phone.masked(),
        client = %client,
    );
}

/// The user logged out.
pub fn logout(user_id: &UserId, client: IpAddr) {
    tracing::info!(target: TARGET, event = "logout", user_id = %user_id, client = %client);
}

/// A bearer token for backend `audience` was handed to the user's page (the token itself is
/// never logged).
pub fn token(user_id: &UserId, audience: &str, client: IpAddr) {
    tracing::info!(
        target: TARGET,
        event = "token",
        user_id = %user_id,
        audience,
        client = %client,
    );
}

/// A session was revoked for `reason` (other than the user's logout).
pub fn revoke(user_id: &UserId, reason: &'static str, client: IpAddr) {
    tracing::info!(
        target: TARGET,
        event = "revoke",
        user_id = %user_id,
        reason,
        client = %client,
    );
}

/// A push to the WeChat callback was refused before it was read.
pub fn callback_denied(reason: &str, client: IpAddr) {
    tracing::warn!(target: TARGET, event = "callback_denied", reason, client = %client);
}

/// A request was refused by a rate limit.
pub fn rate_limited(endpoint: &str, client: IpAddr) {
    tracing::info!(target: TARGET, event = "rate_limited", endpoint, client = %client);
}

/// Who performed an operator action: `scangate users` or the admin API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Actor {
    Cli,
    Api,
}

impl Actor {
    pub fn as_str(self) -> &'static str {
        match self {
            Actor::Cli => "cli",
            Actor::Api => "api",
        }
    }
}

/// An operator acted on a user (`event` is `admin_revoke`, `admin_block`, ...). `phone` is
/// the number concerned, masked here; `count` is how many users an export wrote.
pub fn admin(
    event: &'static str,
    actor: Actor,
    user_id: Option<&UserId>,
    phone: Option<&Phone>,
    count: Option<u64>,
) {
    tracing::info!(
        target: TARGET,
        event,
        actor = actor.as_str(),
        user_id = user_id.map_or("-", UserId::as_str),
        phone = %masked(phone),
        count,
    );
}

fn masked(phone: Option<&Phone>) -> String {
    phone.map_or_else(|| "-".to_string(), Phone::masked)
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::identity::{LoginMethod, OpenId, UnionId};

    /// Collects what a JSON subscriber writes while `f` runs.
    fn captured(f: impl FnOnce()) -> Vec<serde_json::Value> {
        #[derive(Clone, Default)]
        struct Buf(Arc<Mutex<Vec<u8>>>);
        impl Write for Buf {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buf = Buf::default();
        let writer = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn each_event_is_one_line_with_who_and_where_and_no_full_phone() {
        let phone = Phone::parse("+8613800138000").unwrap();
        let identity = Identity {
            user_id: UserId::new("u_1"),
            openid: Some(OpenId::new("o_abc")),
            unionid: Some(UnionId::new("un_1")),
            phone: Some(phone.clone()),
            method: LoginMethod::OfficialAccount,
        };
        let client: IpAddr = "203.0.113.9".parse().unwrap();
        let lines = captured(|| {
            login(&identity, client);
            bind("att1", &phone, client);
            logout(&identity.user_id, client);
            revoke(&identity.user_id, "login_started", client);
            callback_denied("bad signature", client);
            rate_limited("qr", client);
        });
        let admin_lines = captured(|| {
            admin(
                "admin_set_phone",
                Actor::Api,
                Some(&identity.user_id),
                Some(&phone),
                None,
            );
            admin("admin_export", Actor::Cli, None, None, Some(3));
        });
        assert_eq!(admin_lines[0]["fields"]["event"], "admin_set_phone");
        assert_eq!(admin_lines[0]["fields"]["actor"], "api");
        assert_eq!(admin_lines[0]["fields"]["user_id"], "u_1");
        assert_eq!(admin_lines[0]["fields"]["phone"], phone.masked());
        assert_eq!(admin_lines[1]["fields"]["actor"], "cli");
        assert_eq!(admin_lines[1]["fields"]["count"], 3);
        for line in &admin_lines {
            assert_eq!(line["target"], TARGET, "{line}");
            assert!(!line.to_string().contains("13800138000"), "{line}");
        }
        let events: Vec<&str> = lines
            .iter()
            .map(|l| l["fields"]["event"].as_str().unwrap())
            .collect();
        assert_eq!(
            events,
            [
                "login",
                "bind",
                "logout",
                "revoke",
                "callback_denied",
                "rate_limited"
            ]
        );
        for line in &lines {
            assert_eq!(line["target"], TARGET, "{line}");
            assert_eq!(line["fields"]["client"], "203.0.113.9", "{line}");
            assert!(!line.to_string().contains("13800138000"), "{line}");
        }
        assert_eq!(lines[0]["fields"]["user_id"], "u_1");
        assert_eq!(lines[0]["fields"]["openid"], "o_abc");
        assert_eq!(lines[0]["fields"]["phone"], phone.masked());
        assert_eq!(lines[1]["fields"]["phone"], phone.masked());
        assert_eq!(lines[3]["fields"]["reason"], "login_started");
    }
}
