//! Traffic lifetimes: negotiated kilobytes carried in `SaParams`, soft and hard limits
//! reported by both halves of an SA, the 3DES byte cap (Sweet32) and the sequence
//! counter's "rekey needed" point.

#![allow(missing_docs, clippy::unwrap_used, reason = "test code")]

mod common;

use common::{params, t0};
use esp::{
    Encryption, Error, Expiry, InboundSa, Integrity, Lifetime, Mode, OutboundSa, SEQ_SOFT_LIMIT,
    Suite, TRIPLE_DES_MAX_BYTES,
};
use wire::PacketBuf;
use wire::ip::IpProtocol;
use wire::random::DeterministicRandom;

fn pair(suite: Suite, lifetime: Lifetime) -> (OutboundSa, InboundSa) {
    let now = t0();
    let p = params(suite, Mode::Transport, 0x1234, 7).with_lifetime(lifetime);
    let mut rng = DeterministicRandom::new(3);
    (
        OutboundSa::new(&p, now, &mut rng).unwrap(),
        InboundSa::new(&p, now).unwrap(),
    )
}

fn packet(len: usize) -> PacketBuf {
    let mut b = PacketBuf::new(
        esp::MAX_HEADER_LEN + len + esp::MAX_TRAILER_LEN,
        esp::MAX_HEADER_LEN,
    );
    b.set_payload(&vec![0x42; len]).unwrap();
    b
}

fn aes() -> Suite {
    Suite::new(Encryption::AesCbc128, Integrity::HmacSha1_96).unwrap()
}

fn triple_des() -> Suite {
    Suite::new(Encryption::TripleDesCbc, Integrity::HmacSha1_96).unwrap()
}

/// Seals one 100-byte packet and opens it on the other half.
fn carry(out: &mut OutboundSa, inb: &mut InboundSa) -> (Result<(), Error>, Result<(), Error>) {
    let mut b = packet(100);
    let sealed = out.seal(IpProtocol::Udp, &mut b);
    if sealed.is_err() {
        return (sealed, Ok(()));
    }
    let opened = inb.open(b.payload_mut()).map(|_| ());
    (sealed, opened)
}

#[test]
fn negotiated_kilobytes_give_soft_then_hard_limits_on_both_halves() {
    // 2 KB: hard at 2048 payload bytes, soft at 90 % (1843).
    let (mut out, mut inb) = pair(aes(), Lifetime::from_kilobytes(Some(2)));
    assert_eq!(out.lifetime().bytes, Some(2048));
    assert_eq!(inb.lifetime().bytes, Some(2048));
    let mut carried = 0u64;
    while carried + 100 < 1843 {
        assert_eq!(carry(&mut out, &mut inb), (Ok(()), Ok(())));
        carried += 100;
        assert_eq!(out.expiry(), Expiry::Live, "after {carried} bytes");
        assert_eq!(inb.expiry(), Expiry::Live);
    }
    // 1800 bytes carried; the next packet passes the soft limit, traffic still flows.
    assert_eq!(carry(&mut out, &mut inb), (Ok(()), Ok(())));
    assert_eq!(out.expiry(), Expiry::Soft);
    assert_eq!(inb.expiry(), Expiry::Soft);
    assert_eq!(carry(&mut out, &mut inb), (Ok(()), Ok(())));
    assert_eq!(carry(&mut out, &mut inb), (Ok(()), Ok(())));
    // 2100 bytes: hard. Neither half carries anything more, with a typed error.
    assert_eq!(out.expiry(), Expiry::Hard);
    assert_eq!(inb.expiry(), Expiry::Hard);
    let seq = out.last_seq();
    let mut b = packet(100);
    assert_eq!(
        out.seal(IpProtocol::Udp, &mut b),
        Err(Error::LifetimeExpired)
    );
    assert_eq!(
        out.last_seq(),
        seq,
        "a refused packet uses no sequence number"
    );
    assert_eq!(b.len(), 100, "and leaves the buffer unchanged");
    assert_eq!(Error::LifetimeExpired.kind(), "lifetime_expired");

    // The inbound half refuses on its own count, before any crypto.
    let (mut out2, _) = pair(aes(), Lifetime::default());
    let mut b = packet(100);
    out2.seal(IpProtocol::Udp, &mut b).unwrap();
    let mut other = InboundSa::new(
        &params(aes(), Mode::Transport, 0x1234, 7).with_lifetime(Lifetime::from_kilobytes(Some(0))),
        t0(),
    )
    .unwrap();
    assert_eq!(other.expiry(), Expiry::Hard);
    assert_eq!(
        other.open(b.payload_mut()).map(|_| ()),
        Err(Error::LifetimeExpired)
    );
}

