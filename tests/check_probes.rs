//! Checkers against real servers on loopback: python3 -m http.server, purpose-built python
//! backends (tests/check_backend.py), TLS with a self-signed certificate, MISC_CHECK scripts.

mod check_support;
use check_support::*;

use rampart::check::probe::{self, ConnectSpec, MiscSpec, Outcome, ProbeSpec, TlsSpec, UrlSpec};
use rampart::config::model::{HttpProtocol, SslContext};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

fn conn(port: u16, timeout_ms: u64) -> ConnectSpec {
    ConnectSpec {
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        bind_ip: None,
        bind_port: None,
        fwmark: None,
        bind_if: None,
        timeout: Duration::from_millis(timeout_ms),
    }
}

fn get(port: u16, path: &str, digest: Option<&str>, timeout_ms: u64) -> ProbeSpec {
    http_spec(conn(port, timeout_ms), None, path, digest, vec![])
}

fn http_spec(
    c: ConnectSpec,
    tls: Option<TlsSpec>,
    path: &str,
    digest: Option<&str>,
    status: Vec<(u16, u16)>,
) -> ProbeSpec {
    ProbeSpec::Http {
        urls: vec![UrlSpec {
            path: path.into(),
            host: format!("127.0.0.1:{}", c.addr.port()),
            digest: digest.map(|d| {
                let mut a = [0u8; 16];
                a.copy_from_slice(&hex::decode(d).unwrap());
                a
            }),
            status,
            regex: None,
        }],
        connect: c,
        tls,
        proto: HttpProtocol::V1_0,
        max_body: probe::DEFAULT_MAX_BODY,
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn run(spec: &ProbeSpec) -> Outcome {
    rt().block_on(probe::run(spec))
}

fn down_reason(o: Outcome) -> String {
    match o {
        Outcome::Down { reason } => reason,
        Outcome::Up { .. } => panic!("expected DOWN, got UP"),
    }
}

const HELLO_MD5: &str = "b1946ac92492d2347c6235b4d2611184";

#[test]
fn http_server_up_with_digest_and_down_on_wrong_digest() {
    let page = b"<html>rampart</html>\n";
    let b = http_server(&[("index.html", page)]);
    let good = md5_hex(page);
    assert_eq!(
        run(&get(b.port, "/index.html", Some(&good), 3000)),
        Outcome::Up { weight: None }
    );
    let r = down_reason(run(&get(b.port, "/index.html", Some(HELLO_MD5), 3000)));
    assert!(r.contains("digest"), "{r}");
    // 404 is outside the default 200-299.
    let r = down_reason(run(&get(b.port, "/missing", None, 3000)));
    assert!(r.contains("status 404"), "{r}");
}

#[test]
fn wrong_status_and_configured_status_codes() {
    let b = backend("status500", &[]);
    let r = down_reason(run(&get(b.port, "/", None, 3000)));
    assert!(r.contains("status 500"), "{r}");
    let accept_500 = http_spec(
        conn(b.port, 3000),
        None,
        "/",
        Some(HELLO_MD5),
        vec![(500, 503)],
    );
    assert_eq!(run(&accept_500), Outcome::Up { weight: None });
}

#[test]
fn server_that_never_answers_times_out() {
    let b = backend("hang", &[]);
    let t = Instant::now();
    let r = down_reason(run(&get(b.port, "/", None, 400)));
    let took = t.elapsed();
    assert!(r.contains("no complete response"), "{r}");
    assert!(took >= Duration::from_millis(400), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[test]
fn slow_byte_by_byte_server_within_and_beyond_the_timeout() {
    // ~51 bytes at 10 ms each: about half a second.
    let b = backend("slow", &["--delay", "0.01"]);
    assert_eq!(
        run(&get(b.port, "/", Some(HELLO_MD5), 5000)),
        Outcome::Up { weight: None }
    );
    let r = down_reason(run(&get(b.port, "/", Some(HELLO_MD5), 150)));
    assert!(r.contains("no complete response"), "{r}");
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

#[test]
fn one_gib_body_is_capped_down_and_memory_stays_flat() {
    let b = backend("huge", &[]);
    let before = rss_kib();
    let r = down_reason(run(&get(b.port, "/", None, 10_000)));
    let after = rss_kib();
    assert!(r.contains("exceeds the read limit of 1048576 bytes"), "{r}");
    assert!(
        after < before + 32 * 1024,
        "RSS grew from {before} KiB to {after} KiB"
    );
    // The checker stopped reading early: the backend could not push anywhere near 1 GiB.
    let deadline = Instant::now() + Duration::from_secs(5);
    let sent = loop {
        if let Some(n) = b
            .stderr()
            .lines()
            .find_map(|l| l.strip_prefix("SENT ").and_then(|n| n.parse::<u64>().ok()))
        {
            break n;
        }
        assert!(Instant::now() < deadline, "backend did not report");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(sent < 64 << 20, "backend sent {sent} bytes");
}

#[test]
fn connection_refused() {
    let r = down_reason(run(&get(closed_port(), "/", None, 1000)));
    assert!(r.contains("refused"), "{r}");
    let r = down_reason(run(&ProbeSpec::Tcp(conn(closed_port(), 1000))));
    assert!(r.contains("refused"), "{r}");
}

#[test]
fn tcp_check_up_with_source_address_and_fwmark() {
    let b = backend("ok", &[]);
    let mut c = conn(b.port, 1000);
    c.bind_ip = Some("127.0.0.5".parse().unwrap());
    c.fwmark = Some(7);
    assert_eq!(run(&ProbeSpec::Tcp(c)), Outcome::Up { weight: None });
}

#[test]
fn chunked_response_digest_is_over_the_raw_chunked_bytes() {
    let b = backend("chunked", &[]);
    let raw = b"5\r\nhello\r\n1\r\n\n\r\n0\r\n\r\n";
    assert_eq!(
        run(&get(b.port, "/", Some(&md5_hex(raw)), 3000)),
        Outcome::Up { weight: None }
    );
    assert!(matches!(
        run(&get(b.port, "/", Some(HELLO_MD5), 3000)),
        Outcome::Down { .. }
    ));
}

#[test]
fn http11_keepalive_server_is_read_up_to_content_length() {
    let b = backend("keepalive", &[]);
    let t = Instant::now();
    let mut spec = get(b.port, "/", Some(HELLO_MD5), 3000);
    if let ProbeSpec::Http { proto, .. } = &mut spec {
        *proto = HttpProtocol::V1_1;
    }
    assert_eq!(run(&spec), Outcome::Up { weight: None });
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "did not wait for close"
    );
}

#[test]
fn ssl_get_with_self_signed_certificate_and_sni() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(dir.path(), "backend.test");
    let b = backend(
        "tls",
        &[
            "--cert",
            cert.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ],
    );
    for sni in [None, Some("backend.test".to_string())] {
        let spec = http_spec(
            conn(b.port, 3000),
            Some(TlsSpec::new(sni, None)),
            "/",
            Some(HELLO_MD5),
            vec![],
        );
        assert_eq!(run(&spec), Outcome::Up { weight: None });
    }
    // Plain HTTP against the TLS port fails.
    assert!(matches!(
        run(&get(b.port, "/", None, 1000)),
        Outcome::Down { .. }
    ));
}

#[test]
fn ssl_get_verifies_against_a_configured_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, leaf, key) = ca_signed(dir.path(), "backend.test");
    let b = backend(
        "ok",
        &[
            "--cert",
            leaf.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ],
    );
    let spec = |sni: Option<&str>, ca_file: Option<std::path::PathBuf>| {
        let ssl = SslContext {
            ca: ca_file,
            ..Default::default()
        };
        http_spec(
            conn(b.port, 3000),
            Some(TlsSpec::new(sni.map(String::from), Some(&ssl))),
            "/",
            Some(HELLO_MD5),
            vec![],
        )
    };
    assert_eq!(
        run(&spec(Some("backend.test"), Some(ca.clone()))),
        Outcome::Up { weight: None }
    );
    // Without SNI the check connects to an IP address: the chain is verified, not the name.
    assert_eq!(
        run(&spec(None, Some(ca.clone()))),
        Outcome::Up { weight: None }
    );
    // With SNI the name must match.
    let r = down_reason(run(&spec(Some("other.test"), Some(ca.clone()))));
    assert!(r.contains("server certificate not accepted"), "{r}");
    // A CA that did not sign the server's certificate: the reason names the CA file.
    let other = tempfile::tempdir().unwrap();
    let (other_ca, _, _) = ca_signed(other.path(), "backend.test");
    for sni in [None, Some("backend.test")] {
        let r = down_reason(run(&spec(sni, Some(other_ca.clone()))));
        assert!(
            r.contains("server certificate not accepted")
                && r.contains(&other_ca.display().to_string()),
            "{r}"
        );
    }
    // Without a CA nothing is verified (keepalived's behaviour).
    assert_eq!(
        run(&spec(Some("other.test"), None)),
        Outcome::Up { weight: None }
    );
}

#[test]
fn ssl_get_presents_the_configured_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, leaf, key) = ca_signed(dir.path(), "backend.test");
    // The server wants a client certificate signed by the same CA; the leaf (serverAuth and
    // clientAuth) serves as both.
    let b = backend(
        "ok",
        &[
            "--cert",
            leaf.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
            "--client-ca",
            ca.to_str().unwrap(),
        ],
    );
    let with = |ssl: Option<&SslContext>| {
        http_spec(
            conn(b.port, 3000),
            Some(TlsSpec::new(None, ssl)),
            "/",
            Some(HELLO_MD5),
            vec![],
        )
    };
    let ssl = SslContext {
        ca: Some(ca.clone()),
        certificate: Some(leaf.clone()),
        key: Some(key.clone()),
        password: None,
    };
    assert_eq!(run(&with(Some(&ssl))), Outcome::Up { weight: None });
    // No client certificate: the server refuses the handshake.
    let r = down_reason(run(&with(None)));
    assert!(r.contains("TLS") || r.contains("reading"), "{r}");
    // An unreadable key is a local error that names the file.
    let bad = SslContext {
        key: Some(dir.path().join("missing.pem")),
        ..ssl.clone()
    };
    let r = down_reason(run(&with(Some(&bad))));
    assert!(
        r.contains("local error") && r.contains("missing.pem"),
        "{r}"
    );
}

