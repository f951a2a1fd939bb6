//! What a session reports and hands out: phases, events, borrowed IP packets, counters.

use std::net::Ipv4Addr;

use crate::auth::AuthData;
use crate::error::DownReason;

/// The link phases of RFC 1661 §3.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// LCP is negotiating.
    Establish,
    /// LCP is open; the peer is authenticating.
    Authenticate,
    /// Authenticated; IPCP (and IPv6CP) negotiate and carry traffic.
    Network,
    /// LCP is terminating.
    Terminate,
    /// Finished: nothing more will happen (drop the session after draining
    /// `poll_transmit`).
    Dead,
}

/// What the session tells its owner (drain with [`Session::poll_event`](crate::Session::poll_event)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Server: verify these credentials and answer with [`Session::auth_result`](crate::Session::auth_result).
    AuthRequest {
        /// The name the peer gave.
        user: String,
        /// What the method needs for verification.
        data: AuthData,
    },
    /// Server: the peer is authenticated as `user`.
    Authenticated {
        /// The user name.
        user: String,
    },
    /// IPCP is open: IPv4 flows.
    Up {
        /// Our address on the link.
        local_ip: Ipv4Addr,
        /// The peer's address.
        peer_ip: Ipv4Addr,
        /// DNS servers (server: given to the peer; client: learned).
        dns: [Option<Ipv4Addr>; 2],
        /// NBNS servers (server: given to the peer; client: not asked for).
        nbns: [Option<Ipv4Addr>; 2],
        /// The peer's MRU: the largest PPP information field we may send.
        mru: u16,
    },
    /// IPv6CP is open: link-local IPv6 flows with these interface identifiers.
    Ipv6Up {
        /// Our interface identifier.
        local_id: [u8; 8],
        /// The peer's interface identifier.
        peer_id: [u8; 8],
    },
    /// The link is down; no more IP will flow.
    Down {
        /// Why.
        reason: DownReason,
    },
}

/// A network-layer packet received on the link, borrowed from the frame (the fast path:
/// no copy). Only the PPP layer was checked: the caller validates the IP header (e.g.
/// with `wire::ip::Ipv4Packet::new_checked`) and the source address (anti-spoofing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpIn<'a> {
    /// An IPv4 packet.
    V4(&'a [u8]),
    /// An IPv6 packet.
    V6(&'a [u8]),
}

impl<'a> IpIn<'a> {
    /// The packet bytes.
    pub fn packet(&self) -> &'a [u8] {
        match *self {
            Self::V4(p) | Self::V6(p) => p,
        }
    }
}

/// Which network protocol an outbound packet is, for [`Session::encap_ip`](crate::Session::encap_ip).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpVersion {
    /// IPv4 (PPP protocol 0x0021).
    V4,
    /// IPv6 (PPP protocol 0x0057).
    V6,
}

/// Counters the caller can read (malformed input never panics; it is counted here).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Frames given to `handle_frame`.
    pub frames_in: u64,
    /// Frames taken from `poll_transmit`.
    pub frames_out: u64,
    /// IP packets passed up.
    pub ip_in: u64,
    /// Bytes of IP packets passed up.
    pub ip_bytes_in: u64,
    /// Frames or packets refused as malformed.
    pub malformed: u64,
    /// Frames silently discarded (wrong phase, protocol not open, ignored codes).
    pub discarded: u64,
    /// Protocol-Rejects sent (CCP and unknown protocols).
    pub protocol_rejects: u64,
    /// LCP Echo-Requests sent.
    pub echo_requests: u64,
    /// Frames dropped because the transmit queue was full.
    pub queue_drops: u64,
}
