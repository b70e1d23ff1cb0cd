//! The IPVS netlink decoder never panics, and whatever it decodes re-encodes to bytes that
//! decode to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart::ipvs::codec::{Cmd, IpvsMessage, Reply, decode_datagram, encode_request};

fuzz_target!(|data: &[u8]| {
    // A whole datagram as the kernel would send it.
    for reply in decode_datagram(data).into_iter().flatten() {
        if let Reply::Data { seq, msg } = reply {
            let again = decode_datagram(&encode_request(0x25, 0, seq, &msg));
            assert!(matches!(again.as_slice(), [Ok(Reply::Data { msg: m, .. })] if *m == msg));
        }
    }
    // Attribute bytes after a generic-netlink header, under the command in the first byte.
    if let Some((&cmd, attrs)) = data.split_first() {
        if let Ok(msg) = IpvsMessage::unpack(Cmd::from(cmd), attrs) {
            let again = IpvsMessage::unpack(msg.cmd, &msg.pack_attrs()).expect("re-decodes");
            assert_eq!(again, msg);
        }
    }
});
