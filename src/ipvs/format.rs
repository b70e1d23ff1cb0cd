//! ipvsadm's output formats, reproduced byte for byte: `-L/-l` (with `-n`, `--stats`, `--rate`,
//! `--thresholds`, `--persistent-conn`, `--tun-info`, `--exact`, `--nosort`), `-S/--save`,
//! `--timeout` and `--daemon`.
//!
//! The facts (column widths, the 33/28-character truncation of IPv4 names, the sort order and
//! its comparator's wrapping integer arithmetic) come from reading ipvsadm 1.30/1.31's
//! `ipvsadm.c` and `libipvs.c`; no code is taken from there.

use super::codec::{DaemonAttrs, DestAttrs, Family, Fwd, Proto, ServiceAttrs, TunType};
use super::consts::*;
use std::fmt::Write;
use std::net::{IpAddr, Ipv4Addr};

/// ipvsadm's `FMT_*` printing flags.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Format {
    pub numeric: bool,
    pub rule: bool,
    pub stats: bool,
    pub rate: bool,
    pub thresholds: bool,
    pub persistent_conn: bool,
    pub nosort: bool,
    pub exact: bool,
    pub tun_info: bool,
}

/// Name lookups for the non-numeric listing (`-L` without `-n`).
pub trait Names {
    fn host(&self, ip: &IpAddr) -> Option<String>;
    fn service(&self, port: u16, proto: Proto) -> Option<String>;
}

/// No lookups: what `-n` prints, and what tests use.
pub struct NumericNames;
impl Names for NumericNames {
    fn host(&self, _: &IpAddr) -> Option<String> {
        None
    }
    fn service(&self, _: u16, _: Proto) -> Option<String> {
        None
    }
}

/// One service with its destinations, as read from the kernel.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListEntry {
    pub svc: ServiceAttrs,
    pub dests: Vec<DestAttrs>,
}

