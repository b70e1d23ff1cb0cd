//! rampart's I/O shell features, each in its own namespace lab: IPv6 (VRRPv3, unsolicited
//! NAs), notify scripts, vrrp_script tracking, a VIP removed behind rampart's back, use_vmac
//! and --dry-run.
//!
//! Run as root: `cargo test --test vrrp_netns_features`.

#[path = "common/netns.rs"]
mod netns;
#[path = "common/netns_vrrp.rs"]
mod netns_vrrp;

use netns::{Lab, wait_for};
use netns_vrrp::{Inst, conf, start_rampart};
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

/// a, b and an observer o on one LAN (IPv4 10.50.0.0/24 and IPv6 fd50::/64).
fn lan(name: &str) -> Option<(Lab, String, String, String)> {
    if !netns::available() {
        return None;
    }
    let mut lab = Lab::new(name);
    let br = lab.lan("br");
    let a = lab.ns("a");
    let b = lab.ns("b");
    let o = lab.ns("o");
    lab.attach(&a, "eth0", &br, &["10.50.0.1/24", "fd50::1/64"]);
    lab.attach(&b, "eth0", &br, &["10.50.0.2/24", "fd50::2/64"]);
    lab.attach(&o, "eth0", &br, &["10.50.0.9/24", "fd50::9/64"]);
    Some((lab, a, b, o))
}

#[test]
fn ipv6_election_and_unsolicited_na() {
    let Some((mut lab, a, b, o)) = lan("v6") else {
        return;
    };
    let vip = "fd50::100";
    let inst = |p| Inst::new("VI_6", "eth0", 60, p, &["fd50::100/64"]).v3("0.2");
    let (pid_a, _) = start_rampart(&mut lab, &a, "a", &conf(&[inst(150)], &[]));
    start_rampart(&mut lab, &b, "b", &conf(&[inst(100)], &[]));
    let logs = lab.dir.path().display().to_string();
    let only_a = wait_for(T, || {
        (lab.has_addr(&a, "eth0", vip) && !lab.has_addr(&b, "eth0", vip)).then_some(())
    });
    assert!(
        only_a.is_some(),
        "the IPv6 VIP should be on a only (logs in {logs})"
    );
    // The observer believes the VIP is at a; b's unsolicited NA (Override) must repoint it.
    let (mac_a, mac_b) = (lab.mac(&a, "eth0"), lab.mac(&b, "eth0"));
    lab.exec_ok(
        &o,
        &[
            "ip", "-6", "neigh", "replace", vip, "lladdr", &mac_a, "dev", "eth0", "nud", "stale",
        ],
    );
    lab.signal(pid_a, "TERM");
    assert!(lab.wait_exit(pid_a, T));
    let moved = wait_for(T, || lab.neigh(&o, vip).filter(|m| *m == mac_b));
    assert_eq!(
        moved,
        Some(mac_b),
        "unsolicited NA should update the observer (logs in {logs})"
    );
    assert!(lab.has_addr(&b, "eth0", vip));
}

#[test]
fn notify_scripts_run_in_order_with_keepalived_arguments() {
    let Some((mut lab, a, _b, _o)) = lan("notify") else {
        return;
    };
    let out = lab.path("notify.out");
    let script = lab.path("notify.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"$*\" >> {}\n", out.display()),
    )
    .unwrap();
    let master_flag = lab.path("master.flag");
    let master_script = lab.path("master.sh");
    std::fs::write(
        &master_script,
        format!("#!/bin/sh\ntouch {}\n", master_flag.display()),
    )
    .unwrap();
    for s in [&script, &master_script] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(s, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let mut i = Inst::new("VI_N", "eth0", 51, 120, &["10.50.0.100/24"]);
    i.extra = format!(
        "  notify {}\n  notify_master {}\n",
        script.display(),
        master_script.display()
    );
    let (pid, _) = start_rampart(&mut lab, &a, "a", &conf(&[i], &[]));
    let logs = lab.dir.path().display().to_string();
    let seen = wait_for(T, || {
        let t = std::fs::read_to_string(&out).unwrap_or_default();
        t.contains("INSTANCE VI_N MASTER 120").then_some(t)
    });
    assert!(
        seen.is_some(),
        "notify should report MASTER (logs in {logs})"
    );
    assert!(
        wait_for(T, || master_flag.exists().then_some(())).is_some(),
        "notify_master should run"
    );
    lab.signal(pid, "TERM");
    assert!(lab.wait_exit(pid, T));
    let text = std::fs::read_to_string(&out).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        vec![
            "INSTANCE VI_N BACKUP 120",
            "INSTANCE VI_N MASTER 120",
            "INSTANCE VI_N STOP 120"
        ],
        "transitions in order (logs in {logs})"
    );
}

