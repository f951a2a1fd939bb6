//! Our client against SoftEther VPN Server 5.01's real frames (the server side of
//! softether-direct-mschapv2.pcap): where pppd and our client must say the same thing,
//! the bytes are pppd's.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers panic on bad fixtures"
)]

mod common;

use std::sync::Arc;
use std::time::Instant;

use common::{NowForTests, ScriptedRandom, drain, events, h, parse};
use ppp::{AuthMethod, Config, Credentials, DownReason, Event, Session};

fn capture(n: u32) -> Vec<u8> {
    let text = include_str!("../testdata/pppd_softether.txt");
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let mut p = l.split_whitespace();
            (p.next()?.parse::<u32>().ok()? == n).then(|| {
                p.next();
                h(p.next().unwrap())
            })
        })
        .unwrap()
}

#[test]
fn our_client_speaks_like_pppd_to_softether() {
    let now = Instant::now_for_tests();
    // Client draws: 4 peer challenges (pppd's first), 8 magics, 4 interface ids, CHAP id.
    let mut bytes = h("9881df12fc757a66b8a7fb049c39d2d7");
    bytes.extend([0x33; 48]);
    bytes.extend(h("c1624a80"));
    let mut rng = ScriptedRandom { bytes, pos: 0 };
    let cfg = Config {
        auth_methods: vec![AuthMethod::MsChapV2, AuthMethod::ChapMd5, AuthMethod::Pap],
        ..Config::default()
    };
    let mut c = Session::new_client(
        Arc::new(cfg),
        Credentials::new("lchuser", "not-known"),
        now,
        &mut rng,
    );
    // Our first request: pppd's without the asyncmap.
    assert_eq!(
        drain(&mut c),
        vec![h("ff03c0210101000e 01040578 0506c1624a80")]
    );
    // SoftEther rejects the magic number (frame 22): our next request is pppd's frame 25.
    c.handle_frame(now, &capture(22)).unwrap();
    assert_eq!(drain(&mut c), vec![capture(25)]);
    // SoftEther asks for EAP (frame 23): we Nak with MS-CHAPv2, exactly pppd's frame 27.
    c.handle_frame(now, &capture(23)).unwrap();
    assert_eq!(drain(&mut c), vec![capture(27)]);
    // Its echo request before LCP is open (frame 24) is ignored, as pppd did.
    c.handle_frame(now, &capture(24)).unwrap();
    assert!(drain(&mut c).is_empty());
    // SoftEther acks our request (frame 26) and asks for MS-CHAPv2 (frame 28): our Ack is
    // pppd's frame 29.
    c.handle_frame(now, &capture(26)).unwrap();
    c.handle_frame(now, &capture(28)).unwrap();
    assert_eq!(drain(&mut c), vec![capture(29)]);
    // The echo request once open (frame 53): our reply is pppd's frame 55 (magic 0, as
    // ours was rejected, and the same data).
    c.handle_frame(now, &capture(53)).unwrap();
    assert_eq!(drain(&mut c), vec![capture(55)]);
    // The challenge (frame 32): our response has pppd's shape and peer challenge; the
    // NT-Response differs only because we do not know the capture's password.
    c.handle_frame(now, &capture(32)).unwrap();
    let out = drain(&mut c);
    let ours = parse(&out[0]);
    let pppd = parse(&capture(33));
    assert_eq!((ours.0, ours.1, ours.2), (pppd.0, pppd.1, pppd.2));
    assert_eq!(ours.3.len(), pppd.3.len());
    assert_eq!(ours.3[..17], pppd.3[..17], "value size and peer challenge");
    assert_eq!(ours.3[17..25], [0; 8], "reserved");
    assert_eq!(ours.3[49], 0, "flags");
    assert_eq!(&ours.3[50..], b"lchuser");
    // SoftEther's Success proves knowledge of the real password, not ours: we refuse it.
    c.handle_frame(now, &capture(40)).unwrap();
    assert_eq!(
        events(&mut c),
        vec![Event::Down {
            reason: DownReason::AuthFailed
        }]
    );
    assert_eq!(parse(&drain(&mut c)[0]).1, 5, "Terminate-Request");
}
