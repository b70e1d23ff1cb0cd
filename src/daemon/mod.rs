//! The daemon: loads the configuration, runs the engines, handles signals and reloads.
//!
//! Engines are started as tasks that each receive an [`EngineCtx`]: the options, a sender for
//! [`Event`]s (consumed by alerts, notify fifos, status and metrics) and a shutdown signal.

pub mod caps;
pub mod control;
pub mod logging;
pub mod metrics;
pub mod opts;
pub mod process;
pub mod reload;
pub mod status;
pub mod syncd;
pub use opts::DaemonOpts;

use crate::config::{self, Config, LoadOptions};
use crate::events::Event;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// What every engine task gets from the daemon.
#[derive(Clone)]
pub struct EngineCtx {
    pub opts: DaemonOpts,
    /// Things that happened (transitions, real server up/down, quorum), in order.
    pub events: mpsc::UnboundedSender<Event>,
    /// Becomes `true` when the daemon is shutting down (SIGTERM/SIGINT).
    pub shutdown: watch::Receiver<bool>,
    /// The running configuration; a successful reload publishes the new one here. Engines
    /// apply it as a diff (see [`reload::plan`]).
    pub config: watch::Receiver<Arc<Config>>,
    /// How a reload asks the checker engine for the IPVS operations a new configuration
    /// would cause (`rampart reload --plan`, and the log of an applied reload).
    pub ipvs_planner: reload::IpvsPlanner,
    /// Requests sent to the kernel's IPVS table (exported as `rampart_ipvs_operations_total`).
    pub ipvs_ops: Arc<crate::check::sink::IpvsOpCounters>,
}

/// How long engines get to release VIPs, send priority-0 adverts and remove IPVS entries.
pub const SHUTDOWN_BUDGET: Duration = Duration::from_secs(5);

/// The configuration file used when `-f` is not given.
pub fn default_config_file() -> PathBuf {
    for p in [
        "/etc/rampart/rampart.conf",
        "/etc/keepalived/keepalived.conf",
    ] {
        let p = PathBuf::from(p);
        if p.exists() {
            return p;
        }
    }
    PathBuf::from("/etc/rampart/rampart.conf")
}

/// Console, journald, syslog and file logging, as the options and environment ask
/// (see [`logging::destinations`]).
pub fn init_logging(opts: &DaemonOpts) {
    logging::init(opts);
}

/// Load the configuration, printing diagnostics; None when it has errors.
pub fn load_config(path: &std::path::Path, config_id: Option<String>) -> Option<Config> {
    match config::load_file(path, &LoadOptions { config_id }) {
        Ok(loaded) => {
            for w in loaded.warnings.0.iter() {
                if w.severity == config::Severity::Info {
                    tracing::info!(target: "config", "{}", w.render().trim_end());
                } else {
                    tracing::warn!(target: "config", "{}", w.render().trim_end());
                }
            }
            Some(loaded.config)
        }
        Err(diags) => {
            for d in diags.0.iter() {
                if d.is_error() {
                    tracing::error!(target: "config", "{}", d.render().trim_end());
                } else {
                    tracing::warn!(target: "config", "{}", d.render().trim_end());
                }
            }
            None
        }
    }
}

