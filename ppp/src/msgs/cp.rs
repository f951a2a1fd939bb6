//! The control-protocol packet of RFC 1661 §5 (LCP) that IPCP and IPv6CP reuse:
//! `code(1) identifier(1) length(2) data`, and the option list `type(1) length(1) data`
//! of the Configure-* packets.

use wire::{DecodeError, Reader, Writer};

wire::open_enum! {
    /// Control-protocol packet codes (RFC 1661 §5; LCP adds 8..=13).
    pub enum Code: u8 {
        /// Configure-Request.
        ConfigureRequest = 1,
        /// Configure-Ack.
        ConfigureAck = 2,
        /// Configure-Nak.
        ConfigureNak = 3,
        /// Configure-Reject.
        ConfigureReject = 4,
        /// Terminate-Request.
        TerminateRequest = 5,
        /// Terminate-Ack.
        TerminateAck = 6,
        /// Code-Reject.
        CodeReject = 7,
        /// Protocol-Reject (LCP only).
        ProtocolReject = 8,
        /// Echo-Request (LCP only).
        EchoRequest = 9,
        /// Echo-Reply (LCP only).
        EchoReply = 10,
        /// Discard-Request (LCP only).
        DiscardRequest = 11,
        /// Identification (RFC 1570, LCP only).
        Identification = 12,
        /// Time-Remaining (RFC 1570, LCP only).
        TimeRemaining = 13,
    }
}

/// The fixed header length of a control packet.
pub const HEADER_LEN: usize = 4;

/// The most options accepted in one Configure-* packet. A real peer sends fewer than ten;
/// the bound keeps a hostile list from costing more than a few hundred steps.
pub const MAX_OPTIONS: usize = 32;

/// A control packet (borrowed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpPacket<'a> {
    /// The code.
    pub code: Code,
    /// The identifier, matching requests with replies.
    pub id: u8,
    /// The data field (options for Configure-*).
    pub data: &'a [u8],
}

impl<'a> CpPacket<'a> {
    /// Parses a packet. Bytes after `length` are padding and ignored (RFC 1661 §5); a
    /// length below 4 or beyond the information field is an error.
    pub fn decode(info: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(info);
        let code = Code::from(r.u8("cp code")?);
        let id = r.u8("cp identifier")?;
        let len = usize::from(r.u16("cp length")?);
        if len < HEADER_LEN {
            return Err(DecodeError::BadLength {
                what: "cp packet",
                len,
            });
        }
        let data = r.take(len - HEADER_LEN, "cp data")?;
        Ok(Self { code, id, data })
    }

    /// Appends a packet with `data` as its data field.
    pub fn encode(code: Code, id: u8, data: &[u8], out: &mut Vec<u8>) {
        Self::encode_with(code, id, out, |w| w.bytes(data));
    }

    /// Appends a packet whose data field `f` writes. The data is cut to 65531 bytes if
    /// `f` wrote more (nothing this crate builds comes close).
    pub fn encode_with(code: Code, id: u8, out: &mut Vec<u8>, f: impl FnOnce(&mut Writer<'_>)) {
        let start = out.len();
        let mut w = Writer::new(out);
        w.u8(code.value());
        w.u8(id);
        let len = w.placeholder_u16();
        f(&mut w);
        let total = (w.position() - start).min(usize::from(u16::MAX));
        // Cannot fail: `total` was clamped to the field's maximum.
        let _ = w.patch_u16(len, total);
        out.truncate(start + total);
    }

    /// The options of a Configure-* packet.
    pub fn options(&self) -> OptionIter<'a> {
        OptionIter::new(self.data)
    }
}

/// One configuration option (borrowed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpOption<'a> {
    /// The option type.
    pub kind: u8,
    /// The option data (after type and length).
    pub data: &'a [u8],
}

impl CpOption<'_> {
    /// The option as it appears on the wire, for copying into a Nak or Reject.
    pub fn encode(&self, w: &mut Writer<'_>) {
        w.u8(self.kind);
        // Options come from a decoded packet, so `data.len() <= 253`.
        w.u8(u8::try_from(self.data.len() + 2).unwrap_or(u8::MAX));
        w.bytes(self.data);
    }

    /// The data as a big-endian u16, if it is exactly two bytes.
    pub fn as_u16(&self) -> Option<u16> {
        <[u8; 2]>::try_from(self.data).ok().map(u16::from_be_bytes)
    }

    /// The data as a big-endian u32, if it is exactly four bytes.
    pub fn as_u32(&self) -> Option<u32> {
        <[u8; 4]>::try_from(self.data).ok().map(u32::from_be_bytes)
    }
}

