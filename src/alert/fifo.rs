//! keepalived's notify fifos: `notify_fifo` (everything), `vrrp_notify_fifo` (instances and
//! sync groups) and `lvs_notify_fifo` (virtual and real servers), one line per event:
//!
//! ```text
//! INSTANCE "VI_1" MASTER 100
//! GROUP "G1" BACKUP 0
//! VS [192.168.201.15]:tcp:80 UP
//! RS [1.2.3.4]:tcp:80 [192.168.201.15]:tcp:80 DOWN
//! ```
//!
//! (keepalived's `vrrp_notify.c` and `ipwrapper.c`: a group's priority is written as 0.)
//! Lines are formatted by the pure [`fifo_line`]; [`FifoWriters`] writes them in the order the
//! events are handed over, without ever blocking: the fifos are opened read-write and
//! non-blocking, as keepalived does, so a missing or slow reader loses lines (logged) instead
//! of stalling the daemon.

use super::message::fmt_endpoint;
use crate::config::{GlobalDefs, NotifyFifo, RunAs};
use crate::events::{Event, VrrpStateName};
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Which class of fifo a line belongs to (besides `notify_fifo`, which gets every line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FifoClass {
    Vrrp,
    Lvs,
}

/// The fifo line for an event (with its trailing newline), or None for events keepalived
/// writes nothing for.
pub fn fifo_line(ev: &Event) -> Option<(FifoClass, String)> {
    match ev {
        Event::VrrpInstance {
            instance,
            to,
            priority,
            ..
        } => {
            if *to == VrrpStateName::Init {
                return None;
            }
            Some((
                FifoClass::Vrrp,
                format!("INSTANCE \"{}\" {} {}\n", instance, to.as_str(), priority),
            ))
        }
        Event::VrrpSyncGroup { group, to, .. } => {
            if *to == VrrpStateName::Init {
                return None;
            }
            Some((
                FifoClass::Vrrp,
                format!("GROUP \"{}\" {} 0\n", group, to.as_str()),
            ))
        }
        Event::RealServer {
            virtual_server,
            real_server,
            up,
            ..
        } => Some((
            FifoClass::Lvs,
            format!(
                "RS {} {} {}\n",
                fmt_endpoint(real_server),
                fmt_endpoint(virtual_server),
                if *up { "UP" } else { "DOWN" }
            ),
        )),
        Event::Quorum {
            virtual_server,
            gained,
            ..
        } => Some((
            FifoClass::Lvs,
            format!(
                "VS {} {}\n",
                fmt_endpoint(virtual_server),
                if *gained { "UP" } else { "DOWN" }
            ),
        )),
        Event::Reload { .. }
        | Event::RealServerWeight { .. }
        | Event::RealServerDraining { .. } => None,
        // keepalived's `notify_priority_changes` lines; written only where enabled (see
        // [`priority_changes_enabled`]).
        Event::VrrpPriority {
            instance,
            state,
            priority,
        } => {
            let what = match state {
                VrrpStateName::Master => "MASTER_PRIORITY",
                VrrpStateName::Backup => "BACKUP_PRIORITY",
                _ => return None,
            };
            Some((
                FifoClass::Vrrp,
                format!("INSTANCE \"{instance}\" {what} {priority}\n"),
            ))
        }
        // keepalived's `send_event_notify`: the instance's own effective priority.
        Event::VrrpMasterRxLowerPri {
            instance, priority, ..
        } => Some((
            FifoClass::Vrrp,
            format!("INSTANCE \"{instance}\" MASTER_RX_LOWER_PRI {priority}\n"),
        )),
    }
}

/// `notify_priority_changes` of an instance: its own, else its sync group's, else the
/// global `vrrp_notify_priority_changes`.
pub fn priority_changes_enabled(cfg: &crate::config::Config, instance: &str) -> bool {
    let Some(i) = cfg.instance(instance) else {
        return false;
    };
    i.notify_priority_changes
        .or_else(|| {
            cfg.sync_groups
                .iter()
                .find(|g| g.members.iter().any(|m| m == instance))
                .and_then(|g| g.notify_priority_changes)
        })
        .unwrap_or(cfg.global.vrrp_notify_priority_changes)
}

/// Pure: the fifo lines for states (`INSTANCE "VI_1" MASTER 100`, `GROUP "G" BACKUP 0`),
/// leaving out states keepalived never writes (INIT).
pub fn state_lines<'a>(
    instances: impl IntoIterator<Item = (&'a str, &'a str, u8)>,
    groups: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Vec<String> {
    let written = |s: &str| matches!(s, "MASTER" | "BACKUP" | "FAULT" | "STOP");
    let mut out = Vec::new();
    for (name, state, prio) in instances {
        if written(state) {
            out.push(format!("INSTANCE \"{name}\" {state} {prio}\n"));
        }
    }
    for (name, state) in groups {
        if written(state) {
            out.push(format!("GROUP \"{name}\" {state} 0\n"));
        }
    }
    out
}

#[derive(Debug, thiserror::Error)]
pub enum FifoError {
    #[error("{path}: exists and is not a fifo")]
    NotAFifo { path: PathBuf },
    #[error("{path}: cannot create fifo: {source}")]
    Create {
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("{path}: cannot open: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: fifo owner: {detail}")]
    Owner { path: PathBuf, detail: String },
    #[error("{path}: cannot start fifo script {script:?}: {source}")]
    Script {
        path: PathBuf,
        script: String,
        #[source]
        source: std::io::Error,
    },
}

/// Create `path` as a fifo (mode 0600) unless it already is one; a fifo rampart creates is
/// given to `owner` (`notify_fifo PATH username [groupname]`), as keepalived does.
pub fn ensure_fifo(path: &Path, owner: Option<&RunAs>) -> Result<(), FifoError> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_fifo() => Ok(()),
        Ok(_) => Err(FifoError::NotAFifo {
            path: path.to_path_buf(),
        }),
        Err(_) => {
            let create = |source| FifoError::Create {
                path: path.to_path_buf(),
                source,
            };
            nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600))
                .map_err(create)?;
            if let Some(owner) = owner {
                let ids = crate::vrrp::notify::resolve_user(&path.display().to_string(), owner)
                    .map_err(|e| FifoError::Owner {
                        path: path.to_path_buf(),
                        detail: e.to_string(),
                    })?;
                // CAP_CHOWN is raised for this call only (see daemon::caps).
                crate::daemon::caps::with_raised(&[crate::daemon::caps::CAP_CHOWN], || {
                    nix::unistd::chown(
                        path,
                        Some(nix::unistd::Uid::from_raw(ids.uid)),
                        Some(nix::unistd::Gid::from_raw(ids.gid)),
                    )
                })
                .map_err(create)?;
            }
            Ok(())
        }
    }
}

