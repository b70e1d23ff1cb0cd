//! keepalived keywords beyond RFC 5798, in the pure core with exact virtual time:
//! garp_lower_prio_*, lower_prio_no_advert, higher_prio_send_advert,
//! notify_master_rx_lower_pri, down_timer_adverts, vrrp_startup_delay, check_unicast_src,
//! unicast_fault_no_peer, skip_check_adv_addr, track_file, garp_extra_if; and their
//! resolution from keepalived.conf text (defaults, globals, vrrp_min_garp, vrrp_strict).

mod vrrp_core_support;

use rampart::config::{LoadOptions, load_str};
use rampart::vrrp::fsm::{
    Action, Input, Instance, InstanceParams, LogLevel, TrackedFile, TransitionReason,
    parse_track_file_value,
};
use rampart::vrrp::packet::DropReason;
use rampart::vrrp::{Centis, Node, TimerKind, Transition, VrrpPacket, VrrpState};
use std::time::{Duration, Instant};
use vrrp_core_support::*;

use TimerKind::*;
use VrrpState::*;

fn us(n: u64) -> Duration {
    Duration::from_micros(n)
}

fn arm(timer: TimerKind, after: Duration) -> Action {
    Action::ArmTimer { timer, after }
}

fn disarm(timer: TimerKind) -> Action {
    Action::DisarmTimer { timer }
}

fn send(inst: &Instance, priority: u8) -> Action {
    let p = inst.params();
    Action::SendAdvert {
        packet: VrrpPacket {
            version: p.version,
            vrid: p.vrid,
            priority,
            auth_type: 0,
            advert_int: p.advert_int,
            addresses: p.vips.clone(),
            auth_data: [0; 8],
        },
        ah_seq: None,
    }
}

fn notify(from: VrrpState, to: VrrpState, prio: u8, reason: TransitionReason) -> Action {
    Action::Notify(Transition {
        instance: "vi".into(),
        from,
        to,
        priority: prio,
        reason,
    })
}

struct T {
    inst: Instance,
    t0: Instant,
}

impl T {
    fn new(p: InstanceParams) -> T {
        let mut inst = Instance::new(p);
        let t0 = Instant::now();
        inst.step(
            Input::LocalAddress {
                addr: ip("10.0.0.1"),
            },
            t0,
        );
        T { inst, t0 }
    }
    fn at(&mut self, ms: u64, input: Input) -> Vec<Action> {
        self.inst.step(input, self.t0 + Duration::from_millis(ms))
    }
    fn master(p: InstanceParams) -> T {
        let mut t = T::new(p);
        t.at(0, Input::Startup);
        t.at(3700, Input::TimerExpired { timer: MasterDown });
        assert_eq!(t.inst.state(), Master);
        t
    }
}

// ---- MASTER receiving a lower-priority advert ------------------------------------------------

/// Always the last action for a lower-priority advert: the MASTER_RX_LOWER_PRI fifo line.
fn rx_lower(from: &str, priority: u8, ours: u8) -> Action {
    Action::NotifyMasterRxLowerPri {
        from: ip(from),
        priority,
        ours,
    }
}

#[test]
fn lower_prio_no_advert_keeps_only_the_garp_refresh() {
    let mut p = params("vi", 100);
    p.lower_prio_no_advert = true;
    let mut t = T::master(p);
    let adv = advert_from(t.inst.params(), "10.0.0.2", 50);
    assert_eq!(
        t.at(4000, rx(adv)),
        vec![
            Action::SendGratuitous { repeat: 5 },
            arm(GarpLowerPrio, Duration::from_secs(5)),
            rx_lower("10.0.0.2", 50, 100),
        ]
    );
}

#[test]
fn garp_lower_prio_repeat_zero_sends_nothing_but_the_advert() {
    let mut p = params("vi", 100);
    p.garp_lower_prio_repeat = 0;
    let mut t = T::master(p);
    let adv = advert_from(t.inst.params(), "10.0.0.2", 50);
    assert_eq!(
        t.at(4000, rx(adv)),
        vec![send(&t.inst, 100), rx_lower("10.0.0.2", 50, 100)]
    );
}

