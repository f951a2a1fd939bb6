//! One PPP session over one L2TP session: the phases of RFC 1661 §3.2 (Establish →
//! Authenticate → Network → Terminate), the three automata, authentication, keepalive,
//! and the data path.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use wire::random::SecureRandom;
use wire::{BufError, PacketBuf};

use crate::auth::peer::{AuthPeer, PeerOutput};
use crate::auth::server::{Authenticator, ServerOutput};
use crate::auth::{AuthDecision, Credentials};
use crate::ccp::Ccp;
use crate::config::{ChallengePool, Config, Entropy, SessionParams};
use crate::error::{DownReason, Error, PeerIpError};
use crate::fsm::{Actions, Fsm, FsmEvent, State};
use crate::ipcp::{Ipcp, Ipv6cp};
use crate::lcp::{Lcp, MAX_LOOPBACK, Role};
use crate::msgs::cp::{Code, CpPacket};
use crate::msgs::frame::{self, Frame, Protocol};
use crate::outbox::{MAX_CP_LEN, Outbox};

mod event;

pub use event::{Event, IpIn, IpVersion, Phase, Stats};

/// Distinct challenges a client answers at most.
const CLIENT_CHALLENGES: u8 = 4;

/// Extra server challenges for authentication restarted by LCP renegotiation.
const SPARE_CHALLENGES: u8 = 3;

/// LCP renegotiations (a Configure-Request in the Opened state) tolerated per session.
const MAX_RENEGOTIATIONS: u8 = 5;

enum Auth {
    None,
    Server(Authenticator),
    Peer(AuthPeer),
}

/// A PPP session. See the crate documentation for the calling pattern.
pub struct Session {
    config: Arc<Config>,
    role: Role,
    phase: Phase,
    lcp_fsm: Fsm,
    lcp: Lcp,
    ipcp_fsm: Fsm,
    ipcp: Ipcp,
    ipv6cp_fsm: Fsm,
    ipv6cp: Ipv6cp,
    /// CCP, run only by a client configured with `ccp_mppe` (Windows' imitation).
    ccp_fsm: Fsm,
    ccp: Ccp,
    /// The Identification packets were sent (once per session).
    identified: bool,
    auth: Auth,
    challenges: Option<ChallengePool>,
    chap_id: u8,
    creds: Option<Credentials>,
    user: Option<String>,
    authenticated: bool,
    renegotiations: u8,
    auth_deadline: Option<Instant>,
    echo_timer: Option<Instant>,
    echo_outstanding: u8,
    echo_disabled: bool,
    echo_id: u8,
    reject_id: u8,
    out: Outbox,
    events: VecDeque<Event>,
    down_reason: Option<DownReason>,
    down_sent: bool,
    stats: Stats,
}

impl core::fmt::Debug for Session {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Session")
            .field("role", &self.role)
            .field("phase", &self.phase)
            .field("lcp", &self.lcp_fsm.state())
            .field("ipcp", &self.ipcp_fsm.state())
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A server (authenticator) session; the lower layer (the L2TP session) is up, so
    /// LCP starts at once: the first Configure-Request is ready in `poll_transmit`.
    pub fn new_server(
        config: Arc<Config>,
        params: SessionParams,
        now: Instant,
        rng: &mut dyn SecureRandom,
    ) -> Self {
        let ipcp = Ipcp::server(&params);
        Self::new(config, Role::Server, ipcp, None, now, rng)
    }

    /// A client (authenticating peer) session; it learns its address from IPCP.
    pub fn new_client(
        config: Arc<Config>,
        creds: Credentials,
        now: Instant,
        rng: &mut dyn SecureRandom,
    ) -> Self {
        let ipcp = Ipcp::client(config.request_dns, config.request_nbns);
        Self::new(config, Role::Client, ipcp, Some(creds), now, rng)
    }

