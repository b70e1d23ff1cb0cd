//! `use_vmac`: a macvlan on the instance's interface with the VRRP virtual MAC
//! (00:00:5e:00:01:VRID, or 00:00:5e:00:02:VRID for IPv6), which then carries the VIPs and
//! sends the adverts and gratuitous ARPs, as keepalived does.

use super::addr::Netlink;
use super::garp::Mac;
use netlink_packet_route::address::{AddressAttribute, AddressFlags};
use netlink_packet_route::link::MacVlanMode;
use rtnetlink::{LinkMacVlan, LinkUnspec};

#[derive(Debug, thiserror::Error)]
pub enum VmacError {
    #[error("use_vmac {name} on {base}: no such interface {base}")]
    NoBase { name: String, base: String },
    #[error("use_vmac {name} on {base}: {detail}")]
    Kernel {
        name: String,
        base: String,
        detail: String,
    },
}

/// The virtual MAC of a VRID.
pub fn vmac_address(vrid: u8, v6: bool) -> Mac {
    [0x00, 0x00, 0x5e, 0x00, if v6 { 0x02 } else { 0x01 }, vrid]
}

/// keepalived's default name: `vrrp.VRID`, for IPv6 too (keepalived 2.2.7 made `vrrp.55`
/// for an IPv6 instance with VRID 55 in a namespace test).
pub fn default_name(vrid: u8, _v6: bool) -> String {
    format!("vrrp.{vrid}")
}

/// Set an IPv4 per-interface sysctl; returns the previous value.
fn set_conf(ifname: &str, key: &str, value: &str) -> Option<String> {
    set_sysctl(&format!("/proc/sys/net/ipv4/conf/{ifname}/{key}"), value)
}

/// Write a sysctl file; returns the previous value.
fn set_sysctl(path: &str, value: &str) -> Option<String> {
    let old = std::fs::read_to_string(path).ok()?.trim().to_string();
    if let Err(e) = std::fs::write(path, value) {
        tracing::warn!(target: "vrrp", "cannot set {path} = {value}: {e}");
        return None;
    }
    Some(old)
}

/// As keepalived does for VMACs: the base interface must not answer ARP for addresses that
/// live on the macvlan (arp_ignore 1, arp_filter 1), or ARP replies for the VIP would carry
/// the base interface's MAC instead of the VMAC. Returns what to restore.
pub fn tune_base_arp(base: &str) -> Vec<(String, String, String)> {
    let mut undo = Vec::new();
    for (k, v) in [("arp_ignore", "1"), ("arp_filter", "1")] {
        if let Some(old) = set_conf(base, k, v) {
            undo.push((base.to_string(), k.to_string(), old));
        }
    }
    undo
}

pub fn restore_conf(undo: &[(String, String, String)]) {
    // Reverse order: two instances on one base interface restore the original last.
    for (ifname, k, v) in undo.iter().rev() {
        let _ = set_conf(ifname, k, v);
    }
}

