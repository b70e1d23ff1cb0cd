//! The metrics endpoint, scraped over HTTP and parsed by the reference Prometheus text-format
//! parser (python3-prometheus-client).

use rampart::daemon::metrics::{IpvsCounters, Metrics, MetricsServer};
use rampart::events::{Endpoint, Event, VrrpStateName};
use serde_json::Value;
use std::sync::Arc;

fn ep(addr: &str, port: u16) -> Endpoint {
    Endpoint {
        addr: Some(addr.parse().unwrap()),
        port: Some(port),
        fwmark: None,
        protocol: "tcp",
        group: None,
    }
}

/// The value of the sample `name` whose labels include all of `labels`.
fn sample(families: &[Value], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    families
        .iter()
        .flat_map(|f| f["samples"].as_array().unwrap().iter())
        .find(|s| {
            s["name"] == name
                && labels
                    .iter()
                    .all(|(k, v)| s["labels"][*k].as_str() == Some(*v))
        })
        .and_then(|s| s["value"].as_f64())
}

fn family_type<'a>(families: &'a [Value], name: &str) -> Option<&'a str> {
    families
        .iter()
        .find(|f| f["name"] == name)
        .and_then(|f| f["type"].as_str())
}

/// A Python that has the reference parser: Debian's python3-prometheus-client under
/// /usr/bin/python3, else the `python3` on PATH with prometheus_client from PyPI (installed
/// here if missing).
fn python_with_prometheus_client() -> &'static str {
    let has = |py: &str| {
        std::process::Command::new(py)
            .args(["-c", "import prometheus_client.parser"])
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if has("/usr/bin/python3") {
        return "/usr/bin/python3";
    }
    if !has("python3") {
        let ok = std::process::Command::new("python3")
            .args(["-m", "pip", "install", "--quiet", "prometheus_client"])
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "no prometheus_client: apt-get install python3-prometheus-client"
        );
    }
    "python3"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_endpoint_parses_with_the_prometheus_parser() {
    let m = Arc::new(Metrics::new());
    let vs = ep("192.168.200.100", 80);
    let rs1 = ep("192.168.201.100", 80);
    let rs2 = ep("192.168.201.101", 80);
    m.observe_event(&Event::VrrpInstance {
        instance: "VI_1".into(),
        from: VrrpStateName::Backup,
        to: VrrpStateName::Master,
        priority: 150,
        reason: "master down timer".into(),
    });
    m.observe_event(&Event::VrrpSyncGroup {
        group: "VG \"quoted\"".into(),
        from: VrrpStateName::Backup,
        to: VrrpStateName::Master,
        reason: String::new(),
    });
    for _ in 0..3 {
        m.vrrp_advert_sent("VI_1");
    }
    m.vrrp_advert_received("VI_1");
    m.vrrp_dropped("VI_1", "bad_checksum");
    m.vrrp_dropped("VI_1", "ttl");
    m.vrrp_dropped("VI_1", "ttl");
    m.observe_event(&Event::RealServer {
        virtual_server: vs.clone(),
        real_server: rs1.clone(),
        up: true,
        reason: String::new(),
    });
    m.observe_event(&Event::RealServer {
        virtual_server: vs.clone(),
        real_server: rs2.clone(),
        up: false,
        reason: "timeout".into(),
    });
    m.realserver_weight(&vs, &rs1, 3);
    m.realserver_weight(&vs, &rs2, 0);
    m.check_done(&vs, &rs1, 0.002, true);
    m.check_done(&vs, &rs2, 5.0, false);
    m.observe_event(&Event::Quorum {
        virtual_server: vs.clone(),
        gained: true,
        alive_weight: 3,
        quorum: 1,
    });
    m.ipvs_stats(
        &vs,
        None,
        &IpvsCounters {
            connections: 10,
            packets_in: 100,
            packets_out: 90,
            bytes_in: 10_000,
            bytes_out: 90_000,
            ..Default::default()
        },
    );
    m.ipvs_stats(
        &vs,
        Some(&rs1),
        &IpvsCounters {
            connections: 10,
            active_connections: 2,
            inactive_connections: 5,
            ..Default::default()
        },
    );
    m.observe_event(&Event::Reload {
        ok: false,
        detail: "errors".into(),
    });
    m.observe_event(&Event::Reload {
        ok: true,
        detail: String::new(),
    });

    let server = MetricsServer::bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr().unwrap();
    let (_stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(server.run(m.clone(), stop_rx));

    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/ops_data/scrape_metrics.py"
    );
    let url = format!("http://{addr}/metrics");
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python_with_prometheus_client())
            .arg(script)
            .arg(url)
            .output()
            .expect("run the scrape script")
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "the Prometheus parser rejected the scrape:\n{}\n--- text:\n{}",
        String::from_utf8_lossy(&out.stderr),
        m.render()
    );
    let parsed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        parsed["content_type"]
            .as_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let f = parsed["families"].as_array().unwrap().clone();
    let vi = [("instance", "VI_1")];
    let vsrs1 = [
        ("vs", "[192.168.200.100]:tcp:80"),
        ("rs", "[192.168.201.100]:tcp:80"),
    ];
    let vsrs2 = [
        ("vs", "[192.168.200.100]:tcp:80"),
        ("rs", "[192.168.201.101]:tcp:80"),
    ];
    let vsl = [("vs", "[192.168.200.100]:tcp:80")];

    assert_eq!(sample(&f, "rampart_vrrp_state", &vi), Some(2.0));
    assert_eq!(family_type(&f, "rampart_vrrp_state"), Some("gauge"));
    assert_eq!(
        sample(&f, "rampart_vrrp_effective_priority", &vi),
        Some(150.0)
    );
    // The parser strips `_total` from counter family names and keeps it on samples.
    assert_eq!(family_type(&f, "rampart_vrrp_transitions"), Some("counter"));
    assert_eq!(sample(&f, "rampart_vrrp_transitions_total", &vi), Some(1.0));
    assert_eq!(
        sample(&f, "rampart_vrrp_adverts_sent_total", &vi),
        Some(3.0)
    );
    assert_eq!(
        sample(&f, "rampart_vrrp_adverts_received_total", &vi),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &f,
            "rampart_vrrp_dropped_total",
            &[("instance", "VI_1"), ("reason", "ttl")]
        ),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &f,
            "rampart_vrrp_dropped_total",
            &[("instance", "VI_1"), ("reason", "bad_checksum")]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &f,
            "rampart_vrrp_sync_group_state",
            &[("group", "VG \"quoted\"")]
        ),
        Some(2.0)
    );
    assert_eq!(sample(&f, "rampart_realserver_up", &vsrs1), Some(1.0));
    assert_eq!(sample(&f, "rampart_realserver_up", &vsrs2), Some(0.0));
    assert_eq!(sample(&f, "rampart_realserver_weight", &vsrs1), Some(3.0));
    assert_eq!(
        family_type(&f, "rampart_check_duration_seconds"),
        Some("histogram")
    );
    assert_eq!(
        sample(&f, "rampart_check_duration_seconds_count", &vsrs2),
        Some(1.0)
    );
    assert_eq!(
        sample(&f, "rampart_check_duration_seconds_sum", &vsrs2),
        Some(5.0)
    );
    let le = [vsrs1[0], vsrs1[1], ("le", "0.0025")];
    assert_eq!(
        sample(&f, "rampart_check_duration_seconds_bucket", &le),
        Some(1.0)
    );
    let le = [vsrs2[0], vsrs2[1], ("le", "2.5")];
    assert_eq!(
        sample(&f, "rampart_check_duration_seconds_bucket", &le),
        Some(0.0)
    );
    let le = [vsrs2[0], vsrs2[1], ("le", "+Inf")];
    assert_eq!(
        sample(&f, "rampart_check_duration_seconds_bucket", &le),
        Some(1.0)
    );
    assert_eq!(
        sample(&f, "rampart_check_failures_total", &vsrs2),
        Some(1.0)
    );
    assert_eq!(
        sample(&f, "rampart_virtualserver_quorum_up", &vsl),
        Some(1.0)
    );
    assert_eq!(
        sample(&f, "rampart_ipvs_bytes_out_total", &vsl),
        Some(90_000.0)
    );
    assert_eq!(
        sample(&f, "rampart_ipvs_active_connections", &vsrs1),
        Some(2.0)
    );
    assert_eq!(sample(&f, "rampart_alerts_sent_total", &[]), Some(0.0));
    assert_eq!(sample(&f, "rampart_alerts_failed_total", &[]), Some(0.0));
    assert_eq!(sample(&f, "rampart_config_reloads_total", &[]), Some(1.0));
    assert_eq!(
        sample(&f, "rampart_config_reload_failures_total", &[]),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &f,
            "rampart_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        Some(1.0)
    );
}
