//! Conformance cases as data: tests/check_conformance/<case>/ holds `keepalived.conf`,
//! `input.jsonl` (probe results and shutdown at virtual times) and `output.jsonl` (every action
//! the core emitted and the desired table after each input). `RAMPART_UPDATE_GOLDEN=1`
//! regenerates the outputs; review the diff.
//!
//! input lines: `{"t": 1.5, "probe": 0, "up": false}`, `{"t": 2, "probe": 1, "up": true,
//! "weight": 7}`, `{"t": 9, "shutdown": true}`, `{"t": 3, "track_file": "f1", "value": -2}` (a
//! FILE_CHECK's file read; files start at 0). Probe ids number the distinct checks in
//! configuration order (identical checks share one id).

use rampart::check::core::{Action, Core, Input, ProbeId};
use rampart::check::probe::Outcome;
use rampart::config::{LoadOptions, load_file};
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};

fn table_json(core: &Core) -> Value {
    let mut m = serde_json::Map::new();
    for (k, e) in &core.desired().services {
        let key = match k {
            rampart::ipvs::table::ServiceKey::Addr {
                protocol,
                addr,
                port,
            } => format!("{}:[{addr}]:{port}", format!("{protocol:?}").to_lowercase()),
            rampart::ipvs::table::ServiceKey::Fwmark { mark, .. } => format!("fwm:{mark}"),
        };
        let dests: serde_json::Map<String, Value> = e
            .dests
            .iter()
            .map(|(d, s)| (format!("[{}]:{}", d.addr, d.port), json!(s.weight)))
            .collect();
        m.insert(key, Value::Object(dests));
    }
    Value::Object(m)
}

fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

fn action_json(a: &Action, t0: Instant) -> Value {
    match a {
        Action::Schedule { probe, at } => json!({"schedule": probe.0, "at": secs(*at - t0)}),
        Action::Emit(ev) => json!({ "emit": ev }),
        Action::RunScript { command, why } => json!({"script": command.raw, "why": why}),
        Action::TableChanged => json!({"table_changed": true}),
        Action::Run { probe } => json!({"run": probe.0}),
        Action::Log(msg) => json!({ "log": msg }),
    }
}

fn run_case(dir: &Path) -> String {
    let loaded = load_file(&dir.join("keepalived.conf"), &LoadOptions::default())
        .unwrap_or_else(|d| panic!("{}: {:?}", dir.display(), d));
    let (mut core, errors) = Core::new(&loaded.config, 42);
    assert!(errors.is_empty(), "{errors:?}");
    let t0 = Instant::now();
    let mut out = Vec::new();
    // As the shell: the initial table weights are reported, then the first checks scheduled.
    let mut start_actions = core.report_weights();
    start_actions.extend(core.start(t0));
    let start: Vec<Value> = start_actions.iter().map(|a| action_json(a, t0)).collect();
    out.push(json!({"t": 0.0, "start": start, "table": table_json(&core)}));
    let input = std::fs::read_to_string(dir.join("input.jsonl")).expect("input.jsonl");
    for (n, line) in input
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("{}:{}: {e}", dir.display(), n + 1));
        let t = v["t"].as_f64().expect("t");
        let now = t0 + Duration::from_secs_f64(t);
        let input = if v["shutdown"].as_bool() == Some(true) {
            Input::Shutdown
        } else if let Some(name) = v["track_file"].as_str() {
            Input::TrackFile {
                name: name.to_string(),
                value: v["value"].as_i64().expect("value"),
            }
        } else {
            let probe = ProbeId(v["probe"].as_u64().expect("probe") as usize);
            let outcome = if v["up"].as_bool().expect("up") {
                Outcome::Up {
                    weight: v["weight"].as_u64().map(|w| w as u32),
                }
            } else {
                Outcome::Down {
                    reason: "test: down".into(),
                }
            };
            Input::Result { probe, outcome }
        };
        let actions: Vec<Value> = core
            .step(input, now)
            .iter()
            .map(|a| action_json(a, t0))
            .collect();
        out.push(json!({"t": t, "input": v, "actions": actions, "table": table_json(&core)}));
    }
    out.iter().map(|v| format!("{v}\n")).collect()
}

#[test]
fn conformance_cases() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/check_conformance");
    let update = std::env::var_os("RAMPART_UPDATE_GOLDEN").is_some();
    let mut cases: Vec<_> = std::fs::read_dir(&root)
        .expect("cases dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(!cases.is_empty());
    let mut failed = Vec::new();
    for dir in cases {
        let got = run_case(&dir);
        let path = dir.join("output.jsonl");
        if update {
            std::fs::write(&path, &got).expect("write output");
            continue;
        }
        let want = std::fs::read_to_string(&path).unwrap_or_default();
        if got != want {
            failed.push(format!(
                "{}: output differs (RAMPART_UPDATE_GOLDEN=1 to regenerate)\n--- got\n{got}",
                dir.display()
            ));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}
