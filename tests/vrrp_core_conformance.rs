//! Conformance cases as data: `tests/vrrp_core/<case>/instance.json` (the instance's
//! parameters), then `NN-input.jsonl` (one `{"at_us": T, "input": ...}` per line) and the
//! expected `NN-output-actions.jsonl` (one `{"at_us": T, "actions": [...]}` per input line).
//! A case with `node.json` instead (`{"instances": [params...], "groups": [{"name", "members"}]}`)
//! runs a whole [`Node`] with sync groups: input lines then carry `"instance": N` and the
//! outputs are node actions (instance actions and group transitions).
//! Regenerate the expected outputs with `RAMPART_UPDATE_GOLDEN=1 cargo test --test
//! vrrp_core_conformance` and review the diff.

use rampart::vrrp::fsm::{Action, Input, Instance, InstanceParams};
use rampart::vrrp::{Node, NodeAction, SyncGroupCore};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Deserialize)]
struct InputLine {
    at_us: u64,
    /// Node cases: which instance the input is for.
    #[serde(default)]
    instance: usize,
    input: Input,
}

#[derive(Deserialize)]
struct GroupSpec {
    name: String,
    members: Vec<String>,
}

#[derive(Deserialize)]
struct NodeSpec {
    instances: Vec<InstanceParams>,
    groups: Vec<GroupSpec>,
}

#[derive(Serialize)]
struct NodeOutputLine {
    at_us: u64,
    actions: Vec<NodeAction>,
}

/// What a case runs: one instance, or a node of instances and sync groups.
enum Subject {
    One(Box<Instance>),
    Node(Node),
}

impl Subject {
    fn load(dir: &Path) -> Result<Subject, String> {
        let read = |name: &str| {
            std::fs::read_to_string(dir.join(name))
                .map_err(|e| format!("{}: {e}", dir.join(name).display()))
        };
        if dir.join("node.json").exists() {
            let spec: NodeSpec = serde_json::from_str(&read("node.json")?)
                .map_err(|e| format!("{}/node.json: {e}", dir.display()))?;
            let groups = spec
                .groups
                .into_iter()
                .map(|g| SyncGroupCore::new(g.name, g.members))
                .collect();
            let instances = spec.instances.into_iter().map(Instance::new).collect();
            return Ok(Subject::Node(Node::new(instances, groups)));
        }
        let params: InstanceParams = serde_json::from_str(&read("instance.json")?)
            .map_err(|e| format!("{}/instance.json: {e}", dir.display()))?;
        Ok(Subject::One(Box::new(Instance::new(params))))
    }

    /// Run one input line; the rendered output line.
    fn step(&mut self, il: InputLine, now: Instant) -> String {
        match self {
            Subject::One(inst) => serde_json::to_string(&OutputLine {
                at_us: il.at_us,
                actions: inst.step(il.input, now),
            }),
            Subject::Node(node) => serde_json::to_string(&NodeOutputLine {
                at_us: il.at_us,
                actions: node.step(il.instance, il.input, now),
            }),
        }
        .unwrap_or_default()
    }
}

#[derive(Serialize, Deserialize, PartialEq, Debug)]
struct OutputLine {
    at_us: u64,
    actions: Vec<Action>,
}

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vrrp_core")
}

fn run_case(dir: &Path, update: bool) -> Result<(), String> {
    let mut subject = Subject::load(dir)?;
    let t0 = Instant::now();
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with("-input.jsonl"))
        .collect();
    inputs.sort();
    if inputs.is_empty() {
        return Err(format!("{}: no NN-input.jsonl", dir.display()));
    }
    for input_path in inputs {
        let text = std::fs::read_to_string(&input_path).map_err(|e| e.to_string())?;
        let mut rendered = String::new();
        for (n, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let il: InputLine = serde_json::from_str(line)
                .map_err(|e| format!("{}:{}: {e}", input_path.display(), n + 1))?;
            let now = t0 + Duration::from_micros(il.at_us);
            rendered.push_str(&subject.step(il, now));
            rendered.push('\n');
        }
        let out_path = PathBuf::from(
            input_path
                .to_string_lossy()
                .replace("-input.jsonl", "-output-actions.jsonl"),
        );
        if update {
            std::fs::write(&out_path, &rendered).map_err(|e| e.to_string())?;
            continue;
        }
        let want = std::fs::read_to_string(&out_path).map_err(|e| {
            format!(
                "{}: {e} (run with RAMPART_UPDATE_GOLDEN=1 to create it)",
                out_path.display()
            )
        })?;
        for (n, (w, g)) in want.lines().zip(rendered.lines()).enumerate() {
            if w != g {
                return Err(format!(
                    "{} line {}:\n  want {w}\n  got  {g}",
                    out_path.display(),
                    n + 1
                ));
            }
        }
        if want.lines().count() != rendered.lines().count() {
            return Err(format!("{}: line count differs", out_path.display()));
        }
    }
    Ok(())
}

#[test]
fn vrrp_core_conformance_cases() {
    let update = std::env::var_os("RAMPART_UPDATE_GOLDEN").is_some();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(cases_dir())
        .expect("tests/vrrp_core exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(!dirs.is_empty());
    let failures: Vec<String> = dirs
        .iter()
        .filter_map(|d| run_case(d, update).err())
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
