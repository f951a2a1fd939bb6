//! Aggressive Mode with pre-shared keys (RFC 2409 §5.4), off by default: its second
//! message exposes a hash of the PSK to offline guessing. Android clients configured
//! with an "IPsec identifier" use it.
//!
//! ```text
//! Initiator                               Responder
//! HDR, SA, KE, Ni, IDii, VID...      -->
//!                                    <--  HDR, SA, KE, Nr, IDir, HASH_R, VID..., NAT-D, NAT-D
//! HDR*, HASH_I [, NAT-D, NAT-D]      -->
//! ```

use std::time::Instant;

use super::admission::Class;
use super::main_mode::{NONCE_LEN, id_bytes, natd, natd_payloads, nonce, our_id, require};
use super::profile::Profile;
use super::sa::{Established, IkeSa, InitSentKe, Keyed, Role, State};
use super::{
    Endpoint, Event, IkeSaId, Path, checked_chain, encode_payloads, header_for, open, seal,
};
use crate::config::Psk;
use crate::crypto::keys::{self, Phase1Keys};
use crate::error::{Error, PeerMisbehaved};
use crate::msgs::vendor::{self, NattVersion};
use crate::msgs::{
    self, Cookie, ExchangeType, Header, IdPayload, NotifyType, Payload, PayloadType, SaPayload,
};
use crate::phase1::auth::{self, HashInput};
use crate::proposal;

