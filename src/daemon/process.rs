//! The daemon as a Unix process: pid files, forking into the background as keepalived does,
//! and the process settings of keepalived's flags (`-u`, `-m`). All of it runs before the
//! async runtime starts (fork needs a single-threaded process).

use super::DaemonOpts;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;

/// keepalived's message when the pid file names a running daemon (it then exits with 0).
pub const ALREADY_RUNNING: &str = "daemon is already running";

/// The pid files this daemon writes: `-p` (default beside the control socket), `-r` when the
/// VRRP engine runs, `-c` when the checkers run. rampart is one process, so each holds the
/// same pid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PidFiles {
    pub paths: Vec<PathBuf>,
    /// The first path is the default (no `-p`): failing to write it is a warning, not fatal
    /// (a user's `--dry-run` without /run/rampart access still runs).
    pub default_main: bool,
}

/// Default pid file: the control socket's path with `.pid` (/run/rampart/rampart.pid), so
/// that each daemon (each control socket) has its own.
pub fn default_pid_file(control_socket: &Path) -> PathBuf {
    control_socket.with_extension("pid")
}

impl PidFiles {
    pub fn for_opts(opts: &DaemonOpts) -> PidFiles {
        let sock = opts
            .control_socket
            .clone()
            .unwrap_or_else(|| PathBuf::from(super::control::DEFAULT_SOCKET));
        let mut paths = vec![
            opts.pid_file
                .clone()
                .unwrap_or_else(|| default_pid_file(&sock)),
        ];
        if let (Some(p), false) = (&opts.vrrp_pid_file, opts.check_only) {
            paths.push(p.clone());
        }
        if let (Some(p), false) = (&opts.checkers_pid_file, opts.vrrp_only) {
            paths.push(p.clone());
        }
        paths.dedup();
        PidFiles {
            paths,
            default_main: opts.pid_file.is_none(),
        }
    }

    /// The first pid file naming a live rampart process other than us.
    pub fn running(&self) -> Option<(PathBuf, i32)> {
        self.paths.iter().find_map(|p| {
            let pid = read_pid(p)?;
            is_live_rampart(pid).then(|| (p.clone(), pid))
        })
    }

    pub fn write(&self) -> io::Result<()> {
        let line = format!("{}\n", std::process::id());
        for (n, p) in self.paths.iter().enumerate() {
            if let Some(dir) = p.parent() {
                // Only our own run directory is created; keepalived creates none.
                if dir == Path::new("/run/rampart") {
                    let _ = std::fs::create_dir_all(dir);
                }
            }
            if let Err(e) = std::fs::write(p, &line) {
                if n == 0 && self.default_main {
                    tracing::warn!(
                        "cannot write the default pid file {}: {e}; running without it (give -p FILE)",
                        p.display()
                    );
                    continue;
                }
                return Err(io::Error::new(
                    e.kind(),
                    format!("pid file {}: {e}", p.display()),
                ));
            }
        }
        Ok(())
    }

    /// Remove the files that still hold our pid (never another daemon's).
    pub fn remove(&self) {
        for p in &self.paths {
            if read_pid(p) == Some(std::process::id() as i32) {
                let _ = std::fs::remove_file(p);
            }
        }
    }
}

fn read_pid(p: &Path) -> Option<i32> {
    std::fs::read_to_string(p).ok()?.trim().parse().ok()
}

/// Alive, not us, and the same program (a stale pid file whose pid was reused by another
/// program does not block the start, unlike keepalived).
fn is_live_rampart(pid: i32) -> bool {
    if pid <= 0 || pid == std::process::id() as i32 {
        return false;
    }
    let alive = match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) {
        Ok(()) => true,
        Err(e) => e == nix::errno::Errno::EPERM,
    };
    if !alive {
        return false;
    }
    let comm = |p: &str| std::fs::read_to_string(format!("/proc/{p}/comm")).ok();
    match (comm(&pid.to_string()), comm("self")) {
        (Some(theirs), Some(ours)) => theirs == ours,
        _ => true,
    }
}

