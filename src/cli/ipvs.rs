//! `rampart ipvs`: ipvsadm's options and output formats over rampart's netlink client.
//!
//! Differences from ipvsadm, all deliberate (docs/ipvs.md; exit statuses and table effects are
//! ipvsadm's):
//! - `-R` sends the whole file as pipelined batches (many requests per `sendmsg`) instead of
//!   one socket and one family lookup per line, and a failing line is reported with its line
//!   number; as in ipvsadm the rest still run and the exit status is the last line's.
//! - Messages name the program as it was called (`rampart ipvs`, or argv[0] through a link
//!   named ipvsadm).
//! - `-h`/`-v` and option errors do not need the kernel.

use crate::ipvs::client::{Client, IpvsError, NetlinkTransport, Transport};
use crate::ipvs::codec::{Family, IpvsMessage, Proto};
use crate::ipvs::convert::table_from_dump;
use crate::ipvs::format::{self, Format, ListEntry, Names};
use crate::ipvs::ipvsadm::{self, Command, Invocation, Parsed, Resolver};
use crate::ipvs::procfs;
use crate::ipvs::reconcile::{apply, reconcile};
use crate::ipvs::table::DesiredTable;
use std::collections::BTreeSet;
use std::ffi::{CStr, CString, OsString};
use std::io::{BufRead, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::process::ExitCode;

/// The name messages and `-h` give the command (ipvsadm prints its argv[0]): what the user
/// typed, `rampart ipvs` for the sub-command; a link named ipvsadm gives its own argv[0].
const PROGRAM: &str = "rampart ipvs";

pub fn main(args: Vec<OsString>) -> ExitCode {
    main_as(PROGRAM, args)
}

/// [`main`] with the program name messages use.
pub fn main_as(program: &str, args: Vec<OsString>) -> ExitCode {
    let args: Vec<String> = args
        .into_iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let mut out = std::io::stdout().lock();
    let code = run_as(program, &args, &mut out);
    let _ = out.flush();
    ExitCode::from(code)
}

/// `rampart ipvs ARGS` or `ipvsadm ARGS` (a link named ipvsadm): run it; anything else: None.
pub fn fast_dispatch(mut argv: Vec<OsString>) -> Option<ExitCode> {
    let called_as_ipvsadm = argv
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .is_some_and(|n| n == "ipvsadm");
    if called_as_ipvsadm {
        let program = argv.remove(0).to_string_lossy().into_owned();
        return Some(main_as(&program, argv));
    }
    match argv.get(1).and_then(|a| a.to_str()) {
        Some("ipvs") => Some(main(argv.split_off(2))),
        Some("ipvsadm") => Some(main_as("rampart ipvsadm", argv.split_off(2))),
        _ => None,
    }
}

fn connect() -> Result<Client<NetlinkTransport>, u8> {
    Client::connect().map_err(|e| {
        match e {
            IpvsError::NoIpvs => eprintln!(
                "Can't initialize ipvs: {e}\nAre you sure that IP Virtual Server is built in the kernel or as module?"
            ),
            e => eprintln!("Can't initialize ipvs: {e}"),
        }
        2
    })
}

/// Run one ipvsadm command line; returns the exit status.
pub fn run(args: &[String], out: &mut dyn Write) -> u8 {
    run_as(PROGRAM, args, out)
}

/// [`run`] with the program name messages use.
pub fn run_as(program: &str, args: &[String], out: &mut dyn Write) -> u8 {
    if args.first().map(String::as_str) == Some("--reconcile") {
        let desired = match reconcile_args(args) {
            Ok(d) => d,
            Err(code) => return code,
        };
        let mut client = match connect() {
            Ok(c) => c,
            Err(code) => return code,
        };
        return reconcile_cmd(&mut client, &desired.0, desired.1, out);
    }
    if args.is_empty() {
        let mut client = match connect() {
            Ok(c) => c,
            Err(code) => return code,
        };
        return list_all(&mut client, Format::default(), out, read_proc_ip_vs);
    }
    let inv = match ipvsadm::parse(program, args, &LibcResolver) {
        Ok(Parsed::Help) => {
            let _ = out.write_all(ipvsadm::usage(program).as_bytes());
            return 0;
        }
        Ok(Parsed::Version) => {
            let _ = out.write_all(ipvsadm::VERSION_LINE.as_bytes());
            return 0;
        }
        Ok(Parsed::Run(inv)) => inv,
        Err(f) => {
            eprintln!("{}", f.message);
            return f.code;
        }
    };
    let mut client = match connect() {
        Ok(c) => c,
        Err(code) => return code,
    };
    execute(
        program,
        &mut client,
        &inv,
        &mut std::io::stdin().lock(),
        out,
        read_proc_ip_vs,
    )
}

/// Run one command line against an already connected client (tests use the fake kernel),
/// with netlink as the only source.
pub fn run_with<T: Transport>(
    client: &mut Client<T>,
    args: &[String],
    stdin: &mut dyn BufRead,
    out: &mut dyn Write,
) -> u8 {
    run_with_proc(client, args, stdin, out, no_proc)
}

/// [`run_with`] with a stand-in for `/proc/net/ip_vs`.
pub fn run_with_proc<T: Transport>(
    client: &mut Client<T>,
    args: &[String],
    stdin: &mut dyn BufRead,
    out: &mut dyn Write,
    proc: ProcRead,
) -> u8 {
    if args.first().map(String::as_str) == Some("--reconcile") {
        return match reconcile_args(args) {
            Ok((desired, dry)) => reconcile_cmd(client, &desired, dry, out),
            Err(code) => code,
        };
    }
    if args.is_empty() {
        return list_all(client, Format::default(), out, proc);
    }
    match ipvsadm::parse(PROGRAM, args, &LibcResolver) {
        Ok(Parsed::Help) => {
            let _ = out.write_all(ipvsadm::usage(PROGRAM).as_bytes());
            0
        }
        Ok(Parsed::Version) => {
            let _ = out.write_all(ipvsadm::VERSION_LINE.as_bytes());
            0
        }
        Ok(Parsed::Run(inv)) => execute(PROGRAM, client, &inv, stdin, out, proc),
        Err(f) => {
            eprintln!("{}", f.message);
            f.code
        }
    }
}

/// Where `/proc/net/ip_vs` comes from (None: not available, use netlink only).
pub type ProcRead = fn() -> Option<String>;

fn read_proc_ip_vs() -> Option<String> {
    std::fs::read_to_string("/proc/net/ip_vs").ok()
}

fn no_proc() -> Option<String> {
    None
}

fn execute<T: Transport>(
    program: &str,
    client: &mut Client<T>,
    inv: &Invocation,
    stdin: &mut dyn BufRead,
    out: &mut dyn Write,
    proc: ProcRead,
) -> u8 {
    match inv.cmd {
        Command::List => {
            if inv.wants_connections() {
                list_conn(inv.format, out)
            } else if inv.has_service() {
                list_service(client, inv, out)
            } else if inv.wants_timeout() {
                match client.timeouts() {
                    Ok((a, b, c)) => {
                        let _ = out.write_all(format::timeouts_line(a, b, c).as_bytes());
                        0
                    }
                    Err(e) => report(inv.cmd, &e),
                }
            } else if inv.wants_daemon() {
                match client.daemons() {
                    Ok(d) => {
                        let _ = out.write_all(format::daemons(&d).as_bytes());
                        0
                    }
                    Err(e) => report(inv.cmd, &e),
                }
            } else {
                list_all(client, inv.format, out, proc)
            }
        }
        Command::Save => list_all(client, inv.format, out, proc),
        Command::Restore => restore_as(program, client, stdin, out, proc),
        _ => match inv.mutation() {
            Some(m) => match client.execute_one(&m) {
                Ok(()) => 0,
                Err(e) => report(inv.cmd, &e),
            },
            None => 0,
        },
    }
}

fn report(cmd: Command, e: &IpvsError) -> u8 {
    match e.errno() {
        Some(errno) => eprintln!("{}", ipvsadm::strerror(cmd, errno)),
        None => eprintln!("{e}"),
    }
    255
}

fn list_all<T: Transport>(
    client: &mut Client<T>,
    f: Format,
    out: &mut dyn Write,
    proc: ProcRead,
) -> u8 {
    let version = if f.rule {
        None
    } else {
        match client.info() {
            Ok(v) => Some(v),
            Err(e) => return report(Command::List, &e),
        }
    };
    let cmd = if f.rule { Command::Save } else { Command::List };
    let services = match client.services() {
        Ok(s) => s,
        Err(e) => return report(cmd, &e),
    };
    // Destinations of the whole table from one read of /proc/net/ip_vs when the format needs
    // nothing the file lacks; netlink (one dump per service) for the rest.
    let plain = !(f.stats || f.rate || f.thresholds || f.persistent_conn || f.tun_info);
    let from_proc = match plain.then(proc).flatten() {
        Some(text) => procfs::merge_listing(&services, procfs::parse(&text), f.rule),
        None => vec![None; services.len()],
    };
    let mut entries: Vec<ListEntry> = Vec::with_capacity(services.len());
    for (svc, dests) in services.into_iter().zip(from_proc) {
        let dests = match dests {
            Some(d) => d,
            None => match client.dests(&svc) {
                Ok(d) => d,
                Err(e) => return report(cmd, &e),
            },
        };
        entries.push(ListEntry { svc, dests });
    }
    let names: &dyn Names = if f.numeric {
        &format::NumericNames
    } else {
        &LibcNames
    };
    let text = format::list_all(&entries, version, f, names);
    let _ = out.write_all(text.as_bytes());
    0
}

fn list_service<T: Transport>(client: &mut Client<T>, inv: &Invocation, out: &mut dyn Write) -> u8 {
    let key = inv.svc.key_attrs();
    let svc = match client.service(&key) {
        Ok(Some(s)) => s,
        Ok(None) => {
            eprintln!("{}", ipvsadm::strerror(Command::List, libc::ESRCH));
            return 1;
        }
        Err(e) => {
            report(Command::List, &e);
            return 1;
        }
    };
    let dests = match client.dests(&svc) {
        Ok(d) => d,
        Err(e) => {
            report(Command::List, &e);
            return 1;
        }
    };
    let names: &dyn Names = if inv.format.numeric {
        &format::NumericNames
    } else {
        &LibcNames
    };
    let text = format::list_one(&ListEntry { svc, dests }, inv.format, names);
    let _ = out.write_all(text.as_bytes());
    0
}

/// Requests collected by `-R` and where they came from (line number, command).
#[derive(Default)]
struct Pending {
    msgs: Vec<IpvsMessage>,
    origin: Vec<(usize, Command)>,
}

/// `-R`: every line of stdin is an ipvsadm command line. Mutations are collected and sent in
/// pipelined batches; a listing line first flushes what is pending so output order matches.
pub fn restore<T: Transport>(
    client: &mut Client<T>,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
    proc: ProcRead,
) -> u8 {
    restore_as(PROGRAM, client, input, out, proc)
}

/// [`restore`] with the program name messages use.
pub fn restore_as<T: Transport>(
    program: &str,
    client: &mut Client<T>,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
    proc: ProcRead,
) -> u8 {
    let mut pending = Pending::default();
    // ipvsadm -R exits with the status of the last line it ran (a failing line in the middle
    // does not count once a later one succeeds); `Last::Pending` is a mutation whose answer
    // has not been read yet.
    let mut last = Last::Done(0);
    let flush_at = client.transport().batch_limit().max(1);
    let flush = |client: &mut Client<T>, pending: &mut Pending, last: &mut Last| {
        if pending.msgs.is_empty() {
            return;
        }
        let last_pending = matches!(last, Last::Pending);
        match client.execute(&pending.msgs) {
            Ok(results) => {
                let mut last_status = 0;
                for ((line, cmd), r) in pending.origin.iter().zip(results) {
                    last_status = match r {
                        Ok(()) => 0,
                        Err(errno) => {
                            eprintln!("line {line}: {}", ipvsadm::strerror(*cmd, errno));
                            255
                        }
                    };
                }
                if last_pending {
                    *last = Last::Done(last_status);
                }
            }
            Err(e) => {
                eprintln!("{e}");
                *last = Last::Done(255);
            }
        }
        pending.msgs.clear();
        pending.origin.clear();
    };
    // One line buffer for the whole input (a restore file has thousands of lines).
    let mut buf = String::new();
    let mut line_no = 0usize;
    loop {
        buf.clear();
        line_no += 1;
        match input.read_line(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                eprintln!("reading the rules from stdin failed at line {line_no}: {e}");
                last = Last::Done(255);
                break;
            }
        }
        let words = ipvsadm::restore_line_words(&buf);
        if words.is_empty() {
            continue;
        }
        let inv = match ipvsadm::parse(program, &words, &LibcResolver) {
            Ok(Parsed::Run(inv)) => inv,
            // ipvsadm prints the help or version and exits 0 (what came before is applied).
            Ok(Parsed::Help) => {
                flush(client, &mut pending, &mut last);
                let _ = out.write_all(ipvsadm::usage(program).as_bytes());
                return 0;
            }
            Ok(Parsed::Version) => {
                flush(client, &mut pending, &mut last);
                let _ = out.write_all(ipvsadm::VERSION_LINE.as_bytes());
                return 0;
            }
            Err(f) => {
                // ipvsadm stops at the first bad line; what came before is applied.
                flush(client, &mut pending, &mut last);
                eprintln!("line {line_no}: {}", f.message);
                return f.code;
            }
        };
        match inv.cmd {
            Command::Restore => {
                flush(client, &mut pending, &mut last);
                eprintln!("Try `{program} -h' or '{program} --help' for more information.");
                return 255;
            }
            Command::List | Command::Save => {
                flush(client, &mut pending, &mut last);
                let mut no_input = std::io::empty();
                let status = execute(program, client, &inv, &mut no_input, out, proc);
                // A listing that fails ends ipvsadm (its listings exit through fail()).
                if status != 0 {
                    return status;
                }
                last = Last::Done(0);
            }
            _ => {
                if let Some(m) = inv.mutation() {
                    pending.msgs.push(m);
                    pending.origin.push((line_no, inv.cmd));
                    last = Last::Pending;
                    // Send whenever a full datagram's worth is pending: memory stays small
                    // (messages are large structs) and nothing is reordered.
                    if pending.msgs.len() >= flush_at {
                        flush(client, &mut pending, &mut last);
                    }
                }
            }
        }
    }
    flush(client, &mut pending, &mut last);
    match last {
        Last::Done(status) => status,
        Last::Pending => 0,
    }
}

