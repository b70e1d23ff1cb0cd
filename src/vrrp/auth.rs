//! VRRP authentication, wire-compatible with keepalived.
//!
//! - PASS (VRRPv2 Auth Type 1): the first 8 bytes of `auth_pass`, zero padded, carried in the
//!   VRRPv2 Authentication Data field and compared byte for byte.
//! - AH (VRRPv2 Auth Type 2, IP protocol 51): an IPsec AH header between the IPv4 header and
//!   the VRRP message; next header 112, payload length 4 (24-byte header), SPI = the sender's
//!   IPv4 address, a 32-bit sequence number, and a 96-bit ICV: HMAC-MD5 truncated to 12 bytes,
//!   keyed with `auth_pass` (8 bytes, zero padded), computed over the IPv4 header with the
//!   mutable fields (TOS, fragment offset/flags, TTL, header checksum) zeroed, the AH header
//!   with the ICV zeroed, and the VRRP message.

use serde::{Deserialize, Serialize};

use super::packet::AH_ICV_LEN;

/// Authentication an instance uses, resolved from its `authentication { }` block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Auth {
    None,
    /// The 8 bytes carried in Authentication Data.
    Pass([u8; 8]),
    /// The HMAC key.
    Ah([u8; 8]),
}

impl Auth {
    /// The VRRPv2 Auth Type field value.
    pub fn wire_type(&self) -> u8 {
        match self {
            Auth::None => super::packet::auth_type::NONE,
            Auth::Pass(_) => super::packet::auth_type::PASS,
            Auth::Ah(_) => super::packet::auth_type::AH,
        }
    }
}

/// The 8-byte form of `auth_pass` (truncated, zero padded), as keepalived stores it.
pub fn key_bytes(pass: &str) -> [u8; 8] {
    let mut k = [0u8; 8];
    for (d, s) in k.iter_mut().zip(pass.as_bytes()) {
        *d = *s;
    }
    k
}

/// Why authentication failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AuthError {
    #[error("auth type {got} but this instance uses {want}")]
    TypeMismatch { got: u8, want: u8 },
    #[error("wrong password")]
    BadPassword,
    #[error("AH header missing")]
    AhMissing,
    #[error("HMAC-MD5-96 mismatch")]
    BadIcv,
    #[error("AH sequence number {seq} not newer than {last}")]
    Replay { seq: u32, last: u32 },
}

/// HMAC-MD5-96 over `signed` (the bytes with mutable fields and ICV zeroed).
pub fn ah_icv(key: &[u8], signed: &[u8]) -> [u8; AH_ICV_LEN] {
    use hmac::{KeyInit, Mac};
    let mut icv = [0u8; AH_ICV_LEN];
    // HMAC accepts keys of any length; this cannot fail.
    if let Ok(mut mac) = hmac::Hmac::<md5::Md5>::new_from_slice(key) {
        mac.update(signed);
        let full = mac.finalize().into_bytes();
        icv.copy_from_slice(&full[..AH_ICV_LEN]);
    }
    icv
}

/// Per-peer AH sequence number state (anti-replay).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayWindow {
    pub last: Option<u32>,
}
