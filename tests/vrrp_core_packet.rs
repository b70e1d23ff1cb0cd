//! Golden packets: real keepalived 2.2.7 adverts captured by tests/data/vrrp/capture.sh.
//! The decoder must accept them and the encoder must reproduce them byte for byte.

use rampart::vrrp::auth::{ah_icv, key_bytes};
use rampart::vrrp::packet::{
    AhParams, DecodeError, DecodeOptions, Ipv4Params, Version, auth_type, decode_ipv4,
    decode_ipv4_with, decode_ipv6, encode_ipv4, encode_vrrp,
};
use rampart::vrrp::time::Centis;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

/// Frames of a little-endian, Ethernet (linktype 1) pcap file, Ethernet header stripped.
fn pcap_frames(name: &str) -> Vec<Vec<u8>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/vrrp")
        .join(name);
    let d = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&d[0..4], &[0xd4, 0xc3, 0xb2, 0xa1], "little-endian pcap");
    assert_eq!(
        u32::from_le_bytes([d[20], d[21], d[22], d[23]]),
        1,
        "Ethernet"
    );
    let mut off = 24;
    let mut out = Vec::new();
    while off + 16 <= d.len() {
        let incl = u32::from_le_bytes([d[off + 8], d[off + 9], d[off + 10], d[off + 11]]) as usize;
        off += 16;
        out.push(d[off + 14..off + incl].to_vec());
        off += incl;
    }
    assert!(!out.is_empty(), "{name} has packets");
    out
}

fn ip4(a: &str) -> IpAddr {
    IpAddr::V4(a.parse::<Ipv4Addr>().unwrap())
}

fn check_v4(name: &str, key: Option<&str>) -> Vec<rampart::vrrp::ReceivedAdvert> {
    check_v4_with(name, key, false)
}

fn check_v4_with(
    name: &str,
    key: Option<&str>,
    unicast: bool,
) -> Vec<rampart::vrrp::ReceivedAdvert> {
    let mut got = Vec::new();
    for frame in pcap_frames(name) {
        let adv = decode_ipv4_with(&frame, DecodeOptions { unicast })
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let IpAddr::V4(src) = adv.src else { panic!() };
        let IpAddr::V4(dst) = adv.dst else { panic!() };
        let id = u16::from_be_bytes([frame[4], frame[5]]);
        let keyb = key.map(key_bytes);
        let ah = match (&adv.ah, &keyb) {
            (Some(h), Some(k)) => {
                assert_eq!(
                    ah_icv(k, &h.signed),
                    h.icv,
                    "{name}: keepalived's ICV verifies"
                );
                assert_eq!(h.spi, u32::from(src), "SPI is the source address");
                Some(AhParams {
                    key: k,
                    seq: h.seq,
                    unicast,
                })
            }
            (None, None) => None,
            _ => panic!("{name}: AH expectation"),
        };
        let ours = encode_ipv4(&adv.vrrp, &Ipv4Params { src, dst, id }, ah).unwrap();
        assert_eq!(
            hex(&ours),
            hex(&frame),
            "{name}: byte-identical to keepalived"
        );
        got.push(adv);
    }
    got
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn keepalived_v2_pass() {
    let advs = check_v4("v2_pass.pcap", None);
    let first = &advs[0];
    assert_eq!(first.src, ip4("10.99.0.1"));
    assert_eq!(first.dst, ip4("224.0.0.18"));
    assert_eq!(first.ttl, 255);
    let v = &first.vrrp;
    assert_eq!(v.version, Version::V2);
    assert_eq!((v.vrid, v.priority), (51, 150));
    assert_eq!(v.auth_type, auth_type::PASS);
    assert_eq!(v.advert_int, Centis(100));
    assert_eq!(v.addresses, vec![ip4("192.0.2.10"), ip4("192.0.2.11")]);
    assert_eq!(&v.auth_data, b"rampart\0");
    assert_eq!(v.auth_data, key_bytes("rampart"));
    // SIGTERM: the last advert has priority 0.
    assert_eq!(advs.last().unwrap().vrrp.priority, 0);
}

#[test]
fn keepalived_v2_ah() {
    let advs = check_v4("v2_ah.pcap", Some("s3cret"));
    let v = &advs[0].vrrp;
    assert_eq!((v.vrid, v.priority, v.auth_type), (52, 120, auth_type::AH));
    assert_eq!(v.auth_data, [0; 8]);
    let seqs: Vec<u32> = advs.iter().map(|a| a.ah.as_ref().unwrap().seq).collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "seq increments: {seqs:?}"
    );
    assert_eq!(advs.last().unwrap().vrrp.priority, 0);
}

