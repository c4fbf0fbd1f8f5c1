//! Property tests of every parser of outside input, through the public API: whatever the
//! input, a typed answer and never a panic; and the round trips where there are some.
//!
//! | parser | outside input |
//! |---|---|
//! | `wechat::message`, `wechat::callback` | callback bodies and query strings |
//! | `wechat::crypto::MsgCrypt` | the `Encrypt` element |
//! | `wechat::signature` | `signature` / `msg_signature` parameters |
//! | `session` | the `Cookie` header and the session token in it |
//! | `proxy::redirect::RedirectPolicy` | `rd` |
//! | `proxy::host::RequestHost` | `Host`, absolute-form authorities |
//! | `proxy::forward_auth` | `X-Original-URL`, `X-Forwarded-Host/-Uri` |
//! | `identity::Phone` | phone numbers users type |
//! | `config::from_yaml` | the config file |
//!
//! Case counts are kept small so the binary runs in seconds in a debug build; set
//! `PROPTEST_CASES` to run more.

// A test binary: a failed unwrap is a failed test (clippy's test allowance misses helpers).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use proptest::prelude::*;

use scangate::config::env::MapEnv;
use scangate::config::{from_yaml, HostPattern, Secret, SessionConfig};
use scangate::identity::{
    Identity, LoginMethod, OpenId, Phone, PhoneError, UnionId, UserId, ZERO_KEEPING_CODES,
};
use scangate::proxy::redirect::RedirectPolicy;
use scangate::session::{find_cookie, strip_cookie, SessionManager};
use scangate::wechat::callback::{CallbackCodec, CallbackConfig, CallbackQuery};
use scangate::wechat::crypto::MsgCrypt;
use scangate::wechat::message::{
    parse_envelope, parse_push, parse_reply, parse_reply_envelope, PushKind, XmlError,
};
use scangate::wechat::reply::text_reply;
use scangate::wechat::signature::{
    msg_signature, signature, verify_msg_signature, verify_signature, VerifiedCallback,
};
use scangate::wechat_sim::{event_xml, text_xml};

fn cases(n: u32) -> ProptestConfig {
    ProptestConfig::with_cases(n)
}

/// Strings built by concatenating pieces of `fragments` and short random runs, so that the
/// interesting tokens meet far more often than in uniformly random text.
fn built_from(fragments: &'static [&'static str], max: usize) -> BoxedStrategy<String> {
    let piece = prop_oneof![
        4 => prop::sample::select(fragments).prop_map(str::to_owned),
        1 => "[a-zA-Z0-9._~-]{0,3}",
        1 => any::<char>().prop_map(String::from),
    ];
    prop::collection::vec(piece, 0..max)
        .prop_map(|pieces| pieces.concat())
        .boxed()
}

/// Arbitrary strings, including lossy UTF-8 of arbitrary bytes.
fn any_text() -> BoxedStrategy<String> {
    prop_oneof![
        any::<String>(),
        prop::collection::vec(any::<u8>(), 0..256)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ]
    .boxed()
}

/// `s` with the character at `index` (modulo the length) replaced by `with`, or `None` when
/// `s` is empty or `with` is already there.
fn replace_char(s: &str, index: usize, with: char) -> Option<String> {
    let chars: Vec<char> = s.chars().collect();
    if chars.is_empty() {
        return None;
    }
    let at = index % chars.len();
    if chars[at] == with {
        return None;
    }
    let mut out = chars;
    out[at] = with;
    Some(out.into_iter().collect())
}

// === WeChat callback XML ===

const XML_FRAGMENTS: &[&str] = &[
    "<xml>",
    "</xml>",
    "<![CDATA[",
    "]]>",
    "<ToUserName>",
    "</ToUserName>",
    "<FromUserName>",
    "</FromUserName>",
    "<CreateTime>",
    "</CreateTime>",
    "<MsgType>",
    "</MsgType>",
    "<Event>",
    "</Event>",
    "<EventKey>",
    "</EventKey>",
    "<Ticket>",
    "</Ticket>",
    "<Content>",
    "</Content>",
    "<MsgId>",
    "</MsgId>",
    "<Encrypt>",
    "</Encrypt>",
    "<MsgSignature>",
    "<TimeStamp>",
    "<Nonce>",
    "<a>",
    "</a>",
    "<a b=\"c\">",
    "<a b='&amp;'/>",
    "<br/>",
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
    "<!-- comment -->",
    "<!DOCTYPE xml [<!ENTITY e \"x\">]>",
    "<!doctype",
    "&e;",
    "&amp;",
    "&lt;",
    "&gt;",
    "&quot;",
    "&#65;",
    "&#x4e2d;",
    "&#0;",
    "&#x110000;",
    "&#xD800;",
    "&unknown;",
    "&",
    "<",
    ">",
    "/",
    "=",
    "\"",
    "event",
    "text",
    "subscribe",
    "SCAN",
    "unsubscribe",
    "qrscene_",
    "qrscene_42",
    "1714112445",
    "18446744073709551616",
    "-1",
    "1.5",
    "gh_97417a04a28d",
    "o9AgO5Kd5ggOC",
    " ",
    "\n",
    "\r\n",
    "\t",
    "\0",
    "中文",
    "\u{feff}",
];

