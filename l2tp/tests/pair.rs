//! LNS ↔ LAC on a virtual clock over a lossy, duplicating, reordering link.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers outside #[test] functions"
)]

mod common;

use std::time::Duration;

use common::*;
use l2tp::{Event, Secret, TunnelDownReason, TunnelHandle};

fn tunnel_ups(events: &[Event]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, Event::TunnelUp { .. }))
        .count()
}

fn tunnel_downs(events: &[Event]) -> Vec<TunnelDownReason> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::TunnelDown { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .collect()
}

fn session_downs(events: &[Event]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, Event::SessionDown { .. }))
        .count()
}

/// Brings up `tunnels` tunnels with `sessions` sessions each; returns the LAC's handles.
fn bring_up(p: &mut Pair, tunnels: usize, sessions: usize) -> Vec<TunnelHandle> {
    let handles: Vec<_> = (0..tunnels)
        .map(|_| p.lac.connect(p.now, LNS_PEER).unwrap())
        .collect();
    assert!(
        p.run_until(Duration::from_secs(60), |p| tunnel_ups(&p.lac_events)
            == tunnels
            && tunnel_ups(&p.lns_events) == tunnels),
        "tunnels did not come up: {:?} / {:?}",
        p.lac_events,
        p.lns_events
    );
    for h in &handles {
        for _ in 0..sessions {
            p.lac.open_session(p.now, *h).unwrap();
        }
    }
    let want = tunnels * sessions;
    assert!(
        p.run_until(Duration::from_secs(60), |p| Pair::sessions_up(
            &p.lac_events
        )
        .len()
            == want
            && Pair::sessions_up(&p.lns_events).len() == want),
        "sessions did not come up"
    );
    handles
}

fn run_lossy_scenario(seed: u64, lns: l2tp::Config, lac: l2tp::Config) {
    let mut p = Pair::new(lns, lac, LinkParams::lossy(), seed);
    p.lns.config();
    let handles = bring_up(&mut p, 3, 3);
    assert_eq!(p.lns.tunnel_count(), 3);
    assert_eq!(p.lns.session_count(), 9);

    // Data both ways on every session; each frame names its session and direction.
    let lac_sessions = Pair::sessions_up(&p.lac_events);
    let lns_sessions = Pair::sessions_up(&p.lns_events);
    for round in 0..20u8 {
        for s in &lac_sessions {
            let frame = [
                0xff,
                0x03,
                0x00,
                0x21,
                (s.session.0 >> 8) as u8,
                s.session.0 as u8,
                round,
                1,
            ];
            p.send_frame(Side::Lac, *s, &frame);
        }
        for s in &lns_sessions {
            let frame = [
                0xff,
                0x03,
                0x00,
                0x21,
                (s.session.0 >> 8) as u8,
                s.session.0 as u8,
                round,
                2,
            ];
            p.send_frame(Side::Lns, *s, &frame);
        }
        p.step();
    }
    p.run_until(Duration::from_secs(1), |_| false);
    let to_lns = p.frames.iter().filter(|f| f.0 == Side::Lns).count();
    let to_lac = p.frames.iter().filter(|f| f.0 == Side::Lac).count();
    // 180 frames each way, 30 % lost and 30 % of the rest duplicated.
    assert!(
        to_lns > 90 && to_lac > 90,
        "too few frames: {to_lns} {to_lac}"
    );
    for (side, session, frame) in &p.frames {
        // A frame arrives on the session it was sent on: the receiver's session ID is
        // the sender's peer session ID.
        let sender_session = u16::from_be_bytes([frame[4], frame[5]]);
        assert_eq!(
            sender_session, session.peer_session.0,
            "frame on the wrong session"
        );
        assert_eq!(frame[7], if *side == Side::Lns { 1 } else { 2 });
    }

    // Teardown: one session closed by each side, one tunnel closed by the LAC, one by
    // the LNS, one left to close with its sessions.
    p.lac.close_session(p.now, lac_sessions[0]).unwrap();
    let lns_victim = lns_sessions
        .iter()
        .find(|s| s.tunnel == lns_sessions[4].tunnel)
        .copied()
        .unwrap();
    p.lns.close_session(p.now, lns_victim).unwrap();
    p.lac.close_tunnel(p.now, handles[1]).unwrap();
    let lns_tunnel = lns_sessions
        .iter()
        .find(|s| s.peer_tunnel == handles[2].tunnel)
        .map(|s| TunnelHandle {
            peer: s.peer,
            tunnel: s.tunnel,
        })
        .unwrap();
    p.lns.close_tunnel(p.now, lns_tunnel).unwrap();
    p.lac.close_tunnel(p.now, handles[0]).unwrap();
    assert!(p.run_to_quiet(Duration::from_secs(600)), "did not go quiet");

    // Every tunnel and session ended on both sides, by StopCCN, and nothing is left.
    for (name, events, ep) in [
        ("lns", &p.lns_events, &p.lns),
        ("lac", &p.lac_events, &p.lac),
    ] {
        let downs = tunnel_downs(events);
        assert_eq!(downs.len(), 3, "{name}: {downs:?}");
        assert!(
            downs.iter().all(|r| matches!(
                r,
                TunnelDownReason::StopCcnReceived(_) | TunnelDownReason::StopCcnSent(_)
            )),
            "{name}: {downs:?}"
        );
        assert_eq!(session_downs(events), 9, "{name}");
        assert_eq!(ep.tunnel_count(), 0, "{name}");
        assert_eq!(ep.session_count(), 0, "{name}");
        assert_eq!(ep.state_size(), 0, "{name}");
        assert_eq!(ep.poll_timeout(), None, "{name}");
    }
    assert!(p.lns.stats().retransmits + p.lac.stats().retransmits > 0);
    assert!(p.lns.stats().duplicates + p.lac.stats().duplicates > 0);
}

