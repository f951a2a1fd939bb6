#![no_main]
//! Certificate Main Mode inside the engine: a responder with the test CA, its CRL and
//! RSA, P-256 and P-384 server certificates (PSK allowed too) is fed client messages,
//! with the NO-SECURITY crypto provider so they pass hashes and "decrypt" to what the
//! fuzzer wrote. CERT, CERTREQ, ID and SIG payloads in MM5 then reach chain
//! verification, the ID match and the real signature check (HASH_I is a constant under
//! this provider, so a seed signed once by a real client key stays valid), and Quick
//! Mode after it. Nothing may panic; sends stay bounded.
//!
//! Input: records of [control byte][u16 length][message]. Control bits: 0 the port
//! (500 / 4500), 1 which of two clients, 2 copy the responder cookie of our last message
//! into the header, 3-7 how far the virtual clock moves first (× 250 ms).
//! Seeds: `IKE_CORPUS=fuzz/corpus cargo test -p ike --test fuzz_seeds -- --ignored`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use ike::{Certificates, Config, Endpoint, Identity, Path, Psk, StaticPskStore, WallClock};
use libfuzzer_sys::fuzz_target;
use wire::random::DeterministicRandom;

/// 2027-01-01, inside every fixture's validity.
const UNIX: i64 = 1_798_761_600;

fn certificates() -> Arc<Certificates> {
    static C: OnceLock<Arc<Certificates>> = OnceLock::new();
    C.get_or_init(|| {
        let mut c = Certificates::new();
        c.add_ca_pem(include_bytes!("../../ike/tests/fixtures/ca.pem"))
            .expect("fixture");
        c.add_crl(include_bytes!("../../ike/tests/fixtures/inter.crl.pem"))
            .expect("fixture");
        let inter = include_bytes!("../../ike/tests/fixtures/inter.pem");
        for (cert, key) in [
            (
                &include_bytes!("../../ike/tests/fixtures/server-rsa.pem")[..],
                &include_bytes!("../../ike/tests/fixtures/server-rsa.key")[..],
            ),
            (
                include_bytes!("../../ike/tests/fixtures/server-p256.pem"),
                include_bytes!("../../ike/tests/fixtures/server-p256.key"),
            ),
            (
                include_bytes!("../../ike/tests/fixtures/server-p384.pem"),
                include_bytes!("../../ike/tests/fixtures/server-p384.key"),
            ),
        ] {
            c.add_identity(Identity::from_pem(&[cert, &inter[..]].concat(), key).expect("fixture"));
        }
        Arc::new(c)
    })
    .clone()
}

fuzz_target!(|data: &[u8]| {
    #[allow(clippy::disallowed_methods, reason = "the virtual clock's base")]
    let mut now = Instant::now();
    let cfg = Config {
        provider: &ike::fuzzing::PROVIDER,
        legacy: true,
        certificates: Some(certificates()),
        wall_clock: Some(WallClock {
            at: now,
            unix_secs: UNIX,
        }),
        ..Config::default()
    };
    let mut ep = Endpoint::new(
        cfg,
        Box::new(StaticPskStore::wildcard(Psk::new("fuzz"))),
        Box::new(DeterministicRandom::new(0)),
    );
    let mut rest = data;
    let mut buf = Vec::new();
    let mut last_sent: Vec<u8> = Vec::new();
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
        let mut m = msg.to_vec();
        if ctl & 4 != 0 && m.len() >= 28 && last_sent.len() >= 28 {
            m[8..16].copy_from_slice(&last_sent[8..16]);
        }
        let _ = ep.handle_datagram(now, path, &m);
        while ep.poll_transmit(&mut buf).is_some() {
            assert!(buf.len() < 64 * 1024);
            if buf.len() >= 28 {
                last_sent.clone_from(&buf);
            }
            buf.clear();
        }
        while ep.poll_event().is_some() {}
        if let Some(t) = ep.poll_timeout() {
            assert!(t >= now || ep.ike_sa_count() > 0);
        }
    }
});
