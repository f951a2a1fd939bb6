//! Hostile and malformed input: typed errors or Code-Reject, counted, never a panic.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers panic on bad fixtures"
)]

mod common;

use std::sync::Arc;
use std::time::Instant;

use common::{NowForTests, cp, drain, events, h, lcp, params, parse};
use ppp::{Config, DownReason, Error, Event, Session};
use wire::random::DeterministicRandom;

fn server() -> (Session, Instant, Vec<u8>) {
    server_with(Config::default())
}

fn server_with(config: Config) -> (Session, Instant, Vec<u8>) {
    let now = Instant::now_for_tests();
    let mut s = Session::new_server(
        Arc::new(config),
        params(),
        now,
        &mut DeterministicRandom::new(3),
    );
    let req = drain(&mut s).pop().unwrap();
    (s, now, req)
}

#[test]
fn malformed_frames_are_typed_errors() {
    let (mut s, now, _) = server();
    let bad: Vec<Vec<u8>> = vec![
        vec![],
        h("ff03"),
        h("c0"),
        h("c022 0101 0004"),                 // even protocol low byte
        lcp(1, 1, &[])[..7].to_vec(),        // truncated header
        h("ff03c021 0101 0003"),             // length below 4
        h("ff03c021 0101 0010 0104"),        // length past the frame
        lcp(1, 2, &h("0100")),               // option length 0
        lcp(1, 3, &h("0101")),               // option length 1
        lcp(1, 4, &h("0104 05")),            // option past the end
        lcp(1, 5, &h("0506 0000")),          // magic truncated
        lcp(1, 6, &[0x0a, 0x02].repeat(33)), // too many options
        lcp(9, 7, &h("0000")),               // echo without a magic number
    ];
    for (i, f) in bad.iter().enumerate() {
        let r = s.handle_frame(now, f);
        assert!(
            matches!(r, Err(Error::Frame(_) | Error::Packet { .. })),
            "frame {i} {}: {r:?}",
            hex::encode(f)
        );
    }
    assert_eq!(s.stats().malformed, bad.len() as u64);
    assert!(drain(&mut s).is_empty(), "nothing is answered to garbage");
    assert!(events(&mut s).is_empty());
    // Padding after the packet's length is not an error (RFC 1661 §5).
    let mut padded = lcp(1, 9, &h("01040578"));
    padded.extend([0, 0, 0]);
    s.handle_frame(now, &padded).unwrap();
    assert_eq!(drain(&mut s), vec![lcp(2, 9, &h("01040578"))]);
}

#[test]
fn unknown_code_gets_code_reject_and_unknown_options_are_rejected() {
    let (mut s, now, _) = server();
    let weird = lcp(0x2a, 7, &h("deadbeef"));
    s.handle_frame(now, &weird).unwrap();
    let out = drain(&mut s);
    let (proto, code, _, data) = parse(&out[0]);
    assert_eq!((proto, code), (0xc021, 7));
    assert_eq!(data, weird[4..]);
    // MRRU, endpoint discriminator, ACCM, quality, unknown 0x99: all rejected together.
    let opts = h("1104 05dc 1309 01020304050607 0206 00000000 0408 c025 000003e8 9902");
    s.handle_frame(now, &lcp(1, 8, &opts)).unwrap();
    assert_eq!(drain(&mut s), vec![lcp(4, 8, &opts)]);
    // MRU below the minimum is Nak'd up to 128.
    s.handle_frame(now, &lcp(1, 9, &h("01040040"))).unwrap();
    assert_eq!(drain(&mut s), vec![lcp(3, 9, &h("01040080"))]);
}

#[test]
fn protocols_before_lcp_opens_are_discarded_then_rejected() {
    let (mut s, now, req) = server();
    let ccp = cp(0x80fd, 1, 1, &h("1206 01000001"));
    assert_eq!(s.handle_frame(now, &ccp).unwrap(), None);
    let ip = h("ff030021 45000014");
    assert_eq!(
        s.handle_frame(now, &ip).unwrap(),
        None,
        "no IP before IPCP is open"
    );
    assert!(drain(&mut s).is_empty());
    assert_eq!(s.stats().discarded, 2);
    // Open LCP, then the same CCP gets a Protocol-Reject, a strange protocol too.
    s.handle_frame(now, &lcp(1, 1, &h("01040578"))).unwrap();
    s.handle_frame(now, &lcp(2, 1, &req[8..])).unwrap();
    drain(&mut s);
    s.handle_frame(now, &ccp).unwrap();
    s.handle_frame(now, &h("ff03 4021 010203")).unwrap();
    let out = drain(&mut s);
    assert_eq!(out.len(), 2);
    assert_eq!(parse(&out[0]).3[..2], [0x80, 0xfd]);
    assert_eq!(parse(&out[1]).3, h("4021 010203"));
}

