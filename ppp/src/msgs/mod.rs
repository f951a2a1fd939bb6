//! PPP wire formats: the frame (protocol field), the control-protocol packet shared by
//! LCP, IPCP and IPv6CP, their options, and the PAP and CHAP packets.
//!
//! Everything here decodes from borrowed bytes into small views and never panics on
//! hostile input: a malformed packet is a [`wire::DecodeError`] naming what was wrong.

pub mod chap;
pub mod cp;
pub mod frame;
pub mod ipcp;
pub mod lcp;
pub mod pap;

pub use cp::{Code, CpOption, CpPacket, MAX_OPTIONS, OptionIter};
pub use frame::{Frame, Protocol};
