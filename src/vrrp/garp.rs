//! Gratuitous ARP and unsolicited neighbour advertisements, sent on an AF_PACKET socket so the
//! source MAC can be the interface's or the VMAC's.
//!
//! The frames are built by pure functions ([`arp_frame`], [`na_frame`]); the socket only sends.
//! When and how often to send (garp_master_repeat / _delay / _refresh) is decided by the
//! service, which calls [`GarpSender::announce`] for each burst.

use socket2::{Domain, Protocol, Socket, Type};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;

pub type Mac = [u8; 6];

const ETH_P_ARP: u16 = 0x0806;
const ETH_P_IPV6: u16 = 0x86dd;
const BROADCAST: Mac = [0xff; 6];

#[derive(Debug, thiserror::Error)]
pub enum GarpError {
    #[error("interface {0}: no such interface")]
    NoInterface(String),
    #[error("interface {ifname}: cannot read its MAC address: {detail}")]
    Mac { ifname: String, detail: String },
    #[error("interface {ifname}: {what}: {source}")]
    Io {
        ifname: String,
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
}

/// Parse `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(s: &str) -> Option<Mac> {
    let mut out = [0u8; 6];
    let mut parts = s.trim().split(':');
    for b in out.iter_mut() {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    if parts.next().is_some() {
        return None;
    }
    Some(out)
}

/// The MAC address of an interface (from sysfs, which is per network namespace).
pub fn interface_mac(ifname: &str) -> Result<Mac, GarpError> {
    let path = format!("/sys/class/net/{ifname}/address");
    let text = std::fs::read_to_string(&path).map_err(|e| GarpError::Mac {
        ifname: ifname.to_string(),
        detail: format!("{path}: {e}"),
    })?;
    parse_mac(&text).ok_or_else(|| GarpError::Mac {
        ifname: ifname.to_string(),
        detail: format!("{path}: unexpected content {:?}", text.trim()),
    })
}

/// A gratuitous ARP: an Ethernet broadcast ARP request with sender = target = `vip`.
pub fn arp_frame(mac: Mac, vip: Ipv4Addr) -> Vec<u8> {
    let mut f = Vec::with_capacity(42);
    f.extend_from_slice(&BROADCAST);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&ETH_P_ARP.to_be_bytes());
    f.extend_from_slice(&1u16.to_be_bytes()); // htype Ethernet
    f.extend_from_slice(&0x0800u16.to_be_bytes()); // ptype IPv4
    f.push(6);
    f.push(4);
    f.extend_from_slice(&1u16.to_be_bytes()); // request
    f.extend_from_slice(&mac);
    f.extend_from_slice(&vip.octets());
    f.extend_from_slice(&BROADCAST);
    f.extend_from_slice(&vip.octets());
    f
}

fn csum_add(mut sum: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u16::from_be_bytes([c[0], c[1]]) as u32;
    }
    if let [last] = chunks.remainder() {
        sum += (*last as u32) << 8;
    }
    sum
}

fn csum_fold(mut sum: u32) -> u16 {
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An unsolicited neighbour advertisement for `target` to all-nodes (ff02::1), Override set,
/// with the target link-layer address option, from `src` and `mac`.
pub fn na_frame(mac: Mac, src: Ipv6Addr, target: Ipv6Addr) -> Vec<u8> {
    let dst = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
    let mut icmp = Vec::with_capacity(32);
    icmp.push(136); // neighbour advertisement
    icmp.push(0);
    icmp.extend_from_slice(&[0, 0]); // checksum
    icmp.extend_from_slice(&0x2000_0000u32.to_be_bytes()); // Override
    icmp.extend_from_slice(&target.octets());
    icmp.push(2); // target link-layer address
    icmp.push(1); // length in units of 8 bytes
    icmp.extend_from_slice(&mac);
    let len = icmp.len() as u32;
    let mut sum = csum_add(0, &src.octets());
    sum = csum_add(sum, &dst.octets());
    sum = csum_add(sum, &len.to_be_bytes());
    sum = csum_add(sum, &[0, 0, 0, 58]);
    sum = csum_add(sum, &icmp);
    let c = csum_fold(sum);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());

    let mut f = Vec::with_capacity(14 + 40 + icmp.len());
    f.extend_from_slice(&[0x33, 0x33, 0, 0, 0, 1]);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&ETH_P_IPV6.to_be_bytes());
    f.extend_from_slice(&0x6000_0000u32.to_be_bytes());
    f.extend_from_slice(&(icmp.len() as u16).to_be_bytes());
    f.push(58); // ICMPv6
    f.push(255); // hop limit: NDP requires 255
    f.extend_from_slice(&src.octets());
    f.extend_from_slice(&dst.octets());
    f.extend_from_slice(&icmp);
    f
}

