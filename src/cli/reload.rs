//! `rampart reload [--plan] [--socket PATH]`: ask the running daemon to check and apply its
//! configuration file again (as SIGHUP does), or with `--plan` only print what would change.

use crate::daemon::control::{self, DEFAULT_SOCKET, RELOAD_TIMEOUT, Request};
use clap::Parser;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "rampart reload",
    about = "Ask the running daemon to reload its configuration"
)]
struct Args {
    /// Print the changes (VIP, instance and IPVS operations) without applying them.
    #[arg(long)]
    plan: bool,
    /// Print the daemon's answer as JSON.
    #[arg(long)]
    json: bool,
    /// Control socket of the daemon.
    #[arg(long = "socket", visible_alias = "control-socket", value_name = "PATH", env = "RAMPART_CONTROL_SOCKET", default_value = DEFAULT_SOCKET)]
    socket: PathBuf,
}

pub fn main(args: Vec<OsString>) -> ExitCode {
    let args =
        match Args::try_parse_from(std::iter::once(OsString::from("rampart reload")).chain(args)) {
            Ok(a) => a,
            Err(e) => {
                let _ = e.print();
                return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
            }
        };
    let req = if args.plan {
        Request::ReloadPlan
    } else {
        Request::Reload
    };
    let resp = match control::call(
        &args.socket,
        &req,
        RELOAD_TIMEOUT + std::time::Duration::from_secs(5),
    ) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("rampart reload: {e}");
            return ExitCode::from(1);
        }
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&resp).unwrap_or_default()
        );
        return if resp.ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        };
    }
    if let Some(r) = &resp.reload {
        for m in &r.messages {
            eprintln!("{}", m.trim_end());
        }
        if r.plan.is_empty() && r.ok {
            println!("no changes");
        }
        for p in &r.plan {
            println!("{p}");
        }
        if r.applied {
            println!("configuration reloaded");
        } else if r.ok && args.plan {
            println!("(plan only; nothing applied)");
        }
    }
    if resp.ok {
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "rampart reload: {}",
            resp.error.unwrap_or_else(|| "refused".into())
        );
        ExitCode::from(1)
    }
}
