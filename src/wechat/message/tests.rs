use super::*;
use crate::wechat::signature::{signature, verify_signature};

fn proof() -> VerifiedCallback {
    verify_signature("t", "1", "2", &signature("t", "1", "2")).unwrap()
}

fn parse(xml: &str) -> Result<Push, XmlError> {
    parse_push(xml, &proof())
}

const TICKET: &str = "gQH47joAAAAAAAAAASxodHRwOi8vd2VpeGluLnFxLmNvbS9xL2taZ2Z3TVRtNzJXV1Brb3ZhYmJJAAIEZ23sUwMEmm3sUw==";

// The samples of wechat-protocol.md §5.1–5.5, with their whitespace and indentation.
const SUBSCRIBE_QR: &str = r#"<xml>
  <ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>
  <FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>
  <CreateTime>1714112445</CreateTime>
  <MsgType><![CDATA[event]]></MsgType>
  <Event><![CDATA[subscribe]]></Event>
  <EventKey><![CDATA[qrscene_login_3q2Xk9]]></EventKey>
  <Ticket><![CDATA[gQH47joAAAAAAAAAASxodHRwOi8vd2VpeGluLnFxLmNvbS9xL2taZ2Z3TVRtNzJXV1Brb3ZhYmJJAAIEZ23sUwMEmm3sUw==]]></Ticket>
</xml>"#;

const SCAN: &str = r#"<xml>
  <ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>
  <FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>
  <CreateTime>1714112445</CreateTime>
  <MsgType><![CDATA[event]]></MsgType>
  <Event><![CDATA[SCAN]]></Event>
  <EventKey><![CDATA[login_3q2Xk9]]></EventKey>
  <Ticket><![CDATA[gQH47joAAAAAAAAAASxodHRwOi8vd2VpeGluLnFxLmNvbS9xL2taZ2Z3TVRtNzJXV1Brb3ZhYmJJAAIEZ23sUwMEmm3sUw==]]></Ticket>
</xml>"#;

const SUBSCRIBE_PLAIN: &str = r#"<xml>
  <ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>
  <FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>
  <CreateTime>1714112445</CreateTime>
  <MsgType><![CDATA[event]]></MsgType>
  <Event><![CDATA[subscribe]]></Event>
</xml>"#;

const TEXT: &str = r#"<xml>
  <ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>
  <FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>
  <CreateTime>1348831860</CreateTime>
  <MsgType><![CDATA[text]]></MsgType>
  <Content><![CDATA[this is a test]]></Content>
  <MsgId>1234567890123456</MsgId>
</xml>"#;

#[test]
fn subscribe_via_qr_code() {
    let push = parse(SUBSCRIBE_QR).unwrap();
    assert_eq!(
        push.header,
        Header {
            to_user: "gh_10f6c3c3ac5a".into(),
            from_user: "oyORnuP8q7ou2gfYjqLzSIWZf0rs".into(),
            create_time: 1714112445,
            msg_id: None,
        }
    );
    assert_eq!(
        push.kind,
        PushKind::Subscribe {
            scene: Some("login_3q2Xk9".into()),
            ticket: Some(TICKET.into())
        }
    );
    assert_eq!(
        push.dedupe_key(),
        "event:oyORnuP8q7ou2gfYjqLzSIWZf0rs:1714112445:subscribe:qrscene_login_3q2Xk9"
    );
}

#[test]
fn scan_by_follower() {
    let push = parse(SCAN).unwrap();
    assert_eq!(
        push.kind,
        PushKind::Scan {
            scene: "login_3q2Xk9".into(),
            ticket: Some(TICKET.into())
        }
    );
    assert_eq!(
        push.dedupe_key(),
        "event:oyORnuP8q7ou2gfYjqLzSIWZf0rs:1714112445:SCAN:login_3q2Xk9"
    );
}

#[test]
fn subscribe_and_scan_keys_differ_for_the_same_second() {
    assert_ne!(
        parse(SUBSCRIBE_QR).unwrap().dedupe_key(),
        parse(SCAN).unwrap().dedupe_key()
    );
}

