//! Identifier newtypes: the caller's peer key and the RFC 2661 tunnel and session IDs.

use core::fmt;

/// An opaque key naming the peer a datagram came from, chosen by the caller.
///
/// The engine never looks at IP addresses: in the gateway this is the ESP SA pair that
/// carried the datagram, so many clients behind one NAT (all using UDP 1701 from the same
/// address) are distinct peers.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub u64);

/// An L2TP Tunnel ID (RFC 2661 §3.1). Each side assigns its own; zero is reserved for
/// messages sent before the peer's ID is known.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TunnelId(pub u16);

/// An L2TP Session ID, unique within its tunnel on the side that assigned it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SessionId(pub u16);

impl fmt::Debug for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "peer#{:x}", self.0)
    }
}

impl fmt::Debug for TunnelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "T{}", self.0)
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "S{}", self.0)
    }
}

/// Names one session: the peer key, and both sides' tunnel and session IDs.
///
/// `tunnel` and `session` are the IDs this endpoint assigned (what the peer writes in the
/// headers it sends us); `peer_tunnel` and `peer_session` are what the peer assigned (what
/// we write in the headers we send). The local IDs identify the session: equality and
/// hashing use `peer`, `tunnel` and `session` only, so the reference returned by
/// `open_session` (peer session still 0) equals the one in the later `SessionUp`.
#[derive(Clone, Copy, Debug)]
pub struct SessionRef {
    /// The peer that owns the tunnel.
    pub peer: PeerId,
    /// Our Tunnel ID.
    pub tunnel: TunnelId,
    /// Our Session ID.
    pub session: SessionId,
    /// The peer's Tunnel ID.
    pub peer_tunnel: TunnelId,
    /// The peer's Session ID.
    pub peer_session: SessionId,
}

/// Names one tunnel: the peer key and both sides' Tunnel IDs.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct TunnelHandle {
    /// The peer that owns the tunnel.
    pub peer: PeerId,
    /// Our Tunnel ID.
    pub tunnel: TunnelId,
}

impl SessionRef {
    fn key(&self) -> (PeerId, TunnelId, SessionId) {
        (self.peer, self.tunnel, self.session)
    }
}

impl PartialEq for SessionRef {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for SessionRef {}

impl core::hash::Hash for SessionRef {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.key().hash(state);
    }
}
