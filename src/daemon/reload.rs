//! Reload planning: what changes between the running configuration and a new one.
//!
//! A reload is applied as a diff so that nothing unchanged is disturbed. VRRP instances are
//! matched by (virtual_router_id, family, interface) — not by name — because that triple is
//! what peers on the wire know the router by: a renamed instance with the same triple keeps
//! its state (no pass through BACKUP, no GARP burst, no notify). Virtual servers are matched by
//! their key, real servers by address and port.
//!
//! This module is pure: it compares two [`Config`]s and describes the changes. The daemon
//! turns the plan into engine inputs; `rampart reload --plan` prints it.

use crate::config::model::{Config, Family, VirtualIp, VrrpInstance, VsKey};
use crate::events::{Endpoint, Event};
use crate::ipvs::reconcile::{IpvsOp, reconcile};
use crate::ipvs::table::{DesiredTable, DestKey, DestSettings, ServiceKey};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// How the wire identifies a virtual router.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct RouterKey {
    pub vrid: u8,
    pub family: Family,
    pub interface: String,
}

impl RouterKey {
    pub fn of(i: &VrrpInstance) -> RouterKey {
        RouterKey {
            vrid: i.virtual_router_id,
            family: i.family(),
            interface: i.interface.clone(),
        }
    }
}

