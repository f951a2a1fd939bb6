//! An LNS fed the real xl2tpd messages from the capture, and hostile or odd input.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers outside #[test] functions"
)]

mod common;

use std::time::Duration;

use common::t0;
use l2tp::msgs::{AvpValue, ControlMessage, ErrorCode, Header, MessageType, ResultCode};
use l2tp::{Config, Endpoint, Error, Event, PeerId, SessionId, SessionRef, TunnelId};
use wire::DecodeError;
use wire::random::DeterministicRandom;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/testdata/{name}.hex", env!("CARGO_MANIFEST_DIR"));
    hex::decode(std::fs::read_to_string(path).unwrap().trim()).unwrap()
}

fn lns() -> Endpoint {
    Endpoint::new(Config::default(), Box::new(DeterministicRandom::new(42)))
}

/// Rewrites a captured message's header IDs to ours (the capture's LNS chose others).
fn readdress(mut bytes: Vec<u8>, tunnel: TunnelId, session: Option<SessionId>) -> Vec<u8> {
    let at = if bytes[0] & 0x40 != 0 { 4 } else { 2 };
    bytes[at..at + 2].copy_from_slice(&tunnel.0.to_be_bytes());
    if let Some(s) = session {
        bytes[at + 2..at + 4].copy_from_slice(&s.0.to_be_bytes());
    }
    bytes
}

/// The next transmitted message, decoded.
fn next_message(ep: &mut Endpoint) -> (PeerId, Header, Option<ControlMessage>) {
    let mut buf = Vec::new();
    let t = ep.poll_transmit(&mut buf).expect("a message to send");
    let (h, payload) = Header::decode(&buf).unwrap();
    let msg = (!payload.is_empty()).then(|| ControlMessage::decode(payload, None).unwrap());
    (t.peer, h, msg)
}

/// The next transmitted message, if any.
fn try_next(ep: &mut Endpoint) -> Option<(PeerId, Header, Option<ControlMessage>)> {
    let mut buf = Vec::new();
    let t = ep.poll_transmit(&mut buf)?;
    let (h, payload) = Header::decode(&buf).unwrap();
    let msg = (!payload.is_empty()).then(|| ControlMessage::decode(payload, None).unwrap());
    Some((t.peer, h, msg))
}

fn control(
    ty: MessageType,
    avps: Vec<AvpValue>,
    tunnel: u16,
    session: u16,
    ns: u16,
    nr: u16,
) -> Vec<u8> {
    let mut m = ControlMessage::new(ty);
    for v in avps {
        m = m.with(v);
    }
    let mut out = Vec::new();
    m.encode_with_header(TunnelId(tunnel), SessionId(session), ns, nr, &mut out, None)
        .unwrap();
    out
}

struct Up {
    ep: Endpoint,
    tunnel: TunnelId,
    session: SessionRef,
    now: std::time::Instant,
}

