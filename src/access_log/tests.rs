//! The hand-written line must be the line tracing's formatter writes for the same event: the
//! fallback (through tracing) and the fast path are both formatted here, with one fixed time.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;

/// 2026-12-05T11:12:31.000042Z
const NOW: Duration = Duration::new(1_796_469_151, 42_000);
const STAMP: &str = "2026-12-05T11:12:31.000042Z";

struct FixedTime;

impl tracing_subscriber::fmt::time::FormatTime for FixedTime {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        w.write_str(STAMP)
    }
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn by_tracing(line: &AccessLine<'_>, shape: Shape) -> String {
    let out = Captured::default();
    let writer = out.clone();
    let builder = tracing_subscriber::fmt()
        .with_timer(FixedTime)
        .with_ansi(false)
        .with_writer(move || writer.clone());
    match shape {
        Shape::Text => {
            tracing::subscriber::with_default(builder.finish(), || through_tracing(line));
        }
        Shape::Json => {
            let subscriber = builder.json().flatten_event(true).finish();
            tracing::subscriber::with_default(subscriber, || through_tracing(line));
        }
    }
    let bytes = out.0.lock().unwrap().clone();
    String::from_utf8(bytes).unwrap()
}

fn by_hand(line: &AccessLine<'_>, shape: Shape) -> String {
    let mut buf = Vec::new();
    match shape {
        Shape::Text => text(&mut buf, NOW, line),
        Shape::Json => json(&mut buf, NOW, line),
    }
    String::from_utf8(buf).unwrap()
}

fn sample<'a>(client: Option<IpAddr>, error: Option<&'a str>, route: &'a str) -> AccessLine<'a> {
    AccessLine {
        method: "GET",
        host: "app.example.com",
        path: "/app/x%20y",
        route,
        status: 200,
        user_id: "u_9f3k",
        client,
        upstream: Duration::from_micros(1_234),
        total: Duration::from_micros(56_789),
        error,
    }
}

#[test]
fn the_hand_written_line_is_the_line_tracing_writes() {
    let cases = [
        sample(Some("203.0.113.7".parse().unwrap()), None, "app"),
        sample(None, Some("ConnectRefused"), "-"),
        sample(
            Some("2001:db8::1".parse().unwrap()),
            None,
            "we\"ird\\route é",
        ),
        sample(
            Some("10.0.0.255".parse().unwrap()),
            Some("HTTPStatus"),
            "a b",
        ),
    ];
    for line in &cases {
        for shape in [Shape::Text, Shape::Json] {
            assert_eq!(by_hand(line, shape), by_tracing(line, shape), "{shape:?}");
        }
    }
}

#[test]
fn the_text_line_reads_as_documented() {
    let line = sample(Some("203.0.113.7".parse().unwrap()), None, "app");
    assert_eq!(
        by_hand(&line, Shape::Text),
        "2026-12-05T11:12:31.000042Z  INFO access: method=GET host=app.example.com \
         path=/app/x%20y route=\"app\" status=200 user_id=\"u_9f3k\" client=203.0.113.7 \
         upstream_ms=1.2 total_ms=56.8\n"
    );
}

#[test]
fn dates_and_times_known_answers() {
    let cases = [
        (0, "1970-01-01T00:00:00"),
        (951_782_400, "2000-02-29T00:00:00"),
        (1_709_208_000, "2024-02-29T12:00:00"),
        (1_796_469_151, "2026-12-05T11:12:31"),
        (4_102_444_799, "2099-12-31T23:59:59"),
    ];
    for (secs, want) in cases {
        assert_eq!(
            std::str::from_utf8(&date_time(secs)).unwrap(),
            want,
            "{secs}"
        );
    }
}

#[test]
fn durations_are_rounded_to_tenths_of_a_millisecond() {
    let cases = [
        (0, "0.0"),
        (49, "0.0"),
        (50, "0.1"),
        (999, "1.0"),
        (1_234_567, "1234.6"),
    ];
    for (micros, want) in cases {
        let mut buf = Vec::new();
        tenths(&mut buf, Duration::from_micros(micros));
        assert_eq!(String::from_utf8(buf).unwrap(), want, "{micros} µs");
    }
}

#[test]
fn the_timestamp_of_a_new_second_is_formatted_again() {
    let mut buf = Vec::new();
    timestamp(&mut buf, Duration::new(0, 999_999_000));
    timestamp(&mut buf, Duration::new(1, 0));
    assert_eq!(
        String::from_utf8(buf).unwrap(),
        "1970-01-01T00:00:00.999999Z1970-01-01T00:00:01.000000Z"
    );
}
