//! Property tests of the state machine: for any sequence of inputs, the actions keep their
//! promises — VIPs are added exactly when MASTER is entered and removed exactly when it is
//! left, transitions chain, a MASTER always has its Adver_Timer and a BACKUP its
//! Master_Down_Timer, and nothing but priority 0 is sent when leaving MASTER.

mod vrrp_core_support;

use proptest::prelude::*;
use rampart::vrrp::fsm::{Action, Input, Instance, InstanceParams, VrrpState};
use rampart::vrrp::packet::DecodeError;
use rampart::vrrp::{Centis, TimerKind};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use vrrp_core_support::*;

fn input_strategy(p: InstanceParams) -> impl Strategy<Value = Input> {
    let p2 = p.clone();
    prop_oneof![
        1 => Just(Input::Startup),
        1 => Just(Input::Shutdown),
        6 => (0u8..=255, 0u8..4, any::<bool>()).prop_map(move |(prio, who, v3int)| {
            let src = ["10.0.0.0", "10.0.0.2", "10.0.0.9", "10.0.0.1"][who as usize];
            let mut a = advert_from(&p, src, prio);
            if v3int {
                a.vrrp.advert_int = Centis(50);
            }
            rx(a)
        }),
        1 => Just(Input::AdvertReceived { packet: Err(DecodeError::BadTtl(1)) }),
        6 => prop_oneof![
            Just(TimerKind::Advert),
            Just(TimerKind::MasterDown),
            Just(TimerKind::GarpDelay),
            Just(TimerKind::GarpRefresh)
        ]
        .prop_map(|timer| Input::TimerExpired { timer }),
        2 => any::<bool>().prop_map(|up| Input::LinkChanged { up }),
        2 => any::<bool>().prop_map(|ok| Input::TrackScript { name: "chk".into(), ok }),
        2 => any::<bool>().prop_map(|up| Input::TrackInterface { name: "eth1".into(), up }),
        1 => Just(Input::LocalAddress { addr: p2.vips[0] }),
    ]
}

fn params_strategy() -> impl Strategy<Value = InstanceParams> {
    (
        1u8..=255,
        any::<bool>(),
        any::<bool>(),
        0u64..3,
        -50i32..50,
        any::<bool>(),
    )
        .prop_map(|(prio, nopreempt, version3, delay, weight, ifweight0)| {
            let mut p = params("vi", prio);
            if version3 {
                p = v3(p, 100);
            }
            p.nopreempt = nopreempt;
            p.preempt_delay = Duration::from_secs(delay);
            p.track_scripts = vec![tracked("chk", weight)];
            p.track_interfaces = vec![tracked("eth1", if ifweight0 { 0 } else { -10 })];
            p
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn actions_keep_the_state_machine_promises(
        (p, inputs) in params_strategy().prop_flat_map(|p| {
            (Just(p.clone()), proptest::collection::vec(input_strategy(p), 1..60))
        }),
        gaps in proptest::collection::vec(0u64..2_000_000, 60),
    ) {
        let mut inst = Instance::new(p);
        let t0 = Instant::now();
        let mut now = Duration::ZERO;
        inst.step(Input::LocalAddress { addr: ip("10.0.0.1") }, t0);
        let mut vips = false;
        let mut timers: BTreeSet<TimerKind> = BTreeSet::new();
        let mut state = VrrpState::Init;
        for (input, gap) in inputs.into_iter().zip(gaps) {
            now += Duration::from_micros(gap);
            if let Input::TimerExpired { timer } = &input {
                // The shell only delivers timers that are pending.
                if !timers.remove(timer) {
                    continue;
                }
            }
            let actions = inst.step(input, t0 + now);
            let left_master_for = actions.iter().find_map(|a| match a {
                Action::Notify(t) if t.from == VrrpState::Master => Some(t.to),
                _ => None,
            });
            let sent: Vec<u8> = actions
                .iter()
                .filter_map(|a| match a {
                    Action::SendAdvert { packet, .. } => Some(packet.priority),
                    _ => None,
                })
                .collect();
            match left_master_for {
                // Twice into FAULT through the instance's own tracking (keepalived 2.2.7).
                Some(VrrpState::Fault) => prop_assert!(
                    sent == [0u8] || sent == [0u8, 0],
                    "priority 0 once or twice into FAULT, got {sent:?}"
                ),
                Some(VrrpState::Stop) => prop_assert_eq!(&sent, &vec![0u8]),
                Some(_) => prop_assert!(sent.is_empty(), "no advert when yielding to a better master"),
                None => {}
            }
            for a in &actions {
                match a {
                    Action::AddVips => { prop_assert!(!vips, "AddVips twice"); vips = true; }
                    Action::DelVips => { prop_assert!(vips, "DelVips without AddVips"); vips = false; }
                    Action::ArmTimer { timer, after } => {
                        prop_assert!(*after > Duration::ZERO || *timer == TimerKind::MasterDown);
                        timers.insert(*timer);
                    }
                    Action::DisarmTimer { timer } => { timers.remove(timer); }
                    Action::Notify(t) => {
                        prop_assert_eq!(t.from, state, "transitions chain");
                        prop_assert_ne!(t.from, t.to);
                        state = t.to;
                    }
                    _ => {}
                }
            }
            prop_assert_eq!(state, inst.state());
            prop_assert_eq!(vips, state == VrrpState::Master, "VIPs held exactly in MASTER");
            match state {
                VrrpState::Master => prop_assert!(timers.contains(&TimerKind::Advert)),
                VrrpState::Backup => prop_assert!(timers.contains(&TimerKind::MasterDown)),
                _ => prop_assert!(!timers.contains(&TimerKind::Advert) && !timers.contains(&TimerKind::MasterDown)),
            }
        }
    }
}
