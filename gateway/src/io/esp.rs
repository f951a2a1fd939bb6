//! Raw ESP (IP protocol 50) for clients that are not behind a NAT, over IPv4 and IPv6.
//!
//! A raw socket for protocol 50 receives every ESP packet addressed to this host (the
//! kernel reassembles fragments first). It needs no kernel ESP module: with a raw socket
//! open for the protocol the kernel hands the packet over instead of answering "protocol
//! unreachable". IPv4 raw sockets return the IP header, which gives both the sender and
//! the local address the peer used; IPv6 ones return the ESP packet alone, with the
//! sender from `recvmsg` and the local address from an `IPV6_PKTINFO` control message
//! (nix's `recvmsg`, into a buffer on the stack). Replies leave from the address the
//! peer used: the send carries an `IP_PKTINFO`/`IPV6_PKTINFO` control message naming it
//! (built on the stack; socket2 does the `sendmsg`). The kernel writes the IP header.
//! Nothing here allocates per packet or uses `unsafe`.
//!
//! Opening a socket needs `CAP_NET_RAW`; without it [`EspSocket::bind`] says so.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::ops::Range;
use std::os::fd::AsRawFd;
use std::task::{Context, Poll};

use socket2::{Domain, MsgHdr, Protocol, SockAddr, SockRef, Socket, Type};
use tokio::io::Interest;

/// IP protocol number of ESP.
pub const IPPROTO_ESP: i32 = 50;

use gateway_core::transport::parse_raw_esp_ipv4;

/// One raw ESP packet received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawReceived {
    /// The local address the peer sent to.
    pub local: IpAddr,
    /// The peer.
    pub remote: IpAddr,
    /// The ESP packet (SPI onwards) within the receive buffer.
    pub esp: Range<usize>,
}

/// A raw ESP socket (IPv4 or IPv6), registered with tokio. See the module
/// documentation.
#[derive(Debug)]
pub struct EspSocket {
    /// The raw socket, registered with tokio through its UDP socket type: tokio's
    /// readiness and `try_io` are plain `recv(2)`/`recvmsg(2)`/`sendmsg(2)` on the
    /// descriptor, which is what a raw socket needs (the safe way to register a
    /// descriptor that is not a UDP or TCP socket; `AsyncFd::new` is deprecated as
    /// unsound).
    fd: tokio::net::UdpSocket,
    bound: IpAddr,
}

