//! The pure checker core: keepalived's check timing, real-server liveness, quorum with
//! hysteresis and sorry server, and the desired IPVS table that follows from them.
//!
//! No clock and no randomness in here: `now` comes with every input, probe results arrive as
//! inputs, and warmup jitter comes from an injected seed. The shell executes the actions.
//!
//! Timing (keepalived 2.2, check_*.c epilogues): a check runs every `delay_loop`. While the
//! checker is UP, a failure is retried after `delay_before_retry`; after `retry` retries (that
//! is, `retry`+1 consecutive failures) the checker goes DOWN and the next check is a
//! `delay_loop` later. While DOWN, one success brings it UP. `alpha` starts a checker DOWN.
//! `warmup` delays the first check by a random time in [0, warmup].

use super::file_check::{FileStatus, FileTrack};
use super::probe::{ConnectSpec, MiscSpec, Outcome, ProbeSpec, RegexCheck, TlsSpec, UrlSpec};
use crate::config::model::{
    CheckerKind, Command, Config, ForwardMethod, RealServer, VirtualServer, VsKey,
};
use crate::events::{Endpoint, Event};
use crate::ipvs::table::{
    DesiredTable, DestKey, DestSettings, ServiceEntry, ServiceKey, ServiceSettings,
};
use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// Index of a (deduplicated) probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProbeId(pub usize);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timing {
    pub delay_loop: Duration,
    /// Retries after a failure while UP; DOWN after `retry`+1 consecutive failures.
    pub retry: u32,
    pub delay_before_retry: Duration,
    pub warmup: Option<Duration>,
}

#[derive(Debug, Clone)]
pub enum Input {
    /// A probe's scheduled time came: the core answers [`Action::Run`], or, while the probe
    /// is suspended (`ha_suspend`), a new [`Action::Schedule`] a `delay_loop` later.
    Due { probe: ProbeId },
    /// A probe finished.
    Result { probe: ProbeId, outcome: Outcome },
    /// `addr` is no longer configured on this host: checks of `ha_suspend` virtual servers
    /// that have no other of their addresses left are suspended (their real servers keep
    /// their state and their IPVS entries, as keepalived does).
    Suspend { addr: IpAddr },
    /// `addr` is configured on this host (again): their checks resume.
    Resume { addr: IpAddr },
    /// The daemon is stopping: run omega scripts, empty the table.
    Shutdown,
    /// A `track_file` was read: the number in it (FILE_CHECK, see [`super::file_check`]).
    TrackFile { name: String, value: i64 },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Run `probe` at `at` (each probe has at most one pending run).
    Schedule {
        probe: ProbeId,
        at: Instant,
    },
    Emit(Event),
    /// notify_up/notify_down/quorum_up/quorum_down.
    RunScript {
        command: Command,
        why: String,
    },
    /// `desired()` changed.
    TableChanged,
    /// Start the probe now (answer to [`Input::Due`]).
    Run {
        probe: ProbeId,
    },
    /// Something to log at info (suspended or resumed checks).
    Log(String),
}

/// Configuration problems found while building the core (the checker is skipped).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoreError {
    #[error("{at}: {what}: no port to check (set connect_port)")]
    NoPort { at: String, what: &'static str },
    #[error("{at}: regex does not compile: {msg}")]
    Regex { at: String, msg: String },
    #[error("{at}: FILE_CHECK names no track_file block `{name}`")]
    UnknownTrackFile { at: String, name: String },
}

#[derive(Debug, Clone)]
struct ProbeState {
    spec: ProbeSpec,
    timing: Timing,
    alpha: bool,
    up: bool,
    retry_it: u32,
    /// misc_dynamic weight from the last success.
    weight: Option<u32>,
    last_reason: String,
    /// (virtual server, real server) pairs this probe feeds.
    feeds: Vec<(usize, usize)>,
    /// ha_suspend: the virtual server's addresses (inclusive ranges); empty: never suspended.
    suspend_on: Vec<(IpAddr, IpAddr)>,
    /// Those of `suspend_on` configured on this host; none: suspended.
    present: BTreeSet<IpAddr>,
    /// log_all_failures (checker, real or virtual server level, else the global
    /// checker_log_all_failures).
    log_all_failures: bool,
}

impl ProbeState {
    fn suspended(&self) -> bool {
        !self.suspend_on.is_empty() && self.present.is_empty()
    }
}

