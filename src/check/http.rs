//! keepalived's HTTP_GET/SSL_GET wire format, as pure functions: the request bytes and an
//! incremental response reader that computes the digest exactly as keepalived 2.2 does.
//!
//! Why not hyper: keepalived's digest is the MD5 of the raw bytes that follow the header block
//! (bounded by Content-Length when present) — for a chunked response that includes the chunk
//! framing, which hyper decodes away before the caller sees the body. keepalived also sends a
//! fixed header set in a fixed order and case (verified by capturing Debian's genhash with a
//! listening socket on loopback):
//!
//! ```text
//! GET /foo HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: 127.0.0.1:18080\r\n\r\n
//! GET /foo HTTP/1.1\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: myhost\r\n\r\n
//! ```
//!
//! Host is `virtualhost` when configured, else `ADDR:PORT` (IPv6 in brackets, the port always
//! written, even 80). A ~150-line reader over the checker's own socket is simpler and more
//! faithful than bending an HTTP library into producing and exposing these bytes.

use crate::config::model::HttpProtocol;
use md5::{Digest, Md5};
use std::net::IpAddr;

/// The Host header value keepalived sends.
pub fn host_header(virtualhost: Option<&str>, addr: IpAddr, port: u16) -> String {
    match (virtualhost, addr) {
        (Some(v), _) => v.to_string(),
        (None, IpAddr::V4(a)) => format!("{a}:{port}"),
        (None, IpAddr::V6(a)) => format!("[{a}]:{port}"),
    }
}

/// The request keepalived sends for one url.
pub fn build_request(path: &str, host: &str, proto: HttpProtocol) -> Vec<u8> {
    let (version, close) = match proto {
        HttpProtocol::V1_0 => ("1.0", false),
        HttpProtocol::V1_0C => ("1.0", true),
        HttpProtocol::V1_1 => ("1.1", true),
    };
    let mut s = format!("GET {path} HTTP/{version}\r\nUser-Agent: KeepAliveClient\r\n");
    if close {
        s.push_str("Connection: close\r\n");
    }
    s.push_str(&format!("Host: {host}\r\n\r\n"));
    s.into_bytes()
}

/// What went wrong reading a response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    #[error("no data received from remote webserver")]
    NoData,
    #[error("response header block is longer than {0} bytes")]
    HeaderTooLong(usize),
    #[error("body exceeds the read limit of {0} bytes")]
    BodyTooLarge(u64),
}

/// A complete response as keepalived sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// None when the status line is not `HTTP/x.y NNN ...` (genhash still prints the digest;
    /// a checker fails).
    pub status: Option<u16>,
    /// The header block including the terminating blank line.
    pub header: Vec<u8>,
    pub digest: [u8; 16],
    pub body_len: u64,
}

/// Longest header block accepted (keepalived reads into a fixed buffer of similar size).
pub const MAX_HEADER: usize = 64 * 1024;

/// Incremental reader: feed bytes as they arrive, then `finish` at EOF.
/// Memory use is bounded by MAX_HEADER plus the optional body copy (genhash -v only).
#[derive(Debug)]
pub struct ResponseReader {
    header: Vec<u8>,
    /// Set once the header block is complete.
    status: Option<Option<u16>>,
    content_length: Option<u64>,
    body_len: u64,
    max_body: u64,
    md5: Md5,
    keep_body: bool,
    /// The hashed body bytes, one entry per `feed` (genhash -v dumps each read separately).
    body: Vec<Vec<u8>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Need more bytes (or EOF).
    More,
    /// The body is complete (Content-Length reached): stop reading.
    Done,
}

impl ResponseReader {
    pub fn new(max_body: u64) -> Self {
        ResponseReader {
            header: Vec::new(),
            status: None,
            content_length: None,
            body_len: 0,
            max_body,
            md5: Md5::new(),
            keep_body: false,
            body: Vec::new(),
        }
    }

    /// Also keep a copy of the hashed body bytes (for `genhash -v`).
    pub fn keep_body(mut self) -> Self {
        self.keep_body = true;
        self
    }

    pub fn header_done(&self) -> bool {
        self.status.is_some()
    }

    pub fn keeps_body(&self) -> bool {
        self.keep_body
    }

    pub fn body_chunks(&self) -> &[Vec<u8>] {
        &self.body
    }

