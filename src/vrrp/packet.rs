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
    /// An advert from an address not in `unicast_peer` when unicast peers are configured.
    UnknownPeer,
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

/// Decode a VRRP message (no IP header). `src`/`dst` are needed for the v3 checksum
/// pseudo-header; `af` says which address size the message carries.
pub fn decode_vrrp(
    bytes: &[u8],
    af: Af,
    src: IpAddr,
    dst: IpAddr,
) -> Result<VrrpPacket, DecodeError> {
    let _ = (bytes, af, src, dst);
    Err(DecodeError::TooShort { len: 0, need: 8 })
}

/// Decode a whole IPv4 datagram as a raw IPv4 socket delivers it (header included): honours
/// IHL, checks total length, protocol (112, or 51 with an AH header), TTL 255, then the VRRP
/// message. For AH, the returned [`AhHeader::signed`] holds the bytes the ICV covers.
pub fn decode_ipv4(datagram: &[u8]) -> Result<ReceivedAdvert, DecodeError> {
    let _ = datagram;
    Err(DecodeError::TooShort { len: 0, need: 20 })
}

/// Decode a VRRP message received on a raw IPv6 socket: the kernel gives the payload only,
/// the shell supplies source, destination and hop limit (IPV6_RECVHOPLIMIT / IPV6_RECVPKTINFO).
pub fn decode_ipv6(
    payload: &[u8],
    src: Ipv6Addr,
    dst: Ipv6Addr,
    hop_limit: u8,
) -> Result<ReceivedAdvert, DecodeError> {
    let _ = (payload, src, dst, hop_limit);
    Err(DecodeError::TooShort { len: 0, need: 8 })
}

/// Encode a VRRP message with its checksum (v3: over the pseudo-header built from src/dst).
pub fn encode_vrrp(p: &VrrpPacket, src: IpAddr, dst: IpAddr) -> Result<Vec<u8>, EncodeError> {
    let _ = (p, src, dst);
    Ok(Vec::new())
}

/// The IPv4 header fields rampart chooses when it builds the header itself (IP_HDRINCL), as
/// keepalived does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Params {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    /// Identification field.
    pub id: u16,
}

/// AH parameters for one outgoing packet.
#[derive(Debug, Clone, Copy)]
pub struct AhParams<'a> {
    /// The HMAC key (keepalived: auth_pass, up to 8 bytes zero padded).
    pub key: &'a [u8],
    pub seq: u32,
}

/// Encode a whole IPv4 datagram (header, optional AH, VRRP message) byte-identical to what
/// keepalived sends for the same parameters.
pub fn encode_ipv4(
    p: &VrrpPacket,
    ip: &Ipv4Params,
    ah: Option<AhParams<'_>>,
) -> Result<Vec<u8>, EncodeError> {
    let _ = (p, ip, ah);
    Ok(Vec::new())
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