impl fmt::Display for RouterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fam = match self.family {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        };
        write!(f, "VRID {} {} on {}", self.vrid, fam, self.interface)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum InstanceChange {
    /// A new virtual router: starts in INIT like at daemon start.
    Added { name: String, key: RouterKey },
    /// The virtual router is gone: it sends priority 0 if MASTER and releases its VIPs.
    Removed { name: String, key: RouterKey },
    /// Same virtual router; its state is kept. Lists what changes underneath it.
    Kept {
        old_name: String,
        name: String,
        key: RouterKey,
        vips_added: Vec<String>,
        vips_removed: Vec<String>,
        /// Settings that changed (priority, advert_int, ...), as "field: old -> new".
        settings: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum RealServerChange {
    Added {
        vs: String,
        rs: String,
    },
    /// With inhibit_on_failure the real server is drained (weight 0) before removal.
    Removed {
        vs: String,
        rs: String,
        drain_first: bool,
    },
    /// Settings changed; health state is kept.
    Changed {
        vs: String,
        rs: String,
        settings: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum VirtualServerChange {
    Added { vs: String },
    Removed { vs: String },
    Changed { vs: String, settings: Vec<String> },
}

/// Everything a reload would change. Empty means the reload is a no-op.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReloadPlan {
    pub instances: Vec<InstanceChange>,
    pub virtual_servers: Vec<VirtualServerChange>,
    pub real_servers: Vec<RealServerChange>,
    /// global_defs settings that change, as "field: old -> new" (alerts, fifos, the sync
    /// daemon and router_id take them at once).
    pub global: Vec<String>,
    /// The kernel operations the checker engine would send (empty when it does not run).
    pub ipvs: IpvsPlan,
}

impl ReloadPlan {
    pub fn is_empty(&self) -> bool {
        self.ipvs.now.is_empty() && self.ipvs.after_drain.is_empty() && self.config_unchanged()
    }

    /// No difference between the configurations (IPVS operations aside).
    fn config_unchanged(&self) -> bool {
        self.global.is_empty() && self.objects_unchanged()
    }

    fn objects_unchanged(&self) -> bool {
        self.instances
            .iter()
            .all(|c| matches!(c, InstanceChange::Kept { vips_added, vips_removed, settings, old_name, name, .. }
                if vips_added.is_empty() && vips_removed.is_empty() && settings.is_empty() && old_name == name))
            && self.virtual_servers.is_empty()
            && self.real_servers.is_empty()
    }
}

/// The text form of a VIP for plans and logs: `ADDR/LEN dev IF`.
fn vip_text(v: &VirtualIp, default_dev: &str) -> String {
    format!(
        "{}/{} dev {}",
        v.addr,
        v.prefix_len,
        v.dev.as_deref().unwrap_or(default_dev)
    )
}

/// A stable textual key for a virtual server, as keepalived prints it in logs.
pub fn vs_text(key: &VsKey, protocol: crate::config::model::Protocol) -> String {
    let proto = match protocol {
        crate::config::model::Protocol::Tcp => "tcp",
        crate::config::model::Protocol::Udp => "udp",
        crate::config::model::Protocol::Sctp => "sctp",
    };
    match key {
        VsKey::Addr { addr, port } => format!("[{addr}]:{proto}:{port}"),
        VsKey::Fwmark(m) => format!("FWM {m}"),
        VsKey::Group(g) => format!("group {g}"),
    }
}

fn rs_text(addr: &IpAddr, port: Option<u16>) -> String {
    match port {
        Some(p) => format!("[{addr}]:{p}"),
        None => format!("[{addr}]"),
    }
}

/// Compare one field, recording "name: old -> new" when it differs (where in the file it is
/// written does not count: moving a block is no change).
macro_rules! cmp_field {
    ($out:ident, $old:expr, $new:expr, $name:literal) => {
        if !crate::config::model::same_ignoring_spans(&$old, &$new) {
            $out.push(describe_change($name, &$old, &$new));
        }
    };
}

/// "name: old -> new" for short values, "name changed" for structures too long for a line.
fn describe_change<T: fmt::Debug>(name: &str, old: &T, new: &T) -> String {
    let (o, n) = (format!("{old:?}"), format!("{new:?}"));
    if o.len() + n.len() <= 100 && !o.contains("Span") {
        format!("{name}: {o} -> {n}")
    } else {
        format!("{name} changed")
    }
}

fn instance_settings(o: &VrrpInstance, n: &VrrpInstance) -> Vec<String> {
    let mut s = Vec::new();
    cmp_field!(s, o.priority, n.priority, "priority");
    cmp_field!(s, o.advert_int, n.advert_int, "advert_int");
    cmp_field!(s, o.version, n.version, "version");
    cmp_field!(s, o.nopreempt, n.nopreempt, "nopreempt");
    cmp_field!(s, o.preempt_delay, n.preempt_delay, "preempt_delay");
    cmp_field!(s, o.authentication, n.authentication, "authentication");
    cmp_field!(s, o.track_interface, n.track_interface, "track_interface");
    cmp_field!(s, o.track_script, n.track_script, "track_script");
    cmp_field!(s, o.track_process, n.track_process, "track_process");
    cmp_field!(s, o.unicast_src_ip, n.unicast_src_ip, "unicast_src_ip");
    cmp_field!(s, o.unicast_peer, n.unicast_peer, "unicast_peer");
    cmp_field!(s, o.virtual_routes, n.virtual_routes, "virtual_routes");
    cmp_field!(s, o.virtual_rules, n.virtual_rules, "virtual_rules");
    cmp_field!(s, o.notify, n.notify, "notify");
    cmp_field!(s, o.use_vmac, n.use_vmac, "use_vmac");
    s
}

fn vip_set(i: &VrrpInstance) -> Vec<String> {
    i.virtual_ipaddress
        .iter()
        .chain(i.virtual_ipaddress_excluded.iter())
        .map(|v| vip_text(v, &i.interface))
        .collect()
}

/// The global_defs settings that differ, by their configuration names.
fn global_changes(
    old: &crate::config::model::GlobalDefs,
    new: &crate::config::model::GlobalDefs,
) -> Vec<String> {
    let (Ok(serde_json::Value::Object(o)), Ok(serde_json::Value::Object(n))) =
        (serde_json::to_value(old), serde_json::to_value(new))
    else {
        return Vec::new();
    };
    let mut keys: Vec<&String> = o.keys().chain(n.keys()).collect();
    keys.sort();
    keys.dedup();
    let null = serde_json::Value::Null;
    keys.into_iter()
        .filter_map(|k| {
            let (a, b) = (o.get(k).unwrap_or(&null), n.get(k).unwrap_or(&null));
            if crate::config::model::same_ignoring_spans(a, b) {
                return None;
            }
            let (a, b) = (a.to_string(), b.to_string());
            Some(
                if a.len() + b.len() <= 100 && !a.contains("\"span\"") && !b.contains("\"span\"") {
                    format!("{k}: {a} -> {b}")
                } else {
                    format!("{k} changed")
                },
            )
        })
        .collect()
}

/// Compute the reload plan from the running configuration to the new one.
pub fn plan(old: &Config, new: &Config) -> ReloadPlan {
    let mut out = ReloadPlan {
        global: global_changes(&old.global, &new.global),
        ..ReloadPlan::default()
    };

    let old_by_key: BTreeMap<RouterKey, &VrrpInstance> = old
        .instances
        .iter()
        .map(|i| (RouterKey::of(i), i))
        .collect();
    let new_by_key: BTreeMap<RouterKey, &VrrpInstance> = new
        .instances
        .iter()
        .map(|i| (RouterKey::of(i), i))
        .collect();
    for (key, n) in &new_by_key {
        match old_by_key.get(key) {
            None => out.instances.push(InstanceChange::Added {
                name: n.name.clone(),
                key: key.clone(),
            }),
            // use_vmac turned on or off: the VRRP engine replaces the instance (as keepalived
            // does: priority 0 and VIPs released, then a new instance from INIT on the new
            // interface), so the plan says so instead of "state kept".
            Some(o) if o.use_vmac.is_some() != n.use_vmac.is_some() => {
                out.instances.push(InstanceChange::Removed {
                    name: o.name.clone(),
                    key: key.clone(),
                });
                out.instances.push(InstanceChange::Added {
                    name: n.name.clone(),
                    key: key.clone(),
                });
            }
            Some(o) => {
                let (ov, nv) = (vip_set(o), vip_set(n));
                out.instances.push(InstanceChange::Kept {
                    old_name: o.name.clone(),
                    name: n.name.clone(),
                    key: key.clone(),
                    vips_added: nv.iter().filter(|v| !ov.contains(v)).cloned().collect(),
                    vips_removed: ov.iter().filter(|v| !nv.contains(v)).cloned().collect(),
                    settings: instance_settings(o, n),
                });
            }
        }
    }
    for (key, o) in &old_by_key {
        if !new_by_key.contains_key(key) {
            out.instances.push(InstanceChange::Removed {
                name: o.name.clone(),
                key: key.clone(),
            });
        }
    }

    let old_vs: BTreeMap<String, _> = old
        .virtual_servers
        .iter()
        .map(|v| (vs_text(&v.key, v.protocol), v))
        .collect();
    let new_vs: BTreeMap<String, _> = new
        .virtual_servers
        .iter()
        .map(|v| (vs_text(&v.key, v.protocol), v))
        .collect();
    for (name, n) in &new_vs {
        let Some(o) = old_vs.get(name) else {
            out.virtual_servers
                .push(VirtualServerChange::Added { vs: name.clone() });
            for rs in &n.real_servers {
                out.real_servers.push(RealServerChange::Added {
                    vs: name.clone(),
                    rs: rs_text(&rs.addr, rs.port),
                });
            }
            continue;
        };
        let mut s = Vec::new();
        cmp_field!(s, o.lb_algo, n.lb_algo, "lb_algo");
        cmp_field!(s, o.lb_kind, n.lb_kind, "lb_kind");
        cmp_field!(
            s,
            o.persistence_timeout,
            n.persistence_timeout,
            "persistence_timeout"
        );
        cmp_field!(
            s,
            o.persistence_granularity,
            n.persistence_granularity,
            "persistence_granularity"
        );
        cmp_field!(s, o.delay_loop, n.delay_loop, "delay_loop");
        cmp_field!(s, o.quorum, n.quorum, "quorum");
        cmp_field!(s, o.hysteresis, n.hysteresis, "hysteresis");
        cmp_field!(s, o.sorry_server, n.sorry_server, "sorry_server");
        if !s.is_empty() {
            out.virtual_servers.push(VirtualServerChange::Changed {
                vs: name.clone(),
                settings: s,
            });
        }
        let key = |r: &crate::config::model::RealServer| (r.addr, r.port);
        let o_rs: BTreeMap<_, _> = o.real_servers.iter().map(|r| (key(r), r)).collect();
        let n_rs: BTreeMap<_, _> = n.real_servers.iter().map(|r| (key(r), r)).collect();
        for (k, nr) in &n_rs {
            match o_rs.get(k) {
                None => out.real_servers.push(RealServerChange::Added {
                    vs: name.clone(),
                    rs: rs_text(&k.0, k.1),
                }),
                Some(or) => {
                    let mut s = Vec::new();
                    cmp_field!(s, or.weight, nr.weight, "weight");
                    cmp_field!(
                        s,
                        or.inhibit_on_failure,
                        nr.inhibit_on_failure,
                        "inhibit_on_failure"
                    );
                    cmp_field!(s, or.lb_kind, nr.lb_kind, "lb_kind");
                    cmp_field!(s, or.tunnel, nr.tunnel, "tunnel");
                    cmp_field!(s, or.uthreshold, nr.uthreshold, "uthreshold");
                    cmp_field!(s, or.lthreshold, nr.lthreshold, "lthreshold");
                    cmp_field!(s, or.checkers, nr.checkers, "checkers");
                    cmp_field!(s, or.file_checks, nr.file_checks, "FILE_CHECK");
                    cmp_field!(s, or.delay_loop, nr.delay_loop, "delay_loop");
                    cmp_field!(s, or.alpha, nr.alpha, "alpha");
                    cmp_field!(s, or.notify_up, nr.notify_up, "notify_up");
                    cmp_field!(s, or.notify_down, nr.notify_down, "notify_down");
                    cmp_field!(s, or.smtp_alert, nr.smtp_alert, "smtp_alert");
                    if !s.is_empty() {
                        out.real_servers.push(RealServerChange::Changed {
                            vs: name.clone(),
                            rs: rs_text(&k.0, k.1),
                            settings: s,
                        });
                    }
                }
            }
        }
        for (k, or) in &o_rs {
            if !n_rs.contains_key(k) {
                out.real_servers.push(RealServerChange::Removed {
                    vs: name.clone(),
                    rs: rs_text(&k.0, k.1),
                    drain_first: or.inhibit_on_failure.unwrap_or(o.inhibit_on_failure),
                });
            }
        }
    }
    for name in old_vs.keys() {
        if !new_vs.contains_key(name) {
            out.virtual_servers
                .push(VirtualServerChange::Removed { vs: name.clone() });
        }
    }
    out
}

impl fmt::Display for ReloadPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return writeln!(f, "no changes");
        }
        if !self.global.is_empty() {
            writeln!(f, "~ global_defs")?;
            for g in &self.global {
                writeln!(f, "    ~ {g}")?;
            }
        }
        for c in &self.instances {
            match c {
                InstanceChange::Added { name, key } => {
                    writeln!(f, "+ vrrp_instance {name} ({key}): new, starts in INIT")?
                }
                InstanceChange::Removed { name, key } => writeln!(
                    f,
                    "- vrrp_instance {name} ({key}): removed, priority 0 if MASTER, VIPs released"
                )?,
                InstanceChange::Kept {
                    old_name,
                    name,
                    key,
                    vips_added,
                    vips_removed,
                    settings,
                } => {
                    if vips_added.is_empty()
                        && vips_removed.is_empty()
                        && settings.is_empty()
                        && old_name == name
                    {
                        continue;
                    }
                    writeln!(f, "~ vrrp_instance {name} ({key}): state kept")?;
                    if old_name != name {
                        writeln!(f, "    renamed from {old_name}")?;
                    }
                    for v in vips_added {
                        writeln!(f, "    + vip {v}")?;
                    }
                    for v in vips_removed {
                        writeln!(f, "    - vip {v}")?;
                    }
                    for s in settings {
                        writeln!(f, "    ~ {s}")?;
                    }
                }
            }
        }
        for c in &self.virtual_servers {
            match c {
                VirtualServerChange::Added { vs } => writeln!(f, "+ virtual_server {vs}")?,
                VirtualServerChange::Removed { vs } => writeln!(f, "- virtual_server {vs}")?,
                VirtualServerChange::Changed { vs, settings } => {
                    writeln!(f, "~ virtual_server {vs}")?;
                    for s in settings {
                        writeln!(f, "    ~ {s}")?;
                    }
                }
            }
        }
        for c in &self.real_servers {
            match c {
                RealServerChange::Added { vs, rs } => writeln!(f, "+ real_server {rs} in {vs}")?,
                RealServerChange::Removed {
                    vs,
                    rs,
                    drain_first,
                } => writeln!(
                    f,
                    "- real_server {rs} in {vs}{}",
                    if *drain_first {
                        " (drained to weight 0 first)"
                    } else {
                        ""
                    }
                )?,
                RealServerChange::Changed { vs, rs, settings } => {
                    writeln!(f, "~ real_server {rs} in {vs}: health state kept")?;
                    for s in settings {
                        writeln!(f, "    ~ {s}")?;
                    }
                }
            }
        }
        for op in &self.ipvs.now {
            writeln!(f, "ipvs: {op}")?;
        }
        for (after, op) in &self.ipvs.after_drain {
            writeln!(f, "ipvs after {}s drain: {op}", after.as_secs_f64())?;
        }
        Ok(())
    }
}

