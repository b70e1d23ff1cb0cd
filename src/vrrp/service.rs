//! The VRRP engine's I/O shell: runs until `ctx.shutdown` becomes true.
//!
//! ```text
//!  socket readers (one per interface/family/protocol) ──┐ decoded packets, by VRID
//!  link watch (rtnetlink multicast) ────────────────────┤ link up/down, VIP removed, resync
//!  vrrp_script runners ─────────────────────────────────┤ script ok/failed
//!                                                       ▼
//!                       driver: owns the pure core (Node), the timers and the send sockets
//!                       │  steps the core, sends adverts at once, logs transitions, events
//!                       ▼
//!      one executor per instance: VIPs/routes/rules (rtnetlink), GARP/NA, in order
//!      one notifier per instance and per sync group: notify scripts, one at a time
//! ```
//!
//! Adverts are sent by the driver itself so a slow netlink call or script never delays them;
//! everything slower goes to the per-instance executor, which keeps the order the core chose
//! (advert first, then VIPs, then gratuitous ARPs).

use super::addr::{Netlink, Owned, Wanted};
use super::fsm::{Action, Counters, Input, LogLevel, TimerKind, Transition, VrrpState};
use super::garp::GarpSender;
use super::link::LinkEvent;
use super::net::{IPPROTO_AH, IPPROTO_VRRP, SocketSpec, VrrpSocket};
use super::node::{Node, NodeAction};
use super::notify::{NOTIFY_TIMEOUT, Notifier, NotifyKind, ScriptPolicy};
use super::packet::{self, Af, AhParams, Ipv4Params};
use super::script::ScriptStatus;
use super::sync::GroupTransition;
use super::{Auth, vmac};
use crate::config::{Config, VirtualIp, VrrpInstance};
use crate::daemon::EngineCtx;
use crate::events::Event;
use anyhow::Context;
use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How long shutdown may take to send priority-0 adverts, release VIPs and run stop scripts
/// (the daemon allows [`crate::daemon::SHUTDOWN_BUDGET`] in all).
const RELEASE_BUDGET: Duration = Duration::from_secs(3);

