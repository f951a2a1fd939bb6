//! Counters: traffic, and one counter per reason an input was dropped.

use crate::error::Error;

/// Counters the caller can read with [`crate::Endpoint::stats`] (exported as metrics by
/// the gateway). Drop counters are named after the [`Error`] that caused them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Datagrams given to `handle_datagram`.
    pub rx_datagrams: u64,
    /// Control messages (not ZLBs) received.
    pub rx_control: u64,
    /// ZLB acknowledgements received.
    pub rx_zlb: u64,
    /// Data messages delivered.
    pub rx_data: u64,
    /// Control messages sent (first transmissions).
    pub tx_control: u64,
    /// Control messages retransmitted.
    pub retransmits: u64,
    /// ZLB acknowledgements sent.
    pub tx_zlb: u64,
    /// Data messages encapsulated.
    pub tx_data: u64,
    /// Duplicate control messages (acknowledged and dropped).
    pub duplicates: u64,
    /// Out-of-order control messages held until the gap closed.
    pub reordered: u64,
    /// Tunnels established.
    pub tunnels_up: u64,
    /// Tunnels lost after the retransmission limit (including unanswered HELLOs).
    pub tunnel_timeouts: u64,
    /// Sessions established.
    pub sessions_up: u64,
    /// WEN messages accepted.
    pub wen_received: u64,
    /// SLI messages accepted.
    pub sli_received: u64,
    /// OCRQs refused with a CDN.
    pub ocrq_refused: u64,
    /// Outgoing messages dropped because the transmit queue was full.
    pub transmit_queue_full: u64,

    /// Dropped: did not parse.
    pub malformed: u64,
    /// Dropped: version not 2.
    pub unsupported_version: u64,
    /// Dropped: Tunnel ID 0 where not allowed.
    pub zero_tunnel_id: u64,
    /// Dropped: unknown tunnel.
    pub unknown_tunnel: u64,
    /// Dropped: the tunnel belongs to another peer.
    pub wrong_peer: u64,
    /// Dropped: unknown session.
    pub unknown_session: u64,
    /// Dropped: data for a session not established.
    pub session_not_established: u64,
    /// Dropped: data message older than the last one delivered (sequenced sessions).
    pub data_out_of_order: u64,
    /// Ignored: a message not valid in the current state.
    pub unexpected_message: u64,
    /// Dropped: a required AVP missing.
    pub missing_avp: u64,
    /// Torn down: an unknown AVP with the M bit.
    pub unknown_mandatory_avp: u64,
    /// Refused: protocol version not 1.0.
    pub unsupported_protocol_version: u64,
    /// Refused: tunnel authentication failed.
    pub auth_failed: u64,
    /// Refused: tunnel limit.
    pub tunnel_limit: u64,
    /// Refused: session limit.
    pub session_limit: u64,
    /// Dropped: Ns outside the receive window.
    pub out_of_window: u64,
    /// Dropped: the role the message needs is not enabled.
    pub role_disabled: u64,
    /// Refused: an encoding or buffer error.
    pub local_errors: u64,
}

impl Stats {
    /// Counts an input dropped (or refused) for `e`.
    pub(crate) fn count(&mut self, e: &Error) {
        let c = match e {
            Error::Decode(_) => &mut self.malformed,
            Error::UnsupportedVersion(_) => &mut self.unsupported_version,
            Error::ZeroTunnelId => &mut self.zero_tunnel_id,
            Error::UnknownTunnel(_) => &mut self.unknown_tunnel,
            Error::WrongPeer(_) => &mut self.wrong_peer,
            Error::UnknownSession { .. } => &mut self.unknown_session,
            Error::SessionNotEstablished | Error::TunnelNotEstablished => {
                &mut self.session_not_established
            }
            Error::DataOutOfOrder => &mut self.data_out_of_order,
            Error::UnexpectedMessage(_) => &mut self.unexpected_message,
            Error::MissingAvp(..) => &mut self.missing_avp,
            Error::UnknownMandatoryAvp { .. } => &mut self.unknown_mandatory_avp,
            Error::UnsupportedProtocolVersion => &mut self.unsupported_protocol_version,
            Error::AuthenticationFailed => &mut self.auth_failed,
            Error::TunnelLimit => &mut self.tunnel_limit,
            Error::SessionLimit => &mut self.session_limit,
            Error::OutOfWindow => &mut self.out_of_window,
            Error::RoleDisabled => &mut self.role_disabled,
            Error::TooLong(_) | Error::Encode(_) | Error::Buffer(_) => &mut self.local_errors,
        };
        *c += 1;
    }
}
