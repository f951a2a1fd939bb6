//! Seal → open for every suite, mode and a spread of lengths; tampering with any byte of
//! a sealed packet fails; sequence-number exhaustion; buffer sizing.
#![allow(clippy::unwrap_used, reason = "a test or benchmark panics on failure")]

mod common;

use common::{params, t0};
use esp::{
    Encryption, Error, InboundSa, Integrity, MAX_HEADER_LEN, MAX_TRAILER_LEN, Mode, OutboundSa,
    ReplayWindow, Suite,
};
use wire::PacketBuf;
use wire::ip::IpProtocol;
use wire::random::DeterministicRandom;

fn pair(suite: Suite, mode: Mode) -> (OutboundSa, InboundSa) {
    let p = params(suite, mode, 0xc0de_0001, 3);
    let mut rng = DeterministicRandom::new(99);
    (
        OutboundSa::new(&p, t0(), &mut rng).unwrap(),
        InboundSa::new(&p, t0()).unwrap(),
    )
}

fn buf_with(data: &[u8]) -> PacketBuf {
    let mut b = PacketBuf::new(
        MAX_HEADER_LEN + data.len() + MAX_TRAILER_LEN,
        MAX_HEADER_LEN,
    );
    b.set_payload(data).unwrap();
    b
}

#[test]
fn every_suite_round_trips() {
    let lens = [
        0usize, 1, 2, 3, 13, 14, 15, 16, 17, 31, 64, 255, 512, 1400, 1500,
    ];
    for suite in Suite::ALL {
        for mode in [Mode::Transport, Mode::Tunnel] {
            let (mut out, mut inb) = pair(suite, mode);
            let nh = match mode {
                Mode::Transport => IpProtocol::Udp,
                Mode::Tunnel => IpProtocol::IpInIp,
            };
            let mut total = 0;
            for (i, &len) in lens.iter().enumerate() {
                let data: Vec<u8> = (0..len).map(|b| (b * 7 + i) as u8).collect();
                let mut b = buf_with(&data);
                out.seal(nh, &mut b).unwrap();
                assert_eq!(b.len(), suite.sealed_len(len), "{suite:?} {len}");
                if len > 0 {
                    assert_ne!(&b.payload()[suite.header_len()..][..len], &data[..]);
                }
                let mut pkt = b.payload().to_vec();
                let o = inb.open(&mut pkt).unwrap();
                assert_eq!(o.payload, &data[..], "{suite:?} {mode:?} {len}");
                assert_eq!(o.next_header, nh);
                assert_eq!(o.seq, i as u64 + 1);
                total += len as u64;
            }
            assert_eq!(out.usage().bytes, total);
            assert_eq!(inb.usage().bytes, total);
            assert_eq!(inb.usage().packets, lens.len() as u64);
        }
    }
}

#[test]
fn cbc_ivs_differ_per_packet() {
    let suite = Suite::new(Encryption::AesCbc128, Integrity::HmacSha1_96).unwrap();
    let (mut out, _) = pair(suite, Mode::Transport);
    let mut ivs = std::collections::HashSet::new();
    for _ in 0..100 {
        let mut b = buf_with(&[0; 32]);
        out.seal(IpProtocol::Udp, &mut b).unwrap();
        assert!(ivs.insert(b.payload()[8..24].to_vec()));
    }
}

#[test]
fn tampering_any_byte_fails_for_every_suite() {
    for suite in Suite::ALL {
        let (mut out, _) = pair(suite, Mode::Transport);
        let mut b = buf_with(&[0x42; 40]);
        out.seal(IpProtocol::Udp, &mut b).unwrap();
        let sealed = b.payload().to_vec();
        for i in 0..sealed.len() {
            let (_, mut inb) = pair(suite, Mode::Transport);
            let mut bad = sealed.clone();
            bad[i] ^= 0x04;
            let e = inb.open(&mut bad).unwrap_err();
            match i {
                0..4 => assert!(matches!(e, Error::UnknownSpi(_)), "{suite:?} {i} {e:?}"),
                _ => assert_eq!(e, Error::BadIcv, "{suite:?} byte {i}"),
            }
            assert_eq!(inb.usage().packets, 0);
            // Nothing was committed: the genuine packet still opens.
            let mut good = sealed.clone();
            assert!(inb.open(&mut good).is_ok(), "{suite:?} {i}");
        }
        // Truncation at every length.
        for cut in 0..sealed.len() {
            let (_, mut inb) = pair(suite, Mode::Transport);
            let mut short = sealed[..cut].to_vec();
            let e = inb.open(&mut short).unwrap_err();
            assert!(
                matches!(
                    e,
                    Error::Truncated { .. } | Error::BadLength { .. } | Error::BadIcv
                ),
                "{suite:?} cut {cut}: {e:?}"
            );
        }
    }
}

