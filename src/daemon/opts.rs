//! Options of the daemon, as given on the command line (keepalived's flags and rampart's own).

use std::path::PathBuf;

#[derive(Debug, Clone, Default)]
pub struct DaemonOpts {
    /// `-f/--use-file`; default /etc/rampart/rampart.conf, then /etc/keepalived/keepalived.conf.
    pub config_file: Option<PathBuf>,
    /// `-i/--config-id`.
    pub config_id: Option<String>,
    /// `-P/--vrrp`: VRRP only.
    pub vrrp_only: bool,
    /// `-C/--check`: checkers (and IPVS) only.
    pub check_only: bool,
    /// `-n/--dont-fork` (rampart always runs in the foreground; accepted for compatibility).
    pub dont_fork: bool,
    /// `-l/--log-console`.
    pub log_console: bool,
    /// `-D/--log-detail`.
    pub log_detail: bool,
    /// `-p/--pid FILE`.
    pub pid_file: Option<PathBuf>,
    /// `--dry-run`: run checkers and VRRP decisions but touch no kernel state.
    pub dry_run: bool,
    /// `--log-format json`.
    pub log_json: bool,
    /// `--metrics-listen ADDR:PORT`.
    pub metrics_listen: Option<String>,
    /// `--control-socket PATH`; default /run/rampart/rampart.sock.
    pub control_socket: Option<PathBuf>,
}
