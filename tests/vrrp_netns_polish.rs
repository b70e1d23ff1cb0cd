//! Behaviours matched to Debian's keepalived 2.2.7, each checked by running keepalived and
//! rampart side by side (same configuration text, each on its own LANs) and asserting the
//! same thing of both:
//! - a sync group's notify_fifo line comes after all of its members' lines of the same step
//!   (its first BACKUP before them);
//! - MASTER → FAULT through the instance's own tracking sends priority 0 twice; stop once;
//! - `-V/--dont-release-vrrp`: VIPs, VMAC and virtual routes stay after SIGTERM, and no
//!   priority-0 advert is sent;
//! - a reload that turns `use_vmac` on or off moves the VIPs to (from) the VMAC.
//!
//! Run as root: `cargo test --test vrrp_netns_polish`. Skips without namespaces or keepalived.

#[path = "common/netns.rs"]
mod netns;

use netns::{Lab, lines, wait_for};
use std::path::PathBuf;
use std::time::Duration;

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

#[derive(Clone, Copy, PartialEq, Debug)]
enum Who {
    Keepalived,
    Rampart,
}

const BOTH: [Who; 2] = [Who::Keepalived, Who::Rampart];

/// One daemon's world: its namespace `node` with eth0 (10.51.0.1/24) and eth1
/// (10.52.0.1/24), each on its own LAN namespace (bridge `br0`, where tcpdump listens).
struct Side {
    who: Who,
    label: String,
    node: String,
    lans: [String; 2],
    conf: PathBuf,
    fifo_out: PathBuf,
    pid: u32,
}

fn side(lab: &mut Lab, who: Who) -> Side {
    let short = match who {
        Who::Keepalived => "k",
        Who::Rampart => "r",
    };
    let node = lab.ns(short);
    let lan0 = lab.lan(&format!("{short}l0"));
    let lan1 = lab.lan(&format!("{short}l1"));
    lab.attach(&node, "eth0", &lan0, &["10.51.0.1/24"]);
    lab.attach(&node, "eth1", &lan1, &["10.52.0.1/24"]);
    let label = format!("{short}d");
    Side {
        who,
        conf: lab.path(&format!("{label}.conf")),
        fifo_out: lab.path(&format!("{label}.fifo.txt")),
        label,
        node,
        lans: [lan0, lan1],
        pid: 0,
    }
}

/// `body` goes after a `global_defs` with this side's notify_fifo; DIR in it becomes the
/// lab directory.
fn write_conf(lab: &Lab, s: &Side, body: &str) {
    let fifo = lab.path(&format!("{}.fifo", s.label));
    let text = format!(
        "global_defs {{\n  router_id lab\n  notify_fifo {}\n  vrrp_garp_master_repeat 1\n  vrrp_garp_master_delay 0\n}}\n{}",
        fifo.display(),
        body.replace("DIR", &lab.dir.path().display().to_string())
    );
    std::fs::write(&s.conf, text).expect("write conf");
}

/// Make the fifo and a reader copying it to `fifo_out`, then start the daemon.
fn start(lab: &mut Lab, s: &mut Side, extra: &[&str]) {
    let fifo = lab.path(&format!("{}.fifo", s.label));
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo {}", fifo.display());
    let reader = format!("exec cat {} > {}", fifo.display(), s.fifo_out.display());
    let rlog = lab.path(&format!("{}.reader.log", s.label));
    lab.spawn(
        &format!("{}-fifo", s.label),
        &s.node,
        &["sh", "-c", &reader],
        &rlog,
    );
    let log = lab.path(&format!("{}.log", s.label));
    let conf = s.conf.display().to_string();
    let pid_file = lab.path(&format!("{}.pid", s.label)).display().to_string();
    let mut args: Vec<String> = match s.who {
        Who::Keepalived => {
            let vpid = lab
                .path(&format!("{}.vrrp.pid", s.label))
                .display()
                .to_string();
            [
                "keepalived",
                "-P",
                "-n",
                "-l",
                "-D",
                "-i",
                &s.label,
                "-f",
                &conf,
                "-p",
                &pid_file,
                "-r",
                &vpid,
            ]
            .map(String::from)
            .to_vec()
        }
        Who::Rampart => {
            let sock = lab.path(&format!("{}.sock", s.label)).display().to_string();
            [
                "env",
                "RAMPART_LOG=info,vrrp=debug",
                env!("CARGO_BIN_EXE_rampart"),
                "-f",
                &conf,
                "-P",
                "-n",
                "-l",
                "-p",
                &pid_file,
                "--control-socket",
                &sock,
            ]
            .map(String::from)
            .to_vec()
        }
    };
    args.extend(extra.iter().map(|a| a.to_string()));
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    s.pid = lab.spawn(&s.label, &s.node, &argv, &log);
}

