//! Prometheus metrics: a registry the engines update, and the text-format endpoint served on
//! `--metrics-listen ADDR:PORT` (`GET /metrics`).
//!
//! The registry is one mutex over plain maps: updates are a few per second per instance or
//! real server, far from contention. Every family is declared once in [`FAMILIES`] with its
//! type and help text, so names stay consistent and documented:
//!
//! | family | labels |
//! |---|---|
//! | `rampart_vrrp_state` | instance (0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT, 4 STOP) |
//! | `rampart_vrrp_effective_priority` | instance |
//! | `rampart_vrrp_transitions_total` | instance |
//! | `rampart_vrrp_adverts_sent_total`, `..._received_total` | instance |
//! | `rampart_vrrp_dropped_total` | instance, reason |
//! | `rampart_vrrp_sync_group_state` | group |
//! | `rampart_realserver_up`, `rampart_realserver_weight` | vs, rs |
//! | `rampart_check_duration_seconds` (histogram), `rampart_check_failures_total` | vs, rs |
//! | `rampart_virtualserver_quorum_up` | vs |
//! | `rampart_ipvs_*` | vs [, rs] |
//! | `rampart_alerts_sent_total`, `..._failed_total`, `..._retries_total`, `..._queued` | |
//! | `rampart_config_reloads_total`, `rampart_config_reload_failures_total` | |
//! | `rampart_build_info` | version |

use crate::alert::fmt_endpoint;
use crate::alert::smtp::AlertStats;
use crate::events::{Endpoint, Event, VrrpStateName};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// Every metric family rampart exports: name, type, help.
pub const FAMILIES: &[(&str, Kind, &str)] = &[
    (
        "rampart_build_info",
        Kind::Gauge,
        "rampart build information (always 1).",
    ),
    (
        "rampart_vrrp_state",
        Kind::Gauge,
        "VRRP instance state: 0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT, 4 STOP.",
    ),
    (
        "rampart_vrrp_effective_priority",
        Kind::Gauge,
        "VRRP instance priority after tracking adjustments.",
    ),
    (
        "rampart_vrrp_transitions_total",
        Kind::Counter,
        "VRRP instance state transitions.",
    ),
    (
        "rampart_vrrp_adverts_sent_total",
        Kind::Counter,
        "VRRP advertisements sent.",
    ),
    (
        "rampart_vrrp_adverts_received_total",
        Kind::Counter,
        "VRRP advertisements received and accepted.",
    ),
    (
        "rampart_vrrp_dropped_total",
        Kind::Counter,
        "Received VRRP packets dropped, by reason.",
    ),
    (
        "rampart_vrrp_become_master_total",
        Kind::Counter,
        "Times the instance became MASTER.",
    ),
    (
        "rampart_vrrp_release_master_total",
        Kind::Counter,
        "Times the instance left MASTER.",
    ),
    (
        "rampart_vrrp_sync_group_state",
        Kind::Gauge,
        "VRRP sync group state: 0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT, 4 STOP.",
    ),
    (
        "rampart_realserver_up",
        Kind::Gauge,
        "Real server health: 1 up, 0 down.",
    ),
    (
        "rampart_realserver_weight",
        Kind::Gauge,
        "Real server weight in the desired IPVS table.",
    ),
    (
        "rampart_check_duration_seconds",
        Kind::Histogram,
        "Health check duration.",
    ),
    (
        "rampart_check_failures_total",
        Kind::Counter,
        "Failed health checks (each attempt).",
    ),
    (
        "rampart_virtualserver_quorum_up",
        Kind::Gauge,
        "Virtual server quorum: 1 up, 0 down.",
    ),
    (
        "rampart_ipvs_connections_total",
        Kind::Counter,
        "IPVS connections scheduled (kernel counter).",
    ),
    (
        "rampart_ipvs_packets_in_total",
        Kind::Counter,
        "IPVS incoming packets (kernel counter).",
    ),
    (
        "rampart_ipvs_packets_out_total",
        Kind::Counter,
        "IPVS outgoing packets (kernel counter).",
    ),
    (
        "rampart_ipvs_bytes_in_total",
        Kind::Counter,
        "IPVS incoming bytes (kernel counter).",
    ),
    (
        "rampart_ipvs_bytes_out_total",
        Kind::Counter,
        "IPVS outgoing bytes (kernel counter).",
    ),
    (
        "rampart_ipvs_active_connections",
        Kind::Gauge,
        "IPVS active connections to a real server.",
    ),
    (
        "rampart_ipvs_inactive_connections",
        Kind::Gauge,
        "IPVS inactive connections to a real server.",
    ),
    (
        "rampart_ipvs_operations_total",
        Kind::Counter,
        "Requests sent to the kernel's IPVS table (result ok or failed).",
    ),
    (
        "rampart_alerts_sent_total",
        Kind::Counter,
        "Email alerts accepted by the SMTP server.",
    ),
    (
        "rampart_alerts_failed_total",
        Kind::Counter,
        "Email alerts given up (permanent errors, too old, queue full).",
    ),
    (
        "rampart_alerts_retries_total",
        Kind::Counter,
        "Email alert attempts that failed and will be retried.",
    ),
    (
        "rampart_alerts_queued",
        Kind::Gauge,
        "Email alerts waiting or being sent.",
    ),
    (
        "rampart_config_reloads_total",
        Kind::Counter,
        "Configuration reloads applied.",
    ),
    (
        "rampart_config_reload_failures_total",
        Kind::Counter,
        "Configuration reloads refused (errors in the new file).",
    ),
];