/// Walks the captured xl2tpd SCCRQ, SCCCN, ICRQ and ICCN through an LNS.
fn bring_up_with_capture() -> Up {
    let now = t0();
    let peer = PeerId(1);
    let mut ep = lns();
    assert_eq!(
        ep.handle_datagram(now, peer, &fixture("xl2tpd-sccrq")),
        Ok(None)
    );
    let (to, h, sccrp) = next_message(&mut ep);
    let sccrp = sccrp.unwrap();
    assert_eq!(to, peer);
    assert_eq!(
        h.tunnel,
        TunnelId(0x3c85),
        "SCCRP goes to xl2tpd's assigned tunnel"
    );
    assert_eq!(h.sequence.map(|s| (s.ns, s.nr)), Some((0, 1)));
    assert_eq!(sccrp.message_type(), MessageType::Sccrp);
    assert_eq!(sccrp.protocol_version(), Some((1, 0)));
    assert_eq!(sccrp.receive_window_size(), Some(16));
    let tunnel = sccrp.assigned_tunnel_id().unwrap();
    assert_ne!(tunnel.0, 0);
    assert!(ep.poll_transmit(&mut Vec::new()).is_none());

    // SCCCN (Ns 1, Nr 1 acknowledges the SCCRP): the tunnel is up.
    let scccn = readdress(fixture("xl2tpd-scccn"), tunnel, None);
    assert_eq!(ep.handle_datagram(now, peer, &scccn), Ok(None));
    assert_eq!(
        ep.poll_event(),
        Some(Event::TunnelUp {
            peer,
            tunnel,
            peer_tunnel: TunnelId(0x3c85)
        })
    );
    // Nothing to say back but an acknowledgement, after the ack delay.
    assert!(ep.poll_transmit(&mut Vec::new()).is_none());
    let ack_at = ep.poll_timeout().unwrap();
    assert_eq!(ack_at - now, Duration::from_millis(100));
    ep.handle_timeout(ack_at);
    let (_, h, zlb) = next_message(&mut ep);
    assert!(zlb.is_none());
    assert_eq!(h.sequence.map(|s| (s.ns, s.nr)), Some((1, 2)));

    // ICRQ → ICRP to xl2tpd's session 0x9bd2.
    let icrq = readdress(fixture("xl2tpd-icrq"), tunnel, None);
    assert_eq!(ep.handle_datagram(now, peer, &icrq), Ok(None));
    let (_, h, icrp) = next_message(&mut ep);
    let icrp = icrp.unwrap();
    assert_eq!(icrp.message_type(), MessageType::Icrp);
    assert_eq!((h.tunnel, h.session), (TunnelId(0x3c85), SessionId(0x9bd2)));
    assert_eq!(h.sequence.map(|s| (s.ns, s.nr)), Some((1, 3)));
    let session = icrp.assigned_session_id().unwrap();

    // ICCN → SessionUp.
    let iccn = readdress(fixture("xl2tpd-iccn"), tunnel, Some(session));
    assert_eq!(ep.handle_datagram(now, peer, &iccn), Ok(None));
    let up = match ep.poll_event() {
        Some(Event::SessionUp(s)) => s,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        (
            up.peer,
            up.tunnel,
            up.session,
            up.peer_tunnel,
            up.peer_session
        ),
        (peer, tunnel, session, TunnelId(0x3c85), SessionId(0x9bd2))
    );
    Up {
        ep,
        tunnel,
        session: up,
        now,
    }
}

#[test]
fn captured_xl2tpd_exchange_brings_up_a_session_and_data_flows() {
    let Up {
        mut ep,
        tunnel,
        session,
        now,
    } = bring_up_with_capture();
    // xl2tpd's first data message (LCP Configure-Request), no L/S/O: borrowed frame.
    let data = hex::decode("000200010001ff03c02101010014010405780206000000000506c1624a80").unwrap();
    let data = readdress(data, tunnel, Some(session.session));
    let ppp = ep.handle_datagram(now, PeerId(1), &data).unwrap().unwrap();
    assert_eq!(ppp.session, session);
    assert_eq!(ppp.frame, &data[6..]);
    assert_eq!(ppp.range, 6..data.len());
    assert!(
        std::ptr::eq(ppp.frame.as_ptr(), data[6..].as_ptr()),
        "the frame is borrowed"
    );

    // Outbound: the header goes into the headroom, addressed with xl2tpd's IDs.
    let mut buf = wire::PacketBuf::new(128, 32);
    buf.set_payload(&[0xff, 0x03, 0xc0, 0x21, 0x04]).unwrap();
    ep.encap_data(session, &mut buf).unwrap();
    assert_eq!(
        buf.payload(),
        &[
            0x00, 0x02, 0x3c, 0x85, 0x9b, 0xd2, 0xff, 0x03, 0xc0, 0x21, 0x04
        ]
    );
    assert_eq!(buf.headroom(), 26);
    // Too little headroom is an error, not a panic.
    let mut tight = wire::PacketBuf::new(16, 2);
    tight.set_payload(&[0xff]).unwrap();
    assert!(matches!(
        ep.encap_data(session, &mut tight),
        Err(Error::Buffer(_))
    ));

    // The captured HELLO-less exchange leaves one tunnel and one session.
    assert_eq!((ep.tunnel_count(), ep.session_count()), (1, 1));
    assert_eq!(ep.stats().rx_data, 1);
    assert_eq!(ep.stats().tx_data, 1);
}

