//! Every sample keepalived 2.2.7 ships, checked with its expected verdict.
//!
//! Verdicts were decided against `keepalived -t -f FILE` (2.2.7). Where keepalived fails only
//! because the interfaces named in the file do not exist on the test host (eth1, eth2, ...),
//! rampart's verdict is "valid": check-config checks the configuration, not the host
//! (`rampart doctor` does that).

use rampart::config::{DiagClass, Diagnostics, LoadOptions, Severity, load_file};
use std::path::PathBuf;

fn corpus_dir() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let candidates = [
        manifest.join("../shared/corpus/keepalived-2.2.7-samples"),
        PathBuf::from("/work/shared/corpus/keepalived-2.2.7-samples"),
    ];
    for c in &candidates {
        if c.is_dir() {
            return c.clone();
        }
    }
    panic!(
        "keepalived sample corpus not found; looked in {:?} (clone the shared/ directory beside the repository)",
        candidates
    );
}

use DiagClass::*;
use Severity::{Error as E, Warning as W};

type Expect = &'static [(Severity, DiagClass, u32, u32)];

/// (file, config id, expected diagnostics as (severity, class, line, column)).
const CASES: &[(&str, &str, Expect)] = &[
    ("keepalived.conf.HTTP_GET.port", "x", &[]),
    // SMTP_CHECK, PING_CHECK and UDP_CHECK are implemented (check-feat): no warnings.
    ("keepalived.conf.IPv6", "x", &[]),
    ("keepalived.conf.PING_CHECK", "x", &[]),
    ("keepalived.conf.SMTP_CHECK", "x", &[]),
    // keepalived: "Initial state master is incompatible with AH authentication", exit 5.
    ("keepalived.conf.SSL_GET", "x", &[(E, Semantic, 14, 5)]),
    ("keepalived.conf.UDP_CHECK", "x", &[]),
    (
        "keepalived.conf.conditional_conf",
        "high",
        &[(W, Unsupported, 3, 7)],
    ),
    (
        "keepalived.conf.conditional_conf",
        "low",
        &[(W, Unsupported, 4, 6)],
    ),
    // With neither id the script has no `script` line (keepalived removes it and runs on).
    (
        "keepalived.conf.conditional_conf",
        "other",
        &[(E, Missing, 6, 1), (E, Semantic, 25, 3)],
    ),
    // keepalived: "protocol specified for fwmark", exit 5.
    ("keepalived.conf.fwmark", "x", &[(E, Semantic, 12, 3)]),
    ("keepalived.conf.inhibit", "x", &[]),
    ("keepalived.conf.misc_check", "x", &[]),
    ("keepalived.conf.misc_check_arg", "x", &[]),
    ("keepalived.conf.quorum", "x", &[]),
    ("keepalived.conf.sample", "x", &[]),
    ("keepalived.conf.status_code", "x", &[]),
    // keepalived exit 5 only for missing interfaces on the host.
    ("keepalived.conf.track_interface", "x", &[]),
    ("keepalived.conf.virtual_server_group", "x", &[]),
    ("keepalived.conf.virtualhost", "x", &[]),
    ("keepalived.conf.vrrp", "x", &[]),
    ("keepalived.conf.vrrp.localcheck", "x", &[]),
    // keepalived: "Unknown keyword 'VI_2'" / "'VI_3'" (members outside `group {}`), exit 5.
    (
        "keepalived.conf.vrrp.lvs_syncd",
        "x",
        &[
            (E, Missing, 3, 1),
            (E, UnknownKeyword, 4, 3),
            (E, UnknownKeyword, 5, 3),
            (W, Deprecated, 11, 5),
        ],
    ),
    ("keepalived.conf.vrrp.routes", "x", &[]),
    // Malformed addresses `192.168.100./24` (line 11) and `192.168.200./24` (line 26).
    (
        "keepalived.conf.vrrp.rules",
        "x",
        &[
            (W, Missing, 10, 5),
            (E, BadValue, 11, 8),
            (W, Missing, 25, 9),
            (E, BadValue, 26, 12),
        ],
    ),
    ("keepalived.conf.vrrp.scripts", "x", &[]),
    ("keepalived.conf.vrrp.static_ipaddress", "x", &[]),
    ("keepalived.conf.vrrp.sync", "x", &[]),
];

