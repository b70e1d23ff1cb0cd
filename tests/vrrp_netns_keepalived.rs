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

/// One LAN with rampart in `r`, keepalived in `k` and an observer `o` capturing VRRP and
/// ARP with link-level headers. Returns (lab, lan, r, k, o, capture).
fn vmac_lab(name: &str) -> Option<(Lab, String, String, String, String, std::path::PathBuf)> {
    if !netns::available() || !keepalived_available() {
        return None;
    }
    let mut lab = Lab::new(name);
    let lan = lab.lan("br");
    let r = lab.ns("r");
    let k = lab.ns("k");
    let o = lab.ns("o");
    lab.attach(&r, "eth0", &lan, &["10.30.0.1/24", "fd30::1/64"]);
    lab.attach(&k, "eth0", &lan, &["10.30.0.2/24", "fd30::2/64"]);
    lab.attach(&o, "eth0", &lan, &["10.30.0.9/24", "fd30::9/64"]);
    let cap = lab.tcpdump(&o, "eth0", "vrrp or arp", "o");
    Some((lab, lan, r, k, o, cap))
}

/// tcpdump -e lines of adverts sent from `src` (IPv4).
fn adverts_from(cap: &std::path::Path, src: &str) -> Vec<String> {
    netns::lines(cap)
        .into_iter()
        .filter(|l| l.contains(&format!("{src} > 224.0.0.18: VRRP")))
        .collect()
}

/// tcpdump -e lines of gratuitous ARPs for `vip`.
fn garps_for(cap: &std::path::Path, vip: &str) -> Vec<String> {
    netns::lines(cap)
        .into_iter()
        .filter(|l| l.contains(&format!("who-has {vip} (ff:ff:ff:ff:ff:ff) tell {vip}")))
        .collect()
}

fn vmac_inst(prio: u8, extra: &str) -> Inst {
    let mut i = Inst::new("VI_1", "eth0", 30, prio, &["10.30.0.100/24"]);
    i.extra = format!("  use_vmac\n{extra}");
    i
}

/// use_vmac as keepalived: adverts and gratuitous ARPs leave from the VMAC interface with
/// source MAC 00:00:5e:00:01:VRID, and adverts arrive on it (rampart, as backup, hears
/// keepalived's adverts on its VMAC socket and stays backup).
#[test]
fn use_vmac_adverts_leave_from_the_vmac() {
    let Some((mut lab, _lan, r, k, _o, cap)) = vmac_lab("vmacka") else {
        return;
    };
    let logs = lab.dir.path().display().to_string();
    let vmac = "00:00:5e:00:01:1e";
    let (pid_k, ka_log) = start_keepalived(&mut lab, &k, "ka", &conf(&[vmac_inst(150, "")], &[]));
    assert!(
        wait_for(T, || lab.has_addr(&k, "vrrp.30", VIP).then_some(())).is_some(),
        "keepalived should become MASTER with its VIP on vrrp.30 (logs in {logs})"
    );
    start_rampart(&mut lab, &r, "rp", &conf(&[vmac_inst(100, "")], &[]));
    assert!(
        wait_for(T, || (lab.rampart_state("rp", "VI_1")? == "BACKUP")
            .then_some(()))
        .is_some(),
        "rampart should be BACKUP (logs in {logs})"
    );
    assert_eq!(lab.mac(&r, "vrrp.30"), vmac);
    // Longer than Master_Down_Interval (3 s + skew): rampart hears keepalived on its VMAC.
    std::thread::sleep(Duration::from_secs(5));
    assert!(
        !lab.has_addr(&r, "vrrp.30", VIP),
        "rampart took the VIP: it does not hear keepalived's adverts on its VMAC (logs in {logs})"
    );
    lab.signal(pid_k, "TERM");
    assert!(
        wait_for(T, || lab.has_addr(&r, "vrrp.30", VIP).then_some(())).is_some(),
        "rampart should take over after keepalived stops (logs in {logs})"
    );
    assert!(
        wait_for(T, || (adverts_from(&cap, "10.30.0.1").len() >= 2)
            .then_some(()))
        .is_some(),
        "rampart's adverts should be on the wire (logs in {logs})"
    );
    // Wait for the second GARP round (vrrp_garp_master_delay 1).
    std::thread::sleep(Duration::from_millis(1500));
    let ours = adverts_from(&cap, "10.30.0.1");
    let theirs = adverts_from(&cap, "10.30.0.2");
    assert!(
        !theirs.is_empty(),
        "keepalived's adverts captured (logs in {logs})"
    );
    for l in ours.iter().chain(&theirs) {
        assert!(
            l.contains(&format!("{vmac} > 01:00:5e:00:00:12")),
            "every advert leaves from the VMAC, as keepalived's do: {l} (logs in {logs})"
        );
    }
    let garps = garps_for(&cap, VIP);
    // keepalived's burst (2 + 2) and rampart's (2 + 2).
    assert!(
        garps.len() >= 8,
        "GARPs from both: {garps:?} (logs in {logs})"
    );
    for l in &garps {
        assert!(
            l.contains(&format!("{vmac} > ff:ff:ff:ff:ff:ff")),
            "GARP from the VMAC: {l}"
        );
    }
    let complaints = keepalived_complaints(&ka_log);
    assert!(
        complaints.is_empty(),
        "keepalived complained:\n{}",
        complaints.join("\n")
    );
}

