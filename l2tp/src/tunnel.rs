//! Tunnels (control connections, RFC 2661 §5.1–§5.3, §5.7) and the session messages
//! they carry.
//!
//! Each state is its own type: an LNS tunnel goes [`Idle`] → [`WaitCtlConn`] →
//! [`Established`], a LAC tunnel [`WaitCtlReply`] → [`Established`], and either ends in
//! [`Closing`] (StopCCN sent or received; only acknowledgements flow) or `Dead`.

use std::collections::HashMap;
use std::time::Instant;

use tracing::debug;

use crate::endpoint::Outbox;
use crate::error::Error;
use crate::event::{Event, TunnelDownReason};
use crate::ids::{PeerId, SessionId, SessionRef, TunnelId};
use crate::msgs::avp::{Avp, AvpType, AvpValue};
use crate::msgs::hidden::{challenge_response, verify_response};
use crate::msgs::{CdnResult, ControlMessage, ErrorCode, MessageType, ResultCode, StopCcnResult};
use crate::reliable::{Channel, Rx};
use crate::session::{Session, SessionState};

/// Framing Type of our calls: synchronous (what Windows and xl2tpd use).
const FRAMING_SYNC: u32 = 1;
/// The Tx Connect Speed we announce in ICCN (bits per second; informational).
const CONNECT_SPEED: u32 = 100_000_000;

/// A control message held because it arrived ahead of a gap.
#[derive(Debug)]
pub(crate) struct Held {
    session: SessionId,
    msg: ControlMessage,
}

/// LNS: created for an SCCRQ not yet processed.
#[derive(Debug)]
pub(crate) struct Idle;

/// LAC: SCCRQ sent, waiting for SCCRP.
#[derive(Debug)]
pub(crate) struct WaitCtlReply {
    /// The challenge we sent, if we authenticate the peer.
    challenge: Option<[u8; 16]>,
}

/// LNS: SCCRP sent, waiting for SCCCN.
#[derive(Debug)]
pub(crate) struct WaitCtlConn {
    /// The challenge we sent, if we authenticate the peer.
    challenge: Option<[u8; 16]>,
}

/// The control connection is up.
#[derive(Debug)]
pub(crate) struct Established;

/// A StopCCN was sent or received: acknowledge until `until` and until ours is acked.
#[derive(Debug)]
pub(crate) struct Closing {
    until: Instant,
}

#[derive(Debug)]
pub(crate) enum TunnelState {
    Idle(Idle),
    WaitCtlReply(WaitCtlReply),
    WaitCtlConn(WaitCtlConn),
    Established(Established),
    Closing(Closing),
    /// To be removed now.
    Dead,
}

/// One control connection with its sessions.
#[derive(Debug)]
pub(crate) struct Tunnel {
    pub(crate) peer: PeerId,
    pub(crate) local_id: TunnelId,
    pub(crate) peer_id: TunnelId,
    pub(crate) channel: Channel<Held>,
    pub(crate) state: TunnelState,
    pub(crate) sessions: HashMap<SessionId, Session>,
    /// The caller knows about this tunnel (`connect`, or `TunnelUp` was sent).
    announced: bool,
    last_rx: Instant,
    call_serial: u32,
    /// The key under which the endpoint's timer set holds this tunnel.
    pub(crate) scheduled: Option<Instant>,
}

fn stop_result(result: StopCcnResult, error: Option<(ErrorCode, &str)>) -> ResultCode {
    match error {
        Some((e, msg)) => ResultCode::with_error(result.value(), e, msg),
        None => ResultCode::new(result.value()),
    }
}

fn cdn_result(result: CdnResult, error: Option<(ErrorCode, &str)>) -> ResultCode {
    match error {
        Some((e, msg)) => ResultCode::with_error(result.value(), e, msg),
        None => ResultCode::new(result.value()),
    }
}

impl Tunnel {
    pub(crate) fn new(now: Instant, peer: PeerId, local_id: TunnelId, outbox: &Outbox) -> Self {
        Self {
            peer,
            local_id,
            peer_id: TunnelId(0),
            channel: Channel::new(&outbox.config),
            state: TunnelState::Idle(Idle),
            sessions: HashMap::new(),
            announced: false,
            last_rx: now,
            call_serial: 0,
            scheduled: None,
        }
    }

