//! keepalived's notify fifos: created when missing, lines in keepalived's format, routed to
//! notify_fifo / vrrp_notify_fifo / lvs_notify_fifo, in event order; the fifo script is started
//! with the fifo as its last argument and reads the lines.

use rampart::alert::fifo::FifoWriters;
use rampart::config::{Command, GlobalDefs, NotifyFifo, Span};
use rampart::events::{Endpoint, Event, VrrpStateName};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

fn ep(addr: &str, port: u16) -> Endpoint {
    Endpoint {
        addr: Some(addr.parse().unwrap()),
        port: Some(port),
        fwmark: None,
        protocol: "tcp",
        group: None,
    }
}

fn fifo(path: &Path) -> Option<NotifyFifo> {
    Some(NotifyFifo {
        path: path.to_string_lossy().into_owned(),
        script: None,
        owner: None,
        script_user: None,
    })
}

fn open_reader(path: &Path) -> std::fs::File {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .unwrap()
}

fn read_all(f: &mut std::fs::File) -> String {
    let mut buf = vec![0u8; 65536];
    let mut out = String::new();
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.push_str(std::str::from_utf8(&buf[..n]).unwrap()),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("{e}"),
        }
    }
    out
}

fn events() -> Vec<Event> {
    vec![
        Event::VrrpInstance {
            instance: "VI_1".into(),
            from: VrrpStateName::Backup,
            to: VrrpStateName::Master,
            priority: 100,
            reason: String::new(),
        },
        Event::RealServer {
            virtual_server: ep("192.168.201.15", 80),
            real_server: ep("1.2.3.4", 80),
            up: false,
            reason: String::new(),
        },
        Event::VrrpSyncGroup {
            group: "G1".into(),
            from: VrrpStateName::Backup,
            to: VrrpStateName::Master,
            reason: String::new(),
        },
        Event::Quorum {
            virtual_server: ep("192.168.201.15", 80),
            gained: false,
            alive_weight: 0,
            quorum: 1,
        },
        Event::VrrpMasterRxLowerPri {
            instance: "VI_1".into(),
            priority: 100,
            peer: "10.0.0.2".parse().unwrap(),
            peer_priority: 50,
        },
        Event::VrrpInstance {
            instance: "VI_1".into(),
            from: VrrpStateName::Master,
            to: VrrpStateName::Fault,
            priority: 90,
            reason: String::new(),
        },
    ]
}

#[test]
fn fifos_get_keepalived_lines_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let (all, vrrp, lvs) = (
        dir.path().join("notify"),
        dir.path().join("vrrp"),
        dir.path().join("lvs"),
    );
    let global = GlobalDefs {
        notify_fifo: fifo(&all),
        vrrp_notify_fifo: fifo(&vrrp),
        lvs_notify_fifo: fifo(&lvs),
        ..Default::default()
    };
    let mut w = FifoWriters::open(&global).unwrap();
    for p in [&all, &vrrp, &lvs] {
        assert!(
            std::fs::metadata(p).unwrap().file_type().is_fifo(),
            "{} created as a fifo",
            p.display()
        );
    }
    let (mut r_all, mut r_vrrp, mut r_lvs) =
        (open_reader(&all), open_reader(&vrrp), open_reader(&lvs));
    for ev in events() {
        w.write_event(&ev);
    }
    assert_eq!(
        read_all(&mut r_all),
        "INSTANCE \"VI_1\" MASTER 100\n\
         RS [1.2.3.4]:tcp:80 [192.168.201.15]:tcp:80 DOWN\n\
         GROUP \"G1\" MASTER 0\n\
         VS [192.168.201.15]:tcp:80 DOWN\n\
         INSTANCE \"VI_1\" MASTER_RX_LOWER_PRI 100\n\
         INSTANCE \"VI_1\" FAULT 90\n"
    );
    assert_eq!(
        read_all(&mut r_vrrp),
        "INSTANCE \"VI_1\" MASTER 100\nGROUP \"G1\" MASTER 0\n\
         INSTANCE \"VI_1\" MASTER_RX_LOWER_PRI 100\nINSTANCE \"VI_1\" FAULT 90\n"
    );
    assert_eq!(
        read_all(&mut r_lvs),
        "RS [1.2.3.4]:tcp:80 [192.168.201.15]:tcp:80 DOWN\nVS [192.168.201.15]:tcp:80 DOWN\n"
    );
}

#[test]
fn writing_without_a_reader_never_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify");
    let global = GlobalDefs {
        notify_fifo: fifo(&path),
        ..Default::default()
    };
    let mut w = FifoWriters::open(&global).unwrap();
    // Far more than a pipe buffer holds: the excess is lost (and logged), nothing blocks.
    for _ in 0..5000 {
        for ev in events() {
            w.write_event(&ev);
        }
    }
}

#[test]
fn a_regular_file_in_the_way_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify");
    std::fs::write(&path, "").unwrap();
    let global = GlobalDefs {
        notify_fifo: fifo(&path),
        ..Default::default()
    };
    let err = FifoWriters::open(&global)
        .err()
        .expect("must refuse a regular file");
    assert!(err.to_string().contains("not a fifo"), "{err}");
}

#[test]
fn fifo_script_reads_the_fifo() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vrrp");
    let out = dir.path().join("out");
    // keepalived passes the fifo name as the last parameter.
    let script = format!(
        "while read l; do echo \"$l\" >> {}; done < \"$0\"",
        out.display()
    );
    let global = GlobalDefs {
        vrrp_notify_fifo: Some(NotifyFifo {
            path: path.to_string_lossy().into_owned(),
            script: Some(Command {
                raw: format!("/bin/sh -c '{script}'"),
                argv: vec!["/bin/sh".into(), "-c".into(), script.clone()],
                span: Span::builtin(),
            }),
            owner: None,
            script_user: None,
        }),
        ..Default::default()
    };
    let mut w = FifoWriters::open(&global).unwrap();
    for ev in events() {
        w.write_event(&ev);
    }
    let want = "INSTANCE \"VI_1\" MASTER 100\nGROUP \"G1\" MASTER 0\n\
                INSTANCE \"VI_1\" MASTER_RX_LOWER_PRI 100\nINSTANCE \"VI_1\" FAULT 90\n";
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = std::fs::read_to_string(&out).unwrap_or_default();
        if got == want || Instant::now() > deadline {
            assert_eq!(got, want);
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(w); // terminates the script
}

#[tokio::test]
async fn event_consumers_feed_status_metrics_and_fifos() {
    use rampart::alert::EventConsumers;
    use rampart::daemon::metrics::Metrics;
    use rampart::daemon::status::{StatusBoard, StatusSnapshot};
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify");
    let cfg = rampart::config::Config {
        global: GlobalDefs {
            notify_fifo: fifo(&path),
            ..Default::default()
        },
        ..Default::default()
    };
    let board = Arc::new(StatusBoard::new(StatusSnapshot::from_config(
        &cfg,
        "lb1",
        None,
        std::time::SystemTime::now(),
    )));
    let metrics = Arc::new(Metrics::new());
    let mut c = EventConsumers::start(&cfg, board.clone(), metrics.clone()).unwrap();
    let mut reader = open_reader(&path);
    for ev in events() {
        c.consume(&ev);
    }
    let snap = board.snapshot(Some(&metrics));
    assert_eq!(snap.instances[0].state, "FAULT");
    assert_eq!(snap.instances[0].stats.become_master, 1);
    assert!(
        metrics
            .render()
            .contains("rampart_vrrp_state{instance=\"VI_1\"} 3\n")
    );
    assert_eq!(read_all(&mut reader).lines().count(), 6);
}
