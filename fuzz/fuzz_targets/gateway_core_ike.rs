#![no_main]
//! The whole server core driven through IKE: the engine runs with the NO-SECURITY crypto
//! provider, so inputs can pass Main Mode's hashes and a Quick Mode can install ESP SA
//! pairs through `ChildSaUp`, which the core then binds to their IKE SA. Input: records
//! of [control byte][u16 length][bytes]. The control byte picks what the record is (an
//! IKE datagram on 500, a datagram on 4500 with or without the non-ESP marker, a raw ESP
//! packet, or a TUN packet), which of four sources sent it (two addresses, two ports
//! each: the same user from another port, or a spoofed neighbour), and how far the
//! virtual clock moves first. Nothing may panic, the output stays drainable and bounded.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use gateway_core::pool::{AddressPool, Ipv4Cidr};
use gateway_core::secret::Secret;
use gateway_core::users::UserDb;
use gateway_core::{Core, CoreConfig, CoreRandom, Engine, TUN_HEADROOM, TUN_TAILROOM};
use libfuzzer_sys::fuzz_target;
use wire::PacketBuf;
use wire::random::DeterministicRandom;

fuzz_target!(|data: &[u8]| {
    #[allow(clippy::disallowed_methods, reason = "the fuzz target's virtual clock base")]
    let mut now = Instant::now();
    let users = UserDb::parse("alice pw\n").unwrap();
    let pool = AddressPool::new(Ipv4Cidr::new(Ipv4Addr::new(10, 77, 0, 0), 24).unwrap(), None, []).unwrap();
    let mut config = CoreConfig::new(pool, Secret::new("fuzz"), users);
    config.ike.provider = &ike::fuzzing::PROVIDER;
    config.ike.legacy = true;
    config.ike.aggressive_mode = true;
    let random = CoreRandom {
        core: Box::new(DeterministicRandom::new(2)),
        ike: Box::new(DeterministicRandom::new(3)),
        l2tp: Box::new(DeterministicRandom::new(4)),
    };
    let mut core = Core::new(config, now, random);
    let server = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let mut buf = PacketBuf::new(TUN_HEADROOM + 65_535 + TUN_TAILROOM, TUN_HEADROOM);
    let mut rest = data;
    while rest.len() >= 3 {
        let ctl = rest[0];
        let len = usize::from(u16::from_be_bytes([rest[1], rest[2]]));
        rest = &rest[3..];
        let msg = &rest[..len.min(rest.len())];
        rest = &rest[msg.len()..];
        now += Duration::from_millis(u64::from(ctl >> 5) * 700);
        if core.poll_timeout().is_some_and(|t| t <= now) {
            core.handle_timeout(now);
        }
        let peer = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 2 + (ctl >> 3 & 1)));
        let peer_port = if ctl >> 4 & 1 == 0 { 500 } else { 4500 };
        match ctl & 7 {
            0 | 1 => {
                let mut d = msg.to_vec();
                let _ = core.handle_udp(now, SocketAddr::new(server, 500), SocketAddr::new(peer, peer_port), &mut d);
            }
            2 | 3 => {
                let mut d = [&[0u8; 4][..], msg].concat();
                let _ = core.handle_udp(now, SocketAddr::new(server, 4500), SocketAddr::new(peer, peer_port + 1), &mut d);
            }
            4 => {
                let mut d = msg.to_vec();
                let _ = core.handle_udp(now, SocketAddr::new(server, 4500), SocketAddr::new(peer, peer_port + 1), &mut d);
            }
            5 => {
                let mut d = msg.to_vec();
                let _ = core.handle_raw_esp(now, server, peer, &mut d);
            }
            _ => {
                buf.reset(TUN_HEADROOM);
                if buf.set_payload(msg).is_ok() {
                    let _ = core.handle_tun(now, &mut buf);
                }
            }
        }
        let mut n = 0;
        while core.poll_output(&mut buf).is_some() {
            assert!(buf.len() <= 65_535 + TUN_TAILROOM);
            n += 1;
            assert!(n < 100_000, "the output queue does not drain");
        }
    }
    let _ = core.status(now);
});
