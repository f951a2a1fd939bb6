//! Helpers shared by the integration tests.
#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::time::Instant;

use esp::{Mode, SaParams, Spi, Suite};

/// The base of the tests' virtual clock; only differences from it matter.
#[allow(
    clippy::disallowed_methods,
    reason = "a test needs one real Instant as its base"
)]
pub(crate) fn t0() -> Instant {
    Instant::now()
}

/// Hex to bytes, ignoring spaces and newlines.
pub(crate) fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace([' ', '\n'], "")).unwrap()
}

/// Parameters with key material derived from `seed`.
pub(crate) fn params(suite: Suite, mode: Mode, spi: u32, seed: u8) -> SaParams {
    let km: Vec<u8> = (0..suite.keymat_len())
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect();
    SaParams::from_keymat(Spi(spi), suite, mode, &km).unwrap()
}
