//! The driver: the one tokio task that owns the sans-IO core and the only place in the
//! project that reads the clock.
//!
//! Each turn computes the core's next deadline, then waits on all of: the UDP sockets,
//! the raw ESP socket (when enabled), the TUN device, the deadline, SIGTERM/SIGINT (graceful shutdown), SIGHUP (reload the
//! users file) and status requests. After handling whichever came first it drains the
//! core's output. Buffers are allocated once, up front: the per-packet path allocates
//! nothing.

use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::ops::Range;
use std::task::Poll;
use std::time::{Duration, Instant};

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use wire::PacketBuf;

use crate::io::batch::GsoBatch;
use crate::io::control::ControlRequest;
use crate::io::esp::EspSocket;
use crate::io::tun::Tun;
use crate::io::udp::{MAX_DATAGRAM, UdpSocket};
use gateway_core::engine::{Engine, Output, TUN_HEADROOM, TUN_TAILROOM};

/// What the driver needs besides the engine.
#[derive(Debug)]
pub struct DriverIo {
    /// The UDP sockets (500 and 4500 on each listen address).
    pub sockets: Vec<UdpSocket>,
    /// The raw ESP sockets (IP protocol 50; one per family), when raw ESP is enabled.
    pub esp: Vec<EspSocket>,
    /// The TUN device; `None` for `connect --no-tun` and tests.
    pub tun: Option<Tun>,
    /// Status requests from the status socket and the metrics endpoint.
    pub control: mpsc::Receiver<ControlRequest>,
    /// How to re-read the users file on SIGHUP (`None`: nothing to reload).
    pub users_file: Option<std::path::PathBuf>,
    /// Whether a reloaded users file others can read is refused (see
    /// [`crate::secret_file`]).
    pub secret_files: crate::secret_file::Policy,
    /// How long a graceful shutdown may take before the driver gives up waiting.
    pub shutdown_grace: Duration,
}

/// Why the driver stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// SIGTERM or SIGINT, and the goodbyes were sent.
    Signal,
    /// The engine reported it was shut down by itself.
    EngineDone,
}

/// Datagrams handled per socket wake-up before the other event sources get a turn.
const RECV_BATCH: usize = 64;

#[allow(
    clippy::disallowed_methods,
    reason = "the driver is the one place that reads the clock; the core gets `now` from here"
)]
fn now() -> Instant {
    Instant::now()
}

