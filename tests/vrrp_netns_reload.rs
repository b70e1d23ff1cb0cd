//! Reload (SIGHUP / `rampart reload`) of the VRRP engine, observed from the namespaces: one
//! rampart in `a`, an observer `o` on the same LAN running tcpdump (ARP and VRRP).
//!
//! 1. an unchanged MASTER instance stays MASTER: its VIP stays, no gratuitous ARP for it,
//!    no notify script run;
//! 2. a VIP added to a MASTER instance appears;
//! 3. a new instance starts and becomes MASTER, its VIP appears;
//! 4. a removed instance sends priority 0 and releases its VIPs;
//! 5. a file with an error is refused and changes nothing.
//!
//! Run as root: `cargo test --test vrrp_netns_reload`.

#[path = "common/netns.rs"]
mod netns;
#[path = "common/netns_vrrp.rs"]
mod netns_vrrp;

use netns::{Lab, wait_for};
use netns_vrrp::{Inst, conf, start_rampart};
use std::time::Duration;

const T: Duration = Duration::from_secs(25);

fn lines(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn reload_applies_a_diff_and_keeps_running_instances() {
    if !netns::available() {
        return;
    }
    let mut lab = Lab::new("reload");
    let br = lab.lan("br");
    let a = lab.ns("a");
    let o = lab.ns("o");
    lab.attach(&a, "eth0", &br, &["10.53.0.1/24"]);
    lab.attach(&o, "eth0", &br, &["10.53.0.9/24"]);
    let logs = lab.dir.path().display().to_string();

    let notify_out = lab.path("notify.out");
    let script = lab.path("notify.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"$*\" >> {}\n", notify_out.display()),
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let mut vi1 = Inst::new("VI_1", "eth0", 51, 150, &["10.53.0.100/24"]);
    vi1.extra = format!("  notify {}\n", script.display());
    let vi2 = |vips: &[&str]| Inst::new("VI_2", "eth0", 52, 150, vips);
    let vi3 = Inst::new("VI_3", "eth0", 53, 150, &["10.53.0.150/24"]);

    let v1 = conf(&[vi1.clone(), vi2(&["10.53.0.200/24"])], &[]);
    let (pid, _) = start_rampart(&mut lab, &a, "a", &v1);
    let conf_path = lab.path("a.conf");
    let sock = lab.path("a.sock");
    let reload = |lab: &Lab| {
        lab.exec(
            &a,
            &[
                env!("CARGO_BIN_EXE_rampart"),
                "reload",
                "--socket",
                sock.to_str().unwrap(),
            ],
        )
    };

    let up = wait_for(T, || {
        (lab.has_addr(&a, "eth0", "10.53.0.100") && lab.has_addr(&a, "eth0", "10.53.0.200"))
            .then_some(())
    });
    assert!(
        up.is_some(),
        "both instances should become MASTER (logs in {logs})"
    );
    let became_master = wait_for(T, || {
        lines(&notify_out)
            .iter()
            .any(|l| l == "INSTANCE VI_1 MASTER 150")
            .then_some(())
    });
    assert!(
        became_master.is_some(),
        "notify should report MASTER (logs in {logs})"
    );
    // Let the delayed gratuitous ARP round (vrrp_garp_master_delay 1) pass.
    std::thread::sleep(Duration::from_secs(3));

    let capture = lab.path("capture.txt");
    lab.spawn(
        "tcpdump",
        &o,
        &["tcpdump", "-i", "eth0", "-n", "-l", "arp or vrrp"],
        &capture,
    );
    let ready = wait_for(T, || {
        std::fs::read_to_string(&capture)
            .unwrap_or_default()
            .contains("listening on")
            .then_some(())
    });
    assert!(ready.is_some(), "tcpdump should start (see {logs})");
    std::thread::sleep(Duration::from_millis(500));
    let notify_before = lines(&notify_out);

    // (1)(2)(3): VI_1 unchanged, VI_2 gets a VIP, VI_3 is new.
    let v2 = conf(
        &[
            vi1.clone(),
            vi2(&["10.53.0.200/24", "10.53.0.201/24"]),
            vi3.clone(),
        ],
        &[],
    );
    std::fs::write(&conf_path, &v2).unwrap();
    let r = reload(&lab);
    assert!(
        r.status.success(),
        "reload should be accepted: {}{}",
        String::from_utf8_lossy(&r.stdout),
        String::from_utf8_lossy(&r.stderr)
    );
    let added = wait_for(T, || lab.has_addr(&a, "eth0", "10.53.0.201").then_some(()));
    assert!(
        added.is_some(),
        "the VIP added to VI_2 should appear (logs in {logs})"
    );
    let started = wait_for(T, || lab.has_addr(&a, "eth0", "10.53.0.150").then_some(()));
    assert!(
        started.is_some(),
        "the new VI_3 should become MASTER (logs in {logs})"
    );
    assert!(
        lab.has_addr(&a, "eth0", "10.53.0.100"),
        "VI_1 keeps its VIP"
    );
    assert!(
        lab.has_addr(&a, "eth0", "10.53.0.200"),
        "VI_2 keeps its first VIP"
    );
    // The new instance's GARP shows the capture works; none for VI_1's VIP.
    let vi3_garp = wait_for(T, || {
        std::fs::read_to_string(&capture)
            .unwrap_or_default()
            .contains("tell 10.53.0.150")
            .then_some(())
    });
    assert!(
        vi3_garp.is_some(),
        "VI_3 should announce its VIP (capture in {logs})"
    );
    std::thread::sleep(Duration::from_secs(3));
    let cap = std::fs::read_to_string(&capture).unwrap_or_default();
    let vi1_arp: Vec<&str> = cap
        .lines()
        .filter(|l| l.contains("ARP") && l.contains("10.53.0.100"))
        .collect();
    assert!(
        vi1_arp.is_empty(),
        "no gratuitous ARP for the unchanged VI_1 after the reload: {vi1_arp:?}"
    );
    assert!(
        cap.lines().any(|l| l.contains("vrid 51")),
        "VI_1 keeps advertising (capture in {logs})"
    );
    assert_eq!(
        lines(&notify_out),
        notify_before,
        "no notify for the unchanged VI_1"
    );

    // (2b): a VIP removed from a MASTER instance goes; the one that stays is untouched.
    let v2b = conf(&[vi1.clone(), vi2(&["10.53.0.201/24"]), vi3.clone()], &[]);
    std::fs::write(&conf_path, &v2b).unwrap();
    let r = reload(&lab);
    assert!(r.status.success(), "reload should be accepted");
    let dropped = wait_for(T, || {
        (!lab.has_addr(&a, "eth0", "10.53.0.200")).then_some(())
    });
    assert!(
        dropped.is_some(),
        "the VIP removed from VI_2 should go (logs in {logs})"
    );
    assert!(
        lab.has_addr(&a, "eth0", "10.53.0.201"),
        "VI_2 keeps its other VIP"
    );

    // (4): VI_2 removed: priority 0, both its VIPs go; the others stay.
    let v3 = conf(&[vi1.clone(), vi3.clone()], &[]);
    std::fs::write(&conf_path, &v3).unwrap();
    let r = reload(&lab);
    assert!(r.status.success(), "reload should be accepted");
    let released = wait_for(T, || {
        (!lab.has_addr(&a, "eth0", "10.53.0.200") && !lab.has_addr(&a, "eth0", "10.53.0.201"))
            .then_some(())
    });
    assert!(
        released.is_some(),
        "the removed VI_2 should release its VIPs (logs in {logs})"
    );
    let prio0 = wait_for(T, || {
        std::fs::read_to_string(&capture)
            .unwrap_or_default()
            .lines()
            .any(|l| l.contains("vrid 52") && l.contains("prio 0"))
            .then_some(())
    });
    assert!(
        prio0.is_some(),
        "VI_2 should send priority 0 (capture in {logs})"
    );
    assert!(lab.has_addr(&a, "eth0", "10.53.0.100"));
    assert!(lab.has_addr(&a, "eth0", "10.53.0.150"));

    // (5): a file with an error is refused; nothing changes.
    std::fs::write(
        &conf_path,
        v3.replace("virtual_router_id 53", "virtual_router_id 300"),
    )
    .unwrap();
    let r = reload(&lab);
    assert!(!r.status.success(), "a broken file must be refused");
    std::thread::sleep(Duration::from_secs(2));
    assert!(lab.has_addr(&a, "eth0", "10.53.0.100"));
    assert!(lab.has_addr(&a, "eth0", "10.53.0.150"));
    let cap = std::fs::read_to_string(&capture).unwrap_or_default();
    let tail: Vec<&str> = cap.lines().rev().take(4).collect();
    assert!(
        tail.iter().any(|l| l.contains("vrid 53")),
        "VI_3 still advertises: {tail:?}"
    );

    // Only VI_1's first MASTER report, and its stop at shutdown, in the notify file.
    lab.signal(pid, "TERM");
    assert!(lab.wait_exit(pid, T));
    let n = lines(&notify_out);
    assert_eq!(
        n.iter().filter(|l| l.contains("MASTER")).count(),
        1,
        "VI_1 became MASTER once: {n:?}"
    );
}

/// A priority lowered by a reload takes effect in place: the peer preempts and takes the VIP.
#[test]
fn lowered_priority_hands_over_to_the_peer() {
    if !netns::available() {
        return;
    }
    let mut lab = Lab::new("reloadprio");
    let br = lab.lan("br");
    let a = lab.ns("a");
    let b = lab.ns("b");
    lab.attach(&a, "eth0", &br, &["10.54.0.1/24"]);
    lab.attach(&b, "eth0", &br, &["10.54.0.2/24"]);
    let logs = lab.dir.path().display().to_string();
    let vip = "10.54.0.100";
    let inst = |p| {
        conf(
            &[Inst::new("VI_P", "eth0", 54, p, &["10.54.0.100/24"])],
            &[],
        )
    };
    let (pid_a, _) = start_rampart(&mut lab, &a, "a", &inst(150));
    start_rampart(&mut lab, &b, "b", &inst(100));
    let on_a = wait_for(T, || {
        (lab.has_addr(&a, "eth0", vip) && !lab.has_addr(&b, "eth0", vip)).then_some(())
    });
    assert!(on_a.is_some(), "the VIP should start on a (logs in {logs})");
    std::fs::write(lab.path("a.conf"), inst(50)).unwrap();
    lab.signal(pid_a, "HUP");
    let on_b = wait_for(T, || {
        (lab.has_addr(&b, "eth0", vip) && !lab.has_addr(&a, "eth0", vip)).then_some(())
    });
    assert!(
        on_b.is_some(),
        "with priority 50 on a, b (100) should preempt (logs in {logs})"
    );
}

/// A renamed instance with the same VRID, family and interface is the same virtual router: it
/// stays MASTER (its VIP stays, no gratuitous ARP, no notify), keeps advertising, and reports
/// under its new name from then on (status, and the notify at shutdown).
#[test]
fn renamed_instance_keeps_its_state() {
    if !netns::available() {
        return;
    }
    let mut lab = Lab::new("reloadname");
    let br = lab.lan("br");
    let a = lab.ns("a");
    let o = lab.ns("o");
    lab.attach(&a, "eth0", &br, &["10.55.0.1/24"]);
    lab.attach(&o, "eth0", &br, &["10.55.0.9/24"]);
    let logs = lab.dir.path().display().to_string();
    let notify_out = lab.path("notify.out");
    let script = lab.path("notify.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"$*\" >> {}\n", notify_out.display()),
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let named = |name: &str| {
        let mut i = Inst::new(name, "eth0", 61, 150, &["10.55.0.100/24"]);
        i.extra = format!("  notify {}\n", script.display());
        conf(&[i], &[])
    };
    let (pid, _) = start_rampart(&mut lab, &a, "a", &named("VI_OLD"));
    let sock = lab.path("a.sock");
    let master = wait_for(T, || {
        lines(&notify_out)
            .iter()
            .any(|l| l == "INSTANCE VI_OLD MASTER 150")
            .then_some(())
    });
    assert!(
        master.is_some(),
        "VI_OLD should become MASTER (logs in {logs})"
    );
    assert!(lab.has_addr(&a, "eth0", "10.55.0.100"));
    // Let the delayed gratuitous ARP round (vrrp_garp_master_delay 1) pass.
    std::thread::sleep(Duration::from_secs(3));
    let capture = lab.path("capture.txt");
    lab.spawn(
        "tcpdump",
        &o,
        &["tcpdump", "-i", "eth0", "-n", "-l", "arp or vrrp"],
        &capture,
    );
    let ready = wait_for(T, || {
        std::fs::read_to_string(&capture)
            .unwrap_or_default()
            .contains("listening on")
            .then_some(())
    });
    assert!(ready.is_some(), "tcpdump should start (see {logs})");
    std::thread::sleep(Duration::from_millis(500));
    let notify_before = lines(&notify_out);

    std::fs::write(lab.path("a.conf"), named("VI_NEW")).unwrap();
    let r = lab.exec(
        &a,
        &[
            env!("CARGO_BIN_EXE_rampart"),
            "reload",
            "--socket",
            sock.to_str().unwrap(),
        ],
    );
    let out = String::from_utf8_lossy(&r.stdout).to_string();
    assert!(r.status.success(), "reload should be accepted: {out}");
    assert!(
        out.contains("~ vrrp_instance VI_NEW (VRID 61 IPv4 on eth0): state kept")
            && out.contains("renamed from VI_OLD"),
        "the plan should say the instance is kept and renamed: {out}"
    );
    // Status reports the new name, still MASTER.
    let last_status = std::cell::RefCell::new(String::new());
    let status = wait_for(T, || {
        let r = lab.exec(
            &a,
            &[
                env!("CARGO_BIN_EXE_rampart"),
                "status",
                "--json",
                "--socket",
                sock.to_str().unwrap(),
            ],
        );
        *last_status.borrow_mut() = String::from_utf8_lossy(&r.stdout).to_string();
        let v: serde_json::Value = serde_json::from_slice(&r.stdout).ok()?;
        let insts = v.pointer("/instances")?.as_array()?.clone();
        (insts.len() == 1 && insts[0]["name"] == "VI_NEW").then_some(insts[0].clone())
    });
    let status = status.unwrap_or_else(|| {
        panic!(
            "status should list VI_NEW only (logs in {logs}): {}",
            last_status.borrow()
        )
    });
    assert_eq!(status["state"], "MASTER", "{status}");
    std::thread::sleep(Duration::from_secs(3));
    assert!(lab.has_addr(&a, "eth0", "10.55.0.100"), "the VIP stays");
    let cap = std::fs::read_to_string(&capture).unwrap_or_default();
    let arp: Vec<&str> = cap
        .lines()
        .filter(|l| l.contains("ARP") && l.contains("10.55.0.100"))
        .collect();
    assert!(arp.is_empty(), "no gratuitous ARP after a rename: {arp:?}");
    assert!(
        cap.lines()
            .filter(|l| l.contains("vrid 61") && l.contains("prio 150"))
            .count()
            >= 2,
        "the router keeps advertising at priority 150: {cap}"
    );
    assert!(
        !cap.lines().any(|l| l.contains("prio 0")),
        "no priority 0 (the router was not stopped): {cap}"
    );
    assert_eq!(lines(&notify_out), notify_before, "no notify on a rename");
    // From now on the instance reports under its new name.
    lab.signal(pid, "TERM");
    assert!(lab.wait_exit(pid, T));
    let n = lines(&notify_out);
    assert!(
        n.last()
            .is_some_and(|l| l.starts_with("INSTANCE VI_NEW STOP")),
        "the stop is notified under the new name: {n:?}"
    );
}
