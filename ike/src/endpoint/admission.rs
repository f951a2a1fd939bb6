//! What an unauthenticated peer may make the responder do and hold: expensive work only
//! after cheap proof.
//!
//! **Cookies.** Our responder cookie is derived, as RFC 2408 §2.5.3 allows ("a hash of
//! the IP source and destination address, the UDP ports and a locally generated secret
//! random value"): HMAC-SHA-256 (through the provider's PRF) keyed with a secret from the
//! injected [`SecureRandom`], over the peer's address, port and initiator cookie,
//! truncated to 8 bytes. The secret is replaced every [`COOKIE_SECRET_LIFETIME`] (driven
//! by `now`) and the previous one is still recognised, so a retransmitted first message
//! gets the same cookie even when its state is gone, and rotation breaks no exchange in
//! flight (their state holds the cookie).
//!
//! **First messages cost no Diffie-Hellman** (MM2 is the chosen proposal and vendor
//! IDs), so they are always answered, even under a flood. What they leave (the SA
//! payload, the chosen suite, the peer's vendor flags and our answer) is *unproven*: a
//! spoofed source never sees our cookie. Unproven entries live in a table bounded by
//! [`Limits::first_messages`] and [`Limits::first_messages_bytes`] that drops its
//! oldest entry for a new one, instead of refusing new ones: a spoofed flood cycles the
//! table, and a legitimate client whose round trip is shorter than the table's turnover
//! (8192 entries: 1.6 s at 5000 spoofed messages per second) completes. An exchange is
//! *proven* when its third message comes from the address and port of its first with
//! our cookie; only then does it count against [`Limits::half_open`],
//! [`Limits::half_open_per_source`] and [`Limits::sas_per_source`] (Aggressive Mode
//! exchanges, which cost a Diffie-Hellman at once, count from their first message).
//!
//! **Budget.** Diffie-Hellman operations, signatures and signature checks never run more
//! often than [`Limits::expensive_ops_per_second`] (in units of about 0.1 ms of CPU:
//! [`crate::crypto::DhGroup::cost`], [`signature_cost`]), whatever the source addresses.
//! Unauthenticated work (third and fifth Main Mode messages, Aggressive Mode first
//! messages) gets all but [`Limits::expensive_ops_reserved`]; the reserved part is for
//! established peers (Quick Mode with PFS, and a new Main Mode from an address that has
//! an established ISAKMP SA, as Windows re-authenticates). Work past the budget is dropped
//! unanswered, counted and logged at debug: the peer retransmits.
//!
//! **Logs.** A first message refused for its proposals gives one line with the peer's
//! address and every reason counted; at info at most once per source per
//! [`REFUSAL_LOG_INTERVAL`] and at most [`REFUSAL_LOG_LINES_PER_SECOND`] in all (the
//! sources are tracked in a bounded map), otherwise at debug.
//!
//! **Replies.** A reply to a first message is never larger than the message: our DPD
//! vendor ID is left out when it would make MM2 larger than MM1, and NO-PROPOSAL-CHOSEN
//! is sent only when it is not larger than the refused message.
//!
//! [`SecureRandom`]: wire::random::SecureRandom
//! [`Limits::first_messages`]: crate::Limits::first_messages
//! [`Limits::first_messages_bytes`]: crate::Limits::first_messages_bytes
//! [`Limits::half_open`]: crate::Limits::half_open
//! [`Limits::half_open_per_source`]: crate::Limits::half_open_per_source
//! [`Limits::sas_per_source`]: crate::Limits::sas_per_source
//! [`Limits::expensive_ops_per_second`]: crate::Limits::expensive_ops_per_second
//! [`Limits::expensive_ops_reserved`]: crate::Limits::expensive_ops_reserved

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use subtle::ConstantTimeEq;
use wire::random::SecureRandom;
use zeroize::Zeroizing;

use super::IkeSaId;
use super::sa::{IkeSa, Role, State};
use crate::config::Limits;
use crate::crypto::{CryptoProvider, HashAlg};
use crate::msgs::Cookie;
use crate::proposal::Phase1Auth;

