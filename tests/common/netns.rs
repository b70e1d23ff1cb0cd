//! A small network-namespace lab for integration tests.
//!
//! Every namespace name carries the test process id and a counter, veth pairs are created
//! directly between two lab namespaces (never in the host's), and [`Lab`]'s Drop kills the
//! processes it started and deletes its namespaces, also when the test panics.
//!
//! Topology helper: [`Lab::lan`] makes a bridge namespace with a bridge `br0`; [`Lab::attach`]
//! plugs a node namespace into it with a veth named as asked inside the node.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Run a command on the host (only `ip netns` management and such go through here).
fn host(args: &[&str]) -> Output {
    Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"))
}

fn must(args: &[&str]) -> String {
    let o = host(args);
    assert!(
        o.status.success(),
        "{args:?} failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Can this process build namespaces (root with iproute2)? Tests skip with a message if not.
pub fn available() -> bool {
    if !nix_is_root() {
        eprintln!("skipping: needs root for network namespaces");
        return false;
    }
    // Unique per call: tests of one binary probe in parallel, and a shared name made one of
    // them see "File exists" and skip.
    let probe = format!(
        "rpprobe{}x{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    );
    let ok = host(&["ip", "netns", "add", &probe]).status.success();
    if ok {
        host(&["ip", "netns", "del", &probe]);
    } else {
        eprintln!("skipping: `ip netns add` does not work here");
    }
    ok
}

fn nix_is_root() -> bool {
    nix::unistd::Uid::effective().is_root()
}

pub struct Lab {
    pub tag: String,
    namespaces: Vec<String>,
    children: Vec<(String, Child)>,
    pub dir: tempfile::TempDir,
    bridge_ports: u32,
}

/// Namespaces of test processes that were killed (a CI timeout, a ^C: no Drop ran) would
/// stay forever; a lab's name carries its process id, so remove those whose process is gone.
fn reap_orphaned_namespaces() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let me = std::process::id();
        let list = host(&["ip", "netns", "list"]);
        for line in String::from_utf8_lossy(&list.stdout).lines() {
            let Some(ns) = line.split_whitespace().next() else {
                continue;
            };
            let Some(pid) = ns
                .strip_prefix("rp")
                .and_then(|r| r.split_once('x'))
                .and_then(|(p, _)| p.parse::<u32>().ok())
            else {
                continue;
            };
            if pid == me || std::path::Path::new(&format!("/proc/{pid}")).exists() {
                continue;
            }
            let pids = host(&["ip", "netns", "pids", ns]);
            for p in String::from_utf8_lossy(&pids.stdout).split_whitespace() {
                let _ = host(&["kill", "-9", p]);
            }
            let _ = host(&["ip", "netns", "del", ns]);
            eprintln!("removed namespace {ns} left by a killed test process {pid}");
        }
    });
}

impl Lab {
    pub fn new(test: &str) -> Lab {
        reap_orphaned_namespaces();
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let tag = format!("rp{}x{n}{test}", std::process::id());
        Lab {
            tag,
            namespaces: Vec::new(),
            children: Vec::new(),
            dir: tempfile::Builder::new()
                .prefix("rampart-netns-")
                .tempdir()
                .expect("temp dir"),
            bridge_ports: 0,
        }
    }

    /// Create a namespace; returns its full name.
    pub fn ns(&mut self, short: &str) -> String {
        let name = format!("{}-{short}", self.tag);
        must(&["ip", "netns", "add", &name]);
        self.namespaces.push(name.clone());
        self.exec_ok(&name, &["ip", "link", "set", "lo", "up"]);
        // IPv6 addresses usable at once (no DAD wait); no forwarding surprises.
        let _ = self.exec(&name, &["sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0"]);
        let _ = self.exec(
            &name,
            &["sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0"],
        );
        name
    }

    /// A bridge namespace with bridge `br0`: the LAN.
    pub fn lan(&mut self, short: &str) -> String {
        let ns = self.ns(short);
        self.exec_ok(&ns, &["ip", "link", "add", "br0", "type", "bridge"]);
        // No STP/forward delay: ports forward at once.
        self.exec_ok(
            &ns,
            &[
                "ip",
                "link",
                "set",
                "br0",
                "type",
                "bridge",
                "forward_delay",
                "0",
            ],
        );
        self.exec_ok(&ns, &["ip", "link", "set", "br0", "up"]);
        ns
    }

    /// Plug `node` into the LAN namespace `lan` with an interface `ifname` in `node`,
    /// addresses `addrs` (CIDR), and bring it up.
    pub fn attach(&mut self, node: &str, ifname: &str, lan: &str, addrs: &[&str]) {
        self.bridge_ports += 1;
        let port = format!("p{}", self.bridge_ports);
        must(&[
            "ip", "-n", node, "link", "add", ifname, "type", "veth", "peer", "name", &port,
            "netns", lan,
        ]);
        self.exec_ok(lan, &["ip", "link", "set", &port, "master", "br0"]);
        self.exec_ok(lan, &["ip", "link", "set", &port, "up"]);
        for a in addrs {
            self.exec_ok(node, &["ip", "addr", "add", a, "dev", ifname]);
        }
        self.exec_ok(node, &["ip", "link", "set", ifname, "up"]);
    }

    pub fn exec(&self, ns: &str, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", ns])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("ip netns exec {ns} {args:?}: {e}"))
    }

