//! `no_accept` (and `vrrp_strict`'s default of it): a MASTER that is not the address owner
//! must not accept packets for its VIPs (RFC 5798 Accept_Mode false). keepalived 2.2.7 does
//! this with nftables; observed in a namespace with `nft list ruleset`, it keeps a table per
//! family with a set `vips`, filled while MASTER, and drops input to and output from the
//! set's addresses in chains hooked just before the filter priority. IPv6 lets neighbour
//! discovery and link-local traffic through, or the VIP could not be resolved at all.
//!
//! rampart does the same in its own tables (`ip rampart`, `ip6 rampart`) through the `nft`
//! program: the ruleset text is built by pure functions (golden-tested below), the
//! [`Firewall`] only runs `nft -f -`. The tables are made on first use and deleted at exit.

use std::net::IpAddr;
use std::process::Stdio;
use tokio::io::AsyncWriteExt;

/// Name of rampart's nftables tables.
pub const TABLE: &str = "rampart";

#[derive(Debug, thiserror::Error)]
pub enum NftError {
    #[error("cannot run nft (no_accept needs nftables): {0}")]
    Spawn(#[source] std::io::Error),
    #[error("nft failed on {what}: {stderr}")]
    Failed { what: String, stderr: String },
}

fn family(v6: bool) -> &'static str {
    if v6 { "ip6" } else { "ip" }
}

/// The table definition for one family, replacing any leftover from an earlier run (the
/// `add`/`delete` pair makes the delete succeed whether or not the table exists; all three
/// statements are one nft transaction).
pub fn table_script(v6: bool) -> String {
    let fam = family(v6);
    let (addr_type, proto) = if v6 {
        ("ipv6_addr", "ip6")
    } else {
        ("ipv4_addr", "ip")
    };
    let nd_in = if v6 {
        "    icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept\n    ip6 daddr fe80::/10 accept\n"
    } else {
        ""
    };
    let nd_out = if v6 {
        "    icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept\n    ip6 saddr fe80::/10 accept\n"
    } else {
        ""
    };
    format!(
        "add table {fam} {TABLE}\n\
         delete table {fam} {TABLE}\n\
         table {fam} {TABLE} {{\n\
         \x20 set vips {{\n    type {addr_type}\n  }}\n\
         \x20 chain in {{\n    type filter hook input priority filter - 1; policy accept;\n{nd_in}    {proto} daddr @vips drop\n  }}\n\
         \x20 chain out {{\n    type filter hook output priority filter - 1; policy accept;\n{nd_out}    {proto} saddr @vips drop\n  }}\n\
         }}\n"
    )
}

/// Add (`add`) or remove (`delete`) one address in the family's `vips` set.
pub fn element_script(verb: &str, addr: IpAddr) -> String {
    format!(
        "{verb} element {} {TABLE} vips {{ {addr} }}\n",
        family(addr.is_ipv6())
    )
}

/// The table holding the IPv6 VMAC MLD rules (separate from the no_accept tables).
pub const VMAC_TABLE: &str = "rampart_vmac";

/// keepalived 2.2.7's rule for IPv6 VMACs (`table ip6 keepalived`, `vmac_map`): MLDv2
/// reports the kernel sends on a VMAC leave from its base interface instead (base MAC), and
/// not from the VMAC. A BACKUP has the VMAC too: its reports would carry the virtual MAC and
/// move switches' forwarding entry for it to the BACKUP's port until the MASTER's next frame
/// (seen on a Linux bridge), while the base interface still has to report the groups for
/// MLD snooping. `pairs` are (VMAC, base interface).
pub fn vmac_mld_script(pairs: &[(String, String)]) -> String {
    let mut rules = String::new();
    for (vmac, base) in pairs {
        rules.push_str(&format!(
            "    oifname \"{vmac}\" icmpv6 type mld2-listener-report dup to ip6 daddr device \"{base}\"\n    \
             oifname \"{vmac}\" icmpv6 type mld2-listener-report drop\n"
        ));
    }
    format!(
        "add table ip6 {VMAC_TABLE}\n\
         delete table ip6 {VMAC_TABLE}\n\
         table ip6 {VMAC_TABLE} {{\n\
         \x20 chain out {{\n    type filter hook output priority filter - 1; policy accept;\n{rules}  }}\n\
         }}\n"
    )
}

/// Runs nft, one call at a time, and remembers which tables it made.
#[derive(Debug, Default)]
pub struct Firewall {
    /// [IPv4 table made, IPv6 table made]
    made: tokio::sync::Mutex<[bool; 2]>,
    /// (VMAC, base) pairs in the VMAC MLD table, which exists when this is not empty.
    vmac_mld: tokio::sync::Mutex<Vec<(String, String)>>,
}