/// Run the daemon until SIGTERM/SIGINT: in the background (as keepalived) unless `-n` or
/// systemd's `NOTIFY_SOCKET`. Order: configuration checked, pid files checked, fork, pid
/// files written, process flags, ip_vs loaded, capabilities reduced, then the engines.
pub fn run(mut opts: DaemonOpts) -> ExitCode {
    process::absolutize(&mut opts);
    let forking = process::should_fork(&opts, std::env::var_os("NOTIFY_SOCKET").is_some());
    init_logging(&opts);
    let path = opts.config_file.clone().unwrap_or_else(default_config_file);
    let Some(cfg) = load_config(&path, opts.config_id.clone()) else {
        tracing::error!("{}: configuration has errors, not starting", path.display());
        return ExitCode::from(1);
    };
    for w in caps::root_script_warnings(&cfg, opts.capabilities) {
        tracing::warn!("{w}");
    }
    if opts.dump_conf {
        tracing::info!(target: "config", "configuration dump (-d):\n{cfg:#?}");
    }
    let pids = process::PidFiles::for_opts(&opts);
    if let Some((file, pid)) = pids.running() {
        // keepalived's message and exit status (0): starting an already running daemon is
        // not an error for the scripts that do it.
        tracing::warn!(
            "{} (pid {pid}, {})",
            process::ALREADY_RUNNING,
            file.display()
        );
        eprintln!("{}", process::ALREADY_RUNNING);
        return ExitCode::SUCCESS;
    }
    if forking {
        match process::daemonize(opts.log_console) {
            Ok(process::Forked::Parent(code)) => return code,
            Ok(process::Forked::Child) => {}
            Err(e) => {
                tracing::error!("cannot fork into the background: {e}");
                return ExitCode::from(1);
            }
        }
    }
    if let Err(e) = pids.write() {
        tracing::error!("{e}");
        return ExitCode::from(1);
    }
    process::apply_process_flags(&opts);
    process::load_ip_vs(&opts, !cfg.virtual_servers.is_empty());
    // keepalived runs startup_script before its children start: with full privileges here.
    if let Some(s) = &cfg.global.startup_script {
        process::run_global_script("startup_script", s, cfg.global.startup_script_timeout);
    }
    // Before any thread exists: every runtime thread inherits the reduced sets.
    if let Err(e) = caps::reduce(opts.capabilities) {
        tracing::error!(
            "cannot reduce capabilities: {e} (`--capabilities keep` runs without reducing them)"
        );
        pids.remove();
        return ExitCode::from(1);
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(runtime_workers())
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the async runtime: {e}");
            pids.remove();
            return ExitCode::from(1);
        }
    };
    let cfg = Arc::new(cfg);
    // The configuration in force at exit: a reload may have changed shutdown_script.
    let mut last = cfg.clone();
    let code = rt.block_on(run_async(cfg, opts, &mut last));
    drop(rt);
    // After the engines stopped (keepalived: after its children terminated).
    if let Some(s) = &last.global.shutdown_script {
        process::run_global_script("shutdown_script", s, last.global.shutdown_script_timeout);
    }
    pids.remove();
    code
}

/// Worker threads of the async runtime: one per CPU this process may run on (its affinity mask
/// and cgroup CPU quota, as `available_parallelism` reads them), at most two. On one CPU a
/// second worker only adds thread switches and cross-thread wake-ups to every check (in a
/// 1-vCPU VM under TCG those cost more than the checks); `TOKIO_WORKER_THREADS` overrides.
fn runtime_workers() -> usize {
    let from_env = std::env::var("TOKIO_WORKER_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| *n > 0);
    from_env.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(2)
    })
}

/// The resolved router id: `router_id`, or the host name as keepalived uses it.
pub fn router_id(cfg: &Config) -> String {
    cfg.global.router_id.clone().unwrap_or_else(|| {
        nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".to_string())
    })
}

/// Everything that consumes events: one place, so every consumer sees them in the same order.
struct EventSinks {
    metrics: Arc<metrics::Metrics>,
    board: Arc<status::StatusBoard>,
    alerter: crate::alert::smtp::AlertHandle,
    fifos: Option<crate::alert::fifo::FifoWriters>,
    syncd: syncd::SyncDaemons,
    /// The running configuration (which instances want priority-change fifo lines).
    cfg: Arc<Config>,
}