/// notify_fifo lines as (INSTANCE|GROUP, name, state).
fn fifo_events(s: &Side) -> Vec<(String, String, String)> {
    lines(&s.fifo_out)
        .iter()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            (w.len() >= 3).then(|| {
                (
                    w[0].to_string(),
                    w[1].trim_matches('"').to_string(),
                    w[2].to_string(),
                )
            })
        })
        .collect()
}

fn has_line(s: &Side, kind: &str, name: &str, state: &str) -> bool {
    fifo_events(s)
        .iter()
        .any(|(k, n, st)| k == kind && n == name && st == state)
}

/// Count the lines of a tcpdump text output with "prio N".
fn prio_count(path: &std::path::Path, prio: u8) -> usize {
    let want = format!("prio {prio},");
    lines(path).iter().filter(|l| l.contains(&want)).count()
}

const SYNC_GROUP: &str = r#"
vrrp_sync_group G {
  group {
    VI_A
    VI_B
  }
}
vrrp_instance VI_A {
  state BACKUP
  interface eth0
  virtual_router_id 51
  priority 100
  advert_int 1
  virtual_ipaddress {
    10.51.0.100/24
  }
}
vrrp_instance VI_B {
  state BACKUP
  interface eth1
  virtual_router_id 52
  priority 100
  advert_int 1
  virtual_ipaddress {
    10.52.0.100/24
  }
}
"#;

/// The order keepalived writes: a group starting in BACKUP says so first; every other
/// group line directly follows both members' lines for the same state (keepalived starting
/// with a link not yet up goes INIT -> FAULT that way too).
fn check_group_order(s: &Side) {
    let ev = fifo_events(s);
    let who = s.who;
    let mut groups: Vec<&str> = ev
        .iter()
        .filter(|e| e.0 == "GROUP")
        .map(|e| e.2.as_str())
        .collect();
    if groups.first() == Some(&"FAULT") {
        groups.remove(0);
    }
    assert_eq!(
        groups,
        ["BACKUP", "MASTER", "FAULT", "BACKUP", "MASTER", "STOP"],
        "{who:?}: group states: {ev:?}"
    );
    for (i, e) in ev.iter().enumerate() {
        if e.0 != "GROUP" {
            continue;
        }
        if i == 0 {
            assert_eq!(e.2, "BACKUP", "{who:?}: only BACKUP comes first: {ev:?}");
            continue;
        }
        assert!(i >= 2, "{who:?}: group line {i} too early: {ev:?}");
        let mut before: Vec<&str> = ev[i - 2..i]
            .iter()
            .filter(|p| p.0 == "INSTANCE" && p.2 == e.2)
            .map(|p| p.1.as_str())
            .collect();
        before.sort();
        assert_eq!(
            before,
            ["VI_A", "VI_B"],
            "{who:?}: GROUP {} should follow both members' {} lines: {ev:?}",
            e.2,
            e.2
        );
    }
}

#[test]
fn sync_group_lines_follow_all_members_as_keepalived() {
    if !netns::available() || !keepalived_available() {
        return;
    }
    let mut lab = Lab::new("pgrp");
    let mut sides: Vec<Side> = BOTH.iter().map(|w| side(&mut lab, *w)).collect();
    for s in &mut sides {
        write_conf(&lab, s, SYNC_GROUP);
        start(&mut lab, s, &[]);
    }
    let logs = lab.dir.path().display().to_string();
    for s in &sides {
        assert!(
            wait_for(T, || has_line(s, "GROUP", "G", "MASTER").then_some(())).is_some(),
            "{:?}: group MASTER expected (logs in {logs})",
            s.who
        );
    }
    // eth1 fails: VI_B FAULT, VI_A FAULT through the group, then the group.
    for s in &sides {
        lab.exec_ok(&s.node, &["ip", "link", "set", "eth1", "down"]);
    }
    for s in &sides {
        assert!(
            wait_for(T, || has_line(s, "GROUP", "G", "FAULT").then_some(())).is_some(),
            "{:?}: group FAULT expected (logs in {logs})",
            s.who
        );
    }
    std::thread::sleep(Duration::from_millis(500));
    for s in &sides {
        lab.exec_ok(&s.node, &["ip", "link", "set", "eth1", "up"]);
    }
    for s in &sides {
        let masters = || {
            fifo_events(s)
                .iter()
                .filter(|e| e.0 == "GROUP" && e.2 == "MASTER")
                .count()
        };
        assert!(
            wait_for(T, || (masters() == 2).then_some(())).is_some(),
            "{:?}: group MASTER again expected (logs in {logs})",
            s.who
        );
    }
    std::thread::sleep(Duration::from_millis(500));
    for s in &sides {
        lab.signal(s.pid, "TERM");
    }
    for s in &sides {
        assert!(lab.wait_exit(s.pid, T), "{:?} should stop", s.who);
        assert!(
            wait_for(Duration::from_secs(5), || has_line(s, "GROUP", "G", "STOP")
                .then_some(()))
            .is_some(),
            "{:?}: group STOP expected (logs in {logs})",
            s.who
        );
        check_group_order(s);
    }
}

