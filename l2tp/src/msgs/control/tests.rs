//! Byte fixtures from the real xl2tpd ↔ SoftEther capture and a hand-built Windows SCCRQ
//! (see testdata/README.md): decode, check the fields, encode, compare the bytes.

use super::*;
use crate::msgs::avp::AvpType;
use crate::msgs::header::{MessageKind, Sequence};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/testdata/{name}.hex", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    hex::decode(text.trim()).unwrap()
}

/// Decodes a control message, checks that it re-encodes to the same bytes, returns it.
fn decode_round_trip(bytes: &[u8]) -> (Header, ControlMessage) {
    let (header, payload) = Header::decode(bytes).unwrap();
    assert_eq!(header.kind, MessageKind::Control);
    let msg = ControlMessage::decode(payload, None).unwrap();
    let seq = header.sequence.unwrap();
    let mut out = Vec::new();
    msg.encode_with_header(
        header.tunnel,
        header.session,
        seq.ns,
        seq.nr,
        &mut out,
        None,
    )
    .unwrap();
    assert_eq!(hex::encode(&out), hex::encode(bytes), "re-encoding differs");
    (header, msg)
}

#[test]
fn xl2tpd_sccrq() {
    let (h, m) = decode_round_trip(&fixture("xl2tpd-sccrq"));
    assert_eq!((h.tunnel, h.session), (TunnelId(0), SessionId(0)));
    assert_eq!(h.sequence, Some(Sequence { ns: 0, nr: 0 }));
    assert_eq!(m.message_type(), MessageType::Sccrq);
    assert_eq!(m.protocol_version(), Some((1, 0)));
    assert_eq!(m.host_name(), Some(&b"lch-guest"[..]));
    assert_eq!(m.assigned_tunnel_id(), Some(TunnelId(0x3c85)));
    assert_eq!(m.receive_window_size(), Some(4));
    assert!(
        m.find(|v| (*v == AvpValue::FramingCapabilities(3)).then_some(()))
            .is_some()
    );
    assert!(
        m.find(|v| (*v == AvpValue::BearerCapabilities(0)).then_some(()))
            .is_some()
    );
    // xl2tpd sends Firmware Revision and Vendor Name without the M bit.
    let firmware = m
        .avps
        .iter()
        .find(|a| a.value == AvpValue::FirmwareRevision(0x0690))
        .unwrap();
    assert!(!firmware.mandatory);
    let vendor = m
        .avps
        .iter()
        .find(|a| a.value == AvpValue::VendorName(b"xelerance.com".to_vec()))
        .unwrap();
    assert!(!vendor.mandatory);
    assert_eq!(m.unknown_mandatory(), None);
    assert_eq!(m.avps.len(), 9);
}

#[test]
fn softether_sccrp_and_xl2tpd_scccn() {
    let (h, m) = decode_round_trip(&fixture("softether-sccrp"));
    assert_eq!(h.tunnel, TunnelId(0x3c85));
    assert_eq!(h.sequence, Some(Sequence { ns: 0, nr: 1 }));
    assert_eq!(m.message_type(), MessageType::Sccrp);
    assert_eq!(m.host_name(), Some(&b"vm"[..]));
    assert_eq!(m.assigned_tunnel_id(), Some(TunnelId(1)));
    assert_eq!(m.receive_window_size(), Some(16));

    let (h, m) = decode_round_trip(&fixture("xl2tpd-scccn"));
    assert_eq!(h.tunnel, TunnelId(1));
    assert_eq!(h.sequence, Some(Sequence { ns: 1, nr: 1 }));
    assert_eq!(m.message_type(), MessageType::Scccn);
    assert_eq!(m.avps.len(), 1);
}

#[test]
fn xl2tpd_icrq_and_iccn() {
    let (h, m) = decode_round_trip(&fixture("xl2tpd-icrq"));
    assert_eq!((h.tunnel, h.session), (TunnelId(1), SessionId(0)));
    assert_eq!(m.message_type(), MessageType::Icrq);
    assert_eq!(m.assigned_session_id(), Some(SessionId(0x9bd2)));
    assert!(
        m.find(|v| (*v == AvpValue::CallSerialNumber(1)).then_some(()))
            .is_some()
    );
    assert!(
        m.find(|v| (*v == AvpValue::BearerType(0)).then_some(()))
            .is_some()
    );

    let (h, m) = decode_round_trip(&fixture("softether-icrp"));
    assert_eq!((h.tunnel, h.session), (TunnelId(0x3c85), SessionId(0x9bd2)));
    assert_eq!(m.message_type(), MessageType::Icrp);
    assert_eq!(m.assigned_session_id(), Some(SessionId(1)));

    let (h, m) = decode_round_trip(&fixture("xl2tpd-iccn"));
    assert_eq!((h.tunnel, h.session), (TunnelId(1), SessionId(1)));
    assert_eq!(m.message_type(), MessageType::Iccn);
    assert!(
        m.find(|v| (*v == AvpValue::TxConnectSpeed(0)).then_some(()))
            .is_some()
    );
    assert!(
        m.find(|v| (*v == AvpValue::FramingType(1)).then_some(()))
            .is_some()
    );
    // Rx Connect Speed without M.
    let rx = m
        .avps
        .iter()
        .find(|a| a.value == AvpValue::RxConnectSpeed(0))
        .unwrap();
    assert!(!rx.mandatory);
    assert!(!m.sequencing_required());
}

