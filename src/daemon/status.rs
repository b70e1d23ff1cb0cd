//! The daemon's status: a snapshot type (served on the control socket as JSON, printed by
//! `rampart status`), the board that keeps it current from events, and keepalived's signal
//! dumps (`SIGUSR1` → `/tmp/keepalived.data`, `SIGUSR2` → `/tmp/keepalived.stats`,
//! `SIGRTMIN+2` → `/tmp/keepalived.json`), written from a snapshot.
//!
//! Event application ([`apply_event`]) and all rendering are pure; only [`StatusBoard`] holds
//! a lock and only the `write_*` functions touch files.

use super::metrics::{Metrics, VrrpCounters};
use crate::alert::fmt_endpoint;
use crate::config::{Config, VirtualServer};
use crate::events::{Endpoint, Event};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// keepalived's dump paths.
pub const KEEPALIVED_DATA_FILE: &str = "/tmp/keepalived.data";
pub const KEEPALIVED_STATS_FILE: &str = "/tmp/keepalived.stats";
pub const KEEPALIVED_JSON_FILE: &str = "/tmp/keepalived.json";

/// The last state change of a thing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    pub from: String,
    pub to: String,
    pub reason: String,
    /// Seconds since the Unix epoch.
    pub at: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceStatus {
    pub name: String,
    pub interface: String,
    pub vrid: u8,
    /// "inet" or "inet6".
    pub family: String,
    pub state: String,
    pub base_priority: u8,
    pub effective_priority: u8,
    pub vips: Vec<String>,
    pub sync_group: Option<String>,
    pub last_transition: Option<Transition>,
    /// Filled from the metrics registry when a snapshot is taken.
    #[serde(default)]
    pub stats: VrrpCounters,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncGroupStatus {
    pub name: String,
    pub state: String,
    pub members: Vec<String>,
    pub last_transition: Option<Transition>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RealServerStatus {
    /// keepalived's format, `[ip]:tcp:port`.
    pub name: String,
    /// "UP", "DOWN", or "UNKNOWN" before the first check result.
    pub state: String,
    pub weight: u32,
    /// The weight in the desired IPVS table (0 when drained by inhibit_on_failure).
    pub effective_weight: Option<u32>,
    pub last_transition: Option<Transition>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VirtualServerStatus {
    /// keepalived's format: `[ip]:tcp:port`, `FWM n` or `[group]:port`.
    pub name: String,
    pub quorum: u32,
    pub hysteresis: u32,
    /// None before the checkers have decided.
    pub quorum_up: Option<bool>,
    pub alive_weight: Option<u64>,
    pub real_servers: Vec<RealServerStatus>,
    pub last_transition: Option<Transition>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StatusSnapshot {
    pub version: String,
    pub pid: u32,
    pub router_id: String,
    pub config_file: Option<String>,
    /// Seconds since the Unix epoch.
    pub started_at: f64,
    pub snapshot_at: f64,
    pub reloads: u64,
    pub last_reload: Option<Transition>,
    pub instances: Vec<InstanceStatus>,
    pub sync_groups: Vec<SyncGroupStatus>,
    pub virtual_servers: Vec<VirtualServerStatus>,
}

pub fn unix_time(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// The event endpoint of a configured virtual server.
pub fn vs_endpoint(vs: &VirtualServer) -> Endpoint {
    Endpoint::of_virtual_server(vs)
}

impl StatusSnapshot {
    /// The initial status of a configuration: every instance INIT, every real server UNKNOWN.
    pub fn from_config(
        cfg: &Config,
        router_id: &str,
        config_file: Option<&Path>,
        now: SystemTime,
    ) -> StatusSnapshot {
        let instances = cfg
            .instances
            .iter()
            .map(|i| InstanceStatus {
                name: i.name.clone(),
                interface: i.interface.clone(),
                vrid: i.virtual_router_id,
                family: match i.family() {
                    crate::config::Family::V4 => "inet".into(),
                    crate::config::Family::V6 => "inet6".into(),
                },
                state: "INIT".into(),
                base_priority: i.priority,
                effective_priority: i.priority,
                vips: i
                    .virtual_ipaddress
                    .iter()
                    .map(|v| format!("{}/{}", v.addr, v.prefix_len))
                    .collect(),
                sync_group: cfg.sync_group_of(&i.name).map(|g| g.name.clone()),
                last_transition: None,
                stats: VrrpCounters::default(),
            })
            .collect();
        let sync_groups = cfg
            .sync_groups
            .iter()
            .map(|g| SyncGroupStatus {
                name: g.name.clone(),
                state: "INIT".into(),
                members: g.members.clone(),
                last_transition: None,
            })
            .collect();
        let virtual_servers = cfg
            .virtual_servers
            .iter()
            .map(|vs| {
                let protocol = vs.protocol.name();
                // keepalived's start: a real server is alive unless `alpha` (its own, else
                // the virtual server's) says to wait for a first successful check.
                let real_servers: Vec<RealServerStatus> = vs
                    .real_servers
                    .iter()
                    .map(|rs| {
                        let alpha = !rs.checkers.is_empty() && rs.alpha.unwrap_or(vs.alpha);
                        RealServerStatus {
                            name: fmt_endpoint(&Endpoint {
                                addr: Some(rs.addr),
                                port: rs.port,
                                fwmark: None,
                                protocol,
                                group: None,
                            }),
                            state: if alpha { "DOWN" } else { "UP" }.into(),
                            weight: rs.weight,
                            effective_weight: None,
                            last_transition: None,
                        }
                    })
                    .collect();
                let alive: u64 = real_servers
                    .iter()
                    .filter(|r| r.state == "UP")
                    .map(|r| r.weight as u64)
                    .sum();
                VirtualServerStatus {
                    name: fmt_endpoint(&vs_endpoint(vs)),
                    quorum: vs.quorum,
                    hysteresis: vs.hysteresis,
                    quorum_up: Some(alive >= vs.quorum as u64 + vs.hysteresis as u64),
                    alive_weight: Some(alive),
                    real_servers,
                    last_transition: None,
                }
            })
            .collect();
        let at = unix_time(now);
        StatusSnapshot {
            version: env!("CARGO_PKG_VERSION").into(),
            pid: std::process::id(),
            router_id: router_id.into(),
            config_file: config_file.map(|p| p.display().to_string()),
            started_at: at,
            snapshot_at: at,
            reloads: 0,
            last_reload: None,
            instances,
            sync_groups,
            virtual_servers,
        }
    }

    /// The status of a new configuration after a reload: things that kept their name keep
    /// their state and history; new ones start fresh.
    pub fn reconfigured(
        &self,
        cfg: &Config,
        router_id: &str,
        config_file: Option<&Path>,
        now: SystemTime,
    ) -> StatusSnapshot {
        let mut new = StatusSnapshot::from_config(cfg, router_id, config_file, now);
        new.started_at = self.started_at;
        new.reloads = self.reloads;
        new.last_reload = self.last_reload.clone();
        for i in &mut new.instances {
            // A renamed instance (same VRID, family and interface, its old name gone) keeps
            // its state as the VRRP engine does.
            let renamed_from = || {
                self.instances.iter().find(|o| {
                    (o.vrid, &o.family, &o.interface) == (i.vrid, &i.family, &i.interface)
                        && cfg.instance(&o.name).is_none()
                })
            };
            let same_name = self.instances.iter().find(|o| o.name == i.name);
            if let Some(old) = same_name.or_else(renamed_from) {
                i.state = old.state.clone();
                i.effective_priority = old.effective_priority;
                i.last_transition = old.last_transition.clone();
            }
        }
        for g in &mut new.sync_groups {
            if let Some(old) = self.sync_groups.iter().find(|o| o.name == g.name) {
                g.state = old.state.clone();
                g.last_transition = old.last_transition.clone();
            }
        }
        for vs in &mut new.virtual_servers {
            let Some(old) = self.virtual_servers.iter().find(|o| o.name == vs.name) else {
                continue;
            };
            vs.quorum_up = old.quorum_up;
            vs.alive_weight = old.alive_weight;
            vs.last_transition = old.last_transition.clone();
            for rs in &mut vs.real_servers {
                if let Some(o) = old.real_servers.iter().find(|o| o.name == rs.name) {
                    rs.state = o.state.clone();
                    rs.effective_weight = o.effective_weight;
                    rs.last_transition = o.last_transition.clone();
                }
            }
        }
        new
    }
}

/// The state of a real server removed by a reload while it drains at weight 0.
pub const DRAINING: &str = "DRAINING";

/// Apply one event to a snapshot. Events about things the snapshot does not know (not in the
/// configuration) are added, so that nothing an engine reports is invisible.
pub fn apply_event(s: &mut StatusSnapshot, ev: &Event, at: f64) {
    match ev {
        Event::VrrpInstance {
            instance,
            from,
            to,
            priority,
            reason,
        } => {
            let idx = match s.instances.iter().position(|i| &i.name == instance) {
                Some(i) => i,
                None => {
                    s.instances.push(InstanceStatus {
                        name: instance.clone(),
                        interface: String::new(),
                        vrid: 0,
                        family: String::new(),
                        state: from.as_str().into(),
                        base_priority: *priority,
                        effective_priority: *priority,
                        vips: Vec::new(),
                        sync_group: None,
                        last_transition: None,
                        stats: VrrpCounters::default(),
                    });
                    s.instances.len() - 1
                }
            };
            let i = &mut s.instances[idx];
            i.effective_priority = *priority;
            if from != to || i.state != to.as_str() {
                i.last_transition = Some(Transition {
                    from: from.as_str().into(),
                    to: to.as_str().into(),
                    reason: reason.clone(),
                    at,
                });
            }
            i.state = to.as_str().into();
        }
        Event::VrrpPriority {
            instance, priority, ..
        } => {
            if let Some(i) = s.instances.iter_mut().find(|i| &i.name == instance) {
                i.effective_priority = *priority;
            }
        }
        Event::VrrpSyncGroup {
            group,
            from,
            to,
            reason,
        } => {
            let idx = match s.sync_groups.iter().position(|g| &g.name == group) {
                Some(i) => i,
                None => {
                    s.sync_groups.push(SyncGroupStatus {
                        name: group.clone(),
                        state: from.as_str().into(),
                        members: Vec::new(),
                        last_transition: None,
                    });
                    s.sync_groups.len() - 1
                }
            };
            let g = &mut s.sync_groups[idx];
            g.last_transition = Some(Transition {
                from: from.as_str().into(),
                to: to.as_str().into(),
                reason: reason.clone(),
                at,
            });
            g.state = to.as_str().into();
        }
        Event::RealServer {
            virtual_server,
            real_server,
            up,
            reason,
        } => {
            let vs = vs_entry(s, virtual_server);
            let name = fmt_endpoint(real_server);
            let idx = match vs.real_servers.iter().position(|r| r.name == name) {
                Some(i) => i,
                None => {
                    vs.real_servers.push(RealServerStatus {
                        name,
                        state: "UNKNOWN".into(),
                        weight: 0,
                        effective_weight: None,
                        last_transition: None,
                    });
                    vs.real_servers.len() - 1
                }
            };
            let rs = &mut vs.real_servers[idx];
            let to = if *up { "UP" } else { "DOWN" };
            rs.last_transition = Some(Transition {
                from: rs.state.clone(),
                to: to.into(),
                reason: reason.clone(),
                at,
            });
            rs.state = to.into();
        }
        Event::Quorum {
            virtual_server,
            gained,
            alive_weight,
            ..
        } => {
            let vs = vs_entry(s, virtual_server);
            let from = match vs.quorum_up {
                Some(true) => "UP",
                Some(false) => "DOWN",
                None => "UNKNOWN",
            };
            let to = if *gained { "UP" } else { "DOWN" };
            vs.last_transition = Some(Transition {
                from: from.into(),
                to: to.into(),
                reason: if *gained {
                    "quorum gained"
                } else {
                    "quorum lost"
                }
                .into(),
                at,
            });
            vs.quorum_up = Some(*gained);
            vs.alive_weight = Some(*alive_weight);
        }
        Event::RealServerWeight {
            virtual_server,
            real_server,
            weight,
        } => {
            let name = fmt_endpoint(real_server);
            let vs = vs_entry(s, virtual_server);
            if let Some(r) = vs.real_servers.iter_mut().find(|r| r.name == name) {
                r.effective_weight = *weight;
            }
        }
        Event::Reload { ok, detail } => {
            if *ok {
                s.reloads += 1;
            }
            s.last_reload = Some(Transition {
                from: String::new(),
                to: if *ok { "applied" } else { "refused" }.into(),
                reason: detail.clone(),
                at,
            });
        }
        // Not a state: the instance stays MASTER.
        Event::VrrpMasterRxLowerPri { .. } => {}
        // A real server a reload removed: shown as DRAINING (weight 0 in IPVS) until deleted.
        Event::RealServerDraining {
            virtual_server,
            real_server,
            weight,
            draining,
            reason,
        } => {
            let name = fmt_endpoint(real_server);
            let vs = vs_entry(s, virtual_server);
            let existing = vs.real_servers.iter().position(|r| r.name == name);
            if !*draining {
                // Only the draining row goes: a real server put back is a configured one.
                if let Some(i) = existing.filter(|i| vs.real_servers[*i].state == DRAINING) {
                    vs.real_servers.remove(i);
                }
                return;
            }
            let idx = match existing {
                Some(i) => i,
                None => {
                    vs.real_servers.push(RealServerStatus {
                        name,
                        state: DRAINING.into(),
                        weight: *weight,
                        effective_weight: Some(0),
                        last_transition: None,
                    });
                    vs.real_servers.len() - 1
                }
            };
            let rs = &mut vs.real_servers[idx];
            let from = std::mem::replace(&mut rs.state, DRAINING.into());
            rs.effective_weight = Some(0);
            rs.last_transition = Some(Transition {
                from: if from == DRAINING {
                    String::new()
                } else {
                    from
                },
                to: DRAINING.into(),
                reason: reason.clone(),
                at,
            });
        }
    }
}

fn vs_entry<'a>(s: &'a mut StatusSnapshot, ep: &Endpoint) -> &'a mut VirtualServerStatus {
    let name = fmt_endpoint(ep);
    let idx = match s.virtual_servers.iter().position(|v| v.name == name) {
        Some(i) => i,
        None => {
            s.virtual_servers.push(VirtualServerStatus {
                name,
                quorum: 1,
                hysteresis: 0,
                quorum_up: None,
                alive_weight: None,
                real_servers: Vec::new(),
                last_transition: None,
            });
            s.virtual_servers.len() - 1
        }
    };
    &mut s.virtual_servers[idx]
}

/// The live status, shared between the event consumer, the control socket and the dumps.
pub struct StatusBoard {
    inner: Mutex<StatusSnapshot>,
}

impl StatusBoard {
    pub fn new(initial: StatusSnapshot) -> StatusBoard {
        StatusBoard {
            inner: Mutex::new(initial),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut StatusSnapshot) -> R) -> R {
        match self.inner.lock() {
            Ok(mut g) => f(&mut g),
            Err(p) => f(&mut p.into_inner()),
        }
    }

    pub fn apply(&self, ev: &Event) {
        let at = unix_time(SystemTime::now());
        self.with(|s| apply_event(s, ev, at));
    }

    /// After a reload: keep the state of what persists, add and drop the rest.
    pub fn reconfigure(&self, cfg: &Config, router_id: &str, config_file: Option<&Path>) {
        self.with(|s| *s = s.reconfigured(cfg, router_id, config_file, SystemTime::now()));
    }

    /// A priority change that is not a transition (tracking).
    pub fn set_effective_priority(&self, instance: &str, priority: u8) {
        self.with(|s| {
            if let Some(i) = s.instances.iter_mut().find(|i| i.name == instance) {
                i.effective_priority = priority;
            }
        });
    }

    /// The weight a real server has in the desired IPVS table.
    pub fn set_effective_weight(&self, vs: &Endpoint, rs: &Endpoint, weight: u32) {
        let rs_name = fmt_endpoint(rs);
        self.with(|s| {
            let v = vs_entry(s, vs);
            if let Some(r) = v.real_servers.iter_mut().find(|r| r.name == rs_name) {
                r.effective_weight = Some(weight);
            }
        });
    }

    /// A copy of the status, with VRRP counters from `metrics` when given.
    pub fn snapshot(&self, metrics: Option<&Metrics>) -> StatusSnapshot {
        let mut s = self.with(|s| s.clone());
        s.snapshot_at = unix_time(SystemTime::now());
        if let Some(m) = metrics {
            for i in &mut s.instances {
                i.stats = m.vrrp_counters(&i.name);
            }
        }
        s
    }
}

// ------------------------------------------------------------------------------------------
// Rendering
// ------------------------------------------------------------------------------------------

/// "3m12s ago" style age of a timestamp.
pub fn age(at: f64, now: f64) -> String {
    let secs = (now - at).max(0.0) as u64;
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d{h}h ago")
    } else if h > 0 {
        format!("{h}h{m}m ago")
    } else if m > 0 {
        format!("{m}m{s}s ago")
    } else {
        format!("{s}s ago")
    }
}

fn last(t: &Option<Transition>, now: f64) -> String {
    match t {
        None => "-".into(),
        Some(t) => {
            let mut out = format!(
                "{}->{} {}",
                if t.from.is_empty() { "?" } else { &t.from },
                t.to,
                age(t.at, now)
            );
            if !t.reason.is_empty() {
                let _ = write!(out, " ({})", t.reason);
            }
            out
        }
    }
}

/// Left-aligned columns, two spaces apart.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<&str>, out: &mut String| {
        let n = cells.len();
        for (k, (c, w)) in cells.iter().zip(&widths).enumerate() {
            if k + 1 == n {
                out.push_str(c);
            } else {
                let _ = write!(out, "{c:<w$}  ");
            }
        }
        out.push('\n');
    };
    line(header.to_vec(), &mut out);
    for r in rows {
        line(r.iter().map(String::as_str).collect(), &mut out);
    }
    out
}

