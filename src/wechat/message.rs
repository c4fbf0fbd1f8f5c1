//! The XML WeChat pushes to the callback (wechat-protocol.md §5), parsed with quick-xml.
//!
//! [`parse_push`] needs a [`VerifiedCallback`]: the body reaches the parser only after its
//! signature (plain mode) or `msg_signature` (encrypted modes) has been checked. The envelope
//! readers below extract the ciphertext that signature covers, and nothing else.

use serde::Deserialize;

use super::signature::VerifiedCallback;

/// The XML could not be read. Messages may quote parts of the body (never a secret: bodies are
/// signed but not confidential once decrypted); they are for logs, not for the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    /// Not well-formed XML, a required element missing or of the wrong type, an element twice.
    #[error("malformed XML: {0}")]
    Malformed(String),
    /// A DOCTYPE declaration: never sent by WeChat, refused so no entity tricks are possible.
    #[error("DOCTYPE declarations are not accepted")]
    Doctype,
}

/// Fields every push carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// `ToUserName`: the Official Account's original id (`gh_...`).
    pub to_user: String,
    /// `FromUserName`: the user's openid for this Official Account. The only trustworthy source
    /// of the user (the `openid` query parameter is not signed).
    pub from_user: String,
    /// `CreateTime`, Unix seconds as WeChat stamped it (not our clock).
    pub create_time: u64,
    /// `MsgId` of ordinary messages (64-bit, kept as text); events have none.
    pub msg_id: Option<String>,
}

/// What a push means to us (§5.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushKind {
    /// A follow. `scene` is set when the follow came from a parametric QR code
    /// (`EventKey` = `qrscene_<scene>`); `ticket` is that code's ticket.
    Subscribe {
        /// The QR code's scene, `qrscene_` stripped.
        scene: Option<String>,
        /// The QR code's ticket (`Ticket`).
        ticket: Option<String>,
    },
    /// An existing follower scanned a parametric QR code (`EventKey` = `<scene>`).
    Scan {
        /// The QR code's scene.
        scene: String,
        /// The QR code's ticket (`Ticket`).
        ticket: Option<String>,
    },
    /// The user unfollowed; a passive reply cannot reach them.
    Unsubscribe,
    /// A text message the user sent.
    Text {
        /// `Content`.
        content: String,
    },
    /// Anything else (`image`, `CLICK`, `LOCATION`, a `SCAN` without `EventKey`, ...).
    Other {
        /// `MsgType` as sent.
        msg_type: String,
        /// `Event` as sent, for events.
        event: Option<String>,
    },
}

/// A verified, parsed push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Push {
    /// Who, to whom, when.
    pub header: Header,
    /// What.
    pub kind: PushKind,
    dedupe_key: String,
}

impl Push {
    /// The key under which WeChat's retries of this push are recognised (§4.4, pitfall 9):
    /// events by `FromUserName`, `CreateTime`, `Event` and `EventKey`; messages by `MsgId`,
    /// `FromUserName` and `CreateTime` (MsgId alone has collided). `EventKey` comes last, so
    /// the only field that may contain `:` cannot make two keys collide.
    pub fn dedupe_key(&self) -> &str {
        &self.dedupe_key
    }

    /// The passive text reply to this push (To/From swapped), stamped `now` (Unix seconds).
    pub fn text_reply(&self, content: &str, now: u64) -> String {
        super::reply::text_reply(&self.header.from_user, &self.header.to_user, now, content)
    }
}

#[derive(Deserialize)]
struct RawPush {
    #[serde(rename = "ToUserName")]
    to_user: String,
    #[serde(rename = "FromUserName")]
    from_user: String,
    #[serde(rename = "CreateTime")]
    create_time: u64,
    #[serde(rename = "MsgType")]
    msg_type: String,
    #[serde(rename = "Event", default)]
    event: Option<String>,
    #[serde(rename = "EventKey", default)]
    event_key: Option<String>,
    #[serde(rename = "Ticket", default)]
    ticket: Option<String>,
    #[serde(rename = "Content", default)]
    content: Option<String>,
    #[serde(rename = "MsgId", default)]
    msg_id: Option<String>,
}

const QR_SCENE_PREFIX: &str = "qrscene_";

