//! `Core`: the sans-IO composition of the engines — ESP SA table, L2TP endpoint, PPP
//! sessions, the address pool and the routes from inner address to session.
//!
//! Input comes in through the [`Engine`] methods (a UDP datagram, a TUN packet, a
//! timeout); output comes out of [`Engine::poll_output`]. After every input the core
//! drains the engines' events in dependency order — SA pairs installed (from IKE), then
//! L2TP (SessionUp creates the PPP session; SessionDown removes it), then PPP
//! (authentication requests answered from the users, Up adds the route, Down removes it
//! and releases the address) — and turns their transmissions into queued output.
//!
//! The data path allocates nothing: an inbound ESP packet is decrypted in the driver's
//! buffer and the IP packet handed back as a range of it; an outbound TUN packet gets
//! its PPP, L2TP, UDP and ESP headers prepended in the buffer's headroom.
//!
//! An L2TP peer is identified by its ESP SA pair lineage ([`l2tp::PeerId`] per IPsec
//! peer, joined by rekeys), never by address: several clients behind one NAT work.

mod policy;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use esp::nat_t::Udp4500;
use wire::PacketBuf;
use wire::random::SecureRandom;

use crate::counters::{Counter, Counters};
use crate::datapath::{self, Encapsulation, InboundSas, L2tpIn, PppIn, SaTag};
use crate::engine::{Engine, Output};
use crate::escape::{Escaped, IdDisplay};
use crate::peer::{EspPath, Peer};
use crate::pool::AddressPool;
use crate::status::{EspStatus, SessionStatus, StatusReport};
use crate::throttle::{AuthLimits, Throttle};
use crate::users::{Credential, UserDb};

use crate::mss;

/// Everything the core needs from the configuration.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// The address pool (with static reservations).
    pub pool: AddressPool,
    /// DNS servers pushed by IPCP.
    pub dns: [Option<Ipv4Addr>; 2],
    /// Let clients reach each other.
    pub client_to_client: bool,
    /// Sessions in all.
    pub max_sessions: usize,
    /// Sessions per user; a new login past it replaces the oldest.
    pub sessions_per_user: usize,
    /// Close a session after this long without a packet from the client.
    pub idle_timeout: Option<Duration>,
    /// The IKE port (500): datagrams on it go to IKE.
    pub ike_port: u16,
    /// The NAT-T port (4500): IKE behind the non-ESP marker, keepalives, ESP.
    pub nat_t_port: u16,
    /// PPP behaviour, shared by every session.
    pub ppp: Arc<ppp::Config>,
    /// L2TP behaviour.
    pub l2tp: l2tp::Config,
    /// The users.
    pub users: UserDb,
    /// Users from flags (and a generated one) that a reload of the file keeps.
    pub pinned_users: Vec<crate::users::User>,
    /// IKE behaviour.
    pub ike: ike::Config,
    /// The pre-shared key (for every peer).
    pub psk: crate::secret::Secret,
    /// PPP sessions that have not authenticated yet, per IPsec peer (one ISAKMP SA
    /// and its re-authentications): a new one past it is refused.
    pub unauthenticated_sessions_per_ike_sa: usize,
    /// Authentication failures per user and per source address, and their backoff.
    pub auth_limits: AuthLimits,
}

impl CoreConfig {
    /// A configuration with the gateway's defaults (those of an empty configuration
    /// file): the given pool, PSK and users; DNS none; clients isolated; 1024 sessions,
    /// 4 per user; idle timeout one hour; ports 500 and 4500; MS-CHAPv2 then CHAP-MD5,
    /// MRU 1400, LCP echo every 20 s (3 misses); L2TP HELLO every 60 s, 2 tunnels per
    /// peer, 4 unauthenticated PPP sessions per ISAKMP SA; authentication failures as
    /// [`AuthLimits::default`]; IKE with DPD every 30 s, ESP always in UDP, at most
    /// 1024 half-open ISAKMP SAs (16 per source), the other [`ike::Limits`] at their
    /// defaults. The `l2tpgw` binary builds its configuration from this and the
    /// resolved configuration file.
    pub fn new(pool: AddressPool, psk: crate::secret::Secret, users: UserDb) -> Self {
        let ppp = ppp::Config {
            mru: 1400,
            auth_methods: vec![ppp::AuthMethod::MsChapV2, ppp::AuthMethod::ChapMd5],
            echo_interval: Some(Duration::from_secs(20)),
            echo_failures: 3,
            ..ppp::Config::default()
        };
        let l2tp = l2tp::Config {
            hello_interval: Some(Duration::from_secs(60)),
            max_tunnels_per_peer: 2,
            max_sessions: 1024,
            ..l2tp::Config::default()
        };
        let ike = ike::Config {
            legacy: false,
            force_encapsulation: true,
            windows_nat_compat: true,
            aggressive_mode: false,
            dpd: true,
            dpd_interval: Some(Duration::from_secs(30)),
            nat_t_port: 4500,
            limits: ike::Limits {
                half_open: 1024,
                half_open_per_source: 16,
                ..ike::Limits::default()
            },
            auth: ike::AuthPolicy {
                psk: true,
                certificates: true,
            },
            ..ike::Config::default()
        };
        Self {
            pool,
            dns: [None, None],
            client_to_client: false,
            max_sessions: 1024,
            sessions_per_user: 4,
            idle_timeout: Some(Duration::from_secs(3600)),
            ike_port: 500,
            nat_t_port: 4500,
            ppp: Arc::new(ppp),
            l2tp,
            users,
            pinned_users: Vec::new(),
            ike,
            psk,
            unauthenticated_sessions_per_ike_sa: 4,
            auth_limits: AuthLimits::default(),
        }
    }
}

/// The base of the unit tests' virtual clock (the one place they read the clock).
#[cfg(test)]
pub(crate) fn test_clock() -> Instant {
    #[allow(
        clippy::disallowed_methods,
        reason = "the base of the tests' virtual clock"
    )]
    Instant::now()
}

