//! The responder against first messages of real and documented peers, retransmissions,
//! and malformed input (typed errors, no state change).

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code"
)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use ike::crypto::{CipherAlg, DhGroup, HashAlg};
use ike::msgs::{
    AuthMethod, Body, DhGroupId, ExchangeType, IkeEncryption, IkeHash, Message, NotifyType,
    Payload, PayloadType, Phase1Attr, SaPayload, vendor,
};
use ike::proposal::Phase1Suite;
use ike::{Config, Endpoint, Error, Path, PeerMisbehaved, Profile, Psk, StaticPskStore};
use wire::random::DeterministicRandom;

fn now() -> Instant {
    #[allow(clippy::disallowed_methods, reason = "the virtual clock's base")]
    Instant::now()
}

fn server(cfg: Config) -> Endpoint {
    Endpoint::new(
        cfg,
        Box::new(StaticPskStore::wildcard(Psk::new("psk"))),
        Box::new(DeterministicRandom::new(1)),
    )
}

fn path(remote: Ipv4Addr, port: u16) -> Path {
    Path {
        local: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)), 500),
        remote: SocketAddr::new(IpAddr::V4(remote), port),
    }
}

fn captured(frame: usize) -> Vec<u8> {
    let text = std::fs::read_to_string(format!(
        "{}/tests/testdata/direct-ike.txt",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    hex::decode(
        text.lines()
            .nth(frame)
            .unwrap()
            .split_whitespace()
            .nth(5)
            .unwrap(),
    )
    .unwrap()
}

fn drain(ep: &mut Endpoint) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = Vec::new();
    while ep.poll_transmit(&mut buf).is_some() {
        out.push(std::mem::take(&mut buf));
    }
    out
}

fn plain(bytes: &[u8]) -> (ike::msgs::Header, Vec<Payload>) {
    let m = Message::decode(bytes).unwrap();
    let Body::Plain(p) = m.body else {
        panic!("encrypted")
    };
    (m.header, p)
}

/// The chosen (encryption, key length, hash, group) of an MM2.
fn chosen(bytes: &[u8]) -> (IkeEncryption, Option<u64>, IkeHash, DhGroupId) {
    let (_, payloads) = plain(bytes);
    let Payload::Sa(sa) = &payloads[0] else {
        panic!()
    };
    assert_eq!(sa.proposals.len(), 1);
    assert_eq!(sa.proposals[0].transforms.len(), 1);
    let t = &sa.proposals[0].transforms[0];
    let n = |a: Phase1Attr| t.attr(a.value()).and_then(|x| x.as_u64());
    (
        IkeEncryption::from(n(Phase1Attr::EncryptionAlgorithm).unwrap() as u16),
        n(Phase1Attr::KeyLength),
        IkeHash::from(n(Phase1Attr::HashAlgorithm).unwrap() as u16),
        DhGroupId::from(n(Phase1Attr::GroupDescription).unwrap() as u16),
    )
}

fn vids(bytes: &[u8]) -> Vec<Vec<u8>> {
    plain(bytes)
        .1
        .into_iter()
        .filter_map(|p| match p {
            Payload::VendorId(v) => Some(v),
            _ => None,
        })
        .collect()
}

#[test]
fn strongswan_first_message_gets_aes256_sha1_modp2048_and_a_stable_retransmit() {
    let mut s = server(Config::default());
    let t = now();
    let mm1 = captured(0);
    let p = path(Ipv4Addr::new(198, 51, 100, 2), 500);
    s.handle_datagram(t, p, &mm1).unwrap();
    let out = drain(&mut s);
    assert_eq!(out.len(), 1);
    assert_eq!(
        chosen(&out[0]),
        (
            IkeEncryption::AesCbc,
            Some(256),
            IkeHash::Sha1,
            DhGroupId::Modp2048
        )
    );
    let (h, _) = plain(&out[0]);
    assert_eq!(h.icookie.to_string(), "5a1a799f69d43e49");
    assert!(!h.rcookie.is_zero());
    let v = vids(&out[0]);
    assert!(v.contains(&vendor::NATT_RFC3947.to_vec()));
    assert!(v.contains(&vendor::DPD.to_vec()));
    // The retransmitted first message gets the same answer, same responder cookie.
    s.handle_datagram(t + Duration::from_secs(1), p, &mm1)
        .unwrap();
    assert_eq!(drain(&mut s), out);
    assert_eq!(s.ike_sa_count(), 1);
    assert_eq!(s.stats().retransmits_answered, 1);
    // The captured third message (KE 2048 bits, nonce, NAT-D) is accepted: the reply
    // has KE, nonce and two NAT-Ds, and the one about the peer deliberately mismatches.
    let mut mm3 = captured(2);
    mm3[8..16].copy_from_slice(&h.rcookie.0);
    s.handle_datagram(t + Duration::from_secs(2), p, &mm3)
        .unwrap();
    let mm4 = drain(&mut s);
    let (_, payloads) = plain(&mm4[0]);
    let types: Vec<PayloadType> = payloads.iter().map(Payload::ty).collect();
    assert_eq!(
        types,
        [
            PayloadType::Ke,
            PayloadType::Nonce,
            PayloadType::NatD,
            PayloadType::NatD
        ]
    );
    let Payload::Ke(ke) = &payloads[0] else {
        panic!()
    };
    assert_eq!(ke.len(), 256);
}

/// Windows 10/11's first Main Mode message as the documented profile builds it.
fn windows_mm1() -> Vec<u8> {
    let mut client = Endpoint::new(
        Config::default(),
        Box::new(StaticPskStore::wildcard(Psk::new("psk"))),
        Box::new(DeterministicRandom::new(2)),
    );
    client
        .connect(
            now(),
            path(Ipv4Addr::new(10, 0, 0, 7), 500),
            Profile::windows(),
        )
        .unwrap();
    drain(&mut client).remove(0)
}

#[test]
fn windows_first_message_bytes_and_choice() {
    let mm1 = windows_mm1();
    // Byte level: header, one proposal of five transforms, the Windows vendor IDs.
    assert_eq!(&mm1[16..20], &[1, 0x10, 2, 0]);
    let (_, payloads) = plain(&mm1);
    let Payload::Sa(sa) = &payloads[0] else {
        panic!()
    };
    assert_eq!(sa.proposals.len(), 1);
    assert_eq!(sa.proposals[0].transforms.len(), 5);
    for t in &sa.proposals[0].transforms {
        assert_eq!(
            t.attr(Phase1Attr::AuthenticationMethod.value())
                .unwrap()
                .as_u64(),
            Some(u64::from(AuthMethod::PreSharedKey.value()))
        );
        assert_eq!(
            t.attr(Phase1Attr::LifeDuration.value()).unwrap().as_u64(),
            Some(28_800)
        );
    }
    let v = vids(&mm1);
    assert!(
        v.iter()
            .any(|x| x.as_slice()
                == hex::decode("1e2b516905991c7d7c96fcbfb587e46100000009").unwrap())
    );
    assert!(v.contains(&hex::decode("4a131c81070358455c5728f20e95452f").unwrap()));
    assert!(v.contains(&hex::decode("90cb80913ebb696e086381b5ec427b1f").unwrap()));
    assert!(v.contains(&hex::decode("26244d38eddb61b3172a36e3d0cfb819").unwrap()));
    assert!(
        v.iter()
            .any(|x| x.starts_with(&hex::decode("4048b7d56ebce88525e7de7f00d6c2d3").unwrap()))
    );

    let mut s = server(Config::default());
    s.handle_datagram(now(), path(Ipv4Addr::new(203, 0, 113, 9), 500), &mm1)
        .unwrap();
    let out = drain(&mut s);
    assert_eq!(
        chosen(&out[0]),
        (
            IkeEncryption::AesCbc,
            Some(256),
            IkeHash::Sha1,
            DhGroupId::Ecp384
        )
    );
}

/// Android ≤ 11 offers only MODP 1024.
fn android_mm1() -> Vec<u8> {
    let mut p = Profile::linux();
    p.ike = [
        (CipherAlg::Aes256, HashAlg::Sha1),
        (CipherAlg::Aes128, HashAlg::Sha1),
        (CipherAlg::TripleDes, HashAlg::Sha1),
        (CipherAlg::TripleDes, HashAlg::Md5),
    ]
    .into_iter()
    .map(|(cipher, hash)| Phase1Suite {
        cipher,
        hash,
        group: DhGroup::Modp1024,
        lifetime: Duration::from_secs(28_800),
        life_kb: None,
        auth: ike::Phase1Auth::Psk,
    })
    .collect();
    let mut client = Endpoint::new(
        Config::default(),
        Box::new(StaticPskStore::wildcard(Psk::new("psk"))),
        Box::new(DeterministicRandom::new(3)),
    );
    client
        .connect(now(), path(Ipv4Addr::new(10, 0, 0, 8), 500), p)
        .unwrap();
    drain(&mut client).remove(0)
}

#[test]
fn android_modp1024_is_refused_unless_legacy() {
    let mm1 = android_mm1();
    let mut s = server(Config::default());
    let p = path(Ipv4Addr::new(203, 0, 113, 10), 500);
    assert_eq!(
        s.handle_datagram(now(), p, &mm1),
        Err(Error::NoProposalChosen)
    );
    let out = drain(&mut s);
    let (h, payloads) = plain(&out[0]);
    assert_eq!(h.exchange, ExchangeType::Informational);
    assert!(
        matches!(&payloads[0], Payload::Notify(n) if n.notify_type == NotifyType::NoProposalChosen)
    );
    assert_eq!(s.ike_sa_count(), 0);

    let mut s = server(Config {
        legacy: true,
        ..Config::default()
    });
    s.handle_datagram(now(), p, &mm1).unwrap();
    assert_eq!(
        chosen(&drain(&mut s)[0]),
        (
            IkeEncryption::AesCbc,
            Some(256),
            IkeHash::Sha1,
            DhGroupId::Modp1024
        )
    );
}

#[test]
fn windows_peer_behind_nat_server_gets_its_own_nat_d_echoed() {
    // The server is behind a NAT: its local address differs from the one Windows uses.
    let server_local = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 168, 1, 10)), 500);
    let public = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)), 500);
    let client_addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7)), 500);
    let mut client = Endpoint::new(
        Config::default(),
        Box::new(StaticPskStore::wildcard(Psk::new("psk"))),
        Box::new(DeterministicRandom::new(2)),
    );
    let mut s = server(Config::default());
    let t = now();
    client
        .connect(
            t,
            Path {
                local: client_addr,
                remote: public,
            },
            Profile::windows(),
        )
        .unwrap();
    let sp = Path {
        local: server_local,
        remote: client_addr,
    };
    let cp = Path {
        local: client_addr,
        remote: public,
    };
    let mm1 = drain(&mut client).remove(0);
    s.handle_datagram(t, sp, &mm1).unwrap();
    let mm2 = drain(&mut s).remove(0);
    client.handle_datagram(t, cp, &mm2).unwrap();
    let mm3 = drain(&mut client).remove(0);
    s.handle_datagram(t, sp, &mm3).unwrap();
    let mm4 = drain(&mut s).remove(0);
    let natd = |b: &[u8]| -> Vec<Vec<u8>> {
        plain(b)
            .1
            .into_iter()
            .filter_map(|p| match p {
                Payload::NatD { hash, .. } => Some(hash),
                _ => None,
            })
            .collect()
    };
    let (theirs, ours) = (natd(&mm3), natd(&mm4));
    assert_eq!(ours.len(), 2);
    // Our second NAT-D (our own address) repeats Windows' first (what it sent to).
    assert_eq!(ours[1], theirs[0]);
    // The NAT-D about Windows never matches: it floats to 4500 (force_encapsulation).
    assert_ne!(ours[0], theirs[1]);

    // A non-Windows peer gets the honest hash of our local address instead.
    let mut s = server(Config::default());
    let mut client = Endpoint::new(
        Config::default(),
        Box::new(StaticPskStore::wildcard(Psk::new("psk"))),
        Box::new(DeterministicRandom::new(2)),
    );
    client.connect(t, cp, Profile::linux()).unwrap();
    let mm1 = drain(&mut client).remove(0);
    s.handle_datagram(t, sp, &mm1).unwrap();
    client
        .handle_datagram(t, cp, &drain(&mut s).remove(0))
        .unwrap();
    let mm3 = drain(&mut client).remove(0);
    s.handle_datagram(t, sp, &mm3).unwrap();
    let ours = natd(&drain(&mut s).remove(0));
    assert_ne!(ours[1], natd(&mm3)[0]);
}

