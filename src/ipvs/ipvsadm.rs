//! ipvsadm's command line, parsed the way ipvsadm 1.31 (popt) parses it: combined short flags
//! (`-Ln`, `-At`), attached or separate option arguments (`-t1.2.3.4:80`, `-t 1.2.3.4:80`,
//! `--tcp-service=...`), `-p` with an optional timeout (taken from the next word unless that
//! starts with `-`), the first option must be the command, and ipvsadm's table of legal
//! command/option combinations with its messages and exit codes.
//!
//! The result is an [`Invocation`]: what to do, expressed with the netlink codec's types.

use super::codec::{
    Cmd, DaemonAttrs, DestAttrs, Family, Fwd, IpvsMessage, Proto, ServiceAttrs, SvcFlags, TunType,
};
use super::consts::*;
use super::format::Format;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// ipvsadm's commands (`CMD_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Add,
    Edit,
    Del,
    Flush,
    List,
    AddDest,
    DelDest,
    EditDest,
    Timeout,
    StartDaemon,
    StopDaemon,
    Restore,
    Save,
    Zero,
}

impl Command {
    fn index(self) -> usize {
        self as usize
    }
    fn name(self) -> &'static str {
        [
            "add-service",
            "edit-service",
            "delete-service",
            "flush",
            "list",
            "add-server",
            "delete-server",
            "edit-server",
            "set",
            "start-daemon",
            "stop-daemon",
            "restore",
            "save",
            "zero",
        ][self.index()]
    }
}

// Option bit indices (`OPTC_*`).
const OPTC_NUMERIC: usize = 0;
const OPTC_CONNECTION: usize = 1;
const OPTC_SERVICE: usize = 2;
const OPTC_SCHEDULER: usize = 3;
const OPTC_PERSISTENT: usize = 4;
const OPTC_NETMASK: usize = 5;
const OPTC_SERVER: usize = 6;
const OPTC_FORWARD: usize = 7;
const OPTC_WEIGHT: usize = 8;
const OPTC_UTHRESHOLD: usize = 9;
const OPTC_LTHRESHOLD: usize = 10;
const OPTC_MCAST: usize = 11;
const OPTC_TIMEOUT: usize = 12;
const OPTC_DAEMON: usize = 13;
const OPTC_STATS: usize = 14;
const OPTC_RATE: usize = 15;
const OPTC_THRESHOLDS: usize = 16;
const OPTC_PERSISTENTCONN: usize = 17;
const OPTC_NOSORT: usize = 18;
const OPTC_SYNCID: usize = 19;
const OPTC_EXACT: usize = 20;
const OPTC_ONEPACKET: usize = 21;
const OPTC_PERSISTENCE_ENGINE: usize = 22;
const OPTC_SCHED_FLAGS: usize = 23;
const OPTC_MCAST_GROUP: usize = 24;
const OPTC_MCAST_PORT: usize = 25;
const OPTC_MCAST_TTL: usize = 26;
const OPTC_SYNC_MAXLEN: usize = 27;
const OPTC_TUN_INFO: usize = 28;
const OPTC_TUN_TYPE: usize = 29;
const OPTC_TUN_PORT: usize = 30;
const OPTC_TUN_NOCSUM: usize = 31;
const OPTC_TUN_CSUM: usize = 32;
const OPTC_TUN_REMCSUM: usize = 33;
const NUMBER_OF_OPT: usize = 34;

const OPTNAMES: [&str; NUMBER_OF_OPT] = [
    "numeric",
    "connection",
    "service-address",
    "scheduler",
    "persistent",
    "netmask",
    "real-server",
    "forwarding-method",
    "weight",
    "u-threshold",
    "l-threshold",
    "mcast-interface",
    "timeout",
    "daemon",
    "stats",
    "rate",
    "thresholds",
    "persistent-conn",
    "nosort",
    "syncid",
    "exact",
    "ops",
    "pe",
    "sched-flags",
    "mcast-group",
    "mcast-port",
    "mcast-ttl",
    "sync-maxlen",
    "tun-info",
    "tun-type",
    "tun-port",
    "tun-nocsum",
    "tun-csum",
    "tun-remcsum",
];

/// Legal command/option combinations: '+' compulsory, 'x' illegal, '1' exclusive, ' ' optional.
/// Rows in `Command` order, columns in `OPTC_*` order.
const COMMANDS_V_OPTIONS: [&str; 14] = [
    "xx+   xxxxxxxxxxxxxxx   xxxxxxxxxx", // add
    "xx+   xxxxxxxxxxxxxxx   xxxxxxxxxx", // edit
    "xx+xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", // del
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", // flush
    " 11xxxxxxxxx11       xxxxxxx xxxxx", // list
    "xx+xxx+    xxxxxxxxxxxxxxxxxx     ", // add-server
    "xx+xxx+xxxxxxxxxxxxxxxxxxxxxxxxxxx", // delete-server
    "xx+xxx+    xxxxxxxxxxxxxxxxxx     ", // edit-server
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", // set
    "xxxxxxxxxxx xxxxxxx xxxx    xxxxxx", // start-daemon
    "xxxxxxxxxxxxxxxxxxx xxxxxxxxxxxxxx", // stop-daemon
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", // restore
    " xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", // save
    "xx xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", // zero
];

const TUN_NAMES: [&str; 3] = ["ipip", "gue", "gre"];
/// Tunnel type vs tunnel options (tun-port, nocsum, csum, remcsum).
const TUNNEL_TYPES_V_OPTIONS: [&str; 3] = ["xxxx", "+111", "x11x"];
const TUN_OPTS: [usize; 4] = [
    OPTC_TUN_PORT,
    OPTC_TUN_NOCSUM,
    OPTC_TUN_CSUM,
    OPTC_TUN_REMCSUM,
];

const MAX_TIMEOUT: i64 = 86400 * 31;
const DEF_SCHED: &str = "wlc";
const DEF_MCAST_IFN: &str = "eth0";

/// Why parsing stopped: the text to print on stderr and the exit code ipvsadm uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fail {
    pub code: u8,
    pub message: String,
}

fn fail<T>(msg: impl Into<String>) -> Result<T, Fail> {
    Err(Fail {
        code: 2,
        message: msg.into(),
    })
}

fn tryhelp<T>(program: &str) -> Result<T, Fail> {
    Err(Fail {
        code: 255,
        message: format!("Try `{program} -h' or '{program} --help' for more information."),
    })
}

/// A virtual service as ipvsadm's `ipvs_service_t` holds it while parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SvcSpec {
    pub af: u16,
    pub protocol: u16,
    pub addr: [u8; 16],
    pub port: u16,
    pub fwmark: u32,
    pub sched_name: String,
    pub flags: u32,
    pub timeout: u32,
    /// Raw `__be32` (IPv4 mask bytes) or IPv6 prefix length.
    pub netmask: u32,
    pub pe_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestSpec {
    pub af: u16,
    pub addr: [u8; 16],
    pub port: u16,
    pub conn_flags: u32,
    pub weight: i32,
    pub u_threshold: u32,
    pub l_threshold: u32,
    pub tun_type: u8,
    pub tun_port: u16,
    pub tun_flags: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DaemonSpec {
    pub state: u32,
    pub mcast_ifn: String,
    pub syncid: u32,
    pub sync_maxlen: u16,
    pub mcast_group: Option<IpAddr>,
    pub mcast_port: u16,
    pub mcast_ttl: u8,
}

/// A parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub cmd: Command,
    pub options: u64,
    pub format: Format,
    pub svc: SvcSpec,
    pub dest: DestSpec,
    pub timeouts: (u32, u32, u32),
    pub daemon: DaemonSpec,
}

