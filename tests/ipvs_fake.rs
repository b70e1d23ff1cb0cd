//! The client, `rampart ipvs` and the reconciler against the in-memory fake kernel
//! (`rampart::ipvs::fake`): frames, flags, pipelining, dumps, idempotency, ownership.

use rampart::cli::ipvs::run_with;
use rampart::config::model::ForwardMethod;
use rampart::ipvs::client::{Client, IpvsError};
use rampart::ipvs::codec::Cmd;
use rampart::ipvs::convert::table_from_dump;
use rampart::ipvs::fake::FakeKernel;
use rampart::ipvs::reconcile::{DryRun, IpvsOp, OpSink, apply, reconcile, reconcile_flush};
use rampart::ipvs::table::{
    AddrFamily, DesiredTable, DestKey, DestSettings, IpvsProtocol, ServiceEntry, ServiceKey,
    ServiceSettings,
};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

fn client() -> Client<FakeKernel> {
    Client::with_transport(FakeKernel::new()).expect("fake kernel resolves IPVS")
}

fn run(c: &mut Client<FakeKernel>, line: &str) -> (u8, String) {
    run_stdin(c, line, "")
}

fn run_stdin(c: &mut Client<FakeKernel>, line: &str, stdin: &str) -> (u8, String) {
    let args: Vec<String> = line.split_whitespace().map(String::from).collect();
    let mut out = Vec::new();
    let mut input = std::io::Cursor::new(stdin.as_bytes().to_vec());
    let code = run_with(c, &args, &mut input, &mut out);
    (code, String::from_utf8(out).expect("utf8 output"))
}

#[test]
fn missing_family_is_no_ipvs() {
    let mut k = FakeKernel::new();
    k.has_ipvs = false;
    match Client::with_transport(k) {
        Err(IpvsError::NoIpvs) => {}
        other => panic!("expected NoIpvs, got {:?}", other.err()),
    }
    let msg = IpvsError::NoIpvs.to_string();
    assert!(
        msg.contains("this kernel has no IPVS (CONFIG_IP_VS)"),
        "{msg}"
    );
}

#[test]
fn add_list_save_like_ipvsadm() {
    let mut c = client();
    assert_eq!(run(&mut c, "-A -t 10.0.0.1:80 -s rr").0, 0);
    assert_eq!(
        run(&mut c, "-a -t 10.0.0.1:80 -r 192.168.1.2:8080 -m -w 3").0,
        0
    );
    assert_eq!(run(&mut c, "-a -t 10.0.0.1:80 -r 192.168.1.1 -m").0, 0);
    assert_eq!(run(&mut c, "-A -u [2001:db8::1]:53 -p 60").0, 0);
    assert_eq!(
        run(&mut c, "-a -u [2001:db8::1]:53 -r 2001:db8::10 -g -w 0").0,
        0
    );
    assert_eq!(
        run(&mut c, "-A -f 7 -s sh -b sh-port -p -M 255.255.255.0").0,
        0
    );
    assert_eq!(
        run(&mut c, "-a -f 7 -r 10.1.1.1:0 -i -w 2 -x 100 -y 10").0,
        0
    );

    let (code, ln) = run(&mut c, "-Ln");
    assert_eq!(code, 0);
    let want = "\
IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  10.0.0.1:80 rr
  -> 192.168.1.1:80               Masq    1      0          0         
  -> 192.168.1.2:8080             Masq    3      0          0         
UDP  [2001:db8::1]:53 wlc persistent 60
  -> [2001:db8::10]:53            Route   0      0          0         
FWM  7 sh (sh-port) persistent 360 mask 255.255.255.0
  -> 10.1.1.1:0                   Tunnel  2      0          0         
";
    assert_eq!(ln, want);

    let (code, save) = run(&mut c, "-S -n");
    assert_eq!(code, 0);
    let want_save = "\
-A -t 10.0.0.1:80 -s rr
-a -t 10.0.0.1:80 -r 192.168.1.1:80 -m -w 1
-a -t 10.0.0.1:80 -r 192.168.1.2:8080 -m -w 3
-A -u [2001:db8::1]:53 -s wlc -p 60
-a -u [2001:db8::1]:53 -r [2001:db8::10]:53 -g -w 0
-A -f 7 -s sh -p 360 -M 255.255.255.0 -b sh-port
-a -f 7 -r 10.1.1.1:0 -i -w 2 --tun-type ipip
";
    assert_eq!(save, want_save);

    // -S output restores to the same table.
    let mut c2 = client();
    let (code, _) = run_stdin(&mut c2, "-R", &save);
    assert_eq!(code, 0);
    assert_eq!(run(&mut c2, "-S -n").1, want_save);

    // --thresholds shows -x/-y.
    let (_, th) = run(&mut c, "-L -n --thresholds");
    assert!(
        th.contains(
            "  -> 10.1.1.1:0                   100        10         0          0         \n"
        ),
        "{th}"
    );
}

