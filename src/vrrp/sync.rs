//! Sync groups as a pure coordinator: it watches members' actions and answers with inputs.
//!
//! Rules (keepalived's): any member in FAULT forces the group to FAULT; the group becomes
//! MASTER only when every member can be (every member's master down timer expired, or the
//! group is already MASTER); one member leaving MASTER takes the whole group to BACKUP.

use serde::{Deserialize, Serialize};

use super::fsm::{Action, Input, VrrpState};

/// A group state change (group notify scripts, [`crate::events::Event::VrrpSyncGroup`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupTransition {
    pub group: String,
    pub from: VrrpState,
    pub to: VrrpState,
    pub reason: String,
}

/// What the coordinator asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncOutput {
    /// Deliver this input to member number `member` (index into the member list).
    ToMember {
        member: usize,
        input: Input,
    },
    Notify(GroupTransition),
}

/// One `vrrp_sync_group`.
#[derive(Debug, Clone)]
pub struct SyncGroupCore {
    name: String,
    members: Vec<String>,
    state: VrrpState,
}

impl SyncGroupCore {
    pub fn new(name: impl Into<String>, members: Vec<String>) -> SyncGroupCore {
        SyncGroupCore {
            name: name.into(),
            members,
            state: VrrpState::Init,
        }
    }
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn members(&self) -> &[String] {
        &self.members
    }
    pub fn state(&self) -> VrrpState {
        self.state
    }

    /// Feed the actions member `member` just produced; returns what the group wants done.
    pub fn observe(&mut self, member: usize, actions: &[Action]) -> Vec<SyncOutput> {
        let _ = (member, actions);
        Vec::new()
    }
}
