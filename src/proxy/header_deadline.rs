//! A deadline for each request's whole head on the public listener (nginx
//! `client_header_timeout`), and the gateway's JSON in place of pingora's bare answers.
//!
//! pingora 0.9 times each read of a request head on its own (the keep-alive or read timeout,
//! 60 s, started again by every byte), so a client that sends one byte every few seconds
//! holds its connection and a worker's attention forever. Here the head of every HTTP/1
//! request, up to the empty line, must arrive within `client_header_timeout_seconds` of its
//! first byte; a client that is too slow is answered 408 and disconnected. The wait for that
//! first byte is the keep-alive timeout (`client_keepalive_timeout_seconds`, `keepalive.rs`);
//! the body is not timed here.
//!
//! Wired around pingora, without changing it:
//! - [`HeadDeadline`] is the public service's `ServerApp`. It wraps each accepted connection
//!   (after TLS) once in a [`GuardedStream`] and hands it to pingora's own HTTP handling, the
//!   keep-alive loop of `HttpServerApp`, inside a task-local holding the connection's
//!   [`Marks`].
//! - [`MarkSessions`] stands between that loop and the proxy: every HTTP/1 session (the first
//!   request and each keep-alive one) marks "a request begins" before pingora reads its head.
//! - The [`RequestSeen`] module marks "the gateway has the request" once pingora has parsed
//!   the head and handed it on.
//! - The stream then knows which bytes are a head ([`HeadScanner`]) and that a write before
//!   the request was seen is pingora answering by itself, which [`pingora_answers`] replaces.
//!
//! HTTP/2 sessions run in tasks of their own, outside the task-local: their connections pass
//! through untouched (the HTTP/2 layer reads heads as frames).

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use pingora::apps::{HttpServerApp, HttpServerOptions, ReusedHttpStream, ServerApp};
use pingora::http::RequestHeader;
use pingora::modules::http::{HttpModule, HttpModuleBuilder, Module};
use pingora::protocols::http::v2::server::H2Options;
use pingora::protocols::http::ServerSession;
use pingora::protocols::raw_connect::ProxyDigest;
use pingora::protocols::tls::{SslDigest, TlsRef};
use pingora::protocols::{
    GetProxyDigest, GetSocketDigest, GetTimingDigest, Peek, Shutdown, SocketDigest, Ssl, Stream,
    TimingDigest, UniqueID, UniqueIDType, ALPN,
};
use pingora::proxy::{HttpProxy, ProxyHttp};
use pingora::server::ShutdownWatch;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use super::pingora_answers;

// === the head, found in the bytes read ===

/// Finds the end of an HTTP/1 request head (the empty line after the header lines) in bytes
/// read piece by piece. Lines end in CRLF or a bare LF, as pingora's parser (httparse) reads
/// them, and empty lines before the request line are skipped as it skips them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeadScanner(Scan);

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Scan {
    /// Nothing but CR and LF so far.
    #[default]
    Leading,
    /// Inside a line.
    Line,
    /// Just after a line's LF.
    Lf,
    /// After a line's LF and a CR.
    LfCr,
}

impl HeadScanner {
    /// Reads the next piece; returns the offset in it just past the head's empty line when
    /// the head ends there.
    pub fn feed(&mut self, bytes: &[u8]) -> Option<usize> {
        let mut i = 0;
        while i < bytes.len() {
            match self.0 {
                Scan::Leading => match bytes[i..].iter().position(|&b| b != b'\r' && b != b'\n') {
                    Some(p) => {
                        i += p;
                        self.0 = Scan::Line;
                    }
                    None => return None,
                },
                // memchr: the head's bytes are scanned once per request; a byte loop here
                // cost ~5 instructions a byte (a cookie header is hundreds of bytes).
                Scan::Line => match memchr::memchr(b'\n', &bytes[i..]) {
                    Some(p) => {
                        i += p + 1;
                        self.0 = Scan::Lf;
                    }
                    None => return None,
                },
                Scan::Lf | Scan::LfCr => match (self.0, bytes[i]) {
                    (_, b'\n') => return Some(i + 1),
                    (Scan::Lf, b'\r') => {
                        i += 1;
                        self.0 = Scan::LfCr;
                    }
                    _ => self.0 = Scan::Line,
                },
            }
        }
        None
    }
}

// === what the stream is told about the connection ===

