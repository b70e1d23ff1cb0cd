//! Cross-checks over the parsed model: references, uniqueness, consistency.

use super::diag::{DiagClass, Diagnostic, Span};
use super::model::*;
use super::parser::InstanceSpans;
use std::collections::HashMap;

pub struct Extra<'a> {
    pub instance_spans: &'a [(String, InstanceSpans)],
    pub member_spans: &'a [(String, Vec<Span>)],
}

fn err(d: &mut Vec<Diagnostic>, class: DiagClass, span: &Span, msg: String) {
    d.push(Diagnostic::error(class, Some(span.clone()), msg));
}

pub fn validate(cfg: &Config, extra: &Extra<'_>, d: &mut Vec<Diagnostic>) {
    ignored_weights(cfg, d);
    let mut suggestions = 0usize;
    // Unique names.
    let mut scripts: HashMap<&str, &Span> = HashMap::new();
    for s in &cfg.vrrp_scripts {
        if let Some(prev) = scripts.insert(&s.name, &s.span) {
            err(
                d,
                DiagClass::Duplicate,
                &s.span,
                format!(
                    "vrrp_script `{}` defined twice (first at line {})",
                    s.name, prev.line
                ),
            );
        }
    }
    let mut instances: HashMap<&str, &Span> = HashMap::new();
    for i in &cfg.instances {
        if let Some(prev) = instances.insert(&i.name, &i.span) {
            err(
                d,
                DiagClass::Duplicate,
                &i.span,
                format!(
                    "vrrp_instance `{}` defined twice (first at line {})",
                    i.name, prev.line
                ),
            );
        }
    }
    let mut groups: HashMap<&str, &Span> = HashMap::new();
    for g in &cfg.sync_groups {
        if let Some(prev) = groups.insert(&g.name, &g.span) {
            err(
                d,
                DiagClass::Duplicate,
                &g.span,
                format!(
                    "vrrp_sync_group `{}` defined twice (first at line {})",
                    g.name, prev.line
                ),
            );
        }
    }

    let instance_spans: HashMap<&str, &InstanceSpans> = extra
        .instance_spans
        .iter()
        .map(|(n, s)| (n.as_str(), s))
        .collect();
    let spans_of = |name: &str| instance_spans.get(name).copied();

    // VRID per interface and family.
    let mut vrids: HashMap<(&str, Family, u8), &VrrpInstance> = HashMap::new();
    for i in &cfg.instances {
        let sp = spans_of(&i.name);
        if i.virtual_router_id != 0 {
            let key = (i.interface.as_str(), i.family(), i.virtual_router_id);
            if let Some(prev) = vrids.get(&key) {
                let at = sp
                    .and_then(|s| s.vrid.clone())
                    .unwrap_or_else(|| i.span.clone());
                err(
                    d,
                    DiagClass::Semantic,
                    &at,
                    format!(
                        "virtual_router_id {} is already used on interface {} ({}) by vrrp_instance `{}` (line {})",
                        i.virtual_router_id,
                        i.interface,
                        if i.family() == Family::V4 {
                            "IPv4"
                        } else {
                            "IPv6"
                        },
                        prev.name,
                        prev.span.line
                    ),
                );
            } else {
                vrids.insert(key, i);
            }
        }
        // Mixed families.
        if let Some(first) = i.virtual_ipaddress.first() {
            if let Some(other) = i
                .virtual_ipaddress
                .iter()
                .find(|a| a.addr.is_ipv4() != first.addr.is_ipv4())
            {
                err(
                    d,
                    DiagClass::Semantic,
                    &other.span,
                    format!(
                        "vrrp_instance `{}` mixes IPv4 and IPv6 in virtual_ipaddress (first address {} at line {}); put the other family in virtual_ipaddress_excluded or another instance",
                        i.name, first.addr, first.span.line
                    ),
                );
            }
        }
        // Fractional advert_int with VRRPv2.
        if i.version_or(&cfg.global) == VrrpVersion::V2 && i.advert_int.subsec_nanos() != 0 {
            let at = sp
                .and_then(|s| s.advert_int.clone())
                .unwrap_or_else(|| i.span.clone());
            err(
                d,
                DiagClass::Semantic,
                &at,
                format!(
                    "advert_int {:?} has a fraction of a second, which VRRP version 2 cannot carry; use whole seconds or `version 3`",
                    i.advert_int
                ),
            );
        }
        // keepalived clears MASTER with AH (and `keepalived -t` exits 5).
        if i.initial_state == InitialState::Master
            && i.authentication
                .as_ref()
                .is_some_and(|a| a.auth_type == AuthType::Ah)
        {
            let at = sp
                .and_then(|s| s.state.clone())
                .unwrap_or_else(|| i.span.clone());
            d.push(
                Diagnostic::error(
                    DiagClass::Semantic,
                    Some(at),
                    format!(
                        "vrrp_instance `{}`: state MASTER is incompatible with auth_type AH",
                        i.name
                    ),
                )
                .with_help("use `state BACKUP` (the highest priority still becomes master)"),
            );
        }
        // RFC 5798 removed authentication (keepalived -t exits 5 as well).
        if i.authentication.is_some() && i.version_or(&cfg.global) == VrrpVersion::V3 {
            let at = sp
                .and_then(|s| s.authentication.clone())
                .unwrap_or_else(|| i.span.clone());
            d.push(
                Diagnostic::error(
                    DiagClass::Semantic,
                    Some(at),
                    format!(
                        "vrrp_instance `{}` uses VRRP version 3, which has no authentication",
                        i.name
                    ),
                )
                .with_help("remove the authentication block, or use `version 2` (IPv4 only)"),
            );
        }
        // vrrp_strict: what keepalived refuses (it "resets" and `keepalived -t` exits 5).
        if cfg.global.vrrp_strict {
            let strict = |d: &mut Vec<Diagnostic>, at: Option<Span>, what: &str| {
                d.push(
                    Diagnostic::error(
                        DiagClass::Semantic,
                        Some(at.unwrap_or_else(|| i.span.clone())),
                        format!(
                            "vrrp_instance `{}`: {what} is not allowed with vrrp_strict",
                            i.name
                        ),
                    )
                    .with_help("remove it, or remove vrrp_strict from global_defs"),
                );
            };
            if i.initial_state == InitialState::Master && i.priority != 255 {
                strict(
                    d,
                    sp.and_then(|s| s.state.clone()),
                    "state MASTER without priority 255 (address owner)",
                );
            }
            if i.authentication.is_some() {
                strict(
                    d,
                    sp.and_then(|s| s.authentication.clone()),
                    "authentication",
                );
            }
            if !i.preempt_delay.is_zero() {
                strict(d, sp.and_then(|s| s.preempt_delay.clone()), "preempt_delay");
            }
            if !i.unicast_peer.is_empty() {
                // keepalived 2.2.7 runs unicast under vrrp_strict ("Using unicast", `-t` exit
                // 0); RFC 5798 has no unicast, so say so, but do not refuse a working file.
                d.push(
                    Diagnostic::warning(
                        DiagClass::Semantic,
                        Some(
                            sp.and_then(|s| s.unicast_peer.clone())
                                .unwrap_or_else(|| i.span.clone()),
                        ),
                        format!(
                            "vrrp_instance `{}`: unicast_peer with vrrp_strict is not RFC 5798 VRRP (keepalived 2.2.7 allows it)",
                            i.name
                        ),
                    )
                    .with_help("remove vrrp_strict, or use multicast"),
                );
            }
        }
        // nopreempt needs BACKUP.
        if i.nopreempt && i.initial_state == InitialState::Master {
            let at = sp
                .and_then(|s| s.nopreempt.clone())
                .unwrap_or_else(|| i.span.clone());
            d.push(Diagnostic::warning(
                DiagClass::Semantic,
                Some(at),
                format!(
                    "vrrp_instance `{}` has nopreempt with state MASTER: keepalived ignores nopreempt unless the initial state is BACKUP",
                    i.name
                ),
            ).with_help("use `state BACKUP` on every node when using nopreempt"));
        }
        for t in &i.track_script {
            if !scripts.contains_key(t.name.as_str()) {
                unknown_script(&mut suggestions, d, &t.name, &t.span, &scripts);
            }
        }
        unknown_track_files(cfg, &i.track_file, d);
        unknown_track_processes(cfg, &i.track_process, d);
        // Unicast peers and the source address must share one family.
        let fam = i
            .unicast_src_ip
            .map(|a| a.is_ipv4())
            .or_else(|| i.unicast_peer.first().map(|p| p.addr.is_ipv4()));
        if let Some(v4) = fam {
            if let Some(p) = i.unicast_peer.iter().find(|p| p.addr.is_ipv4() != v4) {
                err(
                    d,
                    DiagClass::Semantic,
                    &p.span,
                    format!(
                        "unicast_peer {} is not of the same address family as {}",
                        p.addr,
                        i.unicast_src_ip
                            .map_or("the other peers".to_string(), |a| format!(
                                "unicast_src_ip {a}"
                            ))
                    ),
                );
            }
        }
        if i.virtual_ipaddress.is_empty() {
            d.push(Diagnostic::warning(
                DiagClass::Missing,
                Some(i.span.clone()),
                format!("vrrp_instance `{}` has no virtual_ipaddress", i.name),
            ));
        }
    }

    // Sync groups.
    let member_spans: HashMap<&str, &[Span]> = extra
        .member_spans
        .iter()
        .map(|(n, s)| (n.as_str(), s.as_slice()))
        .collect();
    let mut member_of: HashMap<&str, (&str, &Span)> = HashMap::new();
    for g in &cfg.sync_groups {
        let spans = member_spans.get(g.name.as_str()).copied().unwrap_or(&[]);
        for (k, m) in g.members.iter().enumerate() {
            let at = spans.get(k).unwrap_or(&g.span);
            if !instances.contains_key(m.as_str()) {
                let mut diag = Diagnostic::error(
                    DiagClass::Semantic,
                    Some(at.clone()),
                    format!(
                        "vrrp_sync_group `{}` names unknown vrrp_instance `{m}`",
                        g.name
                    ),
                );
                suggestions += 1;
                if suggestions <= super::parser::MAX_SUGGESTIONS
                    && let Some(s) = super::parser::did_you_mean(m, instances.keys().copied())
                {
                    diag = diag.with_help(format!("did you mean `{s}`?"));
                }
                d.push(diag);
                continue;
            }
            if let Some((other, _)) = member_of.get(m.as_str()) {
                if *other != g.name {
                    err(
                        d,
                        DiagClass::Semantic,
                        at,
                        format!(
                            "vrrp_instance `{m}` is in two sync groups: `{other}` and `{}`",
                            g.name
                        ),
                    );
                }
            } else {
                member_of.insert(m, (&g.name, at));
            }
        }
        for t in &g.track_script {
            if !scripts.contains_key(t.name.as_str()) {
                unknown_script(&mut suggestions, d, &t.name, &t.span, &scripts);
            }
        }
        unknown_track_files(cfg, &g.track_file, d);
        unknown_track_processes(cfg, &g.track_process, d);
    }

    if let (Some(s), Some(gspan)) = (&cfg.global.lvs_sync_daemon, &cfg.global.span)
        && !s.instance.is_empty()
        && !instances.contains_key(s.instance.as_str())
    {
        err(
            d,
            DiagClass::Semantic,
            gspan,
            format!(
                "lvs_sync_daemon names unknown vrrp_instance `{}`",
                s.instance
            ),
        );
    }

    // Virtual servers.
    let vsgs: HashMap<&str, &VirtualServerGroup> = cfg
        .virtual_server_groups
        .iter()
        .map(|g| (g.name.as_str(), g))
        .collect();
    let mut seen: HashMap<(&VsKey, Protocol), &Span> = HashMap::new();
    for vs in &cfg.virtual_servers {
        // FILE_CHECK { track_file NAME }: keepalived 2.2.7 "track_file NAME not found".
        for rs in &vs.real_servers {
            unknown_track_files(cfg, &rs.file_checks, d);
        }
        if let VsKey::Group(name) = &vs.key
            && !vsgs.contains_key(name.as_str())
        {
            err(
                d,
                DiagClass::Semantic,
                &vs.span,
                format!("virtual_server names unknown virtual_server_group `{name}`"),
            );
        }
        if let Some(prev) = seen.insert((&vs.key, vs.protocol), &vs.span) {
            err(
                d,
                DiagClass::Duplicate,
                &vs.span,
                format!(
                    "this virtual_server is defined twice (first at line {})",
                    prev.line
                ),
            );
        }
        if let VsKey::Addr { addr, port } = &vs.key {
            for rs in &vs.real_servers {
                let kind = rs.lb_kind.unwrap_or(vs.lb_kind);
                if kind != ForwardMethod::Nat
                    && let Some(p) = rs.port
                    && p != *port
                {
                    d.push(Diagnostic::warning(
                        DiagClass::Semantic,
                        Some(rs.span.clone()),
                        format!(
                            "real_server port {p} differs from the virtual server port {port}, but {} cannot translate ports: clients reach port {port}",
                            if kind == ForwardMethod::Dr { "DR" } else { "TUN" }
                        ),
                    ));
                }
                if rs.addr.is_ipv4() != addr.is_ipv4() && vs.lb_kind != ForwardMethod::Tun {
                    err(
                        d,
                        DiagClass::Semantic,
                        &rs.span,
                        format!(
                            "real_server {} is not of the virtual server's address family ({addr})",
                            rs.addr
                        ),
                    );
                }
            }
        }
        if let (Some(ss), false) = (&vs.sorry_server, vs.real_servers.is_empty())
            && vs
                .real_servers
                .iter()
                .any(|r| r.addr == ss.addr && (ss.port.is_none() || r.port == ss.port))
        {
            err(
                d,
                DiagClass::Duplicate,
                &ss.span,
                format!(
                    "sorry_server {} is also a real_server of this virtual_server",
                    ss.addr
                ),
            );
        }
    }
}