#[derive(Debug, Clone)]
struct RsState {
    dest: DestKey,
    endpoint: Endpoint,
    weight: u32,
    inhibit: bool,
    forward: ForwardMethod,
    tunnel: crate::config::model::Tunnel,
    uthreshold: u32,
    lthreshold: u32,
    notify_up: Option<Command>,
    notify_down: Option<Command>,
    probes: Vec<ProbeId>,
    /// FILE_CHECKs: their values are in [`Core::file_values`].
    files: Vec<FileTrack>,
    alive: bool,
    /// Effective weight while alive (configured, or misc_dynamic, plus the FILE_CHECKs'
    /// additions, clamped to [0, 2^31-1]).
    eff_weight: u32,
    /// The weight last reported in an [`Event::RealServerWeight`] (None inside: not in the
    /// table); None: not reported yet.
    reported_weight: Option<Option<u32>>,
}

#[derive(Debug, Clone)]
struct VsState {
    endpoint: Endpoint,
    services: Vec<(ServiceKey, ServiceSettings)>,
    rs: Vec<RsState>,
    quorum: u32,
    hysteresis: u32,
    quorum_up_cmd: Option<Command>,
    quorum_down_cmd: Option<Command>,
    omega: bool,
    sorry: Option<(DestKey, DestSettings)>,
    sorry_inhibit: bool,
    quorum_up: bool,
}

/// The whole checker state.
#[derive(Debug, Clone)]
pub struct Core {
    probes: Vec<ProbeState>,
    vss: Vec<VsState>,
    seed: u64,
    shut_down: bool,
    /// rs_init_notifies: [`Core::start`] notifies for real servers that start alive.
    rs_init_notifies: bool,
    /// The last value read from each tracked file (FILE_CHECK); a file not in here reads 0.
    file_values: HashMap<String, i64>,
}