#[test]
fn malformed_first_messages_are_typed_errors_without_state() {
    let mut s = server(Config::default());
    let p = path(Ipv4Addr::new(198, 51, 100, 2), 500);
    let mm1 = captured(0);
    // Truncated.
    assert!(matches!(
        s.handle_datagram(now(), p, &mm1[..100]),
        Err(Error::Decode(_))
    ));
    // A payload chain longer than the message.
    let mut b = mm1.clone();
    b[28 + 2] = 0x7f;
    assert!(matches!(
        s.handle_datagram(now(), p, &b),
        Err(Error::Decode(_))
    ));
    // An unknown payload type after the SA (the first VID's type byte in the SA header).
    let mut b = mm1.clone();
    b[28] = 99;
    assert_eq!(
        s.handle_datagram(now(), p, &b),
        Err(Error::InvalidPayloadType(PayloadType::from(99)))
    );
    assert_eq!(
        Error::InvalidPayloadType(PayloadType::from(99)).notify(),
        Some(NotifyType::InvalidPayloadType)
    );
    // IKEv2.
    let mut b = mm1.clone();
    b[17] = 0x20;
    assert!(matches!(
        s.handle_datagram(now(), p, &b),
        Err(Error::Decode(_))
    ));
    // A first message with a message ID.
    let mut b = mm1.clone();
    b[23] = 1;
    assert!(s.handle_datagram(now(), p, &b).is_err());
    // Messages for unknown SAs.
    let mut b = captured(2);
    b[8] ^= 0xff;
    assert_eq!(s.handle_datagram(now(), p, &b), Err(Error::UnknownSa));
    assert_eq!(s.ike_sa_count(), 0);
    assert!(drain(&mut s).is_empty());
    assert_eq!(s.stats().decode_errors, 4);
    assert_eq!(s.stats().unknown_sa, 1);
}

