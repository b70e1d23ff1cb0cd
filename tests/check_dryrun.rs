//! `rampart --dry-run -C -f FILE` against real backends on loopback: the logged IPVS
//! operations and check attempts (JSON log lines) show keepalived's timing and effects.

mod check_support;
use check_support::*;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

struct Daemon {
    child: Child,
    lines: mpsc::Receiver<(Instant, serde_json::Value)>,
    seen: Vec<(Instant, String, String)>,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    fn start(conf: &std::path::Path) -> Daemon {
        let mut child = Command::new(env!("CARGO_BIN_EXE_rampart"))
            .args(["-n", "--dry-run", "-C", "--log-format", "json", "-f"])
            .arg(conf)
            // Each test daemon gets its own control socket (not the system one).
            .arg("--control-socket")
            .arg(conf.with_extension("sock"))
            .env("RAMPART_LOG", "info,check=debug")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("rampart binary");
        let err = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(err).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&l) {
                    let _ = tx.send((Instant::now(), v));
                } else {
                    eprintln!("non-JSON log line: {l}");
                }
            }
        });
        Daemon {
            child,
            lines: rx,
            seen: Vec::new(),
        }
    }

    /// Wait for a line whose target is `target` and message contains all of `needles`.
    fn wait_for(&mut self, target: &str, needles: &[&str], within: Duration) -> String {
        self.wait_for_any(&[(target, needles)], within)
    }

    /// Wait for a line matching any of the alternatives (target, needles) — the daemon's event
    /// log format has changed over time (JSON under `event`, or text under `check`).
    fn wait_for_any(&mut self, alts: &[(&str, &[&str])], within: Duration) -> String {
        let matches = |t: &str, m: &str| {
            alts.iter()
                .any(|(target, needles)| t == *target && needles.iter().all(|n| m.contains(n)))
        };
        let deadline = Instant::now() + within;
        // Lines already seen count too: operations within one table change are logged in
        // key order, not in the order this test asks for them.
        if let Some((_, _, m)) = self.seen.iter().find(|(_, t, m)| matches(t, m)) {
            return m.clone();
        }
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let (at, v) = match self.lines.recv_timeout(left) {
                Ok(x) => x,
                Err(_) => panic!(
                    "no line matching {alts:?} within {within:?}; seen:\n{}",
                    self.dump()
                ),
            };
            let t = v["target"].as_str().unwrap_or("").to_string();
            let m = v["fields"]["message"].as_str().unwrap_or("").to_string();
            self.seen.push((at, t.clone(), m.clone()));
            if matches(&t, &m) {
                return m;
            }
        }
    }

    fn dump(&self) -> String {
        self.seen
            .iter()
            .map(|(_, t, m)| format!("{t}: {m}\n"))
            .collect()
    }

    fn terminate(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
}