/// The status of the last line `-R` ran.
#[derive(Clone, Copy)]
enum Last {
    Done(u8),
    Pending,
}

/// `-L -c`: /proc/net/ip_vs_conn reformatted as ipvsadm does.
fn list_conn(f: Format, out: &mut dyn Write) -> u8 {
    let path = "/proc/net/ip_vs_conn";
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(_) => {
            eprintln!("cannot open file {path}");
            return 1;
        }
    };
    let mut lines = text.lines();
    if lines.next().is_none() {
        eprintln!("unexpected input from {path}");
        return 1;
    }
    let mut s = String::from("IPVS connection entries\n");
    if f.persistent_conn {
        s.push_str(&format!(
            "pro expire {:<11} {:<18} {:<18} {:<18} {:<16} {}\n",
            "state", "source", "virtual", "destination", "pe name", "pe_data"
        ));
    } else {
        s.push_str(&format!(
            "pro expire {:<11} {:<18} {:<18} {}\n",
            "state", "source", "virtual", "destination"
        ));
    }
    let names: &dyn Names = if f.numeric {
        &format::NumericNames
    } else {
        &LibcNames
    };
    for l in lines {
        s.push_str(&conn_line(l, f, names));
    }
    let _ = out.write_all(s.as_bytes());
    0
}

