//! VRRP codec: VRRPv2 (RFC 3768) and VRRPv3 (RFC 5798) over IPv4, VRRPv3 over IPv6, and the
//! IPv4 header (and AH header, RFC 4302) around them as a raw socket delivers it.
//!
//! Pure and total: every function takes bytes or values and returns a value or a typed error;
//! nothing panics on input.

use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::time::Centis;

/// IP protocol number of VRRP.
pub const IPPROTO_VRRP: u8 = 112;
/// IP protocol number of the IPsec Authentication Header.
pub const IPPROTO_AH: u8 = 51;
/// The TTL / hop limit every VRRP packet must carry (RFC 5798 §5.1.1.3, §5.1.2.3).
pub const VRRP_TTL: u8 = 255;
/// VRRP packet type: ADVERTISEMENT, the only one defined.
pub const TYPE_ADVERTISEMENT: u8 = 1;
/// Length of the fixed VRRP header (version/type .. checksum).
pub const VRRP_HEADER_LEN: usize = 8;
/// Length of the VRRPv2 authentication data.
pub const V2_AUTH_LEN: usize = 8;
/// Length of keepalived's AH header: next header, payload len, reserved, SPI, seq, 96-bit ICV.
pub const AH_HEADER_LEN: usize = 24;
/// Length of the truncated HMAC-MD5-96 ICV.
pub const AH_ICV_LEN: usize = 12;

/// VRRPv2 Auth Type field values (RFC 2338 / keepalived).
pub mod auth_type {
    pub const NONE: u8 = 0;
    pub const PASS: u8 = 1;
    pub const AH: u8 = 2;
}

/// VRRP protocol version on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Version {
    V2,
    V3,
}

impl Version {
    pub fn number(self) -> u8 {
        match self {
            Version::V2 => 2,
            Version::V3 => 3,
        }
    }
}

impl From<crate::config::VrrpVersion> for Version {
    fn from(v: crate::config::VrrpVersion) -> Self {
        match v {
            crate::config::VrrpVersion::V2 => Version::V2,
            crate::config::VrrpVersion::V3 => Version::V3,
        }
    }
}

/// Address family of the addresses carried (and of the IP header around the packet).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Af {
    V4,
    V6,
}

impl Af {
    pub fn addr_len(self) -> usize {
        match self {
            Af::V4 => 4,
            Af::V6 => 16,
        }
    }
    pub fn of(addr: &IpAddr) -> Af {
        if addr.is_ipv4() { Af::V4 } else { Af::V6 }
    }
}

/// One VRRP advertisement message (the IP payload, after any AH header).
///
/// ```text
/// RFC 3768 (v2)                              RFC 5798 (v3)
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |Version| Type  | Virtual Rtr ID|   Priority    | Count IP Addrs|
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |   Auth Type   |   Adver Int   |          Checksum             |   (v2)
/// |(rsvd) |     Max Adver Int     |          Checksum             |   (v3)
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                     IP Address(es) ...                        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                  Authentication Data (1), (2)   (v2 only)     |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VrrpPacket {
    pub version: Version,
    pub vrid: u8,
    pub priority: u8,
    /// v2: the Auth Type field ([`auth_type`]); v3: always 0 (no such field).
    pub auth_type: u8,
    /// v2: Adver Int seconds × 100; v3: Max Adver Int as carried.
    pub advert_int: Centis,
    /// All of one family (v2 and v3-over-IPv4: IPv4; v3 over IPv6: IPv6).
    pub addresses: Vec<IpAddr>,
    /// v2 only: the 8 bytes of Authentication Data (PASS: password, zero padded; else zeros).
    /// Always zeros for v3.
    pub auth_data: [u8; 8],
}

/// The IPsec AH header keepalived puts between the IPv4 header and the VRRP message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AhHeader {
    pub spi: u32,
    pub seq: u32,
    pub icv: [u8; AH_ICV_LEN],
    /// The bytes the ICV covers, as received, with mutable IPv4 fields and the ICV zeroed.
    /// Empty when the packet was not received as a whole IPv4 datagram.
    #[serde(with = "hex_bytes")]
    pub signed: Vec<u8>,
}

