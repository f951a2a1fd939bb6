//! Per-ISAKMP-SA state, initiator profiles, and the timers of one SA.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use super::profile::Profile;
use super::{DownReason, Endpoint, Event, IkeSaId, Path};
use crate::config::Psk;
use crate::crypto::keys::Phase1Keys;
use crate::crypto::{DhGroup, DhPrivate};
use crate::msgs::Cookie;
use crate::msgs::IdPayload;
use crate::msgs::vendor::PeerVendor;
use crate::msgs::{DOI_IPSEC, DeletePayload, EncapsulationMode, Payload, ProtocolId};
use crate::phase1::auth::PeerAuthenticated;
use crate::proposal::{EspOffer, Phase1Suite};

/// Quick Mode message IDs an ISAKMP SA remembers (the most recent ones): a first
/// message reusing one is a replay and creates nothing. Message IDs are random, so a
/// peer that runs more Quick Modes than this on one ISAKMP SA (a Windows client with a
/// 250 000 KB lifetime at full speed for hours) makes the oldest ones unrecognisable;
/// a replay that old creates an ESP SA nobody can use, which the Quick Mode deadline
/// removes again (its third message cannot be replayed: HASH(3) covers our new nonce).
pub(super) const REMEMBERED_MIDS: usize = 64;

/// When the responder rekeys an ESP SA the client has not rekeyed, as a fraction of its
/// lifetime. Clients rekey earlier: strongSwan between 70 % and 85 % of an hour (margin
/// 9 min, fuzz 100 %), our own initiator (`Profile::rekey_fraction`) at 85.5–90 %, and
/// Windows before its soft lifetime; so an ordinary client has always rekeyed by then
/// and the gateway only steps in for one that does not. The last 5 % (180 s of an hour)
/// leave room for the Quick Mode's retransmissions (63 s with the defaults).
pub(super) const RESPONDER_REKEY_FRACTION: f64 = 0.95;

/// The longest time any deadline is set ahead (about 136 years): lifetimes come from
/// peers, and `Instant + Duration` panics on overflow.
pub(super) const MAX_DEADLINE: Duration = Duration::from_secs(u32::MAX as u64);

/// `now + d` for a `d` a peer may have chosen: clamped to [`MAX_DEADLINE`], never
/// panicking.
pub(super) fn after(now: Instant, d: Duration) -> Instant {
    now.checked_add(d.min(MAX_DEADLINE))
        .or_else(|| now.checked_add(Duration::from_secs(86_400)))
        .unwrap_or(now)
}

/// Which side started the ISAKMP SA.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Role {
    Initiator,
    Responder,
}

/// A request we sent and retransmit until answered.
pub(super) struct Pending {
    pub(super) bytes: Vec<u8>,
    pub(super) path: Path,
    pub(super) sends: u32,
    pub(super) next: Instant,
    pub(super) timeout: Duration,
}

pub(super) struct RespAwaitKe {
    pub(super) suite: Phase1Suite,
    pub(super) sai_b: Vec<u8>,
    /// A hash of the first message, to know its retransmissions (the message itself is
    /// not kept: unproven state stays small).
    pub(super) first_message: u64,
}

pub(super) struct InitSentSa {
    pub(super) offered: Vec<Phase1Suite>,
    pub(super) sai_b: Vec<u8>,
}

pub(super) struct InitSentKe {
    pub(super) suite: Phase1Suite,
    pub(super) sai_b: Vec<u8>,
    pub(super) dh: Box<dyn DhPrivate>,
    pub(super) ni: Vec<u8>,
}

/// Phase 1 after the key exchange: keys exist, authentication pending.
pub(super) struct Keyed {
    pub(super) suite: Phase1Suite,
    pub(super) sai_b: Vec<u8>,
    pub(super) keys: Phase1Keys,
    pub(super) iv: Vec<u8>,
    pub(super) gxi: Vec<u8>,
    pub(super) gxr: Vec<u8>,
}

pub(super) struct Established {
    pub(super) keys: Phase1Keys,
    /// The last CBC block of phase 1, the seed of every phase-2 IV.
    pub(super) p1_last: Vec<u8>,
    pub(super) _auth: PeerAuthenticated,
    pub(super) dpd_seq: u32,
}

