//! An IPsec peer: the lineage of ESP SA pairs one client's IKE SA negotiated (rekeys
//! join it), where it is (outer addresses, updated by authenticated packets after NAT
//! rebinding), and which outbound SA is current.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use crate::engine::Output;
use crate::server::SaPair;
use crate::transport::L2TP_PORT;

/// How an ESP packet reached the core.
#[derive(Debug, Clone, Copy)]
pub(crate) enum EspPath {
    /// In UDP (port 4500, RFC 3948).
    Udp {
        local: SocketAddr,
        remote: SocketAddr,
    },
    /// As IP protocol 50.
    Raw { local: IpAddr, remote: IpAddr },
}

/// One installed pair.
pub(super) struct PairState {
    pub(super) inbound_spi: esp::Spi,
    pub(super) outbound_spi: esp::Spi,
    pub(super) outbound: esp::OutboundSa,
    pub(super) suite: esp::Suite,
    pub(super) installed: Instant,
    /// May carry outbound traffic: an initial pair at once, a rekey once the peer has
    /// used its inbound half (so we never send on an SA the peer has not installed).
    pub(super) confirmed: bool,
}

/// See the module documentation.
pub(super) struct Peer {
    pub(super) id: l2tp::PeerId,
    pub(super) ike: u64,
    pub(super) local: SocketAddr,
    pub(super) remote: SocketAddr,
    pub(super) udp_encapsulated: bool,
    /// The client's L2TP UDP port (1701 for every client seen so far).
    pub(super) l2tp_port: u16,
    /// Oldest first.
    pairs: Vec<PairState>,
}

impl Peer {
    pub(super) fn new(id: l2tp::PeerId, pair: &SaPair, _now: Instant) -> Self {
        Self {
            id,
            ike: pair.ike,
            local: pair.local,
            remote: pair.remote,
            udp_encapsulated: pair.udp_encapsulated,
            l2tp_port: L2TP_PORT,
            pairs: Vec::new(),
        }
    }

    pub(super) fn add_pair(
        &mut self,
        inbound_spi: esp::Spi,
        outbound: esp::OutboundSa,
        now: Instant,
        confirmed: bool,
    ) {
        self.pairs.push(PairState {
            inbound_spi,
            outbound_spi: outbound.spi(),
            suite: outbound.suite(),
            outbound,
            installed: now,
            confirmed,
        });
    }

    pub(super) fn remove_pair(&mut self, inbound_spi: esp::Spi) {
        self.pairs.retain(|p| p.inbound_spi != inbound_spi);
    }

    pub(super) fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The peer sent on `inbound_spi`: its pair may now carry our traffic too.
    pub(super) fn confirm_inbound(&mut self, inbound_spi: esp::Spi) {
        if let Some(p) = self
            .pairs
            .iter_mut()
            .rev()
            .find(|p| p.inbound_spi == inbound_spi)
        {
            p.confirmed = true;
        }
    }

    /// The newest confirmed outbound SA (the newest of all if none is confirmed).
    pub(super) fn current_outbound(&mut self) -> Option<&mut esp::OutboundSa> {
        let index = self
            .pairs
            .iter()
            .rposition(|p| p.confirmed)
            .or_else(|| self.pairs.len().checked_sub(1))?;
        self.pairs.get_mut(index).map(|p| &mut p.outbound)
    }

    /// Our SPIs of every installed pair, oldest first.
    pub(super) fn inbound_spis(&self) -> impl Iterator<Item = esp::Spi> + '_ {
        self.pairs.iter().map(|p| p.inbound_spi)
    }

    /// An authenticated packet arrived on `path`: after a NAT rebinding (or from a new
    /// address) the peer is there now. Raw ESP has no ports; the IKE ports are kept.
    /// Returns the addresses the inner UDP checksum covers (source, destination) when
    /// it can be checked (raw ESP).
    pub(super) fn follow(&mut self, path: EspPath) -> Option<(IpAddr, IpAddr)> {
        let (local, remote) = match path {
            EspPath::Udp { local, remote } => (local, remote),
            EspPath::Raw { local, remote } => (
                SocketAddr::new(local, self.local.port()),
                SocketAddr::new(remote, self.remote.port()),
            ),
        };
        if self.remote != remote {
            self.remote = remote;
            self.local = local;
        }
        (!self.udp_encapsulated).then_some((remote.ip(), local.ip()))
    }

    /// The addresses an outbound inner UDP checksum covers (ours, the peer's) when it
    /// is sent (raw ESP).
    pub(super) fn udp_addresses(&self) -> Option<(IpAddr, IpAddr)> {
        (!self.udp_encapsulated).then_some((self.local.ip(), self.remote.ip()))
    }

    /// Where ESP to the peer goes: UDP 4500 or raw ESP.
    pub(super) fn output(&self) -> Output {
        if self.udp_encapsulated {
            Output::Udp {
                local: self.local,
                remote: self.remote,
            }
        } else {
            Output::Esp {
                local: self.local.ip(),
                remote: self.remote.ip(),
            }
        }
    }

    /// The newest pair, for status.
    pub(super) fn newest(&self) -> Option<&PairState> {
        self.pairs.last()
    }
}