    pub fn feed(&mut self, data: &[u8]) -> Result<Progress, HttpError> {
        if self.status.is_none() {
            // Only the tail of what we already have can start a terminator.
            let scan_from = self.header.len().saturating_sub(3);
            self.header.extend_from_slice(data);
            match find(&self.header[scan_from..], b"\r\n\r\n") {
                None => {
                    if self.header.len() > MAX_HEADER {
                        return Err(HttpError::HeaderTooLong(MAX_HEADER));
                    }
                    return Ok(Progress::More);
                }
                Some(i) => {
                    let end = scan_from + i + 4;
                    // Same limit whether the block arrived in one read or many.
                    // (a split read fails once more than MAX_HEADER bytes lack a terminator)
                    if end > MAX_HEADER + 1 {
                        return Err(HttpError::HeaderTooLong(MAX_HEADER));
                    }
                    let rest = self.header.split_off(end);
                    let (status, cl) = parse_header(&self.header);
                    self.status = Some(status);
                    self.content_length = cl;
                    return self.feed_body(&rest);
                }
            }
        }
        self.feed_body(data)
    }

    fn feed_body(&mut self, data: &[u8]) -> Result<Progress, HttpError> {
        let take = match self.content_length {
            Some(cl) => (cl.saturating_sub(self.body_len)).min(data.len() as u64) as usize,
            None => data.len(),
        };
        let chunk = &data[..take];
        if self.body_len + take as u64 > self.max_body {
            return Err(HttpError::BodyTooLarge(self.max_body));
        }
        self.md5.update(chunk);
        if self.keep_body && !chunk.is_empty() {
            self.body.push(chunk.to_vec());
        }
        self.body_len += take as u64;
        match self.content_length {
            Some(cl) if self.body_len >= cl => Ok(Progress::Done),
            _ => Ok(Progress::More),
        }
    }

    /// Whether the header block is complete.
    pub fn has_header(&self) -> bool {
        self.status.is_some()
    }

    /// The header bytes read so far (for `genhash -v` on partial responses).
    pub fn header(&self) -> &[u8] {
        &self.header
    }