#[test]
fn mutations_send_the_commands_ipvsadm_sends() {
    let mut c = client();
    run(&mut c, "-A -t 10.0.0.1:80");
    run(&mut c, "-E -t 10.0.0.1:80 -s rr");
    run(&mut c, "-a -t 10.0.0.1:80 -r 10.0.0.2");
    run(&mut c, "-e -t 10.0.0.1:80 -r 10.0.0.2 -w 5");
    run(&mut c, "-d -t 10.0.0.1:80 -r 10.0.0.2");
    run(&mut c, "-Z");
    run(&mut c, "-D -t 10.0.0.1:80");
    run(&mut c, "-C");
    run(&mut c, "--set 100 20 30");
    run(
        &mut c,
        "--start-daemon master --mcast-interface lo --syncid 3",
    );
    let (_, d) = run(&mut c, "-L --daemon");
    assert_eq!(
        d,
        "master sync daemon (mcast=lo, syncid=3, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n"
    );
    run(&mut c, "--stop-daemon master");
    let (_, t) = run(&mut c, "-L --timeout");
    assert_eq!(t, "Timeout (tcp tcpfin udp): 100 20 30\n");
    let k = c.transport();
    let cmds: Vec<Cmd> = k
        .seen
        .iter()
        .map(|s| s.cmd)
        .filter(|c| !matches!(c, Cmd::GetDaemon | Cmd::GetConfig))
        .collect();
    assert_eq!(
        cmds,
        vec![
            Cmd::NewService,
            Cmd::SetService,
            Cmd::NewDest,
            Cmd::SetDest,
            Cmd::DelDest,
            Cmd::Zero,
            Cmd::DelService,
            Cmd::Flush,
            Cmd::SetConfig,
            Cmd::NewDaemon,
            Cmd::DelDaemon,
        ]
    );
    // Every mutation asks for an ACK (NLM_F_REQUEST | NLM_F_ACK), every listing is a dump.
    for s in &k.seen {
        match s.cmd {
            Cmd::GetDaemon => assert_eq!(s.flags, 0x1 | 0x300),
            Cmd::GetConfig => assert_eq!(s.flags, 0x1 | 0x4),
            _ => assert_eq!(s.flags, 0x1 | 0x4, "{:?}", s.cmd),
        }
    }
    assert!(c.transport().services.is_empty());
}

#[test]
fn kernel_errors_are_reported_with_ipvsadm_messages() {
    let mut c = client();
    assert_eq!(run(&mut c, "-A -t 10.0.0.1:80").0, 0);
    assert_eq!(run(&mut c, "-A -t 10.0.0.1:80").0, 255);
    assert_eq!(run(&mut c, "-D -t 10.0.0.9:80").0, 255);
    assert_eq!(run(&mut c, "-A -t 10.0.0.2:80 -s nosuch").0, 255);
    // Option errors exit 2 without touching the kernel.
    let before = c.transport().seen.len();
    assert_eq!(run(&mut c, "-A -t 10.0.0.1").0, 2);
    assert_eq!(c.transport().seen.len(), before);
}

fn restore_file(services: usize, dests: usize) -> String {
    let mut s = String::new();
    for i in 0..services {
        let vip = format!("10.{}.{}.1:80", i / 250, i % 250);
        s.push_str(&format!("-A -t {vip} -s wlc\n"));
        for j in 0..dests {
            s.push_str(&format!(
                "-a -t {vip} -r 172.16.{}.{}:8080 -m -w 1\n",
                j,
                i % 250 + 1
            ));
        }
    }
    s
}