/// A proof of verification for feeding the parser directly; the codec tests below also go
/// through the signature check.
fn verified() -> VerifiedCallback {
    verify_signature("token", "1", "2", &signature("token", "1", "2")).unwrap()
}

/// Every XML reader of `scangate::wechat::message` on `xml`: a value or a typed error with a
/// message, never a panic.
fn read_xml_every_way(xml: &str) {
    fn check<T>(result: Result<T, XmlError>) {
        if let Err(e) = result {
            assert!(!e.to_string().is_empty());
        }
    }
    check(parse_push(xml, &verified()));
    check(parse_envelope(xml));
    check(parse_reply(xml));
    check(parse_reply_envelope(xml));
}

/// Text that survives XML: no control characters but tab and line feed (XML has no way to
/// carry the others, and normalises `\r`).
fn xml_text() -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), 0..40).prop_map(|chars| {
        chars
            .into_iter()
            .filter(|c| !c.is_control() || *c == '\t' || *c == '\n')
            .filter(|c| !matches!(c, '\u{fffe}' | '\u{ffff}'))
            .collect()
    })
}

fn samples() -> Vec<String> {
    vec![
        text_xml("gh_97417a04a28d", "o9AgO5Kd5ggOC", 1714112445, "登录 <&> ]]> x", 1),
        event_xml(
            "gh_97417a04a28d",
            "o9AgO5Kd5ggOC",
            1714112445,
            "subscribe",
            Some("qrscene_abc"),
            Some("gQH47joAAAAA"),
        ),
        "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o1]]></FromUserName>\
         <CreateTime>1</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[SCAN]]></Event>\
         <EventKey><![CDATA[42]]></EventKey><Encrypt><![CDATA[abc=]]></Encrypt></xml>"
            .to_string(),
    ]
}

#[test]
fn xml_truncated_at_every_point_is_a_typed_answer() {
    for xml in samples() {
        assert!(parse_push(&xml, &verified()).is_ok(), "{xml}");
        for (cut, _) in xml.char_indices() {
            let prefix = &xml[..cut];
            read_xml_every_way(prefix);
            // Cut inside the root element: never a whole push.
            if !prefix.contains("</xml>") {
                assert!(parse_push(prefix, &verified()).is_err(), "{prefix:?}");
            }
        }
    }
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn xml_readers_never_panic_on_any_text(text in any_text()) {
        read_xml_every_way(&text);
    }

    #[test]
    fn xml_readers_never_panic_on_xmlish_text(text in built_from(XML_FRAGMENTS, 40)) {
        read_xml_every_way(&text);
        read_xml_every_way(&format!("<xml>{text}</xml>"));
    }

    #[test]
    fn xml_deep_nesting_is_a_typed_answer(depth in 0usize..3000, closed in any::<bool>()) {
        let open = "<a>".repeat(depth);
        let close = if closed { "</a>".repeat(depth) } else { String::new() };
        read_xml_every_way(&format!(
            "<xml><ToUserName>t</ToUserName>{open}x{close}</xml>"
        ));
    }

    #[test]
    fn xml_sample_with_a_fragment_spliced_in(
        which in 0usize..3,
        at in any::<prop::sample::Index>(),
        cut in 0usize..8,
        insert in built_from(XML_FRAGMENTS, 3),
    ) {
        let xml = &samples()[which];
        let chars: Vec<char> = xml.chars().collect();
        let at = at.index(chars.len() + 1);
        let end = (at + cut).min(chars.len());
        let mutated: String = chars[..at]
            .iter()
            .chain(insert.chars().collect::<Vec<_>>().iter())
            .chain(chars[end..].iter())
            .collect();
        read_xml_every_way(&mutated);
    }

    /// `text_xml` (what WeChat sends) -> `parse_push` gives every field back.
    #[test]
    fn text_push_round_trips(
        to in xml_text(),
        from in xml_text(),
        create_time in any::<u64>(),
        content in xml_text(),
        msg_id in any::<u64>(),
    ) {
        let xml = text_xml(&to, &from, create_time, &content, msg_id);
        let push = parse_push(&xml, &verified()).unwrap();
        prop_assert_eq!(&push.header.to_user, &to);
        prop_assert_eq!(&push.header.from_user, &from);
        prop_assert_eq!(push.header.create_time, create_time);
        prop_assert_eq!(push.header.msg_id.clone(), Some(msg_id.to_string()));
        prop_assert_eq!(&push.kind, &PushKind::Text { content: content.clone() });
        // The key names the message, so a retry of it is recognised.
        prop_assert!(push.dedupe_key().contains(&msg_id.to_string()));
        // And our passive reply to it reads back with To/From swapped.
        let reply = parse_reply(&push.text_reply(&content, create_time)).unwrap();
        prop_assert_eq!(reply.to_user, from);
        prop_assert_eq!(reply.from_user, to);
        prop_assert_eq!(reply.content.unwrap_or_default(), content);
    }

    /// A follow through a parametric QR code keeps its scene and ticket.
    #[test]
    fn subscribe_push_round_trips(
        from in xml_text(),
        create_time in any::<u64>(),
        scene in "[!-~]{1,64}",
        ticket in "[A-Za-z0-9=_-]{1,40}",
    ) {
        let key = format!("qrscene_{scene}");
        let xml = event_xml("gh_1", &from, create_time, "subscribe", Some(&key), Some(&ticket));
        let push = parse_push(&xml, &verified()).unwrap();
        prop_assert_eq!(
            push.kind,
            PushKind::Subscribe { scene: Some(scene), ticket: Some(ticket) }
        );
        prop_assert_eq!(push.header.from_user, from);
    }

    #[test]
    fn reply_builder_round_trips(
        to in xml_text(),
        from in xml_text(),
        now in any::<u64>(),
        content in xml_text(),
    ) {
        let reply = parse_reply(&text_reply(&to, &from, now, &content)).unwrap();
        prop_assert_eq!(reply.to_user, to);
        prop_assert_eq!(reply.from_user, from);
        prop_assert_eq!(reply.create_time, now);
        prop_assert_eq!(reply.msg_type, "text");
        prop_assert_eq!(reply.content.unwrap_or_default(), content);
    }

    #[test]
    fn callback_query_parse_never_panics(
        raw in prop_oneof![
            any_text(),
            built_from(&["signature=", "timestamp=", "nonce=", "echostr=", "encrypt_type=aes",
                         "msg_signature=", "&", "=", "%", "%FF", "%e4%b8%ad", "%2", "+"], 12),
        ],
    ) {
        if let Err(e) = CallbackQuery::parse(&raw) {
            prop_assert!(!e.to_string().is_empty());
            prop_assert!(!e.label().is_empty());
        }
    }
}

