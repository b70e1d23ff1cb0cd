//! keepalived 2.2.7 adjusts two virtual-server values at load time, with a warning, and
//! rampart does the same so a migrated file behaves the same (sorry server, quorum_up/down):
//! - `quorum` above the real servers' total weight is reduced to that total ("exceeds total
//!   weight of real servers 5, reducing quorum to 5");
//! - `hysteresis` not below `quorum` becomes quorum - 1 ("hysteresis 5 >= quorum 3; setting
//!   hysteresis to 2").
//!
//! When keepalived is installed, its `-t` output is checked for the same numbers.

use rampart::config::*;

fn vs(quorum: u32, hysteresis: u32, weights: &[u32]) -> String {
    let mut s = format!(
        "virtual_server 10.0.0.1 80 {{\n    protocol TCP\n    quorum {quorum}\n    hysteresis {hysteresis}\n"
    );
    for (i, w) in weights.iter().enumerate() {
        s.push_str(&format!(
            "    real_server 10.0.0.{} 80 {{\n        weight {w}\n        TCP_CHECK {{\n            connect_timeout 1\n        }}\n    }}\n",
            i + 2
        ));
    }
    s.push_str("}\n");
    s
}

fn rampart(text: &str) -> (u32, u32, Vec<String>) {
    let l = load_str("/nonexistent/q.conf", text, &LoadOptions::default())
        .unwrap_or_else(|d| panic!("{d}"));
    let v = &l.config.virtual_servers[0];
    let warnings = l.warnings.0.iter().map(|w| w.to_string()).collect();
    (v.quorum, v.hysteresis, warnings)
}

/// keepalived's (quorum, hysteresis) after its adjustments, read from `keepalived -t`'s
/// warnings; None when keepalived is not installed.
fn keepalived(text: &str, quorum: u32, hysteresis: u32) -> Option<(u32, u32)> {
    let dir = tempfile::tempdir().ok()?;
    let path = dir.path().join("q.conf");
    std::fs::write(&path, text).ok()?;
    let out = std::process::Command::new("keepalived")
        .args(["-t", "-l", "-D", "-f"])
        .arg(&path)
        .output()
        .ok()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let after = |marker: &str| -> Option<u32> {
        let line = text.lines().find(|l| l.contains(marker))?;
        line.rsplit(' ').next()?.trim().parse().ok()
    };
    let q = after("reducing quorum to").unwrap_or(quorum);
    let h = after("setting hysteresis to").unwrap_or(hysteresis);
    Some((q, h))
}

#[test]
fn quorum_and_hysteresis_are_adjusted_as_keepalived_does() {
    // (quorum, hysteresis, weights) -> (quorum, hysteresis) after the adjustments.
    type Case<'a> = (u32, u32, &'a [u32], (u32, u32));
    let cases: &[Case] = &[
        (10, 0, &[5], (5, 0)),
        (10, 0, &[3, 4], (7, 0)),
        (3, 5, &[5], (3, 2)),
        (10, 8, &[2, 3], (5, 4)),
        (2, 1, &[1, 1, 1], (2, 1)),
        (1, 0, &[1], (1, 0)),
    ];
    for &(q, h, w, want) in cases {
        let text = vs(q, h, w);
        let (rq, rh, warnings) = rampart(&text);
        assert_eq!(
            (rq, rh),
            want,
            "rampart, quorum {q} hysteresis {h} weights {w:?}"
        );
        if want != (q, h) {
            assert!(
                warnings.iter().any(|w| w.contains("as keepalived does")),
                "a warning says what changed: {warnings:?}"
            );
        }
        if let Some(k) = keepalived(&text, q, h) {
            assert_eq!(
                k, want,
                "keepalived, quorum {q} hysteresis {h} weights {w:?}"
            );
        }
    }
}

/// keepalived 2.2.7 takes a real server weight up to 2147483647 ("outside range
/// 0-2147483647"); the kernel too. rampart used to stop at ipvsadm's 65535.
#[test]
fn real_server_weight_takes_keepalived_range() {
    let (_, _, _) = rampart(&vs(1, 0, &[70000]));
    let l = load_str(
        "/nonexistent/w.conf",
        &vs(1, 0, &[2147483647]),
        &LoadOptions::default(),
    )
    .unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(
        l.config.virtual_servers[0].real_servers[0].weight,
        2147483647
    );
    let Err(err) = load_str(
        "/nonexistent/w.conf",
        &vs(1, 0, &[2147483648]),
        &LoadOptions::default(),
    ) else {
        panic!("2147483648 is out of range");
    };
    assert!(err.to_string().contains("0 to 2147483647"), "{err}");
}

/// keepalived 2.2.7: "Virtual server [10.0.0.1]:tcp:80 has no real servers - ignoring", even
/// with a sorry_server; nothing is programmed for it. rampart drops it too, after checking it.
#[test]
fn a_virtual_server_without_real_servers_is_dropped() {
    let text = "virtual_server 10.0.0.1 80 {\n    protocol TCP\n    lb_algo rr\n    lb_kind NAT\n    sorry_server 10.0.0.9 80\n}\n\
                virtual_server 10.0.0.2 80 {\n    protocol TCP\n    lb_algo rr\n    lb_kind NAT\n    real_server 10.0.0.3 80 {\n        TCP_CHECK {\n            connect_timeout 1\n        }\n    }\n}\n";
    let l = load_str("/nonexistent/v.conf", text, &LoadOptions::default())
        .unwrap_or_else(|d| panic!("{d}"));
    let vss: Vec<String> = l
        .config
        .virtual_servers
        .iter()
        .map(|v| format!("{:?}", v.key))
        .collect();
    assert_eq!(vss.len(), 1, "{vss:?}");
    assert!(vss[0].contains("10.0.0.2"), "{vss:?}");
    assert!(
        l.warnings
            .0
            .iter()
            .any(|w| w.to_string().contains("no real_server: ignored")),
        "{:?}",
        l.warnings
    );
    // Still checked before it is dropped.
    let bad = "virtual_server group NOPE {\n    protocol TCP\n}\n";
    assert!(load_str("/nonexistent/v.conf", bad, &LoadOptions::default()).is_err());
}