impl Endpoint {
    pub(super) fn responder_aggressive_1(
        &mut self,
        now: Instant,
        path: Path,
        data: &[u8],
        header: &Header,
        body: &[u8],
    ) -> Result<(), Error> {
        if self.answer_retransmitted_first_message(path, data, header)? {
            return Ok(());
        }
        let chain = Self::plain_chain(header, body)?;
        let sa_raw = chain
            .payloads
            .first()
            .filter(|p| p.ty == PayloadType::Sa)
            .ok_or(PeerMisbehaved::MissingPayload(PayloadType::Sa))?;
        let sa_payload = SaPayload::decode(sa_raw.body)?;
        let gxi = require(&chain, PayloadType::Ke)?;
        let ni = nonce(&chain)?;
        let idii = require(&chain, PayloadType::Id)?;
        let peer_id = IdPayload::decode(idii)?;
        let ip = path.remote.ip();
        if !self.rate_ok(now, ip) {
            return Err(Error::LimitExceeded(
                "new exchanges per second from one source",
            ));
        }
        let mut refusals = proposal::Refusals::default();
        let (suite, reply_sa) = match proposal::select_phase1_noting(
            &self.config,
            &sa_payload,
            &|a| {
                // Aggressive Mode is offered with pre-shared keys only.
                (a != proposal::Phase1Auth::Psk).then_some("Aggressive Mode with signatures")
            },
            &mut refusals,
        ) {
            Ok(x) if x.0.group.public_len() == gxi.len() => x,
            Ok(_) | Err(_) => {
                if refusals.reasons.is_empty() {
                    refusals
                        .reasons
                        .push(("KE does not fit the chosen group", 1));
                }
                self.log_refused_first_message(now, path, "Aggressive Mode", &refusals);
                self.refuse_first_message(path, header.icookie, data.len());
                return Err(Error::NoProposalChosen);
            }
        };
        // The peer's KE is checked before anything is computed with it.
        let p = self.provider();
        p.dh_check(suite.group, gxi)
            .map_err(Error::InvalidKeyInformation)?;
        // The first message costs a Diffie-Hellman at once, from an unproven address:
        // it counts against the half-open limits from here.
        let source = self.admission.source(ip);
        let limits = &self.config.limits;
        if source.sas() >= limits.sas_per_source {
            return Err(Error::LimitExceeded("ISAKMP SAs per source"));
        }
        if source.half_open >= limits.half_open_per_source {
            return Err(Error::LimitExceeded("half-open ISAKMP SAs per source"));
        }
        if self.admission.half_open() >= limits.half_open {
            return Err(Error::LimitExceeded("half-open ISAKMP SAs"));
        }
        let psk = self.psk.psk_for_id(ip, &peer_id).ok_or(Error::NoPsk)?;
        let class = if source.established > 0 {
            Class::Established
        } else {
            Class::Unauthenticated
        };
        if !self.spend(now, class, 2 * suite.group.cost(), path) {
            return Err(Error::LimitExceeded("expensive operations per second"));
        }
        let mut vendor = vendor::PeerVendor::default();
        for p in chain
            .payloads
            .iter()
            .filter(|p| p.ty == PayloadType::VendorId)
        {
            vendor.observe(p.body);
        }
        let rcookie = self
            .admission
            .cookie(now, &mut *self.rng, p, path.remote, header.icookie);
        if self.by_cookies.contains_key(&(header.icookie, rcookie)) {
            return Err(PeerMisbehaved::UnexpectedMessage(
                "first message with the initiator cookie of an ISAKMP SA we have",
            )
            .into());
        }
        let id = self.alloc_id();
        let mut sa = IkeSa::new(id, Role::Responder, path, header.icookie, rcookie);
        sa.vendor = vendor;
        sa.half_open_deadline = Some(now + self.config.limits.half_open_timeout);
        let dh = p.dh_generate(suite.group, &mut self.rng);
        let gxy = dh.agree(gxi).map_err(Error::InvalidKeyInformation)?;
        let nr = self.random_vec(NONCE_LEN);
        let skeyid = keys::skeyid_psk(p, suite.hash, psk.as_bytes(), &ni, &nr);
        let k = Phase1Keys::derive(
            p,
            suite.hash,
            suite.cipher,
            skeyid,
            gxy.as_bytes(),
            &sa.icookie.0,
            &sa.rcookie.0,
        );
        let gxr = dh.public().to_vec();
        let iv = keys::initial_iv(p, suite.hash, suite.cipher, gxi, &gxr);
        let me = our_id(&path);
        let input = HashInput {
            gxi,
            gxr: &gxr,
            cky_i: &sa.icookie.0,
            cky_r: &sa.rcookie.0,
            sai_b: sa_raw.body,
        };
        let hash_r = auth::hash_r(p, &k, &input, &id_bytes(&me));
        let mut payloads = vec![
            Payload::Sa(reply_sa),
            Payload::Ke(gxr.clone()),
            Payload::Nonce(nr),
            Payload::Id(me),
            Payload::Hash(hash_r.as_bytes().to_vec()),
        ];
        if let Some(natt) = vendor.natt {
            payloads.push(Payload::VendorId(match natt {
                NattVersion::Rfc3947 => vendor::NATT_RFC3947.to_vec(),
                NattVersion::Draft => vendor::NATT_DRAFT_02N.to_vec(),
            }));
        }
        if self.config.dpd {
            payloads.push(Payload::VendorId(vendor::DPD.to_vec()));
        }
        if let Some(natt) = vendor.natt {
            let draft = natt == NattVersion::Draft;
            let h = suite.hash;
            let for_peer = if self.config.force_encapsulation {
                natd(
                    p,
                    h,
                    sa.icookie,
                    sa.rcookie,
                    std::net::SocketAddr::new(ip, 0),
                )
            } else {
                natd(p, h, sa.icookie, sa.rcookie, path.remote)
            };
            payloads.push(Payload::NatD {
                draft,
                hash: for_peer,
            });
            payloads.push(Payload::NatD {
                draft,
                hash: natd(p, h, sa.icookie, sa.rcookie, path.local),
            });
        }
        let msg = msgs::Message {
            header: header_for(&sa, ExchangeType::Aggressive, 0),
            body: msgs::Body::Plain(payloads),
        };
        let mut out = Vec::new();
        msg.encode(&mut out);
        sa.state = State::RespAwaitAm3(
            Box::new(Keyed {
                suite,
                sai_b: sa_raw.body.to_vec(),
                keys: k,
                iv,
                gxi: gxi.to_vec(),
                gxr,
            }),
            idii.to_vec(),
        );
        sa.peer_id = Some(peer_id);
        sa.psk = Some(psk);
        sa.last_request = Some(data.to_vec());
        sa.last_response = Some(out.clone());
        self.by_cookies.insert((sa.icookie, sa.rcookie), id);
        self.by_icookie.insert((path.remote, sa.icookie), id);
        self.reinsert(sa);
        self.send(path, out);
        Ok(())
    }

    pub(super) fn aggressive_mode(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        path: Path,
        data: &[u8],
        header: &Header,
        body: &[u8],
    ) -> Result<(), Error> {
        match &sa.state {
            State::RespAwaitAm3(..) => self.responder_am3(now, sa, path, data, header, body),
            State::InitSentAm1(..) => self.initiator_am2(now, sa, header, body),
            _ => Err(
                PeerMisbehaved::UnexpectedMessage("Aggressive Mode message in this state").into(),
            ),
        }
    }

