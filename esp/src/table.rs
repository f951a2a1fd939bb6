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

    /// All SAs, in no particular order (for lifetimes and status).
    pub fn iter(&self) -> impl Iterator<Item = &InboundSa> {
        self.sas.values()
    }
}
