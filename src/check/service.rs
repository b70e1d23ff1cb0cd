//! The checker engine's I/O shell.
//!
//! ```text
//!   timer heap (one for all probes) ──due──▶ spawn probe task (socket/TLS/script, budgeted)
//!        ▲                                              │ (ProbeId, Outcome)
//!        │ Schedule                                     ▼
//!   Core::step (pure) ◀──────────────────────── results channel
//!        │ Emit / RunScript / TableChanged
//!        ▼
//!   events channel, script runner, TableSink (IPVS reconciler or dry-run log)
//! ```
//!
//! One task owns the core and the timer heap; each running check is a lightweight task, so
//! thousands of checks a second need neither a thread per check nor per-check timers.

use super::core::{Action, Core, Input, ProbeId};
use super::file_check;
use super::probe::{self, Outcome, ProbeSpec};
use super::sink::{DryRunSink, KernelSink, TableSink};
use crate::config::Config;
use crate::daemon::EngineCtx;
use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};
use std::net::IpAddr;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Most checks running at once.
pub const MAX_IN_FLIGHT: usize = 4096;

pub async fn run(cfg: Arc<Config>, ctx: EngineCtx) -> anyhow::Result<()> {
    let seed = rand::random::<u64>();
    let sink: Box<dyn TableSink> = if ctx.opts.dry_run {
        Box::new(DryRunSink::default())
    } else {
        let mut client = crate::ipvs::client::Client::connect().map_err(|e| {
            anyhow::anyhow!("cannot talk to IPVS (use --dry-run to only log the operations): {e}")
        })?;
        let dump = client
            .table()
            .map_err(|e| anyhow::anyhow!("cannot read the IPVS table: {e}"))?;
        let kernel = crate::ipvs::convert::table_from_dump(&dump);
        Box::new(
            KernelSink::new(client, kernel, cfg.global.lvs_flush)
                .with_counters(ctx.ipvs_ops.clone()),
        )
    };
    run_with_sink(cfg, ctx, sink, seed).await
}