#[test]
fn looped_link_is_detected() {
    let (mut s, now, req) = server();
    // Our own magic number comes back in the "peer's" request, again and again.
    let mut magic = req[req.len() - 4..].to_vec();
    for i in 0..5u8 {
        let mut opts = h("01040578 0506");
        opts.extend_from_slice(&magic);
        s.handle_frame(now, &lcp(1, 100 + i, &opts)).unwrap();
        let out = drain(&mut s);
        if i < 4 {
            let (_, code, _, data) = parse(&out[0]);
            assert_eq!(code, 3, "Nak of the magic number");
            assert_eq!(data[0], 5);
            assert_ne!(data[2..6], magic[..]);
            // We picked a new magic number for ourselves as well (§6.4); our next
            // request carries it, and the loop sends that one back.
            s.handle_timeout(s.poll_timeout().unwrap());
            let ours = drain(&mut s).into_iter().find(|f| parse(f).1 == 1).unwrap();
            assert_ne!(ours[ours.len() - 4..], magic[..]);
            magic = ours[ours.len() - 4..].to_vec();
        }
    }
    assert_eq!(
        events(&mut s),
        vec![Event::Down {
            reason: DownReason::Loopback
        }]
    );
}

#[test]
fn lcp_gives_up_after_max_configure() {
    let (mut s, _, _) = server();
    let mut sent = 1;
    while let Some(t) = s.poll_timeout() {
        s.handle_timeout(t);
        sent += drain(&mut s).iter().filter(|f| parse(f).1 == 1).count();
    }
    assert_eq!(sent, 10, "Max-Configure requests");
    assert_eq!(
        events(&mut s),
        vec![Event::Down {
            reason: DownReason::NegotiationFailed(ppp::msgs::Protocol::Lcp)
        }]
    );
    assert!(s.is_finished());
}

#[test]
fn max_failure_turns_naks_into_rejects() {
    let (mut s, now, _) = server();
    // A peer that insists on an MRU of 64: Nak'd Max-Failure (5) times, then rejected.
    let mut codes = Vec::new();
    for id in 0..7u8 {
        s.handle_frame(now, &lcp(1, id, &h("01040040"))).unwrap();
        codes.extend(drain(&mut s).iter().map(|f| parse(f).1));
    }
    assert_eq!(codes, [3, 3, 3, 3, 3, 4, 4]);
}

#[test]
fn echo_code_rejected_turns_keepalive_off() {
    // A backend that takes long: the link stays in the Authenticate phase for 10 minutes,
    // long enough for many echo intervals.
    let (mut s, now, req) = server_with(Config {
        auth_timeout: std::time::Duration::from_secs(600),
        ..Config::default()
    });
    s.handle_frame(now, &lcp(1, 1, &h("01040578"))).unwrap();
    s.handle_frame(now, &lcp(2, 1, &req[8..])).unwrap();
    let challenge = drain(&mut s)
        .into_iter()
        .find(|f| parse(f).0 == 0xc223)
        .unwrap();
    // The peer answers; the backend never decides.
    let mut resp = vec![49];
    resp.extend([0; 49]);
    resp.push(b'u');
    s.handle_frame(now, &cp(0xc223, 2, parse(&challenge).2, &resp))
        .unwrap();
    assert!(matches!(events(&mut s)[..], [Event::AuthRequest { .. }]));
    // 20 s later our first echo request goes out; the peer Code-Rejects it.
    let t = now + std::time::Duration::from_secs(20);
    s.handle_timeout(t);
    let echo = drain(&mut s).into_iter().find(|f| parse(f).1 == 9).unwrap();
    s.handle_frame(t, &lcp(7, 1, &echo[4..])).unwrap();
    // No more echo requests and no "dead peer" however long we wait (only the
    // authentication deadline remains, which closes for its own reason).
    let mut later = Vec::new();
    while let Some(next) = s.poll_timeout() {
        later.push(next);
        s.handle_timeout(next);
        assert!(drain(&mut s).iter().all(|f| parse(f).1 != 9));
    }
    assert!(
        *later.last().unwrap() - t > std::time::Duration::from_secs(500),
        "{later:?}"
    );
    assert_eq!(s.stats().echo_requests, 1);
    assert_eq!(
        events(&mut s),
        vec![Event::Down {
            reason: DownReason::AuthTimeout
        }]
    );
}
