//! The kernel's IPVS connection sync daemons, following one VRRP instance
//! (`global_defs { lvs_sync_daemon IF INSTANCE [id N] ... }`), as keepalived drives them.
//!
//! keepalived (vrrp.c / ipvswrapper.c): when the named instance becomes MASTER it stops the
//! backup daemon and starts the master daemon (`ipvs_syncd_master`); when it leaves MASTER it
//! stops the master daemon and starts the backup daemon (`ipvs_syncd_backup`); an instance that
//! starts as BACKUP starts the backup daemon; at exit both are stopped. One role runs at a time.
//! The sync id defaults to the instance's virtual_router_id.
//!
//! [`SyncdCore`] is that decision (state in, daemon operations out), pure. [`SyncDaemons`] is
//! the shell: a thread owning an IPVS netlink client that executes the operations, so that a
//! slow kernel (stopping a sync thread waits for it) never holds up the daemon's event loop.

use crate::config::Config;
use crate::events::{Event, VrrpStateName};
use crate::ipvs::client::{Client, IpvsError};
use crate::ipvs::codec::{Cmd, DaemonAttrs, IpvsMessage};
use crate::ipvs::consts::{IP_VS_STATE_BACKUP, IP_VS_STATE_MASTER};
use std::net::IpAddr;
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

/// The role of a kernel sync daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Master,
    Backup,
}

impl Role {
    fn kernel_state(self) -> u32 {
        match self {
            Role::Master => IP_VS_STATE_MASTER,
            Role::Backup => IP_VS_STATE_BACKUP,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Master => "master",
            Role::Backup => "backup",
        }
    }
}

/// One thing to do to the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Start(Role),
    Stop(Role),
}

/// Which daemon runs, and which should after a state change of the tracked instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncdCore {
    instance: String,
    running: Option<Role>,
}

impl SyncdCore {
    pub fn new(instance: &str) -> SyncdCore {
        SyncdCore {
            instance: instance.to_string(),
            running: None,
        }
    }

    pub fn instance(&self) -> &str {
        &self.instance
    }

    pub fn running(&self) -> Option<Role> {
        self.running
    }

    /// At start-up the instance is not MASTER yet: the backup daemon receives the peer's
    /// connections until it is.
    pub fn start(&mut self) -> Vec<Op> {
        self.switch(Some(Role::Backup))
    }

    /// The tracked instance changed state (other instances are ignored).
    pub fn on_instance_state(&mut self, instance: &str, to: VrrpStateName) -> Vec<Op> {
        if instance != self.instance {
            return Vec::new();
        }
        let want = match to {
            VrrpStateName::Master => Some(Role::Master),
            VrrpStateName::Backup | VrrpStateName::Fault | VrrpStateName::Init => {
                Some(Role::Backup)
            }
            // The instance was removed or the daemon is stopping.
            VrrpStateName::Stop => None,
        };
        self.switch(want)
    }

    /// The daemon exits: stop whatever runs.
    pub fn shutdown(&mut self) -> Vec<Op> {
        self.switch(None)
    }

    /// A reload names `instance` (maybe renamed, maybe another one) whose current state is
    /// `state` (None: not known yet, as at start-up): the role follows it at once.
    pub fn follow(&mut self, instance: &str, state: Option<VrrpStateName>) -> Vec<Op> {
        self.instance = instance.to_string();
        match state {
            Some(s) => self.on_instance_state(instance, s),
            None if self.running.is_none() => self.start(),
            None => Vec::new(),
        }
    }

    /// The one transition point: stop the running role before starting the other (keepalived's
    /// order, and the kernel refuses nothing this way).
    fn switch(&mut self, want: Option<Role>) -> Vec<Op> {
        if self.running == want {
            return Vec::new();
        }
        let mut ops = Vec::new();
        if let Some(r) = self.running {
            ops.push(Op::Stop(r));
        }
        if let Some(r) = want {
            ops.push(Op::Start(r));
        }
        self.running = want;
        ops
    }
}

/// The kernel parameters of the daemons, from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncParams {
    pub instance: String,
    pub interface: String,
    pub sync_id: u32,
    pub maxlen: Option<u16>,
    pub port: Option<u16>,
    pub ttl: Option<u8>,
    pub group: Option<IpAddr>,
}

impl SyncParams {
    /// The same kernel daemons (interface, sync id, packet settings), whatever instance they
    /// follow: a reload that changes only the instance restarts nothing.
    pub fn same_daemon(&self, other: &SyncParams) -> bool {
        SyncParams {
            instance: String::new(),
            ..self.clone()
        } == SyncParams {
            instance: String::new(),
            ..other.clone()
        }
    }

