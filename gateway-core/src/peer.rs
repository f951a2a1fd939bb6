//! An IPsec peer: the lineage of ESP SA pairs one client's IKE SA negotiated (rekeys
//! join it), where it is (outer addresses, updated by authenticated packets after NAT
//! rebinding), and which outbound SA is current.
//!
//! A pair joins a peer only through an IKE SA that already gave the peer a pair (a
//! Quick Mode rekey), or through a newer IKE SA with the same authenticated phase-1
//! identity that completed Main Mode from exactly the peer's current path (Windows and
//! strongSwan re-authentication); see [`Peer::accepts`]. Each pair remembers how far
//! both its SAs are through their traffic lifetimes (see `server/policy.rs`).

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
    /// The ISAKMP SA that negotiated it.
    pub(super) ike: u64,
    /// `outbound.expiry()` when last looked at.
    pub(super) out_expiry: esp::Expiry,
    /// The inbound SA's `expiry()` when last looked at.
    pub(super) in_expiry: esp::Expiry,
    /// A rekey was asked of IKE (once per pair).
    pub(super) rekey_requested: bool,
    /// Past a hard limit in either direction: never sealed on again, deleted once a
    /// newer pair carries traffic.
    pub(super) retired: bool,
    /// Its deletion was asked of IKE.
    pub(super) deleting: bool,
}

impl PairState {
    /// Whether it may still carry outbound traffic.
    pub(super) fn usable(&self) -> bool {
        !self.retired && self.out_expiry != esp::Expiry::Hard
    }
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
    /// The authenticated phase-1 identity of its ISAKMP SA (none for pairs installed
    /// without IKE).
    pub(super) identity: Option<ike::msgs::IdPayload>,
    /// Oldest first.
    pub(super) pairs: Vec<PairState>,
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
            identity: pair.peer_id.clone(),
            pairs: Vec::new(),
        }
    }

    /// Whether `pair` may join this peer: its ISAKMP SA gave this peer a pair before
    /// (a Quick Mode rekey), or it comes from a newer ISAKMP SA of the same
    /// authenticated identity whose proven path is exactly this peer's current one
    /// (re-authentication). Anything else, however similar its addresses, is another
    /// peer: IKE proves a pair's path and identity, never an address alone.
    pub(super) fn accepts(&self, pair: &SaPair) -> bool {
        if self.pairs.iter().any(|p| p.ike == pair.ike) {
            return true;
        }
        pair.ike > self.ike
            && pair.peer_id.is_some()
            && pair.peer_id == self.identity
            && pair.remote == self.remote
            && pair.local == self.local
            && pair.udp_encapsulated == self.udp_encapsulated
    }

    pub(super) fn add_pair(
        &mut self,
        ike: u64,
        inbound_spi: esp::Spi,
        outbound: esp::OutboundSa,
        now: Instant,
        confirmed: bool,
    ) {
        self.pairs.push(PairState {
            inbound_spi,
            outbound_spi: outbound.spi(),
            suite: outbound.suite(),
            out_expiry: outbound.expiry(),
            outbound,
            installed: now,
            confirmed,
            ike,
            in_expiry: esp::Expiry::Live,
            rekey_requested: false,
            retired: false,
            deleting: false,
        });
    }

    pub(super) fn remove_pair(&mut self, inbound_spi: esp::Spi) {
        self.pairs.retain(|p| p.inbound_spi != inbound_spi);
    }

    pub(super) fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The peer sent on `inbound_spi`: its pair may now carry our traffic too. True
    /// when it was not confirmed before (the lifetime policy then looks for retired
    /// pairs to delete).
    pub(super) fn confirm_inbound(&mut self, inbound_spi: esp::Spi) -> bool {
        match self
            .pairs
            .iter_mut()
            .rev()
            .find(|p| p.inbound_spi == inbound_spi)
        {
            Some(p) if !p.confirmed => {
                p.confirmed = true;
                true
            }
            _ => false,
        }
    }

    /// Which pair seals outbound traffic: the newest confirmed usable one, else the
    /// newest usable one (a retired pair's traffic falls back to a newer pair even
    /// before the peer has used it), else the newest.
    fn current_index(&self) -> Option<usize> {
        self.pairs
            .iter()
            .rposition(|p| p.confirmed && p.usable())
            .or_else(|| self.pairs.iter().rposition(PairState::usable))
            .or_else(|| self.pairs.len().checked_sub(1))
    }

    /// The outbound SA of [`Self::current_index`].
    pub(super) fn current_outbound(&mut self) -> Option<&mut esp::OutboundSa> {
        let index = self.current_index()?;
        self.pairs.get_mut(index).map(|p| &mut p.outbound)
    }

    /// After a seal on the current outbound SA: notes a change of its lifetime state
    /// in `due` (keyed by the pair's inbound SPI). Integer compares only.
    pub(super) fn sealed(&mut self, due: &mut Vec<esp::Spi>) {
        let Some(p) = self.current_index().and_then(|i| self.pairs.get_mut(i)) else {
            return;
        };
        let expiry = p.outbound.expiry();
        if expiry != p.out_expiry {
            p.out_expiry = expiry;
            due.push(p.inbound_spi);
        }
    }

    /// Our SPIs of every installed pair, oldest first.
    pub(super) fn inbound_spis(&self) -> impl Iterator<Item = esp::Spi> + '_ {
        self.pairs.iter().map(|p| p.inbound_spi)
    }

    /// An authenticated packet arrived on `path`: after a NAT rebinding (or from a new
    /// address) the peer is there now, if the packet is the `newest` its SA has
    /// accepted (an older one, late or replayed from elsewhere, moves nothing). Raw ESP
    /// has no ports; the IKE ports are kept. Returns the addresses the inner UDP
    /// checksum covers (source, destination) when it can be checked (raw ESP), and
    /// whether the peer moved (the caller tells IKE: `policy::rebound`).
    pub(super) fn follow(
        &mut self,
        path: EspPath,
        newest: bool,
    ) -> (Option<(IpAddr, IpAddr)>, bool) {
        let (local, remote) = match path {
            EspPath::Udp { local, remote } => (local, remote),
            EspPath::Raw { local, remote } => (
                SocketAddr::new(local, self.local.port()),
                SocketAddr::new(remote, self.remote.port()),
            ),
        };
        let moved = newest && self.remote != remote;
        if moved {
            self.remote = remote;
            self.local = local;
        }
        (
            (!self.udp_encapsulated).then_some((remote.ip(), local.ip())),
            moved,
        )
    }

    /// After a packet on our SA `spi` (`sa`, looked up again in the SA table) opened
    /// with sequence number `seq`: notes a change of the SA's lifetime state in `due`
    /// (integer compares, no allocation but the rare push), and returns whether `seq`
    /// is the highest the SA has accepted (the packet advanced the replay window rather
    /// than filling a gap in it).
    pub(super) fn opened(
        &mut self,
        spi: esp::Spi,
        sa: Option<&esp::InboundSa>,
        seq: u64,
        due: &mut Vec<esp::Spi>,
    ) -> bool {
        let Some(sa) = sa else {
            return false;
        };
        if let Some(p) = self.pairs.iter_mut().rev().find(|p| p.inbound_spi == spi) {
            let expiry = sa.expiry();
            if expiry != p.in_expiry {
                p.in_expiry = expiry;
                due.push(spi);
            }
        }
        seq >= sa.highest_seq()
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