/// The IPVS side of a reload plan, as the checker engine computes it from its live health
/// state: what is sent at once, and what follows when drained real servers' time is up.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IpvsPlan {
    /// Operations in the order they are sent, in the `ipvs-op` log format
    /// ([`crate::check::sink::format_op`]).
    pub now: Vec<String>,
    /// Deletions of drained real servers, each after its drain time.
    pub after_drain: Vec<(Duration, String)>,
}

/// A question from the daemon's reload to the checker engine: which IPVS operations would
/// `config` cause, given the current health state? Asked before the configuration is applied.
pub struct IpvsPlanRequest {
    pub config: Arc<Config>,
    pub reply: oneshot::Sender<IpvsPlan>,
}

/// Where the daemon sends [`IpvsPlanRequest`]s: the checker engine registers itself at start.
/// Without a checker engine (`-P`) plans have no IPVS part.
#[derive(Clone, Default)]
pub struct IpvsPlanner {
    tx: Arc<Mutex<Option<mpsc::UnboundedSender<IpvsPlanRequest>>>>,
}

impl IpvsPlanner {
    /// Called once by the checker engine: the requests arrive on the returned receiver.
    pub fn register(&self) -> mpsc::UnboundedReceiver<IpvsPlanRequest> {
        let (tx, rx) = mpsc::unbounded_channel();
        *self.tx.lock().unwrap_or_else(|e| e.into_inner()) = Some(tx);
        rx
    }

