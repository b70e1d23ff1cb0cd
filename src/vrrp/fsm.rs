//! The VRRP state machine of one instance (RFC 5798 §6.4 with keepalived's semantics), as a
//! pure core: `step(input, now) -> actions`. No clock, no sockets, no randomness.

use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::auth::Auth;
use super::packet::{Af, DecodeError, DropReason, ReceivedAdvert, Version, VrrpPacket};
use super::time::{Centis, duration_us};
use crate::config::{GlobalDefs, InitialState, SyncGroup, VrrpInstance, VrrpScript};
use crate::events::VrrpStateName;

/// Protocol state of an instance. `Stop` is entered on shutdown and never left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum VrrpState {
    Init,
    Backup,
    Master,
    Fault,
    Stop,
}

impl VrrpState {
    pub fn name(self) -> VrrpStateName {
        match self {
            VrrpState::Init => VrrpStateName::Init,
            VrrpState::Backup => VrrpStateName::Backup,
            VrrpState::Master => VrrpStateName::Master,
            VrrpState::Fault => VrrpStateName::Fault,
            VrrpState::Stop => VrrpStateName::Stop,
        }
    }
}

/// The timers the shell runs on the core's behalf.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimerKind {
    /// MASTER: send the next advertisement.
    Advert,
    /// BACKUP: the master is presumed down when this fires.
    MasterDown,
    /// MASTER: the second round of gratuitous ARPs / NAs, `garp_master_delay` after the first.
    GarpDelay,
    /// MASTER: periodic gratuitous ARPs / NAs every `garp_master_refresh`.
    GarpRefresh,
}

/// An instruction from the sync group coordinator ([`super::sync`]) to a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncCommand {
    /// Every member can be master: become MASTER now.
    Master,
    /// Another member left MASTER: go to BACKUP.
    Backup,
    /// Another member is (true) or is no longer (false) in FAULT.
    GroupFault { fault: bool },
}

/// Everything that can happen to an instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Input {
    /// The instance's source address (interface primary address, or `unicast_src_ip` /
    /// `mcast_src_ip`): used for the equal-priority tie-break and to recognise our own
    /// packets. Send before `Startup` and whenever it changes.
    LocalAddress { addr: IpAddr },
    /// Start the protocol (leave INIT).
    Startup,
    /// Stop: a MASTER sends a priority-0 advert and releases its VIPs.
    Shutdown,
    /// A packet arrived for this VRID (decoded or not: decode errors are counted here).
    AdvertReceived {
        packet: Result<ReceivedAdvert, DecodeError>,
    },
    /// A timer armed with [`Action::ArmTimer`] expired.
    TimerExpired { timer: TimerKind },
    /// The instance's own interface went up or down.
    LinkChanged { up: bool },
    /// A `track_interface` went up or down.
    TrackInterface { name: String, up: bool },
    /// A `vrrp_script` in `track_script` changed result (after rise/fall).
    TrackScript { name: String, ok: bool },
    /// From the sync group coordinator.
    Sync { command: SyncCommand },
}

/// Why a transition happened (for notify scripts, logs and alerts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransitionReason {
    /// Initial state at startup (`state BACKUP`, or faults present).
    Startup,
    /// Priority 255: the address owner becomes MASTER at once.
    AddressOwner,
    /// `state MASTER` in the configuration: no waiting for a master down interval.
    ConfiguredMaster,
    /// Master_Down_Timer expired (master silent, or sent priority 0).
    MasterDown,
    /// As MASTER, received an advert from a better master.
    HigherPriorityAdvert {
        from: IpAddr,
        priority: u8,
    },
    /// A tracked object failed / the link went down / the sync group is in fault.
    Fault {
        cause: String,
    },
    /// All faults cleared.
    FaultCleared,
    /// Decided by the sync group.
    SyncGroup,
    Shutdown,
}

/// A state change, as passed to notify scripts and [`crate::events::Event::VrrpInstance`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    pub instance: String,
    pub from: VrrpState,
    pub to: VrrpState,
    /// Effective priority after the transition.
    pub priority: u8,
    pub reason: TransitionReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    Info,
    Warn,
}

