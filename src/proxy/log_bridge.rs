//! pingora logs through the `log` crate; this hands its records to `tracing`, and lowers to
//! DEBUG the ones about a client's own fault.
//!
//! pingora 0.9.1 logs at ERROR (some at WARN) every connection a client breaks: a request head
//! it cannot parse or that never arrives, a connection closed or reset mid-request, a TLS or
//! HTTP/2 handshake that fails. One scanner or slowloris makes hundreds of such lines, and a
//! real problem drowns in them. They are the client's doing, not the gateway's: the access
//! log already has each request that got as far as an answer, so they go to DEBUG (shown
//! with `RUST_LOG=pingora_proxy=debug,pingora_core=debug`). Faults of upstreams and of the
//! gateway itself keep their level.
//!
//! A record is told by its text (pingora gives nothing else): the phrases below that only
//! ever name the client, and the `Error` pingora prints after `"<what it did>: "`, whose
//! first word is its source (`Downstream`, `Upstream`, `Internal`, or nothing when unset).

use log::{Level, LevelFilter, Log, Metadata, Record};

/// Installs the bridge as the `log` crate's logger; records above `max` are dropped where
/// they are made (pingora's DEBUG and TRACE would otherwise reach tracing on every request).
pub fn init(max: LevelFilter) -> Result<(), log::SetLoggerError> {
    log::set_boxed_logger(Box::new(ClientFaults::new(tracing_log::LogTracer::new())))?;
    log::set_max_level(max);
    Ok(())
}

/// A `log::Log` in front of `inner` that lowers pingora's client-fault records to DEBUG.
pub struct ClientFaults<L> {
    inner: L,
}

impl<L: Log> ClientFaults<L> {
    pub fn new(inner: L) -> Self {
        ClientFaults { inner }
    }
}

impl<L: Log> Log for ClientFaults<L> {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.inner.enabled(metadata)
    }

    fn log(&self, record: &Record<'_>) {
        // Only pingora's warnings and errors are looked at; they are rare unless a client
        // misbehaves, so formatting one to read it costs nothing on the hot path.
        if record.level() <= Level::Warn && record.target().starts_with("pingora") {
            let text = record.args().to_string();
            if is_client_fault_line(&text) {
                let lowered = Record::builder()
                    .args(*record.args())
                    .level(Level::Debug)
                    .target(record.target())
                    .module_path(record.module_path())
                    .file(record.file())
                    .line(record.line())
                    .build();
                self.inner.log(&lowered);
                return;
            }
        }
        self.inner.log(record);
    }

    fn flush(&self) {
        self.inner.flush();
    }
}

/// Beginnings of pingora 0.9.1 lines that only ever concern the client, with where they are
/// written.
const CLIENT_ONLY: [&str; 10] = [
    // pingora-proxy lib.rs `handle_new_request`: the 400 or 405 could not be written.
    "failed to send error response to downstream",
    // pingora-proxy proxy_h1.rs: the response's end could not be written.
    "Error finish sending body to downstream",
    // pingora-core services/listening.rs: the TLS handshake failed or timed out.
    "Downstream handshake",
    // pingora-core apps/mod.rs: the HTTP/2 preface or settings exchange failed.
    "H2 handshake error",
    // pingora-core protocols/http/v2/server.rs: too many malformed HTTP/2 requests.
    "tearing down downstream h2 connection",
    // pingora-core apps/http_app.rs (the admin listener).
    "HTTP server fails to read from downstream",
    "HTTP server fails to write to downstream",
    "HTTP server fails to finish the request",
    // pingora-core protocols/http/v1/common.rs, for a request's Content-Length (an upstream's
    // bad one also fails the proxying, which is logged at ERROR as `Upstream ...`).
    "invalid content-length header",
    "negative content-length header",
];

/// True when a pingora log line is about the client's own fault.
pub fn is_client_fault_line(text: &str) -> bool {
    if CLIENT_ONLY.iter().any(|p| text.starts_with(p)) {
        return true;
    }
    // "Fail to proxy: Downstream ReadError context: ...", "Fail to filter request:  ConnectionClosed ..."
    let Some((_, error)) = text.split_once(": ") else {
        return false;
    };
    let (source, rest) = match error.strip_prefix(' ') {
        Some(rest) => ("", rest),
        None => error.split_once(' ').unwrap_or((error, "")),
    };
    let kind = rest.split([' ', ',']).next().unwrap_or("");
    is_client_fault(source, kind)
}

