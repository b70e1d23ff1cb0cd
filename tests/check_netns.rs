//! `rampart --dry-run -C` inside a network namespace this test creates (nothing leaves it):
//! ha_suspend follows the virtual server's address as it is added and removed, `rampart
//! status` shows the real servers' effective weights, and `lvs_flush_on_stop` flushes the
//! table at shutdown. Skipped (with a message) when network namespaces are unavailable.

mod check_support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A network namespace deleted on drop (even when the test fails).
struct Netns(String);

impl Netns {
    fn new(tag: &str) -> Option<Netns> {
        let name = format!("rp-{tag}-{}", std::process::id());
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            return None;
        }
        let ns = Netns(name);
        ns.ip(&["link", "set", "lo", "up"]);
        Some(ns)
    }

    fn ip(&self, args: &[&str]) {
        let st = Command::new("ip")
            .args(["-n", &self.0])
            .args(args)
            .status()
            .expect("ip");
        assert!(st.success(), "ip -n {} {args:?}", self.0);
    }

    fn exec(&self, prog: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.0, prog]);
        c
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The daemon's JSON log lines as (arrival, target, message).
struct Log {
    rx: mpsc::Receiver<(Instant, String, String)>,
    seen: Vec<(Instant, String, String)>,
}

impl Log {
    fn new(child: &mut Child) -> Log {
        let err = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(err).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&l) {
                    let t = v["target"].as_str().unwrap_or("").to_string();
                    let m = v["fields"]["message"].as_str().unwrap_or("").to_string();
                    let _ = tx.send((Instant::now(), t, m));
                }
            }
        });
        Log {
            rx,
            seen: Vec::new(),
        }
    }

    /// Collect lines until `until`.
    fn drain_until(&mut self, until: Instant) {
        while let Ok(x) = self
            .rx
            .recv_timeout(until.saturating_duration_since(Instant::now()))
        {
            self.seen.push(x);
        }
    }

    /// Wait for a line (after `from`) whose message contains every needle.
    fn wait(&mut self, from: Instant, needles: &[&str], within: Duration) -> Instant {
        let hit = |(at, _, m): &(Instant, String, String)| {
            *at >= from && needles.iter().all(|n| m.contains(n))
        };
        if let Some(x) = self.seen.iter().find(|x| hit(x)) {
            return x.0;
        }
        let deadline = Instant::now() + within;
        loop {
            match self
                .rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(x) => {
                    let h = hit(&x);
                    let at = x.0;
                    self.seen.push(x);
                    if h {
                        return at;
                    }
                }
                Err(_) => panic!(
                    "no line with {needles:?} within {within:?}:\n{}",
                    self.dump()
                ),
            }
        }
    }

    fn count(&self, from: Instant, to: Instant, needles: &[&str]) -> usize {
        self.seen
            .iter()
            .filter(|(at, _, m)| *at >= from && *at < to && needles.iter().all(|n| m.contains(n)))
            .count()
    }

    fn dump(&self) -> String {
        self.seen
            .iter()
            .map(|(_, t, m)| format!("{t}: {m}\n"))
            .collect()
    }
}

