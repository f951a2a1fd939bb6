//! The network between the engines of a [`super::Pair`]: a delay queue with loss,
//! duplication and reordering drawn from seeded generators, and the NATs in front of
//! the clients.
//!
//! Every flow (one client, one direction) draws from its own generator, so what the
//! link does to a flow's n-th datagram depends on the seed and on n only, not on how
//! the engines interleave their output (the cores keep peers in hash maps).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use wire::random::DeterministicRandom;

/// What the link does to datagrams. Percentages are per datagram, each copy rolled
/// on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkConfig {
    /// Every datagram takes this long.
    pub latency: Duration,
    /// Percent of datagrams (each copy) lost.
    pub loss: u8,
    /// Percent of datagrams sent twice.
    pub duplicate: u8,
    /// Percent of datagrams (each copy) held back by up to [`Self::reorder_delay`]
    /// more, so that later ones overtake them.
    pub reorder: u8,
    /// The longest a reordered datagram is held back (beyond the latency).
    pub reorder_delay: Duration,
}

impl LinkConfig {
    /// Delivers everything at once, in order, exactly once.
    pub const PERFECT: Self = Self {
        latency: Duration::ZERO,
        loss: 0,
        duplicate: 0,
        reorder: 0,
        reorder_delay: Duration::ZERO,
    };

    /// `loss` percent lost, as many duplicated and reordered (held back up to 5 ms),
    /// 1 ms of latency.
    pub fn lossy(loss: u8) -> Self {
        Self {
            latency: Duration::from_millis(1),
            loss,
            duplicate: loss,
            reorder: loss,
            reorder_delay: Duration::from_millis(5),
        }
    }
}

/// One end of the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Side {
    /// The server [`crate::Core`].
    Server,
    /// The client at this index of [`super::Pair::clients`].
    Client(usize),
}

/// How a datagram travels: UDP, or raw ESP (IP protocol 50, addresses only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Carrier {
    Udp { from: SocketAddr, to: SocketAddr },
    Esp { from: IpAddr, to: IpAddr },
}

/// A datagram on the wire.
#[derive(Debug)]
pub(super) struct Datagram {
    /// The client whose flow it is, and the direction.
    pub(super) client: usize,
    pub(super) to_server: bool,
    /// Addresses as on the wire between the NAT and the server (public ones).
    pub(super) carrier: Carrier,
    pub(super) bytes: Vec<u8>,
    /// The TUN packet it carries, if the pair injected one.
    pub(super) packet: Option<usize>,
    /// When the sender sent it, in the pair's send order.
    pub(super) sent_seq: u64,
}

/// Why a datagram did not arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fate {
    Queued,
    Lost,
}

/// Counts of what the link did, for reports and assertions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Datagrams the engines sent.
    pub sent: u64,
    /// Copies lost on the link.
    pub lost: u64,
    /// Extra copies made.
    pub duplicated: u64,
    /// Copies held back for reordering.
    pub reordered: u64,
    /// Copies dropped because their client was cut off ([`super::Pair::cut`]).
    pub cut: u64,
    /// Copies a NAT dropped: sent to a public address with no mapping (any more).
    pub nat_dropped: u64,
    /// Copies nobody was at the address of.
    pub unroutable: u64,
    /// Copies handed to an engine.
    pub delivered: u64,
}

/// The delay queue and the flows' generators.
pub(super) struct Link {
    pub(super) config: LinkConfig,
    seed: u64,
    flows: BTreeMap<(usize, bool), Flow>,
    queue: BTreeMap<(Instant, usize, bool, u64), Datagram>,
    pub(super) stats: LinkStats,
}

struct Flow {
    rng: DeterministicRandom,
    seq: u64,
}

impl Link {
    pub(super) fn new(config: LinkConfig, seed: u64) -> Self {
        Self {
            config,
            seed,
            flows: BTreeMap::new(),
            queue: BTreeMap::new(),
            stats: LinkStats::default(),
        }
    }

    fn roll(rng: &mut DeterministicRandom, percent: u8) -> bool {
        rng.below(100) < u64::from(percent)
    }

