//! Value parsers (nom): numbers, timers, addresses, prefixes, ranges, digests, booleans.
//!
//! Each parser takes one token and either returns the value or `None`; the caller reports the
//! expected form. All parsers are total (no panics) and have a formatter that they round-trip
//! with (see the proptests at the end of this file).

use super::model::{IpPrefix, StatusRange};
use nom::{
    IResult, Parser,
    bytes::complete::{tag, take_while_m_n, take_while1},
    character::complete::{char, digit1},
    combinator::{all_consuming, map_res, opt, recognize},
};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

fn full<'a, O>(
    mut p: impl Parser<&'a str, Output = O, Error = nom::error::Error<&'a str>>,
    s: &'a str,
) -> Option<O> {
    match all_consuming(|i| p.parse(i)).parse(s) {
        Ok((_, v)) => Some(v),
        Err(_) => None,
    }
}

fn decimal_u64(i: &str) -> IResult<&str, u64> {
    map_res(digit1, str::parse::<u64>).parse(i)
}

/// An unsigned decimal integer.
pub fn uint(s: &str) -> Option<u64> {
    full(decimal_u64, s)
}

/// An unsigned integer, decimal or `0x` hex (fwmark, table ids).
pub fn uint_any(s: &str) -> Option<u64> {
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        return full(
            map_res(take_while1(|c: char| c.is_ascii_hexdigit()), |h| {
                u64::from_str_radix(h, 16)
            }),
            h,
        );
    }
    uint(s)
}

/// A signed decimal integer.
pub fn int(s: &str) -> Option<i64> {
    full(
        map_res(recognize((opt(char('-')), digit1)), str::parse::<i64>),
        s,
    )
    .or_else(|| {
        s.strip_prefix('+')
            .and_then(uint)
            .and_then(|v| i64::try_from(v).ok())
    })
}

/// A number within an inclusive range.
pub fn uint_in(s: &str, lo: u64, hi: u64) -> Option<u64> {
    uint(s).filter(|v| (lo..=hi).contains(v))
}

pub fn int_in(s: &str, lo: i64, hi: i64) -> Option<i64> {
    int(s).filter(|v| (lo..=hi).contains(v))
}

/// keepalived's `<TIMER>`: seconds with an optional fraction (`3`, `0.5`, `2.71828`),
/// microsecond resolution.
pub fn timer(s: &str) -> Option<Duration> {
    let (secs, frac) = full((digit1, opt((char('.'), digit1))), s)?;
    let secs: u64 = secs.parse().ok()?;
    // A day is far beyond any sensible timer and keeps arithmetic far from overflow.
    if secs > 1_000_000_000 {
        return None;
    }
    let micros = match frac {
        None => 0,
        Some((_, f)) => {
            let mut digits: String = f.chars().take(6).collect();
            while digits.len() < 6 {
                digits.push('0');
            }
            digits.parse::<u32>().ok()?
        }
    };
    Some(Duration::from_secs(secs) + Duration::from_micros(micros as u64))
}

/// Format a timer the way `timer` reads it.
pub fn format_timer(d: Duration) -> String {
    let micros = d.subsec_micros();
    if micros == 0 {
        d.as_secs().to_string()
    } else {
        let f = format!("{micros:06}");
        format!("{}.{}", d.as_secs(), f.trim_end_matches('0'))
    }
}

pub fn ipv4(s: &str) -> Option<Ipv4Addr> {
    // std accepts exactly dotted-quad decimal, which is what keepalived means.
    s.parse().ok()
}

pub fn ipv6(s: &str) -> Option<Ipv6Addr> {
    s.parse().ok()
}

pub fn ip(s: &str) -> Option<IpAddr> {
    s.parse().ok()
}

pub fn port(s: &str) -> Option<u16> {
    uint_in(s, 0, 65535).map(|v| v as u16)
}

/// `ADDR[/LEN]`; LEN bounded by the family. Returns the written length, if any.
pub fn addr_prefix(s: &str) -> Option<(IpAddr, Option<u8>)> {
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let addr = ip(addr)?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = match len {
        Some(l) => Some(uint_in(l, 0, max)? as u8),
        None => None,
    };
    Some((addr, len))
}

/// `ADDR[/LEN]` with the host length as default.
pub fn prefix(s: &str) -> Option<IpPrefix> {
    let (addr, len) = addr_prefix(s)?;
    Some(IpPrefix {
        addr,
        len: len.unwrap_or(if addr.is_ipv4() { 32 } else { 128 }),
    })
}