#[test]
fn retransmitted_sccrq_does_not_create_a_second_tunnel_but_another_peer_does() {
    let now = t0();
    let mut ep = lns();
    let sccrq = fixture("xl2tpd-sccrq");
    ep.handle_datagram(now, PeerId(1), &sccrq).unwrap();
    let (_, _, first) = next_message(&mut ep);
    ep.handle_datagram(now + Duration::from_millis(300), PeerId(1), &sccrq)
        .unwrap();
    assert_eq!(ep.tunnel_count(), 1);
    assert_eq!(ep.stats().duplicates, 1);
    // The duplicate is acknowledged at once (a ZLB carrying Nr 1).
    ep.handle_timeout(now + Duration::from_millis(300));
    let (_, h, zlb) = next_message(&mut ep);
    assert!(zlb.is_none());
    assert_eq!(h.sequence.map(|s| s.nr), Some(1));
    // Two clients behind one NAT send the same SCCRQ: two tunnels.
    ep.handle_datagram(now, PeerId(2), &sccrq).unwrap();
    assert_eq!(ep.tunnel_count(), 2);
    let (to, _, second) = next_message(&mut ep);
    assert_eq!(to, PeerId(2));
    assert_ne!(
        first.unwrap().assigned_tunnel_id(),
        second.unwrap().assigned_tunnel_id()
    );
}

#[test]
fn a_handshake_that_stalls_after_the_sccrp_is_acknowledged_expires() {
    let now = t0();
    let peer = PeerId(1);
    let mut ep = lns();
    ep.handle_datagram(now, peer, &fixture("xl2tpd-sccrq"))
        .unwrap();
    let (_, _, sccrp) = next_message(&mut ep);
    let tunnel = sccrp.unwrap().assigned_tunnel_id().unwrap();
    // A ZLB acknowledges the SCCRP, then a message that is not an SCCCN.
    ep.handle_datagram(
        now,
        peer,
        &control(MessageType::Hello, vec![], tunnel.0, 0, 1, 1),
    )
    .unwrap();
    ep.handle_datagram(
        now,
        peer,
        &control(MessageType::Iccn, vec![], tunnel.0, 0, 2, 1),
    )
    .unwrap_err();
    let mut last = now;
    while let Some(at) = ep.poll_timeout() {
        assert!(at - now <= Duration::from_secs(61), "timers run on");
        last = at;
        ep.handle_timeout(at);
        while ep.poll_transmit(&mut Vec::new()).is_some() {}
    }
    assert_eq!(last - now, Duration::from_secs(60));
    assert_eq!(ep.state_size(), 0);
    assert_eq!(ep.poll_event(), None, "a tunnel never up is not announced");
}

#[test]
fn windows_sccrq_and_icrq_with_a_result_code_are_accepted() {
    let now = t0();
    let peer = PeerId(7);
    let mut ep = lns();
    ep.handle_datagram(now, peer, &fixture("windows-sccrq"))
        .unwrap();
    let (_, h, sccrp) = next_message(&mut ep);
    assert_eq!(h.tunnel, TunnelId(1));
    let tunnel = sccrp.unwrap().assigned_tunnel_id().unwrap();
    ep.handle_datagram(
        now,
        peer,
        &control(MessageType::Scccn, vec![], tunnel.0, 0, 1, 1),
    )
    .unwrap();
    // Windows' ICRQ carries a Result Code AVP.
    let icrq = control(
        MessageType::Icrq,
        vec![
            AvpValue::AssignedSessionId(SessionId(1)),
            AvpValue::CallSerialNumber(0),
            AvpValue::BearerType(0),
            AvpValue::ResultCode(ResultCode::new(0)),
        ],
        tunnel.0,
        0,
        2,
        1,
    );
    ep.handle_datagram(now, peer, &icrq).unwrap();
    let (_, h, icrp) = next_message(&mut ep);
    assert_eq!(icrp.unwrap().message_type(), MessageType::Icrp);
    assert_eq!(h.session, SessionId(1));
}

fn refusal(ep: &mut Endpoint) -> (Header, ResultCode) {
    let (_, h, msg) = next_message(ep);
    let msg = msg.unwrap();
    assert_eq!(msg.message_type(), MessageType::StopCcn);
    (h, msg.result_code().unwrap().clone())
}

