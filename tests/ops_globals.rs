//! global_defs keywords of the operations side: `startup_script`/`shutdown_script` (+
//! `_timeout`, `[username [groupname]]`), `notify_fifo PATH username groupname` (owner of the
//! created fifo), `notify_fifo_script SCRIPT username` (the script's user), and
//! `fifo_write_vrrp_states_on_reload` (a reload writes every state to the fifos).
//! `no_email_faults` is unit-tested in src/alert/message.rs.
//!
//! Run as root: `cargo test --test ops_globals`.

#[path = "common/netns.rs"]
mod netns;
#[path = "common/netns_vrrp.rs"]
mod netns_vrrp;

use netns::{Lab, wait_for};
use netns_vrrp::{Inst, conf, start_rampart};
use rampart::config::{LoadOptions, load_str};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(20);

fn nobody() -> (u32, u32) {
    let u = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    (u.uid.as_raw(), u.gid.as_raw())
}

#[test]
fn keywords_parse_into_the_model_without_warnings() {
    let text = "global_defs {\n  startup_script \"/bin/echo up\" nobody nogroup\n  startup_script_timeout 3\n  \
                shutdown_script /bin/true\n  shutdown_script_timeout 1000\n  no_email_faults\n  \
                fifo_write_vrrp_states_on_reload\n  notify_fifo /tmp/x.fifo nobody\n  \
                notify_fifo_script \"/bin/cat -u\" nobody\n}\n";
    let loaded = load_str("g.conf", text, &LoadOptions::default()).expect("valid");
    assert!(loaded.warnings.0.is_empty(), "{:?}", loaded.warnings.0);
    let g = &loaded.config.global;
    let s = g.startup_script.as_ref().unwrap();
    assert_eq!(s.command.argv, vec!["/bin/echo", "up"]);
    assert_eq!(s.user.as_ref().unwrap().user, "nobody");
    assert_eq!(s.user.as_ref().unwrap().group.as_deref(), Some("nogroup"));
    assert_eq!(g.startup_script_timeout, Duration::from_secs(3));
    assert!(g.shutdown_script.as_ref().unwrap().user.is_none());
    assert_eq!(g.shutdown_script_timeout, Duration::from_secs(1000));
    assert!(g.no_email_faults && g.fifo_write_vrrp_states_on_reload);
    let f = g.notify_fifo.as_ref().unwrap();
    assert_eq!(f.owner.as_ref().unwrap().user, "nobody");
    assert_eq!(f.script.as_ref().unwrap().argv, vec!["/bin/cat", "-u"]);
    assert_eq!(f.script_user.as_ref().unwrap().user, "nobody");

    let bad = load_str(
        "b.conf",
        "global_defs {\n  startup_script_timeout 0\n}\n",
        &LoadOptions::default(),
    );
    let diags = bad.expect_err("0 is out of range");
    assert!(
        diags.0.iter().any(|d| d.render().contains("1 to 1000")),
        "{:?}",
        diags.0
    );
}

