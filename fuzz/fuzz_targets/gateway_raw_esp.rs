//! What a raw ESP socket (IP protocol 50) returns: the IPv4 header parse that finds the
//! addresses and the ESP part, then the core's raw ESP input with the bytes as ESP
//! (unknown SPIs, truncation: counted, never a panic).
#![no_main]

use std::time::Instant;

use gateway_core::pool::AddressPool;
use gateway_core::secret::Secret;
use gateway_core::users::UserDb;
use gateway_core::{Core, CoreConfig, CoreRandom, Engine};
use libfuzzer_sys::fuzz_target;
use wire::random::DeterministicRandom;

fuzz_target!(|data: &[u8]| {
    if let Ok(raw) = gateway_core::transport::parse_raw_esp_ipv4(data) {
        assert!(raw.esp.start >= 20 && raw.esp.start <= raw.esp.end && raw.esp.end <= data.len());
    }
    let Ok(pool) = AddressPool::new("10.77.0.0/24".parse().unwrap(), None, []) else {
        return;
    };
    let mut cc = CoreConfig::new(pool, Secret::new("k"), UserDb::new());
    cc.ike.force_encapsulation = false;
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
