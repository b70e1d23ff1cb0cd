//! Reload of the whole daemon on loopback (`rampart -f CONF -C --dry-run`: checkers, alerts,
//! fifos; no kernel state): what a reload keeps and what it changes outside IPVS and VRRP.
//!
//! 1. global_defs changes (router_id, notification_email, smtp_server) apply to the alerts
//!    that follow the reload (a real SMTP server per smtp_server, Debian's python3-aiosmtpd),
//!    and a notify_fifo whose path changed is reopened: the next lines go to the new fifo.
//! 2. A real server whose checker parameters changed restarts only that checker; every real
//!    server keeps its health state (no UP/DOWN event, no IPVS operation).
//!
//! Needs /usr/bin/python3 with aiosmtpd (CI installs python3-aiosmtpd). `cargo test --test ops_reload`.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(20);

/// A child process killed on drop, so a failing test leaves nothing behind.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn smtp_sink(port: u16, dir: &Path) -> Proc {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ops_data/smtp_sink.py");
    let mut child = Command::new("/usr/bin/python3")
        .arg(script)
        .arg("127.0.0.1")
        .arg(port.to_string())
        .arg(dir)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start /usr/bin/python3 smtp_sink.py (needs python3-aiosmtpd)");
    let out = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(out).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready", "smtp sink did not start");
    Proc(child)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn mails(dir: &Path) -> Vec<String> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .collect()
}

/// The Subject header, unfolded.
fn subject(mail: &str) -> String {
    let unfolded = mail.replace("\r\n ", " ").replace("\r\n\t", " ");
    unfolded
        .lines()
        .find_map(|l| l.trim_end().strip_prefix("Subject: "))
        .unwrap_or("")
        .to_string()
}

fn wait_until<T>(within: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `rampart -f conf -C --dry-run` with its log in `log`.
fn start_daemon(conf: &Path, sock: &Path, log: &Path) -> Proc {
    let err = std::fs::File::create(log).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_rampart"))
        .arg("-f")
        .arg(conf)
        .args(["-n", "-C", "--dry-run", "-l", "--control-socket"])
        .arg(sock)
        .env("RAMPART_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(err)
        .spawn()
        .expect("start rampart");
    Proc(child)
}

fn log_text(log: &Path) -> String {
    let raw = std::fs::read_to_string(log).unwrap_or_default();
    // Strip colour codes, whatever the subscriber decided.
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn wait_log(log: &Path, from: usize, needle: &str) -> bool {
    wait_until(T, || log_text(log)[from..].contains(needle).then_some(())).is_some()
}

fn hup(p: &Proc) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(p.0.id() as i32),
        nix::sys::signal::Signal::SIGHUP,
    )
    .unwrap();
}

fn read_fifo(path: &Path) -> String {
    let Ok(mut f) = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
    else {
        return String::new();
    };
    let mut buf = vec![0u8; 65536];
    let mut out = String::new();
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.push_str(&String::from_utf8_lossy(&buf[..n])),
            Err(_) => break,
        }
    }
    out
}

fn tcp_check_rs(port: u16, connect_timeout: u32) -> String {
    format!(
        "    real_server 127.0.0.1 {port} {{\n        weight 1\n        TCP_CHECK {{\n            connect_timeout {connect_timeout}\n            retry 0\n        }}\n    }}\n"
    )
}

