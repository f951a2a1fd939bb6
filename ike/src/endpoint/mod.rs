//! The [`Endpoint`]: many ISAKMP SAs, as responder and as initiator, driven sans-IO.
//!
//! Inputs: [`Endpoint::handle_datagram`], [`Endpoint::handle_timeout`] and the commands
//! ([`Endpoint::connect`], [`Endpoint::delete_child_sa`], [`Endpoint::close`],
//! [`Endpoint::rekey_child`], [`Endpoint::update_path`]). Outputs,
//! drained in this order after every input: [`Endpoint::poll_transmit`],
//! [`Endpoint::poll_timeout`], [`Endpoint::poll_event`].

mod admission;
mod aggressive_mode;
mod informational;
mod main_mode;
mod profile;
mod quick_mode;
mod sa;

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use wire::random::SecureRandom;

use crate::config::{Config, PskStore};
use crate::crypto::keys::Phase1Keys;
use crate::crypto::{CryptoProvider, Secret};
use crate::error::{Error, PeerMisbehaved};
use crate::fragment::{self, FragmentMessage, FragmentPeer, FragmentStats, Reassembler};
use crate::msgs::{
    self, Chain, Cookie, DOI_IPSEC, ExchangeType, Flags, Header, IdPayload, MessageId,
    NotifyPayload, NotifyType, Payload, PayloadType, ProtocolId,
};
pub use crate::proposal::Encapsulation;
pub use profile::{Profile, windows_vendor_ids};
use sa::{IkeSa, State};

/// Most source addresses tracked by the rate limit (spoofed floods cannot grow it).
const MAX_RATE_ENTRIES: usize = 16 * 1024;

/// The addresses of a datagram: our local address (port 500 or 4500) and the peer's.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Path {
    /// Our address and port.
    pub local: SocketAddr,
    /// The peer's address and port.
    pub remote: SocketAddr,
}

impl Path {
    /// True when either end of this path is the NAT-T port `nat_t_port` (normally 4500,
    /// [`Config::nat_t_port`]): the caller adds the 4-byte non-ESP marker.
    pub fn is_nat_t(&self, nat_t_port: u16) -> bool {
        self.local.port() == nat_t_port || self.remote.port() == nat_t_port
    }
}

/// A datagram to send; its bytes were appended to the caller's buffer.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Transmit {
    /// Where to send it from and to.
    pub path: Path,
    /// Prepend the 4-byte zero non-ESP marker (UDP 4500, RFC 3948 §2.2). The marker is
    /// NOT in the buffer. False on a 4500 path for a NAT keepalive (the single byte
    /// 0xFF, RFC 3948 §2.3), which is sent as is.
    pub non_esp_marker: bool,
}

/// Identifies one ISAKMP SA of this endpoint.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct IkeSaId(pub u64);

/// An ESP SA pair that is ready for traffic.
#[derive(Clone, Debug)]
pub struct ChildSa {
    /// The ISAKMP SA that negotiated it.
    pub ike: IkeSaId,
    /// The peer's address and port and ours (UDP 4500 for UDP encapsulation).
    pub path: Path,
    /// The SA the peer sends on (our SPI).
    pub inbound: esp::SaParams,
    /// The SA we send on (the peer's SPI).
    pub outbound: esp::SaParams,
    /// Plain or UDP-encapsulated ESP.
    pub encapsulation: Encapsulation,
    /// The peer's original address from its NAT-OA (the source address its transport
    /// checksums were computed with), when it sent one.
    pub nat_oa: Option<IpAddr>,
    /// The peer's phase-1 identity.
    pub peer_id: Option<IdPayload>,
    /// Traffic selector of the peer (IDci for the responder).
    pub peer_ts: Option<IdPayload>,
    /// Negotiated lifetime.
    pub lifetime: Duration,
    /// Negotiated lifetime in kilobytes, if any.
    pub life_kb: Option<u64>,
    /// True when this SA replaces older ones of the same ISAKMP SA (a rekey): switch
    /// outbound traffic to it after its first inbound packet.
    pub rekey: bool,
}

