//! The vocabulary of things that happened, shared by the engines (producers) and the alert,
//! notify-fifo, status and metrics consumers. Engines emit these as actions; they never call
//! the consumers directly.

use serde::Serialize;
use std::net::IpAddr;

/// A VRRP instance or sync group state, as keepalived names them in notify calls and emails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum VrrpStateName {
    Init,
    Backup,
    Master,
    Fault,
    Stop,
}

impl VrrpStateName {
    pub fn as_str(self) -> &'static str {
        match self {
            VrrpStateName::Init => "INIT",
            VrrpStateName::Backup => "BACKUP",
            VrrpStateName::Master => "MASTER",
            VrrpStateName::Fault => "FAULT",
            VrrpStateName::Stop => "STOP",
        }
    }
}

/// A real server or virtual server endpoint as text, e.g. `[10.0.0.1]:tcp:80` or `FWM 1`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Endpoint {
    pub addr: Option<IpAddr>,
    pub port: Option<u16>,
    pub fwmark: Option<u32>,
    /// "tcp", "udp", "sctp".
    pub protocol: &'static str,
    /// `virtual_server group NAME`.
    pub group: Option<String>,
}

impl Endpoint {
    /// The endpoint naming a configured virtual server.
    pub fn of_virtual_server(vs: &crate::config::model::VirtualServer) -> Endpoint {
        use crate::config::model::VsKey;
        let (addr, port, fwmark, group) = match &vs.key {
            VsKey::Addr { addr, port } => (Some(*addr), Some(*port), None, None),
            VsKey::Fwmark(m) => (None, None, Some(*m), None),
            VsKey::Group(g) => (None, None, None, Some(g.clone())),
        };
        Endpoint {
            addr,
            port,
            fwmark,
            protocol: vs.protocol.name(),
            group,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    VrrpInstance {
        instance: String,
        from: VrrpStateName,
        to: VrrpStateName,
        priority: u8,
        reason: String,
    },
    VrrpSyncGroup {
        group: String,
        from: VrrpStateName,
        to: VrrpStateName,
        reason: String,
    },
    RealServer {
        virtual_server: Endpoint,
        real_server: Endpoint,
        up: bool,
        reason: String,
    },
    Quorum {
        virtual_server: Endpoint,
        gained: bool,
        alive_weight: u64,
        quorum: u32,
    },
    /// A real server's weight in the desired IPVS table changed (None: not in the table).
    /// Not a transition: consumed by the status board only.
    RealServerWeight {
        virtual_server: Endpoint,
        real_server: Endpoint,
        weight: Option<u32>,
    },
    /// A reload was refused (errors in the new file) or applied.
    Reload { ok: bool, detail: String },
    /// An instance's effective priority changed without a state transition (track_script,
    /// track_interface weights): status, metrics, and keepalived's `notify_priority_changes`
    /// fifo lines.
    VrrpPriority {
        instance: String,
        state: VrrpStateName,
        priority: u8,
    },
    /// A MASTER received an advert with a lower priority (`peer_priority` from `peer`) while
    /// its own effective priority was `priority`: keepalived's `MASTER_RX_LOWER_PRI` fifo
    /// line. Not a transition.
    /// A real server removed from the configuration by a reload stays in IPVS at weight 0
    /// until its drain time is up (`inhibit_on_failure`): `draining` while it does, false once
    /// it is deleted. `weight` is the weight it was configured with. Consumed by the status
    /// board only (keepalived has no such state).
    RealServerDraining {
        virtual_server: Endpoint,
        real_server: Endpoint,
        weight: u32,
        draining: bool,
        reason: String,
    },
    VrrpMasterRxLowerPri {
        instance: String,
        priority: u8,
        peer: IpAddr,
        peer_priority: u8,
    },
}
