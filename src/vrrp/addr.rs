//! Virtual addresses, routes and rules, installed and removed over rtnetlink.
//!
//! Each instance owns an [`Owned`] record of what it put into the kernel, so leaving MASTER
//! removes exactly that and nothing a human (or another instance) added. In dry-run mode the
//! changes are logged instead of made.

use crate::config::{IpPrefix, RouteType, VirtualIp, VirtualRoute, VirtualRule};
use futures::StreamExt;
use netlink_packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressMessage, AddressScope, CacheInfo,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteNextHop, RouteProtocol,
    RouteScope, RouteType as NlRouteType,
};
use netlink_packet_route::rule::{RuleAction, RuleAttribute, RuleMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use std::net::IpAddr;

#[derive(Debug, thiserror::Error)]
pub enum AddrError {
    #[error("interface {0}: no such interface")]
    NoInterface(String),
    #[error("{what} {item}: {source}")]
    Kernel {
        what: &'static str,
        item: String,
        #[source]
        source: std::io::Error,
    },
    #[error("rtnetlink connection: {0}")]
    Connection(#[source] std::io::Error),
}

/// The rtnetlink handle used for address, route and rule changes.
#[derive(Clone)]
pub struct Netlink {
    handle: rtnetlink::Handle,
    pub dry_run: bool,
    /// The no_accept firewall, shared by every instance.
    pub firewall: std::sync::Arc<super::nft::Firewall>,
}

impl std::fmt::Debug for Netlink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Netlink")
            .field("dry_run", &self.dry_run)
            .finish()
    }
}

/// One address as the kernel identifies it (for deletion and for "is it still there?").
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AddrKey {
    pub ifindex: u32,
    pub ifname: String,
    pub addr: IpAddr,
    pub prefix_len: u8,
}

impl std::fmt::Display for AddrKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{} dev {}", self.addr, self.prefix_len, self.ifname)
    }
}

/// What an instance (or the static configuration) wants in the kernel while it applies.
#[derive(Debug, Clone, Copy)]
pub struct Wanted<'a> {
    pub vips: &'a [VirtualIp],
    pub excluded: &'a [VirtualIp],
    pub routes: &'a [VirtualRoute],
    pub rules: &'a [VirtualRule],
    /// `no_accept`: traffic to and from the VIPs is dropped while they are installed.
    pub no_accept: bool,
}

/// What an instance has put into the kernel.
#[derive(Debug, Default, Clone)]
pub struct Owned {
    pub addrs: Vec<(AddrKey, VirtualIp)>,
    pub routes: Vec<RouteMessage>,
    pub rules: Vec<RuleMessage>,
    /// VIPs in the no_accept firewall set.
    pub blocked: Vec<IpAddr>,
}

impl Owned {
    pub fn is_empty(&self) -> bool {
        self.addrs.is_empty()
            && self.routes.is_empty()
            && self.rules.is_empty()
            && self.blocked.is_empty()
    }
}

fn io_of(e: rtnetlink::Error) -> std::io::Error {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.to_io(),
        other => std::io::Error::other(other.to_string()),
    }
}

fn is_errno(e: &std::io::Error, errno: i32) -> bool {
    e.raw_os_error() == Some(errno)
}

impl Netlink {
    /// Open a connection; the connection task runs on the current tokio runtime.
    pub fn open(dry_run: bool) -> Result<Netlink, AddrError> {
        let (conn, handle, _) = rtnetlink::new_connection().map_err(AddrError::Connection)?;
        tokio::spawn(conn);
        Ok(Netlink {
            handle,
            dry_run,
            firewall: Default::default(),
        })
    }

    /// The underlying rtnetlink handle (links: vmac).
    pub fn handle(&self) -> rtnetlink::Handle {
        self.handle.clone()
    }

    async fn request(&self, msg: RouteNetlinkMessage, flags: u16) -> Result<(), std::io::Error> {
        let mut req = NetlinkMessage::from(msg);
        req.header.flags = flags;
        let mut handle = self.handle.clone();
        let mut resp = handle.request(req).map_err(io_of)?;
        while let Some(m) = resp.next().await {
            if let NetlinkPayload::Error(e) = m.payload {
                if e.code.is_some() {
                    return Err(e.to_io());
                }
            }
        }
        Ok(())
    }

