//! `rampart realserver setup|teardown`: prepare a Linux host as an LVS-DR or LVS-TUN real server,
//! and undo exactly that.
//!
//! What a real server needs (the seeds spend pages on it, `../shared/seeds/` 001 and 003):
//! - **DR**: the VIP as a host address (/32, /128) on `lo`, so the kernel accepts packets the
//!   director forwarded by MAC rewrite; `arp_ignore=1` and `arp_announce=2` on `all` and `lo`, so
//!   the real server never answers or advertises the VIP in ARP (the director must own it on the
//!   LAN). The kernel uses the maximum of `all` and the device value for both.
//! - **TUN**: the `ipip` module, `tunl0` up with the VIP/32 (decapsulated packets are addressed to
//!   the VIP), the same ARP settings, and `rp_filter` loosened on `tunl0` and `all`: the inner
//!   packet's source is the client, which strict reverse-path filtering would drop on `tunl0`.
//!
//! Shape: [`plan_setup`] and [`plan_teardown`] are pure functions from an [`Observed`] snapshot
//! of the host to the list of [`Change`]s. The shell ([`Kernel`], [`LiveKernel`]) observes and
//! applies one change at a time, re-observing and re-planning after each, and records every
//! change actually made in a state file, so that teardown undoes exactly those and nothing
//! else. A failure part-way rolls back what was done.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `println!` that ignores a closed stdout (`rampart ... | head`) instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// Where setup records what it changed, unless `--state FILE` says otherwise.
pub const DEFAULT_STATE_FILE: &str = "/run/rampart/realserver.json";

const TUNNEL_DEV: &str = "tunl0";
const LOOPBACK_DEV: &str = "lo";
const IPIP_MODULE: &str = "ipip";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Direct routing: VIP on lo.
    Dr,
    /// IP-in-IP tunnelling: VIP on tunl0.
    Tun,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Dr => "dr",
            Mode::Tun => "tun",
        })
    }
}

/// One change to the kernel's state, as recorded in the state file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// `modprobe MODULE` (it was not loaded before).
    LoadModule { module: String },
    /// `ip link add DEV type ipip` (the module was loaded but created no fallback device, as
    /// happens in a namespace when `net.core.fb_tunnels_only_for_init_net` is set).
    CreateTunnel { dev: String },
    /// `ip link set DEV up` (it was down).
    LinkUp { dev: String },
    /// `ip addr add ADDR/LEN dev DEV` (it was absent).
    AddAddr {
        dev: String,
        addr: IpAddr,
        prefix_len: u8,
    },
    /// `sysctl -w KEY=TO`; the value was FROM.
    SetSysctl {
        key: String,
        from: String,
        to: String,
    },
}

impl Change {
    /// The shell command with the same effect.
    pub fn command(&self) -> String {
        match self {
            Change::LoadModule { module } => format!("modprobe {module}"),
            Change::CreateTunnel { dev } => format!("ip link add {dev} type ipip"),
            Change::LinkUp { dev } => format!("ip link set {dev} up"),
            Change::AddAddr {
                dev,
                addr,
                prefix_len,
            } => format!("ip addr add {addr}/{prefix_len} dev {dev}"),
            Change::SetSysctl { key, to, .. } => format!("sysctl -w {key}={to}"),
        }
    }
}

/// How teardown reverts one recorded change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Undo {
    UnloadModule {
        module: String,
    },
    DeleteLink {
        dev: String,
    },
    LinkDown {
        dev: String,
    },
    DelAddr {
        dev: String,
        addr: IpAddr,
        prefix_len: u8,
    },
    SetSysctl {
        key: String,
        value: String,
    },
}

impl Undo {
    pub fn command(&self) -> String {
        match self {
            Undo::UnloadModule { module } => format!("modprobe -r {module}"),
            Undo::DeleteLink { dev } => format!("ip link del {dev}"),
            Undo::LinkDown { dev } => format!("ip link set {dev} down"),
            Undo::DelAddr {
                dev,
                addr,
                prefix_len,
            } => format!("ip addr del {addr}/{prefix_len} dev {dev}"),
            Undo::SetSysctl { key, value } => format!("sysctl -w {key}={value}"),
        }
    }
}

/// One teardown step: either an undo, or a recorded change left alone and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TeardownStep {
    Undo(Undo),
    Skip { change: Change, reason: String },
}

/// One network device as observed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkState {
    pub up: bool,
    pub addrs: Vec<(IpAddr, u8)>,
}

/// What the planners need to know about the host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    /// `/sys/module/ipip` exists (loaded, or built in).
    pub ipip_loaded: bool,
    pub links: BTreeMap<String, LinkState>,
    /// Dotted sysctl names (`net.ipv4.conf.all.arp_ignore`) to their current value; a name
    /// that does not exist (device absent) is not in the map.
    pub sysctls: BTreeMap<String, String>,
}

impl Observed {
    fn has_addr(&self, dev: &str, addr: IpAddr) -> bool {
        self.links
            .get(dev)
            .is_some_and(|l| l.addrs.iter().any(|(a, _)| *a == addr))
    }
    /// Devices other than `dev` that carry `addr`.
    fn addr_elsewhere(&self, dev: &str, addr: IpAddr) -> Vec<&str> {
        self.links
            .iter()
            .filter(|(name, l)| name.as_str() != dev && l.addrs.iter().any(|(a, _)| *a == addr))
            .map(|(name, _)| name.as_str())
            .collect()
    }
}

/// What setup wrote: enough for teardown to undo it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateFile {
    /// Format version of this file.
    pub version: u32,
    pub mode: Mode,
    pub vips: Vec<IpAddr>,
    /// The changes actually made, in the order they were made.
    pub changes: Vec<Change>,
}

