//! The pure checker core on a simulated clock: keepalived's retry timing, inhibit_on_failure
//! versus removal, quorum with hysteresis and sorry server, alpha, warmup, misc_dynamic, omega,
//! and identical checks shared between virtual servers. Assertions are on the desired IPVS
//! table and the emitted actions at exact virtual times.

mod check_support;
use check_support::*;

use rampart::check::core::{Action, Core, Input, ProbeId};
use rampart::check::probe::Outcome;
use rampart::config::model::*;
use rampart::events::Event;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

fn s(x: f64) -> Duration {
    Duration::from_secs_f64(x)
}

fn tcp_timed(retry: u32, dbr: f64) -> Checker {
    let mut c = tcp();
    c.common.retry = Some(retry);
    c.common.delay_before_retry = Some(s(dbr));
    c
}

fn rs_events(tl: &[(Duration, Seen)]) -> Vec<(Duration, String, bool)> {
    tl.iter()
        .filter_map(|(t, x)| match x {
            Seen::Action(Action::Emit(Event::RealServer {
                real_server, up, ..
            })) => Some((
                *t,
                format!(
                    "{}:{}",
                    real_server.addr.unwrap(),
                    real_server.port.unwrap()
                ),
                *up,
            )),
            _ => None,
        })
        .collect()
}

fn attempts(tl: &[(Duration, Seen)]) -> Vec<(Duration, bool)> {
    tl.iter()
        .filter_map(|(t, x)| match x {
            Seen::Attempt { up, .. } => Some((*t, *up)),
            _ => None,
        })
        .collect()
}

fn table(entries: &[(&str, &[(&str, u32)])]) -> BTreeMap<String, BTreeMap<String, u32>> {
    entries
        .iter()
        .map(|(k, ds)| {
            (
                k.to_string(),
                ds.iter().map(|(d, w)| (d.to_string(), *w)).collect(),
            )
        })
        .collect()
}

#[test]
fn down_after_exactly_retry_plus_one_failures_at_configured_spacing() {
    // delay_loop 5 s, retry 2, delay_before_retry 1 s; the backend dies at t=12 s and comes
    // back at t=40 s.
    let cfg = config(vec![vs(
        "10.0.0.1",
        80,
        vec![rs("127.0.0.2", 8080, 3, vec![tcp_timed(2, 1.0)])],
    )]);
    let (mut core, errs) = Core::new(&cfg, 1);
    assert!(errs.is_empty());
    let t0 = Instant::now();
    let mut snapshots = Vec::new();
    let tl = simulate(
        &mut core,
        t0,
        s(60.0),
        |_, t| t < s(12.0) || t >= s(40.0),
        |t, c| snapshots.push((t, weights(c))),
    );
    let a = attempts(&tl);
    let expect: Vec<(Duration, bool)> = vec![
        (s(0.0), true),
        (s(5.0), true),
        (s(10.0), true),
        (s(15.0), false),
        (s(16.0), false), // retry 1 after delay_before_retry
        (s(17.0), false), // retry 2: third consecutive failure → DOWN
        (s(22.0), false), // DOWN: back to delay_loop
        (s(27.0), false),
        (s(32.0), false),
        (s(37.0), false),
        (s(42.0), true), // one success → UP
        (s(47.0), true),
        (s(52.0), true),
        (s(57.0), true),
    ];
    assert_eq!(a, expect);
    assert_eq!(
        rs_events(&tl),
        vec![
            (s(17.0), "127.0.0.2:8080".into(), false),
            (s(42.0), "127.0.0.2:8080".into(), true),
        ]
    );
    let at = |t: f64| {
        snapshots
            .iter()
            .rfind(|(x, _)| *x <= s(t))
            .map(|(_, w)| w.clone())
            .unwrap()
    };
    let up = table(&[("10.0.0.1:80", &[("127.0.0.2:8080", 3)])]);
    let removed = table(&[("10.0.0.1:80", &[])]);
    assert_eq!(at(16.0), up, "still UP during retries");
    assert_eq!(at(17.0), removed);
    assert_eq!(at(41.0), removed);
    assert_eq!(at(42.0), up);
}

