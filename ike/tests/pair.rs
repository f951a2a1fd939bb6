//! In-memory initiator ↔ responder runs on a virtual clock, with an optional NAT between
//! them and a lossy, duplicating link driven by a seeded RNG.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code"
)]

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use ike::crypto::{CipherAlg, DhGroup, HashAlg};
use ike::proposal::{EspOffer, Phase1Suite};
use ike::{
    ChildSa, Config, DownReason, Encapsulation, Endpoint, Event, Path, Profile, Psk, StaticPskStore,
};
use wire::random::DeterministicRandom;

const SERVER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const NAT_PUBLIC: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 5);

fn sock(ip: Ipv4Addr, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(ip), port)
}

pub struct Pair {
    pub now: Instant,
    pub client: Endpoint,
    pub server: Endpoint,
    pub nat: bool,
    /// NAT mappings: client local port → public port.
    pub nat_ports: HashMap<u16, u16>,
    pub loss: u64,
    pub dup: u64,
    pub link: DeterministicRandom,
    pub client_events: Vec<Event>,
    pub server_events: Vec<Event>,
    pub keepalives: u32,
    in_flight: VecDeque<(bool, Path, Vec<u8>)>,
}

impl Pair {
    pub fn new(
        server_cfg: Config,
        client_cfg: Config,
        server_psk: &str,
        client_psk: &str,
        nat: bool,
        seed: u64,
    ) -> Self {
        #[allow(clippy::disallowed_methods, reason = "the virtual clock's base")]
        let now = Instant::now();
        let server = Endpoint::new(
            server_cfg,
            Box::new(StaticPskStore::wildcard(Psk::new(server_psk.as_bytes()))),
            Box::new(DeterministicRandom::new(seed ^ 0x5e)),
        );
        let client = Endpoint::new(
            client_cfg,
            Box::new(StaticPskStore::wildcard(Psk::new(client_psk.as_bytes()))),
            Box::new(DeterministicRandom::new(seed ^ 0xc1)),
        );
        Self {
            now,
            client,
            server,
            nat,
            nat_ports: HashMap::new(),
            loss: 0,
            dup: 0,
            link: DeterministicRandom::new(seed),
            client_events: Vec::new(),
            server_events: Vec::new(),
            keepalives: 0,
            in_flight: VecDeque::new(),
        }
    }

    pub fn client_path(&self) -> Path {
        Path {
            local: sock(CLIENT, 500),
            remote: sock(SERVER, 500),
        }
    }

    fn public_port(&mut self, local: u16) -> u16 {
        let n = self.nat_ports.len() as u16;
        *self.nat_ports.entry(local).or_insert(40_000 + n)
    }

    /// Client path → the path the server sees.
    fn toward_server(&mut self, p: Path) -> Path {
        if self.nat {
            let port = self.public_port(p.local.port());
            Path {
                local: p.remote,
                remote: sock(NAT_PUBLIC, port),
            }
        } else {
            Path {
                local: p.remote,
                remote: p.local,
            }
        }
    }

    /// Server path → the path the client sees.
    fn toward_client(&self, p: Path) -> Option<Path> {
        if self.nat {
            let local = self
                .nat_ports
                .iter()
                .find(|(_, v)| **v == p.remote.port())
                .map(|(k, _)| *k)?;
            Some(Path {
                local: sock(CLIENT, local),
                remote: p.local,
            })
        } else {
            Some(Path {
                local: p.remote,
                remote: p.local,
            })
        }
    }

    fn collect(&mut self) {
        let nat_t = self.client.config().nat_t_port;
        let mut buf = Vec::new();
        while let Some(t) = self.client.poll_transmit(&mut buf) {
            if buf == [0xff] {
                // A NAT keepalive: on UDP 4500, without the marker; nothing to deliver.
                assert!(t.path.is_nat_t(nat_t) && !t.non_esp_marker);
                self.keepalives += 1;
                buf.clear();
                continue;
            }
            assert_eq!(t.non_esp_marker, t.path.is_nat_t(nat_t));
            self.queue(true, t.path, std::mem::take(&mut buf));
        }
        while let Some(t) = self.server.poll_transmit(&mut buf) {
            self.queue(false, t.path, std::mem::take(&mut buf));
        }
        while let Some(e) = self.client.poll_event() {
            self.client_events.push(e);
        }
        while let Some(e) = self.server.poll_event() {
            self.server_events.push(e);
        }
    }

    fn queue(&mut self, from_client: bool, path: Path, bytes: Vec<u8>) {
        if self.link.below(100) < self.loss {
            return;
        }
        if self.link.below(100) < self.dup {
            self.in_flight.push_back((from_client, path, bytes.clone()));
        }
        self.in_flight.push_back((from_client, path, bytes));
    }

    /// Runs until `done` or until `limit` of virtual time passes.
    pub fn run(&mut self, limit: Duration, done: impl Fn(&Self) -> bool) {
        let end = self.now + limit;
        loop {
            self.collect();
            if done(self) {
                return;
            }
            if let Some((from_client, path, bytes)) = self.in_flight.pop_front() {
                self.now += Duration::from_millis(5);
                if from_client {
                    let sp = self.toward_server(path);
                    let _ = self.server.handle_datagram(self.now, sp, &bytes);
                } else if let Some(cp) = self.toward_client(path) {
                    let _ = self.client.handle_datagram(self.now, cp, &bytes);
                }
                continue;
            }
            let next = [self.client.poll_timeout(), self.server.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    self.client.handle_timeout(self.now);
                    self.server.handle_timeout(self.now);
                }
                _ => return,
            }
        }
    }

    pub fn children(events: &[Event]) -> Vec<&ChildSa> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::ChildSaUp(c) => Some(c),
                _ => None,
            })
            .collect()
    }

    pub fn up(&self) -> bool {
        !Self::children(&self.client_events).is_empty()
            && !Self::children(&self.server_events).is_empty()
    }
}

