//! `rampart ipvs` against the real ipvsadm, command line by command line: each case of
//! tests/vm/data/ipvsadm_sweep.txt runs through both from the same starting table, and the exit
//! status, stdout, stderr and the resulting kernel state (read by the real ipvsadm) must be
//! identical (tests/vm/scenarios/ipvsadm_sweep.sh, one VM boot). The cases are the corners a
//! wide differential sweep found (and that stay fixed) plus a spread over every option.
//!
//! The wide sweep itself (1,873 command lines, about 13 minutes under TCG, run on purpose):
//! `cargo test --test ipvs_vm_sweep -- --ignored --nocapture`.

#[path = "common/vm.rs"]
mod vm;

fn sweep(test: &str, cases: &str, timeout_secs: u32) {
    if vm::skip_if_unavailable(test) {
        return;
    }
    let name = std::path::Path::new(cases)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("ipvsadm_sweep.txt")
        .to_string();
    let run = vm::Scenario::new("tests/vm/scenarios/ipvsadm_sweep.sh")
        .file(cases)
        .env("SWEEP_FILE", &name)
        .timeout_secs(timeout_secs)
        .run()
        .unwrap_or_else(|e| panic!("VM run failed: {e}"));
    if let Some(s) = run.section("sweep") {
        if let Some(last) = s.body.lines().last() {
            eprintln!("{test}: {last}");
        }
    }
    vm::assert_sections_pass(&run, &["sweep".to_string()]);
}

#[test]
fn rampart_ipvs_answers_every_command_line_as_ipvsadm_does() {
    sweep(
        "rampart_ipvs_answers_every_command_line_as_ipvsadm_does",
        "tests/vm/data/ipvsadm_sweep.txt",
        600,
    );
}

#[test]
#[ignore = "the wide sweep: 1,873 command lines, about 13 minutes under TCG"]
fn wide_sweep_against_ipvsadm() {
    sweep(
        "wide_sweep_against_ipvsadm",
        "tests/vm/data/ipvsadm_sweep_wide.txt",
        3000,
    );
}
