//! FILE_CHECK: a real server follows the number in a `track_file`.
//!
//! keepalived.conf(5) "Track files" and keepalived 2.2.7's checker (verified against it in
//! the test VM, tests/check_file_vm.rs):
//!
//! - The file holds a number (read as `strtol(buf, NULL, 0)`: leading blanks, sign, `0x` hex,
//!   leading-`0` octal, trailing junk ignored); a missing, unreadable or empty file reads 0; a
//!   number outside [-2^31, 2^31] is ignored (the previous value stays).
//! - Each FILE_CHECK has a weight W (its own `weight W [reverse]`, else the track_file
//!   block's weight and `reverse`; default 1).
//!   - W = 0: a non-zero value is a failure (with `reverse`: a zero value is), like a failed
//!     checker: the real server goes down (removed, or weight 0 with `inhibit_on_failure`).
//!   - W ≠ 0: value × W (× -1 with `reverse`), clamped to the 32-bit range, is added to the
//!     real server's weight; a result at -2^31 (the bottom of the range) is a failure.
//! - The real server's weight in IPVS is its configured weight (or MISC_CHECK's dynamic
//!   weight) plus every FILE_CHECK's addition, clamped to [0, 2^31-1]: a server driven to 0
//!   or below stays in the table at weight 0, it is not "down".
//!
//! One deliberate difference: keepalived 2.2.7 ignores `reverse` for a weight-0 FILE_CHECK
//! when it reads the file at start-up (a non-zero value takes the server down even with
//! `reverse`, a zero value leaves it up), and only honours it from the first change of the
//! file on. rampart applies the documented rule from the start.
//!
//! [`FileTrack`] is the pure rule; [`spawn`] is the shell that polls the files (as the VRRP
//! side does, src/vrrp/track_file.rs: every [`crate::vrrp::track_file::POLL_INTERVAL`],
//! comparing values, which also sees files replaced by rename), taking a value once two
//! reads agree ([`Settle`]).

use crate::config::{Config, TrackFile, TrackFileRef};
use std::path::Path;
use tokio::sync::mpsc;

/// The bottom of keepalived's checker weight range: a result here is a failure.
pub const FAULT: i64 = i32::MIN as i64;
/// The top of it (also the largest IPVS weight keepalived programs).
pub const WEIGHT_MAX: i64 = i32::MAX as i64;

/// One FILE_CHECK of one real server, resolved against its track_file block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileTrack {
    /// The track_file block's name.
    pub name: String,
    pub weight: i32,
    pub reverse: bool,
}

/// What a file's value means for one FILE_CHECK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileStatus {
    /// The real server is down because of this file.
    Fault,
    /// Added to the real server's weight (may be negative).
    Adjust(i64),
}

impl FileTrack {
    /// keepalived's FILE_CHECK rule: without its own `weight`, the block's weight and
    /// `reverse`; with one, `reverse` only when written after it.
    pub fn resolve(r: &TrackFileRef, file: &TrackFile) -> FileTrack {
        let (weight, reverse) = match r.weight {
            Some(w) => (w, r.reverse.unwrap_or(false)),
            None => (file.weight, file.reverse),
        };
        FileTrack {
            name: r.name.clone(),
            weight,
            reverse,
        }
    }

    pub fn status(&self, value: i64) -> FileStatus {
        if self.weight == 0 {
            return if (value != 0) != self.reverse {
                FileStatus::Fault
            } else {
                FileStatus::Adjust(0)
            };
        }
        let sign = if self.reverse { -1 } else { 1 };
        // |value| <= 2^31 and |weight| < 2^31: the product fits an i128 (and an i64).
        let product = i128::from(value) * i128::from(self.weight) * sign;
        let clamped = product.clamp(FAULT.into(), WEIGHT_MAX.into()) as i64;
        if clamped == FAULT {
            FileStatus::Fault
        } else {
            FileStatus::Adjust(clamped)
        }
    }
}

/// The IPVS weight of a real server: `base` plus the additions, clamped to [0, 2^31-1].
pub fn effective_weight(base: u32, adjustments: impl IntoIterator<Item = i64>) -> u32 {
    let sum = adjustments
        .into_iter()
        .fold(i128::from(base), |acc, a| acc + i128::from(a));
    sum.clamp(0, WEIGHT_MAX.into()) as u32
}

/// The track_file blocks some FILE_CHECK uses (the others are not read, as in keepalived).
pub fn tracked(cfg: &Config) -> Vec<TrackFile> {
    cfg.track_files
        .iter()
        .filter(|f| {
            cfg.virtual_servers
                .iter()
                .flat_map(|v| &v.real_servers)
                .flat_map(|r| &r.file_checks)
                .any(|t| t.name == f.name)
        })
        .cloned()
        .collect()
}

