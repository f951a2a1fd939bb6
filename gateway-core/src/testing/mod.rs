//! Test support (feature `test-support`): the whole chain in memory. A [`Pair`] holds the
//! server [`Core`] and one or more clients (normally [`ClientCore`]s), a virtual clock
//! that jumps to the earliest timer of all engines, and a [`link`] between them that
//! loses, duplicates and reorders datagrams and puts NATs in front of clients (which
//! can rebind: the server sees a client's outer port change mid-run). Everything
//! random comes from the pair's seed, so a run is the same run for the same seed.
//!
//! Packets enter through the TUN side ([`Pair::send_tun`]) and what each side's TUN
//! device receives is collected ([`Pair::server_tun`], [`Attached::tun`]); every
//! injected packet is followed through the link, so [`Pair::traffic`] can tell what the
//! link lost from what an engine lost, duplicated or altered.
//!
//! ```
//! use std::time::Duration;
//! use gateway_core::testing::{
//!     LinkConfig, Pair, Placement, Side, client_config, ipv4_udp, server_config,
//! };
//!
//! let config = server_config(&["alice:secret"], "sharedsecret");
//! let mut pair = Pair::new(7, config, LinkConfig::lossy(5));
//! let nat = pair.add_nat("203.0.113.5".parse().unwrap());
//! let alice = pair.add_client_core(client_config("alice", "secret"), Placement::Nat(nat));
//! assert!(pair.connect(Duration::from_secs(60)));
//!
//! let ip = pair.inner_address(alice);
//! let packet = ipv4_udp(ip, "198.18.0.1".parse().unwrap(), b"hello");
//! pair.send_tun(Side::Client(alice), &packet).unwrap();
//! pair.settle(Duration::from_secs(1));
//! let report = pair.traffic();
//! assert!(report.problems.is_empty());
//! assert_eq!(pair.server_tun.len(), report.sent - report.lost);
//! ```
//!
//! The one place tests read the real clock is [`clock`]: it only gives the virtual
//! clock its start.

pub mod link;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::Range;
use std::time::{Duration, Instant};

use wire::PacketBuf;
use wire::random::DeterministicRandom;

use crate::engine::{Engine, InterfaceConfig, Output, TUN_HEADROOM};
use crate::pool::AddressPool;
use crate::users::UserDb;
use crate::{ClientConfig, ClientCore, ClientState, Core, CoreConfig, CoreRandom};
use link::{Carrier, Datagram, Fate, Link, Nat};
pub use link::{LinkConfig, LinkStats, Side};

/// The base of a virtual clock: the one place tests, examples and fuzz targets read
/// the real clock. Everything after it is `clock() + virtual time`.
pub fn clock() -> Instant {
    #[allow(
        clippy::disallowed_methods,
        reason = "the base of the virtual clock, the one place tests read the clock"
    )]
    Instant::now()
}

/// The engines' random sources, all derived from `seed` (not secure: tests only).
pub fn seeded(seed: u64) -> CoreRandom {
    CoreRandom {
        core: Box::new(DeterministicRandom::new(seed)),
        ike: Box::new(DeterministicRandom::new(seed.wrapping_add(1))),
        l2tp: Box::new(DeterministicRandom::new(seed.wrapping_add(2))),
    }
}

/// The server's address (IKE on 500, NAT-T on 4500).
pub const SERVER_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
/// The server's IKE socket.
pub const SERVER_IKE: SocketAddr = SocketAddr::new(IpAddr::V4(SERVER_IP), 500);
/// The server's NAT-T socket.
pub const SERVER_NAT_T: SocketAddr = SocketAddr::new(IpAddr::V4(SERVER_IP), 4500);

