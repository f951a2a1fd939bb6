//! The option-negotiation automaton of RFC 1661 §4, written once and shared by LCP, IPCP
//! and IPv6CP.
//!
//! [`transition`] is the state transition table of §4.1 as one `match`: given a state and
//! an event it returns the next state and the actions, nothing else. `Fsm` runs it: it
//! keeps the restart timer and counters (§4.6), numbers and sends Configure-Request,
//! Terminate-Request/-Ack and Code-Reject packets, and asks a [`Negotiator`] (the
//! protocol-specific part) what to request and how to answer the peer's options. The
//! layer actions (tlu, tld, tls, tlf) and ser are returned to the caller, which knows what
//! the layer above needs.

mod table;

use std::time::{Duration, Instant};

use wire::{DecodeError, Writer};

pub use table::{Actions, FsmEvent, State, Transition, render_dot, render_table, transition};

use crate::msgs::cp::{Code, CpPacket, OptionIter};
use crate::msgs::frame::Protocol;
use crate::outbox::{MAX_CP_LEN, Outbox};

/// The timer and counter settings of §4.6.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsmConfig {
    /// The restart timer (default 3 s).
    pub restart: Duration,
    /// Max-Configure (default 10).
    pub max_configure: u8,
    /// Max-Terminate (default 2).
    pub max_terminate: u8,
    /// Max-Failure: Configure-Naks sent without an Ack before Naks turn into Rejects
    /// (default 5).
    pub max_failure: u8,
}

impl Default for FsmConfig {
    fn default() -> Self {
        Self {
            restart: Duration::from_secs(3),
            max_configure: 10,
            max_terminate: 2,
            max_failure: 5,
        }
    }
}

/// How the negotiator answers a Configure-Request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Every option is acceptable: Configure-Ack with the options as received.
    Ack,
    /// Some values should change: Configure-Nak with the options written.
    Nak,
    /// Some options are not recognised or not acceptable: Configure-Reject with them.
    Reject,
}

/// The protocol-specific half of a control protocol: which options to ask for and how to
/// judge the peer's. LCP, IPCP and IPv6CP implement it.
pub trait Negotiator {
    /// Called on This-Layer-Started and before the first request: forget what was
    /// negotiated, go back to the configured wishes.
    fn reset(&mut self);

    /// Writes the options of our next Configure-Request.
    fn write_request(&mut self, w: &mut Writer<'_>);

    /// Judges the peer's Configure-Request (`options` already validated). For
    /// [`Verdict::Ack`] nothing need be written (the options are echoed); for Nak and
    /// Reject, write the options to send back. With `reject_naks` (Max-Failure reached)
    /// the negotiator must reject instead of Nak.
    fn check_request(
        &mut self,
        options: &[u8],
        reject_naks: bool,
        reply: &mut Writer<'_>,
    ) -> Verdict;

    /// The peer acknowledged our request (the options are the ones we sent).
    fn on_ack(&mut self, options: &[u8]);

    /// The peer Nak'd some options (validated); adjust the next request.
    fn on_nak(&mut self, options: &[u8]);

    /// The peer rejected some options (validated); stop asking for them.
    fn on_reject(&mut self, options: &[u8]);
}

/// Runs [`transition`] for one control protocol.
#[derive(Debug)]
pub(crate) struct Fsm {
    protocol: Protocol,
    cfg: FsmConfig,
    state: State,
    restart_count: u8,
    timer: Option<Instant>,
    next_id: u8,
    /// Identifier and options of our last Configure-Request.
    req_id: u8,
    request: Vec<u8>,
    /// A reply to our last request was already processed (duplicates are ignored).
    seen_reply: bool,
    /// Configure-Naks sent since the last Configure-Ack.
    failures: u8,
    /// The reply to the last Configure-Request received (code, id, options).
    reply_code: Code,
    reply_id: u8,
    reply: Vec<u8>,
    /// Identifier of the last Terminate-Request received.
    rx_id: u8,
    /// The packet that triggered RUC, for the Code-Reject.
    rejected: Vec<u8>,
}

impl Fsm {
    /// A new automaton in the Initial state.
    pub(crate) fn new(protocol: Protocol, cfg: FsmConfig) -> Self {
        Self {
            protocol,
            cfg,
            state: State::Initial,
            restart_count: 0,
            timer: None,
            next_id: 1,
            req_id: 0,
            request: Vec::new(),
            seen_reply: true,
            failures: 0,
            reply_code: Code::ConfigureAck,
            reply_id: 0,
            reply: Vec::new(),
            rx_id: 0,
            rejected: Vec::new(),
        }
    }

