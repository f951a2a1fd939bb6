//! Proposal selection against the allow-list (responder) and proposal building
//! (initiator), for phase 1 (ISAKMP) and phase 2 (ESP).
//!
//! The responder walks every proposal and transform in the peer's order and takes the
//! first acceptable one. Each refused transform is logged at trace; for phase 1 the
//! reasons are also counted in [`Refusals`], which the endpoint writes as one line (with
//! the peer's address), so an admin can see why a client failed and a peer cannot make
//! the gateway write a line per transform it sends.

use core::fmt;

use std::time::Duration;

use crate::config::Config;
use crate::crypto::{CipherAlg, DhGroup, HashAlg};
use crate::error::Error;
use crate::msgs::{
    Attribute, AuthMethod, DOI_IPSEC, DhGroupId, EncapsulationMode, EspAuthAlg, EspTransformId,
    IkeEncryption, IkeHash, IpsecAttr, KEY_IKE, LifeType, Phase1Attr, Proposal, ProtocolId,
    SIT_IDENTITY_ONLY, SaPayload, Transform,
};
use crate::phase1::cert::KeyKind;

/// Default ISAKMP SA lifetime when the proposal names none (RFC 2407: 8 hours).
pub const DEFAULT_IKE_LIFETIME: Duration = Duration::from_secs(28_800);
/// Default ESP SA lifetime when the proposal names none (RFC 2407 §4.5: 8 hours).
pub const DEFAULT_CHILD_LIFETIME: Duration = Duration::from_secs(28_800);

/// The phase-1 authentication method of a transform.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum Phase1Auth {
    /// Pre-shared key (1).
    Psk,
    /// RSA signatures (3).
    Rsa,
    /// ECDSA with SHA-256 on P-256 (9, RFC 4754).
    EcdsaP256,
    /// ECDSA with SHA-384 on P-384 (10, RFC 4754).
    EcdsaP384,
    /// ECDSA with SHA-512 on P-521 (11, RFC 4754).
    EcdsaP521,
}

impl Phase1Auth {
    /// The wire value.
    pub fn method(self) -> AuthMethod {
        match self {
            Self::Psk => AuthMethod::PreSharedKey,
            Self::Rsa => AuthMethod::RsaSignatures,
            Self::EcdsaP256 => AuthMethod::EcdsaSha256,
            Self::EcdsaP384 => AuthMethod::EcdsaSha384,
            Self::EcdsaP521 => AuthMethod::EcdsaSha512,
        }
    }

    /// From the wire value (`None`: a method we do not implement).
    pub fn from_method(m: AuthMethod) -> Option<Self> {
        Some(match m {
            AuthMethod::PreSharedKey => Self::Psk,
            AuthMethod::RsaSignatures => Self::Rsa,
            AuthMethod::EcdsaSha256 => Self::EcdsaP256,
            AuthMethod::EcdsaSha384 => Self::EcdsaP384,
            AuthMethod::EcdsaSha512 => Self::EcdsaP521,
            _ => return None,
        })
    }

    /// The method that signs with a key of `kind`.
    pub fn for_key(kind: KeyKind) -> Self {
        match kind {
            KeyKind::Rsa => Self::Rsa,
            KeyKind::EcdsaP256 => Self::EcdsaP256,
            KeyKind::EcdsaP384 => Self::EcdsaP384,
            KeyKind::EcdsaP521 => Self::EcdsaP521,
        }
    }

    /// The key kind the method signs with (`None`: PSK).
    pub fn key_kind(self) -> Option<KeyKind> {
        match self {
            Self::Psk => None,
            Self::EcdsaP521 => Some(KeyKind::EcdsaP521),
            Self::Rsa => Some(KeyKind::Rsa),
            Self::EcdsaP256 => Some(KeyKind::EcdsaP256),
            Self::EcdsaP384 => Some(KeyKind::EcdsaP384),
        }
    }

    /// True for the certificate (signature) methods.
    pub fn is_signature(self) -> bool {
        self != Self::Psk
    }
}

/// A chosen phase-1 suite.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Phase1Suite {
    /// Cipher.
    pub cipher: CipherAlg,
    /// Hash (and PRF).
    pub hash: HashAlg,
    /// DH group.
    pub group: DhGroup,
    /// Lifetime in seconds.
    pub lifetime: Duration,
    /// Lifetime in kilobytes, if given.
    pub life_kb: Option<u64>,
    /// Authentication method.
    pub auth: Phase1Auth,
}