/// [`CoreConfig::new`] with the pool 10.77.0.0/24, `psk`, and the users given as
/// `NAME:PASSWORD` (as `--user` takes them; pinned, so a reload keeps them).
///
/// # Panics
/// On a malformed user.
pub fn server_config(users: &[&str], psk: &str) -> CoreConfig {
    let pinned: Vec<crate::users::User> = users
        .iter()
        .map(|u| crate::users::parse_user_flag(u).unwrap_or_else(|e| panic!("user {u}: {e}")))
        .collect();
    let mut db = UserDb::new();
    for u in &pinned {
        db.upsert(u.clone());
    }
    let pool = AddressPool::new(
        crate::pool::Ipv4Cidr::new(Ipv4Addr::new(10, 77, 0, 0), 24)
            .unwrap_or_else(|e| panic!("pool: {e}")),
        None,
        db.static_addresses(),
    )
    .unwrap_or_else(|e| panic!("pool: {e}"));
    CoreConfig {
        pinned_users: pinned,
        ..CoreConfig::new(pool, crate::secret::Secret::new(psk), db)
    }
}

/// A Linux-profile client of [`SERVER_IKE`] with the PSK `sharedsecret`, its sockets on
/// 198.51.100.7 ports 40000 (for IKE's 500) and 40001 (for 4500).
pub fn client_config(user: &str, password: &str) -> ClientConfig {
    ClientConfig {
        server: SERVER_IKE,
        local_ike: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)), 40000),
        local_nat_t: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)), 40001),
        psk: crate::secret::Secret::new("sharedsecret"),
        user: user.into(),
        password: crate::secret::Secret::new(password),
        profile: ike::Profile::linux(),
        l2tp: l2tp::Config::lac(),
        ppp: ppp::Config::default(),
        exit_when_up: false,
    }
}

/// An IPv4 packet (DF, TTL 64) from `src` to `dst` carrying `payload` as `protocol`,
/// header checksum filled in.
///
/// # Panics
/// If the packet would be longer than 65535 bytes.
pub fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, payload: &[u8]) -> Vec<u8> {
    let total = u16::try_from(20 + payload.len())
        .unwrap_or_else(|_| panic!("an IPv4 packet of {} bytes", 20 + payload.len()))
        .to_be_bytes();
    let mut p = vec![
        0x45, 0, total[0], total[1], 0, 1, 0x40, 0, 64, protocol, 0, 0,
    ];
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(payload);
    if let Ok(mut v) = wire::ip::Ipv4Packet::new_checked(&mut p[..]) {
        v.fill_checksum();
    }
    p
}

/// An IPv4/UDP packet from `src`:12345 to `dst`:7 carrying `payload` (UDP checksum 0).
pub fn ipv4_udp(src: Ipv4Addr, dst: Ipv4Addr, payload: &[u8]) -> Vec<u8> {
    let ulen = u16::try_from(8 + payload.len())
        .unwrap_or(u16::MAX)
        .to_be_bytes();
    let mut udp = vec![0x30, 0x39, 0x00, 0x07, ulen[0], ulen[1], 0, 0];
    udp.extend_from_slice(payload);
    ipv4(src, dst, 17, &udp)
}

/// What a [`Pair`] needs of a client engine besides [`Engine`].
pub trait PairClient: Engine {
    /// The inner address once the session is up.
    fn inner_address(&self) -> Option<Ipv4Addr>;
}

impl PairClient for ClientCore {
    fn inner_address(&self) -> Option<Ipv4Addr> {
        match self.state() {
            ClientState::Up { local, .. } => Some(local),
            _ => None,
        }
    }
}

/// Where a client sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// On the internet: the server sees its sockets as they are.
    Direct,
    /// Behind the NAT of this index ([`Pair::add_nat`]).
    Nat(usize),
}

/// A client in a [`Pair`].
#[derive(Debug)]
pub struct Attached<C> {
    /// The engine.
    pub engine: C,
    /// Its UDP sockets (IKE, NAT-T), as the engine addresses them.
    pub sockets: [SocketAddr; 2],
    /// Where it sits.
    pub placement: Placement,
    /// What its TUN device received, in order.
    pub tun: Vec<Vec<u8>>,
    /// The last interface configuration it asked for.
    pub interface: Option<InterfaceConfig>,
    /// Cut off: every datagram to or from it is dropped ([`Pair::cut`]).
    pub cut: bool,
    /// Public addresses it had before NAT rebindings.
    old_publics: Vec<SocketAddr>,
    /// Rebound, and the server has not yet delivered a packet from the new mapping.
    rebound: bool,
    /// The send sequence number after which the server has seen the new mapping.
    proven: Option<u64>,
}

