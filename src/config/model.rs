//! The typed configuration model: what the engines consume.
//!
//! Everything here is plain data, resolved (includes, `$DEFINITIONS`, `@conditionals`,
//! `~SEQ`/`~LST` expanded) and validated. Every block-level item carries the [`Span`] of the
//! keyword that opened it, so an engine can point a user back at the file and line that
//! configured the thing it is complaining about.
//!
//! Defaults follow keepalived 2.2.x; where a field is `Option`, `None` means "not configured,
//! inherit from the enclosing block or from `global_defs`" and the accessor methods resolve it.

use serde::Serialize;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

pub use super::diag::Span;

/// The whole resolved configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Config {
    pub global: GlobalDefs,
    pub vrrp_scripts: Vec<VrrpScript>,
    pub sync_groups: Vec<SyncGroup>,
    pub instances: Vec<VrrpInstance>,
    pub static_ipaddress: Vec<VirtualIp>,
    pub static_routes: Vec<VirtualRoute>,
    pub static_rules: Vec<VirtualRule>,
    /// `track_file NAME { ... }` (and its deprecated synonym `vrrp_track_file`).
    pub track_files: Vec<TrackFile>,
    /// `vrrp_track_process NAME { ... }`.
    pub track_processes: Vec<TrackProcess>,
    /// `garp_group { ... }` blocks: GARP / NA spacing per interface (group).
    pub garp_groups: Vec<GarpGroup>,
    pub virtual_server_groups: Vec<VirtualServerGroup>,
    pub virtual_servers: Vec<VirtualServer>,
}

impl Config {
    pub fn instance(&self, name: &str) -> Option<&VrrpInstance> {
        self.instances.iter().find(|i| i.name == name)
    }
    /// (`garp_interval`, `gna_interval`) on `ifname`: its `garp_group`'s, else the global
    /// `vrrp_garp_interval` / `vrrp_gna_interval`.
    pub fn garp_intervals(&self, ifname: &str) -> (Duration, Duration) {
        let g = &self.global;
        match self
            .garp_groups
            .iter()
            .find(|x| x.interfaces.iter().any(|i| i == ifname))
        {
            Some(x) => (
                x.garp_interval.unwrap_or(g.vrrp_garp_interval),
                x.gna_interval.unwrap_or(g.vrrp_gna_interval),
            ),
            None => (g.vrrp_garp_interval, g.vrrp_gna_interval),
        }
    }
    pub fn track_file(&self, name: &str) -> Option<&TrackFile> {
        self.track_files.iter().find(|f| f.name == name)
    }
    pub fn track_process(&self, name: &str) -> Option<&TrackProcess> {
        self.track_processes.iter().find(|p| p.name == name)
    }
    pub fn script(&self, name: &str) -> Option<&VrrpScript> {
        self.vrrp_scripts.iter().find(|s| s.name == name)
    }
    pub fn virtual_server_group(&self, name: &str) -> Option<&VirtualServerGroup> {
        self.virtual_server_groups.iter().find(|g| g.name == name)
    }
    /// The sync group an instance belongs to, if any.
    pub fn sync_group_of(&self, instance: &str) -> Option<&SyncGroup> {
        self.sync_groups
            .iter()
            .find(|g| g.members.iter().any(|m| m == instance))
    }
}

/// A command line to run (notify scripts, vrrp_script, MISC_CHECK, quorum_up/down).
/// keepalived accepts either one quoted string or several bare tokens; `argv` is the split form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Command {
    /// The command as written (tokens joined by one space).
    pub raw: String,
    /// The command split into program and arguments, shell-like (quotes honoured).
    pub argv: Vec<String>,
    pub span: Span,
}