    /// End of input (EOF, or Content-Length reached).
    pub fn finish(self) -> Result<Response, HttpError> {
        let Some(status) = self.status else {
            return Err(HttpError::NoData);
        };
        Ok(Response {
            status,
            header: self.header,
            digest: self.md5.finalize().into(),
            body_len: self.body_len,
        })
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Parse `HTTP/x.y CODE ...` and a Content-Length header out of a complete header block.
fn parse_header(h: &[u8]) -> (Option<u16>, Option<u64>) {
    let text = String::from_utf8_lossy(h);
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.split_ascii_whitespace();
    let status = match (parts.next(), parts.next()) {
        (Some(v), Some(code)) if v.starts_with("HTTP/") && code.len() == 3 => code.parse().ok(),
        _ => None,
    };
    let _ = lines;
    (status, content_length(h))
}

/// keepalived's Content-Length lookup, reproduced as observed with genhash 2.2.7: the first
/// occurrence of the exact, case-sensitive text `Content-Length: ` anywhere in the header block
/// (so `X-Content-Length: ` matches and `content-length: ` does not), then leading blanks, then
/// digits that must run up to the end of the line; anything else means "no length".
fn content_length(h: &[u8]) -> Option<u64> {
    const KEY: &[u8] = b"Content-Length: ";
    let at = find(h, KEY)? + KEY.len();
    let rest = &h[at..];
    let line_end = rest.iter().position(|&b| b == b'\r').unwrap_or(rest.len());
    let value = std::str::from_utf8(&rest[..line_end]).ok()?;
    let value = value.trim_start_matches([' ', '\t']);
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

/// keepalived's hex dump (genhash -v): `OFFS  xx xx xx xx xx xx xx xx - xx ... xx   ASCII`,
/// offsets in decimal, 16 bytes a line, non-printable bytes shown as `.`.
pub fn hexdump(data: &[u8]) -> String {
    let mut out = String::new();
    for (n, line) in data.chunks(16).enumerate() {
        out.push_str(&format!("{:04}  ", n * 16));
        for i in 0..16 {
            match line.get(i) {
                Some(b) => out.push_str(&format!("{b:02x} ")),
                None => out.push_str("   "),
            }
            if i == 7 {
                out.push_str("- ");
            }
        }
        out.push_str("  ");
        for i in 0..16 {
            out.push(match line.get(i) {
                Some(&b) if (0x20..0x7f).contains(&b) => b as char,
                Some(_) => '.',
                None => ' ',
            });
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn requests_match_keepalived_bytes() {
        // Captured from Debian's genhash 2.2.7.
        let h = host_header(None, IpAddr::V4(Ipv4Addr::LOCALHOST), 18080);
        assert_eq!(
            build_request("/foo", &h, HttpProtocol::V1_0),
            b"GET /foo HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: 127.0.0.1:18080\r\n\r\n"
        );
        assert_eq!(
            build_request("/foo", "myhost", HttpProtocol::V1_1),
            b"GET /foo HTTP/1.1\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: myhost\r\n\r\n"
        );
        let h6 = host_header(None, IpAddr::V6(Ipv6Addr::LOCALHOST), 80);
        assert_eq!(
            build_request("/x", &h6, HttpProtocol::V1_0C),
            b"GET /x HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: [::1]:80\r\n\r\n"
        );
    }

    fn read_all(resp: &[u8], split: usize) -> Result<Response, HttpError> {
        let mut r = ResponseReader::new(1 << 20);
        for c in resp.chunks(split.max(1)) {
            if let Progress::Done = r.feed(c)? {
                break;
            }
        }
        r.finish()
    }

    #[test]
    fn digests_match_genhash() {
        // (response, genhash's digest)
        let cases: &[(&[u8], &str)] = &[
            (
                b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhello\n",
                "b1946ac92492d2347c6235b4d2611184",
            ),
            // Chunked: genhash hashes the raw chunked framing.
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
                "79e9489e3bd3f0cb0158215341de046d",
            ),
            // Content-Length bounds the hashed bytes.
            (
                b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nhello",
                "46356afe55fa3cea9cbe73ad442cad47",
            ),
            (
                b"HTTP/1.0 200 OK\r\n\r\n",
                "d41d8cd98f00b204e9800998ecf8427e",
            ),
        ];
        for (resp, want) in cases {
            for split in [1, 3, 7, 1000] {
                let r = read_all(resp, split).unwrap();
                assert_eq!(hex::encode(r.digest), *want, "split {split}");
                assert_eq!(r.status, Some(200));
            }
        }
    }

    #[test]
    fn no_header_end_is_no_data() {
        assert_eq!(read_all(b"garbage", 4), Err(HttpError::NoData));
        assert_eq!(
            read_all(b"HTTP/1.0 200 OK\r\nA: b", 4),
            Err(HttpError::NoData)
        );
    }

    #[test]
    fn status_and_cap() {
        let r = read_all(b"HTTP/1.0 404 Not Found\r\n\r\nnope", 5).unwrap();
        assert_eq!(r.status, Some(404));
        let mut rd = ResponseReader::new(10);
        assert!(rd.feed(b"HTTP/1.0 200 OK\r\n\r\n0123456789").is_ok());
        assert_eq!(rd.feed(b"x"), Err(HttpError::BodyTooLarge(10)));
        assert_eq!(read_all(b"FTP 200 OK\r\n\r\n", 100).unwrap().status, None);
    }

    #[test]
    fn hexdump_matches_genhash_layout() {
        let d = hexdump(b"hello\n");
        assert_eq!(
            d,
            "0000  68 65 6c 6c 6f 0a       -                           hello.          \n"
        );
        let all: Vec<u8> = (0u8..40).collect();
        let d = hexdump(&all);
        let lines: Vec<&str> = d.lines().collect();
        assert_eq!(
            lines[0],
            "0000  00 01 02 03 04 05 06 07 - 08 09 0a 0b 0c 0d 0e 0f   ................"
        );
        assert_eq!(
            lines[2],
            "0032  20 21 22 23 24 25 26 27 -                            !\"#$%&'        "
        );
    }

    #[test]
    fn header_limit_does_not_depend_on_read_sizes() {
        let mut data = vec![b'a'; MAX_HEADER + 100];
        data.extend_from_slice(b"\r\n\r\nbody");
        assert_eq!(
            read_all(&data, 1),
            Err(HttpError::HeaderTooLong(MAX_HEADER))
        );
        assert_eq!(
            read_all(&data, 1 << 20),
            Err(HttpError::HeaderTooLong(MAX_HEADER))
        );
        // At the boundary: a block ending exactly one byte past the limit passes either way,
        // two bytes past fails either way.
        for (extra, ok) in [(1usize, true), (2, false)] {
            let mut d = vec![b'a'; MAX_HEADER + extra - 4];
            d.extend_from_slice(b"\r\n\r\n");
            for split in [1, 7, 4096, 1 << 20] {
                assert_eq!(
                    read_all(&d, split).is_ok(),
                    ok,
                    "extra {extra} split {split}"
                );
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn reader_is_total_and_split_independent(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300), split in 1usize..50) {
            let a = read_all(&data, split);
            let b = read_all(&data, 10_000);
            proptest::prop_assert_eq!(a, b);
        }
    }
}
