//! Issue 14, authenticated peers: every user holds the shared PSK, and no user may
//! affect another user's session. Several clients (our initiator engine) behind one NAT
//! against one responder, on a virtual clock; the no-security provider lets a test
//! write the encrypted messages a hostile user would send under its own ISAKMP SA.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code"
)]

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use ike::msgs::{
    self, AttrValue, DOI_IPSEC, DeletePayload, ExchangeType, Flags, Header, IpsecAttr, LifeType,
    MessageId, NotifyPayload, Payload, PayloadType, ProtocolId,
};
use ike::{
    ChildSa, Config, DownReason, Endpoint, Event, IkeSaId, Path, PeerMisbehaved, Profile, Psk,
    StaticPskStore,
};
use wire::random::DeterministicRandom;

const SERVER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const NAT: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 5);
/// The no-security provider's PRF output with SHA-1 (every HASH payload).
const HASH: [u8; 20] = [0x5a; 20];

fn sock(ip: Ipv4Addr, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(ip), port)
}

fn config() -> Config {
    Config {
        provider: &ike::fuzzing::PROVIDER,
        ..Config::default()
    }
}

fn endpoint(cfg: Config, seed: u64) -> Endpoint {
    Endpoint::new(
        cfg,
        Box::new(StaticPskStore::wildcard(Psk::new("shared by every user"))),
        Box::new(DeterministicRandom::new(seed)),
    )
}

/// One responder and clients behind one NAT (a public port per client and local port).
struct Net {
    now: Instant,
    server: Endpoint,
    clients: Vec<Endpoint>,
    /// (client, local port) → public port.
    nat: HashMap<(usize, u16), u16>,
    server_events: Vec<Event>,
    client_events: Vec<Vec<Event>>,
    /// Datagrams each client sent, as the server saw them.
    sent: Vec<Vec<(Path, Vec<u8>)>>,
    /// Datagrams the server sent.
    server_sent: Vec<(Path, Vec<u8>)>,
    /// When set, the server's datagrams are held here instead of delivered.
    hold_server: bool,
    /// This many of the clients' next third Quick Mode messages are lost.
    drop_qm3: usize,
}

impl Net {
    fn new(server: Config, clients: usize) -> Self {
        #[allow(clippy::disallowed_methods, reason = "the virtual clock's base")]
        let now = Instant::now();
        Self {
            now,
            server: endpoint(server, 0x5e),
            clients: (0..clients)
                .map(|i| endpoint(config(), 0xc1 + i as u64))
                .collect(),
            nat: HashMap::new(),
            server_events: Vec::new(),
            client_events: vec![Vec::new(); clients],
            sent: vec![Vec::new(); clients],
            server_sent: Vec::new(),
            hold_server: false,
            drop_qm3: 0,
        }
    }

    fn client_ip(i: usize) -> Ipv4Addr {
        Ipv4Addr::new(10, 0, 0, 2 + i as u8)
    }

    fn public_port(&mut self, i: usize, local: u16) -> u16 {
        let n = 40_000 + self.nat.len() as u16;
        *self.nat.entry((i, local)).or_insert(n)
    }

    /// The path on which the server sees client `i`'s datagrams from `local` port.
    fn server_path(&mut self, i: usize, local: u16) -> Path {
        let remote = sock(NAT, self.public_port(i, local));
        Path {
            local: sock(SERVER, if local == 500 { 500 } else { 4500 }),
            remote,
        }
    }

    fn connect(&mut self, i: usize, profile: Profile) -> IkeSaId {
        let path = Path {
            local: sock(Self::client_ip(i), 500),
            remote: sock(SERVER, 500),
        };
        let now = self.now;
        self.clients[i].connect(now, path, profile).unwrap()
    }

