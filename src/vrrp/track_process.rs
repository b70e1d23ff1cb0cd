//! `vrrp_track_process`: is the quorum of matching processes running?
//!
//! The pure core ([`ProcessTracker`]) is given process-table snapshots and the time; it
//! decides each tracked process's up/down with keepalived's rules (keepalived.conf(5) "VRRP
//! track processes", and keepalived 2.2.7's behaviour):
//!
//! - up means `quorum <= count <= quorum_max` (matching processes, zombies excluded);
//! - a change caused by a *fork* of a tracked process (a new matching process whose parent
//!   is counted by the same tracker) waits `fork_delay`; one caused by an *exit* waits
//!   `terminate_delay`; while either timer runs, a change back cancels it and nothing is
//!   reported (a process restarted by its supervisor within the delay is no event);
//! - a process started by someone else (fork + exec of a new program), renamed (comm
//!   change) or exec'ing into something else changes the count at once, without delay;
//! - the first scan decides the initial status with no delay.
//!
//! The I/O shell ([`scan`], [`spawn`]) reads /proc. keepalived listens to the kernel's
//! process connector instead, but that only works in the initial network namespace
//! (keepalived 2.2.7 in a namespace logs "Failed to set/clear process event listen - errno
//! 111" and then never sees any process); /proc is shared by all network namespaces, so
//! rampart polls it every [`POLL_INTERVAL`], reading only some processes' files per poll (see
//! [`Scanner`]); /proc/PID/cmdline is read only when some tracker matches command lines, and
//! then only for new processes or ones whose name changed (exec), as keepalived reads it only
//! on exec, because reading it may page a swapped-out process in.
//!
//! Polling sees the net effect of what happened between two polls: a process forked and
//! exec'd into something else within one interval is never counted (keepalived needs
//! `fork_delay` to hide that bounce), and one snapshot's changes are applied exits first,
//! then renames, then new processes, and only the net change per tracker is reported (a
//! process replaced between two polls does not flap the priority).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::config::{Config, ParamMatch, TrackProcess};

/// How often /proc is read. A process exit is noticed within this time; a steady poll with
/// 1,100 processes costs about 2.5 ms on a loaded host (docs/benchmarks/vrrp.md).
pub const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// One running process as the core needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcInfo {
    pub pid: u32,
    pub ppid: u32,
    /// The process name (/proc/PID/comm, at most 15 bytes).
    pub comm: String,
    /// The command line (/proc/PID/cmdline split at NULs); None when not read.
    pub argv: Option<Vec<String>>,
}

/// A tracked process gained (`up`) or lost its quorum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    pub name: String,
    pub up: bool,
}

/// What a tracker looks like now (for logs and status).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackerStatus {
    pub name: String,
    pub count: u32,
    pub up: bool,
}

/// Does process `p` match the block `t` (keepalived's rules)?
pub fn matches(t: &TrackProcess, p: &ProcInfo) -> bool {
    if !t.full_command {
        return p.comm == t.process;
    }
    let Some(argv) = &p.argv else {
        return false;
    };
    let Some((cmd, args)) = argv.split_first() else {
        return false;
    };
    if *cmd != t.process {
        return false;
    }
    let want = &t.params;
    match t.param_match {
        None => true,
        Some(ParamMatch::Exact) => args == want.as_slice(),
        Some(ParamMatch::Partial) => args.len() >= want.len() && args[..want.len()] == want[..],
        Some(ParamMatch::Initial) => match want.split_last() {
            None => true,
            Some((last, first)) => {
                args.len() >= want.len()
                    && args[..first.len()] == *first
                    && args[first.len()].starts_with(last.as_str())
            }
        },
    }
}

#[derive(Debug, Clone)]
struct Tracker {
    def: TrackProcess,
    /// Matching processes now.
    members: BTreeSet<u32>,
    /// The status reported to the instances.
    up: bool,
    fork_timer: Option<Instant>,
    terminate_timer: Option<Instant>,
}