#[test]
fn restore_is_pipelined_in_few_datagrams() {
    let mut c = client();
    c.transport_mut().clear_seen();
    let file = restore_file(1000, 10);
    let (code, _) = run_stdin(&mut c, "-R", &file);
    assert_eq!(code, 0);
    let k = c.transport();
    assert_eq!(k.mutations(), 11_000);
    assert_eq!(k.services.len(), 1000);
    assert!(k.services.iter().all(|s| s.dests.len() == 10));
    // 11,000 requests in batches of up to 256 (the fake's receive budget), not one per request.
    assert!(k.sends <= 11_000 / 256 + 2, "sends = {}", k.sends);
    assert!(k.max_batch > 100, "max batch = {}", k.max_batch);
}

#[test]
fn restore_reports_failing_lines_and_runs_the_rest() {
    let mut c = client();
    let file = "-A -t 10.0.0.1:80\n-a -t 10.0.0.9:80 -r 10.0.0.2\n-a -t 10.0.0.1:80 -r 10.0.0.3\n";
    // ipvsadm -R exits with the last line's status: 0 here, the failing line is only reported.
    let (code, _) = run_stdin(&mut c, "-R", file);
    assert_eq!(code, 0);
    let k = c.transport();
    assert_eq!(k.services.len(), 1);
    assert_eq!(k.services[0].dests.len(), 1);
}

#[test]
fn restore_exits_with_the_status_of_its_last_line() {
    let mut c = client();
    let file = "-A -t 10.0.0.1:80\n-a -t 10.0.0.1:80 -r 10.0.0.3\n-a -t 10.0.0.9:80 -r 10.0.0.2\n";
    assert_eq!(run_stdin(&mut c, "-R", file).0, 255);
    let mut c = client();
    // A line that does not parse stops the restore with ipvsadm's code; lines before it apply.
    let file = "-A -t 10.0.0.1:80\n-a -t 10.0.0.1:80 -r 10.0.0.3 -w x\n-A -t 10.0.0.2:80\n";
    assert_eq!(run_stdin(&mut c, "-R", file).0, 2);
    assert_eq!(c.transport().services.len(), 1);
    // Blank lines do not count; `ipvsadm` words are dropped as ipvsadm's reader does.
    let mut c = client();
    let file = "ipvsadm -A -t 10.0.0.1:80\n\n   \n";
    assert_eq!(run_stdin(&mut c, "-R", file).0, 0);
    assert_eq!(c.transport().services.len(), 1);
}

/// Mutations go out without NLM_F_ACK except the last of each datagram; the kernel still
/// answers every failing request with an error carrying its sequence number, so every failure
/// is reported for its own request, across batch boundaries, and the others succeed.
#[test]
fn unacknowledged_batches_still_report_every_failure_per_operation() {
    use rampart::ipvs::codec::{IpvsMessage, ServiceAttrs};
    let mut c = client();
    c.transport_mut().batch_limit = 7;
    let svc = |i: usize| {
        let s = ServiceAttrs {
            af: Some(rampart::ipvs::codec::Family::Inet),
            protocol: Some(rampart::ipvs::codec::Proto::Tcp),
            addr: Some(rampart::ipvs::codec::pack_addr(&v4(&format!(
                "10.9.0.{}",
                i % 20 + 1
            )))),
            port: Some(80),
            sched_name: Some("wlc".into()),
            flags: Some(rampart::ipvs::codec::SvcFlags {
                flags: 0,
                mask: u32::MAX,
            }),
            timeout: Some(0),
            netmask: Some(u32::MAX),
            ..Default::default()
        };
        IpvsMessage::new(Cmd::NewService).with_service(s)
    };
    // 40 adds of 20 distinct services: the second add of each fails with EEXIST, and some of
    // the failures are the last request of a batch (the acknowledged one).
    let msgs: Vec<IpvsMessage> = (0..40).map(svc).collect();
    c.transport_mut().clear_seen();
    let results = c.execute(&msgs).expect("batch runs");
    assert_eq!(results.len(), 40);
    for (i, r) in results.iter().enumerate() {
        if i < 20 {
            assert_eq!(*r, Ok(()), "request {i}");
        } else {
            assert_eq!(*r, Err(libc::EEXIST), "request {i}");
        }
    }
    let k = c.transport();
    assert_eq!(k.sends, 6, "40 requests in batches of 7");
    let acked: Vec<usize> = k
        .seen
        .iter()
        .enumerate()
        .filter(|(_, s)| s.flags & 0x4 != 0)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        acked,
        vec![6, 13, 20, 27, 34, 39],
        "only the last of each batch is acked"
    );
    assert!(k.seen.iter().all(|s| s.flags & 0x1 != 0));
    assert_eq!(k.services.len(), 20);
    // And through -R: each failing line named, the rest applied.
    let mut c = client();
    c.transport_mut().batch_limit = 3;
    let file = "-A -t 10.0.0.1:80\n-A -t 10.0.0.1:80\n-a -t 10.0.0.1:80 -r 10.0.0.2\n\
                -a -t 10.0.0.9:80 -r 10.0.0.2\n-a -t 10.0.0.1:80 -r 10.0.0.3\n-a -t 10.0.0.1:80 -r 10.0.0.3\n";
    let (code, _) = run_stdin(&mut c, "-R", file);
    assert_eq!(code, 255);
    assert_eq!(c.transport().services[0].dests.len(), 2);
}

