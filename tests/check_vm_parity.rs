//! keepalived 2.2.7 as the independent oracle for rampart's checker side: the same keepalived.conf
//! (29 real servers in 8 virtual servers, 11 kernel services: NAT, DR, TUN, a fwmark service, a
//! group of two addresses and a fwmark, TCP_CHECK and HTTP_GET with an MD5 digest,
//! inhibit_on_failure or not, quorum with a sorry server, hysteresis, sorry_server_inhibit) run
//! by `keepalived -C` and by `rampart -C` in one boot of the test VM, each really programming
//! IPVS; busybox httpd real servers in a namespace. `ipvsadm -S -n` must be byte-identical at
//! start, with the victims stopped, and with them back (tests/vm/scenarios/check_vm_parity.sh),
//! both sorted and as printed (ipvsadm sorts destinations itself, so the order the daemons added
//! them in does not show).
//!
//! Found by this test and fixed: keepalived gives DR/TUN destinations the service's port (0 under
//! a fwmark service), as ipvsadm does; rampart used the real server's port
//! (`ipvs::desired::kernel_dest_key`).
//!
//! Needs root and qemu-system-x86_64 (skips loudly without qemu).

#[path = "common/vm.rs"]
mod vm;

use std::sync::OnceLock;
use vm::{Scenario, VmRun, assert_sections_pass};

const PHASES: [&str; 3] = ["start", "down", "up"];

/// The one boot every test here shares.
fn parity_run(test: &str) -> Option<&'static VmRun> {
    static RUN: OnceLock<Result<VmRun, String>> = OnceLock::new();
    if vm::skip_if_unavailable(test) {
        return None;
    }
    let run = RUN.get_or_init(|| {
        Scenario::new("tests/vm/scenarios/check_vm_parity.sh")
            .file("tests/vm/scenarios/check_vm_lib.sh")
            .timeout_secs(300)
            .run()
            .map_err(|e| e.to_string())
    });
    match run {
        Ok(run) => Some(run),
        Err(e) => panic!("{test}: {e}"),
    }
}

fn names(prefix: &str) -> Vec<String> {
    PHASES.iter().map(|p| format!("{prefix}:{p}")).collect()
}

#[test]
fn keepalived_exercises_inhibit_removal_quorum_hysteresis_and_recovery() {
    let Some(run) =
        parity_run("keepalived_exercises_inhibit_removal_quorum_hysteresis_and_recovery")
    else {
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
fn rampart_programs_the_same_ipvs_table_as_keepalived() {
    let Some(run) = parity_run("rampart_programs_the_same_ipvs_table_as_keepalived") else {
        return;
    };
    assert_sections_pass(run, &names("parity"));
}

#[test]
fn rampart_table_prints_like_keepalived_s_unsorted() {
    let Some(run) = parity_run("rampart_table_prints_like_keepalived_s_unsorted") else {
        return;
    };
    assert_sections_pass(run, &names("order"));
}