#[test]
fn plain_subscribe_has_no_scene() {
    assert_eq!(
        parse(SUBSCRIBE_PLAIN).unwrap().kind,
        PushKind::Subscribe {
            scene: None,
            ticket: None
        }
    );
    // An empty EventKey counts as absent, and so does a bare "qrscene_".
    for key in [
        "<EventKey></EventKey>",
        "<EventKey><![CDATA[]]></EventKey>",
        "<EventKey/>",
        "<EventKey>qrscene_</EventKey>",
    ] {
        let xml = SUBSCRIBE_PLAIN.replace("</xml>", &format!("{key}</xml>"));
        assert_eq!(
            parse(&xml).unwrap().kind,
            PushKind::Subscribe {
                scene: None,
                ticket: None
            },
            "{key}"
        );
    }
}

#[test]
fn unsubscribe() {
    let xml = SUBSCRIBE_PLAIN.replace("[subscribe]", "[unsubscribe]");
    let push = parse(&xml).unwrap();
    assert_eq!(push.kind, PushKind::Unsubscribe);
    assert_eq!(
        push.dedupe_key(),
        "event:oyORnuP8q7ou2gfYjqLzSIWZf0rs:1714112445:unsubscribe:"
    );
}

#[test]
fn text_message_dedupes_by_msg_id() {
    let push = parse(TEXT).unwrap();
    assert_eq!(
        push.kind,
        PushKind::Text {
            content: "this is a test".into()
        }
    );
    assert_eq!(push.header.msg_id.as_deref(), Some("1234567890123456"));
    assert_eq!(
        push.dedupe_key(),
        "msg:1234567890123456:oyORnuP8q7ou2gfYjqLzSIWZf0rs:1348831860"
    );
}

#[test]
fn event_names_compare_case_insensitively() {
    let lower = SCAN.replace("[SCAN]", "[scan]");
    assert!(matches!(parse(&lower).unwrap().kind, PushKind::Scan { .. }));
    let upper = SUBSCRIBE_QR
        .replace("[subscribe]", "[SUBSCRIBE]")
        .replace("[event]", "[EVENT]");
    assert!(matches!(
        parse(&upper).unwrap().kind,
        PushKind::Subscribe { scene: Some(_), .. }
    ));
}

#[test]
fn scan_without_event_key_is_other() {
    let xml = SCAN.replace("<EventKey><![CDATA[login_3q2Xk9]]></EventKey>", "");
    assert_eq!(
        parse(&xml).unwrap().kind,
        PushKind::Other {
            msg_type: "event".into(),
            event: Some("SCAN".into())
        }
    );
}

#[test]
fn other_messages_and_events() {
    let click = SUBSCRIBE_PLAIN.replace("[subscribe]", "[CLICK]");
    assert_eq!(
        parse(&click).unwrap().kind,
        PushKind::Other {
            msg_type: "event".into(),
            event: Some("CLICK".into())
        }
    );
    let image = TEXT.replace("[text]", "[image]");
    assert_eq!(
        parse(&image).unwrap().kind,
        PushKind::Other {
            msg_type: "image".into(),
            event: None
        }
    );
}

#[test]
fn order_compactness_and_unknown_elements_do_not_matter() {
    let xml = "<xml><Ticket>T</Ticket><ScanCodeInfo><ScanType>qrcode</ScanType><Nested><Deep/></Nested></ScanCodeInfo>\
               <EventKey>s1</EventKey><Event>SCAN</Event><MsgType>event</MsgType><CreateTime>7</CreateTime>\
               <FromUserName>o1</FromUserName><Unknown a=\"b\">x</Unknown><ToUserName>gh</ToUserName></xml>";
    let push = parse(xml).unwrap();
    assert_eq!(
        push.kind,
        PushKind::Scan {
            scene: "s1".into(),
            ticket: Some("T".into())
        }
    );
    assert_eq!(push.header.from_user, "o1");
}