/// splitmix64: a tiny deterministic generator for warmup jitter.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl Core {
    /// Build the core from a configuration. Checkers that cannot run are reported and skipped.
    // ProbeSpec holds a compiled regex (interior caches); it hashes and compares by its
    // configuration only, so it is a sound map key.
    #[allow(clippy::mutable_key_type)]
    pub fn new(cfg: &Config, seed: u64) -> (Core, Vec<CoreError>) {
        let mut errors = Vec::new();
        let mut probes: Vec<ProbeState> = Vec::new();
        type Key = (ProbeSpec, Timing, bool, Vec<(IpAddr, IpAddr)>);
        let mut index: HashMap<Key, ProbeId> = HashMap::new();
        let mut vss = Vec::new();
        for (vi, vs) in cfg.virtual_servers.iter().enumerate() {
            let services = service_entries(cfg, vs);
            let vs_port = match &vs.key {
                VsKey::Addr { port, .. } => Some(*port),
                _ => None,
            };
            let vs_endpoint = vs_endpoint(vs);
            let suspend_on = if vs.ha_suspend {
                suspend_ranges(cfg, vs)
            } else {
                Vec::new()
            };
            let mut rss = Vec::new();
            for (ri, rs) in vs.real_servers.iter().enumerate() {
                let mut ids = Vec::new();
                let mut start_up = true;
                for ch in rs.checkers.iter().flat_map(expand_hosts) {
                    let ch = &ch;
                    let alpha = ch.common.alpha.or(rs.alpha).unwrap_or(vs.alpha);
                    match probe_spec(
                        vs,
                        rs,
                        ch,
                        vs_port,
                        cfg.global.script_user.as_ref(),
                        cfg.global.ssl.as_ref(),
                    ) {
                        Ok((spec, timing)) => {
                            let key = (spec, timing, alpha, suspend_on.clone());
                            let id = *index.entry(key.clone()).or_insert_with(|| {
                                probes.push(ProbeState {
                                    spec: key.0.clone(),
                                    timing,
                                    alpha,
                                    up: !alpha,
                                    retry_it: 0,
                                    weight: None,
                                    last_reason: String::new(),
                                    feeds: Vec::new(),
                                    suspend_on: key.3.clone(),
                                    present: BTreeSet::new(),
                                    log_all_failures: false,
                                });
                                ProbeId(probes.len() - 1)
                            });
                            probes[id.0].feeds.push((vi, ri));
                            probes[id.0].log_all_failures |= ch
                                .common
                                .log_all_failures
                                .unwrap_or(cfg.global.checker_log_all_failures);
                            start_up &= probes[id.0].up;
                            ids.push(id);
                        }
                        Err(e) => errors.push(e),
                    }
                }
                let mut files = Vec::new();
                for r in &rs.file_checks {
                    match cfg.track_file(&r.name) {
                        Some(f) => files.push(FileTrack::resolve(r, f)),
                        None => errors.push(CoreError::UnknownTrackFile {
                            at: format!("{}:{}: real_server {}", r.span.file, r.span.line, rs.addr),
                            name: r.name.clone(),
                        }),
                    }
                }
                // Until the files are read (set_file_values), each reads 0.
                let no_files = HashMap::new();
                let start_up = start_up && file_fault(&files, &no_files).is_none();
                let eff_weight = file_weight(rs.weight, &files, &no_files);
                let port = rs.port.or(vs_port).unwrap_or(0);
                rss.push(RsState {
                    dest: DestKey {
                        addr: rs.addr,
                        port,
                    },
                    endpoint: Endpoint {
                        addr: Some(rs.addr),
                        port: Some(port),
                        fwmark: None,
                        protocol: vs_endpoint.protocol,
                        group: None,
                    },
                    weight: rs.weight,
                    inhibit: rs.inhibit_on_failure.unwrap_or(vs.inhibit_on_failure),
                    forward: rs.lb_kind.unwrap_or(vs.lb_kind),
                    tunnel: crate::ipvs::desired::forward_of(vs, rs).1,
                    uthreshold: rs.uthreshold,
                    lthreshold: rs.lthreshold,
                    notify_up: rs.notify_up.clone(),
                    notify_down: rs.notify_down.clone(),
                    probes: ids,
                    files,
                    alive: start_up,
                    eff_weight,
                    reported_weight: None,
                });
            }
            let sorry = vs.sorry_server.as_ref().map(|s| {
                (
                    DestKey {
                        addr: s.addr,
                        port: s.port.or(vs_port).unwrap_or(0),
                    },
                    DestSettings {
                        forward: s.lb_kind.unwrap_or(vs.lb_kind),
                        weight: 1,
                        upper_threshold: 0,
                        lower_threshold: 0,
                        tunnel: crate::ipvs::desired::sorry_forward_of(vs, s).1,
                    },
                )
            });
            let mut v = VsState {
                endpoint: vs_endpoint,
                services,
                rs: rss,
                quorum: vs.quorum,
                hysteresis: vs.hysteresis,
                quorum_up_cmd: vs.quorum_up.clone(),
                quorum_down_cmd: vs.quorum_down.clone(),
                omega: vs.omega,
                sorry,
                sorry_inhibit: vs.sorry_server_inhibit,
                quorum_up: true,
            };
            // The initial quorum state is taken as is, without running scripts.
            v.quorum_up = v.alive_weight() >= v.quorum as u64;
            vss.push(v);
        }
        (
            Core {
                probes,
                vss,
                seed,
                shut_down: false,
                rs_init_notifies: cfg.global.rs_init_notifies,
                file_values: HashMap::new(),
            },
            errors,
        )
    }

    /// The values the tracked files hold at start (or when a reload builds this core): real
    /// servers take the state and weight they imply without a transition, as keepalived
    /// reads the files before it programs IPVS. Call before [`Core::start`] /
    /// [`Core::adopt`].
    pub fn set_file_values(&mut self, values: &[super::file_check::FileValue]) {
        for v in values {
            self.file_values.insert(v.name.clone(), v.value);
        }
        let probes = &self.probes;
        for v in &mut self.vss {
            for r in &mut v.rs {
                r.alive = r.probes.iter().all(|id| probes[id.0].up)
                    && file_fault(&r.files, &self.file_values).is_none();
                let base = r
                    .probes
                    .iter()
                    .filter_map(|id| probes[id.0].weight)
                    .next_back()
                    .unwrap_or(r.weight);
                r.eff_weight = file_weight(base, &r.files, &self.file_values);
            }
            v.quorum_up = v.alive_weight() >= v.quorum as u64;
        }
    }

    pub fn probe_count(&self) -> usize {
        self.probes.len()
    }

    pub fn probe_spec(&self, id: ProbeId) -> &ProbeSpec {
        &self.probes[id.0].spec
    }

    /// Whether a probe's checker is UP.
    pub fn probe_up(&self, id: ProbeId) -> bool {
        self.probes[id.0].up
    }

    /// Whether failed attempts of this probe are logged (log_all_failures).
    pub fn probe_logs_all_failures(&self, id: ProbeId) -> bool {
        self.probes[id.0].log_all_failures
    }

    /// Whether a probe is suspended (ha_suspend and none of its virtual server's addresses
    /// configured here).
    pub fn probe_suspended(&self, id: ProbeId) -> bool {
        self.probes[id.0].suspended()
    }

    /// One address of each ha_suspend range (enough to resume every check).
    pub fn suspend_addresses(&self) -> Vec<IpAddr> {
        let set: BTreeSet<IpAddr> = self
            .probes
            .iter()
            .flat_map(|p| p.suspend_on.iter().map(|r| r.0))
            .collect();
        set.into_iter().collect()
    }

    /// Whether any check depends on local addresses (the shell then watches them).
    pub fn uses_ha_suspend(&self) -> bool {
        self.probes.iter().any(|p| !p.suspend_on.is_empty())
    }

    /// One [`Event::RealServerWeight`] per real server whose weight in the desired table was
    /// not reported yet or changed since (at start and after a reload).
    pub fn report_weights(&mut self) -> Vec<Action> {
        let mut out = Vec::new();
        for vi in 0..self.vss.len() {
            for ri in 0..self.vss[vi].rs.len() {
                self.report_weight(vi, ri, &mut out);
            }
        }
        out
    }

    fn report_weight(&mut self, vi: usize, ri: usize, out: &mut Vec<Action>) {
        let v = &self.vss[vi];
        let w = if self.shut_down {
            None
        } else {
            v.table_weight(&v.rs[ri])
        };
        let v = &mut self.vss[vi];
        let r = &mut v.rs[ri];
        if r.reported_weight != Some(w) {
            r.reported_weight = Some(w);
            out.push(Action::Emit(Event::RealServerWeight {
                virtual_server: v.endpoint.clone(),
                real_server: r.endpoint.clone(),
                weight: w,
            }));
        }
    }

    /// The first checks: spread over `warmup` by the seeded jitter when one is configured;
    /// otherwise evenly over the probe's delay_loop in probe order (the first probe at once).
    /// keepalived's default warmup is the delay_loop (a random delay in [0, delay_loop]); the
    /// even spread is the same load without random clumps. Since each next check is a
    /// delay_loop after the previous one completes, the first round's spread persists: a
    /// shorter ramp (this used to be min(delay_loop, 1 s)) keeps every round a burst, and
    /// on a slow CPU (a 1-vCPU VM) the burst queues checks behind each other, lengthens them
    /// on the wire and lowers the check rate (docs/benchmarks/check.md, "Checks on one CPU").
    pub fn start(&self, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        let n = self.probes.len().max(1) as u32;
        for (i, p) in self.probes.iter().enumerate() {
            let delay = match p.timing.warmup {
                Some(w) if !w.is_zero() => {
                    let r = mix(self.seed ^ mix(i as u64));
                    let ms = w.as_millis() as u64;
                    Duration::from_millis(r % (ms + 1))
                }
                _ => p.timing.delay_loop / n * i as u32,
            };
            out.push(Action::Schedule {
                probe: ProbeId(i),
                at: now + delay,
            });
        }
        if self.rs_init_notifies {
            // keepalived's rs_init_notifies: real servers that start alive are announced
            // (notify_up, notify fifo, alert) as if they had just come up.
            for v in &self.vss {
                for r in v.rs.iter().filter(|r| r.alive) {
                    let reason = "initial state (rs_init_notifies)".to_string();
                    out.push(Action::Emit(Event::RealServer {
                        virtual_server: v.endpoint.clone(),
                        real_server: r.endpoint.clone(),
                        up: true,
                        reason: reason.clone(),
                    }));
                    if let Some(c) = &r.notify_up {
                        out.push(Action::RunScript {
                            command: c.clone(),
                            why: reason,
                        });
                    }
                }
            }
        }
        out
    }

    /// After a reload: carry health state over from the core of the previous configuration.
    /// Checks that exist in both (same target, parameters and timing) keep their state and
    /// are not restarted; real servers and virtual servers that exist in both keep theirs,
    /// and any change the new configuration implies (a new checker, a new quorum) is emitted
    /// as ordinary transitions. Returns, for each old probe, its id in this core.
    #[allow(clippy::mutable_key_type)] // see Core::new
    pub fn adopt(&mut self, old: &Core) -> (Vec<Option<ProbeId>>, Vec<Action>) {
        let index: HashMap<(&ProbeSpec, Timing, bool), usize> = self
            .probes
            .iter()
            .enumerate()
            .map(|(i, p)| ((&p.spec, p.timing, p.alpha), i))
            .collect();
        let mut map = vec![None; old.probes.len()];
        let mut moves = Vec::new();
        for (oi, op) in old.probes.iter().enumerate() {
            if let Some(&ni) = index.get(&(&op.spec, op.timing, op.alpha)) {
                map[oi] = Some(ProbeId(ni));
                moves.push((oi, ni));
            }
        }
        for (oi, ni) in moves {
            let (op, np) = (&old.probes[oi], &mut self.probes[ni]);
            np.up = op.up;
            np.retry_it = op.retry_it;
            np.weight = op.weight;
            np.last_reason = op.last_reason.clone();
            np.present = op.present.clone();
        }
        // Real servers start from their previous state, so that update_rs reports exactly
        // the differences; virtual servers keep their quorum state.
        let mut out = Vec::new();
        for vi in 0..self.vss.len() {
            let old_vs = old.vss.iter().find(|o| o.endpoint == self.vss[vi].endpoint);
            for ri in 0..self.vss[vi].rs.len() {
                let prev =
                    old_vs.and_then(|o| o.rs.iter().find(|r| r.dest == self.vss[vi].rs[ri].dest));
                if let Some(p) = prev {
                    let r = &mut self.vss[vi].rs[ri];
                    r.alive = p.alive;
                    r.eff_weight = p.eff_weight;
                    r.reported_weight = p.reported_weight;
                }
            }
            if let Some(o) = old_vs {
                self.vss[vi].quorum_up = o.quorum_up;
            }
            for ri in 0..self.vss[vi].rs.len() {
                self.update_rs(vi, ri, &mut out);
            }
            // A changed quorum or hysteresis applies at once.
            self.update_quorum(vi, &mut out);
        }
        (map, out)
    }

    /// The first checks of the probes not carried over by [`Core::adopt`] (as [`Core::start`],
    /// without its start-up notifications).
    pub fn start_new(&self, now: Instant, adopted: &[bool]) -> Vec<Action> {
        self.start(now)
            .into_iter()
            .filter(|a| match a {
                Action::Schedule { probe, .. } => !adopted.get(probe.0).copied().unwrap_or(false),
                _ => false,
            })
            .collect()
    }

    /// The one transition point.
    pub fn step(&mut self, input: Input, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        if self.shut_down {
            return out;
        }
        match input {
            Input::Due { probe } => {
                let Some(p) = self.probes.get(probe.0) else {
                    return out;
                };
                // keepalived keeps a suspended checker's timer running and skips the check.
                out.push(if p.suspended() {
                    Action::Schedule {
                        probe,
                        at: now + p.timing.delay_loop,
                    }
                } else {
                    Action::Run { probe }
                });
            }
            Input::Suspend { addr } | Input::Resume { addr } => {
                let present = matches!(input, Input::Resume { .. });
                for (i, p) in self.probes.iter_mut().enumerate() {
                    if !p.suspend_on.iter().any(|r| in_range(addr, *r)) {
                        continue;
                    }
                    let was = p.suspended();
                    if present {
                        p.present.insert(addr);
                    } else {
                        p.present.remove(&addr);
                    }
                    if was != p.suspended() {
                        out.push(Action::Log(format!(
                            "{} {} check {} of {} (ha_suspend: address {addr} {} this host)",
                            if was { "resuming" } else { "suspending" },
                            p.spec.kind(),
                            i,
                            p.spec.target(),
                            if present {
                                "configured on"
                            } else {
                                "no longer on"
                            },
                        )));
                    }
                }
            }
            Input::Result { probe, outcome } => {
                let Some(p) = self.probes.get_mut(probe.0) else {
                    return out;
                };
                let was = (p.up, p.weight);
                let next = match &outcome {
                    Outcome::Up { weight } => {
                        p.retry_it = 0;
                        p.up = true;
                        p.weight = *weight;
                        p.last_reason = "check succeeded".into();
                        p.timing.delay_loop
                    }
                    Outcome::Down { reason } => {
                        p.last_reason = reason.clone();
                        if p.up && p.retry_it < p.timing.retry {
                            p.retry_it += 1;
                            p.timing.delay_before_retry
                        } else {
                            p.retry_it = 0;
                            p.up = false;
                            p.timing.delay_loop
                        }
                    }
                };
                out.push(Action::Schedule {
                    probe,
                    at: now + next,
                });
                if was != (p.up, p.weight) {
                    let feeds = p.feeds.clone();
                    for (vi, ri) in feeds {
                        self.update_rs(vi, ri, &mut out);
                    }
                }
            }
            Input::TrackFile { name, value } => {
                // A file not read yet reads 0.
                let was = self.file_values.insert(name.clone(), value).unwrap_or(0);
                if was == value {
                    return out;
                }
                for vi in 0..self.vss.len() {
                    for ri in 0..self.vss[vi].rs.len() {
                        if self.vss[vi].rs[ri].files.iter().any(|f| f.name == name) {
                            self.update_rs(vi, ri, &mut out);
                        }
                    }
                }
            }
            Input::Shutdown => {
                self.shut_down = true;
                for v in &self.vss {
                    if !v.omega {
                        continue;
                    }
                    for r in v.rs.iter().filter(|r| r.alive) {
                        if let Some(c) = &r.notify_down {
                            out.push(Action::RunScript {
                                command: c.clone(),
                                why: format!("omega: shutting down, {:?} removed", r.dest),
                            });
                        }
                    }
                    if v.quorum_up {
                        if let Some(c) = &v.quorum_down_cmd {
                            out.push(Action::RunScript {
                                command: c.clone(),
                                why: "omega: shutting down".into(),
                            });
                        }
                    }
                }
                out.push(Action::TableChanged);
            }
        }
        out
    }

    fn update_rs(&mut self, vi: usize, ri: usize, out: &mut Vec<Action>) {
        let probes = &self.probes;
        let v = &mut self.vss[vi];
        let r = &mut v.rs[ri];
        let fault = file_fault(&r.files, &self.file_values);
        let alive = r.probes.iter().all(|id| probes[id.0].up) && fault.is_none();
        let base = r
            .probes
            .iter()
            .filter_map(|id| probes[id.0].weight)
            .next_back()
            .unwrap_or(r.weight);
        let weight = file_weight(base, &r.files, &self.file_values);
        let mut changed = false;
        if weight != r.eff_weight {
            r.eff_weight = weight;
            changed = true;
        }
        if alive != r.alive {
            r.alive = alive;
            changed = true;
            let reason = if alive {
                "all checkers succeeded".to_string()
            } else {
                r.probes
                    .iter()
                    .map(|id| &probes[id.0])
                    .find(|p| !p.up)
                    .map(|p| format!("{}: {}", p.spec.kind(), p.last_reason))
                    .or(fault)
                    .unwrap_or_default()
            };
            out.push(Action::Emit(Event::RealServer {
                virtual_server: v.endpoint.clone(),
                real_server: r.endpoint.clone(),
                up: alive,
                reason: reason.clone(),
            }));
            let cmd = if alive { &r.notify_up } else { &r.notify_down };
            if let Some(c) = cmd {
                out.push(Action::RunScript {
                    command: c.clone(),
                    why: reason,
                });
            }
        }
        if changed {
            out.push(Action::TableChanged);
            self.report_weight(vi, ri, out);
            self.update_quorum(vi, out);
        }
    }

    fn update_quorum(&mut self, vi: usize, out: &mut Vec<Action>) {
        let v = &mut self.vss[vi];
        let w = v.alive_weight();
        let gain_at = v.quorum as u64 + v.hysteresis as u64;
        let lose_below = (v.quorum as u64).saturating_sub(v.hysteresis as u64);
        let flip = if !v.quorum_up && w >= gain_at {
            Some(true)
        } else if v.quorum_up && (w == 0 || w < lose_below) {
            Some(false)
        } else {
            None
        };
        let Some(gained) = flip else { return };
        v.quorum_up = gained;
        out.push(Action::Emit(Event::Quorum {
            virtual_server: v.endpoint.clone(),
            gained,
            alive_weight: w,
            quorum: v.quorum,
        }));
        let cmd = if gained {
            &v.quorum_up_cmd
        } else {
            &v.quorum_down_cmd
        };
        if let Some(c) = cmd {
            out.push(Action::RunScript {
                command: c.clone(),
                why: format!(
                    "quorum {} (alive weight {w}, quorum {}, hysteresis {})",
                    if gained { "gained" } else { "lost" },
                    v.quorum,
                    v.hysteresis
                ),
            });
        }
        if v.sorry.is_some() {
            out.push(Action::TableChanged);
            for ri in 0..self.vss[vi].rs.len() {
                self.report_weight(vi, ri, out);
            }
        }
    }

    /// The IPVS table the current health state calls for.
    pub fn desired(&self) -> DesiredTable {
        let mut t = DesiredTable::default();
        if self.shut_down {
            return t;
        }
        for v in &self.vss {
            let mut dests = std::collections::BTreeMap::new();
            let sorry_active = v.sorry_active();
            for r in &v.rs {
                if let Some(weight) = v.table_weight(r) {
                    dests.insert(
                        r.dest,
                        DestSettings {
                            forward: r.forward,
                            weight,
                            upper_threshold: r.uthreshold,
                            lower_threshold: r.lthreshold,
                            tunnel: r.tunnel,
                        },
                    );
                }
            }
            if let Some((k, s)) = &v.sorry {
                if sorry_active {
                    dests.insert(*k, *s);
                } else if v.sorry_inhibit {
                    dests.insert(*k, DestSettings { weight: 0, ..*s });
                }
            }
            for (key, settings) in &v.services {
                t.services.insert(
                    *key,
                    ServiceEntry {
                        settings: settings.clone(),
                        dests: crate::ipvs::desired::dests_for_key(key, &dests),
                    },
                );
            }
        }
        t
    }
}