// === The callback codec, end to end ===

const TOKEN: &str = "token123";
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const APP_ID: &str = "wxb11529c136998cb6";
const NOW: u64 = 1_714_112_445;

fn codec(encrypted: bool) -> CallbackCodec {
    CallbackCodec::new(CallbackConfig {
        app_id: APP_ID.into(),
        token: TOKEN.into(),
        encoding_aes_key: encrypted.then(|| AES_KEY.to_string()),
    })
    .unwrap()
}

/// A correctly signed query (as WeChat would send it) for `encrypt` (safe mode) or none.
fn signed_query(nonce: &str, encrypt: Option<&str>) -> CallbackQuery {
    let ts = NOW.to_string();
    CallbackQuery {
        signature: Some(signature(TOKEN, &ts, nonce)),
        timestamp: Some(ts.clone()),
        nonce: Some(nonce.to_string()),
        encrypt_type: encrypt.map(|_| "aes".to_string()),
        msg_signature: encrypt.map(|e| msg_signature(TOKEN, &ts, nonce, e)),
        ..CallbackQuery::default()
    }
}

proptest! {
    #![proptest_config(cases(256))]

    /// Signed, so the body reaches the XML parser: any body is a push or a typed error.
    #[test]
    fn plain_callback_with_any_body_is_a_typed_answer(
        body in prop_oneof![
            any_text().prop_map(String::into_bytes),
            prop::collection::vec(any::<u8>(), 0..512),
            built_from(XML_FRAGMENTS, 40).prop_map(String::into_bytes),
        ],
        nonce in "[0-9]{1,10}",
    ) {
        if let Err(e) = codec(false).open(&signed_query(&nonce, None), &body, NOW) {
            prop_assert!(!e.to_string().is_empty());
            prop_assert!(!e.label().is_empty());
        }
    }

    /// Signed `Encrypt` of any shape reaches the decryptor: a typed error, never a panic.
    #[test]
    fn safe_callback_with_any_encrypt_is_a_typed_error(
        encrypt in prop_oneof![
            any_text(),
            prop::collection::vec(any::<u8>(), 0..200).prop_map(|b| STANDARD.encode(b)),
            prop::collection::vec(any::<u8>(), 1..6)
                .prop_map(|n| STANDARD.encode(vec![0u8; 32 * n.len()])),
        ],
        nonce in "[0-9]{1,10}",
    ) {
        let mut body = String::from("<xml><ToUserName><![CDATA[gh_1]]></ToUserName><Encrypt>");
        scangate::wechat::reply::push_cdata(&mut body, &encrypt);
        body.push_str("</Encrypt></xml>");
        let query = signed_query(&nonce, Some(&encrypt));
        let result = codec(true).open(&query, body.as_bytes(), NOW);
        prop_assert!(result.is_err(), "{encrypt:?} opened");
        prop_assert!(!result.unwrap_err().to_string().is_empty());
    }

    /// What the codec seals for WeChat, WeChat (here: `MsgCrypt`) can open, and vice versa.
    #[test]
    fn sealed_push_opens(content in xml_text(), nonce in "[0-9]{1,10}", random in any::<[u8; 16]>()) {
        let crypt = MsgCrypt::new(AES_KEY, APP_ID).unwrap();
        let xml = text_xml("gh_1", "o1", NOW, &content, 7);
        let encrypt = crypt.encrypt(&xml, &random);
        let body = format!("<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>");
        let inbound = codec(true)
            .open(&signed_query(&nonce, Some(&encrypt)), body.as_bytes(), NOW)
            .unwrap();
        prop_assert_eq!(inbound.push.kind, PushKind::Text { content });
        // The wrong msg_signature is refused.
        let mut query = signed_query(&nonce, Some(&encrypt));
        query.msg_signature = Some(msg_signature(TOKEN, &NOW.to_string(), &nonce, "other"));
        prop_assert!(codec(true).open(&query, body.as_bytes(), NOW).is_err());
    }
}

// === WXBizMsgCrypt ===