/// Run the checkers, feeding every desired-table change to `sink`.
pub async fn run_with_sink(
    cfg: Arc<Config>,
    mut ctx: EngineCtx,
    mut sink: Box<dyn TableSink>,
    seed: u64,
) -> anyhow::Result<()> {
    let (mut core, errors) = Core::new(&cfg, seed);
    for e in &errors {
        tracing::error!(target: "check", "checker not started: {e}");
    }
    // FILE_CHECK: the files are read before the first table, as keepalived does, then
    // polled for changes.
    let (file_tx, mut file_rx) = mpsc::unbounded_channel();
    let mut file_poller = FilePoller::start(&cfg, &mut core, 0, &file_tx);
    let mut specs = specs_of(&core);
    tracing::info!(target: "check", "starting {} checks ({} after merging identical ones)",
        cfg.virtual_servers.iter().flat_map(|v| &v.real_servers).map(|r| r.checkers.len()).sum::<usize>(),
        specs.len());
    let mut shell = Shell {
        heap: BinaryHeap::new(),
        events: ctx.events.clone(),
        table_dirty: false,
        drains: Vec::new(),
        applied: Default::default(),
        script_user: cfg
            .global
            .script_user
            .as_ref()
            .map(|u| (u.user.clone(), u.group.clone())),
    };
    shell.applied = core.desired();
    sink.apply(&shell.applied);
    release_startup_memory();
    warn_ha_suspend_without_address(&cfg);
    // ha_suspend: watch this host's addresses (the VRRP engine's rtnetlink watch) and feed
    // their appearance and disappearance to the core.
    let (addr_tx, mut addr_rx) = mpsc::unbounded_channel();
    let mut addr_watch = AddrWatch::new(addr_tx);
    let now = Instant::now().into_std();
    for input in addr_watch.sync(&core, true) {
        let actions = core.step(input, now);
        shell.handle(actions);
    }
    let actions = core.report_weights();
    shell.handle(actions);
    let mut plan_requests = ctx.ipvs_planner.register();
    let mut running_cfg = cfg.clone();
    let start = Instant::now();
    let actions = core.start(start.into_std());
    shell.handle(actions);
    shell.flush(&core, &mut *sink);

    // Results carry the generation (reload count) their probe id belongs to.
    let (tx, mut rx) = mpsc::unbounded_channel::<(u64, ProbeId, Outcome)>();
    let mut generation = 0u64;
    // Probe ids of the previous generation mapped into the current one (checks in flight
    // across a reload report under their old id).
    let mut previous_map: Vec<Option<ProbeId>> = Vec::new();
    let mut watch_config = true;
    // Checks in flight; at MAX_IN_FLIGHT due checks wait for running ones to finish (a
    // backstop against storms, e.g. every check of a dead network timing out at once).
    let mut in_flight = 0usize;
    loop {
        let next = if in_flight >= MAX_IN_FLIGHT {
            None
        } else {
            shell.heap.peek().map(|Reverse((at, _))| *at)
        };
        let drain_end = shell.drains.iter().map(|d| d.until).min();
        tokio::select! {
            Some(req) = plan_requests.recv() => {
                // What the reload below would send, computed on a copy of the live state.
                let (mut next_core, _) = Core::new(&req.config, seed);
                next_core.set_file_values(&file_check::read_all(&file_check::tracked(&req.config)));
                next_core.adopt(&core);
                let next_table = next_core.desired();
                let started = crate::daemon::reload::drains(&running_cfg, &req.config, &core.desired(), &next_table);
                let plan = crate::daemon::reload::ipvs_plan(&shell.applied, &next_table, &shell.drains, &started);
                let _ = req.reply.send(plan);
            }
            _ = sleep_until_opt(drain_end) => {
                let now = Instant::now();
                let (over, running): (Vec<_>, Vec<_>) =
                    std::mem::take(&mut shell.drains).into_iter().partition(|d| d.until <= now);
                shell.drains = running;
                for d in &over {
                    tracing::info!(target: "check", "drain of [{}]:{} over: deleting it", d.dest.addr, d.dest.port);
                }
                for ev in crate::daemon::reload::drain_events(&over, false, |_| "drain over: deleted".into()) {
                    let _ = shell.events.send(ev);
                }
                shell.table_dirty = true;
                shell.flush(&core, &mut *sink);
            }
            r = ctx.shutdown.changed() => {
                if r.is_err() || *ctx.shutdown.borrow() { break; }
            }
            Some(_) = addr_rx.recv() => {
                // Any address change (or lost notifications): re-read the addresses and
                // tell the core what appeared and disappeared.
                while addr_rx.try_recv().is_ok() {}
                let now = Instant::now().into_std();
                for input in addr_watch.sync(&core, false) {
                    let actions = core.step(input, now);
                    shell.handle(actions);
                }
            }
            r = ctx.config.changed(), if watch_config => {
                if r.is_err() {
                    watch_config = false;
                    continue;
                }
                let new_cfg = ctx.config.borrow_and_update().clone();
                let (mut new_core, errors) = Core::new(&new_cfg, seed ^ (generation + 1));
                for e in &errors {
                    tracing::error!(target: "check", "checker not started: {e}");
                }
                drop(file_poller);
                file_poller = FilePoller::start(&new_cfg, &mut new_core, generation + 1, &file_tx);
                let (map, actions) = new_core.adopt(&core);
                // Removed real servers with inhibit_on_failure stay at weight 0 for a while.
                let next_table = new_core.desired();
                let started = crate::daemon::reload::drains(&running_cfg, &new_cfg, &core.desired(), &next_table);
                // A drained real server put back in the configuration is not drained any more.
                shell.drains.retain(|d| {
                    !next_table.services.get(&d.service).is_some_and(|e| e.dests.contains_key(&d.dest))
                });
                let now = Instant::now();
                for d in started {
                    tracing::info!(target: "check", "real server [{}]:{} removed from the configuration: weight 0, deleted in {:?} (inhibit_on_failure)", d.dest.addr, d.dest.port, d.until);
                    shell.drains.retain(|x| (x.service, x.dest) != (d.service, d.dest));
                    let until = now + d.until;
                    shell.drains.push(d.with_until(until));
                }
                // The status board starts the new configuration afresh: every real server still
                // draining (this reload's and earlier ones') is reported again.
                let remaining = |d: &crate::daemon::reload::Drain<Instant>| {
                    format!(
                        "removed from the configuration: weight 0, deleted in {}s",
                        d.until.saturating_duration_since(now).as_secs_f64().ceil()
                    )
                };
                for ev in crate::daemon::reload::drain_events(&shell.drains, true, remaining) {
                    let _ = shell.events.send(ev);
                }
                running_cfg = new_cfg.clone();
                let mut adopted = vec![false; new_core.probe_count()];
                for id in map.iter().flatten() {
                    adopted[id.0] = true;
                }
                // Pending checks keep their due time under their new id; dropped ones go.
                let old_heap = std::mem::take(&mut shell.heap);
                for Reverse((at, old)) in old_heap {
                    if let Some(Some(new)) = map.get(old) {
                        shell.heap.push(Reverse((at, new.0)));
                    }
                }
                let kept = adopted.iter().filter(|a| **a).count();
                tracing::info!(target: "check", "configuration reloaded: {} checks ({kept} kept with their state, {} new)",
                    new_core.probe_count(), new_core.probe_count() - kept);
                core = new_core;
                specs = specs_of(&core);
                for input in addr_watch.sync(&core, true) {
                    let actions = core.step(input, Instant::now().into_std());
                    shell.handle(actions);
                }
                let weights = core.report_weights();
                shell.handle(weights);
                shell.script_user = new_cfg
                    .global
                    .script_user
                    .as_ref()
                    .map(|u| (u.user.clone(), u.group.clone()));
                generation += 1;
                previous_map = map;
                shell.table_dirty = true;
                shell.handle(actions);
                let first = core.start_new(Instant::now().into_std(), &adopted);
                shell.handle(first);
                shell.flush(&core, &mut *sink);
            }
            Some((file_gen, v)) = file_rx.recv() => {
                if file_gen != file_poller.generation {
                    continue; // read by the poller of the previous configuration
                }
                let actions = core.step(Input::TrackFile { name: v.name, value: v.value }, Instant::now().into_std());
                shell.handle(actions);
                shell.flush(&core, &mut *sink);
            }
            Some(first) = rx.recv() => {
                // Take every result already waiting, then update the table once: a storm of
                // failures costs one reconciliation, not one per server.
                let mut batch = vec![first];
                while batch.len() < 4096 {
                    match rx.try_recv() {
                        Ok(r) => batch.push(r),
                        Err(_) => break,
                    }
                }
                in_flight -= batch.len().min(in_flight);
                for (result_gen, id, outcome) in batch {
                    let id = if result_gen == generation {
                        id
                    } else if result_gen + 1 == generation {
                        match previous_map.get(id.0).copied().flatten() {
                            Some(new) => new,
                            None => continue, // that check is gone from the configuration
                        }
                    } else {
                        continue;
                    };
                    let spec = &specs[id.0];
                    // As keepalived: a failed attempt of a checker that is up is logged at
                    // info with log_all_failures (else only the DOWN transition is); every
                    // other attempt at debug, so a large pool stays quiet.
                    match &outcome {
                        Outcome::Up { .. } => tracing::debug!(target: "check",
                            "check-result probe={} kind={} target={} up=true detail=\"ok\"",
                            id.0, spec.kind(), spec.target()),
                        Outcome::Down { reason } if core.probe_up(id) && core.probe_logs_all_failures(id) => tracing::info!(target: "check",
                            "check-result probe={} kind={} target={} up=false detail={:?}",
                            id.0, spec.kind(), spec.target(), reason),
                        Outcome::Down { reason } => tracing::debug!(target: "check",
                            "check-result probe={} kind={} target={} up=false detail={:?}",
                            id.0, spec.kind(), spec.target(), reason),
                    }
                    let actions = core.step(Input::Result { probe: id, outcome }, Instant::now().into_std());
                    shell.handle(actions);
                }
                shell.flush(&core, &mut *sink);
            }
            _ = sleep_until_opt(next) => {
                let now = Instant::now();
                while let Some(Reverse((at, id))) = shell.heap.peek().copied() {
                    if at > now || in_flight >= MAX_IN_FLIGHT { break; }
                    shell.heap.pop();
                    if core.probe_suspended(ProbeId(id)) {
                        // The core reschedules it a delay_loop later.
                        let actions = core.step(Input::Due { probe: ProbeId(id) }, now.into_std());
                        shell.handle(actions);
                        continue;
                    }
                    in_flight += 1;
                    let spec = specs[id].clone();
                    let tx = tx.clone();
                    let probe_gen = generation;
                    tokio::spawn(async move {
                        let budget = spec.budget();
                        let outcome = match tokio::time::timeout(budget, probe::run(&spec)).await {
                            Ok(o) => o,
                            Err(_) => Outcome::Down { reason: format!("check exceeded its time budget of {budget:?}") },
                        };
                        let _ = tx.send((probe_gen, ProbeId(id), outcome));
                    });
                }
            }
        }
    }
    drop(file_poller);
    let actions = core.step(Input::Shutdown, Instant::now().into_std());
    shell.handle(actions);
    if ctx.opts.dont_release_ipvs {
        tracing::info!(target: "check", "-I/--dont-release-ipvs: IPVS entries left in place");
    } else {
        let flush_on_stop = ctx.config.borrow().global.lvs_flush_on_stop;
        sink.shutdown(&core.desired(), flush_on_stop);
    }
    Ok(())
}

