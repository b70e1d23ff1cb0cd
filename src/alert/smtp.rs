//! The SMTP sending shell: a bounded queue in front of one sender task, so that engines hand
//! over an [`Event`] without waiting, and a mail server that is down delays only the mail.
//!
//! Delivery is in event order (head of line): while the first alert waits for the server to
//! come back, later ones queue behind it, up to the queue's capacity; beyond that new alerts
//! are dropped and counted. Every alert sent, retried or dropped is one log line.

use super::message::{Alert, alert_for, email_configured};
use crate::config::Config;
use crate::events::Event;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::mpsc;

/// Errors of the alert sender.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error("no smtp_server configured")]
    NoServer,
    #[error("invalid mail address {address:?} ({field}): {source}")]
    Address {
        address: String,
        field: &'static str,
        #[source]
        source: lettre::address::AddressError,
    },
    #[error("cannot build the message: {0}")]
    Build(#[from] lettre::error::Error),
    #[error("TLS parameters for {host}: {source}")]
    Tls {
        host: String,
        #[source]
        source: lettre::transport::smtp::Error,
    },
    #[error("SMTP {server}: {source}")]
    Smtp {
        server: String,
        #[source]
        source: lettre::transport::smtp::Error,
    },
    #[error("SMTP {server}: no answer within {after:?}")]
    Timeout { server: String, after: Duration },
}

impl AlertError {
    /// Whether trying again later may succeed (server down, timeouts, 4xx replies).
    pub fn is_transient(&self) -> bool {
        match self {
            AlertError::Smtp { source, .. } => !source.is_permanent(),
            AlertError::Timeout { .. } => true,
            _ => false,
        }
    }
}

/// Queue and retry policy.
#[derive(Debug, Clone)]
pub struct AlertOptions {
    /// Alerts waiting to be sent; more are dropped (and counted).
    pub queue_capacity: usize,
    /// First retry delay; doubles on each failure up to `backoff_max`.
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// An alert still unsent after this long is dropped.
    pub max_age: Duration,
}

impl Default for AlertOptions {
    fn default() -> Self {
        AlertOptions {
            queue_capacity: 256,
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            max_age: Duration::from_secs(3600),
        }
    }
}

/// The delay before retry number `attempt` (1-based): exponential, capped. No jitter: one
/// daemon talks to one mail server, there is no herd to spread.
pub fn backoff_delay(attempt: u32, initial: Duration, max: Duration) -> Duration {
    let factor = 1u32
        .checked_shl(attempt.saturating_sub(1))
        .unwrap_or(u32::MAX);
    initial.saturating_mul(factor).min(max)
}

/// Counters read by the metrics endpoint.
#[derive(Debug, Default)]
pub struct AlertStats {
    /// Emails accepted by the SMTP server.
    pub sent: AtomicU64,
    /// Emails given up: permanent SMTP errors, too old, or the queue was full.
    pub failed: AtomicU64,
    /// Failed attempts that will be tried again.
    pub retried: AtomicU64,
    /// Of `failed`: alerts refused because the queue was full.
    pub dropped: AtomicU64,
    /// Alerts queued or being sent right now.
    pub pending: AtomicU64,
}

impl AlertStats {
    pub fn get(&self, c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}

/// Everything the sender needs from the configuration, resolved once.
#[derive(Debug, Clone)]
struct MailSettings {
    host: String,
    port: u16,
    helo: String,
    connect_timeout: Duration,
    from: String,
    to: Vec<String>,
    router_id: String,
}

fn host_name() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

impl MailSettings {
    fn from_config(cfg: &Config) -> Option<MailSettings> {
        let g = &cfg.global;
        let server = g.smtp_server.as_ref()?;
        let host = host_name();
        Some(MailSettings {
            host: server.host.clone(),
            port: server.port,
            helo: g.smtp_helo_name.clone().unwrap_or_else(|| host.clone()),
            connect_timeout: g.smtp_connect_timeout,
            // keepalived's default sender address.
            from: g
                .notification_email_from
                .clone()
                .unwrap_or_else(|| format!("keepalived@{host}")),
            to: g.notification_email.clone(),
            router_id: g.router_id.clone().unwrap_or(host),
        })
    }
    fn server(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Build the email for an alert with keepalived's headers: Date, From, Subject,
/// X-Mailer, To (all recipients, comma separated, one message).
pub fn build_message(
    alert: &Alert,
    from: &str,
    to: &[String],
    date: SystemTime,
) -> Result<Message, AlertError> {
    let parse = |a: &str, field: &'static str| {
        a.parse::<Mailbox>().map_err(|source| AlertError::Address {
            address: a.to_string(),
            field,
            source,
        })
    };
    let mut b = Message::builder()
        .date(date)
        .from(parse(from, "notification_email_from")?)
        .subject(alert.subject.clone())
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("X-Mailer"),
            "Keepalived (rampart)".to_string(),
        ));
    for t in to {
        b = b.to(parse(t, "notification_email")?);
    }
    // SMTP wants CRLF line ends; details (reload diagnostics) come with bare LFs.
    let body = alert.body.replace("\r\n", "\n").replace('\n', "\r\n");
    Ok(b.header(ContentType::TEXT_PLAIN)
        .body(format!("{body}\r\n"))?)
}

