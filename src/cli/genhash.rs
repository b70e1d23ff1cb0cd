//! `rampart genhash`: keepalived's genhash — the MD5 digest of a URL's body, computed exactly
//! as HTTP_GET/SSL_GET compute it (same request bytes, same hashed bytes), with the same flags
//! and output (checked against Debian's genhash 2.2.7, tests/check_genhash.rs).

use crate::check::http::{self, hexdump};
use crate::check::probe::{self, ConnectSpec, FetchError, TlsSpec, UrlSpec};
use crate::config::model::HttpProtocol;
use std::ffi::OsString;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::{Duration, Instant};

const USAGE: &str = "Usage: genhash COMMAND [OPTIONS]
Commands:
   -s server-address -p port -u url
   -S -s server-address -p port -u url
   -h

Options:
Either long or short options are allowed.
   --use-ssl         -S       Use SSL connection to remote server.
   --use-sni         -I       Use SNI during SSL handshake (uses virtualhost setting; see -V).
   --server          -s       Use the specified remote server address.
   --port            -p       Use the specified remote server port.
   --url             -u       Use the specified remote server url.
   --use-virtualhost -V       Use the specified virtualhost in GET query.
   --verbose         -v       Use verbose mode output.
   --help            -h       Display this short inlined help screen.
   --fwmark          -m       Use the specified FW mark.
   --protocol        -P       Use the specified HTTP protocol - '1.0', 1.0c', '1.1'.
                                1.0c means 1.0 with 'Connection: close'
   --timeout         -t       Timeout in seconds
";

/// Default timeout when `-t` is not given.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq)]
pub struct Args {
    pub server: IpAddr,
    pub port: u16,
    pub url: String,
    pub ssl: bool,
    pub sni: bool,
    pub vhost: Option<String>,
    pub proto: HttpProtocol,
    pub timeout: Duration,
    pub fwmark: Option<u32>,
    pub verbose: bool,
}

/// Argument errors; each is printed before the usage text, as genhash does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgError {
    #[error("")]
    Help,
    #[error("unrecognized option '{0}'")]
    Unknown(String),
    #[error("option '{0}' requires an argument")]
    Missing(String),
    #[error("server should be an IP, not {0}")]
    Server(String),
    #[error("invalid port number '{0}'")]
    Port(String),
    #[error("invalid HTTP protocol version '{0}'")]
    Protocol(String),
    #[error("invalid timeout '{0}'")]
    Timeout(String),
    #[error("invalid fwmark '{0}'")]
    Fwmark(String),
    #[error("")]
    Incomplete,
}