/// Parses a push (the plaintext XML, or the decrypted `Encrypt` of an encrypted push).
/// Unknown elements are ignored; `Event` is compared case-insensitively; an empty `EventKey`
/// or `Ticket` counts as absent.
pub fn parse_push(xml: &str, _verified: &VerifiedCallback) -> Result<Push, XmlError> {
    let raw: RawPush = from_xml(xml)?;
    let event_key = non_empty(raw.event_key);
    let ticket = non_empty(raw.ticket);
    let event = non_empty(raw.event);
    let is_event = raw.msg_type.eq_ignore_ascii_case("event");

    let kind = match (is_event, event.as_deref()) {
        (true, Some(ev)) if ev.eq_ignore_ascii_case("subscribe") => PushKind::Subscribe {
            scene: event_key
                .as_deref()
                .and_then(|key| key.strip_prefix(QR_SCENE_PREFIX))
                .filter(|scene| !scene.is_empty())
                .map(str::to_owned),
            ticket,
        },
        (true, Some(ev)) if ev.eq_ignore_ascii_case("scan") && event_key.is_some() => {
            PushKind::Scan {
                scene: event_key.clone().unwrap_or_default(),
                ticket,
            }
        }
        (true, Some(ev)) if ev.eq_ignore_ascii_case("unsubscribe") => PushKind::Unsubscribe,
        (false, _) if raw.msg_type == "text" => PushKind::Text {
            content: raw.content.unwrap_or_default(),
        },
        _ => PushKind::Other {
            msg_type: raw.msg_type.clone(),
            event: event.clone(),
        },
    };

    let msg_id = non_empty(raw.msg_id);
    let dedupe_key = if is_event {
        format!(
            "event:{}:{}:{}:{}",
            raw.from_user,
            raw.create_time,
            event.as_deref().unwrap_or(""),
            event_key.as_deref().unwrap_or("")
        )
    } else if let Some(id) = &msg_id {
        format!("msg:{}:{}:{}", id, raw.from_user, raw.create_time)
    } else {
        format!(
            "other:{}:{}:{}",
            raw.from_user, raw.create_time, raw.msg_type
        )
    };

    Ok(Push {
        header: Header {
            to_user: raw.to_user,
            from_user: raw.from_user,
            create_time: raw.create_time,
            msg_id,
        },
        kind,
        dedupe_key,
    })
}

/// The outer XML of a callback body, read before verification: in encrypted modes the
/// `msg_signature` covers `Encrypt`, which lives in the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// `Encrypt`, when present (compatible and safe mode).
    pub encrypt: Option<String>,
    /// True when plaintext message fields sit next to `Encrypt` (compatible mode, §6.6).
    pub has_plain_fields: bool,
}

#[derive(Deserialize)]
struct RawEnvelope {
    #[serde(rename = "Encrypt", default)]
    encrypt: Option<String>,
    #[serde(rename = "MsgType", default)]
    msg_type: Option<String>,
}

/// Reads the envelope of a callback body. It yields no message: the caller still verifies
/// and decrypts, and only then calls [`parse_push`].
pub fn parse_envelope(xml: &str) -> Result<Envelope, XmlError> {
    let raw: RawEnvelope = from_xml(xml)?;
    Ok(Envelope {
        encrypt: non_empty(raw.encrypt),
        has_plain_fields: raw.msg_type.is_some(),
    })
}

/// An encrypted passive reply as we send it (§6.6): what WeChat, or the simulator, reads.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ReplyEnvelope {
    /// The encrypted reply.
    #[serde(rename = "Encrypt")]
    pub encrypt: String,
    /// `sha1(sort(token, TimeStamp, Nonce, Encrypt))`.
    #[serde(rename = "MsgSignature")]
    pub msg_signature: String,
    /// `TimeStamp`, kept as text: it is signed as text.
    #[serde(rename = "TimeStamp")]
    pub timestamp: String,
    /// `Nonce`.
    #[serde(rename = "Nonce")]
    pub nonce: String,
}

/// Reads an encrypted reply envelope. Used by the simulator, which plays WeChat.
pub fn parse_reply_envelope(xml: &str) -> Result<ReplyEnvelope, XmlError> {
    from_xml(xml)
}

/// A passive reply as WeChat reads it: the simulator's view of our answer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ReplyMessage {
    /// The user's openid.
    #[serde(rename = "ToUserName")]
    pub to_user: String,
    /// The Official Account's original id.
    #[serde(rename = "FromUserName")]
    pub from_user: String,
    /// Unix seconds.
    #[serde(rename = "CreateTime")]
    pub create_time: u64,
    /// `text`, `image`, `news`, ...
    #[serde(rename = "MsgType")]
    pub msg_type: String,
    /// Set for `text` replies.
    #[serde(rename = "Content", default)]
    pub content: Option<String>,
}

/// Reads a (decrypted) passive reply. It is the answer to a request the reader made itself,
/// so it carries no signature of its own.
pub fn parse_reply(xml: &str) -> Result<ReplyMessage, XmlError> {
    from_xml(xml)
}

fn from_xml<'de, T: Deserialize<'de>>(xml: &'de str) -> Result<T, XmlError> {
    // quick-xml never expands entities declared in a DTD, but refusing DTDs outright keeps the
    // question closed (pitfall list §4.5, "disable DTD/entity expansion").
    if has_doctype(xml) {
        return Err(XmlError::Doctype);
    }
    quick_xml::de::from_str(xml).map_err(|e| XmlError::Malformed(e.to_string()))
}

/// Whether `<!DOCTYPE` appears anywhere, in any case. Every declaration starts with `<!`, so
/// only those places are compared (found with `str::find`'s fast search) rather than a window
/// at every byte: this ran on every push and was the hottest symbol of the callback path.
fn has_doctype(xml: &str) -> bool {
    const DOCTYPE: &[u8] = b"doctype";
    let mut rest = xml;
    while let Some(at) = rest.find("<!") {
        // `<!` is ASCII, so right after it is a character boundary.
        rest = &rest[at + 2..];
        if rest
            .as_bytes()
            .get(..DOCTYPE.len())
            .is_some_and(|word| word.eq_ignore_ascii_case(DOCTYPE))
        {
            return true;
        }
    }
    false
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

#[cfg(test)]
mod tests;
