//! A virtual-clock harness: an LNS and a LAC joined by a link that loses, duplicates and
//! reorders datagrams from a seeded DeterministicRandom.
#![allow(dead_code, reason = "each test file uses part of the harness")]
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test helpers")]
#![allow(unreachable_pub, missing_docs, reason = "a test harness module")]

use std::time::{Duration, Instant};

use l2tp::{Config, Endpoint, Event, PeerId, SessionRef};
use wire::PacketBuf;
use wire::random::DeterministicRandom;

/// The base of the virtual clock.
pub fn t0() -> Instant {
    #[allow(
        clippy::disallowed_methods,
        reason = "the virtual clock needs one real Instant as its base"
    )]
    Instant::now()
}

/// How the LNS names the LAC, and the LAC the LNS.
pub const LAC_PEER: PeerId = PeerId(0xa);
pub const LNS_PEER: PeerId = PeerId(0xb);

#[derive(Debug, Clone, Copy)]
pub struct LinkParams {
    /// Percent of datagrams lost.
    pub loss: u64,
    /// Percent duplicated.
    pub duplicate: u64,
    /// Random extra delay up to this (reorders).
    pub jitter: Duration,
    pub latency: Duration,
}

impl LinkParams {
    pub fn perfect() -> Self {
        Self {
            loss: 0,
            duplicate: 0,
            jitter: Duration::ZERO,
            latency: Duration::from_millis(5),
        }
    }

    pub fn lossy() -> Self {
        Self {
            loss: 30,
            duplicate: 30,
            jitter: Duration::from_millis(80),
            latency: Duration::from_millis(5),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Lns,
    Lac,
}

pub struct Pair {
    pub now: Instant,
    pub lns: Endpoint,
    pub lac: Endpoint,
    pub link: LinkParams,
    /// Drop everything (a dead peer).
    pub cut: bool,
    rng: DeterministicRandom,
    in_flight: Vec<(Instant, u64, Side, Vec<u8>)>,
    seq: u64,
    pub lns_events: Vec<Event>,
    pub lac_events: Vec<Event>,
    /// PPP frames delivered: (receiving side, session, frame).
    pub frames: Vec<(Side, SessionRef, Vec<u8>)>,
    pub datagrams: u64,
}

impl Pair {
    pub fn new(lns: Config, lac: Config, link: LinkParams, seed: u64) -> Self {
        Self {
            now: t0(),
            lns: Endpoint::new(lns, Box::new(DeterministicRandom::new(seed ^ 0x1111))),
            lac: Endpoint::new(lac, Box::new(DeterministicRandom::new(seed ^ 0x2222))),
            link,
            cut: false,
            rng: DeterministicRandom::new(seed),
            in_flight: Vec::new(),
            seq: 0,
            lns_events: Vec::new(),
            lac_events: Vec::new(),
            frames: Vec::new(),
            datagrams: 0,
        }
    }

    fn send(&mut self, to: Side, bytes: Vec<u8>) {
        self.datagrams += 1;
        if self.cut || self.rng.below(100) < self.link.loss {
            return;
        }
        let copies = if self.rng.below(100) < self.link.duplicate {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let jitter = self.rng.below(self.link.jitter.as_millis() as u64 + 1);
            let at = self.now + self.link.latency + Duration::from_millis(jitter);
            self.seq += 1;
            self.in_flight.push((at, self.seq, to, bytes.clone()));
        }
    }

    /// Moves output of both endpoints onto the link, and collects events.
    pub fn drain(&mut self) {
        let mut buf = Vec::new();
        loop {
            buf.clear();
            if let Some(t) = self.lns.poll_transmit(&mut buf) {
                assert_eq!(t.peer, LAC_PEER);
                assert_eq!(t.len, buf.len());
                self.send(Side::Lac, buf.clone());
                continue;
            }
            if let Some(t) = self.lac.poll_transmit(&mut buf) {
                assert_eq!(t.peer, LNS_PEER);
                self.send(Side::Lns, buf.clone());
                continue;
            }
            break;
        }
        while let Some(e) = self.lns.poll_event() {
            self.lns_events.push(e);
        }
        while let Some(e) = self.lac.poll_event() {
            self.lac_events.push(e);
        }
    }

    fn next_time(&self) -> Option<Instant> {
        [
            self.in_flight.iter().map(|p| p.0).min(),
            self.lns.poll_timeout(),
            self.lac.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// One step: jump to the next event time, deliver what is due, run timers.
    /// False when nothing is left to happen.
    pub fn step(&mut self) -> bool {
        self.drain();
        let Some(next) = self.next_time() else {
            return false;
        };
        self.now = self.now.max(next);
        let now = self.now;
        let (mut due, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.in_flight)
            .into_iter()
            .partition(|p| p.0 <= now);
        self.in_flight = rest;
        due.sort_by_key(|p| (p.0, p.1));
        for (_, _, to, bytes) in due {
            let (ep, from, side) = match to {
                Side::Lns => (&mut self.lns, LAC_PEER, Side::Lns),
                Side::Lac => (&mut self.lac, LNS_PEER, Side::Lac),
            };
            if let Ok(Some(ppp)) = ep.handle_datagram(now, from, &bytes) {
                self.frames.push((side, ppp.session, ppp.frame.to_vec()));
            }
        }
        self.lns.handle_timeout(now);
        self.lac.handle_timeout(now);
        self.drain();
        true
    }

    /// Steps until `done` holds or `limit` of virtual time passes; returns whether it held.
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Self) -> bool) -> bool {
        let end = self.now + limit;
        while !done(self) {
            if self.now > end || !self.step() {
                return done(self);
            }
        }
        true
    }

    /// Steps until nothing is scheduled anywhere (or `limit` passes).
    pub fn run_to_quiet(&mut self, limit: Duration) -> bool {
        let end = self.now + limit;
        while self.step() {
            if self.now > end {
                return false;
            }
        }
        true
    }

    /// Sends a PPP frame on `session` from `side`.
    pub fn send_frame(&mut self, side: Side, session: SessionRef, frame: &[u8]) {
        let mut buf = PacketBuf::new(2048, 64);
        buf.set_payload(frame).unwrap();
        let ep = match side {
            Side::Lns => &mut self.lns,
            Side::Lac => &mut self.lac,
        };
        ep.encap_data(session, &mut buf).unwrap();
        let to = match side {
            Side::Lns => Side::Lac,
            Side::Lac => Side::Lns,
        };
        self.send(to, buf.payload().to_vec());
    }

    pub fn sessions_up(events: &[Event]) -> Vec<SessionRef> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::SessionUp(s) => Some(*s),
                _ => None,
            })
            .collect()
    }
}

pub fn lac_config() -> Config {
    Config::lac()
}

pub fn lns_config() -> Config {
    Config::default()
}
