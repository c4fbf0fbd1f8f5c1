//! The access log line: one per request, formatted by hand into the [`log_sink`] buffer.
//!
//! tracing's formatter cost ~17k instructions per line (a field visitor, `fmt::Write` for every
//! value, floats through `core::fmt`, a timestamp formatted from scratch) and its `write(2)`
//! ran on the pingora worker. This writes the same line, byte for byte (a test formats both),
//! with integers only: the timestamp's date and time are formatted once per second per
//! thread, the durations are whole tenths of a millisecond. Where no sink is installed
//! (gateways run inside tests), the line goes through tracing as before.
//!
//! [`log_sink`]: crate::log_sink

use std::cell::RefCell;
use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::log_sink::{self, LogSink};

/// The log target of access lines (`RUST_LOG=access=off` silences them).
pub const TARGET: &str = "access";

/// What one access line says.
pub struct AccessLine<'a> {
    pub method: &'a str,
    pub host: &'a str,
    pub path: &'a str,
    pub route: &'a str,
    pub status: u16,
    pub user_id: &'a str,
    pub client: Option<IpAddr>,
    /// From sending the request upstream to its response head; zero when there was none.
    pub upstream: Duration,
    pub total: Duration,
    /// pingora's error type, when the request ended in one.
    pub error: Option<&'a str>,
}

/// The two shapes of log line `--log-format` chooses between.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    Text,
    Json,
}

static SHAPE: std::sync::OnceLock<Shape> = std::sync::OnceLock::new();

/// Sets the shape access lines are written in (once, by `main`, with the sink).
pub fn set_shape(shape: Shape) {
    let _ = SHAPE.set(shape);
}

/// Writes the line: to the process's sink when there is one, else through tracing.
pub fn emit(line: &AccessLine<'_>) {
    if !tracing::enabled!(target: TARGET, tracing::Level::INFO) {
        return;
    }
    match log_sink::global() {
        Some(sink) => write_to(sink, line, SHAPE.get().copied().unwrap_or(Shape::Text)),
        None => through_tracing(line),
    }
}

fn write_to(sink: &LogSink, line: &AccessLine<'_>, shape: Shape) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    sink.append(false, |buf| match shape {
        Shape::Text => text(buf, now, line),
        Shape::Json => json(buf, now, line),
    });
}

fn through_tracing(line: &AccessLine<'_>) {
    tracing::info!(
        target: "access",
        method = %line.method,
        host = %line.host,
        path = %line.path,
        route = line.route,
        status = line.status,
        user_id = line.user_id,
        client = %Client(line.client),
        upstream_ms = %Tenths(line.upstream),
        total_ms = %Tenths(line.total),
        error = line.error,
    );
}

/// `2026-12-05T11:12:31.123456Z  INFO access: method=GET host=… total_ms=0.4`, as tracing's
/// default formatter writes it without colours: `%`-recorded values bare, strings quoted.
pub fn text(buf: &mut Vec<u8>, now: Duration, line: &AccessLine<'_>) {
    timestamp(buf, now);
    buf.extend_from_slice(b"  INFO access: method=");
    buf.extend_from_slice(line.method.as_bytes());
    buf.extend_from_slice(b" host=");
    buf.extend_from_slice(line.host.as_bytes());
    buf.extend_from_slice(b" path=");
    buf.extend_from_slice(line.path.as_bytes());
    buf.extend_from_slice(b" route=");
    debug_str(buf, line.route);
    buf.extend_from_slice(b" status=");
    integer(buf, u64::from(line.status));
    buf.extend_from_slice(b" user_id=");
    debug_str(buf, line.user_id);
    buf.extend_from_slice(b" client=");
    client(buf, line.client);
    buf.extend_from_slice(b" upstream_ms=");
    tenths(buf, line.upstream);
    buf.extend_from_slice(b" total_ms=");
    tenths(buf, line.total);
    if let Some(error) = line.error {
        buf.extend_from_slice(b" error=");
        debug_str(buf, error);
    }
    buf.push(b'\n');
}