impl EspSocket {
    /// Opens a raw ESP socket of `addr`'s family, bound to `addr` (unspecified: every
    /// address). Fails with a message naming `CAP_NET_RAW` when the process lacks it.
    /// Must run inside a tokio runtime.
    pub fn bind(addr: IpAddr) -> io::Result<Self> {
        let domain = if addr.is_ipv6() {
            Domain::IPV6
        } else {
            Domain::IPV4
        };
        let socket =
            Socket::new(domain, Type::RAW, Some(Protocol::from(IPPROTO_ESP))).map_err(|e| {
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
        if addr.is_ipv6() {
            // No IPV6_V6ONLY: the kernel refuses it on raw sockets (and an IPv6 raw
            // socket never sees IPv4).
            nix::sys::socket::setsockopt(
                &socket,
                nix::sys::socket::sockopt::Ipv6RecvPacketInfo,
                &true,
            )
            .map_err(io::Error::from)?;
        }
        let _ = socket.set_recv_buffer_size(4 << 20);
        let _ = socket.set_send_buffer_size(4 << 20);
        if !addr.is_unspecified() {
            socket.bind(&SocketAddr::new(addr, 0).into())?;
        }
        socket.set_nonblocking(true)?;
        Ok(Self {
            fd: tokio::net::UdpSocket::from_std(std::net::UdpSocket::from(socket))?,
            bound: addr,
        })
    }

    /// The address the socket is bound to (unspecified: all of its family).
    pub fn local_addr(&self) -> IpAddr {
        self.bound
    }

    /// Polls until a packet may be waiting.
    pub fn poll_recv_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.fd.poll_recv_ready(cx)
    }

    /// Receives one packet into `buf` without waiting; `WouldBlock` when none is queued.
    /// A packet whose IPv4 header does not parse (the kernel never gives one) is
    /// `InvalidData`.
    pub fn try_recv(&self, buf: &mut [u8]) -> io::Result<RawReceived> {
        match self.bound {
            IpAddr::V4(_) => {
                let n = self.fd.try_recv(buf)?;
                let raw = parse_raw_esp_ipv4(buf.get(..n).unwrap_or_default())
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                Ok(RawReceived {
                    local: IpAddr::V4(raw.local),
                    remote: IpAddr::V4(raw.remote),
                    esp: raw.esp,
                })
            }
            IpAddr::V6(bound) => self.fd.try_io(Interest::READABLE, || {
                recv_v6(self.fd.as_raw_fd(), bound, buf)
            }),
        }
    }

    /// Sends the ESP packet `esp` (SPI onwards; the kernel adds the IP header) to
    /// `remote` from `local` (the address the peer used; unspecified lets the kernel
    /// choose). Waits while the socket buffer is full.
    pub async fn send(&self, esp: &[u8], local: IpAddr, remote: IpAddr) -> io::Result<()> {
        let (dest, control) = match (local, remote) {
            (IpAddr::V4(l), IpAddr::V4(r)) if self.bound.is_ipv4() => {
                (SockAddr::from(SocketAddrV4::new(r, 0)), PktInfo::v4(l))
            }
            (IpAddr::V6(l), IpAddr::V6(r)) if self.bound.is_ipv6() => (
                SockAddr::from(SocketAddrV6::new(r, 0, 0, 0)),
                PktInfo::v6(l),
            ),
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "address family differs from the raw ESP socket's",
                ));
            }
        };
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

/// One IPv6 receive: the sender from the socket address, our address from
/// `IPV6_PKTINFO` (the bound address when the kernel gave none).
fn recv_v6(fd: std::os::fd::RawFd, bound: Ipv6Addr, buf: &mut [u8]) -> io::Result<RawReceived> {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, SockaddrIn6, recvmsg};
    let mut control = [0u8; 64];
    let mut iov = [io::IoSliceMut::new(buf)];
    let msg = recvmsg::<SockaddrIn6>(fd, &mut iov, Some(&mut control), MsgFlags::empty())
        .map_err(io::Error::from)?;
    let len = msg.bytes;
    let remote = msg
        .address
        .map(|a| a.ip())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no sender address"))?;
    let mut local = bound;
    if let Ok(cmsgs) = msg.cmsgs() {
        for c in cmsgs {
            if let ControlMessageOwned::Ipv6PacketInfo(info) = c {
                local = Ipv6Addr::from(info.ipi6_addr.s6_addr);
            }
        }
    }
    Ok(RawReceived {
        local: IpAddr::V6(local),
        remote: IpAddr::V6(remote),
        esp: 0..len,
    })
}

/// One `IP_PKTINFO` or `IPV6_PKTINFO` control message (`struct cmsghdr` + `struct
/// in_pktinfo`/`in6_pktinfo`, padded to `CMSG_SPACE`), written field by field in native
/// byte order on the stack.
struct PktInfo {
    buf: [u8; PKTINFO6_SPACE],
    len: usize,
}

