//! `rampart doctor [-f FILE] [--format text|json]`: check this director against its
//! configuration. Exit 0: nothing wrong; 1: a problem was found; 2: usage or configuration
//! errors (the configuration must load before it can be checked against the host).

use crate::doctor::{self, Finding, HostFacts};
use serde::Serialize;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

/// `println!` that ignores a closed stdout (`rampart ... | head`) instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

#[derive(clap::Parser, Debug)]
#[command(
    name = "rampart doctor",
    about = "Check this director against its configuration and explain each problem with its fix"
)]
struct Args {
    /// Configuration file (default /etc/rampart/rampart.conf, then /etc/keepalived/keepalived.conf).
    #[arg(short = 'f', long = "use-file", value_name = "FILE")]
    file: Option<PathBuf>,
    /// Configuration id for `@ID` conditional lines (default: host name up to the first dot).
    #[arg(short = 'i', long = "config-id", value_name = "ID")]
    config_id: Option<String>,
    /// Output format.
    #[arg(long, value_name = "FORMAT", default_value = "text", value_parser = ["text", "json"])]
    format: String,
    /// Examine host facts saved with --dump-facts (perhaps on another machine) instead of
    /// reading this host.
    #[arg(long, value_name = "FILE")]
    facts: Option<PathBuf>,
    /// Print the host facts doctor reads, as JSON, and exit (no configuration needed).
    #[arg(long, conflicts_with = "facts")]
    dump_facts: bool,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    ok: bool,
    config: String,
    /// The ids of every check that ran, so automation can tell "passed" from "not checked".
    checks: &'a [&'a str],
    findings: &'a [Finding],
    notes: &'a [String],
}

pub fn main(args: Vec<OsString>) -> ExitCode {
    use clap::Parser;
    let argv = std::iter::once(OsString::from("rampart doctor")).chain(args);
    let args = match Args::try_parse_from(argv) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    if args.dump_facts {
        let facts = doctor::gather::gather();
        return match serde_json::to_string_pretty(&facts) {
            Ok(s) => {
                out!("{s}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("rampart doctor: cannot encode facts: {e}");
                ExitCode::from(2)
            }
        };
    }

    let path = args
        .file
        .clone()
        .unwrap_or_else(crate::daemon::default_config_file);
    let opts = crate::config::LoadOptions {
        config_id: args.config_id.clone(),
    };
    let cfg = match crate::config::load_file(&path, &opts) {
        Ok(loaded) => loaded.config,
        Err(diags) => {
            for d in &diags.0 {
                eprint!("{}", d.render());
            }
            eprintln!(
                "rampart doctor: {} does not load; fix it first (`rampart check-config {}`)",
                path.display(),
                path.display()
            );
            return ExitCode::from(2);
        }
    };

    let facts: HostFacts = match &args.facts {
        None => doctor::gather::gather(),
        Some(p) => match std::fs::read_to_string(p)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
        {
            Ok(f) => f,
            Err(e) => {
                eprintln!(
                    "rampart doctor: cannot read facts from {} (expected the JSON printed by \
                     `rampart doctor --dump-facts`): {e}",
                    p.display()
                );
                return ExitCode::from(2);
            }
        },
    };

    let findings = doctor::run(&cfg, &facts);
    let problems = findings.iter().filter(|f| f.is_problem()).count();
    if args.format == "json" {
        let report = JsonReport {
            ok: problems == 0,
            config: path.display().to_string(),
            checks: doctor::checks::CHECK_IDS,
            findings: &findings,
            notes: &facts.notes,
        };
        match serde_json::to_string_pretty(&report) {
            Ok(s) => out!("{s}"),
            Err(e) => {
                eprintln!("rampart doctor: cannot encode the report: {e}");
                return ExitCode::from(2);
            }
        }
    } else {
        for f in &findings {
            out!("{}", f.render());
        }
        for n in &facts.notes {
            out!("note: {n}");
        }
        if problems == 0 {
            out!(
                "rampart doctor: no problems found on this host for {} ({} checks)",
                path.display(),
                doctor::checks::CHECK_IDS.len()
            );
        } else {
            out!(
                "rampart doctor: {problems} problem(s) found for {}",
                path.display()
            );
        }
    }
    if problems == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