#[test]
fn packet_limits_and_the_soft_percentage() {
    let lifetime = Lifetime {
        bytes: None,
        packets: Some(10),
        soft_percent: 50,
    };
    let (mut out, mut inb) = pair(aes(), lifetime);
    for i in 1..=10 {
        assert_eq!(carry(&mut out, &mut inb), (Ok(()), Ok(())));
        let want = if i >= 10 {
            Expiry::Hard
        } else if i >= 5 {
            Expiry::Soft
        } else {
            Expiry::Live
        };
        assert_eq!((out.expiry(), inb.expiry()), (want, want), "packet {i}");
    }
    assert_eq!(carry(&mut out, &mut inb).0, Err(Error::LifetimeExpired));
}

#[test]
fn no_negotiated_limit_means_none_except_for_3des() {
    let (out, inb) = pair(aes(), Lifetime::default());
    assert_eq!(out.lifetime().bytes, None);
    assert_eq!(inb.lifetime().bytes, None);
    assert_eq!(out.expiry(), Expiry::Live);

    // 3DES gets the Sweet32 cap without a negotiated limit, and keeps it when the
    // negotiated one is larger; a smaller negotiated one wins.
    assert_eq!(TRIPLE_DES_MAX_BYTES, 1 << 30);
    let (out, inb) = pair(triple_des(), Lifetime::default());
    assert_eq!(out.lifetime().bytes, Some(TRIPLE_DES_MAX_BYTES));
    assert_eq!(inb.lifetime().bytes, Some(TRIPLE_DES_MAX_BYTES));
    let (out, _) = pair(triple_des(), Lifetime::from_kilobytes(Some(u64::MAX)));
    assert_eq!(out.lifetime().bytes, Some(TRIPLE_DES_MAX_BYTES));
    let (out, _) = pair(triple_des(), Lifetime::from_kilobytes(Some(250_000)));
    assert_eq!(out.lifetime().bytes, Some(256_000_000));
    // Kilobytes near 2^64 saturate instead of overflowing.
    assert_eq!(
        Lifetime::from_kilobytes(Some(u64::MAX)).bytes,
        Some(u64::MAX)
    );
}

#[test]
fn a_3des_sa_stops_at_its_cap() {
    // The cap applies to traffic: shown with a 3DES SA whose negotiated limit is
    // lower (sealing a whole GiB in a test would take minutes).
    let (mut out, mut inb) = pair(triple_des(), Lifetime::from_kilobytes(Some(1)));
    for _ in 0..10 {
        assert_eq!(carry(&mut out, &mut inb), (Ok(()), Ok(())));
    }
    assert_eq!(out.expiry(), Expiry::Soft);
    assert_eq!(carry(&mut out, &mut inb), (Ok(()), Ok(())));
    assert_eq!(out.expiry(), Expiry::Hard);
    assert_eq!(carry(&mut out, &mut inb).0, Err(Error::LifetimeExpired));
}

#[test]
fn sequence_counter_near_exhaustion_asks_for_a_rekey() {
    assert_eq!(u64::from(SEQ_SOFT_LIMIT), (1u64 << 32) - (1 << 20));
    let (mut out, mut inb) = pair(aes(), Lifetime::default());
    out.skip_to_seq(SEQ_SOFT_LIMIT - 1);
    assert_eq!(carry(&mut out, &mut inb), (Ok(()), Ok(())));
    assert_eq!(out.last_seq(), SEQ_SOFT_LIMIT - 1);
    assert_eq!((out.expiry(), inb.expiry()), (Expiry::Live, Expiry::Live));
    assert_eq!(carry(&mut out, &mut inb), (Ok(()), Ok(())));
    // "Rekey needed" on both halves: ours will run out, and so will the peer's.
    assert_eq!((out.expiry(), inb.expiry()), (Expiry::Soft, Expiry::Soft));
    out.skip_to_seq(u32::MAX);
    assert_eq!(carry(&mut out, &mut inb), (Ok(()), Ok(())));
    assert_eq!(out.expiry(), Expiry::Hard);
    assert_eq!(carry(&mut out, &mut inb).0, Err(Error::SeqExhausted));
}
