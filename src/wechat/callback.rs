//! The receive side of the Official Account server URL (wechat-protocol.md §4–§6): GET URL
//! verification, POST pushes in plain, compatible and safe mode, and sealing our replies.
//!
//! The caller (the gateway's endpoint) owns HTTP: it enforces [`check_body_size`] while reading,
//! parses the query with [`CallbackQuery::parse`], then calls [`CallbackCodec::verify_url`] or
//! [`CallbackCodec::open`]. Time is passed in as `now` (Unix seconds).

use super::crypto::{CryptoError, MsgCrypt};
use super::message::{parse_envelope, parse_push, Push, XmlError};
use super::reply::{encrypted_envelope, SUCCESS};
use super::signature::{msg_signature, verify_msg_signature, verify_signature, VerifiedCallback};

/// Largest callback body accepted. Compatible mode roughly triples a push; a few KB is typical
/// and 64 KiB is the spec's safe cap (§4.5).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// How far a callback's `timestamp` may be from our clock. WeChat documents no tolerance;
/// the spec asks for a generous one if any (§4.5, pitfall 17). It bounds how long a leaked
/// (timestamp, nonce, signature) triple stays replayable; dedupe does the rest.
pub const MAX_TIMESTAMP_SKEW_SECONDS: u64 = 300;

/// The longest `echostr` we echo. WeChat's are decimal numbers of about 19 digits.
const MAX_ECHOSTR_LEN: usize = 128;

/// What the codec needs; the caller builds it from its own configuration.
#[derive(Clone)]
pub struct CallbackConfig {
    /// The Official Account's appid: every encrypted message must carry it.
    pub app_id: String,
    /// The callback Token (the signature key). Secret.
    pub token: String,
    /// The 43-character EncodingAESKey. Set = encrypted (compatible or safe) mode, and plain
    /// pushes are refused; unset = plain mode only. Secret.
    pub encoding_aes_key: Option<String>,
}

impl std::fmt::Debug for CallbackConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackConfig")
            .field("app_id", &self.app_id)
            .field("token", &"***")
            .field(
                "encoding_aes_key",
                &self.encoding_aes_key.as_ref().map(|_| "***"),
            )
            .finish()
    }
}

/// Why a callback was refused. Every variant is the sender's fault (a 4xx); none of the
/// messages contain the Token, the key or the body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    /// The body is longer than [`MAX_BODY_BYTES`].
    #[error("callback body of {len} bytes exceeds {max}")]
    TooLarge {
        /// The length seen (so far).
        len: usize,
        /// [`MAX_BODY_BYTES`].
        max: usize,
    },
    /// A required query parameter (or the `Encrypt` body element) is missing.
    #[error("missing {0}")]
    MissingParam(&'static str),
    /// A parameter is present but unusable (not a number, repeated, unknown `encrypt_type`...).
    #[error("invalid {0}")]
    BadParam(&'static str),
    /// `timestamp` is further than [`MAX_TIMESTAMP_SKEW_SECONDS`] from now.
    #[error("timestamp outside the accepted window")]
    StaleTimestamp,
    /// `signature` does not match (wrong Token, or not from WeChat).
    #[error("bad signature")]
    BadSignature,
    /// `msg_signature` does not match the `Encrypt` of the body.
    #[error("bad msg_signature")]
    BadMsgSignature,
    /// A plain push arrived although an EncodingAESKey is configured. Accepting it would let
    /// a replayed signature carry a forged body (§4.5), so safe mode refuses plain pushes.
    #[error("plain push refused: encrypted mode is configured")]
    EncryptionRequired,
    /// An encrypted push arrived but no EncodingAESKey is configured.
    #[error("encrypted push but no EncodingAESKey is configured")]
    EncryptionNotConfigured,
    /// The ciphertext could not be decrypted (bad Base64, padding, length field...).
    #[error("cannot decrypt: {0}")]
    Decrypt(CryptoError),
    /// The decrypted message belongs to another appid.
    #[error("appid mismatch")]
    AppIdMismatch,
    /// The (decrypted) XML is malformed.
    #[error(transparent)]
    Xml(XmlError),
}

impl CallbackError {
    /// A short, bounded label for metrics (`outcome` of `scangate_wechat_callbacks_total`).
    pub fn label(&self) -> &'static str {
        match self {
            CallbackError::TooLarge { .. } => "too_large",
            CallbackError::MissingParam(_) | CallbackError::BadParam(_) => "bad_request",
            CallbackError::StaleTimestamp => "stale",
            CallbackError::BadSignature => "bad_signature",
            CallbackError::BadMsgSignature => "bad_msg_signature",
            CallbackError::EncryptionRequired | CallbackError::EncryptionNotConfigured => {
                "mode_mismatch"
            }
            CallbackError::Decrypt(_) => "decrypt",
            CallbackError::AppIdMismatch => "appid_mismatch",
            CallbackError::Xml(_) => "xml",
        }
    }
}

