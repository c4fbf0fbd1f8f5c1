use super::*;
use crate::wechat::message::PushKind;
use crate::wechat_sim::{event_xml, PushMode, Reply, Wire};

// Vector D (wechat-protocol.md §6.8): the official "消息推送" worked example,
// developers.weixin.qq.com/miniprogram/dev/framework/server-ability/message-push.html.
const D_TOKEN: &str = "AAAAA";
const D_KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const D_APPID: &str = "wxba5fad812f8e6fb9";
const D3_ENCRYPT: &str = "+qdx1OKCy+5JPCBFWw70tm0fJGb2Jmeia4FCB7kao+/Q5c/ohsOzQHi8khUOb05JCpj0JB4RvQMkUyus8TPxLKJGQqcvZqzDpVzazhZv6JsXUnnR8XGT740XgXZUXQ7vJVnAG+tE8NUd4yFyjPy7GgiaviNrlCTj+l5kdfMuFUPpRSrfMZuMcp3Fn2Pede2IuQrKEYwKSqFIZoNqJ4M8EajAsjLY2km32IIjdf8YL/P50F7mStwntrA2cPDrM1kb6mOcfBgRtWygb3VIYnSeOBrebufAlr7F9mFUPAJGj04=";
const D3_TS: u64 = 1714112445;

fn codec(key: Option<&str>, app_id: &str) -> CallbackCodec {
    CallbackCodec::new(CallbackConfig {
        app_id: app_id.into(),
        token: D_TOKEN.into(),
        encoding_aes_key: key.map(str::to_owned),
    })
    .unwrap()
}

fn safe() -> CallbackCodec {
    codec(Some(D_KEY), D_APPID)
}

fn plain() -> CallbackCodec {
    codec(None, D_APPID)
}

fn q(raw: &str) -> CallbackQuery {
    CallbackQuery::parse(raw).unwrap()
}

fn envelope(encrypt: &str) -> String {
    format!("<xml>\n<ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName>\n<Encrypt><![CDATA[{encrypt}]]></Encrypt>\n</xml>")
}

/// The D3 request query, with a given nonce and msg_signature (the URL signature recomputed).
fn d3_query(nonce: &str, msg_signature: &str) -> CallbackQuery {
    let sig = crate::wechat::signature::signature(D_TOKEN, &D3_TS.to_string(), nonce);
    q(&format!(
        "signature={sig}&timestamp={D3_TS}&nonce={nonce}&openid=o9AgO5Kd5ggOC-bXrbNODIiE3bGY&encrypt_type=aes&msg_signature={msg_signature}"
    ))
}

#[test]
fn vector_d1_url_verification_echoes() {
    let query = q("signature=f464b24fc39322e44b38aa78f5edd27bd1441696&timestamp=1714036504&nonce=1514711492&echostr=4375120948345356249");
    assert_eq!(
        plain().verify_url(&query, 1714036504).unwrap(),
        "4375120948345356249"
    );
    // echostr is plain in every mode for Official Accounts (§4.2).
    assert_eq!(
        safe().verify_url(&query, 1714036504).unwrap(),
        "4375120948345356249"
    );
}

#[test]
fn url_verification_failures() {
    let good =
        "signature=f464b24fc39322e44b38aa78f5edd27bd1441696&timestamp=1714036504&nonce=1514711492";
    let now = 1714036504;
    let bad_sig = q(&format!("{}&echostr=1", good.replace("f464", "f465")));
    assert_eq!(
        plain().verify_url(&bad_sig, now),
        Err(CallbackError::BadSignature)
    );
    assert_eq!(
        plain().verify_url(&q(good), now),
        Err(CallbackError::MissingParam("echostr"))
    );
    for echostr in ["%3Cscript%3E", "", "a%20b"] {
        let query = q(&format!("{good}&echostr={echostr}"));
        assert_eq!(
            plain().verify_url(&query, now),
            Err(CallbackError::BadParam("echostr")),
            "{echostr}"
        );
    }
    let long = q(&format!("{good}&echostr={}", "9".repeat(129)));
    assert_eq!(
        plain().verify_url(&long, now),
        Err(CallbackError::BadParam("echostr"))
    );
    let fine = q(&format!("{good}&echostr=1"));
    assert_eq!(
        plain().verify_url(&fine, now + 301),
        Err(CallbackError::StaleTimestamp)
    );
}