fn v4(s: &str) -> IpAddr {
    s.parse().expect("address")
}

fn tcp(addr: &str, port: u16) -> ServiceKey {
    ServiceKey::Addr {
        protocol: IpvsProtocol::Tcp,
        addr: v4(addr),
        port,
    }
}

fn settings(sched: &str) -> ServiceSettings {
    ServiceSettings {
        scheduler: sched.into(),
        flags: 0,
        timeout: 0,
        netmask_prefix: 32,
        pe_name: None,
    }
}

fn dest(w: u32) -> DestSettings {
    DestSettings {
        forward: ForwardMethod::Nat,
        weight: w,
        upper_threshold: 0,
        lower_threshold: 0,
        tunnel: Default::default(),
    }
}

fn entry(sched: &str, dests: &[(&str, u16, u32)]) -> ServiceEntry {
    ServiceEntry {
        settings: settings(sched),
        dests: dests
            .iter()
            .map(|(a, p, w)| {
                (
                    DestKey {
                        addr: v4(a),
                        port: *p,
                    },
                    dest(*w),
                )
            })
            .collect::<BTreeMap<_, _>>(),
    }
}

fn kernel_table(c: &mut Client<FakeKernel>) -> rampart::ipvs::table::KernelTable {
    table_from_dump(&c.table().expect("dump"))
}

