use std::io::Write;
use std::sync::{Arc, Mutex};

use super::*;

/// A destination tests can read, and stall until they open its gate.
#[derive(Clone, Default)]
struct Captured {
    bytes: Arc<Mutex<Vec<u8>>>,
    gate: Arc<(Mutex<bool>, Condvar)>,
}

impl Captured {
    fn stalled() -> Self {
        let c = Captured::default();
        *c.gate.0.lock().unwrap() = true;
        c
    }

    fn open(&self) {
        *self.gate.0.lock().unwrap() = false;
        self.gate.1.notify_all();
    }

    fn text(&self) -> String {
        String::from_utf8(self.bytes.lock().unwrap().clone()).unwrap()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut closed = self.gate.0.lock().unwrap();
        while *closed {
            closed = self.gate.1.wait(closed).unwrap();
        }
        self.bytes.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn line(sink: &LogSink, n: usize) -> bool {
    sink.append(false, |b| {
        let _ = writeln!(b, "line {n}");
    })
}

#[test]
fn every_line_is_written_in_order_when_the_thread_stops() {
    let out = Captured::default();
    let thread = SinkThread::start(out.clone()).unwrap();
    for n in 0..10_000 {
        assert!(line(thread.sink(), n));
    }
    drop(thread);
    let text = out.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 10_000);
    for (n, l) in lines.iter().enumerate() {
        assert_eq!(*l, format!("line {n}"));
    }
}

#[test]
fn a_stuck_destination_never_blocks_the_appender_and_drops_are_reported() {
    let out = Captured::stalled();
    let thread = SinkThread::start(out.clone()).unwrap();
    let sink = thread.sink().clone();
    // With the destination stuck, the appender goes on: first into the buffer (the writer
    // thread may hold one swapped-out batch), then past MAX_PENDING it drops lines.
    let mut kept = 0;
    let mut n = 0;
    while sink.dropped() == 0 {
        if line(&sink, n) {
            kept += 1;
        }
        n += 1;
        assert!(n < 10_000_000, "the sink never refused a line");
    }
    assert!(kept > MAX_PENDING / 16, "only {kept} lines were kept");
    assert!(!line(&sink, n), "a full buffer keeps refusing");
    out.open();
    drop(thread);
    let text = out.text();
    // Whatever was kept is whole and in order; the notice says how many went.
    let kept_lines: Vec<&str> = text.lines().filter(|l| l.starts_with("line ")).collect();
    assert_eq!(kept_lines.len(), kept);
    for (i, l) in kept_lines.iter().enumerate() {
        assert_eq!(*l, format!("line {i}"));
    }
    let notice = text
        .lines()
        .find(|l| l.contains("dropped"))
        .expect("a drop notice");
    assert!(
        notice.starts_with("scangate: 2 log line(s) dropped"),
        "{notice}"
    );
}

#[test]
fn tracing_events_through_the_writer_arrive_whole() {
    use tracing_subscriber::fmt::MakeWriter;
    let out = Captured::default();
    let thread = SinkThread::start(out.clone()).unwrap();
    let make = MakeSinkWriter(thread.sink().clone());
    let subscriber = tracing_subscriber::fmt()
        .with_writer(make.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!(n = 1, "first");
        tracing::error!(n = 2, "second");
    });
    let _ = make.make_writer();
    drop(thread);
    let text = out.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].contains("INFO") && lines[0].contains("first n=1"),
        "{text}"
    );
    assert!(
        lines[1].contains("ERROR") && lines[1].contains("second n=2"),
        "{text}"
    );
}