/// One ISAKMP SA, as [`Endpoint::ike_sas`] reports it.
#[derive(Clone, Debug)]
pub struct IkeSaInfo {
    /// The SA.
    pub ike: IkeSaId,
    /// Its current path.
    pub path: Path,
    /// We started it.
    pub initiator: bool,
    /// Authenticated and not yet deleted or expired.
    pub established: bool,
    /// The peer's phase-1 identity.
    pub peer_id: Option<IdPayload>,
    /// Its ESP SA pairs as (inbound, outbound) SPIs.
    pub child_spis: Vec<(esp::Spi, esp::Spi)>,
}

/// Why an SA went down.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum DownReason {
    /// The peer sent a DELETE.
    DeletedByPeer,
    /// We deleted it (command).
    DeletedLocally,
    /// Its lifetime ended.
    Expired,
    /// The exchange did not complete in time.
    Timeout,
    /// The peer sent INITIAL-CONTACT from a new ISAKMP SA.
    InitialContact,
    /// Authentication failed.
    AuthenticationFailed,
    /// The peer refused (an error notification).
    Refused(NotifyType),
}

/// What happened, for the caller.
#[derive(Clone, Debug)]
#[non_exhaustive]
#[allow(
    clippy::large_enum_variant,
    reason = "a few events per SA lifetime, never per packet; boxing ChildSaUp would change every caller"
)]
pub enum Event {
    /// An ISAKMP SA authenticated.
    IkeSaUp {
        /// The SA.
        ike: IkeSaId,
        /// Its path.
        path: Path,
        /// The peer's identity.
        peer_id: IdPayload,
    },
    /// An ESP SA pair is ready. As responder this comes as soon as Quick Mode's second
    /// message is sent: install the inbound SA at once (a peer may send on it before
    /// its third message arrives).
    ChildSaUp(ChildSa),
    /// An ESP SA pair is gone.
    ChildSaDown {
        /// Its ISAKMP SA.
        ike: IkeSaId,
        /// Our SPI.
        inbound_spi: esp::Spi,
        /// The peer's SPI.
        outbound_spi: esp::Spi,
        /// Why.
        reason: DownReason,
    },
    /// An ISAKMP SA is gone (its ESP SAs are reported separately).
    IkeSaDown {
        /// The SA.
        ike: IkeSaId,
        /// Its path.
        path: Path,
        /// Why.
        reason: DownReason,
    },
    /// The peer stopped answering (initiator retransmissions exhausted).
    PeerGone {
        /// The path it was on.
        path: Path,
    },
}

/// Counters the gateway exports as metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Datagrams handled.
    pub rx: u64,
    /// Datagrams sent.
    pub tx: u64,
    /// Malformed messages.
    pub decode_errors: u64,
    /// Messages for unknown ISAKMP SAs.
    pub unknown_sa: u64,
    /// Refused for lack of an acceptable proposal.
    pub no_proposal_chosen: u64,
    /// Phase-1 authentication failures (certificate failures included).
    pub auth_failures: u64,
    /// Phase-1 certificate authentication failures (bad, expired, revoked, unknown CA,
    /// wrong ID, bad signature).
    pub cert_failures: u64,
    /// Bad phase-2 / informational hashes.
    pub bad_hashes: u64,
    /// Other protocol errors.
    pub protocol_errors: u64,
    /// Refused by a limit before any DH.
    pub limited: u64,
    /// Retransmitted requests answered with the stored response.
    pub retransmits_answered: u64,
    /// Our own retransmissions (initiator).
    pub retransmits_sent: u64,
    /// ISAKMP SAs established.
    pub ike_sas_established: u64,
    /// ESP SA pairs established.
    pub child_sas_established: u64,
    /// Quick Mode and informational messages dropped because they came from another
    /// path than their ISAKMP SA's proven one.
    pub wrong_path: u64,
    /// Quick Mode messages dropped for a message ID the ISAKMP SA used before.
    pub qm_replayed: u64,
    /// IKE fragmentation, both directions.
    pub fragments: FragmentStats,
    /// Unproven first messages dropped from their full table for newer ones
    /// ([`crate::Limits::first_messages`]).
    pub first_messages_evicted: u64,
    /// Messages dropped unanswered because the per-second budget of expensive
    /// operations was used up ([`crate::Limits::expensive_ops_per_second`]).
    pub budget_exhausted: u64,
    /// Expensive operations done, in the units of the budget.
    pub expensive_ops: u64,
    /// Messages of an unfinished exchange from another address than its first
    /// message's (dropped).
    pub wrong_source: u64,
}