/// The configuration the tests start from: [`CoreConfig::new`] with the pool
/// 10.77.0.0/24, `psk`, and the quick-start `NAME:PASSWORD` users.
#[cfg(test)]
pub(crate) fn test_config(users: &[&str], psk: &str) -> CoreConfig {
    let pinned: Vec<crate::users::User> = users
        .iter()
        .map(|u| crate::users::parse_user_flag(u).unwrap())
        .collect();
    let mut db = UserDb::new();
    for u in &pinned {
        db.upsert(u.clone());
    }
    let pool = AddressPool::new(
        crate::pool::Ipv4Cidr::new(Ipv4Addr::new(10, 77, 0, 0), 24).unwrap(),
        None,
        db.static_addresses(),
    )
    .unwrap();
    CoreConfig {
        pinned_users: pinned,
        ..CoreConfig::new(pool, crate::secret::Secret::new(psk), db)
    }
}

/// An ESP SA pair ready for traffic, as IKE's `ChildSaUp` reports it.
#[derive(Debug, Clone)]
pub struct SaPair {
    /// The ISAKMP SA that negotiated it (rekeys of one ISAKMP SA join one peer).
    pub ike: u64,
    /// Our address and port (4500 for UDP encapsulation).
    pub local: SocketAddr,
    /// The peer's address and port.
    pub remote: SocketAddr,
    /// The SA the peer sends on (our SPI).
    pub inbound: esp::SaParams,
    /// The SA we send on.
    pub outbound: esp::SaParams,
    /// ESP in UDP 4500 (true) or IP protocol 50.
    pub udp_encapsulated: bool,
    /// The authenticated phase-1 identity of the ISAKMP SA (`ChildSa::peer_id`); none
    /// for a pair keyed without IKE, which then joins no other ISAKMP SA's peer.
    pub peer_id: Option<ike::msgs::IdPayload>,
}

/// One PPP session over one L2TP session.
struct Session {
    ppp: ppp::Session,
    user: Option<String>,
    ip: Ipv4Addr,
    routed: bool,
    /// The largest TCP segment a SYN through this session may announce: the smaller of
    /// our MRU and the client's, less the IPv4 and TCP headers.
    mss_limit: u16,
    started: Instant,
    last_rx: Instant,
    bytes_in: u64,
    bytes_out: u64,
    packets_in: u64,
    packets_out: u64,
}

/// A datagram waiting for [`Engine::poll_output`] (control traffic only; data never
/// queues). Control messages are sealed when queued, so a goodbye queued before its SA
/// is deleted still leaves under that SA.
struct Ready {
    output: Output,
    bytes: Vec<u8>,
}

/// The random sources: the core's own (ESP IV keys, PPP challenges) and the ones the
/// IKE and L2TP engines own. The gateway gives the OS generator to all three; tests give
/// seeded ones.
pub struct CoreRandom {
    /// For the core.
    pub core: Box<dyn SecureRandom>,
    /// For the IKE engine.
    pub ike: Box<dyn SecureRandom>,
    /// For the L2TP engine.
    pub l2tp: Box<dyn SecureRandom>,
}

/// The sans-IO gateway core. See the module documentation.
pub struct Core {
    config: CoreConfig,
    started: Instant,
    rng: Box<dyn SecureRandom>,
    l2tp: l2tp::Endpoint,
    inbound: InboundSas<l2tp::PeerId>,
    peers: HashMap<l2tp::PeerId, Peer>,
    next_peer: u64,
    sessions: HashMap<l2tp::SessionRef, Session>,
    routes: HashMap<Ipv4Addr, l2tp::SessionRef>,
    tunnels: Vec<l2tp::TunnelHandle>,
    pending: VecDeque<Ready>,
    seal_buf: PacketBuf,
    ike: ike::Endpoint,
    ike_sas: Vec<ike::IkeSaId>,
    dirty: Vec<l2tp::SessionRef>,
    next_session_deadline: Option<Instant>,
    counters: Counters,
    scratch: Vec<u8>,
    shutting_down: bool,
    /// Inbound SPIs of pairs whose lifetime state changed, or whose peer confirmed a
    /// newer pair, for the lifetime policy (`policy.rs`) at the next drain.
    lifetime_due: Vec<esp::Spi>,
    /// Authentication failures per user name.
    auth_users: Throttle<String>,
    /// Authentication failures per source address (the peer's proven IKE address).
    auth_sources: Throttle<IpAddr>,
}

impl core::fmt::Debug for Core {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Core")
            .field("peers", &self.peers.len())
            .field("sessions", &self.sessions.len())
            .field("routes", &self.routes.len())
            .finish_non_exhaustive()
    }
}

impl Core {
    /// A core with no peers yet. `rng` serves the core (ESP IV keys, PPP challenges);
    /// `l2tp_rng` is handed to the L2TP engine, which owns its source. The gateway passes
    /// the OS generator for both; tests pass seeded ones.
    pub fn new(config: CoreConfig, now: Instant, random: CoreRandom) -> Self {
        let CoreRandom {
            core: rng,
            ike: ike_rng,
            l2tp: l2tp_rng,
        } = random;
        let l2tp = l2tp::Endpoint::new(config.l2tp.clone(), l2tp_rng);
        let auth_users = Throttle::new(config.auth_limits.failures_per_user, &config.auth_limits);
        let auth_sources =
            Throttle::new(config.auth_limits.failures_per_source, &config.auth_limits);
        let psk = ike::StaticPskStore::wildcard(ike::Psk::new(config.psk.expose().as_bytes()));
        let ike = ike::Endpoint::new(config.ike.clone(), Box::new(psk), ike_rng);
        Self {
            config,
            started: now,
            rng,
            l2tp,
            inbound: InboundSas::default(),
            peers: HashMap::new(),
            next_peer: 1,
            sessions: HashMap::new(),
            routes: HashMap::new(),
            tunnels: Vec::new(),
            pending: VecDeque::new(),
            seal_buf: PacketBuf::new(
                crate::engine::TUN_HEADROOM + 65_535 + crate::engine::TUN_TAILROOM,
                crate::engine::TUN_HEADROOM,
            ),
            ike,
            ike_sas: Vec::new(),
            dirty: Vec::new(),
            next_session_deadline: None,
            counters: Counters::default(),
            scratch: Vec::with_capacity(2048),
            shutting_down: false,
            lifetime_due: Vec::with_capacity(16),
            auth_users,
            auth_sources,
        }
    }