#[test]
fn dry_run_logs_ipvs_operations_following_backend_health() {
    let page = b"rampart dry run\n";
    let web = http_server(&[("index.html", page)]);
    let mut tcp = backend("ok", &[]);
    let dead = closed_port();
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("keepalived.conf");
    std::fs::write(
        &conf,
        format!(
            r#"
virtual_server 10.0.0.1 80 {{
    protocol TCP
    delay_loop 1
    lb_algo wrr
    lb_kind NAT
    inhibit_on_failure
    real_server 127.0.0.1 {web} {{
        weight 3
        HTTP_GET {{
            url {{
                path /index.html
                digest {digest}
            }}
            connect_timeout 2
        }}
    }}
    real_server 127.0.0.1 {tcp} {{
        weight 2
        TCP_CHECK {{
            connect_timeout 1
            retry 2
            delay_before_retry 0.3
        }}
    }}
}}
virtual_server 10.0.0.2 443 {{
    protocol TCP
    delay_loop 1
    alpha
    quorum 1
    sorry_server 127.0.0.9 8443
    real_server 127.0.0.1 {web} {{
        weight 1
        HTTP_GET {{
            url {{
                path /index.html
                digest {digest}
            }}
            connect_timeout 2
        }}
    }}
    real_server 127.0.0.1 {dead} {{
        weight 1
        TCP_CHECK {{
            connect_timeout 1
        }}
    }}
}}
"#,
            web = web.port,
            tcp = tcp.port,
            dead = dead,
            digest = md5_hex(page),
        ),
    )
    .unwrap();
    let mut d = Daemon::start(&conf);
    let w = Duration::from_secs(10);
    // Initial table: VS1 with both servers (non-alpha servers start UP); VS2 (alpha) starts
    // with every server DOWN, so below quorum: the sorry server only.
    d.wait_for(
        "dry_run",
        &[
            "op=add-service",
            "service=tcp:[10.0.0.1]:80",
            "scheduler=wrr",
        ],
        w,
    );
    d.wait_for(
        "dry_run",
        &[
            "op=add-dest",
            "service=tcp:[10.0.0.1]:80",
            &format!("dest=[127.0.0.1]:{}", web.port),
            "forward=nat",
            "weight=3",
        ],
        w,
    );
    d.wait_for(
        "dry_run",
        &[
            "op=add-dest",
            "service=tcp:[10.0.0.1]:80",
            &format!("dest=[127.0.0.1]:{}", tcp.port),
            "weight=2",
        ],
        w,
    );
    d.wait_for(
        "dry_run",
        &["op=add-service", "service=tcp:[10.0.0.2]:443"],
        w,
    );
    d.wait_for(
        "dry_run",
        &[
            "op=add-dest",
            "service=tcp:[10.0.0.2]:443",
            "dest=[127.0.0.9]:8443",
            "weight=1",
        ],
        w,
    );
    // VS2 gains quorum when the HTTP server checks UP: sorry server out, real server in.
    d.wait_for_any(
        &[
            (
                "check",
                &["virtual server [10.0.0.2]:tcp:443: quorum gained"],
            ),
            (
                "event",
                &["\"quorum\"", "\"addr\":\"10.0.0.2\"", "\"gained\":true"],
            ),
        ],
        w,
    );
    d.wait_for(
        "dry_run",
        &[
            "op=del-dest",
            "service=tcp:[10.0.0.2]:443",
            "dest=[127.0.0.9]:8443",
        ],
        w,
    );
    d.wait_for(
        "dry_run",
        &[
            "op=add-dest",
            "service=tcp:[10.0.0.2]:443",
            &format!("dest=[127.0.0.1]:{}", web.port),
        ],
        w,
    );

    // Stop the TCP backend after a successful check; it must go DOWN after exactly
    // retry+1 = 3 consecutive failures, spaced by delay_before_retry, and (inhibit_on_failure)
    // be set to weight 0 rather than removed.
    let target = format!("target=127.0.0.1:{}", tcp.port);
    d.wait_for("check", &["check-result", &target, "up=true"], w);
    tcp.stop();
    let stopped = Instant::now();
    let down_op = d.wait_for(
        "dry_run",
        &[
            "op=edit-dest",
            &format!("dest=[127.0.0.1]:{}", tcp.port),
            "weight=0",
        ],
        w,
    );
    assert!(down_op.contains("service=tcp:[10.0.0.1]:80"));
    let failures: Vec<Instant> = d
        .seen
        .iter()
        .filter(|(at, t, m)| {
            *at >= stopped && t == "check" && m.contains(&target) && m.contains("up=false")
        })
        .map(|(at, _, _)| *at)
        .collect();
    assert_eq!(failures.len(), 3, "attempts after stop:\n{}", d.dump());
    // The spacing (delay_before_retry) is not asserted here: these are the times the test
    // read the lines, which a loaded machine bunches or spreads (it failed CI-like runs).
    // The checker core's tests check the retry timing exactly, with a virtual clock.
    let text = format!(
        "real server [127.0.0.1]:tcp:{} of [10.0.0.1]:tcp:80 is DOWN",
        tcp.port
    );
    let port = format!("\"port\":{}", tcp.port);
    d.wait_for_any(
        &[
            ("check", &[&text]),
            ("event", &["\"real_server\"", &port, "\"up\":false"]),
        ],
        w,
    );

    // Shutdown removes every service.
    d.terminate();
    d.wait_for(
        "dry_run",
        &["op=del-service", "service=tcp:[10.0.0.1]:80"],
        w,
    );
    d.wait_for(
        "dry_run",
        &["op=del-service", "service=tcp:[10.0.0.2]:443"],
        w,
    );
    let st = d.child.wait().unwrap();
    assert!(st.success(), "exit status {st}\n{}", d.dump());
}

