//! `track_file` (I/O side): create/initialise the files (`init_file`), read them, and watch
//! them for changes. What a value means for an instance is decided by the pure core
//! ([`super::fsm::TrackedFile`], [`super::fsm::parse_track_file_value`]).
//!
//! keepalived reads a file when inotify reports a change; rampart polls every
//! [`POLL_INTERVAL`] (a file written by an operator or a health agent is seen within that
//! time), comparing contents, which also covers files replaced by rename.

use std::path::Path;
use std::time::Duration;
use tokio::sync::mpsc;

use super::fsm::parse_track_file_value;
use crate::config::{Config, TrackFile};

/// How often the watched files are read.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// One read of a tracked file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileValue {
    pub name: String,
    pub value: i64,
}

/// `init_file [VALUE] [overwrite]`: write VALUE if the file does not exist (or always, with
/// `overwrite`). Failures are logged with the block's location; the file is then read as is.
pub fn init_files(cfg: &Config) {
    for f in &cfg.track_files {
        let Some((value, overwrite)) = f.init_file else {
            continue;
        };
        let path = Path::new(&f.file);
        if path.exists() && !overwrite {
            continue;
        }
        if let Err(e) = std::fs::write(path, format!("{value}\n")) {
            tracing::error!(target: "vrrp", "track_file {} ({}): cannot initialise {}: {e}", f.name, f.span, f.file);
        }
    }
}

/// The value of a file now, as keepalived reads it: a missing, unreadable or empty file is 0;
/// None when the number does not fit 32 bits (keepalived ignores it and keeps the old value).
pub fn read_value(path: &str) -> Option<i64> {
    // keepalived reads at most 127 bytes.
    match std::fs::read(path) {
        Ok(bytes) => {
            let bytes = &bytes[..bytes.len().min(127)];
            parse_track_file_value(&String::from_utf8_lossy(bytes))
        }
        Err(_) => Some(0),
    }
}

/// The files some instance or sync group tracks (the others are never read, as in keepalived).
pub fn tracked(cfg: &Config) -> Vec<TrackFile> {
    cfg.track_files
        .iter()
        .filter(|f| {
            cfg.instances
                .iter()
                .any(|i| i.track_file.iter().any(|t| t.name == f.name))
                || cfg
                    .sync_groups
                    .iter()
                    .any(|g| g.track_file.iter().any(|t| t.name == f.name))
        })
        .cloned()
        .collect()
}

/// Read every file once now (for the values instances start with).
pub fn read_all(files: &[TrackFile]) -> Vec<FileValue> {
    files
        .iter()
        .filter_map(|f| {
            read_value(&f.file).map(|value| FileValue {
                name: f.name.clone(),
                value,
            })
        })
        .collect()
}

/// Poll `files` and send each value that differs from the last one sent (`initial`: the values
/// already delivered). Ends when the receiver is gone.
pub fn spawn(
    files: Vec<TrackFile>,
    initial: Vec<FileValue>,
    tx: mpsc::UnboundedSender<FileValue>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut last: Vec<Option<i64>> = files
            .iter()
            .map(|f| initial.iter().find(|v| v.name == f.name).map(|v| v.value))
            .collect();
        let mut tick = tokio::time::interval(POLL_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            for (f, last) in files.iter().zip(last.iter_mut()) {
                let Some(value) = read_value(&f.file) else {
                    if last.is_some() {
                        tracing::info!(target: "vrrp", "track_file {}: {} holds a number outside 32 bits; ignored", f.name, f.file);
                    }
                    continue;
                };
                if *last != Some(value) {
                    tracing::info!(target: "vrrp", "track_file {}: {} now reads {value}", f.name, f.file);
                    *last = Some(value);
                    if tx
                        .send(FileValue {
                            name: f.name.clone(),
                            value,
                        })
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }
    })
}

/// `promote_secondaries`: set net.ipv4.conf.IF.promote_secondaries=1 so removing one VIP does
/// not take the other addresses of its subnet with it. Returns the old value to restore.
pub fn promote_secondaries(ifname: &str) -> Option<(String, String)> {
    let path = format!("/proc/sys/net/ipv4/conf/{ifname}/promote_secondaries");
    let old = std::fs::read_to_string(&path).ok()?;
    if old.trim() == "1" {
        return None;
    }
    match std::fs::write(&path, "1") {
        Ok(()) => Some((path, old.trim().to_string())),
        Err(e) => {
            tracing::warn!(target: "vrrp", "promote_secondaries on {ifname}: {e}");
            None
        }
    }
}

/// `vrrp_no_swap` / `checker_no_swap`: lock the daemon's memory (it is one process).
pub fn apply_no_swap(cfg: &Config) {
    if !(cfg.global.vrrp_process.no_swap || cfg.global.checker_process.no_swap) {
        return;
    }
    // SAFETY: mlockall takes flags only.
    let r = unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) };
    if r != 0 {
        tracing::warn!(target: "vrrp", "vrrp_no_swap: mlockall failed: {}", std::io::Error::last_os_error());
    } else {
        tracing::info!(target: "vrrp", "vrrp_no_swap: daemon memory locked (mlockall)");
    }
}
