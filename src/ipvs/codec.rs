//! The IPVS generic-netlink messages as typed values, with pack/unpack pairs.
//!
//! Layers: [`IpvsMessage`] is the generic-netlink payload (command + first-level attributes);
//! [`ServiceAttrs`], [`DestAttrs`], [`DaemonAttrs`] and [`Stats`] are the nested attribute sets.
//! Every attribute is optional (the kernel sends different subsets per command), unknown
//! attributes are kept in `other` so that nothing is lost and nothing panics.
//!
//! Wire quirks, each handled once here:
//! - ports (`*_ATTR_PORT`, `DEST_ATTR_TUN_PORT`) are big-endian u16 among native-endian ints;
//! - the service flags are a `struct ip_vs_flags { u32 flags; u32 mask; }`;
//! - addresses travel in a 16-byte `union nf_inet_addr` whatever the family: the family comes
//!   from `SVC_ATTR_AF` / `DEST_ATTR_ADDR_FAMILY`, never from the attribute length;
//! - the service netmask is a `__be32` dotted mask for IPv4 and a prefix length for IPv6;
//! - the reply to `GET_INFO` uses `IPVS_INFO_ATTR_*` ids at the first level (they collide
//!   with `IPVS_CMD_ATTR_*`), so first-level parsing depends on the command.

use super::consts::*;
use netlink_packet_core::{
    DecodeError, Emitable, NLA_F_NESTED, NLA_TYPE_MASK, NetlinkHeader, NetlinkMessage,
    NetlinkPayload, NlasIterator, ParseableParametrized,
};
use netlink_packet_generic::{GenlFamily, GenlHeader, GenlMessage};
use serde::Serialize;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

// ---------------------------------------------------------------------------------------------
// Typed enums (each with an Unknown arm so decoding is total)
// ---------------------------------------------------------------------------------------------

macro_rules! wire_enum {
    ($(#[$m:meta])* $name:ident : $repr:ty { $($variant:ident = $val:expr),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        pub enum $name { $($variant,)* Unknown($repr) }
        impl From<$repr> for $name {
            fn from(v: $repr) -> Self {
                match v { $(x if x == $val => $name::$variant,)* other => $name::Unknown(other) }
            }
        }
        impl From<$name> for $repr {
            fn from(v: $name) -> $repr {
                match v { $($name::$variant => $val,)* $name::Unknown(x) => x }
            }
        }
    };
}

wire_enum!(
    /// `IPVS_CMD_*`.
    Cmd: u8 {
        NewService = IPVS_CMD_NEW_SERVICE, SetService = IPVS_CMD_SET_SERVICE,
        DelService = IPVS_CMD_DEL_SERVICE, GetService = IPVS_CMD_GET_SERVICE,
        NewDest = IPVS_CMD_NEW_DEST, SetDest = IPVS_CMD_SET_DEST,
        DelDest = IPVS_CMD_DEL_DEST, GetDest = IPVS_CMD_GET_DEST,
        NewDaemon = IPVS_CMD_NEW_DAEMON, DelDaemon = IPVS_CMD_DEL_DAEMON,
        GetDaemon = IPVS_CMD_GET_DAEMON, SetConfig = IPVS_CMD_SET_CONFIG,
        GetConfig = IPVS_CMD_GET_CONFIG, SetInfo = IPVS_CMD_SET_INFO,
        GetInfo = IPVS_CMD_GET_INFO, Zero = IPVS_CMD_ZERO, Flush = IPVS_CMD_FLUSH,
    }
);

wire_enum!(
    /// Address family (`AF_INET` / `AF_INET6`).
    Family: u16 { Inet = AF_INET, Inet6 = AF_INET6 }
);

wire_enum!(
    /// Virtual service protocol (`IPPROTO_*`).
    Proto: u16 { Tcp = IPPROTO_TCP, Udp = IPPROTO_UDP, Sctp = IPPROTO_SCTP }
);

wire_enum!(
    /// Forwarding method (`IP_VS_CONN_F_*` under `IP_VS_CONN_F_FWD_MASK`).
    Fwd: u32 {
        Masq = IP_VS_CONN_F_MASQ, Local = IP_VS_CONN_F_LOCALNODE,
        Tunnel = IP_VS_CONN_F_TUNNEL, Route = IP_VS_CONN_F_DROUTE,
        Bypass = IP_VS_CONN_F_BYPASS,
    }
);

wire_enum!(
    /// Tunnel type (`IP_VS_CONN_F_TUNNEL_TYPE_*`).
    TunType: u8 {
        Ipip = IP_VS_CONN_F_TUNNEL_TYPE_IPIP, Gue = IP_VS_CONN_F_TUNNEL_TYPE_GUE,
        Gre = IP_VS_CONN_F_TUNNEL_TYPE_GRE,
    }
);

// ---------------------------------------------------------------------------------------------
// Attribute sets
// ---------------------------------------------------------------------------------------------

/// An attribute this codec does not interpret, kept verbatim (type without flag bits).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RawAttr {
    pub kind: u16,
    pub value: Vec<u8>,
}

