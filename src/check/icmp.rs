//! PING_CHECK's ICMP echo codec (pure): the echo request rampart sends and the recognition of
//! the matching echo reply, for IPv4 (raw sockets deliver the IP header too) and IPv6 (the
//! kernel fills in the ICMPv6 checksum and strips the IPv6 header).

const ECHO_REQUEST_V4: u8 = 8;
const ECHO_REPLY_V4: u8 = 0;
const ECHO_REQUEST_V6: u8 = 128;
const ECHO_REPLY_V6: u8 = 129;

/// The Internet checksum (RFC 1071) of `data`.
pub fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for pair in data.chunks(2) {
        let word = match pair {
            [a, b] => u16::from_be_bytes([*a, *b]),
            [a] => u16::from_be_bytes([*a, 0]),
            _ => 0,
        };
        sum += word as u32;
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An ICMP (v6: ICMPv6) echo request: type, code 0, checksum, identifier, sequence, payload.
/// The ICMPv6 checksum is left 0 for the kernel to fill in.
pub fn echo_request(v6: bool, id: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(8 + payload.len());
    p.push(if v6 { ECHO_REQUEST_V6 } else { ECHO_REQUEST_V4 });
    p.push(0);
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(payload);
    if !v6 {
        let c = checksum(&p);
        p[2..4].copy_from_slice(&c.to_be_bytes());
    }
    p
}

/// The (identifier, sequence) of an echo reply as received on a raw socket; None for any
/// other or malformed packet. IPv4 packets start with the IP header.
pub fn echo_reply(v6: bool, packet: &[u8]) -> Option<(u16, u16)> {
    let icmp = if v6 {
        packet
    } else {
        let first = *packet.first()?;
        if first >> 4 != 4 {
            return None;
        }
        packet.get(((first & 0x0f) as usize) * 4..)?
    };
    if icmp.len() < 8 {
        return None;
    }
    let want = if v6 { ECHO_REPLY_V6 } else { ECHO_REPLY_V4 };
    if icmp[0] != want || icmp[1] != 0 {
        return None;
    }
    Some((
        u16::from_be_bytes([icmp[4], icmp[5]]),
        u16::from_be_bytes([icmp[6], icmp[7]]),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_request_golden_bytes() {
        // Type 8, code 0, checksum, id 0x1234, seq 1, payload "ab".
        let p = echo_request(false, 0x1234, 1, b"ab");
        assert_eq!(p, vec![8, 0, 0x84, 0x68, 0x12, 0x34, 0, 1, b'a', b'b']);
        assert_eq!(checksum(&p), 0, "a packet with its checksum sums to zero");
        let p6 = echo_request(true, 0x1234, 1, b"ab");
        assert_eq!(p6, vec![128, 0, 0, 0, 0x12, 0x34, 0, 1, b'a', b'b']);
    }

    #[test]
    fn echo_reply_is_recognised_behind_the_ipv4_header() {
        let mut ip = vec![
            0x45u8, 0, 0, 30, 0, 0, 0, 0, 64, 1, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1,
        ];
        let mut icmp = echo_request(false, 7, 9, b"x");
        icmp[0] = 0;
        ip.extend_from_slice(&icmp);
        assert_eq!(echo_reply(false, &ip), Some((7, 9)));
        // A request (our own, looped back) is not a reply.
        let mut req = ip.clone();
        req[20] = 8;
        assert_eq!(echo_reply(false, &req), None);
        let mut v6 = echo_request(true, 7, 9, b"");
        v6[0] = 129;
        assert_eq!(echo_reply(true, &v6), Some((7, 9)));
        for junk in [&[][..], &[0x45], &[0x4f, 0, 0], &[0x60; 40]] {
            assert_eq!(echo_reply(false, junk), None);
            assert_eq!(echo_reply(true, junk), None);
        }
    }
}
