//! The IPVS netlink client: one socket, the "IPVS" family resolved once, full-table reads by
//! dump, and mutations pipelined (many requests per `sendmsg`, every ACK matched to its request
//! by sequence number).
//!
//! Reads: services come from one `GET_SERVICE` dump. Destinations cannot be dumped for the
//! whole table: the kernel's `GET_DEST` dump takes exactly one service (`ip_vs_genl_dump_dests`
//! refuses a request without `IPVS_CMD_ATTR_SERVICE`), so a full read is one service dump plus
//! one destination dump per service, all on the same socket with no family lookup in between
//! (ipvsadm opens a socket and resolves the family again for every one of them). A netlink socket
//! runs one dump at a time (a second dump request while one is running gets EBUSY), so the
//! per-service dumps run one after another on the one socket: each costs one `sendmsg` and two
//! `recvmsg` (the data, then NLMSG_DONE, which the kernel only produces once the data is read).
//!
//! The socket lives behind [`Transport`] so tests can assert the frames sent and replay golden
//! replies.

use super::codec::{
    Cmd, DestAttrs, IpvsMessage, Reply, ServiceAttrs, decode_datagram, encode_request,
    encode_request_into,
};
use super::consts::IPVS_GENL_NAME;
use netlink_packet_core::{
    DecodeError, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage,
    NetlinkPayload,
};
use netlink_packet_generic::GenlMessage;
use netlink_packet_generic::ctrl::nlas::GenlCtrlAttrs;
use netlink_packet_generic::ctrl::{GenlCtrl, GenlCtrlCmd};
use std::io;
use std::os::fd::AsRawFd;

/// Errors of the IPVS client.
#[derive(Debug, thiserror::Error)]
pub enum IpvsError {
    #[error(
        "this kernel has no IPVS (CONFIG_IP_VS): the generic netlink family \"IPVS\" is not \
         registered and `modprobe ip_vs` did not load it"
    )]
    NoIpvs,
    #[error("netlink I/O failed while {context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error("undecodable netlink reply while {context}: {source}")]
    Decode {
        context: String,
        #[source]
        source: DecodeError,
    },
    #[error("the kernel refused {context}: {}", io::Error::from_raw_os_error(*errno))]
    Kernel { context: String, errno: i32 },
    #[error("unexpected netlink reply while {0}")]
    Protocol(String),
}

impl IpvsError {
    /// The kernel's errno if the kernel refused the request.
    pub fn errno(&self) -> Option<i32> {
        match self {
            IpvsError::Kernel { errno, .. } => Some(*errno),
            _ => None,
        }
    }
}

/// A datagram socket speaking netlink: real (`NetlinkTransport`) or a test fake.
pub trait Transport {
    /// Send one datagram holding one or more netlink messages.
    fn send(&mut self, datagram: &[u8]) -> io::Result<()>;
    /// Receive one datagram into `out` (cleared first).
    fn recv(&mut self, out: &mut Vec<u8>) -> io::Result<()>;
    /// Receive at least one datagram, and whatever more is already queued, each as its own
    /// buffer appended to `out` (ACKs of a pipelined batch arrive one datagram each).
    fn recv_many(&mut self, out: &mut Vec<Vec<u8>>) -> io::Result<()> {
        let mut b = Vec::new();
        self.recv(&mut b)?;
        out.push(b);
        Ok(())
    }
    /// How many acknowledged requests may be sent in one datagram without the replies
    /// overflowing the receive buffer.
    fn batch_limit(&self) -> usize {
        256
    }
}

const RECV_CAPACITY: usize = 1 << 20;
/// The kernel refuses a netlink datagram larger than the socket's send buffer; stay well below
/// the default 208 KiB.
const MAX_BATCH_BYTES: usize = 96 * 1024;
/// Receive buffer asked for (SO_RCVBUFFORCE as root, else capped by rmem_max).
const WANT_RCVBUF: usize = 8 << 20;
/// Seconds a read may wait for the kernel before the request is reported as failed.
const RECV_TIMEOUT_SECS: libc::time_t = 30;
/// Kernel memory charged per queued ACK skb (truesize), rounded up.
const ACK_TRUESIZE: usize = 1280;

/// Datagrams taken per `recvmmsg` call, and the room for each (an ACK is 36 bytes; an error
/// with an extended-ACK message a few hundred).
const MMSG_SLOTS: usize = 64;
const MMSG_SLOT_BYTES: usize = 8192;

