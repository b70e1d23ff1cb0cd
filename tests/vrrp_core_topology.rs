//! Several pure cores wired through an in-memory LAN on a simulated clock: election,
//! failover, graceful handover, preemption, nopreempt, tie-break, sync groups.
//! Times are exact: every advert takes `lan.latency` (100 µs) to arrive.

mod vrrp_core_support;

use rampart::vrrp::fsm::{Input, Instance, InstanceParams};
use rampart::vrrp::{Node, NodeAction, SyncGroupCore, VrrpState};
use std::time::Duration;
use vrrp_core_support::*;

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn single(p: InstanceParams) -> Node {
    Node::new(vec![Instance::new(p)], vec![])
}

fn port(segment: &str, addr: &str) -> Port {
    Port {
        segment: segment.into(),
        addr: ip(addr),
    }
}

/// Three routers with priorities 100, 150, 200 on one segment.
fn trio(version3: Option<u16>) -> Lan {
    let mut lan = Lan::new();
    for (name, prio, addr) in [
        ("r100", 100, "10.0.0.1"),
        ("r150", 150, "10.0.0.2"),
        ("r200", 200, "10.0.0.3"),
    ] {
        let mut p = params("vi", prio);
        if let Some(c) = version3 {
            p = v3(p, c);
        }
        lan.add(name, single(p), vec![port("lan", addr)]);
    }
    lan
}

fn state(lan: &Lan, router: usize) -> VrrpState {
    lan.routers[router].node.instances()[0].state()
}

#[test]
fn election_highest_priority_wins_after_its_master_down_interval() {
    let mut lan = trio(None);
    for r in 0..3 {
        lan.start(r);
    }
    lan.run_until(secs(10.0));
    assert_eq!(lan.holders("vi"), vec!["r200"]);
    // Priority 200: 3 s + (56/256) s.
    assert_eq!(
        lan.became_master_at(2, "vi", Duration::ZERO),
        Some(Duration::from_micros(3_218_750))
    );
    assert_eq!(state(&lan, 0), VrrpState::Backup);
    assert_eq!(state(&lan, 1), VrrpState::Backup);
}

#[test]
fn failover_on_master_death_within_master_down_interval() {
    let mut lan = trio(None);
    for r in 0..3 {
        lan.start(r);
    }
    lan.run_until(secs(10.0));
    lan.kill(2); // SIGKILL: no priority 0.
    lan.run_until(secs(20.0));
    assert_eq!(lan.holders("vi"), vec!["r150"]);
    let took = lan.became_master_at(1, "vi", secs(10.0)).unwrap();
    // The master's last advert left at 9.21875 s (3.21875 + 6 × 1 s) and arrived 100 µs later;
    // r150's Master_Down_Interval is 3 s + 106/256 s = 3.414062 s.
    assert_eq!(took, Duration::from_micros(9_218_750 + 100 + 3_414_062));
    let after_kill = took - secs(10.0);
    assert!(after_kill <= Duration::from_micros(3_414_062));
}

#[test]
fn graceful_shutdown_hands_over_after_skew_time() {
    let mut lan = trio(None);
    for r in 0..3 {
        lan.start(r);
    }
    lan.run_until(secs(10.0));
    lan.input(2, 0, Input::Shutdown);
    assert!(
        lan.holders("vi").is_empty(),
        "r200 released its VIP at once"
    );
    lan.run_until(secs(20.0));
    assert_eq!(lan.holders("vi"), vec!["r150"]);
    // Priority 0 arrives after 100 µs; r150 waits its skew time, 106/256 s.
    let took = lan.became_master_at(1, "vi", secs(10.0)).unwrap();
    assert_eq!(took, secs(10.0) + Duration::from_micros(100 + 414_062));
    assert_eq!(state(&lan, 0), VrrpState::Backup);
}

