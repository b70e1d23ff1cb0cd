//! Where log lines go: the console (text or `--log-format json`), journald's native protocol
//! when systemd connected our stderr to the journal, syslog (keepalived's default, `-S`
//! facility, off with `-G`), and a file (`-g`).
//!
//! The journal and syslog writers are small: a datagram per event to a unix socket. The
//! pure parts ([`journal_datagram`], [`syslog_datagram`], [`journal_stream_matches`]) are
//! unit-tested; `tests/ops_logging.rs` checks a daemon's datagrams on a socket it binds.

use super::DaemonOpts;
use std::fmt::Write as _;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::sync::Mutex;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;

/// journald's native socket; `RAMPART_JOURNAL_SOCKET` overrides it (tests).
pub const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";
/// syslog's socket; `RAMPART_SYSLOG_SOCKET` overrides it (tests).
pub const SYSLOG_SOCKET: &str = "/dev/log";

/// `-S/--log-facility`: keepalived's accepted forms, as syslog facility numbers.
pub fn parse_facility(s: &str) -> Result<u8, String> {
    let local = |n: u8| 16 + n;
    match s {
        "user" => Ok(1),
        "daemon" => Ok(3),
        _ => {
            let n = s.strip_prefix("local").unwrap_or(s);
            match n.parse::<u8>() {
                Ok(n) if n <= 7 => Ok(local(n)),
                _ => Err(format!(
                    "invalid log facility `{s}`: expected 0-7, local0-local7, user or daemon"
                )),
            }
        }
    }
}

/// Does `JOURNAL_STREAM` ("DEV:INODE", set by systemd when stdout/stderr go to the journal)
/// name the file our stderr is? Only then is stderr the journal: a child that inherited the
/// variable but had its stderr redirected must not switch to the journal.
pub fn journal_stream_matches(journal_stream: Option<&str>, stderr: Option<(u64, u64)>) -> bool {
    let (Some(var), Some((dev, ino))) = (journal_stream, stderr) else {
        return false;
    };
    let Some((d, i)) = var.split_once(':') else {
        return false;
    };
    d.parse::<u64>().ok() == Some(dev) && i.parse::<u64>().ok() == Some(ino)
}

fn stderr_dev_ino() -> Option<(u64, u64)> {
    let st = nix::sys::stat::fstat(std::io::stderr()).ok()?;
    Some((st.st_dev, st.st_ino))
}

/// Is the daemon's stderr the journal (run by systemd)?
pub fn stderr_is_journal() -> bool {
    journal_stream_matches(
        std::env::var("JOURNAL_STREAM").ok().as_deref(),
        stderr_dev_ino(),
    )
}

/// syslog severity of a tracing level (also journald's PRIORITY=).
pub fn priority(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        Level::DEBUG | Level::TRACE => 7,
    }
}

/// One event: its message and its other fields, in order.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Record {
    pub message: String,
    pub fields: Vec<(String, String)>,
}

impl Visit for Record {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            self.fields
                .push((field.name().to_string(), format!("{value:?}")));
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            self.fields
                .push((field.name().to_string(), value.to_string()));
        }
    }
}

/// A journal field name from a tracing field name: upper case, `[A-Z0-9_]`, not starting
/// with `_` (reserved for journald's trusted fields) or a digit; None if nothing is left.
pub fn journal_field_name(name: &str) -> Option<String> {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    while out.starts_with('_') {
        out.remove(0);
    }
    if out.is_empty() {
        return None;
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'F');
    }
    out.truncate(64);
    Some(out)
}

fn put_field(buf: &mut Vec<u8>, name: &str, value: &str) {
    buf.extend_from_slice(name.as_bytes());
    if value.contains('\n') {
        // Binary-safe form: NAME\n, little-endian u64 length, value, \n.
        buf.push(b'\n');
        buf.extend_from_slice(&(value.len() as u64).to_le_bytes());
        buf.extend_from_slice(value.as_bytes());
    } else {
        buf.push(b'=');
        buf.extend_from_slice(value.as_bytes());
    }
    buf.push(b'\n');
}