fn version_triplet(v: u32) -> (u32, u32, u32) {
    ((v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff)
}

/// The first line of `-L` (not printed by `-S`, nor by `-L` of a single service).
pub fn version_line(version: u32, conn_tab_size: u32) -> String {
    let (a, b, c) = version_triplet(version);
    format!("IP Virtual Server version {a}.{b}.{c} (size={conn_tab_size})\n")
}

/// ipvsadm's `print_title`.
pub fn title(f: Format) -> String {
    let p = "Prot LocalAddress:Port";
    if f.stats {
        format!(
            "{p:<33} {:>8} {:>8} {:>8} {:>8} {:>8}\n  -> RemoteAddress:Port\n",
            "Conns", "InPkts", "OutPkts", "InBytes", "OutBytes"
        )
    } else if f.rate {
        format!(
            "{p:<33} {:>8} {:>8} {:>8} {:>8} {:>8}\n  -> RemoteAddress:Port\n",
            "CPS", "InPPS", "OutPPS", "InBPS", "OutBPS"
        )
    } else if f.thresholds {
        format!(
            "{p:<33} {:<10} {:<10} {:<10} {:<10}\n  -> RemoteAddress:Port\n",
            "Uthreshold", "Lthreshold", "ActiveConn", "InActConn"
        )
    } else if f.persistent_conn {
        format!(
            "{p:<33} {:<9} {:<11} {:<10} {:<10}\n  -> RemoteAddress:Port\n",
            "Weight", "PersistConn", "ActiveConn", "InActConn"
        )
    } else if f.tun_info {
        "Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn\n".to_string()
    } else if !f.rule {
        "Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n".to_string()
    } else {
        String::new()
    }
}

/// `inet_ntop`-style text of an address in a family; unknown families print as IPv4 of the
/// first four bytes (what ipvsadm's `inet_ntop` of an unexpected family would not do, but it
/// never sees one).
fn ntop(af: Family, raw: &[u8; 16]) -> String {
    match af {
        Family::Inet6 => std::net::Ipv6Addr::from(*raw).to_string(),
        _ => Ipv4Addr::new(raw[0], raw[1], raw[2], raw[3]).to_string(),
    }
}

fn ip_of(af: Family, raw: &[u8; 16]) -> IpAddr {
    match af {
        Family::Inet6 => IpAddr::V6(std::net::Ipv6Addr::from(*raw)),
        _ => IpAddr::V4(Ipv4Addr::new(raw[0], raw[1], raw[2], raw[3])),
    }
}

/// ipvsadm's `addrport_to_anyname`.
fn addrport(
    af: Family,
    raw: &[u8; 16],
    port: u16,
    proto: Proto,
    f: Format,
    names: &dyn Names,
) -> String {
    let (l, r) = if af == Family::Inet {
        ("", "")
    } else {
        ("[", "]")
    };
    let mut s = if f.numeric {
        format!("{l}{}{r}:{port}", ntop(af, raw))
    } else {
        let host = names.host(&ip_of(af, raw)).unwrap_or_else(|| ntop(af, raw));
        let serv = names
            .service(port, proto)
            .unwrap_or_else(|| port.to_string());
        format!("{l}{host}{r}:{serv}")
    };
    // ipvsadm formats into a 60-byte buffer.
    truncate_bytes(&mut s, 59);
    s
}

fn truncate_bytes(s: &mut String, n: usize) {
    if s.len() > n {
        let mut cut = n;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
}

/// `addrport_to_anyname` for other callers (the connection listing).
pub fn addrport_text(
    af: Family,
    raw: &[u8; 16],
    port: u16,
    proto: Proto,
    f: Format,
    names: &dyn Names,
) -> String {
    addrport(af, raw, port, proto, f, names)
}

/// ipvsadm's `print_largenum`.
fn largenum(out: &mut String, i: u64, f: Format) {
    if f.exact {
        let len = i.to_string().len();
        let w = if len <= 8 { 9 } else { len + 1 };
        let _ = write!(out, "{i:>w$}");
        return;
    }
    let _ = if i < 100_000_000 {
        write!(out, "{i:>9}")
    } else if i < 1_000_000_000 {
        write!(out, "{:>8}K", i / 1000)
    } else if i < 100_000_000_000 {
        write!(out, "{:>8}M", i / 1_000_000)
    } else if i < 100_000_000_000_000 {
        write!(out, "{:>8}G", i / 1_000_000_000)
    } else {
        write!(out, "{:>8}T", i / 1_000_000_000_000)
    };
}

/// ipvsadm's `print_sched_flags` (without the surrounding text).
pub fn sched_flags_text(sched: &str, flags: u32) -> String {
    let mut v: Vec<&str> = Vec::new();
    if sched == "sh" {
        if flags & IP_VS_SVC_F_SCHED_SH_FALLBACK != 0 {
            v.push("sh-fallback");
        }
        if flags & IP_VS_SVC_F_SCHED_SH_PORT != 0 {
            v.push("sh-port");
        }
    } else if sched == "mh" {
        if flags & IP_VS_SVC_F_SCHED_MH_FALLBACK != 0 {
            v.push("mh-fallback");
        }
        if flags & IP_VS_SVC_F_SCHED_MH_PORT != 0 {
            v.push("mh-port");
        }
    } else {
        if flags & IP_VS_SVC_F_SCHED1 != 0 {
            v.push("flag-1");
        }
        if flags & IP_VS_SVC_F_SCHED2 != 0 {
            v.push("flag-2");
        }
        if flags & IP_VS_SVC_F_SCHED3 != 0 {
            v.push("flag-3");
        }
    }
    v.join(",")
}

fn proto_name(p: Proto) -> &'static str {
    match p {
        Proto::Tcp => "TCP",
        Proto::Udp => "UDP",
        Proto::Sctp => "SCTP",
        Proto::Unknown(_) => "?",
    }
}

fn proto_option(p: Proto) -> &'static str {
    match p {
        Proto::Tcp => "-t",
        Proto::Udp => "-u",
        Proto::Sctp => "--sctp-service",
        Proto::Unknown(_) => "--xxx-service",
    }
}

