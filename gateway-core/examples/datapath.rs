//! Measures the gateway's data path in memory (no sockets, no TUN): a `ClientCore` and
//! the server `Core` negotiate with IKE, L2TP and PPP, then 1400-byte IPv4 packets go
//! client → server (`handle_tun` on the client, `handle_udp` on the server) and back.
//! Prints Gbit/s of inner packets per direction on one core.
//!
//! `cargo run --release -p gateway-core --example datapath`
#![allow(
    clippy::unwrap_used,
    reason = "a benchmark program: a failure is a panic with its message"
)]

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use gateway_core::pool::AddressPool;
use gateway_core::secret::Secret;
use gateway_core::users::UserDb;
use gateway_core::{
    ClientConfig, ClientCore, ClientState, Core, CoreConfig, CoreRandom, Engine, Output,
    TUN_HEADROOM,
};
use wire::PacketBuf;
use wire::random::DeterministicRandom;

fn seeded(seed: u64) -> CoreRandom {
    CoreRandom {
        core: Box::new(DeterministicRandom::new(seed)),
        ike: Box::new(DeterministicRandom::new(seed + 1)),
        l2tp: Box::new(DeterministicRandom::new(seed + 2)),
    }
}

#[allow(clippy::disallowed_methods, reason = "a benchmark reads the clock")]
fn clock() -> Instant {
    Instant::now()
}

fn packet(src: Ipv4Addr, dst: Ipv4Addr, len: usize) -> Vec<u8> {
    let mut p = vec![0u8; len];
    p[..12].copy_from_slice(&[
        0x45,
        0,
        (len >> 8) as u8,
        len as u8,
        0,
        0,
        0x40,
        0,
        64,
        17,
        0,
        0,
    ]);
    p[12..16].copy_from_slice(&src.octets());
    p[16..20].copy_from_slice(&dst.octets());
    wire::ip::Ipv4Packet::new_checked(&mut p[..])
        .unwrap()
        .fill_checksum();
    p
}

fn main() {
    let users = UserDb::parse("alice pw\n").unwrap();
    let pool = AddressPool::new("10.77.0.0/24".parse().unwrap(), None, []).unwrap();
    let config = CoreConfig::new(pool, Secret::new("k"), users);
    let mut now = clock();
    let mut server = Core::new(config, now, seeded(10));
    let mut client = ClientCore::new(
        ClientConfig {
            server: "192.0.2.1:500".parse().unwrap(),
            local_ike: "198.51.100.7:40000".parse().unwrap(),
            local_nat_t: "198.51.100.7:40001".parse().unwrap(),
            psk: Secret::new("k"),
            user: "alice".into(),
            password: Secret::new("pw"),
            profile: ike::Profile::linux(),
            l2tp: l2tp::Config::lac(),
            ppp: ppp::Config::default(),
            exit_when_up: false,
        },
        now,
        seeded(20),
    )
    .unwrap();
    let mut buf = PacketBuf::new(70_000, TUN_HEADROOM);
    while !matches!(client.state(), ClientState::Up { .. }) {
        let mut moved = false;
        while let Some(Output::Udp { local, remote }) = client.poll_output(&mut buf) {
            let mut d = buf.payload().to_vec();
            let _ = server.handle_udp(now, remote, local, &mut d);
            buf.reset(TUN_HEADROOM);
            moved = true;
        }
        while let Some(Output::Udp { local, remote }) = server.poll_output(&mut buf) {
            let mut d = buf.payload().to_vec();
            let _ = client.handle_udp(now, remote, local, &mut d);
            buf.reset(TUN_HEADROOM);
            moved = true;
        }
        if !moved {
            now = [client.poll_timeout(), server.poll_timeout()]
                .into_iter()
                .flatten()
                .min()
                .unwrap();
            client.handle_timeout(now);
            server.handle_timeout(now);
        }
    }
    let ClientState::Up { local: ip, .. } = client.state() else {
        unreachable!()
    };
    let suite = server.status(now).sessions[0]
        .esp
        .as_ref()
        .unwrap()
        .suite
        .clone();
    let far = Ipv4Addr::new(198, 18, 0, 1);
    const LEN: usize = 1400;
    const N: u32 = 200_000;

    let up = packet(ip, far, LEN);
    let start = clock();
    for _ in 0..N {
        buf.reset(TUN_HEADROOM);
        buf.set_payload(&up).unwrap();
        let Some(Output::Udp { local, remote }) = client.handle_tun(now, &mut buf) else {
            panic!("client tx")
        };
        let len = buf.len();
        let d = &mut buf.spare_from_start()[..len];
        assert!(server.handle_udp(now, remote, local, d).is_some());
    }
    let up_time = start.elapsed();

    let down = packet(far, ip, LEN);
    let start = clock();
    for _ in 0..N {
        buf.reset(TUN_HEADROOM);
        buf.set_payload(&down).unwrap();
        let Some(Output::Udp { local, remote }) = server.handle_tun(now, &mut buf) else {
            panic!("server tx")
        };
        let len = buf.len();
        let d = &mut buf.spare_from_start()[..len];
        assert!(client.handle_udp(now, remote, local, d).is_some());
    }
    let down_time = start.elapsed();
    let gbps = |t: Duration| (f64::from(N) * LEN as f64 * 8.0) / t.as_secs_f64() / 1e9;
    println!("ESP suite: {suite}; {N} packets of {LEN} bytes each way, seal + open per packet");
    println!(
        "client -> server: {:.2} Gbit/s ({:.0} ns/packet)",
        gbps(up_time),
        up_time.as_nanos() as f64 / f64::from(N)
    );
    println!(
        "server -> client: {:.2} Gbit/s ({:.0} ns/packet)",
        gbps(down_time),
        down_time.as_nanos() as f64 / f64::from(N)
    );
}