/// One packet injected on a TUN device and followed through the link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracked {
    /// Whose TUN it entered.
    pub from: Side,
    /// The IP packet.
    pub packet: Vec<u8>,
    /// Copies the link carried (2 if it duplicated the datagram).
    pub copies: u32,
    /// Copies the link lost, or a NAT or a cut dropped.
    pub lost: u32,
    /// Copies handed to the receiving engine.
    pub arrived: u32,
    /// Times the receiving engine gave it to its TUN device.
    pub delivered: u32,
    /// Times what it gave differed from what was sent.
    pub altered: u32,
}

/// What [`Pair::traffic`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrafficReport {
    /// Packets injected (and accepted) on a TUN device.
    pub sent: usize,
    /// Packets delivered to the other TUN device.
    pub delivered: usize,
    /// Packets of which the link lost every copy.
    pub lost: usize,
    /// Packets the link duplicated.
    pub duplicated: usize,
    /// What went wrong: a packet delivered twice or altered, one that arrived but was
    /// not delivered, one still in flight, output to a stale NAT mapping after the
    /// server had seen the client's new one, a TUN packet nobody sent.
    pub problems: Vec<String>,
}

/// A datagram taken off the link by [`Pair::hold`], as its sender gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// Who sent it.
    pub from: Side,
    /// Where the sender sent it (its own socket as `local`).
    pub output: Output,
    /// The datagram.
    pub bytes: Vec<u8>,
}

/// Which datagrams [`Pair::hold`] takes off the link.
type HoldFilter = Box<dyn FnMut(Side, &Output, &[u8]) -> bool>;

/// The server, its clients, the link and the virtual clock. See the module docs.
pub struct Pair<C = ClientCore> {
    /// The virtual clock.
    pub now: Instant,
    /// Where the virtual clock started.
    pub start: Instant,
    /// The server.
    pub server: Core,
    /// The clients.
    pub clients: Vec<Attached<C>>,
    /// What the server's TUN device received, in order.
    pub server_tun: Vec<Vec<u8>>,
    /// Datagrams taken off the link by [`Self::hold`], oldest first.
    pub held: Vec<Held>,
    hold: Option<HoldFilter>,
    seed: u64,
    link: Link,
    nats: Vec<Nat>,
    packets: Vec<Tracked>,
    send_seq: u64,
    problems: Vec<String>,
    buf: PacketBuf,
}

impl<C> core::fmt::Debug for Pair<C> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Pair")
            .field("clients", &self.clients.len())
            .field("stats", &self.link.stats)
            .finish_non_exhaustive()
    }
}

impl Pair<ClientCore> {
    /// Adds a [`ClientCore`] with `config` (it starts Main Mode at once), its random
    /// sources derived from the pair's seed and its index. Returns its index.
    ///
    /// # Panics
    /// If the client cannot start.
    pub fn add_client_core(&mut self, config: ClientConfig, placement: Placement) -> usize {
        let index = self.clients.len() as u64;
        let sockets = [config.local_ike, config.local_nat_t];
        let random = seeded(self.seed.wrapping_mul(31).wrapping_add(1000 * (index + 1)));
        let engine = ClientCore::new(config, self.now, random)
            .unwrap_or_else(|e| panic!("client {index}: {e}"));
        self.add_client(engine, sockets, placement)
    }
}

