//! From `virtual_server` configuration to desired IPVS entries.

use rampart::config::model::*;
use rampart::ipvs::desired::{desired_entries, desired_service, desired_table_all_up};
use rampart::ipvs::table::{AddrFamily, DestKey, IpvsProtocol, ServiceKey};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

fn span() -> Span {
    Span::new(Arc::from("test.conf"), 1, 1)
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

fn rs(addr: &str, port: Option<u16>, weight: u32) -> RealServer {
    RealServer {
        addr: ip(addr),
        port,
        weight,
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
        span: span(),
    }
}

fn vs(key: VsKey) -> VirtualServer {
    VirtualServer {
        key,
        delay_loop: Duration::from_secs(60),
        lb_algo: None,
        sched_flags: vec![],
        lb_kind: ForwardMethod::Nat,
        tunnel: None,
        persistence_timeout: None,
        persistence_granularity: None,
        protocol: Protocol::Tcp,
        ops: false,
        sorry_server: None,
        sorry_server_inhibit: false,
        quorum: 1,
        hysteresis: 0,
        quorum_up: None,
        quorum_down: None,
        alpha: false,
        omega: false,
        ha_suspend: false,
        virtualhost: None,
        inhibit_on_failure: false,
        smtp_alert: None,
        real_servers: vec![],
        span: span(),
    }
}

#[test]
fn plain_virtual_server() {
    let mut v = vs(VsKey::Addr {
        addr: ip("10.0.0.1"),
        port: 80,
    });
    v.lb_algo = Some(Scheduler::Sh);
    v.sched_flags = vec!["sh-port".into()];
    v.persistence_timeout = Some(300);
    v.persistence_granularity = Some(24);
    v.real_servers = vec![rs("192.168.0.1", Some(8080), 2), rs("192.168.0.2", None, 1)];
    v.real_servers[1].lb_kind = Some(ForwardMethod::Dr);
    v.real_servers[1].uthreshold = 100;
    let cfg = Config::default();
    let (keys, st) = desired_service(&v, &cfg);
    assert_eq!(
        keys,
        vec![ServiceKey::Addr {
            protocol: IpvsProtocol::Tcp,
            addr: ip("10.0.0.1"),
            port: 80
        }]
    );
    assert_eq!(st.scheduler, "sh");
    assert_eq!(st.flags, 0x1 | 0x10);
    assert_eq!((st.timeout, st.netmask_prefix), (300, 24));

    // Only the second real server is up.
    let entries = desired_entries(&v, &cfg, &|i, _| (i == 1).then_some(5), false);
    assert_eq!(entries.len(), 1);
    let dests = &entries[0].1.dests;
    assert_eq!(dests.len(), 1);
    let (k, d) = dests.iter().next().expect("dest");
    assert_eq!(
        *k,
        DestKey {
            addr: ip("192.168.0.2"),
            port: 80
        }
    );
    assert_eq!(d.weight, 5);
    assert_eq!(d.forward, ForwardMethod::Dr);
    assert_eq!(d.upper_threshold, 100);
}

#[test]
fn sorry_server_replaces_real_servers() {
    let mut v = vs(VsKey::Addr {
        addr: ip("10.0.0.1"),
        port: 80,
    });
    v.real_servers = vec![rs("192.168.0.1", Some(80), 1)];
    v.sorry_server = Some(SorryServer {
        addr: ip("192.168.9.9"),
        port: None,
        lb_kind: Some(ForwardMethod::Dr),
        tunnel: None,
        span: span(),
    });
    let e = desired_entries(&v, &Config::default(), &|_, _| None, true);
    let (k, d) = e[0].1.dests.iter().next().expect("sorry");
    assert_eq!(k.addr, ip("192.168.9.9"));
    assert_eq!(k.port, 80);
    assert_eq!(d.forward, ForwardMethod::Dr);
}

#[test]
fn fwmark_ipv6_and_groups() {
    let mut v = vs(VsKey::Fwmark(7));
    v.real_servers = vec![rs("2001:db8::1", None, 1)];
    v.ops = true;
    v.protocol = Protocol::Udp;
    let cfg = Config::default();
    let (keys, st) = desired_service(&v, &cfg);
    assert_eq!(
        keys,
        vec![ServiceKey::Fwmark {
            family: AddrFamily::V6,
            mark: 7
        }]
    );
    assert_eq!(st.flags, 0x4);
    let e = desired_entries(&v, &cfg, &|_, r| Some(r.weight), false);
    assert_eq!(e[0].1.settings.netmask_prefix, 128);
    assert_eq!(
        e[0].1.dests.keys().next().expect("dest").port,
        0,
        "fwmark real server without port"
    );

    let mut cfg = Config::default();
    cfg.virtual_server_groups.push(VirtualServerGroup {
        name: "web".into(),
        members: vec![
            VsgMember::Range {
                first: ip("10.0.0.1"),
                last: ip("10.0.0.3"),
                port: 80,
                span: span(),
            },
            VsgMember::Fwmark {
                mark: 9,
                span: span(),
            },
        ],
        span: span(),
    });
    let mut g = vs(VsKey::Group("web".into()));
    g.real_servers = vec![rs("192.168.0.1", Some(80), 3)];
    cfg.virtual_servers.push(g);
    let t = desired_table_all_up(&cfg);
    assert_eq!(t.services.len(), 4);
    assert!(t.services.contains_key(&ServiceKey::Addr {
        protocol: IpvsProtocol::Tcp,
        addr: ip("10.0.0.2"),
        port: 80
    }));
    assert!(t.services.contains_key(&ServiceKey::Fwmark {
        family: AddrFamily::V4,
        mark: 9
    }));
    assert!(t.services.values().all(|e| e.dests.len() == 1));
}

/// keepalived 2.2.7 (and ipvsadm) give a DR/TUN destination the service's port, 0 under a
/// fwmark service; masq keeps the real server's. Seen in the test VM
/// (tests/check_vm_parity.rs): "virtual server ... and real server ... ports don't match -
/// resetting".
#[test]
fn dr_and_tun_destinations_take_the_service_port() {
    let mut v = vs(VsKey::Addr {
        addr: ip("10.0.0.1"),
        port: 80,
    });
    v.lb_kind = ForwardMethod::Dr;
    let mut masq = rs("192.168.0.3", Some(8080), 1);
    masq.lb_kind = Some(ForwardMethod::Nat);
    // Two real servers on one address become one kernel destination, up while one of them is.
    v.real_servers = vec![
        rs("192.168.0.1", Some(8080), 1),
        rs("192.168.0.2", Some(8080), 4),
        rs("192.168.0.2", Some(9090), 2),
        masq,
    ];
    let weights = [Some(1), Some(0), Some(2), Some(1)];
    let e = desired_entries(&v, &Config::default(), &|i, _| weights[i], false);
    let got: Vec<(String, u32)> = e[0]
        .1
        .dests
        .iter()
        .map(|(k, d)| (format!("{}:{}", k.addr, k.port), d.weight))
        .collect();
    assert_eq!(
        got,
        vec![
            ("192.168.0.1:80".to_string(), 1),
            ("192.168.0.2:80".to_string(), 2),
            ("192.168.0.3:8080".to_string(), 1),
        ]
    );

    let mut f = vs(VsKey::Fwmark(7));
    f.lb_kind = ForwardMethod::Tun;
    f.real_servers = vec![rs("192.168.0.1", Some(8080), 1)];
    let e = desired_entries(&f, &Config::default(), &|_, r| Some(r.weight), false);
    assert_eq!(e[0].1.dests.keys().next().expect("dest").port, 0);
}

// ---- `lvs_method TUN type ...` (keepalived 2.2.7) from the config text to the table ----

fn tun_config(vs_method: &str, rs_methods: &[&str]) -> String {
    let mut s = format!(
        "virtual_server 10.0.0.1 80 {{\n  lb_algo rr\n  protocol TCP\n  lvs_method {vs_method}\n"
    );
    for (i, m) in rs_methods.iter().enumerate() {
        s.push_str(&format!("  real_server 192.168.0.{} 80 {{\n", i + 1));
        if !m.is_empty() {
            s.push_str(&format!("    lvs_method {m}\n"));
        }
        s.push_str("  }\n");
    }
    s.push_str("}\n");
    s
}

fn load_cfg(text: &str) -> Result<Config, String> {
    rampart::config::load_str("tun.conf", text, &Default::default())
        .map(|l| l.config)
        .map_err(|d| d.to_string())
}

#[test]
fn lvs_method_tun_types_reach_the_desired_table() {
    let cfg = load_cfg(&tun_config(
        "TUN type gue port 6080 csum",
        &[
            "",
            "TUN",
            "TUN type gre nocsum",
            "TUN type ipip",
            "DR",
            "TUN type gue port 7 remcsum",
        ],
    ))
    .expect("valid config");
    let t = desired_table_all_up(&cfg);
    let entry = t.services.values().next().expect("one service");
    let got: Vec<(ForwardMethod, Tunnel)> = entry
        .dests
        .values()
        .map(|d| (d.forward, d.tunnel))
        .collect();
    let gue = |port, csum| Tunnel {
        kind: TunnelKind::Gue,
        port,
        csum,
    };
    assert_eq!(
        got,
        vec![
            // Inherits the virtual server's method and tunnel.
            (ForwardMethod::Tun, gue(6080, TunnelCsum::Csum)),
            // Its own `lvs_method TUN` without a type: IPIP.
            (ForwardMethod::Tun, Tunnel::default()),
            (
                ForwardMethod::Tun,
                Tunnel {
                    kind: TunnelKind::Gre,
                    port: 0,
                    csum: TunnelCsum::NoCsum
                }
            ),
            (ForwardMethod::Tun, Tunnel::default()),
            (ForwardMethod::Dr, Tunnel::default()),
            (ForwardMethod::Tun, gue(7, TunnelCsum::RemCsum)),
        ]
    );
}

#[test]
fn lvs_method_tun_errors_name_the_value_and_the_form() {
    let cases = [
        (
            "TUN type vxlan",
            "invalid tunnel type `vxlan`",
            "ipip, gue or gre",
        ),
        ("TUN type gue", "needs a port", "type gue port PORT"),
        ("TUN type gue port 0", "invalid GUE port `0`", "1-65535"),
        (
            "TUN type gue port 6080 fastcsum",
            "invalid tunnel checksum option",
            "nocsum, csum or remcsum",
        ),
        (
            "TUN type gre remcsum",
            "invalid tunnel checksum option",
            "GRE has no remcsum",
        ),
        (
            "TUN type ipip csum",
            "invalid tunnel checksum option",
            "checksums are GUE/GRE options",
        ),
        (
            "TUN kind gue",
            "invalid tunnel option `kind`",
            "type ipip|gue|gre",
        ),
        (
            "NAT type gue",
            "unexpected extra value `type`",
            "NAT, DR or TUN",
        ),
        (
            "TUN type gue port 6080 csum extra",
            "unexpected extra value `extra`",
            "NAT, DR or TUN",
        ),
    ];
    for (method, what, form) in cases {
        let err = load_cfg(&tun_config(method, &[""])).expect_err(method);
        assert!(err.contains(what), "{method}: {err}");
        assert!(err.contains(form), "{method}: {err}");
        assert!(
            err.contains("tun.conf:4"),
            "{method}: names the line: {err}"
        );
    }
}