/// Histogram buckets for check durations, seconds.
pub const CHECK_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

type Labels = Vec<(&'static str, String)>;

#[derive(Debug, Clone)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

#[derive(Debug, Clone)]
enum Value {
    Num(f64),
    Hist(Histogram),
}

#[derive(Default)]
struct Inner {
    series: BTreeMap<&'static str, BTreeMap<Labels, Value>>,
}

/// Per-instance VRRP counters, as keepalived's stats dump shows them.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VrrpCounters {
    pub adverts_received: u64,
    pub adverts_sent: u64,
    pub become_master: u64,
    pub release_master: u64,
    pub priority_zero_received: u64,
    pub priority_zero_sent: u64,
    pub dropped: BTreeMap<String, u64>,
}

/// The registry. Share it as `Arc<Metrics>`.
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
    alerts: Mutex<Option<Arc<AlertStats>>>,
    ipvs_ops: Mutex<Option<Arc<crate::check::sink::IpvsOpCounters>>>,
}

pub fn state_number(s: VrrpStateName) -> f64 {
    match s {
        VrrpStateName::Init => 0.0,
        VrrpStateName::Backup => 1.0,
        VrrpStateName::Master => 2.0,
        VrrpStateName::Fault => 3.0,
        VrrpStateName::Stop => 4.0,
    }
}

fn l1(k: &'static str, v: &str) -> Labels {
    vec![(k, v.to_string())]
}

