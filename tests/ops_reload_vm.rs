//! Reload (SIGHUP) of the whole daemon on a kernel with IPVS, in the test VM (tests/vm/): one
//! director running `rampart -f CONF` with VRRP, checkers and IPVS, real servers and a client
//! in namespaces, a long-lived TCP connection through the VIP. One boot for every check here
//! (tests/vm/scenarios/ops_reload.sh); each step compares `rampart reload --plan`'s IPVS lines,
//! the requests the daemon sent (its `ipvs-op` log lines) and the kernel table.
//!
//! Needs root and qemu-system-x86_64 (skips loudly without qemu). `cargo test --test ops_reload_vm`.

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
        Scenario::new("tests/vm/scenarios/ops_reload.sh")
            .file("tests/vm/scenarios/e2e_lib.sh")
            .timeout_secs(240)
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
fn a_weight_change_is_one_ipvs_request_and_other_entries_stay() {
    check(
        "a_weight_change_is_one_ipvs_request_and_other_entries_stay",
        &["setup", "weight-change"],
    );
}

#[test]
fn a_removed_inhibited_real_server_is_drained_then_deleted() {
    check(
        "a_removed_inhibited_real_server_is_drained_then_deleted",
        &["setup", "drain-removed"],
    );
}

#[test]
fn a_new_virtual_server_is_programmed() {
    check("a_new_virtual_server_is_programmed", &["setup", "vs-added"]);
}

#[test]
fn a_broken_file_changes_nothing_and_is_reported() {
    check(
        "a_broken_file_changes_nothing_and_is_reported",
        &["setup", "broken-file"],
    );
}

#[test]
fn lvs_sync_daemon_changes_apply_on_reload() {
    check(
        "lvs_sync_daemon_changes_apply_on_reload",
        &["setup", "syncd-reload"],
    );
}

#[test]
fn a_live_connection_survives_every_reload() {
    check(
        "a_live_connection_survives_every_reload",
        &["setup", "live-connection"],
    );
}