    pub fn key_of(&self, vip: &VirtualIp, default_dev: &str) -> Result<AddrKey, AddrError> {
        let ifname = vip.dev.clone().unwrap_or_else(|| default_dev.to_string());
        let ifindex = nix::net::if_::if_nametoindex(ifname.as_str())
            .map_err(|_| AddrError::NoInterface(ifname.clone()))?;
        Ok(AddrKey {
            ifindex,
            ifname,
            addr: vip.addr,
            prefix_len: vip.prefix_len,
        })
    }

    /// Add one VIP. Ok(true): added (or already there, which keepalived also treats as
    /// ours: the address is configured as this instance's VIP).
    pub async fn add_addr(&self, key: &AddrKey, vip: &VirtualIp) -> Result<(), AddrError> {
        if self.dry_run {
            tracing::info!(target: "vrrp", "dry-run: would add address {key}");
            return Ok(());
        }
        let msg = address_message(key, vip);
        match self
            .request(
                RouteNetlinkMessage::NewAddress(msg),
                NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
            )
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if is_errno(&e, libc::EEXIST) => Ok(()),
            Err(source) => Err(AddrError::Kernel {
                what: "add address",
                item: key.to_string(),
                source,
            }),
        }
    }

    pub async fn del_addr(&self, key: &AddrKey, vip: &VirtualIp) -> Result<(), AddrError> {
        if self.dry_run {
            tracing::info!(target: "vrrp", "dry-run: would remove address {key}");
            return Ok(());
        }
        let msg = address_message(key, vip);
        match self
            .request(
                RouteNetlinkMessage::DelAddress(msg),
                NLM_F_REQUEST | NLM_F_ACK,
            )
            .await
        {
            Ok(()) => Ok(()),
            // Already gone (interface deleted, or removed by hand): nothing left to undo.
            Err(e) if is_errno(&e, libc::EADDRNOTAVAIL) || is_errno(&e, libc::ENODEV) => Ok(()),
            Err(source) => Err(AddrError::Kernel {
                what: "remove address",
                item: key.to_string(),
                source,
            }),
        }
    }

    pub async fn add_route(
        &self,
        r: &VirtualRoute,
        default_dev: &str,
    ) -> Result<RouteMessage, AddrError> {
        let msg = route_message(r, default_dev)?;
        if self.dry_run {
            tracing::info!(target: "vrrp", "dry-run: would add route {}", r.dst);
            return Ok(msg);
        }
        match self
            .request(
                RouteNetlinkMessage::NewRoute(msg.clone()),
                NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
            )
            .await
        {
            Ok(()) => Ok(msg),
            Err(e) if is_errno(&e, libc::EEXIST) => Ok(msg),
            Err(source) => Err(AddrError::Kernel {
                what: "add route",
                item: r.dst.to_string(),
                source,
            }),
        }
    }

    pub async fn del_route(&self, msg: &RouteMessage) -> Result<(), AddrError> {
        if self.dry_run {
            tracing::info!(target: "vrrp", "dry-run: would remove route {:?}", route_dst(msg));
            return Ok(());
        }
        match self
            .request(
                RouteNetlinkMessage::DelRoute(msg.clone()),
                NLM_F_REQUEST | NLM_F_ACK,
            )
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if is_errno(&e, libc::ESRCH) || is_errno(&e, libc::ENODEV) => Ok(()),
            Err(source) => Err(AddrError::Kernel {
                what: "remove route",
                item: format!("{:?}", route_dst(msg)),
                source,
            }),
        }
    }

    pub async fn add_rule(&self, r: &VirtualRule, v6: bool) -> Result<RuleMessage, AddrError> {
        let msg = rule_message(r, v6);
        if self.dry_run {
            tracing::info!(target: "vrrp", "dry-run: would add rule {r:?}");
            return Ok(msg);
        }
        match self
            .request(
                RouteNetlinkMessage::NewRule(msg.clone()),
                NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
            )
            .await
        {
            Ok(()) => Ok(msg),
            Err(e) if is_errno(&e, libc::EEXIST) => Ok(msg),
            Err(source) => Err(AddrError::Kernel {
                what: "add rule",
                item: format!("{:?}", r.from.or(r.to)),
                source,
            }),
        }
    }

    pub async fn del_rule(&self, msg: &RuleMessage) -> Result<(), AddrError> {
        if self.dry_run {
            tracing::info!(target: "vrrp", "dry-run: would remove a rule");
            return Ok(());
        }
        match self
            .request(
                RouteNetlinkMessage::DelRule(msg.clone()),
                NLM_F_REQUEST | NLM_F_ACK,
            )
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if is_errno(&e, libc::ENOENT) => Ok(()),
            Err(source) => Err(AddrError::Kernel {
                what: "remove rule",
                item: "rule".into(),
                source,
            }),
        }
    }

    /// Install everything an instance owns as MASTER. Errors are logged per item and the rest
    /// still goes in: a missing route must not keep the VIPs away.
    pub async fn install(
        &self,
        instance: &str,
        default_dev: &str,
        wanted: Wanted<'_>,
        owned: &mut Owned,
    ) {
        let Wanted {
            vips,
            excluded,
            routes,
            rules,
            no_accept,
        } = wanted;
        if no_accept {
            for vip in vips {
                if owned.blocked.contains(&vip.addr) {
                    continue;
                }
                if self.dry_run {
                    tracing::info!(target: "vrrp", instance, "dry-run: would drop traffic for {} (no_accept)", vip.addr);
                    continue;
                }
                match self.firewall.block(vip.addr).await {
                    Ok(()) => owned.blocked.push(vip.addr),
                    Err(e) => {
                        tracing::error!(target: "vrrp", instance, "no_accept for {}: {e}", vip.addr)
                    }
                }
            }
        }
        for vip in vips.iter().chain(excluded) {
            let key = match self.key_of(vip, default_dev) {
                Ok(k) => k,
                Err(e) => {
                    tracing::error!(target: "vrrp", instance, "{e}");
                    continue;
                }
            };
            if owned.addrs.iter().any(|(k, _)| *k == key) {
                continue;
            }
            match self.add_addr(&key, vip).await {
                Ok(()) => owned.addrs.push((key, vip.clone())),
                Err(e) => tracing::error!(target: "vrrp", instance, "{e}"),
            }
        }
        for r in routes {
            match self.add_route(r, default_dev).await {
                Ok(m) => owned.routes.push(m),
                Err(e) => tracing::error!(target: "vrrp", instance, "{e}"),
            }
        }
        for r in rules {
            let v6 = r.from.or(r.to).is_some_and(|p| p.addr.is_ipv6())
                || vips.first().is_some_and(|v| v.addr.is_ipv6());
            match self.add_rule(r, v6).await {
                Ok(m) => owned.rules.push(m),
                Err(e) => tracing::error!(target: "vrrp", instance, "{e}"),
            }
        }
    }

    /// Remove exactly what `owned` records, in reverse order of installation.
    pub async fn release(&self, instance: &str, owned: &mut Owned) {
        for m in owned.rules.drain(..).rev() {
            if let Err(e) = self.del_rule(&m).await {
                tracing::error!(target: "vrrp", instance, "{e}");
            }
        }
        for m in owned.routes.drain(..).rev() {
            if let Err(e) = self.del_route(&m).await {
                tracing::error!(target: "vrrp", instance, "{e}");
            }
        }
        for (k, v) in owned.addrs.drain(..).rev() {
            if let Err(e) = self.del_addr(&k, &v).await {
                tracing::error!(target: "vrrp", instance, "{e}");
            }
        }
        for a in owned.blocked.drain(..) {
            if let Err(e) = self.firewall.unblock(a).await {
                tracing::error!(target: "vrrp", instance, "no_accept for {a}: {e}");
            }
        }
    }
}