/// The IKEv1 endpoint.
pub struct Endpoint {
    config: Config,
    psk: Box<dyn PskStore>,
    rng: Box<dyn SecureRandom>,
    sas: HashMap<IkeSaId, IkeSa>,
    by_cookies: HashMap<(Cookie, Cookie), IkeSaId>,
    /// Responder half-open SAs by (peer, initiator cookie), to answer a retransmitted
    /// first message with the same responder cookie.
    by_icookie: HashMap<(SocketAddr, Cookie), IkeSaId>,
    next_id: u64,
    outbox: VecDeque<(Transmit, Vec<u8>)>,
    events: VecDeque<Event>,
    stats: Stats,
    /// New exchanges per source address in the current one-second window.
    rate: HashMap<IpAddr, (Instant, u32)>,
    /// Every SA's next deadline, earliest first, so that `poll_timeout` is O(log n) and
    /// `handle_timeout` visits only due SAs. Kept exact: an SA's entry is replaced
    /// whenever it goes back into `sas` (`reinsert`) and removed when it is forgotten.
    timers: BTreeSet<(Instant, IkeSaId)>,
    /// The deadline each SA is filed under in `timers`.
    armed: HashMap<IkeSaId, Instant>,
    /// Received IKE fragments being reassembled (its deadlines join `timers` in
    /// `poll_timeout`), and the splitting of messages we send.
    fragments: Reassembler,
    /// ISAKMP SAs (by cookies) whose peer announced fragmentation.
    fragment_peers: HashMap<(Cookie, Cookie), FragmentPeer>,
    /// Limits on unauthenticated peers: standing of each responder SA, the cycling
    /// table of unproven first messages, cookie secrets, the budget, the refusal log.
    admission: admission::Admission,
    /// The current datagram's refusal was already logged (one line per refusal).
    logged: bool,
}

