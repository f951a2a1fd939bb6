//! The anti-replay window (RFC 4303 §3.4.3), as a ring of 64-bit words (RFC 6479).
//!
//! The receiver asks [`ReplayWindow::check`] before it spends a MAC on the packet and
//! calls [`ReplayWindow::commit`] only once the packet proved authentic, so forged
//! packets can neither advance the window nor mark sequence numbers as seen.

/// Words in the ring; one of them is always partly stale, so the usable window is one
/// word less than the ring.
const WORDS: usize = 33;
const WORD_BITS: u64 = 64;

/// An anti-replay window of [`ReplayWindow::SIZE`] sequence numbers.
#[derive(Clone)]
pub struct ReplayWindow {
    /// The highest sequence number committed (0: none yet).
    top: u64,
    bits: [u64; WORDS],
}

impl core::fmt::Debug for ReplayWindow {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ReplayWindow")
            .field("top", &self.top)
            .finish()
    }
}

impl Default for ReplayWindow {
    fn default() -> Self {
        Self::new()
    }
}

impl ReplayWindow {
    /// How many sequence numbers, ending at the highest one received, are tracked:
    /// anything older is refused as a replay.
    pub const SIZE: u64 = (WORDS as u64 - 1) * WORD_BITS;

    /// An empty window: the next valid sequence number is anything from 1.
    pub const fn new() -> Self {
        Self {
            top: 0,
            bits: [0; WORDS],
        }
    }

    /// The highest sequence number committed so far (0 if none).
    pub const fn top(&self) -> u64 {
        self.top
    }

    fn slot(seq: u64) -> (usize, u64) {
        let word = (seq / WORD_BITS) % WORDS as u64;
        // `word` < WORDS, so the cast cannot truncate.
        (word as usize, 1u64 << (seq % WORD_BITS))
    }

    /// True if `seq` would be accepted: non-zero, not left of the window, not seen.
    pub fn check(&self, seq: u64) -> bool {
        if seq == 0 {
            return false;
        }
        if seq > self.top {
            return true;
        }
        if self.top - seq >= Self::SIZE {
            return false;
        }
        let (word, mask) = Self::slot(seq);
        self.bits.get(word).is_some_and(|w| w & mask == 0)
    }

    /// Marks `seq` as received, sliding the window forward if it is new. Returns false
    /// (and changes nothing) if [`Self::check`] would refuse it.
    pub fn commit(&mut self, seq: u64) -> bool {
        if !self.check(seq) {
            return false;
        }
        if seq > self.top {
            let old_word = self.top / WORD_BITS;
            let new_word = seq / WORD_BITS;
            let stale = (new_word - old_word).min(WORDS as u64);
            for i in 1..=stale {
                let (w, _) = Self::slot((old_word + i) * WORD_BITS);
                if let Some(bits) = self.bits.get_mut(w) {
                    *bits = 0;
                }
            }
            self.top = seq;
        }
        let (word, mask) = Self::slot(seq);
        if let Some(bits) = self.bits.get_mut(word) {
            *bits |= mask;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: u64 = ReplayWindow::SIZE;

    // RFC 4303 recommends 64; the project asks for at least 1024.
    const _: () = assert!(W >= 1024);

    #[test]
    fn first_packet_and_zero() {
        let mut r = ReplayWindow::new();
        assert!(!r.check(0), "sequence number 0 is never sent");
        assert!(r.check(1));
        assert!(r.commit(1));
        assert!(!r.check(1), "duplicate");
        assert!(!r.commit(1));
        assert_eq!(r.top(), 1);
    }

    #[test]
    fn first_packet_may_be_anywhere() {
        let mut r = ReplayWindow::new();
        assert!(r.commit(5000));
        assert!(
            r.check(5000 - W + 1),
            "inside the window below the first packet"
        );
        assert!(!r.check(5000 - W), "left of the window");
    }

    #[test]
    fn window_edges() {
        let mut r = ReplayWindow::new();
        let top = 10 * W;
        assert!(r.commit(top));
        let left = top - W + 1;
        assert!(r.check(left), "leftmost slot still inside");
        assert!(!r.check(left - 1), "one beyond the left edge");
        assert!(r.commit(left));
        assert!(!r.check(left), "leftmost slot now seen");
        for s in left + 1..top {
            assert!(r.check(s), "{s} not yet seen");
        }
        // Advance by one: the old left edge falls out, the new top is fresh.
        assert!(r.commit(top + 1));
        assert!(!r.check(left), "fell out of the window");
        assert!(r.check(left + 1));
        assert!(!r.check(top) && !r.check(top + 1));
    }

    #[test]
    fn out_of_order_within_window() {
        let mut r = ReplayWindow::new();
        for s in [3u64, 1, 2, 7, 5, 4, 6] {
            assert!(r.commit(s), "{s}");
        }
        for s in 1..=7 {
            assert!(!r.check(s), "{s} duplicate");
        }
        assert!(r.check(8));
    }

    #[test]
    fn far_ahead_clears_the_ring() {
        let mut r = ReplayWindow::new();
        for s in 1..=3 * W {
            assert!(r.commit(s));
        }
        let far = 3 * W + 100 * W + 17;
        assert!(r.commit(far));
        // Everything in the new window below `far` is fresh, even at ring positions
        // that held old bits.
        for s in far - W + 1..far {
            assert!(r.check(s), "{s} must be fresh after a jump");
        }
        assert!(!r.check(3 * W), "old numbers are left of the window");
    }

    #[test]
    fn jumps_of_every_size_keep_stale_bits_out() {
        // Compare against a naive set-based model over many jumps.
        let mut r = ReplayWindow::new();
        let mut seen = std::collections::BTreeSet::new();
        let mut top = 0u64;
        let mut x = 0x1234_5678_u64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let step = match x % 4 {
                0 => x % 3,
                1 => x % 70,
                2 => x % (W + 130),
                _ => 0,
            };
            let back = (x >> 20) % (W + 5);
            let seq = (top + step)
                .saturating_sub(if x & 1 == 0 { back } else { 0 })
                .max(1);
            let model = seq > top || (top - seq < W && !seen.contains(&seq));
            assert_eq!(r.check(seq), model, "seq {seq} top {top}");
            if model {
                r.commit(seq);
                seen.insert(seq);
                top = top.max(seq);
            }
        }
    }

    #[test]
    fn near_the_32_bit_end() {
        let mut r = ReplayWindow::new();
        let max = u64::from(u32::MAX);
        assert!(r.commit(max - 1));
        assert!(r.commit(max));
        assert!(!r.check(max));
        assert!(r.check(max - 2));
        assert!(!r.check(max - W));
    }
}
