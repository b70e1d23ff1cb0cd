//! Which events alert, decided on configurations read by the real front end: keepalived's
//! resolution of smtp_alert / smtp_alert_vrrp / smtp_alert_checker and the per-instance,
//! per-group, per-virtual-server and per-real-server switches, and the checker wording.

use rampart::alert::alert_for;
use rampart::config::{Config, LoadOptions, load_file};
use rampart::events::{Endpoint, Event, VrrpStateName};

fn load(text: &str) -> Config {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keepalived.conf");
    std::fs::write(&path, text).unwrap();
    match load_file(&path, &LoadOptions::default()) {
        Ok(l) => l.config,
        Err(d) => panic!(
            "config rejected:\n{}",
            d.0.iter().map(|x| x.render()).collect::<String>()
        ),
    }
}

fn ep(addr: &str, port: u16) -> Endpoint {
    Endpoint {
        addr: Some(addr.parse().unwrap()),
        port: Some(port),
        fwmark: None,
        protocol: "tcp",
        group: None,
    }
}

fn inst(name: &str) -> Event {
    Event::VrrpInstance {
        instance: name.into(),
        from: VrrpStateName::Backup,
        to: VrrpStateName::Master,
        priority: 100,
        reason: String::new(),
    }
}

fn group(name: &str) -> Event {
    Event::VrrpSyncGroup {
        group: name.into(),
        from: VrrpStateName::Backup,
        to: VrrpStateName::Master,
        reason: String::new(),
    }
}

fn rs(vs_port: u16, rs_addr: &str, up: bool) -> Event {
    Event::RealServer {
        virtual_server: ep("192.0.2.10", vs_port),
        real_server: ep(rs_addr, 80),
        up,
        reason: if up {
            String::new()
        } else {
            "connection refused".into()
        },
    }
}

fn quorum(vs_port: u16) -> Event {
    Event::Quorum {
        virtual_server: ep("192.0.2.10", vs_port),
        gained: true,
        alive_weight: 2,
        quorum: 1,
    }
}

const BODY: &str = r#"
vrrp_sync_group G_ON {
    group {
        VI_ON
    }
    smtp_alert
}
vrrp_sync_group G_DEFAULT {
    group {
        VI_DEFAULT
    }
}
vrrp_instance VI_ON {
    interface eth0
    virtual_router_id 1
    smtp_alert
    virtual_ipaddress {
        192.0.2.1/24
    }
}
vrrp_instance VI_OFF {
    interface eth0
    virtual_router_id 2
    smtp_alert false
    virtual_ipaddress {
        192.0.2.2/24
    }
}
vrrp_instance VI_DEFAULT {
    interface eth0
    virtual_router_id 3
    virtual_ipaddress {
        192.0.2.3/24
    }
}
virtual_server 192.0.2.10 80 {
    lb_algo rr
    lb_kind DR
    protocol TCP
    smtp_alert
    real_server 192.0.2.21 80 {
        TCP_CHECK {
            connect_timeout 3
        }
    }
    real_server 192.0.2.22 80 {
        smtp_alert false
        MISC_CHECK {
            misc_path /bin/true
        }
    }
}
virtual_server 192.0.2.10 81 {
    lb_algo rr
    lb_kind DR
    protocol TCP
    real_server 192.0.2.21 80 {
        HTTP_GET {
            url {
                path /
            }
        }
    }
    real_server 192.0.2.23 80 {
        smtp_alert
        TCP_CHECK {
            connect_timeout 3
        }
    }
}
"#;

fn with_globals(globals: &str) -> Config {
    load(&format!(
        "global_defs {{\n    notification_email {{\n        ops@example.com\n    }}\n    smtp_server 127.0.0.1\n    router_id R\n{globals}}}\n{BODY}"
    ))
}

fn alerts(cfg: &Config, ev: &Event) -> bool {
    alert_for(cfg, "R", ev).is_some()
}

