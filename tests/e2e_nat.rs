//! End-to-end scenario 1 (docs/scenarios/lvs-nat.md): seed 004's LVS-NAT director pair run by
//! rampart in the test VM (tests/vm/), one boot for every check here
//! (tests/vm/scenarios/e2e_nat.sh). Real traffic from client namespaces; assertions on what
//! the kernel and the traffic show (ip addr, ipvsadm, neighbour entries, iptables counters, the
//! answers, the mails a real SMTP server (Debian's msmtpd) accepted), not on rampart's logs.
//!
//! Needs root and qemu-system-x86_64 (skips loudly without qemu); fetches msmtpd once with
//! `apt-get download msmtp-mta` into target/e2e/ unless /usr/bin/msmtpd exists.

#[path = "common/vm.rs"]
mod vm;

use std::sync::OnceLock;
use vm::{Scenario, VmRun, assert_sections_pass};

/// A real SMTP server binary for the VM (tests/data/e2e/fetch-msmtpd.sh).
fn msmtpd() -> String {
    let out = vm::repo_root().join("target/e2e/msmtpd");
    let status = std::process::Command::new(vm::repo_root().join("tests/data/e2e/fetch-msmtpd.sh"))
        .arg(&out)
        .status()
        .expect("run tests/data/e2e/fetch-msmtpd.sh");
    assert!(
        status.success(),
        "cannot get msmtpd (see the message above)"
    );
    out.display().to_string()
}

fn run(test: &str) -> Option<&'static VmRun> {
    static RUN: OnceLock<Result<VmRun, String>> = OnceLock::new();
    if vm::skip_if_unavailable(test) {
        return None;
    }
    let run = RUN.get_or_init(|| {
        Scenario::new("tests/vm/scenarios/e2e_nat.sh")
            .file("tests/vm/scenarios/e2e_lib.sh")
            .file("tests/data/e2e/nat-a.conf")
            .file("tests/data/e2e/nat-b.conf")
            .file("tests/data/e2e/store-mail.sh")
            .file(msmtpd())
            .env(
                "E2E_STRICT_TIMING",
                &std::env::var("E2E_STRICT_TIMING").unwrap_or_else(|_| "0".into()),
            )
            .memory_mb(768)
            .timeout_secs(420)
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
fn the_pair_comes_up_with_seed_004s_service_on_both_directors() {
    check(
        "the_pair_comes_up_with_seed_004s_service_on_both_directors",
        &["setup", "genhash-digest", "ipvs-tables"],
    );
}

#[test]
fn both_real_servers_answer_and_persistence_holds() {
    check(
        "both_real_servers_answer_and_persistence_holds",
        &["setup", "persistence"],
    );
}

#[test]
fn killing_the_master_moves_both_vips_and_the_client_follows() {
    check(
        "killing_the_master_moves_both_vips_and_the_client_follows",
        &["failover-kill", "restart-a"],
    );
}

#[test]
fn the_backup_takes_over_within_master_down_interval_plus_one_second() {
    check(
        "the_backup_takes_over_within_master_down_interval_plus_one_second",
        &["failover-kill", "failover-time"],
    );
}

#[test]
fn lan_link_down_moves_both_vips_never_split() {
    check("lan_link_down_moves_both_vips_never_split", &["lan-down"]);
}

#[test]
fn a_failed_real_server_gets_weight_0_on_both_directors_and_no_traffic() {
    check(
        "a_failed_real_server_gets_weight_0_on_both_directors_and_no_traffic",
        &["realserver-down"],
    );
}

#[test]
fn alert_emails_arrive_with_keepalived_subjects() {
    check("alert_emails_arrive_with_keepalived_subjects", &["emails"]);
}