    /// True once the tunnel can be forgotten.
    pub(crate) fn is_finished(&self, now: Instant) -> bool {
        match &self.state {
            TunnelState::Dead => true,
            TunnelState::Closing(c) => now >= c.until && self.channel.is_idle(),
            _ => false,
        }
    }

    pub(crate) fn is_established(&self) -> bool {
        matches!(self.state, TunnelState::Established(_))
    }

    pub(crate) fn session_ref(&self, s: &Session) -> SessionRef {
        SessionRef {
            peer: self.peer,
            tunnel: self.local_id,
            session: s.local_id,
            peer_tunnel: self.peer_id,
            peer_session: s.peer_id,
        }
    }

    /// The earliest timer: retransmission, delayed ack, HELLO, end of lingering.
    pub(crate) fn deadline(&self, outbox: &Outbox) -> Option<Instant> {
        let mut d = self.channel.deadline();
        let mut add = |t: Instant| d = Some(d.map_or(t, |d| d.min(t)));
        match &self.state {
            TunnelState::Established(_) if self.channel.is_idle() => {
                if let Some(hello) = outbox.config.hello_interval {
                    add(self.last_rx + hello);
                }
            }
            TunnelState::Closing(c) if self.channel.is_idle() => add(c.until),
            // An SCCRQ that never became processable: give up after a HELLO interval.
            // A handshake that stalled with nothing in flight (an SCCRQ that never became
            // processable, an acknowledged SCCRP never followed by SCCCN): give up after
            // a HELLO interval of silence.
            TunnelState::Idle(_) | TunnelState::WaitCtlConn(_) | TunnelState::WaitCtlReply(_)
                if self.channel.is_idle() =>
            {
                add(self.last_rx + outbox.config.handshake_timeout());
            }
            TunnelState::Dead => add(self.last_rx),
            _ => {}
        }
        d
    }

    fn random_challenge(outbox: &mut Outbox) -> [u8; 16] {
        let mut c = [0u8; 16];
        outbox.rng.fill(&mut c);
        c
    }

    /// Queues a control message (header session `session`); sent on the next flush.
    fn send(
        &mut self,
        session: SessionId,
        msg: &ControlMessage,
        outbox: &mut Outbox,
    ) -> Result<(), Error> {
        let ns = self.channel.alloc_ns();
        let mut bytes = Vec::new();
        msg.encode_with_header(
            self.peer_id,
            session,
            ns,
            0,
            &mut bytes,
            outbox.config.secret.as_ref(),
        )?;
        self.channel.push(ns, bytes);
        Ok(())
    }

    /// Sends what the window allows.
    pub(crate) fn flush(&mut self, now: Instant, outbox: &mut Outbox) {
        let peer = self.peer;
        let n = self.channel.flush(now, |b| outbox.transmit(peer, b));
        outbox.stats.tx_control += n as u64;
    }

    /// An Assigned Session ID AVP, hidden when configured (after a Random Vector).
    fn push_session_id(msg: &mut ControlMessage, id: SessionId, outbox: &mut Outbox) {
        let hide = outbox.config.hide_avps && outbox.config.secret.is_some();
        if hide {
            let mut rv = vec![0u8; 16];
            outbox.rng.fill(&mut rv);
            msg.avps.push(Avp::mandatory(AvpValue::RandomVector(rv)));
        }
        msg.avps.push(Avp {
            mandatory: true,
            hidden: hide,
            reserved: 0,
            value: AvpValue::AssignedSessionId(id),
        });
    }