#[test]
fn vector_d2_plain_push_signature_is_accepted() {
    let query = q("signature=899cf89e464efb63f54ddac96b0a0a235f53aa78&timestamp=1714037059&nonce=486452656&openid=o1");
    let xml = event_xml(
        "gh_97417a04a28d",
        "o1",
        1714037059,
        "SCAN",
        Some("s1"),
        Some("T"),
    );
    let inbound = plain().open(&query, xml.as_bytes(), 1714037059).unwrap();
    assert_eq!(inbound.mode, Mode::Plain);
    assert_eq!(
        inbound.push.kind,
        PushKind::Scan {
            scene: "s1".into(),
            ticket: Some("T".into())
        }
    );
    assert_eq!(inbound.push.header.from_user, "o1");
}

#[test]
fn vector_d3_passes_signatures_decryption_and_appid() {
    // D3's message is the JSON of a Mini Program push, so the XML parser is the first step
    // that refuses it: every check before it passed.
    let query = q("signature=6c5c811b55cc85e0e1b54100749188c20beb3f5d&timestamp=1714112445&nonce=415670741&openid=o9AgO5Kd5ggOC-bXrbNODIiE3bGY&encrypt_type=aes&msg_signature=046e02f8204d34f8ba5fa3b1db94908f3df2e9b3");
    match safe().open(&query, envelope(D3_ENCRYPT).as_bytes(), D3_TS) {
        Err(CallbackError::Xml(_)) => {}
        other => panic!("expected an XML error, got {other:?}"),
    }
}

#[test]
fn vector_n1_bad_padding() {
    let n1 = "+qdx1OKCy+5JPCBFWw70tm0fJGb2Jmeia4FCB7kao+/Q5c/ohsOzQHi8khUOb05JCpj0JB4RvQMkUyus8TPxLKJGQqcvZqzDpVzazhZv6JsXUnnR8XGT740XgXZUXQ7vJVnAG+tE8NUd4yFyjPy7GgiaviNrlCTj+l5kdfMuFUPpRSrfMZuMcp3Fn2Pede2IuQrKEYwKSqFIZoNqJ4M8EajAsjLY2km32IIjdf8YL/P50F7mStwntrA2cPDrM1kb6mOcfBgRtWygb3VIYnSeaxrebufAlr7F9mFUPAJGj04=";
    let query = d3_query("415670741", "ea4cc316a5a4a762067bf14bf4fa2038e87125e6");
    assert_eq!(
        safe().open(&query, envelope(n1).as_bytes(), D3_TS),
        Err(CallbackError::Decrypt(CryptoError::BadPadding))
    );
}

#[test]
fn vector_n2_tampered_length_is_an_appid_mismatch() {
    let n2 = "+qdx1eKCy+5JPCBFWw70tm0fJGb2Jmeia4FCB7kao+/Q5c/ohsOzQHi8khUOb05JCpj0JB4RvQMkUyus8TPxLKJGQqcvZqzDpVzazhZv6JsXUnnR8XGT740XgXZUXQ7vJVnAG+tE8NUd4yFyjPy7GgiaviNrlCTj+l5kdfMuFUPpRSrfMZuMcp3Fn2Pede2IuQrKEYwKSqFIZoNqJ4M8EajAsjLY2km32IIjdf8YL/P50F7mStwntrA2cPDrM1kb6mOcfBgRtWygb3VIYnSeOBrebufAlr7F9mFUPAJGj04=";
    let query = d3_query("415670741", "62b654f683272621a90b1cf76846cb886ca863b0");
    assert_eq!(
        safe().open(&query, envelope(n2).as_bytes(), D3_TS),
        Err(CallbackError::AppIdMismatch)
    );
}