/// What pingora's HTTP handling tells a connection's stream, through the task-local.
#[derive(Debug, Default)]
pub struct Marks {
    /// A session begins: its head is next on the connection.
    new_session: AtomicBool,
    /// The current session's request reached the gateway.
    request_seen: AtomicBool,
}

impl Marks {
    fn new_session(&self) {
        self.request_seen.store(false, Ordering::Relaxed);
        self.new_session.store(true, Ordering::Relaxed);
    }

    fn request_seen(&self) {
        self.request_seen.store(true, Ordering::Relaxed);
    }
}

tokio::task_local! {
    /// The marks of the HTTP/1 connection this task serves.
    static CONNECTION: Arc<Marks>;
}

// === the stream ===

/// Where the current request's head is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Head {
    /// Not timed: no HTTP/1 session has begun (HTTP/2, or before the first).
    Off,
    /// A session began; none of its head has arrived.
    Waiting,
    /// Part of the head arrived; the rest is due by the timer.
    Reading(HeadScanner),
    /// The head is complete: body and response are not timed here.
    Done,
    /// The deadline passed.
    Expired,
}

/// The current session's response, as decided by its first write.
#[derive(Debug)]
enum Answer {
    Undecided,
    /// pingora's answer to a request the gateway saw, or anything in a session not timed.
    Theirs,
    /// Bytes of ours instead of pingora's own answer, `written` of them sent. What pingora
    /// writes meanwhile is dropped.
    Ours {
        bytes: Bytes,
        written: usize,
    },
}

/// An accepted connection with the head deadline and our answers in place of pingora's.
pub struct GuardedStream {
    inner: Stream,
    marks: Arc<Marks>,
    limit: Duration,
    /// The 408 sent when the deadline passes.
    timeout_answer: Bytes,
    head: Head,
    timer: Option<Pin<Box<Sleep>>>,
    answer: Answer,
}

impl fmt::Debug for GuardedStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardedStream")
            .field("inner", &self.inner)
            .field("head", &self.head)
            .finish_non_exhaustive()
    }
}

impl GuardedStream {
    pub fn new(inner: Stream, marks: Arc<Marks>, limit: Duration, timeout_answer: Bytes) -> Self {
        GuardedStream {
            inner,
            marks,
            limit,
            timeout_answer,
            head: Head::Off,
            timer: None,
            answer: Answer::Undecided,
        }
    }

    /// Takes in a session's beginning, marked since the last read or write.
    fn sync(&mut self) {
        if self.marks.new_session.swap(false, Ordering::Relaxed) {
            self.head = Head::Waiting;
            self.answer = Answer::Undecided;
        }
    }

    /// Counts `bytes`, just read, against the head.
    fn saw(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let (mut scanner, first) = match self.head {
            Head::Waiting => (HeadScanner::default(), true),
            Head::Reading(scanner) => (scanner, false),
            _ => return,
        };
        if scanner.feed(bytes).is_some() {
            self.head = Head::Done;
            return;
        }
        if first {
            let Some(deadline) = Instant::now().checked_add(self.limit) else {
                self.head = Head::Done;
                return;
            };
            match &mut self.timer {
                Some(timer) => timer.as_mut().reset(deadline),
                None => self.timer = Some(Box::pin(tokio::time::sleep_until(deadline))),
            }
        }
        self.head = Head::Reading(scanner);
    }

