//! `vrrp_track_process` blocks and `track_process` lists: model fields with keepalived's
//! defaults, exact diagnostics for bad values, and `rampart check-config` against
//! `keepalived -t` (2.2.7) on the same files (same verdict, errors on the same lines).

use rampart::config::*;
use std::process::Command;
use std::time::Duration;

fn analyse_text(text: &str) -> (Config, Diagnostics) {
    let fs = MemFs::default();
    let opts = LoadOptions {
        config_id: Some("test".into()),
    };
    analyse("/t/rampart.conf", text, &opts, &fs, &Limits::default())
}

/// (severity, class, line, col, message) of every diagnostic.
fn diags(text: &str) -> Vec<(Severity, DiagClass, u32, u32, String)> {
    analyse_text(text)
        .1
        .0
        .into_iter()
        .map(|d| {
            let s = d.span.clone().unwrap_or_default();
            (d.severity, d.class, s.line, s.col, d.message)
        })
        .collect()
}

/// Valid for both rampart and keepalived 2.2.7 (the interface is made by the oracle test).
const GOOD: &str = r#"vrrp_track_process web {
    process nginx
}
vrrp_track_process tp1 {
    process sleep
    weight 10
    quorum 2
    quorum_max 3
    delay 0.5
}
vrrp_track_process tp2 {
    process /bin/sleep 1000
    param_match initial
    fork_delay 1.5
    terminate_delay 2
}
vrrp_track_process tp3 {
    process "/tmp/a b" param1 "param 2"
    weight -5 reverse
    full_command
}
vrrp_track_process none_may_run {
    process haproxy
    quorum_max 0
}
vrrp_track_process noargs {
    process /usr/sbin/sshd
    param_match
}
vrrp_instance VI_1 {
    interface veth0
    virtual_router_id 50
    priority 100
    virtual_ipaddress {
        10.0.0.1
    }
    track_process {
        web
        tp1
        tp2 weight -20 reverse
        tp3 weight 7 noreverse
    }
}
vrrp_instance VI_2 {
    interface veth0
    virtual_router_id 51
    priority 100
    virtual_ipaddress {
        10.0.0.2
    }
    track_process {
        none_may_run
    }
}
vrrp_instance VI_3 {
    interface veth0
    virtual_router_id 52
    priority 100
    virtual_ipaddress {
        10.0.0.3
    }
}
vrrp_sync_group G {
    group {
        VI_2
        VI_3
    }
    track_process {
        noargs
    }
}
"#;

/// Every line with an error in rampart has one in keepalived 2.2.7 and vice versa.
const BAD: &str = r#"vrrp_track_process a {
    process sleep
    weight 300
    quorum 0
    quorum_max 70000
    delay 0
    fork_delay 4000
    terminate_delay 1.0000005
    param_match foo
    bogus 1
    process other
}
vrrp_track_process noproc { weight 1 }
vrrp_track_process q {
    process x
    quorum_max 1
    quorum 3
}
vrrp_instance VI_1 {
    interface veth0
    virtual_router_id 50
    virtual_ipaddress {
        10.0.0.1
    }
    track_process {
        a weight 300
        nosuch
        q
        q weight 2
        a weight 5 sideways
        q reverse
    }
}
"#;

#[test]
fn good_blocks_land_in_the_model_with_keepalived_defaults() {
    let (cfg, d) = analyse_text(GOOD);
    assert_eq!(d.0, vec![], "{d}");
    let web = cfg.track_process("web").unwrap();
    assert_eq!(
        (
            web.process.as_str(),
            web.params.len(),
            web.param_match,
            web.full_command,
            web.weight,
            web.reverse,
            web.quorum,
            web.quorum_max,
            web.fork_delay,
            web.terminate_delay,
        ),
        (
            "nginx",
            0,
            None,
            false,
            0,
            false,
            1,
            u32::MAX,
            Duration::ZERO,
            Duration::ZERO
        )
    );
    let tp1 = cfg.track_process("tp1").unwrap();
    assert_eq!((tp1.weight, tp1.quorum, tp1.quorum_max), (10, 2, 3));
    assert_eq!(
        (tp1.fork_delay, tp1.terminate_delay),
        (Duration::from_millis(500), Duration::from_millis(500))
    );
    let tp2 = cfg.track_process("tp2").unwrap();
    assert_eq!(tp2.params, vec!["1000".to_string()]);
    assert_eq!(tp2.param_match, Some(ParamMatch::Initial));
    assert!(tp2.full_command, "arguments imply full_command");
    assert_eq!(
        (tp2.fork_delay, tp2.terminate_delay),
        (Duration::from_millis(1500), Duration::from_secs(2))
    );
    let tp3 = cfg.track_process("tp3").unwrap();
    assert_eq!(tp3.process, "/tmp/a b");
    assert_eq!(
        tp3.params,
        vec!["param1".to_string(), "param 2".to_string()]
    );
    assert_eq!(tp3.param_match, Some(ParamMatch::Exact));
    assert_eq!((tp3.weight, tp3.reverse), (-5, true));
    let none = cfg.track_process("none_may_run").unwrap();
    assert_eq!((none.quorum, none.quorum_max), (0, 0));
    let noargs = cfg.track_process("noargs").unwrap();
    assert_eq!(
        (noargs.param_match, noargs.full_command, noargs.params.len()),
        (Some(ParamMatch::Exact), true, 0)
    );

    let i = cfg.instance("VI_1").unwrap();
    let refs: Vec<_> = i
        .track_process
        .iter()
        .map(|r| (r.name.as_str(), r.weight, r.reverse, r.span.line))
        .collect();
    assert_eq!(
        refs,
        vec![
            ("web", None, None, 38),
            ("tp1", None, None, 39),
            ("tp2", Some(-20), Some(true), 40),
            ("tp3", Some(7), Some(false), 41),
        ]
    );
    let g = &cfg.sync_groups[0];
    assert_eq!(g.track_process.len(), 1);
    assert_eq!(g.track_process[0].name, "noargs");
}

