//! The keepalived VRRP keywords that used to be "not supported by rampart yet": model fields,
//! and the exact diagnostics (severity, class, line:col, text) for good and bad values.

use rampart::config::*;
use std::net::IpAddr;
use std::time::Duration;

fn analyse_text(text: &str) -> (Config, Diagnostics) {
    let fs = MemFs::default();
    let opts = LoadOptions {
        config_id: Some("test".into()),
    };
    analyse("/t/rampart.conf", text, &opts, &fs, &Limits::default())
}

/// (severity, class, line, col, message) of every diagnostic.
fn diags(text: &str) -> Vec<(Severity, DiagClass, u32, u32, String)> {
    analyse_text(text)
        .1
        .0
        .into_iter()
        .map(|d| {
            let s = d.span.clone().unwrap_or_default();
            (d.severity, d.class, s.line, s.col, d.message)
        })
        .collect()
}

const STOCK_SAMPLE: &str = r#"global_defs {
   router_id LVS_DEVEL
   vrrp_skip_check_adv_addr
   vrrp_strict
   vrrp_garp_interval 0
   vrrp_gna_interval 0
}
vrrp_instance VI_1 {
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 100
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass 1111
    }
    virtual_ipaddress {
        192.168.200.16
    }
}
"#;

#[test]
fn the_distribution_sample_globals_are_accepted_silently() {
    let (cfg, d) = analyse_text(STOCK_SAMPLE);
    let about_keywords: Vec<_> =
        d.0.iter()
            .filter(|x| {
                [
                    "vrrp_skip_check_adv_addr",
                    "vrrp_garp_interval",
                    "vrrp_gna_interval",
                ]
                .iter()
                .any(|k| x.message.contains(k))
            })
            .collect();
    assert!(about_keywords.is_empty(), "{about_keywords:?}");
    assert!(cfg.global.vrrp_skip_check_adv_addr);
    assert_eq!(cfg.global.vrrp_garp_interval, Duration::ZERO);
    assert_eq!(cfg.global.vrrp_gna_interval, Duration::ZERO);
}

const ALL: &str = r#"global_defs {
    vrrp_garp_lower_prio_delay 10
    vrrp_garp_lower_prio_repeat 1
    vrrp_garp_interval 0.001
    vrrp_gna_interval 0.000001
    vrrp_startup_delay 5.5
    vrrp_check_unicast_src
    vrrp_lower_prio_no_advert false
    vrrp_higher_prio_send_advert
    vrrp_down_timer_adverts 4
    vrrp_garp_extra_if all 100
}
track_file ready {
    file "/run/ready"
    weight -3 reverse
    init_file 5 overwrite
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    virtual_ipaddress {
        192.168.200.16/24
    }
    skip_check_adv_addr no
    garp_lower_prio_delay 2
    garp_lower_prio_repeat 3
    garp_extra_if 0
    unicast_ttl 10
    check_unicast_src
    lower_prio_no_advert
    higher_prio_send_advert off
    notify_master_rx_lower_pri "/usr/local/bin/rx_lower.sh VI_1"
    down_timer_adverts 6
    unicast_fault_no_peer
    unicast_src_ip 10.0.0.1
    unicast_peer {
        10.0.0.2
    }
    track_file {
        ready weight 2 noreverse
    }
    promote_secondaries
}
vrrp_instance VI_2 {
    interface eth1
    virtual_router_id 52
    virtual_ipaddress {
        192.168.201.16/24
    }
    mcast_dst_ip 224.0.0.19
}
"#;