fn conn_addr(text: &str) -> (Family, [u8; 16]) {
    let mut raw = [0u8; 16];
    if let Ok(a) = text.parse::<std::net::Ipv6Addr>() {
        raw = a.octets();
        return (Family::Inet6, raw);
    }
    if let Ok(a) = text.parse::<Ipv4Addr>() {
        raw[..4].copy_from_slice(&a.octets());
        return (Family::Inet, raw);
    }
    let v = u32::from_str_radix(text, 16).unwrap_or(0);
    raw[..4].copy_from_slice(&v.to_be_bytes());
    (Family::Inet, raw)
}

fn conn_line(line: &str, f: Format, names: &dyn Names) -> String {
    let w: Vec<&str> = line.split_whitespace().collect();
    if w.len() < 9 {
        return String::new();
    }
    let proto_name = w[0];
    let proto = match proto_name {
        "TCP" => Proto::Tcp,
        "UDP" => Proto::Udp,
        "SCTP" => Proto::Sctp,
        _ => Proto::Unknown(0),
    };
    let port = |s: &str| u16::from_str_radix(s, 16).unwrap_or(0);
    let (caf, caddr) = conn_addr(w[1]);
    let (_, vaddr) = conn_addr(w[3]);
    let (daf, daddr) = conn_addr(w[5]);
    let mk =
        |af: Family, raw: &[u8; 16], p: u16| format::addrport_text(af, raw, p, proto, f, names);
    let cname = mk(caf, &caddr, port(w[2]));
    let vname = mk(caf, &vaddr, port(w[4]));
    let dname = mk(daf, &daddr, port(w[6]));
    let expires: i64 = w[8].parse().unwrap_or(0);
    let expire = format!("{:02}:{:02}", expires / 60, expires % 60);
    if f.persistent_conn && w.len() >= 11 {
        format!(
            "{:<3} {:<6} {:<11} {:<18} {:<18} {:<16} {:<18} {}\n",
            proto_name, expire, w[7], cname, vname, dname, w[9], w[10]
        )
    } else {
        format!(
            "{:<3} {:<6} {:<11} {:<18} {:<18} {}\n",
            proto_name, expire, w[7], cname, vname, dname
        )
    }
}

