//! The lab itself: two keepalived daemons elect a master and the VIP answers ARP from a third
//! namespace. If this fails, the rampart netns tests cannot be trusted either.

#[path = "common/netns.rs"]
mod netns;
#[path = "common/netns_vrrp.rs"]
mod netns_vrrp;

use netns::{Lab, wait_for};
use netns_vrrp::{Inst, conf, start_keepalived};
use std::time::Duration;

#[test]
fn keepalived_pair_elects_and_answers_arp() {
    if !netns::available() {
        return;
    }
    let mut lab = Lab::new("lab");
    let lan = lab.lan("br");
    let a = lab.ns("a");
    let b = lab.ns("b");
    let o = lab.ns("o");
    lab.attach(&a, "eth0", &lan, &["10.9.0.1/24"]);
    lab.attach(&b, "eth0", &lan, &["10.9.0.2/24"]);
    lab.attach(&o, "eth0", &lan, &["10.9.0.9/24"]);
    let vip = "10.9.0.100";
    start_keepalived(
        &mut lab,
        &a,
        "ka-a",
        &conf(
            &[Inst::new("VI_1", "eth0", 9, 150, &["10.9.0.100/24"])],
            &[],
        ),
    );
    start_keepalived(
        &mut lab,
        &b,
        "ka-b",
        &conf(
            &[Inst::new("VI_1", "eth0", 9, 100, &["10.9.0.100/24"])],
            &[],
        ),
    );
    let mac_a = lab.mac(&a, "eth0");
    let got = wait_for(Duration::from_secs(15), || {
        lab.arping(&o, "eth0", vip).filter(|m| *m == mac_a)
    });
    assert_eq!(got, Some(mac_a), "VIP should answer from a");
    assert!(!lab.has_addr(&b, "eth0", vip));
}