#[test]
fn priority_zero_twice_on_own_fault_once_at_stop_as_keepalived() {
    if !netns::available() || !keepalived_available() {
        return;
    }
    let mut lab = Lab::new("pzero");
    let mut sides: Vec<Side> = BOTH.iter().map(|w| side(&mut lab, *w)).collect();
    let mut dumps = Vec::new();
    for s in &mut sides {
        let tf = lab.path(&format!("{}.track", s.label));
        std::fs::write(&tf, "0\n").expect("track file");
        let body = format!(
            r#"
vrrp_track_file TF {{
  file {}
  weight 0
}}
vrrp_instance VI_A {{
  state BACKUP
  interface eth0
  virtual_router_id 51
  priority 100
  advert_int 1
  track_file {{
    TF
  }}
  virtual_ipaddress {{
    10.51.0.100/24
  }}
}}
"#,
            tf.display()
        );
        write_conf(&lab, s, &body);
        let lan0 = s.lans[0].clone();
        dumps.push(lab.tcpdump(&lan0, "br0", "ip proto 112", &format!("{}-dump", s.label)));
        start(&mut lab, s, &[]);
    }
    let logs = lab.dir.path().display().to_string();
    let masters = |s: &Side, n: usize| {
        wait_for(T, || {
            (fifo_events(s)
                .iter()
                .filter(|e| e.1 == "VI_A" && e.2 == "MASTER")
                .count()
                == n)
                .then_some(())
        })
        .is_some()
    };
    for s in &sides {
        assert!(
            masters(s, 1),
            "{:?}: MASTER expected (logs in {logs})",
            s.who
        );
    }
    // The tracked file fails: MASTER -> FAULT.
    for s in &sides {
        std::fs::write(lab.path(&format!("{}.track", s.label)), "1\n").expect("track file");
    }
    for s in &sides {
        assert!(
            wait_for(T, || has_line(s, "INSTANCE", "VI_A", "FAULT").then_some(())).is_some(),
            "{:?}: FAULT expected (logs in {logs})",
            s.who
        );
    }
    std::thread::sleep(Duration::from_millis(500));
    let at_fault: Vec<usize> = dumps.iter().map(|d| prio_count(d, 0)).collect();
    assert_eq!(
        at_fault,
        [2, 2],
        "priority-0 adverts at MASTER -> FAULT (keepalived, rampart); captures in {logs}"
    );
    // Back to MASTER, then SIGTERM: once.
    for s in &sides {
        std::fs::write(lab.path(&format!("{}.track", s.label)), "0\n").expect("track file");
    }
    for s in &sides {
        assert!(
            masters(s, 2),
            "{:?}: MASTER again expected (logs in {logs})",
            s.who
        );
    }
    for s in &sides {
        lab.signal(s.pid, "TERM");
    }
    for s in &sides {
        assert!(lab.wait_exit(s.pid, T), "{:?} should stop", s.who);
    }
    std::thread::sleep(Duration::from_millis(500));
    let at_stop: Vec<usize> = dumps.iter().map(|d| prio_count(d, 0) - 2).collect();
    assert_eq!(
        at_stop,
        [1, 1],
        "priority-0 adverts at stop (keepalived, rampart); captures in {logs}"
    );
}

