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
    args_conflicts_with_subcommands = true,
    disable_version_flag = true
)]
struct Cli {
    /// Use the specified configuration file.
    #[arg(short = 'f', long = "use-file", value_name = "FILE")]
    use_file: Option<PathBuf>,
    /// Check the configuration and exit (0: valid, 5: errors), as `keepalived -t`; with
    /// `=LOG_FILE` the diagnostics go to LOG_FILE instead of stderr.
    #[arg(short = 't', long = "config-test", value_name = "LOG_FILE", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    config_test: Option<String>,
    /// Don't fork the daemon process (also implied under a systemd Type=notify unit).
    #[arg(short = 'n', long = "dont-fork")]
    dont_fork: bool,
    /// Log messages to the local console.
    #[arg(short = 'l', long = "log-console")]
    log_console: bool,
    /// Detailed log messages.
    #[arg(short = 'D', long = "log-detail")]
    log_detail: bool,
    /// Syslog facility: 0-7, local0-local7, user or daemon (default).
    #[arg(short = 'S', long = "log-facility", value_name = "FACILITY", value_parser = rampart::daemon::logging::parse_facility)]
    log_facility: Option<u8>,
    /// Don't log via syslog.
    #[arg(short = 'G', long = "no-syslog")]
    no_syslog: bool,
    /// Also log to FILE (appended; default /tmp/keepalived.log, as keepalived's -g). FILE is
    /// an optional argument: `-g=FILE` or `--log-file=FILE`.
    #[arg(short = 'g', long = "log-file", value_name = "FILE", num_args = 0..=1, require_equals = true, default_missing_value = "/tmp/keepalived.log")]
    log_file: Option<PathBuf>,
    /// umask for file creation (numeric, e.g. 022 or 0x12).
    #[arg(short = 'u', long = "umask", value_name = "MASK", value_parser = parse_umask)]
    umask: Option<u32>,
    /// Only run the VRRP engine.
    #[arg(short = 'P', long = "vrrp")]
    vrrp: bool,
    /// Only run the health checkers (and IPVS programming).
    #[arg(short = 'C', long = "check")]
    check: bool,
    /// Don't run BFD (accepted: rampart has no BFD).
    #[arg(short = 'B', long = "no_bfd")]
    no_bfd: bool,
    /// Accepted for keepalived compatibility: rampart's engines run even without configuration.
    #[arg(long = "all")]
    all: bool,
    /// Accepted for keepalived compatibility: rampart has no child processes to respawn.
    #[arg(short = 'R', long = "dont-respawn")]
    dont_respawn: bool,
    /// Leave the IPVS table in place when rampart stops.
    #[arg(short = 'I', long = "dont-release-ipvs")]
    dont_release_ipvs: bool,
    /// Log the parsed configuration at start.
    #[arg(short = 'd', long = "dump-conf")]
    dump_conf: bool,
    /// Write the daemon's pid to FILE (default: beside the control socket, /run/rampart/rampart.pid).
    #[arg(short = 'p', long = "pid", value_name = "FILE")]
    pid: Option<PathBuf>,
    /// Also write the pid to FILE when the VRRP engine runs (rampart is one process).
    #[arg(short = 'r', long = "vrrp_pid", value_name = "FILE")]
    vrrp_pid: Option<PathBuf>,
    /// Also write the pid to FILE when the checkers run (rampart is one process).
    #[arg(short = 'c', long = "checkers_pid", value_name = "FILE")]
    checkers_pid: Option<PathBuf>,
    /// Accepted for keepalived compatibility: no BFD process, no file written.
    #[arg(short = 'b', long = "bfd_pid", value_name = "FILE")]
    bfd_pid: Option<PathBuf>,
    /// Produce a core dump if rampart terminates abnormally.
    #[arg(short = 'm', long = "core-dump")]
    core_dump: bool,
    /// Configuration id for `@ID` conditional lines (default: host name up to the first dot).
    #[arg(short = 'i', long = "config-id", value_name = "ID")]
    config_id: Option<String>,
    /// Print the signal number for STOP, RELOAD, DATA, STATS or JSON and exit.
    #[arg(long = "signum", value_name = "SIGFUNC")]
    signum: Option<String>,
    /// Display the version number.
    #[arg(short = 'v', long = "version")]
    version: bool,
    /// Capabilities after start-up: reduced (default), full-scripts (root scripts get full
    /// root, as with keepalived), keep (no reduction). See rampart(8).
    #[arg(long = "capabilities", value_name = "MODE", value_parser = rampart::daemon::caps::CapMode::parse)]
    capabilities: Option<rampart::daemon::caps::CapMode>,
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

