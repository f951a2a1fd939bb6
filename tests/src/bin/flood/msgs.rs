//! The datagrams of the flood: every attack's packets and the legitimate prober's first
//! message, built with the `ike` crate's encoders (the flood judges the gateway's
//! behaviour under load, not its codec, so sharing the encoder hides nothing).

use ike::fragment::{FragmentMessage, FragmentPayload};
use ike::msgs::{
    Attribute, Body, Cookie, DOI_IPSEC, ExchangeType, Flags, Header, KEY_IKE, Message, MessageId,
    Payload, PayloadType, Phase1Attr, Proposal, ProtocolId, SIT_IDENTITY_ONLY, SaPayload,
    Transform, vendor,
};
use wire::random::SecureRandom;

/// Phase-1 Diffie-Hellman group MODP-4096 (group 16): the costliest group the gateway
/// allows by default, so a bad third message makes it do the most work.
pub(crate) const GROUP_MODP4096: u16 = 16;
/// Length of a MODP-4096 public value (the KE payload's body).
pub(crate) const MODP4096_LEN: usize = 512;
/// Proposals in the log-flooding first message.
pub(crate) const BIG_PROPOSALS: u8 = 31;
/// Transforms per proposal in the log-flooding first message (the decoder's maximum).
pub(crate) const BIG_TRANSFORMS: u8 = 64;
/// Size of a fragment's data in the fragment flood.
pub(crate) const FRAGMENT_DATA_LEN: usize = 1000;

/// One phase-1 transform: AES-CBC with `key_bits`, `hash` (2 = SHA-1, 4 = SHA2-256),
/// pre-shared key authentication, `group`, 28800 s.
fn phase1_transform(number: u8, key_bits: u16, hash: u16, group: u16) -> Transform {
    let attr = |ty: Phase1Attr, v: u16| Attribute::short(ty.value(), v);
    Transform {
        number,
        id: KEY_IKE,
        attributes: vec![
            attr(Phase1Attr::EncryptionAlgorithm, 7),
            attr(Phase1Attr::KeyLength, key_bits),
            attr(Phase1Attr::HashAlgorithm, hash),
            attr(Phase1Attr::AuthenticationMethod, 1),
            attr(Phase1Attr::GroupDescription, group),
            attr(Phase1Attr::LifeType, 1),
            Attribute::number(Phase1Attr::LifeDuration.value(), 28_800),
        ],
    }
}

fn phase1_sa(proposals: Vec<Proposal>) -> Payload {
    Payload::Sa(SaPayload {
        doi: DOI_IPSEC,
        situation: SIT_IDENTITY_ONLY,
        proposals,
    })
}

fn isakmp_proposal(number: u8, transforms: Vec<Transform>) -> Proposal {
    Proposal {
        number,
        protocol: ProtocolId::Isakmp,
        spi: Vec::new(),
        transforms,
    }
}

fn header(icookie: Cookie, rcookie: Cookie) -> Header {
    Header {
        icookie,
        rcookie,
        next_payload: PayloadType::None,
        version: Header::VERSION,
        exchange: ExchangeType::IdentityProtection,
        flags: Flags(0),
        message_id: MessageId(0),
        length: 0,
    }
}

fn encode(header: Header, payloads: Vec<Payload>) -> Vec<u8> {
    let mut out = Vec::new();
    Message {
        header,
        body: Body::Plain(payloads),
    }
    .encode(&mut out);
    out
}

/// A random non-zero cookie.
pub(crate) fn random_cookie(rng: &mut dyn SecureRandom) -> Cookie {
    let mut c = [0; 8];
    while c == [0; 8] {
        rng.fill(&mut c);
    }
    Cookie(c)
}

/// The legitimate prober's first Main Mode message: what a strongSwan client offers
/// (AES-256 and AES-128, SHA-1, MODP-2048, PSK) with the RFC 3947 NAT-T vendor ID.
pub(crate) fn legit_main_mode_1(icookie: Cookie) -> Vec<u8> {
    encode(
        header(icookie, Cookie::ZERO),
        vec![
            phase1_sa(vec![isakmp_proposal(
                1,
                vec![
                    phase1_transform(1, 256, 2, 14),
                    phase1_transform(2, 128, 2, 14),
                ],
            )]),
            Payload::VendorId(vendor::NATT_RFC3947.to_vec()),
        ],
    )
}

/// The attacker's first Main Mode message: one transform with MODP-4096 (so that each
/// third message costs a 4096-bit Diffie-Hellman) and the fragmentation vendor ID (so
/// that the gateway takes fragments for the SA).
pub(crate) fn attacker_main_mode_1(icookie: Cookie) -> Vec<u8> {
    encode(
        header(icookie, Cookie::ZERO),
        vec![
            phase1_sa(vec![isakmp_proposal(
                1,
                vec![phase1_transform(1, 256, 2, GROUP_MODP4096)],
            )]),
            Payload::VendorId(ike::fragment::vendor_id()),
        ],
    )
}

