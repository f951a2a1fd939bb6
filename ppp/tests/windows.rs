//! The Windows built-in client's PPP sequence, as bytes: LCP with MRU 1400, magic,
//! PFC, ACFC and Callback (rejected, then requested again without it), three
//! Identification packets, MS-CHAPv2 (with the RFC 2759 §9.2 values), CCP and IPv6CP
//! before IPCP completes, IPCP with address + DNS1 + NBNS1 + DNS2 + NBNS2.
//!
//! The fixtures come from real logs of Windows clients:
//! * pppd 2.4.5 + xl2tpd 1.2.6 serving Windows 7 "ENIGMA-PC" (an Ubuntu Forums thread on
//!   L2TP/IPsec with Openswan, post of 2011-02-02):
//!   `rcvd [LCP ConfReq id=0x1 <mru 1400> <magic 0x41131244> <pcomp> <accomp> <callback
//!   CBCP>]`, `rcvd [LCP Ident id=0x3 magic=0x41131244 "MSRASV5.20"]`, `rcvd [LCP Ident
//!   id=0x4 magic=0x41131244 "MSRAS-0-ENIGMA-PC"]`, `sent [LCP ProtRej id=0x2 80 57 01 06
//!   00 0e 01 0a 48 3c 27 2c c6 6a eb e1]` (its IPv6CP request, byte for byte), `rcvd [CCP
//!   ConfReq id=0x7 <mppe +H -M -S -L -D -C>]`, `rcvd [IPCP ConfReq id=0x8 <addr 0.0.0.0>
//!   <ms-dns1 0.0.0.0> <ms-wins 0.0.0.0> <ms-dns2 0.0.0.0> <ms-wins 0.0.0.0>]`.
//! * mpd5 serving Windows (pfsense/docs `source/vpn/ipsec/l2tp-ipsec.rst`, "Example
//!   Logs"): `CALLBACK 6` rejected; IPCP `IPADDR, PRIDNS, PRINBNS, SECDNS, SECNBNS`, the
//!   last three rejected, then `IPADDR, PRIDNS` Nak'd to `192.168.32.128, 192.168.48.1`;
//!   mpd's own `IPADDR 192.168.32.1` with `COMPPROTO VJCOMP, 16 comp. channels, no
//!   comp-cid`, which Windows rejected.
//! * pptpd's pppd serving Windows: the third Identification packet, 16 binary bytes
//!   (`"\311\032\2620:\307\300B\233\313\261\320\2611\360\204"`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers panic on bad fixtures"
)]

mod common;

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Instant;

use common::{NowForTests, ScriptedRandom, cp, drain, events, h, lcp};
use ppp::{Config, Event, IpIn, IpVersion, Session, SessionParams};
use wire::PacketBuf;

/// RFC 2759 §9.2's AuthenticatorChallenge as our challenge; magic 0x0a0b0c0d; CHAP id 7.
fn rng() -> ScriptedRandom {
    let mut bytes = h("5B5D7C7D7B3F2F3E3C2C602132262628");
    bytes.extend([0x44; 48]);
    bytes.extend(h("0a0b0c0d"));
    bytes.extend([0x55; 28 + 32]);
    bytes.push(7);
    ScriptedRandom { bytes, pos: 0 }
}

const WIN_MAGIC: &str = "5e3a7f21";

