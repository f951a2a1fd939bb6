//! IKE fragmentation between two endpoints on a virtual clock: messages larger than the
//! fragment size cross as fragments (reordered and duplicated on the way) and the
//! handshake completes; the vendor ID is announced only to peers that announced it;
//! fragments for unknown SAs buffer nothing, and those of a half-open SA are bounded and
//! time out through the endpoint's own timers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    reason = "test code"
)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use ike::fragment::{self, FragmentConfig, FragmentMessage};
use ike::msgs::{self, Body, Cookie, Payload, vendor};
use ike::{Config, Endpoint, Error, Event, Path, Profile, Psk, StaticPskStore};
use wire::random::DeterministicRandom;

const SERVER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)), 500);
const CLIENT: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 500);

fn endpoint(config: Config, seed: u64) -> Endpoint {
    Endpoint::new(
        config,
        Box::new(StaticPskStore::wildcard(Psk::new(&b"s3cret"[..]))),
        Box::new(DeterministicRandom::new(seed)),
    )
}

fn config(fragment_size: usize) -> Config {
    Config {
        fragmentation: FragmentConfig {
            fragment_size,
            ..FragmentConfig::default()
        },
        ..Config::default()
    }
}

fn t0() -> Instant {
    #[allow(clippy::disallowed_methods, reason = "the virtual clock's base")]
    Instant::now()
}

/// Every datagram `ep` has queued, with its path.
fn drain(ep: &mut Endpoint) -> Vec<(Path, Vec<u8>)> {
    let mut out = Vec::new();
    let mut buf = Vec::new();
    while let Some(t) = ep.poll_transmit(&mut buf) {
        out.push((t.path, std::mem::take(&mut buf)));
    }
    out
}

fn reverse(p: Path) -> Path {
    Path {
        local: p.remote,
        remote: p.local,
    }
}

/// Two endpoints on a direct link that delivers each burst in reverse order with its
/// second datagram duplicated.
struct Link {
    now: Instant,
    client: Endpoint,
    server: Endpoint,
    client_events: Vec<Event>,
    server_events: Vec<Event>,
    /// Fragment datagrams sent, both ways (without the link's duplicates).
    fragments_on_wire: usize,
    /// The largest datagram the server sent.
    server_max_datagram: usize,
}

impl Link {
    fn step(&mut self) -> bool {
        let mut moved = false;
        for from_client in [true, false] {
            let (from, to) = if from_client {
                (&mut self.client, &mut self.server)
            } else {
                (&mut self.server, &mut self.client)
            };
            let mut burst = drain(from);
            if !from_client {
                let max = burst.iter().map(|(_, b)| b.len()).max().unwrap_or(0);
                self.server_max_datagram = self.server_max_datagram.max(max);
            }
            self.fragments_on_wire += burst
                .iter()
                .filter(|(_, b)| fragment::is_fragment(b))
                .count();
            if burst.len() > 1 {
                let dup = burst[1].clone();
                burst.push(dup);
            }
            burst.reverse();
            for (path, bytes) in burst {
                moved = true;
                self.now += Duration::from_millis(1);
                let _ = to.handle_datagram(self.now, reverse(path), &bytes);
            }
        }
        while let Some(e) = self.client.poll_event() {
            self.client_events.push(e);
        }
        while let Some(e) = self.server.poll_event() {
            self.server_events.push(e);
        }
        moved
    }

    fn run(&mut self) {
        for _ in 0..200 {
            if self.up() {
                return;
            }
            if !self.step() {
                let next = [self.client.poll_timeout(), self.server.poll_timeout()]
                    .into_iter()
                    .flatten()
                    .min();
                let Some(t) = next else { return };
                self.now = self.now.max(t);
                self.client.handle_timeout(self.now);
                self.server.handle_timeout(self.now);
            }
        }
    }

    fn up(&self) -> bool {
        let child = |ev: &[Event]| ev.iter().any(|e| matches!(e, Event::ChildSaUp(_)));
        child(&self.client_events) && child(&self.server_events)
    }
}

