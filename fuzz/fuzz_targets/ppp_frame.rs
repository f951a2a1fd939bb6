//! The PPP codecs: frame header, control packet, option list, PAP and CHAP bodies.
//! Nothing may panic; what decodes must re-encode to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ppp::msgs::chap::{ChallengeResponse, MsChapV2Response};
use ppp::msgs::pap::AuthenticateRequest;
use ppp::msgs::{CpPacket, Frame, OptionIter, Protocol};

fuzz_target!(|data: &[u8]| {
    let Ok(frame) = Frame::decode(data) else { return };
    let Ok(pkt) = CpPacket::decode(frame.info) else { return };
    // Round trip of the packet (without padding).
    let mut out = Vec::new();
    CpPacket::encode(pkt.code, pkt.id, pkt.data, &mut out);
    assert_eq!(&out[..], &frame.info[..out.len()]);
    assert_eq!(CpPacket::decode(&out), Ok(pkt));
    // Options are bounded and each re-encodes to its own bytes.
    let mut n = 0;
    let mut rebuilt = Vec::new();
    let mut all_ok = true;
    for opt in OptionIter::new(pkt.data) {
        n += 1;
        assert!(n <= ppp::msgs::MAX_OPTIONS + 1);
        match opt {
            Ok(o) => o.encode(&mut wire::Writer::new(&mut rebuilt)),
            Err(_) => all_ok = false,
        }
    }
    if all_ok {
        assert_eq!(rebuilt, pkt.data);
    }
    match frame.protocol {
        Protocol::Pap => {
            let _ = AuthenticateRequest::decode(pkt.data);
        }
        Protocol::Chap => {
            if let Ok(cr) = ChallengeResponse::decode(pkt.data) {
                if let Ok(r) = MsChapV2Response::decode(cr.value) {
                    assert_eq!(MsChapV2Response::decode(&r.encode()), Ok(r));
                }
            }
        }
        _ => {}
    }
});