/// Name lookups through the C library (what ipvsadm's gethostbyaddr/getservbyport see).
pub struct LibcNames;

impl Names for LibcNames {
    fn host(&self, ip: &IpAddr) -> Option<String> {
        let sa: socket2::SockAddr = std::net::SocketAddr::new(*ip, 0).into();
        let mut host = [0 as libc::c_char; 1025];
        // SAFETY: valid sockaddr of the given length and a writable buffer of the given size.
        let rc = unsafe {
            libc::getnameinfo(
                sa.as_ptr() as *const libc::sockaddr,
                sa.len(),
                host.as_mut_ptr(),
                host.len() as libc::socklen_t,
                std::ptr::null_mut(),
                0,
                libc::NI_NAMEREQD,
            )
        };
        if rc != 0 {
            return None;
        }
        // SAFETY: getnameinfo NUL-terminates on success.
        let s = unsafe { CStr::from_ptr(host.as_ptr()) };
        Some(s.to_string_lossy().into_owned())
    }
    fn service(&self, port: u16, proto: Proto) -> Option<String> {
        let p = match proto {
            Proto::Tcp => c"tcp",
            Proto::Udp => c"udp",
            Proto::Sctp => c"sctp",
            Proto::Unknown(_) => return None,
        };
        // SAFETY: getservbyport returns NULL or a pointer to static data valid until the next
        // call; it is copied out at once (this CLI is single-threaded).
        unsafe {
            let se = libc::getservbyport((port.to_be()) as libc::c_int, p.as_ptr());
            if se.is_null() {
                return None;
            }
            Some(CStr::from_ptr((*se).s_name).to_string_lossy().into_owned())
        }
    }
}

