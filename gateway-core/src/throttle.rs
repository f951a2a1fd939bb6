//! Authentication failures per user and per source, with backoff.
//!
//! Every PPP authentication failure counts against the user it named (when that user
//! exists: nobody's account needs protecting from guesses at names that are not there)
//! and against the source, the client's proven IKE address. After
//! [`AuthLimits::failures_per_user`] (or [`AuthLimits::failures_per_source`]) failures
//! within [`AuthLimits::window`], that user (or source) is in backoff for
//! [`AuthLimits::backoff`], doubled for each further backoff that follows within a
//! window of the last one, up to [`MAX_BACKOFF_DOUBLINGS`] doublings. An attempt during
//! backoff is refused without looking at the password: it counts nothing and costs
//! nothing, and a right password gets the same refusal as a wrong one, so the refusal
//! tells a guesser nothing.
//!
//! Both maps are bounded ([`AuthLimits::tracked`] entries each): a full map first drops
//! entries whose window and backoff are over, then the one whose last failure is
//! oldest, keys in backoff last. Sources are proven IKE paths and users are names from the users file, so a
//! spoofing peer cannot make up keys; the bound holds anyway.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// A backoff is doubled at most this often (64 times the first one).
pub const MAX_BACKOFF_DOUBLINGS: u32 = 6;

/// The authentication failure limits (`[limits]` in the configuration file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthLimits {
    /// Failures one user may have within `window` before backoff (0: no limit).
    pub failures_per_user: u32,
    /// Failures from one source address within `window` before backoff (0: no limit).
    pub failures_per_source: u32,
    /// The window failures are counted in.
    pub window: Duration,
    /// The first backoff; each further one within `window` of the last doubles.
    pub backoff: Duration,
    /// Users and sources tracked at most (each).
    pub tracked: usize,
}

impl Default for AuthLimits {
    /// 5 failures per user and 20 per source address within 10 minutes, then a minute's
    /// backoff (doubling up to about an hour); 4096 users and sources tracked.
    fn default() -> Self {
        Self {
            failures_per_user: 5,
            failures_per_source: 20,
            window: Duration::from_secs(600),
            backoff: Duration::from_secs(60),
            tracked: 4096,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    /// Start of the current counting window.
    window_start: Instant,
    /// Failures in it.
    failures: u32,
    /// In backoff until then.
    blocked_until: Option<Instant>,
    /// Backoffs so far (their doubling), forgotten a window after the last one ends.
    backoffs: u32,
    /// The last failure, for eviction.
    last: Instant,
}

/// Failures of one kind of key (user names, source addresses). See the module docs.
#[derive(Debug)]
pub(crate) struct Throttle<K> {
    limit: u32,
    window: Duration,
    backoff: Duration,
    capacity: usize,
    entries: HashMap<K, Entry>,
}

/// What [`Throttle::failed`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failed {
    /// Counted.
    Counted,
    /// Counted, and the key is now in backoff for this long.
    Backoff(Duration),
}

impl<K: Hash + Eq + Clone> Throttle<K> {
    pub(crate) fn new(limit: u32, limits: &AuthLimits) -> Self {
        Self {
            limit,
            window: limits.window,
            backoff: limits.backoff,
            capacity: limits.tracked.max(1),
            entries: HashMap::new(),
        }
    }

    /// Whether `key` is in backoff at `now`.
    pub(crate) fn blocked<Q: Hash + Eq + ?Sized>(&self, now: Instant, key: &Q) -> bool
    where
        K: Borrow<Q>,
    {
        self.entries
            .get(key)
            .and_then(|e| e.blocked_until)
            .is_some_and(|t| now < t)
    }

    /// Counts a failure of `key` (not in backoff: the caller checked).
    pub(crate) fn failed(&mut self, now: Instant, key: K) -> Failed {
        if self.limit == 0 {
            return Failed::Counted;
        }
        if !self.entries.contains_key(&key) {
            self.make_room(now);
        }
        let (window, base) = (self.window, self.backoff);
        let e = self.entries.entry(key).or_insert(Entry {
            window_start: now,
            failures: 0,
            blocked_until: None,
            backoffs: 0,
            last: now,
        });
        if let Some(until) = e.blocked_until {
            // A backoff that ended: counting starts again; the doubling is forgotten
            // a window after it.
            e.blocked_until = None;
            e.window_start = now;
            e.failures = 0;
            if now.saturating_duration_since(until) >= window {
                e.backoffs = 0;
            }
        }
        if now.saturating_duration_since(e.window_start) >= window {
            e.window_start = now;
            e.failures = 0;
            e.backoffs = 0;
        }
        e.failures = e.failures.saturating_add(1);
        e.last = now;
        if e.failures < self.limit {
            return Failed::Counted;
        }
        let d = base.saturating_mul(1 << e.backoffs.min(MAX_BACKOFF_DOUBLINGS));
        e.backoffs = e.backoffs.saturating_add(1);
        e.blocked_until = now.checked_add(d).or(Some(now));
        Failed::Backoff(d)
    }