fn unknown_script(
    suggestions: &mut usize,
    d: &mut Vec<Diagnostic>,
    name: &str,
    span: &Span,
    scripts: &HashMap<&str, &Span>,
) {
    let mut diag = Diagnostic::error(
        DiagClass::Semantic,
        Some(span.clone()),
        format!("track_script names unknown vrrp_script `{name}`"),
    );
    *suggestions += 1;
    if *suggestions <= super::parser::MAX_SUGGESTIONS
        && let Some(s) = super::parser::did_you_mean(name, scripts.keys().copied())
    {
        diag = diag.with_help(format!("did you mean `{s}`?"));
    }
    d.push(diag);
}

/// `track_file { NAME }` entries naming no `track_file NAME { ... }` block.
fn unknown_track_files(cfg: &Config, refs: &[TrackFileRef], d: &mut Vec<Diagnostic>) {
    for t in refs {
        if cfg.track_file(&t.name).is_none() {
            let mut diag = Diagnostic::error(
                DiagClass::Semantic,
                Some(t.span.clone()),
                format!("track_file names unknown track_file block `{}`", t.name),
            );
            if let Some(s) = super::parser::did_you_mean(
                &t.name,
                cfg.track_files.iter().map(|f| f.name.as_str()),
            ) {
                diag = diag.with_help(format!("did you mean `{s}`?"));
            }
            d.push(diag);
        }
    }
}

