//! All VRRP instances and sync groups of one rampart process, wired together: the shell feeds
//! an input to one instance (or to all), the node runs it, lets the sync group coordinators
//! react, delivers their inputs to the other members, and returns every action in order.

use serde::Serialize;
use std::collections::VecDeque;
use std::time::Instant;

use super::fsm::{Action, Input, Instance, InstanceParams, SetupError};
use super::sync::{GroupTransition, SyncGroupCore, SyncOutput};
use crate::config::Config;

/// An action tagged with who must carry it out.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeAction {
    /// `instance` is an index into [`Node::instances`].
    Instance { instance: usize, action: Action },
    /// `group` is an index into [`Node::groups`].
    Group {
        group: usize,
        transition: GroupTransition,
    },
}

#[derive(Debug, Clone)]
pub struct Node {
    instances: Vec<Instance>,
    groups: Vec<SyncGroupCore>,
    /// For each instance: (group index, member index within the group).
    membership: Vec<Option<(usize, usize)>>,
}

impl Node {
    pub fn from_config(cfg: &Config) -> Result<Node, SetupError> {
        let mut instances = Vec::new();
        for inst in &cfg.instances {
            let group = cfg.sync_group_of(&inst.name);
            instances.push(Instance::from_cfg(inst, cfg, group)?);
        }
        let groups = cfg
            .sync_groups
            .iter()
            .map(|g| SyncGroupCore::new(g.name.clone(), g.members.clone()))
            .collect();
        Ok(Node::new(instances, groups))
    }

    /// Assemble from already built parts; group members are matched to instances by name.
    pub fn new(instances: Vec<Instance>, groups: Vec<SyncGroupCore>) -> Node {
        let membership = instances
            .iter()
            .map(|inst| {
                groups.iter().enumerate().find_map(|(gi, g)| {
                    g.members()
                        .iter()
                        .position(|m| m == inst.name())
                        .map(|mi| (gi, mi))
                })
            })
            .collect();
        Node {
            instances,
            groups,
            membership,
        }
    }

    pub fn instances(&self) -> &[Instance] {
        &self.instances
    }
    pub fn groups(&self) -> &[SyncGroupCore] {
        &self.groups
    }
    pub fn instance_index(&self, name: &str) -> Option<usize> {
        self.instances.iter().position(|i| i.name() == name)
    }

    /// Run `input` on instance `instance`, then whatever the sync groups ask in consequence.
    pub fn step(&mut self, instance: usize, input: Input, now: Instant) -> Vec<NodeAction> {
        let mut out = Vec::new();
        let mut queue = VecDeque::from([(instance, input)]);
        self.drain(&mut queue, &mut out, now);
        out
    }

    /// Run queued inputs, and whatever the sync groups ask in consequence, until quiet.
    fn drain(
        &mut self,
        queue: &mut VecDeque<(usize, Input)>,
        out: &mut Vec<NodeAction>,
        now: Instant,
    ) {
        while let Some((idx, input)) = queue.pop_front() {
            let Some(inst) = self.instances.get_mut(idx) else {
                continue;
            };
            let actions = inst.step(input, now);
            self.emit(idx, actions, queue, out);
        }
    }

    /// Record an instance's actions and let its sync group react (queueing member inputs).
    fn emit(
        &mut self,
        idx: usize,
        actions: Vec<Action>,
        queue: &mut VecDeque<(usize, Input)>,
        out: &mut Vec<NodeAction>,
    ) {
        let group_outputs = match self.membership.get(idx).copied().flatten() {
            Some((gi, mi)) => Some((gi, self.groups[gi].observe(mi, &actions))),
            None => None,
        };
        out.extend(actions.into_iter().map(|action| NodeAction::Instance {
            instance: idx,
            action,
        }));
        let Some((gi, outputs)) = group_outputs else {
            return;
        };
        for o in outputs {
            match o {
                SyncOutput::ToMember { member, input } => {
                    let name = &self.groups[gi].members()[member];
                    if let Some(t) = self.instances.iter().position(|i| i.name() == name) {
                        queue.push_back((t, input));
                    }
                }
                SyncOutput::Notify(transition) => out.push(NodeAction::Group {
                    group: gi,
                    transition,
                }),
            }
        }
    }

