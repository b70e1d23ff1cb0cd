//! VRRP sockets: the only place in the engine that sends or receives VRRP packets.
//!
//! One [`VrrpSocket`] per (interface, address family, IP protocol). IPv4 sockets are raw
//! sockets for protocol 112 (or 51 for keepalived's AH flavour) and hand the whole IP packet,
//! header included, to the decoder so it can check TTL and, for AH, the authenticated header.
//! IPv6 raw sockets never see the IPv6 header, so the hop limit and destination travel as
//! ancillary data (`IPV6_RECVHOPLIMIT`, `IPV6_RECVPKTINFO`) and are returned beside the payload.
//!
//! Sending picks the source address per packet with `IP_PKTINFO`/`IPV6_PKTINFO` instead of
//! `bind()`, because a raw socket bound to an address only receives packets sent to it, and
//! adverts are sent to a multicast group.

use socket2::{Domain, Protocol, Socket, Type};
use std::io::{IoSlice, IoSliceMut};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsRawFd;
use tokio::io::unix::AsyncFd;

/// IP protocol number of VRRP.
pub const IPPROTO_VRRP: u8 = 112;
/// IP protocol number of IPsec AH (keepalived's `auth_type AH`).
pub const IPPROTO_AH: u8 = 51;

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("interface {0}: no such interface")]
    NoInterface(String),
    #[error("interface {ifname}: {what}: {source}")]
    Socket {
        ifname: String,
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("receive on {ifname}: {source}")]
    Recv {
        ifname: String,
        #[source]
        source: std::io::Error,
    },
    #[error("send on {ifname} to {dst}: {source}")]
    Send {
        ifname: String,
        dst: IpAddr,
        #[source]
        source: std::io::Error,
    },
}

/// A received packet with what the kernel told us about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RxPacket {
    pub src: IpAddr,
    /// The destination (IPv6: from `IPV6_PKTINFO`; IPv4: read from the header by the decoder).
    pub dst: Option<IpAddr>,
    /// IPv6 hop limit from ancillary data; IPv4's TTL is in `data`.
    pub hop_limit: Option<u8>,
    /// IPv4: the whole IP packet. IPv6: the payload after the IPv6 header.
    pub data: Vec<u8>,
}

/// Look an interface index up by name.
pub fn ifindex(ifname: &str) -> Result<u32, NetError> {
    nix::net::if_::if_nametoindex(ifname).map_err(|_| NetError::NoInterface(ifname.to_string()))
}

/// What a socket is for.
#[derive(Debug, Clone)]
pub struct SocketSpec {
    pub ifname: String,
    /// 112 (VRRP) or 51 (AH).
    pub protocol: u8,
    /// Multicast group to join; None for unicast-only instances.
    pub group: Option<IpAddr>,
    pub family_v6: bool,
    /// IPv4: the caller supplies the IP header (AH: the HMAC covers it).
    pub header_included: bool,
}

pub struct VrrpSocket {
    fd: AsyncFd<Socket>,
    pub spec: SocketSpec,
    pub ifindex: u32,
}

impl std::fmt::Debug for VrrpSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VrrpSocket")
            .field("spec", &self.spec)
            .field("ifindex", &self.ifindex)
            .finish()
    }
}

fn setsockopt_int(
    s: &Socket,
    level: libc::c_int,
    name: libc::c_int,
    v: libc::c_int,
) -> std::io::Result<()> {
    // SAFETY: a valid fd and a pointer to a live c_int of the size we pass.
    let r = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            level,
            name,
            &v as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// IP_MULTICAST_IF by index (ip_mreqn), so a VIP-less interface still works.
fn set_multicast_if_index_v4(s: &Socket, ifindex: u32) -> std::io::Result<()> {
    let m = libc::ip_mreqn {
        imr_multiaddr: libc::in_addr { s_addr: 0 },
        imr_address: libc::in_addr { s_addr: 0 },
        imr_ifindex: ifindex as libc::c_int,
    };
    // SAFETY: a valid fd and a pointer to a live ip_mreqn of the size we pass.
    let r = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_MULTICAST_IF,
            &m as *const libc::ip_mreqn as *const libc::c_void,
            std::mem::size_of::<libc::ip_mreqn>() as libc::socklen_t,
        )
    };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