async fn send_once(s: &MailSettings, alert: &Alert) -> Result<(), AlertError> {
    let msg = build_message(alert, &s.from, &s.to, SystemTime::now())?;
    // Opportunistic STARTTLS (RFC 7435): encrypt when the server offers it, without
    // authenticating it; keepalived itself only ever speaks plain SMTP.
    let tls = TlsParameters::builder(s.host.clone())
        .dangerous_accept_invalid_certs(true)
        .dangerous_accept_invalid_hostnames(true)
        .build_rustls()
        .map_err(|source| AlertError::Tls {
            host: s.host.clone(),
            source,
        })?;
    let helo = match s.helo.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(a)) => ClientId::Ipv4(a),
        Ok(std::net::IpAddr::V6(a)) => ClientId::Ipv6(a),
        Err(_) => ClientId::Domain(s.helo.clone()),
    };
    let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(s.host.clone())
        .port(s.port)
        .hello_name(helo)
        .timeout(Some(s.connect_timeout))
        .tls(Tls::Opportunistic(tls))
        .build();
    // lettre's timeout covers each step; bound the whole dialogue as well.
    let budget = s.connect_timeout.saturating_mul(4);
    match tokio::time::timeout(budget, transport.send(msg)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(source)) => Err(AlertError::Smtp {
            server: s.server(),
            source,
        }),
        Err(_) => Err(AlertError::Timeout {
            server: s.server(),
            after: budget,
        }),
    }
}

struct Queued {
    alert: Alert,
    queued_at: Instant,
}

struct Shared {
    cfg: RwLock<Arc<Config>>,
    stats: Arc<AlertStats>,
    last_emailed: std::sync::Mutex<super::message::LastEmailed>,
}

/// The engines' side of the alerter: cheap to clone, never blocks.
#[derive(Clone)]
pub struct AlertHandle {
    tx: Option<mpsc::Sender<Queued>>,
    shared: Arc<Shared>,
}

impl AlertHandle {
    /// Queue the email for `ev`, if the configuration asks for one. Never waits: with the
    /// queue full the alert is dropped, logged and counted.
    pub fn send(&self, ev: &Event) {
        let Some(tx) = &self.tx else { return };
        let cfg = self.config();
        let Some(settings) = MailSettings::from_config(&cfg) else {
            return;
        };
        if !email_configured(&cfg) {
            return;
        }
        let Some(alert) = alert_for(&cfg, &settings.router_id, ev) else {
            return;
        };
        let admitted = match self.shared.last_emailed.lock() {
            Ok(mut l) => l.admit(ev),
            Err(p) => p.into_inner().admit(ev),
        };
        if !admitted {
            tracing::debug!(target: "alert", subject = %alert.subject, "not mailed again: same state as the last alert");
            return;
        }
        let stats = &self.shared.stats;
        stats.pending.fetch_add(1, Ordering::Relaxed);
        let subject = alert.subject.clone();
        if let Err(e) = tx.try_send(Queued {
            alert,
            queued_at: Instant::now(),
        }) {
            stats.pending.fetch_sub(1, Ordering::Relaxed);
            stats.failed.fetch_add(1, Ordering::Relaxed);
            stats.dropped.fetch_add(1, Ordering::Relaxed);
            let why = match e {
                mpsc::error::TrySendError::Full(_) => "alert queue full",
                mpsc::error::TrySendError::Closed(_) => "alert sender stopped",
            };
            tracing::error!(target: "alert", subject = %subject, "alert dropped: {why}");
        } else {
            tracing::debug!(target: "alert", subject = %subject, "alert queued");
        }
    }

    /// Use a new configuration (after a reload) for alerts queued from now on and for the
    /// mail server settings of the next attempt.
    pub fn set_config(&self, cfg: Arc<Config>) {
        if let Ok(mut c) = self.shared.cfg.write() {
            *c = cfg;
        }
    }