#[derive(Debug, thiserror::Error)]
pub enum RealserverError {
    #[error("no VIP given: use --vip ADDR (one or more)")]
    NoVip,
    #[error(
        "{0} is an IPv6 address: LVS-TUN real servers need ip6tnl, which `rampart realserver` does not set up yet; use --mode dr or prepare ip6tnl0 by hand"
    )]
    TunIpv6(IpAddr),
    #[error(
        "VIP {vip} is already on {devs}: a real server must not own the VIP on a network interface (it would answer ARP for it and steal the director's traffic); remove it there first (`ip addr del {vip}/{len} dev {first}`)",
        devs = .devs.join(", "), first = .devs[0],
        len = if .vip.is_ipv4() { 32 } else { 128 }
    )]
    VipElsewhere { vip: IpAddr, devs: Vec<String> },
    #[error(
        "already set up: {0} exists (written by an earlier `rampart realserver setup`); run `rampart realserver teardown` first"
    )]
    AlreadySetUp(PathBuf),
    #[error("cannot read state file {path}: {source}")]
    StateRead {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("state file {path} is not a rampart realserver state file: {source}")]
    StateParse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("cannot write state file {path}: {source}")]
    StateWrite {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read sysctl {key} ({path}): {source}")]
    SysctlRead {
        key: String,
        path: String,
        source: std::io::Error,
    },
    #[error("cannot set sysctl {key}={value} ({path}): {source}")]
    SysctlWrite {
        key: String,
        value: String,
        path: String,
        source: std::io::Error,
    },
    #[error("cannot list interfaces and addresses: {0}")]
    Observe(#[source] nix::Error),
    #[error(
        "`modprobe {module}` failed: {detail}; this kernel has no {module} support (LVS-TUN real servers need CONFIG_NET_IPIP)"
    )]
    Module { module: String, detail: String },
    #[error("rtnetlink: {what}: {detail}")]
    Netlink { what: String, detail: String },
    #[error("no such device {0}")]
    NoDevice(String),
    #[error("setup does not converge: the kernel still needs `{0}` after it was applied")]
    NoProgress(String),
}

// ---------------------------------------------------------------------------------------------
// Pure planning
// ---------------------------------------------------------------------------------------------

fn conf_key(dev: &str, name: &str) -> String {
    format!("net.ipv4.conf.{dev}.{name}")
}

fn host_prefix(addr: IpAddr) -> u8 {
    if addr.is_ipv4() { 32 } else { 128 }
}

/// The sysctls a mode cares about, so the shell knows what to observe.
pub fn sysctl_keys(mode: Mode) -> Vec<String> {
    let mut keys = vec![
        conf_key("all", "arp_ignore"),
        conf_key("all", "arp_announce"),
        conf_key("default", "arp_ignore"),
        conf_key("default", "arp_announce"),
        conf_key("default", "rp_filter"),
    ];
    match mode {
        Mode::Dr => {
            keys.push(conf_key(LOOPBACK_DEV, "arp_ignore"));
            keys.push(conf_key(LOOPBACK_DEV, "arp_announce"));
        }
        Mode::Tun => {
            keys.push(conf_key("all", "rp_filter"));
            keys.push(conf_key(TUNNEL_DEV, "rp_filter"));
            keys.push(conf_key(TUNNEL_DEV, "arp_ignore"));
            keys.push(conf_key(TUNNEL_DEV, "arp_announce"));
        }
    }
    keys
}

/// A sysctl requirement: the values that are already good enough, and the value to set.
struct Want {
    key: String,
    acceptable: &'static [&'static str],
    set_to: &'static str,
}

/// arp_ignore 1 (reply only for addresses on the receiving interface) or 2 (and only from the
/// same subnet) both keep the VIP out of ARP replies; 3 and 8 do not fit (3 still answers for
/// global addresses on lo, 8 stops all ARP).
const ARP_IGNORE_OK: &[&str] = &["1", "2"];
const ARP_ANNOUNCE_OK: &[&str] = &["2"];
/// 0 (off) and 2 (loose) let the client's source address in through tunl0; 1 (strict) does not.
const RP_FILTER_OK: &[&str] = &["0", "2"];

