#![no_main]
//! The IKE responder with Aggressive Mode enabled, stateful, with the NO-SECURITY crypto
//! provider so inputs can pass hashes and "decrypt" to what the fuzzer wrote. The input
//! format is ike_responder's: records of [control byte][u16 length][message]; the
//! control byte picks the path (500 / 4500, two peers) and how far the virtual clock
//! moves before the message. Seeded with an Aggressive Mode exchange and its Quick Mode
//! (`ike/tests/hostile.rs`, `write_aggressive_fuzz_seed`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use ike::{Config, Endpoint, Path, Psk, StaticPskStore};
use libfuzzer_sys::fuzz_target;
use wire::random::DeterministicRandom;

fuzz_target!(|data: &[u8]| {
    let cfg = Config {
        provider: &ike::fuzzing::PROVIDER,
        legacy: true,
        aggressive_mode: true,
        ..Config::default()
    };
    let mut ep = Endpoint::new(
        cfg,
        Box::new(StaticPskStore::wildcard(Psk::new("fuzz"))),
        Box::new(DeterministicRandom::new(0)),
    );
    #[allow(clippy::disallowed_methods)]
    let mut now = Instant::now();
    let mut rest = data;
    let mut buf = Vec::new();
    while rest.len() >= 3 {
        let ctl = rest[0];
        let len = usize::from(u16::from_be_bytes([rest[1], rest[2]]));
        rest = &rest[3..];
        let msg = &rest[..len.min(rest.len())];
        rest = &rest[msg.len()..];
        now += Duration::from_millis(u64::from(ctl >> 3) * 250);
        ep.handle_timeout(now);
        let port = if ctl & 1 == 0 { 500 } else { 4500 };
        let peer = if ctl & 2 == 0 { 2 } else { 3 };
        let path = Path {
            local: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)), port),
            remote: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, peer)), port),
        };
        let _ = ep.handle_datagram(now, path, msg);
        while ep.poll_transmit(&mut buf).is_some() {
            assert!(buf.len() < 64 * 1024);
            buf.clear();
        }
        while ep.poll_event().is_some() {}
        if let Some(t) = ep.poll_timeout() {
            assert!(t >= now || ep.ike_sa_count() > 0);
        }
    }
});