#[test]
fn vector_n3_other_nonce_fails_msg_signature() {
    let query = d3_query("415670742", "046e02f8204d34f8ba5fa3b1db94908f3df2e9b3");
    assert_eq!(
        safe().open(&query, envelope(D3_ENCRYPT).as_bytes(), D3_TS),
        Err(CallbackError::BadMsgSignature)
    );
    // With the URL signature left as it was, the cheaper URL check refuses first.
    let stale_sig = q("signature=6c5c811b55cc85e0e1b54100749188c20beb3f5d&timestamp=1714112445&nonce=415670742&encrypt_type=aes&msg_signature=046e02f8204d34f8ba5fa3b1db94908f3df2e9b3");
    assert_eq!(
        safe().open(&stale_sig, envelope(D3_ENCRYPT).as_bytes(), D3_TS),
        Err(CallbackError::BadSignature)
    );
}

#[test]
fn vector_n4_other_appid() {
    let query = d3_query("415670741", "046e02f8204d34f8ba5fa3b1db94908f3df2e9b3");
    let other = codec(Some(D_KEY), "wx0000000000000000");
    assert_eq!(
        other.open(&query, envelope(D3_ENCRYPT).as_bytes(), D3_TS),
        Err(CallbackError::AppIdMismatch)
    );
}

#[test]
fn vector_n5_bad_key_fails_construction() {
    for key in [&D_KEY[..42], &format!("{D_KEY}A")] {
        let built = CallbackCodec::new(CallbackConfig {
            app_id: D_APPID.into(),
            token: D_TOKEN.into(),
            encoding_aes_key: Some(key.to_string()),
        });
        assert_eq!(built.unwrap_err(), CryptoError::InvalidKey);
    }
}

/// Round trip through the simulator's builders: WeChat seals, we open and reply, WeChat reads.
fn round_trip(mode: PushMode, key: Option<&str>) {
    // Vector B's key has non-zero trailing bits: the real-world case.
    let wire = Wire::new(D_TOKEN, D_APPID, key).unwrap();
    let codec = codec(key, D_APPID);
    let now = 1_700_000_000;
    let xml = event_xml(
        "gh_1",
        "oUser",
        now,
        "subscribe",
        Some("qrscene_login_abc"),
        Some("TICKET+/="),
    );
    let sealed = wire.seal(
        &xml,
        mode,
        now,
        "123456",
        b"0123456789abcdef",
        Some("oUser"),
    );
    let inbound = codec
        .open(&q(&sealed.query), sealed.body.as_bytes(), now + 3)
        .unwrap();
    let expected_mode = match mode {
        PushMode::Plain => Mode::Plain,
        PushMode::Compatible => Mode::Compatible,
        PushMode::Safe => Mode::Safe,
    };
    assert_eq!(inbound.mode, expected_mode);
    assert_eq!(
        inbound.push.kind,
        PushKind::Subscribe {
            scene: Some("login_abc".into()),
            ticket: Some("TICKET+/=".into())
        }
    );
    let reply_xml = inbound.push.text_reply("登录成功 ]]> ok", now + 3);
    let body = codec.seal_reply(&reply_xml, now + 3, "654321", b"fedcba9876543210");
    if mode == PushMode::Plain {
        assert_eq!(body, reply_xml);
    } else {
        assert!(body.contains("<Encrypt>") && !body.contains("登录成功"));
    }
    match wire.open_reply(mode, &body) {
        Reply::Message(m) => {
            assert_eq!(m.content.as_deref(), Some("登录成功 ]]> ok"));
            assert_eq!(m.to_user, "oUser");
            assert_eq!(m.from_user, "gh_1");
        }
        other => panic!("{other:?}"),
    }
}

const B_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

#[test]
fn plain_round_trip() {
    round_trip(PushMode::Plain, None);
}

#[test]
fn compatible_round_trip() {
    round_trip(PushMode::Compatible, Some(B_KEY));
}

#[test]
fn safe_round_trip() {
    round_trip(PushMode::Safe, Some(B_KEY));
}

#[test]
fn empty_reply_is_success_in_every_mode() {
    assert_eq!(safe().seal_reply("", 1, "n", &[0; 16]), "success");
    assert_eq!(plain().seal_reply("", 1, "n", &[0; 16]), "success");
}