    fn timed_out(&self) -> io::Error {
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "request head not complete within {} s",
                self.limit.as_secs()
            ),
        )
    }

    /// The deadline passed: answer 408 if the client takes it at once, and fail the read.
    fn expire(&mut self, cx: &mut Context<'_>) -> io::Error {
        self.head = Head::Expired;
        self.timer = None;
        self.answer = Answer::Ours {
            bytes: self.timeout_answer.clone(),
            written: 0,
        };
        // Without waiting: a client this slow to send may be as slow to read.
        if let Poll::Ready(Ok(())) = self.poll_answer(cx) {
            let _ = Pin::new(&mut self.inner).poll_flush(cx);
        }
        self.timed_out()
    }

    /// Whether this write, the first of a session or a later one, is replaced by ours.
    fn answers_instead(&mut self, first: &[u8]) -> bool {
        match self.answer {
            Answer::Ours { .. } => true,
            Answer::Theirs => false,
            Answer::Undecided => {
                if self.head == Head::Off || first.is_empty() {
                    return false;
                }
                let ours = if self.marks.request_seen.load(Ordering::Relaxed) {
                    None
                } else {
                    pingora_answers::replacement(first)
                };
                match ours {
                    Some(bytes) => {
                        self.answer = Answer::Ours { bytes, written: 0 };
                        true
                    }
                    None => {
                        self.answer = Answer::Theirs;
                        false
                    }
                }
            }
        }
    }

    /// Sends the rest of our answer, if there is one.
    fn poll_answer(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let GuardedStream { inner, answer, .. } = self;
        let Answer::Ours { bytes, written } = answer else {
            return Poll::Ready(Ok(()));
        };
        while let Some(rest) = bytes.get(*written..).filter(|r| !r.is_empty()) {
            let n = ready!(Pin::new(&mut *inner).poll_write(cx, rest))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        Poll::Ready(Ok(()))
    }

    /// Before closing: our answer goes out if it can at once, or is given up.
    fn settle_answer(&mut self, cx: &mut Context<'_>) {
        if !matches!(self.poll_answer(cx), Poll::Ready(Ok(()))) {
            self.answer = Answer::Theirs;
        }
    }
}

impl AsyncRead for GuardedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.sync();
        match this.head {
            Head::Off | Head::Done => return Pin::new(&mut this.inner).poll_read(cx, buf),
            Head::Expired => return Poll::Ready(Err(this.timed_out())),
            Head::Waiting => {}
            Head::Reading(_) => {
                let due = this
                    .timer
                    .as_mut()
                    .is_some_and(|timer| timer.as_mut().poll(cx).is_ready());
                if due {
                    return Poll::Ready(Err(this.expire(cx)));
                }
            }
        }
        let before = buf.filled().len();
        let read = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = read {
            if let Some(new) = buf.filled().get(before..) {
                this.saw(new);
            }
        }
        read
    }
}