impl<C: PairClient> Pair<C> {
    /// A server with `config` (random sources from `seed`) and no client yet.
    pub fn new(seed: u64, config: CoreConfig, link: LinkConfig) -> Self {
        let now = clock();
        Self {
            now,
            start: now,
            server: Core::new(config, now, seeded(seed)),
            clients: Vec::new(),
            server_tun: Vec::new(),
            held: Vec::new(),
            hold: None,
            seed,
            link: Link::new(link, seed),
            nats: Vec::new(),
            packets: Vec::new(),
            send_seq: 0,
            problems: Vec::new(),
            buf: PacketBuf::new(70_000, TUN_HEADROOM),
        }
    }

    /// Virtual time since the pair was made.
    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// A NAT with the public address `public`; returns its index for [`Placement::Nat`].
    pub fn add_nat(&mut self, public: IpAddr) -> usize {
        self.nats.push(Nat::new(public));
        self.nats.len() - 1
    }

    /// Adds a client engine whose sockets are `sockets` (IKE, NAT-T). Returns its index.
    pub fn add_client(
        &mut self,
        engine: C,
        sockets: [SocketAddr; 2],
        placement: Placement,
    ) -> usize {
        self.clients.push(Attached {
            engine,
            sockets,
            placement,
            tun: Vec::new(),
            interface: None,
            cut: false,
            old_publics: Vec::new(),
            rebound: false,
            proven: None,
        });
        self.clients.len() - 1
    }

    /// The link's configuration, to change mid-run.
    pub fn link_config(&mut self) -> &mut LinkConfig {
        &mut self.link.config
    }

    /// What the link did so far.
    pub fn link_stats(&self) -> LinkStats {
        self.link.stats
    }

    /// Every client's session is up at both ends: the client has its address, and the
    /// server routes it (PPP's IPCP finishes at the two ends at different times).
    pub fn all_up(&self) -> bool {
        self.clients.iter().all(|c| {
            c.engine
                .inner_address()
                .is_some_and(|ip| self.server.route(ip).is_some())
        })
    }

    /// Drives until every session is up at both ends ([`Self::all_up`]), then 10 s
    /// more: when a Configure-Ack was lost, PPP reopens IPCP just after it came up
    /// (RFC 1661, a Configure-Request in the Opened state), and the client refuses
    /// data until that finishes. Returns whether every session is up after that.
    pub fn connect(&mut self, limit: Duration) -> bool {
        if !self.drive_until(limit, Self::all_up) {
            return false;
        }
        self.run_for(Duration::from_secs(10));
        self.all_up()
    }

    /// The inner address of client `i`.
    ///
    /// # Panics
    /// If its session is not up.
    pub fn inner_address(&self, i: usize) -> Ipv4Addr {
        self.clients[i]
            .engine
            .inner_address()
            .unwrap_or_else(|| panic!("client {i} is not up"))
    }

    /// The NAT in front of client `i` gives its sockets new public ports: the server
    /// sees the client's outer address change, as after a NAT's mapping expired.
    ///
    /// # Panics
    /// If the client is not behind a NAT.
    pub fn rebind(&mut self, i: usize) {
        let Placement::Nat(n) = self.clients[i].placement else {
            panic!("client {i} is not behind a NAT")
        };
        let nat = &mut self.nats[n];
        let sockets = self.clients[i].sockets;
        let old: Vec<SocketAddr> = sockets
            .iter()
            .filter_map(|s| {
                let public = nat.outbound(i, *s);
                (nat.inbound(public) == Some((i, *s))).then_some(public)
            })
            .collect();
        nat.rebind(i);
        let c = &mut self.clients[i];
        c.old_publics.extend(old);
        c.rebound = true;
        c.proven = None;
    }

    /// The public address the server sees for client `i`'s socket `private`.
    pub fn public_address(&mut self, i: usize, private: SocketAddr) -> SocketAddr {
        match self.clients[i].placement {
            Placement::Direct => private,
            Placement::Nat(n) => self.nats[n].outbound(i, private),
        }
    }

    /// Cuts client `i` off (or reconnects it): nothing reaches it or leaves it, as if
    /// it lost its network without a goodbye. Its engine keeps running.
    pub fn cut(&mut self, i: usize, cut: bool) {
        self.clients[i].cut = cut;
    }