/// `user USERNAME [GROUPNAME]` (script_user, vrrp_script user, MISC_CHECK user).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunAs {
    pub user: String,
    pub group: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// global_defs
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GlobalDefs {
    pub notification_email: Vec<String>,
    pub notification_email_from: Option<String>,
    pub smtp_server: Option<SmtpServer>,
    pub smtp_helo_name: Option<String>,
    /// Default 30 s.
    pub smtp_connect_timeout: Duration,
    /// `smtp_alert` (None: not set; keepalived sends alerts only where smtp_alert is on somewhere).
    pub smtp_alert: Option<bool>,
    pub smtp_alert_vrrp: Option<bool>,
    pub smtp_alert_checker: Option<bool>,
    /// `router_id`; None means "the host name", resolved at run time.
    pub router_id: Option<String>,
    pub enable_script_security: bool,
    pub script_user: Option<RunAs>,
    /// Default 5 s.
    pub vrrp_garp_master_delay: Duration,
    /// Default 5.
    pub vrrp_garp_master_repeat: u32,
    /// None: no periodic refresh.
    pub vrrp_garp_master_refresh: Option<Duration>,
    /// Default 1.
    pub vrrp_garp_master_refresh_repeat: u32,
    /// Default 2.
    pub vrrp_version: VrrpVersion,
    /// Default 224.0.0.18.
    pub vrrp_mcast_group4: Ipv4Addr,
    /// Default ff02::12.
    pub vrrp_mcast_group6: Ipv6Addr,
    pub vrrp_strict: bool,
    pub lvs_sync_daemon: Option<LvsSyncDaemon>,
    pub lvs_flush: bool,
    pub lvs_timeouts: Option<LvsTimeouts>,
    pub notify_fifo: Option<NotifyFifo>,
    pub vrrp_notify_fifo: Option<NotifyFifo>,
    pub lvs_notify_fifo: Option<NotifyFifo>,
    /// `vrrp_garp_lower_prio_delay`; None: `vrrp_garp_master_delay`.
    pub vrrp_garp_lower_prio_delay: Option<Duration>,
    /// `vrrp_garp_lower_prio_repeat`; None: `vrrp_garp_master_repeat`.
    pub vrrp_garp_lower_prio_repeat: Option<u32>,
    /// `vrrp_garp_interval`: delay between two gratuitous ARPs on one interface (default 0).
    pub vrrp_garp_interval: Duration,
    /// `vrrp_gna_interval`: delay between two unsolicited NAs on one interface (default 0).
    pub vrrp_gna_interval: Duration,
    /// `vrrp_min_garp` was given (its effect is already folded into the garp fields).
    pub vrrp_min_garp: bool,
    /// `vrrp_startup_delay`: instances leave INIT this long after the engine starts.
    pub vrrp_startup_delay: Duration,
    pub vrrp_check_unicast_src: bool,
    pub vrrp_skip_check_adv_addr: bool,
    /// None: on only under `vrrp_strict`.
    pub vrrp_lower_prio_no_advert: Option<bool>,
    pub vrrp_higher_prio_send_advert: bool,
    /// `vrrp_down_timer_adverts` (1..=100, default 3).
    pub vrrp_down_timer_adverts: u32,
    /// `vrrp_garp_extra_if [all] SECS`.
    pub vrrp_garp_extra_if: Option<GarpExtraIf>,
    /// `log_unknown_vrids`: log adverts for VRIDs no instance on that interface has.
    pub log_unknown_vrids: bool,
    /// `vrrp_priority`, `vrrp_no_swap`, `vrrp_rt_priority`, `vrrp_rlimit_rttime`,
    /// `vrrp_cpu_affinity`.
    pub vrrp_process: ProcessTuning,
    /// The same for the checker (`checker_*`).
    pub checker_process: ProcessTuning,
    /// `startup_script SCRIPT [username [groupname]]`: run once before the engines start.
    pub startup_script: Option<GlobalScript>,
    /// `startup_script_timeout` (1-1000 s, default 10 s).
    pub startup_script_timeout: Duration,
    /// `shutdown_script SCRIPT [username [groupname]]`: run once after the engines stopped.
    pub shutdown_script: Option<GlobalScript>,
    /// `shutdown_script_timeout` (1-1000 s, default 10 s).
    pub shutdown_script_timeout: Duration,
    /// `no_email_faults`: no email for an instance or sync group entering FAULT.
    pub no_email_faults: bool,
    /// `fifo_write_vrrp_states_on_reload`: after a reload, every instance's and sync group's
    /// state is written to the notify fifos.
    pub fifo_write_vrrp_states_on_reload: bool,
    /// `vrrp_notify_priority_changes`: default for instances' `notify_priority_changes`.
    pub vrrp_notify_priority_changes: bool,
    /// `checker_log_all_failures`: log every failed check attempt while a checker is up.
    pub checker_log_all_failures: bool,
    /// `rs_init_notifies`: notify (script, fifo, alert) for real servers that start up alive.
    pub rs_init_notifies: bool,
    /// `no_checker_emails`: mail only real servers added to or removed from the pool.
    pub no_checker_emails: bool,
    /// `lvs_flush_on_stop [VS]`: how the IPVS table is emptied at shutdown (None: each
    /// managed service is deleted, as without the keyword).
    pub lvs_flush_on_stop: Option<LvsFlushOnStop>,
    /// The top-level `SSL { password ca certificate key }` block (SSL_GET's TLS context).
    pub ssl: Option<SslContext>,
    pub span: Option<Span>,
}

/// A global script and the user it runs as (`startup_script`, `shutdown_script`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GlobalScript {
    pub command: Command,
    /// None: root.
    pub user: Option<RunAs>,
}

/// `lvs_flush_on_stop` (flush the whole table) or `lvs_flush_on_stop VS` (delete each managed
/// virtual server, letting the kernel drop its real servers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum LvsFlushOnStop {
    All,
    VirtualServers,
}

/// The top-level `SSL` block. Files are checked for readability when the configuration is
/// loaded; their contents are read when the checkers start.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize)]
pub struct SslContext {
    /// Password of an encrypted `key` (rampart reads unencrypted PKCS#8/PKCS#1/SEC1 keys only;
    /// a password is reported as unsupported).
    pub password: Option<String>,
    /// CA bundle (PEM): when set, SSL_GET verifies server certificates against it.
    pub ca: Option<std::path::PathBuf>,
    /// Client certificate chain (PEM) presented to real servers.
    pub certificate: Option<std::path::PathBuf>,
    /// The client certificate's private key (PEM).
    pub key: Option<std::path::PathBuf>,
}

/// Scheduling settings keepalived applies to one of its child processes. rampart runs the
/// engines as threads of one process; see `docs/migration.md` for what is applied.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProcessTuning {
    /// Nice value, -20..=19.
    pub priority: Option<i32>,
    pub no_swap: bool,
    /// SCHED_RR priority, 1..=99.
    pub rt_priority: Option<u32>,
    /// RLIMIT_RTTIME in microseconds.
    pub rlimit_rttime: Option<u64>,
    pub cpu_affinity: Vec<u32>,
}

/// `garp_group { garp_interval; gna_interval; interface IF | interfaces { ... } }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GarpGroup {
    /// None: the global `vrrp_garp_interval`.
    pub garp_interval: Option<Duration>,
    pub gna_interval: Option<Duration>,
    /// `interface IF`, or the list of `interfaces { }` (keepalived aggregates the delay over
    /// the list; rampart spaces the messages on each interface of it).
    pub interfaces: Vec<String>,
    pub span: Span,
}

/// `garp_extra_if [all] SECS`: periodic gratuitous ARPs / NAs on VIP interfaces other than
/// the instance's own (all of them with `all`, else only VMAC interfaces).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct GarpExtraIf {
    pub all: bool,
    pub interval: Duration,
}

/// `track_file NAME { file PATH; weight N [reverse]; init_file [VALUE] [overwrite] }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrackFile {
    pub name: String,
    pub file: String,
    /// Default weight for trackers that give none (default 1).
    pub weight: i32,
    pub reverse: bool,
    /// `init_file [VALUE] [overwrite]`: (value, overwrite).
    pub init_file: Option<(i64, bool)>,
    pub span: Span,
}

