//! keepalived's command-line flags on rampart: forking without `-n` (the command returns once
//! the daemon is up), pid files written and removed, a second daemon with the same pid file
//! refused with keepalived's message, `-r`/`-c`, `-t=LOG_FILE`, `--signum`, `-v`, `-T`, and
//! flags refused with a clear message (`-x`, `-s`, ...). Daemons run `-C --dry-run` on a
//! configuration without virtual servers' kernel state: nothing leaves loopback.
//!
//! Run: `cargo test --test ops_cli` (the daemon parts need root for nothing; they run anywhere).

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_rampart");

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn read_pid(p: &Path) -> Option<i32> {
    std::fs::read_to_string(p).ok()?.trim().parse().ok()
}

fn alive(pid: i32) -> bool {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
}

fn wait(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + within;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Kills a daemon by pid (it is not our child once forked) when the test ends.
struct Daemon(i32);
impl Drop for Daemon {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.0);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        if !wait(Duration::from_secs(10), || !alive(self.0)) {
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        }
    }
}

fn write_conf(dir: &Path) -> std::path::PathBuf {
    let conf = dir.join("k.conf");
    std::fs::write(
        &conf,
        "global_defs {\n  router_id cli\n}\nvirtual_server 127.0.0.1 9 {\n  protocol TCP\n  \
         real_server 127.0.0.1 9 {\n    TCP_CHECK {\n      connect_timeout 1\n    }\n  }\n}\n",
    )
    .unwrap();
    conf
}

#[test]
fn forks_writes_pid_files_refuses_a_second_daemon_and_cleans_up() {
    let dir = tempfile::tempdir().unwrap();
    let conf = write_conf(dir.path());
    let (pid_file, cpid, sock, log) = (
        dir.path().join("k.pid"),
        dir.path().join("checkers.pid"),
        dir.path().join("k.sock"),
        dir.path().join("k.log"),
    );
    let args = [
        "-C",
        "--dry-run",
        "-G",
        "-f",
        conf.to_str().unwrap(),
        "-p",
        pid_file.to_str().unwrap(),
        "-c",
        cpid.to_str().unwrap(),
        // An optional argument, as keepalived's: attached with `=`.
        &format!("-g={}", log.display()),
        "--control-socket",
        sock.to_str().unwrap(),
    ];
    // No -n: like keepalived, the command returns and the daemon runs on; rampart's parent
    // returns only once the daemon is up (pid file written, control socket bound).
    let started = Instant::now();
    let o = Command::new(BIN)
        .env_remove("NOTIFY_SOCKET")
        .args(args)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(started.elapsed() < Duration::from_secs(20));
    let pid = read_pid(&pid_file).expect("pid file written before the command returned");
    let _guard = Daemon(pid);
    assert!(alive(pid));
    assert!(
        sock.exists(),
        "control socket bound before the command returned"
    );
    assert_eq!(read_pid(&cpid), Some(pid), "-c holds the (one) daemon pid");
    // A new session (setsid): not in our process group.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(
        fields[3],
        pid.to_string(),
        "session id is the daemon's own pid"
    );

    // Same pid file: keepalived's message, exit status 0, the first daemon untouched.
    let o = run(&args);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("daemon is already running"),
        "{}",
        text(&o)
    );
    assert_eq!(read_pid(&pid_file), Some(pid));

    // -g: the log file got the daemon's lines (polled: the line may be written after the
    // parent returned, and the host may be busy).
    let logged = || std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        wait(Duration::from_secs(10), || logged()
            .contains("started with")),
        "{}",
        logged()
    );

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert!(wait(Duration::from_secs(10), || !alive(pid)));
    assert!(!pid_file.exists(), "pid file removed on exit");
    assert!(!cpid.exists(), "-c pid file removed on exit");
}

