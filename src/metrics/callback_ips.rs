//! The families of `wechat.official_account.verify_source_ip`, registered only when the switch
//! is on (a gateway without it shows none of them): how the list of WeChat's callback
//! addresses stands, how big and how old it is, and how its refreshes went. Refused pushes are
//! counted with the other callbacks (`scangate_wechat_callbacks_total{outcome="bad_source"}`).

use std::time::{SystemTime, UNIX_EPOCH};

use prometheus::{IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

/// The values of the `state` label.
pub const LIST_STATES: [&str; 3] = ["none", "fresh", "stale"];
/// The values of the `outcome` label of the refresh counter.
pub const REFRESH_OUTCOMES: [&str; 3] = ["fetched", "shared", "failed"];

/// One refresh step, as the metrics see it (the WeChat side maps its report to this, so that
/// this module stays a leaf).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListSample {
    /// One of [`REFRESH_OUTCOMES`] when the step is counted.
    pub outcome: Option<&'static str>,
    /// One of [`LIST_STATES`].
    pub state: &'static str,
    /// Addresses and ranges in the list in use.
    pub entries: usize,
    /// When the list in use was fetched from WeChat.
    pub fetched_at: Option<SystemTime>,
}

/// The list's metric handles.
#[derive(Clone)]
pub struct CallbackIpMetrics {
    state: IntGaugeVec,
    entries: IntGauge,
    fetched: IntGauge,
    refreshes: IntCounterVec,
}

impl CallbackIpMetrics {
    /// Creates the families and registers them into `registry`; the state starts at `none`.
    pub fn register(registry: &Registry) -> prometheus::Result<CallbackIpMetrics> {
        let state = IntGaugeVec::new(
            Opts::new(
                "scangate_wechat_callback_ips_state",
                "1 for the state of WeChat's callback address list: none (callbacks pass \
                 unchecked until one arrives), fresh, or stale (refreshes fail; the last list \
                 is kept)",
            ),
            &["state"],
        )?;
        let entries = IntGauge::new(
            "scangate_wechat_callback_ips",
            "Addresses and ranges in the callback address list in use",
        )?;
        let fetched = IntGauge::new(
            "scangate_wechat_callback_ips_fetched_timestamp_seconds",
            "Unix time the list in use was fetched from WeChat (0 = no list); its age is \
             time() minus this",
        )?;
        let refreshes = IntCounterVec::new(
            Opts::new(
                "scangate_wechat_callback_ips_refreshes_total",
                "Refreshes of the callback address list: fetched (from WeChat), shared (another \
                 instance's list taken from the store), failed (the last list is kept)",
            ),
            &["outcome"],
        )?;
        registry.register(Box::new(state.clone()))?;
        registry.register(Box::new(entries.clone()))?;
        registry.register(Box::new(fetched.clone()))?;
        registry.register(Box::new(refreshes.clone()))?;
        for outcome in REFRESH_OUTCOMES {
            refreshes.with_label_values(&[outcome]);
        }
        let metrics = CallbackIpMetrics {
            state,
            entries,
            fetched,
            refreshes,
        };
        metrics.set_state("none");
        Ok(metrics)
    }

    /// Records one refresh step.
    pub fn observe(&self, report: &ListSample) {
        if let Some(outcome) = report.outcome {
            self.refreshes.with_label_values(&[outcome]).inc();
        }
        self.set_state(report.state);
        self.entries
            .set(i64::try_from(report.entries).unwrap_or(i64::MAX));
        let fetched = report
            .fetched_at
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        self.fetched.set(fetched);
    }

    fn set_state(&self, now: &str) {
        for state in LIST_STATES {
            self.state
                .with_label_values(&[state])
                .set(i64::from(state == now));
        }
    }
}

/// Unix seconds of `t`, for tests that compare with the gauge.
#[cfg(test)]
fn unix(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::Encoder;

    fn render(registry: &Registry) -> String {
        let mut out = Vec::new();
        prometheus::TextEncoder::new()
            .encode(&registry.gather(), &mut out)
            .unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn state_entries_age_and_refreshes_follow_the_reports() {
        let registry = Registry::new();
        let metrics = CallbackIpMetrics::register(&registry).unwrap();
        let text = render(&registry);
        assert!(text.contains(r#"scangate_wechat_callback_ips_state{state="none"} 1"#));
        assert!(text.contains(r#"scangate_wechat_callback_ips_state{state="fresh"} 0"#));
        assert!(text.contains("scangate_wechat_callback_ips_fetched_timestamp_seconds 0"));

        let fetched_at = SystemTime::now();
        metrics.observe(&ListSample {
            outcome: Some("fetched"),
            state: "fresh",
            entries: 3,
            fetched_at: Some(fetched_at),
        });
        metrics.observe(&ListSample {
            outcome: Some("failed"),
            state: "stale",
            entries: 3,
            fetched_at: Some(fetched_at),
        });
        metrics.observe(&ListSample {
            outcome: None,
            state: "stale",
            entries: 3,
            fetched_at: Some(fetched_at),
        });
        let text = render(&registry);
        assert!(text.contains(r#"scangate_wechat_callback_ips_state{state="stale"} 1"#));
        assert!(text.contains(r#"scangate_wechat_callback_ips_state{state="fresh"} 0"#));
        assert!(text.contains(r#"scangate_wechat_callback_ips_state{state="none"} 0"#));
        assert!(text.contains("scangate_wechat_callback_ips 3"));
        assert!(text.contains(&format!(
            "scangate_wechat_callback_ips_fetched_timestamp_seconds {}",
            unix(fetched_at)
        )));
        assert!(
            text.contains(r#"scangate_wechat_callback_ips_refreshes_total{outcome="fetched"} 1"#)
        );
        assert!(
            text.contains(r#"scangate_wechat_callback_ips_refreshes_total{outcome="failed"} 1"#)
        );
        assert!(
            text.contains(r#"scangate_wechat_callback_ips_refreshes_total{outcome="shared"} 0"#)
        );
    }
}
