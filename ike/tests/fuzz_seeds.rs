//! Writes seeds for the fuzz targets `ike_initiator` and `ike_cert_main_mode`: whole
//! no-security exchanges in each target's input format, made against endpoints built as
//! the targets build theirs (same provider, keys, RNG seeds and certificates).
//!
//! `IKE_CORPUS=fuzz/corpus cargo test -p ike --test fuzz_seeds -- --ignored`
//! (run from the repository root). Without `IKE_CORPUS` nothing is written.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code"
)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ike::crypto::DhGroup;
use ike::{
    Certificates, Config, Endpoint, Event, Identity, KeyKind, Path, Profile, Psk, StaticPskStore,
    WallClock,
};
use wire::random::DeterministicRandom;

const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
const SERVER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const UNIX: i64 = 1_798_761_600;

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!("fixtures/", $name)).as_slice()
    };
}

fn no_security() -> Config {
    Config {
        provider: &ike::fuzzing::PROVIDER,
        legacy: true,
        ..Config::default()
    }
}

fn endpoint(cfg: Config, seed: u64) -> Endpoint {
    Endpoint::new(
        cfg,
        Box::new(StaticPskStore::wildcard(Psk::new("fuzz"))),
        Box::new(DeterministicRandom::new(seed)),
    )
}

fn identity(cert: &[u8], key: &[u8]) -> Identity {
    Identity::from_pem(&[cert, fixture!("inter.pem")].concat(), key).unwrap()
}

fn trust() -> Certificates {
    let mut c = Certificates::new();
    c.add_ca_pem(fixture!("ca.pem")).unwrap();
    c.add_crl(fixture!("inter.crl.pem")).unwrap();
    c
}

/// One record of the targets' format: [control][u16 length][message].
fn record(seed: &mut Vec<u8>, ctl: u8, msg: &[u8]) {
    seed.push(ctl);
    seed.extend_from_slice(&u16::try_from(msg.len()).unwrap().to_be_bytes());
    seed.extend_from_slice(msg);
}

/// Runs the exchange to its end; `to_server` and `to_client` see every datagram (with
/// the port it was sent to) before it is delivered.
fn run(
    now: &mut Instant,
    client: &mut Endpoint,
    server: &mut Endpoint,
    mut to_server: impl FnMut(u16, &[u8]),
    mut to_client: impl FnMut(u16, &[u8]),
) -> usize {
    let mut children = 0;
    let mut buf = Vec::new();
    for _ in 0..16 {
        while let Some(t) = client.poll_transmit(&mut buf) {
            *now += Duration::from_millis(5);
            if buf != [0xff] {
                to_server(t.path.remote.port(), &buf);
                let p = Path {
                    local: t.path.remote,
                    remote: t.path.local,
                };
                let _ = server.handle_datagram(*now, p, &buf);
            }
            buf.clear();
        }
        while let Some(t) = server.poll_transmit(&mut buf) {
            *now += Duration::from_millis(5);
            to_client(t.path.remote.port(), &buf);
            let p = Path {
                local: t.path.remote,
                remote: t.path.local,
            };
            let _ = client.handle_datagram(*now, p, &buf);
            buf.clear();
        }
        while let Some(e) = server.poll_event() {
            children += usize::from(matches!(e, Event::ChildSaUp(_)));
        }
        while client.poll_event().is_some() {}
    }
    children
}

fn write(name: &str, file: &str, bytes: &[u8]) {
    let dir = std::env::var("IKE_CORPUS").unwrap();
    std::fs::create_dir_all(format!("{dir}/{name}")).unwrap();
    std::fs::write(format!("{dir}/{name}/{file}"), bytes).unwrap();
}