impl EventSinks {
    /// After a reload: status rows, alert settings and fifos of the new configuration;
    /// series of removed instances and virtual servers stop being exported.
    async fn reconfigure(
        &mut self,
        new: &Arc<Config>,
        old: &Config,
        rid: &str,
        path: &std::path::Path,
    ) {
        self.board.reconfigure(new, rid, Some(path));
        // lvs_sync_daemon added, removed or changed: applied now, in the role the state of the
        // instance it follows calls for (the board has the states, renamed instances included).
        let snapshot = self.board.snapshot(None);
        let state_of = |name: &str| {
            use crate::events::VrrpStateName as S;
            let i = snapshot.instances.iter().find(|i| i.name == name)?;
            [S::Init, S::Backup, S::Master, S::Fault, S::Stop]
                .into_iter()
                .find(|s| s.as_str() == i.state)
        };
        self.syncd.reconfigure(new, state_of).await;
        self.alerter.set_config(new.clone());
        self.cfg = new.clone();
        for i in &old.instances {
            if new.instance(&i.name).is_some() {
                continue;
            }
            // Renamed (same VRID, family and interface): the series follow the new name.
            let key = reload::RouterKey::of(i);
            match new
                .instances
                .iter()
                .find(|n| reload::RouterKey::of(n) == key && old.instance(&n.name).is_none())
            {
                Some(n) => self.metrics.relabel("instance", &i.name, &n.name),
                None => self.metrics.forget("instance", &i.name),
            }
        }
        let (g, o) = (&new.global, &old.global);
        if g.notify_fifo != o.notify_fifo
            || g.vrrp_notify_fifo != o.vrrp_notify_fifo
            || g.lvs_notify_fifo != o.lvs_notify_fifo
        {
            self.fifos = match crate::alert::fifo::FifoWriters::open(g) {
                Ok(f) if !f.is_empty() => Some(f),
                Ok(_) => None,
                Err(e) => {
                    tracing::error!("notify fifo after reload: {e}; fifo notifications are off");
                    None
                }
            };
        }
        if g.fifo_write_vrrp_states_on_reload {
            self.write_states_to_fifos();
        }
    }

    /// `fifo_write_vrrp_states_on_reload`: every instance's and group's state, once.
    fn write_states_to_fifos(&mut self) {
        let Some(f) = self.fifos.as_mut() else { return };
        let snap = self.board.snapshot(None);
        let lines = crate::alert::fifo::state_lines(
            snap.instances
                .iter()
                .map(|i| (i.name.as_str(), i.state.as_str(), i.effective_priority)),
            snap.sync_groups
                .iter()
                .map(|g| (g.name.as_str(), g.state.as_str())),
        );
        f.write_vrrp_lines(&lines);
    }

    fn consume(&mut self, ev: &Event) {
        log_event(ev);
        self.syncd.observe(ev);
        self.metrics.observe_event(ev);
        self.board.apply(ev);
        self.alerter.send(ev);
        if let Some(f) = self.fifos.as_mut() {
            let wanted = match ev {
                Event::VrrpPriority { instance, .. } => {
                    crate::alert::fifo::priority_changes_enabled(&self.cfg, instance)
                }
                _ => true,
            };
            if wanted {
                f.write_event(ev);
            }
        }
    }
}

/// The engines log their own transitions (one line each, with reason and priority); events
/// they do not log themselves (reloads) are logged here so that each appears once.
fn log_event(ev: &Event) {
    match ev {
        Event::Reload { ok: true, detail } => {
            tracing::info!(target: "reload", "configuration reloaded: {detail}")
        }
        Event::Reload { ok: false, .. } => {
            tracing::error!(target: "reload", "reload refused: the new configuration has errors; nothing changed")
        }
        // Real server and quorum transitions: the event as JSON (what log processors parse) with
        // a human summary field.
        Event::RealServer {
            virtual_server,
            real_server,
            up,
            reason,
        } => {
            let (vs, rs) = (
                crate::alert::message::fmt_endpoint(virtual_server),
                crate::alert::message::fmt_endpoint(real_server),
            );
            let json = serde_json::to_string(ev).unwrap_or_default();
            if *up {
                tracing::info!(target: "event", summary = %format!("real server {rs} of {vs} is UP: {reason}"), "{json}")
            } else {
                tracing::warn!(target: "event", summary = %format!("real server {rs} of {vs} is DOWN: {reason}"), "{json}")
            }
        }
        Event::Quorum {
            virtual_server,
            gained,
            alive_weight,
            quorum,
        } => {
            let vs = crate::alert::message::fmt_endpoint(virtual_server);
            let json = serde_json::to_string(ev).unwrap_or_default();
            if *gained {
                tracing::info!(target: "event", summary = %format!("virtual server {vs}: quorum gained (alive weight {alive_weight}, quorum {quorum})"), "{json}")
            } else {
                tracing::warn!(target: "event", summary = %format!("virtual server {vs}: quorum lost (alive weight {alive_weight}, quorum {quorum})"), "{json}")
            }
        }
        Event::VrrpPriority {
            instance,
            state,
            priority,
        } => tracing::info!(
            target: "vrrp",
            instance = %instance,
            state = %state.as_str(),
            priority = *priority,
            "VRRP instance {instance}: effective priority now {priority} ({})",
            state.as_str()
        ),
        other => {
            tracing::debug!(target: "event", "{}", serde_json::to_string(other).unwrap_or_default())
        }
    }
}