#[test]
fn garp_lower_prio_delay_zero_means_one_round() {
    let mut p = params("vi", 100);
    p.garp_lower_prio_repeat = 2;
    p.garp_lower_prio_delay = Duration::ZERO;
    let mut t = T::master(p);
    let adv = advert_from(t.inst.params(), "10.0.0.2", 50);
    assert_eq!(
        t.at(4000, rx(adv)),
        vec![
            send(&t.inst, 100),
            Action::SendGratuitous { repeat: 2 },
            rx_lower("10.0.0.2", 50, 100)
        ]
    );
    // Leaving MASTER does not disarm a timer that was never armed.
    let higher = advert_from(t.inst.params(), "10.0.0.2", 200);
    let acts = t.at(4100, rx(higher));
    assert!(!acts.contains(&disarm(GarpLowerPrio)), "{acts:?}");
}

/// Emitted whether or not `notify_master_rx_lower_pri` is configured: keepalived always
/// writes the `MASTER_RX_LOWER_PRI` fifo line (with its own priority, `ours`).
#[test]
fn master_rx_lower_pri_is_an_action_without_a_script_too() {
    let mut p = params("vi", 100);
    p.garp_lower_prio_repeat = 0;
    let mut t = T::master(p);
    let adv = advert_from(t.inst.params(), "10.0.0.2", 50);
    assert_eq!(
        t.at(4000, rx(adv)),
        vec![
            send(&t.inst, 100),
            Action::NotifyMasterRxLowerPri {
                from: ip("10.0.0.2"),
                priority: 50,
                ours: 100,
            }
        ]
    );
}

#[test]
fn lower_prio_garp_timer_after_leaving_master_does_nothing() {
    let mut t = T::master(params("vi", 100));
    t.at(4000, rx(advert_from(t.inst.params(), "10.0.0.2", 50)));
    let acts = t.at(4100, rx(advert_from(t.inst.params(), "10.0.0.2", 200)));
    assert!(acts.contains(&disarm(GarpLowerPrio)), "{acts:?}");
    assert_eq!(t.inst.state(), Backup);
    assert_eq!(
        t.at(
            9000,
            Input::TimerExpired {
                timer: GarpLowerPrio
            }
        ),
        vec![]
    );
}

// ---- MASTER receiving a higher-priority advert -----------------------------------------------

#[test]
fn higher_prio_send_advert_answers_before_yielding() {
    let mut p = params("vi", 100);
    p.higher_prio_send_advert = true;
    let mut t = T::master(p);
    let adv = advert_from(t.inst.params(), "10.0.0.2", 150);
    let acts = t.at(4000, rx(adv));
    // Our (lower) priority goes out first, then the usual MASTER -> BACKUP exit.
    assert_eq!(acts[0], send(&t.inst, 100));
    assert_eq!(acts[1], Action::DelVips);
    assert_eq!(
        acts.last(),
        Some(&notify(
            Master,
            Backup,
            100,
            TransitionReason::HigherPriorityAdvert {
                from: ip("10.0.0.2"),
                priority: 150
            }
        ))
    );
    assert_eq!(t.inst.counters().adverts_sent, 2);
}

#[test]
fn without_higher_prio_send_advert_a_master_yields_silently() {
    let mut t = T::master(params("vi", 100));
    let adv = advert_from(t.inst.params(), "10.0.0.2", 150);
    let acts = t.at(4000, rx(adv));
    assert_eq!(acts[0], Action::DelVips);
}

// ---- down_timer_adverts ----------------------------------------------------------------------

