//! Builders for the XML we answer WeChat with (wechat-protocol.md §6.6, §7).

/// The body that tells WeChat "received, no reply" (§4.4). Needs no encryption in any mode.
pub const SUCCESS: &str = "success";

/// Appends `<![CDATA[value]]>`, splitting any `]]>` in `value` across two sections so the value
/// cannot close the section early.
pub fn push_cdata(out: &mut String, value: &str) {
    out.push_str("<![CDATA[");
    out.push_str(&value.replace("]]>", "]]]]><![CDATA[>"));
    out.push_str("]]>");
}

fn push_element_cdata(out: &mut String, name: &str, value: &str) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    push_cdata(out, value);
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

fn push_element_number(out: &mut String, name: &str, value: u64) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    out.push_str(&value.to_string());
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

/// A passive text reply (§7). `to_user` is the user's openid (the push's `FromUserName`),
/// `from_user` the Official Account's original id (the push's `ToUserName`).
pub fn text_reply(to_user: &str, from_user: &str, create_time: u64, content: &str) -> String {
    let mut out = String::with_capacity(160 + content.len());
    out.push_str("<xml>");
    push_element_cdata(&mut out, "ToUserName", to_user);
    push_element_cdata(&mut out, "FromUserName", from_user);
    push_element_number(&mut out, "CreateTime", create_time);
    push_element_cdata(&mut out, "MsgType", "text");
    push_element_cdata(&mut out, "Content", content);
    out.push_str("</xml>");
    out
}

/// The safe-mode reply envelope (§6.6): `Encrypt` is the encrypted reply, `msg_signature` the
/// `MsgSignature` over (token, `timestamp`, `nonce`, `Encrypt`).
pub fn encrypted_envelope(
    encrypt: &str,
    msg_signature: &str,
    timestamp: u64,
    nonce: &str,
) -> String {
    let mut out = String::with_capacity(128 + encrypt.len());
    out.push_str("<xml>");
    push_element_cdata(&mut out, "Encrypt", encrypt);
    push_element_cdata(&mut out, "MsgSignature", msg_signature);
    push_element_number(&mut out, "TimeStamp", timestamp);
    push_element_cdata(&mut out, "Nonce", nonce);
    out.push_str("</xml>");
    out
}

/// The request envelope WeChat sends in safe mode (§6.6); the simulator builds it.
pub fn safe_push_envelope(to_user: &str, encrypt: &str) -> String {
    let mut out = String::with_capacity(96 + encrypt.len());
    out.push_str("<xml>");
    push_element_cdata(&mut out, "ToUserName", to_user);
    push_element_cdata(&mut out, "Encrypt", encrypt);
    out.push_str("</xml>");
    out
}

/// The compatible-mode request body (§4.3): the plaintext message with `Encrypt` added as its
/// last element. `None` when `plain_xml` does not end with `</xml>`.
pub fn compatible_push_body(plain_xml: &str, encrypt: &str) -> Option<String> {
    let head = plain_xml.trim_end().strip_suffix("</xml>")?;
    let mut out = String::with_capacity(plain_xml.len() + encrypt.len() + 40);
    out.push_str(head);
    push_element_cdata(&mut out, "Encrypt", encrypt);
    out.push_str("</xml>");
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wechat::message::{parse_reply, parse_reply_envelope};

    #[test]
    fn text_reply_matches_the_documented_shape() {
        // wechat-protocol.md §7.
        assert_eq!(
            text_reply(
                "oyORnuP8q7ou2gfYjqLzSIWZf0rs",
                "gh_10f6c3c3ac5a",
                1714112446,
                "登录成功"
            ),
            "<xml><ToUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></ToUserName>\
             <FromUserName><![CDATA[gh_10f6c3c3ac5a]]></FromUserName>\
             <CreateTime>1714112446</CreateTime><MsgType><![CDATA[text]]></MsgType>\
             <Content><![CDATA[登录成功]]></Content></xml>"
        );
    }

    #[test]
    fn cdata_terminator_in_content_survives_a_round_trip() {
        for content in [
            "a]]>b",
            "]]>",
            "]]]]>>",
            "x]]",
            "<![CDATA[",
            "line1\nline2 & <b>",
        ] {
            let xml = text_reply("o", "gh", 1, content);
            let parsed = parse_reply(&xml).unwrap();
            assert_eq!(parsed.content.as_deref(), Some(content), "{xml}");
            assert_eq!(parsed.to_user, "o");
        }
    }

    #[test]
    fn encrypted_envelope_matches_vector_d4_shape_and_parses() {
        let xml = encrypted_envelope(
            "ELGd==",
            "1b9339964ed2e271e7c7b6ff2b0ef902fc94dea1",
            1713424427,
            "415670741",
        );
        assert_eq!(
            xml,
            "<xml><Encrypt><![CDATA[ELGd==]]></Encrypt>\
             <MsgSignature><![CDATA[1b9339964ed2e271e7c7b6ff2b0ef902fc94dea1]]></MsgSignature>\
             <TimeStamp>1713424427</TimeStamp><Nonce><![CDATA[415670741]]></Nonce></xml>"
        );
        let env = parse_reply_envelope(&xml).unwrap();
        assert_eq!(env.timestamp, "1713424427");
        assert_eq!(env.nonce, "415670741");
        assert_eq!(env.encrypt, "ELGd==");
    }

    #[test]
    fn compatible_body_appends_encrypt() {
        let body =
            compatible_push_body("<xml><MsgType><![CDATA[text]]></MsgType></xml>\n", "E").unwrap();
        assert_eq!(
            body,
            "<xml><MsgType><![CDATA[text]]></MsgType><Encrypt><![CDATA[E]]></Encrypt></xml>"
        );
        assert_eq!(compatible_push_body("<xml>", "E"), None);
    }
}