fn misc(script: &str, timeout_ms: u64, dynamic: bool) -> ProbeSpec {
    ProbeSpec::Misc(MiscSpec {
        argv: vec!["/bin/sh".into(), "-c".into(), script.into()],
        user: None,
        timeout: Duration::from_millis(timeout_ms),
        dynamic,
    })
}

#[test]
fn misc_check_exit_codes_dynamic_weight_and_user() {
    assert_eq!(
        run(&misc("exit 0", 2000, false)),
        Outcome::Up { weight: None }
    );
    assert!(matches!(
        run(&misc("exit 1", 2000, false)),
        Outcome::Down { .. }
    ));
    assert_eq!(
        run(&misc("exit 12", 2000, true)),
        Outcome::Up { weight: Some(10) }
    );
    assert!(matches!(
        run(&misc("exit 1", 2000, true)),
        Outcome::Down { .. }
    ));
    let as_nobody = ProbeSpec::Misc(MiscSpec {
        argv: vec![
            "/bin/sh".into(),
            "-c".into(),
            "test $(id -u) = $(id -u nobody)".into(),
        ],
        user: Some(("nobody".into(), None)),
        timeout: Duration::from_secs(2),
        dynamic: false,
    });
    assert_eq!(run(&as_nobody), Outcome::Up { weight: None });
}

