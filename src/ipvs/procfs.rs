//! `/proc/net/ip_vs`: every service with its destinations in one read.
//!
//! Netlink has no dump of all destinations (`GET_DEST` takes one service), so listing a big
//! table over netlink costs a request per service. The proc file, written by the kernel's
//! `ip_vs_info_seq_show`, carries for each destination what a plain `-L` and `-S` print —
//! address (with its family), port, forwarding method, weight, active and inactive
//! connections — in the kernel's list order. It lacks thresholds, tunnel parameters,
//! persistent-connection counts and statistics, and a fwmark service's family; callers take
//! those from netlink (see [`merge_listing`]). Parsing is pure and total: a line it does not
//! understand makes the service it belongs to unusable, never a panic.

use super::codec::{DestAttrs, Family, Fwd, Proto, ServiceAttrs};
use std::collections::HashMap;
use std::net::Ipv6Addr;

/// How the proc file names a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProcKey {
    Addr {
        proto: Proto,
        af: Family,
        addr: [u8; 16],
        port: u16,
    },
    /// The proc file does not say a fwmark service's family.
    Fwmark(u32),
}

/// One service block of the proc file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcService {
    pub key: ProcKey,
    pub dests: Vec<DestAttrs>,
    /// False when a line of this block could not be read.
    pub complete: bool,
}

fn parse_v4_hex(s: &str) -> Option<[u8; 16]> {
    if s.len() != 8 {
        return None;
    }
    let v = u32::from_str_radix(s, 16).ok()?;
    let mut a = [0u8; 16];
    a[..4].copy_from_slice(&v.to_be_bytes());
    Some(a)
}

/// `0A000001:0050` or `[2001:0db8:...:0001]:0050`.
fn parse_addr_port(s: &str) -> Option<(Family, [u8; 16], u16)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (a, p) = rest.split_once("]:")?;
        let ip: Ipv6Addr = a.parse().ok()?;
        let port = u16::from_str_radix(p, 16).ok()?;
        return Some((Family::Inet6, ip.octets(), port));
    }
    let (a, p) = s.split_once(':')?;
    Some((
        Family::Inet,
        parse_v4_hex(a)?,
        u16::from_str_radix(p, 16).ok()?,
    ))
}

fn parse_proto(s: &str) -> Option<Proto> {
    match s {
        "TCP" => Some(Proto::Tcp),
        "UDP" => Some(Proto::Udp),
        "SCTP" => Some(Proto::Sctp),
        _ => None,
    }
}

fn parse_fwd(s: &str) -> Option<Fwd> {
    match s {
        "Masq" => Some(Fwd::Masq),
        "Local" => Some(Fwd::Local),
        "Tunnel" => Some(Fwd::Tunnel),
        "Route" => Some(Fwd::Route),
        _ => None,
    }
}

fn parse_dest(words: &[&str]) -> Option<DestAttrs> {
    let [_, addrport, fwd, weight, active, inact, ..] = words else {
        return None;
    };
    let (af, addr, port) = parse_addr_port(addrport)?;
    Some(DestAttrs {
        addr_family: Some(af),
        addr: Some(addr),
        port: Some(port),
        fwd_method: Some(parse_fwd(fwd)?),
        weight: Some(weight.parse::<i32>().ok()? as u32),
        active_conns: Some(active.parse::<i32>().ok()? as u32),
        inact_conns: Some(inact.parse::<i32>().ok()? as u32),
        ..Default::default()
    })
}

fn parse_service_line(words: &[&str]) -> Option<ProcKey> {
    match words {
        ["FWM", mark, ..] => Some(ProcKey::Fwmark(u32::from_str_radix(mark, 16).ok()?)),
        [proto, addrport, ..] => {
            let proto = parse_proto(proto)?;
            let (af, addr, port) = parse_addr_port(addrport)?;
            Some(ProcKey::Addr {
                proto,
                af,
                addr,
                port,
            })
        }
        _ => None,
    }
}

/// Parse the whole file. Services whose header cannot be read are skipped with their
/// destinations (their keys are unknown, so nobody can ask for them).
pub fn parse(text: &str) -> Vec<ProcService> {
    let mut out: Vec<ProcService> = Vec::new();
    let mut skipping = false;
    for line in text.lines() {
        if line.starts_with("IP Virtual Server")
            || line.starts_with("Prot LocalAddress")
            || line.starts_with("  -> RemoteAddress")
            || line.trim().is_empty()
        {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.first() == Some(&"->") {
            if skipping {
                continue;
            }
            if let Some(cur) = out.last_mut() {
                match parse_dest(&words) {
                    Some(d) => cur.dests.push(d),
                    None => cur.complete = false,
                }
            }
            continue;
        }
        match parse_service_line(&words) {
            Some(key) => {
                skipping = false;
                out.push(ProcService {
                    key,
                    dests: Vec::new(),
                    complete: true,
                });
            }
            None => skipping = true,
        }
    }
    out
}

/// The proc key of a netlink service.
pub fn key_of(s: &ServiceAttrs) -> Option<ProcKey> {
    if let Some(m) = s.fwmark.filter(|m| *m != 0) {
        return Some(ProcKey::Fwmark(m));
    }
    Some(ProcKey::Addr {
        proto: s.protocol?,
        af: s.af?,
        addr: s.addr?,
        port: s.port?,
    })
}

/// For each netlink service (in order): its destinations from the proc file, or None when
/// they must come from netlink — the service is missing from the file or its block was not
/// fully readable, its fwmark is shared by an IPv4 and an IPv6 service, or `needs_tunnel_info`
/// and one of its destinations tunnels (the file has no tunnel parameters).
pub fn merge_listing(
    services: &[ServiceAttrs],
    proc: Vec<ProcService>,
    needs_tunnel_info: bool,
) -> Vec<Option<Vec<DestAttrs>>> {
    let mut fwmark_count: HashMap<u32, usize> = HashMap::new();
    for s in services {
        if let Some(m) = s.fwmark.filter(|m| *m != 0) {
            *fwmark_count.entry(m).or_default() += 1;
        }
    }
    let mut by_key: HashMap<ProcKey, ProcService> = HashMap::new();
    for p in proc {
        // A key seen twice is ambiguous: mark it unusable, netlink will answer.
        match by_key.entry(p.key) {
            std::collections::hash_map::Entry::Occupied(mut e) => e.get_mut().complete = false,
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(p);
            }
        }
    }
    services
        .iter()
        .map(|s| {
            let key = key_of(s)?;
            if let ProcKey::Fwmark(m) = key {
                if fwmark_count.get(&m).copied().unwrap_or(0) != 1 {
                    return None;
                }
            }
            let p = by_key.get(&key)?;
            if !p.complete {
                return None;
            }
            if needs_tunnel_info && p.dests.iter().any(|d| d.fwd_method == Some(Fwd::Tunnel)) {
                return None;
            }
            Some(p.dests.clone())
        })
        .collect()
}