/// Parse genhash's getopt-style arguments (`-s X`, `-sX`, `--server X`, `--server=X`).
pub fn parse(args: &[String]) -> Result<Args, ArgError> {
    let mut server = None;
    let mut port = None;
    let mut url = None;
    let mut a = Args {
        server: IpAddr::from([0, 0, 0, 0]),
        port: 0,
        url: String::new(),
        ssl: false,
        sni: false,
        vhost: None,
        proto: HttpProtocol::V1_0,
        timeout: DEFAULT_TIMEOUT,
        fwmark: None,
        verbose: false,
    };
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        let (flag, inline): (String, Option<String>) = if let Some(long) = arg.strip_prefix("--") {
            let (name, val) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            let short = match name {
                "use-ssl" => "S",
                "use-sni" => "I",
                "server" => "s",
                "port" => "p",
                "url" => "u",
                "use-virtualhost" => "V",
                "verbose" => "v",
                "help" => "h",
                "fwmark" => "m",
                "protocol" => "P",
                "timeout" => "t",
                _ => return Err(ArgError::Unknown(arg.clone())),
            };
            (short.to_string(), val)
        } else if let Some(short) = arg.strip_prefix('-').filter(|s| !s.is_empty()) {
            let mut cs = short.chars();
            let f = cs.next().map(String::from).unwrap_or_default();
            let rest: String = cs.collect();
            (f, (!rest.is_empty()).then_some(rest))
        } else {
            return Err(ArgError::Unknown(arg.clone()));
        };
        let takes_value = matches!(flag.as_str(), "s" | "p" | "u" | "V" | "m" | "P" | "t");
        let value = if takes_value {
            match inline {
                Some(v) => v,
                None => {
                    let v = args
                        .get(i)
                        .cloned()
                        .ok_or(ArgError::Missing(flag.clone()))?;
                    i += 1;
                    v
                }
            }
        } else {
            String::new()
        };
        match flag.as_str() {
            "h" => return Err(ArgError::Help),
            "S" => a.ssl = true,
            "I" => a.sni = true,
            "v" => a.verbose = true,
            "s" => server = Some(value.parse().map_err(|_| ArgError::Server(value))?),
            "p" => port = Some(value.parse().map_err(|_| ArgError::Port(value))?),
            "u" => url = Some(value),
            "V" => a.vhost = Some(value),
            "P" => {
                a.proto = match value.as_str() {
                    "1.0" => HttpProtocol::V1_0,
                    "1.0c" | "1.0C" => HttpProtocol::V1_0C,
                    "1.1" => HttpProtocol::V1_1,
                    _ => return Err(ArgError::Protocol(value)),
                }
            }
            "t" => {
                a.timeout =
                    Duration::from_secs(value.parse::<u64>().map_err(|_| ArgError::Timeout(value))?)
            }
            "m" => a.fwmark = Some(parse_u32(&value).ok_or(ArgError::Fwmark(value))?),
            _ => return Err(ArgError::Unknown(arg.clone())),
        }
    }
    match (server, port, url) {
        (Some(s), Some(p), Some(u)) => {
            a.server = s;
            a.port = p;
            a.url = u;
            Ok(a)
        }
        _ => Err(ArgError::Incomplete),
    }
}

fn parse_u32(s: &str) -> Option<u32> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u32::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

const SEP_HEADER: &str =
    "-----------------------[    HTTP Header Buffer    ]-----------------------";
const SEP_HEADER_ASCII: &str =
    "-----------------------[ HTTP Header Ascii Buffer ]-----------------------";
const SEP_BODY: &str =
    "-----------------------[        HTML Buffer        ]-----------------------";
const SEP_HASH: &str =
    "-----------------------[    HTML hash resulting    ]-----------------------";
const SEP_FINAL: &str =
    "-----------------------[ HTML hash final resulting ]-----------------------";

/// What genhash prints for one fetch: (stdout, stderr).
pub fn render(
    args: &Args,
    result: &Result<probe::Fetched, FetchError>,
    elapsed: Duration,
) -> (String, String) {
    let mut out = String::new();
    let mut err = String::new();
    match result {
        Ok(probe::Fetched {
            response: resp,
            body,
            timed_out,
            ..
        }) => {
            let hex = hex::encode(resp.digest);
            if args.verbose {
                out.push_str(SEP_HEADER);
                out.push('\n');
                out.push_str(&hexdump(&resp.header));
                out.push_str(SEP_HEADER_ASCII);
                out.push('\n');
                out.push_str(&String::from_utf8_lossy(&resp.header));
                out.push('\n');
                if !body.is_empty() {
                    out.push_str(SEP_BODY);
                    out.push('\n');
                    for chunk in body {
                        out.push_str(&hexdump(chunk));
                    }
                }
                if *timed_out {
                    // genhash dumps what arrived, then gives up without a digest.
                    out.push_str(if args.ssl {
                        "Timeout SSL read\n"
                    } else {
                        "Timeout HTTP read\n"
                    });
                } else if !args.ssl {
                    out.push('\n');
                    out.push_str(SEP_HASH);
                    out.push('\n');
                    out.push_str(&hexdump(&resp.digest));
                    out.push_str(SEP_FINAL);
                    out.push('\n');
                }
                // Over SSL genhash prints the bare digest right after the body dump.
                if !*timed_out {
                    out.push_str(&hex);
                    out.push('\n');
                }
            } else if *timed_out {
                out.push_str(if args.ssl {
                    "Timeout SSL read\n"
                } else {
                    "Timeout HTTP read\n"
                });
            } else {
                out.push_str(&hex);
                out.push('\n');
            }
        }
        Err(FetchError::Connect { .. }) | Err(FetchError::ConnectTimeout { .. }) => {
            out.push_str("Connection failed\n")
        }
        // genhash names the layer that timed out: SSL for any read over TLS.
        Err(FetchError::Timeout(_)) if args.ssl => out.push_str("Timeout SSL read\n"),
        Err(FetchError::Timeout(_)) => out.push_str("Timeout WEB read\n"),
        Err(FetchError::Http(http::HttpError::NoData)) => {
            err.push_str("no data received from remote webserver\n");
            if args.verbose {
                // genhash still prints its (empty) buffers and the digest of nothing.
                use md5::Digest;
                let empty: [u8; 16] = md5::Md5::digest(b"").into();
                out.push_str(SEP_HEADER);
                out.push_str("\n\n");
                out.push_str(SEP_HASH);
                out.push('\n');
                out.push_str(&hexdump(&empty));
                out.push_str(SEP_FINAL);
                out.push('\n');
            }
        }
        Err(e) => err.push_str(&format!("{e}\n")),
    }
    if args.verbose {
        out.push_str(&format!(
            "\nGlobal response time for [{}] = {} usecs\n",
            args.url,
            elapsed.as_micros()
        ));
    }
    (out, err)
}