/// The changes that make this host a real server for `vips` in `mode`, given what it has now.
/// An empty plan means there is nothing left to do.
pub fn plan_setup(
    mode: Mode,
    vips: &[IpAddr],
    obs: &Observed,
) -> Result<Vec<Change>, RealserverError> {
    if vips.is_empty() {
        return Err(RealserverError::NoVip);
    }
    // A VIP given twice is one VIP.
    let mut unique: Vec<IpAddr> = Vec::with_capacity(vips.len());
    for v in vips {
        if !unique.contains(v) {
            unique.push(*v);
        }
    }
    let vips = unique.as_slice();
    let dev = match mode {
        Mode::Dr => LOOPBACK_DEV,
        Mode::Tun => TUNNEL_DEV,
    };
    for &vip in vips {
        if mode == Mode::Tun && vip.is_ipv6() {
            return Err(RealserverError::TunIpv6(vip));
        }
        let elsewhere = obs.addr_elsewhere(dev, vip);
        if !elsewhere.is_empty() {
            return Err(RealserverError::VipElsewhere {
                vip,
                devs: elsewhere.into_iter().map(String::from).collect(),
            });
        }
    }

    let mut plan = Vec::new();
    // The device the VIPs go on. For TUN it may not exist yet: loading ipip creates tunl0 with
    // the `default` sysctl values, which is what the rest of the plan assumes.
    let device_present = obs.links.contains_key(dev);
    if mode == Mode::Tun && !device_present {
        if !obs.ipip_loaded {
            plan.push(Change::LoadModule {
                module: IPIP_MODULE.into(),
            });
        } else {
            plan.push(Change::CreateTunnel {
                dev: TUNNEL_DEV.into(),
            });
        }
    }
    let up = obs.links.get(dev).is_some_and(|l| l.up);
    if !up {
        plan.push(Change::LinkUp { dev: dev.into() });
    }
    for &vip in vips {
        if !obs.has_addr(dev, vip) {
            plan.push(Change::AddAddr {
                dev: dev.into(),
                addr: vip,
                prefix_len: host_prefix(vip),
            });
        }
    }

    // ARP only concerns IPv4; an IPv6 VIP on lo is never answered in neighbour discovery on
    // another interface, so an IPv6-only DR real server needs no sysctl at all.
    let mut wants = Vec::new();
    if vips.iter().any(|v| v.is_ipv4()) {
        let arp_devs: &[&str] = match mode {
            Mode::Dr => &["all", LOOPBACK_DEV],
            Mode::Tun => &["all"],
        };
        for d in arp_devs {
            wants.push(Want {
                key: conf_key(d, "arp_ignore"),
                acceptable: ARP_IGNORE_OK,
                set_to: "1",
            });
            wants.push(Want {
                key: conf_key(d, "arp_announce"),
                acceptable: ARP_ANNOUNCE_OK,
                set_to: "2",
            });
        }
    }
    if mode == Mode::Tun {
        for d in ["all", TUNNEL_DEV] {
            wants.push(Want {
                key: conf_key(d, "rp_filter"),
                acceptable: RP_FILTER_OK,
                set_to: "2",
            });
        }
    }
    for want in wants {
        let current = match obs.sysctls.get(&want.key) {
            Some(v) => Some(v.clone()),
            // A device that does not exist yet starts with the `default` values.
            None if !device_present && want.key.contains(&format!(".{dev}.")) => {
                let name = want.key.rsplit('.').next().unwrap_or_default();
                obs.sysctls.get(&conf_key("default", name)).cloned()
            }
            None => None,
        };
        match current {
            Some(v) if want.acceptable.contains(&v.as_str()) => {}
            Some(v) => plan.push(Change::SetSysctl {
                key: want.key,
                from: v,
                to: want.set_to.into(),
            }),
            // Unknown current value (should not happen on Linux): set it, and restore the
            // kernel default 0 on teardown.
            None => plan.push(Change::SetSysctl {
                key: want.key,
                from: "0".into(),
                to: want.set_to.into(),
            }),
        }
    }
    Ok(plan)
}

/// How to undo `state.changes` given the host as it is now: in reverse order, and only where
/// the host still shows what setup did (a value changed since by someone else is left alone).
/// `keep_module`: never unload a module setup loaded (it is shared by every namespace).
pub fn plan_teardown(state: &StateFile, obs: &Observed, keep_module: bool) -> Vec<TeardownStep> {
    let mut steps = Vec::new();
    for change in state.changes.iter().rev() {
        let skip = |reason: String| TeardownStep::Skip {
            change: change.clone(),
            reason,
        };
        let step = match change {
            Change::SetSysctl { key, from, to } => match obs.sysctls.get(key) {
                Some(now) if now == to => TeardownStep::Undo(Undo::SetSysctl {
                    key: key.clone(),
                    value: from.clone(),
                }),
                Some(now) => skip(format!(
                    "{key} is {now} now, not the {to} setup wrote: someone changed it since; left as is"
                )),
                None => skip(format!("{key} no longer exists (its device is gone)")),
            },
            Change::AddAddr {
                dev,
                addr,
                prefix_len,
            } => {
                if obs.has_addr(dev, *addr) {
                    TeardownStep::Undo(Undo::DelAddr {
                        dev: dev.clone(),
                        addr: *addr,
                        prefix_len: *prefix_len,
                    })
                } else {
                    skip(format!("{addr} is no longer on {dev}"))
                }
            }
            Change::LinkUp { dev } => match obs.links.get(dev) {
                Some(l) if l.up => TeardownStep::Undo(Undo::LinkDown { dev: dev.clone() }),
                Some(_) => skip(format!("{dev} is already down")),
                None => skip(format!("{dev} no longer exists")),
            },
            Change::CreateTunnel { dev } => {
                if obs.links.contains_key(dev) {
                    TeardownStep::Undo(Undo::DeleteLink { dev: dev.clone() })
                } else {
                    skip(format!("{dev} no longer exists"))
                }
            }
            Change::LoadModule { module } => {
                if keep_module {
                    skip(format!(
                        "module {module} kept loaded (--keep-module); `modprobe -r {module}` removes it"
                    ))
                } else if !obs.ipip_loaded {
                    skip(format!("module {module} is no longer loaded"))
                } else {
                    TeardownStep::Undo(Undo::UnloadModule {
                        module: module.clone(),
                    })
                }
            }
        };
        steps.push(step);
    }
    steps
}

// ---------------------------------------------------------------------------------------------
// The shell
// ---------------------------------------------------------------------------------------------

/// The host operations the planners' output needs. [`LiveKernel`] is the real one.
pub trait Kernel {
    fn observe(&mut self, mode: Mode) -> Result<Observed, RealserverError>;
    fn apply(&mut self, change: &Change) -> Result<(), RealserverError>;
    fn undo(&mut self, undo: &Undo) -> Result<(), RealserverError>;
}

/// The running kernel: /proc/sys for sysctls, rtnetlink for links and addresses, `modprobe`
/// for modules (module loading has no netlink interface; modprobe resolves dependencies).
pub struct LiveKernel {
    rt: tokio::runtime::Runtime,
}

impl LiveKernel {
    pub fn new() -> std::io::Result<LiveKernel> {
        Ok(LiveKernel {
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?,
        })
    }
}

/// `/proc/sys` path of a dotted `net.ipv4.conf.DEV.NAME` key. The device part is taken whole,
/// so a device name containing dots (VLANs) maps correctly.
fn sysctl_path(key: &str) -> String {
    if let Some((dev, name)) = key
        .strip_prefix("net.ipv4.conf.")
        .and_then(|rest| rest.rsplit_once('.'))
    {
        return format!("/proc/sys/net/ipv4/conf/{dev}/{name}");
    }
    format!("/proc/sys/{}", key.replace('.', "/"))
}