    fn new(
        config: Arc<Config>,
        role: Role,
        ipcp: Ipcp,
        creds: Option<Credentials>,
        now: Instant,
        rng: &mut dyn SecureRandom,
    ) -> Self {
        // A server needs one challenge per attempt; a client one peer challenge per
        // distinct challenge it answers (a few, however the server is configured).
        let challenges = match role {
            Role::Server => config
                .auth_max_attempts
                .max(1)
                .saturating_add(SPARE_CHALLENGES),
            Role::Client => config.auth_max_attempts.max(CLIENT_CHALLENGES),
        };
        let entropy = Entropy::draw(rng, usize::from(challenges));
        let lcp = Lcp::new(
            role,
            config.mru,
            config.auth_methods.clone(),
            entropy.magics,
            match role {
                Role::Client => (config.request_pfc_acfc, config.request_callback),
                Role::Server => (false, None),
            },
        );
        let mut s = Self {
            role,
            phase: Phase::Establish,
            lcp_fsm: Fsm::new(Protocol::Lcp, config.fsm),
            lcp,
            ipcp_fsm: Fsm::new(Protocol::Ipcp, config.fsm),
            ipcp,
            ipv6cp_fsm: Fsm::new(Protocol::Ipv6cp, config.fsm),
            ipv6cp: Ipv6cp::new(entropy.ifids),
            ccp_fsm: Fsm::new(Protocol::Ccp, config.fsm),
            ccp: Ccp::new(match role {
                Role::Client => config.ccp_mppe,
                Role::Server => None,
            }),
            identified: false,
            auth: Auth::None,
            challenges: Some(entropy.challenges),
            chap_id: entropy.chap_id,
            creds,
            user: None,
            authenticated: false,
            renegotiations: 0,
            auth_deadline: None,
            echo_timer: None,
            echo_outstanding: 0,
            echo_disabled: false,
            echo_id: 0,
            reject_id: 0,
            out: Outbox::default(),
            events: VecDeque::new(),
            down_reason: None,
            down_sent: false,
            stats: Stats::default(),
            config,
        };
        let a = s.lcp_fsm.event(now, FsmEvent::Open, &mut s.lcp, &mut s.out);
        s.lcp_actions(now, a);
        let a = s.lcp_fsm.event(now, FsmEvent::Up, &mut s.lcp, &mut s.out);
        s.lcp_actions(now, a);
        s
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The authenticated user (server) once known.
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        Stats {
            queue_drops: self.out.dropped,
            ..self.stats
        }
    }

    /// True once the session is dead and everything it had to send was taken.
    pub fn is_finished(&self) -> bool {
        self.phase == Phase::Dead && self.out.is_empty()
    }

    /// The state of the LCP automaton (for status pages and tests).
    pub fn lcp_state(&self) -> State {
        self.lcp_fsm.state()
    }

    /// Changes the address the peer gets through IPCP (server only), for a gateway that
    /// learns it only once the user is known: a user with a static address. Call it on
    /// [`Event::Authenticated`], before handing the session its next frame; IPCP then
    /// Naks any other address and [`Event::Up`] reports this one.
    ///
    /// Refused once the peer's address has been acknowledged (IPCP in Ack-Sent or
    /// Opened): the peer already uses the old address, and changing it now would
    /// route its packets under an address it does not have.
    pub fn set_peer_ip(&mut self, peer_ip: std::net::Ipv4Addr) -> Result<(), PeerIpError> {
        if self.role != Role::Server {
            return Err(PeerIpError::NotServer);
        }
        if matches!(self.ipcp_fsm.state(), State::AckSent | State::Opened) {
            return Err(PeerIpError::AlreadyAcked);
        }
        self.ipcp.peer_ip = peer_ip;
        Ok(())
    }

    /// The state of the IPCP automaton.
    pub fn ipcp_state(&self) -> State {
        self.ipcp_fsm.state()
    }

