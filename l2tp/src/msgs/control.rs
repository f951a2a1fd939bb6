//! Control messages (RFC 2661 §3.2, §6): a Message Type AVP followed by more AVPs.

use wire::DecodeError;

use super::avp::{Avp, AvpEncodeError, AvpIter, AvpValue};
use super::header::Header;
use super::hidden::Secret;
use super::result::ResultCode;
use crate::error::Error;
use crate::ids::{SessionId, TunnelId};

wire::open_enum! {
    /// Control message types (RFC 2661 §3.2).
    pub enum MessageType: u16 {
        /// Start-Control-Connection-Request.
        Sccrq = 1,
        /// Start-Control-Connection-Reply.
        Sccrp = 2,
        /// Start-Control-Connection-Connected.
        Scccn = 3,
        /// Stop-Control-Connection-Notification.
        StopCcn = 4,
        /// Hello (keepalive).
        Hello = 6,
        /// Outgoing-Call-Request.
        Ocrq = 7,
        /// Outgoing-Call-Reply.
        Ocrp = 8,
        /// Outgoing-Call-Connected.
        Occn = 9,
        /// Incoming-Call-Request.
        Icrq = 10,
        /// Incoming-Call-Reply.
        Icrp = 11,
        /// Incoming-Call-Connected.
        Iccn = 12,
        /// Call-Disconnect-Notify.
        Cdn = 14,
        /// WAN-Error-Notify.
        Wen = 15,
        /// Set-Link-Info.
        Sli = 16,
    }
}

impl MessageType {
    /// True for messages about one session (the header's Session ID names it).
    pub fn is_session_message(self) -> bool {
        matches!(
            self,
            Self::Ocrq
                | Self::Ocrp
                | Self::Occn
                | Self::Icrq
                | Self::Icrp
                | Self::Iccn
                | Self::Cdn
                | Self::Wen
                | Self::Sli
        )
    }
}

/// A decoded control message: its AVPs in wire order, the Message Type AVP first.
///
/// Keeping the list (rather than one field per AVP) keeps order, M and H bits and
/// unrecognised AVPs, so decoding and encoding reproduce a peer's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlMessage {
    /// The AVPs, the Message Type first.
    pub avps: Vec<Avp>,
}

/// The most AVPs accepted in one message (a bound on what a peer makes us allocate).
pub const MAX_AVPS: usize = 128;

impl ControlMessage {
    /// A message of `message_type` with no other AVPs yet.
    pub fn new(message_type: MessageType) -> Self {
        Self {
            avps: vec![Avp::mandatory(AvpValue::MessageType(message_type))],
        }
    }

    /// Appends an AVP with the M bit set.
    pub fn with(mut self, value: AvpValue) -> Self {
        self.avps.push(Avp::mandatory(value));
        self
    }

    /// Appends an AVP with the M bit clear.
    pub fn with_optional(mut self, value: AvpValue) -> Self {
        self.avps.push(Avp::new(false, value));
        self
    }

    /// Decodes the AVPs of a control message (the payload after the header; it must not
    /// be empty: an empty one is a ZLB). The first AVP must be a plain Message Type.
    pub fn decode(payload: &[u8], secret: Option<&Secret>) -> Result<Self, DecodeError> {
        let mut avps = Vec::new();
        let mut random_vector: Option<Vec<u8>> = None;
        for raw in AvpIter::new(payload) {
            let raw = raw?;
            if avps.len() >= MAX_AVPS {
                return Err(DecodeError::Invalid {
                    what: "control message",
                    reason: "too many avps",
                });
            }
            let avp = Avp::decode(&raw, secret, random_vector.as_deref())?;
            if let AvpValue::RandomVector(rv) = &avp.value {
                random_vector = Some(rv.clone());
            }
            avps.push(avp);
        }
        match avps.first() {
            Some(Avp {
                hidden: false,
                value: AvpValue::MessageType(_),
                ..
            }) => Ok(Self { avps }),
            _ => Err(DecodeError::Invalid {
                what: "control message",
                reason: "the first avp must be a plain message type",
            }),
        }
    }