/// `struct ip_vs_flags`: the kernel applies `flags` under `mask`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct SvcFlags {
    pub flags: u32,
    pub mask: u32,
}

/// Counters and rates (`IPVS_STATS_ATTR_*`). `STATS` carries some as u32, `STATS64` all as
/// u64; both decode into u64 here.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Stats {
    pub conns: u64,
    pub inpkts: u64,
    pub outpkts: u64,
    pub inbytes: u64,
    pub outbytes: u64,
    pub cps: u64,
    pub inpps: u64,
    pub outpps: u64,
    pub inbps: u64,
    pub outbps: u64,
    pub other: Vec<RawAttr>,
}

/// `IPVS_SVC_ATTR_*`, nested in `IPVS_CMD_ATTR_SERVICE`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct ServiceAttrs {
    pub af: Option<Family>,
    pub protocol: Option<Proto>,
    /// The 16-byte `union nf_inet_addr`; read it with [`ServiceAttrs::ip`].
    pub addr: Option<[u8; 16]>,
    /// Host order here, big-endian on the wire.
    pub port: Option<u16>,
    pub fwmark: Option<u32>,
    pub sched_name: Option<String>,
    pub flags: Option<SvcFlags>,
    pub timeout: Option<u32>,
    /// Raw `__be32`: IPv4 dotted mask bytes in network order, IPv6 a prefix length value.
    pub netmask: Option<u32>,
    pub stats: Option<Stats>,
    pub pe_name: Option<String>,
    pub stats64: Option<Stats>,
    pub other: Vec<RawAttr>,
}

/// `IPVS_DEST_ATTR_*`, nested in `IPVS_CMD_ATTR_DEST`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct DestAttrs {
    pub addr: Option<[u8; 16]>,
    /// Host order here, big-endian on the wire.
    pub port: Option<u16>,
    pub fwd_method: Option<Fwd>,
    pub weight: Option<u32>,
    pub u_thresh: Option<u32>,
    pub l_thresh: Option<u32>,
    pub active_conns: Option<u32>,
    pub inact_conns: Option<u32>,
    pub persist_conns: Option<u32>,
    pub stats: Option<Stats>,
    pub addr_family: Option<Family>,
    pub stats64: Option<Stats>,
    pub tun_type: Option<TunType>,
    /// Host order here, big-endian on the wire.
    pub tun_port: Option<u16>,
    pub tun_flags: Option<u16>,
    pub other: Vec<RawAttr>,
}

/// `IPVS_DAEMON_ATTR_*`, nested in `IPVS_CMD_ATTR_DAEMON`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct DaemonAttrs {
    pub state: Option<u32>,
    pub mcast_ifn: Option<String>,
    pub sync_id: Option<u32>,
    pub sync_maxlen: Option<u16>,
    pub mcast_group: Option<Ipv4Addr>,
    pub mcast_group6: Option<Ipv6Addr>,
    pub mcast_port: Option<u16>,
    pub mcast_ttl: Option<u8>,
    pub other: Vec<RawAttr>,
}

/// A whole IPVS generic-netlink payload: the command and its first-level attributes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IpvsMessage {
    pub cmd: Cmd,
    pub service: Option<ServiceAttrs>,
    pub dest: Option<DestAttrs>,
    pub daemon: Option<DaemonAttrs>,
    pub timeout_tcp: Option<u32>,
    pub timeout_tcp_fin: Option<u32>,
    pub timeout_udp: Option<u32>,
    /// `IPVS_INFO_ATTR_VERSION` (only in `SET_INFO`/`GET_INFO` messages).
    pub info_version: Option<u32>,
    /// `IPVS_INFO_ATTR_CONN_TAB_SIZE` (only in `SET_INFO`/`GET_INFO` messages).
    pub info_conn_tab_size: Option<u32>,
    pub other: Vec<RawAttr>,
}

impl IpvsMessage {
    pub fn new(cmd: Cmd) -> Self {
        IpvsMessage {
            cmd,
            service: None,
            dest: None,
            daemon: None,
            timeout_tcp: None,
            timeout_tcp_fin: None,
            timeout_udp: None,
            info_version: None,
            info_conn_tab_size: None,
            other: Vec::new(),
        }
    }
    pub fn with_service(mut self, s: ServiceAttrs) -> Self {
        self.service = Some(s);
        self
    }
    pub fn with_dest(mut self, d: DestAttrs) -> Self {
        self.dest = Some(d);
        self
    }
    pub fn with_daemon(mut self, d: DaemonAttrs) -> Self {
        self.daemon = Some(d);
        self
    }
    fn is_info(&self) -> bool {
        matches!(self.cmd, Cmd::SetInfo | Cmd::GetInfo)
    }
}

// ---------------------------------------------------------------------------------------------
// Address helpers (family always explicit)
// ---------------------------------------------------------------------------------------------

