//! What a raw ESP socket (IP protocol 50) returns: the IPv4 header parse that finds the
//! addresses and the ESP part, then the core's raw ESP input with the bytes as ESP
//! (unknown SPIs, truncation: counted, never a panic).
#![no_main]

use std::time::Instant;

use gateway::config::{Config, Resolved};
use gateway::core::{Core, CoreConfig, CoreRandom};
use gateway::driver::Engine;
use libfuzzer_sys::fuzz_target;
use wire::random::DeterministicRandom;

fuzz_target!(|data: &[u8]| {
    if let Ok(raw) = gateway::core::transport::parse_raw_esp_ipv4(data) {
        assert!(raw.esp.start >= 20 && raw.esp.start <= raw.esp.end && raw.esp.end <= data.len());
    }
    let mut config = Config::default();
    config.ike.force_encapsulation = false;
    config.ike.raw_esp = true;
    let Ok(resolved) = Resolved::new(config, Vec::new(), &mut DeterministicRandom::new(1)) else {
        return;
    };
    let Ok(cc) = CoreConfig::from_resolved(&resolved) else {
        return;
    };
    #[allow(clippy::disallowed_methods, reason = "the fuzz target's base instant")]
    let now = Instant::now();
    let random = CoreRandom {
        core: Box::new(DeterministicRandom::new(2)),
        ike: Box::new(DeterministicRandom::new(3)),
        l2tp: Box::new(DeterministicRandom::new(4)),
    };
    let mut core = Core::new(cc, now, random);
    let mut packet = data.to_vec();
    let (local, remote) = (
        "192.0.2.1".parse().unwrap(),
        "198.51.100.7".parse().unwrap(),
    );
    if let Some(range) = core.handle_raw_esp(now, local, remote, &mut packet) {
        assert!(range.end <= packet.len());
    }
});