/// A virtual_server_group range: `a.b.c.d-e` (last octet) or `x:...:y-z` (last hextet),
/// or a single address. Returns (first, last).
pub fn ip_range(s: &str) -> Option<(IpAddr, IpAddr)> {
    let Some((first, last)) = s.rsplit_once('-') else {
        let a = ip(s)?;
        return Some((a, a));
    };
    match ip(first)? {
        IpAddr::V4(a) => {
            let end = uint_in(last, 0, 255)? as u8;
            let o = a.octets();
            if end < o[3] {
                return None;
            }
            Some((a.into(), Ipv4Addr::new(o[0], o[1], o[2], end).into()))
        }
        IpAddr::V6(a) => {
            let end = full(
                map_res(take_while_m_n(1, 4, |c: char| c.is_ascii_hexdigit()), |h| {
                    u16::from_str_radix(h, 16)
                }),
                last,
            )?;
            let mut seg = a.segments();
            if end < seg[7] {
                return None;
            }
            seg[7] = end;
            Some((a.into(), Ipv6Addr::from(seg).into()))
        }
    }
}

/// Format a range the way `ip_range` reads it.
pub fn format_ip_range(first: IpAddr, last: IpAddr) -> String {
    if first == last {
        return first.to_string();
    }
    match last {
        IpAddr::V4(l) => format!("{first}-{}", l.octets()[3]),
        IpAddr::V6(l) => format!("{first}-{:x}", l.segments()[7]),
    }
}

fn status_code(i: &str) -> IResult<&str, u16> {
    map_res(
        take_while_m_n(3, 3, |c: char| c.is_ascii_digit()),
        |d: &str| d.parse::<u16>(),
    )
    .parse(i)
}

/// An HTTP status code or range: `200`, `200-299` (100–599).
pub fn status_range(s: &str) -> Option<StatusRange> {
    let (first, last) = full((status_code, opt((tag("-"), status_code))), s)?;
    let last = last.map_or(first, |(_, l)| l);
    if !(100..=599).contains(&first) || !(100..=599).contains(&last) || last < first {
        return None;
    }
    Some(StatusRange { first, last })
}

pub fn format_status_range(r: StatusRange) -> String {
    if r.first == r.last {
        r.first.to_string()
    } else {
        format!("{}-{}", r.first, r.last)
    }
}

