//! The control socket round trip: the daemon side (status board, reload hook) and the real
//! `rampart status` / `rampart reload` clients; plus keepalived's signal dumps.

use rampart::daemon::control::{
    self, ControlError, ControlHandler, ControlServer, ReloadReply, Request,
};
use rampart::daemon::metrics::Metrics;
use rampart::daemon::status::{self, StatusBoard, StatusSnapshot};
use rampart::events::{Endpoint, Event, VrrpStateName};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

fn ep(addr: &str, port: u16) -> Endpoint {
    Endpoint {
        addr: Some(addr.parse().unwrap()),
        port: Some(port),
        fwmark: None,
        protocol: "tcp",
        group: None,
    }
}

fn board() -> (Arc<StatusBoard>, Arc<Metrics>) {
    let cfg = rampart::config::Config::default();
    let snap = StatusSnapshot::from_config(
        &cfg,
        "lb1",
        Some(Path::new("/etc/rampart/rampart.conf")),
        SystemTime::now(),
    );
    let board = Arc::new(StatusBoard::new(snap));
    let metrics = Arc::new(Metrics::new());
    let events = [
        Event::VrrpInstance {
            instance: "VI_1".into(),
            from: VrrpStateName::Backup,
            to: VrrpStateName::Master,
            priority: 150,
            reason: "master down timer expired".into(),
        },
        Event::VrrpSyncGroup {
            group: "VG_1".into(),
            from: VrrpStateName::Backup,
            to: VrrpStateName::Master,
            reason: "all members MASTER".into(),
        },
        Event::RealServer {
            virtual_server: ep("192.168.200.100", 80),
            real_server: ep("192.168.201.100", 80),
            up: false,
            reason: "connection refused".into(),
        },
        Event::Quorum {
            virtual_server: ep("192.168.200.100", 80),
            gained: false,
            alive_weight: 0,
            quorum: 1,
        },
    ];
    for ev in &events {
        board.apply(ev);
        metrics.observe_event(ev);
    }
    metrics.vrrp_advert_sent("VI_1");
    metrics.vrrp_dropped("VI_1", "ttl");
    board.set_effective_weight(&ep("192.168.200.100", 80), &ep("192.168.201.100", 80), 0);
    (board, metrics)
}

