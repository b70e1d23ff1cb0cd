//! The IPVS table as data: what rampart wants in the kernel (`DesiredTable`) and what a dump
//! of the kernel returns (`KernelTable`) have the same shape, so the reconciler is a pure diff.
//!
//! Identity (the key) is kept apart from settings, and settings apart from counters: two
//! entries are "the same entry" when their keys match, and "need an update" when their
//! settings differ. Counters never take part in reconciliation.

use crate::config::model::{ForwardMethod, Protocol, Tunnel};
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Address family of a service or destination (AF_INET / AF_INET6), carried explicitly and
/// never inferred from an address field's length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum AddrFamily {
    V4,
    V6,
}

impl AddrFamily {
    pub fn of(addr: &IpAddr) -> AddrFamily {
        if addr.is_ipv4() {
            AddrFamily::V4
        } else {
            AddrFamily::V6
        }
    }
}

/// What identifies a virtual service in the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum ServiceKey {
    /// protocol + address + port (`-t/-u/--sctp-service`).
    Addr {
        protocol: IpvsProtocol,
        addr: IpAddr,
        port: u16,
    },
    /// firewall mark (`-f`), per family.
    Fwmark { family: AddrFamily, mark: u32 },
}

impl ServiceKey {
    pub fn family(&self) -> AddrFamily {
        match self {
            ServiceKey::Addr { addr, .. } => AddrFamily::of(addr),
            ServiceKey::Fwmark { family, .. } => *family,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum IpvsProtocol {
    Tcp,
    Udp,
    Sctp,
}

impl From<Protocol> for IpvsProtocol {
    fn from(p: Protocol) -> Self {
        match p {
            Protocol::Tcp => IpvsProtocol::Tcp,
            Protocol::Udp => IpvsProtocol::Udp,
            Protocol::Sctp => IpvsProtocol::Sctp,
        }
    }
}

/// Settings of a virtual service (everything `-E` can change).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceSettings {
    /// Kernel scheduler name (`wlc` when the configuration names none).
    pub scheduler: String,
    /// IP_VS_SVC_F_* flags other than HASHED (persistent, one-packet, scheduler flags).
    pub flags: u32,
    /// Persistence timeout in seconds (meaningful with the persistent flag).
    pub timeout: u32,
    /// Persistence netmask: IPv4 netmask as a prefix length, IPv6 prefix length.
    pub netmask_prefix: u8,
    /// Persistence engine (`sip`), if any.
    pub pe_name: Option<String>,
}

/// What identifies a destination within a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct DestKey {
    pub addr: IpAddr,
    pub port: u16,
}

/// Settings of a destination (everything `-e` can change).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DestSettings {
    pub forward: ForwardMethod,
    pub weight: u32,
    pub upper_threshold: u32,
    pub lower_threshold: u32,
    /// Encapsulation of a TUN destination (type, GUE port, checksum flags); always the default
    /// (IPIP) for NAT and DR, so that it never makes those differ.
    pub tunnel: Tunnel,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceEntry {
    pub settings: ServiceSettings,
    pub dests: BTreeMap<DestKey, DestSettings>,
}

/// A whole table: services by key, each with its destinations. Ordered maps so that printing
/// and reconciliation are deterministic.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Table {
    pub services: BTreeMap<ServiceKey, ServiceEntry>,
}

/// What rampart wants in the kernel (built from the configuration and health state).
pub type DesiredTable = Table;
/// What a dump of the kernel returned.
pub type KernelTable = Table;