#[test]
fn inhibit_on_failure_sets_weight_zero_instead_of_removing() {
    let mut v = vs(
        "10.0.0.1",
        80,
        vec![
            rs("127.0.0.2", 80, 5, vec![tcp_timed(0, 1.0)]),
            rs("127.0.0.3", 80, 7, vec![tcp_timed(0, 1.0)]),
        ],
    );
    v.inhibit_on_failure = true;
    // Per real server override: .3 is removed instead.
    v.real_servers[1].inhibit_on_failure = Some(false);
    let (mut core, _) = Core::new(&config(vec![v]), 1);
    let t0 = Instant::now();
    core.start(t0);
    for p in 0..2 {
        core.step(
            Input::Result {
                probe: ProbeId(p),
                outcome: Outcome::Down {
                    reason: "refused".into(),
                },
            },
            t0,
        );
    }
    assert_eq!(
        weights(&core),
        table(&[("10.0.0.1:80", &[("127.0.0.2:80", 0)])])
    );
    core.step(
        Input::Result {
            probe: ProbeId(0),
            outcome: Outcome::Up { weight: None },
        },
        t0 + s(5.0),
    );
    assert_eq!(
        weights(&core),
        table(&[("10.0.0.1:80", &[("127.0.0.2:80", 5)])])
    );
}

#[test]
fn quorum_with_hysteresis_swaps_in_sorry_server_and_runs_scripts() {
    // Three servers of weight 1, quorum 2, hysteresis 1: lose below 1 (i.e. at 0), gain at 3.
    let mut v = vs(
        "10.0.0.1",
        80,
        vec![
            rs("127.0.0.2", 80, 1, vec![tcp_timed(0, 1.0)]),
            rs("127.0.0.3", 80, 1, vec![tcp_timed(0, 1.0)]),
            rs("127.0.0.4", 80, 1, vec![tcp_timed(0, 1.0)]),
        ],
    );
    v.quorum = 2;
    v.hysteresis = 1;
    v.quorum_up = Some(cmd("/bin/quorum-up"));
    v.quorum_down = Some(cmd("/bin/quorum-down"));
    v.sorry_server = Some(SorryServer {
        addr: ip("127.0.0.9"),
        port: Some(8080),
        lb_kind: None,
        tunnel: None,
        span: span(),
    });
    let (mut core, _) = Core::new(&config(vec![v]), 1);
    let t0 = Instant::now();
    core.start(t0);
    let all = table(&[(
        "10.0.0.1:80",
        &[
            ("127.0.0.2:80", 1),
            ("127.0.0.3:80", 1),
            ("127.0.0.4:80", 1),
        ],
    )]);
    let sorry = table(&[("10.0.0.1:80", &[("127.0.0.9:8080", 1)])]);
    assert_eq!(weights(&core), all);
    let mut step = |p: usize, up: bool, t: f64| {
        let outcome = if up {
            Outcome::Up { weight: None }
        } else {
            Outcome::Down { reason: "x".into() }
        };
        let acts = core.step(
            Input::Result {
                probe: ProbeId(p),
                outcome,
            },
            t0 + s(t),
        );
        let quorum: Vec<bool> = acts
            .iter()
            .filter_map(|a| match a {
                Action::Emit(Event::Quorum { gained, .. }) => Some(*gained),
                _ => None,
            })
            .collect();
        let scripts: Vec<String> = acts
            .iter()
            .filter_map(|a| match a {
                Action::RunScript { command, .. } => Some(command.raw.clone()),
                _ => None,
            })
            .collect();
        (quorum, scripts, weights(&core))
    };
    let r = step(0, false, 1.0);
    assert_eq!(
        (r.0.len(), r.2.clone()),
        (
            0,
            table(&[("10.0.0.1:80", &[("127.0.0.3:80", 1), ("127.0.0.4:80", 1)])])
        )
    );
    let r = step(1, false, 2.0);
    assert_eq!(r.0.len(), 0, "weight 1 is not below quorum-hysteresis=1");
    let r = step(2, false, 3.0);
    assert_eq!(r.0, vec![false]);
    assert_eq!(r.1, vec!["/bin/quorum-down".to_string()]);
    assert_eq!(r.2, sorry);
    let r = step(0, true, 4.0);
    assert_eq!(
        (r.0.len(), r.2.clone()),
        (0, sorry.clone()),
        "1 < quorum+hysteresis"
    );
    let r = step(1, true, 5.0);
    assert_eq!(
        (r.0.len(), r.2.clone()),
        (0, sorry.clone()),
        "2 < quorum+hysteresis"
    );
    let r = step(2, true, 6.0);
    assert_eq!(r.0, vec![true]);
    assert_eq!(r.1, vec!["/bin/quorum-up".to_string()]);
    assert_eq!(r.2, all);
}

