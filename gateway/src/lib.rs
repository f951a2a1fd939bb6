//! l2tpgw: the sans-IO composition of the protocol engines (`core`, not built yet) and
//! the runtime around it: configuration, users, the address pool, sockets, the TUN
//! device, signals, status and metrics.

pub mod cli;
pub mod client;
pub mod config;
pub mod core;
pub mod driver;
pub mod io;
pub mod logging;
pub mod pool;
pub mod secret;
pub mod status;
pub mod users;