    fn config(&self) -> Arc<Config> {
        match self.shared.cfg.read() {
            Ok(c) => c.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    pub fn stats(&self) -> Arc<AlertStats> {
        self.shared.stats.clone()
    }

    /// Wait until every queued alert is sent or given up, at most `budget` (used at shutdown
    /// so that the STOP alerts get out).
    pub async fn flush(&self, budget: Duration) -> bool {
        let deadline = Instant::now() + budget;
        while self.shared.stats.pending.load(Ordering::Relaxed) > 0 {
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        true
    }
}

/// Start the alert sender (inside a tokio runtime). With no `smtp_server` or no
/// `notification_email`, the handle is inert: keepalived sends nothing either.
pub fn spawn_alerter(cfg: &Config, opts: AlertOptions) -> AlertHandle {
    let shared = Arc::new(Shared {
        cfg: RwLock::new(Arc::new(cfg.clone())),
        stats: Arc::new(AlertStats::default()),
        last_emailed: Default::default(),
    });
    if !email_configured(cfg) {
        tracing::debug!(target: "alert", "no smtp_server/notification_email: email alerts off");
    }
    let (tx, rx) = mpsc::channel(opts.queue_capacity.max(1));
    tokio::spawn(sender_loop(rx, shared.clone(), opts));
    AlertHandle {
        tx: Some(tx),
        shared,
    }
}

async fn sender_loop(mut rx: mpsc::Receiver<Queued>, shared: Arc<Shared>, opts: AlertOptions) {
    let stats = shared.stats.clone();
    while let Some(item) = rx.recv().await {
        let mut attempt: u32 = 0;
        loop {
            let cfg = match shared.cfg.read() {
                Ok(c) => c.clone(),
                Err(p) => p.into_inner().clone(),
            };
            let Some(settings) = MailSettings::from_config(&cfg) else {
                stats.failed.fetch_add(1, Ordering::Relaxed);
                tracing::error!(target: "alert", subject = %item.alert.subject, "alert dropped: {}", AlertError::NoServer);
                break;
            };
            match send_once(&settings, &item.alert).await {
                Ok(()) => {
                    stats.sent.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(
                        target: "alert",
                        subject = %item.alert.subject,
                        server = %settings.server(),
                        recipients = settings.to.len(),
                        attempts = attempt + 1,
                        "alert sent"
                    );
                    break;
                }
                Err(e) if !e.is_transient() => {
                    stats.failed.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(target: "alert", subject = %item.alert.subject, "alert dropped: {e}");
                    break;
                }
                Err(e) => {
                    attempt += 1;
                    if item.queued_at.elapsed() >= opts.max_age {
                        stats.failed.fetch_add(1, Ordering::Relaxed);
                        tracing::error!(
                            target: "alert",
                            subject = %item.alert.subject,
                            "alert dropped after {attempt} attempts over {:?}: {e}",
                            item.queued_at.elapsed()
                        );
                        break;
                    }
                    stats.retried.fetch_add(1, Ordering::Relaxed);
                    let delay = backoff_delay(attempt, opts.backoff_initial, opts.backoff_max);
                    tracing::warn!(
                        target: "alert",
                        subject = %item.alert.subject,
                        "alert not sent ({e}); retry {attempt} in {delay:?}"
                    );
                    tokio::time::sleep(delay).await;
                }
            }
        }
        stats.pending.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::message::AlertKind;

    #[test]
    fn backoff_doubles_and_caps() {
        let i = Duration::from_millis(100);
        let m = Duration::from_secs(2);
        assert_eq!(backoff_delay(1, i, m), Duration::from_millis(100));
        assert_eq!(backoff_delay(2, i, m), Duration::from_millis(200));
        assert_eq!(backoff_delay(4, i, m), Duration::from_millis(800));
        assert_eq!(backoff_delay(6, i, m), m);
        assert_eq!(backoff_delay(200, i, m), m);
    }

    #[test]
    fn message_has_keepalived_headers() {
        let alert = Alert {
            kind: AlertKind::VrrpInstance,
            subject: "[lb1] VRRP Instance VI_1 - Entering MASTER state".into(),
            body: "=> VRRP Instance is now owning VRRP VIPs <=".into(),
        };
        let m = build_message(
            &alert,
            "lb@example.com",
            &["a@example.com".into(), "b@example.com".into()],
            SystemTime::UNIX_EPOCH,
        )
        .unwrap();
        let text = String::from_utf8(m.formatted()).unwrap();
        assert!(
            text.contains("Subject: [lb1] VRRP Instance VI_1 - Entering MASTER state\r\n"),
            "{text}"
        );
        assert!(text.contains("From: lb@example.com\r\n"), "{text}");
        assert!(
            text.contains("To: a@example.com, b@example.com\r\n"),
            "{text}"
        );
        assert!(
            text.contains("X-Mailer: Keepalived (rampart)\r\n"),
            "{text}"
        );
        assert!(
            text.contains("Date: Thu, 01 Jan 1970 00:00:00 +0000\r\n"),
            "{text}"
        );
        assert_eq!(m.envelope().to().len(), 2);
    }

    #[test]
    fn bad_address_is_named() {
        let alert = Alert {
            kind: AlertKind::Daemon,
            subject: "s".into(),
            body: "b".into(),
        };
        let e = build_message(&alert, "not an address", &[], SystemTime::UNIX_EPOCH).unwrap_err();
        assert!(e.to_string().contains("notification_email_from"), "{e}");
    }
}
