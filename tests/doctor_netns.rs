//! `rampart doctor` against real kernel state: each check's problem is created inside a
//! network namespace this test made (sysctls, interfaces, addresses and iptables/nftables rules
//! are all per namespace), doctor runs there with `ip netns exec`, and must report it; the
//! clean variant must not. Needs root, iproute2, iptables and nft; skips with a message
//! otherwise.
//!
//! This development machine's kernel has no IPVS, so `ipvs-missing` fires for every
//! configuration with a virtual server; tests other than the IPVS one ignore that id, and
//! where a check needs the IPVS sysctl `net.ipv4.vs.conntrack`, the facts gathered in the
//! namespace are saved (`--dump-facts`), given the value the kernel cannot have, and examined
//! with `--facts`.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

const RAMPART: &str = env!("CARGO_BIN_EXE_rampart");

struct Netns {
    name: String,
    dir: tempfile::TempDir,
}

impl Netns {
    /// A namespace with the director's two interfaces, wan0 and lan0 (veth pairs whose peers
    /// stay in the namespace), addressed as a seed-004 director on 10.x.
    fn director() -> Option<Netns> {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "doc{}x{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            eprintln!("skipping: cannot create network namespace (needs root and iproute2)");
            return None;
        }
        let ns = Netns {
            name,
            dir: tempfile::tempdir().expect("tempdir"),
        };
        ns.sh("ip link set lo up; \
             ip link add wan0 type veth peer name wanp; ip link add lan0 type veth peer name lanp; \
             ip addr add 10.0.1.2/24 dev wan0; ip addr add 10.0.2.2/24 dev lan0; \
             for i in wan0 wanp lan0 lanp; do ip link set $i up; done; \
             sysctl -qw net.ipv4.ip_forward=1");
        Some(ns)
    }
    fn sh(&self, script: &str) -> String {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.name, "sh", "-c", script])
            .output()
            .expect("ip netns exec");
        assert!(
            out.status.success(),
            "`{script}` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).expect("write");
        p
    }
    fn doctor_raw(&self, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.name, RAMPART, "doctor"])
            .args(args)
            .output()
            .expect("run doctor")
    }
    /// Run doctor on `conf` (JSON output); returns the exit code and the finding ids.
    fn doctor(&self, conf: &str, extra: &[&str]) -> (i32, Vec<String>, serde_json::Value) {
        let path = self.write("keepalived.conf", conf);
        let mut args = vec!["-f", path.to_str().unwrap(), "--format", "json"];
        args.extend_from_slice(extra);
        let out = self.doctor_raw(&args);
        let code = out.status.code().unwrap_or(-1);
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "doctor printed no JSON ({e}), exit {code}:\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        let ids = report["findings"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|f| f["id"].as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default();
        (code, ids, report)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

fn have_nft() -> bool {
    Command::new("nft")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn kernel_has_ipvs() -> bool {
    std::path::Path::new("/proc/net/ip_vs").exists()
        || Command::new("modprobe")
            .args(["--dry-run", "ip_vs"])
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
}

/// Finding ids other than `ipvs-missing` (which depends on the kernel, not the test).
fn besides_ipvs(ids: &[String]) -> Vec<&str> {
    ids.iter()
        .map(String::as_str)
        .filter(|i| *i != "ipvs-missing")
        .collect()
}

/// Seed 004's shape on the namespace's addresses (with the typo fixed and distinct VRIDs).
const NAT_DIRECTOR: &str = "
global_defs {
    router_id DOCTOR
}
vrrp_sync_group G {
    group {
        LVS_WAN
        LVS_LAN
    }
}
vrrp_instance LVS_WAN {
    state BACKUP
    interface wan0
    virtual_router_id 100
    priority 100
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass 1c7f545a
    }
    virtual_ipaddress {
        10.0.1.100
    }
}
vrrp_instance LVS_LAN {
    state BACKUP
    interface lan0
    virtual_router_id 101
    priority 100
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass 9aa614f7
    }
    virtual_ipaddress {
        10.0.2.1
    }
}
virtual_server 10.0.1.100 80 {
    delay_loop 6
    lb_algo wrr
    lb_kind NAT
    persistence_timeout 60
    protocol TCP
    real_server 10.0.2.11 80 {
        weight 1
        inhibit_on_failure
        TCP_CHECK {
            connect_timeout 10
        }
    }
}
";

