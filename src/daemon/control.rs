//! The control socket: a Unix stream socket (default `/run/rampart/rampart.sock`, mode 0600,
//! root or the daemon's own user only) speaking line-delimited JSON.
//!
//! Requests, one JSON object per line (a bare word such as `status` is accepted too):
//!
//! ```text
//! {"cmd":"status"}        -> {"ok":true,"status":{...StatusSnapshot...}}
//! {"cmd":"reload"}        -> {"ok":true,"reload":{...ReloadReply...}}
//! {"cmd":"reload-plan"}   -> {"ok":true,"reload":{...ReloadReply, applied: false...}}
//! anything else           -> {"ok":false,"error":"..."}
//! ```
//!
//! Reloads are the daemon's business: the server hands a [`ReloadRequest`] to the channel the
//! daemon gave it and relays the [`ReloadReply`].

use super::metrics::Metrics;
use super::status::{StatusBoard, StatusSnapshot};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot, watch};

pub const DEFAULT_SOCKET: &str = "/run/rampart/rampart.sock";

/// Longest request line accepted.
const MAX_REQUEST: usize = 64 * 1024;
/// How long a reload may take before the client is told it timed out.
pub const RELOAD_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("{path}: cannot create directory: {source}")]
    Dir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: another rampart is already listening on this control socket")]
    InUse { path: PathBuf },
    #[error("{path}: cannot listen: {source}")]
    Bind {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path}: cannot connect to the rampart daemon ({source}); is it running? (--control-socket PATH)"
    )]
    Connect {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: bad reply from the daemon: {detail}")]
    BadReply { path: PathBuf, detail: String },
    #[error("the daemon refused: {0}")]
    Refused(String),
}

/// What a reload did (or, for `reload-plan`, would do).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReloadReply {
    /// The new configuration is valid.
    pub ok: bool,
    /// The change was applied (false for a plan, or when the new file has errors).
    pub applied: bool,
    /// The operations of the diff, one per line (VIP, instance, IPVS operations).
    pub plan: Vec<String>,
    /// Diagnostics and other messages, rendered.
    pub messages: Vec<String>,
}

/// A reload asked for on the control socket; the daemon answers on `reply`.
#[derive(Debug)]
pub struct ReloadRequest {
    pub plan_only: bool,
    pub reply: oneshot::Sender<ReloadReply>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "kebab-case")]