/// The human table `rampart status` prints.
pub fn render_table(s: &StatusSnapshot) -> String {
    let now = s.snapshot_at;
    let mut out = format!(
        "rampart {} (pid {}), router_id {}, up {}, config {}, {} reload(s)\n",
        s.version,
        s.pid,
        s.router_id,
        age(s.started_at, now).trim_end_matches(" ago"),
        s.config_file.as_deref().unwrap_or("-"),
        s.reloads
    );
    if let Some(r) = &s.last_reload {
        let _ = writeln!(
            out,
            "last reload: {} {}{}",
            r.to,
            age(r.at, now),
            if r.reason.is_empty() {
                String::new()
            } else {
                format!(": {}", r.reason)
            }
        );
    }
    if !s.instances.is_empty() {
        out.push_str("\nVRRP instances\n");
        let rows: Vec<Vec<String>> = s
            .instances
            .iter()
            .map(|i| {
                vec![
                    i.name.clone(),
                    i.state.clone(),
                    format!("{}/{}", i.effective_priority, i.base_priority),
                    i.interface.clone(),
                    i.vrid.to_string(),
                    i.sync_group.clone().unwrap_or_else(|| "-".into()),
                    i.vips.join(","),
                    last(&i.last_transition, now),
                ]
            })
            .collect();
        out.push_str(&table(
            &[
                "INSTANCE",
                "STATE",
                "PRIO(EFF/BASE)",
                "IFACE",
                "VRID",
                "GROUP",
                "VIPS",
                "LAST TRANSITION",
            ],
            &rows,
        ));
    }
    if !s.sync_groups.is_empty() {
        out.push_str("\nSync groups\n");
        let rows: Vec<Vec<String>> = s
            .sync_groups
            .iter()
            .map(|g| {
                vec![
                    g.name.clone(),
                    g.state.clone(),
                    g.members.join(","),
                    last(&g.last_transition, now),
                ]
            })
            .collect();
        out.push_str(&table(
            &["GROUP", "STATE", "MEMBERS", "LAST TRANSITION"],
            &rows,
        ));
    }
    if !s.virtual_servers.is_empty() {
        out.push_str("\nVirtual servers\n");
        let mut rows = Vec::new();
        for vs in &s.virtual_servers {
            let q = match vs.quorum_up {
                Some(true) => "UP",
                Some(false) => "DOWN",
                None => "UNKNOWN",
            };
            rows.push(vec![
                vs.name.clone(),
                format!("quorum {q}"),
                format!(
                    "alive {} of quorum {}",
                    vs.alive_weight
                        .map(|w| w.to_string())
                        .unwrap_or_else(|| "-".into()),
                    vs.quorum
                ),
                last(&vs.last_transition, now),
            ]);
            for rs in &vs.real_servers {
                let weight = match rs.effective_weight {
                    Some(e) if e != rs.weight => format!("{e} (configured {})", rs.weight),
                    // Down and not in the table (removed, no inhibit_on_failure).
                    None if rs.state == "DOWN" => format!("- (configured {})", rs.weight),
                    _ => rs.weight.to_string(),
                };
                rows.push(vec![
                    format!("  -> {}", rs.name),
                    rs.state.clone(),
                    weight,
                    last(&rs.last_transition, now),
                ]);
            }
        }
        out.push_str(&table(
            &["SERVER", "STATE", "WEIGHT", "LAST TRANSITION"],
            &rows,
        ));
    }
    out
}