#[test]
fn global_defs_and_notify_fifo_changes_apply_to_what_follows_a_reload() {
    let dir = tempfile::tempdir().unwrap();
    let (mail_a, mail_b) = (dir.path().join("mail-a"), dir.path().join("mail-b"));
    std::fs::create_dir_all(&mail_a).unwrap();
    std::fs::create_dir_all(&mail_b).unwrap();
    let (port_a, port_b) = (free_port(), free_port());
    let _sink_a = smtp_sink(port_a, &mail_a);
    let _sink_b = smtp_sink(port_b, &mail_b);
    let (fifo_1, fifo_2) = (dir.path().join("fifo-1"), dir.path().join("fifo-2"));
    let backend = TcpListener::bind("127.0.0.1:0").unwrap();
    let rs_port = backend.local_addr().unwrap().port();
    let conf = dir.path().join("r.conf");
    let write = |rid: &str, to: &str, smtp: u16, fifo: &Path| {
        std::fs::write(
            &conf,
            format!(
                "global_defs {{\n    router_id {rid}\n    notification_email {{\n        {to}\n    }}\n    notification_email_from lb@example.test\n    smtp_server 127.0.0.1 {smtp}\n    smtp_connect_timeout 2\n    smtp_alert\n    notify_fifo {}\n}}\n\nvirtual_server 10.0.0.1 80 {{\n    delay_loop 1\n    lb_kind NAT\n    protocol TCP\n{}}}\n",
                fifo.display(),
                tcp_check_rs(rs_port, 1)
            ),
        )
        .unwrap()
    };
    write("LB_OLD", "old@example.test", port_a, &fifo_1);
    let log = dir.path().join("rampart.log");
    let d = start_daemon(&conf, &dir.path().join("r.sock"), &log);
    assert!(
        wait_log(&log, 0, "starting 1 checks"),
        "the daemon should start: {}",
        log_text(&log)
    );
    // The real server goes DOWN under the first configuration.
    drop(backend);
    let down = format!("[127.0.0.1]:tcp:{rs_port} of virtual server [10.0.0.1]:tcp:80 - DOWN");
    let got = wait_until(T, || {
        mails(&mail_a)
            .into_iter()
            .find(|m| subject(m).contains(&down))
    });
    let got = got.unwrap_or_else(|| panic!("DOWN alert to the first server: {}", log_text(&log)));
    assert_eq!(subject(&got), format!("[LB_OLD] Realserver {down}"));
    assert!(got.contains("X-Envelope-To: old@example.test"), "{got}");
    let fifo_1_text = wait_until(T, || {
        let t = read_fifo(&fifo_1);
        t.contains("DOWN").then_some(t)
    })
    .expect("the DOWN line in the first fifo");

    // Reload: new router_id, recipient, SMTP server and fifo.
    write("LB_NEW", "new@example.test", port_b, &fifo_2);
    let mark = log_text(&log).len();
    hup(&d);
    assert!(
        wait_log(&log, mark, "configuration reloaded"),
        "reload: {}",
        log_text(&log)
    );
    let plan = log_text(&log)[mark..].to_string();
    for field in [
        "router_id",
        "notification_email",
        "smtp_server",
        "notify_fifo",
    ] {
        assert!(
            plan.contains(&format!("~ {field}")),
            "the plan names {field}: {plan}"
        );
    }
    // The real server comes back: its UP alert carries the new router_id and goes to the new
    // recipient through the new server; the fifo line goes to the new fifo.
    let _backend = TcpListener::bind(("127.0.0.1", rs_port)).unwrap();
    let up = format!("[127.0.0.1]:tcp:{rs_port} of virtual server [10.0.0.1]:tcp:80 - UP");
    let got = wait_until(T, || {
        mails(&mail_b)
            .into_iter()
            .find(|m| subject(m).contains(&up))
    });
    let got = got.unwrap_or_else(|| panic!("UP alert to the second server: {}", log_text(&log)));
    assert_eq!(subject(&got), format!("[LB_NEW] Realserver {up}"));
    assert!(got.contains("X-Envelope-To: new@example.test"), "{got}");
    assert!(
        mails(&mail_a).iter().all(|m| !subject(m).contains(&up)),
        "nothing more for the old server"
    );
    let fifo_2_text = wait_until(T, || {
        let t = read_fifo(&fifo_2);
        t.contains("UP").then_some(t)
    })
    .unwrap_or_else(|| panic!("the UP line in the new fifo: {}", log_text(&log)));
    assert!(
        fifo_2_text.contains(&format!(
            "RS [127.0.0.1]:tcp:{rs_port} [10.0.0.1]:tcp:80 UP"
        )),
        "{fifo_2_text}"
    );
    let rest_of_fifo_1 = read_fifo(&fifo_1);
    assert!(
        !rest_of_fifo_1.contains("UP") && !fifo_1_text.contains("UP"),
        "the old fifo gets nothing after the reload: {rest_of_fifo_1:?}"
    );
}

