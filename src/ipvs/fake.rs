//! An in-memory stand-in for the kernel's IPVS netlink interface, behind [`Transport`], for
//! tests here and in other modules (this machine's kernel has no IPVS).
//!
//! It decodes every request frame, records it (command and netlink flags) so tests can assert
//! what was sent, applies it to its own table with the kernel's error codes (EEXIST, ESRCH,
//! ENOENT, EINVAL), and queues replies the way the kernel does: each ACK in its own datagram,
//! dump parts flagged NLM_F_MULTI and closed by NLMSG_DONE, services reported with the HASHED
//! flag and an all-ones flag mask.

use super::client::Transport;
use super::codec::{
    Cmd, DaemonAttrs, DestAttrs, Family, Fwd, IpvsMessage, Reply, ServiceAttrs, Stats, SvcFlags,
    decode_datagram,
};
use super::consts::*;
use netlink_packet_core::{NLM_F_ACK, NLM_F_DUMP};

/// `NLM_F_MULTI` (include/uapi/linux/netlink.h).
const NLM_F_MULTI: u16 = 0x2;
use std::collections::VecDeque;
use std::io;

/// Schedulers the fake kernel "has loaded".
const SCHEDULERS: &[&str] = &[
    "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos",
];

/// The family id the fake registers "IPVS" under.
pub const FAKE_FAMILY_ID: u16 = 0x25;
const CTRL_ID: u16 = 0x10;

/// One request as the fake kernel saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub cmd: Cmd,
    pub flags: u16,
    pub seq: u32,
    pub msg: IpvsMessage,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeService {
    pub attrs: ServiceAttrs,
    pub dests: Vec<DestAttrs>,
}

/// The fake kernel.
#[derive(Debug)]
pub struct FakeKernel {
    /// False: the "IPVS" family is not registered (a kernel without CONFIG_IP_VS).
    pub has_ipvs: bool,
    pub services: Vec<FakeService>,
    pub timeouts: (u32, u32, u32),
    pub daemons: Vec<DaemonAttrs>,
    pub conn_tab_size: u32,
    /// Every IPVS request received, in order.
    pub seen: Vec<Seen>,
    /// Number of `send` calls (datagrams) received.
    pub sends: usize,
    /// Largest number of requests in one datagram.
    pub max_batch: usize,
    /// The batch limit reported to the client.
    pub batch_limit: usize,
    queue: VecDeque<Vec<u8>>,
}

impl Default for FakeKernel {
    fn default() -> Self {
        FakeKernel {
            has_ipvs: true,
            services: Vec::new(),
            timeouts: (900, 120, 300),
            daemons: Vec::new(),
            conn_tab_size: 4096,
            seen: Vec::new(),
            sends: 0,
            max_batch: 0,
            batch_limit: 256,
            queue: VecDeque::new(),
        }
    }
}

fn frame(message_type: u16, flags: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
    let len = 16 + payload.len();
    let mut b = Vec::with_capacity(len + 3);
    b.extend_from_slice(&(len as u32).to_ne_bytes());
    b.extend_from_slice(&message_type.to_ne_bytes());
    b.extend_from_slice(&flags.to_ne_bytes());
    b.extend_from_slice(&seq.to_ne_bytes());
    b.extend_from_slice(&0u32.to_ne_bytes());
    b.extend_from_slice(payload);
    while b.len() % 4 != 0 {
        b.push(0);
    }
    b
}

/// An NLMSG_ERROR carrying `errno` (0 = ACK) and the request header (capped ACK).
fn ack(seq: u32, errno: i32, req_header: &[u8]) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&(-errno).to_ne_bytes());
    p.extend_from_slice(&req_header[..16.min(req_header.len())]);
    frame(2, 0x100, seq, &p)
}

fn done(seq: u32) -> Vec<u8> {
    frame(3, NLM_F_MULTI, seq, &0i32.to_ne_bytes())
}

fn genl(family: u16, flags: u16, seq: u32, msg: &IpvsMessage) -> Vec<u8> {
    let mut p = vec![u8::from(msg.cmd), IPVS_GENL_VERSION, 0, 0];
    p.extend_from_slice(&msg.pack_attrs());
    frame(family, flags, seq, &p)
}

fn same_service(a: &ServiceAttrs, b: &ServiceAttrs) -> bool {
    let fw = |s: &ServiceAttrs| s.fwmark.unwrap_or(0);
    if a.af != b.af {
        return false;
    }
    if fw(a) != 0 || fw(b) != 0 {
        return fw(a) == fw(b);
    }
    a.protocol == b.protocol && a.ip() == b.ip() && a.port == b.port
}

