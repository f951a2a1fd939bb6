//! Server ↔ client on a virtual clock, with frame loss, for every method.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers panic on bad fixtures"
)]

mod common;

use std::net::Ipv4Addr;
use std::time::Duration;

use common::{Pair, h};
use ppp::{AuthMethod, Config, DownReason, Event, IpIn, IpVersion, Phase};
use wire::PacketBuf;

fn cfg(methods: &[AuthMethod]) -> Config {
    Config {
        auth_methods: methods.to_vec(),
        ..Config::default()
    }
}

fn client_cfg() -> Config {
    Config {
        auth_methods: vec![AuthMethod::MsChapV2, AuthMethod::ChapMd5, AuthMethod::Pap],
        ..Config::default()
    }
}

fn up_of(events: &[Event]) -> Event {
    events
        .iter()
        .find(|e| matches!(e, Event::Up { .. }))
        .cloned()
        .unwrap()
}

fn bring_up(method: AuthMethod, loss: u64, seed: u64) -> Pair {
    let mut p = Pair::new(cfg(&[method]), client_cfg(), "s3cret", "s3cret", seed);
    p.loss_c2s = loss;
    p.loss_s2c = loss;
    let up = p.run_until(Duration::from_secs(120), Pair::both_up);
    assert!(
        up,
        "{method:?} seed {seed} did not come up after {:?}: server {:?} {:?}, client {:?} {:?}",
        p.now - p.start,
        p.server,
        p.server_events,
        p.client,
        p.client_events
    );
    assert!(!p.any_down(), "{:?} {:?}", p.server_events, p.client_events);
    p
}

fn check_up(p: &mut Pair) {
    let Event::Up {
        local_ip,
        peer_ip,
        dns,
        mru,
        ..
    } = up_of(&p.server_events)
    else {
        unreachable!()
    };
    assert_eq!(
        (local_ip, peer_ip),
        (
            Ipv4Addr::new(203, 0, 113, 1),
            Ipv4Addr::new(203, 0, 113, 100)
        )
    );
    assert_eq!(dns, [Some(Ipv4Addr::new(203, 0, 113, 53)), None]);
    assert_eq!(mru, 1400);
    let Event::Up {
        local_ip: c_local,
        peer_ip: c_peer,
        dns: c_dns,
        ..
    } = up_of(&p.client_events)
    else {
        unreachable!()
    };
    // The client learned what the server assigned.
    assert_eq!((c_local, c_peer), (peer_ip, local_ip));
    assert_eq!(c_dns, [Some(Ipv4Addr::new(203, 0, 113, 53)), None]);
    assert_eq!(p.server.phase(), Phase::Network);
    assert_eq!(p.server.user(), Some("alice"));
    assert!(p.server_events.contains(&Event::Authenticated {
        user: "alice".into()
    }));

    // Data both ways through encap_ip / handle_frame, no copy on receive.
    let ip = h("4500001c0001000040017c9ccb007164cb0071010800f7ff00000000");
    let mut buf = PacketBuf::new(128, 16);
    buf.set_payload(&ip).unwrap();
    p.client.encap_ip(IpVersion::V4, &mut buf).unwrap();
    let got = p.server.handle_frame(p.now, buf.payload()).unwrap();
    assert_eq!(got, Some(IpIn::V4(&ip[..])));
    let mut buf = PacketBuf::new(128, 16);
    buf.set_payload(&ip).unwrap();
    p.server.encap_ip(IpVersion::V4, &mut buf).unwrap();
    assert_eq!(
        &buf.payload()[..4],
        &[0xff, 0x03, 0x00, 0x21],
        "client did not ask for ACFC/PFC"
    );
    assert_eq!(
        p.client.handle_frame(p.now, buf.payload()).unwrap(),
        Some(IpIn::V4(&ip[..]))
    );
}

