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

/// Runs nft, one call at a time, and remembers which tables it made.
#[derive(Debug, Default)]
pub struct Firewall {
    /// [IPv4 table made, IPv6 table made]
    made: tokio::sync::Mutex<[bool; 2]>,
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
    pub async fn remove_tables(&self) {
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