    /// The drop and event counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The address pool.
    pub fn pool(&self) -> &AddressPool {
        &self.config.pool
    }

    /// Number of PPP sessions.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// The session routed at `ip`, with its user, if any.
    pub fn route(&self, ip: Ipv4Addr) -> Option<Option<&str>> {
        let s = self.routes.get(&ip)?;
        self.sessions.get(s).map(|s| s.user.as_deref())
    }

    /// Installs an ESP SA pair (IKE's `ChildSaUp`). The inbound SA accepts traffic at
    /// once.
    ///
    /// A pair joins an existing peer only through its own ISAKMP SA (a Quick Mode
    /// rekey), or through a newer ISAKMP SA that completed Main Mode from exactly the
    /// peer's current path with the same authenticated identity (Windows and strongSwan
    /// re-authentication); see `Peer::accepts`. Anything else starts a new peer and
    /// changes nothing of any other: one user's Quick Mode cannot take over another
    /// user's session by naming its address, and two clients behind one NAT stay apart.
    pub fn install_sa_pair(&mut self, now: Instant, pair: SaPair) -> Result<(), esp::SuiteError> {
        let inbound = esp::InboundSa::new(&pair.inbound, now)?;
        let outbound = esp::OutboundSa::new(&pair.outbound, now, &mut *self.rng)?;
        let existing = self
            .peers
            .values()
            .filter(|p| p.accepts(&pair))
            .max_by_key(|p| p.ike)
            .map(|p| p.id);
        if existing.is_none()
            && self
                .peers
                .values()
                .any(|p| p.remote == pair.remote && p.local.port() == pair.local.port())
        {
            // What the old rule joined: same outer address and port, but another
            // ISAKMP SA without the same identity on the same proven path.
            self.counters.bump(Counter::SaPairsNotJoined);
            tracing::debug!(remote = %pair.remote, ike = pair.ike, "ESP SA pair on another peer's address: a peer of its own");
        }
        let id = existing.unwrap_or_else(|| {
            let id = l2tp::PeerId(self.next_peer);
            self.next_peer += 1;
            id
        });
        let peer = self
            .peers
            .entry(id)
            .or_insert_with(|| Peer::new(id, &pair, now));
        if pair.ike >= peer.ike {
            // Its own ISAKMP SA (whose proven path this is) or the newest one.
            if existing.is_some() && pair.ike > peer.ike {
                self.counters.bump(Counter::SaPairsReauthenticated);
            }
            peer.ike = pair.ike;
            peer.local = pair.local;
            peer.remote = pair.remote;
            peer.udp_encapsulated = pair.udp_encapsulated;
        }
        // Any pair that joins a peer with live pairs waits for the peer's first packet on
        // it before it carries our traffic: a Quick Mode rekey of the same ISAKMP SA, and
        // also the first Quick Mode of a replacement ISAKMP SA (strongSwan's IKEv1
        // reauthentication), which IKE cannot call a rekey. We answered QM2 just now and
        // the initiator installs its inbound SA only when it has processed it; sending on
        // the new SA at once loses whatever we send in between (a ping reply in the
        // real-client rekey scenario).
        peer.add_pair(
            pair.ike,
            pair.inbound.spi,
            outbound,
            now,
            existing.is_none(),
        );
        self.inbound.insert_tagged(
            inbound,
            SaTag {
                encapsulation: Encapsulation::of(pair.udp_encapsulated),
                owner: id,
            },
        );
        self.counters.bump(Counter::SaPairsInstalled);
        tracing::debug!(peer = ?id, spi = %pair.inbound.spi, remote = %pair.remote, "ESP SA pair installed");
        Ok(())
    }

    /// Removes an ESP SA pair (IKE's `ChildSaDown`). When it was the peer's last, the
    /// peer is gone: its L2TP tunnels, PPP sessions and routes are torn down.
    pub fn remove_sa_pair(&mut self, now: Instant, inbound_spi: esp::Spi) {
        self.forget_sa_pair(inbound_spi);
        self.process(now);
    }

    fn forget_sa_pair(&mut self, inbound_spi: esp::Spi) {
        let Some((_, tag)) = self.inbound.remove_tagged(inbound_spi) else {
            return;
        };
        let id = tag.owner;
        let last = self.peers.get_mut(&id).is_none_or(|p| {
            p.remove_pair(inbound_spi);
            p.is_empty()
        });
        if last {
            self.peers.remove(&id);
            self.l2tp.peer_gone(id);
            self.tunnels.retain(|t| t.peer != id);
            tracing::debug!(peer = ?id, "last ESP SA pair gone: peer removed");
        }
    }

    /// Replaces the users (SIGHUP). Sessions already up keep running; the pool's static
    /// reservations follow the new file.
    pub fn set_users(&mut self, mut users: UserDb) {
        for u in &self.config.pinned_users {
            users.upsert(u.clone());
        }
        self.config.pool.set_reserved(users.static_addresses());
        self.config.users = users;
    }

    fn ike_in(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr, message: &[u8]) {
        if self.shutting_down {
            return;
        }
        // Refusals are counted in the IKE engine's stats (exported with the status).
        let _ = self
            .ike
            .handle_datagram(now, ike::Path { local, remote }, message);
        self.process(now);
    }