/// The task that polls the files FILE_CHECKs track (None: no file is tracked); stops when
/// dropped.
struct FilePoller {
    task: Option<tokio::task::JoinHandle<()>>,
    /// The reload generation whose values it sends.
    generation: u64,
}

impl FilePoller {
    /// Initialise (`init_file`; after a reload, generation > 0, only missing files, as
    /// keepalived) and read the files `cfg`'s FILE_CHECKs track, give their values to
    /// `core`, and poll them.
    fn start(
        cfg: &Config,
        core: &mut Core,
        generation: u64,
        tx: &mpsc::UnboundedSender<(u64, file_check::FileValue)>,
    ) -> FilePoller {
        let files = file_check::tracked(cfg);
        if files.is_empty() {
            return FilePoller {
                task: None,
                generation,
            };
        }
        file_check::warn_missing_directories(&files);
        file_check::init_files(&files, generation > 0);
        let initial = file_check::read_all(&files);
        for v in &initial {
            tracing::info!(target: "check", "track_file {} reads {} (FILE_CHECK)", v.name, v.value);
        }
        core.set_file_values(&initial);
        FilePoller {
            task: Some(file_check::spawn(files, initial, generation, tx.clone())),
            generation,
        }
    }
}

impl Drop for FilePoller {
    fn drop(&mut self) {
        if let Some(t) = &self.task {
            t.abort();
        }
    }
}