/// Attack a: the third Main Mode message with a KE payload of all 0xff bytes (not a
/// valid MODP-4096 public value: it is above the prime) and a fresh-looking nonce.
pub(crate) fn invalid_ke_main_mode_3(icookie: Cookie, rcookie: Cookie, nonce: [u8; 32]) -> Vec<u8> {
    encode(
        header(icookie, rcookie),
        vec![
            Payload::Ke(vec![0xff; MODP4096_LEN]),
            Payload::Nonce(nonce.to_vec()),
        ],
    )
}

/// Attack e: a first message with [`BIG_PROPOSALS`] proposals of [`BIG_TRANSFORMS`]
/// transforms each, none acceptable (no attributes at all), so a responder that logs
/// every refused transform writes about 2000 lines for one datagram of 16 KB (the most
/// that fits the gateway's 16 KiB message limit).
pub(crate) fn big_proposal_main_mode_1(icookie: Cookie) -> Vec<u8> {
    let proposals = (1..=BIG_PROPOSALS)
        .map(|p| {
            let transforms = (1..=BIG_TRANSFORMS)
                .map(|number| Transform {
                    number,
                    id: KEY_IKE,
                    attributes: Vec::new(),
                })
                .collect();
            isakmp_proposal(p, transforms)
        })
        .collect();
    encode(header(icookie, Cookie::ZERO), vec![phase1_sa(proposals)])
}

/// Attack d: one IKE fragment (Microsoft/Cisco format, on UDP 500) of a message under the
/// given cookies: a random fragment ID, a random number from 1 to 16 that is never the
/// last, and [`FRAGMENT_DATA_LEN`] random bytes, so that every such fragment opens or
/// grows a reassembly that never completes.
pub(crate) fn fragment(icookie: Cookie, rcookie: Cookie, rng: &mut dyn SecureRandom) -> Vec<u8> {
    let mut data = [0u8; FRAGMENT_DATA_LEN];
    rng.fill(&mut data);
    let mut id = [0u8; 3];
    rng.fill(&mut id);
    let mut out = Vec::with_capacity(ike::msgs::HEADER_LEN + 8 + FRAGMENT_DATA_LEN);
    FragmentMessage {
        header: header(icookie, rcookie),
        fragment: FragmentPayload {
            id: u16::from_be_bytes([id[0], id[1]]),
            number: 1 + id[2] % 16,
            flags: 0,
            data: &data,
        },
    }
    .encode(&mut out);
    out
}

/// The three kinds of junk of attack c, sent to UDP 4500 in turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Junk {
    /// What looks like UDP-encapsulated ESP: a random non-zero SPI, a sequence number
    /// and 64 to 255 random bytes.
    Esp,
    /// 1 to 1400 random bytes.
    Random,
    /// The non-ESP marker (four zero bytes) and an IKE header with random cookies,
    /// exchange, flags and message ID, followed by a random body the header's length
    /// covers.
    Ike,
}

impl Junk {
    /// The kind for the `n`-th packet.
    pub(crate) fn nth(n: u64) -> Self {
        match n % 3 {
            0 => Self::Esp,
            1 => Self::Random,
            _ => Self::Ike,
        }
    }
}

/// One junk datagram of the given kind for UDP 4500.
pub(crate) fn junk_4500(kind: Junk, rng: &mut dyn SecureRandom) -> Vec<u8> {
    let mut len_bytes = [0u8; 2];
    rng.fill(&mut len_bytes);
    let len_seed = usize::from(u16::from_be_bytes(len_bytes));
    match kind {
        Junk::Esp => {
            let mut out = vec![0u8; 8 + 64 + len_seed % 192];
            rng.fill(&mut out);
            if out.starts_with(&[0, 0, 0, 0]) {
                out[3] = 1;
            }
            out
        }
        Junk::Random => {
            let mut out = vec![0u8; 1 + len_seed % 1400];
            rng.fill(&mut out);
            out
        }
        Junk::Ike => {
            let body_len = len_seed % 512;
            let mut out = vec![0u8; 4 + ike::msgs::HEADER_LEN + body_len];
            rng.fill(&mut out[4..]);
            out[..4].copy_from_slice(&[0; 4]);
            out[4 + 17] = Header::VERSION;
            let total = u32::try_from(ike::msgs::HEADER_LEN + body_len).unwrap_or(u32::MAX);
            out[4 + 24..4 + 28].copy_from_slice(&total.to_be_bytes());
            out
        }
    }
}

/// What a datagram from the gateway is, as far as the prober cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Answer {
    /// A second Main Mode message (SA payload first, a responder cookie) for this
    /// initiator cookie.
    MainMode2(Cookie),
    /// Any other ISAKMP message for this initiator cookie (a notification).
    Other(Cookie),
}

/// Classifies an answer on UDP 500; `None` when it is not an ISAKMP message.
pub(crate) fn classify_answer(datagram: &[u8]) -> Option<Answer> {
    let (h, _) = ike::msgs::split(datagram).ok()?;
    if h.exchange == ExchangeType::IdentityProtection
        && h.next_payload == PayloadType::Sa
        && !h.rcookie.is_zero()
    {
        Some(Answer::MainMode2(h.icookie))
    } else {
        Some(Answer::Other(h.icookie))
    }
}