/// `vmac_xmit_base`: adverts leave from the base interface (its own MAC), VIPs and gratuitous
/// ARPs stay on the VMAC, as keepalived does; keepalived with the same settings accepts them.
#[test]
fn vmac_xmit_base_sends_adverts_from_the_base_interface() {
    let Some((mut lab, _lan, r, k, _o, cap)) = vmac_lab("vmacxb") else {
        return;
    };
    let logs = lab.dir.path().display().to_string();
    let vmac = "00:00:5e:00:01:1e";
    let xb = "  vmac_xmit_base\n";
    let (_, ka_log) = start_keepalived(&mut lab, &k, "ka", &conf(&[vmac_inst(100, xb)], &[]));
    std::thread::sleep(Duration::from_millis(300));
    start_rampart(&mut lab, &r, "rp", &conf(&[vmac_inst(150, xb)], &[]));
    assert!(
        wait_for(T, || lab.has_addr(&r, "vrrp.30", VIP).then_some(())).is_some(),
        "rampart should become MASTER with the VIP on vrrp.30 (logs in {logs})"
    );
    std::thread::sleep(Duration::from_millis(2500));
    assert!(
        !lab.has_addr(&k, "vrrp.30", VIP),
        "keepalived took the VIP: it rejects rampart's adverts (logs in {logs})"
    );
    let base = lab.mac(&r, "eth0");
    let ours = adverts_from(&cap, "10.30.0.1");
    assert!(
        ours.len() >= 2,
        "rampart's adverts captured (logs in {logs})"
    );
    for l in &ours {
        assert!(
            l.starts_with(&format!("{base} > 01:00:5e:00:00:12"))
                || l.contains(&format!(" {base} > 01:00:5e:00:00:12")),
            "advert from the base interface's MAC {base}: {l} (logs in {logs})"
        );
    }
    let garps = garps_for(&cap, VIP);
    assert!(
        garps.len() >= 2,
        "rampart's GARPs captured (logs in {logs})"
    );
    for l in &garps {
        assert!(
            l.contains(&format!("{vmac} > ff:ff:ff:ff:ff:ff")),
            "GARP from the VMAC: {l}"
        );
    }
    let complaints = keepalived_complaints(&ka_log);
    assert!(
        complaints.is_empty(),
        "keepalived complained:\n{}",
        complaints.join("\n")
    );
}