/// Pack an address into the 16-byte `union nf_inet_addr`.
pub fn pack_addr(ip: &IpAddr) -> [u8; 16] {
    let mut b = [0u8; 16];
    match ip {
        IpAddr::V4(a) => b[..4].copy_from_slice(&a.octets()),
        IpAddr::V6(a) => b.copy_from_slice(&a.octets()),
    }
    b
}

/// Read a 16-byte `union nf_inet_addr` as the given family; None for an unknown family.
pub fn unpack_addr(family: Family, b: &[u8; 16]) -> Option<IpAddr> {
    match family {
        Family::Inet => Some(IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))),
        Family::Inet6 => Some(IpAddr::V6(Ipv6Addr::from(*b))),
        Family::Unknown(_) => None,
    }
}

pub fn family_of(ip: &IpAddr) -> Family {
    if ip.is_ipv4() {
        Family::Inet
    } else {
        Family::Inet6
    }
}

impl ServiceAttrs {
    /// The virtual address, read with the service's own family attribute.
    pub fn ip(&self) -> Option<IpAddr> {
        unpack_addr(self.af?, self.addr.as_ref()?)
    }
    /// The IPv4 netmask as an address (the raw `__be32` read in network order).
    pub fn netmask_v4(&self) -> Option<Ipv4Addr> {
        self.netmask.map(|m| Ipv4Addr::from(m.to_ne_bytes()))
    }
    /// The preferred statistics (64-bit when present).
    pub fn best_stats(&self) -> Option<&Stats> {
        self.stats64.as_ref().or(self.stats.as_ref())
    }
}

impl DestAttrs {
    /// The destination address, read with the destination's own family attribute, else the
    /// given (service) family — kernels before 4.2 sent no `DEST_ATTR_ADDR_FAMILY`.
    pub fn ip(&self, fallback: Family) -> Option<IpAddr> {
        unpack_addr(self.addr_family.unwrap_or(fallback), self.addr.as_ref()?)
    }
    pub fn best_stats(&self) -> Option<&Stats> {
        self.stats64.as_ref().or(self.stats.as_ref())
    }
}

/// Raw `__be32` netmask value for an IPv4 prefix length (bytes ff..00 in network order).
pub fn v4_netmask_raw(prefix: u8) -> u32 {
    let p = prefix.min(32) as u32;
    let mask: u32 = if p == 0 { 0 } else { u32::MAX << (32 - p) };
    u32::from_ne_bytes(mask.to_be_bytes())
}

// ---------------------------------------------------------------------------------------------
// Emission
// ---------------------------------------------------------------------------------------------

/// A little attribute writer: type-length-value with 4-byte alignment, straight into the
/// caller's buffer (nests patch their length afterwards: no buffer per level).
struct AttrWriter<'a> {
    buf: &'a mut Vec<u8>,
}

impl AttrWriter<'_> {
    fn header(&mut self, kind: u16, value_len: usize) {
        self.buf
            .extend_from_slice(&((4 + value_len) as u16).to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
    }
    fn pad(&mut self) {
        let n = (4 - self.buf.len() % 4) % 4;
        self.buf.extend_from_slice(&[0u8; 3][..n]);
    }
    fn put(&mut self, kind: u16, value: &[u8]) {
        self.header(kind, value.len());
        self.buf.extend_from_slice(value);
        self.pad();
    }
    fn u8(&mut self, kind: u16, v: Option<u8>) {
        if let Some(v) = v {
            self.put(kind, &[v]);
        }
    }
    fn u16(&mut self, kind: u16, v: Option<u16>) {
        if let Some(v) = v {
            self.put(kind, &v.to_ne_bytes());
        }
    }
    fn be16(&mut self, kind: u16, v: Option<u16>) {
        if let Some(v) = v {
            self.put(kind, &v.to_be_bytes());
        }
    }
    fn u32(&mut self, kind: u16, v: Option<u32>) {
        if let Some(v) = v {
            self.put(kind, &v.to_ne_bytes());
        }
    }
    fn u64(&mut self, kind: u16, v: u64) {
        self.put(kind, &v.to_ne_bytes());
    }
    fn string(&mut self, kind: u16, v: &Option<String>) {
        if let Some(s) = v {
            self.header(kind, s.len() + 1);
            self.buf.extend_from_slice(s.as_bytes());
            self.buf.push(0);
            self.pad();
        }
    }
    /// A nested attribute whose contents `inner` writes.
    fn nest(&mut self, kind: u16, inner: impl FnOnce(&mut AttrWriter)) {
        let start = self.buf.len();
        self.header(kind | NLA_F_NESTED, 0);
        inner(self);
        let len = (self.buf.len() - start) as u16;
        self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
    }
    fn others(&mut self, others: &[RawAttr]) {
        for o in others {
            self.put(o.kind, &o.value);
        }
    }
}

