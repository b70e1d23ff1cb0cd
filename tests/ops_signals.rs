//! keepalived's dump signals: SIGUSR1, SIGUSR2 and SIGRTMIN+2 write the data, stats and JSON
//! dumps. (Own test binary: the signals go to this process.)

use rampart::daemon::metrics::Metrics;
use rampart::daemon::status::{StatusBoard, StatusSnapshot, spawn_dump_signals};
use rampart::events::{Event, VrrpStateName};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

async fn wait_for(path: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(s) = std::fs::read_to_string(path) {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{} not written", path.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dump_signals_write_keepalived_files() {
    let cfg = rampart::config::Config::default();
    let board = Arc::new(StatusBoard::new(StatusSnapshot::from_config(
        &cfg,
        "lb1",
        None,
        SystemTime::now(),
    )));
    let metrics = Arc::new(Metrics::new());
    let ev = Event::VrrpInstance {
        instance: "VI_1".into(),
        from: VrrpStateName::Backup,
        to: VrrpStateName::Master,
        priority: 100,
        reason: String::new(),
    };
    board.apply(&ev);
    metrics.observe_event(&ev);
    let dir = tempfile::tempdir().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let task = spawn_dump_signals(board, Some(metrics), dir.path().to_path_buf(), stop_rx).unwrap();

    let me = nix::unistd::Pid::this();
    nix::sys::signal::kill(me, nix::sys::signal::Signal::SIGUSR1).unwrap();
    let data = wait_for(&dir.path().join("keepalived.data")).await;
    assert!(
        data.contains(" VRRP Instance = VI_1\n   State = MASTER\n"),
        "{data}"
    );

    nix::sys::signal::kill(me, nix::sys::signal::Signal::SIGUSR2).unwrap();
    let stats = wait_for(&dir.path().join("keepalived.stats")).await;
    assert!(stats.contains("  Became master: 1\n"), "{stats}");

    assert_eq!(
        unsafe { libc::kill(libc::getpid(), libc::SIGRTMIN() + 2) },
        0
    );
    let json = wait_for(&dir.path().join("keepalived.json")).await;
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v[0]["data"]["iname"], "VI_1");

    stop_tx.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
}
