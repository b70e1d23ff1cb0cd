//! FILE_CHECK: the configuration (keepalived 2.2.7's syntax and its rejections, with file:line)
//! and the pure core driven by file values. The weight table below is what keepalived 2.2.7
//! programmed in the test VM for the same configuration and the same sequence of values
//! (tests/check_file_vm.rs runs both daemons side by side).

mod check_support;
use check_support::weights;

use rampart::check::core::{Action, Core, Input};
use rampart::check::file_check::FileValue;
use rampart::config::{Config, LoadOptions, load_str};
use rampart::events::Event;
use std::collections::BTreeMap;
use std::time::Instant;

fn load(text: &str) -> Config {
    match load_str("fc.conf", text, &LoadOptions::default()) {
        Ok(l) => {
            assert!(
                l.warnings.0.is_empty(),
                "unexpected warnings: {:?}",
                l.warnings.0
            );
            l.config
        }
        Err(d) => panic!("configuration refused: {d:?}"),
    }
}

/// The diagnostics of a refused configuration, one "LINE: message" each.
fn refused(text: &str) -> Vec<String> {
    match load_str("fc.conf", text, &LoadOptions::default()) {
        Ok(_) => panic!("configuration accepted"),
        Err(d) => {
            d.0.iter()
                .map(|x| {
                    format!(
                        "{}: {}",
                        x.span.as_ref().map(|s| s.line).unwrap_or(0),
                        x.message
                    )
                })
                .collect()
        }
    }
}

const FILES: &str = "track_file f1 {\n  file /nonexistent/f1\n}\n\
track_file f2 {\n  file /nonexistent/f2\n  weight -2 reverse\n}\n\
track_file f3 {\n  file /nonexistent/f3\n  weight 0\n}\n";

fn vs(body: &str) -> String {
    format!(
        "{FILES}virtual_server 10.9.0.1 80 {{\n  delay_loop 1\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n{body}}}\n"
    )
}

fn rs(addr: &str, weight: u32, extra: &str, checks: &[&str]) -> String {
    let mut s = format!("  real_server {addr} 80 {{\n    weight {weight}\n{extra}");
    for c in checks {
        s.push_str(&format!("    FILE_CHECK {{\n{c}    }}\n"));
    }
    s.push_str("  }\n");
    s
}