/// An AF_PACKET socket on one interface.
pub struct GarpSender {
    sock: Socket,
    pub ifname: String,
    pub ifindex: u32,
    pub mac: Mac,
}

impl std::fmt::Debug for GarpSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GarpSender")
            .field("ifname", &self.ifname)
            .field("ifindex", &self.ifindex)
            .finish()
    }
}

impl GarpSender {
    /// `mac`: the source MAC (the VMAC with use_vmac); None: the interface's own.
    pub fn open(ifname: &str, mac: Option<Mac>) -> Result<GarpSender, GarpError> {
        let ifindex = nix::net::if_::if_nametoindex(ifname)
            .map_err(|_| GarpError::NoInterface(ifname.to_string()))?;
        let mac = match mac {
            Some(m) => m,
            None => interface_mac(ifname)?,
        };
        // Protocol 0: a send-only packet socket receives nothing.
        let sock =
            Socket::new(Domain::PACKET, Type::RAW, Some(Protocol::from(0))).map_err(|source| {
                GarpError::Io {
                    ifname: ifname.to_string(),
                    what: "AF_PACKET socket",
                    source,
                }
            })?;
        Ok(GarpSender {
            sock,
            ifname: ifname.to_string(),
            ifindex,
            mac,
        })
    }

    fn send_frame(&self, frame: &[u8], proto: u16) -> Result<(), GarpError> {
        // SAFETY: sockaddr_ll is plain data; zeroed is a valid value.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = proto.to_be();
        sll.sll_ifindex = self.ifindex as i32;
        sll.sll_halen = 6;
        sll.sll_addr[..6].copy_from_slice(&frame[..6]);
        // SAFETY: valid fd, frame buffer and sockaddr_ll with its true size.
        let r = unsafe {
            libc::sendto(
                self.sock.as_raw_fd(),
                frame.as_ptr() as *const libc::c_void,
                frame.len(),
                0,
                &sll as *const libc::sockaddr_ll as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if r < 0 {
            return Err(GarpError::Io {
                ifname: self.ifname.clone(),
                what: "send",
                source: std::io::Error::last_os_error(),
            });
        }
        Ok(())
    }

    /// One gratuitous ARP or unsolicited NA per address. As keepalived 2.2.7 on the wire,
    /// an NA's IPv6 source is the VIP itself (its target), not a link-local address.
    pub fn announce(&self, addrs: &[IpAddr]) -> Result<(), GarpError> {
        let mut first_err = None;
        for a in addrs {
            let r = match a {
                IpAddr::V4(v4) => self.send_frame(&arp_frame(self.mac, *v4), ETH_P_ARP),
                IpAddr::V6(v6) => self.send_frame(&na_frame(self.mac, *v6, *v6), ETH_P_IPV6),
            };
            if let Err(e) = r {
                first_err.get_or_insert(e);
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_parse() {
        assert_eq!(
            parse_mac("00:00:5e:00:01:0a\n"),
            Some([0, 0, 0x5e, 0, 1, 10])
        );
        assert_eq!(parse_mac("00:00:5e:00:01"), None);
        assert_eq!(parse_mac("00:00:5e:00:01:0a:00"), None);
    }

    #[test]
    fn arp_golden() {
        let f = arp_frame([2, 0, 0, 0, 0, 1], Ipv4Addr::new(10, 0, 0, 100));
        let expect = hex::decode(concat!(
            "ffffffffffff",
            "020000000001",
            "0806",
            "0001",
            "0800",
            "06",
            "04",
            "0001",
            "020000000001",
            "0a000064",
            "ffffffffffff",
            "0a000064"
        ))
        .unwrap();
        assert_eq!(f, expect);
    }

    #[test]
    fn na_checksum_verifies() {
        let src: Ipv6Addr = "fe80::1".parse().unwrap();
        let tgt: Ipv6Addr = "2001:db8::10".parse().unwrap();
        let f = na_frame([2, 0, 0, 0, 0, 1], src, tgt);
        assert_eq!(f.len(), 14 + 40 + 32);
        assert_eq!(f[14 + 7], 255);
        let icmp = &f[54..];
        assert_eq!(icmp[0], 136);
        assert_eq!(icmp[4] & 0x20, 0x20);
        let dst: Ipv6Addr = "ff02::1".parse().unwrap();
        let mut sum = csum_add(0, &src.octets());
        sum = csum_add(sum, &dst.octets());
        sum = csum_add(sum, &(icmp.len() as u32).to_be_bytes());
        sum = csum_add(sum, &[0, 0, 0, 58]);
        sum = csum_add(sum, icmp);
        assert_eq!(csum_fold(sum), 0);
    }
}