impl Stats {
    /// `STATS64`: every counter as u64.
    fn pack64(&self, w: &mut AttrWriter) {
        for (k, v) in self.fields() {
            w.u64(k, v);
        }
        w.others(&self.other);
    }
    /// `STATS`: conns/packets and rates as u32, bytes as u64.
    fn pack32(&self, w: &mut AttrWriter) {
        for (k, v) in self.fields() {
            // Bytes are u64 in STATS too; a value too large for u32 (only from a decoded
            // oversized attribute) stays u64 so that decoding gives it back.
            if k == IPVS_STATS_ATTR_INBYTES || k == IPVS_STATS_ATTR_OUTBYTES || v > u32::MAX as u64
            {
                w.u64(k, v);
            } else {
                w.u32(k, Some(v as u32));
            }
        }
        w.others(&self.other);
    }
    fn fields(&self) -> [(u16, u64); 10] {
        [
            (IPVS_STATS_ATTR_CONNS, self.conns),
            (IPVS_STATS_ATTR_INPKTS, self.inpkts),
            (IPVS_STATS_ATTR_OUTPKTS, self.outpkts),
            (IPVS_STATS_ATTR_INBYTES, self.inbytes),
            (IPVS_STATS_ATTR_OUTBYTES, self.outbytes),
            (IPVS_STATS_ATTR_CPS, self.cps),
            (IPVS_STATS_ATTR_INPPS, self.inpps),
            (IPVS_STATS_ATTR_OUTPPS, self.outpps),
            (IPVS_STATS_ATTR_INBPS, self.inbps),
            (IPVS_STATS_ATTR_OUTBPS, self.outbps),
        ]
    }
}

impl ServiceAttrs {
    fn pack(&self, w: &mut AttrWriter) {
        w.u16(IPVS_SVC_ATTR_AF, self.af.map(u16::from));
        w.u16(IPVS_SVC_ATTR_PROTOCOL, self.protocol.map(u16::from));
        if let Some(a) = &self.addr {
            w.put(IPVS_SVC_ATTR_ADDR, a);
        }
        w.be16(IPVS_SVC_ATTR_PORT, self.port);
        w.u32(IPVS_SVC_ATTR_FWMARK, self.fwmark);
        w.string(IPVS_SVC_ATTR_SCHED_NAME, &self.sched_name);
        w.string(IPVS_SVC_ATTR_PE_NAME, &self.pe_name);
        if let Some(f) = &self.flags {
            let mut b = [0u8; 8];
            b[..4].copy_from_slice(&f.flags.to_ne_bytes());
            b[4..].copy_from_slice(&f.mask.to_ne_bytes());
            w.put(IPVS_SVC_ATTR_FLAGS, &b);
        }
        w.u32(IPVS_SVC_ATTR_TIMEOUT, self.timeout);
        w.u32(IPVS_SVC_ATTR_NETMASK, self.netmask);
        if let Some(s) = &self.stats {
            w.nest(IPVS_SVC_ATTR_STATS, |w| s.pack32(w));
        }
        if let Some(s) = &self.stats64 {
            w.nest(IPVS_SVC_ATTR_STATS64, |w| s.pack64(w));
        }
        w.others(&self.other);
    }
}

impl DestAttrs {
    fn pack(&self, w: &mut AttrWriter) {
        w.u16(IPVS_DEST_ATTR_ADDR_FAMILY, self.addr_family.map(u16::from));
        if let Some(a) = &self.addr {
            w.put(IPVS_DEST_ATTR_ADDR, a);
        }
        w.be16(IPVS_DEST_ATTR_PORT, self.port);
        w.u32(IPVS_DEST_ATTR_FWD_METHOD, self.fwd_method.map(u32::from));
        w.u32(IPVS_DEST_ATTR_WEIGHT, self.weight);
        w.u8(IPVS_DEST_ATTR_TUN_TYPE, self.tun_type.map(u8::from));
        w.be16(IPVS_DEST_ATTR_TUN_PORT, self.tun_port);
        w.u16(IPVS_DEST_ATTR_TUN_FLAGS, self.tun_flags);
        w.u32(IPVS_DEST_ATTR_U_THRESH, self.u_thresh);
        w.u32(IPVS_DEST_ATTR_L_THRESH, self.l_thresh);
        w.u32(IPVS_DEST_ATTR_ACTIVE_CONNS, self.active_conns);
        w.u32(IPVS_DEST_ATTR_INACT_CONNS, self.inact_conns);
        w.u32(IPVS_DEST_ATTR_PERSIST_CONNS, self.persist_conns);
        if let Some(s) = &self.stats {
            w.nest(IPVS_DEST_ATTR_STATS, |w| s.pack32(w));
        }
        if let Some(s) = &self.stats64 {
            w.nest(IPVS_DEST_ATTR_STATS64, |w| s.pack64(w));
        }
        w.others(&self.other);
    }
}