#[test]
fn ha_suspend_follows_the_vip_status_shows_weights_and_flush_on_stop() {
    let Some(ns) = Netns::new("hasusp") else {
        eprintln!("skipped: cannot create a network namespace");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // A TCP backend inside the namespace.
    let mut backend = ns.exec("python3");
    backend
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/check_backend.py"
        ))
        .arg("ok")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut backend = Killed(backend.spawn().expect("python3"));
    let mut line = String::new();
    BufReader::new(backend.0.stdout.take().unwrap())
        .read_line(&mut line)
        .expect("READY line");
    let port: u16 = line
        .strip_prefix("READY ")
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("backend said {line:?}"));

    let conf = dir.path().join("keepalived.conf");
    std::fs::write(
        &conf,
        format!(
            r#"
global_defs {{
    lvs_flush_on_stop
}}
virtual_server 10.99.0.1 80 {{
    protocol TCP
    delay_loop 0.4
    ha_suspend
    real_server 127.0.0.1 {port} {{
        weight 3
        TCP_CHECK {{ connect_timeout 1 }}
    }}
}}
virtual_server 10.99.0.2 80 {{
    protocol TCP
    delay_loop 0.4
    inhibit_on_failure
    real_server 127.0.0.1 {dead} {{
        weight 5
        TCP_CHECK {{
            connect_timeout 1
            retry 0
        }}
    }}
}}
virtual_server 10.99.0.3 80 {{
    protocol TCP
    delay_loop 0.4
    real_server 127.0.0.1 {dead} {{
        weight 7
        TCP_CHECK {{
            connect_timeout 1
            retry 0
        }}
    }}
}}
"#,
            dead = check_support::closed_port(),
        ),
    )
    .unwrap();
    let sock = dir.path().join("rampart.sock");
    let mut daemon = ns.exec(env!("CARGO_BIN_EXE_rampart"));
    daemon
        .args(["-n", "--dry-run", "-C", "--log-format", "json", "-f"])
        .arg(&conf)
        .arg("--control-socket")
        .arg(&sock)
        .env("RAMPART_LOG", "info,check=debug")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut daemon = Killed(daemon.spawn().expect("rampart"));
    let mut log = Log::new(&mut daemon.0);
    let target = format!("target=127.0.0.1:{port}");
    let w = Duration::from_secs(10);

    // No VIP: the ha_suspend virtual server's check never runs, the others do (and the
    // dead server goes DOWN).
    let t0 = Instant::now();
    log.wait(t0, &["check-result", "up=false"], w);
    log.wait(t0, &["op=del-dest", "service=tcp:[10.99.0.3]:80"], w);
    log.drain_until(Instant::now() + Duration::from_millis(1500));
    assert_eq!(
        log.count(t0, Instant::now(), &["check-result", &target]),
        0,
        "suspended check ran:\n{}",
        log.dump()
    );

    // `rampart status`: effective weights from the checker (inhibited server at 0).
    let status = Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args(["status", "--json", "--socket"])
        .arg(&sock)
        .output()
        .expect("rampart status");
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap_or_else(|e| {
        panic!(
            "status: {e}: {}{}",
            String::from_utf8_lossy(&status.stdout),
            String::from_utf8_lossy(&status.stderr)
        )
    });
    let vss = v["status"]["virtual_servers"]
        .as_array()
        .or_else(|| v["virtual_servers"].as_array())
        .unwrap_or_else(|| panic!("{v}"))
        .clone();
    let weights: Vec<(serde_json::Value, serde_json::Value)> = vss
        .iter()
        .flat_map(|vs| vs["real_servers"].as_array().cloned().unwrap_or_default())
        .map(|rs| (rs["weight"].clone(), rs["effective_weight"].clone()))
        .collect();
    assert_eq!(
        weights,
        vec![
            (serde_json::json!(3), serde_json::json!(3)),
            (serde_json::json!(5), serde_json::json!(0)),
            (serde_json::json!(7), serde_json::Value::Null)
        ],
        "{v}"
    );
    let text = Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args(["status", "--socket"])
        .arg(&sock)
        .output()
        .expect("rampart status");
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("0 (configured 5)"), "{text}");
    assert!(text.contains("- (configured 7)"), "{text}");

    // The VIP appears: checks resume (at their next due time) and run every delay_loop.
    let t1 = Instant::now();
    ns.ip(&["addr", "add", "10.99.0.1/32", "dev", "lo"]);
    log.wait(t1, &["resuming TCP_CHECK", &format!("127.0.0.1:{port}")], w);
    log.wait(t1, &["check-result", &target, "up=true"], w);
    log.drain_until(Instant::now() + Duration::from_millis(1300));
    let ran = log.count(t1, Instant::now(), &["check-result", &target]);
    assert!(ran >= 2, "resumed check ran {ran} times:\n{}", log.dump());

    // The VIP goes: suspended again.
    let t2 = Instant::now();
    ns.ip(&["addr", "del", "10.99.0.1/32", "dev", "lo"]);
    let suspended_at = log.wait(t2, &["suspending TCP_CHECK"], w);
    // A check already in flight may still report; after that, nothing for 3 delay_loops.
    let quiet_from = suspended_at + Duration::from_millis(300);
    log.drain_until(quiet_from + Duration::from_millis(1200));
    assert_eq!(
        log.count(quiet_from, Instant::now(), &["check-result", &target]),
        0,
        "check ran while suspended:\n{}",
        log.dump()
    );

    // SIGTERM: lvs_flush_on_stop flushes the whole table in one operation.
    let t3 = Instant::now();
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(daemon.0.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    log.wait(t3, &["ipvs-op op=flush"], w);
    let _ = daemon.0.wait();
    log.drain_until(Instant::now() + Duration::from_millis(200));
    assert_eq!(
        log.count(t3, Instant::now(), &["op=del-service"]),
        0,
        "{}",
        log.dump()
    );
}

