//! Quick Mode (RFC 2409 §5.5), both roles, transport mode for L2TP (UDP 1701), with
//! UDP-Encapsulated-Transport and NAT-OA (RFC 3947 §5), optional PFS, the commit bit.
//!
//! ```text
//! Initiator                                   Responder
//! HDR*, HASH(1), SA, Ni [, KE] [, IDci, IDcr] [, NAT-OAi, NAT-OAr] -->
//!            <-- HDR*, HASH(2), SA, Nr [, KE] [, IDci, IDcr] [, NAT-OAi, NAT-OAr]
//! HDR*, HASH(3)                                -->
//!            <-- HDR*, HASH(4), N(CONNECTED)   (only when the commit bit was set)
//! ```

use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::sa::{
    Child, ChildTerms, IkeSa, Pending, QmState, QuickMode, RESPONDER_REKEY_FRACTION, Role, State,
    after,
};
use super::{
    ChildSa, DownReason, Endpoint, Event, Path, checked_chain, hashed_chain, header_for, open, seal,
};
use crate::crypto::DhGroup;
use crate::crypto::Secret;
use crate::crypto::keys::{self, KeymatInput};
use crate::error::{Error, PeerMisbehaved};
use crate::msgs::vendor::NattVersion;
use crate::msgs::{
    Attribute, Chain, DOI_IPSEC, EncapsulationMode, ExchangeType, Flags, Header, IdPayload,
    IpsecAttr, LifeType, NatOaPayload, NotifyPayload, NotifyType, Payload, PayloadType, ProtocolId,
    SaPayload,
};
use crate::phase1::auth::hash_matches;
use crate::proposal::{self, Encapsulation, EspOffer, Phase2Context, Phase2Suite};

const NONCE_LEN: usize = 32;
/// Most ESP SA pairs one ISAKMP SA may hold (rekeys overlap a few at a time).
const MAX_CHILDREN: usize = 32;
/// How long a Quick Mode is kept at least: the peer's retransmissions of its first
/// message must find it (strongSwan retransmits for 165 s with its defaults).
const QM_RETRANSMIT_WINDOW: Duration = Duration::from_secs(180);
/// L2TP's UDP port, the traffic selector of every child SA.
const L2TP_PORT: u16 = 1701;
const UDP: u8 = 17;

/// What a Quick Mode we start offers.
struct Offer {
    esp: Vec<EspOffer>,
    pfs: Option<DhGroup>,
    mode: EncapsulationMode,
    /// IDci (ours), IDcr (the peer's).
    ids: (IdPayload, IdPayload),
}

struct Parsed {
    sa: Option<SaPayload>,
    nonce: Option<Vec<u8>>,
    ke: Option<Vec<u8>>,
    ids: Vec<IdPayload>,
    nat_oa: Vec<IpAddr>,
}

fn parse_rest(chain: &Chain<'_>) -> Result<Parsed, Error> {
    let mut p = Parsed {
        sa: None,
        nonce: None,
        ke: None,
        ids: Vec::new(),
        nat_oa: Vec::new(),
    };
    for raw in chain.payloads.iter().skip(1) {
        match Payload::decode(raw.ty, raw.body)? {
            Payload::Sa(sa) => p.sa = Some(sa),
            Payload::Nonce(n) => {
                if !(8..=256).contains(&n.len()) {
                    return Err(PeerMisbehaved::BadNonce.into());
                }
                p.nonce = Some(n);
            }
            Payload::Ke(k) => p.ke = Some(k),
            Payload::Id(id) => p.ids.push(id),
            Payload::NatOa { oa, .. } => p.nat_oa.push(oa.addr),
            _ => {}
        }
    }
    if !(p.ids.is_empty() || p.ids.len() == 2) {
        return Err(Error::InvalidIdInformation);
    }
    Ok(p)
}

/// The HASH leading a phase-2 chain and the bytes it covers (the rest of the
/// message without padding).
fn hash_and_rest<'a>(chain: &Chain<'_>, plain: &'a [u8]) -> Result<(&'a [u8], &'a [u8]), Error> {
    let first = chain
        .payloads
        .first()
        .filter(|p| p.ty == PayloadType::Hash)
        .ok_or(PeerMisbehaved::MissingPayload(PayloadType::Hash))?;
    let hash = plain
        .get(first.offset + 4..first.offset + first.whole.len())
        .unwrap_or_default();
    let rest_start = chain.payloads.get(1).map_or(chain.end, |p| p.offset);
    Ok((hash, plain.get(rest_start..chain.end).unwrap_or_default()))
}

