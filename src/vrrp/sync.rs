//! Sync groups as a pure coordinator: it watches members' actions and answers with inputs.
//!
//! Rules (keepalived's): any member in FAULT forces the group to FAULT; the group becomes
//! MASTER only when every member can be (every member's master down timer expired, or the
//! group is already MASTER); one member leaving MASTER takes the whole group to BACKUP.

use serde::{Deserialize, Serialize};

use super::fsm::{Action, Input, SyncCommand, TransitionReason, VrrpState};

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
    member_states: Vec<VrrpState>,
    /// Members whose master down timer expired and who wait for the others.
    wants_master: Vec<bool>,
    /// Members at fault by their own means.
    own_fault: Vec<bool>,
    /// The group fault last announced to the members.
    fault: bool,
}

impl SyncGroupCore {
    pub fn new(name: impl Into<String>, members: Vec<String>) -> SyncGroupCore {
        let n = members.len();
        SyncGroupCore {
            name: name.into(),
            members,
            state: VrrpState::Init,
            member_states: vec![VrrpState::Init; n],
            wants_master: vec![false; n],
            own_fault: vec![false; n],
            fault: false,
        }
    }
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn members(&self) -> &[String] {
        &self.members
    }
    /// The same group after a reload renamed some of its members (same order and number).
    pub fn with_members(mut self, members: Vec<String>) -> SyncGroupCore {
        if members.len() == self.members.len() {
            self.members = members;
        }
        self
    }
    pub fn state(&self) -> VrrpState {
        self.state
    }

    fn to_all(&self, input: Input, except: Option<usize>, out: &mut Vec<SyncOutput>) {
        for member in 0..self.members.len() {
            if Some(member) != except {
                out.push(SyncOutput::ToMember {
                    member,
                    input: input.clone(),
                });
            }
        }
    }

    /// Feed the actions member `member` just produced; returns what the group wants done.
    pub fn observe(&mut self, member: usize, actions: &[Action]) -> Vec<SyncOutput> {
        let mut out = Vec::new();
        if member >= self.members.len() {
            return out;
        }
        for action in actions {
            match action {
                Action::SyncMemberFault { fault } => {
                    self.own_fault[member] = *fault;
                    let group_fault = self.own_fault.iter().any(|f| *f);
                    if group_fault != self.fault {
                        self.fault = group_fault;
                        self.to_all(
                            Input::Sync {
                                command: SyncCommand::GroupFault { fault: group_fault },
                            },
                            None,
                            &mut out,
                        );
                    }
                }
                Action::SyncWantMaster { want } => {
                    self.wants_master[member] = *want;
                    let all_can = (0..self.members.len()).all(|m| {
                        self.wants_master[m] || self.member_states[m] == VrrpState::Master
                    });
                    if *want && all_can && !self.fault {
                        for m in 0..self.members.len() {
                            if self.wants_master[m] {
                                self.wants_master[m] = false;
                                out.push(SyncOutput::ToMember {
                                    member: m,
                                    input: Input::Sync {
                                        command: SyncCommand::Master,
                                    },
                                });
                            }
                        }
                    }
                }
                Action::Notify(t) => {
                    self.member_states[member] = t.to;
                    if t.to != VrrpState::Backup {
                        self.wants_master[member] = false;
                    }
                    // One member leaving MASTER for BACKUP takes the others along.
                    if t.from == VrrpState::Master
                        && t.to == VrrpState::Backup
                        && t.reason != TransitionReason::SyncGroup
                    {
                        for m in 0..self.members.len() {
                            if m != member && self.member_states[m] == VrrpState::Master {
                                out.push(SyncOutput::ToMember {
                                    member: m,
                                    input: Input::Sync {
                                        command: SyncCommand::Backup,
                                    },
                                });
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        self.update_state(&mut out);
        out
    }

    /// The group's state from its members': STOP once any stopped, FAULT if any is at fault,
    /// MASTER if all are MASTER, INIT until all have started, else BACKUP.
    fn update_state(&mut self, out: &mut Vec<SyncOutput>) {
        let st = &self.member_states;
        // Once a member stops, the group is stopping: no BACKUP detour while the others follow.
        let new = if st.contains(&VrrpState::Stop) {
            VrrpState::Stop
        } else if self.fault || st.contains(&VrrpState::Fault) {
            VrrpState::Fault
        } else if st.iter().all(|s| *s == VrrpState::Master) {
            VrrpState::Master
        } else if st.contains(&VrrpState::Init) {
            VrrpState::Init
        } else {
            VrrpState::Backup
        };
        if new != self.state {
            let reason = match new {
                VrrpState::Fault => "a member is in FAULT".to_string(),
                VrrpState::Master => "every member is MASTER".to_string(),
                VrrpState::Backup => "not every member can be MASTER".to_string(),
                VrrpState::Stop => "stopped".to_string(),
                VrrpState::Init => "starting".to_string(),
            };
            out.push(SyncOutput::Notify(GroupTransition {
                group: self.name.clone(),
                from: self.state,
                to: new,
                reason,
            }));
            self.state = new;
        }
    }
}
