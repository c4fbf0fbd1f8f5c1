#![allow(clippy::unwrap_used)]

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

use super::*;

// --- the scanner ---

const HEADS: [&[u8]; 6] = [
    b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET / HTTP/1.1\r\n\r\n",
    b"GET / HTTP/1.1\nHost: a\n\n",
    b"GET / HTTP/1.1\r\nHost: a\n\r\n",
    b"\r\n\r\n\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"POST /x HTTP/1.1\r\nContent-Length: 4\r\nX-A: \r\n\r\n",
];

#[test]
fn the_head_ends_at_its_empty_line_however_it_is_cut() {
    for head in HEADS {
        let body = b"ab\r\n\r\ncd";
        let whole = [head, &body[..]].concat();
        // In one piece, with a body after it.
        assert_eq!(
            HeadScanner::default().feed(&whole),
            Some(head.len()),
            "{head:?}"
        );
        // Cut in two anywhere, or fed byte by byte.
        for cut in 0..head.len() {
            let mut s = HeadScanner::default();
            assert_eq!(s.feed(&head[..cut]), None, "{head:?} at {cut}");
            assert_eq!(
                s.feed(&whole[cut..]),
                Some(head.len() - cut),
                "{head:?} at {cut}"
            );
        }
        let mut s = HeadScanner::default();
        let ends: Vec<usize> = (0..head.len())
            .filter(|&i| s.feed(&head[i..=i]).is_some())
            .collect();
        assert_eq!(ends, [head.len() - 1], "{head:?}");
    }
}

#[test]
fn an_unfinished_head_or_empty_lines_alone_do_not_end_it() {
    for bytes in [
        &b""[..],
        b"\r\n\r\n\r\n\n\n",
        b"GET / HTTP/1.1\r\nHost: a\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\n\r",
        b"GET / HTTP/1.1\r\nX: a\r\rb\r\n",
        b"GET / HTTP/1.1\r\n \r\n",
    ] {
        assert_eq!(HeadScanner::default().feed(bytes), None, "{bytes:?}");
    }
}

// --- the stream ---

const LIMIT: Duration = Duration::from_millis(400);
/// Generous bound for "it ends": a loaded machine may be slow, never this slow.
const BOUND: Duration = Duration::from_secs(10);

/// A guarded stream (the server's side) and the client's end of the connection.
fn pair() -> (GuardedStream, DuplexStream, Arc<Marks>) {
    let (server, client) = tokio::io::duplex(64 * 1024);
    let marks = Arc::new(Marks::default());
    let guarded = GuardedStream::new(
        Box::new(server),
        marks.clone(),
        LIMIT,
        pingora_answers::head_timeout(1),
    );
    (guarded, client, marks)
}

/// Reads from the guarded side until `want` bytes came or the read fails.
async fn read_bytes(stream: &mut GuardedStream, want: usize) -> io::Result<Vec<u8>> {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while got.len() < want {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    Ok(got)
}

/// Sends `bytes` one at a time, `gap` apart, stopping at the first failure.
fn trickle(mut client: tokio::io::WriteHalf<DuplexStream>, bytes: &'static [u8], gap: Duration) {
    tokio::spawn(async move {
        for b in bytes {
            if client.write_all(&[*b]).await.is_err() {
                return;
            }
            tokio::time::sleep(gap).await;
        }
    });
}

const SLOW_HEAD: &[u8] =
    b"GET / HTTP/1.1\r\nHost: example\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";

#[tokio::test]
async fn a_head_trickled_past_the_limit_fails_the_read_and_gets_408() {
    let (mut server, client, marks) = pair();
    marks.new_session();
    let (mut client_read, client_write) = tokio::io::split(client);
    trickle(client_write, SLOW_HEAD, Duration::from_millis(50));
    let started = Instant::now();
    let read = tokio::time::timeout(BOUND, read_bytes(&mut server, SLOW_HEAD.len()))
        .await
        .unwrap();
    let err = read.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    // Not before the limit (the head would take 3.5 s at this pace).
    assert!(started.elapsed() >= LIMIT, "{:?}", started.elapsed());
    // The client was told.
    let mut answer = vec![0u8; 12];
    client_read.read_exact(&mut answer).await.unwrap();
    assert_eq!(&answer, b"HTTP/1.1 408");
    // And the stream stays failed.
    assert!(read_bytes(&mut server, 1).await.is_err());
}

#[tokio::test]
async fn only_the_head_is_timed_not_the_wait_before_it_nor_the_body() {
    let (mut server, client, marks) = pair();
    marks.new_session();
    let (_client_read, mut client_write) = tokio::io::split(client);
    // Idle for longer than the limit before the first byte: not counted.
    let head: &[u8] = b"POST / HTTP/1.1\r\nContent-Length: 6\r\n\r\n";
    let sender = tokio::spawn(async move {
        tokio::time::sleep(LIMIT * 2).await;
        client_write.write_all(head).await.unwrap();
        // The body comes slower than the limit: not counted either.
        for b in b"abcdef" {
            tokio::time::sleep(LIMIT / 3).await;
            client_write.write_all(&[*b]).await.unwrap();
        }
        client_write
    });
    let got = tokio::time::timeout(BOUND, read_bytes(&mut server, head.len() + 6))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&got[head.len()..], b"abcdef");
    drop(sender.await.unwrap());
}