#[test]
fn lossy_link_tunnels_sessions_data_and_clean_teardown() {
    for seed in [1, 2, 3, 4] {
        run_lossy_scenario(seed, lns_config(), lac_config());
    }
}

#[test]
fn lossy_link_with_tunnel_authentication_and_hidden_avps() {
    let secret = Secret::new(b"tunnel secret".to_vec());
    let mut lns = lns_config();
    lns.secret = Some(secret.clone());
    lns.hide_avps = true;
    let mut lac = lac_config();
    lac.secret = Some(secret);
    lac.hide_avps = true;
    run_lossy_scenario(7, lns, lac);
}

#[test]
fn wrong_secret_refuses_the_tunnel() {
    let mut lns = lns_config();
    lns.secret = Some(Secret::new(b"one".to_vec()));
    let mut lac = lac_config();
    lac.secret = Some(Secret::new(b"two".to_vec()));
    let mut p = Pair::new(lns, lac, LinkParams::perfect(), 1);
    p.lac.connect(p.now, LNS_PEER).unwrap();
    assert!(p.run_to_quiet(Duration::from_secs(120)));
    assert_eq!(tunnel_ups(&p.lac_events), 0);
    assert_eq!(tunnel_ups(&p.lns_events), 0);
    let downs = tunnel_downs(&p.lac_events);
    assert!(
        matches!(&downs[..], [TunnelDownReason::StopCcnSent(rc)] if rc.result == 4),
        "{downs:?}"
    );
    assert_eq!(p.lac.stats().auth_failed, 1);
    assert_eq!(p.lns.state_size() + p.lac.state_size(), 0);
}

#[test]
fn lac_without_secret_is_refused_by_an_lns_that_requires_one() {
    let mut lns = lns_config();
    lns.secret = Some(Secret::new(b"one".to_vec()));
    let mut p = Pair::new(lns, lac_config(), LinkParams::perfect(), 1);
    p.lac.connect(p.now, LNS_PEER).unwrap();
    assert!(p.run_to_quiet(Duration::from_secs(120)));
    // The LAC cannot answer the LNS's challenge and refuses.
    assert_eq!(tunnel_ups(&p.lac_events), 0);
    assert_eq!(p.lns.state_size() + p.lac.state_size(), 0);
}