fn summary(d: &Diagnostics) -> Vec<(Severity, DiagClass, u32, u32)> {
    d.0.iter()
        .map(|x| {
            let s = x.span.as_ref().expect("corpus diagnostics have a span");
            (x.severity, x.class, s.line, s.col)
        })
        .collect()
}

#[test]
fn every_sample_has_its_verdict() {
    let dir = corpus_dir();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("read corpus dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    // Every file in the corpus is covered by a case (new samples must get a verdict).
    for n in &names {
        assert!(
            CASES.iter().any(|(f, _, _)| f == n),
            "no expected verdict for corpus file {n}"
        );
    }
    let mut failures = Vec::new();
    for (file, id, expect) in CASES {
        let path = dir.join(file);
        let opts = LoadOptions {
            config_id: Some(id.to_string()),
        };
        let got = match load_file(&path, &opts) {
            Ok(l) => {
                assert!(!l.warnings.has_errors(), "{file}: Ok must carry no errors");
                summary(&l.warnings)
            }
            Err(d) => {
                assert!(d.has_errors(), "{file}: Err must carry an error");
                summary(&d)
            }
        };
        if got != *expect {
            failures.push(format!(
                "{file} (-i {id}): expected {expect:?}, got {got:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn rules_sample_points_at_the_malformed_addresses() {
    let path = corpus_dir().join("keepalived.conf.vrrp.rules");
    let d = load_file(&path, &LoadOptions::default()).expect_err("has errors");
    let errs: Vec<_> = d.errors().collect();
    assert_eq!(errs.len(), 2);
    assert!(errs[0].message.contains("192.168.100./24"), "{}", errs[0]);
    assert!(errs[1].message.contains("192.168.200./24"), "{}", errs[1]);
    let r = errs[0].render();
    assert!(r.contains("keepalived.conf.vrrp.rules:11:8: error:"), "{r}");
    assert!(r.contains("    to 192.168.100./24 table 1\n"), "{r}");
    assert!(r.contains("\n           ^\n"), "{r}");
}

#[test]
fn samples_load_into_the_model() {
    let dir = corpus_dir();
    let l = load_file(
        &dir.join("keepalived.conf.virtual_server_group"),
        &LoadOptions::default(),
    )
    .expect("valid");
    let g = &l.config.virtual_server_groups[0];
    assert_eq!(g.name, "VSG_1");
    assert_eq!(g.members.len(), 6);
    let vs = &l.config.virtual_servers[0];
    assert_eq!(vs.key, rampart::config::VsKey::Group("VSG_1".into()));
    assert_eq!(vs.real_servers.len(), 2);
    assert_eq!(vs.delay_loop, std::time::Duration::from_secs(6));
    assert_eq!(vs.lb_algo, Some(rampart::config::Scheduler::Rr));
    assert_eq!(vs.persistence_timeout, Some(50));
    let http = &vs.real_servers[0].checkers[0];
    assert_eq!(http.common.retry, Some(3));
    assert_eq!(
        http.common.connect_timeout,
        Some(std::time::Duration::from_secs(3))
    );
    match &http.kind {
        rampart::config::CheckerKind::Http(h) => {
            assert_eq!(h.urls[0].path, "/testurl3/test.jsp");
            assert!(h.urls[0].digest.is_some());
        }
        k => panic!("expected HTTP_GET, got {k:?}"),
    }

    let l = load_file(
        &dir.join("keepalived.conf.vrrp.sync"),
        &LoadOptions::default(),
    )
    .expect("valid");
    assert_eq!(l.config.sync_groups.len(), 2);
    assert_eq!(l.config.instances.len(), 9);
}