#[test]
fn debug_one() {
    if let (Ok(m), Ok(seed)) = (std::env::var("PPP_METHOD"), std::env::var("PPP_SEED")) {
        let method = match m.as_str() {
            "pap" => AuthMethod::Pap,
            "md5" => AuthMethod::ChapMd5,
            _ => AuthMethod::MsChapV2,
        };
        bring_up(method, 200, seed.parse().unwrap());
    }
}

#[test]
fn every_method_comes_up_without_loss() {
    for method in [AuthMethod::MsChapV2, AuthMethod::ChapMd5, AuthMethod::Pap] {
        let mut p = bring_up(method, 0, 1);
        check_up(&mut p);
        // Without loss nothing is retransmitted: it takes no virtual time at all.
        assert_eq!(p.now, p.start, "{method:?}");
    }
}

#[test]
fn every_method_comes_up_with_20_percent_loss() {
    for method in [AuthMethod::MsChapV2, AuthMethod::ChapMd5, AuthMethod::Pap] {
        let mut dropped = 0;
        for seed in 1..=40 {
            let mut p = bring_up(method, 200, seed);
            check_up(&mut p);
            dropped += p.dropped;
        }
        assert!(dropped > 100, "{dropped}");
    }
}

#[test]
fn wrong_password_fails_for_every_method() {
    for method in [AuthMethod::MsChapV2, AuthMethod::ChapMd5, AuthMethod::Pap] {
        for (loss, seed) in [(0, 1), (200, 2), (200, 3)] {
            let mut p = Pair::new(cfg(&[method]), client_cfg(), "s3cret", "wrong", seed);
            p.loss_c2s = loss;
            p.loss_s2c = loss;
            assert!(
                p.run_until(Duration::from_secs(300), Pair::both_down),
                "{method:?}"
            );
            assert!(
                !p.server_events
                    .iter()
                    .any(|e| matches!(e, Event::Up { .. } | Event::Authenticated { .. }))
            );
            let down = p.server_events.iter().find_map(|e| match e {
                Event::Down { reason } => Some(*reason),
                _ => None,
            });
            // Without loss the server's own verdict ends the link; under loss the client
            // may give up first (its Terminate-Request arrives).
            if loss == 0 {
                assert_eq!(down, Some(DownReason::AuthFailed), "{method:?}");
                assert!(
                    p.client_events.contains(&Event::Down {
                        reason: DownReason::AuthFailed
                    }),
                    "{method:?}"
                );
            } else {
                assert!(down.is_some());
            }
        }
    }
}

#[test]
fn server_preference_and_fallback() {
    // The server prefers MS-CHAPv2 but the client only does CHAP-MD5: it Naks, we fall
    // back to the next method we allow.
    let client = Config {
        auth_methods: vec![AuthMethod::ChapMd5],
        ..Config::default()
    };
    let mut p = Pair::new(Config::default(), client, "s3cret", "s3cret", 7);
    assert!(p.run_until(Duration::from_secs(60), Pair::both_up));
    // A client that only does PAP is refused: PAP is off by default.
    let client = Config {
        auth_methods: vec![AuthMethod::Pap],
        ..Config::default()
    };
    let mut p = Pair::new(Config::default(), client, "s3cret", "s3cret", 7);
    assert!(p.run_until(Duration::from_secs(120), Pair::any_down));
    assert!(p.server_events.contains(&Event::Down {
        reason: DownReason::NoCommonAuth
    }));
}

#[test]
fn mschapv2_retry_with_fresh_challenge_then_final_failure() {
    let server = Config {
        auth_max_attempts: 2,
        ..cfg(&[AuthMethod::MsChapV2])
    };
    let mut p = Pair::new(server, client_cfg(), "s3cret", "wrong", 11);
    assert!(p.run_until(Duration::from_secs(120), Pair::both_down));
    let requests: Vec<_> = p
        .server_events
        .iter()
        .filter_map(|e| match e {
            Event::AuthRequest {
                data: ppp::AuthData::MsChapV2 { auth_challenge, .. },
                ..
            } => Some(*auth_challenge),
            _ => None,
        })
        .collect();
    assert_eq!(requests.len(), 2, "one retry");
    assert_ne!(requests[0], requests[1], "the retry uses a fresh challenge");
    assert!(p.server_events.contains(&Event::Down {
        reason: DownReason::AuthFailed
    }));
}