/// The VRRP half only: no IPVS needed, so a healthy host reports nothing at all.
fn vrrp_only() -> String {
    let end = NAT_DIRECTOR.find("virtual_server").unwrap();
    NAT_DIRECTOR[..end].to_string()
}

#[test]
fn a_healthy_director_reports_nothing_and_exits_0() {
    let Some(ns) = Netns::director() else { return };
    let (code, ids, report) = ns.doctor(&vrrp_only(), &[]);
    assert_eq!((code, ids.len()), (0, 0), "{report:#}");
    assert_eq!(report["ok"], true);
    let (_, ids, report) = ns.doctor(NAT_DIRECTOR, &[]);
    assert_eq!(besides_ipvs(&ids), Vec::<&str>::new(), "{report:#}");
    // Text output says so too.
    let path = ns.write("v.conf", &vrrp_only());
    let out = ns.doctor_raw(&["-f", path.to_str().unwrap()]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("no problems found"));
}

#[test]
fn ipvs_missing_matches_the_kernel() {
    let Some(ns) = Netns::director() else { return };
    let (code, ids, report) = ns.doctor(NAT_DIRECTOR, &[]);
    if kernel_has_ipvs() {
        assert!(!ids.contains(&"ipvs-missing".to_string()), "{report:#}");
    } else {
        assert!(ids.contains(&"ipvs-missing".to_string()), "{report:#}");
        assert_eq!(code, 1);
        let f = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["id"] == "ipvs-missing")
            .unwrap();
        assert!(f["message"].as_str().unwrap().contains("no IPVS"));
        assert!(f["fix"].as_str().unwrap().contains("CONFIG_IP_VS"));
        assert_eq!(f["severity"], "error");
    }
}

#[test]
fn ip_forward_off_with_a_nat_service() {
    let Some(ns) = Netns::director() else { return };
    ns.sh("sysctl -qw net.ipv4.ip_forward=0");
    let (code, ids, _) = ns.doctor(NAT_DIRECTOR, &[]);
    assert_eq!(besides_ipvs(&ids), ["ip-forward-off"]);
    assert_eq!(code, 1);
    // Not a problem for a DR service.
    let (_, ids, _) = ns.doctor(&NAT_DIRECTOR.replace("lb_kind NAT", "lb_kind DR"), &[]);
    assert_eq!(besides_ipvs(&ids), Vec::<&str>::new());
    ns.sh("sysctl -qw net.ipv4.ip_forward=1");
    let (_, ids, _) = ns.doctor(NAT_DIRECTOR, &[]);
    assert_eq!(besides_ipvs(&ids), Vec::<&str>::new());
}

#[test]
fn vs_conntrack_off_with_a_masquerade_for_ipvs_traffic() {
    let Some(ns) = Netns::director() else { return };
    // Seed 000 used `-m ipvs --vaddr`; that match needs xt_ipvs, which this kernel lacks, so
    // the rule names the real servers' network instead: the same NAT applied to IPVS traffic.
    ns.sh("iptables -t nat -A POSTROUTING -d 10.0.2.0/24 -j MASQUERADE");
    let conf = ns.write("keepalived.conf", NAT_DIRECTOR);
    let with_conntrack = |value: &str| -> Vec<String> {
        let facts = ns.doctor_raw(&["--dump-facts"]);
        assert!(facts.status.success());
        let mut facts: serde_json::Value = serde_json::from_slice(&facts.stdout).unwrap();
        assert!(
            facts["iptables"]
                .as_str()
                .unwrap()
                .contains("-d 10.0.2.0/24 -j MASQUERADE"),
            "the rule was gathered from the namespace"
        );
        facts["sysctls"]["net.ipv4.vs.conntrack"] = value.into();
        let facts_path = ns.write("facts.json", &facts.to_string());
        let out = ns.doctor_raw(&[
            "-f",
            conf.to_str().unwrap(),
            "--format",
            "json",
            "--facts",
            facts_path.to_str().unwrap(),
        ]);
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].as_str().unwrap().to_string())
            .filter(|id| id != "ipvs-missing")
            .collect()
    };
    assert_eq!(with_conntrack("0"), ["vs-conntrack-off"]);
    assert_eq!(with_conntrack("1"), Vec::<String>::new());
    // Where the kernel has IPVS, the real sysctl is read too.
    if std::path::Path::new("/proc/net/ip_vs").exists() {
        ns.sh("sysctl -qw net.ipv4.vs.conntrack=0");
        let (_, ids, _) = ns.doctor(NAT_DIRECTOR, &[]);
        assert_eq!(besides_ipvs(&ids), ["vs-conntrack-off"]);
    }
}