#[test]
fn dont_release_vrrp_leaves_vips_vmac_and_routes_as_keepalived() {
    if !netns::available() || !keepalived_available() {
        return;
    }
    let mut lab = Lab::new("pkeep");
    let mut sides: Vec<Side> = BOTH.iter().map(|w| side(&mut lab, *w)).collect();
    let body = r#"
vrrp_instance VI_A {
  state BACKUP
  interface eth0
  virtual_router_id 51
  priority 100
  advert_int 1
  use_vmac
  virtual_ipaddress {
    10.51.0.100/24
  }
}
vrrp_instance VI_B {
  state BACKUP
  interface eth1
  virtual_router_id 52
  priority 100
  advert_int 1
  virtual_ipaddress {
    10.52.0.100/24
  }
  virtual_routes {
    10.99.0.0/16 via 10.52.0.9 dev eth1
  }
}
"#;
    let mut dumps = Vec::new();
    for s in &mut sides {
        write_conf(&lab, s, body);
        let lan0 = s.lans[0].clone();
        dumps.push(lab.tcpdump(&lan0, "br0", "ip proto 112", &format!("{}-dump", s.label)));
        start(&mut lab, s, &["-V"]);
    }
    let logs = lab.dir.path().display().to_string();
    for s in &sides {
        let both = || {
            (has_line(s, "INSTANCE", "VI_A", "MASTER") && has_line(s, "INSTANCE", "VI_B", "MASTER"))
                .then_some(())
        };
        assert!(
            wait_for(T, both).is_some(),
            "{:?}: both MASTER expected (logs in {logs})",
            s.who
        );
    }
    std::thread::sleep(Duration::from_millis(300));
    for s in &sides {
        lab.signal(s.pid, "TERM");
    }
    for s in &sides {
        assert!(lab.wait_exit(s.pid, T), "{:?} should stop", s.who);
    }
    std::thread::sleep(Duration::from_millis(300));
    for (s, dump) in sides.iter().zip(&dumps) {
        let who = s.who;
        assert!(
            lab.has_addr(&s.node, "vrrp.51", "10.51.0.100"),
            "{who:?}: the VMAC and its VIP stay with -V (logs in {logs})"
        );
        assert!(
            lab.has_addr(&s.node, "eth1", "10.52.0.100"),
            "{who:?}: the VIP stays with -V (logs in {logs})"
        );
        let routes = lab.exec_ok(&s.node, &["ip", "route", "show", "10.99.0.0/16"]);
        assert!(
            routes.contains("via 10.52.0.9"),
            "{who:?}: the virtual route stays with -V: {routes:?}"
        );
        assert_eq!(
            prio_count(dump, 0),
            0,
            "{who:?}: no priority-0 advert with -V (captures in {logs})"
        );
        assert!(
            has_line(s, "INSTANCE", "VI_A", "STOP"),
            "{who:?}: the STOP line is still written (logs in {logs})"
        );
    }
}

#[test]
fn reload_turning_use_vmac_on_and_off_moves_the_vips_as_keepalived() {
    if !netns::available() || !keepalived_available() {
        return;
    }
    let mut lab = Lab::new("pvmac");
    let mut sides: Vec<Side> = BOTH.iter().map(|w| side(&mut lab, *w)).collect();
    let body = |vmac: bool| {
        format!(
            r#"
vrrp_instance VI_A {{
  state BACKUP
  interface eth0
  virtual_router_id 51
  priority 100
  advert_int 1
  {}
  virtual_ipaddress {{
    10.51.0.100/24
  }}
}}
"#,
            if vmac { "use_vmac" } else { "" }
        )
    };
    for s in &mut sides {
        write_conf(&lab, s, &body(false));
        start(&mut lab, s, &[]);
    }
    let logs = lab.dir.path().display().to_string();
    let on = |lab: &Lab, s: &Side, dev: &str| {
        wait_for(T, || {
            (lab.has_addr(&s.node, dev, "10.51.0.100")).then_some(())
        })
        .is_some()
    };
    for s in &sides {
        assert!(
            on(&lab, s, "eth0"),
            "{:?}: VIP on eth0 (logs in {logs})",
            s.who
        );
    }
    for s in &sides {
        write_conf(&lab, s, &body(true));
        lab.signal(s.pid, "HUP");
    }
    for s in &sides {
        assert!(
            on(&lab, s, "vrrp.51"),
            "{:?}: use_vmac turned on: the VIP goes to the VMAC (logs in {logs})",
            s.who
        );
        assert!(
            !lab.has_addr(&s.node, "eth0", "10.51.0.100"),
            "{:?}: and leaves eth0",
            s.who
        );
    }
    for s in &sides {
        write_conf(&lab, s, &body(false));
        lab.signal(s.pid, "HUP");
    }
    for s in &sides {
        assert!(
            on(&lab, s, "eth0"),
            "{:?}: use_vmac turned off: the VIP comes back to eth0 (logs in {logs})",
            s.who
        );
        let gone = wait_for(Duration::from_secs(5), || {
            let o = lab.exec(&s.node, &["ip", "link", "show", "vrrp.51"]);
            (!o.status.success()).then_some(())
        });
        assert!(
            gone.is_some(),
            "{:?}: the VMAC goes (logs in {logs})",
            s.who
        );
    }
}