#[test]
fn sccrq_refusals_send_stopccn_and_keep_no_state() {
    let now = t0();
    let sccrq = |avps: Vec<AvpValue>, extra_mandatory: bool| {
        let mut m =
            ControlMessage::new(MessageType::Sccrq).with(AvpValue::AssignedTunnelId(TunnelId(9)));
        for v in avps {
            m = m.with(v);
        }
        m = if extra_mandatory {
            m.with(AvpValue::Raw {
                vendor: 0,
                attribute: 999,
                value: vec![1],
            })
        } else {
            m.with_optional(AvpValue::Raw {
                vendor: 0,
                attribute: 999,
                value: vec![1],
            })
        };
        let mut out = Vec::new();
        m.encode_with_header(TunnelId(0), SessionId(0), 0, 0, &mut out, None)
            .unwrap();
        out
    };
    // Unknown AVP with M: StopCCN, general error, "unknown mandatory AVP".
    let mut ep = lns();
    assert_eq!(
        ep.handle_datagram(now, PeerId(1), &sccrq(vec![], true)),
        Err(Error::UnknownMandatoryAvp {
            vendor: 0,
            attribute: 999
        })
    );
    let (h, rc) = refusal(&mut ep);
    assert_eq!(h.tunnel, TunnelId(9));
    assert_eq!(
        (rc.result, rc.error),
        (2, Some(ErrorCode::UnknownMandatoryAvp))
    );
    assert_eq!(ep.state_size(), 0);
    assert_eq!(ep.stats().unknown_mandatory_avp, 1);
    // Unknown AVP without M: ignored, the tunnel is made.
    ep.handle_datagram(now, PeerId(1), &sccrq(vec![], false))
        .unwrap();
    assert_eq!(ep.tunnel_count(), 1);

    // Protocol version 2.0: result 5.
    let mut ep = lns();
    let v2 = sccrq(
        vec![AvpValue::ProtocolVersion {
            version: 2,
            revision: 0,
        }],
        false,
    );
    assert_eq!(
        ep.handle_datagram(now, PeerId(1), &v2),
        Err(Error::UnsupportedProtocolVersion)
    );
    assert_eq!(refusal(&mut ep).1.result, 5);
    assert_eq!(ep.state_size(), 0);

    // A Challenge without a configured secret: result 4 (not authorized).
    let mut ep = lns();
    let chal = sccrq(vec![AvpValue::Challenge(vec![1; 16])], false);
    assert_eq!(
        ep.handle_datagram(now, PeerId(1), &chal),
        Err(Error::AuthenticationFailed)
    );
    assert_eq!(refusal(&mut ep).1.result, 4);

    // Per-peer tunnel limit: the second SCCRQ (another assigned ID) is refused.
    let config = Config {
        max_tunnels_per_peer: 1,
        ..Config::default()
    };
    let mut ep = Endpoint::new(config, Box::new(DeterministicRandom::new(1)));
    ep.handle_datagram(now, PeerId(1), &fixture("xl2tpd-sccrq"))
        .unwrap();
    let _ = next_message(&mut ep);
    assert_eq!(
        ep.handle_datagram(now, PeerId(1), &sccrq(vec![], false)),
        Err(Error::TunnelLimit)
    );
    let (_, rc) = refusal(&mut ep);
    assert_eq!(
        (rc.result, rc.error),
        (2, Some(ErrorCode::InsufficientResources))
    );
    assert_eq!(ep.tunnel_count(), 1);
    // Another peer still gets one.
    ep.handle_datagram(now, PeerId(2), &sccrq(vec![], false))
        .unwrap();
    assert_eq!(ep.tunnel_count(), 2);
}