    /// Ask the checker engine; None when it does not run or does not answer within `budget`.
    pub async fn plan(&self, config: Arc<Config>, budget: Duration) -> Option<IpvsPlan> {
        let tx = self.tx.lock().unwrap_or_else(|e| e.into_inner()).clone()?;
        let (reply, rx) = oneshot::channel();
        tx.send(IpvsPlanRequest { config, reply }).ok()?;
        match tokio::time::timeout(budget, rx).await {
            Ok(Ok(p)) => Some(p),
            _ => {
                tracing::warn!(target: "reload", "the checker engine did not plan the IPVS operations within {budget:?}");
                None
            }
        }
    }
}

/// A real server removed from the configuration while `inhibit_on_failure` was set: kept in
/// the kernel with weight 0 until `until`, then deleted.
///
/// keepalived deletes a removed real server at once. rampart drains it first (the issue's
/// rule): with weight 0 the scheduler sends it no new connections while established ones and
/// persistence templates run on, and the destination is deleted one `delay_loop` later (the
/// real server's own, else its virtual server's) — the time keepalived would take to notice a
/// dead server, and what an operator chose as "soon" for this pool. A real server that was
/// already at weight 0 (down, inhibited) is deleted at once: nothing is left to drain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drain<T> {
    pub service: ServiceKey,
    pub dest: DestKey,
    /// The destination's settings with weight 0.
    pub settings: DestSettings,
    pub until: T,
    /// The virtual and real server as status and events name them, and the real server's
    /// configured weight before it was removed.
    pub virtual_server: Endpoint,
    pub real_server: Endpoint,
    pub weight: u32,
}

