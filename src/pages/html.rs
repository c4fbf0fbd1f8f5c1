//! Escaping and the one-pass template filler behind every page: all text goes through
//! [`escape_html`] unless the caller states it is markup we wrote ourselves.

use serde::Serialize;

/// One value for a `{{name}}` placeholder.
pub(crate) enum Slot<'a> {
    /// Text from anywhere (config, request, messages): HTML-escaped on insertion.
    Text(&'a str),
    /// Markup or code we wrote (embedded CSS, already-escaped fragments): inserted as is.
    Raw(&'a str),
}

/// Appends `text` to `out` with `& < > " '` replaced by entities, so the result is safe in
/// element content and in quoted attribute values alike.
pub(crate) fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
}

/// `text` HTML-escaped (see [`escape_into`]).
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    escape_into(&mut out, text);
    out
}

/// JSON for the inside of a `<script type="application/json">` element. HTML entities mean
/// nothing there, so `<`, `>` and `&` become JSON `\u` escapes instead: `</script>` and
/// `<!--` cannot end the element, and `JSON.parse` still reads the same value.
pub(crate) fn json_for_script<T: Serialize>(value: &T) -> String {
    // Serialising our own plain structs cannot fail; an empty object keeps the page valid.
    let json = serde_json::to_string(value).unwrap_or_else(|_| String::from("{}"));
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            _ => out.push(c),
        }
    }
    out
}

/// Replaces each `{{name}}` of `template` by its slot, in one pass: inserted values are never
/// scanned again, so a value containing `{{x}}` stays literal. A name without a slot becomes
/// empty (the tests check that every embedded template is filled completely).
pub(crate) fn fill(template: &str, slots: &[(&str, Slot<'_>)]) -> String {
    let mut out = String::with_capacity(template.len() * 2);
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            out.push_str(&rest[open..]);
            return out;
        };
        match slots.iter().find(|(name, _)| *name == &after[..close]) {
            Some((_, Slot::Text(v))) => escape_into(&mut out, v),
            Some((_, Slot::Raw(v))) => out.push_str(v),
            None => {}
        }
        rest = &after[close + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_both_quotes() {
        assert_eq!(
            escape_html(r#"<a href="x" title='y'>&</a>"#),
            "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;"
        );
        assert_eq!(escape_html("登录 plain"), "登录 plain");
    }

    #[test]
    fn json_for_script_cannot_close_the_element_and_round_trips() {
        let value = serde_json::json!({ "rd": "/a</script><script>alert(1)</script>&<!--" });
        let out = json_for_script(&value);
        assert!(!out.contains('<') && !out.contains('>') && !out.contains('&'));
        let back: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(back, value);
    }

    #[test]
    fn fill_escapes_text_keeps_raw_and_does_not_rescan_values() {
        let out = fill(
            "<p title=\"{{a}}\">{{b}}</p>{{missing}}{{c}}",
            &[
                ("a", Slot::Text("\"><x")),
                ("b", Slot::Raw("<b>ok</b>")),
                ("c", Slot::Text("{{a}}")),
            ],
        );
        assert_eq!(out, "<p title=\"&quot;&gt;&lt;x\"><b>ok</b></p>{{a}}");
    }

    #[test]
    fn fill_keeps_an_unclosed_placeholder_literally() {
        assert_eq!(fill("a {{b", &[("b", Slot::Raw("x"))]), "a {{b");
    }
}