/// What status and metrics read about the VRRP engine.
#[derive(Debug, Default)]
pub struct VrrpStats {
    pub instances: RwLock<Vec<InstanceStatus>>,
    /// Packets for a VRID no instance on that interface owns.
    pub unknown_vrid: AtomicU64,
    pub recv_errors: AtomicU64,
    pub send_errors: AtomicU64,
    /// `log_unknown_vrids` of the running configuration (read by the socket readers).
    pub log_unknown_vrids: std::sync::atomic::AtomicBool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct InstanceStatus {
    pub name: String,
    pub state: VrrpState,
    /// The effective priority at the last transition.
    pub priority: u8,
    pub counters: Counters,
}

static STATS: OnceLock<Arc<VrrpStats>> = OnceLock::new();

/// The engine's counters (one per process: `run`'s signature is fixed by the daemon).
pub fn stats() -> Arc<VrrpStats> {
    STATS.get_or_init(|| Arc::new(VrrpStats::default())).clone()
}

/// Inputs to the driver from the other tasks.
enum DriverMsg {
    Packet {
        /// (interface, IPv6?, VRID): looked up again by the driver, as a reload may have
        /// renumbered the instances since the reader saw it.
        router: (String, bool, u8),
        packet: Result<packet::ReceivedAdvert, packet::DecodeError>,
    },
    Link(LinkEvent),
    Script(ScriptStatus),
    TrackFile(super::track_file::FileValue),
    TrackProcess(super::track_process::StatusChange),
}

/// Work for an instance's executor.
#[derive(Debug)]
enum ExecMsg {
    AddVips,
    DelVips,
    Garp {
        repeat: u32,
        /// `vrrp_garp_interval` / `vrrp_gna_interval`: pause between two messages.
        garp_interval: Duration,
        gna_interval: Duration,
    },
    /// `garp_extra_if`: one round on the VIP interfaces other than the instance's own.
    GarpExtra {
        all: bool,
    },
    AddrRemoved {
        ifindex: u32,
        addr: IpAddr,
    },
    Resync,
    /// A reload changed the instance's settings: later messages use these.
    Reconfigure(Box<VrrpInstance>),
    /// `-V/--dont-release-vrrp` at shutdown: forget what is installed instead of removing it.
    KeepInstalled,
    /// Entering BACKUP or FAULT from INIT: remove the instance's VIPs if they are on their
    /// interfaces although this run did not add them.
    ClearStale,
}

/// Where an instance sends from and to.
struct Wire {
    /// Which socket the instance uses.
    key: SockKey,
    /// None while its interface is missing or cannot be opened: the instance is in FAULT
    /// and the socket is opened when the interface comes up.
    socket: Option<Arc<VrrpSocket>>,
    src: IpAddr,
    dsts: Vec<IpAddr>,
    ip_id: u16,
    send_failing: bool,
}

/// Key of a socket: (interface, IPv6?, IP protocol).
type SockKey = (String, bool, u8);

/// Instance index by (interface, IPv6?, VRID); a reload replaces its contents.
type RouterIndex = Arc<RwLock<HashMap<(String, bool, u8), usize>>>;

fn local_address(inst: &VrrpInstance, v6: bool) -> Option<IpAddr> {
    if let Some(a) = inst.unicast_src_ip.or(inst.mcast_src_ip) {
        return Some(a);
    }
    let vips: Vec<IpAddr> = inst.virtual_ipaddress.iter().map(|v| v.addr).collect();
    if v6 {
        super::net::link_local_v6(&inst.interface).map(IpAddr::V6)
    } else {
        super::net::primary_v4(&inst.interface, &vips).map(IpAddr::V4)
    }
}

fn transition_reason(t: &Transition) -> String {
    use super::fsm::TransitionReason as R;
    match &t.reason {
        R::Startup => "startup".into(),
        R::AddressOwner => "address owner (priority 255)".into(),
        R::ConfiguredMaster => "configured state MASTER".into(),
        R::MasterDown => "master down timer expired".into(),
        R::HigherPriorityAdvert { from, priority } => {
            format!("advert from {from} with priority {priority}")
        }
        R::Fault { cause } => format!("fault: {cause}"),
        R::FaultCleared => "faults cleared".into(),
        R::SyncGroup => "sync group".into(),
        R::Shutdown => "shutdown".into(),
    }
}

pub async fn run(cfg: Arc<Config>, ctx: EngineCtx) -> anyhow::Result<()> {
    if cfg.instances.is_empty() {
        // Nothing to run until a reload brings instances (or the daemon stops).
        let mut ctx = ctx;
        let mut sd = ctx.shutdown.clone();
        ctx.config.borrow_and_update();
        let mut watch_config = true;
        loop {
            let changed = tokio::select! {
                _ = async { let _ = sd.wait_for(|s| *s).await; } => return Ok(()),
                r = ctx.config.changed(), if watch_config => r.is_ok(),
            };
            if !changed {
                watch_config = false;
                continue;
            }
            let new_cfg = ctx.config.borrow_and_update().clone();
            if !new_cfg.instances.is_empty() {
                tracing::info!(target: "vrrp", "reload: starting the VRRP engine");
                return Box::pin(run(new_cfg, ctx)).await;
            }
        }
    }
    let dry_run = ctx.opts.dry_run;
    let nl = Netlink::open(dry_run).context("VRRP: rtnetlink")?;
    let mut node = Node::from_config(&cfg).context("VRRP: building instances")?;
    let stats = stats();
    let policy = ScriptPolicy {
        user: cfg.global.script_user.clone(),
        enforce_security: cfg.global.enable_script_security,
    };

    if policy.enforce_security {
        check_script_security(&cfg);
    }
    super::track_file::apply_no_swap(&cfg);
    stats
        .log_unknown_vrids
        .store(cfg.global.log_unknown_vrids, Ordering::Relaxed);
    super::track_file::init_files(&cfg);
    // use_vmac interfaces carry the VIPs (and send the adverts); remove the ones we created
    // on the way out, and restore the sysctls we changed (promote_secondaries too).
    let mut vmacs = VmacBook::default();
    vmacs.promote_secondaries(&cfg, dry_run);

    // Static addresses, routes and rules: present whatever the VRRP state.
    let mut static_owned = Owned::default();
    install_static(&nl, &cfg, &mut static_owned).await;

    let mut vip_dev: Vec<String> = Vec::new();
    for (idx, inst) in cfg.instances.iter().enumerate() {
        let v6 = node.instances()[idx].params().af == Af::V6;
        vip_dev.push(vmacs.setup(&nl, inst, v6).await);
    }

    // Sockets: one per (interface, family, protocol), shared by the instances on it.
    let mut sockets: HashMap<SockKey, Arc<VrrpSocket>> = HashMap::new();
    let mut by_vrid: HashMap<(String, bool, u8), usize> = HashMap::new();
    let mut wires = Vec::new();
    for (idx, inst) in cfg.instances.iter().enumerate() {
        let xmit = xmit_dev(inst, &vip_dev[idx], dry_run);
        let w = make_wire(&cfg, idx, &node, &xmit, &mut sockets);
        by_vrid.insert((w.key.0.clone(), w.key.1, inst.virtual_router_id), idx);
        wires.push(w);
    }
    *stats.instances.write().unwrap_or_else(|e| e.into_inner()) = node
        .instances()
        .iter()
        .map(|i| InstanceStatus {
            name: i.name().to_string(),
            state: i.state(),
            priority: i.params().priority,
            counters: i.counters().clone(),
        })
        .collect();

    let (drv_tx, mut drv_rx) = mpsc::unbounded_channel::<DriverMsg>();
    let mut tasks = tokio::task::JoinSet::new();

    // Socket readers.
    let by_vrid = Arc::new(RwLock::new(by_vrid));
    let mut readers = HashMap::new();
    for (key, socket) in &sockets {
        let reader = spawn_reader(
            socket.clone(),
            drv_tx.clone(),
            by_vrid.clone(),
            stats.clone(),
        );
        readers.insert(key.clone(), reader);
    }

    // Link and address watch.
    let (link_tx, mut link_rx) = mpsc::unbounded_channel();
    let _link_task = super::link::spawn(link_tx).context("VRRP: link watch")?;
    {
        let tx = drv_tx.clone();
        tasks.spawn(async move {
            while let Some(ev) = link_rx.recv().await {
                if tx.send(DriverMsg::Link(ev)).is_err() {
                    return;
                }
            }
        });
    }

    // vrrp_scripts that someone tracks.
    let (script_tx, mut script_rx) = mpsc::unbounded_channel();
    let mut script_tasks = HashMap::new();
    for s in tracked_scripts(&cfg) {
        let task = super::script::spawn(
            s.clone(),
            policy.clone(),
            script_tx.clone(),
            ctx.shutdown.clone(),
        );
        script_tasks.insert(s.name.clone(), (s.clone(), task));
    }
    {
        let tx = drv_tx.clone();
        tasks.spawn(async move {
            while let Some(s) = script_rx.recv().await {
                if tx.send(DriverMsg::Script(s)).is_err() {
                    return;
                }
            }
        });
    }

    // Executors and notifiers.
    let mut exec_txs = Vec::new();
    let mut exec_tasks = Vec::new();
    let mut notifiers: Vec<Option<Notifier>> = Vec::new();
    let mut notify_tasks = Vec::new();
    for (idx, inst) in cfg.instances.iter().enumerate() {
        let (tx, rx) = mpsc::unbounded_channel();
        exec_txs.push(tx);
        exec_tasks.push(tokio::spawn(executor(
            inst.clone(),
            vip_dev[idx].clone(),
            cfg.global.vrrp_strict,
            nl.clone(),
            rx,
        )));
        notifiers.push(spawn_notifier(
            &inst.notify,
            NotifyKind::Instance,
            &inst.name,
            &policy,
            &mut notify_tasks,
        ));
    }
    let mut group_notifiers: Vec<Option<Notifier>> = Vec::new();
    for g in &cfg.sync_groups {
        group_notifiers.push(spawn_notifier(
            &g.notify,
            NotifyKind::Group,
            &g.name,
            &policy,
            &mut notify_tasks,
        ));
    }

    let mut drv = Driver {
        cfg: cfg.clone(),
        ctx: ctx.clone(),
        wires,
        exec_txs,
        notifiers,
        group_notifiers,
        timers: TimerQueue::default(),
        link_state: HashMap::new(),
        priorities: node
            .instances()
            .iter()
            .map(|i| i.params().priority)
            .collect(),
        stats: stats.clone(),
        nl: nl.clone(),
        policy: policy.clone(),
        sockets,
        readers,
        by_vrid,
        drv_tx,
        vip_dev,
        vmacs,
        spawned: Vec::new(),
        static_owned,
        script_tx,
        script_tasks,
        file_watch: None,
        process_watch: None,
        process_defs: Vec::new(),
        process_status: HashMap::new(),
    };

    // Startup: source address, link state, tracked interfaces, then Startup.
    let now = Instant::now();
    for idx in 0..cfg.instances.len() {
        let addr = drv.wires[idx].src;
        let acts = node.step(idx, Input::LocalAddress { addr }, now);
        drv.execute(&node, acts, now).await;
        let up = drv.read_link(idx);
        let acts = node.step(idx, Input::LinkChanged { up }, now);
        drv.execute(&node, acts, now).await;
        let tracked: Vec<String> = node.instances()[idx]
            .params()
            .track_interfaces
            .iter()
            .map(|t| t.name.clone())
            .collect();
        for name in tracked {
            let up = super::link::link_up(&name).unwrap_or(false);
            drv.link_state.insert(name.clone(), up);
            if !up {
                let acts = node.step(idx, Input::TrackInterface { name, up }, now);
                drv.execute(&node, acts, now).await;
            }
        }
    }
    // track_file values the instances start with, then the watcher for changes.
    let files = super::track_file::tracked(&cfg);
    let initial = super::track_file::read_all(&files);
    for v in &initial {
        for idx in 0..node.instances().len() {
            if node.instances()[idx]
                .params()
                .track_files
                .iter()
                .any(|t| t.name == v.name)
            {
                let input = Input::TrackFile {
                    name: v.name.clone(),
                    value: v.value,
                };
                let acts = node.step(idx, input, now);
                drv.execute(&node, acts, now).await;
            }
        }
    }
    drv.file_watch = start_file_watch(files, initial, &drv.drv_tx);
    // track_process: the first scan decides the status the instances start with.
    let defs = super::track_process::tracked(&cfg);
    let (initial, watch) = start_process_watch(defs.clone(), &drv.drv_tx);
    for c in &initial {
        drv.track_process_status(&mut node, c, now).await;
    }
    drv.process_watch = watch;
    drv.process_defs = defs;
    let acts = node.step_all(&Input::Startup, now);
    drv.execute(&node, acts, now).await;
    tracing::info!(
        target: "vrrp",
        "VRRP engine started: {} instance(s), {} sync group(s){}",
        cfg.instances.len(),
        cfg.sync_groups.len(),
        if dry_run { ", dry run (no address changes)" } else { "" }
    );

    // Main loop.
    let mut shutdown = ctx.shutdown.clone();
    let mut config_rx = ctx.config.clone();
    config_rx.borrow_and_update();
    let mut watch_config = true;
    let mut hires = match HiresTimer::new() {
        Ok(t) => Some(t),
        Err(e) => {
            tracing::warn!(target: "vrrp", "timerfd unavailable ({e}); using the runtime's millisecond timers");
            None
        }
    };
    loop {
        let next = drv.timers.next();
        if let Some(h) = hires.as_mut() {
            h.set(next);
        }
        tokio::select! {
            biased;
            _ = async { let _ = shutdown.wait_for(|s| *s).await; } => break,
            _ = async {
                match (next, hires.as_ref()) {
                    (Some(_), Some(h)) => h.wait().await,
                    (Some(t), None) => tokio::time::sleep_until(tokio::time::Instant::from_std(t)).await,
                    (None, _) => std::future::pending().await,
                }
            } => {
                // Expired (or spurious): always re-arm on the next round.
                if let Some(h) = hires.as_mut() {
                    h.armed_for = None;
                }
                let now = Instant::now();
                if let Some(due) = next {
                    tracing::trace!(target: "vrrp", "timer fired {:?} late", now.saturating_duration_since(due));
                }
                while let Some((idx, timer)) = drv.timers.pop_due(now) {
                    let acts = node.step(idx, Input::TimerExpired { timer }, now);
                    drv.execute(&node, acts, now).await;
                }
            }
            r = config_rx.changed(), if watch_config => {
                if r.is_err() {
                    watch_config = false;
                    continue;
                }
                let new_cfg = config_rx.borrow_and_update().clone();
                drv.reload(&mut node, new_cfg, Instant::now()).await;
            }
            msg = drv_rx.recv() => {
                let Some(msg) = msg else { break };
                let now = Instant::now();
                drv.handle(&mut node, msg, now).await;
            }
        }
    }

    // Shutdown: priority-0 adverts now, then VIPs released, within a bounded time.
    // With -V/--dont-release-vrrp, as keepalived 2.2.7 (checked in namespaces): no
    // priority-0 advert, and VIPs, virtual routes and rules, VMACs and nftables rules all
    // stay (static_ipaddress entries go); STOP notifications (scripts, fifo, alerts) still go.
    let keep = ctx.opts.dont_release_vrrp;
    let now = Instant::now();
    let mut acts = node.step_all(&Input::Shutdown, now);
    if keep {
        tracing::info!(target: "vrrp", "-V/--dont-release-vrrp: VIPs, routes and VMACs left in place");
        acts.retain(|a| {
            !matches!(
                a,
                NodeAction::Instance {
                    action: Action::SendAdvert { .. } | Action::DelVips,
                    ..
                }
            )
        });
        for tx in &drv.exec_txs {
            let _ = tx.send(ExecMsg::KeepInstalled);
        }
    }
    drv.execute(&node, acts, now).await;
    tasks.abort_all();
    let Driver {
        exec_txs,
        notifiers,
        group_notifiers,
        readers,
        spawned,
        script_tasks,
        mut static_owned,
        vmacs,
        ..
    } = drv;
    for r in readers.values() {
        r.abort();
    }
    drop(exec_txs);
    drop(notifiers);
    drop(group_notifiers);
    let release = async {
        for t in exec_tasks.into_iter().chain(spawned) {
            let _ = t.await;
        }
        // keepalived 2.2.7 removes static_ipaddress entries even with -V.
        nl.release("static", &mut static_owned).await;
        if !keep {
            for v in &vmacs.created {
                vmac::remove(&nl, v).await;
            }
            vmac::restore_conf(&vmacs.sysctl_undo);
            nl.firewall.remove_tables().await;
            for (path, old) in &vmacs.promote_undo {
                let _ = std::fs::write(path, old);
            }
        }
        for t in notify_tasks {
            let _ = t.await;
        }
    };
    if tokio::time::timeout(RELEASE_BUDGET, release).await.is_err() {
        tracing::error!(target: "vrrp", "VIP release and stop scripts did not finish within {RELEASE_BUDGET:?}");
    }
    for (_, t) in script_tasks.values() {
        t.abort();
    }
    for i in node.instances() {
        let c = i.counters();
        tracing::info!(
            target: "vrrp",
            "VRRP instance {}: {} adverts sent, {} received, became master {} time(s), drops {:?}",
            i.name(),
            c.adverts_sent,
            c.adverts_received,
            c.became_master,
            c.drops
        );
    }
    tracing::info!(target: "vrrp", "VRRP engine stopped");
    Ok(())
}

/// Reads one socket and hands decoded adverts to the driver, tagged with their instance.
fn spawn_reader(
    socket: Arc<VrrpSocket>,
    tx: mpsc::UnboundedSender<DriverMsg>,
    by_vrid: RouterIndex,
    stats: Arc<VrrpStats>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let v6 = socket.spec.family_v6;
        let group6 = socket.spec.group;
        loop {
            let p = match socket.recv().await {
                Ok(p) => p,
                Err(e) => {
                    stats.recv_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(target: "vrrp", "{e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let Some(vrid) = super::net::peek_vrid(&p.data, v6) else {
                stats.recv_errors.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            let router = (socket.spec.ifname.clone(), v6, vrid);
            let known = by_vrid
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .contains_key(&router);
            if !known {
                stats.unknown_vrid.fetch_add(1, Ordering::Relaxed);
                if stats.log_unknown_vrids.load(Ordering::Relaxed) {
                    tracing::info!(target: "vrrp", "{}: advert for VRID {vrid} from {}: no instance has that VRID on this interface", socket.spec.ifname, p.src);
                }
                continue;
            };
            let packet = if v6 {
                let src = match p.src {
                    IpAddr::V6(s) => s,
                    IpAddr::V4(s) => s.to_ipv6_mapped(),
                };
                let dst = match p.dst.or(group6) {
                    Some(IpAddr::V6(d)) => d,
                    _ => Ipv6Addr::UNSPECIFIED,
                };
                // No hop limit reported means we cannot vouch for 255: let the decoder
                // reject it as 0.
                packet::decode_ipv6(&p.data, src, dst, p.hop_limit.unwrap_or(0))
            } else {
                packet::decode_ipv4(&p.data)
            };
            match &packet {
                Err(e) => {
                    tracing::debug!(target: "vrrp", "from {} on {}: {e}", p.src, socket.spec.ifname)
                }
                Ok(a) => {
                    tracing::trace!(target: "vrrp", "from {} on {}: {:?}", p.src, socket.spec.ifname, a.vrrp)
                }
            }
            if tx.send(DriverMsg::Packet { router, packet }).is_err() {
                return;
            }
        }
    })
}

/// With `enable_script_security`, say at startup which configured scripts will be refused
/// (they are refused again, with the same message, each time they would run).
fn check_script_security(cfg: &Config) {
    let mut cmds: Vec<&crate::config::Command> = Vec::new();
    for n in cfg
        .instances
        .iter()
        .map(|i| &i.notify)
        .chain(cfg.sync_groups.iter().map(|g| &g.notify))
    {
        cmds.extend(
            [&n.master, &n.backup, &n.fault, &n.stop, &n.notify]
                .into_iter()
                .flatten(),
        );
    }
    cmds.extend(cfg.vrrp_scripts.iter().map(|s| &s.script));
    for c in cmds {
        let Some(prog) = c.argv.first() else { continue };
        match super::notify::resolve_program(&c.raw, prog) {
            Ok(path) => {
                if let Some(bad) = super::notify::unsafe_path(&path) {
                    tracing::error!(
                        target: "vrrp",
                        "{}: script {} will not be run: {} is writable by a non-root user (enable_script_security)",
                        c.span,
                        c.raw,
                        bad.display()
                    );
                }
            }
            Err(e) => tracing::error!(target: "vrrp", "{}: {e}", c.span),
        }
    }
}

/// A timerfd so protocol timers fire within microseconds of their deadline: the runtime's
/// timers round up to the next millisecond and wake through the I/O driver's millisecond
/// timeout, which costs Master_Down_Interval precision.
struct HiresTimer {
    fd: tokio::io::unix::AsyncFd<TimerFdRaw>,
    armed_for: Option<Instant>,
}

struct TimerFdRaw(nix::sys::timerfd::TimerFd);

impl std::os::fd::AsRawFd for TimerFdRaw {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsFd;
        self.0.as_fd().as_raw_fd()
    }
}

impl HiresTimer {
    fn new() -> std::io::Result<HiresTimer> {
        use nix::sys::timerfd::{ClockId, TimerFd, TimerFlags};
        let t = TimerFd::new(
            ClockId::CLOCK_MONOTONIC,
            TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
        )?;
        // SAFETY: TimerFd owns its descriptor; the AsyncFd owns the TimerFd.
        let fd = unsafe {
            tokio::io::unix::AsyncFd::register_with_interest(
                TimerFdRaw(t),
                tokio::io::Interest::READABLE,
            )
        }
        .map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok(HiresTimer {
            fd,
            armed_for: None,
        })
    }

