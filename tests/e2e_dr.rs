//! End-to-end scenario 3 (docs/scenarios/lvs-dr-fwmark.md): seed 001's LVS-DR with firewall
//! marks, rampart as the director, real servers prepared with `rampart realserver setup --mode
//! dr`. One VM boot (tests/vm/scenarios/e2e_dr.sh); assertions on the answers, captures on the
//! director's and the client's interfaces, and ipvsadm's table and counters.
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
        Scenario::new("tests/vm/scenarios/e2e_dr.sh")
            .file("tests/vm/scenarios/e2e_lib.sh")
            .file("tests/data/e2e/dr.conf")
            .timeout_secs(300)
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
fn the_fwmark_service_is_programmed_with_direct_routing() {
    check(
        "the_fwmark_service_is_programmed_with_direct_routing",
        &["setup"],
    );
}

#[test]
fn both_ports_of_one_client_land_on_the_same_real_server() {
    check(
        "both_ports_of_one_client_land_on_the_same_real_server",
        &["both-ports-same-server"],
    );
}

#[test]
fn replies_go_straight_to_the_client() {
    check(
        "replies_go_straight_to_the_client",
        &["replies-bypass-the-director"],
    );
}

#[test]
fn a_failed_real_server_leaves_the_pool_for_both_ports() {
    check(
        "a_failed_real_server_leaves_the_pool_for_both_ports",
        &["failed-server-leaves-the-pool"],
    );
}