impl Tracker {
    fn count(&self) -> u32 {
        self.members.len() as u32
    }
    fn in_range(&self) -> bool {
        (self.def.quorum..=self.def.quorum_max).contains(&self.count())
    }
    /// The count just went from n-1 to n: did it cross a quorum bound?
    fn crossed_up(&self) -> bool {
        let n = u64::from(self.count());
        n == u64::from(self.def.quorum) || n == u64::from(self.def.quorum_max) + 1
    }
    /// The count just went from n+1 to n.
    fn crossed_down(&self) -> bool {
        let n = u64::from(self.count());
        n + 1 == u64::from(self.def.quorum) || n == u64::from(self.def.quorum_max)
    }

    /// A process joined. `fork`: it is a child of a process this tracker counts.
    fn add(&mut self, pid: u32, fork: bool, now: Instant) {
        if !self.members.insert(pid) || !self.crossed_up() {
            return;
        }
        if self.terminate_timer.take().is_some() {
            // The exit that started the timer is undone: report the truth now.
            self.up = self.in_range();
        } else if fork && !self.def.fork_delay.is_zero() {
            self.fork_timer.get_or_insert(now + self.def.fork_delay);
        } else {
            self.up = self.in_range();
        }
    }

    /// A process left. `exit`: it terminated (otherwise it was renamed or exec'd away).
    fn remove(&mut self, pid: u32, exit: bool, now: Instant) {
        if !self.members.remove(&pid) || !self.crossed_down() {
            return;
        }
        if self.fork_timer.take().is_some() {
            self.up = self.in_range();
        } else if exit && !self.def.terminate_delay.is_zero() {
            self.terminate_timer
                .get_or_insert(now + self.def.terminate_delay);
        } else {
            self.up = self.in_range();
        }
    }

    fn expire(&mut self, now: Instant) {
        let mut fired = false;
        for timer in [&mut self.fork_timer, &mut self.terminate_timer] {
            if timer.is_some_and(|t| t <= now) {
                *timer = None;
                fired = true;
            }
        }
        if fired {
            self.up = self.in_range();
        }
    }
}

/// The process-tracking core: one tracker per `vrrp_track_process` block.
#[derive(Debug, Clone, Default)]
pub struct ProcessTracker {
    trackers: Vec<Tracker>,
    /// The previous snapshot (pid → process).
    prev: BTreeMap<u32, ProcInfo>,
}

impl ProcessTracker {
    pub fn new(defs: Vec<TrackProcess>) -> ProcessTracker {
        ProcessTracker {
            trackers: defs
                .into_iter()
                .map(|def| Tracker {
                    def,
                    members: BTreeSet::new(),
                    up: false,
                    fork_timer: None,
                    terminate_timer: None,
                })
                .collect(),
            prev: BTreeMap::new(),
        }
    }

    /// Some tracker matches command lines (the shell must read /proc/PID/cmdline).
    pub fn needs_cmdline(&self) -> bool {
        self.trackers.iter().any(|t| t.def.full_command)
    }

    /// The first scan: counts and status with no delay. Returns every tracker's status.
    pub fn start(&mut self, snapshot: Vec<ProcInfo>) -> Vec<StatusChange> {
        self.prev = snapshot.into_iter().map(|p| (p.pid, p)).collect();
        for t in &mut self.trackers {
            t.members = self
                .prev
                .values()
                .filter(|p| matches(&t.def, p))
                .map(|p| p.pid)
                .collect();
            t.up = t.in_range();
            t.fork_timer = None;
            t.terminate_timer = None;
        }
        self.trackers
            .iter()
            .map(|t| StatusChange {
                name: t.def.name.clone(),
                up: t.up,
            })
            .collect()
    }