/// Why a real server's FILE_CHECKs hold it down, if one does.
fn file_fault(files: &[FileTrack], values: &HashMap<String, i64>) -> Option<String> {
    files.iter().find_map(|f| {
        let value = values.get(&f.name).copied().unwrap_or(0);
        (f.status(value) == FileStatus::Fault)
            .then(|| format!("FILE_CHECK: track_file {} reads {value}", f.name))
    })
}

/// `base` plus the FILE_CHECKs' additions, as the IPVS weight.
fn file_weight(base: u32, files: &[FileTrack], values: &HashMap<String, i64>) -> u32 {
    super::file_check::effective_weight(
        base,
        files.iter().map(
            |f| match f.status(values.get(&f.name).copied().unwrap_or(0)) {
                FileStatus::Adjust(a) => a,
                FileStatus::Fault => 0,
            },
        ),
    )
}

impl VsState {
    fn sorry_active(&self) -> bool {
        !self.quorum_up && self.sorry.is_some()
    }

    /// A real server's weight in the desired table; None: not in it.
    fn table_weight(&self, r: &RsState) -> Option<u32> {
        if r.alive && !self.sorry_active() {
            Some(r.eff_weight)
        } else if r.inhibit {
            Some(0)
        } else {
            None
        }
    }

    fn alive_weight(&self) -> u64 {
        self.rs
            .iter()
            .filter(|r| r.alive)
            .map(|r| r.eff_weight as u64)
            .sum()
    }
}

