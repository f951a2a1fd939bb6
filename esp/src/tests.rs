//! Known-answer tests that need the crate's insides (a fixed IV to reproduce published
//! packets on the sealing side, raw transforms to forge authentic-but-malformed packets).

use std::time::Instant;

use wire::PacketBuf;
use wire::ip::IpProtocol;
use wire::random::DeterministicRandom;

use crate::crypto::{GcmBackend, Transform};
use crate::*;

/// The base of the tests' virtual clock; only differences from it matter.
#[allow(
    clippy::disallowed_methods,
    reason = "a test needs one real Instant as its base"
)]
fn t0() -> Instant {
    Instant::now()
}

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace([' ', '\n'], "")).unwrap()
}

/// RFC 3602 §4 case 5 ("Sending 64 bytes of data", an ICMP echo in transport mode):
/// SPI 0x4321, sequence number 1, the RFC's AES-128 key and IV, the RFC's plaintext and
/// ciphertext, with HMAC-SHA1-96 under the authentication key the Linux kernel's
/// authenc test vectors pair with this case (0x112233…55); the ICV was computed
/// independently with OpenSSL 3.
const CASE5_ENC_KEY: &str = "90d382b410eeba7ad938c46cec1a82bf";
const CASE5_AUTH_KEY: &str = "112233445566778899aabbccddeeff1122334455";
const CASE5_IV: &str = "e96e8c08ab465763fd098d45dd3ff893";
const CASE5_PAYLOAD: &str = "08000ebda70a00008e9c083db95b0700\
    08090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\
    202122232425262728292a2b2c2d2e2f3031323334353637";
const CASE5_PACKET: &str = "0000432100000001e96e8c08ab465763fd098d45dd3ff893\
    f663c25d325c18c6a9453e194e120849a4870b66cc6b9965330013b4898dc856\
    a4699e523a55db080b59ec3a8e4b7e52775b07d1db34ed9c538ab50c551b874a\
    a269add047ad2d5913ac19b7cfbad4a658c68475e4e96b0ce1c50b73";

fn case5_params() -> SaParams {
    let suite = Suite::new(Encryption::AesCbc128, Integrity::HmacSha1_96).unwrap();
    let keymat = [h(CASE5_ENC_KEY), h(CASE5_AUTH_KEY)].concat();
    SaParams::from_keymat(Spi(0x4321), suite, Mode::Transport, &keymat).unwrap()
}

#[test]
fn rfc3602_case5_open() {
    let mut sa = InboundSa::new(&case5_params(), t0()).unwrap();
    let mut pkt = h(CASE5_PACKET);
    let opened = sa.open(&mut pkt).unwrap();
    assert_eq!(opened.spi, Spi(0x4321));
    assert_eq!(opened.seq, 1);
    assert_eq!(opened.next_header, IpProtocol::Icmp);
    assert_eq!(opened.payload, &h(CASE5_PAYLOAD)[..]);
    assert_eq!(opened.range, 24..24 + 64);
    assert_eq!(sa.usage().bytes, 64);
    assert_eq!(sa.usage().packets, 1);
}

#[test]
fn rfc3602_case5_seal_is_byte_exact() {
    let mut rng = DeterministicRandom::new(7);
    let mut sa = OutboundSa::new(&case5_params(), t0(), &mut rng).unwrap();
    let mut iv = [0u8; 16];
    iv.copy_from_slice(&h(CASE5_IV));
    sa.set_fixed_iv(iv);
    let mut buf = PacketBuf::new(256, MAX_HEADER_LEN);
    buf.set_payload(&h(CASE5_PAYLOAD)).unwrap();
    sa.seal(IpProtocol::Icmp, &mut buf).unwrap();
    assert_eq!(hex::encode(buf.payload()), CASE5_PACKET.replace(' ', ""));
}

/// Encrypts and authenticates an arbitrary plaintext (trailer included), so tests can
/// forge packets that are authentic but malformed.
fn forge(params: &SaParams, seq: u32, plain: &[u8]) -> Vec<u8> {
    let t = Transform::new(params, GcmBackend::DEFAULT).unwrap();
    let enc = params.suite.encryption();
    let mut pkt = [&params.spi.0.to_be_bytes()[..], &seq.to_be_bytes()].concat();
    let iv: Vec<u8> = (0..enc.iv_len() as u8).collect();
    pkt.extend_from_slice(&iv);
    let ct_start = pkt.len();
    pkt.extend_from_slice(plain);
    pkt.resize(pkt.len() + params.suite.icv_len(), 0);
    let ct_end = pkt.len() - params.suite.icv_len();
    let (covered, icv) = pkt.split_at_mut(ct_end);
    match t {
        Transform::Cbc { cipher, mac } => {
            cipher.encrypt(&iv, &mut covered[ct_start..]).unwrap();
            mac.sign(covered, icv);
        }
        Transform::Gcm(gcm) => {
            let (head, body) = covered.split_at_mut(ct_start);
            gcm.seal(&iv.try_into().unwrap(), &head[..8], body, icv)
                .unwrap();
        }
    }
    pkt
}

fn params(suite: Suite, mode: Mode) -> SaParams {
    let km: Vec<u8> = (0..suite.keymat_len() as u8).map(|b| b ^ 0x5a).collect();
    SaParams::from_keymat(Spi(0x0102_0304), suite, mode, &km).unwrap()
}