    /// The AVPs SCCRQ and SCCRP share.
    fn identity(&self, msg: ControlMessage, outbox: &Outbox) -> ControlMessage {
        let c = &outbox.config;
        let mut msg = msg
            .with(AvpValue::ProtocolVersion {
                version: 1,
                revision: 0,
            })
            .with(AvpValue::FramingCapabilities(c.framing_capabilities));
        if let Some(b) = c.bearer_capabilities {
            msg = msg.with(AvpValue::BearerCapabilities(b));
        }
        if let Some(f) = c.firmware_revision {
            msg = msg.with_optional(AvpValue::FirmwareRevision(f));
        }
        msg = msg.with(AvpValue::HostName(c.host_name.clone()));
        if !c.vendor_name.is_empty() {
            msg = msg.with_optional(AvpValue::VendorName(c.vendor_name.clone()));
        }
        msg.with(AvpValue::AssignedTunnelId(self.local_id))
            .with(AvpValue::ReceiveWindowSize(c.receive_window.max(1)))
    }

    /// LAC: sends SCCRQ.
    pub(crate) fn start_lac(&mut self, now: Instant, outbox: &mut Outbox) -> Result<(), Error> {
        let mut msg = self.identity(ControlMessage::new(MessageType::Sccrq), outbox);
        let challenge = outbox
            .config
            .secret
            .is_some()
            .then(|| Self::random_challenge(outbox));
        if let Some(c) = challenge {
            msg = msg.with(AvpValue::Challenge(c.to_vec()));
        }
        self.send(SessionId(0), &msg, outbox)?;
        self.state = TunnelState::WaitCtlReply(WaitCtlReply { challenge });
        self.announced = true;
        self.flush(now, outbox);
        Ok(())
    }

    /// A control message (or a ZLB, `msg` None) arrived for this tunnel.
    pub(crate) fn receive(
        &mut self,
        now: Instant,
        session: SessionId,
        ns: u16,
        nr: u16,
        msg: Option<ControlMessage>,
        outbox: &mut Outbox,
    ) -> Result<(), Error> {
        self.last_rx = now;
        let zlb = msg.is_none();
        let mut result = Ok(());
        match (self.channel.on_receive(now, ns, nr, zlb), msg) {
            (Rx::Zlb, _) | (_, None) => outbox.stats.rx_zlb += 1,
            (Rx::Duplicate, Some(_)) => outbox.stats.duplicates += 1,
            (Rx::OutOfWindow, Some(_)) => result = Err(Error::OutOfWindow),
            (Rx::Hold, Some(msg)) => {
                if self.channel.hold(ns, Held { session, msg }) {
                    outbox.stats.reordered += 1;
                } else {
                    outbox.stats.duplicates += 1;
                }
            }
            (Rx::Deliver, Some(msg)) => {
                outbox.stats.rx_control += 1;
                result = self.dispatch(now, session, &msg, outbox);
                while let Some(held) = self.channel.take_held(now) {
                    outbox.stats.rx_control += 1;
                    if let Err(e) = self.dispatch(now, held.session, &held.msg, outbox) {
                        outbox.stats.count(&e);
                    }
                }
            }
        }
        self.flush(now, outbox);
        result
    }

    /// Timers: retransmissions, the delayed ack, HELLO.
    pub(crate) fn on_timeout(&mut self, now: Instant, outbox: &mut Outbox) {
        let peer = self.peer;
        let mut retransmitted = 0u64;
        let r = self.channel.on_timeout(now, |b| {
            retransmitted += 1;
            outbox.transmit(peer, b);
        });
        outbox.stats.retransmits += retransmitted;
        match r {
            Err(_) => {
                if matches!(self.state, TunnelState::Closing(_)) {
                    self.channel.clear_outgoing();
                    self.state = TunnelState::Dead;
                } else {
                    outbox.stats.tunnel_timeouts += 1;
                    self.teardown(TunnelDownReason::Timeout, outbox);
                    self.state = TunnelState::Dead;
                }
                return;
            }
            Ok(true) => {
                let zlb = self.channel.zlb();
                outbox.stats.tx_zlb += 1;
                outbox.transmit(peer, zlb);
            }
            Ok(false) => {}
        }
        let handshake = matches!(
            self.state,
            TunnelState::Idle(_) | TunnelState::WaitCtlConn(_) | TunnelState::WaitCtlReply(_)
        );
        if handshake
            && self.channel.is_idle()
            && now >= self.last_rx + outbox.config.handshake_timeout()
        {
            outbox.stats.tunnel_timeouts += 1;
            self.teardown(TunnelDownReason::Timeout, outbox);
            self.state = TunnelState::Dead;
            return;
        }
        if self.is_established()
            && self.channel.is_idle()
            && outbox
                .config
                .hello_interval
                .is_some_and(|hello| now >= self.last_rx + hello)
        {
            if self
                .send(
                    SessionId(0),
                    &ControlMessage::new(MessageType::Hello),
                    outbox,
                )
                .is_ok()
            {
                self.flush(now, outbox);
            }
            // The HELLO's retransmission timer now guards the tunnel.
            self.last_rx = now;
        }
    }

