//! Rust side of the IPVS test VM (tests/vm/, see tests/vm/README.md): boots a scenario script through
//! `tests/vm/run-vm.sh` and splits its output into the sections `lib.sh`'s `section` framed.
//!
//! Use from an integration test with `#[path = "common/vm.rs"] mod vm;`. A VM boot costs seconds
//! (TCG), so a test file boots once (e.g. behind a `OnceLock`) and its tests check sections.
#![allow(dead_code)]

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Repository root (where tests/vm/ lives).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Why the VM cannot run on this machine, if it cannot (only a missing qemu; CI installs it).
pub fn unavailable_reason() -> Option<String> {
    let found = std::env::var_os("PATH")
        .map(|paths| {
            std::env::split_paths(&paths).any(|dir| dir.join("qemu-system-x86_64").is_file())
        })
        .unwrap_or(false);
    if found {
        None
    } else {
        Some("qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)".to_string())
    }
}

/// Prints a loud skip notice; returns true when the caller should skip.
pub fn skip_if_unavailable(test: &str) -> bool {
    match unavailable_reason() {
        Some(why) => {
            eprintln!("\n!!!!! SKIPPED {test}: the IPVS test VM cannot run here: {why} !!!!!\n");
            true
        }
        None => false,
    }
}

/// A scenario to boot: a script run as /scenario.sh, files copied in, environment for it.
#[derive(Debug, Clone)]
pub struct Scenario {
    script: PathBuf,
    files: Vec<String>,
    env: Vec<(String, String)>,
    timeout_secs: u32,
    memory_mb: u32,
    rampart_bin: Option<PathBuf>,
}

impl Scenario {
    /// `script` is relative to the repository root or absolute.
    pub fn new(script: impl AsRef<Path>) -> Scenario {
        Scenario {
            script: repo_root().join(script),
            files: Vec::new(),
            env: Vec::new(),
            timeout_secs: 300,
            memory_mb: 512,
            rampart_bin: option_env!("CARGO_BIN_EXE_rampart").map(PathBuf::from),
        }
    }

    /// A scenario given as text (written to a file under target/tmp named after `name`).
    pub fn inline(name: &str, script: &str) -> Scenario {
        let dir = PathBuf::from(option_env!("CARGO_TARGET_TMPDIR").unwrap_or("/tmp"))
            .join("vm-scenarios");
        let path = dir.join(format!("{name}-{}.sh", std::process::id()));
        if let Err(e) = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, script)) {
            panic!("cannot write the scenario {}: {e}", path.display());
        }
        Scenario::new(path)
    }

    /// Copies `path` (relative to the repository root or absolute) to /files/BASENAME in the VM.
    pub fn file(mut self, path: impl AsRef<Path>) -> Scenario {
        self.files
            .push(repo_root().join(path).display().to_string());
        self
    }

    /// Copies `path` to `dest` (absolute) in the VM.
    pub fn file_at(mut self, path: impl AsRef<Path>, dest: &str) -> Scenario {
        self.files
            .push(format!("{}:{dest}", repo_root().join(path).display()));
        self
    }

    pub fn env(mut self, name: &str, value: &str) -> Scenario {
        self.env.push((name.to_string(), value.to_string()));
        self
    }

    pub fn timeout_secs(mut self, secs: u32) -> Scenario {
        self.timeout_secs = secs;
        self
    }

    pub fn memory_mb(mut self, mb: u32) -> Scenario {
        self.memory_mb = mb;
        self
    }

    /// The rampart binary installed as /usr/local/bin/rampart (default: this crate's test build).
    pub fn rampart_bin(mut self, path: impl AsRef<Path>) -> Scenario {
        self.rampart_bin = Some(path.as_ref().to_path_buf());
        self
    }

    /// Boots the VM once; Ok even when the scenario failed (see `VmRun::status`), Err when the harness
    /// did (no output markers, time limit).
    pub fn run(&self) -> Result<VmRun, VmError> {
        let mut cmd = Command::new(repo_root().join("tests/vm/run-vm.sh"));
        cmd.arg("-t").arg(self.timeout_secs.to_string());
        cmd.arg("-m").arg(self.memory_mb.to_string());
        for (k, v) in &self.env {
            cmd.arg("-e").arg(format!("{k}={v}"));
        }
        cmd.arg(&self.script).args(&self.files);
        let bin = std::env::var_os("RAMPART_BIN")
            .map(PathBuf::from)
            .or_else(|| self.rampart_bin.clone());
        match bin {
            Some(bin) => cmd.env("RAMPART_BIN", bin),
            None => cmd.env("RAMPART_BIN", "none"),
        };
        let started = std::time::Instant::now();
        let out = cmd.output().map_err(|e| VmError {
            status: None,
            message: format!("cannot start tests/vm/run-vm.sh: {e}"),
        })?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        eprintln!(
            "vm: {} booted and ran in {:.1}s (exit {:?})",
            self.script.display(),
            started.elapsed().as_secs_f64(),
            out.status.code()
        );
        match out.status.code() {
            Some(124) | Some(125) | None => Err(VmError {
                status: out.status.code(),
                message: format!(
                    "the VM harness failed for {}:\n{stderr}\n--- scenario output ---\n{stdout}",
                    self.script.display()
                ),
            }),
            Some(status) => Ok(VmRun {
                status,
                output: stdout,
                harness_log: stderr,
            }),
        }
    }
}