/// `vrrp_track_process NAME { process NAME [ARGS...]; param_match [initial|partial];
/// weight N [reverse]; quorum N; quorum_max N; fork_delay S; terminate_delay S; delay S;
/// full_command }` (keepalived.conf(5) "VRRP track processes").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrackProcess {
    pub name: String,
    /// The process name (comm, as in /proc/PID/stat) or, with `full_command`, the first
    /// word of its command line.
    pub process: String,
    /// The arguments after the process name (matched per `param_match`).
    pub params: Vec<String>,
    /// None: the arguments are not looked at.
    pub param_match: Option<ParamMatch>,
    /// Match the command line instead of the process name (implied by arguments and by
    /// `param_match`).
    pub full_command: bool,
    /// Default weight for trackers that give none (keepalived 2.2.7: 0, i.e. FAULT while
    /// the quorum is not met).
    pub weight: i32,
    pub reverse: bool,
    /// Minimum number of matching processes for success (default 1; 0 with `quorum_max 0`).
    pub quorum: u32,
    /// Maximum number of matching processes for success (default unlimited).
    pub quorum_max: u32,
    /// Wait this long after a fork restored (or broke) the quorum before saying so.
    pub fork_delay: Duration,
    /// Wait this long after an exit lost (or restored) the quorum before saying so.
    pub terminate_delay: Duration,
    pub span: Span,
}

/// How a process's arguments must match the configured ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamMatch {
    /// Exactly the configured arguments (none, if none are configured).
    Exact,
    /// The first N arguments equal the N configured ones; more may follow.
    Partial,
    /// As `Partial`, but the last configured argument need only be a prefix.
    Initial,
}

/// An entry of `track_process { NAME [weight N [reverse|noreverse]] }` in an instance or
/// sync group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrackProcessRef {
    pub name: String,
    /// None: the vrrp_track_process's own weight.
    pub weight: Option<i32>,
    /// None: the vrrp_track_process's own `reverse`.
    pub reverse: Option<bool>,
    pub span: Span,
}

/// An entry of `track_file { NAME [weight N [reverse|noreverse]] }` in an instance or group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrackFileRef {
    pub name: String,
    /// None: the track_file's own weight.
    pub weight: Option<i32>,
    /// None: the track_file's own `reverse`.
    pub reverse: Option<bool>,
    pub span: Span,
}

impl Default for GlobalDefs {
    fn default() -> Self {
        GlobalDefs {
            notification_email: Vec::new(),
            notification_email_from: None,
            smtp_server: None,
            smtp_helo_name: None,
            smtp_connect_timeout: Duration::from_secs(30),
            smtp_alert: None,
            smtp_alert_vrrp: None,
            smtp_alert_checker: None,
            router_id: None,
            enable_script_security: false,
            script_user: None,
            vrrp_garp_master_delay: Duration::from_secs(5),
            vrrp_garp_master_repeat: 5,
            vrrp_garp_master_refresh: None,
            vrrp_garp_master_refresh_repeat: 1,
            vrrp_version: VrrpVersion::V2,
            vrrp_mcast_group4: Ipv4Addr::new(224, 0, 0, 18),
            vrrp_mcast_group6: Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12),
            vrrp_strict: false,
            lvs_sync_daemon: None,
            lvs_flush: false,
            lvs_timeouts: None,
            notify_fifo: None,
            vrrp_notify_fifo: None,
            lvs_notify_fifo: None,
            vrrp_garp_lower_prio_delay: None,
            vrrp_garp_lower_prio_repeat: None,
            vrrp_garp_interval: Duration::ZERO,
            vrrp_gna_interval: Duration::ZERO,
            vrrp_min_garp: false,
            vrrp_startup_delay: Duration::ZERO,
            vrrp_check_unicast_src: false,
            vrrp_skip_check_adv_addr: false,
            vrrp_lower_prio_no_advert: None,
            vrrp_higher_prio_send_advert: false,
            vrrp_down_timer_adverts: 3,
            vrrp_garp_extra_if: None,
            log_unknown_vrids: false,
            vrrp_process: ProcessTuning::default(),
            checker_process: ProcessTuning::default(),
            startup_script: None,
            startup_script_timeout: Duration::from_secs(10),
            shutdown_script: None,
            shutdown_script_timeout: Duration::from_secs(10),
            no_email_faults: false,
            fifo_write_vrrp_states_on_reload: false,
            vrrp_notify_priority_changes: false,
            checker_log_all_failures: false,
            rs_init_notifies: false,
            no_checker_emails: false,
            lvs_flush_on_stop: None,
            ssl: None,
            span: None,
        }
    }
}

/// `smtp_server ADDR|NAME [PORT]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SmtpServer {
    /// An IP address literal or a host name.
    pub host: String,
    /// Default 25.
    pub port: u16,
}

/// `lvs_sync_daemon INTERFACE VRRP_INSTANCE [id ID] [maxlen LEN] [port PORT] [ttl TTL] [group IP]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LvsSyncDaemon {
    pub interface: String,
    /// The VRRP instance whose state decides master/backup role of the sync daemon.
    pub instance: String,
    /// Sync id; default: the instance's virtual_router_id.
    pub id: Option<u8>,
    pub maxlen: Option<u16>,
    pub port: Option<u16>,
    pub ttl: Option<u8>,
    pub group: Option<IpAddr>,
}

/// `lvs_timeouts [tcp N] [tcpfin N] [udp N]` (seconds).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LvsTimeouts {
    pub tcp: Option<u32>,
    pub tcpfin: Option<u32>,
    pub udp: Option<u32>,
}

/// `notify_fifo PATH [SCRIPT]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotifyFifo {
    pub path: String,
    pub script: Option<Command>,
    /// `notify_fifo PATH [username [groupname]]`: owner of the fifo when rampart creates it.
    pub owner: Option<RunAs>,
    /// `notify_fifo_script SCRIPT [username [groupname]]`: the user the script runs as
    /// (default: script_user, else root).
    pub script_user: Option<RunAs>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum VrrpVersion {
    V2,
    V3,
}