#[test]
fn bad_values_are_errors_naming_the_expected_form() {
    use DiagClass::*;
    use Severity::*;
    let got = diags(BAD);
    let got: Vec<_> = got
        .iter()
        .map(|(s, c, l, col, m)| (*s, *c, *l, *col, m.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (Error, BadValue, 3, 12, "invalid weight `300`"),
            (Error, BadValue, 4, 12, "invalid value for `quorum` `0`"),
            (
                Error,
                BadValue,
                5,
                16,
                "invalid value for `quorum_max` `70000`"
            ),
            (Error, BadValue, 6, 11, "invalid value for `delay` `0`"),
            (
                Error,
                BadValue,
                7,
                16,
                "invalid value for `fork_delay` `4000`"
            ),
            (
                Error,
                BadValue,
                8,
                21,
                "invalid value for `terminate_delay` `1.0000005`"
            ),
            (Error, BadValue, 9, 17, "invalid param_match type `foo`"),
            (
                Error,
                UnknownKeyword,
                10,
                5,
                "unknown keyword `bogus` in vrrp_track_process"
            ),
            (
                Error,
                Duplicate,
                11,
                5,
                "vrrp_track_process `a`: `process` already given at line 2"
            ),
            (
                Error,
                Missing,
                13,
                1,
                "vrrp_track_process `noproc` has no `process`"
            ),
            (
                Error,
                Semantic,
                17,
                5,
                "vrrp_track_process `q`: quorum_max 1 is below quorum 3"
            ),
            (Error, BadValue, 26, 18, "invalid weight `300`"),
            (
                Error,
                Semantic,
                27,
                9,
                "track_process names unknown vrrp_track_process block `nosuch`"
            ),
            (
                Error,
                Duplicate,
                29,
                9,
                "track_process `q` listed twice (first at line 28)"
            ),
            (
                Error,
                Duplicate,
                30,
                9,
                "track_process `a` listed twice (first at line 26)"
            ),
            (Error, BadValue, 30, 20, "invalid weight option `sideways`"),
            (
                Error,
                BadValue,
                31,
                11,
                "invalid track_process option `reverse`"
            ),
        ]
    );
    // The help line names the expected form.
    let (_, d) = analyse_text(BAD);
    let help = |line: u32| {
        d.0.iter()
            .find(|x| x.span.as_ref().is_some_and(|s| s.line == line))
            .and_then(|x| x.help.clone())
            .unwrap_or_default()
    };
    assert_eq!(help(3), "expected N [reverse], N from -254 to 254");
    assert_eq!(
        help(6),
        "expected seconds from 0.000001 to 3600 (at most 6 decimals), e.g. 0.5"
    );
    assert_eq!(
        help(26),
        "expected NAME [weight N [reverse|noreverse]], N from -254 to 254"
    );
}

#[test]
fn keepalived_spellings_that_rampart_takes_with_a_word() {
    use DiagClass::*;
    use Severity::*;
    let text = "vrrp_track_process p {
    process x
    param_match exact
    full_command 1
}
";
    let got = diags(text);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!((got[0].0, got[0].1, got[0].2), (Warning, Semantic, 3));
    assert!(got[0].4.contains("write `param_match` alone"), "{got:?}");
    assert_eq!((got[1].0, got[1].1, got[1].2), (Warning, Semantic, 4));
    // `track_process` is a list inside an instance or sync group, not a top-level block.
    let got = diags("track_process p {\n    process x\n}\n");
    assert_eq!(got[0].0, Error);
    assert_eq!(got[0].4, "`track_process` is not valid in the top level");
}