#[test]
fn reconciler_adopts_fixes_and_leaves_foreign_alone() {
    let mut c = client();
    // The kernel before rampart starts: a managed service with a stale scheduler, an extra and
    // a wrong-weight destination; a service rampart managed before but no longer wants; a
    // foreign service nobody configured.
    let setup = "\
-A -t 10.0.0.1:80 -s rr
-a -t 10.0.0.1:80 -r 192.168.0.1:80 -m -w 1
-a -t 10.0.0.1:80 -r 192.168.0.2:80 -m -w 9
-a -t 10.0.0.1:80 -r 192.168.0.99:80 -m -w 1
-A -t 10.0.0.3:80 -s wlc
-a -t 10.0.0.3:80 -r 192.168.0.5:80 -m -w 1
-A -t 10.9.9.9:443 -s rr
-a -t 10.9.9.9:443 -r 192.168.9.9:443 -m -w 1
";
    assert_eq!(run_stdin(&mut c, "-R", setup).0, 0);
    let foreign_before = run(&mut c, "-L -n -t 10.9.9.9:443").1;

    let mut desired = DesiredTable::default();
    desired.services.insert(
        tcp("10.0.0.1", 80),
        entry(
            "wlc",
            &[
                ("192.168.0.1", 80, 1),
                ("192.168.0.2", 80, 2),
                ("192.168.0.3", 80, 1),
            ],
        ),
    );
    desired
        .services
        .insert(tcp("10.0.0.2", 80), entry("rr", &[("192.168.0.4", 80, 1)]));
    let previously: BTreeSet<ServiceKey> = [tcp("10.0.0.1", 80), tcp("10.0.0.3", 80)].into();

    let kt = kernel_table(&mut c);
    let ops = reconcile(&desired, &kt, &previously);
    // del extra dest, del dropped service, edit scheduler, add service, edit weight, add 2 dests.
    let kinds: Vec<&str> = ops
        .iter()
        .map(|o| match o {
            IpvsOp::DelDest { .. } => "del_dest",
            IpvsOp::DelService { .. } => "del_service",
            IpvsOp::EditService { .. } => "edit_service",
            IpvsOp::AddService { .. } => "add_service",
            IpvsOp::EditDest { .. } => "edit_dest",
            IpvsOp::AddDest { .. } => "add_dest",
            IpvsOp::Flush => "flush",
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            "del_dest",
            "del_service",
            "edit_service",
            "add_service",
            "edit_dest",
            "add_dest",
            "add_dest"
        ]
    );
    let outcomes = apply(&mut c, &ops).expect("apply");
    assert!(outcomes.iter().all(|o| o.ok()), "{outcomes:?}");

    let after = kernel_table(&mut c);
    for (k, e) in &desired.services {
        assert_eq!(after.services.get(k), Some(e), "service {k:?}");
    }
    assert!(!after.services.contains_key(&tcp("10.0.0.3", 80)));
    assert_eq!(run(&mut c, "-L -n -t 10.9.9.9:443").1, foreign_before);

    // Second run: nothing to do.
    let again = reconcile(&desired, &after, &previously);
    assert!(again.is_empty(), "{again:?}");

    // One weight change: exactly one SET_DEST request.
    let mut changed = desired.clone();
    changed
        .services
        .get_mut(&tcp("10.0.0.1", 80))
        .expect("svc")
        .dests
        .get_mut(&DestKey {
            addr: v4("192.168.0.2"),
            port: 80,
        })
        .expect("dest")
        .weight = 7;
    let ops = reconcile(&changed, &after, &previously);
    assert_eq!(ops.len(), 1);
    c.transport_mut().clear_seen();
    let out = apply(&mut c, &ops).expect("apply");
    assert!(out[0].ok());
    assert_eq!(c.transport().seen.len(), 1);
    assert_eq!(c.transport().seen[0].cmd, Cmd::SetDest);
    assert_eq!(c.transport().sends, 1);
}

#[test]
fn apply_is_idempotent_on_exists_and_not_found() {
    let mut c = client();
    let key = tcp("10.0.0.1", 80);
    let d = DestKey {
        addr: v4("192.168.0.1"),
        port: 80,
    };
    let ops = vec![
        IpvsOp::AddService {
            key,
            settings: settings("rr"),
        },
        IpvsOp::AddDest {
            service: key,
            dest: d,
            settings: dest(1),
        },
    ];
    assert!(apply(&mut c, &ops).expect("apply").iter().all(|o| o.ok()));
    // Again: both exist; they become edits and succeed.
    let mut ops2 = ops.clone();
    if let IpvsOp::AddDest { settings, .. } = &mut ops2[1] {
        settings.weight = 4;
    }
    let out = apply(&mut c, &ops2).expect("apply");
    assert!(out.iter().all(|o| o.ok()), "{out:?}");
    assert!(matches!(out[1].retried_as, Some(IpvsOp::EditDest { .. })));
    assert_eq!(c.transport().services[0].dests[0].weight, Some(4));
    // Deleting what is gone succeeds.
    let gone = vec![
        IpvsOp::DelDest {
            service: key,
            dest: DestKey {
                addr: v4("192.168.0.77"),
                port: 80,
            },
        },
        IpvsOp::DelService {
            key: tcp("10.7.7.7", 80),
        },
    ];
    assert!(apply(&mut c, &gone).expect("apply").iter().all(|o| o.ok()));
    // A real failure is reported for that op only.
    let bad = vec![
        IpvsOp::AddService {
            key: tcp("10.0.0.5", 80),
            settings: settings("nosuch"),
        },
        IpvsOp::AddService {
            key: tcp("10.0.0.6", 80),
            settings: settings("rr"),
        },
    ];
    let out = apply(&mut c, &bad).expect("apply");
    assert_eq!(out[0].result, Err(libc::ENOENT));
    assert!(out[1].ok());
}

