//! The [`Engine`] trait: what a driver (the `l2tpgw` binary's tokio task, tests, the
//! fuzz targets) calls on a sans-IO core, in the style of quinn-proto. Time comes in as
//! `now`; bytes come in as datagrams and TUN packets and go out through
//! [`Engine::poll_output`] or, on the data path, in the caller's own buffer.

use std::net::SocketAddr;
use std::ops::Range;
use std::time::Instant;

use wire::PacketBuf;

use crate::status::StatusReport;
use crate::users::UserDb;

/// Room before a TUN packet for the headers the core prepends in place
/// (PPP + L2TP + UDP + ESP header and IV + UDP encapsulation).
pub const TUN_HEADROOM: usize = 128;
/// Room after a TUN packet for ESP padding and ICV.
pub const TUN_TAILROOM: usize = 64;

/// Where the core wants bytes to go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// A UDP datagram from `local` (address and port; the driver sends on the socket
    /// bound to that port and family, from that address) to `remote`.
    Udp {
        /// Our address and port, as the peer addressed us.
        local: SocketAddr,
        /// The peer.
        remote: SocketAddr,
    },
    /// A raw ESP packet (IP protocol 50; the buffer holds the ESP header onwards) from
    /// `local` to `remote`, for a peer not behind a NAT. The driver sends it on the raw
    /// ESP socket, from `local`.
    Esp {
        /// Our address, as the peer addressed us.
        local: std::net::IpAddr,
        /// The peer.
        remote: std::net::IpAddr,
    },
    /// An IP packet for the TUN device.
    Tun,
}

/// The sans-IO core as the driver sees it. `crate::Core` and `crate::ClientCore` implement it; tests
/// implement it with small fakes.
pub trait Engine {
    /// A datagram arrived on `local` from `remote`. `data` may be changed in place
    /// (ESP decrypts in place). Returns the range of `data` that now holds an IP packet
    /// for the TUN device, if the datagram carried one (the fast path, no copy).
    fn handle_udp(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        data: &mut [u8],
    ) -> Option<Range<usize>>;

    /// A raw ESP packet (IP protocol 50) arrived on a raw ESP socket from `remote`,
    /// addressed to `local`: `esp` is the ESP packet (SPI onwards) and may be changed in
    /// place. Returns the range of `esp` that now holds an IP packet for the TUN device,
    /// as [`Self::handle_udp`] does. Engines without raw ESP ignore it.
    fn handle_raw_esp(
        &mut self,
        now: Instant,
        local: std::net::IpAddr,
        remote: std::net::IpAddr,
        esp: &mut [u8],
    ) -> Option<Range<usize>> {
        let _ = (now, local, remote, esp);
        None
    }

    /// The TUN device gave an IP packet. The core may encapsulate it in place (the
    /// buffer has [`TUN_HEADROOM`] and [`TUN_TAILROOM`]); when it returns `Some`, `packet`
    /// now holds that datagram, to be sent there.
    fn handle_tun(&mut self, now: Instant, packet: &mut PacketBuf) -> Option<Output>;

    /// The deadline from [`Self::poll_timeout`] passed.
    fn handle_timeout(&mut self, now: Instant);

    /// The next queued output, written into `buf`.
    fn poll_output(&mut self, buf: &mut PacketBuf) -> Option<Output>;

    /// When [`Self::handle_timeout`] should next be called.
    fn poll_timeout(&self) -> Option<Instant>;

    /// The users file was re-read (SIGHUP). Sessions already up are kept.
    fn reload_users(&mut self, users: UserDb);

    /// Start a graceful shutdown: queue DELETE, StopCCN and LCP Terminate for every peer.
    fn begin_shutdown(&mut self, now: Instant);

    /// True once shutdown has nothing more to send or wait for.
    fn is_shut_down(&self) -> bool;

    /// Sessions and counters for `l2tpgw status` and metrics.
    fn status(&self, now: Instant) -> StatusReport;

    /// A new address for the TUN device (the client, once IPCP is up). The server's
    /// device is configured once at start, so its core returns `None`.
    fn poll_interface(&mut self) -> Option<InterfaceConfig> {
        None
    }
}

/// How the TUN device should be addressed (point-to-point, as PPP assigned).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InterfaceConfig {
    /// Our inner address.
    pub address: std::net::Ipv4Addr,
    /// The server's inner address (the point-to-point destination).
    pub peer: std::net::Ipv4Addr,
    /// The MTU.
    pub mtu: u16,
}
