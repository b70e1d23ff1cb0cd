//! Notify scripts (notify_master/_backup/_fault/_stop and `notify`) for instances and sync
//! groups, plus the shared "run a command as a user with a timeout" used by vrrp_script.
//!
//! Each instance or group gets one [`Notifier`]: a queue drained by one task, so scripts run in
//! transition order and never two at once for the same instance. A slow script delays only
//! that queue, never the state machine.

use crate::config::{Command, NotifyScripts, RunAs};
use crate::events::VrrpStateName;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::mpsc;

/// How long a notify script may run before its process group is killed.
pub const NOTIFY_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    #[error("script {script}: empty command")]
    Empty { script: String },
    #[error("script {script}: program {program} not found in PATH")]
    NotFound { script: String, program: String },
    #[error(
        "script {script}: unsafe for enable_script_security: {path} is writable by a non-root user"
    )]
    Unsafe { script: String, path: PathBuf },
    #[error("script {script}: user {user}: {detail}")]
    User {
        script: String,
        user: String,
        detail: String,
    },
    #[error("script {script}: cannot start: {source}")]
    Spawn {
        script: String,
        #[source]
        source: std::io::Error,
    },
    #[error("script {script}: timed out after {timeout:?}; process group killed")]
    Timeout { script: String, timeout: Duration },
}

/// Who runs scripts and whether they must be safe.
#[derive(Debug, Clone, Default)]
pub struct ScriptPolicy {
    pub user: Option<RunAs>,
    pub enforce_security: bool,
}

/// A uid/gid pair resolved from a [`RunAs`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ids {
    pub uid: u32,
    pub gid: u32,
}

pub fn resolve_user(script: &str, run_as: &RunAs) -> Result<Ids, ScriptError> {
    let err = |detail: String| ScriptError::User {
        script: script.to_string(),
        user: run_as.user.clone(),
        detail,
    };
    let user = nix::unistd::User::from_name(&run_as.user)
        .map_err(|e| err(e.to_string()))?
        .ok_or_else(|| err("no such user".into()))?;
    let gid = match &run_as.group {
        Some(g) => {
            nix::unistd::Group::from_name(g)
                .map_err(|e| err(e.to_string()))?
                .ok_or_else(|| err(format!("no such group {g}")))?
                .gid
        }
        None => user.gid,
    };
    Ok(Ids {
        uid: user.uid.as_raw(),
        gid: gid.as_raw(),
    })
}

/// Find the program of a command (absolute, relative with a slash, or in PATH).
pub fn resolve_program(script: &str, program: &str) -> Result<PathBuf, ScriptError> {
    if program.contains('/') {
        return Ok(PathBuf::from(program));
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    for dir in std::env::split_paths(&path) {
        let p = dir.join(program);
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(ScriptError::NotFound {
        script: script.to_string(),
        program: program.to_string(),
    })
}

/// Is `meta` writable by someone other than root?
fn writable_by_non_root(meta: &std::fs::Metadata) -> bool {
    let mode = meta.mode();
    (meta.uid() != 0 && mode & 0o200 != 0)
        || (meta.gid() != 0 && mode & 0o020 != 0)
        || mode & 0o002 != 0
}

/// keepalived's `enable_script_security` check: the file and every directory above it must
/// not be writable by a non-root user. Returns the first unsafe path.
pub fn unsafe_path(program: &Path) -> Option<PathBuf> {
    let abs = std::fs::canonicalize(program).unwrap_or_else(|_| program.to_path_buf());
    let mut cur: Option<&Path> = Some(abs.as_path());
    while let Some(p) = cur {
        if let Ok(meta) = std::fs::metadata(p) {
            // A sticky world-writable directory (/tmp) does not let others replace our file.
            let sticky_dir = meta.is_dir() && meta.mode() & 0o1000 != 0;
            if writable_by_non_root(&meta) && !sticky_dir {
                return Some(p.to_path_buf());
            }
        }
        cur = p.parent();
    }
    None
}

/// Run `argv` (plus `extra` arguments) under `policy`, killing its process group after
/// `timeout`. Returns the exit code (None: killed by a signal).
pub async fn run_command(
    name: &str,
    argv: &[String],
    extra: &[String],
    policy: &ScriptPolicy,
    timeout: Duration,
) -> Result<Option<i32>, ScriptError> {
    let Some(program) = argv.first() else {
        return Err(ScriptError::Empty {
            script: name.to_string(),
        });
    };
    let path = resolve_program(name, program)?;
    if policy.enforce_security {
        if let Some(p) = unsafe_path(&path) {
            return Err(ScriptError::Unsafe {
                script: name.to_string(),
                path: p,
            });
        }
    }
    let ids = match &policy.user {
        Some(u) => Some(resolve_user(name, u)?),
        None => None,
    };
    let mut cmd = std::process::Command::new(&path);
    cmd.args(&argv[1..])
        .args(extra)
        .stdin(std::process::Stdio::null())
        .process_group(0);
    if let Some(ids) = ids {
        // Group first: after setuid we could no longer change it.
        cmd.gid(ids.gid).uid(ids.uid);
    }
    let mut cmd = tokio::process::Command::from(cmd);
    cmd.kill_on_drop(true);
    // CAP_SETUID/CAP_SETGID are raised for this fork only (see daemon::caps).
    let mut child = crate::daemon::caps::spawn(&mut cmd, ids.is_some()).map_err(|source| {
        ScriptError::Spawn {
            script: name.to_string(),
            source,
        }
    })?;
    let pid = child.id();
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) => Ok(status.code()),
        Ok(Err(source)) => Err(ScriptError::Spawn {
            script: name.to_string(),
            source,
        }),
        Err(_) => {
            if let Some(pid) = pid {
                // The group may belong to script_user: CAP_KILL raised for the call.
                crate::daemon::caps::kill_group(pid);
            }
            let _ = child.wait().await;
            Err(ScriptError::Timeout {
                script: name.to_string(),
                timeout,
            })
        }
    }
}