    /// Delivers until nothing is in flight (5 ms per hop).
    fn settle(&mut self) {
        loop {
            let mut moved = false;
            let mut buf = Vec::new();
            for i in 0..self.clients.len() {
                while let Some(t) = self.clients[i].poll_transmit(&mut buf) {
                    let bytes = std::mem::take(&mut buf);
                    while let Some(e) = self.clients[i].poll_event() {
                        self.client_events[i].push(e);
                    }
                    if bytes == [0xff] {
                        continue;
                    }
                    let sp = self.server_path(i, t.path.local.port());
                    self.sent[i].push((sp, bytes.clone()));
                    // A third Quick Mode message is the only one that small (HASH alone).
                    if self.drop_qm3 > 0 && is_quick_mode(&bytes) && bytes.len() < 100 {
                        self.drop_qm3 -= 1;
                        continue;
                    }
                    self.now += Duration::from_millis(5);
                    let _ = self.server.handle_datagram(self.now, sp, &bytes);
                    moved = true;
                }
                while let Some(e) = self.clients[i].poll_event() {
                    self.client_events[i].push(e);
                }
            }
            while let Some(t) = self.server.poll_transmit(&mut buf) {
                let bytes = std::mem::take(&mut buf);
                self.server_sent.push((t.path, bytes.clone()));
                if self.hold_server {
                    continue;
                }
                self.now += Duration::from_millis(5);
                // Every client behind that public port gets it (only the one whose
                // cookies match takes it).
                let to: Vec<(usize, u16)> = self
                    .nat
                    .iter()
                    .filter(|(_, p)| t.path.remote == sock(NAT, **p))
                    .map(|(k, _)| *k)
                    .collect();
                for (i, local) in to {
                    let cp = Path {
                        local: sock(Self::client_ip(i), local),
                        remote: t.path.local,
                    };
                    let _ = self.clients[i].handle_datagram(self.now, cp, &bytes);
                }
                moved = true;
            }
            while let Some(e) = self.server.poll_event() {
                self.server_events.push(e);
            }
            if !moved {
                return;
            }
        }
    }

    /// Runs the network and the timers for `d` of virtual time.
    fn run(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            self.settle();
            let next = self
                .clients
                .iter()
                .map(Endpoint::poll_timeout)
                .chain([self.server.poll_timeout()])
                .flatten()
                .min();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    let now = self.now;
                    self.server.handle_timeout(now);
                    for c in &mut self.clients {
                        c.handle_timeout(now);
                    }
                }
                _ => {
                    self.now = end;
                    self.settle();
                    return;
                }
            }
        }
    }

    fn children(events: &[Event]) -> Vec<&ChildSa> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::ChildSaUp(c) => Some(c),
                _ => None,
            })
            .collect()
    }

    fn server_children(&self) -> Vec<ChildSa> {
        Self::children(&self.server_events)
            .into_iter()
            .cloned()
            .collect()
    }

    fn server_downs(&self) -> Vec<(esp::Spi, DownReason)> {
        self.server_events
            .iter()
            .filter_map(|e| match e {
                Event::ChildSaDown {
                    inbound_spi,
                    reason,
                    ..
                } => Some((*inbound_spi, *reason)),
                _ => None,
            })
            .collect()
    }
}

/// Two users behind one NAT, both up; returns their server-side ESP SAs.
fn two_users() -> (Net, ChildSa, ChildSa) {
    let mut net = Net::new(config(), 2);
    net.connect(0, Profile::linux());
    net.run(Duration::from_secs(5));
    net.connect(1, Profile::linux());
    net.run(Duration::from_secs(5));
    let cs = net.server_children();
    assert_eq!(cs.len(), 2, "both users up");
    let (a, b) = (cs[0].clone(), cs[1].clone());
    assert_ne!(a.path, b.path);
    assert_eq!(a.path.remote.ip(), b.path.remote.ip(), "one NAT address");
    (net, a, b)
}

/// An encrypted informational message under the ISAKMP SA whose cookies are `cookies`,
/// as the no-security provider seals it (the body is the plaintext chain).
fn informational(cookies: [u8; 16], mid: u32, rest: Vec<Payload>) -> Vec<u8> {
    let mut payloads = vec![Payload::Hash(HASH.to_vec())];
    payloads.extend(rest);
    let mut chain = Vec::new();
    msgs::encode_chain(&payloads, &mut wire::Writer::new(&mut chain));
    chain.resize(chain.len().div_ceil(16) * 16, 0);
    let header = Header {
        icookie: msgs::Cookie(cookies[..8].try_into().unwrap()),
        rcookie: msgs::Cookie(cookies[8..].try_into().unwrap()),
        next_payload: PayloadType::Hash,
        version: Header::VERSION,
        exchange: ExchangeType::Informational,
        flags: Flags(Flags::ENCRYPTION),
        message_id: MessageId(mid),
        length: 0,
    };
    let mut out = Vec::new();
    msgs::Message {
        header,
        body: msgs::Body::Encrypted(chain),
    }
    .encode(&mut out);
    out
}