/// A native-protocol journal datagram (systemd's "Native Journal Protocol"): MESSAGE,
/// PRIORITY, SYSLOG_FACILITY (`-S`), SYSLOG_IDENTIFIER, TARGET and one upper-cased field per
/// event field (`instance` → `INSTANCE=`).
pub fn journal_datagram(level: &Level, facility: u8, target: &str, rec: &Record) -> Vec<u8> {
    let mut buf = Vec::with_capacity(128 + rec.message.len());
    put_field(&mut buf, "MESSAGE", &rec.message);
    put_field(&mut buf, "PRIORITY", &priority(level).to_string());
    put_field(&mut buf, "SYSLOG_FACILITY", &facility.to_string());
    put_field(&mut buf, "SYSLOG_IDENTIFIER", "rampart");
    put_field(&mut buf, "TARGET", target);
    for (k, v) in &rec.fields {
        if let Some(name) = journal_field_name(k) {
            // An event field named like one of ours (a VRRP `priority`) is kept as EVENT_*.
            let name = if matches!(
                name.as_str(),
                "MESSAGE" | "PRIORITY" | "SYSLOG_FACILITY" | "SYSLOG_IDENTIFIER" | "TARGET"
            ) {
                format!("EVENT_{name}")
            } else {
                name
            };
            put_field(&mut buf, &name, v);
        }
    }
    buf
}

/// A syslog datagram as glibc's syslog(3) sends it to /dev/log: `<PRI>rampart[PID]: MSG`
/// (rsyslog and journald add the time stamp); fields follow the message as `key=value`.
pub fn syslog_datagram(facility: u8, level: &Level, pid: u32, rec: &Record) -> Vec<u8> {
    let mut line = format!(
        "<{}>rampart[{pid}]: {}",
        facility as u32 * 8 + priority(level) as u32,
        rec.message
    );
    for (k, v) in &rec.fields {
        let _ = write!(line, " {k}={v}");
    }
    line.into_bytes()
}

enum Sink {
    Journal { path: PathBuf, facility: u8 },
    Syslog { path: PathBuf, facility: u8 },
}

/// A tracing layer sending each event as one datagram (journal or syslog). Send errors are
/// dropped: there is nowhere else to report them, and logging must never block the engines.
struct DatagramLayer {
    sink: Sink,
    socket: Mutex<Option<UnixDatagram>>,
}

impl DatagramLayer {
    fn new(sink: Sink) -> DatagramLayer {
        DatagramLayer {
            sink,
            socket: Mutex::new(UnixDatagram::unbound().ok()),
        }
    }
}

impl<S: Subscriber> Layer<S> for DatagramLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut rec = Record::default();
        event.record(&mut rec);
        let meta = event.metadata();
        let (bytes, path) = match &self.sink {
            Sink::Journal { path, facility } => (
                journal_datagram(meta.level(), *facility, meta.target(), &rec),
                path,
            ),
            Sink::Syslog { path, facility } => (
                syslog_datagram(*facility, meta.level(), std::process::id(), &rec),
                path,
            ),
        };
        if let Ok(guard) = self.socket.lock() {
            if let Some(sock) = guard.as_ref() {
                let _ = sock.send_to(&bytes, path);
            }
        }
    }
}

/// The destinations chosen for a daemon's options and environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destinations {
    pub console: bool,
    pub journal: bool,
    pub syslog: Option<u8>,
    pub file: Option<PathBuf>,
}

/// Pure: where logs go.
/// - stderr is the journal (systemd) and no `--log-format json`: the journal, natively, and
///   nothing else (the console would be a second copy in the journal, syslog a third);
/// - otherwise the console when in the foreground (`-n`), with `-l`, or with json;
///   syslog unless `-G`; the file of `-g`.
pub fn destinations(opts: &DaemonOpts, journal: bool) -> Destinations {
    if journal && !opts.log_json {
        return Destinations {
            console: false,
            journal: true,
            syslog: None,
            file: opts.log_file.clone(),
        };
    }
    Destinations {
        console: opts.log_console || opts.dont_fork || opts.log_json,
        journal: false,
        syslog: (!opts.no_syslog).then_some(opts.log_facility.unwrap_or(3)),
        file: opts.log_file.clone(),
    }
}

