//! The endpoint: demultiplexes datagrams by peer and Tunnel ID, owns the tunnels and
//! their timers, and queues what the caller must send and know.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::Instant;

use tracing::debug;
use wire::PacketBuf;
use wire::random::SecureRandom;

use crate::config::Config;
use crate::error::Error;
use crate::event::{Event, PppIn, Transmit, TunnelDownReason};
use crate::ids::{PeerId, SessionId, SessionRef, TunnelHandle, TunnelId};
use crate::msgs::avp::AvpType;
use crate::msgs::header::{Header, MessageKind, Sequence};
use crate::msgs::{ControlMessage, ErrorCode, MessageType, ResultCode, StopCcnResult};
use crate::session::SessionState;
use crate::stats::Stats;
use crate::tunnel::Tunnel;

/// Outgoing datagrams waiting for `poll_transmit` beyond this are dropped (and counted).
const MAX_TRANSMIT_QUEUE: usize = 16 * 1024;
/// Events waiting for `poll_event` beyond this are dropped (oldest kept).
const MAX_EVENTS: usize = 64 * 1024;

/// The tunnels' outbox: the datagrams and events they produce for `poll_transmit` and
/// `poll_event`, and what producing them takes (configuration, randomness, counters).
pub(crate) struct Outbox {
    pub(crate) config: Config,
    pub(crate) rng: Box<dyn SecureRandom>,
    pub(crate) transmits: VecDeque<(PeerId, Vec<u8>)>,
    pub(crate) events: VecDeque<Event>,
    pub(crate) stats: Stats,
    pub(crate) session_total: usize,
}

impl core::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Outbox")
            .field("transmits", &self.transmits.len())
            .field("events", &self.events.len())
            .field("session_total", &self.session_total)
            .finish_non_exhaustive()
    }
}

impl Outbox {
    pub(crate) fn transmit(&mut self, peer: PeerId, bytes: Vec<u8>) {
        if self.transmits.len() >= MAX_TRANSMIT_QUEUE {
            self.stats.transmit_queue_full += 1;
            return;
        }
        self.transmits.push_back((peer, bytes));
    }

    pub(crate) fn event(&mut self, e: Event) {
        if self.events.len() < MAX_EVENTS {
            self.events.push_back(e);
        }
    }
}

/// The tunnel `id` if it belongs to `peer`.
fn tunnel_in(
    tunnels: &mut HashMap<TunnelId, Tunnel>,
    peer: PeerId,
    id: TunnelId,
) -> Result<&mut Tunnel, Error> {
    if id.0 == 0 {
        return Err(Error::ZeroTunnelId);
    }
    let t = tunnels.get_mut(&id).ok_or(Error::UnknownTunnel(id))?;
    if t.peer != peer {
        return Err(Error::WrongPeer(id));
    }
    Ok(t)
}

/// An L2TPv2 endpoint (LNS and/or LAC), sans-IO.
///
/// Feed it datagrams ([`Self::handle_datagram`]) and timeouts ([`Self::handle_timeout`]);
/// after each input drain [`Self::poll_transmit`], then [`Self::poll_event`], and re-arm
/// the timer with [`Self::poll_timeout`]. Peers are opaque [`PeerId`]s chosen by the
/// caller; a tunnel only accepts datagrams from the peer that created it.
#[derive(Debug)]
pub struct Endpoint {
    tunnels: HashMap<TunnelId, Tunnel>,
    /// (peer, the peer's Tunnel ID) → ours, so a retransmitted SCCRQ finds its tunnel.
    by_peer_tunnel: HashMap<(PeerId, TunnelId), TunnelId>,
    /// Tunnels of each peer (for limits and `peer_gone`).
    peers: HashMap<PeerId, Vec<TunnelId>>,
    timers: BTreeSet<(Instant, TunnelId)>,
    outbox: Outbox,
}