pub(super) enum State {
    RespAwaitKe(Box<RespAwaitKe>),
    RespAwaitAuth(Box<Keyed>),
    InitSentSa(Box<InitSentSa>),
    InitSentKe(Box<InitSentKe>),
    InitSentAuth(Box<Keyed>),
    /// Aggressive Mode responder: second message sent, HASH_I pending.
    RespAwaitAm3(Box<Keyed>, Vec<u8>),
    /// Aggressive Mode initiator: first message sent (with our IDii_b).
    InitSentAm1(Box<InitSentKe>, Vec<u8>, Vec<Phase1Suite>),
    Established(Box<Established>),
}

pub(super) enum QmState {
    /// Responder: second message sent, the SA is already reported up.
    RespAwait3 { inbound: esp::Spi },
    /// Initiator: first message sent.
    InitSent1 {
        dh: Option<Box<dyn DhPrivate>>,
        our_spi: [u8; 4],
        rekey: bool,
        /// What we offered (the answer's lifetime is held to it).
        offers: Vec<EspOffer>,
        /// IDci, IDcr as we sent them.
        ids: (IdPayload, IdPayload),
    },
    /// Finished (kept to recognise retransmissions).
    Done,
}

pub(super) struct QuickMode {
    pub(super) iv: Vec<u8>,
    pub(super) ni: Vec<u8>,
    pub(super) nr: Vec<u8>,
    pub(super) deadline: Instant,
    pub(super) last_request: Option<Vec<u8>>,
    pub(super) last_response: Option<Vec<u8>>,
    pub(super) pending: Option<Pending>,
    pub(super) state: QmState,
}

pub(super) struct Child {
    pub(super) inbound: esp::Spi,
    pub(super) outbound: esp::Spi,
    pub(super) expires: Instant,
    /// When to start a Quick Mode rekey (initiator: the profile's fraction; responder:
    /// [`RESPONDER_REKEY_FRACTION`] with `Config::responder_rekey`). Cleared once the
    /// SA is replaced or a rekey of it has started.
    pub(super) rekey_at: Option<Instant>,
    /// A newer ESP SA of the same peer replaced it, or our rekey of it is under way:
    /// it is never rekeyed again.
    pub(super) replaced: bool,
    /// What was negotiated, for a rekey we start: the same suite, lifetimes, mode and
    /// PFS group, and the traffic selectors the other way round.
    pub(super) terms: ChildTerms,
}

/// The negotiated terms of an ESP SA pair, as a rekey offers them again.
#[derive(Clone)]
pub(super) struct ChildTerms {
    pub(super) suite: esp::Suite,
    pub(super) mode: EncapsulationMode,
    pub(super) pfs: Option<DhGroup>,
    pub(super) lifetime: Duration,
    pub(super) life_kb: Option<u64>,
    /// The traffic selectors as IDci, IDcr of the exchange that made it (absent when
    /// that exchange carried none).
    pub(super) ids: Option<(IdPayload, IdPayload)>,
    /// We initiated that exchange.
    pub(super) we_initiated: bool,
}

pub(super) struct IkeSa {
    pub(super) id: IkeSaId,
    pub(super) role: Role,
    pub(super) path: Path,
    pub(super) first_path: Path,
    pub(super) icookie: Cookie,
    pub(super) rcookie: Cookie,
    pub(super) vendor: PeerVendor,
    pub(super) state: State,
    pub(super) dead: bool,
    pub(super) last_request: Option<Vec<u8>>,
    pub(super) last_response: Option<Vec<u8>>,
    pub(super) pending: Option<Pending>,
    pub(super) half_open_deadline: Option<Instant>,
    pub(super) expires: Option<Instant>,
    pub(super) udp_encap: bool,
    pub(super) quick: HashMap<u32, QuickMode>,
    pub(super) children: Vec<Child>,
    pub(super) profile: Option<Box<Profile>>,
    pub(super) psk: Option<Psk>,
    pub(super) peer_id: Option<IdPayload>,
    /// Quick Modes whose first message had the commit bit set.
    pub(super) commit_mids: Vec<u32>,
    /// The latest Quick Mode message IDs, both directions ([`REMEMBERED_MIDS`]).
    pub(super) mids: VecDeque<u32>,
    /// Deleted by the peer but kept for its ESP SAs until they go.
    pub(super) orphaned: bool,
    /// Initiator: when to start a new Main Mode (soft lifetime with jitter).
    pub(super) rekey_ike_at: Option<Instant>,
    /// Initiator: the third Aggressive Mode message, resent with the first Quick Mode's
    /// retransmissions (nothing else acknowledges it).
    pub(super) am3: Option<Vec<u8>>,
    /// When to send the next R-U-THERE, and how many are unanswered.
    pub(super) dpd_next: Option<Instant>,
    pub(super) dpd_unanswered: u32,
    /// Initiator behind NAT: when to send the next NAT keepalive.
    pub(super) keepalive_next: Option<Instant>,
    /// The CA DNs (DER; empty: any CA) the peer asked certificates for, bounded by
    /// `CertLimits::max_certreqs`.
    pub(super) peer_certreqs: Vec<Vec<u8>>,
    /// The subject of the peer's verified certificate.
    pub(super) peer_cert: Option<String>,
}