/// `track_process { NAME }` entries naming no `vrrp_track_process NAME { ... }` block.
fn unknown_track_processes(
    cfg: &Config,
    refs: &[crate::config::model::TrackProcessRef],
    d: &mut Vec<Diagnostic>,
) {
    for t in refs {
        if cfg.track_process(&t.name).is_none() {
            let mut diag = Diagnostic::error(
                DiagClass::Semantic,
                Some(t.span.clone()),
                format!(
                    "track_process names unknown vrrp_track_process block `{}`",
                    t.name
                ),
            );
            if let Some(s) = super::parser::did_you_mean(
                &t.name,
                cfg.track_processes.iter().map(|p| p.name.as_str()),
            ) {
                diag = diag.with_help(format!("did you mean `{s}`?"));
            }
            d.push(diag);
        }
    }
}

/// keepalived 2.2.7 ignores tracking weights in sync group members (a weighted interface
/// means FAULT when down; weighted scripts and files are not tracked) and weighted scripts
/// and files of an address owner. rampart does the same (vrrp::fsm) and says so here, once
/// per configuration line.
fn ignored_weights(cfg: &Config, d: &mut Vec<Diagnostic>) {
    for i in &cfg.instances {
        let group = cfg.sync_group_of(&i.name).filter(|g| !g.tracking_weight);
        let why = if let Some(g) = group {
            format!("`{}` is in sync group `{}`", i.name, g.name)
        } else if i.priority == 255 {
            format!("`{}` is the address owner (priority 255)", i.name)
        } else {
            continue;
        };
        // An address owner's interfaces keep their weights; only sync group members lose them.
        let interfaces: &[TrackInterface] = if group.is_some() {
            &i.track_interface
        } else {
            &[]
        };
        let tracked = Tracked {
            interfaces,
            scripts: &i.track_script,
            files: &i.track_file,
            processes: &i.track_process,
        };
        warn_ignored_weights(cfg, d, tracked, &why, true);
    }
    for g in cfg.sync_groups.iter().filter(|g| !g.tracking_weight) {
        let why = format!(
            "the members of sync group `{}` ignore tracking weights",
            g.name
        );
        let tracked = Tracked {
            interfaces: &g.track_interface,
            scripts: &g.track_script,
            files: &g.track_file,
            processes: &g.track_process,
        };
        warn_ignored_weights(cfg, d, tracked, &why, false);
    }
}

