//! The core's rules against hostile and worn-out peers (issue 14), kept out of the data
//! path: the data path only notes what happened (a lifetime state changed, a pair was
//! first used, a peer's newest authenticated packet came from a new address) and these
//! functions act on it.
//!
//! * **NAT rebinding** ([`rebind`]): an ESP packet authenticated by a pair's integrity
//!   key and carrying the highest sequence number its SA has accepted, from a new outer
//!   address, moves the peer there, and IKE is told ([`ike::Endpoint::update_path`]) so
//!   DPD and DELETEs follow. Only the peer (and we) hold that key, so no other user and
//!   no off-path attacker can move a peer; an on-path attacker that replays a fresh
//!   packet from elsewhere before the original arrives can move it until the peer's next
//!   packet moves it back (it could drop the traffic anyway).
//! * **Traffic lifetimes** ([`Core::run_lifetime_policy`]): kilobyte and packet limits
//!   and sequence counters are the ESP SAs' (`esp::Expiry`); time limits are IKE's.
//!   The data path compares each SA's expiry with the one cached for it after every
//!   open and seal (integer compares, nothing allocated) and notes the pair on a
//!   change. The first time either half of a pair reaches `Soft`, IKE is asked once to
//!   rekey it ([`ike::Endpoint::rekey_child`]). At `Hard` (or when `seal` refuses with
//!   `LifetimeExpired`/`SeqExhausted`, which only happens at `Hard`) the pair is
//!   retired: outbound traffic moves to the newest live pair, and once a newer pair
//!   has carried the peer's traffic the retired one is deleted through IKE (a DELETE
//!   to the peer, then `ChildSaDown`).
//! * **Authentication failures** ([`crate::throttle`]): per user and per source address,
//!   with backoff; an attempt during backoff is refused unchecked.

use std::net::IpAddr;
use std::time::Instant;

use super::Core;
use crate::counters::{Counter, Counters};
use crate::escape::Escaped;
use crate::peer::Peer;
use crate::throttle::Failed;

/// The data path's NAT rebinding hook: `peer` just moved to a new outer address on its
/// newest authenticated ESP packet (on our SA `spi`); the ISAKMP SA that negotiated that
/// pair follows. See the module documentation for what proves the move.
pub(super) fn rebound(
    peer: &Peer,
    ike: &mut ike::Endpoint,
    counters: &mut Counters,
    spi: esp::Spi,
) {
    tracing::debug!(to = %peer.remote, "peer moved (NAT rebinding, newest authenticated ESP)");
    counters.bump(Counter::NatRebinds);
    let Some(ike_sa) = peer
        .pairs
        .iter()
        .find(|p| p.inbound_spi == spi)
        .map(|p| p.ike)
    else {
        return;
    };
    let path = ike::Path {
        local: peer.local,
        remote: peer.remote,
    };
    // False when the ISAKMP SA is gone (its ESP SAs live on): nothing to follow then.
    let _ = ike.update_path(ike::IkeSaId(ike_sa), path);
}

impl Core {
    /// Acts on the pairs the data path noted (see the module documentation). Returns
    /// whether anything was noted.
    pub(super) fn run_lifetime_policy(&mut self, now: Instant) -> bool {
        if self.lifetime_due.is_empty() {
            return false;
        }
        let mut due = core::mem::take(&mut self.lifetime_due);
        let mut touched: Vec<l2tp::PeerId> = Vec::new();
        for spi in due.drain(..) {
            let Some(peer_id) = self.inbound.tag(spi).map(|t| t.owner) else {
                continue;
            };
            let Some(peer) = self.peers.get_mut(&peer_id) else {
                continue;
            };
            if !touched.contains(&peer_id) {
                touched.push(peer_id);
            }
            let Some(pair) = peer.pairs.iter_mut().find(|p| p.inbound_spi == spi) else {
                continue;
            };
            let worst = pair.in_expiry.max(pair.out_expiry);
            if worst >= esp::Expiry::Soft && !pair.rekey_requested {
                pair.rekey_requested = true;
                if self.ike.rekey_child(now, spi) {
                    self.counters.bump(Counter::LifetimeRekeys);
                    tracing::debug!(%spi, "ESP SA pair past its soft traffic limit: rekey started");
                } else {
                    // No ISAKMP SA to rekey it on (deleted, or keyed by hand): the peer
                    // must start a new Main Mode.
                    self.counters.bump(Counter::LifetimeRekeysImpossible);
                    tracing::debug!(%spi, "ESP SA pair past its soft traffic limit, no ISAKMP SA to rekey it");
                }
            }
            if worst == esp::Expiry::Hard && !pair.retired {
                pair.retired = true;
                self.counters.bump(Counter::LifetimePairsRetired);
                tracing::debug!(%spi, "ESP SA pair at its hard traffic limit: retired");
            }
        }
        // Keep the buffer's capacity.
        self.lifetime_due = due;
        for peer_id in touched {
            let Some(peer) = self.peers.get_mut(&peer_id) else {
                continue;
            };
            let mut carried_by_newer = false;
            let mut delete = Vec::new();
            for p in peer.pairs.iter_mut().rev() {
                if p.retired && carried_by_newer && !p.deleting {
                    p.deleting = true;
                    delete.push(p.inbound_spi);
                }
                carried_by_newer |= p.confirmed && !p.retired;
            }
            for spi in delete {
                self.counters.bump(Counter::LifetimePairsDeleted);
                tracing::debug!(%spi, "retired ESP SA pair deleted: a newer pair carries the traffic");
                // Through IKE (a DELETE, then ChildSaDown); a pair IKE does not know goes
                // at once.
                if !self.ike.delete_child_sa(spi) {
                    self.forget_sa_pair(spi);
                }
            }
        }
        true
    }

    /// Whether an authentication attempt of `user` from `source` falls in a backoff:
    /// then it is refused without a look at the password, and counts nothing else.
    pub(super) fn auth_refused_for_backoff(
        &mut self,
        now: Instant,
        user: &str,
        source: Option<IpAddr>,
    ) -> bool {
        let blocked = self.auth_users.blocked(now, user)
            || source.is_some_and(|s| self.auth_sources.blocked(now, &s));
        if blocked {
            self.counters.bump(Counter::AuthBackoff);
        }
        blocked
    }

    /// A failed authentication: counted against the user (when the name exists) and the
    /// source; either may go into backoff.
    pub(super) fn note_auth_failure(
        &mut self,
        now: Instant,
        user: &str,
        known: bool,
        source: Option<IpAddr>,
    ) {
        if known && let Failed::Backoff(d) = self.auth_users.failed(now, user.to_owned()) {
            self.counters.bump(Counter::AuthBackoffsStarted);
            tracing::info!(user = %Escaped(user), secs = d.as_secs(), "repeated authentication failures: the user is refused for a while");
        }
        if let Some(s) = source
            && let Failed::Backoff(d) = self.auth_sources.failed(now, s)
        {
            self.counters.bump(Counter::AuthBackoffsStarted);
            tracing::info!(source = %s, secs = d.as_secs(), "repeated authentication failures: the source is refused for a while");
        }
    }

    /// A successful authentication: the user's failures are forgotten (the source's
    /// are not: many users share a NAT address).
    pub(super) fn note_auth_success(&mut self, now: Instant, user: &str, _source: Option<IpAddr>) {
        self.auth_users.succeeded(now, user);
    }
}