#[test]
fn down_timer_adverts_scales_the_master_down_interval() {
    let mut p = params("vi", 100);
    p.down_timer_adverts = 1;
    let mut t = T::new(p);
    // v2: 1 × 1 s + (256 - 100) / 256 s.
    assert_eq!(
        t.at(0, Input::Startup),
        vec![
            arm(MasterDown, us(1_609_375)),
            notify(Init, Backup, 100, TransitionReason::Startup)
        ]
    );
    // Every re-arm on a master's advert uses it too.
    let adv = advert_from(t.inst.params(), "10.0.0.2", 200);
    assert_eq!(t.at(500, rx(adv)), vec![arm(MasterDown, us(1_609_375))]);
    let mut p = v3(params("vi", 100), 10);
    p.down_timer_adverts = 10;
    let mut t = T::new(p);
    // v3: 10 × 0.1 s + 156 × 0.1 s / 256 = 1 s + 60.937 ms.
    assert_eq!(t.at(0, Input::Startup)[0], arm(MasterDown, us(1_060_937)));
}

// ---- vrrp_startup_delay ----------------------------------------------------------------------

#[test]
fn startup_delay_holds_init_then_starts() {
    let mut p = params("vi", 255);
    p.startup_delay = Duration::from_millis(5500);
    let mut t = T::new(p);
    assert_eq!(
        t.at(0, Input::Startup),
        vec![arm(StartupDelay, Duration::from_millis(5500))]
    );
    assert_eq!(t.inst.state(), Init);
    // A second Startup (reload) does not restart the delay.
    assert_eq!(t.at(100, Input::Startup), vec![]);
    // Adverts during the delay are not processed.
    let adv = advert_from(t.inst.params(), "10.0.0.2", 100);
    assert_eq!(
        t.at(200, rx(adv)),
        vec![Action::CountDrop {
            reason: DropReason::NotListening
        }]
    );
    let acts = t.at(
        5500,
        Input::TimerExpired {
            timer: StartupDelay,
        },
    );
    assert_eq!(
        acts.last(),
        Some(&notify(Init, Master, 255, TransitionReason::AddressOwner))
    );
    assert_eq!(
        t.inst.last_transition(),
        Some(t.t0 + Duration::from_millis(5500))
    );
}

#[test]
fn startup_delay_then_fault_if_the_link_went_down_meanwhile() {
    let mut p = params("vi", 100);
    p.startup_delay = Duration::from_secs(2);
    let mut t = T::new(p);
    t.at(0, Input::Startup);
    assert_eq!(t.at(1000, Input::LinkChanged { up: false }), vec![]);
    assert_eq!(
        t.at(
            2000,
            Input::TimerExpired {
                timer: StartupDelay
            }
        ),
        vec![notify(
            Init,
            Fault,
            100,
            TransitionReason::Fault {
                cause: "interface down".into()
            }
        )]
    );
}

// ---- check_unicast_src, unicast_fault_no_peer ------------------------------------------------

#[test]
fn check_unicast_src_drops_adverts_from_strangers() {
    let mut p = params("vi", 100);
    p.unicast_peers = vec![ip("10.0.0.2")];
    p.check_unicast_src = true;
    let mut t = T::new(p);
    t.at(0, Input::Startup);
    let mut stranger = advert_from(t.inst.params(), "10.0.0.9", 200);
    stranger.dst = ip("10.0.0.1");
    assert_eq!(
        t.at(100, rx(stranger)),
        vec![Action::CountDrop {
            reason: DropReason::UnknownUnicastSource
        }]
    );
    let mut peer = advert_from(t.inst.params(), "10.0.0.2", 200);
    peer.dst = ip("10.0.0.1");
    assert_eq!(t.at(200, rx(peer)), vec![arm(MasterDown, us(3_609_375))]);
}

#[test]
fn unicast_without_check_accepts_any_source() {
    let mut p = params("vi", 100);
    p.unicast_peers = vec![ip("10.0.0.2")];
    let mut t = T::new(p);
    t.at(0, Input::Startup);
    let mut stranger = advert_from(t.inst.params(), "10.0.0.9", 200);
    stranger.dst = ip("10.0.0.1");
    assert_eq!(
        t.at(100, rx(stranger)),
        vec![arm(MasterDown, us(3_609_375))]
    );
}

#[test]
fn unicast_fault_no_peer_without_peers_is_fault() {
    let mut p = params("vi", 100);
    p.unicast_fault_no_peer = true;
    let mut t = T::new(p);
    assert_eq!(
        t.at(0, Input::Startup),
        vec![notify(
            Init,
            Fault,
            100,
            TransitionReason::Fault {
                cause: "unicast_fault_no_peer and no unicast_peer".into()
            }
        )]
    );
    assert_eq!(
        t.inst.status().fault.as_deref(),
        Some("unicast_fault_no_peer and no unicast_peer")
    );
}

