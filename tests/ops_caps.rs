//! Capabilities at run time (`--capabilities reduced`, the default): the running daemon's
//! CapEff/CapPrm/CapBnd read from /proc (every thread), a notify script as root (it gets the
//! bounding set: `ip` works) and as `script_user` (no capability at all), a vrrp_script as
//! another user, and a MISC_CHECK run as `nobody` whose process group is killed on timeout
//! (CAP_KILL raised for the call).
//!
//! Run as root: `cargo test --test ops_caps`.

#[path = "common/netns.rs"]
mod netns;
#[path = "common/netns_vrrp.rs"]
mod netns_vrrp;

use netns::{Lab, wait_for};
use netns_vrrp::{Inst, conf, start_rampart};
use rampart::daemon::caps;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const T: Duration = Duration::from_secs(20);
/// NET_BIND_SERVICE, NET_ADMIN, NET_RAW.
const EFFECTIVE: u64 = 0x3400;
/// + CHOWN, DAC_OVERRIDE, KILL, SETGID, SETUID (raised per call).
const PERMITTED: u64 = 0x34e3;

fn script(path: &Path, body: &str) {
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn caps_of(pid: u32) -> Vec<(u64, u64, u64)> {
    let mut out = Vec::new();
    for t in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let st = std::fs::read_to_string(t.unwrap().path().join("status")).unwrap();
        out.push(caps::of_process(&st).expect("Cap fields"));
    }
    out
}

/// Lines `uid=N` and `CapEff:\t...` a script wrote.
fn script_report(path: &Path) -> Option<(u32, u64)> {
    let text = std::fs::read_to_string(path).ok()?;
    let uid = text
        .lines()
        .find_map(|l| l.strip_prefix("uid="))?
        .trim()
        .parse()
        .ok()?;
    let eff = text
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())?;
    Some((uid, eff))
}

fn nobody_uid() -> u32 {
    nix::unistd::User::from_name("nobody")
        .unwrap()
        .expect("user nobody")
        .uid
        .as_raw()
}

