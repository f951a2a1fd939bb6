//! The PPP frame as L2TP carries it (RFC 2661 §3.1, RFC 1661 §2): no HDLC flags, no FCS,
//! no byte stuffing. The address and control fields (`FF 03`) may be present or absent
//! (Address-and-Control-Field-Compression) and the protocol field may be one byte
//! (Protocol-Field-Compression); both forms are accepted on input.

use wire::{DecodeError, Reader};

wire::open_enum! {
    /// PPP protocol numbers (the IANA "PPP DLL Protocol Numbers" registry).
    pub enum Protocol: u16 {
        /// Internet Protocol version 4.
        Ipv4 = 0x0021,
        /// Multilink PPP (RFC 1990); never negotiated here.
        Multilink = 0x003d,
        /// Internet Protocol version 6.
        Ipv6 = 0x0057,
        /// Compressed datagram (CCP, RFC 1962).
        CompressedDatagram = 0x00fd,
        /// IP Control Protocol (RFC 1332).
        Ipcp = 0x8021,
        /// IPv6 Control Protocol (RFC 5072).
        Ipv6cp = 0x8057,
        /// Compression Control Protocol (RFC 1962); Windows sends it, we Protocol-Reject it.
        Ccp = 0x80fd,
        /// Link Control Protocol (RFC 1661).
        Lcp = 0xc021,
        /// Password Authentication Protocol (RFC 1334).
        Pap = 0xc023,
        /// Link Quality Report (RFC 1989).
        Lqr = 0xc025,
        /// Callback Control Protocol (Microsoft).
        Cbcp = 0xc029,
        /// Challenge-Handshake Authentication Protocol (RFC 1994).
        Chap = 0xc223,
        /// Extensible Authentication Protocol (RFC 3748).
        Eap = 0xc227,
    }
}

/// The `FF 03` address and control fields of an uncompressed frame.
pub const ADDRESS_CONTROL: [u8; 2] = [0xff, 0x03];

/// One PPP frame: its protocol and the information field (borrowed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The protocol field.
    pub protocol: Protocol,
    /// The information field (a control packet or a network-layer datagram).
    pub info: &'a [u8],
}

impl<'a> Frame<'a> {
    /// Parses a frame with or without `FF 03`, with a one- or two-byte protocol field.
    ///
    /// RFC 1661 §2: protocol values have an odd least significant octet and an even most
    /// significant octet, which is how a compressed (one-byte) field is recognised.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        if bytes.starts_with(&ADDRESS_CONTROL) {
            r.take(2, "address and control")?;
        }
        let first = r.u8("protocol")?;
        let protocol = if first & 1 == 1 {
            u16::from(first)
        } else {
            let second = r.u8("protocol")?;
            if second & 1 == 0 {
                return Err(DecodeError::Invalid {
                    what: "protocol",
                    reason: "least significant octet is even",
                });
            }
            u16::from_be_bytes([first, second])
        };
        Ok(Self {
            protocol: Protocol::from(protocol),
            info: r.rest(),
        })
    }

    /// Appends a frame: `FF 03` unless `acfc`, then the protocol field (one byte when
    /// `pfc` and the value allows it), then `info`.
    pub fn encode(protocol: Protocol, info: &[u8], acfc: bool, pfc: bool, out: &mut Vec<u8>) {
        write_header(protocol, acfc, pfc, out);
        out.extend_from_slice(info);
    }
}

/// The length of the header [`write_header`] writes.
pub fn header_len(protocol: Protocol, acfc: bool, pfc: bool) -> usize {
    let ac = if acfc { 0 } else { 2 };
    let p = if pfc && protocol.value() < 0x100 {
        1
    } else {
        2
    };
    ac + p
}

/// Appends the address/control and protocol fields.
pub fn write_header(protocol: Protocol, acfc: bool, pfc: bool, out: &mut Vec<u8>) {
    let mut tmp = [0u8; 4];
    let n = fill_header(protocol, acfc, pfc, &mut tmp);
    out.extend_from_slice(tmp.get(..n).unwrap_or_default());
}

/// Writes the header into the front of `dst` (at least 4 bytes) and returns its length.
pub(crate) fn fill_header(protocol: Protocol, acfc: bool, pfc: bool, dst: &mut [u8; 4]) -> usize {
    let mut n = 0;
    if !acfc {
        dst[0] = 0xff;
        dst[1] = 0x03;
        n = 2;
    }
    let [hi, lo] = protocol.value().to_be_bytes();
    if pfc && hi == 0 {
        dst[n] = lo;
        n + 1
    } else {
        dst[n] = hi;
        dst[n + 1] = lo;
        n + 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_all_four_header_forms() {
        let full = [0xff, 0x03, 0x00, 0x21, 0x45];
        let no_ac = [0x00, 0x21, 0x45];
        let pfc = [0xff, 0x03, 0x21, 0x45];
        let both = [0x21, 0x45];
        for bytes in [&full[..], &no_ac, &pfc, &both] {
            let f = Frame::decode(bytes).unwrap();
            assert_eq!(f.protocol, Protocol::Ipv4);
            assert_eq!(f.info, &[0x45]);
        }
        let lcp = Frame::decode(&[0xff, 0x03, 0xc0, 0x21, 1, 2]).unwrap();
        assert_eq!(lcp.protocol, Protocol::Lcp);
    }

    #[test]
    fn rejects_bad_protocol_fields() {
        assert!(Frame::decode(&[]).is_err());
        assert!(Frame::decode(&[0xff, 0x03]).is_err());
        assert!(Frame::decode(&[0xc0]).is_err());
        // Even least significant octet.
        assert!(Frame::decode(&[0xc0, 0x22]).is_err());
    }

    #[test]
    fn encodes_with_and_without_compression() {
        let mut out = Vec::new();
        Frame::encode(Protocol::Ipv4, &[0x45], false, false, &mut out);
        assert_eq!(out, [0xff, 0x03, 0x00, 0x21, 0x45]);
        out.clear();
        Frame::encode(Protocol::Ipv4, &[0x45], true, true, &mut out);
        assert_eq!(out, [0x21, 0x45]);
        out.clear();
        // LCP never compresses its protocol field (its value is above 0xff).
        Frame::encode(Protocol::Lcp, &[], true, true, &mut out);
        assert_eq!(out, [0xc0, 0x21]);
        assert_eq!(header_len(Protocol::Ipv6, true, true), 1);
        assert_eq!(header_len(Protocol::Ipv6, false, false), 4);
    }
}
