//! rampart against Debian's keepalived 2.2.7 on one LAN of network namespaces: rampart as
//! backup and as master, VRRPv2 and v3, PASS and AH, multicast and unicast peers. Each side
//! must accept the other's adverts: one master only, and no auth/interval/checksum complaints
//! in keepalived's log.
//!
//! Run as root: `cargo test --test vrrp_netns_keepalived`. Skips without namespaces or keepalived.

#[path = "common/netns.rs"]
mod netns;
#[path = "common/netns_vrrp.rs"]
mod netns_vrrp;

use netns::{Lab, wait_for};
use netns_vrrp::{Inst, conf, keepalived_complaints, start_keepalived, start_rampart};
use std::time::Duration;

const VIP: &str = "10.30.0.100";
const VIP6: &str = "fd30::100";
const T: Duration = Duration::from_secs(20);

fn keepalived_available() -> bool {
    let ok = std::process::Command::new("keepalived")
        .arg("--version")
        .output()
        .is_ok();
    if !ok {
        eprintln!("skipping: keepalived not installed");
    }
    ok
}

#[derive(Clone, Copy)]
enum Who {
    Rampart,
    Keepalived,
}

/// `master` runs at priority 150, the other at 100; the master is stopped with SIGTERM at
/// the end and the backup must take over.
fn interop(name: &str, master: Who, make: impl Fn(u8, &str, &[&str]) -> Inst) {
    interop_af(name, master, false, make)
}

/// `v6`: the LAN also has fd30::/64 and the VIP is fd30::100 (observed on the nodes, since
/// arping is IPv4 only).
fn interop_af(name: &str, master: Who, v6: bool, make: impl Fn(u8, &str, &[&str]) -> Inst) {
    if !netns::available() || !keepalived_available() {
        return;
    }
    let mut lab = Lab::new(name);
    let lan = lab.lan("br");
    let r = lab.ns("r");
    let k = lab.ns("k");
    let o = lab.ns("o");
    lab.attach(&r, "eth0", &lan, &["10.30.0.1/24", "fd30::1/64"]);
    lab.attach(&k, "eth0", &lan, &["10.30.0.2/24", "fd30::2/64"]);
    lab.attach(&o, "eth0", &lan, &["10.30.0.9/24", "fd30::9/64"]);
    let vip = if v6 { VIP6 } else { VIP };
    let (mac_r, mac_k) = (lab.mac(&r, "eth0"), lab.mac(&k, "eth0"));
    let (prio_r, prio_k) = match master {
        Who::Rampart => (150, 100),
        Who::Keepalived => (100, 150),
    };
    let conf_r = conf(&[make(prio_r, "10.30.0.1", &["10.30.0.2"])], &[]);
    let conf_k = conf(&[make(prio_k, "10.30.0.2", &["10.30.0.1"])], &[]);
    // Start the backup-to-be first so the master has to win an election against a live peer.
    let (pid_m, ka_log) = match master {
        Who::Rampart => {
            let (_, klog) = start_keepalived(&mut lab, &k, &format!("{name}-ka"), &conf_k);
            std::thread::sleep(Duration::from_millis(300));
            let (p, _) = start_rampart(&mut lab, &r, &format!("{name}-rp"), &conf_r);
            (p, klog)
        }
        Who::Keepalived => {
            start_rampart(&mut lab, &r, &format!("{name}-rp"), &conf_r);
            std::thread::sleep(Duration::from_millis(300));
            start_keepalived(&mut lab, &k, &format!("{name}-ka"), &conf_k)
        }
    };
    let (ns_m, ns_b, mac_m, mac_b) = match master {
        Who::Rampart => (&r, &k, &mac_r, &mac_k),
        Who::Keepalived => (&k, &r, &mac_k, &mac_r),
    };
    let logs = lab.dir.path().display().to_string();
    let got = wait_for(T, || {
        if v6 {
            lab.has_addr(ns_m, "eth0", vip).then_some(())
        } else {
            lab.arping(&o, "eth0", VIP)
                .filter(|m| m == mac_m)
                .map(|_| ())
        }
    });
    assert!(
        got.is_some(),
        "{name}: the priority-150 side never took the VIP (logs in {logs})"
    );
    // Stable: the backup accepts the master's adverts and never takes the VIP.
    let settled = wait_for(T, || {
        (lab.has_addr(ns_m, "eth0", vip) && !lab.has_addr(ns_b, "eth0", vip)).then_some(())
    });
    assert!(
        settled.is_some(),
        "{name}: VIP should be on the master only (logs in {logs})"
    );
    std::thread::sleep(Duration::from_secs(4));
    assert!(
        !lab.has_addr(ns_b, "eth0", vip),
        "{name}: the backup took the VIP while the master was alive: it rejects its adverts (logs in {logs})"
    );
    let complaints = keepalived_complaints(&ka_log);
    assert!(
        complaints.is_empty(),
        "{name}: keepalived complained about rampart's adverts:\n{}",
        complaints.join("\n")
    );
    // Graceful handover to the other implementation.
    lab.signal(pid_m, "TERM");
    let got = wait_for(T, || {
        if v6 {
            lab.has_addr(ns_b, "eth0", vip).then_some(())
        } else {
            lab.arping(&o, "eth0", VIP)
                .filter(|m| m == mac_b)
                .map(|_| ())
        }
    });
    assert!(
        got.is_some(),
        "{name}: the backup never took over after SIGTERM (logs in {logs})"
    );
}

