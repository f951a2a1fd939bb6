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

use super::sa::{Child, IkeSa, Pending, QmState, QuickMode, State};
use super::{
    ChildSa, DownReason, Endpoint, Event, Path, checked_chain, hashed_chain, header_for, open, seal,
};
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
use crate::proposal::{self, Encapsulation, Phase2Context, Phase2Suite};

const NONCE_LEN: usize = 32;
/// Most ESP SA pairs one ISAKMP SA may hold (rekeys overlap a few at a time).
const MAX_CHILDREN: usize = 32;
/// L2TP's UDP port, the traffic selector of every child SA.
const L2TP_PORT: u16 = 1701;
const UDP: u8 = 17;

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
                    Err(PeerMisbehaved::UnexpectedMessage("Quick Mode already complete").into())
                }
            };
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
            rest_out.extend(self.nat_oa_payloads(sa, path.remote.ip(), path.local.ip()));
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
            path,
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
        sa.children.push(Child {
            inbound: in_spi,
            outbound: child.outbound.spi,
            expires: now + suite.lifetime,
            rekey_at: None,
        });
        sa.quick.insert(
            mid,
            QuickMode {
                iv,
                ni,
                nr,
                deadline: now + self.config.limits.half_open_timeout,
                last_request: Some(data.to_vec()),
                last_response: Some(out.clone()),
                pending: None,
                state: QmState::RespAwait3 { inbound: in_spi },
            },
        );
        if header.flags.commit() {
            // Answer HASH(3) with CONNECTED (RFC 2408 §3.1 commit bit).
            sa.commit_mids.push(mid);
        }
        sa.path = path;
        self.stats.child_sas_established += 1;
        self.send(path, out);
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
        if let Some(q) = sa.quick.get_mut(&mid) {
            q.state = QmState::Done;
            q.iv = iv;
            q.last_request = Some(data.to_vec());
            q.last_response = resp.clone();
        }
        sa.path = path;
        if let Some(out) = resp {
            self.send(path, out);
        }
        Ok(())
    }

    /// Starts a Quick Mode as initiator (after Main Mode, and for rekeys).
    pub(super) fn start_quick_mode(&mut self, now: Instant, sa: &mut IkeSa, rekey: bool) {
        let State::Established(est) = &sa.state else {
            return;
        };
        let Some(profile) = sa.profile.clone() else {
            return;
        };
        let p = self.provider();
        let mut mid = 0;
        while mid == 0 || sa.quick.contains_key(&mid) {
            mid = self.rng.next_u32();
        }
        let mut iv = keys::phase2_iv(p, est.keys.hash, est.keys.cipher, &est.p1_last, mid);
        let our_spi = self.fresh_spi(sa);
        let mode = if !sa.udp_encap {
            EncapsulationMode::Transport
        } else if sa.vendor.natt == Some(NattVersion::Draft) {
            EncapsulationMode::UdpTransportDraft
        } else {
            EncapsulationMode::UdpTransport
        };
        let ni = self.random_vec(NONCE_LEN);
        let mut rest = vec![
            Payload::Sa(proposal::phase2_offer(
                &profile.esp,
                our_spi,
                mode,
                profile.pfs,
            )),
            Payload::Nonce(ni.clone()),
        ];
        let dh = profile.pfs.map(|g| p.dh_generate(g, &mut self.rng));
        if let Some(dh) = &dh {
            rest.push(Payload::Ke(dh.public().to_vec()));
        }
        rest.push(Payload::Id(IdPayload::address(
            sa.path.local.ip(),
            UDP,
            L2TP_PORT,
        )));
        rest.push(Payload::Id(IdPayload::address(
            sa.path.remote.ip(),
            UDP,
            L2TP_PORT,
        )));
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
        sa.quick.insert(
            mid,
            QuickMode {
                iv,
                ni,
                nr: Vec::new(),
                deadline: now
                    + self
                        .config
                        .limits
                        .half_open_timeout
                        .max(Duration::from_secs(120)),
                last_request: None,
                last_response: None,
                pending: Some(Pending {
                    bytes: out.clone(),
                    path: sa.path,
                    sends: 1,
                    next: now + timeout,
                    timeout,
                }),
                state: QmState::InitSent1 { dh, our_spi, rekey },
            },
        );
        let path = sa.path;
        self.send(path, out);
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
        let QmState::InitSent1 { dh, our_spi, rekey } = &q.state else {
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
        let pfs_secret = match (dh, &parsed.ke) {
            (Some(dh), Some(ke)) => Some(dh.agree(ke).map_err(Error::InvalidKeyInformation)?),
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
        let (our_spi, rekey) = (*our_spi, *rekey);
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
        let fraction = sa.profile.as_ref().map_or(0.9, |pr| pr.rekey_fraction);
        // Jitter: up to 5 % of the lifetime earlier, so many clients do not rekey at once.
        let jitter = suite
            .lifetime
            .mul_f64(0.05 * f64::from(self.rng.next_u32() % 1000) / 1000.0);
        let rekey_at = now + suite.lifetime.mul_f64(fraction).saturating_sub(jitter);
        sa.children.push(Child {
            inbound: inbound.spi,
            outbound: outbound.spi,
            expires: now + suite.lifetime,
            rekey_at: Some(rekey_at),
        });
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
                let q = sa.quick.remove(&mid);
                if let Some(QuickMode {
                    state: QmState::RespAwait3 { inbound },
                    ..
                }) = q
                    && let Some(pos) = sa.children.iter().position(|c| c.inbound == inbound)
                {
                    let c = sa.children.remove(pos);
                    self.events.push_back(Event::ChildSaDown {
                        ike: sa.id,
                        inbound_spi: c.inbound,
                        outbound_spi: c.outbound,
                        reason: DownReason::Timeout,
                    });
                }
                continue;
            }
            if let Some(pend) = &mut q.pending
                && now >= pend.next
            {
                if pend.sends >= self.config.retransmit.tries {
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
                pend.timeout *= 2;
                pend.next = now + pend.timeout;
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
