//! What doctor knows about the host: plain data, serialisable, so that checks are pure and
//! facts can be saved and examined elsewhere.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Sysctl names doctor reads (dotted form).
pub const IP_FORWARD: &str = "net.ipv4.ip_forward";
pub const IPV6_FORWARDING: &str = "net.ipv6.conf.all.forwarding";
pub const VS_CONNTRACK: &str = "net.ipv4.vs.conntrack";
pub const SYSCTLS: [&str; 3] = [IP_FORWARD, IPV6_FORWARDING, VS_CONNTRACK];

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostFacts {
    pub ipvs: IpvsFacts,
    /// Dotted sysctl name → value; absent when the sysctl does not exist (e.g. `net.ipv4.vs.*`
    /// without IPVS).
    pub sysctls: BTreeMap<String, String>,
    pub interfaces: Vec<Interface>,
    /// `iptables-save` output; None when iptables is not installed or failed.
    pub iptables: Option<String>,
    /// `ip6tables-save` output.
    pub ip6tables: Option<String>,
    /// `nft list ruleset` output.
    pub nft: Option<String>,
    /// VRRP daemons (rampart, keepalived) running in this network namespace, other than the
    /// doctor process itself: `NAME (pid N)`.
    pub vrrp_daemons: Vec<String>,
    /// Problems met while gathering (a tool missing, a file unreadable), for the report.
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpvsFacts {
    /// `/proc/net/ip_vs` exists: IPVS is loaded (or built in).
    pub loaded: bool,
    /// When not loaded: would `modprobe ip_vs` work? Ok(()) yes, Err(modprobe's message) no.
    /// None when not asked (loaded already).
    pub modprobe: Option<Result<(), String>>,
}

impl IpvsFacts {
    /// IPVS is usable: loaded, or loadable (rampart loads it at start).
    pub fn available(&self) -> bool {
        self.loaded || matches!(self.modprobe, Some(Ok(())))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interface {
    pub name: String,
    pub up: bool,
    /// Addresses with prefix length.
    pub addrs: Vec<(IpAddr, u8)>,
}

impl HostFacts {
    pub fn sysctl(&self, name: &str) -> Option<&str> {
        self.sysctls.get(name).map(String::as_str)
    }
    pub fn interface(&self, name: &str) -> Option<&Interface> {
        self.interfaces.iter().find(|i| i.name == name)
    }
    /// Interfaces that carry `addr`.
    pub fn holders(&self, addr: IpAddr) -> Vec<&Interface> {
        self.interfaces
            .iter()
            .filter(|i| i.addrs.iter().any(|(a, _)| *a == addr))
            .collect()
    }
}
