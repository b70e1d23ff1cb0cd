//! Oracle: the same configuration run by keepalived 2.2.7 and by rampart, each in its own
//! namespace with its own real SMTP server (Debian's python3-aiosmtpd) on the namespace's
//! loopback, through the same transitions (start → BACKUP → MASTER, link down → FAULT, link
//! up → MASTER, SIGTERM). The emails must match: envelope, From, To, Subject and body, step by
//! step. Headers that must differ are left out: Date, Message-ID, X-Mailer. The lines a
//! vrrp_notify_fifo reader script receives must match too.
//!
//! VRRP instances and a sync group only: keepalived's checker needs IPVS, which this
//! machine's kernel lacks (checker emails are covered against aiosmtpd in ops_alert_smtp).
//!
//! Run as root: `cargo test --test ops_alert_oracle`.

#[path = "common/netns.rs"]
mod netns;
#[path = "common/netns_vrrp.rs"]
mod netns_vrrp;

use netns::{Lab, wait_for};
use netns_vrrp::{start_keepalived, start_rampart};
use std::path::{Path, PathBuf};
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

fn config(port: u16, fifo: &Path, reader: &Path) -> String {
    format!(
        "global_defs {{
  router_id ORACLE
  vrrp_notify_fifo {fifo}
  vrrp_notify_fifo_script {reader}
  notification_email {{
    ops@example.com
    noc@example.com
  }}
  notification_email_from lb1@example.com
  smtp_server 127.0.0.1 {port}
  smtp_helo_name lb1.example.com
  smtp_connect_timeout 5
  smtp_alert
}}
vrrp_sync_group G1 {{
  group {{
    VI_1
    VI_2
  }}
}}
vrrp_instance VI_1 {{
  state BACKUP
  interface eth0
  virtual_router_id 81
  priority 100
  advert_int 1
  virtual_ipaddress {{
    10.81.0.100/24
  }}
}}
vrrp_instance VI_2 {{
  state BACKUP
  interface eth0
  virtual_router_id 82
  priority 100
  advert_int 1
  virtual_ipaddress {{
    10.81.0.200/24
  }}
}}
",
        fifo = fifo.display(),
        reader = reader.display()
    )
}

/// The fifo lines the reader script wrote so far.
fn fifo_lines(out: &Path) -> Vec<String> {
    std::fs::read_to_string(out)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// One mail reduced to what both daemons must agree on.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Mail {
    envelope_from: String,
    envelope_to: Vec<String>,
    from: String,
    to: String,
    subject: String,
    body: String,
}

fn parse(mail: &str) -> Mail {
    let (envelope, message) = mail.split_once("\n\n").unwrap_or((mail, ""));
    let message = message.replace("\r\n", "\n");
    let (head, body) = message.split_once("\n\n").unwrap_or((&message, ""));
    let head = head.replace("\n ", " ").replace("\n\t", " ");
    let field = |text: &str, name: &str| -> Vec<String> {
        let prefix = format!("{}:", name.to_ascii_lowercase());
        text.lines()
            .filter(|l| l.to_ascii_lowercase().starts_with(&prefix))
            .map(|l| l[prefix.len()..].trim().to_string())
            .collect()
    };
    let one = |text: &str, name: &str| field(text, name).into_iter().next().unwrap_or_default();
    Mail {
        envelope_from: one(envelope, "X-Envelope-From"),
        envelope_to: field(envelope, "X-Envelope-To"),
        from: one(&head, "From"),
        to: one(&head, "To"),
        subject: one(&head, "Subject"),
        // Trailing blank lines and line-ending style are transport details.
        body: body
            .lines()
            .map(str::trim_end)
            .collect::<Vec<_>>()
            .join("\n")
            .trim_end()
            .to_string(),
    }
}

fn mails(dir: &Path) -> Vec<Mail> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    names.retain(|p| p.extension().is_some_and(|x| x == "eml"));
    names.sort();
    names
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|m| parse(&m))
        .collect()
}

struct Side {
    ns: String,
    pid: u32,
    log: PathBuf,
    mail_dir: PathBuf,
    fifo_out: PathBuf,
}