    fn responder_am3(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        path: Path,
        data: &[u8],
        header: &Header,
        body: &[u8],
    ) -> Result<(), Error> {
        let State::RespAwaitAm3(st, idii_b) = &sa.state else {
            return Ok(());
        };
        let p = self.provider();
        let opened = if header.flags.encrypted() {
            open(p, &st.keys, &st.iv, header, body)
        } else {
            Ok((body.to_vec(), st.iv.clone()))
        };
        let (plain, next_iv) = match opened {
            Ok(x) => x,
            Err(e) => {
                // An authentication failure like a bad HASH_I: the exchange ends.
                sa.dead = true;
                return Err(e);
            }
        };
        let verified = (|| {
            let chain = checked_chain(header.next_payload, &plain)
                .map_err(|_| Error::AuthenticationFailed)?;
            let hash =
                require(&chain, PayloadType::Hash).map_err(|_| Error::AuthenticationFailed)?;
            let input = HashInput {
                gxi: &st.gxi,
                gxr: &st.gxr,
                cky_i: &sa.icookie.0,
                cky_r: &sa.rcookie.0,
                sai_b: &st.sai_b,
            };
            auth::verify_hash(&auth::hash_i(p, &st.keys, &input, idii_b), hash)
        })();
        let proof = match verified {
            Ok(v) => v,
            Err(e) => {
                self.send_plain_notify(
                    path,
                    sa.icookie,
                    sa.rcookie,
                    NotifyType::AuthenticationFailed,
                );
                sa.dead = true;
                return Err(e);
            }
        };
        let (suite, keys) = (st.suite, st.keys.clone());
        sa.state = State::Established(Box::new(Established {
            keys,
            p1_last: next_iv,
            _auth: proof,
            dpd_seq: 0,
        }));
        sa.path = path;
        sa.udp_encap = sa.vendor.natt.is_some() && path.is_nat_t(self.config.nat_t_port);
        sa.expires = Some(now + suite.lifetime);
        sa.last_request = Some(data.to_vec());
        sa.last_response = None;
        self.by_icookie.remove(&(sa.first_path.remote, sa.icookie));
        self.stats.ike_sas_established += 1;
        let peer_id = sa
            .peer_id
            .clone()
            .unwrap_or_else(|| IdPayload::address(path.remote.ip(), 0, 0));
        self.events.push_back(Event::IkeSaUp {
            ike: sa.id,
            path,
            peer_id,
        });
        Ok(())
    }

    pub(super) fn connect_aggressive(
        &mut self,
        now: Instant,
        path: Path,
        profile: Profile,
        psk: Psk,
    ) -> Result<IkeSaId, Error> {
        let group = profile
            .ike
            .first()
            .map(|s| s.group)
            .ok_or(Error::NoProposalChosen)?;
        let offered: Vec<_> = profile
            .ike
            .iter()
            .filter(|s| s.group == group)
            .copied()
            .collect();
        let icookie = self.random_cookie();
        let id = self.alloc_id();
        let mut sa = IkeSa::new(id, Role::Initiator, path, icookie, Cookie::ZERO);
        let offer = proposal::phase1_offer(&offered, profile.attribute_layout);
        let mut sai_b = Vec::new();
        offer.encode(&mut wire::Writer::new(&mut sai_b));
        let p = self.provider();
        self.spend_anyway(now, group.cost());
        let dh = p.dh_generate(group, &mut self.rng);
        let ni = self.random_vec(NONCE_LEN);
        let me = our_id(&path);
        let idii_b = id_bytes(&me);
        let mut payloads = vec![
            Payload::Sa(offer),
            Payload::Ke(dh.public().to_vec()),
            Payload::Nonce(ni.clone()),
            Payload::Id(me),
        ];
        payloads.extend(profile.vendor_ids.iter().cloned().map(Payload::VendorId));
        let msg = msgs::Message {
            header: header_for(&sa, ExchangeType::Aggressive, 0),
            body: msgs::Body::Plain(payloads),
        };
        let mut out = Vec::new();
        msg.encode(&mut out);
        let suite = offered[0];
        sa.state = State::InitSentAm1(
            Box::new(InitSentKe {
                suite,
                sai_b,
                dh,
                ni,
            }),
            idii_b,
            offered,
        );
        sa.profile = Some(Box::new(profile));
        sa.psk = Some(psk);
        sa.half_open_deadline = Some(now + self.config.limits.half_open_timeout);
        self.request(now, &mut sa, path, out);
        self.by_cookies.insert((icookie, Cookie::ZERO), id);
        self.reinsert(sa);
        Ok(id)
    }

