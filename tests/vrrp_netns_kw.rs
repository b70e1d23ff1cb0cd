//! keepalived keywords whose effect is on the wire, checked against Debian's keepalived 2.2.7:
//! the same configuration is run once by keepalived and once by rampart as the *subject*, a
//! keepalived *peer* provokes it, and an observer namespace captures what the subject sends.
//! Both implementations must match the expected behaviour.
//!
//! - A MASTER receiving a lower-priority advert: answers with an advert (unless
//!   `lower_prio_no_advert`) and sends `garp_lower_prio_repeat` gratuitous ARPs.
//! - A MASTER receiving a higher-priority advert: with `higher_prio_send_advert` it sends one
//!   advert before going BACKUP, without it none.
//! - `vrrp_garp_interval`: gratuitous ARPs on becoming MASTER are spaced by it.
//!
//! The peer drops incoming VRRP (iptables in its namespace), so it never hears the subject
//! and keeps advertising as a second master: a deterministic stimulus once a second.
//! The subject uses VRRPv3 with a 2.3 s interval (and `down_timer_adverts 1` to start fast),
//! so its own periodic adverts are rare and out of phase with the peer's.
//!
//! Run as root: `cargo test --test vrrp_netns_kw`. Skips without namespaces or keepalived.

#[path = "common/netns.rs"]
mod netns;
#[path = "common/netns_vrrp.rs"]
mod netns_vrrp;

use netns::{Lab, wait_for};
use netns_vrrp::{Inst, conf, start_keepalived, start_rampart};
use std::time::Duration;

const VIP: &str = "10.31.0.100";
const SUBJECT: &str = "10.31.0.1";
const PEER: &str = "10.31.0.2";
/// An advert of the subject this soon after one of the peer's is an answer to it.
const ANSWER_WINDOW: f64 = 0.15;

