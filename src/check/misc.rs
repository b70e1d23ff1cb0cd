//! MISC_CHECK: run a program as `script_user`, bounded by `misc_timeout`; on timeout the whole
//! process group is killed (the script may have started children of its own).

use super::probe::{MiscSpec, Outcome};
use std::process::Stdio;

pub async fn run(m: &MiscSpec) -> Outcome {
    let Some((prog, args)) = m.argv.split_first() else {
        return Outcome::Down {
            reason: "misc_path is empty".into(),
        };
    };
    let mut cmd = tokio::process::Command::new(prog);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .kill_on_drop(true);
    if let Some((user, group)) = &m.user {
        match resolve_user(user, group.as_deref()) {
            Ok((uid, gid)) => {
                cmd.uid(uid).gid(gid);
            }
            Err(reason) => return Outcome::Down { reason },
        }
    }
    // CAP_SETUID/CAP_SETGID are raised for this fork only (see daemon::caps).
    let mut child = match crate::daemon::caps::spawn(&mut cmd, m.user.is_some()) {
        Ok(c) => c,
        Err(e) => {
            return Outcome::Down {
                reason: format!("cannot run {prog}: {e}"),
            };
        }
    };
    let pid = child.id();
    match tokio::time::timeout(m.timeout, child.wait()).await {
        Ok(Ok(status)) => classify(status.code(), m.dynamic, prog),
        Ok(Err(e)) => Outcome::Down {
            reason: format!("waiting for {prog}: {e}"),
        },
        Err(_) => {
            if let Some(pid) = pid {
                // The child leads its own process group (process_group(0)), which may
                // belong to script_user: CAP_KILL is raised for the call.
                crate::daemon::caps::kill_group(pid);
            }
            let _ = child.wait().await;
            Outcome::Down {
                reason: format!(
                    "{prog} timed out after {:?}; process group killed",
                    m.timeout
                ),
            }
        }
    }
}

/// keepalived's exit-code convention: 0 up; with misc_dynamic 1 down and 2–255 up with weight
/// code − 2; without it any non-zero code is down.
pub fn classify(code: Option<i32>, dynamic: bool, prog: &str) -> Outcome {
    match code {
        Some(0) => Outcome::Up { weight: None },
        Some(c) if dynamic && (2..=255).contains(&c) => Outcome::Up {
            weight: Some(c as u32 - 2),
        },
        Some(c) => Outcome::Down {
            reason: format!("{prog} exited with status {c}"),
        },
        None => Outcome::Down {
            reason: format!("{prog} was killed by a signal"),
        },
    }
}

fn resolve_user(user: &str, group: Option<&str>) -> Result<(u32, u32), String> {
    let u = nix::unistd::User::from_name(user)
        .map_err(|e| format!("looking up user {user}: {e}"))?
        .ok_or_else(|| format!("script user {user} does not exist"))?;
    let gid = match group {
        None => u.gid.as_raw(),
        Some(g) => nix::unistd::Group::from_name(g)
            .map_err(|e| format!("looking up group {g}: {e}"))?
            .ok_or_else(|| format!("script group {g} does not exist"))?
            .gid
            .as_raw(),
    };
    Ok((u.uid.as_raw(), gid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes() {
        assert_eq!(classify(Some(0), false, "x"), Outcome::Up { weight: None });
        assert!(matches!(classify(Some(1), true, "x"), Outcome::Down { .. }));
        assert_eq!(
            classify(Some(7), true, "x"),
            Outcome::Up { weight: Some(5) }
        );
        assert!(matches!(
            classify(Some(7), false, "x"),
            Outcome::Down { .. }
        ));
        assert!(matches!(classify(None, true, "x"), Outcome::Down { .. }));
    }
}