const CMSG_ALIGN: usize = core::mem::size_of::<usize>();
const fn cmsg_align(n: usize) -> usize {
    (n + CMSG_ALIGN - 1) & !(CMSG_ALIGN - 1)
}
const CMSG_HDR: usize = core::mem::size_of::<libc::cmsghdr>();
/// `struct in_pktinfo { int ipi_ifindex; struct in_addr ipi_spec_dst, ipi_addr; }`.
const IN_PKTINFO: usize = core::mem::size_of::<libc::in_pktinfo>();
const PKTINFO_SPACE: usize = cmsg_align(CMSG_HDR) + cmsg_align(IN_PKTINFO);
/// `struct in6_pktinfo { struct in6_addr ipi6_addr; int ipi6_ifindex; }`.
const IN6_PKTINFO: usize = core::mem::size_of::<libc::in6_pktinfo>();
const PKTINFO6_SPACE: usize = cmsg_align(CMSG_HDR) + cmsg_align(IN6_PKTINFO);

impl PktInfo {
    fn header(level: i32, kind: i32, data_len: usize) -> [u8; PKTINFO6_SPACE] {
        let mut buf = [0u8; PKTINFO6_SPACE];
        // cmsghdr: cmsg_len (size_t on Linux), cmsg_level, cmsg_type.
        let len_bytes = (cmsg_align(CMSG_HDR) + data_len).to_ne_bytes();
        let level = level.to_ne_bytes();
        let kind = kind.to_ne_bytes();
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
        buf
    }

    /// `IP_PKTINFO`: ifindex 0 (any), `ipi_spec_dst` = the source address to use.
    fn v4(src: Ipv4Addr) -> Self {
        let mut buf = Self::header(libc::IPPROTO_IP, libc::IP_PKTINFO, IN_PKTINFO);
        let data = cmsg_align(CMSG_HDR);
        if let Some(dst) = buf.get_mut(data + 4..data + 8) {
            dst.copy_from_slice(&src.octets());
        }
        Self {
            buf,
            len: PKTINFO_SPACE,
        }
    }

    /// `IPV6_PKTINFO`: `ipi6_addr` = the source address to use, ifindex 0 (any).
    fn v6(src: Ipv6Addr) -> Self {
        let mut buf = Self::header(libc::IPPROTO_IPV6, libc::IPV6_PKTINFO, IN6_PKTINFO);
        let data = cmsg_align(CMSG_HDR);
        if let Some(dst) = buf.get_mut(data..data + 16) {
            dst.copy_from_slice(&src.octets());
        }
        Self {
            buf,
            len: PKTINFO6_SPACE,
        }
    }

    fn bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
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
        let p = PktInfo::v4(Ipv4Addr::new(192, 0, 2, 1));
        let b = p.bytes();
        assert_eq!(b.len(), 32);
        assert_eq!(usize::from_ne_bytes(b[..8].try_into().unwrap()), 28);
        assert_eq!(i32::from_ne_bytes(b[8..12].try_into().unwrap()), 0); // IPPROTO_IP
        assert_eq!(i32::from_ne_bytes(b[12..16].try_into().unwrap()), 8); // IP_PKTINFO
        assert_eq!(&b[16..20], &[0, 0, 0, 0]); // ifindex
        assert_eq!(&b[20..24], &[192, 0, 2, 1]); // spec_dst
        assert_eq!(&b[24..28], &[0, 0, 0, 0]);
    }

    #[test]
    fn pktinfo6_layout_matches_libc() {
        // 16-byte cmsghdr + 20-byte in6_pktinfo, CMSG_SPACE 40.
        assert_eq!(IN6_PKTINFO, 20);
        assert_eq!(PKTINFO6_SPACE, 40);
        let src: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let p = PktInfo::v6(src);
        let b = p.bytes();
        assert_eq!(b.len(), 40);
        assert_eq!(usize::from_ne_bytes(b[..8].try_into().unwrap()), 36);
        assert_eq!(i32::from_ne_bytes(b[8..12].try_into().unwrap()), 41); // IPPROTO_IPV6
        assert_eq!(i32::from_ne_bytes(b[12..16].try_into().unwrap()), 50); // IPV6_PKTINFO
        assert_eq!(&b[16..32], &src.octets());
        assert_eq!(&b[32..36], &[0, 0, 0, 0]); // ifindex
    }
}