    /// Apply a reloaded configuration whose instances and sync groups are the same (same
    /// names, same order, same membership; priorities, VIPs, tracking, timers may change):
    /// every instance keeps its state (see [`Instance::reconfigure`]). Anything else —
    /// instances added, removed or renamed, a different VRID — is refused with the reason,
    /// and nothing changes; [`Node::retire`] and [`Node::rebuild`] handle those.
    pub fn reconfigure(
        &mut self,
        cfg: &Config,
        now: Instant,
    ) -> Result<Vec<NodeAction>, SetupError> {
        let same_names = cfg.instances.len() == self.instances.len()
            && cfg
                .instances
                .iter()
                .zip(&self.instances)
                .all(|(c, i)| c.name == i.name());
        let same_groups = cfg.sync_groups.len() == self.groups.len()
            && cfg
                .sync_groups
                .iter()
                .zip(&self.groups)
                .all(|(c, g)| c.name == g.name() && c.members == g.members());
        if !same_names || !same_groups {
            return Err(SetupError::IdentityChanged {
                instance: "*".into(),
                what: "the set of instances or sync groups",
            });
        }
        let mut params = Vec::new();
        for (inst, running) in cfg.instances.iter().zip(&self.instances) {
            let group = cfg.sync_group_of(&inst.name);
            let p = InstanceParams::from_cfg(inst, cfg, group)?;
            let r = running.params();
            if (p.vrid, p.version, p.af) != (r.vrid, r.version, r.af) {
                return Err(SetupError::IdentityChanged {
                    instance: inst.name.clone(),
                    what: "virtual_router_id, version or family",
                });
            }
            params.push(p);
        }
        let mut out = Vec::new();
        let mut queue = VecDeque::new();
        for (idx, p) in params.into_iter().enumerate() {
            // Identity was checked above: this cannot fail.
            let actions = self.instances[idx].reconfigure(p, now)?;
            self.emit(idx, actions, &mut queue, &mut out);
        }
        self.drain(&mut queue, &mut out, now);
        Ok(out)
    }

    /// Shut instance `instance` down alone (priority 0 if MASTER, VIPs released), without its
    /// sync group reacting: used for instances a reload removes, just before [`Node::rebuild`].
    pub fn retire(&mut self, instance: usize, now: Instant) -> Vec<NodeAction> {
        let Some(inst) = self.instances.get_mut(instance) else {
            return Vec::new();
        };
        inst.step(Input::Shutdown, now)
            .into_iter()
            .map(|action| NodeAction::Instance { instance, action })
            .collect()
    }

