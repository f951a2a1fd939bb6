//! wire's IPv4, IPv6 and UDP views and its Reader on arbitrary bytes: `new_checked`
//! then every accessor (and setter, on a copy) must never panic, and the Reader's
//! operations, driven by the input itself, must stay within bounds.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};

use libfuzzer_sys::fuzz_target;
use wire::Reader;
use wire::ip::{Ipv4Packet, Ipv6Packet, UdpPacket, version};

fuzz_target!(|data: &[u8]| {
    let _ = version(data);
    if let Ok(p) = Ipv4Packet::new_checked(data) {
        let (hl, len) = (p.header_len(), p.packet_len());
        assert!(hl <= len && len <= data.len());
        let _ = (p.ident(), p.is_fragment(), p.ttl(), p.protocol(), p.checksum());
        let (src, dst) = (p.src(), p.dst());
        let _ = p.verify_checksum();
        assert_eq!(p.payload().len(), len - hl);
        let mut copy = data.to_vec();
        let mut m = Ipv4Packet::new_checked(&mut copy[..]).expect("same bytes");
        m.set_ttl(1);
        m.set_src(Ipv4Addr::LOCALHOST);
        m.set_dst(dst);
        m.fill_checksum();
        assert!(m.verify_checksum());
        let _ = m.payload_mut().len();
        let _ = src;
        let _ = m.into_inner();
    }
    if let Ok(p) = Ipv6Packet::new_checked(data) {
        let _ = (p.packet_len(), p.next_header(), p.hop_limit(), p.src(), p.dst());
        assert!(p.payload().len() <= data.len());
    }
    if let Ok(u) = UdpPacket::new_checked(data) {
        let _ = (u.src_port(), u.dst_port(), u.is_empty(), u.checksum());
        assert!(u.len() <= data.len());
        let _ = u.payload();
        let a = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let b = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        let _ = u.verify_checksum(a, b);
        let mut copy = data.to_vec();
        let mut m = UdpPacket::new_checked(&mut copy[..]).expect("same bytes");
        m.set_src_port(1701);
        m.set_dst_port(4500);
        m.fill_checksum(a, b);
        assert!(m.verify_checksum(a, b));
        let _ = m.payload_mut().len();
        let _ = m.into_inner();
    }

    // Reader: the first half of the input is a script of operations on the second half.
    let (script, body) = data.split_at(data.len() / 2);
    let mut r = Reader::new(body);
    for &op in script {
        let before = r.remaining();
        let ok = match op % 12 {
            0 => r.u8("u8").is_ok(),
            1 => r.u16("u16").is_ok(),
            2 => r.u24("u24").is_ok(),
            3 => r.u32("u32").is_ok(),
            4 => r.u64("u64").is_ok(),
            5 => r.take(usize::from(op >> 4), "take").is_ok(),
            6 => r.take_array::<3>("array").is_ok(),
            7 => r.peek_u8("peek").is_ok(),
            8 => match r.sub(usize::from(op >> 4), "sub") {
                Ok(mut s) => {
                    let _ = s.rest();
                    s.finish("sub").is_ok()
                }
                Err(_) => false,
            },
            9 => r.finish("all").is_ok(),
            10 => {
                let _ = r.rest();
                true
            }
            _ => {
                assert_eq!(r.position() + r.remaining(), r.input().len());
                r.is_empty() || !r.is_empty()
            }
        };
        if !ok {
            assert_eq!(r.remaining(), before, "a failed read consumed input");
        }
        assert!(r.remaining() <= body.len());
    }
});