impl DaemonAttrs {
    fn pack(&self, w: &mut AttrWriter) {
        w.u32(IPVS_DAEMON_ATTR_STATE, self.state);
        w.string(IPVS_DAEMON_ATTR_MCAST_IFN, &self.mcast_ifn);
        w.u32(IPVS_DAEMON_ATTR_SYNC_ID, self.sync_id);
        w.u16(IPVS_DAEMON_ATTR_SYNC_MAXLEN, self.sync_maxlen);
        if let Some(g) = &self.mcast_group {
            w.put(IPVS_DAEMON_ATTR_MCAST_GROUP, &g.octets());
        }
        if let Some(g) = &self.mcast_group6 {
            w.put(IPVS_DAEMON_ATTR_MCAST_GROUP6, &g.octets());
        }
        w.u16(IPVS_DAEMON_ATTR_MCAST_PORT, self.mcast_port);
        w.u8(IPVS_DAEMON_ATTR_MCAST_TTL, self.mcast_ttl);
        w.others(&self.other);
    }
}

impl IpvsMessage {
    /// The attribute bytes (everything after the generic-netlink header).
    pub fn pack_attrs(&self) -> Vec<u8> {
        let mut buf = Vec::new();
        self.pack_attrs_into(&mut buf);
        buf
    }

    /// [`IpvsMessage::pack_attrs`], appended to `buf`.
    pub fn pack_attrs_into(&self, buf: &mut Vec<u8>) {
        let w = &mut AttrWriter { buf };
        if self.is_info() {
            w.u32(IPVS_INFO_ATTR_VERSION, self.info_version);
            w.u32(IPVS_INFO_ATTR_CONN_TAB_SIZE, self.info_conn_tab_size);
        }
        if let Some(s) = &self.service {
            w.nest(IPVS_CMD_ATTR_SERVICE, |w| s.pack(w));
        }
        if let Some(d) = &self.dest {
            w.nest(IPVS_CMD_ATTR_DEST, |w| d.pack(w));
        }
        if let Some(d) = &self.daemon {
            w.nest(IPVS_CMD_ATTR_DAEMON, |w| d.pack(w));
        }
        w.u32(IPVS_CMD_ATTR_TIMEOUT_TCP, self.timeout_tcp);
        w.u32(IPVS_CMD_ATTR_TIMEOUT_TCP_FIN, self.timeout_tcp_fin);
        w.u32(IPVS_CMD_ATTR_TIMEOUT_UDP, self.timeout_udp);
        w.others(&self.other);
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

fn err(what: &str, kind: u16, len: usize) -> DecodeError {
    DecodeError::from(format!(
        "IPVS attribute {what} (type {kind}) has a {len}-byte value, which is not its size"
    ))
}

fn get_u8(what: &str, kind: u16, v: &[u8]) -> Result<u8, DecodeError> {
    match v {
        [a, ..] => Ok(*a),
        _ => Err(err(what, kind, v.len())),
    }
}
fn get_u16(what: &str, kind: u16, v: &[u8]) -> Result<u16, DecodeError> {
    v.get(..2)
        .map(|b| u16::from_ne_bytes([b[0], b[1]]))
        .ok_or_else(|| err(what, kind, v.len()))
}
fn get_be16(what: &str, kind: u16, v: &[u8]) -> Result<u16, DecodeError> {
    v.get(..2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]))
        .ok_or_else(|| err(what, kind, v.len()))
}
fn get_u32(what: &str, kind: u16, v: &[u8]) -> Result<u32, DecodeError> {
    v.get(..4)
        .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| err(what, kind, v.len()))
}
fn get_u64(what: &str, kind: u16, v: &[u8]) -> Result<u64, DecodeError> {
    match v.get(..8) {
        Some(b) => {
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            Ok(u64::from_ne_bytes(a))
        }
        None => Err(err(what, kind, v.len())),
    }
}
/// Counters that may come as u32 (`STATS`) or u64 (`STATS64`): decided by the length.
fn get_counter(kind: u16, v: &[u8]) -> Result<u64, DecodeError> {
    if v.len() >= 8 {
        get_u64("stats counter", kind, v)
    } else {
        get_u32("stats counter", kind, v).map(u64::from)
    }
}
/// A 16-byte address field; shorter values (an IPv4-only sender) are zero-padded.
fn get_addr(what: &str, kind: u16, v: &[u8]) -> Result<[u8; 16], DecodeError> {
    if v.is_empty() || v.len() > 16 {
        return Err(err(what, kind, v.len()));
    }
    let mut a = [0u8; 16];
    a[..v.len()].copy_from_slice(v);
    Ok(a)
}
fn get_string(v: &[u8]) -> String {
    let end = v.iter().position(|&b| b == 0).unwrap_or(v.len());
    String::from_utf8_lossy(&v[..end]).into_owned()
}

/// Iterate the attributes of a buffer as (type without flags, value).
fn attrs(buf: &[u8]) -> impl Iterator<Item = Result<(u16, &[u8]), DecodeError>> {
    NlasIterator::new(buf).map(|r| {
        r.map(|nla| {
            let kind = nla.kind() & NLA_TYPE_MASK;
            let len = nla.length() as usize;
            // `NlaBuffer<&[u8]>` is Copy; `into_inner` keeps the buffer's lifetime.
            let whole: &[u8] = nla.into_inner();
            (kind, &whole[4..len])
        })
    })
}