#[test]
fn keepalived_v2_ah_wrong_key_fails() {
    let frame = &pcap_frames("v2_ah.pcap")[0];
    let adv = decode_ipv4(frame).unwrap();
    let h = adv.ah.unwrap();
    assert_ne!(ah_icv(&key_bytes("s3creT"), &h.signed), h.icv);
}

#[test]
fn keepalived_v3_ipv4_checksum_includes_pseudo_header() {
    let advs = check_v4("v3_ipv4.pcap", None);
    let v = &advs[0].vrrp;
    assert_eq!(v.version, Version::V3);
    assert_eq!((v.vrid, v.priority), (53, 200));
    assert_eq!(v.advert_int, Centis(50));
    assert_eq!(v.addresses.len(), 3);
}

#[test]
fn keepalived_v3_ipv6() {
    let frames = pcap_frames("v3_ipv6.pcap");
    for frame in &frames {
        assert_eq!(frame[0] >> 4, 6);
        let plen = u16::from_be_bytes([frame[4], frame[5]]) as usize;
        let hlim = frame[7];
        let mut s = [0u8; 16];
        s.copy_from_slice(&frame[8..24]);
        let mut d = [0u8; 16];
        d.copy_from_slice(&frame[24..40]);
        let (src, dst) = (Ipv6Addr::from(s), Ipv6Addr::from(d));
        let payload = &frame[40..40 + plen];
        let adv = decode_ipv6(payload, src, dst, hlim).unwrap();
        assert_eq!(adv.vrrp.vrid, 54);
        assert_eq!(adv.vrrp.advert_int, Centis(100));
        assert_eq!(
            adv.vrrp.addresses,
            vec!["2001:db8::54".parse::<IpAddr>().unwrap()]
        );
        let ours = encode_vrrp(&adv.vrrp, IpAddr::V6(src), IpAddr::V6(dst)).unwrap();
        assert_eq!(hex(&ours), hex(payload));
        // Hop limit other than 255 is refused.
        assert_eq!(
            decode_ipv6(payload, src, dst, 254),
            Err(DecodeError::BadTtl(254))
        );
    }
}

#[test]
fn damaged_golden_packets_are_refused_with_the_right_reason() {
    use rampart::vrrp::DropReason;
    let frame = pcap_frames("v2_pass.pcap")[0].clone();
    let mut ttl = frame.clone();
    ttl[8] = 64;
    assert_eq!(
        decode_ipv4(&ttl).unwrap_err().drop_reason(),
        DropReason::BadTtl
    );
    let mut ck = frame.clone();
    ck[frame.len() - 1] ^= 1;
    assert_eq!(
        decode_ipv4(&ck).unwrap_err().drop_reason(),
        DropReason::BadChecksum
    );
    assert_eq!(
        decode_ipv4(&frame[..frame.len() - 2])
            .unwrap_err()
            .drop_reason(),
        DropReason::BadLength
    );
    // An IPv4 option (IHL 6): the decoder honours IHL rather than assuming 20 bytes.
    let mut opt = frame[..20].to_vec();
    opt[0] = 0x46;
    opt.extend_from_slice(&[1, 1, 1, 0]); // NOP NOP NOP EOL
    opt.extend_from_slice(&frame[20..]);
    let total = opt.len() as u16;
    opt[2..4].copy_from_slice(&total.to_be_bytes());
    let adv = decode_ipv4(&opt).unwrap();
    assert_eq!(adv.vrrp.vrid, 51);
    // A v3 packet checksummed without the pseudo-header is refused.
    let v3 = pcap_frames("v3_ipv4.pcap")[0].clone();
    let mut bad = v3.clone();
    bad[26..28].copy_from_slice(&[0, 0]);
    let body = bad[20..].to_vec();
    let ck = rampart::vrrp::packet::internet_checksum(&body);
    bad[26..28].copy_from_slice(&ck.to_be_bytes());
    assert!(matches!(
        decode_ipv4(&bad),
        Err(DecodeError::BadChecksum { .. })
    ));
}