fn paths(net: &Net) -> Vec<(IkeSaId, Path)> {
    net.server
        .ike_sas()
        .into_iter()
        .map(|i| (i.ike, i.path))
        .collect()
}

#[test]
fn spoofed_quick_mode_under_the_users_own_sa_creates_nothing_and_moves_no_path() {
    let (mut net, a, b) = two_users();
    let before = paths(&net);
    // User A starts a Quick Mode under its own ISAKMP SA and sends it from B's path.
    let a_client = Net::children(&net.client_events[0])[0].inbound.spi;
    let now = net.now;
    assert!(net.clients[0].rekey_child(now, a_client));
    let mut buf = Vec::new();
    net.clients[0].poll_transmit(&mut buf).unwrap();
    let spoofed = b.path;
    assert_eq!(
        net.server.handle_datagram(net.now, spoofed, &buf),
        Err(ike::Error::PeerMisbehaved(PeerMisbehaved::WrongPath))
    );
    assert!(
        net.server.poll_transmit(&mut Vec::new()).is_none(),
        "no answer"
    );
    net.settle();
    assert_eq!(net.server.stats().wrong_path, 1);
    assert_eq!(net.server_children().len(), 2, "no ESP SA created");
    assert_eq!(paths(&net), before, "no ISAKMP SA moved");
    // From A's own path the same message is a Quick Mode like any other.
    net.server.handle_datagram(net.now, a.path, &buf).unwrap();
    net.settle();
    let cs = net.server_children();
    assert_eq!(cs.len(), 3);
    assert_eq!(cs[2].path, a.path, "ChildSaUp carries the proven path");
    assert_eq!(cs[2].ike, a.ike);
    assert_eq!(paths(&net), before);
}

#[test]
fn initial_contact_and_delete_from_another_users_sa_leave_the_victim_alone() {
    let (mut net, a, b) = two_users();
    let a_cookies = net.sent[0]
        .iter()
        .map(|(_, m)| m)
        .find(|m| m[17] != 0 && m[18] == 32)
        .map(|m| <[u8; 16]>::try_from(&m[..16]).unwrap())
        .unwrap();
    // INITIAL-CONTACT under A's ISAKMP SA, from B's path: dropped.
    let ic = |mid| {
        informational(
            a_cookies,
            mid,
            vec![Payload::Notify(NotifyPayload {
                doi: DOI_IPSEC,
                protocol: ProtocolId::Isakmp,
                notify_type: ike::NotifyType::InitialContact,
                spi: a_cookies.to_vec(),
                data: Vec::new(),
            })],
        )
    };
    assert_eq!(
        net.server.handle_datagram(net.now, b.path, &ic(7)),
        Err(ike::Error::PeerMisbehaved(PeerMisbehaved::WrongPath))
    );
    // From A's own path it is accepted, and touches nobody else's SAs.
    net.server.handle_datagram(net.now, a.path, &ic(8)).unwrap();
    // A DELETE under A's SA naming B's SPI (B's inbound: our outbound to B), from A's
    // path and from B's: nothing of B's goes.
    let del = |mid| {
        informational(
            a_cookies,
            mid,
            vec![Payload::Delete(DeletePayload {
                doi: DOI_IPSEC,
                protocol: ProtocolId::Esp,
                spi_size: 4,
                spis: vec![b.outbound.spi.0.to_be_bytes().to_vec()],
            })],
        )
    };
    net.server
        .handle_datagram(net.now, a.path, &del(9))
        .unwrap();
    assert!(
        net.server
            .handle_datagram(net.now, b.path, &del(10))
            .is_err()
    );
    net.settle();
    assert_eq!(net.server.stats().wrong_path, 2);
    assert_eq!(net.server_downs(), vec![], "nothing went down");
    assert_eq!(net.server.ike_sa_count(), 2);
    let b_sa = net
        .server
        .ike_sas()
        .into_iter()
        .find(|i| i.ike == b.ike)
        .unwrap();
    assert_eq!(b_sa.child_spis, vec![(b.inbound.spi, b.outbound.spi)]);
    assert!(b_sa.established);
    // A's own DELETE of its own pair works.
    let own = informational(
        a_cookies,
        11,
        vec![Payload::Delete(DeletePayload {
            doi: DOI_IPSEC,
            protocol: ProtocolId::Esp,
            spi_size: 4,
            spis: vec![a.outbound.spi.0.to_be_bytes().to_vec()],
        })],
    );
    net.server.handle_datagram(net.now, a.path, &own).unwrap();
    net.settle();
    assert_eq!(
        net.server_downs(),
        vec![(a.inbound.spi, DownReason::DeletedByPeer)]
    );
}