/// The tracking lists of an instance or a sync group.
struct Tracked<'a> {
    interfaces: &'a [TrackInterface],
    scripts: &'a [TrackScript],
    files: &'a [TrackFileRef],
    processes: &'a [crate::config::model::TrackProcessRef],
}

/// One warning per weighted tracking line whose weight is ignored, `why` saying why; `hint`
/// adds the advice given for an instance's own scripts and files.
fn warn_ignored_weights(
    cfg: &Config,
    d: &mut Vec<Diagnostic>,
    tracked: Tracked<'_>,
    why: &str,
    hint: bool,
) {
    let mut warn = |span: &Span, msg: String| {
        d.push(Diagnostic::warning(
            DiagClass::Semantic,
            Some(span.clone()),
            msg,
        ));
    };
    for t in tracked
        .interfaces
        .iter()
        .filter(|t| t.weight.is_some_and(|w| w != 0))
    {
        warn(
            &t.span,
            format!(
                "weight of tracked interface `{}` ignored: {why}; it going down means FAULT (as in keepalived)",
                t.name
            ),
        );
    }
    for t in tracked.scripts {
        let weight = t.weight.or_else(|| cfg.script(&t.name).map(|s| s.weight));
        if let Some(w) = weight.filter(|w| *w != 0) {
            let advice = if hint {
                "; use weight 0 to go to FAULT on failure"
            } else {
                ""
            };
            warn(
                &t.span,
                format!(
                    "tracked script `{}` with weight {w} ignored: {why} (as in keepalived{advice})",
                    t.name
                ),
            );
        }
    }
    for t in tracked.files {
        let weight = t
            .weight
            .or_else(|| cfg.track_file(&t.name).map(|f| f.weight));
        if let Some(w) = weight.filter(|w| *w != 0) {
            let advice = if hint {
                "; use weight 0 to go to FAULT on a non-zero value"
            } else {
                ""
            };
            warn(
                &t.span,
                format!(
                    "tracked file `{}` with weight {w} ignored: {why} (as in keepalived{advice})",
                    t.name
                ),
            );
        }
    }
    for t in tracked.processes {
        let weight = t
            .weight
            .or_else(|| cfg.track_process(&t.name).map(|p| p.weight));
        if let Some(w) = weight.filter(|w| *w != 0) {
            let advice = if hint {
                "; use weight 0 to go to FAULT while the quorum is not met"
            } else {
                ""
            };
            warn(
                &t.span,
                format!(
                    "tracked process `{}` with weight {w} ignored: {why} (as in keepalived{advice})",
                    t.name
                ),
            );
        }
    }
}
