//! The VRRP decoders never panic, and whatever they accept re-encodes to something they decode
//! to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart::vrrp::packet::{
    AhParams, Ipv4Params, decode_ipv4, decode_ipv6, decode_vrrp, encode_ipv4, encode_vrrp, Af,
};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

fuzz_target!(|data: &[u8]| {
    // A raw IPv4 datagram, header included.
    if let Ok(adv) = decode_ipv4(data) {
        let (IpAddr::V4(src), IpAddr::V4(dst)) = (adv.src, adv.dst) else {
            panic!("IPv4 decode returned non-IPv4 addresses");
        };
        let key = [7u8; 8];
        let ah = adv.ah.as_ref().map(|h| AhParams { key: &key, seq: h.seq, unicast: false });
        let bytes = encode_ipv4(&adv.vrrp, &Ipv4Params { src, dst, id: 1 }, ah)
            .expect("a decoded packet re-encodes");
        let again = decode_ipv4(&bytes).expect("our encoding decodes");
        assert_eq!(again.vrrp, adv.vrrp);
    }
    // An IPv6 payload with fixed addresses.
    let src = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
    let dst = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
    if let Ok(adv) = decode_ipv6(data, src, dst, 255) {
        let bytes = encode_vrrp(&adv.vrrp, src.into(), dst.into()).expect("re-encodes");
        let again = decode_ipv6(&bytes, src, dst, 255).expect("our encoding decodes");
        assert_eq!(again.vrrp, adv.vrrp);
    }
    // A bare VRRP message over IPv4 (v2 and v3).
    let (s4, d4) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(224, 0, 0, 18));
    if let Ok(p) = decode_vrrp(data, Af::V4, s4.into(), d4.into()) {
        let bytes = encode_vrrp(&p, s4.into(), d4.into()).expect("re-encodes");
        assert_eq!(
            decode_vrrp(&bytes, Af::V4, s4.into(), d4.into()).as_ref(),
            Ok(&p)
        );
    }
});