    /// None when the configuration has no `lvs_sync_daemon`. The instance must exist (the
    /// configuration front end checks it); without it the sync id falls back to 0 like an
    /// unset one would in the kernel's eyes, and a warning says why.
    pub fn from_config(cfg: &Config) -> Option<SyncParams> {
        let s = cfg.global.lvs_sync_daemon.as_ref()?;
        let vrid = cfg.instance(&s.instance).map(|i| i.virtual_router_id);
        if vrid.is_none() && s.id.is_none() {
            tracing::warn!(
                target: "syncd",
                "lvs_sync_daemon names VRRP instance {} which does not exist; sync id 0",
                s.instance
            );
        }
        Some(SyncParams {
            instance: s.instance.clone(),
            interface: s.interface.clone(),
            sync_id: u32::from(s.id.or(vrid).unwrap_or(0)),
            maxlen: s.maxlen,
            port: s.port,
            ttl: s.ttl,
            group: s.group,
        })
    }

    /// The netlink request for one operation.
    pub fn message(&self, op: Op) -> IpvsMessage {
        let (cmd, role, full) = match op {
            Op::Start(r) => (Cmd::NewDaemon, r, true),
            Op::Stop(r) => (Cmd::DelDaemon, r, false),
        };
        let mut d = DaemonAttrs {
            state: Some(role.kernel_state()),
            mcast_ifn: Some(self.interface.clone()),
            sync_id: Some(self.sync_id),
            ..Default::default()
        };
        if full {
            d.sync_maxlen = self.maxlen;
            d.mcast_port = self.port;
            d.mcast_ttl = self.ttl;
            match self.group {
                Some(IpAddr::V4(a)) => d.mcast_group = Some(a),
                Some(IpAddr::V6(a)) => d.mcast_group6 = Some(a),
                None => {}
            }
        }
        IpvsMessage::new(cmd).with_daemon(d)
    }
}

/// Executes operations on a client; a daemon already running (left by a previous rampart that
/// was killed) is restarted with our parameters, a daemon already stopped is fine.
pub fn execute<T: crate::ipvs::client::Transport>(
    client: &mut Client<T>,
    params: &SyncParams,
    op: Op,
) -> Result<(), IpvsError> {
    match client.execute_one(&params.message(op)) {
        Err(e) if matches!(op, Op::Stop(_)) && e.errno() == Some(libc::ESRCH) => Ok(()),
        Err(e) if e.errno() == Some(libc::EEXIST) => {
            if let Op::Start(r) = op {
                let _ = client.execute_one(&params.message(Op::Stop(r)));
            }
            client.execute_one(&params.message(op))
        }
        other => other,
    }
}

enum Msg {
    State(String, VrrpStateName),
    /// A reload: the new parameters and the current state of the instance they name.
    Reconfigure(SyncParams, Option<VrrpStateName>),
    Shutdown(std_mpsc::Sender<()>),
}

/// Handle of the sync-daemon thread; a no-op when `lvs_sync_daemon` is not configured.
pub struct SyncDaemons {
    tx: Option<std_mpsc::Sender<Msg>>,
    enabled: bool,
}

impl SyncDaemons {
    /// Starts the thread (and the backup daemon) when the configuration asks for it.
    pub fn spawn(cfg: &Config, enabled: bool) -> SyncDaemons {
        Self::spawn_with(cfg, enabled, None)
    }

    fn spawn_with(cfg: &Config, enabled: bool, state: Option<VrrpStateName>) -> SyncDaemons {
        let Some(params) = SyncParams::from_config(cfg).filter(|_| enabled) else {
            return SyncDaemons { tx: None, enabled };
        };
        let (tx, rx) = std_mpsc::channel::<Msg>();
        let spawned = std::thread::Builder::new()
            .name("ipvs-syncd".into())
            .spawn(move || run_thread(params, state, rx));
        match spawned {
            Ok(_) => SyncDaemons {
                tx: Some(tx),
                enabled,
            },
            Err(e) => {
                tracing::error!(target: "syncd", "cannot start the sync daemon thread: {e}; lvs_sync_daemon is off");
                SyncDaemons { tx: None, enabled }
            }
        }
    }