#[test]
fn windows_sequence() {
    let now = Instant::now_for_tests();
    let params = SessionParams {
        local_ip: Ipv4Addr::new(10, 8, 0, 1),
        peer_ip: Ipv4Addr::new(10, 8, 0, 2),
        dns: [
            Some(Ipv4Addr::new(10, 8, 0, 53)),
            Some(Ipv4Addr::new(10, 8, 0, 54)),
        ],
        nbns: [Some(Ipv4Addr::new(10, 8, 0, 55)), None],
    };
    let mut s = Session::new_server(Arc::new(Config::default()), params, now, &mut rng());
    let ours = h("01040578 0305c22381 05060a0b0c0d");
    assert_eq!(drain(&mut s), vec![lcp(1, 1, &ours)]);

    // MRU 1400, magic, PFC, ACFC, Callback (operation 6: CBCP).
    let win = h(&format!("01040578 0506{WIN_MAGIC} 0702 0802 0d0306"));
    s.handle_frame(now, &lcp(1, 0, &win)).unwrap();
    assert_eq!(
        drain(&mut s),
        vec![lcp(4, 0, &h("0d0306"))],
        "only the callback is rejected"
    );
    let win = h(&format!("01040578 0506{WIN_MAGIC} 0702 0802"));
    s.handle_frame(now, &lcp(1, 1, &win)).unwrap();
    assert_eq!(drain(&mut s), vec![lcp(2, 1, &win)]);
    s.handle_frame(now, &lcp(2, 1, &ours)).unwrap();
    // LCP open: the challenge (RFC 2759's AuthenticatorChallenge, our name).
    let mut challenge = h("10 5B5D7C7D7B3F2F3E3C2C602132262628");
    challenge.extend_from_slice(b"l2tpgw");
    assert_eq!(drain(&mut s), vec![cp(0xc223, 1, 7, &challenge)]);

    // Three Identification packets: accepted silently.
    for (id, text) in [
        (2u8, &b"MSRASV5.20"[..]),
        (3, b"MSRAS-0-DESKTOP-W10"),
        (4, &h("c91ab2303ac7c0429bcbb1d0b131f084")[..]),
    ] {
        let mut d = h(WIN_MAGIC);
        d.extend_from_slice(text);
        assert_eq!(s.handle_frame(now, &lcp(12, id, &d)).unwrap(), None);
    }
    assert!(drain(&mut s).is_empty());
    assert!(events(&mut s).is_empty());

    // The MS-CHAPv2 response of RFC 2759 §9.2 (user "User", password "clientPass").
    let mut resp = h("31 21402324255E262A28295F2B3A337C7E 0000000000000000");
    resp.extend(h("82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF 00"));
    resp.extend_from_slice(b"User");
    s.handle_frame(now, &cp(0xc223, 2, 7, &resp)).unwrap();
    let ev: [Event; 1] = events(&mut s).try_into().unwrap();
    let [Event::AuthRequest { user, data }] = ev else {
        panic!("expected one AuthRequest")
    };
    assert_eq!(user, "User");
    let decision = data.verify_password(&user, "clientPass");
    assert_eq!(
        data.verify_password(&user, "clientpass"),
        ppp::AuthDecision::Reject
    );
    s.auth_result(now, decision);
    let out = drain(&mut s);
    assert_eq!(
        out[0],
        cp(
            0xc223,
            3,
            7,
            b"S=407A5589115FD0D6209F510FE9C04566932CDA56 M=Access granted"
        )
    );
    assert_eq!(out[1], cp(0x8021, 1, 1, &h("0306 0a080001")));
    assert_eq!(
        events(&mut s),
        vec![Event::Authenticated {
            user: "User".into()
        }]
    );

    // Windows sends CCP (MPPE) and IPv6CP before IPCP completes: both Protocol-Rejected.
    let ccp = cp(0x80fd, 1, 7, &h("1206 01000000"));
    s.handle_frame(now, &ccp).unwrap();
    let v6 = cp(0x8057, 1, 6, &h("010a 483c272cc66aebe1"));
    s.handle_frame(now, &v6).unwrap();
    let mut rej_ccp = h("80fd");
    rej_ccp.extend_from_slice(&ccp[4..]);
    let mut rej_v6 = h("8057");
    rej_v6.extend_from_slice(&v6[4..]);
    assert_eq!(drain(&mut s), vec![lcp(8, 1, &rej_ccp), lcp(8, 2, &rej_v6)]);

    // IPCP: address + DNS1 + NBNS1 + DNS2 + NBNS2, all zero. NBNS2 is not configured:
    // rejected alone.
    let ask = h("0306 00000000 8106 00000000 8206 00000000 8306 00000000 8406 00000000");
    s.handle_frame(now, &cp(0x8021, 1, 5, &ask)).unwrap();
    assert_eq!(drain(&mut s), vec![cp(0x8021, 4, 5, &h("8406 00000000"))]);
    let ask = h("0306 00000000 8106 00000000 8206 00000000 8306 00000000");
    s.handle_frame(now, &cp(0x8021, 1, 6, &ask)).unwrap();
    let nak = h("0306 0a080002 8106 0a080035 8206 0a080037 8306 0a080036");
    assert_eq!(drain(&mut s), vec![cp(0x8021, 3, 6, &nak)]);
    s.handle_frame(now, &cp(0x8021, 1, 7, &nak)).unwrap();
    assert_eq!(drain(&mut s), vec![cp(0x8021, 2, 7, &nak)]);
    s.handle_frame(now, &cp(0x8021, 2, 1, &h("0306 0a080001")))
        .unwrap();
    assert_eq!(
        events(&mut s),
        vec![Event::Up {
            local_ip: Ipv4Addr::new(10, 8, 0, 1),
            peer_ip: Ipv4Addr::new(10, 8, 0, 2),
            dns: [
                Some(Ipv4Addr::new(10, 8, 0, 53)),
                Some(Ipv4Addr::new(10, 8, 0, 54))
            ],
            nbns: [Some(Ipv4Addr::new(10, 8, 0, 55)), None],
            mru: 1400,
        }]
    );

    // Windows negotiated PFC and ACFC: it sends bare `21`, and we may too.
    let ping = h("21 4500001c00010000400100000a0800020a0800010800f7ff00000000");
    assert_eq!(
        s.handle_frame(now, &ping).unwrap(),
        Some(IpIn::V4(&ping[1..]))
    );
    let mut buf = PacketBuf::new(64, 8);
    buf.set_payload(&ping[1..]).unwrap();
    s.encap_ip(IpVersion::V4, &mut buf).unwrap();
    assert_eq!(buf.payload(), &ping[..]);
    assert_eq!(buf.headroom(), 7);
    // CCP again later: still rejected; an echo request is answered with our magic.
    s.handle_frame(now, &ccp).unwrap();
    s.handle_frame(now, &lcp(9, 9, &h(&format!("{WIN_MAGIC} 0102"))))
        .unwrap();
    let out = drain(&mut s);
    assert_eq!(out[1], lcp(10, 9, &h("0a0b0c0d 0102")));
    assert_eq!(s.stats().protocol_rejects, 3);
}