fn aes_key() -> impl Strategy<Value = String> {
    "[A-Za-z0-9]{43}"
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn decrypt_of_any_string_is_an_error(key in aes_key(), text in any_text()) {
        let crypt = MsgCrypt::new(&key, APP_ID).unwrap();
        prop_assert!(crypt.decrypt(&text).is_err());
    }

    /// Valid Base64 of the right block size gets past the first checks; the padding, the
    /// length field and the appid trailer still refuse random bytes.
    #[test]
    fn decrypt_of_any_base64_is_an_error(
        key in aes_key(),
        bytes in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..300),
            (1usize..8).prop_flat_map(|n| prop::collection::vec(any::<u8>(), 32 * n)),
        ],
    ) {
        let crypt = MsgCrypt::new(&key, APP_ID).unwrap();
        let e = crypt.decrypt(&STANDARD.encode(&bytes)).unwrap_err();
        prop_assert!(!e.to_string().is_empty());
    }

    #[test]
    fn any_key_text_is_a_codec_or_invalid_key(key in any_text(), app_id in any::<String>()) {
        match MsgCrypt::new(&key, &app_id) {
            Ok(_) => prop_assert!(
                key.len() == 43 && key.bytes().all(|b| b.is_ascii_alphanumeric())
            ),
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }

    #[test]
    fn encrypt_decrypt_round_trips(
        key in aes_key(),
        app_id in any::<String>(),
        msg in any::<String>(),
        random in any::<[u8; 16]>(),
    ) {
        let crypt = MsgCrypt::new(&key, &app_id).unwrap();
        let encrypt = crypt.encrypt(&msg, &random);
        prop_assert_eq!(STANDARD.decode(&encrypt).unwrap().len() % 32, 0);
        prop_assert_eq!(crypt.decrypt(&encrypt).unwrap(), msg.clone());
        // Another app's codec with the same key refuses it.
        let other = MsgCrypt::new(&key, &format!("{app_id}x")).unwrap();
        prop_assert!(other.decrypt(&encrypt).is_err());
    }

    /// CBC without a MAC: a changed ciphertext byte garbles or shifts the plaintext, which the
    /// padding, length and appid checks catch, or at worst changes the message. Never the
    /// original message, never a panic.
    #[test]
    fn tampered_ciphertext_is_refused_or_changed(
        key in aes_key(),
        msg in any::<String>(),
        random in any::<[u8; 16]>(),
        at in any::<prop::sample::Index>(),
        delta in 1u8..=255,
    ) {
        let crypt = MsgCrypt::new(&key, APP_ID).unwrap();
        let mut bytes = STANDARD.decode(crypt.encrypt(&msg, &random)).unwrap();
        let at = at.index(bytes.len());
        bytes[at] ^= delta;
        let result = crypt.decrypt(&STANDARD.encode(&bytes));
        prop_assert_ne!(result, Ok(msg));
    }

    /// The same at the Base64 level: any one character changed.
    #[test]
    fn tampered_base64_is_refused_or_changed(
        msg in any::<String>(),
        random in any::<[u8; 16]>(),
        at in any::<usize>(),
        with in any::<char>(),
    ) {
        let crypt = MsgCrypt::new(AES_KEY, APP_ID).unwrap();
        let encrypt = crypt.encrypt(&msg, &random);
        if let Some(tampered) = replace_char(&encrypt, at, with) {
            // Whitespace around the value is trimmed (it arrives in XML); not a change.
            if tampered.trim() != encrypt {
                prop_assert_ne!(crypt.decrypt(&tampered), Ok(msg));
            }
        }
    }
}

// === Signatures ===

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn signature_verifies_only_its_own_value(
        token in any::<String>(),
        timestamp in any::<String>(),
        nonce in any::<String>(),
        encrypt in any::<String>(),
        given in prop_oneof![any_text(), "[0-9a-fA-F]{0,41}"],
    ) {
        let good = signature(&token, &timestamp, &nonce);
        prop_assert_eq!(good.len(), 40);
        prop_assert!(good.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        prop_assert!(verify_signature(&token, &timestamp, &nonce, &good).is_ok());
        prop_assert_eq!(
            verify_signature(&token, &timestamp, &nonce, &given).is_ok(),
            given == good
        );
        let good_msg = msg_signature(&token, &timestamp, &nonce, &encrypt);
        prop_assert!(verify_msg_signature(&token, &timestamp, &nonce, &encrypt, &good_msg).is_ok());
        prop_assert_eq!(
            verify_msg_signature(&token, &timestamp, &nonce, &encrypt, &given).is_ok(),
            given == good_msg
        );
    }

    #[test]
    fn signature_with_one_character_changed_is_refused(
        token in "[A-Za-z0-9]{3,32}",
        timestamp in "[0-9]{1,12}",
        nonce in "[0-9]{1,12}",
        at in any::<usize>(),
        with in any::<char>(),
    ) {
        let good = signature(&token, &timestamp, &nonce);
        if let Some(bad) = replace_char(&good, at, with) {
            prop_assert!(verify_signature(&token, &timestamp, &nonce, &bad).is_err());
        }
        prop_assert!(verify_signature(&token, &timestamp, &nonce, &good.to_uppercase()).is_err()
            || !good.bytes().any(|b| b.is_ascii_alphabetic()));
    }
}

// === Session cookie ===