/// SMTP_CHECK `host` blocks: one checker per host (with the host's connect options), which
/// replace the real server's own check, as in keepalived.
fn expand_hosts(ch: &crate::config::model::Checker) -> Vec<crate::config::model::Checker> {
    match &ch.kind {
        CheckerKind::Smtp { helo_name, hosts } if !hosts.is_empty() => hosts
            .iter()
            .map(|h| crate::config::model::Checker {
                kind: CheckerKind::Smtp {
                    helo_name: helo_name.clone(),
                    hosts: Vec::new(),
                },
                // The host's own options, then the checker's (real/virtual server included).
                common: crate::config::model::CheckerCommon {
                    connect_ip: h.connect_ip.or(ch.common.connect_ip),
                    connect_port: h.connect_port.or(ch.common.connect_port),
                    bindto: h.bindto.or(ch.common.bindto),
                    bind_port: h.bind_port.or(ch.common.bind_port),
                    connect_timeout: h.connect_timeout.or(ch.common.connect_timeout),
                    retry: h.retry.or(ch.common.retry),
                    delay_before_retry: h.delay_before_retry.or(ch.common.delay_before_retry),
                    warmup: h.warmup.or(ch.common.warmup),
                    fwmark: h.fwmark.or(ch.common.fwmark),
                    delay_loop: h.delay_loop.or(ch.common.delay_loop),
                    alpha: h.alpha.or(ch.common.alpha),
                    log_all_failures: h.log_all_failures.or(ch.common.log_all_failures),
                    bind_if: h.bind_if.clone().or_else(|| ch.common.bind_if.clone()),
                },
                span: ch.span.clone(),
            })
            .collect(),
        _ => vec![ch.clone()],
    }
}

