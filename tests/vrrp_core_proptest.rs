//! Property tests: every encodable VRRP packet decodes back to itself (v2, v3 over IPv4 and
//! IPv6, with and without AH), and the decoders are total on arbitrary bytes.

use proptest::prelude::*;
use rampart::vrrp::Centis;
use rampart::vrrp::auth::ah_icv;
use rampart::vrrp::packet::{
    Af, AhParams, DecodeOptions, Ipv4Params, Version, VrrpPacket, decode_ipv4, decode_ipv4_with,
    decode_ipv6, decode_vrrp, encode_ipv4, encode_vrrp,
};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

fn v4_packet() -> impl Strategy<Value = VrrpPacket> {
    (
        prop_oneof![Just(Version::V2), Just(Version::V3)],
        any::<u8>(),
        any::<u8>(),
        0u8..=2,
        1u16..=0x0fff,
        1u8..=255,
        proptest::collection::vec(any::<u32>(), 0..20),
        any::<[u8; 8]>(),
    )
        .prop_map(|(version, vrid, priority, at, int, secs, addrs, auth)| {
            let v2 = version == Version::V2;
            VrrpPacket {
                version,
                vrid,
                priority,
                auth_type: if v2 { at } else { 0 },
                advert_int: if v2 {
                    Centis::from_secs(secs)
                } else {
                    Centis(int)
                },
                addresses: addrs
                    .into_iter()
                    .map(|a| IpAddr::V4(Ipv4Addr::from(a)))
                    .collect(),
                auth_data: if v2 { auth } else { [0; 8] },
            }
        })
}

fn v6_packet() -> impl Strategy<Value = VrrpPacket> {
    (
        any::<u8>(),
        any::<u8>(),
        1u16..=0x0fff,
        proptest::collection::vec(any::<u128>(), 0..10),
    )
        .prop_map(|(vrid, priority, int, addrs)| VrrpPacket {
            version: Version::V3,
            vrid,
            priority,
            auth_type: 0,
            advert_int: Centis(int),
            addresses: addrs
                .into_iter()
                .map(|a| IpAddr::V6(Ipv6Addr::from(a)))
                .collect(),
            auth_data: [0; 8],
        })
}

proptest! {
    #[test]
    fn vrrp_message_round_trip_v4(p in v4_packet(), s in any::<u32>(), d in any::<u32>()) {
        let (src, dst) = (IpAddr::V4(Ipv4Addr::from(s)), IpAddr::V4(Ipv4Addr::from(d)));
        let bytes = encode_vrrp(&p, src, dst).unwrap();
        prop_assert_eq!(decode_vrrp(&bytes, Af::V4, src, dst), Ok(p));
    }

    #[test]
    fn vrrp_message_round_trip_v6(p in v6_packet(), s in any::<u128>(), hop in any::<u8>()) {
        let src = Ipv6Addr::from(s);
        let dst: Ipv6Addr = "ff02::12".parse().unwrap();
        let bytes = encode_vrrp(&p, src.into(), dst.into()).unwrap();
        let decoded = decode_ipv6(&bytes, src, dst, 255).unwrap();
        prop_assert_eq!(decoded.vrrp, p);
        if hop != 255 {
            prop_assert!(decode_ipv6(&bytes, src, dst, hop).is_err());
        }
    }

    #[test]
    fn ipv4_datagram_round_trip(
        p in v4_packet(),
        s in any::<u32>(),
        id in any::<u16>(),
        ah in proptest::option::of((any::<[u8; 8]>(), any::<u32>())),
        unicast in any::<bool>(),
    ) {
        let src = Ipv4Addr::from(s);
        let dst = Ipv4Addr::new(224, 0, 0, 18);
        let params = ah;
        let bytes = encode_ipv4(
            &p,
            &Ipv4Params { src, dst, id },
            params.as_ref().map(|(k, seq)| AhParams { key: k, seq: *seq, unicast }),
        ).unwrap();
        let got = decode_ipv4_with(&bytes, DecodeOptions { unicast }).unwrap();
        prop_assert_eq!(&got.vrrp, &p);
        prop_assert_eq!(got.src, IpAddr::V4(src));
        match (got.ah, params) {
            (Some(h), Some((k, seq))) => {
                prop_assert_eq!(h.seq, seq);
                prop_assert_eq!(h.spi, u32::from(src));
                prop_assert_eq!(ah_icv(&k, &h.signed), h.icv);
            }
            (None, None) => {}
            _ => prop_assert!(false, "AH presence changed"),
        }
    }

    #[test]
    fn decoders_are_total(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = decode_ipv4(&bytes);
        let _ = decode_ipv4_with(&bytes, DecodeOptions { unicast: true });
        let s: Ipv6Addr = "fe80::1".parse().unwrap();
        let d: Ipv6Addr = "ff02::12".parse().unwrap();
        let _ = decode_ipv6(&bytes, s, d, 255);
        let _ = decode_vrrp(&bytes, Af::V4, IpAddr::V4(Ipv4Addr::LOCALHOST), IpAddr::V4(Ipv4Addr::LOCALHOST));
    }

    #[test]
    fn mutated_golden_like_packets_never_panic(p in v4_packet(), flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6)) {
        let mut bytes = encode_ipv4(
            &p,
            &Ipv4Params { src: Ipv4Addr::new(10, 0, 0, 1), dst: Ipv4Addr::new(224, 0, 0, 18), id: 1 },
            None,
        ).unwrap();
        for (at, x) in flips {
            let n = bytes.len();
            bytes[at % n] ^= x;
        }
        let _ = decode_ipv4(&bytes);
    }
}
