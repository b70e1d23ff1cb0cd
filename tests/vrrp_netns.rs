//! Two rampart daemons on one LAN (network namespaces on a bridge), watched from a third
//! namespace: who answers ARP for the VIP is the ground truth, not rampart's logs.
//!
//! Run as root: `cargo test --test vrrp_netns`. Skips when namespaces are unavailable.

#[path = "common/netns.rs"]
mod netns;
#[path = "common/netns_vrrp.rs"]
mod netns_vrrp;

use netns::{Lab, wait_for};
use netns_vrrp::{Inst, conf, start_rampart};
use std::time::Duration;

const VIP: &str = "10.20.0.100";
const T: Duration = Duration::from_secs(20);

struct Pair {
    lab: Lab,
    a: String,
    b: String,
    o: String,
    mac_a: String,
    mac_b: String,
}

fn pair(name: &str) -> Option<Pair> {
    if !netns::available() {
        return None;
    }
    let mut lab = Lab::new(name);
    let lan = lab.lan("br");
    let a = lab.ns("a");
    let b = lab.ns("b");
    let o = lab.ns("o");
    lab.attach(&a, "eth0", &lan, &["10.20.0.1/24"]);
    lab.attach(&b, "eth0", &lan, &["10.20.0.2/24"]);
    lab.attach(&o, "eth0", &lan, &["10.20.0.9/24"]);
    let mac_a = lab.mac(&a, "eth0");
    let mac_b = lab.mac(&b, "eth0");
    Some(Pair {
        lab,
        a,
        b,
        o,
        mac_a,
        mac_b,
    })
}

impl Pair {
    /// Wait until the VIP answers ARP from `mac` (seen from the observer).
    fn vip_at(&self, mac: &str, what: &str) {
        let got = wait_for(T, || {
            self.lab.arping(&self.o, "eth0", VIP).filter(|m| m == mac)
        });
        assert!(
            got.is_some(),
            "{what}: VIP {VIP} never answered from {mac} (logs in {})",
            self.lab.dir.path().display()
        );
    }
    /// The VIP is configured on exactly one of the two nodes.
    fn vip_only_on(&self, ns: &str) {
        let other = if ns == self.a { &self.b } else { &self.a };
        let ok = wait_for(T, || {
            (self.lab.has_addr(ns, "eth0", VIP) && !self.lab.has_addr(other, "eth0", VIP))
                .then_some(())
        });
        assert!(ok.is_some(), "VIP should be on {ns} only");
    }
}

fn inst(prio: u8) -> Inst {
    Inst::new("VI_1", "eth0", 20, prio, &["10.20.0.100/24"])
}

#[test]
fn election_failover_preemption_and_graceful_handover() {
    let Some(mut p) = pair("elect") else { return };
    let (a, b) = (p.a.clone(), p.b.clone());
    let (pid_a, _) = start_rampart(&mut p.lab, &a, "a1", &conf(&[inst(150)], &[]));
    let (pid_b, _) = start_rampart(&mut p.lab, &b, "b1", &conf(&[inst(100)], &[]));
    // Election: the higher priority wins.
    p.vip_at(&p.mac_a.clone(), "election");
    p.vip_only_on(&a);

    // SIGKILL of the master: the backup takes over after Master_Down_Interval.
    p.lab.signal(pid_a, "KILL");
    assert!(p.lab.wait_exit(pid_a, T));
    // A killed rampart cannot remove its VIP; the namespace's copy is irrelevant once b
    // answers ARP. Remove it as a reboot would.
    let _ = p
        .lab
        .exec(&a, &["ip", "addr", "del", "10.20.0.100/24", "dev", "eth0"]);
    p.vip_at(&p.mac_b.clone(), "failover after SIGKILL");
    p.vip_only_on(&b);

    // a comes back with a higher priority: preemption moves the VIP back.
    let (pid_a2, _) = start_rampart(&mut p.lab, &a, "a2", &conf(&[inst(150)], &[]));
    p.vip_at(&p.mac_a.clone(), "preemption");
    p.vip_only_on(&a);

    // SIGTERM: priority 0 advert, VIPs released, b takes over after Skew_Time.
    p.lab.signal(pid_a2, "TERM");
    assert!(p.lab.wait_exit(pid_a2, T), "rampart should exit on SIGTERM");
    assert!(
        !p.lab.has_addr(&a, "eth0", VIP),
        "SIGTERM must release the VIP"
    );
    p.vip_at(&p.mac_b.clone(), "graceful handover");
    let _ = pid_b;
}

#[test]
fn nopreempt_keeps_the_current_master() {
    let Some(mut p) = pair("nopre") else { return };
    let (a, b) = (p.a.clone(), p.b.clone());
    start_rampart(&mut p.lab, &b, "b", &conf(&[inst(100).nopreempt()], &[]));
    p.vip_at(&p.mac_b.clone(), "lone backup becomes master");
    start_rampart(&mut p.lab, &a, "a", &conf(&[inst(150).nopreempt()], &[]));
    // Give a several Master_Down_Intervals to (wrongly) preempt.
    std::thread::sleep(Duration::from_secs(6));
    assert!(p.lab.has_addr(&b, "eth0", VIP), "b must stay master");
    assert!(
        !p.lab.has_addr(&a, "eth0", VIP),
        "a must not preempt with nopreempt"
    );
    assert_eq!(p.lab.arping(&p.o, "eth0", VIP), Some(p.mac_b.clone()));
}