#[test]
fn failing_track_script_lowers_priority_and_moves_the_vip() {
    let Some((mut lab, a, b, o)) = lan("track") else {
        return;
    };
    let flag = lab.path("healthy");
    std::fs::write(&flag, "").unwrap();
    let script = format!(
        "vrrp_script chk {{\n  script \"/bin/test -e {}\"\n  interval 1\n  weight -60\n  fall 1\n  rise 1\n}}\n",
        flag.display()
    );
    let mut ia = Inst::new("VI_T", "eth0", 52, 150, &["10.50.0.100/24"]);
    ia.extra = "  track_script {\n    chk\n  }\n".into();
    let ib = Inst::new("VI_T", "eth0", 52, 120, &["10.50.0.100/24"]);
    start_rampart(&mut lab, &a, "a", &format!("{script}{}", conf(&[ia], &[])));
    start_rampart(&mut lab, &b, "b", &conf(&[ib], &[]));
    let (mac_a, mac_b) = (lab.mac(&a, "eth0"), lab.mac(&b, "eth0"));
    let logs = lab.dir.path().display().to_string();
    let at = |mac: &str| {
        wait_for(T, || {
            lab.arping(&o, "eth0", "10.50.0.100").filter(|m| m == mac)
        })
        .is_some()
    };
    assert!(
        at(&mac_a),
        "a (150) should be master while healthy (logs in {logs})"
    );
    std::fs::remove_file(&flag).unwrap();
    assert!(
        at(&mac_b),
        "a at 150-60=90 < 120 should lose the VIP to b (logs in {logs})"
    );
    std::fs::write(&flag, "").unwrap();
    assert!(at(&mac_a), "healthy again, a preempts (logs in {logs})");
}

#[test]
fn vip_removed_behind_our_back_is_restored() {
    let Some((mut lab, a, _b, _o)) = lan("restore") else {
        return;
    };
    start_rampart(
        &mut lab,
        &a,
        "a",
        &conf(
            &[Inst::new("VI_R", "eth0", 53, 150, &["10.50.0.100/24"]).v3("0.2")],
            &[],
        ),
    );
    let logs = lab.dir.path().display().to_string();
    assert!(
        wait_for(T, || lab.has_addr(&a, "eth0", "10.50.0.100").then_some(())).is_some(),
        "VIP should be added (logs in {logs})"
    );
    lab.exec_ok(&a, &["ip", "addr", "del", "10.50.0.100/24", "dev", "eth0"]);
    assert!(
        wait_for(T, || lab.has_addr(&a, "eth0", "10.50.0.100").then_some(())).is_some(),
        "a VIP deleted by hand should be put back (logs in {logs})"
    );
}

#[test]
fn use_vmac_answers_with_the_virtual_mac() {
    let Some((mut lab, a, _b, o)) = lan("vmac") else {
        return;
    };
    let mut i = Inst::new("VI_V", "eth0", 54, 150, &["10.50.0.100/24"]).v3("0.2");
    i.extra = "  use_vmac\n".into();
    let (pid, _) = start_rampart(&mut lab, &a, "a", &conf(&[i], &[]));
    let logs = lab.dir.path().display().to_string();
    assert!(
        wait_for(T, || lab
            .has_addr(&a, "vrrp.54", "10.50.0.100")
            .then_some(()))
        .is_some(),
        "VIP should live on the macvlan vrrp.54 (logs in {logs})"
    );
    assert_eq!(lab.mac(&a, "vrrp.54"), "00:00:5e:00:01:36");
    let got = wait_for(T, || {
        lab.arping(&o, "eth0", "10.50.0.100")
            .filter(|m| m == "00:00:5e:00:01:36")
    });
    assert!(
        got.is_some(),
        "ARP for the VIP should answer with the VMAC (logs in {logs})"
    );
    lab.signal(pid, "TERM");
    assert!(lab.wait_exit(pid, T));
    let gone = lab.exec(&a, &["ip", "link", "show", "vrrp.54"]);
    assert!(
        !gone.status.success(),
        "the macvlan rampart created is removed on exit"
    );
}

