//! The VRRP state machine never panics on any input sequence (including undecodable packets),
//! and its actions keep the invariants: VIPs are held exactly in MASTER, `AddVips`/`DelVips`
//! alternate, transitions chain.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart::vrrp::auth::Auth;
use rampart::vrrp::fsm::{Action, Input, Instance, InstanceParams, SyncCommand, Tracked, TrackedFile, TrackedProcess, VrrpState};
use rampart::vrrp::packet::{AhParams, Af, Ipv4Params, Version, VrrpPacket, decode_ipv4, encode_ipv4};
use rampart::vrrp::{Centis, TimerKind};
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

fn params(b: &[u8]) -> InstanceParams {
    let g = |i: usize| b.get(i).copied().unwrap_or(0);
    let v3 = g(1) & 1 == 1;
    InstanceParams {
        name: "fz".into(),
        vrid: 7,
        version: if v3 { Version::V3 } else { Version::V2 },
        af: Af::V4,
        priority: g(0),
        advert_int: if v3 { Centis(u16::from(g(2)).max(1)) } else { Centis(100) },
        initial_state_master: g(1) & 2 != 0,
        nopreempt: g(1) & 4 != 0,
        preempt_delay: Duration::from_millis(u64::from(g(3)) * 10),
        auth: match g(1) >> 6 {
            1 if !v3 => Auth::Pass(*b"fuzzpass"),
            2 if !v3 => Auth::Ah(*b"fuzzkey\0"),
            _ => Auth::None,
        },
        vips: vec![IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))],
        unicast_peers: if g(1) & 8 != 0 { vec![IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2))] } else { vec![] },
        track_interfaces: vec![Tracked { name: "if".into(), weight: i32::from(g(4) as i8), reverse: false, ok: true }],
        track_scripts: vec![Tracked { name: "sc".into(), weight: i32::from(g(5) as i8), reverse: g(1) & 16 != 0, ok: true }],
        garp_master_delay: Duration::from_secs(1),
        garp_master_repeat: 1,
        garp_master_refresh: None,
        garp_master_refresh_repeat: 1,
        in_sync_group: g(1) & 32 != 0,
        track_primary: true,
        lower_prio_no_advert: g(1) & 64 != 0,
        higher_prio_send_advert: g(1) & 128 != 0,
        garp_lower_prio_repeat: u32::from(g(3) & 3),
        garp_lower_prio_delay: Duration::from_millis(u64::from(g(3) & 4) * 100),
        skip_check_adv_addr: g(2) & 1 != 0,
        check_unicast_src: g(2) & 2 != 0,
        unicast_fault_no_peer: g(2) & 4 != 0 && g(2) & 8 != 0,
        down_timer_adverts: u32::from(g(4) % 4) + 1,
        startup_delay: Duration::from_millis(u64::from(g(5) & 3) * 100),
        notify_master_rx_lower_pri: g(2) & 16 != 0,
        track_files: vec![TrackedFile { name: "tf".into(), weight: i32::from(g(2) as i8) / 4, reverse: g(2) & 32 != 0, value: 0 }],
        garp_extra_if: (g(2) & 64 != 0).then_some((true, Centis(100))),
        track_processes: vec![TrackedProcess { name: "tp".into(), weight: i32::from(g(3) as i8) / 4, reverse: g(3) & 8 != 0, up: true }],
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 6 {
        return;
    }
    let mut inst = Instance::new(params(&data[..6]));
    let t0 = Instant::now();
    let mut now = Duration::ZERO;
    let mut vips = false;
    let mut state = VrrpState::Init;
    let mut rest = &data[6..];
    inst.step(Input::LocalAddress { addr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)) }, t0);
    while let [op, arg, tail @ ..] = rest {
        rest = tail;
        now += Duration::from_millis(u64::from(*arg) * 7);
        let input = match op % 16 {
            12 => Input::TrackFile { name: "tf".into(), value: i64::from(*arg as i8) },
            11 if *arg >= 0xf0 => Input::TrackProcess { name: "tp".into(), up: arg & 1 == 1 },
            13 => Input::TimerExpired { timer: TimerKind::GarpLowerPrio },
            14 => Input::TimerExpired { timer: TimerKind::StartupDelay },
            15 => Input::TimerExpired { timer: TimerKind::GarpExtraIf },
            0 => Input::Startup,
            1 => Input::Shutdown,
            2 => Input::TimerExpired { timer: TimerKind::MasterDown },
            3 => Input::TimerExpired { timer: TimerKind::Advert },
            4 => Input::TimerExpired { timer: TimerKind::GarpDelay },
            5 => Input::LinkChanged { up: arg & 1 == 1 },
            6 => Input::TrackScript { name: "sc".into(), ok: arg & 1 == 1 },
            7 => Input::TrackInterface { name: "if".into(), up: arg & 1 == 1 },
            8 => Input::Sync {
                command: match arg % 4 {
                    0 => SyncCommand::Master,
                    1 => SyncCommand::Backup,
                    2 => SyncCommand::GroupFault { fault: true },
                    _ => SyncCommand::GroupFault { fault: false },
                },
            },
            9 | 10 => {
                // A well-formed advert from a peer: priority from the next byte, source and
                // details from `arg`.
                let (prio, tail) = match rest {
                    [p, t @ ..] => (*p, t),
                    [] => (0, rest),
                };
                rest = tail;
                let p = inst.params();
                let src = Ipv4Addr::new(10, 0, 0, [0, 1, 2, 9][usize::from(arg & 3)]);
                let vrrp = VrrpPacket {
                    version: if arg & 4 != 0 { Version::V3 } else { p.version },
                    vrid: if arg & 8 != 0 { 8 } else { p.vrid },
                    priority: prio,
                    auth_type: if p.version == Version::V2 { p.auth.wire_type() } else { 0 },
                    advert_int: if arg & 16 != 0 { Centis(u16::from(*arg)) } else { p.advert_int },
                    addresses: p.vips.clone(),
                    auth_data: match p.auth {
                        Auth::Pass(k) if arg & 32 == 0 => k,
                        _ => [0; 8],
                    },
                };
                let dst = if p.unicast_peers.is_empty() { Ipv4Addr::new(224, 0, 0, 18) } else { Ipv4Addr::new(10, 0, 0, 1) };
                let key = match p.auth {
                    Auth::Ah(k) if arg & 64 == 0 => Some(k),
                    Auth::Ah(_) => Some(*b"other!!!"),
                    _ => None,
                };
                let ah = key.as_ref().map(|k| AhParams { key: k, seq: u32::from(*op), unicast: false });
                match encode_ipv4(&vrrp, &Ipv4Params { src, dst, id: 1 }, ah) {
                    Ok(bytes) => Input::AdvertReceived { packet: decode_ipv4(&bytes) },
                    Err(_) => continue,
                }
            }
            _ => {
                // A packet: the next `arg % 64` bytes as a raw IPv4 datagram.
                let n = (*arg as usize % 64).min(rest.len());
                let (pkt, tail) = rest.split_at(n);
                rest = tail;
                Input::AdvertReceived { packet: decode_ipv4(pkt) }
            }
        };
        for a in inst.step(input, t0 + now) {
            match a {
                Action::AddVips => {
                    assert!(!vips);
                    vips = true;
                }
                Action::DelVips => {
                    assert!(vips);
                    vips = false;
                }
                Action::Notify(t) => {
                    assert_eq!(t.from, state);
                    state = t.to;
                }
                _ => {}
            }
        }
        assert_eq!(state, inst.state());
        assert_eq!(vips, state == VrrpState::Master);
    }
});