#[test]
fn flush_plan_and_dry_run() {
    let mut desired = DesiredTable::default();
    desired
        .services
        .insert(tcp("10.0.0.1", 80), entry("rr", &[("192.168.0.1", 80, 1)]));
    let ops = reconcile_flush(&desired);
    assert_eq!(ops[0], IpvsOp::Flush);
    assert_eq!(ops.len(), 3);
    let mut dry = DryRun::default();
    let out = dry.apply(&ops).expect("dry run");
    assert!(out.iter().all(|o| o.ok()));
    assert_eq!(dry.applied, ops);
    let mut c = client();
    let out = apply(&mut c, &ops).expect("apply");
    assert!(out.iter().all(|o| o.ok()));
    assert_eq!(kernel_table(&mut c), desired);
}

#[test]
fn ipv6_and_fwmark_round_trip_through_the_table() {
    let mut c = client();
    let mut desired = DesiredTable::default();
    let k6 = ServiceKey::Addr {
        protocol: IpvsProtocol::Udp,
        addr: "2001:db8::1".parse().expect("v6"),
        port: 53,
    };
    let kf = ServiceKey::Fwmark {
        family: AddrFamily::V6,
        mark: 9,
    };
    let mut s6 = settings("wrr");
    s6.netmask_prefix = 128;
    let mut sf = settings("sh");
    sf.flags = 0x1 | 0x10;
    sf.timeout = 300;
    sf.netmask_prefix = 64;
    let d6 = DestKey {
        addr: "2001:db8::10".parse().expect("v6"),
        port: 53,
    };
    desired.services.insert(
        k6,
        ServiceEntry {
            settings: s6,
            dests: [(d6, dest(3))].into(),
        },
    );
    desired.services.insert(
        kf,
        ServiceEntry {
            settings: sf,
            dests: [(
                DestKey {
                    addr: "2001:db8::20".parse().expect("v6"),
                    port: 0,
                },
                DestSettings {
                    forward: ForwardMethod::Dr,
                    weight: 1,
                    upper_threshold: 10,
                    lower_threshold: 5,
                    tunnel: Default::default(),
                },
            )]
            .into(),
        },
    );
    let ops = reconcile(&desired, &kernel_table(&mut c), &BTreeSet::new());
    assert!(apply(&mut c, &ops).expect("apply").iter().all(|o| o.ok()));
    assert_eq!(kernel_table(&mut c), desired);
    let (_, ln) = run(&mut c, "-Ln");
    assert!(ln.contains("UDP  [2001:db8::1]:53 wrr\n"), "{ln}");
    assert!(
        ln.contains("FWM  9 IPv6 sh (sh-port) persistent 300 mask 64\n"),
        "{ln}"
    );
}