#[test]
fn misc_check_timeout_kills_the_whole_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let script = format!(
        "sleep 30 & echo $! > {p}; sleep 30 & echo $! >> {p}; wait",
        p = pids.display()
    );
    let t = Instant::now();
    let r = down_reason(run(&misc(&script, 300, false)));
    assert!(r.contains("timed out"), "{r}");
    assert!(t.elapsed() < Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(200));
    for pid in std::fs::read_to_string(&pids).unwrap().split_whitespace() {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // Gone, or a zombie awaiting its (killed) parent's reaper.
        assert!(
            stat.is_empty() || stat.split_whitespace().nth(2) == Some("Z"),
            "child {pid} survived: {stat}"
        );
    }
}

#[test]
fn nginx_backend_digest_status_and_http11() {
    let page = b"<html><body>served by nginx</body></html>\n";
    let b = nginx(&[("index.html", page)]);
    let good = md5_hex(page);
    assert_eq!(
        run(&get(b.port, "/index.html", Some(&good), 3000)),
        Outcome::Up { weight: None }
    );
    let mut v11 = get(b.port, "/index.html", Some(&good), 3000);
    if let ProbeSpec::Http { proto, .. } = &mut v11 {
        *proto = HttpProtocol::V1_1;
    }
    assert_eq!(run(&v11), Outcome::Up { weight: None });
    let r = down_reason(run(&get(b.port, "/teapot", None, 3000)));
    assert!(r.contains("status 418"), "{r}");
    let teapot = http_spec(
        conn(b.port, 3000),
        None,
        "/teapot",
        Some(&md5_hex(b"short and stout\n")),
        vec![(418, 418)],
    );
    assert_eq!(run(&teapot), Outcome::Up { weight: None });
}

