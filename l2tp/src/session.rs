//! Sessions (RFC 2661 §5.4–§5.6): incoming calls on the LNS and the LAC, and the
//! per-session data sequencing state.

use crate::ids::SessionId;
use crate::reliable::seq_lt;

/// LNS: ICRQ answered with ICRP, waiting for ICCN.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WaitConnect;

/// LAC: ICRQ sent, waiting for ICRP.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WaitReply;

/// Data flows.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Established {
    /// Send Ns on data messages (the peer asked with Sequencing Required or by sending
    /// sequenced data).
    pub(crate) sequencing: bool,
    /// Ns of our next data message.
    pub(crate) next_ns: u16,
    /// The next Ns expected from the peer (sequenced data only).
    pub(crate) expected_ns: Option<u16>,
}

/// A session's state.
#[derive(Debug, Clone, Copy)]
pub(crate) enum SessionState {
    WaitConnect(WaitConnect),
    WaitReply(WaitReply),
    Established(Established),
}

/// One session of a tunnel.
#[derive(Debug)]
pub(crate) struct Session {
    /// The ID we assigned (the peer writes it in its headers).
    pub(crate) local_id: SessionId,
    /// The ID the peer assigned (0 until known).
    pub(crate) peer_id: SessionId,
    pub(crate) state: SessionState,
    /// The caller knows about this session (it was opened by `open_session` or has
    /// been announced with `SessionUp`), so its end is announced with `SessionDown`.
    pub(crate) announced: bool,
}

impl Session {
    /// A session created by an ICRQ (LNS).
    pub(crate) fn incoming(local_id: SessionId, peer_id: SessionId) -> Self {
        Self {
            local_id,
            peer_id,
            state: SessionState::WaitConnect(WaitConnect),
            announced: false,
        }
    }

    /// A session we are opening (LAC).
    pub(crate) fn outgoing(local_id: SessionId) -> Self {
        Self {
            local_id,
            peer_id: SessionId(0),
            state: SessionState::WaitReply(WaitReply),
            announced: true,
        }
    }

    /// Moves to [`Established`] (from `WaitConnect` on ICCN or `WaitReply` on ICRP).
    pub(crate) fn establish(&mut self, sequencing: bool) {
        self.state = SessionState::Established(Established {
            sequencing,
            next_ns: 0,
            expected_ns: None,
        });
        self.announced = true;
    }

    /// Accepts (or refuses, when stale) a received data message's Ns. Turns on our own
    /// sequencing since the peer uses it.
    pub(crate) fn accept_data_ns(&mut self, ns: Option<u16>) -> bool {
        let SessionState::Established(e) = &mut self.state else {
            return false;
        };
        let Some(ns) = ns else {
            return true;
        };
        e.sequencing = true;
        if let Some(expected) = e.expected_ns
            && seq_lt(ns, expected)
        {
            return false;
        }
        e.expected_ns = Some(ns.wrapping_add(1));
        true
    }
}
