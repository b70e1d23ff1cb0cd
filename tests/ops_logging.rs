//! Logging destinations through the real daemon: with systemd's `JOURNAL_STREAM` naming our
//! stderr, rampart speaks journald's native protocol (checked on a unix datagram socket the
//! test binds, in place of /run/systemd/journal/socket: journald does not run here) with
//! PRIORITY= from the level and structured fields (INSTANCE=, STATE=, OLD_STATE=); with a
//! JOURNAL_STREAM that does not match stderr, it logs to the console and to syslog instead.
//!
//! Run as root: `cargo test --test ops_logging`.

#[path = "common/netns.rs"]
mod netns;
#[path = "common/netns_vrrp.rs"]
mod netns_vrrp;

use netns::{Lab, wait_for};
use netns_vrrp::{Inst, conf};
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

/// Parse one native-protocol datagram (both the `K=V\n` and the length-prefixed form).
fn parse_native(mut b: &[u8]) -> HashMap<String, String> {
    let mut out = HashMap::new();
    while !b.is_empty() {
        let nl = b
            .iter()
            .position(|&c| c == b'\n')
            .expect("field ends with a newline");
        let line = &b[..nl];
        if let Some(eq) = line.iter().position(|&c| c == b'=') {
            out.insert(
                String::from_utf8_lossy(&line[..eq]).into_owned(),
                String::from_utf8_lossy(&line[eq + 1..]).into_owned(),
            );
            b = &b[nl + 1..];
        } else {
            let name = String::from_utf8_lossy(line).into_owned();
            let len = u64::from_le_bytes(b[nl + 1..nl + 9].try_into().unwrap()) as usize;
            let value = &b[nl + 9..nl + 9 + len];
            out.insert(name, String::from_utf8_lossy(value).into_owned());
            b = &b[nl + 9 + len + 1..];
        }
    }
    out
}

fn drain(sock: &UnixDatagram) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65536];
    while let Ok(n) = sock.recv(&mut buf) {
        out.push(buf[..n].to_vec());
    }
    out
}

fn start(
    lab: &mut Lab,
    ns: &str,
    label: &str,
    vrid: u8,
    journal_stream: &str,
) -> (u32, std::path::PathBuf) {
    let conf_path = lab.path(&format!("{label}.conf"));
    std::fs::write(
        &conf_path,
        // Each daemon its own VRID: both become MASTER (one LAN, no election between them).
        conf(
            &[Inst::new(
                "VI_1",
                "eth0",
                vrid,
                100,
                &[&format!("10.71.0.{vrid}/24")],
            )],
            &[],
        ),
    )
    .unwrap();
    let log = lab.path(&format!("{label}.log"));
    let js = lab.path(&format!("{label}.journal"));
    let sl = lab.path(&format!("{label}.syslog"));
    let sock = lab.path(&format!("{label}.sock"));
    let stream = if journal_stream == "match" {
        // Lab::spawn truncates (keeps) this file and makes it stdout/stderr.
        std::fs::File::create(&log).unwrap();
        let m = std::fs::metadata(&log).unwrap();
        format!("{}:{}", m.dev(), m.ino())
    } else {
        journal_stream.to_string()
    };
    let bin = env!("CARGO_BIN_EXE_rampart");
    let args = [
        "env".to_string(),
        format!("JOURNAL_STREAM={stream}"),
        format!("RAMPART_JOURNAL_SOCKET={}", js.display()),
        format!("RAMPART_SYSLOG_SOCKET={}", sl.display()),
        bin.to_string(),
        "-n".into(),
        "-P".into(),
        "-f".into(),
        conf_path.display().to_string(),
        "--control-socket".into(),
        sock.display().to_string(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let pid = lab.spawn(label, ns, &args, &log);
    (pid, log)
}

#[test]
fn journald_native_when_stderr_is_the_journal_else_console_and_syslog() {
    if !netns::available() {
        return;
    }
    let mut lab = Lab::new("log");
    let br = lab.lan("br");
    let a = lab.ns("a");
    let b = lab.ns("b");
    lab.attach(&a, "eth0", &br, &["10.71.0.1/24"]);
    lab.attach(&b, "eth0", &br, &["10.71.0.2/24"]);
    let bind = |name: &str| {
        let s = UnixDatagram::bind(lab.path(name)).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        s
    };
    let (ja, sa, jb, sb) = (
        bind("a.journal"),
        bind("a.syslog"),
        bind("b.journal"),
        bind("b.syslog"),
    );
    let (_pa, log_a) = start(&mut lab, &a, "a", 71, "match");
    let (_pb, log_b) = start(&mut lab, &b, "b", 72, "1:2");

    // a: journal fields, nothing on the console or in syslog.
    let mut got: Vec<HashMap<String, String>> = Vec::new();
    let master = wait_for(Duration::from_secs(20), || {
        got.extend(drain(&ja).iter().map(|d| parse_native(d)));
        got.iter()
            .find(|f| f.get("STATE").map(String::as_str) == Some("MASTER"))
            .cloned()
    })
    .unwrap_or_else(|| panic!("no MASTER transition in the journal: {got:#?}"));
    assert_eq!(master["INSTANCE"], "VI_1");
    assert_eq!(master["OLD_STATE"], "BACKUP");
    assert_eq!(master["PRIORITY"], "6");
    assert_eq!(
        master["EVENT_PRIORITY"], "100",
        "the VRRP priority, renamed"
    );
    assert_eq!(master["SYSLOG_IDENTIFIER"], "rampart");
    assert_eq!(
        master["SYSLOG_FACILITY"], "3",
        "daemon, keepalived's default"
    );
    assert_eq!(master["TARGET"], "vrrp");
    assert!(
        master["MESSAGE"].contains("VI_1: BACKUP -> MASTER"),
        "{master:?}"
    );
    assert!(
        got.iter().any(|f| f["MESSAGE"].contains("started with")),
        "{got:#?}"
    );
    assert!(
        drain(&sa).is_empty(),
        "no syslog copy when journald gets it natively"
    );
    let console_a = std::fs::read_to_string(&log_a).unwrap();
    assert!(
        !console_a.contains("started with"),
        "no console copy: {console_a}"
    );

    // b: JOURNAL_STREAM inherited but stderr elsewhere: console and syslog, no journal.
    let line = wait_for(Duration::from_secs(10), || {
        drain(&sb)
            .into_iter()
            .map(|d| String::from_utf8_lossy(&d).into_owned())
            .find(|l| l.contains("started with"))
    })
    .expect("syslog datagram");
    assert!(line.starts_with("<30>rampart["), "daemon.info: {line}");
    assert!(drain(&jb).is_empty());
    let console_b = std::fs::read_to_string(&log_b).unwrap();
    assert!(console_b.contains("started with"), "{console_b}");
}