#[test]
fn session_messages_unknown_mandatory_avp_ocrq_wen_sli() {
    let Up {
        mut ep,
        tunnel,
        session,
        now,
    } = bring_up_with_capture();
    let peer = PeerId(1);
    // Ns continues from the capture: SCCRQ 0, SCCCN 1, ICRQ 2, ICCN 3.
    let wen = control(
        MessageType::Wen,
        vec![AvpValue::CallErrors(Default::default())],
        tunnel.0,
        session.session.0,
        4,
        3,
    );
    ep.handle_datagram(now, peer, &wen).unwrap();
    let sli = control(
        MessageType::Sli,
        vec![AvpValue::Accm(l2tp::msgs::avp::Accm {
            send: 0,
            receive: 0,
        })],
        tunnel.0,
        session.session.0,
        5,
        3,
    );
    ep.handle_datagram(now, peer, &sli).unwrap();
    assert_eq!((ep.stats().wen_received, ep.stats().sli_received), (1, 1));

    // OCRQ: refused with a CDN to the caller's session.
    let ocrq = control(
        MessageType::Ocrq,
        vec![
            AvpValue::AssignedSessionId(SessionId(77)),
            AvpValue::CallSerialNumber(1),
        ],
        tunnel.0,
        0,
        6,
        3,
    );
    ep.handle_datagram(now, peer, &ocrq).unwrap();
    let (_, h, cdn) = next_message(&mut ep);
    assert_eq!(cdn.unwrap().message_type(), MessageType::Cdn);
    assert_eq!(h.session, SessionId(77));
    assert_eq!(ep.stats().ocrq_refused, 1);

    // An ICRQ with an unknown mandatory AVP: CDN, result 2, error 8; no session made.
    let mut m =
        ControlMessage::new(MessageType::Icrq).with(AvpValue::AssignedSessionId(SessionId(5)));
    m = m.with(AvpValue::Raw {
        vendor: 311,
        attribute: 1,
        value: vec![],
    });
    let mut icrq = Vec::new();
    m.encode_with_header(tunnel, SessionId(0), 7, 3, &mut icrq, None)
        .unwrap();
    assert!(matches!(
        ep.handle_datagram(now, peer, &icrq),
        Err(Error::UnknownMandatoryAvp { vendor: 311, .. })
    ));
    let (_, h, cdn) = next_message(&mut ep);
    let cdn = cdn.unwrap();
    assert_eq!(h.session, SessionId(5));
    let rc = cdn.result_code().unwrap();
    assert_eq!(
        (rc.result, rc.error),
        (2, Some(ErrorCode::UnknownMandatoryAvp))
    );
    assert_eq!(ep.session_count(), 1);

    // A HELLO with an unknown mandatory AVP ends the tunnel: StopCCN 2/8.
    let mut m = ControlMessage::new(MessageType::Hello);
    m = m.with(AvpValue::Raw {
        vendor: 0,
        attribute: 500,
        value: vec![],
    });
    let mut hello = Vec::new();
    m.encode_with_header(tunnel, SessionId(0), 8, 3, &mut hello, None)
        .unwrap();
    assert!(ep.handle_datagram(now, peer, &hello).is_err());
    let (_, rc) = refusal(&mut ep);
    assert_eq!(
        (rc.result, rc.error),
        (2, Some(ErrorCode::UnknownMandatoryAvp))
    );
    let events: Vec<_> = std::iter::from_fn(|| ep.poll_event()).collect();
    assert!(
        matches!(
            &events[..],
            [Event::SessionDown { .. }, Event::TunnelDown { .. }]
        ),
        "{events:?}"
    );
}

#[test]
fn peer_cdn_and_stopccn_are_honoured() {
    let Up {
        mut ep,
        tunnel,
        session,
        now,
    } = bring_up_with_capture();
    let peer = PeerId(1);
    let cdn = control(
        MessageType::Cdn,
        vec![
            AvpValue::ResultCode(ResultCode::new(3)),
            AvpValue::AssignedSessionId(SessionId(0x9bd2)),
        ],
        tunnel.0,
        session.session.0,
        4,
        3,
    );
    ep.handle_datagram(now, peer, &cdn).unwrap();
    assert_eq!(
        ep.poll_event(),
        Some(Event::SessionDown {
            session,
            result: ResultCode::new(3)
        })
    );
    assert_eq!(ep.session_count(), 0);
    let stop = control(
        MessageType::StopCcn,
        vec![
            AvpValue::AssignedTunnelId(TunnelId(0x3c85)),
            AvpValue::ResultCode(ResultCode::new(6)),
        ],
        tunnel.0,
        0,
        5,
        3,
    );
    ep.handle_datagram(now, peer, &stop).unwrap();
    assert_eq!(
        ep.poll_event(),
        Some(Event::TunnelDown {
            peer,
            tunnel,
            reason: l2tp::TunnelDownReason::StopCcnReceived(ResultCode::new(6))
        })
    );
    // The StopCCN is acknowledged, a retransmission of it too, then the state goes.
    let mut t = now;
    let mut acks = 0;
    let mut rounds = 0;
    while let Some(at) = ep.poll_timeout() {
        rounds += 1;
        assert!(rounds < 100, "runaway timers");
        t = at;
        ep.handle_timeout(at);
        if let Some((_, h, msg)) = try_next(&mut ep) {
            assert!(msg.is_none(), "only acknowledgements after a StopCCN");
            assert_eq!(h.sequence.map(|s| s.nr), Some(6));
            acks += 1;
            if acks == 1 {
                // The peer did not hear the ack and sends its StopCCN again.
                ep.handle_datagram(at, peer, &stop).unwrap();
            }
        }
    }
    assert_eq!(acks, 2);
    assert_eq!(ep.stats().duplicates, 1);
    assert_eq!(t - now, Duration::from_secs(31));
    assert_eq!(ep.state_size(), 0);
}

