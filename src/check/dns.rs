//! DNS_CHECK's codec (pure): keepalived's query (recursion desired, one question of class IN)
//! and its verdict on a datagram: a reply with our identifier and the QR bit passes when its
//! RCODE is 0; anything else that is not our reply is ignored (keepalived keeps waiting).

/// The query types keepalived accepts, with their codes.
pub const TYPES: &[(&str, u16)] = &[
    ("A", 1),
    ("NS", 2),
    ("CNAME", 5),
    ("SOA", 6),
    ("MX", 15),
    ("TXT", 16),
    ("AAAA", 28),
    ("RRSIG", 46),
    ("DNSKEY", 48),
];

/// The code of a query type name (as written in keepalived.conf, upper case).
pub fn type_code(name: &str) -> Option<u16> {
    TYPES.iter().find(|(n, _)| *n == name).map(|(_, c)| *c)
}

/// Why a name cannot be queried (empty labels are skipped, so `.` is the root).
pub fn check_name(name: &str) -> Result<(), String> {
    let mut total = 1;
    for label in name.split('.').filter(|l| !l.is_empty()) {
        if label.len() > 63 {
            return Err(format!("label `{label}` is longer than 63 bytes"));
        }
        total += label.len() + 1;
    }
    if total > 255 {
        return Err(format!("the name is longer than 255 bytes ({total})"));
    }
    Ok(())
}

/// The query datagram.
pub fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut q = Vec::with_capacity(18 + name.len());
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&0x0100u16.to_be_bytes()); // RD
    q.extend_from_slice(&1u16.to_be_bytes()); // QDCOUNT
    q.extend_from_slice(&[0; 6]); // AN/NS/AR counts
    for label in name.split('.').filter(|l| !l.is_empty()) {
        let bytes = &label.as_bytes()[..label.len().min(63)];
        q.push(bytes.len() as u8);
        q.extend_from_slice(bytes);
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes()); // class IN
    q
}

/// The verdict on a received datagram for query `id`: None when it is not our reply (too
/// short, another identifier, not a response); Some(Ok) for RCODE 0; Some(Err(rcode)).
pub fn verdict(id: u16, reply: &[u8]) -> Option<Result<(), u8>> {
    if reply.len() < 12 || reply[0..2] != id.to_be_bytes() {
        return None;
    }
    let flags = u16::from_be_bytes([reply[2], reply[3]]);
    if flags & 0x8000 == 0 {
        return None;
    }
    match (flags & 0x000f) as u8 {
        0 => Some(Ok(())),
        rcode => Some(Err(rcode)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_golden_bytes() {
        assert_eq!(
            query(0xabcd, "www.example.com", 1),
            [
                &[0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0][..],
                &[3, b'w', b'w', b'w', 7],
                b"example",
                &[3, b'c', b'o', b'm', 0, 0, 1, 0, 1],
            ]
            .concat()
        );
        // The root (keepalived's default name) and a trailing dot.
        assert_eq!(query(1, ".", 6)[12..], [0, 0, 6, 0, 1]);
        assert_eq!(query(1, "a.", 6)[12..], [1, b'a', 0, 0, 6, 0, 1]);
    }

    #[test]
    fn verdicts() {
        let mut r = query(7, ".", 6);
        assert_eq!(verdict(7, &r), None, "a query is not a reply");
        r[2] |= 0x80;
        assert_eq!(verdict(7, &r), Some(Ok(())));
        assert_eq!(verdict(8, &r), None, "another identifier");
        r[3] |= 3;
        assert_eq!(verdict(7, &r), Some(Err(3)));
        assert_eq!(verdict(7, &r[..11]), None);
        assert!(check_name(&"a".repeat(64)).is_err());
        assert!(check_name(&vec!["abcdefgh"; 40].join(".")).is_err());
        assert!(check_name("www.example.com").is_ok());
        assert_eq!(type_code("AAAA"), Some(28));
        assert_eq!(type_code("aaaa"), None);
    }
}