impl Endpoint {
    /// A random inbound SPI (≥ 256, RFC 4303) not used by any of our ESP SAs.
    fn fresh_spi(&mut self, sa: &IkeSa) -> [u8; 4] {
        loop {
            let v = self.rng.next_u32();
            let used = |s: &IkeSa| s.children.iter().any(|c| c.inbound.0 == v);
            if v >= 0x100 && !used(sa) && !self.sas.values().any(used) {
                return v.to_be_bytes();
            }
        }
    }
}

impl Endpoint {
    pub(super) fn quick_mode(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        path: Path,
        data: &[u8],
        header: &Header,
        body: &[u8],
    ) -> Result<(), Error> {
        let mid = header.message_id.0;
        if mid == 0 {
            return Err(PeerMisbehaved::InvalidMessageId.into());
        }
        if !sa.is_established() {
            return Err(
                PeerMisbehaved::UnexpectedMessage("Quick Mode before Main Mode completed").into(),
            );
        }
        // The path is the one Main Mode proved (RFC 3947 float included). A Quick Mode
        // from anywhere else, even correctly hashed (every user holds the PSK, and a
        // user's own ISAKMP SA is valid), is dropped before any crypto: it would
        // otherwise bind ESP SAs to an address its sender does not own.
        if path != sa.path {
            tracing::debug!(peer = %path.remote, proven = %sa.path.remote, "Quick Mode from another path than its ISAKMP SA's: dropped");
            return Err(PeerMisbehaved::WrongPath.into());
        }
        if let Some(q) = sa.quick.get(&mid) {
            if let (Some(req), Some(resp)) = (&q.last_request, &q.last_response)
                && req.as_slice() == data
            {
                let resp = resp.clone();
                self.stats.retransmits_answered += 1;
                self.send(path, resp);
                return Ok(());
            }
            return match q.state {
                QmState::RespAwait3 { .. } => {
                    self.responder_qm3(now, sa, path, mid, data, header, body)
                }
                QmState::InitSent1 { .. } => self.initiator_qm2(now, sa, mid, data, header, body),
                QmState::Done => {
                    tracing::debug!(peer = %path.remote, mid, "message of a finished Quick Mode: dropped");
                    Err(PeerMisbehaved::ReplayedMessageId.into())
                }
            };
        }
        if sa.mids.contains(&mid) {
            tracing::debug!(peer = %path.remote, mid, "Quick Mode message ID used before on this ISAKMP SA: dropped");
            return Err(PeerMisbehaved::ReplayedMessageId.into());
        }
        self.responder_qm1(now, sa, path, data, header, body)
    }

    fn keymat_params(
        &self,
        sa: &IkeSa,
        suite: &Phase2Suite,
        spi: [u8; 4],
        pfs: Option<&Secret>,
        ni: &[u8],
        nr: &[u8],
    ) -> Option<esp::SaParams> {
        let State::Established(est) = &sa.state else {
            return None;
        };
        let km = keys::keymat(
            self.provider(),
            est.keys.hash,
            &est.keys.skeyid_d,
            &KeymatInput {
                pfs_secret: pfs.map(Secret::as_bytes),
                protocol: ProtocolId::Esp.value(),
                spi,
                ni,
                nr,
            },
            suite.suite.keymat_len(),
        );
        esp::SaParams::from_keymat(
            esp::Spi(u32::from_be_bytes(spi)),
            suite.suite,
            esp::Mode::Transport,
            km.as_bytes(),
        )
        .ok()
        .map(|p| p.with_lifetime(esp::Lifetime::from_kilobytes(suite.life_kb)))
    }

    fn nat_oa_payloads(
        &self,
        sa: &IkeSa,
        initiator_addr: IpAddr,
        responder_addr: IpAddr,
    ) -> Vec<Payload> {
        let draft = sa.vendor.natt == Some(NattVersion::Draft);
        vec![
            Payload::NatOa {
                draft,
                oa: NatOaPayload {
                    addr: initiator_addr,
                },
            },
            Payload::NatOa {
                draft,
                oa: NatOaPayload {
                    addr: responder_addr,
                },
            },
        ]
    }

