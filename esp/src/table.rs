//! Inbound SAs keyed by SPI.

use std::collections::HashMap;

use crate::{Error, InboundSa, Opened, Spi};

/// The inbound SAs of a gateway, keyed by SPI (the SPI the receiver chose, so it is
/// unique per receiver). During a rekey the old and the new SA sit side by side under
/// their own SPIs.
///
/// Each SA may carry a tag `T` of the owner's (the peer it belongs to, how it was
/// negotiated), found in the same lookup: [`Self::insert_tagged`], [`Self::open_tagged`].
/// `SaTable` without a parameter has no tag.
#[derive(Debug)]
pub struct SaTable<T = ()> {
    sas: HashMap<Spi, (InboundSa, T)>,
}

impl<T> Default for SaTable<T> {
    fn default() -> Self {
        Self {
            sas: HashMap::new(),
        }
    }
}

impl SaTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `sa` under its SPI, returning the SA it replaced, if any.
    pub fn insert(&mut self, sa: InboundSa) -> Option<InboundSa> {
        self.insert_tagged(sa, ()).map(|(old, ())| old)
    }
}

impl<T> SaTable<T> {
    /// Adds `sa` with `tag` under its SPI, returning what it replaced, if anything.
    pub fn insert_tagged(&mut self, sa: InboundSa, tag: T) -> Option<(InboundSa, T)> {
        self.sas.insert(sa.spi(), (sa, tag))
    }

    /// Removes and returns the SA with this SPI.
    pub fn remove(&mut self, spi: Spi) -> Option<InboundSa> {
        self.remove_tagged(spi).map(|(sa, _)| sa)
    }

    /// Removes and returns the SA with this SPI and its tag.
    pub fn remove_tagged(&mut self, spi: Spi) -> Option<(InboundSa, T)> {
        self.sas.remove(&spi)
    }

    /// The SA with this SPI.
    pub fn get(&self, spi: Spi) -> Option<&InboundSa> {
        self.sas.get(&spi).map(|(sa, _)| sa)
    }

    /// The SA with this SPI, or [`Error::UnknownSpi`] (count it; never reply).
    pub fn get_mut(&mut self, spi: Spi) -> Result<&mut InboundSa, Error> {
        self.get_tagged_mut(spi).map(|(sa, _)| sa)
    }

    /// The SA with this SPI and its tag, or [`Error::UnknownSpi`].
    pub fn get_tagged_mut(&mut self, spi: Spi) -> Result<(&mut InboundSa, &mut T), Error> {
        self.sas
            .get_mut(&spi)
            .map(|(sa, tag)| (sa, tag))
            .ok_or(Error::UnknownSpi(spi))
    }

    /// The tag of the SA with this SPI.
    pub fn tag(&self, spi: Spi) -> Option<&T> {
        self.sas.get(&spi).map(|(_, tag)| tag)
    }

    /// Looks up the packet's SPI and opens it with that SA.
    pub fn open<'a>(&mut self, pkt: &'a mut [u8]) -> Result<Opened<'a>, Error> {
        let spi = crate::nat_t::spi(pkt)?;
        self.get_mut(spi)?.open(pkt)
    }

    /// Looks up the packet's SPI, lets `accept` see the SA's tag before anything is
    /// checked (so a packet the owner refuses, e.g. on a path its SA was not negotiated
    /// for, consumes no sequence number), then opens it. `accept` returning `Err(e)`
    /// refuses the packet with `e`.
    pub fn open_tagged<'a, E: From<Error>>(
        &mut self,
        pkt: &'a mut [u8],
        accept: impl FnOnce(&T) -> Result<(), E>,
    ) -> Result<(Opened<'a>, &T), E> {
        let spi = crate::nat_t::spi(pkt)?;
        let (sa, tag) = self.get_tagged_mut(spi)?;
        accept(tag)?;
        Ok((sa.open(pkt)?, tag))
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
        self.sas.retain(|_, (sa, _)| keep(sa));
    }

    /// All SAs, in no particular order (for lifetimes and status).
    pub fn iter(&self) -> impl Iterator<Item = &InboundSa> {
        self.sas.values().map(|(sa, _)| sa)
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

    #[test]
    fn tags_are_found_with_their_sa_and_can_refuse_before_opening() {
        let now = t0();
        let mut t: SaTable<&str> = SaTable::default();
        assert!(t.insert_tagged(sa(7, now), "udp").is_none());
        assert_eq!(t.tag(Spi(7)), Some(&"udp"));
        let mut pkt = [0, 0, 0, 7, 0, 0, 0, 1, 0, 0, 0, 0];
        // Refused by the owner: the SA is untouched (its replay window too).
        let refused: Result<_, Error> = t.open_tagged(&mut pkt, |_| Err(Error::BadIcv));
        assert_eq!(refused.err(), Some(Error::BadIcv));
        // Accepted: the SA opens it (this packet is garbage, so the SA refuses it).
        let opened: Result<_, Error> = t.open_tagged(&mut pkt, |tag| {
            assert_eq!(*tag, "udp");
            Ok(())
        });
        assert!(opened.is_err());
        let mut unknown = [0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0];
        let r: Result<_, Error> = t.open_tagged(&mut unknown, |_| Ok(()));
        assert_eq!(r.err(), Some(Error::UnknownSpi(Spi(8))));
        assert_eq!(t.remove_tagged(Spi(7)).map(|(_, tag)| tag), Some("udp"));
        assert!(t.is_empty());
    }
}