#[tokio::test]
async fn each_session_gets_a_deadline_of_its_own() {
    let (mut server, client, marks) = pair();
    let (_client_read, mut client_write) = tokio::io::split(client);
    marks.new_session();
    let first: &[u8] = b"GET /1 HTTP/1.1\r\n\r\n";
    client_write.write_all(first).await.unwrap();
    assert_eq!(read_bytes(&mut server, first.len()).await.unwrap(), first);
    // Still the first session: bytes after its head are not timed.
    tokio::time::sleep(LIMIT + LIMIT / 2).await;
    // The next session's head is timed from its own first byte.
    marks.new_session();
    trickle(client_write, SLOW_HEAD, Duration::from_millis(50));
    let read = tokio::time::timeout(BOUND, read_bytes(&mut server, SLOW_HEAD.len()))
        .await
        .unwrap();
    assert_eq!(read.unwrap_err().kind(), io::ErrorKind::TimedOut);
}

#[tokio::test]
async fn a_connection_no_session_marked_is_not_timed() {
    // HTTP/2: pingora's sessions run outside the connection's task; nothing is marked.
    let (mut server, client, _marks) = pair();
    let (_client_read, client_write) = tokio::io::split(client);
    let bytes: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\nslow";
    trickle(client_write, bytes, Duration::from_millis(40));
    let got = tokio::time::timeout(BOUND, read_bytes(&mut server, bytes.len()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, bytes);
}

const PINGORA_400: &[u8] = b"HTTP/1.1 400 Bad Request\r\nServer: Pingora\r\nContent-Length: 0\r\nCache-Control: private, no-store\r\nConnection: close\r\n\r\n";

/// Everything the client receives until the server side shuts down.
async fn received(mut server: GuardedStream, client: DuplexStream) -> String {
    AsyncWriteExt::shutdown(&mut server).await.unwrap();
    drop(server);
    let mut client = client;
    let mut out = Vec::new();
    client.read_to_end(&mut out).await.unwrap();
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn pingoras_own_400_before_the_request_is_seen_becomes_ours() {
    let (mut server, client, marks) = pair();
    marks.new_session();
    server.write_all(PINGORA_400).await.unwrap();
    server.write_all(b"").await.unwrap();
    server.flush().await.unwrap();
    let text = received(server, client).await;
    assert!(text.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{text}");
    assert!(!text.contains("Pingora"), "{text}");
    assert!(text.ends_with("}"), "{text}");
    assert!(text.contains("\"error\":\"bad_request\""), "{text}");
}

#[tokio::test]
async fn answers_to_requests_the_gateway_saw_pass_unchanged() {
    let (mut server, client, marks) = pair();
    marks.new_session();
    marks.request_seen();
    server.write_all(PINGORA_400).await.unwrap();
    let text = received(server, client).await;
    assert_eq!(text.as_bytes(), PINGORA_400);

    // And nothing is replaced on a connection no session was marked on.
    let (mut server, client, _marks) = pair();
    server.write_all(PINGORA_400).await.unwrap();
    assert_eq!(received(server, client).await.as_bytes(), PINGORA_400);
}

#[tokio::test]
async fn a_connection_coming_back_for_another_round_is_not_guarded_twice() {
    let app = HeadDeadline::new((), LIMIT);
    let (server, _client) = tokio::io::duplex(1024);
    let (once, marks) = app.guard(Box::new(server));
    let (twice, same) = app.guard(once);
    assert!(Arc::ptr_eq(&marks, &same));
    let guarded = twice.as_any().downcast_ref::<GuardedStream>().unwrap();
    assert!(guarded
        .inner
        .as_any()
        .downcast_ref::<GuardedStream>()
        .is_none());
}
