//! Helpers shared by the checker tests: configuration builders and a simulated clock.
#![allow(dead_code)]

use rampart::check::core::{Action, Core, Input, ProbeId};
use rampart::check::probe::Outcome;
use rampart::config::model::*;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

pub fn span() -> Span {
    Span::builtin()
}

pub fn cmd(s: &str) -> Command {
    Command {
        raw: s.to_string(),
        argv: s.split_whitespace().map(String::from).collect(),
        span: span(),
    }
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

pub fn vs(addr: &str, port: u16, real_servers: Vec<RealServer>) -> VirtualServer {
    VirtualServer {
        key: VsKey::Addr {
            addr: ip(addr),
            port,
        },
        delay_loop: Duration::from_secs(5),
        lb_algo: None,
        sched_flags: vec![],
        lb_kind: ForwardMethod::Nat,
        tunnel: None,
        persistence_timeout: None,
        persistence_granularity: None,
        protocol: Protocol::Tcp,
        ops: false,
        sorry_server: None,
        sorry_server_inhibit: false,
        quorum: 1,
        hysteresis: 0,
        quorum_up: None,
        quorum_down: None,
        alpha: false,
        omega: false,
        ha_suspend: false,
        virtualhost: None,
        inhibit_on_failure: false,
        smtp_alert: None,
        real_servers,
        span: span(),
    }
}

pub fn rs(addr: &str, port: u16, weight: u32, checkers: Vec<Checker>) -> RealServer {
    RealServer {
        addr: ip(addr),
        port: Some(port),
        weight,
        inhibit_on_failure: None,
        lb_kind: None,
        tunnel: None,
        notify_up: None,
        notify_down: None,
        uthreshold: 0,
        lthreshold: 0,
        smtp_alert: None,
        alpha: None,
        delay_loop: None,
        checkers,
        file_checks: Vec::new(),
        span: span(),
    }
}

pub fn checker(kind: CheckerKind) -> Checker {
    Checker {
        kind,
        common: CheckerCommon::default(),
        span: span(),
    }
}

pub fn tcp() -> Checker {
    checker(CheckerKind::Tcp)
}

pub fn http(urls: Vec<UrlCheck>) -> HttpCheck {
    HttpCheck {
        urls,
        http_protocol: HttpProtocol::V1_0,
        virtualhost: None,
        enable_sni: false,
        max_body: None,
    }
}

pub fn url(path: &str, digest: Option<&str>) -> UrlCheck {
    UrlCheck {
        path: path.to_string(),
        digest: digest.map(|d| {
            let v = hex::decode(d).expect("hex digest");
            let mut a = [0u8; 16];
            a.copy_from_slice(&v);
            a
        }),
        status_code: vec![],
        virtualhost: None,
        regex: None,
        span: span(),
    }
}

pub fn config(vss: Vec<VirtualServer>) -> Config {
    Config {
        virtual_servers: vss,
        ..Default::default()
    }
}

/// The desired table as `service -> {dest: weight}` with text keys, for compact assertions.
pub fn weights(core: &Core) -> BTreeMap<String, BTreeMap<String, u32>> {
    core.desired()
        .services
        .iter()
        .map(|(k, e)| {
            let key = match k {
                rampart::ipvs::table::ServiceKey::Addr { addr, port, .. } => {
                    format!("{addr}:{port}")
                }
                rampart::ipvs::table::ServiceKey::Fwmark { mark, .. } => format!("fwm{mark}"),
            };
            let dests = e
                .dests
                .iter()
                .map(|(d, s)| (format!("{}:{}", d.addr, d.port), s.weight))
                .collect();
            (key, dests)
        })
        .collect()
}

/// What happened during a simulation, at virtual times relative to the start.
#[derive(Debug, Clone, PartialEq)]
pub enum Seen {
    /// A probe ran and returned `up`.
    Attempt {
        probe: usize,
        up: bool,
    },
    Action(Action),
}

/// Drive the core on a simulated clock until `until`, asking `backend(probe, t)` for each
/// probe's outcome. Probes complete instantly. Returns the timeline.
pub fn simulate(
    core: &mut Core,
    t0: Instant,
    until: Duration,
    mut backend: impl FnMut(ProbeId, Duration) -> bool,
    mut on_step: impl FnMut(Duration, &Core),
) -> Vec<(Duration, Seen)> {
    let mut timeline = Vec::new();
    let mut pending: BTreeMap<(Instant, usize), ()> = BTreeMap::new();
    for a in core.start(t0) {
        if let Action::Schedule { probe, at } = a {
            pending.insert((at, probe.0), ());
        }
    }
    while let Some((&(at, id), _)) = pending.iter().next() {
        if at - t0 > until {
            break;
        }
        pending.remove(&(at, id));
        let t = at - t0;
        let up = backend(ProbeId(id), t);
        timeline.push((t, Seen::Attempt { probe: id, up }));
        let outcome = if up {
            Outcome::Up { weight: None }
        } else {
            Outcome::Down {
                reason: "backend down".into(),
            }
        };
        for a in core.step(
            Input::Result {
                probe: ProbeId(id),
                outcome,
            },
            at,
        ) {
            match a {
                Action::Schedule { probe, at } => {
                    pending.insert((at, probe.0), ());
                }
                other => timeline.push((t, Seen::Action(other))),
            }
        }
        on_step(t, core);
    }
    timeline
}

/// A backend process on loopback, killed on drop.
pub struct Backend {
    pub child: std::process::Child,
    pub port: u16,
    pub stderr_path: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Backend {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Backend {
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }
    /// Stop the backend (connections are refused afterwards).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_ready(
    mut child: std::process::Child,
    dir: tempfile::TempDir,
    stderr_path: std::path::PathBuf,
    parse: impl Fn(&str) -> Option<u16>,
) -> Backend {
    use std::io::BufRead;
    let out = child.stdout.take().expect("piped stdout");
    let mut lines = std::io::BufReader::new(out).lines();
    let port = loop {
        match lines.next() {
            Some(Ok(l)) => {
                if let Some(p) = parse(&l) {
                    break p;
                }
            }
            _ => panic!(
                "backend did not start: {}",
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            ),
        }
    };
    // Keep draining stdout so the backend never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Backend {
        child,
        port,
        stderr_path,
        _dir: dir,
    }
}

/// tests/check_backend.py MODE [args]: prints READY PORT.
pub fn backend(mode: &str, args: &[&str]) -> Backend {
    let dir = tempfile::tempdir().expect("tempdir");
    let stderr_path = dir.path().join("stderr");
    let child = std::process::Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/check_backend.py"
        ))
        .arg(mode)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(&stderr_path).expect("stderr file"))
        .spawn()
        .expect("python3 on PATH");
    wait_ready(child, dir, stderr_path, |l| {
        l.strip_prefix("READY ").and_then(|p| p.trim().parse().ok())
    })
}

