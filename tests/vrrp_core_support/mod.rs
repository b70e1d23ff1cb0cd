//! Shared helpers for the VRRP core tests: instance parameters, adverts, and a simulated
//! LAN with a virtual clock that wires several cores together.
#![allow(dead_code)]

use rampart::vrrp::auth::Auth;
use rampart::vrrp::fsm::{InstanceParams, Tracked};
use rampart::vrrp::packet::{Af, AhHeader, ReceivedAdvert, Version, VrrpPacket};
use rampart::vrrp::{Action, Centis, Input, Node, NodeAction, TimerKind};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::{Duration, Instant};

pub const VIP: &str = "192.0.2.100";
pub const MCAST: &str = "224.0.0.18";

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A VRRPv2 instance on interface "eth0", VRID 51, one VIP, advert_int 1 s, no auth.
pub fn params(name: &str, priority: u8) -> InstanceParams {
    InstanceParams {
        name: name.to_string(),
        vrid: 51,
        version: Version::V2,
        af: Af::V4,
        priority,
        advert_int: Centis(100),
        initial_state_master: false,
        nopreempt: false,
        preempt_delay: Duration::ZERO,
        auth: Auth::None,
        vips: vec![ip(VIP)],
        unicast_peers: vec![],
        track_interfaces: vec![],
        track_scripts: vec![],
        garp_master_delay: Duration::from_secs(5),
        garp_master_repeat: 5,
        garp_master_refresh: None,
        garp_master_refresh_repeat: 1,
        in_sync_group: false,
        track_primary: true,
        lower_prio_no_advert: false,
        // keepalived's defaults: lower-priority adverts are answered with
        // vrrp_garp_master_repeat GARPs now and again after vrrp_garp_master_delay.
        higher_prio_send_advert: false,
        garp_lower_prio_repeat: 5,
        garp_lower_prio_delay: Duration::from_secs(5),
        skip_check_adv_addr: false,
        check_unicast_src: false,
        unicast_fault_no_peer: false,
        down_timer_adverts: 3,
        startup_delay: Duration::ZERO,
        track_files: vec![],
        garp_extra_if: None,
        track_processes: vec![],
    }
}

pub fn v3(mut p: InstanceParams, centis: u16) -> InstanceParams {
    p.version = Version::V3;
    p.advert_int = Centis(centis);
    p
}

pub fn tracked(name: &str, weight: i32) -> Tracked {
    Tracked {
        name: name.into(),
        weight,
        reverse: false,
        ok: true,
    }
}

/// An advert as the shell would hand it over after decoding.
pub fn advert_from(p: &InstanceParams, src: &str, priority: u8) -> ReceivedAdvert {
    ReceivedAdvert {
        src: ip(src),
        dst: ip(MCAST),
        ttl: 255,
        ah: None,
        vrrp: VrrpPacket {
            version: p.version,
            vrid: p.vrid,
            priority,
            auth_type: if p.version == Version::V2 {
                p.auth.wire_type()
            } else {
                0
            },
            advert_int: p.advert_int,
            addresses: p.vips.clone(),
            auth_data: match &p.auth {
                Auth::Pass(k) => *k,
                _ => [0; 8],
            },
        },
    }
}

pub fn rx(adv: ReceivedAdvert) -> Input {
    Input::AdvertReceived { packet: Ok(adv) }
}

/// Where an instance lives on the simulated LAN.
#[derive(Debug, Clone)]
pub struct Port {
    /// Segment name: adverts reach every other port on the same segment.
    pub segment: String,
    pub addr: IpAddr,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    Timer {
        router: usize,
        instance: usize,
        kind: TimerKind,
        generation: u64,
    },
    Deliver {
        router: usize,
        instance: usize,
        packet: String,
    },
}

/// One rampart process on the simulated LAN.
pub struct Router {
    pub name: String,
    pub node: Node,
    pub ports: Vec<Port>,
    pub alive: bool,
    /// Pending expiry per (instance, timer kind) as (due, generation).
    timers: BTreeMap<(usize, TimerKind), (Duration, u64)>,
    /// VIPs currently configured by this router, per instance.
    pub vips_up: BTreeSet<usize>,
    /// Every action, with the virtual time it was produced.
    pub log: Vec<(Duration, NodeAction)>,
}

/// Several routers on segments, one virtual clock, deterministic event order.
pub struct Lan {
    pub base: Instant,
    pub now: Duration,
    pub routers: Vec<Router>,
    /// Propagation delay of an advert.
    pub latency: Duration,
    queue: BTreeSet<(Duration, u64, Event)>,
    seq: u64,
    generation: u64,
}

impl Lan {
    pub fn new() -> Lan {
        Lan {
            base: Instant::now(),
            now: Duration::ZERO,
            routers: Vec::new(),
            latency: Duration::from_micros(100),
            queue: BTreeSet::new(),
            seq: 0,
            generation: 0,
        }
    }

    /// Add a router; `ports[i]` is where instance `i` of `node` sits.
    pub fn add(&mut self, name: &str, node: Node, ports: Vec<Port>) -> usize {
        assert_eq!(node.instances().len(), ports.len());
        self.routers.push(Router {
            name: name.into(),
            node,
            ports,
            alive: true,
            timers: BTreeMap::new(),
            vips_up: BTreeSet::new(),
            log: Vec::new(),
        });
        self.routers.len() - 1
    }

