//! l2tpgw: the runtime around the sans-IO [`gateway_core`] (the server's `Core` and the
//! client's `ClientCore`).
//!
//! * [`driver`] is the one tokio task that owns a core and connects it to the [`io`]
//!   pieces: UDP sockets with packet info, the TUN device, signals, the status socket and
//!   the metrics endpoint.
//! * [`config`] resolves the configuration file, environment and flags into gateway-core's
//!   `CoreConfig`; [`users_file`] reads the users file; [`random`] is the OS random
//!   generator; [`cli`] the command line; [`status`] renders the status report as a
//!   table, JSON and Prometheus text; [`pki`] the certificates of `l2tpgw pki`.
//! * [`secret_file`] refuses secret files others can read; [`privileges`] drops the
//!   capabilities `serve` no longer needs once its sockets, TUN and nftables are set up.

pub mod cli;
pub mod config;
pub mod driver;
pub mod io;
pub mod logging;
pub mod pki;
pub mod privileges;
pub mod random;
pub mod secret_file;
pub mod status;
pub mod users_file;