fn read_sysctl(key: &str) -> Result<Option<String>, RealserverError> {
    let path = sysctl_path(key);
    match std::fs::read_to_string(&path) {
        Ok(v) => Ok(Some(v.trim().to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(RealserverError::SysctlRead {
            key: key.into(),
            path,
            source,
        }),
    }
}

fn write_sysctl(key: &str, value: &str) -> Result<(), RealserverError> {
    let path = sysctl_path(key);
    std::fs::write(&path, value).map_err(|source| RealserverError::SysctlWrite {
        key: key.into(),
        value: value.into(),
        path,
        source,
    })
}

fn prefix_len_of(mask: &nix::sys::socket::SockaddrStorage) -> u8 {
    if let Some(m) = mask.as_sockaddr_in() {
        return u32::from(m.ip()).count_ones() as u8;
    }
    if let Some(m) = mask.as_sockaddr_in6() {
        return u128::from(m.ip()).count_ones() as u8;
    }
    0
}

/// Interfaces (with their up flag) and addresses, from getifaddrs.
pub fn observe_links() -> Result<BTreeMap<String, LinkState>, nix::Error> {
    let mut links: BTreeMap<String, LinkState> = BTreeMap::new();
    for ifa in nix::ifaddrs::getifaddrs()? {
        let entry = links.entry(ifa.interface_name.clone()).or_default();
        entry.up |= ifa.flags.contains(nix::net::if_::InterfaceFlags::IFF_UP);
        let Some(addr) = ifa.address else { continue };
        let ip: IpAddr = if let Some(a) = addr.as_sockaddr_in() {
            IpAddr::V4(a.ip())
        } else if let Some(a) = addr.as_sockaddr_in6() {
            IpAddr::V6(a.ip())
        } else {
            continue;
        };
        let len = ifa.netmask.as_ref().map(prefix_len_of).unwrap_or(0);
        entry.addrs.push((ip, len));
    }
    Ok(links)
}

fn run_modprobe(args: &[&str], module: &str) -> Result<(), RealserverError> {
    let out = std::process::Command::new("modprobe")
        .args(args)
        .arg(module)
        .output()
        .map_err(|e| RealserverError::Module {
            module: module.into(),
            detail: format!("cannot run modprobe: {e}"),
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(RealserverError::Module {
            module: module.into(),
            detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

fn netlink_err(what: impl Into<String>) -> impl FnOnce(rtnetlink::Error) -> RealserverError {
    let what = what.into();
    move |e| RealserverError::Netlink {
        what,
        detail: e.to_string(),
    }
}

async fn link_index(handle: &rtnetlink::Handle, dev: &str) -> Result<u32, RealserverError> {
    use futures::TryStreamExt;
    let mut links = handle.link().get().match_name(dev.to_string()).execute();
    match links.try_next().await {
        Ok(Some(msg)) => Ok(msg.header.index),
        Ok(None) => Err(RealserverError::NoDevice(dev.into())),
        Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -libc::ENODEV => {
            Err(RealserverError::NoDevice(dev.into()))
        }
        Err(e) => Err(netlink_err(format!("looking up {dev}"))(e)),
    }
}

impl LiveKernel {
    fn netlink<T>(
        &self,
        f: impl AsyncFnOnce(rtnetlink::Handle) -> Result<T, RealserverError>,
    ) -> Result<T, RealserverError> {
        self.rt.block_on(async {
            let (conn, handle, _) =
                rtnetlink::new_connection().map_err(|e| RealserverError::Netlink {
                    what: "opening a netlink socket".into(),
                    detail: e.to_string(),
                })?;
            let task = tokio::spawn(conn);
            let r = f(handle).await;
            task.abort();
            r
        })
    }

    fn set_link(&self, dev: &str, up: bool) -> Result<(), RealserverError> {
        self.netlink(async |h| {
            let index = link_index(&h, dev).await?;
            let b = rtnetlink::LinkUnspec::new_with_index(index);
            let msg = if up { b.up() } else { b.down() }.build();
            h.link()
                .set(msg)
                .execute()
                .await
                .map_err(netlink_err(format!(
                    "setting {dev} {}",
                    if up { "up" } else { "down" }
                )))
        })
    }
}

impl Kernel for LiveKernel {
    fn observe(&mut self, mode: Mode) -> Result<Observed, RealserverError> {
        let mut sysctls = BTreeMap::new();
        for key in sysctl_keys(mode) {
            if let Some(v) = read_sysctl(&key)? {
                sysctls.insert(key, v);
            }
        }
        Ok(Observed {
            ipip_loaded: Path::new("/sys/module/ipip").exists(),
            links: observe_links().map_err(RealserverError::Observe)?,
            sysctls,
        })
    }

    fn apply(&mut self, change: &Change) -> Result<(), RealserverError> {
        match change {
            Change::LoadModule { module } => run_modprobe(&[], module),
            Change::CreateTunnel { dev } => self.netlink(async |h| {
                h.link()
                    .add(rtnetlink::LinkIpIp::new(dev).build())
                    .execute()
                    .await
                    .map_err(netlink_err(format!("creating {dev}")))
            }),
            Change::LinkUp { dev } => self.set_link(dev, true),
            Change::AddAddr {
                dev,
                addr,
                prefix_len,
            } => self.netlink(async |h| {
                let index = link_index(&h, dev).await?;
                h.address()
                    .add(index, *addr, *prefix_len)
                    .execute()
                    .await
                    .map_err(netlink_err(format!("adding {addr}/{prefix_len} to {dev}")))
            }),
            Change::SetSysctl { key, to, .. } => write_sysctl(key, to),
        }
    }

    fn undo(&mut self, undo: &Undo) -> Result<(), RealserverError> {
        match undo {
            Undo::UnloadModule { module } => run_modprobe(&["-r"], module),
            Undo::DeleteLink { dev } => self.netlink(async |h| {
                let index = link_index(&h, dev).await?;
                h.link()
                    .del(index)
                    .execute()
                    .await
                    .map_err(netlink_err(format!("deleting {dev}")))
            }),
            Undo::LinkDown { dev } => self.set_link(dev, false),
            Undo::DelAddr {
                dev,
                addr,
                prefix_len,
            } => self.netlink(async |h| {
                use futures::TryStreamExt;
                let index = link_index(&h, dev).await?;
                let mut found = h
                    .address()
                    .get()
                    .set_link_index_filter(index)
                    .set_address_filter(*addr)
                    .set_prefix_length_filter(*prefix_len)
                    .execute();
                let what = format!("removing {addr}/{prefix_len} from {dev}");
                while let Some(msg) = found.try_next().await.map_err(netlink_err(&what))? {
                    h.address()
                        .del(msg)
                        .execute()
                        .await
                        .map_err(netlink_err(&what))?;
                }
                Ok(())
            }),
            Undo::SetSysctl { key, value } => write_sysctl(key, value),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Orchestration (shell-independent, so it runs against a fake kernel in unit tests)
// ---------------------------------------------------------------------------------------------

fn save_state(path: &Path, state: &StateFile) -> Result<(), RealserverError> {
    let write = || -> std::io::Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension("json.tmp");
        let mut text = serde_json::to_string_pretty(state).map_err(std::io::Error::other)?;
        text.push('\n');
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|source| RealserverError::StateWrite {
        path: path.into(),
        source,
    })
}

/// Read the state file; `Ok(None)` when there is none.
pub fn load_state(path: &Path) -> Result<Option<StateFile>, RealserverError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(RealserverError::StateRead {
                path: path.into(),
                source,
            });
        }
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|source| RealserverError::StateParse {
            path: path.into(),
            source,
        })
}

/// What a run did, for the user.
#[derive(Debug, Default)]
pub struct Report {
    pub lines: Vec<String>,
}

/// Apply setup one change at a time, re-planning after each, recording every change in the
/// state file as soon as it is made. On failure, undo what was done and remove the state file.
pub fn setup(
    kernel: &mut dyn Kernel,
    mode: Mode,
    vips: &[IpAddr],
    state_path: &Path,
    report: &mut Report,
) -> Result<StateFile, RealserverError> {
    if state_path.exists() {
        return Err(RealserverError::AlreadySetUp(state_path.into()));
    }
    let mut state = StateFile {
        version: 1,
        mode,
        vips: vips.to_vec(),
        changes: Vec::new(),
    };
    let result = (|| -> Result<(), RealserverError> {
        // Each applied change removes itself from the next plan; a bound guards against a
        // kernel that silently ignores a change.
        let mut last: Option<Change> = None;
        for _ in 0..64 {
            let obs = kernel.observe(mode)?;
            let plan = plan_setup(mode, vips, &obs)?;
            let Some(next) = plan.into_iter().next() else {
                return Ok(());
            };
            if last.as_ref() == Some(&next) {
                return Err(RealserverError::NoProgress(next.command()));
            }
            kernel.apply(&next)?;
            report.lines.push(format!("done: {}", next.command()));
            state.changes.push(next.clone());
            save_state(state_path, &state)?;
            last = Some(next);
        }
        Err(RealserverError::NoProgress("(too many steps)".into()))
    })();
    match result {
        Ok(()) => {
            if state.changes.is_empty() {
                report
                    .lines
                    .push("nothing to change: this host is already prepared".into());
            }
            // Recorded even when empty, so a later teardown knows there is nothing to undo.
            save_state(state_path, &state)?;
            Ok(state)
        }
        Err(e) => {
            report
                .lines
                .push("setup failed; rolling back what was done".to_string());
            rollback(kernel, &state, report);
            let _ = std::fs::remove_file(state_path);
            Err(e)
        }
    }
}

fn rollback(kernel: &mut dyn Kernel, state: &StateFile, report: &mut Report) {
    let obs = match kernel.observe(state.mode) {
        Ok(o) => o,
        Err(e) => {
            report.lines.push(format!(
                "cannot observe the host to roll back ({e}); undo by hand: {:?}",
                state
                    .changes
                    .iter()
                    .map(Change::command)
                    .collect::<Vec<_>>()
            ));
            return;
        }
    };
    for step in plan_teardown(state, &obs, false) {
        match step {
            TeardownStep::Undo(u) => match kernel.undo(&u) {
                Ok(()) => report.lines.push(format!("undone: {}", u.command())),
                Err(e) => report
                    .lines
                    .push(format!("rollback step `{}` failed: {e}", u.command())),
            },
            TeardownStep::Skip { reason, .. } => report.lines.push(format!("left: {reason}")),
        }
    }
}

/// Undo what the state file records, then remove it. Steps that fail are reported and the
/// rest still run; the state file is kept when any step failed, so the run can be repeated.
pub fn teardown(
    kernel: &mut dyn Kernel,
    state_path: &Path,
    keep_module: bool,
    report: &mut Report,
) -> Result<bool, RealserverError> {
    let Some(state) = load_state(state_path)? else {
        report.lines.push(format!(
            "nothing to tear down: no state file at {} (setup was not run, or was already undone)",
            state_path.display()
        ));
        return Ok(true);
    };
    let obs = kernel.observe(state.mode)?;
    let mut ok = true;
    for step in plan_teardown(&state, &obs, keep_module) {
        match step {
            TeardownStep::Undo(u) => match kernel.undo(&u) {
                Ok(()) => report.lines.push(format!("done: {}", u.command())),
                Err(e) => {
                    ok = false;
                    report.lines.push(format!("failed: {}: {e}", u.command()));
                }
            },
            TeardownStep::Skip { reason, .. } => report.lines.push(format!("left: {reason}")),
        }
    }
    if ok {
        std::fs::remove_file(state_path).map_err(|source| RealserverError::StateWrite {
            path: state_path.into(),
            source,
        })?;
    }
    Ok(ok)
}

// ---------------------------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------------------------

#[derive(clap::Parser, Debug)]
#[command(
    name = "rampart realserver",
    about = "Prepare this host as an LVS-DR or LVS-TUN real server, or undo it"
)]
struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Subcommand, Debug)]
enum Cmd {
    /// Put the VIPs on lo (DR) or tunl0 (TUN) and set the ARP / rp_filter sysctls.
    Setup {
        #[arg(long, value_enum)]
        mode: Mode,
        /// Virtual IP address(es) of the LVS service (repeat, or list after one --vip).
        #[arg(long = "vip", value_name = "ADDR", num_args = 1.., required = true, value_parser = parse_vip)]
        vips: Vec<IpAddr>,
        /// Show the equivalent shell commands and change nothing.
        #[arg(long)]
        print: bool,
        /// Where to record what was changed.
        #[arg(long = "state", value_name = "FILE", default_value = DEFAULT_STATE_FILE)]
        state: PathBuf,
    },
    /// Undo exactly what setup changed (as recorded in the state file).
    Teardown {
        /// Show the equivalent shell commands and change nothing.
        #[arg(long)]
        print: bool,
        #[arg(long = "state", value_name = "FILE", default_value = DEFAULT_STATE_FILE)]
        state: PathBuf,
        /// Leave a kernel module loaded even if setup loaded it (modules are shared by all
        /// network namespaces: unloading ipip removes tunl0 everywhere).
        #[arg(long)]
        keep_module: bool,
    },
}

/// `ADDR`, or `ADDR/32` / `ADDR/128` (a VIP on a real server is always a host address).
fn parse_vip(s: &str) -> Result<IpAddr, String> {
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let addr: IpAddr = addr.parse().map_err(|_| {
        format!("`{s}` is not an IP address (expected e.g. 10.0.0.100 or 2001:db8::64)")
    })?;
    if len.is_some_and(|l| l != host_prefix(addr).to_string()) {
        return Err(format!(
            "`{s}`: a real server holds the VIP as a host address; use /{} or no prefix",
            host_prefix(addr)
        ));
    }
    Ok(addr)
}

pub fn main(args: Vec<OsString>) -> ExitCode {
    use clap::Parser;
    let argv = std::iter::once(OsString::from("rampart realserver")).chain(args);
    let args = match Args::try_parse_from(argv) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let mut kernel = match LiveKernel::new() {
        Ok(k) => k,
        Err(e) => {
            eprintln!("rampart realserver: cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    let mut report = Report::default();
    let outcome = match args.cmd {
        Cmd::Setup {
            mode,
            vips,
            print: true,
            ..
        } => print_setup(&mut kernel, mode, &vips),
        Cmd::Setup {
            mode, vips, state, ..
        } => setup(&mut kernel, mode, &vips, &state, &mut report).map(|s| {
            report.lines.push(format!(
                "real server prepared for LVS-{} ({} change(s) recorded in {})",
                s.mode.to_string().to_uppercase(),
                s.changes.len(),
                state.display()
            ));
            true
        }),
        Cmd::Teardown {
            print: true,
            state,
            keep_module,
        } => print_teardown(&mut kernel, &state, keep_module),
        Cmd::Teardown {
            state, keep_module, ..
        } => teardown(&mut kernel, &state, keep_module, &mut report),
    };
    for line in &report.lines {
        out!("{line}");
    }
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("rampart realserver: {e}");
            ExitCode::from(1)
        }
    }
}

fn print_setup(
    kernel: &mut dyn Kernel,
    mode: Mode,
    vips: &[IpAddr],
) -> Result<bool, RealserverError> {
    let obs = kernel.observe(mode)?;
    let plan = plan_setup(mode, vips, &obs)?;
    if plan.is_empty() {
        out!("# nothing to change: this host is already prepared");
    }
    for c in &plan {
        out!("{}", c.command());
    }
    Ok(true)
}

fn print_teardown(
    kernel: &mut dyn Kernel,
    state_path: &Path,
    keep_module: bool,
) -> Result<bool, RealserverError> {
    let Some(state) = load_state(state_path)? else {
        out!(
            "# nothing to tear down: no state file at {}",
            state_path.display()
        );
        return Ok(true);
    };
    let obs = kernel.observe(state.mode)?;
    for step in plan_teardown(&state, &obs, keep_module) {
        match step {
            TeardownStep::Undo(u) => out!("{}", u.command()),
            TeardownStep::Skip { reason, .. } => out!("# left: {reason}"),
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// A fresh host: lo up with 127.0.0.1, eth0, Debian-ish defaults.
    fn host() -> Observed {
        let mut o = Observed::default();
        o.links.insert(
            "lo".into(),
            LinkState {
                up: true,
                addrs: vec![(v4("127.0.0.1"), 8)],
            },
        );
        o.links.insert(
            "eth0".into(),
            LinkState {
                up: true,
                addrs: vec![(v4("10.0.0.5"), 24)],
            },
        );
        for k in sysctl_keys(Mode::Dr)
            .into_iter()
            .chain(sysctl_keys(Mode::Tun))
        {
            if !k.contains(".tunl0.") {
                o.sysctls.insert(k, "0".into());
            }
        }
        o.sysctls.insert(conf_key("all", "rp_filter"), "1".into());
        o.sysctls
            .insert(conf_key("default", "rp_filter"), "1".into());
        o
    }

    /// A fake kernel that applies changes to an `Observed` and can be told to fail.
    struct Fake {
        obs: Observed,
        fail_on: Option<String>,
        tunl0_on_load: bool,
    }

    impl Kernel for Fake {
        fn observe(&mut self, _mode: Mode) -> Result<Observed, RealserverError> {
            Ok(self.obs.clone())
        }
        fn apply(&mut self, c: &Change) -> Result<(), RealserverError> {
            if self.fail_on.as_deref() == Some(c.command().as_str()) {
                return Err(RealserverError::Netlink {
                    what: c.command(),
                    detail: "injected".into(),
                });
            }
            let o = &mut self.obs;
            match c {
                Change::LoadModule { .. } => {
                    o.ipip_loaded = true;
                    if self.tunl0_on_load {
                        o.links.insert("tunl0".into(), LinkState::default());
                        for n in ["rp_filter", "arp_ignore", "arp_announce"] {
                            let d = o.sysctls[&conf_key("default", n)].clone();
                            o.sysctls.insert(conf_key("tunl0", n), d);
                        }
                    }
                }
                Change::CreateTunnel { dev } => {
                    o.links.insert(dev.clone(), LinkState::default());
                    for n in ["rp_filter", "arp_ignore", "arp_announce"] {
                        let d = o.sysctls[&conf_key("default", n)].clone();
                        o.sysctls.insert(conf_key(dev, n), d);
                    }
                }
                Change::LinkUp { dev } => o.links.get_mut(dev).unwrap().up = true,
                Change::AddAddr {
                    dev,
                    addr,
                    prefix_len,
                } => o
                    .links
                    .get_mut(dev)
                    .unwrap()
                    .addrs
                    .push((*addr, *prefix_len)),
                Change::SetSysctl { key, to, .. } => {
                    o.sysctls.insert(key.clone(), to.clone());
                }
            }
            Ok(())
        }
        fn undo(&mut self, u: &Undo) -> Result<(), RealserverError> {
            let o = &mut self.obs;
            match u {
                Undo::UnloadModule { .. } => {
                    o.ipip_loaded = false;
                    o.links.remove("tunl0");
                    o.sysctls.retain(|k, _| !k.contains(".tunl0."));
                }
                Undo::DeleteLink { dev } => {
                    o.links.remove(dev);
                    o.sysctls.retain(|k, _| !k.contains(&format!(".{dev}.")));
                }
                Undo::LinkDown { dev } => o.links.get_mut(dev).unwrap().up = false,
                Undo::DelAddr { dev, addr, .. } => o
                    .links
                    .get_mut(dev)
                    .unwrap()
                    .addrs
                    .retain(|(a, _)| a != addr),
                Undo::SetSysctl { key, value } => {
                    o.sysctls.insert(key.clone(), value.clone());
                }
            }
            Ok(())
        }
    }

    fn tmp_state() -> (tempfile::TempDir, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("rs.json");
        (d, p)
    }

    #[test]
    fn dr_plan_on_a_fresh_host() {
        let plan = plan_setup(Mode::Dr, &[v4("10.0.0.100")], &host()).unwrap();
        let cmds: Vec<String> = plan.iter().map(Change::command).collect();
        assert_eq!(
            cmds,
            [
                "ip addr add 10.0.0.100/32 dev lo",
                "sysctl -w net.ipv4.conf.all.arp_ignore=1",
                "sysctl -w net.ipv4.conf.all.arp_announce=2",
                "sysctl -w net.ipv4.conf.lo.arp_ignore=1",
                "sysctl -w net.ipv4.conf.lo.arp_announce=2",
            ]
        );
    }

    #[test]
    fn dr_plan_keeps_what_is_already_right() {
        let mut o = host();
        o.sysctls.insert(conf_key("all", "arp_ignore"), "2".into());
        o.sysctls
            .insert(conf_key("all", "arp_announce"), "2".into());
        o.links
            .get_mut("lo")
            .unwrap()
            .addrs
            .push((v4("10.0.0.100"), 32));
        let cmds: Vec<String> = plan_setup(Mode::Dr, &[v4("10.0.0.100")], &o)
            .unwrap()
            .iter()
            .map(Change::command)
            .collect();
        assert_eq!(
            cmds,
            [
                "sysctl -w net.ipv4.conf.lo.arp_ignore=1",
                "sysctl -w net.ipv4.conf.lo.arp_announce=2",
            ]
        );
    }

    #[test]
    fn ipv6_only_dr_needs_no_arp_sysctls_and_uses_128() {
        let cmds: Vec<String> = plan_setup(Mode::Dr, &[v4("2001:db8::64")], &host())
            .unwrap()
            .iter()
            .map(Change::command)
            .collect();
        assert_eq!(cmds, ["ip addr add 2001:db8::64/128 dev lo"]);
    }

    #[test]
    fn a_vip_given_twice_is_added_once() {
        let plan = plan_setup(Mode::Dr, &[v4("10.0.0.100"), v4("10.0.0.100")], &host()).unwrap();
        let adds = plan
            .iter()
            .filter(|c| matches!(c, Change::AddAddr { .. }))
            .count();
        assert_eq!(adds, 1);
    }

    #[test]
    fn vip_on_a_nic_is_refused() {
        let e = plan_setup(Mode::Dr, &[v4("10.0.0.5")], &host()).unwrap_err();
        assert!(matches!(e, RealserverError::VipElsewhere { .. }), "{e}");
        assert!(e.to_string().contains("eth0"), "{e}");
    }

    #[test]
    fn tun_refuses_ipv6_and_empty() {
        assert!(matches!(
            plan_setup(Mode::Tun, &[v4("2001:db8::1")], &host()),
            Err(RealserverError::TunIpv6(_))
        ));
        assert!(matches!(
            plan_setup(Mode::Dr, &[], &host()),
            Err(RealserverError::NoVip)
        ));
    }

    #[test]
    fn tun_plan_without_ipip_assumes_the_default_values_for_tunl0() {
        let cmds: Vec<String> = plan_setup(Mode::Tun, &[v4("10.0.0.100")], &host())
            .unwrap()
            .iter()
            .map(Change::command)
            .collect();
        assert_eq!(
            cmds,
            [
                "modprobe ipip",
                "ip link set tunl0 up",
                "ip addr add 10.0.0.100/32 dev tunl0",
                "sysctl -w net.ipv4.conf.all.arp_ignore=1",
                "sysctl -w net.ipv4.conf.all.arp_announce=2",
                "sysctl -w net.ipv4.conf.all.rp_filter=2",
                "sysctl -w net.ipv4.conf.tunl0.rp_filter=2",
            ]
        );
    }

    #[test]
    fn setup_then_teardown_restores_everything_tun() {
        for tunl0_on_load in [true, false] {
            let before = host();
            let mut k = Fake {
                obs: before.clone(),
                fail_on: None,
                tunl0_on_load,
            };
            let (_d, path) = tmp_state();
            let mut r = Report::default();
            let st = setup(&mut k, Mode::Tun, &[v4("10.0.0.100")], &path, &mut r).unwrap();
            assert_eq!(
                st.changes
                    .iter()
                    .any(|c| matches!(c, Change::CreateTunnel { .. })),
                !tunl0_on_load
            );
            assert!(k.obs.has_addr("tunl0", v4("10.0.0.100")));
            assert_eq!(k.obs.sysctls[&conf_key("tunl0", "rp_filter")], "2");
            assert!(
                plan_setup(Mode::Tun, &[v4("10.0.0.100")], &k.obs)
                    .unwrap()
                    .is_empty()
            );
            assert_eq!(load_state(&path).unwrap().unwrap(), st);
            assert!(teardown(&mut k, &path, false, &mut r).unwrap());
            assert_eq!(k.obs, before, "{:#?}", r.lines);
            assert!(!path.exists());
        }
    }

    #[test]
    fn setup_then_teardown_restores_everything_dr_with_lo_down() {
        let mut before = host();
        before.links.get_mut("lo").unwrap().up = false;
        let mut k = Fake {
            obs: before.clone(),
            fail_on: None,
            tunl0_on_load: true,
        };
        let (_d, path) = tmp_state();
        let mut r = Report::default();
        let vips = [v4("10.0.0.100"), v4("10.0.0.101"), v4("2001:db8::64")];
        setup(&mut k, Mode::Dr, &vips, &path, &mut r).unwrap();
        assert!(k.obs.links["lo"].up);
        assert!(teardown(&mut k, &path, false, &mut r).unwrap());
        assert_eq!(k.obs, before);
    }

    #[test]
    fn failure_part_way_rolls_back_and_leaves_no_state() {
        let before = host();
        let mut k = Fake {
            obs: before.clone(),
            fail_on: Some("sysctl -w net.ipv4.conf.lo.arp_ignore=1".into()),
            tunl0_on_load: true,
        };
        let (_d, path) = tmp_state();
        let mut r = Report::default();
        assert!(setup(&mut k, Mode::Dr, &[v4("10.0.0.100")], &path, &mut r).is_err());
        assert_eq!(k.obs, before, "{:#?}", r.lines);
        assert!(!path.exists());
    }

    #[test]
    fn teardown_leaves_values_someone_else_changed() {
        let mut k = Fake {
            obs: host(),
            fail_on: None,
            tunl0_on_load: true,
        };
        let (_d, path) = tmp_state();
        let mut r = Report::default();
        setup(&mut k, Mode::Dr, &[v4("10.0.0.100")], &path, &mut r).unwrap();
        k.obs
            .sysctls
            .insert(conf_key("all", "arp_announce"), "1".into());
        let state = load_state(&path).unwrap().unwrap();
        let steps = plan_teardown(&state, &k.obs, false);
        assert!(steps.iter().any(|s| matches!(s,
            TeardownStep::Skip { reason, .. } if reason.contains("someone changed it"))));
        teardown(&mut k, &path, false, &mut r).unwrap();
        assert_eq!(k.obs.sysctls[&conf_key("all", "arp_announce")], "1");
        assert_eq!(k.obs.sysctls[&conf_key("all", "arp_ignore")], "0");
    }

    #[test]
    fn second_setup_is_refused() {
        let mut k = Fake {
            obs: host(),
            fail_on: None,
            tunl0_on_load: true,
        };
        let (_d, path) = tmp_state();
        let mut r = Report::default();
        setup(&mut k, Mode::Dr, &[v4("10.0.0.100")], &path, &mut r).unwrap();
        assert!(matches!(
            setup(&mut k, Mode::Dr, &[v4("10.0.0.100")], &path, &mut r),
            Err(RealserverError::AlreadySetUp(_))
        ));
    }

    #[test]
    fn keep_module_skips_the_unload() {
        let state = StateFile {
            version: 1,
            mode: Mode::Tun,
            vips: vec![],
            changes: vec![Change::LoadModule {
                module: "ipip".into(),
            }],
        };
        let mut o = host();
        o.ipip_loaded = true;
        assert!(matches!(
            plan_teardown(&state, &o, true)[0],
            TeardownStep::Skip { .. }
        ));
        assert_eq!(
            plan_teardown(&state, &o, false)[0],
            TeardownStep::Undo(Undo::UnloadModule {
                module: "ipip".into()
            })
        );
    }

    #[test]
    fn vip_argument_forms() {
        assert_eq!(parse_vip("10.0.0.1/32"), Ok(v4("10.0.0.1")));
        assert_eq!(parse_vip("2001:db8::1"), Ok(v4("2001:db8::1")));
        assert!(parse_vip("10.0.0.1/24").unwrap_err().contains("/32"));
        assert!(parse_vip("ten").unwrap_err().contains("not an IP address"));
    }

    #[test]
    fn sysctl_paths_keep_dotted_device_names() {
        assert_eq!(
            sysctl_path("net.ipv4.conf.eth0.100.rp_filter"),
            "/proc/sys/net/ipv4/conf/eth0.100/rp_filter"
        );
        assert_eq!(
            sysctl_path("net.ipv4.ip_forward"),
            "/proc/sys/net/ipv4/ip_forward"
        );
    }
}