fn family_of(a: IpAddr) -> AddressFamily {
    if a.is_ipv6() {
        AddressFamily::Inet6
    } else {
        AddressFamily::Inet
    }
}

/// The RTM_NEWADDR/RTM_DELADDR message for a VIP (`ip addr add` semantics).
pub fn address_message(key: &AddrKey, vip: &VirtualIp) -> AddressMessage {
    let mut m = AddressMessage::default();
    m.header.family = family_of(vip.addr);
    m.header.prefix_len = vip.prefix_len;
    m.header.index = key.ifindex;
    m.header.scope = AddressScope::from(vip.scope.map(|s| s.to_rt()).unwrap_or(0));
    match vip.peer {
        Some(p) => {
            m.header.prefix_len = p.len;
            m.attributes.push(AddressAttribute::Local(vip.addr));
            m.attributes.push(AddressAttribute::Address(p.addr));
        }
        None => {
            m.attributes.push(AddressAttribute::Local(vip.addr));
            m.attributes.push(AddressAttribute::Address(vip.addr));
        }
    }
    if let Some(b) = vip.brd {
        m.attributes.push(AddressAttribute::Broadcast(b));
    }
    if vip.addr.is_ipv4() {
        // Linux requires the label to start with the interface name.
        if let Some(l) = &vip.label {
            m.attributes.push(AddressAttribute::Label(l.clone()));
        }
    }
    // keepalived adds every IPv6 VIP with IFA_F_NODAD: a VIP that moves between routers
    // must be usable at once, not "tentative" for DAD (and never "dadfailed" because the
    // old master still answered for it a moment ago).
    if vip.nodad || vip.addr.is_ipv6() {
        m.attributes
            .push(AddressAttribute::Flags(AddressFlags::Nodad));
    }
    if let Some(p) = vip.preferred_lft {
        let mut ci = CacheInfo::default();
        ci.ifa_preferred = p;
        ci.ifa_valid = u32::MAX;
        m.attributes.push(AddressAttribute::CacheInfo(ci));
    }
    m
}