fn fwd_name(f: Fwd) -> &'static str {
    match f {
        Fwd::Masq => "Masq",
        Fwd::Local => "Local",
        Fwd::Tunnel => "Tunnel",
        Fwd::Route => "Route",
        // ipvsadm prints "(null)" through glibc for these.
        _ => "(null)",
    }
}

fn fwd_switch(f: Fwd) -> &'static str {
    match f {
        Fwd::Masq => "-m",
        Fwd::Tunnel => "-i",
        Fwd::Local | Fwd::Route => "-g",
        _ => "(null)",
    }
}

const TUN_FLAG_NAMES: [&str; 3] = ["-c", "+c", "r+c"];
const TUN_FLAG_OPTS: [&str; 3] = ["--tun-nocsum", "--tun-csum", "--tun-remcsum"];

/// ipvsadm's `fwd_tun_info`.
fn tun_info(d: &DestAttrs) -> Option<String> {
    if d.fwd_method.unwrap_or(Fwd::Masq) != Fwd::Tunnel {
        return None;
    }
    let flags = d.tun_flags.unwrap_or(0) as usize;
    let port = d.tun_port.unwrap_or(0);
    let mut s = match d.tun_type.unwrap_or(TunType::Ipip) {
        TunType::Ipip => "ipip".to_string(),
        TunType::Gue => format!("gue:{}:{}", port, TUN_FLAG_NAMES.get(flags)?),
        TunType::Gre => format!("gre:{}", TUN_FLAG_NAMES.get(flags)?),
        TunType::Unknown(_) => return None,
    };
    truncate_bytes(&mut s, 15);
    Some(s)
}

/// ipvsadm's service comparator (`ipvs_cmp_services`), including its wrapping int arithmetic.
pub fn cmp_services(a: &ServiceAttrs, b: &ServiceAttrs) -> i32 {
    let r = a.fwmark.unwrap_or(0).wrapping_sub(b.fwmark.unwrap_or(0)) as i32;
    if r != 0 {
        return r;
    }
    let af = |s: &ServiceAttrs| u16::from(s.af.unwrap_or(Family::Inet)) as i32;
    let r = af(a) - af(b);
    if r != 0 {
        return r;
    }
    let pr = |s: &ServiceAttrs| {
        if s.fwmark.unwrap_or(0) != 0 {
            0
        } else {
            u16::from(s.protocol.unwrap_or(Proto::Unknown(0))) as i32
        }
    };
    let r = pr(a) - pr(b);
    if r != 0 {
        return r;
    }
    let r = cmp_addr(
        a.af.unwrap_or(Family::Inet),
        &a.addr.unwrap_or_default(),
        &b.addr.unwrap_or_default(),
    );
    if r != 0 {
        return r;
    }
    a.port.unwrap_or(0) as i32 - b.port.unwrap_or(0) as i32
}

fn word(raw: &[u8; 16], i: usize) -> u32 {
    u32::from_be_bytes([raw[4 * i], raw[4 * i + 1], raw[4 * i + 2], raw[4 * i + 3]])
}

fn cmp_addr(af: Family, a: &[u8; 16], b: &[u8; 16]) -> i32 {
    if af == Family::Inet6 {
        let mut r = 0i32;
        for i in 0..4 {
            r = word(a, i).wrapping_sub(word(b, i)) as i32;
            if r != 0 {
                break;
            }
        }
        r
    } else {
        word(a, 0).wrapping_sub(word(b, 0)) as i32
    }
}

/// ipvsadm's destination comparator (`ipvs_cmp_dests`); `svc_af` stands in for a missing
/// destination family.
pub fn cmp_dests(a: &DestAttrs, b: &DestAttrs, svc_af: Family) -> i32 {
    let r = cmp_addr(
        a.addr_family.unwrap_or(svc_af),
        &a.addr.unwrap_or_default(),
        &b.addr.unwrap_or_default(),
    );
    if r != 0 {
        return r;
    }
    a.port.unwrap_or(0) as i32 - b.port.unwrap_or(0) as i32
}

