//! Keywords land in the right model fields (what the engines consume).

use rampart::config::*;
use std::net::IpAddr;
use std::time::Duration;

const FULL: &str = r#"
global_defs {
    notification_email {
        ops@example.org
        "Admin <admin@example.org>"
    }
    notification_email_from lb@example.org
    smtp_server mail.example.org 587
    smtp_helo_name lb1
    smtp_connect_timeout 12
    smtp_alert true
    smtp_alert_vrrp off
    smtp_alert_checker yes
    router_id LB1
    enable_script_security
    script_user keepalived_script nogroup
    vrrp_garp_master_delay 2
    vrrp_garp_master_repeat 3
    vrrp_garp_master_refresh 60
    vrrp_garp_master_refresh_repeat 2
    vrrp_version 3
    vrrp_mcast_group4 224.0.0.19
    vrrp_mcast_group6 ff02::13
    lvs_sync_daemon eth1 VI_1 id 7 maxlen 1400 port 8849 ttl 2 group 224.0.0.82
    lvs_flush
    lvs_timeouts tcp 900 tcpfin 30 udp 300
    notify_fifo /run/rampart.fifo
    notify_fifo_script /usr/local/bin/fifo.sh
}

vrrp_script chk {
    script "/usr/bin/curl -fs 'http://127.0.0.1/x y'"
    interval 2
    timeout 1
    weight -30 reverse
    rise 3
    fall 2
    user nobody nogroup
    init_fail
}

vrrp_sync_group SG {
    group {
        VI_1 VI_2
    }
    notify_master "/bin/sg.sh master"
    notify "/bin/sg.sh"
    smtp_alert
}

vrrp_instance VI_1 {
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 200
    advert_int 0.5
    preempt_delay 10
    virtual_ipaddress {
        192.0.2.10/24 dev eth0 brd 192.0.2.255 scope global label eth0:1
        192.0.2.11 peer 192.0.2.1/32 -nodad no_track preferred_lft 0
    }
    virtual_ipaddress_excluded {
        2001:db8::10/64
    }
    virtual_routes {
        src 192.0.2.10 10.1.0.0/16 via 192.0.2.1 dev eth0 table 100 metric 5
        blackhole 10.9.0.0/16
        default via 192.0.2.254 or 192.0.2.253
    }
    virtual_rules {
        from 192.0.2.0/24 to all table 100 priority 1000 fwmark 0x10/0xff iif eth0
    }
    track_interface {
        eth1 weight -10
        eth2
    }
    track_script {
        chk weight 20
    }
    unicast_src_ip 192.0.2.2
    unicast_peer {
        192.0.2.3
        192.0.2.4
    }
    garp_master_delay 1
    garp_master_repeat 2
    garp_master_refresh 30
    garp_master_refresh_repeat 4
    notify_backup /bin/backup.sh
    smtp_alert no
    use_vmac vrrp51
    vmac_xmit_base
    no_accept
    dont_track_primary
}

vrrp_instance VI_2 {
    interface eth0
    virtual_router_id 52
    version 2
    nopreempt
    authentication {
        auth_type PASS
        auth_pass secret
    }
    virtual_ipaddress {
        192.0.2.20
    }
    use_vmac
    accept
}

virtual_server_group WEB {
    192.0.2.30-35 80
    2001:db8::1-f 80
    fwmark 9
}

virtual_server group WEB {
    delay_loop 3
    lvs_sched sh
    sh-port
    lvs_method DR
    persistence_timeout
    persistence_granularity 255.255.255.0
    protocol TCP
    sorry_server 192.0.2.99 8080
    sorry_server_lvs_method NAT
    sorry_server_inhibit
    quorum 2
    hysteresis 1
    quorum_up "/bin/q.sh up"
    quorum_down /bin/q.sh
    alpha
    omega
    ha_suspend
    virtualhost www.example.org
    inhibit_on_failure
    connect_timeout 7
    retry 4

    real_server 192.0.2.40 80 {
        weight 5
        inhibit_on_failure off
        notify_up "/bin/rs.sh up"
        notify_down /bin/rs.sh
        uthreshold 100
        lthreshold 10
        smtp_alert
        delay_before_retry 2
        SSL_GET {
            url {
                path /health
                digest 640205b7b0fc66c1ea91c463fac6334d
                status_code 200-204 301
                virtualhost a.example.org
            }
            url {
                path /other
            }
            http_protocol 1.1
            virtualhost b.example.org
            enable_sni
            connect_ip 192.0.2.41
            connect_port 443
            bindto 192.0.2.2
            bind_port 40000
            warmup 5
            fwmark 3
        }
        MISC_CHECK {
            misc_path "/bin/check.sh 192.0.2.40"
            misc_timeout 4
            misc_dynamic
            user nobody
        }
        TCP_CHECK {
            connect_timeout 1
        }
    }
}