    /// Handles one PPP frame from L2TP. IPv4/IPv6 packets come back borrowed once their
    /// control protocol is open; everything else is consumed here (replies queue for
    /// `poll_transmit`). A malformed frame is counted and returned as an error.
    pub fn handle_frame<'a>(
        &mut self,
        now: Instant,
        frame: &'a [u8],
    ) -> Result<Option<IpIn<'a>>, Error> {
        self.stats.frames_in += 1;
        if self.phase == Phase::Dead {
            self.stats.discarded += 1;
            return Ok(None);
        }
        let f = Frame::decode(frame).map_err(|e| {
            self.stats.malformed += 1;
            tracing::debug!(error = %e, "ppp: malformed frame");
            Error::Frame(e)
        })?;
        let r = self.dispatch(now, f);
        if let Err(e) = &r {
            self.stats.malformed += 1;
            tracing::debug!(error = %e, "ppp: malformed packet");
        }
        r
    }

    fn dispatch<'a>(&mut self, now: Instant, f: Frame<'a>) -> Result<Option<IpIn<'a>>, Error> {
        let lcp_open = self.lcp_fsm.state() == State::Opened;
        match f.protocol {
            Protocol::Ipv4 if self.ipcp_fsm.state() == State::Opened => {
                self.stats.ip_in += 1;
                self.stats.ip_bytes_in += f.info.len() as u64;
                return Ok(Some(IpIn::V4(f.info)));
            }
            Protocol::Ipv6 if self.config.ipv6 && self.ipv6cp_fsm.state() == State::Opened => {
                self.stats.ip_in += 1;
                self.stats.ip_bytes_in += f.info.len() as u64;
                return Ok(Some(IpIn::V6(f.info)));
            }
            Protocol::Ipv4 | Protocol::Ipv6 => self.stats.discarded += 1,
            Protocol::Lcp => self.handle_lcp(now, f.info)?,
            Protocol::Pap | Protocol::Chap if lcp_open => {
                self.handle_auth(now, f.protocol, f.info)?
            }
            Protocol::Ipcp if self.phase == Phase::Network => {
                let pkt = decode(Protocol::Ipcp, f.info)?;
                let a = self
                    .ipcp_fsm
                    .receive(now, &pkt, raw(&pkt, f.info), &mut self.ipcp, &mut self.out)
                    .map_err(|error| Error::Packet {
                        protocol: Protocol::Ipcp,
                        error,
                    })?;
                self.ipcp_actions(now, a);
            }
            Protocol::Ipv6cp if self.config.ipv6 && self.phase == Phase::Network => {
                let pkt = decode(Protocol::Ipv6cp, f.info)?;
                let a = self
                    .ipv6cp_fsm
                    .receive(
                        now,
                        &pkt,
                        raw(&pkt, f.info),
                        &mut self.ipv6cp,
                        &mut self.out,
                    )
                    .map_err(|error| Error::Packet {
                        protocol: Protocol::Ipv6cp,
                        error,
                    })?;
                self.ipv6cp_actions(a);
            }
            Protocol::Ccp if self.runs_ccp() && self.phase == Phase::Network => {
                self.handle_ccp(now, f.info)?
            }
            Protocol::Cbcp if lcp_open && self.role == Role::Client && self.lcp.callback_acked => {
                self.handle_cbcp(f.info)?
            }
            // Network-layer control before the Network phase is discarded (RFC 1661
            // §3.4); once we are there it gets a Protocol-Reject if we do not run it.
            Protocol::Ipcp | Protocol::Pap | Protocol::Chap => self.stats.discarded += 1,
            Protocol::Ccp if self.runs_ccp() => self.stats.discarded += 1,
            Protocol::Ipv6cp if self.config.ipv6 => self.stats.discarded += 1,
            other if lcp_open => self.protocol_reject(other, f.info),
            _ => self.stats.discarded += 1,
        }
        Ok(None)
    }

    /// CCP is negotiated (rather than Protocol-Rejected): a client with `ccp_mppe`.
    fn runs_ccp(&self) -> bool {
        self.role == Role::Client && self.config.ccp_mppe.is_some()
    }

    fn handle_ccp(&mut self, now: Instant, info: &[u8]) -> Result<(), Error> {
        let pkt = decode(Protocol::Ccp, info)?;
        let refusal = matches!(pkt.code, Code::ConfigureNak | Code::ConfigureReject);
        if refusal && matches!(self.ccp_fsm.state(), State::ReqSent | State::AckSent) {
            // MPPE refused: nothing else to ask for, so CCP closes (Terminate-Request)
            // instead of asking again without options, as Windows does.
            self.ccp.refused = true;
            let _ = self
                .ccp_fsm
                .event(now, FsmEvent::Close, &mut self.ccp, &mut self.out);
            return Ok(());
        }
        let _ = self
            .ccp_fsm
            .receive(now, &pkt, raw(&pkt, info), &mut self.ccp, &mut self.out)
            .map_err(|error| Error::Packet {
                protocol: Protocol::Ccp,
                error,
            })?;
        Ok(())
    }

    /// The Callback Control Protocol after the server acked our Callback option (a
    /// Windows RRAS server would): every Callback-Request is answered with a
    /// Callback-Response holding "no callback" (type 1), the answer of a Windows client
    /// whose user has no callback configured. Other codes are ignored.
    fn handle_cbcp(&mut self, info: &[u8]) -> Result<(), Error> {
        /// CBCP codes (draft-ietf-pppext-callback-cp-02 §2).
        const CALLBACK_REQUEST: u8 = 1;
        const CALLBACK_RESPONSE: u8 = 2;
        let pkt = decode(Protocol::Cbcp, info)?;
        if pkt.code.value() == CALLBACK_REQUEST {
            self.out
                .push_cp(Protocol::Cbcp, Code::from(CALLBACK_RESPONSE), pkt.id, |w| {
                    w.u8(1);
                    w.u8(2);
                });
        } else {
            self.stats.discarded += 1;
        }
        Ok(())
    }

    /// Client: the configured LCP Identification packets (RFC 1570 §2.1: magic number,
    /// then the message), once, when LCP first opens, as Windows sends them.
    fn send_identification(&mut self) {
        if self.identified || self.role != Role::Client {
            return;
        }
        self.identified = true;
        let magic = self.lcp.echo_magic();
        for msg in &self.config.identification {
            let msg = msg.get(..MAX_CP_LEN - 8).unwrap_or(msg);
            self.reject_id = self.reject_id.wrapping_add(1);
            self.out
                .push_cp(Protocol::Lcp, Code::Identification, self.reject_id, |w| {
                    w.u32(magic);
                    w.bytes(msg);
                });
        }
    }

    fn handle_lcp(&mut self, now: Instant, info: &[u8]) -> Result<(), Error> {
        let pkt = decode(Protocol::Lcp, info)?;
        let opened = self.lcp_fsm.state() == State::Opened;
        match pkt.code {
            Code::EchoRequest | Code::EchoReply | Code::DiscardRequest => {
                if pkt.data.len() < 4 {
                    return Err(Error::Packet {
                        protocol: Protocol::Lcp,
                        error: wire::DecodeError::Truncated {
                            what: "lcp magic-number",
                            needed: 4,
                            available: pkt.data.len(),
                        },
                    });
                }
                let magic =
                    u32::from_be_bytes([pkt.data[0], pkt.data[1], pkt.data[2], pkt.data[3]]);
                if self.lcp.magic_acked && magic == self.lcp.magic {
                    // Our own packet came back (§5.8): the link is looped; ignore it.
                    self.stats.discarded += 1;
                    return Ok(());
                }
                let a = self
                    .lcp_fsm
                    .event(now, FsmEvent::Rxr, &mut self.lcp, &mut self.out);
                if a.contains(Actions::SER) && pkt.code == Code::EchoRequest {
                    let ours = self.lcp.echo_magic();
                    let rest = pkt.data.get(4..).unwrap_or_default();
                    let rest = rest.get(..MAX_CP_LEN - 8).unwrap_or(rest);
                    self.out
                        .push_cp(Protocol::Lcp, Code::EchoReply, pkt.id, |w| {
                            w.u32(ours);
                            w.bytes(rest);
                        });
                }
                if opened && pkt.code == Code::EchoReply {
                    self.echo_outstanding = 0;
                }
            }
            Code::Identification | Code::TimeRemaining => self.stats.discarded += 1,
            Code::ProtocolReject => {
                if !opened {
                    self.stats.discarded += 1;
                    return Ok(());
                }
                let Some(&[hi, lo]) = pkt.data.get(..2).and_then(|s| <&[u8; 2]>::try_from(s).ok())
                else {
                    return Err(Error::Packet {
                        protocol: Protocol::Lcp,
                        error: wire::DecodeError::Truncated {
                            what: "rejected-protocol",
                            needed: 2,
                            available: pkt.data.len(),
                        },
                    });
                };
                self.protocol_rejected(now, Protocol::from(u16::from_be_bytes([hi, lo])));
            }
            _ => {
                match pkt.code {
                    Code::TerminateRequest => self.set_reason(DownReason::PeerTerminated),
                    Code::CodeReject if pkt.data.first() == Some(&Code::EchoRequest.value()) => {
                        // The peer does not do echo: keepalive off rather than a false
                        // "dead peer".
                        self.echo_disabled = true;
                        self.echo_timer = None;
                    }
                    Code::CodeReject => self.set_reason(DownReason::Rejected(Protocol::Lcp)),
                    _ => {}
                }
                let a = self
                    .lcp_fsm
                    .receive(now, &pkt, raw(&pkt, info), &mut self.lcp, &mut self.out)
                    .map_err(|error| Error::Packet {
                        protocol: Protocol::Lcp,
                        error,
                    })?;
                if !a.contains(Actions::TLD) && !a.contains(Actions::TLF) {
                    // Only a Terminate/Code-Reject that ends the link keeps its reason.
                    if !self.down_sent {
                        self.down_reason = None;
                    }
                }
                self.lcp_actions(now, a);
                if self.lcp.loopbacks >= MAX_LOOPBACK {
                    self.close_with(now, DownReason::Loopback);
                } else if self.lcp.auth_refused && self.role == Role::Server {
                    self.close_with(now, DownReason::NoCommonAuth);
                }
            }
        }
        Ok(())
    }

    fn protocol_rejected(&mut self, now: Instant, protocol: Protocol) {
        match protocol {
            Protocol::Lcp | Protocol::Pap | Protocol::Chap => {
                self.close_with(now, DownReason::Rejected(protocol));
            }
            Protocol::Ipcp => {
                self.set_reason(DownReason::Rejected(Protocol::Ipcp));
                let a = self
                    .ipcp_fsm
                    .event(now, FsmEvent::RxjMinus, &mut self.ipcp, &mut self.out);
                self.ipcp_actions(now, a);
            }
            Protocol::Ipv6cp => {
                let a =
                    self.ipv6cp_fsm
                        .event(now, FsmEvent::RxjMinus, &mut self.ipv6cp, &mut self.out);
                self.ipv6cp_actions(a);
            }
            // The server does not run CCP (ours, SoftEther): CCP stops, IPCP goes on.
            Protocol::Ccp => {
                let _ = self
                    .ccp_fsm
                    .event(now, FsmEvent::RxjMinus, &mut self.ccp, &mut self.out);
            }
            _ => {
                let _ = self
                    .lcp_fsm
                    .event(now, FsmEvent::RxjPlus, &mut self.lcp, &mut self.out);
            }
        }
    }

    fn protocol_reject(&mut self, protocol: Protocol, info: &[u8]) {
        self.stats.protocol_rejects += 1;
        self.reject_id = self.reject_id.wrapping_add(1);
        let room = usize::from(self.lcp.peer_mru).clamp(64, MAX_CP_LEN) - 6;
        let info = info.get(..room).unwrap_or(info);
        self.out
            .push_cp(Protocol::Lcp, Code::ProtocolReject, self.reject_id, |w| {
                w.u16(protocol.value());
                w.bytes(info);
            });
    }

    fn handle_auth(&mut self, now: Instant, protocol: Protocol, info: &[u8]) -> Result<(), Error> {
        let pkt = decode(protocol, info)?;
        match &mut self.auth {
            Auth::Server(a) if a.method().protocol() == protocol => {
                let o = a.receive(&pkt, &mut self.out);
                self.server_output(now, o);
            }
            Auth::Peer(p) => {
                let o = p.receive(now, protocol, &pkt, &mut self.out);
                self.peer_output(now, o);
            }
            _ => {
                // Authentication with a protocol that was not negotiated.
                if self.phase == Phase::Network || self.phase == Phase::Authenticate {
                    self.protocol_reject(protocol, info);
                }
            }
        }
        Ok(())
    }

    fn server_output(&mut self, now: Instant, o: ServerOutput) {
        match o {
            ServerOutput::None => {}
            ServerOutput::Request { user, data } => {
                self.events.push_back(Event::AuthRequest { user, data });
            }
            ServerOutput::Success { user } => {
                self.authenticated = true;
                self.user = Some(user.clone());
                self.events.push_back(Event::Authenticated { user });
                self.enter_network(now);
            }
            ServerOutput::Failed => self.close_with(now, DownReason::AuthFailed),
        }
    }

    fn peer_output(&mut self, now: Instant, o: PeerOutput) {
        match o {
            PeerOutput::None => {}
            PeerOutput::Success => {
                self.authenticated = true;
                if self.phase == Phase::Authenticate {
                    self.enter_network(now);
                }
            }
            PeerOutput::Failed => self.close_with(now, DownReason::AuthFailed),
        }
    }

    /// The caller's answer to the last [`Event::AuthRequest`]. Ignored if none is
    /// pending (a late answer for a session that has moved on).
    pub fn auth_result(&mut self, now: Instant, decision: AuthDecision) {
        if let Auth::Server(a) = &mut self.auth {
            let o = a.decide(now, decision, &mut self.out);
            self.server_output(now, o);
        }
    }

    /// Closes the link: LCP Terminate-Request, then `Event::Down { reason: Closed }`.
    pub fn close(&mut self, now: Instant) {
        self.close_with(now, DownReason::Closed);
    }

    fn close_with(&mut self, now: Instant, reason: DownReason) {
        self.set_reason(reason);
        let a = self
            .lcp_fsm
            .event(now, FsmEvent::Close, &mut self.lcp, &mut self.out);
        self.lcp_actions(now, a);
        // Closing from a state without tld (still negotiating) still ends the session.
        self.emit_down(reason);
        if self.phase != Phase::Dead {
            self.phase = Phase::Terminate;
        }
    }

    fn set_reason(&mut self, reason: DownReason) {
        if !self.down_sent && self.down_reason.is_none() {
            self.down_reason = Some(reason);
        }
    }

    fn emit_down(&mut self, default: DownReason) {
        if self.down_sent {
            return;
        }
        self.down_sent = true;
        let reason = self.down_reason.take().unwrap_or(default);
        self.events.push_back(Event::Down { reason });
    }

    fn lcp_actions(&mut self, now: Instant, a: Actions) {
        if a.contains(Actions::TLD) {
            self.echo_timer = None;
            self.auth_deadline = None;
            let _ = self
                .ipcp_fsm
                .event(now, FsmEvent::Down, &mut self.ipcp, &mut self.out);
            let _ = self
                .ipv6cp_fsm
                .event(now, FsmEvent::Down, &mut self.ipv6cp, &mut self.out);
            let _ = self
                .ccp_fsm
                .event(now, FsmEvent::Down, &mut self.ccp, &mut self.out);
            if matches!(self.lcp_fsm.state(), State::Closing | State::Stopping) {
                self.auth = Auth::None;
                self.phase = Phase::Terminate;
                self.emit_down(DownReason::PeerTerminated);
            } else {
                // The peer renegotiates LCP (a Configure-Request, or a crossed Ack, in the
                // Opened state): back to Establish. Authentication is kept: finished, it is
                // not repeated (same L2TP session, same peer); unfinished, it resumes with
                // the same challenge when LCP is open again. The NCPs come up again and a
                // new `Up` follows.
                self.phase = Phase::Establish;
                match &mut self.auth {
                    Auth::Server(s) => s.pause(),
                    Auth::Peer(p) => p.pause(),
                    Auth::None => {}
                }
                self.renegotiations = self.renegotiations.saturating_add(1);
                if self.renegotiations > MAX_RENEGOTIATIONS {
                    self.close_with(now, DownReason::NegotiationFailed(Protocol::Lcp));
                }
            }
        }
        if a.contains(Actions::TLU) {
            self.link_up(now);
        }
        if a.contains(Actions::TLF) {
            self.phase = Phase::Dead;
            self.echo_timer = None;
            self.auth_deadline = None;
            self.emit_down(DownReason::NegotiationFailed(Protocol::Lcp));
        }
    }

    fn link_up(&mut self, now: Instant) {
        if self.down_sent {
            return;
        }
        if let Some(i) = self.config.echo_interval.filter(|_| !self.echo_disabled) {
            self.echo_timer = Some(now + i);
            self.echo_outstanding = 0;
        }
        self.send_identification();
        if self.authenticated {
            self.enter_network(now);
            return;
        }
        let fsm = self.config.fsm;
        let previous = core::mem::replace(&mut self.auth, Auth::None);
        match self.role {
            Role::Server => match self.lcp.our_auth {
                Some(method) => {
                    self.phase = Phase::Authenticate;
                    self.auth_deadline = Some(now + self.config.auth_timeout);
                    let pool = match previous {
                        Auth::Server(mut a) if a.method() == method => {
                            a.resume(now, &mut self.out);
                            self.auth = Auth::Server(a);
                            return;
                        }
                        Auth::Server(a) => a.into_pool(),
                        _ => self.challenges.take().unwrap_or_default(),
                    };
                    let mut a = Authenticator::new(
                        method,
                        &self.config.name,
                        self.config.auth_max_attempts,
                        pool,
                        self.chap_id,
                        fsm.restart,
                        fsm.max_configure,
                    );
                    let o = a.start(now, &mut self.out);
                    self.auth = Auth::Server(a);
                    self.server_output(now, o);
                }
                None if self.config.auth_methods.is_empty() => self.enter_network(now),
                None => self.close_with(now, DownReason::NoCommonAuth),
            },
            Role::Client => match (self.lcp.peer_auth, self.creds.clone()) {
                (Some(method), Some(creds)) => {
                    self.phase = Phase::Authenticate;
                    self.auth_deadline = Some(now + self.config.auth_timeout);
                    let pool = match previous {
                        Auth::Peer(mut p) if p.method() == method => {
                            p.resume(now, &mut self.out);
                            self.auth = Auth::Peer(p);
                            return;
                        }
                        Auth::Peer(p) => p.into_pool(),
                        _ => self.challenges.take().unwrap_or_default(),
                    };
                    let mut p = AuthPeer::new(method, creds, pool, fsm.restart, fsm.max_configure);
                    p.start(now, &mut self.out);
                    self.auth = Auth::Peer(p);
                }
                _ => self.enter_network(now),
            },
        }
    }

    fn enter_network(&mut self, now: Instant) {
        self.phase = Phase::Network;
        self.auth_deadline = None;
        // A client sends IPv6CP, CCP, then IPCP: the order Windows sends them in. (The
        // server keeps IPCP first.)
        let client_v6_first = self.config.ipv6 && self.role == Role::Client;
        if client_v6_first {
            self.open_ipv6cp(now);
        }
        if self.runs_ccp() {
            let _ = self
                .ccp_fsm
                .event(now, FsmEvent::Open, &mut self.ccp, &mut self.out);
            let _ = self
                .ccp_fsm
                .event(now, FsmEvent::Up, &mut self.ccp, &mut self.out);
        }
        let a = self
            .ipcp_fsm
            .event(now, FsmEvent::Open, &mut self.ipcp, &mut self.out);
        self.ipcp_actions(now, a);
        let a = self
            .ipcp_fsm
            .event(now, FsmEvent::Up, &mut self.ipcp, &mut self.out);
        self.ipcp_actions(now, a);
        if self.config.ipv6 && !client_v6_first {
            self.open_ipv6cp(now);
        }
    }

    fn open_ipv6cp(&mut self, now: Instant) {
        let a = self
            .ipv6cp_fsm
            .event(now, FsmEvent::Open, &mut self.ipv6cp, &mut self.out);
        self.ipv6cp_actions(a);
        let a = self
            .ipv6cp_fsm
            .event(now, FsmEvent::Up, &mut self.ipv6cp, &mut self.out);
        self.ipv6cp_actions(a);
    }

    fn ipcp_actions(&mut self, now: Instant, a: Actions) {
        if a.contains(Actions::TLU) {
            let s = &self.ipcp.servers;
            self.events.push_back(Event::Up {
                local_ip: self.ipcp.local_ip,
                peer_ip: self.ipcp.peer_ip,
                dns: [s[0], s[1]],
                nbns: [s[2], s[3]],
                mru: self.lcp.peer_mru,
            });
        }
        if self.phase != Phase::Network {
            return;
        }
        // Without IPv4 the link has no purpose (pppd closes it the same way). A tld that
        // leaves IPCP renegotiating (a new Configure-Request while Opened) is not an end:
        // a new `Up` follows.
        let terminated = a.contains(Actions::TLD)
            && matches!(self.ipcp_fsm.state(), State::Closing | State::Stopping);
        if terminated {
            self.close_with(now, DownReason::NetworkDown);
        } else if a.contains(Actions::TLF) {
            self.close_with(now, DownReason::NegotiationFailed(Protocol::Ipcp));
        }
    }

    fn ipv6cp_actions(&mut self, a: Actions) {
        if a.contains(Actions::TLU) {
            self.events.push_back(Event::Ipv6Up {
                local_id: self.ipv6cp.local_id,
                peer_id: self.ipv6cp.peer_id,
            });
        }
    }

    /// Runs the timers that are due (restart timers, challenge retransmission, the
    /// authentication deadline, LCP echo).
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.phase == Phase::Dead {
            return;
        }
        let was_opened = self.lcp_fsm.state() == State::Opened;
        let a = self
            .lcp_fsm
            .handle_timeout(now, &mut self.lcp, &mut self.out);
        if !was_opened && a.contains(Actions::TLF) {
            self.set_reason(DownReason::NegotiationFailed(Protocol::Lcp));
        }
        self.lcp_actions(now, a);
        let a = self
            .ipcp_fsm
            .handle_timeout(now, &mut self.ipcp, &mut self.out);
        self.ipcp_actions(now, a);
        let a = self
            .ipv6cp_fsm
            .handle_timeout(now, &mut self.ipv6cp, &mut self.out);
        self.ipv6cp_actions(a);
        // CCP giving up (no answer) leaves the link up, like a Protocol-Reject.
        let _ = self
            .ccp_fsm
            .handle_timeout(now, &mut self.ccp, &mut self.out);
        match &mut self.auth {
            Auth::Server(s) => {
                let o = s.handle_timeout(now, &mut self.out);
                if matches!(o, ServerOutput::Failed) {
                    self.close_with(now, DownReason::AuthTimeout);
                } else {
                    self.server_output(now, o);
                }
            }
            Auth::Peer(p) => {
                let o = p.handle_timeout(now, &mut self.out);
                if o == PeerOutput::Failed {
                    self.close_with(now, DownReason::AuthTimeout);
                }
            }
            Auth::None => {}
        }
        if self.auth_deadline.is_some_and(|d| d <= now) {
            self.auth_deadline = None;
            if self.phase == Phase::Authenticate {
                self.close_with(now, DownReason::AuthTimeout);
            }
        }
        if let (Some(t), Some(interval)) = (self.echo_timer, self.config.echo_interval)
            && t <= now
            && self.lcp_fsm.state() == State::Opened
        {
            if self.echo_outstanding >= self.config.echo_failures {
                self.echo_timer = None;
                self.close_with(now, DownReason::EchoTimeout);
            } else {
                self.echo_outstanding += 1;
                self.echo_id = self.echo_id.wrapping_add(1);
                self.stats.echo_requests += 1;
                let magic = self.lcp.echo_magic();
                self.out
                    .push_cp(Protocol::Lcp, Code::EchoRequest, self.echo_id, |w| {
                        w.u32(magic)
                    });
                self.echo_timer = Some(now + interval);
            }
        }
    }

    /// The earliest time `handle_timeout` has something to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.phase == Phase::Dead {
            return None;
        }
        let auth = match &self.auth {
            Auth::Server(s) => s.poll_timeout(),
            Auth::Peer(p) => p.poll_timeout(),
            Auth::None => None,
        };
        [
            self.lcp_fsm.poll_timeout(),
            self.ipcp_fsm.poll_timeout(),
            self.ipv6cp_fsm.poll_timeout(),
            self.ccp_fsm.poll_timeout(),
            auth,
            self.auth_deadline,
            self.echo_timer,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Appends the next frame to send (address/control, protocol field, packet) to
    /// `buf` and returns its length; the gateway hands it to L2TP.
    #[must_use]
    pub fn poll_transmit(&mut self, buf: &mut Vec<u8>) -> Option<usize> {
        let f = self.out.pop()?;
        self.stats.frames_out += 1;
        buf.extend_from_slice(&f);
        Some(f.len())
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Prepends the PPP header for an outbound IP packet in `buf`'s headroom (at most 4
    /// bytes): `FF 03` unless the peer accepted ACFC, and a one-byte protocol field if it
    /// accepted PFC. No allocation.
    pub fn encap_ip(&self, version: IpVersion, buf: &mut PacketBuf) -> Result<(), BufError> {
        let protocol = match version {
            IpVersion::V4 => Protocol::Ipv4,
            IpVersion::V6 => Protocol::Ipv6,
        };
        let mut hdr = [0u8; 4];
        let n = frame::fill_header(protocol, self.lcp.peer_acfc, self.lcp.peer_pfc, &mut hdr);
        buf.prepend(n)?
            .copy_from_slice(hdr.get(..n).unwrap_or_default());
        Ok(())
    }

    /// True when IPv4 packets may be sent (IPCP is open).
    pub fn ipv4_open(&self) -> bool {
        self.ipcp_fsm.state() == State::Opened
    }
}

fn decode(protocol: Protocol, info: &[u8]) -> Result<CpPacket<'_>, Error> {
    CpPacket::decode(info).map_err(|error| Error::Packet { protocol, error })
}

/// The packet as received without padding (for a Code-Reject).
fn raw<'a>(pkt: &CpPacket<'_>, info: &'a [u8]) -> &'a [u8] {
    info.get(..pkt.data.len() + 4).unwrap_or(info)
}
