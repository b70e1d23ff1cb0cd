//! Capabilities at run time: after start-up the daemon keeps what its engines use and raises
//! the rest per call, on the calling thread only (capabilities are per thread in Linux, so the
//! other runtime threads never hold them).
//!
//! | set | `reduced` (default) |
//! |---|---|
//! | effective | NET_ADMIN, NET_RAW, NET_BIND_SERVICE |
//! | permitted | the above + SETUID, SETGID (raised around the fork of a script that runs as another user) + KILL (raised around killing a timed-out script of another user) + CHOWN and DAC_OVERRIDE (raised to give a new notify fifo to its configured owner and to open it) |
//! | bounding | NET_ADMIN, NET_RAW, NET_BIND_SERVICE: what a script that runs as root gets |
//!
//! A script run as root gets the bounding set at execve (the kernel gives uid 0 its bounding
//! set); a script run as another user gets nothing (setuid from 0 to non-zero clears the
//! permitted and effective sets). See docs/ops.md "Capabilities" for the reasoning.
//!
//! The raw `capget`/`capset`/`prctl` calls are a few lines; no crate is needed for them.

use std::io;

pub const CAP_CHOWN: u32 = 0;
pub const CAP_DAC_OVERRIDE: u32 = 1;
pub const CAP_KILL: u32 = 5;
pub const CAP_SETGID: u32 = 6;
pub const CAP_SETUID: u32 = 7;
pub const CAP_SETPCAP: u32 = 8;
pub const CAP_NET_BIND_SERVICE: u32 = 10;
pub const CAP_NET_ADMIN: u32 = 12;
pub const CAP_NET_RAW: u32 = 13;

/// `--capabilities MODE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CapMode {
    /// The daemon and root scripts keep only what they need (see the module doc).
    #[default]
    Reduced,
    /// The daemon is reduced, the bounding set stays full: scripts run as root get full root,
    /// as with keepalived. Guards against the daemon's own bugs, not against its compromise
    /// (a compromised uid-0 process that may exec regains the bounding set).
    FullScripts,
    /// No reduction at all (keepalived's behaviour).
    Keep,
}

impl CapMode {
    pub fn parse(s: &str) -> Result<CapMode, String> {
        match s {
            "reduced" => Ok(CapMode::Reduced),
            "full-scripts" => Ok(CapMode::FullScripts),
            "keep" => Ok(CapMode::Keep),
            other => Err(format!(
                "--capabilities {other}: expected `reduced`, `full-scripts` or `keep`"
            )),
        }
    }
}

/// A capability set as a bit mask (bit N = capability N).
pub type CapMask = u64;

pub fn mask(caps: &[u32]) -> CapMask {
    caps.iter().fold(0, |m, c| m | (1u64 << c))
}

/// What the daemon keeps in each set for a mode; None for [`CapMode::Keep`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub effective: CapMask,
    pub permitted: CapMask,
    /// None: leave the bounding set as it is.
    pub bounding: Option<CapMask>,
}