impl<T> Drain<T> {
    /// The same drain with another deadline type (a duration becomes an instant).
    pub fn with_until<U>(self, until: U) -> Drain<U> {
        Drain {
            service: self.service,
            dest: self.dest,
            settings: self.settings,
            until,
            virtual_server: self.virtual_server,
            real_server: self.real_server,
            weight: self.weight,
        }
    }
}

/// One [`Event::RealServerDraining`] per drained real server (a virtual server group drains a
/// real server in each of its services: reported once), with `reason` for each.
pub fn drain_events<T>(
    drains: &[Drain<T>],
    draining: bool,
    reason: impl Fn(&Drain<T>) -> String,
) -> Vec<Event> {
    let mut seen: Vec<(&Endpoint, &Endpoint)> = Vec::new();
    let mut out = Vec::new();
    for d in drains {
        if seen.contains(&(&d.virtual_server, &d.real_server)) {
            continue;
        }
        seen.push((&d.virtual_server, &d.real_server));
        out.push(Event::RealServerDraining {
            virtual_server: d.virtual_server.clone(),
            real_server: d.real_server.clone(),
            weight: d.weight,
            draining,
            reason: reason(d),
        });
    }
    out
}

/// The drains a reload from `old_cfg` to `new_cfg` starts. `old_table` is the table the old
/// configuration's health state called for; `new_table` what the new one calls for. Each
/// drain's `until` is its drain time.
pub fn drains(
    old_cfg: &Config,
    new_cfg: &Config,
    old_table: &DesiredTable,
    new_table: &DesiredTable,
) -> Vec<Drain<Duration>> {
    let mut out = Vec::new();
    for ovs in &old_cfg.virtual_servers {
        let name = vs_text(&ovs.key, ovs.protocol);
        let Some(nvs) = new_cfg
            .virtual_servers
            .iter()
            .find(|n| vs_text(&n.key, n.protocol) == name)
        else {
            continue; // the whole virtual server goes: its services are deleted
        };
        let vs_port = match ovs.key {
            VsKey::Addr { port, .. } => Some(port),
            _ => None,
        };
        let services = crate::check::core::service_entries(old_cfg, ovs);
        for rs in &ovs.real_servers {
            let still = nvs
                .real_servers
                .iter()
                .any(|n| (n.addr, n.port) == (rs.addr, rs.port));
            if still || !rs.inhibit_on_failure.unwrap_or(ovs.inhibit_on_failure) {
                continue;
            }
            let dest = DestKey {
                addr: rs.addr,
                port: rs.port.or(vs_port).unwrap_or(0),
            };
            for (service, _) in &services {
                let Some(old) = old_table
                    .services
                    .get(service)
                    .and_then(|e| e.dests.get(&dest))
                else {
                    continue;
                };
                let Some(new_entry) = new_table.services.get(service) else {
                    continue;
                };
                if old.weight == 0 || new_entry.dests.contains_key(&dest) {
                    continue;
                }
                out.push(Drain {
                    service: *service,
                    dest,
                    settings: DestSettings { weight: 0, ..*old },
                    until: rs.delay_loop.unwrap_or(ovs.delay_loop),
                    virtual_server: Endpoint::of_virtual_server(ovs),
                    real_server: Endpoint {
                        addr: Some(rs.addr),
                        port: Some(dest.port),
                        fwmark: None,
                        protocol: ovs.protocol.name(),
                        group: None,
                    },
                    weight: rs.weight,
                });
            }
        }
    }
    out
}