fn keepalived_available() -> bool {
    let ok = std::process::Command::new("keepalived")
        .arg("--version")
        .output()
        .is_ok();
    if !ok {
        eprintln!("skipping: keepalived not installed");
    }
    ok
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Who {
    Rampart,
    Keepalived,
}

/// One captured packet of interest.
#[derive(Debug, Clone)]
enum Seen {
    /// (time, source IP, priority)
    Advert(f64, String, u8),
    /// (time, source MAC) of a gratuitous ARP for VIP.
    Garp(f64, String),
}

/// `tcpdump -n -e -tt -r` lines → adverts and gratuitous ARPs.
fn parse_capture(text: &str) -> Vec<Seen> {
    let mut out = Vec::new();
    for l in text.lines() {
        let mut w = l.split_whitespace();
        let (Some(t), Some(mac)) = (w.next(), w.next()) else {
            continue;
        };
        let Ok(t) = t.parse::<f64>() else { continue };
        if l.contains("VRRP") && l.contains("Advertisement") {
            let src = l
                .split(": ")
                .nth(1)
                .and_then(|s| s.split_whitespace().next())
                .unwrap_or("")
                .to_string();
            let prio = l
                .split("prio ")
                .nth(1)
                .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            out.push(Seen::Advert(t, src, prio));
        } else if l.contains(&format!("who-has {VIP} ")) && l.contains(&format!("tell {VIP},")) {
            out.push(Seen::Garp(t, mac.to_ascii_lowercase()));
        }
    }
    out
}

struct Observed {
    /// The peer's adverts, times.
    peer_adverts: Vec<f64>,
    /// For each peer advert: did the subject advertise within ANSWER_WINDOW after it?
    answered: Vec<bool>,
    /// Gratuitous ARPs from the subject's MAC at or after the peer's first advert.
    subject_garps_after_peer: Vec<f64>,
    /// Gratuitous ARPs from the subject's MAC before the peer appeared (becoming MASTER).
    subject_garps_before_peer: Vec<f64>,
    /// The subject ended up holding the VIP.
    subject_has_vip: bool,
    /// What the subject wrote to its `notify_fifo` (read by its `notify_fifo_script`).
    fifo_lines: String,
    logs: String,
    /// Kept alive so that a failing assertion (a panic while it is dropped) keeps the logs.
    _lab: Lab,
}

/// Run `subject` (priority `subject_prio`, `extra` instance lines, `global` lines) until it is
/// MASTER, then start the keepalived peer at `peer_prio` and watch for `watch`.
fn run(
    name: &str,
    who: Who,
    subject_prio: u8,
    peer_prio: u8,
    global: &str,
    extra: &str,
    watch: Duration,
) -> Option<Observed> {
    let mut lab = Lab::new(name);
    let lan = lab.lan("br");
    let s = lab.ns("s");
    let p = lab.ns("p");
    let o = lab.ns("o");
    lab.attach(&s, "eth0", &lan, &[&format!("{SUBJECT}/24")]);
    lab.attach(&p, "eth0", &lan, &[&format!("{PEER}/24")]);
    lab.attach(&o, "eth0", &lan, &["10.31.0.9/24"]);
    let mac_s = lab.mac(&s, "eth0");
    let logs = lab.dir.path().display().to_string();

    let mut subject = Inst::new("VI_KW", "eth0", 61, subject_prio, &[VIP]).v3("2.3");
    subject.extra = format!("  down_timer_adverts 1\n{extra}");
    // `global` goes last in global_defs, so it overrides the lab's GARP settings.
    // The fifo script copies every line to fifo.out (keepalived passes the fifo as $1).
    let fifo_out = lab.path("fifo.out");
    let fifo_script = lab.path("fifo.sh");
    std::fs::write(
        &fifo_script,
        format!(
            "#!/bin/sh\nwhile read -r l; do echo \"$l\" >> {}; done < \"$1\"\n",
            fifo_out.display()
        ),
    )
    .expect("fifo script");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fifo_script, std::fs::Permissions::from_mode(0o755))
            .expect("chmod fifo script");
    }
    let fifo_globals = format!(
        "  notify_fifo {}\n  notify_fifo_script {}\n",
        lab.path("notify.fifo").display(),
        fifo_script.display()
    );
    let conf_s = conf(&[subject], &[]).replacen(
        "vrrp_garp_master_repeat 2\n}",
        &format!("vrrp_garp_master_repeat 2\n{fifo_globals}{global}}}"),
        1,
    );
    let peer = Inst::new("VI_KW", "eth0", 61, peer_prio, &[VIP]).v3("1");
    let conf_p = conf(&[peer], &[]);

    let cap = lab.path("cap.pcap");
    let cap_log = lab.path("tcpdump.log");
    let tcpdump = lab.spawn(
        "tcpdump",
        &o,
        &[
            "tcpdump",
            "-i",
            "eth0",
            "-n",
            "--immediate-mode",
            "-U",
            "-w",
            cap.to_str().unwrap(),
            "vrrp or arp",
        ],
        &cap_log,
    );
    std::thread::sleep(Duration::from_millis(500));
    match who {
        Who::Rampart => start_rampart(&mut lab, &s, &format!("{name}-s"), &conf_s),
        Who::Keepalived => start_keepalived(&mut lab, &s, &format!("{name}-s"), &conf_s),
    };
    let master = wait_for(Duration::from_secs(20), || {
        lab.has_addr(&s, "eth0", VIP).then_some(())
    });
    assert!(
        master.is_some(),
        "{name} ({who:?}): the subject never became MASTER (logs in {logs})"
    );
    // Let the subject's own MASTER-entry GARPs (now and after vrrp_garp_master_delay 1) pass.
    std::thread::sleep(Duration::from_millis(1500));
    lab.exec_ok(&p, &["iptables", "-A", "INPUT", "-p", "112", "-j", "DROP"]);
    start_keepalived(&mut lab, &p, &format!("{name}-p"), &conf_p);
    let peer_master = wait_for(Duration::from_secs(20), || {
        lab.has_addr(&p, "eth0", VIP).then_some(())
    });
    assert!(
        peer_master.is_some(),
        "{name} ({who:?}): the peer never became MASTER (logs in {logs})"
    );
    std::thread::sleep(watch);
    let subject_has_vip = lab.has_addr(&s, "eth0", VIP);
    // The last packets reach the capture file before tcpdump stops.
    std::thread::sleep(Duration::from_millis(300));
    lab.signal(tcpdump, "INT");
    lab.wait_exit(tcpdump, Duration::from_secs(5));
    let out = lab.exec(
        &o,
        &["tcpdump", "-n", "-e", "-tt", "-r", cap.to_str().unwrap()],
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    std::fs::write(lab.path("capture.txt"), &text).ok();
    let seen = parse_capture(&text);
    let peer_adverts: Vec<f64> = seen
        .iter()
        .filter_map(|x| match x {
            Seen::Advert(t, src, prio) if src == PEER && *prio > 0 => Some(*t),
            _ => None,
        })
        .collect();
    let subject_adverts: Vec<f64> = seen
        .iter()
        .filter_map(|x| match x {
            Seen::Advert(t, src, _) if src == SUBJECT => Some(*t),
            _ => None,
        })
        .collect();
    let Some(&first_peer) = peer_adverts.first() else {
        panic!("{name} ({who:?}): no advert of the peer captured (logs in {logs})");
    };
    let answered = peer_adverts
        .iter()
        .map(|t| {
            subject_adverts
                .iter()
                .any(|s| *s >= *t && *s - *t <= ANSWER_WINDOW)
        })
        .collect();
    let garps = |after: bool| -> Vec<f64> {
        seen.iter()
            .filter_map(|x| match x {
                Seen::Garp(t, mac) if *mac == mac_s && ((*t >= first_peer) == after) => Some(*t),
                _ => None,
            })
            .collect()
    };
    // The fifo script may still be copying the last line: wait until it has one per captured
    // peer advert but the last (the daemon may not have processed that one yet).
    let lower_lines = || {
        let text = std::fs::read_to_string(&fifo_out).unwrap_or_default();
        let n = text
            .lines()
            .filter(|l| l.contains("MASTER_RX_LOWER_PRI"))
            .count();
        (n, text)
    };
    let _ = wait_for(Duration::from_secs(10), || {
        (lower_lines().0 + 1 >= peer_adverts.len()).then_some(())
    });
    let fifo_lines = lower_lines().1;
    let o = Observed {
        fifo_lines,
        peer_adverts,
        answered,
        subject_garps_after_peer: garps(true),
        subject_garps_before_peer: garps(false),
        subject_has_vip,
        logs: logs.clone(),
        _lab: lab,
    };
    Some(o)
}

