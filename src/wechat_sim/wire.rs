//! What the simulated WeChat puts on the wire towards the callback: push XML as WeChat builds
//! it (wechat-protocol.md §5), its signing and encryption per mode (§4.3, §6), and the reading
//! of the gateway's passive reply (§6.6, §7). Pure functions, so tests can use them without HTTP.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::wechat::crypto::{CryptoError, MsgCrypt};
use crate::wechat::message::{parse_reply, parse_reply_envelope, ReplyMessage};
use crate::wechat::reply::{compatible_push_body, push_cdata, safe_push_envelope, SUCCESS};
use crate::wechat::signature::{msg_signature, signature, verify_msg_signature};

/// Characters left unescaped in query values (RFC 3986 unreserved).
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// How pushes are delivered: the admin console's message encryption setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushMode {
    /// 明文: body in the clear, only `signature` in the URL.
    Plain,
    /// 兼容: plaintext fields plus `Encrypt`; `encrypt_type=aes&msg_signature=...`.
    Compatible,
    /// 安全: only `ToUserName` and `Encrypt`.
    Safe,
}

/// A push ready to POST: the query string (without `?`) and the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedPush {
    /// `signature=...&timestamp=...&nonce=...[&openid=...][&encrypt_type=aes&msg_signature=...]`.
    pub query: String,
    /// The XML body.
    pub body: String,
}

/// The gateway's answer to a push, as WeChat understands it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `success` or an empty body: nothing is shown to the user.
    Empty,
    /// A passive reply message (decrypted in encrypted modes).
    Message(ReplyMessage),
    /// Something WeChat would refuse ("该公众号暂时无法提供服务"), with the reason.
    Invalid(String),
}

impl Reply {
    /// The `Content` of a text reply.
    pub fn text(&self) -> Option<&str> {
        match self {
            Reply::Message(m) if m.msg_type == "text" => m.content.as_deref(),
            _ => None,
        }
    }
}

/// WeChat's side of one Official Account's callback: the Token and, in encrypted modes, the key.
#[derive(Debug, Clone)]
pub struct Wire {
    token: String,
    crypt: Option<MsgCrypt>,
}

impl Wire {
    /// `encoding_aes_key` is required for the compatible and safe modes.
    pub fn new(
        token: &str,
        app_id: &str,
        encoding_aes_key: Option<&str>,
    ) -> Result<Self, CryptoError> {
        let crypt = match encoding_aes_key {
            Some(key) => Some(MsgCrypt::new(key, app_id)?),
            None => None,
        };
        Ok(Wire {
            token: token.to_owned(),
            crypt,
        })
    }

    /// The mode WeChat uses when the admin console matches our configuration.
    pub fn default_mode(&self) -> PushMode {
        if self.crypt.is_some() {
            PushMode::Safe
        } else {
            PushMode::Plain
        }
    }

    /// The query of the GET URL verification (§4.2).
    pub fn verification_query(&self, timestamp: u64, nonce: &str, echostr: &str) -> String {
        let ts = timestamp.to_string();
        format!(
            "signature={}&timestamp={ts}&nonce={}&echostr={}",
            signature(&self.token, &ts, nonce),
            enc(nonce),
            enc(echostr)
        )
    }

    /// Signs (and in encrypted modes encrypts) `xml` the way WeChat does. `openid` goes into the
    /// unsigned `openid` parameter. Falls back to plain mode when no key is configured.
    pub fn seal(
        &self,
        xml: &str,
        mode: PushMode,
        timestamp: u64,
        nonce: &str,
        random: &[u8; 16],
        openid: Option<&str>,
    ) -> SealedPush {
        let ts = timestamp.to_string();
        let mut query = format!(
            "signature={}&timestamp={ts}&nonce={}",
            signature(&self.token, &ts, nonce),
            enc(nonce)
        );
        if let Some(openid) = openid {
            query.push_str("&openid=");
            query.push_str(&enc(openid));
        }
        let crypt = match (&self.crypt, mode) {
            (Some(crypt), PushMode::Compatible | PushMode::Safe) => crypt,
            _ => {
                return SealedPush {
                    query,
                    body: xml.to_owned(),
                }
            }
        };
        let encrypt = crypt.encrypt(xml, random);
        query.push_str("&encrypt_type=aes&msg_signature=");
        query.push_str(&msg_signature(&self.token, &ts, nonce, &encrypt));
        let body = match mode {
            PushMode::Compatible => compatible_push_body(xml, &encrypt)
                .unwrap_or_else(|| safe_push_envelope(&to_user_of(xml), &encrypt)),
            _ => safe_push_envelope(&to_user_of(xml), &encrypt),
        };
        SealedPush { query, body }
    }

