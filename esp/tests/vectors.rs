//! AES-GCM ESP packets of McGrew & Viega's test cases (draft-mcgrew-gcm-test-01,
//! section 4), laid out as RFC 4106 says: KEYMAT = key ‖ 4-byte salt, nonce = salt ‖
//! the packet's 8-byte IV, AAD = SPI ‖ 32-bit sequence number.
#![allow(clippy::unwrap_used, reason = "a test or benchmark panics on failure")]

mod common;

use common::{h, t0};
use esp::{Encryption, Error, InboundSa, Integrity, Mode, SaParams, Spi, Suite};

struct Case {
    key: &'static str,
    nonce: &'static str,
    aad: &'static str,
    plaintext: &'static str,
    ciphertext_and_tag: &'static str,
}

const CASES: [Case; 3] = [
    // Test case 2: AES-128, SPI 0x0000a5f8, sequence number 10.
    Case {
        key: "feffe9928665731c6d6a8f9467308308",
        nonce: "cafebabefacedbaddecaf888",
        aad: "0000a5f80000000a",
        plaintext: "4500003e698f000080114dccc0a80102c0a801010a980035002a2343b2d0010000010000\
                    00000000037369700963796265726369747902646b00000100010001",
        ciphertext_and_tag: "deb22cd9b07c72c16e3a65beeb8df304a5a5897d33ae530f1ba76d5d114d2a5c\
                             3de81827c10e9a4f51330d0eec416642cfbb85a5b47e48a4ec3b9ba95d918bd1\
                             83b70d3aa8bc6ee4c309e9d85a41ad4a",
    },
    // Test case 3: AES-256, SPI 0x4a2cbfe3, sequence number 2.
    Case {
        key: "abbccddef00112233445566778899aababbccddef00112233445566778899aab",
        nonce: "112233440102030405060708",
        aad: "4a2cbfe300000002",
        plaintext: "4500003069a6400080062690c0a801029389155e0a9e008b2dc57ee000000000\
                    7002400020bf0000020405b40101040201020201",
        ciphertext_and_tag: "ff425c9b724599df7a3bcd510194e00d6a78107f1b0b1cbf06efae9d65a5d763\
                             748a637985771d347f0545659f14e99def842d8e\
                             b335f4eecfdbf831824b4c4915956c96",
    },
    // Test case 12: AES-128, sequence number 0xffffffff, nothing but the trailer.
    Case {
        key: "7d773d00c144c525ac619d18c84a3f47",
        nonce: "d966426743457e9182443bc6",
        aad: "335467aeffffffff",
        plaintext: "01020201",
        ciphertext_and_tag: "437f866bcb3f699fe9b0822bac961c4504bef270",
    },
];

fn setup(case: &Case) -> (InboundSa, Vec<u8>) {
    let key = h(case.key);
    let nonce = h(case.nonce);
    let aad = h(case.aad);
    let enc = if key.len() == 16 {
        Encryption::AesGcm16_128
    } else {
        Encryption::AesGcm16_256
    };
    let suite = Suite::new(enc, Integrity::None).unwrap();
    let keymat = [&key[..], &nonce[..4]].concat();
    let spi = Spi(u32::from_be_bytes(aad[..4].try_into().unwrap()));
    let p = SaParams::from_keymat(spi, suite, Mode::Transport, &keymat).unwrap();
    let packet = [&aad[..], &nonce[4..], &h(case.ciphertext_and_tag)[..]].concat();
    (InboundSa::new(&p, t0()).unwrap(), packet)
}

#[test]
fn mcgrew_viega_gcm_esp_packets_open() {
    for (i, case) in CASES.iter().enumerate() {
        let (mut sa, mut pkt) = setup(case);
        let plain = h(case.plaintext);
        let seq = u64::from(u32::from_be_bytes(h(case.aad)[4..].try_into().unwrap()));
        let opened = sa
            .open(&mut pkt)
            .unwrap_or_else(|e| panic!("case {i}: {e}"));
        let pad_len = usize::from(plain[plain.len() - 2]);
        assert_eq!(
            opened.payload,
            &plain[..plain.len() - 2 - pad_len],
            "case {i}"
        );
        assert_eq!(opened.next_header.value(), plain[plain.len() - 1]);
        assert_eq!(opened.seq, seq);
    }
}

#[test]
fn mcgrew_viega_packets_fail_when_any_byte_changes() {
    for case in &CASES {
        let (_, pkt) = setup(case);
        for i in 4..pkt.len() {
            let (mut sa, _) = setup(case);
            let mut bad = pkt.clone();
            bad[i] ^= 0x80;
            let e = sa.open(&mut bad).unwrap_err();
            assert!(
                matches!(e, Error::BadIcv | Error::Replayed { .. }),
                "{i}: {e:?}"
            );
        }
    }
}

#[test]
fn wrong_salt_fails() {
    let case = &CASES[0];
    let key = h(case.key);
    let suite = Suite::new(Encryption::AesGcm16_128, Integrity::None).unwrap();
    let keymat = [&key[..], &[0, 0, 0, 0]].concat();
    let p = SaParams::from_keymat(Spi(0xa5f8), suite, Mode::Transport, &keymat).unwrap();
    let (_, mut pkt) = setup(case);
    let mut sa = InboundSa::new(&p, t0()).unwrap();
    assert_eq!(sa.open(&mut pkt), Err(Error::BadIcv));
}
