//! Measures the gateway's data path in memory (no sockets, no TUN): a `ClientCore` and
//! the server `Core` negotiate with IKE, L2TP and PPP (a [`Pair`] on a perfect link),
//! then 1400-byte IPv4 packets go client → server (`handle_tun` on the client,
//! `handle_udp` on the server, in place: [`Pair::forward`]) and back. Prints Gbit/s of
//! inner packets per direction on one core.
//!
//! `cargo run --release -p gateway-core --example datapath`
#![allow(
    clippy::unwrap_used,
    reason = "a benchmark program: a failure is a panic with its message"
)]

use std::net::Ipv4Addr;
use std::time::Duration;

use gateway_core::testing::{
    LinkConfig, Pair, Placement, Side, client_config, clock, ipv4_udp, server_config,
};
use gateway_core::{Engine, TUN_HEADROOM};
use wire::PacketBuf;

fn main() {
    let mut pair = Pair::new(
        10,
        server_config(&["alice:pw"], "sharedsecret"),
        LinkConfig::PERFECT,
    );
    pair.add_client_core(client_config("alice", "pw"), Placement::Direct);
    assert!(pair.connect(Duration::from_secs(60)), "not connected");
    let ip = pair.inner_address(0);
    let suite = pair.server.status(pair.now).sessions[0]
        .esp
        .as_ref()
        .unwrap()
        .suite
        .clone();
    let far = Ipv4Addr::new(198, 18, 0, 1);
    const LEN: usize = 1400;
    const N: u32 = 200_000;
    let payload = [0u8; LEN - 28];
    let mut buf = PacketBuf::new(70_000, TUN_HEADROOM);

    let mut run = |from: Side, packet: &[u8]| {
        let start = clock();
        for _ in 0..N {
            buf.reset(TUN_HEADROOM);
            buf.set_payload(packet).unwrap();
            assert!(
                pair.forward(from, &mut buf).is_some(),
                "{from:?} lost a packet"
            );
        }
        start.elapsed()
    };
    let up_time = run(Side::Client(0), &ipv4_udp(ip, far, &payload));
    let down_time = run(Side::Server, &ipv4_udp(far, ip, &payload));
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