fn v2(prio: u8, _src: &str, _peers: &[&str]) -> Inst {
    Inst::new("VI_1", "eth0", 30, prio, &["10.30.0.100/24"])
}

#[test]
fn v2_rampart_backup() {
    interop("v2b", Who::Keepalived, v2);
}

#[test]
fn v2_rampart_master() {
    interop("v2m", Who::Rampart, v2);
}

#[test]
fn v2_pass_rampart_backup() {
    interop("passb", Who::Keepalived, |p, s, q| {
        v2(p, s, q).auth("PASS", "pw1234")
    });
}

#[test]
fn v2_pass_rampart_master() {
    interop("passm", Who::Rampart, |p, s, q| {
        v2(p, s, q).auth("PASS", "pw1234")
    });
}

#[test]
fn v2_ah_rampart_backup() {
    interop("ahb", Who::Keepalived, |p, s, q| {
        v2(p, s, q).auth("AH", "ahkey")
    });
}

#[test]
fn v2_ah_rampart_master() {
    interop("ahm", Who::Rampart, |p, s, q| {
        v2(p, s, q).auth("AH", "ahkey")
    });
}

#[test]
fn v3_rampart_backup() {
    interop("v3b", Who::Keepalived, |p, s, q| v2(p, s, q).v3("0.5"));
}

#[test]
fn v3_rampart_master() {
    interop("v3m", Who::Rampart, |p, s, q| v2(p, s, q).v3("0.5"));
}

#[test]
fn unicast_rampart_backup() {
    interop("ucb", Who::Keepalived, |p, s, q| v2(p, s, q).unicast(s, q));
}

#[test]
fn unicast_rampart_master() {
    interop("ucm", Who::Rampart, |p, s, q| {
        v2(p, s, q).v3("1").unicast(s, q)
    });
}

fn v3_ipv6(prio: u8, _src: &str, _peers: &[&str]) -> Inst {
    Inst::new("VI_6", "eth0", 31, prio, &["fd30::100/64"]).v3("0.5")
}

#[test]
fn v3_ipv6_rampart_backup() {
    interop_af("v6b", Who::Keepalived, true, v3_ipv6);
}

#[test]
fn v3_ipv6_rampart_master() {
    interop_af("v6m", Who::Rampart, true, v3_ipv6);
}
