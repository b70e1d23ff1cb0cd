//! Conformance cases as data: `tests/vrrp_core/<case>/instance.json` (the instance's
//! parameters), then `NN-input.jsonl` (one `{"at_us": T, "input": ...}` per line) and the
//! expected `NN-output-actions.jsonl` (one `{"at_us": T, "actions": [...]}` per input line).
//! Regenerate the expected outputs with `RAMPART_UPDATE_GOLDEN=1 cargo test --test
//! vrrp_core_conformance` and review the diff.

use rampart::vrrp::fsm::{Action, Input, Instance, InstanceParams};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Deserialize)]
struct InputLine {
    at_us: u64,
    input: Input,
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
    let params_text = std::fs::read_to_string(dir.join("instance.json"))
        .map_err(|e| format!("{}: {e}", dir.join("instance.json").display()))?;
    let params: InstanceParams = serde_json::from_str(&params_text)
        .map_err(|e| format!("{}/instance.json: {e}", dir.display()))?;
    let mut inst = Instance::new(params);
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
        let mut got = Vec::new();
        for (n, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let il: InputLine = serde_json::from_str(line)
                .map_err(|e| format!("{}:{}: {e}", input_path.display(), n + 1))?;
            let actions = inst.step(il.input, t0 + Duration::from_micros(il.at_us));
            got.push(OutputLine {
                at_us: il.at_us,
                actions,
            });
        }
        let out_path = PathBuf::from(
            input_path
                .to_string_lossy()
                .replace("-input.jsonl", "-output-actions.jsonl"),
        );
        let rendered: String = got
            .iter()
            .map(|l| serde_json::to_string(l).unwrap() + "\n")
            .collect();
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