// ---- skip_check_adv_addr ---------------------------------------------------------------------

#[test]
fn skip_check_adv_addr_checks_a_new_master_only() {
    let wrong_vips = |t: &T, src: &str| {
        let mut a = advert_from(t.inst.params(), src, 200);
        a.vrrp.addresses = vec![ip("192.0.2.7")];
        a
    };
    let is_log = |a: &Action| {
        matches!(
            a,
            Action::Log {
                level: LogLevel::Warn,
                ..
            }
        )
    };
    // Without the flag: a changed list from the same master is logged again.
    let mut t = T::new(params("vi", 100));
    t.at(0, Input::Startup);
    assert!(t.at(100, rx(wrong_vips(&t, "10.0.0.2"))).iter().any(is_log));
    let mut other = wrong_vips(&t, "10.0.0.2");
    other.vrrp.addresses = vec![ip("192.0.2.8")];
    assert!(t.at(200, rx(other.clone())).iter().any(is_log));
    // With it: the first advert of a master is checked, later ones from it are not.
    let mut p = params("vi", 100);
    p.skip_check_adv_addr = true;
    let mut t = T::new(p);
    t.at(0, Input::Startup);
    assert!(t.at(100, rx(wrong_vips(&t, "10.0.0.2"))).iter().any(is_log));
    assert!(!t.at(200, rx(other)).iter().any(is_log));
    // A different master is checked again.
    let mut third = wrong_vips(&t, "10.0.0.3");
    third.vrrp.addresses = vec![ip("192.0.2.9")];
    assert!(t.at(300, rx(third)).iter().any(is_log));
}

// ---- track_file ------------------------------------------------------------------------------

fn file(name: &str, weight: i32, reverse: bool) -> TrackedFile {
    TrackedFile {
        name: name.into(),
        weight,
        reverse,
        value: 0,
    }
}

fn track(name: &str, value: i64) -> Input {
    Input::TrackFile {
        name: name.into(),
        value,
    }
}

#[test]
fn track_file_value_times_weight_adjusts_priority() {
    let mut p = params("vi", 100);
    p.track_files = vec![file("f", 2, false)];
    let mut t = T::master(p);
    // 10 × 2 = +20: a MASTER advertises the new priority at once.
    assert_eq!(t.at(4000, track("f", 10)), vec![send(&t.inst, 120)]);
    assert_eq!(t.inst.effective_priority(), 120);
    // -100 × 2 = -200: clamped at 1, still not FAULT (> -254).
    t.at(4100, track("f", -100));
    assert_eq!(t.inst.effective_priority(), 1);
    assert_eq!(t.inst.state(), Master);
    // -127 × 2 = -254 < -253: FAULT.
    let acts = t.at(4200, track("f", -127));
    assert_eq!(t.inst.state(), Fault);
    assert_eq!(acts[0], send(&t.inst, 0));
    assert_eq!(
        t.inst.status().fault.as_deref(),
        Some("track_file f reads -127")
    );
    // Back to 0: BACKUP.
    let acts = t.at(4300, track("f", 0));
    assert_eq!(
        acts.last(),
        Some(&notify(Fault, Backup, 100, TransitionReason::FaultCleared))
    );
}

#[test]
fn track_file_weight_zero_means_nonzero_is_fault() {
    let mut p = params("vi", 100);
    p.track_files = vec![file("f", 0, false), file("r", 0, true)];
    let mut t = T::new(p);
    // `r` is reversed: its 0 means FAULT until it reads non-zero.
    t.at(0, track("r", 1));
    t.at(0, Input::Startup);
    assert_eq!(t.inst.state(), Backup);
    t.at(100, track("f", 7));
    assert_eq!(t.inst.state(), Fault);
    t.at(200, track("f", 0));
    assert_eq!(t.inst.state(), Backup);
    t.at(300, track("r", 0));
    assert_eq!(t.inst.state(), Fault);
    assert_eq!(
        t.inst.status().fault.as_deref(),
        Some("track_file r reads 0")
    );
}

