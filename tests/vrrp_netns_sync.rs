//! A sync group of two instances on two interfaces (the WAN and LAN VIPs of an LVS-NAT
//! director pair): taking one interface down on the master moves both VIPs to the peer;
//! bringing it back moves them back (preemption allows it). Observed from one namespace per
//! LAN with arping.
//!
//! Run as root: `cargo test --test vrrp_netns_sync`.

#[path = "common/netns.rs"]
mod netns;
#[path = "common/netns_vrrp.rs"]
mod netns_vrrp;

use netns::{Lab, wait_for};
use netns_vrrp::{Inst, conf, start_rampart};
use std::time::Duration;

const WAN_VIP: &str = "10.41.0.100";
const LAN_VIP: &str = "10.42.0.100";
const T: Duration = Duration::from_secs(25);

#[test]
fn interface_down_moves_the_whole_group() {
    if !netns::available() {
        return;
    }
    let mut lab = Lab::new("sync");
    let wan = lab.lan("wan");
    let lan = lab.lan("lan");
    let a = lab.ns("a");
    let b = lab.ns("b");
    let ow = lab.ns("ow");
    let ol = lab.ns("ol");
    lab.attach(&a, "eth0", &wan, &["10.41.0.1/24"]);
    lab.attach(&a, "eth1", &lan, &["10.42.0.1/24"]);
    lab.attach(&b, "eth0", &wan, &["10.41.0.2/24"]);
    lab.attach(&b, "eth1", &lan, &["10.42.0.2/24"]);
    lab.attach(&ow, "eth0", &wan, &["10.41.0.9/24"]);
    lab.attach(&ol, "eth0", &lan, &["10.42.0.9/24"]);
    let node = |prio| {
        conf(
            &[
                Inst::new("VI_WAN", "eth0", 41, prio, &["10.41.0.100/24"]),
                Inst::new("VI_LAN", "eth1", 42, prio, &["10.42.0.100/24"]),
            ],
            &[("G", &["VI_WAN", "VI_LAN"])],
        )
    };
    start_rampart(&mut lab, &a, "a", &node(150));
    start_rampart(&mut lab, &b, "b", &node(100));
    let (a_wan, a_lan) = (lab.mac(&a, "eth0"), lab.mac(&a, "eth1"));
    let (b_wan, b_lan) = (lab.mac(&b, "eth0"), lab.mac(&b, "eth1"));
    let logs = lab.dir.path().display().to_string();

    let both_at = |lab: &Lab, wan_mac: &str, lan_mac: &str| {
        wait_for(T, || {
            let w = lab.arping(&ow, "eth0", WAN_VIP);
            let l = lab.arping(&ol, "eth0", LAN_VIP);
            (w.as_deref() == Some(wan_mac) && l.as_deref() == Some(lan_mac)).then_some(())
        })
        .is_some()
    };
    assert!(
        both_at(&lab, &a_wan, &a_lan),
        "both VIPs should start on a (logs in {logs})"
    );

    // The LAN interface of the master fails: both VIPs move, WAN included.
    lab.exec_ok(&a, &["ip", "link", "set", "eth1", "down"]);
    assert!(
        both_at(&lab, &b_wan, &b_lan),
        "eth1 down on a should move both VIPs to b (logs in {logs})"
    );
    assert!(
        !lab.has_addr(&a, "eth0", WAN_VIP),
        "a must release the WAN VIP too"
    );

    // It comes back: a preempts, both VIPs return together.
    lab.exec_ok(&a, &["ip", "link", "set", "eth1", "up"]);
    assert!(
        both_at(&lab, &a_wan, &a_lan),
        "with eth1 back, both VIPs should return to a (logs in {logs})"
    );
    let settled = wait_for(T, || {
        (!lab.has_addr(&b, "eth0", WAN_VIP) && !lab.has_addr(&b, "eth1", LAN_VIP)).then_some(())
    });
    assert!(settled.is_some(), "b should release both VIPs");
}
