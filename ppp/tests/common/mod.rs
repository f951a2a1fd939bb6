//! Shared test helpers: frame builders, a scripted random source, and an in-memory
//! server ↔ client pair on a virtual clock with seeded frame loss.
#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test file uses a different subset of these helpers"
)]

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ppp::{AuthDecision, Config, Credentials, Event, Session, SessionParams};
use wire::random::{DeterministicRandom, SecureRandom};

/// Returns the scripted bytes first, then zeros.
pub struct ScriptedRandom {
    pub bytes: Vec<u8>,
    pub pos: usize,
}

impl SecureRandom for ScriptedRandom {
    fn fill(&mut self, dest: &mut [u8]) {
        for d in dest {
            *d = self.bytes.get(self.pos).copied().unwrap_or(0);
            self.pos += 1;
        }
    }
}

pub fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

/// A control-protocol frame with `FF 03`.
pub fn cp(protocol: u16, code: u8, id: u8, data: &[u8]) -> Vec<u8> {
    let mut f = vec![0xff, 0x03];
    f.extend_from_slice(&protocol.to_be_bytes());
    f.push(code);
    f.push(id);
    f.extend_from_slice(&((data.len() + 4) as u16).to_be_bytes());
    f.extend_from_slice(data);
    f
}

pub fn lcp(code: u8, id: u8, data: &[u8]) -> Vec<u8> {
    cp(0xc021, code, id, data)
}

pub fn drain(s: &mut Session) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let mut buf = Vec::new();
        match s.poll_transmit(&mut buf) {
            Some(n) => {
                assert_eq!(n, buf.len());
                out.push(buf);
            }
            None => return out,
        }
    }
}

pub fn events(s: &mut Session) -> Vec<Event> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

/// (protocol, code, id, data) of a frame we sent (always with FF 03).
pub fn parse(f: &[u8]) -> (u16, u8, u8, Vec<u8>) {
    assert_eq!(&f[..2], &[0xff, 0x03], "control frames carry FF 03");
    let proto = u16::from_be_bytes([f[2], f[3]]);
    let len = u16::from_be_bytes([f[6], f[7]]) as usize;
    assert_eq!(len, f.len() - 4, "length field covers the packet");
    (proto, f[4], f[5], f[8..].to_vec())
}

pub fn params() -> SessionParams {
    SessionParams {
        local_ip: Ipv4Addr::new(203, 0, 113, 1),
        peer_ip: Ipv4Addr::new(203, 0, 113, 100),
        dns: [Some(Ipv4Addr::new(203, 0, 113, 53)), None],
        nbns: [None, None],
    }
}

pub struct Pair {
    pub now: Instant,
    pub start: Instant,
    pub server: Session,
    pub client: Session,
    /// Loss in per mille for each direction.
    pub loss_c2s: u64,
    pub loss_s2c: u64,
    pub rng: DeterministicRandom,
    pub server_events: Vec<Event>,
    pub client_events: Vec<Event>,
    pub password: String,
    pub delivered: u64,
    pub dropped: u64,
}

impl Pair {
    pub fn new(
        server_cfg: Config,
        client_cfg: Config,
        password: &str,
        client_password: &str,
        seed: u64,
    ) -> Self {
        let start = Instant::now_for_tests();
        let mut rng = DeterministicRandom::new(seed);
        let server = Session::new_server(Arc::new(server_cfg), params(), start, &mut rng);
        let client = Session::new_client(
            Arc::new(client_cfg),
            Credentials::new("alice", client_password),
            start,
            &mut rng,
        );
        Self {
            now: start,
            start,
            server,
            client,
            loss_c2s: 0,
            loss_s2c: 0,
            rng,
            server_events: Vec::new(),
            client_events: Vec::new(),
            password: password.to_owned(),
            delivered: 0,
            dropped: 0,
        }
    }

    /// Moves frames both ways and answers auth requests; true if anything moved.
    pub fn step(&mut self) -> bool {
        let mut moved = false;
        for f in drain(&mut self.client) {
            moved = true;
            let drop = self.rng.below(1000) < self.loss_c2s;
            if std::env::var_os("PPP_TRACE").is_some() {
                eprintln!(
                    "{:>6?} c2s {} {}",
                    self.now - self.start,
                    if drop { "DROP" } else { "    " },
                    hex::encode(&f)
                );
            }
            if drop {
                self.dropped += 1;
                continue;
            }
            self.delivered += 1;
            let _ = self.server.handle_frame(self.now, &f);
        }
        for f in drain(&mut self.server) {
            moved = true;
            let drop = self.rng.below(1000) < self.loss_s2c;
            if std::env::var_os("PPP_TRACE").is_some() {
                eprintln!(
                    "{:>6?} s2c {} {}",
                    self.now - self.start,
                    if drop { "DROP" } else { "    " },
                    hex::encode(&f)
                );
            }
            if drop {
                self.dropped += 1;
                continue;
            }
            self.delivered += 1;
            let _ = self.client.handle_frame(self.now, &f);
        }
        for e in events(&mut self.server) {
            moved = true;
            if let Event::AuthRequest { user, data } = &e {
                let decision = if user == "alice" {
                    data.verify_password(user, &self.password)
                } else {
                    AuthDecision::Reject
                };
                self.server.auth_result(self.now, decision);
            }
            self.server_events.push(e);
        }
        for e in events(&mut self.client) {
            moved = true;
            self.client_events.push(e);
        }
        moved
    }

    /// Runs until `done` or `limit` of virtual time passed, jumping to the next timeout
    /// whenever nothing moves.
    pub fn run_until(&mut self, limit: Duration, done: impl Fn(&Self) -> bool) -> bool {
        for _ in 0..100_000 {
            while self.step() {}
            if done(self) {
                return true;
            }
            let next = [self.server.poll_timeout(), self.client.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            let Some(next) = next else { return false };
            if next > self.start + limit {
                return false;
            }
            self.now = self.now.max(next);
            self.server.handle_timeout(self.now);
            self.client.handle_timeout(self.now);
        }
        false
    }

    pub fn both_up(&self) -> bool {
        self.server.ipv4_open()
            && self.client.ipv4_open()
            && self
                .server_events
                .iter()
                .any(|e| matches!(e, Event::Up { .. }))
            && self
                .client_events
                .iter()
                .any(|e| matches!(e, Event::Up { .. }))
    }

    pub fn any_down(&self) -> bool {
        self.server_events
            .iter()
            .any(|e| matches!(e, Event::Down { .. }))
            || self
                .client_events
                .iter()
                .any(|e| matches!(e, Event::Down { .. }))
    }

    pub fn both_down(&self) -> bool {
        self.server_events
            .iter()
            .any(|e| matches!(e, Event::Down { .. }))
            && self
                .client_events
                .iter()
                .any(|e| matches!(e, Event::Down { .. }))
    }
}

/// `Instant::now` is banned outside the gateway driver; a test needs one fixed base.
pub trait NowForTests {
    fn now_for_tests() -> Self;
}

impl NowForTests for Instant {
    #[allow(
        clippy::disallowed_methods,
        reason = "tests need one arbitrary base instant; all time after it is virtual"
    )]
    fn now_for_tests() -> Self {
        Self::now()
    }
}
