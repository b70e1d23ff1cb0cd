//! rampart command line: keepalived's daemon flags plus sub-commands. Parsing only; every
//! sub-command lives in the library (`rampart::cli`, `rampart::daemon`).

use clap::{Parser, Subcommand};
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "rampart",
    version,
    about = "keepalived-compatible high-availability L4 load balancer (VRRP, health checks, IPVS)",
    long_about = None,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    /// Use the specified configuration file.
    #[arg(short = 'f', long = "use-file", value_name = "FILE")]
    use_file: Option<PathBuf>,
    /// Check the configuration and exit (0: valid, 5: errors), as `keepalived -t`.
    #[arg(short = 't', long = "config-test")]
    config_test: bool,
    /// Don't fork the daemon process (rampart always stays in the foreground).
    #[arg(short = 'n', long = "dont-fork")]
    dont_fork: bool,
    /// Log messages to the local console.
    #[arg(short = 'l', long = "log-console")]
    log_console: bool,
    /// Detailed log messages.
    #[arg(short = 'D', long = "log-detail")]
    log_detail: bool,
    /// Only run the VRRP engine.
    #[arg(short = 'P', long = "vrrp")]
    vrrp: bool,
    /// Only run the health checkers (and IPVS programming).
    #[arg(short = 'C', long = "check")]
    check: bool,
    /// Write the daemon's pid to FILE.
    #[arg(short = 'p', long = "pid", value_name = "FILE")]
    pid: Option<PathBuf>,
    /// Configuration id for `@ID` conditional lines (default: host name up to the first dot).
    #[arg(short = 'i', long = "config-id", value_name = "ID")]
    config_id: Option<String>,
    /// Run checkers and VRRP decisions but change no kernel state; log what would be done.
    #[arg(long = "dry-run")]
    dry_run: bool,
    /// Log format on the console.
    #[arg(long = "log-format", value_name = "FORMAT", value_parser = ["text", "json"])]
    log_format: Option<String>,
    /// Serve Prometheus metrics on ADDR:PORT.
    #[arg(long = "metrics-listen", value_name = "ADDR:PORT")]
    metrics_listen: Option<String>,
    /// Control socket path (default /run/rampart/rampart.sock).
    #[arg(long = "control-socket", value_name = "PATH")]
    control_socket: Option<PathBuf>,

    #[command(subcommand)]
    command: Option<Command>,
}

/// Sub-commands parse their own arguments (several mimic tools whose flags clap cannot model).
#[derive(Subcommand, Debug)]
enum Command {
    /// Check a configuration file and print compiler-style diagnostics.
    #[command(name = "check-config", disable_help_flag = true)]
    CheckConfig(Rest),
    /// ipvsadm-compatible IPVS administration.
    #[command(disable_help_flag = true)]
    Ipvs(Rest),
    /// keepalived's genhash: MD5 digest of a URL's body.
    #[command(disable_help_flag = true)]
    Genhash(Rest),
    /// Show the running daemon's state.
    #[command(disable_help_flag = true)]
    Status(Rest),
    /// Ask the running daemon to reload its configuration.
    #[command(disable_help_flag = true)]
    Reload(Rest),
    /// Prepare or undo a real server for LVS-DR or LVS-TUN.
    #[command(disable_help_flag = true)]
    Realserver(Rest),
    /// Check this director against its configuration.
    #[command(disable_help_flag = true)]
    Doctor(Rest),
}

#[derive(clap::Args, Debug)]
struct Rest {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<OsString>,
}

fn main() -> ExitCode {
    // `rampart ipvs ...`, or this binary called `ipvsadm`: straight to the ipvsadm-compatible
    // command, without the top-level option parser (scripts call it thousands of times).
    if let Some(code) = rampart::cli::ipvs::fast_dispatch(std::env::args_os().collect()) {
        return code;
    }
    let cli = Cli::parse();
    use rampart::cli as sub;
    if let Some(cmd) = cli.command {
        return match cmd {
            Command::CheckConfig(r) => sub::check_config::main(r.args),
            Command::Ipvs(r) => sub::ipvs::main(r.args),
            Command::Genhash(r) => sub::genhash::main(r.args),
            Command::Realserver(r) => sub::realserver::main(r.args),
            Command::Doctor(r) => sub::doctor::main(r.args),
            Command::Status(r) => sub::status::main(r.args),
            Command::Reload(r) => sub::reload::main(r.args),
        };
    }
    if cli.config_test {
        return sub::check_config::keepalived_test(cli.use_file, cli.config_id);
    }
    rampart::daemon::run(rampart::daemon::DaemonOpts {
        config_file: cli.use_file,
        config_id: cli.config_id,
        vrrp_only: cli.vrrp,
        check_only: cli.check,
        dont_fork: cli.dont_fork,
        log_console: cli.log_console,
        log_detail: cli.log_detail,
        pid_file: cli.pid,
        dry_run: cli.dry_run,
        log_json: cli.log_format.as_deref() == Some("json"),
        metrics_listen: cli.metrics_listen,
        control_socket: cli.control_socket,
    })
}