#[test]
fn sorry_server_inhibit_keeps_it_at_weight_zero() {
    let mut v = vs(
        "10.0.0.1",
        80,
        vec![rs("127.0.0.2", 80, 1, vec![tcp_timed(0, 1.0)])],
    );
    v.sorry_server = Some(SorryServer {
        addr: ip("127.0.0.9"),
        port: None,
        lb_kind: None,
        tunnel: None,
        span: span(),
    });
    v.sorry_server_inhibit = true;
    let (core, _) = Core::new(&config(vec![v]), 1);
    assert_eq!(
        weights(&core),
        table(&[("10.0.0.1:80", &[("127.0.0.2:80", 1), ("127.0.0.9:80", 0)])])
    );
}

#[test]
fn alpha_starts_down_and_one_success_brings_up() {
    let mut v = vs(
        "10.0.0.1",
        80,
        vec![rs("127.0.0.2", 80, 2, vec![tcp_timed(3, 1.0)])],
    );
    v.alpha = true;
    let (mut core, _) = Core::new(&config(vec![v]), 1);
    let t0 = Instant::now();
    assert_eq!(weights(&core), table(&[("10.0.0.1:80", &[])]));
    let mut snaps = Vec::new();
    let tl = simulate(
        &mut core,
        t0,
        s(6.0),
        |_, t| t >= s(5.0),
        |t, c| snaps.push((t, weights(c))),
    );
    // Failures while DOWN are not retried: next check a delay_loop later.
    assert_eq!(attempts(&tl), vec![(s(0.0), false), (s(5.0), true)]);
    assert_eq!(rs_events(&tl), vec![(s(5.0), "127.0.0.2:80".into(), true)]);
    assert_eq!(snaps[0].1, table(&[("10.0.0.1:80", &[])]));
    assert_eq!(
        snaps[1].1,
        table(&[("10.0.0.1:80", &[("127.0.0.2:80", 2)])])
    );
}

#[test]
fn warmup_spreads_first_checks_deterministically_by_seed() {
    let servers: Vec<RealServer> = (2..50)
        .map(|i| {
            let mut c = tcp();
            c.common.warmup = Some(s(10.0));
            rs(&format!("127.0.0.{i}"), 80, 1, vec![c])
        })
        .collect();
    let cfg = config(vec![vs("10.0.0.1", 80, servers)]);
    let t0 = Instant::now();
    let firsts = |seed| -> Vec<Duration> {
        let (core, _) = Core::new(&cfg, seed);
        core.start(t0)
            .into_iter()
            .filter_map(|a| match a {
                Action::Schedule { at, .. } => Some(at - t0),
                _ => None,
            })
            .collect()
    };
    let a = firsts(7);
    assert_eq!(a.len(), 48);
    assert!(a.iter().all(|d| *d <= s(10.0)));
    let distinct: std::collections::BTreeSet<_> = a.iter().collect();
    assert!(distinct.len() > 40, "spread: {a:?}");
    assert_eq!(a, firsts(7), "same seed, same schedule");
    assert_ne!(a, firsts(8));
    // Without warmup every first check is immediate.
    let (core, _) = Core::new(
        &config(vec![vs(
            "10.0.0.1",
            80,
            vec![rs("127.0.0.2", 80, 1, vec![tcp()])],
        )]),
        7,
    );
    assert_eq!(
        core.start(t0),
        vec![Action::Schedule {
            probe: ProbeId(0),
            at: t0
        }]
    );
}

