//! Golden bytes for every IPVS message kind, and proptest round trips of the codec.
//!
//! The golden frames are written out by hand from include/uapi/linux/ip_vs.h and the layout
//! libipvs sends (attribute order AF, PROTOCOL, ADDR, PORT | FWMARK, SCHED_NAME, PE_NAME, FLAGS,
//! TIMEOUT, NETMASK); integers are little-endian (x86), ports big-endian.
#![cfg(target_endian = "little")]

use proptest::prelude::*;
use rampart::ipvs::codec::*;
use std::net::{Ipv4Addr, Ipv6Addr};

const FAM: u16 = 0x25;
const REQ_ACK: u16 = 0x5;
const REQ_DUMP: u16 = 0x301;

fn h(s: &str) -> Vec<u8> {
    let clean: String = s.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    hex::decode(clean).expect("hex")
}

fn v4(a: [u8; 4]) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..4].copy_from_slice(&a);
    b
}

fn tcp_10_0_0_1_80() -> ServiceAttrs {
    ServiceAttrs {
        af: Some(Family::Inet),
        protocol: Some(Proto::Tcp),
        addr: Some(v4([10, 0, 0, 1])),
        port: Some(80),
        ..Default::default()
    }
}

fn check(frame_hex: &str, flags: u16, seq: u32, msg: &IpvsMessage) {
    let want = h(frame_hex);
    let got = encode_request(FAM, flags, seq, msg);
    assert_eq!(
        hex::encode(&got),
        hex::encode(&want),
        "encoding of {:?}",
        msg.cmd
    );
    let decoded = decode_datagram(&want);
    assert_eq!(decoded.len(), 1);
    match decoded.into_iter().next() {
        Some(Ok(Reply::Data { seq: s, msg: m })) => {
            assert_eq!(s, seq);
            assert_eq!(&m, msg);
        }
        other => panic!("decoded {other:?}"),
    }
}

#[test]
fn golden_new_service() {
    let mut s = tcp_10_0_0_1_80();
    s.sched_name = Some("wlc".into());
    s.flags = Some(SvcFlags {
        flags: 0,
        mask: 0xffff_ffff,
    });
    s.timeout = Some(0);
    s.netmask = Some(0xffff_ffff);
    check(
        "68000000 2500 0500 01000000 00000000
         01010000
         5400 0180
           0600 0100 0200 0000
           0600 0200 0600 0000
           1400 0300 0a000001 00000000 00000000 00000000
           0600 0400 0050 0000
           0800 0600 776c6300
           0c00 0700 00000000 ffffffff
           0800 0800 00000000
           0800 0900 ffffffff",
        REQ_ACK,
        1,
        &IpvsMessage::new(Cmd::NewService).with_service(s),
    );
}

#[test]
fn golden_set_service_persistent_with_pe_and_netmask() {
    let mut s = tcp_10_0_0_1_80();
    s.sched_name = Some("sh".into());
    s.pe_name = Some("sip".into());
    s.flags = Some(SvcFlags {
        flags: 0x1 | 0x10,
        mask: 0xffff_ffff,
    });
    s.timeout = Some(300);
    s.netmask = Some(v4_netmask_raw(24));
    check(
        "70000000 2500 0500 02000000 00000000
         02010000
         5c00 0180
           0600 0100 0200 0000
           0600 0200 0600 0000
           1400 0300 0a000001 00000000 00000000 00000000
           0600 0400 0050 0000
           0700 0600 73680000
           0800 0b00 73697000
           0c00 0700 11000000 ffffffff
           0800 0800 2c010000
           0800 0900 ffffff00",
        REQ_ACK,
        2,
        &IpvsMessage::new(Cmd::SetService).with_service(s),
    );
}

