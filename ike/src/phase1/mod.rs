//! Phase 1 (Main Mode) states. The exchange logic lives in `endpoint`'s
//! `main_mode` module; here are the authentication step and the certificates.

pub mod auth;
pub mod cert;