/// glibc's `qsort` for these sizes is a stable top-down merge sort (`msort_with_tmp`); with
/// ipvsadm's non-transitive comparators only the same algorithm gives the same order, and
/// Rust's `sort_by` may panic on a non-total order. Sorts indices, so nothing is cloned.
pub fn c_msort_indices(n: usize, cmp: &dyn Fn(usize, usize) -> i32) -> Vec<usize> {
    let mut v: Vec<usize> = (0..n).collect();
    let mut tmp: Vec<usize> = Vec::with_capacity(n);
    msort(&mut v, &mut tmp, cmp);
    v
}

fn msort(v: &mut [usize], tmp: &mut Vec<usize>, cmp: &dyn Fn(usize, usize) -> i32) {
    let n = v.len();
    if n <= 1 {
        return;
    }
    let n1 = n / 2;
    {
        let (left, right) = v.split_at_mut(n1);
        msort(left, tmp, cmp);
        msort(right, tmp, cmp);
    }
    tmp.clear();
    let (mut i, mut j) = (0usize, n1);
    while i < n1 && j < n {
        if cmp(v[i], v[j]) <= 0 {
            tmp.push(v[i]);
            i += 1;
        } else {
            tmp.push(v[j]);
            j += 1;
        }
    }
    tmp.extend_from_slice(&v[i..n1]);
    // Elements v[j..] are already in place.
    v[..tmp.len()].copy_from_slice(tmp);
}

/// [`c_msort_indices`] applied to a slice.
pub fn c_msort<T: Clone>(v: &mut [T], cmp: &dyn Fn(&T, &T) -> i32) {
    let order = c_msort_indices(v.len(), &|a, b| cmp(&v[a], &v[b]));
    let sorted: Vec<T> = order.iter().map(|&i| v[i].clone()).collect();
    v.clone_from_slice(&sorted);
}

/// ipvsadm's `print_service_entry`: the service line and its destination lines.
pub fn service_entry(e: &ListEntry, f: Format, names: &dyn Names) -> String {
    let mut out = String::new();
    write_service_entry(&mut out, e, f, names);
    out
}

