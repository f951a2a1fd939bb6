//! L2TPv2 (RFC 2661) sans-IO engine: LNS and LAC.
//!
//! * [`msgs`]: the wire formats (header, AVPs, control messages, hidden AVPs, tunnel
//!   authentication).
//! * [`Endpoint`]: the engine. Datagrams in ([`Endpoint::handle_datagram`]), timers
//!   ([`Endpoint::handle_timeout`]), output out ([`Endpoint::poll_transmit`],
//!   [`Endpoint::poll_event`], [`Endpoint::poll_timeout`]). Data messages give their PPP
//!   frame borrowed from the datagram; outbound frames are encapsulated in place
//!   ([`Endpoint::encap_data`]).
//!
//! Inside: `reliable` is the control channel (Ns/Nr, window, retransmission, ZLB),
//! `tunnel` and `session` the state machines, one type per state.
//!
//! The engine never trusts addresses: the caller names each peer with an opaque
//! [`PeerId`] (in the gateway, the ESP SA pair).
#![forbid(unsafe_code)]

mod config;
mod endpoint;
mod error;
mod event;
mod ids;
pub mod msgs;
mod reliable;
mod session;
mod stats;
mod tunnel;

pub use config::{Config, DEFAULT_HELLO_INTERVAL};
pub use endpoint::Endpoint;
pub use error::Error;
pub use event::{Event, PppIn, Transmit, TunnelDownReason};
pub use ids::{PeerId, SessionId, SessionRef, TunnelHandle, TunnelId};
pub use msgs::{ResultCode, Secret};
pub use stats::Stats;

/// The base of the tests' virtual clocks (the only clock read in this crate).
#[cfg(test)]
pub(crate) fn test_clock() -> std::time::Instant {
    #[allow(
        clippy::disallowed_methods,
        reason = "tests need one Instant as the virtual clock's base"
    )]
    std::time::Instant::now()
}