    /// The current state.
    pub(crate) fn state(&self) -> State {
        self.state
    }

    /// When the restart timer fires, if it runs.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.timer
    }

    /// Feeds an event that carries no packet (Up, Down, Open, Close, RXJ±, RXR) and returns
    /// the actions taken; the caller performs tlu/tld/tls/tlf/ser.
    pub(crate) fn event<N: Negotiator + ?Sized>(
        &mut self,
        now: Instant,
        event: FsmEvent,
        neg: &mut N,
        out: &mut Outbox,
    ) -> Actions {
        let t = transition(self.state, event);
        if !t.legal {
            return Actions::NONE;
        }
        if t.actions.contains(Actions::IRC) {
            self.restart_count = if t.actions.contains(Actions::STR) {
                self.cfg.max_terminate
            } else {
                self.cfg.max_configure
            };
        }
        if t.actions.contains(Actions::ZRC) {
            self.restart_count = 0;
            self.timer = Some(now + self.cfg.restart);
        }
        if t.actions.contains(Actions::TLS) {
            neg.reset();
            self.failures = 0;
        }
        if t.actions.contains(Actions::SCR) {
            self.send_request(now, neg, out);
        }
        if t.actions.contains(Actions::SCA) || t.actions.contains(Actions::SCN) {
            let (code, id) = (self.reply_code, self.reply_id);
            let reply = &self.reply;
            out.push_cp(self.protocol, code, id, |w| w.bytes(reply));
        }
        if t.actions.contains(Actions::STR) {
            self.restart_count = self.restart_count.saturating_sub(1);
            self.timer = Some(now + self.cfg.restart);
            let id = self.take_id();
            out.push_cp(self.protocol, Code::TerminateRequest, id, |_| {});
        }
        if t.actions.contains(Actions::STA) {
            out.push_cp(self.protocol, Code::TerminateAck, self.rx_id, |_| {});
        }
        if t.actions.contains(Actions::SCJ) {
            let id = self.take_id();
            let rejected = &self.rejected;
            out.push_cp(self.protocol, Code::CodeReject, id, |w| w.bytes(rejected));
        }
        self.state = t.next;
        if !self.state.timer_runs() {
            self.timer = None;
        }
        t.actions
    }

    /// Fires the restart timer if it is due.
    pub(crate) fn handle_timeout<N: Negotiator + ?Sized>(
        &mut self,
        now: Instant,
        neg: &mut N,
        out: &mut Outbox,
    ) -> Actions {
        match self.timer {
            Some(t) if t <= now => {
                self.timer = None;
                let ev = if self.restart_count > 0 {
                    FsmEvent::TimeoutPlus
                } else {
                    FsmEvent::TimeoutMinus
                };
                self.event(now, ev, neg, out)
            }
            _ => Actions::NONE,
        }
    }

    /// Handles a received control packet with one of the codes 1..=7, or any code the
    /// caller did not handle itself (which becomes RUC and a Code-Reject). `raw` is the
    /// packet as received, for a Code-Reject.
    ///
    /// Returns `Err` for a malformed option list (the packet is then discarded).
    pub(crate) fn receive<N: Negotiator + ?Sized>(
        &mut self,
        now: Instant,
        packet: &CpPacket<'_>,
        raw: &[u8],
        neg: &mut N,
        out: &mut Outbox,
    ) -> Result<Actions, DecodeError> {
        let event = match packet.code {
            Code::ConfigureRequest => {
                OptionIter::validate(packet.data)?;
                if matches!(
                    self.state,
                    State::Initial
                        | State::Starting
                        | State::Closed
                        | State::Closing
                        | State::Stopping
                ) {
                    // No reply will be sent: do not let the negotiator record anything.
                    self.rx_id = packet.id;
                    FsmEvent::RcrPlus
                } else {
                    self.judge_request(packet, neg)
                }
            }
            Code::ConfigureAck => {
                if packet.id != self.req_id || self.seen_reply || packet.data != self.request {
                    return Ok(Actions::NONE);
                }
                self.seen_reply = true;
                if matches!(self.state, State::ReqSent | State::AckSent) {
                    neg.on_ack(packet.data);
                }
                FsmEvent::Rca
            }
            Code::ConfigureNak | Code::ConfigureReject => {
                if packet.id != self.req_id || self.seen_reply {
                    return Ok(Actions::NONE);
                }
                OptionIter::validate(packet.data)?;
                self.seen_reply = true;
                if matches!(
                    self.state,
                    State::ReqSent | State::AckRcvd | State::AckSent | State::Opened
                ) {
                    if packet.code == Code::ConfigureNak {
                        neg.on_nak(packet.data);
                    } else {
                        neg.on_reject(packet.data);
                    }
                }
                FsmEvent::Rcn
            }
            Code::TerminateRequest => {
                self.rx_id = packet.id;
                FsmEvent::Rtr
            }
            Code::TerminateAck => FsmEvent::Rta,
            Code::CodeReject => match packet.data.first().map(|&c| Code::from(c)) {
                // Rejecting a code this automaton needs is catastrophic (§5.6).
                Some(
                    Code::ConfigureRequest
                    | Code::ConfigureAck
                    | Code::ConfigureNak
                    | Code::ConfigureReject
                    | Code::TerminateRequest
                    | Code::TerminateAck
                    | Code::CodeReject,
                ) => FsmEvent::RxjMinus,
                _ => FsmEvent::RxjPlus,
            },
            _ => {
                self.rejected.clear();
                let keep = raw.len().min(MAX_CP_LEN - 4);
                self.rejected
                    .extend_from_slice(raw.get(..keep).unwrap_or_default());
                FsmEvent::Ruc
            }
        };
        Ok(self.event(now, event, neg, out))
    }