    /// An ESP packet, from UDP 4500 (`Path::Udp`) or raw IP protocol 50 (`Path::Raw`,
    /// whose addresses carry no port), through the data path's steps
    /// ([`crate::datapath`]). Never answered: an unknown SPI, or an SA that was
    /// negotiated for the other encapsulation, is dropped and counted. Returns where the
    /// IP packet for the TUN device lies in `data`.
    fn esp_in(
        &mut self,
        now: Instant,
        path: EspPath,
        data: &mut [u8],
    ) -> Result<Option<Range<usize>>, Counter> {
        let arrived = match path {
            EspPath::Udp { .. } => Encapsulation::Udp,
            EspPath::Raw { .. } => Encapsulation::Raw,
        };
        let Some(esp) = datapath::open_esp(&mut self.inbound, arrived, data)? else {
            return Ok(None);
        };
        let peer_id = esp.owner;
        let Some(peer) = self.peers.get_mut(&peer_id) else {
            return Ok(None);
        };
        // Lifetime and rebinding notes (policy.rs): the SA's expiry against the cached
        // one, and whether this packet carries the highest sequence number yet.
        let newest = peer.opened(
            esp.spi,
            self.inbound.get(esp.spi),
            esp.seq,
            &mut self.lifetime_due,
        );
        if peer.confirm_inbound(esp.spi) {
            self.lifetime_due.push(esp.spi);
        }
        let (checksum, moved) = peer.follow(path, newest);
        if moved {
            policy::rebound(peer, &mut self.ike, &mut self.counters, esp.spi);
        }
        let (l2tp_port, l2tp) = datapath::inner_l2tp(data, esp.udp, checksum)?;
        peer.l2tp_port = l2tp_port;
        let (session_ref, frame) = match datapath::l2tp_in(&mut self.l2tp, now, peer_id, data, l2tp)
        {
            Ok(L2tpIn::Frame { session, frame }) => (session, frame),
            // A control message, or a refusal (which may have queued a reply).
            other => {
                self.process(now);
                return other.map(|_| None);
            }
        };
        let session = self
            .sessions
            .get_mut(&session_ref)
            .ok_or(Counter::PppNoSession)?;
        session.last_rx = now;
        let ip = match datapath::ppp_in(&mut session.ppp, now, data, frame) {
            Ok(PppIn::Ipv4(ip)) => ip,
            Err(Counter::Ipv6FromClient) => return Err(Counter::Ipv6FromClient),
            // A control frame, or a malformed one: PPP may have answered.
            other => {
                self.dirty.push(session_ref);
                self.process(now);
                return other.map(|_| None);
            }
        };
        let packet = data.get_mut(ip.clone()).ok_or(Counter::InnerIpMalformed)?;
        let (src, dst) = datapath::ipv4_addresses(packet)?;
        datapath::check_source(src, session.routed.then_some(session.ip))?;
        datapath::check_client_to_client(dst, &self.config.pool, self.config.client_to_client)?;
        session.bytes_in += packet.len() as u64;
        session.packets_in += 1;
        datapath::clamp_mss(packet, session.mss_limit, &mut self.counters);
        Ok(Some(ip))
    }

    /// A packet from the TUN device, routed to its session: MSS clamped, then PPP,
    /// L2TP, UDP and ESP prepended in place ([`crate::datapath`]).
    fn tun_in(&mut self, buf: &mut PacketBuf) -> Result<Option<Output>, Counter> {
        let dst = datapath::tun_ipv4_dst(buf.payload())?;
        let sref = *self.routes.get(&dst).ok_or(Counter::NoRoute)?;
        let len = buf.len() as u64;
        let Some(session) = self.sessions.get_mut(&sref) else {
            return Ok(None);
        };
        datapath::clamp_mss(buf.payload_mut(), session.mss_limit, &mut self.counters);
        datapath::encap_ppp_l2tp(buf, &session.ppp, &mut self.l2tp, sref)?;
        session.bytes_out += len;
        session.packets_out += 1;
        Ok(self.seal_for_peer(sref.peer, buf))
    }

    /// The current outbound path and SA of `peer`, sealing `buf` (holding an L2TP
    /// message) for it.
    fn seal_for_peer(&mut self, peer_id: l2tp::PeerId, buf: &mut PacketBuf) -> Option<Output> {
        let Some(peer) = self.peers.get_mut(&peer_id) else {
            self.counters.bump(Counter::NoPeer);
            return None;
        };
        let (output, addresses, l2tp_port) = (peer.output(), peer.udp_addresses(), peer.l2tp_port);
        let Some(out) = peer.current_outbound() else {
            self.counters.bump(Counter::NoOutboundSa);
            return None;
        };
        let sealed = datapath::seal_esp(buf, l2tp_port, addresses, out);
        // Lifetime note (policy.rs): the SA's expiry against the cached one.
        peer.sealed(&mut self.lifetime_due);
        if let Err(counter) = sealed {
            self.counters.bump(counter);
            return None;
        }
        Some(output)
    }

    /// Drains every engine's output and events in dependency order.
    fn process(&mut self, now: Instant) {
        loop {
            // IKE first: SA pairs must be installed before L2TP can use them.
            let mut progress = self.drain_ike(now);
            // L2TP control messages and events.
            loop {
                self.scratch.clear();
                let Some(t) = self.l2tp.poll_transmit(&mut self.scratch) else {
                    break;
                };
                let len = t.len;
                self.queue_sealed(t.peer, None, len);
                progress = true;
            }
            while let Some(ev) = self.l2tp.poll_event() {
                progress = true;
                self.on_l2tp_event(now, ev);
            }
            // PPP sessions touched since the last drain.
            let mut dirty = core::mem::take(&mut self.dirty);
            dirty.dedup();
            for sref in dirty.drain(..) {
                progress |= self.drain_session(now, sref);
            }
            self.dirty = dirty;
            if !progress {
                break;
            }
            self.recompute_deadline();
        }
    }

    fn on_l2tp_event(&mut self, now: Instant, ev: l2tp::Event) {
        let span = match &ev {
            l2tp::Event::TunnelUp { peer, .. } | l2tp::Event::TunnelDown { peer, .. } => {
                self.peer_span(*peer, None)
            }
            l2tp::Event::SessionUp(s) | l2tp::Event::SessionDown { session: s, .. } => {
                self.peer_span(s.peer, Some(*s))
            }
        };
        let _entered = span.enter();
        match ev {
            l2tp::Event::TunnelUp { peer, tunnel, .. } => {
                self.tunnels.push(l2tp::TunnelHandle { peer, tunnel });
                self.counters.bump(Counter::L2tpTunnelsUp);
            }
            l2tp::Event::TunnelDown {
                peer,
                tunnel,
                reason,
            } => {
                self.tunnels
                    .retain(|t| !(t.peer == peer && t.tunnel == tunnel));
                tracing::debug!(?peer, ?tunnel, ?reason, "L2TP tunnel down");
                if reason == l2tp::TunnelDownReason::Timeout
                    && !self.tunnels.iter().any(|t| t.peer == peer)
                {
                    self.release_dead_peer(peer);
                }
            }
            l2tp::Event::SessionUp(sref) => self.start_session(now, sref),
            l2tp::Event::SessionDown { session, result } => {
                tracing::debug!(?session, ?result, "L2TP session down");
                self.end_session(session);
            }
        }
    }

