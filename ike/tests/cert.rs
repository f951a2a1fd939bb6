//! X.509 authentication: the IKEv1 signature encoding against openssl's output, chain
//! verification with every rejection case, and Main Mode pairs (RSA-2048, ECDSA P-256
//! and P-384, chains of depth 2) on a virtual clock.
//!
//! Fixtures: `tests/fixtures/` (made once by `generate.py`); validity is judged at
//! 2027-01-01T00:00:00Z.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code"
)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ike::msgs::{IdPayload, IdType};
use ike::phase1::cert::{CertError, Certificates, Identity, KeyKind, PrivateKey};
use ike::{
    AuthPolicy, Config, DownReason, Endpoint, Event, NotifyType, Path, Profile, Psk,
    StaticPskStore, WallClock,
};
use wire::random::DeterministicRandom;

const UNIX: i64 = 1_798_761_600;

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!("fixtures/", $name)).as_slice()
    };
}

fn kat(name: &str) -> Vec<u8> {
    let text = include_str!("fixtures/kat.txt");
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .unwrap();
    hex::decode(line.split_once(' ').unwrap().1).unwrap()
}

fn der(pem: &[u8]) -> Vec<u8> {
    ike::phase1::cert::certs_from_pem(pem).unwrap().remove(0)
}

fn trust() -> Certificates {
    let mut c = Certificates::new();
    c.add_ca_pem(fixture!("ca.pem")).unwrap();
    c
}

fn dn_id(cert_pem: &[u8]) -> IdPayload {
    use x509_parser::prelude::FromDer as _;
    let d = der(cert_pem);
    let (_, c) = x509_parser::certificate::X509Certificate::from_der(&d).unwrap();
    IdPayload {
        id_type: IdType::DerAsn1Dn,
        protocol: 0,
        port: 0,
        data: c.subject().as_raw().to_vec(),
    }
}

fn alice_fqdn() -> IdPayload {
    IdPayload {
        id_type: IdType::Fqdn,
        protocol: 0,
        port: 0,
        data: b"alice.example.com".to_vec(),
    }
}

fn verify(certs: &Certificates, chain: &[&[u8]], id: &IdPayload) -> Result<KeyKind, CertError> {
    let ders: Vec<Vec<u8>> = chain.iter().map(|p| der(p)).collect();
    let refs: Vec<&[u8]> = ders.iter().map(Vec::as_slice).collect();
    certs.verify_peer(&refs, id, UNIX).map(|p| p.key.kind())
}

// ---------------------------------------------------------------------------------------
// The IKEv1 signature encoding, against openssl.

#[test]
fn rsa_signature_is_pkcs1_v15_without_digestinfo_as_openssl_pkeyutl() {
    let key = PrivateKey::from_pem(fixture!("client-rsa.key")).unwrap();
    let hash: Vec<u8> = (1..=20).collect();
    let mut rng = DeterministicRandom::new(1);
    let sig = key.sign_ike(&hash, &mut rng).unwrap();
    // PKCS#1 v1.5 is deterministic: the exact bytes openssl produced.
    assert_eq!(sig, kat("rsa_hash20"));
    // And the verifying side accepts it and nothing else.
    let peer = trust()
        .verify_peer(
            &[
                &der(fixture!("client-rsa.pem")),
                &der(fixture!("inter.pem")),
            ],
            &alice_fqdn(),
            UNIX,
        )
        .unwrap();
    assert!(peer.key.verify_ike(&hash, &sig));
    let mut bad = sig.clone();
    bad[10] ^= 1;
    assert!(!peer.key.verify_ike(&hash, &bad));
    assert!(!peer.key.verify_ike(&hash[..19], &sig));
}