/// How an initiator lays out the attributes of its phase-1 transforms (a responder
/// accepts any order and either encoding).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AttributeLayout {
    /// Encryption, key length, hash, authentication method, group, life type, life
    /// duration (two bytes when it fits): l2tpgw's own.
    #[default]
    Standard,
    /// Encryption, key length, hash, group, authentication method, life type, and the
    /// life duration always as a 4-byte variable-length attribute: what Windows sends
    /// (`80010007 800e0100 80020002 80040014 80030001 800b0001 000c0004 00007080`).
    Windows,
}

impl Phase1Suite {
    /// The transform that describes this suite.
    pub fn transform(&self, number: u8) -> Transform {
        self.transform_in(number, AttributeLayout::Standard)
    }

    /// The transform that describes this suite, its attributes laid out as `layout`.
    pub fn transform_in(&self, number: u8, layout: AttributeLayout) -> Transform {
        let mut attributes = Vec::new();
        let (enc, keylen) = match self.cipher {
            CipherAlg::TripleDes => (IkeEncryption::TripleDesCbc, None),
            CipherAlg::Aes128 => (IkeEncryption::AesCbc, Some(128)),
            CipherAlg::Aes192 => (IkeEncryption::AesCbc, Some(192)),
            CipherAlg::Aes256 => (IkeEncryption::AesCbc, Some(256)),
        };
        let p = |a: Phase1Attr, v: u16| Attribute::short(a.value(), v);
        attributes.push(p(Phase1Attr::EncryptionAlgorithm, enc.value()));
        if let Some(k) = keylen {
            attributes.push(p(Phase1Attr::KeyLength, k));
        }
        attributes.push(p(Phase1Attr::HashAlgorithm, hash_id(self.hash).value()));
        let auth = p(Phase1Attr::AuthenticationMethod, self.auth.method().value());
        let group = p(Phase1Attr::GroupDescription, self.group.id().value());
        let secs = u32::try_from(self.lifetime.as_secs()).unwrap_or(u32::MAX);
        let life = match layout {
            AttributeLayout::Standard => {
                attributes.extend([auth, group]);
                Attribute::number(Phase1Attr::LifeDuration.value(), secs)
            }
            AttributeLayout::Windows => {
                attributes.extend([group, auth]);
                Attribute {
                    ty: Phase1Attr::LifeDuration.value(),
                    value: crate::msgs::AttrValue::Long(secs.to_be_bytes().to_vec()),
                }
            }
        };
        attributes.push(p(Phase1Attr::LifeType, LifeType::Seconds.value()));
        attributes.push(life);
        Transform {
            number,
            id: KEY_IKE,
            attributes,
        }
    }
}

fn hash_id(h: HashAlg) -> IkeHash {
    match h {
        HashAlg::Md5 => IkeHash::Md5,
        HashAlg::Sha1 => IkeHash::Sha1,
        HashAlg::Sha256 => IkeHash::Sha2_256,
        HashAlg::Sha384 => IkeHash::Sha2_384,
        HashAlg::Sha512 => IkeHash::Sha2_512,
    }
}

/// Reads (life type, duration) pairs: each duration applies to the type before it.
fn lifetimes(
    attrs: &[Attribute],
    type_attr: u16,
    dur_attr: u16,
) -> Result<(Option<u64>, Option<u64>), &'static str> {
    let (mut secs, mut kb) = (None, None);
    let mut current = None;
    for a in attrs {
        if a.ty == type_attr {
            current = Some(LifeType::from(a.as_u64().unwrap_or(0) as u16));
        } else if a.ty == dur_attr {
            let v = a.as_u64().ok_or("life duration longer than 8 bytes")?;
            match current {
                Some(LifeType::Seconds) => secs = Some(v),
                Some(LifeType::Kilobytes) => kb = Some(v),
                _ => return Err("life duration without a known life type"),
            }
        }
    }
    Ok((secs, kb))
}