#[derive(Debug, Clone)]
pub struct VmError {
    pub status: Option<i32>,
    pub message: String,
}

impl fmt::Display for VmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// What one boot produced: the scenario's exit status and its whole output.
#[derive(Debug, Clone)]
pub struct VmRun {
    pub status: i32,
    pub output: String,
    /// run-vm.sh's own messages (image build notes).
    pub harness_log: String,
}

/// One `section NAME ...` of the output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    /// Exit status of the section's command; None when the end marker is missing (VM died inside).
    pub status: Option<i32>,
    pub body: String,
    pub millis: Option<u64>,
}

impl Section {
    pub fn passed(&self) -> bool {
        self.status == Some(0)
    }

    /// The reason when the section skipped itself (first line "SKIP: reason", status 0).
    pub fn skipped(&self) -> Option<&str> {
        if !self.passed() {
            return None;
        }
        self.body
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("SKIP: "))
    }
}

impl VmRun {
    /// Every section in output order.
    pub fn sections(&self) -> Vec<Section> {
        let mut sections = Vec::new();
        let mut current: Option<(String, String)> = None;
        for line in self.output.split_inclusive('\n') {
            let trimmed = line.trim_end_matches('\n');
            if let Some(name) = trimmed
                .strip_prefix("@@SECTION ")
                .and_then(|r| r.strip_suffix("@@"))
            {
                if let Some((name, body)) = current.take() {
                    sections.push(Section {
                        name,
                        status: None,
                        body,
                        millis: None,
                    });
                }
                current = Some((name.to_string(), String::new()));
            } else if let Some(rest) = trimmed
                .strip_prefix("@@SECTION-END ")
                .and_then(|r| r.strip_suffix("@@"))
            {
                let mut words = rest.split(' ');
                let name = words.next().unwrap_or_default().to_string();
                let mut status = None;
                let mut millis = None;
                for w in words {
                    if let Some(v) = w.strip_prefix("rc=") {
                        status = v.parse().ok();
                    } else if let Some(v) = w.strip_prefix("ms=") {
                        millis = v.parse().ok();
                    }
                }
                let body = match current.take() {
                    Some((open, body)) if open == name => body,
                    Some((open, body)) => {
                        sections.push(Section {
                            name: open,
                            status: None,
                            body,
                            millis: None,
                        });
                        String::new()
                    }
                    None => String::new(),
                };
                sections.push(Section {
                    name,
                    status,
                    body,
                    millis,
                });
            } else if let Some((_, body)) = current.as_mut() {
                body.push_str(line);
            }
        }
        if let Some((name, body)) = current {
            sections.push(Section {
                name,
                status: None,
                body,
                millis: None,
            });
        }
        sections
    }

    pub fn section(&self, name: &str) -> Option<Section> {
        self.sections().into_iter().find(|s| s.name == name)
    }
}

/// Asserts that each named section exists and passed; prints skipped ones loudly. Panics with the
/// bodies of all failing sections.
pub fn assert_sections_pass(run: &VmRun, names: &[String]) {
    let sections = run.sections();
    let mut failures = Vec::new();
    for name in names {
        match sections.iter().find(|s| &s.name == name) {
            None => failures.push(format!("section {name}: missing from the VM output")),
            Some(s) => {
                if let Some(why) = s.skipped() {
                    eprintln!("!!!!! SKIPPED section {name}: {why}");
                } else if !s.passed() {
                    failures.push(format!(
                        "section {name}: {}\n{}",
                        match s.status {
                            Some(rc) => format!("failed (exit {rc})"),
                            None => "did not finish".to_string(),
                        },
                        s.body
                    ));
                } else {
                    eprintln!("ok section {name} ({} ms)", s.millis.unwrap_or(0));
                }
            }
        }
    }
    if !failures.is_empty() {
        panic!(
            "{} of {} VM sections failed:\n\n{}",
            failures.len(),
            names.len(),
            failures.join("\n")
        );
    }
}

#[cfg(test)]
mod parse_tests {
    use super::*;

    #[test]
    fn inline_scenarios_are_written_to_a_file() {
        let s = Scenario::inline("parse-test", "echo hi\n");
        assert_eq!(std::fs::read_to_string(&s.script).unwrap(), "echo hi\n");
        let _ = std::fs::remove_file(&s.script);
    }

    #[test]
    fn sections_are_split_with_status_and_time() {
        let run = VmRun {
            status: 0,
            output:
                "pre\n@@SECTION a@@\nx\ny\n@@SECTION-END a rc=0 ms=12@@\n@@SECTION b@@\nSKIP: no\n\
                     @@SECTION-END b rc=0 ms=1@@\n@@SECTION c@@\nboom\n"
                    .to_string(),
            harness_log: String::new(),
        };
        let s = run.sections();
        assert_eq!(s.len(), 3);
        assert_eq!(
            s[0],
            Section {
                name: "a".into(),
                status: Some(0),
                body: "x\ny\n".into(),
                millis: Some(12)
            }
        );
        assert_eq!(s[1].skipped(), Some("no"));
        assert_eq!(s[2].status, None);
        assert!(!s[2].passed());
    }
}
