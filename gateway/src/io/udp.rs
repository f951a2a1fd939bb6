//! UDP sockets for IKE (500) and NAT-T (4500) that know which local address a datagram
//! arrived on, so the reply leaves from that same address (IP_PKTINFO and
//! IPV6_RECVPKTINFO on receive, the matching control message on send).
//!
//! The control-message work is done by `quinn-udp` (no `unsafe` here, no allocation per
//! datagram). UDP GRO is switched off so every receive is one datagram.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::task::{Context, Poll};

use quinn_udp::{RecvMeta, Transmit, UdpSocketState};
use tokio::io::Interest;

/// The largest UDP payload: receive buffers of this size never truncate.
pub const MAX_DATAGRAM: usize = 65_535;

/// One datagram received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    /// Payload length.
    pub len: usize,
    /// The sender.
    pub remote: SocketAddr,
    /// The local address and port it was sent to (from the packet-info control message;
    /// the socket's bound address when the kernel gave none).
    pub local: SocketAddr,
}

/// A bound UDP socket with packet info. See the module documentation.
#[derive(Debug)]
pub struct UdpSocket {
    socket: tokio::net::UdpSocket,
    state: UdpSocketState,
    bound: SocketAddr,
}

impl UdpSocket {
    /// Binds `addr`. An IPv6 socket is IPv6-only, so `[::]` and `0.0.0.0` can both be
    /// bound on the same port. Must run inside a tokio runtime.
    pub fn bind(addr: SocketAddr) -> io::Result<Self> {
        use socket2::{Domain, Protocol, Socket, Type};
        let domain = if addr.is_ipv6() {
            Domain::IPV6
        } else {
            Domain::IPV4
        };
        let socket = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
        if addr.is_ipv6() {
            socket.set_only_v6(true)?;
        }
        // No SO_REUSEADDR: for UDP it would let a second gateway bind the same port.
        // Room for bursts of ESP while the driver is busy.
        let _ = socket.set_recv_buffer_size(4 << 20);
        let _ = socket.set_send_buffer_size(4 << 20);
        socket.bind(&addr.into())?;
        socket.set_nonblocking(true)?;
        let std_socket: std::net::UdpSocket = socket.into();
        let state = UdpSocketState::new((&std_socket).into())?;
        // One datagram per receive: keeps buffers small and the core's input simple.
        nix::sys::socket::setsockopt(
            &std_socket,
            nix::sys::socket::sockopt::UdpGroSegment,
            &false,
        )
        .map_err(io::Error::from)?;
        let bound = std_socket.local_addr()?;
        let socket = tokio::net::UdpSocket::from_std(std_socket)?;
        Ok(Self {
            socket,
            state,
            bound,
        })
    }

    /// The address the socket is bound to (with the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.bound
    }

    /// Polls until a datagram may be waiting (used to wait on many sockets at once).
    pub fn poll_recv_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.socket.poll_recv_ready(cx)
    }

    /// Receives one datagram into `buf` without waiting; `WouldBlock` when none is queued.
    pub fn try_recv(&self, buf: &mut [u8]) -> io::Result<Received> {
        self.socket.try_io(Interest::READABLE, || {
            let mut meta = [RecvMeta::default()];
            let mut bufs = [io::IoSliceMut::new(buf)];
            let n = self
                .state
                .recv((&self.socket).into(), &mut bufs, &mut meta)?;
            if n == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let [meta] = meta;
            Ok(Received {
                len: meta.len,
                remote: unmap(meta.addr),
                local: SocketAddr::new(
                    meta.dst_ip.map_or(self.bound.ip(), unmap_ip),
                    self.bound.port(),
                ),
            })
        })
    }

    /// Waits for and receives one datagram.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<Received> {
        loop {
            self.socket.readable().await?;
            match self.try_recv(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                other => return other,
            }
        }
    }

    /// Sends `data` to `remote` from `src_ip` (the address the peer used to reach us;
    /// `None` lets the kernel choose). Waits while the socket buffer is full.
    pub async fn send(
        &self,
        data: &[u8],
        remote: SocketAddr,
        src_ip: Option<IpAddr>,
    ) -> io::Result<()> {
        self.transmit(data, None, remote, src_ip).await
    }

    /// How many datagrams one [`Self::send_segments`] call may carry: the kernel's UDP
    /// segmentation offload limit, 1 where the kernel or the route lacks it.
    pub fn max_segments(&self) -> usize {
        self.state.max_gso_segments()
    }

    /// Sends `data` as datagrams of `segment_size` bytes each (the last may be shorter)
    /// in one system call (UDP GSO): at most [`Self::max_segments`] of them.
    pub async fn send_segments(
        &self,
        data: &[u8],
        segment_size: usize,
        remote: SocketAddr,
        src_ip: Option<IpAddr>,
    ) -> io::Result<()> {
        let segment_size = (data.len() > segment_size).then_some(segment_size);
        self.transmit(data, segment_size, remote, src_ip).await
    }

    async fn transmit(
        &self,
        data: &[u8],
        segment_size: Option<usize>,
        remote: SocketAddr,
        src_ip: Option<IpAddr>,
    ) -> io::Result<()> {
        let src_ip = src_ip.filter(|ip| !ip.is_unspecified());
        let transmit = Transmit {
            destination: remote,
            ecn: None,
            contents: data,
            segment_size,
            src_ip,
        };
        loop {
            self.socket.writable().await?;
            match self.socket.try_io(Interest::WRITABLE, || {
                self.state.try_send((&self.socket).into(), &transmit)
            }) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                other => return other,
            }
        }
    }
}

fn unmap_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

fn unmap(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(unmap_ip(addr.ip()), addr.port())
}

/// Binds `ike_port` and `nat_t_port` on every address in `listen`.
pub fn bind_all(listen: &[IpAddr], ike_port: u16, nat_t_port: u16) -> io::Result<Vec<UdpSocket>> {
    let mut sockets = Vec::with_capacity(listen.len() * 2);
    for ip in listen {
        for port in [ike_port, nat_t_port] {
            let addr = SocketAddr::new(*ip, port);
            let socket = UdpSocket::bind(addr)
                .map_err(|e| io::Error::new(e.kind(), format!("cannot bind UDP {addr}: {e}")))?;
            sockets.push(socket);
        }
    }
    Ok(sockets)
}
