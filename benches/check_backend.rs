//! A small, efficient loopback backend for benches/check_bench.sh (not a benchmark itself).
//!
//! usage: check_backend [--port P] [--listen ADDR:PORT ...]
//! - `--port P`: one wildcard listener on 0.0.0.0:P, which answers for every address of
//!   127.0.0.0/8 (Linux routes the whole block to lo).
//! - `--listen ADDR:PORT`: specific listeners (the "victims" the bench stops).
//!
//! Every connection: read until the end of the request header (or EOF, for TCP_CHECK's
//! connect-and-close), answer `HTTP/1.0 200 OK` with a fixed body, close.
//! Prints `READY` when listening and `STATS accepted=N` every second on stdout.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const RESPONSE: &[u8] =
    b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\nhello\n";

fn main() -> std::io::Result<()> {
    let mut addrs: Vec<String> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--port" => addrs.push(format!("0.0.0.0:{}", args.next().unwrap_or_default())),
            "--listen" => addrs.push(args.next().unwrap_or_default()),
            "--bench" => {} // passed by `cargo bench`
            other => {
                eprintln!("check_backend: unknown argument {other}");
                std::process::exit(2);
            }
        }
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let accepted = Arc::new(AtomicU64::new(0));
        for a in &addrs {
            let sock = socket2::Socket::new(
                socket2::Domain::IPV4,
                socket2::Type::STREAM.nonblocking(),
                None,
            )?;
            sock.set_reuse_address(true)?;
            let addr: std::net::SocketAddr = a
                .parse()
                .map_err(|e| std::io::Error::other(format!("{a}: {e}")))?;
            sock.bind(&addr.into())?;
            sock.listen(4096)?;
            let l = TcpListener::from_std(sock.into())?;
            let accepted = accepted.clone();
            tokio::spawn(async move {
                loop {
                    let Ok((mut s, _)) = l.accept().await else {
                        continue;
                    };
                    accepted.fetch_add(1, Ordering::Relaxed);
                    tokio::spawn(async move {
                        let mut buf = [0u8; 2048];
                        let mut seen = Vec::new();
                        loop {
                            match s.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => {
                                    seen.extend_from_slice(&buf[..n]);
                                    if seen.windows(4).any(|w| w == b"\r\n\r\n") {
                                        let _ = s.write_all(RESPONSE).await;
                                        return;
                                    }
                                    if seen.len() > 8192 {
                                        return;
                                    }
                                }
                            }
                        }
                    });
                }
            });
        }
        println!("READY");
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        loop {
            tick.tick().await;
            println!("STATS accepted={}", accepted.load(Ordering::Relaxed));
        }
    })
}