    /// A later snapshot at `now` (due timers fire first). Returns the net changes.
    pub fn observe(&mut self, snapshot: Vec<ProcInfo>, now: Instant) -> Vec<StatusChange> {
        let before = self.statuses();
        for t in &mut self.trackers {
            t.expire(now);
        }
        let next: BTreeMap<u32, ProcInfo> = snapshot.into_iter().map(|p| (p.pid, p)).collect();
        // Exits.
        for pid in self.prev.keys().filter(|pid| !next.contains_key(pid)) {
            for t in &mut self.trackers {
                t.remove(*pid, true, now);
            }
        }
        // Renamed or exec'd: leave or join at once.
        for (pid, p) in &next {
            let Some(old) = self.prev.get(pid) else {
                continue;
            };
            if old == p {
                continue;
            }
            for t in &mut self.trackers {
                if matches(&t.def, p) {
                    t.add(*pid, false, now);
                } else {
                    t.remove(*pid, false, now);
                }
            }
        }
        // New processes, oldest pid first so a child sees its parent counted.
        for (pid, p) in next.iter().filter(|(pid, _)| !self.prev.contains_key(pid)) {
            for t in &mut self.trackers {
                if matches(&t.def, p) {
                    let fork = t.members.contains(&p.ppid);
                    t.add(*pid, fork, now);
                }
            }
        }
        self.prev = next;
        self.changes_since(before)
    }

    /// Fire the timers due at `now`. Returns the net changes.
    pub fn expire(&mut self, now: Instant) -> Vec<StatusChange> {
        let before = self.statuses();
        for t in &mut self.trackers {
            t.expire(now);
        }
        self.changes_since(before)
    }

    /// When [`ProcessTracker::expire`] must be called next, if a delay is running.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.trackers
            .iter()
            .flat_map(|t| [t.fork_timer, t.terminate_timer])
            .flatten()
            .min()
    }

    /// The pids some tracker counts now.
    pub fn members(&self) -> BTreeSet<u32> {
        self.trackers
            .iter()
            .flat_map(|t| t.members.iter().copied())
            .collect()
    }

    pub fn status(&self) -> Vec<TrackerStatus> {
        self.trackers
            .iter()
            .map(|t| TrackerStatus {
                name: t.def.name.clone(),
                count: t.count(),
                up: t.up,
            })
            .collect()
    }

    fn statuses(&self) -> Vec<bool> {
        self.trackers.iter().map(|t| t.up).collect()
    }

    fn changes_since(&self, before: Vec<bool>) -> Vec<StatusChange> {
        self.trackers
            .iter()
            .zip(before)
            .filter(|(t, was)| t.up != *was)
            .map(|(t, _)| StatusChange {
                name: t.def.name.clone(),
                up: t.up,
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------------------
// I/O shell
// ---------------------------------------------------------------------------------------

/// The `vrrp_track_process` blocks some instance or sync group tracks (the others are never
/// looked at, as in keepalived).
pub fn tracked(cfg: &Config) -> Vec<TrackProcess> {
    cfg.track_processes
        .iter()
        .filter(|p| {
            cfg.instances
                .iter()
                .any(|i| i.track_process.iter().any(|t| t.name == p.name))
                || cfg
                    .sync_groups
                    .iter()
                    .any(|g| g.track_process.iter().any(|t| t.name == p.name))
        })
        .cloned()
        .collect()
}

/// (name, state, parent pid) from the text of /proc/PID/stat: the name is between the
/// first '(' and the last ')' (it may itself contain parentheses and spaces).
pub fn parse_stat(text: &str) -> Option<(String, char, u32)> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_string();
    let mut rest = text.get(close + 1..)?.split_ascii_whitespace();
    let state = rest.next()?.chars().next()?;
    let ppid = rest.next()?.parse().ok()?;
    Some((comm, state, ppid))
}

/// /proc/PID/cmdline split at NULs (a trailing NUL ends the last argument).
pub fn parse_cmdline(bytes: &[u8]) -> Vec<String> {
    let bytes = bytes.strip_suffix(&[0]).unwrap_or(bytes);
    if bytes.is_empty() {
        return Vec::new();
    }
    bytes
        .split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

/// Every known process is read again once per this many polls (spread by pid), to see
/// renames and execs of processes no tracker counts yet.
pub const RECHECK_POLLS: u32 = 25;

/// Reads the process table incrementally. Listing /proc is cheap; reading a process's
/// files is not (about 30 µs per file on a loaded host), so a poll reads only:
/// processes new since the last poll, processes first seen in the previous poll (a fork
/// caught before its exec), the processes some tracker counts (their exit, zombie state or
/// rename is seen at once), and 1/[`RECHECK_POLLS`] of the others (by pid), so a process
/// that renames or execs itself into a tracked name is seen within RECHECK_POLLS polls.
#[derive(Debug, Default)]
pub struct Scanner {
    /// Read command lines too (some tracker uses `full_command`).
    cmdline: bool,
    known: BTreeMap<u32, ProcInfo>,
    /// Pids first seen by the previous poll.
    fresh: BTreeSet<u32>,
    round: u32,
}

impl Scanner {
    pub fn new(cmdline: bool) -> Scanner {
        Scanner {
            cmdline,
            ..Scanner::default()
        }
    }

    /// One poll. `watched`: pids read whatever the round (the counted processes).
    /// Zombies are left out (they are not running); processes that vanish while being read
    /// are simply absent.
    pub fn scan(&mut self, watched: &BTreeSet<u32>) -> Vec<ProcInfo> {
        let first = self.known.is_empty();
        let mut next = BTreeMap::new();
        let mut fresh = BTreeSet::new();
        for pid in proc_pids() {
            let old = self.known.get(&pid);
            let read = old.is_none()
                || self.fresh.contains(&pid)
                || watched.contains(&pid)
                || pid % RECHECK_POLLS == self.round % RECHECK_POLLS;
            let info = match (read, old) {
                (false, Some(p)) => Some(p.clone()),
                _ => read_process(pid, self.cmdline, old),
            };
            let Some(info) = info else {
                continue;
            };
            if old.is_none() && !first {
                fresh.insert(pid);
            }
            next.insert(pid, info);
        }
        self.known = next;
        self.fresh = fresh;
        self.round = self.round.wrapping_add(1);
        self.known.values().cloned().collect()
    }
}

/// One process from /proc (None: gone, unreadable or a zombie). The command line is read
/// only with `cmdline`, and reused from `old` when the name did not change (exec changes it).
/// The process ids in /proc (the directories named by a number); none if /proc is unreadable.
pub fn proc_pids() -> impl Iterator<Item = u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()))
}

