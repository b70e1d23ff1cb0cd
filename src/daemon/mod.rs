//! The daemon: loads the configuration, runs the engines, handles signals and reloads.
//!
//! Engines are started as tasks that each receive an [`EngineCtx`]: the options, a sender for
//! [`Event`]s (consumed by alerts, notify fifos, status and metrics) and a shutdown signal.

pub mod control;
pub mod metrics;
pub mod opts;
pub mod reload;
pub mod status;
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

pub fn init_logging(opts: &DaemonOpts) {
    use tracing_subscriber::EnvFilter;
    let default = if opts.log_detail { "debug" } else { "info" };
    let filter = EnvFilter::try_from_env("RAMPART_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if opts.log_json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// Load the configuration, printing diagnostics; None when it has errors.
pub fn load_config(path: &std::path::Path, config_id: Option<String>) -> Option<Config> {
    match config::load_file(path, &LoadOptions { config_id }) {
        Ok(loaded) => {
            for w in loaded.warnings.0.iter() {
                tracing::warn!(target: "config", "{}", w.render().trim_end());
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

/// Run the daemon in the foreground until SIGTERM/SIGINT.
pub fn run(opts: DaemonOpts) -> ExitCode {
    init_logging(&opts);
    let path = opts.config_file.clone().unwrap_or_else(default_config_file);
    let Some(cfg) = load_config(&path, opts.config_id.clone()) else {
        tracing::error!("{}: configuration has errors, not starting", path.display());
        return ExitCode::from(1);
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    rt.block_on(run_async(Arc::new(cfg), opts))
}

async fn run_async(cfg: Arc<Config>, opts: DaemonOpts) -> ExitCode {
    use tokio::signal::unix::{SignalKind, signal};
    if let Some(pid) = &opts.pid_file {
        if let Err(e) = std::fs::write(pid, format!("{}\n", std::process::id())) {
            tracing::error!("cannot write pid file {}: {e}", pid.display());
        }
    }
    let (ev_tx, mut ev_rx) = mpsc::unbounded_channel::<Event>();
    let (sd_tx, sd_rx) = watch::channel(false);
    let ctx = EngineCtx {
        opts: opts.clone(),
        events: ev_tx,
        shutdown: sd_rx,
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
    // Events are logged here; alerts, fifos and metrics subscribe in their own modules.
    let events = tokio::spawn(async move {
        while let Some(ev) = ev_rx.recv().await {
            tracing::info!(target: "event", "{}", serde_json::to_string(&ev).unwrap_or_default());
        }
    });
    let (mut term, mut int) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(t), Ok(i)) => (t, i),
        _ => {
            tracing::error!("cannot install signal handlers");
            return ExitCode::from(1);
        }
    };
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
    let mut failed = false;
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = int.recv() => tracing::info!("SIGINT: shutting down"),
        Some(res) = engines.join_next() => {
            if let Ok((name, Err(e))) = &res {
                tracing::error!("engine {name} failed: {e:#}");
                failed = true;
            }
        }
    }
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
    let _ = sd_tx.send(true);
    if tokio::time::timeout(SHUTDOWN_BUDGET, async {
        while let Some(res) = engines.join_next().await {
            if let Ok((name, Err(e))) = res {
                tracing::error!("engine {name} failed during shutdown: {e:#}");
            }
        }
    })
    .await
    .is_err()
    {
        tracing::error!("engines did not stop within {:?}", SHUTDOWN_BUDGET);
        failed = true;
    }
    events.abort();
    if let Some(pid) = &opts.pid_file {
        let _ = std::fs::remove_file(pid);
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
