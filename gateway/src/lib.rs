//! l2tpgw: the sans-IO composition of the protocol engines and the runtime around it.
//!
//! * [`core::Core`] composes IKE, ESP, L2TP and PPP with the address pool and the routes
//!   (the server); [`client::ClientCore`] is the client (`l2tpgw connect`). Neither does
//!   I/O or reads a clock.
//! * [`driver`] is the one tokio task that owns a core and connects it to the [`io`]
//!   pieces: UDP sockets with packet info, the TUN device, signals, the status socket and
//!   the metrics endpoint.
//! * [`config`], [`users`], [`pool`] and [`secret`] hold the configuration, the users
//!   file, the address pool and secret handling; [`cli`] the command line; [`status`] the
//!   status report and its table, JSON and Prometheus forms; [`pki`] the certificates of
//!   `l2tpgw pki`.

pub mod cli;
pub mod client;
pub mod config;
pub mod core;
pub mod driver;
pub mod io;
pub mod logging;
pub mod pki;
pub mod pool;
pub mod secret;
pub mod status;
pub mod users;