/// As keepalived, IPv6 VIPs are added with IFA_F_NODAD: usable at once, never "tentative"
/// (DAD is switched on for this interface, unlike the rest of the lab).
#[test]
fn ipv6_vips_skip_dad() {
    let Some((mut lab, a, _b, o)) = lan("nodad") else {
        return;
    };
    lab.exec_ok(&a, &["sysctl", "-qw", "net.ipv6.conf.eth0.accept_dad=1"]);
    lab.exec_ok(&a, &["sysctl", "-qw", "net.ipv6.conf.eth0.dad_transmits=3"]);
    let vip = "fd50::100";
    let i = Inst::new("VI_6", "eth0", 63, 150, &["fd50::100/64"]).v3("0.2");
    start_rampart(&mut lab, &a, "a", &conf(&[i], &[]));
    let logs = lab.dir.path().display().to_string();
    assert!(
        wait_for(T, || lab.has_addr(&a, "eth0", vip).then_some(())).is_some(),
        "the IPv6 VIP should be added (logs in {logs})"
    );
    let line = lab.exec_ok(&a, &["ip", "-6", "-o", "addr", "show", "dev", "eth0"]);
    let line = line
        .lines()
        .find(|l| l.contains(vip))
        .unwrap_or_default()
        .to_string();
    assert!(
        line.contains("nodad") && !line.contains("tentative") && !line.contains("dadfailed"),
        "VIP added with nodad, not tentative: {line:?} (logs in {logs})"
    );
    // Usable as a source address at once: a tentative address cannot be bound (busybox's
    // ping binds to -I ADDR), and the observer answers.
    let ping = lab.exec(
        &a,
        &[
            "busybox", "ping", "-6", "-c", "1", "-W", "2", "-I", vip, "fd50::9",
        ],
    );
    assert!(
        ping.status.success(),
        "ping from the VIP right after it appeared: {}{} (logs in {logs})",
        String::from_utf8_lossy(&ping.stdout),
        String::from_utf8_lossy(&ping.stderr)
    );
    let _ = o;
}

/// IPv6 use_vmac as keepalived 2.2.7: the interface is named vrrp.VRID as for IPv4, its MAC
/// is 00:00:5e:00:02:VRID, carries the base's link-local address (adverts go out from
/// the VMAC with that source) and the VIP; the unsolicited NA comes from the VMAC.
#[test]
fn ipv6_use_vmac_sends_from_the_vmac_with_the_base_link_local() {
    let Some((mut lab, a, _b, o)) = lan("vmac6") else {
        return;
    };
    let cap = lab.tcpdump(&o, "eth0", "ip6 proto 112 or icmp6", "o");
    let mut i = Inst::new("VI_6", "eth0", 64, 150, &["fd50::100/64"]).v3("0.2");
    i.extra = "  use_vmac\n".into();
    start_rampart(&mut lab, &a, "a", &conf(&[i], &[]));
    let logs = lab.dir.path().display().to_string();
    let dev = "vrrp.64";
    assert!(
        wait_for(T, || lab.has_addr(&a, dev, "fd50::100").then_some(())).is_some(),
        "the IPv6 VIP should live on {dev} (logs in {logs})"
    );
    assert_eq!(lab.mac(&a, dev), "00:00:5e:00:02:40");
    let ll = lab.exec_ok(
        &a,
        &[
            "ip", "-6", "-o", "addr", "show", "dev", "eth0", "scope", "link",
        ],
    );
    let ll = ll
        .split_whitespace()
        .skip_while(|w| *w != "inet6")
        .nth(1)
        .and_then(|w| w.split('/').next())
        .unwrap_or_default()
        .to_string();
    assert!(!ll.is_empty(), "eth0 has a link-local address");
    assert!(
        lab.has_addr(&a, dev, &ll),
        "{dev} carries eth0's link-local {ll}"
    );
    let seen = wait_for(T, || {
        let l = netns::lines(&cap);
        let advert = l.iter().any(|x| {
            x.contains("00:00:5e:00:02:40 > 33:33:00:00:00:12")
                && x.contains(&format!("{ll} > ff02::12"))
        });
        let na = l.iter().any(|x| {
            x.contains("00:00:5e:00:02:40 > 33:33:00:00:00:01")
                && x.contains("fd50::100 > ff02::1")
                && x.contains("neighbor advertisement")
        });
        (advert && na).then_some(())
    });
    assert!(
        seen.is_some(),
        "adverts from the VMAC with source {ll} and NAs from the VMAC on the wire: {:?} (logs in {logs})",
        netns::lines(&cap)
    );
}

