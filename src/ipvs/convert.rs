//! Conversions between the table model (`table.rs`) and the netlink attribute sets
//! (`codec.rs`): building request attributes from keys and settings, and reading a kernel dump
//! back into a [`KernelTable`].

use super::codec::{
    DestAttrs, Family, Fwd, ServiceAttrs, SvcFlags, TunType, pack_addr, v4_netmask_raw,
};
use super::consts::*;
use super::table::{
    AddrFamily, DestKey, DestSettings, IpvsProtocol, KernelTable, ServiceEntry, ServiceKey,
    ServiceSettings,
};
use crate::config::model::{ForwardMethod, Tunnel, TunnelCsum, TunnelKind};
use std::collections::BTreeMap;

impl From<AddrFamily> for Family {
    fn from(f: AddrFamily) -> Family {
        match f {
            AddrFamily::V4 => Family::Inet,
            AddrFamily::V6 => Family::Inet6,
        }
    }
}

impl From<IpvsProtocol> for super::codec::Proto {
    fn from(p: IpvsProtocol) -> Self {
        use super::codec::Proto;
        match p {
            IpvsProtocol::Tcp => Proto::Tcp,
            IpvsProtocol::Udp => Proto::Udp,
            IpvsProtocol::Sctp => Proto::Sctp,
        }
    }
}

/// The identifying attributes of a service key.
pub fn service_key_attrs(key: &ServiceKey) -> ServiceAttrs {
    let mut s = ServiceAttrs {
        af: Some(key.family().into()),
        ..Default::default()
    };
    match key {
        ServiceKey::Addr {
            protocol,
            addr,
            port,
        } => {
            s.protocol = Some((*protocol).into());
            s.addr = Some(pack_addr(addr));
            s.port = Some(*port);
        }
        ServiceKey::Fwmark { mark, .. } => s.fwmark = Some(*mark),
    }
    s
}

/// Key plus every setting, as NEW_SERVICE / SET_SERVICE need them.
pub fn service_attrs(key: &ServiceKey, st: &ServiceSettings) -> ServiceAttrs {
    let mut s = service_key_attrs(key);
    s.sched_name = Some(st.scheduler.clone());
    s.flags = Some(SvcFlags {
        flags: st.flags & !IP_VS_SVC_F_HASHED,
        mask: u32::MAX,
    });
    s.timeout = Some(st.timeout);
    s.netmask = Some(match key.family() {
        AddrFamily::V4 => v4_netmask_raw(st.netmask_prefix),
        AddrFamily::V6 => st.netmask_prefix.min(128) as u32,
    });
    s.pe_name = st.pe_name.clone().filter(|p| !p.is_empty());
    s
}

fn fwd_of(m: ForwardMethod) -> Fwd {
    match m {
        ForwardMethod::Nat => Fwd::Masq,
        ForwardMethod::Dr => Fwd::Route,
        ForwardMethod::Tun => Fwd::Tunnel,
    }
}

/// Destination key only (DEL_DEST).
pub fn dest_key_attrs(d: &DestKey) -> DestAttrs {
    DestAttrs {
        addr_family: Some(super::codec::family_of(&d.addr)),
        addr: Some(pack_addr(&d.addr)),
        port: Some(d.port),
        ..Default::default()
    }
}

/// Destination with its settings (NEW_DEST / SET_DEST need all of them).
pub fn dest_attrs(d: &DestKey, st: &DestSettings) -> DestAttrs {
    let mut a = dest_key_attrs(d);
    a.fwd_method = Some(fwd_of(st.forward));
    a.weight = Some(st.weight);
    a.u_thresh = Some(st.upper_threshold);
    a.l_thresh = Some(st.lower_threshold);
    if st.forward == ForwardMethod::Tun {
        a.tun_type = Some(match st.tunnel.kind {
            TunnelKind::Ipip => TunType::Ipip,
            TunnelKind::Gue => TunType::Gue,
            TunnelKind::Gre => TunType::Gre,
        });
        a.tun_port = Some(st.tunnel.port);
        a.tun_flags = Some(match st.tunnel.csum {
            TunnelCsum::NoCsum => IP_VS_TUNNEL_ENCAP_FLAG_NOCSUM,
            TunnelCsum::Csum => IP_VS_TUNNEL_ENCAP_FLAG_CSUM,
            TunnelCsum::RemCsum => IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM,
        });
    }
    a
}