/// How long one cookie secret is used for new cookies (it is recognised for as long
/// again).
pub(super) const COOKIE_SECRET_LIFETIME: Duration = Duration::from_secs(300);

/// One info line per source at most this often for refused first messages.
pub(super) const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// Info lines for refused first messages per second, over all sources.
pub(super) const REFUSAL_LOG_LINES_PER_SECOND: u32 = 10;

/// Sources remembered for the refusal log's rate limit.
const REFUSAL_LOG_SOURCES: usize = 4096;

/// Bytes an unproven entry is charged besides its SA payload and our answer (the SA
/// record and its map entries).
const ENTRY_OVERHEAD: usize = 512;

/// The cost of a signature (`sign`) or a signature check with `auth`'s key kind, in the
/// units of [`crate::Limits::expensive_ops_per_second`] (RSA for a 2048-bit key).
pub(super) fn signature_cost(auth: Phase1Auth, sign: bool) -> u32 {
    match (auth, sign) {
        (Phase1Auth::Psk, _) => 0,
        (Phase1Auth::Rsa, true) => 15,
        (Phase1Auth::Rsa, false) => 1,
        (Phase1Auth::EcdsaP256, true) => 1,
        (Phase1Auth::EcdsaP256, false) => 2,
        (Phase1Auth::EcdsaP384, true) => 3,
        (Phase1Auth::EcdsaP384, false) => 6,
        (Phase1Auth::EcdsaP521, true) => 6,
        (Phase1Auth::EcdsaP521, false) => 12,
    }
}

/// Who pays for expensive work.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Class {
    /// A peer that has not authenticated: all but the reserved part of the budget.
    Unauthenticated,
    /// An established peer (or our own initiator): the whole budget.
    Established,
}

/// Where a responder ISAKMP SA stands, for the limits.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Standing {
    /// First message answered, address not proven: in the cycling table.
    Unproven,
    /// Address proven (or Aggressive Mode), not authenticated.
    HalfOpen,
    /// Authenticated.
    Established,
}

impl Standing {
    /// None for SAs the limits do not count: ours (initiator), dead or orphaned ones.
    fn of(sa: &IkeSa) -> Option<Self> {
        if sa.role != Role::Responder || sa.dead || sa.orphaned {
            return None;
        }
        Some(match sa.state {
            State::RespAwaitKe(_) => Self::Unproven,
            State::Established(_) => Self::Established,
            _ => Self::HalfOpen,
        })
    }
}

/// The counted SAs of one source address (proven ones only).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct SourceCount {
    /// Half-open (proven, or Aggressive Mode) ISAKMP SAs.
    pub(super) half_open: usize,
    /// Established ISAKMP SAs.
    pub(super) established: usize,
}

impl SourceCount {
    /// Every counted ISAKMP SA of the source.
    pub(super) fn sas(self) -> usize {
        self.half_open + self.established
    }
}

struct Entry {
    source: IpAddr,
    standing: Standing,
    /// Bytes charged while unproven.
    bytes: usize,
}

struct Secret {
    key: Zeroizing<[u8; 32]>,
    born: Instant,
}

/// The limits' bookkeeping, the cookie secrets, the budget and the refusal log.
#[derive(Default)]
pub(super) struct Admission {
    entries: HashMap<IkeSaId, Entry>,
    sources: HashMap<IpAddr, SourceCount>,
    half_open: usize,
    /// Unproven SAs, oldest first; entries that have since been proven or forgotten are
    /// skipped when met (and swept when they outnumber the live ones).
    unproven: VecDeque<IkeSaId>,
    unproven_count: usize,
    unproven_bytes: usize,
    current: Option<Secret>,
    previous: Option<Secret>,
    budget_start: Option<Instant>,
    budget_spent: u32,
    refusal_sources: HashMap<IpAddr, Instant>,
    refusal_second: Option<Instant>,
    refusal_lines: u32,
}