fn parse_phase1(config: &Config, t: &Transform) -> Result<Phase1Suite, &'static str> {
    if t.id != KEY_IKE {
        return Err("transform ID is not KEY_IKE");
    }
    let (mut enc, mut keylen, mut hash, mut auth, mut group) = (None, None, None, None, None);
    for a in &t.attributes {
        let v = a.as_u64();
        let v16 = v.and_then(|v| u16::try_from(v).ok());
        match Phase1Attr::from(a.ty) {
            Phase1Attr::EncryptionAlgorithm => enc = v16.map(IkeEncryption::from),
            Phase1Attr::KeyLength => keylen = v16,
            Phase1Attr::HashAlgorithm => hash = v16.map(IkeHash::from),
            Phase1Attr::AuthenticationMethod => auth = v16.map(AuthMethod::from),
            Phase1Attr::GroupDescription => group = v16.map(DhGroupId::from),
            Phase1Attr::LifeType | Phase1Attr::LifeDuration => {}
            _ => return Err("unsupported attribute (PRF, custom group, ...)"),
        }
    }
    let cipher = match (enc, keylen) {
        (Some(IkeEncryption::AesCbc), Some(128)) => CipherAlg::Aes128,
        (Some(IkeEncryption::AesCbc), Some(192)) => CipherAlg::Aes192,
        (Some(IkeEncryption::AesCbc), Some(256)) => CipherAlg::Aes256,
        (Some(IkeEncryption::AesCbc), _) => return Err("AES without a valid key length"),
        (Some(IkeEncryption::TripleDesCbc), None) => CipherAlg::TripleDes,
        (None, _) => return Err("no encryption algorithm"),
        _ => return Err("encryption algorithm not supported"),
    };
    let hash = match hash {
        Some(IkeHash::Md5) => HashAlg::Md5,
        Some(IkeHash::Sha1) => HashAlg::Sha1,
        Some(IkeHash::Sha2_256) => HashAlg::Sha256,
        Some(IkeHash::Sha2_384) => HashAlg::Sha384,
        Some(IkeHash::Sha2_512) => HashAlg::Sha512,
        _ => return Err("hash algorithm missing or not supported"),
    };
    let auth = match auth {
        Some(AuthMethod::XauthInitPsk) => return Err("XAUTH is not offered"),
        Some(m) => Phase1Auth::from_method(m).ok_or(
            "authentication method not supported (pre-shared key, RSA or ECDSA signatures)",
        )?,
        None => return Err("no authentication method"),
    };
    let group = group
        .and_then(DhGroup::from_id)
        .ok_or("DH group missing or not supported")?;
    config.refuse_cipher(cipher).map_or(Ok(()), Err)?;
    config.refuse_hash(hash).map_or(Ok(()), Err)?;
    config.refuse_group(group).map_or(Ok(()), Err)?;
    let (secs, kb) = lifetimes(
        &t.attributes,
        Phase1Attr::LifeType.value(),
        Phase1Attr::LifeDuration.value(),
    )?;
    let lifetime = secs.map_or(DEFAULT_IKE_LIFETIME, Duration::from_secs);
    Ok(Phase1Suite {
        cipher,
        hash,
        group,
        lifetime: lifetime
            .min(config.ike_lifetime_max)
            .max(Duration::from_secs(60)),
        life_kb: kb,
        auth,
    })
}

/// Why the proposals of an SA payload were refused: how many, and each reason with its
/// count (at most [`Refusals::MAX_REASONS`] distinct ones, the rest as "other"). Its
/// Display is the one-line summary the endpoint logs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Refusals {
    /// Proposals looked at.
    pub proposals: u32,
    /// Transforms refused.
    pub transforms: u32,
    /// Each reason and how often it was given, in the order first seen.
    pub reasons: Vec<(&'static str, u32)>,
}

impl Refusals {
    /// Distinct reasons kept; further ones are counted as "other".
    pub const MAX_REASONS: usize = 16;

    fn note(&mut self, reason: &'static str) {
        if let Some(r) = self.reasons.iter_mut().find(|(r, _)| *r == reason) {
            r.1 += 1;
        } else if self.reasons.len() < Self::MAX_REASONS {
            self.reasons.push((reason, 1));
        } else if let Some(last) = self.reasons.last_mut() {
            last.0 = "other";
            last.1 += 1;
        }
    }
}

impl fmt::Display for Refusals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} proposals, {} transforms refused",
            self.proposals, self.transforms
        )?;
        for (i, (reason, n)) in self.reasons.iter().enumerate() {
            f.write_str(if i == 0 { ": " } else { ", " })?;
            write!(f, "{reason} x{n}")?;
        }
        Ok(())
    }
}

/// Chooses the first acceptable phase-1 transform in the peer's order. Returns the suite
/// and the SA payload to answer with (the chosen proposal with only that transform,
/// attributes as the peer sent them). `auth_ok` says why an authentication method is
/// refused for this peer, if it is ([`Config::refuse_auth`]).
pub fn select_phase1(
    config: &Config,
    sa: &SaPayload,
    auth_ok: &dyn Fn(Phase1Auth) -> Option<&'static str>,
) -> Result<(Phase1Suite, SaPayload), Error> {
    select_phase1_noting(config, sa, auth_ok, &mut Refusals::default())
}

