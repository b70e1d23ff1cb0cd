//! Sub-command entry points. Each sub-command owns its argument parsing (several mimic
//! keepalived tools whose flags clap cannot express, e.g. ipvsadm's `-t` and genhash's `-s`),
//! so `main.rs` only dispatches `argv` here.

use std::ffi::OsString;
use std::process::ExitCode;

pub mod check_config;
pub mod doctor;
pub mod genhash;
pub mod ipvs;
pub mod realserver;
pub mod reload;
pub mod status;

/// A sub-command that is reserved but not implemented yet.
pub fn not_yet(name: &str, _args: Vec<OsString>) -> ExitCode {
    eprintln!("rampart {name}: not implemented yet");
    ExitCode::from(2)
}
