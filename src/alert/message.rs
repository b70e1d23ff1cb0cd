//! Which events become emails, and what those emails say: pure functions of the configuration
//! and the event, with keepalived's subjects and bodies (keepalived 2.2 `smtp.c`,
//! `vrrp_notify.c`, `ipwrapper.c` and the checkers), so filters users wrote for keepalived's
//! mail keep matching.
//!
//! keepalived's formats:
//! - instance: `[router_id] VRRP Instance VI_1 - Entering MASTER state`,
//!   body `=> VRRP Instance is now owning VRRP VIPs <=`;
//! - sync group: `[router_id] VRRP Group G1 - Entering MASTER state`,
//!   body `=> All VRRP group instances are now in MASTER state <=`;
//! - real server: `[router_id] Realserver [10.0.0.2]:tcp:80 of virtual server [10.0.0.1]:tcp:80 - UP`,
//!   body `=> TCP CHECK succeed on service <=` (the wording depends on the checker);
//! - quorum: `[router_id] Virtualserver [10.0.0.1]:tcp:80 - DOWN`,
//!   body `=> Lost quorum 2+0=2 <= 1 <=`.

use crate::config::{CheckerKind, Config, RealServer, VirtualServer, VsKey};
use crate::events::{Endpoint, Event, VrrpStateName};
use std::net::IpAddr;

/// What an alert is about; decides the `smtp_alert*` switch that governs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertKind {
    VrrpInstance,
    VrrpGroup,
    RealServer,
    VirtualServer,
    Daemon,
}

/// One email to send: subject and body, without the headers the sender adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub kind: AlertKind,
    pub subject: String,
    pub body: String,
}

/// Format an endpoint as keepalived's `FMT_VS`/`FMT_RS` do: `[ip]:proto:port`, `FWM n`, or
/// `[group]:port` for a virtual server group.
pub fn fmt_endpoint(ep: &Endpoint) -> String {
    if let Some(g) = &ep.group {
        return format!("[{}]:{}", g, ep.port.unwrap_or(0));
    }
    if let (Some(mark), None) = (ep.fwmark, ep.addr) {
        return format!("FWM {mark}");
    }
    match ep.addr {
        Some(addr) => format!("[{}]:{}:{}", addr, ep.protocol, ep.port.unwrap_or(0)),
        None => format!("FWM {}", ep.fwmark.unwrap_or(0)),
    }
}

/// The configured virtual server an event endpoint names.
pub fn find_virtual_server<'a>(cfg: &'a Config, ep: &Endpoint) -> Option<&'a VirtualServer> {
    cfg.virtual_servers.iter().find(|vs| vs_matches(vs, ep))
}

fn vs_matches(vs: &VirtualServer, ep: &Endpoint) -> bool {
    match &vs.key {
        VsKey::Group(name) => ep.group.as_deref() == Some(name.as_str()),
        VsKey::Fwmark(mark) => ep.group.is_none() && ep.addr.is_none() && ep.fwmark == Some(*mark),
        VsKey::Addr { addr, port } => {
            ep.group.is_none()
                && ep.addr == Some(*addr)
                && ep.port == Some(*port)
                && vs.protocol.name() == ep.protocol
        }
    }
}

/// The configured real server of `vs` that an event endpoint names.
pub fn find_real_server<'a>(vs: &'a VirtualServer, ep: &Endpoint) -> Option<&'a RealServer> {
    let addr: Option<IpAddr> = ep.addr;
    vs.real_servers
        .iter()
        .find(|rs| Some(rs.addr) == addr && rs.port.unwrap_or(0) == ep.port.unwrap_or(0))
}

/// keepalived's resolution of `smtp_alert` for a VRRP instance or sync group: its own setting,
/// else `smtp_alert_vrrp`, else `smtp_alert`, else off.
pub fn vrrp_alert_enabled(cfg: &Config, own: Option<bool>) -> bool {
    own.or(cfg.global.smtp_alert_vrrp)
        .or(cfg.global.smtp_alert)
        .unwrap_or(false)
}

/// keepalived's resolution for a virtual server: its own, else `smtp_alert_checker`, else
/// `smtp_alert`, else off. A real server without its own setting inherits its virtual server's.
pub fn checker_alert_enabled(
    cfg: &Config,
    vs: Option<&VirtualServer>,
    rs: Option<&RealServer>,
) -> bool {
    let vs_setting = vs
        .and_then(|v| v.smtp_alert)
        .or(cfg.global.smtp_alert_checker)
        .or(cfg.global.smtp_alert)
        .unwrap_or(false);
    rs.and_then(|r| r.smtp_alert).unwrap_or(vs_setting)
}