impl IkeSa {
    pub(super) fn new(
        id: IkeSaId,
        role: Role,
        path: Path,
        icookie: Cookie,
        rcookie: Cookie,
    ) -> Self {
        Self {
            id,
            role,
            path,
            first_path: path,
            icookie,
            rcookie,
            vendor: PeerVendor::default(),
            state: State::InitSentSa(Box::new(InitSentSa {
                offered: Vec::new(),
                sai_b: Vec::new(),
            })),
            dead: false,
            last_request: None,
            last_response: None,
            pending: None,
            half_open_deadline: None,
            expires: None,
            udp_encap: false,
            quick: HashMap::new(),
            children: Vec::new(),
            profile: None,
            psk: None,
            peer_id: None,
            commit_mids: Vec::new(),
            mids: VecDeque::new(),
            orphaned: false,
            rekey_ike_at: None,
            am3: None,
            dpd_next: None,
            dpd_unanswered: 0,
            keepalive_next: None,
            peer_certreqs: Vec::new(),
            peer_cert: None,
        }
    }

    pub(super) fn is_established(&self) -> bool {
        matches!(self.state, State::Established(_))
    }

    /// Remembers a Quick Mode message ID (see [`REMEMBERED_MIDS`]).
    pub(super) fn remember_mid(&mut self, mid: u32) {
        if self.mids.contains(&mid) {
            return;
        }
        if self.mids.len() >= REMEMBERED_MIDS {
            self.mids.pop_front();
        }
        self.mids.push_back(mid);
    }

    /// Marks every ESP SA of this ISAKMP SA other than `except` replaced: a newer pair
    /// of the same peer is up, so no rekey of them is due.
    pub(super) fn replace_children(&mut self, except: esp::Spi) {
        for c in self.children.iter_mut().filter(|c| c.inbound != except) {
            c.replaced = true;
            c.rekey_at = None;
        }
    }

    pub(super) fn next_timeout(&self) -> Option<Instant> {
        let mut t: Vec<Instant> = Vec::new();
        t.extend(self.pending.as_ref().map(|p| p.next));
        if !self.is_established() {
            t.extend(self.half_open_deadline);
        }
        t.extend(self.expires);
        t.extend(self.rekey_ike_at);
        if !self.orphaned {
            t.extend(self.dpd_next);
            t.extend(self.keepalive_next);
        }
        for q in self.quick.values() {
            t.push(q.deadline);
            t.extend(q.pending.as_ref().map(|p| p.next));
        }
        for c in &self.children {
            t.push(c.expires);
            t.extend(c.rekey_at);
        }
        t.into_iter().min()
    }
}