#[test]
fn wrong_password_gets_e691_with_a_fresh_challenge() {
    let now = Instant::now_for_tests();
    let mut s = Session::new_server(
        Arc::new(Config::default()),
        common::params(),
        now,
        &mut rng(),
    );
    let ours = h("01040578 0305c22381 05060a0b0c0d");
    drain(&mut s);
    s.handle_frame(now, &lcp(1, 1, &h("01040578"))).unwrap();
    s.handle_frame(now, &lcp(2, 1, &ours)).unwrap();
    drain(&mut s);
    let mut resp = h("31 21402324255E262A28295F2B3A337C7E 0000000000000000");
    resp.extend(h("82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF 00"));
    resp.extend_from_slice(b"User");
    s.handle_frame(now, &cp(0xc223, 2, 7, &resp)).unwrap();
    let ev: [Event; 1] = events(&mut s).try_into().unwrap();
    let [Event::AuthRequest { user, data }] = ev else {
        panic!()
    };
    s.auth_result(now, data.verify_password(&user, "not the password"));
    let out = drain(&mut s);
    let (proto, code, id, msg) = common::parse(&out[0]);
    assert_eq!((proto, code, id), (0xc223, 4, 7));
    let msg = String::from_utf8(msg).unwrap();
    // RFC 2759 §6: E=691 (authentication failure), no retry (one attempt by default),
    // C= a fresh 16-byte challenge in hex, V=3.
    assert!(msg.starts_with("E=691 R=0 C="), "{msg}");
    let c = &msg[12..44];
    assert!(
        c.chars()
            .all(|ch| ch.is_ascii_hexdigit() && !ch.is_ascii_lowercase()),
        "{msg}"
    );
    assert_ne!(
        c, "5B5D7C7D7B3F2F3E3C2C602132262628",
        "not the old challenge"
    );
    assert!(msg[44..].starts_with(" V=3"), "{msg}");
    // Then the link is terminated.
    assert_eq!(common::parse(&out[1]).1, 5, "LCP Terminate-Request");
    assert_eq!(
        events(&mut s),
        vec![Event::Down {
            reason: ppp::DownReason::AuthFailed
        }]
    );
}

