//! ESP open path: an SA built from the fuzz input (suite, mode, keys) opens the rest of
//! the input, which must never panic. The same bytes are then sealed as a payload and
//! opened again, which must give them back, and a copy with one byte flipped must fail.
#![no_main]

use std::sync::OnceLock;
use std::time::Instant;

use esp::{InboundSa, MAX_HEADER_LEN, MAX_TRAILER_LEN, Mode, OutboundSa, SaParams, Spi, Suite};
use libfuzzer_sys::fuzz_target;
use wire::PacketBuf;
use wire::ip::IpProtocol;
use wire::random::DeterministicRandom;

#[allow(clippy::disallowed_methods, reason = "the fuzzer needs one Instant as a base")]
fn t0() -> Instant {
    static T0: OnceLock<Instant> = OnceLock::new();
    *T0.get_or_init(Instant::now)
}

fuzz_target!(|data: &[u8]| {
    let [sel, mode, flip, rest @ ..] = data else {
        return;
    };
    let suite = Suite::ALL[usize::from(*sel) % Suite::ALL.len()];
    let mode = if mode & 1 == 0 { Mode::Transport } else { Mode::Tunnel };
    let Some((keymat, packet)) = rest.split_at_checked(suite.keymat_len()) else {
        return;
    };
    let Ok(params) = SaParams::from_keymat(Spi(0x0102_0304), suite, mode, keymat) else {
        return;
    };
    let mut inbound = match InboundSa::new(&params, t0()) {
        Ok(sa) => sa,
        // A 3DES key with repeated parts: refused, as it must be.
        Err(esp::SuiteError::KeyRejected) => return,
        Err(e) => panic!("valid parameters key an SA: {e:?}"),
    };

    // 1. Arbitrary bytes, with the SA's SPI forced in so the deeper checks run too.
    let mut raw = packet.to_vec();
    let _ = inbound.open(&mut raw);
    if raw.len() >= 4 {
        raw[..4].copy_from_slice(&params.spi.0.to_be_bytes());
        let _ = inbound.open(&mut raw);
    }

    // 2. Seal the bytes as a payload, open them back.
    let mut rng = DeterministicRandom::new(u64::from(*flip));
    let mut outbound = OutboundSa::new(&params, t0(), &mut rng).expect("valid parameters");
    let payload = &packet[..packet.len().min(2000)];
    let mut buf = PacketBuf::new(MAX_HEADER_LEN + payload.len() + MAX_TRAILER_LEN, MAX_HEADER_LEN);
    buf.set_payload(payload).expect("sized above");
    let nh = if mode == Mode::Tunnel { IpProtocol::IpInIp } else { IpProtocol::Udp };
    outbound.seal(nh, &mut buf).expect("room was reserved");
    let sealed = buf.payload().to_vec();

    let mut fresh = InboundSa::new(&params, t0()).expect("valid parameters");
    let mut tampered = sealed.clone();
    let at = usize::from(*flip) % tampered.len();
    tampered[at] ^= 1 << (flip % 8);
    assert!(fresh.open(&mut tampered).is_err(), "a flipped bit at {at} was accepted");

    let mut copy = sealed.clone();
    let opened = fresh.open(&mut copy).expect("own packet opens");
    assert_eq!(opened.payload, payload);
    assert_eq!(opened.next_header, nh);
    let mut again = sealed;
    assert!(fresh.open(&mut again).is_err(), "replay accepted");
});
