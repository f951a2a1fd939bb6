//! The reliable control channel of one tunnel (RFC 2661 §5.8): Ns/Nr, the peer's
//! receive window, retransmission with exponential backoff, ZLB acknowledgements and a
//! bounded hold queue for out-of-order messages.
//!
//! Messages are stored encoded; their Nr field is patched with the current Nr at every
//! (re)transmission, so each carries the latest acknowledgement.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::ids::{SessionId, TunnelId};
use crate::msgs::Header;

/// Offset of the Nr field in a control header (flags, length, tunnel, session, Ns).
const NR_OFFSET: usize = 10;

/// `a` comes before `b` in sequence-number space (RFC 2661 §5.8: modulo 2^16, half the
/// space ahead).
pub(crate) fn seq_lt(a: u16, b: u16) -> bool {
    a != b && b.wrapping_sub(a) < 0x8000
}

/// What to do with a received control message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rx {
    /// A ZLB: only its Nr mattered.
    Zlb,
    /// The next message in order: process it.
    Deliver,
    /// Ahead of a gap but within our window: hold it.
    Hold,
    /// Already delivered: acknowledge again and drop.
    Duplicate,
    /// Too far ahead: drop.
    OutOfWindow,
}

/// The retransmission limit was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RetriesExhausted;

#[derive(Debug)]
struct Outgoing {
    ns: u16,
    bytes: Vec<u8>,
    sent: bool,
}

#[derive(Debug, Clone, Copy)]
struct Timing {
    initial: Duration,
    cap: Duration,
    max_retransmits: u32,
    ack_delay: Duration,
}

/// One tunnel's control channel; `M` is what a held out-of-order message is kept as.
#[derive(Debug)]
pub(crate) struct Channel<M> {
    /// The peer's Tunnel ID, written in ZLBs (0 until known).
    pub(crate) peer_tunnel: TunnelId,
    next_ns: u16,
    next_nr: u16,
    peer_window: u16,
    our_window: u16,
    queue: VecDeque<Outgoing>,
    held: BTreeMap<u16, M>,
    retries: u32,
    rto: Duration,
    retransmit_at: Option<Instant>,
    ack_at: Option<Instant>,
    timing: Timing,
}

/// The most messages we keep in flight, whatever window the peer announces.
const MAX_PEER_WINDOW: u16 = 64;

impl<M> Channel<M> {
    pub(crate) fn new(config: &Config) -> Self {
        Self {
            peer_tunnel: TunnelId(0),
            next_ns: 0,
            next_nr: 0,
            // RFC 2661 §5.8: 4 when the peer does not say.
            peer_window: 4,
            our_window: config.receive_window.max(1),
            queue: VecDeque::new(),
            held: BTreeMap::new(),
            retries: 0,
            rto: config.retransmit_initial,
            retransmit_at: None,
            ack_at: None,
            timing: Timing {
                initial: config.retransmit_initial,
                cap: config.retransmit_cap.max(config.retransmit_initial),
                max_retransmits: config.max_retransmits,
                ack_delay: config.ack_delay,
            },
        }
    }

    /// Sets the peer's receive window from its Receive Window Size AVP.
    pub(crate) fn set_peer_window(&mut self, window: u16) {
        self.peer_window = window.clamp(1, MAX_PEER_WINDOW);
    }

    /// Takes the next Ns for a new message (to be encoded, then [`Self::push`]ed).
    pub(crate) fn alloc_ns(&mut self) -> u16 {
        let ns = self.next_ns;
        self.next_ns = self.next_ns.wrapping_add(1);
        ns
    }

    /// Queues an encoded message with Ns from [`Self::alloc_ns`]. [`Self::flush`] sends
    /// it when the peer's window allows.
    pub(crate) fn push(&mut self, ns: u16, bytes: Vec<u8>) {
        self.queue.push_back(Outgoing {
            ns,
            bytes,
            sent: false,
        });
    }

    fn patch_nr(bytes: &mut [u8], nr: u16) {
        if let Some(dst) = bytes.get_mut(NR_OFFSET..NR_OFFSET + 2) {
            dst.copy_from_slice(&nr.to_be_bytes());
        }
    }