#[test]
fn a_rule_dropping_vrrp_is_reported() {
    let Some(ns) = Netns::director() else { return };
    for (setup, undo) in [
        (
            "iptables -A INPUT -p vrrp -j DROP",
            "iptables -D INPUT -p vrrp -j DROP",
        ),
        (
            "iptables -A INPUT -d 224.0.0.18 -j REJECT",
            "iptables -D INPUT -d 224.0.0.18 -j REJECT",
        ),
        (
            "iptables -A OUTPUT -p 112 -j DROP",
            "iptables -D OUTPUT -p 112 -j DROP",
        ),
        (
            "nft add table inet t; nft add chain inet t in '{ type filter hook input priority 0; }'; \
             nft add rule inet t in meta l4proto vrrp drop",
            "nft delete table inet t",
        ),
    ] {
        if setup.starts_with("nft") && !have_nft() {
            eprintln!("nft is not installed (Debian package nftables): skipping `{setup}`");
            continue;
        }
        ns.sh(setup);
        let (code, ids, report) = ns.doctor(&vrrp_only(), &[]);
        assert_eq!(
            (code, ids.clone()),
            (1, vec!["vrrp-blocked".to_string()]),
            "{setup}: {report:#}"
        );
        ns.sh(undo);
        let (code, ids, _) = ns.doctor(&vrrp_only(), &[]);
        assert_eq!((code, ids.len()), (0, 0), "after {undo}");
    }
}

#[test]
fn a_drop_policy_without_a_vrrp_accept_is_reported() {
    let Some(ns) = Netns::director() else { return };
    ns.sh("iptables -P INPUT DROP; \
         iptables -A INPUT -m conntrack --ctstate ESTABLISHED -j ACCEPT; \
         iptables -A INPUT -p tcp --dport 22 -j ACCEPT");
    let (_, ids, _) = ns.doctor(&vrrp_only(), &[]);
    assert_eq!(ids, ["vrrp-policy-drop"]);
    ns.sh("iptables -I INPUT -p vrrp -j ACCEPT");
    let (code, ids, _) = ns.doctor(&vrrp_only(), &[]);
    assert_eq!((code, ids.len()), (0, 0));
    ns.sh("iptables -F INPUT; iptables -P INPUT ACCEPT");

    if !have_nft() {
        eprintln!("nft is not installed (Debian package nftables): skipping the nftables variant");
        return;
    }
    ns.sh("nft add table inet fw; \
         nft add chain inet fw input '{ type filter hook input priority 0; policy drop; }'; \
         nft add rule inet fw input ct state established accept; \
         nft add rule inet fw input tcp dport 22 accept");
    let (_, ids, _) = ns.doctor(&vrrp_only(), &[]);
    assert_eq!(ids, ["vrrp-policy-drop"]);
    ns.sh("nft insert rule inet fw input meta l4proto vrrp accept");
    let (code, ids, _) = ns.doctor(&vrrp_only(), &[]);
    assert_eq!((code, ids.len()), (0, 0));
}

#[test]
fn an_interface_that_does_not_exist_is_reported() {
    let Some(ns) = Netns::director() else { return };
    let conf = vrrp_only().replace("interface lan0", "interface eth1");
    let (code, ids, report) = ns.doctor(&conf, &[]);
    assert_eq!(
        (code, ids.clone()),
        (1, vec!["interface-missing".to_string()])
    );
    let f = &report["findings"][0];
    assert!(f["message"].as_str().unwrap().contains("eth1"));
    assert!(f["location"].as_str().unwrap().ends_with(":25:1"), "{f:#}");
    ns.sh("ip link add eth1 type veth peer name eth1p");
    let (code, ids, _) = ns.doctor(&conf, &[]);
    assert_eq!((code, ids.len()), (0, 0));
}

