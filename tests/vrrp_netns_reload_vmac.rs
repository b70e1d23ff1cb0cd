//! Reload and the I/O shell. A `use_vmac` instance added by a reload gets its VMAC interface,
//! as one present at start does: the macvlan vrrp.VRID with MAC 00:00:5e:00:01:VRID carries its VIP, answers ARP for
//! it, sends its adverts, and goes away when a reload removes the instance or rampart stops.
//! A VIP a reload takes from a no_accept MASTER leaves the nftables set.
//!
//! Run as root: `cargo test --test vrrp_netns_reload_vmac`.

#[path = "common/netns.rs"]
mod netns;
#[path = "common/netns_vrrp.rs"]
mod netns_vrrp;

use netns::{Lab, wait_for};
use netns_vrrp::{Inst, conf, start_rampart};
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

#[test]
fn instance_added_by_reload_gets_its_vmac() {
    if !netns::available() {
        return;
    }
    let mut lab = Lab::new("rlvmac");
    let br = lab.lan("br");
    let a = lab.ns("a");
    let o = lab.ns("o");
    lab.attach(&a, "eth0", &br, &["10.54.0.1/24"]);
    lab.attach(&o, "eth0", &br, &["10.54.0.9/24"]);
    let logs = lab.dir.path().display().to_string();
    let cap = lab.tcpdump(&o, "eth0", "vrrp", "o");

    let vi1 = Inst::new("VI_1", "eth0", 51, 150, &["10.54.0.100/24"]).v3("0.2");
    let mut vi2 = Inst::new("VI_2", "eth0", 52, 150, &["10.54.0.200/24"]).v3("0.2");
    vi2.extra = "  use_vmac\n".into();
    let (pid, _) = start_rampart(&mut lab, &a, "a", &conf(std::slice::from_ref(&vi1), &[]));
    assert!(
        wait_for(T, || lab.has_addr(&a, "eth0", "10.54.0.100").then_some(())).is_some(),
        "VI_1 should become MASTER (logs in {logs})"
    );

    std::fs::write(lab.path("a.conf"), conf(&[vi1.clone(), vi2.clone()], &[])).unwrap();
    lab.signal(pid, "HUP");
    assert!(
        wait_for(T, || lab
            .has_addr(&a, "vrrp.52", "10.54.0.200")
            .then_some(()))
        .is_some(),
        "the reload-added instance's VIP should live on its VMAC vrrp.52 (logs in {logs})"
    );
    assert_eq!(lab.mac(&a, "vrrp.52"), "00:00:5e:00:01:34");
    assert!(
        lab.has_addr(&a, "eth0", "10.54.0.100"),
        "the kept instance is undisturbed (logs in {logs})"
    );
    let got = wait_for(T, || {
        lab.arping(&o, "eth0", "10.54.0.200")
            .filter(|m| m == "00:00:5e:00:01:34")
    });
    assert!(
        got.is_some(),
        "ARP for the new VIP should answer with the VMAC (logs in {logs})"
    );
    let from_vmac = wait_for(T, || {
        netns::lines(&cap)
            .iter()
            .any(|l| l.contains("00:00:5e:00:01:34 > 01:00:5e:00:00:12") && l.contains("vrid 52"))
            .then_some(())
    });
    assert!(
        from_vmac.is_some(),
        "the new instance's adverts should leave from its VMAC (logs in {logs})"
    );

    // Removed again by a reload: its VMAC goes, the other instance stays.
    std::fs::write(lab.path("a.conf"), conf(std::slice::from_ref(&vi1), &[])).unwrap();
    lab.signal(pid, "HUP");
    assert!(
        wait_for(T, || (!lab
            .exec(&a, &["ip", "link", "show", "vrrp.52"])
            .status
            .success())
        .then_some(()))
        .is_some(),
        "the VMAC of an instance removed by a reload is removed (logs in {logs})"
    );
    assert!(lab.has_addr(&a, "eth0", "10.54.0.100"));

    // Added once more, then rampart stops: the VMAC it made goes with it.
    std::fs::write(lab.path("a.conf"), conf(&[vi1, vi2], &[])).unwrap();
    lab.signal(pid, "HUP");
    assert!(
        wait_for(T, || lab
            .has_addr(&a, "vrrp.52", "10.54.0.200")
            .then_some(()))
        .is_some(),
        "added again (logs in {logs})"
    );
    lab.signal(pid, "TERM");
    assert!(lab.wait_exit(pid, T));
    assert!(
        !lab.exec(&a, &["ip", "link", "show", "vrrp.52"])
            .status
            .success(),
        "the VMAC made at reload is removed on exit (logs in {logs})"
    );
}

/// A reload that drops one VIP of a no_accept MASTER removes it from the nftables set too.
#[test]
fn reload_removing_a_no_accept_vip_removes_its_drop_rule() {
    if !netns::available() {
        return;
    }
    let mut lab = Lab::new("rlnoacc");
    let br = lab.lan("br");
    let a = lab.ns("a");
    lab.attach(&a, "eth0", &br, &["10.55.0.1/24"]);
    let logs = lab.dir.path().display().to_string();
    let inst = |vips: &[&str]| {
        let mut i = Inst::new("VI_NA", "eth0", 55, 150, vips).v3("0.2");
        i.extra = "  no_accept\n".into();
        i
    };
    let both = inst(&["10.55.0.100/24", "10.55.0.101/24"]);
    let (pid, _) = start_rampart(&mut lab, &a, "a", &conf(&[both], &[]));
    let set = |lab: &Lab| {
        String::from_utf8_lossy(
            &lab.exec(&a, &["nft", "list", "set", "ip", "rampart", "vips"])
                .stdout,
        )
        .into_owned()
    };
    assert!(
        wait_for(T, || {
            let s = set(&lab);
            (s.contains("10.55.0.100") && s.contains("10.55.0.101")).then_some(())
        })
        .is_some(),
        "both VIPs in the no_accept set: {} (logs in {logs})",
        set(&lab)
    );
    std::fs::write(lab.path("a.conf"), conf(&[inst(&["10.55.0.100/24"])], &[])).unwrap();
    lab.signal(pid, "HUP");
    assert!(
        wait_for(T, || (!lab.has_addr(&a, "eth0", "10.55.0.101")
            && !set(&lab).contains("10.55.0.101"))
        .then_some(()))
        .is_some(),
        "the dropped VIP leaves the address list and the set: {} (logs in {logs})",
        set(&lab)
    );
    assert!(
        set(&lab).contains("10.55.0.100"),
        "the kept VIP stays blocked"
    );
}