    /// Sends queued messages the window allows; returns how many were sent.
    pub(crate) fn flush(&mut self, now: Instant, mut out: impl FnMut(Vec<u8>)) -> usize {
        let nr = self.next_nr;
        let mut sent = 0;
        for m in self.queue.iter_mut().take(usize::from(self.peer_window)) {
            if !m.sent {
                Self::patch_nr(&mut m.bytes, nr);
                out(m.bytes.clone());
                m.sent = true;
                sent += 1;
            }
        }
        if sent > 0 {
            self.ack_at = None;
            if self.retransmit_at.is_none() {
                self.retransmit_at = Some(now + self.rto);
            }
        }
        sent
    }

    fn process_nr(&mut self, now: Instant, nr: u16) {
        // An Nr beyond what we have sent acknowledges nothing real.
        if seq_lt(self.next_ns, nr) {
            return;
        }
        let mut acked = false;
        while let Some(front) = self.queue.front() {
            if front.sent && seq_lt(front.ns, nr) {
                self.queue.pop_front();
                acked = true;
            } else {
                break;
            }
        }
        if acked {
            self.retries = 0;
            self.rto = self.timing.initial;
            self.retransmit_at = self
                .queue
                .front()
                .filter(|m| m.sent)
                .map(|_| now + self.rto);
        }
    }

    /// Classifies a received message (after processing its Nr).
    pub(crate) fn on_receive(&mut self, now: Instant, ns: u16, nr: u16, zlb: bool) -> Rx {
        self.process_nr(now, nr);
        if zlb {
            return Rx::Zlb;
        }
        if ns == self.next_nr {
            self.next_nr = self.next_nr.wrapping_add(1);
            self.schedule_ack(now);
            Rx::Deliver
        } else if seq_lt(ns, self.next_nr) {
            // Our acknowledgement was probably lost: send one now.
            self.ack_at = Some(now);
            Rx::Duplicate
        } else if ns.wrapping_sub(self.next_nr) < self.our_window {
            Rx::Hold
        } else {
            Rx::OutOfWindow
        }
    }

    /// Holds an out-of-order message (bounded by our window); false if it was already
    /// held or there is no room.
    pub(crate) fn hold(&mut self, ns: u16, msg: M) -> bool {
        if self.held.len() >= usize::from(self.our_window) || self.held.contains_key(&ns) {
            return false;
        }
        self.held.insert(ns, msg);
        true
    }

    /// The next held message, if the gap before it has closed.
    pub(crate) fn take_held(&mut self, now: Instant) -> Option<M> {
        let m = self.held.remove(&self.next_nr)?;
        self.next_nr = self.next_nr.wrapping_add(1);
        self.schedule_ack(now);
        Some(m)
    }

    fn schedule_ack(&mut self, now: Instant) {
        if self.ack_at.is_none() {
            self.ack_at = Some(now + self.timing.ack_delay);
        }
    }

    /// A ZLB acknowledgement carrying the current Ns and Nr.
    pub(crate) fn zlb(&mut self) -> Vec<u8> {
        self.ack_at = None;
        let header = Header::control(self.peer_tunnel, SessionId(0), self.next_ns, self.next_nr);
        let mut out = Vec::with_capacity(12);
        // A 12-byte header always fits the Length field.
        let _ = header.encode(&mut out, 0);
        out
    }

    /// Runs expired timers: retransmissions (`retransmit` gets each copy) and the delayed
    /// acknowledgement (`zlb` is called when one is due). Fails when the retransmission
    /// limit is reached.
    pub(crate) fn on_timeout(
        &mut self,
        now: Instant,
        mut retransmit: impl FnMut(Vec<u8>),
    ) -> Result<bool, RetriesExhausted> {
        if self.retransmit_at.is_some_and(|t| t <= now) {
            if self.retries >= self.timing.max_retransmits {
                self.retransmit_at = None;
                return Err(RetriesExhausted);
            }
            self.retries += 1;
            self.rto = (self.rto * 2).min(self.timing.cap);
            let nr = self.next_nr;
            for m in self.queue.iter_mut().filter(|m| m.sent) {
                Self::patch_nr(&mut m.bytes, nr);
                retransmit(m.bytes.clone());
            }
            self.ack_at = None;
            self.retransmit_at = Some(now + self.rto);
        }
        Ok(self.ack_at.is_some_and(|t| t <= now))
    }

    /// The earliest timer.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        match (self.retransmit_at, self.ack_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Nothing sent is waiting for an acknowledgement and nothing is queued.
    pub(crate) fn is_idle(&self) -> bool {
        self.queue.is_empty()
    }

    /// Forgets every outgoing message (the tunnel is going away).
    pub(crate) fn clear_outgoing(&mut self) {
        self.queue.clear();
        self.held.clear();
        self.retransmit_at = None;
    }

