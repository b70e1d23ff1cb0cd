//! Email alerts against a real SMTP server on loopback (Debian's python3-aiosmtpd):
//! the right emails for instance, sync group, real server and quorum events, and delivery
//! after the server comes back from an outage.

use rampart::alert::{AlertOptions, spawn_alerter};
use rampart::config::{Config, GlobalDefs, SmtpServer};
use rampart::events::{Endpoint, Event, VrrpStateName};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// The SMTP server process; killed on drop so a failing test leaves nothing behind.
struct Sink(Child);

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_sink(port: u16, dir: &Path) -> Sink {
    start_sink_with(port, dir, &[])
}

fn start_sink_with(port: u16, dir: &Path, extra: &[&Path]) -> Sink {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ops_data/smtp_sink.py");
    let mut child = Command::new("/usr/bin/python3")
        .arg(script)
        .arg("127.0.0.1")
        .arg(port.to_string())
        .arg(dir)
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start /usr/bin/python3 smtp_sink.py (needs python3-aiosmtpd)");
    let out = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(out).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready", "smtp sink did not start");
    Sink(child)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn mails(dir: &Path) -> Vec<String> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    names.sort();
    names
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

async fn wait_for_mails(dir: &Path, n: usize, within: Duration) -> Vec<String> {
    let deadline = Instant::now() + within;
    loop {
        let m = mails(dir);
        if m.len() >= n || Instant::now() > deadline {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The values of header `name` in the envelope lines and the message head, unfolded.
fn header(mail: &str, name: &str) -> Vec<String> {
    let (envelope, message) = mail.split_once("\n\n").unwrap_or((mail, ""));
    let head = message.split("\r\n\r\n").next().unwrap_or("");
    let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
    let prefix = format!("{name}: ");
    envelope
        .lines()
        .chain(unfolded.split("\r\n"))
        .filter_map(|l| {
            l.trim_end()
                .strip_prefix(prefix.as_str())
                .map(str::to_string)
        })
        .collect()
}

fn config(port: u16) -> Config {
    Config {
        global: GlobalDefs {
            notification_email: vec!["ops@example.com".into(), "oncall@example.com".into()],
            notification_email_from: Some("lb1@example.com".into()),
            smtp_server: Some(SmtpServer {
                host: "127.0.0.1".into(),
                port,
            }),
            smtp_helo_name: Some("lb1.example.com".into()),
            smtp_connect_timeout: Duration::from_secs(2),
            smtp_alert: Some(true),
            router_id: Some("LVS_1".into()),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn ep(addr: &str, port: u16) -> Endpoint {
    Endpoint {
        addr: Some(addr.parse().unwrap()),
        port: Some(port),
        fwmark: None,
        protocol: "tcp",
        group: None,
    }
}

fn inst(to: VrrpStateName) -> Event {
    let from = if to == VrrpStateName::Backup {
        VrrpStateName::Master
    } else {
        VrrpStateName::Backup
    };
    Event::VrrpInstance {
        instance: "VI_1".into(),
        from,
        to,
        priority: 100,
        reason: "test".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_reach_a_real_smtp_server_and_survive_an_outage() {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let sink = start_sink(port, dir.path());
    let opts = AlertOptions {
        backoff_initial: Duration::from_millis(200),
        backoff_max: Duration::from_millis(500),
        ..Default::default()
    };
    let handle = spawn_alerter(&config(port), opts);

    let vs = ep("192.168.200.100", 80);
    let rs = ep("192.168.201.100", 8080);
    let events = vec![
        inst(VrrpStateName::Master),
        inst(VrrpStateName::Backup),
        inst(VrrpStateName::Fault),
        inst(VrrpStateName::Stop),
        Event::VrrpSyncGroup {
            group: "VG_1".into(),
            from: VrrpStateName::Backup,
            to: VrrpStateName::Master,
            reason: "test".into(),
        },
        Event::RealServer {
            virtual_server: vs.clone(),
            real_server: rs.clone(),
            up: false,
            reason: "connection refused".into(),
        },
        Event::RealServer {
            virtual_server: vs.clone(),
            real_server: rs.clone(),
            up: true,
            reason: String::new(),
        },
        Event::Quorum {
            virtual_server: vs.clone(),
            gained: false,
            alive_weight: 0,
            quorum: 1,
        },
        Event::Quorum {
            virtual_server: vs.clone(),
            gained: true,
            alive_weight: 1,
            quorum: 1,
        },
    ];
    for ev in &events {
        handle.send(ev);
    }
    let got = wait_for_mails(dir.path(), events.len(), Duration::from_secs(30)).await;
    let expected = [
        (
            "[LVS_1] VRRP Instance VI_1 - Entering MASTER state",
            "=> VRRP Instance is now owning VRRP VIPs <=",
        ),
        (
            "[LVS_1] VRRP Instance VI_1 - Entering BACKUP state",
            "=> VRRP Instance is no longer owning VRRP VIPs <=",
        ),
        (
            "[LVS_1] VRRP Instance VI_1 - Entering FAULT state",
            "=> VRRP Instance is no longer owning VRRP VIPs <=",
        ),
        (
            "[LVS_1] VRRP Instance VI_1 - Stopping",
            "=> VRRP Instance stopping <=",
        ),
        (
            "[LVS_1] VRRP Group VG_1 - Entering MASTER state",
            "=> All VRRP group instances are now in MASTER state <=",
        ),
        (
            "[LVS_1] Realserver [192.168.201.100]:tcp:8080 of virtual server [192.168.200.100]:tcp:80 - DOWN",
            "=> CHECK failed on service : connection refused <=",
        ),
        (
            "[LVS_1] Realserver [192.168.201.100]:tcp:8080 of virtual server [192.168.200.100]:tcp:80 - UP",
            "=> CHECK succeed on service <=",
        ),
        (
            "[LVS_1] Virtualserver [192.168.200.100]:tcp:80 - DOWN",
            "=> Lost quorum 1+0=1 <= 0 <=",
        ),
        (
            "[LVS_1] Virtualserver [192.168.200.100]:tcp:80 - UP",
            "=> Gained quorum 1+0=1 <= 1 <=",
        ),
    ];
    assert_eq!(got.len(), expected.len(), "emails received: {got:#?}");
    for (mail, (subject, body)) in got.iter().zip(expected) {
        assert_eq!(header(mail, "Subject"), vec![subject], "{mail}");
        assert!(mail.contains(body), "body {body:?} missing in:\n{mail}");
        assert_eq!(header(mail, "From"), vec!["lb1@example.com"], "{mail}");
        assert_eq!(
            header(mail, "To"),
            vec!["ops@example.com, oncall@example.com"],
            "{mail}"
        );
        assert_eq!(header(mail, "X-Envelope-From"), vec!["lb1@example.com"]);
        assert_eq!(
            header(mail, "X-Envelope-To"),
            vec!["ops@example.com", "oncall@example.com"]
        );
        assert_eq!(header(mail, "X-Envelope-Helo"), vec!["lb1.example.com"]);
        assert_eq!(header(mail, "X-Envelope-TLS"), vec!["no"]);
        assert_eq!(header(mail, "X-Mailer"), vec!["Keepalived (rampart)"]);
        assert_eq!(header(mail, "Date").len(), 1);
    }
    let stats = handle.stats();
    // The sink stores a message before it answers 250; the counter follows the answer.
    assert!(handle.flush(Duration::from_secs(10)).await);
    assert_eq!(stats.sent.load(Ordering::Relaxed), expected.len() as u64);

    // The SMTP server goes away: sending carries on without waiting, the alert is retried,
    // and delivered once the server is back.
    drop(sink);
    let before = Instant::now();
    handle.send(&inst(VrrpStateName::Master));
    handle.send(&Event::RealServer {
        virtual_server: vs.clone(),
        real_server: rs.clone(),
        up: false,
        reason: "timeout".into(),
    });
    let handed_over = before.elapsed();
    let deadline = Instant::now() + Duration::from_secs(20);
    while stats.retried.load(Ordering::Relaxed) < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        stats.retried.load(Ordering::Relaxed) >= 2,
        "no retries seen"
    );
    assert_eq!(mails(dir.path()).len(), expected.len());
    let _sink = start_sink(port, dir.path());
    let got = wait_for_mails(dir.path(), expected.len() + 2, Duration::from_secs(30)).await;
    assert_eq!(
        got.len(),
        expected.len() + 2,
        "queued alerts not delivered after the outage"
    );
    assert_eq!(
        header(&got[expected.len()], "Subject"),
        vec!["[LVS_1] VRRP Instance VI_1 - Entering MASTER state"]
    );
    assert_eq!(
        header(&got[expected.len() + 1], "Subject"),
        vec![
            "[LVS_1] Realserver [192.168.201.100]:tcp:8080 of virtual server [192.168.200.100]:tcp:80 - DOWN"
        ]
    );
    assert!(handle.flush(Duration::from_secs(5)).await);
    assert_eq!(
        stats.sent.load(Ordering::Relaxed),
        expected.len() as u64 + 2
    );
    assert_eq!(stats.failed.load(Ordering::Relaxed), 0);
    eprintln!("two alerts handed over during the outage in {handed_over:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_queue_drops_and_counts() {
    // No server at all: the first alert waits for retries, the queue fills, the rest drop.
    let port = free_port();
    let opts = AlertOptions {
        queue_capacity: 2,
        backoff_initial: Duration::from_secs(10),
        backoff_max: Duration::from_secs(10),
        ..Default::default()
    };
    let handle = spawn_alerter(&config(port), opts);
    // Alternate states: a repeated state is not mailed again (keepalived's last_email_state).
    for i in 0..10 {
        handle.send(&inst(if i % 2 == 0 {
            VrrpStateName::Master
        } else {
            VrrpStateName::Backup
        }));
    }
    handle.send(&inst(VrrpStateName::Backup));
    let stats = handle.stats();
    let dropped = stats.dropped.load(Ordering::Relaxed);
    // One may already be taken off the queue by the sender; at least 7 of 10 cannot fit.
    assert!(dropped >= 7, "dropped {dropped}");
    assert_eq!(stats.failed.load(Ordering::Relaxed), dropped);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_is_used_when_offered() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=mail.test",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .expect("run openssl")
        .success();
    assert!(ok, "openssl could not make a test certificate");
    let mails_dir = dir.path().join("mail");
    let port = free_port();
    let _sink = start_sink_with(port, &mails_dir, &[&cert, &key]);
    let handle = spawn_alerter(&config(port), AlertOptions::default());
    handle.send(&inst(VrrpStateName::Master));
    let got = wait_for_mails(&mails_dir, 1, Duration::from_secs(30)).await;
    assert_eq!(got.len(), 1, "no mail over STARTTLS");
    assert_eq!(header(&got[0], "X-Envelope-TLS"), vec!["yes"], "{}", got[0]);
    assert_eq!(
        header(&got[0], "Subject"),
        vec!["[LVS_1] VRRP Instance VI_1 - Entering MASTER state"]
    );
}