/// The real thing: a NETLINK_GENERIC socket.
pub struct NetlinkTransport {
    socket: netlink_sys::Socket,
    batch_limit: usize,
    mmsg_buf: Vec<u8>,
}

impl NetlinkTransport {
    pub fn open() -> io::Result<NetlinkTransport> {
        let mut socket = netlink_sys::Socket::new(netlink_sys::protocols::NETLINK_GENERIC)?;
        socket.bind_auto()?;
        socket.connect(&netlink_sys::SocketAddr::new(0, 0))?;
        // ACKs carry only the request header, not the whole request.
        let _ = socket.set_cap_ack(true);
        let _ = socket.set_ext_ack(true);
        let size = WANT_RCVBUF as libc::c_int;
        // SAFETY: setsockopt with a valid fd and a pointer to a live c_int of the given size.
        let forced = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUFFORCE,
                &size as *const libc::c_int as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        } == 0;
        if !forced {
            let _ = socket.set_rx_buf_sz(WANT_RCVBUF);
        }
        // A kernel that never answers must not hang rampart: give up on a read after a while.
        let timeout = libc::timeval {
            tv_sec: RECV_TIMEOUT_SECS,
            tv_usec: 0,
        };
        // SAFETY: setsockopt with a valid fd and a pointer to a live timeval of the given size.
        unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                &timeout as *const libc::timeval as *const libc::c_void,
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            );
        }
        let rcvbuf = socket.get_rx_buf_sz().unwrap_or(212_992);
        let batch_limit = (rcvbuf / 2 / ACK_TRUESIZE).clamp(16, 4096);
        Ok(NetlinkTransport {
            socket,
            batch_limit,
            mmsg_buf: Vec::new(),
        })
    }
}