/// `INSTANCE` or `GROUP`, the first argument of a `notify` script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyKind {
    Instance,
    Group,
}

impl NotifyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyKind::Instance => "INSTANCE",
            NotifyKind::Group => "GROUP",
        }
    }
}

/// The commands to run for entering `state`, with their extra arguments, in keepalived's
/// order: the state-specific script first, then the generic `notify`.
pub fn commands_for(
    scripts: &NotifyScripts,
    kind: NotifyKind,
    name: &str,
    state: VrrpStateName,
    priority: u8,
) -> Vec<(Command, Vec<String>)> {
    let specific = match state {
        VrrpStateName::Master => scripts.master.as_ref(),
        VrrpStateName::Backup => scripts.backup.as_ref(),
        VrrpStateName::Fault => scripts.fault.as_ref(),
        VrrpStateName::Stop => scripts.stop.as_ref(),
        VrrpStateName::Init => None,
    };
    let mut out = Vec::new();
    if let Some(c) = specific {
        out.push((c.clone(), Vec::new()));
    }
    if let Some(c) = &scripts.notify {
        if state != VrrpStateName::Init {
            out.push((
                c.clone(),
                vec![
                    kind.as_str().to_string(),
                    name.to_string(),
                    state.as_str().to_string(),
                    priority.to_string(),
                ],
            ));
        }
    }
    out
}

/// One queue of notify jobs for one instance or group.
#[derive(Debug, Clone)]
pub struct Notifier {
    tx: mpsc::UnboundedSender<(VrrpStateName, u8)>,
}

impl Notifier {
    /// Start the queue's task. Returns None when there is nothing to run (no task needed).
    pub fn spawn(
        scripts: NotifyScripts,
        kind: NotifyKind,
        name: String,
        policy: ScriptPolicy,
        timeout: Duration,
    ) -> Option<(Notifier, tokio::task::JoinHandle<()>)> {
        if scripts == NotifyScripts::default() {
            return None;
        }
        let (tx, mut rx) = mpsc::unbounded_channel::<(VrrpStateName, u8)>();
        let task = tokio::spawn(async move {
            while let Some((state, prio)) = rx.recv().await {
                for (cmd, extra) in commands_for(&scripts, kind, &name, state, prio) {
                    let label = format!("{} ({} {})", cmd.raw, kind.as_str(), name);
                    match run_command(&label, &cmd.argv, &extra, &policy, timeout).await {
                        Ok(Some(0)) => {
                            tracing::debug!(target: "vrrp", "notify {label}: exit 0")
                        }
                        Ok(code) => tracing::warn!(
                            target: "vrrp",
                            "notify {label} for {}: exit status {code:?} (configured at {})",
                            state.as_str(),
                            cmd.span
                        ),
                        Err(e) => {
                            tracing::error!(target: "vrrp", "notify: {e} (configured at {})", cmd.span)
                        }
                    }
                }
            }
        });
        Some((Notifier { tx }, task))
    }

    /// Queue the scripts for entering `state`.
    pub fn notify(&self, state: VrrpStateName, priority: u8) {
        let _ = self.tx.send((state, priority));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Span;

    fn cmd(s: &str) -> Command {
        Command {
            raw: s.to_string(),
            argv: s.split(' ').map(String::from).collect(),
            span: Span::default(),
        }
    }

    #[test]
    fn notify_arguments_follow_keepalived() {
        let scripts = NotifyScripts {
            master: Some(cmd("/bin/m")),
            notify: Some(cmd("/bin/n x")),
            ..Default::default()
        };
        let c = commands_for(
            &scripts,
            NotifyKind::Instance,
            "VI_1",
            VrrpStateName::Master,
            150,
        );
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].0.raw, "/bin/m");
        assert!(c[0].1.is_empty());
        assert_eq!(c[1].1, vec!["INSTANCE", "VI_1", "MASTER", "150"]);
        let c = commands_for(&scripts, NotifyKind::Group, "G", VrrpStateName::Backup, 0);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].1, vec!["GROUP", "G", "BACKUP", "0"]);
    }

    #[test]
    fn unsafe_path_names_the_writable_directory() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("open");
        std::fs::create_dir(&sub).unwrap();
        std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o777)).unwrap();
        let script = sub.join("s.sh");
        std::fs::write(&script, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let bad = unsafe_path(&script).expect("world-writable directory is unsafe");
        assert_eq!(bad, std::fs::canonicalize(&sub).unwrap());
        std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o755)).unwrap();
        // tempdir lives under /tmp (sticky) so the rest of the chain is safe when run as root.
        if nix::unistd::Uid::effective().is_root() {
            assert_eq!(unsafe_path(&script), None);
        }
    }

    #[tokio::test]
    async fn timeout_kills_the_process_group() {
        let argv = vec![
            "/bin/sh".to_string(),
            "-c".into(),
            "sleep 30 & sleep 30".into(),
        ];
        let r = run_command(
            "t",
            &argv,
            &[],
            &ScriptPolicy::default(),
            Duration::from_millis(200),
        )
        .await;
        assert!(matches!(r, Err(ScriptError::Timeout { .. })), "{r:?}");
    }

    #[tokio::test]
    async fn exit_code_is_returned() {
        let argv = vec!["sh".to_string(), "-c".into(), "exit 3".into()];
        let r = run_command("t", &argv, &[], &ScriptPolicy::default(), NOTIFY_TIMEOUT).await;
        assert_eq!(r.unwrap(), Some(3));
    }
}
