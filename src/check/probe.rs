//! What one check does, as data (`ProbeSpec`, resolved from the configuration, hashable so that
//! identical checks of the same endpoint run once) and the I/O that executes it.

use super::http::{self, Progress, ResponseReader};
use crate::config::model::HttpProtocol;
use socket2::{Domain, Protocol as SockProto, Socket, Type};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::timeout;

/// keepalived's default SMTP_CHECK `helo_name`.
pub const DEFAULT_SMTP_HELO: &str = "smtpchecker.keepalived.org";

/// Default cap on body bytes read by HTTP_GET/SSL_GET.
pub const DEFAULT_MAX_BODY: u64 = 1 << 20;

/// Where and how a check connects (every check opens its own socket).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ConnectSpec {
    /// connect_ip/connect_port, defaulting to the real server's address and port.
    pub addr: SocketAddr,
    pub bind_ip: Option<IpAddr>,
    pub bind_port: Option<u16>,
    /// SO_MARK.
    pub fwmark: Option<u32>,
    /// SO_BINDTODEVICE (`bind_if`); also the scope of IPv6 link-local addresses.
    pub bind_if: Option<String>,
    /// connect_timeout: bounds the connect, and separately each url's request/response.
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UrlSpec {
    pub path: String,
    pub host: String,
    pub digest: Option<[u8; 16]>,
    /// Inclusive ranges; empty = 200..=299.
    pub status: Vec<(u16, u16)>,
    /// `regex` (applied to the whole response, header included, as keepalived).
    pub regex: Option<RegexCheck>,
}

/// A url's `regex`, compiled once when the configuration is turned into checks.
#[derive(Debug, Clone)]
pub struct RegexCheck {
    pub spec: crate::config::model::UrlRegex,
    re: Arc<regex::bytes::Regex>,
}

impl RegexCheck {
    pub fn new(spec: crate::config::model::UrlRegex) -> Result<RegexCheck, regex::Error> {
        let re = Arc::new(spec.compile()?);
        Ok(RegexCheck { spec, re })
    }

    /// Whether the response matches: the leftmost match at or after `regex_min_offset` must
    /// start before `regex_max_offset` (when set).
    pub fn matches(&self, response: &[u8]) -> bool {
        let from = (self.spec.min_offset as usize).min(response.len());
        match self.re.find_at(response, from) {
            Some(m) => self.spec.max_offset == 0 || (m.start() as u64) < self.spec.max_offset,
            None => false,
        }
    }
}

impl PartialEq for RegexCheck {
    fn eq(&self, other: &Self) -> bool {
        self.spec == other.spec
    }
}
impl Eq for RegexCheck {}
impl std::hash::Hash for RegexCheck {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.spec.hash(h)
    }
}

