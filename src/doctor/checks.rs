//! The checks: pure functions from (configuration, host facts) to findings. Each has a stable
//! id, listed in [`CHECK_IDS`] and in docs/migration.md.

use super::facts::{HostFacts, IP_FORWARD, IPV6_FORWARDING, VS_CONNTRACK};
use super::firewall::{self, Match, Origin, Rule, Ruleset, Verdict};
use super::{Finding, Severity};
use crate::config::{
    Config, ForwardMethod, InitialState, Span, VirtualIp, VrrpInstance, VsKey, VsgMember,
};
use std::collections::BTreeSet;
use std::net::IpAddr;

/// Every finding id doctor can report.
pub const CHECK_IDS: &[&str] = &[
    "ipvs-missing",
    "ip-forward-off",
    "vs-conntrack-off",
    "vrrp-blocked",
    "vrrp-policy-drop",
    "interface-missing",
    "vip-on-other-interface",
    "vip-present-without-daemon",
    "vrrp-strict-no-vip",
    "vrrp-strict-too-many-vips",
    "vrrp-strict-no-accept",
    "vrrp-strict-vmac-xmit-base",
    "nopreempt-master",
    "realserver-port-ignored",
];

/// Run every check; findings come sorted by severity (errors first), then by id.
pub fn run(cfg: &Config, facts: &HostFacts) -> Vec<Finding> {
    let rules = firewall::from_facts(facts);
    let mut out = Vec::new();
    out.extend(ipvs_missing(cfg, facts));
    out.extend(ip_forward_off(cfg, facts));
    out.extend(vs_conntrack_off(cfg, facts, &rules));
    out.extend(vrrp_blocked(cfg, &rules));
    out.extend(interface_missing(cfg, facts));
    out.extend(vip_elsewhere(cfg, facts));
    out.extend(vrrp_strict(cfg));
    out.extend(realserver_port_ignored(cfg));
    out.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.id.cmp(b.id)));
    out
}

// ---------------------------------------------------------------------------------------------
// Helpers over the configuration
// ---------------------------------------------------------------------------------------------

fn needs_ipvs(cfg: &Config) -> bool {
    !cfg.virtual_servers.is_empty() || cfg.global.lvs_sync_daemon.is_some()
}

fn vs_label(key: &VsKey) -> String {
    match key {
        VsKey::Addr { addr, port } => match addr {
            IpAddr::V4(a) => format!("{a}:{port}"),
            IpAddr::V6(a) => format!("[{a}]:{port}"),
        },
        VsKey::Fwmark(m) => format!("fwmark {m}"),
        VsKey::Group(g) => format!("group {g}"),
    }
}