#[test]
fn keepalived_v2_ah_unicast_zeroes_the_ttl_in_the_icv() {
    let advs = check_v4_with("v2_ah_unicast.pcap", Some("unicastAH"), true);
    assert_eq!(advs[0].dst, ip4("10.99.0.2"));
    assert_eq!(advs[0].vrrp.vrid, 55);
    // Verified as multicast (TTL kept), keepalived's unicast ICV does not match.
    let frame = &pcap_frames("v2_ah_unicast.pcap")[0];
    let h = decode_ipv4(frame).unwrap().ah.unwrap();
    assert_ne!(ah_icv(&key_bytes("unicastAH"), &h.signed), h.icv);
}

#[test]
fn keepalived_v3_unicast_checksum_uses_the_peer_address() {
    let advs = check_v4_with("v3_unicast.pcap", None, true);
    assert_eq!(advs[0].dst, ip4("10.99.0.2"));
    assert_eq!((advs[0].vrrp.vrid, advs[0].vrrp.priority), (56, 140));
}

#[test]
fn keepalived_unicast_ah_verifies_in_the_instance_even_after_a_plain_decode() {
    use rampart::vrrp::auth::Auth;
    use rampart::vrrp::fsm::{Action, Input, Instance, InstanceParams};
    use rampart::vrrp::packet::Af;
    use std::time::{Duration, Instant};
    let frames = pcap_frames("v2_ah_unicast.pcap");
    let params = InstanceParams {
        name: "VI_v2_ah_unicast".into(),
        vrid: 55,
        version: Version::V2,
        af: Af::V4,
        priority: 100,
        advert_int: Centis(100),
        initial_state_master: false,
        nopreempt: false,
        preempt_delay: Duration::ZERO,
        auth: Auth::Ah(key_bytes("unicastAH")),
        vips: vec![ip4("192.0.2.55")],
        unicast_peers: vec![ip4("10.99.0.1")],
        track_interfaces: vec![],
        track_scripts: vec![],
        garp_master_delay: Duration::from_secs(5),
        garp_master_repeat: 5,
        garp_master_refresh: None,
        garp_master_refresh_repeat: 1,
        in_sync_group: false,
        track_primary: true,
        lower_prio_no_advert: false,
        higher_prio_send_advert: false,
        garp_lower_prio_repeat: 5,
        garp_lower_prio_delay: Duration::from_secs(5),
        skip_check_adv_addr: false,
        check_unicast_src: false,
        unicast_fault_no_peer: false,
        down_timer_adverts: 3,
        startup_delay: Duration::ZERO,
        track_files: vec![],
        garp_extra_if: None,
        track_processes: vec![],
    };
    let mut inst = Instance::new(params);
    let t0 = Instant::now();
    inst.step(
        Input::LocalAddress {
            addr: ip4("10.99.0.2"),
        },
        t0,
    );
    inst.step(Input::Startup, t0);
    for (i, frame) in frames.iter().enumerate() {
        // The shell decoded without the unicast option: the TTL is still in `signed`.
        let packet = decode_ipv4(frame);
        let acts = inst.step(
            Input::AdvertReceived { packet },
            t0 + Duration::from_secs(i as u64),
        );
        assert!(
            !acts.iter().any(|a| matches!(a, Action::CountDrop { .. })),
            "packet {i}: {acts:?}"
        );
    }
    assert!(inst.counters().drops.is_empty());
}