#[test]
fn hello_and_zlbs() {
    let (_, m) = decode_round_trip(&fixture("softether-hello"));
    assert_eq!(m.message_type(), MessageType::Hello);
    for name in ["softether-zlb", "softether-zlb2", "xl2tpd-zlb"] {
        let bytes = fixture(name);
        let (h, payload) = Header::decode(&bytes).unwrap();
        assert_eq!(h.kind, MessageKind::Control);
        assert!(payload.is_empty(), "{name} is a ZLB");
    }
    let (h, _) = Header::decode(&fixture("xl2tpd-zlb")).unwrap();
    assert_eq!(h.sequence, Some(Sequence { ns: 4, nr: 3 }));
}

#[test]
fn windows_sccrq() {
    let (h, m) = decode_round_trip(&fixture("windows-sccrq"));
    assert_eq!(h.tunnel, TunnelId(0));
    assert_eq!(m.message_type(), MessageType::Sccrq);
    assert_eq!(m.protocol_version(), Some((1, 0)));
    assert_eq!(m.assigned_tunnel_id(), Some(TunnelId(1)));
    assert_eq!(m.receive_window_size(), Some(8));
    assert!(
        m.find(|v| (*v == AvpValue::FramingCapabilities(1)).then_some(()))
            .is_some()
    );
    assert!(
        m.find(|v| (*v == AvpValue::BearerCapabilities(0)).then_some(()))
            .is_some()
    );
    assert!(
        m.find(|v| (*v == AvpValue::FirmwareRevision(0x0a00)).then_some(()))
            .is_some()
    );
    assert!(
        m.find(|v| (*v == AvpValue::VendorName(b"Microsoft".to_vec())).then_some(()))
            .is_some()
    );
}

#[test]
fn hidden_avps_in_a_message() {
    // An ICRQ with a Random Vector and a hidden Assigned Session ID.
    let secret = Secret::new(b"foobar".to_vec());
    let mut msg = ControlMessage::new(MessageType::Icrq)
        .with(AvpValue::RandomVector(b"0123456789abcdef".to_vec()));
    msg.avps.push(Avp {
        mandatory: true,
        hidden: true,
        reserved: 0,
        value: AvpValue::AssignedTunnelId(TunnelId(0x1234)),
    });
    let mut out = Vec::new();
    msg.encode(&mut out, Some(&secret)).unwrap();
    // The hidden field is the RFC 2661 §4.3 known answer (testdata/hidden-kat-short.hex).
    let kat = std::fs::read_to_string(format!(
        "{}/testdata/hidden-kat-short.hex",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    assert_eq!(hex::encode(&out[out.len() - 4..]), kat.trim());
    assert_eq!(
        &out[out.len() - 10..out.len() - 4],
        &[0xc0, 0x0a, 0, 0, 0, 9]
    );
    assert_eq!(ControlMessage::decode(&out, Some(&secret)).unwrap(), msg);
    // Without the secret it is an unrecognised mandatory AVP.
    let opaque = ControlMessage::decode(&out, None).unwrap();
    assert_eq!(
        opaque.unknown_mandatory(),
        Some((0, AvpType::AssignedTunnelId.value()))
    );
    // And it re-encodes to the same bytes.
    let mut again = Vec::new();
    opaque.encode(&mut again, None).unwrap();
    assert_eq!(again, out);
}

#[test]
fn malformed_control_messages() {
    let mut bytes = fixture("xl2tpd-sccrq");
    // First AVP not a message type: swap in a Host Name header.
    let mut wrong_first = bytes.clone();
    wrong_first[17] = 7;
    let (_, payload) = Header::decode(&wrong_first).unwrap();
    assert!(ControlMessage::decode(payload, None).is_err());
    // An AVP overrunning the message: grow the last AVP's length by 2.
    let last = bytes.len() - 8;
    bytes[last + 1] += 2;
    let (_, payload) = Header::decode(&bytes).unwrap();
    assert!(matches!(
        ControlMessage::decode(payload, None),
        Err(DecodeError::Truncated { what: "avp", .. })
    ));
    // A message type AVP of the wrong length.
    assert!(ControlMessage::decode(&[0x80, 0x07, 0, 0, 0, 0, 1], None).is_err());
    // Too many AVPs.
    let mut many = vec![0x80, 0x08, 0, 0, 0, 0, 0, 6];
    for _ in 0..MAX_AVPS {
        many.extend_from_slice(&[0x00, 0x06, 0, 0, 0x7f, 0x00]);
    }
    assert!(ControlMessage::decode(&many, None).is_err());
}