/// `table` with the drained destinations added (weight 0) where their service still exists
/// and the destination is not wanted anyway.
pub fn with_drains<T>(table: &DesiredTable, drains: &[Drain<T>]) -> DesiredTable {
    let mut t = table.clone();
    for d in drains {
        if let Some(e) = t.services.get_mut(&d.service) {
            e.dests.entry(d.dest).or_insert(d.settings);
        }
    }
    t
}

/// The IPVS side of a reload plan: from `applied` (what is in the kernel now, drains included)
/// to `new_table` with `running` drains (still in force) and `started` ones (new).
pub fn ipvs_plan<T>(
    applied: &DesiredTable,
    new_table: &DesiredTable,
    running: &[Drain<T>],
    started: &[Drain<Duration>],
) -> IpvsPlan {
    let mut target = with_drains(new_table, running);
    target = with_drains(&target, started);
    let managed: BTreeSet<ServiceKey> = applied
        .services
        .keys()
        .chain(new_table.services.keys())
        .copied()
        .collect();
    let now = reconcile(&target, applied, &managed)
        .iter()
        .map(crate::check::sink::format_op)
        .collect();
    let after_drain = started
        .iter()
        .map(|d| {
            (
                d.until,
                crate::check::sink::format_op(&IpvsOp::DelDest {
                    service: d.service,
                    dest: d.dest,
                }),
            )
        })
        .collect();
    IpvsPlan { now, after_drain }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::*;

    fn vip(a: &str) -> VirtualIp {
        VirtualIp {
            addr: a.parse().unwrap(),
            prefix_len: 32,
            dev: None,
            brd: None,
            scope: None,
            label: None,
            peer: None,
            nodad: false,
            no_track: false,
            preferred_lft: None,
            span: Span::builtin(),
        }
    }

    fn inst(name: &str, vrid: u8, ifname: &str, vips: &[&str]) -> VrrpInstance {
        let mut i = VrrpInstance::new(name, ifname, vrid, Span::builtin());
        i.virtual_ipaddress = vips.iter().map(|a| vip(a)).collect();
        i
    }

    #[test]
    fn identical_configs_plan_nothing() {
        let mut c = Config::default();
        c.instances.push(inst("VI_1", 51, "eth0", &["10.0.0.1"]));
        let p = plan(&c, &c.clone());
        assert!(p.is_empty(), "{p}");
        assert_eq!(p.to_string(), "no changes\n");
    }

    #[test]
    fn use_vmac_turned_on_replaces_the_instance() {
        let mut a = Config::default();
        a.instances.push(inst("VI_1", 51, "eth0", &["10.0.0.1"]));
        let mut b = a.clone();
        b.instances[0].use_vmac = Some(None);
        let p = plan(&a, &b);
        let kinds: Vec<&str> = p
            .instances
            .iter()
            .map(|c| match c {
                InstanceChange::Removed { .. } => "removed",
                InstanceChange::Added { .. } => "added",
                _ => "other",
            })
            .collect();
        assert_eq!(kinds, ["removed", "added"], "{p}");
    }

    #[test]
    fn renamed_instance_with_same_router_key_is_kept() {
        let mut a = Config::default();
        a.instances.push(inst("VI_1", 51, "eth0", &["10.0.0.1"]));
        let mut b = Config::default();
        b.instances
            .push(inst("WAN", 51, "eth0", &["10.0.0.1", "10.0.0.2"]));
        let p = plan(&a, &b);
        assert_eq!(p.instances.len(), 1);
        match &p.instances[0] {
            InstanceChange::Kept {
                old_name,
                vips_added,
                vips_removed,
                ..
            } => {
                assert_eq!(old_name, "VI_1");
                assert_eq!(vips_added, &vec!["10.0.0.2/32 dev eth0".to_string()]);
                assert!(vips_removed.is_empty());
            }
            other => panic!("expected Kept, got {other:?}"),
        }
    }

    #[test]
    fn moved_interface_is_remove_plus_add() {
        let mut a = Config::default();
        a.instances.push(inst("VI_1", 51, "eth0", &["10.0.0.1"]));
        let mut b = Config::default();
        b.instances.push(inst("VI_1", 51, "eth1", &["10.0.0.1"]));
        let p = plan(&a, &b);
        assert!(matches!(p.instances[0], InstanceChange::Added { .. }));
        assert!(matches!(p.instances[1], InstanceChange::Removed { .. }));
    }

    fn load(text: &str) -> Config {
        crate::config::load_str(
            "t.conf",
            text,
            &crate::config::LoadOptions { config_id: None },
        )
        .unwrap_or_else(|d| panic!("{d:?}"))
        .config
    }

    fn pool(rs: &[(&str, bool)]) -> Config {
        let mut t = String::from(
            "virtual_server 10.0.0.1 80 {\n  delay_loop 7\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n",
        );
        for (addr, inhibit) in rs {
            t.push_str(&format!(
                "  real_server {addr} 80 {{\n    weight 1\n{}    TCP_CHECK {{\n      connect_timeout 1\n    }}\n  }}\n",
                if *inhibit { "    inhibit_on_failure\n" } else { "" }
            ));
        }
        t.push_str("}\n");
        load(&t)
    }

    fn table_of(cfg: &Config) -> DesiredTable {
        crate::check::core::Core::new(cfg, 1).0.desired()
    }

    #[test]
    fn a_removed_inhibited_real_server_is_drained_then_deleted() {
        let old = pool(&[("10.0.0.2", false), ("10.0.0.3", true)]);
        let new = pool(&[("10.0.0.2", false)]);
        let (ot, nt) = (table_of(&old), table_of(&new));
        let d = drains(&old, &new, &ot, &nt);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].dest.addr.to_string(), "10.0.0.3");
        assert_eq!(d[0].settings.weight, 0);
        assert_eq!(d[0].until, Duration::from_secs(7));
        let p = ipvs_plan(&ot, &nt, &[] as &[Drain<Duration>], &d);
        assert_eq!(
            p.now,
            vec![
                "op=edit-dest service=tcp:[10.0.0.1]:80 dest=[10.0.0.3]:80 forward=nat weight=0 uthreshold=0 lthreshold=0"
            ]
        );
        assert_eq!(
            p.after_drain,
            vec![(
                Duration::from_secs(7),
                "op=del-dest service=tcp:[10.0.0.1]:80 dest=[10.0.0.3]:80".to_string()
            )]
        );
        // The table while draining keeps the server at weight 0.
        let w = with_drains(&nt, &d);
        let e = w.services.values().next().unwrap();
        assert_eq!(e.dests.len(), 2);
    }

    #[test]
    fn a_removed_real_server_without_inhibit_goes_at_once() {
        let old = pool(&[("10.0.0.2", false), ("10.0.0.3", false)]);
        let new = pool(&[("10.0.0.2", false)]);
        let (ot, nt) = (table_of(&old), table_of(&new));
        assert!(drains(&old, &new, &ot, &nt).is_empty());
        let p = ipvs_plan(&ot, &nt, &[] as &[Drain<Duration>], &[]);
        assert_eq!(
            p.now,
            vec!["op=del-dest service=tcp:[10.0.0.1]:80 dest=[10.0.0.3]:80"]
        );
    }

    #[test]
    fn real_server_scripts_and_timers_are_in_the_plan() {
        let old = pool(&[("10.0.0.2", false)]);
        let mut new = old.clone();
        let rs = &mut new.virtual_servers[0].real_servers[0];
        rs.notify_up = Some(crate::config::Command {
            raw: "/bin/true".into(),
            argv: vec!["/bin/true".into()],
            span: crate::config::Span::builtin(),
        });
        rs.delay_loop = Some(Duration::from_secs(3));
        let p = plan(&old, &new).to_string();
        assert!(
            p.contains("~ real_server [10.0.0.2]:80 in [10.0.0.1]:tcp:80"),
            "{p}"
        );
        assert!(p.contains("notify_up changed"), "{p}");
        assert!(p.contains("delay_loop: None -> Some(3s)"), "{p}");
        // The same script on another line is no change.
        let mut moved = new.clone();
        if let Some(c) = moved.virtual_servers[0].real_servers[0].notify_up.as_mut() {
            c.span.line += 3;
        }
        assert!(plan(&new, &moved).is_empty());
    }

    #[test]
    fn a_weight_change_is_one_edit_and_moved_blocks_are_no_change() {
        let old = pool(&[("10.0.0.2", false), ("10.0.0.3", false)]);
        let moved = pool(&[("10.0.0.3", false), ("10.0.0.2", false)]);
        let p = plan(&old, &moved);
        assert!(p.is_empty(), "{p}");
        let mut new = old.clone();
        new.virtual_servers[0].real_servers[1].weight = 5;
        let p = plan(&old, &new);
        assert_eq!(
            p.to_string(),
            "~ real_server [10.0.0.3]:80 in [10.0.0.1]:tcp:80: health state kept\n    ~ weight: 1 -> 5\n"
        );
        let ip = ipvs_plan(
            &table_of(&old),
            &table_of(&new),
            &[] as &[Drain<Duration>],
            &[],
        );
        assert_eq!(ip.now.len(), 1);
        assert!(ip.now[0].starts_with("op=edit-dest"), "{:?}", ip.now);
    }

    #[test]
    fn global_defs_changes_are_listed() {
        let old = load("global_defs {\n  router_id A\n  smtp_server 127.0.0.1\n}\n");
        let new = load(
            "global_defs {\n  router_id B\n  smtp_server 127.0.0.1\n  notification_email {\n    ops@example.test\n  }\n}\n",
        );
        let p = plan(&old, &new);
        assert_eq!(
            p.to_string(),
            "~ global_defs\n    ~ notification_email: [] -> [\"ops@example.test\"]\n    ~ router_id: \"A\" -> \"B\"\n"
        );
    }

    #[test]
    fn a_removed_inhibited_server_already_at_weight_0_goes_at_once() {
        let old = pool(&[("10.0.0.2", false), ("10.0.0.3", true)]);
        let new = pool(&[("10.0.0.2", false)]);
        let mut ot = table_of(&old);
        for e in ot.services.values_mut() {
            for (d, st) in e.dests.iter_mut() {
                if d.addr.to_string() == "10.0.0.3" {
                    st.weight = 0; // down, inhibited
                }
            }
        }
        assert!(drains(&old, &new, &ot, &table_of(&new)).is_empty());
    }

    #[tokio::test]
    async fn the_planner_asks_the_registered_engine() {
        let planner = IpvsPlanner::default();
        let cfg = Arc::new(Config::default());
        assert_eq!(
            planner.plan(cfg.clone(), Duration::from_millis(10)).await,
            None,
            "no engine: no IPVS part"
        );
        let mut rx = planner.register();
        tokio::spawn(async move {
            while let Some(req) = rx.recv().await {
                let _ = req.reply.send(IpvsPlan {
                    now: vec!["op=flush".into()],
                    after_drain: vec![],
                });
            }
        });
        let p = planner.plan(cfg, Duration::from_secs(5)).await.unwrap();
        assert_eq!(p.now, vec!["op=flush".to_string()]);
    }
}
