//! Checked views over IPv4, IPv6 and UDP headers (smoltcp style): `new_checked` validates
//! lengths once, after which no accessor panics; setters exist when the buffer is mutable.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::{DecodeError, checksum};

crate::open_enum! {
    /// IP protocol numbers (IANA), as used in IPv4 `protocol`, IPv6 `next header` and the
    /// ESP trailer's `next header`.
    pub enum IpProtocol: u8 {
        /// ICMP.
        Icmp = 1,
        /// IPv4 in IP (ESP tunnel mode).
        IpInIp = 4,
        /// TCP.
        Tcp = 6,
        /// UDP.
        Udp = 17,
        /// IPv6 in IP (ESP tunnel mode).
        Ipv6 = 41,
        /// ESP.
        Esp = 50,
        /// ICMPv6.
        Icmpv6 = 58,
    }
}

mod field {
    pub(crate) type Field = core::ops::Range<usize>;
    pub(crate) const V4_TOTAL_LEN: Field = 2..4;
    pub(crate) const V4_IDENT: Field = 4..6;
    pub(crate) const V4_FRAG: Field = 6..8;
    pub(crate) const V4_TTL: usize = 8;
    pub(crate) const V4_PROTOCOL: usize = 9;
    pub(crate) const V4_CHECKSUM: Field = 10..12;
    pub(crate) const V4_SRC: Field = 12..16;
    pub(crate) const V4_DST: Field = 16..20;
    pub(crate) const V6_PAYLOAD_LEN: Field = 4..6;
    pub(crate) const V6_NEXT_HEADER: usize = 6;
    pub(crate) const V6_HOP_LIMIT: usize = 7;
    pub(crate) const V6_SRC: Field = 8..24;
    pub(crate) const V6_DST: Field = 24..40;
    pub(crate) const UDP_SRC_PORT: Field = 0..2;
    pub(crate) const UDP_DST_PORT: Field = 2..4;
    pub(crate) const UDP_LEN: Field = 4..6;
    pub(crate) const UDP_CHECKSUM: Field = 6..8;
}

/// Length of an IPv4 header without options.
pub const IPV4_MIN_HEADER_LEN: usize = 20;
/// Length of the IPv6 fixed header.
pub const IPV6_HEADER_LEN: usize = 40;
/// Length of a UDP header.
pub const UDP_HEADER_LEN: usize = 8;

fn be16(b: &[u8], f: field::Field) -> u16 {
    match b.get(f) {
        Some(&[hi, lo]) => u16::from_be_bytes([hi, lo]),
        _ => 0,
    }
}

fn set_be16(b: &mut [u8], f: field::Field, v: u16) {
    if let Some(dst) = b.get_mut(f) {
        dst.copy_from_slice(&v.to_be_bytes());
    }
}

fn addr4(b: &[u8], f: field::Field) -> Ipv4Addr {
    b.get(f)
        .and_then(|s| <[u8; 4]>::try_from(s).ok())
        .map(Ipv4Addr::from)
        .unwrap_or(Ipv4Addr::UNSPECIFIED)
}

fn addr6(b: &[u8], f: field::Field) -> Ipv6Addr {
    b.get(f)
        .and_then(|s| <[u8; 16]>::try_from(s).ok())
        .map(Ipv6Addr::from)
        .unwrap_or(Ipv6Addr::UNSPECIFIED)
}

/// The IP version of a packet (the top nibble of its first byte), if it has one.
pub fn version(packet: &[u8]) -> Option<u8> {
    packet.first().map(|b| b >> 4)
}

