//! What the engine tells its caller: events, datagrams to send, PPP frames received.

use crate::ids::{PeerId, SessionRef, TunnelId};
use crate::msgs::ResultCode;

/// Why a tunnel went down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TunnelDownReason {
    /// The peer sent a StopCCN with this result.
    StopCcnReceived(ResultCode),
    /// We sent a StopCCN with this result (a command, an error, an authentication
    /// failure).
    StopCcnSent(ResultCode),
    /// A control message went unacknowledged through every retransmission (an
    /// unanswered HELLO included): the peer is gone.
    Timeout,
    /// The caller said the peer is gone ([`crate::Endpoint::peer_gone`]).
    PeerGone,
}

/// Something the caller should know about, from [`crate::Endpoint::poll_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A control connection is established.
    TunnelUp {
        /// The peer.
        peer: PeerId,
        /// Our Tunnel ID.
        tunnel: TunnelId,
        /// The peer's Tunnel ID.
        peer_tunnel: TunnelId,
    },
    /// A session is established: PPP frames can flow.
    SessionUp(SessionRef),
    /// A session ended. For a session ended with its tunnel, `result` is the tunnel's
    /// StopCCN result (or "lost carrier" after a timeout).
    SessionDown {
        /// The session.
        session: SessionRef,
        /// Why.
        result: ResultCode,
    },
    /// A tunnel ended (after its sessions' `SessionDown`s).
    TunnelDown {
        /// The peer.
        peer: PeerId,
        /// Our Tunnel ID.
        tunnel: TunnelId,
        /// Why.
        reason: TunnelDownReason,
    },
}

/// A PPP frame received in a data message, borrowed from the datagram (no copy).
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct PppIn<'a> {
    /// The session it belongs to.
    pub session: SessionRef,
    /// The PPP frame (starting with the address/control bytes ff 03 when present).
    pub frame: &'a [u8],
    /// Where `frame` lies in the datagram given to
    /// [`crate::Endpoint::handle_datagram`]: `&datagram[range] == frame`, so a caller
    /// holding the datagram mutably again can find the frame without pointer arithmetic.
    pub range: core::ops::Range<usize>,
}

/// An L2TP message to send, written into the caller's buffer by
/// [`crate::Endpoint::poll_transmit`]. The caller adds UDP (port 1701) and ESP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct Transmit {
    /// Where to send it.
    pub peer: PeerId,
    /// Its length (the bytes appended to the buffer).
    pub len: usize,
}
