//! `rampart realserver` and `rampart doctor` on a kernel that has what this development
//! machine's lacks (IPVS, ipip, xt_ipvs): one boot of the test VM (tests/vm/, Debian's cloud
//! kernel), with real traffic through an IPVS director programmed by ipvsadm.
//!
//! - dr-traffic: real servers prepared with `realserver setup --mode dr` answer a client through
//!   an LVS-DR director, and only the director answers ARP for the VIP; after teardown, a VIP
//!   put on lo by hand without the sysctls makes that real server answer ARP too (the failure
//!   the preparation prevents).
//! - tun-traffic: a real server prepared with `--mode tun` (starting from strict rp_filter)
//!   receives IPIP and answers; with rp_filter put back to strict by hand it does not;
//!   teardown leaves those hand-made changes alone and restores the rest.
//! - doctor-ipvs: a NAT director with IPVS present reports nothing; seed 000's
//!   `-m ipvs ... -j MASQUERADE` with `net.ipv4.vs.conntrack=0` is reported.
//!
//! Needs root and qemu-system-x86_64 (skips loudly without qemu).

#[path = "common/vm.rs"]
mod vm;

use std::sync::OnceLock;
use vm::{Scenario, VmRun, assert_sections_pass};

const SCENARIO: &str = r#"#!/bin/bash
. /usr/local/lib/vm/lib.sh

mac_of() { ip -n "$1" link show "$2" | awk '/link\/ether/ {print $2}'; }

# ARP replies for ADDR seen from the client: the MACs, one per line, sorted, unique.
arp_macs() {
    ip netns exec "$1" arping -c 3 -w 3 -I "$2" "$3" 2>/dev/null \
        | grep -io '\[[0-9a-f:]*\]' | tr -d '[]' | tr A-F a-f | sort -u || true
}

dr_traffic() {
    ns_on_bridge br3 client3 c3 10.0.3.10/24
    ns_on_bridge br3 dir3 d3 10.0.3.2/24
    ns_on_bridge br3 rs31 r31 10.0.3.11/24
    ns_on_bridge br3 rs32 r32 10.0.3.12/24
    # The VIP on the director (VRRP's job in the scenarios).
    ip -n dir3 addr add 10.0.3.100/32 dev d3
    for n in 1 2; do
        http_server rs3$n 80 "rs3$n"
        ip netns exec rs3$n rampart realserver setup --mode dr --vip 10.0.3.100 --state /tmp/rs3$n.json
    done
    ip netns exec dir3 ipvsadm -A -t 10.0.3.100:80 -s rr
    ip netns exec dir3 ipvsadm -a -t 10.0.3.100:80 -r 10.0.3.11:80 -g
    ip netns exec dir3 ipvsadm -a -t 10.0.3.100:80 -r 10.0.3.12:80 -g
    got=""
    for i in 1 2 3 4; do got="$got $(http_get client3 10.0.3.100 80 | tail -1)"; done
    echo "answers:$got"
    [[ $got == *rs31* && $got == *rs32* ]]
    macs=$(arp_macs client3 c3 10.0.3.100)
    echo "arp replies for the VIP: $macs (director $(mac_of dir3 d3))"
    [ "$macs" = "$(mac_of dir3 d3)" ]
    # The naive preparation, VIP on lo without the ARP sysctls: rs31 answers ARP for the VIP
    # too, and clients may send their requests straight to it, bypassing the director.
    ip netns exec rs31 rampart realserver teardown --state /tmp/rs31.json
    ! ip -n rs31 addr show dev lo | grep -q 10.0.3.100
    ip -n rs31 addr add 10.0.3.100/32 dev lo
    ip -n client3 neigh flush all
    macs=$(arp_macs client3 c3 10.0.3.100)
    echo "VIP on rs31's lo without the sysctls: $macs"
    echo "$macs" | grep -qx "$(mac_of rs31 r31)"
}