#[test]
fn mode_mismatches_are_refused() {
    let now = 1_700_000_000;
    let xml = event_xml("gh_1", "o", now, "SCAN", Some("s"), Some("t"));
    let plain_wire = Wire::new(D_TOKEN, D_APPID, None).unwrap();
    let sealed = plain_wire.seal(&xml, PushMode::Plain, now, "1", &[0; 16], None);
    // A replayed signature triple with a forged plain body must not pass in safe mode.
    assert_eq!(
        safe().open(&q(&sealed.query), sealed.body.as_bytes(), now),
        Err(CallbackError::EncryptionRequired)
    );

    let safe_wire = Wire::new(D_TOKEN, D_APPID, Some(D_KEY)).unwrap();
    let sealed = safe_wire.seal(&xml, PushMode::Safe, now, "1", &[0; 16], None);
    assert_eq!(
        plain().open(&q(&sealed.query), sealed.body.as_bytes(), now),
        Err(CallbackError::EncryptionNotConfigured)
    );

    let weird = q(&sealed.query.replace("encrypt_type=aes", "encrypt_type=rsa"));
    assert_eq!(
        safe().open(&weird, sealed.body.as_bytes(), now),
        Err(CallbackError::BadParam("encrypt_type"))
    );
}

#[test]
fn missing_and_malformed_parameters() {
    let now = 1_700_000_000;
    let xml = event_xml("gh_1", "o", now, "SCAN", Some("s"), Some("t"));
    let wire = Wire::new(D_TOKEN, D_APPID, Some(D_KEY)).unwrap();
    let sealed = wire.seal(&xml, PushMode::Safe, now, "42", &[0; 16], None);
    let without = |name: &str| {
        let kept: Vec<&str> = sealed
            .query
            .split('&')
            .filter(|p| !p.starts_with(&format!("{name}=")))
            .collect();
        q(&kept.join("&"))
    };
    let body = sealed.body.as_bytes();
    assert_eq!(
        safe().open(&without("signature"), body, now),
        Err(CallbackError::MissingParam("signature"))
    );
    assert_eq!(
        safe().open(&without("timestamp"), body, now),
        Err(CallbackError::MissingParam("timestamp"))
    );
    assert_eq!(
        safe().open(&without("nonce"), body, now),
        Err(CallbackError::MissingParam("nonce"))
    );
    assert_eq!(
        safe().open(&without("msg_signature"), body, now),
        Err(CallbackError::MissingParam("msg_signature"))
    );
    assert_eq!(
        safe().open(
            &q(&sealed.query),
            b"<xml><ToUserName>gh</ToUserName></xml>",
            now
        ),
        Err(CallbackError::MissingParam("Encrypt"))
    );
    let ts = q(&sealed
        .query
        .replace(&format!("timestamp={now}"), "timestamp=-5"));
    assert_eq!(
        safe().open(&ts, body, now),
        Err(CallbackError::BadParam("timestamp"))
    );
}

#[test]
fn timestamp_window_is_300_seconds_both_ways() {
    let at = 1_700_000_000;
    let xml = event_xml("gh_1", "o", at, "SCAN", Some("s"), Some("t"));
    let wire = Wire::new(D_TOKEN, D_APPID, None).unwrap();
    let sealed = wire.seal(&xml, PushMode::Plain, at, "42", &[0; 16], None);
    let query = q(&sealed.query);
    for now in [at - 300, at, at + 300] {
        assert!(
            plain().open(&query, sealed.body.as_bytes(), now).is_ok(),
            "{now}"
        );
    }
    for now in [at - 301, at + 301, 0, u64::MAX] {
        assert_eq!(
            plain().open(&query, sealed.body.as_bytes(), now),
            Err(CallbackError::StaleTimestamp)
        );
    }
}