#[test]
fn startup_and_shutdown_scripts_run_around_the_daemon() {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("skipping: needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let d = dir.path().display().to_string();
    let conf_path = dir.path().join("s.conf");
    // startup: reports its uid, then hangs past its timeout (killed after 1 s);
    // shutdown: as nobody.
    std::fs::write(
        &conf_path,
        format!(
            "global_defs {{\n  router_id s\n  startup_script \"/bin/sh -c 'id -u > {d}/up; sleep 30'\"\n  \
             startup_script_timeout 1\n  shutdown_script \"/bin/sh -c 'id -u > {d}/down'\" nobody\n}}\n\
             virtual_server 127.0.0.1 9 {{\n  protocol TCP\n  real_server 127.0.0.1 9 {{\n    TCP_CHECK {{\n    }}\n  }}\n}}\n"
        ),
    )
    .unwrap();
    let sock = dir.path().join("s.sock");
    let log = std::fs::File::create(dir.path().join("s.log")).unwrap();
    let started = Instant::now();
    let mut daemon = std::process::Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args(["-n", "-C", "--dry-run", "-G", "-f"])
        .arg(&conf_path)
        .arg("--control-socket")
        .arg(&sock)
        .stderr(log)
        .spawn()
        .unwrap();
    let up = wait_for(T, || sock.exists().then_some(()));
    let logtext = || std::fs::read_to_string(dir.path().join("s.log")).unwrap_or_default();
    assert!(up.is_some(), "{}", logtext());
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited for the startup script"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("up"))
            .unwrap()
            .trim(),
        "0",
        "startup_script ran as root before the daemon was up"
    );
    assert!(
        logtext().contains("startup_script") && logtext().contains("timed out"),
        "{}",
        logtext()
    );
    assert!(!dir.path().join("down").exists());
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(daemon.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let st = daemon.wait().unwrap();
    assert!(st.success(), "{}", logtext());
    assert_eq!(
        std::fs::read_to_string(dir.path().join("down"))
            .ok()
            .map(|s| s.trim().to_string()),
        Some(nobody().0.to_string()),
        "shutdown_script ran as nobody at exit\n{}",
        logtext()
    );
}

#[test]
fn fifo_owner_script_user_and_states_on_reload() {
    if !netns::available() {
        return;
    }
    let mut lab = Lab::new("glob");
    std::fs::set_permissions(lab.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let out_dir = lab.path("out");
    std::fs::create_dir(&out_dir).unwrap();
    std::fs::set_permissions(&out_dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let fifo = out_dir.join("vrrp.fifo");
    let out = out_dir.join("lines");
    let br = lab.lan("br");
    let a = lab.ns("a");
    lab.attach(&a, "eth0", &br, &["10.64.0.1/24"]);
    let reader = format!(
        "/bin/sh -c 'id -u > {o}.uid; while read l; do echo \"$l\" >> {o}; done < \"$0\"'",
        o = out.display()
    );
    let text = conf(&[Inst::new("VI_1", "eth0", 64, 100, &["10.64.0.100/24"])], &[]).replacen(
        "router_id lab",
        &format!(
            "router_id lab\n  vrrp_notify_fifo {} nobody\n  vrrp_notify_fifo_script \"{}\" nobody\n  \
             fifo_write_vrrp_states_on_reload",
            fifo.display(),
            reader.replace('"', "\\\"")
        ),
        1,
    );
    let (_pid, log) = start_rampart(&mut lab, &a, "a", &text);
    let logs = || std::fs::read_to_string(&log).unwrap_or_default();
    let lines = |n: usize| {
        wait_for(T, || {
            let t = std::fs::read_to_string(&out).unwrap_or_default();
            (t.lines().count() >= n).then_some(t)
        })
    };
    let first = lines(2).unwrap_or_else(|| panic!("fifo lines\n{}", logs()));
    assert_eq!(
        first,
        "INSTANCE \"VI_1\" BACKUP 100\nINSTANCE \"VI_1\" MASTER 100\n"
    );
    let m = std::fs::metadata(&fifo).unwrap();
    assert_eq!(
        (m.uid(), m.gid()),
        nobody(),
        "the fifo belongs to its configured owner"
    );
    let uid = std::fs::read_to_string(format!("{}.uid", out.display())).unwrap();
    assert_eq!(
        uid.trim(),
        nobody().0.to_string(),
        "fifo script as its user"
    );

    let sock = lab.path("a.sock");
    lab.exec_ok(
        &a,
        &[
            env!("CARGO_BIN_EXE_rampart"),
            "reload",
            "--socket",
            sock.to_str().unwrap(),
        ],
    );
    let after = lines(3).unwrap_or_else(|| panic!("state written on reload\n{}", logs()));
    assert_eq!(
        after.lines().nth(2),
        Some("INSTANCE \"VI_1\" MASTER 100"),
        "{after}"
    );
}

/// `notify_priority_changes`: a tracked script failing lowers the effective priority of a
/// MASTER without a transition; the fifo gets keepalived's `MASTER_PRIORITY` line, and
/// `rampart status` shows the new priority. VI_2 (notify_priority_changes off) writes none.
#[test]
fn priority_changes_reach_the_fifo_where_enabled() {
    if !netns::available() {
        return;
    }
    let mut lab = Lab::new("prio");
    let fifo = lab.path("vrrp.fifo");
    let out = lab.path("lines");
    let flag = lab.path("fail");
    let br = lab.lan("br");
    let a = lab.ns("a");
    lab.attach(&a, "eth0", &br, &["10.65.0.1/24"]);
    let reader = format!(
        "/bin/sh -c 'while read l; do echo \"$l\" >> {}; done < \"$0\"'",
        out.display()
    );
    let mut i1 = Inst::new("VI_1", "eth0", 65, 100, &["10.65.0.100/24"]);
    i1.extra = "  notify_priority_changes\n  track_script {\n    chk\n  }\n".into();
    let mut i2 = Inst::new("VI_2", "eth0", 66, 100, &["10.65.0.200/24"]);
    i2.extra = "  notify_priority_changes off\n  track_script {\n    chk\n  }\n".into();
    let text = conf(&[i1, i2], &[])
        .replacen(
            "router_id lab",
            &format!(
                "router_id lab\n  vrrp_notify_priority_changes\n  vrrp_notify_fifo {}\n  vrrp_notify_fifo_script \"{}\"",
                fifo.display(),
                reader.replace('"', "\\\"")
            ),
            1,
        )
        .replacen(
            "vrrp_instance",
            &format!(
                "vrrp_script chk {{\n  script \"/bin/sh -c '! test -e {}'\"\n  interval 1\n  fall 1\n  rise 1\n  weight -20\n}}\nvrrp_instance",
                flag.display()
            ),
            1,
        );
    let (_pid, log) = start_rampart(&mut lab, &a, "a", &text);
    let logs = || std::fs::read_to_string(&log).unwrap_or_default();
    let read = || std::fs::read_to_string(&out).unwrap_or_default();
    let masters = wait_for(T, || {
        let t = read();
        (t.contains("INSTANCE \"VI_1\" MASTER 100") && t.contains("INSTANCE \"VI_2\" MASTER 100"))
            .then_some(t)
    });
    assert!(masters.is_some(), "{}\n{}", read(), logs());
    std::fs::write(&flag, "").unwrap();
    let lowered = wait_for(T, || {
        read()
            .contains("INSTANCE \"VI_1\" MASTER_PRIORITY 80")
            .then_some(())
    });
    assert!(lowered.is_some(), "{}\n{}", read(), logs());
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        !read().contains("VI_2\" MASTER_PRIORITY"),
        "VI_2 has it off: {}",
        read()
    );
    let sock = lab.path("a.sock");
    let st = rampart::daemon::control::call(
        &sock,
        &rampart::daemon::control::Request::Status,
        Duration::from_secs(5),
    )
    .unwrap()
    .status
    .unwrap();
    for name in ["VI_1", "VI_2"] {
        let i = st.instances.iter().find(|i| i.name == name).unwrap();
        assert_eq!(i.effective_priority, 80, "{name} in status");
        assert_eq!(i.state, "MASTER");
    }
    std::fs::remove_file(&flag).unwrap();
    let back = wait_for(T, || {
        read()
            .contains("INSTANCE \"VI_1\" MASTER_PRIORITY 100")
            .then_some(())
    });
    assert!(back.is_some(), "{}\n{}", read(), logs());
}
