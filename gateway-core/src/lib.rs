//! gateway-core: the sans-IO heart of l2tpgw. It composes the protocol engines (IKE,
//! ESP, L2TP, PPP) with the address pool, the users and the routes into two cores that
//! never touch a socket, a TUN device, a clock or the OS random generator:
//!
//! * [`Core`] is the server: IKE responder, ESP SA table, L2TP LNS, PPP sessions, the
//!   pool and the routes from inner address to session.
//! * [`ClientCore`] is the client behind `l2tpgw connect`: IKE initiator, L2TP LAC and
//!   a PPP peer.
//!
//! Both run one data path (a private module of small steps on one buffer: NAT-T
//! classification, SA lookup and open, inner UDP 1701, L2TP, PPP, then the server's
//! policy steps) and count what they drop with typed [`Counter`]s.
//!
//! Both implement [`Engine`]: the caller hands in datagrams, TUN packets and the time
//! (`now`), and takes out datagrams for the network and IP packets for the TUN device.
//! The `l2tpgw` binary (crate `gateway`) drives them with tokio; tests and fuzz targets
//! drive them directly. Configuration arrives already resolved ([`CoreConfig`],
//! [`ClientConfig`]); randomness is injected ([`CoreRandom`]).
//!
//! ```
//! use std::time::Instant;
//!
//! use gateway_core::pool::AddressPool;
//! use gateway_core::secret::Secret;
//! use gateway_core::users::UserDb;
//! use gateway_core::{Core, CoreConfig, CoreRandom, Engine};
//! use wire::random::DeterministicRandom;
//!
//! let users = UserDb::parse("alice correct-horse\n").unwrap();
//! let pool = AddressPool::new("10.77.0.0/24".parse().unwrap(), None, users.static_addresses())
//!     .unwrap();
//! let config = CoreConfig::new(pool, Secret::new("shared key"), users);
//! let random = CoreRandom {
//!     core: Box::new(DeterministicRandom::new(1)),
//!     ike: Box::new(DeterministicRandom::new(2)),
//!     l2tp: Box::new(DeterministicRandom::new(3)),
//! };
//! # #[allow(clippy::disallowed_methods, reason = "the example's clock")]
//! let now = Instant::now();
//! let mut core = Core::new(config, now, random);
//!
//! // A datagram from the network: here a truncated IKE header on port 500.
//! let mut datagram = [0u8; 20];
//! let to_tun = core.handle_udp(
//!     now,
//!     "192.0.2.1:500".parse().unwrap(),
//!     "198.51.100.7:500".parse().unwrap(),
//!     &mut datagram,
//! );
//! assert!(to_tun.is_none());
//! // Whatever the engines want to send comes out of `poll_output`; nothing here.
//! let mut buf = wire::PacketBuf::new(2048, 0);
//! assert!(core.poll_output(&mut buf).is_none());
//! assert_eq!(core.status(now).sessions.len(), 0);
//! ```

pub mod client;
pub mod counters;
mod datapath;
pub mod engine;
pub mod escape;
pub mod mss;
mod peer;
pub mod pool;
pub mod secret;
pub mod server;
pub mod status;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;
pub mod throttle;
pub mod transport;
pub mod users;

pub use client::{ClientConfig, ClientCore, ClientProfile, ClientState};
pub use counters::{Counter, Counters};
pub use engine::{Engine, InterfaceConfig, Output, TUN_HEADROOM, TUN_TAILROOM};
pub use server::{Core, CoreConfig, CoreRandom, SaPair};