/// Should the daemon fork? keepalived forks unless `-n`; rampart too, except under a systemd
/// `Type=notify` unit (`NOTIFY_SOCKET` set), whose main process must stay.
pub fn should_fork(opts: &DaemonOpts, notify_socket: bool) -> bool {
    !opts.dont_fork && !notify_socket
}

/// Paths given relative to the working directory, made absolute (the forked daemon works
/// in `/`; reloads re-read the configuration file by path).
pub fn absolutize(opts: &mut DaemonOpts) {
    let Ok(cwd) = std::env::current_dir() else {
        return;
    };
    for p in [
        &mut opts.config_file,
        &mut opts.pid_file,
        &mut opts.vrrp_pid_file,
        &mut opts.checkers_pid_file,
        &mut opts.log_file,
        &mut opts.control_socket,
    ]
    .into_iter()
    .flatten()
    {
        if p.is_relative() {
            *p = cwd.join(&*p);
        }
    }
}

pub enum Forked {
    /// In the parent: exit with this code (0 once the daemon reported ready).
    Parent(ExitCode),
    Child,
}

/// The child's end of the readiness pipe, written by [`notify_ready`].
static READY: Mutex<Option<std::fs::File>> = Mutex::new(None);

/// Fork into the background: the parent waits until the daemon is ready (then exits 0, so
/// `rampart -f x; next` runs `next` with the daemon up) or has died during start-up (exits 1).
/// The child starts a new session, works in `/`, and has stdin/stdout (and stderr unless
/// `keep_stderr`, i.e. `-l`) on /dev/null.
pub fn daemonize(keep_stderr: bool) -> io::Result<Forked> {
    let (rd, wr): (OwnedFd, OwnedFd) = nix::unistd::pipe().map_err(io::Error::from)?;
    // SAFETY: called before any other thread exists (the async runtime starts later).
    match unsafe { nix::unistd::fork() }.map_err(io::Error::from)? {
        nix::unistd::ForkResult::Parent { .. } => {
            drop(wr);
            let mut f = std::fs::File::from(rd);
            let mut b = [0u8; 1];
            let code = match f.read(&mut b) {
                Ok(1) => ExitCode::SUCCESS,
                _ => {
                    eprintln!("rampart: the daemon stopped during start-up (see its log)");
                    ExitCode::from(1)
                }
            };
            Ok(Forked::Parent(code))
        }
        nix::unistd::ForkResult::Child => {
            drop(rd);
            nix::unistd::setsid().map_err(io::Error::from)?;
            let _ = std::env::set_current_dir("/");
            let null = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/null")?;
            let mut targets = vec![0, 1];
            if !keep_stderr {
                targets.push(2);
            }
            for fd in targets {
                // SAFETY: dup2 onto the standard descriptors.
                unsafe { libc::dup2(null.as_raw_fd(), fd) };
            }
            if let Ok(mut g) = READY.lock() {
                *g = Some(std::fs::File::from(wr));
            }
            Ok(Forked::Child)
        }
    }
}

/// Tell the waiting parent (if we forked) that the daemon is up.
pub fn notify_ready() {
    if let Ok(mut g) = READY.lock() {
        if let Some(mut f) = g.take() {
            let _ = f.write_all(b"1");
        }
    }
}

/// `-u MASK`, `-m`: process settings keepalived's flags ask for.
pub fn apply_process_flags(opts: &DaemonOpts) {
    if let Some(mask) = opts.umask {
        // SAFETY: umask cannot fail.
        unsafe { libc::umask(mask as libc::mode_t) };
    }
    if opts.core_dump {
        let unlimited = libc::rlimit {
            rlim_cur: libc::RLIM_INFINITY,
            rlim_max: libc::RLIM_INFINITY,
        };
        // SAFETY: plain system calls with valid arguments.
        let ok = unsafe { libc::setrlimit(libc::RLIMIT_CORE, &unlimited) } == 0;
        unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0) };
        if !ok {
            tracing::warn!(
                "-m: cannot raise the core size limit: {}",
                io::Error::last_os_error()
            );
        }
    }
}