impl AsyncWrite for GuardedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.sync();
        if this.answers_instead(buf) {
            ready!(this.poll_answer(cx))?;
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.sync();
        let first = bufs
            .iter()
            .find(|b| !b.is_empty())
            .map_or(&[][..], |b| &**b);
        if this.answers_instead(first) {
            ready!(this.poll_answer(cx))?;
            return Poll::Ready(Ok(bufs.iter().map(|b| b.len()).sum()));
        }
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_answer(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.settle_answer(cx);
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

// The rest of pingora's `IO`: the connection's own.

#[async_trait]
impl Shutdown for GuardedStream {
    async fn shutdown(&mut self) {
        std::future::poll_fn(|cx| {
            self.settle_answer(cx);
            Poll::Ready(())
        })
        .await;
        Shutdown::shutdown(self.inner.as_mut()).await;
    }
}

impl UniqueID for GuardedStream {
    fn id(&self) -> UniqueIDType {
        self.inner.id()
    }
}

impl Ssl for GuardedStream {
    fn get_ssl(&self) -> Option<&TlsRef> {
        self.inner.get_ssl()
    }
    fn get_ssl_digest(&self) -> Option<Arc<SslDigest>> {
        self.inner.get_ssl_digest()
    }
    fn selected_alpn_proto(&self) -> Option<ALPN> {
        self.inner.selected_alpn_proto()
    }
}

impl GetTimingDigest for GuardedStream {
    fn get_timing_digest(&self) -> Vec<Option<TimingDigest>> {
        self.inner.get_timing_digest()
    }
    fn get_read_pending_time(&self) -> Duration {
        self.inner.get_read_pending_time()
    }
    fn get_write_pending_time(&self) -> Duration {
        self.inner.get_write_pending_time()
    }
}

impl GetProxyDigest for GuardedStream {
    fn get_proxy_digest(&self) -> Option<Arc<ProxyDigest>> {
        self.inner.get_proxy_digest()
    }
    fn set_proxy_digest(&mut self, digest: ProxyDigest) {
        self.inner.set_proxy_digest(digest);
    }
}

impl GetSocketDigest for GuardedStream {
    fn get_socket_digest(&self) -> Option<Arc<SocketDigest>> {
        self.inner.get_socket_digest()
    }
    fn set_socket_digest(&mut self, socket_digest: SocketDigest) {
        self.inner.set_socket_digest(socket_digest);
    }
}

#[async_trait]
impl Peek for GuardedStream {
    async fn try_peek(&mut self, buf: &mut [u8]) -> io::Result<bool> {
        self.inner.try_peek(buf).await
    }
}

// === the wiring into pingora ===

/// The public service's application: pingora's HTTP proxy with every connection guarded.
pub struct HeadDeadline<A> {
    sessions: Arc<MarkSessions<A>>,
    limit: Duration,
    timeout_answer: Bytes,
}

impl<SV: ProxyHttp> HeadDeadline<HttpProxy<SV>> {
    /// Guards `proxy`'s connections: the head of each request must arrive within `limit`.
    pub fn proxy(mut proxy: HttpProxy<SV>, limit: Duration) -> Self {
        proxy.downstream_modules.add_module(Box::new(RequestSeen));
        HeadDeadline::new(proxy, limit)
    }
}

impl<A> HeadDeadline<A> {
    /// Guards `app`'s connections. Without the [`RequestSeen`] module in `app`, pingora's own
    /// answers are not told from the app's and are all passed on.
    pub fn new(app: A, limit: Duration) -> Self {
        HeadDeadline {
            sessions: Arc::new(MarkSessions { app: Arc::new(app) }),
            limit,
            timeout_answer: pingora_answers::head_timeout(limit.as_secs()),
        }
    }

    /// The connection guarded, once: a stream that comes back for another round (a reused
    /// connection) keeps its guard and its marks.
    fn guard(&self, stream: Stream) -> (Stream, Arc<Marks>) {
        let known = stream
            .as_any()
            .downcast_ref::<GuardedStream>()
            .map(|guarded| guarded.marks.clone());
        if let Some(marks) = known {
            return (stream, marks);
        }
        let marks = Arc::new(Marks::default());
        let guarded = GuardedStream::new(
            stream,
            marks.clone(),
            self.limit,
            self.timeout_answer.clone(),
        );
        (Box::new(guarded), marks)
    }
}

#[async_trait]
impl<A> ServerApp for HeadDeadline<A>
where
    A: HttpServerApp + Send + Sync + 'static,
{
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let (stream, marks) = self.guard(stream);
        CONNECTION
            .scope(
                marks,
                ServerApp::process_new(&self.sessions, stream, shutdown),
            )
            .await
    }

    async fn cleanup(&self) {
        // pingora's own: wakes keep-alive connections waiting for a request, for shutdown.
        ServerApp::cleanup(&*self.sessions).await;
    }
}

/// Marks the beginning of each HTTP/1 session for the connection's stream, and is otherwise
/// the HTTP application it wraps. pingora's keep-alive loop calls it in the connection's
/// task (HTTP/2 streams run in tasks of their own, where there is nothing to mark).
pub struct MarkSessions<A> {
    app: Arc<A>,
}

#[async_trait]
impl<A> HttpServerApp for MarkSessions<A>
where
    A: HttpServerApp + Send + Sync + 'static,
{
    async fn process_new_http(
        self: &Arc<Self>,
        session: ServerSession,
        shutdown: &ShutdownWatch,
    ) -> Option<ReusedHttpStream> {
        let _ = CONNECTION.try_with(|marks| marks.new_session());
        self.app.process_new_http(session, shutdown).await
    }

    fn h2_options(&self) -> Option<H2Options> {
        self.app.h2_options()
    }

    fn server_options(&self) -> Option<&HttpServerOptions> {
        self.app.server_options()
    }

    async fn http_cleanup(&self) {
        self.app.http_cleanup().await;
    }

    async fn process_custom_session(
        self: Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        self.app
            .clone()
            .process_custom_session(stream, shutdown)
            .await
    }
}

/// A downstream module that marks, for the connection's stream, that pingora handed the
/// parsed request on: from then on every write is the gateway's (or the upstream's) answer.
pub struct RequestSeen;

impl HttpModuleBuilder for RequestSeen {
    fn init(&self) -> Module {
        Box::new(RequestSeenCtx)
    }
}

struct RequestSeenCtx;

#[async_trait]
impl HttpModule for RequestSeenCtx {
    async fn request_header_filter(&mut self, _req: &mut RequestHeader) -> pingora::Result<()> {
        let _ = CONNECTION.try_with(|marks| marks.request_seen());
        Ok(())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

#[cfg(test)]
mod tests;