    pub fn exec_ok(&self, ns: &str, args: &[&str]) -> String {
        let o = self.exec(ns, args);
        assert!(
            o.status.success(),
            "in {ns}: {args:?} failed: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Start a long-running process inside `ns`, stdout+stderr to `log`. Returns its pid.
    pub fn spawn(&mut self, label: &str, ns: &str, args: &[&str], log: &Path) -> u32 {
        let f = std::fs::File::create(log).expect("log file");
        let f2 = f.try_clone().expect("log file");
        let child = Command::new("ip")
            .args(["netns", "exec", ns])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(f))
            .stderr(Stdio::from(f2))
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {args:?} in {ns}: {e}"));
        let pid = child.id();
        self.children.push((label.to_string(), child));
        pid
    }

    /// Send a signal to a process started with [`Lab::spawn`].
    pub fn signal(&mut self, pid: u32, sig: &str) {
        let _ = host(&["kill", &format!("-{sig}"), &pid.to_string()]);
    }

    /// Wait for a spawned process to exit (true if it did within `timeout`).
    pub fn wait_exit(&mut self, pid: u32, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            for (_, c) in self.children.iter_mut() {
                if c.id() == pid {
                    if let Ok(Some(_)) = c.try_wait() {
                        return true;
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Does `ns` have `addr` on `ifname`?
    pub fn has_addr(&self, ns: &str, ifname: &str, addr: &str) -> bool {
        let out = self.exec(ns, &["ip", "-o", "addr", "show", "dev", ifname]);
        let text = String::from_utf8_lossy(&out.stdout);
        text.split_whitespace()
            .any(|w| w == addr || w.split('/').next() == Some(addr))
    }

    /// Ask from `ns` (interface `ifname`) who has `ip`; returns the answering MAC, if any.
    /// (Thomas Habets' arping: `-r` prints only the MAC, `-C 1` stops at the first reply.)
    pub fn arping(&self, ns: &str, ifname: &str, ip: &str) -> Option<String> {
        let out = self.exec(
            ns,
            &[
                "arping", "-r", "-C", "1", "-c", "3", "-W", "0.1", "-i", ifname, ip,
            ],
        );
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines()
            .map(str::trim)
            .find(|l| l.len() == 17 && l.matches(':').count() == 5)
            .map(|m| m.to_ascii_lowercase())
    }

    /// The MAC of `ifname` in `ns`.
    pub fn mac(&self, ns: &str, ifname: &str) -> String {
        self.exec_ok(ns, &["cat", &format!("/sys/class/net/{ifname}/address")])
            .trim()
            .to_ascii_lowercase()
    }

    /// The neighbour entry `ns` has for `ip` (lladdr), if any.
    pub fn neigh(&self, ns: &str, ip: &str) -> Option<String> {
        let out = self.exec(ns, &["ip", "neigh", "show", ip]);
        let text = String::from_utf8_lossy(&out.stdout);
        let mut words = text.split_whitespace();
        while let Some(w) = words.next() {
            if w == "lladdr" {
                return words.next().map(|m| m.to_ascii_lowercase());
            }
        }
        None
    }
}

impl Lab {
    /// Start `tcpdump -e -n -l` (link-level headers, line-buffered) on `ifname` in `ns`
    /// with `filter`, and wait until it listens. Returns the path of its output.
    pub fn tcpdump(&mut self, ns: &str, ifname: &str, filter: &str, label: &str) -> PathBuf {
        let out = self.path(&format!("{label}.pcap.txt"));
        self.spawn(
            label,
            ns,
            &["tcpdump", "-e", "-n", "-l", "-i", ifname, filter],
            &out,
        );
        let ready = wait_for(Duration::from_secs(10), || {
            std::fs::read_to_string(&out)
                .ok()
                .filter(|t| t.contains("listening on"))
                .map(|_| ())
        });
        assert!(
            ready.is_some(),
            "tcpdump should start in {ns} ({})",
            out.display()
        );
        out
    }

    /// `rampart status --json` of the daemon whose control socket is `LABEL.sock` in the lab
    /// directory (as the VRRP helpers start it): the state of instance `name`, upper case.
    pub fn rampart_state(&self, label: &str, name: &str) -> Option<String> {
        let sock = self.path(&format!("{label}.sock"));
        let out = Command::new(env!("CARGO_BIN_EXE_rampart"))
            .args(["status", "--json", "--socket"])
            .arg(&sock)
            .output()
            .ok()?;
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        v["instances"]
            .as_array()?
            .iter()
            .find(|i| i["name"] == name)
            .map(|i| i["state"].to_string().trim_matches('"').to_uppercase())
    }
}

/// The lines of a text file (empty if it cannot be read yet).
pub fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

/// Poll `f` every 50 ms until it returns Some or `timeout` passes.
pub fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for (_, c) in self.children.iter_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in self.namespaces.iter().rev() {
            // Whatever still runs inside (keepalived's children, scripts) goes too.
            let pids = host(&["ip", "netns", "pids", ns]);
            for pid in String::from_utf8_lossy(&pids.stdout).split_whitespace() {
                let _ = host(&["kill", "-9", pid]);
            }
            let _ = host(&["ip", "netns", "del", ns]);
        }
        if std::thread::panicking() {
            // Keep the logs of a failed test for a human.
            let p = self.dir.path().to_path_buf();
            let kept = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("temp dir"));
            let _ = kept.keep();
            eprintln!("lab logs kept in {}", p.display());
        }
    }
}
