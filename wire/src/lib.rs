//! Shared wire codecs for the l2tpgw protocol crates.
//!
//! * [`Reader`] borrows input and names what was missing or malformed in every error
//!   ([`DecodeError`]); [`Reader::finish`] rejects trailing bytes where a format requires it.
//! * [`Writer`] appends to a caller-owned `Vec<u8>` and back-patches length prefixes.
//! * [`open_enum!`] declares wire enums whose unknown values round-trip as `Unknown(v)`.
//! * [`ip`] holds checked IPv4, IPv6 and UDP views with checksum computation and
//!   verification, including the pseudo-header form ESP transport mode needs.
//! * [`PacketBuf`] is a buffer with headroom and tailroom for in-place encapsulation.
//! * [`random::SecureRandom`] is how randomness is injected into the sans-IO engines.
#![forbid(unsafe_code)]
#![warn(clippy::indexing_slicing)]

mod buf;
pub mod checksum;
mod error;
pub mod ip;
mod open_enum;
pub mod random;
mod reader;
mod writer;

pub use buf::{BufError, PacketBuf};
pub use error::DecodeError;
pub use reader::Reader;
pub use writer::{LengthOverflow, Patch, Writer};