fn assert_matching(c: &ChildSa, s: &ChildSa) {
    assert_eq!(c.inbound.spi, s.outbound.spi);
    assert_eq!(c.outbound.spi, s.inbound.spi);
    for (a, b) in [(&c.inbound, &s.outbound), (&c.outbound, &s.inbound)] {
        assert_eq!(a.suite, b.suite);
        assert_eq!(a.enc_key(), b.enc_key());
        assert_eq!(a.auth_key(), b.auth_key());
        assert_eq!(a.salt(), b.salt());
        assert!(!a.enc_key().is_empty());
    }
    assert_ne!(c.inbound.enc_key(), c.outbound.enc_key());
    assert_eq!(c.encapsulation, s.encapsulation);
}

fn profile(
    cipher: CipherAlg,
    hash: HashAlg,
    group: DhGroup,
    esp: &[(esp::Encryption, esp::Integrity)],
) -> Profile {
    let mut p = Profile::linux();
    p.ike = vec![Phase1Suite {
        cipher,
        hash,
        group,
        lifetime: Duration::from_secs(28_800),
        life_kb: None,
        auth: ike::Phase1Auth::Psk,
    }];
    p.esp = esp
        .iter()
        .map(|(e, i)| EspOffer {
            suite: esp::Suite::new(*e, *i).unwrap(),
            lifetime: Duration::from_secs(3600),
            life_kb: None,
        })
        .collect();
    p
}

fn connect(pair: &mut Pair, p: Profile) {
    let path = pair.client_path();
    pair.client.connect(pair.now, path, p).unwrap();
}

#[test]
fn every_allowed_combination_establishes_with_and_without_nat() {
    use esp::Encryption as E;
    use esp::Integrity as I;
    let esps = [
        (E::AesCbc128, I::HmacSha1_96),
        (E::AesCbc256, I::HmacSha256_128),
        (E::AesCbc192, I::HmacSha384_192),
        (E::AesGcm16_128, I::None),
        (E::AesGcm16_256, I::None),
        (E::AesCbc256, I::HmacSha512_256),
    ];
    let mut n = 0;
    for (ci, cipher) in [CipherAlg::Aes128, CipherAlg::Aes192, CipherAlg::Aes256]
        .into_iter()
        .enumerate()
    {
        for (hi, hash) in [
            HashAlg::Sha1,
            HashAlg::Sha256,
            HashAlg::Sha384,
            HashAlg::Sha512,
        ]
        .into_iter()
        .enumerate()
        {
            for (gi, group) in [
                DhGroup::Modp2048,
                DhGroup::Modp3072,
                DhGroup::Modp4096,
                DhGroup::Ecp256,
                DhGroup::Ecp384,
            ]
            .into_iter()
            .enumerate()
            {
                for nat in [false, true] {
                    let seed = (ci * 100 + hi * 10 + gi) as u64 * 2 + u64::from(nat);
                    let esp = esps[(ci + hi + gi) % esps.len()];
                    let mut pair = Pair::new(
                        Config::default(),
                        Config::default(),
                        "s3cret",
                        "s3cret",
                        nat,
                        seed,
                    );
                    connect(&mut pair, profile(cipher, hash, group, &[esp]));
                    pair.run(Duration::from_secs(60), Pair::up);
                    assert!(pair.up(), "{cipher:?} {hash:?} {group:?} nat={nat}");
                    let c = Pair::children(&pair.client_events)[0];
                    let s = Pair::children(&pair.server_events)[0];
                    assert_matching(c, s);
                    assert_eq!(c.inbound.suite, esp::Suite::new(esp.0, esp.1).unwrap());
                    // force_encapsulation: always UDP 4500, even without a NAT.
                    assert_eq!(s.encapsulation, Encapsulation::UdpTransport);
                    assert_eq!(s.path.local.port(), 4500);
                    if nat {
                        assert_eq!(s.path.remote.ip(), IpAddr::V4(NAT_PUBLIC));
                        assert_eq!(s.nat_oa, Some(IpAddr::V4(CLIENT)));
                    }
                    n += 1;
                }
            }
        }
    }
    assert_eq!(n, 3 * 4 * 5 * 2, "{n} runs");
}