    fn push(&mut self, at: Duration, ev: Event) {
        self.seq += 1;
        self.queue.insert((at, self.seq, ev));
    }

    /// Feed an input to one instance of one router now, and carry out its actions.
    pub fn input(&mut self, router: usize, instance: usize, input: Input) {
        if !self.routers[router].alive {
            return;
        }
        let now = self.base + self.now;
        let actions = self.routers[router].node.step(instance, input, now);
        self.execute(router, actions);
    }

    /// Feed an input to every instance of a router.
    pub fn input_all(&mut self, router: usize, input: Input) {
        let n = self.routers[router].node.instances().len();
        for i in 0..n {
            self.input(router, i, input.clone());
        }
    }

    pub fn start(&mut self, router: usize) {
        let n = self.routers[router].node.instances().len();
        for i in 0..n {
            let addr = self.routers[router].ports[i].addr;
            self.input(router, i, Input::LocalAddress { addr });
        }
        self.input_all(router, Input::Startup);
    }

    /// SIGKILL: the router stops dead; its VIPs vanish with it, nothing is sent.
    pub fn kill(&mut self, router: usize) {
        let r = &mut self.routers[router];
        r.alive = false;
        r.timers.clear();
        r.vips_up.clear();
    }

    fn execute(&mut self, router: usize, actions: Vec<NodeAction>) {
        for na in actions {
            self.routers[router].log.push((self.now, na.clone()));
            let NodeAction::Instance { instance, action } = na else {
                continue;
            };
            match action {
                Action::ArmTimer { timer, after } => {
                    self.generation += 1;
                    let due = self.now + after;
                    let generation = self.generation;
                    self.routers[router]
                        .timers
                        .insert((instance, timer), (due, generation));
                    self.push(
                        due,
                        Event::Timer {
                            router,
                            instance,
                            kind: timer,
                            generation,
                        },
                    );
                }
                Action::DisarmTimer { timer } => {
                    self.routers[router].timers.remove(&(instance, timer));
                }
                Action::AddVips => {
                    self.routers[router].vips_up.insert(instance);
                }
                Action::DelVips => {
                    self.routers[router].vips_up.remove(&instance);
                }
                Action::SendAdvert { packet, .. } => {
                    let port = self.routers[router].ports[instance].clone();
                    for (ri, r) in self.routers.iter().enumerate() {
                        if ri == router {
                            continue;
                        }
                        for (ii, p) in r.ports.iter().enumerate() {
                            let receiver = r.node.instances()[ii].params();
                            // Unicast peers get the advert addressed to them.
                            let dst = if receiver.unicast_peers.is_empty() {
                                ip(MCAST)
                            } else {
                                p.addr
                            };
                            let adv = ReceivedAdvert {
                                src: port.addr,
                                dst,
                                ttl: 255,
                                ah: None::<AhHeader>,
                                vrrp: packet.clone(),
                            };
                            let json = serde_json::to_string(&adv).unwrap();
                            if p.segment == port.segment && receiver.vrid == adv.vrrp.vrid {
                                self.seq += 1;
                                self.queue.insert((
                                    self.now + self.latency,
                                    self.seq,
                                    Event::Deliver {
                                        router: ri,
                                        instance: ii,
                                        packet: json.clone(),
                                    },
                                ));
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// Run events up to and including virtual time `until`.
    pub fn run_until(&mut self, until: Duration) {
        while let Some(first) = self.queue.first().cloned() {
            if first.0 > until {
                break;
            }
            self.queue.remove(&first);
            let (at, _, ev) = first;
            self.now = at;
            match ev {
                Event::Timer {
                    router,
                    instance,
                    kind,
                    generation,
                } => {
                    let current = self.routers[router].timers.get(&(instance, kind)).copied();
                    if current.map(|c| c.1) != Some(generation) {
                        continue; // re-armed or disarmed since
                    }
                    self.routers[router].timers.remove(&(instance, kind));
                    self.input(router, instance, Input::TimerExpired { timer: kind });
                }
                Event::Deliver {
                    router,
                    instance,
                    packet,
                } => {
                    let adv: ReceivedAdvert = serde_json::from_str(&packet).unwrap();
                    self.input(router, instance, rx(adv));
                }
            }
        }
        self.now = until;
    }

    pub fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until(until);
    }

    /// Routers holding the VIPs of instance `instance` (by router name).
    pub fn holders(&self, instance_name: &str) -> Vec<String> {
        self.routers
            .iter()
            .filter(|r| r.alive)
            .filter(|r| {
                r.node
                    .instance_index(instance_name)
                    .is_some_and(|i| r.vips_up.contains(&i))
            })
            .map(|r| r.name.clone())
            .collect()
    }

    /// The first time at or after `since` that instance `instance_name` of `router` added its
    /// VIPs.
    pub fn became_master_at(
        &self,
        router: usize,
        instance_name: &str,
        since: Duration,
    ) -> Option<Duration> {
        let r = &self.routers[router];
        let idx = r.node.instance_index(instance_name)?;
        r.log.iter().find_map(|(t, a)| match a {
            NodeAction::Instance {
                instance,
                action: Action::AddVips,
            } if *instance == idx && *t >= since => Some(*t),
            _ => None,
        })
    }
}
