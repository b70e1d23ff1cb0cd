//! `rampart status [--json] [--socket PATH]`: the running daemon's instances, sync groups,
//! virtual and real servers, asked over the control socket.

use crate::daemon::control::{self, DEFAULT_SOCKET, Request};
use crate::daemon::status::render_table;
use clap::Parser;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(name = "rampart status", about = "Show the running daemon's state")]
struct Args {
    /// Print the full status as JSON.
    #[arg(long)]
    json: bool,
    /// Control socket of the daemon.
    #[arg(long = "socket", visible_alias = "control-socket", value_name = "PATH", env = "RAMPART_CONTROL_SOCKET", default_value = DEFAULT_SOCKET)]
    socket: PathBuf,
}

pub fn main(args: Vec<OsString>) -> ExitCode {
    let args =
        match Args::try_parse_from(std::iter::once(OsString::from("rampart status")).chain(args)) {
            Ok(a) => a,
            Err(e) => {
                let _ = e.print();
                return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
            }
        };
    let resp = match control::call(&args.socket, &Request::Status, Duration::from_secs(10)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("rampart status: {e}");
            return ExitCode::from(1);
        }
    };
    let Some(status) = resp.status.filter(|_| resp.ok) else {
        eprintln!(
            "rampart status: {}",
            resp.error
                .unwrap_or_else(|| "no status in the reply".into())
        );
        return ExitCode::from(1);
    };
    if args.json {
        match serde_json::to_string_pretty(&status) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("rampart status: cannot encode JSON: {e}");
                return ExitCode::from(1);
            }
        }
    } else {
        print!("{}", render_table(&status));
    }
    ExitCode::SUCCESS
}
