//! IKEv1 (RFC 2407/2408/2409) sans-IO engine: Main Mode, Quick Mode, Informational,
//! NAT-T (RFC 3947), for the responder (the gateway) and the initiator (`l2tpgw connect`).
//!
//! * [`msgs`] is the wire codec.
//! * [`crypto`] holds the PRFs, Diffie-Hellman groups, CBC and the RFC 2409 key
//!   derivation, behind a [`crypto::CryptoProvider`] that fuzzing replaces.
//! * [`Endpoint`] is the engine: feed it datagrams and timeouts, drain transmits and
//!   events. It never reads a clock or the OS RNG.
//!
//! Logs never contain keys. A refused first message is logged as one line with the
//! peer's address and every reason counted (at info at most once per source a minute);
//! single refused transforms only at trace.
//!
//! [`fragment`] reassembles and sends IKE fragments (the Microsoft/Cisco format).
//!
//! Phase 1 authenticates with pre-shared keys or X.509 certificates (RSA and ECDSA
//! P-256/P-384 signatures, [`phase1::cert`]).
//!
//! ```
//! use std::net::SocketAddr;
//! use std::time::Instant;
//! use ike::{Config, Endpoint, Event, Path, Psk, StaticPskStore};
//! use wire::random::DeterministicRandom;
//!
//! let mut server = Endpoint::new(
//!     Config::default(),
//!     Box::new(StaticPskStore::wildcard(Psk::new("secret"))),
//!     Box::new(DeterministicRandom::new(1)), // the gateway passes an OS-backed one
//! );
//! # #[allow(clippy::disallowed_methods)]
//! let now = Instant::now(); // the gateway's driver reads the clock, never the engine
//! let path = Path {
//!     local: "198.51.100.1:500".parse::<SocketAddr>().unwrap(),
//!     remote: "203.0.113.7:500".parse::<SocketAddr>().unwrap(),
//! };
//! let datagram: &[u8] = &[]; // UDP payload; on 4500 without the non-ESP marker
//! if let Err(e) = server.handle_datagram(now, path, datagram) {
//!     let _counted_in_stats = e.kind();
//! }
//! let mut buf = Vec::new();
//! while let Some(t) = server.poll_transmit(&mut buf) {
//!     // send `buf` from t.path.local to t.path.remote, after 4 zero bytes if
//!     // t.non_esp_marker
//!     buf.clear();
//! }
//! while let Some(ev) = server.poll_event() {
//!     if let Event::ChildSaUp(child) = ev {
//!         // install child.inbound now (the peer may already send on it), switch
//!         // outbound to child.outbound after its first inbound packet when child.rekey
//!         let _ = child;
//!     }
//! }
//! let _next_wakeup = server.poll_timeout(); // then call handle_timeout(now)
//! ```
#![forbid(unsafe_code)]

pub mod config;
pub mod crypto;
mod endpoint;
pub mod error;
pub mod fragment;
#[doc(hidden)]
pub mod fuzzing;
pub mod msgs;
pub mod phase1;
pub mod proposal;

pub use config::{
    AuthPolicy, Config, Limits, Psk, PskStore, Retransmit, StaticPskStore, WallClock,
};
pub use endpoint::{
    ChildSa, DownReason, Encapsulation, Endpoint, Event, IkeSaId, IkeSaInfo, Path, Profile, Stats,
    Transmit, windows_vendor_ids,
};
pub use error::{Error, PeerMisbehaved};
pub use fragment::{FragmentConfig, FragmentStats};
pub use msgs::NotifyType;
pub use phase1::cert::{CertError, Certificates, Identity, KeyKind};
pub use proposal::Phase1Auth;