/// A view over an IPv4 packet. After [`Ipv4Packet::new_checked`], the header length and
/// total length are known to fit the buffer.
#[derive(Debug, Clone)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buf: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Wraps `buf` after checking version, header length and total length. The buffer
    /// may be longer than the packet (link padding); [`Self::packet_len`] is the packet.
    pub fn new_checked(buf: T) -> Result<Self, DecodeError> {
        let b = buf.as_ref();
        if b.len() < IPV4_MIN_HEADER_LEN {
            return Err(DecodeError::Truncated {
                what: "IPv4 header",
                needed: IPV4_MIN_HEADER_LEN,
                available: b.len(),
            });
        }
        let first = b.first().copied().unwrap_or(0);
        if first >> 4 != 4 {
            return Err(DecodeError::Invalid {
                what: "IPv4 version",
                reason: "not 4",
            });
        }
        let ihl = usize::from(first & 0x0f) * 4;
        if ihl < IPV4_MIN_HEADER_LEN {
            return Err(DecodeError::BadLength {
                what: "IPv4 header length",
                len: ihl,
            });
        }
        let total = usize::from(be16(b, field::V4_TOTAL_LEN));
        if total < ihl || total > b.len() {
            return Err(DecodeError::BadLength {
                what: "IPv4 total length",
                len: total,
            });
        }
        Ok(Self { buf })
    }

    fn byte(&self, at: usize) -> u8 {
        self.buf.as_ref().get(at).copied().unwrap_or(0)
    }

    /// The header length in bytes (IHL × 4).
    pub fn header_len(&self) -> usize {
        usize::from(self.byte(0) & 0x0f) * 4
    }

    /// The total length field: header plus payload.
    pub fn packet_len(&self) -> usize {
        usize::from(be16(self.buf.as_ref(), field::V4_TOTAL_LEN))
    }

    /// Identification.
    pub fn ident(&self) -> u16 {
        be16(self.buf.as_ref(), field::V4_IDENT)
    }

    /// True when the packet is a fragment (more-fragments set or a non-zero offset).
    pub fn is_fragment(&self) -> bool {
        be16(self.buf.as_ref(), field::V4_FRAG) & 0x3fff != 0
    }

    /// Time to live.
    pub fn ttl(&self) -> u8 {
        self.byte(field::V4_TTL)
    }

    /// The protocol of the payload.
    pub fn protocol(&self) -> IpProtocol {
        IpProtocol::from(self.byte(field::V4_PROTOCOL))
    }

    /// The header checksum field.
    pub fn checksum(&self) -> u16 {
        be16(self.buf.as_ref(), field::V4_CHECKSUM)
    }

    /// Source address.
    pub fn src(&self) -> Ipv4Addr {
        addr4(self.buf.as_ref(), field::V4_SRC)
    }

    /// Destination address.
    pub fn dst(&self) -> Ipv4Addr {
        addr4(self.buf.as_ref(), field::V4_DST)
    }

    /// True when the header checksum verifies.
    pub fn verify_checksum(&self) -> bool {
        let b = self.buf.as_ref();
        b.get(..self.header_len())
            .is_some_and(|h| checksum::internet(h) == 0)
    }

    /// The payload (between the header and the total length).
    pub fn payload(&self) -> &[u8] {
        self.buf
            .as_ref()
            .get(self.header_len()..self.packet_len())
            .unwrap_or_default()
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buf
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    /// Sets the source address.
    pub fn set_src(&mut self, a: Ipv4Addr) {
        if let Some(d) = self.buf.as_mut().get_mut(field::V4_SRC) {
            d.copy_from_slice(&a.octets());
        }
    }

    /// Sets the destination address.
    pub fn set_dst(&mut self, a: Ipv4Addr) {
        if let Some(d) = self.buf.as_mut().get_mut(field::V4_DST) {
            d.copy_from_slice(&a.octets());
        }
    }

    /// Sets the time to live.
    pub fn set_ttl(&mut self, ttl: u8) {
        if let Some(b) = self.buf.as_mut().get_mut(field::V4_TTL) {
            *b = ttl;
        }
    }

    /// Recomputes the header checksum.
    pub fn fill_checksum(&mut self) {
        let hl = self.header_len();
        let b = self.buf.as_mut();
        set_be16(b, field::V4_CHECKSUM, 0);
        let c = b.get(..hl).map(checksum::internet).unwrap_or(0);
        set_be16(b, field::V4_CHECKSUM, c);
    }

    /// The payload, mutable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (h, t) = (self.header_len(), self.packet_len());
        self.buf.as_mut().get_mut(h..t).unwrap_or_default()
    }
}