    // keepalived flags rampart refuses, each with its reason (see `unsupported`).
    #[arg(short = 'X', long = "release-vips", hide = true)]
    release_vips: bool,
    /// Leave VIPs, virtual routes and VMACs in place at shutdown (keepalived's -V).
    #[arg(short = 'V', long = "dont-release-vrrp")]
    dont_release_vrrp: bool,
    #[arg(short = 'a', long = "address-monitoring", hide = true)]
    address_monitoring: bool,
    #[arg(short = 'x', long = "snmp", hide = true)]
    snmp: bool,
    #[arg(short = 'A', long = "snmp-agent-socket", hide = true)]
    snmp_agent_socket: Option<String>,
    #[arg(short = 's', long = "namespace", hide = true)]
    namespace: Option<String>,
    #[arg(short = 'M', long = "core-dump-pattern", hide = true, num_args = 0..=1, require_equals = true, default_missing_value = "core")]
    core_dump_pattern: Option<String>,
    #[arg(short = 'e', long = "all-config", hide = true)]
    all_config: bool,

    #[command(subcommand)]
    command: Option<Command>,
}

fn parse_umask(s: &str) -> Result<u32, String> {
    // keepalived reads the mask with strtoul(.., 0): 0x.. hex, 0.. octal, else decimal.
    let r = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u32::from_str_radix(h, 16)
    } else if s.len() > 1 && s.starts_with('0') {
        u32::from_str_radix(&s[1..], 8)
    } else {
        s.parse()
    };
    match r {
        Ok(m) if m <= 0o777 => Ok(m),
        _ => Err(format!(
            "invalid umask `{s}`: expected a number up to 0777 (e.g. 022)"
        )),
    }
}

/// keepalived flags rampart does not implement, with why and what to do instead.
fn unsupported(cli: &Cli) -> Option<&'static str> {
    let reasons: [(bool, &'static str); 7] = [
        (
            cli.snmp,
            "-x/--snmp: SNMP is not supported by rampart; use `--metrics-listen ADDR:PORT` (Prometheus) or `rampart status --json`",
        ),
        (
            cli.snmp_agent_socket.is_some(),
            "-A/--snmp-agent-socket: SNMP is not supported by rampart; use `--metrics-listen ADDR:PORT`",
        ),
        (
            cli.release_vips,
            "-X/--release-vips is not supported by rampart yet",
        ),
        (
            cli.address_monitoring,
            "-a/--address-monitoring is not supported by rampart yet",
        ),
        (
            cli.namespace.is_some(),
            "-s/--namespace is not supported by rampart: run it as `ip netns exec NAME rampart ...`",
        ),
        (
            cli.core_dump_pattern.is_some(),
            "-M/--core-dump-pattern is not supported by rampart: set kernel.core_pattern with sysctl and use -m",
        ),
        (
            cli.all_config,
            "-e/--all-config is not supported by rampart yet (a missing include file is reported by `rampart check-config`)",
        ),
    ];
    reasons.iter().find(|(set, _)| *set).map(|(_, why)| *why)
}