pub fn main(args: Vec<OsString>) -> ExitCode {
    let args: Vec<String> = args
        .into_iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let a = match parse(&args) {
        Ok(a) => a,
        Err(e) => {
            let msg = e.to_string();
            if !msg.is_empty() {
                eprintln!("{msg}");
            }
            eprint!("{USAGE}");
            return ExitCode::from(1);
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("genhash: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let connect = ConnectSpec {
        addr: SocketAddr::new(a.server, a.port),
        bind_ip: None,
        bind_port: None,
        fwmark: a.fwmark,
        bind_if: None,
        timeout: a.timeout,
    };
    let url = UrlSpec {
        host: http::host_header(a.vhost.as_deref(), a.server, a.port),
        path: a.url.clone(),
        digest: None,
        status: Vec::new(),
        regex: None,
    };
    let tls = a
        .ssl
        .then(|| TlsSpec::new(if a.sni { a.vhost.clone() } else { None }, None));
    let started = Instant::now();
    // genhash hashes whatever the server sends; the cap only protects memory.
    let result = rt.block_on(probe::fetch(
        &connect,
        tls.as_ref(),
        a.proto,
        &url,
        u64::MAX,
        a.verbose,
        true,
    ));
    let result = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("genhash: {e}");
            return ExitCode::from(1);
        }
    };
    let (out, err) = render(&a, &result, started.elapsed());
    print!("{out}");
    eprint!("{err}");
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Args, ArgError> {
        parse(&s.split_whitespace().map(String::from).collect::<Vec<_>>())
    }

    #[test]
    fn flags() {
        let a = p("-s 127.0.0.1 -p 80 -u /x -S -I -V host -P 1.1 -t 3 -m 0x10 -v").unwrap();
        assert_eq!(a.server, "127.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!((a.port, a.url.as_str()), (80, "/x"));
        assert!(a.ssl && a.sni && a.verbose);
        assert_eq!(a.vhost.as_deref(), Some("host"));
        assert_eq!(a.proto, HttpProtocol::V1_1);
        assert_eq!(a.timeout, Duration::from_secs(3));
        assert_eq!(a.fwmark, Some(16));
        let b = p("--server=::1 --port 8080 --url=/ -P1.0c").unwrap();
        assert_eq!(b.proto, HttpProtocol::V1_0C);
        assert_eq!(
            p("-s localhost -p 1 -u /"),
            Err(ArgError::Server("localhost".into()))
        );
        assert_eq!(p("-s 1.2.3.4"), Err(ArgError::Incomplete));
        assert_eq!(p("-h"), Err(ArgError::Help));
        assert_eq!(
            p("-s 1.2.3.4 -p abc -u /"),
            Err(ArgError::Port("abc".into()))
        );
        assert_eq!(
            p("-s 1.2.3.4 -p 1 -u / -P 2.0"),
            Err(ArgError::Protocol("2.0".into()))
        );
    }
}