fn pair(server: Config, client: Config, profile: Profile) -> Link {
    let now = t0();
    let mut client = endpoint(client, 1);
    let server = endpoint(server, 2);
    client
        .connect(
            now,
            Path {
                local: CLIENT,
                remote: SERVER,
            },
            profile,
        )
        .unwrap();
    Link {
        now,
        client,
        server,
        client_events: Vec::new(),
        server_events: Vec::new(),
        fragments_on_wire: 0,
        server_max_datagram: 0,
    }
}

#[test]
fn large_messages_cross_as_reordered_duplicated_fragments_and_the_handshake_completes() {
    // 300-byte datagrams: Main Mode 3 and 4 (a 256-byte MODP 2048 KE) must be
    // fragmented for the linux profile (not Windows: any message may be).
    let mut link = pair(config(300), config(300), Profile::linux());
    link.run();
    assert!(link.up(), "handshake did not complete");
    let (c, s) = (link.client.stats(), link.server.stats());
    // At least Main Mode 3 and 4; every message sent in fragments was reassembled.
    assert!(c.fragments.messages_fragmented >= 1, "{c:?}");
    assert!(s.fragments.messages_fragmented >= 1, "{s:?}");
    assert_eq!(s.fragments.reassembled, c.fragments.messages_fragmented);
    assert_eq!(c.fragments.reassembled, s.fragments.messages_fragmented);
    assert!(s.fragments.duplicates + c.fragments.duplicates >= 1);
    assert_eq!(
        s.fragments.sent + c.fragments.sent,
        link.fragments_on_wire as u64
    );
    for st in [c, s] {
        let f = st.fragments;
        assert_eq!(
            f.invalid + f.too_large + f.too_many_fragments + f.timed_out + f.unknown_sa,
            0
        );
    }
}

#[test]
fn windows_peers_get_only_encrypted_main_mode_messages_fragmented() {
    // 100-byte datagrams: everything but the smallest messages is over the size. The
    // server knows the client is Windows and fragments only Main Mode 6; the client
    // (a non-Windows server is its peer) fragments whatever is large.
    let mut link = pair(config(100), config(100), Profile::windows());
    link.run();
    assert!(link.up(), "handshake did not complete");
    let s = link.server.stats().fragments;
    assert_eq!(s.messages_fragmented, 1, "{s:?}");
    assert!(link.client.stats().fragments.messages_fragmented >= 3);
    assert!(link.client.stats().fragments.reassembled == 1);
}

#[test]
fn no_fragments_to_a_peer_that_did_not_announce_support() {
    let mut profile = Profile::linux();
    profile
        .vendor_ids
        .retain(|v| !v.starts_with(&vendor::FRAGMENTATION));
    let mut link = pair(config(300), config(300), profile);
    // The server's answer to the first message has no fragmentation vendor ID.
    let first = drain(&mut link.client);
    for (path, bytes) in &first {
        link.server
            .handle_datagram(link.now, reverse(*path), bytes)
            .unwrap();
    }
    let answer = drain(&mut link.server);
    let msg = msgs::Message::decode(&answer[0].1).unwrap();
    let Body::Plain(payloads) = &msg.body else {
        panic!("encrypted MM2")
    };
    assert!(
        !payloads
            .iter()
            .any(|p| matches!(p, Payload::VendorId(v) if v.starts_with(&vendor::FRAGMENTATION)))
    );
    for (path, bytes) in &answer {
        link.client
            .handle_datagram(link.now, reverse(*path), bytes)
            .unwrap();
    }
    link.run();
    assert!(link.up());
    assert_eq!(link.server.stats().fragments.messages_fragmented, 0);
    assert_eq!(link.fragments_on_wire, 0);
}