#[test]
fn every_keyword_lands_in_its_field() {
    let (cfg, d) = analyse_text(ALL);
    assert_eq!(d.0, vec![], "{d}");
    let g = &cfg.global;
    assert_eq!(g.vrrp_garp_lower_prio_delay, Some(Duration::from_secs(10)));
    assert_eq!(g.vrrp_garp_lower_prio_repeat, Some(1));
    assert_eq!(g.vrrp_garp_interval, Duration::from_millis(1));
    assert_eq!(g.vrrp_gna_interval, Duration::from_micros(1));
    assert_eq!(g.vrrp_startup_delay, Duration::from_millis(5500));
    assert!(g.vrrp_check_unicast_src && g.vrrp_higher_prio_send_advert);
    assert_eq!(g.vrrp_lower_prio_no_advert, Some(false));
    assert_eq!(g.vrrp_down_timer_adverts, 4);
    assert_eq!(
        g.vrrp_garp_extra_if,
        Some(GarpExtraIf {
            all: true,
            interval: Duration::from_secs(100)
        })
    );
    let f = cfg.track_file("ready").unwrap();
    assert_eq!(
        (f.file.as_str(), f.weight, f.reverse, f.init_file),
        ("/run/ready", -3, true, Some((5, true)))
    );
    let i = cfg.instance("VI_1").unwrap();
    assert_eq!(i.skip_check_adv_addr, Some(false));
    assert_eq!(i.garp_lower_prio_delay, Some(Duration::from_secs(2)));
    assert_eq!(i.garp_lower_prio_repeat, Some(3));
    // `garp_extra_if 0` switches the global setting off for this instance.
    assert_eq!(i.garp_extra_if_or(g), None);
    assert_eq!(i.unicast_ttl, Some(10));
    assert!(i.check_unicast_src && i.unicast_fault_no_peer && i.promote_secondaries);
    assert_eq!(i.lower_prio_no_advert, Some(true));
    assert_eq!(i.higher_prio_send_advert, Some(false));
    assert_eq!(
        i.notify_master_rx_lower_pri
            .as_ref()
            .map(|c| c.argv.clone()),
        Some(vec![
            "/usr/local/bin/rx_lower.sh".to_string(),
            "VI_1".into()
        ])
    );
    assert_eq!(i.down_timer_adverts, Some(6));
    assert_eq!(i.track_file.len(), 1);
    assert_eq!(
        (i.track_file[0].weight, i.track_file[0].reverse),
        (Some(2), Some(false))
    );
    let i2 = cfg.instance("VI_2").unwrap();
    assert_eq!(
        i2.mcast_dst_ip,
        Some("224.0.0.19".parse::<IpAddr>().unwrap())
    );
    assert_eq!(i2.garp_extra_if_or(g).map(|x| x.all), Some(true));
}

#[test]
fn process_tuning_is_accepted_with_an_info_note() {
    let text = "global_defs {
    vrrp_priority -10
    vrrp_no_swap
    vrrp_rt_priority 50
    vrrp_rlimit_rttime 10000
    vrrp_cpu_affinity 0 1
    checker_priority 5
    checker_no_swap
    process_names
    vrrp_process_name lb_vrrp
    max_auto_priority
    min_auto_priority_delay 500000
}
";
    let (cfg, d) = analyse_text(text);
    let got: Vec<_> =
        d.0.iter()
            .map(|x| (x.severity, x.class, x.span.as_ref().unwrap().line))
            .collect();
    let info = |line| (Severity::Info, DiagClass::Unsupported, line);
    // vrrp_no_swap is applied (mlockall): no note. checker_no_swap says how it is applied.
    assert_eq!(
        got,
        vec![
            info(2),
            info(4),
            info(5),
            info(6),
            info(7),
            info(8),
            info(9),
            info(10),
            info(11),
            info(12)
        ]
    );
    assert!(!d.has_errors() && d.warnings().count() == 0);
    assert!(
        d.0[0]
            .message
            .contains("`vrrp_priority` accepted with no effect"),
        "{}",
        d.0[0].message
    );
    assert!(d.0[5].message.contains("mlockall"), "{}", d.0[5].message);
    assert!(
        d.0[0].render().contains("/t/rampart.conf:2:5: info: "),
        "{}",
        d.0[0].render()
    );
    let t = &cfg.global.vrrp_process;
    assert_eq!(
        (
            t.priority,
            t.no_swap,
            t.rt_priority,
            t.rlimit_rttime,
            t.cpu_affinity.clone()
        ),
        (Some(-10), true, Some(50), Some(10000), vec![0, 1])
    );
    assert_eq!(cfg.global.checker_process.priority, Some(5));
}

