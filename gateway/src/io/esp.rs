//! Raw ESP (IP protocol 50) for clients that are not behind a NAT, over IPv4.
//!
//! A raw IPv4 socket for protocol 50 receives every ESP packet addressed to this host
//! (the kernel reassembles fragments first) with its IP header, which gives both the
//! sender and the local address the peer used. It needs no kernel ESP module: with a raw
//! socket open for the protocol the kernel hands the packet over instead of answering
//! "protocol unreachable". Replies leave from the address the peer used: the send
//! carries an `IP_PKTINFO` control message naming it (built on the stack, no allocation
//! and no `unsafe`; socket2 does the `sendmsg`). The kernel writes the IP header.
//!
//! Opening the socket needs `CAP_NET_RAW`; without it [`EspSocket::bind`] says so.
//! IPv6 raw ESP is not built: IPv6 clients use UDP 4500 (`force_encapsulation`).

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::AsRawFd;
use std::task::{Context, Poll};

use socket2::{Domain, MsgHdr, Protocol, SockAddr, SockRef, Socket, Type};
use tokio::io::Interest;

/// IP protocol number of ESP.
pub const IPPROTO_ESP: i32 = 50;

pub use crate::core::transport::{RawEsp, RawEspError, parse_raw_esp_ipv4};

/// A raw IPv4 socket for protocol 50, registered with tokio. See the module
/// documentation.
#[derive(Debug)]
pub struct EspSocket {
    /// The raw socket, registered with tokio through its UDP socket type: tokio's
    /// readiness and `recv`/`try_io` are plain `recv(2)`/`sendmsg(2)` on the descriptor,
    /// which is what a raw socket needs (the safe way to register a descriptor that is
    /// not a UDP or TCP socket; `AsyncFd::new` is deprecated as unsound).
    fd: tokio::net::UdpSocket,
    bound: Ipv4Addr,
}

impl EspSocket {
    /// Opens the raw ESP socket, bound to `addr` (`0.0.0.0` for every address). Fails
    /// with a message naming `CAP_NET_RAW` when the process lacks it. Must run inside a
    /// tokio runtime.
    pub fn bind(addr: Ipv4Addr) -> io::Result<Self> {
        let socket = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(IPPROTO_ESP)))
            .map_err(|e| {
                if e.kind() == io::ErrorKind::PermissionDenied {
                    io::Error::new(
                        e.kind(),
                        format!(
                            "cannot open a raw ESP socket (IP protocol 50): {e}; raw_esp = true \
                         needs CAP_NET_RAW (run as root or grant the capability, or set \
                         raw_esp = false and force_encapsulation = true)"
                        ),
                    )
                } else {
                    io::Error::new(e.kind(), format!("cannot open a raw ESP socket: {e}"))
                }
            })?;
        let _ = socket.set_recv_buffer_size(4 << 20);
        let _ = socket.set_send_buffer_size(4 << 20);
        if !addr.is_unspecified() {
            socket.bind(&SocketAddr::V4(SocketAddrV4::new(addr, 0)).into())?;
        }
        socket.set_nonblocking(true)?;
        Ok(Self {
            fd: tokio::net::UdpSocket::from_std(std::net::UdpSocket::from(socket))?,
            bound: addr,
        })
    }

    /// The address the socket is bound to (`0.0.0.0`: all).
    pub fn local_addr(&self) -> Ipv4Addr {
        self.bound
    }

    /// Polls until a packet may be waiting.
    pub fn poll_recv_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.fd.poll_recv_ready(cx)
    }

    /// Receives one packet (IPv4 header included) into `buf` without waiting;
    /// `WouldBlock` when none is queued. Returns its length.
    pub fn try_recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.fd.try_recv(buf)
    }

    /// Waits for and receives one packet (IPv4 header included).
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.fd.recv(buf).await
    }

    /// Sends the ESP packet `esp` (SPI onwards; the kernel adds the IP header) to
    /// `remote` from `local` (the address the peer used; unspecified lets the kernel
    /// choose). Waits while the socket buffer is full.
    pub async fn send(&self, esp: &[u8], local: IpAddr, remote: IpAddr) -> io::Result<()> {
        let (IpAddr::V4(local), IpAddr::V4(remote)) = (local, remote) else {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "raw ESP over IPv6 is not built",
            ));
        };
        let dest = SockAddr::from(SocketAddrV4::new(remote, 0));
        let control = PktInfo::new(local);
        let with_source = !local.is_unspecified() && self.bound.is_unspecified();
        self.fd
            .async_io(Interest::WRITABLE, || {
                // Built per attempt: `MsgHdr` holds raw pointers and must not live across
                // an await.
                let bufs = [io::IoSlice::new(esp)];
                let mut msg = MsgHdr::new().with_addr(&dest).with_buffers(&bufs);
                if with_source {
                    msg = msg.with_control(control.bytes());
                }
                SockRef::from(&self.fd).sendmsg(&msg, 0)
            })
            .await
            .map(|_| ())
    }

    /// The file descriptor (for tests that inspect the socket).
    pub fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }
}