#[test]
fn malformed_input_gives_typed_errors_and_counters() {
    let now = t0();
    let Up { mut ep, tunnel, .. } = bring_up_with_capture();
    let peer = PeerId(1);
    let before = ep.stats().clone();

    // Wrong version.
    let mut v3 = fixture("xl2tpd-sccrq");
    v3[1] = 0x03;
    assert_eq!(
        ep.handle_datagram(now, peer, &v3),
        Err(Error::UnsupportedVersion(3))
    );
    // Length field larger than the datagram.
    let mut long = fixture("xl2tpd-sccrq");
    long[3] += 1;
    assert!(matches!(
        ep.handle_datagram(now, peer, &long),
        Err(Error::Decode(DecodeError::BadLength { .. }))
    ));
    // An AVP overrunning the message.
    let mut overrun = readdress(fixture("xl2tpd-icrq"), tunnel, None);
    let n = overrun.len();
    overrun[n - 9] += 4;
    assert!(matches!(
        ep.handle_datagram(now, peer, &overrun),
        Err(Error::Decode(DecodeError::Truncated { what: "avp", .. }))
    ));
    // Tunnel ID 0 on a message other than SCCRQ, on a ZLB, on data.
    let scccn0 = readdress(fixture("xl2tpd-scccn"), TunnelId(0), None);
    assert_eq!(
        ep.handle_datagram(now, peer, &scccn0),
        Err(Error::ZeroTunnelId)
    );
    let zlb0 = readdress(fixture("xl2tpd-zlb"), TunnelId(0), None);
    assert_eq!(
        ep.handle_datagram(now, peer, &zlb0),
        Err(Error::ZeroTunnelId)
    );
    assert_eq!(
        ep.handle_datagram(now, peer, &[0, 2, 0, 0, 0, 1, 0xff]),
        Err(Error::ZeroTunnelId)
    );
    // Unknown tunnel; a tunnel of another peer; unknown session.
    let other = if tunnel.0 == 5 {
        TunnelId(6)
    } else {
        TunnelId(5)
    };
    let data = |t: TunnelId, s: u16| {
        let mut d = vec![0, 2];
        d.extend_from_slice(&t.0.to_be_bytes());
        d.extend_from_slice(&s.to_be_bytes());
        d.extend_from_slice(&[0xff, 0x03]);
        d
    };
    assert_eq!(
        ep.handle_datagram(now, peer, &data(other, 1)),
        Err(Error::UnknownTunnel(other))
    );
    assert_eq!(
        ep.handle_datagram(now, PeerId(99), &data(tunnel, 1)),
        Err(Error::WrongPeer(tunnel))
    );
    assert!(matches!(
        ep.handle_datagram(now, peer, &data(tunnel, 0)),
        Err(Error::UnknownSession { .. })
    ));
    // An SCCRQ without an Assigned Tunnel ID.
    let bare = control(MessageType::Sccrq, vec![], 0, 0, 0, 0);
    assert!(matches!(
        ep.handle_datagram(now, PeerId(3), &bare),
        Err(Error::MissingAvp(MessageType::Sccrq, _))
    ));
    // A "new" SCCRQ that does not start at Ns 0 makes no tunnel.
    let mut stray = fixture("xl2tpd-sccrq");
    stray[9] = 3;
    assert_eq!(
        ep.handle_datagram(now, PeerId(4), &stray),
        Err(Error::OutOfWindow)
    );
    assert_eq!(ep.tunnel_count(), 1);
    // Every prefix of every fixture: an error (or a valid message), never a panic.
    for name in [
        "xl2tpd-sccrq",
        "xl2tpd-icrq",
        "xl2tpd-iccn",
        "windows-sccrq",
        "softether-hello",
    ] {
        let bytes = fixture(name);
        for len in 0..bytes.len() {
            let _ = ep.handle_datagram(now, PeerId(50), &bytes[..len]);
        }
    }

    let s = ep.stats();
    assert_eq!(s.unsupported_version, before.unsupported_version + 1);
    assert!(s.malformed >= before.malformed + 2);
    assert_eq!(s.zero_tunnel_id, before.zero_tunnel_id + 3);
    assert_eq!(s.unknown_tunnel, before.unknown_tunnel + 1);
    assert_eq!(s.wrong_peer, before.wrong_peer + 1);
    assert_eq!(s.unknown_session, before.unknown_session + 1);
    assert_eq!(s.missing_avp, before.missing_avp + 1);
    // The established session is untouched.
    assert_eq!((ep.tunnel_count(), ep.session_count()), (1, 1));
}