/// [`service_entry`] appended to `out` (a whole listing is one buffer, written once).
pub fn write_service_entry(out: &mut String, e: &ListEntry, f: Format, names: &dyn Names) {
    let se = &e.svc;
    let af = se.af.unwrap_or(Family::Inet);
    let proto = se.protocol.unwrap_or(Proto::Tcp);
    let fwmark = se.fwmark.unwrap_or(0);
    let flags = se.flags.map(|f| f.flags & f.mask).unwrap_or(0);
    let sched = se.sched_name.clone().unwrap_or_default();
    let timeout = se.timeout.unwrap_or(0);
    let netmask = se.netmask.unwrap_or(0);
    let pe = se.pe_name.clone().unwrap_or_default();

    let svc_name = if fwmark != 0 {
        let m = fwmark as i32;
        match (f.rule, af == Family::Inet6) {
            (true, true) => format!("-f {m} -6"),
            (true, false) => format!("-f {m}"),
            (false, true) => format!("FWM  {m} IPv6"),
            (false, false) => format!("FWM  {m}"),
        }
    } else {
        let vname = addrport(
            af,
            &se.addr.unwrap_or_default(),
            se.port.unwrap_or(0),
            proto,
            f,
            names,
        );
        if f.rule {
            format!("{} {}", proto_option(proto), vname)
        } else {
            let mut s = format!("{:<4} {}", proto_name(proto), vname);
            if af != Family::Inet6 {
                truncate_bytes(&mut s, 33);
            }
            s
        }
    };

    let sched_bits = flags & IP_VS_SVC_F_SCHED_MASK;
    let v4mask = |m: u32| Ipv4Addr::from(m.to_ne_bytes());
    if f.rule {
        let _ = write!(out, "-A {svc_name} -s {sched}");
        if flags & IP_VS_SVC_F_PERSISTENT != 0 {
            let _ = write!(out, " -p {timeout}");
            if af == Family::Inet && netmask != 0xffff_ffff {
                let _ = write!(out, " -M {}", v4mask(netmask));
            }
            if af == Family::Inet6 && netmask != 128 {
                let _ = write!(out, " -M {}", netmask as i32);
            }
        }
        if !pe.is_empty() {
            let _ = write!(out, " --pe {pe}");
        }
        if flags & IP_VS_SVC_F_ONEPACKET != 0 {
            out.push_str(" -o");
        }
        if sched_bits != 0 {
            let _ = write!(out, " -b {}", sched_flags_text(&sched, flags));
        }
    } else if f.stats || f.rate {
        let _ = write!(out, "{svc_name:<33}");
        let s = se.best_stats().cloned().unwrap_or_default();
        let vals = if f.stats {
            [s.conns, s.inpkts, s.outpkts, s.inbytes, s.outbytes]
        } else {
            [s.cps, s.inpps, s.outpps, s.inbps, s.outbps]
        };
        for v in vals {
            largenum(out, v, f);
        }
    } else {
        let _ = write!(out, "{svc_name} {sched}");
        if sched_bits != 0 {
            let _ = write!(out, " ({})", sched_flags_text(&sched, flags));
        }
        if flags & IP_VS_SVC_F_PERSISTENT != 0 {
            let _ = write!(out, " persistent {timeout}");
            if af == Family::Inet && netmask != 0xffff_ffff {
                let _ = write!(out, " mask {}", v4mask(netmask));
            }
            if af == Family::Inet6 && netmask != 128 {
                let _ = write!(out, " mask {}", netmask as i32);
            }
            if !pe.is_empty() {
                let _ = write!(out, " pe {pe}");
            }
        }
        if flags & IP_VS_SVC_F_ONEPACKET != 0 {
            out.push_str(" ops");
        }
    }
    out.push('\n');

    let order: Vec<usize> = if f.nosort {
        (0..e.dests.len()).collect()
    } else {
        c_msort_indices(e.dests.len(), &|a, b| {
            cmp_dests(&e.dests[a], &e.dests[b], af)
        })
    };
    for d in order.iter().map(|&i| &e.dests[i]) {
        let daf = d.addr_family.unwrap_or(af);
        let mut dname = addrport(
            daf,
            &d.addr.unwrap_or_default(),
            d.port.unwrap_or(0),
            proto,
            f,
            names,
        );
        if !f.rule && daf != Family::Inet6 {
            truncate_bytes(&mut dname, 28);
        }
        let fwd = d.fwd_method.unwrap_or(Fwd::Masq);
        let weight = d.weight.unwrap_or(0) as i32;
        let active = d.active_conns.unwrap_or(0);
        let inact = d.inact_conns.unwrap_or(0);
        if f.rule {
            let _ = write!(
                out,
                "-a {svc_name} -r {dname} {} -w {weight}",
                fwd_switch(fwd)
            );
            if fwd == Fwd::Tunnel {
                let flags = d.tun_flags.unwrap_or(0) as usize;
                match d.tun_type.unwrap_or(TunType::Ipip) {
                    TunType::Gue => {
                        let _ = write!(
                            out,
                            " --tun-type gue --tun-port {} {}",
                            d.tun_port.unwrap_or(0),
                            TUN_FLAG_OPTS.get(flags).unwrap_or(&"(null)")
                        );
                    }
                    TunType::Gre => {
                        let _ = write!(
                            out,
                            " --tun-type gre {}",
                            TUN_FLAG_OPTS.get(flags).unwrap_or(&"(null)")
                        );
                    }
                    TunType::Ipip => out.push_str(" --tun-type ipip"),
                    TunType::Unknown(_) => {}
                }
            }
            out.push('\n');
        } else if f.stats {
            let _ = write!(out, "  -> {dname:<28}");
            let s = d.best_stats().cloned().unwrap_or_default();
            for v in [s.conns, s.inpkts, s.outpkts, s.inbytes, s.outbytes] {
                largenum(out, v, f);
            }
            out.push('\n');
        } else if f.rate {
            let s = d.best_stats().cloned().unwrap_or_default();
            let _ = write!(
                out,
                "  -> {dname:<28} {:>8} {:>8} {:>8}",
                s.cps, s.inpps, s.outpps
            );
            largenum(out, s.inbps, f);
            largenum(out, s.outbps, f);
            out.push('\n');
        } else if f.thresholds {
            let _ = writeln!(
                out,
                "  -> {dname:<28} {:<10} {:<10} {:<10} {:<10}",
                d.u_thresh.unwrap_or(0),
                d.l_thresh.unwrap_or(0),
                active,
                inact
            );
        } else if f.persistent_conn {
            let _ = writeln!(
                out,
                "  -> {dname:<28} {:<9} {:<11} {:<10} {:<10}",
                weight,
                d.persist_conns.unwrap_or(0),
                active,
                inact
            );
        } else if f.tun_info {
            let ti = tun_info(d).unwrap_or_else(|| "n/a".to_string());
            let _ = writeln!(
                out,
                "  -> {dname:<28} {:<7} {:<13} {:<6} {:<10} {:<10}",
                fwd_name(fwd),
                ti,
                weight,
                active,
                inact
            );
        } else {
            let _ = writeln!(
                out,
                "  -> {dname:<28} {:<7} {:<6} {:<10} {:<10}",
                fwd_name(fwd),
                weight,
                active,
                inact
            );
        }
    }
}