fn in_range(a: IpAddr, (first, last): (IpAddr, IpAddr)) -> bool {
    a.is_ipv4() == first.is_ipv4() && first <= a && a <= last
}

/// The addresses whose presence on this host an `ha_suspend` virtual server's checks wait
/// for: its own address, or its group's address ranges (fwmark services have none, so
/// ha_suspend does not apply to them).
fn suspend_ranges(cfg: &Config, vs: &VirtualServer) -> Vec<(IpAddr, IpAddr)> {
    use crate::config::model::VsgMember;
    match &vs.key {
        VsKey::Addr { addr, .. } => vec![(*addr, *addr)],
        VsKey::Fwmark(_) => Vec::new(),
        VsKey::Group(name) => cfg
            .virtual_server_group(name)
            .map(|g| {
                g.members
                    .iter()
                    .filter_map(|m| match m {
                        VsgMember::Range { first, last, .. } => Some((*first, *last)),
                        VsgMember::Fwmark { .. } => None,
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

fn vs_endpoint(vs: &VirtualServer) -> Endpoint {
    Endpoint::of_virtual_server(vs)
}

/// The kernel services a virtual server stands for, with their settings (the IPVS module's
/// canonical conversion: groups expand, fwmark services take the real servers' family).
pub fn service_entries(cfg: &Config, vs: &VirtualServer) -> Vec<(ServiceKey, ServiceSettings)> {
    let (keys, base) = crate::ipvs::desired::desired_service(vs, cfg);
    keys.iter()
        .map(|k| (*k, crate::ipvs::desired::settings_for_key(vs, &base, k)))
        .collect()
}

/// Resolve one configured checker into what to run and when.
pub fn probe_spec(
    vs: &VirtualServer,
    rs: &RealServer,
    ch: &crate::config::model::Checker,
    vs_port: Option<u16>,
    script_user: Option<&crate::config::model::RunAs>,
    ssl: Option<&crate::config::model::SslContext>,
) -> Result<(ProbeSpec, Timing), CoreError> {
    let c = &ch.common;
    let delay_loop = c.delay_loop.or(rs.delay_loop).unwrap_or(vs.delay_loop);
    // keepalived's default retry: MISC_CHECK 0, DNS_CHECK 3, others 1.
    let default_retry = match ch.kind {
        CheckerKind::Misc(_) => 0,
        CheckerKind::Dns(_) => 3,
        _ => 1,
    };
    let timing = Timing {
        delay_loop,
        retry: c.retry.unwrap_or(default_retry),
        delay_before_retry: c
            .delay_before_retry
            .unwrap_or(crate::config::model::CheckerCommon::DEFAULT_DELAY_BEFORE_RETRY),
        warmup: c.warmup,
    };
    let at = || format!("{}:{}: real_server {}", ch.span.file, ch.span.line, rs.addr);
    let connect = |what: &'static str| -> Result<ConnectSpec, CoreError> {
        let port = c
            .connect_port
            .or(rs.port)
            .or(vs_port)
            .ok_or_else(|| CoreError::NoPort { at: at(), what })?;
        Ok(ConnectSpec {
            addr: SocketAddr::new(c.connect_ip.unwrap_or(rs.addr), port),
            bind_ip: c.bindto,
            bind_port: c.bind_port,
            fwmark: c.fwmark,
            bind_if: c.bind_if.clone(),
            timeout: c
                .connect_timeout
                .unwrap_or(crate::config::model::CheckerCommon::DEFAULT_CONNECT_TIMEOUT),
        })
    };
    let spec = match &ch.kind {
        CheckerKind::Tcp => ProbeSpec::Tcp(connect("TCP_CHECK")?),
        // ICMP has no port: the connect spec's port is 0.
        CheckerKind::Ping => ProbeSpec::Ping(ConnectSpec {
            addr: SocketAddr::new(c.connect_ip.unwrap_or(rs.addr), 0),
            bind_ip: c.bindto,
            bind_port: None,
            fwmark: c.fwmark,
            bind_if: c.bind_if.clone(),
            timeout: c
                .connect_timeout
                .unwrap_or(crate::config::model::CheckerCommon::DEFAULT_CONNECT_TIMEOUT),
        }),
        CheckerKind::Smtp { helo_name, .. } => ProbeSpec::Smtp {
            connect: connect("SMTP_CHECK")?,
            helo: helo_name
                .clone()
                .unwrap_or_else(|| super::probe::DEFAULT_SMTP_HELO.to_string()),
        },
        CheckerKind::Dns(d) => ProbeSpec::Dns {
            connect: connect("DNS_CHECK")?,
            qtype: super::dns::type_code(&d.qtype).unwrap_or(6),
            name: d.name.clone(),
        },
        CheckerKind::Udp(u) => ProbeSpec::Udp {
            connect: connect("UDP_CHECK")?,
            check: u.clone(),
        },
        CheckerKind::Http(h) | CheckerKind::Ssl(h) => {
            let tls = matches!(ch.kind, CheckerKind::Ssl(_));
            let conn = connect(if tls { "SSL_GET" } else { "HTTP_GET" })?;
            let vhost = h.virtualhost.clone().or(vs.virtualhost.clone());
            let urls = h
                .urls
                .iter()
                .map(|u| {
                    let regex = match &u.regex {
                        Some(r) => {
                            Some(RegexCheck::new(r.clone()).map_err(|e| CoreError::Regex {
                                at: at(),
                                msg: e.to_string(),
                            })?)
                        }
                        None => None,
                    };
                    Ok(UrlSpec {
                        path: u.path.clone(),
                        host: super::http::host_header(
                            u.virtualhost.as_deref().or(vhost.as_deref()),
                            conn.addr.ip(),
                            conn.addr.port(),
                        ),
                        digest: u.digest,
                        status: u.status_code.iter().map(|r| (r.first, r.last)).collect(),
                        regex,
                    })
                })
                .collect::<Result<Vec<_>, CoreError>>()?;
            ProbeSpec::Http {
                connect: conn,
                tls: tls
                    .then(|| TlsSpec::new(if h.enable_sni { vhost.clone() } else { None }, ssl)),
                proto: h.http_protocol,
                urls,
                max_body: h.max_body.unwrap_or(super::probe::DEFAULT_MAX_BODY),
            }
        }
        CheckerKind::Misc(m) => ProbeSpec::Misc(MiscSpec {
            argv: m.misc_path.argv.clone(),
            // MISC_CHECK runs as its own `user`, else global_defs' script_user.
            user: m
                .user
                .as_ref()
                .or(script_user)
                .map(|u| (u.user.clone(), u.group.clone())),
            timeout: m.misc_timeout.unwrap_or(delay_loop),
            dynamic: m.misc_dynamic,
        }),
    };
    Ok((spec, timing))
}
