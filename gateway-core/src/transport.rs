//! Transport-mode glue: the UDP header (port 1701) that sits between ESP and L2TP.
//!
//! In transport mode what ESP protects is a UDP datagram whose addresses are the outer
//! ones. The gateway has no kernel socket on 1701, so it checks and strips that header
//! itself on the way in and writes it on the way out.
//!
//! Checksums (RFC 3948 §3.1.2): behind NAT the sender computed its UDP checksum with its
//! own (private) address, which we cannot see unless it sent NAT-OA. ESP's integrity
//! check already covers every byte, so for UDP-encapsulated SAs the checksum is not
//! verified; for plain ESP (no NAT) it is verified with the outer addresses, and a zero
//! checksum (IPv4: "none") is accepted. Outbound, we send a zero checksum on
//! UDP-encapsulated SAs (what Linux's own NAT-T transport mode does; receivers skip it
//! there) and a real one on plain ESP.
//!
//! Raw ESP (IP protocol 50, no NAT) reaches the core as the IPv4 packet a raw socket
//! returns: [`parse_raw_esp_ipv4`] finds the addresses and the ESP part.

use std::net::{IpAddr, Ipv4Addr};
use std::ops::Range;

use wire::PacketBuf;

/// The L2TP port.
pub const L2TP_PORT: u16 = 1701;
/// The UDP header length.
pub const UDP_HEADER_LEN: usize = 8;

/// Why an inner UDP datagram was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InnerUdpError {
    /// Shorter than a UDP header, or its length field disagrees with the payload.
    BadLength,
    /// Not addressed to port 1701.
    NotL2tp(u16),
    /// The checksum does not verify (plain ESP only).
    BadChecksum,
}

/// The L2TP payload of an inner UDP datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InnerUdp {
    /// The sender's UDP port (replies go to it).
    pub src_port: u16,
    /// Where the L2TP message lies in the datagram given.
    pub payload: Range<usize>,
}

/// Checks the UDP header of `datagram` (ESP's decrypted payload). `addresses` is
/// `Some((src, dst))` when the checksum can be verified (plain ESP), `None` for
/// UDP-encapsulated SAs.
pub fn parse_inner(
    datagram: &[u8],
    addresses: Option<(IpAddr, IpAddr)>,
) -> Result<InnerUdp, InnerUdpError> {
    let udp = wire::ip::UdpPacket::new_checked(datagram).map_err(|_| InnerUdpError::BadLength)?;
    if udp.len() != datagram.len() {
        return Err(InnerUdpError::BadLength);
    }
    if udp.dst_port() != L2TP_PORT {
        return Err(InnerUdpError::NotL2tp(udp.dst_port()));
    }
    if let Some((src, dst)) = addresses
        && udp.checksum() != 0
        && !udp.verify_checksum(src, dst)
    {
        return Err(InnerUdpError::BadChecksum);
    }
    Ok(InnerUdp {
        src_port: udp.src_port(),
        payload: UDP_HEADER_LEN..datagram.len(),
    })
}

/// Prepends the UDP header (1701 → `dst_port`) to the L2TP message in `buf`. With
/// `addresses` the checksum is computed over them; without, it is zero.
pub fn push_udp(
    buf: &mut PacketBuf,
    dst_port: u16,
    addresses: Option<(IpAddr, IpAddr)>,
) -> Result<(), wire::BufError> {
    let total = buf.len() + UDP_HEADER_LEN;
    let len = u16::try_from(total).map_err(|_| wire::BufError {
        needed: total,
        available: usize::from(u16::MAX),
    })?;
    let header = buf.prepend(UDP_HEADER_LEN)?;
    header.copy_from_slice(&[0; UDP_HEADER_LEN]);
    if let Some(h) = header.get_mut(..6) {
        h[..2].copy_from_slice(&L2TP_PORT.to_be_bytes());
        h[2..4].copy_from_slice(&dst_port.to_be_bytes());
        h[4..6].copy_from_slice(&len.to_be_bytes());
    }
    if let Some((src, dst)) = addresses
        && let Ok(mut udp) = wire::ip::UdpPacket::new_checked(buf.payload_mut())
    {
        udp.fill_checksum(src, dst);
    }
    Ok(())
}

/// One raw ESP packet as received: where it came from, where it went, and where its ESP
/// part (SPI onwards) lies in the buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEsp {
    /// The sender.
    pub remote: Ipv4Addr,
    /// The local address the sender used.
    pub local: Ipv4Addr,
    /// The ESP packet (header, payload, ICV) within the buffer given to [`parse_raw_esp_ipv4`].
    pub esp: Range<usize>,
}

/// Why a received packet is not raw ESP the core can use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawEspError {
    /// The IPv4 header does not parse (version, lengths).
    Header(wire::DecodeError),
    /// Not protocol 50 (the kernel only gives ESP to this socket; a fuzzer may not).
    NotEsp(u8),
    /// A fragment (the kernel reassembles before raw delivery; never expected).
    Fragment,
}

impl core::fmt::Display for RawEspError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Header(e) => write!(f, "IPv4 header: {e}"),
            Self::NotEsp(p) => write!(f, "IP protocol {p}, not ESP"),
            Self::Fragment => f.write_str("an IP fragment"),
        }
    }
}

impl std::error::Error for RawEspError {}

