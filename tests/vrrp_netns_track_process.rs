//! `track_process` end to end: two rampart daemons on one LAN (network namespaces on a
//! bridge). Node A tracks two uniquely named dummy processes (copies of `sleep` started by
//! the test; /proc is shared by all network namespaces): one with weight 20 (A is MASTER
//! only while it runs), one with weight 0 (A is in FAULT while it is gone). Stopping and
//! starting them moves mastership; a reload that drops the weight-0 tracker takes A out of
//! FAULT. Every step waits for a condition, never a fixed time.
//!
//! keepalived is no oracle here: its process tracking needs the kernel's process connector,
//! which only works in the initial network namespace (keepalived 2.2.7 in a namespace logs
//! "Failed to set/clear process event listen - errno 111" and then counts no process at
//! all). The core's semantics are tested against keepalived's rules in
//! `vrrp::track_process` and `tests/vrrp_core_track_process.rs`.
//!
//! Run as root: `cargo test --test vrrp_netns_track_process`. Skips when namespaces are
//! unavailable.

#[path = "common/netns.rs"]
mod netns;
#[path = "common/netns_vrrp.rs"]
mod netns_vrrp;

use netns::{Lab, wait_for};
use netns_vrrp::{Inst, conf, start_rampart};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const VIP: &str = "10.21.0.100";
const T: Duration = Duration::from_secs(20);

/// A copy of `sleep` under a unique name, running until stopped (or dropped).
struct Dummy {
    path: PathBuf,
    child: Option<Child>,
}

impl Dummy {
    fn new(dir: &Path, name: &str) -> Dummy {
        let path = dir.join(name);
        let sleep = ["/bin/sleep", "/usr/bin/sleep"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("a sleep binary");
        std::fs::copy(sleep, &path).expect("copy sleep");
        Dummy { path, child: None }
    }
    fn start(&mut self) {
        let child = Command::new(&self.path)
            .arg("1000")
            .stdin(Stdio::null())
            .spawn()
            .expect("start dummy process");
        self.child = Some(child);
    }
    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            // Reaped at once: no zombie left behind (rampart ignores zombies anyway).
            let _ = c.wait();
        }
    }
}

impl Drop for Dummy {
    fn drop(&mut self) {
        self.stop();
    }
}

/// (state, effective priority) of instance `name` from `rampart status --json`.
fn status(lab: &Lab, label: &str, name: &str) -> Option<(String, u64)> {
    let sock = lab.path(&format!("{label}.sock"));
    let out = Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args(["status", "--json", "--socket"])
        .arg(&sock)
        .output()
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    let i = v["instances"]
        .as_array()?
        .iter()
        .find(|i| i["name"] == name)?
        .clone();
    Some((
        i["state"].as_str()?.to_uppercase(),
        i["effective_priority"].as_u64()?,
    ))
}

fn wait_status(lab: &Lab, label: &str, state: &str, prio: Option<u64>, what: &str) {
    let mut last = None;
    let ok = wait_for(T, || {
        let s = status(lab, label, "VI_1");
        last = s.clone();
        let (st, p) = s?;
        (st == state && prio.is_none_or(|want| want == p)).then_some(())
    });
    assert!(
        ok.is_some(),
        "{what}: {label} should be {state} (priority {prio:?}), last seen {last:?} (logs in {})",
        lab.dir.path().display()
    );
}

fn vip_only_on(lab: &Lab, ns: &str, other: &str, what: &str) {
    let ok = wait_for(T, || {
        (lab.has_addr(ns, "eth0", VIP) && !lab.has_addr(other, "eth0", VIP)).then_some(())
    });
    assert!(
        ok.is_some(),
        "{what}: VIP should be on {ns} only (logs in {})",
        lab.dir.path().display()
    );
}

#[test]
fn stopping_and_starting_tracked_processes_moves_mastership() {
    if !netns::available() {
        return;
    }
    let mut lab = Lab::new("tproc");
    let lan = lab.lan("br");
    let a = lab.ns("a");
    let b = lab.ns("b");
    lab.attach(&a, "eth0", &lan, &["10.21.0.1/24"]);
    lab.attach(&b, "eth0", &lan, &["10.21.0.2/24"]);

    // Names unique per test run, short enough for the 15-byte process name (comm).
    let id = std::process::id();
    let weighted = format!("rtpw{id}");
    let vital = format!("rtpv{id}");
    let mut w = Dummy::new(lab.dir.path(), &weighted);
    let mut v = Dummy::new(lab.dir.path(), &vital);
    w.start();
    v.start();

    let mut inst_a = Inst::new("VI_1", "eth0", 21, 90, &["10.21.0.100/24"]);
    // `vital_cmd` matches the same process by its command line (full path and argument).
    inst_a.extra = "  track_process {\n    svc weight 20\n    vital\n    vital_cmd\n  }\n".into();
    let tracks = format!(
        "vrrp_track_process svc {{\n  process {weighted}\n}}\nvrrp_track_process vital {{\n  process {vital}\n}}\nvrrp_track_process vital_cmd {{\n  process \"{}\" 1000\n}}\n",
        v.path.display()
    );
    let conf_a = tracks.clone() + &conf(&[inst_a.clone()], &[]);
    let conf_b = conf(
        &[Inst::new("VI_1", "eth0", 21, 100, &["10.21.0.100/24"])],
        &[],
    );
    let (pid_a, _) = start_rampart(&mut lab, &a, "a", &conf_a);
    start_rampart(&mut lab, &b, "b", &conf_b);

    // Both processes run: A is 90 + 20 = 110 and wins against B's 100.
    wait_status(&lab, "a", "MASTER", Some(110), "both processes running");
    wait_status(&lab, "b", "BACKUP", None, "both processes running");
    vip_only_on(&lab, &a, &b, "both processes running");

    // The weighted one stops: A drops to 90 and B (100) takes over.
    w.stop();
    wait_status(&lab, "b", "MASTER", None, "weighted process stopped");
    wait_status(&lab, "a", "BACKUP", Some(90), "weighted process stopped");
    vip_only_on(&lab, &b, &a, "weighted process stopped");

    // It comes back: A is 110 again and preempts.
    w.start();
    wait_status(&lab, "a", "MASTER", Some(110), "weighted process restarted");
    vip_only_on(&lab, &a, &b, "weighted process restarted");

    // The weight-0 one stops: A goes to FAULT, B takes over.
    v.stop();
    wait_status(&lab, "a", "FAULT", None, "vital process stopped");
    wait_status(&lab, "b", "MASTER", None, "vital process stopped");
    vip_only_on(&lab, &b, &a, "vital process stopped");
    let log = std::fs::read_to_string(lab.path("a.log")).unwrap_or_default();
    assert!(
        log.contains("track_process vital: quorum lost")
            && log.contains("track_process vital_cmd: quorum lost"),
        "rampart logs the lost quorum: {log}"
    );

    // A reload that no longer tracks `vital` (nor `vital_cmd`): A leaves FAULT and, at 110,
    // preempts again.
    inst_a.extra = "  track_process {\n    svc weight 20\n  }\n".into();
    std::fs::write(lab.path("a.conf"), tracks + &conf(&[inst_a], &[])).unwrap();
    lab.signal(pid_a, "HUP");
    wait_status(&lab, "a", "MASTER", Some(110), "reloaded without `vital`");
    vip_only_on(&lab, &a, &b, "reloaded without `vital`");
}