#[test]
fn legacy_combinations_need_the_switch() {
    for (cipher, hash, group) in [
        (CipherAlg::TripleDes, HashAlg::Sha1, DhGroup::Modp2048),
        (CipherAlg::Aes128, HashAlg::Md5, DhGroup::Modp2048),
        (CipherAlg::Aes256, HashAlg::Sha1, DhGroup::Modp1024),
        (CipherAlg::Aes256, HashAlg::Sha1, DhGroup::Modp1536),
    ] {
        let p = profile(
            cipher,
            hash,
            group,
            &[(esp::Encryption::TripleDesCbc, esp::Integrity::HmacMd5_96)],
        );
        let mut pair = Pair::new(Config::default(), Config::default(), "k", "k", false, 3);
        connect(&mut pair, p.clone());
        pair.run(Duration::from_secs(120), Pair::up);
        assert!(!pair.up());
        assert_eq!(pair.server.stats().no_proposal_chosen, 1);
        assert!(pair.client_events.iter().any(|e| matches!(
            e,
            Event::IkeSaDown {
                reason: DownReason::Refused(ike::NotifyType::NoProposalChosen),
                ..
            }
        )));

        let legacy = Config {
            legacy: true,
            ..Config::default()
        };
        let mut pair = Pair::new(legacy.clone(), legacy, "k", "k", true, 4);
        connect(&mut pair, p);
        pair.run(Duration::from_secs(60), Pair::up);
        assert!(pair.up(), "{cipher:?} {hash:?} {group:?}");
        assert_matching(
            Pair::children(&pair.client_events)[0],
            Pair::children(&pair.server_events)[0],
        );
    }
}

#[test]
fn thirty_percent_loss_and_duplication_still_connects() {
    for seed in 0..16 {
        // A patient client: at 30 % loss each way a round trip fails half the time.
        let client = Config {
            retransmit: ike::Retransmit {
                initial: Duration::from_millis(500),
                tries: 10,
            },
            ..Config::default()
        };
        let mut pair = Pair::new(
            Config::default(),
            client,
            "psk",
            "psk",
            seed % 2 == 0,
            1000 + seed,
        );
        pair.loss = 30;
        pair.dup = 30;
        connect(
            &mut pair,
            profile(
                CipherAlg::Aes256,
                HashAlg::Sha256,
                DhGroup::Ecp256,
                &[(esp::Encryption::AesCbc256, esp::Integrity::HmacSha1_96)],
            ),
        );
        pair.run(Duration::from_secs(120), Pair::up);
        assert!(
            pair.up(),
            "seed {seed}: client {:?} {:?} server {:?} {:?}",
            pair.client.stats(),
            pair.client_events,
            pair.server.stats(),
            pair.server_events
        );
        let c = Pair::children(&pair.client_events)[0];
        let s = Pair::children(&pair.server_events).last().copied().unwrap();
        assert_matching(c, s);
        // Duplicates and retransmissions never create a second SA on the server.
        assert_eq!(pair.server.ike_sa_count(), 1, "seed {seed}");
    }
}

#[test]
fn wrong_psk_fails_authentication_and_creates_no_sa() {
    let mut pair = Pair::new(
        Config::default(),
        Config::default(),
        "right",
        "wrong",
        true,
        9,
    );
    connect(&mut pair, Profile::linux());
    pair.run(Duration::from_secs(120), |_| false);
    assert!(Pair::children(&pair.client_events).is_empty());
    assert!(Pair::children(&pair.server_events).is_empty());
    assert!(
        !pair
            .server_events
            .iter()
            .any(|e| matches!(e, Event::IkeSaUp { .. }))
    );
    assert!(pair.server.stats().auth_failures >= 1);
    assert!(pair.client_events.iter().any(|e| matches!(
        e,
        Event::IkeSaDown {
            reason: DownReason::Refused(ike::NotifyType::AuthenticationFailed),
            ..
        }
    )));
    assert_eq!(pair.server.ike_sa_count(), 0);
    assert_eq!(pair.client.ike_sa_count(), 0);
}

#[test]
fn delete_both_ways() {
    let mut pair = Pair::new(Config::default(), Config::default(), "psk", "psk", true, 11);
    connect(&mut pair, Profile::linux());
    pair.run(Duration::from_secs(30), Pair::up);
    let c = Pair::children(&pair.client_events)[0].clone();
    // Client deletes the ESP SA: the server reports it down at once.
    assert!(pair.client.delete_child_sa(c.inbound.spi));
    pair.run(Duration::from_secs(5), |p| {
        p.server_events
            .iter()
            .any(|e| matches!(e, Event::ChildSaDown { .. }))
    });
    let down = pair.server_events.iter().find_map(|e| match e {
        Event::ChildSaDown {
            inbound_spi,
            outbound_spi,
            reason,
            ..
        } => Some((*inbound_spi, *outbound_spi, *reason)),
        _ => None,
    });
    assert_eq!(
        down,
        Some((c.outbound.spi, c.inbound.spi, DownReason::DeletedByPeer))
    );
    // Server closes the ISAKMP SA: the client sees it deleted.
    let ike = pair
        .server_events
        .iter()
        .find_map(|e| match e {
            Event::IkeSaUp { ike, .. } => Some(*ike),
            _ => None,
        })
        .unwrap();
    assert!(pair.server.close(ike));
    pair.run(Duration::from_secs(5), |p| {
        p.client_events
            .iter()
            .any(|e| matches!(e, Event::IkeSaDown { .. }))
    });
    assert!(pair.client_events.iter().any(|e| matches!(
        e,
        Event::IkeSaDown {
            reason: DownReason::DeletedByPeer,
            ..
        }
    )));
    assert_eq!(pair.server.ike_sa_count(), 0);
}