    /// Messages queued or in flight, and held (for leak checks).
    pub(crate) fn len(&self) -> usize {
        self.queue.len() + self.held.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channel() -> Channel<u16> {
        Channel::new(&Config::default())
    }

    fn msg(ch: &mut Channel<u16>) -> u16 {
        let ns = ch.alloc_ns();
        let mut bytes = Vec::new();
        Header::control(TunnelId(9), SessionId(0), ns, 0)
            .encode(&mut bytes, 0)
            .unwrap();
        ch.push(ns, bytes);
        ns
    }

    #[test]
    fn sequence_comparison_wraps() {
        assert!(seq_lt(1, 2));
        assert!(!seq_lt(2, 2));
        assert!(seq_lt(0xffff, 0));
        assert!(!seq_lt(0, 0xffff));
    }

    #[test]
    fn window_limits_what_is_in_flight_and_acks_open_it() {
        let t0 = crate::test_clock();
        let mut ch = channel();
        ch.set_peer_window(2);
        for _ in 0..4 {
            msg(&mut ch);
        }
        let mut sent = Vec::new();
        assert_eq!(ch.flush(t0, |b| sent.push(b)), 2);
        // Nr=1 acknowledges Ns 0 and opens one slot.
        assert_eq!(ch.on_receive(t0, 0, 1, true), Rx::Zlb);
        assert_eq!(ch.flush(t0, |b| sent.push(b)), 1);
        assert_eq!(sent.len(), 3);
        assert_eq!(&sent[2][8..10], &2u16.to_be_bytes());
        // An Nr beyond what was sent is ignored.
        ch.on_receive(t0, 0, 9, true);
        assert_eq!(ch.len(), 3);
    }

    #[test]
    fn backoff_doubles_to_the_cap_then_gives_up() {
        let t0 = crate::test_clock();
        let mut ch = channel();
        msg(&mut ch);
        ch.flush(t0, |_| {});
        let mut at = ch.deadline().unwrap();
        let mut gaps = Vec::new();
        let mut last = t0;
        while ch.on_timeout(at, |_| {}).is_ok() {
            gaps.push((at - last).as_secs());
            last = at;
            at = ch.deadline().unwrap();
        }
        assert_eq!(gaps, [1, 2, 4, 8, 8]);
        assert_eq!((at - t0).as_secs(), 31);
    }

    #[test]
    fn sequence_numbers_wrap_past_65535() {
        let t0 = crate::test_clock();
        let (mut a, mut b) = (channel(), channel());
        for i in 0..70_000u32 {
            let ns = msg(&mut a);
            let mut sent = Vec::new();
            assert_eq!(a.flush(t0, |m| sent.push(m)), 1);
            let (h, _) = Header::decode(&sent[0]).unwrap();
            let seq = h.sequence.unwrap();
            assert_eq!(seq.ns, ns);
            assert_eq!(
                b.on_receive(t0, seq.ns, seq.nr, false),
                Rx::Deliver,
                "message {i}"
            );
            let zlb = b.zlb();
            let (h, _) = Header::decode(&zlb).unwrap();
            let ack = h.sequence.unwrap();
            assert_eq!(a.on_receive(t0, ack.ns, ack.nr, true), Rx::Zlb);
            assert!(a.is_idle(), "message {i} not acknowledged");
        }
        assert_eq!(a.deadline(), None);
    }

    #[test]
    fn out_of_order_messages_are_held_and_duplicates_flagged() {
        let t0 = crate::test_clock();
        let mut ch = channel();
        assert_eq!(ch.on_receive(t0, 1, 0, false), Rx::Hold);
        assert!(ch.hold(1, 1));
        assert!(!ch.hold(1, 1));
        assert_eq!(ch.on_receive(t0, 0, 0, false), Rx::Deliver);
        assert_eq!(ch.take_held(t0), Some(1));
        assert_eq!(ch.take_held(t0), None);
        assert_eq!(ch.on_receive(t0, 1, 0, false), Rx::Duplicate);
        assert_eq!(ch.on_receive(t0, 2 + 16, 0, false), Rx::OutOfWindow);
        // The duplicate asks for an immediate acknowledgement carrying Nr = 2.
        assert_eq!(ch.deadline(), Some(t0));
        let zlb = ch.zlb();
        assert_eq!(&zlb[10..12], &2u16.to_be_bytes());
    }
}