/// Unicast peers with use_vmac: keepalived 2.2.7 sets vmac_xmit_base itself ("unicast with
/// use_vmac requires vmac_xmit_base"), so the unicast adverts carry the base interface's MAC.
#[test]
fn unicast_with_use_vmac_sends_from_the_base_interface() {
    let Some((mut lab, _lan, r, k, _o, _cap)) = vmac_lab("vmacuni") else {
        return;
    };
    let kcap = lab.tcpdump(&k, "eth0", "vrrp", "k");
    let logs = lab.dir.path().display().to_string();
    let inst = |prio, src: &str, peer: &str| vmac_inst(prio, "").unicast(src, &[peer]);
    let (_, ka_log) = start_keepalived(
        &mut lab,
        &k,
        "ka",
        &conf(&[inst(100, "10.30.0.2", "10.30.0.1")], &[]),
    );
    std::thread::sleep(Duration::from_millis(300));
    start_rampart(
        &mut lab,
        &r,
        "rp",
        &conf(&[inst(150, "10.30.0.1", "10.30.0.2")], &[]),
    );
    assert!(
        wait_for(T, || lab.has_addr(&r, "vrrp.30", VIP).then_some(())).is_some(),
        "rampart should become MASTER with the VIP on vrrp.30 (logs in {logs})"
    );
    std::thread::sleep(Duration::from_millis(2500));
    assert!(
        !lab.has_addr(&k, "vrrp.30", VIP),
        "keepalived took the VIP: it rejects rampart's unicast adverts (logs in {logs})"
    );
    // Unicast adverts reach keepalived's interface for sure: capture there.
    let base = lab.mac(&r, "eth0");
    let seen: Vec<String> = netns::lines(&kcap)
        .into_iter()
        .filter(|l| l.contains("10.30.0.1 > 10.30.0.2: VRRP"))
        .collect();
    assert!(
        seen.len() >= 2,
        "rampart's unicast adverts at keepalived (logs in {logs})"
    );
    for l in &seen {
        assert!(
            l.contains(&format!("{base} > ")),
            "unicast advert from the base MAC: {l}"
        );
    }
    let complaints = keepalived_complaints(&ka_log);
    assert!(
        complaints.is_empty(),
        "keepalived complained:\n{}",
        complaints.join("\n")
    );
}

/// The interface is deleted and created again under the same name (new ifindex, new MAC):
/// rampart goes to FAULT while it is gone (keepalived takes over), then opens a new socket
/// on the new interface, makes the VMAC again, and as the higher priority takes the VIP
/// back: keepalived hears its adverts and steps down.
#[test]
fn recreated_interface_gets_a_new_socket_and_vmac() {
    recreate_case("recreate", false);
}

/// The same over IPv6, where the re-created interface also has a new link-local address
/// (new MAC): the adverts must leave from it, copied onto the new VMAC.
#[test]
fn recreated_interface_gets_a_new_socket_and_vmac_ipv6() {
    recreate_case("recreate6", true);
}

fn recreate_case(name: &str, v6: bool) {
    let Some((mut lab, lan, r, k, _o, _cap)) = vmac_lab(name) else {
        return;
    };
    let logs = lab.dir.path().display().to_string();
    let (vip, vmac) = if v6 {
        (VIP6, "00:00:5e:00:02:1e")
    } else {
        (VIP, "00:00:5e:00:01:1e")
    };
    let inst = |prio| {
        if v6 {
            let mut i = Inst::new("VI_1", "eth0", 30, prio, &["fd30::100/64"]).v3("1");
            i.extra = "  use_vmac\n".into();
            i
        } else {
            vmac_inst(prio, "")
        }
    };
    start_keepalived(&mut lab, &k, "ka", &conf(&[inst(100)], &[]));
    std::thread::sleep(Duration::from_millis(300));
    start_rampart(&mut lab, &r, "rp", &conf(&[inst(150)], &[]));
    assert!(
        wait_for(T, || lab.has_addr(&r, "vrrp.30", vip).then_some(())).is_some(),
        "rampart should become MASTER (logs in {logs})"
    );
    let old_index = lab.exec_ok(&r, &["cat", "/sys/class/net/eth0/ifindex"]);

    lab.exec_ok(&r, &["ip", "link", "del", "eth0"]);
    assert!(
        wait_for(T, || (lab.rampart_state("rp", "VI_1")? == "FAULT")
            .then_some(()))
        .is_some(),
        "rampart should be in FAULT while eth0 is gone (logs in {logs})"
    );
    assert!(
        wait_for(T, || lab.has_addr(&k, "vrrp.30", vip).then_some(())).is_some(),
        "keepalived should take over (logs in {logs})"
    );
    // Still FAULT a while later: nothing half-works on a missing interface.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(lab.rampart_state("rp", "VI_1").as_deref(), Some("FAULT"));

    lab.attach(&r, "eth0", &lan, &["10.30.0.1/24", "fd30::1/64"]);
    let new_index = lab.exec_ok(&r, &["cat", "/sys/class/net/eth0/ifindex"]);
    assert_ne!(
        old_index, new_index,
        "the test re-created eth0 with a new ifindex"
    );
    assert!(
        wait_for(T, || lab.has_addr(&r, "vrrp.30", vip).then_some(())).is_some(),
        "rampart should be MASTER again with the VIP on a new vrrp.30 (logs in {logs})"
    );
    assert_eq!(lab.mac(&r, "vrrp.30"), vmac);
    assert!(
        wait_for(T, || (!lab.has_addr(&k, "vrrp.30", vip)).then_some(())).is_some(),
        "keepalived should hear rampart's adverts on the new interface and step down (logs in {logs})"
    );
    assert_eq!(lab.rampart_state("rp", "VI_1").as_deref(), Some("MASTER"));
}