fn state_number(state: &str) -> u32 {
    // keepalived's VRRP_STATE_* numbers.
    match state {
        "BACKUP" => 1,
        "MASTER" => 2,
        "FAULT" => 3,
        "STOP" => 98,
        _ => 0,
    }
}

/// keepalived's `/tmp/keepalived.data` (SIGUSR1), in its section layout.
pub fn render_data_dump(s: &StatusSnapshot) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "------< Global definitions >------");
    let _ = writeln!(o, " Router ID = {}", s.router_id);
    let _ = writeln!(o, " rampart version = {}", s.version);
    let _ = writeln!(
        o,
        " Configuration file = {}",
        s.config_file.as_deref().unwrap_or("-")
    );
    let _ = writeln!(o, " Reloads = {}", s.reloads);
    if !s.instances.is_empty() {
        let _ = writeln!(o, "------< VRRP Topology >------");
        for i in &s.instances {
            let _ = writeln!(o, " VRRP Instance = {}", i.name);
            let _ = writeln!(o, "   State = {}", i.state);
            if let Some(t) = &i.last_transition {
                let _ = writeln!(
                    o,
                    "   Last transition = {:.6} ({} -> {}: {})",
                    t.at, t.from, t.to, t.reason
                );
            }
            let _ = writeln!(o, "   Interface = {}", i.interface);
            let _ = writeln!(o, "   Virtual Router ID = {}", i.vrid);
            let _ = writeln!(o, "   Priority = {}", i.base_priority);
            let _ = writeln!(o, "   Effective priority = {}", i.effective_priority);
            if let Some(g) = &i.sync_group {
                let _ = writeln!(o, "   Sync group = {g}");
            }
            let _ = writeln!(o, "   Virtual IP ({}):", i.vips.len());
            for v in &i.vips {
                let _ = writeln!(o, "     {v}");
            }
        }
    }
    if !s.sync_groups.is_empty() {
        let _ = writeln!(o, "------< VRRP Sync groups >------");
        for g in &s.sync_groups {
            let _ = writeln!(o, " VRRP Sync Group = {}, {}", g.name, g.state);
            for m in &g.members {
                let _ = writeln!(o, "   monitor = {m}");
            }
        }
    }
    if !s.virtual_servers.is_empty() {
        let _ = writeln!(o, "------< LVS Topology >------");
        for vs in &s.virtual_servers {
            let _ = writeln!(o, " VIP = {}", vs.name);
            let _ = writeln!(
                o,
                "   quorum = {}, hysteresis = {}",
                vs.quorum, vs.hysteresis
            );
            let _ = writeln!(
                o,
                "   Quorum state = {}",
                match vs.quorum_up {
                    Some(true) => "UP",
                    Some(false) => "DOWN",
                    None => "UNKNOWN",
                }
            );
            for rs in &vs.real_servers {
                let _ = writeln!(o, "   RIP = {}", rs.name);
                let _ = writeln!(o, "     Alive = {}", rs.state);
                let _ = writeln!(o, "     Weight = {}", rs.weight);
                if let Some(w) = rs.effective_weight {
                    let _ = writeln!(o, "     Effective weight = {w}");
                }
            }
        }
    }
    o
}