fn rampart(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args(args)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_socket_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("run/rampart.sock");
    let (board, metrics) = board();
    let (reload_tx, mut reload_rx) = tokio::sync::mpsc::channel(4);
    // The daemon's side of reloads: a plan is always fine; applying is refused.
    tokio::spawn(async move {
        while let Some(req) = reload_rx.recv().await {
            let req: control::ReloadRequest = req;
            let reply = if req.plan_only {
                ReloadReply {
                    ok: true,
                    applied: false,
                    plan: vec!["ipvs: set weight 3 on [192.168.201.100]:tcp:80".into()],
                    messages: vec![],
                }
            } else {
                ReloadReply {
                    ok: false,
                    applied: false,
                    plan: vec![],
                    messages: vec!["rampart.conf:3:5: error: unknown keyword `priorty`".into()],
                }
            };
            let _ = req.reply.send(reply);
        }
    });
    let server = ControlServer::bind(&sock).unwrap();
    let mode = std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "control socket mode");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let handler = ControlHandler {
        status: board.clone(),
        metrics: Some(metrics.clone()),
        reload: Some(reload_tx),
    };
    let served = tokio::spawn(server.run(handler, stop_rx));

    // A second daemon must not steal the socket.
    match ControlServer::bind(&sock) {
        Err(ControlError::InUse { .. }) => {}
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("bound a socket that is in use"),
    }

    let s = sock.clone();
    let resp = tokio::task::spawn_blocking(move || {
        control::call(&s, &Request::Status, Duration::from_secs(5))
    })
    .await
    .unwrap()
    .unwrap();
    assert!(resp.ok);
    let st = resp.status.unwrap();
    assert_eq!(st.router_id, "lb1");
    assert_eq!(st.instances[0].name, "VI_1");
    assert_eq!(st.instances[0].state, "MASTER");
    assert_eq!(st.instances[0].effective_priority, 150);
    assert_eq!(st.instances[0].stats.adverts_sent, 1);
    assert_eq!(st.instances[0].stats.dropped.get("ttl"), Some(&1));
    assert_eq!(st.sync_groups[0].state, "MASTER");
    assert_eq!(st.virtual_servers[0].quorum_up, Some(false));
    assert_eq!(st.virtual_servers[0].real_servers[0].state, "DOWN");
    assert_eq!(
        st.virtual_servers[0].real_servers[0].effective_weight,
        Some(0)
    );

    let sock_s = sock.to_str().unwrap().to_string();
    let out = tokio::task::spawn_blocking({
        let s = sock_s.clone();
        move || rampart(&["status", "--socket", &s])
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "rampart status failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for want in [
        "VRRP instances",
        "VI_1",
        "MASTER",
        "150/150",
        "BACKUP->MASTER",
        "(master down timer expired)",
        "Sync groups",
        "VG_1",
        "[192.168.200.100]:tcp:80",
        "quorum DOWN",
        "  -> [192.168.201.100]:tcp:80",
        "(connection refused)",
    ] {
        assert!(text.contains(want), "{want:?} missing in:\n{text}");
    }

    let out = tokio::task::spawn_blocking({
        let s = sock_s.clone();
        move || rampart(&["status", "--json", "--socket", &s])
    })
    .await
    .unwrap();
    assert!(out.status.success());
    let parsed: StatusSnapshot = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(parsed.instances[0].state, "MASTER");

    let out = tokio::task::spawn_blocking({
        let s = sock_s.clone();
        move || rampart(&["reload", "--plan", "--socket", &s])
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("ipvs: set weight 3 on [192.168.201.100]:tcp:80"),
        "{text}"
    );
    assert!(text.contains("nothing applied"), "{text}");

    let out = tokio::task::spawn_blocking({
        let s = sock_s.clone();
        move || rampart(&["reload", "--socket", &s])
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(1), "a refused reload exits 1");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown keyword `priorty`"), "{err}");

    // Raw protocol: a bad request gets an error line, and the connection stays usable.
    let s = sock.clone();
    tokio::task::spawn_blocking(move || {
        let mut c = std::os::unix::net::UnixStream::connect(&s).unwrap();
        c.write_all(b"{\"cmd\":\"explode\"}\nstatus\n").unwrap();
        let mut r = BufReader::new(c.try_clone().unwrap());
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["ok"], false);
        assert!(v["error"].as_str().unwrap().contains("expected"));
        line.clear();
        r.read_line(&mut line).unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["ok"], true);
        assert_eq!(v["status"]["instances"][0]["name"], "VI_1");
    })
    .await
    .unwrap();

    stop_tx.send(true).unwrap();
    served.await.unwrap();
    assert!(!sock.exists(), "socket removed at shutdown");

    // No daemon: the client says so and exits 1.
    let out = rampart(&["status", "--socket", &sock_s]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is it running?"));
}

#[test]
fn stale_socket_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("rampart.sock");
    drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
    assert!(sock.exists());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        ControlServer::bind(&sock).expect("stale socket replaced");
    });
}

#[test]
fn keepalived_signal_dumps() {
    let (board, metrics) = board();
    let snap = board.snapshot(Some(&metrics));
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("keepalived.data");
    let stats = dir.path().join("keepalived.stats");
    let json = dir.path().join("keepalived.json");
    status::write_data_dump(&snap, &data).unwrap();
    status::write_stats_dump(&snap, &stats).unwrap();
    status::write_json_dump(&snap, &json).unwrap();
    let d = std::fs::read_to_string(&data).unwrap();
    assert!(
        d.contains("------< VRRP Topology >------\n VRRP Instance = VI_1\n   State = MASTER\n"),
        "{d}"
    );
    assert!(d.contains("------< LVS Topology >------"), "{d}");
    let s = std::fs::read_to_string(&stats).unwrap();
    assert!(s.starts_with("VRRP Instance: VI_1\n  Advertisements:\n    Received: 0\n    Sent: 1\n  Became master: 1\n"), "{s}");
    assert!(s.contains("    TTL: 1\n"), "{s}");
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(j[0]["data"]["iname"], "VI_1");
    assert_eq!(j[0]["data"]["state"], 2);
    assert_eq!(j[0]["stats"]["advert_sent"], 1);
    assert_eq!(
        std::fs::metadata(&json).unwrap().permissions().mode() & 0o777,
        0o644
    );
    assert_eq!(status::KEEPALIVED_DATA_FILE, "/tmp/keepalived.data");
    assert_eq!(status::KEEPALIVED_STATS_FILE, "/tmp/keepalived.stats");
    assert_eq!(status::KEEPALIVED_JSON_FILE, "/tmp/keepalived.json");
}