/// One `IP_PKTINFO` control message (`struct cmsghdr` + `struct in_pktinfo`, padded to
/// `CMSG_SPACE`), written field by field in native byte order on the stack.
struct PktInfo {
    buf: [u8; PKTINFO_SPACE],
}

const CMSG_ALIGN: usize = core::mem::size_of::<usize>();
const fn cmsg_align(n: usize) -> usize {
    (n + CMSG_ALIGN - 1) & !(CMSG_ALIGN - 1)
}
const CMSG_HDR: usize = core::mem::size_of::<libc::cmsghdr>();
/// `struct in_pktinfo { int ipi_ifindex; struct in_addr ipi_spec_dst, ipi_addr; }`.
const IN_PKTINFO: usize = core::mem::size_of::<libc::in_pktinfo>();
const PKTINFO_SPACE: usize = cmsg_align(CMSG_HDR) + cmsg_align(IN_PKTINFO);

impl PktInfo {
    fn new(src: Ipv4Addr) -> Self {
        let mut buf = [0u8; PKTINFO_SPACE];
        let len = cmsg_align(CMSG_HDR) + IN_PKTINFO;
        // cmsghdr: cmsg_len (size_t on Linux), cmsg_level, cmsg_type.
        let len_bytes = len.to_ne_bytes();
        let level = libc::IPPROTO_IP.to_ne_bytes();
        let kind = libc::IP_PKTINFO.to_ne_bytes();
        let fields: [(usize, &[u8]); 3] = [
            (0, &len_bytes),
            (CMSG_ALIGN, &level),
            (CMSG_ALIGN + 4, &kind),
        ];
        for (at, bytes) in fields {
            if let Some(dst) = buf.get_mut(at..at + bytes.len()) {
                dst.copy_from_slice(bytes);
            }
        }
        // in_pktinfo: ifindex 0 (any), ipi_spec_dst = the source address to use.
        let data = cmsg_align(CMSG_HDR);
        if let Some(dst) = buf.get_mut(data + 4..data + 8) {
            dst.copy_from_slice(&src.octets());
        }
        Self { buf }
    }

    fn bytes(&self) -> &[u8] {
        &self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pktinfo_layout_matches_libc() {
        // glibc/musl on 64-bit Linux: 16-byte cmsghdr + 12-byte in_pktinfo, CMSG_SPACE 32.
        assert_eq!(CMSG_HDR, 16);
        assert_eq!(IN_PKTINFO, 12);
        assert_eq!(PKTINFO_SPACE, 32);
        let p = PktInfo::new(Ipv4Addr::new(192, 0, 2, 1));
        let b = p.bytes();
        assert_eq!(usize::from_ne_bytes(b[..8].try_into().unwrap()), 28);
        assert_eq!(i32::from_ne_bytes(b[8..12].try_into().unwrap()), 0); // IPPROTO_IP
        assert_eq!(i32::from_ne_bytes(b[12..16].try_into().unwrap()), 8); // IP_PKTINFO
        assert_eq!(&b[16..20], &[0, 0, 0, 0]); // ifindex
        assert_eq!(&b[20..24], &[192, 0, 2, 1]); // spec_dst
        assert_eq!(&b[24..28], &[0, 0, 0, 0]);
    }
}