#[test]
fn real_server_alive_only_when_all_checkers_are() {
    let mut http_c = checker(CheckerKind::Http(http(vec![url("/", None)])));
    http_c.common.retry = Some(0);
    let v = vs(
        "10.0.0.1",
        80,
        vec![rs("127.0.0.2", 80, 1, vec![tcp_timed(0, 1.0), http_c])],
    );
    let (mut core, _) = Core::new(&config(vec![v]), 1);
    let t0 = Instant::now();
    let down = Outcome::Down { reason: "x".into() };
    let up = Outcome::Up { weight: None };
    core.step(
        Input::Result {
            probe: ProbeId(1),
            outcome: down.clone(),
        },
        t0,
    );
    assert_eq!(weights(&core), table(&[("10.0.0.1:80", &[])]));
    core.step(
        Input::Result {
            probe: ProbeId(0),
            outcome: down,
        },
        t0,
    );
    core.step(
        Input::Result {
            probe: ProbeId(0),
            outcome: up.clone(),
        },
        t0,
    );
    assert_eq!(
        weights(&core),
        table(&[("10.0.0.1:80", &[])]),
        "HTTP still down"
    );
    core.step(
        Input::Result {
            probe: ProbeId(1),
            outcome: up,
        },
        t0,
    );
    assert_eq!(
        weights(&core),
        table(&[("10.0.0.1:80", &[("127.0.0.2:80", 1)])])
    );
}

#[test]
fn identical_checks_in_several_virtual_servers_run_once() {
    let cfg = config(vec![
        vs(
            "10.0.0.1",
            80,
            vec![rs("127.0.0.2", 80, 1, vec![tcp_timed(0, 1.0)])],
        ),
        vs(
            "10.0.0.2",
            80,
            vec![rs("127.0.0.2", 80, 4, vec![tcp_timed(0, 1.0)])],
        ),
    ]);
    let (mut core, _) = Core::new(&cfg, 1);
    assert_eq!(core.probe_count(), 1);
    let acts = core.step(
        Input::Result {
            probe: ProbeId(0),
            outcome: Outcome::Down { reason: "x".into() },
        },
        Instant::now(),
    );
    let n = acts
        .iter()
        .filter(|a| matches!(a, Action::Emit(Event::RealServer { up: false, .. })))
        .count();
    assert_eq!(n, 2, "one result feeds both virtual servers");
    assert_eq!(
        weights(&core),
        table(&[("10.0.0.1:80", &[]), ("10.0.0.2:80", &[])])
    );
}