/// Pure: the sets the daemon runs with in `mode`.
pub fn plan(mode: CapMode) -> Option<Plan> {
    let always = mask(&[CAP_NET_ADMIN, CAP_NET_RAW, CAP_NET_BIND_SERVICE]);
    let per_call = mask(&[
        CAP_SETUID,
        CAP_SETGID,
        CAP_KILL,
        CAP_CHOWN,
        CAP_DAC_OVERRIDE,
    ]);
    match mode {
        CapMode::Keep => None,
        CapMode::Reduced => Some(Plan {
            effective: always,
            permitted: always | per_call,
            bounding: Some(always),
        }),
        CapMode::FullScripts => Some(Plan {
            effective: always,
            permitted: always | per_call,
            bounding: None,
        }),
    }
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Default, Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;
const PR_CAPBSET_READ: libc::c_int = 23;
const PR_CAPBSET_DROP: libc::c_int = 24;
const PR_CAP_AMBIENT: libc::c_int = 47;
const PR_CAP_AMBIENT_CLEAR_ALL: libc::c_ulong = 4;

/// The calling thread's (effective, permitted, inheritable) sets.
pub fn current() -> io::Result<(CapMask, CapMask, CapMask)> {
    let mut hdr = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: header and a two-element data array, as capget(2) requires for version 3.
    let r = unsafe {
        libc::syscall(
            libc::SYS_capget,
            &mut hdr as *mut CapHeader,
            data.as_mut_ptr(),
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    let join = |lo: u32, hi: u32| (lo as u64) | ((hi as u64) << 32);
    Ok((
        join(data[0].effective, data[1].effective),
        join(data[0].permitted, data[1].permitted),
        join(data[0].inheritable, data[1].inheritable),
    ))
}

fn set(effective: CapMask, permitted: CapMask, inheritable: CapMask) -> io::Result<()> {
    let mut hdr = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let data = [
        CapData {
            effective: effective as u32,
            permitted: permitted as u32,
            inheritable: inheritable as u32,
        },
        CapData {
            effective: (effective >> 32) as u32,
            permitted: (permitted >> 32) as u32,
            inheritable: (inheritable >> 32) as u32,
        },
    ];
    // SAFETY: as in `current`.
    let r = unsafe { libc::syscall(libc::SYS_capset, &mut hdr as *mut CapHeader, data.as_ptr()) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The highest capability number this kernel knows.
fn last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40)
}

fn in_bounding(cap: u32) -> bool {
    // SAFETY: prctl with integer arguments only.
    unsafe { libc::prctl(PR_CAPBSET_READ, cap as libc::c_ulong, 0, 0, 0) == 1 }
}

/// Reduce the calling thread's sets (call it before any other thread exists: threads
/// inherit their creator's sets). Not root, or `Keep`: nothing to do.
pub fn reduce(mode: CapMode) -> io::Result<()> {
    let Some(p) = plan(mode) else { return Ok(()) };
    let (effective, permitted, _) = current()?;
    if permitted == 0 {
        return Ok(()); // not privileged: nothing to give up
    }
    // Narrowing the bounding set needs CAP_SETPCAP. Without it (systemd's
    // CapabilityBoundingSet without CAP_SETPCAP, a container) the bounding set stays as the
    // starter gave it; permitted and effective are still reduced.
    let can_narrow = effective & mask(&[CAP_SETPCAP]) != 0;
    if p.bounding.is_some() && !can_narrow {
        tracing::info!(
            "capabilities: no CAP_SETPCAP, so the bounding set (what root scripts get) stays as given"
        );
    }
    if let (Some(bounding), true) = (p.bounding, can_narrow) {
        // Dropping from the bounding set needs CAP_SETPCAP in effective, which we still hold.
        for cap in 0..=last_cap() {
            if bounding & (1 << cap) == 0 && in_bounding(cap) {
                // SAFETY: prctl with integer arguments only.
                if unsafe { libc::prctl(PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) } != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
        }
    }
    // SAFETY: prctl with integer arguments only. Older kernels (no ambient set) answer EINVAL.
    unsafe { libc::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) };
    // Never more than we had (a container may have started us with fewer).
    set(p.effective & permitted, p.permitted & permitted, 0)
}

/// Raise `caps` (from the permitted set) into the calling thread's effective set while `f`
/// runs, then lower them again. Capabilities not permitted are skipped: `f` then fails as
/// it would have anyway, with the kernel's error.
pub fn with_raised<T>(caps: &[u32], f: impl FnOnce() -> T) -> T {
    let Ok((eff, perm, inh)) = current() else {
        return f();
    };
    let wanted = mask(caps) & perm & !eff;
    if wanted == 0 {
        return f();
    }
    let raised = set(eff | wanted, perm, inh).is_ok();
    let out = f();
    if raised {
        if let Err(e) = set(eff, perm, inh) {
            tracing::error!("cannot lower capabilities after a per-call raise: {e}");
        }
    }
    out
}

/// Spawn `cmd`; when it runs as another user (`other_user`), with CAP_SETUID/CAP_SETGID
/// raised around the fork on this thread only. The child's setuid to a non-zero uid clears
/// its permitted and effective sets, so the script itself holds no capability.
pub fn spawn(
    cmd: &mut tokio::process::Command,
    other_user: bool,
) -> io::Result<tokio::process::Child> {
    if other_user {
        with_raised(&[CAP_SETUID, CAP_SETGID], || cmd.spawn())
    } else {
        cmd.spawn()
    }
}

/// SIGKILL a script's process group; with CAP_KILL raised, since the group may belong to
/// another uid (a script run as `script_user`).
pub fn kill_group(pgid: u32) {
    let _ = with_raised(&[CAP_KILL], || {
        nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pgid as i32),
            nix::sys::signal::Signal::SIGKILL,
        )
    });
}

/// Programs that need more than a root script gets in `reduced` mode (the bounding set).
const NEEDS_MORE: &[(&str, &str)] = &[
    (
        "systemctl",
        "systemd asks root callers for CAP_SYS_ADMIN (or polkit)",
    ),
    ("service", "it calls systemctl or init scripts"),
    ("modprobe", "loading modules needs CAP_SYS_MODULE"),
    ("mount", "mounting needs CAP_SYS_ADMIN"),
];

/// Which of [`NEEDS_MORE`] a script calls: its program's name, or, for a small text file,
/// a word in it (a heuristic: enough to warn, not to refuse).
pub fn needs_more_than_reduced(
    argv0: &str,
    file_text: Option<&str>,
) -> Option<(&'static str, &'static str)> {
    let base = argv0.rsplit('/').next().unwrap_or(argv0);
    if let Some(hit) = NEEDS_MORE.iter().find(|(p, _)| *p == base) {
        return Some(*hit);
    }
    let text = file_text?;
    NEEDS_MORE.iter().copied().find(|(p, _)| {
        text.lines()
            .map(|l| l.split('#').next().unwrap_or(""))
            .any(|l| {
                l.split(|c: char| {
                    c.is_whitespace() || c == ';' || c == '(' || c == '`' || c == '|' || c == '&'
                })
                .any(|w| w == *p || w.ends_with(&format!("/{p}")))
            })
    })
}

/// Warnings for scripts that run as root and call something [`CapMode::Reduced`] does not
/// allow them (checked at start, so the operator learns it before a failover needs it).
pub fn root_script_warnings(cfg: &crate::config::Config, mode: CapMode) -> Vec<String> {
    root_script_findings(cfg, mode)
        .into_iter()
        .map(|(_, message)| message)
        .collect()
}

/// The warnings of [`root_script_warnings`] for `new` that `old` did not have: what a reload
/// says about scripts it brings in. A script is the same when its role and command line are
/// (where it sits in the file does not matter).
pub fn new_root_script_warnings(
    old: &crate::config::Config,
    new: &crate::config::Config,
    mode: CapMode,
) -> Vec<String> {
    let known: Vec<String> = root_script_findings(old, mode)
        .into_iter()
        .map(|(key, _)| key)
        .collect();
    root_script_findings(new, mode)
        .into_iter()
        .filter(|(key, _)| !known.contains(key))
        .map(|(_, message)| message)
        .collect()
}

/// (identity without the file position, message) per warning.
fn root_script_findings(cfg: &crate::config::Config, mode: CapMode) -> Vec<(String, String)> {
    use crate::config::Command;
    if mode != CapMode::Reduced {
        return Vec::new();
    }
    let global_user = cfg.global.script_user.is_some();
    let mut root_cmds: Vec<(&str, &Command)> = Vec::new();
    if !global_user {
        for i in &cfg.instances {
            for c in [
                &i.notify.master,
                &i.notify.backup,
                &i.notify.fault,
                &i.notify.stop,
                &i.notify.notify,
            ]
            .into_iter()
            .flatten()
            {
                root_cmds.push(("notify script", c));
            }
        }
        for g in &cfg.sync_groups {
            for c in [
                &g.notify.master,
                &g.notify.backup,
                &g.notify.fault,
                &g.notify.stop,
                &g.notify.notify,
            ]
            .into_iter()
            .flatten()
            {
                root_cmds.push(("notify script", c));
            }
        }
        for vs in &cfg.virtual_servers {
            for c in [&vs.quorum_up, &vs.quorum_down].into_iter().flatten() {
                root_cmds.push(("quorum script", c));
            }
            for rs in &vs.real_servers {
                for c in [&rs.notify_up, &rs.notify_down].into_iter().flatten() {
                    root_cmds.push(("real server notify script", c));
                }
            }
        }
    }
    for s in &cfg.vrrp_scripts {
        if s.user.is_none() && !global_user {
            root_cmds.push(("vrrp_script", &s.script));
        }
    }
    let mut out = Vec::new();
    for (what, c) in root_cmds {
        let Some(argv0) = c.argv.first() else {
            continue;
        };
        let text = std::fs::metadata(argv0)
            .ok()
            .filter(|m| m.is_file() && m.len() <= 64 * 1024)
            .and_then(|_| std::fs::read_to_string(argv0).ok());
        if let Some((prog, why)) = needs_more_than_reduced(argv0, text.as_deref()) {
            out.push((
                format!("{what} {:?} {prog}", c.raw),
                format!(
                    "{what} {:?} ({}) runs as root and calls {prog}: with --capabilities reduced a root script has only CAP_NET_ADMIN, CAP_NET_RAW and CAP_NET_BIND_SERVICE, and {why}; use --capabilities full-scripts (root scripts get full root, as with keepalived) or run it as a user allowed to do this",
                    c.raw, c.span
                ),
            ));
        }
    }
    out
}

/// `CapEff`/`CapPrm`/`CapBnd` of a process, from /proc/PID/status (for logs and tests).
pub fn of_process(status: &str) -> Option<(CapMask, CapMask, CapMask)> {
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
    };
    Some((field("CapEff:")?, field("CapPrm:")?, field("CapBnd:")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reduced_plan_keeps_network_caps_and_per_call_ids() {
        let p = plan(CapMode::Reduced).unwrap();
        assert_eq!(p.effective, 0x3400); // NET_BIND_SERVICE, NET_ADMIN, NET_RAW
        assert_eq!(p.permitted, 0x34e3); // + CHOWN, DAC_OVERRIDE, KILL, SETGID, SETUID
        assert_eq!(p.bounding, Some(0x3400));
        assert_eq!(plan(CapMode::FullScripts).unwrap().bounding, None);
        assert_eq!(plan(CapMode::Keep), None);
    }

    #[test]
    fn mode_parse_names_the_choices() {
        assert_eq!(CapMode::parse("reduced"), Ok(CapMode::Reduced));
        assert_eq!(CapMode::parse("keep"), Ok(CapMode::Keep));
        let e = CapMode::parse("none").unwrap_err();
        assert!(e.contains("`reduced`, `full-scripts` or `keep`"), "{e}");
    }

    #[test]
    fn scripts_that_need_more_than_the_reduced_set() {
        assert_eq!(
            needs_more_than_reduced("/bin/systemctl", None).map(|h| h.0),
            Some("systemctl")
        );
        assert_eq!(needs_more_than_reduced("/usr/local/bin/x.sh", None), None);
        let text =
            "#!/bin/sh\n# systemctl in a comment does not count\nip addr add 1.2.3.4 dev eth0\n";
        assert_eq!(needs_more_than_reduced("/x.sh", Some(text)), None);
        let text = "#!/bin/sh\nset -e\n/usr/bin/systemctl restart haproxy\n";
        assert_eq!(
            needs_more_than_reduced("/x.sh", Some(text)).map(|h| h.0),
            Some("systemctl")
        );
        let text = "#!/bin/sh\nservice haproxy reload && logger ok\n";
        assert_eq!(
            needs_more_than_reduced("/x.sh", Some(text)).map(|h| h.0),
            Some("service")
        );
    }

    #[test]
    fn root_scripts_calling_systemctl_are_named_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("master.sh");
        std::fs::write(&script, "#!/bin/sh\nsystemctl restart haproxy\n").unwrap();
        let text = format!(
            "vrrp_instance VI_1 {{\n  interface lo\n  virtual_router_id 1\n  priority 100\n  \
             virtual_ipaddress {{\n    10.0.0.1\n  }}\n  notify_master {}\n}}\n",
            script.display()
        );
        let cfg = crate::config::load_str("c.conf", &text, &Default::default())
            .unwrap()
            .config;
        let w = root_script_warnings(&cfg, CapMode::Reduced);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].contains("calls systemctl") && w[0].contains("--capabilities full-scripts"),
            "{}",
            w[0]
        );
        assert!(w[0].contains("c.conf:"), "names where: {}", w[0]);
        assert!(root_script_warnings(&cfg, CapMode::FullScripts).is_empty());
        // As script_user, the script does not run as root: no warning.
        let cfg = crate::config::load_str(
            "c.conf",
            &format!("global_defs {{\n  script_user nobody\n}}\n{text}"),
            &Default::default(),
        )
        .unwrap()
        .config;
        assert!(root_script_warnings(&cfg, CapMode::Reduced).is_empty());
    }

    #[test]
    fn a_reload_warns_about_root_scripts_it_brings_in_only() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("master.sh");
        std::fs::write(&script, "#!/bin/sh\nsystemctl restart haproxy\n").unwrap();
        let inst = |name: &str, vrid: u8, notify: bool| {
            format!(
                "vrrp_instance {name} {{\n  interface lo\n  virtual_router_id {vrid}\n  \
                 virtual_ipaddress {{\n    10.0.0.{vrid}\n  }}\n{}}}\n",
                if notify {
                    format!("  notify_master {}\n", script.display())
                } else {
                    String::new()
                }
            )
        };
        let load = |text: &str| {
            crate::config::load_str("c.conf", text, &Default::default())
                .unwrap()
                .config
        };
        let old = load(&inst("VI_1", 1, false));
        let new = load(&format!(
            "{}{}",
            inst("VI_1", 1, false),
            inst("VI_2", 2, true)
        ));
        let w = new_root_script_warnings(&old, &new, CapMode::Reduced);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("calls systemctl"), "{}", w[0]);
        assert!(new_root_script_warnings(&old, &new, CapMode::FullScripts).is_empty());
        // Already there (even on another line): not repeated.
        let moved = load(&format!(
            "\n\n{}{}",
            inst("VI_1", 1, false),
            inst("VI_2", 2, true)
        ));
        assert!(new_root_script_warnings(&new, &moved, CapMode::Reduced).is_empty());
    }

    #[test]
    fn proc_status_fields() {
        let s = "Name:\tx\nCapInh:\t0000000000000000\nCapPrm:\t00000000000034e0\nCapEff:\t0000000000003400\nCapBnd:\t0000000000003400\n";
        assert_eq!(of_process(s), Some((0x3400, 0x34e0, 0x3400)));
    }

    #[test]
    fn raise_on_another_thread_leaves_this_one_alone() {
        // Runs without privileges too: with_raised must simply call f.
        let before = current().unwrap();
        let v = std::thread::spawn(|| with_raised(&[CAP_KILL], || 7))
            .join()
            .unwrap();
        assert_eq!(v, 7);
        assert_eq!(current().unwrap(), before);
    }
}