impl VrrpVersion {
    pub fn number(self) -> u8 {
        match self {
            VrrpVersion::V2 => 2,
            VrrpVersion::V3 => 3,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// VRRP
// ---------------------------------------------------------------------------------------------

/// `vrrp_script NAME { ... }`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VrrpScript {
    pub name: String,
    pub script: Command,
    /// Default 1 s.
    pub interval: Duration,
    /// Default: the interval.
    pub timeout: Option<Duration>,
    /// Default 0 (a failure means FAULT for instances tracking it without their own weight).
    pub weight: i32,
    /// `weight N reverse`.
    pub weight_reverse: bool,
    /// Default 1.
    pub rise: u32,
    /// Default 1.
    pub fall: u32,
    pub user: Option<RunAs>,
    pub init_fail: bool,
    pub span: Span,
}

/// `vrrp_sync_group NAME { group { ... } ... }`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SyncGroup {
    pub name: String,
    pub members: Vec<String>,
    pub notify: NotifyScripts,
    pub smtp_alert: Option<bool>,
    pub track_interface: Vec<TrackInterface>,
    pub track_script: Vec<TrackScript>,
    pub track_file: Vec<TrackFileRef>,
    pub track_process: Vec<TrackProcessRef>,
    /// `notify_priority_changes`: default for its members.
    pub notify_priority_changes: Option<bool>,
    /// `sync_group_tracking_weight` (or the deprecated `global_tracking`): members keep their
    /// tracking weights (keepalived ignores them in sync groups otherwise).
    pub tracking_weight: bool,
    pub span: Span,
}

/// notify_master/_backup/_fault/_stop/notify (and notify_master_rx_lower_pri is unsupported).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NotifyScripts {
    pub master: Option<Command>,
    pub backup: Option<Command>,
    pub fault: Option<Command>,
    pub stop: Option<Command>,
    /// `notify`: called with TYPE NAME STATE PRIORITY on every transition.
    pub notify: Option<Command>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum InitialState {
    Master,
    Backup,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum AuthType {
    /// Simple text password (8 bytes on the wire, zero padded).
    Pass,
    /// IPSEC AH, HMAC-MD5-96, keepalived's flavour.
    Ah,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Authentication {
    pub auth_type: AuthType,
    /// As written; keepalived truncates to 8 bytes (and so does the wire format).
    pub auth_pass: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VrrpInstance {
    pub name: String,
    /// Default BACKUP.
    pub initial_state: InitialState,
    pub interface: String,
    pub virtual_router_id: u8,
    /// Default 100.
    pub priority: u8,
    /// Default 1 s. v3 allows centisecond resolution.
    pub advert_int: Duration,
    /// None: `global_defs vrrp_version`.
    pub version: Option<VrrpVersion>,
    pub nopreempt: bool,
    /// Default 0.
    pub preempt_delay: Duration,
    pub authentication: Option<Authentication>,
    pub virtual_ipaddress: Vec<VirtualIp>,
    pub virtual_ipaddress_excluded: Vec<VirtualIp>,
    pub virtual_routes: Vec<VirtualRoute>,
    pub virtual_rules: Vec<VirtualRule>,
    pub track_interface: Vec<TrackInterface>,
    pub track_script: Vec<TrackScript>,
    pub unicast_src_ip: Option<IpAddr>,
    pub unicast_peer: Vec<UnicastPeer>,
    pub mcast_src_ip: Option<IpAddr>,
    pub garp_master_delay: Option<Duration>,
    pub garp_master_repeat: Option<u32>,
    pub garp_master_refresh: Option<Duration>,
    pub garp_master_refresh_repeat: Option<u32>,
    pub notify: NotifyScripts,
    pub smtp_alert: Option<bool>,
    /// `use_vmac [NAME]`: Some(None) means the default name `vrrp.VRID`.
    pub use_vmac: Option<Option<String>>,
    pub vmac_xmit_base: bool,
    /// `accept` / `no_accept`; None: keepalived's default (accept unless vrrp_strict).
    pub accept: Option<bool>,
    pub dont_track_primary: bool,
    pub track_file: Vec<TrackFileRef>,
    pub track_process: Vec<TrackProcessRef>,
    /// None: `vrrp_skip_check_adv_addr`.
    pub skip_check_adv_addr: Option<bool>,
    /// None: `vrrp_garp_lower_prio_delay`.
    pub garp_lower_prio_delay: Option<Duration>,
    /// None: `vrrp_garp_lower_prio_repeat`.
    pub garp_lower_prio_repeat: Option<u32>,
    /// None: `vrrp_garp_extra_if`; an interval of 0 disables it for this instance.
    pub garp_extra_if: Option<GarpExtraIf>,
    /// TTL / hop limit of unicast adverts (default 255).
    pub unicast_ttl: Option<u8>,
    /// Drop unicast adverts whose source is not a `unicast_peer` (or `vrrp_check_unicast_src`).
    pub check_unicast_src: bool,
    /// None: `vrrp_lower_prio_no_advert` (or `vrrp_strict`).
    pub lower_prio_no_advert: Option<bool>,
    /// None: `vrrp_higher_prio_send_advert`.
    pub higher_prio_send_advert: Option<bool>,
    /// Run when MASTER receives an advert with a lower priority.
    pub notify_master_rx_lower_pri: Option<Command>,
    /// Master_Down_Interval = N × Master_Adver_Interval + Skew_Time; None: the global (3).
    pub down_timer_adverts: Option<u32>,
    /// With no unicast peers, stay in FAULT instead of falling back to multicast.
    pub unicast_fault_no_peer: bool,
    /// Set net.ipv4.conf.IF.promote_secondaries on the instance's interface.
    pub promote_secondaries: bool,
    /// Multicast destination instead of `vrrp_mcast_group4/6`.
    pub mcast_dst_ip: Option<IpAddr>,
    /// `strict_mode [BOOL]`; None: `vrrp_strict`.
    pub strict_mode: Option<bool>,
    /// `notify_priority_changes`: fifo lines `MASTER_PRIORITY`/`BACKUP_PRIORITY` when the
    /// effective priority changes (None: the sync group's, else the global default).
    pub notify_priority_changes: Option<bool>,
    pub span: Span,
}

impl VrrpInstance {
    /// An instance with keepalived's defaults for everything but its identity: BACKUP,
    /// priority 100, advert_int 1 s, nothing tracked, no VIPs. The parser starts from this.
    pub fn new(
        name: impl Into<String>,
        interface: impl Into<String>,
        vrid: u8,
        span: Span,
    ) -> Self {
        VrrpInstance {
            name: name.into(),
            initial_state: InitialState::Backup,
            interface: interface.into(),
            virtual_router_id: vrid,
            priority: 100,
            advert_int: Duration::from_secs(1),
            version: None,
            nopreempt: false,
            preempt_delay: Duration::ZERO,
            authentication: None,
            virtual_ipaddress: Vec::new(),
            virtual_ipaddress_excluded: Vec::new(),
            virtual_routes: Vec::new(),
            virtual_rules: Vec::new(),
            track_interface: Vec::new(),
            track_script: Vec::new(),
            unicast_src_ip: None,
            unicast_peer: Vec::new(),
            mcast_src_ip: None,
            garp_master_delay: None,
            garp_master_repeat: None,
            garp_master_refresh: None,
            garp_master_refresh_repeat: None,
            notify: NotifyScripts::default(),
            smtp_alert: None,
            use_vmac: None,
            vmac_xmit_base: false,
            accept: None,
            dont_track_primary: false,
            track_file: Vec::new(),
            track_process: Vec::new(),
            skip_check_adv_addr: None,
            garp_lower_prio_delay: None,
            garp_lower_prio_repeat: None,
            garp_extra_if: None,
            unicast_ttl: None,
            check_unicast_src: false,
            lower_prio_no_advert: None,
            higher_prio_send_advert: None,
            notify_master_rx_lower_pri: None,
            down_timer_adverts: None,
            unicast_fault_no_peer: false,
            promote_secondaries: false,
            mcast_dst_ip: None,
            strict_mode: None,
            notify_priority_changes: None,
            span,
        }
    }
    /// The address family of the instance, from its VIPs (validation guarantees they agree).
    pub fn family(&self) -> Family {
        match self.virtual_ipaddress.first() {
            Some(v) if v.addr.is_ipv6() => Family::V6,
            _ => Family::V4,
        }
    }
    pub fn version_or(&self, global: &GlobalDefs) -> VrrpVersion {
        // VRRP over IPv6 exists only as version 3.
        if self.family() == Family::V6 {
            return VrrpVersion::V3;
        }
        self.version.unwrap_or(global.vrrp_version)
    }
    pub fn garp_master_delay_or(&self, global: &GlobalDefs) -> Duration {
        self.garp_master_delay
            .unwrap_or(global.vrrp_garp_master_delay)
    }
    pub fn garp_master_repeat_or(&self, global: &GlobalDefs) -> u32 {
        self.garp_master_repeat
            .unwrap_or(global.vrrp_garp_master_repeat)
    }
    pub fn garp_master_refresh_or(&self, global: &GlobalDefs) -> Option<Duration> {
        self.garp_master_refresh.or(global.vrrp_garp_master_refresh)
    }
    pub fn garp_master_refresh_repeat_or(&self, global: &GlobalDefs) -> u32 {
        self.garp_master_refresh_repeat
            .unwrap_or(global.vrrp_garp_master_refresh_repeat)
    }
    /// keepalived: the instance's value, else the global lower-prio value, else the *global*
    /// garp_master value (an instance's own garp_master_delay does not carry over).
    /// In strict mode both are 0, whatever is written (keepalived 2.2.7's `-d` dump shows
    /// "Gratuitous ARP lower priority delay = 0 / repeat = 0" for a strict instance).
    pub fn garp_lower_prio_delay_or(&self, global: &GlobalDefs) -> Duration {
        if self.strict_or(global) {
            return Duration::ZERO;
        }
        self.garp_lower_prio_delay
            .or(global.vrrp_garp_lower_prio_delay)
            .unwrap_or(global.vrrp_garp_master_delay)
    }
    pub fn garp_lower_prio_repeat_or(&self, global: &GlobalDefs) -> u32 {
        if self.strict_or(global) {
            return 0;
        }
        self.garp_lower_prio_repeat
            .or(global.vrrp_garp_lower_prio_repeat)
            .unwrap_or(global.vrrp_garp_master_repeat)
    }
    /// `strict_mode`, else `vrrp_strict`.
    pub fn strict_or(&self, global: &GlobalDefs) -> bool {
        self.strict_mode.unwrap_or(global.vrrp_strict)
    }
    /// Strict mode cannot clear it (keepalived.conf(5)).
    pub fn lower_prio_no_advert_or(&self, global: &GlobalDefs) -> bool {
        self.strict_or(global)
            || self
                .lower_prio_no_advert
                .or(global.vrrp_lower_prio_no_advert)
                .unwrap_or(false)
    }
    /// Strict mode cannot set it (keepalived.conf(5)).
    pub fn higher_prio_send_advert_or(&self, global: &GlobalDefs) -> bool {
        !self.strict_or(global)
            && self
                .higher_prio_send_advert
                .unwrap_or(global.vrrp_higher_prio_send_advert)
    }
    pub fn skip_check_adv_addr_or(&self, global: &GlobalDefs) -> bool {
        self.skip_check_adv_addr
            .unwrap_or(global.vrrp_skip_check_adv_addr)
    }
    pub fn down_timer_adverts_or(&self, global: &GlobalDefs) -> u32 {
        self.down_timer_adverts
            .unwrap_or(global.vrrp_down_timer_adverts)
    }
    pub fn check_unicast_src_or(&self, global: &GlobalDefs) -> bool {
        self.check_unicast_src || global.vrrp_check_unicast_src
    }
    pub fn garp_extra_if_or(&self, global: &GlobalDefs) -> Option<GarpExtraIf> {
        self.garp_extra_if
            .or(global.vrrp_garp_extra_if)
            .filter(|g| !g.interval.is_zero())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Family {
    V4,
    V6,
}

/// `unicast_peer { ADDR [min_ttl N] [max_ttl N] }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnicastPeer {
    pub addr: IpAddr,
    pub span: Span,
}

/// `track_interface { IFNAME [weight N] }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrackInterface {
    pub name: String,
    /// None: interface down means FAULT.
    pub weight: Option<i32>,
    pub span: Span,
}

/// `track_script { NAME [weight N] }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrackScript {
    pub name: String,
    /// None: the vrrp_script's own weight.
    pub weight: Option<i32>,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Scope {
    Global,
    Site,
    Link,
    Host,
    Nowhere,
    /// A numeric scope.
    Other(u8),
}

impl Scope {
    /// The rtnetlink value (RT_SCOPE_*).
    pub fn to_rt(self) -> u8 {
        match self {
            Scope::Global => 0,
            Scope::Site => 200,
            Scope::Link => 253,
            Scope::Host => 254,
            Scope::Nowhere => 255,
            Scope::Other(n) => n,
        }
    }
}

/// One address line of virtual_ipaddress / virtual_ipaddress_excluded / static_ipaddress:
/// `ADDR[/LEN] [dev IF] [brd ADDR] [scope SCOPE] [label LABEL] [peer ADDR[/LEN]] [-nodad]
///  [no_track] [preferred_lft N]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VirtualIp {
    pub addr: IpAddr,
    /// Default 32 for IPv4, 128 for IPv6.
    pub prefix_len: u8,
    /// Default: the instance's interface.
    pub dev: Option<String>,
    pub brd: Option<Ipv4Addr>,
    pub scope: Option<Scope>,
    pub label: Option<String>,
    pub peer: Option<IpPrefix>,
    pub nodad: bool,
    pub no_track: bool,
    pub preferred_lft: Option<u32>,
    pub span: Span,
}

/// An address with a prefix length: `10.0.0.0/8`, `2001:db8::/32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct IpPrefix {
    pub addr: IpAddr,
    pub len: u8,
}

impl std::fmt::Display for IpPrefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum RouteType {
    Unicast,
    Blackhole,
    Unreachable,
    Prohibit,
    Throw,
}

/// One line of virtual_routes / static_routes:
/// `[src ADDR] [TYPE] DST[/LEN]|default [via|gw ADDR [or ADDR]] [dev IF] [scope S] [table N]
///  [metric N] [no_track] ...`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VirtualRoute {
    pub route_type: RouteType,
    pub dst: IpPrefix,
    pub src: Option<IpAddr>,
    pub via: Option<IpAddr>,
    /// `or ADDR`: a second nexthop (multipath).
    pub via_alt: Option<IpAddr>,
    pub dev: Option<String>,
    pub scope: Option<Scope>,
    pub table: Option<u32>,
    pub metric: Option<u32>,
    pub no_track: bool,
    pub span: Span,
}

/// One line of virtual_rules / static_rules:
/// `[from PREFIX|all] [to PREFIX|all] [table N] [preference|priority|pref N] [fwmark N[/MASK]]
///  [iif IF] [oif IF] [no_track]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VirtualRule {
    pub from: Option<IpPrefix>,
    pub to: Option<IpPrefix>,
    pub table: Option<u32>,
    pub priority: Option<u32>,
    pub fwmark: Option<(u32, Option<u32>)>,
    pub iif: Option<String>,
    pub oif: Option<String>,
    pub no_track: bool,
    pub span: Span,
}

