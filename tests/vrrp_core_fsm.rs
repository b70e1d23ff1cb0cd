//! RFC 5798 §6.4 state tables, transition by transition, with exact virtual time.
//! Each test feeds inputs to one pure core and compares the complete action list.

mod vrrp_core_support;

use rampart::vrrp::auth::{Auth, key_bytes};
use rampart::vrrp::fsm::{Action, Input, Instance, SyncCommand, TransitionReason, VrrpState};
use rampart::vrrp::packet::{AhHeader, DecodeError, DropReason};
use rampart::vrrp::{TimerKind, Transition, VrrpPacket};
use std::time::{Duration, Instant};
use vrrp_core_support::*;

fn us(n: u64) -> Duration {
    Duration::from_micros(n)
}

fn arm(timer: TimerKind, after: Duration) -> Action {
    Action::ArmTimer { timer, after }
}

fn disarm(timer: TimerKind) -> Action {
    Action::DisarmTimer { timer }
}

fn notify(
    name: &str,
    from: VrrpState,
    to: VrrpState,
    prio: u8,
    reason: TransitionReason,
) -> Action {
    Action::Notify(Transition {
        instance: name.into(),
        from,
        to,
        priority: prio,
        reason,
    })
}

fn send(inst: &Instance, priority: u8) -> Action {
    let p = inst.params();
    Action::SendAdvert {
        packet: VrrpPacket {
            version: p.version,
            vrid: p.vrid,
            priority,
            auth_type: p.auth.wire_type(),
            advert_int: p.advert_int,
            addresses: p.vips.clone(),
            auth_data: match p.auth {
                Auth::Pass(k) => k,
                _ => [0; 8],
            },
        },
        ah_seq: None,
    }
}

/// The actions of becoming MASTER: advert, VIPs, GARPs, timers (RFC 5798 §6.4.1/6.4.2).
fn master_entry(inst: &Instance, prio: u8) -> Vec<Action> {
    vec![
        send(inst, prio),
        Action::AddVips,
        Action::SendGratuitous { repeat: 5 },
        arm(TimerKind::GarpDelay, Duration::from_secs(5)),
        arm(TimerKind::Advert, Duration::from_secs(1)),
    ]
}

struct T {
    inst: Instance,
    t0: Instant,
}