/// `no_accept` as keepalived 2.2.7 (which fills an nftables set `vips` while MASTER and drops
/// input to and output from it): the MASTER holds the VIP but does not answer on it; an
/// instance with the default (accept) does. The table goes when rampart stops.
#[test]
fn no_accept_drops_traffic_for_the_vips() {
    let Some((mut lab, a, _b, o)) = lan("noacc") else {
        return;
    };
    let mut closed = Inst::new("VI_NA", "eth0", 65, 150, &["10.50.0.100/24"]).v3("0.2");
    closed.extra = "  no_accept\n".into();
    let open = Inst::new("VI_A", "eth0", 66, 150, &["10.50.0.101/24"]).v3("0.2");
    let (pid, _) = start_rampart(&mut lab, &a, "a", &conf(&[closed, open], &[]));
    let logs = lab.dir.path().display().to_string();
    assert!(
        wait_for(T, || (lab.has_addr(&a, "eth0", "10.50.0.100")
            && lab.has_addr(&a, "eth0", "10.50.0.101"))
        .then_some(()))
        .is_some(),
        "both instances become MASTER (logs in {logs})"
    );
    let ping = |ip: &str| {
        lab.exec(&o, &["busybox", "ping", "-c", "1", "-W", "1", ip])
            .status
            .success()
    };
    assert!(
        wait_for(T, || ping("10.50.0.101").then_some(())).is_some(),
        "the accept VIP answers (logs in {logs})"
    );
    assert!(
        !ping("10.50.0.100"),
        "the no_accept VIP must not answer (logs in {logs})"
    );
    let set = lab.exec_ok(&a, &["nft", "list", "set", "ip", "rampart", "vips"]);
    assert!(
        set.contains("10.50.0.100") && !set.contains("10.50.0.101"),
        "{set}"
    );
    lab.signal(pid, "TERM");
    assert!(lab.wait_exit(pid, T));
    let tables = lab.exec_ok(&a, &["nft", "list", "tables"]);
    assert!(
        !tables.contains("rampart"),
        "table removed at exit: {tables}"
    );
}

#[test]
fn dry_run_elects_but_changes_nothing() {
    let Some((mut lab, a, _b, _o)) = lan("dry") else {
        return;
    };
    let conf_path = lab.path("dry.conf");
    std::fs::write(
        &conf_path,
        conf(
            &[Inst::new("VI_D", "eth0", 55, 150, &["10.50.0.100/24"]).v3("0.2")],
            &[],
        ),
    )
    .unwrap();
    let log = lab.path("dry.log");
    let args = [
        env!("CARGO_BIN_EXE_rampart"),
        "-f",
        conf_path.to_str().unwrap(),
        "-P",
        "-n",
        "-l",
        "--dry-run",
        "--control-socket",
        lab.path("dry.sock").to_str().unwrap().to_owned().leak(),
    ];
    lab.spawn("dry", &a, &args, &log);
    let said = wait_for(T, || {
        let t = std::fs::read_to_string(&log).unwrap_or_default();
        t.contains("dry-run: would add address 10.50.0.100/24")
            .then_some(())
    });
    assert!(
        said.is_some(),
        "dry run should log the address it would add"
    );
    assert!(
        !lab.has_addr(&a, "eth0", "10.50.0.100"),
        "dry run must not add the VIP"
    );
}