fn same_dest(a: &DestAttrs, b: &DestAttrs, fam: Family) -> bool {
    a.ip(fam) == b.ip(fam) && a.port == b.port
}

impl FakeKernel {
    pub fn new() -> Self {
        Self::default()
    }

    /// Requests with a given command.
    pub fn count(&self, cmd: Cmd) -> usize {
        self.seen.iter().filter(|s| s.cmd == cmd).count()
    }

    /// Requests that change the table (everything but GET_* commands).
    pub fn mutations(&self) -> usize {
        self.seen
            .iter()
            .filter(|s| {
                !matches!(
                    s.cmd,
                    Cmd::GetService | Cmd::GetDest | Cmd::GetInfo | Cmd::GetConfig | Cmd::GetDaemon
                )
            })
            .count()
    }

    pub fn clear_seen(&mut self) {
        self.seen.clear();
        self.sends = 0;
        self.max_batch = 0;
    }

    fn find(&self, s: &ServiceAttrs) -> Option<usize> {
        self.services.iter().position(|x| same_service(&x.attrs, s))
    }

    fn handle_ctrl(&mut self, seq: u32, req: &[u8]) {
        if !self.has_ipvs {
            self.queue.push_back(ack(seq, libc::ENOENT, req));
            return;
        }
        // CTRL_CMD_NEWFAMILY reply: FAMILY_ID (u16) and FAMILY_NAME.
        let mut p = vec![1u8, 2, 0, 0];
        p.extend_from_slice(&6u16.to_ne_bytes());
        p.extend_from_slice(&1u16.to_ne_bytes());
        p.extend_from_slice(&FAKE_FAMILY_ID.to_ne_bytes());
        p.extend_from_slice(&[0, 0]);
        p.extend_from_slice(&9u16.to_ne_bytes());
        p.extend_from_slice(&2u16.to_ne_bytes());
        p.extend_from_slice(b"IPVS\0\0\0\0");
        self.queue.push_back(frame(CTRL_ID, 0, seq, &p));
        self.queue.push_back(ack(seq, 0, req));
    }

    fn service_reply(&self, s: &FakeService) -> IpvsMessage {
        let mut a = s.attrs.clone();
        let f = a.flags.map(|f| f.flags).unwrap_or(0) | IP_VS_SVC_F_HASHED;
        a.flags = Some(SvcFlags {
            flags: f,
            mask: u32::MAX,
        });
        a.stats = Some(Stats::default());
        a.stats64 = Some(Stats::default());
        IpvsMessage::new(Cmd::NewService).with_service(a)
    }