/// [`select_phase1`], counting every refusal in `refusals`.
pub fn select_phase1_noting(
    config: &Config,
    sa: &SaPayload,
    auth_ok: &dyn Fn(Phase1Auth) -> Option<&'static str>,
    refusals: &mut Refusals,
) -> Result<(Phase1Suite, SaPayload), Error> {
    for p in &sa.proposals {
        refusals.proposals += 1;
        if p.protocol != ProtocolId::Isakmp {
            tracing::trace!(
                proposal = p.number,
                "refused proposal: protocol is not ISAKMP"
            );
            refusals.note("protocol is not ISAKMP");
            continue;
        }
        for t in &p.transforms {
            match parse_phase1(config, t).and_then(|s| auth_ok(s.auth).map_or(Ok(s), Err)) {
                Ok(suite) => {
                    let reply = SaPayload {
                        doi: DOI_IPSEC,
                        situation: sa.situation,
                        proposals: vec![Proposal {
                            number: p.number,
                            protocol: ProtocolId::Isakmp,
                            spi: p.spi.clone(),
                            transforms: vec![t.clone()],
                        }],
                    };
                    return Ok((suite, reply));
                }
                Err(reason) => {
                    tracing::trace!(
                        proposal = p.number,
                        transform = t.number,
                        reason,
                        "refused IKE transform"
                    );
                    refusals.transforms += 1;
                    refusals.note(reason);
                }
            }
        }
    }
    Err(Error::NoProposalChosen)
}

/// Checks that a responder's choice is one of the transforms we offered.
pub fn accept_phase1_reply(
    config: &Config,
    offered: &[Phase1Suite],
    reply: &SaPayload,
) -> Result<Phase1Suite, Error> {
    let t = match reply.proposals.as_slice() {
        [p] if p.transforms.len() == 1 => &p.transforms[0],
        _ => return Err(crate::error::PeerMisbehaved::ResponseNotProposed.into()),
    };
    let mut permissive = config.clone();
    permissive.legacy = true;
    let got = parse_phase1(&permissive, t)
        .map_err(|_| Error::from(crate::error::PeerMisbehaved::ResponseNotProposed))?;
    offered
        .iter()
        .find(|o| {
            o.cipher == got.cipher
                && o.hash == got.hash
                && o.group == got.group
                && o.auth == got.auth
        })
        .map(|o| Phase1Suite {
            lifetime: got.lifetime.min(o.lifetime),
            ..*o
        })
        .ok_or(crate::error::PeerMisbehaved::ResponseNotProposed.into())
}

/// The SA payload proposing `suites` in one ISAKMP proposal.
pub fn phase1_offer(suites: &[Phase1Suite], layout: AttributeLayout) -> SaPayload {
    SaPayload {
        doi: DOI_IPSEC,
        situation: SIT_IDENTITY_ONLY,
        proposals: vec![Proposal {
            number: 1,
            protocol: ProtocolId::Isakmp,
            spi: Vec::new(),
            transforms: suites
                .iter()
                .enumerate()
                .map(|(i, s)| s.transform_in(i as u8 + 1, layout))
                .collect(),
        }],
    }
}

/// How ESP is carried.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum Encapsulation {
    /// Plain ESP (IP protocol 50), transport mode.
    Transport,
    /// ESP in UDP 4500 (RFC 3948), transport mode.
    UdpTransport,
}

/// A chosen phase-2 suite.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Phase2Suite {
    /// ESP suite.
    pub suite: esp::Suite,
    /// Encapsulation.
    pub encapsulation: Encapsulation,
    /// The encapsulation-mode value used on the wire (RFC or draft).
    pub mode_value: EncapsulationMode,
    /// PFS group, if any.
    pub pfs: Option<DhGroup>,
    /// Lifetime in seconds.
    pub lifetime: Duration,
    /// Lifetime in kilobytes, if given.
    pub life_kb: Option<u64>,
}

/// What the phase-2 choice depends on besides the allow-list.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Phase2Context {
    /// NAT-T was negotiated and the exchange floated to UDP 4500.
    pub udp_encap: bool,
}

fn esp_encryption(
    id: EspTransformId,
    keylen: Option<u64>,
) -> Result<esp::Encryption, &'static str> {
    use esp::Encryption as E;
    Ok(match (id, keylen) {
        (EspTransformId::TripleDes, None) => E::TripleDesCbc,
        (EspTransformId::Aes, None | Some(128)) => E::AesCbc128,
        (EspTransformId::Aes, Some(192)) => E::AesCbc192,
        (EspTransformId::Aes, Some(256)) => E::AesCbc256,
        (EspTransformId::AesGcm16, Some(128)) => E::AesGcm16_128,
        (EspTransformId::AesGcm16, Some(256)) => E::AesGcm16_256,
        (EspTransformId::Aes | EspTransformId::AesGcm16, _) => return Err("bad AES key length"),
        _ => return Err("ESP transform not supported"),
    })
}