#[test]
fn bind_if_binds_the_check_socket_to_the_device() {
    let b = backend("ok", &[]);
    let with = |dev: &str| {
        let mut c = conn(b.port, 2000);
        c.bind_if = Some(dev.into());
        ProbeSpec::Tcp(c)
    };
    assert_eq!(run(&with("lo")), Outcome::Up { weight: None });
    let r = down_reason(run(&with("rpnodev0")));
    assert!(r.contains("local error") && r.contains("rpnodev0"), "{r}");
}

#[test]
fn url_regex_matches_the_response_with_offsets_and_options() {
    use rampart::check::probe::RegexCheck;
    use rampart::config::model::UrlRegex;
    let b = backend("ok", &[]);
    // The response: "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhello\n" (header
    // 45 bytes, "hello" at offset 45).
    let with = |pattern: &str, no_match: bool, options: &[&str], min: u64, max: u64| {
        let mut spec = get(b.port, "/", None, 3000);
        if let ProbeSpec::Http { urls, .. } = &mut spec {
            urls[0].regex = Some(
                RegexCheck::new(UrlRegex {
                    pattern: pattern.into(),
                    no_match,
                    options: options.iter().map(|o| o.to_string()).collect(),
                    min_offset: min,
                    max_offset: max,
                })
                .expect("regex"),
            );
        }
        run(&spec)
    };
    let up = Outcome::Up { weight: None };
    assert_eq!(with("hel+o", false, &[], 0, 0), up);
    // The header is part of the subject, as in keepalived.
    assert_eq!(
        with("^Content-Type: text/plain\r$", false, &["multiline"], 0, 0),
        up
    );
    let r = down_reason(with("goodbye", false, &[], 0, 0));
    assert!(r.contains("regex \"goodbye\" did not match"), "{r}");
    let r = down_reason(with("hello", true, &[], 0, 0));
    assert!(r.contains("matched (regex_no_match)"), "{r}");
    assert_eq!(with("goodbye", true, &[], 0, 0), up);
    assert_eq!(with("HELLO", false, &["caseless"], 0, 0), up);
    assert!(matches!(
        with("HELLO", false, &[], 0, 0),
        Outcome::Down { .. }
    ));
    // Offsets: the match must start in [min, max).
    assert_eq!(with("hello", false, &[], 45, 46), up);
    assert!(matches!(
        with("hello", false, &[], 46, 0),
        Outcome::Down { .. }
    ));
    assert!(matches!(
        with("hello", false, &[], 0, 45),
        Outcome::Down { .. }
    ));
    assert!(matches!(
        with("HTTP", false, &[], 1, 0),
        Outcome::Down { .. }
    ));
}