impl Admission {
    /// Files `sa` under its current standing (called whenever it goes back into the
    /// endpoint's table).
    pub(super) fn update(&mut self, sa: &IkeSa) {
        let standing = Standing::of(sa);
        let old = self.entries.get(&sa.id).map(|e| e.standing);
        if old == standing {
            return;
        }
        self.remove(sa.id);
        let Some(standing) = standing else {
            return;
        };
        let source = sa.first_path.remote.ip();
        let mut bytes = 0;
        match standing {
            Standing::Unproven => {
                bytes = unproven_bytes(sa);
                self.unproven_count += 1;
                self.unproven_bytes += bytes;
                self.unproven.push_back(sa.id);
            }
            Standing::HalfOpen => {
                self.half_open += 1;
                self.sources.entry(source).or_default().half_open += 1;
            }
            Standing::Established => {
                self.sources.entry(source).or_default().established += 1;
            }
        }
        self.entries.insert(
            sa.id,
            Entry {
                source,
                standing,
                bytes,
            },
        );
    }

    /// Forgets SA `id`.
    pub(super) fn remove(&mut self, id: IkeSaId) {
        let Some(e) = self.entries.remove(&id) else {
            return;
        };
        match e.standing {
            Standing::Unproven => {
                self.unproven_count -= 1;
                self.unproven_bytes -= e.bytes;
                if self.unproven.len() > 2 * self.unproven_count + 64 {
                    let entries = &self.entries;
                    self.unproven.retain(|id| {
                        entries
                            .get(id)
                            .is_some_and(|e| e.standing == Standing::Unproven)
                    });
                }
            }
            Standing::HalfOpen | Standing::Established => {
                if e.standing == Standing::HalfOpen {
                    self.half_open -= 1;
                }
                if let Some(c) = self.sources.get_mut(&e.source) {
                    if e.standing == Standing::HalfOpen {
                        c.half_open -= 1;
                    } else {
                        c.established -= 1;
                    }
                    if c.sas() == 0 {
                        self.sources.remove(&e.source);
                    }
                }
            }
        }
    }

    /// Proven half-open responder SAs (and Aggressive Mode ones), over all sources.
    pub(super) fn half_open(&self) -> usize {
        self.half_open
    }

    /// The counted SAs of `source`.
    pub(super) fn source(&self, source: IpAddr) -> SourceCount {
        self.sources.get(&source).copied().unwrap_or_default()
    }

    /// The oldest unproven SA, when one more entry of `bytes` would not fit the limits:
    /// the caller drops it and asks again.
    pub(super) fn next_eviction(&mut self, limits: &Limits, bytes: usize) -> Option<IkeSaId> {
        let full = |a: &Self| {
            a.unproven_count > 0
                && (a.unproven_count + 1 > limits.first_messages.max(1)
                    || a.unproven_bytes + bytes > limits.first_messages_bytes)
        };
        while full(self) {
            let id = self.unproven.pop_front()?;
            if self
                .entries
                .get(&id)
                .is_some_and(|e| e.standing == Standing::Unproven)
            {
                return Some(id);
            }
        }
        None
    }

    /// Our responder cookie for a first message from `remote` with `icookie`.
    pub(super) fn cookie(
        &mut self,
        now: Instant,
        rng: &mut dyn SecureRandom,
        p: &dyn CryptoProvider,
        remote: SocketAddr,
        icookie: Cookie,
    ) -> Cookie {
        let stale = self
            .current
            .as_ref()
            .is_none_or(|s| now.saturating_duration_since(s.born) >= COOKIE_SECRET_LIFETIME);
        if stale {
            let mut key = Zeroizing::new([0u8; 32]);
            rng.fill(&mut key[..]);
            self.previous = self.current.replace(Secret { key, born: now });
        }
        match &self.current {
            Some(s) => derive(p, &s.key[..], remote, icookie),
            None => Cookie::ZERO,
        }
    }