/// A view over an IPv6 packet (fixed header only; extension headers are payload).
#[derive(Debug, Clone)]
pub struct Ipv6Packet<T: AsRef<[u8]>> {
    buf: T,
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    /// Wraps `buf` after checking the version and that the payload length fits.
    pub fn new_checked(buf: T) -> Result<Self, DecodeError> {
        let b = buf.as_ref();
        if b.len() < IPV6_HEADER_LEN {
            return Err(DecodeError::Truncated {
                what: "IPv6 header",
                needed: IPV6_HEADER_LEN,
                available: b.len(),
            });
        }
        if b.first().is_none_or(|v| v >> 4 != 6) {
            return Err(DecodeError::Invalid {
                what: "IPv6 version",
                reason: "not 6",
            });
        }
        let plen = usize::from(be16(b, field::V6_PAYLOAD_LEN));
        if IPV6_HEADER_LEN + plen > b.len() {
            return Err(DecodeError::BadLength {
                what: "IPv6 payload length",
                len: plen,
            });
        }
        Ok(Self { buf })
    }

    fn byte(&self, at: usize) -> u8 {
        self.buf.as_ref().get(at).copied().unwrap_or(0)
    }

    /// Header plus payload length.
    pub fn packet_len(&self) -> usize {
        IPV6_HEADER_LEN + usize::from(be16(self.buf.as_ref(), field::V6_PAYLOAD_LEN))
    }

    /// The next header after the fixed header.
    pub fn next_header(&self) -> IpProtocol {
        IpProtocol::from(self.byte(field::V6_NEXT_HEADER))
    }

    /// Hop limit.
    pub fn hop_limit(&self) -> u8 {
        self.byte(field::V6_HOP_LIMIT)
    }

    /// Source address.
    pub fn src(&self) -> Ipv6Addr {
        addr6(self.buf.as_ref(), field::V6_SRC)
    }

    /// Destination address.
    pub fn dst(&self) -> Ipv6Addr {
        addr6(self.buf.as_ref(), field::V6_DST)
    }

    /// The payload after the fixed header.
    pub fn payload(&self) -> &[u8] {
        self.buf
            .as_ref()
            .get(IPV6_HEADER_LEN..self.packet_len())
            .unwrap_or_default()
    }
}