tun_traffic() {
    ns_on_bridge br4 client4 c4 10.0.4.10/24
    ns_on_bridge br4 dir4 d4 10.0.4.2/24
    ns_on_bridge br4 rs41 r41 10.0.4.11/24
    ip -n dir4 addr add 10.0.4.100/32 dev d4
    ip netns exec rs41 sysctl -qw net.ipv4.conf.all.rp_filter=1 net.ipv4.conf.default.rp_filter=1
    http_server rs41 80 "rs41"
    ip netns exec rs41 rampart realserver setup --mode tun --vip 10.0.4.100 --state /tmp/rs41.json
    ip netns exec dir4 ipvsadm -A -t 10.0.4.100:80 -s rr
    ip netns exec dir4 ipvsadm -a -t 10.0.4.100:80 -r 10.0.4.11:80 -i
    reply=$(http_get client4 10.0.4.100 80 | tail -1)
    echo "answer: $reply"
    [ "$reply" = "rs41" ]
    rx=$(ip -n rs41 -s link show tunl0 | awk '/RX:/ {getline; print $2}')
    echo "tunl0 received $rx packets (encapsulated by the director)"
    [ "$rx" -gt 0 ]
    # Strict reverse-path filtering drops the decapsulated packets. The kernel applies the
    # larger of `all` and the device value, so both go back to 1.
    ip netns exec rs41 sysctl -qw net.ipv4.conf.all.rp_filter=1 net.ipv4.conf.tunl0.rp_filter=1
    if http_get client4 10.0.4.100 80 | grep -q rs41; then
        echo "answered with strict rp_filter: expected a drop"; exit 1
    fi
    echo "with rp_filter=1 on all and tunl0: no answer, as expected"
    out=$(ip netns exec rs41 rampart realserver teardown --state /tmp/rs41.json --keep-module)
    echo "$out"
    echo "$out" | grep -q "someone changed it"
    ! ip -n rs41 addr show dev tunl0 | grep -q 10.0.4.100
    [ "$(ip netns exec rs41 sysctl -n net.ipv4.conf.all.rp_filter)" = 1 ]
    [ "$(ip netns exec rs41 sysctl -n net.ipv4.conf.all.arp_ignore)" = 0 ]
}

doctor_ipvs() {
    ip netns add dir5
    ip -n dir5 link set lo up
    ip -n dir5 link add wan0 type veth peer name wanp
    ip -n dir5 link add lan0 type veth peer name lanp
    ip -n dir5 addr add 10.0.1.2/24 dev wan0
    ip -n dir5 addr add 10.0.2.2/24 dev lan0
    for i in wan0 wanp lan0 lanp; do ip -n dir5 link set $i up; done
    ip netns exec dir5 sysctl -qw net.ipv4.ip_forward=1
    ip netns exec dir5 rampart doctor -f /files/nat-director.conf
    ip netns exec dir5 sysctl -qw net.ipv4.vs.conntrack=0
    ip netns exec dir5 iptables -t nat -A POSTROUTING -m ipvs --vaddr 10.0.1.100/32 -j MASQUERADE
    rc=0
    ip netns exec dir5 rampart doctor -f /files/nat-director.conf --format json > /tmp/d.json || rc=$?
    cat /tmp/d.json
    [ $rc = 1 ]
    grep -q '"id": "vs-conntrack-off"' /tmp/d.json
    grep -q -- '-m ipvs --vaddr 10.0.1.100' /tmp/d.json
    ip netns exec dir5 sysctl -qw net.ipv4.vs.conntrack=1
    ip netns exec dir5 rampart doctor -f /files/nat-director.conf
}

modprobe ip_vs
section dr-traffic dr_traffic
section tun-traffic tun_traffic
section doctor-ipvs doctor_ipvs
"#;

/// Seed 004's shape on the namespace's addresses.
const NAT_DIRECTOR: &str = "
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
    virtual_ipaddress {
        10.0.1.100
    }
}
vrrp_instance LVS_LAN {
    state BACKUP
    interface lan0
    virtual_router_id 101
    priority 100
    virtual_ipaddress {
        10.0.2.1
    }
}
virtual_server 10.0.1.100 80 {
    lb_algo wrr
    lb_kind NAT
    persistence_timeout 60
    protocol TCP
    real_server 10.0.2.11 80 {
        TCP_CHECK {
            connect_timeout 10
        }
    }
}
";

fn suite(test: &str) -> Option<&'static VmRun> {
    static SUITE: OnceLock<Result<VmRun, String>> = OnceLock::new();
    if vm::skip_if_unavailable(test) {
        return None;
    }
    let run = SUITE.get_or_init(|| {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let script = dir.path().join("realserver_vm.sh");
        let conf = dir.path().join("nat-director.conf");
        std::fs::write(&script, SCENARIO).map_err(|e| e.to_string())?;
        std::fs::write(&conf, NAT_DIRECTOR).map_err(|e| e.to_string())?;
        Scenario::new(&script)
            .file(&conf)
            .timeout_secs(300)
            .run()
            .map_err(|e| e.to_string())
    });
    match run {
        Ok(run) => Some(run),
        Err(e) => panic!("{test}: {e}"),
    }
}

#[test]
fn dr_real_servers_answer_and_stay_out_of_arp() {
    let Some(run) = suite("dr_real_servers_answer_and_stay_out_of_arp") else {
        return;
    };
    assert_sections_pass(run, &["dr-traffic".to_string()]);
}

#[test]
fn tun_real_server_answers_encapsulated_traffic() {
    let Some(run) = suite("tun_real_server_answers_encapsulated_traffic") else {
        return;
    };
    assert_sections_pass(run, &["tun-traffic".to_string()]);
}

#[test]
fn doctor_on_a_kernel_with_ipvs() {
    let Some(run) = suite("doctor_on_a_kernel_with_ipvs") else {
        return;
    };
    assert_sections_pass(run, &["doctor-ipvs".to_string()]);
}