impl Endpoint {
    pub(super) fn sa_timers(&mut self, now: Instant, sa: &mut IkeSa) {
        // Phase-1 retransmission (initiator).
        if let Some(p) = &mut sa.pending
            && now >= p.next
        {
            if p.sends >= self.config.retransmit.tries {
                sa.pending = None;
                sa.dead = true;
                self.events.push_back(Event::IkeSaDown {
                    ike: sa.id,
                    path: sa.path,
                    reason: DownReason::Timeout,
                });
                self.events.push_back(Event::PeerGone { path: sa.path });
                return;
            }
            p.sends += 1;
            p.timeout *= 2;
            p.next = now + p.timeout;
            let (path, bytes) = (p.path, p.bytes.clone());
            self.stats.retransmits_sent += 1;
            self.send(path, bytes);
        }
        if !sa.is_established()
            && let Some(d) = sa.half_open_deadline
            && now >= d
        {
            sa.dead = true;
            if sa.role == Role::Initiator {
                self.events.push_back(Event::IkeSaDown {
                    ike: sa.id,
                    path: sa.path,
                    reason: DownReason::Timeout,
                });
            }
            return;
        }
        if sa.orphaned && sa.children.is_empty() {
            sa.dead = true;
            return;
        }
        if let Some(e) = sa.expires
            && now >= e
        {
            // The ISAKMP SA ends; its ESP SAs run to their own lifetimes (RFC 2409),
            // since a peer may still be using ones it negotiated just before.
            //
            // As responder we delete it, with a DELETE while its keys are still good,
            // instead of starting a Main Mode rekey: a Main Mode we start would go to
            // the client's port 500 (through its NAT it reaches nobody: Openswan's
            // "T7616 ikev2 responder rekey" stopped doing it for that reason) and could
            // not re-authenticate the PPP user anyway. The client re-authenticates
            // with its own Main Mode when it next needs a Quick Mode; one that never
            // does loses its ESP SAs at their hard lifetime. As initiator the Main Mode
            // rekey (`rekey_ike_at`) has replaced it before this point.
            sa.expires = None;
            if sa.role == Role::Responder && sa.is_established() && !sa.orphaned {
                tracing::debug!(peer = %sa.path.remote, "ISAKMP SA lifetime over: deleting it");
                let d = Payload::Delete(DeletePayload {
                    doi: DOI_IPSEC,
                    protocol: ProtocolId::Isakmp,
                    spi_size: 16,
                    spis: vec![[sa.icookie.0, sa.rcookie.0].concat()],
                });
                self.send_informational(sa, &[d]);
            }
            if sa.is_established() && !sa.orphaned {
                self.events.push_back(Event::IkeSaDown {
                    ike: sa.id,
                    path: sa.path,
                    reason: DownReason::Expired,
                });
            }
            self.by_cookies.remove(&(sa.icookie, sa.rcookie));
            sa.orphaned = true;
            if sa.children.is_empty() {
                sa.dead = true;
            }
            return;
        }
        if let (Some(next), Some(interval)) = (sa.dpd_next, self.config.dpd_interval)
            && now >= next
            && !sa.orphaned
        {
            if sa.dpd_unanswered >= self.config.dpd_max_unanswered {
                tracing::debug!(peer = %sa.path.remote, "DPD: peer gone");
                self.events.push_back(Event::PeerGone { path: sa.path });
                self.kill(sa, DownReason::Timeout);
                return;
            }
            sa.dpd_unanswered += 1;
            sa.dpd_next = Some(now + interval);
            self.send_r_u_there(sa);
        }
        if let (Some(next), Some(interval)) = (sa.keepalive_next, self.config.nat_keepalive)
            && now >= next
        {
            sa.keepalive_next = if sa.orphaned {
                None
            } else {
                Some(now + interval)
            };
            // RFC 3948 §2.3: a single 0xFF byte, never with the non-ESP marker.
            self.stats.tx += 1;
            self.outbox.push_back((
                super::Transmit {
                    path: sa.path,
                    non_esp_marker: false,
                },
                vec![0xff],
            ));
        }
        // Initiator: a new Main Mode at the soft lifetime, without interrupting traffic.
        if let Some(r) = sa.rekey_ike_at
            && now >= r
        {
            sa.rekey_ike_at = None;
            if let Some(profile) = sa.profile.clone() {
                let mut profile = *profile;
                profile.initial_contact = false;
                if let Err(e) = self.connect(now, sa.first_path, profile) {
                    tracing::debug!(error = %e, "Main Mode rekey not started");
                }
            }
        }
        self.quick_mode_timers(now, sa);
        // ESP lifetimes and initiator rekeys.
        let mut i = 0;
        while i < sa.children.len() {
            let c = &mut sa.children[i];
            if now >= c.expires {
                let c = sa.children.remove(i);
                self.events.push_back(Event::ChildSaDown {
                    ike: sa.id,
                    inbound_spi: c.inbound,
                    outbound_spi: c.outbound,
                    reason: DownReason::Expired,
                });
                continue;
            }
            if let Some(r) = c.rekey_at
                && now >= r
            {
                c.rekey_at = None;
                if !sa.orphaned && !c.replaced {
                    let inbound = c.inbound;
                    self.rekey_child_of(now, sa, inbound);
                }
            }
            i += 1;
        }
    }

    /// Ends an ISAKMP SA and all its ESP SAs (events, no messages).
    pub(super) fn kill(&mut self, sa: &mut IkeSa, reason: DownReason) {
        for c in sa.children.drain(..) {
            self.events.push_back(Event::ChildSaDown {
                ike: sa.id,
                inbound_spi: c.inbound,
                outbound_spi: c.outbound,
                reason,
            });
        }
        if !sa.orphaned && (sa.is_established() || sa.role == Role::Initiator) {
            self.events.push_back(Event::IkeSaDown {
                ike: sa.id,
                path: sa.path,
                reason,
            });
        }
        sa.dead = true;
    }
}