    /// An IP packet enters `side`'s TUN device; the datagram it becomes goes on the
    /// link, followed. Returns its index in [`Self::packets`], or `None` if the engine
    /// sent nothing for it (no session, no route).
    pub fn send_tun(&mut self, side: Side, packet: &[u8]) -> Option<usize> {
        let mut buf = PacketBuf::new(packet.len() + 1024, TUN_HEADROOM);
        buf.set_payload(packet).ok()?;
        let out = match side {
            Side::Server => self.server.handle_tun(self.now, &mut buf),
            Side::Client(i) => self.clients[i].engine.handle_tun(self.now, &mut buf),
        }?;
        let id = self.packets.len();
        self.packets.push(Tracked {
            from: side,
            packet: packet.to_vec(),
            copies: 0,
            lost: 0,
            arrived: 0,
            delivered: 0,
            altered: 0,
        });
        let bytes = buf.payload().to_vec();
        self.transmit(side, out, bytes, Some(id));
        Some(id)
    }

    /// The data path alone, for benchmarks and the allocation test: the IP packet in
    /// `buf` enters `from`'s TUN device and its datagram goes straight, in place, to
    /// the other engine (no link, no copy, nothing recorded, no allocation here).
    /// Returns where the delivered packet lies in `buf`'s bytes from its start, if
    /// the other engine delivered it.
    pub fn forward(&mut self, from: Side, buf: &mut PacketBuf) -> Option<Range<usize>> {
        let now = self.now;
        match from {
            Side::Client(i) => {
                let out = self.clients.get_mut(i)?.engine.handle_tun(now, buf)?;
                let len = buf.len();
                let datagram = buf.spare_from_start().get_mut(..len)?;
                match out {
                    Output::Udp { local, remote } => {
                        let public = self.public_address(i, local);
                        self.server.handle_udp(now, remote, public, datagram)
                    }
                    Output::Esp { local, remote } => {
                        self.server.handle_raw_esp(now, remote, local, datagram)
                    }
                    Output::Tun => None,
                }
            }
            Side::Server => {
                let out = self.server.handle_tun(now, buf)?;
                let len = buf.len();
                let datagram = buf.spare_from_start().get_mut(..len)?;
                match out {
                    Output::Udp { local, remote } => {
                        let (i, private) = self.resolve(remote)?;
                        let engine = &mut self.clients.get_mut(i)?.engine;
                        engine.handle_udp(now, private, local, datagram)
                    }
                    Output::Esp { local, remote } => {
                        let c = self.clients.iter_mut().find(|c| {
                            c.placement == Placement::Direct
                                && c.sockets.iter().any(|s| s.ip() == remote)
                        })?;
                        c.engine.handle_raw_esp(now, remote, local, datagram)
                    }
                    Output::Tun => None,
                }
            }
        }
    }

    /// The client and its socket behind the public address `public`, now.
    fn resolve(&self, public: SocketAddr) -> Option<(usize, SocketAddr)> {
        self.clients
            .iter()
            .enumerate()
            .find_map(|(i, c)| match c.placement {
                Placement::Direct => c.sockets.contains(&public).then_some((i, public)),
                Placement::Nat(n) => self.nats[n].inbound(public).filter(|(j, _)| *j == i),
            })
    }

    /// Every packet injected with [`Self::send_tun`], in order.
    pub fn packets(&self) -> &[Tracked] {
        &self.packets
    }

    /// From now on, every datagram for which `filter` (sender, output, bytes) holds is
    /// taken off the link into [`Self::held`] instead of being sent, until
    /// [`Self::stop_holding`]: to hold one back (and [`Self::release`] it later) or to
    /// lose exactly that one.
    pub fn hold(&mut self, filter: impl FnMut(Side, &Output, &[u8]) -> bool + 'static) {
        self.hold = Some(Box::new(filter));
    }