/// A received advertisement with the facts from the IP layer the state machine needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceivedAdvert {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// IPv4 TTL or IPv6 hop limit (already checked to be 255 by the decoder).
    pub ttl: u8,
    pub ah: Option<AhHeader>,
    pub vrrp: VrrpPacket,
}

/// Why a received packet could not be decoded. Each maps to one [`DropReason`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum DecodeError {
    #[error("packet too short: {len} bytes, need at least {need}")]
    TooShort { len: usize, need: usize },
    #[error("length mismatch: header says {declared} bytes, have {actual}")]
    BadLength { declared: usize, actual: usize },
    #[error("not an IPv4 header (version {0})")]
    NotIpv4(u8),
    #[error("bad IPv4 header length {0} (IHL × 4)")]
    BadIhl(usize),
    #[error("IP protocol {0}, expected 112 (VRRP) or 51 (AH)")]
    BadProtocol(u8),
    #[error("TTL/hop limit {0}, must be 255")]
    BadTtl(u8),
    #[error("AH next header {0}, expected 112 (VRRP)")]
    BadAhNextHeader(u8),
    #[error("AH payload length {0}, expected 4 (keepalived's HMAC-MD5-96 AH)")]
    BadAhLength(u8),
    #[error("unknown VRRP version {0}")]
    BadVersion(u8),
    #[error("unknown VRRP packet type {0}, expected 1 (ADVERTISEMENT)")]
    BadType(u8),
    #[error("VRRPv2 is IPv4 only")]
    V2OverIpv6,
    #[error("bad checksum: computed {computed:#06x} over a packet carrying {carried:#06x}")]
    BadChecksum { carried: u16, computed: u16 },
    #[error("count of addresses {count} does not fit {len} bytes of addresses")]
    BadAddressCount { count: u8, len: usize },
    #[error("advertisement interval is zero")]
    ZeroInterval,
}

/// Why an encode was refused (the value cannot be represented on the wire).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("{0} addresses do not fit the 8-bit count")]
    TooManyAddresses(usize),
    #[error("address {0} is not of the packet's family")]
    MixedFamily(IpAddr),
    #[error("VRRPv2 carries whole seconds up to 255; {0} is not")]
    V2Interval(Centis),
    #[error("VRRPv3 carries at most 40.95 s; {0} is more")]
    V3Interval(Centis),
    #[error("VRRPv2 over IPv6 does not exist")]
    V2OverIpv6,
}

/// Why a received advertisement was not acted upon; counted per instance (and per interface
/// for packets that never reach an instance).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    /// Truncated, length fields inconsistent, bad IHL, bad address count.
    BadLength,
    BadChecksum,
    /// TTL / hop limit not 255.
    BadTtl,
    /// Not VRRP/AH, not an advertisement, malformed AH header.
    BadHeader,
    /// A version other than the instance's.
    VersionMismatch,
    /// Not our VRID (only when the shell hands us packets for other VRIDs).
    VridMismatch,
    /// Auth type differs from ours.
    AuthTypeMismatch,
    /// Wrong password or wrong HMAC.
    AuthFailure,
    /// AH sequence number replayed or older than the last accepted one.
    AuthReplay,
    /// VRRPv2: a different Adver Int than ours (RFC 3768 §7.1).
    AdvertIntervalMismatch,
    /// An advert with our own source address (our own packet looped back).
    OwnAdvert,
    /// Received in a state that does not process adverts (Init, Fault).
    NotListening,
    /// Multicast destination while unicast peers are configured, or the reverse.
    UnexpectedDestination,
    /// `check_unicast_src`: a unicast advert from an address that is not a `unicast_peer`.
    UnknownUnicastSource,
}

impl DecodeError {
    /// The counter this error goes to.
    pub fn drop_reason(&self) -> DropReason {
        match self {
            DecodeError::TooShort { .. }
            | DecodeError::BadLength { .. }
            | DecodeError::BadIhl(_)
            | DecodeError::BadAddressCount { .. }
            | DecodeError::BadAhLength(_) => DropReason::BadLength,
            DecodeError::BadChecksum { .. } => DropReason::BadChecksum,
            DecodeError::BadTtl(_) => DropReason::BadTtl,
            DecodeError::BadVersion(_) | DecodeError::V2OverIpv6 => DropReason::VersionMismatch,
            DecodeError::NotIpv4(_)
            | DecodeError::BadProtocol(_)
            | DecodeError::BadAhNextHeader(_)
            | DecodeError::BadType(_)
            | DecodeError::ZeroInterval => DropReason::BadHeader,
        }
    }
}