    /// Handles one in-order control message.
    fn dispatch(
        &mut self,
        now: Instant,
        session: SessionId,
        msg: &ControlMessage,
        outbox: &mut Outbox,
    ) -> Result<(), Error> {
        let ty = msg.message_type();
        if let Some((vendor, attribute)) = msg.unknown_mandatory() {
            let err = Error::UnknownMandatoryAvp { vendor, attribute };
            let rc_text = "unknown mandatory avp";
            match ty {
                // Teardowns are honoured whatever else they carry.
                MessageType::StopCcn | MessageType::Cdn => {}
                t if t.is_session_message() => {
                    let rc = cdn_result(
                        CdnResult::GeneralError,
                        Some((ErrorCode::UnknownMandatoryAvp, rc_text)),
                    );
                    self.refuse_call(session, msg, rc, outbox)?;
                    return Err(err);
                }
                _ => {
                    let rc = stop_result(
                        StopCcnResult::GeneralError,
                        Some((ErrorCode::UnknownMandatoryAvp, rc_text)),
                    );
                    self.stop(now, rc, outbox);
                    return Err(err);
                }
            }
        }
        match ty {
            MessageType::Hello => return Ok(()),
            MessageType::StopCcn => {
                self.on_stop_ccn(now, msg, outbox);
                return Ok(());
            }
            _ => {}
        }
        match &self.state {
            TunnelState::Idle(_) if ty == MessageType::Sccrq => self.on_sccrq(now, msg, outbox),
            TunnelState::WaitCtlConn(w) if ty == MessageType::Scccn => {
                let challenge = w.challenge;
                self.on_scccn(now, challenge, msg, outbox)
            }
            TunnelState::WaitCtlReply(w) if ty == MessageType::Sccrp => {
                let challenge = w.challenge;
                self.on_sccrp(now, challenge, msg, outbox)
            }
            TunnelState::Established(_) => self.dispatch_established(session, msg, outbox),
            // After a StopCCN only acknowledgements matter.
            TunnelState::Closing(_) | TunnelState::Dead => Ok(()),
            _ => Err(Error::UnexpectedMessage(ty)),
        }
    }

    fn dispatch_established(
        &mut self,
        session: SessionId,
        msg: &ControlMessage,
        outbox: &mut Outbox,
    ) -> Result<(), Error> {
        match msg.message_type() {
            MessageType::Icrq => self.on_icrq(msg, outbox),
            MessageType::Icrp => self.on_icrp(session, msg, outbox),
            MessageType::Iccn => self.on_iccn(session, msg, outbox),
            MessageType::Cdn => self.on_cdn(session, msg, outbox),
            MessageType::Ocrq => {
                // We place no outgoing calls: refuse cleanly.
                outbox.stats.ocrq_refused += 1;
                let rc = cdn_result(
                    CdnResult::GeneralError,
                    Some((ErrorCode::NoError, "outgoing calls are not supported")),
                );
                self.refuse_call(session, msg, rc, outbox)
            }
            MessageType::Wen => {
                outbox.stats.wen_received += 1;
                Ok(())
            }
            MessageType::Sli => {
                outbox.stats.sli_received += 1;
                Ok(())
            }
            other => Err(Error::UnexpectedMessage(other)),
        }
    }