    /// The peer's last L2TP tunnel went unanswered through every retransmission: the
    /// client is gone. Its IPsec SAs go too (DELETEs sent for the record), rather than
    /// living on to their lifetimes, which are hours for a peer without DPD (Windows
    /// announces none). A tunnel closed by StopCCN keeps them: xl2tpd redials over the
    /// same SAs, and Windows deletes them itself.
    fn release_dead_peer(&mut self, peer: l2tp::PeerId) {
        let Some(p) = self.peers.get(&peer) else {
            return;
        };
        let ike = ike::IkeSaId(p.ike);
        let spis: Vec<esp::Spi> = p.inbound_spis().collect();
        tracing::debug!(?peer, "L2TP peer timed out: deleting its IPsec SAs");
        self.counters.bump(Counter::DeadPeersReleased);
        for spi in spis {
            // Pairs without a live ISAKMP SA (or installed directly) go at once; the rest
            // through IKE's ChildSaDown.
            if !self.ike.delete_child_sa(spi) {
                self.forget_sa_pair(spi);
            }
        }
        self.ike.close(ike);
    }

    fn start_session(&mut self, now: Instant, sref: l2tp::SessionRef) {
        if self.sessions.len() >= self.config.max_sessions || self.shutting_down {
            self.counters.bump(Counter::SessionLimit);
            let _ = self.l2tp.close_session(now, sref);
            return;
        }
        // Sessions that have not authenticated, per IPsec peer (its ISAKMP SA): one
        // holder of the PSK cannot take every session slot without a password.
        let unauthenticated = self
            .sessions
            .iter()
            .filter(|(r, s)| r.peer == sref.peer && s.user.is_none())
            .count();
        if unauthenticated >= self.config.unauthenticated_sessions_per_ike_sa {
            self.counters.bump(Counter::UnauthenticatedSessionLimit);
            tracing::debug!(
                limit = self.config.unauthenticated_sessions_per_ike_sa,
                "PPP session refused: too many unauthenticated sessions on this IKE SA"
            );
            let _ = self.l2tp.close_session(now, sref);
            return;
        }
        // The address is assigned once the user is known (`assign_address`); until then
        // the session holds none and IPCP waits behind authentication.
        let ip = Ipv4Addr::UNSPECIFIED;
        let params = ppp::SessionParams {
            local_ip: self.config.pool.gateway(),
            peer_ip: ip,
            dns: self.config.dns,
            nbns: [None, None],
        };
        let ppp = ppp::Session::new_server(self.config.ppp.clone(), params, now, &mut *self.rng);
        self.sessions.insert(
            sref,
            Session {
                ppp,
                user: None,
                ip,
                routed: false,
                mss_limit: self.config.ppp.mru.saturating_sub(mss::TCP_IPV4_HEADERS),
                started: now,
                last_rx: now,
                bytes_in: 0,
                bytes_out: 0,
                packets_in: 0,
                packets_out: 0,
            },
        );
        self.dirty.push(sref);
        self.counters.bump(Counter::SessionsStarted);
    }

    fn end_session(&mut self, sref: l2tp::SessionRef) {
        if let Some(s) = self.sessions.remove(&sref) {
            if self.routes.get(&s.ip) == Some(&sref) {
                self.routes.remove(&s.ip);
            }
            self.config.pool.release(s.ip);
            self.counters.bump(Counter::SessionsEnded);
        }
    }

    /// The `peer` span of control-plane log lines about `peer` (and `session`): its
    /// outer address and, once authenticated, the user. Never made per data packet.
    fn peer_span(&self, peer: l2tp::PeerId, session: Option<l2tp::SessionRef>) -> tracing::Span {
        let outer = self.peers.get(&peer).map(|p| p.remote);
        let user = session
            .and_then(|s| self.sessions.get(&s))
            .and_then(|s| s.user.as_deref())
            .map(|u| tracing::field::display(Escaped(u)));
        tracing::info_span!("peer", outer = outer.map(tracing::field::display), user)
    }

    /// Moves a session's frames to the output queue and handles its events. Returns
    /// whether anything happened.
    fn drain_session(&mut self, now: Instant, sref: l2tp::SessionRef) -> bool {
        let mut progress = false;
        loop {
            let Some(session) = self.sessions.get_mut(&sref) else {
                return progress;
            };
            self.scratch.clear();
            if let Some(n) = session.ppp.poll_transmit(&mut self.scratch) {
                self.queue_sealed(sref.peer, Some(sref), n);
                progress = true;
                continue;
            }
            let Some(ev) = session.ppp.poll_event() else {
                break;
            };
            progress = true;
            let span = self.peer_span(sref.peer, Some(sref));
            let _entered = span.enter();
            self.on_ppp_event(now, sref, ev);
        }
        progress
    }