    /// A reload: `lvs_sync_daemon` added, removed or changed takes effect now (the daemons are
    /// stopped and started again with the new parameters, in the role the current state of
    /// the instance they follow calls for); `state_of` gives an instance's current state.
    pub async fn reconfigure(
        &mut self,
        cfg: &Config,
        state_of: impl Fn(&str) -> Option<VrrpStateName>,
    ) {
        let new = SyncParams::from_config(cfg).filter(|_| self.enabled);
        match (&self.tx, new) {
            (None, None) => {}
            (Some(_), None) => {
                tracing::info!(target: "syncd", "reload: lvs_sync_daemon removed; stopping the sync daemons");
                self.shutdown(Duration::from_secs(2)).await;
                self.tx = None;
            }
            (None, Some(p)) => {
                tracing::info!(target: "syncd", "reload: lvs_sync_daemon added");
                let state = state_of(&p.instance);
                *self = Self::spawn_with(cfg, self.enabled, state);
            }
            (Some(tx), Some(p)) => {
                let state = state_of(&p.instance);
                let _ = tx.send(Msg::Reconfigure(p, state));
            }
        }
    }

    /// Feed every event; VRRP instance transitions drive the daemons.
    pub fn observe(&self, ev: &Event) {
        if let (Some(tx), Event::VrrpInstance { instance, to, .. }) = (&self.tx, ev) {
            let _ = tx.send(Msg::State(instance.clone(), *to));
        }
    }

    /// Stops the daemons; waits at most `budget`.
    pub async fn shutdown(&self, budget: Duration) {
        let Some(tx) = &self.tx else { return };
        let (done_tx, done_rx) = std_mpsc::channel();
        if tx.send(Msg::Shutdown(done_tx)).is_err() {
            return;
        }
        let waited = tokio::task::spawn_blocking(move || done_rx.recv_timeout(budget)).await;
        if !matches!(waited, Ok(Ok(()))) {
            tracing::warn!(target: "syncd", "the IPVS sync daemons were not stopped within {budget:?}");
        }
    }
}