#[test]
fn junk_bodies_give_typed_errors() {
    let now = 1_700_000_000;
    let wire = Wire::new(D_TOKEN, D_APPID, Some(D_KEY)).unwrap();
    let xml = event_xml("gh_1", "o", now, "SCAN", Some("s"), Some("t"));
    let sealed = wire.seal(&xml, PushMode::Safe, now, "42", &[0; 16], None);

    // Oversized: refused before anything else.
    let huge = vec![b' '; MAX_BODY_BYTES + 1];
    assert_eq!(
        safe().open(&q(&sealed.query), &huge, now),
        Err(CallbackError::TooLarge {
            len: MAX_BODY_BYTES + 1,
            max: MAX_BODY_BYTES
        })
    );
    assert!(check_body_size(MAX_BODY_BYTES).is_ok());
    // Not UTF-8, not XML.
    assert!(matches!(
        safe().open(&q(&sealed.query), &[0xff, 0xfe, b'<'], now),
        Err(CallbackError::Xml(_))
    ));
    assert!(matches!(
        safe().open(&q(&sealed.query), b"hello", now),
        Err(CallbackError::Xml(_))
    ));
    // One character of the ciphertext changed: msg_signature no longer matches.
    let tampered = sealed
        .body
        .replacen("<Encrypt><![CDATA[", "<Encrypt><![CDATA[A", 1);
    assert_eq!(
        safe().open(&q(&sealed.query), tampered.as_bytes(), now),
        Err(CallbackError::BadMsgSignature)
    );

    // A plaintext body that is signed but is not a push.
    let plain_wire = Wire::new(D_TOKEN, D_APPID, None).unwrap();
    for junk in [
        "",
        "not xml",
        "<xml><MsgType>event</MsgType></xml>",
        "<!DOCTYPE x><xml/>",
    ] {
        let sealed = plain_wire.seal(junk, PushMode::Plain, now, "42", &[0; 16], None);
        assert!(
            matches!(
                plain().open(&q(&sealed.query), junk.as_bytes(), now),
                Err(CallbackError::Xml(_))
            ),
            "{junk}"
        );
    }
}

#[test]
fn signed_junk_ciphertexts_give_typed_errors() {
    // Attacker-controlled ciphertext that still carries a valid msg_signature (as if the Token
    // leaked): decryption must fail cleanly, never panic.
    let now = 1_700_000_000u64;
    let ts = now.to_string();
    for encrypt in ["@@@", "AAAA", &D3_ENCRYPT[..64]] {
        let msg_sig = crate::wechat::signature::msg_signature(D_TOKEN, &ts, "7", encrypt);
        let sig = crate::wechat::signature::signature(D_TOKEN, &ts, "7");
        let query = q(&format!(
            "signature={sig}&timestamp={ts}&nonce=7&encrypt_type=aes&msg_signature={msg_sig}"
        ));
        assert!(
            matches!(
                safe().open(&query, envelope(encrypt).as_bytes(), now),
                Err(CallbackError::Decrypt(_))
            ),
            "{encrypt}"
        );
    }
}

#[test]
fn query_parsing() {
    let parsed = q("signature=ab&timestamp=1&nonce=n%2B1&echostr=x+y&foo=bar&openid=");
    assert_eq!(parsed.nonce.as_deref(), Some("n+1"));
    assert_eq!(parsed.echostr.as_deref(), Some("x+y"));
    assert_eq!(parsed.openid.as_deref(), Some(""));
    assert_eq!(parsed.msg_signature, None);
    assert_eq!(
        CallbackQuery::parse("nonce=1&nonce=2"),
        Err(CallbackError::BadParam("nonce"))
    );
    assert_eq!(
        CallbackQuery::parse("nonce=%FF"),
        Err(CallbackError::BadParam("nonce"))
    );
    assert_eq!(CallbackQuery::parse(""), Ok(CallbackQuery::default()));
}

#[test]
fn debug_output_hides_secrets() {
    let config = CallbackConfig {
        app_id: D_APPID.into(),
        token: "tok3n-value".into(),
        encoding_aes_key: Some(B_KEY.into()),
    };
    let shown = format!(
        "{config:?} {:?}",
        CallbackCodec::new(config.clone()).unwrap()
    );
    assert!(
        !shown.contains("tok3n-value") && !shown.contains(B_KEY),
        "{shown}"
    );
}

#[test]
fn error_labels_are_bounded() {
    assert_eq!(CallbackError::BadMsgSignature.label(), "bad_msg_signature");
    assert_eq!(CallbackError::MissingParam("x").label(), "bad_request");
}