    /// Arm for `at` (None: disarm); a no-op when already armed for it.
    fn set(&mut self, at: Option<Instant>) {
        use nix::sys::time::TimeSpec;
        use nix::sys::timer::{Expiration, TimerSetTimeFlags};
        if self.armed_for == at {
            return;
        }
        let r = match at {
            Some(t) => {
                // A zero it_value would disarm: never less than 1 µs.
                let after = t
                    .saturating_duration_since(Instant::now())
                    .max(Duration::from_micros(1));
                self.fd.get_ref().0.set(
                    Expiration::OneShot(TimeSpec::from_duration(after)),
                    TimerSetTimeFlags::empty(),
                )
            }
            None => self.fd.get_ref().0.unset(),
        };
        match r {
            Ok(()) => self.armed_for = at,
            Err(e) => tracing::error!(target: "vrrp", "timerfd_settime: {e}"),
        }
    }

    async fn wait(&self) {
        loop {
            let Ok(mut guard) = self.fd.readable().await else {
                return std::future::pending().await;
            };
            let r = guard.try_io(|inner| {
                let mut buf = [0u8; 8];
                // SAFETY: valid fd, 8-byte buffer as timerfd requires.
                let n = unsafe {
                    libc::read(
                        std::os::fd::AsRawFd::as_raw_fd(inner.get_ref()),
                        buf.as_mut_ptr() as *mut libc::c_void,
                        8,
                    )
                };
                if n < 0 {
                    Err(std::io::Error::last_os_error())
                } else {
                    Ok(())
                }
            });
            if let Ok(Ok(())) = r {
                return;
            }
        }
    }
}

/// The instances' timers: at most one pending expiry per (instance, kind); re-arming
/// replaces it, as the core's `ArmTimer` contract says.
#[derive(Debug, Default)]
struct TimerQueue {
    queue: BTreeSet<(Instant, usize, TimerKind)>,
    deadlines: HashMap<(usize, TimerKind), Instant>,
}

impl TimerQueue {
    fn arm(&mut self, idx: usize, timer: TimerKind, at: Instant) {
        if let Some(old) = self.deadlines.insert((idx, timer), at) {
            self.queue.remove(&(old, idx, timer));
        }
        self.queue.insert((at, idx, timer));
    }

    fn disarm(&mut self, idx: usize, timer: TimerKind) {
        if let Some(old) = self.deadlines.remove(&(idx, timer)) {
            self.queue.remove(&(old, idx, timer));
        }
    }

    fn next(&self) -> Option<Instant> {
        self.queue.first().map(|t| t.0)
    }

    /// The earliest timer due at `now`, removed from the queue.
    fn pop_due(&mut self, now: Instant) -> Option<(usize, TimerKind)> {
        let &(t, idx, timer) = self.queue.first()?;
        if t > now {
            return None;
        }
        self.queue.pop_first();
        self.deadlines.remove(&(idx, timer));
        Some((idx, timer))
    }
}

struct Driver {
    cfg: Arc<Config>,
    ctx: EngineCtx,
    wires: Vec<Wire>,
    exec_txs: Vec<mpsc::UnboundedSender<ExecMsg>>,
    notifiers: Vec<Option<Notifier>>,
    group_notifiers: Vec<Option<Notifier>>,
    timers: TimerQueue,
    /// Last known up/down per interface name (the watch repeats itself a lot).
    link_state: HashMap<String, bool>,
    priorities: Vec<u8>,
    stats: Arc<VrrpStats>,
    nl: Netlink,
    policy: ScriptPolicy,
    sockets: HashMap<SockKey, Arc<VrrpSocket>>,
    readers: HashMap<SockKey, tokio::task::JoinHandle<()>>,
    by_vrid: RouterIndex,
    drv_tx: mpsc::UnboundedSender<DriverMsg>,
    /// Per instance: the interface its VIPs go on.
    vip_dev: Vec<String>,
    /// use_vmac interfaces we made and base sysctls we changed: undone at shutdown.
    vmacs: VmacBook,
    /// Executors and notifiers started or retired by reloads: awaited at shutdown.
    spawned: Vec<tokio::task::JoinHandle<()>>,
    /// static_ipaddress/static_routes/static_rules as installed.
    static_owned: Owned,
    script_tx: mpsc::UnboundedSender<ScriptStatus>,
    /// Running vrrp_script runners by name, with the definition they run.
    script_tasks: HashMap<String, (crate::config::VrrpScript, tokio::task::JoinHandle<()>)>,
    /// The track_file poller (None: no file is tracked).
    file_watch: Option<AbortOnDrop>,
    /// The track_process poller (None: no process is tracked).
    process_watch: Option<AbortOnDrop>,
    /// The `vrrp_track_process` blocks it watches.
    process_defs: Vec<crate::config::TrackProcess>,
    /// Their last status (for instances a reload adds while the poller keeps running).
    process_status: HashMap<String, bool>,
}

/// Static addresses, routes and rules: present whatever the VRRP state.
async fn install_static(nl: &Netlink, cfg: &Config, owned: &mut Owned) {
    if cfg.static_ipaddress.is_empty()
        && cfg.static_routes.is_empty()
        && cfg.static_rules.is_empty()
    {
        return;
    }
    let dev = cfg
        .instances
        .first()
        .map(|i| i.interface.clone())
        .unwrap_or_default();
    let wanted = Wanted {
        vips: &cfg.static_ipaddress,
        excluded: &[],
        routes: &cfg.static_routes,
        rules: &cfg.static_rules,
        no_accept: false,
    };
    nl.install("static", &dev, wanted, owned).await;
}

/// The vrrp_scripts some instance or sync group tracks (only those run).
fn tracked_scripts(cfg: &Config) -> Vec<&crate::config::VrrpScript> {
    cfg.vrrp_scripts
        .iter()
        .filter(|s| {
            cfg.instances
                .iter()
                .any(|i| i.track_script.iter().any(|t| t.name == s.name))
                || cfg
                    .sync_groups
                    .iter()
                    .any(|g| g.track_script.iter().any(|t| t.name == s.name))
        })
        .collect()
}

/// The VMAC interface name of an instance with `use_vmac` (keepalived's default unless named).
fn vmac_name(inst: &VrrpInstance, v6: bool) -> Option<String> {
    inst.use_vmac.as_ref().map(|name| {
        name.clone()
            .unwrap_or_else(|| vmac::default_name(inst.virtual_router_id, v6))
    })
}

/// The interface an instance's adverts leave from and arrive on: as keepalived, the VMAC
/// (so they carry source MAC 00:00:5e:00:01:VRID) unless `vmac_xmit_base` is set, and the
/// base interface without one. Unicast peers imply `vmac_xmit_base` (keepalived 2.2.7:
/// "unicast with use_vmac requires vmac_xmit_base - setting"). A dry run creates no VMAC
/// and so uses the base.
fn xmit_dev(inst: &VrrpInstance, vip_dev: &str, dry_run: bool) -> String {
    if inst.use_vmac.is_some() && !inst.vmac_xmit_base && inst.unicast_peer.is_empty() && !dry_run {
        vip_dev.to_string()
    } else {
        inst.interface.clone()
    }
}

/// The use_vmac interfaces rampart created and the base interface sysctls it changed.
#[derive(Debug, Default)]
struct VmacBook {
    created: Vec<String>,
    sysctl_undo: Vec<(String, String, String)>,
    /// `promote_secondaries` sysctls set by rampart: (path, original value).
    promote_undo: Vec<(String, String)>,
}

impl VmacBook {
    /// `promote_secondaries` on the interface of every instance that asks for it, at start and
    /// on reload (an added instance, or one that now has the keyword). An interface already
    /// at 1 is left alone, so the first original value is the one restored at shutdown.
    fn promote_secondaries(&mut self, cfg: &Config, dry_run: bool) {
        if dry_run {
            return;
        }
        for inst in cfg.instances.iter().filter(|i| i.promote_secondaries) {
            self.promote_undo
                .extend(super::track_file::promote_secondaries(&inst.interface));
        }
    }

    /// Create (or adopt) an instance's VMAC; returns the interface its VIPs go on: the VMAC,
    /// or the base interface without use_vmac. A VMAC that cannot be made (base interface
    /// missing) is still named: its adverts cannot leave, so the instance stays in FAULT
    /// until the base interface appears and the VMAC is made then.
    async fn setup(&mut self, nl: &Netlink, inst: &VrrpInstance, v6: bool) -> String {
        let Some(name) = vmac_name(inst, v6) else {
            return inst.interface.clone();
        };
        if !inst.unicast_peer.is_empty() && !inst.vmac_xmit_base {
            tracing::info!(target: "vrrp", instance = %inst.name, "unicast peers with use_vmac: adverts leave from {} (vmac_xmit_base), as keepalived", inst.interface);
        }
        // Before the VMAC exists: the reports it sends when it comes up are caught too.
        if !nl.dry_run && v6 {
            if let Err(e) = nl.firewall.vmac_mld_to_base(&name, &inst.interface).await {
                tracing::warn!(target: "vrrp", instance = %inst.name, "MLD reports of {name} stay on it: {e}");
            }
        }
        match vmac::ensure(nl, &name, &inst.interface, inst.virtual_router_id, v6).await {
            Ok(created) => {
                if created {
                    tracing::info!(target: "vrrp", instance = %inst.name, "VMAC {name} made on {}", inst.interface);
                }
                if created && !self.created.contains(&name) {
                    self.created.push(name.clone());
                }
                if !nl.dry_run && !v6 {
                    let undo = vmac::tune_base_arp(&inst.interface);
                    // Keep the first original value per (interface, key): a re-created
                    // interface would otherwise record our own setting as the original.
                    for u in undo {
                        if !self
                            .sysctl_undo
                            .iter()
                            .any(|(i, k, _)| *i == u.0 && *k == u.1)
                        {
                            self.sysctl_undo.push(u);
                        }
                    }
                }
            }
            Err(e) => {
                tracing::error!(target: "vrrp", instance = %inst.name, "{e}");
            }
        }
        name
    }
}

/// The socket an instance uses (opened if no instance uses it yet) and where it sends.
/// A socket that cannot be opened (interface missing) is logged and left `None`: the
/// instance starts in FAULT instead of failing the engine, like keepalived.
fn make_wire(
    cfg: &Config,
    idx: usize,
    node: &Node,
    xmit: &str,
    sockets: &mut HashMap<SockKey, Arc<VrrpSocket>>,
) -> Wire {
    let inst = &cfg.instances[idx];
    let core = &node.instances()[idx];
    let v6 = core.params().af == Af::V6;
    let proto = if matches!(core.auth(), Auth::Ah(_)) {
        IPPROTO_AH
    } else {
        IPPROTO_VRRP
    };
    let group = inst.mcast_dst_ip.unwrap_or_else(|| mcast_group(cfg, v6));
    let key = (xmit.to_string(), v6, proto);
    let socket = open_socket(cfg, &key, sockets);
    if let (Ok(s), Some(g)) = (&socket, inst.mcast_dst_ip) {
        if let Err(e) = s.join(g) {
            tracing::error!(target: "vrrp", instance = %inst.name, "mcast_dst_ip {g}: {e}");
        }
    }
    if let Err(e) = &socket {
        tracing::error!(
            target: "vrrp",
            instance = %inst.name,
            "VRRP instance {} ({}): cannot open interface {}: {e:#}; the instance stays in FAULT until the interface appears",
            inst.name,
            inst.span,
            key.0
        );
    }
    let socket = socket.ok();
    let src = if socket.is_some() {
        local_address(inst, v6).unwrap_or_else(|| {
            tracing::error!(
                target: "vrrp",
                instance = %inst.name,
                "interface {} has no {} address to send adverts from",
                inst.interface,
                if v6 { "link-local IPv6" } else { "IPv4" }
            );
            unspecified(v6)
        })
    } else {
        unspecified(v6)
    };
    let dsts = if inst.unicast_peer.is_empty() {
        vec![group]
    } else {
        inst.unicast_peer.iter().map(|p| p.addr).collect()
    };
    Wire {
        key,
        socket,
        src,
        dsts,
        ip_id: (idx as u16).wrapping_mul(4099),
        send_failing: false,
    }
}

fn unspecified(v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    }
}