    /// Reads the peer's tunnel parameters shared by SCCRQ and SCCRP.
    fn take_peer_parameters(&mut self, msg: &ControlMessage) -> Result<(), Error> {
        let ty = msg.message_type();
        let peer_id = msg
            .assigned_tunnel_id()
            .filter(|t| t.0 != 0)
            .ok_or(Error::MissingAvp(ty, AvpType::AssignedTunnelId))?;
        if msg.protocol_version().is_some_and(|v| v != (1, 0)) {
            return Err(Error::UnsupportedProtocolVersion);
        }
        self.peer_id = peer_id;
        self.channel.peer_tunnel = peer_id;
        if let Some(w) = msg.receive_window_size() {
            self.channel.set_peer_window(w);
        }
        Ok(())
    }

    /// Our response to the peer's challenge, if it sent one; fails without a secret.
    fn answer_challenge(
        message_type: MessageType,
        msg: &ControlMessage,
        outbox: &Outbox,
    ) -> Result<Option<[u8; 16]>, Error> {
        match (msg.challenge(), outbox.config.secret.as_ref()) {
            (None, _) => Ok(None),
            (Some(c), Some(secret)) => {
                // Message types fit in one byte here (2 or 3).
                Ok(Some(challenge_response(
                    message_type.value() as u8,
                    secret,
                    c,
                )))
            }
            (Some(_), None) => Err(Error::AuthenticationFailed),
        }
    }

    /// Checks the peer's response to our challenge.
    fn check_response(
        message_type: MessageType,
        challenge: Option<[u8; 16]>,
        msg: &ControlMessage,
        outbox: &Outbox,
    ) -> Result<(), Error> {
        let (Some(challenge), Some(secret)) = (challenge, outbox.config.secret.as_ref()) else {
            return Ok(());
        };
        match msg.challenge_response() {
            Some(r) if verify_response(message_type.value() as u8, secret, &challenge, r) => Ok(()),
            _ => Err(Error::AuthenticationFailed),
        }
    }

    fn refuse_tunnel(&mut self, now: Instant, e: Error, outbox: &mut Outbox) -> Error {
        let rc = match e {
            Error::UnsupportedProtocolVersion => {
                stop_result(StopCcnResult::UnsupportedVersion, None)
            }
            Error::AuthenticationFailed => stop_result(StopCcnResult::NotAuthorized, None),
            _ => stop_result(
                StopCcnResult::GeneralError,
                Some((ErrorCode::BadValue, "bad control connection parameters")),
            ),
        };
        self.stop(now, rc, outbox);
        e
    }

    /// LNS: the SCCRQ that created this tunnel.
    fn on_sccrq(
        &mut self,
        now: Instant,
        msg: &ControlMessage,
        outbox: &mut Outbox,
    ) -> Result<(), Error> {
        if let Err(e) = self.take_peer_parameters(msg) {
            return Err(self.refuse_tunnel(now, e, outbox));
        }
        let response = match Self::answer_challenge(MessageType::Sccrp, msg, outbox) {
            Ok(r) => r,
            Err(e) => return Err(self.refuse_tunnel(now, e, outbox)),
        };
        let mut reply = self.identity(ControlMessage::new(MessageType::Sccrp), outbox);
        let challenge = outbox
            .config
            .secret
            .is_some()
            .then(|| Self::random_challenge(outbox));
        if let Some(c) = challenge {
            reply = reply.with(AvpValue::Challenge(c.to_vec()));
        }
        if let Some(r) = response {
            reply = reply.with(AvpValue::ChallengeResponse(r));
        }
        self.send(SessionId(0), &reply, outbox)?;
        self.state = TunnelState::WaitCtlConn(WaitCtlConn { challenge });
        Ok(())
    }

    /// LNS: SCCCN completes the control connection.
    fn on_scccn(
        &mut self,
        now: Instant,
        challenge: Option<[u8; 16]>,
        msg: &ControlMessage,
        outbox: &mut Outbox,
    ) -> Result<(), Error> {
        if let Err(e) = Self::check_response(MessageType::Scccn, challenge, msg, outbox) {
            return Err(self.refuse_tunnel(now, e, outbox));
        }
        self.up(outbox);
        Ok(())
    }