/// Whether email alerts can be sent at all: keepalived needs both recipients and a server.
pub fn email_configured(cfg: &Config) -> bool {
    !cfg.global.notification_email.is_empty() && cfg.global.smtp_server.is_some()
}

/// The alert for an event, if the configuration asks for one. `router_id` is the resolved
/// `router_id` (the host name when unset).
pub fn alert_for(cfg: &Config, router_id: &str, ev: &Event) -> Option<Alert> {
    match ev {
        Event::VrrpInstance {
            instance, from, to, ..
        } => {
            if from == to {
                return None;
            }
            let own = cfg.instance(instance).and_then(|i| i.smtp_alert);
            if !vrrp_alert_enabled(cfg, own) {
                return None;
            }
            // `no_email_faults`: no mail for fault conditions.
            if *to == VrrpStateName::Fault && cfg.global.no_email_faults {
                return None;
            }
            let (what, body) = match to {
                VrrpStateName::Master => (
                    "Entering MASTER state",
                    "=> VRRP Instance is now owning VRRP VIPs <=",
                ),
                VrrpStateName::Backup => (
                    "Entering BACKUP state",
                    "=> VRRP Instance is no longer owning VRRP VIPs <=",
                ),
                VrrpStateName::Fault => (
                    "Entering FAULT state",
                    "=> VRRP Instance is no longer owning VRRP VIPs <=",
                ),
                VrrpStateName::Stop => ("Stopping", "=> VRRP Instance stopping <="),
                VrrpStateName::Init => return None,
            };
            Some(Alert {
                kind: AlertKind::VrrpInstance,
                subject: format!("[{router_id}] VRRP Instance {instance} - {what}"),
                body: body.to_string(),
            })
        }
        Event::VrrpSyncGroup {
            group, from, to, ..
        } => {
            if from == to {
                return None;
            }
            let own = cfg
                .sync_groups
                .iter()
                .find(|g| &g.name == group)
                .and_then(|g| g.smtp_alert);
            if !vrrp_alert_enabled(cfg, own) {
                return None;
            }
            if *to == VrrpStateName::Fault && cfg.global.no_email_faults {
                return None;
            }
            let (what, body) = match to {
                VrrpStateName::Master => (
                    "Entering MASTER state",
                    "=> All VRRP group instances are now in MASTER state <=",
                ),
                VrrpStateName::Backup => (
                    "Entering BACKUP state",
                    "=> All VRRP group instances are now in BACKUP state <=",
                ),
                VrrpStateName::Fault => (
                    "Entering FAULT state",
                    "=> All VRRP group instances are now in FAULT state <=",
                ),
                VrrpStateName::Stop => (
                    "Stopping",
                    "=> All VRRP group instances are now stopping <=",
                ),
                VrrpStateName::Init => return None,
            };
            Some(Alert {
                kind: AlertKind::VrrpGroup,
                subject: format!("[{router_id}] VRRP Group {group} - {what}"),
                body: body.to_string(),
            })
        }
        Event::RealServer {
            virtual_server,
            real_server,
            up,
            reason,
        } => {
            let vs = find_virtual_server(cfg, virtual_server);
            let rs = vs.and_then(|v| find_real_server(v, real_server));
            if !checker_alert_enabled(cfg, vs, rs) {
                return None;
            }
            let check = rs
                .and_then(|r| r.checkers.first())
                .map(|c| match c.kind {
                    CheckerKind::Tcp => "TCP CHECK",
                    CheckerKind::Misc(_) => "MISC CHECK",
                    CheckerKind::Udp(_) => "UDP CHECK",
                    CheckerKind::Ping => "PING CHECK",
                    CheckerKind::Dns(_) => "DNS_CHECK:",
                    CheckerKind::Smtp { .. } => "SMTP CHECK",
                    CheckerKind::Http(_) | CheckerKind::Ssl(_) => "CHECK",
                })
                .unwrap_or("CHECK");
            let body = if *up {
                format!("=> {check} succeed on service <=")
            } else if reason.trim().is_empty() {
                format!("=> {check} failed on service <=")
            } else {
                format!("=> {check} failed on service : {} <=", reason.trim())
            };
            Some(Alert {
                kind: AlertKind::RealServer,
                subject: format!(
                    "[{router_id}] Realserver {} of virtual server {} - {}",
                    fmt_endpoint(real_server),
                    fmt_endpoint(virtual_server),
                    if *up { "UP" } else { "DOWN" }
                ),
                body,
            })
        }
        Event::Quorum {
            virtual_server,
            gained,
            alive_weight,
            quorum,
        } => {
            let vs = find_virtual_server(cfg, virtual_server);
            if !checker_alert_enabled(cfg, vs, None) {
                return None;
            }
            let hysteresis = vs.map(|v| v.hysteresis).unwrap_or(0);
            // keepalived's threshold: quorum + hysteresis to gain, quorum - hysteresis to lose;
            // the message prints "+" in both cases.
            let threshold = if *gained {
                *quorum as i64 + hysteresis as i64
            } else {
                *quorum as i64 - hysteresis as i64
            };
            Some(Alert {
                kind: AlertKind::VirtualServer,
                subject: format!(
                    "[{router_id}] Virtualserver {} - {}",
                    fmt_endpoint(virtual_server),
                    if *gained { "UP" } else { "DOWN" }
                ),
                body: format!(
                    "=> {} {}+{}={} <= {} <=",
                    if *gained {
                        "Gained quorum"
                    } else {
                        "Lost quorum"
                    },
                    quorum,
                    hysteresis,
                    threshold,
                    alive_weight
                ),
            })
        }
        Event::Reload { ok, detail } => {
            // keepalived sends no mail about reloads; rampart reports a refused reload (the
            // running configuration stays in force) unless smtp_alert is explicitly off.
            if *ok || cfg.global.smtp_alert == Some(false) {
                return None;
            }
            Some(Alert {
                kind: AlertKind::Daemon,
                subject: format!("[{router_id}] Configuration reload refused"),
                body: format!(
                    "=> New configuration has errors; the running configuration is unchanged <=\r\n\r\n{detail}"
                ),
            })
        }
        // keepalived mails no priority changes.
        Event::VrrpPriority { .. } => None,
        Event::RealServerWeight { .. } | Event::RealServerDraining { .. } => None,
        Event::VrrpMasterRxLowerPri { .. } => None,
    }
}

