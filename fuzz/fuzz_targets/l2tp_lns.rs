//! A stateful LNS driven by a sequence of datagrams, timer jumps and commands. Nothing
//! may panic; counts stay consistent and bounded. To get past the random Tunnel and
//! Session IDs, a datagram may have its header IDs replaced by ones the LNS handed out.
#![no_main]

use std::time::{Duration, Instant};

use l2tp::msgs::{ControlMessage, Header};
use l2tp::{Config, Endpoint, Event, PeerId, SessionId, SessionRef, TunnelId};
use libfuzzer_sys::fuzz_target;
use wire::PacketBuf;
use wire::random::DeterministicRandom;

fuzz_target!(|data: &[u8]| {
    #[allow(
        clippy::disallowed_methods,
        reason = "the fuzz target's virtual clock base"
    )]
    let mut now = Instant::now();
    let mut config = Config::default();
    config.max_tunnels = 8;
    config.max_sessions_per_tunnel = 4;
    config.max_sessions = 16;
    let mut ep = Endpoint::new(config, Box::new(DeterministicRandom::new(1)));
    // IDs the LNS assigned, learnt from its SCCRPs and ICRPs.
    let mut tunnels: Vec<TunnelId> = Vec::new();
    let mut sessions: Vec<SessionId> = Vec::new();
    let mut up: Vec<SessionRef> = Vec::new();
    let mut rest = data;
    while let &[op, arg, ref tail @ ..] = rest {
        let (len, tail) = match tail {
            [len, tail @ ..] => (usize::from(*len), tail),
            [] => (0, &[][..]),
        };
        let (chunk, tail) = tail.split_at(len.min(tail.len()));
        rest = tail;
        let peer = PeerId(u64::from(arg & 3));
        match op % 6 {
            0 | 1 | 2 => {
                let mut d = chunk.to_vec();
                if op % 6 != 0 && d.len() >= 8 {
                    // Aim at a tunnel (and a session) the LNS knows.
                    let at = if d[0] & 0x40 != 0 { 4 } else { 2 };
                    if let Some(t) = tunnels.get(usize::from(arg >> 2) % tunnels.len().max(1)) {
                        d[at..at + 2].copy_from_slice(&t.0.to_be_bytes());
                    }
                    if op % 6 == 2
                        && let Some(s) = sessions.get(usize::from(arg >> 4) % sessions.len().max(1))
                    {
                        d[at + 2..at + 4].copy_from_slice(&s.0.to_be_bytes());
                    }
                }
                if let Ok(Some(ppp)) = ep.handle_datagram(now, peer, &d) {
                    assert!(ppp.frame.len() < d.len());
                }
            }
            3 => {
                now += Duration::from_millis(u64::from(arg) * 250);
                ep.handle_timeout(now);
            }
            4 => ep.peer_gone(peer),
            _ => {
                if let Some(s) = up.get(usize::from(arg) % up.len().max(1)) {
                    let mut buf = PacketBuf::new(256, 16);
                    let _ = buf.set_payload(chunk.get(..200).unwrap_or(chunk));
                    let _ = ep.encap_data(*s, &mut buf);
                }
            }
        }
        let mut buf = Vec::new();
        while let Some(t) = ep.poll_transmit(&mut buf) {
            assert_eq!(t.len, buf.len());
            let (h, payload) = Header::decode(&buf).expect("we send what we can parse");
            if let Ok(m) = ControlMessage::decode(payload, None) {
                if let Some(t) = m.assigned_tunnel_id().filter(|t| t.0 != 0) {
                    if tunnels.len() < 16 {
                        tunnels.push(t);
                    }
                }
                if let Some(s) = m.assigned_session_id().filter(|s| s.0 != 0) {
                    if sessions.len() < 64 {
                        sessions.push(s);
                    }
                }
            }
            let _ = h;
            buf.clear();
        }
        while let Some(e) = ep.poll_event() {
            match e {
                Event::SessionUp(s) => up.push(s),
                Event::SessionDown { session, .. } => up.retain(|s| *s != session),
                _ => {}
            }
        }
        assert!(ep.tunnel_count() <= 8);
        assert!(ep.session_count() <= 16);
        if let Some(t) = ep.poll_timeout() {
            assert!(t >= now);
        }
    }
    // Everything ends: after enough time with no input, no state is left.
    for _ in 0..100_000 {
        match ep.poll_timeout() {
            Some(t) => {
                now = now.max(t);
                ep.handle_timeout(now);
                let mut buf = Vec::new();
                while ep.poll_transmit(&mut buf).is_some() {}
            }
            None => break,
        }
    }
    assert_eq!(ep.poll_timeout(), None);
    assert_eq!(ep.state_size(), 0, "{ep:#?}");
});