impl core::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Endpoint")
            .field("sas", &self.sas.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// A new endpoint.
    pub fn new(config: Config, psk: Box<dyn PskStore>, rng: Box<dyn SecureRandom>) -> Self {
        Self {
            fragments: Reassembler::new(config.fragmentation.clone()),
            fragment_peers: HashMap::new(),
            config,
            psk,
            rng,
            sas: HashMap::new(),
            by_cookies: HashMap::new(),
            by_icookie: HashMap::new(),
            next_id: 1,
            outbox: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
            rate: HashMap::new(),
            timers: BTreeSet::new(),
            armed: HashMap::new(),
            admission: admission::Admission::default(),
            logged: false,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        Stats {
            fragments: self.fragments.stats(),
            ..self.stats
        }
    }

    /// Number of ISAKMP SAs (any state).
    pub fn ike_sa_count(&self) -> usize {
        self.sas.len()
    }

    /// A summary of every ISAKMP SA, for status pages.
    pub fn ike_sas(&self) -> Vec<IkeSaInfo> {
        let mut v: Vec<IkeSaInfo> = self
            .sas
            .values()
            .map(|s| IkeSaInfo {
                ike: s.id,
                path: s.path,
                initiator: s.role == sa::Role::Initiator,
                established: s.is_established() && !s.orphaned,
                peer_id: s.peer_id.clone(),
                child_spis: s.children.iter().map(|c| (c.inbound, c.outbound)).collect(),
            })
            .collect();
        v.sort_by_key(|i| i.ike);
        v
    }

    /// Moves an established ISAKMP SA to `path` after its peer's NAT rebinding, so that
    /// DPD, DELETEs and our Quick Modes follow the peer, and its Quick Mode and
    /// informational messages are taken from `path` (and no longer from the old one).
    ///
    /// IKE never moves an SA on a packet's word: Quick Mode and informational messages
    /// from another path are dropped ([`Stats::wrong_path`]). This command is for the
    /// caller that holds a better proof. The gateway core calls it only after an ESP
    /// packet of one of this ISAKMP SA's pairs arrived from `path`, authenticated with
    /// the pair's integrity key (which only that peer and we hold) and carrying a
    /// sequence number above every one the SA accepted before; so no other user, and no
    /// off-path attacker, can move a peer. The remaining risk is an on-path attacker who
    /// captures a fresh packet and replays it from another address before the original
    /// arrives: the peer's path moves there until its next packet moves it back (such an
    /// attacker could drop the traffic anyway).
    ///
    /// Our port (500 or 4500) never changes. Returns false, changing nothing, when the
    /// SA is unknown, not established (or deleted), `path` has another local port, or
    /// it is already the SA's path.
    pub fn update_path(&mut self, ike: IkeSaId, path: Path) -> bool {
        let Some(sa) = self.sas.get_mut(&ike) else {
            return false;
        };
        if !sa.is_established()
            || sa.dead
            || sa.path == path
            || sa.path.local.port() != path.local.port()
        {
            return false;
        }
        tracing::info!(from = %sa.path.remote, to = %path.remote, "peer moved (NAT rebinding, proven by ESP): ISAKMP SA follows");
        sa.path = path;
        true
    }

    fn provider(&self) -> &'static dyn CryptoProvider {
        self.config.provider
    }

    /// Handles one IKE datagram (for UDP 4500, the caller strips the non-ESP marker).
    /// Errors are also counted in [`Endpoint::stats`]; the state is unchanged by a
    /// refused message.
    pub fn handle_datagram(&mut self, now: Instant, path: Path, data: &[u8]) -> Result<(), Error> {
        self.stats.rx += 1;
        self.logged = false;
        let r = if fragment::is_fragment(data) {
            self.handle_fragment(now, path, data)
        } else {
            self.dispatch(now, path, data)
        };
        if let Err(e) = &r {
            if !self.logged {
                tracing::debug!(peer = %path.remote, error = %e, "IKE message refused");
            }
            match e {
                Error::Decode(_) | Error::InvalidPayloadType(_) => self.stats.decode_errors += 1,
                Error::UnknownSa => self.stats.unknown_sa += 1,
                Error::NoProposalChosen => self.stats.no_proposal_chosen += 1,
                Error::AuthenticationFailed | Error::NoPsk => self.stats.auth_failures += 1,
                Error::Certificate(_) => {
                    self.stats.auth_failures += 1;
                    self.stats.cert_failures += 1;
                }
                Error::PeerMisbehaved(PeerMisbehaved::BadHash) => self.stats.bad_hashes += 1,
                Error::PeerMisbehaved(PeerMisbehaved::WrongPath) => self.stats.wrong_path += 1,
                Error::PeerMisbehaved(PeerMisbehaved::ReplayedMessageId) => {
                    self.stats.qm_replayed += 1
                }
                Error::LimitExceeded(_) => self.stats.limited += 1,
                _ => self.stats.protocol_errors += 1,
            }
        }
        r
    }

    /// One IKE fragment: reassembled before anything is decoded, only for an ISAKMP SA
    /// we have (nothing is buffered for unknown cookies), then handled like a message
    /// that came whole.
    fn handle_fragment(&mut self, now: Instant, path: Path, data: &[u8]) -> Result<(), Error> {
        let frag = FragmentMessage::decode(data).inspect_err(|_| self.fragments.note_invalid())?;
        if !self.config.fragmentation.enabled {
            return Err(Error::Unsupported("IKE fragmentation is disabled"));
        }
        let h = frag.header;
        let Some(sa) = self
            .by_cookies
            .get(&(h.icookie, h.rcookie))
            .or_else(|| self.by_cookies.get(&(h.icookie, Cookie::ZERO)))
            .and_then(|id| self.sas.get(id))
        else {
            self.fragments.note_unknown_sa();
            return Err(Error::UnknownSa);
        };
        // Only from the address the SA is proven on (a half-open one: its first
        // message's), so spoofed sources cannot take reassembly slots with its cookies.
        let proven = if sa.is_established() {
            sa.path.remote.ip()
        } else {
            sa.first_path.remote.ip()
        };
        if path.remote.ip() != proven {
            self.fragments.note_wrong_source();
            return Err(PeerMisbehaved::UnexpectedMessage(
                "IKE fragment from another address than the SA's",
            )
            .into());
        }
        let Some(whole) = self.fragments.insert(now, path, &frag)? else {
            return Ok(());
        };
        let (inner, _) = msgs::split(&whole)?;
        if inner.icookie != h.icookie
            || inner.rcookie != h.rcookie
            || inner.next_payload == fragment::PAYLOAD_TYPE
        {
            return Err(PeerMisbehaved::UnexpectedMessage(
                "reassembled message does not match its fragments",
            )
            .into());
        }
        self.dispatch(now, path, &whole)
    }

    fn dispatch(&mut self, now: Instant, path: Path, data: &[u8]) -> Result<(), Error> {
        let (header, body) = msgs::split(data)?;
        if header.exchange == ExchangeType::IdentityProtection && header.rcookie.is_zero() {
            return self.responder_main_mode_1(now, path, data, &header, body);
        }
        if header.exchange == ExchangeType::Aggressive && header.rcookie.is_zero() {
            if !self.config.aggressive_mode {
                return Err(Error::Unsupported("Aggressive Mode is disabled"));
            }
            return self.responder_aggressive_1(now, path, data, &header, body);
        }
        let Some(id) = self.lookup(&header) else {
            if tracing::enabled!(tracing::Level::DEBUG)
                && header.exchange == ExchangeType::IdentityProtection
                && self.admission.is_our_cookie(
                    self.config.provider,
                    path.remote,
                    header.icookie,
                    header.rcookie,
                )
            {
                tracing::debug!(peer = %path.remote,
                    "Main Mode message for an exchange of ours that is gone (timed out, failed, or its unproven first message was dropped for newer ones)");
                self.logged = true;
            }
            return Err(Error::UnknownSa);
        };
        let Some(mut sa) = self.sas.remove(&id) else {
            return Err(Error::UnknownSa);
        };
        let r = self.dispatch_sa(now, &mut sa, path, data, &header, body);
        if sa.dpd_next.is_none()
            && sa.vendor.dpd
            && sa.is_established()
            && let Some(interval) = self.config.dpd_interval
        {
            sa.dpd_next = Some(now + interval);
        }
        if sa.keepalive_next.is_none()
            && sa.role == sa::Role::Initiator
            && sa.udp_encap
            && sa.is_established()
            && let Some(interval) = self.config.nat_keepalive
        {
            sa.keepalive_next = Some(now + interval);
        }
        self.reinsert(sa);
        r
    }

    fn lookup(&mut self, h: &Header) -> Option<IkeSaId> {
        if let Some(id) = self.by_cookies.get(&(h.icookie, h.rcookie)) {
            return Some(*id);
        }
        // The initiator learns the responder cookie from the second message.
        let id = *self.by_cookies.get(&(h.icookie, Cookie::ZERO))?;
        let sa = self.sas.get_mut(&id)?;
        let expected = match sa.state {
            State::InitSentSa(_) => ExchangeType::IdentityProtection,
            State::InitSentAm1(..) => ExchangeType::Aggressive,
            _ => return None,
        };
        if h.exchange != expected {
            return None;
        }
        Some(id)
    }

    /// Puts an SA (new, or taken out of `sas` to work on) back, filing its next deadline.
    /// A dead SA, or an orphaned one whose last ESP SA is gone, is forgotten instead.
    fn reinsert(&mut self, sa: IkeSa) {
        if sa.dead || (sa.orphaned && sa.children.is_empty()) {
            self.forget(&sa);
        } else {
            if sa.vendor.fragmentation
                && !self.fragment_peers.contains_key(&(sa.icookie, sa.rcookie))
            {
                let peer = FragmentPeer {
                    windows: sa.vendor.windows,
                };
                self.fragment_peers.insert((sa.icookie, sa.rcookie), peer);
            }
            self.arm(sa.id, sa.next_timeout());
            self.admission.update(&sa);
            self.sas.insert(sa.id, sa);
        }
    }

    /// Files `id` under `deadline` in the timer set (none: no entry).
    fn arm(&mut self, id: IkeSaId, deadline: Option<Instant>) {
        if self.armed.get(&id).copied() == deadline {
            return;
        }
        if let Some(old) = self.armed.remove(&id) {
            self.timers.remove(&(old, id));
        }
        if let Some(t) = deadline {
            self.timers.insert((t, id));
            self.armed.insert(id, t);
        }
    }

    fn forget(&mut self, sa: &IkeSa) {
        self.arm(sa.id, None);
        self.admission.remove(sa.id);
        self.by_cookies.remove(&(sa.icookie, sa.rcookie));
        self.by_cookies.remove(&(sa.icookie, Cookie::ZERO));
        self.by_icookie.remove(&(sa.first_path.remote, sa.icookie));
        self.fragment_peers.remove(&(sa.icookie, sa.rcookie));
        self.sas.remove(&sa.id);
    }

    fn dispatch_sa(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        path: Path,
        data: &[u8],
        header: &Header,
        body: &[u8],
    ) -> Result<(), Error> {
        // A retransmitted request gets the stored response, without new crypto.
        if header.message_id.0 == 0
            && let (Some(req), Some(resp)) = (&sa.last_request, &sa.last_response)
            && req.as_slice() == data
        {
            let resp = resp.clone();
            self.stats.retransmits_answered += 1;
            self.send(path, resp);
            return Ok(());
        }
        match header.exchange {
            ExchangeType::IdentityProtection => {
                if header.message_id.0 != 0 {
                    return Err(PeerMisbehaved::InvalidMessageId.into());
                }
                self.main_mode(now, sa, path, data, header, body)
            }
            ExchangeType::Aggressive => {
                if header.message_id.0 != 0 {
                    return Err(PeerMisbehaved::InvalidMessageId.into());
                }
                self.aggressive_mode(now, sa, path, data, header, body)
            }
            ExchangeType::QuickMode => self.quick_mode(now, sa, path, data, header, body),
            ExchangeType::Informational => self.informational(now, sa, path, header, body),
            _ => Err(PeerMisbehaved::UnexpectedMessage("unsupported exchange type").into()),
        }
    }

    /// Handles timers: retransmissions, half-open and exchange timeouts, lifetimes.
    /// Only SAs whose deadline has come are visited.
    pub fn handle_timeout(&mut self, now: Instant) {
        // Take the due entries first: an SA's timers may start new SAs (a Main Mode
        // rekey), whose deadlines are in the future and must not be visited now.
        let mut due = Vec::new();
        while let Some(&(t, id)) = self.timers.first()
            && t <= now
        {
            self.timers.pop_first();
            self.armed.remove(&id);
            due.push(id);
        }
        for id in due {
            let Some(mut sa) = self.sas.remove(&id) else {
                continue;
            };
            self.sa_timers(now, &mut sa);
            self.reinsert(sa);
        }
        self.rate
            .retain(|_, (start, _)| now.saturating_duration_since(*start) < Duration::from_secs(2));
        self.fragments.handle_timeout(now);
    }

    /// The next time [`Endpoint::handle_timeout`] must be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let sa = self.timers.first().map(|&(t, _)| t);
        match (sa, self.fragments.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The next datagram to send: its bytes are appended to `buf`.
    #[must_use]
    pub fn poll_transmit(&mut self, buf: &mut Vec<u8>) -> Option<Transmit> {
        let (t, bytes) = self.outbox.pop_front()?;
        if let Some(frags) = self.fragments_for(&t, &bytes) {
            let mut frags = frags.into_iter();
            let first = frags.next()?;
            let rest: Vec<Vec<u8>> = frags.collect();
            self.stats.tx += rest.len() as u64;
            for f in rest.into_iter().rev() {
                self.outbox.push_front((t, f));
            }
            buf.extend_from_slice(&first);
            return Some(t);
        }
        buf.extend_from_slice(&bytes);
        Some(t)
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn send(&mut self, path: Path, bytes: Vec<u8>) {
        self.stats.tx += 1;
        self.outbox.push_back((
            Transmit {
                path,
                non_esp_marker: path.is_nat_t(self.config.nat_t_port),
            },
            bytes,
        ));
    }

    /// The fragments to send instead of `bytes`, when the peer of its ISAKMP SA
    /// announced fragmentation and it is too large (the rule is in `fragment`). Decided
    /// when the datagram is polled, so that what an SA learnt while its message was
    /// built (the peer's vendor IDs in the message that the first large one answers)
    /// counts; retransmissions pass here too.
    fn fragments_for(&mut self, t: &Transmit, bytes: &[u8]) -> Option<Vec<Vec<u8>>> {
        let (h, _) = msgs::split(bytes).ok()?;
        let peer = *self.fragment_peers.get(&(h.icookie, h.rcookie))?;
        self.fragments
            .split_outgoing(&t.path, t.non_esp_marker, bytes, peer)
    }

    fn alloc_id(&mut self) -> IkeSaId {
        let id = IkeSaId(self.next_id);
        self.next_id += 1;
        id
    }

    fn random_cookie(&mut self) -> Cookie {
        loop {
            let mut c = [0u8; 8];
            self.rng.fill(&mut c);
            if c != [0; 8] {
                return Cookie(c);
            }
        }
    }

    fn random_vec(&mut self, len: usize) -> Vec<u8> {
        let mut v = vec![0u8; len];
        self.rng.fill(&mut v);
        v
    }

    /// Sends an unencrypted informational notification (used before keys exist, or when
    /// the peer's keys are unusable: NO-PROPOSAL-CHOSEN, AUTHENTICATION-FAILED).
    fn send_plain_notify(&mut self, path: Path, icookie: Cookie, rcookie: Cookie, ty: NotifyType) {
        let out = plain_notify(icookie, rcookie, ty);
        self.send(path, out);
    }

    /// Drops unproven first-message state, oldest first, until an entry of `bytes`
    /// fits ([`crate::Limits::first_messages`]).
    fn make_room_for_first_message(&mut self, bytes: usize) {
        while let Some(id) = self.admission.next_eviction(&self.config.limits, bytes) {
            self.stats.first_messages_evicted += 1;
            match self.sas.remove(&id) {
                Some(sa) => self.forget(&sa),
                None => self.admission.remove(id),
            }
        }
    }

    /// Takes `units` of the per-second budget of expensive operations for work of
    /// `class`; false when that share is used up (the work must not be done: the
    /// message is dropped unanswered, counted and logged at debug).
    fn spend(&mut self, now: Instant, class: admission::Class, units: u32, peer: Path) -> bool {
        if self.admission.spend(now, &self.config.limits, class, units) {
            self.stats.expensive_ops += u64::from(units);
            return true;
        }
        self.stats.budget_exhausted += 1;
        tracing::debug!(peer = %peer.remote, ?class, units,
            "budget of expensive operations used up: message dropped");
        self.logged = true;
        false
    }

    /// Counts `units` of our own initiator's expensive work in the budget (never
    /// refused: no peer can make us do more of it than we started).
    fn spend_anyway(&mut self, now: Instant, units: u32) {
        self.admission.spend_anyway(now, units);
        self.stats.expensive_ops += u64::from(units);
    }

    fn rate_ok(&mut self, now: Instant, ip: IpAddr) -> bool {
        let limit = self.config.limits.new_per_source_per_second;
        if self.rate.len() >= MAX_RATE_ENTRIES {
            self.rate.retain(|_, (start, _)| {
                now.saturating_duration_since(*start) < Duration::from_secs(1)
            });
            if self.rate.len() >= MAX_RATE_ENTRIES {
                // A spoofed flood from more sources than we track: refusing here would
                // block every new client. The table of unproven first messages and
                // the limits on proven exchanges bound what is held instead.
                return true;
            }
        }
        let e = self.rate.entry(ip).or_insert((now, 0));
        if now.saturating_duration_since(e.0) >= Duration::from_secs(1) {
            *e = (now, 0);
        }
        e.1 += 1;
        e.1 <= limit
    }
}

/// An unencrypted informational message with one notification about ISAKMP SA
/// `icookie`/`rcookie`.
fn plain_notify(icookie: Cookie, rcookie: Cookie, ty: NotifyType) -> Vec<u8> {
    let header = Header {
        icookie,
        rcookie,
        next_payload: PayloadType::Notify,
        version: Header::VERSION,
        exchange: ExchangeType::Informational,
        flags: Flags(0),
        message_id: MessageId(0),
        length: 0,
    };
    let msg = msgs::Message {
        header,
        body: msgs::Body::Plain(vec![Payload::Notify(NotifyPayload {
            doi: DOI_IPSEC,
            protocol: ProtocolId::Isakmp,
            notify_type: ty,
            spi: [icookie.0, rcookie.0].concat(),
            data: Vec::new(),
        })]),
    };
    let mut out = Vec::new();
    msg.encode(&mut out);
    out
}

/// Parses a payload chain and rejects unknown payload types (INVALID-PAYLOAD-TYPE).
fn checked_chain(first: PayloadType, data: &[u8]) -> Result<Chain<'_>, Error> {
    let chain = msgs::parse_chain(first, data)?;
    for p in &chain.payloads {
        if !p.ty.is_known()
            || matches!(
                p.ty,
                PayloadType::Proposal | PayloadType::Transform | PayloadType::Fragment
            )
        {
            return Err(Error::InvalidPayloadType(p.ty));
        }
    }
    Ok(chain)
}

/// Encodes `payloads` as a chain.
fn encode_payloads(payloads: &[Payload]) -> Vec<u8> {
    let mut out = Vec::new();
    msgs::encode_chain(payloads, &mut wire::Writer::new(&mut out));
    out
}

/// A chain led by a HASH payload computed over the encoded rest.
fn hashed_chain(rest: &[Payload], hash: impl FnOnce(&[u8]) -> Secret) -> Vec<u8> {
    let rest_b = encode_payloads(rest);
    let h = hash(&rest_b);
    let next = rest.first().map_or(PayloadType::None, Payload::ty);
    let mut out = Vec::new();
    Payload::Hash(h.as_bytes().to_vec()).encode(next, &mut wire::Writer::new(&mut out));
    out.extend_from_slice(&rest_b);
    out
}

/// Builds an encrypted message: header, then `chain` padded to the block length and
/// CBC-encrypted with `iv`; `iv` becomes the last ciphertext block.
fn seal(
    p: &dyn CryptoProvider,
    keys: &Phase1Keys,
    iv: &mut Vec<u8>,
    mut header: Header,
    first: PayloadType,
    chain: &[u8],
) -> Vec<u8> {
    let block = keys.cipher.block_len();
    let mut body = chain.to_vec();
    let padded = body.len().div_ceil(block) * block;
    body.resize(padded.max(block), 0);
    // The key and IV lengths come from the negotiated cipher, so this cannot fail.
    let _ = p.encrypt(keys.cipher, keys.enc_key.as_bytes(), iv, &mut body);
    if let Some(last) = body.get(body.len() - block..) {
        *iv = last.to_vec();
    }
    header.next_payload = first;
    header.flags = Flags(header.flags.0 | Flags::ENCRYPTION);
    let mut out = Vec::with_capacity(msgs::HEADER_LEN + body.len());
    header.encode(&mut wire::Writer::new(&mut out));
    out.extend_from_slice(&body);
    msgs::header::patch_length(&mut out, 0);
    out
}

/// Decrypts an encrypted body with `iv`; returns the plaintext and the next IV (the
/// last ciphertext block), which the caller commits only if the message is accepted.
fn open(
    p: &dyn CryptoProvider,
    keys: &Phase1Keys,
    iv: &[u8],
    header: &Header,
    body: &[u8],
) -> Result<(Vec<u8>, Vec<u8>), Error> {
    if !header.flags.encrypted() {
        return Err(PeerMisbehaved::NotEncrypted.into());
    }
    let block = keys.cipher.block_len();
    if body.is_empty() || !body.len().is_multiple_of(block) {
        return Err(PeerMisbehaved::BadCiphertext.into());
    }
    let next_iv = body.get(body.len() - block..).unwrap_or_default().to_vec();
    let mut plain = body.to_vec();
    p.decrypt(keys.cipher, keys.enc_key.as_bytes(), iv, &mut plain)
        .map_err(|_| PeerMisbehaved::BadCiphertext)?;
    Ok((plain, next_iv))
}

/// The header of a message of `sa`.
fn header_for(sa: &IkeSa, exchange: ExchangeType, mid: u32) -> Header {
    Header {
        icookie: sa.icookie,
        rcookie: sa.rcookie,
        next_payload: PayloadType::None,
        version: Header::VERSION,
        exchange,
        flags: Flags(0),
        message_id: MessageId(mid),
        length: 0,
    }
}