    /// LAC: SCCRP answers our SCCRQ.
    fn on_sccrp(
        &mut self,
        now: Instant,
        challenge: Option<[u8; 16]>,
        msg: &ControlMessage,
        outbox: &mut Outbox,
    ) -> Result<(), Error> {
        let checked = self
            .take_peer_parameters(msg)
            .and_then(|()| Self::check_response(MessageType::Sccrp, challenge, msg, outbox))
            .and_then(|()| Self::answer_challenge(MessageType::Scccn, msg, outbox));
        let response = match checked {
            Ok(r) => r,
            Err(e) => return Err(self.refuse_tunnel(now, e, outbox)),
        };
        let mut reply = ControlMessage::new(MessageType::Scccn);
        if let Some(r) = response {
            reply = reply.with(AvpValue::ChallengeResponse(r));
        }
        self.send(SessionId(0), &reply, outbox)?;
        self.up(outbox);
        Ok(())
    }

    fn up(&mut self, outbox: &mut Outbox) {
        debug!(peer = ?self.peer, tunnel = ?self.local_id, peer_tunnel = ?self.peer_id, "l2tp tunnel up");
        self.state = TunnelState::Established(Established);
        self.announced = true;
        outbox.stats.tunnels_up += 1;
        outbox.event(Event::TunnelUp {
            peer: self.peer,
            tunnel: self.local_id,
            peer_tunnel: self.peer_id,
        });
    }

    fn on_stop_ccn(&mut self, now: Instant, msg: &ControlMessage, outbox: &mut Outbox) {
        if matches!(self.state, TunnelState::Closing(_) | TunnelState::Dead) {
            return;
        }
        let rc = msg
            .result_code()
            .cloned()
            .unwrap_or_else(|| stop_result(StopCcnResult::ClearConnection, None));
        // Nothing we still had in flight matters now; keep acknowledging for a while.
        self.channel.clear_outgoing();
        self.teardown(TunnelDownReason::StopCcnReceived(rc), outbox);
        self.state = TunnelState::Closing(Closing {
            until: now + outbox.config.stop_linger,
        });
    }

    /// Sends a StopCCN with `rc` and closes everything (a command or an error).
    pub(crate) fn stop(&mut self, now: Instant, rc: ResultCode, outbox: &mut Outbox) {
        if matches!(self.state, TunnelState::Closing(_) | TunnelState::Dead) {
            return;
        }
        let msg = ControlMessage::new(MessageType::StopCcn)
            .with(AvpValue::AssignedTunnelId(self.local_id))
            .with(AvpValue::ResultCode(rc.clone()));
        let sent = self.send(SessionId(0), &msg, outbox).is_ok();
        self.teardown(TunnelDownReason::StopCcnSent(rc), outbox);
        self.state = if sent {
            TunnelState::Closing(Closing { until: now })
        } else {
            TunnelState::Dead
        };
        self.flush(now, outbox);
    }

    /// Drops every session and announces the tunnel's end (no message is sent).
    pub(crate) fn teardown(&mut self, reason: TunnelDownReason, outbox: &mut Outbox) {
        debug!(peer = ?self.peer, tunnel = ?self.local_id, ?reason, "l2tp tunnel down");
        let session_rc = match &reason {
            TunnelDownReason::StopCcnReceived(rc) | TunnelDownReason::StopCcnSent(rc) => rc.clone(),
            TunnelDownReason::Timeout | TunnelDownReason::PeerGone => {
                cdn_result(CdnResult::LostCarrier, None)
            }
        };
        let ids: Vec<SessionId> = self.sessions.keys().copied().collect();
        for id in ids {
            self.remove_session(id, session_rc.clone(), outbox);
        }
        if self.announced {
            self.announced = false;
            outbox.event(Event::TunnelDown {
                peer: self.peer,
                tunnel: self.local_id,
                reason,
            });
        }
    }

    fn remove_session(&mut self, id: SessionId, result: ResultCode, outbox: &mut Outbox) {
        if let Some(s) = self.sessions.remove(&id) {
            outbox.session_total = outbox.session_total.saturating_sub(1);
            if s.announced {
                outbox.event(Event::SessionDown {
                    session: self.session_ref(&s),
                    result,
                });
            }
        }
    }