fn mcast_group(cfg: &Config, v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(cfg.global.vrrp_mcast_group6)
    } else {
        IpAddr::V4(cfg.global.vrrp_mcast_group4)
    }
}

/// The shared socket for `key`, opened if no instance uses it yet.
fn open_socket(
    cfg: &Config,
    key: &SockKey,
    sockets: &mut HashMap<SockKey, Arc<VrrpSocket>>,
) -> anyhow::Result<Arc<VrrpSocket>> {
    if let Some(s) = sockets.get(key) {
        return Ok(s.clone());
    }
    let (ifname, v6, proto) = key.clone();
    let s = Arc::new(VrrpSocket::open(SocketSpec {
        ifname,
        protocol: proto,
        group: Some(mcast_group(cfg, v6)),
        family_v6: v6,
        header_included: !v6,
    })?);
    sockets.insert(key.clone(), s.clone());
    Ok(s)
}

/// For each instance of `new`, the index in `old` of the instance it continues: same
/// virtual router (VRID, family, interface, as [`crate::daemon::reload::RouterKey`]),
/// whatever its name (a renamed instance keeps its state; from then on it reports under its
/// new name). An instance whose `use_vmac` is turned on or off is not continued but
/// replaced (priority 0 and VIPs released if MASTER, then a new instance from INIT with its
/// VIPs on the new interface), as keepalived 2.2.7 does on such a reload; `vmac_xmit_base`
/// turned on or off keeps the instance (and its state) and only moves its socket, as
/// keepalived too (both checked in namespaces).
fn match_instances(old: &Config, new: &Config) -> Vec<Option<usize>> {
    use crate::daemon::reload::RouterKey;
    let mut used = vec![false; old.instances.len()];
    new.instances
        .iter()
        .map(|n| {
            let key = RouterKey::of(n);
            let found = old.instances.iter().enumerate().position(|(i, o)| {
                !used[i] && RouterKey::of(o) == key && o.use_vmac.is_some() == n.use_vmac.is_some()
            });
            if let Some(i) = found {
                used[i] = true;
            }
            found
        })
        .collect()
}

/// Same definition, wherever it is written in the file.
fn same_script(a: &crate::config::VrrpScript, b: &crate::config::VrrpScript) -> bool {
    let mut a = a.clone();
    a.span = b.span.clone();
    a.script.span = b.script.span.clone();
    a == *b
}