/// One open fifo, and the script reading it when one is configured.
struct OpenFifo {
    path: PathBuf,
    file: File,
    script: Option<std::process::Child>,
    /// Lines lost since the last successful write (logged once per burst).
    lost: u64,
}

impl OpenFifo {
    fn open(cfg: &NotifyFifo, script_user: Option<&RunAs>) -> Result<OpenFifo, FifoError> {
        let path = PathBuf::from(&cfg.path);
        ensure_fifo(&path, cfg.owner.as_ref())?;
        // CAP_DAC_OVERRIDE raised for the open only: the fifo may belong to its configured
        // owner (mode 0600), as keepalived (full root) can open it too.
        let file =
            crate::daemon::caps::with_raised(&[crate::daemon::caps::CAP_DAC_OVERRIDE], || {
                std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
                    .open(&path)
            })
            .map_err(|source| FifoError::Open {
                path: path.clone(),
                source,
            })?;
        let script = match &cfg.script {
            Some(cmd) if !cmd.argv.is_empty() => {
                // keepalived passes the fifo name as the script's last parameter.
                let mut command = std::process::Command::new(&cmd.argv[0]);
                command
                    .args(&cmd.argv[1..])
                    .arg(&path)
                    .stdin(std::process::Stdio::null());
                // The script's own user, else script_user, else root.
                let run_as = cfg.script_user.as_ref().or(script_user);
                if let Some(u) = run_as {
                    use std::os::unix::process::CommandExt;
                    let ids = crate::vrrp::notify::resolve_user(&cmd.raw, u).map_err(|e| {
                        FifoError::Owner {
                            path: path.clone(),
                            detail: e.to_string(),
                        }
                    })?;
                    command.gid(ids.gid).uid(ids.uid);
                }
                let caps = if run_as.is_some() {
                    &[
                        crate::daemon::caps::CAP_SETUID,
                        crate::daemon::caps::CAP_SETGID,
                    ][..]
                } else {
                    &[]
                };
                let child = crate::daemon::caps::with_raised(caps, || command.spawn()).map_err(
                    |source| FifoError::Script {
                        path: path.clone(),
                        script: cmd.raw.clone(),
                        source,
                    },
                )?;
                tracing::info!(target: "fifo", "started fifo script {:?} (pid {}) for {}", cmd.raw, child.id(), path.display());
                Some(child)
            }
            _ => None,
        };
        Ok(OpenFifo {
            path,
            file,
            script,
            lost: 0,
        })
    }