// ---------------------------------------------------------------------------------------------
// LVS
// ---------------------------------------------------------------------------------------------

/// IPVS schedulers (lb_algo / lvs_sched).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Scheduler {
    Rr,
    Wrr,
    Lc,
    Wlc,
    Lblc,
    Lblcr,
    Dh,
    Sh,
    Sed,
    Nq,
    Mh,
    Fo,
    Ovf,
    Twos,
}

impl Scheduler {
    pub const ALL: [Scheduler; 14] = [
        Scheduler::Rr,
        Scheduler::Wrr,
        Scheduler::Lc,
        Scheduler::Wlc,
        Scheduler::Lblc,
        Scheduler::Lblcr,
        Scheduler::Dh,
        Scheduler::Sh,
        Scheduler::Sed,
        Scheduler::Nq,
        Scheduler::Mh,
        Scheduler::Fo,
        Scheduler::Ovf,
        Scheduler::Twos,
    ];
    /// The kernel's scheduler name (`ip_vs_NAME`).
    pub fn name(self) -> &'static str {
        match self {
            Scheduler::Rr => "rr",
            Scheduler::Wrr => "wrr",
            Scheduler::Lc => "lc",
            Scheduler::Wlc => "wlc",
            Scheduler::Lblc => "lblc",
            Scheduler::Lblcr => "lblcr",
            Scheduler::Dh => "dh",
            Scheduler::Sh => "sh",
            Scheduler::Sed => "sed",
            Scheduler::Nq => "nq",
            Scheduler::Mh => "mh",
            Scheduler::Fo => "fo",
            Scheduler::Ovf => "ovf",
            Scheduler::Twos => "twos",
        }
    }
    pub fn from_name(s: &str) -> Option<Scheduler> {
        Scheduler::ALL.into_iter().find(|x| x.name() == s)
    }
}