/// The responder cookie of a second Main Mode message that answers `icookie`.
pub(crate) fn responder_cookie(datagram: &[u8], icookie: Cookie) -> Option<Cookie> {
    let (h, _) = ike::msgs::split(datagram).ok()?;
    (classify_answer(datagram) == Some(Answer::MainMode2(icookie))).then_some(h.rcookie)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ike::fragment::FLAG_LAST;
    use ike::msgs::{Body, Message};
    use wire::random::DeterministicRandom;

    fn is_last_fragment(datagram: &[u8]) -> bool {
        FragmentMessage::decode(datagram).is_ok_and(|f| f.fragment.flags & FLAG_LAST != 0)
    }

    fn payloads(datagram: &[u8]) -> Vec<Payload> {
        match Message::decode(datagram).unwrap().body {
            Body::Plain(p) => p,
            Body::Encrypted(_) => panic!("encrypted"),
        }
    }

    #[test]
    fn attacker_main_mode_1_offers_only_modp4096_and_fragmentation() {
        let m = attacker_main_mode_1(Cookie([1; 8]));
        let p = payloads(&m);
        let Payload::Sa(sa) = &p[0] else {
            panic!("no SA")
        };
        let t = &sa.proposals[0].transforms;
        assert_eq!(t.len(), 1);
        assert_eq!(
            t[0].attr(Phase1Attr::GroupDescription.value())
                .and_then(Attribute::as_u64),
            Some(16)
        );
        assert!(matches!(&p[1], Payload::VendorId(v) if v.starts_with(&vendor::FRAGMENTATION)));
    }

    #[test]
    fn invalid_ke_is_512_bytes_of_ff_under_both_cookies() {
        let m = invalid_ke_main_mode_3(Cookie([1; 8]), Cookie([2; 8]), [7; 32]);
        let msg = Message::decode(&m).unwrap();
        assert_eq!(msg.header.rcookie, Cookie([2; 8]));
        let p = payloads(&m);
        assert_eq!(p[0], Payload::Ke(vec![0xff; 512]));
        assert_eq!(p[1], Payload::Nonce(vec![7; 32]));
    }

    #[test]
    fn big_proposal_fits_the_16_kib_limit_with_1984_transforms() {
        let m = big_proposal_main_mode_1(Cookie([3; 8]));
        assert!(m.len() <= ike::msgs::MAX_MESSAGE_LEN, "{} bytes", m.len());
        let p = payloads(&m);
        let Payload::Sa(sa) = &p[0] else {
            panic!("no SA")
        };
        assert_eq!(sa.proposals.len(), 31);
        let n: usize = sa.proposals.iter().map(|p| p.transforms.len()).sum();
        assert_eq!(n, 31 * 64);
    }

    #[test]
    fn fragments_decode_and_are_never_last() {
        let mut rng = DeterministicRandom::new(5);
        for _ in 0..100 {
            let f = fragment(Cookie([1; 8]), Cookie([2; 8]), &mut rng);
            let d = FragmentMessage::decode(&f).unwrap();
            assert_eq!(d.header.rcookie, Cookie([2; 8]));
            assert!((1..=16).contains(&d.fragment.number));
            assert_eq!(d.fragment.data.len(), FRAGMENT_DATA_LEN);
            assert!(!is_last_fragment(&f));
        }
    }

    #[test]
    fn junk_has_the_announced_shapes() {
        let mut rng = DeterministicRandom::new(9);
        for n in 0..300 {
            let kind = Junk::nth(n);
            let j = junk_4500(kind, &mut rng);
            match kind {
                Junk::Esp => {
                    assert!((72..=263).contains(&j.len()));
                    assert_ne!(j[..4], [0; 4], "an SPI, not the non-ESP marker");
                }
                Junk::Random => assert!((1..=1400).contains(&j.len())),
                Junk::Ike => {
                    assert_eq!(j[..4], [0; 4]);
                    let (h, _) = ike::msgs::split(&j[4..]).unwrap();
                    assert_eq!(h.length as usize, j.len() - 4);
                }
            }
        }
    }

    #[test]
    fn prober_message_is_answerable_and_answers_are_classified() {
        let m = legit_main_mode_1(Cookie([4; 8]));
        assert!(Message::decode(&m).is_ok());
        // The prober's own message is a first message: not an answer.
        assert_eq!(classify_answer(&m), Some(Answer::Other(Cookie([4; 8]))));
        let mut mm2 = m.clone();
        mm2[8..16].copy_from_slice(&[9; 8]);
        assert_eq!(
            classify_answer(&mm2),
            Some(Answer::MainMode2(Cookie([4; 8])))
        );
        assert_eq!(responder_cookie(&mm2, Cookie([4; 8])), Some(Cookie([9; 8])));
        assert_eq!(responder_cookie(&mm2, Cookie([5; 8])), None);
        assert_eq!(classify_answer(&[0; 10]), None);
    }
}