/// Parses what an IPv4 raw socket returns (IP header, then the ESP packet); the ESP
/// part ends at the header's total length (never past `packet`).
pub fn parse_raw_esp_ipv4(packet: &[u8]) -> Result<RawEsp, RawEspError> {
    let ip = wire::ip::Ipv4Packet::new_checked(packet).map_err(RawEspError::Header)?;
    let proto = u8::from(ip.protocol());
    if proto != 50 {
        return Err(RawEspError::NotEsp(proto));
    }
    if ip.is_fragment() {
        return Err(RawEspError::Fragment);
    }
    Ok(RawEsp {
        remote: ip.src(),
        local: ip.dst(),
        esp: ip.header_len()..ip.packet_len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs() -> (IpAddr, IpAddr) {
        (
            "192.0.2.10".parse().unwrap(),
            "198.51.100.1".parse().unwrap(),
        )
    }

    #[test]
    fn round_trip_with_and_without_checksum() {
        for addresses in [Some(addrs()), None] {
            let mut b = PacketBuf::new(64, 16);
            b.set_payload(b"\xc8\x02l2tp").unwrap();
            push_udp(&mut b, 1701, addresses).unwrap();
            let p = b.payload();
            assert_eq!(&p[..6], &[0x06, 0xa5, 0x06, 0xa5, 0, 14]);
            assert_eq!(
                p[6..8] == [0, 0],
                addresses.is_none(),
                "zero checksum exactly when encapsulated"
            );
            let inner = parse_inner(p, Some(addrs())).unwrap();
            assert_eq!(&p[inner.payload.clone()], b"\xc8\x02l2tp");
            assert_eq!(inner.src_port, 1701);
        }
    }

    #[test]
    fn refuses_wrong_port_length_and_checksum() {
        let mut b = PacketBuf::new(64, 16);
        b.set_payload(b"abcd").unwrap();
        push_udp(&mut b, 1701, Some(addrs())).unwrap();
        let mut p = b.payload().to_vec();
        // Wrong destination port.
        let mut q = p.clone();
        q[3] = 0xa6;
        assert_eq!(parse_inner(&q, None), Err(InnerUdpError::NotL2tp(1702)));
        // Length field disagreeing with the datagram.
        assert_eq!(
            parse_inner(&p[..p.len() - 1], None),
            Err(InnerUdpError::BadLength)
        );
        assert_eq!(parse_inner(&p[..4], None), Err(InnerUdpError::BadLength));
        // A flipped payload byte: caught by the checksum on plain ESP only.
        p[9] ^= 1;
        assert_eq!(
            parse_inner(&p, Some(addrs())),
            Err(InnerUdpError::BadChecksum)
        );
        assert!(
            parse_inner(&p, None).is_ok(),
            "UDP-encapsulated: ESP's ICV covers it"
        );
        // A zero checksum is accepted on plain ESP too (IPv4 "no checksum").
        p[6] = 0;
        p[7] = 0;
        assert!(parse_inner(&p, Some(addrs())).is_ok());
    }

    #[test]
    fn udp_checksum_known_answer() {
        // Computed by hand: 1701 -> 1701, payload "x", 10.0.0.1 -> 10.0.0.2. Pseudo-header
        // 0a00+0001+0a00+0002+0011+0009 = 141d; header 06a5+06a5+0009 = 0d53; payload
        // 7800; sum 9970; checksum !9970 = 668f.
        let mut b = PacketBuf::new(32, 16);
        b.set_payload(b"x").unwrap();
        let a = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        push_udp(&mut b, 1701, Some(a)).unwrap();
        assert_eq!(&b.payload()[6..8], &[0x66, 0x8f]);
    }

    /// An ESP packet as a Linux raw socket returns it: IPv4 header (protocol 50,
    /// 192.0.2.10 -> 198.51.100.1, DF) then SPI 0x11223344, sequence 1, 4 payload bytes.
    const PACKET: [u8; 32] = [
        0x45, 0x00, 0x00, 0x20, 0x12, 0x34, 0x40, 0x00, 0x40, 0x32, 0x00, 0x00, 192, 0, 2, 10, 198,
        51, 100, 1, 0x11, 0x22, 0x33, 0x44, 0, 0, 0, 1, 0xde, 0xad, 0xbe, 0xef,
    ];

    #[test]
    fn parses_a_raw_esp_packet() {
        let r = parse_raw_esp_ipv4(&PACKET).unwrap();
        assert_eq!(r.remote, Ipv4Addr::new(192, 0, 2, 10));
        assert_eq!(r.local, Ipv4Addr::new(198, 51, 100, 1));
        assert_eq!(r.esp, 20..32);
        assert_eq!(&PACKET[r.esp][..4], &[0x11, 0x22, 0x33, 0x44]);
    }

    #[test]
    fn refuses_other_protocols_fragments_and_bad_lengths() {
        let mut udp = PACKET;
        udp[9] = 17;
        assert_eq!(parse_raw_esp_ipv4(&udp), Err(RawEspError::NotEsp(17)));
        let mut frag = PACKET;
        frag[6] = 0x20; // more fragments
        assert_eq!(parse_raw_esp_ipv4(&frag), Err(RawEspError::Fragment));
        // Total length past the buffer.
        let mut long = PACKET;
        long[3] = 0x40;
        assert!(matches!(
            parse_raw_esp_ipv4(&long),
            Err(RawEspError::Header(_))
        ));
        assert!(matches!(
            parse_raw_esp_ipv4(&PACKET[..10]),
            Err(RawEspError::Header(_))
        ));
        // Trailing link padding is not ESP.
        let mut padded = PACKET.to_vec();
        padded.extend_from_slice(&[0; 6]);
        assert_eq!(parse_raw_esp_ipv4(&padded).unwrap().esp, 20..32);
    }
}