#[test]
fn ipv6_vmac_mldv2_reports_leave_from_the_base_mac_as_keepalived() {
    if !netns::available() || !keepalived_available() {
        return;
    }
    let mut lab = Lab::new("pmld");
    let mut sides: Vec<Side> = BOTH.iter().map(|w| side(&mut lab, *w)).collect();
    let body = r#"
vrrp_instance VI_6 {
  state BACKUP
  interface eth0
  virtual_router_id 61
  priority 100
  advert_int 1
  use_vmac
  virtual_ipaddress {
    fd51::100/64
  }
}
"#;
    let mut dumps = Vec::new();
    for s in &mut sides {
        write_conf(&lab, s, body);
        // On the node: what leaves eth0, the VMAC's frames included.
        let node = s.node.clone();
        dumps.push(lab.tcpdump(&node, "eth0", "ip6", &format!("{}-mld", s.label)));
        start(&mut lab, s, &[]);
    }
    let logs = lab.dir.path().display().to_string();
    for s in &sides {
        assert!(
            wait_for(T, || has_line(s, "INSTANCE", "VI_6", "MASTER")
                .then_some(()))
            .is_some(),
            "{:?}: MASTER expected (logs in {logs})",
            s.who
        );
    }
    // A few adverts from the VMAC into the captures.
    std::thread::sleep(Duration::from_millis(2500));
    for (s, dump) in sides.iter().zip(&dumps) {
        let all = lines(dump);
        let reports = |from_vmac: bool| {
            all.iter()
                .filter(|l| l.contains("listener report v2"))
                .filter(|l| l.contains("00:00:5e:00:02:3d >") == from_vmac)
                .count()
        };
        // The capture does see the VMAC's frames: the adverts leave from it.
        assert!(
            all.iter()
                .any(|l| l.contains("00:00:5e:00:02:3d >") && l.contains("VRRP")),
            "{:?}: adverts from the virtual MAC expected (capture {})",
            s.who,
            dump.display()
        );
        assert_eq!(
            reports(true),
            0,
            "{:?}: no MLDv2 report with the virtual MAC (capture {})",
            s.who,
            dump.display()
        );
        assert!(
            reports(false) > 0,
            "{:?}: MLDv2 reports leave with the base MAC (capture {})",
            s.who,
            dump.display()
        );
    }
}

#[test]
fn a_vip_left_by_an_earlier_run_goes_when_starting_in_backup_as_keepalived() {
    if !netns::available() || !keepalived_available() {
        return;
    }
    let mut lab = Lab::new("pstale");
    let mut sides: Vec<Side> = BOTH.iter().map(|w| side(&mut lab, *w)).collect();
    // advert_int 5: MASTER only after ~15.6 s, a wide window to see BACKUP without the VIP.
    let body = r#"
vrrp_instance VI_S {
  state BACKUP
  interface eth0
  virtual_router_id 53
  priority 100
  advert_int 5
  virtual_ipaddress {
    10.51.0.100/24
    10.51.0.101/24 dev eth1
  }
}
"#;
    for s in &mut sides {
        write_conf(&lab, s, body);
        // What a SIGKILLed run leaves behind.
        lab.exec_ok(
            &s.node,
            &["ip", "addr", "add", "10.51.0.100/24", "dev", "eth0"],
        );
        lab.exec_ok(
            &s.node,
            &["ip", "addr", "add", "10.51.0.101/24", "dev", "eth1"],
        );
        start(&mut lab, s, &[]);
    }
    let logs = lab.dir.path().display().to_string();
    for s in &sides {
        let who = s.who;
        let gone = || {
            (has_line(s, "INSTANCE", "VI_S", "BACKUP")
                && !lab.has_addr(&s.node, "eth0", "10.51.0.100")
                && !lab.has_addr(&s.node, "eth1", "10.51.0.101"))
            .then_some(())
        };
        assert!(
            wait_for(T, gone).is_some(),
            "{who:?}: the VIPs should go on entering BACKUP (logs in {logs})"
        );
        assert!(
            !has_line(s, "INSTANCE", "VI_S", "MASTER"),
            "{who:?}: the check ran too late, the instance is MASTER already (logs in {logs})"
        );
    }
    for s in &sides {
        lab.signal(s.pid, "TERM");
    }
    for s in &sides {
        assert!(lab.wait_exit(s.pid, T), "{:?} should stop", s.who);
    }
}