/// The JSON line `--log-format json` writes (tracing's, flattened): every value a string but
/// `status`.
pub fn json(buf: &mut Vec<u8>, now: Duration, line: &AccessLine<'_>) {
    buf.extend_from_slice(b"{\"timestamp\":\"");
    timestamp(buf, now);
    buf.extend_from_slice(b"\",\"level\":\"INFO\",\"method\":");
    json_str(buf, line.method);
    buf.extend_from_slice(b",\"host\":");
    json_str(buf, line.host);
    buf.extend_from_slice(b",\"path\":");
    json_str(buf, line.path);
    buf.extend_from_slice(b",\"route\":");
    json_str(buf, line.route);
    buf.extend_from_slice(b",\"status\":");
    integer(buf, u64::from(line.status));
    buf.extend_from_slice(b",\"user_id\":");
    json_str(buf, line.user_id);
    buf.extend_from_slice(b",\"client\":\"");
    client(buf, line.client);
    buf.extend_from_slice(b"\",\"upstream_ms\":\"");
    tenths(buf, line.upstream);
    buf.extend_from_slice(b"\",\"total_ms\":\"");
    tenths(buf, line.total);
    buf.push(b'"');
    if let Some(error) = line.error {
        buf.extend_from_slice(b",\"error\":");
        json_str(buf, error);
    }
    buf.extend_from_slice(b",\"target\":\"access\"}\n");
}

thread_local! {
    /// The second last formatted, and its `YYYY-MM-DDTHH:MM:SS`.
    static SECOND: RefCell<(u64, [u8; 19])> = const { RefCell::new((u64::MAX, [0; 19])) };
}

/// RFC 3339 in UTC with microseconds, as tracing's default timer: `2026-12-05T11:12:31.123456Z`.
fn timestamp(buf: &mut Vec<u8>, now: Duration) {
    let secs = now.as_secs();
    SECOND.with(|cell| {
        let mut cached = cell.borrow_mut();
        if cached.0 != secs {
            *cached = (secs, date_time(secs));
        }
        buf.extend_from_slice(&cached.1);
    });
    buf.push(b'.');
    let micros = now.subsec_micros();
    let mut digits = [b'0'; 6];
    let mut rest = micros;
    for d in digits.iter_mut().rev() {
        *d = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    buf.extend_from_slice(&digits);
    buf.push(b'Z');
}

/// `YYYY-MM-DDTHH:MM:SS` of a Unix time.
fn date_time(secs: u64) -> [u8; 19] {
    let (year, month, day) = crate::utc::civil(secs);
    let of_day = secs % 86_400;
    let mut out = *b"0000-00-00T00:00:00";
    let mut put = |at: usize, width: usize, mut v: u64| {
        for i in (0..width).rev() {
            out[at + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, year.min(9999));
    put(5, 2, month);
    put(8, 2, day);
    put(11, 2, of_day / 3600);
    put(14, 2, of_day % 3600 / 60);
    put(17, 2, of_day % 60);
    out
}

fn integer(buf: &mut Vec<u8>, v: u64) {
    let mut digits = itoa::Buffer::new();
    buf.extend_from_slice(digits.format(v).as_bytes());
}

/// Milliseconds with one decimal, rounded to the nearest tenth.
fn tenths(buf: &mut Vec<u8>, d: Duration) {
    let tenths = (d.as_micros() + 50) / 100;
    integer(buf, (tenths / 10) as u64);
    buf.push(b'.');
    buf.push(b'0' + (tenths % 10) as u8);
}

fn client(buf: &mut Vec<u8>, ip: Option<IpAddr>) {
    match ip {
        None => buf.push(b'-'),
        Some(IpAddr::V4(v4)) => {
            for (i, octet) in v4.octets().iter().enumerate() {
                if i > 0 {
                    buf.push(b'.');
                }
                integer(buf, u64::from(*octet));
            }
        }
        Some(ip @ IpAddr::V6(_)) => {
            use std::io::Write;
            let _ = write!(buf, "{ip}");
        }
    }
}

/// A string as `{:?}` writes it, which is how tracing's text format shows `&str` fields.
fn debug_str(buf: &mut Vec<u8>, s: &str) {
    if s.bytes()
        .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\' || b == b' ')
    {
        buf.push(b'"');
        buf.extend_from_slice(s.as_bytes());
        buf.push(b'"');
    } else {
        use std::io::Write;
        let _ = write!(buf, "{s:?}");
    }
}

fn json_str(buf: &mut Vec<u8>, s: &str) {
    if s.bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
    {
        buf.push(b'"');
        buf.extend_from_slice(s.as_bytes());
        buf.push(b'"');
    } else {
        // Rare (non-ASCII paths are percent-encoded on the wire): serde_json's escaping.
        let _ = serde_json::to_writer(&mut *buf, s);
    }
}

/// `-` or the address, for the tracing fallback.
struct Client(Option<IpAddr>);

impl std::fmt::Display for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(ip) => write!(f, "{ip}"),
            None => f.write_str("-"),
        }
    }
}

struct Tenths(Duration);

impl std::fmt::Display for Tenths {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut buf = Vec::with_capacity(8);
        tenths(&mut buf, self.0);
        f.write_str(std::str::from_utf8(&buf).map_err(|_| std::fmt::Error)?)
    }
}

#[cfg(test)]
mod tests;