const SESSION_SECRET: &str = "0123456789abcdef0123456789abcdef";
const COOKIE: &str = "scangate_session";
const T0: u64 = 1_700_000_000;
const ISSUER: &str = "https://app.example.com";

fn sessions() -> SessionManager {
    SessionManager::new(&SessionConfig {
        secret: Secret::new(SESSION_SECRET),
        cookie_name: COOKIE.into(),
        cookie_domain: None,
        cookie_secure: true,
        issuer: ISSUER.into(),
        ttl_seconds: 3600,
        idle_timeout_seconds: None,
        assertion_key_file: None,
    })
}

fn phone() -> impl Strategy<Value = Phone> {
    prop_oneof![
        "1[3-9][0-9]{9}".prop_map(|d| Phone::parse(&d).unwrap()),
        "[1-9][0-9]{7,14}".prop_filter_map("not a valid number", |d| {
            Phone::parse(&format!("+{d}")).ok()
        }),
    ]
}

fn identity() -> impl Strategy<Value = Identity> {
    (
        any::<String>(),
        prop::option::of(any::<String>()),
        prop::option::of(any::<String>()),
        prop::option::of(phone()),
        prop::sample::select(vec![
            LoginMethod::OfficialAccount,
            LoginMethod::MiniProgram,
            LoginMethod::Website,
            LoginMethod::InWechat,
        ]),
    )
        .prop_map(|(user, openid, unionid, phone, method)| Identity {
            user_id: UserId::new(user),
            openid: openid.map(OpenId::new),
            unionid: unionid.map(UnionId::new),
            phone,
            method,
        })
}

const COOKIE_FRAGMENTS: &[&str] = &[
    "scangate_session",
    "scangate_session=",
    "=",
    ";",
    "; ",
    " ",
    "\t",
    "\"",
    "a=1",
    "s=",
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.",
    ".",
    "中",
];

proptest! {
    #![proptest_config(cases(256))]

    /// What `find_cookie` returns is a piece of the header; what `strip_cookie` leaves has no
    /// cookie of that name.
    #[test]
    fn cookie_header_readers_never_panic(
        header in prop_oneof![any_text(), built_from(COOKIE_FRAGMENTS, 16)],
        name in prop_oneof![Just(COOKIE.to_string()), "[a-z_]{1,8}", any::<String>()],
    ) {
        if let Some(value) = find_cookie(&header, &name) {
            prop_assert!(header.contains(value));
            prop_assert!(!value.contains(';'));
        }
        if let Some(rest) = strip_cookie(&header, &name) {
            prop_assert!(!rest.is_empty());
            if !name.contains([';', '=']) && name.trim_matches([' ', '\t']) == name {
                prop_assert_eq!(find_cookie(&rest, &name), None, "{:?}", rest);
            }
        }
    }

    /// Any token text is refused without a panic: nobody forges a session by chance.
    #[test]
    fn session_verify_refuses_any_token(
        token in prop_oneof![
            any_text(),
            built_from(COOKIE_FRAGMENTS, 12),
            ("[A-Za-z0-9_-]{0,80}", "[A-Za-z0-9_-]{0,80}", "[A-Za-z0-9_-]{0,60}")
                .prop_map(|(h, p, s)| format!("{h}.{p}.{s}")),
            ("[A-Za-z0-9_-]{0,200}", "[A-Za-z0-9_-]{43}").prop_map(|(p, s)| {
                format!("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.{p}.{s}")
            }),
            Just("a".repeat(5000)),
        ],
    ) {
        prop_assert!(sessions().verify(&token, T0).is_err());
    }

    /// issue -> Set-Cookie -> Cookie header -> find_cookie -> verify gives the identity back.
    #[test]
    fn issued_session_round_trips(
        identity in identity(),
        others in prop::collection::vec(("[a-z]{1,6}", "[A-Za-z0-9]{0,6}"), 0..4),
    ) {
        let sessions = sessions();
        let (token, claims) = sessions.issue(&identity, T0);
        let set_cookie = sessions.set_cookie(&token);
        let pair = set_cookie.split(';').next().unwrap();
        let mut cookies: Vec<String> = others.iter().map(|(n, v)| format!("{n}={v}")).collect();
        cookies.push(pair.to_string());
        let header = cookies.join("; ");
        let found = find_cookie(&header, COOKIE).unwrap();
        prop_assert_eq!(found, token.as_str());
        let verified = sessions.verify(found, T0 + 1).unwrap();
        prop_assert_eq!(&*verified.identity, &identity);
        prop_assert_eq!(&verified.claims.sid, &claims.sid);
        // Expired at the end of the ttl; another key refuses it.
        prop_assert!(sessions.verify(&token, T0 + 3600).is_err());
        let other = SessionManager::new(&SessionConfig {
            secret: Secret::new("another secret, also 32 bytes long!"),
            cookie_name: COOKIE.into(),
            cookie_domain: None,
            cookie_secure: true,
            issuer: ISSUER.into(),
            ttl_seconds: 3600,
            idle_timeout_seconds: None,
            assertion_key_file: None,
        });
        prop_assert!(other.verify(&token, T0 + 1).is_err());
    }

    #[test]
    fn session_token_with_one_character_changed_is_refused(
        identity in identity(),
        at in any::<usize>(),
        with in prop_oneof![
            4 => prop::sample::select(
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ "
                    .chars()
                    .collect::<Vec<_>>()
            ),
            1 => any::<char>(),
        ],
    ) {
        let sessions = sessions();
        let (token, _) = sessions.issue(&identity, T0);
        // Verified (and cached) once, as a real client's earlier requests would have.
        prop_assert!(sessions.verify(&token, T0).is_ok());
        if let Some(tampered) = replace_char(&token, at, with) {
            prop_assert!(sessions.verify(&tampered, T0).is_err(), "{tampered}");
        }
    }
}