/// Parsing a large configuration leaves freed heap that glibc keeps; hand it back once the
/// checkers are built (with 10,000 real servers this halves the resident set).
fn release_startup_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free heap pages to the kernel; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

fn specs_of(core: &Core) -> Vec<Arc<ProbeSpec>> {
    (0..core.probe_count())
        .map(|i| Arc::new(core.probe_spec(ProbeId(i)).clone()))
        .collect()
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// ha_suspend on a fwmark virtual server (or a group of fwmarks) has no address to wait for.
fn warn_ha_suspend_without_address(cfg: &Config) {
    for vs in cfg.virtual_servers.iter().filter(|v| v.ha_suspend) {
        if let crate::config::model::VsKey::Fwmark(m) = &vs.key {
            tracing::warn!(target: "check", "{}:{}: ha_suspend has no effect on the fwmark {m} virtual server (no address to wait for)", vs.span.file, vs.span.line);
        }
    }
}

/// The local addresses the core was last told about (ha_suspend).
struct AddrWatch {
    known: BTreeSet<IpAddr>,
    /// The watch could not be set up: treat every address as configured (checks run).
    assume_all: bool,
    /// Where the rtnetlink watch (started on first need) sends its events.
    tx: mpsc::UnboundedSender<crate::vrrp::link::LinkEvent>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for AddrWatch {
    fn drop(&mut self) {
        if let Some(t) = &self.task {
            t.abort();
        }
    }
}

impl AddrWatch {
    fn new(tx: mpsc::UnboundedSender<crate::vrrp::link::LinkEvent>) -> AddrWatch {
        AddrWatch {
            known: BTreeSet::new(),
            assume_all: false,
            tx,
            task: None,
        }
    }

    /// Suspend/Resume inputs for the addresses that changed since the last call (`all`:
    /// Resume for every present address, for a core that has not seen them yet). Starts the
    /// rtnetlink watch the first time a core uses ha_suspend (at start or after a reload).
    fn sync(&mut self, core: &Core, all: bool) -> Vec<Input> {
        if !core.uses_ha_suspend() {
            return Vec::new();
        }
        if self.task.is_none() && !self.assume_all {
            match crate::vrrp::link::spawn(self.tx.clone()) {
                Ok(t) => self.task = Some(t),
                Err(e) => {
                    tracing::error!(target: "check", "ha_suspend: cannot watch local addresses ({e}); checks of ha_suspend virtual servers run as if their address were configured");
                    self.assume_all = true;
                }
            }
        }
        if self.assume_all {
            return core
                .suspend_addresses()
                .into_iter()
                .map(|addr| Input::Resume { addr })
                .collect();
        }
        let now: BTreeSet<IpAddr> = match nix::ifaddrs::getifaddrs() {
            Ok(list) => list
                .filter_map(|a| {
                    let s = a.address?;
                    if let Some(v4) = s.as_sockaddr_in() {
                        Some(IpAddr::V4(v4.ip()))
                    } else {
                        s.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip()))
                    }
                })
                .collect(),
            Err(e) => {
                tracing::error!(target: "check", "ha_suspend: cannot list local addresses: {e}");
                return Vec::new();
            }
        };
        let mut out: Vec<Input> = self
            .known
            .difference(&now)
            .map(|&addr| Input::Suspend { addr })
            .collect();
        let added: Vec<IpAddr> = if all {
            now.iter().copied().collect()
        } else {
            now.difference(&self.known).copied().collect()
        };
        out.extend(added.into_iter().map(|addr| Input::Resume { addr }));
        self.known = now;
        out
    }
}