fn vs_rs(vs: &Endpoint, rs: &Endpoint) -> Labels {
    vec![("vs", fmt_endpoint(vs)), ("rs", fmt_endpoint(rs))]
}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics::default()
    }

    fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        match self.inner.lock() {
            Ok(mut g) => f(&mut g),
            Err(p) => f(&mut p.into_inner()),
        }
    }

    fn set(&self, name: &'static str, labels: Labels, v: f64) {
        self.with(|i| {
            i.series
                .entry(name)
                .or_default()
                .insert(labels, Value::Num(v));
        })
    }

    fn add(&self, name: &'static str, labels: Labels, v: f64) {
        self.with(|i| {
            let e = i
                .series
                .entry(name)
                .or_default()
                .entry(labels)
                .or_insert(Value::Num(0.0));
            if let Value::Num(n) = e {
                *n += v;
            }
        })
    }

    fn get(&self, name: &'static str, labels: &Labels) -> f64 {
        self.with(|i| match i.series.get(name).and_then(|s| s.get(labels)) {
            Some(Value::Num(n)) => *n,
            _ => 0.0,
        })
    }

    /// Forget every series of one label value (an instance or virtual server removed by a
    /// reload), so it stops being exported.
    pub fn forget(&self, label: &'static str, value: &str) {
        self.with(|i| {
            for s in i.series.values_mut() {
                s.retain(|labels, _| !labels.iter().any(|(k, v)| *k == label && v == value));
            }
        })
    }

    /// Move every series of one label value to another (an instance renamed by a reload
    /// keeps its state and counters under its new name).
    pub fn relabel(&self, label: &'static str, from: &str, to: &str) {
        self.with(|i| {
            for s in i.series.values_mut() {
                let moved: Vec<_> = s
                    .keys()
                    .filter(|labels| labels.iter().any(|(k, v)| *k == label && v == from))
                    .cloned()
                    .collect();
                for old in moved {
                    if let Some(v) = s.remove(&old) {
                        let new = old
                            .into_iter()
                            .map(|(k, v)| {
                                if k == label && v == from {
                                    (k, to.to_string())
                                } else {
                                    (k, v)
                                }
                            })
                            .collect();
                        s.insert(new, v);
                    }
                }
            }
        })
    }

    // --- VRRP ------------------------------------------------------------------------------

    pub fn vrrp_state(&self, instance: &str, state: VrrpStateName) {
        self.set(
            "rampart_vrrp_state",
            l1("instance", instance),
            state_number(state),
        );
    }
    pub fn vrrp_effective_priority(&self, instance: &str, priority: u8) {
        self.set(
            "rampart_vrrp_effective_priority",
            l1("instance", instance),
            priority as f64,
        );
    }
    pub fn vrrp_advert_sent(&self, instance: &str) {
        self.add(
            "rampart_vrrp_adverts_sent_total",
            l1("instance", instance),
            1.0,
        );
    }
    pub fn vrrp_advert_received(&self, instance: &str) {
        self.add(
            "rampart_vrrp_adverts_received_total",
            l1("instance", instance),
            1.0,
        );
    }
    /// A priority-0 advertisement received from the master, or sent by us.
    pub fn vrrp_priority_zero(&self, instance: &str, sent: bool) {
        let name = if sent {
            "rampart_vrrp_priority_zero_sent_total"
        } else {
            "rampart_vrrp_priority_zero_received_total"
        };
        self.add(name, l1("instance", instance), 1.0);
    }
    /// A received packet dropped; `reason` is a short snake_case token. These map onto
    /// keepalived's stats dump: `length`, `ttl`, `invalid_type`, `advert_interval`,
    /// `addr_list`, `invalid_authtype`, `authtype_mismatch`, `auth_failure`; others
    /// (`checksum`, `version`, `vrid`, ...) are exported as they are.
    pub fn vrrp_dropped(&self, instance: &str, reason: &str) {
        let labels = vec![
            ("instance", instance.to_string()),
            ("reason", reason.to_string()),
        ];
        self.add("rampart_vrrp_dropped_total", labels, 1.0);
    }
    pub fn vrrp_sync_group_state(&self, group: &str, state: VrrpStateName) {
        self.set(
            "rampart_vrrp_sync_group_state",
            l1("group", group),
            state_number(state),
        );
    }

    /// keepalived-style counters of one instance (for the SIGUSR2 stats dump).
    pub fn vrrp_counters(&self, instance: &str) -> VrrpCounters {
        let l = l1("instance", instance);
        let dropped = self.with(|i| {
            i.series
                .get("rampart_vrrp_dropped_total")
                .map(|s| {
                    s.iter()
                        .filter(|(labels, _)| {
                            labels
                                .iter()
                                .any(|(k, v)| *k == "instance" && v == instance)
                        })
                        .filter_map(|(labels, v)| {
                            let reason = labels.iter().find(|(k, _)| *k == "reason")?.1.clone();
                            match v {
                                Value::Num(n) => Some((reason, *n as u64)),
                                Value::Hist(_) => None,
                            }
                        })
                        .collect()
                })
                .unwrap_or_default()
        });
        VrrpCounters {
            adverts_received: self.get("rampart_vrrp_adverts_received_total", &l) as u64,
            adverts_sent: self.get("rampart_vrrp_adverts_sent_total", &l) as u64,
            become_master: self.get("rampart_vrrp_become_master_total", &l) as u64,
            release_master: self.get("rampart_vrrp_release_master_total", &l) as u64,
            priority_zero_received: self.get("rampart_vrrp_priority_zero_received_total", &l)
                as u64,
            priority_zero_sent: self.get("rampart_vrrp_priority_zero_sent_total", &l) as u64,
            dropped,
        }
    }

    // --- checkers and IPVS -------------------------------------------------------------------

    pub fn realserver_up(&self, vs: &Endpoint, rs: &Endpoint, up: bool) {
        self.set(
            "rampart_realserver_up",
            vs_rs(vs, rs),
            if up { 1.0 } else { 0.0 },
        );
    }
    pub fn realserver_weight(&self, vs: &Endpoint, rs: &Endpoint, weight: u32) {
        self.set("rampart_realserver_weight", vs_rs(vs, rs), weight as f64);
    }
    /// One check finished after `seconds`; `ok == false` counts a failure.
    pub fn check_done(&self, vs: &Endpoint, rs: &Endpoint, seconds: f64, ok: bool) {
        let labels = vs_rs(vs, rs);
        if !ok {
            self.add("rampart_check_failures_total", labels.clone(), 1.0);
        }
        self.with(|i| {
            let e = i
                .series
                .entry("rampart_check_duration_seconds")
                .or_default()
                .entry(labels)
                .or_insert_with(|| {
                    Value::Hist(Histogram {
                        counts: vec![0; CHECK_BUCKETS.len()],
                        sum: 0.0,
                        count: 0,
                    })
                });
            if let Value::Hist(h) = e {
                for (slot, bound) in h.counts.iter_mut().zip(CHECK_BUCKETS) {
                    if seconds <= *bound {
                        *slot += 1;
                    }
                }
                h.sum += seconds;
                h.count += 1;
            }
        })
    }
    pub fn virtualserver_quorum(&self, vs: &Endpoint, up: bool) {
        self.set(
            "rampart_virtualserver_quorum_up",
            l1("vs", &fmt_endpoint(vs)),
            if up { 1.0 } else { 0.0 },
        );
    }
    /// Kernel counters of a service (`rs == None`) or of one destination, as read from IPVS.
    pub fn ipvs_stats(&self, vs: &Endpoint, rs: Option<&Endpoint>, s: &IpvsCounters) {
        let labels = match rs {
            Some(rs) => vs_rs(vs, rs),
            None => l1("vs", &fmt_endpoint(vs)),
        };
        self.set(
            "rampart_ipvs_connections_total",
            labels.clone(),
            s.connections as f64,
        );
        self.set(
            "rampart_ipvs_packets_in_total",
            labels.clone(),
            s.packets_in as f64,
        );
        self.set(
            "rampart_ipvs_packets_out_total",
            labels.clone(),
            s.packets_out as f64,
        );
        self.set(
            "rampart_ipvs_bytes_in_total",
            labels.clone(),
            s.bytes_in as f64,
        );
        self.set(
            "rampart_ipvs_bytes_out_total",
            labels.clone(),
            s.bytes_out as f64,
        );
        if rs.is_some() {
            self.set(
                "rampart_ipvs_active_connections",
                labels.clone(),
                s.active_connections as f64,
            );
            self.set(
                "rampart_ipvs_inactive_connections",
                labels,
                s.inactive_connections as f64,
            );
        }
    }

    // --- daemon ----------------------------------------------------------------------------

    pub fn config_reload(&self, ok: bool) {
        let name = if ok {
            "rampart_config_reloads_total"
        } else {
            "rampart_config_reload_failures_total"
        };
        self.add(name, Vec::new(), 1.0);
    }

    pub fn attach_ipvs_ops(&self, counters: Arc<crate::check::sink::IpvsOpCounters>) {
        if let Ok(mut c) = self.ipvs_ops.lock() {
            *c = Some(counters);
        }
    }

    pub fn attach_alert_stats(&self, stats: Arc<AlertStats>) {
        if let Ok(mut a) = self.alerts.lock() {
            *a = Some(stats);
        }
    }

    /// Update the metrics that follow from an event (transitions, states, health, quorum,
    /// reloads). The daemon calls this for every event, in order.
    pub fn observe_event(&self, ev: &Event) {
        match ev {
            Event::VrrpInstance {
                instance,
                from,
                to,
                priority,
                ..
            } => {
                self.vrrp_state(instance, *to);
                self.vrrp_effective_priority(instance, *priority);
                if from != to {
                    self.add(
                        "rampart_vrrp_transitions_total",
                        l1("instance", instance),
                        1.0,
                    );
                    if *to == VrrpStateName::Master {
                        self.add(
                            "rampart_vrrp_become_master_total",
                            l1("instance", instance),
                            1.0,
                        );
                    } else if *from == VrrpStateName::Master {
                        self.add(
                            "rampart_vrrp_release_master_total",
                            l1("instance", instance),
                            1.0,
                        );
                    }
                }
            }
            Event::VrrpSyncGroup { group, to, .. } => self.vrrp_sync_group_state(group, *to),
            Event::RealServer {
                virtual_server,
                real_server,
                up,
                ..
            } => self.realserver_up(virtual_server, real_server, *up),
            Event::Quorum {
                virtual_server,
                gained,
                ..
            } => self.virtualserver_quorum(virtual_server, *gained),
            Event::Reload { ok, .. } => self.config_reload(*ok),
            Event::VrrpPriority {
                instance, priority, ..
            } => self.vrrp_effective_priority(instance, *priority),
            Event::RealServerWeight { .. }
            | Event::RealServerDraining { .. }
            | Event::VrrpMasterRxLowerPri { .. } => {}
        }
    }

    /// The Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(64 * 1024);
        let alerts = self.alerts.lock().ok().and_then(|a| a.clone());
        let ipvs_ops = self.ipvs_ops.lock().ok().and_then(|a| a.clone());
        // Copy under the lock, format outside it: engines updating counters wait for a copy
        // of the maps, never for the formatting of a large scrape.
        let i = &Inner {
            series: self.with(|i| i.series.clone()),
        };
        {
            for (name, kind, help) in FAMILIES {
                let _ = writeln!(out, "# HELP {name} {help}");
                let _ = writeln!(out, "# TYPE {name} {}", kind.as_str());
                match *name {
                    "rampart_build_info" => {
                        let _ = writeln!(
                            out,
                            "{name}{{version=\"{}\"}} 1",
                            escape(env!("CARGO_PKG_VERSION"))
                        );
                        continue;
                    }
                    "rampart_ipvs_operations_total" => {
                        use std::sync::atomic::Ordering::Relaxed;
                        let (ok, failed) = ipvs_ops
                            .as_ref()
                            .map_or((0, 0), |c| (c.ok.load(Relaxed), c.failed.load(Relaxed)));
                        let _ = writeln!(out, "{name}{{result=\"ok\"}} {ok}");
                        let _ = writeln!(out, "{name}{{result=\"failed\"}} {failed}");
                        continue;
                    }
                    "rampart_alerts_sent_total"
                    | "rampart_alerts_failed_total"
                    | "rampart_alerts_retries_total"
                    | "rampart_alerts_queued" => {
                        let v = alerts.as_ref().map_or(0, |a| {
                            let c = match *name {
                                "rampart_alerts_sent_total" => &a.sent,
                                "rampart_alerts_failed_total" => &a.failed,
                                "rampart_alerts_retries_total" => &a.retried,
                                _ => &a.pending,
                            };
                            a.get(c)
                        });
                        let _ = writeln!(out, "{name} {v}");
                        continue;
                    }
                    "rampart_config_reloads_total" | "rampart_config_reload_failures_total" => {
                        let v = match i.series.get(name).and_then(|s| s.get(&Vec::new())) {
                            Some(Value::Num(n)) => *n,
                            _ => 0.0,
                        };
                        let _ = writeln!(out, "{name} {}", num(v));
                        continue;
                    }
                    _ => {}
                }
                let Some(series) = i.series.get(name) else {
                    continue;
                };
                for (labels, v) in series {
                    match v {
                        Value::Num(n) => {
                            let _ = writeln!(out, "{name}{} {}", fmt_labels(labels, None), num(*n));
                        }
                        Value::Hist(h) => {
                            for (bound, c) in CHECK_BUCKETS.iter().zip(&h.counts) {
                                let le = num(*bound);
                                let _ = writeln!(
                                    out,
                                    "{name}_bucket{} {c}",
                                    fmt_labels(labels, Some(&le))
                                );
                            }
                            let _ = writeln!(
                                out,
                                "{name}_bucket{} {}",
                                fmt_labels(labels, Some("+Inf")),
                                h.count
                            );
                            let _ = writeln!(
                                out,
                                "{name}_sum{} {}",
                                fmt_labels(labels, None),
                                num(h.sum)
                            );
                            let _ = writeln!(
                                out,
                                "{name}_count{} {}",
                                fmt_labels(labels, None),
                                h.count
                            );
                        }
                    }
                }
            }
        }
        out
    }
}