#[test]
fn a_vip_already_on_the_host_is_reported() {
    let Some(ns) = Netns::director() else { return };
    // On lo: a leftover of a DR real-server preparation.
    ns.sh("ip addr add 10.0.1.100/32 dev lo");
    let (_, ids, report) = ns.doctor(&vrrp_only(), &[]);
    assert_eq!(ids, ["vip-on-other-interface"]);
    assert!(
        report["findings"][0]["fix"]
            .as_str()
            .unwrap()
            .contains("ip addr del 10.0.1.100/32 dev lo")
    );
    ns.sh("ip addr del 10.0.1.100/32 dev lo");
    // On its own interface with no VRRP daemon running: configured statically.
    ns.sh("ip addr add 10.0.2.1/32 dev lan0");
    let (_, ids, _) = ns.doctor(&vrrp_only(), &[]);
    assert_eq!(ids, ["vip-present-without-daemon"]);
    ns.sh("ip addr del 10.0.2.1/32 dev lan0");
    let (code, ids, _) = ns.doctor(&vrrp_only(), &[]);
    assert_eq!((code, ids.len()), (0, 0));
}

/// Seed 004's configuration with `vrrp_strict` and its PASS authentication removed (the
/// configuration front end refuses authentication, unicast peers, preempt_delay and MASTER
/// below priority 255 under vrrp_strict, so doctor never sees those).
fn strict_director(extra_global: &str) -> String {
    let mut conf = NAT_DIRECTOR.replace(
        "router_id DOCTOR",
        &format!("router_id DOCTOR\n    vrrp_strict{extra_global}"),
    );
    for pass in ["1c7f545a", "9aa614f7"] {
        conf = conf.replace(
            &format!(
                "    authentication {{\n        auth_type PASS\n        auth_pass {pass}\n    }}\n"
            ),
            "",
        );
    }
    conf
}

#[test]
fn vrrp_strict_with_an_incompatible_setup() {
    let Some(ns) = Netns::director() else { return };
    // VRRPv2 under vrrp_strict: no_accept, so the virtual server on the WAN VIP gets nothing.
    let (_, ids, report) = ns.doctor(&strict_director(""), &[]);
    assert_eq!(besides_ipvs(&ids), ["vrrp-strict-no-accept"], "{report:#}");
    let f = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "vrrp-strict-no-accept")
        .unwrap();
    assert!(f["fix"].as_str().unwrap().contains("vrrp_version 3"));
    // The compatible form: VRRPv3 with `accept` on the instance that carries the service.
    let clean = strict_director("\n    vrrp_version 3").replacen(
        "    virtual_router_id 100\n",
        "    virtual_router_id 100\n    accept\n",
        1,
    );
    let (_, ids, report) = ns.doctor(&clean, &[]);
    assert_eq!(besides_ipvs(&ids), Vec::<&str>::new(), "{report:#}");
    // What the front end refuses, doctor reports as a configuration error (exit 2).
    let with_auth = NAT_DIRECTOR.replace("router_id DOCTOR", "router_id DOCTOR\n    vrrp_strict");
    let path = ns.write("auth.conf", &with_auth);
    let out = ns.doctor_raw(&["-f", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not allowed with vrrp_strict"));
}

#[test]
fn usage_and_configuration_errors_exit_2() {
    let Some(ns) = Netns::director() else { return };
    let bad = ns.write("bad.conf", "vrrp_instance X {\n    stat BACKUP\n}\n");
    let out = ns.doctor_raw(&["-f", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not load"));
    let out = ns.doctor_raw(&["--format", "yaml"]);
    assert_eq!(out.status.code(), Some(2));
    let out = ns.doctor_raw(&["-f", "/nonexistent/keepalived.conf"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_dr_or_tun_real_server_port_that_the_kernel_ignores() {
    let Some(ns) = Netns::director() else { return };
    let tun = NAT_DIRECTOR.replace("lb_kind NAT", "lb_kind TUN");
    let (_, ids, _) = ns.doctor(
        &tun.replace("real_server 10.0.2.11 80", "real_server 10.0.2.11 8080"),
        &[],
    );
    assert_eq!(besides_ipvs(&ids), ["realserver-port-ignored"]);
    let (_, ids, _) = ns.doctor(&tun, &[]);
    assert_eq!(besides_ipvs(&ids), Vec::<&str>::new());
}