    fn handle(&mut self, flags: u16, seq: u32, msg: IpvsMessage, req: &[u8]) {
        self.seen.push(Seen {
            cmd: msg.cmd,
            flags,
            seq,
            msg: msg.clone(),
        });
        let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
        let mut replies: Vec<IpvsMessage> = Vec::new();
        let result: Result<(), i32> = (|| {
            match msg.cmd {
                Cmd::Flush => self.services.clear(),
                Cmd::NewService => {
                    let s = msg.service.clone().ok_or(libc::EINVAL)?;
                    if s.af.is_none() || s.sched_name.is_none() || s.flags.is_none() {
                        return Err(libc::EINVAL);
                    }
                    if self.find(&s).is_some() {
                        return Err(libc::EEXIST);
                    }
                    let sched = s.sched_name.clone().unwrap_or_default();
                    if !SCHEDULERS.contains(&sched.as_str()) {
                        return Err(libc::ENOENT);
                    }
                    let mut attrs = s;
                    attrs.flags = attrs.flags.map(|f| SvcFlags {
                        flags: f.flags & f.mask,
                        mask: u32::MAX,
                    });
                    self.services.push(FakeService {
                        attrs,
                        dests: Vec::new(),
                    });
                }
                Cmd::SetService => {
                    let s = msg.service.clone().ok_or(libc::EINVAL)?;
                    let i = self.find(&s).ok_or(libc::ESRCH)?;
                    let sched = s.sched_name.clone().unwrap_or_default();
                    if !SCHEDULERS.contains(&sched.as_str()) {
                        return Err(libc::ENOENT);
                    }
                    let cur = &mut self.services[i].attrs;
                    cur.sched_name = s.sched_name;
                    cur.flags = s.flags.map(|f| SvcFlags {
                        flags: f.flags & f.mask,
                        mask: u32::MAX,
                    });
                    cur.timeout = s.timeout;
                    cur.netmask = s.netmask;
                    cur.pe_name = s.pe_name;
                }
                Cmd::DelService => {
                    let s = msg.service.clone().ok_or(libc::EINVAL)?;
                    let i = self.find(&s).ok_or(libc::ESRCH)?;
                    self.services.remove(i);
                }
                Cmd::GetService => {
                    if dump {
                        for s in &self.services {
                            replies.push(self.service_reply(s));
                        }
                    } else {
                        let s = msg.service.clone().ok_or(libc::EINVAL)?;
                        let i = self.find(&s).ok_or(libc::ESRCH)?;
                        replies.push(self.service_reply(&self.services[i]));
                    }
                }
                Cmd::NewDest | Cmd::SetDest | Cmd::DelDest => {
                    let s = msg.service.clone().ok_or(libc::EINVAL)?;
                    let d = msg.dest.clone().ok_or(libc::EINVAL)?;
                    let i = self.find(&s).ok_or(libc::ESRCH)?;
                    let fam = self.services[i].attrs.af.unwrap_or(Family::Inet);
                    let pos = self.services[i]
                        .dests
                        .iter()
                        .position(|x| same_dest(x, &d, fam));
                    match msg.cmd {
                        Cmd::NewDest => {
                            if pos.is_some() {
                                return Err(libc::EEXIST);
                            }
                            if d.fwd_method.is_none()
                                || d.weight.is_none()
                                || d.u_thresh.is_none()
                                || d.l_thresh.is_none()
                            {
                                return Err(libc::EINVAL);
                            }
                            let daf = d.addr_family.unwrap_or(fam);
                            if daf != fam && d.fwd_method != Some(Fwd::Tunnel) {
                                return Err(libc::EINVAL);
                            }
                            let mut d = d;
                            d.addr_family = Some(daf);
                            self.services[i].dests.push(d);
                        }
                        Cmd::SetDest => {
                            let p = pos.ok_or(libc::ENOENT)?;
                            let cur = &mut self.services[i].dests[p];
                            cur.fwd_method = d.fwd_method;
                            cur.weight = d.weight;
                            cur.u_thresh = d.u_thresh;
                            cur.l_thresh = d.l_thresh;
                            cur.tun_type = d.tun_type;
                            cur.tun_port = d.tun_port;
                            cur.tun_flags = d.tun_flags;
                        }
                        _ => {
                            let p = pos.ok_or(libc::ENOENT)?;
                            self.services[i].dests.remove(p);
                        }
                    }
                }
                Cmd::GetDest => {
                    let s = msg.service.clone().ok_or(libc::EINVAL)?;
                    let i = self.find(&s).ok_or(libc::ESRCH)?;
                    for d in &self.services[i].dests {
                        let mut d = d.clone();
                        d.active_conns = Some(0);
                        d.inact_conns = Some(0);
                        d.persist_conns = Some(0);
                        d.tun_type = Some(d.tun_type.unwrap_or(super::codec::TunType::Ipip));
                        d.tun_port = Some(d.tun_port.unwrap_or(0));
                        d.tun_flags = Some(d.tun_flags.unwrap_or(0));
                        d.stats = Some(Stats::default());
                        d.stats64 = Some(Stats::default());
                        replies.push(IpvsMessage::new(Cmd::NewDest).with_dest(d));
                    }
                }
                Cmd::GetInfo => {
                    let mut m = IpvsMessage::new(Cmd::SetInfo);
                    m.info_version = Some(IP_VS_VERSION_CODE);
                    m.info_conn_tab_size = Some(self.conn_tab_size);
                    replies.push(m);
                }
                Cmd::GetConfig => {
                    let mut m = IpvsMessage::new(Cmd::SetConfig);
                    m.timeout_tcp = Some(self.timeouts.0);
                    m.timeout_tcp_fin = Some(self.timeouts.1);
                    m.timeout_udp = Some(self.timeouts.2);
                    replies.push(m);
                }
                Cmd::SetConfig => {
                    if let Some(t) = msg.timeout_tcp.filter(|t| *t != 0) {
                        self.timeouts.0 = t;
                    }
                    if let Some(t) = msg.timeout_tcp_fin.filter(|t| *t != 0) {
                        self.timeouts.1 = t;
                    }
                    if let Some(t) = msg.timeout_udp.filter(|t| *t != 0) {
                        self.timeouts.2 = t;
                    }
                }
                Cmd::NewDaemon => {
                    let d = msg.daemon.clone().ok_or(libc::EINVAL)?;
                    let state = d.state.ok_or(libc::EINVAL)?;
                    if self.daemons.iter().any(|x| x.state == Some(state)) {
                        return Err(libc::EEXIST);
                    }
                    let mut d = d;
                    d.sync_maxlen = Some(d.sync_maxlen.unwrap_or(1472));
                    d.mcast_group = d
                        .mcast_group
                        .or(Some(std::net::Ipv4Addr::new(224, 0, 0, 81)));
                    d.mcast_port = Some(d.mcast_port.unwrap_or(8848));
                    d.mcast_ttl = Some(d.mcast_ttl.unwrap_or(1));
                    self.daemons.push(d);
                    self.daemons.sort_by_key(|d| d.state);
                }
                Cmd::DelDaemon => {
                    let d = msg.daemon.clone().ok_or(libc::EINVAL)?;
                    let state = d.state.ok_or(libc::EINVAL)?;
                    let p = self
                        .daemons
                        .iter()
                        .position(|x| x.state == Some(state))
                        .ok_or(libc::ESRCH)?;
                    self.daemons.remove(p);
                }
                Cmd::GetDaemon => {
                    for d in &self.daemons {
                        replies.push(IpvsMessage::new(Cmd::NewDaemon).with_daemon(d.clone()));
                    }
                }
                Cmd::Zero => {}
                _ => return Err(libc::EINVAL),
            }
            Ok(())
        })();
        match result {
            Err(e) => self.queue.push_back(ack(seq, e, req)),
            Ok(()) => {
                if dump {
                    let mut dg = Vec::new();
                    for r in &replies {
                        dg.extend_from_slice(&genl(FAKE_FAMILY_ID, NLM_F_MULTI, seq, r));
                    }
                    if !dg.is_empty() {
                        self.queue.push_back(dg);
                    }
                    self.queue.push_back(done(seq));
                } else {
                    for r in &replies {
                        self.queue.push_back(genl(FAKE_FAMILY_ID, 0, seq, r));
                    }
                    // Like netlink_rcv_skb: success is acknowledged only when asked for.
                    if flags & NLM_F_ACK == NLM_F_ACK {
                        self.queue.push_back(ack(seq, 0, req));
                    }
                }
            }
        }
    }
}