    fn responder_qm1(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        path: Path,
        data: &[u8],
        header: &Header,
        body: &[u8],
    ) -> Result<(), Error> {
        let mid = header.message_id.0;
        let State::Established(est) = &sa.state else {
            return Ok(());
        };
        if sa.quick.len() >= 16 {
            return Err(Error::LimitExceeded("concurrent Quick Modes"));
        }
        if sa.children.len() >= MAX_CHILDREN {
            return Err(Error::LimitExceeded("ESP SAs per ISAKMP SA"));
        }
        let p = self.provider();
        let iv = keys::phase2_iv(p, est.keys.hash, est.keys.cipher, &est.p1_last, mid);
        let (plain, mut iv) = open(p, &est.keys, &iv, header, body)?;
        let chain = checked_chain(header.next_payload, &plain)?;
        let (hash, rest) = hash_and_rest(&chain, &plain)?;
        let expected = p.prf(
            est.keys.hash,
            est.keys.skeyid_a.as_bytes(),
            &[&mid.to_be_bytes(), rest],
        );
        if !hash_matches(&expected, hash) {
            return Err(PeerMisbehaved::BadHash.into());
        }
        let parsed = parse_rest(&chain)?;
        let offer = parsed
            .sa
            .ok_or(PeerMisbehaved::MissingPayload(PayloadType::Sa))?;
        let ni = parsed
            .nonce
            .ok_or(PeerMisbehaved::MissingPayload(PayloadType::Nonce))?;
        let choice = match proposal::select_phase2(
            &self.config,
            Phase2Context {
                udp_encap: sa.udp_encap,
            },
            &offer,
        ) {
            Ok(c) => c,
            Err(e) => {
                tracing::info!(peer = %path.remote, "no acceptable Quick Mode proposal");
                self.send_notify(
                    sa,
                    NotifyType::NoProposalChosen,
                    ProtocolId::Esp,
                    Vec::new(),
                );
                return Err(e);
            }
        };
        let mut suite = choice.suite;
        let est_hash = est.keys.hash;
        let mut rest_out: Vec<Payload> = Vec::new();
        let our_spi = self.fresh_spi(sa);
        let mut proposal_out = choice.proposal.clone();
        proposal_out.spi = our_spi.to_vec();
        rest_out.push(Payload::Sa(SaPayload {
            doi: DOI_IPSEC,
            situation: offer.situation,
            proposals: vec![proposal_out],
        }));
        let nr = self.random_vec(NONCE_LEN);
        rest_out.push(Payload::Nonce(nr.clone()));
        let pfs_secret = match (suite.pfs, &parsed.ke) {
            (Some(g), Some(ke)) => {
                if ke.len() != g.public_len() {
                    return Err(PeerMisbehaved::BadKeLength.into());
                }
                // The peer's value first (cheap), then the budget: an authenticated
                // peer's PFS draws on the share kept for established SAs.
                p.dh_check(g, ke).map_err(Error::InvalidKeyInformation)?;
                if !self.spend(
                    now,
                    super::admission::Class::Established,
                    2 * g.cost(),
                    path,
                ) {
                    return Err(Error::LimitExceeded("expensive operations per second"));
                }
                let dh = p.dh_generate(g, &mut self.rng);
                let s = dh.agree(ke).map_err(Error::InvalidKeyInformation)?;
                rest_out.push(Payload::Ke(dh.public().to_vec()));
                Some(s)
            }
            (None, None) => None,
            (Some(_), None) => return Err(PeerMisbehaved::MissingPayload(PayloadType::Ke).into()),
            (None, Some(_)) => {
                return Err(PeerMisbehaved::UnexpectedMessage("KE without a PFS group").into());
            }
        };
        for id in &parsed.ids {
            rest_out.push(Payload::Id(id.clone()));
        }
        if suite.encapsulation == Encapsulation::UdpTransport && !parsed.nat_oa.is_empty() {
            rest_out.extend(self.nat_oa_payloads(sa, sa.path.remote.ip(), sa.path.local.ip()));
        }
        if suite.lifetime > self.config.child_lifetime_max {
            suite.lifetime = self.config.child_lifetime_max;
            let secs = u32::try_from(suite.lifetime.as_secs()).unwrap_or(u32::MAX);
            let mut attrs = Vec::new();
            crate::msgs::sa::encode_attributes(
                &[
                    Attribute::short(IpsecAttr::LifeType.value(), LifeType::Seconds.value()),
                    Attribute::number(IpsecAttr::LifeDuration.value(), secs),
                ],
                &mut wire::Writer::new(&mut attrs),
            );
            rest_out.push(Payload::Notify(NotifyPayload {
                doi: DOI_IPSEC,
                protocol: ProtocolId::Esp,
                notify_type: NotifyType::ResponderLifetime,
                spi: choice.peer_spi.to_vec(),
                data: attrs,
            }));
        }
        let ska = est.keys.skeyid_a.clone();
        let chain_out = hashed_chain(&rest_out, |r| {
            p.prf(est_hash, ska.as_bytes(), &[&mid.to_be_bytes(), &ni, r])
        });
        let out = seal(
            p,
            &est.keys,
            &mut iv,
            header_for(sa, ExchangeType::QuickMode, mid),
            PayloadType::Hash,
            &chain_out,
        );
        let inbound = self.keymat_params(sa, &suite, our_spi, pfs_secret.as_ref(), &ni, &nr);
        let outbound =
            self.keymat_params(sa, &suite, choice.peer_spi, pfs_secret.as_ref(), &ni, &nr);
        let (Some(inbound), Some(outbound)) = (inbound, outbound) else {
            return Err(Error::Unsupported("ESP key material"));
        };
        let in_spi = inbound.spi;
        let rekey = !sa.children.is_empty();
        let child = ChildSa {
            ike: sa.id,
            path: sa.path,
            inbound,
            outbound,
            encapsulation: suite.encapsulation,
            nat_oa: parsed.nat_oa.first().copied(),
            peer_id: sa.peer_id.clone(),
            peer_ts: parsed.ids.first().cloned(),
            lifetime: suite.lifetime,
            life_kb: suite.life_kb,
            rekey,
        };
        let rekey_at = self.child_rekey_at(now, sa, suite.lifetime);
        sa.children.push(Child {
            inbound: in_spi,
            outbound: child.outbound.spi,
            expires: after(now, suite.lifetime),
            rekey_at,
            replaced: false,
            terms: ChildTerms {
                suite: suite.suite,
                mode: suite.mode_value,
                pfs: suite.pfs,
                lifetime: suite.lifetime,
                life_kb: suite.life_kb,
                ids: match parsed.ids.as_slice() {
                    [i, r] => Some((i.clone(), r.clone())),
                    _ => None,
                },
                we_initiated: false,
            },
        });
        sa.remember_mid(mid);
        sa.quick.insert(
            mid,
            QuickMode {
                iv,
                ni,
                nr,
                // Kept while the initiator may still retransmit its first message
                // (ours gives up after 63 s, strongSwan after 165 s): a message ID is
                // never accepted twice, so a retransmission that came after the
                // exchange is forgotten would be refused as a replay.
                deadline: after(now, self.qm_deadline()),
                last_request: Some(data.to_vec()),
                last_response: Some(out.clone()),
                // QM2 is resent until QM3 arrives: an initiator answers a repeated QM2
                // with its QM3 again, so a lost QM3 costs one round trip, not the pair.
                pending: Some(Pending {
                    bytes: out.clone(),
                    path: sa.path,
                    sends: 1,
                    next: after(now, self.config.retransmit.initial),
                    timeout: self.config.retransmit.initial,
                }),
                state: QmState::RespAwait3 { inbound: in_spi },
            },
        );
        if header.flags.commit() {
            // Answer HASH(3) with CONNECTED (RFC 2408 §3.1 commit bit).
            sa.commit_mids.push(mid);
        }
        self.stats.child_sas_established += 1;
        self.send(sa.path, out);
        self.events.push_back(Event::ChildSaUp(child));
        Ok(())
    }