#[test]
fn initiator_rekeys_quick_mode_before_expiry_without_a_gap() {
    let mut pair = Pair::new(Config::default(), Config::default(), "psk", "psk", true, 12);
    connect(&mut pair, Profile::linux());
    pair.run(Duration::from_secs(30), Pair::up);
    let start = pair.now;
    // Run past one ESP lifetime (3600 s): a rekey must happen before the first expires.
    pair.run(Duration::from_secs(3700), |p| {
        Pair::children(&p.client_events).len() >= 2 && Pair::children(&p.server_events).len() >= 2
    });
    let cs = Pair::children(&pair.client_events);
    let ss = Pair::children(&pair.server_events);
    assert!(cs.len() >= 2 && ss.len() >= 2);
    assert!(cs[1].rekey && ss[1].rekey);
    assert_matching(cs[1], ss[1]);
    assert!(
        pair.now - start < Duration::from_secs(3600),
        "rekeyed at {:?}",
        pair.now - start
    );
    assert!(pair.now - start > Duration::from_secs(3000));
    let old_spi = ss[0].inbound.spi;
    // The old SA is still up at rekey time and expires later.
    assert!(
        !pair
            .server_events
            .iter()
            .any(|e| matches!(e, Event::ChildSaDown { .. }))
    );
    pair.run(Duration::from_secs(700), |p| {
        p.server_events
            .iter()
            .any(|e| matches!(e, Event::ChildSaDown { .. }))
    });
    assert!(pair.server_events.iter().any(|e| matches!(e, Event::ChildSaDown { reason: DownReason::Expired, inbound_spi, .. } if *inbound_spi == old_spi)));
}

#[test]
fn initiator_gives_up_after_bounded_retransmissions() {
    let mut pair = Pair::new(
        Config::default(),
        Config::default(),
        "psk",
        "psk",
        false,
        13,
    );
    pair.loss = 100;
    connect(&mut pair, Profile::linux());
    pair.run(Duration::from_secs(3600), |_| false);
    assert!(
        pair.client_events
            .iter()
            .any(|e| matches!(e, Event::PeerGone { .. }))
    );
    assert_eq!(pair.client.ike_sa_count(), 0);
    assert_eq!(pair.client.poll_timeout(), None);
    assert_eq!(
        pair.client.stats().retransmits_sent,
        u64::from(Config::default().retransmit.tries - 1)
    );
}

#[test]
fn responder_lifetime_shortens_the_child_sa_on_both_sides() {
    let server = Config {
        child_lifetime_max: Duration::from_secs(1800),
        ..Config::default()
    };
    let mut pair = Pair::new(server, Config::default(), "psk", "psk", true, 21);
    connect(&mut pair, Profile::linux());
    pair.run(Duration::from_secs(30), Pair::up);
    let c = Pair::children(&pair.client_events)[0];
    let s = Pair::children(&pair.server_events)[0];
    assert_eq!(s.lifetime, Duration::from_secs(1800));
    assert_eq!(c.lifetime, Duration::from_secs(1800));
}

#[test]
fn windows_profile_connects_with_ecp384_and_dpd_is_answered() {
    let mut pair = Pair::new(Config::default(), Config::default(), "psk", "psk", true, 22);
    connect(&mut pair, Profile::windows());
    pair.run(Duration::from_secs(30), Pair::up);
    assert!(pair.up());
    let c = Pair::children(&pair.client_events)[0];
    assert_eq!(c.inbound.suite.encryption(), esp::Encryption::AesCbc256);
    // DPD: the server answers R-U-THERE.
    let ike = pair
        .client_events
        .iter()
        .find_map(|e| match e {
            Event::IkeSaUp { ike, .. } => Some(*ike),
            _ => None,
        })
        .unwrap();
    let tx = pair.server.stats().tx;
    assert!(pair.client.send_dpd(ike));
    pair.run(Duration::from_secs(1), |p| p.server.stats().tx > tx);
    assert_eq!(pair.server.stats().tx, tx + 1);
    assert_eq!(
        pair.server.stats().bad_hashes + pair.client.stats().bad_hashes,
        0
    );
    assert_eq!(pair.client.stats().protocol_errors, 0);
}

#[test]
fn initial_contact_replaces_the_peers_old_sas_and_a_second_main_mode_coexists_without_it() {
    // Without INITIAL-CONTACT (Windows): a new Main Mode from the same peer coexists.
    let mut pair = Pair::new(
        Config::default(),
        Config::default(),
        "psk",
        "psk",
        false,
        23,
    );
    connect(&mut pair, Profile::windows());
    pair.run(Duration::from_secs(30), Pair::up);
    connect(&mut pair, Profile::windows());
    pair.run(Duration::from_secs(30), |p| {
        Pair::children(&p.server_events).len() == 2
    });
    assert_eq!(Pair::children(&pair.server_events).len(), 2);
    assert_eq!(pair.server.ike_sa_count(), 2);
    assert!(
        !pair
            .server_events
            .iter()
            .any(|e| matches!(e, Event::ChildSaDown { .. }))
    );

    // With INITIAL-CONTACT (strongSwan profile): the old SAs go.
    let mut pair = Pair::new(
        Config::default(),
        Config::default(),
        "psk",
        "psk",
        false,
        24,
    );
    connect(&mut pair, Profile::linux());
    pair.run(Duration::from_secs(30), Pair::up);
    let first = Pair::children(&pair.server_events)[0].inbound.spi;
    connect(&mut pair, Profile::linux());
    pair.run(Duration::from_secs(30), |p| {
        Pair::children(&p.server_events).len() == 2
    });
    assert!(pair.server_events.iter().any(|e| matches!(e, Event::ChildSaDown { inbound_spi, reason: DownReason::InitialContact, .. } if *inbound_spi == first)));
    assert_eq!(pair.server.ike_sa_count(), 1);
}