    /// A success of `key`: its failures are forgotten (not a backoff in force).
    pub(crate) fn succeeded<Q: Hash + Eq + ?Sized>(&mut self, now: Instant, key: &Q)
    where
        K: Borrow<Q>,
    {
        if !self.blocked(now, key) {
            self.entries.remove(key);
        }
    }

    fn expired(&self, now: Instant, e: &Entry) -> bool {
        let window_over = now.saturating_duration_since(e.window_start) >= self.window;
        let blocked = e.blocked_until.is_some_and(|t| now < t);
        window_over && !blocked
    }

    /// Room for one more entry: drops what is over, then the stalest not in backoff
    /// (a backoff in force goes last).
    fn make_room(&mut self, now: Instant) {
        if self.entries.len() < self.capacity {
            return;
        }
        let expired: Vec<K> = self
            .entries
            .iter()
            .filter(|(_, e)| self.expired(now, e))
            .map(|(k, _)| k.clone())
            .collect();
        for k in expired {
            self.entries.remove(&k);
        }
        while self.entries.len() >= self.capacity {
            let Some(k) = self
                .entries
                .iter()
                .min_by_key(|(_, e)| (e.blocked_until.is_some_and(|t| now < t), e.last))
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            self.entries.remove(&k);
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> AuthLimits {
        AuthLimits {
            failures_per_user: 3,
            failures_per_source: 3,
            window: Duration::from_secs(100),
            backoff: Duration::from_secs(10),
            tracked: 4,
        }
    }

    #[test]
    fn backoff_after_the_limit_within_the_window_and_doubling() {
        let mut t = Throttle::new(3, &limits());
        let t0 = crate::server::test_clock();
        let k = "alice".to_owned();
        assert_eq!(t.failed(t0, k.clone()), Failed::Counted);
        assert_eq!(t.failed(t0, k.clone()), Failed::Counted);
        assert!(!t.blocked(t0, &k));
        assert_eq!(
            t.failed(t0, k.clone()),
            Failed::Backoff(Duration::from_secs(10))
        );
        assert!(t.blocked(t0 + Duration::from_secs(9), &k));
        let t1 = t0 + Duration::from_secs(10);
        assert!(!t.blocked(t1, &k));
        // Three more soon after: twice as long.
        for _ in 0..2 {
            assert_eq!(t.failed(t1, k.clone()), Failed::Counted);
        }
        assert_eq!(
            t.failed(t1, k.clone()),
            Failed::Backoff(Duration::from_secs(20))
        );
        assert!(t.blocked(t1 + Duration::from_secs(19), &k));
    }

    #[test]
    fn failures_spread_beyond_the_window_never_block() {
        let mut t = Throttle::new(3, &limits());
        let mut now = crate::server::test_clock();
        let k = 7u32;
        for _ in 0..20 {
            assert_eq!(t.failed(now, k), Failed::Counted);
            now += Duration::from_secs(51);
        }
    }

    #[test]
    fn success_forgets_the_failures() {
        let mut t = Throttle::new(3, &limits());
        let now = crate::server::test_clock();
        let k = 1u8;
        t.failed(now, k);
        t.failed(now, k);
        t.succeeded(now, &k);
        assert_eq!(t.failed(now, k), Failed::Counted);
    }

    #[test]
    fn the_map_is_bounded_and_keeps_backoffs_in_force_longest() {
        let mut t = Throttle::new(3, &limits());
        let now = crate::server::test_clock();
        for _ in 0..3 {
            t.failed(now, 0u32);
        }
        assert!(t.blocked(now, &0));
        for k in 1..1000u32 {
            t.failed(now + Duration::from_millis(u64::from(k)), k);
            assert!(t.len() <= 4);
        }
        // The stalest not in backoff go first: the blocked key stays.
        assert!(t.blocked(now + Duration::from_secs(1), &0));
    }

    #[test]
    fn zero_means_no_limit() {
        let mut t = Throttle::new(0, &limits());
        let now = crate::server::test_clock();
        for _ in 0..100 {
            assert_eq!(t.failed(now, "x"), Failed::Counted);
        }
        assert!(!t.blocked(now, &"x"));
    }
}