#[test]
fn ecdsa_signatures_are_raw_digest_r_s_as_openssl_makes_them() {
    let t = trust();
    let inter = der(fixture!("inter.pem"));
    for (cert, kat_name, hash, width) in [
        (
            fixture!("client-p256.pem"),
            "p256_hash32",
            (0x20..0x40).collect::<Vec<u8>>(),
            32,
        ),
        // A 20-byte (SHA-1 PRF) HASH_I on P-384: shorter than the field.
        (
            fixture!("client-p384.pem"),
            "p384_hash20",
            (1..=20).collect(),
            48,
        ),
        // P-521 (method 11): a SHA-256-sized HASH_I, 66-byte r and s.
        (
            fixture!("client-p521.pem"),
            "p521_hash32",
            (0x20..0x40).collect(),
            66,
        ),
    ] {
        let peer = t
            .verify_peer(&[&der(cert), &inter], &alice_fqdn(), UNIX)
            .unwrap();
        let sig = kat(kat_name);
        assert_eq!(sig.len(), 2 * width);
        assert!(peer.key.verify_ike(&hash, &sig), "{kat_name}");
        let mut bad = sig.clone();
        bad[5] ^= 1;
        assert!(!peer.key.verify_ike(&hash, &bad));
    }
    // Our own signatures: r ‖ s at the curve's width, verified by the public key.
    for (key, cert, width) in [
        (fixture!("client-p256.key"), fixture!("client-p256.pem"), 32),
        (fixture!("client-p384.key"), fixture!("client-p384.pem"), 48),
        (fixture!("client-p521.key"), fixture!("client-p521.pem"), 66),
    ] {
        let k = PrivateKey::from_pem(key).unwrap();
        let peer = t
            .verify_peer(&[&der(cert), &inter], &alice_fqdn(), UNIX)
            .unwrap();
        for len in [16, 20, 32, 48, 64] {
            let hash = vec![0xa5; len];
            let sig = k.sign_ike(&hash, &mut DeterministicRandom::new(2)).unwrap();
            assert_eq!(sig.len(), 2 * width);
            assert!(peer.key.verify_ike(&hash, &sig));
        }
    }
}

// ---------------------------------------------------------------------------------------
// Chain verification.

#[test]
fn good_chains_of_depth_one_and_two_with_every_signature_algorithm() {
    let t = trust();
    let inter = fixture!("inter.pem");
    // Leaf ← P-384 intermediate (ecdsa-with-SHA384) ← RSA root (sha384WithRSA).
    assert_eq!(
        verify(&t, &[fixture!("client-rsa.pem"), inter], &alice_fqdn()),
        Ok(KeyKind::Rsa)
    );
    assert_eq!(
        verify(&t, &[fixture!("client-p256.pem"), inter], &alice_fqdn()),
        Ok(KeyKind::EcdsaP256)
    );
    // The order of the CERT payloads does not matter.
    assert_eq!(
        verify(&t, &[inter, fixture!("client-p384.pem")], &alice_fqdn()),
        Ok(KeyKind::EcdsaP384)
    );
    assert_eq!(
        verify(&t, &[fixture!("client-p521.pem"), inter], &alice_fqdn()),
        Ok(KeyKind::EcdsaP521)
    );
    // Issued by the root directly with sha1WithRSA and sha512WithRSA.
    assert_eq!(
        verify(&t, &[fixture!("client-rsa-sha1.pem")], &alice_fqdn()),
        Ok(KeyKind::Rsa)
    );
    assert_eq!(
        verify(&t, &[fixture!("client-rsa-sha512.pem")], &alice_fqdn()),
        Ok(KeyKind::Rsa)
    );
    // The root also signs with sha256WithRSA (itself): trusting the intermediate alone.
    let mut only_inter = Certificates::new();
    only_inter.add_ca_pem(inter).unwrap();
    assert_eq!(
        verify(&only_inter, &[fixture!("client-p256.pem")], &alice_fqdn()),
        Ok(KeyKind::EcdsaP256)
    );
}

