//! The endpoint's timer set with thousands of SAs: `poll_timeout` names the earliest
//! deadline of any SA, and `handle_timeout` acts on exactly the SAs that are due.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    reason = "test code"
)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use ike::{Config, Endpoint, Path, Profile, Psk, StaticPskStore};
use wire::random::DeterministicRandom;

const N: u32 = 3000;
const SERVER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 500);

fn endpoint(config: Config, seed: u64) -> Endpoint {
    Endpoint::new(
        config,
        Box::new(StaticPskStore::wildcard(Psk::new(&b"s3cret"[..]))),
        Box::new(DeterministicRandom::new(seed)),
    )
}

fn client_addr(i: u32) -> SocketAddr {
    let [_, _, a, b] = (0x0a00_0000 + i + 1).to_be_bytes();
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, a, b)), 500)
}

/// Drains `ep`'s datagrams, returning them with the path they go on.
fn drain(ep: &mut Endpoint) -> Vec<(Path, Vec<u8>)> {
    let mut out = Vec::new();
    let mut buf = Vec::new();
    while let Some(t) = ep.poll_transmit(&mut buf) {
        out.push((t.path, std::mem::take(&mut buf)));
    }
    while ep.poll_event().is_some() {}
    out
}

#[test]
fn thousands_of_half_open_sas_time_out_one_by_one_in_deadline_order() {
    let mut config = Config::default();
    config.limits.half_open = 10_000;
    let half_open_timeout = config.limits.half_open_timeout;
    let initial = config.retransmit.initial;
    #[allow(clippy::disallowed_methods, reason = "the virtual clock's base")]
    let t0 = Instant::now();
    let mut client = endpoint(config.clone(), 1);
    let mut server = endpoint(config, 2);

    // N initiators, each from its own address (no per-source limit applies).
    for i in 0..N {
        let path = Path {
            local: client_addr(i),
            remote: SERVER,
        };
        client.connect(t0, path, Profile::linux()).unwrap();
    }
    let first_messages = drain(&mut client);
    assert_eq!(first_messages.len(), N as usize);
    assert_eq!(client.poll_timeout(), Some(t0 + initial));

    // The responder gets them one millisecond apart: N half-open SAs, N deadlines.
    for (i, (path, bytes)) in first_messages.iter().enumerate() {
        let now = t0 + Duration::from_millis(i as u64);
        let seen = Path {
            local: path.remote,
            remote: path.local,
        };
        server.handle_datagram(now, seen, bytes).unwrap();
    }
    assert_eq!(drain(&mut server).len(), N as usize, "one reply each");
    assert_eq!(server.ike_sa_count(), N as usize);
    assert_eq!(server.poll_timeout(), Some(t0 + half_open_timeout));

    // Nothing is due a nanosecond early.
    server.handle_timeout(t0 + half_open_timeout - Duration::from_nanos(1));
    assert_eq!(server.ike_sa_count(), N as usize);
    assert_eq!(server.poll_timeout(), Some(t0 + half_open_timeout));

    // A late call expires every SA that is due, and only those.
    server.handle_timeout(t0 + half_open_timeout + Duration::from_millis(999));
    assert_eq!(server.ike_sa_count(), N as usize - 1000);
    assert_eq!(
        server.poll_timeout(),
        Some(t0 + half_open_timeout + Duration::from_millis(1000))
    );

    // Jumping from deadline to deadline removes exactly one SA each time.
    let mut left = N as usize - 1000;
    while let Some(t) = server.poll_timeout() {
        let expected = t0 + half_open_timeout + Duration::from_millis((N as usize - left) as u64);
        assert_eq!(t, expected);
        server.handle_timeout(t);
        left -= 1;
        assert_eq!(server.ike_sa_count(), left);
    }
    assert_eq!(left, 0);
    assert!(
        drain(&mut server).is_empty(),
        "half-open responders leave silently"
    );

    // The initiators: all retransmit at once, then rearm at the doubled timeout.
    client.handle_timeout(t0 + initial);
    assert_eq!(drain(&mut client).len(), N as usize);
    assert_eq!(client.poll_timeout(), Some(t0 + initial + 2 * initial));
    assert_eq!(client.ike_sa_count(), N as usize);
}