/// Create (or reuse) the macvlan and bring it up. Returns true when we created it (and so
/// must delete it on shutdown).
///
/// As keepalived 2.2.7 does (seen with `ip -d link` and `sysctl -a` beside it in a
/// namespace): private mode, `addrgenmode none` so the VMAC makes no link-local address of
/// its own; for IPv4 arp_ignore 1, accept_local 1, promote_secondaries 1 and IPv6 disabled
/// on the VMAC; for IPv6 the base interface's link-local address copied onto it (nodad), because adverts
/// leave from the VMAC with the base's link-local source and the kernel only sends from a
/// link-local address configured on the sending interface.
pub async fn ensure(
    nl: &Netlink,
    name: &str,
    base: &str,
    vrid: u8,
    v6: bool,
) -> Result<bool, VmacError> {
    let kernel = |detail: String| VmacError::Kernel {
        name: name.to_string(),
        base: base.to_string(),
        detail,
    };
    let base_idx = nix::net::if_::if_nametoindex(base).map_err(|_| VmacError::NoBase {
        name: name.to_string(),
        base: base.to_string(),
    })?;
    if let Ok(idx) = nix::net::if_::if_nametoindex(name) {
        // Ours from before, or someone else's: used as it is, never deleted by us.
        if v6 && !nl.dry_run {
            copy_link_local(nl, idx, base).await.map_err(kernel)?;
        }
        return Ok(false);
    }
    if nl.dry_run {
        tracing::info!(target: "vrrp", "dry-run: would create macvlan {name} on {base}");
        return Ok(false);
    }
    let msg = LinkMacVlan::new(name, base_idx, MacVlanMode::Private)
        .address(vmac_address(vrid, v6).to_vec())
        .down()
        .build();
    nl.handle()
        .link()
        .add(msg)
        .execute()
        .await
        .map_err(|e| kernel(e.to_string()))?;
    let idx = nix::net::if_::if_nametoindex(name)
        .map_err(|e| kernel(format!("created but not found: {e}")))?;
    // Before it goes up, or the kernel has already made an EUI-64 link-local for it.
    set_sysctl(
        &format!("/proc/sys/net/ipv6/conf/{name}/addr_gen_mode"),
        "1",
    );
    if v6 {
        // No router solicitations from the VMAC (keepalived drops them with an nftables rule).
        set_sysctl(
            &format!("/proc/sys/net/ipv6/conf/{name}/router_solicitations"),
            "0",
        );
    } else {
        // As keepalived sets them on an IPv4 VMAC (compared with `sysctl -a` beside it).
        for (key, value) in [
            ("arp_ignore", "1"),
            ("accept_local", "1"),
            ("promote_secondaries", "1"),
        ] {
            set_conf(name, key, value);
        }
        set_sysctl(&format!("/proc/sys/net/ipv6/conf/{name}/disable_ipv6"), "1");
    }
    let up = LinkUnspec::new_with_index(idx).up().build();
    nl.handle()
        .link()
        .set(up)
        .execute()
        .await
        .map_err(|e| kernel(format!("set up: {e}")))?;
    if v6 {
        copy_link_local(nl, idx, base).await.map_err(kernel)?;
    }
    Ok(true)
}

/// Put the base interface's link-local address on the VMAC (nodad, as keepalived).
async fn copy_link_local(nl: &Netlink, idx: u32, base: &str) -> Result<(), String> {
    let Some(ll) = super::net::link_local_v6(base) else {
        return Err(format!(
            "{base} has no IPv6 link-local address to send adverts from"
        ));
    };
    let mut req = nl.handle().address().add(idx, std::net::IpAddr::V6(ll), 64);
    req.message_mut()
        .attributes
        .push(AddressAttribute::Flags(AddressFlags::Nodad));
    match req.execute().await {
        Ok(()) => Ok(()),
        Err(rtnetlink::Error::NetlinkError(m)) if m.raw_code() == -libc::EEXIST => Ok(()),
        Err(e) => Err(format!("add {ll}: {e}")),
    }
}

/// Does the VMAC interface `name` exist?
pub fn exists(name: &str) -> bool {
    nix::net::if_::if_nametoindex(name).is_ok()
}

pub async fn remove(nl: &Netlink, name: &str) {
    if nl.dry_run {
        return;
    }
    if let Ok(idx) = nix::net::if_::if_nametoindex(name) {
        if let Err(e) = nl.handle().link().del(idx).execute().await {
            tracing::warn!(target: "vrrp", "cannot remove macvlan {name}: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vmac_per_family() {
        assert_eq!(vmac_address(10, false), [0, 0, 0x5e, 0, 1, 10]);
        assert_eq!(vmac_address(255, true), [0, 0, 0x5e, 0, 2, 255]);
        assert_eq!(default_name(3, false), "vrrp.3");
        assert_eq!(default_name(3, true), "vrrp.3");
    }
}