/// Forwarding method (lb_kind / lvs_method).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum ForwardMethod {
    Nat,
    Dr,
    Tun,
}

/// `lvs_method TUN type ipip|gue port N|gre [nocsum|csum|remcsum]`: the tunnel encapsulation
/// of a TUN destination (kernel 5.2+ for GUE, 5.3+ for GRE and the checksum flags). The
/// default (`lvs_method TUN` alone) is plain IPIP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
pub struct Tunnel {
    pub kind: TunnelKind,
    /// UDP destination port of GUE encapsulation (0 for IPIP and GRE).
    pub port: u16,
    pub csum: TunnelCsum,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
pub enum TunnelKind {
    #[default]
    Ipip,
    Gue,
    Gre,
}

/// Checksum handling of GUE/GRE encapsulation (IP_VS_TUNNEL_ENCAP_FLAG_*).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
pub enum TunnelCsum {
    #[default]
    NoCsum,
    Csum,
    RemCsum,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    /// Lower-case name, as keepalived prints it in `[ip]:tcp:port`.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }
}

/// How a virtual server is addressed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub enum VsKey {
    /// `virtual_server IP PORT`
    Addr { addr: IpAddr, port: u16 },
    /// `virtual_server fwmark N`
    Fwmark(u32),
    /// `virtual_server group NAME`
    Group(String),
}