fn run_thread(mut params: SyncParams, state: Option<VrrpStateName>, rx: std_mpsc::Receiver<Msg>) {
    let mut core = SyncdCore::new(&params.instance);
    let mut client = match Client::connect() {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::error!(target: "syncd", "lvs_sync_daemon: {e}; connections will not be synchronised");
            None
        }
    };
    // A daemon left running by a previous rampart that was killed (the kernel keeps it) would
    // run beside ours with its old role: start from a clean slate.
    if let Some(c) = client.as_mut() {
        for d in c.daemons().unwrap_or_default() {
            let role = match d.state {
                Some(IP_VS_STATE_MASTER) => Role::Master,
                Some(IP_VS_STATE_BACKUP) => Role::Backup,
                _ => continue,
            };
            tracing::info!(
                target: "syncd",
                "stopping the {} sync daemon left running on {} by an earlier run",
                role.as_str(),
                d.mcast_ifn.as_deref().unwrap_or("?")
            );
            if let Err(e) = execute(c, &params, Op::Stop(role)) {
                tracing::error!(target: "syncd", "cannot stop the leftover {} sync daemon: {e}", role.as_str());
            }
        }
    }
    let apply = |client: &mut Option<Client<_>>, params: &SyncParams, ops: Vec<Op>, why: &str| {
        let Some(client) = client.as_mut() else {
            return;
        };
        for op in ops {
            let (verb, role) = match op {
                Op::Start(r) => ("started", r),
                Op::Stop(r) => ("stopped", r),
            };
            match execute(client, params, op) {
                Ok(()) => tracing::info!(
                    target: "syncd",
                    "IPVS sync daemon {verb}: {} on {} (syncid {}), {why}",
                    role.as_str(), params.interface, params.sync_id
                ),
                Err(e) => tracing::error!(
                    target: "syncd",
                    "IPVS sync daemon {} on {} could not be {verb}: {e}",
                    role.as_str(), params.interface
                ),
            }
        }
    };
    let first = core.follow(&params.instance.clone(), state);
    apply(&mut client, &params, first, "start-up");
    while let Ok(msg) = rx.recv() {
        match msg {
            Msg::State(instance, to) => {
                let ops = core.on_instance_state(&instance, to);
                apply(
                    &mut client,
                    &params,
                    ops,
                    &format!("{instance} is {}", to.as_str()),
                );
            }
            Msg::Reconfigure(new, state) => {
                if new == params {
                    continue;
                }
                if !new.same_daemon(&params) {
                    // The kernel takes a daemon's parameters only when it starts: stop it with
                    // the old ones, start it with the new ones.
                    let stops = core.shutdown();
                    apply(
                        &mut client,
                        &params,
                        stops,
                        "reload: lvs_sync_daemon changed",
                    );
                }
                let why = format!("reload: following {}", new.instance);
                params = new;
                let ops = core.follow(&params.instance.clone(), state);
                apply(&mut client, &params, ops, &why);
            }
            Msg::Shutdown(done) => {
                let ops = core.shutdown();
                apply(&mut client, &params, ops, "shutting down");
                let _ = done.send(());
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipvs::fake::FakeKernel;
    use VrrpStateName::*;

    #[test]
    fn follows_the_instance_like_keepalived() {
        let mut c = SyncdCore::new("LVS_LAN");
        assert_eq!(c.start(), vec![Op::Start(Role::Backup)]);
        assert_eq!(c.on_instance_state("LVS_WAN", Master), vec![]);
        assert_eq!(
            c.on_instance_state("LVS_LAN", Master),
            vec![Op::Stop(Role::Backup), Op::Start(Role::Master)]
        );
        assert_eq!(c.on_instance_state("LVS_LAN", Master), vec![]);
        assert_eq!(
            c.on_instance_state("LVS_LAN", Fault),
            vec![Op::Stop(Role::Master), Op::Start(Role::Backup)]
        );
        assert_eq!(c.on_instance_state("LVS_LAN", Backup), vec![]);
        assert_eq!(c.shutdown(), vec![Op::Stop(Role::Backup)]);
        assert_eq!(c.shutdown(), vec![]);
    }

    #[test]
    fn a_reload_follows_the_named_instance_in_its_current_state() {
        let mut c = SyncdCore::new("OLD");
        c.start();
        // Renamed instance, still BACKUP: nothing to do; its transitions count from now on.
        assert_eq!(c.follow("NEW", Some(Backup)), vec![]);
        assert_eq!(c.on_instance_state("OLD", Master), vec![]);
        assert_eq!(
            c.on_instance_state("NEW", Master),
            vec![Op::Stop(Role::Backup), Op::Start(Role::Master)]
        );
        // Restarted with new parameters (shutdown first), the instance being MASTER.
        assert_eq!(c.shutdown(), vec![Op::Stop(Role::Master)]);
        assert_eq!(c.follow("NEW", Some(Master)), vec![Op::Start(Role::Master)]);
        // State not known: the backup daemon, as at start-up.
        let mut d = SyncdCore::new("X");
        assert_eq!(d.follow("X", None), vec![Op::Start(Role::Backup)]);
    }

    #[test]
    fn only_kernel_parameters_make_a_different_daemon() {
        let p = params();
        let renamed = SyncParams {
            instance: "OTHER".into(),
            ..params()
        };
        assert!(p.same_daemon(&renamed));
        let other_id = SyncParams {
            sync_id: 7,
            ..params()
        };
        assert!(!p.same_daemon(&other_id));
    }

    #[test]
    fn stop_state_stops_the_daemon() {
        let mut c = SyncdCore::new("I");
        c.start();
        c.on_instance_state("I", Master);
        assert_eq!(c.on_instance_state("I", Stop), vec![Op::Stop(Role::Master)]);
        assert_eq!(c.running(), None);
    }

    fn params() -> SyncParams {
        SyncParams {
            instance: "LVS_LAN".into(),
            interface: "eth1".into(),
            sync_id: 100,
            maxlen: None,
            port: Some(8849),
            ttl: None,
            group: None,
        }
    }

    #[test]
    fn executes_on_a_kernel_and_restarts_a_leftover_daemon() {
        let mut k = Client::with_transport(FakeKernel::new()).expect("fake kernel");
        let p = params();
        execute(&mut k, &p, Op::Start(Role::Backup)).unwrap();
        // A second start (a leftover of a killed rampart) replaces it instead of failing.
        execute(&mut k, &p, Op::Start(Role::Backup)).unwrap();
        execute(&mut k, &p, Op::Stop(Role::Backup)).unwrap();
        // Stopping what is not running is not an error.
        execute(&mut k, &p, Op::Stop(Role::Master)).unwrap();
        execute(&mut k, &p, Op::Start(Role::Master)).unwrap();
        let daemons = k.daemons().unwrap();
        assert_eq!(daemons.len(), 1);
        assert_eq!(daemons[0].state, Some(IP_VS_STATE_MASTER));
        assert_eq!(daemons[0].mcast_ifn.as_deref(), Some("eth1"));
        assert_eq!(daemons[0].sync_id, Some(100));
        assert_eq!(daemons[0].mcast_port, Some(8849));
    }

    #[test]
    fn sync_id_defaults_to_the_vrid() {
        let text = "global_defs {\n lvs_sync_daemon eth1 VI_1\n}\nvrrp_instance VI_1 {\n interface eth1\n virtual_router_id 51\n priority 100\n virtual_ipaddress {\n 10.0.0.1\n }\n}\n";
        let loaded = crate::config::load_str("syncd-test.conf", text, &Default::default());
        let Ok(loaded) = loaded else {
            panic!("config did not load: {:?}", loaded.err())
        };
        let p = SyncParams::from_config(&loaded.config).unwrap();
        assert_eq!((p.sync_id, p.interface.as_str()), (51, "eth1"));
    }
}
