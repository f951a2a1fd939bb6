#![no_main]
//! `ClientCore` (the client of `l2tpgw connect`) after it started Main Mode, fed
//! arbitrary server datagrams: on its IKE port, on its NAT-T port with or without the
//! non-ESP marker, as raw ESP, and TUN packets, with the virtual clock moving between
//! records. Input: records of [control byte][u16 length][bytes]. Nothing may panic and
//! the output stays drainable.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use gateway_core::secret::Secret;
use gateway_core::{ClientConfig, ClientCore, CoreRandom, Engine, TUN_HEADROOM, TUN_TAILROOM};
use libfuzzer_sys::fuzz_target;
use wire::PacketBuf;
use wire::random::DeterministicRandom;

fuzz_target!(|data: &[u8]| {
    #[allow(clippy::disallowed_methods, reason = "the fuzz target's virtual clock base")]
    let mut now = Instant::now();
    let server = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 500);
    let local_ip = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7));
    let local_ike = SocketAddr::new(local_ip, 40000);
    let local_nat_t = SocketAddr::new(local_ip, 40001);
    let config = ClientConfig {
        server,
        local_ike,
        local_nat_t,
        psk: Secret::new("fuzz"),
        user: "alice".into(),
        password: Secret::new("pw"),
        profile: ike::Profile::linux(),
        l2tp: l2tp::Config::lac(),
        ppp: ppp::Config::default(),
        exit_when_up: false,
    };
    let ike_config = ike::Config {
        provider: &ike::fuzzing::PROVIDER,
        legacy: true,
        ..ike::Config::default()
    };
    let random = CoreRandom {
        core: Box::new(DeterministicRandom::new(5)),
        ike: Box::new(DeterministicRandom::new(6)),
        l2tp: Box::new(DeterministicRandom::new(7)),
    };
    let Ok(mut client) = ClientCore::with_ike_config(config, ike_config, now, random) else {
        return;
    };
    let mut buf = PacketBuf::new(TUN_HEADROOM + 65_535 + TUN_TAILROOM, TUN_HEADROOM);
    let mut rest = data;
    while rest.len() >= 3 {
        let ctl = rest[0];
        let len = usize::from(u16::from_be_bytes([rest[1], rest[2]]));
        rest = &rest[3..];
        let msg = &rest[..len.min(rest.len())];
        rest = &rest[msg.len()..];
        now += Duration::from_millis(u64::from(ctl >> 3) * 500);
        if client.poll_timeout().is_some_and(|t| t <= now) {
            client.handle_timeout(now);
        }
        let server_nat_t = SocketAddr::new(server.ip(), 4500);
        match ctl & 7 {
            0 | 1 => {
                let mut d = msg.to_vec();
                let _ = client.handle_udp(now, local_ike, server, &mut d);
            }
            2 | 3 => {
                let mut d = [&[0u8; 4][..], msg].concat();
                let _ = client.handle_udp(now, local_nat_t, server_nat_t, &mut d);
            }
            4 => {
                let mut d = msg.to_vec();
                let _ = client.handle_udp(now, local_nat_t, server_nat_t, &mut d);
            }
            5 => {
                let mut d = msg.to_vec();
                let _ = client.handle_raw_esp(now, local_ip, server.ip(), &mut d);
            }
            _ => {
                buf.reset(TUN_HEADROOM);
                if buf.set_payload(msg).is_ok() {
                    let _ = client.handle_tun(now, &mut buf);
                }
            }
        }
        let mut n = 0;
        while client.poll_output(&mut buf).is_some() {
            n += 1;
            assert!(n < 100_000, "the output queue does not drain");
        }
    }
});
