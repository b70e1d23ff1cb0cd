//! End-to-end scenario 4 (docs/scenarios/lvs-tun.md): seed 003's LVS-TUN, rampart as the
//! director, real servers prepared with `rampart realserver setup --mode tun`. One VM boot
//! (tests/vm/scenarios/e2e_tun.sh); assertions on captures on the real servers' and the
//! director's interfaces, tunl0's counters and the client's answers.
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
        Scenario::new("tests/vm/scenarios/e2e_tun.sh")
            .file("tests/vm/scenarios/e2e_lib.sh")
            .file("tests/data/e2e/tun.conf")
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
fn the_tunnel_service_is_programmed() {
    check("the_tunnel_service_is_programmed", &["setup"]);
}

#[test]
fn requests_arrive_in_ipip_and_are_answered_directly() {
    check(
        "requests_arrive_in_ipip_and_are_answered_directly",
        &["encapsulated-and-answered-directly"],
    );
}

#[test]
fn strict_rp_filter_on_a_real_server_drops_its_requests() {
    check(
        "strict_rp_filter_on_a_real_server_drops_its_requests",
        &["rp-filter-matters"],
    );
}
