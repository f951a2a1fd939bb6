//! The crate's errors and the reasons a link goes down.

use core::fmt;

use wire::DecodeError;

use crate::msgs::frame::Protocol;

/// Why `handle_frame` refused a frame. The session has counted it; nothing was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The frame's header (address/control, protocol field) is malformed.
    Frame(DecodeError),
    /// A control packet (LCP, IPCP, IPv6CP, PAP, CHAP) or its options are malformed.
    Packet {
        /// The protocol that carried it.
        protocol: Protocol,
        /// What was wrong.
        error: DecodeError,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Frame(e) => write!(f, "malformed PPP frame: {e}"),
            Self::Packet { protocol, error } => write!(f, "malformed {protocol:?} packet: {error}"),
        }
    }
}

impl std::error::Error for Error {}

/// Why the link went down (`Event::Down`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DownReason {
    /// The peer sent an LCP Terminate-Request.
    PeerTerminated,
    /// [`crate::Session::close`] was called.
    Closed,
    /// The peer stopped answering LCP Echo-Requests.
    EchoTimeout,
    /// The peer's credentials were refused, or (client) the server refused ours or
    /// failed to prove itself.
    AuthFailed,
    /// Authentication did not finish in time (no response, or no decision).
    AuthTimeout,
    /// The peer refused every authentication method we offer.
    NoCommonAuth,
    /// A control protocol gave up negotiating (Max-Configure requests unanswered or
    /// unacceptable).
    NegotiationFailed(Protocol),
    /// The peer rejected a protocol or code the link cannot work without.
    Rejected(Protocol),
    /// The peer's IP control protocol went down.
    NetworkDown,
    /// Our own magic number keeps coming back: the link is looped.
    Loopback,
}

/// Why [`crate::Session::set_peer_ip`] refused to change the peer's address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PeerIpError {
    /// The session is a client; its address comes from the server.
    NotServer,
    /// IPCP has already acknowledged the peer's address.
    AlreadyAcked,
}

impl fmt::Display for PeerIpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotServer => f.write_str("only a server session assigns the peer's address"),
            Self::AlreadyAcked => f.write_str("IPCP has already acknowledged the peer's address"),
        }
    }
}

impl std::error::Error for PeerIpError {}
