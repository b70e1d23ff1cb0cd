//! The operations side through the real daemon: `rampart -C --dry-run` health-checks a real
//! server on loopback (no kernel state touched, nothing sent off loopback), and a real server
//! failure shows up in `rampart status`, on the metrics endpoint, in the notify fifo and as
//! emails received by a real SMTP server; `rampart reload --plan` answers through the socket.

use rampart::daemon::control::{self, Request};
use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        // SIGTERM first so the daemon removes its socket; then make sure it is gone.
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.0.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_sink(port: u16, dir: &Path) -> Proc {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ops_data/smtp_sink.py");
    let mut child = Command::new("/usr/bin/python3")
        .args([script, "127.0.0.1", &port.to_string()])
        .arg(dir)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start smtp sink (python3-aiosmtpd)");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready");
    Proc(child)
}

fn wait_until<T>(what: &str, within: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn subjects(dir: &Path) -> Vec<String> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p: &std::path::PathBuf| p.extension().is_some_and(|x| x == "eml"));
    files.sort();
    files
        .iter()
        .filter_map(|p| {
            let text = std::fs::read_to_string(p).ok()?;
            let head = text.split("\r\n\r\n").next()?.replace("\r\n ", " ");
            head.lines()
                .find_map(|l| l.strip_prefix("Subject: ").map(str::to_string))
        })
        .collect()
}

fn scrape(port: u16) -> String {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn daemon_reports_a_real_server_failure_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let mail = dir.path().join("mail");
    let (smtp_port, vs_port, metrics_port) = (free_port(), free_port(), free_port());
    let backend = TcpListener::bind("127.0.0.1:0").unwrap();
    let rs_port = backend.local_addr().unwrap().port();
    let fifo = dir.path().join("notify.fifo");
    let sock = dir.path().join("rampart.sock");
    let conf = dir.path().join("rampart.conf");
    std::fs::write(
        &conf,
        format!(
            r#"
global_defs {{
    notification_email {{
        ops@example.com
    }}
    notification_email_from lb@example.com
    smtp_server 127.0.0.1 {smtp_port}
    smtp_connect_timeout 5
    router_id OPS_TEST
    smtp_alert
    lvs_notify_fifo {fifo}
}}
virtual_server 127.0.0.1 {vs_port} {{
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 127.0.0.1 {rs_port} {{
        weight 2
        TCP_CHECK {{
            connect_timeout 1
            retry 0
        }}
    }}
}}
"#,
            fifo = fifo.display()
        ),
    )
    .unwrap();
    let _sink = start_sink(smtp_port, &mail);
    let log = std::fs::File::create(dir.path().join("daemon.log")).unwrap();
    let _daemon = Proc(
        Command::new(env!("CARGO_BIN_EXE_rampart"))
            .args(["-n", "-C", "--dry-run", "-f"])
            .arg(&conf)
            .arg("--control-socket")
            .arg(&sock)
            .args(["--metrics-listen", &format!("127.0.0.1:{metrics_port}")])
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let status = |_: ()| control::call(&sock, &Request::Status, Duration::from_secs(5)).ok();
    let st = wait_until("the control socket", Duration::from_secs(30), || status(()));
    let vs = &st.status.unwrap().virtual_servers[0];
    assert_eq!(
        vs.real_servers[0].state, "UP",
        "starts alive as in keepalived"
    );

    // The daemon created the fifo; read it without blocking.
    let mut reader = wait_until("the notify fifo", Duration::from_secs(10), || {
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo)
            .ok()
    });

    // The real server goes away.
    drop(backend);
    let st = wait_until("the real server DOWN", Duration::from_secs(30), || {
        let s = status(())?.status?;
        (s.virtual_servers[0].real_servers[0].state == "DOWN").then_some(s)
    });
    let rs = &st.virtual_servers[0].real_servers[0];
    assert!(
        rs.last_transition
            .as_ref()
            .unwrap()
            .reason
            .contains("TCP_CHECK"),
        "{rs:?}"
    );
    assert_eq!(st.virtual_servers[0].quorum_up, Some(false));

    let out = Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args(["status", "--socket"])
        .arg(&sock)
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("quorum DOWN"), "{table}");
    assert!(
        table.contains(&format!("  -> [127.0.0.1]:tcp:{rs_port}")),
        "{table}"
    );

    let metrics = scrape(metrics_port);
    let want = format!(
        "rampart_realserver_up{{vs=\"[127.0.0.1]:tcp:{vs_port}\",rs=\"[127.0.0.1]:tcp:{rs_port}\"}} 0"
    );
    assert!(metrics.contains(&want), "{want} missing in:\n{metrics}");
    assert!(metrics.contains(&format!(
        "rampart_virtualserver_quorum_up{{vs=\"[127.0.0.1]:tcp:{vs_port}\"}} 0"
    )));

    let lines = wait_until("fifo lines", Duration::from_secs(10), || {
        let mut buf = String::new();
        let _ = reader.read_to_string(&mut buf);
        (!buf.is_empty()).then_some(buf)
    });
    assert!(
        lines.contains(&format!(
            "RS [127.0.0.1]:tcp:{rs_port} [127.0.0.1]:tcp:{vs_port} DOWN\n"
        )),
        "{lines}"
    );

    let subjects = wait_until("two alert emails", Duration::from_secs(30), || {
        let s = subjects(&mail);
        (s.len() >= 2).then_some(s)
    });
    assert!(subjects.contains(&format!(
        "[OPS_TEST] Realserver [127.0.0.1]:tcp:{rs_port} of virtual server [127.0.0.1]:tcp:{vs_port} - DOWN"
    )), "{subjects:?}");
    assert!(
        subjects.contains(&format!(
            "[OPS_TEST] Virtualserver [127.0.0.1]:tcp:{vs_port} - DOWN"
        )),
        "{subjects:?}"
    );

    // The metrics count the alerts the SMTP server accepted.
    let metrics = wait_until("alert counters", Duration::from_secs(10), || {
        let m = scrape(metrics_port);
        m.contains("rampart_alerts_sent_total 2").then_some(m)
    });
    assert!(metrics.contains("rampart_alerts_failed_total 0"));

    // reload --plan through the socket: the unchanged file plans nothing.
    let out = Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args(["reload", "--plan", "--socket"])
        .arg(&sock)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