    fn on_ppp_event(&mut self, now: Instant, sref: l2tp::SessionRef, ev: ppp::Event) {
        match ev {
            ppp::Event::AuthRequest { user, data } => {
                let source = self.peers.get(&sref.peer).map(|p| p.remote.ip());
                let decision = if self.auth_refused_for_backoff(now, &user, source) {
                    // Not checked: a right password gets the same answer as a wrong one.
                    tracing::info!(user = %Escaped(&user), "authentication refused: backoff after repeated failures");
                    ppp::AuthDecision::Reject
                } else {
                    let known = self.config.users.get(&user);
                    let decision = match known {
                        Some(u) => match &u.credential {
                            Credential::Password(p) => data.verify_password(&user, p.expose()),
                            Credential::NtHash(h) => {
                                data.verify_nt_hash(&user, &ppp::auth::NtHash(*h.as_bytes()))
                            }
                        },
                        None => ppp::AuthDecision::Reject,
                    };
                    let known = known.is_some();
                    if decision == ppp::AuthDecision::Reject {
                        self.counters.bump(Counter::AuthFailures);
                        tracing::info!(user = %Escaped(&user), method = ?data.method(), "authentication failed");
                        self.note_auth_failure(now, &user, known, source);
                    } else {
                        self.note_auth_success(now, &user, source);
                    }
                    decision
                };
                if let Some(s) = self.sessions.get_mut(&sref) {
                    s.ppp.auth_result(now, decision);
                }
                self.dirty.push(sref);
            }
            ppp::Event::Authenticated { user } => {
                tracing::info!(user = %Escaped(&user), "authenticated");
                self.replace_old_sessions(now, sref, &user);
                if let Some(s) = self.sessions.get_mut(&sref) {
                    s.user = Some(user.clone());
                }
                self.assign_address(now, sref, &user);
            }
            ppp::Event::Up { peer_ip, mru, .. } => {
                if let Some(s) = self.sessions.get_mut(&sref) {
                    s.mss_limit = mru
                        .min(self.config.ppp.mru)
                        .saturating_sub(mss::TCP_IPV4_HEADERS);
                    if peer_ip != s.ip {
                        // The engine Naks any other address; this cannot happen.
                        self.counters.bump(Counter::IpcpAddressMismatch);
                        return;
                    }
                    s.routed = true;
                    self.routes.insert(peer_ip, sref);
                    tracing::info!(user = %Escaped(s.user.as_deref().unwrap_or("")), ip = %peer_ip, "session up");
                }
            }
            ppp::Event::Ipv6Up { .. } => {}
            ppp::Event::Down { reason } => {
                tracing::info!(?reason, "PPP down");
                if let Some(s) = self.sessions.get_mut(&sref) {
                    s.routed = false;
                    if self.routes.get(&s.ip) == Some(&sref) {
                        self.routes.remove(&s.ip);
                    }
                }
                // The LCP goodbye frames are already queued ahead of the CDN.
                let _ = self.l2tp.close_session(now, sref);
            }
        }
    }

    /// Gives an authenticated session its inner address before IPCP acknowledges one:
    /// the user's static address from the users file, else the next pool address. A
    /// static address still held by an older session of the same user (one being
    /// replaced) moves to the new session; held by anyone else, or with the pool
    /// exhausted, the session is closed.
    fn assign_address(&mut self, now: Instant, sref: l2tp::SessionRef, user: &str) {
        let wanted = self.config.users.get(user).and_then(|u| u.static_ip);
        let assigned = match wanted {
            Some(addr) => {
                if self.config.pool.is_used(addr) {
                    self.take_static_from_old_session(sref, user, addr);
                }
                match self.config.pool.allocate_static(addr) {
                    Ok(a) => Some(a),
                    Err(e) => {
                        self.counters.bump(Counter::StaticAddressUnavailable);
                        tracing::warn!(user = %Escaped(user), ip = %addr, "static address unavailable ({e}): session refused");
                        None
                    }
                }
            }
            None => match self.config.pool.allocate() {
                Ok(a) => Some(a),
                Err(_) => {
                    self.counters.bump(Counter::PoolExhausted);
                    tracing::warn!("address pool exhausted: session refused");
                    None
                }
            },
        };
        let Some(s) = self.sessions.get_mut(&sref) else {
            if let Some(a) = assigned {
                self.config.pool.release(a);
            }
            return;
        };
        if let Some(a) = assigned {
            if s.ppp.set_peer_ip(a).is_ok() {
                self.config.pool.release(s.ip);
                s.ip = a;
                return;
            }
            // Cannot happen: the event is handled before the session's next frame.
            self.config.pool.release(a);
            self.counters.bump(Counter::IpcpAddressMismatch);
        }
        s.ppp.close(now);
        self.dirty.push(sref);
    }

    /// Frees `addr` from an older session of `user` (which `replace_old_sessions` is
    /// closing, or which is about to be replaced) so the new session can have it. The old
    /// session loses its route; its end then releases nothing.
    fn take_static_from_old_session(&mut self, new: l2tp::SessionRef, user: &str, addr: Ipv4Addr) {
        let Some((old, s)) = self
            .sessions
            .iter_mut()
            .find(|(r, s)| **r != new && s.ip == addr && s.user.as_deref() == Some(user))
        else {
            return;
        };
        if self.routes.get(&addr) == Some(old) {
            self.routes.remove(&addr);
        }
        s.routed = false;
        s.ip = Ipv4Addr::UNSPECIFIED;
        self.config.pool.release(addr);
    }

    /// A user who logs in again while holding `sessions_per_user` sessions replaces the
    /// oldest of them (a phone reconnecting after sleep) instead of being refused.
    fn replace_old_sessions(&mut self, now: Instant, new: l2tp::SessionRef, user: &str) {
        let mut same: Vec<(Instant, l2tp::SessionRef)> = self
            .sessions
            .iter()
            .filter(|(r, s)| **r != new && s.user.as_deref() == Some(user))
            .map(|(r, s)| (s.started, *r))
            .collect();
        if same.len() < self.config.sessions_per_user {
            return;
        }
        same.sort_by_key(|(t, _)| *t);
        let excess = same.len() + 1 - self.config.sessions_per_user;
        for (_, old) in same.into_iter().take(excess) {
            tracing::info!(user = %Escaped(user), "replacing an older session of the same user");
            self.counters.bump(Counter::SessionsReplaced);
            if let Some(s) = self.sessions.get_mut(&old) {
                s.ppp.close(now);
                self.dirty.push(old);
            }
        }
    }

    fn recompute_deadline(&mut self) {
        let idle = self.config.idle_timeout;
        self.next_session_deadline = self
            .sessions
            .values()
            .filter_map(|s| {
                let ppp = s.ppp.poll_timeout();
                let idle = idle.map(|d| s.last_rx + d);
                match (ppp, idle) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            })
            .min();
    }

    /// Seals the first `len` bytes of `self.scratch` (an L2TP control message, or with
    /// `session` a PPP frame) for `peer` and queues the datagram.
    fn queue_sealed(&mut self, peer: l2tp::PeerId, session: Option<l2tp::SessionRef>, len: usize) {
        let mut buf = core::mem::replace(&mut self.seal_buf, PacketBuf::new(0, 0));
        buf.reset(crate::engine::TUN_HEADROOM);
        let ok = buf
            .set_payload(self.scratch.get(..len).unwrap_or_default())
            .is_ok()
            && session.is_none_or(|s| self.l2tp.encap_data(s, &mut buf).is_ok());
        if ok {
            if let Some(output) = self.seal_for_peer(peer, &mut buf) {
                self.pending.push_back(Ready {
                    output,
                    bytes: buf.payload().to_vec(),
                });
            }
        } else {
            self.counters.bump(Counter::ControlTxDropped);
        }
        self.seal_buf = buf;
    }