/// Addresses a virtual server is reached on (for a group, its ranges' ends).
fn vs_addrs(cfg: &Config, key: &VsKey) -> Vec<IpAddr> {
    match key {
        VsKey::Addr { addr, .. } => vec![*addr],
        VsKey::Fwmark(_) => Vec::new(),
        VsKey::Group(name) => cfg
            .virtual_server_group(name)
            .map(|g| {
                g.members
                    .iter()
                    .flat_map(|m| match m {
                        VsgMember::Range { first, last, .. } => vec![*first, *last],
                        VsgMember::Fwmark { .. } => Vec::new(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// NAT virtual servers with the address families they forward.
fn nat_services(cfg: &Config) -> Vec<(String, Span, bool, bool)> {
    let mut out = Vec::new();
    for vs in &cfg.virtual_servers {
        let nat = vs.lb_kind == ForwardMethod::Nat
            || vs
                .real_servers
                .iter()
                .any(|r| r.lb_kind == Some(ForwardMethod::Nat));
        if !nat {
            continue;
        }
        // The family forwarded is the real servers' (an fwmark service has no address).
        let mut v4 = vs.real_servers.iter().any(|r| r.addr.is_ipv4());
        let mut v6 = vs.real_servers.iter().any(|r| r.addr.is_ipv6());
        if !v4 && !v6 {
            v4 = vs_addrs(cfg, &vs.key).iter().any(|a| a.is_ipv4());
            v6 = vs_addrs(cfg, &vs.key).iter().any(|a| a.is_ipv6());
        }
        out.push((vs_label(&vs.key), vs.span.clone(), v4, v6));
    }
    out
}

/// Every address IPVS traffic is addressed to or forwarded to: virtual and real servers.
fn ipvs_addresses(cfg: &Config) -> Vec<IpAddr> {
    let mut out = Vec::new();
    for vs in &cfg.virtual_servers {
        out.extend(vs_addrs(cfg, &vs.key));
        out.extend(vs.real_servers.iter().map(|r| r.addr));
        if let Some(s) = &vs.sorry_server {
            out.push(s.addr);
        }
    }
    out
}

fn vmac_name(inst: &VrrpInstance) -> Option<String> {
    match &inst.use_vmac {
        Some(Some(n)) => Some(n.clone()),
        Some(None) => Some(format!("vrrp.{}", inst.virtual_router_id)),
        None => None,
    }
}

/// The interface a VIP goes on when the instance is MASTER.
fn vip_device(inst: &VrrpInstance, vip: &VirtualIp) -> String {
    vip.dev
        .clone()
        .or_else(|| vmac_name(inst))
        .unwrap_or_else(|| inst.interface.clone())
}

fn rule_evidence(r: &Rule) -> String {
    format!("{} ({}/{}): {}", r.origin.label(), r.table, r.chain, r.line)
}

// ---------------------------------------------------------------------------------------------
// The checks
// ---------------------------------------------------------------------------------------------

/// IPVS absent: no `/proc/net/ip_vs` and `modprobe ip_vs` would fail.
pub fn ipvs_missing(cfg: &Config, facts: &HostFacts) -> Vec<Finding> {
    if !needs_ipvs(cfg) || facts.ipvs.available() {
        return Vec::new();
    }
    let why = match &facts.ipvs.modprobe {
        Some(Err(e)) => format!("`modprobe ip_vs` fails: {e}"),
        _ => "the ip_vs module was not found".to_string(),
    };
    let first = &cfg.virtual_servers.first();
    let mut f = Finding::new(
        "ipvs-missing",
        Severity::Error,
        format!(
            "this kernel has no IPVS: /proc/net/ip_vs does not exist and {why}; the {} virtual server(s) configured cannot be programmed",
            cfg.virtual_servers.len()
        ),
        "run rampart on a kernel built with CONFIG_IP_VS (Debian's linux-image-amd64 and \
         linux-image-cloud-amd64 ship ip_vs.ko and the scheduler modules: `modprobe ip_vs`); in a \
         container, load ip_vs on the host. Without IPVS, `rampart -P` still runs VRRP alone.",
    );
    if let Some(vs) = first {
        f = f.at(&vs.span);
    }
    vec![f]
}

/// NAT forwarding needs the kernel to route the real servers' replies back through the
/// director (seed 000: replies counted as IpInAddrErrors until ip_forward was set).
pub fn ip_forward_off(cfg: &Config, facts: &HostFacts) -> Vec<Finding> {
    let nat = nat_services(cfg);
    let mut out = Vec::new();
    for (family_v6, key, name) in [(false, IP_FORWARD, "IPv4"), (true, IPV6_FORWARDING, "IPv6")] {
        let services: Vec<_> = nat
            .iter()
            .filter(|(_, _, v4, v6)| if family_v6 { *v6 } else { *v4 })
            .collect();
        let Some((label, span, ..)) = services.first() else {
            continue;
        };
        match facts.sysctl(key) {
            Some("1") | None => {}
            Some(v) => out.push(
                Finding::new(
                    "ip-forward-off",
                    Severity::Error,
                    format!(
                        "{key} is {v} but virtual_server {label} forwards {name} by NAT: the real \
                         servers' replies reach the director and are dropped instead of being \
                         forwarded back to the client (they show up as IpInAddrErrors in `nstat`)"
                    ),
                    format!(
                        "sysctl -w {key}=1, and make it permanent in /etc/sysctl.d/90-rampart.conf \
                         (`{key} = 1`)"
                    ),
                )
                .at(span)
                .with_evidence(
                    services
                        .iter()
                        .map(|(l, s, ..)| format!("NAT virtual_server {l} at {s}"))
                        .collect(),
                ),
            ),
        }
    }
    out
}

/// `net.ipv4.vs.conntrack=0` (the default) makes IPVS packets untracked, so stateful firewall
/// rules never see them: a MASQUERADE on `-m ipvs` does nothing (seed 000), a FORWARD chain
/// that only accepts ESTABLISHED traffic drops the NAT replies.
pub fn vs_conntrack_off(cfg: &Config, facts: &HostFacts, rules: &Ruleset) -> Vec<Finding> {
    if !needs_ipvs(cfg) || facts.sysctl(VS_CONNTRACK) != Some("0") {
        return Vec::new();
    }
    let addrs = ipvs_addresses(cfg);
    let mentions_ipvs_addr = |m: &Match| match m {
        Match::Is(v) => addrs.iter().any(|a| firewall::covers(v, *a)),
        _ => false,
    };
    let mut evidence: Vec<String> = rules
        .rules
        .iter()
        .filter(|r| r.stateful)
        .filter(|r| r.ipvs_match || mentions_ipvs_addr(&r.daddr) || mentions_ipvs_addr(&r.saddr))
        .map(rule_evidence)
        .collect();
    // NAT replies traverse FORWARD; with a DROP policy there, a stateful accept is the only
    // way in, and it cannot match untracked packets.
    if !nat_services(cfg).is_empty() {
        for chain in &rules.chains {
            let forward = chain.hook.as_deref() == Some("forward")
                && (chain.origin == Origin::Nft || chain.table == "filter");
            if forward && chain.policy == Some(Verdict::Drop) {
                let stateful: Vec<_> = rules
                    .rules_in(chain)
                    .filter(|r| r.stateful && r.verdict == Verdict::Accept)
                    .collect();
                if !stateful.is_empty() {
                    evidence.push(format!(
                        "{} ({}/{}): policy DROP",
                        chain.origin.label(),
                        chain.table,
                        chain.name
                    ));
                    evidence.extend(stateful.into_iter().map(rule_evidence));
                }
            }
        }
    }
    if evidence.is_empty() {
        return Vec::new();
    }
    evidence.dedup();
    vec![
        Finding::new(
            "vs-conntrack-off",
            Severity::Error,
            format!(
                "{VS_CONNTRACK} is 0 but the firewall has stateful rules for IPVS traffic: with \
                 conntrack off, IPVS packets are untracked, so NAT targets (MASQUERADE/SNAT) and \
                 state matches (ESTABLISHED) never apply to them"
            ),
            format!(
                "sysctl -w {VS_CONNTRACK}=1 (and persist it in /etc/sysctl.d/), or drop the \
                 stateful rules for IPVS traffic"
            ),
        )
        .with_evidence(evidence),
    ]
}

/// A firewall rule that drops VRRP (IP protocol 112) or the VRRP multicast group, or an input
/// policy of DROP with no rule accepting VRRP: both directors then believe they are MASTER.
pub fn vrrp_blocked(cfg: &Config, rules: &Ruleset) -> Vec<Finding> {
    if cfg.instances.is_empty() {
        return Vec::new();
    }
    // The multicast groups matter only to instances that advertise by multicast.
    let groups: Vec<IpAddr> = if cfg.instances.iter().any(|i| i.unicast_peer.is_empty()) {
        vec![
            IpAddr::V4(cfg.global.vrrp_mcast_group4),
            IpAddr::V6(cfg.global.vrrp_mcast_group6),
        ]
    } else {
        Vec::new()
    };
    let peers: Vec<IpAddr> = cfg
        .instances
        .iter()
        .flat_map(|i| i.unicast_peer.iter().map(|p| p.addr))
        .collect();
    let vrrp_ifs: BTreeSet<&str> = cfg.instances.iter().map(|i| i.interface.as_str()).collect();
    let names_vrrp_dest = |m: &Match| match m {
        Match::Is(v) => groups.iter().chain(&peers).any(|g| firewall::covers(v, *g)),
        _ => false,
    };
    // The rule is about VRRP: it names the protocol or the group.
    let explicit = |r: &Rule| r.proto.names(firewall::is_vrrp_proto) || names_vrrp_dest(&r.daddr);
    // The rule catches everything (possibly on one VRRP interface), VRRP included.
    let catch_all = |r: &Rule| {
        r.proto == Match::Any
            && r.daddr == Match::Any
            && r.saddr == Match::Any
            && !r.narrowed
            && r.iif.as_deref().is_none_or(|i| vrrp_ifs.contains(i))
    };
    let mut blocked = Vec::new();
    let mut policy = Vec::new();
    for chain in &rules.chains {
        // VRRP is local traffic: it never traverses a forward hook, and NAT chains do not drop.
        if chain.table.ends_with("nat") || chain.hook.as_deref() == Some("forward") {
            continue;
        }
        // A user chain may be reached from anywhere (FORWARD included): only rules that name
        // VRRP count there.
        let user_chain = chain.hook.is_none();
        let mut accepted = false;
        let mut dropped = false;
        for r in rules.rules_in(chain) {
            if r.verdict == Verdict::Accept
                && explicit(r)
                && r.proto.may_cover(firewall::is_vrrp_proto)
            {
                accepted = true;
                break;
            }
            let covers_vrrp = r.proto.may_cover(firewall::is_vrrp_proto)
                && (r.daddr == Match::Any
                    || names_vrrp_dest(&r.daddr)
                    || matches!(r.daddr, Match::Not(_)));
            if r.verdict.blocks()
                && covers_vrrp
                && (explicit(r)
                    || (!user_chain && (catch_all(r) || matches!(r.proto, Match::Not(_)))))
            {
                blocked.push(rule_evidence(r));
                dropped = true;
                break;
            }
        }
        let hook = chain.hook.as_deref();
        if !accepted
            && !dropped
            && chain.policy == Some(Verdict::Drop)
            && matches!(hook, Some("input") | Some("output"))
        {
            policy.push(format!(
                "{} ({}/{}): policy DROP and no rule accepts VRRP",
                chain.origin.label(),
                chain.table,
                chain.name
            ));
        }
    }
    let accept_rules = format!(
        "iptables -I INPUT -p vrrp -j ACCEPT; iptables -I OUTPUT -p vrrp -j ACCEPT \
         (nft: `meta l4proto vrrp accept` in the input and output chains){}",
        if peers.is_empty() {
            format!(
                "; the adverts go to {} (IPv6: {})",
                cfg.global.vrrp_mcast_group4, cfg.global.vrrp_mcast_group6
            )
        } else {
            String::new()
        }
    );
    let mut out = Vec::new();
    if !blocked.is_empty() {
        out.push(
            Finding::new(
                "vrrp-blocked",
                Severity::Error,
                "a firewall rule drops VRRP (IP protocol 112 or the VRRP multicast group): the \
                 directors cannot hear each other's adverts and both become MASTER (split brain)",
                format!("remove the rule, or accept VRRP before it: {accept_rules}"),
            )
            .with_evidence(blocked),
        );
    }
    if !policy.is_empty() {
        out.push(
            Finding::new(
                "vrrp-policy-drop",
                Severity::Error,
                "a firewall chain drops by default and no rule in it accepts VRRP: adverts are \
                 dropped and both directors become MASTER (split brain)",
                format!("accept VRRP explicitly: {accept_rules}"),
            )
            .with_evidence(policy),
        );
    }
    out
}

/// Interfaces named in the configuration that do not exist on this host.
pub fn interface_missing(cfg: &Config, facts: &HostFacts) -> Vec<Finding> {
    // (interface, what names it, where)
    let mut named: Vec<(String, String, Span)> = Vec::new();
    let vmacs: BTreeSet<String> = cfg.instances.iter().filter_map(vmac_name).collect();
    for inst in &cfg.instances {
        let who = format!("vrrp_instance {}", inst.name);
        named.push((
            inst.interface.clone(),
            format!("{who} interface"),
            inst.span.clone(),
        ));
        for v in inst
            .virtual_ipaddress
            .iter()
            .chain(&inst.virtual_ipaddress_excluded)
        {
            if let Some(d) = &v.dev {
                named.push((
                    d.clone(),
                    format!("{who} VIP {} dev", v.addr),
                    v.span.clone(),
                ));
            }
        }
        for t in &inst.track_interface {
            named.push((
                t.name.clone(),
                format!("{who} track_interface"),
                t.span.clone(),
            ));
        }
        for r in &inst.virtual_routes {
            if let Some(d) = &r.dev {
                named.push((
                    d.clone(),
                    format!("{who} virtual_routes dev"),
                    r.span.clone(),
                ));
            }
        }
        for r in &inst.virtual_rules {
            for d in [&r.iif, &r.oif].into_iter().flatten() {
                named.push((d.clone(), format!("{who} virtual_rules"), r.span.clone()));
            }
        }
    }
    for g in &cfg.sync_groups {
        for t in &g.track_interface {
            named.push((
                t.name.clone(),
                format!("vrrp_sync_group {} track_interface", g.name),
                t.span.clone(),
            ));
        }
    }
    for v in &cfg.static_ipaddress {
        if let Some(d) = &v.dev {
            named.push((
                d.clone(),
                format!("static_ipaddress {}", v.addr),
                v.span.clone(),
            ));
        }
    }
    for r in &cfg.static_routes {
        if let Some(d) = &r.dev {
            named.push((
                d.clone(),
                format!("static_routes {}", r.dst),
                r.span.clone(),
            ));
        }
    }
    if let Some(s) = &cfg.global.lvs_sync_daemon {
        let span = cfg.global.span.clone().unwrap_or_default();
        named.push((
            s.interface.clone(),
            "global_defs lvs_sync_daemon".into(),
            span,
        ));
    }
    let present: Vec<&str> = facts.interfaces.iter().map(|i| i.name.as_str()).collect();
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for (ifname, what, span) in named {
        if vmacs.contains(&ifname) || facts.interface(&ifname).is_some() {
            continue;
        }
        if !seen.insert((ifname.clone(), what.clone())) {
            continue;
        }
        out.push(
            Finding::new(
                "interface-missing",
                Severity::Error,
                format!("{what} names interface {ifname}, which does not exist on this host"),
                format!(
                    "fix the name in the configuration (this host has: {}), or create the \
                     interface before rampart starts; an instance whose interface is missing \
                     stays in FAULT",
                    present.join(", ")
                ),
            )
            .at(&span),
        );
    }
    out
}

/// A VIP already on this host. On another interface than the one rampart puts it on, it is
/// always wrong (two interfaces answer for it; on a director it is usually a leftover of a DR
/// real-server setup on lo). On its own interface it is right exactly when a VRRP daemon that
/// is MASTER put it there; with no VRRP daemon running, someone configured it statically, and
/// it will stay when this director is BACKUP: both directors then answer ARP for it. The
/// configured `state` is only the starting point of the election, so it does not decide this.
pub fn vip_elsewhere(cfg: &Config, facts: &HostFacts) -> Vec<Finding> {
    let mut out = Vec::new();
    for inst in &cfg.instances {
        for vip in inst
            .virtual_ipaddress
            .iter()
            .chain(&inst.virtual_ipaddress_excluded)
        {
            let target = vip_device(inst, vip);
            let mut holders = facts.holders(vip.addr);
            // A link-local address is scoped to its link: the same fe80:: address on another
            // interface is another address.
            if matches!(vip.addr, IpAddr::V6(a) if a.segments()[0] & 0xffc0 == 0xfe80) {
                holders.retain(|i| i.name == target);
            }
            let others: Vec<&str> = holders
                .iter()
                .map(|i| i.name.as_str())
                .filter(|n| *n != target)
                .collect();
            if let Some(first) = others.first() {
                let lo_hint = if *first == "lo" {
                    " (a VIP on lo is how an LVS-DR real server is prepared: if this host was \
                     one, `rampart realserver teardown` undoes it)"
                } else {
                    ""
                };
                out.push(
                    Finding::new(
                        "vip-on-other-interface",
                        Severity::Error,
                        format!(
                            "VIP {} of vrrp_instance {} is already on {} but belongs on {target}: \
                             this host answers for it whatever the VRRP state{lo_hint}",
                            vip.addr,
                            inst.name,
                            others.join(", ")
                        ),
                        format!(
                            "ip addr del {}/{} dev {first} (and remove it from the network \
                             configuration); rampart adds it on {target} when MASTER",
                            vip.addr, vip.prefix_len
                        ),
                    )
                    .at(&vip.span),
                );
            } else if !holders.is_empty() && facts.vrrp_daemons.is_empty() {
                let state_note = match inst.initial_state {
                    InitialState::Backup => " (this instance starts as BACKUP)",
                    InitialState::Master => "",
                };
                out.push(
                    Finding::new(
                        "vip-present-without-daemon",
                        Severity::Warning,
                        format!(
                            "VIP {} of vrrp_instance {} is already on {target} although no \
                             rampart or keepalived is running here{state_note}: it was added by \
                             hand or by the network configuration, and will stay when this \
                             director is BACKUP, so both directors answer ARP (or ND) for it",
                            vip.addr, inst.name
                        ),
                        format!(
                            "ip addr del {}/{} dev {target}, and remove it from the network \
                             configuration (ifupdown, netplan, NetworkManager): only rampart \
                             should add a VIP",
                            vip.addr, vip.prefix_len
                        ),
                    )
                    .at(&vip.span),
                );
            }
        }
    }
    out
}

/// Which keyword puts an instance in strict mode: its own `strict_mode` (which also turns it
/// off under a global `vrrp_strict`), else `vrrp_strict`; None when not strict.
fn strict_source(inst: &crate::config::VrrpInstance, cfg: &Config) -> Option<&'static str> {
    match inst.strict_mode {
        Some(true) => Some("strict_mode"),
        Some(false) => None,
        None => cfg.global.vrrp_strict.then_some("vrrp_strict"),
    }
}

/// `vrrp_strict` / `strict_mode` (keepalived's strict RFC compliance) refuses, or changes the
/// meaning of, several settings. The configuration front end already refuses unicast peers,
/// authentication, preempt_delay and a MASTER state below priority 255 under vrrp_strict; the
/// checks here are the rest, above all what strict mode does to a virtual server on a VIP.
pub fn vrrp_strict(cfg: &Config) -> Vec<Finding> {
    let mut out = Vec::new();
    for inst in &cfg.instances {
        let name = &inst.name;
        if inst.nopreempt && inst.initial_state == InitialState::Master {
            out.push(
                Finding::new(
                    "nopreempt-master",
                    Severity::Warning,
                    format!(
                        "vrrp_instance {name} has nopreempt but state MASTER: nopreempt only \
                         works when the initial state is BACKUP (a MASTER start takes over anyway)"
                    ),
                    "use `state BACKUP` on every director of a nopreempt pair",
                )
                .at(&inst.span),
            );
        }
        let Some(kw) = strict_source(inst, cfg) else {
            continue;
        };
        // The fix names the keyword that turned strict mode on: `remove vrrp_strict` does not
        // help an instance with its own `strict_mode`.
        let strict = |id: &'static str, sev: Severity, msg: String, fix: &str| {
            Finding::new(
                id,
                sev,
                format!("{kw}: vrrp_instance {name} {msg}"),
                fix.replace("remove vrrp_strict", &format!("remove {kw}")),
            )
            .at(&inst.span)
        };
        if inst.virtual_ipaddress.is_empty() {
            out.push(strict(
                "vrrp-strict-no-vip",
                Severity::Error,
                "has no virtual_ipaddress; strict mode requires at least one".into(),
                "add the VIP(s) to virtual_ipaddress",
            ));
        }
        if inst.virtual_ipaddress.len() > 20 {
            out.push(strict(
                "vrrp-strict-too-many-vips",
                Severity::Warning,
                format!(
                    "lists {} VIPs in virtual_ipaddress; every one is carried in each advert and \
                     checked by the peer in strict mode, and keepalived 1.x kept only the first 20",
                    inst.virtual_ipaddress.len()
                ),
                "keep at most 20 addresses in virtual_ipaddress and move the rest to \
                 virtual_ipaddress_excluded (they still move with the instance)",
            ));
        }
        if inst.vmac_xmit_base {
            out.push(strict(
                "vrrp-strict-vmac-xmit-base",
                Severity::Error,
                "sets vmac_xmit_base, which strict mode does not allow".into(),
                "remove vmac_xmit_base, or remove vrrp_strict",
            ));
        }
        // Strict mode implies no_accept unless the instance owns the address (priority 255):
        // packets to the VIPs are dropped by a firewall rule, so a virtual server on a VIP
        // receives nothing. VRRPv2 cannot even set `accept` in strict mode.
        let accepts = inst.accept.unwrap_or(inst.priority == 255);
        if !accepts {
            let vips: Vec<IpAddr> = inst
                .virtual_ipaddress
                .iter()
                .chain(&inst.virtual_ipaddress_excluded)
                .map(|v| v.addr)
                .collect();
            let served: Vec<String> = cfg
                .virtual_servers
                .iter()
                .filter(|vs| vs_addrs(cfg, &vs.key).iter().any(|a| vips.contains(a)))
                .map(|vs| format!("virtual_server {} at {}", vs_label(&vs.key), vs.span))
                .collect();
            if !served.is_empty() {
                let v3 = inst.version_or(&cfg.global).number() == 3;
                out.push(
                    strict(
                        "vrrp-strict-no-accept",
                        Severity::Error,
                        format!(
                            "runs in no_accept mode (implied by {kw} below priority 255): the \
                             firewall drops packets addressed to its VIPs, so the virtual servers \
                             on them receive nothing"
                        ),
                        if v3 {
                            "add `accept` to the vrrp_instance, or remove vrrp_strict"
                        } else {
                            "remove vrrp_strict (VRRPv2 cannot set `accept` in strict mode), or \
                             switch to `vrrp_version 3` and add `accept`"
                        },
                    )
                    .with_evidence(served),
                );
            }
        }
    }
    out
}

/// In DR and TUN mode the kernel forwards to the port the client used and ignores the real
/// server's port (seed 003: `ipvsadm-save` showed ports 10 and 11 turned into 80). A different
/// port in the configuration is at best misleading, and its health check probes a port that
/// receives no traffic.
pub fn realserver_port_ignored(cfg: &Config) -> Vec<Finding> {
    let mut out = Vec::new();
    for vs in &cfg.virtual_servers {
        let VsKey::Addr { port: vport, .. } = vs.key else {
            continue;
        };
        for rs in &vs.real_servers {
            let kind = rs.lb_kind.unwrap_or(vs.lb_kind);
            let mode = match kind {
                ForwardMethod::Dr => "DR",
                ForwardMethod::Tun => "TUN",
                ForwardMethod::Nat => continue,
            };
            let Some(rport) = rs.port.filter(|p| *p != vport) else {
                continue;
            };
            out.push(
                Finding::new(
                    "realserver-port-ignored",
                    Severity::Warning,
                    format!(
                        "real_server {} {rport} of virtual_server {} uses {mode}, which cannot change \
                         the port: clients' packets arrive at {}:{vport}, and a health check on port \
                         {rport} tests a service that receives no traffic",
                        rs.addr,
                        vs_label(&vs.key),
                        rs.addr
                    ),
                    format!(
                        "write `real_server {} {vport}` (the service must listen on {vport} on the \
                         real server), or use lb_kind NAT to map {vport} to {rport}",
                        rs.addr
                    ),
                )
                .at(&rs.span),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::facts::Interface;
    use super::*;
    use crate::config::*;
    use std::time::Duration;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn vip(a: &str) -> VirtualIp {
        VirtualIp {
            addr: ip(a),
            prefix_len: if ip(a).is_ipv4() { 32 } else { 128 },
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

    pub(crate) fn instance(name: &str, ifname: &str, vips: &[&str]) -> VrrpInstance {
        let mut i = VrrpInstance::new(name, ifname, 51, Span::builtin());
        i.virtual_ipaddress = vips.iter().map(|v| vip(v)).collect();
        i
    }

    fn real(addr: &str) -> RealServer {
        RealServer {
            addr: ip(addr),
            port: Some(80),
            weight: 1,
            inhibit_on_failure: None,
            lb_kind: None,
            tunnel: None,
            notify_up: None,
            notify_down: None,
            uthreshold: 0,
            lthreshold: 0,
            smtp_alert: None,
            alpha: None,
            delay_loop: None,
            checkers: vec![],
            file_checks: Vec::new(),
            span: Span::builtin(),
        }
    }

    pub(crate) fn virtual_server(addr: &str, kind: ForwardMethod, reals: &[&str]) -> VirtualServer {
        let key = VsKey::Addr {
            addr: ip(addr),
            port: 80,
        };
        let mut vs = VirtualServer::new(key, Span::builtin());
        vs.delay_loop = Duration::from_secs(6);
        vs.lb_algo = Some(Scheduler::Wrr);
        vs.lb_kind = kind;
        vs.persistence_timeout = Some(60);
        vs.real_servers = reals.iter().map(|r| real(r)).collect();
        vs
    }

    /// Seed 004's shape on 10.x addresses: WAN and LAN instances, one NAT virtual server.
    fn nat_director() -> Config {
        Config {
            instances: vec![
                instance("LVS_WAN", "wan0", &["10.0.1.100"]),
                instance("LVS_LAN", "lan0", &["10.0.2.1"]),
            ],
            virtual_servers: vec![virtual_server(
                "10.0.1.100",
                ForwardMethod::Nat,
                &["10.0.2.11", "10.0.2.12"],
            )],
            ..Default::default()
        }
    }

    /// A healthy host for `nat_director`.
    fn healthy() -> HostFacts {
        let mut f = HostFacts::default();
        f.ipvs.loaded = true;
        f.sysctls.insert(IP_FORWARD.into(), "1".into());
        f.sysctls.insert(VS_CONNTRACK.into(), "0".into());
        for (n, a) in [
            ("lo", "127.0.0.1"),
            ("wan0", "10.0.1.2"),
            ("lan0", "10.0.2.2"),
        ] {
            f.interfaces.push(Interface {
                name: n.into(),
                up: true,
                addrs: vec![(ip(a), 24)],
            });
        }
        f.iptables = Some("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\nCOMMIT\n".into());
        f
    }

    fn ids(fs: &[Finding]) -> Vec<&'static str> {
        fs.iter().map(|f| f.id).collect()
    }

    #[test]
    fn a_healthy_director_has_no_findings() {
        assert_eq!(run(&nat_director(), &healthy()), vec![]);
    }

    #[test]
    fn ipvs_missing_only_matters_with_virtual_servers() {
        let mut f = healthy();
        f.ipvs = super::super::facts::IpvsFacts {
            loaded: false,
            modprobe: Some(Err("modprobe: FATAL: Module ip_vs not found".into())),
        };
        let fs = ipvs_missing(&nat_director(), &f);
        assert_eq!(ids(&fs), ["ipvs-missing"]);
        assert!(fs[0].message.contains("Module ip_vs not found"));
        let mut vrrp_only = nat_director();
        vrrp_only.virtual_servers.clear();
        assert!(ipvs_missing(&vrrp_only, &f).is_empty());
        f.ipvs.modprobe = Some(Ok(()));
        assert!(ipvs_missing(&nat_director(), &f).is_empty());
    }

    #[test]
    fn ip_forward_off_with_nat_only() {
        let mut f = healthy();
        f.sysctls.insert(IP_FORWARD.into(), "0".into());
        assert_eq!(
            ids(&ip_forward_off(&nat_director(), &f)),
            ["ip-forward-off"]
        );
        let mut dr = nat_director();
        dr.virtual_servers[0].lb_kind = ForwardMethod::Dr;
        assert!(ip_forward_off(&dr, &f).is_empty());
        // One NAT real server in a DR service is enough.
        dr.virtual_servers[0].real_servers[1].lb_kind = Some(ForwardMethod::Nat);
        assert_eq!(ids(&ip_forward_off(&dr, &f)), ["ip-forward-off"]);
    }

    #[test]
    fn ipv6_nat_needs_ipv6_forwarding() {
        let mut cfg = nat_director();
        cfg.virtual_servers = vec![virtual_server(
            "2001:db8::100",
            ForwardMethod::Nat,
            &["2001:db8:2::11"],
        )];
        let mut f = healthy();
        f.sysctls.insert(IP_FORWARD.into(), "0".into());
        f.sysctls.insert(IPV6_FORWARDING.into(), "0".into());
        let fs = ip_forward_off(&cfg, &f);
        assert_eq!(fs.len(), 1);
        assert!(fs[0].message.contains(IPV6_FORWARDING));
    }

    #[test]
    fn vs_conntrack_off_with_seed_000s_masquerade() {
        let mut f = healthy();
        f.iptables = Some(
            "*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -m ipvs --vaddr 10.0.1.100/32 -j MASQUERADE\nCOMMIT\n".into(),
        );
        let fs = run(&nat_director(), &f);
        assert_eq!(ids(&fs), ["vs-conntrack-off"]);
        assert!(fs[0].evidence[0].contains("MASQUERADE"));
        f.sysctls.insert(VS_CONNTRACK.into(), "1".into());
        assert!(run(&nat_director(), &f).is_empty());
        // No IPVS sysctl at all (no IPVS): this check stays quiet, ipvs-missing speaks.
        f.sysctls.remove(VS_CONNTRACK);
        assert!(vs_conntrack_off(&nat_director(), &f, &firewall::from_facts(&f)).is_empty());
    }

    #[test]
    fn vs_conntrack_off_with_an_address_rule_or_a_stateful_forward_chain() {
        let mut f = healthy();
        f.nft = Some(
            "table inet fw {\n\tchain post {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n\t\tip daddr 10.0.2.0/24 masquerade\n\t}\n}\n".into(),
        );
        assert_eq!(ids(&run(&nat_director(), &f)), ["vs-conntrack-off"]);
        // A masquerade for some other network is not about IPVS.
        f.nft = Some(f.nft.unwrap().replace("10.0.2.0/24", "192.168.9.0/24"));
        assert!(run(&nat_director(), &f).is_empty());
        f.iptables = Some(
            "*filter\n:FORWARD DROP [0:0]\n-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\nCOMMIT\n".into(),
        );
        assert_eq!(ids(&run(&nat_director(), &f)), ["vs-conntrack-off"]);
    }

    #[test]
    fn vrrp_blocked_by_protocol_group_or_catch_all() {
        let cfg = nat_director();
        for rule in [
            "-A INPUT -p vrrp -j DROP",
            "-A INPUT -p 112 -j REJECT --reject-with icmp-port-unreachable",
            "-A INPUT -d 224.0.0.18/32 -j DROP",
            "-A INPUT -d 224.0.0.0/4 -j DROP",
            "-A INPUT -i lan0 -j DROP",
            "-A OUTPUT -p vrrp -j DROP",
            "-A INPUT ! -p tcp -j DROP",
        ] {
            let mut f = healthy();
            f.iptables = Some(format!(
                "*filter\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n{rule}\nCOMMIT\n"
            ));
            let fs = run(&cfg, &f);
            assert_eq!(ids(&fs), ["vrrp-blocked"], "{rule}");
            assert!(fs[0].evidence[0].contains(rule), "{rule}");
        }
        for rule in [
            "-A INPUT -p tcp --dport 22 -j DROP",
            "-A INPUT -d 10.9.9.9/32 -j DROP",
            "-A INPUT -i eth9 -j DROP",
            "-A INPUT ! -p vrrp -j DROP",
        ] {
            let mut f = healthy();
            f.iptables = Some(format!("*filter\n:INPUT ACCEPT [0:0]\n{rule}\nCOMMIT\n"));
            assert_eq!(run(&cfg, &f), vec![], "{rule}");
        }
        // Forwarded traffic is not VRRP; a user chain's catch-all may only see forwarded
        // traffic (Docker's chains).
        for rules in [
            ":FORWARD ACCEPT [0:0]\n-A FORWARD -j DROP",
            ":DOCKER-USER - [0:0]\n-A DOCKER-USER -j DROP",
        ] {
            let mut f = healthy();
            f.iptables = Some(format!("*filter\n{rules}\nCOMMIT\n"));
            assert_eq!(run(&cfg, &f), vec![], "{rules}");
        }
        let mut f = healthy();
        f.iptables = Some("*filter\n:MYCHAIN - [0:0]\n-A MYCHAIN -p vrrp -j DROP\nCOMMIT\n".into());
        assert_eq!(ids(&run(&cfg, &f)), ["vrrp-blocked"]);
        // An accept for VRRP before the catch-all drop makes it fine.
        let mut f = healthy();
        f.iptables = Some(
            "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p vrrp -j ACCEPT\n-A INPUT -j DROP\nCOMMIT\n"
                .into(),
        );
        assert_eq!(run(&cfg, &f), vec![]);
        // Nothing to block without VRRP instances.
        let mut lvs_only = cfg.clone();
        lvs_only.instances.clear();
        f.iptables =
            Some("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p vrrp -j DROP\nCOMMIT\n".into());
        assert!(vrrp_blocked(&lvs_only, &firewall::from_facts(&f)).is_empty());
    }

    #[test]
    fn vrrp_blocked_in_nft_and_by_policy() {
        let cfg = nat_director();
        let mut f = healthy();
        f.nft = Some("table inet fw {\n\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n\t\tmeta l4proto vrrp counter packets 0 bytes 0 drop\n\t}\n}\n".into());
        assert_eq!(ids(&run(&cfg, &f)), ["vrrp-blocked"]);
        f.nft = Some("table inet fw {\n\tchain input {\n\t\ttype filter hook input priority filter; policy drop;\n\t\tct state established accept\n\t\ttcp dport 22 accept\n\t}\n}\n".into());
        assert_eq!(ids(&run(&cfg, &f)), ["vrrp-policy-drop"]);
        f.nft = Some(
            f.nft
                .unwrap()
                .replace("tcp dport 22 accept", "ip protocol vrrp accept"),
        );
        assert_eq!(run(&cfg, &f), vec![]);
    }

    #[test]
    fn interface_missing_names_each_reference() {
        let mut cfg = nat_director();
        cfg.instances[1].interface = "eth1".into();
        cfg.instances[0].track_interface.push(TrackInterface {
            name: "bond0".into(),
            weight: None,
            span: Span::builtin(),
        });
        let fs = interface_missing(&cfg, &healthy());
        assert_eq!(ids(&fs), ["interface-missing", "interface-missing"]);
        assert!(fs[0].message.contains("bond0") || fs[1].message.contains("bond0"));
        assert!(
            fs.iter()
                .any(|f| f.message.contains("LVS_LAN interface names interface eth1"))
        );
        // A use_vmac interface is created by rampart: not missing.
        let mut vmac = nat_director();
        vmac.instances[0].use_vmac = Some(Some("vrrp.51".into()));
        vmac.instances[0].virtual_ipaddress[0].dev = Some("vrrp.51".into());
        assert!(interface_missing(&vmac, &healthy()).is_empty());
    }

    #[test]
    fn vip_on_another_interface_is_an_error() {
        let mut f = healthy();
        f.interfaces[0].addrs.push((ip("10.0.1.100"), 32));
        let fs = run(&nat_director(), &f);
        assert_eq!(ids(&fs), ["vip-on-other-interface"]);
        assert!(
            fs[0].message.contains("realserver teardown"),
            "{}",
            fs[0].message
        );
    }

    #[test]
    fn a_link_local_vip_on_another_link_is_another_address() {
        let mut cfg = nat_director();
        cfg.instances[0].virtual_ipaddress.push(vip("fe80::1"));
        let mut f = healthy();
        f.interfaces[2].addrs.push((ip("fe80::1"), 64));
        assert_eq!(run(&cfg, &f), vec![]);
    }

    #[test]
    fn unicast_only_instances_do_not_care_about_the_multicast_group() {
        let mut cfg = nat_director();
        for i in &mut cfg.instances {
            i.unicast_peer.push(UnicastPeer {
                addr: ip("10.0.1.3"),
                span: Span::builtin(),
            });
        }
        let mut f = healthy();
        f.iptables = Some(
            "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -d 224.0.0.18/32 -j DROP\nCOMMIT\n".into(),
        );
        assert_eq!(run(&cfg, &f), vec![]);
        f.iptables =
            Some("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p vrrp -j DROP\nCOMMIT\n".into());
        assert_eq!(ids(&run(&cfg, &f)), ["vrrp-blocked"]);
    }

    #[test]
    fn vip_on_its_own_interface_depends_on_who_put_it_there() {
        let mut f = healthy();
        f.interfaces[1].addrs.push((ip("10.0.1.100"), 32));
        assert_eq!(
            ids(&run(&nat_director(), &f)),
            ["vip-present-without-daemon"]
        );
        f.vrrp_daemons.push("keepalived (pid 42)".into());
        assert_eq!(run(&nat_director(), &f), vec![]);
    }

    #[test]
    fn vrrp_strict_rules() {
        // Seed 004's shape under vrrp_strict (VRRPv2, no accept): the VS on the WAN VIP gets
        // nothing, and v2 cannot set accept.
        let mut cfg = nat_director();
        cfg.global.vrrp_strict = true;
        cfg.instances[1].vmac_xmit_base = true;
        let fs = vrrp_strict(&cfg);
        assert_eq!(
            ids(&fs),
            ["vrrp-strict-no-accept", "vrrp-strict-vmac-xmit-base"]
        );
        assert!(fs[0].fix.contains("vrrp_version 3"));
        assert!(fs[0].evidence[0].contains("10.0.1.100:80"));
        // The address owner accepts by default.
        cfg.instances[0].priority = 255;
        cfg.instances[1].vmac_xmit_base = false;
        assert_eq!(vrrp_strict(&cfg), vec![]);

        let mut clean = nat_director();
        clean.global.vrrp_strict = true;
        clean.global.vrrp_version = VrrpVersion::V3;
        clean.instances[0].accept = Some(true);
        assert_eq!(vrrp_strict(&clean), vec![]);
        let mut v3_no_accept = clean.clone();
        v3_no_accept.instances[0].accept = None;
        let fs = vrrp_strict(&v3_no_accept);
        assert_eq!(ids(&fs), ["vrrp-strict-no-accept"]);
        assert!(fs[0].fix.starts_with("add `accept`"));

        let mut many = clean.clone();
        many.instances[1].virtual_ipaddress =
            (1..=21).map(|n| vip(&format!("10.0.2.{n}"))).collect();
        assert_eq!(ids(&vrrp_strict(&many)), ["vrrp-strict-too-many-vips"]);
        many.instances[1].virtual_ipaddress.clear();
        assert_eq!(ids(&vrrp_strict(&many)), ["vrrp-strict-no-vip"]);
        // Without vrrp_strict none of this applies.
        let mut lax = many.clone();
        lax.global.vrrp_strict = false;
        assert_eq!(vrrp_strict(&lax), vec![]);
    }

    #[test]
    fn per_instance_strict_mode_counts_like_vrrp_strict() {
        // strict_mode on one instance, no global vrrp_strict: that instance is checked and
        // the message and fix name strict_mode.
        let mut cfg = nat_director();
        cfg.instances[1].strict_mode = Some(true);
        cfg.instances[1].vmac_xmit_base = true;
        let fs = vrrp_strict(&cfg);
        assert_eq!(ids(&fs), ["vrrp-strict-vmac-xmit-base"]);
        assert!(
            fs[0].message.starts_with("strict_mode: vrrp_instance "),
            "{fs:?}"
        );
        assert_eq!(fs[0].fix, "remove vmac_xmit_base, or remove strict_mode");
        cfg.instances[0].strict_mode = Some(true);
        let fs = vrrp_strict(&cfg);
        assert_eq!(
            ids(&fs),
            ["vrrp-strict-no-accept", "vrrp-strict-vmac-xmit-base"]
        );
        assert!(fs[0].message.contains("implied by strict_mode"), "{fs:?}");
        // `strict_mode off` exempts an instance from the global vrrp_strict.
        let mut cfg = nat_director();
        cfg.global.vrrp_strict = true;
        cfg.instances[0].strict_mode = Some(false);
        cfg.instances[1].vmac_xmit_base = true;
        let fs = vrrp_strict(&cfg);
        assert_eq!(ids(&fs), ["vrrp-strict-vmac-xmit-base"]);
        assert!(fs[0].message.starts_with("vrrp_strict: "), "{fs:?}");
        assert_eq!(fs[0].fix, "remove vmac_xmit_base, or remove vrrp_strict");
    }

    #[test]
    fn nopreempt_with_master_state_without_strict() {
        let mut cfg = nat_director();
        cfg.instances[0].nopreempt = true;
        cfg.instances[0].initial_state = InitialState::Master;
        assert_eq!(ids(&vrrp_strict(&cfg)), ["nopreempt-master"]);
    }

    #[test]
    fn dr_and_tun_real_server_ports_must_match() {
        let mut cfg = nat_director();
        cfg.virtual_servers[0].real_servers[0].port = Some(8080);
        assert!(realserver_port_ignored(&cfg).is_empty(), "NAT maps ports");
        cfg.virtual_servers[0].lb_kind = ForwardMethod::Tun;
        let fs = realserver_port_ignored(&cfg);
        assert_eq!(ids(&fs), ["realserver-port-ignored"]);
        assert!(fs[0].fix.contains("real_server 10.0.2.11 80"));
        cfg.virtual_servers[0].real_servers[0].lb_kind = Some(ForwardMethod::Nat);
        assert!(realserver_port_ignored(&cfg).is_empty());
    }

    #[test]
    fn every_id_is_listed() {
        let src = include_str!("checks.rs");
        for id in CHECK_IDS {
            assert!(src.matches(&format!("\"{id}\"")).count() >= 2, "{id}");
        }
    }
}