    #[allow(clippy::too_many_arguments, reason = "the message and its parts")]
    fn responder_qm3(
        &mut self,
        _now: Instant,
        sa: &mut IkeSa,
        path: Path,
        mid: u32,
        data: &[u8],
        header: &Header,
        body: &[u8],
    ) -> Result<(), Error> {
        let State::Established(est) = &sa.state else {
            return Ok(());
        };
        let Some(q) = sa.quick.get(&mid) else {
            return Ok(());
        };
        let p = self.provider();
        let (plain, mut iv) = open(p, &est.keys, &q.iv, header, body)?;
        let chain = checked_chain(header.next_payload, &plain)?;
        let (hash, _) = hash_and_rest(&chain, &plain)?;
        let nr = q.nr.clone();
        let expected = p.prf(
            est.keys.hash,
            est.keys.skeyid_a.as_bytes(),
            &[&[0], &mid.to_be_bytes(), &q.ni, &nr],
        );
        if !hash_matches(&expected, hash) {
            return Err(PeerMisbehaved::BadHash.into());
        }
        let mut resp = None;
        if let Some(pos) = sa.commit_mids.iter().position(|m| *m == mid) {
            sa.commit_mids.remove(pos);
            let State::Established(est) = &sa.state else {
                return Ok(());
            };
            let rest = [Payload::Notify(NotifyPayload {
                doi: DOI_IPSEC,
                protocol: ProtocolId::Esp,
                notify_type: NotifyType::Connected,
                spi: Vec::new(),
                data: Vec::new(),
            })];
            let ska = est.keys.skeyid_a.clone();
            let h = est.keys.hash;
            let chain_out = hashed_chain(&rest, |r| {
                p.prf(h, ska.as_bytes(), &[&mid.to_be_bytes(), r])
            });
            let mut hdr = header_for(sa, ExchangeType::QuickMode, mid);
            hdr.flags = Flags(Flags::COMMIT);
            resp = Some(seal(
                p,
                &est.keys,
                &mut iv,
                hdr,
                PayloadType::Hash,
                &chain_out,
            ));
        }
        if let Some(QuickMode {
            state: QmState::RespAwait3 { inbound },
            ..
        }) = sa.quick.get(&mid)
        {
            // The new pair is confirmed: the peer's older ones are replaced.
            let inbound = *inbound;
            sa.replace_children(inbound);
            self.replace_peer_children(sa);
        }
        if let Some(q) = sa.quick.get_mut(&mid) {
            q.state = QmState::Done;
            q.pending = None;
            q.iv = iv;
            q.last_request = Some(data.to_vec());
            q.last_response = resp.clone();
        }
        if let Some(out) = resp {
            self.send(path, out);
        }
        Ok(())
    }