    /// Moves IKE's datagrams to the output queue and handles its events.
    fn drain_ike(&mut self, now: Instant) -> bool {
        // Lifetime work noted by the data path: rekeys to start, pairs to retire or
        // delete (their Quick Modes and DELETEs are drained just below).
        let mut progress = self.run_lifetime_policy(now);
        loop {
            self.scratch.clear();
            let Some(t) = self.ike.poll_transmit(&mut self.scratch) else {
                break;
            };
            progress = true;
            let mut bytes = Vec::with_capacity(self.scratch.len() + 4);
            if t.non_esp_marker {
                bytes.extend_from_slice(&esp::nat_t::NON_ESP_MARKER);
            }
            bytes.extend_from_slice(&self.scratch);
            self.pending.push_back(Ready {
                output: Output::Udp {
                    local: t.path.local,
                    remote: t.path.remote,
                },
                bytes,
            });
        }
        while let Some(ev) = self.ike.poll_event() {
            progress = true;
            let outer = match &ev {
                ike::Event::IkeSaUp { path, .. }
                | ike::Event::IkeSaDown { path, .. }
                | ike::Event::PeerGone { path } => Some(path.remote),
                ike::Event::ChildSaUp(c) => Some(c.path.remote),
                _ => None,
            };
            let span = tracing::info_span!("peer", outer = outer.map(tracing::field::display));
            let _entered = span.enter();
            match ev {
                ike::Event::IkeSaUp { ike, path, peer_id } => {
                    tracing::info!(peer = %path.remote, id = %IdDisplay(&peer_id), "IKE SA up");
                    self.ike_sas.push(ike);
                    self.counters.bump(Counter::IkeSasUp);
                }
                ike::Event::ChildSaUp(c) => {
                    let pair = SaPair {
                        ike: c.ike.0,
                        local: c.path.local,
                        remote: c.path.remote,
                        inbound: c.inbound,
                        outbound: c.outbound,
                        udp_encapsulated: c.encapsulation == ike::Encapsulation::UdpTransport,
                        peer_id: c.peer_id,
                    };
                    if let Err(e) = self.install_sa_pair(now, pair) {
                        tracing::warn!("cannot install an ESP SA pair: {e:?}");
                        self.counters.bump(Counter::SaInstallFailed);
                    }
                }
                ike::Event::ChildSaDown {
                    inbound_spi,
                    reason,
                    ..
                } => {
                    tracing::debug!(spi = %inbound_spi, ?reason, "ESP SA pair down");
                    self.forget_sa_pair(inbound_spi);
                }
                ike::Event::IkeSaDown { ike, path, reason } => {
                    tracing::info!(peer = %path.remote, ?reason, "IKE SA down");
                    self.ike_sas.retain(|i| *i != ike);
                }
                ike::Event::PeerGone { path } => {
                    tracing::info!(peer = %path.remote, "IKE peer gone");
                }
                _ => {}
            }
        }
        progress
    }
}

impl Engine for Core {
    fn handle_udp(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        data: &mut [u8],
    ) -> Option<Range<usize>> {
        let port = local.port();
        if port == self.config.nat_t_port {
            match esp::nat_t::classify_4500(data) {
                Ok(Udp4500::Keepalive) => None,
                Ok(Udp4500::Ike(message)) => {
                    self.ike_in(now, local, remote, message);
                    None
                }
                Ok(Udp4500::Esp { .. }) => {
                    let ip = self.esp_in(now, EspPath::Udp { local, remote }, data);
                    self.counters.counted(ip)
                }
                Err(e) => {
                    self.counters.bump(e);
                    None
                }
            }
        } else if port == self.config.ike_port {
            self.ike_in(now, local, remote, data);
            None
        } else {
            self.counters.bump(Counter::UnknownPort);
            None
        }
    }

    fn handle_raw_esp(
        &mut self,
        now: Instant,
        local: IpAddr,
        remote: IpAddr,
        esp: &mut [u8],
    ) -> Option<Range<usize>> {
        let ip = self.esp_in(now, EspPath::Raw { local, remote }, esp);
        self.counters.counted(ip)
    }

    fn handle_tun(&mut self, _now: Instant, buf: &mut PacketBuf) -> Option<Output> {
        let out = self.tun_in(buf);
        self.counters.counted(out)
    }

    fn handle_timeout(&mut self, now: Instant) {
        if self.ike.poll_timeout().is_some_and(|t| t <= now) {
            self.ike.handle_timeout(now);
        }
        if self.l2tp.poll_timeout().is_some_and(|t| t <= now) {
            self.l2tp.handle_timeout(now);
        }
        if self.next_session_deadline.is_some_and(|t| t <= now) {
            let idle = self.config.idle_timeout;
            let mut due = Vec::new();
            for (r, s) in &mut self.sessions {
                if s.ppp.poll_timeout().is_some_and(|t| t <= now) {
                    s.ppp.handle_timeout(now);
                    due.push(*r);
                }
                if idle.is_some_and(|d| s.last_rx + d <= now)
                    && s.ppp.phase() != ppp::Phase::Terminate
                    && s.ppp.phase() != ppp::Phase::Dead
                {
                    tracing::info!(user = %Escaped(s.user.as_deref().unwrap_or("")), "idle timeout");
                    s.ppp.close(now);
                    due.push(*r);
                }
            }
            self.dirty.extend(due);
        }
        self.process(now);
        self.recompute_deadline();
    }

    fn poll_output(&mut self, buf: &mut PacketBuf) -> Option<Output> {
        while let Some(p) = self.pending.pop_front() {
            if buf.set_payload(&p.bytes).is_ok() {
                return Some(p.output);
            }
            self.counters.bump(Counter::TxNoRoom);
        }
        None
    }