    /// True when `rcookie` is one we derived for `remote` and `icookie` with the current
    /// or the previous secret (compared in constant time).
    pub(super) fn is_our_cookie(
        &self,
        p: &dyn CryptoProvider,
        remote: SocketAddr,
        icookie: Cookie,
        rcookie: Cookie,
    ) -> bool {
        [&self.current, &self.previous]
            .into_iter()
            .flatten()
            .any(|s| bool::from(derive(p, &s.key[..], remote, icookie).0.ct_eq(&rcookie.0)))
    }

    /// Takes `units` of the budget of the second that `now` is in for work of `class`;
    /// false (nothing taken) when that would pass the class's share.
    pub(super) fn spend(
        &mut self,
        now: Instant,
        limits: &Limits,
        class: Class,
        units: u32,
    ) -> bool {
        self.roll(now);
        let cap = match class {
            Class::Established => limits.expensive_ops_per_second,
            Class::Unauthenticated => limits
                .expensive_ops_per_second
                .saturating_sub(limits.expensive_ops_reserved),
        };
        if self.budget_spent.saturating_add(units) > cap {
            return false;
        }
        self.budget_spent += units;
        true
    }

    /// Takes `units` whatever is left (our own initiator's work, which no peer can make
    /// us do more of than we started).
    pub(super) fn spend_anyway(&mut self, now: Instant, units: u32) {
        self.roll(now);
        self.budget_spent = self.budget_spent.saturating_add(units);
    }

    fn roll(&mut self, now: Instant) {
        if self
            .budget_start
            .is_none_or(|s| now.saturating_duration_since(s) >= Duration::from_secs(1))
        {
            self.budget_start = Some(now);
            self.budget_spent = 0;
        }
    }

    /// Whether a refused first message from `source` may be logged at info (else at
    /// debug): once per source per [`REFUSAL_LOG_INTERVAL`], and
    /// [`REFUSAL_LOG_LINES_PER_SECOND`] in all.
    pub(super) fn refusal_at_info(&mut self, now: Instant, source: IpAddr) -> bool {
        if self
            .refusal_second
            .is_none_or(|s| now.saturating_duration_since(s) >= Duration::from_secs(1))
        {
            self.refusal_second = Some(now);
            self.refusal_lines = 0;
        }
        if self.refusal_lines >= REFUSAL_LOG_LINES_PER_SECOND {
            return false;
        }
        if let Some(last) = self.refusal_sources.get(&source)
            && now.saturating_duration_since(*last) < REFUSAL_LOG_INTERVAL
        {
            return false;
        }
        if self.refusal_sources.len() >= REFUSAL_LOG_SOURCES
            && !self.refusal_sources.contains_key(&source)
        {
            self.refusal_sources
                .retain(|_, t| now.saturating_duration_since(*t) < REFUSAL_LOG_INTERVAL);
            if self.refusal_sources.len() >= REFUSAL_LOG_SOURCES {
                return false;
            }
        }
        self.refusal_sources.insert(source, now);
        self.refusal_lines += 1;
        true
    }
}

/// The bytes an unproven SA holds: its messages (the SA payload, our answer) and the
/// overhead; `held` is the length of the messages.
pub(super) fn entry_bytes(held: usize) -> usize {
    ENTRY_OVERHEAD + held
}

fn unproven_bytes(sa: &IkeSa) -> usize {
    let sai = match &sa.state {
        State::RespAwaitKe(st) => st.sai_b.len(),
        _ => 0,
    };
    entry_bytes(
        sai + sa.last_request.as_ref().map_or(0, Vec::len)
            + sa.last_response.as_ref().map_or(0, Vec::len),
    )
}

/// prf(secret, IP | port | CKY-I), the first 8 bytes (never zero).
fn derive(p: &dyn CryptoProvider, key: &[u8], remote: SocketAddr, icookie: Cookie) -> Cookie {
    let ip = match remote.ip() {
        IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
        IpAddr::V6(a) => a.octets(),
    };
    let mac = p.prf(
        HashAlg::Sha256,
        key,
        &[&ip, &remote.port().to_be_bytes(), &icookie.0],
    );
    let mut c = [0u8; 8];
    for (d, s) in c.iter_mut().zip(mac.as_bytes()) {
        *d = *s;
    }
    if c == [0; 8] {
        c[7] = 1;
    }
    Cookie(c)
}