#[test]
fn process_monitor_buffers_are_accepted_without_effect() {
    use DiagClass::*;
    use Severity::*;
    let got = diags(
        "global_defs {\n    process_monitor_rcv_bufs 500000\n    process_monitor_rcv_bufs_force\n    process_monitor_rcv_bufs abc\n}\n",
    );
    let got: Vec<_> = got.iter().map(|d| (d.0, d.1, d.2)).collect();
    assert_eq!(
        got,
        vec![
            (Info, Unsupported, 2),
            (Info, Unsupported, 3),
            // Given twice in one block: the usual warning.
            (Warning, Duplicate, 4),
            (Error, BadValue, 4)
        ]
    );
}

#[test]
fn weights_ignored_in_sync_groups_and_by_address_owners_are_warned() {
    let text = "vrrp_track_process p {
    process x
    weight 5
}
vrrp_instance A {
    interface eth0
    virtual_router_id 1
    virtual_ipaddress {
        10.0.0.1
    }
    track_process {
        p
    }
}
vrrp_instance O {
    interface eth0
    virtual_router_id 2
    priority 255
    virtual_ipaddress {
        10.0.0.2
    }
    track_process {
        p weight 0
        p2
    }
}
vrrp_track_process p2 {
    process y
    weight 3
}
vrrp_sync_group G {
    group {
        A
        O
    }
}
";
    let got = diags(text);
    let warnings: Vec<_> = got
        .iter()
        .filter(|d| d.0 == Severity::Warning)
        .map(|d| (d.2, d.4.as_str()))
        .collect();
    assert_eq!(
        warnings,
        vec![
            (
                12,
                "tracked process `p` with weight 5 ignored: `A` is in sync group `G` (as in keepalived; use weight 0 to go to FAULT while the quorum is not met)"
            ),
            (
                24,
                "tracked process `p2` with weight 3 ignored: `O` is in sync group `G` (as in keepalived; use weight 0 to go to FAULT while the quorum is not met)"
            ),
        ]
    );
}

// ---------------------------------------------------------------------------------------
// The oracle: keepalived 2.2.7 on the same files.
// ---------------------------------------------------------------------------------------

/// `keepalived -t -f FILE` in a fresh network namespace with a `veth0` (keepalived refuses
/// a configuration whose interface does not exist): (exit code, lines it complained about).
/// None when keepalived, unshare or root are unavailable.
fn keepalived_t(path: &std::path::Path) -> Option<(i32, Vec<u32>)> {
    let script = format!(
        "ip link add veth0 type veth peer name veth1 && exec keepalived -t -l -n -f {}",
        path.display()
    );
    let out = Command::new("unshare")
        .args(["-n", "sh", "-c", &script])
        .output()
        .ok()?;
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    // 127: no keepalived (or ip); "unshare:": no permission for a namespace.
    if out.status.code() == Some(127) || text.contains("unshare:") {
        return None;
    }
    let mut lines: Vec<u32> = text
        .lines()
        .filter_map(|l| {
            let rest = &l[l.find("Line ")? + 5..];
            rest[..rest.find(')')?].parse().ok()
        })
        .collect();
    lines.sort();
    lines.dedup();
    Some((out.status.code().unwrap_or(-1), lines))
}

/// `rampart check-config FILE`: (exit code, lines with an error).
fn rampart_check(path: &std::path::Path) -> (i32, Vec<u32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args(["check-config", path.to_str().unwrap()])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    let prefix = format!("{}:", path.display());
    let mut lines: Vec<u32> = text
        .lines()
        .filter(|l| l.contains(": error:"))
        .filter_map(|l| l.strip_prefix(&prefix)?.split(':').next()?.parse().ok())
        .collect();
    lines.sort();
    lines.dedup();
    (out.status.code().unwrap_or(-1), lines, text)
}

#[test]
fn check_config_agrees_with_keepalived_t() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.conf");
    let bad = dir.path().join("bad.conf");
    std::fs::write(&good, GOOD).unwrap();
    std::fs::write(&bad, BAD).unwrap();

    let (code, lines, text) = rampart_check(&good);
    assert_eq!((code, lines), (0, vec![]), "{text}");
    let (code, lines, text) = rampart_check(&bad);
    let want = vec![3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 17, 26, 27, 29, 30, 31];
    assert_eq!((code, &lines), (1, &want), "{text}");

    let Some((kcode, klines)) = keepalived_t(&good) else {
        eprintln!("keepalived -t unavailable (needs keepalived, unshare and root): oracle skipped");
        return;
    };
    assert_eq!(
        (kcode, klines),
        (0, vec![]),
        "keepalived -t on the good file"
    );
    let (kcode, klines) = keepalived_t(&bad).unwrap();
    assert_ne!(kcode, 0, "keepalived -t on the bad file");
    assert_eq!(
        klines, want,
        "keepalived complains on the same lines as rampart"
    );
}