    /// Reads the gateway's reply to a push sent in `mode` (§4.4, §6.6): in safe mode a message
    /// must come encrypted with a valid `MsgSignature` and our appid; in compatible mode either
    /// form is accepted.
    pub fn open_reply(&self, mode: PushMode, body: &str) -> Reply {
        let trimmed = body.trim();
        if trimmed.is_empty() || trimmed == SUCCESS {
            return Reply::Empty;
        }
        let encrypted_mode = mode != PushMode::Plain && self.crypt.is_some();
        if encrypted_mode {
            if let Ok(envelope) = parse_reply_envelope(trimmed) {
                return self.open_envelope(
                    &envelope.encrypt,
                    &envelope.msg_signature,
                    &envelope.timestamp,
                    &envelope.nonce,
                );
            }
            if mode == PushMode::Safe {
                return Reply::Invalid("safe mode needs an encrypted reply".into());
            }
        }
        match parse_reply(trimmed) {
            Ok(message) => Reply::Message(message),
            Err(e) => Reply::Invalid(e.to_string()),
        }
    }

    fn open_envelope(&self, encrypt: &str, given: &str, timestamp: &str, nonce: &str) -> Reply {
        let Some(crypt) = &self.crypt else {
            return Reply::Invalid("encrypted reply but no key".into());
        };
        if verify_msg_signature(&self.token, timestamp, nonce, encrypt, given).is_err() {
            return Reply::Invalid("bad MsgSignature".into());
        }
        let xml = match crypt.decrypt(encrypt) {
            Ok(xml) => xml,
            Err(e) => return Reply::Invalid(e.to_string()),
        };
        match parse_reply(&xml) {
            Ok(message) => Reply::Message(message),
            Err(e) => Reply::Invalid(e.to_string()),
        }
    }
}

/// An event push as WeChat formats it (§5.1–5.4): CDATA strings, bare numbers, a newline
/// between elements as in the official encrypted examples.
pub fn event_xml(
    to_user: &str,
    from_user: &str,
    create_time: u64,
    event: &str,
    event_key: Option<&str>,
    ticket: Option<&str>,
) -> String {
    let mut out = String::with_capacity(400);
    out.push_str("<xml>");
    line(&mut out, "ToUserName", to_user);
    line(&mut out, "FromUserName", from_user);
    out.push_str(&format!("<CreateTime>{create_time}</CreateTime>\n"));
    line(&mut out, "MsgType", "event");
    line(&mut out, "Event", event);
    if let Some(key) = event_key {
        line(&mut out, "EventKey", key);
    }
    if let Some(ticket) = ticket {
        line(&mut out, "Ticket", ticket);
    }
    out.push_str("</xml>");
    out
}

/// A text message push (§5.5).
pub fn text_xml(
    to_user: &str,
    from_user: &str,
    create_time: u64,
    content: &str,
    msg_id: u64,
) -> String {
    let mut out = String::with_capacity(300);
    out.push_str("<xml>");
    line(&mut out, "ToUserName", to_user);
    line(&mut out, "FromUserName", from_user);
    out.push_str(&format!("<CreateTime>{create_time}</CreateTime>\n"));
    line(&mut out, "MsgType", "text");
    line(&mut out, "Content", content);
    out.push_str(&format!("<MsgId>{msg_id}</MsgId>\n"));
    out.push_str("</xml>");
    out
}

fn line(out: &mut String, name: &str, value: &str) {
    out.push_str(&format!("<{name}>"));
    push_cdata(out, value);
    out.push_str(&format!("</{name}>\n"));
}

fn enc(value: &str) -> String {
    utf8_percent_encode(value, QUERY_VALUE).to_string()
}

/// The text of the first `<name>` element of `xml`, CDATA or not; a best-effort read for
/// filling unsigned fields (the `openid` parameter, the envelope's `ToUserName`).
pub(crate) fn element_text(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&format!("</{name}>"))?;
    let inner = &xml[start..end];
    let inner = inner
        .strip_prefix("<![CDATA[")
        .and_then(|s| s.strip_suffix("]]>"))
        .unwrap_or(inner);
    Some(inner.to_owned())
}

fn to_user_of(xml: &str) -> String {
    element_text(xml, "ToUserName").unwrap_or_default()
}
