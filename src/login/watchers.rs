//! Who is waiting for which attempt: one store subscription per service, handing each
//! notification to the polls of that one attempt.
//!
//! Every attempt change is published on one channel with the attempt id as payload. If each
//! waiting poll held its own receiver of the store's broadcast, every login would wake every
//! waiting poll (a thundering herd: with 10k polls waiting, ~22 ms of the worker per login,
//! see BENCHMARKS.md). Here one dispatcher task receives each notification once and wakes
//! only that attempt's waiters: O(1) per notification, whatever the number of waiting polls.
//!
//! A registration is made before the poll's first read, so a change between the read and the
//! wait is never missed (the watch channel remembers it). When notifications may have been
//! lost (a lagging receiver, the Redis backend's resync after a reconnect), every waiter is
//! woken to re-read.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};

use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::watch;

use crate::identity::AttemptId;
use crate::store::{Notification, Store, RESYNC_CHANNEL};

use super::keys;

/// The waiters of every attempt that has any, keyed by attempt id.
#[derive(Default)]
pub(super) struct Watchers {
    by_attempt: Mutex<HashMap<Box<str>, watch::Sender<()>>>,
    /// Set once the dispatcher runs (see [`Watchers::register`]).
    started: OnceLock<()>,
}

/// One poll's interest in one attempt; dropping it deregisters.
pub(super) struct Registration {
    watchers: Arc<Watchers>,
    id: Box<str>,
    // An `Option` only so `Drop` can release the receiver before checking whether it was the
    // attempt's last one.
    changes: Option<watch::Receiver<()>>,
}

impl Watchers {
    /// Registers interest in attempt `id`. The first registration starts the dispatcher on the
    /// current tokio runtime (in the gateway, pingora's, which lives as long as the process):
    /// it subscribes before this returns, so nothing published after this call is missed.
    pub(super) fn register(
        self: &Arc<Self>,
        store: &Arc<dyn Store>,
        id: &AttemptId,
    ) -> Registration {
        let id = id.as_str();
        self.started.get_or_init(|| {
            let notifications = store.subscribe();
            tokio::spawn(dispatch(Arc::downgrade(self), notifications));
        });
        let mut map = self.lock();
        let changes = match map.get(id) {
            Some(sender) => sender.subscribe(),
            None => {
                let (sender, receiver) = watch::channel(());
                map.insert(id.into(), sender);
                receiver
            }
        };
        Registration {
            watchers: self.clone(),
            id: id.into(),
            changes: Some(changes),
        }
    }

    /// How many attempts have a waiter now.
    #[cfg(test)]
    pub(super) fn attempts_watched(&self) -> usize {
        self.lock().len()
    }

    fn wake(&self, id: &[u8]) {
        let Ok(id) = std::str::from_utf8(id) else {
            return;
        };
        if let Some(sender) = self.lock().get(id) {
            sender.send_replace(());
        }
    }

    fn wake_all(&self) {
        for sender in self.lock().values() {
            sender.send_replace(());
        }
    }