#[test]
fn track_file_reverse_inverts_the_sign() {
    let mut p = params("vi", 100);
    p.track_files = vec![file("f", 3, true)];
    let mut t = T::new(p);
    t.at(0, Input::Startup);
    t.at(10, track("f", 5));
    assert_eq!(t.inst.effective_priority(), 85);
}

#[test]
fn track_file_does_not_move_an_address_owner() {
    let mut p = params("vi", 255);
    p.track_files = vec![file("f", 1, false)];
    let mut t = T::new(p);
    t.at(0, Input::Startup);
    t.at(10, track("f", -50));
    assert_eq!(t.inst.effective_priority(), 255);
    t.at(20, track("f", -254));
    assert_eq!(t.inst.state(), Fault);
}

#[test]
fn track_file_values_read_like_strtol() {
    for (text, want) in [
        ("5\n", Some(5)),
        ("  -12 apples", Some(-12)),
        ("+7", Some(7)),
        ("0x1f", Some(31)),
        ("010", Some(8)),
        ("0x", Some(0)),
        ("", Some(0)),
        ("up", Some(0)),
        ("2147483648", Some(2_147_483_648)),
        ("-2147483648", Some(-2_147_483_648)),
        ("2147483649", None),
        ("99999999999999999999999", None),
    ] {
        assert_eq!(parse_track_file_value(text), want, "{text:?}");
    }
}

// ---- garp_extra_if ---------------------------------------------------------------------------

#[test]
fn garp_extra_if_repeats_while_master() {
    let mut p = params("vi", 100);
    p.garp_extra_if = Some((true, Centis(10_000)));
    let mut t = T::new(p);
    t.at(0, Input::Startup);
    let acts = t.at(3700, Input::TimerExpired { timer: MasterDown });
    assert!(
        acts.contains(&arm(GarpExtraIf, Duration::from_secs(100))),
        "{acts:?}"
    );
    assert_eq!(
        t.at(103_700, Input::TimerExpired { timer: GarpExtraIf }),
        vec![
            Action::SendGratuitousExtra { all: true },
            arm(GarpExtraIf, Duration::from_secs(100))
        ]
    );
    let acts = t.at(104_000, Input::Shutdown);
    assert!(acts.contains(&disarm(GarpExtraIf)), "{acts:?}");
}

// ---- resolution from keepalived.conf ---------------------------------------------------------

fn params_from(text: &str) -> Vec<InstanceParams> {
    let loaded =
        load_str("keywords.conf", text, &LoadOptions::default()).unwrap_or_else(|d| panic!("{d}"));
    let node = Node::from_config(&loaded.config).unwrap();
    node.instances()
        .iter()
        .map(|i| i.params().clone())
        .collect()
}

const INSTANCES: &str = r#"
vrrp_instance defaults {
    interface eth0
    virtual_router_id 1
    virtual_ipaddress { 192.0.2.1 }
}
vrrp_instance own {
    interface eth0
    virtual_router_id 2
    virtual_ipaddress { 192.0.2.2 }
    garp_master_repeat 9
    garp_master_delay 9
    garp_lower_prio_repeat 2
    garp_lower_prio_delay 2
    lower_prio_no_advert
    higher_prio_send_advert on
    skip_check_adv_addr off
    check_unicast_src
    down_timer_adverts 5
    unicast_fault_no_peer
    notify_master_rx_lower_pri /bin/true
    garp_extra_if all 60
}
"#;