#[test]
fn initial_contact_of_another_identity_on_a_reused_nat_port_leaves_the_old_user() {
    // User X is up; the NAT then gives X's public ports to user Y (another inner host,
    // so another ID), whose Main Mode carries INITIAL-CONTACT (strongSwan does).
    let mut net = Net::new(config(), 2);
    net.connect(0, Profile::linux());
    net.run(Duration::from_secs(5));
    let x = net.server_children()[0].clone();
    let x_ports: Vec<(u16, u16)> = net
        .nat
        .iter()
        .filter(|((i, _), _)| *i == 0)
        .map(|((_, local), public)| (*local, *public))
        .collect();
    for (local, public) in x_ports {
        net.nat.insert((1, local), public);
    }
    net.connect(1, Profile::linux());
    net.run(Duration::from_secs(5));
    let cs = net.server_children();
    assert_eq!(cs.len(), 2, "Y is up");
    assert_eq!(cs[1].path, x.path, "on the very same address and port");
    assert_ne!(cs[1].peer_id, x.peer_id);
    assert_eq!(net.server_downs(), vec![], "X's SAs stay");
    assert_eq!(net.server.ike_sa_count(), 2);

    // The same identity on the same path (a rebooted client) does replace them.
    net.connect(0, Profile::linux());
    net.run(Duration::from_secs(5));
    assert!(
        net.server_downs()
            .contains(&(x.inbound.spi, DownReason::InitialContact))
    );
    assert_eq!(net.server.ike_sa_count(), 2, "Y's and X's new one");
}

#[test]
fn old_quick_mode_replayed_on_the_proven_path_creates_nothing() {
    let mut net = Net::new(config(), 1);
    net.connect(0, Profile::linux());
    net.run(Duration::from_secs(5));
    assert_eq!(net.server_children().len(), 1);
    let (path, qm1) = net.sent[0]
        .iter()
        .find(|(_, m)| m[18] == 32)
        .cloned()
        .unwrap();
    // Right away: a duplicate of the finished exchange's first message.
    assert_eq!(
        net.server.handle_datagram(net.now, path, &qm1),
        Err(ike::Error::PeerMisbehaved(
            PeerMisbehaved::ReplayedMessageId
        ))
    );
    // Long after the exchange is forgotten, the ISAKMP SA still knows its ID.
    net.run(Duration::from_secs(600));
    assert_eq!(
        net.server.handle_datagram(net.now, path, &qm1),
        Err(ike::Error::PeerMisbehaved(
            PeerMisbehaved::ReplayedMessageId
        ))
    );
    net.settle();
    assert_eq!(net.server_children().len(), 1, "no new ESP SA");
    assert_eq!(net.server.stats().qm_replayed, 2);
}

#[test]
fn negotiated_kilobytes_reach_the_esp_sas() {
    let mut net = Net::new(config(), 1);
    net.connect(0, Profile::windows());
    net.run(Duration::from_secs(5));
    let s = net.server_children()[0].clone();
    let c = Net::children(&net.client_events[0])[0].clone();
    assert_eq!(s.life_kb, Some(250_000));
    for p in [&s.inbound, &s.outbound, &c.inbound, &c.outbound] {
        assert_eq!(p.lifetime.bytes, Some(256_000_000));
    }
    // The esp crate enforces them: soft at 90 %, hard at the negotiated value.
    let sa = esp::InboundSa::new(&s.inbound, net.now).unwrap();
    assert_eq!(sa.lifetime().bytes, Some(256_000_000));
    assert_eq!(sa.expiry(), esp::Expiry::Live);
}