    /// How long an unfinished Quick Mode (and a finished one, for retransmissions) is
    /// kept, either role.
    fn qm_deadline(&self) -> Duration {
        self.config
            .limits
            .half_open_timeout
            .max(QM_RETRANSMIT_WINDOW)
    }

    /// Starts a Quick Mode as initiator after Main Mode, offering the profile's ESP
    /// transforms.
    pub(super) fn start_quick_mode(&mut self, now: Instant, sa: &mut IkeSa, rekey: bool) {
        if let Some(offer) = Self::profile_offer(sa) {
            self.start_quick_mode_with(now, sa, rekey, offer);
        }
    }

    /// The offer of an initiator with a profile: its ESP transforms and PFS group, our
    /// address and the peer's as traffic selectors.
    fn profile_offer(sa: &IkeSa) -> Option<Offer> {
        let profile = sa.profile.as_ref()?;
        let mode = if !sa.udp_encap {
            EncapsulationMode::Transport
        } else if sa.vendor.natt == Some(NattVersion::Draft) {
            EncapsulationMode::UdpTransportDraft
        } else {
            EncapsulationMode::UdpTransport
        };
        Some(Offer {
            esp: profile.esp.clone(),
            pfs: profile.pfs,
            mode,
            ids: (
                IdPayload::address(sa.path.local.ip(), UDP, L2TP_PORT),
                IdPayload::address(sa.path.remote.ip(), UDP, L2TP_PORT),
            ),
        })
    }

    /// The offer that rekeys an ESP SA whose exchange the peer started: exactly what
    /// was negotiated (suite, lifetimes, encapsulation value, PFS group), with the
    /// peer's traffic selectors the other way round.
    fn terms_offer(sa: &IkeSa, t: &ChildTerms) -> Offer {
        let ids = match (&t.ids, t.we_initiated) {
            (Some((i, r)), true) => (i.clone(), r.clone()),
            (Some((i, r)), false) => (r.clone(), i.clone()),
            (None, _) => (
                IdPayload::address(sa.path.local.ip(), UDP, L2TP_PORT),
                IdPayload::address(sa.path.remote.ip(), UDP, L2TP_PORT),
            ),
        };
        Offer {
            esp: vec![EspOffer {
                suite: t.suite,
                lifetime: t.lifetime,
                life_kb: t.life_kb.map(|kb| u32::try_from(kb).unwrap_or(u32::MAX)),
            }],
            pfs: t.pfs,
            mode: t.mode,
            ids,
        }
    }

    /// When a new ESP SA of `sa` is due for our rekey: as initiator at the profile's
    /// fraction of its lifetime, less up to 5 % jitter; as responder, with
    /// `Config::responder_rekey`, at [`RESPONDER_REKEY_FRACTION`], after every
    /// ordinary client has rekeyed it itself.
    fn child_rekey_at(&mut self, now: Instant, sa: &IkeSa, lifetime: Duration) -> Option<Instant> {
        match sa.role {
            Role::Initiator => {
                let fraction = sa.profile.as_ref().map_or(0.9, |pr| pr.rekey_fraction);
                // Jitter: up to 5 % of the lifetime earlier, so many clients do not
                // rekey at once.
                let jitter =
                    lifetime.mul_f64(0.05 * f64::from(self.rng.next_u32() % 1000) / 1000.0);
                let at = lifetime.mul_f64(fraction.clamp(0.0, 1.0));
                Some(after(now, at.saturating_sub(jitter)))
            }
            Role::Responder => self
                .config
                .responder_rekey
                .then(|| after(now, lifetime.mul_f64(RESPONDER_REKEY_FRACTION))),
        }
    }

