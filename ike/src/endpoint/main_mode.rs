//! Main Mode (RFC 2409 §5) with pre-shared keys or signatures (RSA, ECDSA with X.509
//! certificates), both roles, with NAT-T (RFC 3947).
//!
//! ```text
//! Initiator                                    Responder
//! HDR, SA, VID...                         -->
//!                                         <--  HDR, SA, VID...
//! HDR, KE, Ni, [CR...], NAT-D, NAT-D      -->
//!                                         <--  HDR, KE, Nr, [CR...], NAT-D, NAT-D
//! HDR*, IDii, HASH_I | [CERT...] SIG_I    -->  (UDP 4500 once NAT-T floats;
//!      [, CR...] [, N]                          strongSwan sends its CR here)
//!                                         <--  HDR*, IDir, HASH_R | [CERT...] SIG_R
//! ```
//!
//! With signatures SKEYID = prf(Ni_b | Nr_b, g^xy) and the ID is our certificate's
//! subject (ID_DER_ASN1_DN). CERTREQs name our trusted CAs by DN; the peer's CERTREQs
//! decide how much of our chain we send.

use std::net::SocketAddr;
use std::time::Instant;

use super::admission::{Class, signature_cost};
use super::profile::Profile;
use super::sa::{
    Established, IkeSa, InitSentKe, InitSentSa, Keyed, Pending, RespAwaitKe, Role, State,
};
use super::{
    Endpoint, Event, IkeSaId, Path, checked_chain, encode_payloads, header_for, open, seal,
};
use crate::crypto::HashAlg;
use crate::crypto::keys::{self, Phase1Keys};
use crate::error::{Error, PeerMisbehaved};
use crate::msgs::vendor::{self, NattVersion};
use crate::msgs::{
    self, Chain, Cookie, DOI_IPSEC, ExchangeType, Header, IdPayload, NotifyPayload, NotifyType,
    Payload, PayloadType, ProtocolId, SaPayload,
};
use crate::msgs::{CertEncoding, IdType};
use crate::phase1::auth::{self, HashInput, PeerAuthenticated};
use crate::phase1::cert::{CertError, Certificates, Identity, VerifiedPeer};
use crate::proposal::{self, Phase1Auth};

/// Nonce length we send.
pub(super) const NONCE_LEN: usize = 32;

/// NAT-D = HASH(CKY-I | CKY-R | IP | port) with the negotiated hash (RFC 3947 §3.2).
pub(super) fn natd(
    p: &dyn crate::crypto::CryptoProvider,
    hash: HashAlg,
    ci: Cookie,
    cr: Cookie,
    addr: SocketAddr,
) -> Vec<u8> {
    let ip = match addr.ip() {
        std::net::IpAddr::V4(a) => a.octets().to_vec(),
        std::net::IpAddr::V6(a) => a.octets().to_vec(),
    };
    p.hash(hash, &[&ci.0, &cr.0, &ip, &addr.port().to_be_bytes()])
}

fn find<'c, 'a>(chain: &'c Chain<'a>, ty: PayloadType) -> Option<&'c msgs::RawPayload<'a>> {
    chain.payloads.iter().find(|p| p.ty == ty)
}

/// The body of the first payload of type `ty` (it borrows the message, not the chain).
pub(super) fn require<'a>(chain: &Chain<'a>, ty: PayloadType) -> Result<&'a [u8], Error> {
    find(chain, ty)
        .map(|p| p.body)
        .ok_or(Error::PeerMisbehaved(PeerMisbehaved::MissingPayload(ty)))
}

/// The peer's KE payload, checked for `group` without computing anything: its length,
/// then the provider's cheap validation (MODP range, ECP point on the curve).
pub(super) fn checked_ke<'a>(
    p: &dyn crate::crypto::CryptoProvider,
    group: crate::crypto::DhGroup,
    chain: &Chain<'a>,
) -> Result<&'a [u8], Error> {
    let ke = require(chain, PayloadType::Ke)?;
    if ke.len() != group.public_len() {
        return Err(PeerMisbehaved::BadKeLength.into());
    }
    p.dh_check(group, ke)
        .map_err(Error::InvalidKeyInformation)?;
    Ok(ke)
}

/// A hash of a first message, to recognise its retransmissions without keeping it.
pub(super) fn first_message_digest(data: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    data.hash(&mut h);
    h.finish()
}

pub(super) fn nonce(chain: &Chain<'_>) -> Result<Vec<u8>, Error> {
    let n = require(chain, PayloadType::Nonce)?;
    if !(8..=256).contains(&n.len()) {
        return Err(PeerMisbehaved::BadNonce.into());
    }
    Ok(n.to_vec())
}

pub(super) fn natd_payloads<'a>(chain: &Chain<'a>) -> Vec<&'a [u8]> {
    chain
        .payloads
        .iter()
        .filter(|p| matches!(p.ty, PayloadType::NatD | PayloadType::NatDDraft))
        .map(|p| p.body)
        .collect()
}

/// The phase-1 ID we send: our address, protocol and port zero.
pub(super) fn our_id(path: &Path) -> IdPayload {
    IdPayload::address(path.local.ip(), 0, 0)
}

pub(super) fn id_bytes(id: &IdPayload) -> Vec<u8> {
    let mut b = Vec::new();
    id.encode(&mut wire::Writer::new(&mut b));
    b
}

