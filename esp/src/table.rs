//! Inbound SAs keyed by SPI.

use std::collections::HashMap;

use crate::{Error, InboundSa, Opened, Spi};

/// The inbound SAs of a gateway, keyed by SPI (the SPI the receiver chose, so it is
/// unique per receiver). During a rekey the old and the new SA sit side by side under
/// their own SPIs.
#[derive(Debug, Default)]
pub struct SaTable {
    sas: HashMap<Spi, InboundSa>,
}

impl SaTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `sa` under its SPI, returning the SA it replaced, if any.
    pub fn insert(&mut self, sa: InboundSa) -> Option<InboundSa> {
        self.sas.insert(sa.spi(), sa)
    }

    /// Removes and returns the SA with this SPI.
    pub fn remove(&mut self, spi: Spi) -> Option<InboundSa> {
        self.sas.remove(&spi)
    }

    /// The SA with this SPI.
    pub fn get(&self, spi: Spi) -> Option<&InboundSa> {
        self.sas.get(&spi)
    }

    /// The SA with this SPI, or [`Error::UnknownSpi`] (count it; never reply).
    pub fn get_mut(&mut self, spi: Spi) -> Result<&mut InboundSa, Error> {
        self.sas.get_mut(&spi).ok_or(Error::UnknownSpi(spi))
    }

    /// Looks up the packet's SPI and opens it with that SA.
    pub fn open<'a>(&mut self, pkt: &'a mut [u8]) -> Result<Opened<'a>, Error> {
        let spi = crate::nat_t::spi(pkt)?;
        self.get_mut(spi)?.open(pkt)
    }

    /// Number of SAs.
    pub fn len(&self) -> usize {
        self.sas.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.sas.is_empty()
    }

    /// Keeps only the SAs for which `keep` is true (expiry by lifetime, peer teardown).
    pub fn retain(&mut self, mut keep: impl FnMut(&InboundSa) -> bool) {
        self.sas.retain(|_, sa| keep(sa));
    }

    /// All SAs, in no particular order (for lifetimes and status).
    pub fn iter(&self) -> impl Iterator<Item = &InboundSa> {
        self.sas.values()
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::{Encryption, Integrity, Mode, SaParams, Suite};

    #[allow(
        clippy::disallowed_methods,
        reason = "a test needs one real Instant as its base"
    )]
    fn t0() -> Instant {
        Instant::now()
    }

    fn sa(spi: u32, now: Instant) -> InboundSa {
        let suite = Suite::new(Encryption::AesGcm16_128, Integrity::None).unwrap();
        let p = SaParams::from_keymat(Spi(spi), suite, Mode::Transport, &[1; 20]).unwrap();
        InboundSa::new(&p, now).unwrap()
    }

    #[test]
    fn insert_get_remove_retain() {
        let now = t0();
        let mut t = SaTable::new();
        assert!(t.is_empty());
        assert!(t.insert(sa(1, now)).is_none());
        assert!(t.insert(sa(2, now + Duration::from_secs(10))).is_none());
        assert!(
            t.insert(sa(2, now + Duration::from_secs(20))).is_some(),
            "replaced"
        );
        assert_eq!(t.len(), 2);
        assert!(t.get(Spi(1)).is_some());
        assert_eq!(t.get_mut(Spi(3)).unwrap_err(), Error::UnknownSpi(Spi(3)));
        let mut pkt = [0, 0, 0, 3, 0, 0, 0, 1, 0, 0, 0, 0];
        assert_eq!(t.open(&mut pkt), Err(Error::UnknownSpi(Spi(3))));
        assert!(matches!(t.open(&mut [0, 0]), Err(Error::Truncated { .. })));
        let later = now + Duration::from_secs(15);
        t.retain(|sa| sa.usage().age(later) < Duration::from_secs(10));
        assert_eq!(t.iter().map(InboundSa::spi).collect::<Vec<_>>(), [Spi(2)]);
        assert!(t.remove(Spi(2)).is_some());
        assert!(t.is_empty());
    }
}
