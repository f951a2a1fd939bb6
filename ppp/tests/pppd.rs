//! The real client: pppd 2.4.9's frames from softether-direct-mschapv2.pcap (decrypted
//! with tshark, testdata/pppd_softether.txt) fed to our server. Our answers are checked
//! byte for byte against what SoftEther answered where the two must agree, and against
//! what pppd's code accepts where they may differ.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers panic on bad fixtures"
)]

mod common;

use std::sync::Arc;
use std::time::Instant;

use common::{NowForTests, ScriptedRandom, cp, drain, events, h, lcp, params};
use ppp::auth::AuthenticatorResponse;
use ppp::{AuthData, AuthDecision, Config, Event, IpIn, Session};

fn capture(n: u32) -> Vec<u8> {
    let text = include_str!("../testdata/pppd_softether.txt");
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let mut parts = line.split_whitespace();
        if parts.next().unwrap().parse::<u32>().unwrap() == n {
            parts.next();
            return h(parts.next().unwrap());
        }
    }
    panic!("no frame {n}");
}

/// SoftEther's challenge, our first magic 0x11223344, CHAP identifier 2 (as SoftEther's).
/// The session draws, in order: 4 challenges (1 attempt + 3 spare), 8 magic numbers,
/// 4 interface identifiers, the first CHAP identifier.
fn rng() -> ScriptedRandom {
    let mut bytes = h("f8498f6f50dae22806c0ad169fa7d5c9");
    bytes.extend([0x44; 48]); // the spare challenges
    bytes.extend(h("11223344"));
    bytes.extend([0x55; 28]); // the other magic numbers
    bytes.extend(h("0200000000000001")); // our interface identifier
    bytes.extend([0x66; 24]);
    bytes.push(2); // CHAP identifier
    ScriptedRandom { bytes, pos: 0 }
}

fn config(ipv6: bool) -> Arc<Config> {
    Arc::new(Config {
        name: "vm".into(),
        ipv6,
        ..Config::default()
    })
}

const OUR_LCP_OPTIONS: &str = "01040578 0305c22381 050611223344";

fn one(s: &mut Session) -> Vec<u8> {
    let mut f = drain(s);
    assert_eq!(f.len(), 1, "{:02x?}", f);
    f.pop().unwrap()
}

/// Runs the capture's LCP and CHAP exchange up to the Network phase.
fn authenticate(ipv6: bool) -> (Session, Instant, Vec<Vec<u8>>) {
    let now = Instant::now_for_tests();
    let mut s = Session::new_server(config(ipv6), params(), now, &mut rng());
    assert_eq!(one(&mut s), lcp(1, 1, &h(OUR_LCP_OPTIONS)));

    // pppd's first request: MRU 1400, asyncmap 0, magic. Over L2TP we reject only the
    // asyncmap (SoftEther also rejected the magic number, frame 22).
    s.handle_frame(now, &capture(21)).unwrap();
    assert_eq!(one(&mut s), lcp(4, 1, &h("0206 00000000")));
    // pppd's second request (frame 25) gets exactly SoftEther's Ack (frame 26).
    s.handle_frame(now, &capture(25)).unwrap();
    assert_eq!(one(&mut s), capture(26));
    // pppd acks a request it accepts by echoing it (as it acked SoftEther's, frame 29).
    s.handle_frame(now, &lcp(2, 1, &h(OUR_LCP_OPTIONS)))
        .unwrap();
    // LCP is open: our challenge is SoftEther's frame 32, byte for byte.
    assert_eq!(one(&mut s), capture(32));
    // pppd's echo request (frame 30, magic 0): answered with our magic.
    s.handle_frame(now, &capture(30)).unwrap();
    assert_eq!(one(&mut s), lcp(10, 0, &h("11223344")));

    // pppd's response (frame 33) becomes an AuthRequest carrying exactly its values.
    s.handle_frame(now, &capture(33)).unwrap();
    let ev = events(&mut s);
    assert_eq!(
        ev,
        vec![Event::AuthRequest {
            user: "lchuser".into(),
            data: AuthData::MsChapV2 {
                auth_challenge: h("f8498f6f50dae22806c0ad169fa7d5c9").try_into().unwrap(),
                peer_challenge: h("9881df12fc757a66b8a7fb049c39d2d7").try_into().unwrap(),
                nt_response: h("64b59e204f3f560ce6996d3d836a81ae12189494bee225e1")
                    .try_into()
                    .unwrap(),
            },
        }]
    );
    assert!(
        drain(&mut s).is_empty(),
        "nothing is sent before the decision"
    );
    // The backend accepts with the authenticator response SoftEther computed (frame 40).
    let proof =
        AuthenticatorResponse::parse(b"S=01F5048601B572B5970F42C96EA45E9D0699B5A1").unwrap();
    s.auth_result(now, AuthDecision::AcceptMsChapV2(proof));
    let out = drain(&mut s);
    // Success: SoftEther's message plus " M=...", which pppd's chapms2_check_success
    // accepts (it requires "S=" + 40 hex digits, then nothing or " M=").
    let softether = capture(40);
    let success = &out[0];
    assert_eq!(&success[..4], &softether[..4]);
    assert_eq!((success[4], success[5]), (3, 2));
    assert_eq!(&success[8..50], &softether[8..50]);
    assert!(success[50..].starts_with(b" M="));
    assert_eq!(
        events(&mut s),
        vec![Event::Authenticated {
            user: "lchuser".into()
        }]
    );
    // Then our IPCP request states our address (SoftEther's frame 44, with our id).
    assert_eq!(out[1], cp(0x8021, 1, 1, &h("0306 cb007101")));
    assert_eq!(&out[1][8..], &capture(44)[8..]);
    assert_eq!(out.len(), if ipv6 { 3 } else { 2 });
    (s, now, out[2..].to_vec())
}

