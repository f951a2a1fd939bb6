//! The L2TP codec: header and control message. Nothing may panic; a decoded control
//! message must encode and decode back to the same message (hidden AVPs included, with
//! a secret), and a decoded header must re-encode to the bytes it was read from.
#![no_main]

use l2tp::msgs::{ControlMessage, Header, MessageKind, Secret};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok((header, payload)) = Header::decode(data) else {
        return;
    };
    // The header re-encodes to its bytes, up to the reserved bits of the flags (ignored on
    // receipt, zero on send) and the offset padding (sent as zeros).
    let mut out = Vec::new();
    header.encode(&mut out, payload.len()).unwrap();
    assert_eq!(out.len(), data.len() - payload.len());
    let (again, rest) = Header::decode(&[&out[..], payload].concat())
        .map(|(h, p)| (h, p.to_vec()))
        .unwrap();
    assert_eq!(again, header);
    assert_eq!(rest, payload);
    if header.kind != MessageKind::Control || payload.is_empty() {
        return;
    }
    let secret = Secret::new(b"fuzz".to_vec());
    for secret in [None, Some(&secret)] {
        let Ok(msg) = ControlMessage::decode(payload, secret) else {
            continue;
        };
        let seq = header.sequence.unwrap();
        let mut out = Vec::new();
        msg.encode_with_header(
            header.tunnel,
            header.session,
            seq.ns,
            seq.nr,
            &mut out,
            secret,
        )
        .unwrap();
        let (h2, p2) = Header::decode(&out).unwrap();
        assert_eq!(h2, header);
        assert_eq!(ControlMessage::decode(p2, secret).unwrap(), msg);
    }
});