#[test]
fn routes_rules_and_excluded_vips_follow_mastership() {
    let Some((mut lab, a, _b, _o)) = lan("routes") else {
        return;
    };
    let mut i = Inst::new("VI_X", "eth0", 56, 150, &["10.50.0.100/24"]).v3("0.2");
    i.extra = concat!(
        "  virtual_ipaddress_excluded {\n    10.50.0.101/24\n  }\n",
        "  virtual_routes {\n    10.60.0.0/24 via 10.50.0.254 dev eth0\n  }\n",
        "  virtual_rules {\n    from 10.50.0.100/32 table 100 priority 1000\n  }\n",
    )
    .into();
    let (pid, _) = start_rampart(&mut lab, &a, "a", &conf(&[i], &[]));
    let logs = lab.dir.path().display().to_string();
    let route = |lab: &Lab| {
        String::from_utf8_lossy(
            &lab.exec(&a, &["ip", "route", "show", "10.60.0.0/24"])
                .stdout,
        )
        .contains("via 10.50.0.254")
    };
    let rule = |lab: &Lab| {
        String::from_utf8_lossy(&lab.exec(&a, &["ip", "rule", "show"]).stdout)
            .contains("from 10.50.0.100 lookup 100")
    };
    let up = wait_for(T, || {
        (lab.has_addr(&a, "eth0", "10.50.0.101") && route(&lab) && rule(&lab)).then_some(())
    });
    assert!(
        up.is_some(),
        "MASTER installs excluded VIPs, routes and rules (logs in {logs})"
    );
    // A route nobody configured must survive rampart's exit: only what it added goes.
    lab.exec_ok(
        &a,
        &["ip", "route", "add", "10.61.0.0/24", "via", "10.50.0.254"],
    );
    lab.signal(pid, "TERM");
    assert!(lab.wait_exit(pid, T));
    assert!(!lab.has_addr(&a, "eth0", "10.50.0.101"));
    assert!(!lab.has_addr(&a, "eth0", "10.50.0.100"));
    assert!(!route(&lab), "virtual route removed");
    assert!(!rule(&lab), "virtual rule removed");
    let other = lab.exec_ok(&a, &["ip", "route", "show", "10.61.0.0/24"]);
    assert!(other.contains("via"), "a route rampart did not add stays");
}

