//! One place that hands every [`Event`] to all its consumers, in order: status board, metrics,
//! notify fifos and email. The daemon's event loop calls [`EventConsumers::consume`] for each
//! event it receives from the engines; nothing here blocks (fifo writes are non-blocking, email
//! is queued).
//!
//! ```ignore
//! let mut consumers = EventConsumers::start(&cfg, status.clone(), metrics.clone())?;
//! while let Some(ev) = ev_rx.recv().await {
//!     consumers.consume(&ev);
//! }
//! ```

use super::fifo::{FifoError, FifoWriters};
use super::smtp::{AlertHandle, AlertOptions, spawn_alerter};
use crate::config::Config;
use crate::daemon::metrics::Metrics;
use crate::daemon::status::StatusBoard;
use crate::events::Event;
use std::sync::Arc;

pub struct EventConsumers {
    pub status: Arc<StatusBoard>,
    pub metrics: Arc<Metrics>,
    pub alerts: AlertHandle,
    pub fifos: FifoWriters,
}

impl EventConsumers {
    /// Start the alert sender and open the notify fifos of `cfg` (inside a tokio runtime).
    pub fn start(
        cfg: &Config,
        status: Arc<StatusBoard>,
        metrics: Arc<Metrics>,
    ) -> Result<EventConsumers, FifoError> {
        let fifos = FifoWriters::open(&cfg.global)?;
        let alerts = spawn_alerter(cfg, AlertOptions::default());
        metrics.attach_alert_stats(alerts.stats());
        Ok(EventConsumers {
            status,
            metrics,
            alerts,
            fifos,
        })
    }

    /// Hand one event to every consumer. Every transition is also one log line.
    pub fn consume(&mut self, ev: &Event) {
        log_event(ev);
        self.status.apply(ev);
        self.metrics.observe_event(ev);
        self.fifos.write_event(ev);
        self.alerts.send(ev);
    }

    /// After a reload: new alert settings, and the fifos of the new configuration (kept open
    /// when unchanged; keepalived recreates them, which loses lines in flight).
    pub fn reconfigure(&mut self, cfg: &Arc<Config>, old: &Config) -> Result<(), FifoError> {
        self.alerts.set_config(cfg.clone());
        let g = &cfg.global;
        let o = &old.global;
        if g.notify_fifo != o.notify_fifo
            || g.vrrp_notify_fifo != o.vrrp_notify_fifo
            || g.lvs_notify_fifo != o.lvs_notify_fifo
        {
            self.fifos = FifoWriters::open(g)?;
        }
        Ok(())
    }
}

fn log_event(ev: &Event) {
    match ev {
        Event::VrrpInstance {
            instance,
            from,
            to,
            priority,
            reason,
        } => tracing::info!(
            target: "event",
            instance = %instance,
            from = from.as_str(),
            to = to.as_str(),
            priority = *priority,
            reason = %reason,
            "VRRP instance {instance}: {} -> {} (priority {priority}): {reason}",
            from.as_str(),
            to.as_str()
        ),
        Event::VrrpSyncGroup {
            group,
            from,
            to,
            reason,
        } => tracing::info!(
            target: "event",
            group = %group,
            "VRRP sync group {group}: {} -> {}: {reason}",
            from.as_str(),
            to.as_str()
        ),
        Event::RealServer {
            virtual_server,
            real_server,
            up,
            reason,
        } => tracing::info!(
            target: "event",
            "real server {} of virtual server {}: {}{}",
            super::fmt_endpoint(real_server),
            super::fmt_endpoint(virtual_server),
            if *up { "UP" } else { "DOWN" },
            if reason.is_empty() { String::new() } else { format!(" ({reason})") }
        ),
        Event::Quorum {
            virtual_server,
            gained,
            alive_weight,
            quorum,
        } => tracing::info!(
            target: "event",
            "virtual server {}: quorum {} (alive weight {alive_weight}, quorum {quorum})",
            super::fmt_endpoint(virtual_server),
            if *gained { "gained" } else { "lost" }
        ),
        Event::Reload { ok, detail } => {
            if *ok {
                tracing::info!(target: "event", "configuration reloaded: {detail}")
            } else {
                tracing::error!(target: "event", "configuration reload refused: {detail}")
            }
        }
        Event::VrrpPriority {
            instance, priority, ..
        } => {
            tracing::info!(target: "event", instance = %instance, priority = *priority, "VRRP instance {instance}: effective priority now {priority}")
        }
        // The VRRP engine logs it when it happens.
        Event::RealServerWeight { .. }
        | Event::RealServerDraining { .. }
        | Event::VrrpMasterRxLowerPri { .. } => {}
    }
}