/// iOS answers the challenge only after it has our Configure-Ack for its own request: the
/// challenge must not go out when only our request has been acked (Ack-Rcvd), and it
/// must follow our Configure-Ack when the peer's request arrives.
#[test]
fn ios_gets_our_configure_ack_before_the_challenge() {
    let now = Instant::now_for_tests();
    let mut s = Session::new_server(
        Arc::new(Config::default()),
        common::params(),
        now,
        &mut rng(),
    );
    let ours = h("01040578 0305c22381 05060a0b0c0d");
    drain(&mut s);
    s.handle_frame(now, &lcp(2, 1, &ours)).unwrap();
    assert!(
        drain(&mut s).is_empty(),
        "no challenge while the peer's request is unanswered"
    );
    let ios = h("01040578 0506 7a7b7c7d 0702 0802");
    s.handle_frame(now, &lcp(1, 3, &ios)).unwrap();
    let out = drain(&mut s);
    assert_eq!(out.len(), 2);
    assert_eq!(out[0], lcp(2, 3, &ios), "our Configure-Ack first");
    assert_eq!(common::parse(&out[1]).0, 0xc223, "then the challenge");
}

/// RFC 2759 §9.2's PeerChallenge as the client's first peer challenge; magic 0x0a0b0c0d.
fn client_rng() -> ScriptedRandom {
    let mut bytes = h("21402324255E262A28295F2B3A337C7E");
    bytes.extend([0x44; 48]);
    bytes.extend(h("0a0b0c0d"));
    bytes.extend([0x55; 28 + 32]);
    bytes.push(7);
    ScriptedRandom { bytes, pos: 0 }
}