#[test]
fn retry_limit_brings_the_tunnel_down() {
    let mut p = Pair::new(lns_config(), lac_config(), LinkParams::perfect(), 1);
    p.cut = true;
    let start = p.now;
    let h = p.lac.connect(p.now, LNS_PEER).unwrap();
    assert!(p.run_to_quiet(Duration::from_secs(600)));
    assert_eq!(
        p.lac_events,
        vec![Event::TunnelDown {
            peer: LNS_PEER,
            tunnel: h.tunnel,
            reason: TunnelDownReason::Timeout
        }]
    );
    // 1 + 2 + 4 + 8 + 8 seconds of retransmissions, then 8 more waiting for the last.
    assert_eq!((p.now - start).as_secs(), 31);
    assert_eq!(p.lac.stats().retransmits, 5);
    assert_eq!(p.datagrams, 6);
    assert_eq!(p.lac.state_size(), 0);
}

#[test]
fn hellos_keep_an_idle_tunnel_and_an_unanswered_hello_ends_it() {
    let mut p = Pair::new(lns_config(), lac_config(), LinkParams::perfect(), 1);
    bring_up(&mut p, 1, 1);
    let sent = p.lns.stats().tx_control + p.lac.stats().tx_control;
    let acks = p.lns.stats().tx_zlb + p.lac.stats().tx_zlb;
    // Ten idle minutes: a HELLO a minute (from whichever side's timer fires first, which
    // resets the other's), each acknowledged; nothing goes down.
    p.run_until(Duration::from_secs(600), |_| false);
    let hellos = p.lns.stats().tx_control + p.lac.stats().tx_control - sent;
    assert!((9..=10).contains(&hellos), "{hellos} HELLOs");
    assert_eq!(p.lns.stats().tx_zlb + p.lac.stats().tx_zlb - acks, hellos);
    assert!(tunnel_downs(&p.lns_events).is_empty());
    assert!(tunnel_downs(&p.lac_events).is_empty());
    // The peer vanishes: the next HELLO goes unanswered and both sides give up.
    p.cut = true;
    let cut_at = p.now;
    assert!(p.run_to_quiet(Duration::from_secs(600)));
    assert_eq!(tunnel_downs(&p.lns_events), vec![TunnelDownReason::Timeout]);
    assert_eq!(tunnel_downs(&p.lac_events), vec![TunnelDownReason::Timeout]);
    assert_eq!(session_downs(&p.lns_events), 1);
    // At most one HELLO interval, then one retransmission cycle (plus link latency).
    assert!(
        p.now - cut_at <= Duration::from_secs(60 + 31 + 1),
        "{:?}",
        p.now - cut_at
    );
    assert_eq!(p.lns.state_size() + p.lac.state_size(), 0);
    assert_eq!(p.lns.stats().tunnel_timeouts, 1);
}

#[test]
fn peer_gone_forgets_everything_silently() {
    let mut p = Pair::new(lns_config(), lac_config(), LinkParams::perfect(), 1);
    bring_up(&mut p, 2, 2);
    let datagrams = p.datagrams;
    p.lns.peer_gone(LAC_PEER);
    p.drain();
    assert_eq!(p.datagrams, datagrams, "peer_gone sent something");
    assert_eq!(p.lns.state_size(), 0);
    assert_eq!(p.lns.poll_timeout(), None);
    assert_eq!(
        tunnel_downs(&p.lns_events),
        vec![TunnelDownReason::PeerGone, TunnelDownReason::PeerGone]
    );
    assert_eq!(session_downs(&p.lns_events), 4);
}

#[test]
fn session_limit_refuses_calls_with_cdn() {
    let mut lns = lns_config();
    lns.max_sessions_per_tunnel = 2;
    let mut p = Pair::new(lns, lac_config(), LinkParams::perfect(), 1);
    let handles = bring_up(&mut p, 1, 2);
    let third = p.lac.open_session(p.now, handles[0]).unwrap();
    p.run_until(Duration::from_secs(5), |_| false);
    assert_eq!(p.lns.stats().session_limit, 1);
    assert_eq!(p.lns.session_count(), 2);
    // The LAC hears a CDN with "temporary lack of resources" for its call.
    assert!(p.lac_events.iter().any(|e| matches!(
        e,
        Event::SessionDown { session, result } if *session == third && result.result == 4
    )));
    assert_eq!(p.lac.session_count(), 2);
}