#[test]
fn v3_fast_failover_at_100ms_intervals() {
    let mut lan = trio(Some(10));
    for r in 0..3 {
        lan.start(r);
    }
    lan.run_until(secs(5.0));
    assert_eq!(lan.holders("vi"), vec!["r200"]);
    lan.kill(2);
    lan.run_until(secs(6.0));
    assert_eq!(lan.holders("vi"), vec!["r150"]);
    let took = lan.became_master_at(1, "vi", secs(5.0)).unwrap() - secs(5.0);
    // Master_Down_Interval = 0.3 s + 106 × 0.1 s / 256 = 341406 µs.
    assert!(took <= Duration::from_micros(341_406), "{took:?}");
    assert!(took >= Duration::from_micros(341_406 - 100_000), "{took:?}");
}

#[test]
fn preemption_higher_priority_takes_over_when_it_comes_up() {
    let mut lan = Lan::new();
    let low = lan.add(
        "low",
        single(params("vi", 100)),
        vec![port("lan", "10.0.0.1")],
    );
    let high = lan.add(
        "high",
        single(params("vi", 200)),
        vec![port("lan", "10.0.0.2")],
    );
    lan.start(low);
    lan.run_until(secs(10.0));
    assert_eq!(lan.holders("vi"), vec!["low"]);
    lan.start(high);
    lan.run_until(secs(20.0));
    assert_eq!(lan.holders("vi"), vec!["high"]);
    // high ignores low's adverts and takes over after its own Master_Down_Interval.
    assert_eq!(
        lan.became_master_at(high, "vi", secs(10.0)),
        Some(secs(10.0) + Duration::from_micros(3_218_750))
    );
    assert_eq!(state(&lan, low), VrrpState::Backup);
}

#[test]
fn nopreempt_keeps_the_current_master() {
    let mut lan = Lan::new();
    let low = lan.add(
        "low",
        single(params("vi", 100)),
        vec![port("lan", "10.0.0.1")],
    );
    let mut hp = params("vi", 200);
    hp.nopreempt = true;
    let high = lan.add("high", single(hp), vec![port("lan", "10.0.0.2")]);
    lan.start(low);
    lan.run_until(secs(10.0));
    lan.start(high);
    lan.run_until(secs(30.0));
    assert_eq!(lan.holders("vi"), vec!["low"]);
    assert_eq!(state(&lan, high), VrrpState::Backup);
}

#[test]
fn equal_priority_higher_address_wins_the_tie() {
    let mut lan = Lan::new();
    let a = lan.add(
        "a",
        single(params("vi", 100)),
        vec![port("lan", "10.0.0.1")],
    );
    let b = lan.add(
        "b",
        single(params("vi", 100)),
        vec![port("lan", "10.0.0.9")],
    );
    lan.start(a);
    lan.start(b);
    lan.run_until(secs(10.0));
    // Both time out together, both become master, the lower address yields.
    assert_eq!(lan.holders("vi"), vec!["b"]);
    assert_eq!(state(&lan, a), VrrpState::Backup);
    // One election only: b never left MASTER.
    let b_transitions = lan.routers[b]
        .log
        .iter()
        .filter(|(_, a)| {
            matches!(
                a,
                NodeAction::Instance {
                    action: rampart::vrrp::Action::Notify(_),
                    ..
                }
            )
        })
        .count();
    assert_eq!(b_transitions, 2, "INIT→BACKUP→MASTER");
}

/// A director pair of an LVS-NAT setup: WAN and LAN instances in one sync group each.
fn nat_pair() -> Lan {
    let mut lan = Lan::new();
    for (name, prio, wan_addr, lan_addr) in [
        ("dir1", 200, "203.0.113.1", "10.0.0.1"),
        ("dir2", 100, "203.0.113.2", "10.0.0.2"),
    ] {
        let mut wan = params("VI_WAN", prio);
        wan.vrid = 1;
        wan.in_sync_group = true;
        let mut lanp = params("VI_LAN", prio);
        lanp.vrid = 2;
        lanp.vips = vec![ip("10.0.0.254")];
        lanp.in_sync_group = true;
        let node = Node::new(
            vec![Instance::new(wan), Instance::new(lanp)],
            vec![SyncGroupCore::new(
                "G",
                vec!["VI_WAN".into(), "VI_LAN".into()],
            )],
        );
        lan.add(
            name,
            node,
            vec![port("wan", wan_addr), port("lan", lan_addr)],
        );
    }
    lan
}

fn group_state(lan: &Lan, r: usize) -> VrrpState {
    lan.routers[r].node.groups()[0].state()
}