#[test]
fn the_vendor_id_is_announced_to_peers_that_announced_it() {
    let now = t0();
    let mut client = endpoint(Config::default(), 1);
    let mut server = endpoint(Config::default(), 2);
    let path = Path {
        local: CLIENT,
        remote: SERVER,
    };
    client.connect(now, path, Profile::windows()).unwrap();
    let (p, mm1) = drain(&mut client).remove(0);
    server.handle_datagram(now, reverse(p), &mm1).unwrap();
    let (_, mm2) = drain(&mut server).remove(0);
    let msg = msgs::Message::decode(&mm2).unwrap();
    let Body::Plain(payloads) = &msg.body else {
        panic!("encrypted MM2")
    };
    let vids: Vec<&Vec<u8>> = payloads
        .iter()
        .filter_map(|p| match p {
            Payload::VendorId(v) => Some(v),
            _ => None,
        })
        .collect();
    assert!(vids.contains(&&fragment::vendor_id()), "{vids:02x?}");
}

/// A fragment datagram with the given cookies.
fn fragment_datagram(icookie: Cookie, rcookie: Cookie, id: u16, number: u8) -> Vec<u8> {
    let mut out = Vec::new();
    FragmentMessage {
        header: msgs::Header {
            icookie,
            rcookie,
            next_payload: fragment::PAYLOAD_TYPE,
            version: msgs::Header::VERSION,
            exchange: msgs::ExchangeType::IdentityProtection,
            flags: msgs::Flags(0),
            message_id: msgs::MessageId(0),
            length: 0,
        },
        fragment: fragment::FragmentPayload {
            id,
            number,
            flags: 0,
            data: &[0x42; 200],
        },
    }
    .encode(&mut out);
    out
}

#[test]
fn fragments_of_unknown_and_half_open_exchanges_are_bounded_and_time_out() {
    let now = t0();
    let mut server = endpoint(Config::default(), 2);
    let from = Path {
        local: SERVER,
        remote: CLIENT,
    };
    // Unknown cookies: refused, nothing buffered, no timer.
    for id in 0..100 {
        let d = fragment_datagram(Cookie([id as u8; 8]), Cookie([7; 8]), id, 1);
        assert_eq!(server.handle_datagram(now, from, &d), Err(Error::UnknownSa));
    }
    assert_eq!(server.poll_timeout(), None);
    assert_eq!(server.stats().fragments.unknown_sa, 100);

    // A half-open SA (first message answered): its cookies take fragments, but only
    // `max_per_source` reassemblies at a time from this address.
    let mut client = endpoint(Config::default(), 1);
    client
        .connect(now, reverse(from), Profile::linux())
        .unwrap();
    let (_, mm1) = drain(&mut client).remove(0);
    server.handle_datagram(now, from, &mm1).unwrap();
    let (_, mm2) = drain(&mut server).remove(0);
    let h = msgs::split(&mm2).unwrap().0;
    let half_open_deadline = server.poll_timeout().unwrap();
    let max = FragmentConfig::default().max_per_source;
    for id in 0..max as u16 + 5 {
        let d = fragment_datagram(h.icookie, h.rcookie, id, 1);
        let r = server.handle_datagram(now, from, &d);
        if usize::from(id) < max {
            assert_eq!(r, Ok(()));
        } else {
            assert!(matches!(r, Err(Error::LimitExceeded(_))), "{r:?}");
        }
    }
    let f = server.stats().fragments;
    assert_eq!((f.received, f.too_many_reassemblies), (max as u64, 5));
    // The reassemblies' deadline comes before the half-open SA's, through the
    // endpoint's poll_timeout; at it they are dropped, counted, and room is made.
    let deadline = server.poll_timeout().unwrap();
    assert_eq!(deadline, now + FragmentConfig::default().timeout);
    assert!(deadline < half_open_deadline);
    server.handle_timeout(deadline);
    assert_eq!(server.stats().fragments.timed_out, max as u64);
    assert_eq!(server.poll_timeout(), Some(half_open_deadline));
    let d = fragment_datagram(h.icookie, h.rcookie, 999, 1);
    assert_eq!(server.handle_datagram(deadline, from, &d), Ok(()));
}