/// Seconds since midnight of a tcpdump line ("HH:MM:SS.ffffff ...").
fn tcpdump_time(line: &str) -> Option<f64> {
    let t = line.split_whitespace().next()?;
    let mut parts = t.split(':');
    let h: f64 = parts.next()?.parse().ok()?;
    let m: f64 = parts.next()?.parse().ok()?;
    let s: f64 = parts.next()?.parse().ok()?;
    Some(h * 3600.0 + m * 60.0 + s)
}

/// Gratuitous ARPs for `vip` in a capture, grouped in rounds (a new round after a gap of
/// more than 0.4 s): the number of ARPs per round.
fn garp_rounds(cap: &std::path::Path, vip: &str) -> Vec<usize> {
    let mut rounds: Vec<usize> = Vec::new();
    let mut last: Option<f64> = None;
    for t in garps_for(cap, vip).iter().filter_map(|l| tcpdump_time(l)) {
        match last {
            Some(p) if t - p <= 0.4 => *rounds.last_mut().unwrap() += 1,
            _ => rounds.push(1),
        }
        last = Some(t);
    }
    rounds
}

/// The gratuitous ARP burst on becoming MASTER, keepalived and rampart side by side with the
/// same file (vrrp_garp_master_delay 1, _repeat 2, _refresh 2, _refresh_repeat 1), each
/// alone on its own LAN and watched from an observer: the same number of ARPs per round
/// (2 at once, 2 after the delay, then 1 per refresh).
#[test]
fn gratuitous_arp_rounds_match_keepalived() {
    if !netns::available() || !keepalived_available() {
        return;
    }
    let text = conf(&[Inst::new("VI_1", "eth0", 30, 150, &["10.30.0.100/24"])], &[]).replace(
        "vrrp_garp_master_repeat 2\n",
        "vrrp_garp_master_repeat 2\n  vrrp_garp_master_refresh 2\n  vrrp_garp_master_refresh_repeat 1\n",
    );
    let mut lab = Lab::new("garprounds");
    let logs = lab.dir.path().display().to_string();
    let mut caps = Vec::new();
    for who in ["ka", "rp"] {
        let lan = lab.lan(&format!("br{who}"));
        let r = lab.ns(who);
        let o = lab.ns(&format!("o{who}"));
        lab.attach(&r, "eth0", &lan, &["10.30.0.1/24"]);
        lab.attach(&o, "eth0", &lan, &["10.30.0.9/24"]);
        caps.push(lab.tcpdump(&o, "eth0", "arp", &format!("o{who}")));
        if who == "ka" {
            start_keepalived(&mut lab, &r, who, &text);
        } else {
            start_rampart(&mut lab, &r, who, &text);
        }
    }
    // MASTER after ~3.4 s; rounds at +0, +1, +2, +4 s.
    let enough = wait_for(Duration::from_secs(25), || {
        caps.iter()
            .all(|c| garp_rounds(c, VIP).len() >= 4)
            .then_some(())
    });
    assert!(
        enough.is_some(),
        "four GARP rounds from each: keepalived {:?}, rampart {:?} (logs in {logs})",
        garp_rounds(&caps[0], VIP),
        garp_rounds(&caps[1], VIP)
    );
    let ka = garp_rounds(&caps[0], VIP)[..4].to_vec();
    let rp = garp_rounds(&caps[1], VIP)[..4].to_vec();
    assert_eq!(ka, vec![2, 2, 1, 1], "keepalived's rounds (logs in {logs})");
    assert_eq!(
        rp, ka,
        "rampart's rounds differ from keepalived's (logs in {logs})"
    );
}