impl UrlSpec {
    pub fn status_ok(&self, code: u16) -> bool {
        if self.status.is_empty() {
            (200..=299).contains(&code)
        } else {
            self.status.iter().any(|&(a, b)| (a..=b).contains(&code))
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TlsSpec {
    /// SNI name; None sends no SNI.
    pub sni: Option<String>,
    /// Verify the server certificate against this CA bundle (PEM); None: no verification,
    /// as keepalived. The chain is always verified; the name in the certificate only when an
    /// SNI name is sent (a certificate rarely names the real server's IP address).
    pub ca_file: Option<PathBuf>,
    /// Client certificate chain and its private key (PEM), presented when the server asks.
    pub client_cert: Option<(PathBuf, PathBuf)>,
}

impl TlsSpec {
    /// SSL_GET's TLS settings from the top-level `SSL` block (None: keepalived's defaults).
    pub fn new(sni: Option<String>, ssl: Option<&crate::config::model::SslContext>) -> TlsSpec {
        TlsSpec {
            sni,
            ca_file: ssl.and_then(|s| s.ca.clone()),
            client_cert: ssl.and_then(|s| Some((s.certificate.clone()?, s.key.clone()?))),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MiscSpec {
    pub argv: Vec<String>,
    pub user: Option<(String, Option<String>)>,
    pub timeout: Duration,
    pub dynamic: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ProbeSpec {
    Tcp(ConnectSpec),
    Http {
        connect: ConnectSpec,
        tls: Option<TlsSpec>,
        proto: HttpProtocol,
        urls: Vec<UrlSpec>,
        max_body: u64,
    },
    Misc(MiscSpec),
    /// SMTP_CHECK: greeting, `HELO helo` and `QUIT` must each get a 2xx reply.
    Smtp {
        connect: ConnectSpec,
        helo: String,
    },
    /// DNS_CHECK: a query over UDP must get a reply with RCODE 0 within `timeout`.
    Dns {
        connect: ConnectSpec,
        qtype: u16,
        name: String,
    },
    /// PING_CHECK: an ICMP echo to `addr` (port unused) must be answered within `timeout`.
    Ping(ConnectSpec),
    /// UDP_CHECK: the datagram goes to `connect.addr` from a socket set up as for TCP.
    Udp {
        connect: ConnectSpec,
        check: crate::config::model::UdpCheck,
    },
}

impl ProbeSpec {
    /// The longest a check may take before the shell abandons it (a safety net: every step
    /// already has its own timeout).
    pub fn budget(&self) -> Duration {
        let slack = Duration::from_millis(500);
        match self {
            ProbeSpec::Tcp(c)
            | ProbeSpec::Ping(c)
            | ProbeSpec::Udp { connect: c, .. }
            | ProbeSpec::Dns { connect: c, .. }
            | ProbeSpec::Smtp { connect: c, .. } => c.timeout * 2 + slack,
            ProbeSpec::Http { connect, urls, .. } => {
                connect.timeout * (2 * urls.len().max(1) as u32) + slack
            }
            ProbeSpec::Misc(m) => m.timeout + Duration::from_secs(2),
        }
    }

    /// What the check targets, for logs: the address it connects to, or the script.
    pub fn target(&self) -> String {
        match self {
            ProbeSpec::Tcp(c) | ProbeSpec::Http { connect: c, .. } => c.addr.to_string(),
            ProbeSpec::Udp { connect: c, .. } => format!("udp:{}", c.addr),
            ProbeSpec::Ping(c) => format!("icmp:{}", c.addr.ip()),
            ProbeSpec::Dns { connect: c, .. } => format!("dns:{}", c.addr),
            ProbeSpec::Smtp { connect: c, .. } => format!("smtp:{}", c.addr),
            ProbeSpec::Misc(m) => m.argv.join(" "),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            ProbeSpec::Tcp(_) => "TCP_CHECK",
            ProbeSpec::Http { tls: None, .. } => "HTTP_GET",
            ProbeSpec::Http { tls: Some(_), .. } => "SSL_GET",
            ProbeSpec::Misc(_) => "MISC_CHECK",
            ProbeSpec::Udp { .. } => "UDP_CHECK",
            ProbeSpec::Ping(_) => "PING_CHECK",
            ProbeSpec::Dns { .. } => "DNS_CHECK",
            ProbeSpec::Smtp { .. } => "SMTP_CHECK",
        }
    }
}

/// The result of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Passed; `weight` is set by a misc_dynamic script (exit code − 2).
    Up {
        weight: Option<u32>,
    },
    Down {
        reason: String,
    },
}

impl Outcome {
    fn down(reason: impl Into<String>) -> Outcome {
        Outcome::Down {
            reason: reason.into(),
        }
    }
}

/// Errors of the checker's local I/O (socket setup, TLS configuration, spawning scripts).
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("socket setup for {addr}: {source}")]
    Socket {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("TLS configuration: {0}")]
    Tls(String),
}

/// Why a check failed (the server's fault, or the network's): a reason to log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("connect to {addr} failed: {msg}")]
    Connect { addr: SocketAddr, msg: String },
    #[error("connect to {addr} timed out after {after:?}")]
    ConnectTimeout { addr: SocketAddr, after: Duration },
    #[error("TLS handshake with {addr} failed: {msg}")]
    Tls { addr: SocketAddr, msg: String },
    #[error(
        "TLS handshake with {addr} failed: server certificate not accepted (CA file {ca}): {msg}"
    )]
    CertNotTrusted {
        addr: SocketAddr,
        ca: String,
        msg: String,
    },
    #[error("sending the request failed: {0}")]
    Send(String),
    #[error("reading the response failed: {0}")]
    Read(String),
    #[error("no complete response within {0:?}")]
    Timeout(Duration),
    #[error(transparent)]
    Http(#[from] http::HttpError),
}

/// Open the check's own socket: SO_MARK, bind address/port, non-blocking connect with timeout.
pub async fn connect(c: &ConnectSpec) -> Result<Result<TcpStream, FetchError>, ProbeError> {
    let (sock, target) = socket(c, Type::STREAM, SockProto::TCP)?;
    let std_stream: std::net::TcpStream = sock.into();
    let ts = TcpSocket::from_std_stream(std_stream);
    Ok(match timeout(c.timeout, ts.connect(target)).await {
        Ok(Ok(s)) => {
            let _ = s.set_nodelay(true);
            Ok(s)
        }
        Ok(Err(e)) => Err(FetchError::Connect {
            addr: c.addr,
            msg: e.to_string(),
        }),
        Err(_) => Err(FetchError::ConnectTimeout {
            addr: c.addr,
            after: c.timeout,
        }),
    })
}

/// The check's socket (SO_MARK, SO_BINDTODEVICE, bind address/port), not connected yet,
/// and the address to connect to (link-local addresses scoped to `bind_if`).
fn socket(c: &ConnectSpec, ty: Type, proto: SockProto) -> Result<(Socket, SocketAddr), ProbeError> {
    let sock_err = |source| ProbeError::Socket {
        addr: c.addr,
        source,
    };
    let sock = Socket::new(
        Domain::for_address(c.addr),
        ty.nonblocking().cloexec(),
        Some(proto),
    )
    .map_err(sock_err)?;
    if let Some(mark) = c.fwmark {
        sock.set_mark(mark).map_err(sock_err)?;
    }
    // bind_if: the device, and the scope of link-local addresses on it.
    let scope = match &c.bind_if {
        Some(dev) => {
            let dev_err = |e: &dyn std::fmt::Display| ProbeError::Socket {
                addr: c.addr,
                source: std::io::Error::other(format!("bind_if {dev}: {e}")),
            };
            sock.bind_device(Some(dev.as_bytes()))
                .map_err(|e| dev_err(&e))?;
            nix::net::if_::if_nametoindex(dev.as_str()).map_err(|e| dev_err(&e))?
        }
        None => 0,
    };
    let scoped = |a: SocketAddr| match a {
        SocketAddr::V6(mut v6) if v6.ip().is_unicast_link_local() && v6.scope_id() == 0 => {
            v6.set_scope_id(scope);
            SocketAddr::V6(v6)
        }
        other => other,
    };
    if c.bind_ip.is_some() || c.bind_port.is_some() {
        let ip = c.bind_ip.unwrap_or(match c.addr {
            SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            SocketAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        });
        if c.bind_port.is_some() {
            sock.set_reuse_address(true).map_err(sock_err)?;
        }
        sock.bind(&scoped(SocketAddr::new(ip, c.bind_port.unwrap_or(0))).into())
            .map_err(sock_err)?;
    }
    Ok((sock, scoped(c.addr)))
}

/// UDP_CHECK: send the payload on a connected socket, then wait up to connect_timeout. An
/// ICMP error (port, host or network unreachable, reported as a socket error) fails the
/// check; a reply passes unless it breaks `require_reply`/lengths; silence passes unless a
/// reply is required (keepalived's semantics).
async fn run_udp(
    c: &ConnectSpec,
    check: &crate::config::model::UdpCheck,
) -> Result<Outcome, ProbeError> {
    let (sock, target) = socket(c, Type::DGRAM, SockProto::UDP)?;
    let std_sock: std::net::UdpSocket = sock.into();
    let udp = tokio::net::UdpSocket::from_std(std_sock).map_err(|source| ProbeError::Socket {
        addr: c.addr,
        source,
    })?;
    if let Err(e) = udp.connect(target).await {
        return Ok(Outcome::down(format!("UDP connect to {}: {e}", c.addr)));
    }
    let payload = match &check.payload {
        Some(p) => p.clone(),
        None => (0..16).map(|_| rand::random::<u8>()).collect(),
    };
    if let Err(e) = udp.send(&payload).await {
        return Ok(Outcome::down(format!("UDP send to {}: {e}", c.addr)));
    }
    let mut buf = vec![0u8; 65536];
    match timeout(c.timeout, udp.recv(&mut buf)).await {
        Err(_) if check.require_reply.is_some() => Ok(Outcome::down(format!(
            "no UDP reply from {} within {:?}",
            c.addr, c.timeout
        ))),
        Err(_) => Ok(Outcome::Up { weight: None }),
        Ok(Err(e)) => Ok(Outcome::down(format!("UDP to {}: {e}", c.addr))),
        Ok(Ok(n)) => Ok(match &check.require_reply {
            None => Outcome::Up { weight: None },
            Some(pattern) => match udp_reply_problem(check, pattern, &buf[..n]) {
                None => Outcome::Up { weight: None },
                Some(why) => Outcome::down(format!("UDP reply from {}: {why}", c.addr)),
            },
        }),
    }
}

/// SMTP_CHECK: the greeting, `HELO` and `QUIT` must each be answered 2xx, all within
/// connect_timeout after the connection is made.
async fn run_smtp(c: &ConnectSpec, helo: &str) -> Result<Outcome, ProbeError> {
    let mut stream = match connect(c).await? {
        Ok(s) => s,
        Err(reason) => return Ok(Outcome::down(reason.to_string())),
    };
    let dialogue = async {
        for (send, what) in [
            (None, "greeting"),
            (Some(format!("HELO {helo}\r\n")), "HELO"),
            (Some("QUIT\r\n".to_string()), "QUIT"),
        ] {
            if let Some(cmd) = send {
                stream
                    .write_all(cmd.as_bytes())
                    .await
                    .map_err(|e| format!("sending {what}: {e}"))?;
            }
            let mut reader = super::smtp::ReplyReader::default();
            let mut buf = [0u8; 512];
            loop {
                let n = stream
                    .read(&mut buf)
                    .await
                    .map_err(|e| format!("reading the {what} reply: {e}"))?;
                if n == 0 {
                    return Err(format!("connection closed before the {what} reply"));
                }
                match reader.feed(&buf[..n]) {
                    super::smtp::Reply::More => continue,
                    super::smtp::Reply::Code(code) if (200..300).contains(&code) => break,
                    super::smtp::Reply::Code(code) => {
                        return Err(format!("{what} answered {code}"));
                    }
                    super::smtp::Reply::Bad(why) => return Err(format!("{what}: {why}")),
                }
            }
        }
        Ok::<(), String>(())
    };
    Ok(match timeout(c.timeout, dialogue).await {
        Ok(Ok(())) => Outcome::Up { weight: None },
        Ok(Err(why)) => Outcome::down(format!("SMTP {}: {why}", c.addr)),
        Err(_) => Outcome::down(format!(
            "SMTP {}: no complete dialogue within {:?}",
            c.addr, c.timeout
        )),
    })
}

/// DNS_CHECK: one query on a connected UDP socket; datagrams that are not our reply are
/// skipped (as keepalived) until the reply or the timeout.
async fn run_dns(c: &ConnectSpec, qtype: u16, name: &str) -> Result<Outcome, ProbeError> {
    let (sock, target) = socket(c, Type::DGRAM, SockProto::UDP)?;
    let std_sock: std::net::UdpSocket = sock.into();
    let udp = tokio::net::UdpSocket::from_std(std_sock).map_err(|source| ProbeError::Socket {
        addr: c.addr,
        source,
    })?;
    if let Err(e) = udp.connect(target).await {
        return Ok(Outcome::down(format!("DNS to {}: {e}", c.addr)));
    }
    let id: u16 = rand::random();
    if let Err(e) = udp.send(&super::dns::query(id, name, qtype)).await {
        return Ok(Outcome::down(format!("DNS to {}: {e}", c.addr)));
    }
    let wait = async {
        let mut buf = vec![0u8; 4096];
        loop {
            let n = udp.recv(&mut buf).await?;
            if let Some(v) = super::dns::verdict(id, &buf[..n]) {
                return Ok::<_, std::io::Error>(v);
            }
        }
    };
    Ok(match timeout(c.timeout, wait).await {
        Ok(Ok(Ok(()))) => Outcome::Up { weight: None },
        Ok(Ok(Err(rcode))) => Outcome::down(format!(
            "DNS reply from {} with RCODE {rcode} for {name}",
            c.addr
        )),
        Ok(Err(e)) => Outcome::down(format!("DNS to {}: {e}", c.addr)),
        Err(_) => Outcome::down(format!(
            "no DNS reply from {} within {:?}",
            c.addr, c.timeout
        )),
    })
}

/// PING_CHECK: one ICMP echo request on a raw socket (connected, so only the real server's
/// packets arrive); up when the matching echo reply arrives within connect_timeout.
async fn run_ping(c: &ConnectSpec) -> Result<Outcome, ProbeError> {
    let v6 = c.addr.is_ipv6();
    let proto = if v6 {
        SockProto::ICMPV6
    } else {
        SockProto::ICMPV4
    };
    let (sock, target) = socket(c, Type::RAW, proto)?;
    // SAFETY: the AsyncFd owns the socket (and its fd) for the rest of this check.
    let fd =
        unsafe { tokio::io::unix::AsyncFd::register(sock) }.map_err(|e| ProbeError::Socket {
            addr: c.addr,
            source: std::io::Error::other(e.to_string()),
        })?;
    if let Err(e) = fd.get_ref().connect(&target.into()) {
        return Ok(Outcome::down(format!("ICMP to {}: {e}", c.addr.ip())));
    }
    let id: u16 = rand::random();
    let seq: u16 = 1;
    let request = super::icmp::echo_request(v6, id, seq, b"rampart PING_CHECK");
    if let Err(e) = fd.get_ref().send(&request) {
        return Ok(Outcome::down(format!("ICMP to {}: {e}", c.addr.ip())));
    }
    let wait = async {
        let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 2048];
        loop {
            let mut guard = fd.readable().await?;
            match guard.try_io(|s| s.get_ref().recv(&mut buf)) {
                Ok(Ok(n)) => {
                    // SAFETY: recv initialised the first n bytes.
                    let got: Vec<u8> = buf[..n]
                        .iter()
                        .map(|b| unsafe { b.assume_init() })
                        .collect();
                    if super::icmp::echo_reply(v6, &got) == Some((id, seq)) {
                        return Ok::<(), std::io::Error>(());
                    }
                }
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
    };
    Ok(match timeout(c.timeout, wait).await {
        Ok(Ok(())) => Outcome::Up { weight: None },
        Ok(Err(e)) => Outcome::down(format!("ICMP to {}: {e}", c.addr.ip())),
        Err(_) => Outcome::down(format!(
            "no ICMP echo reply from {} within {:?}",
            c.addr.ip(),
            c.timeout
        )),
    })
}

/// Why a UDP reply does not satisfy `require_reply` (pure).
pub fn udp_reply_problem(
    check: &crate::config::model::UdpCheck,
    pattern: &[crate::config::model::HexNibbles],
    reply: &[u8],
) -> Option<String> {
    let n = reply.len() as u64;
    if n < check.min_reply_length as u64 || n > check.max_reply_length as u64 {
        return Some(format!(
            "{n} bytes, outside min_reply_length {}..max_reply_length {}",
            check.min_reply_length, check.max_reply_length
        ));
    }
    // Compared up to the shorter of the reply and the pattern.
    for (i, (b, p)) in reply.iter().zip(pattern).enumerate() {
        if b & p.mask != p.value & p.mask {
            return Some(format!(
                "byte {i} is {b:#04x}, require_reply wants {:#04x} (mask {:#04x})",
                p.value, p.mask
            ));
        }
    }
    None
}

/// Run one check to completion.
pub async fn run(spec: &ProbeSpec) -> Outcome {
    let r = match spec {
        ProbeSpec::Tcp(c) => match connect(c).await {
            Ok(Ok(_)) => Ok(Outcome::Up { weight: None }),
            Ok(Err(reason)) => Ok(Outcome::down(reason.to_string())),
            Err(e) => Err(e),
        },
        ProbeSpec::Http {
            connect: c,
            tls,
            proto,
            urls,
            max_body,
        } => run_http(c, tls.as_ref(), *proto, urls, *max_body).await,
        ProbeSpec::Misc(m) => Ok(super::misc::run(m).await),
        ProbeSpec::Udp { connect: c, check } => run_udp(c, check).await,
        ProbeSpec::Ping(c) => run_ping(c).await,
        ProbeSpec::Dns {
            connect: c,
            qtype,
            name,
        } => run_dns(c, *qtype, name).await,
        ProbeSpec::Smtp { connect: c, helo } => run_smtp(c, helo).await,
    };
    r.unwrap_or_else(|e| {
        tracing::error!(target: "check", "{} check cannot run: {e}", spec.kind());
        Outcome::down(format!("local error: {e}"))
    })
}

async fn run_http(
    c: &ConnectSpec,
    tls: Option<&TlsSpec>,
    proto: HttpProtocol,
    urls: &[UrlSpec],
    max_body: u64,
) -> Result<Outcome, ProbeError> {
    for url in urls {
        let (resp, raw) = match fetch(c, tls, proto, url, max_body, false, false).await? {
            Ok(f) => (f.response, f.raw),
            Err(reason) => return Ok(Outcome::down(format!("{}: {reason}", url.path))),
        };
        match resp.status {
            Some(code) if url.status_ok(code) => {}
            Some(code) => {
                return Ok(Outcome::down(format!(
                    "{}: HTTP status {code} not accepted",
                    url.path
                )));
            }
            None => {
                return Ok(Outcome::down(format!(
                    "{}: malformed HTTP status line",
                    url.path
                )));
            }
        }
        if let Some(want) = url.digest {
            if want != resp.digest {
                return Ok(Outcome::down(format!(
                    "{}: MD5 digest {} differs from the expected {}",
                    url.path,
                    hex::encode(resp.digest),
                    hex::encode(want)
                )));
            }
        }
        if let Some(r) = &url.regex {
            if r.matches(&raw) == r.spec.no_match {
                return Ok(Outcome::down(format!(
                    "{}: regex {:?} {}",
                    url.path,
                    r.spec.pattern,
                    if r.spec.no_match {
                        "matched (regex_no_match)"
                    } else {
                        "did not match"
                    }
                )));
            }
        }
    }
    Ok(Outcome::Up { weight: None })
}

/// A response as read by [`fetch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub response: http::Response,
    /// The hashed body bytes, one entry per read (with `keep_body`, for genhash -v).
    pub body: Vec<Vec<u8>>,
    /// `to_eof` only: the server sent a response but did not close the connection within
    /// the timeout (genhash then says "Timeout HTTP read" instead of a digest).
    pub timed_out: bool,
    /// The response bytes as received, header included (only for a url with `regex`;
    /// bounded by max_body plus the header limit).
    pub raw: Vec<u8>,
}

/// Connect, send keepalived's request for `url` and read the response.
/// Outer error: local problem; inner error: the server's fault (a reason to log).
/// With `keep_body` the hashed body bytes are returned too (genhash -v). With `to_eof` the
/// connection is read until the server closes it even past Content-Length (genhash 2.2.7
/// does; a checker stops at Content-Length so that keep-alive servers do not cost it a
/// timeout).
pub async fn fetch(
    c: &ConnectSpec,
    tls: Option<&TlsSpec>,
    proto: HttpProtocol,
    url: &UrlSpec,
    max_body: u64,
    keep_body: bool,
    to_eof: bool,
) -> Result<Result<Fetched, FetchError>, ProbeError> {
    let stream = match connect(c).await? {
        Ok(s) => s,
        Err(reason) => return Ok(Err(reason)),
    };
    let req = http::build_request(&url.path, &url.host, proto);
    let mut reader = ResponseReader::new(max_body);
    if keep_body {
        reader = reader.keep_body();
    }
    // to_eof: reads stop at this deadline and return what arrived; the outer timeout is a
    // backstop for the handshake.
    let deadline = to_eof.then(|| (tokio::time::Instant::now() + c.timeout, c.timeout));
    let outer = if to_eof {
        c.timeout + Duration::from_secs(1)
    } else {
        c.timeout
    };
    let keep_raw = url
        .regex
        .as_ref()
        .map(|_| max_body.saturating_add(http::MAX_HEADER as u64));
    let exchange = async {
        match tls {
            None => exchange(stream, &req, reader, deadline, keep_raw).await,
            Some(t) => {
                let config = tls_config(t)?;
                let name = match &t.sni {
                    Some(n) => rustls::pki_types::ServerName::try_from(n.clone())
                        .map_err(|e| ProbeError::Tls(format!("bad SNI name {n:?}: {e}")))?,
                    None => rustls::pki_types::ServerName::IpAddress(c.addr.ip().into()),
                };
                let connector = tokio_rustls::TlsConnector::from(config);
                match connector.connect(name, stream).await {
                    Ok(s) => exchange(s, &req, reader, deadline, keep_raw).await,
                    Err(e) => {
                        let cert_error = e
                            .get_ref()
                            .and_then(|x| x.downcast_ref::<rustls::Error>())
                            .is_some_and(|x| matches!(x, rustls::Error::InvalidCertificate(_)));
                        Ok(Err(match (&t.ca_file, cert_error) {
                            (Some(ca), true) => FetchError::CertNotTrusted {
                                addr: c.addr,
                                ca: ca.display().to_string(),
                                msg: e.to_string(),
                            },
                            _ => FetchError::Tls {
                                addr: c.addr,
                                msg: e.to_string(),
                            },
                        }))
                    }
                }
            }
        }
    };
    match timeout(outer, exchange).await {
        Ok(r) => r,
        Err(_) => Ok(Err(FetchError::Timeout(c.timeout))),
    }
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    req: &[u8],
    mut reader: ResponseReader,
    deadline: Option<(tokio::time::Instant, Duration)>,
    keep_raw: Option<u64>,
) -> Result<Result<Fetched, FetchError>, ProbeError> {
    let mut raw = Vec::new();
    if let Err(e) = s.write_all(req).await {
        return Ok(Err(FetchError::Send(e.to_string())));
    }
    // genhash -v dumps every read separately; keepalived reads at most 4095 bytes at a time
    // (a 4 KiB buffer kept NUL-terminated; observed with genhash 2.2.7).
    // 4 KiB per in-flight check keeps memory small with thousands of checks in flight.
    let mut buf = vec![0u8; if reader.keeps_body() { 4095 } else { 4096 }];
    let mut timed_out = false;
    loop {
        let read = match deadline {
            None => s.read(&mut buf).await,
            Some((d, total)) => match tokio::time::timeout_at(d, s.read(&mut buf)).await {
                Ok(r) => r,
                Err(_) if reader.has_header() => {
                    timed_out = true;
                    break;
                }
                Err(_) => return Ok(Err(FetchError::Timeout(total))),
            },
        };
        match read {
            Ok(0) => break,
            Ok(n) => {
                if let Some(limit) = keep_raw {
                    let room = (limit as usize).saturating_sub(raw.len()).min(n);
                    raw.extend_from_slice(&buf[..room]);
                }
                match reader.feed(&buf[..n]) {
                    Ok(Progress::More) => {}
                    Ok(Progress::Done) if deadline.is_none() => break,
                    Ok(Progress::Done) => {}
                    Err(e) => return Ok(Err(e.into())),
                }
            }
            // A TLS peer closing without close_notify still ends the body (as keepalived).
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Ok(Err(FetchError::Read(e.to_string()))),
        }
    }
    let body = reader.body_chunks().to_vec();
    Ok(reader
        .finish()
        .map(|response| Fetched {
            response,
            body,
            timed_out,
            raw,
        })
        .map_err(FetchError::from))
}

/// Accepts any certificate: keepalived's SSL_GET does not verify unless a CA is configured.
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Verifies the chain against the configured CA, accepting any name in the certificate (used
/// when no SNI name is configured: the check connects to an IP address).
#[derive(Debug)]
struct ChainOnly(Arc<rustls::client::WebPkiServerVerifier>);

impl rustls::client::danger::ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        intermediates: &[rustls::pki_types::CertificateDer<'_>],
        server_name: &rustls::pki_types::ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        use rustls::CertificateError::{NotValidForName, NotValidForNameContext};
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                NotValidForName | NotValidForNameContext { .. },
            )) => Ok(rustls::client::danger::ServerCertVerified::assertion()),
            r => r,
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// The files a TLS configuration was built from, with their modification times: a changed
/// file (a renewed certificate) gives a new configuration at the next check.
type TlsKey = (bool, Vec<(PathBuf, Option<std::time::SystemTime>)>);

fn tls_config(t: &TlsSpec) -> Result<Arc<rustls::ClientConfig>, ProbeError> {
    static NO_VERIFY: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    static BUILT: OnceLock<std::sync::Mutex<HashMap<TlsKey, Arc<rustls::ClientConfig>>>> =
        OnceLock::new();
    if t.ca_file.is_none() && t.client_cert.is_none() {
        if let Some(c) = NO_VERIFY.get() {
            return Ok(c.clone());
        }
        let c = build_tls_config(t)?;
        return Ok(NO_VERIFY.get_or_init(|| c).clone());
    }
    let files = t
        .ca_file
        .iter()
        .chain(t.client_cert.iter().flat_map(|(c, k)| [c, k]));
    let key: TlsKey = (
        t.sni.is_some(),
        files
            .map(|p| {
                let mtime = std::fs::metadata(p).and_then(|m| m.modified()).ok();
                (p.clone(), mtime)
            })
            .collect(),
    );
    let cache = BUILT.get_or_init(Default::default);
    if let Some(c) = cache.lock().ok().and_then(|m| m.get(&key).cloned()) {
        return Ok(c);
    }
    let c = build_tls_config(t)?;
    if let Ok(mut m) = cache.lock() {
        // Old entries (replaced files) are dropped; there are few distinct contexts.
        m.retain(|k, _| k.0 != key.0 || k.1.iter().zip(&key.1).all(|(a, b)| a.0 != b.0));
        m.insert(key, c.clone());
    }
    Ok(c)
}

fn build_tls_config(t: &TlsSpec) -> Result<Arc<rustls::ClientConfig>, ProbeError> {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| ProbeError::Tls(e.to_string()))?;
    let file_err = |what: &str, path: &std::path::Path, e: &dyn std::fmt::Display| {
        ProbeError::Tls(format!("SSL {what} file {}: {e}", path.display()))
    };
    let builder = match &t.ca_file {
        None => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider.clone()))),
        Some(path) => {
            let mut roots = rustls::RootCertStore::empty();
            let certs =
                CertificateDer::pem_file_iter(path).map_err(|e| file_err("ca", path, &e))?;
            for cert in certs {
                let cert = cert.map_err(|e| file_err("ca", path, &e))?;
                roots.add(cert).map_err(|e| file_err("ca", path, &e))?;
            }
            if roots.is_empty() {
                return Err(file_err("ca", path, &"no PEM certificate in it"));
            }
            let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots),
                provider.clone(),
            )
            .build()
            .map_err(|e| file_err("ca", path, &e))?;
            if t.sni.is_some() {
                builder.with_webpki_verifier(webpki)
            } else {
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(ChainOnly(webpki)))
            }
        }
    };
    let config = match &t.client_cert {
        None => builder.with_no_client_auth(),
        Some((cert_path, key_path)) => {
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_path)
                .map_err(|e| file_err("certificate", cert_path, &e))?
                .collect::<Result<_, _>>()
                .map_err(|e| file_err("certificate", cert_path, &e))?;
            if chain.is_empty() {
                return Err(file_err(
                    "certificate",
                    cert_path,
                    &"no PEM certificate in it",
                ));
            }
            let key = PrivateKeyDer::from_pem_file(key_path).map_err(|e| {
                file_err(
                    "key",
                    key_path,
                    &format!(
                        "{e} (encrypted keys are not supported: decrypt it with `openssl pkey`)"
                    ),
                )
            })?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| file_err("certificate/key", cert_path, &e))?
        }
    };
    Ok(Arc::new(config))
}
