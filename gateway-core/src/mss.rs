//! TCP MSS clamping: the maximum segment size a SYN announces is lowered to what the
//! PPP link carries, as pppd setups do with an iptables `TCPMSS` rule. One TUN device
//! serves every session at one MTU, while each client announced its own MRU; a TCP
//! connection through the tunnel then never sends a segment the client's link cannot
//! take, without relying on ICMP "fragmentation needed" reaching the sender.

/// IPv4 and TCP headers without options: what an MSS leaves out of the MTU.
pub const TCP_IPV4_HEADERS: u16 = 40;

const TCP: u8 = 6;
const SYN: u8 = 0x02;
const OPT_END: u8 = 0;
const OPT_NOP: u8 = 1;
const OPT_MSS: u8 = 2;

/// Lowers the MSS option of a TCP SYN (or SYN-ACK) in the IPv4 `packet` to `limit`,
/// fixing the TCP checksum incrementally (RFC 1624). Returns true when it changed the
/// packet. Anything else, and any packet whose headers do not parse, is left alone.
pub fn clamp(packet: &mut [u8], limit: u16) -> bool {
    let Some(&[version_ihl]) = packet.get(..1) else {
        return false;
    };
    let ihl = usize::from(version_ihl & 0x0f) * 4;
    let (Some(&total), Some(&proto), Some(frag)) = (
        packet.get(2..4).and_then(|b| b.first_chunk::<2>()),
        packet.get(9),
        packet.get(6..8),
    ) else {
        return false;
    };
    let total = usize::from(u16::from_be_bytes(total));
    let offset = u16::from_be_bytes([frag[0], frag[1]]) & 0x1fff;
    if version_ihl >> 4 != 4 || ihl < 20 || total > packet.len() || proto != TCP || offset != 0 {
        return false;
    }
    let Some(tcp) = packet.get_mut(ihl..total) else {
        return false;
    };
    let (Some(&data_offset), Some(&flags)) = (tcp.get(12), tcp.get(13)) else {
        return false;
    };
    let header_len = usize::from(data_offset >> 4) * 4;
    if flags & SYN == 0 || header_len < 20 || header_len > tcp.len() {
        return false;
    }
    let mut i = 20;
    while i < header_len {
        let Some(&kind) = tcp.get(i) else {
            return false;
        };
        match kind {
            OPT_END => return false,
            OPT_NOP => i += 1,
            _ => {
                let Some(&len) = tcp.get(i + 1) else {
                    return false;
                };
                let len = usize::from(len);
                if len < 2 || i + len > header_len {
                    return false;
                }
                if kind == OPT_MSS && len == 4 {
                    return rewrite(tcp, i + 2, limit);
                }
                i += len;
            }
        }
    }
    false
}