    /// Appends the AVPs (hiding those marked hidden with `secret` and the last Random
    /// Vector before them).
    pub fn encode(&self, out: &mut Vec<u8>, secret: Option<&Secret>) -> Result<(), AvpEncodeError> {
        let mut random_vector: Option<&[u8]> = None;
        for avp in &self.avps {
            avp.encode(out, secret, random_vector)?;
            if let AvpValue::RandomVector(rv) = &avp.value {
                random_vector = Some(rv);
            }
        }
        Ok(())
    }

    /// Appends a whole control message: header (with Length) and AVPs.
    pub fn encode_with_header(
        &self,
        tunnel: TunnelId,
        session: SessionId,
        ns: u16,
        nr: u16,
        out: &mut Vec<u8>,
        secret: Option<&Secret>,
    ) -> Result<(), Error> {
        let header = Header::control(tunnel, session, ns, nr);
        let start = out.len();
        out.resize(start + header.len(), 0);
        self.encode(out, secret).map_err(Error::Encode)?;
        let payload_len = out.len() - start - header.len();
        match out.get_mut(start..start + header.len()) {
            Some(dst) => header.write(dst, payload_len),
            None => Ok(()),
        }
    }

    /// The message type.
    pub fn message_type(&self) -> MessageType {
        match self.avps.first().map(|a| &a.value) {
            Some(AvpValue::MessageType(t)) => *t,
            _ => MessageType::Unknown(0),
        }
    }

    /// The first value for which `f` returns `Some`.
    pub fn find<'s, T>(&'s self, f: impl Fn(&'s AvpValue) -> Option<T>) -> Option<T> {
        self.avps.iter().find_map(|a| f(&a.value))
    }

    /// The first unrecognised AVP with the M bit set, as (vendor, attribute).
    pub fn unknown_mandatory(&self) -> Option<(u16, u16)> {
        self.avps
            .iter()
            .find(|a| a.mandatory && a.is_unrecognised())
            .map(|a| a.value.attribute())
    }

    /// Assigned Tunnel ID.
    pub fn assigned_tunnel_id(&self) -> Option<TunnelId> {
        self.find(|v| match v {
            AvpValue::AssignedTunnelId(t) => Some(*t),
            _ => None,
        })
    }

    /// Assigned Session ID.
    pub fn assigned_session_id(&self) -> Option<SessionId> {
        self.find(|v| match v {
            AvpValue::AssignedSessionId(s) => Some(*s),
            _ => None,
        })
    }

    /// Result Code.
    pub fn result_code(&self) -> Option<&ResultCode> {
        self.find(|v| match v {
            AvpValue::ResultCode(rc) => Some(rc),
            _ => None,
        })
    }

    /// Protocol Version as (version, revision).
    pub fn protocol_version(&self) -> Option<(u8, u8)> {
        self.find(|v| match v {
            AvpValue::ProtocolVersion { version, revision } => Some((*version, *revision)),
            _ => None,
        })
    }

    /// Receive Window Size.
    pub fn receive_window_size(&self) -> Option<u16> {
        self.find(|v| match v {
            AvpValue::ReceiveWindowSize(n) => Some(*n),
            _ => None,
        })
    }

    /// Host Name.
    pub fn host_name(&self) -> Option<&[u8]> {
        self.find(|v| match v {
            AvpValue::HostName(n) => Some(n.as_slice()),
            _ => None,
        })
    }

    /// Challenge.
    pub fn challenge(&self) -> Option<&[u8]> {
        self.find(|v| match v {
            AvpValue::Challenge(c) => Some(c.as_slice()),
            _ => None,
        })
    }

    /// Challenge Response.
    pub fn challenge_response(&self) -> Option<&[u8; 16]> {
        self.find(|v| match v {
            AvpValue::ChallengeResponse(r) => Some(r),
            _ => None,
        })
    }

    /// Whether Sequencing Required is present.
    pub fn sequencing_required(&self) -> bool {
        self.avps
            .iter()
            .any(|a| a.value == AvpValue::SequencingRequired)
    }
}

#[cfg(test)]
mod tests;