struct Shell {
    heap: BinaryHeap<Reverse<(Instant, usize)>>,
    events: mpsc::UnboundedSender<crate::events::Event>,
    table_dirty: bool,
    /// Real servers a reload removed, kept at weight 0 until their drain time is up.
    drains: Vec<crate::daemon::reload::Drain<Instant>>,
    /// The table last handed to the sink (drains included).
    applied: crate::ipvs::table::DesiredTable,
    script_user: Option<(String, Option<String>)>,
}

impl Shell {
    fn handle(&mut self, actions: Vec<Action>) {
        for a in actions {
            match a {
                Action::Schedule { probe, at } => {
                    self.heap.push(Reverse((Instant::from_std(at), probe.0)))
                }
                Action::Emit(ev) => {
                    let _ = self.events.send(ev);
                }
                Action::RunScript { command, why } => self.run_script(command, why),
                Action::TableChanged => self.table_dirty = true,
                Action::Run { .. } => {} // the loop runs due probes itself (see Input::Due)
                Action::Log(msg) => tracing::info!(target: "check", "{msg}"),
            }
        }
    }

    /// Hand the desired table to the sink if it changed.
    fn flush(&mut self, core: &Core, sink: &mut dyn TableSink) {
        if std::mem::take(&mut self.table_dirty) {
            let table = crate::daemon::reload::with_drains(&core.desired(), &self.drains);
            sink.apply(&table);
            self.applied = table;
        }
    }

    fn run_script(&self, command: crate::config::model::Command, why: String) {
        let user = self.script_user.clone();
        tracing::info!(target: "check", "running {:?} ({why})", command.raw);
        tokio::spawn(async move {
            let Some((prog, args)) = command.argv.split_first() else {
                return;
            };
            let mut cmd = tokio::process::Command::new(prog);
            cmd.args(args)
                .stdin(std::process::Stdio::null())
                .process_group(0);
            let mut other_user = false;
            if let Some((u, g)) = &user {
                if let Ok(Some(pw)) = nix::unistd::User::from_name(u) {
                    other_user = true;
                    let gid = g
                        .as_deref()
                        .and_then(|g| nix::unistd::Group::from_name(g).ok().flatten())
                        .map(|g| g.gid)
                        .unwrap_or(pw.gid);
                    cmd.uid(pw.uid.as_raw()).gid(gid.as_raw());
                }
            }
            match crate::daemon::caps::spawn(&mut cmd, other_user) {
                Ok(mut child) => {
                    if let Ok(st) = child.wait().await {
                        if !st.success() {
                            tracing::warn!(target: "check", "{:?} exited with {st}", command.raw);
                        }
                    }
                }
                Err(e) => tracing::error!(target: "check", "cannot run {:?}: {e}", command.raw),
            }
        });
    }
}