fn skip() -> bool {
    !netns::available() || !keepalived_available()
}

/// The subject (150) is MASTER; the peer (100) advertises as a second master every second.
fn lower_prio_case(name: &str, extra: &str) -> [(Who, Observed); 2] {
    [Who::Keepalived, Who::Rampart].map(|who| {
        let o = run(name, who, 150, 100, "", extra, Duration::from_millis(3300)).expect("lab");
        assert!(
            o.subject_has_vip,
            "{name} ({who:?}): the subject lost MASTER (logs in {})",
            o.logs
        );
        eprintln!(
            "{name} {who:?}: peer adverts {}, answered {:?}, subject GARPs after the peer {}",
            o.peer_adverts.len(),
            o.answered,
            o.subject_garps_after_peer.len()
        );
        (who, o)
    })
}

#[test]
fn lower_priority_advert_is_answered_with_an_advert_and_garps_like_keepalived() {
    if skip() {
        return;
    }
    let extra = "  garp_lower_prio_repeat 2\n  garp_lower_prio_delay 0\n";
    for (who, o) in lower_prio_case("kwlow", extra) {
        let n = o.peer_adverts.len();
        assert!(
            n >= 2,
            "{who:?}: only {n} peer adverts (logs in {})",
            o.logs
        );
        let answered = o.answered.iter().filter(|a| **a).count();
        assert!(
            answered + 1 >= n,
            "{who:?}: answered {answered} of {n} lower-priority adverts (logs in {})",
            o.logs
        );
        // Two GARPs per lower-priority advert; the capture may end between an advert and
        // its GARPs, hence the range.
        let g = o.subject_garps_after_peer.len();
        assert!(
            g == 2 * n || g + 2 == 2 * n,
            "{who:?}: {g} GARPs for {n} lower-priority adverts (logs in {})",
            o.logs
        );
        // keepalived's send_event_notify: one fifo line per lower-priority advert, with the
        // MASTER's own priority, whether or not notify_master_rx_lower_pri is configured.
        // (An advert may arrive between the end of the capture and the read of the lines.)
        let lower = o
            .fifo_lines
            .lines()
            .filter(|l| l.contains("MASTER_RX_LOWER_PRI"))
            .collect::<Vec<_>>();
        assert!(
            lower.len() + 1 >= n && lower.len() <= n + 1,
            "{who:?}: {} MASTER_RX_LOWER_PRI fifo lines for {n} lower-priority adverts: {:?} (logs in {})",
            lower.len(),
            o.fifo_lines,
            o.logs
        );
        assert!(
            lower
                .iter()
                .all(|l| *l == "INSTANCE \"VI_KW\" MASTER_RX_LOWER_PRI 150"),
            "{who:?}: {lower:?}"
        );
    }
}