    /// Marks the ESP SAs of the peer's other ISAKMP SAs (same identity, same proven
    /// path: a Main Mode rekey or re-authentication) replaced by the newest pair of
    /// `sa`, so that no rekey of them is started.
    fn replace_peer_children(&mut self, sa: &IkeSa) {
        let Some(id) = &sa.peer_id else {
            return;
        };
        for o in self
            .sas
            .values_mut()
            .filter(|o| o.peer_id.as_ref() == Some(id) && o.path.remote == sa.path.remote)
        {
            o.replace_children(esp::Spi(0));
        }
    }

    /// Starts a Quick Mode rekey as initiator of the ESP SA pair whose inbound SPI
    /// (ours) is `inbound_spi`, on the ISAKMP SA that negotiated it; the old pair stays
    /// until it expires or is deleted, so traffic moves over without a gap (the new
    /// [`Event::ChildSaUp`] has `rekey` set: switch outbound traffic to it after its
    /// first inbound packet).
    ///
    /// For the gateway core: call it once when either half of the pair reports
    /// `esp::Expiry::Soft` (kilobytes, packets, the 3DES cap or a sequence counter near
    /// its end); the time-based soft lifetime is the engine's own timer. Returns true
    /// when a rekey was started now or the pair is already replaced or being rekeyed;
    /// false when it cannot be (no such pair, or its ISAKMP SA is deleted, expired or
    /// not established: the peer must start a new Main Mode). As a responder the offer
    /// is exactly what the client negotiated, with its traffic selectors reversed.
    pub fn rekey_child(&mut self, now: Instant, inbound_spi: esp::Spi) -> bool {
        let Some(id) = self
            .sas
            .values()
            .find(|s| s.children.iter().any(|c| c.inbound == inbound_spi))
            .map(|s| s.id)
        else {
            return false;
        };
        let Some(mut sa) = self.sas.remove(&id) else {
            return false;
        };
        let started = self.rekey_child_of(now, &mut sa, inbound_spi);
        self.reinsert(sa);
        started
    }

    /// [`Self::rekey_child`] on an ISAKMP SA already taken out of the table.
    pub(super) fn rekey_child_of(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        inbound_spi: esp::Spi,
    ) -> bool {
        if sa.orphaned || sa.dead || !sa.is_established() {
            return false;
        }
        let Some(c) = sa.children.iter_mut().find(|c| c.inbound == inbound_spi) else {
            return false;
        };
        if c.replaced {
            return true;
        }
        c.replaced = true;
        c.rekey_at = None;
        let terms = c.terms.clone();
        let offer = match Self::profile_offer(sa) {
            Some(o) if sa.role == Role::Initiator => o,
            _ => Self::terms_offer(sa, &terms),
        };
        tracing::debug!(peer = %sa.path.remote, spi = %inbound_spi, "starting a Quick Mode rekey");
        self.start_quick_mode_with(now, sa, true, offer)
    }