#[cfg(test)]
#[allow(
    clippy::disallowed_methods,
    reason = "a base instant for the tests' virtual time"
)]
mod tests {
    use super::*;
    use crate::crypto::RUSTCRYPTO;
    use wire::random::DeterministicRandom;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap_or_else(|_| unreachable!())
    }

    #[test]
    fn cookies_are_stable_per_peer_and_recognised_across_one_rotation() {
        let mut a = Admission::default();
        let mut rng = DeterministicRandom::new(1);
        let t = Instant::now();
        let peer = addr("192.0.2.1:500");
        let ic = Cookie([1; 8]);
        let c1 = a.cookie(t, &mut rng, &RUSTCRYPTO, peer, ic);
        assert_eq!(a.cookie(t, &mut rng, &RUSTCRYPTO, peer, ic), c1);
        assert_ne!(
            a.cookie(t, &mut rng, &RUSTCRYPTO, addr("192.0.2.1:501"), ic),
            c1
        );
        assert_ne!(
            a.cookie(t, &mut rng, &RUSTCRYPTO, addr("192.0.2.2:500"), ic),
            c1
        );
        assert_ne!(a.cookie(t, &mut rng, &RUSTCRYPTO, peer, Cookie([2; 8])), c1);
        assert!(a.is_our_cookie(&RUSTCRYPTO, peer, ic, c1));
        assert!(!a.is_our_cookie(&RUSTCRYPTO, peer, Cookie([2; 8]), c1));
        // One rotation: a new cookie, the old one still recognised; two: forgotten.
        let t1 = t + COOKIE_SECRET_LIFETIME;
        let c2 = a.cookie(t1, &mut rng, &RUSTCRYPTO, peer, ic);
        assert_ne!(c2, c1);
        assert!(a.is_our_cookie(&RUSTCRYPTO, peer, ic, c1));
        let t2 = t1 + COOKIE_SECRET_LIFETIME;
        let _ = a.cookie(t2, &mut rng, &RUSTCRYPTO, peer, ic);
        assert!(!a.is_our_cookie(&RUSTCRYPTO, peer, ic, c1));
        assert!(a.is_our_cookie(&RUSTCRYPTO, peer, ic, c2));
    }

    #[test]
    fn the_budget_keeps_a_share_for_established_peers_and_renews_each_second() {
        let limits = Limits {
            expensive_ops_per_second: 10,
            expensive_ops_reserved: 4,
            ..Limits::default()
        };
        let mut a = Admission::default();
        let t = Instant::now();
        assert!(a.spend(t, &limits, Class::Unauthenticated, 6));
        assert!(!a.spend(t, &limits, Class::Unauthenticated, 1));
        assert!(a.spend(t, &limits, Class::Established, 4));
        assert!(!a.spend(t, &limits, Class::Established, 1));
        let later = t + Duration::from_secs(1);
        assert!(a.spend(later, &limits, Class::Unauthenticated, 6));
    }

    #[test]
    fn the_refusal_log_admits_one_line_per_source_and_a_few_per_second() {
        let mut a = Admission::default();
        let t = Instant::now();
        let ip = |i: u32| IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000u32 + i));
        assert!(a.refusal_at_info(t, ip(1)));
        assert!(!a.refusal_at_info(t, ip(1)));
        let admitted = (2..100).filter(|i| a.refusal_at_info(t, ip(*i))).count();
        assert_eq!(admitted as u32, REFUSAL_LOG_LINES_PER_SECOND - 1);
        assert!(!a.refusal_at_info(t + Duration::from_secs(2), ip(1)));
        assert!(a.refusal_at_info(t + REFUSAL_LOG_INTERVAL, ip(1)));
        // A flood of sources cannot grow the map past its bound.
        for i in 0..20_000 {
            let _ = a.refusal_at_info(t + Duration::from_secs(u64::from(i)), ip(1000 + i));
        }
        assert!(a.refusal_sources.len() <= REFUSAL_LOG_SOURCES);
    }
}