#[test]
fn golden_del_service_fwmark_v6() {
    let s = ServiceAttrs {
        af: Some(Family::Inet6),
        fwmark: Some(7),
        ..Default::default()
    };
    check(
        "28000000 2500 0500 03000000 00000000
         03010000
         1400 0180
           0600 0100 0a00 0000
           0800 0500 07000000",
        REQ_ACK,
        3,
        &IpvsMessage::new(Cmd::DelService).with_service(s),
    );
}

#[test]
fn golden_get_service_dump_and_flush_zero_info_config() {
    check(
        "14000000 2500 0103 04000000 00000000 04010000",
        REQ_DUMP,
        4,
        &IpvsMessage::new(Cmd::GetService),
    );
    check(
        "14000000 2500 0500 05000000 00000000 11010000",
        REQ_ACK,
        5,
        &IpvsMessage::new(Cmd::Flush),
    );
    check(
        "14000000 2500 0500 06000000 00000000 10010000",
        REQ_ACK,
        6,
        &IpvsMessage::new(Cmd::Zero),
    );
    check(
        "14000000 2500 0500 07000000 00000000 0f010000",
        REQ_ACK,
        7,
        &IpvsMessage::new(Cmd::GetInfo),
    );
    check(
        "14000000 2500 0500 08000000 00000000 0d010000",
        REQ_ACK,
        8,
        &IpvsMessage::new(Cmd::GetConfig),
    );
    check(
        "14000000 2500 0103 09000000 00000000 0b010000",
        REQ_DUMP,
        9,
        &IpvsMessage::new(Cmd::GetDaemon),
    );
}

#[test]
fn golden_set_config_timeouts() {
    let mut m = IpvsMessage::new(Cmd::SetConfig);
    m.timeout_tcp = Some(900);
    m.timeout_tcp_fin = Some(120);
    m.timeout_udp = Some(300);
    check(
        "2c000000 2500 0500 0a000000 00000000
         0c010000
         0800 0400 84030000
         0800 0500 78000000
         0800 0600 2c010000",
        REQ_ACK,
        10,
        &m,
    );
}

#[test]
fn golden_dest_commands() {
    let d = DestAttrs {
        addr_family: Some(Family::Inet),
        addr: Some(v4([192, 168, 1, 2])),
        port: Some(8080),
        fwd_method: Some(Fwd::Masq),
        weight: Some(3),
        tun_type: Some(TunType::Ipip),
        tun_port: Some(0),
        tun_flags: Some(0),
        u_thresh: Some(100),
        l_thresh: Some(10),
        ..Default::default()
    };
    let key = tcp_10_0_0_1_80();
    let svc_key_hex = "3000 0180
           0600 0100 0200 0000
           0600 0200 0600 0000
           1400 0300 0a000001 00000000 00000000 00000000
           0600 0400 0050 0000";
    let dest_hex = "6000 0280
           0600 0b00 0200 0000
           1400 0100 c0a80102 00000000 00000000 00000000
           0600 0200 1f90 0000
           0800 0300 00000000
           0800 0400 03000000
           0500 0d00 00000000
           0600 0e00 0000 0000
           0600 0f00 0000 0000
           0800 0500 64000000
           0800 0600 0a000000";
    for (cmd, code) in [
        (Cmd::NewDest, "05"),
        (Cmd::SetDest, "06"),
        (Cmd::DelDest, "07"),
    ] {
        let frame =
            format!("a4000000 2500 0500 0b000000 00000000 {code}010000 {svc_key_hex} {dest_hex}");
        check(
            &frame,
            REQ_ACK,
            11,
            &IpvsMessage::new(cmd)
                .with_service(key.clone())
                .with_dest(d.clone()),
        );
    }
    // GET_DEST dump of one service.
    check(
        &format!("44000000 2500 0103 0c000000 00000000 08010000 {svc_key_hex}"),
        REQ_DUMP,
        12,
        &IpvsMessage::new(Cmd::GetDest).with_service(key),
    );
}