/// An MD5 digest: exactly 32 hex digits.
pub fn digest(s: &str) -> Option<[u8; 16]> {
    if s.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

/// keepalived's `<BOOL>`: on|off|true|false|yes|no.
pub fn boolean(s: &str) -> Option<bool> {
    match s {
        "on" | "true" | "yes" => Some(true),
        "off" | "false" | "no" => Some(false),
        _ => None,
    }
}

/// `N[/MASK]` (fwmark with an optional mask), decimal or hex.
pub fn fwmark_mask(s: &str) -> Option<(u32, Option<u32>)> {
    let (m, mask) = match s.split_once('/') {
        Some((m, k)) => (m, Some(k)),
        None => (s, None),
    };
    let m = u32::try_from(uint_any(m)?).ok()?;
    let mask = match mask {
        Some(k) => Some(u32::try_from(uint_any(k)?).ok()?),
        None => None,
    };
    Some((m, mask))
}

/// A netmask for persistence_granularity: a dotted quad with contiguous ones (IPv4) or a
/// prefix length. Returns the prefix length.
pub fn netmask_len(s: &str) -> Option<u8> {
    if let Some(a) = ipv4(s) {
        let bits = u32::from(a);
        let len = bits.leading_ones();
        if bits.checked_shl(len).unwrap_or(0) != 0 {
            return None;
        }
        return Some(len as u8);
    }
    uint_in(s, 0, 128).map(|v| v as u8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn golden() {
        assert_eq!(timer("1"), Some(Duration::from_secs(1)));
        assert_eq!(timer("0.5"), Some(Duration::from_millis(500)));
        assert_eq!(timer("2.71828"), Some(Duration::from_micros(2_718_280)));
        assert_eq!(timer("1."), None);
        assert_eq!(timer("-1"), None);
        assert_eq!(timer("1s"), None);
        assert_eq!(port("65535"), Some(65535));
        assert_eq!(port("65536"), None);
        assert_eq!(int("-20"), Some(-20));
        assert_eq!(int("+5"), Some(5));
        assert_eq!(
            ip_range("192.168.200.3-10"),
            Some((
                "192.168.200.3".parse().unwrap(),
                "192.168.200.10".parse().unwrap()
            ))
        );
        assert_eq!(ip_range("192.168.200.3-1"), None);
        assert_eq!(ip_range("192.168.200.3-256"), None);
        assert_eq!(
            ip_range("2001:db8::1-1f"),
            Some((
                "2001:db8::1".parse().unwrap(),
                "2001:db8::1f".parse().unwrap()
            ))
        );
        assert_eq!(
            status_range("200-299"),
            Some(StatusRange {
                first: 200,
                last: 299
            })
        );
        assert_eq!(status_range("2000"), None);
        assert_eq!(status_range("299-200"), None);
        assert!(digest("640205b7b0fc66c1ea91c463fac6334d").is_some());
        assert!(digest("640205b7b0fc66c1ea91c463fac6334").is_none());
        assert!(digest("640205b7b0fc66c1ea91c463fac6334g").is_none());
        assert_eq!(addr_prefix("192.168.100./24"), None);
        assert_eq!(
            addr_prefix("10.0.0.0/8"),
            Some(("10.0.0.0".parse().unwrap(), Some(8)))
        );
        assert_eq!(addr_prefix("10.0.0.0/33"), None);
        assert_eq!(netmask_len("255.255.255.0"), Some(24));
        assert_eq!(netmask_len("255.0.255.0"), None);
        assert_eq!(fwmark_mask("0x10/0xff"), Some((16, Some(255))));
        assert_eq!(uint("99999999999999999999999"), None);
    }

    proptest! {
        #[test]
        fn timer_round_trip(secs in 0u64..1_000_000, micros in 0u32..1_000_000) {
            let d = Duration::from_secs(secs) + Duration::from_micros(micros as u64);
            prop_assert_eq!(timer(&format_timer(d)), Some(d));
        }

        #[test]
        fn prefix_round_trip(a in any::<[u8; 4]>(), b in any::<[u16; 8]>(), l4 in 0u8..=32, l6 in 0u8..=128) {
            let p4 = IpPrefix { addr: Ipv4Addr::from(a).into(), len: l4 };
            prop_assert_eq!(prefix(&p4.to_string()), Some(p4));
            let p6 = IpPrefix { addr: Ipv6Addr::from(b).into(), len: l6 };
            prop_assert_eq!(prefix(&p6.to_string()), Some(p6));
        }

        #[test]
        fn range_round_trip(a in any::<[u8; 4]>(), end in any::<u8>(), b in any::<[u16; 8]>(), end6 in any::<u16>()) {
            let first: IpAddr = Ipv4Addr::from(a).into();
            if end >= a[3] {
                let last: IpAddr = Ipv4Addr::new(a[0], a[1], a[2], end).into();
                prop_assert_eq!(ip_range(&format_ip_range(first, last)), Some((first, last)));
            }
            let first6: IpAddr = Ipv6Addr::from(b).into();
            if end6 >= b[7] {
                let mut s = b;
                s[7] = end6;
                let last6: IpAddr = Ipv6Addr::from(s).into();
                prop_assert_eq!(ip_range(&format_ip_range(first6, last6)), Some((first6, last6)));
            }
        }

        #[test]
        fn status_round_trip(a in 100u16..600, b in 100u16..600) {
            let r = StatusRange { first: a.min(b), last: a.max(b) };
            prop_assert_eq!(status_range(&format_status_range(r)), Some(r));
        }

        #[test]
        fn digest_round_trip(d in any::<[u8; 16]>()) {
            prop_assert_eq!(digest(&hex::encode(d)), Some(d));
        }

        #[test]
        fn numbers_round_trip(u in any::<u64>(), i in any::<i64>(), p in any::<u16>()) {
            prop_assert_eq!(uint(&u.to_string()), Some(u));
            prop_assert_eq!(int(&i.to_string()), Some(i));
            prop_assert_eq!(port(&p.to_string()), Some(p));
            prop_assert_eq!(uint_any(&format!("0x{u:x}")), Some(u));
        }

        #[test]
        fn parsers_are_total(s in "\\PC{0,40}") {
            let _ = (timer(&s), ip_range(&s), status_range(&s), digest(&s), addr_prefix(&s),
                     netmask_len(&s), fwmark_mask(&s), int(&s), uint_any(&s));
        }
    }
}