impl Transport for FakeKernel {
    fn send(&mut self, datagram: &[u8]) -> io::Result<()> {
        self.sends += 1;
        let mut pos = 0;
        let mut n = 0;
        while pos + 16 <= datagram.len() {
            let len = u32::from_ne_bytes([
                datagram[pos],
                datagram[pos + 1],
                datagram[pos + 2],
                datagram[pos + 3],
            ]) as usize;
            if len < 16 || pos + len > datagram.len() {
                return Err(io::Error::from_raw_os_error(libc::EINVAL));
            }
            let m = &datagram[pos..pos + len];
            let mtype = u16::from_ne_bytes([m[4], m[5]]);
            let flags = u16::from_ne_bytes([m[6], m[7]]);
            let seq = u32::from_ne_bytes([m[8], m[9], m[10], m[11]]);
            if mtype == CTRL_ID {
                self.handle_ctrl(seq, m);
            } else if mtype == FAKE_FAMILY_ID {
                n += 1;
                match decode_datagram(m).into_iter().next() {
                    Some(Ok(Reply::Data { msg, .. })) => self.handle(flags, seq, msg, m),
                    _ => self.queue.push_back(ack(seq, libc::EINVAL, m)),
                }
            } else {
                self.queue.push_back(ack(seq, libc::ENOENT, m));
            }
            pos += (len + 3) & !3;
        }
        self.max_batch = self.max_batch.max(n);
        Ok(())
    }

    fn recv(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        out.clear();
        match self.queue.pop_front() {
            Some(d) => {
                out.extend_from_slice(&d);
                Ok(())
            }
            // A real socket would block forever here; a test must not.
            None => Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "fake kernel: no reply queued",
            )),
        }
    }

    fn recv_many(&mut self, out: &mut Vec<Vec<u8>>) -> io::Result<()> {
        let mut first = Vec::new();
        self.recv(&mut first)?;
        out.push(first);
        // Like recvmmsg with MSG_WAITFORONE: whatever else is queued, up to 64.
        while out.len() < 64 {
            match self.queue.pop_front() {
                Some(d) => out.push(d),
                None => break,
            }
        }
        Ok(())
    }

    fn batch_limit(&self) -> usize {
        self.batch_limit
    }
}