/// keepalived's `/tmp/keepalived.stats` (SIGUSR2), same layout and wording.
pub fn render_stats_dump(s: &StatusSnapshot) -> String {
    let mut o = String::new();
    for i in &s.instances {
        let st = &i.stats;
        let d = |k: &str| st.dropped.get(k).copied().unwrap_or(0);
        let _ = writeln!(o, "VRRP Instance: {}", i.name);
        let _ = writeln!(o, "  Advertisements:");
        let _ = writeln!(o, "    Received: {}", st.adverts_received);
        let _ = writeln!(o, "    Sent: {}", st.adverts_sent);
        let _ = writeln!(o, "  Became master: {}", st.become_master);
        let _ = writeln!(o, "  Released master: {}", st.release_master);
        let _ = writeln!(o, "  Packet Errors:");
        let _ = writeln!(o, "    Length: {}", d("length"));
        let _ = writeln!(o, "    TTL: {}", d("ttl"));
        let _ = writeln!(o, "    Invalid Type: {}", d("invalid_type"));
        let _ = writeln!(o, "    Advertisement Interval: {}", d("advert_interval"));
        let _ = writeln!(o, "    Address List: {}", d("addr_list"));
        let _ = writeln!(o, "  Authentication Errors:");
        let _ = writeln!(o, "    Invalid Type: {}", d("invalid_authtype"));
        let _ = writeln!(o, "    Type Mismatch: {}", d("authtype_mismatch"));
        let _ = writeln!(o, "    Failure: {}", d("auth_failure"));
        let _ = writeln!(o, "  Priority Zero:");
        let _ = writeln!(o, "    Received: {}", st.priority_zero_received);
        let _ = writeln!(o, "    Sent: {}", st.priority_zero_sent);
    }
    o
}