impl Stats {
    pub fn unpack(buf: &[u8]) -> Result<Stats, DecodeError> {
        let mut s = Stats::default();
        for a in attrs(buf) {
            let (kind, v) = a?;
            match kind {
                IPVS_STATS_ATTR_CONNS => s.conns = get_counter(kind, v)?,
                IPVS_STATS_ATTR_INPKTS => s.inpkts = get_counter(kind, v)?,
                IPVS_STATS_ATTR_OUTPKTS => s.outpkts = get_counter(kind, v)?,
                IPVS_STATS_ATTR_INBYTES => s.inbytes = get_counter(kind, v)?,
                IPVS_STATS_ATTR_OUTBYTES => s.outbytes = get_counter(kind, v)?,
                IPVS_STATS_ATTR_CPS => s.cps = get_counter(kind, v)?,
                IPVS_STATS_ATTR_INPPS => s.inpps = get_counter(kind, v)?,
                IPVS_STATS_ATTR_OUTPPS => s.outpps = get_counter(kind, v)?,
                IPVS_STATS_ATTR_INBPS => s.inbps = get_counter(kind, v)?,
                IPVS_STATS_ATTR_OUTBPS => s.outbps = get_counter(kind, v)?,
                // Alignment padding for the 64-bit values carries nothing.
                IPVS_STATS_ATTR_PAD => {}
                _ => s.other.push(RawAttr {
                    kind,
                    value: v.to_vec(),
                }),
            }
        }
        Ok(s)
    }
}

impl ServiceAttrs {
    pub fn unpack(buf: &[u8]) -> Result<ServiceAttrs, DecodeError> {
        let mut s = ServiceAttrs::default();
        for a in attrs(buf) {
            let (k, v) = a?;
            match k {
                IPVS_SVC_ATTR_AF => s.af = Some(get_u16("SVC_AF", k, v)?.into()),
                IPVS_SVC_ATTR_PROTOCOL => s.protocol = Some(get_u16("SVC_PROTOCOL", k, v)?.into()),
                IPVS_SVC_ATTR_ADDR => s.addr = Some(get_addr("SVC_ADDR", k, v)?),
                IPVS_SVC_ATTR_PORT => s.port = Some(get_be16("SVC_PORT", k, v)?),
                IPVS_SVC_ATTR_FWMARK => s.fwmark = Some(get_u32("SVC_FWMARK", k, v)?),
                IPVS_SVC_ATTR_SCHED_NAME => s.sched_name = Some(get_string(v)),
                IPVS_SVC_ATTR_FLAGS => {
                    if v.len() < 8 {
                        return Err(err("SVC_FLAGS", k, v.len()));
                    }
                    s.flags = Some(SvcFlags {
                        flags: get_u32("SVC_FLAGS", k, &v[..4])?,
                        mask: get_u32("SVC_FLAGS", k, &v[4..8])?,
                    })
                }
                IPVS_SVC_ATTR_TIMEOUT => s.timeout = Some(get_u32("SVC_TIMEOUT", k, v)?),
                IPVS_SVC_ATTR_NETMASK => s.netmask = Some(get_u32("SVC_NETMASK", k, v)?),
                IPVS_SVC_ATTR_STATS => s.stats = Some(Stats::unpack(v)?),
                IPVS_SVC_ATTR_PE_NAME => s.pe_name = Some(get_string(v)),
                IPVS_SVC_ATTR_STATS64 => s.stats64 = Some(Stats::unpack(v)?),
                _ => s.other.push(RawAttr {
                    kind: k,
                    value: v.to_vec(),
                }),
            }
        }
        Ok(s)
    }
}

impl DestAttrs {
    pub fn unpack(buf: &[u8]) -> Result<DestAttrs, DecodeError> {
        let mut d = DestAttrs::default();
        for a in attrs(buf) {
            let (k, v) = a?;
            match k {
                IPVS_DEST_ATTR_ADDR => d.addr = Some(get_addr("DEST_ADDR", k, v)?),
                IPVS_DEST_ATTR_PORT => d.port = Some(get_be16("DEST_PORT", k, v)?),
                IPVS_DEST_ATTR_FWD_METHOD => {
                    d.fwd_method = Some(get_u32("DEST_FWD_METHOD", k, v)?.into())
                }
                IPVS_DEST_ATTR_WEIGHT => d.weight = Some(get_u32("DEST_WEIGHT", k, v)?),
                IPVS_DEST_ATTR_U_THRESH => d.u_thresh = Some(get_u32("DEST_U_THRESH", k, v)?),
                IPVS_DEST_ATTR_L_THRESH => d.l_thresh = Some(get_u32("DEST_L_THRESH", k, v)?),
                IPVS_DEST_ATTR_ACTIVE_CONNS => {
                    d.active_conns = Some(get_u32("DEST_ACTIVE_CONNS", k, v)?)
                }
                IPVS_DEST_ATTR_INACT_CONNS => {
                    d.inact_conns = Some(get_u32("DEST_INACT_CONNS", k, v)?)
                }
                IPVS_DEST_ATTR_PERSIST_CONNS => {
                    d.persist_conns = Some(get_u32("DEST_PERSIST_CONNS", k, v)?)
                }
                IPVS_DEST_ATTR_STATS => d.stats = Some(Stats::unpack(v)?),
                IPVS_DEST_ATTR_ADDR_FAMILY => {
                    d.addr_family = Some(get_u16("DEST_ADDR_FAMILY", k, v)?.into())
                }
                IPVS_DEST_ATTR_STATS64 => d.stats64 = Some(Stats::unpack(v)?),
                IPVS_DEST_ATTR_TUN_TYPE => d.tun_type = Some(get_u8("DEST_TUN_TYPE", k, v)?.into()),
                IPVS_DEST_ATTR_TUN_PORT => d.tun_port = Some(get_be16("DEST_TUN_PORT", k, v)?),
                IPVS_DEST_ATTR_TUN_FLAGS => d.tun_flags = Some(get_u16("DEST_TUN_FLAGS", k, v)?),
                _ => d.other.push(RawAttr {
                    kind: k,
                    value: v.to_vec(),
                }),
            }
        }
        Ok(d)
    }
}