/// RFC 1071 one's complement sum of `data` folded to 16 bits, starting from `initial`.
fn ones_complement_sum(initial: u32, data: &[u8]) -> u32 {
    let mut sum = initial;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum = sum.wrapping_add(u32::from(u16::from_be_bytes([c[0], c[1]])));
    }
    if let [last] = chunks.remainder() {
        sum = sum.wrapping_add(u32::from(*last) << 8);
    }
    sum
}

fn fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// The Internet checksum of `data`.
pub fn internet_checksum(data: &[u8]) -> u16 {
    !fold(ones_complement_sum(0, data))
}

/// The VRRP checksum: v2 over the message alone; v3 with the IPv4/IPv6 pseudo-header.
/// `msg` must have its checksum field zeroed to compute, or carried to verify (result 0).
fn vrrp_checksum(version: Version, msg: &[u8], src: IpAddr, dst: IpAddr) -> u16 {
    if version == Version::V2 {
        return internet_checksum(msg);
    }
    let mut sum = 0u32;
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            sum = ones_complement_sum(sum, &s.octets());
            sum = ones_complement_sum(sum, &d.octets());
            sum = sum.wrapping_add(u32::from(IPPROTO_VRRP));
            sum = sum.wrapping_add(msg.len() as u32 & 0xffff);
        }
        (s, d) => {
            sum = ones_complement_sum(sum, &to_v6(s).octets());
            sum = ones_complement_sum(sum, &to_v6(d).octets());
            let len = msg.len() as u32;
            sum = sum.wrapping_add(len >> 16).wrapping_add(len & 0xffff);
            sum = sum.wrapping_add(u32::from(IPPROTO_VRRP));
        }
    }
    !fold(ones_complement_sum(sum, msg))
}

