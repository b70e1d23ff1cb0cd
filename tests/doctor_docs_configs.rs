//! The configurations printed in docs/scenarios/*.md are the ones the scenarios use: each one
//! must load (`rampart check-config`), and `rampart doctor` must find nothing wrong with it on a
//! director prepared as the page describes (host facts given with `--facts`, so this runs
//! anywhere, without root).

use std::path::Path;
use std::process::Command;

const RAMPART: &str = env!("CARGO_BIN_EXE_rampart");

/// The ```keepalived fenced blocks of a markdown file.
fn keepalived_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_start()) {
            (None, l) if l.starts_with("```keepalived") => current = Some(String::new()),
            (Some(_), l) if l.starts_with("```") => blocks.extend(current.take()),
            (Some(b), _) => {
                b.push_str(line);
                b.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

/// A director as the scenario pages prepare it: eth0 and eth1, forwarding on, IPVS loaded,
/// an empty firewall, no VIP yet.
const PREPARED_DIRECTOR: &str = r#"{
  "ipvs": { "loaded": true, "modprobe": null },
  "sysctls": { "net.ipv4.ip_forward": "1", "net.ipv4.vs.conntrack": "0" },
  "interfaces": [
    { "name": "lo", "up": true, "addrs": [["127.0.0.1", 8]] },
    { "name": "eth0", "up": true, "addrs": [["10.0.1.2", 24]] },
    { "name": "eth1", "up": true, "addrs": [["10.0.2.2", 24]] }
  ],
  "iptables": null, "ip6tables": null, "nft": null,
  "vrrp_daemons": [], "notes": []
}"#;

#[test]
fn scenario_configs_load_and_pass_doctor() {
    let dir = tempfile::tempdir().unwrap();
    let facts = dir.path().join("facts.json");
    std::fs::write(&facts, PREPARED_DIRECTOR).unwrap();
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/scenarios");
    let mut checked = 0;
    for page in [
        "lvs-nat.md",
        "connection-sync.md",
        "lvs-dr-fwmark.md",
        "lvs-tun.md",
    ] {
        let text = std::fs::read_to_string(docs.join(page)).expect(page);
        let blocks = keepalived_blocks(&text);
        assert!(
            !blocks.is_empty(),
            "{page} shows no ```keepalived configuration"
        );
        for (n, conf) in blocks.iter().enumerate() {
            let path = dir.path().join(format!("{page}.{n}.conf"));
            std::fs::write(&path, conf).unwrap();
            let out = Command::new(RAMPART)
                .arg("check-config")
                .arg(&path)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{page} block {n} does not load:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            let out = Command::new(RAMPART)
                .args(["doctor", "--format", "json", "-f"])
                .arg(&path)
                .arg("--facts")
                .arg(&facts)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "doctor finds problems with {page} block {n}:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            checked += 1;
        }
    }
    assert!(checked >= 4);
}