// === rd ===

const GATEWAY_HOST: &str = "gw.test";

fn redirect_policy() -> RedirectPolicy {
    RedirectPolicy::new(
        GATEWAY_HOST,
        vec![
            HostPattern::Exact("docs.example.org".into()),
            HostPattern::Suffix(".example.com".into()),
        ],
    )
}

const RD_FRAGMENTS: &[&str] = &[
    "/",
    "//",
    "\\",
    ".",
    "..",
    "%2F",
    "%2f",
    "%5C",
    "%5c",
    "%2e",
    "%40",
    "%23",
    "%09",
    "%0d%0a",
    "%00",
    "%20",
    "%",
    " ",
    "\t",
    "\n",
    "\r",
    "\0",
    "\u{3000}",
    "\u{ff0f}",
    "\u{ff03}",
    "@",
    "#",
    "?",
    ":",
    "[",
    "]",
    "::1",
    ":443",
    ":8080",
    "https://",
    "http://",
    "HTTPS://",
    "https:",
    "http:/",
    "ftp://",
    "javascript:",
    "JaVaScRiPt:",
    "data:",
    "alert(1)",
    "evil.com",
    "evil-example.com",
    "example.com",
    ".example.com",
    "app.example.com",
    "docs.example.org",
    "gw.test",
    "x",
];

/// The host of an absolute http(s) URL, by the rules a browser's parser would apply to what
/// the policy lets through: `None` unless it is a plain DNS name with an optional port.
fn oracle_host(rd: &str) -> Option<String> {
    let lower = rd.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))?;
    let authority = rest.split(['/', '?', '#']).next()?;
    if authority.contains('@') {
        return None;
    }
    let (host, port) = authority.split_once(':').unwrap_or((authority, ""));
    let host = host.strip_suffix('.').unwrap_or(host);
    let plain = !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        && port.bytes().all(|b| b.is_ascii_digit());
    plain.then(|| host.to_string())
}

fn allowed_host(host: &str) -> bool {
    host == GATEWAY_HOST
        || host == "docs.example.org"
        || (host.ends_with(".example.com") && host.len() > ".example.com".len())
}

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn rd_accepts_only_same_site_paths_and_route_hosts(
        rd in prop_oneof![
            any_text(),
            built_from(RD_FRAGMENTS, 8),
            // Shapes that are mostly accepted, so the "accepted" side is exercised too.
            ("[a-z0-9/._~?=&%-]{0,20}").prop_map(|p| format!("/{p}")),
            (prop::sample::select(&["https://", "HTTP://"][..]),
             prop::sample::select(&["gw.test", "docs.example.org", "a.example.com",
                                    "Docs.Example.Org:8443", "evil.com"][..]),
             built_from(RD_FRAGMENTS, 3))
                .prop_map(|(s, h, rest)| format!("{s}{h}{rest}")),
        ],
    ) {
        let policy = redirect_policy();
        let Some(accepted) = policy.check(&rd) else {
            return Ok(());
        };
        prop_assert_eq!(accepted, rd.as_str());
        prop_assert!(
            !rd.chars().any(|c| c.is_ascii_control() || c.is_whitespace() || c == '\\'),
            "{:?} has a control, space or backslash", rd
        );
        // Encoded whitespace is data in the query or fragment; before them it could move the
        // host or path.
        let head = &rd[..rd.find(['?', '#']).unwrap_or(rd.len())];
        let decoded = percent_encoding::percent_decode_str(head).decode_utf8_lossy();
        prop_assert!(
            !decoded.chars().any(|c| c.is_control() || c.is_whitespace() || c == '\\'),
            "{:?} decodes to a control, space or backslash before its query", rd
        );
        if let Some(path) = rd.strip_prefix('/') {
            prop_assert!(!path.starts_with(['/', '\\']), "{:?} is scheme-relative", rd);
            prop_assert!(!decoded.starts_with("//"), "{:?} decodes scheme-relative", rd);
        } else {
            let host = oracle_host(&rd);
            prop_assert!(
                host.as_deref().is_some_and(allowed_host),
                "{:?} leaves for {:?}", rd, host
            );
        }
    }
}

// === Phone numbers ===

