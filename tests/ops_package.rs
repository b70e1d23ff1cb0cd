//! The Debian package: built with cargo-deb, installed with dpkg, run, and purged
//! (packaging/test-deb.sh). Needs root and installs a package, so it only runs when
//! RAMPART_PACKAGE_TEST=1 (scripts/test.sh sets it). It packages the binary this test build
//! made (no second build).

#[test]
fn deb_package_builds_installs_runs_and_purges() {
    if std::env::var("RAMPART_PACKAGE_TEST").as_deref() != Ok("1") {
        eprintln!("skipped: set RAMPART_PACKAGE_TEST=1 to build and install the .deb");
        return;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/packaging/test-deb.sh");
    let status = std::process::Command::new("/bin/bash")
        .arg(script)
        .env("RAMPART_DEB_BINARY", env!("CARGO_BIN_EXE_rampart"))
        .status()
        .expect("run packaging/test-deb.sh");
    assert!(status.success(), "packaging/test-deb.sh failed: {status}");
}