#[test]
fn udp_check_replies_silence_and_icmp_errors() {
    use rampart::config::model::UdpCheck;
    let reply = backend("udp-reply", &[]);
    let silent = backend("udp-silent", &[]);
    let refused = closed_port();
    let spec = |port: u16, payload: &str, require: Option<&str>, min: u32, max: u32| {
        let tokens = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        let p = tokens(payload);
        ProbeSpec::Udp {
            connect: conn(port, 1000),
            check: UdpCheck {
                payload: (!p.is_empty()).then(|| {
                    let t: Vec<&str> = p.iter().map(|s| s.as_str()).collect();
                    UdpCheck::parse_hex(&t, false)
                        .unwrap()
                        .iter()
                        .map(|b| b.value)
                        .collect()
                }),
                require_reply: require.map(|r| {
                    let t = tokens(r);
                    let t: Vec<&str> = t.iter().map(|s| s.as_str()).collect();
                    UdpCheck::parse_hex(&t, true).unwrap()
                }),
                min_reply_length: min,
                max_reply_length: max,
            },
        }
    };
    let up = Outcome::Up { weight: None };
    // The server answers 0a 1b + the request.
    assert_eq!(run(&spec(reply.port, "cafe", None, 0, 255)), up);
    assert_eq!(run(&spec(reply.port, "cafe", Some(""), 0, 255)), up);
    assert_eq!(run(&spec(reply.port, "cafe", Some("0a1b ca"), 0, 255)), up);
    assert_eq!(
        run(&spec(reply.port, "cafe", Some("0X 1b cX fe"), 4, 4)),
        up
    );
    let r = down_reason(run(&spec(reply.port, "cafe", Some("0a1c"), 0, 255)));
    assert!(r.contains("byte 1 is 0x1b"), "{r}");
    let r = down_reason(run(&spec(reply.port, "cafe", Some(""), 5, 255)));
    assert!(r.contains("4 bytes, outside min_reply_length 5"), "{r}");
    // Random payload.
    assert_eq!(run(&spec(reply.port, "", Some("0a 1b"), 18, 18)), up);
    // Silence passes unless a reply is required.
    assert_eq!(run(&spec(silent.port, "01", None, 0, 255)), up);
    let r = down_reason(run(&spec(silent.port, "01", Some(""), 0, 255)));
    assert!(r.contains("no UDP reply"), "{r}");
    // Nothing listening: the ICMP port unreachable fails the check.
    let r = down_reason(run(&spec(refused, "01", None, 0, 255)));
    assert!(r.contains("refused"), "{r}");
}

/// Run `spec` from inside the network namespace `ns` (a thread switched with setns).
fn run_in_netns(ns: &str, spec: ProbeSpec) -> Outcome {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let f = std::fs::File::open(&path).expect("netns file");
        use std::os::fd::AsRawFd;
        // SAFETY: setns on a valid namespace fd; it affects only this thread.
        let r = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(r, 0, "setns: {}", std::io::Error::last_os_error());
        run(&spec)
    })
    .join()
    .expect("probe thread")
}