/// Refuses bodies over [`MAX_BODY_BYTES`]. Call it with the `Content-Length` before reading and
/// with the running total while reading (chunked bodies have no length).
pub fn check_body_size(len: usize) -> Result<(), CallbackError> {
    if len > MAX_BODY_BYTES {
        Err(CallbackError::TooLarge {
            len,
            max: MAX_BODY_BYTES,
        })
    } else {
        Ok(())
    }
}

/// The query parameters WeChat sends (§4.2, §4.3). Others are ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallbackQuery {
    /// `sha1(sort(token, timestamp, nonce))`, in every mode.
    pub signature: Option<String>,
    /// Unix seconds, as WeChat's clock saw them.
    pub timestamp: Option<String>,
    /// A random number.
    pub nonce: Option<String>,
    /// GET verification only.
    pub echostr: Option<String>,
    /// Not signed: informative only; the user is the body's `FromUserName`.
    pub openid: Option<String>,
    /// `aes` in compatible and safe mode.
    pub encrypt_type: Option<String>,
    /// `sha1(sort(token, timestamp, nonce, Encrypt))`, in encrypted modes.
    pub msg_signature: Option<String>,
}

impl CallbackQuery {
    /// Parses a raw query string (without `?`). Values are percent-decoded; `+` stays `+`
    /// (none of WeChat's values contain spaces). A parameter we use that appears twice is
    /// refused, so no two readers of the same URL can disagree about it.
    pub fn parse(raw: &str) -> Result<Self, CallbackError> {
        let mut q = CallbackQuery::default();
        for pair in raw.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let (slot, name) = match key {
                "signature" => (&mut q.signature, "signature"),
                "timestamp" => (&mut q.timestamp, "timestamp"),
                "nonce" => (&mut q.nonce, "nonce"),
                "echostr" => (&mut q.echostr, "echostr"),
                "openid" => (&mut q.openid, "openid"),
                "encrypt_type" => (&mut q.encrypt_type, "encrypt_type"),
                "msg_signature" => (&mut q.msg_signature, "msg_signature"),
                _ => continue,
            };
            if slot.is_some() {
                return Err(CallbackError::BadParam(name));
            }
            let decoded = percent_encoding::percent_decode_str(value)
                .decode_utf8()
                .map_err(|_| CallbackError::BadParam(name))?;
            *slot = Some(decoded.into_owned());
        }
        Ok(q)
    }
}

/// How a push was delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// No encryption: only the URL `signature`, which does not cover the body.
    Plain,
    /// `Encrypt` next to the plaintext fields; we use only the decrypted copy.
    Compatible,
    /// Only `Encrypt`.
    Safe,
}

impl Mode {
    /// A short, bounded label for metrics and logs.
    pub fn label(self) -> &'static str {
        match self {
            Mode::Plain => "plain",
            Mode::Compatible => "compatible",
            Mode::Safe => "safe",
        }
    }
}

/// A push that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    /// The message (decrypted in encrypted modes).
    pub push: Push,
    /// How it was delivered.
    pub mode: Mode,
}

/// Verifies, decrypts and parses callbacks for one Official Account, and seals its replies.
pub struct CallbackCodec {
    token: String,
    crypt: Option<MsgCrypt>,
}

impl std::fmt::Debug for CallbackCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackCodec")
            .field("token", &"***")
            .field("crypt", &self.crypt)
            .finish()
    }
}

impl CallbackCodec {
    /// Builds the codec. Fails only on a malformed EncodingAESKey.
    pub fn new(config: CallbackConfig) -> Result<Self, CryptoError> {
        let crypt = match &config.encoding_aes_key {
            Some(key) => Some(MsgCrypt::new(key, &config.app_id)?),
            None => None,
        };
        Ok(CallbackCodec {
            token: config.token,
            crypt,
        })
    }

    /// True when pushes must be encrypted and replies are encrypted.
    pub fn is_encrypted(&self) -> bool {
        self.crypt.is_some()
    }