#[test]
fn golden_daemon_commands() {
    let d = DaemonAttrs {
        state: Some(1),
        mcast_ifn: Some("eth0".into()),
        sync_id: Some(5),
        sync_maxlen: Some(1472),
        mcast_group: Some(Ipv4Addr::new(224, 0, 0, 81)),
        mcast_port: Some(8848),
        mcast_ttl: Some(1),
        ..Default::default()
    };
    check(
        "54000000 2500 0500 0d000000 00000000
         09010000
         4000 0380
           0800 0100 01000000
           0900 0200 65746830 00000000
           0800 0300 05000000
           0600 0400 c005 0000
           0800 0500 e0000051
           0600 0700 9022 0000
           0500 0800 01000000",
        REQ_ACK,
        13,
        &IpvsMessage::new(Cmd::NewDaemon).with_daemon(d),
    );
    let stop = DaemonAttrs {
        state: Some(2),
        mcast_ifn: Some(String::new()),
        sync_id: Some(0),
        ..Default::default()
    };
    check(
        "30000000 2500 0500 0e000000 00000000
         0a010000
         1c00 0380
           0800 0100 02000000
           0500 0200 00000000
           0800 0300 00000000",
        REQ_ACK,
        14,
        &IpvsMessage::new(Cmd::DelDaemon).with_daemon(stop),
    );
}