#[test]
fn file_check_is_parsed_with_keepalived_s_weight_rules() {
    let cfg = load(&vs(&(rs("10.1.0.1", 5, "", &["      track_file f2\n"])
        + &rs(
            "10.1.0.2",
            5,
            "",
            &["      track_file f2\n      weight 3\n"],
        )
        + &rs(
            "10.1.0.3",
            5,
            "",
            &[
                "      track_file f1\n      weight -4 reverse\n",
                "      track_file f3\n",
            ],
        ))));
    let f: Vec<_> = cfg.virtual_servers[0]
        .real_servers
        .iter()
        .map(|r| {
            r.file_checks
                .iter()
                .map(|t| (t.name.clone(), t.weight, t.reverse, t.span.line))
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(
        f,
        vec![
            vec![("f2".to_string(), None, None, 20)],
            vec![("f2".to_string(), Some(3), Some(false), 26)],
            vec![
                ("f1".to_string(), Some(-4), Some(true), 33),
                ("f3".to_string(), None, None, 37)
            ],
        ]
    );
}

#[test]
fn bad_file_checks_are_refused_with_their_line() {
    let text = vs(&(rs("10.1.0.1", 5, "", &["      track_file f9\n"])
        + &rs("10.1.0.2", 5, "", &["      weight 2\n"])
        + &rs("10.1.0.3", 5, "    track_file f1\n", &[])
        + &rs(
            "10.1.0.4",
            5,
            "",
            &["      track_file f1\n      weight 2147483648\n      retry 3\n"],
        )
        + &rs(
            "10.1.0.5",
            5,
            "",
            &["      track_file f1\n      weight 2 upside\n"],
        )));
    let d = refused(&text);
    let want = [
        "20: track_file names unknown track_file block `f9`",
        "25: FILE_CHECK has no `track_file`",
        "31: `track_file` is not valid in real_server",
        "37: invalid weight `2147483648`",
        "38: `retry` is not valid in FILE_CHECK",
        "45: invalid weight option `upside`",
    ];
    for w in want {
        assert!(
            d.iter().any(|x| x.starts_with(w)),
            "missing {w:?} in {d:#?}"
        );
    }
    assert_eq!(d.len(), want.len(), "{d:#?}");
}

#[test]
fn a_track_file_block_after_its_file_check_is_refused_as_keepalived_does() {
    let text = "virtual_server 10.9.0.1 80 {\n  protocol TCP\n  lb_algo rr\n  lb_kind NAT\n  real_server 10.1.0.1 80 {\n    FILE_CHECK {\n      track_file late\n    }\n  }\n}\ntrack_file late {\n  file /nonexistent/late\n}\n";
    let d = refused(text);
    assert_eq!(d.len(), 1, "{d:#?}");
    assert!(
        d[0].starts_with(
            "7: FILE_CHECK uses track_file `late` before its block (defined at fc.conf:11)"
        ),
        "{d:#?}"
    );
}

/// The configuration of the keepalived VM run (tests/check_file_vm.rs).
fn oracle_config() -> Config {
    load(&vs(&oracle_config_text()))
}

fn oracle_config_text() -> String {
    [
        rs("10.1.0.1", 5, "", &["      track_file f1\n"]),
        rs(
            "10.1.0.2",
            5,
            "",
            &["      track_file f1\n      weight 3\n"],
        ),
        rs(
            "10.1.0.3",
            5,
            "",
            &["      track_file f1\n      weight 0\n"],
        ),
        rs(
            "10.1.0.5",
            5,
            "    inhibit_on_failure\n",
            &["      track_file f1\n      weight 2 reverse\n"],
        ),
        rs("10.1.0.6", 5, "", &["      track_file f2\n"]),
        rs(
            "10.1.0.7",
            5,
            "",
            &[
                "      track_file f1\n",
                "      track_file f2\n      weight 1\n",
            ],
        ),
        rs("10.1.0.8", 5, "", &["      track_file f3\n"]),
        rs(
            "10.1.0.9",
            65535,
            "",
            &["      track_file f1\n      weight 65535\n"],
        ),
        rs(
            "10.1.0.10",
            5,
            "    inhibit_on_failure\n",
            &["      track_file f1\n      weight 2147483647\n"],
        ),
    ]
    .concat()
}

fn table(core: &Core) -> BTreeMap<String, u32> {
    weights(core)
        .remove("10.9.0.1:80")
        .unwrap_or_default()
        .into_iter()
        .map(|(d, w)| (d.trim_end_matches(":80").to_string(), w))
        .collect()
}

fn expect(rows: &[(&str, u32)]) -> BTreeMap<String, u32> {
    rows.iter().map(|(a, w)| (a.to_string(), *w)).collect()
}

fn set(core: &mut Core, name: &str, value: i64) -> Vec<Action> {
    core.step(
        Input::TrackFile {
            name: name.into(),
            value,
        },
        Instant::now(),
    )
}

/// keepalived 2.2.7's table after each value (the VM run), as rows of (real server, weight);
/// a real server not listed is not in the table.
#[test]
fn weights_follow_the_file_as_keepalived_programs_them() {
    let (mut core, errors) = Core::new(&oracle_config(), 1);
    assert!(errors.is_empty(), "{errors:?}");
    core.set_file_values(&[]);
    let all5 = |extra: &[(&'static str, u32)]| {
        let mut rows = vec![
            ("10.1.0.1", 5),
            ("10.1.0.2", 5),
            ("10.1.0.3", 5),
            ("10.1.0.5", 5),
            ("10.1.0.6", 5),
            ("10.1.0.7", 5),
            ("10.1.0.8", 5),
            ("10.1.0.9", 65535),
            ("10.1.0.10", 5),
        ];
        for (a, w) in extra {
            rows.retain(|r| r.0 != *a);
            rows.push((*a, *w));
        }
        expect(&rows)
    };
    assert_eq!(
        table(&core),
        all5(&[]),
        "no file: every server at its weight"
    );
    let steps: Vec<(&str, i64, BTreeMap<String, u32>)> = vec![
        (
            "f1",
            1,
            expect(&[
                ("10.1.0.1", 6),
                ("10.1.0.2", 8),
                ("10.1.0.5", 3),
                ("10.1.0.6", 5),
                ("10.1.0.7", 6),
                ("10.1.0.8", 5),
                ("10.1.0.9", 131070),
                ("10.1.0.10", 2147483647),
            ]),
        ),
        (
            "f1",
            -2,
            expect(&[
                ("10.1.0.1", 3),
                ("10.1.0.2", 0),
                ("10.1.0.5", 9),
                ("10.1.0.6", 5),
                ("10.1.0.7", 3),
                ("10.1.0.8", 5),
                ("10.1.0.9", 0),
                ("10.1.0.10", 0),
            ]),
        ),
        ("f1", 0, all5(&[])),
        (
            "f1",
            -2147483648,
            expect(&[
                ("10.1.0.5", 2147483647),
                ("10.1.0.6", 5),
                ("10.1.0.8", 5),
                ("10.1.0.10", 0),
            ]),
        ),
        (
            "f1",
            2147483648,
            expect(&[
                ("10.1.0.1", 2147483647),
                ("10.1.0.2", 2147483647),
                ("10.1.0.5", 0),
                ("10.1.0.6", 5),
                ("10.1.0.7", 2147483647),
                ("10.1.0.8", 5),
                ("10.1.0.9", 2147483647),
                ("10.1.0.10", 2147483647),
            ]),
        ),
        ("f1", 0, all5(&[])),
        ("f2", 1, all5(&[("10.1.0.6", 7), ("10.1.0.7", 6)])),
        ("f2", -3, all5(&[("10.1.0.6", 0), ("10.1.0.7", 2)])),
        ("f3", 1, {
            let mut t = all5(&[("10.1.0.6", 0), ("10.1.0.7", 2)]);
            t.remove("10.1.0.8");
            t
        }),
        ("f3", 0, all5(&[("10.1.0.6", 0), ("10.1.0.7", 2)])),
    ];
    for (name, value, want) in steps {
        set(&mut core, name, value);
        assert_eq!(table(&core), want, "after {name} = {value}");
    }
}

#[test]
fn start_values_apply_without_transitions() {
    let (mut core, _) = Core::new(&oracle_config(), 1);
    core.set_file_values(&[
        FileValue {
            name: "f1".into(),
            value: 2,
        },
        FileValue {
            name: "f2".into(),
            value: 1,
        },
        FileValue {
            name: "f3".into(),
            value: 1,
        },
    ]);
    // keepalived's start table for f1=2 f2=1 f3=1 (its 10.1.0.10 shows 3, a 32-bit
    // truncation of 5 + 2 * (2^31 - 1); rampart clamps).
    assert_eq!(
        table(&core),
        expect(&[
            ("10.1.0.1", 7),
            ("10.1.0.2", 11),
            ("10.1.0.5", 1),
            ("10.1.0.6", 7),
            ("10.1.0.7", 8),
            ("10.1.0.9", 196605),
            ("10.1.0.10", 2147483647),
        ])
    );
    let started = core.start(Instant::now());
    assert!(
        !started
            .iter()
            .any(|a| matches!(a, Action::Emit(Event::RealServer { .. }))),
        "{started:?}"
    );
}

fn rs_events(actions: &[Action]) -> Vec<(String, bool, String)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Emit(Event::RealServer {
                real_server,
                up,
                reason,
                ..
            }) => Some((real_server.addr.unwrap().to_string(), *up, reason.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn a_fault_takes_the_server_down_with_notify_and_back_up() {
    let text = format!(
        "{FILES}virtual_server 10.9.0.1 80 {{\n  protocol TCP\n  lb_algo rr\n  lb_kind NAT\n  real_server 10.1.0.1 80 {{\n    weight 4\n    notify_down /bin/down\n    notify_up /bin/up\n    FILE_CHECK {{\n      track_file f3\n    }}\n  }}\n}}\n"
    );
    let (mut core, _) = Core::new(&load(&text), 1);
    core.set_file_values(&[]);
    let a = set(&mut core, "f3", 5);
    assert_eq!(
        rs_events(&a),
        [(
            "10.1.0.1".to_string(),
            false,
            "FILE_CHECK: track_file f3 reads 5".to_string()
        )]
    );
    assert!(
        a.iter()
            .any(|x| matches!(x, Action::RunScript { command, .. } if command.raw == "/bin/down"))
    );
    assert!(a.contains(&Action::TableChanged));
    assert_eq!(table(&core), expect(&[]));
    // Another non-zero value: still down, nothing happens.
    assert_eq!(set(&mut core, "f3", 6), []);
    let a = set(&mut core, "f3", 0);
    assert_eq!(
        rs_events(&a),
        [(
            "10.1.0.1".to_string(),
            true,
            "all checkers succeeded".to_string()
        )]
    );
    assert!(
        a.iter()
            .any(|x| matches!(x, Action::RunScript { command, .. } if command.raw == "/bin/up"))
    );
    assert_eq!(table(&core), expect(&[("10.1.0.1", 4)]));
}

#[test]
fn weight_changes_report_the_new_weight_and_move_quorum() {
    let text = format!(
        "{FILES}virtual_server 10.9.0.1 80 {{\n  protocol TCP\n  lb_algo rr\n  lb_kind NAT\n  quorum 5\n  sorry_server 10.1.0.250 80\n  real_server 10.1.0.1 80 {{\n    weight 5\n    FILE_CHECK {{\n      track_file f1\n      weight 5\n    }}\n  }}\n}}\n"
    );
    let (mut core, _) = Core::new(&load(&text), 1);
    core.set_file_values(&[]);
    assert_eq!(table(&core), expect(&[("10.1.0.1", 5)]));
    let a = set(&mut core, "f1", 1);
    assert!(a.iter().any(|x| matches!(
        x,
        Action::Emit(Event::RealServerWeight {
            weight: Some(10),
            ..
        })
    )));
    assert!(
        rs_events(&a).is_empty(),
        "a weight change is no up/down: {a:?}"
    );
    // 5 - 5 = 0: alive at weight 0, below quorum: the sorry server takes over.
    let a = set(&mut core, "f1", -1);
    assert!(
        a.iter()
            .any(|x| matches!(x, Action::Emit(Event::Quorum { gained: false, .. })))
    );
    assert_eq!(table(&core), expect(&[("10.1.0.250", 1)]));
    set(&mut core, "f1", 0);
    assert_eq!(table(&core), expect(&[("10.1.0.1", 5)]));
}

#[test]
fn a_file_fault_and_a_failed_check_both_hold_the_server_down() {
    let text = format!(
        "{FILES}virtual_server 10.9.0.1 80 {{\n  protocol TCP\n  lb_algo rr\n  lb_kind NAT\n  real_server 10.1.0.1 80 {{\n    weight 3\n    inhibit_on_failure\n    TCP_CHECK {{\n      retry 0\n    }}\n    FILE_CHECK {{\n      track_file f3\n    }}\n  }}\n}}\n"
    );
    let (mut core, errors) = Core::new(&load(&text), 1);
    assert!(errors.is_empty());
    core.set_file_values(&[FileValue {
        name: "f3".into(),
        value: 1,
    }]);
    assert_eq!(
        table(&core),
        expect(&[("10.1.0.1", 0)]),
        "inhibited at start"
    );
    let probe = rampart::check::core::ProbeId(0);
    let now = Instant::now();
    core.step(
        Input::Result {
            probe,
            outcome: rampart::check::probe::Outcome::Down {
                reason: "refused".into(),
            },
        },
        now,
    );
    assert!(
        rs_events(&set(&mut core, "f3", 0)).is_empty(),
        "the TCP check still fails"
    );
    assert_eq!(table(&core), expect(&[("10.1.0.1", 0)]));
    let a = core.step(
        Input::Result {
            probe,
            outcome: rampart::check::probe::Outcome::Up { weight: None },
        },
        now,
    );
    assert_eq!(rs_events(&a).len(), 1);
    assert_eq!(table(&core), expect(&[("10.1.0.1", 3)]));
}

/// `rampart --dry-run -C` (no kernel state): the shell reads the file at start (`init_file`),
/// follows writes, runs notify scripts, and re-reads on a SIGHUP reload. Log lines are awaited
/// with a generous deadline (never a fixed sleep).
mod dry_run {
    use std::io::{BufRead, BufReader};
    use std::process::{Child, Command, Stdio};
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    struct Daemon {
        child: Child,
        lines: mpsc::Receiver<String>,
        seen: Vec<String>,
    }

    impl Drop for Daemon {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    impl Daemon {
        fn start(conf: &std::path::Path) -> Daemon {
            let mut child = Command::new(env!("CARGO_BIN_EXE_rampart"))
                .args(["-n", "--dry-run", "-C", "--log-format", "json", "-f"])
                .arg(conf)
                .arg("--control-socket")
                .arg(conf.with_extension("sock"))
                .env("RAMPART_LOG", "info")
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("rampart binary");
            let err = child.stderr.take().expect("stderr");
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                for l in BufReader::new(err).lines().map_while(Result::ok) {
                    let m = serde_json::from_str::<serde_json::Value>(&l)
                        .ok()
                        .and_then(|v| v["fields"]["message"].as_str().map(String::from))
                        .unwrap_or(l);
                    let _ = tx.send(m);
                }
            });
            Daemon {
                child,
                lines: rx,
                seen: Vec::new(),
            }
        }

        /// A line not taken yet containing every needle (operations of one table change
        /// are logged in key order, not in the order a test asks for them); it is taken.
        fn wait_for(&mut self, needles: &[&str]) -> String {
            let deadline = Instant::now() + Duration::from_secs(30);
            let hit = |m: &str| needles.iter().all(|n| m.contains(n));
            if let Some(i) = self.seen.iter().position(|m| hit(m)) {
                return self.seen.remove(i);
            }
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match self.lines.recv_timeout(left) {
                    Ok(m) if hit(&m) => return m,
                    Ok(m) => self.seen.push(m),
                    Err(_) => panic!(
                        "no line with {needles:?} within 30 s; not taken:\n{}",
                        self.seen.join("\n")
                    ),
                }
            }
        }

        fn signal(&self, sig: nix::sys::signal::Signal) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), sig);
        }
    }

    fn conf(dir: &std::path::Path, weight_a: i32) -> String {
        let d = dir.display();
        format!(
            "track_file f {{\n  file {d}/f\n  init_file 2\n}}\n\
             virtual_server 10.0.0.1 80 {{\n  protocol TCP\n  lb_kind NAT\n\
               real_server 127.0.0.2 80 {{\n    weight 5\n    FILE_CHECK {{\n      track_file f\n      weight {weight_a}\n    }}\n  }}\n\
               real_server 127.0.0.3 80 {{\n    weight 3\n    notify_up \"/usr/bin/touch {d}/up\"\n    notify_down \"/usr/bin/touch {d}/down\"\n    FILE_CHECK {{\n      track_file f\n      weight 0\n    }}\n  }}\n}}\n"
        )
    }

    fn wait_file(p: &std::path::Path) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !p.exists() {
            assert!(Instant::now() < deadline, "{} never appeared", p.display());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    type RsStatus = (String, String, Option<u64>);

    /// Poll `rampart status --json` until `ok` holds for its real servers (address, state,
    /// effective weight).
    fn wait_status(sock: &std::path::Path, ok: impl Fn(&[RsStatus]) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let out = Command::new(env!("CARGO_BIN_EXE_rampart"))
                .args(["status", "--json", "--socket"])
                .arg(sock)
                .output()
                .expect("rampart status");
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
            let vss = v["status"]["virtual_servers"]
                .as_array()
                .or_else(|| v["virtual_servers"].as_array())
                .cloned()
                .unwrap_or_default();
            let rs: Vec<RsStatus> = vss
                .iter()
                .flat_map(|vs| vs["real_servers"].as_array().cloned().unwrap_or_default())
                .map(|r| {
                    let name = r["name"].as_str().unwrap_or_default();
                    let addr = name
                        .trim_start_matches('[')
                        .split(']')
                        .next()
                        .unwrap_or_default()
                        .to_string();
                    (
                        addr,
                        r["state"].as_str().unwrap_or_default().to_string(),
                        r["effective_weight"].as_u64(),
                    )
                })
                .collect();
            if ok(&rs) {
                return;
            }
            assert!(Instant::now() < deadline, "status never matched; last: {v}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    #[test]
    fn the_daemon_follows_the_file_runs_notify_and_rereads_on_reload() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = dir.path().join("fc.conf");
        std::fs::write(&cfg, conf(dir.path(), 1)).expect("write conf");
        let mut d = Daemon::start(&cfg);
        // init_file 2: A at 5 + 2; B (weight 0) down: not in the table.
        d.wait_for(&["ipvs-op op=add-dest", "dest=[127.0.0.2]:80", "weight=7"]);
        assert_eq!(
            std::fs::read_to_string(dir.path().join("f")).expect("init_file wrote f"),
            "2\n"
        );
        std::fs::write(dir.path().join("f"), "0\n").expect("write f");
        d.wait_for(&["ipvs-op op=add-dest", "dest=[127.0.0.3]:80", "weight=3"]);
        d.wait_for(&["ipvs-op op=edit-dest", "dest=[127.0.0.2]:80", "weight=5"]);
        wait_file(&dir.path().join("up"));
        std::fs::write(dir.path().join("f"), "4\n").expect("write f");
        d.wait_for(&["ipvs-op op=del-dest", "dest=[127.0.0.3]:80"]);
        d.wait_for(&["ipvs-op op=edit-dest", "dest=[127.0.0.2]:80", "weight=9"]);
        wait_file(&dir.path().join("down"));
        // Reload with weight 2 for A: 5 + 4 × 2; B stays down (no new notify).
        std::fs::write(&cfg, conf(dir.path(), 2)).expect("write conf");
        d.signal(nix::sys::signal::Signal::SIGHUP);
        d.wait_for(&["ipvs-op op=edit-dest", "dest=[127.0.0.2]:80", "weight=13"]);
        // `rampart status`: A at 13 (configured 5), B down and out of the table.
        wait_status(&cfg.with_extension("sock"), |rs| {
            rs == [
                ("127.0.0.2".into(), "UP".into(), Some(13)),
                ("127.0.0.3".into(), "DOWN".into(), None),
            ]
        });
        // A removed file reads 0: B back, A at 5.
        std::fs::remove_file(dir.path().join("f")).expect("rm f");
        d.wait_for(&["ipvs-op op=add-dest", "dest=[127.0.0.3]:80", "weight=3"]);
        d.wait_for(&["ipvs-op op=edit-dest", "dest=[127.0.0.2]:80", "weight=5"]);
        d.signal(nix::sys::signal::Signal::SIGTERM);
        let _ = d.child.wait();
    }
}

/// `keepalived -t` (2.2.7) as the oracle for which FILE_CHECK configurations are valid:
/// rampart accepts what keepalived accepts and refuses what keepalived reports (exit 5).
#[test]
fn keepalived_agrees_on_which_file_checks_are_valid() {
    let Some(keepalived) = ["/usr/sbin/keepalived", "/sbin/keepalived"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
    else {
        eprintln!(
            "!!!!! SKIPPED keepalived_agrees_on_which_file_checks_are_valid: keepalived is not installed"
        );
        return;
    };
    let one = |check: &str, extra: &str| vs(&rs("10.1.0.1", 5, extra, &[check]));
    let cases: Vec<(&str, String, bool)> = vec![
        ("the oracle configuration", vs(&oracle_config_text()), true),
        ("weight with reverse", one("      track_file f1\n      weight -7 reverse\n", ""), true),
        ("weight noreverse", one("      track_file f2\n      weight 2147483647 noreverse\n", ""), true),
        ("unknown track_file", one("      track_file nope\n", ""), false),
        ("no track_file", one("      weight 2\n", ""), false),
        ("weight out of range", one("      track_file f1\n      weight -2147483648\n", ""), false),
        ("bad weight option", one("      track_file f1\n      weight 2 upside\n", ""), false),
        ("a common checker option", one("      track_file f1\n      connect_timeout 3\n", ""), false),
        ("track_file in real_server", one("      track_file f1\n", "    track_file f1\n"), false),
        (
            "track_file block after its use",
            "virtual_server 10.9.0.1 80 {\n  protocol TCP\n  lb_algo rr\n  lb_kind NAT\n  real_server 10.1.0.1 80 {\n    FILE_CHECK {\n      track_file late\n    }\n  }\n}\ntrack_file late {\n  file /nonexistent/late\n}\n".to_string(),
            false,
        ),
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    for (what, text, valid) in cases {
        let path = dir.path().join("k.conf");
        std::fs::write(&path, &text).expect("write");
        let out = std::process::Command::new(keepalived)
            .args(["-t", "-l", "-f"])
            .arg(&path)
            .output()
            .expect("run keepalived -t");
        assert_eq!(
            out.status.success(),
            valid,
            "{what}: keepalived -t says {:?}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let ours = load_str("k.conf", &text, &LoadOptions::default());
        assert_eq!(ours.is_ok(), valid, "{what}: rampart says {ours:?}");
    }
}

#[test]
fn a_track_file_block_weight_is_limited_as_keepalived_does() {
    let d = refused("track_file f {\n  file /nonexistent/f\n  weight 300\n}\n");
    assert_eq!(d.len(), 1, "{d:#?}");
    assert!(d[0].starts_with("3: invalid weight `300`"), "{d:#?}");
    load("track_file f {\n  file /nonexistent/f\n  weight -254 reverse\n}\n");
}

mod history {
    use super::*;
    use proptest::prelude::*;

    fn value() -> impl Strategy<Value = i64> {
        prop_oneof![
            -3i64..=3,
            Just(i64::from(i32::MIN)),
            Just(1i64 << 31),
            any::<i32>().prop_map(i64::from),
        ]
    }

    proptest! {
        /// The table depends only on the files' current values, not on the order they were
        /// written in: after any sequence of writes it equals the table of a daemon started
        /// with the last values.
        #[test]
        fn the_table_depends_only_on_the_last_values(
            writes in proptest::collection::vec((0usize..3, value()), 0..24)
        ) {
            let cfg = oracle_config();
            let (mut live, _) = Core::new(&cfg, 1);
            live.set_file_values(&[]);
            let names = ["f1", "f2", "f3"];
            let mut last = [0i64; 3];
            for (f, v) in writes {
                set(&mut live, names[f], v);
                last[f] = v;
            }
            let (mut fresh, _) = Core::new(&cfg, 1);
            let values: Vec<FileValue> = names
                .iter()
                .zip(last)
                .map(|(n, value)| FileValue { name: n.to_string(), value })
                .collect();
            fresh.set_file_values(&values);
            prop_assert_eq!(weights(&live), weights(&fresh));
        }
    }
}