virtual_server fwmark 9 {
    lb_algo wrr
    lb_kind TUN
    real_server 192.0.2.50 {
        weight 2
    }
}

virtual_server 192.0.2.60 53 {
    lb_algo rr
    lb_kind NAT
    protocol UDP
    ops
    real_server 192.0.2.61 53 {
    }
}
"#;

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

#[test]
fn every_keyword_lands_in_its_field() {
    let l = load_str(
        "/nonexistent/full.conf",
        FULL,
        &LoadOptions {
            config_id: Some("x".into()),
        },
    )
    .unwrap_or_else(|d| panic!("{d}"));
    // VI_1 is in sync group SG: keepalived 2.2.7 ignores its tracking weights, and says so.
    let lines: Vec<_> = l
        .warnings
        .0
        .iter()
        .map(|w| {
            (
                w.span.as_ref().map(|s| s.line),
                w.message.contains("ignored: `VI_1` is in sync group `SG`"),
            )
        })
        .collect();
    assert_eq!(
        lines,
        // Line 57: preempt_delay with state MASTER, which keepalived clears (and says so).
        vec![(Some(57), false), (Some(74), true), (Some(78), true)],
        "{}",
        l.warnings
    );
    let c = &l.config;

    let g = &c.global;
    assert_eq!(
        g.notification_email,
        vec!["ops@example.org", "Admin <admin@example.org>"]
    );
    assert_eq!(g.notification_email_from.as_deref(), Some("lb@example.org"));
    assert_eq!(
        g.smtp_server,
        Some(SmtpServer {
            host: "mail.example.org".into(),
            port: 587
        })
    );
    assert_eq!(g.smtp_helo_name.as_deref(), Some("lb1"));
    assert_eq!(g.smtp_connect_timeout, Duration::from_secs(12));
    assert_eq!(
        (g.smtp_alert, g.smtp_alert_vrrp, g.smtp_alert_checker),
        (Some(true), Some(false), Some(true))
    );
    assert_eq!(g.router_id.as_deref(), Some("LB1"));
    assert!(g.enable_script_security);
    assert_eq!(
        g.script_user,
        Some(RunAs {
            user: "keepalived_script".into(),
            group: Some("nogroup".into())
        })
    );
    assert_eq!(g.vrrp_garp_master_delay, Duration::from_secs(2));
    assert_eq!(g.vrrp_garp_master_repeat, 3);
    assert_eq!(g.vrrp_garp_master_refresh, Some(Duration::from_secs(60)));
    assert_eq!(g.vrrp_garp_master_refresh_repeat, 2);
    assert_eq!(g.vrrp_version, VrrpVersion::V3);
    assert_eq!(g.vrrp_mcast_group4.to_string(), "224.0.0.19");
    assert_eq!(g.vrrp_mcast_group6.to_string(), "ff02::13");
    assert!(!g.vrrp_strict && g.lvs_flush);
    assert_eq!(
        g.lvs_sync_daemon,
        Some(LvsSyncDaemon {
            interface: "eth1".into(),
            instance: "VI_1".into(),
            id: Some(7),
            maxlen: Some(1400),
            port: Some(8849),
            ttl: Some(2),
            group: Some(ip("224.0.0.82")),
        })
    );
    assert_eq!(
        g.lvs_timeouts,
        Some(LvsTimeouts {
            tcp: Some(900),
            tcpfin: Some(30),
            udp: Some(300)
        })
    );
    let fifo = g.notify_fifo.as_ref().expect("fifo");
    assert_eq!(fifo.path, "/run/rampart.fifo");
    assert_eq!(
        fifo.script.as_ref().map(|s| s.argv.clone()),
        Some(vec!["/usr/local/bin/fifo.sh".to_string()])
    );

    let s = &c.vrrp_scripts[0];
    assert_eq!(
        s.script.argv,
        vec!["/usr/bin/curl", "-fs", "http://127.0.0.1/x y"]
    );
    assert_eq!(s.interval, Duration::from_secs(2));
    assert_eq!(s.timeout, Some(Duration::from_secs(1)));
    assert_eq!(
        (s.weight, s.weight_reverse, s.rise, s.fall),
        (-30, true, 3, 2)
    );
    assert_eq!(s.user.as_ref().map(|u| u.user.as_str()), Some("nobody"));
    assert!(s.init_fail);

    let sg = &c.sync_groups[0];
    assert_eq!(sg.members, vec!["VI_1", "VI_2"]);
    assert_eq!(
        sg.notify.master.as_ref().map(|m| m.argv.clone()),
        Some(vec!["/bin/sg.sh".into(), "master".into()])
    );
    assert!(sg.notify.notify.is_some());
    assert_eq!(sg.smtp_alert, Some(true));

    let i = c.instance("VI_1").expect("VI_1");
    assert_eq!(i.initial_state, InitialState::Master);
    assert_eq!(
        (i.interface.as_str(), i.virtual_router_id, i.priority),
        ("eth0", 51, 200)
    );
    assert_eq!(i.advert_int, Duration::from_millis(500));
    // `preempt_delay 10` with state MASTER: cleared, as keepalived 2.2.7 does.
    assert_eq!(i.preempt_delay, Duration::ZERO);
    assert_eq!(i.authentication, None);
    assert_eq!(
        c.instance("VI_2").and_then(|i| i.authentication.clone()),
        Some(Authentication {
            auth_type: AuthType::Pass,
            auth_pass: "secret".into()
        })
    );
    let v0 = &i.virtual_ipaddress[0];
    assert_eq!((v0.addr, v0.prefix_len), (ip("192.0.2.10"), 24));
    assert_eq!(v0.dev.as_deref(), Some("eth0"));
    assert_eq!(
        v0.brd.map(|b| b.to_string()).as_deref(),
        Some("192.0.2.255")
    );
    assert_eq!(v0.scope, Some(Scope::Global));
    assert_eq!(v0.label.as_deref(), Some("eth0:1"));
    let v1 = &i.virtual_ipaddress[1];
    assert_eq!(v1.prefix_len, 32);
    assert_eq!(
        v1.peer.map(|p| p.to_string()).as_deref(),
        Some("192.0.2.1/32")
    );
    assert!(v1.nodad && v1.no_track);
    assert_eq!(v1.preferred_lft, Some(0));
    assert_eq!(i.virtual_ipaddress_excluded[0].prefix_len, 64);
    let r0 = &i.virtual_routes[0];
    assert_eq!(r0.src, Some(ip("192.0.2.10")));
    assert_eq!(r0.dst.to_string(), "10.1.0.0/16");
    assert_eq!(r0.via, Some(ip("192.0.2.1")));
    assert_eq!((r0.table, r0.metric), (Some(100), Some(5)));
    assert_eq!(i.virtual_routes[1].route_type, RouteType::Blackhole);
    assert_eq!(i.virtual_routes[2].dst.len, 0);
    assert_eq!(i.virtual_routes[2].via_alt, Some(ip("192.0.2.253")));
    let rule = &i.virtual_rules[0];
    assert_eq!(
        rule.from.map(|p| p.to_string()).as_deref(),
        Some("192.0.2.0/24")
    );
    assert_eq!(rule.to, None);
    assert_eq!((rule.table, rule.priority), (Some(100), Some(1000)));
    assert_eq!(rule.fwmark, Some((16, Some(255))));
    assert_eq!(rule.iif.as_deref(), Some("eth0"));
    assert_eq!(i.track_interface[0].weight, Some(-10));
    assert_eq!(i.track_interface[1].weight, None);
    assert_eq!(i.track_script[0].weight, Some(20));
    assert_eq!(i.unicast_src_ip, Some(ip("192.0.2.2")));
    assert_eq!(i.unicast_peer.len(), 2);
    assert_eq!(i.garp_master_delay, Some(Duration::from_secs(1)));
    assert_eq!(i.garp_master_repeat, Some(2));
    assert_eq!(i.garp_master_refresh, Some(Duration::from_secs(30)));
    assert_eq!(i.garp_master_refresh_repeat, Some(4));
    assert!(i.notify.backup.is_some());
    assert_eq!(i.smtp_alert, Some(false));
    assert_eq!(i.use_vmac, Some(Some("vrrp51".into())));
    assert!(i.vmac_xmit_base && i.dont_track_primary);
    assert_eq!(i.accept, Some(false));

    let i2 = c.instance("VI_2").expect("VI_2");
    assert_eq!(i2.version, Some(VrrpVersion::V2));
    assert!(i2.nopreempt);
    assert_eq!(i2.use_vmac, Some(None));
    assert_eq!(i2.accept, Some(true));
    assert_eq!(i2.priority, 100);

    let vsg = &c.virtual_server_groups[0];
    assert_eq!(
        vsg.members[0],
        VsgMember::Range {
            first: ip("192.0.2.30"),
            last: ip("192.0.2.35"),
            port: 80,
            span: vsg.members[0].clone().span()
        }
    );
    assert!(matches!(vsg.members[2], VsgMember::Fwmark { mark: 9, .. }));

    let vs = &c.virtual_servers[0];
    assert_eq!(vs.key, VsKey::Group("WEB".into()));
    assert_eq!(vs.delay_loop, Duration::from_secs(3));
    assert_eq!(vs.lb_algo, Some(Scheduler::Sh));
    assert_eq!(vs.sched_flags, vec!["sh-port"]);
    assert_eq!(vs.lb_kind, ForwardMethod::Dr);
    assert_eq!(vs.persistence_timeout, Some(360));
    assert_eq!(vs.persistence_granularity, Some(24));
    let sorry = vs.sorry_server.as_ref().expect("sorry");
    assert_eq!(
        (sorry.addr, sorry.port, sorry.lb_kind),
        (ip("192.0.2.99"), Some(8080), Some(ForwardMethod::Nat))
    );
    assert!(vs.sorry_server_inhibit);
    assert_eq!((vs.quorum, vs.hysteresis), (2, 1));
    assert!(vs.quorum_up.is_some() && vs.quorum_down.is_some());
    assert!(vs.alpha && vs.omega && vs.ha_suspend && vs.inhibit_on_failure);
    assert_eq!(vs.virtualhost.as_deref(), Some("www.example.org"));

    let rs = &vs.real_servers[0];
    assert_eq!((rs.weight, rs.inhibit_on_failure), (5, Some(false)));
    assert_eq!(
        (rs.uthreshold, rs.lthreshold, rs.smtp_alert),
        (100, 10, Some(true))
    );
    assert!(rs.notify_up.is_some() && rs.notify_down.is_some());
    assert_eq!(rs.checkers.len(), 3);
    let ssl = &rs.checkers[0];
    let CheckerKind::Ssl(h) = &ssl.kind else {
        panic!("SSL_GET expected")
    };
    assert_eq!(h.urls.len(), 2);
    assert_eq!(h.urls[0].status_code.len(), 2);
    assert!(h.urls[0].status_ok(204) && h.urls[0].status_ok(301) && !h.urls[0].status_ok(200 + 5));
    assert!(h.urls[1].status_ok(250));
    assert_eq!(h.urls[0].virtualhost.as_deref(), Some("a.example.org"));
    assert_eq!(h.http_protocol, HttpProtocol::V1_1);
    assert_eq!(h.virtualhost.as_deref(), Some("b.example.org"));
    assert!(h.enable_sni);
    let cc = &ssl.common;
    assert_eq!(cc.connect_ip, Some(ip("192.0.2.41")));
    assert_eq!(
        (cc.connect_port, cc.bind_port, cc.fwmark),
        (Some(443), Some(40000), Some(3))
    );
    assert_eq!(cc.bindto, Some(ip("192.0.2.2")));
    assert_eq!(cc.warmup, Some(Duration::from_secs(5)));
    // Inherited: delay_before_retry from real_server, connect_timeout and retry from the
    // virtual server.
    assert_eq!(cc.delay_before_retry, Some(Duration::from_secs(2)));
    assert_eq!(cc.connect_timeout, Some(Duration::from_secs(7)));
    assert_eq!(cc.retry, Some(4));
    let CheckerKind::Misc(m) = &rs.checkers[1].kind else {
        panic!("MISC_CHECK expected")
    };
    assert_eq!(m.misc_path.argv, vec!["/bin/check.sh", "192.0.2.40"]);
    assert_eq!(m.misc_timeout, Some(Duration::from_secs(4)));
    assert!(m.misc_dynamic);
    assert_eq!(m.user.as_ref().map(|u| u.user.as_str()), Some("nobody"));
    assert_eq!(rs.checkers[2].kind, CheckerKind::Tcp);
    // The checker's own value wins over inherited ones.
    assert_eq!(
        rs.checkers[2].common.connect_timeout,
        Some(Duration::from_secs(1))
    );

    let fw = &c.virtual_servers[1];
    assert_eq!(fw.key, VsKey::Fwmark(9));
    assert_eq!(fw.lb_kind, ForwardMethod::Tun);
    assert_eq!(fw.real_servers[0].port, None);

    let udp = &c.virtual_servers[2];
    assert_eq!(udp.protocol, Protocol::Udp);
    assert!(udp.ops);
}

trait SpanOf {
    fn span(self) -> Span;
}
impl SpanOf for VsgMember {
    fn span(self) -> Span {
        match self {
            VsgMember::Range { span, .. } | VsgMember::Fwmark { span, .. } => span,
        }
    }
}