    fn initiator_am2(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        header: &Header,
        body: &[u8],
    ) -> Result<(), Error> {
        let State::InitSentAm1(st, idii_b, offered) = &sa.state else {
            return Ok(());
        };
        let chain = Self::plain_chain(header, body)?;
        let reply = SaPayload::decode(require(&chain, PayloadType::Sa)?)?;
        let suite = proposal::accept_phase1_reply(&self.config, offered, &reply)?;
        let gxr = require(&chain, PayloadType::Ke)?;
        if gxr.len() != suite.group.public_len() || suite.group != st.suite.group {
            return Err(PeerMisbehaved::BadKeLength.into());
        }
        let nr = nonce(&chain)?;
        let idir = require(&chain, PayloadType::Id)?;
        let hash_r = require(&chain, PayloadType::Hash)?;
        if header.rcookie.is_zero() {
            return Err(PeerMisbehaved::UnexpectedMessage("responder cookie is zero").into());
        }
        let rcookie = header.rcookie;
        let p = self.provider();
        p.dh_check(suite.group, gxr)
            .map_err(Error::InvalidKeyInformation)?;
        self.spend_anyway(now, suite.group.cost());
        let gxy = st.dh.agree(gxr).map_err(Error::InvalidKeyInformation)?;
        let psk = sa.psk.clone().ok_or(Error::NoPsk)?;
        let skeyid = keys::skeyid_psk(p, suite.hash, psk.as_bytes(), &st.ni, &nr);
        let k = Phase1Keys::derive(
            p,
            suite.hash,
            suite.cipher,
            skeyid,
            gxy.as_bytes(),
            &sa.icookie.0,
            &rcookie.0,
        );
        let gxi = st.dh.public().to_vec();
        let input = HashInput {
            gxi: &gxi,
            gxr,
            cky_i: &sa.icookie.0,
            cky_r: &rcookie.0,
            sai_b: &st.sai_b,
        };
        let proof = auth::verify_hash(&auth::hash_r(p, &k, &input, idir), hash_r)?;
        let hash_i = auth::hash_i(p, &k, &input, idii_b);
        let peer_id = IdPayload::decode(idir)?;
        let mut vendor = sa.vendor;
        for v in chain
            .payloads
            .iter()
            .filter(|x| x.ty == PayloadType::VendorId)
        {
            vendor.observe(v.body);
        }
        // Everything checked: commit.
        self.by_cookies.remove(&(sa.icookie, Cookie::ZERO));
        sa.rcookie = rcookie;
        self.by_cookies.insert((sa.icookie, sa.rcookie), sa.id);
        sa.vendor = vendor;
        let mut rest = vec![Payload::Hash(hash_i.as_bytes().to_vec())];
        if let Some(natt) = vendor.natt {
            let draft = natt == NattVersion::Draft;
            let theirs = natd_payloads(&chain);
            let me = natd(p, suite.hash, sa.icookie, sa.rcookie, sa.path.local);
            let them = natd(p, suite.hash, sa.icookie, sa.rcookie, sa.path.remote);
            let we_natted = theirs.first().is_none_or(|x| *x != me.as_slice());
            let they_natted = !theirs.iter().skip(1).any(|x| *x == them.as_slice());
            rest.push(Payload::NatD { draft, hash: them });
            rest.push(Payload::NatD { draft, hash: me });
            if we_natted || they_natted {
                sa.udp_encap = true;
                sa.path.local.set_port(self.config.nat_t_port);
                sa.path.remote.set_port(self.config.nat_t_port);
            }
        }
        let mut iv = keys::initial_iv(p, suite.hash, suite.cipher, &gxi, gxr);
        let out = seal(
            p,
            &k,
            &mut iv,
            header_for(sa, ExchangeType::Aggressive, 0),
            PayloadType::Hash,
            &encode_payloads(&rest),
        );
        sa.state = State::Established(Box::new(Established {
            keys: k,
            p1_last: iv,
            _auth: proof,
            dpd_seq: 0,
        }));
        sa.pending = None;
        sa.peer_id = Some(peer_id.clone());
        sa.expires = Some(now + suite.lifetime);
        self.stats.ike_sas_established += 1;
        let path = sa.path;
        sa.am3 = Some(out.clone());
        self.send(path, out);
        self.events.push_back(Event::IkeSaUp {
            ike: sa.id,
            path,
            peer_id,
        });
        self.start_quick_mode(now, sa, false);
        Ok(())
    }
}