/// Host and service name lookups for parsing (gethostbyname / getservbyname).
pub struct LibcResolver;

impl Resolver for LibcResolver {
    fn host_v4(&self, name: &str) -> Option<Ipv4Addr> {
        use std::net::ToSocketAddrs;
        (name, 0)
            .to_socket_addrs()
            .ok()?
            .find_map(|a| match a.ip() {
                IpAddr::V4(v) => Some(v),
                _ => None,
            })
    }
    fn port(&self, name: &str, proto: u16) -> Option<u16> {
        let p = match Proto::from(proto) {
            Proto::Tcp => c"tcp",
            Proto::Udp => c"udp",
            Proto::Sctp => c"sctp",
            Proto::Unknown(_) => return None,
        };
        let n = CString::new(name).ok()?;
        // SAFETY: as in `service` above.
        unsafe {
            let se = libc::getservbyname(n.as_ptr(), p.as_ptr());
            if se.is_null() {
                return None;
            }
            Some(u16::from_be((*se).s_port as u16))
        }
    }
}

/// `--reconcile FILE [--dry-run]`: the desired table from FILE (ipvsadm-save format).
fn reconcile_args(args: &[String]) -> Result<(DesiredTable, bool), u8> {
    let mut file = None;
    let mut dry = false;
    for a in &args[1..] {
        match a.as_str() {
            "--dry-run" | "-n" => dry = true,
            f if file.is_none() => file = Some(f.to_string()),
            other => {
                eprintln!("{PROGRAM} --reconcile: unexpected argument {other}");
                return Err(2);
            }
        }
    }
    let Some(file) = file else {
        eprintln!(
            "usage: {PROGRAM} --reconcile FILE [--dry-run]  (FILE in ipvsadm-save format, - for stdin)"
        );
        return Err(2);
    };
    let text = if file == "-" {
        let mut s = String::new();
        if let Err(e) = std::io::Read::read_to_string(&mut std::io::stdin(), &mut s) {
            eprintln!("{PROGRAM} --reconcile: reading stdin: {e}");
            return Err(2);
        }
        s
    } else {
        match std::fs::read_to_string(&file) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{PROGRAM} --reconcile: cannot read {file}: {e}");
                return Err(2);
            }
        }
    };
    match ipvsadm::table_from_save(&text, &LibcResolver) {
        Ok(t) => Ok((t, dry)),
        Err(e) => {
            eprintln!("{PROGRAM} --reconcile: {file}: {e}");
            Err(2)
        }
    }
}