/// The contract with the VM suite: `rampart ipvs --reconcile FILE`.
#[test]
fn reconcile_command_converges_in_six_then_zero() {
    let mut c = client();
    let before = "\
-A -t 10.1.0.1:80 -s rr
-a -t 10.1.0.1:80 -r 192.168.20.1:80 -m -w 1
-a -t 10.1.0.1:80 -r 192.168.20.2:80 -m -w 1
-a -t 10.1.0.1:80 -r 192.168.20.3:80 -m -w 1
-A -t 10.1.0.2:80 -s wlc -p 60
-a -t 10.1.0.2:80 -r 192.168.20.5:80 -g -w 1
-A -t 10.9.9.9:80 -s lc
-a -t 10.9.9.9:80 -r 192.168.20.9:80 -m -w 3
-A -f 5 -6 -s rr
";
    assert_eq!(run_stdin(&mut c, "-R", before).0, 0);
    let desired = "\
-A -t 10.1.0.1:80 -s rr
-a -t 10.1.0.1:80 -r 192.168.20.1:80 -m -w 1
-a -t 10.1.0.1:80 -r 192.168.20.2:80 -m -w 5
-a -t 10.1.0.1:80 -r 192.168.20.4:80 -m -w 1
-A -t 10.1.0.2:80 -s rr
-a -t 10.1.0.2:80 -r 192.168.20.5:80 -g -w 1
-A -u [2001:db8::5]:53 -s wlc
-a -u [2001:db8::5]:53 -r [2001:db8:1::5]:53 -m -w 1
";
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("desired");
    std::fs::write(&path, desired).expect("write");
    let line = format!("--reconcile {}", path.display());
    let (code, out) = run(&mut c, &line);
    assert_eq!(code, 0, "{out}");
    assert!(out.ends_with("operations: 6\n"), "{out}");
    let (code, out) = run(&mut c, &line);
    assert_eq!(code, 0);
    assert_eq!(out, "operations: 0\n");
    let (_, save) = run(&mut c, "-S -n");
    let want = "\
-A -t 10.1.0.1:80 -s rr
-a -t 10.1.0.1:80 -r 192.168.20.1:80 -m -w 1
-a -t 10.1.0.1:80 -r 192.168.20.2:80 -m -w 5
-a -t 10.1.0.1:80 -r 192.168.20.4:80 -m -w 1
-A -t 10.1.0.2:80 -s rr
-a -t 10.1.0.2:80 -r 192.168.20.5:80 -g -w 1
-A -t 10.9.9.9:80 -s lc
-a -t 10.9.9.9:80 -r 192.168.20.9:80 -m -w 3
-A -u [2001:db8::5]:53 -s wlc
-a -u [2001:db8::5]:53 -r [2001:db8:1::5]:53 -m -w 1
-A -f 5 -6 -s rr
";
    assert_eq!(save, want);
    let (code, _) = run(&mut c, "--reconcile /dev/null");
    assert_eq!(code, 0);
}

const PROC_IP_VS: &str = "\
IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port Forward Weight ActiveConn InActConn
TCP  0A000001:0050 rr 
  -> C0A80102:1F90      Masq    3      0          0         
  -> C0A80101:0050      Masq    1      0          0         
UDP  [2001:0db8:0000:0000:0000:0000:0000:0001]:0035 wlc persistent 60 00000040
  -> [2001:0db8:0000:0000:0000:0000:0000:0010]:0035      Route   0      0          0         
FWM  00000007 sh persistent 360 FFFFFF00
  -> 0A010101:0000      Tunnel  2      0          0         
";

fn proc_text() -> Option<String> {
    Some(PROC_IP_VS.to_string())
}

/// Listing through /proc/net/ip_vs prints what the netlink-only listing prints, without a
/// destination dump per service (except where the file lacks what -S needs: tunnels).
#[test]
fn listing_from_proc_matches_netlink() {
    let mut c = client();
    let setup = "\
-A -t 10.0.0.1:80 -s rr
-a -t 10.0.0.1:80 -r 192.168.1.2:8080 -m -w 3
-a -t 10.0.0.1:80 -r 192.168.1.1:80 -m -w 1
-A -u [2001:db8::1]:53 -s wlc -p 60 -M 64
-a -u [2001:db8::1]:53 -r [2001:db8::10]:53 -g -w 0
-A -f 7 -s sh -p -M 255.255.255.0
-a -f 7 -r 10.1.1.1:0 -i -w 2
";
    assert_eq!(run_stdin(&mut c, "-R", setup).0, 0);
    for args in ["-Ln", "-S -n", "-Ln --nosort", "-L -n --persistent-conn"] {
        let (code, plain) = run(&mut c, args);
        assert_eq!(code, 0);
        c.transport_mut().clear_seen();
        let argv: Vec<String> = args.split_whitespace().map(String::from).collect();
        let mut out = Vec::new();
        let code = rampart::cli::ipvs::run_with_proc(
            &mut c,
            &argv,
            &mut std::io::empty(),
            &mut out,
            proc_text,
        );
        assert_eq!(code, 0);
        assert_eq!(String::from_utf8(out).expect("utf8"), plain, "{args}");
        let dest_dumps = c.transport().count(Cmd::GetDest);
        // -S: the tunnel service needs netlink; --persistent-conn: every service does.
        let want = match args {
            "-S -n" => 1,
            "-L -n --persistent-conn" => 3,
            _ => 0,
        };
        assert_eq!(dest_dumps, want, "{args}");
    }
}