#[test]
fn every_rejection_reason() {
    let t = trust();
    let inter = fixture!("inter.pem");
    let id = alice_fqdn();
    let cases: [(&[&[u8]], CertError); 8] = [
        (&[fixture!("client-expired.pem"), inter], CertError::Expired),
        (
            &[fixture!("client-notyet.pem"), inter],
            CertError::NotYetValid,
        ),
        (&[fixture!("client-otherca.pem")], CertError::UnknownCa),
        // The intermediate is missing.
        (&[fixture!("client-p256.pem")], CertError::UnknownCa),
        // Names the intermediate as issuer, signed by another key.
        (
            &[fixture!("client-forged.pem"), inter],
            CertError::BadSignature,
        ),
        (&[fixture!("client-keyenc.pem"), inter], CertError::KeyUsage),
        // A leaf of the other CA with our intermediate does not help.
        (
            &[fixture!("client-otherca.pem"), inter],
            CertError::UnknownCa,
        ),
        (&[], CertError::NoCertificate),
    ];
    for (chain, want) in cases {
        assert_eq!(verify(&t, chain, &id), Err(want), "{want:?}");
    }
    // Revoked: only with the CRL (signed by the intermediate).
    let revoked: &[&[u8]] = &[fixture!("client-revoked.pem"), inter];
    assert_eq!(verify(&t, revoked, &id), Ok(KeyKind::EcdsaP256));
    let mut with_crl = trust();
    with_crl.add_crl(fixture!("inter.crl.pem")).unwrap();
    assert_eq!(verify(&with_crl, revoked, &id), Err(CertError::Revoked));
    // The CRL does not touch other certificates.
    assert_eq!(
        verify(&with_crl, &[fixture!("client-p256.pem"), inter], &id),
        Ok(KeyKind::EcdsaP256)
    );
    // Bounds: chain depth, certificate count, certificate size, garbage.
    let mut shallow = trust();
    shallow.limits.max_intermediates = 0;
    assert_eq!(
        verify(&shallow, &[fixture!("client-p256.pem"), inter], &id),
        Err(CertError::ChainTooLong)
    );
    let mut few = trust();
    few.limits.max_cert_payloads = 1;
    assert_eq!(
        verify(&few, &[fixture!("client-p256.pem"), inter], &id),
        Err(CertError::TooManyCertificates)
    );
    let mut small = trust();
    small.limits.max_cert_len = 300;
    assert_eq!(
        verify(&small, &[fixture!("client-p256.pem"), inter], &id),
        Err(CertError::CertificateTooLarge)
    );
    let leaf = der(fixture!("client-p256.pem"));
    let mut trailing = leaf.clone();
    trailing.push(0);
    for bad in [
        &leaf[..leaf.len() - 1],
        &trailing[..],
        &[0x30, 0x03, 1, 2, 3][..],
    ] {
        assert_eq!(
            t.verify_peer(&[bad], &id, UNIX).map(|p| p.key.kind()),
            Err(CertError::Malformed)
        );
    }
    // The CA itself is expired at a later time, the leaf not yet valid earlier.
    let ders = [der(fixture!("client-p256.pem")), der(inter)];
    let refs: Vec<&[u8]> = ders.iter().map(Vec::as_slice).collect();
    assert_eq!(
        t.verify_peer(&refs, &id, 2_400_000_000)
            .map(|p| p.key.kind()),
        Err(CertError::Expired)
    );
    assert_eq!(
        t.verify_peer(&refs, &id, 1_600_000_000)
            .map(|p| p.key.kind()),
        Err(CertError::NotYetValid)
    );
}

#[test]
fn id_payload_must_name_the_certificate() {
    let t = trust();
    let chain: &[&[u8]] = &[fixture!("client-rsa.pem"), fixture!("inter.pem")];
    let id = |id_type, data: &[u8]| IdPayload {
        id_type,
        protocol: 0,
        port: 0,
        data: data.to_vec(),
    };
    for good in [
        dn_id(fixture!("client-rsa.pem")),
        id(IdType::Fqdn, b"ALICE.example.com"),
        id(IdType::UserFqdn, b"alice@example.com"),
        id(IdType::Ipv4Addr, &[192, 0, 2, 100]),
    ] {
        assert_eq!(verify(&t, chain, &good), Ok(KeyKind::Rsa), "{good:?}");
    }
    for bad in [
        dn_id(fixture!("server-rsa.pem")),
        id(IdType::Fqdn, b"vpn.example.com"),
        id(IdType::UserFqdn, b"bob@example.com"),
        id(IdType::Ipv4Addr, &[192, 0, 2, 1]),
        id(IdType::KeyId, b"alice"),
    ] {
        assert_eq!(
            verify(&t, chain, &bad),
            Err(CertError::IdMismatch),
            "{bad:?}"
        );
    }
}

