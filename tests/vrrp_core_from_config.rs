//! The core built from real keepalived.conf text through the config front end, then run on
//! the simulated LAN: a unicast VRRP pair with PASS auth, and an LVS-NAT director pair whose
//! WAN and LAN instances are in one sync group.

mod vrrp_core_support;

use rampart::config::{LoadOptions, load_file};
use rampart::vrrp::auth::{Auth, key_bytes};
use rampart::vrrp::fsm::Input;
use rampart::vrrp::{Node, Version, VrrpState};
use std::path::Path;
use std::time::Duration;
use vrrp_core_support::*;

fn node_from(path: &Path, id: Option<&str>) -> Node {
    let loaded = load_file(
        path,
        &LoadOptions {
            config_id: id.map(str::to_string),
        },
    )
    .unwrap_or_else(|d| panic!("{}: {d:?}", path.display()));
    Node::from_config(&loaded.config).unwrap()
}

#[test]
fn unicast_pair_from_the_example_config() {
    let conf = Path::new(env!("CARGO_MANIFEST_DIR")).join("conf/examples/vrrp-pair.conf");
    let n1 = node_from(&conf, Some("node1"));
    let n2 = node_from(&conf, Some("node2"));
    let p1 = n1.instances()[0].params().clone();
    assert_eq!(p1.priority, 150);
    assert_eq!(p1.version, Version::V2);
    assert_eq!(p1.auth, Auth::Pass(key_bytes("s3cr3t")));
    assert_eq!(p1.unicast_peers, vec![ip("10.0.0.12")]);
    assert_eq!(p1.track_scripts[0].weight, -20);
    let mut lan = Lan::new();
    let a = lan.add(
        "node1",
        n1,
        vec![Port {
            segment: "eth0".into(),
            addr: ip("10.0.0.11"),
        }],
    );
    let b = lan.add(
        "node2",
        n2,
        vec![Port {
            segment: "eth0".into(),
            addr: ip("10.0.0.12"),
        }],
    );
    lan.start(a);
    lan.start(b);
    lan.run_until(Duration::from_secs(10));
    assert_eq!(lan.holders("VI_1"), vec!["node1"]);
    // nginx dies on node1: 150 - 20 = 130, still above node2's 100: node1 stays master.
    lan.input(
        a,
        0,
        Input::TrackScript {
            name: "chk_nginx".into(),
            ok: false,
        },
    );
    lan.run_for(Duration::from_secs(10));
    assert_eq!(lan.holders("VI_1"), vec!["node1"]);
    // No packet was dropped on either side: PASS, interval and unicast addressing agree.
    for r in &lan.routers {
        let c = r.node.instances()[0].counters();
        assert!(c.drops.is_empty(), "{}: {:?}", r.name, c.drops);
    }
}

const DIRECTOR: &str = r#"
global_defs {
    router_id DIRECTOR
}
vrrp_sync_group VG_NAT {
    group {
        LVS_WAN
        LVS_LAN
    }
}
vrrp_instance LVS_WAN {
    state MASTER
    interface eth0
    virtual_router_id 100
    priority PRIO
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass 1c7f545a
    }
    virtual_ipaddress {
        113.226.77.88
    }
}
vrrp_instance LVS_LAN {
    state MASTER
    interface eth1
    virtual_router_id 101
    priority PRIO
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass 9aa614f7
    }
    virtual_ipaddress {
        192.168.168.11
    }
}
"#;

#[test]
fn lvs_nat_director_pair_never_splits_wan_and_lan() {
    let dir = tempfile::tempdir().unwrap();
    let mut lan = Lan::new();
    for (name, prio, wan, lanaddr) in [
        ("dir1", "100", "113.226.77.1", "192.168.168.1"),
        ("dir2", "99", "113.226.77.2", "192.168.168.2"),
    ] {
        let path = dir.path().join(format!("{name}.conf"));
        std::fs::write(&path, DIRECTOR.replace("PRIO", prio)).unwrap();
        let node = node_from(&path, None);
        assert_eq!(node.groups().len(), 1);
        lan.add(
            name,
            node,
            vec![
                Port {
                    segment: "wan".into(),
                    addr: ip(wan),
                },
                Port {
                    segment: "lan".into(),
                    addr: ip(lanaddr),
                },
            ],
        );
    }
    lan.start(0);
    lan.start(1);
    lan.run_until(Duration::from_secs(10));
    assert_eq!(lan.holders("LVS_WAN"), vec!["dir1"]);
    assert_eq!(lan.holders("LVS_LAN"), vec!["dir1"]);
    // The LAN cable of dir1 is pulled.
    lan.input(0, 1, Input::LinkChanged { up: false });
    for t in 1..=100 {
        lan.run_for(Duration::from_millis(100));
        // At no moment do the two directors hold one VIP each.
        let w = lan.holders("LVS_WAN");
        let l = lan.holders("LVS_LAN");
        assert!(
            w.is_empty() || l.is_empty() || w == l,
            "split at step {t}: {w:?} {l:?}"
        );
    }
    assert_eq!(lan.holders("LVS_WAN"), vec!["dir2"]);
    assert_eq!(lan.holders("LVS_LAN"), vec!["dir2"]);
    assert_eq!(lan.routers[1].node.groups()[0].state(), VrrpState::Master);
}

#[test]
fn reload_keeps_the_master_and_applies_the_new_priority() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dir1.conf");
    std::fs::write(&path, DIRECTOR.replace("PRIO", "100")).unwrap();
    let mut lan = Lan::new();
    let node = node_from(&path, None);
    lan.add(
        "dir1",
        node,
        vec![
            Port {
                segment: "wan".into(),
                addr: ip("113.226.77.1"),
            },
            Port {
                segment: "lan".into(),
                addr: ip("192.168.168.1"),
            },
        ],
    );
    lan.start(0);
    lan.run_until(Duration::from_secs(10));
    assert_eq!(lan.holders("LVS_WAN"), vec!["dir1"]);
    // SIGHUP with priority 120: no transition, the new priority is advertised at once.
    std::fs::write(&path, DIRECTOR.replace("PRIO", "120")).unwrap();
    let cfg = load_file(&path, &LoadOptions { config_id: None })
        .unwrap()
        .config;
    let now = lan.base + lan.now;
    let acts = lan.routers[0].node.reconfigure(&cfg, now).unwrap();
    assert!(acts.iter().all(|a| !matches!(
        a,
        rampart::vrrp::NodeAction::Instance {
            action: rampart::vrrp::Action::Notify(_),
            ..
        }
    )));
    assert_eq!(lan.routers[0].node.instances()[0].effective_priority(), 120);
    assert_eq!(
        lan.routers[0].node.instances()[0].state(),
        VrrpState::Master
    );
    // A config with an instance removed is refused: the shell restarts the node instead.
    let one = DIRECTOR
        .replace("PRIO", "120")
        .replace("        LVS_LAN\n", "");
    let cut = one.find("vrrp_instance LVS_LAN").unwrap();
    std::fs::write(&path, &one[..cut]).unwrap();
    let cfg = load_file(&path, &LoadOptions { config_id: None })
        .unwrap()
        .config;
    assert!(lan.routers[0].node.reconfigure(&cfg, now).is_err());
}