    /// Ends [`Self::hold`].
    pub fn stop_holding(&mut self) {
        self.hold = None;
    }

    /// Puts a held datagram on the link now, as its sender would have.
    pub fn release(&mut self, held: Held) {
        let filter = self.hold.take();
        self.transmit(held.from, held.output, held.bytes, None);
        self.hold = filter;
    }

    /// A datagram `side` sent.
    fn transmit(&mut self, side: Side, out: Output, bytes: Vec<u8>, packet: Option<usize>) {
        if let Some(filter) = self.hold.as_mut()
            && out != Output::Tun
            && filter(side, &out, &bytes)
        {
            self.held.push(Held {
                from: side,
                output: out,
                bytes,
            });
            self.lose(packet, true);
            return;
        }
        self.send_seq += 1;
        let sent_seq = self.send_seq;
        let datagram = match side {
            Side::Client(i) => {
                let carrier = match out {
                    Output::Tun => {
                        self.clients[i].tun.push(bytes);
                        return;
                    }
                    Output::Udp { local, remote } => Carrier::Udp {
                        from: self.public_address(i, local),
                        to: remote,
                    },
                    Output::Esp { local, remote } => Carrier::Esp {
                        from: match self.clients[i].placement {
                            Placement::Direct => local,
                            Placement::Nat(n) => self.nats[n].public,
                        },
                        to: remote,
                    },
                };
                if self.clients[i].cut {
                    self.link.stats.cut += 1;
                    self.lose(packet, true);
                    return;
                }
                Datagram {
                    client: i,
                    to_server: true,
                    carrier,
                    bytes,
                    packet,
                    sent_seq,
                }
            }
            Side::Server => {
                let (carrier, client) = match out {
                    Output::Tun => {
                        self.server_tun.push(bytes);
                        return;
                    }
                    Output::Udp { local, remote } => (
                        Carrier::Udp {
                            from: local,
                            to: remote,
                        },
                        self.client_at(remote),
                    ),
                    Output::Esp { local, remote } => (
                        Carrier::Esp {
                            from: local,
                            to: remote,
                        },
                        self.clients.iter().position(|c| {
                            c.placement == Placement::Direct
                                && c.sockets.iter().any(|s| s.ip() == remote)
                        }),
                    ),
                };
                let Some(client) = client else {
                    self.link.stats.unroutable += 1;
                    self.lose(packet, true);
                    return;
                };
                Datagram {
                    client,
                    to_server: false,
                    carrier,
                    bytes,
                    packet,
                    sent_seq,
                }
            }
        };
        tracing::trace!(
            at = ?self.now - self.start, ?side, to = ?datagram.carrier, len = datagram.bytes.len(),
            head = ?datagram.bytes.get(..8).unwrap_or_default(), ?packet, "pair: sent"
        );
        let fates = self.link.send(self.now, datagram);
        tracing::trace!(?fates, "pair: link");
        if let Some(p) = packet.and_then(|p| self.packets.get_mut(p)) {
            for f in fates {
                p.copies += 1;
                if f == Fate::Lost {
                    p.lost += 1;
                }
            }
        }
    }

    /// A copy of `packet` dropped off the link; `new`: one the link never carried.
    fn lose(&mut self, packet: Option<usize>, new: bool) {
        if let Some(p) = packet.and_then(|p| self.packets.get_mut(p)) {
            p.copies += u32::from(new);
            p.lost += 1;
        }
    }

    /// The client a server datagram to `public` is meant for: by its sockets, its NAT's
    /// mappings, or a mapping it had before a rebinding.
    fn client_at(&self, public: SocketAddr) -> Option<usize> {
        self.clients.iter().enumerate().find_map(|(i, c)| {
            let now = match c.placement {
                Placement::Direct => c.sockets.contains(&public),
                Placement::Nat(n) => self.nats[n].inbound(public).is_some_and(|(j, _)| j == i),
            };
            (now || c.old_publics.contains(&public)).then_some(i)
        })
    }

