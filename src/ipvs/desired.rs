//! From the configuration to the desired table: the kernel services a `virtual_server` stands
//! for (a group expands to one per address and fwmark) with their settings, and the
//! destinations given each real server's current weight (health decides presence; the checker
//! core passes that in).

use super::consts::*;
use super::table::{
    AddrFamily, DesiredTable, DestKey, DestSettings, IpvsProtocol, ServiceEntry, ServiceKey,
    ServiceSettings,
};
use crate::config::model::{
    Config, ForwardMethod, RealServer, SorryServer, Tunnel, VirtualServer, VsKey, VsgMember,
};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Most addresses one `IP-LAST` group range may expand to (a /16 of IPv6 hextet values).
const MAX_RANGE: u128 = 65536;

/// The family of a fwmark service: keepalived takes the real servers' family (IPv4 when there
/// are none).
fn fwmark_family(vs: &VirtualServer) -> AddrFamily {
    vs.real_servers
        .first()
        .map(|r| AddrFamily::of(&r.addr))
        .or_else(|| vs.sorry_server.as_ref().map(|s| AddrFamily::of(&s.addr)))
        .unwrap_or(AddrFamily::V4)
}

fn expand_range(first: IpAddr, last: IpAddr) -> Vec<IpAddr> {
    match (first, last) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let (a, b) = (u32::from(a), u32::from(b));
            if b < a || (b - a) as u128 >= MAX_RANGE {
                return vec![IpAddr::V4(a.into())];
            }
            (a..=b).map(|x| IpAddr::V4(x.into())).collect()
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let (a, b) = (u128::from(a), u128::from(b));
            if b < a || b - a >= MAX_RANGE {
                return vec![IpAddr::V6(a.into())];
            }
            (a..=b).map(|x| IpAddr::V6(x.into())).collect()
        }
        (a, _) => vec![a],
    }
}

/// Scheduler flag names as keepalived writes them (`sh-port`, `flag-1`, ...) to
/// `IP_VS_SVC_F_SCHED*` bits; unknown names add nothing (the config checker reports them).
pub fn sched_flag_bits(names: &[String]) -> u32 {
    names
        .iter()
        .map(|n| match n.as_str() {
            "flag-1" | "sh-fallback" | "mh-fallback" => IP_VS_SVC_F_SCHED1,
            "flag-2" | "sh-port" | "mh-port" => IP_VS_SVC_F_SCHED2,
            "flag-3" => IP_VS_SVC_F_SCHED3,
            _ => 0,
        })
        .fold(0, |a, b| a | b)
}

/// The kernel service keys a virtual server stands for, and its settings (the persistence
/// netmask is for IPv4 keys; use [`settings_for_key`] for a key of either family).
pub fn desired_service(vs: &VirtualServer, cfg: &Config) -> (Vec<ServiceKey>, ServiceSettings) {
    let protocol = IpvsProtocol::from(vs.protocol);
    let keys = match &vs.key {
        VsKey::Addr { addr, port } => vec![ServiceKey::Addr {
            protocol,
            addr: *addr,
            port: *port,
        }],
        VsKey::Fwmark(mark) => vec![ServiceKey::Fwmark {
            family: fwmark_family(vs),
            mark: *mark,
        }],
        VsKey::Group(name) => {
            let mut keys = Vec::new();
            if let Some(g) = cfg.virtual_server_group(name) {
                for m in &g.members {
                    match m {
                        VsgMember::Range {
                            first, last, port, ..
                        } => {
                            for addr in expand_range(*first, *last) {
                                keys.push(ServiceKey::Addr {
                                    protocol,
                                    addr,
                                    port: *port,
                                });
                            }
                        }
                        VsgMember::Fwmark { mark, .. } => keys.push(ServiceKey::Fwmark {
                            family: fwmark_family(vs),
                            mark: *mark,
                        }),
                    }
                }
            }
            keys
        }
    };
    let mut flags = sched_flag_bits(&vs.sched_flags);
    if vs.persistence_timeout.is_some() {
        flags |= IP_VS_SVC_F_PERSISTENT;
    }
    if vs.ops {
        flags |= IP_VS_SVC_F_ONEPACKET;
    }
    let settings = ServiceSettings {
        scheduler: vs
            .lb_algo
            .map(|s| s.name().to_string())
            .unwrap_or_else(|| "wlc".to_string()),
        flags,
        timeout: vs.persistence_timeout.unwrap_or(0),
        netmask_prefix: vs.persistence_granularity.unwrap_or(32),
        pe_name: None,
    };
    (keys, settings)
}

/// The settings for one key: the persistence netmask defaults to a full-length mask of the
/// key's own family.
pub fn settings_for_key(
    vs: &VirtualServer,
    base: &ServiceSettings,
    key: &ServiceKey,
) -> ServiceSettings {
    let mut s = base.clone();
    s.netmask_prefix = match (key.family(), vs.persistence_granularity) {
        (_, Some(p)) => p,
        (AddrFamily::V4, None) => 32,
        (AddrFamily::V6, None) => 128,
    };
    s
}