pub enum Request {
    Status,
    Reload,
    ReloadPlan,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<StatusSnapshot>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reload: Option<ReloadReply>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Response {
    fn error(e: impl Into<String>) -> Response {
        Response {
            ok: false,
            status: None,
            reload: None,
            error: Some(e.into()),
        }
    }
}

/// Parse one request line: a JSON object, or a bare command word.
pub fn parse_request(line: &str) -> Result<Request, String> {
    let line = line.trim();
    if line.starts_with('{') {
        return serde_json::from_str(line)
            .map_err(|e| format!("bad request {line:?}: {e}; expected {{\"cmd\":\"status\"|\"reload\"|\"reload-plan\"}}"));
    }
    match line {
        "status" => Ok(Request::Status),
        "reload" => Ok(Request::Reload),
        "reload-plan" => Ok(Request::ReloadPlan),
        _ => Err(format!(
            "unknown command {line:?}; expected status, reload or reload-plan"
        )),
    }
}

/// What the server needs from the daemon.
#[derive(Clone)]
pub struct ControlHandler {
    pub status: Arc<StatusBoard>,
    pub metrics: Option<Arc<Metrics>>,
    /// None: reloads are not available (answered with an error).
    pub reload: Option<mpsc::Sender<ReloadRequest>>,
}

impl ControlHandler {
    async fn handle(&self, req: Request) -> Response {
        match req {
            Request::Status => Response {
                ok: true,
                status: Some(self.status.snapshot(self.metrics.as_deref())),
                reload: None,
                error: None,
            },
            Request::Reload | Request::ReloadPlan => {
                let Some(tx) = &self.reload else {
                    return Response::error("reload is not available in this daemon");
                };
                let (reply_tx, reply_rx) = oneshot::channel();
                let plan_only = req == Request::ReloadPlan;
                if tx
                    .send(ReloadRequest {
                        plan_only,
                        reply: reply_tx,
                    })
                    .await
                    .is_err()
                {
                    return Response::error("the daemon is not accepting reloads (shutting down?)");
                }
                match tokio::time::timeout(RELOAD_TIMEOUT, reply_rx).await {
                    Ok(Ok(r)) => Response {
                        ok: r.ok,
                        status: None,
                        error: if r.ok {
                            None
                        } else {
                            Some("the new configuration has errors; nothing was changed".into())
                        },
                        reload: Some(r),
                    },
                    Ok(Err(_)) => Response::error("the daemon dropped the reload request"),
                    Err(_) => {
                        Response::error(format!("no reload answer within {RELOAD_TIMEOUT:?}"))
                    }
                }
            }
        }
    }
}

/// A bound control socket.
pub struct ControlServer {
    listener: tokio::net::UnixListener,
    path: PathBuf,
}

impl ControlServer {
    /// Create the socket's directory (0755) if needed, replace a stale socket, bind, and make
    /// the socket 0600. A socket someone still answers on is an error, not replaced.
    pub fn bind(path: &Path) -> Result<ControlServer, ControlError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.exists() {
                std::fs::create_dir_all(dir).map_err(|source| ControlError::Dir {
                    path: dir.to_path_buf(),
                    source,
                })?;
                let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755));
            }
        }
        if std::fs::symlink_metadata(path).is_ok() {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(ControlError::InUse {
                    path: path.to_path_buf(),
                });
            }
            let _ = std::fs::remove_file(path);
        }
        // Bind with a tight umask so the socket is never reachable by others, even briefly.
        let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o177));
        let bound = tokio::net::UnixListener::bind(path);
        nix::sys::stat::umask(old);
        let listener = bound.map_err(|source| ControlError::Bind {
            path: path.to_path_buf(),
            source,
        })?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(
            |source| ControlError::Bind {
                path: path.to_path_buf(),
                source,
            },
        )?;
        Ok(ControlServer {
            listener,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Serve until `shutdown` turns true, then remove the socket file.
    pub async fn run(self, handler: ControlHandler, mut shutdown: watch::Receiver<bool>) {
        tracing::info!(target: "control", "control socket on {}", self.path.display());
        let me = nix::unistd::geteuid().as_raw();
        loop {
            let accepted = tokio::select! {
                a = self.listener.accept() => a,
                _ = shutdown.changed() => {
                    if *shutdown.borrow() { break; }
                    continue;
                }
            };
            let stream = match accepted {
                Ok((s, _)) => s,
                Err(e) => {
                    tracing::warn!(target: "control", "accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            // Root only (or the daemon's own user): the socket mode says so, and the peer's
            // credentials are checked as well in case the mode was changed.
            match stream.peer_cred() {
                Ok(c) if c.uid() == 0 || c.uid() == me => {}
                Ok(c) => {
                    tracing::warn!(target: "control", "refused control connection from uid {}", c.uid());
                    continue;
                }
                Err(e) => {
                    tracing::warn!(target: "control", "cannot read peer credentials: {e}");
                    continue;
                }
            }
            let handler = handler.clone();
            tokio::spawn(async move {
                if let Err(e) = serve_connection(stream, handler).await {
                    tracing::debug!(target: "control", "control connection: {e}");
                }
            });
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

async fn serve_connection(
    stream: tokio::net::UnixStream,
    handler: ControlHandler,
) -> std::io::Result<()> {
    let (r, mut w) = stream.into_split();
    let mut reader = tokio::io::BufReader::new(r).take(MAX_REQUEST as u64 + 1);
    let mut line = String::new();
    loop {
        line.clear();
        let n = reader.read_line(&mut line).await?;
        if n == 0 {
            return Ok(());
        }
        let resp = if n > MAX_REQUEST {
            Response::error(format!("request longer than {MAX_REQUEST} bytes"))
        } else if line.trim().is_empty() {
            continue;
        } else {
            match parse_request(&line) {
                Ok(req) => {
                    tracing::debug!(target: "control", "request {req:?}");
                    handler.handle(req).await
                }
                Err(e) => Response::error(e),
            }
        };
        let mut text = serde_json::to_string(&resp).unwrap_or_else(|e| {
            format!("{{\"ok\":false,\"error\":\"cannot encode the response: {e}\"}}")
        });
        text.push('\n');
        w.write_all(text.as_bytes()).await?;
        if n > MAX_REQUEST {
            return Ok(());
        }
        reader.set_limit(MAX_REQUEST as u64 + 1);
    }
}

/// Client side (blocking, for the CLI): send one request and read the response line.
pub fn call(path: &Path, req: &Request, timeout: Duration) -> Result<Response, ControlError> {
    let io = |source| ControlError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut s =
        std::os::unix::net::UnixStream::connect(path).map_err(|source| ControlError::Connect {
            path: path.to_path_buf(),
            source,
        })?;
    s.set_read_timeout(Some(timeout)).map_err(io)?;
    s.set_write_timeout(Some(timeout)).map_err(io)?;
    let mut line = serde_json::to_string(req).map_err(|e| ControlError::BadReply {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })?;
    line.push('\n');
    s.write_all(line.as_bytes()).map_err(io)?;
    let mut reply = String::new();
    BufReader::new(&s).read_line(&mut reply).map_err(io)?;
    if reply.trim().is_empty() {
        return Err(ControlError::BadReply {
            path: path.to_path_buf(),
            detail: "connection closed without an answer".into(),
        });
    }
    serde_json::from_str(&reply).map_err(|e| ControlError::BadReply {
        path: path.to_path_buf(),
        detail: format!("{e}: {}", reply.trim()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_forms() {
        assert_eq!(parse_request("{\"cmd\":\"status\"}\n"), Ok(Request::Status));
        assert_eq!(
            parse_request("{\"cmd\":\"reload-plan\"}"),
            Ok(Request::ReloadPlan)
        );
        assert_eq!(parse_request("reload\n"), Ok(Request::Reload));
        assert!(
            parse_request("{\"cmd\":\"explode\"}")
                .unwrap_err()
                .contains("expected")
        );
        assert!(
            parse_request("explode")
                .unwrap_err()
                .contains("unknown command")
        );
        assert_eq!(
            serde_json::to_string(&Request::ReloadPlan).unwrap(),
            "{\"cmd\":\"reload-plan\"}"
        );
    }

    proptest::proptest! {
        #[test]
        fn parse_request_is_total(line in ".{0,200}") {
            let _ = parse_request(&line);
        }

        #[test]
        fn requests_round_trip(k in 0u8..3) {
            let req = [Request::Status, Request::Reload, Request::ReloadPlan][k as usize].clone();
            let line = serde_json::to_string(&req).unwrap();
            proptest::prop_assert_eq!(parse_request(&line), Ok(req));
        }
    }
}