/// A view over a UDP datagram. After [`UdpPacket::new_checked`], the length field is at
/// least 8 and fits the buffer.
#[derive(Debug, Clone)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buf: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    /// Wraps `buf` after checking the length field against the buffer.
    pub fn new_checked(buf: T) -> Result<Self, DecodeError> {
        let b = buf.as_ref();
        if b.len() < UDP_HEADER_LEN {
            return Err(DecodeError::Truncated {
                what: "UDP header",
                needed: UDP_HEADER_LEN,
                available: b.len(),
            });
        }
        let len = usize::from(be16(b, field::UDP_LEN));
        if len < UDP_HEADER_LEN || len > b.len() {
            return Err(DecodeError::BadLength {
                what: "UDP length",
                len,
            });
        }
        Ok(Self { buf })
    }

    /// Source port.
    pub fn src_port(&self) -> u16 {
        be16(self.buf.as_ref(), field::UDP_SRC_PORT)
    }

    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        be16(self.buf.as_ref(), field::UDP_DST_PORT)
    }

    /// The length field (header plus payload).
    pub fn len(&self) -> usize {
        usize::from(be16(self.buf.as_ref(), field::UDP_LEN))
    }

    /// Never true for a checked packet (the length is at least the header); present for
    /// API symmetry with `len`.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The checksum field (0 means "not computed" over IPv4).
    pub fn checksum(&self) -> u16 {
        be16(self.buf.as_ref(), field::UDP_CHECKSUM)
    }

    /// The payload.
    pub fn payload(&self) -> &[u8] {
        self.buf
            .as_ref()
            .get(UDP_HEADER_LEN..self.len())
            .unwrap_or_default()
    }

    /// Verifies the checksum with the pseudo-header of `src` and `dst`. A zero checksum
    /// over IPv4 means none was computed and verifies; over IPv6 it never does.
    pub fn verify_checksum(&self, src: IpAddr, dst: IpAddr) -> bool {
        if self.checksum() == 0 {
            return src.is_ipv4() && dst.is_ipv4();
        }
        let len = self.len();
        let Some(data) = self.buf.as_ref().get(..len) else {
            return false;
        };
        let s = checksum::pseudo_header(src, dst, IpProtocol::Udp.value(), len as u32);
        checksum::finish(checksum::sum(s, data)) == 0
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buf
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    /// Sets the source port.
    pub fn set_src_port(&mut self, p: u16) {
        set_be16(self.buf.as_mut(), field::UDP_SRC_PORT, p);
    }

    /// Sets the destination port.
    pub fn set_dst_port(&mut self, p: u16) {
        set_be16(self.buf.as_mut(), field::UDP_DST_PORT, p);
    }

    /// Sets the checksum field directly (0 to send none over IPv4).
    pub fn set_checksum(&mut self, c: u16) {
        set_be16(self.buf.as_mut(), field::UDP_CHECKSUM, c);
    }

    /// Computes and stores the checksum with the pseudo-header of `src` and `dst`
    /// (a computed 0 is sent as 0xffff, RFC 768).
    pub fn fill_checksum(&mut self, src: IpAddr, dst: IpAddr) {
        let len = self.len();
        self.set_checksum(0);
        let s = checksum::pseudo_header(src, dst, IpProtocol::Udp.value(), len as u32);
        let c = self
            .buf
            .as_ref()
            .get(..len)
            .map(|d| checksum::finish(checksum::sum(s, d)))
            .unwrap_or(0);
        self.set_checksum(if c == 0 { 0xffff } else { c });
    }

    /// The payload, mutable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let len = self.len();
        self.buf
            .as_mut()
            .get_mut(UDP_HEADER_LEN..len)
            .unwrap_or_default()
    }
}