impl Invocation {
    pub fn has(&self, optc: usize) -> bool {
        self.options & (1u64 << optc) != 0
    }
    pub fn has_service(&self) -> bool {
        self.has(OPTC_SERVICE)
    }
    pub fn wants_connections(&self) -> bool {
        self.has(OPTC_CONNECTION)
    }
    pub fn wants_timeout(&self) -> bool {
        self.has(OPTC_TIMEOUT)
    }
    pub fn wants_daemon(&self) -> bool {
        self.has(OPTC_DAEMON)
    }
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Run(Box<Invocation>),
    Help,
    Version,
}

/// Host name and service lookups used while parsing (`gethostbyname`, `getservbyname`).
pub trait Resolver {
    fn host_v4(&self, name: &str) -> Option<Ipv4Addr>;
    fn port(&self, name: &str, proto: u16) -> Option<u16>;
}

/// Numbers only.
pub struct NoResolver;
impl Resolver for NoResolver {
    fn host_v4(&self, _: &str) -> Option<Ipv4Addr> {
        None
    }
    fn port(&self, _: &str, _: u16) -> Option<u16> {
        None
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ArgKind {
    None,
    Required,
    Optional,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Tag {
    Short(char),
    Set,
    StartDaemon,
    StopDaemon,
    McastInterface,
    Timeout,
    Daemon,
    Stats,
    Rate,
    Thresholds,
    PersistentConn,
    Sort,
    NoSort,
    PersistenceEngine,
    SctpService,
    McastGroup,
    McastPort,
    McastTtl,
    SyncMaxlen,
    TunInfo,
    TunType,
    TunPort,
    TunNocsum,
    TunCsum,
    TunRemcsum,
}

struct OptDef {
    long: &'static str,
    short: Option<char>,
    arg: ArgKind,
    tag: Tag,
}

const fn o(long: &'static str, short: Option<char>, arg: ArgKind, tag: Tag) -> OptDef {
    OptDef {
        long,
        short,
        arg,
        tag,
    }
}

use ArgKind::{None as N, Optional as O, Required as R};
const OPTIONS: &[OptDef] = &[
    o("add-service", Some('A'), N, Tag::Short('A')),
    o("edit-service", Some('E'), N, Tag::Short('E')),
    o("delete-service", Some('D'), N, Tag::Short('D')),
    o("clear", Some('C'), N, Tag::Short('C')),
    o("list", Some('L'), N, Tag::Short('L')),
    o("list", Some('l'), N, Tag::Short('l')),
    o("zero", Some('Z'), N, Tag::Short('Z')),
    o("add-server", Some('a'), N, Tag::Short('a')),
    o("edit-server", Some('e'), N, Tag::Short('e')),
    o("delete-server", Some('d'), N, Tag::Short('d')),
    o("set", None, N, Tag::Set),
    o("help", Some('h'), N, Tag::Short('h')),
    o("version", Some('v'), N, Tag::Short('v')),
    o("restore", Some('R'), N, Tag::Short('R')),
    o("save", Some('S'), N, Tag::Short('S')),
    o("start-daemon", None, R, Tag::StartDaemon),
    o("stop-daemon", None, R, Tag::StopDaemon),
    o("tcp-service", Some('t'), R, Tag::Short('t')),
    o("udp-service", Some('u'), R, Tag::Short('u')),
    o("sctp-service", None, R, Tag::SctpService),
    o("fwmark-service", Some('f'), R, Tag::Short('f')),
    o("scheduler", Some('s'), R, Tag::Short('s')),
    o("persistent", Some('p'), O, Tag::Short('p')),
    o("netmask", Some('M'), R, Tag::Short('M')),
    o("real-server", Some('r'), R, Tag::Short('r')),
    o("masquerading", Some('m'), N, Tag::Short('m')),
    o("ipip", Some('i'), N, Tag::Short('i')),
    o("gatewaying", Some('g'), N, Tag::Short('g')),
    o("weight", Some('w'), R, Tag::Short('w')),
    o("u-threshold", Some('x'), R, Tag::Short('x')),
    o("l-threshold", Some('y'), R, Tag::Short('y')),
    o("numeric", Some('n'), N, Tag::Short('n')),
    o("connection", Some('c'), N, Tag::Short('c')),
    o("mcast-interface", None, R, Tag::McastInterface),
    o("syncid", None, R, Tag::Short('I')),
    o("timeout", None, N, Tag::Timeout),
    o("daemon", None, N, Tag::Daemon),
    o("stats", None, N, Tag::Stats),
    o("rate", None, N, Tag::Rate),
    o("thresholds", None, N, Tag::Thresholds),
    o("persistent-conn", None, N, Tag::PersistentConn),
    o("nosort", None, N, Tag::NoSort),
    o("sort", None, N, Tag::Sort),
    o("exact", Some('X'), N, Tag::Short('X')),
    o("ipv6", Some('6'), N, Tag::Short('6')),
    o("ops", Some('o'), N, Tag::Short('o')),
    o("pe", None, R, Tag::PersistenceEngine),
    o("sched-flags", Some('b'), R, Tag::Short('b')),
    o("mcast-group", None, R, Tag::McastGroup),
    o("mcast-port", None, R, Tag::McastPort),
    o("mcast-ttl", None, R, Tag::McastTtl),
    o("sync-maxlen", None, R, Tag::SyncMaxlen),
    o("tun-info", None, N, Tag::TunInfo),
    o("tun-type", None, R, Tag::TunType),
    o("tun-port", None, R, Tag::TunPort),
    o("tun-nocsum", None, N, Tag::TunNocsum),
    o("tun-csum", None, N, Tag::TunCsum),
    o("tun-remcsum", None, N, Tag::TunRemcsum),
];

/// One option occurrence (or a popt-style error) from the tokenizer. Both carry the command-line
/// word popt's `poptBadOption` names: the last word the option consumed (its argument when that
/// came as the next word: ``-A -t x --start-daemon master`` is ``invalid option `master'``), the
/// whole word for a bad option (`-Lx: missing argument`).
enum Tok<'a> {
    Opt(Tag, Option<&'a str>, &'a str),
    BadOption(String, &'static str),
}

const UNWANTED_ARG: &str = "option does not take an argument";

/// popt-like tokenizer: returns the option stream and the leftover (non-option) words.
fn tokenize<S: AsRef<str>>(args: &[S]) -> (Vec<Tok<'_>>, Vec<&str>) {
    let mut toks = Vec::new();
    let mut rest = Vec::new();
    let mut i = 0;
    let take_next = |i: &mut usize, optional: bool| -> Option<&str> {
        let next = args.get(*i + 1)?.as_ref();
        if optional && next.starts_with('-') {
            return None;
        }
        *i += 1;
        Some(next)
    };
    while i < args.len() {
        let a = args[i].as_ref();
        if a == "--" {
            rest.extend(args[i + 1..].iter().map(AsRef::as_ref));
            break;
        }
        if let Some(long) = a.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (long, None),
            };
            match OPTIONS.iter().find(|d| d.long == name) {
                None => {
                    toks.push(Tok::BadOption(a.to_string(), "unknown option"));
                    return (toks, rest);
                }
                Some(d) => {
                    let val = match d.arg {
                        N if inline.is_some() => {
                            toks.push(Tok::BadOption(a.to_string(), UNWANTED_ARG));
                            return (toks, rest);
                        }
                        N => None,
                        R => match inline.or_else(|| take_next(&mut i, false)) {
                            Some(v) => Some(v),
                            None => {
                                toks.push(Tok::BadOption(a.to_string(), "missing argument"));
                                return (toks, rest);
                            }
                        },
                        O => inline.or_else(|| take_next(&mut i, true)),
                    };
                    toks.push(Tok::Opt(d.tag, val, args[i].as_ref()));
                }
            }
        } else if a.len() > 1 && a.starts_with('-') {
            let group = &a[1..];
            for (k, c) in group.char_indices() {
                match OPTIONS.iter().find(|d| d.short == Some(c)) {
                    None => {
                        toks.push(Tok::BadOption(a.to_string(), "unknown option"));
                        return (toks, rest);
                    }
                    Some(d) => {
                        let attached = &group[k + c.len_utf8()..];
                        match d.arg {
                            // popt: `-n=...` gives a value to an option that takes none.
                            N if attached.starts_with('=') => {
                                toks.push(Tok::BadOption(a.to_string(), UNWANTED_ARG));
                                return (toks, rest);
                            }
                            N => toks.push(Tok::Opt(d.tag, None, a)),
                            R | O => {
                                // popt takes `-t=VALUE` as `-t VALUE`, and `-p=` as an empty value.
                                let val = if let Some(v) = attached.strip_prefix('=') {
                                    Some(v)
                                } else if !attached.is_empty() {
                                    Some(attached)
                                } else {
                                    take_next(&mut i, d.arg == O)
                                };
                                if d.arg == R && val.is_none() {
                                    toks.push(Tok::BadOption(a.to_string(), "missing argument"));
                                    return (toks, rest);
                                }
                                toks.push(Tok::Opt(d.tag, val, args[i].as_ref()));
                                break;
                            }
                        }
                    }
                }
            }
        } else {
            rest.push(a);
        }
        i += 1;
    }
    (toks, rest)
}

/// ipvsadm's `string_to_number` (strtol base 10, whole string, range-checked).
fn string_to_number(s: &str, min: i64, max: i64) -> Option<i64> {
    let t = s.trim_start();
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let v: i64 = digits.parse().ok()?;
    let v = if neg { -v } else { v };
    (min..=max).contains(&v).then_some(v)
}

fn parse_timeout(buf: Option<&str>, min: i64, max: i64) -> Result<u32, Fail> {
    match buf {
        None => Ok(DEFAULT_PERSISTENT_TIMEOUT),
        Some(b) => match string_to_number(b, min, max) {
            Some(v) => Ok(v as u32),
            None => fail(format!("invalid timeout value `{b}' specified")),
        },
    }
}

fn parse_fwmark(buf: &str) -> Result<u32, Fail> {
    match string_to_number(buf, 1, u32::MAX as i64) {
        Some(v) => Ok(v as u32),
        None => fail(format!("invalid fwmark value `{buf}' specified")),
    }
}

/// `inet_aton` (accepts the classic short and octal/hex forms, as ipvsadm does).
pub fn inet_aton(s: &str) -> Option<Ipv4Addr> {
    // Plain dotted quads (what nearly every rule has) without the C call; the classic short,
    // octal and hex forms go to libc below.
    if let Some(a) = plain_dotted_quad(s) {
        return Some(a);
    }
    let c = std::ffi::CString::new(s).ok()?;
    let mut addr = libc::in_addr { s_addr: 0 };
    // SAFETY: valid NUL-terminated string and a valid out pointer.
    let ok = unsafe { libc_inet_aton(c.as_ptr(), &mut addr) };
    if ok == 0 {
        return None;
    }
    Some(Ipv4Addr::from(addr.s_addr.to_ne_bytes()))
}

/// `a.b.c.d` with four decimal parts 0..=255 and no leading zeros (a leading zero means octal
/// to inet_aton); anything else: None.
fn plain_dotted_quad(s: &str) -> Option<Ipv4Addr> {
    let mut parts = [0u8; 4];
    let mut n = 0;
    for p in s.split('.') {
        if n == 4 || p.is_empty() || p.len() > 3 || (p.len() > 1 && p.starts_with('0')) {
            return None;
        }
        let mut v = 0u32;
        for b in p.bytes() {
            if !b.is_ascii_digit() {
                return None;
            }
            v = v * 10 + u32::from(b - b'0');
        }
        parts[n] = u8::try_from(v).ok()?;
        n += 1;
    }
    (n == 4).then(|| Ipv4Addr::from(parts))
}

unsafe extern "C" {
    #[link_name = "inet_aton"]
    fn libc_inet_aton(cp: *const libc::c_char, inp: *mut libc::in_addr) -> libc::c_int;
}

const SERVICE_ADDR: u8 = 1;
const SERVICE_PORT: u8 = 2;

/// ipvsadm's `parse_service`: `host[:port]`, `[v6]:port` or a bare IPv6 address. Returns the
/// SERVICE_* bits (0 on error) and updates af/addr/port (and netmask for IPv6).
fn parse_service(buf: &str, svc: &mut SvcSpec, res: &dyn Resolver) -> u8 {
    if buf.is_empty() || buf.bytes().all(|b| b.is_ascii_digit()) {
        return 0;
    }
    let mut host = buf;
    let mut port_str: Option<&str> = None;
    if let Some(inner) = buf.strip_prefix('[') {
        let Some(close) = inner.find(']') else {
            return 0;
        };
        host = &inner[..close];
        let after = &inner[close + 1..];
        match after.strip_prefix(':') {
            Some(p) => port_str = Some(p),
            None => return 0,
        }
    }
    let mut result = 0u8;
    // An IPv6 address has at least two colons; `v4:port` has one (skip the v6 parser).
    let v6 = if host.bytes().filter(|&b| b == b':').count() >= 2 {
        host.parse::<Ipv6Addr>().ok()
    } else {
        None
    };
    if let Some(v6) = v6 {
        svc.addr = v6.octets();
        svc.af = AF_INET6;
        svc.netmask = 128;
    } else {
        if port_str.is_none() {
            if let Some(pos) = host.rfind(':') {
                port_str = Some(&host[pos + 1..]);
                host = &host[..pos];
            }
        }
        let v4 = inet_aton(host).or_else(|| res.host_v4(host));
        match v4 {
            Some(a) => {
                svc.addr = [0; 16];
                svc.addr[..4].copy_from_slice(&a.octets());
                svc.af = AF_INET;
            }
            None => return 0,
        }
    }
    result |= SERVICE_ADDR;
    if let Some(p) = port_str {
        result |= SERVICE_PORT;
        if let Some(n) = string_to_number(p, 0, 65535) {
            svc.port = n as u16;
        } else if let Some(n) = res.port(p, svc.protocol) {
            svc.port = n;
        } else {
            return 0;
        }
    }
    result
}

fn parse_netmask(buf: &str, res: &dyn Resolver) -> Option<u32> {
    let a = inet_aton(buf).or_else(|| res.host_v4(buf))?;
    Some(u32::from_ne_bytes(a.octets()))
}

fn parse_sched_flags(sched: &str, arg: &str) -> Result<u32, Fail> {
    let sched = if sched.is_empty() { DEF_SCHED } else { sched };
    let mut flags = 0;
    // ipvsadm skips an empty argument (sets no flag) and strtok skips empty tokens, but an
    // all-comma argument makes ipvsadm crash (strcmp on NULL): refuse it.
    if arg.is_empty() {
        return Ok(0);
    }
    let tokens: Vec<&str> = arg.split(',').filter(|t| !t.is_empty()).collect();
    if tokens.is_empty() {
        return fail(format!("invalid scheduler flag `{arg}'"));
    }
    for flag in tokens {
        let (bit, needs) = match flag {
            "flag-1" => (IP_VS_SVC_F_SCHED1, None),
            "flag-2" => (IP_VS_SVC_F_SCHED2, None),
            "flag-3" => (IP_VS_SVC_F_SCHED3, None),
            "sh-fallback" => (IP_VS_SVC_F_SCHED_SH_FALLBACK, Some("sh")),
            "sh-port" => (IP_VS_SVC_F_SCHED_SH_PORT, Some("sh")),
            "mh-fallback" => (IP_VS_SVC_F_SCHED_MH_FALLBACK, Some("mh")),
            "mh-port" => (IP_VS_SVC_F_SCHED_MH_PORT, Some("mh")),
            _ => return fail(format!("invalid scheduler flag `{flag}'")),
        };
        flags |= bit;
        if let Some(s) = needs {
            if sched != s {
                return fail(format!("incompatible scheduler flag `{flag}'"));
            }
        }
    }
    Ok(flags)
}

fn set_option(options: &mut u64, optc: usize) -> Result<(), Fail> {
    let bit = 1u64 << optc;
    if *options & bit != 0 {
        return fail(format!("multiple '{}' options specified", OPTNAMES[optc]));
    }
    *options |= bit;
    Ok(())
}

fn generic_opt_check(cmd: Command, options: u64) -> Result<(), Fail> {
    let row = COMMANDS_V_OPTIONS[cmd.index()].as_bytes();
    let mut last = 0usize;
    let mut count = 0;
    for (j, &rule) in row.iter().enumerate() {
        let set = options & (1u64 << j) != 0;
        if !set {
            if rule == b'+' {
                return fail(format!(
                    "You need to supply the '{}' option for the '{}' command",
                    OPTNAMES[j],
                    cmd.name()
                ));
            }
        } else {
            if rule == b'x' {
                return fail(format!(
                    "Illegal '{}' option with the '{}' command",
                    OPTNAMES[j],
                    cmd.name()
                ));
            }
            if rule == b'1' {
                count += 1;
                if count == 1 {
                    last = j;
                    continue;
                }
                return fail(format!(
                    "The option '{}' conflicts with the '{}' option in the '{}' command",
                    OPTNAMES[j],
                    OPTNAMES[last],
                    cmd.name()
                ));
            }
        }
    }
    Ok(())
}

fn tunnel_opt_check(tun_type: u8, options: u64) -> Result<(), Fail> {
    let Some(row) = TUNNEL_TYPES_V_OPTIONS.get(tun_type as usize) else {
        return Ok(());
    };
    let row = row.as_bytes();
    let mut last = 0usize;
    let mut count = 0;
    for (j, &k) in TUN_OPTS.iter().enumerate() {
        let set = options & (1u64 << k) != 0;
        if !set {
            if row[j] == b'+' {
                return fail(format!(
                    "You need to supply the '{}' option for the '{}' tunnel type",
                    OPTNAMES[k], TUN_NAMES[tun_type as usize]
                ));
            }
        } else {
            if row[j] == b'x' {
                return fail(format!(
                    "Illegal '{}' option with the '{}' tunnel type",
                    OPTNAMES[k], TUN_NAMES[tun_type as usize]
                ));
            }
            if row[j] == b'1' {
                count += 1;
                if count == 1 {
                    last = k;
                    continue;
                }
                return fail(format!(
                    "The option '{}' conflicts with the '{}' option in the '{}' tunnel type",
                    OPTNAMES[k], OPTNAMES[last], TUN_NAMES[tun_type as usize]
                ));
            }
        }
    }
    Ok(())
}

fn set_command(cmd: &mut Option<Command>, new: Command) -> Result<(), Fail> {
    if cmd.is_some() {
        return fail("multiple commands specified");
    }
    *cmd = Some(new);
    Ok(())
}

/// Parse one ipvsadm command line (`args` without the program name).
pub fn parse<S: AsRef<str>>(program: &str, args: &[S], res: &dyn Resolver) -> Result<Parsed, Fail> {
    let (toks, rest) = tokenize(args);
    let mut svc = SvcSpec {
        af: 0,
        protocol: 0,
        addr: [0; 16],
        port: 0,
        fwmark: 0,
        sched_name: String::new(),
        flags: 0,
        timeout: 0,
        netmask: 0xffff_ffff,
        pe_name: String::new(),
    };
    let mut dest = DestSpec {
        af: 0,
        addr: [0; 16],
        port: 0,
        conn_flags: IP_VS_CONN_F_DROUTE,
        weight: 1,
        u_threshold: 0,
        l_threshold: 0,
        tun_type: 0,
        tun_port: 0,
        tun_flags: 0,
    };
    let mut daemon = DaemonSpec::default();
    let mut options = 0u64;
    let mut format = Format::default();
    let mut cmd: Option<Command> = None;
    let mut sched_flags_arg: Option<String> = None;

    let mut it = toks.into_iter();
    // The first option must be the command.
    match it.next() {
        Some(Tok::Opt(tag, val, _)) => match tag {
            Tag::Short('A') => set_command(&mut cmd, Command::Add)?,
            Tag::Short('E') => set_command(&mut cmd, Command::Edit)?,
            Tag::Short('D') => set_command(&mut cmd, Command::Del)?,
            Tag::Short('a') => set_command(&mut cmd, Command::AddDest)?,
            Tag::Short('e') => set_command(&mut cmd, Command::EditDest)?,
            Tag::Short('d') => set_command(&mut cmd, Command::DelDest)?,
            Tag::Short('C') => set_command(&mut cmd, Command::Flush)?,
            Tag::Short('L') | Tag::Short('l') => set_command(&mut cmd, Command::List)?,
            Tag::Short('Z') => set_command(&mut cmd, Command::Zero)?,
            Tag::Set => set_command(&mut cmd, Command::Timeout)?,
            Tag::Short('R') => set_command(&mut cmd, Command::Restore)?,
            Tag::Short('S') => set_command(&mut cmd, Command::Save)?,
            Tag::StartDaemon | Tag::StopDaemon => {
                let start = tag == Tag::StartDaemon;
                set_command(
                    &mut cmd,
                    if start {
                        Command::StartDaemon
                    } else {
                        Command::StopDaemon
                    },
                )?;
                daemon.state = match val {
                    Some("master") => IP_VS_STATE_MASTER,
                    Some("backup") => IP_VS_STATE_BACKUP,
                    _ if start => return fail("illegal start-daemon parameter specified"),
                    _ => return fail("illegal start_daemon specified"),
                };
            }
            Tag::Short('h') => return Ok(Parsed::Help),
            Tag::Short('v') => return Ok(Parsed::Version),
            _ => return tryhelp(program),
        },
        _ => return tryhelp(program),
    }

    for tok in it {
        let (tag, optarg, word) = match tok {
            Tok::Opt(t, v, w) => (t, v, w),
            Tok::BadOption(opt, why) => {
                return Err(Fail {
                    code: 255,
                    message: format!("{opt}: {why}"),
                });
            }
        };
        let arg = optarg.unwrap_or("");
        match tag {
            Tag::Short('t') | Tag::Short('u') | Tag::SctpService => {
                set_option(&mut options, OPTC_SERVICE)?;
                svc.protocol = match tag {
                    Tag::Short('t') => IPPROTO_TCP,
                    Tag::Short('u') => IPPROTO_UDP,
                    _ => IPPROTO_SCTP,
                };
                if parse_service(arg, &mut svc, res) & SERVICE_ADDR == 0 {
                    return fail("illegal virtual server address[:port] specified");
                }
            }
            Tag::Short('f') => {
                set_option(&mut options, OPTC_SERVICE)?;
                svc.af = AF_INET;
                svc.protocol = IPPROTO_TCP;
                svc.fwmark = parse_fwmark(arg)?;
            }
            Tag::Short('s') => {
                set_option(&mut options, OPTC_SCHEDULER)?;
                svc.sched_name = arg.chars().take(IP_VS_SCHEDNAME_MAXLEN - 1).collect();
            }
            Tag::Short('p') => {
                set_option(&mut options, OPTC_PERSISTENT)?;
                svc.flags |= IP_VS_SVC_F_PERSISTENT;
                svc.timeout = parse_timeout(optarg, 1, MAX_TIMEOUT)?;
            }
            Tag::Short('M') => {
                set_option(&mut options, OPTC_NETMASK)?;
                if svc.af != AF_INET6 {
                    match parse_netmask(arg, res) {
                        Some(m) => svc.netmask = m,
                        None => return fail("illegal virtual server persistent mask specified"),
                    }
                } else {
                    let v = atoi(arg);
                    if !(1..=128).contains(&v) {
                        return fail("illegal ipv6 netmask specified");
                    }
                    svc.netmask = v as u32;
                }
            }
            Tag::Short('r') => {
                set_option(&mut options, OPTC_SERVER)?;
                let mut t = svc.clone();
                let parse = parse_service(arg, &mut t, res);
                dest.af = t.af;
                dest.addr = t.addr;
                dest.port = t.port;
                if parse & SERVICE_ADDR == 0 {
                    return fail("illegal real server address[:port] specified");
                }
                if parse == SERVICE_ADDR {
                    dest.port = svc.port;
                }
            }
            Tag::Short('i') => {
                set_option(&mut options, OPTC_FORWARD)?;
                dest.conn_flags = IP_VS_CONN_F_TUNNEL;
            }
            Tag::Short('g') => {
                set_option(&mut options, OPTC_FORWARD)?;
                dest.conn_flags = IP_VS_CONN_F_DROUTE;
            }
            Tag::Short('m') => {
                set_option(&mut options, OPTC_FORWARD)?;
                dest.conn_flags = IP_VS_CONN_F_MASQ;
            }
            Tag::Short('w') => {
                set_option(&mut options, OPTC_WEIGHT)?;
                // Debian's ipvsadm 1.31 takes any int weight (its man page still says 65535),
                // as the kernel does.
                match string_to_number(arg, 0, i32::MAX as i64) {
                    Some(v) => dest.weight = v as i32,
                    None => return fail("illegal weight specified"),
                }
            }
            Tag::Short('x') => {
                set_option(&mut options, OPTC_UTHRESHOLD)?;
                match string_to_number(arg, 0, i32::MAX as i64) {
                    Some(v) => dest.u_threshold = v as u32,
                    None => return fail("illegal u_threshold specified"),
                }
            }
            Tag::Short('y') => {
                set_option(&mut options, OPTC_LTHRESHOLD)?;
                match string_to_number(arg, 0, i32::MAX as i64) {
                    Some(v) => dest.l_threshold = v as u32,
                    None => return fail("illegal l_threshold specified"),
                }
            }
            Tag::Short('c') => set_option(&mut options, OPTC_CONNECTION)?,
            Tag::Short('n') => {
                set_option(&mut options, OPTC_NUMERIC)?;
                format.numeric = true;
            }
            Tag::McastInterface => {
                set_option(&mut options, OPTC_MCAST)?;
                daemon.mcast_ifn = arg.chars().take(IP_VS_IFNAME_MAXLEN - 1).collect();
            }
            Tag::Short('I') => {
                set_option(&mut options, OPTC_SYNCID)?;
                match string_to_number(arg, 0, 255) {
                    Some(v) => daemon.syncid = v as u32,
                    None => return fail("illegal syncid specified"),
                }
            }
            Tag::Timeout => set_option(&mut options, OPTC_TIMEOUT)?,
            Tag::Daemon => set_option(&mut options, OPTC_DAEMON)?,
            Tag::Stats => {
                set_option(&mut options, OPTC_STATS)?;
                format.stats = true;
            }
            Tag::Rate => {
                set_option(&mut options, OPTC_RATE)?;
                format.rate = true;
            }
            Tag::Thresholds => {
                set_option(&mut options, OPTC_THRESHOLDS)?;
                format.thresholds = true;
            }
            Tag::PersistentConn => {
                set_option(&mut options, OPTC_PERSISTENTCONN)?;
                format.persistent_conn = true;
            }
            Tag::NoSort => {
                set_option(&mut options, OPTC_NOSORT)?;
                format.nosort = true;
            }
            Tag::Sort => {}
            Tag::Short('X') => {
                set_option(&mut options, OPTC_EXACT)?;
                format.exact = true;
            }
            Tag::Short('6') => {
                if svc.fwmark != 0 {
                    svc.af = AF_INET6;
                    svc.netmask = 128;
                } else {
                    return fail("-6 used before -f\n");
                }
            }
            Tag::Short('o') => {
                set_option(&mut options, OPTC_ONEPACKET)?;
                svc.flags |= IP_VS_SVC_F_ONEPACKET;
            }
            Tag::PersistenceEngine => {
                set_option(&mut options, OPTC_PERSISTENCE_ENGINE)?;
                svc.pe_name = arg.chars().take(IP_VS_PENAME_MAXLEN).collect();
            }
            Tag::Short('b') => {
                set_option(&mut options, OPTC_SCHED_FLAGS)?;
                sched_flags_arg = Some(arg.chars().take(127).collect());
            }
            Tag::McastGroup => {
                set_option(&mut options, OPTC_MCAST_GROUP)?;
                if arg.contains(':') {
                    match arg.parse::<Ipv6Addr>() {
                        Ok(a) if a.is_multicast() => daemon.mcast_group = Some(IpAddr::V6(a)),
                        _ => return fail(format!("invalid IPv6 mcast-group `{arg}'")),
                    }
                } else {
                    match arg.parse::<Ipv4Addr>() {
                        Ok(a) if a.is_multicast() => daemon.mcast_group = Some(IpAddr::V4(a)),
                        _ => return fail(format!("invalid IPv4 mcast-group `{arg}'")),
                    }
                }
            }
            Tag::McastPort => {
                set_option(&mut options, OPTC_MCAST_PORT)?;
                match string_to_number(arg, 1, 65535) {
                    Some(v) => daemon.mcast_port = v as u16,
                    None => return fail("illegal mcast-port specified"),
                }
            }
            Tag::McastTtl => {
                set_option(&mut options, OPTC_MCAST_TTL)?;
                match string_to_number(arg, 1, 255) {
                    Some(v) => daemon.mcast_ttl = v as u8,
                    None => return fail("illegal mcast-ttl specified"),
                }
            }
            Tag::SyncMaxlen => {
                set_option(&mut options, OPTC_SYNC_MAXLEN)?;
                match string_to_number(arg, 1, 65535 - 20 - 8) {
                    Some(v) => daemon.sync_maxlen = v as u16,
                    None => return fail("illegal sync-maxlen specified"),
                }
            }
            Tag::TunInfo => {
                set_option(&mut options, OPTC_TUN_INFO)?;
                format.tun_info = true;
            }
            Tag::TunType => {
                set_option(&mut options, OPTC_TUN_TYPE)?;
                match TUN_NAMES.iter().position(|n| *n == arg) {
                    Some(p) => dest.tun_type = p as u8,
                    None => return fail("illegal tunnel type specified"),
                }
            }
            Tag::TunPort => {
                set_option(&mut options, OPTC_TUN_PORT)?;
                match string_to_number(arg, 1, 65535) {
                    Some(v) => dest.tun_port = v as u16,
                    None => return fail("illegal tunnel port specified"),
                }
            }
            Tag::TunNocsum => {
                set_option(&mut options, OPTC_TUN_NOCSUM)?;
                dest.tun_flags |= IP_VS_TUNNEL_ENCAP_FLAG_NOCSUM;
            }
            Tag::TunCsum => {
                set_option(&mut options, OPTC_TUN_CSUM)?;
                dest.tun_flags |= IP_VS_TUNNEL_ENCAP_FLAG_CSUM;
            }
            Tag::TunRemcsum => {
                set_option(&mut options, OPTC_TUN_REMCSUM)?;
                dest.tun_flags |= IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM;
            }
            // A second command (or -h/-v/--set...) after the command: ipvsadm's option loop has no
            // case for it.
            _ => return fail(format!("invalid option `{word}'")),
        }
    }

    let Some(cmd) = cmd else {
        return tryhelp(program);
    };

    let mut rest = rest.into_iter();
    let mut timeouts = (0, 0, 0);
    if cmd == Command::Timeout {
        match (rest.next(), rest.next(), rest.next()) {
            (Some(a), Some(b), Some(c)) => {
                timeouts = (
                    parse_timeout(Some(a), 0, MAX_TIMEOUT)?,
                    parse_timeout(Some(b), 0, MAX_TIMEOUT)?,
                    parse_timeout(Some(c), 0, MAX_TIMEOUT)?,
                );
            }
            _ => return fail("--set option requires 3 timeout values"),
        }
    }
    if let Some(extra) = rest.next() {
        return fail(format!("unexpected argument {extra}"));
    }
    if let Some(arg) = sched_flags_arg {
        svc.flags &= !IP_VS_SVC_F_SCHED_MASK;
        svc.flags |= parse_sched_flags(&svc.sched_name, &arg)?;
    }

    // process_options
    generic_opt_check(cmd, options)?;
    if matches!(cmd, Command::Add | Command::Edit) {
        if svc.fwmark == 0 && svc.port == 0 && svc.flags & IP_VS_SVC_F_PERSISTENT == 0 {
            return fail("Zero port specified for non-persistent service");
        }
        if svc.flags & IP_VS_SVC_F_ONEPACKET != 0 && svc.fwmark == 0 && svc.protocol != IPPROTO_UDP
        {
            return fail("One-Packet Scheduling is only for UDP virtual services");
        }
        if svc.sched_name.is_empty() {
            svc.sched_name = DEF_SCHED.to_string();
        }
    }
    if cmd == Command::StartDaemon && daemon.mcast_ifn.is_empty() {
        daemon.mcast_ifn = DEF_MCAST_IFN.to_string();
    }
    let fwd = dest.conn_flags & IP_VS_CONN_F_FWD_MASK;
    if matches!(cmd, Command::AddDest | Command::EditDest) {
        if svc.fwmark == 0 && (fwd == IP_VS_CONN_F_TUNNEL || fwd == IP_VS_CONN_F_DROUTE) {
            dest.port = svc.port;
        }
        if dest.af != svc.af && fwd != IP_VS_CONN_F_TUNNEL {
            return fail("Different address family is allowed only for tunneling servers");
        }
        let tun_opts = (1u64 << OPTC_TUN_TYPE)
            | (1u64 << OPTC_TUN_PORT)
            | (1u64 << OPTC_TUN_NOCSUM)
            | (1u64 << OPTC_TUN_CSUM)
            | (1u64 << OPTC_TUN_REMCSUM);
        if options & tun_opts != 0 && fwd != IP_VS_CONN_F_TUNNEL {
            return fail("Tunnel options conflict with forward method");
        }
        tunnel_opt_check(dest.tun_type, options)?;
    }
    if cmd == Command::List {
        let conn_like = (1u64 << OPTC_CONNECTION) | (1u64 << OPTC_TIMEOUT) | (1u64 << OPTC_DAEMON);
        let stat_like = (1u64 << OPTC_STATS) | (1u64 << OPTC_RATE) | (1u64 << OPTC_THRESHOLDS);
        let td = (1u64 << OPTC_TIMEOUT) | (1u64 << OPTC_DAEMON);
        if (options & conn_like != 0 && options & stat_like != 0)
            || (options & td != 0 && options & (1u64 << OPTC_PERSISTENTCONN) != 0)
        {
            return fail("options conflicts in the list command");
        }
    }
    if cmd == Command::Save {
        format.rule = true;
    }
    Ok(Parsed::Run(Box::new(Invocation {
        cmd,
        options,
        format,
        svc,
        dest,
        timeouts,
        daemon,
    })))
}

/// C `atoi`: leading whitespace, optional sign, digits, stop at the first non-digit.
fn atoi(s: &str) -> i64 {
    let t = s.trim_start();
    let (neg, body) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let digits: String = body
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .take(18)
        .collect();
    let v: i64 = digits.parse().unwrap_or(0);
    if neg { -v } else { v }
}

// ---------------------------------------------------------------------------------------------
// From a parsed invocation to netlink messages (what libipvs sends)
// ---------------------------------------------------------------------------------------------

impl SvcSpec {
    /// `ipvs_nl_fill_service_attr`: everything, flags with an all-ones mask.
    pub fn to_attrs(&self) -> ServiceAttrs {
        let mut s = ServiceAttrs {
            af: Some(Family::from(self.af)),
            ..Default::default()
        };
        if self.fwmark != 0 {
            s.fwmark = Some(self.fwmark);
        } else {
            s.protocol = Some(Proto::from(self.protocol));
            s.addr = Some(self.addr);
            s.port = Some(self.port);
        }
        s.sched_name = Some(self.sched_name.clone());
        if !self.pe_name.is_empty() {
            s.pe_name = Some(self.pe_name.clone());
        }
        s.flags = Some(SvcFlags {
            flags: self.flags,
            mask: u32::MAX,
        });
        s.timeout = Some(self.timeout);
        s.netmask = Some(self.netmask);
        s
    }
    /// The key attributes only (GET_SERVICE / GET_DEST).
    pub fn key_attrs(&self) -> ServiceAttrs {
        super::client::key_only(&self.to_attrs())
    }
}

impl DestSpec {
    /// `ipvs_nl_fill_dest_attr`.
    pub fn to_attrs(&self) -> DestAttrs {
        DestAttrs {
            addr_family: Some(Family::from(self.af)),
            addr: Some(self.addr),
            port: Some(self.port),
            fwd_method: Some(Fwd::from(self.conn_flags & IP_VS_CONN_F_FWD_MASK)),
            weight: Some(self.weight as u32),
            tun_type: Some(TunType::from(self.tun_type)),
            tun_port: Some(self.tun_port),
            tun_flags: Some(self.tun_flags),
            u_thresh: Some(self.u_threshold),
            l_thresh: Some(self.l_threshold),
            ..Default::default()
        }
    }
}

impl DaemonSpec {
    fn to_attrs(&self, full: bool) -> DaemonAttrs {
        let mut d = DaemonAttrs {
            state: Some(self.state),
            mcast_ifn: Some(self.mcast_ifn.clone()),
            sync_id: Some(self.syncid),
            ..Default::default()
        };
        if full {
            d.sync_maxlen = (self.sync_maxlen != 0).then_some(self.sync_maxlen);
            d.mcast_port = (self.mcast_port != 0).then_some(self.mcast_port);
            d.mcast_ttl = (self.mcast_ttl != 0).then_some(self.mcast_ttl);
            match self.mcast_group {
                Some(IpAddr::V4(a)) => d.mcast_group = Some(a),
                Some(IpAddr::V6(a)) => d.mcast_group6 = Some(a),
                None => {}
            }
        }
        d
    }
}

impl Invocation {
    /// The mutation this invocation sends, if it is one.
    pub fn mutation(&self) -> Option<IpvsMessage> {
        let svc = || self.svc.to_attrs();
        Some(match self.cmd {
            Command::Flush => IpvsMessage::new(Cmd::Flush),
            Command::Add => IpvsMessage::new(Cmd::NewService).with_service(svc()),
            Command::Edit => IpvsMessage::new(Cmd::SetService).with_service(svc()),
            Command::Del => IpvsMessage::new(Cmd::DelService).with_service(svc()),
            Command::Zero => {
                let m = IpvsMessage::new(Cmd::Zero);
                if self.svc.fwmark != 0 || self.svc.addr != [0; 16] || self.svc.port != 0 {
                    m.with_service(svc())
                } else {
                    m
                }
            }
            Command::AddDest => IpvsMessage::new(Cmd::NewDest)
                .with_service(svc())
                .with_dest(self.dest.to_attrs()),
            Command::EditDest => IpvsMessage::new(Cmd::SetDest)
                .with_service(svc())
                .with_dest(self.dest.to_attrs()),
            Command::DelDest => IpvsMessage::new(Cmd::DelDest)
                .with_service(svc())
                .with_dest(self.dest.to_attrs()),
            Command::Timeout => {
                let mut m = IpvsMessage::new(Cmd::SetConfig);
                m.timeout_tcp = Some(self.timeouts.0);
                m.timeout_tcp_fin = Some(self.timeouts.1);
                m.timeout_udp = Some(self.timeouts.2);
                m
            }
            Command::StartDaemon => {
                IpvsMessage::new(Cmd::NewDaemon).with_daemon(self.daemon.to_attrs(true))
            }
            Command::StopDaemon => {
                IpvsMessage::new(Cmd::DelDaemon).with_daemon(self.daemon.to_attrs(false))
            }
            Command::List | Command::Save | Command::Restore => return None,
        })
    }
}

/// libipvs's `ipvs_strerror`: the message ipvsadm prints for a kernel error of a command.
pub fn strerror(cmd: Command, errno: i32) -> String {
    use Command::*;
    let specific = match (cmd, errno) {
        (Add, libc::EEXIST) => Some("Service already exists"),
        (Add, libc::ENOENT) => Some("Scheduler or persistence engine not found"),
        (Edit, libc::ESRCH) => Some("No such service"),
        (Edit, libc::ENOENT) => Some("Scheduler or persistence engine not found"),
        (Del, libc::ESRCH) => Some("No such service"),
        (Zero, libc::ESRCH) => Some("No such service"),
        (AddDest, libc::ESRCH) => Some("Service not defined"),
        (AddDest, libc::EEXIST) => Some("Destination already exists"),
        (EditDest, libc::ESRCH) => Some("Service not defined"),
        (EditDest, libc::ENOENT) => Some("No such destination"),
        (DelDest, libc::ESRCH) => Some("Service not defined"),
        (DelDest, libc::ENOENT) => Some("No such destination"),
        (StartDaemon, libc::EEXIST) => Some("Daemon has already run"),
        (StopDaemon, libc::ESRCH) => Some("No daemon is running"),
        (List, libc::ESRCH) | (Save, libc::ESRCH) => Some("No such service"),
        _ => None,
    };
    if let Some(s) = specific {
        return s.to_string();
    }
    match errno {
        libc::EPERM => "Permission denied (you must be root)".into(),
        libc::EINVAL => {
            "Invalid operation.  Possibly wrong module version, address not unicast, ...".into()
        }
        libc::ENOPROTOOPT => "Protocol not available".into(),
        libc::ENOMEM => "Memory allocation problem".into(),
        libc::EOPNOTSUPP => "Operation not supported with IPv6".into(),
        libc::EAFNOSUPPORT => "Operation not supported with specified address family".into(),
        libc::EMSGSIZE => "Module is wrong version".into(),
        e => {
            let s = std::io::Error::from_raw_os_error(e).to_string();
            // std appends " (os error N)"; glibc's strerror does not.
            match s.rfind(" (os error") {
                Some(p) => s[..p].to_string(),
                None => s,
            }
        }
    }
}

/// ipvsadm's `config_stream_read` word splitting for `-R`: whitespace-separated words, with
/// double quotes grouping; a line's words are prefixed by the program name as argv[0].
pub fn split_restore_line(line: &str) -> Vec<String> {
    // The common line: ASCII words, no quotes.
    if line.is_ascii() && !line.contains('"') {
        return line.split_ascii_whitespace().map(String::from).collect();
    }
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quoted = false;
    for c in line.chars() {
        if quoted {
            if c == '"' {
                quoted = false;
            } else {
                cur.push(c);
            }
            continue;
        }
        if c == '"' {
            quoted = true;
            in_word = true;
        } else if c.is_whitespace() {
            if in_word {
                words.push(std::mem::take(&mut cur));
                in_word = false;
            }
        } else {
            cur.push(c);
            in_word = true;
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}

/// The words ipvsadm's `-R` makes of one input line (`buf` as read, with its newline if it had
/// one), as its `config_stream_read` does: words are split on space, tab, CR and LF only; no
/// quoting and no comments (`# x` is the words `#` and `x`, which ipvsadm rejects); every word
/// `ipvsadm` is dropped (so `ipvsadm -A ...` lines work); and a last line without a newline that
/// ends in two or more blanks is lost (its scanner hits the end of the file inside the blanks).
pub fn restore_line_words(buf: &str) -> Vec<&str> {
    let is_sep = |c: char| matches!(c, ' ' | '\t' | '\r' | '\n');
    if !buf.ends_with('\n') {
        let blanks = buf.chars().rev().take_while(|&c| is_sep(c)).count();
        if blanks >= 2 {
            return Vec::new();
        }
    }
    buf.split(is_sep)
        .filter(|w| !w.is_empty() && *w != "ipvsadm")
        .collect()
}

/// ipvsadm's usage text (`-h`).
pub fn usage(program: &str) -> String {
    USAGE.replace("{p}", program)
}

const USAGE: &str = r#"ipvsadm v1.31 2019/12/24 (compiled with popt and IPVS v1.2.1)
Usage:
  {p} -A|E virtual-service [-s scheduler] [-p [timeout]] [-M netmask] [--pe persistence_engine] [-b sched-flags]
  {p} -D virtual-service
  {p} -C
  {p} -R
  {p} -S [-n]
  {p} -a|e virtual-service -r server-address [options]
  {p} -d virtual-service -r server-address
  {p} -L|l [virtual-service] [options]
  {p} -Z [virtual-service]
  {p} --set tcp tcpfin udp
  {p} --start-daemon {master|backup} [daemon-options]
  {p} --stop-daemon {master|backup}
  {p} -h

Commands:
Either long or short options are allowed.
  --add-service     -A        add virtual service with options
  --edit-service    -E        edit virtual service with options
  --delete-service  -D        delete virtual service
  --clear           -C        clear the whole table
  --restore         -R        restore rules from stdin
  --save            -S        save rules to stdout
  --add-server      -a        add real server with options
  --edit-server     -e        edit real server with options
  --delete-server   -d        delete real server
  --list            -L|-l     list the table
  --zero            -Z        zero counters in a service or all services
  --set tcp tcpfin udp        set connection timeout values
  --start-daemon              start connection sync daemon
  --stop-daemon               stop connection sync daemon
  --help            -h        display this help message

virtual-service:
  --tcp-service|-t  service-address   service-address is host[:port]
  --udp-service|-u  service-address   service-address is host[:port]
  --sctp-service    service-address   service-address is host[:port]
  --fwmark-service|-f fwmark          fwmark is an integer greater than zero

Options:
  --ipv6         -6                   fwmark entry uses IPv6
  --scheduler    -s scheduler         one of rr|wrr|lc|wlc|lblc|lblcr|dh|sh|sed|nq|fo|ovf|mh,
                                      the default scheduler is wlc.
  --pe            engine              alternate persistence engine may be sip,
                                      not set by default.
  --persistent   -p [timeout]         persistent service
  --netmask      -M netmask           persistent granularity mask
  --real-server  -r server-address    server-address is host (and port)
  --gatewaying   -g                   gatewaying (direct routing) (default)
  --ipip         -i                   ipip encapsulation (tunneling)
  --masquerading -m                   masquerading (NAT)
  --tun-type      type                one of ipip|gue|gre,
                                      the default tunnel type is ipip.
  --tun-port      port                tunnel destination port
  --tun-nocsum                        tunnel encapsulation without checksum
  --tun-csum                          tunnel encapsulation with checksum
  --tun-remcsum                       tunnel encapsulation with remote checksum
  --weight       -w weight            capacity of real server
  --u-threshold  -x uthreshold        upper threshold of connections
  --l-threshold  -y lthreshold        lower threshold of connections
  --connection   -c                   output of current IPVS connections
  --timeout                           output of timeout (tcp tcpfin udp)
  --daemon                            output of daemon information
  --stats                             output of statistics information
  --rate                              output of rate information
  --exact                             expand numbers (display exact values)
  --thresholds                        output of thresholds information
  --persistent-conn                   output of persistent connection info
  --tun-info                          output of tunnel information
  --nosort                            disable sorting output of service/server entries
  --sort                              does nothing, for backwards compatibility
  --ops          -o                   one-packet scheduling
  --numeric      -n                   numeric output of addresses and ports
  --sched-flags  -b flags             scheduler flags (comma-separated)
Daemon Options:
  --syncid sid                        syncid for connection sync (default=255)
  --sync-maxlen length                Max sync message length (default=1472)
  --mcast-interface interface         multicast interface for connection sync
  --mcast-group address               IPv4/IPv6 group (default=224.0.0.81)
  --mcast-port port                   UDP port (default=8848)
  --mcast-ttl ttl                     Multicast TTL (default=1)
"#;

pub const VERSION_LINE: &str = "ipvsadm v1.31 2019/12/24 (compiled with popt and IPVS v1.2.1)\n";

/// A table written in ipvsadm-save format (`-A` and `-a` lines; blank lines and `#` comments
/// ignored) as a desired table. Errors name the line.
pub fn table_from_save(
    text: &str,
    res: &dyn Resolver,
) -> Result<super::table::DesiredTable, String> {
    use super::convert::{dest_from_attrs, service_from_attrs};
    use super::table::{DesiredTable, ServiceEntry};
    let mut t = DesiredTable::default();
    for (n, line) in text.lines().enumerate() {
        let line_no = n + 1;
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let words = split_restore_line(line);
        let inv = match parse("ipvsadm", &words, res) {
            Ok(Parsed::Run(inv)) => inv,
            Ok(_) => return Err(format!("line {line_no}: not a rule: {trimmed}")),
            Err(f) => return Err(format!("line {line_no}: {}", f.message)),
        };
        let svc = inv.svc.to_attrs();
        let Some((key, settings)) = service_from_attrs(&svc) else {
            return Err(format!("line {line_no}: unsupported service: {trimmed}"));
        };
        match inv.cmd {
            Command::Add => {
                if t.services.contains_key(&key) {
                    return Err(format!("line {line_no}: service defined twice: {trimmed}"));
                }
                t.services.insert(
                    key,
                    ServiceEntry {
                        settings,
                        dests: Default::default(),
                    },
                );
            }
            Command::AddDest => {
                let fam = svc.af.unwrap_or(Family::Inet);
                let Some((dk, ds)) = dest_from_attrs(&inv.dest.to_attrs(), fam) else {
                    return Err(format!(
                        "line {line_no}: unsupported destination: {trimmed}"
                    ));
                };
                let Some(entry) = t.services.get_mut(&key) else {
                    return Err(format!(
                        "line {line_no}: destination of a service not defined above: {trimmed}"
                    ));
                };
                if entry.dests.insert(dk, ds).is_some() {
                    return Err(format!(
                        "line {line_no}: destination defined twice: {trimmed}"
                    ));
                }
            }
            _ => {
                return Err(format!(
                    "line {line_no}: only -A and -a lines describe a table: {trimmed}"
                ));
            }
        }
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The dotted-quad fast path agrees with libc's inet_aton on every input it accepts, and
    /// leaves the rest (octal, hex, short forms, junk) to libc.
    #[test]
    fn plain_dotted_quad_agrees_with_libc() {
        let libc_aton = |s: &str| {
            let c = std::ffi::CString::new(s).expect("no NUL");
            let mut addr = libc::in_addr { s_addr: 0 };
            // SAFETY: valid NUL-terminated string and out pointer.
            let ok = unsafe { libc_inet_aton(c.as_ptr(), &mut addr) };
            (ok != 0).then(|| Ipv4Addr::from(addr.s_addr.to_ne_bytes()))
        };
        let cases = [
            "1.2.3.4",
            "0.0.0.0",
            "255.255.255.255",
            "256.1.1.1",
            "10.0.0",
            "10",
            "01.2.3.4",
            "0x10.1.1.1",
            "1.2.3.4.5",
            "1..2.3",
            "1.2.3.4 ",
            " 1.2.3.4",
            "1.2.3.-4",
            "",
            ".",
            "192.168.010.1",
            "1.2.3.0",
            "300.300.300.300",
            "1.2.3.1234",
        ];
        for c in cases {
            if let Some(a) = plain_dotted_quad(c) {
                assert_eq!(Some(a), libc_aton(c), "{c:?}");
            }
            assert_eq!(inet_aton(c), libc_aton(c), "{c:?}");
        }
        for i in 0..=300u32 {
            let s = format!("{i}.{}.{}.{}", i % 7, 255 - i.min(255), i / 2);
            assert_eq!(inet_aton(&s), libc_aton(&s), "{s:?}");
        }
    }
}