impl Driver {
    /// Apply a reloaded configuration as a diff: kept instances keep their state (no
    /// transition, no GARP burst, no notify) and take their new settings in place; removed
    /// ones send priority 0 if MASTER and release their VIPs, as at shutdown; new ones start
    /// as at daemon start. Nothing changes if the new instances cannot be built.
    async fn reload(&mut self, node: &mut Node, new_cfg: Arc<Config>, now: Instant) {
        let old_cfg = self.cfg.clone();
        let kept = match_instances(&old_cfg, &new_cfg);
        let mut next = node.clone();
        let rebuilt = match next.rebuild(&new_cfg, &kept, now) {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(target: "vrrp", "reload: VRRP configuration not applied: {e}");
                return;
            }
        };
        // Sockets and addresses first (a kept instance may change its authentication type,
        // source address or peers): a failure leaves all as it was.
        let mut sockets = self.sockets.clone();
        // Added instances with use_vmac get their VMAC now, as at daemon start; so does
        // promote_secondaries.
        self.vmacs.promote_secondaries(&new_cfg, self.nl.dry_run);
        let mut new_vip_dev = Vec::new();
        for (idx, inst) in new_cfg.instances.iter().enumerate() {
            new_vip_dev.push(match kept[idx] {
                Some(o) => self.vip_dev[o].clone(),
                None => {
                    let v6 = next.instances()[idx].params().af == Af::V6;
                    self.vmacs.setup(&self.nl, inst, v6).await
                }
            });
        }
        let mut new_wires = Vec::new();
        for (idx, (inst, dev)) in new_cfg.instances.iter().zip(&new_vip_dev).enumerate() {
            let xmit = xmit_dev(inst, dev, self.nl.dry_run);
            new_wires.push(make_wire(&new_cfg, idx, &next, &xmit, &mut sockets));
        }
        // Removed instances go as at shutdown, under the old configuration.
        let removed: Vec<usize> = (0..old_cfg.instances.len())
            .filter(|o| !kept.contains(&Some(*o)))
            .collect();
        for &o in &removed {
            tracing::info!(target: "vrrp", instance = %old_cfg.instances[o].name, "reload: instance removed");
            let acts = node.retire(o, now);
            self.execute(node, acts, now).await;
        }
        // Re-index everything per instance.
        let mut old_wires: Vec<Option<Wire>> = std::mem::take(&mut self.wires)
            .into_iter()
            .map(Some)
            .collect();
        let mut old_txs: Vec<Option<_>> = std::mem::take(&mut self.exec_txs)
            .into_iter()
            .map(Some)
            .collect();
        let mut old_notifiers: Vec<Option<Option<Notifier>>> = std::mem::take(&mut self.notifiers)
            .into_iter()
            .map(Some)
            .collect();
        let old_prios = std::mem::take(&mut self.priorities);
        let old_vip_dev = std::mem::take(&mut self.vip_dev);
        let mut new_wires = new_wires.into_iter();
        let mut src_changed = Vec::new();
        for (idx, inst) in new_cfg.instances.iter().enumerate() {
            match kept[idx] {
                Some(o) => {
                    let (Some(w), Some(tx), Some(n)) = (
                        old_wires[o].take(),
                        old_txs[o].take(),
                        old_notifiers[o].take(),
                    ) else {
                        unreachable!("an old instance is kept at most once");
                    };
                    let _ = tx.send(ExecMsg::Reconfigure(Box::new(inst.clone())));
                    if inst.name != old_cfg.instances[o].name {
                        tracing::info!(target: "vrrp", instance = %inst.name, "reload: instance {} renamed to {}; state kept", old_cfg.instances[o].name, inst.name);
                    }
                    // Notify scripts get the instance name: a renamed instance gets a new notifier.
                    let n = if !crate::config::model::same_ignoring_spans(
                        &inst.notify,
                        &old_cfg.instances[o].notify,
                    ) || inst.name != old_cfg.instances[o].name
                    {
                        self.spawn_notifier(inst)
                    } else {
                        n
                    };
                    let Some(mut fresh) = new_wires.next() else {
                        unreachable!("a wire was made for each instance");
                    };
                    fresh.ip_id = w.ip_id;
                    fresh.send_failing = w.send_failing;
                    if fresh.src != w.src {
                        src_changed.push(idx);
                    }
                    self.wires.push(fresh);
                    self.exec_txs.push(tx);
                    self.notifiers.push(n);
                    self.priorities.push(old_prios[o]);
                    self.vip_dev.push(old_vip_dev[o].clone());
                }
                None => {
                    tracing::info!(target: "vrrp", instance = %inst.name, "reload: instance added");
                    let Some(w) = new_wires.next() else {
                        unreachable!("a wire was made for each instance");
                    };
                    let (tx, rx) = mpsc::unbounded_channel();
                    self.spawned.push(tokio::spawn(executor(
                        inst.clone(),
                        new_vip_dev[idx].clone(),
                        new_cfg.global.vrrp_strict,
                        self.nl.clone(),
                        rx,
                    )));
                    let n = self.spawn_notifier(inst);
                    self.wires.push(w);
                    self.exec_txs.push(tx);
                    self.notifiers.push(n);
                    self.priorities
                        .push(next.instances()[idx].params().priority);
                    self.vip_dev.push(new_vip_dev[idx].clone());
                }
            }
        }
        // Dropping a removed instance's executor channel releases what it still holds.
        drop(old_txs);
        // A removed instance's VMAC goes too (keepalived removes it), once no instance uses it.
        for &o in &removed {
            let dev = &old_vip_dev[o];
            if self.vmacs.created.contains(dev) && !self.vip_dev.contains(dev) {
                vmac::remove(&self.nl, dev).await;
                self.vmacs.created.retain(|c| c != dev);
                tracing::info!(target: "vrrp", "reload: VMAC {dev} removed");
            }
        }
        drop(old_notifiers);
        // Timers follow their instance; removed instances' timers go.
        let mut new_index = vec![None; old_cfg.instances.len()];
        for (idx, k) in kept.iter().enumerate() {
            if let Some(o) = k {
                new_index[*o] = Some(idx);
            }
        }
        let old_timers = std::mem::take(&mut self.timers);
        for (at, o, kind) in old_timers.queue {
            if let Some(Some(n)) = new_index.get(o) {
                self.timers.arm(*n, kind, at);
            }
        }
        // Sockets no instance uses any more close; new ones get a reader.
        let in_use: Vec<SockKey> = self
            .wires
            .iter()
            .filter(|w| w.socket.is_some())
            .map(|w| w.key.clone())
            .collect();
        sockets.retain(|k, _| in_use.contains(k));
        self.readers.retain(|k, r| {
            let keep = sockets.contains_key(k);
            if !keep {
                r.abort();
            }
            keep
        });
        for (k, sock) in &sockets {
            if !self.readers.contains_key(k) {
                let r = spawn_reader(
                    sock.clone(),
                    self.drv_tx.clone(),
                    self.by_vrid.clone(),
                    self.stats.clone(),
                );
                self.readers.insert(k.clone(), r);
            }
        }
        self.sockets = sockets;
        {
            let mut map = self.by_vrid.write().unwrap_or_else(|e| e.into_inner());
            map.clear();
            for (idx, inst) in new_cfg.instances.iter().enumerate() {
                let v6 = next.instances()[idx].params().af == Af::V6;
                let dev = self.wires[idx].key.0.clone();
                map.insert((dev, v6, inst.virtual_router_id), idx);
            }
        }
        // Sync group notifiers are rebuilt by name.
        let mut old_gn: Vec<Option<Option<Notifier>>> = std::mem::take(&mut self.group_notifiers)
            .into_iter()
            .map(Some)
            .collect();
        for g in &new_cfg.sync_groups {
            let old = old_cfg.sync_groups.iter().position(|o| {
                o.name == g.name && crate::config::model::same_ignoring_spans(&o.notify, &g.notify)
            });
            let n = match old.and_then(|o| old_gn[o].take()) {
                Some(n) => n,
                None => spawn_notifier(
                    &g.notify,
                    NotifyKind::Group,
                    &g.name,
                    &self.policy,
                    &mut self.spawned,
                ),
            };
            self.group_notifiers.push(n);
        }
        // vrrp_script runners: new or changed ones (re)start, untracked ones stop. A
        // restarted script's last result stays with its instances until it reports again.
        let wanted = tracked_scripts(&new_cfg);
        self.script_tasks.retain(|name, (def, task)| {
            let keep = wanted
                .iter()
                .any(|w| w.name == *name && same_script(w, def));
            if !keep {
                task.abort();
            }
            keep
        });
        for w in wanted {
            if !self.script_tasks.contains_key(&w.name) {
                let task = super::script::spawn(
                    w.clone(),
                    self.policy.clone(),
                    self.script_tx.clone(),
                    self.ctx.shutdown.clone(),
                );
                self.script_tasks.insert(w.name.clone(), (w.clone(), task));
            }
        }
        let statics = |c: &Config| {
            (
                c.static_ipaddress.clone(),
                c.static_routes.clone(),
                c.static_rules.clone(),
            )
        };
        if !crate::config::model::same_ignoring_spans(&statics(&old_cfg), &statics(&new_cfg)) {
            tracing::info!(target: "vrrp", "reload: static addresses, routes or rules changed; re-installing them");
            self.nl.release("static", &mut self.static_owned).await;
            install_static(&self.nl, &new_cfg, &mut self.static_owned).await;
        }
        *node = next;
        self.cfg = new_cfg.clone();
        self.stats
            .log_unknown_vrids
            .store(new_cfg.global.log_unknown_vrids, Ordering::Relaxed);
        *self
            .stats
            .instances
            .write()
            .unwrap_or_else(|e| e.into_inner()) = node
            .instances()
            .iter()
            .enumerate()
            .map(|(idx, i)| InstanceStatus {
                name: i.name().to_string(),
                state: i.state(),
                priority: self.priorities[idx],
                counters: i.counters().clone(),
            })
            .collect();
        // A kept MASTER whose VIPs change gets DelVips then AddVips from the core: the
        // executor applies the difference instead (see ExecMsg::Reconfigure), so the VIPs
        // that stay never go away.
        let mut rebuilt = rebuilt;
        let mut i = 0;
        while i < rebuilt.len() {
            let readd = match &rebuilt[i] {
                NodeAction::Instance {
                    instance,
                    action: Action::DelVips,
                } => rebuilt[i + 1..].iter().any(|a| {
                    matches!(a, NodeAction::Instance { instance: j, action: Action::AddVips } if j == instance)
                }),
                _ => false,
            };
            if readd {
                rebuilt.remove(i);
            } else {
                i += 1;
            }
        }
        self.execute(node, rebuilt, now).await;
        // track_file: the files of the new configuration are read now (new instances start
        // with their values, kept ones see a changed file or weight) and polled from here on.
        let files = super::track_file::tracked(&new_cfg);
        let initial = super::track_file::read_all(&files);
        for v in &initial {
            self.track_file_value(node, v, now).await;
        }
        self.file_watch = None;
        self.file_watch = start_file_watch(files, initial, &self.drv_tx);
        // track_process: the same blocks keep their poller (and any running fork/terminate
        // delay); their last status goes to the instances (new ones need it). Changed blocks
        // mean a new scan, whose status counts at once.
        let defs = super::track_process::tracked(&new_cfg);
        let initial = if crate::config::model::same_ignoring_spans(&defs, &self.process_defs) {
            self.process_status
                .iter()
                .map(|(name, up)| super::track_process::StatusChange {
                    name: name.clone(),
                    up: *up,
                })
                .collect()
        } else {
            self.process_watch = None;
            self.process_status.clear();
            let (initial, watch) = start_process_watch(defs.clone(), &self.drv_tx);
            self.process_watch = watch;
            self.process_defs = defs;
            initial
        };
        for c in &initial {
            self.track_process_status(node, c, now).await;
        }
        for idx in src_changed {
            let addr = self.wires[idx].src;
            tracing::info!(target: "vrrp", instance = %new_cfg.instances[idx].name, "sending adverts from {addr}");
            let acts = node.step(idx, Input::LocalAddress { addr }, now);
            self.execute(node, acts, now).await;
        }
        // New instances: as at daemon start.
        for (idx, old) in kept.iter().enumerate() {
            if old.is_some() {
                continue;
            }
            let addr = self.wires[idx].src;
            let acts = node.step(idx, Input::LocalAddress { addr }, now);
            self.execute(node, acts, now).await;
            let up = self.read_link(idx);
            let acts = node.step(idx, Input::LinkChanged { up }, now);
            self.execute(node, acts, now).await;
            let tracked: Vec<String> = node.instances()[idx]
                .params()
                .track_interfaces
                .iter()
                .map(|t| t.name.clone())
                .collect();
            for name in tracked {
                let up = super::link::link_up(&name).unwrap_or(false);
                self.link_state.insert(name.clone(), up);
                if !up {
                    let acts = node.step(idx, Input::TrackInterface { name, up }, now);
                    self.execute(node, acts, now).await;
                }
            }
            let acts = node.step(idx, Input::Startup, now);
            self.execute(node, acts, now).await;
        }
        tracing::info!(
            target: "vrrp",
            "VRRP configuration reloaded: {} instance(s) ({} kept, {} added, {} removed)",
            new_cfg.instances.len(),
            kept.iter().filter(|k| k.is_some()).count(),
            kept.iter().filter(|k| k.is_none()).count(),
            removed.len()
        );
    }

    fn spawn_notifier(&mut self, inst: &VrrpInstance) -> Option<Notifier> {
        let (n, t) = Notifier::spawn(
            inst.notify.clone(),
            NotifyKind::Instance,
            inst.name.clone(),
            self.policy.clone(),
            NOTIFY_TIMEOUT,
        )?;
        self.spawned.push(t);
        Some(n)
    }

    async fn handle(&mut self, node: &mut Node, msg: DriverMsg, now: Instant) {
        match msg {
            DriverMsg::Packet { router, packet } => {
                let found = self
                    .by_vrid
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(&router)
                    .copied();
                let Some(instance) = found else {
                    self.stats.unknown_vrid.fetch_add(1, Ordering::Relaxed);
                    return;
                };
                let acts = node.step(instance, Input::AdvertReceived { packet }, now);
                self.execute(node, acts, now).await;
            }
            DriverMsg::Script(s) => {
                for idx in 0..node.instances().len() {
                    let tracks = node.instances()[idx]
                        .params()
                        .track_scripts
                        .iter()
                        .any(|t| t.name == s.name);
                    if tracks {
                        let input = Input::TrackScript {
                            name: s.name.clone(),
                            ok: s.ok,
                        };
                        let acts = node.step(idx, input, now);
                        self.execute(node, acts, now).await;
                    }
                }
            }
            DriverMsg::TrackFile(v) => self.track_file_value(node, &v, now).await,
            DriverMsg::TrackProcess(c) => self.track_process_status(node, &c, now).await,
            DriverMsg::Link(LinkEvent::Link { ifname, up, .. }) => {
                self.link_changed(node, &ifname, up, now).await;
            }
            DriverMsg::Link(LinkEvent::AddrRemoved { ifindex, addr }) => {
                for tx in &self.exec_txs {
                    let _ = tx.send(ExecMsg::AddrRemoved { ifindex, addr });
                }
            }
            DriverMsg::Link(LinkEvent::AddrAdded { .. }) => {
                // Instances that started without a source address (IPv6 link-local still in
                // DAD, interface not configured yet) pick one up now.
                for idx in 0..self.cfg.instances.len() {
                    if self.wires[idx].src.is_unspecified() {
                        self.refresh_source(node, idx, now).await;
                    }
                }
            }
            DriverMsg::Link(LinkEvent::Resync) => {
                let names: Vec<String> = self.link_state.keys().cloned().collect();
                for name in names {
                    let up = super::link::link_up(&name).unwrap_or(false);
                    self.link_changed(node, &name, up, now).await;
                }
                for tx in &self.exec_txs {
                    let _ = tx.send(ExecMsg::Resync);
                }
            }
        }
    }

    async fn track_file_value(
        &mut self,
        node: &mut Node,
        v: &super::track_file::FileValue,
        now: Instant,
    ) {
        for idx in 0..node.instances().len() {
            let tracks = node.instances()[idx]
                .params()
                .track_files
                .iter()
                .any(|t| t.name == v.name);
            if tracks {
                let input = Input::TrackFile {
                    name: v.name.clone(),
                    value: v.value,
                };
                let acts = node.step(idx, input, now);
                self.execute(node, acts, now).await;
            }
        }
    }

    async fn track_process_status(
        &mut self,
        node: &mut Node,
        c: &super::track_process::StatusChange,
        now: Instant,
    ) {
        self.process_status.insert(c.name.clone(), c.up);
        for idx in 0..node.instances().len() {
            let tracks = node.instances()[idx]
                .params()
                .track_processes
                .iter()
                .any(|t| t.name == c.name);
            if tracks {
                let input = Input::TrackProcess {
                    name: c.name.clone(),
                    up: c.up,
                };
                let acts = node.step(idx, input, now);
                self.execute(node, acts, now).await;
            }
        }
    }

    async fn link_changed(&mut self, node: &mut Node, ifname: &str, up: bool, now: Instant) {
        match self.link_state.get(ifname) {
            Some(&old) if old == up => {
                // Down, then deleted (RTM_DELLINK after the carrier loss): close its socket now.
                if !up {
                    self.close_stale_sockets(ifname);
                    self.recreate_lost_vmac(node, ifname).await;
                }
                return;
            }
            None => return, // not an interface we care about
            _ => {}
        }
        self.link_state.insert(ifname.to_string(), up);
        tracing::info!(target: "vrrp", "interface {ifname} is {}", if up { "up" } else { "down" });
        // An interface deleted (and maybe re-created under the same name) leaves sockets
        // bound to an ifindex that is gone: close them, so the instances stay in FAULT
        // until new ones are open on the new interface.
        self.close_stale_sockets(ifname);
        if up {
            self.open_missing_sockets(node, ifname, now).await;
        }
        for idx in 0..self.cfg.instances.len() {
            if self.cfg.instances[idx].interface == ifname
                || self.wires[idx].key.0 == ifname
                || self.vip_dev[idx] == ifname
            {
                let up = self.link_usable(idx);
                let acts = node.step(idx, Input::LinkChanged { up }, now);
                self.execute(node, acts, now).await;
            }
            let tracks = node.instances()[idx]
                .params()
                .track_interfaces
                .iter()
                .any(|t| t.name == ifname);
            if tracks {
                let input = Input::TrackInterface {
                    name: ifname.to_string(),
                    up,
                };
                let acts = node.step(idx, input, now);
                self.execute(node, acts, now).await;
            }
        }
        if !up {
            self.recreate_lost_vmac(node, ifname).await;
        }
    }

    /// A VMAC deleted by hand while its base interface is still up is made again at once,
    /// as keepalived does (its instances are in FAULT meanwhile; the new VMAC's "up" opens
    /// their socket again).
    async fn recreate_lost_vmac(&mut self, node: &Node, ifname: &str) {
        if self.nl.dry_run || vmac::exists(ifname) {
            return;
        }
        for idx in 0..self.cfg.instances.len() {
            let inst = &self.cfg.instances[idx];
            let base_up = self.link_state.get(&inst.interface).copied() == Some(true);
            if inst.use_vmac.is_none() || self.vip_dev[idx] != ifname || !base_up {
                continue;
            }
            if !vmac::exists(&inst.interface) {
                continue;
            }
            tracing::warn!(target: "vrrp", instance = %inst.name, "VMAC {ifname} was deleted; making it again");
            let cfg = self.cfg.clone();
            let v6 = node.instances()[idx].params().af == Af::V6;
            self.vmacs.setup(&self.nl, &cfg.instances[idx], v6).await;
            return;
        }
    }

    /// Read the state of an instance's interface (and of its VMAC, when its adverts leave
    /// from one) into `link_state`, so later changes of either are seen; returns
    /// [`Driver::link_usable`].
    fn read_link(&mut self, idx: usize) -> bool {
        let inst = &self.cfg.instances[idx];
        let mut names = vec![inst.interface.clone()];
        for dev in [&self.wires[idx].key.0, &self.vip_dev[idx]] {
            // A dry run makes no VMAC: only the base interface counts.
            if !names.contains(dev) && !self.nl.dry_run {
                names.push(dev.clone());
            }
        }
        for name in names {
            let up = super::link::link_up(&name).unwrap_or(false);
            self.link_state.insert(name, up);
        }
        self.link_usable(idx)
    }

    /// Can the instance run? Its interface is up, so is the VMAC its adverts leave from (as
    /// keepalived, a VMAC deleted or set down means FAULT), and its socket is open.
    fn link_usable(&self, idx: usize) -> bool {
        let up = |name: &str| {
            self.nl.dry_run && name != self.cfg.instances[idx].interface
                || self.link_state.get(name).copied().unwrap_or(false)
        };
        let w = &self.wires[idx];
        up(&self.cfg.instances[idx].interface)
            && up(&w.key.0)
            && up(&self.vip_dev[idx])
            && w.socket.is_some()
    }

    /// Pick the instance's advert source address again. An IPv6 instance sending from its
    /// VMAC first gets the base interface's link-local address copied onto the VMAC (the
    /// kernel only sends from a link-local address of the sending interface). No address:
    /// the source becomes unspecified and the next address notification tries again.
    async fn refresh_source(&mut self, node: &mut Node, idx: usize, now: Instant) {
        let cfg = self.cfg.clone();
        let inst = &cfg.instances[idx];
        let v6 = node.instances()[idx].params().af == Af::V6;
        let old = self.wires[idx].src;
        match local_address(inst, v6) {
            Some(addr) => {
                if v6 && self.wires[idx].key.0 != inst.interface {
                    self.vmacs.setup(&self.nl, inst, v6).await;
                }
                if addr != old {
                    tracing::info!(target: "vrrp", instance = %inst.name, "sending adverts from {addr}");
                    self.wires[idx].src = addr;
                    let acts = node.step(idx, Input::LocalAddress { addr }, now);
                    self.execute(node, acts, now).await;
                }
            }
            None if !old.is_unspecified() => {
                tracing::warn!(target: "vrrp", instance = %inst.name, "{} has no {} address any more; waiting for one", inst.interface, if v6 { "link-local IPv6" } else { "IPv4" });
                self.wires[idx].src = unspecified(v6);
            }
            None => {}
        }
    }

    /// Close the sockets of instances on `ifname` (or on their VMAC over it) whose interface
    /// no longer exists or now has another ifindex.
    fn close_stale_sockets(&mut self, ifname: &str) {
        let mut stale: Vec<SockKey> = Vec::new();
        for (idx, inst) in self.cfg.instances.iter().enumerate() {
            let w = &self.wires[idx];
            if inst.interface != ifname && w.key.0 != ifname {
                continue;
            }
            let Some(sock) = &w.socket else { continue };
            let now_index = nix::net::if_::if_nametoindex(w.key.0.as_str()).ok();
            if now_index != Some(sock.ifindex) && !stale.contains(&w.key) {
                stale.push(w.key.clone());
            }
        }
        for key in stale {
            tracing::warn!(target: "vrrp", "interface {} (ifindex {}) is gone: closing its VRRP socket", key.0, self.sockets.get(&key).map_or(0, |s| s.ifindex));
            self.sockets.remove(&key);
            if let Some(r) = self.readers.remove(&key) {
                r.abort();
            }
            for w in self.wires.iter_mut().filter(|w| w.key == key) {
                w.socket = None;
            }
        }
    }

    /// Instances on `ifname` without a socket (interface missing at startup or reload, or
    /// deleted and re-created since) open it now, with a reader, and pick up their source
    /// address. A use_vmac instance first gets its VMAC back: the kernel deletes a macvlan
    /// with its base interface.
    async fn open_missing_sockets(&mut self, node: &mut Node, ifname: &str, now: Instant) {
        for idx in 0..self.cfg.instances.len() {
            let on_it =
                self.wires[idx].key.0 == ifname || self.cfg.instances[idx].interface == ifname;
            if self.wires[idx].socket.is_some() || !on_it {
                continue;
            }
            let cfg = self.cfg.clone();
            let inst = &cfg.instances[idx];
            if inst.use_vmac.is_some() && inst.interface == ifname && !self.nl.dry_run {
                let v6 = node.instances()[idx].params().af == Af::V6;
                // Same name as before, so vip_dev and the socket key stay right.
                self.vmacs.setup(&self.nl, inst, v6).await;
            }
            let key = self.wires[idx].key.clone();
            match open_socket(&cfg, &key, &mut self.sockets) {
                Ok(s) => {
                    tracing::info!(target: "vrrp", instance = %inst.name, "interface {ifname} is back: VRRP socket open on {} (ifindex {})", key.0, s.ifindex);
                    if !self.readers.contains_key(&key) {
                        let r = spawn_reader(
                            s.clone(),
                            self.drv_tx.clone(),
                            self.by_vrid.clone(),
                            self.stats.clone(),
                        );
                        self.readers.insert(key.clone(), r);
                    }
                    self.wires[idx].socket = Some(s);
                    // A re-created interface may have other addresses (a new MAC makes a new
                    // IPv6 link-local address).
                    self.refresh_source(node, idx, now).await;
                }
                Err(e) => {
                    tracing::error!(target: "vrrp", instance = %inst.name, "interface {ifname} is up but cannot be opened: {e:#}; the instance stays in FAULT");
                }
            }
        }
    }

    async fn execute(&mut self, node: &Node, actions: Vec<NodeAction>, now: Instant) {
        let mut touched = Vec::new();
        for a in group_events_in_keepalived_order(actions) {
            match a {
                NodeAction::Instance { instance, action } => {
                    if !touched.contains(&instance) {
                        touched.push(instance);
                    }
                    self.instance_action(node, instance, action, now).await;
                }
                NodeAction::Group { group, transition } => self.group_transition(group, transition),
            }
        }
        // After the actions: a transition already reported its priority.
        self.report_priority_changes(node, &mut touched);
        if !touched.is_empty() {
            let mut st = self
                .stats
                .instances
                .write()
                .unwrap_or_else(|e| e.into_inner());
            for idx in touched {
                if let (Some(s), Some(i)) = (st.get_mut(idx), node.instances().get(idx)) {
                    s.state = i.state();
                    s.priority = self.priorities[idx];
                    s.counters = i.counters().clone();
                }
            }
        }
    }

    /// Effective priorities that changed without a transition (tracking weights): reported
    /// as [`Event::VrrpPriority`] for MASTER and BACKUP instances (status, metrics,
    /// `notify_priority_changes`). Transitions carry their own priority.
    fn report_priority_changes(&mut self, node: &Node, touched: &mut Vec<usize>) {
        for (idx, inst) in node.instances().iter().enumerate() {
            let Some(last) = self.priorities.get(idx).copied() else {
                continue;
            };
            let now = inst.effective_priority();
            if now == last {
                continue;
            }
            self.priorities[idx] = now;
            touched.push(idx);
            let state = inst.state().name();
            use crate::events::VrrpStateName as S;
            if matches!(state, S::Master | S::Backup) {
                let _ = self.ctx.events.send(Event::VrrpPriority {
                    instance: self.cfg.instances[idx].name.clone(),
                    state,
                    priority: now,
                });
            }
        }
    }

    async fn instance_action(&mut self, node: &Node, idx: usize, action: Action, now: Instant) {
        let name = &self.cfg.instances[idx].name;
        match action {
            Action::SendAdvert { packet, ah_seq } => {
                let auth = node.instances()[idx].auth().clone();
                self.send_advert(idx, &packet, ah_seq, &auth).await;
            }
            Action::AddVips => {
                let _ = self.exec_txs[idx].send(ExecMsg::AddVips);
            }
            Action::DelVips => {
                let _ = self.exec_txs[idx].send(ExecMsg::DelVips);
            }
            Action::SendGratuitous { repeat } => {
                let (garp_interval, gna_interval) = self.cfg.garp_intervals(&self.vip_dev[idx]);
                let _ = self.exec_txs[idx].send(ExecMsg::Garp {
                    repeat,
                    garp_interval,
                    gna_interval,
                });
            }
            Action::SendGratuitousExtra { all } => {
                let _ = self.exec_txs[idx].send(ExecMsg::GarpExtra { all });
            }
            Action::NotifyMasterRxLowerPri {
                from,
                priority,
                ours,
            } => {
                tracing::info!(target: "vrrp", instance = %name, "MASTER received a lower-priority advert from {from} (priority {priority}, ours {ours})");
                // The fifo line is written whether or not a script is configured, as keepalived's.
                let _ = self.ctx.events.send(Event::VrrpMasterRxLowerPri {
                    instance: name.to_string(),
                    priority: ours,
                    peer: from,
                    peer_priority: priority,
                });
                if let Some(cmd) = self.cfg.instances[idx].notify_master_rx_lower_pri.clone() {
                    let policy = self.policy.clone();
                    self.spawned.push(tokio::spawn(async move {
                        let label = format!("{} (notify_master_rx_lower_pri)", cmd.raw);
                        match super::notify::run_command(&label, &cmd.argv, &[], &policy, NOTIFY_TIMEOUT).await {
                            Ok(Some(0)) => {}
                            Ok(code) => tracing::warn!(target: "vrrp", "notify {label}: exit status {code:?} (configured at {})", cmd.span),
                            Err(e) => tracing::error!(target: "vrrp", "notify: {e} (configured at {})", cmd.span),
                        }
                    }));
                }
            }
            Action::ArmTimer { timer, after } => self.timers.arm(idx, timer, now + after),
            Action::DisarmTimer { timer } => self.timers.disarm(idx, timer),
            Action::Notify(t) => {
                self.priorities[idx] = t.priority;
                if t.from == VrrpState::Init && matches!(t.to, VrrpState::Backup | VrrpState::Fault)
                {
                    // VIPs left by a run that could not clean up (SIGKILL, crash) would make
                    // this BACKUP answer for them too; keepalived removes them here as well.
                    let _ = self.exec_txs[idx].send(ExecMsg::ClearStale);
                }
                let reason = transition_reason(&t);
                // Structured fields too: journald gets INSTANCE=, OLD_STATE=, STATE=, ...
                tracing::info!(
                    target: "vrrp",
                    instance = %t.instance,
                    old_state = %t.from.name().as_str(),
                    state = %t.to.name().as_str(),
                    priority = t.priority,
                    reason = %reason,
                    "VRRP instance {}: {} -> {} ({reason}), priority {}",
                    t.instance,
                    t.from.name().as_str(),
                    t.to.name().as_str(),
                    t.priority
                );
                let _ = self.ctx.events.send(Event::VrrpInstance {
                    instance: t.instance.clone(),
                    from: t.from.name(),
                    to: t.to.name(),
                    priority: t.priority,
                    reason,
                });
                if let Some(n) = &self.notifiers[idx] {
                    n.notify(t.to.name(), t.priority);
                }
            }
            Action::CountDrop { reason } => {
                tracing::debug!(target: "vrrp", instance = %name, "dropped advert: {reason:?}");
            }
            Action::Log { level, message } => match level {
                LogLevel::Info => tracing::info!(target: "vrrp", instance = %name, "{message}"),
                LogLevel::Warn => tracing::warn!(target: "vrrp", instance = %name, "{message}"),
            },
            Action::SyncWantMaster { .. } | Action::SyncMemberFault { .. } => {}
        }
    }

    fn group_transition(&mut self, group: usize, t: GroupTransition) {
        tracing::info!(
            target: "vrrp",
            "VRRP sync group {}: {} -> {} ({})",
            t.group,
            t.from.name().as_str(),
            t.to.name().as_str(),
            t.reason
        );
        let _ = self.ctx.events.send(Event::VrrpSyncGroup {
            group: t.group.clone(),
            from: t.from.name(),
            to: t.to.name(),
            reason: t.reason.clone(),
        });
        if let Some(Some(n)) = self.group_notifiers.get(group) {
            n.notify(t.to.name(), 0);
        }
    }

    async fn send_advert(
        &mut self,
        idx: usize,
        p: &packet::VrrpPacket,
        ah_seq: Option<u32>,
        auth: &Auth,
    ) {
        let name = self.cfg.instances[idx].name.clone();
        let w = &mut self.wires[idx];
        let mut ok = true;
        // One IP ID per advert, shared by its copies to each unicast peer, as keepalived.
        w.ip_id = w.ip_id.wrapping_add(1);
        for &dst in &w.dsts {
            let (bytes, src) = match (w.src, dst) {
                (IpAddr::V4(src), IpAddr::V4(d)) => {
                    let ah = match (auth, ah_seq) {
                        (Auth::Ah(key), Some(seq)) => Some(AhParams {
                            key,
                            seq,
                            unicast: !d.is_multicast(),
                        }),
                        _ => None,
                    };
                    let ip = Ipv4Params {
                        src,
                        dst: d,
                        id: w.ip_id,
                    };
                    let ttl = match self.cfg.instances[idx].unicast_ttl {
                        Some(t) if !d.is_multicast() => t,
                        _ => packet::VRRP_TTL,
                    };
                    (packet::encode_ipv4_ttl(p, &ip, ah, ttl), None)
                }
                (src, dst) => (packet::encode_vrrp(p, src, dst), Some(src)),
            };
            let bytes = match bytes {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(target: "vrrp", instance = %name, "cannot encode advert: {e}");
                    ok = false;
                    continue;
                }
            };
            let Some(socket) = &w.socket else {
                // Interface missing: the instance is in FAULT and has nothing to send on.
                ok = false;
                continue;
            };
            let hops = self.cfg.instances[idx]
                .unicast_ttl
                .filter(|_| dst.is_ipv6() && !dst.is_multicast());
            if let Err(e) = socket.send_hops(&bytes, src, dst, hops).await {
                self.stats.send_errors.fetch_add(1, Ordering::Relaxed);
                ok = false;
                if !w.send_failing {
                    tracing::warn!(target: "vrrp", instance = %name, "{e}");
                }
            }
        }
        if ok && w.send_failing {
            tracing::info!(target: "vrrp", instance = %name, "sending adverts works again");
        }
        w.send_failing = !ok;
    }
}