    fn poll_timeout(&self) -> Option<Instant> {
        [
            // Lifetime work is due at once (a time already past).
            (!self.lifetime_due.is_empty()).then_some(self.started),
            self.ike.poll_timeout(),
            self.l2tp.poll_timeout(),
            self.next_session_deadline,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn reload_users(&mut self, users: UserDb) {
        self.set_users(users);
    }

    fn begin_shutdown(&mut self, now: Instant) {
        self.shutting_down = true;
        let refs: Vec<_> = self.sessions.keys().copied().collect();
        for r in refs {
            if let Some(s) = self.sessions.get_mut(&r) {
                s.ppp.close(now);
            }
            self.dirty.push(r);
        }
        self.process(now);
        for t in self.tunnels.clone() {
            let _ = self.l2tp.close_tunnel(now, t);
        }
        self.process(now);
        // Last, the IKE DELETEs: the goodbyes above are already sealed under the SAs.
        for id in core::mem::take(&mut self.ike_sas) {
            let _ = self.ike.close(id);
        }
        self.process(now);
    }

    fn is_shut_down(&self) -> bool {
        self.shutting_down && self.pending.is_empty()
    }

    fn status(&self, now: Instant) -> StatusReport {
        let mut sessions: Vec<SessionStatus> = self
            .sessions
            .iter()
            .map(|(r, s)| {
                let peer = self.peers.get(&r.peer);
                SessionStatus {
                    user: s.user.clone().unwrap_or_default(),
                    outer: peer
                        .map_or(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0), |p| {
                            p.remote
                        }),
                    inner: s.routed.then_some(s.ip),
                    uptime_secs: now.saturating_duration_since(s.started).as_secs(),
                    bytes_in: s.bytes_in,
                    bytes_out: s.bytes_out,
                    packets_in: s.packets_in,
                    packets_out: s.packets_out,
                    esp: peer.and_then(|p| p.newest()).map(|pair| EspStatus {
                        suite: suite_name(pair.suite),
                        inbound_spi: pair.inbound_spi.to_string(),
                        outbound_spi: pair.outbound_spi.to_string(),
                        age_secs: now.saturating_duration_since(pair.installed).as_secs(),
                        udp_encapsulated: peer.is_some_and(|p| p.udp_encapsulated),
                    }),
                    l2tp_tunnel: r.tunnel.0,
                    l2tp_session: r.session.0,
                }
            })
            .collect();
        sessions.sort_by_key(|s| s.inner);
        let mut counters = self.counters.snapshot();
        counters.insert("peers".into(), self.peers.len() as u64);
        let ike = self.ike.stats();
        counters.insert("ike_sas".into(), self.ike.ike_sa_count() as u64);
        for (name, v) in [
            ("ike_decode_errors", ike.decode_errors),
            ("ike_unknown_sa", ike.unknown_sa),
            ("ike_no_proposal_chosen", ike.no_proposal_chosen),
            ("ike_auth_failures", ike.auth_failures),
            ("ike_bad_hashes", ike.bad_hashes),
            ("ike_protocol_errors", ike.protocol_errors),
            ("ike_limited", ike.limited),
            ("ike_cert_failures", ike.cert_failures),
            ("ike_wrong_path", ike.wrong_path),
            ("ike_qm_replayed", ike.qm_replayed),
            ("ike_wrong_source", ike.wrong_source),
            ("ike_budget_exhausted", ike.budget_exhausted),
            ("ike_first_messages_evicted", ike.first_messages_evicted),
        ] {
            counters.insert(format!("dropped.{name}"), v);
        }
        counters.insert("ike_expensive_ops".into(), ike.expensive_ops);
        counters.insert(
            "ike_child_sas_established".into(),
            ike.child_sas_established,
        );
        // IKE fragmentation: refusals as drops, the rest as events.
        let f = ike.fragments;
        for (name, v) in [
            ("ike_fragments_invalid", f.invalid),
            ("ike_fragments_unknown_sa", f.unknown_sa),
            ("ike_fragments_too_many", f.too_many_fragments),
            ("ike_fragments_too_large", f.too_large),
            (
                "ike_fragments_too_many_reassemblies",
                f.too_many_reassemblies,
            ),
            ("ike_fragments_timed_out", f.timed_out),
            ("ike_fragments_duplicate", f.duplicates),
        ] {
            counters.insert(format!("dropped.{name}"), v);
        }
        for (name, v) in [
            ("ike_fragments_received", f.received),
            ("ike_fragments_reassembled", f.reassembled),
            ("ike_messages_fragmented", f.messages_fragmented),
            ("ike_fragments_sent", f.sent),
        ] {
            counters.insert(name.into(), v);
        }
        counters.insert("esp_inbound_sas".into(), self.inbound.len() as u64);
        counters.insert("l2tp_tunnels".into(), self.l2tp.tunnel_count() as u64);
        counters.insert("pool_in_use".into(), u64::from(self.config.pool.in_use()));
        counters.insert(
            "pool_capacity".into(),
            u64::from(self.config.pool.dynamic_capacity()),
        );
        StatusReport {
            version: env!("CARGO_PKG_VERSION").into(),
            uptime_secs: now.saturating_duration_since(self.started).as_secs(),
            sessions,
            counters,
        }
    }
}

/// `aes-cbc-256/hmac-sha1-96`, `aes-gcm16-128`: the suite as `l2tpgw status` shows it.
pub fn suite_name(suite: esp::Suite) -> String {
    use esp::{Encryption as E, Integrity as I};
    let enc = match suite.encryption() {
        E::AesCbc128 => "aes-cbc-128",
        E::AesCbc192 => "aes-cbc-192",
        E::AesCbc256 => "aes-cbc-256",
        E::TripleDesCbc => "3des-cbc",
        E::AesGcm16_128 => "aes-gcm16-128",
        E::AesGcm16_256 => "aes-gcm16-256",
    };
    let int = match suite.integrity() {
        I::None => return enc.to_owned(),
        I::HmacMd5_96 => "hmac-md5-96",
        I::HmacSha1_96 => "hmac-sha1-96",
        I::HmacSha256_128 => "hmac-sha256-128",
        I::HmacSha384_192 => "hmac-sha384-192",
        I::HmacSha512_256 => "hmac-sha512-256",
    };
    format!("{enc}/{int}")
}
