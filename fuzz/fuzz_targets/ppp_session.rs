//! A server session driven by arbitrary frames, timer jumps and auth decisions. Nothing
//! may panic, every frame we send must be a well-formed control packet, and the queues
//! stay bounded.
#![no_main]

use std::net::Ipv4Addr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use ppp::auth::AuthenticatorResponse;
use ppp::msgs::{CpPacket, Frame, Protocol};
use ppp::{AuthDecision, Config, Event, Session, SessionParams};
use wire::random::DeterministicRandom;

fn base() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    #[allow(clippy::disallowed_methods, reason = "one fixed base; all later time is virtual")]
    *BASE.get_or_init(Instant::now)
}

fuzz_target!(|data: &[u8]| {
    let mut now = base();
    let config = Arc::new(Config {
        ipv6: data.first().is_some_and(|b| b & 1 == 1),
        auth_max_attempts: 2,
        auth_methods: vec![ppp::AuthMethod::MsChapV2, ppp::AuthMethod::ChapMd5, ppp::AuthMethod::Pap],
        ..Config::default()
    });
    let params = SessionParams {
        local_ip: Ipv4Addr::new(10, 0, 0, 1),
        peer_ip: Ipv4Addr::new(10, 0, 0, 2),
        dns: [Some(Ipv4Addr::new(10, 0, 0, 53)), None],
        nbns: [None, None],
    };
    let mut s = Session::new_server(config, params, now, &mut DeterministicRandom::new(1));
    let mut rest = data.get(1..).unwrap_or_default();
    // Our last Configure-Request per protocol and our last CHAP challenge id, so the
    // input can answer them and reach the states behind LCP, authentication and IPCP.
    let mut requests: Vec<(u16, u8, Vec<u8>)> = Vec::new();
    let mut challenge_id = 0u8;
    let mut steps = 0;
    while let [op, len, tail @ ..] = rest {
        steps += 1;
        if steps > 256 {
            break;
        }
        let n = usize::from(*len).min(tail.len());
        let (chunk, next) = tail.split_at(n);
        rest = next;
        match op % 8 {
            0..=4 => {
                let _ = s.handle_frame(now, chunk);
            }
            5 => {
                now += Duration::from_millis(u64::from(*len) * 250);
                s.handle_timeout(now);
            }
            6 => {
                let d = match chunk.first().map(|b| b % 3) {
                    Some(0) => AuthDecision::Accept,
                    Some(1) => AuthDecision::AcceptMsChapV2(AuthenticatorResponse([7; 20])),
                    _ => AuthDecision::Reject,
                };
                s.auth_result(now, d);
            }
            7 if n > 0 => {
                // Ack one of our requests (chunk[0] picks which), echoing it exactly.
                if let Some((proto, id, opts)) = requests.get(usize::from(chunk[0]) % requests.len().max(1)).cloned() {
                    let mut f = vec![0xff, 0x03];
                    f.extend_from_slice(&proto.to_be_bytes());
                    f.extend_from_slice(&[2, id]);
                    f.extend_from_slice(&((opts.len() + 4) as u16).to_be_bytes());
                    f.extend_from_slice(&opts);
                    let _ = s.handle_frame(now, &f);
                }
                if chunk.len() > 1 {
                    // A CHAP response to our challenge: value from the input, name "u".
                    let mut value = chunk[1..].to_vec();
                    value.resize(if chunk[0] & 1 == 0 { 49 } else { 16 }, 0);
                    let mut f = vec![0xff, 0x03, 0xc2, 0x23, 2, challenge_id];
                    f.extend_from_slice(&((value.len() + 6) as u16).to_be_bytes());
                    f.push(value.len() as u8);
                    f.extend_from_slice(&value);
                    f.push(b'u');
                    let _ = s.handle_frame(now, &f);
                }
            }
            _ => {
                if *len == 0 {
                    s.close(now);
                } else if let Some(t) = s.poll_timeout() {
                    now = now.max(t);
                    s.handle_timeout(now);
                }
            }
        }
        let mut frames = 0;
        loop {
            let mut buf = Vec::new();
            if s.poll_transmit(&mut buf).is_none() {
                break;
            }
            frames += 1;
            assert!(frames <= 64, "transmit queue is bounded");
            let f = Frame::decode(&buf).expect("our frames decode");
            assert!(buf.len() <= 1500);
            if !matches!(f.protocol, Protocol::Ipv4 | Protocol::Ipv6) {
                let p = CpPacket::decode(f.info).expect("our control packets decode");
                assert_eq!(p.data.len() + 4, f.info.len());
                if p.code == ppp::msgs::Code::ConfigureRequest {
                    requests.retain(|r| r.0 != f.protocol.value());
                    requests.push((f.protocol.value(), p.id, p.data.to_vec()));
                }
                if f.protocol == Protocol::Chap && p.code.value() == 1 {
                    challenge_id = p.id;
                }
            }
        }
        let mut events = 0;
        while let Some(e) = s.poll_event() {
            events += 1;
            assert!(events <= 64);
            if let Event::AuthRequest { .. } = e {}
        }
    }
});
