//! Property test of sync groups: whatever happens to the members of an LVS-NAT director's
//! WAN+LAN group (adverts from other routers, timers, links, tracked scripts), after every
//! event either both members hold their VIPs or neither does — the WAN and LAN addresses are
//! never split — and the group state agrees with the members'.

mod vrrp_core_support;

use proptest::prelude::*;
use rampart::vrrp::fsm::{Action, Input, Instance};
use rampart::vrrp::{Node, NodeAction, SyncGroupCore, TimerKind, VrrpState};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use vrrp_core_support::*;

#[derive(Debug, Clone)]
enum Ev {
    Advert {
        member: usize,
        prio: u8,
        from_high: bool,
    },
    Timer {
        member: usize,
        kind: TimerKind,
    },
    Link {
        member: usize,
        up: bool,
    },
    Script {
        ok: bool,
    },
}

fn ev() -> impl Strategy<Value = Ev> {
    prop_oneof![
        4 => (0usize..2, 0u8..=255, any::<bool>())
            .prop_map(|(member, prio, from_high)| Ev::Advert { member, prio, from_high }),
        6 => (0usize..2, prop_oneof![
                Just(TimerKind::Advert),
                Just(TimerKind::MasterDown),
                Just(TimerKind::GarpDelay)
            ])
            .prop_map(|(member, kind)| Ev::Timer { member, kind }),
        2 => (0usize..2, any::<bool>()).prop_map(|(member, up)| Ev::Link { member, up }),
        1 => any::<bool>().prop_map(|ok| Ev::Script { ok }),
    ]
}

fn director(prio: u8) -> Node {
    let mut wan = params("WAN", prio);
    wan.vrid = 1;
    wan.in_sync_group = true;
    wan.track_scripts = vec![tracked("chk", 0)];
    let mut lan = params("LAN", prio);
    lan.vrid = 2;
    lan.in_sync_group = true;
    Node::new(
        vec![Instance::new(wan), Instance::new(lan)],
        vec![SyncGroupCore::new("G", vec!["WAN".into(), "LAN".into()])],
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn wan_and_lan_never_split(prio in 1u8..=254, events in proptest::collection::vec(ev(), 1..80)) {
        let mut node = director(prio);
        let t0 = Instant::now();
        let mut now = t0;
        let mut vips = [false, false];
        let mut timers: BTreeSet<(usize, TimerKind)> = BTreeSet::new();
        let apply = |acts: Vec<NodeAction>, vips: &mut [bool; 2], timers: &mut BTreeSet<(usize, TimerKind)>| {
            for a in acts {
                if let NodeAction::Instance { instance, action } = a {
                    match action {
                        Action::AddVips => vips[instance] = true,
                        Action::DelVips => vips[instance] = false,
                        Action::ArmTimer { timer, .. } => { timers.insert((instance, timer)); }
                        Action::DisarmTimer { timer } => { timers.remove(&(instance, timer)); }
                        _ => {}
                    }
                }
            }
        };
        for (i, addr) in ["203.0.113.1", "10.0.0.1"].iter().enumerate() {
            let acts = node.step(i, Input::LocalAddress { addr: ip(addr) }, now);
            apply(acts, &mut vips, &mut timers);
        }
        let acts = node.step_all(&Input::Startup, now);
        apply(acts, &mut vips, &mut timers);
        for e in events {
            now += Duration::from_millis(300);
            let acts = match e {
                Ev::Advert { member, prio: p, from_high } => {
                    let params = node.instances()[member].params().clone();
                    let src = match (member, from_high) {
                        (0, true) => "203.0.113.9",
                        (0, false) => "203.0.113.0",
                        (_, true) => "10.0.0.9",
                        (_, false) => "10.0.0.0",
                    };
                    node.step(member, rx(advert_from(&params, src, p)), now)
                }
                Ev::Timer { member, kind } => {
                    if !timers.remove(&(member, kind)) {
                        continue;
                    }
                    node.step(member, Input::TimerExpired { timer: kind }, now)
                }
                Ev::Link { member, up } => node.step(member, Input::LinkChanged { up }, now),
                Ev::Script { ok } => node.step(0, Input::TrackScript { name: "chk".into(), ok }, now),
            };
            apply(acts, &mut vips, &mut timers);
            prop_assert_eq!(vips[0], vips[1], "split VIPs: {:?}", vips);
            let states: Vec<VrrpState> = node.instances().iter().map(|i| i.state()).collect();
            prop_assert_eq!(vips[0], states[0] == VrrpState::Master);
            prop_assert_eq!(vips[1], states[1] == VrrpState::Master);
            let g = node.groups()[0].state();
            match g {
                VrrpState::Master => prop_assert!(states.iter().all(|s| *s == VrrpState::Master)),
                VrrpState::Fault => prop_assert!(states.iter().all(|s| *s == VrrpState::Fault)),
                _ => prop_assert!(!states.contains(&VrrpState::Master)),
            }
        }
    }
}
