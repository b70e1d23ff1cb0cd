//! Options of the daemon, as given on the command line (keepalived's flags and rampart's own).

use super::caps::CapMode;
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
    /// `-n/--dont-fork`: stay in the foreground (also implied when systemd's `NOTIFY_SOCKET`
    /// is set: a `Type=notify` unit expects its main process to stay).
    pub dont_fork: bool,
    /// `-l/--log-console`.
    pub log_console: bool,
    /// `-D/--log-detail`.
    pub log_detail: bool,
    /// `-S/--log-facility`: syslog facility number (default 3, daemon).
    pub log_facility: Option<u8>,
    /// `-G/--no-syslog`.
    pub no_syslog: bool,
    /// `-g/--log-file FILE`.
    pub log_file: Option<PathBuf>,
    /// `-p/--pid FILE`; default: the control socket's path with `.pid`
    /// (/run/rampart/rampart.pid).
    pub pid_file: Option<PathBuf>,
    /// `-r/--vrrp_pid FILE`: rampart is one process; its pid is written here too when the
    /// VRRP engine runs (scripts that signal keepalived's VRRP child keep working).
    pub vrrp_pid_file: Option<PathBuf>,
    /// `-c/--checkers_pid FILE`: as `-r`, for the checkers.
    pub checkers_pid_file: Option<PathBuf>,
    /// `-d/--dump-conf`: log the parsed configuration at start.
    pub dump_conf: bool,
    /// `-u/--umask MASK`.
    pub umask: Option<u32>,
    /// `-m/--core-dump`: unlimited core size, dumpable.
    pub core_dump: bool,
    /// `-I/--dont-release-ipvs`: leave the IPVS table as it is at shutdown.
    pub dont_release_ipvs: bool,
    /// `-V/--dont-release-vrrp`: leave VIPs, virtual routes/rules and VMACs in place at
    /// shutdown (no priority-0 advert either), as keepalived.
    pub dont_release_vrrp: bool,
    /// `--capabilities MODE` (default `reduced`).
    pub capabilities: CapMode,
    /// `--dry-run`: run checkers and VRRP decisions but touch no kernel state.
    pub dry_run: bool,
    /// `--log-format json`.
    pub log_json: bool,
    /// `--metrics-listen ADDR:PORT`.
    pub metrics_listen: Option<String>,
    /// `--control-socket PATH`; default /run/rampart/rampart.sock.
    pub control_socket: Option<PathBuf>,
}