#[test]
fn equal_priority_higher_address_wins() {
    // The address tie-break (RFC 5798 6.4.3) decides between two MASTERs of equal priority;
    // a BACKUP of equal priority accepts whoever is master (keepalived does the same), so
    // which box wins a simultaneous start depends on who times out first. Make the collision
    // deterministic: hide each side's adverts from the other (INPUT drop of IP protocol 112)
    // until both are MASTER, then let them meet.
    let Some(mut p) = pair("tie") else { return };
    let (a, b) = (p.a.clone(), p.b.clone());
    for ns in [&a, &b] {
        p.lab
            .exec_ok(ns, &["iptables", "-I", "INPUT", "-p", "112", "-j", "DROP"]);
    }
    start_rampart(&mut p.lab, &a, "a", &conf(&[inst(100)], &[]));
    start_rampart(&mut p.lab, &b, "b", &conf(&[inst(100)], &[]));
    let both = wait_for(T, || {
        (p.lab.has_addr(&a, "eth0", VIP) && p.lab.has_addr(&b, "eth0", VIP)).then_some(())
    });
    assert!(
        both.is_some(),
        "with adverts hidden, both sides should become MASTER"
    );
    for ns in [&a, &b] {
        p.lab
            .exec_ok(ns, &["iptables", "-D", "INPUT", "-p", "112", "-j", "DROP"]);
    }
    // b (10.20.0.2) has the higher primary address: a yields.
    p.vip_only_on(&b);
    p.vip_at(&p.mac_b.clone(), "tie-break");
    // And it stays that way.
    std::thread::sleep(Duration::from_secs(4));
    p.vip_only_on(&b);
}

fn auth_case(name: &str, kind: &str) {
    let Some(mut p) = pair(name) else { return };
    let (a, b) = (p.a.clone(), p.b.clone());
    let (pid_a, _) = start_rampart(
        &mut p.lab,
        &a,
        "a",
        &conf(&[inst(150).auth(kind, "s3cr3t")], &[]),
    );
    start_rampart(
        &mut p.lab,
        &b,
        "b",
        &conf(&[inst(100).auth(kind, "s3cr3t")], &[]),
    );
    p.vip_at(&p.mac_a.clone(), "election with authentication");
    // Both stay put: b accepts a's authenticated adverts (no spurious takeover).
    std::thread::sleep(Duration::from_secs(4));
    p.vip_only_on(&a);
    p.lab.signal(pid_a, "TERM");
    p.vip_at(&p.mac_b.clone(), "handover with authentication");
}

#[test]
fn pass_authentication() {
    auth_case("pass", "PASS");
}

#[test]
fn ah_authentication() {
    auth_case("ah", "AH");
}

#[test]
fn wrong_password_means_two_masters() {
    // The negative control for the two tests above: with different passwords each side drops
    // the other's adverts, so both end up MASTER.
    let Some(mut p) = pair("badpw") else { return };
    let (a, b) = (p.a.clone(), p.b.clone());
    start_rampart(
        &mut p.lab,
        &a,
        "a",
        &conf(&[inst(150).auth("PASS", "one")], &[]),
    );
    start_rampart(
        &mut p.lab,
        &b,
        "b",
        &conf(&[inst(100).auth("PASS", "two")], &[]),
    );
    let both = wait_for(T, || {
        (p.lab.has_addr(&a, "eth0", VIP) && p.lab.has_addr(&b, "eth0", VIP)).then_some(())
    });
    assert!(
        both.is_some(),
        "adverts with a wrong password must be ignored"
    );
}

#[test]
fn vrrp_v3_fast_failover() {
    let Some(mut p) = pair("v3") else { return };
    let (a, b) = (p.a.clone(), p.b.clone());
    let (pid_a, _) = start_rampart(&mut p.lab, &a, "a", &conf(&[inst(150).v3("0.1")], &[]));
    start_rampart(&mut p.lab, &b, "b", &conf(&[inst(100).v3("0.1")], &[]));
    p.vip_at(&p.mac_a.clone(), "v3 election");
    p.lab.signal(pid_a, "KILL");
    let _ = p.lab.wait_exit(pid_a, T);
    let _ = p
        .lab
        .exec(&a, &["ip", "addr", "del", "10.20.0.100/24", "dev", "eth0"]);
    p.vip_at(&p.mac_b.clone(), "v3 failover");
}

#[test]
fn gratuitous_arp_updates_the_neighbours() {
    // The observer learns VIP -> a, then a dies; b's gratuitous ARPs must repoint the
    // observer's existing neighbour entry without the observer asking.
    let Some(mut p) = pair("garp") else { return };
    let (a, b) = (p.a.clone(), p.b.clone());
    let (pid_a, _) = start_rampart(&mut p.lab, &a, "a", &conf(&[inst(150)], &[]));
    start_rampart(&mut p.lab, &b, "b", &conf(&[inst(100)], &[]));
    p.vip_at(&p.mac_a.clone(), "election");
    // The observer has VIP -> a in its neighbour table, as after talking to it.
    let mac_a = p.mac_a.clone();
    p.lab.exec_ok(
        &p.o,
        &[
            "ip", "neigh", "replace", VIP, "lladdr", &mac_a, "dev", "eth0", "nud", "stale",
        ],
    );
    assert_eq!(p.lab.neigh(&p.o, VIP), Some(p.mac_a.clone()));
    p.lab.signal(pid_a, "KILL");
    let _ = p.lab.wait_exit(pid_a, T);
    let _ = p
        .lab
        .exec(&a, &["ip", "addr", "del", "10.20.0.100/24", "dev", "eth0"]);
    let mac_b = p.mac_b.clone();
    let moved = wait_for(T, || p.lab.neigh(&p.o, VIP).filter(|m| *m == mac_b));
    assert_eq!(
        moved,
        Some(mac_b),
        "the observer's ARP entry should follow the gratuitous ARPs (logs in {})",
        p.lab.dir.path().display()
    );
}