#[test]
fn echo_timeout_brings_the_link_down() {
    let mut p = bring_up(AuthMethod::MsChapV2, 0, 5);
    let up_at = p.now;
    // The client vanishes: nothing it sends reaches the server any more.
    p.loss_c2s = 1000;
    assert!(p.run_until(Duration::from_secs(600), |p| {
        p.server_events
            .iter()
            .any(|e| matches!(e, Event::Down { .. }))
    }));
    assert!(p.server_events.contains(&Event::Down {
        reason: DownReason::EchoTimeout
    }));
    // 3 unanswered requests at 20 s intervals, declared dead at the 4th tick.
    assert_eq!(p.now - up_at, Duration::from_secs(80));
    assert_eq!(p.server.stats().echo_requests, 3);
    // While the client still answered, echoes kept the link up.
    let mut q = bring_up(AuthMethod::MsChapV2, 0, 5);
    let t = q.now;
    assert!(!q.run_until(Duration::from_secs(400), Pair::any_down));
    assert!(q.now - t >= Duration::from_secs(300));
    assert!(q.server.stats().echo_requests >= 15);
}

#[test]
fn close_terminates_both_ends() {
    let mut p = bring_up(AuthMethod::ChapMd5, 0, 9);
    let now = p.now;
    p.client.close(now);
    assert!(p.run_until(Duration::from_secs(60), Pair::both_down));
    assert!(p.client_events.contains(&Event::Down {
        reason: DownReason::Closed
    }));
    assert!(p.server_events.contains(&Event::Down {
        reason: DownReason::PeerTerminated
    }));
    assert!(
        p.run_until(Duration::from_secs(60), |p| p.client.is_finished()
            && p.server.is_finished())
    );
}

#[test]
fn ipv6cp_negotiates_interface_identifiers_when_enabled() {
    let server = Config {
        ipv6: true,
        ..Config::default()
    };
    let client = Config {
        ipv6: true,
        ..client_cfg()
    };
    let mut p = Pair::new(server, client, "s3cret", "s3cret", 3);
    assert!(p.run_until(Duration::from_secs(60), |p| {
        p.both_up()
            && p.server_events
                .iter()
                .any(|e| matches!(e, Event::Ipv6Up { .. }))
    }));
    let s = p.server_events.iter().find_map(|e| match e {
        Event::Ipv6Up { local_id, peer_id } => Some((*local_id, *peer_id)),
        _ => None,
    });
    let c = p.client_events.iter().find_map(|e| match e {
        Event::Ipv6Up { local_id, peer_id } => Some((*local_id, *peer_id)),
        _ => None,
    });
    let (s, c) = (s.unwrap(), c.unwrap());
    assert_eq!((s.0, s.1), (c.1, c.0));
    assert_ne!(s.0, s.1);
    // Link-local IPv6 flows once IPv6CP is open.
    let v6 = h("6000000000083afffe80000000000000dfb7cafeffdfb7c8ff020000000000000000000000000002");
    let mut buf = PacketBuf::new(128, 8);
    buf.set_payload(&v6).unwrap();
    p.client.encap_ip(IpVersion::V6, &mut buf).unwrap();
    assert_eq!(&buf.payload()[..4], &[0xff, 0x03, 0x00, 0x57]);
    let now = p.now;
    assert_eq!(
        p.server.handle_frame(now, buf.payload()).unwrap(),
        Some(IpIn::V6(&v6[..]))
    );
}