    fn write_line(&mut self, line: &str) {
        match self.file.write(line.as_bytes()) {
            Ok(n) if n == line.len() => {
                if self.lost > 0 {
                    tracing::warn!(target: "fifo", "{}: {} line(s) were lost while the reader was not keeping up", self.path.display(), self.lost);
                    self.lost = 0;
                }
            }
            Ok(n) => {
                self.lost += 1;
                tracing::warn!(target: "fifo", "{}: short write ({n} of {} bytes)", self.path.display(), line.len());
            }
            Err(e) => {
                if self.lost == 0 {
                    tracing::warn!(target: "fifo", "{}: line not written ({e}): {}", self.path.display(), line.trim_end());
                }
                self.lost += 1;
            }
        }
    }
}

impl Drop for OpenFifo {
    fn drop(&mut self) {
        if let Some(mut child) = self.script.take() {
            // keepalived terminates its fifo scripts with SIGTERM when it stops; reap the
            // script in the background so it leaves no zombie.
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            let _ = std::thread::Builder::new()
                .name("fifo-script-reaper".into())
                .spawn(move || child.wait());
        }
    }
}

/// The configured notify fifos. Call [`FifoWriters::write_event`] for every event, in order.
pub struct FifoWriters {
    all: Option<OpenFifo>,
    vrrp: Option<OpenFifo>,
    lvs: Option<OpenFifo>,
}

impl FifoWriters {
    /// Create (if missing) and open the fifos configured in `global_defs`, and start their
    /// scripts. A fifo that cannot be opened is an error naming its path.
    pub fn open(global: &GlobalDefs) -> Result<FifoWriters, FifoError> {
        let user = global.script_user.as_ref();
        let open = |f: &Option<NotifyFifo>| f.as_ref().map(|f| OpenFifo::open(f, user)).transpose();
        Ok(FifoWriters {
            all: open(&global.notify_fifo)?,
            vrrp: open(&global.vrrp_notify_fifo)?,
            lvs: open(&global.lvs_notify_fifo)?,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.all.is_none() && self.vrrp.is_none() && self.lvs.is_none()
    }

    /// `fifo_write_vrrp_states_on_reload`: the current state of every instance and sync
    /// group, as lines of the VRRP class.
    pub fn write_vrrp_lines(&mut self, lines: &[String]) {
        for line in lines {
            for f in [&mut self.all, &mut self.vrrp].into_iter().flatten() {
                f.write_line(line);
            }
        }
    }

    /// Write the event's line to `notify_fifo` and to the fifo of its class.
    pub fn write_event(&mut self, ev: &Event) {
        let Some((class, line)) = fifo_line(ev) else {
            return;
        };
        if let Some(f) = &mut self.all {
            f.write_line(&line);
        }
        let specific = match class {
            FifoClass::Vrrp => &mut self.vrrp,
            FifoClass::Lvs => &mut self.lvs,
        };
        if let Some(f) = specific {
            f.write_line(&line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Endpoint;

    fn ep(addr: &str, port: u16) -> Endpoint {
        Endpoint {
            addr: Some(addr.parse().unwrap()),
            port: Some(port),
            fwmark: None,
            protocol: "tcp",
            group: None,
        }
    }

    #[test]
    fn state_lines_on_reload() {
        let lines = state_lines(
            [("VI_1", "MASTER", 100), ("VI_2", "INIT", 50)],
            [("G", "BACKUP")],
        );
        assert_eq!(
            lines,
            vec!["INSTANCE \"VI_1\" MASTER 100\n", "GROUP \"G\" BACKUP 0\n"]
        );
    }

    #[test]
    fn lines_match_keepalived() {
        let ev = Event::VrrpInstance {
            instance: "VI_1".into(),
            from: VrrpStateName::Backup,
            to: VrrpStateName::Master,
            priority: 100,
            reason: String::new(),
        };
        assert_eq!(
            fifo_line(&ev).unwrap(),
            (FifoClass::Vrrp, "INSTANCE \"VI_1\" MASTER 100\n".into())
        );
        let ev = Event::VrrpSyncGroup {
            group: "G1".into(),
            from: VrrpStateName::Master,
            to: VrrpStateName::Fault,
            reason: String::new(),
        };
        assert_eq!(fifo_line(&ev).unwrap().1, "GROUP \"G1\" FAULT 0\n");
        let ev = Event::Quorum {
            virtual_server: ep("192.168.201.15", 80),
            gained: true,
            alive_weight: 3,
            quorum: 1,
        };
        assert_eq!(
            fifo_line(&ev).unwrap(),
            (FifoClass::Lvs, "VS [192.168.201.15]:tcp:80 UP\n".into())
        );
        let ev = Event::RealServer {
            virtual_server: ep("192.168.201.15", 80),
            real_server: ep("1.2.3.4", 80),
            up: false,
            reason: String::new(),
        };
        assert_eq!(
            fifo_line(&ev).unwrap().1,
            "RS [1.2.3.4]:tcp:80 [192.168.201.15]:tcp:80 DOWN\n"
        );
        assert!(
            fifo_line(&Event::Reload {
                ok: true,
                detail: String::new()
            })
            .is_none()
        );
    }
}