/// `init_file [VALUE] [overwrite]` for the files the checkers track, before they are first
/// read (keepalived does it while parsing, in the checker process too). The VRRP engine may
/// write the same value again; a file that exists is left alone unless `overwrite`, and
/// on a reload (`reload`) always, as keepalived does.
pub fn init_files(files: &[TrackFile], reload: bool) {
    for f in files {
        let Some((value, overwrite)) = f.init_file else {
            continue;
        };
        let path = Path::new(&f.file);
        if path.exists() && (!overwrite || reload) {
            continue;
        }
        if let Err(e) = std::fs::write(path, format!("{value}\n")) {
            tracing::error!(target: "check", "track_file {} ({}): cannot initialise {}: {e}", f.name, f.span, f.file);
        }
    }
}

/// Warn about files whose directory does not exist: keepalived drops such a track_file
/// ("Track file directory for NAME does not exist - removing"); rampart keeps reading it
/// as 0 until it appears.
pub fn warn_missing_directories(files: &[TrackFile]) {
    for f in files {
        let dir = match Path::new(&f.file).parent() {
            Some(d) if d.as_os_str().is_empty() => Path::new("."),
            Some(d) => d,
            None => continue,
        };
        if !dir.is_dir() {
            tracing::warn!(target: "check", "track_file {} ({}): the directory of {} does not exist; the file reads 0 until it does (keepalived ignores such a track_file)", f.name, f.span, f.file);
        }
    }
}

/// A value read from a tracked file.
pub type FileValue = crate::vrrp::track_file::FileValue;

/// Read every file once (the values the real servers start with).
pub fn read_all(files: &[TrackFile]) -> Vec<FileValue> {
    crate::vrrp::track_file::read_all(files)
}

/// A value is taken once two reads in a row agree. keepalived reads a file when the writer
/// closes it (inotify IN_CLOSE_WRITE); a poll can fall between the truncation and the write
/// of `echo 5 > file` and see an empty file (0), which would flap a real server for one
/// poll. Waiting for a second read costs one poll interval.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settle {
    /// The value last taken.
    pub taken: Option<i64>,
    /// A different value read once, waiting for a second read.
    pub pending: Option<i64>,
}

impl Settle {
    pub fn new(taken: Option<i64>) -> Settle {
        Settle {
            taken,
            pending: None,
        }
    }

    /// One read; Some(value) when a new value is taken.
    pub fn read(&mut self, value: i64) -> Option<i64> {
        if self.taken == Some(value) {
            self.pending = None;
            None
        } else if self.pending == Some(value) {
            self.taken = Some(value);
            self.pending = None;
            Some(value)
        } else {
            self.pending = Some(value);
            None
        }
    }
}

