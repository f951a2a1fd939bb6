//! A real peer's ESP: every packet of a strongSwan 5.9.8 ↔ SoftEther 5.01 L2TP/IPsec
//! connection (AES-256-CBC + HMAC-SHA1-96 in UDP 4500), with the keys the client's
//! kernel used (shared/captures/softether-direct-mschapv2.esp_sa).
#![allow(clippy::unwrap_used, reason = "a test or benchmark panics on failure")]

mod common;

use std::net::{IpAddr, Ipv4Addr};

use common::{h, t0};
use esp::nat_t::{Udp4500, classify_4500};
use esp::{Encryption, Error, InboundSa, Integrity, Mode, SaParams, SaTable, Spi, Suite};
use wire::ip::{IpProtocol, UdpPacket};

const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
const SERVER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);

/// SPI, encryption key, authentication key, source, destination (from the .esp_sa file).
const SAS: [(u32, &str, &str, Ipv4Addr, Ipv4Addr); 2] = [
    (
        0x5101_d3cd,
        "6198a42289d6d4345f78d1976560c51af6ee8b54659dad104425271eed9b8a21",
        "8c650b48416ca35cb5ae45342651c3b42b154be1",
        CLIENT,
        SERVER,
    ),
    (
        0xc84d_7ec6,
        "d7a6e88d921766ae1e86e90b06f3fc66596ac297cd74375c07fff7f72769e054",
        "f66e4b88d4c6c5ada0a982af05e7ce262a5be5b6",
        SERVER,
        CLIENT,
    ),
];

fn table() -> SaTable {
    let suite = Suite::new(Encryption::AesCbc256, Integrity::HmacSha1_96).unwrap();
    let mut t = SaTable::new();
    for (spi, ek, ak, _, _) in SAS {
        let keymat = [h(ek), h(ak)].concat();
        let p = SaParams::from_keymat(Spi(spi), suite, Mode::Transport, &keymat).unwrap();
        t.insert(InboundSa::new(&p, t0()).unwrap());
    }
    t
}

/// (spi, seq, packet) of every ESP packet in the capture, in capture order.
fn packets() -> Vec<(u32, u64, Vec<u8>)> {
    include_str!("../testdata/softether-direct-esp.txt")
        .lines()
        .map(|l| {
            let mut f = l.split(' ');
            let spi = u32::from_str_radix(f.next().unwrap(), 16).unwrap();
            let seq = f.next().unwrap().parse().unwrap();
            (spi, seq, h(f.next().unwrap()))
        })
        .collect()
}

#[test]
fn every_packet_of_the_capture_opens_to_udp_1701_l2tp() {
    let mut table = table();
    let all = packets();
    assert_eq!(all.len(), 72);
    for (spi, seq, mut pkt) in all {
        assert!(matches!(classify_4500(&pkt), Ok(Udp4500::Esp { spi: s, .. }) if s == Spi(spi)));
        let (_, _, _, src, dst) = SAS.iter().find(|s| s.0 == spi).unwrap();
        let opened = table.open(&mut pkt).unwrap();
        assert_eq!((opened.spi, opened.seq), (Spi(spi), seq));
        assert_eq!(
            opened.next_header,
            IpProtocol::Udp,
            "transport mode carries UDP"
        );
        let udp = UdpPacket::new_checked(opened.payload).unwrap();
        assert_eq!((udp.src_port(), udp.dst_port()), (1701, 1701));
        assert_eq!(
            udp.len(),
            opened.payload.len(),
            "padding was removed exactly"
        );
        assert!(
            udp.verify_checksum(IpAddr::V4(*src), IpAddr::V4(*dst)),
            "inner UDP checksum over the outer addresses, seq {seq}"
        );
        // Every L2TP message starts with a version-2 header.
        assert_eq!(udp.payload()[1] & 0x0f, 2, "L2TP version 2");
    }
    for (spi, ..) in SAS {
        assert!(table.get(Spi(spi)).unwrap().usage().packets > 30);
    }
}

#[test]
fn first_packets_are_sccrq_and_sccrp() {
    let mut table = table();
    let all = packets();
    // The client's first packet: L2TP control (T, L, S set), tunnel 0, session 0, then
    // the Message Type AVP (mandatory, length 8, vendor 0, attribute 0) = 1 (SCCRQ).
    let (spi, _, mut first) = all[0].clone();
    assert_eq!(spi, 0x5101_d3cd);
    let opened = table.open(&mut first).unwrap();
    let l2tp = &opened.payload[8..];
    assert_eq!(&l2tp[..2], &[0xc8, 0x02]);
    assert_eq!(
        usize::from(u16::from_be_bytes([l2tp[2], l2tp[3]])),
        l2tp.len()
    );
    assert_eq!(&l2tp[4..8], &[0, 0, 0, 0], "tunnel 0, session 0");
    assert_eq!(&l2tp[12..20], &[0x80, 0x08, 0, 0, 0, 0, 0, 1], "SCCRQ");
    // The server's answer is an SCCRP (2) to the client's tunnel id.
    let (spi, _, mut reply) = all[1].clone();
    assert_eq!(spi, 0xc84d_7ec6);
    let opened = table.open(&mut reply).unwrap();
    assert_eq!(
        &opened.payload[8 + 12..8 + 20],
        &[0x80, 0x08, 0, 0, 0, 0, 0, 2]
    );
}

#[test]
fn replays_and_forgeries_of_real_packets_are_refused() {
    let mut table = table();
    let (_, _, pkt) = packets()[0].clone();
    let mut copy = pkt.clone();
    table.open(&mut copy).unwrap();
    let mut again = pkt.clone();
    assert_eq!(table.open(&mut again), Err(Error::Replayed { seq: 1 }));

    let (_, _, pkt) = packets()[2].clone();
    for i in 4..pkt.len() {
        let mut bad = pkt.clone();
        bad[i] ^= 0x01;
        let e = table.open(&mut bad).unwrap_err();
        assert!(
            matches!(e, Error::BadIcv | Error::Replayed { .. }),
            "byte {i}: {e:?}"
        );
    }
    let mut unknown = pkt.clone();
    unknown[0] ^= 0xff;
    assert!(matches!(
        table.open(&mut unknown),
        Err(Error::UnknownSpi(_))
    ));
    // The untouched packet still opens: failures committed nothing.
    let mut good = pkt.clone();
    assert!(table.open(&mut good).is_ok());
}
