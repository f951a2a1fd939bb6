#![no_main]
//! The IKE initiator (what `l2tpgw connect` runs): an endpoint calls `connect()` and is
//! then fed arbitrary "server" messages, with the NO-SECURITY crypto provider so inputs
//! pass every hash and "decrypt" to what the fuzzer wrote, and can reach Quick Mode,
//! rekeys, DELETE and DPD. Nothing may panic; sends stay bounded.
//!
//! Input: a profile byte, then records of [control byte][u16 length][message]. Control
//! bits: 0 the port (500 / 4500), 1 a spoofed source instead of the server, 2 copy the
//! cookies of our last message into the header, 3 also its message ID (so a mutated
//! answer still finds its exchange), 4-6 seconds the virtual clock moves first, 7 with an
//! empty message: a command (DPD, close, delete an ESP SA, connect again) instead.
//! Seeds: `IKE_CORPUS=fuzz/corpus cargo test -p ike --test fuzz_seeds -- --ignored`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use ike::crypto::DhGroup;
use ike::{Config, Endpoint, Event, Path, Profile, Psk, StaticPskStore};
use libfuzzer_sys::fuzz_target;
use wire::random::DeterministicRandom;

const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
const SERVER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);

fn profile(sel: u8) -> Profile {
    let mut p = match sel % 4 {
        0 => Profile::linux(),
        1 => Profile::windows(),
        2 => Profile::ios(),
        _ => {
            let mut p = Profile::linux();
            p.pfs = Some(DhGroup::Modp2048);
            p
        }
    };
    if sel & 4 != 0 {
        p.initial_contact = !p.initial_contact;
    }
    p
}

fn path(port: u16, remote: Ipv4Addr) -> Path {
    Path {
        local: SocketAddr::new(IpAddr::V4(CLIENT), port),
        remote: SocketAddr::new(IpAddr::V4(remote), port),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, mut rest)) = data.split_first() else {
        return;
    };
    let cfg = Config {
        provider: &ike::fuzzing::PROVIDER,
        legacy: true,
        dpd_interval: Some(Duration::from_secs(10)),
        ..Config::default()
    };
    let mut ep = Endpoint::new(
        cfg,
        Box::new(StaticPskStore::wildcard(Psk::new("fuzz"))),
        Box::new(DeterministicRandom::new(9)),
    );
    #[allow(clippy::disallowed_methods, reason = "the virtual clock's base")]
    let mut now = Instant::now();
    let Ok(mut ike) = ep.connect(now, path(500, SERVER), profile(sel)) else {
        return;
    };
    let mut last_sent: Vec<u8> = Vec::new();
    let mut children: Vec<esp::Spi> = Vec::new();
    let mut buf = Vec::new();
    let mut drain = |ep: &mut Endpoint, last_sent: &mut Vec<u8>, children: &mut Vec<esp::Spi>| {
        while ep.poll_transmit(&mut buf).is_some() {
            assert!(buf.len() < 64 * 1024);
            if buf.len() >= 28 {
                last_sent.clone_from(&buf);
            }
            buf.clear();
        }
        while let Some(e) = ep.poll_event() {
            match e {
                Event::ChildSaUp(c) if children.len() < 16 => children.push(c.inbound.spi),
                Event::ChildSaDown { inbound_spi, .. } => children.retain(|s| *s != inbound_spi),
                _ => {}
            }
        }
    };
    drain(&mut ep, &mut last_sent, &mut children);
    while rest.len() >= 3 {
        let ctl = rest[0];
        let len = usize::from(u16::from_be_bytes([rest[1], rest[2]]));
        rest = &rest[3..];
        let msg = &rest[..len.min(rest.len())];
        rest = &rest[msg.len()..];
        now += Duration::from_secs(u64::from((ctl >> 4) & 7));
        ep.handle_timeout(now);
        if ctl & 0x80 != 0 && msg.is_empty() {
            match (ctl >> 4) & 3 {
                0 => {
                    let _ = ep.send_dpd(ike);
                }
                1 => {
                    let _ = ep.close(ike);
                }
                2 => {
                    if let Some(spi) = children.first() {
                        let _ = ep.delete_child_sa(*spi);
                    }
                }
                _ => {
                    if ep.ike_sa_count() < 4
                        && let Ok(id) = ep.connect(now, path(500, SERVER), profile(ctl))
                    {
                        ike = id;
                    }
                }
            }
        } else {
            let mut m = msg.to_vec();
            if ctl & 4 != 0 && m.len() >= 28 && last_sent.len() >= 28 {
                m[..16].copy_from_slice(&last_sent[..16]);
                if ctl & 8 != 0 {
                    m[20..24].copy_from_slice(&last_sent[20..24]);
                }
            }
            let port = if ctl & 1 == 0 { 500 } else { 4500 };
            let remote = if ctl & 2 == 0 {
                SERVER
            } else {
                Ipv4Addr::new(203, 0, 113, 9)
            };
            let _ = ep.handle_datagram(now, path(port, remote), &m);
        }
        drain(&mut ep, &mut last_sent, &mut children);
        assert!(ep.ike_sa_count() <= 8);
        if let Some(t) = ep.poll_timeout() {
            assert!(t >= now || ep.ike_sa_count() > 0);
        }
    }
    // Timers after the input: retransmissions, rekeys, DPD, expiry.
    for _ in 0..64 {
        let Some(t) = ep.poll_timeout() else { break };
        now = now.max(t);
        ep.handle_timeout(now);
        drain(&mut ep, &mut last_sent, &mut children);
    }
});