#[test]
fn bad_length_is_reported_before_the_icv() {
    let suite = Suite::new(Encryption::AesCbc256, Integrity::HmacSha256_128).unwrap();
    let (mut out, mut inb) = pair(suite, Mode::Transport);
    let mut b = buf_with(&[1; 30]);
    out.seal(IpProtocol::Udp, &mut b).unwrap();
    let mut pkt = b.payload().to_vec();
    pkt.insert(30, 0);
    assert_eq!(
        inb.open(&mut pkt),
        Err(Error::BadLength { len: 33, block: 16 })
    );
}

#[test]
fn replay_through_open() {
    let suite = Suite::new(Encryption::AesGcm16_128, Integrity::None).unwrap();
    let (mut out, mut inb) = pair(suite, Mode::Transport);
    let mut sealed = Vec::new();
    for _ in 0..5 {
        let mut b = buf_with(b"x");
        out.seal(IpProtocol::Udp, &mut b).unwrap();
        sealed.push(b.payload().to_vec());
    }
    // Out of order inside the window, then duplicates.
    for i in [4usize, 0, 2, 1, 3] {
        assert!(inb.open(&mut sealed[i].clone()).is_ok());
    }
    for (i, p) in sealed.iter().enumerate() {
        assert_eq!(
            inb.open(&mut p.clone()),
            Err(Error::Replayed { seq: i as u64 + 1 })
        );
    }
    // Far ahead, then the old ones fall left of the window.
    out.skip_to_seq(5 + ReplayWindow::SIZE as u32 + 10);
    let mut b = buf_with(b"y");
    out.seal(IpProtocol::Udp, &mut b).unwrap();
    assert!(inb.open(&mut b.payload().to_vec()).is_ok());
    assert_eq!(inb.highest_seq(), 5 + ReplayWindow::SIZE + 10);
}

#[test]
fn sequence_exhaustion_refuses_to_seal() {
    for suite in [
        Suite::new(Encryption::AesGcm16_256, Integrity::None).unwrap(),
        Suite::new(Encryption::AesCbc128, Integrity::HmacSha1_96).unwrap(),
    ] {
        let (mut out, mut inb) = pair(suite, Mode::Transport);
        out.skip_to_seq(u32::MAX - 1);
        for seq in [u32::MAX - 1, u32::MAX] {
            let mut b = buf_with(b"last");
            out.seal(IpProtocol::Udp, &mut b).unwrap();
            let mut pkt = b.payload().to_vec();
            assert_eq!(inb.open(&mut pkt).unwrap().seq, u64::from(seq));
        }
        assert_eq!(out.remaining_seq(), 0);
        let mut b = buf_with(b"one too many");
        assert_eq!(out.seal(IpProtocol::Udp, &mut b), Err(Error::SeqExhausted));
        assert_eq!(
            b.payload(),
            b"one too many",
            "refused seal leaves the buffer"
        );
        // The counter never moves back (a GCM nonce is never reused).
        out.skip_to_seq(1);
        assert_eq!(out.seal(IpProtocol::Udp, &mut b), Err(Error::SeqExhausted));
    }
}

#[test]
fn buffer_room_is_checked_before_anything_changes() {
    let suite = Suite::new(Encryption::AesCbc128, Integrity::HmacSha512_256).unwrap();
    let (mut out, _) = pair(suite, Mode::Transport);
    let mut b = PacketBuf::new(100, 10);
    b.set_payload(&[7; 20]).unwrap();
    assert_eq!(
        out.seal(IpProtocol::Udp, &mut b),
        Err(Error::BufferTooSmall {
            needed: 24,
            available: 10
        })
    );
    let mut b = PacketBuf::new(24 + 20 + 10, 24);
    b.set_payload(&[7; 20]).unwrap();
    assert!(matches!(
        out.seal(IpProtocol::Udp, &mut b),
        Err(Error::BufferTooSmall { .. })
    ));
    assert_eq!(b.payload(), &[7; 20]);
    assert_eq!(out.last_seq(), 0, "no sequence number spent");
    let mut huge = PacketBuf::new(70_000, 24);
    huge.set_len(65_500).unwrap();
    assert_eq!(
        out.seal(IpProtocol::Udp, &mut huge),
        Err(Error::PayloadTooLarge(65_500))
    );
}

#[test]
fn error_kinds_are_distinct_labels() {
    let errors = [
        Error::Truncated { len: 1, min: 2 },
        Error::UnknownSpi(esp::Spi(1)),
        Error::Replayed { seq: 1 },
        Error::BadIcv,
        Error::BadPadding,
        Error::BadLength { len: 1, block: 16 },
        Error::BadNextHeader(17),
        Error::SeqExhausted,
        Error::BufferTooSmall {
            needed: 1,
            available: 0,
        },
        Error::PayloadTooLarge(1),
    ];
    let kinds: std::collections::HashSet<_> = errors.iter().map(Error::kind).collect();
    assert_eq!(kinds.len(), errors.len());
    for e in errors {
        assert!(!e.to_string().is_empty());
    }
}
