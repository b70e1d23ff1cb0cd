//! `rampart check-config [-i ID] [--format text|json] [--dump] FILE` and `rampart -t -f FILE`.

use crate::config::{self, Diagnostics, LoadOptions};
use clap::Parser;
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "rampart check-config",
    about = "Check a keepalived.conf / rampart.conf and print compiler-style diagnostics"
)]
struct Args {
    /// Config id for `@ID` conditional lines (default: host name up to the first dot).
    #[arg(short = 'i', long = "config-id", value_name = "ID")]
    config_id: Option<String>,
    /// Output format of the diagnostics.
    #[arg(long = "format", value_name = "FORMAT", value_parser = ["text", "json"], default_value = "text")]
    format: String,
    /// Print the resolved model (after includes, definitions and expansion) as JSON.
    #[arg(long = "dump")]
    dump: bool,
    /// The configuration file.
    file: PathBuf,
}

/// Exit codes: 0 no error (warnings allowed), 1 errors, 2 usage.
pub fn main(args: Vec<OsString>) -> ExitCode {
    let argv = std::iter::once(OsString::from("rampart check-config")).chain(args);
    let args = match Args::try_parse_from(argv) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    ExitCode::SUCCESS
                }
                _ => ExitCode::from(2),
            };
        }
    };
    let opts = LoadOptions {
        config_id: args.config_id.clone(),
    };
    let (cfg, diags) = analyse_file(&args.file, &opts);
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    if args.format == "json" {
        let _ = writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&diags).unwrap_or_else(|_| "[]".into())
        );
    } else {
        let _ = write!(err, "{}", render_all(&diags));
        let _ = writeln!(err, "{}", summary(&args.file, &diags));
    }
    if args.dump {
        match cfg {
            Some(cfg) if !diags.has_errors() => {
                let _ = writeln!(
                    out,
                    "{}",
                    serde_json::to_string_pretty(&cfg).unwrap_or_default()
                );
            }
            _ => {
                let _ = writeln!(err, "not dumping the model: the configuration has errors");
            }
        }
    }
    if diags.has_errors() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// `rampart -t [-f FILE]`: keepalived's exit codes (0 valid, 5 errors).
pub fn keepalived_test(file: Option<PathBuf>, config_id: Option<String>) -> ExitCode {
    let file = file.unwrap_or_else(crate::daemon::default_config_file);
    let (_, diags) = analyse_file(&file, &LoadOptions { config_id });
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "{}", render_all(&diags));
    let _ = writeln!(err, "{}", summary(&file, &diags));
    if diags.has_errors() {
        ExitCode::from(5)
    } else {
        ExitCode::SUCCESS
    }
}

fn analyse_file(path: &Path, opts: &LoadOptions) -> (Option<config::Config>, Diagnostics) {
    let fs = config::RealFs::default();
    let name = path.to_string_lossy();
    match config::SourceFs::read(&fs, path) {
        Ok(text) => {
            let (cfg, d) = config::analyse(&name, &text, opts, &fs, &config::Limits::default());
            (Some(cfg), d)
        }
        Err(e) => (
            None,
            Diagnostics(vec![config::Diagnostic::error(
                config::DiagClass::Include,
                None,
                format!("cannot read {name}: {e}"),
            )]),
        ),
    }
}

fn render_all(d: &Diagnostics) -> String {
    let mut s = String::new();
    for x in &d.0 {
        s.push_str(&x.render());
    }
    s
}

fn summary(file: &Path, d: &Diagnostics) -> String {
    let e = d.errors().count();
    let w = d.warnings().count();
    if e == 0 {
        format!("{}: configuration OK ({w} warning(s))", file.display())
    } else {
        format!("{}: {e} error(s), {w} warning(s)", file.display())
    }
}