    /// Hands `d` to its receiver.
    fn deliver(&mut self, d: Datagram) {
        let now = self.now;
        let mut bytes = d.bytes;
        let i = d.client;
        if self.clients[i].cut {
            self.link.stats.cut += 1;
            self.lose(d.packet, false);
            return;
        }
        let got = if d.to_server {
            self.link.stats.delivered += 1;
            let r = match d.carrier {
                Carrier::Udp { from, to } => self.server.handle_udp(now, to, from, &mut bytes),
                Carrier::Esp { from, to } => self.server.handle_raw_esp(now, to, from, &mut bytes),
            };
            let c = &mut self.clients[i];
            if r.is_some()
                && c.rebound
                && let Carrier::Udp { from, .. } = d.carrier
                && !c.old_publics.contains(&from)
            {
                c.rebound = false;
                c.proven = Some(self.send_seq);
            }
            r
        } else {
            // Through the client's NAT, if any: a public address with no mapping (any
            // more) ends here.
            let carrier = match d.carrier {
                Carrier::Udp { from, to } => match self.clients[i].placement {
                    Placement::Direct => Some(Carrier::Udp { from, to }),
                    Placement::Nat(n) => self.nats[n]
                        .inbound(to)
                        .filter(|(j, _)| *j == i)
                        .map(|(_, private)| Carrier::Udp { from, to: private }),
                },
                esp @ Carrier::Esp { .. } => Some(esp),
            };
            let Some(carrier) = carrier else {
                self.link.stats.nat_dropped += 1;
                if self.clients[i].proven.is_some_and(|seq| d.sent_seq > seq) {
                    self.problems.push(format!(
                        "the server sent to client {i}'s old address after it had taken a \
                         packet from the new one ({:?}, {} bytes starting {:02x?}, packet {:?})",
                        d.carrier,
                        bytes.len(),
                        bytes.get(..8).unwrap_or_default(),
                        d.packet
                    ));
                }
                self.lose(d.packet, false);
                return;
            };
            self.link.stats.delivered += 1;
            let c = &mut self.clients[i].engine;
            match carrier {
                Carrier::Udp { from, to } => c.handle_udp(now, to, from, &mut bytes),
                Carrier::Esp { from, to } => c.handle_raw_esp(now, to, from, &mut bytes),
            }
        };
        if let Some(p) = d.packet.and_then(|p| self.packets.get_mut(p)) {
            p.arrived += 1;
        }
        tracing::trace!(
            at = ?self.now - self.start, client = i, to_server = d.to_server,
            len = bytes.len(), ip = got.is_some(), "pair: delivered"
        );
        let Some(range) = got else {
            return;
        };
        let ip = bytes.get(range).unwrap_or_default().to_vec();
        match d.packet.and_then(|p| self.packets.get_mut(p)) {
            Some(p) => {
                p.delivered += 1;
                if p.packet != ip {
                    p.altered += 1;
                }
            }
            None => self.problems.push(format!(
                "a datagram that carried no injected packet reached the TUN ({} bytes)",
                ip.len()
            )),
        }
        if d.to_server {
            self.server_tun.push(ip);
        } else {
            self.clients[i].tun.push(ip);
        }
    }

    /// Takes every engine's queued output onto the link; whether there was any.
    fn flush(&mut self) -> bool {
        let mut moved = false;
        let mut buf = core::mem::replace(&mut self.buf, PacketBuf::new(0, 0));
        loop {
            buf.reset(TUN_HEADROOM);
            let Some(out) = self.server.poll_output(&mut buf) else {
                break;
            };
            moved = true;
            self.transmit(Side::Server, out, buf.payload().to_vec(), None);
        }
        for i in 0..self.clients.len() {
            loop {
                buf.reset(TUN_HEADROOM);
                let Some(out) = self.clients[i].engine.poll_output(&mut buf) else {
                    break;
                };
                moved = true;
                self.transmit(Side::Client(i), out, buf.payload().to_vec(), None);
            }
            if let Some(interface) = self.clients[i].engine.poll_interface() {
                self.clients[i].interface = Some(interface);
            }
        }
        self.buf = buf;
        moved
    }