impl DaemonAttrs {
    pub fn unpack(buf: &[u8]) -> Result<DaemonAttrs, DecodeError> {
        let mut d = DaemonAttrs::default();
        for a in attrs(buf) {
            let (k, v) = a?;
            match k {
                IPVS_DAEMON_ATTR_STATE => d.state = Some(get_u32("DAEMON_STATE", k, v)?),
                IPVS_DAEMON_ATTR_MCAST_IFN => d.mcast_ifn = Some(get_string(v)),
                IPVS_DAEMON_ATTR_SYNC_ID => d.sync_id = Some(get_u32("DAEMON_SYNC_ID", k, v)?),
                IPVS_DAEMON_ATTR_SYNC_MAXLEN => {
                    d.sync_maxlen = Some(get_u16("DAEMON_SYNC_MAXLEN", k, v)?)
                }
                IPVS_DAEMON_ATTR_MCAST_GROUP => {
                    let b = v
                        .get(..4)
                        .ok_or_else(|| err("DAEMON_MCAST_GROUP", k, v.len()))?;
                    d.mcast_group = Some(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
                }
                IPVS_DAEMON_ATTR_MCAST_GROUP6 => {
                    if v.len() < 16 {
                        return Err(err("DAEMON_MCAST_GROUP6", k, v.len()));
                    }
                    let mut a = [0u8; 16];
                    a.copy_from_slice(&v[..16]);
                    d.mcast_group6 = Some(Ipv6Addr::from(a))
                }
                IPVS_DAEMON_ATTR_MCAST_PORT => {
                    d.mcast_port = Some(get_u16("DAEMON_MCAST_PORT", k, v)?)
                }
                IPVS_DAEMON_ATTR_MCAST_TTL => d.mcast_ttl = Some(get_u8("DAEMON_MCAST_TTL", k, v)?),
                _ => d.other.push(RawAttr {
                    kind: k,
                    value: v.to_vec(),
                }),
            }
        }
        Ok(d)
    }
}

impl IpvsMessage {
    /// Parse the attribute bytes that follow the generic-netlink header.
    pub fn unpack(cmd: Cmd, buf: &[u8]) -> Result<IpvsMessage, DecodeError> {
        let mut m = IpvsMessage::new(cmd);
        let info = m.is_info();
        for a in attrs(buf) {
            let (k, v) = a?;
            match k {
                IPVS_INFO_ATTR_VERSION if info => {
                    m.info_version = Some(get_u32("INFO_VERSION", k, v)?)
                }
                IPVS_INFO_ATTR_CONN_TAB_SIZE if info => {
                    m.info_conn_tab_size = Some(get_u32("INFO_CONN_TAB_SIZE", k, v)?)
                }
                IPVS_CMD_ATTR_SERVICE => m.service = Some(ServiceAttrs::unpack(v)?),
                IPVS_CMD_ATTR_DEST => m.dest = Some(DestAttrs::unpack(v)?),
                IPVS_CMD_ATTR_DAEMON => m.daemon = Some(DaemonAttrs::unpack(v)?),
                IPVS_CMD_ATTR_TIMEOUT_TCP => m.timeout_tcp = Some(get_u32("TIMEOUT_TCP", k, v)?),
                IPVS_CMD_ATTR_TIMEOUT_TCP_FIN => {
                    m.timeout_tcp_fin = Some(get_u32("TIMEOUT_TCP_FIN", k, v)?)
                }
                IPVS_CMD_ATTR_TIMEOUT_UDP => m.timeout_udp = Some(get_u32("TIMEOUT_UDP", k, v)?),
                _ => m.other.push(RawAttr {
                    kind: k,
                    value: v.to_vec(),
                }),
            }
        }
        Ok(m)
    }
}

// ---------------------------------------------------------------------------------------------
// netlink-packet-generic integration
// ---------------------------------------------------------------------------------------------

impl GenlFamily for IpvsMessage {
    fn family_name() -> &'static str {
        IPVS_GENL_NAME
    }
    fn command(&self) -> u8 {
        self.cmd.into()
    }
    fn version(&self) -> u8 {
        IPVS_GENL_VERSION
    }
}

