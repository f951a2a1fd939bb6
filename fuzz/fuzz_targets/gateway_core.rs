//! The gateway core driven by a sequence of inputs: IKE datagrams on 500 and 4500, raw
//! UDP-4500 payloads, L2TP messages sealed under a valid ESP SA (so they get past the
//! ICV into L2TP and PPP), TUN packets and timer jumps. Nothing may panic; the output
//! queue stays drainable.
#![no_main]

use std::time::{Duration, Instant};

use gateway_core::pool::AddressPool;
use gateway_core::secret::Secret;
use gateway_core::users::UserDb;
use gateway_core::{Core, CoreConfig, CoreRandom, Engine, SaPair, TUN_HEADROOM};
use libfuzzer_sys::fuzz_target;
use wire::PacketBuf;
use wire::ip::IpProtocol;
use wire::random::DeterministicRandom;

fn params(spi: u32, fill: u8) -> esp::SaParams {
    let suite = esp::Suite::new(esp::Encryption::AesCbc128, esp::Integrity::HmacSha1_96).unwrap();
    esp::SaParams::from_keymat(esp::Spi(spi), suite, esp::Mode::Transport, &vec![fill; suite.keymat_len()]).unwrap()
}

fuzz_target!(|data: &[u8]| {
    #[allow(clippy::disallowed_methods, reason = "the fuzz target's virtual clock base")]
    let mut now = Instant::now();
    let users = UserDb::parse("alice pw\n").unwrap();
    let pool = AddressPool::new("10.77.0.0/24".parse().unwrap(), None, []).unwrap();
    let config = CoreConfig::new(pool, Secret::new("k"), users);
    let random = CoreRandom {
        core: Box::new(DeterministicRandom::new(2)),
        ike: Box::new(DeterministicRandom::new(3)),
        l2tp: Box::new(DeterministicRandom::new(4)),
    };
    let mut core = Core::new(config, now, random);
    let server: std::net::SocketAddr = "192.0.2.1:4500".parse().unwrap();
    let client: std::net::SocketAddr = "198.51.100.7:4500".parse().unwrap();
    let (to_server, to_client) = (params(0x1000, 1), params(0x1001, 2));
    core.install_sa_pair(
        now,
        SaPair {
            ike: 1,
            local: server,
            remote: client,
            inbound: to_server.clone(),
            outbound: to_client,
            udp_encapsulated: true,
            peer_id: None,
        },
    )
    .unwrap();
    let mut seal = esp::OutboundSa::new(&to_server, now, &mut DeterministicRandom::new(5)).unwrap();
    let mut buf = PacketBuf::new(4096, TUN_HEADROOM);
    let mut rest = data;
    while let &[op, len, ref tail @ ..] = rest {
        let n = usize::from(len).min(tail.len());
        let (chunk, next) = tail.split_at(n);
        rest = next;
        let mut d = chunk.to_vec();
        match op % 6 {
            0 => {
                let _ = core.handle_udp(now, "192.0.2.1:500".parse().unwrap(), "198.51.100.7:500".parse().unwrap(), &mut d);
            }
            1 => {
                let mut m = vec![0; 4];
                m.extend_from_slice(chunk);
                let _ = core.handle_udp(now, server, client, &mut m);
            }
            2 => {
                let _ = core.handle_udp(now, server, client, &mut d);
            }
            3 => {
                buf.reset(TUN_HEADROOM);
                if buf.set_payload(chunk).is_ok() {
                    let _ = core.handle_tun(now, &mut buf);
                }
            }
            4 => {
                now += Duration::from_millis(u64::from(len) * 100);
                core.handle_timeout(now);
            }
            _ => {
                // An L2TP message under the valid SA, with a UDP 1701 header.
                buf.reset(TUN_HEADROOM);
                if buf.set_payload(chunk).is_ok()
                    && gateway_core::transport::push_udp(&mut buf, 1701, None).is_ok()
                    && seal.seal(IpProtocol::Udp, &mut buf).is_ok()
                {
                    let mut datagram = buf.payload().to_vec();
                    let _ = core.handle_udp(now, server, client, &mut datagram);
                }
            }
        }
        buf.reset(TUN_HEADROOM);
        let mut drained = 0;
        while core.poll_output(&mut buf).is_some() {
            drained += 1;
            assert!(drained < 10_000, "output queue does not drain");
            buf.reset(TUN_HEADROOM);
        }
    }
    let _ = core.status(now);
});
