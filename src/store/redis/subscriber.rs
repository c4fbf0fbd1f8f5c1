//! The store's one subscriber connection: `PSUBSCRIBE <prefix>*`, prefix stripped, fanned out
//! to every [`Store::subscribe`](crate::store::Store::subscribe) receiver of this process.
//!
//! A background task owns the connection. When the connection drops (Redis restarted, a
//! failover, a half-open socket caught by the periodic `PING`), the task reconnects by itself
//! with backoff, and after each successful resubscription sends one notification on
//! [`RESYNC_CHANNEL`]: whatever was published while it was away is lost, and consumers must
//! re-read the state they care about. The task ends when the store drops its [`Subscriber`].

use std::time::Duration;

use ::redis::aio::{PubSubSink, PubSubStream};
use ::redis::{ErrorKind, Msg, RedisError, RedisResult, Value};
use futures_util::StreamExt;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use super::conn::{PubSubSource, COMMAND_TIMEOUT};
use crate::store::{Notification, RESYNC_CHANNEL};

/// How long connecting and subscribing may take (a Sentinel lookup included).
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the idle connection is checked with a `PING`, so a connection that died without
/// a FIN (a network partition) is replaced instead of waited on forever.
const PING_INTERVAL: Duration = Duration::from_secs(5);
/// Reconnection backoff: from this…
const RETRY_MIN_DELAY: Duration = Duration::from_millis(50);
/// …doubling up to this.
const RETRY_MAX_DELAY: Duration = Duration::from_millis(500);

/// The running subscriber task; dropping it stops the task and closes its connection.
pub(crate) struct Subscriber {
    task: JoinHandle<()>,
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Subscribes once (so nothing published after `start` returns is missed), then hands the
/// connection to a task spawned on the current runtime.
pub(crate) async fn start(
    source: PubSubSource,
    prefix: &str,
    notifications: broadcast::Sender<Notification>,
) -> RedisResult<Subscriber> {
    let pattern = format!("{}*", glob_escape(prefix));
    let first = subscribe(&source, &pattern).await?;
    let task = tokio::spawn(run(
        source,
        pattern,
        prefix.as_bytes().to_vec(),
        notifications,
        first,
    ));
    Ok(Subscriber { task })
}

async fn subscribe(
    source: &PubSubSource,
    pattern: &str,
) -> RedisResult<(PubSubSink, PubSubStream)> {
    let connect = async {
        let client = source.client().await?;
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.psubscribe(pattern).await?;
        Ok(pubsub.split())
    };
    tokio::time::timeout(SUBSCRIBE_TIMEOUT, connect)
        .await
        .map_err(|_| RedisError::from((ErrorKind::Io, "subscribing timed out")))?
}

async fn run(
    source: PubSubSource,
    pattern: String,
    prefix: Vec<u8>,
    notifications: broadcast::Sender<Notification>,
    first: (PubSubSink, PubSubStream),
) {
    let mut connection = Some(first);
    let mut delay = RETRY_MIN_DELAY;
    let mut failures = 0u64;
    loop {
        let (mut sink, mut stream) = match connection.take() {
            Some(connection) => connection,
            None => match subscribe(&source, &pattern).await {
                Ok(connection) => {
                    tracing::info!(
                        failed_attempts = failures,
                        "Redis notifications resumed; asking consumers to re-read their state"
                    );
                    delay = RETRY_MIN_DELAY;
                    failures = 0;
                    // No receiver is not an error: nobody waits on anything.
                    let _ = notifications.send(Notification {
                        channel: RESYNC_CHANNEL.to_string(),
                        payload: Vec::new(),
                    });
                    connection
                }
                Err(e) => {
                    // Once per outage, not once per attempt.
                    if failures == 0 {
                        tracing::warn!(error = %e, "cannot resubscribe to Redis notifications; retrying");
                    }
                    failures += 1;
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(RETRY_MAX_DELAY);
                    continue;
                }
            },
        };
        pump(&mut sink, &mut stream, &prefix, &notifications).await;
        tracing::warn!("lost the Redis notification connection; reconnecting");
    }
}

/// Forwards messages until the connection is lost.
async fn pump(
    sink: &mut PubSubSink,
    stream: &mut PubSubStream,
    prefix: &[u8],
    notifications: &broadcast::Sender<Notification>,
) {
    let mut ping =
        tokio::time::interval_at(tokio::time::Instant::now() + PING_INTERVAL, PING_INTERVAL);
    loop {
        tokio::select! {
            message = stream.next() => match message {
                Some(message) => forward(&message, prefix, notifications),
                None => return,
            },
            _ = ping.tick() => {
                let answered = tokio::time::timeout(COMMAND_TIMEOUT, sink.ping::<Value>()).await;
                if !matches!(answered, Ok(Ok(_))) {
                    return;
                }
            }
        }
    }
}

fn forward(message: &Msg, prefix: &[u8], notifications: &broadcast::Sender<Notification>) {
    let Ok(channel) = message.get_channel::<Vec<u8>>() else {
        return;
    };
    // Channels are published from `&str`, so a message that is not UTF-8 after the prefix did
    // not come from a store.
    let Some(Ok(channel)) = channel
        .strip_prefix(prefix)
        .map(|rest| String::from_utf8(rest.to_vec()))
    else {
        return;
    };
    let _ = notifications.send(Notification {
        channel,
        payload: message.get_payload_bytes().to_vec(),
    });
}

/// `text` as a Redis glob pattern that matches exactly itself.
pub(crate) fn glob_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\' | '^' | '-') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_escape_neutralises_every_special_character() {
        assert_eq!(glob_escape("scangate:"), "scangate:");
        assert_eq!(glob_escape("a*b?c[d]e\\f"), "a\\*b\\?c\\[d\\]e\\\\f");
        assert_eq!(glob_escape(""), "");
    }
}