/// A dumped service as (key, settings); None when it cannot be represented (unknown family or
/// protocol) — such a service is left alone as foreign.
pub fn service_from_attrs(s: &ServiceAttrs) -> Option<(ServiceKey, ServiceSettings)> {
    let af = s.af?;
    let family = match af {
        Family::Inet => AddrFamily::V4,
        Family::Inet6 => AddrFamily::V6,
        Family::Unknown(_) => return None,
    };
    let key = match s.fwmark.filter(|m| *m != 0) {
        Some(mark) => ServiceKey::Fwmark { family, mark },
        None => {
            use super::codec::Proto;
            let protocol = match s.protocol? {
                Proto::Tcp => IpvsProtocol::Tcp,
                Proto::Udp => IpvsProtocol::Udp,
                Proto::Sctp => IpvsProtocol::Sctp,
                Proto::Unknown(_) => return None,
            };
            ServiceKey::Addr {
                protocol,
                addr: s.ip()?,
                port: s.port.unwrap_or(0),
            }
        }
    };
    let flags = s.flags.map(|f| f.flags & f.mask).unwrap_or(0) & !IP_VS_SVC_F_HASHED;
    let raw = s.netmask.unwrap_or(0);
    let netmask_prefix = match family {
        AddrFamily::V4 => u32::from_be_bytes(raw.to_ne_bytes()).leading_ones() as u8,
        AddrFamily::V6 => raw.min(128) as u8,
    };
    Some((
        key,
        ServiceSettings {
            scheduler: s.sched_name.clone().unwrap_or_default(),
            flags,
            timeout: s.timeout.unwrap_or(0),
            netmask_prefix,
            pe_name: s.pe_name.clone().filter(|p| !p.is_empty()),
        },
    ))
}

/// A dumped destination as (key, settings); None for unrepresentable ones (unknown family or
/// forwarding method).
pub fn dest_from_attrs(d: &DestAttrs, svc_family: Family) -> Option<(DestKey, DestSettings)> {
    let addr = d.ip(svc_family)?;
    let forward = match d.fwd_method? {
        Fwd::Masq => ForwardMethod::Nat,
        // The kernel may report a destination on a local address as "Local"; ipvsadm saves it
        // as -g.
        Fwd::Route | Fwd::Local => ForwardMethod::Dr,
        Fwd::Tunnel => ForwardMethod::Tun,
        _ => return None,
    };
    let tunnel = if forward == ForwardMethod::Tun {
        tunnel_from_attrs(d)?
    } else {
        Tunnel::default()
    };
    Some((
        DestKey {
            addr,
            port: d.port.unwrap_or(0),
        },
        DestSettings {
            forward,
            weight: d.weight.unwrap_or(0),
            upper_threshold: d.u_thresh.unwrap_or(0),
            lower_threshold: d.l_thresh.unwrap_or(0),
            tunnel,
        },
    ))
}

/// The tunnel of a dumped TUN destination; a kernel without the tunnel attributes (before
/// 5.2) means IPIP. None for a type or flag combination rampart cannot represent.
fn tunnel_from_attrs(d: &DestAttrs) -> Option<Tunnel> {
    let kind = match d.tun_type.unwrap_or(TunType::Ipip) {
        TunType::Ipip => TunnelKind::Ipip,
        TunType::Gue => TunnelKind::Gue,
        TunType::Gre => TunnelKind::Gre,
        _ => return None,
    };
    let flags = d.tun_flags.unwrap_or(0);
    let csum = if flags & IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM != 0 {
        TunnelCsum::RemCsum
    } else if flags & IP_VS_TUNNEL_ENCAP_FLAG_CSUM != 0 {
        TunnelCsum::Csum
    } else {
        TunnelCsum::NoCsum
    };
    Some(Tunnel {
        kind,
        port: if kind == TunnelKind::Gue {
            d.tun_port.unwrap_or(0)
        } else {
            0
        },
        csum: if kind == TunnelKind::Ipip {
            TunnelCsum::NoCsum
        } else {
            csum
        },
    })
}

/// A whole dump as a table. Services that cannot be represented are skipped (and so never
/// touched by the reconciler).
pub fn table_from_dump(dump: &[(ServiceAttrs, Vec<DestAttrs>)]) -> KernelTable {
    let mut t = KernelTable::default();
    for (s, dests) in dump {
        let Some((key, settings)) = service_from_attrs(s) else {
            continue;
        };
        let fam = s.af.unwrap_or(Family::Inet);
        let mut dmap = BTreeMap::new();
        for d in dests {
            if let Some((k, st)) = dest_from_attrs(d, fam) {
                dmap.insert(k, st);
            }
        }
        t.services.insert(
            key,
            ServiceEntry {
                settings,
                dests: dmap,
            },
        );
    }
    t
}