/// `virtual_server_group NAME { IP PORT | IP-LAST PORT | fwmark N ... }`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VirtualServerGroup {
    pub name: String,
    pub members: Vec<VsgMember>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum VsgMember {
    /// `IP PORT` or the range `a.b.c.d-e PORT` (first..=last, last octet / last hextet).
    Range {
        first: IpAddr,
        last: IpAddr,
        port: u16,
        span: Span,
    },
    Fwmark {
        mark: u32,
        span: Span,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VirtualServer {
    pub key: VsKey,
    /// Default 60 s.
    pub delay_loop: Duration,
    /// Default wlc? keepalived has no default in the parser; the kernel's is wlc. We keep None
    /// when not written and let the IPVS layer choose `wlc`.
    pub lb_algo: Option<Scheduler>,
    /// Scheduler flags (`sh-port`, `sh-fallback`, `mh-port`, `mh-fallback`, `flag-1..3`).
    pub sched_flags: Vec<String>,
    /// Default NAT.
    pub lb_kind: ForwardMethod,
    /// The tunnel written after `lvs_method TUN` (None: IPIP, or not TUN).
    pub tunnel: Option<Tunnel>,
    /// Seconds; None means not persistent. `persistence_timeout` without a value is 360.
    pub persistence_timeout: Option<u32>,
    /// Netmask (v4: dotted quad, v6: prefix length), stored as a prefix length.
    pub persistence_granularity: Option<u8>,
    /// Without a `protocol` line: UDP for address and group services (keepalived 2.2.7's
    /// default, reported as a warning); meaningless for fwmark services (TCP is stored).
    pub protocol: Protocol,
    /// `ops` (one-packet scheduling, UDP).
    pub ops: bool,
    pub sorry_server: Option<SorryServer>,
    pub sorry_server_inhibit: bool,
    /// Default 1.
    pub quorum: u32,
    /// Default 0.
    pub hysteresis: u32,
    pub quorum_up: Option<Command>,
    pub quorum_down: Option<Command>,
    pub alpha: bool,
    pub omega: bool,
    pub ha_suspend: bool,
    pub virtualhost: Option<String>,
    pub inhibit_on_failure: bool,
    pub smtp_alert: Option<bool>,
    pub real_servers: Vec<RealServer>,
    pub span: Span,
}

impl VirtualServer {
    /// A virtual server with keepalived's defaults (delay_loop 60 s, NAT, quorum 1, TCP until
    /// the parser decides otherwise) and no real servers. The parser starts from this.
    pub fn new(key: VsKey, span: Span) -> Self {
        VirtualServer {
            key,
            delay_loop: Duration::from_secs(60),
            lb_algo: None,
            sched_flags: Vec::new(),
            lb_kind: ForwardMethod::Nat,
            tunnel: None,
            persistence_timeout: None,
            persistence_granularity: None,
            protocol: Protocol::Tcp,
            ops: false,
            sorry_server: None,
            sorry_server_inhibit: false,
            quorum: 1,
            hysteresis: 0,
            quorum_up: None,
            quorum_down: None,
            alpha: false,
            omega: false,
            ha_suspend: false,
            virtualhost: None,
            inhibit_on_failure: false,
            smtp_alert: None,
            real_servers: Vec::new(),
            span,
        }
    }
    /// Sum of the configured weights of all real servers (for the quorum warning).
    pub fn total_weight(&self) -> u64 {
        self.real_servers.iter().map(|r| r.weight as u64).sum()
    }
}

/// `sorry_server IP PORT` (plus optional `sorry_server_lvs_method`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SorryServer {
    pub addr: IpAddr,
    pub port: Option<u16>,
    pub lb_kind: Option<ForwardMethod>,
    /// The tunnel written after `sorry_server_lvs_method TUN`.
    pub tunnel: Option<Tunnel>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RealServer {
    pub addr: IpAddr,
    /// None for fwmark services written `real_server IP` (port taken from the packet).
    pub port: Option<u16>,
    /// Default 1.
    pub weight: u32,
    /// None: the virtual server's setting.
    pub inhibit_on_failure: Option<bool>,
    /// Per-real-server forwarding method override (`lvs_method` inside real_server).
    pub lb_kind: Option<ForwardMethod>,
    /// The tunnel written after the real server's own `lvs_method TUN`.
    pub tunnel: Option<Tunnel>,
    pub notify_up: Option<Command>,
    pub notify_down: Option<Command>,
    /// Upper connection threshold (0 = none).
    pub uthreshold: u32,
    /// Lower connection threshold (0 = none).
    pub lthreshold: u32,
    pub smtp_alert: Option<bool>,
    /// `alpha` can be set per real server as well; None: the virtual server's.
    pub alpha: Option<bool>,
    /// Per-real-server delay_loop override.
    pub delay_loop: Option<Duration>,
    pub checkers: Vec<Checker>,
    /// `FILE_CHECK { track_file NAME [weight N [reverse|noreverse]] }` blocks: the named
    /// track_file's value adjusts the real server's weight, or takes it down (see
    /// `check::file_check`). `weight` None: the track_file block's weight and `reverse`;
    /// given without `reverse`, reverse is Some(false) (keepalived's FILE_CHECK rule).
    pub file_checks: Vec<TrackFileRef>,
    pub span: Span,
}

/// Options every checker understands.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CheckerCommon {
    pub connect_ip: Option<IpAddr>,
    pub connect_port: Option<u16>,
    pub bindto: Option<IpAddr>,
    pub bind_port: Option<u16>,
    /// Default 5 s.
    pub connect_timeout: Option<Duration>,
    /// `retry` (alias `nb_get_retry`). Default: 1 (MISC_CHECK: 0).
    pub retry: Option<u32>,
    /// Default 1 s.
    pub delay_before_retry: Option<Duration>,
    pub warmup: Option<Duration>,
    /// SO_MARK for the checker's socket.
    pub fwmark: Option<u32>,
    /// Checker-level delay_loop override.
    pub delay_loop: Option<Duration>,
    /// Checker-level alpha.
    pub alpha: Option<bool>,
    /// `log_all_failures` (checker, real server or virtual server level).
    pub log_all_failures: Option<bool>,
    /// `bind_if`: the interface the checker's socket is bound to (SO_BINDTODEVICE; needed
    /// with an IPv6 link-local `bindto` or `connect_ip`).
    pub bind_if: Option<String>,
}

impl CheckerCommon {
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
    pub const DEFAULT_DELAY_BEFORE_RETRY: Duration = Duration::from_secs(1);
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Checker {
    pub kind: CheckerKind,
    pub common: CheckerCommon,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum CheckerKind {
    Tcp,
    Http(HttpCheck),
    /// SSL_GET: same options as HTTP_GET, over TLS.
    Ssl(HttpCheck),
    Misc(MiscCheck),
    Udp(UdpCheck),
    /// PING_CHECK: an ICMP echo request must be answered within connect_timeout.
    Ping,
    Dns(DnsCheck),
    /// SMTP_CHECK { helo_name NAME  host { connect options }... }: banner, HELO and QUIT
    /// must each get a 2xx reply. With `host` blocks (keepalived's legacy form) each host is
    /// checked instead of the real server, with its own connect options.
    Smtp {
        helo_name: Option<String>,
        hosts: Vec<CheckerCommon>,
    },
}

/// `DNS_CHECK { type A|NS|CNAME|SOA|MX|TXT|AAAA  name NAME }` (defaults SOA and `.`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct DnsCheck {
    /// The query type's name, upper case.
    pub qtype: String,
    pub name: String,
}

/// `UDP_CHECK { payload HEX  require_reply [HEX]  min_reply_length N  max_reply_length N }`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct UdpCheck {
    /// The datagram sent; None: random bytes (keepalived's default).
    pub payload: Option<Vec<u8>>,
    /// None: any answer but an ICMP error passes (silence too). Some: a reply is required,
    /// its length within [min_reply_length, max_reply_length], and its first bytes matching
    /// the pattern, if one is given.
    pub require_reply: Option<Vec<HexNibbles>>,
    /// Default 0.
    pub min_reply_length: u32,
    /// Default 255.
    pub max_reply_length: u32,
}

/// One byte of a `require_reply` pattern: `value` compared under `mask` (an `X` digit
/// masks its 4 bits out).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct HexNibbles {
    pub value: u8,
    pub mask: u8,
}

