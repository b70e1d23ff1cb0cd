//! Alerts: email (SMTP) and keepalived's notify fifos.
//!
//! - [`message`]: pure — which events alert under which `smtp_alert*` switches, and the
//!   subjects and bodies keepalived writes.
//! - [`smtp`]: the sending shell — a bounded queue, retries with backoff, counters.
//! - [`fifo`]: `notify_fifo` / `vrrp_notify_fifo` / `lvs_notify_fifo` lines and writers.

pub mod dispatch;
pub mod fifo;
pub mod message;
pub mod smtp;

pub use dispatch::EventConsumers;
pub use message::{Alert, AlertKind, alert_for, fmt_endpoint};
pub use smtp::{AlertError, AlertHandle, AlertOptions, AlertStats, spawn_alerter};
