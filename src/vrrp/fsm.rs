//! The VRRP state machine of one instance (RFC 5798 §6.4 with keepalived's semantics), as a
//! pure core: `step(input, now) -> actions`. No clock, no sockets, no randomness.

use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::auth::Auth;
use super::packet::{Af, DecodeError, DropReason, ReceivedAdvert, Version, VrrpPacket};
use super::time::{Centis, duration_us};
use crate::config::{
    GlobalDefs, InitialState, SyncGroup, TrackFile, TrackProcess, VrrpInstance, VrrpScript,
};
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
    /// MASTER: the second round of gratuitous ARPs / NAs, `garp_lower_prio_delay` after a
    /// lower-priority advert was answered.
    GarpLowerPrio,
    /// INIT: `vrrp_startup_delay` is over; the protocol starts.
    StartupDelay,
    /// MASTER: periodic gratuitous ARPs / NAs on the other VIP interfaces (`garp_extra_if`).
    GarpExtraIf,
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
    /// A `track_file` was read: the number in it (see [`parse_track_file_value`]).
    TrackFile { name: String, value: i64 },
    /// A `vrrp_track_process` gained (`up`) or lost its quorum (after its delays; see
    /// [`super::track_process`]).
    TrackProcess { name: String, up: bool },
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
    /// `garp_extra_if`: one round of gratuitous ARPs / NAs for the VIPs configured on
    /// interfaces other than the instance's own (`all`), or on VMAC interfaces only.
    SendGratuitousExtra {
        all: bool,
    },
    /// As MASTER, an advert with a lower priority (`priority`, from `from`) arrived while ours
    /// was `ours`. Always emitted, as keepalived always writes `MASTER_RX_LOWER_PRI` to the
    /// notify fifos; the shell also runs `notify_master_rx_lower_pri` when configured.
    NotifyMasterRxLowerPri {
        from: IpAddr,
        priority: u8,
        ours: u8,
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
    /// Sync group members only: this member's own fault status (link, tracked objects; not
    /// the group's) changed. The coordinator answers with [`SyncCommand::GroupFault`].
    SyncMemberFault {
        fault: bool,
    },
}

/// Errors building an instance from configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetupError {
    #[error("instance {instance}: track_script {script} names no vrrp_script")]
    UnknownScript { instance: String, script: String },
    #[error("instance {instance}: track_file {file} names no track_file block")]
    UnknownTrackFile { instance: String, file: String },
    #[error("instance {instance}: track_process {process} names no vrrp_track_process block")]
    UnknownTrackProcess { instance: String, process: String },
    #[error("instance {instance}: advert_int {int} is not a whole number of seconds (VRRPv2)")]
    V2Interval { instance: String, int: Centis },
    #[error("instance {instance}: advert_int {int} exceeds VRRPv3's 40.95 s")]
    V3Interval { instance: String, int: Centis },
    /// A reload changed what identifies the virtual router (name, VRID, version or family):
    /// the old instance must be stopped and a new one started.
    #[error("instance {instance}: {what} changed; it is a different virtual router now")]
    IdentityChanged {
        instance: String,
        what: &'static str,
    },
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

/// A `track_file` as one instance tracks it (keepalived.conf(5) "Track files").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackedFile {
    pub name: String,
    /// 0: a non-zero value means FAULT. Otherwise value × weight is added to the priority,
    /// and a product below -253 means FAULT.
    pub weight: i32,
    /// Inverts the sign of the product (weight 0: a zero value means FAULT).
    pub reverse: bool,
    /// The number last read from the file (0 until read; a missing or empty file reads 0).
    pub value: i64,
}

impl TrackedFile {
    /// keepalived's status of the tracking object: `None` means FAULT.
    fn status(&self) -> Option<i64> {
        if self.weight == 0 {
            let failed = (self.value != 0) != self.reverse;
            return if failed { None } else { Some(0) };
        }
        let sign = if self.reverse { -1 } else { 1 };
        let product = self
            .value
            .saturating_mul(i64::from(self.weight))
            .saturating_mul(sign);
        (product >= -253).then_some(product.min(i64::from(i32::MAX)))
    }
}

/// A `vrrp_track_process` as one instance tracks it (keepalived.conf(5) "VRRP track
/// processes").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackedProcess {
    pub name: String,
    /// 0: FAULT while the quorum is not met (with `reverse`: while it is met).
    pub weight: i32,
    pub reverse: bool,
    /// The quorum is met (false until the first scan says otherwise).
    pub up: bool,
}

impl TrackedProcess {
    /// keepalived's rule for processes: a positive weight counts while the quorum is met, a
    /// negative one while it is not, and `reverse` negates the weight that counts (so a
    /// reversed positive weight lowers the priority while the processes run).
    pub fn contribution(&self) -> i32 {
        let sign = if self.reverse { -1 } else { 1 };
        match self.weight {
            w if w > 0 && self.up => w * sign,
            w if w < 0 && !self.up => w * sign,
            _ => 0,
        }
    }

    /// Weight 0: FAULT while the quorum is not met, or with `reverse` while it is.
    pub fn faulted(&self) -> bool {
        self.weight == 0 && self.up == self.reverse
    }
}