/// `Config::windows_client` sends what the logged Windows clients sent, and takes the
/// answers the logged servers gave: pppd's Reject of the callback and of CCP's MPPE, its
/// CCP request (deflate, BSD), mpd's IPCP Reject of NBNS and DNS2, its Nak, and its own
/// request with VJ compression.
#[test]
fn windows_client_sends_what_windows_sent() {
    let now = Instant::now_for_tests();
    let cfg = Config::windows_client("ENIGMA-PC");
    let creds = ppp::Credentials::new("User", "clientPass");
    let mut c = Session::new_client(Arc::new(cfg), creds, now, &mut client_rng());
    // <mru 1400> <magic> <pcomp> <accomp> <callback CBCP>
    let first = h("01040578 05060a0b0c0d 0702 0802 0d0306");
    assert_eq!(drain(&mut c), vec![lcp(1, 1, &first)]);
    // pppd: sent [LCP ConfRej id=0x1 <callback CBCP>]; the request comes again without.
    c.handle_frame(now, &lcp(4, 1, &h("0d0306"))).unwrap();
    let second = h("01040578 05060a0b0c0d 0702 0802");
    assert_eq!(drain(&mut c), vec![lcp(1, 2, &second)]);
    // The server's request (MS-CHAPv2, magic 0x9c7658c5, as pppd asked) is acked.
    let server_req = h("0305c22381 05069c7658c5");
    c.handle_frame(now, &lcp(1, 1, &server_req)).unwrap();
    assert_eq!(drain(&mut c), vec![lcp(2, 1, &server_req)]);
    c.handle_frame(now, &lcp(2, 2, &second)).unwrap();
    // LCP open: "MSRASV5.20" and "MSRAS-0-<name>", each after our magic number.
    let idents: Vec<(u16, u8, Vec<u8>)> = drain(&mut c)
        .iter()
        .map(|f| {
            let (p, code, _, d) = common::parse(f);
            (p, code, d)
        })
        .collect();
    let with_magic = |m: &[u8]| [&h("0a0b0c0d")[..], m].concat();
    assert_eq!(
        idents,
        vec![
            (0xc021, 12, with_magic(b"MSRASV5.20")),
            (0xc021, 12, with_magic(b"MSRAS-0-ENIGMA-PC")),
        ]
    );

    // MS-CHAPv2 with RFC 2759 §9.2's AuthenticatorChallenge, pppd's name "l2tpd".
    let mut challenge = h("10 5B5D7C7D7B3F2F3E3C2C602132262628");
    challenge.extend_from_slice(b"l2tpd");
    c.handle_frame(now, &cp(0xc223, 1, 0xe6, &challenge))
        .unwrap();
    let mut resp = h("31 21402324255E262A28295F2B3A337C7E 0000000000000000");
    resp.extend(h("82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF 00"));
    resp.extend_from_slice(b"User");
    assert_eq!(drain(&mut c), vec![cp(0xc223, 2, 0xe6, &resp)]);
    let success = b"S=407A5589115FD0D6209F510FE9C04566932CDA56 M=Access granted";
    c.handle_frame(now, &cp(0xc223, 3, 0xe6, success)).unwrap();
    // Network phase: IPv6CP with an interface identifier, CCP with <mppe +H -M -S -L -D
    // -C>, then IPCP with the address and all four name servers in Windows' order.
    let ipcp_all = h("0306 00000000 8106 00000000 8206 00000000 8306 00000000 8406 00000000");
    let ipv6cp = cp(0x8057, 1, 1, &h("010a 5555555555555555"));
    assert_eq!(
        drain(&mut c),
        vec![
            ipv6cp.clone(),
            cp(0x80fd, 1, 1, &h("1206 01000000")),
            cp(0x8021, 1, 1, &ipcp_all)
        ]
    );
    // pppd: "Unsupported protocol 'IPv6 Control Protovol' (0x8057) received", sent [LCP
    // ProtRej id=0x2 80 57 ...]: IPv6CP stops, nothing else changes.
    c.handle_frame(now, &lcp(8, 2, &[&h("8057")[..], &ipv6cp[4..]].concat()))
        .unwrap();
    assert!(drain(&mut c).is_empty());
    assert!(events(&mut c).is_empty());

    // pppd's CCP request <deflate 15> <deflate(old#) 15> <bsd v1 15> (as pppd's ccp.c
    // encodes them): rejected, we compress nothing.
    let pppd_ccp = h("1a047800 18047800 15032f");
    c.handle_frame(now, &cp(0x80fd, 1, 1, &pppd_ccp)).unwrap();
    assert_eq!(drain(&mut c), vec![cp(0x80fd, 4, 1, &pppd_ccp)]);
    // pppd rejects MPPE: CCP closes with a Terminate-Request, as Windows did.
    c.handle_frame(now, &cp(0x80fd, 4, 1, &h("1206 01000000")))
        .unwrap();
    let out = drain(&mut c);
    assert_eq!(out.len(), 1);
    let (proto, code, _, _) = common::parse(&out[0]);
    assert_eq!((proto, code), (0x80fd, 5), "CCP Terminate-Request");

    // mpd rejects PRINBNS, SECDNS, SECNBNS: the next request has address and DNS1.
    let rejected = h("8206 00000000 8306 00000000 8406 00000000");
    c.handle_frame(now, &cp(0x8021, 4, 1, &rejected)).unwrap();
    assert_eq!(
        drain(&mut c),
        vec![cp(0x8021, 1, 2, &h("0306 00000000 8106 00000000"))]
    );
    // mpd: NAKing with 192.168.32.128 and 192.168.48.1.
    let nak = h("0306 c0a82080 8106 c0a83001");
    c.handle_frame(now, &cp(0x8021, 3, 2, &nak)).unwrap();
    assert_eq!(drain(&mut c), vec![cp(0x8021, 1, 3, &nak)]);
    // mpd's own request: IPADDR 192.168.32.1 and VJ compression; VJ is rejected.
    let mpd_req = h("0306 c0a82001 0206 002d0f00");
    c.handle_frame(now, &cp(0x8021, 1, 1, &mpd_req)).unwrap();
    assert_eq!(drain(&mut c), vec![cp(0x8021, 4, 1, &h("0206 002d0f00"))]);
    let mpd_req = h("0306 c0a82001");
    c.handle_frame(now, &cp(0x8021, 1, 2, &mpd_req)).unwrap();
    assert_eq!(drain(&mut c), vec![cp(0x8021, 2, 2, &mpd_req)]);
    c.handle_frame(now, &cp(0x8021, 2, 3, &nak)).unwrap();
    let up = events(&mut c)
        .into_iter()
        .find(|e| matches!(e, Event::Up { .. }))
        .unwrap();
    assert_eq!(
        up,
        Event::Up {
            local_ip: Ipv4Addr::new(192, 168, 32, 128),
            peer_ip: Ipv4Addr::new(192, 168, 32, 1),
            dns: [Some(Ipv4Addr::new(192, 168, 48, 1)), None],
            nbns: [None, None],
            mru: 1500,
        }
    );
}