/// What the shell must do, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Send an advertisement (to the multicast group, or to every unicast peer). For AH the
    /// core has chosen the sequence number; the shell encodes with
    /// [`super::packet::encode_ipv4`] and the instance's key ([`Instance::auth`]).
    SendAdvert {
        packet: VrrpPacket,
        ah_seq: Option<u32>,
    },
    /// Add the VIPs, excluded VIPs, virtual routes and rules.
    AddVips,
    /// Remove exactly what AddVips added.
    DelVips,
    /// Send `repeat` gratuitous ARPs (IPv4) / unsolicited NAs (IPv6) for every VIP.
    SendGratuitous {
        repeat: u32,
    },
    /// (Re)arm a timer to fire `after` from the `now` of the step that returned this action.
    ArmTimer {
        timer: TimerKind,
        #[serde(with = "duration_us", rename = "after_us")]
        after: Duration,
    },
    DisarmTimer {
        timer: TimerKind,
    },
    /// Run notify scripts, send the event.
    Notify(Transition),
    /// Count a dropped packet (the instance also keeps [`Counters`]).
    CountDrop {
        reason: DropReason,
    },
    /// Something worth a log line that is not a transition (VIP list mismatch...).
    Log {
        level: LogLevel,
        message: String,
    },
    /// Sync group members only: this member's master down timer expired and it wants to be
    /// MASTER (true), or it no longer does (false). The coordinator answers with
    /// [`SyncCommand::Master`] once every member wants it.
    SyncWantMaster {
        want: bool,
    },
}

/// Errors building an instance from configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetupError {
    #[error("instance {instance}: track_script {script} names no vrrp_script")]
    UnknownScript { instance: String, script: String },
    #[error("instance {instance}: advert_int {int} is not a whole number of seconds (VRRPv2)")]
    V2Interval { instance: String, int: Centis },
    #[error("instance {instance}: advert_int {int} exceeds VRRPv3's 40.95 s")]
    V3Interval { instance: String, int: Centis },
}

/// A tracked object's contribution to priority.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tracked {
    pub name: String,
    /// 0: failure means FAULT. >0: added while OK. <0: added while failed.
    pub weight: i32,
    /// `weight N reverse`: the sign logic is inverted.
    pub reverse: bool,
    /// Current result (interfaces: up; scripts: ok).
    pub ok: bool,
}

/// An instance's parameters, resolved from the configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceParams {
    pub name: String,
    pub vrid: u8,
    pub version: Version,
    pub af: Af,
    /// Configured (base) priority.
    pub priority: u8,
    pub advert_int: Centis,
    pub initial_state_master: bool,
    pub nopreempt: bool,
    #[serde(with = "duration_us", rename = "preempt_delay_us")]
    pub preempt_delay: Duration,
    pub auth: Auth,
    pub vips: Vec<IpAddr>,
    pub unicast_peers: Vec<IpAddr>,
    pub track_interfaces: Vec<Tracked>,
    pub track_scripts: Vec<Tracked>,
    #[serde(with = "duration_us", rename = "garp_master_delay_us")]
    pub garp_master_delay: Duration,
    pub garp_master_repeat: u32,
    pub garp_master_refresh: Option<Centis>,
    pub garp_master_refresh_repeat: u32,
    /// Member of a sync group: becoming MASTER goes through the coordinator.
    pub in_sync_group: bool,
}