#[test]
fn script_security_refuses_and_names_the_unsafe_path() {
    use std::os::unix::fs::PermissionsExt;
    let Some((mut lab, a, _b, _o)) = lan("secure") else {
        return;
    };
    let open_dir = lab.path("open");
    std::fs::create_dir(&open_dir).unwrap();
    std::fs::set_permissions(&open_dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let script = open_dir.join("notify.sh");
    let out = lab.path("ran");
    std::fs::write(&script, format!("#!/bin/sh\ntouch {}\n", out.display())).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut i = Inst::new("VI_S", "eth0", 57, 150, &["10.50.0.100/24"]).v3("0.2");
    i.extra = format!("  notify_master {}\n", script.display());
    let text = conf(&[i], &[]).replace(
        "global_defs {\n",
        "global_defs {\n  enable_script_security\n  script_user root\n",
    );
    let (_, log) = start_rampart(&mut lab, &a, "a", &text);
    let logs = lab.dir.path().display().to_string();
    assert!(
        wait_for(T, || lab.has_addr(&a, "eth0", "10.50.0.100").then_some(())).is_some(),
        "becomes MASTER (logs in {logs})"
    );
    let named = wait_for(T, || {
        let t = std::fs::read_to_string(&log).unwrap_or_default();
        (t.contains("writable by a non-root user") && t.contains(open_dir.to_str().unwrap()))
            .then_some(())
    });
    assert!(
        named.is_some(),
        "the log names the unsafe directory (logs in {logs})"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(!out.exists(), "an unsafe notify script must not run");
}

/// `rampart status --json` for the daemon started with label `label`.
fn status_json(lab: &Lab, label: &str) -> Option<serde_json::Value> {
    let sock = lab.path(&format!("{label}.sock"));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args(["status", "--json", "--socket"])
        .arg(&sock)
        .output()
        .ok()?;
    serde_json::from_slice(&out.stdout).ok()
}

/// The state `rampart status` reports for instance `name`.
fn instance_state(lab: &Lab, label: &str, name: &str) -> Option<String> {
    let v = status_json(lab, label)?;
    v["instances"]
        .as_array()?
        .iter()
        .find(|i| i["name"] == name)
        .map(|i| i["state"].to_string().trim_matches('"').to_uppercase())
}

#[test]
fn missing_interface_puts_only_its_instance_in_fault_until_it_appears() {
    let Some((mut lab, a, _b, _o)) = lan("fault") else {
        return;
    };
    let (pid, log) = start_rampart(
        &mut lab,
        &a,
        "a",
        &conf(
            &[
                Inst::new("VI_GOOD", "eth0", 61, 150, &["10.50.0.100/24"]).v3("0.2"),
                Inst::new("VI_MISSING", "eth9", 62, 150, &["10.51.0.100/24"]).v3("0.2"),
            ],
            &[],
        ),
    );
    let logs = lab.dir.path().display().to_string();
    assert!(
        wait_for(T, || lab.has_addr(&a, "eth0", "10.50.0.100").then_some(())).is_some(),
        "the instance on an existing interface becomes MASTER (logs in {logs})"
    );
    assert!(
        !lab.wait_exit(pid, Duration::from_millis(500)),
        "the daemon keeps running with one interface missing (logs in {logs})"
    );
    assert!(
        wait_for(T, || (instance_state(&lab, "a", "VI_MISSING")? == "FAULT")
            .then_some(()))
        .is_some(),
        "status shows the instance on the missing interface in FAULT: {:?} (logs in {logs})",
        status_json(&lab, "a")
    );
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        text.lines()
            .any(|l| l.contains("ERROR") && l.contains("VI_MISSING") && l.contains("eth9")),
        "one error names the instance and the interface (logs in {logs})"
    );

    // The interface appears: the instance leaves FAULT and, alone on its LAN, becomes MASTER.
    let br2 = lab.lan("br2");
    lab.attach(&a, "eth9", &br2, &["10.51.0.1/24"]);
    assert!(
        wait_for(T, || lab.has_addr(&a, "eth9", "10.51.0.100").then_some(())).is_some(),
        "once eth9 exists the instance leaves FAULT and takes its VIP: {:?} (logs in {logs})",
        status_json(&lab, "a")
    );
    assert_eq!(
        instance_state(&lab, "a", "VI_GOOD").as_deref(),
        Some("MASTER"),
        "the other instance was not disturbed (logs in {logs})"
    );
}

/// use_vmac on an interface that does not exist yet: FAULT, then, when it appears, the VMAC
/// is made on it and carries the VIP (as keepalived does for a re-created interface).
#[test]
fn use_vmac_on_a_missing_interface_is_made_when_it_appears() {
    let Some((mut lab, a, _b, o)) = lan("vmacmiss") else {
        return;
    };
    let mut i = Inst::new("VI_LATE", "eth9", 67, 150, &["10.51.0.100/24"]).v3("0.2");
    i.extra = "  use_vmac\n".into();
    start_rampart(&mut lab, &a, "a", &conf(&[i], &[]));
    let logs = lab.dir.path().display().to_string();
    assert!(
        wait_for(T, || (instance_state(&lab, "a", "VI_LATE")? == "FAULT")
            .then_some(()))
        .is_some(),
        "FAULT while eth9 is missing (logs in {logs})"
    );
    let br2 = lab.lan("br2");
    lab.attach(&a, "eth9", &br2, &["10.51.0.1/24"]);
    lab.attach(&o, "eth9", &br2, &["10.51.0.9/24"]);
    assert!(
        wait_for(T, || lab
            .has_addr(&a, "vrrp.67", "10.51.0.100")
            .then_some(()))
        .is_some(),
        "the VMAC is made when eth9 appears and carries the VIP: {:?} (logs in {logs})",
        status_json(&lab, "a")
    );
    let got = wait_for(T, || {
        lab.arping(&o, "eth9", "10.51.0.100")
            .filter(|m| m == "00:00:5e:00:01:43")
    });
    assert!(got.is_some(), "ARP answered by the VMAC (logs in {logs})");
}

/// Without a VMAC: the interface is deleted and re-created (new ifindex, new MAC). The
/// instance goes to FAULT, comes back on a new socket, and its gratuitous ARPs carry the new
/// MAC (the sender was opened again), repointing a neighbour that still has the old one.
#[test]
fn recreated_interface_gratuitous_arps_carry_the_new_mac() {
    let Some((mut lab, a, _b, o)) = lan("recrgarp") else {
        return;
    };
    let vip = "10.50.0.100";
    let i = Inst::new("VI_R", "eth0", 68, 150, &["10.50.0.100/24"]).v3("0.2");
    start_rampart(&mut lab, &a, "a", &conf(&[i], &[]));
    let logs = lab.dir.path().display().to_string();
    assert!(
        wait_for(T, || lab.has_addr(&a, "eth0", vip).then_some(())).is_some(),
        "MASTER (logs in {logs})"
    );
    let old_mac = lab.mac(&a, "eth0");
    lab.exec_ok(&a, &["ip", "link", "del", "eth0"]);
    assert!(
        wait_for(T, || (instance_state(&lab, "a", "VI_R")? == "FAULT")
            .then_some(()))
        .is_some(),
        "FAULT while eth0 is gone (logs in {logs})"
    );
    lab.exec_ok(
        &o,
        &[
            "ip", "neigh", "replace", vip, "lladdr", &old_mac, "dev", "eth0", "nud", "stale",
        ],
    );
    let br = format!("{}-br", lab.tag);
    lab.attach(&a, "eth0", &br, &["10.50.0.1/24", "fd50::1/64"]);
    let new_mac = lab.mac(&a, "eth0");
    assert_ne!(old_mac, new_mac, "a re-created veth has a new MAC");
    assert!(
        wait_for(T, || lab.has_addr(&a, "eth0", vip).then_some(())).is_some(),
        "MASTER again with the VIP on the new eth0 (logs in {logs})"
    );
    let moved = wait_for(T, || lab.neigh(&o, vip).filter(|m| *m == new_mac));
    assert!(
        moved.is_some(),
        "the observer's entry follows the gratuitous ARPs from the new MAC: {:?} (logs in {logs})",
        lab.neigh(&o, vip)
    );
}

/// A VMAC deleted by hand while its base interface is up: FAULT, the VMAC is made again at
/// once and the instance comes back to MASTER with its VIP on it (keepalived 2.2.7 does the
/// same: "Interface vrrp.N deleted", "Success creating VMAC interface", BACKUP, MASTER).
#[test]
fn vmac_deleted_by_hand_is_made_again() {
    let Some((mut lab, a, _b, _o)) = lan("vmacdel") else {
        return;
    };
    let mut i = Inst::new("VI_V", "eth0", 69, 150, &["10.50.0.100/24"]).v3("0.2");
    i.extra = "  use_vmac\n".into();
    let (_, log) = start_rampart(&mut lab, &a, "a", &conf(&[i], &[]));
    let logs = lab.dir.path().display().to_string();
    assert!(
        wait_for(T, || lab
            .has_addr(&a, "vrrp.69", "10.50.0.100")
            .then_some(()))
        .is_some(),
        "MASTER with the VIP on vrrp.69 (logs in {logs})"
    );
    let old_index = lab.exec_ok(&a, &["cat", "/sys/class/net/vrrp.69/ifindex"]);
    lab.exec_ok(&a, &["ip", "link", "del", "vrrp.69"]);
    assert!(
        wait_for(T, || {
            let idx = lab.exec(&a, &["cat", "/sys/class/net/vrrp.69/ifindex"]);
            (idx.status.success() && String::from_utf8_lossy(&idx.stdout) != old_index)
                .then_some(())
        })
        .is_some(),
        "the VMAC is made again (logs in {logs})"
    );
    assert!(
        wait_for(T, || lab
            .has_addr(&a, "vrrp.69", "10.50.0.100")
            .then_some(()))
        .is_some(),
        "MASTER again with the VIP on the new vrrp.69 (logs in {logs})"
    );
    assert_eq!(lab.mac(&a, "vrrp.69"), "00:00:5e:00:01:45");
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        text.contains("MASTER -> FAULT") && text.contains("FAULT -> BACKUP"),
        "FAULT while the VMAC was gone (logs in {logs})"
    );
}
