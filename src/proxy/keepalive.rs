//! How long an idle keep-alive client connection waits for its next request (nginx
//! `keepalive_timeout`, `client_keepalive_timeout_seconds`).
//!
//! pingora 0.9 keeps an idle HTTP/1.1 connection open until shutdown (its "infinite"
//! keep-alive), so idle clients pile up connections and their buffers without bound. Each
//! request sets the wait after its response: at most the configured seconds, shorter when the
//! client asked for less (`Keep-Alive: timeout=`), and never turning keep-alive on where
//! pingora left it off (HTTP/1.0 without `Keep-Alive`, `Connection: close`, or a connection
//! the gateway decided to close). HTTP/2 has its own idle handling and is left alone.

use pingora::proxy::Session;

/// The keep-alive wait to set, from pingora's (`None` off, `Some(0)` unbounded, `Some(s)`
/// the client's own) and the configured `limit` in seconds.
pub fn bounded(current: Option<u64>, limit: u64) -> Option<u64> {
    match current {
        None => None,
        Some(0) => Some(limit),
        Some(asked) => Some(asked.min(limit)),
    }
}

/// Bounds the idle wait after this request's response to `limit` seconds.
pub fn bound_idle(session: &mut Session, limit: u64) {
    let downstream = session.as_downstream_mut();
    let current = downstream.get_keepalive();
    let wanted = bounded(current, limit);
    if wanted != current {
        downstream.set_keepalive(wanted);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_is_bounded_and_never_turned_on() {
        assert_eq!(
            bounded(Some(0), 75),
            Some(75),
            "pingora's unbounded default"
        );
        assert_eq!(bounded(Some(20), 75), Some(20), "the client asked for less");
        assert_eq!(
            bounded(Some(600), 75),
            Some(75),
            "the client asked for more"
        );
        assert_eq!(bounded(None, 75), None, "keep-alive off stays off");
    }
}
