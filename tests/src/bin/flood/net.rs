//! Sending from any address of a range, and pacing.
//!
//! The namespace the flood runs in has the whole source range as a local route
//! (`ip route add local 198.18.0.0/15 dev lo`, Linux's "AnyIP"), so a UDP socket bound to
//! `0.0.0.0:PORT` may send from any address of the range by naming it in an `IP_PKTINFO`
//! control message, and receives what the gateway answers to any of them. No raw socket
//! and no `unsafe`: the kernel builds the IP and UDP headers.

use std::io::{ErrorKind, IoSlice};
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use nix::libc;
use nix::sys::socket::{ControlMessage, MsgFlags, SockaddrIn, sendmsg};
use wire::random::SecureRandom;

/// An IPv4 range `base/prefix`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Range {
    base: u32,
    size: u32,
}

impl Range {
    /// Parses `a.b.c.d/n` (n from 8 to 32).
    pub(crate) fn parse(s: &str) -> Result<Self, String> {
        let (addr, len) = s
            .split_once('/')
            .ok_or_else(|| format!("{s}: not ADDRESS/PREFIX"))?;
        let addr: Ipv4Addr = addr.parse().map_err(|e| format!("{s}: {e}"))?;
        let len: u32 = len.parse().map_err(|e| format!("{s}: {e}"))?;
        if !(8..=32).contains(&len) {
            return Err(format!("{s}: prefix length must be 8 to 32"));
        }
        let size = 1u32 << (32 - len);
        Ok(Self {
            base: u32::from(addr) & !(size - 1),
            size,
        })
    }

    /// The usable host addresses (network and broadcast addresses left out when the range
    /// has more than two).
    pub(crate) fn hosts(&self) -> u32 {
        if self.size > 2 {
            self.size - 2
        } else {
            self.size
        }
    }

    /// The `n`-th host address (wrapping).
    pub(crate) fn host(&self, n: u32) -> Ipv4Addr {
        let first = u32::from(self.size > 2);
        Ipv4Addr::from(self.base + first + n % self.hosts())
    }

    /// A random host address.
    pub(crate) fn random(&self, rng: &mut dyn SecureRandom) -> Ipv4Addr {
        self.host(rng.next_u32())
    }
}

/// What came back on a [`Sender`]'s socket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Replies {
    /// Datagrams.
    pub(crate) count: u64,
    /// Their UDP payload bytes.
    pub(crate) bytes: u64,
    /// The largest one.
    pub(crate) max: usize,
}

/// A UDP socket bound to `0.0.0.0:port` that sends from any local address.
#[derive(Debug)]
pub(crate) struct Sender {
    socket: UdpSocket,
    buf: Vec<u8>,
    /// Everything received so far.
    pub(crate) replies: Replies,
}

impl Sender {
    /// Binds `0.0.0.0:port` (0: any port), non-blocking.
    pub(crate) fn bind(port: u16) -> Result<Self, String> {
        let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, port))
            .map_err(|e| format!("bind 0.0.0.0:{port}: {e}"))?;
        socket
            .set_nonblocking(true)
            .map_err(|e| format!("set_nonblocking: {e}"))?;
        Ok(Self {
            socket,
            buf: vec![0; 65_536],
            replies: Replies::default(),
        })
    }

    /// Sends `data` from `src` (an address of the namespace, or of its AnyIP range) to
    /// `dst`. A full send buffer counts as not sent (`Ok(false)`).
    pub(crate) fn send_from(
        &self,
        src: Ipv4Addr,
        dst: SocketAddrV4,
        data: &[u8],
    ) -> Result<bool, String> {
        let info = libc::in_pktinfo {
            ipi_ifindex: 0,
            ipi_spec_dst: libc::in_addr {
                s_addr: u32::from(src).to_be(),
            },
            ipi_addr: libc::in_addr { s_addr: 0 },
        };
        let to = SockaddrIn::from(dst);
        match sendmsg(
            self.socket.as_raw_fd(),
            &[IoSlice::new(data)],
            &[ControlMessage::Ipv4PacketInfo(&info)],
            MsgFlags::empty(),
            Some(&to),
        ) {
            Ok(_) => Ok(true),
            Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::ENOBUFS) => Ok(false),
            Err(e) => Err(format!("sendmsg from {src} to {dst}: {e}")),
        }
    }

    /// Reads one datagram if one is waiting, counts it in [`Self::replies`], and returns it.
    pub(crate) fn recv(&mut self) -> Result<Option<&[u8]>, String> {
        match self.socket.recv_from(&mut self.buf) {
            Ok((n, _)) => {
                self.replies.count += 1;
                self.replies.bytes += n as u64;
                self.replies.max = self.replies.max.max(n);
                Ok(self.buf.get(..n))
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => Ok(None),
            // An ICMP error queued for an earlier send: nothing to read, try again later.
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => Ok(None),
            Err(e) => Err(format!("recv: {e}")),
        }
    }

    /// Reads and counts everything that is waiting.
    pub(crate) fn drain(&mut self) -> Result<(), String> {
        while self.recv()?.is_some() {}
        Ok(())
    }
}

/// Sends at a steady rate: [`Pacer::due`] says how many packets should have gone by now.
#[derive(Debug)]
pub(crate) struct Pacer {
    start: Instant,
    rate: f64,
    length: Duration,
}

impl Pacer {
    /// `rate` packets per second for `length`, starting now.
    pub(crate) fn new(rate: f64, length: Duration) -> Self {
        Self {
            start: ::tests::interop::now(),
            rate,
            length,
        }
    }

    /// Packets due by now in total; `None` once the run is over.
    pub(crate) fn due(&self) -> Option<u64> {
        let elapsed = self.elapsed();
        if elapsed >= self.length {
            return None;
        }
        // Truncation is the point: whole packets due.
        Some((elapsed.as_secs_f64() * self.rate) as u64 + 1)
    }

    /// Time since the start.
    pub(crate) fn elapsed(&self) -> Duration {
        ::tests::interop::now().duration_since(self.start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wire::random::DeterministicRandom;

    #[test]
    fn ranges_give_hosts_inside() {
        let r = Range::parse("198.18.0.0/15").unwrap();
        assert_eq!(r.hosts(), 131_070);
        assert_eq!(r.host(0), Ipv4Addr::new(198, 18, 0, 1));
        assert_eq!(r.host(131_069), Ipv4Addr::new(198, 19, 255, 254));
        assert_eq!(r.host(131_070), Ipv4Addr::new(198, 18, 0, 1));
        let mut rng = DeterministicRandom::new(1);
        for _ in 0..1000 {
            let a = u32::from(r.random(&mut rng));
            assert!((0xc612_0001..=0xc613_fffe).contains(&a));
        }
        let one = Range::parse("203.0.113.2/32").unwrap();
        assert_eq!(one.host(7), Ipv4Addr::new(203, 0, 113, 2));
        assert_eq!(
            Range::parse("198.51.100.77/24").unwrap().host(0),
            Ipv4Addr::new(198, 51, 100, 1)
        );
        assert!(Range::parse("10.0.0.0").is_err());
        assert!(Range::parse("10.0.0.0/4").is_err());
    }
}