    /// Apply a reloaded configuration that may add, remove or change instances.
    /// `kept[new]` is the index in the running node of the instance that new instance `new`
    /// continues (same virtual router, renamed or not), or None for a new one. Kept instances keep
    /// their state and take their new settings in place ([`Instance::reconfigure`]); new ones
    /// are built in INIT and wait for the shell's usual startup inputs; running instances no
    /// one keeps are dropped (retire them first). Sync groups with the same name and members
    /// (the same kept instances, renamed or not) keep their state. Returns the kept instances' actions, indexed in the new node.
    /// On error nothing changes.
    pub fn rebuild(
        &mut self,
        cfg: &Config,
        kept: &[Option<usize>],
        now: Instant,
    ) -> Result<Vec<NodeAction>, SetupError> {
        let mut instances = Vec::new();
        let mut pending = Vec::new();
        for (idx, inst) in cfg.instances.iter().enumerate() {
            let group = cfg.sync_group_of(&inst.name);
            match kept
                .get(idx)
                .copied()
                .flatten()
                .and_then(|o| self.instances.get(o))
            {
                Some(old) => {
                    let p = InstanceParams::from_cfg(inst, cfg, group)?;
                    let mut running = old.clone();
                    let actions = running.reconfigure(p, now)?;
                    pending.push((idx, actions));
                    instances.push(running);
                }
                None => {
                    let mut p = InstanceParams::from_cfg(inst, cfg, group)?;
                    // vrrp_startup_delay is about the daemon starting (bonds still settling),
                    // not about an instance added by a reload.
                    p.startup_delay = std::time::Duration::ZERO;
                    instances.push(Instance::new(p))
                }
            }
        }
        // A group keeps its state when its members are the same instances, renamed or not.
        let new_name_of = |old: &str| -> String {
            self.instances
                .iter()
                .position(|i| i.name() == old)
                .and_then(|o| kept.iter().position(|k| *k == Some(o)))
                .and_then(|n| cfg.instances.get(n))
                .map_or_else(|| old.to_string(), |i| i.name.clone())
        };
        let groups = cfg
            .sync_groups
            .iter()
            .map(|g| {
                self.groups
                    .iter()
                    .find(|o| {
                        o.name() == g.name
                            && o.members().len() == g.members.len()
                            && o.members()
                                .iter()
                                .zip(&g.members)
                                .all(|(om, nm)| new_name_of(om) == *nm)
                    })
                    .map(|o| o.clone().with_members(g.members.clone()))
                    .unwrap_or_else(|| SyncGroupCore::new(g.name.clone(), g.members.clone()))
            })
            .collect();
        *self = Node::new(instances, groups);
        let mut out = Vec::new();
        let mut queue = VecDeque::new();
        for (idx, actions) in pending {
            self.emit(idx, actions, &mut queue, &mut out);
        }
        self.drain(&mut queue, &mut out, now);
        Ok(out)
    }