fn route_dst(m: &RouteMessage) -> Option<RouteAddress> {
    m.attributes.iter().find_map(|a| match a {
        RouteAttribute::Destination(d) => Some(d.clone()),
        _ => None,
    })
}

/// The RTM_NEWROUTE/RTM_DELROUTE message for a virtual route.
pub fn route_message(r: &VirtualRoute, default_dev: &str) -> Result<RouteMessage, AddrError> {
    let mut m = RouteMessage::default();
    let v6 = r.dst.addr.is_ipv6();
    m.header.address_family = if v6 {
        AddressFamily::Inet6
    } else {
        AddressFamily::Inet
    };
    m.header.destination_prefix_length = r.dst.len;
    m.header.protocol = RouteProtocol::Static;
    m.header.kind = match r.route_type {
        RouteType::Unicast => NlRouteType::Unicast,
        RouteType::Blackhole => NlRouteType::BlackHole,
        RouteType::Unreachable => NlRouteType::Unreachable,
        RouteType::Prohibit => NlRouteType::Prohibit,
        RouteType::Throw => NlRouteType::Throw,
    };
    let table = r.table.unwrap_or(RouteHeader::RT_TABLE_MAIN as u32);
    if table < 256 {
        m.header.table = table as u8;
    } else {
        m.header.table = RouteHeader::RT_TABLE_UNSPEC;
        m.attributes.push(RouteAttribute::Table(table));
    }
    let has_gw = r.via.is_some();
    m.header.scope = match r.scope {
        Some(s) => RouteScope::from(s.to_rt()),
        None if r.route_type == RouteType::Unicast && !has_gw => RouteScope::Link,
        None => RouteScope::Universe,
    };
    if r.dst.len > 0 {
        m.attributes
            .push(RouteAttribute::Destination(RouteAddress::from(r.dst.addr)));
    }
    if let Some(s) = r.src {
        m.attributes
            .push(RouteAttribute::PrefSource(RouteAddress::from(s)));
    }
    if r.route_type == RouteType::Unicast {
        let dev = r.dev.as_deref().unwrap_or(default_dev);
        let idx = nix::net::if_::if_nametoindex(dev)
            .map_err(|_| AddrError::NoInterface(dev.to_string()))?;
        match (r.via, r.via_alt) {
            (Some(a), Some(b)) => {
                let hop = |g: IpAddr| {
                    let mut h = RouteNextHop::default();
                    h.interface_index = idx;
                    h.attributes
                        .push(RouteAttribute::Gateway(RouteAddress::from(g)));
                    h
                };
                m.attributes
                    .push(RouteAttribute::MultiPath(vec![hop(a), hop(b)]));
            }
            (Some(a), None) => {
                m.attributes.push(RouteAttribute::Oif(idx));
                m.attributes
                    .push(RouteAttribute::Gateway(RouteAddress::from(a)));
            }
            _ => m.attributes.push(RouteAttribute::Oif(idx)),
        }
    }
    if let Some(metric) = r.metric {
        m.attributes.push(RouteAttribute::Priority(metric));
    }
    Ok(m)
}