/// The keys HASH_I/HASH_R are made with: for the ECDSA methods HMAC with the method's
/// hash (SHA-256/384/512) keyed with SKEYID, as RFC 4754 and strongSwan
/// (`keymat_v1.c`: `prf_auth`) do; otherwise the negotiated PRF.
fn hash_keys(k: &Phase1Keys, auth: Phase1Auth) -> Phase1Keys {
    let mut k = k.clone();
    k.hash = match auth {
        Phase1Auth::EcdsaP256 => HashAlg::Sha256,
        Phase1Auth::EcdsaP384 => HashAlg::Sha384,
        Phase1Auth::EcdsaP521 => HashAlg::Sha512,
        Phase1Auth::Psk | Phase1Auth::Rsa => k.hash,
    };
    k
}

/// Our CERTREQ payloads: one per trusted CA, naming its DN.
fn certreq_payloads(certs: Option<&Certificates>) -> Vec<Payload> {
    certs
        .map(|c| {
            c.ca_names()
                .map(|dn| Payload::CertReq {
                    encoding: CertEncoding::X509Signature,
                    data: dn.to_vec(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Remembers the peer's X.509 CERTREQs (the CA DNs; empty: any), up to the limit.
fn remember_certreqs(certreqs: &mut Vec<Vec<u8>>, chain: &Chain<'_>, max: usize) {
    for p in chain
        .payloads
        .iter()
        .filter(|p| p.ty == PayloadType::CertReq)
    {
        if let Some((&enc, dn)) = p.body.split_first()
            && CertEncoding::from(enc) == CertEncoding::X509Signature
            && certreqs.len() < max
            && !certreqs.iter().any(|d| d.as_slice() == dn)
        {
            certreqs.push(dn.to_vec());
        }
    }
}

/// Our identity for a signature method.
fn identity_for(certs: Option<&Certificates>, auth: Phase1Auth) -> Result<&Identity, Error> {
    let kind = auth.key_kind().ok_or(CertError::NoIdentity)?;
    certs
        .and_then(|c| c.identity(kind))
        .ok_or(Error::Certificate(CertError::NoIdentity))
}

/// The ID payload we send with certificates: our subject DN.
fn cert_id(identity: &Identity) -> IdPayload {
    IdPayload {
        id_type: IdType::DerAsn1Dn,
        protocol: 0,
        port: 0,
        data: identity.subject_dn().to_vec(),
    }
}

/// The ID, CERT and SIG payloads of our fifth or sixth message, from the hash that is
/// signed (`hash_of` gets the encoded ID body).
fn signed_payloads(
    identity: &Identity,
    peer_certreqs: &[Vec<u8>],
    rng: &mut dyn wire::random::SecureRandom,
    hash_of: impl FnOnce(&[u8]) -> crate::crypto::Secret,
) -> Result<Vec<Payload>, Error> {
    let me = cert_id(identity);
    let hash = hash_of(&id_bytes(&me));
    let sig = identity.key().sign_ike(hash.as_bytes(), rng)?;
    let mut payloads = vec![Payload::Id(me)];
    payloads.extend(
        identity
            .chain_for(peer_certreqs)
            .iter()
            .map(|der| Payload::Cert {
                encoding: CertEncoding::X509Signature,
                data: der.clone(),
            }),
    );
    payloads.push(Payload::Sig(sig));
    Ok(payloads)
}

/// Checks the peer's fifth or sixth message under a signature method: its
/// certificates (chain, validity, revocation, ID) and its SIG over `expected`.
fn verify_signed(
    config: &crate::Config,
    now: Instant,
    chain: &Chain<'_>,
    auth: Phase1Auth,
    id_b: &[u8],
    expected: &crate::crypto::Secret,
) -> Result<(PeerAuthenticated, VerifiedPeer), Error> {
    let certs = config
        .certificates
        .as_deref()
        .ok_or(CertError::NoIdentity)?;
    let unix = config
        .wall_clock
        .map(|w| w.unix_at(now))
        .ok_or(CertError::NoClock)?;
    let id = IdPayload::decode(id_b).map_err(|_| Error::InvalidIdInformation)?;
    let cert_payloads: Vec<&[u8]> = chain
        .payloads
        .iter()
        .filter(|p| p.ty == PayloadType::Cert)
        .map(|p| p.body)
        .collect();
    if cert_payloads.len() > certs.limits.max_cert_payloads {
        return Err(CertError::TooManyCertificates.into());
    }
    let x509: Vec<&[u8]> = cert_payloads
        .iter()
        .filter_map(|b| b.split_first())
        .filter(|(enc, _)| CertEncoding::from(**enc) == CertEncoding::X509Signature)
        .map(|(_, der)| der)
        .collect();
    let sig = require(chain, PayloadType::Sig)?;
    let peer = certs.verify_peer(&x509, &id, unix)?;
    let fits = match auth {
        Phase1Auth::Rsa => peer.key.kind() == crate::phase1::cert::KeyKind::Rsa,
        _ => peer.key.kind().is_ecdsa(),
    };
    if !fits {
        return Err(CertError::WrongKeyType.into());
    }
    let proof = auth::verify_signature(&peer, expected, sig)?;
    Ok((proof, peer))
}

impl Endpoint {
    /// Checks shared by the first message of Main and Aggressive Mode: it must be plain
    /// with message ID 0, and a retransmission (the same bytes under a known initiator
    /// cookie) gets the stored answer with the same responder cookie, without new crypto.
    /// Returns true when the message was answered that way; a different first message
    /// under a known cookie is refused.
    pub(super) fn answer_retransmitted_first_message(
        &mut self,
        path: Path,
        data: &[u8],
        header: &Header,
    ) -> Result<bool, Error> {
        if header.message_id.0 != 0 || header.flags.encrypted() {
            return Err(PeerMisbehaved::UnexpectedMessage(
                "first message encrypted or with a message ID",
            )
            .into());
        }
        if let Some(id) = self.by_icookie.get(&(path.remote, header.icookie)).copied()
            && let Some(sa) = self.sas.get(&id)
        {
            let same = match &sa.state {
                State::RespAwaitKe(st) => st.first_message == first_message_digest(data),
                _ => sa.last_request.as_deref() == Some(data),
            };
            if same && let Some(resp) = sa.last_response.clone() {
                self.stats.retransmits_answered += 1;
                self.send(path, resp);
                return Ok(true);
            }
            return Err(
                PeerMisbehaved::UnexpectedMessage("new first message with a known cookie").into(),
            );
        }
        Ok(false)
    }

    /// Logs a first message refused for its proposals: one line with the peer and every
    /// reason counted, at info at most once per source in a while (else at debug).
    pub(super) fn log_refused_first_message(
        &mut self,
        now: Instant,
        path: Path,
        exchange: &'static str,
        refusals: &proposal::Refusals,
    ) {
        self.logged = true;
        if self.admission.refusal_at_info(now, path.remote.ip()) {
            tracing::info!(peer = %path.remote, "{exchange}: no proposal chosen: {refusals}");
        } else {
            tracing::debug!(peer = %path.remote, "{exchange}: no proposal chosen: {refusals}");
        }
    }

    /// NO-PROPOSAL-CHOSEN for a refused first message of `request_len` bytes, unless
    /// the answer would be larger (no amplification).
    pub(super) fn refuse_first_message(&mut self, path: Path, icookie: Cookie, request_len: usize) {
        let out = super::plain_notify(icookie, Cookie::ZERO, NotifyType::NoProposalChosen);
        if out.len() <= request_len {
            self.send(path, out);
        }
    }

    /// The first Main Mode message: proposal choice and our answer, which costs no
    /// Diffie-Hellman and so is given to any source. The responder cookie is derived
    /// from the peer's address and a rotating secret (a retransmission gets the same
    /// one), and what we keep is unproven until the third message comes back from the
    /// same address: it sits in the cycling table of [`super::admission`], outside the
    /// half-open limits.
    pub(super) fn responder_main_mode_1(
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
        let chain = checked_chain(header.next_payload, body)?;
        wire::Reader::new(body.get(chain.end..).unwrap_or_default()).finish("message")?;
        let sa_raw = chain
            .payloads
            .first()
            .filter(|p| p.ty == PayloadType::Sa)
            .ok_or(PeerMisbehaved::MissingPayload(PayloadType::Sa))?;
        let sa_payload = SaPayload::decode(sa_raw.body)?;
        let ip = path.remote.ip();
        if !self.rate_ok(now, ip) {
            return Err(Error::LimitExceeded(
                "new exchanges per second from one source",
            ));
        }
        let config = &self.config;
        let auth_ok = |a| config.refuse_auth(ip, a);
        let mut refusals = proposal::Refusals::default();
        let (suite, reply_sa) =
            match proposal::select_phase1_noting(config, &sa_payload, &auth_ok, &mut refusals) {
                Ok(x) => x,
                Err(e) => {
                    self.log_refused_first_message(now, path, "Main Mode", &refusals);
                    self.refuse_first_message(path, header.icookie, data.len());
                    return Err(e);
                }
            };
        let mut vendor = vendor::PeerVendor::default();
        for p in chain
            .payloads
            .iter()
            .filter(|p| p.ty == PayloadType::VendorId)
        {
            vendor.observe(p.body);
        }
        let p = self.provider();
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
        let natt = match vendor.natt {
            Some(NattVersion::Rfc3947) => Some(vendor::NATT_RFC3947.to_vec()),
            // Answer with the draft ID the peer sent (Windows: draft-02\n).
            Some(NattVersion::Draft) => chain
                .payloads
                .iter()
                .find(|p| {
                    p.ty == PayloadType::VendorId
                        && [
                            vendor::NATT_DRAFT_02N,
                            vendor::NATT_DRAFT_02,
                            vendor::NATT_DRAFT_03,
                        ]
                        .iter()
                        .any(|v| v.as_slice() == p.body)
                })
                .map(|p| p.body.to_vec()),
            None => None,
        };
        // As strongSwan: announced only to peers that announced it.
        let fragmentation = vendor.fragmentation && self.config.fragmentation.enabled;
        // Every payload but DPD answers one of the same size or larger in the first
        // message; DPD is announced only when the answer stays no larger.
        let answer = |dpd: bool| {
            let mut payloads = vec![Payload::Sa(reply_sa.clone())];
            payloads.extend(natt.clone().map(Payload::VendorId));
            if dpd {
                payloads.push(Payload::VendorId(vendor::DPD.to_vec()));
            }
            if fragmentation {
                payloads.push(Payload::VendorId(crate::fragment::vendor_id()));
            }
            let msg = msgs::Message {
                header: header_for(&sa, ExchangeType::IdentityProtection, 0),
                body: msgs::Body::Plain(payloads),
            };
            let mut out = Vec::new();
            msg.encode(&mut out);
            out
        };
        let mut out = answer(self.config.dpd);
        if out.len() > data.len() && self.config.dpd {
            out = answer(false);
        }
        sa.state = State::RespAwaitKe(Box::new(RespAwaitKe {
            suite,
            sai_b: sa_raw.body.to_vec(),
            first_message: first_message_digest(data),
        }));
        sa.last_request = None;
        sa.last_response = Some(out.clone());
        self.make_room_for_first_message(super::admission::entry_bytes(
            sa_raw.body.len() + out.len(),
        ));
        self.by_cookies.insert((sa.icookie, sa.rcookie), id);
        self.by_icookie.insert((path.remote, sa.icookie), id);
        self.reinsert(sa);
        tracing::debug!(peer = %path.remote, ?suite, "Main Mode 1 accepted");
        self.send(path, out);
        Ok(())
    }

    pub(super) fn main_mode(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        path: Path,
        data: &[u8],
        header: &Header,
        body: &[u8],
    ) -> Result<(), Error> {
        match &sa.state {
            State::RespAwaitKe(_) => self.responder_mm3(now, sa, path, data, header, body),
            State::RespAwaitAuth(_) => self.responder_mm5(now, sa, path, data, header, body),
            State::InitSentSa(_) => self.initiator_mm2(now, sa, header, body),
            State::InitSentKe(_) => self.initiator_mm4(now, sa, header, body),
            State::InitSentAuth(_) => self.initiator_mm6(now, sa, header, body),
            State::Established(_) | State::RespAwaitAm3(..) | State::InitSentAm1(..) => {
                Err(PeerMisbehaved::UnexpectedMessage("Main Mode message in this state").into())
            }
        }
    }

    pub(super) fn plain_chain<'a>(header: &Header, body: &'a [u8]) -> Result<Chain<'a>, Error> {
        if header.flags.encrypted() {
            return Err(PeerMisbehaved::UnexpectedMessage("encrypted key exchange message").into());
        }
        let chain = checked_chain(header.next_payload, body)?;
        wire::Reader::new(body.get(chain.end..).unwrap_or_default()).finish("message")?;
        Ok(chain)
    }

    /// The third message: the peer's address is proven (our cookie came back from where
    /// we sent it), its KE is checked before any Diffie-Hellman, then the limits on
    /// proven exchanges and the budget of expensive operations apply. A bad KE (or any
    /// other failure that means the exchange cannot complete) deletes the exchange: a
    /// replay meets an unknown SA and is never answered.
    fn responder_mm3(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        path: Path,
        data: &[u8],
        header: &Header,
        body: &[u8],
    ) -> Result<(), Error> {
        let State::RespAwaitKe(st) = &sa.state else {
            return Ok(());
        };
        if path != sa.first_path {
            self.stats.wrong_source += 1;
            return Err(PeerMisbehaved::UnexpectedMessage(
                "third message from another address than the first",
            )
            .into());
        }
        let p = self.provider();
        let group = st.suite.group;
        let parsed = Self::plain_chain(header, body).and_then(|chain| {
            let gxi = checked_ke(p, group, &chain)?;
            let ni = nonce(&chain)?;
            Ok((chain, gxi, ni))
        });
        let (chain, gxi, ni) = match parsed {
            Ok(x) => x,
            Err(e) => {
                sa.dead = true;
                return Err(e);
            }
        };
        let ip = path.remote.ip();
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
        let signatures = st.suite.auth.is_signature();
        let psk = if signatures {
            None
        } else {
            match self.psk.psk(ip) {
                Some(k) => Some(k),
                None => {
                    sa.dead = true;
                    return Err(Error::NoPsk);
                }
            }
        };
        // An address with an established ISAKMP SA re-authenticates from the reserved
        // share of the budget.
        let class = if source.established > 0 {
            Class::Established
        } else {
            Class::Unauthenticated
        };
        if !self.spend(now, class, 2 * group.cost(), path) {
            return Err(Error::LimitExceeded("expensive operations per second"));
        }
        let dh = p.dh_generate(group, &mut self.rng);
        let gxy = match dh.agree(gxi) {
            Ok(s) => s,
            Err(e) => {
                sa.dead = true;
                return Err(Error::InvalidKeyInformation(e));
            }
        };
        let nr = self.random_vec(NONCE_LEN);
        let skeyid = match &psk {
            Some(psk) => keys::skeyid_psk(p, st.suite.hash, psk.as_bytes(), &ni, &nr),
            None => keys::skeyid_sig(p, st.suite.hash, &ni, &nr, gxy.as_bytes()),
        };
        let k = Phase1Keys::derive(
            p,
            st.suite.hash,
            st.suite.cipher,
            skeyid,
            gxy.as_bytes(),
            &sa.icookie.0,
            &sa.rcookie.0,
        );
        let gxr = dh.public().to_vec();
        let iv = keys::initial_iv(p, st.suite.hash, st.suite.cipher, gxi, &gxr);
        let mut payloads = vec![Payload::Ke(gxr.clone()), Payload::Nonce(nr)];
        if signatures {
            let certs = self.config.certificates.as_deref();
            payloads.extend(certreq_payloads(certs));
            remember_certreqs(
                &mut sa.peer_certreqs,
                &chain,
                certs.map_or(0, |c| c.limits.max_certreqs),
            );
        }
        if let Some(natt) = sa.vendor.natt {
            let draft = natt == NattVersion::Draft;
            let theirs = natd_payloads(&chain);
            let h = st.suite.hash;
            let for_peer = if self.config.force_encapsulation {
                // Deliberately wrong: the peer concludes it is behind a NAT and floats.
                natd(
                    p,
                    h,
                    sa.icookie,
                    sa.rcookie,
                    SocketAddr::new(path.remote.ip(), 0),
                )
            } else {
                natd(p, h, sa.icookie, sa.rcookie, path.remote)
            };
            let for_us = match theirs.first() {
                Some(first) if sa.vendor.windows && self.config.windows_nat_compat => {
                    first.to_vec()
                }
                _ => natd(p, h, sa.icookie, sa.rcookie, path.local),
            };
            let peer_hash = natd(p, h, sa.icookie, sa.rcookie, path.remote);
            let peer_natted = !theirs.iter().skip(1).any(|x| *x == peer_hash.as_slice());
            tracing::debug!(peer = %path.remote, peer_natted, "NAT detection");
            payloads.push(Payload::NatD {
                draft,
                hash: for_peer,
            });
            payloads.push(Payload::NatD {
                draft,
                hash: for_us,
            });
        }
        let msg = msgs::Message {
            header: header_for(sa, ExchangeType::IdentityProtection, 0),
            body: msgs::Body::Plain(payloads),
        };
        let mut out = Vec::new();
        msg.encode(&mut out);
        let (suite, sai_b) = (st.suite, st.sai_b.clone());
        sa.state = State::RespAwaitAuth(Box::new(Keyed {
            suite,
            sai_b,
            keys: k,
            iv,
            gxi: gxi.to_vec(),
            gxr,
        }));
        sa.psk = psk;
        sa.last_request = Some(data.to_vec());
        sa.last_response = Some(out.clone());
        self.send(path, out);
        Ok(())
    }

    fn responder_mm5(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        path: Path,
        data: &[u8],
        header: &Header,
        body: &[u8],
    ) -> Result<(), Error> {
        let State::RespAwaitAuth(st) = &sa.state else {
            return Ok(());
        };
        let p = self.provider();
        let (plain, next_iv) = open(p, &st.keys, &st.iv, header, body)?;
        // With a wrong PSK the body decrypts to garbage: any failure from here on is an
        // authentication failure.
        let signatures = st.suite.auth.is_signature();
        if signatures {
            // The checks of the peer's certificates and SIG, and our SIG, within the
            // budget (the message is dropped, not failed, past it).
            let max = self
                .config
                .certificates
                .as_ref()
                .map_or(0, |c| c.limits.max_cert_payloads);
            let certs = checked_chain(header.next_payload, &plain).map_or(0, |c| {
                c.payloads
                    .iter()
                    .filter(|x| x.ty == PayloadType::Cert)
                    .count()
                    .min(max)
            });
            let auth = st.suite.auth;
            let units = signature_cost(auth, false)
                .saturating_mul(u32::try_from(certs).unwrap_or(u32::MAX).saturating_add(1))
                .saturating_add(signature_cost(auth, true));
            let class = if self.admission.source(path.remote.ip()).established > 0 {
                Class::Established
            } else {
                Class::Unauthenticated
            };
            if !self.spend(now, class, units, path) {
                return Err(Error::LimitExceeded("expensive operations per second"));
            }
        }
        let mut peer_cert = None;
        let verified = (|| {
            let chain = checked_chain(header.next_payload, &plain)
                .map_err(|_| Error::AuthenticationFailed)?;
            let idii = require(&chain, PayloadType::Id).map_err(|_| Error::AuthenticationFailed)?;
            let input = HashInput {
                gxi: &st.gxi,
                gxr: &st.gxr,
                cky_i: &sa.icookie.0,
                cky_r: &sa.rcookie.0,
                sai_b: &st.sai_b,
            };
            let expected = auth::hash_i(p, &hash_keys(&st.keys, st.suite.auth), &input, idii);
            let proof = if signatures {
                let (proof, peer) =
                    verify_signed(&self.config, now, &chain, st.suite.auth, idii, &expected)?;
                peer_cert = Some(peer.subject);
                proof
            } else {
                let hash =
                    require(&chain, PayloadType::Hash).map_err(|_| Error::AuthenticationFailed)?;
                auth::verify_hash(&expected, hash)?
            };
            let id = IdPayload::decode(idii).map_err(|_| Error::AuthenticationFailed)?;
            let initial_contact = chain.payloads.iter().any(|x| {
                x.ty == PayloadType::Notify
                    && NotifyPayload::decode(x.body)
                        .is_ok_and(|n| n.notify_type == NotifyType::InitialContact)
            });
            if signatures {
                let max = self
                    .config
                    .certificates
                    .as_ref()
                    .map_or(0, |c| c.limits.max_certreqs);
                remember_certreqs(&mut sa.peer_certreqs, &chain, max);
            }
            Ok((proof, id, initial_contact))
        })();
        let (proof, peer_id, initial_contact) = match verified {
            Ok(v) => v,
            Err(e) => {
                if signatures {
                    tracing::debug!(peer = %path.remote, reason = %e, "Main Mode certificate authentication failed");
                } else {
                    tracing::info!(peer = %path.remote, "Main Mode authentication failed (wrong pre-shared key?)");
                }
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
        let mut iv = next_iv;
        let input = HashInput {
            gxi: &st.gxi,
            gxr: &st.gxr,
            cky_i: &sa.icookie.0,
            cky_r: &sa.rcookie.0,
            sai_b: &st.sai_b,
        };
        let payloads = if signatures {
            let certs = self.config.certificates.clone();
            let identity = identity_for(certs.as_deref(), st.suite.auth)?;
            signed_payloads(identity, &sa.peer_certreqs, &mut self.rng, |idir_b| {
                auth::hash_r(p, &hash_keys(&st.keys, st.suite.auth), &input, idir_b)
            })?
        } else {
            let me = our_id(&path);
            let hash_r = auth::hash_r(p, &st.keys, &input, &id_bytes(&me));
            vec![Payload::Id(me), Payload::Hash(hash_r.as_bytes().to_vec())]
        };
        let chain = encode_payloads(&payloads);
        let out = seal(
            p,
            &st.keys,
            &mut iv,
            header_for(sa, ExchangeType::IdentityProtection, 0),
            PayloadType::Id,
            &chain,
        );
        let (suite, keys) = (st.suite, st.keys.clone());
        sa.state = State::Established(Box::new(Established {
            keys,
            p1_last: iv,
            _auth: proof,
            dpd_seq: 0,
        }));
        sa.path = path;
        // UDP encapsulation is in use exactly when the peer floated to 4500.
        sa.udp_encap = sa.vendor.natt.is_some() && path.is_nat_t(self.config.nat_t_port);
        sa.peer_id = Some(peer_id.clone());
        sa.peer_cert = peer_cert;
        sa.expires = Some(now + suite.lifetime);
        sa.last_request = Some(data.to_vec());
        sa.last_response = Some(out.clone());
        self.by_icookie.remove(&(sa.first_path.remote, sa.icookie));
        self.stats.ike_sas_established += 1;
        self.send(path, out);
        self.events.push_back(Event::IkeSaUp {
            ike: sa.id,
            path,
            peer_id,
        });
        if initial_contact {
            self.initial_contact(sa);
        }
        Ok(())
    }

    /// INITIAL-CONTACT: the peer rebooted; every older ISAKMP SA of the same
    /// authenticated identity on the same proven address and port, and its ESP SAs, is
    /// gone (strongSwan deletes the IKE SAs with the same IDs; with one PSK for every
    /// user the ID alone proves nothing, nor does an address shared behind a NAT).
    pub(super) fn initial_contact(&mut self, sa: &IkeSa) {
        let Some(me) = sa.peer_id.as_ref() else {
            return;
        };
        let others: Vec<IkeSaId> = self
            .sas
            .values()
            .filter(|o| {
                o.id < sa.id && o.peer_id.as_ref() == Some(me) && o.path.remote == sa.path.remote
            })
            .map(|o| o.id)
            .collect();
        for id in others {
            if let Some(mut o) = self.sas.remove(&id) {
                self.kill(&mut o, super::DownReason::InitialContact);
                self.forget(&o);
            }
        }
    }

    /// Starts Main Mode toward `path.remote` with `profile`; the PSK comes from the
    /// endpoint's [`crate::PskStore`]. Quick Mode follows automatically.
    pub fn connect(
        &mut self,
        now: Instant,
        path: Path,
        profile: Profile,
    ) -> Result<IkeSaId, Error> {
        let psk = self.psk.psk(path.remote.ip());
        if profile.aggressive {
            return self.connect_aggressive(now, path, profile, psk.ok_or(Error::NoPsk)?);
        }
        let certs = self.config.certificates.as_deref();
        let usable = |s: &&proposal::Phase1Suite| {
            if s.auth.is_signature() {
                identity_for(certs, s.auth).is_ok() && certs.is_some_and(|c| c.ca_count() > 0)
            } else {
                psk.is_some()
            }
        };
        if !profile.ike.iter().any(|s| usable(&s)) {
            return Err(match profile.ike.first() {
                Some(s) if s.auth.is_signature() => CertError::NoIdentity.into(),
                _ => Error::NoPsk,
            });
        }
        let icookie = self.random_cookie();
        let id = self.alloc_id();
        let mut sa = IkeSa::new(id, Role::Initiator, path, icookie, Cookie::ZERO);
        let offer = proposal::phase1_offer(&profile.ike, profile.attribute_layout);
        let mut sai_b = Vec::new();
        offer.encode(&mut wire::Writer::new(&mut sai_b));
        let mut payloads = vec![Payload::Sa(offer)];
        payloads.extend(profile.vendor_ids.iter().cloned().map(Payload::VendorId));
        let msg = msgs::Message {
            header: header_for(&sa, ExchangeType::IdentityProtection, 0),
            body: msgs::Body::Plain(payloads),
        };
        let mut out = Vec::new();
        msg.encode(&mut out);
        sa.state = State::InitSentSa(Box::new(InitSentSa {
            offered: profile.ike.clone(),
            sai_b,
        }));
        sa.profile = Some(Box::new(profile));
        sa.psk = psk;
        sa.half_open_deadline = Some(
            now + self
                .config
                .limits
                .half_open_timeout
                .max(self.total_retransmit_time()),
        );
        self.request(now, &mut sa, path, out);
        self.by_cookies.insert((icookie, Cookie::ZERO), id);
        self.reinsert(sa);
        Ok(id)
    }

    fn total_retransmit_time(&self) -> std::time::Duration {
        let r = &self.config.retransmit;
        (0..r.tries)
            .map(|i| r.initial * 2u32.saturating_pow(i))
            .sum()
    }

    /// Sends a phase-1 request and arms its retransmission.
    pub(super) fn request(&mut self, now: Instant, sa: &mut IkeSa, path: Path, bytes: Vec<u8>) {
        let timeout = self.config.retransmit.initial;
        sa.pending = Some(Pending {
            bytes: bytes.clone(),
            path,
            sends: 1,
            next: now + timeout,
            timeout,
        });
        self.send(path, bytes);
    }

    fn initiator_mm2(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        header: &Header,
        body: &[u8],
    ) -> Result<(), Error> {
        let State::InitSentSa(st) = &sa.state else {
            return Ok(());
        };
        let chain = Self::plain_chain(header, body)?;
        let sa_b = require(&chain, PayloadType::Sa)?;
        let reply = SaPayload::decode(sa_b)?;
        let suite = proposal::accept_phase1_reply(&self.config, &st.offered, &reply)?;
        if header.rcookie.is_zero() {
            return Err(PeerMisbehaved::UnexpectedMessage("responder cookie is zero").into());
        }
        for p in chain
            .payloads
            .iter()
            .filter(|p| p.ty == PayloadType::VendorId)
        {
            sa.vendor.observe(p.body);
        }
        let sai_b = st.sai_b.clone();
        self.by_cookies.remove(&(sa.icookie, Cookie::ZERO));
        sa.rcookie = header.rcookie;
        self.by_cookies.insert((sa.icookie, sa.rcookie), sa.id);
        let p = self.provider();
        self.spend_anyway(now, suite.group.cost());
        let dh = p.dh_generate(suite.group, &mut self.rng);
        let ni = self.random_vec(NONCE_LEN);
        let mut payloads = vec![
            Payload::Ke(dh.public().to_vec()),
            Payload::Nonce(ni.clone()),
        ];
        if suite.auth.is_signature() {
            payloads.extend(certreq_payloads(self.config.certificates.as_deref()));
        }
        if let Some(natt) = sa.vendor.natt {
            let draft = natt == NattVersion::Draft;
            payloads.push(Payload::NatD {
                draft,
                hash: natd(p, suite.hash, sa.icookie, sa.rcookie, sa.path.remote),
            });
            payloads.push(Payload::NatD {
                draft,
                hash: natd(p, suite.hash, sa.icookie, sa.rcookie, sa.path.local),
            });
        }
        let msg = msgs::Message {
            header: header_for(sa, ExchangeType::IdentityProtection, 0),
            body: msgs::Body::Plain(payloads),
        };
        let mut out = Vec::new();
        msg.encode(&mut out);
        sa.state = State::InitSentKe(Box::new(InitSentKe {
            suite,
            sai_b,
            dh,
            ni,
        }));
        let path = sa.path;
        self.request(now, sa, path, out);
        Ok(())
    }

    fn initiator_mm4(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        header: &Header,
        body: &[u8],
    ) -> Result<(), Error> {
        let State::InitSentKe(st) = &sa.state else {
            return Ok(());
        };
        let chain = Self::plain_chain(header, body)?;
        let p = self.provider();
        // The responder's KE is checked before anything is computed with it; a bad one
        // means the exchange cannot complete (its retransmission would be the same).
        let gxr = match checked_ke(p, st.suite.group, &chain) {
            Ok(k) => k,
            Err(
                e @ (Error::InvalidKeyInformation(_)
                | Error::PeerMisbehaved(PeerMisbehaved::BadKeLength)),
            ) => {
                tracing::debug!(peer = %sa.path.remote, error = %e,
                    "Main Mode: invalid KE from the responder, giving up");
                sa.pending = None;
                self.kill(
                    sa,
                    super::DownReason::Refused(NotifyType::InvalidKeyInformation),
                );
                return Err(e);
            }
            // No KE at all: not the fourth message (a duplicate second one, say).
            Err(e) => return Err(e),
        };
        let nr = nonce(&chain)?;
        let mut units = st.suite.group.cost();
        if st.suite.auth.is_signature() {
            units += signature_cost(st.suite.auth, true);
        }
        self.spend_anyway(now, units);
        let gxy = st.dh.agree(gxr).map_err(Error::InvalidKeyInformation)?;
        let signatures = st.suite.auth.is_signature();
        let skeyid = if signatures {
            let max = self
                .config
                .certificates
                .as_ref()
                .map_or(0, |c| c.limits.max_certreqs);
            remember_certreqs(&mut sa.peer_certreqs, &chain, max);
            keys::skeyid_sig(p, st.suite.hash, &st.ni, &nr, gxy.as_bytes())
        } else {
            let psk = sa.psk.clone().ok_or(Error::NoPsk)?;
            keys::skeyid_psk(p, st.suite.hash, psk.as_bytes(), &st.ni, &nr)
        };
        let k = Phase1Keys::derive(
            p,
            st.suite.hash,
            st.suite.cipher,
            skeyid,
            gxy.as_bytes(),
            &sa.icookie.0,
            &sa.rcookie.0,
        );
        let gxi = st.dh.public().to_vec();
        let mut iv = keys::initial_iv(p, st.suite.hash, st.suite.cipher, &gxi, gxr);
        if sa.vendor.natt.is_some() {
            let theirs = natd_payloads(&chain);
            let h = st.suite.hash;
            let me = natd(p, h, sa.icookie, sa.rcookie, sa.path.local);
            let them = natd(p, h, sa.icookie, sa.rcookie, sa.path.remote);
            let we_natted = theirs.first().is_none_or(|x| *x != me.as_slice());
            let they_natted = !theirs.iter().skip(1).any(|x| *x == them.as_slice());
            if we_natted || they_natted {
                // Float to UDP 4500 (RFC 3947 §4).
                sa.udp_encap = true;
                sa.path.local.set_port(self.config.nat_t_port);
                sa.path.remote.set_port(self.config.nat_t_port);
            }
        }
        let input = HashInput {
            gxi: &gxi,
            gxr,
            cky_i: &sa.icookie.0,
            cky_r: &sa.rcookie.0,
            sai_b: &st.sai_b,
        };
        let mut payloads = if signatures {
            let certs = self.config.certificates.clone();
            let identity = identity_for(certs.as_deref(), st.suite.auth)?;
            signed_payloads(identity, &sa.peer_certreqs, &mut self.rng, |idii_b| {
                auth::hash_i(p, &hash_keys(&k, st.suite.auth), &input, idii_b)
            })?
        } else {
            let me = our_id(&sa.path);
            let hash_i = auth::hash_i(p, &k, &input, &id_bytes(&me));
            vec![Payload::Id(me), Payload::Hash(hash_i.as_bytes().to_vec())]
        };
        if sa.profile.as_ref().is_some_and(|pr| pr.initial_contact) {
            payloads.push(Payload::Notify(NotifyPayload {
                doi: DOI_IPSEC,
                protocol: ProtocolId::Isakmp,
                notify_type: NotifyType::InitialContact,
                spi: [sa.icookie.0, sa.rcookie.0].concat(),
                data: Vec::new(),
            }));
        }
        let chain_b = encode_payloads(&payloads);
        let out = seal(
            p,
            &k,
            &mut iv,
            header_for(sa, ExchangeType::IdentityProtection, 0),
            PayloadType::Id,
            &chain_b,
        );
        let (suite, sai_b) = (st.suite, st.sai_b.clone());
        sa.state = State::InitSentAuth(Box::new(Keyed {
            suite,
            sai_b,
            keys: k,
            iv,
            gxi,
            gxr: gxr.to_vec(),
        }));
        let path = sa.path;
        self.request(now, sa, path, out);
        Ok(())
    }

    fn initiator_mm6(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        header: &Header,
        body: &[u8],
    ) -> Result<(), Error> {
        let State::InitSentAuth(st) = &sa.state else {
            return Ok(());
        };
        let p = self.provider();
        let (plain, next_iv) = open(p, &st.keys, &st.iv, header, body)?;
        let chain =
            checked_chain(header.next_payload, &plain).map_err(|_| Error::AuthenticationFailed)?;
        let idir = require(&chain, PayloadType::Id)?;
        let input = HashInput {
            gxi: &st.gxi,
            gxr: &st.gxr,
            cky_i: &sa.icookie.0,
            cky_r: &sa.rcookie.0,
            sai_b: &st.sai_b,
        };
        let expected = auth::hash_r(p, &hash_keys(&st.keys, st.suite.auth), &input, idir);
        let proof = if st.suite.auth.is_signature() {
            let certs = chain
                .payloads
                .iter()
                .filter(|x| x.ty == PayloadType::Cert)
                .count();
            let units = signature_cost(st.suite.auth, false)
                .saturating_mul(u32::try_from(certs).unwrap_or(u32::MAX).saturating_add(1));
            self.spend_anyway(now, units);
            match verify_signed(&self.config, now, &chain, st.suite.auth, idir, &expected) {
                Ok((proof, peer)) => {
                    sa.peer_cert = Some(peer.subject);
                    proof
                }
                Err(e) => {
                    tracing::debug!(peer = %sa.path.remote, reason = %e, "Main Mode certificate authentication of the responder failed");
                    let (path, ic, rc) = (sa.path, sa.icookie, sa.rcookie);
                    self.send_plain_notify(path, ic, rc, NotifyType::AuthenticationFailed);
                    sa.pending = None;
                    self.kill(sa, super::DownReason::AuthenticationFailed);
                    return Err(e);
                }
            }
        } else {
            let hash = require(&chain, PayloadType::Hash)?;
            auth::verify_hash(&expected, hash)?
        };
        let peer_id = IdPayload::decode(idir)?;
        let (suite, keys) = (st.suite, st.keys.clone());
        sa.state = State::Established(Box::new(Established {
            keys,
            p1_last: next_iv,
            _auth: proof,
            dpd_seq: 0,
        }));
        sa.pending = None;
        sa.peer_id = Some(peer_id.clone());
        sa.expires = Some(now + suite.lifetime);
        let fraction = sa.profile.as_ref().map_or(0.9, |pr| pr.rekey_fraction);
        let jitter = suite
            .lifetime
            .mul_f64(0.05 * f64::from(self.rng.next_u32() % 1000) / 1000.0);
        sa.rekey_ike_at = Some(now + suite.lifetime.mul_f64(fraction).saturating_sub(jitter));
        self.stats.ike_sas_established += 1;
        self.events.push_back(Event::IkeSaUp {
            ike: sa.id,
            path: sa.path,
            peer_id,
        });
        // After a Main Mode rekey, ESP rekeys happen on this newest ISAKMP SA only.
        let mut rekey = false;
        for old in self
            .sas
            .values_mut()
            .filter(|o| o.role == Role::Initiator && o.first_path == sa.first_path)
        {
            old.rekey_ike_at = None;
            for c in &mut old.children {
                c.rekey_at = None;
                rekey = true;
            }
        }
        self.start_quick_mode(now, sa, rekey);
        Ok(())
    }
}
