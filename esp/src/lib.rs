//! ESP (RFC 4303) in transport and tunnel mode, with UDP encapsulation (RFC 3948).
//!
//! In place and allocation-free per packet. The IKE layer negotiates a [`Suite`] and
//! derives key material; it hands this crate [`SaParams`] built by
//! [`SaParams::from_keymat`], and reads the SAs' usage counters for lifetimes.
#![forbid(unsafe_code)]

mod suite;

pub use suite::{Encryption, Integrity, Mode, SaParams, Spi, Suite, SuiteError};
