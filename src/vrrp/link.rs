//! Link and address watch over rtnetlink multicast (RTNLGRP_LINK, IPV4_IFADDR, IPV6_IFADDR).
//!
//! Reports [`LinkEvent`]s: an interface going up or down (fed to the state machines as
//! `LinkChanged`/`TrackInterface`), an address disappearing (a MASTER puts its VIP back), and
//! `Resync` when the kernel dropped notifications (ENOBUFS): the service then re-reads every
//! link state and re-asserts every VIP it owns, which is what a full dump would tell it.

use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::address::AddressAttribute;
use netlink_packet_route::link::{LinkAttribute, LinkFlags};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc;

const RTNLGRP_LINK: u32 = 1;
const RTNLGRP_IPV4_IFADDR: u32 = 5;
const RTNLGRP_IPV6_IFADDR: u32 = 9;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkEvent {
    Link {
        ifname: String,
        ifindex: u32,
        up: bool,
    },
    AddrRemoved {
        ifindex: u32,
        addr: IpAddr,
    },
    /// An address appeared (an instance still waiting for a source address may use it).
    AddrAdded {
        ifindex: u32,
        addr: IpAddr,
    },
    /// Notifications were lost: re-read everything.
    Resync,
}

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("rtnetlink watch socket: {what}: {source}")]
    Socket {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
}

/// Is the interface usable (administratively up and with carrier)?
pub fn flags_up(flags: LinkFlags) -> bool {
    flags.contains(LinkFlags::Up)
        && (flags.contains(LinkFlags::Running) || flags.contains(LinkFlags::LowerUp))
}

/// Current state of an interface by name (getifaddrs); None if it does not exist.
pub fn link_up(ifname: &str) -> Option<bool> {
    use nix::net::if_::InterfaceFlags;
    let addrs = nix::ifaddrs::getifaddrs().ok()?;
    let mut found = None;
    for a in addrs {
        if a.interface_name == ifname {
            let f = a.flags;
            let up = f.contains(InterfaceFlags::IFF_UP)
                && (f.contains(InterfaceFlags::IFF_RUNNING)
                    || f.contains(InterfaceFlags::IFF_LOWER_UP));
            found = Some(up);
        }
    }
    found
}

/// Decode the events in one datagram (pure; golden-testable).
pub fn parse_events(buf: &[u8]) -> Vec<LinkEvent> {
    let mut out = Vec::new();
    let mut off = 0usize;
    while off + 16 <= buf.len() {
        let len = u32::from_ne_bytes([buf[off], buf[off + 1], buf[off + 2], buf[off + 3]]) as usize;
        if len < 16 || off + len > buf.len() {
            break;
        }
        if let Ok(msg) = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&buf[off..off + len]) {
            if let NetlinkPayload::InnerMessage(inner) = msg.payload {
                match inner {
                    RouteNetlinkMessage::NewLink(l) | RouteNetlinkMessage::DelLink(l) => {
                        let deleted = matches!(msg.header.message_type, 17 /* RTM_DELLINK */);
                        let ifname = l
                            .attributes
                            .iter()
                            .find_map(|a| match a {
                                LinkAttribute::IfName(n) => Some(n.clone()),
                                _ => None,
                            })
                            .unwrap_or_default();
                        out.push(LinkEvent::Link {
                            ifname,
                            ifindex: l.header.index,
                            up: !deleted && flags_up(l.header.flags),
                        });
                    }
                    RouteNetlinkMessage::DelAddress(a) | RouteNetlinkMessage::NewAddress(a) => {
                        let added = matches!(msg.header.message_type, 20 /* RTM_NEWADDR */);
                        let addr = a.attributes.iter().find_map(|x| match x {
                            AddressAttribute::Local(ip) => Some(*ip),
                            _ => None,
                        });
                        let addr = addr.or_else(|| {
                            a.attributes.iter().find_map(|x| match x {
                                AddressAttribute::Address(ip) => Some(*ip),
                                _ => None,
                            })
                        });
                        if let Some(addr) = addr {
                            let ifindex = a.header.index;
                            out.push(if added {
                                LinkEvent::AddrAdded { ifindex, addr }
                            } else {
                                LinkEvent::AddrRemoved { ifindex, addr }
                            });
                        }
                    }
                    _ => {}
                }
            }
        }
        off += (len + 3) & !3;
    }
    out
}

/// Open the watch socket and forward events until the receiver goes away.
pub fn spawn(
    tx: mpsc::UnboundedSender<LinkEvent>,
) -> Result<tokio::task::JoinHandle<()>, LinkError> {
    let err = |what| move |source| LinkError::Socket { what, source };
    let mut s = Socket::new(NETLINK_ROUTE).map_err(err("socket"))?;
    s.bind(&SocketAddr::new(0, 0)).map_err(err("bind"))?;
    for g in [RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR] {
        s.add_membership(g).map_err(err("join group"))?;
    }
    let _ = s.set_rx_buf_sz(1 << 20);
    s.set_non_blocking(true).map_err(err("O_NONBLOCK"))?;
    // SAFETY: the netlink Socket owns its fd; the AsyncFd owns the Socket.
    let fd = unsafe { AsyncFd::register(s) }
        .map_err(|e| std::io::Error::other(e.to_string()))
        .map_err(err("register"))?;
    Ok(tokio::spawn(async move {
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let mut guard = match fd.readable().await {
                Ok(g) => g,
                Err(e) => {
                    tracing::error!(target: "vrrp", "rtnetlink watch: {e}");
                    return;
                }
            };
            let r = guard.try_io(|inner| {
                // SAFETY: valid fd and a buffer of the length we pass.
                let n = unsafe {
                    libc::recv(
                        inner.get_ref().as_raw_fd(),
                        buf.as_mut_ptr() as *mut libc::c_void,
                        buf.len(),
                        0,
                    )
                };
                if n < 0 {
                    Err(std::io::Error::last_os_error())
                } else {
                    Ok(n as usize)
                }
            });
            let events = match r {
                Err(_would_block) => continue,
                Ok(Ok(n)) => parse_events(&buf[..n]),
                Ok(Err(e)) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    tracing::warn!(target: "vrrp", "rtnetlink watch: notifications lost (ENOBUFS); re-reading link and address state");
                    vec![LinkEvent::Resync]
                }
                Ok(Err(e)) => {
                    tracing::error!(target: "vrrp", "rtnetlink watch: {e}");
                    continue;
                }
            };
            for ev in events {
                if tx.send(ev).is_err() {
                    return;
                }
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::NetlinkHeader;
    use netlink_packet_route::link::LinkMessage;

    #[test]
    fn parses_a_link_down_message() {
        let mut l = LinkMessage::default();
        l.header.index = 7;
        l.header.flags = LinkFlags::Up; // no carrier
        l.attributes.push(LinkAttribute::IfName("veth0".into()));
        let mut m = NetlinkMessage::new(
            NetlinkHeader::default(),
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(l)),
        );
        m.finalize();
        let mut buf = vec![0u8; m.buffer_len()];
        m.serialize(&mut buf);
        assert_eq!(
            parse_events(&buf),
            vec![LinkEvent::Link {
                ifname: "veth0".into(),
                ifindex: 7,
                up: false
            }]
        );
    }

    #[test]
    fn garbage_is_ignored() {
        assert!(parse_events(&[1, 2, 3]).is_empty());
        assert!(parse_events(&[0xff; 64]).is_empty());
    }
}
