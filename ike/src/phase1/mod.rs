//! Phase 1 (Main Mode) states. The exchange logic lives in `endpoint`'s
//! `main_mode` module; here are the per-state data and the authentication step.

pub mod auth;