    // A panic while holding the lock leaves a map that is still consistent (every operation
    // on it is a single insert, remove or lookup), so a poisoned lock is used as it is.
    fn lock(&self) -> MutexGuard<'_, HashMap<Box<str>, watch::Sender<()>>> {
        self.by_attempt
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Registration {
    /// Returns when the attempt may have changed since the registration or the last return:
    /// a notification for it arrived, or notifications may have been lost. The caller re-reads
    /// either way. Never returns if nothing changes: the caller's deadline ends the wait.
    pub(super) async fn changed(&mut self) {
        let Some(changes) = self.changes.as_mut() else {
            return std::future::pending().await;
        };
        if changes.changed().await.is_err() {
            // The sender is only removed with its last receiver, which is this one.
            std::future::pending::<()>().await;
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut map = self.watchers.lock();
        drop(self.changes.take());
        // Under the lock, so no registration for the same id can slip in between the check
        // and the removal.
        if map
            .get(&*self.id)
            .is_some_and(|sender| sender.receiver_count() == 0)
        {
            map.remove(&*self.id);
        }
    }
}

/// Hands every attempt notification to that attempt's waiters, until the service is gone or
/// the store stops publishing.
async fn dispatch(watchers: Weak<Watchers>, mut notifications: broadcast::Receiver<Notification>) {
    loop {
        let received = notifications.recv().await;
        let Some(watchers) = watchers.upgrade() else {
            return;
        };
        match received {
            Ok(n) if n.channel == keys::CHANNEL => watchers.wake(&n.payload),
            Ok(n) if n.channel == RESYNC_CHANNEL => watchers.wake_all(),
            Ok(_) => {}
            Err(RecvError::Lagged(missed)) => {
                tracing::debug!(missed, "attempt notifications lagged; every poll re-reads");
                watchers.wake_all();
            }
            Err(RecvError::Closed) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::store::SqliteStore;

    const SOON: Duration = Duration::from_millis(500);
    const QUIET: Duration = Duration::from_millis(50);
    const A: &str = "AAAAAAAAAAAAAAAAAAAAAA";
    const B: &str = "BBBBBBBBBBBBBBBBBBBBBA";

    fn id(s: &str) -> AttemptId {
        AttemptId::parse(s).unwrap()
    }

    /// Notifications never touch the file; the directory only has to outlive the test.
    fn store() -> (Arc<dyn Store>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("w.db")).unwrap();
        (Arc::new(store), dir)
    }

    async fn wakes(reg: &mut Registration, within: Duration) -> bool {
        tokio::time::timeout(within, reg.changed()).await.is_ok()
    }

    #[tokio::test]
    async fn a_notification_wakes_only_its_attempts_waiters() {
        let ((store, _dir), watchers) = (store(), Arc::new(Watchers::default()));
        let mut a1 = watchers.register(&store, &id(A));
        let mut a2 = watchers.register(&store, &id(A));
        let mut b = watchers.register(&store, &id(B));
        store.publish(keys::CHANNEL, A.as_bytes()).await.unwrap();
        assert!(wakes(&mut a1, SOON).await);
        assert!(wakes(&mut a2, SOON).await);
        assert!(
            !wakes(&mut b, QUIET).await,
            "b's waiter must sleep through a's change"
        );
        // Other channels wake nobody.
        store.publish("sessions", B.as_bytes()).await.unwrap();
        assert!(!wakes(&mut b, QUIET).await);
    }

    #[tokio::test]
    async fn a_change_before_the_wait_is_not_lost() {
        let ((store, _dir), watchers) = (store(), Arc::new(Watchers::default()));
        let mut reg = watchers.register(&store, &id(A));
        store.publish(keys::CHANNEL, A.as_bytes()).await.unwrap();
        // Give the dispatcher time to pass it on before anyone waits.
        tokio::time::sleep(QUIET).await;
        assert!(
            wakes(&mut reg, Duration::ZERO).await,
            "the change is remembered until the poll waits"
        );
        // Consumed: the next wait sleeps until the next change.
        assert!(!wakes(&mut reg, QUIET).await);
    }

    #[tokio::test]
    async fn a_resync_wakes_every_waiter() {
        let ((store, _dir), watchers) = (store(), Arc::new(Watchers::default()));
        let mut a = watchers.register(&store, &id(A));
        let mut b = watchers.register(&store, &id(B));
        store.publish(RESYNC_CHANNEL, b"").await.unwrap();
        assert!(wakes(&mut a, SOON).await);
        assert!(wakes(&mut b, SOON).await);
    }

    #[tokio::test]
    async fn the_last_registration_gone_forgets_the_attempt() {
        let ((store, _dir), watchers) = (store(), Arc::new(Watchers::default()));
        let first = watchers.register(&store, &id(A));
        let second = watchers.register(&store, &id(A));
        let other = watchers.register(&store, &id(B));
        assert_eq!(watchers.attempts_watched(), 2);
        drop(first);
        assert_eq!(watchers.attempts_watched(), 2, "a still has a waiter");
        drop(second);
        assert_eq!(watchers.attempts_watched(), 1);
        drop(other);
        assert_eq!(watchers.attempts_watched(), 0);
        // A new registration after that starts afresh and still wakes.
        let mut again = watchers.register(&store, &id(A));
        store.publish(keys::CHANNEL, A.as_bytes()).await.unwrap();
        assert!(wakes(&mut again, SOON).await);
    }
}
