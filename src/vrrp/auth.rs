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

use std::net::IpAddr;

use super::packet::{AH_ICV_LEN, DropReason, ReceivedAdvert, Version};

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
    #[error("AH header present: {present}, but this instance uses AH: {configured}")]
    AhPresence { present: bool, configured: bool },
    #[error("wrong password")]
    BadPassword,
    #[error("HMAC-MD5-96 mismatch (wrong auth_pass, or fields changed in transit)")]
    BadIcv,
    #[error("AH SPI {spi:#010x} is not the sender's address")]
    BadSpi { spi: u32 },
    #[error("AH sequence number {seq} not newer than {last}")]
    Replay { seq: u32, last: u32 },
}

impl AuthError {
    pub fn drop_reason(&self) -> DropReason {
        match self {
            AuthError::TypeMismatch { .. } | AuthError::AhPresence { .. } => {
                DropReason::AuthTypeMismatch
            }
            AuthError::BadPassword | AuthError::BadIcv | AuthError::BadSpi { .. } => {
                DropReason::AuthFailure
            }
            AuthError::Replay { .. } => DropReason::AuthReplay,
        }
    }
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

/// Compare in time independent of where the first difference is.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// keepalived's AH sequence counter: one per instance, shared by sending and anti-replay.
///
/// - Sending takes the next number (stopping at 0xfffffffe, over 136 years at one advert
///   a second).
/// - A received advert is accepted only if its number is greater than the counter, which then
///   takes that value; so a backup that takes over continues above what it accepted.
/// - A master hearing a lower-priority AH advert moves past the peer's number.
///
/// A peer that restarts counts from 1 again and is refused until its number passes ours; it
/// starts in BACKUP and accepts ours meanwhile, so it is above us again by the time it sends
/// as MASTER. This is keepalived's behaviour, kept for interoperability.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AhCounter {
    pub last: u32,
}

impl AhCounter {
    pub const MAX: u32 = 0xffff_fffe;

    pub fn next_send(&mut self) -> u32 {
        self.last = self.last.saturating_add(1).min(Self::MAX);
        self.last
    }

    pub fn accept(&mut self, seq: u32) -> Result<(), AuthError> {
        if seq <= self.last {
            return Err(AuthError::Replay {
                seq,
                last: self.last,
            });
        }
        self.last = seq;
        Ok(())
    }

    pub fn move_past(&mut self, seq: u32) {
        self.last = self.last.max(seq.saturating_add(1).min(Self::MAX));
    }
}

/// Authenticate a received advert against the instance's configuration (RFC 2338 §7.1 /
/// keepalived's order: AH presence, auth type, then PASS compare or AH ICV, SPI, sequence).
/// The counter is advanced only for a genuine AH advert.
///
/// `unicast`: the instance has unicast peers, so (keepalived's rule) the TTL is zeroed for the
/// ICV. This is applied here whether or not the shell decoded with
/// `DecodeOptions { unicast: true }`.
pub fn verify(
    auth: &Auth,
    adv: &ReceivedAdvert,
    counter: &mut AhCounter,
    unicast: bool,
) -> Result<(), AuthError> {
    let configured = matches!(auth, Auth::Ah(_));
    if adv.ah.is_some() != configured {
        return Err(AuthError::AhPresence {
            present: adv.ah.is_some(),
            configured,
        });
    }
    if adv.vrrp.version != Version::V2 {
        // VRRPv3 has no authentication.
        return Ok(());
    }
    if adv.vrrp.auth_type != auth.wire_type() {
        return Err(AuthError::TypeMismatch {
            got: adv.vrrp.auth_type,
            want: auth.wire_type(),
        });
    }
    match (auth, &adv.ah) {
        (Auth::Pass(k), _) if !constant_time_eq(&adv.vrrp.auth_data, k) => {
            return Err(AuthError::BadPassword);
        }
        (Auth::Ah(k), Some(ah)) => {
            let icv = if unicast && ah.signed.get(8).is_some_and(|ttl| *ttl != 0) {
                let mut signed = ah.signed.clone();
                signed[8] = 0;
                ah_icv(k, &signed)
            } else {
                ah_icv(k, &ah.signed)
            };
            if !constant_time_eq(&icv, &ah.icv) {
                return Err(AuthError::BadIcv);
            }
            if IpAddr::V4(ah.spi.into()) != adv.src {
                return Err(AuthError::BadSpi { spi: ah.spi });
            }
            counter.accept(ah.seq)?;
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_rules() {
        let mut c = AhCounter::default();
        assert_eq!(c.next_send(), 1);
        assert!(c.accept(1).is_err());
        assert!(c.accept(5).is_ok());
        assert_eq!(c.accept(5), Err(AuthError::Replay { seq: 5, last: 5 }));
        assert_eq!(c.next_send(), 6);
        c.move_past(10);
        assert_eq!(c.next_send(), 12);
        c.last = AhCounter::MAX;
        assert_eq!(c.next_send(), AhCounter::MAX);
    }

    #[test]
    fn key_is_truncated_and_padded() {
        assert_eq!(&key_bytes("abc"), b"abc\0\0\0\0\0");
        assert_eq!(&key_bytes("unicastAH"), b"unicastA");
    }
}