/// Delivers everything `from` has queued to `to`, as if the paths were direct.
fn deliver(now: Instant, from: &mut Endpoint, to: &mut Endpoint) -> Vec<Vec<u8>> {
    let mut buf = Vec::new();
    let mut sent = Vec::new();
    while let Some(t) = from.poll_transmit(&mut buf) {
        let path = Path {
            local: t.path.remote,
            remote: t.path.local,
        };
        let _ = to.handle_datagram(now, path, &buf);
        sent.push(std::mem::take(&mut buf));
    }
    sent
}

fn no_security() -> Config {
    Config {
        provider: &ike::fuzzing::PROVIDER,
        ..Config::default()
    }
}

#[test]
fn quick_mode_with_bad_hash_or_commit_bit() {
    let now = Pair::new(Config::default(), Config::default(), "a", "a", false, 1).now;
    let mk = |seed| {
        Endpoint::new(
            no_security(),
            Box::new(StaticPskStore::wildcard(Psk::new("psk"))),
            Box::new(DeterministicRandom::new(seed)),
        )
    };
    let (mut c, mut s) = (mk(1), mk(2));
    let path = Path {
        local: sock(CLIENT, 500),
        remote: sock(SERVER, 500),
    };
    c.connect(now, path, Profile::linux()).unwrap();
    // MM1..MM6, then the client's QM1 is queued.
    for _ in 0..3 {
        deliver(now, &mut c, &mut s);
        deliver(now, &mut s, &mut c);
    }
    let mut buf = Vec::new();
    let t = c.poll_transmit(&mut buf).unwrap();
    let qm1 = buf.clone();
    assert_eq!(qm1[18], 32, "Quick Mode");
    let spath = Path {
        local: t.path.remote,
        remote: t.path.local,
    };
    // A corrupted HASH(1) (the no-security PRF is all 0x5a): refused, nothing happens.
    let mut bad = qm1.clone();
    bad[28 + 4] ^= 1;
    assert_eq!(
        s.handle_datagram(now, spath, &bad),
        Err(ike::Error::PeerMisbehaved(ike::PeerMisbehaved::BadHash))
    );
    assert!(s.poll_transmit(&mut Vec::new()).is_none());
    // A wrong message ID of zero.
    let mut zero = qm1.clone();
    zero[20..24].copy_from_slice(&[0; 4]);
    assert!(s.handle_datagram(now, spath, &zero).is_err());
    // The commit bit: the responder answers HASH(3) with CONNECTED.
    let mut commit = qm1.clone();
    commit[19] |= 0x02;
    s.handle_datagram(now, spath, &commit).unwrap();
    while s.poll_event().is_some() {}
    let mut qm2 = Vec::new();
    s.poll_transmit(&mut qm2).unwrap();
    c.handle_datagram(now, t.path, &qm2).unwrap();
    let qm3 = deliver(now, &mut c, &mut s);
    assert_eq!(qm3.len(), 1);
    let mut qm4 = Vec::new();
    s.poll_transmit(&mut qm4).unwrap();
    assert_eq!(qm4[18], 32);
    assert_eq!(qm4[19] & 0x02, 0x02, "commit flag");
    // With the no-security cipher the body is the plaintext chain: HASH then N(CONNECTED).
    let chain = ike::msgs::parse_chain(ike::msgs::PayloadType::Hash, &qm4[28..]).unwrap();
    let n = ike::msgs::NotifyPayload::decode(chain.payloads[1].body).unwrap();
    assert_eq!(n.notify_type, ike::NotifyType::Connected);
}

#[test]
fn initiator_rekeys_main_mode_before_expiry_and_keeps_traffic_up() {
    let mut pair = Pair::new(Config::default(), Config::default(), "psk", "psk", true, 31);
    let mut p = Profile::linux();
    for s in &mut p.ike {
        s.lifetime = Duration::from_secs(1200);
    }
    connect(&mut pair, p);
    pair.run(Duration::from_secs(30), Pair::up);
    let start = pair.now;
    let ike_ups = |p: &Pair| {
        p.client_events
            .iter()
            .filter(|e| matches!(e, Event::IkeSaUp { .. }))
            .count()
    };
    pair.run(Duration::from_secs(1300), |p| {
        ike_ups(p) >= 2 && Pair::children(&p.client_events).len() >= 2
    });
    assert_eq!(ike_ups(&pair), 2);
    assert!(
        pair.now - start < Duration::from_secs(1200),
        "rekeyed at {:?}",
        pair.now - start
    );
    let cs = Pair::children(&pair.client_events);
    let ss = Pair::children(&pair.server_events);
    assert!(cs[1].rekey, "{cs:#?}");
    assert_matching(cs[1], ss[1]);
    assert_ne!(cs[0].ike, cs[1].ike);
    let old = cs[0].ike;
    // Nothing went down yet; the old ISAKMP SA ends at its lifetime, its ESP SA later.
    assert!(
        !pair
            .server_events
            .iter()
            .any(|e| matches!(e, Event::ChildSaDown { .. } | Event::IkeSaDown { .. }))
    );
    pair.run(Duration::from_secs(4000), |_| false);
    assert!(pair.server_events.iter().any(|e| matches!(
        e,
        Event::IkeSaDown {
            reason: DownReason::Expired,
            ..
        }
    )));
    // No Quick Mode rekeys were started on the old ISAKMP SA after the Main Mode rekey.
    let later: Vec<_> = Pair::children(&pair.client_events)
        .into_iter()
        .skip(2)
        .collect();
    assert!(later.iter().all(|c| c.ike != old));
}

