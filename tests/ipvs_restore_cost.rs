//! Not a test: the user-space cost of `rampart ipvs -R` (parse + encode + ACK handling) against
//! a transport that acknowledges every batch at once. `cargo test --release --test
//! ipvs_restore_cost -- --ignored --nocapture`.
use rampart::ipvs::client::{Client, Transport};
use rampart::ipvs::fake::FakeKernel;
use std::io;

/// Answers the family lookup through the fake kernel, then acknowledges each datagram's last
/// request without looking at the rest.
struct AckLast {
    fake: Option<FakeKernel>,
    queue: Vec<Vec<u8>>,
    requests: usize,
}

impl Transport for AckLast {
    fn send(&mut self, d: &[u8]) -> io::Result<()> {
        if let Some(f) = self.fake.as_mut() {
            return f.send(d);
        }
        let mut pos = 0;
        let mut last = 0;
        while pos + 16 <= d.len() {
            let len = u32::from_ne_bytes([d[pos], d[pos + 1], d[pos + 2], d[pos + 3]]) as usize;
            last = pos;
            self.requests += 1;
            pos += (len + 3) & !3;
        }
        let mut ack = vec![0u8; 36];
        ack[..4].copy_from_slice(&36u32.to_ne_bytes());
        ack[4..6].copy_from_slice(&2u16.to_ne_bytes());
        ack[8..12].copy_from_slice(&d[last + 8..last + 12]);
        ack[20..36].copy_from_slice(&d[last..last + 16]);
        self.queue.push(ack);
        Ok(())
    }
    fn recv(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        if let Some(f) = self.fake.as_mut() {
            return f.recv(out);
        }
        out.clear();
        out.extend_from_slice(&self.queue.remove(0));
        Ok(())
    }
    fn batch_limit(&self) -> usize {
        3000
    }
}

#[test]
#[ignore]
fn restore_user_space_cost() {
    let mut rules = String::new();
    for i in 0..1000 {
        let vip = format!("10.1.{}.{}:80", i / 250, i % 250 + 1);
        rules.push_str(&format!("-A -t {vip} -s wlc\n"));
        for j in 0..10 {
            let k = i * 10 + j;
            rules.push_str(&format!(
                "-a -t {vip} -r 172.16.{}.{}:8080 -m -w 1\n",
                k / 250,
                k % 250 + 1
            ));
        }
    }
    let t = AckLast {
        fake: Some(FakeKernel::new()),
        queue: Vec::new(),
        requests: 0,
    };
    let mut c = Client::with_transport(t).expect("family");
    c.transport_mut().fake = None;
    let mut best = std::time::Duration::MAX;
    for _ in 0..40 {
        let mut input = io::Cursor::new(rules.as_bytes());
        let mut out = Vec::new();
        let start = std::time::Instant::now();
        let code = rampart::cli::ipvs::restore(&mut c, &mut input, &mut out, || None);
        best = best.min(start.elapsed());
        assert_eq!(code, 0);
    }
    println!(
        "11,000 lines: {best:?} per restore (best of 40), {} requests",
        c.transport().requests
    );
}

#[test]
#[ignore]
fn save_user_space_cost() {
    use rampart::ipvs::codec::{DestAttrs, Family, Fwd, Proto, ServiceAttrs, SvcFlags, pack_addr};
    use rampart::ipvs::format::{self, Format, ListEntry};
    let mut entries = Vec::new();
    for i in 0..1000u32 {
        let svc = ServiceAttrs {
            af: Some(Family::Inet),
            protocol: Some(Proto::Tcp),
            addr: Some(pack_addr(
                &format!("10.1.{}.{}", i / 250, i % 250 + 1)
                    .parse()
                    .expect("ip"),
            )),
            port: Some(80),
            sched_name: Some("wlc".into()),
            flags: Some(SvcFlags {
                flags: 2,
                mask: u32::MAX,
            }),
            timeout: Some(0),
            netmask: Some(u32::MAX),
            ..Default::default()
        };
        let dests = (0..10u32)
            .map(|j| {
                let k = i * 10 + j;
                DestAttrs {
                    addr_family: Some(Family::Inet),
                    addr: Some(pack_addr(
                        &format!("172.16.{}.{}", k / 250, k % 250 + 1)
                            .parse()
                            .expect("ip"),
                    )),
                    port: Some(8080),
                    fwd_method: Some(Fwd::Masq),
                    weight: Some(1),
                    active_conns: Some(0),
                    inact_conns: Some(0),
                    ..Default::default()
                }
            })
            .collect();
        entries.push(ListEntry { svc, dests });
    }
    for (label, f) in [
        (
            "-S -n",
            Format {
                numeric: true,
                rule: true,
                ..Default::default()
            },
        ),
        (
            "-Ln",
            Format {
                numeric: true,
                ..Default::default()
            },
        ),
    ] {
        let mut best = std::time::Duration::MAX;
        let mut len = 0;
        for _ in 0..40 {
            let start = std::time::Instant::now();
            let text = format::list_all(&entries, Some((0x010201, 4096)), f, &format::NumericNames);
            best = best.min(start.elapsed());
            len = text.len();
        }
        println!("{label} of 1,000 x 10: {best:?} (best of 40), {len} bytes");
    }
}
