//! `track_process` in the VRRP core with exact virtual time: keepalived's weight rules
//! (positive weight counts while the quorum is met, negative while it is not, `reverse`
//! negates the weight), weight 0 means FAULT, and resolution from configuration text
//! (instance and sync group lists, weights ignored in sync groups and by address owners).

mod vrrp_core_support;

use rampart::config::{LoadOptions, load_str};
use rampart::vrrp::fsm::{
    Action, Input, Instance, InstanceParams, TrackedProcess, TransitionReason,
};
use rampart::vrrp::{Node, TimerKind, Transition, VrrpPacket, VrrpState};
use std::time::{Duration, Instant};
use vrrp_core_support::*;

use VrrpState::*;

fn tp(name: &str, weight: i32, reverse: bool) -> TrackedProcess {
    TrackedProcess {
        name: name.into(),
        weight,
        reverse,
        up: false,
    }
}

fn proc_up(name: &str, up: bool) -> Input {
    Input::TrackProcess {
        name: name.into(),
        up,
    }
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
}

#[test]
fn contributions_follow_keepalived() {
    let c = |w, r, up| {
        let mut t = tp("p", w, r);
        t.up = up;
        (t.contribution(), t.faulted())
    };
    assert_eq!(c(10, false, true), (10, false));
    assert_eq!(c(10, false, false), (0, false));
    assert_eq!(c(-10, false, true), (0, false));
    assert_eq!(c(-10, false, false), (-10, false));
    // reverse negates the weight that counts.
    assert_eq!(c(10, true, true), (-10, false));
    assert_eq!(c(10, true, false), (0, false));
    assert_eq!(c(-10, true, false), (10, false));
    assert_eq!(c(-10, true, true), (0, false));
    // Weight 0: FAULT while down, or with reverse while up.
    assert_eq!(c(0, false, false), (0, true));
    assert_eq!(c(0, false, true), (0, false));
    assert_eq!(c(0, true, true), (0, true));
    assert_eq!(c(0, true, false), (0, false));
}

#[test]
fn weight_zero_holds_the_instance_in_fault_until_the_quorum_is_met() {
    let mut p = params("vi", 100);
    p.track_processes = vec![tp("web", 0, false)];
    let mut t = T::new(p);
    // The shell delivers the first scan before Startup: nothing running.
    t.at(0, proc_up("web", false));
    t.at(0, Input::Startup);
    assert_eq!(t.inst.state(), Fault);
    assert_eq!(
        t.inst.status().fault.as_deref(),
        Some("track_process web quorum not achieved")
    );
    let acts = t.at(500, proc_up("web", true));
    assert_eq!(t.inst.state(), Backup);
    assert!(acts.iter().any(|a| matches!(
        a,
        Action::Notify(Transition {
            from: Fault,
            to: Backup,
            reason: TransitionReason::FaultCleared,
            ..
        })
    )));
    t.at(600, proc_up("web", false));
    assert_eq!(t.inst.state(), Fault);
}

#[test]
fn a_master_advertises_its_lower_priority_at_once() {
    let mut p = params("vi", 100);
    p.track_processes = vec![tp("web", 30, false)];
    let mut t = T::new(p);
    t.at(0, proc_up("web", true));
    assert_eq!(t.inst.effective_priority(), 130);
    t.at(0, Input::Startup);
    t.at(
        3700,
        Input::TimerExpired {
            timer: TimerKind::MasterDown,
        },
    );
    assert_eq!(t.inst.state(), Master);
    assert_eq!(t.at(4000, proc_up("web", false)), vec![send(&t.inst, 100)]);
    assert_eq!(t.inst.effective_priority(), 100);
    assert_eq!(t.inst.state(), Master);
    // The same status again changes nothing and sends nothing.
    assert_eq!(t.at(4100, proc_up("web", false)), vec![]);
}

#[test]
fn an_address_owner_keeps_255() {
    let mut p = params("vi", 255);
    p.track_processes = vec![tp("web", -50, false)];
    let mut t = T::new(p);
    t.at(0, proc_up("web", false));
    assert_eq!(t.inst.effective_priority(), 255);
}

#[test]
fn reconfigure_keeps_a_known_process_status() {
    let mut p = params("vi", 100);
    p.track_processes = vec![tp("web", 5, false)];
    let mut t = T::new(p.clone());
    t.at(0, proc_up("web", true));
    t.at(0, Input::Startup);
    let mut p2 = p;
    p2.track_processes = vec![tp("web", 7, false), tp("new", 0, false)];
    t.inst
        .reconfigure(p2, t.t0 + Duration::from_millis(100))
        .unwrap();
    let got = &t.inst.params().track_processes;
    assert!(got[0].up, "web keeps its status");
    assert!(!got[1].up, "new waits for the shell's scan");
}

fn params_from(text: &str) -> Vec<InstanceParams> {
    let loaded =
        load_str("tp.conf", text, &LoadOptions::default()).unwrap_or_else(|d| panic!("{d}"));
    let node = Node::from_config(&loaded.config).unwrap();
    node.instances()
        .iter()
        .map(|i| i.params().clone())
        .collect()
}

#[test]
fn resolved_from_config_like_keepalived() {
    let p = params_from(
        r#"
vrrp_track_process web {
    process nginx
    weight 10 reverse
}
vrrp_track_process db {
    process postgres
}
vrrp_sync_group G {
    group { b }
    track_process { db }
}
vrrp_instance a {
    interface eth0
    virtual_router_id 4
    virtual_ipaddress { 192.0.2.4 }
    track_process {
        web
        db weight -3 noreverse
    }
}
vrrp_instance b {
    interface eth0
    virtual_router_id 5
    virtual_ipaddress { 192.0.2.5 }
    track_process {
        web
        db
    }
}
vrrp_instance owner {
    interface eth0
    virtual_router_id 6
    priority 255
    virtual_ipaddress { 192.0.2.6 }
    track_process {
        web
        db
    }
}
"#,
    );
    assert_eq!(
        p[0].track_processes,
        vec![tp("web", 10, true), tp("db", -3, false)]
    );
    // Sync group member: the weighted `web` is not tracked; `db` (weight 0) once, though
    // listed by the instance and by its group.
    assert_eq!(p[1].track_processes, vec![tp("db", 0, false)]);
    // Address owner: weighted trackers are not tracked either.
    assert_eq!(p[2].track_processes, vec![tp("db", 0, false)]);
}