impl VrrpSocket {
    /// Open, bind to the interface and join the group. Must run inside a tokio runtime.
    pub fn open(spec: SocketSpec) -> Result<VrrpSocket, NetError> {
        let ifindex = ifindex(&spec.ifname)?;
        let err = |what: &'static str| {
            let ifname = spec.ifname.clone();
            move |source| NetError::Socket {
                ifname,
                what,
                source,
            }
        };
        let domain = if spec.family_v6 {
            Domain::IPV6
        } else {
            Domain::IPV4
        };
        let s = Socket::new(
            domain,
            Type::RAW,
            Some(Protocol::from(spec.protocol as i32)),
        )
        .map_err(err("raw socket"))?;
        s.set_nonblocking(true).map_err(err("O_NONBLOCK"))?;
        s.bind_device(Some(spec.ifname.as_bytes()))
            .map_err(err("SO_BINDTODEVICE"))?;
        if spec.family_v6 {
            s.set_multicast_hops_v6(255)
                .map_err(err("IPV6_MULTICAST_HOPS"))?;
            s.set_unicast_hops_v6(255)
                .map_err(err("IPV6_UNICAST_HOPS"))?;
            s.set_multicast_loop_v6(false)
                .map_err(err("IPV6_MULTICAST_LOOP"))?;
            s.set_multicast_if_v6(ifindex)
                .map_err(err("IPV6_MULTICAST_IF"))?;
            // Traffic class 0xc0 (network control), as keepalived's IPv6 adverts carry
            // (IPv4 adverts get TOS 0xc0 from the header rampart writes).
            setsockopt_int(&s, libc::IPPROTO_IPV6, libc::IPV6_TCLASS, 0xc0)
                .map_err(err("IPV6_TCLASS"))?;
            s.set_recv_hoplimit_v6(true)
                .map_err(err("IPV6_RECVHOPLIMIT"))?;
            setsockopt_int(&s, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, 1)
                .map_err(err("IPV6_RECVPKTINFO"))?;
            if let Some(IpAddr::V6(g)) = spec.group {
                s.join_multicast_v6(&g, ifindex)
                    .map_err(err("IPV6_ADD_MEMBERSHIP"))?;
            }
        } else {
            s.set_ttl_v4(255).map_err(err("IP_TTL"))?;
            s.set_multicast_ttl_v4(255)
                .map_err(err("IP_MULTICAST_TTL"))?;
            s.set_multicast_loop_v4(false)
                .map_err(err("IP_MULTICAST_LOOP"))?;
            if spec.header_included {
                s.set_header_included_v4(true).map_err(err("IP_HDRINCL"))?;
            }
            if let Some(IpAddr::V4(g)) = spec.group {
                s.join_multicast_v4_n(&g, &socket2::InterfaceIndexOrAddress::Index(ifindex))
                    .map_err(err("IP_ADD_MEMBERSHIP"))?;
                set_multicast_if_index_v4(&s, ifindex).map_err(err("IP_MULTICAST_IF"))?;
            }
        }
        // SAFETY: the Socket owns its descriptor and the AsyncFd owns the Socket, so the fd
        // stays open and unshared for as long as it is registered.
        let fd = unsafe { AsyncFd::register(s) }
            .map_err(|e| std::io::Error::other(e.to_string()))
            .map_err(err("register with the runtime"))?;
        Ok(VrrpSocket { fd, spec, ifindex })
    }

    /// Join one more multicast group (an instance's `mcast_dst_ip`). Joining a group twice
    /// is not an error.
    pub fn join(&self, group: IpAddr) -> Result<(), NetError> {
        let s = self.fd.get_ref();
        let r = match group {
            IpAddr::V6(g) => s.join_multicast_v6(&g, self.ifindex),
            IpAddr::V4(g) => {
                s.join_multicast_v4_n(&g, &socket2::InterfaceIndexOrAddress::Index(self.ifindex))
            }
        };
        match r {
            Err(e) if e.raw_os_error() != Some(libc::EADDRINUSE) => Err(NetError::Socket {
                ifname: self.spec.ifname.clone(),
                what: "join mcast_dst_ip group",
                source: e,
            }),
            _ => Ok(()),
        }
    }

    /// Receive one packet.
    pub async fn recv(&self) -> Result<RxPacket, NetError> {
        loop {
            let mut guard = self.fd.readable().await.map_err(|source| NetError::Recv {
                ifname: self.spec.ifname.clone(),
                source,
            })?;
            match guard.try_io(|inner| recv_one(inner.get_ref(), self.spec.family_v6)) {
                Ok(Ok(p)) => return Ok(p),
                Ok(Err(source)) => {
                    return Err(NetError::Recv {
                        ifname: self.spec.ifname.clone(),
                        source,
                    });
                }
                Err(_would_block) => continue,
            }
        }
    }

    /// Send `data` to `dst` from `src`. IPv4 with `header_included`: `data` is the whole packet.
    pub async fn send(
        &self,
        data: &[u8],
        src: Option<IpAddr>,
        dst: IpAddr,
    ) -> Result<(), NetError> {
        self.send_hops(data, src, dst, None).await
    }

    /// [`VrrpSocket::send`] with an IPv6 hop limit for this packet only (`unicast_ttl`);
    /// None: the socket's 255. IPv4 packets carry their TTL in the header they come with.
    pub async fn send_hops(
        &self,
        data: &[u8],
        src: Option<IpAddr>,
        dst: IpAddr,
        hop_limit: Option<u8>,
    ) -> Result<(), NetError> {
        loop {
            let mut guard = self.fd.writable().await.map_err(|source| NetError::Send {
                ifname: self.spec.ifname.clone(),
                dst,
                source,
            })?;
            match guard
                .try_io(|inner| send_one(inner.get_ref(), self.ifindex, data, src, dst, hop_limit))
            {
                Ok(r) => {
                    return r.map(|_| ()).map_err(|source| NetError::Send {
                        ifname: self.spec.ifname.clone(),
                        dst,
                        source,
                    });
                }
                Err(_would_block) => continue,
            }
        }
    }
}