/// Runs `engine` until a signal or the engine itself stops it.
pub async fn run<E: Engine>(engine: &mut E, io: DriverIo) -> io::Result<Stopped> {
    let DriverIo {
        sockets,
        esp,
        mut tun,
        mut control,
        users_file,
        secret_files,
        shutdown_grace,
    } = io;
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sighup = signal(SignalKind::hangup())?;
    let sockets = Sockets { udp: sockets, esp };

    let mut udp_buf = vec![0u8; MAX_DATAGRAM].into_boxed_slice();
    let mut tun_buf = PacketBuf::new(TUN_HEADROOM + MAX_DATAGRAM + TUN_TAILROOM, TUN_HEADROOM);
    let mut out_buf = PacketBuf::new(TUN_HEADROOM + MAX_DATAGRAM + TUN_TAILROOM, TUN_HEADROOM);
    let mut batch = GsoBatch::new();
    let mut next_socket = 0usize;
    let mut shutdown_deadline: Option<Instant> = None;

    loop {
        flush(engine, &sockets, tun.as_ref(), &mut out_buf).await;
        if let Some(cfg) = engine.poll_interface()
            && let Some(t) = tun.as_mut()
        {
            match t.configure(&cfg) {
                Ok(()) => {
                    tracing::info!(address = %cfg.address, peer = %cfg.peer, mtu = cfg.mtu, device = t.name(), "TUN addressed")
                }
                Err(e) => tracing::error!("cannot address the TUN device: {e}"),
            }
        }
        if let Some(limit) = shutdown_deadline {
            if engine.is_shut_down() {
                return Ok(Stopped::Signal);
            }
            if now() >= limit {
                tracing::warn!(
                    "shutdown: peers did not all answer within {shutdown_grace:?}; exiting anyway"
                );
                return Ok(Stopped::Signal);
            }
        } else if engine.is_shut_down() {
            return Ok(Stopped::EngineDone);
        }
        let deadline = match (engine.poll_timeout(), shutdown_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d.into()).await,
                None => std::future::pending().await,
            }
        };
        let tun_recv = async {
            match &tun {
                Some(t) => t.recv(tun_buf.spare_from_start()).await,
                None => std::future::pending().await,
            }
        };
        let ready_socket = poll_fn(|cx| {
            let n = sockets.udp.len();
            for k in 0..n {
                let i = (next_socket + k) % n;
                if let Some(s) = sockets.udp.get(i)
                    && let Poll::Ready(r) = s.poll_recv_ready(cx)
                {
                    return Poll::Ready((i, r));
                }
            }
            Poll::Pending
        });

        let esp_ready = poll_fn(|cx| {
            for (i, s) in sockets.esp.iter().enumerate() {
                if let Poll::Ready(r) = s.poll_recv_ready(cx) {
                    return Poll::Ready((i, r));
                }
            }
            Poll::Pending
        });

        tokio::select! {
            (i, ready) = esp_ready => {
                if let Err(e) = ready {
                    tracing::warn!("raw ESP socket error: {e}");
                    continue;
                }
                let Some(esp) = sockets.esp.get(i) else { continue };
                for _ in 0..RECV_BATCH {
                    let r = match esp.try_recv(&mut udp_buf) {
                        Ok(r) => r,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => {
                            tracing::debug!("raw ESP recv: {e}");
                            continue;
                        }
                    };
                    let offset = r.esp.start;
                    let Some(data) = udp_buf.get_mut(r.esp) else { continue };
                    let range = engine.handle_raw_esp(now(), r.local, r.remote, data);
                    let range = range.map(|r| r.start + offset..r.end + offset);
                    write_tun(tun.as_ref(), &udp_buf, range).await;
                }
            }
            (i, ready) = ready_socket => {
                next_socket = i + 1;
                if let Err(e) = ready {
                    tracing::warn!("UDP socket error: {e}");
                    continue;
                }
                let Some(socket) = sockets.udp.get(i) else { continue };
                for _ in 0..RECV_BATCH {
                    let r = match socket.try_recv(&mut udp_buf) {
                        Ok(r) => r,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => {
                            // ICMP errors surface here on Linux; they are not fatal.
                            tracing::debug!(local = %socket.local_addr(), "recv: {e}");
                            break;
                        }
                    };
                    let Some(data) = udp_buf.get_mut(..r.len) else { break };
                    let range = engine.handle_udp(now(), r.local, r.remote, data);
                    write_tun(tun.as_ref(), &udp_buf, range).await;
                }
            }
            n = tun_recv => {
                let mut n = n;
                // The first packet woke us; the rest of the burst is read without waiting.
                for _ in 0..RECV_BATCH {
                    match n {
                        Ok(len) => {
                            if tun_buf.set_len(len).is_ok()
                                && let Some(output) = engine.handle_tun(now(), &mut tun_buf)
                            {
                                send_or_batch(output, tun_buf.payload(), &mut batch, &sockets, tun.as_ref()).await;
                            }
                        }
                        Err(e) => {
                            if e.kind() != io::ErrorKind::WouldBlock {
                                tracing::warn!("TUN read: {e}");
                            }
                            break;
                        }
                    }
                    tun_buf.reset(TUN_HEADROOM);
                    let Some(t) = tun.as_ref() else { break };
                    n = t.try_recv(tun_buf.spare_from_start());
                }
                send_batch(&mut batch, &sockets).await;
                tun_buf.reset(TUN_HEADROOM);
            }
            () = sleep => {
                engine.handle_timeout(now());
            }
            _ = sigterm.recv(), if shutdown_deadline.is_none() => {
                tracing::info!("SIGTERM: saying goodbye to every peer");
                engine.begin_shutdown(now());
                shutdown_deadline = Some(now() + shutdown_grace);
            }
            _ = sigint.recv(), if shutdown_deadline.is_none() => {
                tracing::info!("SIGINT: saying goodbye to every peer");
                engine.begin_shutdown(now());
                shutdown_deadline = Some(now() + shutdown_grace);
            }
            _ = sighup.recv() => {
                reload(engine, users_file.as_deref(), secret_files);
            }
            Some(req) = control.recv() => {
                let _ = req.reply.send(engine.status(now()));
            }
        }
    }
}

fn reload<E: Engine>(
    engine: &mut E,
    users_file: Option<&std::path::Path>,
    policy: crate::secret_file::Policy,
) {
    let Some(path) = users_file else {
        tracing::info!("SIGHUP: no users_file configured, nothing to reload");
        return;
    };
    match crate::users_file::load(path, policy) {
        Ok((users, warnings)) => {
            for w in warnings {
                tracing::warn!("{w}");
            }
            tracing::info!(users = users.len(), "SIGHUP: reloaded {}", path.display());
            engine.reload_users(users);
        }
        Err(e) => tracing::error!("SIGHUP: {e}; keeping the users loaded before"),
    }
}