#[test]
fn keepalived_defaults_resolve_like_keepalived() {
    let p = params_from(INSTANCES);
    let d = &p[0];
    assert_eq!(d.garp_lower_prio_repeat, 5);
    assert_eq!(d.garp_lower_prio_delay, Duration::from_secs(5));
    assert!(!d.lower_prio_no_advert && !d.higher_prio_send_advert);
    assert!(!d.skip_check_adv_addr && !d.check_unicast_src && !d.unicast_fault_no_peer);
    assert_eq!(d.down_timer_adverts, 3);
    assert_eq!(d.startup_delay, Duration::ZERO);
    assert_eq!(d.garp_extra_if, None);
    let o = &p[1];
    // The instance's own garp_master_* do not carry over to the lower-prio ones.
    assert_eq!((o.garp_master_repeat, o.garp_lower_prio_repeat), (9, 2));
    assert_eq!(o.garp_lower_prio_delay, Duration::from_secs(2));
    assert!(o.lower_prio_no_advert && o.higher_prio_send_advert);
    assert!(o.check_unicast_src && o.unicast_fault_no_peer);
    assert_eq!(o.down_timer_adverts, 5);
    assert_eq!(o.garp_extra_if, Some((true, Centis(6000))));
}

#[test]
fn globals_are_the_instances_defaults() {
    let text = format!(
        "global_defs {{
    vrrp_garp_master_repeat 3
    vrrp_garp_lower_prio_delay 7
    vrrp_lower_prio_no_advert
    vrrp_higher_prio_send_advert
    vrrp_skip_check_adv_addr
    vrrp_check_unicast_src
    vrrp_down_timer_adverts 4
    vrrp_startup_delay 5.5
    vrrp_garp_extra_if 120
}}
{INSTANCES}"
    );
    let p = params_from(&text);
    let d = &p[0];
    // Lower-prio repeat follows the global garp_master_repeat; its delay is its own global.
    assert_eq!(d.garp_lower_prio_repeat, 3);
    assert_eq!(d.garp_lower_prio_delay, Duration::from_secs(7));
    assert!(d.lower_prio_no_advert && d.higher_prio_send_advert);
    assert!(d.skip_check_adv_addr && d.check_unicast_src);
    assert_eq!(d.down_timer_adverts, 4);
    assert_eq!(d.startup_delay, Duration::from_millis(5500));
    assert_eq!(d.garp_extra_if, Some((false, Centis(12000))));
    // The instance's own settings win.
    let o = &p[1];
    assert!(!o.skip_check_adv_addr);
    assert_eq!(o.down_timer_adverts, 5);
}

#[test]
fn vrrp_min_garp_changes_only_defaults() {
    let p = params_from(&format!("global_defs {{\n vrrp_min_garp\n}}\n{INSTANCES}"));
    assert_eq!(p[0].garp_master_repeat, 1);
    assert_eq!(p[0].garp_master_delay, Duration::ZERO);
    assert_eq!(p[0].garp_lower_prio_repeat, 1);
    assert_eq!(p[0].garp_lower_prio_delay, Duration::ZERO);
    // A value set before vrrp_min_garp is kept (keepalived overwrites defaults only).
    let p = params_from(&format!(
        "global_defs {{\n vrrp_garp_master_repeat 3\n vrrp_min_garp\n}}\n{INSTANCES}"
    ));
    assert_eq!(p[0].garp_master_repeat, 3);
    assert_eq!(p[0].garp_master_delay, Duration::ZERO);
    // `vrrp_min_garp off` changes nothing.
    let p = params_from(&format!(
        "global_defs {{\n vrrp_min_garp off\n}}\n{INSTANCES}"
    ));
    assert_eq!(p[0].garp_master_repeat, 5);
}

#[test]
fn vrrp_strict_forces_lower_prio_no_advert_and_forbids_higher_prio_send_advert() {
    let p = params_from(
        "global_defs {\n vrrp_strict\n vrrp_higher_prio_send_advert\n}
vrrp_instance s {
    interface eth0
    virtual_router_id 3
    virtual_ipaddress { 192.0.2.3 }
    lower_prio_no_advert off
}",
    );
    assert!(p[0].lower_prio_no_advert);
    assert!(!p[0].higher_prio_send_advert);
}