    /// Starts a Quick Mode as initiator with `offer`. False if the ISAKMP SA has no
    /// keys.
    fn start_quick_mode_with(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        rekey: bool,
        offer: Offer,
    ) -> bool {
        let State::Established(est) = &sa.state else {
            return false;
        };
        let p = self.provider();
        let mut mid = 0;
        while mid == 0 || sa.quick.contains_key(&mid) || sa.mids.contains(&mid) {
            mid = self.rng.next_u32();
        }
        let mut iv = keys::phase2_iv(p, est.keys.hash, est.keys.cipher, &est.p1_last, mid);
        let our_spi = self.fresh_spi(sa);
        let ni = self.random_vec(NONCE_LEN);
        let mut rest = vec![
            Payload::Sa(proposal::phase2_offer(
                &offer.esp, our_spi, offer.mode, offer.pfs,
            )),
            Payload::Nonce(ni.clone()),
        ];
        let dh = offer.pfs.map(|g| {
            // Our own work: counted against the budget, never refused.
            self.spend_anyway(now, g.cost());
            p.dh_generate(g, &mut self.rng)
        });
        if let Some(dh) = &dh {
            rest.push(Payload::Ke(dh.public().to_vec()));
        }
        rest.push(Payload::Id(offer.ids.0.clone()));
        rest.push(Payload::Id(offer.ids.1.clone()));
        if sa.udp_encap {
            rest.extend(self.nat_oa_payloads(sa, sa.path.local.ip(), sa.path.remote.ip()));
        }
        let ska = est.keys.skeyid_a.clone();
        let h = est.keys.hash;
        let chain = hashed_chain(&rest, |r| {
            p.prf(h, ska.as_bytes(), &[&mid.to_be_bytes(), r])
        });
        let out = seal(
            p,
            &est.keys,
            &mut iv,
            header_for(sa, ExchangeType::QuickMode, mid),
            PayloadType::Hash,
            &chain,
        );
        let timeout = self.config.retransmit.initial;
        sa.remember_mid(mid);
        sa.quick.insert(
            mid,
            QuickMode {
                iv,
                ni,
                nr: Vec::new(),
                deadline: after(now, self.qm_deadline()),
                last_request: None,
                last_response: None,
                pending: Some(Pending {
                    bytes: out.clone(),
                    path: sa.path,
                    sends: 1,
                    next: after(now, timeout),
                    timeout,
                }),
                state: QmState::InitSent1 {
                    dh,
                    our_spi,
                    rekey,
                    offers: offer.esp,
                    ids: offer.ids,
                },
            },
        );
        let path = sa.path;
        self.send(path, out);
        true
    }

    fn initiator_qm2(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        mid: u32,
        data: &[u8],
        header: &Header,
        body: &[u8],
    ) -> Result<(), Error> {
        let State::Established(est) = &sa.state else {
            return Ok(());
        };
        let Some(q) = sa.quick.get(&mid) else {
            return Ok(());
        };
        let QmState::InitSent1 {
            dh,
            our_spi,
            rekey,
            offers,
            ids,
        } = &q.state
        else {
            return Ok(());
        };
        let p = self.provider();
        let (plain, mut iv) = open(p, &est.keys, &q.iv, header, body)?;
        let chain = checked_chain(header.next_payload, &plain)?;
        let (hash, rest) = hash_and_rest(&chain, &plain)?;
        let expected = p.prf(
            est.keys.hash,
            est.keys.skeyid_a.as_bytes(),
            &[&mid.to_be_bytes(), &q.ni, rest],
        );
        if !hash_matches(&expected, hash) {
            return Err(PeerMisbehaved::BadHash.into());
        }
        let parsed = parse_rest(&chain)?;
        let reply = parsed
            .sa
            .ok_or(PeerMisbehaved::MissingPayload(PayloadType::Sa))?;
        let nr = parsed
            .nonce
            .ok_or(PeerMisbehaved::MissingPayload(PayloadType::Nonce))?;
        let choice = proposal::accept_phase2_reply(
            &self.config,
            Phase2Context {
                udp_encap: sa.udp_encap,
            },
            &reply,
        )?;
        let mut suite = choice.suite;
        // The answer's lifetime is the responder's to choose, but never longer than we
        // offered or accept: a value near 2^64 s must not reach `now + lifetime`.
        let offered = offers
            .iter()
            .find(|o| o.suite == suite.suite)
            .map_or(self.config.child_lifetime_max, |o| o.lifetime);
        suite.lifetime = suite
            .lifetime
            .min(offered)
            .min(self.config.child_lifetime_max);
        let pfs_secret = match (dh, &parsed.ke) {
            (Some(dh), Some(ke)) => {
                let g = suite.pfs.ok_or(PeerMisbehaved::ResponseNotProposed)?;
                p.dh_check(g, ke).map_err(Error::InvalidKeyInformation)?;
                self.spend_anyway(now, g.cost());
                Some(dh.agree(ke).map_err(Error::InvalidKeyInformation)?)
            }
            (None, None) => None,
            _ => return Err(PeerMisbehaved::ResponseNotProposed.into()),
        };
        // RESPONDER-LIFETIME shortens what we proposed.
        for raw in chain
            .payloads
            .iter()
            .skip(1)
            .filter(|r| r.ty == PayloadType::Notify)
        {
            if let Ok(n) = NotifyPayload::decode(raw.body)
                && n.notify_type == NotifyType::ResponderLifetime
                && let Ok(attrs) =
                    crate::msgs::sa::decode_attributes(&mut wire::Reader::new(&n.data))
                && let Some(secs) = attrs
                    .iter()
                    .find(|a| a.ty == IpsecAttr::LifeDuration.value())
                    .and_then(Attribute::as_u64)
            {
                suite.lifetime = suite.lifetime.min(Duration::from_secs(secs));
            }
        }
        let (our_spi, rekey, sent_ids) = (*our_spi, *rekey, ids.clone());
        let ni = q.ni.clone();
        let h = est.keys.hash;
        let ska = est.keys.skeyid_a.clone();
        let h3 = p.prf(h, ska.as_bytes(), &[&[0], &mid.to_be_bytes(), &ni, &nr]);
        let chain_out = crate::endpoint::encode_payloads(&[Payload::Hash(h3.as_bytes().to_vec())]);
        let out = seal(
            p,
            &est.keys,
            &mut iv,
            header_for(sa, ExchangeType::QuickMode, mid),
            PayloadType::Hash,
            &chain_out,
        );
        let inbound = self.keymat_params(sa, &suite, our_spi, pfs_secret.as_ref(), &ni, &nr);
        let outbound =
            self.keymat_params(sa, &suite, choice.peer_spi, pfs_secret.as_ref(), &ni, &nr);
        let (Some(inbound), Some(outbound)) = (inbound, outbound) else {
            return Err(Error::Unsupported("ESP key material"));
        };
        let rekey_at = self.child_rekey_at(now, sa, suite.lifetime);
        let in_spi = inbound.spi;
        sa.children.push(Child {
            inbound: in_spi,
            outbound: outbound.spi,
            expires: after(now, suite.lifetime),
            rekey_at,
            replaced: false,
            terms: ChildTerms {
                suite: suite.suite,
                mode: suite.mode_value,
                pfs: suite.pfs,
                lifetime: suite.lifetime,
                life_kb: suite.life_kb,
                ids: Some(sent_ids),
                we_initiated: true,
            },
        });
        sa.replace_children(in_spi);
        self.replace_peer_children(sa);
        let child = ChildSa {
            ike: sa.id,
            path: sa.path,
            inbound,
            outbound,
            encapsulation: suite.encapsulation,
            nat_oa: None,
            peer_id: sa.peer_id.clone(),
            peer_ts: parsed.ids.get(1).cloned(),
            lifetime: suite.lifetime,
            life_kb: suite.life_kb,
            rekey,
        };
        if let Some(q) = sa.quick.get_mut(&mid) {
            q.state = QmState::Done;
            q.iv = iv;
            q.pending = None;
            q.last_request = Some(data.to_vec());
            q.last_response = Some(out.clone());
        }
        self.stats.child_sas_established += 1;
        let path = sa.path;
        self.send(path, out);
        self.events.push_back(Event::ChildSaUp(child));
        Ok(())
    }