#[test]
fn aggressive_mode_is_off_by_default_and_works_when_enabled() {
    let mut p = Profile::linux();
    p.aggressive = true;
    p.ike.retain(|s| s.group == DhGroup::Modp2048);
    let mut pair = Pair::new(Config::default(), Config::default(), "psk", "psk", true, 41);
    connect(&mut pair, p.clone());
    pair.run(Duration::from_secs(120), Pair::up);
    assert!(!pair.up());
    assert!(pair.server.stats().protocol_errors >= 1);
    assert_eq!(pair.server.ike_sa_count(), 0);

    let server = Config {
        aggressive_mode: true,
        ..Config::default()
    };
    for (seed, loss) in [(42, 0), (43, 30), (44, 30), (45, 30)] {
        let client = Config {
            retransmit: ike::Retransmit {
                initial: Duration::from_millis(500),
                tries: 10,
            },
            ..Config::default()
        };
        let mut pair = Pair::new(server.clone(), client, "psk", "psk", true, seed);
        pair.loss = loss;
        connect(&mut pair, p.clone());
        pair.run(Duration::from_secs(300), Pair::up);
        assert!(pair.up(), "seed {seed}");
        let c = Pair::children(&pair.client_events)[0];
        let s = Pair::children(&pair.server_events).last().copied().unwrap();
        assert_matching(c, s);
        assert_eq!(s.encapsulation, Encapsulation::UdpTransport);
    }

    // Wrong PSK: the initiator refuses HASH_R and never authenticates.
    let mut pair = Pair::new(server, Config::default(), "psk", "other", true, 46);
    connect(&mut pair, p);
    pair.run(Duration::from_secs(120), Pair::up);
    assert!(!pair.up());
    assert!(pair.client.stats().auth_failures >= 1);
}

#[test]
fn dpd_keeps_a_live_peer_and_detects_a_dead_one() {
    let server = Config {
        dpd_interval: Some(Duration::from_secs(30)),
        ..Config::default()
    };
    let mut pair = Pair::new(server, Config::default(), "psk", "psk", true, 51);
    connect(&mut pair, Profile::linux());
    pair.run(Duration::from_secs(30), Pair::up);
    let tx = pair.server.stats().tx;
    pair.run(Duration::from_secs(200), |_| false);
    assert!(pair.server.stats().tx >= tx + 6, "R-U-THEREs sent");
    // The client is behind the NAT: it keeps the mapping alive every 20 s.
    assert!(
        (9..=11).contains(&pair.keepalives),
        "{} keepalives",
        pair.keepalives
    );
    assert!(
        !pair
            .server_events
            .iter()
            .any(|e| matches!(e, Event::PeerGone { .. }))
    );
    // The peer vanishes: after the unanswered R-U-THEREs it is gone with its SAs.
    pair.loss = 100;
    pair.run(Duration::from_secs(400), |p| {
        p.server_events
            .iter()
            .any(|e| matches!(e, Event::PeerGone { .. }))
    });
    assert!(
        pair.server_events
            .iter()
            .any(|e| matches!(e, Event::PeerGone { .. }))
    );
    assert!(pair.server_events.iter().any(|e| matches!(
        e,
        Event::ChildSaDown {
            reason: DownReason::Timeout,
            ..
        }
    )));
    assert_eq!(pair.server.ike_sa_count(), 0);
    // Windows announces no DPD: nothing is sent to it.
    let server = Config {
        dpd_interval: Some(Duration::from_secs(30)),
        ..Config::default()
    };
    let mut pair = Pair::new(server, Config::default(), "psk", "psk", true, 52);
    connect(&mut pair, Profile::windows());
    pair.run(Duration::from_secs(30), Pair::up);
    let tx = pair.server.stats().tx;
    pair.run(Duration::from_secs(200), |_| false);
    assert_eq!(pair.server.stats().tx, tx);
}