#[test]
fn a_fragment_inside_a_normal_message_is_an_invalid_payload_type() {
    let now = t0();
    let mut server = endpoint(Config::default(), 2);
    let mut client = endpoint(Config::default(), 1);
    let from = Path {
        local: SERVER,
        remote: CLIENT,
    };
    client
        .connect(now, reverse(from), Profile::linux())
        .unwrap();
    let (_, mut mm1) = drain(&mut client).remove(0);
    // Retype the last payload (a vendor ID) as a fragment: it is no longer first, so it
    // is not reassembled, and the chain check refuses it.
    let chain = msgs::parse_chain(
        msgs::split(&mm1).unwrap().0.next_payload,
        &mm1[msgs::HEADER_LEN..],
    )
    .unwrap();
    let before_last = chain.payloads[chain.payloads.len() - 2].offset + msgs::HEADER_LEN;
    mm1[before_last] = fragment::PAYLOAD_TYPE.value();
    let r = server.handle_datagram(now, from, &mm1);
    assert_eq!(r, Err(Error::InvalidPayloadType(fragment::PAYLOAD_TYPE)));
}

#[test]
fn a_large_quick_mode_message_crosses_in_many_fragments() {
    // 60 ESP offers make the first Quick Mode message over 2 KB: at Windows' 576-byte
    // datagrams it needs several fragments, which arrive reversed with a duplicate.
    let mut profile = Profile::linux();
    let offer = profile.esp[0];
    profile.esp = vec![offer; 60];
    let mut link = pair(config(576), config(576), profile);
    link.run();
    assert!(link.up(), "handshake did not complete");
    let c = link.client.stats().fragments;
    let s = link.server.stats().fragments;
    assert!(c.sent >= 4, "{c:?}");
    assert_eq!(s.reassembled, c.messages_fragmented);
    assert_eq!(s.received, c.sent);
}

/// The certificate configuration of tests/cert.rs's fixtures (a root CA, an intermediate,
/// RSA leaves), with Windows' 576-byte datagrams.
fn cert_config(now: Instant, cert: &[u8], key: &[u8]) -> Config {
    let mut certs = ike::Certificates::new();
    certs.add_ca_pem(include_bytes!("fixtures/ca.pem")).unwrap();
    certs.add_identity(
        ike::Identity::from_pem(&[cert, include_bytes!("fixtures/inter.pem")].concat(), key)
            .unwrap(),
    );
    Config {
        certificates: Some(std::sync::Arc::new(certs)),
        wall_clock: Some(ike::WallClock {
            at: now,
            unix_secs: 1_798_761_600,
        }),
        ..config(576)
    }
}

#[test]
fn windows_certificate_main_mode_crosses_in_576_byte_fragments() {
    let now = t0();
    let server = cert_config(
        now,
        include_bytes!("fixtures/server-rsa.pem"),
        include_bytes!("fixtures/server-rsa.key"),
    );
    let client = cert_config(
        now,
        include_bytes!("fixtures/client-rsa.pem"),
        include_bytes!("fixtures/client-rsa.key"),
    );
    let profile = Profile::windows().with_certificate(ike::KeyKind::Rsa);
    let mut link = pair(server, client, profile);
    link.run();
    assert!(link.up(), "certificate handshake did not complete");
    let s = link.server.stats().fragments;
    let c = link.client.stats().fragments;
    // Main Mode 6 (CERT chain and signature) is the only message the server split for
    // Windows; the client's Main Mode 5 arrived in pieces and was put back together.
    assert_eq!(s.messages_fragmented, 1, "{s:?}");
    assert!(s.sent >= 3, "{s:?}");
    assert!(s.reassembled >= 1, "{s:?}");
    assert_eq!(c.reassembled, 1, "{c:?}");
    // Nothing the server sent exceeds 576 bytes of IPv4 with UDP and the marker.
    assert!(
        link.server_max_datagram <= 576 - 20 - 8 - 4,
        "{}",
        link.server_max_datagram
    );
    assert_eq!(link.server.stats().cert_failures, 0);
}