/// ipvsadm's `list_all` (and `-S`): optional version line, title, sorted services.
pub fn list_all(
    entries: &[ListEntry],
    version: Option<(u32, u32)>,
    f: Format,
    names: &dyn Names,
) -> String {
    let mut out = String::new();
    if !f.rule {
        if let Some((v, size)) = version {
            out.push_str(&version_line(v, size));
        }
    }
    let order: Vec<usize> = if f.nosort {
        (0..entries.len()).collect()
    } else {
        c_msort_indices(entries.len(), &|a, b| {
            cmp_services(&entries[a].svc, &entries[b].svc)
        })
    };
    out.push_str(&title(f));
    // About 70 bytes a line: one allocation for the whole listing.
    let lines: usize = entries.iter().map(|e| 1 + e.dests.len()).sum();
    out.reserve(lines * 72);
    for e in order.iter().map(|&i| &entries[i]) {
        write_service_entry(&mut out, e, f, names);
    }
    out
}

/// ipvsadm's `list_service` (`-L -t ...`): title and the one service, no version line.
pub fn list_one(entry: &ListEntry, f: Format, names: &dyn Names) -> String {
    let mut out = title(f);
    out.push_str(&service_entry(entry, f, names));
    out
}

/// `--timeout`.
pub fn timeouts_line(tcp: u32, tcpfin: u32, udp: u32) -> String {
    format!(
        "Timeout (tcp tcpfin udp): {} {} {}\n",
        tcp as i32, tcpfin as i32, udp as i32
    )
}

/// `--daemon`: one line per running daemon, master first as the kernel reports them.
pub fn daemons(list: &[DaemonAttrs]) -> String {
    let mut out = String::new();
    for d in list.iter().take(2) {
        let state = d.state.unwrap_or(0);
        let kind = if state & IP_VS_STATE_MASTER != 0 {
            "master"
        } else if state & IP_VS_STATE_BACKUP != 0 {
            "backup"
        } else {
            continue;
        };
        let mut ifn = d.mcast_ifn.clone().unwrap_or_default();
        truncate_bytes(&mut ifn, IP_VS_IFNAME_MAXLEN - 1);
        let _ = write!(
            out,
            "{kind} sync daemon (mcast={ifn}, syncid={}",
            d.sync_id.unwrap_or(0) as i32
        );
        if let Some(m) = d.sync_maxlen.filter(|m| *m != 0) {
            let _ = write!(out, ", maxlen={m}");
        }
        if let Some(g) = d.mcast_group {
            let _ = write!(out, ", group={g}");
        } else if let Some(g) = d.mcast_group6 {
            let _ = write!(out, ", group={g}");
        }
        if let Some(p) = d.mcast_port.filter(|p| *p != 0) {
            let _ = write!(out, ", port={p}");
        }
        if let Some(t) = d.mcast_ttl.filter(|t| *t != 0) {
            let _ = write!(out, ", ttl={t}");
        }
        out.push_str(")\n");
    }
    out
}