#[test]
fn loading_refuses_mismatched_keys_and_non_ca_anchors() {
    let e =
        Identity::from_pem(fixture!("client-rsa.pem"), fixture!("client-p256.key")).unwrap_err();
    assert!(e.0.contains("does not belong"), "{e}");
    let e = Certificates::new()
        .add_ca_pem(fixture!("client-rsa.pem"))
        .unwrap_err();
    assert!(e.0.contains("not a CA"), "{e}");
    assert!(PrivateKey::from_pem(b"nothing here").is_err());
    assert!(
        Certificates::new()
            .add_crl(b"-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n")
            .is_err()
    );
    let id = Identity::from_pem(
        &[fixture!("server-p256.pem"), fixture!("inter.pem")].concat(),
        fixture!("server-p256.key"),
    )
    .unwrap();
    assert_eq!(id.kind(), KeyKind::EcdsaP256);
    assert!(format!("{:?}", id.key()).contains("redacted"));
}

// ---------------------------------------------------------------------------------------
// Main Mode pairs.

const SERVER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const CLIENT: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 7);

struct Pair {
    now: Instant,
    client: Endpoint,
    server: Endpoint,
    client_events: Vec<Event>,
    server_events: Vec<Event>,
}

fn identity(cert: &[u8], key: &[u8]) -> Identity {
    Identity::from_pem(&[cert, fixture!("inter.pem")].concat(), key).unwrap()
}

fn certs_with(identities: Vec<Identity>) -> Certificates {
    let mut c = trust();
    for i in identities {
        c.add_identity(i);
    }
    c
}

fn server_identities() -> Vec<Identity> {
    vec![
        identity(fixture!("server-rsa.pem"), fixture!("server-rsa.key")),
        identity(fixture!("server-p256.pem"), fixture!("server-p256.key")),
        identity(fixture!("server-p384.pem"), fixture!("server-p384.key")),
        identity(fixture!("server-p521.pem"), fixture!("server-p521.key")),
    ]
}

fn config(certs: Certificates, now: Instant) -> Config {
    Config {
        certificates: Some(Arc::new(certs)),
        wall_clock: Some(WallClock {
            at: now,
            unix_secs: UNIX,
        }),
        ..Config::default()
    }
}

impl Pair {
    fn new(server: impl FnOnce(Instant) -> Config, client: impl FnOnce(Instant) -> Config) -> Self {
        #[allow(clippy::disallowed_methods, reason = "the virtual clock's base")]
        let now = Instant::now();
        let psk = || Box::new(StaticPskStore::wildcard(Psk::new("psk")));
        Self {
            now,
            server: Endpoint::new(server(now), psk(), Box::new(DeterministicRandom::new(1))),
            client: Endpoint::new(client(now), psk(), Box::new(DeterministicRandom::new(2))),
            client_events: Vec::new(),
            server_events: Vec::new(),
        }
    }

    fn path() -> Path {
        Path {
            local: SocketAddr::new(IpAddr::V4(CLIENT), 500),
            remote: SocketAddr::new(IpAddr::V4(SERVER), 500),
        }
    }

    fn connect(&mut self, profile: Profile) -> Result<(), ike::Error> {
        self.client
            .connect(self.now, Self::path(), profile)
            .map(|_| ())
    }