impl Endpoint {
    /// An endpoint with `config`; `rng` supplies IDs, challenges and random vectors.
    pub fn new(config: Config, rng: Box<dyn SecureRandom>) -> Self {
        Self {
            tunnels: HashMap::new(),
            by_peer_tunnel: HashMap::new(),
            peers: HashMap::new(),
            timers: BTreeSet::new(),
            outbox: Outbox {
                config,
                rng,
                transmits: VecDeque::new(),
                events: VecDeque::new(),
                stats: Stats::default(),
                session_total: 0,
            },
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.outbox.config
    }

    /// Counters, including one per drop reason.
    pub fn stats(&self) -> &Stats {
        &self.outbox.stats
    }

    /// Tunnels held (in any state, closing ones included).
    pub fn tunnel_count(&self) -> usize {
        self.tunnels.len()
    }

    /// Sessions held (in any state).
    pub fn session_count(&self) -> usize {
        self.outbox.session_total
    }

    /// The sum of every internal table's size: zero when nothing is left (for leak
    /// checks in tests).
    #[doc(hidden)]
    pub fn state_size(&self) -> usize {
        self.tunnels.len()
            + self.by_peer_tunnel.len()
            + self.peers.len()
            + self.timers.len()
            + self.outbox.session_total
            + self
                .tunnels
                .values()
                .map(|t| t.channel.len() + t.sessions.len())
                .sum::<usize>()
    }

    /// Handles one L2TP datagram (the UDP payload) from `peer`.
    ///
    /// A data message for an established session gives its PPP frame, borrowed from
    /// `data`. Control messages give `Ok(None)`; their effects come out of
    /// `poll_transmit` and `poll_event`. An `Err` says why the datagram was dropped (or
    /// led to a teardown) and has been counted in [`Self::stats`].
    pub fn handle_datagram<'a>(
        &mut self,
        now: Instant,
        peer: PeerId,
        data: &'a [u8],
    ) -> Result<Option<PppIn<'a>>, Error> {
        self.outbox.stats.rx_datagrams += 1;
        let r = self.handle_inner(now, peer, data);
        if let Err(e) = &r {
            self.outbox.stats.count(e);
            debug!(?peer, error = %e, "l2tp datagram dropped");
        }
        r
    }

    fn handle_inner<'a>(
        &mut self,
        now: Instant,
        peer: PeerId,
        data: &'a [u8],
    ) -> Result<Option<PppIn<'a>>, Error> {
        let (header, payload) = Header::decode(data)?;
        match (header.kind, header.sequence) {
            (MessageKind::Data, _) => {
                // The payload is the datagram's tail.
                let range = data.len() - payload.len()..data.len();
                self.handle_data(peer, &header, payload, range).map(Some)
            }
            (MessageKind::Control, Some(seq)) => {
                self.handle_control(now, peer, &header, seq, payload)?;
                Ok(None)
            }
            // Header::decode guarantees S on control messages.
            (MessageKind::Control, None) => Err(Error::ZeroTunnelId),
        }
    }

    /// The fast path: no allocation, no timer change.
    fn handle_data<'a>(
        &mut self,
        peer: PeerId,
        header: &Header,
        payload: &'a [u8],
        range: core::ops::Range<usize>,
    ) -> Result<PppIn<'a>, Error> {
        let t = tunnel_in(&mut self.tunnels, peer, header.tunnel)?;
        let tunnel = t.local_id;
        let s = t
            .sessions
            .get_mut(&header.session)
            .ok_or(Error::UnknownSession {
                tunnel,
                session: header.session,
            })?;
        if !matches!(s.state, SessionState::Established(_)) {
            return Err(Error::SessionNotEstablished);
        }
        if !s.accept_data_ns(header.sequence.map(|q| q.ns)) {
            return Err(Error::DataOutOfOrder);
        }
        let (local_id, peer_id) = (s.local_id, s.peer_id);
        let session = SessionRef {
            peer,
            tunnel,
            session: local_id,
            peer_tunnel: t.peer_id,
            peer_session: peer_id,
        };
        self.outbox.stats.rx_data += 1;
        Ok(PppIn {
            session,
            frame: payload,
            range,
        })
    }

    fn handle_control(
        &mut self,
        now: Instant,
        peer: PeerId,
        header: &Header,
        seq: Sequence,
        payload: &[u8],
    ) -> Result<(), Error> {
        let secret = self.outbox.config.secret.as_ref();
        if header.tunnel.0 != 0 {
            let msg = if payload.is_empty() {
                None
            } else {
                Some(ControlMessage::decode(payload, secret)?)
            };
            let id = header.tunnel;
            let t = tunnel_in(&mut self.tunnels, peer, id)?;
            let r = t.receive(now, header.session, seq.ns, seq.nr, msg, &mut self.outbox);
            self.settle(now, id);
            return r;
        }
        // Tunnel ID 0: only an SCCRQ may say that.
        if payload.is_empty() {
            return Err(Error::ZeroTunnelId);
        }
        let msg = ControlMessage::decode(payload, secret)?;
        if msg.message_type() != MessageType::Sccrq {
            return Err(Error::ZeroTunnelId);
        }
        if !self.outbox.config.lns {
            return Err(Error::RoleDisabled);
        }
        let peer_tunnel =
            msg.assigned_tunnel_id()
                .filter(|t| t.0 != 0)
                .ok_or(Error::MissingAvp(
                    MessageType::Sccrq,
                    AvpType::AssignedTunnelId,
                ))?;
        if let Some(&id) = self.by_peer_tunnel.get(&(peer, peer_tunnel)) {
            // A retransmitted SCCRQ: the tunnel's channel sees a duplicate.
            let t = tunnel_in(&mut self.tunnels, peer, id)?;
            let r = t.receive(
                now,
                header.session,
                seq.ns,
                seq.nr,
                Some(msg),
                &mut self.outbox,
            );
            self.settle(now, id);
            return r;
        }
        // A new control connection starts at Ns 0; anything else is a stray.
        if seq.ns != 0 {
            return Err(Error::OutOfWindow);
        }
        if let Err(e) = self.admit_sccrq(peer, &msg) {
            self.refuse_sccrq(peer, peer_tunnel, &e);
            return Err(e);
        }
        let id = self.alloc_tunnel_id().ok_or(Error::TunnelLimit)?;
        let t = Tunnel::new(now, peer, id, &self.outbox);
        self.insert_tunnel(t);
        self.by_peer_tunnel.insert((peer, peer_tunnel), id);
        let r = match self.tunnels.get_mut(&id) {
            Some(t) => t.receive(
                now,
                header.session,
                seq.ns,
                seq.nr,
                Some(msg),
                &mut self.outbox,
            ),
            None => Ok(()),
        };
        self.settle(now, id);
        r
    }

    /// Checks an SCCRQ before any state is created for it.
    fn admit_sccrq(&self, peer: PeerId, msg: &ControlMessage) -> Result<(), Error> {
        if let Some((vendor, attribute)) = msg.unknown_mandatory() {
            return Err(Error::UnknownMandatoryAvp { vendor, attribute });
        }
        if msg.protocol_version().is_some_and(|v| v != (1, 0)) {
            return Err(Error::UnsupportedProtocolVersion);
        }
        if msg.challenge().is_some() && self.outbox.config.secret.is_none() {
            return Err(Error::AuthenticationFailed);
        }
        let of_peer = self.peers.get(&peer).map_or(0, Vec::len);
        if self.tunnels.len() >= self.outbox.config.max_tunnels
            || of_peer >= self.outbox.config.max_tunnels_per_peer
        {
            return Err(Error::TunnelLimit);
        }
        Ok(())
    }

    /// Answers a refused SCCRQ with a StopCCN, keeping no state.
    fn refuse_sccrq(&mut self, peer: PeerId, peer_tunnel: TunnelId, e: &Error) {
        let rc = match e {
            Error::UnsupportedProtocolVersion => {
                ResultCode::new(StopCcnResult::UnsupportedVersion.value())
            }
            Error::AuthenticationFailed => ResultCode::new(StopCcnResult::NotAuthorized.value()),
            Error::UnknownMandatoryAvp { .. } => ResultCode::with_error(
                StopCcnResult::GeneralError.value(),
                ErrorCode::UnknownMandatoryAvp,
                "unknown mandatory avp",
            ),
            _ => ResultCode::with_error(
                StopCcnResult::GeneralError.value(),
                ErrorCode::InsufficientResources,
                "tunnel limit",
            ),
        };
        let msg = ControlMessage::new(MessageType::StopCcn)
            .with(crate::msgs::AvpValue::AssignedTunnelId(TunnelId(0)))
            .with(crate::msgs::AvpValue::ResultCode(rc));
        let mut bytes = Vec::new();
        if msg
            .encode_with_header(peer_tunnel, SessionId(0), 0, 1, &mut bytes, None)
            .is_ok()
        {
            self.outbox.stats.tx_control += 1;
            self.outbox.transmit(peer, bytes);
        }
    }

    fn alloc_tunnel_id(&mut self) -> Option<TunnelId> {
        for _ in 0..64 {
            let mut b = [0u8; 2];
            self.outbox.rng.fill(&mut b);
            let id = TunnelId(u16::from_be_bytes(b));
            if id.0 != 0 && !self.tunnels.contains_key(&id) {
                return Some(id);
            }
        }
        (1..=u16::MAX)
            .map(TunnelId)
            .find(|id| !self.tunnels.contains_key(id))
    }

    fn insert_tunnel(&mut self, t: Tunnel) {
        self.peers.entry(t.peer).or_default().push(t.local_id);
        self.tunnels.insert(t.local_id, t);
    }

    /// After anything touched tunnel `id`: remove it if finished, else re-arm its timer.
    fn settle(&mut self, now: Instant, id: TunnelId) {
        let Some(t) = self.tunnels.get_mut(&id) else {
            return;
        };
        if let Some(at) = t.scheduled.take() {
            self.timers.remove(&(at, id));
        }
        if t.is_finished(now) {
            self.remove_tunnel(id);
            return;
        }
        if let Some(at) = t.deadline(&self.outbox) {
            t.scheduled = Some(at);
            self.timers.insert((at, id));
        }
    }

    fn remove_tunnel(&mut self, id: TunnelId) {
        let Some(t) = self.tunnels.remove(&id) else {
            return;
        };
        if let Some(at) = t.scheduled {
            self.timers.remove(&(at, id));
        }
        self.outbox.session_total = self.outbox.session_total.saturating_sub(t.sessions.len());
        if t.peer_id.0 != 0 && self.by_peer_tunnel.get(&(t.peer, t.peer_id)) == Some(&id) {
            self.by_peer_tunnel.remove(&(t.peer, t.peer_id));
        }
        if let Some(list) = self.peers.get_mut(&t.peer) {
            list.retain(|x| *x != id);
            if list.is_empty() {
                self.peers.remove(&t.peer);
            }
        }
    }

    /// Runs every timer due at `now`: retransmissions, delayed acks, HELLOs, the end of
    /// closing tunnels.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&(at, id)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.remove(&(at, id));
            if let Some(t) = self.tunnels.get_mut(&id) {
                t.scheduled = None;
                t.on_timeout(now, &mut self.outbox);
            }
            self.settle(now, id);
        }
    }

    /// The next time [`Self::handle_timeout`] must be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.first().map(|&(at, _)| at)
    }

    /// The next L2TP message to send: appended to `buf`; the caller wraps it in UDP
    /// (port 1701) and ESP for `peer`.
    #[must_use]
    pub fn poll_transmit(&mut self, buf: &mut Vec<u8>) -> Option<Transmit> {
        let (peer, bytes) = self.outbox.transmits.pop_front()?;
        buf.extend_from_slice(&bytes);
        Some(Transmit {
            peer,
            len: bytes.len(),
        })
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.outbox.events.pop_front()
    }

    /// LAC: opens a control connection to `peer` (sends SCCRQ). `TunnelUp` follows.
    pub fn connect(&mut self, now: Instant, peer: PeerId) -> Result<TunnelHandle, Error> {
        if !self.outbox.config.lac {
            return Err(Error::RoleDisabled);
        }
        let of_peer = self.peers.get(&peer).map_or(0, Vec::len);
        if self.tunnels.len() >= self.outbox.config.max_tunnels
            || of_peer >= self.outbox.config.max_tunnels_per_peer
        {
            return Err(Error::TunnelLimit);
        }
        let id = self.alloc_tunnel_id().ok_or(Error::TunnelLimit)?;
        let mut t = Tunnel::new(now, peer, id, &self.outbox);
        let r = t.start_lac(now, &mut self.outbox);
        self.insert_tunnel(t);
        self.settle(now, id);
        r.map(|()| TunnelHandle { peer, tunnel: id })
    }

    /// LAC: opens a session in an established tunnel (sends ICRQ). `SessionUp` follows;
    /// the returned reference's `peer_session` is 0 until then.
    pub fn open_session(
        &mut self,
        now: Instant,
        tunnel: TunnelHandle,
    ) -> Result<SessionRef, Error> {
        if !self.outbox.config.lac {
            return Err(Error::RoleDisabled);
        }
        let t = tunnel_in(&mut self.tunnels, tunnel.peer, tunnel.tunnel)?;
        let r = t.open_session(now, &mut self.outbox);
        self.settle(now, tunnel.tunnel);
        r
    }

    /// Ends a session (sends CDN, administrative). Its `SessionDown` follows.
    pub fn close_session(&mut self, now: Instant, session: SessionRef) -> Result<(), Error> {
        let t = tunnel_in(&mut self.tunnels, session.peer, session.tunnel)?;
        let r = t.close_session(now, session.session, &mut self.outbox);
        self.settle(now, session.tunnel);
        r
    }

    /// Ends a tunnel and its sessions (sends StopCCN, "general request to clear").
    pub fn close_tunnel(&mut self, now: Instant, tunnel: TunnelHandle) -> Result<(), Error> {
        let t = tunnel_in(&mut self.tunnels, tunnel.peer, tunnel.tunnel)?;
        t.stop(
            now,
            ResultCode::new(StopCcnResult::ClearConnection.value()),
            &mut self.outbox,
        );
        self.settle(now, tunnel.tunnel);
        Ok(())
    }

    /// The peer's IPsec SA is gone: forget its tunnels and sessions without sending
    /// anything. `SessionDown`/`TunnelDown` events still report what ended.
    pub fn peer_gone(&mut self, peer: PeerId) {
        let ids = self.peers.get(&peer).cloned().unwrap_or_default();
        for id in ids {
            if let Some(t) = self.tunnels.get_mut(&id) {
                t.teardown(TunnelDownReason::PeerGone, &mut self.outbox);
            }
            self.remove_tunnel(id);
        }
        self.outbox.transmits.retain(|(p, _)| *p != peer);
    }

    /// Prepends the L2TP data header for `session` to the PPP frame in `buf`, in place
    /// (no allocation). The buffer needs 10 bytes of headroom (6 without sequencing).
    pub fn encap_data(&mut self, session: SessionRef, buf: &mut PacketBuf) -> Result<(), Error> {
        let t = tunnel_in(&mut self.tunnels, session.peer, session.tunnel)?;
        let peer_tunnel = t.peer_id;
        let s = t
            .sessions
            .get_mut(&session.session)
            .ok_or(Error::UnknownSession {
                tunnel: session.tunnel,
                session: session.session,
            })?;
        let SessionState::Established(e) = &mut s.state else {
            return Err(Error::SessionNotEstablished);
        };
        let sequence = e.sequencing.then(|| {
            let ns = e.next_ns;
            e.next_ns = e.next_ns.wrapping_add(1);
            Sequence { ns, nr: 0 }
        });
        let header = Header::data(peer_tunnel, s.peer_id, sequence);
        let payload_len = buf.len();
        let room = buf.prepend(header.len())?;
        header.write(room, payload_len)?;
        self.outbox.stats.tx_data += 1;
        Ok(())
    }
}
