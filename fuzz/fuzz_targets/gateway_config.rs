//! The configuration file: arbitrary text through the TOML parse, validation and what
//! `serve` resolves from it (PSK and user generated when missing, the address pool with
//! the users' static addresses, IKE authentication, the core's configuration). Files a
//! config names (psk_file, users_file, certificates) are not opened: their parsers
//! have targets of their own. Nothing may panic; a config that validates resolves.
#![no_main]

use gateway::config::{CertificatesConfig, Config, Resolved};
use libfuzzer_sys::fuzz_target;
use wire::random::DeterministicRandom;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(mut config) = Config::from_toml(text) else {
        return;
    };
    let _ = config.auth_methods();
    if config.validate().is_err() {
        return;
    }
    config.psk_file = None;
    config.users_file = None;
    config.certificates = CertificatesConfig::default();
    let Ok(resolved) = Resolved::new(config, Vec::new(), &mut DeterministicRandom::new(1)) else {
        return;
    };
    let mut ike = ike::Config::default();
    resolved.apply_ike_auth(&mut ike);
    let _ = resolved.core_config();
});