    fn run(&mut self) {
        let end = self.now + Duration::from_secs(120);
        loop {
            let mut moved = false;
            let mut buf = Vec::new();
            while let Some(t) = self.client.poll_transmit(&mut buf) {
                moved = true;
                self.now += Duration::from_millis(5);
                let p = Path {
                    local: t.path.remote,
                    remote: t.path.local,
                };
                if buf != [0xff] {
                    let _ = self.server.handle_datagram(self.now, p, &buf);
                }
                buf.clear();
            }
            while let Some(t) = self.server.poll_transmit(&mut buf) {
                moved = true;
                self.now += Duration::from_millis(5);
                let p = Path {
                    local: t.path.remote,
                    remote: t.path.local,
                };
                let _ = self.client.handle_datagram(self.now, p, &buf);
                buf.clear();
            }
            while let Some(e) = self.client.poll_event() {
                self.client_events.push(e);
            }
            while let Some(e) = self.server.poll_event() {
                self.server_events.push(e);
            }
            if moved {
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

    fn children_up(events: &[Event]) -> usize {
        events
            .iter()
            .filter(|e| matches!(e, Event::ChildSaUp(_)))
            .count()
    }

    fn peer_id(events: &[Event]) -> Option<IdPayload> {
        events.iter().find_map(|e| match e {
            Event::IkeSaUp { peer_id, .. } => Some(peer_id.clone()),
            _ => None,
        })
    }
}

fn cert_profile(kind: KeyKind) -> Profile {
    Profile::linux().with_certificate(kind)
}

#[test]
fn main_mode_with_rsa_p256_p384_and_p521_certificates_and_depth_two_chains() {
    for (cert, key, kind) in [
        (
            fixture!("client-rsa.pem"),
            fixture!("client-rsa.key"),
            KeyKind::Rsa,
        ),
        (
            fixture!("client-p256.pem"),
            fixture!("client-p256.key"),
            KeyKind::EcdsaP256,
        ),
        (
            fixture!("client-p384.pem"),
            fixture!("client-p384.key"),
            KeyKind::EcdsaP384,
        ),
        (
            fixture!("client-p521.pem"),
            fixture!("client-p521.key"),
            KeyKind::EcdsaP521,
        ),
    ] {
        let mut pair = Pair::new(
            |now| config(certs_with(server_identities()), now),
            |now| config(certs_with(vec![identity(cert, key)]), now),
        );
        pair.connect(cert_profile(kind)).unwrap();
        pair.run();
        assert_eq!(Pair::children_up(&pair.client_events), 1, "{kind:?}");
        assert_eq!(Pair::children_up(&pair.server_events), 1, "{kind:?}");
        // Each side saw the other's DN as ID.
        assert_eq!(
            Pair::peer_id(&pair.server_events),
            Some(dn_id(cert)),
            "{kind:?}"
        );
        let server_cert = match kind {
            KeyKind::Rsa => fixture!("server-rsa.pem"),
            KeyKind::EcdsaP256 => fixture!("server-p256.pem"),
            KeyKind::EcdsaP384 => fixture!("server-p384.pem"),
            KeyKind::EcdsaP521 => fixture!("server-p521.pem"),
        };
        assert_eq!(Pair::peer_id(&pair.client_events), Some(dn_id(server_cert)));
        assert_eq!(pair.server.stats().cert_failures, 0);
    }
}

#[test]
fn certificates_and_psk_side_by_side_and_per_peer_policy() {
    // Both enabled on the server: a PSK client and a certificate client.
    let both = |now| config(certs_with(server_identities()), now);
    let client_cert = |now| {
        config(
            certs_with(vec![identity(
                fixture!("client-p256.pem"),
                fixture!("client-p256.key"),
            )]),
            now,
        )
    };
    let mut pair = Pair::new(both, |_| Config::default());
    pair.connect(Profile::linux()).unwrap();
    pair.run();
    assert_eq!(Pair::children_up(&pair.server_events), 1);
    let mut pair = Pair::new(both, client_cert);
    pair.connect(cert_profile(KeyKind::EcdsaP256)).unwrap();
    pair.run();
    assert_eq!(Pair::children_up(&pair.server_events), 1);

    // Certificates only: the PSK client gets NO-PROPOSAL-CHOSEN.
    let cert_only = |now| Config {
        auth: AuthPolicy {
            psk: false,
            certificates: true,
        },
        ..config(certs_with(server_identities()), now)
    };
    let mut pair = Pair::new(cert_only, |_| Config::default());
    pair.connect(Profile::linux()).unwrap();
    pair.run();
    assert_eq!(Pair::children_up(&pair.server_events), 0);
    assert_eq!(pair.server.stats().no_proposal_chosen, 1);

    // PSK only for this peer's address: the certificate client is refused.
    let psk_for_client = |now| {
        let mut c = config(certs_with(server_identities()), now);
        c.auth_by_addr.insert(
            IpAddr::V4(CLIENT),
            AuthPolicy {
                psk: true,
                certificates: false,
            },
        );
        c
    };
    let mut pair = Pair::new(psk_for_client, client_cert);
    pair.connect(cert_profile(KeyKind::EcdsaP256)).unwrap();
    pair.run();
    assert_eq!(Pair::children_up(&pair.server_events), 0);
    assert_eq!(pair.server.stats().no_proposal_chosen, 1);

    // A server without an ECDSA certificate refuses ECDSA, accepts RSA.
    let rsa_only = |now| {
        config(
            certs_with(vec![identity(
                fixture!("server-rsa.pem"),
                fixture!("server-rsa.key"),
            )]),
            now,
        )
    };
    let mut pair = Pair::new(rsa_only, client_cert);
    pair.connect(cert_profile(KeyKind::EcdsaP256)).unwrap();
    pair.run();
    assert_eq!(Pair::children_up(&pair.server_events), 0);

    // A client without a certificate cannot start a certificate profile.
    let mut pair = Pair::new(both, |_| Config::default());
    assert_eq!(
        pair.connect(cert_profile(KeyKind::Rsa)),
        Err(ike::Error::Certificate(CertError::NoIdentity))
    );
}

fn assert_refused_by_server(pair: &Pair, reason: &str) {
    assert_eq!(Pair::children_up(&pair.server_events), 0, "{reason}");
    assert_eq!(Pair::children_up(&pair.client_events), 0, "{reason}");
    assert!(
        !pair
            .server_events
            .iter()
            .any(|e| matches!(e, Event::IkeSaUp { .. })),
        "{reason}"
    );
    assert_eq!(pair.server.stats().cert_failures, 1, "{reason}");
    assert_eq!(pair.server.stats().auth_failures, 1, "{reason}");
    assert_eq!(pair.server.ike_sa_count(), 0, "{reason}");
    // The client was told AUTHENTICATION-FAILED.
    assert!(
        pair.client_events.iter().any(|e| matches!(
            e,
            Event::IkeSaDown {
                reason: DownReason::Refused(NotifyType::AuthenticationFailed),
                ..
            }
        )),
        "{reason}: {:?}",
        pair.client_events
    );
}

#[test]
fn server_refuses_bad_client_certificates_with_authentication_failed() {
    for (cert, key, crl, why) in [
        (
            fixture!("client-expired.pem"),
            fixture!("client-expired.key"),
            false,
            "expired",
        ),
        (
            fixture!("client-revoked.pem"),
            fixture!("client-revoked.key"),
            true,
            "revoked",
        ),
        (
            fixture!("client-otherca.pem"),
            fixture!("client-otherca.key"),
            false,
            "other CA",
        ),
        (
            fixture!("client-forged.pem"),
            fixture!("client-forged.key"),
            false,
            "forged",
        ),
    ] {
        let mut pair = Pair::new(
            |now| {
                let mut c = certs_with(server_identities());
                if crl {
                    c.add_crl(fixture!("inter.crl.pem")).unwrap();
                }
                config(c, now)
            },
            |now| {
                // The client's own chain is loaded without checks of trust or time.
                let mut c = trust();
                c.add_identity(identity(cert, key));
                config(c, now)
            },
        );
        pair.connect(cert_profile(KeyKind::EcdsaP256)).unwrap();
        pair.run();
        assert_refused_by_server(&pair, why);
    }
}

#[test]
fn server_without_wall_clock_refuses_certificates() {
    let mut pair = Pair::new(
        |now| Config {
            wall_clock: None,
            ..config(certs_with(server_identities()), now)
        },
        |now| {
            config(
                certs_with(vec![identity(
                    fixture!("client-rsa.pem"),
                    fixture!("client-rsa.key"),
                )]),
                now,
            )
        },
    );
    pair.connect(cert_profile(KeyKind::Rsa)).unwrap();
    pair.run();
    assert_refused_by_server(&pair, "no clock");
}

#[test]
fn client_refuses_a_server_certificate_from_another_ca() {
    let mut pair = Pair::new(
        |now| {
            // The server trusts our root (so the client passes) but presents a
            // certificate the client cannot chain: its intermediate is left out and
            // the client trusts only the other CA.
            let mut c = trust();
            c.add_identity(
                Identity::from_pem(fixture!("server-rsa.pem"), fixture!("server-rsa.key")).unwrap(),
            );
            config(c, now)
        },
        |now| {
            let mut c = Certificates::new();
            c.add_ca_pem(fixture!("other-ca.pem")).unwrap();
            c.add_identity(identity(
                fixture!("client-rsa.pem"),
                fixture!("client-rsa.key"),
            ));
            config(c, now)
        },
    );
    pair.connect(cert_profile(KeyKind::Rsa)).unwrap();
    pair.run();
    assert_eq!(Pair::children_up(&pair.client_events), 0);
    assert_eq!(pair.client.stats().cert_failures, 1);
    assert!(pair.client_events.iter().any(|e| matches!(
        e,
        Event::IkeSaDown {
            reason: DownReason::AuthenticationFailed,
            ..
        }
    )));
    assert_eq!(pair.client.ike_sa_count(), 0);
}