#[test]
fn reduced_daemon_and_its_scripts() {
    if !netns::available() {
        return;
    }
    let mut lab = Lab::new("caps");
    // Scripts are read and run by `nobody` too: the lab directory must be traversable.
    std::fs::set_permissions(lab.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = lab.path("out");
    std::fs::create_dir(&out).unwrap();
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o777)).unwrap();
    let report = "echo uid=$(id -u) >\"$1\"; grep '^Cap' /proc/self/status >>\"$1\"";
    // Root notify script: reports, then uses NET_ADMIN as keepalived users' scripts do.
    script(
        &lab.path("root_notify.sh"),
        &format!(
            "set -- {0}/root.txt\n{report}\nip link add rpcaps0 type veth peer name rpcaps1 && echo ip=ok >>\"$1\"",
            out.display()
        ),
    );
    script(
        &lab.path("user_notify.sh"),
        &format!("set -- {0}/user.txt\n{report}", out.display()),
    );
    script(
        &lab.path("chk.sh"),
        &format!("set -- {0}/chk.txt\n{report}\nexit 0", out.display()),
    );

    let br = lab.lan("br");
    let a = lab.ns("a");
    let b = lab.ns("b");
    lab.attach(&a, "eth0", &br, &["10.61.0.1/24"]);
    lab.attach(&b, "eth0", &br, &["10.61.0.2/24"]);

    // a: notify_master as root (no script_user), a vrrp_script as `nobody`.
    let mut ia = Inst::new("VI_A", "eth0", 61, 150, &["10.61.0.100/24"]);
    ia.extra = format!(
        "  notify_master \"{}\"\n  track_script {{\n    chk\n  }}\n",
        lab.path("root_notify.sh").display()
    );
    let conf_a = conf(&[ia], &[]).replacen(
        "vrrp_instance",
        &format!(
            "vrrp_script chk {{\n  script \"{}\"\n  interval 1\n  user nobody\n}}\nvrrp_instance",
            lab.path("chk.sh").display()
        ),
        1,
    );
    // b: global script_user nobody; its notify_master runs as nobody.
    let mut ib = Inst::new("VI_B", "eth0", 62, 150, &["10.61.0.200/24"]);
    ib.extra = format!(
        "  notify_master \"{}\"\n",
        lab.path("user_notify.sh").display()
    );
    let conf_b =
        conf(&[ib], &[]).replacen("router_id lab", "router_id lab\n  script_user nobody", 1);

    let (pid_a, log_a) = start_rampart(&mut lab, &a, "a", &conf_a);
    let (pid_b, log_b) = start_rampart(&mut lab, &b, "b", &conf_b);
    let logs = || {
        format!(
            "--- a:\n{}\n--- b:\n{}",
            std::fs::read_to_string(&log_a).unwrap_or_default(),
            std::fs::read_to_string(&log_b).unwrap_or_default()
        )
    };

    let root = wait_for(T, || script_report(&out.join("root.txt")));
    let root = root.unwrap_or_else(|| panic!("root notify script did not run\n{}", logs()));
    assert_eq!(root.0, 0);
    assert_eq!(root.1, EFFECTIVE, "a root script gets the bounding set");
    let ip_ok = wait_for(T, || {
        std::fs::read_to_string(out.join("root.txt"))
            .ok()
            .filter(|t| t.contains("ip=ok"))
    });
    assert!(
        ip_ok.is_some(),
        "`ip link add` from a root notify script\n{}",
        logs()
    );
    assert!(
        lab.exec(&a, &["ip", "link", "show", "rpcaps0"])
            .status
            .success()
    );

    let user = wait_for(T, || script_report(&out.join("user.txt")))
        .unwrap_or_else(|| panic!("script_user notify script did not run\n{}", logs()));
    assert_eq!(
        user,
        (nobody_uid(), 0),
        "a script_user script holds no capability"
    );
    let chk = wait_for(T, || script_report(&out.join("chk.txt")))
        .unwrap_or_else(|| panic!("vrrp_script as nobody did not run\n{}", logs()));
    assert_eq!(chk, (nobody_uid(), 0));

    for pid in [pid_a, pid_b] {
        for (eff, prm, bnd) in caps_of(pid) {
            assert_eq!(eff, EFFECTIVE, "CapEff of a daemon thread");
            assert_eq!(prm, PERMITTED, "CapPrm of a daemon thread");
            assert_eq!(bnd, EFFECTIVE, "CapBnd of a daemon thread");
        }
    }
    // Still working with the reduced sets: both MASTER with their VIPs.
    assert!(lab.has_addr(&a, "eth0", "10.61.0.100"), "{}", logs());
    assert!(lab.has_addr(&b, "eth0", "10.61.0.200"), "{}", logs());
    // Shutdown releases the VIP (NET_ADMIN still effective at the end).
    lab.signal(pid_a, "TERM");
    assert!(lab.wait_exit(pid_a, T));
    assert!(!lab.has_addr(&a, "eth0", "10.61.0.100"), "{}", logs());
}

#[test]
fn keep_mode_reduces_nothing() {
    if !netns::available() {
        return;
    }
    let mut lab = Lab::new("capkeep");
    let br = lab.lan("br");
    let a = lab.ns("a");
    lab.attach(&a, "eth0", &br, &["10.63.0.2/24"]);
    let conf_path = lab.path("k.conf");
    std::fs::write(
        &conf_path,
        conf(
            &[Inst::new("VI_K", "eth0", 63, 100, &["10.63.0.1/24"])],
            &[],
        ),
    )
    .unwrap();
    let log = lab.path("k.log");
    let sock = lab.path("k.sock");
    let bin = env!("CARGO_BIN_EXE_rampart");
    let pid = lab.spawn(
        "k",
        &a,
        &[
            bin,
            "-n",
            "-P",
            "-f",
            conf_path.to_str().unwrap(),
            "--capabilities",
            "keep",
            "--control-socket",
            sock.to_str().unwrap(),
        ],
        &log,
    );
    let ours = caps::of_process(&std::fs::read_to_string("/proc/self/status").unwrap()).unwrap();
    let theirs = wait_for(T, || sock.exists().then(|| caps_of(pid))).expect("daemon up");
    for t in theirs {
        assert_eq!(t, ours, "--capabilities keep: the sets it was started with");
    }
}