#[test]
fn ping_check_on_loopback_and_in_a_netns() {
    let ping = |addr: &str, ms: u64| {
        let mut c = conn(0, ms);
        c.addr = SocketAddr::new(addr.parse().unwrap(), 0);
        ProbeSpec::Ping(c)
    };
    let up = Outcome::Up { weight: None };
    assert_eq!(run(&ping("127.0.0.1", 1000)), up);
    if std::net::UdpSocket::bind("[::1]:0").is_ok() {
        assert_eq!(run(&ping("::1", 1000)), up);
    }
    // The failure cases stay inside a namespace this test makes: lo down (no route at all),
    // then an address nobody answers for (no reply: timeout).
    let ns = format!("rp-ping-{}", std::process::id());
    let ip = |args: &[&str]| {
        std::process::Command::new("ip")
            .args(args)
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    if !ip(&["netns", "add", &ns]) {
        eprintln!("skipped the netns part: cannot create a network namespace");
        return;
    }
    struct Del(String);
    impl Drop for Del {
        fn drop(&mut self) {
            let _ = std::process::Command::new("ip")
                .args(["netns", "del", &self.0])
                .status();
        }
    }
    let _del = Del(ns.clone());
    let r = down_reason(run_in_netns(&ns, ping("127.0.0.1", 1000)));
    assert!(r.contains("ICMP to 127.0.0.1"), "{r}");
    // A veth pair inside the namespace: the ARP request for 10.77.0.9 reaches the peer
    // and nobody answers.
    for args in [
        &["link", "add", "v0", "type", "veth", "peer", "name", "v1"][..],
        &["link", "set", "v0", "up"],
        &["link", "set", "v1", "up"],
        &["addr", "add", "10.77.0.1/24", "dev", "v0"],
    ] {
        let mut a = vec!["-n", ns.as_str()];
        a.extend_from_slice(args);
        assert!(ip(&a), "ip {a:?}");
    }
    let r = down_reason(run_in_netns(&ns, ping("10.77.0.9", 500)));
    assert!(r.contains("no ICMP echo reply from 10.77.0.9"), "{r}");
}

#[test]
fn dns_check_rcode_noise_and_silence() {
    let dns = |port: u16| ProbeSpec::Dns {
        connect: conn(port, 1000),
        qtype: 6,
        name: ".".into(),
    };
    let up = Outcome::Up { weight: None };
    let ok = backend("dns-ok", &[]);
    assert_eq!(run(&dns(ok.port)), up);
    // A reply with another identifier is skipped; the right one follows.
    let noise = backend("dns-noise", &[]);
    assert_eq!(run(&dns(noise.port)), up);
    let nx = backend("dns-nx", &[]);
    let r = down_reason(run(&dns(nx.port)));
    assert!(r.contains("RCODE 3"), "{r}");
    let silent = backend("udp-silent", &[]);
    let r = down_reason(run(&dns(silent.port)));
    assert!(r.contains("no DNS reply"), "{r}");
    let r = down_reason(run(&dns(closed_port())));
    assert!(r.contains("refused"), "{r}");
}

#[test]
fn smtp_check_dialogue() {
    let smtp = |port: u16, helo: &str| ProbeSpec::Smtp {
        connect: conn(port, 2000),
        helo: helo.into(),
    };
    let ok = backend("smtp-ok", &[]);
    assert_eq!(
        run(&smtp(ok.port, "lb1.example")),
        Outcome::Up { weight: None }
    );
    let seen = std::fs::read_to_string(&ok.stderr_path).unwrap();
    assert!(
        seen.contains("SMTP HELO lb1.example") && seen.contains("SMTP QUIT"),
        "{seen}"
    );
    let busy = backend("smtp-busy", &[]);
    let r = down_reason(run(&smtp(busy.port, "x")));
    assert!(r.contains("greeting answered 554"), "{r}");
    let bad = backend("smtp-badhelo", &[]);
    let r = down_reason(run(&smtp(bad.port, "x")));
    assert!(r.contains("HELO answered 501"), "{r}");
    // Not SMTP at all, and a server that never greets.
    let http = backend("ok", &[]);
    let r = down_reason(run(&smtp(http.port, "x")));
    assert!(r.contains("SMTP"), "{r}");
    let hang = backend("hang", &[]);
    let r = down_reason(run(&smtp(hang.port, "x")));
    assert!(r.contains("no complete dialogue"), "{r}");
}
