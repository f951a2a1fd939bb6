//! Byte fixtures from the real captures (strongSwan 5.9.8 ↔ SoftEther): every message
//! decodes, re-encodes to the same bytes, and MM1 lists exactly the documented proposals.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code"
)]

use ike::msgs::{
    AttrValue, Body, DhGroupId, ExchangeType, IkeEncryption, IkeHash, Message, Payload,
    PayloadType, Phase1Attr, vendor,
};

pub struct Packet {
    pub frame: u32,
    pub src_port: u16,
    pub bytes: Vec<u8>,
}

pub fn packets(name: &str) -> Vec<Packet> {
    let text = std::fs::read_to_string(format!(
        "{}/tests/testdata/{name}-ike.txt",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    text.lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Packet {
                frame: f[0].parse().unwrap(),
                src_port: f[2].parse().unwrap(),
                bytes: hex::decode(f[5]).unwrap(),
            }
        })
        .collect()
}

#[test]
fn every_captured_message_round_trips_byte_for_byte() {
    for name in ["direct", "nat"] {
        let pkts = packets(name);
        assert_eq!(pkts.len(), 11);
        for p in &pkts {
            let m = Message::decode(&p.bytes)
                .unwrap_or_else(|e| panic!("{name} frame {}: {e}", p.frame));
            let mut out = Vec::new();
            m.encode(&mut out);
            assert_eq!(out, p.bytes, "{name} frame {}", p.frame);
        }
    }
}

#[test]
fn strongswan_main_mode_1_lists_the_documented_proposals() {
    let pkts = packets("direct");
    let m = Message::decode(&pkts[0].bytes).unwrap();
    assert_eq!(m.header.exchange, ExchangeType::IdentityProtection);
    let Body::Plain(payloads) = m.body else {
        panic!()
    };
    let types: Vec<PayloadType> = payloads.iter().map(Payload::ty).collect();
    assert_eq!(types[0], PayloadType::Sa);
    let Payload::Sa(sa) = &payloads[0] else {
        panic!()
    };
    assert_eq!(sa.proposals.len(), 1);
    let got: Vec<(IkeEncryption, Option<u64>, IkeHash, DhGroupId, u64)> = sa.proposals[0]
        .transforms
        .iter()
        .map(|t| {
            let num = |a: Phase1Attr| t.attr(a.value()).and_then(|x| x.as_u64());
            (
                IkeEncryption::from(num(Phase1Attr::EncryptionAlgorithm).unwrap() as u16),
                num(Phase1Attr::KeyLength),
                IkeHash::from(num(Phase1Attr::HashAlgorithm).unwrap() as u16),
                DhGroupId::from(num(Phase1Attr::GroupDescription).unwrap() as u16),
                num(Phase1Attr::LifeDuration).unwrap(),
            )
        })
        .collect();
    use DhGroupId::*;
    use IkeEncryption::*;
    assert_eq!(
        got,
        vec![
            (AesCbc, Some(256), IkeHash::Sha1, Modp2048, 28800),
            (AesCbc, Some(128), IkeHash::Sha1, Modp2048, 28800),
            (AesCbc, Some(256), IkeHash::Sha1, Modp1024, 28800),
            (AesCbc, Some(128), IkeHash::Sha1, Modp1024, 28800),
            (TripleDesCbc, None, IkeHash::Sha1, Modp1024, 28800),
        ]
    );
    for t in &sa.proposals[0].transforms {
        assert!(
            t.attributes
                .iter()
                .all(|a| matches!(a.value, AttrValue::Short(_)))
        );
    }
    // Vendor IDs: XAuth, DPD, fragmentation, RFC 3947, draft-02\n.
    let vids: Vec<&[u8]> = payloads
        .iter()
        .filter_map(|p| match p {
            Payload::VendorId(v) => Some(v.as_slice()),
            _ => None,
        })
        .collect();
    assert_eq!(vids.len(), 5);
    assert_eq!(vids[0], vendor::XAUTH);
    assert_eq!(vids[1], vendor::DPD);
    assert!(vids[2].starts_with(&vendor::FRAGMENTATION));
    assert_eq!(vids[3], vendor::NATT_RFC3947);
    assert_eq!(vids[4], vendor::NATT_DRAFT_02N);
    let mut pv = vendor::PeerVendor::default();
    vids.iter().for_each(|v| pv.observe(v));
    assert_eq!(pv.natt, Some(vendor::NattVersion::Rfc3947));
    assert!(pv.dpd && !pv.windows);
}

#[test]
fn truncated_and_overlong_chains_are_typed_errors() {
    let pkts = packets("direct");
    let mm1 = &pkts[0].bytes;
    for cut in [27, 28, 40, 100, mm1.len() - 1] {
        let mut b = mm1[..cut].to_vec();
        if b.len() >= 28 {
            let l = (b.len() as u32).to_be_bytes();
            b[24..28].copy_from_slice(&l);
        }
        assert!(Message::decode(&b).is_err(), "cut at {cut}");
    }
    // A payload length pointing past the end.
    let mut b = mm1.clone();
    b[28 + 2] = 0xff;
    assert!(Message::decode(&b).is_err());
    // A payload length below the generic header.
    let mut b = mm1.clone();
    b[28 + 2] = 0;
    b[28 + 3] = 3;
    assert!(Message::decode(&b).is_err());
}
