//! L2TPv2 (RFC 2661) sans-IO engine: LNS and LAC.
//!
//! * [`msgs`]: the wire formats (header, AVPs, control messages, hidden AVPs).
#![forbid(unsafe_code)]

mod error;
mod ids;
pub mod msgs;

pub use error::Error;
pub use ids::{PeerId, SessionId, SessionRef, TunnelHandle, TunnelId};
