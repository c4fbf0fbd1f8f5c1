//! WeChat Official Account and Mini Program integration: the server API client with its
//! access-token cache, and the callback receive side (signatures, WXBizMsgCrypt, XML). The
//! simulator of both ends is `crate::wechat_sim`, outside this module and built on it.
//!
//! A leaf module (ARCHITECTURE.md §2): it imports nothing else of this crate; callers build
//! [`ApiConfig`] and [`CallbackConfig`] from their own configuration. The protocol reference is
//! `shared/design/wechat-protocol.md`; section numbers in comments point into it.
//!
//! | file | owns |
//! |---|---|
//! | `client.rs` | `stable_token`, `qrcode/create`, `user/info`, `getcallbackip` |
//! | `client/miniprogram.rs` | `getwxacodeunlimit`, `jscode2session`, `getuserphonenumber` |
//! | `client/oauth.rs` | web authorization and website login: `sns/oauth2/access_token`, `sns/userinfo` |
//! | `client/menu.rs` | [`Menu`] and its local validation, `menu/create`, `get_current_selfmenu_info` |
//! | `client/check.rs` | [`WechatClient::check`]: credentials and IP whitelist, in plain words |
//! | `error.rs` | the typed API error, its classes, its [`Impact`] on a person, `rid` |
//! | `explain.rs` | [`explain`] / [`explain_for`]: what an `errcode` means to an operator |
//! | `token.rs` | access-token cache, single-flight refresh, [`TokenCache`] seam |
//! | `signature.rs` | `signature` / `msg_signature`, constant time, [`VerifiedCallback`] proof |
//! | `crypto.rs` | the WXBizMsgCrypt codec |
//! | `message.rs` | push XML → [`Push`] |
//! | `reply.rs` | reply XML builders |
//! | `callback.rs` | GET verification, POST in plain / compatible / safe mode, reply sealing |
//! | `source_ips.rs` | WeChat's callback addresses (`getcallbackip`): parsing, matching, shared refresh |

pub mod breaker;
pub mod callback;
pub mod client;
pub mod crypto;
pub mod error;
pub mod explain;
pub mod message;
pub mod reply;
pub mod signature;
pub mod source_ips;
pub mod token;

pub use callback::{
    check_body_size, CallbackCodec, CallbackConfig, CallbackError, CallbackQuery, Inbound, Mode,
    MAX_BODY_BYTES,
};
pub use client::{
    is_valid_wxacode_scene, Api, ApiConfig, ApiObserver, BusyRetry, Button, CheckOutcome,
    CheckReport, Error, Menu, MpPhone, MpSession, OAuthGrant, QrTicket, SnsUser, UserInfo,
    WechatClient, WxaCodeRequest, MAX_WXACODE_SCENE_LEN,
};
pub use crypto::{CryptoError, MsgCrypt};
pub use error::Impact;
pub use explain::{explain, explain_for};
pub use message::{Header, Push, PushKind, XmlError};
pub use signature::VerifiedCallback;
pub use source_ips::{CallbackIpList, CallbackIps, SourceVerdict};
pub use token::{
    AccessToken, CachedToken, MemoryTokenCache, RefreshLease, TokenCache, TokenCacheError,
    REFRESH_LOCK_TTL,
};
