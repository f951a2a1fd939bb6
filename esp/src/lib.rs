//! ESP (RFC 4303) in transport and tunnel mode, with UDP encapsulation (RFC 3948).
//!
//! In place and allocation-free per packet. The IKE layer negotiates a [`Suite`] and
//! derives key material; it hands this crate [`SaParams`] built by
//! [`SaParams::from_keymat`], and reads the SAs' [`Usage`] counters for lifetimes.
//!
//! * [`InboundSa::open`] verifies and decrypts a packet in the caller's buffer and
//!   returns the payload as a borrowed slice ([`Opened`]).
//! * [`OutboundSa::seal`] turns the payload of a [`wire::PacketBuf`] into an ESP packet,
//!   using its headroom and tailroom ([`Suite::header_len`], [`Suite::max_trailer_len`],
//!   or [`MAX_HEADER_LEN`] and [`MAX_TRAILER_LEN`] for any suite).
//! * [`SaTable`] finds the inbound SA by SPI; [`nat_t::classify_4500`] sorts what
//!   arrives on UDP 4500 into IKE, keepalives and ESP.
//! * [`ReplayWindow`] is the anti-replay window, checked before the ICV and committed
//!   after it.
//! * [`Lifetime`] carries the negotiated traffic limits into an SA; `expiry()` on either
//!   half says when it must be rekeyed ([`Expiry::Soft`]) and when it refuses traffic
//!   ([`Expiry::Hard`], [`Error::LifetimeExpired`]). Time limits are IKE's.
//!
//! Every refusal is an [`Error`] with a metrics label ([`Error::kind`]); none panics.
#![forbid(unsafe_code)]

mod cbc;
mod crypto;
mod error;
pub mod nat_t;
mod replay;
mod sa;
mod suite;
mod table;

pub use cbc::{CbcCipher, LengthError};
#[doc(hidden)]
pub use crypto::GcmBackend;
pub use error::Error;
pub use replay::ReplayWindow;
pub use sa::{
    Expiry, InboundSa, Lifetime, MAX_PACKET_LEN, NEXT_HEADER_NONE, Opened, OutboundSa,
    SEQ_SOFT_LIMIT, TRIPLE_DES_MAX_BYTES, Usage,
};
pub use suite::{
    ESP_HEADER_LEN, Encryption, Integrity, MAX_HEADER_LEN, MAX_TRAILER_LEN, Mode, SaParams, Spi,
    Suite, SuiteError,
};
pub use table::SaTable;

#[cfg(test)]
mod tests;