    pub(super) fn quick_mode_timers(&mut self, now: Instant, sa: &mut IkeSa) {
        let mids: Vec<u32> = sa.quick.keys().copied().collect();
        for mid in mids {
            let Some(q) = sa.quick.get_mut(&mid) else {
                continue;
            };
            if now >= q.deadline {
                // A Quick Mode whose QM3 never came keeps its pair: the initiator proved
                // its keys with HASH(1) and may well be sending on the pair (every QM3,
                // or every resent QM2, lost). The pair lives to its lifetime; it
                // replaces no older pair, since that waits for QM3.
                if let Some(QuickMode {
                    state: QmState::RespAwait3 { inbound },
                    ..
                }) = sa.quick.remove(&mid)
                {
                    tracing::debug!(peer = %sa.path.remote, mid, spi = %inbound,
                        "Quick Mode 3 never arrived: the pair is kept to its lifetime");
                }
                continue;
            }
            if let Some(pend) = &mut q.pending
                && now >= pend.next
            {
                if pend.sends >= self.config.retransmit.tries {
                    if matches!(q.state, QmState::RespAwait3 { .. }) {
                        // Stop resending QM2; the exchange stays to its deadline so a
                        // late QM1 retransmission still gets QM2.
                        q.pending = None;
                        continue;
                    }
                    sa.quick.remove(&mid);
                    if sa.children.is_empty() {
                        // The first Quick Mode never completed: the connection failed.
                        self.kill(sa, DownReason::Timeout);
                        self.events.push_back(Event::PeerGone { path: sa.path });
                        return;
                    }
                    continue;
                }
                pend.sends += 1;
                pend.timeout = pend.timeout.saturating_mul(2);
                pend.next = after(now, pend.timeout);
                let (path, bytes) = (pend.path, pend.bytes.clone());
                if sa.children.is_empty()
                    && let Some(am3) = sa.am3.clone()
                {
                    self.send(path, am3);
                }
                self.stats.retransmits_sent += 1;
                self.send(path, bytes);
            }
        }
    }
}