    fn judge_request<N: Negotiator + ?Sized>(
        &mut self,
        packet: &CpPacket<'_>,
        neg: &mut N,
    ) -> FsmEvent {
        self.reply.clear();
        self.reply_id = packet.id;
        self.rx_id = packet.id;
        let reject_naks = self.failures >= self.cfg.max_failure;
        let verdict =
            neg.check_request(packet.data, reject_naks, &mut Writer::new(&mut self.reply));
        match verdict {
            Verdict::Ack => {
                self.reply.clear();
                self.reply.extend_from_slice(packet.data);
                self.reply_code = Code::ConfigureAck;
                self.failures = 0;
                FsmEvent::RcrPlus
            }
            Verdict::Nak => {
                self.reply_code = Code::ConfigureNak;
                self.failures = self.failures.saturating_add(1);
                FsmEvent::RcrMinus
            }
            Verdict::Reject => {
                self.reply_code = Code::ConfigureReject;
                FsmEvent::RcrMinus
            }
        }
    }

    fn send_request<N: Negotiator + ?Sized>(
        &mut self,
        now: Instant,
        neg: &mut N,
        out: &mut Outbox,
    ) {
        self.restart_count = self.restart_count.saturating_sub(1);
        self.timer = Some(now + self.cfg.restart);
        self.req_id = self.take_id();
        self.seen_reply = false;
        self.request.clear();
        neg.write_request(&mut Writer::new(&mut self.request));
        let request = &self.request;
        out.push_cp(self.protocol, Code::ConfigureRequest, self.req_id, |w| {
            w.bytes(request);
        });
    }

    /// A fresh identifier for a request we originate (Echo-Request uses its own).
    fn take_id(&mut self) -> u8 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msgs::cp::write_option;

    /// Asks for option 1 = 0x0578; acks any request without option 0x99, rejects that.
    struct Toy;

    impl Negotiator for Toy {
        fn reset(&mut self) {}
        fn write_request(&mut self, w: &mut Writer<'_>) {
            write_option(w, 1, &[0x05, 0x78]);
        }
        fn check_request(&mut self, options: &[u8], _: bool, reply: &mut Writer<'_>) -> Verdict {
            let mut v = Verdict::Ack;
            for o in OptionIter::new(options).flatten() {
                if o.kind == 0x99 {
                    o.encode(reply);
                    v = Verdict::Reject;
                }
            }
            v
        }
        fn on_ack(&mut self, _: &[u8]) {}
        fn on_nak(&mut self, _: &[u8]) {}
        fn on_reject(&mut self, _: &[u8]) {}
    }

    fn sent(out: &mut Outbox) -> Vec<(u8, u8, Vec<u8>)> {
        std::iter::from_fn(|| out.pop())
            .map(|f| {
                let p = CpPacket::decode(&f[4..]).unwrap();
                (p.code.value(), p.id, p.data.to_vec())
            })
            .collect()
    }