/// Writes one option with its type and length.
pub fn write_option(w: &mut Writer<'_>, kind: u8, data: &[u8]) {
    w.u8(kind);
    w.u8(u8::try_from(data.len() + 2).unwrap_or(u8::MAX));
    w.bytes(data);
}

/// Iterates over an option list; the first malformed option ends it with an error.
#[derive(Debug, Clone)]
pub struct OptionIter<'a> {
    r: Reader<'a>,
    count: usize,
    failed: bool,
}

impl<'a> OptionIter<'a> {
    /// An iterator over `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Self {
            r: Reader::new(data),
            count: 0,
            failed: false,
        }
    }

    /// Checks the whole list, so a handler can refuse a malformed packet before acting
    /// on any of its options.
    pub fn validate(data: &'a [u8]) -> Result<(), DecodeError> {
        Self::new(data).try_for_each(|o| o.map(drop))
    }

    fn next_option(&mut self) -> Result<CpOption<'a>, DecodeError> {
        self.count += 1;
        if self.count > MAX_OPTIONS {
            return Err(DecodeError::Invalid {
                what: "cp options",
                reason: "too many options",
            });
        }
        let kind = self.r.u8("option type")?;
        let len = usize::from(self.r.u8("option length")?);
        if len < 2 {
            return Err(DecodeError::BadLength {
                what: "option",
                len,
            });
        }
        let data = self.r.take(len - 2, "option data")?;
        Ok(CpOption { kind, data })
    }
}

impl<'a> Iterator for OptionIter<'a> {
    type Item = Result<CpOption<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.r.is_empty() {
            return None;
        }
        let item = self.next_option();
        self.failed = item.is_err();
        Some(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // pppd's first LCP Configure-Request (softether-direct-mschapv2.pcap frame 21).
    const PPPD_LCP_CONFREQ: &str = "01010014010405780206000000000506c1624a80";

    #[test]
    fn deconstructs_pppd_configure_request() {
        let bytes = hex::decode(PPPD_LCP_CONFREQ).unwrap();
        let p = CpPacket::decode(&bytes).unwrap();
        assert_eq!(p.code, Code::ConfigureRequest);
        assert_eq!(p.id, 1);
        let opts: Vec<_> = p.options().map(Result::unwrap).collect();
        assert_eq!(opts.len(), 3);
        assert_eq!((opts[0].kind, opts[0].as_u16()), (1, Some(1400)));
        assert_eq!((opts[1].kind, opts[1].as_u32()), (2, Some(0)));
        assert_eq!((opts[2].kind, opts[2].as_u32()), (5, Some(0xc162_4a80)));
    }

    #[test]
    fn constructs_the_same_bytes() {
        let mut out = Vec::new();
        CpPacket::encode_with(Code::ConfigureRequest, 1, &mut out, |w| {
            write_option(w, 1, &1400u16.to_be_bytes());
            write_option(w, 2, &0u32.to_be_bytes());
            write_option(w, 5, &0xc162_4a80u32.to_be_bytes());
        });
        assert_eq!(hex::encode(&out), PPPD_LCP_CONFREQ);
    }

    #[test]
    fn padding_after_length_is_ignored_and_short_lengths_fail() {
        let p = CpPacket::decode(&[9, 0, 0, 8, 0, 0, 0, 0, 0xee, 0xee]).unwrap();
        assert_eq!(p.data, &[0, 0, 0, 0]);
        assert!(CpPacket::decode(&[9, 0, 0, 3]).is_err());
        assert!(CpPacket::decode(&[9, 0, 0, 9, 0, 0, 0, 0]).is_err());
        assert!(CpPacket::decode(&[9, 0, 0]).is_err());
    }

    #[test]
    fn malformed_options_are_errors() {
        // Length 0, length 1, length past the end, truncated header.
        for bad in [&[1u8, 0][..], &[1, 1], &[1, 4, 0], &[1]] {
            assert!(OptionIter::validate(bad).is_err(), "{bad:?}");
        }
        let many = [3u8, 2].repeat(MAX_OPTIONS + 1);
        assert!(OptionIter::validate(&many).is_err());
        assert!(OptionIter::validate(&[3u8, 2].repeat(MAX_OPTIONS)).is_ok());
    }
}
