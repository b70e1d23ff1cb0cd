//! IPVS in a real kernel: `rampart ipvs` against the real ipvsadm, seed 000's NAT lab and the
//! reconciler, all in one VM boot (tests/vm/scenarios/ipvs_suite.sh; harness in tests/vm/).
//! Needs root and qemu-system-x86_64; the Debian kernel is downloaded once into target/vm/.

#[path = "common/vm.rs"]
mod vm;

use std::sync::OnceLock;
use vm::{Scenario, VmRun, assert_sections_pass};

const CASES: &str = "tests/vm/data/ipvs_cases.txt";

/// The one boot every test here shares.
fn suite(test: &str) -> Option<&'static VmRun> {
    static SUITE: OnceLock<Result<VmRun, String>> = OnceLock::new();
    if vm::skip_if_unavailable(test) {
        return None;
    }
    let run = SUITE.get_or_init(|| {
        Scenario::new("tests/vm/scenarios/ipvs_suite.sh")
            .file(CASES)
            .timeout_secs(600)
            .run()
            .map_err(|e| e.to_string())
    });
    match run {
        Ok(run) => Some(run),
        Err(e) => panic!("{test}: {e}"),
    }
}

/// Case names of the conformance data ("== NAME" lines).
fn case_names() -> Vec<String> {
    let text = std::fs::read_to_string(vm::repo_root().join(CASES))
        .unwrap_or_else(|e| panic!("cannot read {CASES}: {e}"));
    text.lines()
        .filter_map(|l| l.strip_prefix("== "))
        .map(|n| n.trim().to_string())
        .collect()
}

#[test]
fn cases_file_is_well_formed() {
    let names = case_names();
    assert!(names.len() >= 10, "{CASES} has only {} cases", names.len());
    let mut seen = std::collections::BTreeSet::new();
    for n in &names {
        assert!(
            !n.is_empty() && !n.contains(char::is_whitespace),
            "bad case name {n:?} in {CASES}"
        );
        assert!(seen.insert(n.clone()), "case {n} appears twice in {CASES}");
    }
}

#[test]
fn rampart_ipvs_programs_tables_ipvsadm_reads_back_identically() {
    let Some(run) = suite("rampart_ipvs_programs_tables_ipvsadm_reads_back_identically") else {
        return;
    };
    let names: Vec<String> = case_names()
        .iter()
        .map(|n| format!("forward:{n}"))
        .collect();
    assert_sections_pass(run, &names);
}

#[test]
fn rampart_ipvs_prints_ipvsadm_tables_identically() {
    let Some(run) = suite("rampart_ipvs_prints_ipvsadm_tables_identically") else {
        return;
    };
    let names: Vec<String> = case_names()
        .iter()
        .map(|n| format!("reverse:{n}"))
        .collect();
    assert_sections_pass(run, &names);
}

#[test]
fn rampart_ipvs_save_and_restore_round_trip_with_ipvsadm() {
    let Some(run) = suite("rampart_ipvs_save_and_restore_round_trip_with_ipvsadm") else {
        return;
    };
    assert_sections_pass(run, &["restore".to_string()]);
}

#[test]
fn seed_000_lab_client_reaches_real_server_through_rampart_nat_service() {
    let Some(run) = suite("seed_000_lab_client_reaches_real_server_through_rampart_nat_service")
    else {
        return;
    };
    assert_sections_pass(
        run,
        &["lab-nat".to_string(), "lab-nat-masquerade".to_string()],
    );
}

#[test]
fn fwmark_direct_routing_and_ipip_tunnel_destinations_carry_traffic() {
    let Some(run) = suite("fwmark_direct_routing_and_ipip_tunnel_destinations_carry_traffic")
    else {
        return;
    };
    assert_sections_pass(
        run,
        &["traffic-dr-fwmark".to_string(), "traffic-tun".to_string()],
    );
}

#[test]
fn reconciler_converges_in_one_run_and_then_sends_nothing() {
    let Some(run) = suite("reconciler_converges_in_one_run_and_then_sends_nothing") else {
        return;
    };
    assert_sections_pass(run, &["reconcile".to_string()]);
}

#[test]
fn suite_scenario_exits_cleanly() {
    let Some(run) = suite("suite_scenario_exits_cleanly") else {
        return;
    };
    assert_eq!(
        run.status, 0,
        "the suite scenario itself failed:\n{}",
        run.output
    );
}