    fn session_limit_reached(&self, outbox: &Outbox) -> bool {
        self.sessions.len() >= outbox.config.max_sessions_per_tunnel
            || outbox.session_total >= outbox.config.max_sessions
    }

    fn alloc_session_id(&self, outbox: &mut Outbox) -> Option<SessionId> {
        for _ in 0..64 {
            let mut b = [0u8; 2];
            outbox.rng.fill(&mut b);
            let id = SessionId(u16::from_be_bytes(b));
            if id.0 != 0 && !self.sessions.contains_key(&id) {
                return Some(id);
            }
        }
        (1..=u16::MAX)
            .map(SessionId)
            .find(|id| !self.sessions.contains_key(id))
    }

    /// Sends a CDN to a call we keep no state for (or remove now).
    fn refuse_call(
        &mut self,
        session: SessionId,
        msg: &ControlMessage,
        rc: ResultCode,
        outbox: &mut Outbox,
    ) -> Result<(), Error> {
        let (local, peer_session) = match self.sessions.get(&session) {
            Some(s) if session.0 != 0 => (s.local_id, s.peer_id),
            _ => (SessionId(0), msg.assigned_session_id().unwrap_or_default()),
        };
        if local.0 != 0 {
            self.remove_session(local, rc.clone(), outbox);
        }
        self.send_cdn(peer_session, local, rc, outbox)
    }

    fn send_cdn(
        &mut self,
        peer_session: SessionId,
        local: SessionId,
        rc: ResultCode,
        outbox: &mut Outbox,
    ) -> Result<(), Error> {
        let mut msg = ControlMessage::new(MessageType::Cdn).with(AvpValue::ResultCode(rc));
        Self::push_session_id(&mut msg, local, outbox);
        self.send(peer_session, &msg, outbox)
    }

    /// LNS: an incoming call.
    fn on_icrq(&mut self, msg: &ControlMessage, outbox: &mut Outbox) -> Result<(), Error> {
        // Windows puts a Result Code AVP in its ICRQ: it is known and simply ignored.
        let peer_session =
            msg.assigned_session_id()
                .filter(|s| s.0 != 0)
                .ok_or(Error::MissingAvp(
                    MessageType::Icrq,
                    AvpType::AssignedSessionId,
                ))?;
        if !outbox.config.lns {
            let rc = cdn_result(CdnResult::PermanentLackOfResources, None);
            self.send_cdn(peer_session, SessionId(0), rc, outbox)?;
            return Err(Error::RoleDisabled);
        }
        let local = match self.alloc_session_id(outbox) {
            Some(id) if !self.session_limit_reached(outbox) => id,
            _ => {
                let rc = cdn_result(
                    CdnResult::TemporaryLackOfResources,
                    Some((ErrorCode::InsufficientResources, "session limit")),
                );
                self.send_cdn(peer_session, SessionId(0), rc, outbox)?;
                return Err(Error::SessionLimit);
            }
        };
        let mut reply = ControlMessage::new(MessageType::Icrp);
        Self::push_session_id(&mut reply, local, outbox);
        self.send(peer_session, &reply, outbox)?;
        self.sessions
            .insert(local, Session::incoming(local, peer_session));
        outbox.session_total += 1;
        Ok(())
    }

    /// LNS: ICCN completes an incoming call.
    fn on_iccn(
        &mut self,
        session: SessionId,
        msg: &ControlMessage,
        outbox: &mut Outbox,
    ) -> Result<(), Error> {
        let tunnel = self.local_id;
        let s = self
            .sessions
            .get_mut(&session)
            .ok_or(Error::UnknownSession { tunnel, session })?;
        if !matches!(s.state, SessionState::WaitConnect(_)) {
            return Err(Error::UnexpectedMessage(MessageType::Iccn));
        }
        s.establish(msg.sequencing_required());
        let r = self.session_ref_of(session);
        outbox.stats.sessions_up += 1;
        if let Some(r) = r {
            outbox.event(Event::SessionUp(r));
        }
        Ok(())
    }

