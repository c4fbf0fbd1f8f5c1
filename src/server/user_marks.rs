//! Keeps this instance's per-user session marks (blocked users, users whose sessions were
//! revoked) in step with the store, and the `scangate_users` gauge up to date.
//!
//! Notifications carry changes from every instance sharing a Redis within moments. The
//! embedded store's notifications never leave their process, so a `scangate users` command
//! run beside the gateway is seen by re-reading the marks every [`EMBEDDED_POLL`] (one key
//! and the blocked set: cheap local reads); with Redis the re-read every [`REDIS_POLL`] is
//! only a safety net for a notification lost outside a reconnection.

use std::sync::Arc;
use std::time::Duration;

use prometheus::{IntGaugeVec, Opts, Registry};
use tokio::sync::broadcast::error::RecvError;

use crate::config::model::StoreConfig;
use crate::proxy::App;
use crate::session::user_persist;
use crate::store::Store;
use crate::users::admin;

const EMBEDDED_POLL: Duration = Duration::from_millis(400);
const REDIS_POLL: Duration = Duration::from_secs(30);
/// How often `scangate_users` is recounted.
pub const GAUGE_REFRESH: Duration = Duration::from_secs(15);

/// Loads the marks before the gateway serves (a blocked user must not get in during the
/// first moments after a restart).
pub async fn load(app: &App, store: &dyn Store) -> Result<(), crate::store::Error> {
    reload(app, store).await
}

async fn reload(app: &App, store: &dyn Store) -> Result<(), crate::store::Error> {
    let now = crate::proxy::app::unix_now();
    let marks = app.sessions.user_marks();
    user_persist::load_revocations(store, marks, now).await?;
    match admin::blocked_ids(store).await {
        Ok(ids) => marks.replace_blocked(ids),
        Err(crate::users::UsersError::Store(e)) => return Err(e),
        Err(e) => tracing::warn!(error = %e, "cannot read the blocked users"),
    }
    Ok(())
}

/// Follows notifications and re-reads periodically, on `side`; registers and refreshes the
/// `scangate_users{state="total|blocked"}` gauge.
pub fn follow(app: &Arc<App>, side: &tokio::runtime::Runtime, registry: &Registry) {
    let Some(login) = &app.login else {
        return;
    };
    let store = login.store.clone();
    let mut notifications = store.subscribe();
    let poll = match app.config.store {
        StoreConfig::Embedded { .. } => EMBEDDED_POLL,
        StoreConfig::Redis { .. } => REDIS_POLL,
    };
    let follower = app.clone();
    let follow_store = store.clone();
    side.spawn(async move {
        let app = follower;
        let store = follow_store;
        let mut ticks = tokio::time::interval(poll);
        loop {
            let reread = tokio::select! {
                _ = ticks.tick() => true,
                note = notifications.recv() => match note {
                    Ok(n) if n.channel == user_persist::CHANNEL => {
                        user_persist::apply(app.sessions.user_marks(), &n.payload);
                        false
                    }
                    Ok(n) => n.channel == crate::store::RESYNC_CHANNEL,
                    Err(RecvError::Lagged(_)) => true,
                    Err(RecvError::Closed) => break,
                },
            };
            if reread {
                if let Err(e) = reload(&app, store.as_ref()).await {
                    tracing::warn!(error = %e, "cannot reload blocked and revoked users");
                }
            }
        }
    });
    let gauge = IntGaugeVec::new(
        Opts::new(
            "scangate_users",
            "Users in the directory (total) and how many of them are blocked, recounted \
             every 15 s.",
        ),
        &["state"],
    );
    let gauge = match gauge.and_then(|g| registry.register(Box::new(g.clone())).map(|()| g)) {
        Ok(g) => g,
        Err(e) => {
            // A second gateway in one registry (tests): the first one's gauge serves.
            tracing::debug!(error = %e, "scangate_users not registered");
            return;
        }
    };
    side.spawn(async move {
        let mut ticks = tokio::time::interval(GAUGE_REFRESH);
        loop {
            ticks.tick().await;
            match admin::counts(store.as_ref()).await {
                Ok((total, blocked)) => {
                    gauge
                        .with_label_values(&["total"])
                        .set(i64::try_from(total).unwrap_or(i64::MAX));
                    gauge
                        .with_label_values(&["blocked"])
                        .set(i64::try_from(blocked).unwrap_or(i64::MAX));
                }
                Err(e) => tracing::warn!(error = %e, "cannot count users"),
            }
        }
    });
}
