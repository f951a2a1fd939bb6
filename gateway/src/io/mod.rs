//! Everything that talks to the operating system: UDP sockets with packet info, the TUN
//! device, nftables, the status socket and the metrics endpoint. The sans-IO core never
//! sees any of it; the driver ([`crate::driver`]) connects the two.

pub mod batch;
pub mod control;
pub mod esp;
pub mod nft;
pub mod tun;
pub mod udp;
