//! The process's signals, handled by us rather than by pingora's default watcher:
//!
//! - SIGHUP re-reads the config file. A valid file replaces the routes at once (requests in
//!   flight keep the routes they started with); an invalid one is refused with the same
//!   messages as `scangate check`, and the old config keeps serving. Either way it is counted
//!   in `scangate_config_reloads_total{outcome}`.
//! - SIGTERM (and SIGQUIT: we do not hand sockets to a successor) drains: waiting long-polls
//!   answer at once, pingora stops accepting, in-flight requests finish, and the process
//!   exits as soon as none is left, at the latest after `shutdown_timeout_seconds`.
//! - SIGINT stops at once.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::signal::unix::{signal, SignalKind};

use crate::config::ConfigErrors;
use crate::proxy::app::unix_now;
use crate::proxy::App;

/// Writes the log lines still buffered now rather than at the next interval: whoever sent the
/// signal (an operator, an orchestrator about to stop the container) reads the log next.
fn flush_log() {
    if let Some(sink) = crate::log_sink::global() {
        sink.flush_soon();
    }
}

/// How often a drain looks whether requests are still in flight.
const DRAIN_POLL: Duration = Duration::from_millis(20);

/// How the process is to stop (`server.rs` tells pingora).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Stop {
    /// Stop accepting, let requests in flight finish.
    Drain,
    /// Stop now.
    Now,
}

pub(super) struct ProcessSignals {
    pub app: Arc<App>,
    /// The file SIGHUP re-reads; `None`: SIGHUP is logged and ignored.
    pub config_path: Option<PathBuf>,
}

impl ProcessSignals {
    /// Handles signals until one says stop (SIGHUP reloads and goes on waiting).
    pub(super) async fn wait(&self) -> Stop {
        let kinds = [
            SignalKind::terminate(),
            SignalKind::interrupt(),
            SignalKind::quit(),
            SignalKind::hangup(),
        ];
        let mut streams = Vec::with_capacity(kinds.len());
        for kind in kinds {
            match signal(kind) {
                Ok(s) => streams.push(s),
                Err(e) => {
                    tracing::error!(error = %e, "cannot watch signals; stopping");
                    return Stop::Now;
                }
            }
        }
        let [term, int, quit, hup] = &mut streams[..] else {
            return Stop::Now;
        };
        loop {
            tokio::select! {
                _ = term.recv() => return self.drain("SIGTERM"),
                _ = quit.recv() => return self.drain("SIGQUIT"),
                _ = int.recv() => {
                    tracing::info!("SIGINT: stopping now");
                    return Stop::Now;
                }
                _ = hup.recv() => match &self.config_path {
                    Some(path) => {
                        let _ = reload(&self.app, path);
                        flush_log();
                    }
                    None => tracing::warn!("SIGHUP ignored: no config file to re-read"),
                },
            }
        }
    }
}

impl ProcessSignals {
    fn drain(&self, signal: &str) -> Stop {
        let timeout = Duration::from_secs(self.app.config.shutdown_timeout_seconds);
        tracing::info!(
            signal,
            in_flight = self.app.in_flight(),
            timeout_seconds = timeout.as_secs(),
            "draining"
        );
        self.app.begin_drain();
        exit_when_drained(self.app.clone(), timeout);
        flush_log();
        Stop::Drain
    }
}

/// Re-reads `path` and applies it (see the module comment). Returns what `check` would
/// print on failure.
pub fn reload(app: &App, path: &Path) -> Result<(), ConfigErrors> {
    match crate::config::load(path) {
        Ok(new) => {
            let restart = app.reload(&new);
            tracing::info!(
                file = %path.display(),
                routes = new.routes.len(),
                "config reloaded"
            );
            if !restart.is_empty() {
                tracing::warn!(
                    sections = ?restart,
                    "these settings changed in the file but take effect only after a restart"
                );
            }
            Ok(())
        }
        Err(errors) => {
            app.metrics.config_loaded(true, false, unix_now());
            tracing::error!(
                file = %path.display(),
                problems = errors.0.len(),
                "config reload refused; the running config stays"
            );
            for issue in &errors.0 {
                tracing::error!(problem = %issue, "config reload refused");
            }
            Err(errors)
        }
    }
}

/// pingora's grace period is a fixed sleep; a drained process need not wait it out. Once
/// no request is in flight (or the timeout has passed), the process exits.
fn exit_when_drained(app: Arc<App>, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    let spawned = std::thread::Builder::new()
        .name("scangate-drain".into())
        .spawn(move || {
            // Let pingora close its listeners first: a request accepted just before then is
            // in flight by the time we look.
            std::thread::sleep(DRAIN_POLL * 5);
            while app.in_flight() > 0 && Instant::now() < deadline {
                std::thread::sleep(DRAIN_POLL);
            }
            tracing::info!(in_flight = app.in_flight(), "drained; scangate stopped");
            // `exit` skips `main`'s end, where the buffered log lines are written.
            crate::log_sink::shutdown();
            std::process::exit(0);
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot watch the drain; waiting the whole grace period");
    }
}