/// keepalived's order of a sync group's events against its members' (notify scripts,
/// notify_fifo lines, alerts), checked side by side with keepalived 2.2.7: a group starting
/// in BACKUP says so before its members; every other group transition (MASTER, BACKUP,
/// FAULT, STOP, and INIT → FAULT at start) comes after all of the members' transitions of
/// the same step, not right after the member that set it off. The order of everything else
/// is kept.
fn group_events_in_keepalived_order(actions: Vec<NodeAction>) -> Vec<NodeAction> {
    let is_group = |a: &NodeAction| matches!(a, NodeAction::Group { .. });
    if !actions.iter().any(is_group) {
        return actions;
    }
    let (groups, rest): (Vec<_>, Vec<_>) = actions.into_iter().partition(is_group);
    let (initial, later): (Vec<_>, Vec<_>) = groups.into_iter().partition(|a| {
        matches!(a, NodeAction::Group { transition, .. }
            if transition.from == VrrpState::Init && transition.to == VrrpState::Backup)
    });
    initial.into_iter().chain(rest).chain(later).collect()
}

/// Does the instance drop traffic for its VIPs while MASTER? `no_accept`, or strict mode
/// (its own `strict_mode`, else the global `vrrp_strict`) without `accept` (keepalived's
/// default); never the address owner (RFC 5798: the owner accepts whatever Accept_Mode says).
fn no_accept(inst: &VrrpInstance, vrrp_strict: bool) -> bool {
    let accept = inst
        .accept
        .unwrap_or(!inst.strict_mode.unwrap_or(vrrp_strict));
    !accept && inst.priority != super::fsm::PRIORITY_OWNER
}