#[test]
fn warmup_spreads_first_checks_over_the_warmup_window() {
    // Eight alpha real servers on ports nobody listens on: every first check fails (logged at
    // info with its time) and, being DOWN already, is not retried for a delay_loop.
    let mut servers = String::new();
    for _ in 0..8 {
        servers.push_str(&format!(
            "    real_server 127.0.0.1 {} {{\n        TCP_CHECK {{\n            connect_timeout 1\n            warmup 1.5\n        }}\n    }}\n",
            closed_port()
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("keepalived.conf");
    std::fs::write(
        &conf,
        format!("virtual_server 10.0.0.1 80 {{\n    protocol TCP\n    delay_loop 30\n    alpha\n{servers}}}\n"),
    )
    .unwrap();
    let mut d = Daemon::start(&conf);
    let w = Duration::from_secs(10);
    d.wait_for("check", &["starting"], w);
    let start = d.seen.last().map(|(at, _, _)| *at).unwrap();
    let mut firsts = Vec::new();
    for _ in 0..8 {
        d.wait_for("check", &["check-result", "up=false"], w);
        firsts.push(d.seen.last().unwrap().0 - start);
        // wait_for returns the first match in history too; consume it.
        let last = d.seen.pop().unwrap();
        d.seen.push((last.0, "consumed".into(), last.2));
    }
    let min = *firsts.iter().min().unwrap();
    let max = *firsts.iter().max().unwrap();
    // Within warmup (1.5 s), not delay_loop (30 s); generous, since these are the times the
    // test read the lines.
    assert!(max <= Duration::from_millis(1500 + 3000), "{firsts:?}");
    assert!(
        max - min >= Duration::from_millis(300),
        "not spread: {firsts:?}"
    );
    d.terminate();
}

#[test]
fn sighup_reload_keeps_health_state_and_logs_only_the_differences() {
    let ok = backend("ok", &[]);
    let dead = closed_port();
    let web = http_server(&[("index.html", b"x")]);
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("keepalived.conf");
    let rs_block = |port: u16| {
        format!(
            "    real_server 127.0.0.1 {port} {{\n        TCP_CHECK {{\n            connect_timeout 1\n            retry 0\n        }}\n    }}\n"
        )
    };
    let write = |extra: &str| {
        std::fs::write(
            &conf,
            format!(
                "virtual_server 10.0.0.1 80 {{\n    protocol TCP\n    delay_loop 1\n    lb_kind NAT\n{}{}{extra}}}\n",
                rs_block(ok.port),
                rs_block(dead)
            ),
        )
        .unwrap()
    };
    write("");
    let mut d = Daemon::start(&conf);
    let w = Duration::from_secs(10);
    d.wait_for(
        "dry_run",
        &["op=del-dest", &format!("dest=[127.0.0.1]:{dead}")],
        w,
    );
    write(&rs_block(web.port));
    let before = d.seen.len();
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(d.child.id() as i32),
        nix::sys::signal::Signal::SIGHUP,
    );
    d.wait_for(
        "check",
        &["configuration reloaded: 3 checks (2 kept with their state, 1 new)"],
        w,
    );
    d.wait_for(
        "dry_run",
        &["op=add-dest", &format!("dest=[127.0.0.1]:{}", web.port)],
        w,
    );
    // Give a full delay_loop for anything else to show up.
    std::thread::sleep(Duration::from_millis(1500));
    let _ = d.wait_for("check", &["check-result", &format!("127.0.0.1:{dead}")], w);
    let after: Vec<&String> = d.seen[before..]
        .iter()
        .filter(|(_, t, _)| t == "dry_run")
        .map(|(_, _, m)| m)
        .collect();
    assert_eq!(after.len(), 1, "only the new server is added: {after:?}");
    let dead_is_back: Vec<_> = d.seen[before..]
        .iter()
        .filter(|(_, _, m)| {
            (m.contains(&format!("127.0.0.1]:tcp:{dead}")) && m.contains("is UP"))
                || (m.contains(&format!("\"port\":{dead}")) && m.contains("\"up\":true"))
        })
        .collect();
    assert!(
        dead_is_back.is_empty(),
        "the DOWN server stays DOWN across the reload"
    );
    d.terminate();
}