impl InstanceParams {
    /// Resolve from the config model. `sync_group`'s track_interface/track_script apply to
    /// every member, as in keepalived.
    pub fn from_config(
        inst: &VrrpInstance,
        global: &GlobalDefs,
        scripts: &[VrrpScript],
        sync_group: Option<&SyncGroup>,
    ) -> Result<InstanceParams, SetupError> {
        let name = inst.name.clone();
        let version: Version = inst.version_or(global).into();
        let af = match inst.family() {
            crate::config::Family::V4 => Af::V4,
            crate::config::Family::V6 => Af::V6,
        };
        let advert_int = Centis::from_duration(inst.advert_int);
        match version {
            Version::V2 if advert_int.as_whole_secs().is_none() || advert_int.0 == 0 => {
                return Err(SetupError::V2Interval {
                    instance: name,
                    int: advert_int,
                });
            }
            Version::V3 if advert_int > Centis::V3_MAX || advert_int.0 == 0 => {
                return Err(SetupError::V3Interval {
                    instance: name,
                    int: advert_int,
                });
            }
            _ => {}
        }
        let auth = match &inst.authentication {
            // Authentication exists in VRRPv2 only; keepalived ignores it for v3.
            Some(a) if version == Version::V2 => match a.auth_type {
                crate::config::AuthType::Pass => Auth::Pass(super::auth::key_bytes(&a.auth_pass)),
                crate::config::AuthType::Ah => Auth::Ah(super::auth::key_bytes(&a.auth_pass)),
            },
            _ => Auth::None,
        };
        let group_ifs = sync_group
            .map(|g| g.track_interface.as_slice())
            .unwrap_or(&[]);
        let track_interfaces = inst
            .track_interface
            .iter()
            .chain(group_ifs)
            .map(|t| Tracked {
                name: t.name.clone(),
                weight: t.weight.unwrap_or(0),
                reverse: false,
                ok: true,
            })
            .collect();
        let group_scripts = sync_group.map(|g| g.track_script.as_slice()).unwrap_or(&[]);
        let mut track_scripts = Vec::new();
        for t in inst.track_script.iter().chain(group_scripts) {
            let Some(script) = scripts.iter().find(|s| s.name == t.name) else {
                return Err(SetupError::UnknownScript {
                    instance: name,
                    script: t.name.clone(),
                });
            };
            track_scripts.push(Tracked {
                name: t.name.clone(),
                weight: t.weight.unwrap_or(script.weight),
                reverse: script.weight_reverse,
                // keepalived: a script starts failed with init_fail, else OK until it reports.
                ok: !script.init_fail,
            });
        }
        Ok(InstanceParams {
            vrid: inst.virtual_router_id,
            version,
            af,
            priority: inst.priority,
            advert_int,
            initial_state_master: inst.initial_state == InitialState::Master,
            nopreempt: inst.nopreempt,
            preempt_delay: inst.preempt_delay,
            auth,
            vips: inst.virtual_ipaddress.iter().map(|v| v.addr).collect(),
            unicast_peers: inst.unicast_peer.iter().map(|p| p.addr).collect(),
            track_interfaces,
            track_scripts,
            garp_master_delay: inst.garp_master_delay_or(global),
            garp_master_repeat: inst.garp_master_repeat_or(global),
            garp_master_refresh: inst
                .garp_master_refresh_or(global)
                .map(Centis::from_duration),
            garp_master_refresh_repeat: inst.garp_master_refresh_repeat_or(global),
            in_sync_group: sync_group.is_some(),
            name,
        })
    }
}

/// Per-instance counters (for status and metrics).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    pub adverts_received: u64,
    pub adverts_sent: u64,
    pub priority_zero_received: u64,
    pub priority_zero_sent: u64,
    pub became_master: u64,
    pub released_master: u64,
    pub drops: std::collections::BTreeMap<DropReason, u64>,
}

/// One VRRP instance.
#[derive(Debug, Clone)]
pub struct Instance {
    params: InstanceParams,
    state: VrrpState,
    counters: Counters,
}

impl Instance {
    pub fn new(params: InstanceParams) -> Instance {
        Instance {
            params,
            state: VrrpState::Init,
            counters: Counters::default(),
        }
    }

    pub fn from_config(
        inst: &VrrpInstance,
        global: &GlobalDefs,
        scripts: &[VrrpScript],
        sync_group: Option<&SyncGroup>,
    ) -> Result<Instance, SetupError> {
        Ok(Instance::new(InstanceParams::from_config(
            inst, global, scripts, sync_group,
        )?))
    }

    pub fn params(&self) -> &InstanceParams {
        &self.params
    }
    pub fn name(&self) -> &str {
        &self.params.name
    }
    pub fn state(&self) -> VrrpState {
        self.state
    }
    pub fn counters(&self) -> &Counters {
        &self.counters
    }
    pub fn auth(&self) -> &Auth {
        &self.params.auth
    }

    /// Process one input at time `now`; returns the actions for the shell, in order.
    pub fn step(&mut self, input: Input, now: Instant) -> Vec<Action> {
        let _ = (input, now);
        Vec::new()
    }
}