/// `python3 -m http.server` serving a directory containing `files`.
pub fn http_server(files: &[(&str, &[u8])]) -> Backend {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("www");
    std::fs::create_dir(&root).expect("www");
    for (name, content) in files {
        std::fs::write(root.join(name), content).expect("write file");
    }
    let stderr_path = dir.path().join("stderr");
    let child = std::process::Command::new("python3")
        .args([
            "-u",
            "-m",
            "http.server",
            "--bind",
            "127.0.0.1",
            "0",
            "--directory",
        ])
        .arg(&root)
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(&stderr_path).expect("stderr file"))
        .spawn()
        .expect("python3 on PATH");
    wait_ready(child, dir, stderr_path, |l| {
        // "Serving HTTP on 127.0.0.1 port 41337 (http://...) ..."
        l.split(" port ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|p| p.parse().ok())
    })
}

/// A self-signed certificate and key (PEM) made with openssl.
pub fn self_signed(dir: &std::path::Path, cn: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let st = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
        ])
        .arg(format!("/CN={cn}"))
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl");
    assert!(st.success());
    (cert, key)
}

pub fn md5_hex(data: &[u8]) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(data))
}

/// A free loopback port with nothing listening (bound then released).
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// A CA and a leaf certificate for `name` (subjectAltName DNS) signed by it, made with openssl.
/// Returns (ca_cert, leaf_cert, leaf_key).
pub fn ca_signed(
    dir: &std::path::Path,
    name: &str,
) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let p = |f: &str| dir.join(f);
    let run = |args: &[&str]| {
        let st = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stderr(std::process::Stdio::null())
            .status()
            .expect("openssl");
        assert!(st.success(), "openssl {args:?}");
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        &format!("/CN={name}"),
        "-keyout",
        "leaf.key",
        "-out",
        "leaf.csr",
    ]);
    std::fs::write(
        p("ext.cnf"),
        format!(
            "subjectAltName=DNS:{name}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\n"
        ),
    )
    .expect("ext");
    run(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
        "-out",
        "leaf.pem",
    ]);
    (p("ca.pem"), p("leaf.pem"), p("leaf.key"))
}

/// Debian's nginx serving `files` on 127.0.0.1 (killed on drop).
pub fn nginx(files: &[(&str, &[u8])]) -> Backend {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("www");
    std::fs::create_dir(&root).expect("www");
    for (name, content) in files {
        std::fs::write(root.join(name), content).expect("write file");
    }
    let port = closed_port();
    let d = dir.path().display();
    let conf = dir.path().join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d}/cb;\n  proxy_temp_path {d}/px;\n\
             fastcgi_temp_path {d}/fc;\n  uwsgi_temp_path {d}/uw;\n  scgi_temp_path {d}/sc;\n\
             server {{\n    listen 127.0.0.1:{port};\n    root {d}/www;\n\
             location = /teapot {{ return 418 \"short and stout\\n\"; }}\n  }}\n}}\n"
        ),
    )
    .expect("nginx.conf");
    let stderr_path = dir.path().join("stderr");
    let child = std::process::Command::new("/usr/sbin/nginx")
        .arg("-c")
        .arg(&conf)
        .arg("-p")
        .arg(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&stderr_path).expect("stderr file"))
        .spawn()
        .expect("nginx (package nginx-light)");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "nginx did not start: {}",
            std::fs::read_to_string(&stderr_path).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Backend {
        child,
        port,
        stderr_path,
        _dir: dir,
    }
}