#[test]
fn ha_suspend_added_by_a_reload_starts_the_address_watch() {
    let Some(ns) = Netns::new("hasrl") else {
        eprintln!("skipped: cannot create a network namespace");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut backend = ns.exec("python3");
    backend
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/check_backend.py"
        ))
        .arg("ok")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut backend = Killed(backend.spawn().expect("python3"));
    let mut line = String::new();
    BufReader::new(backend.0.stdout.take().unwrap())
        .read_line(&mut line)
        .expect("READY line");
    let port: u16 = line
        .strip_prefix("READY ")
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("backend said {line:?}"));
    let conf = dir.path().join("keepalived.conf");
    let write = |ha_suspend: &str| {
        std::fs::write(
            &conf,
            format!(
                "virtual_server 10.98.0.1 80 {{\n    protocol TCP\n    delay_loop 0.4\n    {ha_suspend}\n    real_server 127.0.0.1 {port} {{\n        TCP_CHECK {{ connect_timeout 1 }}\n    }}\n}}\n"
            ),
        )
        .unwrap()
    };
    write("");
    let mut daemon = ns.exec(env!("CARGO_BIN_EXE_rampart"));
    daemon
        .args(["-n", "--dry-run", "-C", "--log-format", "json", "-f"])
        .arg(&conf)
        .arg("--control-socket")
        .arg(dir.path().join("rampart.sock"))
        .env("RAMPART_LOG", "info,check=debug")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut daemon = Killed(daemon.spawn().expect("rampart"));
    let mut log = Log::new(&mut daemon.0);
    let target = format!("target=127.0.0.1:{port}");
    let w = Duration::from_secs(10);
    let t0 = Instant::now();
    log.wait(t0, &["check-result", &target, "up=true"], w);

    // Reload with ha_suspend: the VIP is absent, so the (kept) check stops running.
    write("ha_suspend");
    let t1 = Instant::now();
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(daemon.0.id() as i32),
        nix::sys::signal::Signal::SIGHUP,
    );
    log.wait(t1, &["configuration reloaded"], w);
    let quiet_from = Instant::now() + Duration::from_millis(500);
    log.drain_until(quiet_from + Duration::from_millis(1200));
    assert_eq!(
        log.count(quiet_from, Instant::now(), &["check-result", &target]),
        0,
        "check ran while suspended:\n{}",
        log.dump()
    );
    // The VIP appears: the watch started by the reload sees it.
    let t2 = Instant::now();
    ns.ip(&["addr", "add", "10.98.0.1/32", "dev", "lo"]);
    log.wait(t2, &["resuming TCP_CHECK"], w);
    log.wait(t2, &["check-result", &target, "up=true"], w);
}