    /// The GET URL verification (§4.2): checks `signature` and returns the `echostr` to send
    /// back as the whole body. For Official Accounts `echostr` is plain in every mode.
    pub fn verify_url(&self, query: &CallbackQuery, now: u64) -> Result<String, CallbackError> {
        self.check_signature(query, now)?;
        let echostr = query
            .echostr
            .as_deref()
            .ok_or(CallbackError::MissingParam("echostr"))?;
        // The signature does not cover `echostr`, so whoever holds one valid triple picks what
        // we echo: keep it to the characters WeChat uses, so it cannot become markup.
        let plausible = !echostr.is_empty()
            && echostr.len() <= MAX_ECHOSTR_LEN
            && echostr.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_')
            });
        if !plausible {
            return Err(CallbackError::BadParam("echostr"));
        }
        Ok(echostr.to_owned())
    }

    /// Opens a POST push: checks the size, `timestamp` and `signature`; in encrypted modes also
    /// `msg_signature`, decrypts and checks the appid; then parses the message.
    pub fn open(
        &self,
        query: &CallbackQuery,
        body: &[u8],
        now: u64,
    ) -> Result<Inbound, CallbackError> {
        check_body_size(body.len())?;
        let body = std::str::from_utf8(body)
            .map_err(|_| CallbackError::Xml(XmlError::Malformed("body is not UTF-8".into())))?;
        let (timestamp, nonce, url_verified) = self.check_signature(query, now)?;

        let encrypted = match query.encrypt_type.as_deref() {
            None | Some("") | Some("raw") => false,
            Some("aes") => true,
            Some(_) => return Err(CallbackError::BadParam("encrypt_type")),
        };
        let Some(crypt) = &self.crypt else {
            if encrypted {
                return Err(CallbackError::EncryptionNotConfigured);
            }
            // Plain mode: the URL signature is all WeChat gives us.
            let push = parse_push(body, &url_verified).map_err(CallbackError::Xml)?;
            return Ok(Inbound {
                push,
                mode: Mode::Plain,
            });
        };
        if !encrypted {
            return Err(CallbackError::EncryptionRequired);
        }

        let given = query
            .msg_signature
            .as_deref()
            .ok_or(CallbackError::MissingParam("msg_signature"))?;
        let envelope = parse_envelope(body).map_err(CallbackError::Xml)?;
        let encrypt = envelope
            .encrypt
            .as_deref()
            .ok_or(CallbackError::MissingParam("Encrypt"))?;
        let verified = verify_msg_signature(&self.token, timestamp, nonce, encrypt, given)
            .map_err(|_| CallbackError::BadMsgSignature)?;
        let xml = crypt.decrypt(encrypt).map_err(|e| match e {
            CryptoError::AppIdMismatch => CallbackError::AppIdMismatch,
            other => CallbackError::Decrypt(other),
        })?;
        let push = parse_push(&xml, &verified).map_err(CallbackError::Xml)?;
        let mode = if envelope.has_plain_fields {
            Mode::Compatible
        } else {
            Mode::Safe
        };
        Ok(Inbound { push, mode })
    }

    /// The HTTP body answering a push: `xml` itself in plain mode, the encrypted envelope
    /// (`Encrypt`, `MsgSignature`, `TimeStamp` = `now`, `Nonce` = `nonce`) otherwise.
    /// An empty `xml` means "no reply" and yields `success`, which needs no encryption.
    /// `random` is the 16-byte message prefix: fresh random bytes.
    pub fn seal_reply(&self, xml: &str, now: u64, nonce: &str, random: &[u8; 16]) -> String {
        if xml.is_empty() {
            return SUCCESS.to_owned();
        }
        match &self.crypt {
            None => xml.to_owned(),
            Some(crypt) => {
                let encrypt = crypt.encrypt(xml, random);
                let timestamp = now.to_string();
                let signature = msg_signature(&self.token, &timestamp, nonce, &encrypt);
                encrypted_envelope(&encrypt, &signature, now, nonce)
            }
        }
    }

    /// Checks presence and freshness of `timestamp`, presence of `nonce`, and `signature`.
    fn check_signature<'q>(
        &self,
        query: &'q CallbackQuery,
        now: u64,
    ) -> Result<(&'q str, &'q str, VerifiedCallback), CallbackError> {
        let signature = query
            .signature
            .as_deref()
            .ok_or(CallbackError::MissingParam("signature"))?;
        let timestamp = query
            .timestamp
            .as_deref()
            .ok_or(CallbackError::MissingParam("timestamp"))?;
        let nonce = query
            .nonce
            .as_deref()
            .ok_or(CallbackError::MissingParam("nonce"))?;
        let seconds: u64 = if !timestamp.is_empty() && timestamp.bytes().all(|b| b.is_ascii_digit())
        {
            timestamp
                .parse()
                .map_err(|_| CallbackError::BadParam("timestamp"))?
        } else {
            return Err(CallbackError::BadParam("timestamp"));
        };
        if seconds.abs_diff(now) > MAX_TIMESTAMP_SKEW_SECONDS {
            return Err(CallbackError::StaleTimestamp);
        }
        let verified = verify_signature(&self.token, timestamp, nonce, signature)
            .map_err(|_| CallbackError::BadSignature)?;
        Ok((timestamp, nonce, verified))
    }
}

#[cfg(test)]
mod tests;
