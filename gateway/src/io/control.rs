//! The status Unix socket and the Prometheus endpoint. Both ask the driver (which owns
//! the core) for a [`StatusReport`] through a channel; neither touches the core.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, oneshot};

use gateway_core::status::StatusReport;

use crate::status::{Render as _, StatusRequest};

/// A request from a control task to the driver.
#[derive(Debug)]
pub struct ControlRequest {
    /// Where the driver sends the report.
    pub reply: oneshot::Sender<StatusReport>,
}

/// The sending side control tasks use.
pub type ControlSender = mpsc::Sender<ControlRequest>;

async fn ask(tx: &ControlSender) -> io::Result<StatusReport> {
    let (reply, rx) = oneshot::channel();
    tx.send(ControlRequest { reply })
        .await
        .map_err(|_| io::Error::other("the gateway is shutting down"))?;
    rx.await
        .map_err(|_| io::Error::other("the gateway is shutting down"))
}

/// The status socket; the file is removed on drop.
#[derive(Debug)]
pub struct StatusSocket {
    path: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl StatusSocket {
    /// Binds `path` (replacing a stale socket file, refusing if a server answers there),
    /// readable and writable by the owner only from the start (see [`bind_private`]),
    /// and serves requests in a task.
    pub async fn bind(path: &Path, tx: ControlSender) -> io::Result<Self> {
        use std::os::unix::fs::FileTypeExt;
        if let Ok(meta) = std::fs::symlink_metadata(path) {
            if !meta.file_type().is_socket() {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{} exists and is not a socket", path.display()),
                ));
            }
            if tokio::net::UnixStream::connect(path).await.is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("another gateway answers on {}", path.display()),
                ));
            }
            std::fs::remove_file(path)?;
        }
        let listener = bind_private(path).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot bind status socket {}: {e}", path.display()),
            )
        })?;
        listener.set_nonblocking(true)?;
        let listener = tokio::net::UnixListener::from_std(listener)?;
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let tx = tx.clone();
                tokio::spawn(async move {
                    if let Err(e) = serve_status(stream, &tx).await {
                        tracing::debug!("status socket client: {e}");
                    }
                });
            }
        });
        Ok(Self {
            path: path.to_owned(),
            task,
        })
    }
}

/// Binds a Unix socket at `path` that only its owner can connect to, mode 0600 from the
/// moment it exists: it is created under a umask of 0o177. (Binding first and then
/// chmod-ing would leave a window in which any local user could connect.) The umask is
/// the process's, so it is restored at once; nothing else creates files meanwhile (the
/// gateway sets up on one thread). A directory with a default ACL overrides the umask:
/// then the socket is narrowed to 0600 after all, and a warning says why.
pub fn bind_private(path: &Path) -> io::Result<std::os::unix::net::UnixListener> {
    use nix::sys::stat::{Mode, umask};
    use std::os::unix::fs::PermissionsExt;
    let previous = umask(Mode::from_bits_truncate(0o177));
    let bound = std::os::unix::net::UnixListener::bind(path);
    umask(previous);
    let listener = bound?;
    let mode = std::fs::metadata(path)?.permissions().mode();
    if mode & 0o077 != 0 {
        tracing::warn!(
            "status socket {} was created with mode {:o} despite the umask (a default ACL on its directory?); narrowed to 0600",
            path.display(),
            mode & 0o777
        );
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(listener)
}

impl Drop for StatusSocket {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The status socket's request: one JSON line (the reader bounds it to 4096 bytes). The
/// error is the answer's text.
pub fn parse_status_request(line: &str) -> Result<StatusRequest, String> {
    serde_json::from_str::<StatusRequest>(line).map_err(|e| format!("bad request: {e}"))
}

async fn serve_status(stream: tokio::net::UnixStream, tx: &ControlSender) -> io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    BufReader::new(read).take(4096).read_line(&mut line).await?;
    let answer = match parse_status_request(&line) {
        Ok(StatusRequest::Status) => {
            serde_json::to_string(&ask(tx).await?).map_err(io::Error::other)?
        }
        Err(e) => serde_json::json!({ "error": e }).to_string(),
    };
    write.write_all(answer.as_bytes()).await?;
    write.write_all(b"\n").await?;
    write.shutdown().await
}

/// Serves `GET /metrics` on `addr` in a task (plain HTTP/1.0, one request per
/// connection). Returns the bound address. Per-session series (user names, inner
/// addresses) only when `detailed` (`metrics.detailed = true`).
pub async fn serve_metrics(
    addr: SocketAddr,
    tx: ControlSender,
    detailed: bool,
) -> io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| io::Error::new(e.kind(), format!("cannot bind metrics_listen {addr}: {e}")))?;
    let bound = listener.local_addr()?;
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let tx = tx.clone();
            tokio::spawn(async move {
                if let Err(e) = serve_http(stream, &tx, detailed).await {
                    tracing::debug!("metrics client: {e}");
                }
            });
        }
    });
    Ok((bound, task))
}