/// keepalived's `/tmp/keepalived.json` (SIGRTMIN+2): an array of `{"data": ..., "stats": ...}`
/// per instance with keepalived's field names (the subset rampart knows).
pub fn render_json_dump(s: &StatusSnapshot) -> serde_json::Value {
    let items: Vec<serde_json::Value> = s
        .instances
        .iter()
        .map(|i| {
            let st = &i.stats;
            let d = |k: &str| st.dropped.get(k).copied().unwrap_or(0);
            serde_json::json!({
                "data": {
                    "iname": i.name,
                    "ifp_ifname": i.interface,
                    "last_transition": i.last_transition.as_ref().map(|t| t.at).unwrap_or(0.0),
                    "vrid": i.vrid,
                    "base_priority": i.base_priority,
                    "effective_priority": i.effective_priority,
                    "vipset": i.state == "MASTER",
                    "state": state_number(&i.state),
                    "wantstate": state_number(&i.state),
                    "vips": i.vips,
                },
                "stats": {
                    "advert_rcvd": st.adverts_received,
                    "advert_sent": st.adverts_sent,
                    "become_master": st.become_master,
                    "release_master": st.release_master,
                    "packet_len_err": d("length"),
                    "advert_interval_err": d("advert_interval"),
                    "ip_ttl_err": d("ttl"),
                    "invalid_type_rcvd": d("invalid_type"),
                    "addr_list_err": d("addr_list"),
                    "invalid_authtype": d("invalid_authtype"),
                    "authtype_mismatch": d("authtype_mismatch"),
                    "auth_failure": d("auth_failure"),
                    "pri_zero_rcvd": st.priority_zero_received,
                    "pri_zero_sent": st.priority_zero_sent,
                }
            })
        })
        .collect();
    serde_json::Value::Array(items)
}

