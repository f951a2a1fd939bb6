//! The L2TP LAC (the client role of `l2tpgw connect`), driven by a sequence of LNS
//! datagrams, timer jumps and commands (connect, open and close sessions, close tunnels,
//! send data). Nothing may panic; counts stay bounded; after the input, with no more
//! answers, every tunnel ends and no state is left. To get past the random Tunnel and
//! Session IDs, a datagram may have its header IDs replaced by ones the LAC assigned
//! (learnt from its SCCRQs and ICRQs).
//!
//! Input: a config byte (bit 0: a tunnel secret, bit 1: hidden AVPs), then records of
//! [op][arg][u16 length][bytes]. Seeds:
//! `L2TP_CORPUS=fuzz/corpus cargo test -p l2tp --test fuzz_seeds -- --ignored`.
#![no_main]

use std::time::{Duration, Instant};

use l2tp::msgs::{ControlMessage, Header};
use l2tp::{
    Config, Endpoint, Event, PeerId, Secret, SessionId, SessionRef, TunnelHandle, TunnelId,
};
use libfuzzer_sys::fuzz_target;
use wire::PacketBuf;
use wire::random::DeterministicRandom;

fuzz_target!(|data: &[u8]| {
    let Some((&cfg, mut rest)) = data.split_first() else {
        return;
    };
    #[allow(
        clippy::disallowed_methods,
        reason = "the fuzz target's virtual clock base"
    )]
    let mut now = Instant::now();
    let mut config = Config::lac();
    config.max_tunnels = 4;
    config.max_sessions_per_tunnel = 4;
    config.max_sessions = 8;
    if cfg & 1 != 0 {
        config.secret = Some(Secret::new(b"fuzz".to_vec()));
        config.hide_avps = cfg & 2 != 0;
    }
    let mut ep = Endpoint::new(config, Box::new(DeterministicRandom::new(1)));
    // IDs the LAC assigned, learnt from its SCCRQs and ICRQs.
    let mut tunnels: Vec<TunnelId> = Vec::new();
    let mut sessions: Vec<SessionId> = Vec::new();
    let mut handles: Vec<TunnelHandle> = Vec::new();
    let mut up: Vec<SessionRef> = Vec::new();
    if let Ok(h) = ep.connect(now, PeerId(0)) {
        handles.push(h);
    }
    loop {
        let mut buf = Vec::new();
        while let Some(t) = ep.poll_transmit(&mut buf) {
            assert_eq!(t.len, buf.len());
            let (_, payload) = Header::decode(&buf).expect("we send what we can parse");
            if let Ok(m) = ControlMessage::decode(payload, None) {
                if let Some(t) = m.assigned_tunnel_id().filter(|t| t.0 != 0)
                    && tunnels.len() < 16
                {
                    tunnels.push(t);
                }
                if let Some(s) = m.assigned_session_id().filter(|s| s.0 != 0)
                    && sessions.len() < 64
                {
                    sessions.push(s);
                }
            }
            buf.clear();
        }
        while let Some(e) = ep.poll_event() {
            match e {
                Event::SessionUp(s) => up.push(s),
                Event::SessionDown { session, .. } => up.retain(|s| *s != session),
                Event::TunnelDown { tunnel, .. } => handles.retain(|h| h.tunnel != tunnel),
                Event::TunnelUp { .. } => {}
            }
        }
        assert!(ep.tunnel_count() <= 4);
        assert!(ep.session_count() <= 8);
        if let Some(t) = ep.poll_timeout() {
            assert!(t >= now);
        }

        let &[op, arg, l0, l1, ref tail @ ..] = rest else {
            break;
        };
        let len = usize::from(u16::from_be_bytes([l0, l1]));
        let (chunk, tail) = tail.split_at(len.min(tail.len()));
        rest = tail;
        let peer = PeerId(u64::from(arg & 1));
        match op % 8 {
            0..=2 => {
                let mut d = chunk.to_vec();
                if op % 8 != 0 && d.len() >= 8 {
                    // Aim at a tunnel (and a session) the LAC knows.
                    let at = if d[0] & 0x40 != 0 { 4 } else { 2 };
                    if let Some(t) = tunnels.get(usize::from(arg >> 2) % tunnels.len().max(1)) {
                        d[at..at + 2].copy_from_slice(&t.0.to_be_bytes());
                    }
                    if op % 8 == 2
                        && let Some(s) = sessions.get(usize::from(arg >> 4) % sessions.len().max(1))
                    {
                        d[at + 2..at + 4].copy_from_slice(&s.0.to_be_bytes());
                    }
                }
                if let Ok(Some(ppp)) = ep.handle_datagram(now, peer, &d) {
                    assert!(ppp.frame.len() < d.len());
                    assert_eq!(&d[ppp.range.clone()], ppp.frame);
                }
            }
            3 => {
                now += Duration::from_millis(u64::from(arg) * 250);
                ep.handle_timeout(now);
            }
            4 => ep.peer_gone(peer),
            5 => {
                if let Some(s) = up.get(usize::from(arg) % up.len().max(1)) {
                    let mut buf = PacketBuf::new(256, 16);
                    let _ = buf.set_payload(chunk.get(..200).unwrap_or(chunk));
                    let _ = ep.encap_data(*s, &mut buf);
                }
            }
            6 => {
                if arg & 0x80 != 0 {
                    if let Ok(h) = ep.connect(now, peer) {
                        handles.push(h);
                    }
                } else if let Some(h) = handles.get(usize::from(arg) % handles.len().max(1)) {
                    let _ = ep.open_session(now, *h);
                }
            }
            _ => {
                if arg & 0x80 != 0 {
                    if let Some(h) = handles.get(usize::from(arg & 0x7f) % handles.len().max(1)) {
                        let _ = ep.close_tunnel(now, *h);
                    }
                } else if let Some(s) = up.get(usize::from(arg) % up.len().max(1)) {
                    let _ = ep.close_session(now, *s);
                }
            }
        }
    }
    // Everything ends: after enough time with no answers, no state is left.
    for _ in 0..100_000 {
        match ep.poll_timeout() {
            Some(t) => {
                now = now.max(t);
                ep.handle_timeout(now);
                let mut buf = Vec::new();
                while ep.poll_transmit(&mut buf).is_some() {
                    buf.clear();
                }
                while ep.poll_event().is_some() {}
            }
            None => break,
        }
    }
    assert_eq!(ep.poll_timeout(), None);
    assert_eq!(ep.state_size(), 0, "{ep:#?}");
});
