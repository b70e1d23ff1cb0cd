//! End-to-end scenario 2 (docs/scenarios/connection-sync.md): the LVS-NAT pair with
//! `lvs_sync_daemon`: rampart drives the kernel's IPVS sync daemons from LVS_LAN's VRRP state
//! (src/daemon/syncd.rs), so a long-lived TCP connection through the VIP survives the master's
//! death; without the line the same connection is reset. One VM boot
//! (tests/vm/scenarios/e2e_sync.sh); assertions on ipvsadm (--daemon, -Lnc, --stats), the
//! client's neighbour entry and what the client's socket receives.
//!
//! Needs root and qemu-system-x86_64 (skips loudly without qemu).

#[path = "common/vm.rs"]
mod vm;

use std::sync::OnceLock;
use vm::{Scenario, VmRun, assert_sections_pass};

fn run(test: &str) -> Option<&'static VmRun> {
    static RUN: OnceLock<Result<VmRun, String>> = OnceLock::new();
    if vm::skip_if_unavailable(test) {
        return None;
    }
    let run = RUN.get_or_init(|| {
        Scenario::new("tests/vm/scenarios/e2e_sync.sh")
            .file("tests/vm/scenarios/e2e_lib.sh")
            .file("tests/data/e2e/sync-a.conf")
            .file("tests/data/e2e/sync-b.conf")
            .memory_mb(768)
            .timeout_secs(360)
            .run()
            .inspect(|run| eprintln!("--- VM output ---\n{}", run.output))
            .map_err(|e| e.to_string())
    });
    match run {
        Ok(run) => Some(run),
        Err(e) => panic!("{test}: {e}"),
    }
}

fn check(test: &str, sections: &[&str]) {
    let Some(run) = run(test) else { return };
    let names: Vec<String> = sections.iter().map(|s| s.to_string()).collect();
    assert_sections_pass(run, &names);
}

#[test]
fn sync_daemons_follow_the_vrrp_instance() {
    check(
        "sync_daemons_follow_the_vrrp_instance",
        &["setup", "daemons-follow-vrrp", "term-stops-daemons"],
    );
}

#[test]
fn the_backup_holds_the_connection_before_the_failover() {
    check(
        "the_backup_holds_the_connection_before_the_failover",
        &["backup-knows-the-connection"],
    );
}

#[test]
fn a_long_lived_connection_survives_the_masters_death() {
    check(
        "a_long_lived_connection_survives_the_masters_death",
        &["connection-survives"],
    );
}

#[test]
fn without_lvs_sync_daemon_the_connection_is_reset() {
    check(
        "without_lvs_sync_daemon_the_connection_is_reset",
        &["control-without-sync"],
    );
}