async fn run_nft(script: &str, what: &str) -> Result<(), NftError> {
    let mut child = tokio::process::Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(NftError::Spawn)?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .await
            .map_err(NftError::Spawn)?;
    }
    let out = child.wait_with_output().await.map_err(NftError::Spawn)?;
    if out.status.success() {
        Ok(())
    } else {
        Err(NftError::Failed {
            what: what.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

impl Firewall {
    /// Drop traffic to and from `addr` (making the family's table first if needed).
    pub async fn block(&self, addr: IpAddr) -> Result<(), NftError> {
        let mut made = self.made.lock().await;
        let v6 = addr.is_ipv6();
        if !made[v6 as usize] {
            run_nft(&table_script(v6), &format!("table {} {TABLE}", family(v6))).await?;
            made[v6 as usize] = true;
        }
        run_nft(&element_script("add", addr), &format!("adding {addr}")).await
    }

    /// Accept traffic for `addr` again.
    pub async fn unblock(&self, addr: IpAddr) -> Result<(), NftError> {
        let made = self.made.lock().await;
        if !made[addr.is_ipv6() as usize] {
            return Ok(());
        }
        run_nft(&element_script("delete", addr), &format!("removing {addr}")).await
    }

    /// Delete the tables this process made (at exit).
    /// Send the MLDv2 reports of IPv6 VMAC `vmac` from `base` (see [`vmac_mld_script`]).
    pub async fn vmac_mld_to_base(&self, vmac: &str, base: &str) -> Result<(), NftError> {
        let mut pairs = self.vmac_mld.lock().await;
        let pair = (vmac.to_string(), base.to_string());
        if pairs.contains(&pair) {
            return Ok(());
        }
        let mut next = pairs.clone();
        next.push(pair);
        run_nft(&vmac_mld_script(&next), &format!("table ip6 {VMAC_TABLE}")).await?;
        *pairs = next;
        Ok(())
    }

    pub async fn remove_tables(&self) {
        let mut pairs = self.vmac_mld.lock().await;
        if !pairs.is_empty() {
            let script = format!("delete table ip6 {VMAC_TABLE}\n");
            if let Err(e) = run_nft(&script, "deleting the VMAC table").await {
                tracing::warn!(target: "vrrp", "{e}");
            }
            pairs.clear();
        }
        drop(pairs);
        let mut made = self.made.lock().await;
        for v6 in [false, true] {
            if made[v6 as usize] {
                let script = format!("delete table {} {TABLE}\n", family(v6));
                if let Err(e) = run_nft(&script, "deleting the table").await {
                    tracing::warn!(target: "vrrp", "{e}");
                }
                made[v6 as usize] = false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_table_golden() {
        assert_eq!(
            table_script(false),
            "add table ip rampart\n\
             delete table ip rampart\n\
             table ip rampart {\n  set vips {\n    type ipv4_addr\n  }\n  \
             chain in {\n    type filter hook input priority filter - 1; policy accept;\n    ip daddr @vips drop\n  }\n  \
             chain out {\n    type filter hook output priority filter - 1; policy accept;\n    ip saddr @vips drop\n  }\n}\n"
        );
    }

    #[test]
    fn ipv6_table_lets_neighbour_discovery_through() {
        let s = table_script(true);
        assert!(s.contains("type ipv6_addr"));
        assert!(s.contains("icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept"));
        assert!(s.contains("ip6 daddr @vips drop"));
        assert!(s.contains("ip6 saddr @vips drop"));
        // Neighbour discovery is accepted before the drop.
        assert!(s.find("nd-neighbor").unwrap() < s.find("@vips drop").unwrap());
    }

    #[test]
    fn vmac_mld_rules_golden() {
        let s = vmac_mld_script(&[("vrrp6.61".into(), "eth0".into())]);
        assert_eq!(
            s,
            "add table ip6 rampart_vmac\n\
             delete table ip6 rampart_vmac\n\
             table ip6 rampart_vmac {\n  \
             chain out {\n    type filter hook output priority filter - 1; policy accept;\n    \
             oifname \"vrrp6.61\" icmpv6 type mld2-listener-report dup to ip6 daddr device \"eth0\"\n    \
             oifname \"vrrp6.61\" icmpv6 type mld2-listener-report drop\n  }\n}\n"
        );
    }

    #[test]
    fn elements() {
        assert_eq!(
            element_script("add", "10.0.0.1".parse().unwrap()),
            "add element ip rampart vips { 10.0.0.1 }\n"
        );
        assert_eq!(
            element_script("delete", "fd00::1".parse().unwrap()),
            "delete element ip6 rampart vips { fd00::1 }\n"
        );
    }
}
