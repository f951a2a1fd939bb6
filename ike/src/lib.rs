//! IKEv1 (RFC 2407/2408/2409) sans-IO engine: Main Mode, Quick Mode, Informational,
//! NAT-T (RFC 3947), for the responder (the gateway) and the initiator (`l2tpgw connect`).
//!
//! * [`msgs`] is the wire codec.
//! * [`crypto`] holds the PRFs, Diffie-Hellman groups, CBC and the RFC 2409 key
//!   derivation, behind a [`crypto::CryptoProvider`] that fuzzing replaces.
//! * [`Endpoint`] is the engine: feed it datagrams and timeouts, drain transmits and
//!   events. It never reads a clock or the OS RNG.
//!
//! Logs never contain keys; refused proposals are logged at info with the reason.
#![forbid(unsafe_code)]

pub mod config;
pub mod crypto;
mod endpoint;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod msgs;
pub mod phase1;
pub mod phase2 {
    //! Quick Mode lives in the endpoint's `quick_mode` module; its suite selection in
    //! [`crate::proposal`].
}
pub mod proposal;

pub use config::{Config, Limits, Psk, PskStore, Retransmit, StaticPskStore};
pub use endpoint::{
    ChildSa, DownReason, Encapsulation, Endpoint, Event, IkeSaId, Path, Profile, Stats, Transmit,
    windows_vendor_ids,
};
pub use error::{Error, PeerMisbehaved};
pub use msgs::NotifyType;