/// True for an error of pingora's whose source (`ErrorSource::as_str`) and type
/// (`ErrorType::as_str`) say the client caused it: any downstream error, and an error whose
/// source was never set when it is one of reading or writing the client's connection (the
/// errors pingora returns to the gateway's own request filter unmarked).
///
/// The gateway's `ProxyHttp::suppress_error_log` may use it too, on the typed error.
pub fn is_client_fault(source: &str, kind: &str) -> bool {
    match source {
        "Downstream" => true,
        "" => matches!(
            kind,
            "ReadError"
                | "ReadTimedout"
                | "WriteError"
                | "WriteTimedout"
                | "ConnectionClosed"
                | "InvalidHTTPHeader"
        ),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::Mutex;

    use super::*;

    #[test]
    fn pingoras_client_fault_lines_are_told_from_the_rest() {
        // (line as pingora 0.9.1 writes it, client's fault)
        let cases = [
            ("Fail to proxy: Downstream ReadError context: while reading request headers cause: request head not complete within 10 s, downstream session type: HTTP/1.1", true),
            ("Fail to proxy: Downstream ConnectionClosed context: while reading request headers, bytes already read: 12, downstream session type: HTTP/1.1", true),
            ("Fail to proxy: Downstream WriteError context: writing body cause: Broken pipe (os error 32), status: 0, tries: 1, retry: false, GET / HTTP/1.1, Host: a", true),
            ("Fail to filter request:  ConnectionClosed context: Peer prematurely closed connection with 90 bytes of body remaining to read, status: 0, POST /.auth/qr", true),
            ("Fail to filter request:  ReadTimedout context: reading body, timeout: 60s, status: 500, POST /.auth/qr", true),
            ("failed to send error response to downstream: Downstream WriteError cause: Broken pipe", true),
            ("Downstream handshake error from 127.0.0.1:5555: TLSHandshakeFailure", true),
            ("Downstream handshake timeout", true),
            ("H2 handshake error  H2Error cause: connection error", true),
            ("Error finish sending body to downstream:  WriteError", true),
            ("invalid content-length header value abc", true),
            ("HTTP server fails to read from downstream:  ReadError", true),
            // Upstreams and the gateway itself keep their level.
            ("Fail to proxy: Upstream ConnectRefused context: Connection refused (os error 111), status: 502, tries: 1, retry: false, GET /dead", false),
            ("Fail to proxy: Upstream ReadTimedout context: read timeout, status: 504, tries: 1", false),
            ("Fail to proxy: Internal InternalError context: no route chosen, status: 500", false),
            ("Fail to proxy:  InternalError context: no route chosen, status: 500", false),
            ("Fail to filter request:  HTTPStatus(500) context: store, status: 500", false),
            ("Accept() failed Too many open files (os error 24)", false),
            ("shutdown_signal error channel closed", false),
            ("send error, draining read buf: Upstream WriteError", false),
            ("", false),
        ];
        for (line, client) in cases {
            assert_eq!(is_client_fault_line(line), client, "{line}");
        }
    }

    /// Keeps the level and target of every record it gets.
    #[derive(Default)]
    struct Capture(Mutex<Vec<(Level, String, String)>>);

    impl Log for Capture {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn log(&self, record: &Record<'_>) {
            self.0.lock().unwrap().push((
                record.level(),
                record.target().to_string(),
                record.args().to_string(),
            ));
        }
        fn flush(&self) {}
    }

    #[test]
    fn only_pingoras_client_faults_are_lowered_and_nothing_is_dropped() {
        let bridge = ClientFaults::new(Capture::default());
        let send = |level, target: &str, text: &str| {
            bridge.log(
                &Record::builder()
                    .level(level)
                    .target(target)
                    .args(format_args!("{text}"))
                    .build(),
            );
        };
        let client = "Fail to proxy: Downstream ReadError context: x";
        send(Level::Error, "pingora_proxy", client);
        send(
            Level::Warn,
            "pingora_core::services::listening",
            "Downstream handshake timeout",
        );
        send(
            Level::Error,
            "pingora_proxy",
            "Fail to proxy: Upstream ConnectRefused",
        );
        // Another crate's line that reads alike, and pingora's INFO, are not touched.
        send(Level::Error, "scangate::login", client);
        send(
            Level::Info,
            "pingora_core::services::listening",
            "Downstream handshake timeout",
        );
        let got = bridge.inner.0.lock().unwrap().clone();
        let levels: Vec<(Level, &str)> = got.iter().map(|(l, t, _)| (*l, t.as_str())).collect();
        assert_eq!(
            levels,
            [
                (Level::Debug, "pingora_proxy"),
                (Level::Debug, "pingora_core::services::listening"),
                (Level::Error, "pingora_proxy"),
                (Level::Error, "scangate::login"),
                (Level::Info, "pingora_core::services::listening"),
            ]
        );
        assert_eq!(got[0].2, client);
    }
}
