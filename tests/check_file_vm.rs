//! keepalived 2.2.7 as the independent oracle for FILE_CHECK: the same keepalived.conf (real
//! servers following three track_files: default weight, weight × value, `reverse`, a weight-0
//! file that faults on a non-zero value, inhibit_on_failure, two FILE_CHECKs on one server,
//! 32-bit clamping, quorum with a sorry server, `init_file`) run by `keepalived -C` and by
//! `rampart -C` in one boot of the test VM, each programming IPVS, while the same values are
//! written to the files (and a file renamed in, and removed). `ipvsadm -S -n` must be
//! byte-identical after every step (tests/vm/scenarios/check_file_vm.sh).
//!
//! Needs root and qemu-system-x86_64 (skips loudly without qemu).

#[path = "common/vm.rs"]
mod vm;

use std::sync::OnceLock;
use vm::{Scenario, VmRun, assert_sections_pass};

/// The steps of the scenario (its STEPS names), after "start".
const STEPS: [&str; 15] = [
    "start",
    "f1=3",
    "f1=-2",
    "f1=0",
    "f2=1",
    "f2=-3",
    "f3=1",
    "f3=0",
    "f1=-1",
    "f1-renamed-in-4",
    "f1-removed",
    "f1=min",
    "f1=max",
    "f1=abc",
    "f1=0x10",
];

fn file_run(test: &str) -> Option<&'static VmRun> {
    static RUN: OnceLock<Result<VmRun, String>> = OnceLock::new();
    if vm::skip_if_unavailable(test) {
        return None;
    }
    let run = RUN.get_or_init(|| {
        Scenario::new("tests/vm/scenarios/check_file_vm.sh")
            .file("tests/vm/scenarios/check_vm_lib.sh")
            .timeout_secs(400)
            .run()
            .map_err(|e| e.to_string())
    });
    match run {
        Ok(run) => Some(run),
        Err(e) => panic!("{test}: {e}"),
    }
}

#[test]
fn keepalived_follows_the_files_as_documented() {
    let Some(run) = file_run("keepalived_follows_the_files_as_documented") else {
        return;
    };
    assert_sections_pass(
        run,
        &[
            "run:keepalived".to_string(),
            "run:rampart".to_string(),
            "oracle".to_string(),
        ],
    );
}

#[test]
fn rampart_programs_the_same_weights_as_keepalived_after_every_write() {
    let Some(run) = file_run("rampart_programs_the_same_weights_as_keepalived_after_every_write")
    else {
        return;
    };
    let names: Vec<String> = STEPS.iter().map(|s| format!("parity:{s}")).collect();
    assert_sections_pass(run, &names);
}
