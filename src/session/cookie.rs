//! The `Cookie` request header (reading and removing one cookie) and the `Set-Cookie`
//! values of the session cookie.

/// The value of the first cookie called `name` in a `Cookie` header (`a=1; b=2`), with
/// surrounding whitespace and one pair of double quotes removed. Names are case-sensitive;
/// pieces without `=` are skipped.
pub fn find_cookie<'a>(cookie_header: &'a str, name: &str) -> Option<&'a str> {
    pairs(cookie_header).find_map(|(n, v)| (n == name).then(|| unquote(v)))
}

/// Every cookie whose name starts with `prefix`, as (the rest of its name, value), with the
/// value unquoted as by [`find_cookie`].
pub fn cookies_with_prefix<'a>(
    cookie_header: &'a str,
    prefix: &'a str,
) -> impl Iterator<Item = (&'a str, &'a str)> {
    pairs(cookie_header).filter_map(move |(n, v)| Some((n.strip_prefix(prefix)?, unquote(v))))
}

/// `cookie_header` with every cookie called `name` removed and the rest joined with `"; "`;
/// `None` when no cookie is left, so the caller can drop the header.
pub fn strip_cookie(cookie_header: &str, name: &str) -> Option<String> {
    let mut out = String::with_capacity(cookie_header.len());
    for piece in cookie_header.split(';') {
        let piece = piece.trim_matches(is_space);
        if piece.is_empty()
            || piece.split_once('=').map(|(n, _)| n.trim_matches(is_space)) == Some(name)
        {
            continue;
        }
        if !out.is_empty() {
            out.push_str("; ");
        }
        out.push_str(piece);
    }
    (!out.is_empty()).then_some(out)
}

/// `name=value; Path=/; HttpOnly; SameSite=Lax; Max-Age=N[; Secure][; Domain=d]`.
pub(crate) fn render(
    name: &str,
    value: &str,
    max_age: u64,
    secure: bool,
    domain: Option<&str>,
) -> String {
    let mut out = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}");
    if secure {
        out.push_str("; Secure");
    }
    if let Some(domain) = domain {
        out.push_str("; Domain=");
        out.push_str(domain);
    }
    out
}

fn is_space(c: char) -> bool {
    c == ' ' || c == '\t'
}

fn pairs(header: &str) -> impl Iterator<Item = (&str, &str)> {
    header.split(';').filter_map(|piece| {
        let (name, value) = piece.split_once('=')?;
        Some((name.trim_matches(is_space), value.trim_matches(is_space)))
    })
}

fn unquote(value: &str) -> &str {
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_cookies_among_others() {
        assert_eq!(find_cookie("a=1; b=2", "a"), Some("1"));
        assert_eq!(find_cookie("a=1; b=2", "b"), Some("2"));
        assert_eq!(find_cookie("a=1;b=2", "b"), Some("2"));
        assert_eq!(find_cookie("  a = 1 ;\tb=2  ", "a"), Some("1"));
        assert_eq!(find_cookie("a=1; b=2", "c"), None);
        assert_eq!(find_cookie("", "a"), None);
    }

    #[test]
    fn first_match_wins_and_names_are_exact() {
        assert_eq!(find_cookie("s=first; s=second", "s"), Some("first"));
        assert_eq!(find_cookie("xs=1; s=2", "s"), Some("2"));
        assert_eq!(find_cookie("S=1; s=2", "s"), Some("2"));
        assert_eq!(find_cookie("s_x=1", "s"), None);
    }

    #[test]
    fn odd_pieces() {
        assert_eq!(find_cookie(r#"s="a.b.c""#, "s"), Some("a.b.c"));
        assert_eq!(find_cookie(r#"s=""#, "s"), Some("\""));
        assert_eq!(find_cookie("s=", "s"), Some(""));
        assert_eq!(find_cookie("s=a=b", "s"), Some("a=b"));
        assert_eq!(find_cookie("junk; s=1", "s"), Some("1"));
        assert_eq!(find_cookie(";;; s=1 ;;", "s"), Some("1"));
    }

    #[test]
    fn strip_removes_every_copy_and_keeps_the_rest() {
        assert_eq!(
            strip_cookie("a=1; s=x; b=2; s=y", "s").as_deref(),
            Some("a=1; b=2")
        );
        assert_eq!(strip_cookie("s=x", "s"), None);
        assert_eq!(strip_cookie(" s=x ;  s = y ;", "s"), None);
        assert_eq!(strip_cookie("", "s"), None);
        assert_eq!(strip_cookie("a=1;b=2", "s").as_deref(), Some("a=1; b=2"));
        assert_eq!(
            strip_cookie("xs=1; s_=2", "s").as_deref(),
            Some("xs=1; s_=2")
        );
        // A piece without `=` is not ours to judge: kept.
        assert_eq!(strip_cookie("flag; s=1", "s").as_deref(), Some("flag"));
    }

    #[test]
    fn renders_attributes() {
        assert_eq!(
            render("sess", "tok", 60, false, None),
            "sess=tok; Path=/; HttpOnly; SameSite=Lax; Max-Age=60"
        );
        assert_eq!(
            render("sess", "tok", 60, true, Some("example.com")),
            "sess=tok; Path=/; HttpOnly; SameSite=Lax; Max-Age=60; Secure; Domain=example.com"
        );
    }
}
