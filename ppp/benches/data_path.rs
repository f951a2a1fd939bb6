//! The per-packet cost of the data path on an open session: `handle_frame` of an IPv4
//! frame (parse, borrow) and `encap_ip` (prepend the header in place).
#![allow(missing_docs, clippy::unwrap_used, reason = "benchmark")]

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ppp::{Config, Credentials, Event, IpVersion, Session, SessionParams};
use wire::PacketBuf;
use wire::random::DeterministicRandom;

fn open_pair() -> (Session, Session, Instant) {
    #[allow(
        clippy::disallowed_methods,
        reason = "one base instant; nothing is timed by the engine"
    )]
    let now = Instant::now();
    let mut rng = DeterministicRandom::new(1);
    let params = SessionParams {
        local_ip: Ipv4Addr::new(10, 0, 0, 1),
        peer_ip: Ipv4Addr::new(10, 0, 0, 2),
        dns: [None, None],
        nbns: [None, None],
    };
    let mut server = Session::new_server(Arc::new(Config::default()), params, now, &mut rng);
    let mut client = Session::new_client(
        Arc::new(Config::default()),
        Credentials::new("u", "p"),
        now,
        &mut rng,
    );
    for _ in 0..50 {
        let mut buf = Vec::new();
        while client.poll_transmit(&mut buf).is_some() {
            let _ = server.handle_frame(now, &buf);
            buf.clear();
        }
        while server.poll_transmit(&mut buf).is_some() {
            let _ = client.handle_frame(now, &buf);
            buf.clear();
        }
        while let Some(e) = server.poll_event() {
            if let Event::AuthRequest { user, data } = e {
                server.auth_result(now, data.verify_password(&user, "p"));
            }
        }
        while client.poll_event().is_some() {}
    }
    assert!(server.ipv4_open() && client.ipv4_open());
    (server, client, now)
}

fn data_path(c: &mut Criterion) {
    let (mut server, client, now) = open_pair();
    let mut frame = vec![0xff, 0x03, 0x00, 0x21];
    frame.extend(std::iter::repeat_n(0x45u8, 1400));
    let mut g = c.benchmark_group("ppp");
    g.throughput(Throughput::Bytes(1400));
    g.bench_function("handle_frame_ipv4_1400", |b| {
        b.iter(|| {
            let ip = server.handle_frame(now, black_box(&frame)).unwrap();
            black_box(ip);
        });
    });
    let mut buf = PacketBuf::new(2048, 64);
    g.bench_function("encap_ip_1400", |b| {
        b.iter(|| {
            buf.reset(64);
            buf.set_len(1400).unwrap();
            client.encap_ip(IpVersion::V4, black_box(&mut buf)).unwrap();
            black_box(buf.payload().len());
        });
    });
    g.finish();
}

criterion_group!(benches, data_path);
criterion_main!(benches);