/// Kernel IPVS counters of a service or destination.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpvsCounters {
    pub connections: u64,
    pub packets_in: u64,
    pub packets_out: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub active_connections: u64,
    pub inactive_connections: u64,
}

fn num(v: f64) -> String {
    if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// Label values escape backslash, double quote and newline.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn fmt_labels(labels: &Labels, le: Option<&str>) -> String {
    if labels.is_empty() && le.is_none() {
        return String::new();
    }
    let mut parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    if let Some(le) = le {
        parts.push(format!("le=\"{le}\""));
    }
    format!("{{{}}}", parts.join(","))
}

// ------------------------------------------------------------------------------------------
// HTTP endpoint
// ------------------------------------------------------------------------------------------

#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("--metrics-listen {0:?}: expected ADDR:PORT, [IPv6]:PORT or :PORT")]
    BadAddress(String),
    #[error("--metrics-listen {addr}: cannot listen: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// Parse `--metrics-listen`: `ADDR:PORT`, `[IPv6]:PORT`, or `:PORT` (all IPv4 addresses).
pub fn parse_listen(s: &str) -> Result<SocketAddr, MetricsError> {
    if let Some(port) = s.strip_prefix(':') {
        let port: u16 = port
            .parse()
            .map_err(|_| MetricsError::BadAddress(s.into()))?;
        return Ok(SocketAddr::from(([0, 0, 0, 0], port)));
    }
    s.parse().map_err(|_| MetricsError::BadAddress(s.into()))
}