#[test]
fn nothing_global_only_explicit_switches() {
    let cfg = with_globals("");
    assert!(alerts(&cfg, &inst("VI_ON")));
    assert!(!alerts(&cfg, &inst("VI_OFF")));
    assert!(!alerts(&cfg, &inst("VI_DEFAULT")));
    assert!(alerts(&cfg, &group("G_ON")));
    assert!(!alerts(&cfg, &group("G_DEFAULT")));
    // The virtual server on port 80 has smtp_alert; its real servers inherit it unless they
    // say otherwise.
    assert!(alerts(&cfg, &rs(80, "192.0.2.21", false)));
    assert!(!alerts(&cfg, &rs(80, "192.0.2.22", false)));
    assert!(alerts(&cfg, &quorum(80)));
    assert!(!alerts(&cfg, &rs(81, "192.0.2.21", false)));
    assert!(alerts(&cfg, &rs(81, "192.0.2.23", false)));
    assert!(!alerts(&cfg, &quorum(81)));
}

#[test]
fn global_smtp_alert_turns_everything_on_except_explicit_off() {
    let cfg = with_globals("    smtp_alert\n");
    assert!(alerts(&cfg, &inst("VI_DEFAULT")));
    assert!(!alerts(&cfg, &inst("VI_OFF")));
    assert!(alerts(&cfg, &group("G_DEFAULT")));
    assert!(alerts(&cfg, &rs(81, "192.0.2.21", true)));
    assert!(!alerts(&cfg, &rs(80, "192.0.2.22", true)));
    assert!(alerts(&cfg, &quorum(81)));
}

#[test]
fn vrrp_and_checker_switches_are_separate() {
    let cfg = with_globals("    smtp_alert_vrrp\n");
    assert!(alerts(&cfg, &inst("VI_DEFAULT")));
    assert!(alerts(&cfg, &group("G_DEFAULT")));
    assert!(!alerts(&cfg, &rs(81, "192.0.2.21", true)));
    let cfg = with_globals("    smtp_alert_checker\n");
    assert!(!alerts(&cfg, &inst("VI_DEFAULT")));
    assert!(alerts(&cfg, &rs(81, "192.0.2.21", true)));
    assert!(alerts(&cfg, &quorum(81)));
    // The specific switch wins over smtp_alert.
    let cfg = with_globals("    smtp_alert\n    smtp_alert_checker false\n");
    assert!(alerts(&cfg, &inst("VI_DEFAULT")));
    assert!(!alerts(&cfg, &rs(81, "192.0.2.21", true)));
}

#[test]
fn checker_wording_follows_the_checker() {
    let cfg = with_globals("    smtp_alert\n");
    let body = |ev: &Event| alert_for(&cfg, "R", ev).unwrap().body;
    assert_eq!(
        body(&rs(80, "192.0.2.21", true)),
        "=> TCP CHECK succeed on service <="
    );
    assert_eq!(
        body(&rs(80, "192.0.2.21", false)),
        "=> TCP CHECK failed on service : connection refused <="
    );
    assert_eq!(
        body(&rs(81, "192.0.2.21", true)),
        "=> CHECK succeed on service <="
    );
    assert!(
        alert_for(&cfg, "R", &rs(80, "192.0.2.22", true)).is_none(),
        "rs-level smtp_alert false wins"
    );
}

#[test]
fn refused_reload_alerts() {
    let cfg = with_globals("");
    let a = alert_for(
        &cfg,
        "R",
        &Event::Reload {
            ok: false,
            detail: "keepalived.conf:3:5: error: unknown keyword".into(),
        },
    )
    .unwrap();
    assert_eq!(a.subject, "[R] Configuration reload refused");
    assert!(a.body.contains("unknown keyword"));
    assert!(
        alert_for(
            &cfg,
            "R",
            &Event::Reload {
                ok: true,
                detail: String::new()
            }
        )
        .is_none()
    );
}