impl Emitable for IpvsMessage {
    fn buffer_len(&self) -> usize {
        self.pack_attrs().len()
    }
    fn emit(&self, buffer: &mut [u8]) {
        let b = self.pack_attrs();
        buffer[..b.len()].copy_from_slice(&b);
    }
}

impl ParseableParametrized<[u8], GenlHeader> for IpvsMessage {
    fn parse_with_param(buf: &[u8], header: GenlHeader) -> Result<Self, DecodeError> {
        IpvsMessage::unpack(header.cmd.into(), buf)
    }
}

/// A netlink frame of the IPVS family.
pub type IpvsFrame = NetlinkMessage<GenlMessage<IpvsMessage>>;

/// Serialize one request: netlink header (type = resolved family id, `flags`, `seq`,
/// port 0 = the kernel) + generic header (cmd, version 1) + attributes.
///
/// Written directly (one pass, one allocation) because `-R` and the reconciler encode
/// thousands of these; [`encode_request_generic`] builds the same bytes through
/// netlink-packet-core/-generic and a test keeps the two equal.
pub fn encode_request(family_id: u16, flags: u16, seq: u32, msg: &IpvsMessage) -> Vec<u8> {
    let mut buf = Vec::with_capacity(160);
    encode_request_into(&mut buf, family_id, flags, seq, msg);
    buf
}

/// [`encode_request`], appended to `buf` (a batch of requests is one buffer, no copy per
/// request).
pub fn encode_request_into(
    buf: &mut Vec<u8>,
    family_id: u16,
    flags: u16,
    seq: u32,
    msg: &IpvsMessage,
) {
    let start = buf.len();
    buf.extend_from_slice(&0u32.to_ne_bytes());
    buf.extend_from_slice(&family_id.to_ne_bytes());
    buf.extend_from_slice(&flags.to_ne_bytes());
    buf.extend_from_slice(&seq.to_ne_bytes());
    buf.extend_from_slice(&0u32.to_ne_bytes());
    buf.extend_from_slice(&[u8::from(msg.cmd), IPVS_GENL_VERSION, 0, 0]);
    msg.pack_attrs_into(buf);
    let len = (buf.len() - start) as u32;
    buf[start..start + 4].copy_from_slice(&len.to_ne_bytes());
}

/// [`encode_request`] through `NetlinkMessage<GenlMessage<IpvsMessage>>`.
pub fn encode_request_generic(family_id: u16, flags: u16, seq: u32, msg: &IpvsMessage) -> Vec<u8> {
    let mut genl = GenlMessage::from_payload(msg.clone());
    genl.set_resolved_family_id(family_id);
    let mut header = NetlinkHeader::default();
    header.flags = flags;
    header.sequence_number = seq;
    let mut frame = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(genl));
    frame.finalize();
    let mut buf = vec![0u8; frame.buffer_len()];
    frame.serialize(&mut buf);
    buf
}

/// What one received netlink message carried. (Data dominates a dump; boxing it would only
/// add an allocation per message.)
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// A data message (dump part or a GET reply).
    Data { seq: u32, msg: IpvsMessage },
    /// `NLMSG_ERROR` with code 0 (an ACK) or a negative errno.
    Ack { seq: u32, errno: i32 },
    /// `NLMSG_DONE`: end of a dump (with its error code, 0 normally).
    Done { seq: u32, errno: i32 },
    /// Anything else (NOOP, overrun, another family's message): ignored by callers.
    Other { seq: u32, message_type: u16 },
}

/// Split a received datagram into its netlink messages and decode each. A message that fails
/// to decode is returned as an error for that message only.
pub fn decode_datagram(buf: &[u8]) -> Vec<Result<Reply, DecodeError>> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos + 16 <= buf.len() {
        let len = u32::from_ne_bytes([buf[pos], buf[pos + 1], buf[pos + 2], buf[pos + 3]]) as usize;
        if len < 16 || pos + len > buf.len() {
            out.push(Err(DecodeError::from(format!(
                "netlink message at offset {pos} claims length {len} in a {}-byte datagram",
                buf.len()
            ))));
            break;
        }
        out.push(decode_one(&buf[pos..pos + len]));
        pos += (len + 3) & !3;
    }
    out
}

fn decode_one(buf: &[u8]) -> Result<Reply, DecodeError> {
    let frame = IpvsFrame::deserialize(buf)?;
    let seq = frame.header.sequence_number;
    let message_type = frame.header.message_type;
    Ok(match frame.payload {
        NetlinkPayload::InnerMessage(g) => Reply::Data {
            seq,
            msg: g.payload,
        },
        NetlinkPayload::Error(e) => Reply::Ack {
            seq,
            errno: e.raw_code(),
        },
        NetlinkPayload::Done(d) => Reply::Done { seq, errno: d.code },
        _ => Reply::Other { seq, message_type },
    })
}
