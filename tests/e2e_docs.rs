//! The scenario pages in docs/scenarios/ show the configurations the end-to-end tests really
//! use (tests/data/e2e/), and director B's files differ from A's only where the pages say.
//! Also: every configuration loads without errors or warnings through the real front end.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("cannot read {rel}: {e}"))
}

/// The first ```keepalived block of a Markdown page.
fn first_config_block(rel: &str) -> String {
    let text = read(rel);
    let start = text
        .find("```keepalived\n")
        .unwrap_or_else(|| panic!("{rel} has no ```keepalived block"))
        + "```keepalived\n".len();
    let len = text[start..]
        .find("```")
        .unwrap_or_else(|| panic!("{rel}: unterminated ```keepalived block"));
    text[start..start + len].to_string()
}

#[test]
fn pages_show_the_configurations_the_tests_use() {
    for (page, conf) in [
        ("docs/scenarios/lvs-nat.md", "tests/data/e2e/nat-a.conf"),
        (
            "docs/scenarios/connection-sync.md",
            "tests/data/e2e/sync-a.conf",
        ),
        ("docs/scenarios/lvs-dr-fwmark.md", "tests/data/e2e/dr.conf"),
        ("docs/scenarios/lvs-tun.md", "tests/data/e2e/tun.conf"),
    ] {
        assert_eq!(
            first_config_block(page),
            read(conf),
            "the configuration shown in {page} differs from {conf}, which the test uses"
        );
    }
}

#[test]
fn director_b_differs_only_in_router_id_state_and_priority() {
    for (a, b) in [
        ("tests/data/e2e/nat-a.conf", "tests/data/e2e/nat-b.conf"),
        ("tests/data/e2e/sync-a.conf", "tests/data/e2e/sync-b.conf"),
    ] {
        let expected = read(a)
            .replace("router_id DIRECTOR_A", "router_id DIRECTOR_B")
            .replace("state MASTER", "state BACKUP")
            .replace("priority 100", "priority 99");
        assert_eq!(
            read(b),
            expected,
            "{b} must be {a} with router_id DIRECTOR_B, state BACKUP, priority 99"
        );
    }
}

#[test]
fn every_configuration_loads_cleanly() {
    for conf in [
        "nat-a.conf",
        "nat-b.conf",
        "sync-a.conf",
        "sync-b.conf",
        "dr.conf",
        "tun.conf",
    ] {
        let path = root().join("tests/data/e2e").join(conf);
        match rampart::config::load_file(Path::new(&path), &Default::default()) {
            Ok(loaded) => assert!(
                loaded.warnings.0.is_empty(),
                "{conf}: warnings: {:?}",
                loaded
                    .warnings
                    .0
                    .iter()
                    .map(|d| d.render())
                    .collect::<Vec<_>>()
            ),
            Err(diags) => panic!(
                "{conf} does not load: {:?}",
                diags.0.iter().map(|d| d.render()).collect::<Vec<_>>()
            ),
        }
    }
}