#[test]
fn pppd_lcp_chap_ipcp_against_our_server() {
    let (mut s, now, rest) = authenticate(true);
    // With IPv6CP enabled our request follows the IPCP one.
    assert_eq!(rest, vec![cp(0x8057, 1, 1, &h("010a 0200000000000001"))]);
    // pppd asks for 0.0.0.0: Nak'd to the assigned address, exactly SoftEther's frame 43.
    s.handle_frame(now, &capture(41)).unwrap();
    assert_eq!(one(&mut s), capture(43));
    // pppd's IPv6CP request (frame 42): its identifier differs from ours, so Ack.
    s.handle_frame(now, &capture(42)).unwrap();
    assert_eq!(one(&mut s), cp(0x8057, 2, 1, &h("010a 28bdbf74813e217a")));
    // pppd asks for the address it was given (frame 45): Ack, exactly SoftEther's frame 58.
    s.handle_frame(now, &capture(45)).unwrap();
    assert_eq!(one(&mut s), capture(58));
    assert!(
        events(&mut s).is_empty(),
        "not up before pppd acks our request"
    );
    // pppd acks our request as it acked SoftEther's (frame 46, our identifier).
    s.handle_frame(now, &cp(0x8021, 2, 1, &h("0306 cb007101")))
        .unwrap();
    let ev = events(&mut s);
    assert!(
        matches!(
            ev.as_slice(),
            [Event::Up { local_ip, peer_ip, mru: 1400, .. }]
                if local_ip.octets() == [203, 0, 113, 1] && peer_ip.octets() == [203, 0, 113, 100]
        ),
        "{ev:?}"
    );
    // IPv6CP: pppd acks ours; link-local IPv6 is up.
    s.handle_frame(now, &cp(0x8057, 2, 1, &h("010a 0200000000000001")))
        .unwrap();
    assert_eq!(
        events(&mut s),
        vec![Event::Ipv6Up {
            local_id: h("0200000000000001").try_into().unwrap(),
            peer_id: h("28bdbf74813e217a").try_into().unwrap(),
        }]
    );
    // pppd's ping (as in frame 66) comes out borrowed.
    let ping = h("ff030021450000547a02400040014837cb007164cb00710a0800d7b5016c0001");
    assert_eq!(
        s.handle_frame(now, &ping).unwrap(),
        Some(IpIn::V4(&ping[4..]))
    );
    // pppd's echo reply (frame 95) is consumed silently.
    assert_eq!(s.handle_frame(now, &capture(95)).unwrap(), None);
    assert!(drain(&mut s).is_empty());
}

#[test]
fn pppd_ipv6cp_is_protocol_rejected_when_disabled() {
    let (mut s, now, rest) = authenticate(false);
    assert!(rest.is_empty(), "no IPv6CP request of ours");
    s.handle_frame(now, &capture(42)).unwrap();
    let f = one(&mut s);
    // LCP Protocol-Reject carrying 0x8057 and the rejected packet.
    let mut data = h("8057");
    data.extend_from_slice(&capture(42)[4..]);
    assert_eq!(f, lcp(8, 1, &data));
    assert_eq!(s.stats().protocol_rejects, 1);
}