#[test]
fn a_changed_checker_restarts_alone_and_health_states_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let up_1 = TcpListener::bind("127.0.0.1:0").unwrap();
    let up_2 = TcpListener::bind("127.0.0.1:0").unwrap();
    let (p1, p2) = (
        up_1.local_addr().unwrap().port(),
        up_2.local_addr().unwrap().port(),
    );
    let dead = free_port();
    let conf = dir.path().join("r.conf");
    let write = |timeout_2: u32| {
        std::fs::write(
            &conf,
            format!(
                "virtual_server 10.0.0.1 80 {{\n    delay_loop 1\n    lb_kind NAT\n    protocol TCP\n{}{}{}}}\n",
                tcp_check_rs(p1, 1),
                tcp_check_rs(p2, timeout_2),
                tcp_check_rs(dead, 1)
            ),
        )
        .unwrap()
    };
    write(1);
    let log = dir.path().join("rampart.log");
    let d = start_daemon(&conf, &dir.path().join("r.sock"), &log);
    let dead_down = format!("real server [127.0.0.1]:tcp:{dead} of [10.0.0.1]:tcp:80 is DOWN");
    assert!(
        wait_log(&log, 0, &dead_down),
        "the dead server goes DOWN: {}",
        log_text(&log)
    );
    std::thread::sleep(Duration::from_millis(1500));
    write(2);
    let mark = log_text(&log).len();
    hup(&d);
    assert!(
        wait_log(
            &log,
            mark,
            "configuration reloaded: 3 checks (2 kept with their state, 1 new)"
        ),
        "only the changed checker is new: {}",
        &log_text(&log)[mark..]
    );
    // Two more delay_loops: every check has run again under the new configuration.
    std::thread::sleep(Duration::from_millis(2500));
    let after = log_text(&log)[mark..].to_string();
    assert!(
        after.contains(&format!(
            "~ real_server [127.0.0.1]:{p2} in [10.0.0.1]:tcp:80"
        )),
        "the plan names the changed server: {after}"
    );
    assert!(
        !after.contains(&format!("[127.0.0.1]:{p1} in")),
        "the unchanged server is not in the plan: {after}"
    );
    for (what, needle) in [
        ("an UP/DOWN event", "is UP"),
        ("an UP/DOWN event", "is DOWN"),
        ("an IPVS operation", "ipvs-op"),
    ] {
        assert!(
            !after.contains(needle),
            "no {what} after the reload (health states kept): {after}"
        );
    }
    drop((up_1, up_2));
}

