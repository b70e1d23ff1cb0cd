//! The shell: read the host into [`HostFacts`]. Read-only: nothing here changes the host
//! (IPVS availability is asked with `modprobe --dry-run`, which loads nothing).

use super::facts::{HostFacts, Interface, IpvsFacts, SYSCTLS};
use std::path::Path;
use std::process::Command;

pub fn gather() -> HostFacts {
    let mut f = HostFacts::default();
    f.ipvs = ipvs(&mut f.notes);
    for key in SYSCTLS {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        match std::fs::read_to_string(&path) {
            Ok(v) => {
                f.sysctls.insert(key.to_string(), v.trim().to_string());
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => f.notes.push(format!("cannot read {path}: {e}")),
        }
    }
    match crate::cli::realserver::observe_links() {
        Ok(links) => {
            f.interfaces = links
                .into_iter()
                .map(|(name, l)| Interface {
                    name,
                    up: l.up,
                    addrs: l.addrs,
                })
                .collect()
        }
        Err(e) => f.notes.push(format!("cannot list interfaces: {e}")),
    }
    f.iptables = tool_output("iptables-save", &[], &mut f.notes);
    f.ip6tables = tool_output("ip6tables-save", &[], &mut f.notes);
    f.nft = tool_output("nft", &["list", "ruleset"], &mut f.notes);
    f.vrrp_daemons = vrrp_daemons();
    f
}

fn ipvs(notes: &mut Vec<String>) -> IpvsFacts {
    // /proc/self/net follows this process's network namespace (as `ip netns exec` sets it).
    if Path::new("/proc/self/net/ip_vs").exists() {
        return IpvsFacts {
            loaded: true,
            modprobe: None,
        };
    }
    let modprobe = match Command::new("modprobe")
        .args(["--dry-run", "ip_vs"])
        .output()
    {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(String::from_utf8_lossy(&out.stderr).trim().to_string()),
        Err(e) => {
            notes.push(format!("cannot run modprobe: {e}"));
            Err(format!("cannot run modprobe: {e}"))
        }
    };
    IpvsFacts {
        loaded: false,
        modprobe: Some(modprobe),
    }
}

fn tool_output(tool: &str, args: &[&str], notes: &mut Vec<String>) -> Option<String> {
    match Command::new(tool).args(args).output() {
        Ok(out) if out.status.success() => Some(String::from_utf8_lossy(&out.stdout).into_owned()),
        Ok(out) => {
            notes.push(format!(
                "`{tool} {}` failed ({}): {}; its rules were not checked",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
            None
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            notes.push(format!(
                "cannot run {tool}: {e}; its rules were not checked"
            ));
            None
        }
    }
}

/// rampart and keepalived daemons in this network namespace, other than this process. A
/// rampart process counts as a daemon unless its first argument is a sub-command.
fn vrrp_daemons() -> Vec<String> {
    let own_ns = std::fs::read_link("/proc/self/ns/net").ok();
    let me = std::process::id();
    let subcommands = [
        "check-config",
        "ipvs",
        "genhash",
        "status",
        "reload",
        "realserver",
        "doctor",
    ];
    let mut out = Vec::new();
    for pid in crate::vrrp::track_process::proc_pids() {
        if pid == me {
            continue;
        }
        let base = std::path::PathBuf::from(format!("/proc/{pid}"));
        let Ok(comm) = std::fs::read_to_string(base.join("comm")) else {
            continue;
        };
        let comm = comm.trim();
        if comm != "keepalived" && comm != "rampart" {
            continue;
        }
        if own_ns.is_some() && std::fs::read_link(base.join("ns/net")).ok() != own_ns {
            continue;
        }
        if comm == "rampart" {
            let cmdline = std::fs::read(base.join("cmdline")).unwrap_or_default();
            let first_arg = cmdline
                .split(|b| *b == 0)
                .nth(1)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .unwrap_or_default();
            if subcommands.contains(&first_arg.as_str()) {
                continue;
            }
        }
        out.push(format!("{comm} (pid {pid})"));
    }
    out.sort();
    out
}