/// MISC_CHECK as `nobody`, longer than misc_timeout: the script and its child are killed
/// (a process group of another uid: CAP_KILL, raised for the call).
#[test]
fn misc_check_timeout_kills_another_users_group() {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("skipping: needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let misc = dir.path().join("slow.sh");
    script(
        &misc,
        &format!(
            "echo $$ > {d}/script.pid\nsleep 60 &\necho $! > {d}/child.pid\nwait",
            d = dir.path().display()
        ),
    );
    let conf_path = dir.path().join("m.conf");
    std::fs::write(
        &conf_path,
        format!(
            "global_defs {{\n  router_id misc\n  script_user nobody\n}}\n\
             virtual_server 127.0.0.1 1 {{\n  protocol TCP\n  delay_loop 30\n  real_server 127.0.0.1 1 {{\n    \
             MISC_CHECK {{\n      misc_path \"{}\"\n      misc_timeout 1\n    }}\n  }}\n}}\n",
            misc.display()
        ),
    )
    .unwrap();
    let sock = dir.path().join("m.sock");
    let log = std::fs::File::create(dir.path().join("m.log")).unwrap();
    let mut daemon = std::process::Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args(["-n", "-C", "--dry-run", "-G", "-f"])
        .arg(&conf_path)
        .arg("--control-socket")
        .arg(&sock)
        .stderr(log)
        .spawn()
        .unwrap();
    let read_pid = |name: &str| -> Option<i32> {
        std::fs::read_to_string(dir.path().join(name))
            .ok()?
            .trim()
            .parse()
            .ok()
    };
    let pids = wait_for(T, || {
        Some((read_pid("script.pid")?, read_pid("child.pid")?))
    });
    let gone = pids.and_then(|(s, c)| {
        assert_eq!(
            std::fs::metadata(format!("/proc/{s}"))
                .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
                .ok(),
            Some(nobody_uid()),
            "the MISC_CHECK runs as nobody"
        );
        wait_for(Duration::from_secs(10), || {
            let alive =
                |p: i32| nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), None).is_ok();
            (!alive(s) && !alive(c)).then_some(())
        })
    });
    let st = std::fs::read_to_string(format!("/proc/{}/status", daemon.id())).unwrap_or_default();
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(daemon.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let _ = daemon.wait();
    let log = std::fs::read_to_string(dir.path().join("m.log")).unwrap_or_default();
    assert!(pids.is_some(), "MISC_CHECK did not start\n{log}");
    assert!(
        gone.is_some(),
        "timed-out MISC_CHECK group still alive\n{log}"
    );
    assert_eq!(caps::of_process(&st).map(|c| c.0), Some(EFFECTIVE), "{log}");
    assert!(log.contains("timed out"), "{log}");
}

/// Started with a bounding set without CAP_SETPCAP (systemd's CapabilityBoundingSet, a
/// container): the daemon cannot narrow the bounding set, starts anyway, and still reduces
/// its permitted and effective sets.
#[test]
fn without_setpcap_the_bounding_set_stays_and_the_rest_is_reduced() {
    if !nix::unistd::Uid::effective().is_root()
        || Command::new("setpriv").arg("--help").output().is_err()
    {
        eprintln!("skipping: needs root and setpriv");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let conf_path = dir.path().join("n.conf");
    std::fs::write(
        &conf_path,
        "global_defs {\n  router_id n\n}\nvirtual_server 127.0.0.1 9 {\n  protocol TCP\n  real_server 127.0.0.1 9 {\n    TCP_CHECK {\n    }\n  }\n}\n",
    )
    .unwrap();
    let sock = dir.path().join("n.sock");
    let log = std::fs::File::create(dir.path().join("n.log")).unwrap();
    // The unit's set without SETPCAP (setpriv keeps the rest).
    let mut daemon = Command::new("setpriv")
        .args([
            "--bounding-set",
            "-all,+net_admin,+net_raw,+net_bind_service,+setuid,+setgid,+kill,+chown,+dac_override",
            env!("CARGO_BIN_EXE_rampart"),
            "-n",
            "-C",
            "--dry-run",
            "-G",
            "-f",
        ])
        .arg(&conf_path)
        .arg("--control-socket")
        .arg(&sock)
        .stderr(log)
        .spawn()
        .unwrap();
    let up = wait_for(T, || sock.exists().then_some(()));
    let st = std::fs::read_to_string(format!("/proc/{}/status", daemon.id())).unwrap_or_default();
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(daemon.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let _ = daemon.wait();
    let log = std::fs::read_to_string(dir.path().join("n.log")).unwrap_or_default();
    assert!(up.is_some(), "{log}");
    let (eff, prm, bnd) = caps::of_process(&st).unwrap();
    assert_eq!(eff, EFFECTIVE, "{log}");
    assert_eq!(prm, PERMITTED, "{log}");
    assert_eq!(bnd, PERMITTED, "the bounding set setpriv gave: {log}");
    assert!(log.contains("no CAP_SETPCAP"), "{log}");
}