#[test]
fn lower_prio_no_advert_and_no_garps_like_keepalived() {
    if skip() {
        return;
    }
    let extra = "  lower_prio_no_advert\n  garp_lower_prio_repeat 0\n";
    for (who, o) in lower_prio_case("kwnoadv", extra) {
        let n = o.peer_adverts.len();
        let answered = o.answered.iter().filter(|a| **a).count();
        assert!(
            answered <= 1,
            "{who:?}: answered {answered} of {n} lower-priority adverts despite lower_prio_no_advert (logs in {})",
            o.logs
        );
        assert_eq!(
            o.subject_garps_after_peer.len(),
            0,
            "{who:?}: GARPs despite garp_lower_prio_repeat 0 (logs in {})",
            o.logs
        );
    }
}

/// The subject (100) is MASTER; the peer (150) appears. With `higher_prio_send_advert` the
/// subject sends one advert in answer before it goes BACKUP.
#[test]
fn higher_prio_send_advert_like_keepalived() {
    if skip() {
        return;
    }
    for (extra, want) in [("  higher_prio_send_advert\n", true), ("", false)] {
        for who in [Who::Keepalived, Who::Rampart] {
            let o = run(
                "kwhigh",
                who,
                100,
                150,
                "",
                extra,
                Duration::from_millis(1500),
            )
            .expect("lab");
            assert!(
                !o.subject_has_vip,
                "{who:?}: the subject stayed MASTER (logs in {})",
                o.logs
            );
            assert_eq!(
                o.answered.first().copied(),
                Some(want),
                "{who:?} {extra:?}: answer to the first higher-priority advert (logs in {})",
                o.logs
            );
        }
    }
}

/// `vrrp_garp_interval 0.25`: the GARPs of becoming MASTER (the lab's
/// `vrrp_garp_master_repeat 2`, again after `vrrp_garp_master_delay 1`) are 0.25 s apart.
///
/// keepalived 2.2.7 sends at most 2 GARPs per round for a VIP once `vrrp_garp_interval` is
/// set, whatever `vrrp_garp_master_repeat` says (observed: repeat 5, interval 0.1 → 2 GARPs,
/// the rest never sent); rampart sends them all, spaced — checked below with repeat 3.
#[test]
fn garp_interval_spaces_gratuitous_arps_like_keepalived() {
    if skip() {
        return;
    }
    for who in [Who::Keepalived, Who::Rampart] {
        let o = run(
            "kwgint",
            who,
            150,
            100,
            "  vrrp_garp_interval 0.25\n",
            "  garp_lower_prio_repeat 0\n",
            Duration::from_millis(200),
        )
        .expect("lab");
        let g = &o.subject_garps_before_peer;
        // 2 now + 2 after vrrp_garp_master_delay 1 (counted from the first round's start).
        assert_eq!(g.len(), 4, "{who:?}: GARPs {g:?} (logs in {})", o.logs);
        let second = g[2] - g[0];
        assert!(
            (0.9..1.3).contains(&second),
            "{who:?}: second round {second:.3} s after the first (all: {g:?}; logs in {})",
            o.logs
        );
        for w in [&g[..2], &g[2..]] {
            let gap = w[1] - w[0];
            assert!(
                (0.24..0.6).contains(&gap),
                "{who:?}: GARPs {gap:.3} s apart, want about 0.25 (all: {g:?}; logs in {})",
                o.logs
            );
        }
    }
    // rampart with repeat 3: three GARPs per round, 0.25 s apart (keepalived would send 2).
    let o = run(
        "kwgint3",
        Who::Rampart,
        150,
        100,
        "  vrrp_garp_interval 0.25\n  vrrp_garp_master_repeat 3\n",
        "  garp_lower_prio_repeat 0\n",
        Duration::from_millis(200),
    )
    .expect("lab");
    let g = &o.subject_garps_before_peer;
    assert_eq!(
        g.len(),
        6,
        "rampart, repeat 3: GARPs {g:?} (logs in {})",
        o.logs
    );
    for w in g[..3].windows(2) {
        let gap = w[1] - w[0];
        assert!(
            (0.24..0.6).contains(&gap),
            "rampart, repeat 3: GARPs {gap:.3} s apart (all: {g:?}; logs in {})",
            o.logs
        );
    }
}