/// Rewrites every LifeDuration attribute of the SA payload in a no-security Quick Mode
/// message to `value` (8 bytes), as a hostile server would answer.
fn with_life_duration(msg: &[u8], value: u64) -> Vec<u8> {
    let (header, body) = msgs::split(msg).unwrap();
    let chain = msgs::parse_chain(header.next_payload, body).unwrap();
    let mut payloads = msgs::decode_payloads(&chain).unwrap();
    for p in &mut payloads {
        if let Payload::Sa(sa) = p {
            for t in &mut sa.proposals[0].transforms {
                for a in &mut t.attributes {
                    if a.ty == IpsecAttr::LifeDuration.value() {
                        a.value = AttrValue::Long(value.to_be_bytes().to_vec());
                    }
                }
                assert!(
                    t.attributes
                        .iter()
                        .any(|a| a.ty == IpsecAttr::LifeType.value()
                            && a.as_u64() == Some(u64::from(LifeType::Kilobytes.value())))
                );
            }
        }
    }
    let mut chain_b = Vec::new();
    msgs::encode_chain(&payloads, &mut wire::Writer::new(&mut chain_b));
    chain_b.resize(chain_b.len().div_ceil(16) * 16, 0);
    let mut out = Vec::new();
    msgs::Message {
        header,
        body: msgs::Body::Encrypted(chain_b),
    }
    .encode(&mut out);
    out
}

#[test]
fn a_server_answering_a_lifetime_of_2_64_seconds_does_not_overflow_the_client() {
    let mut net = Net::new(config(), 1);
    net.connect(0, Profile::windows());
    // Hold the server's answers: deliver them by hand, QM2 rewritten.
    net.hold_server = true;
    for _ in 0..4 {
        net.settle();
        let held: Vec<(Path, Vec<u8>)> = net.server_sent.drain(..).collect();
        for (t, bytes) in held {
            let bytes = if bytes[18] == 32 {
                with_life_duration(&bytes, u64::MAX)
            } else {
                bytes
            };
            let cp = Path {
                local: sock(
                    Net::client_ip(0),
                    if t.local.port() == 500 { 500 } else { 4500 },
                ),
                remote: t.local,
            };
            let _ = net.clients[0].handle_datagram(net.now, cp, &bytes);
        }
    }
    net.settle();
    let c = Net::children(&net.client_events[0])[0].clone();
    // Held to what the client offered, in seconds and (saturating) in kilobytes.
    assert_eq!(c.lifetime, Duration::from_secs(3600));
    assert_eq!(c.inbound.lifetime.bytes, Some(u64::MAX));
    assert!(net.clients[0].poll_timeout().is_some());
    net.run(Duration::from_secs(4000));
}

#[test]
fn rekey_child_starts_a_quick_mode_the_client_accepts_and_keeps_the_old_pair() {
    let mut net = Net::new(config(), 1);
    net.connect(0, Profile::windows());
    net.run(Duration::from_secs(5));
    let old = net.server_children()[0].clone();
    // Well before anyone's rekey time (the client's is at 85.5-90 % of 3600 s).
    net.run(Duration::from_secs(1000));
    let now = net.now;
    assert!(net.server.rekey_child(now, old.inbound.spi));
    net.settle();
    let s = net.server_children();
    let c = Net::children(&net.client_events[0]);
    assert_eq!((s.len(), c.len()), (2, 2), "a new pair on both sides");
    let (sn, cn) = (&s[1], c[1]);
    assert!(sn.rekey && cn.rekey);
    assert_eq!(sn.ike, old.ike, "on the same ISAKMP SA");
    assert_eq!(sn.path, old.path);
    assert_eq!(sn.inbound.spi, cn.outbound.spi);
    assert_eq!(sn.outbound.spi, cn.inbound.spi);
    assert_eq!(sn.inbound.enc_key(), cn.outbound.enc_key());
    assert_eq!(sn.inbound.suite, old.inbound.suite, "the negotiated suite");
    assert_eq!(sn.life_kb, Some(250_000), "and its kilobytes");
    assert_eq!(sn.encapsulation, old.encapsulation);
    // The old pair stays until it expires; the same request again starts nothing.
    assert_eq!(net.server_downs(), vec![]);
    let sent = net.server.stats().tx;
    assert!(net.server.rekey_child(now, old.inbound.spi));
    assert_eq!(net.server.stats().tx, sent);
    assert!(!net.server.rekey_child(now, esp::Spi(12345)));
    // The client no longer rekeys the old pair itself (it would at 3078-3240 s): the
    // next ESP SA comes at the new pair's rekey time, about 1000 s later.
    net.run(Duration::from_secs(2700));
    assert_eq!(
        net.server_children().len(),
        2,
        "the old pair was not rekeyed"
    );
    assert_eq!(
        net.server_downs(),
        vec![(old.inbound.spi, DownReason::Expired)],
        "and expired at its lifetime"
    );
    net.run(Duration::from_secs(1000));
    assert_eq!(net.server_children().len(), 3, "the new pair was");
}

