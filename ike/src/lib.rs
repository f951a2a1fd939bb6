//! IKEv1 (RFC 2407/2408/2409) sans-IO engine: Main Mode, Quick Mode, Informational,
//! NAT-T (RFC 3947), for the responder (the gateway) and the initiator (`l2tpgw connect`).
//!
//! * [`msgs`] is the wire codec.
//! * [`crypto`] holds the PRFs, Diffie-Hellman groups, CBC and the RFC 2409 key
//!   derivation, behind a [`crypto::CryptoProvider`] that fuzzing replaces.
#![forbid(unsafe_code)]

pub mod crypto;
pub mod msgs;