fn read_process(pid: u32, cmdline: bool, old: Option<&ProcInfo>) -> Option<ProcInfo> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (comm, state, ppid) = parse_stat(&stat)?;
    if state == 'Z' || state == 'X' {
        return None;
    }
    let argv = if !cmdline {
        None
    } else {
        match old {
            Some(p) if p.comm == comm && p.argv.is_some() => p.argv.clone(),
            _ => Some(parse_cmdline(
                &std::fs::read(format!("/proc/{pid}/cmdline")).ok()?,
            )),
        }
    };
    Some(ProcInfo {
        pid,
        ppid,
        comm,
        argv,
    })
}

/// The first scan, done before the instances start so they start with the right status.
pub fn start(defs: Vec<TrackProcess>) -> (ProcessTracker, Scanner, Vec<StatusChange>) {
    let mut core = ProcessTracker::new(defs);
    let mut scanner = Scanner::new(core.needs_cmdline());
    let initial = core.start(scanner.scan(&BTreeSet::new()));
    for t in core.status() {
        tracing::info!(target: "vrrp", "track_process {}: {} process(es) running, quorum {}", t.name, t.count, if t.up { "achieved" } else { "not achieved" });
    }
    (core, scanner, initial)
}

/// Poll /proc with `core` (already started by [`start`]) and send every status change.
/// Ends when the receiver is gone.
pub fn spawn(
    mut core: ProcessTracker,
    mut scanner: Scanner,
    tx: tokio::sync::mpsc::UnboundedSender<StatusChange>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut next_poll = tokio::time::Instant::now() + POLL_INTERVAL;
        loop {
            let deadline = match core.next_deadline() {
                Some(d) => next_poll.min(tokio::time::Instant::from_std(d)),
                None => next_poll,
            };
            tokio::time::sleep_until(deadline).await;
            let now = Instant::now();
            let changes = if tokio::time::Instant::now() >= next_poll {
                // A few dozen small reads per poll (see Scanner): fine on the runtime's
                // thread, as the track_file poller does.
                let snapshot = scanner.scan(&core.members());
                next_poll = tokio::time::Instant::now() + POLL_INTERVAL;
                core.observe(snapshot, now)
            } else {
                core.expire(now)
            };
            let counts = core.status();
            for c in changes {
                let count = counts
                    .iter()
                    .find(|t| t.name == c.name)
                    .map_or(0, |t| t.count);
                tracing::info!(target: "vrrp", "track_process {}: quorum {} ({count} process(es) running)", c.name, if c.up { "gained" } else { "lost" });
                if tx.send(c).is_err() {
                    return;
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Span;

    fn def(name: &str, process: &str) -> TrackProcess {
        TrackProcess {
            name: name.into(),
            process: process.into(),
            params: Vec::new(),
            param_match: None,
            full_command: false,
            weight: 0,
            reverse: false,
            quorum: 1,
            quorum_max: u32::MAX,
            fork_delay: Duration::ZERO,
            terminate_delay: Duration::ZERO,
            span: Span::builtin(),
        }
    }

    fn proc_(pid: u32, ppid: u32, comm: &str) -> ProcInfo {
        ProcInfo {
            pid,
            ppid,
            comm: comm.into(),
            argv: None,
        }
    }

    fn cmd(pid: u32, argv: &[&str]) -> ProcInfo {
        ProcInfo {
            pid,
            ppid: 1,
            comm: "x".into(),
            argv: Some(argv.iter().map(|s| s.to_string()).collect()),
        }
    }

    fn up(name: &str, up: bool) -> StatusChange {
        StatusChange {
            name: name.into(),
            up,
        }
    }

    fn ms(t0: Instant, n: u64) -> Instant {
        t0 + Duration::from_millis(n)
    }

    #[test]
    fn comm_matching_is_exact_not_a_regex() {
        let d = def("t", "ssh");
        assert!(matches(&d, &proc_(5, 1, "ssh")));
        assert!(!matches(&d, &proc_(5, 1, "sshd")));
        assert!(!matches(&d, &proc_(5, 1, "ss")));
    }

    #[test]
    fn command_line_matching_follows_param_match() {
        let mut d = def("t", "/bin/sleep");
        d.full_command = true;
        // No param_match: arguments are not looked at.
        assert!(matches(&d, &cmd(1, &["/bin/sleep", "5"])));
        assert!(!matches(&d, &cmd(1, &["sleep", "5"])));
        assert!(!matches(&d, &cmd(1, &[])));
        assert!(!matches(&d, &proc_(1, 1, "/bin/sleep")), "no argv read");
        // Exact with no arguments: the process must have none.
        d.param_match = Some(ParamMatch::Exact);
        assert!(matches(&d, &cmd(1, &["/bin/sleep"])));
        assert!(!matches(&d, &cmd(1, &["/bin/sleep", "5"])));
        d.params = vec!["10".into(), "20".into()];
        assert!(matches(&d, &cmd(1, &["/bin/sleep", "10", "20"])));
        assert!(!matches(&d, &cmd(1, &["/bin/sleep", "10", "20", "30"])));
        assert!(!matches(&d, &cmd(1, &["/bin/sleep", "10", "2"])));
        d.param_match = Some(ParamMatch::Partial);
        assert!(matches(&d, &cmd(1, &["/bin/sleep", "10", "20", "30"])));
        assert!(!matches(&d, &cmd(1, &["/bin/sleep", "10", "200"])));
        assert!(!matches(&d, &cmd(1, &["/bin/sleep", "10"])));
        d.param_match = Some(ParamMatch::Initial);
        assert!(matches(&d, &cmd(1, &["/bin/sleep", "10", "200"])));
        assert!(matches(&d, &cmd(1, &["/bin/sleep", "10", "20", "x"])));
        assert!(!matches(&d, &cmd(1, &["/bin/sleep", "1", "20"])));
        assert!(!matches(&d, &cmd(1, &["/bin/sleep", "10", "2"])));
    }

    #[test]
    fn first_scan_decides_without_delay() {
        let mut d = def("t", "nginx");
        d.fork_delay = Duration::from_secs(5);
        d.quorum = 2;
        let mut c = ProcessTracker::new(vec![d, def("other", "haproxy")]);
        let got = c.start(vec![proc_(10, 1, "nginx"), proc_(11, 10, "nginx")]);
        assert_eq!(got, vec![up("t", true), up("other", false)]);
        assert_eq!(c.next_deadline(), None);
    }

    #[test]
    fn start_and_stop_without_delays_change_at_once() {
        let t0 = Instant::now();
        let mut c = ProcessTracker::new(vec![def("t", "nginx")]);
        assert_eq!(c.start(vec![proc_(1, 0, "init")]), vec![up("t", false)]);
        let got = c.observe(vec![proc_(1, 0, "init"), proc_(7, 1, "nginx")], ms(t0, 200));
        assert_eq!(got, vec![up("t", true)]);
        let got = c.observe(vec![proc_(1, 0, "init")], ms(t0, 400));
        assert_eq!(got, vec![up("t", false)]);
        assert_eq!(c.observe(vec![proc_(1, 0, "init")], ms(t0, 600)), vec![]);
    }

    #[test]
    fn terminate_delay_holds_the_quorum_and_a_restart_cancels_it() {
        let t0 = Instant::now();
        let mut d = def("t", "nginx");
        d.terminate_delay = Duration::from_millis(1500);
        let mut c = ProcessTracker::new(vec![d]);
        c.start(vec![proc_(7, 1, "nginx")]);
        // Exit at 200 ms: still up, timer at 1700 ms.
        assert_eq!(c.observe(vec![], ms(t0, 200)), vec![]);
        assert_eq!(c.next_deadline(), Some(ms(t0, 1700)));
        assert_eq!(c.expire(ms(t0, 1699)), vec![]);
        // Restarted (by someone else) at 1000 ms: the timer is cancelled, no change.
        assert_eq!(c.observe(vec![proc_(9, 1, "nginx")], ms(t0, 1000)), vec![]);
        assert_eq!(c.next_deadline(), None);
        // Exit again at 2000 ms; nothing comes back: down exactly at 3500 ms.
        assert_eq!(c.observe(vec![], ms(t0, 2000)), vec![]);
        assert_eq!(c.expire(ms(t0, 3499)), vec![]);
        assert_eq!(c.expire(ms(t0, 3500)), vec![up("t", false)]);
        assert_eq!(c.next_deadline(), None);
    }

    #[test]
    fn fork_delay_applies_to_children_of_counted_processes_only() {
        let t0 = Instant::now();
        let mut d = def("t", "nginx");
        d.quorum = 2;
        d.fork_delay = Duration::from_millis(500);
        let mut c = ProcessTracker::new(vec![d]);
        c.start(vec![proc_(7, 1, "nginx")]);
        // A worker forked by the master: up only after fork_delay.
        let snap = vec![proc_(7, 1, "nginx"), proc_(8, 7, "nginx")];
        assert_eq!(c.observe(snap.clone(), ms(t0, 200)), vec![]);
        assert_eq!(c.next_deadline(), Some(ms(t0, 700)));
        assert_eq!(c.observe(snap.clone(), ms(t0, 400)), vec![]);
        assert_eq!(c.observe(snap.clone(), ms(t0, 700)), vec![up("t", true)]);
        // The worker exits and a new one is started from a shell: at once both ways.
        assert_eq!(
            c.observe(vec![proc_(7, 1, "nginx")], ms(t0, 900)),
            vec![up("t", false)]
        );
        let snap = vec![proc_(7, 1, "nginx"), proc_(30, 2, "nginx")];
        assert_eq!(c.observe(snap, ms(t0, 1100)), vec![up("t", true)]);
    }

    #[test]
    fn a_fork_that_dies_within_fork_delay_never_counts() {
        let t0 = Instant::now();
        let mut d = def("t", "nginx");
        d.quorum = 2;
        d.delay_both(Duration::from_secs(1));
        let mut c = ProcessTracker::new(vec![d]);
        c.start(vec![proc_(7, 1, "nginx")]);
        assert_eq!(
            c.observe(
                vec![proc_(7, 1, "nginx"), proc_(8, 7, "nginx")],
                ms(t0, 200)
            ),
            vec![]
        );
        // The child exits while the fork timer runs: cancelled, status unchanged (down),
        // and no terminate timer.
        assert_eq!(c.observe(vec![proc_(7, 1, "nginx")], ms(t0, 400)), vec![]);
        assert_eq!(c.next_deadline(), None);
        assert_eq!(c.expire(ms(t0, 5000)), vec![]);
        assert!(!c.status()[0].up);
    }

    #[test]
    fn quorum_max_exceeded_and_restored() {
        let t0 = Instant::now();
        let mut d = def("t", "haproxy");
        d.quorum_max = 1;
        d.terminate_delay = Duration::from_millis(300);
        let mut c = ProcessTracker::new(vec![d]);
        assert_eq!(c.start(vec![proc_(5, 1, "haproxy")]), vec![up("t", true)]);
        // A second one started by someone else: above quorum_max, down at once.
        let two = vec![proc_(5, 1, "haproxy"), proc_(6, 1, "haproxy")];
        assert_eq!(c.observe(two, ms(t0, 200)), vec![up("t", false)]);
        // One exits: back to 1 after terminate_delay (an exit is an exit either way).
        assert_eq!(c.observe(vec![proc_(5, 1, "haproxy")], ms(t0, 400)), vec![]);
        assert_eq!(c.expire(ms(t0, 700)), vec![up("t", true)]);
    }

    #[test]
    fn quorum_max_zero_means_none_may_run() {
        let t0 = Instant::now();
        let mut d = def("t", "telnetd");
        d.quorum = 0;
        d.quorum_max = 0;
        let mut c = ProcessTracker::new(vec![d]);
        assert_eq!(c.start(vec![]), vec![up("t", true)]);
        assert_eq!(
            c.observe(vec![proc_(3, 1, "telnetd")], ms(t0, 200)),
            vec![up("t", false)]
        );
        assert_eq!(c.observe(vec![], ms(t0, 400)), vec![up("t", true)]);
    }

    #[test]
    fn rename_and_exec_change_the_count_at_once() {
        let t0 = Instant::now();
        let mut d = def("t", "worker");
        d.terminate_delay = Duration::from_secs(10);
        d.fork_delay = Duration::from_secs(10);
        let mut c = ProcessTracker::new(vec![d]);
        c.start(vec![proc_(4, 1, "starter")]);
        // prctl(PR_SET_NAME) / exec into `worker`: joins at once.
        assert_eq!(
            c.observe(vec![proc_(4, 1, "worker")], ms(t0, 200)),
            vec![up("t", true)]
        );
        // Renamed away: leaves at once, no terminate_delay (it did not exit).
        assert_eq!(
            c.observe(vec![proc_(4, 1, "other")], ms(t0, 400)),
            vec![up("t", false)]
        );
    }

    #[test]
    fn a_process_replaced_between_two_polls_does_not_flap() {
        let t0 = Instant::now();
        let mut c = ProcessTracker::new(vec![def("t", "nginx")]);
        c.start(vec![proc_(7, 1, "nginx")]);
        // pid 7 exited and pid 9 started within one interval: net no change.
        assert_eq!(c.observe(vec![proc_(9, 1, "nginx")], ms(t0, 200)), vec![]);
        assert!(c.status()[0].up);
    }

    #[test]
    fn trackers_are_independent() {
        let t0 = Instant::now();
        let mut a = def("a", "nginx");
        a.terminate_delay = Duration::from_millis(500);
        let b = def("b", "nginx");
        let mut c = ProcessTracker::new(vec![a, b]);
        c.start(vec![proc_(7, 1, "nginx")]);
        assert_eq!(c.observe(vec![], ms(t0, 100)), vec![up("b", false)]);
        assert_eq!(c.expire(ms(t0, 600)), vec![up("a", false)]);
    }

    #[test]
    fn proc_files_parse() {
        assert_eq!(
            parse_stat("1234 (a (b) c) S 1 1234 1234 0 -1"),
            Some(("a (b) c".to_string(), 'S', 1))
        );
        assert_eq!(parse_stat("99 (x) Z 5 0"), Some(("x".to_string(), 'Z', 5)));
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat("1 (x)"), None);
        assert_eq!(
            parse_cmdline(b"/bin/sleep\x0010\x00"),
            vec!["/bin/sleep".to_string(), "10".to_string()]
        );
        assert_eq!(parse_cmdline(b"a\x00\x00b\x00"), vec!["a", "", "b"]);
        assert_eq!(parse_cmdline(b""), Vec::<String>::new());
    }

    #[test]
    fn the_own_process_is_found_in_proc() {
        // The test runner itself: its name in /proc/self/stat is what scan reports.
        let me = std::process::id();
        let snap = Scanner::new(true).scan(&BTreeSet::new());
        let p = snap.iter().find(|p| p.pid == me).expect("own pid in /proc");
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
        assert_eq!(Some(p.comm.clone()), parse_stat(&stat).map(|s| s.0));
        assert!(p.argv.as_ref().is_some_and(|a| !a.is_empty()));
    }

    #[test]
    fn scanner_sees_new_processes_and_exits_at_the_next_poll() {
        let mut scanner = Scanner::new(false);
        scanner.scan(&BTreeSet::new());
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("sleep");
        let pid = child.id();
        let snap = scanner.scan(&BTreeSet::new());
        assert!(snap.iter().any(|p| p.pid == pid), "new process seen");
        // Not watched and not this round's share: its entry is reused, still present.
        let snap = scanner.scan(&BTreeSet::new());
        let p = snap.iter().find(|p| p.pid == pid).expect("still there");
        assert_eq!(p.ppid, std::process::id());
        let _ = child.kill();
        let _ = child.wait();
        let snap = scanner.scan(&BTreeSet::new());
        assert!(!snap.iter().any(|p| p.pid == pid), "exit seen");
    }

    /// Not a test: the cost of one poll, printed (docs/benchmarks/vrrp.md). Run with
    /// `cargo test --release --lib vrrp::track_process::tests::scan_cost -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn scan_cost() {
        let extra: usize = std::env::var("SCAN_COST_PROCS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(1000);
        let mut children: Vec<_> = (0..extra)
            .map(|_| {
                std::process::Command::new("sleep")
                    .arg("600")
                    .spawn()
                    .expect("sleep")
            })
            .collect();
        let rounds = 50;
        let full = |cmdline| {
            let t = Instant::now();
            for _ in 0..rounds {
                // A new scanner each time: every process read, as the first scan does.
                std::hint::black_box(Scanner::new(cmdline).scan(&BTreeSet::new()));
            }
            t.elapsed() / rounds
        };
        let (full_comm, full_cmd) = (full(false), full(true));
        let mut scanner = Scanner::new(true);
        let procs = scanner.scan(&BTreeSet::new()).len();
        let t = Instant::now();
        for _ in 0..u64::from(RECHECK_POLLS) * 2 {
            std::hint::black_box(scanner.scan(&BTreeSet::new()));
        }
        let steady = t.elapsed() / (RECHECK_POLLS * 2);
        println!(
            "{procs} processes: full scan {full_comm:?} (with command lines {full_cmd:?}); steady poll {steady:?} = {:.2} % of a core at one poll per {POLL_INTERVAL:?}",
            steady.as_secs_f64() / POLL_INTERVAL.as_secs_f64() * 100.0
        );
        for c in children.iter_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    impl TrackProcess {
        fn delay_both(&mut self, d: Duration) {
            self.fork_delay = d;
            self.terminate_delay = d;
        }
    }
}