#[test]
fn bad_values_are_errors_naming_the_expected_form() {
    use DiagClass::*;
    use Severity::*;
    let text = "global_defs {
    vrrp_down_timer_adverts 0
    vrrp_garp_interval fast
    vrrp_priority -21
    vrrp_rt_priority 100
    vrrp_garp_extra_if all
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    virtual_ipaddress {
        192.0.2.1
    }
    unicast_ttl 256
    mcast_dst_ip 192.0.2.9
    down_timer_adverts 101
    track_file {
        nosuch weight 300
    }
}
";
    let got = diags(text);
    let want = vec![
        (
            Error,
            BadValue,
            2,
            29,
            "invalid value for `vrrp_down_timer_adverts` `0`",
        ),
        (
            Error,
            BadValue,
            3,
            24,
            "invalid value for `vrrp_garp_interval` `fast`",
        ),
        (
            Error,
            BadValue,
            4,
            19,
            "invalid value for `vrrp_priority` `-21`",
        ),
        (
            Error,
            BadValue,
            5,
            22,
            "invalid value for `vrrp_rt_priority` `100`",
        ),
        (
            Error,
            Missing,
            6,
            28,
            "`vrrp_garp_extra_if` needs an interval",
        ),
        (
            Error,
            BadValue,
            14,
            17,
            "invalid value for `unicast_ttl` `256`",
        ),
        (Error, BadValue, 15, 18, "invalid mcast_dst_ip `192.0.2.9`"),
        (
            Error,
            BadValue,
            16,
            24,
            "invalid value for `down_timer_adverts` `101`",
        ),
        (
            Error,
            Semantic,
            18,
            9,
            "track_file names unknown track_file block `nosuch`",
        ),
        (Error, BadValue, 18, 23, "invalid weight `300`"),
    ];
    let got: Vec<_> = got
        .iter()
        .map(|(s, c, l, col, m)| (*s, *c, *l, *col, m.as_str()))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn track_file_block_diagnostics() {
    use DiagClass::*;
    use Severity::*;
    let text = "vrrp_track_file old {
    file /run/old
}
track_file nofile {
    weight 2
}
track_file typo {
    file /run/x
    wieght 3
}
";
    let got = diags(text);
    let got: Vec<_> = got
        .iter()
        .map(|(s, c, l, col, m)| (*s, *c, *l, *col, m.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                Warning,
                Deprecated,
                1,
                1,
                "`vrrp_track_file` is a deprecated synonym of `track_file`"
            ),
            (Error, Missing, 4, 1, "track_file `nofile` has no `file`"),
            (
                Error,
                UnknownKeyword,
                9,
                5,
                "unknown keyword `wieght` in track_file"
            ),
        ]
    );
}

#[test]
fn track_file_in_a_real_server_is_an_error_pointing_to_file_check() {
    // keepalived 2.2.7: "Unknown keyword 'track_file'" there; FILE_CHECK tracks a file.
    let text = "virtual_server 10.0.0.1 80 {
    protocol TCP
    real_server 10.0.0.2 80 {
        track_file { f }
    }
}
";
    let got = diags(text);
    assert!(
        got.iter().any(|(s, c, l, _, m)| *s == Severity::Error
            && *c == DiagClass::UnknownKeyword
            && *l == 4
            && m.contains("`track_file` is not valid in real_server")),
        "{got:?}"
    );
}

#[test]
fn garp_group_sets_intervals_per_interface() {
    let text = "global_defs {
    vrrp_garp_interval 0.01
    vrrp_gna_interval 0.02
}
garp_group {
    garp_interval 0.5
    interfaces {
        eth1
        eth2
    }
}
garp_group {
    gna_interval 0.25
    interface eth3
}
";
    let (cfg, d) = analyse_text(text);
    assert_eq!(d.0, vec![], "{d}");
    let ms = Duration::from_millis;
    assert_eq!(cfg.garp_intervals("eth1"), (ms(500), ms(20)));
    assert_eq!(cfg.garp_intervals("eth2"), (ms(500), ms(20)));
    assert_eq!(cfg.garp_intervals("eth3"), (ms(10), ms(250)));
    assert_eq!(cfg.garp_intervals("eth0"), (ms(10), ms(20)));
}

#[test]
fn garp_group_diagnostics() {
    use DiagClass::*;
    use Severity::*;
    let text = "garp_group {
    garp_interval 0.5
}
garp_group {
    interface eth1
    interfaces {
        eth2
    }
}
garp_group {
    interface eth1
    garp_intervall 1
}
";
    let got = diags(text);
    let got: Vec<_> = got
        .iter()
        .map(|(s, c, l, col, m)| (*s, *c, *l, *col, m.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                Error,
                Missing,
                1,
                1,
                "garp_group has no `interface` or `interfaces`"
            ),
            (
                Error,
                Semantic,
                6,
                5,
                "use only one of `interface` and `interfaces` in a garp_group"
            ),
            (
                Error,
                Duplicate,
                10,
                1,
                "interface `eth1` is already in the garp_group at line 4"
            ),
            (
                Error,
                UnknownKeyword,
                12,
                5,
                "unknown keyword `garp_intervall` in garp_group"
            ),
        ]
    );
}