    /// Run `input` on every instance in turn (Startup, Shutdown, TrackScript...).
    pub fn step_all(&mut self, input: &Input, now: Instant) -> Vec<NodeAction> {
        let mut out = Vec::new();
        for i in 0..self.instances.len() {
            out.extend(self.step(i, input.clone(), now));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{LoadOptions, load_str};
    use crate::vrrp::fsm::{TimerKind, VrrpState};
    use std::time::Duration;

    fn cfg(instances: &[(&str, u8, &str)]) -> Config {
        let mut text = String::new();
        for (name, vrid, vip) in instances {
            text.push_str(&format!(
                "vrrp_instance {name} {{\n  state BACKUP\n  interface eth0\n  virtual_router_id {vrid}\n  priority 100\n  advert_int 1\n  virtual_ipaddress {{\n    {vip}\n  }}\n}}\n"
            ));
        }
        load_str("test.conf", &text, &LoadOptions { config_id: None })
            .unwrap_or_else(|d| panic!("{d:?}"))
            .config
    }

    fn master(node: &mut Node, idx: usize, t0: Instant) {
        let addr = "10.0.0.1".parse().unwrap();
        node.step(idx, Input::LocalAddress { addr }, t0);
        node.step(idx, Input::LinkChanged { up: true }, t0);
        node.step(idx, Input::Startup, t0);
        let later = t0 + Duration::from_secs(5);
        let timer = TimerKind::MasterDown;
        node.step(idx, Input::TimerExpired { timer }, later);
        assert_eq!(node.instances()[idx].state(), VrrpState::Master);
    }

    #[test]
    fn rebuild_keeps_matched_instances_and_adds_new_ones_in_init() {
        let t0 = Instant::now();
        let old = cfg(&[("A", 1, "10.0.0.100"), ("B", 2, "10.0.0.200")]);
        let mut node = Node::from_config(&old).unwrap();
        master(&mut node, 0, t0);
        master(&mut node, 1, t0);
        // B removed (retired first), C added, A unchanged and now second.
        let retired = node.retire(1, t0 + Duration::from_secs(6));
        assert!(retired.iter().any(|a| matches!(
            a,
            NodeAction::Instance {
                instance: 1,
                action: Action::DelVips
            }
        )));
        let new = cfg(&[("C", 3, "10.0.0.150"), ("A", 1, "10.0.0.100")]);
        let acts = node
            .rebuild(&new, &[None, Some(0)], t0 + Duration::from_secs(6))
            .unwrap();
        assert_eq!(acts, vec![], "an unchanged kept instance is silent");
        let names: Vec<&str> = node.instances().iter().map(|i| i.name()).collect();
        assert_eq!(names, ["C", "A"]);
        assert_eq!(node.instances()[0].state(), VrrpState::Init);
        assert_eq!(node.instances()[1].state(), VrrpState::Master);
    }

    #[test]
    fn rebuild_with_a_vip_added_reinstalls_in_place() {
        let t0 = Instant::now();
        let mut node = Node::from_config(&cfg(&[("A", 1, "10.0.0.100")])).unwrap();
        master(&mut node, 0, t0);
        let mut new = cfg(&[("A", 1, "10.0.0.100")]);
        let mut extra = new.instances[0].virtual_ipaddress[0].clone();
        extra.addr = "10.0.0.101".parse().unwrap();
        new.instances[0].virtual_ipaddress.push(extra);
        let acts = node
            .rebuild(&new, &[Some(0)], t0 + Duration::from_secs(6))
            .unwrap();
        let kinds: Vec<&Action> = acts
            .iter()
            .filter_map(|a| match a {
                NodeAction::Instance { action, .. } => Some(action),
                _ => None,
            })
            .collect();
        assert!(kinds.contains(&&Action::AddVips));
        assert!(!kinds.iter().any(|a| matches!(a, Action::Notify(_))));
        assert_eq!(node.instances()[0].state(), VrrpState::Master);
    }

    #[test]
    fn a_renamed_instance_keeps_its_state_and_its_sync_group() {
        let t0 = Instant::now();
        let grouped = |a: &str| {
            let mut text = format!("vrrp_sync_group G {{\n  group {{\n    {a}\n    B\n  }}\n}}\n");
            for (name, vrid, vip) in [(a, 1, "10.0.0.100"), ("B", 2, "10.0.0.200")] {
                text.push_str(&format!(
                    "vrrp_instance {name} {{\n  state BACKUP\n  interface eth0\n  virtual_router_id {vrid}\n  priority 100\n  advert_int 1\n  virtual_ipaddress {{\n    {vip}\n  }}\n}}\n"
                ));
            }
            load_str("g.conf", &text, &LoadOptions { config_id: None })
                .unwrap_or_else(|d| panic!("{d:?}"))
                .config
        };
        let mut node = Node::from_config(&grouped("A")).unwrap();
        // Both members start, then both master-down timers expire: the group goes MASTER.
        for idx in 0..2 {
            let addr = "10.0.0.1".parse().unwrap();
            node.step(idx, Input::LocalAddress { addr }, t0);
            node.step(idx, Input::LinkChanged { up: true }, t0);
            node.step(idx, Input::Startup, t0);
        }
        let later = t0 + Duration::from_secs(5);
        for idx in 0..2 {
            let timer = TimerKind::MasterDown;
            node.step(idx, Input::TimerExpired { timer }, later);
        }
        assert_eq!(node.instances()[0].state(), VrrpState::Master);
        assert_eq!(node.groups[0].state(), VrrpState::Master);
        let group_state = node.groups[0].state();
        let acts = node
            .rebuild(
                &grouped("A2"),
                &[Some(0), Some(1)],
                t0 + Duration::from_secs(6),
            )
            .unwrap();
        assert_eq!(acts, vec![], "a rename is silent");
        assert_eq!(node.instances()[0].name(), "A2");
        assert_eq!(node.instances()[0].state(), VrrpState::Master);
        assert_eq!(node.groups[0].members(), ["A2", "B"]);
        assert_eq!(
            node.groups[0].state(),
            group_state,
            "the group keeps its state"
        );
    }
}