/// `--signum`: the signals rampart handles, as keepalived numbers them.
fn signum(name: &str) -> Result<i32, String> {
    match name {
        "STOP" => Ok(libc::SIGTERM),
        "RELOAD" => Ok(libc::SIGHUP),
        "DATA" => Ok(libc::SIGUSR1),
        "STATS" => Ok(libc::SIGUSR2),
        "JSON" => Ok(libc::SIGRTMIN() + 2),
        "STATS_CLEAR" => Err("--signum=STATS_CLEAR: rampart does not clear statistics on a signal (metrics counters are monotonic)".into()),
        other => Err(format!("--signum={other}: expected STOP, RELOAD, DATA, STATS or JSON")),
    }
}

/// Sub-commands parse their own arguments (several mimic tools whose flags clap cannot model).
#[derive(Subcommand, Debug)]
enum Command {
    /// Check a configuration file and print compiler-style diagnostics.
    #[command(name = "check-config", disable_help_flag = true)]
    CheckConfig(Rest),
    /// ipvsadm-compatible IPVS administration (also `rampart ipvsadm`).
    #[command(disable_help_flag = true, alias = "ipvsadm")]
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
    let args: Vec<OsString> = std::env::args_os().collect();
    // `rampart ipvs ...`, or this binary called `ipvsadm`: straight to the ipvsadm-compatible
    // command, without the top-level option parser (scripts call it thousands of times).
    if let Some(code) = rampart::cli::ipvs::fast_dispatch(args.clone()) {
        return code;
    }
    // keepalived's `-T/--genhash` must be the first option: the rest are genhash's.
    if matches!(
        args.get(1).and_then(|a| a.to_str()),
        Some("-T" | "--genhash")
    ) {
        return rampart::cli::genhash::main(args[2..].to_vec());
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
    if cli.version {
        println!("rampart {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    if let Some(why) = unsupported(&cli) {
        eprintln!("rampart: {why}");
        return ExitCode::from(2);
    }
    if let Some(name) = &cli.signum {
        return match signum(name) {
            Ok(n) => {
                println!("{n}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("rampart: {e}");
                ExitCode::from(2)
            }
        };
    }
    if let Some(log_file) = &cli.config_test {
        if !log_file.is_empty() {
            // keepalived's `-t=LOG_FILE`: the diagnostics go to the file.
            match std::fs::File::create(log_file) {
                Ok(f) => {
                    use std::os::fd::AsRawFd;
                    // SAFETY: dup2 onto stderr; `f` stays open until exit.
                    unsafe { libc::dup2(f.as_raw_fd(), 2) };
                    std::mem::forget(f);
                }
                Err(e) => {
                    eprintln!("rampart: -t={log_file}: {e}");
                    return ExitCode::from(2);
                }
            }
        }
        return sub::check_config::keepalived_test(cli.use_file, cli.config_id);
    }
    let _ = (cli.no_bfd, cli.all, cli.dont_respawn, cli.bfd_pid);
    rampart::daemon::run(rampart::daemon::DaemonOpts {
        config_file: cli.use_file,
        config_id: cli.config_id,
        // keepalived: -P and -C select subsystems; both given, both run.
        vrrp_only: cli.vrrp && !cli.check,
        check_only: cli.check && !cli.vrrp,
        dont_fork: cli.dont_fork,
        log_console: cli.log_console,
        log_detail: cli.log_detail,
        log_facility: cli.log_facility,
        no_syslog: cli.no_syslog,
        log_file: cli.log_file,
        pid_file: cli.pid,
        vrrp_pid_file: cli.vrrp_pid,
        checkers_pid_file: cli.checkers_pid,
        dump_conf: cli.dump_conf,
        umask: cli.umask,
        core_dump: cli.core_dump,
        dont_release_ipvs: cli.dont_release_ipvs,
        dont_release_vrrp: cli.dont_release_vrrp,
        capabilities: cli.capabilities.unwrap_or_default(),
        dry_run: cli.dry_run,
        log_json: cli.log_format.as_deref() == Some("json"),
        metrics_listen: cli.metrics_listen,
        control_socket: cli.control_socket,
    })
}