/// A gateway that learns the peer's address only from the user (a static address)
/// sets it on `Authenticated`; the client ends up with it, not with the one the session
/// was created with, and the address is fixed once IPCP has acknowledged it.
#[test]
fn peer_address_set_after_authentication_is_the_one_assigned() {
    let static_ip = Ipv4Addr::new(203, 0, 113, 7);
    let mut p = Pair::new(
        cfg(&[AuthMethod::MsChapV2]),
        client_cfg(),
        "s3cret",
        "s3cret",
        5,
    );
    let mut set = false;
    for _ in 0..1000 {
        if !p.step() {
            break;
        }
        if !set
            && p.server_events
                .iter()
                .any(|e| matches!(e, Event::Authenticated { .. }))
        {
            p.server.set_peer_ip(static_ip).unwrap();
            set = true;
        }
    }
    assert!(
        set && p.both_up(),
        "{:?} {:?}",
        p.server_events,
        p.client_events
    );
    let Event::Up { peer_ip, .. } = up_of(&p.server_events) else {
        unreachable!()
    };
    assert_eq!(peer_ip, static_ip);
    let Event::Up { local_ip, .. } = up_of(&p.client_events) else {
        unreachable!()
    };
    assert_eq!(local_ip, static_ip);
    assert_eq!(
        p.server.set_peer_ip(Ipv4Addr::new(203, 0, 113, 8)),
        Err(ppp::PeerIpError::AlreadyAcked)
    );
    assert_eq!(
        p.client.set_peer_ip(static_ip),
        Err(ppp::PeerIpError::NotServer)
    );
}

/// The Windows imitation (`Config::windows_client`) against the server as the gateway
/// runs it: our server rejects the Callback option and Protocol-Rejects IPv6CP and CCP, and the
/// client still reaches IPCP up, with and without frame loss. The client asked for
/// NBNS, which the server rejects (none configured), and for PFC/ACFC, which it acks.
#[test]
fn windows_client_against_our_server() {
    for (loss, seed) in [(0, 1), (150, 2), (150, 3), (300, 4)] {
        let mut p = Pair::new(
            Config::default(),
            Config::windows_client("DESKTOP-W"),
            "s3cret",
            "s3cret",
            seed,
        );
        p.loss_c2s = loss;
        p.loss_s2c = loss;
        let up = p.run_until(Duration::from_secs(120), Pair::both_up);
        assert!(
            up,
            "seed {seed}: {:?} {:?} / {:?} {:?}",
            p.server, p.server_events, p.client, p.client_events
        );
        assert!(!p.any_down(), "{:?} {:?}", p.server_events, p.client_events);
        let Event::Up { dns, nbns, .. } = up_of(&p.client_events) else {
            unreachable!()
        };
        assert_eq!(dns, [Some(Ipv4Addr::new(203, 0, 113, 53)), None]);
        assert_eq!(nbns, [None, None]);
        if loss == 0 {
            // (With loss, IPCP may be up before a lost CCP request is repeated.)
            assert_eq!(
                p.server.stats().protocol_rejects,
                2,
                "IPv6CP and CCP were rejected"
            );
        }
        // The client asked for PFC and ACFC and the server acked them: the server sends
        // a bare `21`; the server asked for neither, so the client sends `FF 03 00 21`.
        let mut buf = PacketBuf::new(64, 8);
        buf.set_payload(&[0x45; 20]).unwrap();
        p.client.encap_ip(IpVersion::V4, &mut buf).unwrap();
        assert_eq!(buf.payload()[..4], [0xff, 0x03, 0x00, 0x21], "client");
        let mut buf = PacketBuf::new(64, 8);
        buf.set_payload(&[0x45; 20]).unwrap();
        p.server.encap_ip(IpVersion::V4, &mut buf).unwrap();
        assert_eq!(buf.payload()[0], 0x21, "server: PFC+ACFC");
    }
}