fn recv_one(s: &Socket, v6: bool) -> std::io::Result<RxPacket> {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, SockaddrStorage, recvmsg};
    let mut buf = vec![0u8; 65536];
    let mut cmsg = nix::cmsg_space!(libc::in6_pktinfo, libc::c_int);
    let (len, src, dst, hop) = {
        let mut iov = [IoSliceMut::new(&mut buf)];
        let msg =
            recvmsg::<SockaddrStorage>(s.as_raw_fd(), &mut iov, Some(&mut cmsg), MsgFlags::empty())
                .map_err(std::io::Error::from)?;
        let mut dst = None;
        let mut hop = None;
        if let Ok(cmsgs) = msg.cmsgs() {
            for c in cmsgs {
                match c {
                    ControlMessageOwned::Ipv6HopLimit(h) => hop = u8::try_from(h).ok(),
                    ControlMessageOwned::Ipv6PacketInfo(pi) => {
                        dst = Some(IpAddr::V6(Ipv6Addr::from(pi.ipi6_addr.s6_addr)))
                    }
                    _ => {}
                }
            }
        }
        let src = msg.address.and_then(|a: SockaddrStorage| {
            if let Some(a4) = a.as_sockaddr_in() {
                Some(IpAddr::V4(a4.ip()))
            } else {
                a.as_sockaddr_in6().map(|a6| IpAddr::V6(a6.ip()))
            }
        });
        (msg.bytes, src, dst, hop)
    };
    buf.truncate(len);
    let src = src.unwrap_or(if v6 {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    });
    Ok(RxPacket {
        src,
        dst,
        hop_limit: hop,
        data: buf,
    })
}

