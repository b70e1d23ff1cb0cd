//! `rampart check-config` and `rampart -t`: output format and exit codes.

use std::path::PathBuf;
use std::process::{Command, Output};

fn rampart(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args(args)
        .output()
        .expect("run rampart")
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, text).expect("write");
    p
}

const GOOD: &str = "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 1\n    virtual_ipaddress {\n        10.0.0.1\n    }\n}\n";
const BAD: &str = "vrrp_instance VI_1 {\n    state Master\n    interface eth0\n    virtual_router_id 1\n    virtual_ipaddress {\n        10.0.0.1\n    }\n}\n";

#[test]
fn valid_config_exits_0() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = write(&dir, "good.conf", GOOD);
    let o = rampart(&["check-config", f.to_str().expect("utf8")]);
    assert_eq!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stderr).contains("configuration OK"));
    let o = rampart(&["-t", "-f", f.to_str().expect("utf8")]);
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn errors_exit_1_with_compiler_style_output() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = write(&dir, "bad.conf", BAD);
    let path = f.to_str().expect("utf8");
    let o = rampart(&["check-config", path]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!(
            "{path}:2:11: error: invalid value for `state` `Master`"
        )),
        "{err}"
    );
    assert!(
        err.contains("        state Master\n              ^\n"),
        "{err}"
    );
    assert!(err.contains("help: expected MASTER or BACKUP"), "{err}");
    // keepalived's exit code for -t.
    let o = rampart(&["-t", "-f", path]);
    assert_eq!(o.status.code(), Some(5));
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(rampart(&["check-config"]).status.code(), Some(2));
    assert_eq!(
        rampart(&["check-config", "--bogus", "x"]).status.code(),
        Some(2)
    );
    assert_eq!(
        rampart(&["check-config", "--format", "xml", "x"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn missing_file_is_an_error_not_a_usage_error() {
    let o = rampart(&["check-config", "/nonexistent/rampart.conf"]);
    assert_eq!(o.status.code(), Some(1));
    let o = rampart(&["-t", "-f", "/nonexistent/rampart.conf"]);
    assert_eq!(o.status.code(), Some(5));
}

#[test]
fn json_diagnostics_and_dump() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = write(&dir, "bad.conf", BAD);
    let o = rampart(&[
        "check-config",
        "--format",
        "json",
        f.to_str().expect("utf8"),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let first = &v[0];
    assert_eq!(first["severity"], "error");
    assert_eq!(first["class"], "bad_value");
    assert_eq!(first["span"]["line"], 2);
    assert_eq!(first["span"]["col"], 11);

    let g = write(&dir, "good.conf", GOOD);
    let o = rampart(&[
        "check-config",
        "--dump",
        "-i",
        "x",
        g.to_str().expect("utf8"),
    ]);
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["instances"][0]["name"], "VI_1");
    assert_eq!(v["instances"][0]["virtual_router_id"], 1);
}

#[test]
fn shipped_configs_check_clean() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("conf/rampart.conf")];
    for e in std::fs::read_dir(root.join("conf/examples")).expect("conf/examples") {
        files.push(e.expect("entry").path());
    }
    for f in files {
        let o = rampart(&["check-config", "-i", "node1", f.to_str().expect("utf8")]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}: {}",
            f.display(),
            String::from_utf8_lossy(&o.stderr)
        );
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("(0 warning(s))"), "{}: {err}", f.display());
    }
}

#[test]
fn seed_004_typo_is_caught() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let f = root.join("tests/data/config/seed004.conf");
    let o = rampart(&["check-config", f.to_str().expect("utf8")]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("seed004.conf:15:5: error: unknown keyword `smtp_alter` in vrrp_sync_group"),
        "{err}"
    );
    assert!(err.contains("did you mean `smtp_alert`?"), "{err}");
    assert!(
        err.contains("warning: `nb_get_retry` is deprecated"),
        "{err}"
    );
    assert!(err.contains("1 error(s), 1 warning(s)"), "{err}");
}