const PHONE_FRAGMENTS: &[&str] = &[
    "+",
    "00",
    "86",
    "1",
    "138",
    "0",
    "9",
    "(",
    ")",
    "-",
    ".",
    " ",
    "\t",
    "+86",
    "0086",
    "13800138000",
    "１",
    "٣",
    "x",
];

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn phone_parse_gives_e164_or_an_error(
        input in prop_oneof![
            any_text(),
            built_from(PHONE_FRAGMENTS, 10),
            "[+]?[0-9 ().-]{0,20}",
        ],
    ) {
        match Phone::parse(&input) {
            Ok(phone) => {
                let s = phone.as_str();
                let digits = s.strip_prefix('+').unwrap_or("");
                prop_assert!((8..=15).contains(&digits.len()), "{s}");
                prop_assert!(digits.bytes().all(|b| b.is_ascii_digit()), "{s}");
                prop_assert!(!digits.starts_with('0'), "{s}");
                prop_assert_eq!(Phone::parse(s), Ok(phone.clone()));
                // The mask hides the middle and keeps the length readable.
                prop_assert!(phone.masked().contains("****"));
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }

    /// What users in our market type: any separators, with or without +86 / 0086.
    #[test]
    fn chinese_mobiles_normalise(
        national in "1[3-9][0-9]{9}",
        prefix in prop::sample::select(&["", "+86", "+86 ", "0086", "0086-", "(+86)"][..]),
        sep in prop::sample::select(&["", " ", "-", "."][..]),
    ) {
        let typed = format!(
            "{prefix}{}{sep}{}{sep}{}",
            &national[..3], &national[3..7], &national[7..]
        );
        let parsed = Phone::parse(&typed);
        if prefix == "(+86)" {
            // `+` only counts at the start.
            prop_assert!(parsed.is_err());
        } else {
            prop_assert_eq!(parsed.unwrap().as_str().to_string(), format!("+86{national}"));
        }
    }

    /// Whatever is typed, a number that reads as +86 is exactly a Chinese mobile after it:
    /// one phone, one spelling, so no second account for the same phone.
    #[test]
    fn plus_86_is_always_followed_by_exactly_a_chinese_mobile(
        input in prop_oneof![
            built_from(PHONE_FRAGMENTS, 10),
            "(\\+86|0086|\\+ 86)[0-9 ().-]{0,18}",
        ],
    ) {
        if let Ok(phone) = Phone::parse(&input) {
            if let Some(national) = phone.as_str().strip_prefix("+86") {
                prop_assert_eq!(national.len(), 11, "{:?} -> {}", input, phone.as_str());
                prop_assert!(national.starts_with('1'), "{:?} -> {}", input, phone.as_str());
            }
        }
    }

    /// `+86 0137…` and `+86 13700009999 0` are refused, not new numbers.
    #[test]
    fn a_trunk_zero_or_an_extra_digit_after_plus_86_is_refused(
        national in "1[3-9][0-9]{9}",
        prefix in prop::sample::select(&["+86", "+86 ", "0086", "+86-", "+86 (", "00 86 "][..]),
        zeros in "0{1,2}",
        extra in "[0-9]{1,2}",
        sep in prop::sample::select(&["", " ", "-", ")"][..]),
    ) {
        prop_assert_eq!(
            Phone::parse(&format!("{prefix}{zeros}{sep}{national}")),
            Err(PhoneError::TrunkPrefix)
        );
        prop_assert_eq!(
            Phone::parse(&format!("{prefix}{national}{sep}{extra}")),
            Err(PhoneError::NotChineseMobile)
        );
        prop_assert_eq!(
            Phone::parse(&format!("{prefix}{}", &national[..10])),
            Err(PhoneError::NotChineseMobile)
        );
    }

    /// E.164 leaves the national trunk prefix out: `+44 020…` is refused, `+44 20…` kept.
    #[test]
    fn a_trunk_zero_is_refused_where_numbers_do_not_begin_with_zero(
        cc in prop::sample::select(
            &["1", "7", "20", "33", "44", "49", "61", "81", "82", "852", "853", "886", "971"][..]
        ),
        rest in "[1-9][0-9]{6,9}",
    ) {
        prop_assert_eq!(Phone::parse(&format!("+{cc} 0{rest}")), Err(PhoneError::TrunkPrefix));
        prop_assert_eq!(Phone::parse(&format!("00{cc}0{rest}")), Err(PhoneError::TrunkPrefix));
        prop_assert_eq!(
            Phone::parse(&format!("+{cc} {rest}")).map(|p| p.as_str().to_string()),
            Ok(format!("+{cc}{rest}"))
        );
    }

    /// Where national numbers do begin with 0 (Italy's landlines, ...), it is kept.
    #[test]
    fn numbers_that_begin_with_zero_keep_it_where_the_country_does(
        cc in prop::sample::select(&ZERO_KEEPING_CODES[..]),
        rest in "[0-9]{6,10}",
    ) {
        prop_assert_eq!(
            Phone::parse(&format!("+{cc} 0{rest}")).map(|p| p.as_str().to_string()),
            Ok(format!("+{cc}0{rest}"))
        );
    }
}

// === Config ===

const CONFIG: &str = r#"public_url: "https://app.example.com"
session:
  secret: "${SECRET}"
wechat:
  official_account: { app_id: wx1, app_secret: s3cret, token: tok123 }
routes:
  - { name: app, upstreams: ["127.0.0.1:3000"] }
  - name: docs
    host: "*.example.com"
    path_prefix: /docs
    upstreams: ["127.0.0.1:3001"]
    auth: public
"#;

fn config_env() -> MapEnv {
    MapEnv::new().var("SECRET", SESSION_SECRET)
}

const YAML_FRAGMENTS: &[&str] = &[
    ":",
    ": ",
    "- ",
    "  ",
    "\n",
    "\n  ",
    "{",
    "}",
    "[",
    "]",
    ",",
    "'",
    "\"",
    "#",
    "|",
    ">",
    "&a ",
    "*a",
    "<<: *a",
    "!!binary ",
    "!!int ",
    "~",
    "null",
    "0",
    "-1",
    "65536",
    "99999999999999999999999",
    "1e400",
    ".nan",
    "true",
    "${",
    "${SECRET}",
    "${NOPE}",
    "}",
    "_file: /x",
    "routes",
    "public_url",
    "session",
    "secret",
    "host",
    "upstreams",
    "auth",
    "\t",
    "\r",
    "\0",
    "\u{feff}",
    "é",
    "---",
    "...",
];

/// One edit of `text`: a byte range removed, a fragment inserted, or lines swapped.
fn mutated_config() -> impl Strategy<Value = String> {
    let edit = (
        0usize..4,
        any::<prop::sample::Index>(),
        0usize..12,
        built_from(YAML_FRAGMENTS, 3),
    );
    prop::collection::vec(edit, 1..4).prop_map(|edits| {
        let mut text = CONFIG.to_string();
        for (kind, at, len, insert) in edits {
            let chars: Vec<char> = text.chars().collect();
            let at = at.index(chars.len() + 1);
            let end = (at + len).min(chars.len());
            text = match kind {
                0 => chars[..at].iter().chain(&chars[end..]).collect(),
                1 => {
                    let mut s: String = chars[..at].iter().collect();
                    s.push_str(&insert);
                    s.extend(&chars[at..]);
                    s
                }
                2 => {
                    let mut s: String = chars[..at].iter().collect();
                    s.push_str(&insert);
                    s.extend(&chars[end..]);
                    s
                }
                _ => {
                    let mut lines: Vec<&str> = text.lines().collect();
                    if lines.len() > 1 {
                        let i = at % (lines.len() - 1);
                        lines.swap(i, i + 1);
                    }
                    lines.join("\n")
                }
            };
        }
        text
    })
}

fn assert_typed_config_answer(text: &str) -> Result<(), TestCaseError> {
    if let Err(errors) = from_yaml(text, &config_env()) {
        prop_assert!(!errors.0.is_empty(), "no issue for {:?}", text);
        for issue in &errors.0 {
            prop_assert!(
                !issue.message.trim().is_empty(),
                "{:?} in {:?}",
                issue,
                text
            );
        }
    }
    Ok(())
}

#[test]
fn config_base_is_valid() {
    let config = from_yaml(CONFIG, &config_env()).unwrap();
    assert_eq!(config.routes.len(), 2);
}

proptest! {
    #![proptest_config(cases(96))]

    #[test]
    fn config_from_any_text_is_a_typed_answer(
        text in prop_oneof![any_text(), built_from(YAML_FRAGMENTS, 30)],
    ) {
        assert_typed_config_answer(&text)?;
    }

    #[test]
    fn config_mutations_are_a_typed_answer(text in mutated_config()) {
        assert_typed_config_answer(&text)?;
    }
}

// === hosts and forward-auth headers ===

const HOST_FRAGMENTS: &[&str] = &[
    "app",
    "example",
    "com",
    ".",
    "..",
    ":",
    "[",
    "]",
    "::1",
    "127.0.0.1",
    "@",
    "%2e",
    "%00",
    "-",
    "_",
    "8080",
    "99999",
    " ",
    "\t",
    "APP",
    "xn--",
    "/",
    "?",
    "#",
];

proptest! {
    #![proptest_config(cases(512))]

    /// Every host is refused or canonical: its header value parses back to itself.
    #[test]
    fn host_parse_is_refusal_or_canonical(raw in built_from(HOST_FRAGMENTS, 12)) {
        use scangate::proxy::host::RequestHost;
        if let Ok(host) = RequestHost::parse(&raw) {
            let value = host.header_value();
            let again = RequestHost::parse(&value).unwrap();
            prop_assert_eq!(&again, &host);
            prop_assert_eq!(again.header_value(), value.clone());
            prop_assert!(!host.name.ends_with('.') && host.name == host.name.to_ascii_lowercase());
            prop_assert!(!value.contains(['@', '/', '?', '#', ' ', '%']));
        }
    }

    /// Whatever forward-auth headers say, the answer is a typed error or a request whose
    /// host parses and whose target starts with `/`.
    #[test]
    fn forwarded_request_is_typed(
        original in proptest::option::of(built_from(&["http://", "https://", "/", "a.test", "..", "?", "#", "@", "[::1]", ":80", "%2e"], 8)),
        host in proptest::option::of(built_from(HOST_FRAGMENTS, 6)),
        uri in proptest::option::of(built_from(&["/", "..", "?x", "admin", "%2f", "//"], 6)),
    ) {
        use http::{HeaderMap, HeaderValue};
        let mut headers = HeaderMap::new();
        for (name, value) in [("x-original-url", &original), ("x-forwarded-host", &host), ("x-forwarded-uri", &uri)] {
            if let Some(v) = value.as_ref().and_then(|v| HeaderValue::from_str(v).ok()) {
                headers.insert(name, v);
            }
        }
        if let Ok(f) = scangate::proxy::forward_auth::forwarded_request(&headers, Some("gw.test"), "http") {
            prop_assert!(f.uri.starts_with('/'));
            prop_assert!(scangate::proxy::host::RequestHost::parse(&f.host.header_value()).is_ok());
        }
    }
}
