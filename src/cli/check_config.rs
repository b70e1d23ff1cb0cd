//! `rampart check-config`.

use std::ffi::OsString;
use std::process::ExitCode;

pub fn main(args: Vec<OsString>) -> ExitCode {
    super::not_yet("check-config", args)
}

/// `rampart -t [-f FILE]`: keepalived's exit codes (0 valid, 5 errors).
pub fn keepalived_test(file: Option<std::path::PathBuf>, config_id: Option<String>) -> ExitCode {
    let _ = (file, config_id);
    ExitCode::from(5)
}
