//! The data fast path: decapsulating a data message (a borrowed PPP frame) and
//! encapsulating a PPP frame in place. Prints ns per packet; asserts nothing about time.
//!
//! `cargo bench -p l2tp --bench data_path`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark program"
)]
#![allow(clippy::disallowed_methods, reason = "a benchmark reads the clock")]

use std::hint::black_box;
use std::time::{Duration, Instant};

use l2tp::msgs::{AvpValue, ControlMessage, Header, MessageType};
use l2tp::{Config, Endpoint, Event, PeerId, SessionId, TunnelId};
use wire::PacketBuf;
use wire::random::DeterministicRandom;

fn control(
    ty: MessageType,
    avps: Vec<AvpValue>,
    tunnel: TunnelId,
    session: SessionId,
    ns: u16,
    nr: u16,
) -> Vec<u8> {
    let mut m = ControlMessage::new(ty);
    for v in avps {
        m = m.with(v);
    }
    let mut out = Vec::new();
    m.encode_with_header(tunnel, session, ns, nr, &mut out, None)
        .unwrap();
    out
}

fn main() {
    let now = Instant::now();
    let peer = PeerId(1);
    let mut ep = Endpoint::new(Config::default(), Box::new(DeterministicRandom::new(1)));
    let sccrq = control(
        MessageType::Sccrq,
        vec![
            AvpValue::AssignedTunnelId(TunnelId(7)),
            AvpValue::ReceiveWindowSize(8),
        ],
        TunnelId(0),
        SessionId(0),
        0,
        0,
    );
    ep.handle_datagram(now, peer, &sccrq).unwrap();
    let mut buf = Vec::new();
    let _ = ep.poll_transmit(&mut buf).unwrap();
    let (_, payload) = Header::decode(&buf).unwrap();
    let tunnel = ControlMessage::decode(payload, None)
        .unwrap()
        .assigned_tunnel_id()
        .unwrap();
    ep.handle_datagram(
        now,
        peer,
        &control(MessageType::Scccn, vec![], tunnel, SessionId(0), 1, 1),
    )
    .unwrap();
    let icrq = control(
        MessageType::Icrq,
        vec![AvpValue::AssignedSessionId(SessionId(9))],
        tunnel,
        SessionId(0),
        2,
        1,
    );
    ep.handle_datagram(now, peer, &icrq).unwrap();
    buf.clear();
    let _ = ep.poll_transmit(&mut buf).unwrap();
    let (_, payload) = Header::decode(&buf).unwrap();
    let session = ControlMessage::decode(payload, None)
        .unwrap()
        .assigned_session_id()
        .unwrap();
    ep.handle_datagram(
        now,
        peer,
        &control(MessageType::Iccn, vec![], tunnel, session, 3, 2),
    )
    .unwrap();
    let sref = loop {
        if let Some(Event::SessionUp(s)) = ep.poll_event() {
            break s;
        }
    };

    let frame = vec![0x21u8; 1400];
    let mut data = vec![0x00, 0x02];
    data.extend_from_slice(&tunnel.0.to_be_bytes());
    data.extend_from_slice(&session.0.to_be_bytes());
    data.extend_from_slice(&[0xff, 0x03]);
    data.extend_from_slice(&frame);

    let n = 5_000_000u32;
    let start = Instant::now();
    for _ in 0..n {
        let ppp = ep
            .handle_datagram(now, peer, black_box(&data))
            .unwrap()
            .unwrap();
        black_box(ppp.frame.len());
    }
    report(
        "decap (handle_datagram, 1408-byte data message)",
        start.elapsed(),
        n,
    );

    let mut pb = PacketBuf::new(2048, 64);
    let start = Instant::now();
    for _ in 0..n {
        pb.reset(64);
        pb.set_len(1402).unwrap();
        ep.encap_data(sref, black_box(&mut pb)).unwrap();
        black_box(pb.len());
    }
    report(
        "encap (encap_data in place, 1402-byte PPP frame)",
        start.elapsed(),
        n,
    );
}

fn report(what: &str, elapsed: Duration, n: u32) {
    let ns = elapsed.as_nanos() as f64 / f64::from(n);
    println!("{what}: {ns:.1} ns/packet, {:.1} Mpps", 1e3 / ns);
}