impl T {
    fn new(p: rampart::vrrp::InstanceParams) -> T {
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
    fn backup(p: rampart::vrrp::InstanceParams) -> T {
        let mut t = T::new(p);
        t.at(0, Input::Startup);
        assert_eq!(t.inst.state(), VrrpState::Backup);
        t
    }
    fn master(p: rampart::vrrp::InstanceParams) -> T {
        let mut t = T::backup(p);
        t.at(
            3700,
            Input::TimerExpired {
                timer: TimerKind::MasterDown,
            },
        );
        assert_eq!(t.inst.state(), VrrpState::Master);
        t
    }
}

use TimerKind::*;
use VrrpState::*;

// ---- 6.4.1 Initialize -------------------------------------------------------------------

#[test]
fn init_startup_goes_backup_with_master_down_interval() {
    let mut t = T::new(params("vi", 100));
    // v2: Skew_Time = (256 - 100) / 256 s = 609375 µs; Master_Down = 3 s + skew.
    assert_eq!(
        t.at(0, Input::Startup),
        vec![
            arm(MasterDown, us(3_609_375)),
            notify("vi", Init, Backup, 100, TransitionReason::Startup)
        ]
    );
}

#[test]
fn init_address_owner_goes_master_at_once() {
    let mut t = T::new(params("vi", 255));
    let mut want = master_entry(&t.inst, 255);
    want.push(notify(
        "vi",
        Init,
        Master,
        255,
        TransitionReason::AddressOwner,
    ));
    assert_eq!(t.at(0, Input::Startup), want);
}

#[test]
fn init_state_master_waits_like_keepalived() {
    let mut p = params("vi", 150);
    p.initial_state_master = true;
    let mut t = T::new(p);
    assert_eq!(
        t.at(0, Input::Startup),
        vec![
            arm(MasterDown, us(3_414_062)),
            notify("vi", Init, Backup, 150, TransitionReason::ConfiguredMaster)
        ]
    );
}

#[test]
fn init_with_link_down_goes_fault() {
    let mut t = T::new(params("vi", 100));
    assert_eq!(t.at(0, Input::LinkChanged { up: false }), vec![]);
    assert_eq!(
        t.at(0, Input::Startup),
        vec![notify(
            "vi",
            Init,
            Fault,
            100,
            TransitionReason::Fault {
                cause: "interface down".into()
            }
        )]
    );
    // Adverts are not processed in FAULT.
    let adv = advert_from(t.inst.params(), "10.0.0.2", 200);
    assert_eq!(
        t.at(10, rx(adv)),
        vec![Action::CountDrop {
            reason: DropReason::NotListening
        }]
    );
    assert_eq!(
        t.at(20, Input::LinkChanged { up: true }),
        vec![
            arm(MasterDown, us(3_609_375)),
            notify("vi", Fault, Backup, 100, TransitionReason::FaultCleared)
        ]
    );
}

// ---- 6.4.2 Backup -----------------------------------------------------------------------

#[test]
fn backup_shutdown_cancels_master_down() {
    let mut t = T::backup(params("vi", 100));
    assert_eq!(
        t.at(500, Input::Shutdown),
        vec![
            disarm(MasterDown),
            notify("vi", Backup, Stop, 100, TransitionReason::Shutdown)
        ]
    );
    // Everything after STOP is ignored.
    assert_eq!(t.at(600, Input::TimerExpired { timer: MasterDown }), vec![]);
}

#[test]
fn backup_master_down_timer_fires_becomes_master() {
    let mut t = T::backup(params("vi", 100));
    let mut want = vec![disarm(MasterDown)];
    want.extend(master_entry(&t.inst, 100));
    want.push(notify(
        "vi",
        Backup,
        Master,
        100,
        TransitionReason::MasterDown,
    ));
    assert_eq!(t.at(3610, Input::TimerExpired { timer: MasterDown }), want);
}

#[test]
fn backup_priority_zero_sets_master_down_to_skew() {
    let mut t = T::backup(params("vi", 100));
    let adv = advert_from(t.inst.params(), "10.0.0.2", 0);
    assert_eq!(t.at(1000, rx(adv)), vec![arm(MasterDown, us(609_375))]);
    assert_eq!(t.inst.counters().priority_zero_received, 1);
}

#[test]
fn backup_higher_or_equal_priority_resets_master_down() {
    let mut t = T::backup(params("vi", 100));
    for prio in [200, 100] {
        let adv = advert_from(t.inst.params(), "10.0.0.2", prio);
        assert_eq!(t.at(1000, rx(adv)), vec![arm(MasterDown, us(3_609_375))]);
    }
    assert_eq!(t.inst.master(), Some((ip("10.0.0.2"), 100)));
}

#[test]
fn backup_lower_priority_is_discarded_when_preempting() {
    let mut t = T::backup(params("vi", 100));
    let adv = advert_from(t.inst.params(), "10.0.0.2", 50);
    assert_eq!(t.at(1000, rx(adv)), vec![]);
    // ...so the original Master_Down_Timer expires and we preempt.
    let acts = t.at(3610, Input::TimerExpired { timer: MasterDown });
    assert!(acts.contains(&Action::AddVips));
}

#[test]
fn backup_nopreempt_accepts_lower_priority_master() {
    let mut p = params("vi", 100);
    p.nopreempt = true;
    let mut t = T::backup(p);
    let adv = advert_from(t.inst.params(), "10.0.0.2", 50);
    assert_eq!(t.at(1000, rx(adv)), vec![arm(MasterDown, us(3_609_375))]);
}

#[test]
fn backup_preempt_delay_holds_off_preemption() {
    let mut p = params("vi", 200);
    p.preempt_delay = Duration::from_secs(10);
    let mut t = T::backup(p);
    let skew200 = (256 - 200) * 1_000_000 / 256; // 218750 µs
    let adv = advert_from(t.inst.params(), "10.0.0.2", 100);
    // The first lower-priority advert starts the delay and is accepted as master.
    for ms in [1000, 2000, 10_999] {
        assert_eq!(
            t.at(ms, rx(adv.clone())),
            vec![arm(MasterDown, us(3_000_000 + skew200))],
            "at {ms} ms"
        );
    }
    // Once the delay has passed (10 s after the first), it is ignored: we will preempt.
    assert_eq!(t.at(11_000, rx(adv.clone())), vec![]);
    let acts = t.at(10_999 + 3219, Input::TimerExpired { timer: MasterDown });
    assert!(acts.contains(&Action::AddVips));
}

#[test]
fn backup_v3_learns_master_adver_interval() {
    let mut t = T::backup(v3(params("vi", 100), 100));
    let mut adv = advert_from(t.inst.params(), "10.0.0.2", 200);
    adv.vrrp.advert_int = rampart::vrrp::Centis(50);
    // Master_Down = 3 × 0.5 s + (156 × 0.5 s) / 256 = 1.5 s + 304687 µs.
    assert_eq!(t.at(1000, rx(adv)), vec![arm(MasterDown, us(1_804_687))]);
    assert_eq!(t.inst.master_adver_int(), rampart::vrrp::Centis(50));
}

#[test]
fn backup_v2_advert_interval_mismatch_is_dropped() {
    let mut t = T::backup(params("vi", 100));
    let mut adv = advert_from(t.inst.params(), "10.0.0.2", 200);
    adv.vrrp.advert_int = rampart::vrrp::Centis(200);
    assert_eq!(
        t.at(1000, rx(adv)),
        vec![Action::CountDrop {
            reason: DropReason::AdvertIntervalMismatch
        }]
    );
}

// ---- 6.4.3 Master -----------------------------------------------------------------------

#[test]
fn master_adver_timer_sends_and_rearms() {
    let mut t = T::master(params("vi", 100));
    assert_eq!(
        t.at(4700, Input::TimerExpired { timer: Advert }),
        vec![send(&t.inst, 100), arm(Advert, Duration::from_secs(1))]
    );
}

#[test]
fn master_priority_zero_received_sends_at_once() {
    let mut t = T::master(params("vi", 100));
    let adv = advert_from(t.inst.params(), "10.0.0.2", 0);
    assert_eq!(
        t.at(4000, rx(adv)),
        vec![send(&t.inst, 100), arm(Advert, Duration::from_secs(1))]
    );
}

fn master_to_backup(inst: &Instance, from: &str, prio: u8, down: Duration) -> Vec<Action> {
    vec![
        Action::DelVips,
        disarm(Advert),
        disarm(GarpDelay),
        disarm(GarpRefresh),
        arm(MasterDown, down),
        notify(
            inst.name(),
            Master,
            Backup,
            inst.effective_priority(),
            TransitionReason::HigherPriorityAdvert {
                from: ip(from),
                priority: prio,
            },
        ),
    ]
}

#[test]
fn master_higher_priority_advert_goes_backup() {
    let mut t = T::master(params("vi", 100));
    let adv = advert_from(t.inst.params(), "10.0.0.2", 101);
    let want = master_to_backup(&t.inst, "10.0.0.2", 101, us(3_609_375));
    assert_eq!(t.at(4000, rx(adv)), want);
}

#[test]
fn master_equal_priority_higher_address_wins() {
    let mut t = T::master(params("vi", 100));
    // Lower address, same priority: we stay master and re-assert.
    let lower = advert_from(t.inst.params(), "10.0.0.0", 100);
    assert_eq!(
        t.at(4000, rx(lower)),
        vec![
            send(&t.inst, 100),
            Action::SendGratuitous { repeat: 5 },
            arm(GarpLowerPrio, Duration::from_secs(5)),
            Action::NotifyMasterRxLowerPri {
                from: ip("10.0.0.0"),
                priority: 100,
                ours: 100,
            },
        ]
    );
    // Higher address, same priority: we yield.
    let higher = advert_from(t.inst.params(), "10.0.0.9", 100);
    let mut want = master_to_backup(&t.inst, "10.0.0.9", 100, us(3_609_375));
    // The lower-priority GARP round armed above is cancelled with the other MASTER timers.
    want.insert(4, disarm(GarpLowerPrio));
    assert_eq!(t.at(4100, rx(higher)), want);
}

#[test]
fn master_lower_priority_advert_is_answered_not_obeyed() {
    let mut t = T::master(params("vi", 100));
    let adv = advert_from(t.inst.params(), "10.0.0.2", 50);
    // keepalived also refreshes the peers' ARP caches: garp_lower_prio_repeat (default:
    // vrrp_garp_master_repeat) now, again after garp_lower_prio_delay.
    assert_eq!(
        t.at(4000, rx(adv)),
        vec![
            send(&t.inst, 100),
            Action::SendGratuitous { repeat: 5 },
            arm(GarpLowerPrio, Duration::from_secs(5)),
            // The MASTER_RX_LOWER_PRI fifo line (and notify_master_rx_lower_pri, if set).
            Action::NotifyMasterRxLowerPri {
                from: ip("10.0.0.2"),
                priority: 50,
                ours: 100,
            },
        ]
    );
    assert_eq!(t.inst.state(), Master);
    assert_eq!(
        t.at(
            9000,
            Input::TimerExpired {
                timer: GarpLowerPrio
            }
        ),
        vec![Action::SendGratuitous { repeat: 5 }]
    );
}

#[test]
fn master_v3_goes_backup_with_the_new_masters_interval() {
    let mut t = T::backup(v3(params("vi", 100), 100));
    t.at(3700, Input::TimerExpired { timer: MasterDown });
    let mut adv = advert_from(t.inst.params(), "10.0.0.2", 200);
    adv.vrrp.advert_int = rampart::vrrp::Centis(10);
    // 3 × 0.1 s + 156 × 0.1 s / 256.
    let want = master_to_backup(&t.inst, "10.0.0.2", 200, us(360_937));
    assert_eq!(t.at(4000, rx(adv)), want);
}

#[test]
fn master_shutdown_sends_priority_zero_and_releases() {
    let mut t = T::master(params("vi", 100));
    assert_eq!(
        t.at(5000, Input::Shutdown),
        vec![
            send(&t.inst, 0),
            Action::DelVips,
            disarm(Advert),
            disarm(GarpDelay),
            disarm(GarpRefresh),
            notify("vi", Master, Stop, 100, TransitionReason::Shutdown),
        ]
    );
    assert_eq!(t.inst.counters().priority_zero_sent, 1);
}

#[test]
fn master_to_fault_sends_priority_zero() {
    let mut t = T::master(params("vi", 100));
    assert_eq!(
        t.at(5000, Input::LinkChanged { up: false }),
        vec![
            send(&t.inst, 0),
            Action::DelVips,
            disarm(Advert),
            disarm(GarpDelay),
            disarm(GarpRefresh),
            notify(
                "vi",
                Master,
                Fault,
                100,
                TransitionReason::Fault {
                    cause: "interface down".into()
                }
            ),
        ]
    );
}

#[test]
fn master_garp_timers() {
    let mut p = params("vi", 100);
    p.garp_master_refresh = Some(rampart::vrrp::Centis(6000));
    p.garp_master_refresh_repeat = 2;
    let mut t = T::master(p);
    assert_eq!(
        t.at(8700, Input::TimerExpired { timer: GarpDelay }),
        vec![Action::SendGratuitous { repeat: 5 }]
    );
    assert_eq!(
        t.at(63_700, Input::TimerExpired { timer: GarpRefresh }),
        vec![
            Action::SendGratuitous { repeat: 2 },
            arm(GarpRefresh, Duration::from_secs(60))
        ]
    );
}

#[test]
fn stale_timers_are_ignored() {
    let mut t = T::backup(params("vi", 100));
    assert_eq!(t.at(100, Input::TimerExpired { timer: Advert }), vec![]);
    assert_eq!(t.at(100, Input::TimerExpired { timer: GarpDelay }), vec![]);
}

// ---- tracking ---------------------------------------------------------------------------

#[test]
fn track_script_weights_adjust_priority() {
    let mut p = params("vi", 100);
    p.track_scripts = vec![tracked("chk_down", -60), tracked("chk_up", 20)];
    let mut t = T::master(p);
    assert_eq!(t.inst.effective_priority(), 120);
    t.at(
        4000,
        Input::TrackScript {
            name: "chk_down".into(),
            ok: false,
        },
    );
    assert_eq!(t.inst.effective_priority(), 60);
    t.at(
        4000,
        Input::TrackScript {
            name: "chk_up".into(),
            ok: false,
        },
    );
    assert_eq!(t.inst.effective_priority(), 40);
    // The next advert carries the new priority; no transition by itself.
    assert_eq!(t.inst.state(), Master);
    let acts = t.at(4700, Input::TimerExpired { timer: Advert });
    assert_eq!(acts[0], send(&t.inst, 40));
}

#[test]
fn priority_is_clamped_and_owner_is_untouched() {
    let mut p = params("vi", 250);
    p.track_scripts = vec![tracked("a", 100)];
    assert_eq!(Instance::new(p).effective_priority(), 254);
    let mut p = params("vi", 10);
    p.track_scripts = vec![tracked("a", -100)];
    let mut i = Instance::new(p);
    i.step(
        Input::TrackScript {
            name: "a".into(),
            ok: false,
        },
        Instant::now(),
    );
    assert_eq!(i.effective_priority(), 1);
    let mut p = params("vi", 255);
    p.track_scripts = vec![tracked("a", -100)];
    let mut i = Instance::new(p);
    i.step(
        Input::TrackScript {
            name: "a".into(),
            ok: false,
        },
        Instant::now(),
    );
    assert_eq!(i.effective_priority(), 255);
}

#[test]
fn reverse_weight_counts_the_other_way() {
    let mut tr = tracked("a", 10);
    tr.reverse = true;
    assert_eq!(tr.contribution(), 0);
    tr.ok = false;
    assert_eq!(tr.contribution(), 10);
}

#[test]
fn weight_zero_failure_means_fault_and_recovery_means_backup() {
    let mut p = params("vi", 100);
    p.track_interfaces = vec![tracked("eth1", 0)];
    let mut t = T::backup(p);
    assert_eq!(
        t.at(
            1000,
            Input::TrackInterface {
                name: "eth1".into(),
                up: false
            }
        ),
        vec![
            disarm(MasterDown),
            notify(
                "vi",
                Backup,
                Fault,
                100,
                TransitionReason::Fault {
                    cause: "track_interface eth1 failed".into()
                }
            )
        ]
    );
    assert_eq!(
        t.at(
            2000,
            Input::TrackInterface {
                name: "eth1".into(),
                up: true
            }
        ),
        vec![
            arm(MasterDown, us(3_609_375)),
            notify("vi", Fault, Backup, 100, TransitionReason::FaultCleared)
        ]
    );
}

#[test]
fn dont_track_primary_ignores_own_link() {
    let mut p = params("vi", 100);
    p.track_primary = false;
    let mut t = T::backup(p);
    assert_eq!(t.at(1000, Input::LinkChanged { up: false }), vec![]);
    assert_eq!(t.inst.state(), Backup);
}

// ---- validation and counting ------------------------------------------------------------

#[test]
fn decode_errors_and_mismatches_are_counted_drops() {
    let mut t = T::backup(params("vi", 100));
    let base = advert_from(t.inst.params(), "10.0.0.2", 200);
    let cases: Vec<(Input, DropReason)> = vec![
        (
            Input::AdvertReceived {
                packet: Err(DecodeError::BadTtl(64)),
            },
            DropReason::BadTtl,
        ),
        (
            Input::AdvertReceived {
                packet: Err(DecodeError::BadChecksum {
                    carried: 1,
                    computed: 2,
                }),
            },
            DropReason::BadChecksum,
        ),
        (
            {
                let mut a = base.clone();
                a.vrrp.vrid = 52;
                rx(a)
            },
            DropReason::VridMismatch,
        ),
        (
            {
                let mut a = base.clone();
                a.vrrp.version = rampart::vrrp::Version::V3;
                rx(a)
            },
            DropReason::VersionMismatch,
        ),
        (
            {
                let mut a = base.clone();
                a.vrrp.auth_type = 1;
                rx(a)
            },
            DropReason::AuthTypeMismatch,
        ),
        (
            {
                let mut a = base.clone();
                a.src = ip("10.0.0.1");
                rx(a)
            },
            DropReason::OwnAdvert,
        ),
        (
            {
                let mut a = base.clone();
                a.dst = ip("10.0.0.1");
                rx(a)
            },
            DropReason::UnexpectedDestination,
        ),
    ];
    for (input, reason) in cases {
        assert_eq!(
            t.at(1000, input),
            vec![Action::CountDrop { reason }],
            "{reason:?}"
        );
        assert_eq!(t.inst.counters().drops[&reason], 1);
    }
    assert_eq!(t.inst.counters().adverts_received, 0);
}

#[test]
fn pass_authentication() {
    let mut p = params("vi", 100);
    p.auth = Auth::Pass(key_bytes("secret"));
    let mut t = T::backup(p);
    let good = advert_from(t.inst.params(), "10.0.0.2", 200);
    assert_eq!(
        t.at(1000, rx(good.clone())),
        vec![arm(MasterDown, us(3_609_375))]
    );
    let mut bad = good;
    bad.vrrp.auth_data = key_bytes("Secret");
    assert_eq!(
        t.at(1000, rx(bad)),
        vec![Action::CountDrop {
            reason: DropReason::AuthFailure
        }]
    );
}

#[test]
fn ah_sequence_numbers_are_sent_increasing_and_replays_refused() {
    use rampart::vrrp::packet::{AhParams, Ipv4Params, decode_ipv4, encode_ipv4};
    let key = key_bytes("s3cret");
    let mut p = params("vi", 100);
    p.auth = Auth::Ah(key);
    let mut t = T::backup(p.clone());
    // A peer's adverts, genuinely signed, with sequence numbers 5, 5 (replay), 4 (stale), 6.
    let pkt = advert_from(&p, "10.0.0.2", 200).vrrp;
    let signed = |seq: u32| {
        let bytes = encode_ipv4(
            &pkt,
            &Ipv4Params {
                src: "10.0.0.2".parse().unwrap(),
                dst: MCAST.parse().unwrap(),
                id: 1,
            },
            Some(AhParams {
                key: &key,
                seq,
                unicast: false,
            }),
        )
        .unwrap();
        Input::AdvertReceived {
            packet: decode_ipv4(&bytes),
        }
    };
    let ok = vec![arm(MasterDown, us(3_609_375))];
    let replay = vec![Action::CountDrop {
        reason: DropReason::AuthReplay,
    }];
    assert_eq!(t.at(1000, signed(5)), ok);
    assert_eq!(t.at(2000, signed(5)), replay);
    assert_eq!(t.at(3000, signed(4)), replay);
    assert_eq!(t.at(4000, signed(6)), ok);
    // A forged ICV.
    let Input::AdvertReceived {
        packet: Ok(mut forged),
    } = signed(7)
    else {
        panic!()
    };
    forged.ah = Some(AhHeader {
        icv: [0; 12],
        ..forged.ah.unwrap()
    });
    assert_eq!(
        t.at(5000, rx(forged)),
        vec![Action::CountDrop {
            reason: DropReason::AuthFailure
        }]
    );
    // Our own adverts continue above the highest sequence number seen (6).
    let acts = t.at(8700, Input::TimerExpired { timer: MasterDown });
    let seqs: Vec<Option<u32>> = acts
        .iter()
        .filter_map(|a| match a {
            Action::SendAdvert { ah_seq, .. } => Some(*ah_seq),
            _ => None,
        })
        .collect();
    assert_eq!(seqs, vec![Some(7)]);
}

#[test]
fn vip_list_mismatch_is_logged_once_not_dropped() {
    let mut t = T::backup(params("vi", 100));
    let mut adv = advert_from(t.inst.params(), "10.0.0.2", 200);
    adv.vrrp.addresses = vec![ip("192.0.2.99")];
    let first = t.at(1000, rx(adv.clone()));
    assert!(matches!(first[0], Action::Log { .. }), "{first:?}");
    assert_eq!(first[1], arm(MasterDown, us(3_609_375)));
    assert_eq!(t.at(2000, rx(adv)), vec![arm(MasterDown, us(3_609_375))]);
}

// ---- sync group members -----------------------------------------------------------------

#[test]
fn sync_member_asks_the_group_before_becoming_master() {
    let mut p = params("vi", 100);
    p.in_sync_group = true;
    let mut t = T::backup(p);
    assert_eq!(
        t.at(3610, Input::TimerExpired { timer: MasterDown }),
        vec![Action::SyncWantMaster { want: true }]
    );
    assert_eq!(t.inst.state(), Backup);
    // A master shows up: withdraw.
    let adv = advert_from(t.inst.params(), "10.0.0.2", 200);
    assert_eq!(
        t.at(3700, rx(adv)),
        vec![
            arm(MasterDown, us(3_609_375)),
            Action::SyncWantMaster { want: false }
        ]
    );
    let acts = t.at(
        3800,
        Input::Sync {
            command: SyncCommand::Master,
        },
    );
    assert!(acts.contains(&Action::AddVips));
    assert_eq!(t.inst.state(), Master);
}

#[test]
fn status_snapshot() {
    let mut p = params("vi", 100);
    p.track_interfaces = vec![tracked("eth1", 0)];
    let mut t = T::backup(p);
    let adv = advert_from(t.inst.params(), "10.0.0.2", 200);
    t.at(1000, rx(adv));
    let s = t.inst.status();
    assert_eq!(
        (s.state, s.master, s.master_priority),
        (Backup, Some(ip("10.0.0.2")), Some(200))
    );
    assert_eq!(s.counters.adverts_received, 1);
    t.at(
        2000,
        Input::TrackInterface {
            name: "eth1".into(),
            up: false,
        },
    );
    let s = t.inst.status();
    assert_eq!(s.state, Fault);
    assert_eq!(s.fault.as_deref(), Some("track_interface eth1 failed"));
    assert_eq!(s.master, None);
}

// ---- reload ------------------------------------------------------------------------------

#[test]
fn reconfigure_keeps_master_and_swaps_vips() {
    let mut t = T::master(params("vi", 100));
    let mut p = t.inst.params().clone();
    p.vips = vec![ip("192.0.2.101")];
    p.priority = 120;
    let acts = t
        .inst
        .reconfigure(p, t.t0 + Duration::from_secs(5))
        .unwrap();
    assert_eq!(
        acts,
        vec![
            Action::DelVips,
            Action::AddVips,
            Action::SendGratuitous { repeat: 5 },
            send(&t.inst, 120),
            arm(Advert, Duration::from_secs(1)),
        ]
    );
    assert_eq!(t.inst.state(), Master);
}

#[test]
fn reconfigure_unchanged_is_silent_and_keeps_tracking_results() {
    let mut p = params("vi", 100);
    p.track_scripts = vec![tracked("chk", -30)];
    let mut t = T::backup(p);
    t.at(
        1000,
        Input::TrackScript {
            name: "chk".into(),
            ok: false,
        },
    );
    assert_eq!(t.inst.effective_priority(), 70);
    let same = t.inst.params().clone();
    let mut fresh = same.clone();
    fresh.track_scripts[0].ok = true; // what a fresh config says
    assert_eq!(t.inst.reconfigure(fresh, t.t0).unwrap(), vec![]);
    assert_eq!(
        t.inst.effective_priority(),
        70,
        "the script is still failing"
    );
}

#[test]
fn reconfigure_new_weight_zero_failure_faults() {
    let mut p = params("vi", 100);
    p.track_scripts = vec![tracked("chk", -30)];
    let mut t = T::master(p);
    t.at(
        4000,
        Input::TrackScript {
            name: "chk".into(),
            ok: false,
        },
    );
    let mut p = t.inst.params().clone();
    p.track_scripts[0].weight = 0;
    let acts = t
        .inst
        .reconfigure(p, t.t0 + Duration::from_secs(5))
        .unwrap();
    assert_eq!(acts[0], send(&t.inst, 0));
    assert_eq!(t.inst.state(), Fault);
}

#[test]
fn reconfigure_refuses_a_different_virtual_router() {
    let mut t = T::backup(params("vi", 100));
    let mut p = t.inst.params().clone();
    p.vrid = 52;
    assert!(matches!(
        t.inst.reconfigure(p, t.t0),
        Err(rampart::vrrp::SetupError::IdentityChanged {
            what: "virtual_router_id",
            ..
        })
    ));
    assert_eq!(t.inst.params().vrid, 51);
}