/// Work that a later DelVips makes pointless (and harmful: see the executor).
fn undone_by_del_vips(msg: &ExecMsg) -> bool {
    matches!(
        msg,
        ExecMsg::AddVips | ExecMsg::Garp { .. } | ExecMsg::GarpExtra { .. }
    )
}

/// Is `msg` undone by a message queued after it? Adding and announcing VIPs is undone by a
/// DelVips; clearing stale VIPs by an AddVips (MASTER already: they are kept and adopted).
fn superseded<'a>(msg: &ExecMsg, later: impl IntoIterator<Item = &'a ExecMsg>) -> bool {
    let undoer = match msg {
        m if undone_by_del_vips(m) => |m: &ExecMsg| matches!(m, ExecMsg::DelVips),
        ExecMsg::ClearStale => |m: &ExecMsg| matches!(m, ExecMsg::AddVips),
        _ => return false,
    };
    later.into_iter().any(undoer)
}

fn exec_msg_name(msg: &ExecMsg) -> &'static str {
    match msg {
        ExecMsg::AddVips => "adding the VIPs",
        ExecMsg::Garp { .. } => "gratuitous ARP/NA",
        ExecMsg::GarpExtra { .. } => "garp_extra_if",
        ExecMsg::ClearStale => "removing VIPs left by an earlier run",
        _ => "work",
    }
}

/// (interface name, address) of every address in this network namespace.
fn present_addresses() -> Vec<(String, IpAddr)> {
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    addrs
        .filter_map(|a| {
            let sa = a.address?;
            let ip = if let Some(v4) = sa.as_sockaddr_in() {
                IpAddr::V4(v4.ip())
            } else {
                IpAddr::V6(sa.as_sockaddr_in6()?.ip())
            };
            Some((a.interface_name, ip))
        })
        .collect()
}

/// Carries out one instance's address and GARP work, in order.
async fn executor(
    mut inst: VrrpInstance,
    vip_dev: String,
    vrrp_strict: bool,
    nl: Netlink,
    mut rx: mpsc::UnboundedReceiver<ExecMsg>,
) {
    let mut owned = Owned::default();
    let mut garp: Option<GarpSender> = None;
    let vmac_mac = inst.use_vmac.as_ref().map(|_| {
        vmac::vmac_address(
            inst.virtual_router_id,
            inst.virtual_ipaddress
                .first()
                .is_some_and(|v| v.addr.is_ipv6()),
        )
    });
    let mut name = inst.name.clone();
    // Messages taken off the channel early, to look ahead (see `superseded`).
    let mut backlog: std::collections::VecDeque<ExecMsg> = std::collections::VecDeque::new();
    loop {
        let msg = match backlog.pop_front() {
            Some(m) => m,
            None => match rx.recv().await {
                Some(m) => m,
                None => break,
            },
        };
        // The instance may have left MASTER while this work waited its turn (two routers
        // that both became MASTER settle it within one advert, and a slow executor is
        // still behind then). Adding the VIPs and announcing them now would point the
        // neighbours at a router that is about to drop them, after the real master's
        // announcement: skip the work a queued DelVips undoes.
        if undone_by_del_vips(&msg) || matches!(msg, ExecMsg::ClearStale) {
            while let Ok(m) = rx.try_recv() {
                backlog.push_back(m);
            }
            if superseded(&msg, &backlog) {
                tracing::info!(target: "vrrp", instance = %name, "{} skipped: the instance left MASTER meanwhile", exec_msg_name(&msg));
                continue;
            }
        }
        match msg {
            ExecMsg::AddVips => {
                let wanted = Wanted {
                    vips: &inst.virtual_ipaddress,
                    excluded: &inst.virtual_ipaddress_excluded,
                    routes: &inst.virtual_routes,
                    rules: &inst.virtual_rules,
                    no_accept: no_accept(&inst, vrrp_strict),
                };
                nl.install(&name, &vip_dev, wanted, &mut owned).await;
                tracing::info!(target: "vrrp", instance = %name, "VIPs added on {vip_dev}");
            }
            ExecMsg::DelVips => {
                if !owned.is_empty() {
                    nl.release(&name, &mut owned).await;
                    tracing::info!(target: "vrrp", instance = %name, "VIPs removed");
                }
            }
            ExecMsg::GarpExtra { all } => {
                if nl.dry_run || !all {
                    // Without `all` only VMAC interfaces of per-address use_vmac would get
                    // them; rampart has none besides the instance's own.
                    continue;
                }
                let own = inst.interface.clone();
                let mut by_dev: Vec<(String, Vec<IpAddr>)> = Vec::new();
                for v in inst
                    .virtual_ipaddress
                    .iter()
                    .chain(&inst.virtual_ipaddress_excluded)
                {
                    let Some(dev) = v.dev.as_ref().filter(|d| **d != own && **d != vip_dev) else {
                        continue;
                    };
                    match by_dev.iter_mut().find(|(d, _)| d == dev) {
                        Some((_, a)) => a.push(v.addr),
                        None => by_dev.push((dev.clone(), vec![v.addr])),
                    }
                }
                for (dev, addrs) in by_dev {
                    let r = GarpSender::open(&dev, None).and_then(|g| g.announce(&addrs));
                    if let Err(e) = r {
                        tracing::warn!(target: "vrrp", instance = %name, "garp_extra_if on {dev}: {e}");
                    }
                }
            }
            ExecMsg::Garp {
                repeat,
                garp_interval,
                gna_interval,
            } => {
                if nl.dry_run {
                    tracing::info!(target: "vrrp", instance = %name, "dry-run: would send {repeat} gratuitous ARP/NA round(s)");
                    continue;
                }
                // The interface may have been deleted and re-created since (new ifindex,
                // and a veth or VLAN gets a new MAC): open the sender again then.
                let current = nix::net::if_::if_nametoindex(vip_dev.as_str()).ok();
                if garp.as_ref().is_some_and(|g| Some(g.ifindex) != current) {
                    garp = None;
                }
                if garp.is_none() {
                    match GarpSender::open(&vip_dev, vmac_mac) {
                        Ok(g) => garp = Some(g),
                        Err(e) => {
                            tracing::warn!(target: "vrrp", instance = %name, "{e}");
                            continue;
                        }
                    }
                }
                let Some(g) = &garp else { continue };
                let addrs: Vec<IpAddr> = inst.virtual_ipaddress.iter().map(|v| v.addr).collect();
                if garp_interval.is_zero() && gna_interval.is_zero() {
                    for _ in 0..repeat.max(1) {
                        if let Err(e) = g.announce(&addrs) {
                            tracing::warn!(target: "vrrp", instance = %name, "{e}");
                            break;
                        }
                    }
                } else {
                    // keepalived spaces messages on one interface by vrrp_garp_interval
                    // (ARP) / vrrp_gna_interval (NA), for switches that drop floods.
                    let mut failed = false;
                    for _ in 0..repeat.max(1) {
                        for a in &addrs {
                            if let Err(e) = g.announce(std::slice::from_ref(a)) {
                                tracing::warn!(target: "vrrp", instance = %name, "{e}");
                                failed = true;
                                break;
                            }
                            let pause = if a.is_ipv4() {
                                garp_interval
                            } else {
                                gna_interval
                            };
                            if !pause.is_zero() {
                                tokio::time::sleep(pause).await;
                            }
                        }
                        if failed {
                            break;
                        }
                    }
                }
            }
            ExecMsg::AddrRemoved { ifindex, addr } => {
                let found = owned
                    .addrs
                    .iter()
                    .find(|(k, _)| k.ifindex == ifindex && k.addr == addr)
                    .cloned();
                if let Some((k, v)) = found {
                    tracing::warn!(target: "vrrp", instance = %name, "VIP {k} was removed behind our back; putting it back");
                    if let Err(e) = nl.add_addr(&k, &v).await {
                        tracing::error!(target: "vrrp", instance = %name, "{e}");
                    }
                }
            }
            ExecMsg::Reconfigure(new) => {
                // While MASTER the VIPs change on the fly: the ones no longer configured go
                // now, the new ones come with the AddVips that follows. Routes and rules
                // are re-installed when they changed.
                if !owned.is_empty() {
                    let mut keep = Vec::new();
                    for vip in new
                        .virtual_ipaddress
                        .iter()
                        .chain(&new.virtual_ipaddress_excluded)
                    {
                        if let Ok(k) = nl.key_of(vip, &vip_dev) {
                            keep.push((k, vip.clone()));
                        }
                    }
                    let (stay, gone): (Vec<_>, Vec<_>) = std::mem::take(&mut owned.addrs)
                        .into_iter()
                        .partition(|(k, v)| {
                            keep.iter().any(|(nk, nv)| {
                                nk == k
                                    && VirtualIp {
                                        span: v.span.clone(),
                                        ..nv.clone()
                                    } == *v
                            })
                        });
                    owned.addrs = stay;
                    for (k, v) in gone.iter().rev() {
                        match nl.del_addr(k, v).await {
                            Ok(()) => {
                                tracing::info!(target: "vrrp", instance = %name, "reload: VIP {k} removed")
                            }
                            Err(e) => tracing::error!(target: "vrrp", instance = %name, "{e}"),
                        }
                        // Its no_accept drop rule goes with it.
                        if let Some(pos) = owned.blocked.iter().position(|a| *a == k.addr) {
                            owned.blocked.remove(pos);
                            if let Err(e) = nl.firewall.unblock(k.addr).await {
                                tracing::error!(target: "vrrp", instance = %name, "no_accept for {}: {e}", k.addr);
                            }
                        }
                    }
                    if !crate::config::model::same_ignoring_spans(
                        &(&new.virtual_routes, &new.virtual_rules),
                        &(&inst.virtual_routes, &inst.virtual_rules),
                    ) {
                        let mut routing = Owned {
                            routes: std::mem::take(&mut owned.routes),
                            rules: std::mem::take(&mut owned.rules),
                            ..Owned::default()
                        };
                        nl.release(&name, &mut routing).await;
                    }
                }
                inst = *new;
                name = inst.name.clone();
            }
            ExecMsg::KeepInstalled => {
                owned = Owned::default();
            }
            ExecMsg::ClearStale => {
                if nl.dry_run || !owned.addrs.is_empty() {
                    continue;
                }
                let present = present_addresses();
                for vip in inst
                    .virtual_ipaddress
                    .iter()
                    .chain(&inst.virtual_ipaddress_excluded)
                {
                    let Ok(k) = nl.key_of(vip, &vip_dev) else {
                        continue;
                    };
                    if !present.contains(&(k.ifname.clone(), k.addr)) {
                        continue;
                    }
                    match nl.del_addr(&k, vip).await {
                        Ok(()) => {
                            tracing::warn!(target: "vrrp", instance = %name, "VIP {k} was on the interface while not MASTER (left by an earlier run?); removed")
                        }
                        Err(e) => tracing::error!(target: "vrrp", instance = %name, "{e}"),
                    }
                }
            }
            ExecMsg::Resync => {
                for (k, v) in owned.addrs.clone() {
                    if let Err(e) = nl.add_addr(&k, &v).await {
                        tracing::error!(target: "vrrp", instance = %name, "{e}");
                    }
                }
            }
        }
    }
    // Channel closed (shutdown): whatever is still installed goes.
    if !owned.is_empty() {
        nl.release(&name, &mut owned).await;
    }
}