#[test]
fn sequencing_is_used_when_the_peer_sends_sequenced_data() {
    let mut p = Pair::new(lns_config(), lac_config(), LinkParams::perfect(), 1);
    bring_up(&mut p, 1, 1);
    let lac_s = Pair::sessions_up(&p.lac_events)[0];
    let lns_s = Pair::sessions_up(&p.lns_events)[0];
    // Unsequenced at first: 6-byte header.
    let mut buf = wire::PacketBuf::new(64, 16);
    buf.set_payload(&[0xff, 0x03]).unwrap();
    p.lns.encap_data(lns_s, &mut buf).unwrap();
    assert_eq!(buf.len(), 8);
    assert_eq!(&buf.payload()[..2], &[0x00, 0x02]);
    // The LAC sends a data message with S set (Ns 0): the LNS honours it.
    let mut data = vec![0x08, 0x02];
    data.extend_from_slice(&lns_s.tunnel.0.to_be_bytes());
    data.extend_from_slice(&lns_s.session.0.to_be_bytes());
    data.extend_from_slice(&[0, 0, 0, 0, 0xff, 0x03]);
    let ppp = p
        .lns
        .handle_datagram(p.now, LAC_PEER, &data)
        .unwrap()
        .unwrap();
    assert_eq!(ppp.frame, &[0xff, 0x03]);
    let mut buf = wire::PacketBuf::new(64, 16);
    buf.set_payload(&[0xff, 0x03]).unwrap();
    p.lns.encap_data(lns_s, &mut buf).unwrap();
    let mut expect = vec![0x08, 0x02];
    expect.extend_from_slice(&lac_s.tunnel.0.to_be_bytes());
    expect.extend_from_slice(&lac_s.session.0.to_be_bytes());
    expect.extend_from_slice(&[0, 0, 0, 0, 0xff, 0x03]);
    assert_eq!(buf.payload(), &expect[..]);
    // A stale Ns afterwards is dropped and counted.
    assert_eq!(
        p.lns.handle_datagram(p.now, LAC_PEER, &data),
        Err(l2tp::Error::DataOutOfOrder)
    );
    data[7] = 1;
    p.lns.handle_datagram(p.now, LAC_PEER, &data).unwrap();
    data[7] = 0;
    assert_eq!(
        p.lns.handle_datagram(p.now, LAC_PEER, &data),
        Err(l2tp::Error::DataOutOfOrder)
    );
    assert_eq!(p.lns.stats().data_out_of_order, 2);
}

#[test]
fn global_session_limit_spans_tunnels() {
    let lns = l2tp::Config {
        max_sessions: 3,
        ..lns_config()
    };
    let mut p = Pair::new(lns, lac_config(), LinkParams::perfect(), 1);
    let handles = bring_up(&mut p, 2, 1);
    // One more fits, in either tunnel; the one after that does not.
    p.lac.open_session(p.now, handles[0]).unwrap();
    p.run_until(Duration::from_secs(5), |_| false);
    p.lac.open_session(p.now, handles[1]).unwrap();
    p.run_until(Duration::from_secs(5), |_| false);
    assert_eq!(p.lns.session_count(), 3);
    assert_eq!(p.lns.stats().session_limit, 1);
    assert_eq!(Pair::sessions_up(&p.lns_events).len(), 3);
}

#[test]
fn hellos_switched_off_send_none_and_arm_no_timer() {
    let mut lns = lns_config();
    lns.hello_interval = None;
    let mut lac = lac_config();
    lac.hello_interval = None;
    let mut p = Pair::new(lns, lac, LinkParams::perfect(), 1);
    bring_up(&mut p, 1, 1);
    let sent = p.lns.stats().tx_control + p.lac.stats().tx_control;
    // Once the last acknowledgement is out, an idle established tunnel has no timer at
    // all: nothing to wake up for (with HELLOs on, it would never go quiet).
    assert!(p.run_to_quiet(Duration::from_secs(3600)));
    assert_eq!(p.lns.poll_timeout(), None);
    assert_eq!(p.lac.poll_timeout(), None);
    assert!(p.lns.state_size() > 0, "the tunnel is kept");
    assert_eq!(p.lns.stats().tx_control + p.lac.stats().tx_control, sent);
    assert!(tunnel_downs(&p.lns_events).is_empty());
    assert!(tunnel_downs(&p.lac_events).is_empty());
}