#[test]
#[ignore = "writes files for the fuzz corpus"]
fn write_initiator_seeds() {
    if std::env::var("IKE_CORPUS").is_err() {
        return;
    }
    let mut pfs = Profile::linux();
    pfs.pfs = Some(DhGroup::Modp2048);
    // The target's profile byte: 0 linux, 1 windows, 2 ios, 3 linux with PFS.
    for (sel, name, profile) in [
        (0u8, "linux", Profile::linux()),
        (1, "windows", Profile::windows()),
        (2, "ios", Profile::ios()),
        (3, "linux-pfs", pfs),
    ] {
        #[allow(clippy::disallowed_methods, reason = "the virtual clock's base")]
        let mut now = Instant::now();
        let mut server = endpoint(no_security(), 0);
        let mut client = endpoint(
            Config {
                dpd_interval: Some(Duration::from_secs(10)),
                ..no_security()
            },
            9,
        );
        let path = Path {
            local: SocketAddr::new(IpAddr::V4(CLIENT), 500),
            remote: SocketAddr::new(IpAddr::V4(SERVER), 500),
        };
        client.connect(now, path, profile).unwrap();
        let mut seed = vec![sel];
        let children = run(
            &mut now,
            &mut client,
            &mut server,
            |_, _| {},
            // Copy cookies and message ID from our last message, so mutations keep them.
            |port, m| record(&mut seed, u8::from(port == 4500) | 0x0c, m),
        );
        assert_eq!(children, 1, "{name}");
        // Then the commands: DPD, delete the ESP SA, close.
        for cmd in [0x80, 0xa0, 0x90] {
            record(&mut seed, cmd, &[]);
        }
        write("ike_initiator", &format!("exchange-{name}"), &seed);
    }
}

#[test]
#[ignore = "writes files for the fuzz corpus"]
fn write_cert_main_mode_seeds() {
    if std::env::var("IKE_CORPUS").is_err() {
        return;
    }
    for (name, cert, key, kind) in [
        (
            "rsa",
            fixture!("client-rsa.pem"),
            fixture!("client-rsa.key"),
            KeyKind::Rsa,
        ),
        (
            "p256",
            fixture!("client-p256.pem"),
            fixture!("client-p256.key"),
            KeyKind::EcdsaP256,
        ),
        (
            "p384",
            fixture!("client-p384.pem"),
            fixture!("client-p384.key"),
            KeyKind::EcdsaP384,
        ),
    ] {
        #[allow(clippy::disallowed_methods, reason = "the virtual clock's base")]
        let mut now = Instant::now();
        let wall = WallClock {
            at: now,
            unix_secs: UNIX,
        };
        let mut server_certs = trust();
        for (c, k) in [
            (fixture!("server-rsa.pem"), fixture!("server-rsa.key")),
            (fixture!("server-p256.pem"), fixture!("server-p256.key")),
            (fixture!("server-p384.pem"), fixture!("server-p384.key")),
        ] {
            server_certs.add_identity(identity(c, k));
        }
        let mut server = endpoint(
            Config {
                certificates: Some(Arc::new(server_certs)),
                wall_clock: Some(wall),
                ..no_security()
            },
            0,
        );
        let mut client_certs = trust();
        client_certs.add_identity(identity(cert, key));
        let mut client = endpoint(
            Config {
                certificates: Some(Arc::new(client_certs)),
                wall_clock: Some(wall),
                ..no_security()
            },
            2,
        );
        let path = Path {
            local: SocketAddr::new(IpAddr::V4(CLIENT), 500),
            remote: SocketAddr::new(IpAddr::V4(SERVER), 500),
        };
        client
            .connect(now, path, Profile::linux().with_certificate(kind))
            .unwrap();
        let mut seed = Vec::new();
        let children = run(
            &mut now,
            &mut client,
            &mut server,
            // After MM1, copy the responder cookie of the server's last message.
            |port, m| {
                let patch = if seed.is_empty() { 0 } else { 4 };
                record(&mut seed, u8::from(port == 4500) | patch, m);
            },
            |_, _| {},
        );
        assert_eq!(children, 1, "{name}");
        write("ike_cert_main_mode", &format!("exchange-{name}"), &seed);
    }
}