pub fn init(opts: &DaemonOpts) {
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::prelude::*;
    let d = destinations(opts, stderr_is_journal());
    let default = if opts.log_detail { "debug" } else { "info" };
    let filter = EnvFilter::try_from_env("RAMPART_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let console_text = (d.console && !opts.log_json)
        .then(|| tracing_subscriber::fmt::layer().with_writer(std::io::stderr));
    let console_json = (d.console && opts.log_json).then(|| {
        tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
    });
    let env_path = |var: &str, default: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(default))
    };
    let journal = d.journal.then(|| {
        DatagramLayer::new(Sink::Journal {
            path: env_path("RAMPART_JOURNAL_SOCKET", JOURNAL_SOCKET),
            facility: opts.log_facility.unwrap_or(3),
        })
    });
    let syslog = d.syslog.map(|facility| {
        DatagramLayer::new(Sink::Syslog {
            path: env_path("RAMPART_SYSLOG_SOCKET", SYSLOG_SOCKET),
            facility,
        })
    });
    let mut file_error = None;
    let file = d.file.as_ref().and_then(|p| {
        match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
        {
            Ok(f) => Some(
                tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_writer(Mutex::new(f)),
            ),
            Err(e) => {
                file_error = Some(format!("cannot open log file {}: {e}", p.display()));
                None
            }
        }
    });
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(console_text)
        .with(console_json)
        .with(journal)
        .with(syslog)
        .with(file)
        .try_init();
    if let Some(e) = file_error {
        tracing::error!("{e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_stream_must_match_stderr() {
        assert!(journal_stream_matches(Some("8:12345"), Some((8, 12345))));
        assert!(!journal_stream_matches(Some("8:12345"), Some((8, 12346))));
        assert!(!journal_stream_matches(Some("garbage"), Some((8, 12345))));
        assert!(!journal_stream_matches(None, Some((8, 12345))));
    }

    #[test]
    fn journal_datagram_golden() {
        let rec = Record {
            message: "VRRP instance VI_1: BACKUP -> MASTER".into(),
            fields: vec![
                ("instance".into(), "VI_1".into()),
                ("state".into(), "MASTER".into()),
                ("_pid".into(), "spoof".into()),
                ("priority".into(), "100".into()),
            ],
        };
        let d = journal_datagram(&Level::WARN, 3, "vrrp", &rec);
        assert_eq!(
            String::from_utf8(d).unwrap(),
            "MESSAGE=VRRP instance VI_1: BACKUP -> MASTER\nPRIORITY=4\nSYSLOG_FACILITY=3\nSYSLOG_IDENTIFIER=rampart\n\
             TARGET=vrrp\nINSTANCE=VI_1\nSTATE=MASTER\nPID=spoof\nEVENT_PRIORITY=100\n"
        );
    }

    #[test]
    fn multi_line_values_use_the_length_form() {
        let rec = Record {
            message: "a\nb".into(),
            fields: vec![],
        };
        let d = journal_datagram(&Level::ERROR, 3, "t", &rec);
        let mut want = b"MESSAGE\n".to_vec();
        want.extend_from_slice(&3u64.to_le_bytes());
        want.extend_from_slice(b"a\nb\nPRIORITY=3\n");
        assert!(d.starts_with(&want), "{d:?}");
    }

    #[test]
    fn field_names() {
        assert_eq!(
            journal_field_name("old_state").as_deref(),
            Some("OLD_STATE")
        );
        assert_eq!(journal_field_name("_x").as_deref(), Some("X"));
        assert_eq!(journal_field_name("1a").as_deref(), Some("F1A"));
        assert_eq!(journal_field_name("__").as_deref(), None);
    }

    #[test]
    fn syslog_priority_and_facility() {
        let rec = Record {
            message: "hello".into(),
            fields: vec![("instance".into(), "VI_1".into())],
        };
        let d = syslog_datagram(3, &Level::INFO, 42, &rec);
        assert_eq!(d, b"<30>rampart[42]: hello instance=VI_1");
        assert_eq!(parse_facility("local7"), Ok(23));
        assert_eq!(parse_facility("0"), Ok(16));
        assert_eq!(parse_facility("daemon"), Ok(3));
        assert!(
            parse_facility("local8")
                .unwrap_err()
                .contains("local0-local7")
        );
    }

    #[test]
    fn destination_rules() {
        let mut o = DaemonOpts::default();
        let d = destinations(&o, true);
        assert!(d.journal && !d.console && d.syslog.is_none());
        o.dont_fork = true;
        let d = destinations(&o, false);
        assert!(d.console && !d.journal && d.syslog == Some(3));
        o.no_syslog = true;
        o.dont_fork = false;
        let d = destinations(&o, false);
        assert!(!d.console && d.syslog.is_none());
        o.log_json = true;
        assert!(!destinations(&o, true).journal);
    }
}
