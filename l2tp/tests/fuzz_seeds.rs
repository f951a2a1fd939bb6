//! Writes seeds for the fuzz target `l2tp_lac`: a LAC built as the target builds it
//! (limits, RNG seed) brings a tunnel and a session up against an LNS, sends data and
//! closes; the LNS's datagrams and the LAC's commands are written in the target's input
//! format ([config byte], then [op][arg][u16 length][bytes] records).
//!
//! `L2TP_CORPUS=fuzz/corpus cargo test -p l2tp --test fuzz_seeds -- --ignored`
//! (run from the repository root). Without `L2TP_CORPUS` nothing is written.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code"
)]

use std::time::{Duration, Instant};

use l2tp::{Config, Endpoint, Event, PeerId, Secret};
use wire::PacketBuf;
use wire::random::DeterministicRandom;

fn record(seed: &mut Vec<u8>, op: u8, arg: u8, bytes: &[u8]) {
    seed.extend_from_slice(&[op, arg]);
    seed.extend_from_slice(&u16::try_from(bytes.len()).unwrap().to_be_bytes());
    seed.extend_from_slice(bytes);
}

/// Moves datagrams both ways until both sides are quiet; the LNS's datagrams go into
/// `seed` (op 1 aims at our tunnel, op 2 at our tunnel and session).
/// Each round ends with a 250 ms step of the clock (op 3), for delayed acknowledgements.
fn exchange(
    now: &mut Instant,
    lac: &mut Endpoint,
    lns: &mut Endpoint,
    seed: &mut Vec<u8>,
) -> Vec<Event> {
    let mut events = Vec::new();
    let mut buf = Vec::new();
    for _ in 0..8 {
        while lac.poll_transmit(&mut buf).is_some() {
            let _ = lns.handle_datagram(*now, PeerId(7), &buf);
            buf.clear();
        }
        while lns.poll_transmit(&mut buf).is_some() {
            let at = if buf[0] & 0x40 != 0 { 4 } else { 2 };
            let op = if buf[at + 2..at + 4] == [0, 0] { 1 } else { 2 };
            record(seed, op, 0, &buf);
            let _ = lac.handle_datagram(*now, PeerId(0), &buf);
            buf.clear();
        }
        events.extend(std::iter::from_fn(|| lac.poll_event()));
        while lns.poll_event().is_some() {}
        *now += Duration::from_millis(250);
        record(seed, 3, 1, &[]);
        lac.handle_timeout(*now);
        lns.handle_timeout(*now);
    }
    events
}

#[test]
#[ignore = "writes files for the fuzz corpus"]
fn write_lac_seeds() {
    let Ok(dir) = std::env::var("L2TP_CORPUS") else {
        return;
    };
    for (cfg, name) in [(0u8, "plain"), (1, "secret"), (3, "secret-hidden")] {
        #[allow(clippy::disallowed_methods, reason = "the virtual clock's base")]
        let mut now = Instant::now();
        let mut lac_cfg = Config::lac();
        lac_cfg.max_tunnels = 4;
        lac_cfg.max_sessions_per_tunnel = 4;
        lac_cfg.max_sessions = 8;
        let mut lns_cfg = Config::default();
        if cfg & 1 != 0 {
            lac_cfg.secret = Some(Secret::new(b"fuzz".to_vec()));
            lac_cfg.hide_avps = cfg & 2 != 0;
            lns_cfg.secret = Some(Secret::new(b"fuzz".to_vec()));
            lns_cfg.hide_avps = cfg & 2 != 0;
        }
        let mut lac = Endpoint::new(lac_cfg, Box::new(DeterministicRandom::new(1)));
        let mut lns = Endpoint::new(lns_cfg, Box::new(DeterministicRandom::new(5)));
        let mut seed = vec![cfg];
        let tunnel = lac.connect(now, PeerId(0)).unwrap();
        let events = exchange(&mut now, &mut lac, &mut lns, &mut seed);
        assert!(
            events.iter().any(|e| matches!(e, Event::TunnelUp { .. })),
            "{name}: {events:?}"
        );
        // Op 6: open a session in the first tunnel.
        record(&mut seed, 6, 0, &[]);
        lac.open_session(now, tunnel).unwrap();
        let events = exchange(&mut now, &mut lac, &mut lns, &mut seed);
        let session = events
            .iter()
            .find_map(|e| match e {
                Event::SessionUp(s) => Some(*s),
                _ => None,
            })
            .unwrap_or_else(|| panic!("{name}: {events:?}"));
        // Op 5: a PPP frame out on the session.
        let frame = [0xff, 0x03, 0xc0, 0x21, 0x09, 0x01, 0x00, 0x08, 0, 0, 0, 0];
        record(&mut seed, 5, 0, &frame);
        let mut buf = PacketBuf::new(256, 16);
        buf.set_payload(&frame).unwrap();
        lac.encap_data(session, &mut buf).unwrap();
        // Op 7: close the session, then (arg 0x80) the tunnel.
        record(&mut seed, 7, 0, &[]);
        lac.close_session(now, session).unwrap();
        exchange(&mut now, &mut lac, &mut lns, &mut seed);
        record(&mut seed, 7, 0x80, &[]);
        lac.close_tunnel(now, tunnel).unwrap();
        exchange(&mut now, &mut lac, &mut lns, &mut seed);
        std::fs::create_dir_all(format!("{dir}/l2tp_lac")).unwrap();
        std::fs::write(format!("{dir}/l2tp_lac/exchange-{name}"), &seed).unwrap();
    }
}
