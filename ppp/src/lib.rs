//! PPP over L2TP, sans-IO: LCP, PAP, CHAP-MD5, MS-CHAPv2, IPCP (with RFC 1877 DNS/NBNS)
//! and IPv6CP, as authenticator (server) and as peer (client).
//!
//! * [`msgs`] holds the wire formats (frames without HDLC, control packets, options).
//! * [`fsm`] is the RFC 1661 §4 automaton, one transition table shared by every control
//!   protocol through the [`fsm::Negotiator`] trait.
//! * [`lcp`], [`ipcp`] are the negotiators; [`auth`] has PAP, CHAP-MD5 and MS-CHAPv2
//!   (including the RFC 2759 crypto a backend needs to verify a response).
//! * [`Session`] ties them together through the phases Establish → Authenticate →
//!   Network → Terminate. It never touches a clock, a socket or a user database: time
//!   is passed in, frames come in through [`Session::handle_frame`] and go out through
//!   [`Session::poll_transmit`], and authentication decisions are asked of the caller
//!   ([`Event::AuthRequest`], answered by [`Session::auth_result`]).
#![forbid(unsafe_code)]

pub mod auth;
pub mod config;
pub mod error;
pub mod fsm;
pub mod ipcp;
pub mod lcp;
pub mod msgs;
mod outbox;
mod session;

pub use auth::{AuthData, AuthDecision, AuthMethod, Credentials, Password};
pub use config::{Config, SessionParams};
pub use error::{DownReason, Error};
pub use session::{Event, IpIn, IpVersion, Phase, Session, Stats};