    /// Moves everything that can move at `now`: queued output onto the link, datagrams
    /// due off it. Returns whether anything moved.
    pub fn step(&mut self) -> bool {
        let mut moved = self.flush();
        while let Some(d) = self.link.pop_due(self.now) {
            moved = true;
            self.deliver(d);
            self.flush();
        }
        moved
    }

    /// When the next thing happens: an engine's timer or a datagram's arrival.
    pub fn next_event(&self) -> Option<Instant> {
        self.clients
            .iter()
            .filter_map(|c| c.engine.poll_timeout())
            .chain(self.server.poll_timeout())
            .chain(self.link.next_arrival())
            .min()
    }

    /// Jumps the clock to `t` (never back) and runs the timers that are due.
    pub fn advance_to(&mut self, t: Instant) {
        self.now = self.now.max(t);
        let now = self.now;
        if self.server.poll_timeout().is_some_and(|d| d <= now) {
            self.server.handle_timeout(now);
        }
        for c in &mut self.clients {
            if c.engine.poll_timeout().is_some_and(|d| d <= now) {
                c.engine.handle_timeout(now);
            }
        }
    }

    /// Runs until `done` holds (checked whenever nothing more moves at the current
    /// instant), jumping the clock from event to event. Returns false if `limit` of
    /// virtual time passed first, or nothing was left to happen; the clock then stands
    /// at the last event before the limit.
    ///
    /// # Panics
    /// If the engines keep the clock from moving (a timer that does not go away).
    pub fn drive_until(&mut self, limit: Duration, mut done: impl FnMut(&Self) -> bool) -> bool {
        let end = self.now + limit;
        let mut same_instant = 0u32;
        loop {
            while self.step() {}
            if done(self) {
                return true;
            }
            let Some(next) = self.next_event() else {
                return false;
            };
            if next > end {
                return false;
            }
            if next <= self.now {
                same_instant += 1;
                assert!(
                    same_instant < 100_000,
                    "the clock is stuck at {:?}",
                    self.now
                );
            } else {
                same_instant = 0;
            }
            self.advance_to(next);
        }
    }

    /// Runs every event up to `duration` from now, then sets the clock there.
    pub fn run_for(&mut self, duration: Duration) {
        let end = self.now + duration;
        self.run_until(end);
    }

    /// Runs every event up to `t`, then sets the clock there.
    pub fn run_until(&mut self, t: Instant) {
        if t > self.now {
            self.drive_until(t - self.now, |_| false);
        }
        self.advance_to(t);
        while self.step() {}
    }

    /// Runs until the link is empty and nothing moves (at most `limit`).
    pub fn settle(&mut self, limit: Duration) -> bool {
        self.drive_until(limit, |p| p.link.in_flight() == 0)
    }

    /// What happened to the packets injected so far (see [`TrafficReport`]).
    pub fn traffic(&self) -> TrafficReport {
        let mut r = TrafficReport {
            problems: self.problems.clone(),
            ..TrafficReport::default()
        };
        for (id, p) in self.packets.iter().enumerate() {
            r.sent += 1;
            if p.copies > 1 {
                r.duplicated += 1;
            }
            if p.delivered > 0 {
                r.delivered += 1;
            }
            if p.lost == p.copies {
                r.lost += 1;
            }
            let what = |s: &str| format!("packet {id} from {:?} {s}: {p:?}", p.from);
            if p.delivered > 1 {
                r.problems.push(what("delivered more than once"));
            }
            if p.altered > 0 {
                r.problems.push(what("altered"));
            }
            if p.arrived > 0 && p.delivered == 0 {
                r.problems.push(what("arrived but was not delivered"));
            }
            if p.arrived + p.lost < p.copies {
                r.problems.push(what("still in flight"));
            }
        }
        r
    }
}