/// Write a dump atomically (temporary file + rename) with mode 0644, as keepalived's files are
/// world-readable.
fn write_file(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// SIGUSR1: the data dump.
pub fn write_data_dump(s: &StatusSnapshot, path: &Path) -> std::io::Result<()> {
    write_file(path, &render_data_dump(s))
}

/// SIGUSR2: the stats dump.
pub fn write_stats_dump(s: &StatusSnapshot, path: &Path) -> std::io::Result<()> {
    write_file(path, &render_stats_dump(s))
}

/// SIGRTMIN+2: the JSON dump.
pub fn write_json_dump(s: &StatusSnapshot, path: &Path) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(&render_json_dump(s)).unwrap_or_else(|_| "[]".into());
    write_file(path, &(text + "\n"))
}

/// keepalived's signal dumps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DumpKind {
    /// SIGUSR1 → /tmp/keepalived.data
    Data,
    /// SIGUSR2 → /tmp/keepalived.stats
    Stats,
    /// SIGRTMIN+2 → /tmp/keepalived.json
    Json,
}

impl DumpKind {
    pub fn path(self) -> &'static Path {
        Path::new(match self {
            DumpKind::Data => KEEPALIVED_DATA_FILE,
            DumpKind::Stats => KEEPALIVED_STATS_FILE,
            DumpKind::Json => KEEPALIVED_JSON_FILE,
        })
    }
}

