//! `rampart ipvs` against the real ipvsadm in the test VM on the corners of ipvsadm's output
//! (sort order quirks, signed fwmarks, masks, errors), a pipelined restore, and the
//! reconciler's one-request weight change, per-line errors of a pipelined restore, tunnel types
//! through the reconciler, and connection/counter listings after real traffic through a
//! namespace lab (tests/data/ipvs/vm_quirks.sh; harness in tests/vm/).

#[path = "common/vm.rs"]
mod vm;

#[test]
fn rampart_ipvs_matches_ipvsadm_on_the_corners() {
    if vm::skip_if_unavailable("rampart_ipvs_matches_ipvsadm_on_the_corners") {
        return;
    }
    let run = vm::Scenario::new("tests/data/ipvs/vm_quirks.sh")
        .timeout_secs(400)
        .run()
        .unwrap_or_else(|e| panic!("VM run failed: {e}"));
    let names: Vec<String> = [
        "readbacks",
        "restore-same",
        "errors",
        "pipelined-restore",
        "one-weight-change",
        "batch-errors",
        "tunnel-reconcile",
        "conn-listing",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    vm::assert_sections_pass(&run, &names);
}