/// Start the notify queue of an instance or sync group (None when it has no notify script),
/// keeping its task handle in `tasks` so shutdown can wait for queued scripts.
fn spawn_notifier(
    scripts: &crate::config::NotifyScripts,
    kind: NotifyKind,
    name: &str,
    policy: &ScriptPolicy,
    tasks: &mut Vec<tokio::task::JoinHandle<()>>,
) -> Option<Notifier> {
    let (n, t) = Notifier::spawn(
        scripts.clone(),
        kind,
        name.to_string(),
        policy.clone(),
        NOTIFY_TIMEOUT,
    )?;
    tasks.push(t);
    Some(n)
}

/// Aborts background tasks when dropped (engine stop, reload replacing them).
struct AbortOnDrop(Vec<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

/// Poll the tracked files (values in `initial` already delivered) and forward changes to the
/// driver.
fn start_file_watch(
    files: Vec<crate::config::TrackFile>,
    initial: Vec<super::track_file::FileValue>,
    drv_tx: &mpsc::UnboundedSender<DriverMsg>,
) -> Option<AbortOnDrop> {
    if files.is_empty() {
        return None;
    }
    let (file_tx, mut file_rx) = mpsc::unbounded_channel();
    let poller = super::track_file::spawn(files, initial, file_tx);
    let tx = drv_tx.clone();
    let forward = tokio::spawn(async move {
        while let Some(v) = file_rx.recv().await {
            if tx.send(DriverMsg::TrackFile(v)).is_err() {
                return;
            }
        }
    });
    Some(AbortOnDrop(vec![poller, forward]))
}

/// Scan the processes the configuration tracks (the status the instances start with) and
/// poll for changes from then on, forwarding them to the driver.
fn start_process_watch(
    defs: Vec<crate::config::TrackProcess>,
    drv_tx: &mpsc::UnboundedSender<DriverMsg>,
) -> (Vec<super::track_process::StatusChange>, Option<AbortOnDrop>) {
    if defs.is_empty() {
        return (Vec::new(), None);
    }
    let (core, scanner, initial) = super::track_process::start(defs);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let poller = super::track_process::spawn(core, scanner, tx);
    let drv = drv_tx.clone();
    let forward = tokio::spawn(async move {
        while let Some(c) = rx.recv().await {
            if drv.send(DriverMsg::TrackProcess(c)).is_err() {
                return;
            }
        }
    });
    (initial, Some(AbortOnDrop(vec![poller, forward])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_accept_follows_the_instance_strict_mode() {
        let mut inst = VrrpInstance::new("VI_1", "eth0", 1, crate::config::Span::builtin());
        assert!(!no_accept(&inst, false));
        assert!(no_accept(&inst, true), "vrrp_strict implies no_accept");
        inst.strict_mode = Some(true);
        assert!(
            no_accept(&inst, false),
            "so does the instance's strict_mode"
        );
        inst.strict_mode = Some(false);
        assert!(
            !no_accept(&inst, true),
            "strict_mode off overrides vrrp_strict"
        );
        inst.strict_mode = Some(true);
        inst.accept = Some(true);
        assert!(!no_accept(&inst, false), "accept wins");
        inst.accept = None;
        inst.priority = 255;
        assert!(!no_accept(&inst, true), "the address owner accepts");
    }

    #[test]
    fn work_a_queued_del_vips_undoes_is_skipped() {
        let garp = || ExecMsg::Garp {
            repeat: 5,
            garp_interval: Duration::ZERO,
            gna_interval: Duration::ZERO,
        };
        // MASTER, then BACKUP before the executor got to it: nothing to add or announce.
        assert!(superseded(&ExecMsg::AddVips, &[garp(), ExecMsg::DelVips]));
        assert!(superseded(&garp(), &[ExecMsg::DelVips]));
        assert!(superseded(
            &ExecMsg::GarpExtra { all: true },
            &[ExecMsg::DelVips]
        ));
        // MASTER again afterwards: the later AddVips / Garp are not followed by a DelVips.
        assert!(!superseded(&ExecMsg::AddVips, &[garp()]));
        assert!(!superseded(&garp(), &[]));
        // Other work keeps its turn.
        assert!(!superseded(&ExecMsg::Resync, &[ExecMsg::DelVips]));
        assert!(!superseded(&ExecMsg::DelVips, &[ExecMsg::DelVips]));
        // Stale VIPs are kept when the instance is MASTER by the time they would go.
        assert!(superseded(&ExecMsg::ClearStale, &[ExecMsg::AddVips]));
        assert!(!superseded(&ExecMsg::ClearStale, &[ExecMsg::Resync]));
    }

    #[test]
    fn group_events_go_after_members_except_a_first_backup() {
        let group = |from, to| NodeAction::Group {
            group: 0,
            transition: GroupTransition {
                group: "G".into(),
                from,
                to,
                reason: String::new(),
            },
        };
        let member = |instance| NodeAction::Instance {
            instance,
            action: Action::DisarmTimer {
                timer: TimerKind::Advert,
            },
        };
        let order = |acts: Vec<NodeAction>| -> Vec<String> {
            group_events_in_keepalived_order(acts)
                .iter()
                .map(|a| match a {
                    NodeAction::Group { transition, .. } => {
                        format!("G:{}", transition.to.name().as_str())
                    }
                    NodeAction::Instance { instance, .. } => format!("I{instance}"),
                })
                .collect()
        };
        use VrrpState::*;
        assert_eq!(
            order(vec![member(1), group(Master, Fault), member(0)]),
            ["I1", "I0", "G:FAULT"]
        );
        assert_eq!(
            order(vec![member(0), member(1), group(Init, Backup)]),
            ["G:BACKUP", "I0", "I1"]
        );
        assert_eq!(
            order(vec![member(0), group(Init, Fault), member(1)]),
            ["I0", "I1", "G:FAULT"]
        );
        assert_eq!(order(vec![member(0), member(1)]), ["I0", "I1"]);
    }

    #[test]
    fn rearming_replaces_and_disarm_cancels() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut q = TimerQueue::default();
        q.arm(0, TimerKind::Advert, t0 + s);
        q.arm(1, TimerKind::MasterDown, t0 + 3 * s);
        q.arm(0, TimerKind::Advert, t0 + 2 * s); // replaces the first
        assert_eq!(q.next(), Some(t0 + 2 * s));
        assert_eq!(q.pop_due(t0 + s), None);
        assert_eq!(q.pop_due(t0 + 2 * s), Some((0, TimerKind::Advert)));
        assert_eq!(q.pop_due(t0 + 2 * s), None);
        q.disarm(1, TimerKind::MasterDown);
        assert_eq!(q.next(), None);
        assert_eq!(q.pop_due(t0 + 10 * s), None);
    }

    #[test]
    fn same_instant_timers_all_fire() {
        let t0 = Instant::now();
        let mut q = TimerQueue::default();
        q.arm(2, TimerKind::GarpDelay, t0);
        q.arm(1, TimerKind::Advert, t0);
        let mut fired = Vec::new();
        while let Some(x) = q.pop_due(t0) {
            fired.push(x);
        }
        assert_eq!(fired.len(), 2);
    }
}