#[test]
fn the_gateway_rekeys_what_a_client_does_not_and_only_then() {
    // A client that rekeys only at the very end (95-100 % of the lifetime): the gateway
    // steps in at 95 %.
    let mut net = Net::new(config(), 1);
    let mut late = Profile::linux();
    late.rekey_fraction = 1.0;
    net.connect(0, late);
    net.run(Duration::from_secs(5));
    net.run(Duration::from_secs(3400));
    assert_eq!(net.server_children().len(), 1);
    net.run(Duration::from_secs(100));
    let s = net.server_children();
    assert_eq!(s.len(), 2, "rekeyed by 95 %");
    assert!(s[1].rekey);
    let client_qm = net.sent[0].iter().filter(|(_, m)| m[18] == 32).count();
    assert_eq!(
        client_qm, 3,
        "the second Quick Mode was the gateway's (QM2 only)"
    );
    // And it took the client's place: no second rekey of the same pair.
    net.run(Duration::from_secs(150));
    assert_eq!(net.server_children().len(), 2);

    // An ordinary client (90 % minus jitter) rekeys first; the gateway never does.
    let mut net = Net::new(config(), 1);
    net.connect(0, Profile::linux());
    net.run(Duration::from_secs(5));
    net.run(Duration::from_secs(3590));
    let s = net.server_children();
    assert_eq!(s.len(), 2);
    let client_sent_qm1 = net.sent[0].iter().filter(|(_, m)| m[18] == 32).count();
    let server_sent_qm1 = net.server_sent.iter().filter(|(_, m)| m[18] == 32).count();
    assert_eq!(client_sent_qm1, 2 * 2, "two Quick Modes, both the client's");
    assert_eq!(server_sent_qm1, 2, "the gateway only answered");
}

#[test]
fn an_expiring_isakmp_sa_is_deleted_by_the_responder_and_its_esp_sas_live_on() {
    // The gateway accepts at most 300 s for the ISAKMP SA; the client proposed 8 hours
    // and would not rekey Main Mode for hours.
    let server = Config {
        ike_lifetime_max: Duration::from_secs(300),
        ..config()
    };
    let mut net = Net::new(server, 1);
    net.connect(0, Profile::linux());
    net.run(Duration::from_secs(5));
    let child = net.server_children()[0].clone();
    net.run(Duration::from_secs(300));
    assert!(net.server_events.iter().any(|e| matches!(
        e,
        Event::IkeSaDown {
            reason: DownReason::Expired,
            ..
        }
    )));
    // The client was told with a DELETE while the keys were good.
    assert!(net.client_events[0].iter().any(|e| matches!(
        e,
        Event::IkeSaDown {
            reason: DownReason::DeletedByPeer,
            ..
        }
    )));
    assert_eq!(net.server_downs(), vec![], "the ESP SAs live on");
    // Without an ISAKMP SA the gateway cannot rekey them: the client must re-authenticate.
    let now = net.now;
    assert!(!net.server.rekey_child(now, child.inbound.spi));
}

