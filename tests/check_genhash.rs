//! `rampart genhash` versus Debian's `genhash` (keepalived 2.2.7) on the same servers:
//! identical stdout and stderr, character for character (the `-v` response-time line, which
//! differs by nature, is compared by shape only).

mod check_support;
use check_support::*;

use std::process::Command;

fn run(prog: &str, args: &[String]) -> (String, String) {
    let mut cmd = if prog == "rampart" {
        let mut c = Command::new(env!("CARGO_BIN_EXE_rampart"));
        c.arg("genhash");
        c
    } else {
        Command::new(prog)
    };
    let out = cmd.args(args).output().expect("run genhash");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Replace the varying `= N usecs` of the -v timing line.
fn normalize(s: &str) -> String {
    s.lines()
        .map(|l| match l.split_once(" = ") {
            Some((head, tail))
                if head.starts_with("Global response time") && tail.ends_with("usecs") =>
            {
                format!("{head} = N usecs")
            }
            _ => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn compare(label: &str, args: Vec<String>) {
    let theirs = run("genhash", &args);
    let ours = run("rampart", &args);
    assert_eq!(
        (normalize(&ours.0), normalize(&ours.1)),
        (normalize(&theirs.0), normalize(&theirs.1)),
        "{label}: rampart genhash differs from genhash for {args:?}"
    );
}

fn args(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

fn have_genhash() -> bool {
    Command::new("genhash").arg("-h").output().is_ok()
}

#[test]
fn same_output_as_debian_genhash() {
    assert!(
        have_genhash(),
        "Debian's genhash (package keepalived) is required"
    );
    let mut big = b"HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n".to_vec();
    big.extend((0..100_000u32).map(|i| (i * 7 % 251) as u8));
    let binary: Vec<u8> = [
        b"HTTP/1.0 200 OK\r\nServer: x\r\n\r\n".as_slice(),
        &(0u8..=255).collect::<Vec<u8>>(),
    ]
    .concat();
    let responses: Vec<(&str, Vec<u8>)> = vec![
        ("text", b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhello\n".to_vec()),
        ("empty body", b"HTTP/1.0 200 OK\r\n\r\n".to_vec()),
        ("404", b"HTTP/1.0 404 Not Found\r\nContent-Type: text/html\r\n\r\n<h1>nope</h1>".to_vec()),
        ("500", b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 5\r\n\r\noops!".to_vec()),
        ("chunked", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n".to_vec()),
        ("content-length shorter than body", b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nhello".to_vec()),
        ("content-length longer than body", b"HTTP/1.0 200 OK\r\nContent-Length: 50\r\n\r\nshort".to_vec()),
        ("lower-case content-length", b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nabcdefgh".to_vec()),
        ("binary", binary),
        ("100 kB", big),
        ("redirect", b"HTTP/1.1 301 Moved Permanently\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n".to_vec()),
        ("no header end", b"garbage".to_vec()),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (i, (label, resp)) in responses.iter().enumerate() {
        let f = dir.path().join(format!("resp{i}"));
        std::fs::write(&f, resp).unwrap();
        let b = backend("raw", &["--file", f.to_str().unwrap()]);
        let p = b.port;
        compare(label, args(&format!("-s 127.0.0.1 -p {p} -u /index.html")));
        // -v dumps each read separately (as genhash does); read boundaries of a body larger
        // than one 4 KiB read depend on timing, so the big body is compared quietly only.
        if resp.len() < 4000 {
            compare(label, args(&format!("-s 127.0.0.1 -p {p} -u /a?b=c -v")));
        }
        compare(
            label,
            args(&format!(
                "--server 127.0.0.1 --port {p} --url / -V example.org -P 1.1"
            )),
        );
    }
    // Connection refused, both quiet and verbose.
    let p = closed_port();
    compare("refused", args(&format!("-s 127.0.0.1 -p {p} -u /")));
    compare("refused -v", args(&format!("-s 127.0.0.1 -p {p} -u / -v")));
    // An HTTP/1.1 keep-alive server that ignores `Connection: close` and leaves the
    // connection open after a Content-Length body.
    let ka = backend("keepalive", &[]);
    for flags in ["-P 1.1", "-P 1.0", "-P 1.1 -v"] {
        compare(
            "keep-alive",
            args(&format!("-s 127.0.0.1 -p {} -u / -t 2 {flags}", ka.port)),
        );
    }
    // Read timeout.
    let hang = backend("hang", &[]);
    compare(
        "timeout",
        args(&format!("-s 127.0.0.1 -p {} -u / -t 1", hang.port)),
    );
    // IPv6 loopback.
    let f = dir.path().join("v6");
    std::fs::write(&f, b"HTTP/1.0 200 OK\r\n\r\nsix").unwrap();
    let b6 = backend("raw", &["--host", "::1", "--file", f.to_str().unwrap()]);
    compare("ipv6", args(&format!("-s ::1 -p {} -u / -v", b6.port)));
    // TLS with a self-signed certificate, with and without SNI.
    let (cert, key) = self_signed(dir.path(), "backend.test");
    let tls = backend(
        "ok",
        &[
            "--cert",
            cert.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ],
    );
    compare(
        "ssl",
        args(&format!("-S -s 127.0.0.1 -p {} -u /", tls.port)),
    );
    compare(
        "ssl sni",
        args(&format!(
            "-S -I -V backend.test -s 127.0.0.1 -p {} -u / -v",
            tls.port
        )),
    );
    // The keep-alive server over TLS.
    let tls_ka = backend(
        "keepalive",
        &[
            "--cert",
            cert.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ],
    );
    let tls_hang = backend(
        "hang",
        &[
            "--cert",
            cert.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ],
    );
    compare(
        "ssl timeout",
        args(&format!("-S -s 127.0.0.1 -p {} -u / -t 1", tls_hang.port)),
    );
    for flags in ["", "-v"] {
        compare(
            "ssl keep-alive",
            args(&format!(
                "-S -s 127.0.0.1 -p {} -u / -t 2 -P 1.1 {flags}",
                tls_ka.port
            )),
        );
    }
    // Argument errors.
    compare("usage", args("-s 127.0.0.1"));
    compare("bad protocol", args("-s 127.0.0.1 -p 1 -u / -P 2.0"));
    compare("bad server", args("-s localhost -p 1 -u /"));
}

#[test]
fn same_output_as_debian_genhash_on_nginx() {
    let b = nginx(&[
        ("index.html", b"nginx page\n"),
        ("big.bin", &vec![7u8; 50_000]),
    ]);
    let p = b.port;
    compare(
        "nginx index",
        args(&format!("-s 127.0.0.1 -p {p} -u /index.html")),
    );
    compare(
        "nginx index -v",
        args(&format!("-s 127.0.0.1 -p {p} -u /index.html -v -P 1.1")),
    );
    compare(
        "nginx 404",
        args(&format!("-s 127.0.0.1 -p {p} -u /missing -P 1.0c")),
    );
    compare(
        "nginx teapot",
        args(&format!("-s 127.0.0.1 -p {p} -u /teapot -V example.org")),
    );
    compare(
        "nginx big",
        args(&format!("-s 127.0.0.1 -p {p} -u /big.bin")),
    );
}
