//! The vrrp_script runner: runs each script every `interval` (killing its process group after
//! `timeout`), applies rise/fall hysteresis and reports changes as [`ScriptStatus`] messages,
//! which the service turns into state-machine inputs for the instances tracking the script.

use super::notify::{ScriptPolicy, run_command};
use crate::config::VrrpScript;
use tokio::sync::{mpsc, watch};

/// A script's state changed (or its initial state, sent once at start).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptStatus {
    pub name: String,
    pub ok: bool,
}

/// Rise/fall hysteresis, pure: `rise` consecutive successes to become OK, `fall` consecutive
/// failures to become failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hysteresis {
    pub ok: bool,
    streak: u32,
    rise: u32,
    fall: u32,
}

impl Hysteresis {
    pub fn new(initially_ok: bool, rise: u32, fall: u32) -> Hysteresis {
        Hysteresis {
            ok: initially_ok,
            streak: 0,
            rise: rise.max(1),
            fall: fall.max(1),
        }
    }

    /// Record one result; Some(new state) when the state flips.
    pub fn observe(&mut self, success: bool) -> Option<bool> {
        if success == self.ok {
            self.streak = 0;
            return None;
        }
        self.streak += 1;
        let needed = if success { self.rise } else { self.fall };
        if self.streak >= needed {
            self.ok = success;
            self.streak = 0;
            Some(success)
        } else {
            None
        }
    }
}

/// Run one vrrp_script until shutdown.
pub fn spawn(
    script: VrrpScript,
    global_policy: ScriptPolicy,
    tx: mpsc::UnboundedSender<ScriptStatus>,
    mut shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let policy = ScriptPolicy {
            user: script.user.clone().or(global_policy.user.clone()),
            enforce_security: global_policy.enforce_security,
        };
        let timeout = script.timeout.unwrap_or(script.interval);
        let mut h = Hysteresis::new(!script.init_fail, script.rise, script.fall);
        let _ = tx.send(ScriptStatus {
            name: script.name.clone(),
            ok: h.ok,
        });
        let mut tick = tokio::time::interval(script.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = async { let _ = shutdown.wait_for(|s| *s).await; } => return,
            }
            let label = format!("vrrp_script {}", script.name);
            let success =
                match run_command(&label, &script.script.argv, &[], &policy, timeout).await {
                    Ok(Some(0)) => true,
                    Ok(code) => {
                        tracing::debug!(target: "vrrp", "{label}: exit status {code:?}");
                        false
                    }
                    Err(e) => {
                        tracing::warn!(target: "vrrp", "{e} (configured at {})", script.span);
                        false
                    }
                };
            if let Some(now_ok) = h.observe(success) {
                tracing::info!(
                    target: "vrrp",
                    "vrrp_script {} now {}",
                    script.name,
                    if now_ok { "succeeding" } else { "failing" }
                );
                if tx
                    .send(ScriptStatus {
                        name: script.name.clone(),
                        ok: now_ok,
                    })
                    .is_err()
                {
                    return;
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rise_and_fall() {
        let mut h = Hysteresis::new(true, 2, 3);
        assert_eq!(h.observe(false), None);
        assert_eq!(h.observe(false), None);
        assert_eq!(h.observe(true), None); // streak reset
        assert_eq!(h.observe(false), None);
        assert_eq!(h.observe(false), None);
        assert_eq!(h.observe(false), Some(false));
        assert_eq!(h.observe(true), None);
        assert_eq!(h.observe(true), Some(true));
        assert_eq!(h.observe(true), None);
    }

    #[test]
    fn zero_rise_means_one() {
        let mut h = Hysteresis::new(false, 0, 0);
        assert_eq!(h.observe(true), Some(true));
        assert_eq!(h.observe(false), Some(false));
    }
}
