//! SMTP_CHECK's reply reader (pure): an SMTP reply is one or more lines `NNN-text` ending
//! with a line `NNN text` (or `NNN`); the check needs each reply's code (RFC 5321 §4.2).

/// Longest reply accepted (keepalived reads replies into a 512-byte buffer).
pub const MAX_REPLY: usize = 512;

/// What a reply reader made of the bytes so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// More bytes needed.
    More,
    /// A complete reply with this code.
    Code(u16),
    /// Not SMTP (a line without a 3-digit code) or too long.
    Bad(String),
}

/// Accumulates one reply; `feed` until it answers something other than `More`.
#[derive(Debug, Default)]
pub struct ReplyReader {
    buf: Vec<u8>,
}

impl ReplyReader {
    pub fn feed(&mut self, data: &[u8]) -> Reply {
        self.buf.extend_from_slice(data);
        let mut start = 0;
        while let Some(nl) = self.buf[start..].iter().position(|&b| b == b'\n') {
            let line = &self.buf[start..start + nl];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let code = match line.get(..3).and_then(|d| std::str::from_utf8(d).ok()) {
                Some(d) if d.bytes().all(|b| b.is_ascii_digit()) => d.parse::<u16>().ok(),
                _ => None,
            };
            let Some(code) = code else {
                return Reply::Bad(format!(
                    "not an SMTP reply line: {:?}",
                    String::from_utf8_lossy(&line[..line.len().min(60)])
                ));
            };
            match line.get(3) {
                Some(b'-') => start += nl + 1,
                None | Some(b' ') => return Reply::Code(code),
                Some(_) => {
                    return Reply::Bad(format!(
                        "not an SMTP reply line: {:?}",
                        String::from_utf8_lossy(&line[..line.len().min(60)])
                    ));
                }
            }
        }
        if self.buf.len() > MAX_REPLY {
            return Reply::Bad(format!("reply longer than {MAX_REPLY} bytes"));
        }
        Reply::More
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(chunks: &[&[u8]]) -> Reply {
        let mut r = ReplyReader::default();
        for c in chunks {
            match r.feed(c) {
                Reply::More => {}
                other => return other,
            }
        }
        Reply::More
    }

    #[test]
    fn replies() {
        assert_eq!(read(&[b"220 mx.example ESMTP\r\n"]), Reply::Code(220));
        assert_eq!(
            read(&[b"250-mx.example\r\n250-PIPELINING\r", b"\n250 8BITMIME\r\n"]),
            Reply::Code(250)
        );
        assert_eq!(read(&[b"221\r\n"]), Reply::Code(221));
        assert_eq!(read(&[b"22", b"1 bye"]), Reply::More);
        assert!(matches!(read(&[b"HTTP/1.0 200 OK\r\n"]), Reply::Bad(_)));
        assert!(matches!(read(&[b"250x\r\n"]), Reply::Bad(_)));
        assert!(matches!(read(&[&[b'2'; 600][..]]), Reply::Bad(_)));
    }
}