#[test]
fn bad_key_exchange_ends_the_exchange() {
    let mut s = server(Config::default());
    let t = now();
    let p = path(Ipv4Addr::new(198, 51, 100, 2), 500);
    let mut mm3 = captured(2);
    let (hdr, payloads) = plain(&mm3);
    let encode = |payloads: Vec<Payload>| {
        let mut b = Vec::new();
        Message {
            header: hdr,
            body: Body::Plain(payloads),
        }
        .encode(&mut b);
        b
    };
    // KE of the wrong length.
    let mut short = payloads.clone();
    if let Payload::Ke(k) = &mut short[0] {
        k.pop();
    }
    // g^x = 1.
    let mut one = payloads.clone();
    if let Payload::Ke(k) = &mut one[0] {
        k.iter_mut().for_each(|x| *x = 0);
        *k.last_mut().unwrap() = 1;
    }
    for (bad, expected) in [
        (short, Error::PeerMisbehaved(PeerMisbehaved::BadKeLength)),
        (
            one,
            Error::InvalidKeyInformation(ike::crypto::CryptoError::InvalidPublicValue),
        ),
    ] {
        s.handle_datagram(t, p, &captured(0)).unwrap();
        let (h, _) = plain(&drain(&mut s)[0]);
        let mut b = encode(bad);
        b[8..16].copy_from_slice(&h.rcookie.0);
        // Refused, nothing sent, and the exchange is gone: the genuine third message
        // (or a replay) now meets an unknown SA.
        assert_eq!(s.handle_datagram(t, p, &b), Err(expected));
        assert!(drain(&mut s).is_empty());
        assert_eq!(s.ike_sa_count(), 0);
        mm3[8..16].copy_from_slice(&h.rcookie.0);
        assert_eq!(s.handle_datagram(t, p, &b), Err(Error::UnknownSa));
        assert_eq!(s.handle_datagram(t, p, &mm3), Err(Error::UnknownSa));
        assert!(drain(&mut s).is_empty());
    }
    // A new first message (its retransmission gets the same responder cookie) and the
    // genuine third message complete the step.
    s.handle_datagram(t, p, &captured(0)).unwrap();
    let (h, _) = plain(&drain(&mut s)[0]);
    assert_eq!(mm3[8..16], h.rcookie.0);
    s.handle_datagram(t, p, &mm3).unwrap();
    assert_eq!(drain(&mut s).len(), 1);
}