fn parse_phase2(
    config: &Config,
    ctx: Phase2Context,
    t: &Transform,
) -> Result<Phase2Suite, &'static str> {
    let mut keylen = None;
    let mut auth = None;
    let mut mode = None;
    let mut pfs = None;
    for a in &t.attributes {
        let v = a.as_u64();
        let v16 = v.and_then(|v| u16::try_from(v).ok());
        match IpsecAttr::from(a.ty) {
            IpsecAttr::KeyLength => keylen = v,
            IpsecAttr::AuthAlgorithm => auth = v16.map(EspAuthAlg::from),
            IpsecAttr::EncapsulationMode => mode = v16.map(EncapsulationMode::from),
            IpsecAttr::GroupDescription => {
                pfs = Some(
                    v16.map(DhGroupId::from)
                        .and_then(DhGroup::from_id)
                        .ok_or("PFS group not supported")?,
                );
            }
            IpsecAttr::LifeType | IpsecAttr::LifeDuration => {}
            IpsecAttr::ExtendedSeqNum if v == Some(0) => {}
            _ => return Err("unsupported ESP attribute"),
        }
    }
    let encryption = esp_encryption(EspTransformId::from(t.id), keylen)?;
    let integrity = match auth {
        None if encryption.is_aead() => esp::Integrity::None,
        None => return Err("no authentication algorithm"),
        Some(_) if encryption.is_aead() => return Err("AES-GCM with an authentication algorithm"),
        Some(EspAuthAlg::HmacMd5) => esp::Integrity::HmacMd5_96,
        Some(EspAuthAlg::HmacSha1) => esp::Integrity::HmacSha1_96,
        Some(EspAuthAlg::HmacSha2_256) => esp::Integrity::HmacSha256_128,
        Some(EspAuthAlg::HmacSha2_384) => esp::Integrity::HmacSha384_192,
        Some(EspAuthAlg::HmacSha2_512) => esp::Integrity::HmacSha512_256,
        Some(_) => return Err("authentication algorithm not supported"),
    };
    config
        .refuse_esp_encryption(encryption)
        .map_or(Ok(()), Err)?;
    config.refuse_esp_integrity(integrity).map_or(Ok(()), Err)?;
    if let Some(g) = pfs {
        config.refuse_group(g).map_or(Ok(()), Err)?;
    }
    let suite = esp::Suite::new(encryption, integrity).map_err(|_| "invalid ESP suite")?;
    let mode_value = mode.unwrap_or(EncapsulationMode::Tunnel);
    let encapsulation = match mode_value {
        EncapsulationMode::Transport if !ctx.udp_encap => Encapsulation::Transport,
        EncapsulationMode::Transport => return Err("plain transport mode after NAT-T floating"),
        EncapsulationMode::UdpTransport | EncapsulationMode::UdpTransportDraft if ctx.udp_encap => {
            Encapsulation::UdpTransport
        }
        EncapsulationMode::UdpTransport | EncapsulationMode::UdpTransportDraft => {
            return Err("UDP-encapsulated transport without NAT-T");
        }
        _ => return Err("tunnel mode is not offered (L2TP uses transport mode)"),
    };
    let (secs, kb) = lifetimes(
        &t.attributes,
        IpsecAttr::LifeType.value(),
        IpsecAttr::LifeDuration.value(),
    )?;
    Ok(Phase2Suite {
        suite,
        encapsulation,
        mode_value,
        pfs,
        lifetime: secs.map_or(DEFAULT_CHILD_LIFETIME, Duration::from_secs),
        life_kb: kb,
    })
}

/// The responder's phase-2 choice.
#[derive(Clone, Debug)]
pub struct Phase2Choice {
    /// The suite.
    pub suite: Phase2Suite,
    /// The peer's SPI (our outbound SPI).
    pub peer_spi: [u8; 4],
    /// The chosen proposal with only the chosen transform (SPI still the peer's).
    pub proposal: Proposal,
}

