//! `rampart doctor`.

use std::ffi::OsString;
use std::process::ExitCode;

pub fn main(args: Vec<OsString>) -> ExitCode {
    super::not_yet("doctor", args)
}