impl Transport for NetlinkTransport {
    fn send(&mut self, datagram: &[u8]) -> io::Result<()> {
        let n = self.socket.send(datagram, 0)?;
        if n != datagram.len() {
            return Err(io::Error::other(format!(
                "short netlink send: {n} of {} bytes",
                datagram.len()
            )));
        }
        Ok(())
    }
    fn recv(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        out.clear();
        out.reserve(RECV_CAPACITY);
        self.socket.recv(out, 0)?;
        Ok(())
    }
    /// One `recvmmsg` (MSG_WAITFORONE: block for the first, take what else is queued) instead
    /// of a `recv` per ACK.
    fn recv_many(&mut self, out: &mut Vec<Vec<u8>>) -> io::Result<()> {
        self.mmsg_buf.resize(MMSG_SLOTS * MMSG_SLOT_BYTES, 0);
        let base = self.mmsg_buf.as_mut_ptr();
        // SAFETY: all-zero iovec/mmsghdr are valid empty values; each iovec points into
        // `mmsg_buf` at a distinct, in-bounds slot of MMSG_SLOT_BYTES, and the arrays outlive
        // the call.
        let mut iov: [libc::iovec; MMSG_SLOTS] = unsafe { std::mem::zeroed() };
        let mut hdrs: [libc::mmsghdr; MMSG_SLOTS] = unsafe { std::mem::zeroed() };
        for i in 0..MMSG_SLOTS {
            iov[i] = libc::iovec {
                // SAFETY: i * MMSG_SLOT_BYTES < mmsg_buf.len().
                iov_base: unsafe { base.add(i * MMSG_SLOT_BYTES) } as *mut libc::c_void,
                iov_len: MMSG_SLOT_BYTES,
            };
            hdrs[i].msg_hdr.msg_iov = &mut iov[i];
            hdrs[i].msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: valid fd, MMSG_SLOTS initialised headers, no timeout pointer.
        let n = unsafe {
            libc::recvmmsg(
                self.socket.as_raw_fd(),
                hdrs.as_mut_ptr(),
                MMSG_SLOTS as libc::c_uint,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        for (i, h) in hdrs.iter().take(n as usize).enumerate() {
            if h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0 {
                return Err(io::Error::other(format!(
                    "a netlink reply did not fit in {MMSG_SLOT_BYTES} bytes"
                )));
            }
            let start = i * MMSG_SLOT_BYTES;
            let len = (h.msg_len as usize).min(MMSG_SLOT_BYTES);
            out.push(self.mmsg_buf[start..start + len].to_vec());
        }
        Ok(())
    }
    fn batch_limit(&self) -> usize {
        self.batch_limit
    }
}

/// Outcome of one request in a pipelined batch: Ok, or the kernel's errno.
pub type OpResult = Result<(), i32>;

/// The IPVS client over any transport.
pub struct Client<T: Transport = NetlinkTransport> {
    transport: T,
    family: u16,
    seq: u32,
    rx: Vec<u8>,
}

impl Client<NetlinkTransport> {
    /// Open a socket and resolve the "IPVS" family; if the family is missing try
    /// `modprobe ip_vs` once, then fail with [`IpvsError::NoIpvs`].
    pub fn connect() -> Result<Self, IpvsError> {
        let open = || {
            NetlinkTransport::open().map_err(|e| IpvsError::Io {
                context: "opening a NETLINK_GENERIC socket".into(),
                source: e,
            })
        };
        match Client::with_transport(open()?) {
            Err(IpvsError::NoIpvs) => {
                let loaded = std::process::Command::new("modprobe")
                    .args(["-q", "ip_vs"])
                    .stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .status()
                    .map(|s| s.success())
                    .unwrap_or(false);
                if !loaded {
                    return Err(IpvsError::NoIpvs);
                }
                Client::with_transport(open()?)
            }
            other => other,
        }
    }
}

impl<T: Transport> Client<T> {
    /// Resolve the family over `transport` (CTRL_CMD_GETFAMILY "IPVS").
    pub fn with_transport(mut transport: T) -> Result<Self, IpvsError> {
        let family = resolve_family(&mut transport)?;
        Ok(Client {
            transport,
            family,
            seq: 1,
            rx: Vec::new(),
        })
    }

    pub fn family_id(&self) -> u16 {
        self.family
    }

    pub fn transport(&self) -> &T {
        &self.transport
    }

    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.transport
    }

    fn next_seq(&mut self) -> u32 {
        let s = self.seq;
        self.seq = self.seq.wrapping_add(1).max(1);
        s
    }

    fn io(context: &str, e: io::Error) -> IpvsError {
        IpvsError::Io {
            context: context.into(),
            source: e,
        }
    }

    /// One request whose answer is data messages: a dump (`dump = true`, ends with DONE) or a
    /// GET with an ACK after the reply.
    pub fn query(&mut self, msg: &IpvsMessage, dump: bool) -> Result<Vec<IpvsMessage>, IpvsError> {
        let context = || format!("{:?}", msg.cmd);
        let seq = self.next_seq();
        let flags = if dump {
            NLM_F_REQUEST | NLM_F_DUMP
        } else {
            NLM_F_REQUEST | NLM_F_ACK
        };
        let frame = encode_request(self.family, flags, seq, msg);
        self.transport
            .send(&frame)
            .map_err(|e| Self::io(&context(), e))?;
        let mut out = Vec::new();
        loop {
            let mut rx = std::mem::take(&mut self.rx);
            self.transport
                .recv(&mut rx)
                .map_err(|e| Self::io(&context(), e))?;
            let replies = decode_datagram(&rx);
            self.rx = rx;
            for r in replies {
                match r.map_err(|e| IpvsError::Decode {
                    context: context(),
                    source: e,
                })? {
                    Reply::Data { seq: s, msg } if s == seq => out.push(msg),
                    Reply::Ack { seq: s, errno } if s == seq => {
                        if errno != 0 {
                            return Err(IpvsError::Kernel {
                                context: context(),
                                errno: -errno,
                            });
                        }
                        return Ok(out);
                    }
                    Reply::Done { seq: s, errno } if s == seq => {
                        if errno < 0 {
                            return Err(IpvsError::Kernel {
                                context: context(),
                                errno: -errno,
                            });
                        }
                        return Ok(out);
                    }
                    // Late replies to other requests are not ours.
                    _ => {}
                }
            }
        }
    }

    /// Send every request, many per datagram, and report each one's outcome. One failure does
    /// not stop the others; the result vector has one entry per request, in order.
    ///
    /// Only the last request of each datagram asks for an ACK (NLM_F_ACK). The kernel handles
    /// the requests of a datagram in order inside the `sendmsg` and answers a request without
    /// NLM_F_ACK only when it fails (`netlink_rcv_skb` acks when `NLM_F_ACK || err`), with an
    /// NLMSG_ERROR carrying that request's sequence number. So when the last request's ACK (or
    /// error) arrives, every failure of the batch has arrived before it, and a request with no
    /// reply succeeded: every failure is still reported per operation, while the kernel builds
    /// and queues one ACK per datagram instead of one per request. The batch size stays below
    /// what the receive buffer can hold if every request of it fails.
    pub fn execute(&mut self, msgs: &[IpvsMessage]) -> Result<Vec<OpResult>, IpvsError> {
        let n = msgs.len();
        let mut results: Vec<Option<OpResult>> = vec![None; n];
        let limit = self.transport.batch_limit().max(1);
        let mut next = 0usize;
        let mut buf = Vec::with_capacity(MAX_BATCH_BYTES + 4096);
        let mut batch: Vec<u32> = Vec::new();
        let mut datagrams: Vec<Vec<u8>> = Vec::new();
        while next < n {
            // One batch: as many requests as fit, the last one acknowledged.
            buf.clear();
            batch.clear();
            let first = next;
            let mut last_start = 0;
            while next < n && batch.len() < limit && buf.len() < MAX_BATCH_BYTES {
                let seq = self.next_seq();
                last_start = buf.len();
                encode_request_into(&mut buf, self.family, NLM_F_REQUEST, seq, &msgs[next]);
                batch.push(seq);
                next += 1;
            }
            // nlmsg_flags sits at bytes 6..8 of the netlink header.
            buf[last_start + 6..last_start + 8]
                .copy_from_slice(&(NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
            let barrier = *batch.last().unwrap_or(&0);
            self.transport
                .send(&buf)
                .map_err(|e| Self::io("sending a batch of IPVS requests", e))?;
            let mut done = false;
            while !done {
                datagrams.clear();
                self.transport
                    .recv_many(&mut datagrams)
                    .map_err(|e| Self::io("reading IPVS acknowledgements", e))?;
                for r in datagrams.iter().flat_map(|d| decode_datagram(d)) {
                    let r = r.map_err(|e| IpvsError::Decode {
                        context: "reading IPVS acknowledgements".into(),
                        source: e,
                    })?;
                    if let Reply::Ack { seq, errno } = r {
                        if let Some(k) = batch.iter().position(|s| *s == seq) {
                            let slot = &mut results[first + k];
                            if slot.is_none() {
                                *slot = Some(if errno == 0 { Ok(()) } else { Err(-errno) });
                            }
                        }
                        if seq == barrier {
                            done = true;
                        }
                    }
                }
            }
            // No reply before the barrier's: success.
            for slot in &mut results[first..next] {
                slot.get_or_insert(Ok(()));
            }
        }
        Ok(results
            .into_iter()
            .map(|r| r.unwrap_or(Err(libc::EIO)))
            .collect())
    }

    /// One acknowledged request; the kernel's refusal becomes [`IpvsError::Kernel`].
    pub fn execute_one(&mut self, msg: &IpvsMessage) -> Result<(), IpvsError> {
        let r = self.execute(std::slice::from_ref(msg))?;
        match r.first() {
            Some(Ok(())) => Ok(()),
            Some(Err(errno)) => Err(IpvsError::Kernel {
                context: format!("{:?}", msg.cmd),
                errno: *errno,
            }),
            None => Err(IpvsError::Protocol("no result for a request".into())),
        }
    }

    /// `GET_INFO`: (version code, connection table size).
    pub fn info(&mut self) -> Result<(u32, u32), IpvsError> {
        let replies = self.query(&IpvsMessage::new(Cmd::GetInfo), false)?;
        let m = replies
            .first()
            .ok_or_else(|| IpvsError::Protocol("GET_INFO returned nothing".into()))?;
        Ok((
            m.info_version.unwrap_or(0),
            m.info_conn_tab_size.unwrap_or(0),
        ))
    }

    /// All services (one dump).
    pub fn services(&mut self) -> Result<Vec<ServiceAttrs>, IpvsError> {
        Ok(self
            .query(&IpvsMessage::new(Cmd::GetService), true)?
            .into_iter()
            .filter_map(|m| m.service)
            .collect())
    }

    /// One service by key (non-dump GET_SERVICE); `svc` needs af + fwmark or protocol/addr/port.
    pub fn service(&mut self, svc: &ServiceAttrs) -> Result<Option<ServiceAttrs>, IpvsError> {
        let msg = IpvsMessage::new(Cmd::GetService).with_service(key_only(svc));
        Ok(self.query(&msg, false)?.into_iter().find_map(|m| m.service))
    }

    /// The destinations of one service (one dump).
    pub fn dests(&mut self, svc: &ServiceAttrs) -> Result<Vec<DestAttrs>, IpvsError> {
        let msg = IpvsMessage::new(Cmd::GetDest).with_service(key_only(svc));
        Ok(self
            .query(&msg, true)?
            .into_iter()
            .filter_map(|m| m.dest)
            .collect())
    }

    /// The whole table: services and their destinations.
    pub fn table(&mut self) -> Result<Vec<(ServiceAttrs, Vec<DestAttrs>)>, IpvsError> {
        let services = self.services()?;
        let mut out = Vec::with_capacity(services.len());
        for s in services {
            let d = self.dests(&s)?;
            out.push((s, d));
        }
        Ok(out)
    }

    /// `GET_CONFIG`: (tcp, tcpfin, udp) timeouts in seconds.
    pub fn timeouts(&mut self) -> Result<(u32, u32, u32), IpvsError> {
        let replies = self.query(&IpvsMessage::new(Cmd::GetConfig), false)?;
        let m = replies
            .first()
            .ok_or_else(|| IpvsError::Protocol("GET_CONFIG returned nothing".into()))?;
        Ok((
            m.timeout_tcp.unwrap_or(0),
            m.timeout_tcp_fin.unwrap_or(0),
            m.timeout_udp.unwrap_or(0),
        ))
    }

    /// `GET_DAEMON` dump: the running sync daemons (master and/or backup).
    pub fn daemons(&mut self) -> Result<Vec<super::codec::DaemonAttrs>, IpvsError> {
        Ok(self
            .query(&IpvsMessage::new(Cmd::GetDaemon), true)?
            .into_iter()
            .filter_map(|m| m.daemon)
            .collect())
    }
}

/// The identifying attributes of a service (what GET/DEL and the destination commands need).
pub fn key_only(svc: &ServiceAttrs) -> ServiceAttrs {
    let mut k = ServiceAttrs {
        af: svc.af,
        ..Default::default()
    };
    if let Some(m) = svc.fwmark.filter(|m| *m != 0) {
        k.fwmark = Some(m);
    } else {
        k.protocol = svc.protocol;
        k.addr = svc.addr;
        k.port = svc.port;
    }
    k
}

type CtrlFrame = NetlinkMessage<GenlMessage<GenlCtrl>>;

fn resolve_family<T: Transport>(t: &mut T) -> Result<u16, IpvsError> {
    let context = "resolving the generic netlink family \"IPVS\"";
    let mut genl = GenlMessage::from_payload(GenlCtrl {
        cmd: GenlCtrlCmd::GetFamily,
        nlas: vec![GenlCtrlAttrs::FamilyName(IPVS_GENL_NAME.to_string())],
    });
    genl.finalize();
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_ACK;
    header.sequence_number = 0;
    let mut frame = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(genl));
    frame.finalize();
    let mut buf = vec![0u8; frame.buffer_len()];
    frame.serialize(&mut buf);
    t.send(&buf).map_err(|e| IpvsError::Io {
        context: context.into(),
        source: e,
    })?;
    let mut family = None;
    let mut rx = Vec::new();
    loop {
        t.recv(&mut rx).map_err(|e| IpvsError::Io {
            context: context.into(),
            source: e,
        })?;
        let mut pos = 0usize;
        while pos + 16 <= rx.len() {
            let len = u32::from_ne_bytes([rx[pos], rx[pos + 1], rx[pos + 2], rx[pos + 3]]) as usize;
            if len < 16 || pos + len > rx.len() {
                return Err(IpvsError::Protocol(context.into()));
            }
            let f = CtrlFrame::deserialize(&rx[pos..pos + len]).map_err(|e| IpvsError::Decode {
                context: context.into(),
                source: e,
            })?;
            pos += (len + 3) & !3;
            match f.payload {
                NetlinkPayload::InnerMessage(g) => {
                    for a in g.payload.nlas {
                        if let GenlCtrlAttrs::FamilyId(id) = a {
                            family = Some(id);
                        }
                    }
                }
                NetlinkPayload::Error(e) => {
                    let code = e.raw_code();
                    if code == 0 {
                        return family.ok_or_else(|| IpvsError::Protocol(context.into()));
                    }
                    if -code == libc::ENOENT {
                        return Err(IpvsError::NoIpvs);
                    }
                    return Err(IpvsError::Kernel {
                        context: context.into(),
                        errno: -code,
                    });
                }
                _ => {}
            }
        }
    }
}