impl UdpCheck {
    /// keepalived's free-format HEX_STR: space-separated tokens, each read two hex digits at
    /// a time from the left, a last odd digit standing alone (`Ab12f 3` → AB 12 0F 03). With
    /// `wildcards`, X/x is a digit whose 4 bits are ignored.
    pub fn parse_hex(tokens: &[&str], wildcards: bool) -> Result<Vec<HexNibbles>, String> {
        let digit = |c: char| -> Result<(u8, u8), String> {
            match c {
                'x' | 'X' if wildcards => Ok((0, 0)),
                _ => c
                    .to_digit(16)
                    .map(|d| (d as u8, 0xf))
                    .ok_or_else(|| format!("`{c}` is not a hex digit")),
            }
        };
        let mut out = Vec::new();
        for t in tokens {
            let chars: Vec<char> = t.chars().collect();
            for pair in chars.chunks(2) {
                let (v, m) = match pair {
                    [a, b] => {
                        let (av, am) = digit(*a)?;
                        let (bv, bm) = digit(*b)?;
                        ((av << 4) | bv, (am << 4) | bm)
                    }
                    [a] => digit(*a)?,
                    _ => unreachable!("chunks(2) gives one or two characters"),
                };
                out.push(HexNibbles { value: v, mask: m });
            }
        }
        Ok(out)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum HttpProtocol {
    /// `GET path HTTP/1.0` (keepalived's default).
    V1_0,
    /// HTTP/1.0 with `Connection: close`.
    V1_0C,
    /// HTTP/1.1 with `Connection: close`.
    V1_1,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HttpCheck {
    pub urls: Vec<UrlCheck>,
    pub http_protocol: HttpProtocol,
    /// Checker-level virtualhost (url-level overrides it; default: the virtual server's).
    pub virtualhost: Option<String>,
    /// SSL_GET: `enable_sni` / sni name.
    pub enable_sni: bool,
    /// Upper bound on body bytes read; default 1 MiB.
    pub max_body: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UrlCheck {
    pub path: String,
    /// MD5 of the body, 16 bytes.
    pub digest: Option<[u8; 16]>,
    /// Accepted status codes; empty means 200–299.
    pub status_code: Vec<StatusRange>,
    pub virtualhost: Option<String>,
    /// `regex` and its options: the response must (or, with `regex_no_match`, must not) match.
    pub regex: Option<UrlRegex>,
    pub span: Span,
}

/// `regex PATTERN` in a url block, with `regex_no_match`, `regex_options`,
/// `regex_min_offset`, `regex_max_offset`. The pattern was checked to compile when parsed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct UrlRegex {
    pub pattern: String,
    pub no_match: bool,
    /// PCRE2 option names rampart maps onto its regex engine: caseless, multiline, dotall,
    /// extended, ungreedy, utf/ucp.
    pub options: Vec<String>,
    /// The match must start at or after this offset into the response (header included).
    pub min_offset: u64,
    /// The match must start before this offset (0: no limit).
    pub max_offset: u64,
}

impl UrlRegex {
    /// The regex options rampart implements.
    pub const OPTIONS: &'static [&'static str] = &[
        "caseless",
        "multiline",
        "dotall",
        "extended",
        "ungreedy",
        "utf",
        "ucp",
    ];

    /// Compile with the configured options (bytes; Unicode only with utf/ucp, as PCRE2).
    pub fn compile(&self) -> Result<regex::bytes::Regex, regex::Error> {
        let has = |o: &str| self.options.iter().any(|x| x == o);
        regex::bytes::RegexBuilder::new(&self.pattern)
            .case_insensitive(has("caseless"))
            .multi_line(has("multiline"))
            .dot_matches_new_line(has("dotall"))
            .ignore_whitespace(has("extended"))
            .swap_greed(has("ungreedy"))
            .unicode(has("utf") || has("ucp"))
            .build()
    }
}

/// An inclusive range of HTTP status codes; a single code has first == last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StatusRange {
    pub first: u16,
    pub last: u16,
}

impl UrlCheck {
    pub fn status_ok(&self, code: u16) -> bool {
        if self.status_code.is_empty() {
            (200..=299).contains(&code)
        } else {
            self.status_code
                .iter()
                .any(|r| (r.first..=r.last).contains(&code))
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MiscCheck {
    pub misc_path: Command,
    /// Default: the checker's delay_loop.
    pub misc_timeout: Option<Duration>,
    pub misc_dynamic: bool,
    pub user: Option<RunAs>,
}

/// The same value wherever it is written in the file: compares the serialized forms with every
/// `span` field removed, so moving a block (or reformatting it) is not a change. Used by reload to
/// tell kept items from changed ones.
pub fn same_ignoring_spans<T: serde::Serialize>(a: &T, b: &T) -> bool {
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(m) => {
                m.remove("span");
                m.values_mut().for_each(strip);
            }
            serde_json::Value::Array(xs) => xs.iter_mut().for_each(strip),
            _ => {}
        }
    }
    match (serde_json::to_value(a), serde_json::to_value(b)) {
        (Ok(mut x), Ok(mut y)) => {
            strip(&mut x);
            strip(&mut y);
            x == y
        }
        _ => false,
    }
}