#[test]
fn sync_group_moves_both_vips_together_and_back() {
    let mut lan = nat_pair();
    lan.start(0);
    lan.start(1);
    lan.run_until(secs(10.0));
    assert_eq!(lan.holders("VI_WAN"), vec!["dir1"]);
    assert_eq!(lan.holders("VI_LAN"), vec!["dir1"]);
    assert_eq!(group_state(&lan, 0), VrrpState::Master);
    assert_eq!(group_state(&lan, 1), VrrpState::Backup);

    // `ip link set LAN down` on dir1: the whole group fails over, WAN included.
    lan.input(0, 1, Input::LinkChanged { up: false });
    assert!(lan.holders("VI_WAN").is_empty() && lan.holders("VI_LAN").is_empty());
    assert_eq!(group_state(&lan, 0), VrrpState::Fault);
    lan.run_until(secs(20.0));
    assert_eq!(lan.holders("VI_WAN"), vec!["dir2"]);
    assert_eq!(lan.holders("VI_LAN"), vec!["dir2"]);
    assert_eq!(group_state(&lan, 1), VrrpState::Master);
    let instances = lan.routers[0].node.instances();
    assert!(instances.iter().all(|i| i.state() == VrrpState::Fault));

    // Link back: dir1 preempts, both VIPs come back together.
    lan.input(0, 1, Input::LinkChanged { up: true });
    lan.run_until(secs(30.0));
    assert_eq!(lan.holders("VI_WAN"), vec!["dir1"]);
    assert_eq!(lan.holders("VI_LAN"), vec!["dir1"]);
    assert_eq!(group_state(&lan, 1), VrrpState::Backup);
}

#[test]
fn sync_group_one_member_losing_to_a_better_master_takes_the_group_to_backup() {
    let mut lan = nat_pair();
    lan.start(0);
    lan.run_until(secs(10.0));
    assert_eq!(group_state(&lan, 0), VrrpState::Master);
    // A third box, priority 250, appears on the WAN segment only.
    let mut p = params("VI_WAN", 250);
    p.vrid = 1;
    let intruder = lan.add("intruder", single(p), vec![port("wan", "203.0.113.9")]);
    lan.start(intruder);
    lan.run_until(secs(20.0));
    assert_eq!(lan.holders("VI_WAN"), vec!["intruder"]);
    // dir1's LAN instance followed its WAN instance to BACKUP: no split VIPs.
    assert!(lan.holders("VI_LAN").is_empty());
    assert_eq!(group_state(&lan, 0), VrrpState::Backup);
}

#[test]
fn group_notifies_are_emitted_in_order() {
    let mut lan = nat_pair();
    lan.start(0);
    lan.run_until(secs(10.0));
    let group_events: Vec<(VrrpState, VrrpState)> = lan.routers[0]
        .log
        .iter()
        .filter_map(|(_, a)| match a {
            NodeAction::Group { transition, .. } => Some((transition.from, transition.to)),
            _ => None,
        })
        .collect();
    assert_eq!(
        group_events,
        vec![
            (VrrpState::Init, VrrpState::Backup),
            (VrrpState::Backup, VrrpState::Master)
        ]
    );
}

#[test]
fn sync_group_shutdown_releases_everything_with_priority_zero() {
    let mut lan = nat_pair();
    lan.start(0);
    lan.start(1);
    lan.run_until(secs(10.0));
    let now = lan.base + lan.now;
    let acts = lan.routers[0].node.step_all(&Input::Shutdown, now);
    let zero_adverts = acts
        .iter()
        .filter(|a| {
            matches!(a, NodeAction::Instance { action: rampart::vrrp::Action::SendAdvert { packet, .. }, .. } if packet.priority == 0)
        })
        .count();
    assert_eq!(zero_adverts, 2);
    let groups: Vec<(VrrpState, VrrpState)> = acts
        .iter()
        .filter_map(|a| match a {
            NodeAction::Group { transition, .. } => Some((transition.from, transition.to)),
            _ => None,
        })
        .collect();
    assert_eq!(groups, vec![(VrrpState::Master, VrrpState::Stop)]);
}
