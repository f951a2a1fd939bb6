//! The crate's error type: why an input was dropped or a command refused.

use core::fmt;

use wire::{BufError, DecodeError};

use crate::ids::{SessionId, TunnelId};
use crate::msgs::avp::{AvpEncodeError, AvpType};
use crate::msgs::control::MessageType;

/// Why a datagram was dropped (or handled by tearing something down), or a command
/// refused. Every variant has a counter in [`crate::Stats`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The bytes do not parse (bad lengths, an AVP overrunning the message, ...).
    Decode(DecodeError),
    /// The header's version is not 2.
    UnsupportedVersion(u8),
    /// A message would exceed the 16-bit Length field.
    TooLong(usize),
    /// An AVP could not be encoded.
    Encode(AvpEncodeError),
    /// A message other than SCCRQ (or a data message) names Tunnel ID 0.
    ZeroTunnelId,
    /// No tunnel has this ID.
    UnknownTunnel(TunnelId),
    /// The tunnel exists but belongs to another peer (the datagram is not trusted).
    WrongPeer(TunnelId),
    /// No session has this ID in the tunnel.
    UnknownSession {
        /// Our Tunnel ID.
        tunnel: TunnelId,
        /// The Session ID in the header.
        session: SessionId,
    },
    /// A data message for (or to) a session that is not established.
    SessionNotEstablished,
    /// A command that needs an established tunnel.
    TunnelNotEstablished,
    /// A sequenced data message older than the last one delivered.
    DataOutOfOrder,
    /// A message not valid in the tunnel's or session's state (the tunnel or session
    /// may have been torn down with an FSM error).
    UnexpectedMessage(MessageType),
    /// A required AVP is missing.
    MissingAvp(MessageType, AvpType),
    /// An AVP with the M bit that this implementation does not recognise (the tunnel or
    /// session was torn down, as RFC 2661 §4.1 requires).
    UnknownMandatoryAvp {
        /// Vendor ID.
        vendor: u16,
        /// Attribute type.
        attribute: u16,
    },
    /// The peer's protocol version is not 1.0.
    UnsupportedProtocolVersion,
    /// Tunnel authentication failed (missing or wrong Challenge Response).
    AuthenticationFailed,
    /// A tunnel limit (global or per peer) was reached; the SCCRQ was refused.
    TunnelLimit,
    /// A session limit (global or per tunnel) was reached; the call was refused.
    SessionLimit,
    /// The message's Ns is outside the receive window.
    OutOfWindow,
    /// This endpoint does not play the role the message needs (LNS or LAC).
    RoleDisabled,
    /// The buffer has too little headroom for the L2TP header.
    Buffer(BufError),
}

impl From<DecodeError> for Error {
    fn from(e: DecodeError) -> Self {
        Self::Decode(e)
    }
}

impl From<BufError> for Error {
    fn from(e: BufError) -> Self {
        Self::Buffer(e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Decode(e) => write!(f, "malformed l2tp message: {e}"),
            Self::UnsupportedVersion(v) => write!(f, "unsupported l2tp version {v}"),
            Self::TooLong(n) => write!(f, "message of {n} bytes is too long"),
            Self::Encode(e) => write!(f, "cannot encode avp: {e:?}"),
            Self::ZeroTunnelId => f.write_str("tunnel id 0 where it is not allowed"),
            Self::UnknownTunnel(t) => write!(f, "unknown tunnel {t:?}"),
            Self::WrongPeer(t) => write!(f, "tunnel {t:?} belongs to another peer"),
            Self::UnknownSession { tunnel, session } => {
                write!(f, "unknown session {session:?} in tunnel {tunnel:?}")
            }
            Self::SessionNotEstablished => f.write_str("session not established"),
            Self::TunnelNotEstablished => f.write_str("tunnel not established"),
            Self::DataOutOfOrder => f.write_str("stale sequenced data message"),
            Self::UnexpectedMessage(t) => write!(f, "unexpected {t:?} in this state"),
            Self::MissingAvp(m, a) => write!(f, "{m:?} without {a:?}"),
            Self::UnknownMandatoryAvp { vendor, attribute } => {
                write!(f, "unknown mandatory avp {vendor}:{attribute}")
            }
            Self::UnsupportedProtocolVersion => f.write_str("peer's protocol version is not 1.0"),
            Self::AuthenticationFailed => f.write_str("tunnel authentication failed"),
            Self::TunnelLimit => f.write_str("tunnel limit reached"),
            Self::SessionLimit => f.write_str("session limit reached"),
            Self::OutOfWindow => f.write_str("ns outside the receive window"),
            Self::RoleDisabled => f.write_str("role not enabled"),
            Self::Buffer(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Error {}