fn status(sock: &Path, json: bool) -> String {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rampart"));
    c.args(["status", "--socket"]).arg(sock);
    if json {
        c.arg("--json");
    }
    let out = c.output().expect("run rampart status");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A real server removed by a reload with inhibit_on_failure stays in IPVS at weight 0 for
/// one delay_loop: `rampart status` shows it as DRAINING (table and JSON) until it is deleted,
/// then it is gone. One server drains for 60 s (seen while draining, whatever the load), the
/// other for 1 s (seen to go).
#[test]
fn status_shows_real_servers_draining_after_a_reload() {
    let dir = tempfile::tempdir().unwrap();
    let keep = TcpListener::bind("127.0.0.1:0").unwrap();
    let slow = TcpListener::bind("127.0.0.1:0").unwrap();
    let fast = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = |l: &TcpListener| l.local_addr().unwrap().port();
    let (pk, ps, pf) = (port(&keep), port(&slow), port(&fast));
    let rs = |p: u16, delay_loop: u32| {
        format!(
            "    real_server 127.0.0.1 {p} {{\n        weight 3\n        delay_loop {delay_loop}\n        inhibit_on_failure\n        TCP_CHECK {{\n            connect_timeout 1\n        }}\n    }}\n"
        )
    };
    let conf = dir.path().join("d.conf");
    let write = |servers: &str| {
        std::fs::write(
            &conf,
            format!(
                "virtual_server 10.0.0.1 80 {{\n    delay_loop 1\n    lb_kind NAT\n    protocol TCP\n{servers}}}\n"
            ),
        )
        .unwrap()
    };
    write(&format!("{}{}{}", rs(pk, 1), rs(ps, 60), rs(pf, 1)));
    let log = dir.path().join("rampart.log");
    let sock = dir.path().join("d.sock");
    let d = start_daemon(&conf, &sock, &log);
    let all_up = wait_until(T, || {
        let s = status(&sock, false);
        (s.lines()
            .filter(|l| l.contains("->") && l.contains(" UP "))
            .count()
            == 3)
            .then_some(())
    });
    assert!(
        all_up.is_some(),
        "three real servers UP: {}{}",
        status(&sock, false),
        log_text(&log)
    );
    write(&rs(pk, 1));
    hup(&d);
    let name = |p: u16| format!("[127.0.0.1]:tcp:{p}");
    let draining = wait_until(T, || {
        let s = status(&sock, false);
        s.lines()
            .any(|l| l.contains(&name(ps)) && l.contains("DRAINING"))
            .then_some(s)
    });
    let Some(table) = draining else {
        panic!(
            "the removed server is shown DRAINING: {}{}",
            status(&sock, false),
            log_text(&log)
        );
    };
    let row = table.lines().find(|l| l.contains(&name(ps))).unwrap();
    assert!(row.contains("0 (configured 3)"), "weight 0 of 3: {row}");
    assert!(
        row.contains("removed from the configuration"),
        "the reason: {row}"
    );
    let json: serde_json::Value = serde_json::from_str(&status(&sock, true)).unwrap();
    let rss = json["virtual_servers"][0]["real_servers"]
        .as_array()
        .unwrap();
    let slow_rs = rss
        .iter()
        .find(|r| r["name"] == name(ps).as_str())
        .unwrap_or_else(|| panic!("the draining server in JSON: {json}"));
    assert_eq!(slow_rs["state"], "DRAINING", "{slow_rs}");
    assert_eq!(slow_rs["effective_weight"], 0, "{slow_rs}");
    assert!(
        rss.iter()
            .any(|r| r["name"] == name(pk).as_str() && r["state"] == "UP"),
        "the kept server is still UP: {json}"
    );
    // The 1 s drain ends: that row goes; the 60 s one stays.
    assert!(
        wait_log(&log, 0, &format!("drain of [127.0.0.1]:{pf} over")),
        "the 1 s drain ends: {}",
        log_text(&log)
    );
    let gone = wait_until(T, || {
        let s = status(&sock, false);
        (!s.contains(&name(pf)) && s.contains(&name(ps))).then_some(())
    });
    assert!(
        gone.is_some(),
        "the server whose drain is over is no longer shown: {}{}",
        status(&sock, false),
        log_text(&log)
    );
    // Another reload rebuilds the status from the file: the server still draining is shown
    // again (with its remaining time).
    let mark = log_text(&log).len();
    hup(&d);
    assert!(
        wait_log(&log, mark, "configuration reloaded"),
        "second reload: {}",
        &log_text(&log)[mark..]
    );
    let still = wait_until(T, || {
        let s = status(&sock, false);
        s.lines()
            .any(|l| l.contains(&name(ps)) && l.contains("DRAINING"))
            .then_some(())
    });
    assert!(
        still.is_some(),
        "still DRAINING after a second reload: {}{}",
        status(&sock, false),
        log_text(&log)
    );
    drop((keep, slow, fast));
}

/// `--capabilities reduced` (the default) warns at start about root scripts that call
/// systemctl & co.; a reload that brings in such a script warns about it too (in the log and
/// in `rampart reload --plan`'s output), and scripts already warned about are not repeated.
#[test]
fn a_reload_warns_about_a_new_root_script_that_calls_systemctl() {
    let dir = tempfile::tempdir().unwrap();
    let up = TcpListener::bind("127.0.0.1:0").unwrap();
    let p = up.local_addr().unwrap().port();
    let script = dir.path().join("up.sh");
    std::fs::write(&script, "#!/bin/sh\nsystemctl restart haproxy\n").unwrap();
    let conf = dir.path().join("w.conf");
    let write = |notify: bool| {
        let notify_up = if notify {
            format!("        notify_up {}\n", script.display())
        } else {
            String::new()
        };
        std::fs::write(
            &conf,
            format!(
                "virtual_server 10.0.0.1 80 {{\n    delay_loop 1\n    lb_kind NAT\n    protocol TCP\n    real_server 127.0.0.1 {p} {{\n        weight 1\n{notify_up}        TCP_CHECK {{\n            connect_timeout 1\n        }}\n    }}\n}}\n"
            ),
        )
        .unwrap()
    };
    write(false);
    let log = dir.path().join("rampart.log");
    let sock = dir.path().join("w.sock");
    let d = start_daemon(&conf, &sock, &log);
    assert!(
        wait_until(T, || sock.exists().then_some(())).is_some(),
        "daemon up: {}",
        log_text(&log)
    );
    assert!(
        !log_text(&log).contains("calls systemctl"),
        "nothing to warn about at start"
    );
    write(true);
    let plan = Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args(["reload", "--plan", "--socket"])
        .arg(&sock)
        .output()
        .unwrap();
    let plan_text = format!(
        "{}{}",
        String::from_utf8_lossy(&plan.stdout),
        String::from_utf8_lossy(&plan.stderr)
    );
    assert!(
        plan_text.contains("calls systemctl") && plan_text.contains("--capabilities full-scripts"),
        "the plan names the new root script: {plan_text}"
    );
    let mark = log_text(&log).len();
    hup(&d);
    // The daemon's own line (target `reload`), logged after the reload's warnings; the
    // checker's "check: configuration reloaded" may come later.
    assert!(
        wait_log(&log, mark, "reload: configuration reloaded"),
        "reload applied: {}",
        &log_text(&log)[mark..]
    );
    let after = log_text(&log)[mark..].to_string();
    assert!(
        after.contains("real server notify script") && after.contains("calls systemctl"),
        "the reload warns about the new script: {after}"
    );
    // The same file again: the script was named already.
    let mark = log_text(&log).len();
    hup(&d);
    assert!(
        wait_log(&log, mark, "reload: configuration reloaded"),
        "second reload: {}",
        &log_text(&log)[mark..]
    );
    assert!(
        !log_text(&log)[mark..].contains("calls systemctl"),
        "not repeated: {}",
        &log_text(&log)[mark..]
    );
    drop(up);
}
