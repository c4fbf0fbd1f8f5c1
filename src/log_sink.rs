//! Log lines written to the output by a thread of their own.
//!
//! A gateway writes one access line per request. Written where it is made, each line costs the
//! pingora worker a `write(2)`, and a slow destination (a full pipe to a log collector, a
//! stalled disk) stalls every request behind it. Here the worker only appends the line to a
//! shared buffer under a mutex that nobody holds for long (the writer thread takes the whole
//! buffer by swapping it with an empty one); the writer thread wakes every
//! [`FLUSH_INTERVAL`], or sooner when the buffer passes [`WAKE_AT`] or a warning or error was
//! written, and writes everything pending with one call.
//!
//! Never blocking the worker has a price that is bounded and said out loud: when the
//! destination does not keep up and [`MAX_PENDING`] bytes wait, further lines are dropped and
//! counted, and the writer says how many when it can write again. Lines are not lost on a
//! clean stop: [`shutdown`] (at the end of `main`, and before a drained process exits) writes
//! what is pending and waits for it. `kill -9` loses at most the last interval's lines.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The longest a line waits in the buffer on a quiet gateway.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(50);
/// Pending bytes at which the appender wakes the writer early: at high request rates the
/// wake (one futex call) is shared by hundreds of lines.
pub const WAKE_AT: usize = 64 * 1024;
/// Pending bytes beyond which lines are dropped rather than held (the destination is stuck).
pub const MAX_PENDING: usize = 8 * 1024 * 1024;

/// The buffer lines are appended to; see the module documentation.
pub struct LogSink {
    state: Mutex<Pending>,
    wake: Condvar,
    dropped: AtomicU64,
}

#[derive(Default)]
struct Pending {
    buf: Vec<u8>,
    /// Write now rather than at the next interval (a warning or an error is in the buffer).
    urgent: bool,
    stop: bool,
}

impl LogSink {
    fn new() -> Self {
        LogSink {
            state: Mutex::new(Pending {
                buf: Vec::with_capacity(WAKE_AT),
                ..Pending::default()
            }),
            wake: Condvar::new(),
            dropped: AtomicU64::new(0),
        }
    }

    /// Appends what `write` puts in the buffer (whole lines, each ending in `\n`). Never waits
    /// for I/O. `false`: the line was dropped because the destination is not keeping up.
    pub fn append(&self, urgent: bool, write: impl FnOnce(&mut Vec<u8>)) -> bool {
        let mut pending = self.lock();
        if pending.buf.len() >= MAX_PENDING {
            drop(pending);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        let before = pending.buf.len();
        write(&mut pending.buf);
        // Only the append that crosses the mark (or an urgent one) pays for a wake-up.
        let wake =
            (before < WAKE_AT && pending.buf.len() >= WAKE_AT) || (urgent && !pending.urgent);
        pending.urgent |= urgent;
        drop(pending);
        if wake {
            self.wake.notify_one();
        }
        true
    }

    /// Lines dropped and not yet reported.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Asks the writer to write what is pending now (SIGHUP, SIGTERM).
    pub fn flush_soon(&self) {
        self.lock().urgent = true;
        self.wake.notify_one();
    }

    fn lock(&self) -> MutexGuard<'_, Pending> {
        // A panic while holding the lock leaves a buffer of whole lines at worst with one
        // partial line at its end: still worth writing.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The writer thread of a [`LogSink`]; dropping it writes what is pending and stops it.
pub struct SinkThread {
    sink: Arc<LogSink>,
    thread: Option<JoinHandle<()>>,
}

impl SinkThread {
    /// Starts a sink whose lines go to `out`.
    pub fn start<W: Write + Send + 'static>(out: W) -> std::io::Result<SinkThread> {
        let sink = Arc::new(LogSink::new());
        let writer = sink.clone();
        let thread = std::thread::Builder::new()
            .name("scangate-log".to_string())
            .spawn(move || write_until_stopped(&writer, out))?;
        Ok(SinkThread {
            sink,
            thread: Some(thread),
        })
    }

    pub fn sink(&self) -> &Arc<LogSink> {
        &self.sink
    }
}

impl Drop for SinkThread {
    fn drop(&mut self) {
        self.sink.lock().stop = true;
        self.sink.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn write_until_stopped<W: Write>(sink: &LogSink, mut out: W) {
    let mut spare = Vec::with_capacity(WAKE_AT);
    loop {
        let deadline = Instant::now() + FLUSH_INTERVAL;
        let stop = {
            let mut pending = sink.lock();
            while !(pending.stop || pending.urgent || pending.buf.len() >= WAKE_AT) {
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                pending = match sink.wake.wait_timeout(pending, deadline - now) {
                    Ok((guard, _)) => guard,
                    Err(poisoned) => poisoned.into_inner().0,
                };
            }
            pending.urgent = false;
            std::mem::swap(&mut pending.buf, &mut spare);
            pending.stop
        };
        // A destination that fails (stdout closed) cannot be told; the lines are gone either
        // way, and the worker must not notice.
        if !spare.is_empty() {
            let _ = out.write_all(&spare);
            spare.clear();
        }
        let dropped = sink.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            let _ = writeln!(
                out,
                "scangate: {dropped} log line(s) dropped: the log output did not keep up"
            );
        }
        let _ = out.flush();
        if stop {
            return;
        }
    }
}

static GLOBAL: OnceLock<Arc<LogSink>> = OnceLock::new();
static GLOBAL_THREAD: Mutex<Option<SinkThread>> = Mutex::new(None);

/// Starts the process's sink, writing to `out`: the access log and tracing's lines (through
/// [`MakeSinkWriter`]) go to it until [`shutdown`]. Once per process.
pub fn start_global<W: Write + Send + 'static>(out: W) -> std::io::Result<Arc<LogSink>> {
    let thread = SinkThread::start(out)?;
    let sink = thread.sink().clone();
    if GLOBAL.set(sink.clone()).is_err() {
        return Err(std::io::Error::other("a log sink is already installed"));
    }
    *GLOBAL_THREAD.lock().unwrap_or_else(|p| p.into_inner()) = Some(thread);
    Ok(sink)
}

/// The process's sink, when `main` started one (not in tests that run a gateway in-process).
pub fn global() -> Option<&'static LogSink> {
    GLOBAL.get().map(|s| &**s)
}

/// Writes every line still pending and stops the writer. Called last: at the end of `main`,
/// and before the drained process exits. Lines appended afterwards are not written.
pub fn shutdown() {
    let thread = GLOBAL_THREAD
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take();
    drop(thread);
}

/// tracing's writer for a sink: each event is formatted by tracing and appended whole.
#[derive(Clone)]
pub struct MakeSinkWriter(pub Arc<LogSink>);

/// One event's writer (see [`MakeSinkWriter`]).
pub struct SinkWriter<'a> {
    sink: &'a LogSink,
    urgent: bool,
}

impl Write for SinkWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // A dropped line is not an error tracing could do anything about.
        self.sink
            .append(self.urgent, |pending| pending.extend_from_slice(buf));
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for MakeSinkWriter {
    type Writer = SinkWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        SinkWriter {
            sink: &self.0,
            urgent: false,
        }
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        // Warnings and errors are written at once: an operator watching a failure should not
        // wait for the next interval, and they are rare.
        SinkWriter {
            sink: &self.0,
            urgent: *meta.level() <= tracing::Level::WARN,
        }
    }
}

#[cfg(test)]
mod tests;