/// keepalived's `last_email_state`: an instance or sync group is mailed about a state only
/// when it differs from the state it was last mailed about (a BACKUP→FAULT→BACKUP flap
/// mails FAULT and BACKUP; a repeated BACKUP does not).
#[derive(Debug, Default, Clone)]
pub struct LastEmailed {
    instances: std::collections::HashMap<String, VrrpStateName>,
    groups: std::collections::HashMap<String, VrrpStateName>,
}

impl LastEmailed {
    /// Whether `ev` may be mailed; records the state when it may.
    pub fn admit(&mut self, ev: &Event) -> bool {
        let (map, name, to) = match ev {
            Event::VrrpInstance { instance, to, .. } => (&mut self.instances, instance, to),
            Event::VrrpSyncGroup { group, to, .. } => (&mut self.groups, group, to),
            _ => return true,
        };
        if map.get(name) == Some(to) {
            return false;
        }
        map.insert(name.clone(), *to);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{GlobalDefs, SmtpServer};

    fn ep(addr: &str, port: u16) -> Endpoint {
        Endpoint {
            addr: Some(addr.parse().unwrap()),
            port: Some(port),
            fwmark: None,
            protocol: "tcp",
            group: None,
        }
    }

    fn cfg_alert_on() -> Config {
        Config {
            global: GlobalDefs {
                notification_email: vec!["ops@example.com".into()],
                smtp_server: Some(SmtpServer {
                    host: "127.0.0.1".into(),
                    port: 25,
                }),
                smtp_alert: Some(true),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn no_email_faults_silences_fault_only() {
        let mut cfg = cfg_alert_on();
        let inst = |to| Event::VrrpInstance {
            instance: "VI_1".into(),
            from: VrrpStateName::Master,
            to,
            priority: 100,
            reason: String::new(),
        };
        let group = |to| Event::VrrpSyncGroup {
            group: "G".into(),
            from: VrrpStateName::Master,
            to,
            reason: String::new(),
        };
        assert!(alert_for(&cfg, "r", &inst(VrrpStateName::Fault)).is_some());
        cfg.global.no_email_faults = true;
        assert!(alert_for(&cfg, "r", &inst(VrrpStateName::Fault)).is_none());
        assert!(alert_for(&cfg, "r", &group(VrrpStateName::Fault)).is_none());
        assert!(alert_for(&cfg, "r", &inst(VrrpStateName::Backup)).is_some());
        assert!(alert_for(&cfg, "r", &group(VrrpStateName::Backup)).is_some());
    }

    #[test]
    fn endpoint_formats_match_keepalived() {
        assert_eq!(fmt_endpoint(&ep("10.0.0.1", 80)), "[10.0.0.1]:tcp:80");
        assert_eq!(
            fmt_endpoint(&ep("2001:db8::1", 443)),
            "[2001:db8::1]:tcp:443"
        );
        let fwm = Endpoint {
            addr: None,
            port: None,
            fwmark: Some(7),
            protocol: "tcp",
            group: None,
        };
        assert_eq!(fmt_endpoint(&fwm), "FWM 7");
        let grp = Endpoint {
            addr: None,
            port: Some(80),
            fwmark: None,
            protocol: "tcp",
            group: Some("G".into()),
        };
        assert_eq!(fmt_endpoint(&grp), "[G]:80");
    }

    #[test]
    fn instance_subjects() {
        let cfg = cfg_alert_on();
        let mk = |to| Event::VrrpInstance {
            instance: "VI_1".into(),
            from: VrrpStateName::Backup,
            to,
            priority: 100,
            reason: String::new(),
        };
        let a = alert_for(&cfg, "lb1", &mk(VrrpStateName::Master)).unwrap();
        assert_eq!(
            a.subject,
            "[lb1] VRRP Instance VI_1 - Entering MASTER state"
        );
        assert_eq!(a.body, "=> VRRP Instance is now owning VRRP VIPs <=");
        let a = alert_for(&cfg, "lb1", &mk(VrrpStateName::Fault)).unwrap();
        assert_eq!(a.subject, "[lb1] VRRP Instance VI_1 - Entering FAULT state");
        let a = alert_for(&cfg, "lb1", &mk(VrrpStateName::Stop)).unwrap();
        assert_eq!(a.subject, "[lb1] VRRP Instance VI_1 - Stopping");
        assert!(alert_for(&cfg, "lb1", &mk(VrrpStateName::Init)).is_none());
    }

    #[test]
    fn switches_resolve_like_keepalived() {
        let mut cfg = cfg_alert_on();
        cfg.global.smtp_alert = None;
        let ev = Event::VrrpInstance {
            instance: "VI_1".into(),
            from: VrrpStateName::Backup,
            to: VrrpStateName::Master,
            priority: 100,
            reason: String::new(),
        };
        assert!(alert_for(&cfg, "r", &ev).is_none(), "off unless asked");
        cfg.global.smtp_alert_checker = Some(true);
        assert!(
            alert_for(&cfg, "r", &ev).is_none(),
            "checker switch does not cover VRRP"
        );
        cfg.global.smtp_alert_vrrp = Some(true);
        assert!(alert_for(&cfg, "r", &ev).is_some());
        cfg.global.smtp_alert = Some(true);
        cfg.global.smtp_alert_vrrp = Some(false);
        assert!(
            alert_for(&cfg, "r", &ev).is_none(),
            "specific switch wins over smtp_alert"
        );
    }

    #[test]
    fn quorum_body() {
        let cfg = cfg_alert_on();
        let ev = Event::Quorum {
            virtual_server: ep("10.0.0.1", 80),
            gained: false,
            alive_weight: 1,
            quorum: 2,
        };
        let a = alert_for(&cfg, "lb1", &ev).unwrap();
        assert_eq!(a.subject, "[lb1] Virtualserver [10.0.0.1]:tcp:80 - DOWN");
        assert_eq!(a.body, "=> Lost quorum 2+0=2 <= 1 <=");
    }

    #[test]
    fn real_server_subject() {
        let cfg = cfg_alert_on();
        let ev = Event::RealServer {
            virtual_server: ep("10.0.0.1", 80),
            real_server: ep("10.0.0.2", 8080),
            up: false,
            reason: "connection refused".into(),
        };
        let a = alert_for(&cfg, "lb1", &ev).unwrap();
        assert_eq!(
            a.subject,
            "[lb1] Realserver [10.0.0.2]:tcp:8080 of virtual server [10.0.0.1]:tcp:80 - DOWN"
        );
        assert_eq!(a.body, "=> CHECK failed on service : connection refused <=");
    }

    #[test]
    fn last_emailed_state_suppresses_repeats() {
        let ev = |from, to| Event::VrrpInstance {
            instance: "VI_1".into(),
            from,
            to,
            priority: 100,
            reason: String::new(),
        };
        let mut l = LastEmailed::default();
        assert!(l.admit(&ev(VrrpStateName::Init, VrrpStateName::Backup)));
        assert!(l.admit(&ev(VrrpStateName::Backup, VrrpStateName::Fault)));
        assert!(l.admit(&ev(VrrpStateName::Fault, VrrpStateName::Backup)));
        // e.g. BACKUP reported again after a reload or a sync-group resync
        assert!(!l.admit(&ev(VrrpStateName::Init, VrrpStateName::Backup)));
        assert!(l.admit(&ev(VrrpStateName::Backup, VrrpStateName::Master)));
    }
}
