//! A client session configured as the Windows imitation (`Config::windows_client`: LCP
//! PFC/ACFC/Callback, Identification, CCP with MPPE, CBCP, IPCP with NBNS) driven by
//! arbitrary frames and timer jumps. Nothing may panic, every frame we send must be a
//! well-formed control packet, and the queues stay bounded.
#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use ppp::msgs::{CpPacket, Frame, Protocol};
use ppp::{Config, Credentials, Session};
use wire::random::DeterministicRandom;

fn base() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    #[allow(
        clippy::disallowed_methods,
        reason = "one fixed base; all later time is virtual"
    )]
    *BASE.get_or_init(Instant::now)
}

fuzz_target!(|data: &[u8]| {
    let mut now = base();
    let config = Arc::new(Config::windows_client("FUZZ"));
    let creds = Credentials::new("user", "password");
    let mut s = Session::new_client(config, creds, now, &mut DeterministicRandom::new(1));
    let mut rest = data;
    // Our last Configure-Request per protocol, so the input can ack it and reach the
    // states behind LCP (Identification, CBCP, authentication, CCP, IPCP).
    let mut requests: Vec<(u16, u8, Vec<u8>)> = Vec::new();
    let mut steps = 0;
    while let [op, len, tail @ ..] = rest {
        steps += 1;
        if steps > 256 {
            break;
        }
        let n = usize::from(*len).min(tail.len());
        let (chunk, next) = tail.split_at(n);
        rest = next;
        match op % 4 {
            0 | 1 => {
                let _ = s.handle_frame(now, chunk);
            }
            2 => {
                now += Duration::from_millis(u64::from(*len) * 250);
                s.handle_timeout(now);
            }
            _ => {
                if let Some((proto, id, opts)) = chunk
                    .first()
                    .and_then(|&i| requests.get(usize::from(i) % requests.len().max(1)))
                    .cloned()
                {
                    let mut f = vec![0xff, 0x03];
                    f.extend_from_slice(&proto.to_be_bytes());
                    f.extend_from_slice(&[2, id]);
                    f.extend_from_slice(&((opts.len() + 4) as u16).to_be_bytes());
                    f.extend_from_slice(&opts);
                    let _ = s.handle_frame(now, &f);
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
            }
        }
        let mut events = 0;
        while s.poll_event().is_some() {
            events += 1;
            assert!(events <= 64);
        }
    }
});