/// Write one of keepalived's dumps to its usual path, logging the outcome (for the signal
/// handlers).
pub fn write_dump(kind: DumpKind, s: &StatusSnapshot) {
    write_dump_in(kind, s, Path::new("/tmp"));
}

/// Write a dump under `dir` with keepalived's file name (`keepalived.data`, ...).
pub fn write_dump_in(kind: DumpKind, s: &StatusSnapshot, dir: &Path) {
    let path = &dir.join(kind.path().file_name().unwrap_or_default());
    let res = match kind {
        DumpKind::Data => write_data_dump(s, path),
        DumpKind::Stats => write_stats_dump(s, path),
        DumpKind::Json => write_json_dump(s, path),
    };
    match res {
        Ok(()) => tracing::info!(target: "status", "wrote {}", path.display()),
        Err(e) => tracing::error!(target: "status", "cannot write {}: {e}", path.display()),
    }
}

/// Install the handlers for keepalived's dump signals (SIGUSR1 data, SIGUSR2 stats,
/// SIGRTMIN+2 JSON) and serve them until `shutdown` turns true; dumps go to `dir` (`/tmp`
/// as keepalived). Fails only when a handler cannot be installed.
pub fn spawn_dump_signals(
    board: std::sync::Arc<StatusBoard>,
    metrics: Option<std::sync::Arc<Metrics>>,
    dir: std::path::PathBuf,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut usr1 = signal(SignalKind::user_defined1())?;
    let mut usr2 = signal(SignalKind::user_defined2())?;
    let mut json = signal(SignalKind::from_raw(libc::SIGRTMIN() + 2))?;
    Ok(tokio::spawn(async move {
        loop {
            let kind = tokio::select! {
                _ = usr1.recv() => DumpKind::Data,
                _ = usr2.recv() => DumpKind::Stats,
                _ = json.recv() => DumpKind::Json,
                _ = shutdown.changed() => {
                    if *shutdown.borrow() { return; }
                    continue;
                }
            };
            let snap = board.snapshot(metrics.as_deref());
            write_dump_in(kind, &snap, &dir);
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::VrrpStateName;

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
    fn events_update_the_snapshot() {
        let mut s = StatusSnapshot::default();
        apply_event(
            &mut s,
            &Event::VrrpInstance {
                instance: "VI_1".into(),
                from: VrrpStateName::Backup,
                to: VrrpStateName::Master,
                priority: 110,
                reason: "master down timer".into(),
            },
            100.0,
        );
        apply_event(
            &mut s,
            &Event::RealServer {
                virtual_server: ep("10.0.0.1", 80),
                real_server: ep("10.0.0.2", 80),
                up: false,
                reason: "timeout".into(),
            },
            101.0,
        );
        apply_event(
            &mut s,
            &Event::Quorum {
                virtual_server: ep("10.0.0.1", 80),
                gained: false,
                alive_weight: 0,
                quorum: 1,
            },
            102.0,
        );
        assert_eq!(s.instances[0].state, "MASTER");
        assert_eq!(s.instances[0].effective_priority, 110);
        assert_eq!(
            s.instances[0].last_transition.as_ref().unwrap().reason,
            "master down timer"
        );
        let vs = &s.virtual_servers[0];
        assert_eq!(vs.name, "[10.0.0.1]:tcp:80");
        assert_eq!(vs.quorum_up, Some(false));
        assert_eq!(vs.real_servers[0].state, "DOWN");
        assert_eq!(
            vs.real_servers[0].last_transition.as_ref().unwrap().from,
            "UNKNOWN"
        );
        s.snapshot_at = 160.0;
        let t = render_table(&s);
        assert!(t.contains("VI_1"), "{t}");
        assert!(
            t.contains("BACKUP->MASTER 1m0s ago (master down timer)"),
            "{t}"
        );
        assert!(t.contains("  -> [10.0.0.2]:tcp:80"), "{t}");
    }

    #[test]
    fn a_draining_real_server_is_shown_until_deleted() {
        let cfg = crate::config::load_str(
            "t.conf",
            "virtual_server 10.0.0.1 80 {\n  protocol TCP\n  real_server 10.0.0.2 80 {\n    weight 2\n  }\n}\n",
            &crate::config::LoadOptions { config_id: None },
        )
        .unwrap()
        .config;
        let mut s = StatusSnapshot::from_config(&cfg, "lb", None, UNIX_EPOCH);
        let vs = vs_endpoint(&cfg.virtual_servers[0]);
        let ev = |draining| Event::RealServerDraining {
            virtual_server: vs.clone(),
            real_server: ep("10.0.0.3", 80),
            weight: 5,
            draining,
            reason: "removed from the configuration: weight 0, deleted in 6s".into(),
        };
        apply_event(&mut s, &ev(true), 10.0);
        let rss = &s.virtual_servers[0].real_servers;
        assert_eq!(rss.len(), 2);
        assert_eq!(rss[1].state, DRAINING);
        assert_eq!((rss[1].weight, rss[1].effective_weight), (5, Some(0)));
        s.snapshot_at = 12.0;
        let table = render_table(&s);
        let row = table
            .lines()
            .find(|l| l.contains("[10.0.0.3]:tcp:80"))
            .unwrap();
        assert!(row.contains("DRAINING"), "{row}");
        assert!(row.contains("0 (configured 5)"), "{row}");
        assert!(row.contains("deleted in 6s"), "{row}");
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(
            json["virtual_servers"][0]["real_servers"][1]["state"],
            "DRAINING"
        );
        // The drain is over: the row goes, the configured server stays.
        apply_event(&mut s, &ev(false), 13.0);
        let rss = &s.virtual_servers[0].real_servers;
        assert_eq!(rss.len(), 1);
        assert_eq!(rss[0].name, "[10.0.0.2]:tcp:80");
    }

    #[test]
    fn stats_dump_wording() {
        let mut s = StatusSnapshot::default();
        apply_event(
            &mut s,
            &Event::VrrpInstance {
                instance: "VI_1".into(),
                from: VrrpStateName::Init,
                to: VrrpStateName::Backup,
                priority: 100,
                reason: String::new(),
            },
            1.0,
        );
        s.instances[0].stats.adverts_received = 7;
        s.instances[0].stats.dropped.insert("ttl".into(), 2);
        let d = render_stats_dump(&s);
        assert!(
            d.starts_with("VRRP Instance: VI_1\n  Advertisements:\n    Received: 7\n    Sent: 0\n"),
            "{d}"
        );
        assert!(d.contains("    TTL: 2\n"));
        let j = render_json_dump(&s);
        assert_eq!(j[0]["data"]["iname"], "VI_1");
        assert_eq!(j[0]["data"]["state"], 1);
        assert_eq!(j[0]["stats"]["ip_ttl_err"], 2);
    }

    #[test]
    fn age_formats() {
        assert_eq!(age(0.0, 5.0), "5s ago");
        assert_eq!(age(0.0, 3700.0), "1h1m ago");
        assert_eq!(age(0.0, 90000.0), "1d1h ago");
    }
}