/// keepalived loads ip_vs when the checkers start; rampart asks once, before giving up the
/// capability to load modules. Failure is not fatal here: IPVS programming reports it.
pub fn load_ip_vs(opts: &DaemonOpts, has_virtual_servers: bool) {
    if opts.vrrp_only
        || opts.dry_run
        || !has_virtual_servers
        || Path::new("/proc/net/ip_vs").exists()
    {
        return;
    }
    match std::process::Command::new("modprobe")
        .args(["-q", "ip_vs"])
        .stdin(std::process::Stdio::null())
        .status()
    {
        Ok(s) if s.success() => tracing::info!("loaded the ip_vs kernel module"),
        Ok(s) => tracing::warn!("`modprobe ip_vs` failed ({s}); IPVS may be unavailable"),
        Err(e) => tracing::warn!("cannot run modprobe: {e}; IPVS may be unavailable"),
    }
}

/// `startup_script` / `shutdown_script`: run once, synchronously (no runtime is running),
/// as its user if one is given; killed with its process group after `timeout`. A failure
/// is logged; it does not stop the daemon (keepalived neither).
pub fn run_global_script(
    what: &str,
    script: &crate::config::GlobalScript,
    timeout: std::time::Duration,
) -> Option<i32> {
    use std::os::unix::process::CommandExt;
    let cmd = &script.command;
    let mut command = std::process::Command::new(&cmd.argv[0]);
    command
        .args(&cmd.argv[1..])
        .stdin(std::process::Stdio::null())
        .process_group(0);
    if let Some(u) = &script.user {
        match crate::vrrp::notify::resolve_user(what, u) {
            Ok(ids) => {
                command.gid(ids.gid).uid(ids.uid);
            }
            Err(e) => {
                tracing::error!("{e} (configured at {}); not run", cmd.span);
                return None;
            }
        }
    }
    let ids_caps: &[u32] = if script.user.is_some() {
        &[super::caps::CAP_SETUID, super::caps::CAP_SETGID]
    } else {
        &[]
    };
    let mut child = match super::caps::with_raised(ids_caps, || command.spawn()) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(
                "{what} {:?}: cannot start: {e} (configured at {})",
                cmd.raw,
                cmd.span
            );
            return None;
        }
    };
    let deadline = std::time::Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(st)) => {
                if st.success() {
                    tracing::info!("{what} {:?} done", cmd.raw);
                } else {
                    tracing::warn!("{what} {:?}: {st} (configured at {})", cmd.raw, cmd.span);
                }
                return st.code();
            }
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            _ => {
                super::caps::kill_group(child.id());
                let _ = child.wait();
                tracing::error!(
                    "{what} {:?} timed out after {timeout:?}; process group killed (configured at {})",
                    cmd.raw,
                    cmd.span
                );
                return None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_files_follow_the_engines() {
        let mut o = DaemonOpts {
            control_socket: Some("/x/ctl.sock".into()),
            vrrp_pid_file: Some("/x/vrrp.pid".into()),
            checkers_pid_file: Some("/x/checkers.pid".into()),
            ..Default::default()
        };
        assert_eq!(
            PidFiles::for_opts(&o).paths,
            vec![
                PathBuf::from("/x/ctl.pid"),
                "/x/vrrp.pid".into(),
                "/x/checkers.pid".into()
            ]
        );
        o.vrrp_only = true;
        o.pid_file = Some("/y/k.pid".into());
        assert_eq!(
            PidFiles::for_opts(&o).paths,
            vec![PathBuf::from("/y/k.pid"), "/x/vrrp.pid".into()]
        );
    }

    #[test]
    fn stale_and_own_pid_files_do_not_block() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.pid");
        let files = PidFiles {
            paths: vec![p.clone()],
            default_main: false,
        };
        std::fs::write(&p, "999999999\n").unwrap();
        assert_eq!(files.running(), None);
        files.write().unwrap();
        assert_eq!(files.running(), None, "our own pid is not another daemon");
        files.remove();
        assert!(!p.exists());
    }

    #[test]
    fn fork_decision() {
        let mut o = DaemonOpts::default();
        assert!(should_fork(&o, false));
        assert!(!should_fork(&o, true));
        o.dont_fork = true;
        assert!(!should_fork(&o, false));
    }
}
