//! VRRP lab helpers on top of [`super::netns`]: keepalived.conf generation (the same text
//! feeds rampart and keepalived) and starting either daemon inside a namespace.

#![allow(dead_code)]

use super::netns::Lab;
use std::fmt::Write as _;

#[derive(Debug, Clone)]
pub struct Inst {
    pub name: String,
    pub iface: String,
    pub vrid: u8,
    pub priority: u8,
    pub master: bool,
    /// As written in the file: "1", "0.1".
    pub advert_int: String,
    pub version: u8,
    /// ("PASS" | "AH", password)
    pub auth: Option<(String, String)>,
    pub vips: Vec<String>,
    pub nopreempt: bool,
    /// (unicast_src_ip, peers)
    pub unicast: Option<(String, Vec<String>)>,
    pub extra: String,
}

impl Inst {
    pub fn new(name: &str, iface: &str, vrid: u8, priority: u8, vips: &[&str]) -> Inst {
        Inst {
            name: name.into(),
            iface: iface.into(),
            vrid,
            priority,
            master: false,
            advert_int: "1".into(),
            version: 2,
            auth: None,
            vips: vips.iter().map(|s| s.to_string()).collect(),
            nopreempt: false,
            unicast: None,
            extra: String::new(),
        }
    }
    pub fn v3(mut self, advert_int: &str) -> Inst {
        self.version = 3;
        self.advert_int = advert_int.into();
        self
    }
    pub fn auth(mut self, kind: &str, pass: &str) -> Inst {
        self.auth = Some((kind.into(), pass.into()));
        self
    }
    pub fn nopreempt(mut self) -> Inst {
        self.nopreempt = true;
        self
    }
    pub fn unicast(mut self, src: &str, peers: &[&str]) -> Inst {
        self.unicast = Some((src.into(), peers.iter().map(|s| s.to_string()).collect()));
        self
    }
}

/// A keepalived.conf with `global_defs` tuned for tests (GARPs at once and once more soon).
pub fn conf(insts: &[Inst], groups: &[(&str, &[&str])]) -> String {
    let mut s = String::new();
    s.push_str("global_defs {\n  router_id lab\n  vrrp_garp_master_delay 1\n  vrrp_garp_master_repeat 2\n}\n");
    for (name, members) in groups {
        let _ = writeln!(s, "vrrp_sync_group {name} {{\n  group {{");
        for m in *members {
            let _ = writeln!(s, "    {m}");
        }
        s.push_str("  }\n}\n");
    }
    for i in insts {
        let _ = writeln!(s, "vrrp_instance {} {{", i.name);
        let _ = writeln!(s, "  state {}", if i.master { "MASTER" } else { "BACKUP" });
        let _ = writeln!(s, "  interface {}", i.iface);
        let _ = writeln!(s, "  virtual_router_id {}", i.vrid);
        let _ = writeln!(s, "  priority {}", i.priority);
        let _ = writeln!(s, "  advert_int {}", i.advert_int);
        let _ = writeln!(s, "  version {}", i.version);
        if i.nopreempt {
            s.push_str("  nopreempt\n");
        }
        if let Some((kind, pass)) = &i.auth {
            let _ = writeln!(
                s,
                "  authentication {{\n    auth_type {kind}\n    auth_pass {pass}\n  }}"
            );
        }
        if let Some((src, peers)) = &i.unicast {
            let _ = writeln!(s, "  unicast_src_ip {src}\n  unicast_peer {{");
            for p in peers {
                let _ = writeln!(s, "    {p}");
            }
            s.push_str("  }\n");
        }
        s.push_str("  virtual_ipaddress {\n");
        for v in &i.vips {
            let _ = writeln!(s, "    {v}");
        }
        s.push_str("  }\n");
        s.push_str(&i.extra);
        s.push_str("}\n");
    }
    s
}

/// Start rampart (VRRP only) in `ns` with `conf_text`; returns (pid, log path).
pub fn start_rampart(
    lab: &mut Lab,
    ns: &str,
    label: &str,
    conf_text: &str,
) -> (u32, std::path::PathBuf) {
    let conf = lab.path(&format!("{label}.conf"));
    std::fs::write(&conf, conf_text).expect("write conf");
    let log = lab.path(&format!("{label}.log"));
    let pid_file = lab.path(&format!("{label}.pid"));
    let sock = lab.path(&format!("{label}.sock"));
    let bin = env!("CARGO_BIN_EXE_rampart");
    let args = [
        "env",
        "RAMPART_LOG=info,vrrp=debug",
        bin,
        "-f",
        conf.to_str().unwrap(),
        "-P",
        "-n",
        "-l",
        "-p",
        pid_file.to_str().unwrap(),
        "--control-socket",
        sock.to_str().unwrap(),
    ];
    let pid = lab.spawn(label, ns, &args, &log);
    (pid, log)
}

/// Start Debian's keepalived (VRRP only, foreground, console log) in `ns`.
pub fn start_keepalived(
    lab: &mut Lab,
    ns: &str,
    label: &str,
    conf_text: &str,
) -> (u32, std::path::PathBuf) {
    let conf = lab.path(&format!("{label}.conf"));
    std::fs::write(&conf, conf_text).expect("write conf");
    let log = lab.path(&format!("{label}.log"));
    let pid = lab.path(&format!("{label}.pid"));
    let vpid = lab.path(&format!("{label}.vrrp.pid"));
    let args = [
        "keepalived",
        "-P",
        "-n",
        "-l",
        "-D",
        "-i",
        label,
        "-f",
        conf.to_str().unwrap(),
        "-p",
        pid.to_str().unwrap(),
        "-r",
        vpid.to_str().unwrap(),
    ];
    let pid = lab.spawn(label, ns, &args, &log);
    (pid, log)
}

/// Lines of a keepalived log that complain about the peer's packets.
pub fn keepalived_complaints(log: &std::path::Path) -> Vec<String> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .filter(|l| {
            let l = l.to_ascii_lowercase();
            [
                "auth", "interval", "checksum", "invalid", "mismatch", "bogus", "ttl", "wrong",
            ]
            .iter()
            .any(|w| l.contains(w))
                && !l.contains("authentication {")
        })
        .map(String::from)
        .collect()
}