/// One namespace per implementation, alone on a LAN: `track_file` with weight 0 — a non-zero
/// number in the file means FAULT (VIP released), 0 means back to MASTER. keepalived and
/// rampart run the same file.
#[test]
fn track_file_fault_and_recovery_like_keepalived() {
    if skip() {
        return;
    }
    for who in [Who::Keepalived, Who::Rampart] {
        let mut lab = Lab::new("kwtf");
        let lan = lab.lan("br");
        let s = lab.ns("s");
        lab.attach(&s, "eth0", &lan, &[&format!("{SUBJECT}/24")]);
        let logs = lab.dir.path().display().to_string();
        let file = lab.path("state");
        let mut inst = Inst::new("VI_TF", "eth0", 62, 150, &[VIP]);
        inst.extra = "  track_file {\n    ready weight 0\n  }\n".into();
        let text = format!(
            "track_file ready {{\n  file \"{}\"\n  init_file 0 overwrite\n}}\n{}",
            file.display(),
            conf(&[inst], &[])
        );
        match who {
            Who::Rampart => start_rampart(&mut lab, &s, "kwtf-s", &text),
            Who::Keepalived => start_keepalived(&mut lab, &s, "kwtf-s", &text),
        };
        let up = |lab: &Lab| {
            wait_for(Duration::from_secs(15), || {
                lab.has_addr(&s, "eth0", VIP).then_some(())
            })
        };
        assert!(up(&lab).is_some(), "{who:?}: never MASTER (logs in {logs})");
        assert_eq!(
            std::fs::read_to_string(&file)
                .ok()
                .map(|t| t.trim().to_string()),
            Some("0".into()),
            "{who:?}: init_file did not write the file"
        );
        std::fs::write(&file, "1\n").unwrap();
        let down = wait_for(Duration::from_secs(5), || {
            (!lab.has_addr(&s, "eth0", VIP)).then_some(())
        });
        assert!(
            down.is_some(),
            "{who:?}: `1` in the file did not release the VIP (logs in {logs})"
        );
        std::fs::write(&file, "0\n").unwrap();
        assert!(
            up(&lab).is_some(),
            "{who:?}: `0` in the file did not bring MASTER back (logs in {logs})"
        );
    }
}