/// Writes `limit` over the MSS value at `at` in `tcp` when it is larger.
fn rewrite(tcp: &mut [u8], at: usize, limit: u16) -> bool {
    let (Some(value), Some(checksum)) = (
        tcp.get(at..at + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]])),
        tcp.get(16..18).map(|b| u16::from_be_bytes([b[0], b[1]])),
    ) else {
        return false;
    };
    if value <= limit {
        return false;
    }
    // The one's complement sum does not care where a word starts: at an odd offset the
    // value's bytes count swapped.
    let updated = if at.is_multiple_of(2) {
        wire::checksum::update_word(checksum, value, limit)
    } else {
        wire::checksum::update_word(checksum, value.swap_bytes(), limit.swap_bytes())
    };
    if let Some(b) = tcp.get_mut(at..at + 2) {
        b.copy_from_slice(&limit.to_be_bytes());
    }
    if let Some(b) = tcp.get_mut(16..18) {
        b.copy_from_slice(&updated.to_be_bytes());
    }
    true
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;

    const SRC: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);
    const DST: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);

    /// An IPv4 TCP packet with `flags`, `options` (a multiple of 4 bytes) and
    /// `payload`, checksums filled in.
    fn segment(flags: u8, options: &[u8], payload: &[u8]) -> Vec<u8> {
        let tcp_len = 20 + options.len() + payload.len();
        let mut p = vec![0u8; 20 + tcp_len];
        p[0] = 0x45;
        let total = u16::try_from(p.len()).unwrap();
        p[2..4].copy_from_slice(&total.to_be_bytes());
        p[6] = 0x40; // DF
        p[8] = 64;
        p[9] = TCP;
        p[12..16].copy_from_slice(&SRC.octets());
        p[16..20].copy_from_slice(&DST.octets());
        let ip_ck = wire::checksum::internet(&p[..20]);
        p[10..12].copy_from_slice(&ip_ck.to_be_bytes());
        let t = &mut p[20..];
        t[0..2].copy_from_slice(&40000u16.to_be_bytes());
        t[2..4].copy_from_slice(&80u16.to_be_bytes());
        t[12] = u8::try_from((20 + options.len()) / 4).unwrap() << 4;
        t[13] = flags;
        t[14..16].copy_from_slice(&64240u16.to_be_bytes());
        t[20..20 + options.len()].copy_from_slice(options);
        t[20 + options.len()..].copy_from_slice(payload);
        let ck = tcp_checksum(&p);
        p[36..38].copy_from_slice(&ck.to_be_bytes());
        p
    }

    /// The TCP checksum computed from scratch (with the field taken as zero).
    fn tcp_checksum(p: &[u8]) -> u16 {
        let mut t = p[20..].to_vec();
        t[16..18].fill(0);
        let pseudo = wire::checksum::pseudo_header(
            IpAddr::V4(SRC),
            IpAddr::V4(DST),
            TCP,
            u32::try_from(t.len()).unwrap(),
        );
        wire::checksum::finish(wire::checksum::sum(pseudo, &t))
    }

    fn mss(p: &[u8], at: usize) -> u16 {
        u16::from_be_bytes([p[20 + at], p[21 + at]])
    }

    /// Linux's SYN options: MSS 1460, SACK permitted, timestamps, NOP, window scale.
    const LINUX_SYN: [u8; 20] = [
        2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 1, 0x2c, 0x4d, 0, 0, 0, 0, 1, 3, 3, 7,
    ];

    #[test]
    fn a_syn_announcing_more_gets_the_limit_and_a_valid_checksum() {
        let mut p = segment(SYN, &LINUX_SYN, &[]);
        assert!(clamp(&mut p, 1360));
        assert_eq!(mss(&p, 22), 1360);
        assert_eq!(u16::from_be_bytes([p[36], p[37]]), tcp_checksum(&p));
    }

    #[test]
    fn an_mss_at_an_odd_offset_keeps_the_checksum_valid() {
        // NOP, NOP, NOP, MSS, SACK-permitted, NOP: the MSS value starts at byte 25.
        let opts = [1, 1, 1, 2, 4, 0x05, 0xb4, 4, 2, 1, 1, 1];
        let mut p = segment(SYN | 0x10, &opts, &[]);
        assert!(clamp(&mut p, 1240));
        assert_eq!(mss(&p, 25), 1240);
        assert_eq!(u16::from_be_bytes([p[36], p[37]]), tcp_checksum(&p));
    }

    #[test]
    fn a_smaller_mss_non_syn_segments_and_other_protocols_are_left_alone() {
        let mut small = segment(SYN, &LINUX_SYN, &[]);
        let before = small.clone();
        assert!(!clamp(&mut small, 1460));
        assert_eq!(small, before);
        let mut ack = segment(0x10, &LINUX_SYN, b"data");
        assert!(!clamp(&mut ack, 1000));
        let mut udp = segment(SYN, &LINUX_SYN, &[]);
        udp[9] = 17;
        assert!(!clamp(&mut udp, 1000));
        let mut later_fragment = segment(SYN, &LINUX_SYN, &[]);
        later_fragment[7] = 1;
        assert!(!clamp(&mut later_fragment, 1000));
    }

    #[test]
    fn malformed_headers_never_panic_nor_change_anything() {
        let good = segment(SYN, &LINUX_SYN, &[]);
        for cut in 0..good.len() {
            let mut p = good[..cut].to_vec();
            let before = p.clone();
            clamp(&mut p, 1000);
            // A cut packet has a total length beyond its bytes: untouched.
            assert_eq!(p, before, "cut at {cut}");
        }
        // Option length 0, and one running past the header.
        for bad in [[2u8, 0, 0, 0], [3, 9, 0, 0]] {
            let mut p = segment(SYN, &bad, &[]);
            let before = p.clone();
            assert!(!clamp(&mut p, 1000));
            assert_eq!(p, before);
        }
        // A data offset beyond the packet.
        let mut p = segment(SYN, &LINUX_SYN, &[]);
        p[32] = 0xf0;
        assert!(!clamp(&mut p, 1000));
    }
}