    fn session_ref_of(&self, id: SessionId) -> Option<SessionRef> {
        self.sessions.get(&id).map(|s| self.session_ref(s))
    }

    /// LAC: ICRP answers our ICRQ; ICCN completes the call.
    fn on_icrp(
        &mut self,
        session: SessionId,
        msg: &ControlMessage,
        outbox: &mut Outbox,
    ) -> Result<(), Error> {
        let tunnel = self.local_id;
        let peer_session =
            msg.assigned_session_id()
                .filter(|s| s.0 != 0)
                .ok_or(Error::MissingAvp(
                    MessageType::Icrp,
                    AvpType::AssignedSessionId,
                ))?;
        let s = self
            .sessions
            .get_mut(&session)
            .ok_or(Error::UnknownSession { tunnel, session })?;
        if !matches!(s.state, SessionState::WaitReply(_)) {
            return Err(Error::UnexpectedMessage(MessageType::Icrp));
        }
        s.peer_id = peer_session;
        s.establish(false);
        let reply = ControlMessage::new(MessageType::Iccn)
            .with(AvpValue::TxConnectSpeed(CONNECT_SPEED))
            .with(AvpValue::FramingType(FRAMING_SYNC));
        self.send(peer_session, &reply, outbox)?;
        outbox.stats.sessions_up += 1;
        if let Some(r) = self.session_ref_of(session) {
            outbox.event(Event::SessionUp(r));
        }
        Ok(())
    }

    /// Either side: the peer ended a call.
    fn on_cdn(
        &mut self,
        session: SessionId,
        msg: &ControlMessage,
        outbox: &mut Outbox,
    ) -> Result<(), Error> {
        let found = if session.0 != 0 && self.sessions.contains_key(&session) {
            Some(session)
        } else {
            // A CDN for a call the peer never learnt our ID of names its own ID.
            let theirs = msg.assigned_session_id();
            self.sessions
                .values()
                .find(|s| Some(s.peer_id) == theirs && s.peer_id.0 != 0)
                .map(|s| s.local_id)
        };
        let Some(id) = found else {
            return Err(Error::UnknownSession {
                tunnel: self.local_id,
                session,
            });
        };
        let rc = msg
            .result_code()
            .cloned()
            .unwrap_or_else(|| cdn_result(CdnResult::GeneralError, None));
        self.remove_session(id, rc, outbox);
        Ok(())
    }

    /// LAC: opens a session (sends ICRQ).
    pub(crate) fn open_session(
        &mut self,
        now: Instant,
        outbox: &mut Outbox,
    ) -> Result<SessionRef, Error> {
        if !self.is_established() {
            return Err(Error::TunnelNotEstablished);
        }
        if self.session_limit_reached(outbox) {
            return Err(Error::SessionLimit);
        }
        let local = self.alloc_session_id(outbox).ok_or(Error::SessionLimit)?;
        self.call_serial = self.call_serial.wrapping_add(1);
        let mut msg = ControlMessage::new(MessageType::Icrq);
        Self::push_session_id(&mut msg, local, outbox);
        let msg = msg
            .with(AvpValue::CallSerialNumber(self.call_serial))
            .with(AvpValue::BearerType(0));
        self.send(SessionId(0), &msg, outbox)?;
        let s = Session::outgoing(local);
        let r = self.session_ref(&s);
        self.sessions.insert(local, s);
        outbox.session_total += 1;
        self.flush(now, outbox);
        Ok(r)
    }

    /// Ends a session with a CDN (administrative).
    pub(crate) fn close_session(
        &mut self,
        now: Instant,
        id: SessionId,
        outbox: &mut Outbox,
    ) -> Result<(), Error> {
        let s = self.sessions.get(&id).ok_or(Error::UnknownSession {
            tunnel: self.local_id,
            session: id,
        })?;
        let peer_session = s.peer_id;
        let rc = cdn_result(CdnResult::Administrative, None);
        self.send_cdn(peer_session, id, rc.clone(), outbox)?;
        self.remove_session(id, rc, outbox);
        self.flush(now, outbox);
        Ok(())
    }
}