/// `mcast_dst_ip 224.0.0.19` on both sides: rampart (100) hears keepalived (150) on the
/// alternative group and stays BACKUP; the adverts go to 224.0.0.19.
#[test]
fn mcast_dst_ip_interoperates_with_keepalived() {
    if skip() {
        return;
    }
    let mut lab = Lab::new("kwmc");
    let lan = lab.lan("br");
    let r = lab.ns("r");
    let k = lab.ns("k");
    lab.attach(&r, "eth0", &lan, &[&format!("{SUBJECT}/24")]);
    lab.attach(&k, "eth0", &lan, &[&format!("{PEER}/24")]);
    let logs = lab.dir.path().display().to_string();
    let mk = |prio| {
        let mut i = Inst::new("VI_MC", "eth0", 63, prio, &[VIP]);
        i.extra = "  mcast_dst_ip 224.0.0.19\n".into();
        conf(&[i], &[])
    };
    let cap = lab.path("r.pcap");
    let tcpdump = lab.spawn(
        "tcpdump",
        &r,
        &[
            "tcpdump",
            "-i",
            "eth0",
            "-n",
            "--immediate-mode",
            "-U",
            "-w",
            cap.to_str().unwrap(),
            "vrrp",
        ],
        &lab.path("tcpdump.log"),
    );
    std::thread::sleep(Duration::from_millis(500));
    start_rampart(&mut lab, &r, "kwmc-r", &mk(100));
    start_keepalived(&mut lab, &k, "kwmc-k", &mk(150));
    let k_master = wait_for(Duration::from_secs(15), || {
        lab.has_addr(&k, "eth0", VIP).then_some(())
    });
    assert!(
        k_master.is_some(),
        "keepalived never became MASTER (logs in {logs})"
    );
    // rampart's Master_Down_Interval is 3.6 s: it would have taken the VIP by now if it did
    // not hear keepalived on 224.0.0.19.
    std::thread::sleep(Duration::from_secs(5));
    assert!(
        !lab.has_addr(&r, "eth0", VIP),
        "rampart took the VIP: it does not hear adverts on mcast_dst_ip (logs in {logs})"
    );
    std::thread::sleep(Duration::from_millis(300));
    lab.signal(tcpdump, "INT");
    lab.wait_exit(tcpdump, Duration::from_secs(5));
    let out = lab.exec(&r, &["tcpdump", "-n", "-r", cap.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("10.31.0.2 > 224.0.0.19: VRRP"), "{text}");
    assert!(
        !text.contains("224.0.0.18"),
        "adverts to the default group:\n{text}"
    );
}

/// `unicast_ttl 10`: rampart's unicast adverts carry TTL 10 and keepalived accepts them (it
/// stays BACKUP); keepalived's TTL-10 adverts are accepted by rampart the other way round.
#[test]
fn unicast_ttl_interoperates_with_keepalived() {
    if skip() {
        return;
    }
    for rampart_master in [true, false] {
        let mut lab = Lab::new("kwhop");
        let lan = lab.lan("br");
        let r = lab.ns("r");
        let k = lab.ns("k");
        lab.attach(&r, "eth0", &lan, &[&format!("{SUBJECT}/24")]);
        lab.attach(&k, "eth0", &lan, &[&format!("{PEER}/24")]);
        let logs = lab.dir.path().display().to_string();
        let (pr, pk) = if rampart_master {
            (150, 100)
        } else {
            (100, 150)
        };
        let mk = |prio, src: &str, peer: &str| {
            let mut i = Inst::new("VI_HOP", "eth0", 64, prio, &[VIP]).unicast(src, &[peer]);
            i.extra = "  unicast_ttl 10\n".into();
            conf(&[i], &[])
        };
        let (m, b) = if rampart_master { (&r, &k) } else { (&k, &r) };
        let cap = lab.path("b.pcap");
        let tcpdump = lab.spawn(
            "tcpdump",
            b,
            &[
                "tcpdump",
                "-i",
                "eth0",
                "-n",
                "-v",
                "--immediate-mode",
                "-U",
                "-w",
                cap.to_str().unwrap(),
                "vrrp",
            ],
            &lab.path("tcpdump.log"),
        );
        std::thread::sleep(Duration::from_millis(500));
        let (_, ka_log) = start_keepalived(&mut lab, &k, "kwhop-k", &mk(pk, PEER, SUBJECT));
        start_rampart(&mut lab, &r, "kwhop-r", &mk(pr, SUBJECT, PEER));
        let got = wait_for(Duration::from_secs(15), || {
            lab.has_addr(m, "eth0", VIP).then_some(())
        });
        assert!(
            got.is_some(),
            "rampart master {rampart_master}: no MASTER (logs in {logs})"
        );
        std::thread::sleep(Duration::from_secs(5));
        assert!(
            !lab.has_addr(b, "eth0", VIP),
            "rampart master {rampart_master}: the backup took the VIP: TTL-10 adverts rejected (logs in {logs})"
        );
        let complaints = netns_vrrp::keepalived_complaints(&ka_log);
        assert!(
            complaints.is_empty(),
            "keepalived complained:\n{}",
            complaints.join("\n")
        );
        std::thread::sleep(Duration::from_millis(300));
        lab.signal(tcpdump, "INT");
        lab.wait_exit(tcpdump, Duration::from_secs(5));
        let out = lab.exec(b, &["tcpdump", "-n", "-v", "-r", cap.to_str().unwrap()]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("ttl 10,"),
            "no TTL-10 advert seen by the backup:\n{text}"
        );
    }
}

/// `promote_secondaries` sets the interface's sysctl while rampart runs and restores it.
#[test]
fn promote_secondaries_is_set_and_restored() {
    if !netns::available() {
        return;
    }
    let mut lab = Lab::new("kwps");
    let lan = lab.lan("br");
    let s = lab.ns("s");
    lab.attach(&s, "eth0", &lan, &[&format!("{SUBJECT}/24")]);
    let logs = lab.dir.path().display().to_string();
    let sysctl = "net.ipv4.conf.eth0.promote_secondaries";
    lab.exec_ok(&s, &["sysctl", "-qw", &format!("{sysctl}=0")]);
    let mut i = Inst::new("VI_PS", "eth0", 65, 150, &[VIP]);
    i.extra = "  promote_secondaries\n".into();
    let (pid, _) = start_rampart(&mut lab, &s, "kwps-s", &conf(&[i], &[]));
    let read = |lab: &Lab| {
        lab.exec_ok(&s, &["sysctl", "-n", sysctl])
            .trim()
            .to_string()
    };
    let set = wait_for(Duration::from_secs(10), || {
        (read(&lab) == "1").then_some(())
    });
    assert!(
        set.is_some(),
        "promote_secondaries not set (logs in {logs})"
    );
    lab.signal(pid, "TERM");
    assert!(
        lab.wait_exit(pid, Duration::from_secs(10)),
        "rampart did not stop (logs in {logs})"
    );
    assert_eq!(
        read(&lab),
        "0",
        "promote_secondaries not restored (logs in {logs})"
    );
}

/// `promote_secondaries` on an instance added by a reload (SIGHUP) is set too, and restored
/// at shutdown like the ones set at start.
#[test]
fn promote_secondaries_is_set_for_an_instance_added_by_reload() {
    if !netns::available() {
        return;
    }
    let mut lab = Lab::new("kwpsr");
    let lan = lab.lan("br");
    let lan1 = lab.lan("br1");
    let s = lab.ns("s");
    lab.attach(&s, "eth0", &lan, &[&format!("{SUBJECT}/24")]);
    lab.attach(&s, "eth1", &lan1, &["10.31.1.1/24"]);
    let logs = lab.dir.path().display().to_string();
    let sysctl = "net.ipv4.conf.eth1.promote_secondaries";
    lab.exec_ok(&s, &["sysctl", "-qw", &format!("{sysctl}=0")]);
    let first = Inst::new("VI_A", "eth0", 65, 150, &[VIP]);
    let mut added = Inst::new("VI_B", "eth1", 66, 150, &["10.31.1.100"]);
    added.extra = "  promote_secondaries\n".into();
    let (pid, _) = start_rampart(
        &mut lab,
        &s,
        "kwpsr-s",
        &conf(std::slice::from_ref(&first), &[]),
    );
    let read = |lab: &Lab| {
        lab.exec_ok(&s, &["sysctl", "-n", sysctl])
            .trim()
            .to_string()
    };
    let up = wait_for(Duration::from_secs(20), || {
        lab.has_addr(&s, "eth0", VIP).then_some(())
    });
    assert!(up.is_some(), "VI_A never became MASTER (logs in {logs})");
    assert_eq!(read(&lab), "0", "eth1 has no instance yet");
    std::fs::write(lab.path("kwpsr-s.conf"), conf(&[first, added], &[])).unwrap();
    lab.signal(pid, "HUP");
    let set = wait_for(Duration::from_secs(20), || {
        (read(&lab) == "1" && lab.has_addr(&s, "eth1", "10.31.1.100")).then_some(())
    });
    assert!(
        set.is_some(),
        "promote_secondaries not set for the added VI_B (sysctl {}, logs in {logs})",
        read(&lab)
    );
    lab.signal(pid, "TERM");
    assert!(
        lab.wait_exit(pid, Duration::from_secs(10)),
        "rampart did not stop (logs in {logs})"
    );
    assert_eq!(
        read(&lab),
        "0",
        "promote_secondaries not restored (logs in {logs})"
    );
}

/// `unicast_ttl 10` over IPv6: rampart's unicast adverts carry hop limit 10 and keepalived
/// (backup) accepts them.
#[test]
fn unicast_ttl_ipv6_interoperates_with_keepalived() {
    if skip() {
        return;
    }
    let mut lab = Lab::new("kwhop6");
    let lan = lab.lan("br");
    let r = lab.ns("r");
    let k = lab.ns("k");
    lab.attach(&r, "eth0", &lan, &["fd31::1/64"]);
    lab.attach(&k, "eth0", &lan, &["fd31::2/64"]);
    let logs = lab.dir.path().display().to_string();
    let vip6 = "fd31::100";
    let mk = |prio, src: &str, peer: &str| {
        let mut i = Inst::new("VI_HOP6", "eth0", 66, prio, &[vip6])
            .v3("1")
            .unicast(src, &[peer]);
        i.extra = "  unicast_ttl 10\n".into();
        conf(&[i], &[])
    };
    let cap = lab.path("k.pcap");
    let tcpdump = lab.spawn(
        "tcpdump",
        &k,
        &[
            "tcpdump",
            "-i",
            "eth0",
            "-n",
            "-v",
            "--immediate-mode",
            "-U",
            "-w",
            cap.to_str().unwrap(),
            "ip6 proto 112",
        ],
        &lab.path("tcpdump.log"),
    );
    std::thread::sleep(Duration::from_millis(500));
    let (_, ka_log) = start_keepalived(&mut lab, &k, "kwhop6-k", &mk(100, "fd31::2", "fd31::1"));
    start_rampart(&mut lab, &r, "kwhop6-r", &mk(150, "fd31::1", "fd31::2"));
    let got = wait_for(Duration::from_secs(15), || {
        lab.has_addr(&r, "eth0", vip6).then_some(())
    });
    assert!(
        got.is_some(),
        "rampart never became MASTER (logs in {logs})"
    );
    std::thread::sleep(Duration::from_secs(5));
    assert!(
        !lab.has_addr(&k, "eth0", vip6),
        "keepalived took the VIP: it rejects rampart's hop-limit-10 adverts (logs in {logs})"
    );
    let complaints = netns_vrrp::keepalived_complaints(&ka_log);
    assert!(
        complaints.is_empty(),
        "keepalived complained:\n{}",
        complaints.join("\n")
    );
    std::thread::sleep(Duration::from_millis(300));
    lab.signal(tcpdump, "INT");
    lab.wait_exit(tcpdump, Duration::from_secs(5));
    let out = lab.exec(&k, &["tcpdump", "-n", "-v", "-r", cap.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .any(|l| l.contains("hlim 10") && l.contains("fd31::1 > fd31::2")),
        "no hop-limit-10 advert from rampart:\n{text}"
    );
}

/// `log_unknown_vrids`: keepalived's adverts for a VRID rampart does not run are logged.
#[test]
fn log_unknown_vrids_logs_the_foreign_vrid() {
    if skip() {
        return;
    }
    let mut lab = Lab::new("kwvrid");
    let lan = lab.lan("br");
    let r = lab.ns("r");
    let k = lab.ns("k");
    lab.attach(&r, "eth0", &lan, &[&format!("{SUBJECT}/24")]);
    lab.attach(&k, "eth0", &lan, &[&format!("{PEER}/24")]);
    let logs = lab.dir.path().display().to_string();
    let conf_r = conf(&[Inst::new("VI_70", "eth0", 70, 100, &[VIP])], &[]).replacen(
        "vrrp_garp_master_repeat 2\n}",
        "vrrp_garp_master_repeat 2\n  log_unknown_vrids\n}",
        1,
    );
    let conf_k = conf(
        &[Inst::new("VI_71", "eth0", 71, 100, &["10.31.0.101"])],
        &[],
    );
    let (_, log_r) = start_rampart(&mut lab, &r, "kwvrid-r", &conf_r);
    start_keepalived(&mut lab, &k, "kwvrid-k", &conf_k);
    let seen = wait_for(Duration::from_secs(15), || {
        std::fs::read_to_string(&log_r)
            .unwrap_or_default()
            .contains(&format!("eth0: advert for VRID 71 from {PEER}"))
            .then_some(())
    });
    assert!(seen.is_some(), "no log line for VRID 71 (logs in {logs})");
}