    fn started() -> (Fsm, Outbox, Instant) {
        #[allow(
            clippy::disallowed_methods,
            reason = "a base instant for a virtual clock"
        )]
        let now = Instant::now();
        let (mut f, mut out) = (
            Fsm::new(Protocol::Lcp, FsmConfig::default()),
            Outbox::default(),
        );
        assert_eq!(
            f.event(now, FsmEvent::Open, &mut Toy, &mut out),
            Actions::TLS
        );
        assert_eq!(
            f.event(now, FsmEvent::Up, &mut Toy, &mut out),
            Actions::IRC | Actions::SCR
        );
        assert_eq!(sent(&mut out), vec![(1, 1, vec![1, 4, 5, 0x78])]);
        (f, out, now)
    }

    fn pkt(code: Code, id: u8, data: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        CpPacket::encode(code, id, data, &mut v);
        v
    }

    #[test]
    fn duplicate_and_mismatched_acks_are_ignored() {
        let (mut f, mut out, now) = started();
        let wrong = pkt(Code::ConfigureAck, 1, &[1, 4, 5, 0x79]);
        let p = CpPacket::decode(&wrong).unwrap();
        assert_eq!(
            f.receive(now, &p, &wrong, &mut Toy, &mut out).unwrap(),
            Actions::NONE
        );
        let stale = pkt(Code::ConfigureAck, 9, &[1, 4, 5, 0x78]);
        let p = CpPacket::decode(&stale).unwrap();
        assert_eq!(
            f.receive(now, &p, &stale, &mut Toy, &mut out).unwrap(),
            Actions::NONE
        );
        assert_eq!(f.state(), State::ReqSent);
        let ack = pkt(Code::ConfigureAck, 1, &[1, 4, 5, 0x78]);
        let p = CpPacket::decode(&ack).unwrap();
        assert_eq!(
            f.receive(now, &p, &ack, &mut Toy, &mut out).unwrap(),
            Actions::IRC
        );
        assert_eq!(f.state(), State::AckRcvd);
        // The same Ack again (duplicated by the network) must not look like a crossed
        // connection (which would restart negotiation).
        assert_eq!(
            f.receive(now, &p, &ack, &mut Toy, &mut out).unwrap(),
            Actions::NONE
        );
        assert_eq!(f.state(), State::AckRcvd);
        // The peer's request: Ack, layer up.
        let req = pkt(Code::ConfigureRequest, 4, &[7, 2]);
        let p = CpPacket::decode(&req).unwrap();
        assert_eq!(
            f.receive(now, &p, &req, &mut Toy, &mut out).unwrap(),
            Actions::SCA | Actions::TLU
        );
        assert_eq!(sent(&mut out), vec![(2, 4, vec![7, 2])]);
        // A rejected option comes back alone in a Configure-Reject.
        let req = pkt(Code::ConfigureRequest, 5, &[7, 2, 0x99, 3, 1]);
        let p = CpPacket::decode(&req).unwrap();
        f.receive(now, &p, &req, &mut Toy, &mut out).unwrap();
        assert_eq!(f.state(), State::ReqSent);
        let s = sent(&mut out);
        assert_eq!(s[0].0, 1, "renegotiation: our request again");
        assert_eq!((s[1].0, s[1].1, s[1].2.clone()), (4, 5, vec![0x99, 3, 1]));
    }

    #[test]
    fn restart_counters() {
        let (mut f, mut out, _) = started();
        // Max-Configure requests in all, then TO- (tlf), Stopped.
        let mut requests = 1;
        let mut last = Actions::NONE;
        while let Some(t) = f.poll_timeout() {
            last = f.handle_timeout(t, &mut Toy, &mut out);
            requests += sent(&mut out).iter().filter(|s| s.0 == 1).count();
        }
        assert_eq!(requests, 10);
        assert_eq!(last, Actions::TLF);
        assert_eq!(f.state(), State::Stopped);

        // From Opened, Close sends Max-Terminate Terminate-Requests, then tlf.
        let (mut f, mut out, mut now) = started();
        let ack = pkt(Code::ConfigureAck, 1, &[1, 4, 5, 0x78]);
        f.receive(
            now,
            &CpPacket::decode(&ack).unwrap(),
            &ack,
            &mut Toy,
            &mut out,
        )
        .unwrap();
        let req = pkt(Code::ConfigureRequest, 1, &[]);
        f.receive(
            now,
            &CpPacket::decode(&req).unwrap(),
            &req,
            &mut Toy,
            &mut out,
        )
        .unwrap();
        assert_eq!(f.state(), State::Opened);
        sent(&mut out);
        let a = f.event(now, FsmEvent::Close, &mut Toy, &mut out);
        assert_eq!(a, Actions::TLD | Actions::IRC | Actions::STR);
        let mut terms = sent(&mut out).len();
        while let Some(t) = f.poll_timeout() {
            now = t;
            last = f.handle_timeout(now, &mut Toy, &mut out);
            terms += sent(&mut out).len();
        }
        assert_eq!(terms, 2, "Max-Terminate");
        assert_eq!((last, f.state()), (Actions::TLF, State::Closed));
    }
}