#[test]
fn stale_pid_file_does_not_block_and_a_failed_start_returns_1() {
    let dir = tempfile::tempdir().unwrap();
    let conf = write_conf(dir.path());
    let pid_file = dir.path().join("stale.pid");
    std::fs::write(&pid_file, "999999999\n").unwrap();
    let sock = dir.path().join("s.sock");
    let o = Command::new(BIN)
        .env_remove("NOTIFY_SOCKET")
        .args(["-C", "--dry-run", "-G", "-f", conf.to_str().unwrap()])
        .args(["-p", pid_file.to_str().unwrap()])
        .args(["--control-socket", sock.to_str().unwrap()])
        .args(["--metrics-listen", "256.0.0.1:1"])
        .output()
        .unwrap();
    // The daemon forked, then failed on the metrics address: the parent reports it.
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("stopped during start-up"), "{}", text(&o));
    assert!(!pid_file.exists(), "the failed daemon removed its pid file");
}

#[test]
fn keepalived_flags_answers() {
    let o = run(&["-v"]);
    assert!(o.status.success());
    assert!(text(&o).starts_with("rampart "), "{}", text(&o));

    for (flag, want) in [
        ("-x", "SNMP is not supported by rampart"),
        ("--snmp", "--metrics-listen"),
        ("-s", "ip netns exec"),
    ] {
        let mut args = vec![flag];
        if flag == "-s" {
            args.push("blue");
        }
        let o = run(&args);
        assert_eq!(o.status.code(), Some(2), "{flag}: {}", text(&o));
        assert!(text(&o).contains(want), "{flag}: {}", text(&o));
    }

    // --signum: the numbers keepalived prints (and rampart handles).
    for (name, n) in [("STOP", 15), ("RELOAD", 1), ("DATA", 10), ("STATS", 12)] {
        let o = run(&["--signum", name]);
        assert_eq!(text(&o).trim(), n.to_string(), "{name}");
        let k = Command::new("keepalived")
            .arg(format!("--signum={name}"))
            .output();
        if let Ok(k) = k {
            assert_eq!(text(&k).trim(), n.to_string(), "keepalived --signum={name}");
        }
    }
    let o = run(&["--signum=STATS_CLEAR"]);
    assert_eq!(o.status.code(), Some(2));

    let o = run(&["-S", "local9"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("local0-local7"), "{}", text(&o));

    // -T: genhash mode (its own usage when given nothing).
    let o = run(&["-T"]);
    assert!(text(&o).contains("genhash"), "{}", text(&o));
}

#[test]
fn config_test_with_a_log_file() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.conf");
    std::fs::write(&bad, "vrrp_instance X {\n  bogus_keyword 1\n}\n").unwrap();
    let log = dir.path().join("t.log");
    let o = run(&[
        "-f",
        bad.to_str().unwrap(),
        &format!("-t={}", log.display()),
    ]);
    assert_eq!(o.status.code(), Some(5), "{}", text(&o));
    let written = std::fs::read_to_string(&log).unwrap();
    assert!(written.contains("bogus_keyword"), "{written}");
    assert!(
        !text(&o).contains("bogus_keyword"),
        "diagnostics went to the file only"
    );
    let o = run(&["-f", bad.to_str().unwrap(), "-t"]);
    assert_eq!(o.status.code(), Some(5));
    assert!(text(&o).contains("bogus_keyword"), "{}", text(&o));
}

/// `-I/--dont-release-ipvs`: at SIGTERM the IPVS table is left as it is (seen through
/// `--dry-run`'s operation log); without it the managed services are deleted.
#[test]
fn dont_release_ipvs_leaves_the_table_at_stop() {
    let run_once = |extra: &[&str]| -> String {
        let dir = tempfile::tempdir().unwrap();
        let conf = write_conf(dir.path());
        let sock = dir.path().join("i.sock");
        let log = dir.path().join("i.log");
        let mut child = Command::new(BIN)
            .args(["-n", "-C", "--dry-run", "-G", "-f", conf.to_str().unwrap()])
            .args(["--control-socket", sock.to_str().unwrap()])
            .args(extra)
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        assert!(wait(Duration::from_secs(20), || {
            std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains("op=add-service")
        }));
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        assert!(child.wait().unwrap().success());
        std::fs::read_to_string(&log).unwrap()
    };
    let released = run_once(&[]);
    assert!(released.contains("op=del-service"), "{released}");
    let kept = run_once(&["-I"]);
    assert!(!kept.contains("op=del-service"), "{kept}");
    assert!(kept.contains("IPVS entries left in place"), "{kept}");
}
