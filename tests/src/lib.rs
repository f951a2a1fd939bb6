//! End-to-end test harness for l2tpgw (engine pairs, virtual clock, lossy links).

pub mod interop;