fn to_v6(a: IpAddr) -> Ipv6Addr {
    match a {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Decode a VRRP message (no IP header). `src`/`dst` are needed for the v3 checksum
/// pseudo-header; `af` says which address size the message carries.
///
/// Checks, in order: minimum length, version (2 or 3; v2 only over IPv4), type
/// (ADVERTISEMENT), that the length matches Count IP Addrs exactly, the checksum, and a
/// non-zero advertisement interval.
pub fn decode_vrrp(
    bytes: &[u8],
    af: Af,
    src: IpAddr,
    dst: IpAddr,
) -> Result<VrrpPacket, DecodeError> {
    if bytes.len() < VRRP_HEADER_LEN {
        return Err(DecodeError::TooShort {
            len: bytes.len(),
            need: VRRP_HEADER_LEN,
        });
    }
    let version = match bytes[0] >> 4 {
        2 => Version::V2,
        3 => Version::V3,
        v => return Err(DecodeError::BadVersion(v)),
    };
    if version == Version::V2 && af == Af::V6 {
        return Err(DecodeError::V2OverIpv6);
    }
    let ptype = bytes[0] & 0x0f;
    if ptype != TYPE_ADVERTISEMENT {
        return Err(DecodeError::BadType(ptype));
    }
    let count = bytes[3];
    let trailer = if version == Version::V2 {
        V2_AUTH_LEN
    } else {
        0
    };
    let expected = VRRP_HEADER_LEN + usize::from(count) * af.addr_len() + trailer;
    if bytes.len() != expected {
        return Err(DecodeError::BadAddressCount {
            count,
            len: bytes.len().saturating_sub(VRRP_HEADER_LEN + trailer),
        });
    }
    if vrrp_checksum(version, bytes, src, dst) != 0 {
        let mut zeroed = bytes.to_vec();
        zeroed[6] = 0;
        zeroed[7] = 0;
        return Err(DecodeError::BadChecksum {
            carried: be16(bytes, 6),
            computed: vrrp_checksum(version, &zeroed, src, dst),
        });
    }
    let (auth_type, advert_int) = match version {
        Version::V2 => (bytes[4], Centis::from_secs(bytes[5])),
        Version::V3 => (0, Centis(be16(bytes, 4) & 0x0fff)),
    };
    if advert_int.0 == 0 {
        return Err(DecodeError::ZeroInterval);
    }
    let addr_bytes = &bytes[VRRP_HEADER_LEN..expected - trailer];
    let addresses = addr_bytes
        .chunks_exact(af.addr_len())
        .map(|c| match af {
            Af::V4 => IpAddr::V4(Ipv4Addr::new(c[0], c[1], c[2], c[3])),
            Af::V6 => {
                let mut o = [0u8; 16];
                o.copy_from_slice(c);
                IpAddr::V6(Ipv6Addr::from(o))
            }
        })
        .collect();
    let mut auth_data = [0u8; 8];
    if version == Version::V2 {
        auth_data.copy_from_slice(&bytes[expected - V2_AUTH_LEN..expected]);
    }
    Ok(VrrpPacket {
        version,
        vrid: bytes[1],
        priority: bytes[2],
        auth_type,
        advert_int,
        addresses,
        auth_data,
    })
}

/// Minimum IPv4 header length.
const IPV4_MIN_HEADER: usize = 20;

/// How a socket's packets are to be decoded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecodeOptions {
    /// The instance uses `unicast_peer`s. As keepalived does, the TTL is then not required to
    /// be 255 (unicast adverts may cross routers) and the AH ICV is computed with the TTL
    /// zeroed.
    pub unicast: bool,
}

/// Decode a whole IPv4 datagram as a raw IPv4 socket delivers it (header included): honours
/// IHL, checks total length, protocol (112, or 51 with an AH header), TTL 255, then the VRRP
/// message. For AH, the returned [`AhHeader::signed`] holds the bytes the ICV covers.
pub fn decode_ipv4(datagram: &[u8]) -> Result<ReceivedAdvert, DecodeError> {
    decode_ipv4_with(datagram, DecodeOptions::default())
}

/// [`decode_ipv4`] with options (unicast peers).
pub fn decode_ipv4_with(
    datagram: &[u8],
    opts: DecodeOptions,
) -> Result<ReceivedAdvert, DecodeError> {
    let d = datagram;
    if d.len() < IPV4_MIN_HEADER {
        return Err(DecodeError::TooShort {
            len: d.len(),
            need: IPV4_MIN_HEADER,
        });
    }
    if d[0] >> 4 != 4 {
        return Err(DecodeError::NotIpv4(d[0] >> 4));
    }
    let ihl = usize::from(d[0] & 0x0f) * 4;
    if ihl < IPV4_MIN_HEADER || ihl > d.len() {
        return Err(DecodeError::BadIhl(ihl));
    }
    let total = usize::from(be16(d, 2));
    if total > d.len() || total < ihl {
        return Err(DecodeError::BadLength {
            declared: total,
            actual: d.len(),
        });
    }
    let d = &d[..total];
    let ttl = d[8];
    let proto = d[9];
    let src = Ipv4Addr::new(d[12], d[13], d[14], d[15]);
    let dst = Ipv4Addr::new(d[16], d[17], d[18], d[19]);
    if proto != IPPROTO_VRRP && proto != IPPROTO_AH {
        return Err(DecodeError::BadProtocol(proto));
    }
    // keepalived checks the TTL of multicast adverts only: a unicast advert may carry any
    // TTL (`unicast_ttl`, or routers on the way).
    if ttl != VRRP_TTL && !opts.unicast && dst.is_multicast() {
        return Err(DecodeError::BadTtl(ttl));
    }
    let (ah, vrrp_bytes) = if proto == IPPROTO_AH {
        let a = &d[ihl..];
        if a.len() < AH_HEADER_LEN {
            return Err(DecodeError::TooShort {
                len: a.len(),
                need: AH_HEADER_LEN,
            });
        }
        if a[0] != IPPROTO_VRRP {
            return Err(DecodeError::BadAhNextHeader(a[0]));
        }
        // Payload Len is the AH length in 32-bit words minus 2: 4 for a 96-bit ICV.
        if a[1] != 4 {
            return Err(DecodeError::BadAhLength(a[1]));
        }
        let mut icv = [0u8; AH_ICV_LEN];
        icv.copy_from_slice(&a[12..AH_HEADER_LEN]);
        let mut signed = d.to_vec();
        zero_mutable_ipv4_fields(&mut signed, opts.unicast);
        signed[ihl + 12..ihl + AH_HEADER_LEN].fill(0);
        (
            Some(AhHeader {
                spi: be32(a, 4),
                seq: be32(a, 8),
                icv,
                signed,
            }),
            &a[AH_HEADER_LEN..],
        )
    } else {
        (None, &d[ihl..])
    };
    let vrrp = decode_vrrp(vrrp_bytes, Af::V4, IpAddr::V4(src), IpAddr::V4(dst))?;
    Ok(ReceivedAdvert {
        src: IpAddr::V4(src),
        dst: IpAddr::V4(dst),
        ttl,
        ah,
        vrrp,
    })
}

/// Zero what keepalived treats as mutable in the IPv4 header before computing the AH ICV:
/// TOS, flags + fragment offset, header checksum. keepalived does *not* zero the TTL (unlike
/// RFC 4302 §3.3.3.1.1.1) except with unicast peers, where it zeroes it too.
fn zero_mutable_ipv4_fields(datagram: &mut [u8], unicast: bool) {
    if unicast {
        datagram[8] = 0;
    }
    datagram[1] = 0;
    datagram[6] = 0;
    datagram[7] = 0;
    datagram[10] = 0;
    datagram[11] = 0;
}

/// Decode a VRRP message received on a raw IPv6 socket: the kernel gives the payload only,
/// the shell supplies source, destination and hop limit (IPV6_RECVHOPLIMIT / IPV6_RECVPKTINFO).
pub fn decode_ipv6(
    payload: &[u8],
    src: Ipv6Addr,
    dst: Ipv6Addr,
    hop_limit: u8,
) -> Result<ReceivedAdvert, DecodeError> {
    // As for IPv4 with unicast peers: a unicast advert may carry any hop limit
    // (keepalived's `unicast_ttl`, or routers on the way).
    if hop_limit != VRRP_TTL && dst.is_multicast() {
        return Err(DecodeError::BadTtl(hop_limit));
    }
    let vrrp = decode_vrrp(payload, Af::V6, IpAddr::V6(src), IpAddr::V6(dst))?;
    Ok(ReceivedAdvert {
        src: IpAddr::V6(src),
        dst: IpAddr::V6(dst),
        ttl: hop_limit,
        ah: None,
        vrrp,
    })
}

/// Encode a VRRP message with its checksum (v3: over the pseudo-header built from src/dst).
/// The family of `src` decides the address size; every address must be of that family.
/// For v3, `auth_type` and `auth_data` are not on the wire and are ignored.
pub fn encode_vrrp(p: &VrrpPacket, src: IpAddr, dst: IpAddr) -> Result<Vec<u8>, EncodeError> {
    let af = Af::of(&src);
    if p.version == Version::V2 && af == Af::V6 {
        return Err(EncodeError::V2OverIpv6);
    }
    let count = u8::try_from(p.addresses.len())
        .map_err(|_| EncodeError::TooManyAddresses(p.addresses.len()))?;
    if let Some(a) = p.addresses.iter().find(|a| Af::of(a) != af) {
        return Err(EncodeError::MixedFamily(*a));
    }
    let mut b = Vec::with_capacity(VRRP_HEADER_LEN + p.addresses.len() * af.addr_len() + 8);
    b.extend_from_slice(&[
        (p.version.number() << 4) | TYPE_ADVERTISEMENT,
        p.vrid,
        p.priority,
        count,
    ]);
    match p.version {
        Version::V2 => {
            let secs = p
                .advert_int
                .as_whole_secs()
                .filter(|s| *s > 0)
                .ok_or(EncodeError::V2Interval(p.advert_int))?;
            b.extend_from_slice(&[p.auth_type, secs]);
        }
        Version::V3 => {
            if p.advert_int > Centis::V3_MAX || p.advert_int.0 == 0 {
                return Err(EncodeError::V3Interval(p.advert_int));
            }
            b.extend_from_slice(&p.advert_int.0.to_be_bytes());
        }
    }
    b.extend_from_slice(&[0, 0]);
    for a in &p.addresses {
        match a {
            IpAddr::V4(v4) => b.extend_from_slice(&v4.octets()),
            IpAddr::V6(v6) => b.extend_from_slice(&v6.octets()),
        }
    }
    if p.version == Version::V2 {
        b.extend_from_slice(&p.auth_data);
    }
    let ck = vrrp_checksum(p.version, &b, src, dst);
    b[6..8].copy_from_slice(&ck.to_be_bytes());
    Ok(b)
}

/// The IPv4 header fields rampart chooses when it builds the header itself (IP_HDRINCL), as
/// keepalived does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Params {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    /// Identification field (keepalived: 1, 2, 3... per instance).
    pub id: u16,
}