/// Chooses the first acceptable ESP transform in the peer's order.
pub fn select_phase2(
    config: &Config,
    ctx: Phase2Context,
    sa: &SaPayload,
) -> Result<Phase2Choice, Error> {
    for (i, p) in sa.proposals.iter().enumerate() {
        // Proposals sharing a number are ANDed (e.g. AH+ESP bundles): not offered.
        let bundled = sa
            .proposals
            .iter()
            .enumerate()
            .any(|(j, q)| j != i && q.number == p.number);
        if bundled || p.protocol != ProtocolId::Esp {
            tracing::info!(
                proposal = p.number,
                "refused proposal: not a lone ESP proposal"
            );
            continue;
        }
        let Ok(peer_spi) = <[u8; 4]>::try_from(p.spi.as_slice()) else {
            tracing::info!(
                proposal = p.number,
                "refused proposal: ESP SPI is not 4 bytes"
            );
            continue;
        };
        for t in &p.transforms {
            match parse_phase2(config, ctx, t) {
                Ok(suite) => {
                    return Ok(Phase2Choice {
                        suite,
                        peer_spi,
                        proposal: Proposal {
                            number: p.number,
                            protocol: ProtocolId::Esp,
                            spi: p.spi.clone(),
                            transforms: vec![t.clone()],
                        },
                    });
                }
                Err(reason) => tracing::info!(
                    proposal = p.number,
                    transform = t.number,
                    reason,
                    "refused ESP transform"
                ),
            }
        }
    }
    Err(Error::NoProposalChosen)
}

/// Parses a responder's phase-2 answer (one proposal, one transform).
pub fn accept_phase2_reply(
    config: &Config,
    ctx: Phase2Context,
    reply: &SaPayload,
) -> Result<Phase2Choice, Error> {
    let mut permissive = config.clone();
    permissive.legacy = true;
    match reply.proposals.as_slice() {
        [p] if p.transforms.len() == 1 => select_phase2(&permissive, ctx, reply)
            .map_err(|_| crate::error::PeerMisbehaved::ResponseNotProposed.into())
            .map(|mut c| {
                c.proposal = p.clone();
                c
            }),
        _ => Err(crate::error::PeerMisbehaved::ResponseNotProposed.into()),
    }
}

/// One ESP transform to offer.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct EspOffer {
    /// The suite.
    pub suite: esp::Suite,
    /// Lifetime in seconds.
    pub lifetime: Duration,
    /// Lifetime in kilobytes, proposed after the seconds (Windows: 250 000), if any.
    pub life_kb: Option<u32>,
}