/// The number in a track file as keepalived reads it: leading white space, an optional sign,
/// then decimal, `0x` hex or `0` octal digits up to the first other character (`strtol` with
/// base 0). No digits reads 0. `None`: outside 32 bits, which keepalived ignores (the previous
/// value stays).
pub fn parse_track_file_value(text: &str) -> Option<i64> {
    let t = text.trim_start();
    let (neg, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (radix, digits) = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        if h.chars().next().is_some_and(|c| c.is_ascii_hexdigit()) {
            (16, h)
        } else {
            (10, "0")
        }
    } else if t.starts_with('0') {
        (8, t)
    } else {
        (10, t)
    };
    let end = digits
        .find(|c: char| !c.is_digit(radix))
        .unwrap_or(digits.len());
    let digits = &digits[..end];
    if digits.is_empty() {
        return Some(0);
    }
    let magnitude = i64::from_str_radix(digits, radix).ok()?;
    let v = if neg { -magnitude } else { magnitude };
    (i64::from(i32::MIN)..=i64::from(i32::MAX) + 1)
        .contains(&v)
        .then_some(v)
}

fn default_down_timer_adverts() -> u32 {
    3
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
    /// The instance's own interface going down means FAULT (not `dont_track_primary`).
    pub track_primary: bool,
    /// A MASTER does not answer a lower-priority advert with an immediate advert
    /// (keepalived: the default under `vrrp_strict`).
    pub lower_prio_no_advert: bool,
    // Fields below were added with the keepalived keyword work; `serde(default)` keeps older
    // conformance cases loadable (their defaults are the behaviour those cases recorded).
    /// `higher_prio_send_advert`: as MASTER, answer a higher-priority advert with one of
    /// ours before going BACKUP.
    #[serde(default)]
    pub higher_prio_send_advert: bool,
    /// Gratuitous ARPs / NAs sent at once when MASTER answers a lower-priority advert
    /// (`garp_lower_prio_repeat`; 0: none).
    #[serde(default)]
    pub garp_lower_prio_repeat: u32,
    /// The second round after that (`garp_lower_prio_delay`; 0: none).
    #[serde(default, with = "duration_us", rename = "garp_lower_prio_delay_us")]
    pub garp_lower_prio_delay: Duration,
    /// `skip_check_adv_addr`: no VIP list comparison for adverts from the master whose
    /// previous advert we already checked.
    #[serde(default)]
    pub skip_check_adv_addr: bool,
    /// `check_unicast_src`: in unicast mode, drop adverts whose source is not a peer.
    #[serde(default)]
    pub check_unicast_src: bool,
    /// `unicast_fault_no_peer`: with no unicast peer, the instance is in FAULT.
    #[serde(default)]
    pub unicast_fault_no_peer: bool,
    /// `down_timer_adverts`: Master_Down_Interval = N × Master_Adver_Interval + Skew_Time.
    #[serde(default = "default_down_timer_adverts")]
    pub down_timer_adverts: u32,
    /// `vrrp_startup_delay`: INIT lasts this long after Startup.
    #[serde(default, with = "duration_us", rename = "startup_delay_us")]
    pub startup_delay: Duration,
    #[serde(default)]
    pub track_files: Vec<TrackedFile>,
    /// `garp_extra_if`: (all interfaces, interval).
    #[serde(default)]
    pub garp_extra_if: Option<(bool, Centis)>,
    #[serde(default)]
    pub track_processes: Vec<TrackedProcess>,
}