#[test]
fn authentic_but_bad_padding_is_refused_after_commit() {
    let suite = Suite::new(Encryption::AesCbc128, Integrity::HmacSha256_128).unwrap();
    let p = params(suite, Mode::Transport);
    let mut sa = InboundSa::new(&p, t0()).unwrap();
    let mut good = vec![0xab; 11];
    good.extend_from_slice(&[1, 2, 3, 3, 17]);
    // 11 + 5 = 16: one block.
    let mut pkt = forge(&p, 1, &good);
    let opened = sa.open(&mut pkt).unwrap();
    assert_eq!(opened.payload, &[0xab; 11][..]);

    let mut bad = vec![0xab; 11];
    bad.extend_from_slice(&[1, 9, 3, 3, 17]);
    let mut pkt = forge(&p, 2, &bad);
    assert_eq!(sa.open(&mut pkt), Err(Error::BadPadding));
    // It was authentic, so its sequence number is spent.
    let mut again = forge(&p, 2, &good);
    assert_eq!(sa.open(&mut again), Err(Error::Replayed { seq: 2 }));

    // A pad length longer than the plaintext.
    let mut too_long = vec![0u8; 14];
    too_long.extend_from_slice(&[200, 17]);
    let mut pkt = forge(&p, 3, &too_long);
    assert_eq!(sa.open(&mut pkt), Err(Error::BadPadding));
    assert_eq!(
        sa.usage().packets,
        1,
        "refused packets are not counted as traffic"
    );
}

#[test]
fn tunnel_mode_accepts_only_ip_next_headers() {
    for suite in [
        Suite::new(Encryption::AesGcm16_256, Integrity::None).unwrap(),
        Suite::new(Encryption::TripleDesCbc, Integrity::HmacSha1_96).unwrap(),
    ] {
        let p = params(suite, Mode::Tunnel);
        let mut sa = InboundSa::new(&p, t0()).unwrap();
        let mut transport = InboundSa::new(&params(suite, Mode::Transport), t0()).unwrap();
        let block = suite.encryption().block_len();
        for (seq, nh, ok) in [(1, 4u8, true), (2, 41, true), (3, 59, true), (4, 17, false)] {
            let mut plain = vec![0x45; 2 * block - 2];
            plain.extend_from_slice(&[0, nh]);
            let mut pkt = forge(&p, seq, &plain);
            let mut copy = pkt.clone();
            let got = sa.open(&mut pkt);
            if ok {
                let o = got.unwrap();
                assert_eq!(o.next_header.value(), nh);
                assert_eq!(o.is_dummy(), nh == 59);
            } else {
                assert_eq!(got, Err(Error::BadNextHeader(nh)), "{suite:?}");
            }
            // Transport mode takes anything.
            assert!(transport.open(&mut copy).is_ok());
        }
    }
}

/// ring, aws-lc-rs and RustCrypto produce the same packets, and each opens the others'.
/// (The published GCM vectors in `tests/vectors.rs` pin the default backend.) The two
/// comparison backends exist with the `bench` feature only:
/// `cargo test -p esp --features bench`.
#[cfg(feature = "bench")]
#[test]
fn all_gcm_backends_agree() {
    let backends = [GcmBackend::Ring, GcmBackend::AwsLc, GcmBackend::RustCrypto];
    for enc in [Encryption::AesGcm16_128, Encryption::AesGcm16_256] {
        let suite = Suite::new(enc, Integrity::None).unwrap();
        let p = params(suite, Mode::Transport);
        let now = t0();
        let mut rng = DeterministicRandom::new(1);
        let mut out: Vec<OutboundSa> = backends
            .iter()
            .map(|&b| OutboundSa::with_gcm_backend(&p, now, &mut rng, b).unwrap())
            .collect();
        let mut inb: Vec<InboundSa> = backends
            .iter()
            .map(|&b| InboundSa::with_gcm_backend(&p, now, b).unwrap())
            .collect();
        for len in [0usize, 1, 15, 16, 17, 100, 1400] {
            let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let sealed: Vec<Vec<u8>> = out
                .iter_mut()
                .map(|sa| {
                    let mut b = PacketBuf::new(2048, 64);
                    b.set_payload(&data).unwrap();
                    sa.seal(IpProtocol::Udp, &mut b).unwrap();
                    b.payload().to_vec()
                })
                .collect();
            for (i, pkt) in sealed.iter().enumerate() {
                assert_eq!(pkt, &sealed[0], "{enc:?} {len}: {:?}", backends[i]);
            }
            // Cross-open: each backend opens the next one's packet.
            for (i, sa) in inb.iter_mut().enumerate() {
                let mut pkt = sealed[(i + 1) % sealed.len()].clone();
                assert_eq!(
                    sa.open(&mut pkt).unwrap().payload,
                    &data[..],
                    "{enc:?} {len}"
                );
            }
        }
    }
}

/// A 3DES key whose parts repeat is single DES: refused with its own error (found by the
/// esp_open fuzz target), while the wrong length stays a length error.
#[test]
fn triple_des_key_with_repeated_parts_is_refused_as_such() {
    let suite = Suite::new(Encryption::TripleDesCbc, Integrity::HmacSha1_96).unwrap();
    let mut km = vec![0x11; 8];
    km.extend_from_slice(&[0x11; 8]);
    km.extend_from_slice(&[0x22; 8]);
    km.extend_from_slice(&[0x33; 20]);
    let p = SaParams::from_keymat(Spi(7), suite, Mode::Transport, &km).unwrap();
    assert_eq!(
        InboundSa::new(&p, t0()).err(),
        Some(SuiteError::KeyRejected)
    );
    let mut rng = DeterministicRandom::new(1);
    assert_eq!(
        OutboundSa::new(&p, t0(), &mut rng).err(),
        Some(SuiteError::KeyRejected)
    );
    // Distinct parts key an SA.
    km[8..16].copy_from_slice(&[0x44; 8]);
    let p = SaParams::from_keymat(Spi(7), suite, Mode::Transport, &km).unwrap();
    assert!(InboundSa::new(&p, t0()).is_ok());
}
