//! Costs the engines pay to the operations side, measured on purpose (not a test):
//! `cargo bench --bench ops_bench` (release build). Figures go to docs/benchmarks/ops.md.
//!
//! - handing an event to the alerter (`AlertHandle::send`) while the mail server is down;
//! - writing one notify-fifo line;
//! - one full `EventConsumers::consume` (status, metrics, fifo, alert);
//! - rendering /metrics for a large director (500 real servers, 50 instances).

use rampart::alert::fifo::FifoWriters;
use rampart::alert::{AlertOptions, EventConsumers, spawn_alerter};
use rampart::config::{Config, GlobalDefs, NotifyFifo, SmtpServer};
use rampart::daemon::metrics::Metrics;
use rampart::daemon::status::{StatusBoard, StatusSnapshot};
use rampart::events::{Endpoint, Event, VrrpStateName};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

fn ep(a: [u8; 4], port: u16) -> Endpoint {
    Endpoint {
        addr: Some(std::net::IpAddr::from(a)),
        port: Some(port),
        fwmark: None,
        protocol: "tcp",
        group: None,
    }
}

fn ev(i: u32) -> Event {
    Event::VrrpInstance {
        instance: format!("VI_{}", i % 50),
        from: if i % 2 == 0 {
            VrrpStateName::Backup
        } else {
            VrrpStateName::Master
        },
        to: if i % 2 == 0 {
            VrrpStateName::Master
        } else {
            VrrpStateName::Backup
        },
        priority: 100,
        reason: "bench".into(),
    }
}

fn per_op(label: &str, n: u32, d: Duration) {
    println!(
        "{label}: {n} ops in {d:?} = {:.2} µs/op",
        d.as_secs_f64() * 1e6 / n as f64
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    // A port nobody listens on: every alert waits for retries in the queue.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = Config {
        global: GlobalDefs {
            notification_email: vec!["ops@example.com".into()],
            smtp_server: Some(SmtpServer {
                host: "127.0.0.1".into(),
                port,
            }),
            smtp_alert: Some(true),
            router_id: Some("bench".into()),
            notify_fifo: Some(NotifyFifo {
                path: dir.path().join("fifo").to_string_lossy().into_owned(),
                script: None,
                owner: None,
                script_user: None,
            }),
            ..Default::default()
        },
        ..Default::default()
    };

    rt.block_on(async {
        let n = 20_000;
        let handle = spawn_alerter(
            &cfg,
            AlertOptions {
                queue_capacity: n as usize + 10,
                backoff_initial: Duration::from_secs(60),
                ..Default::default()
            },
        );
        let t = Instant::now();
        for i in 0..n {
            handle.send(&ev(i));
        }
        per_op("AlertHandle::send (server down, queued)", n, t.elapsed());

        // The fifo has no reader: after the pipe buffer fills, writes fail fast (EAGAIN).
        let mut fifos = FifoWriters::open(&cfg.global).unwrap();
        let t = Instant::now();
        for i in 0..n {
            fifos.write_event(&ev(i));
        }
        per_op("FifoWriters::write_event (no reader)", n, t.elapsed());
        drop(fifos);

        let status = Arc::new(StatusBoard::new(StatusSnapshot::from_config(
            &cfg,
            "bench",
            None,
            SystemTime::now(),
        )));
        let metrics = Arc::new(Metrics::new());
        let mut consumers = EventConsumers::start(
            &Config {
                global: GlobalDefs {
                    notify_fifo: None,
                    ..cfg.global.clone()
                },
                ..Default::default()
            },
            status,
            metrics.clone(),
        )
        .unwrap();
        let t = Instant::now();
        for i in 0..n {
            consumers.consume(&ev(i));
        }
        per_op(
            "EventConsumers::consume (status+metrics+alert, logging off)",
            n,
            t.elapsed(),
        );

        let m = Metrics::new();
        for i in 0..500u32 {
            let vs = ep([192, 0, 2, (i / 20) as u8], 80);
            let rs = ep([10, 0, (i / 250) as u8, (i % 250) as u8], 80);
            m.realserver_up(&vs, &rs, true);
            m.realserver_weight(&vs, &rs, 1);
            m.check_done(&vs, &rs, 0.002, true);
        }
        for i in 0..50 {
            m.observe_event(&ev(i));
            m.vrrp_advert_sent(&format!("VI_{i}"));
            m.vrrp_dropped(&format!("VI_{i}"), "ttl");
        }
        let reps = 200;
        let t = Instant::now();
        let mut bytes = 0;
        for _ in 0..reps {
            bytes = m.render().len();
        }
        per_op(
            &format!("Metrics::render (500 rs, 50 instances, {bytes} bytes)"),
            reps,
            t.elapsed(),
        );

        // An engine updating a counter while scrapes run back to back: how long can it wait?
        let m = Arc::new(m);
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let scraper = {
            let (m, stop) = (m.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    std::hint::black_box(m.render());
                }
            })
        };
        let mut worst = Duration::ZERO;
        let t = Instant::now();
        let updates = 20_000;
        for _ in 0..updates {
            let u = Instant::now();
            m.vrrp_advert_sent("VI_1");
            worst = worst.max(u.elapsed());
        }
        let total = t.elapsed();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        scraper.join().unwrap();
        per_op(
            "Metrics::vrrp_advert_sent during continuous scrapes",
            updates,
            total,
        );
        println!("  worst single update during scrapes: {worst:?}");
    });
}
