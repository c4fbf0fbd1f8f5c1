//! Request path normalisation: the one path used both to choose a route and to send upstream,
//! so that no spelling (`%2e%2e`, `//`, `/.;/`, …) can be routed as one path and served as
//! another.
//!
//! - Percent-encoded *unreserved* characters are decoded (`%2e` → `.`, `%41` → `A`); other
//!   escapes are kept, with upper-case hex.
//! - Encoded `/` and `\` (`%2F`, `%5C`), raw `\`, control characters and broken escapes are
//!   refused: upstreams disagree on what they mean, so no answer of ours would be safe.
//! - Empty segments are merged and dot segments resolved (RFC 3986 §5.2.4); a segment whose
//!   part before `;` is `.` or `..` counts as a dot segment too (Tomcat reads `..;` as `..`).
//!
//! [`match_path`] additionally drops `;params` from every segment, for route matching only.

use std::borrow::Cow;

/// Why a request path was refused (answered with 400).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("the request path must start with '/'")]
    NotAbsolute,
    #[error("the request path contains an encoded '/' or '\\'")]
    EncodedSeparator,
    #[error("the request path contains a backslash")]
    Backslash,
    #[error("the request path contains a control character")]
    ControlCharacter,
    #[error("the request path contains a malformed percent escape")]
    BadEscape,
    /// Forward auth only: the path is not in normal form (`..`, `//`, `%2e`, ...), and the
    /// app behind the proxy would receive it as sent, not as we would decide on it.
    #[error(
        "the request path is not in normal form (dot segments, empty segments or encoded \
         unreserved characters); forward auth decides only on paths the app receives as is"
    )]
    NotNormal,
}

/// Normalises `raw` (the path of the request target, without query). Borrowed when the
/// path is already normal, which is the common case.
pub fn normalize(raw: &str) -> Result<Cow<'_, str>, PathError> {
    if raw.is_empty() {
        return Ok(Cow::Borrowed("/"));
    }
    if !raw.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    if is_plain(raw) {
        return Ok(Cow::Borrowed(raw));
    }
    let decoded = decode_unreserved(raw)?;
    Ok(Cow::Owned(remove_dot_segments(&decoded)))
}

/// The path with `;params` removed from every segment: what routes are matched against.
pub fn match_path(normal: &str) -> Cow<'_, str> {
    if !normal.contains(';') {
        return Cow::Borrowed(normal);
    }
    let mut out = String::with_capacity(normal.len());
    for (i, segment) in normal.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.push_str(segment.split(';').next().unwrap_or(""));
    }
    Cow::Owned(out)
}

/// True when nothing in the path needs work: no escapes, no empty or dot segments, nothing
/// to refuse.
fn is_plain(raw: &str) -> bool {
    let bytes = raw.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'%' | b'\\' | 0..=0x1f | 0x7f => return false,
            b'/' => {
                let next = bytes.get(i + 1).copied();
                if next == Some(b'/') {
                    return false;
                }
                if next == Some(b'.') {
                    // "/." followed by end, '/', ';' or another '.' could be a dot segment.
                    let after = bytes.get(i + 2).copied();
                    if matches!(after, None | Some(b'/') | Some(b';') | Some(b'.')) {
                        return false;
                    }
                }
            }
            _ => {}
        }
    }
    true
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn decode_unreserved(raw: &str) -> Result<String, PathError> {
    let bytes = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'\\' => return Err(PathError::Backslash),
            0..=0x1f | 0x7f => return Err(PathError::ControlCharacter),
            b'%' => {
                let (Some(hi), Some(lo)) = (
                    bytes.get(i + 1).copied().and_then(hex_value),
                    bytes.get(i + 2).copied().and_then(hex_value),
                ) else {
                    return Err(PathError::BadEscape);
                };
                let value = hi * 16 + lo;
                match value {
                    b'/' | b'\\' => return Err(PathError::EncodedSeparator),
                    0..=0x1f | 0x7f => return Err(PathError::ControlCharacter),
                    v if is_unreserved(v) => out.push(v as char),
                    v => {
                        out.push('%');
                        out.push(char::from(b"0123456789ABCDEF"[usize::from(v >> 4)]));
                        out.push(char::from(b"0123456789ABCDEF"[usize::from(v & 0xf)]));
                    }
                }
                i += 3;
                continue;
            }
            _ => {}
        }
        // Copy one UTF-8 character (the path came from a &str, so boundaries are valid).
        let ch_len = utf8_len(b);
        out.push_str(&raw[i..i + ch_len]);
        i += ch_len;
    }
    Ok(out)
}