    /// Puts `d` (and perhaps a duplicate) on the wire at `now`; returns the fate of
    /// each copy.
    pub(super) fn send(&mut self, now: Instant, d: Datagram) -> Vec<Fate> {
        self.stats.sent += 1;
        let config = self.config;
        let key = (d.client, d.to_server);
        let seed = self.seed;
        let flow = self.flows.entry(key).or_insert_with(|| Flow {
            rng: DeterministicRandom::new(flow_seed(seed, key)),
            seq: 0,
        });
        let copies = if Self::roll(&mut flow.rng, config.duplicate) {
            self.stats.duplicated += 1;
            2
        } else {
            1
        };
        let mut fates = Vec::with_capacity(copies);
        let mut original = Some(d);
        for copy in 0..copies {
            // Always the same number of draws per copy: the stream stays aligned.
            let lost = Self::roll(&mut flow.rng, config.loss);
            let reordered = Self::roll(&mut flow.rng, config.reorder);
            let micros = u64::try_from(config.reorder_delay.as_micros()).unwrap_or(u64::MAX);
            let extra = Duration::from_micros(1 + flow.rng.below(micros.max(1)));
            let Some(d) = (if copy + 1 == copies {
                original.take()
            } else {
                original.as_ref().map(Datagram::copy)
            }) else {
                break;
            };
            if lost {
                self.stats.lost += 1;
                fates.push(Fate::Lost);
                continue;
            }
            let mut at = now + config.latency;
            if reordered {
                self.stats.reordered += 1;
                at += extra;
            }
            flow.seq += 1;
            self.queue.insert((at, d.client, d.to_server, flow.seq), d);
            fates.push(Fate::Queued);
        }
        fates
    }

    /// The next datagram due at `now`, in delivery order.
    pub(super) fn pop_due(&mut self, now: Instant) -> Option<Datagram> {
        let entry = self.queue.first_entry()?;
        if entry.key().0 > now {
            return None;
        }
        Some(entry.remove())
    }

    /// When the next datagram arrives.
    pub(super) fn next_arrival(&self) -> Option<Instant> {
        self.queue.keys().next().map(|k| k.0)
    }

    /// Datagrams on the wire.
    pub(super) fn in_flight(&self) -> usize {
        self.queue.len()
    }
}

impl Datagram {
    fn copy(&self) -> Self {
        Self {
            client: self.client,
            to_server: self.to_server,
            carrier: self.carrier,
            bytes: self.bytes.clone(),
            packet: self.packet,
            sent_seq: self.sent_seq,
        }
    }
}

fn flow_seed(seed: u64, (client, to_server): (usize, bool)) -> u64 {
    let flow = (client as u64) << 1 | u64::from(to_server);
    seed.wrapping_mul(0x9e37_79b9_7f4a_7c15)
        ^ flow.wrapping_add(1).wrapping_mul(0xbf58_476d_1ce4_e5b9)
}

/// A NAT in front of one or more clients: one public address, a port per private
/// socket. Mappings are made by outbound traffic; [`Nat::rebind`] gives a client's
/// sockets new ports, as a NAT does when its mapping expired or the router restarted.
#[derive(Debug, Clone)]
pub(super) struct Nat {
    pub(super) public: IpAddr,
    next_port: u16,
    /// (client, private socket) -> public port.
    mappings: Vec<Mapping>,
}

#[derive(Debug, Clone, Copy)]
struct Mapping {
    client: usize,
    private: SocketAddr,
    public_port: u16,
}

impl Nat {
    pub(super) fn new(public: IpAddr) -> Self {
        Self {
            public,
            next_port: 20_000,
            mappings: Vec::new(),
        }
    }

    fn allocate(&mut self) -> u16 {
        let port = self.next_port;
        self.next_port = self.next_port.wrapping_add(1).max(1024);
        port
    }

    /// The public address `private` (of `client`) goes out as; a mapping is made if
    /// there is none.
    pub(super) fn outbound(&mut self, client: usize, private: SocketAddr) -> SocketAddr {
        if let Some(m) = self
            .mappings
            .iter()
            .find(|m| m.client == client && m.private == private)
        {
            return SocketAddr::new(self.public, m.public_port);
        }
        let public_port = self.allocate();
        self.mappings.push(Mapping {
            client,
            private,
            public_port,
        });
        SocketAddr::new(self.public, public_port)
    }

    /// The client and private socket behind `public`, if mapped.
    pub(super) fn inbound(&self, public: SocketAddr) -> Option<(usize, SocketAddr)> {
        if public.ip() != self.public {
            return None;
        }
        self.mappings
            .iter()
            .find(|m| m.public_port == public.port())
            .map(|m| (m.client, m.private))
    }

    /// Every mapping of `client` gets a new public port; the old ones are gone.
    pub(super) fn rebind(&mut self, client: usize) {
        let mut mappings = core::mem::take(&mut self.mappings);
        for m in mappings.iter_mut().filter(|m| m.client == client) {
            m.public_port = self.allocate();
        }
        self.mappings = mappings;
    }
}