fn send_one(
    s: &Socket,
    ifindex: u32,
    data: &[u8],
    src: Option<IpAddr>,
    dst: IpAddr,
    hop_limit: Option<u8>,
) -> std::io::Result<usize> {
    use nix::sys::socket::{ControlMessage, MsgFlags, SockaddrStorage, sendmsg};
    let iov = [IoSlice::new(data)];
    match (dst, src) {
        (IpAddr::V4(d), src) => {
            let addr = SockaddrStorage::from(SocketAddr::V4(SocketAddrV4::new(d, 0)));
            let pi;
            let mut cm = Vec::new();
            if let Some(IpAddr::V4(s4)) = src {
                pi = libc::in_pktinfo {
                    ipi_ifindex: 0,
                    ipi_spec_dst: libc::in_addr {
                        s_addr: u32::from(s4).to_be(),
                    },
                    ipi_addr: libc::in_addr { s_addr: 0 },
                };
                cm.push(ControlMessage::Ipv4PacketInfo(&pi));
            }
            sendmsg(s.as_raw_fd(), &iov, &cm, MsgFlags::empty(), Some(&addr))
                .map_err(std::io::Error::from)
        }
        (IpAddr::V6(d), src) => {
            let scope = if d.is_unicast_link_local() || d.segments()[0] & 0xff0f == 0xff02 {
                ifindex
            } else {
                0
            };
            let addr = SockaddrStorage::from(SocketAddr::V6(SocketAddrV6::new(d, 0, 0, scope)));
            let pi;
            let mut cm = Vec::new();
            if let Some(IpAddr::V6(s6)) = src {
                pi = libc::in6_pktinfo {
                    ipi6_addr: libc::in6_addr {
                        s6_addr: s6.octets(),
                    },
                    ipi6_ifindex: ifindex,
                };
                cm.push(ControlMessage::Ipv6PacketInfo(&pi));
            }
            let hops: libc::c_int = hop_limit.map_or(-1, libc::c_int::from);
            if hop_limit.is_some() {
                cm.push(ControlMessage::Ipv6HopLimit(&hops));
            }
            sendmsg(s.as_raw_fd(), &iov, &cm, MsgFlags::empty(), Some(&addr))
                .map_err(std::io::Error::from)
        }
    }
}

/// The VRID of a received packet, read without decoding it, so one socket per interface can
/// feed many instances. IPv4: `data` starts with the IP header; IPv6: with the VRRP header.
/// Returns None for anything too short to carry one; the decoder reports those properly.
pub fn peek_vrid(data: &[u8], v6: bool) -> Option<u8> {
    if v6 {
        return data.get(1).copied();
    }
    let ihl = (*data.first()? & 0x0f) as usize * 4;
    let proto = *data.get(9)?;
    if proto == IPPROTO_AH {
        // AH: next header, payload len (in 32-bit words minus 2), reserved, SPI, seq, ICV.
        let ah_len = (*data.get(ihl + 1)? as usize + 2) * 4;
        data.get(ihl + ah_len + 1).copied()
    } else {
        data.get(ihl + 1).copied()
    }
}

/// Addresses of an interface, read with getifaddrs (used to pick the advert source).
pub fn interface_addrs(ifname: &str) -> Vec<IpAddr> {
    let mut out = Vec::new();
    if let Ok(addrs) = nix::ifaddrs::getifaddrs() {
        for a in addrs {
            if a.interface_name != ifname {
                continue;
            }
            if let Some(sa) = a.address {
                if let Some(a4) = sa.as_sockaddr_in() {
                    out.push(IpAddr::V4(a4.ip()));
                } else if let Some(a6) = sa.as_sockaddr_in6() {
                    out.push(IpAddr::V6(a6.ip()));
                }
            }
        }
    }
    out
}

/// The primary IPv4 address of an interface, skipping `exclude` (our own VIPs).
pub fn primary_v4(ifname: &str, exclude: &[IpAddr]) -> Option<Ipv4Addr> {
    interface_addrs(ifname).into_iter().find_map(|a| match a {
        IpAddr::V4(v4) if !exclude.contains(&a) => Some(v4),
        _ => None,
    })
}

/// The link-local IPv6 address of an interface.
pub fn link_local_v6(ifname: &str) -> Option<Ipv6Addr> {
    interface_addrs(ifname).into_iter().find_map(|a| match a {
        IpAddr::V6(v6) if v6.is_unicast_link_local() => Some(v6),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peek_vrid_v4_vrrp() {
        let mut p = vec![0u8; 40];
        p[0] = 0x45;
        p[9] = IPPROTO_VRRP;
        p[21] = 51;
        assert_eq!(peek_vrid(&p, false), Some(51));
    }

    #[test]
    fn peek_vrid_v4_ah() {
        let mut p = vec![0u8; 64];
        p[0] = 0x45;
        p[9] = IPPROTO_AH;
        p[21] = 4; // (4 + 2) * 4 = 24 bytes of AH
        p[20 + 24 + 1] = 7;
        assert_eq!(peek_vrid(&p, false), Some(7));
    }

    #[test]
    fn peek_vrid_short() {
        assert_eq!(peek_vrid(&[0x45], false), None);
        assert_eq!(peek_vrid(&[], true), None);
    }
}