/// The sockets the driver sends on.
#[derive(Debug)]
struct Sockets {
    udp: Vec<UdpSocket>,
    esp: Vec<EspSocket>,
}

async fn flush<E: Engine>(
    engine: &mut E,
    sockets: &Sockets,
    tun: Option<&Tun>,
    buf: &mut PacketBuf,
) {
    loop {
        buf.reset(TUN_HEADROOM);
        let Some(output) = engine.poll_output(buf) else {
            break;
        };
        send_output(output, buf.payload(), sockets, tun).await;
    }
    buf.reset(TUN_HEADROOM);
}

/// The socket that serves `local`: same port and family, and the same address when
/// bound to a specific one (else the wildcard socket).
pub fn socket_for(sockets: &[UdpSocket], local: SocketAddr) -> Option<&UdpSocket> {
    let same_family_port = |s: &&UdpSocket| {
        let b = s.local_addr();
        b.port() == local.port() && b.is_ipv4() == local.is_ipv4()
    };
    sockets
        .iter()
        .filter(same_family_port)
        .find(|s| s.local_addr().ip() == local.ip())
        .or_else(|| {
            sockets
                .iter()
                .filter(same_family_port)
                .find(|s| s.local_addr().ip().is_unspecified())
        })
}

/// Writes the IP packet the engine left at `range` of `buf` (if any) to the TUN device.
async fn write_tun(tun: Option<&Tun>, buf: &[u8], range: Option<Range<usize>>) {
    if let (Some(range), Some(t)) = (range, tun)
        && let Some(packet) = buf.get(range)
        && let Err(e) = t.send(packet).await
    {
        tracing::debug!("TUN write: {e}");
    }
}

/// Sends `data` like [`send_output`], except that a UDP datagram joins `batch` (sent
/// first when the datagram cannot join it), to leave with the rest of the burst in one
/// segmented send.
async fn send_or_batch(
    output: Output,
    data: &[u8],
    batch: &mut GsoBatch,
    sockets: &Sockets,
    tun: Option<&Tun>,
) {
    let Output::Udp { local, remote } = output else {
        return send_output(output, data, sockets, tun).await;
    };
    let max_segments = socket_for(&sockets.udp, local).map_or(1, UdpSocket::max_segments);
    if max_segments < 2 {
        return send_output(output, data, sockets, tun).await;
    }
    if !batch.push((local, remote), data, max_segments) {
        send_batch(batch, sockets).await;
        if !batch.push((local, remote), data, max_segments) {
            send_output(output, data, sockets, tun).await;
        }
    }
}

/// Sends what `batch` holds, in one system call.
async fn send_batch(batch: &mut GsoBatch, sockets: &Sockets) {
    let Some(((local, remote), data, segment)) = batch.take() else {
        return;
    };
    let Some(socket) = socket_for(&sockets.udp, local) else {
        tracing::warn!(%local, %remote, "no socket for this local address; datagrams dropped");
        return;
    };
    if let Err(e) = socket
        .send_segments(data, segment, remote, Some(local.ip()))
        .await
    {
        tracing::warn!(%local, %remote, "send: {e}");
    }
}

async fn send_output(output: Output, data: &[u8], sockets: &Sockets, tun: Option<&Tun>) {
    match output {
        Output::Udp { local, remote } => {
            let Some(socket) = socket_for(&sockets.udp, local) else {
                tracing::warn!(%local, %remote, "no socket for this local address; datagram dropped");
                return;
            };
            if let Err(e) = socket.send(data, remote, Some(local.ip())).await {
                tracing::warn!(%local, %remote, "send: {e}");
            }
        }
        Output::Esp { local, remote } => {
            let Some(esp) = sockets
                .esp
                .iter()
                .find(|s| s.local_addr().is_ipv4() == remote.is_ipv4())
            else {
                tracing::warn!(%local, %remote, "no raw ESP socket; packet dropped");
                return;
            };
            if let Err(e) = esp.send(data, local, remote).await {
                tracing::warn!(%local, %remote, "raw ESP send: {e}");
            }
        }
        Output::Tun => {
            if let Some(t) = tun
                && let Err(e) = t.send(data).await
            {
                tracing::debug!("TUN write: {e}");
            }
        }
    }
}