/// Make the services in `desired` exactly so, leave all others alone; print each operation
/// (JSON, one per line) and `operations: N`, the number of requests sent.
fn reconcile_cmd<T: Transport>(
    client: &mut Client<T>,
    desired: &DesiredTable,
    dry: bool,
    out: &mut dyn Write,
) -> u8 {
    let kernel = match client.table() {
        Ok(t) => table_from_dump(&t),
        Err(e) => {
            eprintln!("{PROGRAM} --reconcile: reading the kernel table: {e}");
            return 1;
        }
    };
    let ops = reconcile(desired, &kernel, &BTreeSet::new());
    for op in &ops {
        let _ = writeln!(out, "{}", serde_json::to_string(op).unwrap_or_default());
    }
    if dry {
        let _ = writeln!(out, "operations: 0 (dry run, {} planned)", ops.len());
        return 0;
    }
    match apply(client, &ops) {
        Ok(outcomes) => {
            let sent = outcomes.len() + outcomes.iter().filter(|o| o.retried_as.is_some()).count();
            let mut status = 0;
            for o in &outcomes {
                if let Err(errno) = o.result {
                    eprintln!(
                        "{PROGRAM} --reconcile: {}: {}",
                        serde_json::to_string(&o.op).unwrap_or_default(),
                        std::io::Error::from_raw_os_error(errno)
                    );
                    status = 1;
                }
            }
            let _ = writeln!(out, "operations: {sent}");
            status
        }
        Err(e) => {
            eprintln!("{PROGRAM} --reconcile: {e}");
            1
        }
    }
}