/// The ESP SA payload an initiator sends: one proposal with every offer as a transform.
pub fn phase2_offer(
    offers: &[EspOffer],
    spi: [u8; 4],
    mode: EncapsulationMode,
    pfs: Option<DhGroup>,
) -> SaPayload {
    let transforms = offers
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let e = o.suite.encryption();
            let (id, keylen) = match e {
                esp::Encryption::TripleDesCbc => (EspTransformId::TripleDes, None),
                esp::Encryption::AesCbc128 => (EspTransformId::Aes, Some(128)),
                esp::Encryption::AesCbc192 => (EspTransformId::Aes, Some(192)),
                esp::Encryption::AesCbc256 => (EspTransformId::Aes, Some(256)),
                esp::Encryption::AesGcm16_128 => (EspTransformId::AesGcm16, Some(128)),
                esp::Encryption::AesGcm16_256 => (EspTransformId::AesGcm16, Some(256)),
            };
            let a = |t: IpsecAttr, v: u16| Attribute::short(t.value(), v);
            let mut attributes = vec![
                a(IpsecAttr::LifeType, LifeType::Seconds.value()),
                Attribute::number(
                    IpsecAttr::LifeDuration.value(),
                    u32::try_from(o.lifetime.as_secs()).unwrap_or(u32::MAX),
                ),
            ];
            if let Some(kb) = o.life_kb {
                attributes.push(a(IpsecAttr::LifeType, LifeType::Kilobytes.value()));
                attributes.push(Attribute::number(IpsecAttr::LifeDuration.value(), kb));
            }
            attributes.push(a(IpsecAttr::EncapsulationMode, mode.value()));
            let auth = match o.suite.integrity() {
                esp::Integrity::None => None,
                esp::Integrity::HmacMd5_96 => Some(EspAuthAlg::HmacMd5),
                esp::Integrity::HmacSha1_96 => Some(EspAuthAlg::HmacSha1),
                esp::Integrity::HmacSha256_128 => Some(EspAuthAlg::HmacSha2_256),
                esp::Integrity::HmacSha384_192 => Some(EspAuthAlg::HmacSha2_384),
                esp::Integrity::HmacSha512_256 => Some(EspAuthAlg::HmacSha2_512),
            };
            if let Some(x) = auth {
                attributes.push(a(IpsecAttr::AuthAlgorithm, x.value()));
            }
            if let Some(k) = keylen {
                attributes.push(a(IpsecAttr::KeyLength, k));
            }
            if let Some(g) = pfs {
                attributes.push(a(IpsecAttr::GroupDescription, g.id().value()));
            }
            Transform {
                number: i as u8 + 1,
                id: id.value(),
                attributes,
            }
        })
        .collect();
    SaPayload {
        doi: DOI_IPSEC,
        situation: SIT_IDENTITY_ONLY,
        proposals: vec![Proposal {
            number: 1,
            protocol: ProtocolId::Esp,
            spi: spi.to_vec(),
            transforms,
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msgs::AttrValue;

    fn esp_transform(id: EspTransformId, attrs: Vec<Attribute>) -> SaPayload {
        SaPayload {
            doi: DOI_IPSEC,
            situation: SIT_IDENTITY_ONLY,
            proposals: vec![Proposal {
                number: 1,
                protocol: ProtocolId::Esp,
                spi: vec![1, 2, 3, 4],
                transforms: vec![Transform {
                    number: 1,
                    id: id.value(),
                    attributes: attrs,
                }],
            }],
        }
    }

    fn a(t: IpsecAttr, v: u16) -> Attribute {
        Attribute::short(t.value(), v)
    }

    #[test]
    fn windows_profile_offers_one_hour_and_250000_kilobytes() {
        // Windows' Quick Mode lifetimes as a responder reads them back (strongSwan logged
        // "received 250000000 lifebytes" from a Windows client: pfsense/docs
        // source/vpn/ipsec/l2tp-ipsec.rst).
        let p = crate::Profile::windows();
        let sa = phase2_offer(&p.esp, [1, 2, 3, 4], EncapsulationMode::UdpTransport, None);
        let c = select_phase2(&Config::default(), Phase2Context { udp_encap: true }, &sa).unwrap();
        assert_eq!(c.suite.lifetime, Duration::from_secs(3600));
        assert_eq!(c.suite.life_kb, Some(250_000));
        // Seconds first, then kilobytes as a 4-byte value.
        let t = &sa.proposals[0].transforms[0];
        let mut enc = Vec::new();
        crate::msgs::sa::encode_attributes(&t.attributes[2..4], &mut wire::Writer::new(&mut enc));
        assert_eq!(hex::encode(&enc), "80010002000200040003d090");
        // The Linux profile names no kilobytes.
        let l = phase2_offer(
            &crate::Profile::linux().esp,
            [1, 2, 3, 4],
            EncapsulationMode::UdpTransport,
            None,
        );
        let c = select_phase2(&Config::default(), Phase2Context { udp_encap: true }, &l).unwrap();
        assert_eq!(c.suite.life_kb, None);
    }

    #[test]
    fn windows_style_esp_with_seconds_and_kilobytes() {
        // Life type/duration pairs in sequence; the kilobyte duration as a 4-byte TLV.
        let sa = esp_transform(
            EspTransformId::Aes,
            vec![
                a(IpsecAttr::LifeType, 1),
                a(IpsecAttr::LifeDuration, 3600),
                a(IpsecAttr::LifeType, 2),
                Attribute {
                    ty: IpsecAttr::LifeDuration.value(),
                    value: AttrValue::Long(250_000u32.to_be_bytes().to_vec()),
                },
                a(
                    IpsecAttr::EncapsulationMode,
                    EncapsulationMode::UdpTransport.value(),
                ),
                a(IpsecAttr::AuthAlgorithm, EspAuthAlg::HmacSha1.value()),
                a(IpsecAttr::KeyLength, 256),
            ],
        );
        let c = select_phase2(&Config::default(), Phase2Context { udp_encap: true }, &sa).unwrap();
        assert_eq!(c.suite.lifetime, Duration::from_secs(3600));
        assert_eq!(c.suite.life_kb, Some(250_000));
        assert_eq!(c.suite.encapsulation, Encapsulation::UdpTransport);
        assert_eq!(c.peer_spi, [1, 2, 3, 4]);
        // The same transform without NAT-T floating is refused, as is plain transport
        // after floating, and tunnel mode always.
        assert!(
            select_phase2(&Config::default(), Phase2Context { udp_encap: false }, &sa).is_err()
        );
        for (mode, encap) in [
            (EncapsulationMode::Transport, true),
            (EncapsulationMode::Tunnel, false),
            (EncapsulationMode::UdpTunnel, true),
        ] {
            let sa = esp_transform(
                EspTransformId::Aes,
                vec![
                    a(IpsecAttr::EncapsulationMode, mode.value()),
                    a(IpsecAttr::AuthAlgorithm, 2),
                ],
            );
            assert_eq!(
                select_phase2(&Config::default(), Phase2Context { udp_encap: encap }, &sa)
                    .unwrap_err(),
                Error::NoProposalChosen
            );
        }
    }

    #[test]
    fn gcm_needs_no_auth_and_3des_needs_legacy() {
        let gcm = esp_transform(
            EspTransformId::AesGcm16,
            vec![
                a(IpsecAttr::KeyLength, 128),
                a(IpsecAttr::EncapsulationMode, 2),
            ],
        );
        let c =
            select_phase2(&Config::default(), Phase2Context { udp_encap: false }, &gcm).unwrap();
        assert_eq!(c.suite.suite.encryption(), esp::Encryption::AesGcm16_128);
        let gcm_auth = esp_transform(
            EspTransformId::AesGcm16,
            vec![
                a(IpsecAttr::KeyLength, 128),
                a(IpsecAttr::EncapsulationMode, 2),
                a(IpsecAttr::AuthAlgorithm, 2),
            ],
        );
        assert!(
            select_phase2(
                &Config::default(),
                Phase2Context { udp_encap: false },
                &gcm_auth
            )
            .is_err()
        );
        let des3 = esp_transform(
            EspTransformId::TripleDes,
            vec![
                a(IpsecAttr::EncapsulationMode, 2),
                a(IpsecAttr::AuthAlgorithm, 2),
            ],
        );
        assert!(
            select_phase2(
                &Config::default(),
                Phase2Context { udp_encap: false },
                &des3
            )
            .is_err()
        );
        let legacy = Config {
            legacy: true,
            ..Config::default()
        };
        assert!(select_phase2(&legacy, Phase2Context { udp_encap: false }, &des3).is_ok());
        let des = esp_transform(
            EspTransformId::Des,
            vec![
                a(IpsecAttr::EncapsulationMode, 2),
                a(IpsecAttr::AuthAlgorithm, 2),
            ],
        );
        assert!(select_phase2(&legacy, Phase2Context { udp_encap: false }, &des).is_err());
    }

    #[test]
    fn phase1_picks_in_the_peers_order_and_skips_refused_transforms() {
        let suites = [
            Phase1Suite {
                cipher: CipherAlg::TripleDes,
                hash: HashAlg::Sha1,
                group: DhGroup::Modp2048,
                lifetime: DEFAULT_IKE_LIFETIME,
                life_kb: None,
                auth: Phase1Auth::Psk,
            },
            Phase1Suite {
                cipher: CipherAlg::Aes128,
                hash: HashAlg::Md5,
                group: DhGroup::Modp2048,
                lifetime: DEFAULT_IKE_LIFETIME,
                life_kb: None,
                auth: Phase1Auth::Psk,
            },
            Phase1Suite {
                cipher: CipherAlg::Aes128,
                hash: HashAlg::Sha256,
                group: DhGroup::Ecp256,
                lifetime: Duration::from_secs(86_400 * 7),
                life_kb: None,
                auth: Phase1Auth::Psk,
            },
            Phase1Suite {
                cipher: CipherAlg::Aes256,
                hash: HashAlg::Sha1,
                group: DhGroup::Ecp384,
                lifetime: DEFAULT_IKE_LIFETIME,
                life_kb: None,
                auth: Phase1Auth::Psk,
            },
        ];
        let offer = phase1_offer(&suites, AttributeLayout::Standard);
        let (got, reply) = select_phase1(&Config::default(), &offer, &|_| None).unwrap();
        assert_eq!(
            (got.cipher, got.hash, got.group),
            (CipherAlg::Aes128, HashAlg::Sha256, DhGroup::Ecp256)
        );
        // A week is shortened to the configured maximum.
        assert_eq!(got.lifetime, Config::default().ike_lifetime_max);
        assert_eq!(
            reply.proposals[0].transforms,
            vec![offer.proposals[0].transforms[2].clone()]
        );
        let legacy = Config {
            legacy: true,
            ..Config::default()
        };
        assert_eq!(
            select_phase1(&legacy, &offer, &|_| None).unwrap().0.cipher,
            CipherAlg::TripleDes
        );
        assert_eq!(
            accept_phase1_reply(&Config::default(), &suites, &reply)
                .unwrap()
                .group,
            DhGroup::Ecp256
        );
        assert!(accept_phase1_reply(&Config::default(), &suites[..2], &reply).is_err());
    }

    #[test]
    fn errors_map_to_notifications() {
        assert_eq!(
            Error::NoProposalChosen.notify(),
            Some(crate::msgs::NotifyType::NoProposalChosen)
        );
        assert_eq!(
            Error::AuthenticationFailed.notify(),
            Some(crate::msgs::NotifyType::AuthenticationFailed)
        );
        assert_eq!(
            Error::PeerMisbehaved(crate::error::PeerMisbehaved::BadHash).notify(),
            Some(crate::msgs::NotifyType::InvalidHashInformation)
        );
        assert_eq!(Error::UnknownSa.notify(), None);
    }
}