#[test]
fn update_path_moves_only_an_established_sa_and_then_its_messages_follow() {
    let (mut net, a, b) = two_users();
    let moved = Path {
        local: a.path.local,
        remote: sock(Ipv4Addr::new(192, 0, 2, 99), 51_000),
    };
    // Nothing moves without a real SA, to its own path, or to another local port.
    assert!(!net.server.update_path(IkeSaId(999), moved));
    assert!(!net.server.update_path(a.ike, a.path));
    let other_port = Path {
        local: sock(
            SERVER,
            if a.path.local.port() == 500 {
                4500
            } else {
                500
            },
        ),
        ..moved
    };
    assert!(!net.server.update_path(a.ike, other_port));
    assert!(net.server.update_path(a.ike, moved));
    let after = paths(&net);
    assert!(after.contains(&(a.ike, moved)));
    assert!(after.contains(&(b.ike, b.path)), "the other user stays");

    // A's Quick Mode from its old path is now refused; from the new one it is taken.
    let a_client = Net::children(&net.client_events[0])[0].inbound.spi;
    let now = net.now;
    assert!(net.clients[0].rekey_child(now, a_client));
    let mut qm = Vec::new();
    net.clients[0].poll_transmit(&mut qm).unwrap();
    let before = net.server.stats().wrong_path;
    assert_eq!(
        net.server.handle_datagram(net.now, a.path, &qm),
        Err(ike::Error::PeerMisbehaved(PeerMisbehaved::WrongPath))
    );
    assert_eq!(net.server.stats().wrong_path, before + 1);
    net.server.handle_datagram(net.now, moved, &qm).unwrap();
    let mut buf = Vec::new();
    let t = net.server.poll_transmit(&mut buf).expect("QM2");
    assert_eq!(t.path, moved, "answered on the new path");
    // DPD goes there too.
    while net.server.poll_transmit(&mut buf).is_some() {}
    assert!(net.server.send_dpd(a.ike));
    assert_eq!(net.server.poll_transmit(&mut buf).unwrap().path, moved);
}

#[test]
fn initial_contact_sent_as_an_informational_ends_only_the_same_peers_older_sas() {
    let (mut net, a, b) = two_users();
    assert!(!net.clients[0].send_initial_contact(IkeSaId(999)));
    let a_client = net.clients[0].ike_sas()[0].ike;
    let before = net.server.stats();
    assert!(net.clients[0].send_initial_contact(a_client));
    net.settle();
    let after = net.server.stats();
    assert_eq!(after.rx, before.rx + 1, "one informational");
    assert_eq!(
        (after.bad_hashes, after.protocol_errors, after.decode_errors),
        (
            before.bad_hashes,
            before.protocol_errors,
            before.decode_errors
        ),
        "taken as a valid informational"
    );
    // A's SA is the newest of its identity: nothing older to end; B is untouched.
    assert!(net.server_downs().is_empty(), "{:?}", net.server_downs());
    let p = paths(&net);
    assert!(p.contains(&(a.ike, a.path)) && p.contains(&(b.ike, b.path)));
}

fn is_quick_mode(m: &[u8]) -> bool {
    m.get(18) == Some(&32)
}

#[test]
fn a_lost_third_quick_mode_message_costs_a_resent_qm2_not_the_pair() {
    let mut net = Net::new(config(), 1);
    net.drop_qm3 = 1;
    net.connect(0, Profile::linux());
    net.run(Duration::from_secs(5));
    let child = net.server_children()[0].clone();
    // The server resent QM2, and the client answered it with QM3 again.
    let server_qm = net
        .server_sent
        .iter()
        .filter(|(_, m)| is_quick_mode(m))
        .count();
    assert!(
        server_qm >= 2,
        "QM2 resent: {server_qm} Quick Mode datagrams from the server"
    );
    let client_qm3 = net.sent[0]
        .iter()
        .filter(|(_, m)| is_quick_mode(m) && m.len() < 100)
        .count();
    assert_eq!(
        client_qm3, 2,
        "the first QM3 was lost, the second answered the resent QM2"
    );
    // Past the Quick Mode deadline the pair is still there.
    net.run(Duration::from_secs(300));
    assert_eq!(net.server_downs(), vec![], "no pair removed");
    assert!(
        net.server_children()
            .iter()
            .any(|c| c.inbound.spi == child.inbound.spi)
    );
}

#[test]
fn a_pair_whose_every_qm3_is_lost_lives_on_past_the_quick_mode_deadline() {
    let mut net = Net::new(config(), 1);
    net.drop_qm3 = usize::MAX;
    net.connect(0, Profile::linux());
    net.run(Duration::from_secs(300));
    assert!(!net.server_children().is_empty());
    assert_eq!(
        net.server_downs(),
        vec![],
        "the client may be sending on it: kept"
    );
}
