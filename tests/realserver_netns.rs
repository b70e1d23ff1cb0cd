//! `rampart realserver` against a real kernel, inside network namespaces these tests create
//! (`/proc/sys/net` and addresses are per namespace, so the host is never touched).
//! Needs root and iproute2; each test skips with a message when it cannot create a namespace.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

const RAMPART: &str = env!("CARGO_BIN_EXE_rampart");

/// A network namespace that is deleted when dropped, even when the test panics.
struct Netns {
    name: String,
    dir: tempfile::TempDir,
}

impl Netns {
    fn new() -> Option<Netns> {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "rsrv{}x{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            eprintln!("skipping: cannot create network namespace (needs root and iproute2)");
            return None;
        }
        let ns = Netns {
            name,
            dir: tempfile::tempdir().expect("tempdir"),
        };
        // Every real host has lo up; a fresh namespace does not.
        ns.sh("ip link set lo up");
        Some(ns)
    }
    fn exec(&self, argv: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(argv)
            .output()
            .expect("run ip netns exec")
    }
    fn sh(&self, script: &str) -> String {
        let out = self.exec(&["sh", "-c", script]);
        assert!(
            out.status.success(),
            "`{script}` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
    fn rampart(&self, args: &[&str]) -> Output {
        let mut argv = vec![RAMPART, "realserver"];
        argv.extend_from_slice(args);
        self.exec(&argv)
    }
    fn state(&self) -> PathBuf {
        self.dir.path().join("realserver.json")
    }
    /// Everything setup may touch: links with flags, addresses, the sysctls, in text.
    fn snapshot(&self) -> String {
        self.sh(
            "ip -o link show | sed 's/^[0-9]*: //'; ip -o addr show | sed 's/^[0-9]*: //'; \
             for d in all default lo tunl0; do for k in arp_ignore arp_announce rp_filter; do \
             f=/proc/sys/net/ipv4/conf/$d/$k; [ -e $f ] && echo $d.$k=$(cat $f); done; done; true",
        )
    }
    fn sysctl(&self, key: &str) -> String {
        self.sh(&format!("sysctl -n {key}")).trim().to_string()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

fn ok(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "rampart failed ({:?}): stdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn state_arg(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn dr_setup_configures_and_teardown_restores_exactly() {
    let Some(ns) = Netns::new() else { return };
    let before = ns.snapshot();
    let st = state_arg(&ns.state());
    ok(&ns.rampart(&[
        "setup",
        "--mode",
        "dr",
        "--vip",
        "10.20.0.100",
        "--vip",
        "10.20.0.101",
        "2001:db8::64",
        "--state",
        &st,
    ]));
    let addrs = ns.sh("ip -o addr show dev lo");
    assert!(addrs.contains("inet 10.20.0.100/32"), "{addrs}");
    assert!(addrs.contains("inet 10.20.0.101/32"), "{addrs}");
    assert!(addrs.contains("inet6 2001:db8::64/128"), "{addrs}");
    for dev in ["all", "lo"] {
        assert_eq!(ns.sysctl(&format!("net.ipv4.conf.{dev}.arp_ignore")), "1");
        assert_eq!(ns.sysctl(&format!("net.ipv4.conf.{dev}.arp_announce")), "2");
    }
    let state = std::fs::read_to_string(ns.state()).unwrap();
    assert!(state.contains("\"from\": \"0\""), "{state}");

    let out = ok(&ns.rampart(&["teardown", "--state", &st]));
    assert!(out.contains("ip addr del 10.20.0.100/32 dev lo"), "{out}");
    assert_eq!(
        ns.snapshot(),
        before,
        "teardown did not restore the namespace"
    );
    assert!(!ns.state().exists());
    // A second teardown has nothing to do and says so.
    assert!(ok(&ns.rampart(&["teardown", "--state", &st])).contains("nothing to tear down"));
}

#[test]
fn setup_leaves_what_was_already_there_and_teardown_keeps_it() {
    let Some(ns) = Netns::new() else { return };
    ns.sh("ip addr add 10.20.0.100/32 dev lo; sysctl -qw net.ipv4.conf.all.arp_ignore=2");
    let before = ns.snapshot();
    let st = state_arg(&ns.state());
    ok(&ns.rampart(&[
        "setup",
        "--mode",
        "dr",
        "--vip",
        "10.20.0.100",
        "--vip",
        "10.20.0.101",
        "--state",
        &st,
    ]));
    let state = std::fs::read_to_string(ns.state()).unwrap();
    assert!(!state.contains("\"addr\": \"10.20.0.100\""), "{state}");
    assert!(state.contains("\"addr\": \"10.20.0.101\""), "{state}");
    assert!(!state.contains("net.ipv4.conf.all.arp_ignore"), "{state}");
    assert_eq!(ns.sysctl("net.ipv4.conf.all.arp_ignore"), "2");
    ok(&ns.rampart(&["teardown", "--state", &st]));
    assert_eq!(ns.snapshot(), before);
    assert!(ns.sh("ip -o addr show dev lo").contains("10.20.0.100/32"));
}

#[test]
fn print_shows_commands_and_changes_nothing() {
    let Some(ns) = Netns::new() else { return };
    let before = ns.snapshot();
    let st = state_arg(&ns.state());
    let out = ok(&ns.rampart(&[
        "setup",
        "--mode",
        "dr",
        "--vip",
        "10.20.0.100",
        "--print",
        "--state",
        &st,
    ]));
    assert_eq!(
        out,
        "ip addr add 10.20.0.100/32 dev lo\n\
         sysctl -w net.ipv4.conf.all.arp_ignore=1\n\
         sysctl -w net.ipv4.conf.all.arp_announce=2\n\
         sysctl -w net.ipv4.conf.lo.arp_ignore=1\n\
         sysctl -w net.ipv4.conf.lo.arp_announce=2\n"
    );
    assert_eq!(ns.snapshot(), before);
    assert!(!ns.state().exists());

    ok(&ns.rampart(&[
        "setup",
        "--mode",
        "dr",
        "--vip",
        "10.20.0.100",
        "--state",
        &st,
    ]));
    let during = ns.snapshot();
    let out = ok(&ns.rampart(&["teardown", "--print", "--state", &st]));
    assert!(
        out.starts_with("sysctl -w net.ipv4.conf.lo.arp_announce=0\n"),
        "{out}"
    );
    assert!(
        out.ends_with("ip addr del 10.20.0.100/32 dev lo\n"),
        "{out}"
    );
    assert_eq!(ns.snapshot(), during);
    assert!(ns.state().exists());
}

#[test]
fn teardown_does_not_clobber_a_value_changed_after_setup() {
    let Some(ns) = Netns::new() else { return };
    let st = state_arg(&ns.state());
    ok(&ns.rampart(&[
        "setup",
        "--mode",
        "dr",
        "--vip",
        "10.20.0.100",
        "--state",
        &st,
    ]));
    ns.sh("sysctl -qw net.ipv4.conf.all.arp_announce=1");
    let out = ok(&ns.rampart(&["teardown", "--state", &st]));
    assert!(out.contains("someone changed it"), "{out}");
    assert_eq!(ns.sysctl("net.ipv4.conf.all.arp_announce"), "1");
    assert_eq!(ns.sysctl("net.ipv4.conf.all.arp_ignore"), "0");
}

#[test]
fn second_setup_is_refused_and_bad_arguments_exit_2() {
    let Some(ns) = Netns::new() else { return };
    let st = state_arg(&ns.state());
    ok(&ns.rampart(&[
        "setup",
        "--mode",
        "dr",
        "--vip",
        "10.20.0.100",
        "--state",
        &st,
    ]));
    let again = ns.rampart(&[
        "setup",
        "--mode",
        "dr",
        "--vip",
        "10.20.0.100",
        "--state",
        &st,
    ]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already set up"));

    let bad = ns.rampart(&[
        "setup",
        "--mode",
        "nat",
        "--vip",
        "10.20.0.100",
        "--state",
        &st,
    ]);
    assert_eq!(bad.status.code(), Some(2));
    let bad = ns.rampart(&[
        "setup",
        "--mode",
        "dr",
        "--vip",
        "10.20.0.0/24",
        "--state",
        &st,
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("host address"));
}

#[test]
fn vip_on_a_nic_is_refused() {
    let Some(ns) = Netns::new() else { return };
    ns.sh("ip link add rs0 type veth peer name rs1; ip addr add 10.20.0.100/24 dev rs0");
    let before = ns.snapshot();
    let st = state_arg(&ns.state());
    let out = ns.rampart(&[
        "setup",
        "--mode",
        "dr",
        "--vip",
        "10.20.0.100",
        "--state",
        &st,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already on rs0"));
    assert_eq!(ns.snapshot(), before);
}

/// TUN needs the ipip module. Where the kernel has it (the test VM), the full cycle runs;
/// where it has not (this development machine's kernel), setup must fail cleanly, say why,
/// and leave nothing behind.
#[test]
fn tun_setup_and_teardown_or_a_clean_refusal_without_ipip() {
    let Some(ns) = Netns::new() else { return };
    let before = ns.snapshot();
    let st = state_arg(&ns.state());
    let have_ipip = Path::new("/sys/module/ipip").exists()
        || Command::new("modprobe")
            .args(["-n", "ipip"])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
    let out = ns.rampart(&[
        "setup",
        "--mode",
        "tun",
        "--vip",
        "10.20.0.100",
        "--state",
        &st,
        "--keep-module",
    ]);
    // --keep-module belongs to teardown: clap refuses it here.
    assert_eq!(out.status.code(), Some(2));
    let out = ns.rampart(&[
        "setup",
        "--mode",
        "tun",
        "--vip",
        "10.20.0.100",
        "--state",
        &st,
    ]);
    if !have_ipip {
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("modprobe ipip") && err.contains("no ipip support"),
            "{err}"
        );
        assert_eq!(ns.snapshot(), before);
        assert!(!ns.state().exists());
        return;
    }
    ok(&out);
    assert!(
        ns.sh("ip -o addr show dev tunl0")
            .contains("inet 10.20.0.100/32")
    );
    assert!(ns.sh("ip -o link show dev tunl0").contains(",UP"));
    assert!(["0", "2"].contains(&ns.sysctl("net.ipv4.conf.tunl0.rp_filter").as_str()));
    assert!(["0", "2"].contains(&ns.sysctl("net.ipv4.conf.all.rp_filter").as_str()));
    assert_eq!(ns.sysctl("net.ipv4.conf.all.arp_ignore"), "1");
    // Keep the module: other namespaces of the same test run may use tunl0.
    ok(&ns.rampart(&["teardown", "--state", &st, "--keep-module"]));
    let after = ns.snapshot();
    if before.contains("tunl0") {
        assert_eq!(after, before);
    } else {
        // The module (kept loaded) created tunl0 here; everything else is as before.
        let strip = |s: &str| {
            s.lines()
                .filter(|l| !l.contains("tunl0"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(strip(&after), strip(&before));
        assert!(!ns.sh("ip -o addr show").contains("10.20.0.100"));
    }
}