#[test]
fn strict_mode_per_instance() {
    let text = "global_defs {
    vrrp_higher_prio_send_advert
}
vrrp_instance A {
    interface eth0
    virtual_router_id 1
    virtual_ipaddress {
        192.0.2.1
    }
    strict_mode
}
vrrp_instance B {
    interface eth0
    virtual_router_id 2
    virtual_ipaddress {
        192.0.2.2
    }
    strict_mode off
}
";
    let (cfg, d) = analyse_text(text);
    assert!(!d.has_errors(), "{d}");
    let (a, b) = (cfg.instance("A").unwrap(), cfg.instance("B").unwrap());
    assert_eq!((a.strict_mode, b.strict_mode), (Some(true), Some(false)));
    assert!(a.lower_prio_no_advert_or(&cfg.global) && !a.higher_prio_send_advert_or(&cfg.global));
    assert!(!b.lower_prio_no_advert_or(&cfg.global) && b.higher_prio_send_advert_or(&cfg.global));
}

#[test]
fn ignored_tracking_weights_are_warned_like_keepalived() {
    use DiagClass::*;
    use Severity::*;
    let text = "vrrp_script chk {
    script /bin/true
    weight 5
}
track_file tf {
    file /run/tf
    weight 2
}
vrrp_sync_group G {
    group {
        A
    }
}
vrrp_instance A {
    interface eth0
    virtual_router_id 1
    virtual_ipaddress {
        192.0.2.1
    }
    track_interface {
        eth1 weight 5
    }
    track_script {
        chk
    }
    track_file {
        tf weight 0
    }
}
vrrp_instance B {
    interface eth0
    virtual_router_id 2
    priority 255
    virtual_ipaddress {
        192.0.2.2
    }
    track_file {
        tf
    }
}
";
    let got = diags(text);
    let got: Vec<_> = got
        .iter()
        .map(|(s, c, l, col, m)| (*s, *c, *l, *col, m.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                Warning,
                Semantic,
                9,
                1,
                "vrrp_sync_group `G` has only one member (`A`): a sync group keeps several instances together"
            ),
            (
                Warning,
                Semantic,
                21,
                9,
                "weight of tracked interface `eth1` ignored: `A` is in sync group `G`; it going down means FAULT (as in keepalived)"
            ),
            (
                Warning,
                Semantic,
                24,
                9,
                "tracked script `chk` with weight 5 ignored: `A` is in sync group `G` (as in keepalived; use weight 0 to go to FAULT on failure)"
            ),
            (
                Warning,
                Semantic,
                38,
                9,
                "tracked file `tf` with weight 2 ignored: `B` is the address owner (priority 255) (as in keepalived; use weight 0 to go to FAULT on a non-zero value)"
            ),
        ]
    );
}

#[test]
fn sync_group_tracking_weight_keeps_weights_and_global_tracking_is_its_deprecated_form() {
    use DiagClass::*;
    use Severity::*;
    let text = "vrrp_script chk {
    script /bin/true
    weight 5
}
vrrp_sync_group G {
    group {
        A
    }
    sync_group_tracking_weight
}
vrrp_sync_group H {
    group {
        B
    }
    global_tracking
}
vrrp_instance A {
    interface eth0
    virtual_router_id 1
    virtual_ipaddress {
        192.0.2.1
    }
    track_script {
        chk
    }
    native_ipv6
    debug 2
}
vrrp_instance B {
    interface eth0
    virtual_router_id 2
    virtual_ipaddress {
        192.0.2.2
    }
    track_script {
        chk
    }
}
";
    let (cfg, d) = analyse_text(text);
    let got: Vec<_> =
        d.0.iter()
            .map(|x| {
                (
                    x.severity,
                    x.class,
                    x.span.as_ref().unwrap().line,
                    x.message.as_str(),
                )
            })
            .collect();
    assert_eq!(
        got,
        vec![
            (
                Warning,
                Semantic,
                5,
                "vrrp_sync_group `G` has only one member (`A`): a sync group keeps several instances together"
            ),
            (
                Warning,
                Semantic,
                11,
                "vrrp_sync_group `H` has only one member (`B`): a sync group keeps several instances together"
            ),
            (
                Warning,
                Deprecated,
                15,
                "`global_tracking` is deprecated: use track_interface/track_script/track_file on the sync group (it keeps the members' tracking weights, as `sync_group_tracking_weight`)"
            ),
            (
                Warning,
                Deprecated,
                26,
                "`native_ipv6` is deprecated: the virtual addresses decide the family (ignored)"
            ),
            (
                Info,
                Unsupported,
                27,
                "`debug` accepted with no effect (keepalived does not implement it either)"
            ),
        ]
    );
    assert!(cfg.sync_groups.iter().all(|g| g.tracking_weight));
}

#[test]
fn log_unknown_vrids_is_a_global_flag() {
    let (cfg, d) = analyse_text("global_defs {\n    log_unknown_vrids\n}\n");
    assert_eq!(d.0, vec![], "{d}");
    assert!(cfg.global.log_unknown_vrids);
}