/// Replies as the kernel writes them: nests without NLA_F_NESTED, STATS64 with PAD
/// attributes, an attribute from a newer kernel, and GET_INFO's first-level info attributes.
#[test]
fn golden_kernel_replies_decode() {
    // SET_INFO reply: version 1.2.1, table size 4096.
    let info = h("24000000 2500 0000 07000000 39300000
                  0e010000
                  0800 0100 01020100
                  0800 0200 00100000");
    match decode_datagram(&info).remove(0) {
        Ok(Reply::Data { msg, .. }) => {
            assert_eq!(msg.cmd, Cmd::SetInfo);
            assert_eq!(msg.info_version, Some(0x010201));
            assert_eq!(msg.info_conn_tab_size, Some(4096));
            assert!(msg.service.is_none());
        }
        other => panic!("{other:?}"),
    }
    // A NEW_SERVICE dump part for FWM 3 IPv6, stats64 with a PAD, an unknown attribute 99.
    let svc = h("64000000 2500 0200 08000000 39300000
                 01010000
                 5000 0100
                   0600 0100 0a00 0000
                   0800 0500 03000000
                   0700 0600 72720000
                   0c00 0700 02000000 ffffffff
                   2000 0c00
                     0400 0b00
                     0c00 0100 05000000 00000000
                     0c00 0400 00e40b54 02000000
                   0800 6300 deadbeef");
    let got = decode_datagram(&svc);
    let Ok(Reply::Data { msg, .. }) = &got[0] else {
        panic!("{got:?}")
    };
    let s = msg.service.clone().expect("service");
    assert_eq!(s.af, Some(Family::Inet6));
    assert_eq!(s.fwmark, Some(3));
    assert_eq!(s.sched_name.as_deref(), Some("rr"));
    assert_eq!(s.flags.map(|f| f.flags & f.mask), Some(2));
    let st = s.stats64.expect("stats64");
    assert_eq!(st.conns, 5);
    assert_eq!(st.inbytes, 10_000_000_000);
    assert_eq!(
        s.other,
        vec![RawAttr {
            kind: 99,
            value: vec![0xde, 0xad, 0xbe, 0xef]
        }]
    );
    // ACK, error and DONE.
    let ack =
        h("24000000 0200 0001 09000000 39300000 00000000 14000000 2500 0500 09000000 00000000");
    assert_eq!(
        decode_datagram(&ack).remove(0).expect("ack"),
        Reply::Ack { seq: 9, errno: 0 }
    );
    let nack =
        h("24000000 0200 0001 0a000000 39300000 efffffff 14000000 2500 0500 0a000000 00000000");
    assert_eq!(
        decode_datagram(&nack).remove(0).expect("nack"),
        Reply::Ack {
            seq: 10,
            errno: -17
        }
    );
    let done = h("14000000 0300 0200 0b000000 39300000 00000000");
    assert_eq!(
        decode_datagram(&done).remove(0).expect("done"),
        Reply::Done { seq: 11, errno: 0 }
    );
}

#[test]
fn address_family_comes_from_its_attribute() {
    // An IPv4 destination in a 16-byte field inside an IPv6 fwmark service (tunnelling).
    let d = DestAttrs {
        addr_family: Some(Family::Inet),
        addr: Some(v4([10, 1, 2, 3])),
        ..Default::default()
    };
    assert_eq!(d.ip(Family::Inet6), Some("10.1.2.3".parse().expect("ip")));
    // No family attribute (pre-4.2 kernel): the service's family decides.
    let d6 = DestAttrs {
        addr: Some(Ipv6Addr::LOCALHOST.octets()),
        ..Default::default()
    };
    assert_eq!(d6.ip(Family::Inet6), Some("::1".parse().expect("ip")));
    // Unknown family: no address, no guess.
    let s = ServiceAttrs {
        af: Some(Family::Unknown(99)),
        addr: Some([1; 16]),
        ..Default::default()
    };
    assert_eq!(s.ip(), None);
}

#[test]
fn truncated_and_garbage_input_is_an_error_not_a_panic() {
    let mut m = IpvsMessage::new(Cmd::NewService);
    m.service = Some(tcp_10_0_0_1_80());
    let frame = encode_request(FAM, REQ_ACK, 1, &m);
    for cut in 0..frame.len() {
        let _ = decode_datagram(&frame[..cut]);
        let _ = IpvsMessage::unpack(Cmd::NewService, &frame[20.min(cut)..cut]);
    }
    // A port attribute with a 1-byte value.
    let bad = h("0c00 0180 0500 0400 00000000");
    assert!(IpvsMessage::unpack(Cmd::NewService, &bad).is_err());
}

// ------------------------------------------------------------------------------------------
// Round trips
// ------------------------------------------------------------------------------------------

fn other_attrs(min_kind: u16) -> impl Strategy<Value = Vec<RawAttr>> {
    prop::collection::vec(
        (
            min_kind..0x3fffu16,
            prop::collection::vec(any::<u8>(), 0..12),
        )
            .prop_map(|(kind, value)| RawAttr { kind, value }),
        0..3,
    )
}

fn name() -> impl Strategy<Value = String> {
    "[a-z0-9]{0,15}"
}

fn family() -> impl Strategy<Value = Family> {
    any::<u16>().prop_map(Family::from)
}

fn stats64() -> impl Strategy<Value = Stats> {
    (prop::array::uniform10(any::<u64>()), other_attrs(12)).prop_map(|(v, other)| Stats {
        conns: v[0],
        inpkts: v[1],
        outpkts: v[2],
        inbytes: v[3],
        outbytes: v[4],
        cps: v[5],
        inpps: v[6],
        outpps: v[7],
        inbps: v[8],
        outbps: v[9],
        other,
    })
}

fn stats32() -> impl Strategy<Value = Stats> {
    (
        prop::array::uniform8(any::<u32>()),
        any::<u64>(),
        any::<u64>(),
        other_attrs(12),
    )
        .prop_map(|(v, inb, outb, other)| Stats {
            conns: v[0] as u64,
            inpkts: v[1] as u64,
            outpkts: v[2] as u64,
            inbytes: inb,
            outbytes: outb,
            cps: v[3] as u64,
            inpps: v[4] as u64,
            outpps: v[5] as u64,
            inbps: v[6] as u64,
            outbps: v[7] as u64,
            other,
        })
}

prop_compose! {
    fn service()(
        af in prop::option::of(family()),
        protocol in prop::option::of(any::<u16>().prop_map(Proto::from)),
        addr in prop::option::of(any::<[u8; 16]>()),
        port in prop::option::of(any::<u16>()),
        fwmark in prop::option::of(any::<u32>()),
        sched_name in prop::option::of(name()),
        flags in prop::option::of((any::<u32>(), any::<u32>()).prop_map(|(flags, mask)| SvcFlags { flags, mask })),
        timeout in prop::option::of(any::<u32>()),
        netmask in prop::option::of(any::<u32>()),
        stats in prop::option::of(stats32()),
        pe_name in prop::option::of(name()),
        stats64 in prop::option::of(stats64()),
        other in other_attrs(13),
    ) -> ServiceAttrs {
        ServiceAttrs { af, protocol, addr, port, fwmark, sched_name, flags, timeout, netmask, stats, pe_name, stats64, other }
    }
}

prop_compose! {
    fn dest()(
        addr in prop::option::of(any::<[u8; 16]>()),
        port in prop::option::of(any::<u16>()),
        fwd_method in prop::option::of(any::<u32>().prop_map(Fwd::from)),
        weight in prop::option::of(any::<u32>()),
        u_thresh in prop::option::of(any::<u32>()),
        l_thresh in prop::option::of(any::<u32>()),
        active_conns in prop::option::of(any::<u32>()),
        inact_conns in prop::option::of(any::<u32>()),
        persist_conns in prop::option::of(any::<u32>()),
        stats in prop::option::of(stats32()),
        addr_family in prop::option::of(family()),
        stats64 in prop::option::of(stats64()),
        tun in (prop::option::of(any::<u8>().prop_map(TunType::from)), prop::option::of(any::<u16>()), prop::option::of(any::<u16>())),
        other in other_attrs(16),
    ) -> DestAttrs {
        DestAttrs { addr, port, fwd_method, weight, u_thresh, l_thresh, active_conns, inact_conns,
            persist_conns, stats, addr_family, stats64, tun_type: tun.0, tun_port: tun.1, tun_flags: tun.2, other }
    }
}

prop_compose! {
    fn daemon()(
        state in prop::option::of(any::<u32>()),
        mcast_ifn in prop::option::of(name()),
        sync_id in prop::option::of(any::<u32>()),
        sync_maxlen in prop::option::of(any::<u16>()),
        mcast_group in prop::option::of(any::<[u8; 4]>().prop_map(Ipv4Addr::from)),
        mcast_group6 in prop::option::of(any::<[u8; 16]>().prop_map(Ipv6Addr::from)),
        mcast_port in prop::option::of(any::<u16>()),
        mcast_ttl in prop::option::of(any::<u8>()),
        other in other_attrs(9),
    ) -> DaemonAttrs {
        DaemonAttrs { state, mcast_ifn, sync_id, sync_maxlen, mcast_group, mcast_group6, mcast_port, mcast_ttl, other }
    }
}

prop_compose! {
    fn message()(
        cmd in any::<u8>().prop_map(Cmd::from),
        service in prop::option::of(service()),
        dest in prop::option::of(dest()),
        daemon in prop::option::of(daemon()),
        t in (prop::option::of(any::<u32>()), prop::option::of(any::<u32>()), prop::option::of(any::<u32>())),
        info in (prop::option::of(any::<u32>()), prop::option::of(any::<u32>())),
        other in other_attrs(7),
    ) -> IpvsMessage {
        let is_info = matches!(cmd, Cmd::SetInfo | Cmd::GetInfo);
        let mut m = IpvsMessage::new(cmd);
        m.timeout_tcp = t.0;
        m.timeout_tcp_fin = t.1;
        m.timeout_udp = t.2;
        m.other = other;
        if is_info {
            // Info messages reuse ids 1 and 2 for their own attributes.
            m.info_version = info.0;
            m.info_conn_tab_size = info.1;
            m.daemon = daemon;
        } else {
            m.service = service;
            m.dest = dest;
            m.daemon = daemon;
        }
        m
    }
}

proptest! {
    #[test]
    fn message_round_trip(m in message(), seq in any::<u32>()) {
        let bytes = m.pack_attrs();
        prop_assert_eq!(IpvsMessage::unpack(m.cmd, &bytes).expect("unpack"), m.clone());
        let frame = encode_request(FAM, REQ_ACK, seq, &m);
        prop_assert_eq!(&frame, &encode_request_generic(FAM, REQ_ACK, seq, &m));
        let got = decode_datagram(&frame);
        prop_assert_eq!(got.len(), 1);
        match got.into_iter().next() {
            Some(Ok(Reply::Data { seq: s, msg })) => {
                prop_assert_eq!(s, seq);
                prop_assert_eq!(msg, m);
            }
            other => prop_assert!(false, "decoded {:?}", other),
        }
    }

    #[test]
    fn several_messages_in_one_datagram(ms in prop::collection::vec(message(), 1..5)) {
        let mut dg = Vec::new();
        for (i, m) in ms.iter().enumerate() {
            dg.extend_from_slice(&encode_request(FAM, REQ_ACK, i as u32, m));
        }
        let got = decode_datagram(&dg);
        prop_assert_eq!(got.len(), ms.len());
        for (g, m) in got.into_iter().zip(ms) {
            match g {
                Ok(Reply::Data { msg, .. }) => prop_assert_eq!(msg, m),
                other => prop_assert!(false, "decoded {:?}", other),
            }
        }
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(b in prop::collection::vec(any::<u8>(), 0..300), cmd in any::<u8>()) {
        let _ = decode_datagram(&b);
        let _ = IpvsMessage::unpack(Cmd::from(cmd), &b);
        let _ = ServiceAttrs::unpack(&b);
        let _ = DestAttrs::unpack(&b);
        let _ = DaemonAttrs::unpack(&b);
        let _ = Stats::unpack(&b);
    }

    #[test]
    fn v4_netmask_matches_prefix(p in 0u8..=32) {
        let raw = v4_netmask_raw(p);
        let ones = u32::from_be_bytes(raw.to_ne_bytes()).leading_ones();
        prop_assert_eq!(ones, p as u32);
        let s = ServiceAttrs { netmask: Some(raw), ..Default::default() };
        let m = s.netmask_v4().expect("mask");
        prop_assert_eq!(u32::from(m).leading_ones(), p as u32);
    }
}

proptest! {
    /// What the fuzz target (fuzz/fuzz_targets/ipvs_codec.rs) checks, on proptest's inputs:
    /// anything decoded re-encodes to the same value.
    #[test]
    fn decoded_garbage_re_encodes_to_itself(b in prop::collection::vec(any::<u8>(), 0..200), cmd in any::<u8>()) {
        if let Ok(msg) = IpvsMessage::unpack(Cmd::from(cmd), &b) {
            let again = IpvsMessage::unpack(msg.cmd, &msg.pack_attrs()).expect("re-decodes");
            prop_assert_eq!(again, msg);
        }
    }

    /// Attribute-shaped garbage (valid TLV framing, random kinds and values) exercises the
    /// typed paths more than raw bytes do.
    #[test]
    fn tlv_garbage_re_encodes_to_itself(
        attrs in prop::collection::vec((0u16..20, any::<bool>(), prop::collection::vec(any::<u8>(), 0..24)), 0..8),
        cmd in any::<u8>(),
    ) {
        let mut b = Vec::new();
        for (kind, nested, value) in &attrs {
            let k = if *nested { kind | 0x8000 } else { *kind };
            b.extend_from_slice(&((4 + value.len()) as u16).to_ne_bytes());
            b.extend_from_slice(&k.to_ne_bytes());
            b.extend_from_slice(value);
            while b.len() % 4 != 0 { b.push(0); }
        }
        if let Ok(msg) = IpvsMessage::unpack(Cmd::from(cmd), &b) {
            let again = IpvsMessage::unpack(msg.cmd, &msg.pack_attrs()).expect("re-decodes");
            prop_assert_eq!(again, msg);
        }
    }
}