fn start_side(lab: &mut Lab, label: &str, keepalived: bool) -> Side {
    let ns = lab.ns(label);
    let peer = lab.ns(&format!("{label}p"));
    // A veth whose peer stays up: eth0's link goes down only when the test says so.
    let out = std::process::Command::new("ip")
        .args([
            "-n", &ns, "link", "add", "eth0", "type", "veth", "peer", "name", "p0", "netns", &peer,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    lab.exec_ok(&peer, &["ip", "link", "set", "p0", "up"]);
    lab.exec_ok(&ns, &["ip", "addr", "add", "10.81.0.1/24", "dev", "eth0"]);
    lab.exec_ok(&ns, &["ip", "link", "set", "eth0", "up"]);
    // Carrier first: a daemon started before it sees the link down and starts in FAULT.
    let carrier = wait_for(T, || {
        let o = lab.exec_ok(&ns, &["ip", "-o", "link", "show", "eth0"]);
        (o.contains("state UP") && o.contains("LOWER_UP")).then_some(())
    });
    assert!(carrier.is_some(), "eth0 in {ns} has no carrier");
    let mail_dir = lab.path(&format!("{label}-mail"));
    let port = 2525;
    let sink = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ops_data/smtp_sink.py");
    let sink_log = lab.path(&format!("{label}-smtp.log"));
    lab.spawn(
        &format!("{label}-smtp"),
        &ns,
        &[
            "/usr/bin/python3",
            sink,
            "127.0.0.1",
            &port.to_string(),
            mail_dir.to_str().unwrap(),
        ],
        &sink_log,
    );
    let ready = wait_for(T, || {
        std::fs::read_to_string(&sink_log)
            .ok()
            .filter(|t| t.contains("ready"))
    });
    assert!(ready.is_some(), "smtp sink in {ns} did not start");
    // vrrp_notify_fifo with a reader script (both daemons pass the fifo as its argument).
    let fifo = lab.path(&format!("{label}.fifo"));
    let fifo_out = lab.path(&format!("{label}.fifo-lines"));
    let reader = lab.path(&format!("{label}-reader.sh"));
    std::fs::write(
        &reader,
        format!(
            "#!/bin/sh\nwhile read l; do echo \"$l\" >> {}; done < \"$1\"\n",
            fifo_out.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&reader, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let text = config(port, &fifo, &reader);
    let (pid, log) = if keepalived {
        start_keepalived(lab, &ns, label, &text)
    } else {
        start_rampart(lab, &ns, label, &text)
    };
    Side {
        ns,
        pid,
        log,
        mail_dir,
        fifo_out,
    }
}

#[allow(dead_code)]
fn subjects(m: &[Mail]) -> Vec<&str> {
    m.iter().map(|m| m.subject.as_str()).collect()
}

#[test]
fn rampart_mails_what_keepalived_mails() {
    if !netns::available() {
        return;
    }
    if std::process::Command::new("keepalived")
        .arg("-v")
        .output()
        .is_err()
    {
        eprintln!("skipping: keepalived is not installed");
        return;
    }
    let mut lab = Lab::new("oracle");
    let k = start_side(&mut lab, "k", true);
    let r = start_side(&mut lab, "r", false);
    let logs = |s: &Side| std::fs::read_to_string(&s.log).unwrap_or_default();

    // keepalived sends each mail on its own SMTP connection, concurrently: their order of
    // arrival within a step is not defined. So each step's mails are compared as a sorted
    // list, and a step ends when neither side has sent anything new for 3 s.
    let mut seen = [0usize, 0usize];
    let mut fifo_seen = [0usize, 0usize];
    let mut fifo_steps: Vec<(String, Vec<String>, Vec<String>)> = Vec::new();
    let mut steps: Vec<(String, Vec<Mail>, Vec<Mail>)> = Vec::new();
    // A step ends once both sides mailed `until` (keepalived is the oracle) and then stayed
    // quiet for 3 s.
    let mut step = |name: &str, until: &str, seen: &mut [usize; 2], fifo_seen: &mut [usize; 2]| {
        for s in [&k, &r] {
            let n = if std::ptr::eq(s, &k) {
                seen[0]
            } else {
                seen[1]
            };
            let got = wait_for(T, || {
                mails(&s.mail_dir)
                    .get(n..)?
                    .iter()
                    .any(|m| m.subject.ends_with(until))
                    .then_some(())
            });
            assert!(
                got.is_some(),
                "{name}: no {until:?} mail from {}: {:?}\n{}",
                s.ns,
                subjects(&mails(&s.mail_dir)),
                logs(s)
            );
        }
        let mut last = (usize::MAX, usize::MAX);
        let mut quiet_since = std::time::Instant::now();
        let deadline = std::time::Instant::now() + T;
        loop {
            let now = (mails(&k.mail_dir).len(), mails(&r.mail_dir).len());
            if now != last {
                last = now;
                quiet_since = std::time::Instant::now();
            } else if quiet_since.elapsed() > Duration::from_secs(3) && now.0 > seen[0] {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{name}: keepalived sent nothing\n{}",
                logs(&k)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        let mut km = mails(&k.mail_dir)[seen[0]..].to_vec();
        let mut rm = mails(&r.mail_dir)[seen[1]..].to_vec();
        *seen = [seen[0] + km.len(), seen[1] + rm.len()];
        km.sort_by(|a, b| a.subject.cmp(&b.subject));
        rm.sort_by(|a, b| a.subject.cmp(&b.subject));
        steps.push((name.to_string(), km, rm));
        let mut kf = fifo_lines(&k.fifo_out)[fifo_seen[0]..].to_vec();
        let mut rf = fifo_lines(&r.fifo_out)[fifo_seen[1]..].to_vec();
        *fifo_seen = [fifo_seen[0] + kf.len(), fifo_seen[1] + rf.len()];
        kf.sort();
        rf.sort();
        fifo_steps.push((name.to_string(), kf, rf));
    };
    step(
        "start (BACKUP, then MASTER)",
        "G1 - Entering MASTER state",
        &mut seen,
        &mut fifo_seen,
    );
    for s in [&k, &r] {
        lab.exec_ok(&s.ns, &["ip", "link", "set", "eth0", "down"]);
    }
    step(
        "link down (FAULT)",
        "G1 - Entering FAULT state",
        &mut seen,
        &mut fifo_seen,
    );
    for s in [&k, &r] {
        lab.exec_ok(&s.ns, &["ip", "link", "set", "eth0", "up"]);
    }
    step(
        "link up (BACKUP, then MASTER)",
        "G1 - Entering MASTER state",
        &mut seen,
        &mut fifo_seen,
    );
    for s in [&k, &r] {
        lab.signal(s.pid, "TERM");
        assert!(lab.wait_exit(s.pid, T), "{} did not stop", s.ns);
    }
    std::thread::sleep(Duration::from_secs(3));
    let (km, rm) = (mails(&k.mail_dir), mails(&r.mail_dir));
    let (k_stop, r_stop) = (km[seen[0]..].to_vec(), rm[seen[1]..].to_vec());

    let dump = |m: &[Mail]| {
        m.iter()
            .map(|m| {
                format!(
                    "  {}\n      {}",
                    m.subject,
                    m.body.replace('\n', "\n      ")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    for (name, km, rm) in &steps {
        assert_eq!(
            subjects(rm),
            subjects(km),
            "step {name}: subjects differ\n--- keepalived:\n{}\n--- rampart:\n{}\n--- keepalived log:\n{}\n--- rampart log:\n{}",
            dump(km),
            dump(rm),
            logs(&k),
            logs(&r)
        );
        for (k, r) in km.iter().zip(rm) {
            assert_eq!(r, k, "step {name}: mail {:?} differs", k.subject);
        }
    }
    // The notify fifo: keepalived's lines, step by step (sorted within a step: see above).
    for (name, kf, rf) in &fifo_steps {
        assert_eq!(
            rf, kf,
            "step {name}: vrrp_notify_fifo lines differ (rampart left, keepalived right)"
        );
    }
    let (kf, rf) = (fifo_lines(&k.fifo_out), fifo_lines(&r.fifo_out));
    let (mut kf, mut rf) = (kf[fifo_seen[0]..].to_vec(), rf[fifo_seen[1]..].to_vec());
    kf.sort();
    rf.sort();
    // At SIGTERM no line from keepalived 2.2.7 reaches the reader; rampart writes the STOP
    // states (keepalived's documented vocabulary) before it stops the reader.
    for l in &kf {
        assert!(
            rf.contains(l),
            "SIGTERM: keepalived wrote {l:?}, rampart did not"
        );
    }
    let extra: Vec<&String> = rf.iter().filter(|l| !kf.contains(l)).collect();
    assert_eq!(
        extra,
        vec![
            "GROUP \"G1\" STOP 0",
            "INSTANCE \"VI_1\" STOP 100",
            "INSTANCE \"VI_2\" STOP 100"
        ],
        "SIGTERM: rampart's extra fifo lines"
    );

    // SIGTERM: keepalived 2.2.7 queues its "Stopping" alerts but exits before sending them
    // (nothing arrives); rampart flushes its queue at exit. Whatever keepalived did send
    // rampart sends too, and rampart's extra mails are exactly the Stopping ones.
    for m in &k_stop {
        assert!(
            r_stop.contains(m),
            "SIGTERM: keepalived mailed {:?}, rampart did not",
            m.subject
        );
    }
    let mut extra: Vec<&str> = r_stop
        .iter()
        .filter(|m| !k_stop.contains(m))
        .map(|m| m.subject.as_str())
        .collect();
    extra.sort();
    assert_eq!(
        extra,
        vec![
            "[ORACLE] VRRP Group G1 - Stopping",
            "[ORACLE] VRRP Instance VI_1 - Stopping",
            "[ORACLE] VRRP Instance VI_2 - Stopping",
        ],
        "SIGTERM: keepalived sent {:?}\n{}",
        subjects(&k_stop),
        logs(&k)
    );
}