/// AH parameters for one outgoing packet.
#[derive(Debug, Clone, Copy)]
pub struct AhParams<'a> {
    /// The HMAC key (keepalived: auth_pass, up to 8 bytes zero padded).
    pub key: &'a [u8],
    pub seq: u32,
    /// Sent to unicast peers: the TTL is zeroed for the ICV (keepalived's rule).
    pub unicast: bool,
}

/// keepalived's TOS for VRRP: IPTOS_PREC_INTERNETCONTROL.
pub const VRRP_TOS: u8 = 0xc0;

/// Encode a whole IPv4 datagram (header, optional AH, VRRP message) byte-identical to what
/// keepalived sends for the same parameters: TOS 0xc0, no fragment flags, TTL 255, header
/// checksum filled in; with AH: SPI = source address and the HMAC-MD5-96 ICV.
pub fn encode_ipv4(
    p: &VrrpPacket,
    ip: &Ipv4Params,
    ah: Option<AhParams<'_>>,
) -> Result<Vec<u8>, EncodeError> {
    encode_ipv4_ttl(p, ip, ah, VRRP_TTL)
}

/// [`encode_ipv4`] with another TTL: `unicast_ttl` for adverts to unicast peers (multicast
/// adverts always carry 255).
pub fn encode_ipv4_ttl(
    p: &VrrpPacket,
    ip: &Ipv4Params,
    ah: Option<AhParams<'_>>,
    ttl: u8,
) -> Result<Vec<u8>, EncodeError> {
    let vrrp = encode_vrrp(p, IpAddr::V4(ip.src), IpAddr::V4(ip.dst))?;
    let ah_len = if ah.is_some() { AH_HEADER_LEN } else { 0 };
    let total = IPV4_MIN_HEADER + ah_len + vrrp.len();
    let proto = if ah.is_some() {
        IPPROTO_AH
    } else {
        IPPROTO_VRRP
    };
    let mut d = Vec::with_capacity(total);
    d.extend_from_slice(&[0x45, VRRP_TOS]);
    // `total` is at most 20 + 24 + 8 + 255 * 4 + 8: it fits.
    d.extend_from_slice(&(total as u16).to_be_bytes());
    d.extend_from_slice(&ip.id.to_be_bytes());
    d.extend_from_slice(&[0, 0, ttl, proto, 0, 0]);
    d.extend_from_slice(&ip.src.octets());
    d.extend_from_slice(&ip.dst.octets());
    if let Some(ah) = ah {
        d.extend_from_slice(&[IPPROTO_VRRP, 4, 0, 0]);
        d.extend_from_slice(&ip.src.octets());
        d.extend_from_slice(&ah.seq.to_be_bytes());
        d.extend_from_slice(&[0; AH_ICV_LEN]);
        d.extend_from_slice(&vrrp);
        let mut signed = d.clone();
        zero_mutable_ipv4_fields(&mut signed, ah.unicast);
        let icv = super::auth::ah_icv(ah.key, &signed);
        d[IPV4_MIN_HEADER + 12..IPV4_MIN_HEADER + AH_HEADER_LEN].copy_from_slice(&icv);
    } else {
        d.extend_from_slice(&vrrp);
    }
    let ck = internet_checksum(&d[..IPV4_MIN_HEADER]);
    d[10..12].copy_from_slice(&ck.to_be_bytes());
    Ok(d)
}

/// Serialise byte vectors as hex strings in JSON.
pub(crate) mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(b))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        hex::decode(s).map_err(serde::de::Error::custom)
    }
}