/// Writes the exchange as a pcap (raw IPv4) for an independent decoder:
/// `IKE_PCAP=/tmp/x.pcap cargo test -p ike --test pair -- --ignored dump` then
/// `tshark -r /tmp/x.pcap -V`.
#[test]
#[ignore = "writes a file for manual inspection"]
fn dump_exchange_as_pcap() {
    let Ok(out) = std::env::var("IKE_PCAP") else {
        return;
    };
    let mut pair = Pair::new(Config::default(), Config::default(), "psk", "psk", true, 61);
    let path = pair.client_path();
    pair.client
        .connect(pair.now, path, Profile::windows())
        .unwrap();
    let mut pcap: Vec<u8> = Vec::new();
    for v in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65535, 101] {
        if v == 0x0004_0002 {
            pcap.extend_from_slice(&2u16.to_le_bytes());
            pcap.extend_from_slice(&4u16.to_le_bytes());
        } else {
            pcap.extend_from_slice(&v.to_le_bytes());
        }
    }
    let mut record = |src: SocketAddr, dst: SocketAddr, payload: &[u8]| {
        let (IpAddr::V4(s), IpAddr::V4(d)) = (src.ip(), dst.ip()) else {
            return;
        };
        let marker: &[u8] = if src.port() == 4500 || dst.port() == 4500 {
            &[0, 0, 0, 0]
        } else {
            &[]
        };
        let udp_len = 8 + marker.len() + payload.len();
        let mut p = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0];
        p[2..4].copy_from_slice(&((20 + udp_len) as u16).to_be_bytes());
        p.extend_from_slice(&s.octets());
        p.extend_from_slice(&d.octets());
        p.extend_from_slice(&src.port().to_be_bytes());
        p.extend_from_slice(&dst.port().to_be_bytes());
        p.extend_from_slice(&(udp_len as u16).to_be_bytes());
        p.extend_from_slice(&[0, 0]);
        p.extend_from_slice(marker);
        p.extend_from_slice(payload);
        for v in [0u32, 0, p.len() as u32, p.len() as u32] {
            pcap.extend_from_slice(&v.to_le_bytes());
        }
        pcap.extend_from_slice(&p);
    };
    let mut buf = Vec::new();
    for _ in 0..12 {
        while let Some(t) = pair.client.poll_transmit(&mut buf) {
            record(t.path.local, t.path.remote, &buf);
            let sp = pair.toward_server(t.path);
            let _ = pair.server.handle_datagram(pair.now, sp, &buf);
            buf.clear();
        }
        while let Some(t) = pair.server.poll_transmit(&mut buf) {
            record(t.path.local, t.path.remote, &buf);
            if let Some(cp) = pair.toward_client(t.path) {
                let _ = pair.client.handle_datagram(pair.now, cp, &buf);
            }
            buf.clear();
        }
    }
    std::fs::write(out, pcap).unwrap();
}

/// Measures full Main Mode + Quick Mode handshakes per second (both sides' CPU):
/// `cargo test --release -p ike --test pair -- --ignored --nocapture handshake_rate`.
#[test]
#[ignore = "a measurement, not a check"]
fn handshake_rate() {
    for group in [DhGroup::Ecp256, DhGroup::Ecp384, DhGroup::Modp2048] {
        let n = 50;
        #[allow(
            clippy::disallowed_methods,
            reason = "wall-clock measurement, printed only"
        )]
        let start = Instant::now();
        for seed in 0..n {
            let mut pair = Pair::new(
                Config::default(),
                Config::default(),
                "psk",
                "psk",
                true,
                seed,
            );
            connect(
                &mut pair,
                profile(
                    CipherAlg::Aes256,
                    HashAlg::Sha256,
                    group,
                    &[(esp::Encryption::AesGcm16_256, esp::Integrity::None)],
                ),
            );
            pair.run(Duration::from_secs(30), Pair::up);
            assert!(pair.up());
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{group:?}: {:.0} handshakes/s ({n} in {secs:.2} s, both sides)",
            f64::from(n as u32) / secs
        );
    }
}