/// The forwarding method and tunnel of a real server: its own `lvs_method` (with the tunnel
/// written there) if it has one, else the virtual server's. The tunnel is the default (IPIP)
/// unless the method is TUN.
pub fn forward_of(vs: &VirtualServer, rs: &RealServer) -> (ForwardMethod, Tunnel) {
    let (m, t) = match rs.lb_kind {
        Some(m) => (m, rs.tunnel),
        None => (vs.lb_kind, vs.tunnel),
    };
    normalise(m, t)
}

/// [`forward_of`] for the sorry server (`sorry_server_lvs_method`).
pub fn sorry_forward_of(vs: &VirtualServer, s: &SorryServer) -> (ForwardMethod, Tunnel) {
    let (m, t) = match s.lb_kind {
        Some(m) => (m, s.tunnel),
        None => (vs.lb_kind, vs.tunnel),
    };
    normalise(m, t)
}

fn normalise(m: ForwardMethod, t: Option<Tunnel>) -> (ForwardMethod, Tunnel) {
    match m {
        ForwardMethod::Tun => (m, t.unwrap_or_default()),
        _ => (m, Tunnel::default()),
    }
}

/// The destination for a real server of `vs` at `weight`.
pub fn dest_for(vs: &VirtualServer, rs: &RealServer, weight: u32) -> (DestKey, DestSettings) {
    let vport = match vs.key {
        VsKey::Addr { port, .. } => port,
        _ => 0,
    };
    (
        DestKey {
            addr: rs.addr,
            port: rs.port.unwrap_or(vport),
        },
        DestSettings {
            forward: forward_of(vs, rs).0,
            weight,
            upper_threshold: rs.uthreshold,
            lower_threshold: rs.lthreshold,
            tunnel: forward_of(vs, rs).1,
        },
    )
}

/// A destination as the kernel gets it under service `key`. Direct routing and tunnelling do
/// not use the port to forward, and keepalived ("ports don't match - resetting") and ipvsadm
/// both give such a destination the service's port (0 for a fwmark service); only masq keeps
/// the real server's own port. Checks still go to the configured port.
pub fn kernel_dest_key(key: &ServiceKey, dest: DestKey, forward: ForwardMethod) -> DestKey {
    match (forward, key) {
        (ForwardMethod::Nat, _) => dest,
        (_, ServiceKey::Addr { port, .. }) => DestKey {
            port: *port,
            ..dest
        },
        (_, ServiceKey::Fwmark { .. }) => DestKey { port: 0, ..dest },
    }
}

/// The destinations of one kernel service (`kernel_dest_key` applied). Real servers that
/// become the same kernel destination (same address, DR/TUN, different ports) share it at
/// the highest of their weights: it is up while one of them is.
pub fn dests_for_key(
    key: &ServiceKey,
    dests: &BTreeMap<DestKey, DestSettings>,
) -> BTreeMap<DestKey, DestSettings> {
    let mut out: BTreeMap<DestKey, DestSettings> = BTreeMap::new();
    for (k, s) in dests {
        let k = kernel_dest_key(key, *k, s.forward);
        match out.get(&k) {
            Some(have) if have.weight >= s.weight => {}
            _ => {
                out.insert(k, *s);
            }
        }
    }
    out
}

/// Every kernel service of `vs` with its destinations.
///
/// `weight_of(index, rs)`: the current weight of real server `index` if it is in the table
/// (alive, or inhibited at weight 0), None if it is out. `sorry_active`: the sorry server
/// replaces the real servers (quorum lost).
pub fn desired_entries(
    vs: &VirtualServer,
    cfg: &Config,
    weight_of: &dyn Fn(usize, &RealServer) -> Option<u32>,
    sorry_active: bool,
) -> Vec<(ServiceKey, ServiceEntry)> {
    let (keys, base) = desired_service(vs, cfg);
    let vport = match vs.key {
        VsKey::Addr { port, .. } => port,
        _ => 0,
    };
    let mut dests = BTreeMap::new();
    if sorry_active {
        if let Some(s) = &vs.sorry_server {
            dests.insert(
                DestKey {
                    addr: s.addr,
                    port: s.port.unwrap_or(vport),
                },
                DestSettings {
                    forward: sorry_forward_of(vs, s).0,
                    weight: 1,
                    upper_threshold: 0,
                    lower_threshold: 0,
                    tunnel: sorry_forward_of(vs, s).1,
                },
            );
        }
    } else {
        for (i, rs) in vs.real_servers.iter().enumerate() {
            if let Some(w) = weight_of(i, rs) {
                let (k, st) = dest_for(vs, rs, w);
                dests.insert(k, st);
            }
        }
    }
    keys.iter()
        .map(|k| {
            (
                *k,
                ServiceEntry {
                    settings: settings_for_key(vs, &base, k),
                    dests: dests_for_key(k, &dests),
                },
            )
        })
        .collect()
}

/// The desired table of a whole configuration with every real server up at its configured
/// weight (the start state before health checks report, and what `--dry-run` shows).
pub fn desired_table_all_up(cfg: &Config) -> DesiredTable {
    let mut t = DesiredTable::default();
    for vs in &cfg.virtual_servers {
        for (k, e) in desired_entries(vs, cfg, &|_, rs| Some(rs.weight), false) {
            t.services.insert(k, e);
        }
    }
    t
}