/// Poll `files` every [`crate::vrrp::track_file::POLL_INTERVAL`] and send each new value
/// (see [`Settle`]; `initial`: the values already applied), tagged with `generation` (a
/// reload starts a new poller; values the old one sent late are told apart). Ends when the
/// receiver is gone.
pub fn spawn(
    files: Vec<TrackFile>,
    initial: Vec<FileValue>,
    generation: u64,
    tx: mpsc::UnboundedSender<(u64, FileValue)>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut last: Vec<Settle> = files
            .iter()
            .map(|f| Settle::new(initial.iter().find(|v| v.name == f.name).map(|v| v.value)))
            .collect();
        let mut ignored: Vec<bool> = vec![false; files.len()];
        let mut tick = tokio::time::interval(crate::vrrp::track_file::POLL_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            for ((f, last), ignored) in files.iter().zip(last.iter_mut()).zip(ignored.iter_mut()) {
                let Some(value) = crate::vrrp::track_file::read_value(&f.file) else {
                    if !*ignored {
                        tracing::info!(target: "check", "track_file {}: {} holds a number outside [-2^31, 2^31]; ignored", f.name, f.file);
                        *ignored = true;
                    }
                    continue;
                };
                *ignored = false;
                if let Some(value) = last.read(value) {
                    tracing::info!(target: "check", "track_file {}: {} now reads {value}", f.name, f.file);
                    if tx
                        .send((
                            generation,
                            FileValue {
                                name: f.name.clone(),
                                value,
                            },
                        ))
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::diag::Span;

    fn track(weight: i32, reverse: bool) -> FileTrack {
        FileTrack {
            name: "f".into(),
            weight,
            reverse,
        }
    }

    fn block(weight: i32, reverse: bool) -> TrackFile {
        TrackFile {
            name: "f".into(),
            file: "/nonexistent".into(),
            weight,
            reverse,
            init_file: None,
            span: Span::builtin(),
        }
    }

    fn reference(weight: Option<i32>, reverse: Option<bool>) -> TrackFileRef {
        TrackFileRef {
            name: "f".into(),
            weight,
            reverse,
            span: Span::builtin(),
        }
    }

    #[test]
    fn a_file_check_without_weight_takes_the_block_s_weight_and_reverse() {
        assert_eq!(
            FileTrack::resolve(&reference(None, None), &block(-2, true)),
            track(-2, true)
        );
        // Its own weight: reverse only when written, never the block's.
        assert_eq!(
            FileTrack::resolve(&reference(Some(3), Some(false)), &block(-2, true)),
            track(3, false)
        );
        assert_eq!(
            FileTrack::resolve(&reference(Some(3), Some(true)), &block(1, false)),
            track(3, true)
        );
    }

    #[test]
    fn weight_zero_fails_on_a_non_zero_value_or_with_reverse_on_zero() {
        use FileStatus::*;
        assert_eq!(track(0, false).status(0), Adjust(0));
        assert_eq!(track(0, false).status(1), Fault);
        assert_eq!(track(0, false).status(-7), Fault);
        assert_eq!(track(0, true).status(0), Fault);
        assert_eq!(track(0, true).status(5), Adjust(0));
    }

    /// The values the VM run of keepalived 2.2.7 showed (tests/check_file_vm.rs).
    #[test]
    fn weighted_values_multiply_clamp_and_fail_only_at_the_bottom() {
        use FileStatus::*;
        assert_eq!(track(1, false).status(3), Adjust(3));
        assert_eq!(track(3, false).status(-2), Adjust(-6));
        assert_eq!(track(2, true).status(3), Adjust(-6));
        assert_eq!(track(-2, true).status(1), Adjust(2));
        assert_eq!(track(i32::MAX, false).status(-1), Adjust(-WEIGHT_MAX));
        assert_eq!(track(i32::MAX, false).status(-2), Fault);
        assert_eq!(track(1, false).status(1 << 31), Adjust(WEIGHT_MAX));
        assert_eq!(track(1, false).status(-(1 << 31)), Fault);
        assert_eq!(track(2, true).status(-(1 << 31)), Adjust(WEIGHT_MAX));
        assert_eq!(track(2, true).status(1 << 31), Fault);
    }

    #[test]
    fn the_ipvs_weight_is_the_sum_clamped_to_zero_and_the_32_bit_maximum() {
        assert_eq!(effective_weight(5, [3, -1]), 7);
        assert_eq!(effective_weight(5, [-6]), 0);
        assert_eq!(effective_weight(1_000_000, [-1_000_000]), 0);
        assert_eq!(effective_weight(5, [WEIGHT_MAX]), WEIGHT_MAX as u32);
        assert_eq!(
            effective_weight(5, [WEIGHT_MAX, WEIGHT_MAX, -WEIGHT_MAX]),
            WEIGHT_MAX as u32
        );
        assert_eq!(effective_weight(5, []), 5);
    }

    #[test]
    fn a_value_is_taken_when_two_reads_agree() {
        let mut s = Settle::new(Some(5));
        assert_eq!(s.read(5), None);
        // `echo 7 > f` seen half-way: empty (0), then 7.
        assert_eq!(s.read(0), None);
        assert_eq!(s.read(7), None);
        assert_eq!(s.read(7), Some(7));
        assert_eq!(s.read(7), None);
        // A blip back to the taken value cancels the pending one.
        assert_eq!(s.read(3), None);
        assert_eq!(s.read(7), None);
        assert_eq!(s.read(3), None);
        assert_eq!(s.read(3), Some(3));
        // Nothing read yet (no initial value): the first value still needs two reads.
        let mut s = Settle::new(None);
        assert_eq!(s.read(0), None);
        assert_eq!(s.read(0), Some(0));
    }

    #[test]
    fn only_files_some_file_check_uses_are_tracked() {
        let cfg = crate::config::load_str(
            "t.conf",
            "track_file used {\n file /tmp/a\n}\ntrack_file unused {\n file /tmp/b\n}\n\
             virtual_server 10.0.0.1 80 {\n protocol TCP\n real_server 10.0.0.2 80 {\n  FILE_CHECK {\n   track_file used\n  }\n }\n}\n",
            &Default::default(),
        )
        .expect("valid configuration")
        .config;
        let names: Vec<String> = tracked(&cfg).into_iter().map(|f| f.name).collect();
        assert_eq!(names, ["used"]);
    }
}