#[test]
fn track_file_from_config_instance_and_group() {
    let p = params_from(
        r#"
track_file ready {
    file "/run/ready"
    weight -2 reverse
}
vrrp_track_file health {
    file /run/health
}
vrrp_sync_group G {
    group { b }
    track_file { health weight 0 }
}
vrrp_instance a {
    interface eth0
    virtual_router_id 4
    virtual_ipaddress { 192.0.2.4 }
    track_file {
        ready
        health weight 10 noreverse
    }
}
vrrp_instance b {
    interface eth0
    virtual_router_id 5
    virtual_ipaddress { 192.0.2.5 }
    track_file {
        ready
        health weight 0
    }
}
"#,
    );
    let tf = |name: &str, weight, reverse| TrackedFile {
        name: name.into(),
        weight,
        reverse,
        value: 0,
    };
    assert_eq!(
        p[0].track_files,
        vec![tf("ready", -2, true), tf("health", 10, false)]
    );
    // A sync group member does not track weighted files (keepalived: "ignoring tracked file
    // ready with weight -2 due to SYNC group"); weight 0 ones, its own and the group's, stay.
    assert_eq!(
        p[1].track_files,
        vec![tf("health", 0, false), tf("health", 0, false)]
    );
}

#[test]
fn weighted_tracking_is_ignored_in_sync_groups_and_by_owners_like_keepalived() {
    let p = params_from(
        r#"
vrrp_script chk {
    script "/bin/true"
    weight 5
}
vrrp_sync_group G {
    group { member }
}
vrrp_instance member {
    interface eth0
    virtual_router_id 6
    virtual_ipaddress { 192.0.2.6 }
    track_interface { eth1 weight 5 }
    track_script { chk }
}
vrrp_instance owner {
    interface eth0
    virtual_router_id 7
    priority 255
    virtual_ipaddress { 192.0.2.7 }
    track_interface { eth1 weight 5 }
    track_script {
        chk
        chk weight 0
    }
}
"#,
    );
    // Sync group: the interface weight is dropped (down means FAULT), the weighted script
    // is not tracked.
    assert_eq!(p[0].track_interfaces, vec![tracked("eth1", 0)]);
    assert_eq!(p[0].track_scripts, vec![]);
    // Owner: the weighted script is not tracked; the second `chk` line is a duplicate, which
    // keepalived 2.2.7 ignores ("duplicate track_script chk - ignoring"), so nothing is.
    assert_eq!(p[1].track_interfaces, vec![tracked("eth1", 5)]);
    assert_eq!(p[1].track_scripts, vec![]);
}

#[test]
fn startup_delay_is_for_the_daemon_start_not_for_instances_added_by_reload() {
    let one = "global_defs {\n vrrp_startup_delay 2\n}
vrrp_instance a {
    interface eth0
    virtual_router_id 8
    virtual_ipaddress { 192.0.2.8 }
}
";
    let two = format!(
        "{one}vrrp_instance b {{
    interface eth0
    virtual_router_id 9
    virtual_ipaddress {{ 192.0.2.9 }}
}}
"
    );
    let load = |t: &str| {
        load_str("keywords.conf", t, &LoadOptions::default())
            .unwrap_or_else(|d| panic!("{d}"))
            .config
    };
    let mut node = Node::from_config(&load(one)).unwrap();
    assert_eq!(
        node.instances()[0].params().startup_delay,
        Duration::from_secs(2)
    );
    node.rebuild(&load(&two), &[Some(0), None], Instant::now())
        .unwrap();
    assert_eq!(
        node.instances()[0].params().startup_delay,
        Duration::from_secs(2)
    );
    assert_eq!(node.instances()[1].params().startup_delay, Duration::ZERO);
}

#[test]
fn sync_group_tracking_weight_keeps_member_weights() {
    let p = params_from(
        r#"
vrrp_script chk {
    script "/bin/true"
    weight 5
}
vrrp_sync_group G {
    group { member }
    sync_group_tracking_weight
}
vrrp_instance member {
    interface eth0
    virtual_router_id 6
    virtual_ipaddress { 192.0.2.6 }
    track_interface { eth1 weight 5 }
    track_script { chk }
}
"#,
    );
    assert_eq!(p[0].track_interfaces, vec![tracked("eth1", 5)]);
    assert_eq!(p[0].track_scripts, vec![tracked("chk", 5)]);
}