/// A bound metrics endpoint; [`MetricsServer::run`] serves it until `shutdown` turns true.
pub struct MetricsServer {
    listener: tokio::net::TcpListener,
}

impl MetricsServer {
    pub async fn bind(listen: &str) -> Result<MetricsServer, MetricsError> {
        let addr = parse_listen(listen)?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| MetricsError::Bind { addr, source })?;
        Ok(MetricsServer { listener })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub async fn run(
        self,
        metrics: Arc<Metrics>,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        if let Ok(a) = self.listener.local_addr() {
            tracing::info!(target: "metrics", "serving Prometheus metrics on http://{a}/metrics");
        }
        loop {
            let accepted = tokio::select! {
                a = self.listener.accept() => a,
                _ = shutdown.changed() => {
                    if *shutdown.borrow() { return; }
                    continue;
                }
            };
            let (stream, peer) = match accepted {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(target: "metrics", "accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            };
            let metrics = metrics.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let metrics = metrics.clone();
                    async move { Ok::<_, std::convert::Infallible>(respond(&metrics, &req)) }
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                if let Err(e) = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, svc)
                    .await
                {
                    tracing::debug!(target: "metrics", "connection from {peer}: {e}");
                }
            });
        }
    }
}

fn respond<B>(
    metrics: &Metrics,
    req: &hyper::Request<B>,
) -> hyper::Response<http_body_util::Full<bytes::Bytes>> {
    use http_body_util::Full;
    let (status, ctype, body) = match (req.method(), req.uri().path()) {
        (&hyper::Method::GET, "/metrics") | (&hyper::Method::HEAD, "/metrics") => (
            200,
            "text/plain; version=0.0.4; charset=utf-8",
            metrics.render(),
        ),
        (&hyper::Method::GET, "/") => (
            200,
            "text/html; charset=utf-8",
            "<html><body><a href=\"/metrics\">metrics</a></body></html>\n".to_string(),
        ),
        (&hyper::Method::GET, _) => (404, "text/plain", "not found\n".to_string()),
        _ => (405, "text/plain", "method not allowed\n".to_string()),
    };
    hyper::Response::builder()
        .status(status)
        .header("content-type", ctype)
        .body(Full::new(bytes::Bytes::from(body)))
        .unwrap_or_else(|_| hyper::Response::new(Full::new(bytes::Bytes::new())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(addr: &str, port: u16) -> Endpoint {
        Endpoint {
            addr: Some(addr.parse().unwrap()),
            port: Some(port),
            fwmark: None,
            protocol: "tcp",
            group: None,
        }
    }

    #[test]
    fn renders_families_and_series() {
        let m = Metrics::new();
        m.observe_event(&Event::VrrpInstance {
            instance: "VI_1".into(),
            from: VrrpStateName::Backup,
            to: VrrpStateName::Master,
            priority: 150,
            reason: String::new(),
        });
        m.vrrp_dropped("VI_1", "ttl");
        m.vrrp_dropped("VI_1", "ttl");
        m.check_done(&ep("10.0.0.1", 80), &ep("10.0.0.2", 80), 0.003, false);
        let text = m.render();
        assert!(
            text.contains("rampart_vrrp_state{instance=\"VI_1\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("rampart_vrrp_effective_priority{instance=\"VI_1\"} 150\n"));
        assert!(text.contains("rampart_vrrp_transitions_total{instance=\"VI_1\"} 1\n"));
        assert!(text.contains("rampart_vrrp_dropped_total{instance=\"VI_1\",reason=\"ttl\"} 2\n"));
        assert!(text.contains(
            "rampart_check_duration_seconds_bucket{vs=\"[10.0.0.1]:tcp:80\",rs=\"[10.0.0.2]:tcp:80\",le=\"0.005\"} 1\n"
        ));
        assert!(text.contains(
            "rampart_check_duration_seconds_bucket{vs=\"[10.0.0.1]:tcp:80\",rs=\"[10.0.0.2]:tcp:80\",le=\"0.0025\"} 0\n"
        ));
        assert!(text.contains(
            "rampart_check_failures_total{vs=\"[10.0.0.1]:tcp:80\",rs=\"[10.0.0.2]:tcp:80\"} 1\n"
        ));
        assert!(text.contains("rampart_build_info{version=\""));
        assert_eq!(m.vrrp_counters("VI_1").dropped.get("ttl"), Some(&2));
        assert_eq!(m.vrrp_counters("VI_1").become_master, 1);
    }

    #[test]
    fn a_renamed_instance_keeps_its_series() {
        let m = Metrics::new();
        m.observe_event(&Event::VrrpInstance {
            instance: "OLD".into(),
            from: VrrpStateName::Backup,
            to: VrrpStateName::Master,
            priority: 150,
            reason: String::new(),
        });
        m.vrrp_dropped("OLD", "ttl");
        m.relabel("instance", "OLD", "NEW");
        let text = m.render();
        assert!(
            text.contains("rampart_vrrp_state{instance=\"NEW\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("rampart_vrrp_dropped_total{instance=\"NEW\",reason=\"ttl\"} 1\n"));
        assert!(!text.contains("instance=\"OLD\""), "{text}");
    }

    #[test]
    fn escapes_label_values() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn listen_forms() {
        assert_eq!(
            parse_listen("127.0.0.1:9100").unwrap().to_string(),
            "127.0.0.1:9100"
        );
        assert_eq!(
            parse_listen("[::1]:9100").unwrap().to_string(),
            "[::1]:9100"
        );
        assert_eq!(parse_listen(":9100").unwrap().to_string(), "0.0.0.0:9100");
        assert!(parse_listen("localhost").is_err());
    }

    fn unescape(v: &str) -> String {
        let mut out = String::new();
        let mut it = v.chars();
        while let Some(c) = it.next() {
            if c == '\\' {
                match it.next() {
                    Some('n') => out.push('\n'),
                    Some(o) => out.push(o),
                    None => out.push('\\'),
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    proptest::proptest! {
        #[test]
        fn label_values_round_trip(v in "\\PC{0,40}|[\\\\\"\n a-z]{0,20}") {
            let e = escape(&v);
            proptest::prop_assert!(!e.contains('\n'));
            proptest::prop_assert_eq!(unescape(&e), v);
        }
    }
}
