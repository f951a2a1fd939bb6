//! l2tpgw: the sans-IO composition of the protocol engines (`core`) and the runtime
//! around it (sockets, TUN, configuration, signals).
//!
//! Not built yet: see the open issues.