/// Against mpd, which Naks MPPE instead of rejecting it, and a server that never
/// answers CCP: CCP gives up, IPCP is unaffected.
#[test]
fn windows_client_closes_ccp_on_nak() {
    let now = Instant::now_for_tests();
    let cfg = Config::windows_client("W");
    let creds = ppp::Credentials::new("User", "clientPass");
    let mut c = Session::new_client(Arc::new(cfg), creds, now, &mut client_rng());
    drain(&mut c);
    let no_cb = h("01040578 05060a0b0c0d 0702 0802");
    c.handle_frame(now, &lcp(4, 1, &h("0d0306"))).unwrap();
    c.handle_frame(now, &lcp(1, 1, &h("05069c7658c5"))).unwrap();
    c.handle_frame(now, &lcp(2, 2, &no_cb)).unwrap();
    // No authentication asked for: straight to the Network phase.
    let out = drain(&mut c);
    assert!(
        out.contains(&cp(0x80fd, 1, 1, &h("1206 01000000"))),
        "{out:?}"
    );
    // A Nak of MPPE toward 128-bit stateful keys: we have no MPPE, CCP closes.
    c.handle_frame(now, &cp(0x80fd, 3, 1, &h("1206 00000040")))
        .unwrap();
    let out = drain(&mut c);
    assert_eq!(out.len(), 1);
    let (proto, code, _, _) = common::parse(&out[0]);
    assert_eq!((proto, code), (0x80fd, 5), "CCP Terminate-Request");
    assert!(
        events(&mut c)
            .iter()
            .all(|e| !matches!(e, Event::Down { .. }))
    );
}

/// A server that acks the Callback option (Windows RRAS would) and runs CBCP: its
/// Callback-Request is answered with "no callback" (option type 1), and the link goes on.
#[test]
fn windows_client_answers_cbcp_with_no_callback() {
    let now = Instant::now_for_tests();
    let cfg = Config::windows_client("W");
    let creds = ppp::Credentials::new("User", "clientPass");
    let mut c = Session::new_client(Arc::new(cfg), creds, now, &mut client_rng());
    let first = h("01040578 05060a0b0c0d 0702 0802 0d0306");
    assert_eq!(drain(&mut c), vec![lcp(1, 1, &first)]);
    c.handle_frame(now, &lcp(1, 1, &h("05069c7658c5"))).unwrap();
    c.handle_frame(now, &lcp(2, 1, &first)).unwrap();
    drain(&mut c);
    // CBCP Callback-Request offering "no callback" and "callback to a user number".
    c.handle_frame(now, &cp(0xc029, 1, 9, &h("0102 020300")))
        .unwrap();
    assert_eq!(drain(&mut c), vec![cp(0xc029, 2, 9, &h("0102"))]);
    assert!(
        events(&mut c)
            .iter()
            .all(|e| !matches!(e, Event::Down { .. }))
    );
}