fn utf8_len(first: u8) -> usize {
    match first {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

fn dot_kind(segment: &str) -> Option<bool> {
    // Some(false) = ".", Some(true) = ".."; path parameters do not hide a dot segment.
    match segment.split(';').next().unwrap_or("") {
        "." => Some(false),
        ".." => Some(true),
        _ => None,
    }
}

fn remove_dot_segments(path: &str) -> String {
    let mut stack: Vec<&str> = Vec::new();
    let mut trailing_slash = path.ends_with('/');
    for segment in path.split('/') {
        if segment.is_empty() {
            continue;
        }
        match dot_kind(segment) {
            Some(false) => trailing_slash = true,
            Some(true) => {
                stack.pop();
                trailing_slash = true;
            }
            None => {
                stack.push(segment);
                trailing_slash = false;
            }
        }
    }
    if path.ends_with('/') {
        trailing_slash = true;
    }
    let mut out = String::with_capacity(path.len());
    for segment in &stack {
        out.push('/');
        out.push_str(segment);
    }
    if out.is_empty() || trailing_slash {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        normalize(s).unwrap().into_owned()
    }

    #[test]
    fn plain_paths_are_borrowed_unchanged() {
        for p in [
            "/",
            "/app",
            "/app/x.js",
            "/a/b/",
            "/a/.well-known/x",
            "/a/b..c",
        ] {
            assert!(matches!(normalize(p).unwrap(), Cow::Borrowed(_)), "{p}");
            assert_eq!(norm(p), p);
        }
    }

    #[test]
    fn dot_segments_and_empty_segments_are_resolved() {
        assert_eq!(norm("/public/../admin"), "/admin");
        assert_eq!(norm("/public/./x"), "/public/x");
        assert_eq!(norm("//admin"), "/admin");
        assert_eq!(norm("/a//b///c"), "/a/b/c");
        assert_eq!(norm("/../../etc/passwd"), "/etc/passwd");
        assert_eq!(norm("/a/b/.."), "/a/");
        assert_eq!(norm("/a/."), "/a/");
        assert_eq!(norm("/a/b/"), "/a/b/");
        assert_eq!(norm(""), "/");
    }

    #[test]
    fn encoded_dots_cannot_hide_traversal() {
        assert_eq!(norm("/public/%2e%2e/admin"), "/admin");
        assert_eq!(norm("/public/%2E%2E/admin"), "/admin");
        assert_eq!(norm("/public/.%2e/admin"), "/admin");
        assert_eq!(norm("/%61dmin"), "/admin");
    }

    #[test]
    fn path_parameters_do_not_hide_dot_segments() {
        assert_eq!(norm("/public/..;/admin"), "/admin");
        assert_eq!(norm("/public/.;x/admin"), "/public/admin");
        assert_eq!(match_path("/admin;jsessionid=1/x"), "/admin/x");
        assert_eq!(match_path("/admin"), "/admin");
    }

    #[test]
    fn other_escapes_are_kept_canonical() {
        assert_eq!(norm("/a%20b"), "/a%20b");
        assert_eq!(norm("/a%3fb"), "/a%3Fb");
        assert_eq!(norm("/%E4%BD%A0"), "/%E4%BD%A0");
        assert_eq!(norm("/你好"), "/你好");
    }

    #[test]
    fn dangerous_spellings_are_refused() {
        assert_eq!(
            normalize("/public%2F..%2Fadmin"),
            Err(PathError::EncodedSeparator)
        );
        assert_eq!(normalize("/public%2f"), Err(PathError::EncodedSeparator));
        assert_eq!(
            normalize("/a%5C..%5Cadmin"),
            Err(PathError::EncodedSeparator)
        );
        assert_eq!(normalize("/a\\..\\admin"), Err(PathError::Backslash));
        assert_eq!(normalize("/a%00"), Err(PathError::ControlCharacter));
        assert_eq!(normalize("/a%0d%0aX: y"), Err(PathError::ControlCharacter));
        assert_eq!(normalize("/a%zz"), Err(PathError::BadEscape));
        assert_eq!(normalize("/a%2"), Err(PathError::BadEscape));
        assert_eq!(normalize("admin"), Err(PathError::NotAbsolute));
    }
}