#[test]
fn escaped_text_is_unescaped() {
    let xml = TEXT.replace("<![CDATA[this is a test]]>", "a &lt;b&gt; &amp; c");
    assert_eq!(
        parse(&xml).unwrap().kind,
        PushKind::Text {
            content: "a <b> & c".into()
        }
    );
}

#[test]
fn junk_is_a_typed_error() {
    let huge_nesting = format!(
        "<xml>{}{}</xml>",
        "<a>".repeat(20_000),
        "</a>".repeat(20_000)
    );
    let cases: Vec<String> = vec![
        String::new(),
        "not xml at all".into(),
        r#"{"ToUserName":"gh"}"#.into(),
        SUBSCRIBE_QR[..120].into(),
        SUBSCRIBE_QR.replace(
            "<CreateTime>1714112445</CreateTime>",
            "<CreateTime>soon</CreateTime>",
        ),
        SUBSCRIBE_QR.replace("<CreateTime>1714112445</CreateTime>", ""),
        SUBSCRIBE_QR.replace("</Event>", "</Evnt>"),
        SUBSCRIBE_QR.replace("<MsgType>", "<MsgType>x</MsgType><MsgType>"),
        "<xml><ToUserName>&bogus;</ToUserName></xml>".into(),
        huge_nesting,
    ];
    for xml in cases {
        assert!(
            matches!(parse(&xml), Err(XmlError::Malformed(_))),
            "{:.80}",
            xml
        );
    }
}

#[test]
fn doctype_is_refused() {
    let xml = format!(
        "<!DOCTYPE xml [<!ENTITY e \"boom\">]>{}",
        SUBSCRIBE_QR.replace("gh_10f6c3c3ac5a", "&e;")
    );
    assert_eq!(parse(&xml).unwrap_err(), XmlError::Doctype);
    assert_eq!(parse_envelope(&xml).unwrap_err(), XmlError::Doctype);
    assert_eq!(
        parse(&SUBSCRIBE_QR.replace("<xml>", "<!doctype x><xml>")).unwrap_err(),
        XmlError::Doctype
    );
    // After other declarations (CDATA sections), in any case.
    assert_eq!(
        parse(&format!("{SUBSCRIBE_QR}<!DocType x>")).unwrap_err(),
        XmlError::Doctype
    );
    // A declaration cut short is malformed XML, not a DOCTYPE.
    for cut in ["<!", "<!DOCTYP"] {
        assert!(
            matches!(
                parse(&format!("{SUBSCRIBE_QR}{cut}")),
                Err(XmlError::Malformed(_)) | Ok(_)
            ),
            "{cut}"
        );
    }
}

#[test]
fn envelopes() {
    let safe = "<xml>\n<ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName>\n<Encrypt><![CDATA[abc=]]></Encrypt>\n</xml>";
    assert_eq!(
        parse_envelope(safe).unwrap(),
        Envelope {
            encrypt: Some("abc=".into()),
            has_plain_fields: false
        }
    );
    let compat = TEXT.replace("</xml>", "<Encrypt><![CDATA[abc=]]></Encrypt></xml>");
    assert_eq!(
        parse_envelope(&compat).unwrap(),
        Envelope {
            encrypt: Some("abc=".into()),
            has_plain_fields: true
        }
    );
    assert_eq!(
        parse_envelope(TEXT).unwrap(),
        Envelope {
            encrypt: None,
            has_plain_fields: true
        }
    );
    assert!(parse_envelope("junk").is_err());
}

#[test]
fn text_reply_swaps_users() {
    let push = parse(SCAN).unwrap();
    let reply = parse_reply(&push.text_reply("登录成功", 1714112446)).unwrap();
    assert_eq!(reply.to_user, "oyORnuP8q7ou2gfYjqLzSIWZf0rs");
    assert_eq!(reply.from_user, "gh_10f6c3c3ac5a");
    assert_eq!(reply.create_time, 1714112446);
    assert_eq!(reply.msg_type, "text");
    assert_eq!(reply.content.as_deref(), Some("登录成功"));
}