/// Writes a UDP header for a payload of `payload_len` bytes into `header` (8 bytes),
/// checksum zero. Returns `None` when the length does not fit.
pub fn write_udp_header(
    header: &mut [u8; 8],
    src_port: u16,
    dst_port: u16,
    payload_len: usize,
) -> Option<()> {
    let len = u16::try_from(payload_len + UDP_HEADER_LEN).ok()?;
    let [s0, s1] = src_port.to_be_bytes();
    let [d0, d1] = dst_port.to_be_bytes();
    let [l0, l1] = len.to_be_bytes();
    *header = [s0, s1, d0, d1, l0, l1, 0, 0];
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // An IPv4/UDP packet 10.0.0.1:1701 -> 10.0.0.2:1701 with payload "hi", checksums
    // computed independently (by Python's scapy-equivalent arithmetic, checked by hand).
    const PACKET: [u8; 30] = [
        0x45, 0x00, 0x00, 0x1e, 0x12, 0x34, 0x40, 0x00, 0x40, 0x11, 0x14, 0x99, 10, 0, 0, 1, 10, 0,
        0, 2, 0x06, 0xa5, 0x06, 0xa5, 0x00, 0x0a, 0x00, 0x00, b'h', b'i',
    ];

    #[test]
    fn ipv4_deconstruct() {
        let p = Ipv4Packet::new_checked(&PACKET[..]).unwrap();
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.packet_len(), 30);
        assert_eq!(p.protocol(), IpProtocol::Udp);
        assert_eq!(p.src(), Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(p.dst(), Ipv4Addr::new(10, 0, 0, 2));
        assert!(p.verify_checksum());
        assert!(!p.is_fragment());
        let u = UdpPacket::new_checked(p.payload()).unwrap();
        assert_eq!((u.src_port(), u.dst_port(), u.len()), (1701, 1701, 10));
        assert_eq!(u.payload(), b"hi");
    }

    #[test]
    fn ipv4_checksum_is_recomputed() {
        let mut buf = PACKET;
        buf[10] = 0;
        buf[11] = 0;
        let mut p = Ipv4Packet::new_checked(&mut buf[..]).unwrap();
        assert!(!p.verify_checksum());
        p.fill_checksum();
        assert_eq!(p.checksum(), 0x1499);
        p.set_ttl(1);
        assert!(!p.verify_checksum());
    }

    #[test]
    fn udp_checksum_with_pseudo_header() {
        let src = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let dst = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        let mut udp = PACKET[20..].to_vec();
        let mut u = UdpPacket::new_checked(&mut udp[..]).unwrap();
        assert!(
            u.verify_checksum(src, dst),
            "zero checksum over IPv4 is accepted"
        );
        u.fill_checksum(src, dst);
        // Independently: pseudo 0a00+0001+0a00+0002+0011+000a, header 06a5+06a5+000a, data 6869.
        let manual = !{
            let mut s: u32 = 0x0a00 + 0x0001 + 0x0a00 + 0x0002 + 0x0011 + 0x000a;
            s += 0x06a5 + 0x06a5 + 0x000a + 0x6869;
            while s > 0xffff {
                s = (s & 0xffff) + (s >> 16);
            }
            s as u16
        };
        assert_eq!(u.checksum(), manual);
        assert!(u.verify_checksum(src, dst));
        assert!(!u.verify_checksum(src, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 3))));
        u.payload_mut()[0] ^= 1;
        assert!(!u.verify_checksum(src, dst));
    }

    #[test]
    fn malformed_headers_are_typed_errors() {
        assert!(matches!(
            Ipv4Packet::new_checked(&PACKET[..19]),
            Err(DecodeError::Truncated { .. })
        ));
        let mut bad = PACKET;
        bad[0] = 0x44; // IHL 16 bytes
        assert!(matches!(
            Ipv4Packet::new_checked(&bad[..]),
            Err(DecodeError::BadLength { .. })
        ));
        bad = PACKET;
        bad[3] = 31; // total length beyond the buffer
        assert!(Ipv4Packet::new_checked(&bad[..]).is_err());
        bad = PACKET;
        bad[0] = 0x65;
        assert!(Ipv4Packet::new_checked(&bad[..]).is_err());
        assert!(UdpPacket::new_checked(&[0u8, 1, 0, 2, 0, 7, 0, 0][..]).is_err());
        assert!(UdpPacket::new_checked(&[0u8, 1, 0, 2, 0, 9, 0, 0][..]).is_err());
    }

    #[test]
    fn ipv6_view() {
        let mut p = [0u8; 48];
        p[0] = 0x60;
        p[5] = 8;
        p[6] = 17;
        p[7] = 64;
        p[23] = 1;
        p[39] = 2;
        let v = Ipv6Packet::new_checked(&p[..]).unwrap();
        assert_eq!(v.next_header(), IpProtocol::Udp);
        assert_eq!(v.src(), "::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(v.dst(), "::2".parse::<Ipv6Addr>().unwrap());
        assert_eq!(v.payload().len(), 8);
        p[5] = 9;
        assert!(Ipv6Packet::new_checked(&p[..]).is_err());
    }

    #[test]
    fn udp_header_writer() {
        let mut h = [0u8; 8];
        write_udp_header(&mut h, 1701, 1701, 2).unwrap();
        assert_eq!(h, PACKET[20..28]);
        assert!(write_udp_header(&mut h, 1, 1, 65535).is_none());
    }
}