fn prefix_attr(p: &IpPrefix) -> IpAddr {
    p.addr
}

/// The RTM_NEWRULE/RTM_DELRULE message for a virtual rule.
pub fn rule_message(r: &VirtualRule, v6: bool) -> RuleMessage {
    let mut m = RuleMessage::default();
    m.header.family = if v6 {
        AddressFamily::Inet6
    } else {
        AddressFamily::Inet
    };
    m.header.action = RuleAction::ToTable;
    let table = r.table.unwrap_or(RouteHeader::RT_TABLE_MAIN as u32);
    if table < 256 {
        m.header.table = table as u8;
    } else {
        m.header.table = RouteHeader::RT_TABLE_UNSPEC;
    }
    m.attributes.push(RuleAttribute::Table(table));
    if let Some(f) = &r.from {
        m.header.src_len = f.len;
        m.attributes.push(RuleAttribute::Source(prefix_attr(f)));
    }
    if let Some(t) = &r.to {
        m.header.dst_len = t.len;
        m.attributes
            .push(RuleAttribute::Destination(prefix_attr(t)));
    }
    if let Some(p) = r.priority {
        m.attributes.push(RuleAttribute::Priority(p));
    }
    if let Some((mark, mask)) = r.fwmark {
        m.attributes.push(RuleAttribute::FwMark(mark));
        if let Some(mask) = mask {
            m.attributes.push(RuleAttribute::FwMask(mask));
        }
    }
    if let Some(i) = &r.iif {
        m.attributes.push(RuleAttribute::Iifname(i.clone()));
    }
    if let Some(o) = &r.oif {
        m.attributes.push(RuleAttribute::Oifname(o.clone()));
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Span;

    fn vip(s: &str, len: u8) -> VirtualIp {
        VirtualIp {
            addr: s.parse().unwrap(),
            prefix_len: len,
            dev: None,
            brd: None,
            scope: None,
            label: None,
            peer: None,
            nodad: false,
            no_track: false,
            preferred_lft: None,
            span: Span::default(),
        }
    }

    #[test]
    fn address_message_has_local_and_address() {
        let v = vip("10.0.0.1", 24);
        let k = AddrKey {
            ifindex: 3,
            ifname: "eth0".into(),
            addr: v.addr,
            prefix_len: 24,
        };
        let m = address_message(&k, &v);
        assert_eq!(m.header.index, 3);
        assert_eq!(m.header.prefix_len, 24);
        assert!(m.attributes.contains(&AddressAttribute::Local(v.addr)));
    }

    #[test]
    fn ipv6_vips_always_nodad_ipv4_never() {
        let has_nodad = |v: &VirtualIp| {
            let k = AddrKey {
                ifindex: 1,
                ifname: "eth0".into(),
                addr: v.addr,
                prefix_len: v.prefix_len,
            };
            address_message(&k, v)
                .attributes
                .iter()
                .any(|a| matches!(a, AddressAttribute::Flags(f) if f.contains(AddressFlags::Nodad)))
        };
        assert!(
            has_nodad(&vip("fd00::10", 64)),
            "as keepalived: IPv6 VIPs skip DAD"
        );
        assert!(!has_nodad(&vip("10.0.0.1", 24)));
    }

    #[test]
    fn nodad_and_lft() {
        let mut v = vip("2001:db8::1", 64);
        v.nodad = true;
        v.preferred_lft = Some(0);
        let k = AddrKey {
            ifindex: 1,
            ifname: "lo".into(),
            addr: v.addr,
            prefix_len: 64,
        };
        let m = address_message(&k, &v);
        assert_eq!(m.header.family, AddressFamily::Inet6);
        assert!(
            m.attributes.iter().any(
                |a| matches!(a, AddressAttribute::Flags(f) if f.contains(AddressFlags::Nodad))
            )
        );
        assert!(
            m.attributes
                .iter()
                .any(|a| matches!(a, AddressAttribute::CacheInfo(c) if c.ifa_preferred == 0))
        );
    }
}