#[test]
fn misc_dynamic_weight_and_omega_on_shutdown() {
    let misc = checker(CheckerKind::Misc(MiscCheck {
        misc_path: cmd("/bin/true"),
        misc_timeout: None,
        misc_dynamic: true,
        user: None,
    }));
    let mut r = rs("127.0.0.2", 80, 10, vec![misc]);
    r.notify_down = Some(cmd("/bin/notify-down"));
    let mut v = vs("10.0.0.1", 80, vec![r]);
    v.omega = true;
    v.quorum_down = Some(cmd("/bin/quorum-down"));
    let (mut core, _) = Core::new(&config(vec![v]), 1);
    let t0 = Instant::now();
    core.step(
        Input::Result {
            probe: ProbeId(0),
            outcome: Outcome::Up { weight: Some(3) },
        },
        t0,
    );
    assert_eq!(
        weights(&core),
        table(&[("10.0.0.1:80", &[("127.0.0.2:80", 3)])])
    );
    let acts = core.step(Input::Shutdown, t0 + s(1.0));
    let scripts: Vec<&str> = acts
        .iter()
        .filter_map(|a| match a {
            Action::RunScript { command, .. } => Some(command.raw.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(scripts, vec!["/bin/notify-down", "/bin/quorum-down"]);
    assert!(core.desired().services.is_empty());
    // Nothing happens after shutdown.
    assert!(
        core.step(
            Input::Result {
                probe: ProbeId(0),
                outcome: Outcome::Up { weight: None }
            },
            t0 + s(2.0)
        )
        .is_empty()
    );
}

#[test]
fn misc_check_defaults_to_no_retry() {
    let misc = checker(CheckerKind::Misc(MiscCheck {
        misc_path: cmd("/bin/false"),
        misc_timeout: None,
        misc_dynamic: false,
        user: None,
    }));
    let (mut core, _) = Core::new(
        &config(vec![vs(
            "10.0.0.1",
            80,
            vec![rs("127.0.0.2", 80, 1, vec![misc])],
        )]),
        1,
    );
    let acts = core.step(
        Input::Result {
            probe: ProbeId(0),
            outcome: Outcome::Down { reason: "x".into() },
        },
        Instant::now(),
    );
    assert!(
        acts.iter()
            .any(|a| matches!(a, Action::Emit(Event::RealServer { up: false, .. })))
    );
}

#[test]
fn without_warmup_first_checks_ramp_evenly_over_one_second() {
    let servers: Vec<RealServer> = (0..1000)
        .map(|i| {
            rs(
                &format!("127.0.{}.{}", i / 250, 1 + i % 250),
                80,
                1,
                vec![tcp()],
            )
        })
        .collect();
    let (core, _) = Core::new(&config(vec![vs("10.0.0.1", 80, servers)]), 1);
    let t0 = Instant::now();
    let at: Vec<Duration> = core
        .start(t0)
        .into_iter()
        .filter_map(|a| match a {
            Action::Schedule { at, .. } => Some(at - t0),
            _ => None,
        })
        .collect();
    assert_eq!(at.len(), 1000);
    assert_eq!(at[0], Duration::ZERO);
    assert_eq!(at[500], Duration::from_millis(500));
    assert!(at.iter().all(|d| *d < Duration::from_secs(1)));
}

#[test]
fn reload_keeps_state_of_unchanged_checks_and_reports_only_differences() {
    let old_cfg = config(vec![vs(
        "10.0.0.1",
        80,
        vec![
            rs("127.0.0.2", 80, 1, vec![tcp_timed(0, 1.0)]),
            rs("127.0.0.3", 80, 1, vec![tcp_timed(0, 1.0)]),
        ],
    )]);
    let (mut old, _) = Core::new(&old_cfg, 1);
    let t0 = Instant::now();
    old.start(t0);
    // .3 goes DOWN before the reload.
    old.step(
        Input::Result {
            probe: ProbeId(1),
            outcome: Outcome::Down { reason: "x".into() },
        },
        t0,
    );
    // New configuration: .2 unchanged, .3 unchanged, .4 added; .2 gains an alpha HTTP check
    // (starts DOWN, so .2 goes down).
    let mut alpha_http = checker(CheckerKind::Http(http(vec![url("/", None)])));
    alpha_http.common.alpha = Some(true);
    let new_cfg = config(vec![vs(
        "10.0.0.1",
        80,
        vec![
            rs("127.0.0.2", 80, 1, vec![tcp_timed(0, 1.0), alpha_http]),
            rs("127.0.0.3", 80, 1, vec![tcp_timed(0, 1.0)]),
            rs("127.0.0.4", 80, 5, vec![tcp_timed(0, 1.0)]),
        ],
    )]);
    let (mut new, _) = Core::new(&new_cfg, 1);
    let (map, actions) = new.adopt(&old);
    assert_eq!(
        map.iter().filter(|m| m.is_some()).count(),
        2,
        "both old TCP checks kept"
    );
    let events: Vec<(String, bool)> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Emit(Event::RealServer {
                real_server, up, ..
            }) => Some((real_server.addr.unwrap().to_string(), *up)),
            _ => None,
        })
        .collect();
    // Only .2 changes (its new alpha checker); .3 stays DOWN silently, .4 is new (UP).
    assert_eq!(events, vec![("127.0.0.2".to_string(), false)]);
    assert_eq!(
        weights(&new),
        table(&[("10.0.0.1:80", &[("127.0.0.4:80", 5)])])
    );
    // Only the new HTTP check and the new server's check get first runs.
    let adopted: Vec<bool> = (0..new.probe_count())
        .map(|i| map.contains(&Some(ProbeId(i))))
        .collect();
    let firsts = new.start_new(t0, &adopted).len();
    assert_eq!(firsts, 2);
}
