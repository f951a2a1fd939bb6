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
//!
//! The gateway's loop for one session (the `l2tpgw` driver does this with real time):
//!
//! ```
//! use std::{net::Ipv4Addr, sync::Arc, time::Instant};
//! use ppp::{Config, Event, Session, SessionParams};
//! use wire::random::DeterministicRandom;
//!
//! # #[allow(clippy::disallowed_methods, reason = "doc example")]
//! let now = Instant::now();
//! let params = SessionParams {
//!     local_ip: Ipv4Addr::new(10, 0, 0, 1),
//!     peer_ip: Ipv4Addr::new(10, 0, 0, 2),
//!     dns: [Some(Ipv4Addr::new(10, 0, 0, 53)), None],
//!     nbns: [None, None],
//! };
//! let mut rng = DeterministicRandom::new(1); // the gateway passes the OS generator
//! let mut s = Session::new_server(Arc::new(Config::default()), params, now, &mut rng);
//! let mut buf = Vec::new();
//! while let Some(_len) = s.poll_transmit(&mut buf) {
//!     // hand `buf` to L2TP (here: the first LCP Configure-Request)
//!     buf.clear();
//! }
//! # let frame = [0xff, 0x03, 0x00, 0x21, 0x45];
//! // For every PPP frame L2TP delivers:
//! if let Ok(Some(ip)) = s.handle_frame(now, &frame) {
//!     let _packet: &[u8] = ip.packet(); // to the TUN device, no copy
//! }
//! while let Some(ev) = s.poll_event() {
//!     match ev {
//!         Event::AuthRequest { user, data } => {
//!             // Look the user up (file, RADIUS, ...), possibly later:
//!             let decision = data.verify_password(&user, "secret");
//!             s.auth_result(now, decision);
//!         }
//!         Event::Up { peer_ip, .. } => { let _ = peer_ip; /* add the route */ }
//!         Event::Down { .. } => { /* drain poll_transmit, then drop the session */ }
//!         _ => {}
//!     }
//! }
//! // Arm a timer for `s.poll_timeout()`; when it fires call `s.handle_timeout(now)`.
//! // Outbound IP: `s.encap_ip(IpVersion::V4, &mut packet_buf)` prepends the PPP header.
//! ```
#![forbid(unsafe_code)]

pub mod auth;
pub mod ccp;
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
pub use error::{DownReason, Error, PeerIpError};
pub use session::{Event, IpIn, IpVersion, Phase, Session, Stats};