/// Where keepalived writes its signal dumps.
const DATA_DUMP: &str = "/tmp/keepalived.data";
const STATS_DUMP: &str = "/tmp/keepalived.stats";
const JSON_DUMP: &str = "/tmp/keepalived.json";

async fn run_async(
    cfg: Arc<Config>,
    opts: DaemonOpts,
    running_at_exit: &mut Arc<Config>,
) -> ExitCode {
    use tokio::signal::unix::{SignalKind, signal};
    let config_path = opts.config_file.clone().unwrap_or_else(default_config_file);
    let rid = router_id(&cfg);
    let metrics = Arc::new(metrics::Metrics::new());
    let board = Arc::new(status::StatusBoard::new(
        status::StatusSnapshot::from_config(
            &cfg,
            &rid,
            Some(&config_path),
            std::time::SystemTime::now(),
        ),
    ));
    let alerter = crate::alert::smtp::spawn_alerter(&cfg, Default::default());
    metrics.attach_alert_stats(alerter.stats());
    let fifos = match crate::alert::fifo::FifoWriters::open(&cfg.global) {
        Ok(f) if !f.is_empty() => Some(f),
        Ok(_) => None,
        Err(e) => {
            tracing::error!("notify fifo: {e}; fifo notifications are off");
            None
        }
    };
    let mut sinks = EventSinks {
        metrics: metrics.clone(),
        board: board.clone(),
        alerter: alerter.clone(),
        fifos,
        syncd: syncd::SyncDaemons::spawn(&cfg, !opts.check_only && !opts.dry_run),
        cfg: cfg.clone(),
    };

    let (ev_tx, mut ev_rx) = mpsc::unbounded_channel::<Event>();
    let (sd_tx, sd_rx) = watch::channel(false);
    let (cfg_tx, cfg_rx) = watch::channel(cfg.clone());
    let ipvs_planner = reload::IpvsPlanner::default();
    let ipvs_ops = Arc::new(crate::check::sink::IpvsOpCounters::default());
    metrics.attach_ipvs_ops(ipvs_ops.clone());
    let ctx = EngineCtx {
        opts: opts.clone(),
        events: ev_tx.clone(),
        shutdown: sd_rx.clone(),
        config: cfg_rx,
        ipvs_planner: ipvs_planner.clone(),
        ipvs_ops: ipvs_ops.clone(),
    };
    let mut engines = tokio::task::JoinSet::new();
    if !opts.check_only {
        let (c, x) = (cfg.clone(), ctx.clone());
        engines.spawn(async move { ("vrrp", crate::vrrp::service::run(c, x).await) });
    }
    if !opts.vrrp_only {
        let (c, x) = (cfg.clone(), ctx.clone());
        engines.spawn(async move { ("check", crate::check::service::run(c, x).await) });
    }
    drop(ctx);

    // Control socket: status, reload, reload --plan.
    let (reload_tx, mut reload_rx) = mpsc::channel::<control::ReloadRequest>(4);
    let control_path = opts
        .control_socket
        .clone()
        .unwrap_or_else(|| PathBuf::from(control::DEFAULT_SOCKET));
    match control::ControlServer::bind(&control_path) {
        Ok(server) => {
            let handler = control::ControlHandler {
                status: board.clone(),
                metrics: Some(metrics.clone()),
                reload: Some(reload_tx.clone()),
            };
            tokio::spawn(server.run(handler, sd_rx.clone()));
        }
        Err(e) => tracing::error!(
            "control socket: {e}; `rampart status` and `rampart reload` will not work"
        ),
    }
    if let Some(listen) = &opts.metrics_listen {
        match metrics::MetricsServer::bind(listen).await {
            Ok(server) => {
                tokio::spawn(server.run(metrics.clone(), sd_rx.clone()));
            }
            Err(e) => {
                tracing::error!("metrics: {e}");
                return ExitCode::from(1);
            }
        }
    }

    let signals = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
        signal(SignalKind::user_defined1()),
        signal(SignalKind::user_defined2()),
        signal(SignalKind::from_raw(libc::SIGRTMIN() + 2)),
    );
    let (Ok(mut term), Ok(mut int), Ok(mut hup), Ok(mut usr1), Ok(mut usr2), Ok(mut rtmin2)) =
        signals
    else {
        tracing::error!("cannot install signal handlers");
        return ExitCode::from(1);
    };
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
    process::notify_ready();
    tracing::info!(
        "rampart {} started with {} ({} VRRP instances, {} virtual servers)",
        env!("CARGO_PKG_VERSION"),
        config_path.display(),
        cfg.instances.len(),
        cfg.virtual_servers.len()
    );
    let mut running = cfg.clone();
    let mut failed = false;
    loop {
        tokio::select! {
            _ = term.recv() => { tracing::info!("SIGTERM: shutting down"); break; }
            _ = int.recv() => { tracing::info!("SIGINT: shutting down"); break; }
            Some(ev) = ev_rx.recv() => sinks.consume(&ev),
            _ = hup.recv() => {
                tracing::info!("SIGHUP: reloading {}", config_path.display());
                let reply = reload(&config_path, &opts, &mut running, false, &cfg_tx, &mut sinks, &ipvs_planner).await;
                after_reload(&reply, &ev_tx);
            }
            Some(req) = reload_rx.recv() => {
                let reply = reload(&config_path, &opts, &mut running, req.plan_only, &cfg_tx, &mut sinks, &ipvs_planner).await;
                if !req.plan_only {
                    after_reload(&reply, &ev_tx);
                }
                let _ = req.reply.send(reply);
            }
            _ = usr1.recv() => dump("data", DATA_DUMP, status::write_data_dump(&board.snapshot(Some(&metrics)), std::path::Path::new(DATA_DUMP))),
            _ = usr2.recv() => dump("stats", STATS_DUMP, status::write_stats_dump(&board.snapshot(Some(&metrics)), std::path::Path::new(STATS_DUMP))),
            _ = rtmin2.recv() => dump("JSON", JSON_DUMP, status::write_json_dump(&board.snapshot(Some(&metrics)), std::path::Path::new(JSON_DUMP))),
            Some(res) = engines.join_next() => {
                match res {
                    Ok((name, Err(e))) => tracing::error!("engine {name} failed: {e:#}"),
                    Ok((name, Ok(()))) => tracing::error!("engine {name} stopped unexpectedly"),
                    Err(e) => tracing::error!("engine task panicked: {e}"),
                }
                failed = true;
                break;
            }
        }
    }
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
    let _ = sd_tx.send(true);
    let stopping = async {
        loop {
            tokio::select! {
                // Keep consuming events while the engines stop: the STOP transitions must
                // reach the log, the fifos and the alerter.
                Some(ev) = ev_rx.recv() => sinks.consume(&ev),
                res = engines.join_next() => match res {
                    Some(Ok((name, Err(e)))) => tracing::error!("engine {name} failed during shutdown: {e:#}"),
                    Some(_) => {}
                    None => break,
                },
            }
        }
        while let Ok(ev) = ev_rx.try_recv() {
            sinks.consume(&ev);
        }
    };
    if tokio::time::timeout(SHUTDOWN_BUDGET, stopping)
        .await
        .is_err()
    {
        tracing::error!("engines did not stop within {:?}", SHUTDOWN_BUDGET);
        failed = true;
        // lvs_flush_on_stop promises an empty IPVS table after stop: if the checker engine
        // did not get there in time, flush it from here.
        if !opts.vrrp_only
            && !opts.dry_run
            && !opts.dont_release_ipvs
            && cfg_tx.borrow().global.lvs_flush_on_stop.is_some()
        {
            crate::check::sink::flush_kernel_table();
        }
    }
    sinks.syncd.shutdown(Duration::from_secs(2)).await;
    if !alerter.flush(Duration::from_secs(2)).await {
        tracing::warn!("some alerts were still queued at exit");
    }
    *running_at_exit = running.clone();
    tracing::info!("rampart stopped");
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn dump(what: &str, path: &str, res: std::io::Result<()>) {
    match res {
        Ok(()) => tracing::info!("{what} dump written to {path}"),
        Err(e) => tracing::error!("cannot write the {what} dump to {path}: {e}"),
    }
}