impl InstanceParams {
    /// Resolve from the config model. `sync_group`'s track_interface/track_script apply to
    /// every member, as in keepalived.
    pub fn from_config(
        inst: &VrrpInstance,
        global: &GlobalDefs,
        scripts: &[VrrpScript],
        files: &[TrackFile],
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
        // keepalived 2.2.7 (observed with `keepalived -t`): in a sync group a tracked
        // interface's weight is ignored (down means FAULT) and weighted scripts and files are
        // not tracked at all; an address owner does not track weighted scripts and files
        // either. The config front end warns about each (see config::validate).
        let in_group = sync_group.is_some_and(|g| !g.tracking_weight);
        let owner = inst.priority == PRIORITY_OWNER;
        let track_interfaces = inst
            .track_interface
            .iter()
            .chain(group_ifs)
            .map(|t| Tracked {
                name: t.name.clone(),
                weight: if in_group { 0 } else { t.weight.unwrap_or(0) },
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
            let weight = t.weight.unwrap_or(script.weight);
            if weight != 0 && (in_group || owner) {
                continue;
            }
            track_scripts.push(Tracked {
                name: t.name.clone(),
                weight,
                reverse: script.weight_reverse,
                // keepalived: a script starts failed with init_fail, else OK until it reports.
                ok: !script.init_fail,
            });
        }
        let group_files = sync_group.map(|g| g.track_file.as_slice()).unwrap_or(&[]);
        let mut track_files = Vec::new();
        for t in inst.track_file.iter().chain(group_files) {
            let Some(f) = files.iter().find(|f| f.name == t.name) else {
                return Err(SetupError::UnknownTrackFile {
                    instance: name,
                    file: t.name.clone(),
                });
            };
            let weight = t.weight.unwrap_or(f.weight);
            if weight != 0 && (in_group || owner) {
                continue;
            }
            track_files.push(TrackedFile {
                name: t.name.clone(),
                weight,
                reverse: t.reverse.unwrap_or(f.reverse),
                value: 0,
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
            track_primary: !inst.dont_track_primary,
            lower_prio_no_advert: inst.lower_prio_no_advert_or(global),
            higher_prio_send_advert: inst.higher_prio_send_advert_or(global),
            garp_lower_prio_repeat: inst.garp_lower_prio_repeat_or(global),
            garp_lower_prio_delay: inst.garp_lower_prio_delay_or(global),
            skip_check_adv_addr: inst.skip_check_adv_addr_or(global),
            check_unicast_src: inst.check_unicast_src_or(global),
            unicast_fault_no_peer: inst.unicast_fault_no_peer,
            down_timer_adverts: inst.down_timer_adverts_or(global),
            startup_delay: global.vrrp_startup_delay,
            track_files,
            garp_extra_if: inst
                .garp_extra_if_or(global)
                .map(|g| (g.all, Centis::from_duration(g.interval))),
            track_processes: Vec::new(),
            name,
        })
    }
}

impl InstanceParams {
    /// [`InstanceParams::from_config`] plus the `track_process` lists (the instance's own
    /// and its sync group's), with the same rules as scripts and files: in a sync group
    /// (without `sync_group_tracking_weight`) and for an address owner only weight-0
    /// trackers count.
    pub fn from_cfg(
        inst: &VrrpInstance,
        cfg: &crate::config::Config,
        sync_group: Option<&SyncGroup>,
    ) -> Result<InstanceParams, SetupError> {
        let mut p = InstanceParams::from_config(
            inst,
            &cfg.global,
            &cfg.vrrp_scripts,
            &cfg.track_files,
            sync_group,
        )?;
        p.track_processes = tracked_processes(inst, &cfg.track_processes, sync_group, &p.name)?;
        Ok(p)
    }
}

fn tracked_processes(
    inst: &VrrpInstance,
    defs: &[TrackProcess],
    sync_group: Option<&SyncGroup>,
    name: &str,
) -> Result<Vec<TrackedProcess>, SetupError> {
    let in_group = sync_group.is_some_and(|g| !g.tracking_weight);
    let owner = inst.priority == PRIORITY_OWNER;
    let group_refs = sync_group
        .map(|g| g.track_process.as_slice())
        .unwrap_or(&[]);
    let mut out: Vec<TrackedProcess> = Vec::new();
    for t in inst.track_process.iter().chain(group_refs) {
        let Some(def) = defs.iter().find(|d| d.name == t.name) else {
            return Err(SetupError::UnknownTrackProcess {
                instance: name.to_string(),
                process: t.name.clone(),
            });
        };
        let weight = t.weight.unwrap_or(def.weight);
        if (weight != 0 && (in_group || owner)) || out.iter().any(|o| o.name == t.name) {
            continue;
        }
        out.push(TrackedProcess {
            name: t.name.clone(),
            weight,
            reverse: t.reverse.unwrap_or(def.reverse),
            up: false,
        });
    }
    Ok(out)
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

/// A snapshot of an instance for status pages and metrics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceStatus {
    pub name: String,
    pub vrid: u8,
    pub state: VrrpState,
    pub base_priority: u8,
    pub effective_priority: u8,
    /// Master_Adver_Interval in use (ours, or the master's as learnt in v3 BACKUP).
    pub master_adver_int: Centis,
    /// The master as seen from BACKUP.
    pub master: Option<IpAddr>,
    pub master_priority: Option<u8>,
    /// Why the instance is in FAULT, when it is.
    pub fault: Option<String>,
    pub counters: Counters,
}

/// The priority of an address owner.
pub const PRIORITY_OWNER: u8 = 255;

/// One VRRP instance.
///
/// All state changes go through `Instance::change_state`; inputs only update facts
/// (priority, faults, timers learnt from the master) and ask for transitions.
#[derive(Debug, Clone)]
pub struct Instance {
    params: InstanceParams,
    state: VrrpState,
    counters: Counters,
    /// Our source address (tie-break, own-packet detection).
    local_addr: Option<IpAddr>,
    link_up: bool,
    /// The sync group is in FAULT because of another member.
    sync_fault: bool,
    /// Our own fault status as last reported to the sync coordinator.
    reported_own_fault: bool,
    /// Master_Adver_Interval: ours, or (v3, BACKUP) the master's.
    master_adver_int: Centis,
    /// keepalived's preempt_time: when a lower-priority master may be preempted.
    preempt_deadline: Option<Instant>,
    /// AH sequence number, shared by sending and anti-replay as keepalived does.
    ah_seq: super::auth::AhCounter,
    /// Sync group member whose master down timer expired, waiting for the group.
    want_master: bool,
    /// The last VIP list mismatch logged (logged once per distinct list).
    last_vip_mismatch: Option<Vec<IpAddr>>,
    /// Address and priority of the current master as seen from BACKUP.
    master: Option<(IpAddr, u8)>,
    /// `AddVips` was emitted and not yet undone: `DelVips` only then.
    vips_added: bool,
    /// When the current state was entered.
    last_transition: Option<Instant>,
    /// The GarpLowerPrio timer is armed (disarmed on leaving MASTER only then).
    lower_prio_garp_armed: bool,
    /// Source of the last accepted advert (`skip_check_adv_addr`).
    last_advert_src: Option<IpAddr>,
    /// Startup arrived and `startup_delay` is running.
    startup_pending: bool,
}

impl Instance {
    pub fn new(params: InstanceParams) -> Instance {
        let master_adver_int = params.advert_int;
        Instance {
            params,
            state: VrrpState::Init,
            counters: Counters::default(),
            local_addr: None,
            link_up: true,
            sync_fault: false,
            reported_own_fault: false,
            master_adver_int,
            preempt_deadline: None,
            ah_seq: super::auth::AhCounter::default(),
            want_master: false,
            last_vip_mismatch: None,
            master: None,
            vips_added: false,
            last_transition: None,
            lower_prio_garp_armed: false,
            last_advert_src: None,
            startup_pending: false,
        }
    }

    pub fn from_config(
        inst: &VrrpInstance,
        global: &GlobalDefs,
        scripts: &[VrrpScript],
        files: &[TrackFile],
        sync_group: Option<&SyncGroup>,
    ) -> Result<Instance, SetupError> {
        Ok(Instance::new(InstanceParams::from_config(
            inst, global, scripts, files, sync_group,
        )?))
    }

    /// An instance with everything the configuration tracks (including `track_process`).
    pub fn from_cfg(
        inst: &VrrpInstance,
        cfg: &crate::config::Config,
        sync_group: Option<&SyncGroup>,
    ) -> Result<Instance, SetupError> {
        Ok(Instance::new(InstanceParams::from_cfg(
            inst, cfg, sync_group,
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
    /// Master_Adver_Interval currently in use.
    pub fn master_adver_int(&self) -> Centis {
        self.master_adver_int
    }
    pub fn status(&self) -> InstanceStatus {
        InstanceStatus {
            name: self.params.name.clone(),
            vrid: self.params.vrid,
            state: self.state,
            base_priority: self.params.priority,
            effective_priority: self.effective_priority(),
            master_adver_int: self.master_adver_int,
            master: self.master.map(|m| m.0),
            master_priority: self.master.map(|m| m.1),
            fault: if self.state == VrrpState::Fault {
                self.fault_cause()
            } else {
                None
            },
            counters: self.counters.clone(),
        }
    }

    /// Apply a reloaded configuration to a running instance without disturbing its state
    /// (keepalived keeps a MASTER master across a reload). Tracked objects that still exist
    /// keep their current results.
    ///
    /// As MASTER, a changed VIP list yields `DelVips` (meaning the *old* configuration's
    /// addresses, executed before the shell switches configurations), then `AddVips` and
    /// gratuitous ARPs for the new ones; a changed interval re-arms the Adver_Timer; a
    /// changed priority is advertised at once. New faults or cleared faults transition as
    /// usual. Returns `IdentityChanged` (and changes nothing) if the VRID, version or family
    /// differ; a new name is taken as is (a renamed instance keeps its state).
    pub fn reconfigure(
        &mut self,
        mut new: InstanceParams,
        now: Instant,
    ) -> Result<Vec<Action>, SetupError> {
        let old = &self.params;
        // The name is not part of the identity: peers know the router by VRID and family, so
        // a renamed instance (matched by the reload on VRID + family + interface) continues.
        let what = if new.vrid != old.vrid {
            Some("virtual_router_id")
        } else if new.version != old.version {
            Some("version")
        } else if new.af != old.af {
            Some("address family")
        } else {
            None
        };
        if let Some(what) = what {
            return Err(SetupError::IdentityChanged {
                instance: old.name.clone(),
                what,
            });
        }
        let carry = |new: &mut Vec<Tracked>, old: &[Tracked]| {
            for t in new.iter_mut() {
                if let Some(o) = old.iter().find(|o| o.name == t.name) {
                    t.ok = o.ok;
                }
            }
        };
        carry(&mut new.track_interfaces, &old.track_interfaces);
        carry(&mut new.track_scripts, &old.track_scripts);
        for t in new.track_files.iter_mut() {
            if let Some(o) = old.track_files.iter().find(|o| o.name == t.name) {
                t.value = o.value;
            }
        }
        for t in new.track_processes.iter_mut() {
            if let Some(o) = old.track_processes.iter().find(|o| o.name == t.name) {
                t.up = o.up;
            }
        }
        let mut out = Vec::new();
        let old_prio = self.effective_priority();
        let vips_changed = new.vips != old.vips;
        let interval_changed = new.advert_int != old.advert_int;
        let refresh_changed = new.garp_master_refresh != old.garp_master_refresh;
        if self.state == VrrpState::Master && vips_changed && self.vips_added {
            // The old configuration's addresses go before the shell switches.
            self.vips_added = false;
            out.push(Action::DelVips);
        }
        if !new.in_sync_group && self.want_master {
            self.want_master = false;
        }
        self.params = new;
        if self.state != VrrpState::Master
            && (self.master.is_none() || self.params.version == Version::V2)
        {
            // No master heard (or v2, where intervals must match): our own interval rules.
            self.master_adver_int = self.params.advert_int;
        }
        // New or changed tracking may mean FAULT (priority 0, addresses released).
        self.reevaluate(now, &mut out);
        if self.state == VrrpState::Master {
            self.master_adver_int = self.params.advert_int;
            if !self.vips_added {
                self.vips_added = true;
                out.push(Action::AddVips);
                out.push(Action::SendGratuitous {
                    repeat: self.params.garp_master_repeat,
                });
            }
            if interval_changed || vips_changed || self.effective_priority() != old_prio {
                self.send_advert(self.effective_priority(), &mut out);
                out.push(Action::ArmTimer {
                    timer: TimerKind::Advert,
                    after: self.params.advert_int.as_duration(),
                });
            }
            if refresh_changed {
                out.push(match self.params.garp_master_refresh {
                    Some(every) => Action::ArmTimer {
                        timer: TimerKind::GarpRefresh,
                        after: every.as_duration(),
                    },
                    None => Action::DisarmTimer {
                        timer: TimerKind::GarpRefresh,
                    },
                });
            }
        }
        Ok(out)
    }

    /// When the current state was entered (None while in INIT).
    pub fn last_transition(&self) -> Option<Instant> {
        self.last_transition
    }

    /// The master as last seen from BACKUP (address, priority).
    pub fn master(&self) -> Option<(IpAddr, u8)> {
        self.master
    }

    /// Priority after track_interface / track_script weights: clamped to 1..=254; an address
    /// owner (255) stays 255.
    pub fn effective_priority(&self) -> u8 {
        if self.params.priority == PRIORITY_OWNER {
            return PRIORITY_OWNER;
        }
        let adjust: i32 = self
            .params
            .track_interfaces
            .iter()
            .chain(&self.params.track_scripts)
            .map(Tracked::contribution)
            .sum();
        let files: i64 = self
            .params
            .track_files
            .iter()
            .filter_map(TrackedFile::status)
            .sum();
        let processes: i32 = self
            .params
            .track_processes
            .iter()
            .map(TrackedProcess::contribution)
            .sum();
        (i64::from(self.params.priority) + i64::from(adjust) + files + i64::from(processes))
            .clamp(1, 254) as u8
    }

    /// Skew_Time and Master_Down_Interval with the current master interval and priority.
    pub fn timers(&self) -> super::time::Timers {
        super::time::timers_with(
            self.params.version,
            self.master_adver_int,
            self.effective_priority(),
            self.params.down_timer_adverts,
        )
    }

    /// Why we are at fault by our own means (link, weight-0 tracked objects), if we are.
    fn own_fault(&self) -> Option<String> {
        if self.params.track_primary && !self.link_up {
            return Some("interface down".into());
        }
        if self.params.unicast_fault_no_peer && self.params.unicast_peers.is_empty() {
            return Some("unicast_fault_no_peer and no unicast_peer".into());
        }
        if let Some(f) = self
            .params
            .track_files
            .iter()
            .find(|f| f.status().is_none())
        {
            return Some(format!("track_file {} reads {}", f.name, f.value));
        }
        if let Some(p) = self.params.track_processes.iter().find(|p| p.faulted()) {
            return Some(if p.up {
                format!("track_process {} has its quorum (reverse)", p.name)
            } else {
                format!("track_process {} quorum not achieved", p.name)
            });
        }
        let failed = |kind: &str, t: &Tracked| -> Option<String> {
            (t.weight == 0 && !t.ok).then(|| format!("{kind} {} failed", t.name))
        };
        self.params
            .track_interfaces
            .iter()
            .find_map(|t| failed("track_interface", t))
            .or_else(|| {
                self.params
                    .track_scripts
                    .iter()
                    .find_map(|t| failed("track_script", t))
            })
    }

    fn fault_cause(&self) -> Option<String> {
        self.own_fault()
            .or_else(|| self.sync_fault.then(|| "sync group in FAULT".to_string()))
    }

    /// Process one input at time `now`; returns the actions for the shell, in order.
    pub fn step(&mut self, input: Input, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        match input {
            Input::LocalAddress { addr } => self.local_addr = Some(addr),
            Input::Startup => {
                if self.state == VrrpState::Init
                    && !self.startup_pending
                    && !self.params.startup_delay.is_zero()
                {
                    self.startup_pending = true;
                    out.push(Action::ArmTimer {
                        timer: TimerKind::StartupDelay,
                        after: self.params.startup_delay,
                    });
                } else if !self.startup_pending {
                    self.startup(now, &mut out);
                }
            }
            Input::Shutdown => {
                if self.state != VrrpState::Stop {
                    self.change_state(VrrpState::Stop, TransitionReason::Shutdown, now, &mut out);
                }
            }
            Input::AdvertReceived { packet } => match packet {
                Err(e) => self.drop_packet(e.drop_reason(), &mut out),
                Ok(adv) => self.advert_received(adv, now, &mut out),
            },
            Input::TimerExpired { timer } => self.timer_expired(timer, now, &mut out),
            Input::LinkChanged { up } => {
                self.link_up = up;
                self.reevaluate(now, &mut out);
            }
            Input::TrackInterface { name, up } => {
                for t in self.params.track_interfaces.iter_mut() {
                    if t.name == name {
                        t.ok = up;
                    }
                }
                self.reevaluate(now, &mut out);
            }
            Input::TrackScript { name, ok } => {
                for t in self.params.track_scripts.iter_mut() {
                    if t.name == name {
                        t.ok = ok;
                    }
                }
                self.reevaluate(now, &mut out);
            }
            Input::TrackFile { name, value } => {
                let prio = self.effective_priority();
                for t in self.params.track_files.iter_mut() {
                    if t.name == name {
                        t.value = value;
                    }
                }
                self.reevaluate(now, &mut out);
                if self.state == VrrpState::Master && self.effective_priority() != prio {
                    // keepalived advertises a changed priority with the next advert; a
                    // file written by an operator usually means "now".
                    self.send_advert(self.effective_priority(), &mut out);
                }
            }
            Input::TrackProcess { name, up } => {
                let prio = self.effective_priority();
                for t in self.params.track_processes.iter_mut() {
                    if t.name == name {
                        t.up = up;
                    }
                }
                self.reevaluate(now, &mut out);
                if self.state == VrrpState::Master && self.effective_priority() != prio {
                    // As for track_file: a process that died means "now", so the lower
                    // priority is advertised at once rather than with the next advert.
                    self.send_advert(self.effective_priority(), &mut out);
                }
            }
            Input::Sync { command } => self.sync_command(command, now, &mut out),
        }
        out
    }

    fn drop_packet(&mut self, reason: DropReason, out: &mut Vec<Action>) {
        *self.counters.drops.entry(reason).or_default() += 1;
        out.push(Action::CountDrop { reason });
    }

    fn startup(&mut self, now: Instant, out: &mut Vec<Action>) {
        if self.state != VrrpState::Init {
            return;
        }
        self.master_adver_int = self.params.advert_int;
        self.report_own_fault(out);
        if let Some(cause) = self.fault_cause() {
            self.change_state(
                VrrpState::Fault,
                TransitionReason::Fault { cause },
                now,
                out,
            );
        } else if self.params.priority == PRIORITY_OWNER && !self.params.in_sync_group {
            self.change_state(VrrpState::Master, TransitionReason::AddressOwner, now, out);
        } else {
            // `state MASTER` without being the address owner: keepalived 2.2.7 still waits a
            // full Master_Down_Interval in BACKUP (observed: 4 s at advert_int 1), so do we.
            let reason = if self.params.initial_state_master {
                TransitionReason::ConfiguredMaster
            } else {
                TransitionReason::Startup
            };
            self.change_state(VrrpState::Backup, reason, now, out);
            if self.params.priority == PRIORITY_OWNER {
                // An address owner in a sync group asks the group at once.
                self.want_master(out);
            }
        }
    }

    /// Validate an advert against this instance's configuration (RFC 5798 §7.1, keepalived's
    /// `vrrp_check_packet` order). Returns the drop reason, if any.
    fn check_advert(&mut self, adv: &ReceivedAdvert) -> Option<DropReason> {
        let p = &adv.vrrp;
        if p.vrid != self.params.vrid {
            return Some(DropReason::VridMismatch);
        }
        if Some(adv.src) == self.local_addr {
            return Some(DropReason::OwnAdvert);
        }
        if p.version != self.params.version {
            return Some(DropReason::VersionMismatch);
        }
        let unicast = !self.params.unicast_peers.is_empty();
        if let Err(e) = super::auth::verify(&self.params.auth, adv, &mut self.ah_seq, unicast) {
            return Some(e.drop_reason());
        }
        // RFC 3768 §7.1: a VRRPv2 advert interval must match ours.
        if p.version == Version::V2 && p.advert_int != self.params.advert_int {
            return Some(DropReason::AdvertIntervalMismatch);
        }
        if adv.dst.is_multicast() != self.params.unicast_peers.is_empty() {
            return Some(DropReason::UnexpectedDestination);
        }
        if unicast && self.params.check_unicast_src && !self.params.unicast_peers.contains(&adv.src)
        {
            return Some(DropReason::UnknownUnicastSource);
        }
        None
    }

    fn vip_mismatch_log(&mut self, adv: &ReceivedAdvert, out: &mut Vec<Action>) {
        let same_master = self.last_advert_src.replace(adv.src) == Some(adv.src);
        if self.params.skip_check_adv_addr && same_master {
            return;
        }
        let mut theirs = adv.vrrp.addresses.clone();
        theirs.sort();
        let mut ours = self.params.vips.clone();
        ours.sort();
        if theirs == ours {
            self.last_vip_mismatch = None;
            return;
        }
        if self.last_vip_mismatch.as_ref() == Some(&theirs) {
            return;
        }
        out.push(Action::Log {
            level: LogLevel::Warn,
            message: format!(
                "({}) advert from {} lists addresses {:?}, ours are {:?} (accepted; fix the configuration)",
                self.params.name, adv.src, adv.vrrp.addresses, self.params.vips
            ),
        });
        self.last_vip_mismatch = Some(theirs);
    }

    fn advert_received(&mut self, adv: ReceivedAdvert, now: Instant, out: &mut Vec<Action>) {
        if matches!(
            self.state,
            VrrpState::Init | VrrpState::Fault | VrrpState::Stop
        ) {
            return self.drop_packet(DropReason::NotListening, out);
        }
        if let Some(reason) = self.check_advert(&adv) {
            return self.drop_packet(reason, out);
        }
        self.counters.adverts_received += 1;
        let prio = adv.vrrp.priority;
        if prio == 0 {
            self.counters.priority_zero_received += 1;
        }
        self.vip_mismatch_log(&adv, out);
        let ours = self.effective_priority();
        match self.state {
            VrrpState::Backup => {
                if prio == 0 {
                    // RFC 5798 §6.4.2: Master_Down_Timer = Skew_Time.
                    out.push(Action::ArmTimer {
                        timer: TimerKind::MasterDown,
                        after: self.timers().skew,
                    });
                    return;
                }
                let delaying = !self.params.preempt_delay.is_zero()
                    && self.preempt_deadline.is_none_or(|d| d > now);
                if self.params.nopreempt || prio >= ours || delaying {
                    if self.params.version == Version::V3 {
                        self.master_adver_int = adv.vrrp.advert_int;
                    }
                    self.master = Some((adv.src, prio));
                    if !self.params.preempt_delay.is_zero() {
                        if prio >= ours {
                            self.preempt_deadline = None;
                        } else if self.preempt_deadline.is_none() {
                            self.preempt_deadline = Some(now + self.params.preempt_delay);
                        }
                    }
                    out.push(Action::ArmTimer {
                        timer: TimerKind::MasterDown,
                        after: self.timers().master_down,
                    });
                    if self.want_master {
                        self.want_master = false;
                        out.push(Action::SyncWantMaster { want: false });
                    }
                }
                // Otherwise: a lower-priority master we may preempt. The advert is ignored and
                // the Master_Down_Timer runs out.
            }
            VrrpState::Master => {
                if prio == 0 {
                    // RFC 5798 §6.4.3: send an advert and reset the Adver_Timer.
                    self.send_advert(ours, out);
                    out.push(Action::ArmTimer {
                        timer: TimerKind::Advert,
                        after: self.params.advert_int.as_duration(),
                    });
                    return;
                }
                let ours_addr = self.local_addr;
                let higher = prio > ours
                    || (prio == ours && ours_addr.is_some_and(|a| addr_greater(adv.src, a)));
                if higher {
                    if self.params.higher_prio_send_advert {
                        // Our advert makes the other master (with garp_lower_prio_repeat)
                        // re-send its gratuitous ARPs: the last ones seen may be ours.
                        self.send_advert(ours, out);
                    }
                    if self.params.version == Version::V3 {
                        self.master_adver_int = adv.vrrp.advert_int;
                    }
                    self.master = Some((adv.src, prio));
                    self.change_state(
                        VrrpState::Backup,
                        TransitionReason::HigherPriorityAdvert {
                            from: adv.src,
                            priority: prio,
                        },
                        now,
                        out,
                    );
                } else {
                    // A lower-priority master exists: keepalived resynchronises the AH
                    // sequence above the peer's and re-asserts itself at once.
                    if let Some(ah) = &adv.ah {
                        self.ah_seq.move_past(ah.seq);
                    }
                    if !self.params.lower_prio_no_advert {
                        self.send_advert(ours, out);
                    }
                    // keepalived refreshes the peers' ARP caches: the other master may have
                    // taken the VIPs for a while.
                    if self.params.garp_lower_prio_repeat > 0 {
                        out.push(Action::SendGratuitous {
                            repeat: self.params.garp_lower_prio_repeat,
                        });
                        if !self.params.garp_lower_prio_delay.is_zero() {
                            self.lower_prio_garp_armed = true;
                            out.push(Action::ArmTimer {
                                timer: TimerKind::GarpLowerPrio,
                                after: self.params.garp_lower_prio_delay,
                            });
                        }
                    }
                    out.push(Action::NotifyMasterRxLowerPri {
                        from: adv.src,
                        priority: prio,
                        ours,
                    });
                }
            }
            _ => {}
        }
    }

    fn timer_expired(&mut self, timer: TimerKind, now: Instant, out: &mut Vec<Action>) {
        match (timer, self.state) {
            (TimerKind::Advert, VrrpState::Master) => {
                self.send_advert(self.effective_priority(), out);
                out.push(Action::ArmTimer {
                    timer: TimerKind::Advert,
                    after: self.params.advert_int.as_duration(),
                });
            }
            (TimerKind::MasterDown, VrrpState::Backup) => {
                if self.params.in_sync_group {
                    self.want_master(out);
                } else {
                    self.change_state(VrrpState::Master, TransitionReason::MasterDown, now, out);
                }
            }
            (TimerKind::GarpDelay, VrrpState::Master) => out.push(Action::SendGratuitous {
                repeat: self.params.garp_master_repeat,
            }),
            (TimerKind::GarpLowerPrio, VrrpState::Master) => {
                self.lower_prio_garp_armed = false;
                out.push(Action::SendGratuitous {
                    repeat: self.params.garp_lower_prio_repeat,
                })
            }
            (TimerKind::StartupDelay, VrrpState::Init) if self.startup_pending => {
                self.startup_pending = false;
                self.startup(now, out);
            }
            (TimerKind::GarpExtraIf, VrrpState::Master) => {
                if let Some((all, every)) = self.params.garp_extra_if {
                    out.push(Action::SendGratuitousExtra { all });
                    out.push(Action::ArmTimer {
                        timer: TimerKind::GarpExtraIf,
                        after: every.as_duration(),
                    });
                }
            }
            (TimerKind::GarpRefresh, VrrpState::Master) => {
                if let Some(every) = self.params.garp_master_refresh {
                    out.push(Action::SendGratuitous {
                        repeat: self.params.garp_master_refresh_repeat,
                    });
                    out.push(Action::ArmTimer {
                        timer: TimerKind::GarpRefresh,
                        after: every.as_duration(),
                    });
                }
            }
            // A timer that fired after the state it belongs to was left: nothing to do.
            _ => {}
        }
    }

    fn want_master(&mut self, out: &mut Vec<Action>) {
        if !self.want_master {
            self.want_master = true;
            out.push(Action::SyncWantMaster { want: true });
        }
    }

    fn sync_command(&mut self, command: SyncCommand, now: Instant, out: &mut Vec<Action>) {
        match command {
            SyncCommand::Master => {
                if self.state == VrrpState::Backup && self.fault_cause().is_none() {
                    self.change_state(VrrpState::Master, TransitionReason::SyncGroup, now, out);
                }
            }
            SyncCommand::Backup => {
                if self.state == VrrpState::Master {
                    self.change_state(VrrpState::Backup, TransitionReason::SyncGroup, now, out);
                }
            }
            SyncCommand::GroupFault { fault } => {
                self.sync_fault = fault;
                self.reevaluate(now, out);
            }
        }
    }

    fn report_own_fault(&mut self, out: &mut Vec<Action>) {
        let own = self.own_fault().is_some();
        if self.params.in_sync_group && own != self.reported_own_fault {
            self.reported_own_fault = own;
            out.push(Action::SyncMemberFault { fault: own });
        }
    }

    /// After a change of link, tracked object or group fault: enter or leave FAULT.
    fn reevaluate(&mut self, now: Instant, out: &mut Vec<Action>) {
        if matches!(self.state, VrrpState::Init | VrrpState::Stop) {
            // Facts are recorded; Startup evaluates them. The group still needs to know.
            if self.state == VrrpState::Init {
                self.report_own_fault(out);
            }
            return;
        }
        self.report_own_fault(out);
        match (self.fault_cause(), self.state) {
            (Some(cause), VrrpState::Backup | VrrpState::Master) => {
                self.change_state(
                    VrrpState::Fault,
                    TransitionReason::Fault { cause },
                    now,
                    out,
                );
            }
            (None, VrrpState::Fault) => {
                if self.params.priority == PRIORITY_OWNER && !self.params.in_sync_group {
                    self.change_state(VrrpState::Master, TransitionReason::AddressOwner, now, out);
                } else {
                    self.change_state(VrrpState::Backup, TransitionReason::FaultCleared, now, out);
                }
            }
            _ => {}
        }
    }

    fn advert(&self, priority: u8) -> VrrpPacket {
        let v2 = self.params.version == Version::V2;
        VrrpPacket {
            version: self.params.version,
            vrid: self.params.vrid,
            priority,
            auth_type: if v2 { self.params.auth.wire_type() } else { 0 },
            advert_int: self.params.advert_int,
            addresses: self.params.vips.clone(),
            auth_data: match (&self.params.auth, v2) {
                (Auth::Pass(k), true) => *k,
                _ => [0; 8],
            },
        }
    }

    fn send_advert(&mut self, priority: u8, out: &mut Vec<Action>) {
        let ah_seq = if matches!(self.params.auth, Auth::Ah(_)) {
            Some(self.ah_seq.next_send())
        } else {
            None
        };
        self.counters.adverts_sent += 1;
        if priority == 0 {
            self.counters.priority_zero_sent += 1;
        }
        out.push(Action::SendAdvert {
            packet: self.advert(priority),
            ah_seq,
        });
    }

    /// The only place `state` changes. Exit and entry actions are chosen on (from, to).
    pub(crate) fn change_state(
        &mut self,
        to: VrrpState,
        reason: TransitionReason,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let from = self.state;
        if from == to {
            return;
        }
        self.last_transition = Some(now);
        use VrrpState::*;
        // Leaving MASTER: priority 0 when going to FAULT or stopping (RFC 5798 §6.4.3), then
        // remove exactly what was added.
        if from == Master {
            if matches!(to, Fault | Stop) {
                self.send_advert(0, out);
                // keepalived 2.2.7 sends it twice, back to back, when the instance's own
                // tracking (track_interface, track_script, track_file) takes it to FAULT
                // (checked on the wire); once at stop and when only its sync group is in
                // FAULT; none when its own interface is down.
                if to == Fault && self.link_up && self.own_fault().is_some() {
                    self.send_advert(0, out);
                }
            }
            if self.vips_added {
                self.vips_added = false;
                out.push(Action::DelVips);
            }
            for timer in [
                TimerKind::Advert,
                TimerKind::GarpDelay,
                TimerKind::GarpRefresh,
            ] {
                out.push(Action::DisarmTimer { timer });
            }
            if std::mem::take(&mut self.lower_prio_garp_armed) {
                out.push(Action::DisarmTimer {
                    timer: TimerKind::GarpLowerPrio,
                });
            }
            if self.params.garp_extra_if.is_some() {
                out.push(Action::DisarmTimer {
                    timer: TimerKind::GarpExtraIf,
                });
            }
            self.counters.released_master += 1;
        }
        if from == Backup {
            out.push(Action::DisarmTimer {
                timer: TimerKind::MasterDown,
            });
            if self.want_master {
                self.want_master = false;
                if to != Master {
                    out.push(Action::SyncWantMaster { want: false });
                }
            }
        }
        self.state = to;
        match to {
            Master => {
                self.master_adver_int = self.params.advert_int;
                self.master = None;
                self.preempt_deadline = None;
                self.counters.became_master += 1;
                // Advert first, then addresses, then gratuitous ARPs / NAs.
                self.send_advert(self.effective_priority(), out);
                self.vips_added = true;
                out.push(Action::AddVips);
                out.push(Action::SendGratuitous {
                    repeat: self.params.garp_master_repeat,
                });
                if !self.params.garp_master_delay.is_zero() {
                    out.push(Action::ArmTimer {
                        timer: TimerKind::GarpDelay,
                        after: self.params.garp_master_delay,
                    });
                }
                if let Some(every) = self.params.garp_master_refresh {
                    out.push(Action::ArmTimer {
                        timer: TimerKind::GarpRefresh,
                        after: every.as_duration(),
                    });
                }
                if let Some((_, every)) = self.params.garp_extra_if {
                    out.push(Action::ArmTimer {
                        timer: TimerKind::GarpExtraIf,
                        after: every.as_duration(),
                    });
                }
                out.push(Action::ArmTimer {
                    timer: TimerKind::Advert,
                    after: self.params.advert_int.as_duration(),
                });
            }
            Backup => {
                if from != Master {
                    // From INIT or FAULT we have not heard any master yet.
                    self.master_adver_int = self.params.advert_int;
                    self.master = None;
                }
                self.preempt_deadline = None;
                out.push(Action::ArmTimer {
                    timer: TimerKind::MasterDown,
                    after: self.timers().master_down,
                });
            }
            Fault | Stop | Init => {
                self.master = None;
                self.master_adver_int = self.params.advert_int;
            }
        }
        out.push(Action::Notify(Transition {
            instance: self.params.name.clone(),
            from,
            to,
            priority: self.effective_priority(),
            reason,
        }));
    }
}

/// The equal-priority tie-break: the primary address compared as an unsigned integer
/// (RFC 5798 §6.4.3). Addresses of different families never win.
fn addr_greater(theirs: IpAddr, ours: IpAddr) -> bool {
    match (theirs, ours) {
        (IpAddr::V4(t), IpAddr::V4(o)) => u32::from(t) > u32::from(o),
        (IpAddr::V6(t), IpAddr::V6(o)) => u128::from(t) > u128::from(o),
        _ => false,
    }
}

impl Tracked {
    /// This object's contribution to priority (keepalived's rule): a positive weight is
    /// added while the object is OK, a negative one while it has failed; `reverse` inverts
    /// which of the two counts. Weight 0 contributes nothing (it means FAULT instead).
    pub fn contribution(&self) -> i32 {
        let good = self.ok != self.reverse;
        match self.weight {
            w if w > 0 && good => w,
            w if w < 0 && !good => w,
            _ => 0,
        }
    }
}