#[test]
fn half_open_and_rate_limits_apply_before_any_dh() {
    let cfg = Config {
        limits: ike::Limits {
            half_open: 3,
            new_per_source_per_second: 100,
            ..ike::Limits::default()
        },
        ..Config::default()
    };
    let mut s = server(cfg);
    let t = now();
    let mm1 = captured(0);
    let p = path(Ipv4Addr::new(198, 51, 100, 2), 500);
    // First messages cost no DH and prove nothing: all answered, none counted.
    let mut rcookies = Vec::new();
    for i in 0..5u8 {
        let mut b = mm1.clone();
        b[0] = i;
        s.handle_datagram(t, p, &b).unwrap();
        rcookies.push(plain(&drain(&mut s)[0]).0.rcookie);
    }
    assert_eq!(s.ike_sa_count(), 5);
    // The third messages prove the address; the limit applies to them, before any DH.
    for (i, rcookie) in rcookies.iter().enumerate() {
        let mut b = captured(2);
        b[0] = i as u8;
        b[8..16].copy_from_slice(&rcookie.0);
        let r = s.handle_datagram(t, p, &b);
        assert_eq!(r.is_ok(), i < 3, "{i}: {r:?}");
    }
    assert_eq!(drain(&mut s).len(), 3);
    assert_eq!(s.stats().limited, 2);
    // Half-open SAs expire.
    s.handle_timeout(t + Duration::from_secs(31));
    assert_eq!(s.ike_sa_count(), 0);
    assert_eq!(s.poll_timeout(), None);
    // Rate limit per source.
    let cfg = Config {
        limits: ike::Limits {
            new_per_source_per_second: 2,
            ..ike::Limits::default()
        },
        ..Config::default()
    };
    let mut s = server(cfg);
    let ok = (0..4u8)
        .filter(|i| {
            let mut b = mm1.clone();
            b[0] = *i;
            s.handle_datagram(t, path(Ipv4Addr::new(198, 51, 100, 2), 500), &b)
                .is_ok()
        })
        .count();
    assert_eq!(ok, 2);
    let _ = SaPayload::decode;
}
