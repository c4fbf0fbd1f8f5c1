//! Log capture for tests: everything a plain-text subscriber writes, at every level, on this
//! thread while the returned [`Logs`] lives (a `#[tokio::test]` runs its tasks on its thread).
//!
//! tracing caches each callsite's interest for the whole process, and while a single
//! dispatcher is registered it asks the *registering thread's* subscriber: a test running in
//! parallel without one would register a callsite as "never" and our capture would miss its
//! lines. A second dispatcher kept for the life of the process makes tracing ask every
//! registered dispatcher instead, ours included.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use tracing::Dispatch;

/// Keeps two dispatchers registered while a capture lives (see the module's text).
static SECOND_DISPATCHER: OnceLock<Dispatch> = OnceLock::new();

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What was logged since [`capture`]; capturing stops when it is dropped.
pub struct Logs {
    buf: Buf,
    _guard: tracing::dispatcher::DefaultGuard,
}

impl Logs {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.buf.0.lock().unwrap()).into_owned()
    }
}

pub fn capture() -> Logs {
    SECOND_DISPATCHER.get_or_init(|| Dispatch::new(tracing::subscriber::NoSubscriber::default()));
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // Registering it re-asks every callsite known so far, with both dispatchers.
    let dispatch = Dispatch::new(subscriber);
    Logs {
        buf,
        _guard: tracing::dispatcher::set_default(&dispatch),
    }
}