#[test]
fn proc_parse_is_total() {
    use rampart::ipvs::procfs::{ProcKey, parse};
    let p = parse(PROC_IP_VS);
    assert_eq!(p.len(), 3);
    assert_eq!(p[2].key, ProcKey::Fwmark(7));
    assert_eq!(p[0].dests.len(), 2);
    assert!(p.iter().all(|s| s.complete));
    // Garbage never panics; an unreadable destination marks its service incomplete.
    let bad =
        "TCP  0A000001:0050 rr\n  -> zz:0050 Masq 1 0 0\nFWM xyz\n  -> 0A000001:0000 Route 1 0 0\n";
    let p = parse(bad);
    assert_eq!(p.len(), 1);
    assert!(!p[0].complete);
    for cut in 0..PROC_IP_VS.len() {
        if PROC_IP_VS.is_char_boundary(cut) {
            let _ = parse(&PROC_IP_VS[..cut]);
        }
    }
}

#[test]
fn sync_reads_plans_and_applies() {
    use rampart::ipvs::reconcile::sync;
    let mut c = client();
    let mut desired = DesiredTable::default();
    desired
        .services
        .insert(tcp("10.0.0.1", 80), entry("rr", &[("192.168.0.1", 80, 1)]));
    let out = sync(&mut c, &desired, &BTreeSet::new(), false).expect("sync");
    assert_eq!(out.len(), 2);
    assert!(
        sync(&mut c, &desired, &BTreeSet::new(), false)
            .expect("sync")
            .is_empty()
    );
    run(&mut c, "-A -t 10.9.9.9:80");
    let out = sync(&mut c, &desired, &BTreeSet::new(), true).expect("flush sync");
    assert_eq!(out[0].op, IpvsOp::Flush);
    assert_eq!(kernel_table(&mut c), desired);
}

/// A changed tunnel type is an edit of the destination (one SET_DEST carrying the new tunnel
/// attributes), and the table read back has the new tunnel.
#[test]
fn changed_tunnel_is_one_edit() {
    use rampart::config::model::{Tunnel, TunnelCsum, TunnelKind};
    let mut c = client();
    let key = tcp("10.0.0.1", 80);
    let tun = |t: Tunnel| DestSettings {
        forward: ForwardMethod::Tun,
        tunnel: t,
        ..dest(1)
    };
    let gue = Tunnel {
        kind: TunnelKind::Gue,
        port: 6080,
        csum: TunnelCsum::Csum,
    };
    let mut desired = DesiredTable::default();
    desired.services.insert(
        key,
        ServiceEntry {
            settings: settings("rr"),
            dests: [(
                DestKey {
                    addr: v4("192.168.0.1"),
                    port: 80,
                },
                tun(Tunnel::default()),
            )]
            .into(),
        },
    );
    let managed: BTreeSet<ServiceKey> = [key].into();
    let ops = reconcile(&desired, &kernel_table(&mut c), &managed);
    apply(&mut c, &ops).expect("applied");
    assert_eq!(kernel_table(&mut c), desired);
    // ipip -> gue port 6080 csum: exactly one SET_DEST.
    let d = desired.services.get_mut(&key).expect("service");
    *d.dests.values_mut().next().expect("dest") = tun(gue);
    let ops = reconcile(&desired, &kernel_table(&mut c), &managed);
    assert_eq!(ops.len(), 1, "{ops:?}");
    c.transport_mut().clear_seen();
    apply(&mut c, &ops).expect("applied");
    let seen = &c.transport().seen;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].cmd, Cmd::SetDest);
    let sent = seen[0].msg.dest.as_ref().expect("dest attrs");
    assert_eq!(sent.tun_type, Some(rampart::ipvs::codec::TunType::Gue));
    assert_eq!(sent.tun_port, Some(6080));
    assert_eq!(sent.tun_flags, Some(1));
    assert_eq!(kernel_table(&mut c), desired);
    assert!(reconcile(&desired, &kernel_table(&mut c), &managed).is_empty());
}
