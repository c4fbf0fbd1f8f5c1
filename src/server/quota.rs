//! The background read of WeChat's quotas (`login::quota`): at start and every
//! [`REFRESH_INTERVAL`], on the side runtime.

use crate::login::quota::REFRESH_INTERVAL;
use crate::proxy::app::unix_now;
use crate::proxy::App;

/// Starts the reads when the gateway makes login codes.
pub fn start(app: &App, side: &tokio::runtime::Runtime) {
    let Some(login) = &app.login else {
        return;
    };
    let service = login.service.clone();
    side.spawn(async move {
        let mut every = tokio::time::interval(REFRESH_INTERVAL);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            service.refresh_quotas(unix_now()).await;
        }
    });
}