/// Check the file, plan the change, and (unless `plan_only`) hand the new configuration to
/// the engines. A file with errors changes nothing. The plan's IPVS operations come from the
/// checker engine (its live health state), asked before the new configuration is published.
#[allow(clippy::too_many_arguments)]
async fn reload(
    path: &std::path::Path,
    opts: &DaemonOpts,
    running: &mut Arc<Config>,
    plan_only: bool,
    cfg_tx: &watch::Sender<Arc<Config>>,
    sinks: &mut EventSinks,
    ipvs_planner: &reload::IpvsPlanner,
) -> control::ReloadReply {
    match config::load_file(
        path,
        &LoadOptions {
            config_id: opts.config_id.clone(),
        },
    ) {
        Err(diags) => {
            let messages: Vec<String> = diags.0.iter().map(|d| d.render()).collect();
            for d in diags.errors() {
                tracing::error!(target: "config", "reload refused: {}", d.render().trim_end());
            }
            control::ReloadReply {
                ok: false,
                applied: false,
                plan: vec![],
                messages,
            }
        }
        Ok(loaded) => {
            let mut messages: Vec<String> = loaded.warnings.0.iter().map(|d| d.render()).collect();
            let new = Arc::new(loaded.config);
            // Root scripts the new file brings in that --capabilities reduced will stop, as
            // at start (the ones already running were named then).
            for w in caps::new_root_script_warnings(running, &new, opts.capabilities) {
                if !plan_only {
                    tracing::warn!("{w}");
                }
                messages.push(format!("warning: {w}\n"));
            }
            let mut plan = reload::plan(running, &new);
            if let Some(ipvs) = ipvs_planner.plan(new.clone(), Duration::from_secs(2)).await {
                plan.ipvs = ipvs;
            }
            let lines: Vec<String> = plan.to_string().lines().map(str::to_string).collect();
            if !plan_only {
                for l in &lines {
                    tracing::info!(target: "reload", "{l}");
                }
                // router_id may change with the file (status and alerts use the new one).
                sinks
                    .reconfigure(&new, running, &router_id(&new), path)
                    .await;
                *running = new.clone();
                let _ = cfg_tx.send(new);
            }
            control::ReloadReply {
                ok: true,
                applied: !plan_only,
                plan: lines,
                messages,
            }
        }
    }
}

/// Report a reload as an event: metrics count it, the status board and alerts see it.
fn after_reload(reply: &control::ReloadReply, events: &mpsc::UnboundedSender<Event>) {
    let detail = if reply.ok {
        reply.plan.join("; ")
    } else {
        reply.messages.join("").trim_end().to_string()
    };
    let _ = events.send(Event::Reload {
        ok: reply.ok,
        detail,
    });
}
