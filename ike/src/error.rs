//! Errors: what went wrong, and what (if anything) the peer is told.

use core::fmt;

use wire::DecodeError;

use crate::crypto::CryptoError;
use crate::msgs::{NotifyType, PayloadType};
use crate::phase1::cert::CertError;

/// Why a message was refused. Every error leaves the engine's state unchanged, except
/// that an exchange that can no longer complete is abandoned.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum Error {
    /// The bytes did not decode.
    Decode(DecodeError),
    /// The peer broke the protocol.
    PeerMisbehaved(PeerMisbehaved),
    /// No proposal the peer sent is on the allow-list.
    NoProposalChosen,
    /// The peer's HASH did not verify (wrong pre-shared key).
    AuthenticationFailed,
    /// No pre-shared key is configured for the peer's address.
    NoPsk,
    /// Certificate authentication failed (the reason says why).
    Certificate(CertError),
    /// A Diffie-Hellman public value was invalid.
    InvalidKeyInformation(CryptoError),
    /// An identification payload is not acceptable.
    InvalidIdInformation,
    /// A payload type this implementation does not know.
    InvalidPayloadType(PayloadType),
    /// A message for an ISAKMP SA we do not have (unknown cookies).
    UnknownSa,
    /// A limit was reached (half-open SAs, SAs per source, rate); checked before any
    /// Diffie-Hellman computation.
    LimitExceeded(&'static str),
    /// A feature that is off or not implemented (Aggressive Mode when disabled, ...).
    Unsupported(&'static str),
}

/// Protocol violations by the peer.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum PeerMisbehaved {
    /// A message that does not fit the exchange's state.
    UnexpectedMessage(&'static str),
    /// A required payload is missing.
    MissingPayload(PayloadType),
    /// A HASH in phase 2 or an informational exchange did not verify.
    BadHash,
    /// A message ID that is invalid here.
    InvalidMessageId,
    /// A nonce outside 8..=256 bytes.
    BadNonce,
    /// A KE payload whose length does not fit the group.
    BadKeLength,
    /// A response chose something we did not propose.
    ResponseNotProposed,
    /// An encrypted body that is not a multiple of the block length.
    BadCiphertext,
    /// A plaintext message where encryption is required.
    NotEncrypted,
    /// A Quick Mode or informational message from another address or port than the
    /// one its ISAKMP SA proved in Main Mode.
    WrongPath,
    /// A Quick Mode message ID this ISAKMP SA has used before (a replay).
    ReplayedMessageId,
}

impl Error {
    /// The notification the peer should get for this error, if any.
    pub fn notify(&self) -> Option<NotifyType> {
        Some(match self {
            Self::Decode(_) => NotifyType::PayloadMalformed,
            Self::NoProposalChosen => NotifyType::NoProposalChosen,
            Self::AuthenticationFailed | Self::NoPsk | Self::Certificate(_) => {
                NotifyType::AuthenticationFailed
            }
            Self::InvalidKeyInformation(_) => NotifyType::InvalidKeyInformation,
            Self::InvalidIdInformation => NotifyType::InvalidIdInformation,
            Self::InvalidPayloadType(_) => NotifyType::InvalidPayloadType,
            Self::PeerMisbehaved(PeerMisbehaved::BadHash) => NotifyType::InvalidHashInformation,
            Self::PeerMisbehaved(PeerMisbehaved::InvalidMessageId) => NotifyType::InvalidMessageId,
            Self::PeerMisbehaved(PeerMisbehaved::MissingPayload(_))
            | Self::PeerMisbehaved(PeerMisbehaved::BadNonce)
            | Self::PeerMisbehaved(PeerMisbehaved::BadKeLength) => NotifyType::PayloadMalformed,
            Self::PeerMisbehaved(_)
            | Self::UnknownSa
            | Self::LimitExceeded(_)
            | Self::Unsupported(_) => return None,
        })
    }

    /// A short stable name, for metrics labels.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Decode(_) => "decode",
            Self::PeerMisbehaved(_) => "peer_misbehaved",
            Self::NoProposalChosen => "no_proposal_chosen",
            Self::AuthenticationFailed => "authentication_failed",
            Self::NoPsk => "no_psk",
            Self::Certificate(_) => "certificate",
            Self::InvalidKeyInformation(_) => "invalid_key_information",
            Self::InvalidIdInformation => "invalid_id_information",
            Self::InvalidPayloadType(_) => "invalid_payload_type",
            Self::UnknownSa => "unknown_sa",
            Self::LimitExceeded(_) => "limit_exceeded",
            Self::Unsupported(_) => "unsupported",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Decode(e) => write!(f, "malformed message: {e}"),
            Self::PeerMisbehaved(p) => write!(f, "peer misbehaved: {p:?}"),
            Self::NoProposalChosen => f.write_str("no acceptable proposal"),
            Self::AuthenticationFailed => f.write_str("authentication failed"),
            Self::NoPsk => f.write_str("no pre-shared key for this peer"),
            Self::Certificate(e) => write!(f, "certificate authentication failed: {e}"),
            Self::InvalidKeyInformation(e) => write!(f, "invalid key information: {e}"),
            Self::InvalidIdInformation => f.write_str("invalid identification"),
            Self::InvalidPayloadType(t) => write!(f, "invalid payload type {t:?}"),
            Self::UnknownSa => f.write_str("unknown ISAKMP SA"),
            Self::LimitExceeded(w) => write!(f, "limit exceeded: {w}"),
            Self::Unsupported(w) => write!(f, "unsupported: {w}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<DecodeError> for Error {
    fn from(e: DecodeError) -> Self {
        Self::Decode(e)
    }
}

impl From<CertError> for Error {
    fn from(e: CertError) -> Self {
        Self::Certificate(e)
    }
}

impl From<PeerMisbehaved> for Error {
    fn from(e: PeerMisbehaved) -> Self {
        Self::PeerMisbehaved(e)
    }
}