/// Writes fuzzing seeds: `IKE_CORPUS=fuzz/corpus cargo test -p ike --test pair --
/// --ignored write_fuzz_seeds`. The responder seed is a whole no-security exchange in the
/// ike_responder input format ([ctl][u16 len][message]...), made against the same
/// responder (seed 0, PSK "fuzz") the target builds.
#[test]
#[ignore = "writes files for the fuzz corpus"]
fn write_fuzz_seeds() {
    let Ok(dir) = std::env::var("IKE_CORPUS") else {
        return;
    };
    let cfg = Config {
        provider: &ike::fuzzing::PROVIDER,
        legacy: true,
        ..Config::default()
    };
    let mut server = Endpoint::new(
        cfg.clone(),
        Box::new(StaticPskStore::wildcard(Psk::new("fuzz"))),
        Box::new(DeterministicRandom::new(0)),
    );
    let mut client = Endpoint::new(
        cfg,
        Box::new(StaticPskStore::wildcard(Psk::new("fuzz"))),
        Box::new(DeterministicRandom::new(9)),
    );
    #[allow(clippy::disallowed_methods, reason = "the virtual clock's base")]
    let now = Instant::now();
    let cpath = Path {
        local: sock(Ipv4Addr::new(198, 51, 100, 2), 500),
        remote: sock(SERVER, 500),
    };
    client.connect(now, cpath, Profile::linux()).unwrap();
    let mut seed = Vec::new();
    let mut messages = Vec::new();
    let mut buf = Vec::new();
    for _ in 0..8 {
        while let Some(t) = client.poll_transmit(&mut buf) {
            let ctl = u8::from(t.path.local.port() == 4500);
            seed.push(ctl);
            seed.extend_from_slice(&(buf.len() as u16).to_be_bytes());
            seed.extend_from_slice(&buf);
            messages.push(buf.clone());
            server
                .handle_datagram(
                    now,
                    Path {
                        local: t.path.remote,
                        remote: t.path.local,
                    },
                    &buf,
                )
                .unwrap();
            buf.clear();
        }
        while let Some(t) = server.poll_transmit(&mut buf) {
            messages.push(buf.clone());
            client
                .handle_datagram(
                    now,
                    Path {
                        local: t.path.remote,
                        remote: t.path.local,
                    },
                    &buf,
                )
                .unwrap();
            buf.clear();
        }
    }
    assert!(
        Pair::children(&std::iter::from_fn(|| server.poll_event()).collect::<Vec<_>>()).len() == 1
    );
    // Then a DELETE from the client, and timeouts.
    std::fs::create_dir_all(format!("{dir}/ike_responder")).unwrap();
    std::fs::create_dir_all(format!("{dir}/ike_message")).unwrap();
    std::fs::write(format!("{dir}/ike_responder/exchange"), &seed).unwrap();
    for (i, m) in messages.iter().enumerate() {
        std::fs::write(format!("{dir}/ike_message/exchange-{i}"), m).unwrap();
    }
    let text = std::fs::read_to_string(format!(
        "{}/tests/testdata/direct-ike.txt",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    for (i, l) in text.lines().enumerate() {
        let m = hex::decode(l.split_whitespace().nth(5).unwrap()).unwrap();
        std::fs::write(format!("{dir}/ike_message/strongswan-{i}"), m).unwrap();
    }
}

#[test]
fn quick_mode_with_pfs() {
    for group in [DhGroup::Ecp256, DhGroup::Modp2048] {
        let mut p = Profile::linux();
        p.pfs = Some(group);
        let mut pair = Pair::new(Config::default(), Config::default(), "psk", "psk", true, 71);
        connect(&mut pair, p);
        pair.run(Duration::from_secs(30), Pair::up);
        assert!(pair.up(), "{group:?}");
        assert_matching(
            Pair::children(&pair.client_events)[0],
            Pair::children(&pair.server_events)[0],
        );
    }
    // A legacy PFS group is refused by default.
    let mut p = Profile::linux();
    p.pfs = Some(DhGroup::Modp1024);
    let mut pair = Pair::new(Config::default(), Config::default(), "psk", "psk", true, 72);
    connect(&mut pair, p);
    pair.run(Duration::from_secs(60), Pair::up);
    assert!(Pair::children(&pair.server_events).is_empty());
    assert!(pair.server.stats().no_proposal_chosen >= 1);
}

#[test]
fn draft_nat_t_peer_gets_draft_payloads_and_encapsulation() {
    let mut p = Profile::windows();
    p.vendor_ids = vec![ike::msgs::vendor::NATT_DRAFT_02N.to_vec()];
    let mut pair = Pair::new(Config::default(), Config::default(), "psk", "psk", true, 73);
    connect(&mut pair, p);
    // Watch the wire: the server must answer in the draft dialect.
    pair.run(Duration::from_secs(30), Pair::up);
    assert!(pair.up());
    let s = Pair::children(&pair.server_events)[0];
    assert_eq!(s.encapsulation, Encapsulation::UdpTransport);
    assert_eq!(s.nat_oa, Some(IpAddr::V4(CLIENT)));
    // Re-run message by message to look at MM2 and MM4.
    let mut pair = Pair::new(
        Config::default(),
        Config::default(),
        "psk",
        "psk",
        false,
        74,
    );
    let mut p = Profile::linux();
    p.vendor_ids = vec![ike::msgs::vendor::NATT_DRAFT_02N.to_vec()];
    let path = pair.client_path();
    pair.client.connect(pair.now, path, p).unwrap();
    let server_path = Path {
        local: path.remote,
        remote: path.local,
    };
    let mut msgs = Vec::new();
    let mut buf = Vec::new();
    for _ in 0..2 {
        while pair.client.poll_transmit(&mut buf).is_some() {
            pair.server
                .handle_datagram(pair.now, server_path, &buf)
                .unwrap();
            buf.clear();
        }
        while pair.server.poll_transmit(&mut buf).is_some() {
            msgs.push(buf.clone());
            pair.client.handle_datagram(pair.now, path, &buf).unwrap();
            buf.clear();
        }
    }
    let m2 = ike::msgs::Message::decode(&msgs[0]).unwrap();
    let m4 = ike::msgs::Message::decode(&msgs[1]).unwrap();
    let ike::msgs::Body::Plain(p2) = m2.body else {
        panic!()
    };
    let ike::msgs::Body::Plain(p4) = m4.body else {
        panic!()
    };
    assert!(p2.contains(&ike::msgs::Payload::VendorId(
        ike::msgs::vendor::NATT_DRAFT_02N.to_vec()
    )));
    let natd: Vec<_> = p4
        .iter()
        .filter(|x| matches!(x, ike::msgs::Payload::NatD { .. }))
        .collect();
    assert_eq!(natd.len(), 2);
    assert!(
        natd.iter()
            .all(|x| x.ty() == ike::msgs::PayloadType::NatDDraft)
    );
}

#[test]
fn nat_t_port_comes_from_the_config() {
    let cfg = || Config {
        nat_t_port: 14_500,
        ..Config::default()
    };
    let mut pair = Pair::new(cfg(), cfg(), "s3cret", "s3cret", true, 7);
    connect(
        &mut pair,
        profile(
            CipherAlg::Aes128,
            HashAlg::Sha256,
            DhGroup::Ecp256,
            &[(esp::Encryption::AesCbc128, esp::Integrity::HmacSha1_96)],
        ),
    );
    pair.run(Duration::from_secs(30), Pair::up);
    assert!(pair.up());
    let c = Pair::children(&pair.client_events)[0];
    let s = Pair::children(&pair.server_events)[0];
    assert_matching(c, s);
    // The initiator floated both ends to the configured port, and the responder saw it
    // arrive there (its marker logic in `collect` uses the same port).
    assert_eq!(
        (c.path.local.port(), c.path.remote.port()),
        (14_500, 14_500)
    );
    assert_eq!(s.path.local.port(), 14_500);
    assert_eq!(c.encapsulation, ike::proposal::Encapsulation::UdpTransport);
}