/// Whether `head` holds a whole HTTP request head (a blank line ends it).
pub fn http_head_complete(head: &[u8]) -> bool {
    head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n")
}

/// Whether the request head (at most 2048 bytes, possibly cut short) asks for the
/// metrics: its request line is `GET /metrics` or `GET /metrics?…`.
pub fn is_metrics_request(head: &[u8]) -> bool {
    let head = String::from_utf8_lossy(head);
    let mut parts = head.lines().next().unwrap_or("").split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    method == "GET" && (target == "/metrics" || target.starts_with("/metrics?"))
}

async fn serve_http(
    mut stream: tokio::net::TcpStream,
    tx: &ControlSender,
    detailed: bool,
) -> io::Result<()> {
    let mut buf = [0u8; 2048];
    let mut len = 0;
    // Read the request head (bounded); only the request line matters.
    while len < buf.len() {
        let n = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            stream.read(&mut buf[len..]),
        )
        .await
        .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
        if n == 0 {
            break;
        }
        len += n;
        if http_head_complete(&buf[..len]) {
            break;
        }
    }
    let (status, content_type, body) = if is_metrics_request(&buf[..len]) {
        (
            "200 OK",
            "text/plain; version=0.0.4",
            ask(tx).await?.to_prometheus_with(detailed),
        )
    } else {
        (
            "404 Not Found",
            "text/plain",
            "only /metrics is served here\n".to_owned(),
        )
    };
    let response = format!(
        "HTTP/1.0 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer_forever(mut rx: mpsc::Receiver<ControlRequest>) {
        tokio::spawn(async move {
            while let Some(req) = rx.recv().await {
                let mut r = StatusReport {
                    version: "test".into(),
                    ..StatusReport::default()
                };
                r.counters.insert("dropped.bad_spi".into(), 5);
                r.sessions.push(gateway_core::status::SessionStatus {
                    user: "alice".into(),
                    outer: "198.51.100.7:4500".parse().unwrap(),
                    inner: Some("10.77.0.2".parse().unwrap()),
                    uptime_secs: 1,
                    bytes_in: 1000,
                    bytes_out: 2000,
                    packets_in: 10,
                    packets_out: 20,
                    esp: None,
                    l2tp_tunnel: 1,
                    l2tp_session: 1,
                });
                let _ = req.reply.send(r);
            }
        });
    }

    #[tokio::test]
    async fn status_socket_round_trip_and_cleanup() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l2tpgw.sock");
        let (tx, rx) = mpsc::channel(4);
        answer_forever(rx);
        let sock = StatusSocket::bind(&path, tx.clone()).await.unwrap();
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let report = crate::status::query(&path).await.unwrap();
        assert_eq!(report.version, "test");
        assert_eq!(report.counters["dropped.bad_spi"], 5);
        // A second server on the same path is refused while the first answers.
        let err = StatusSocket::bind(&path, tx).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        drop(sock);
        assert!(!path.exists(), "socket file removed on drop");
    }

    /// Made under the umask, not chmod-ed afterwards: with the tests' usual umask
    /// (0o022) a plain bind gives 0755; bind_private gives 0600 and leaves the
    /// process's umask as it was.
    #[test]
    fn bind_private_creates_the_socket_owner_only() {
        use nix::sys::stat::{Mode, umask};
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("private.sock");
        let before = umask(Mode::from_bits_truncate(0o022));
        umask(before);
        let _listener = bind_private(&path).unwrap();
        let after = umask(before);
        assert_eq!(after, before, "the umask is restored");
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[tokio::test]
    async fn metrics_endpoint_serves_prometheus_text() {
        let (tx, rx) = mpsc::channel(4);
        answer_forever(rx);
        let (addr, task) = serve_metrics("127.0.0.1:0".parse().unwrap(), tx.clone(), false)
            .await
            .unwrap();
        let (detailed_addr, detailed_task) =
            serve_metrics("127.0.0.1:0".parse().unwrap(), tx, true)
                .await
                .unwrap();
        let get_from = |addr: SocketAddr, path: &'static str| async move {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
                .await
                .unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).await.unwrap();
            out
        };
        let get = |path: &'static str| get_from(addr, path);
        let ok = get("/metrics").await;
        assert!(ok.starts_with("HTTP/1.0 200 OK"), "{ok}");
        assert!(ok.contains("l2tpgw_dropped{reason=\"bad_spi\"} 5"), "{ok}");
        assert!(ok.contains("l2tpgw_sessions 1"), "{ok}");
        assert!(
            !ok.contains("alice") && !ok.contains("10.77.0.2"),
            "no user name or inner address unless detailed: {ok}"
        );
        let detailed = get_from(detailed_addr, "/metrics").await;
        assert!(
            detailed.contains("user=\"alice\",inner=\"10.77.0.2\""),
            "{detailed}"
        );
        let missing = get("/").await;
        assert!(missing.starts_with("HTTP/1.0 404"), "{missing}");
        task.abort();
        detailed_task.abort();
    }
}
