//! The L2TP header (RFC 2661 §3.1).
//!
//! ```text
//!  0                   1                   2                   3
//! |T|L|x|x|S|x|O|P|x|x|x|x|  Ver  |          Length (opt)         |
//! |           Tunnel ID           |           Session ID          |
//! |             Ns (opt)          |             Nr (opt)          |
//! |      Offset Size (opt)        |    Offset pad... (opt)
//! ```
//!
//! Control messages (T=1) must carry L and S and must not carry O. Data messages (T=0) may
//! carry any of L, S and O. Reserved bits are sent as zero and ignored on receipt.

use wire::{DecodeError, Reader};

use crate::error::Error;
use crate::ids::{SessionId, TunnelId};

/// The only version this crate speaks (1 would be L2F, 3 is L2TPv3).
pub const VERSION: u8 = 2;

const BIT_T: u16 = 0x8000;
const BIT_L: u16 = 0x4000;
const BIT_S: u16 = 0x0800;
const BIT_O: u16 = 0x0200;
const BIT_P: u16 = 0x0100;
const VERSION_MASK: u16 = 0x000f;

/// Ns and Nr, present when the S bit is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sequence {
    /// The sequence number of this message.
    pub ns: u16,
    /// The next sequence number the sender expects to receive (reserved in data messages).
    pub nr: u16,
}

/// Whether a message is a control message (T=1) or carries a PPP frame (T=0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// A control message (AVPs follow; none for a ZLB acknowledgement).
    Control,
    /// A data message (a PPP frame follows).
    Data,
}

/// A decoded L2TP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Control or data.
    pub kind: MessageKind,
    /// Whether the Length field is present (the L bit).
    pub with_length: bool,
    /// Ns/Nr (the S bit).
    pub sequence: Option<Sequence>,
    /// The Offset Size field (the O bit): that many pad bytes precede the payload.
    pub offset: Option<u16>,
    /// The P bit: the data message should be given preferential treatment (always false
    /// for control messages, where the bit is ignored).
    pub priority: bool,
    /// The receiver's Tunnel ID.
    pub tunnel: TunnelId,
    /// The receiver's Session ID (zero for tunnel-wide control messages).
    pub session: SessionId,
}

impl Header {
    /// A control message header (L and S set).
    pub fn control(tunnel: TunnelId, session: SessionId, ns: u16, nr: u16) -> Self {
        Self {
            kind: MessageKind::Control,
            with_length: true,
            sequence: Some(Sequence { ns, nr }),
            offset: None,
            priority: false,
            tunnel,
            session,
        }
    }

    /// A data message header without Length or Offset, with Ns/Nr when `sequence` is set.
    pub fn data(tunnel: TunnelId, session: SessionId, sequence: Option<Sequence>) -> Self {
        Self {
            kind: MessageKind::Data,
            with_length: false,
            sequence,
            offset: None,
            priority: false,
            tunnel,
            session,
        }
    }

    /// Splits a datagram into its header and payload (offset padding removed).
    ///
    /// A Length field must equal the datagram's length; a wrong version is
    /// [`Error::UnsupportedVersion`]; a control message without L or S, or with O, is
    /// malformed.
    pub fn decode(data: &[u8]) -> Result<(Self, &[u8]), Error> {
        let mut r = Reader::new(data);
        let flags = r.u16("l2tp flags")?;
        // `flags & 0xf` fits in a u8.
        let version = (flags & VERSION_MASK) as u8;
        if version != VERSION {
            return Err(Error::UnsupportedVersion(version));
        }
        let kind = if flags & BIT_T != 0 {
            MessageKind::Control
        } else {
            MessageKind::Data
        };
        let with_length = flags & BIT_L != 0;
        let has_seq = flags & BIT_S != 0;
        let has_offset = flags & BIT_O != 0;
        if kind == MessageKind::Control && !(with_length && has_seq && !has_offset) {
            return Err(DecodeError::Invalid {
                what: "l2tp control header",
                reason: "control messages need L and S and must not carry O",
            }
            .into());
        }
        if with_length {
            let len = usize::from(r.u16("l2tp length")?);
            if len != data.len() {
                return Err(DecodeError::BadLength {
                    what: "l2tp message",
                    len,
                }
                .into());
            }
        }
        let tunnel = TunnelId(r.u16("l2tp tunnel id")?);
        let session = SessionId(r.u16("l2tp session id")?);
        let sequence = if has_seq {
            Some(Sequence {
                ns: r.u16("l2tp ns")?,
                nr: r.u16("l2tp nr")?,
            })
        } else {
            None
        };
        let offset = if has_offset {
            let size = r.u16("l2tp offset size")?;
            r.take(usize::from(size), "l2tp offset pad")?;
            Some(size)
        } else {
            None
        };
        let header = Self {
            kind,
            with_length,
            sequence,
            offset,
            // P is meaningful on data messages only; on control messages it is ignored.
            priority: kind == MessageKind::Data && flags & BIT_P != 0,
            tunnel,
            session,
        };
        Ok((header, r.rest()))
    }

    /// The encoded length of this header, offset padding included.
    pub fn len(&self) -> usize {
        let mut n = 6;
        if self.with_length {
            n += 2;
        }
        if self.sequence.is_some() {
            n += 4;
        }
        if let Some(size) = self.offset {
            n += 2 + usize::from(size);
        }
        n
    }

    /// Never true: a header has at least six bytes.
    pub fn is_empty(&self) -> bool {
        false
    }

    fn flags(&self) -> u16 {
        let mut flags = u16::from(VERSION);
        if self.kind == MessageKind::Control {
            flags |= BIT_T;
        }
        if self.with_length {
            flags |= BIT_L;
        }
        if self.sequence.is_some() {
            flags |= BIT_S;
        }
        if self.offset.is_some() {
            flags |= BIT_O;
        }
        if self.priority {
            flags |= BIT_P;
        }
        flags
    }

    /// Writes the header into `out`, which must be exactly [`Self::len`] bytes, for a
    /// payload of `payload_len` bytes (used for the Length field).
    ///
    /// Used in place: the caller reserves the header's room in front of the payload.
    pub fn write(&self, out: &mut [u8], payload_len: usize) -> Result<(), Error> {
        let total = self.len() + payload_len;
        let total = u16::try_from(total).map_err(|_| Error::TooLong(total))?;
        let mut fields = [0u16; 7];
        let mut n = 0;
        let mut push = |v: u16| {
            if let Some(slot) = fields.get_mut(n) {
                *slot = v;
            }
            n += 1;
        };
        push(self.flags());
        if self.with_length {
            push(total);
        }
        push(self.tunnel.0);
        push(self.session.0);
        if let Some(seq) = self.sequence {
            push(seq.ns);
            push(seq.nr);
        }
        if let Some(size) = self.offset {
            push(size);
        }
        if out.len() != self.len() {
            return Err(Error::TooLong(out.len()));
        }
        let (fixed, pad) = out.split_at_mut(2 * n.min(fields.len()));
        for (dst, v) in fixed.chunks_exact_mut(2).zip(fields) {
            dst.copy_from_slice(&v.to_be_bytes());
        }
        pad.fill(0);
        Ok(())
    }

    /// Appends the header to `out` for a payload of `payload_len` bytes.
    pub fn encode(&self, out: &mut Vec<u8>, payload_len: usize) -> Result<(), Error> {
        let start = out.len();
        out.resize(start + self.len(), 0);
        match out.get_mut(start..) {
            Some(dst) => self.write(dst, payload_len),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // xl2tpd's first data message (LCP Configure-Request) from the real capture: no L, no
    // S, no O.
    const XL2TPD_DATA: &str = "000200010001ff03c02101010014010405780206000000000506c1624a80";
    // SoftEther's reply carries L.
    const SOFTETHER_DATA: &str = "4002001c3c859bd2ff03c021040100100206000000000506c1624a80";

    #[test]
    fn data_headers_from_the_capture() {
        let bytes = hex::decode(XL2TPD_DATA).unwrap();
        let (h, payload) = Header::decode(&bytes).unwrap();
        assert_eq!(h, Header::data(TunnelId(1), SessionId(1), None));
        assert_eq!(&payload[..4], &[0xff, 0x03, 0xc0, 0x21]);
        let mut out = Vec::new();
        h.encode(&mut out, payload.len()).unwrap();
        out.extend_from_slice(payload);
        assert_eq!(out, bytes);

        let bytes = hex::decode(SOFTETHER_DATA).unwrap();
        let (h, payload) = Header::decode(&bytes).unwrap();
        assert!(h.with_length);
        assert_eq!((h.tunnel, h.session), (TunnelId(0x3c85), SessionId(0x9bd2)));
        assert_eq!(payload.len(), bytes.len() - 8);
        let mut out = Vec::new();
        h.encode(&mut out, payload.len()).unwrap();
        out.extend_from_slice(payload);
        assert_eq!(out, bytes);
    }

    #[test]
    fn offset_and_sequence_are_parsed() {
        // T=0 L=1 S=1 O=1, length 18, tunnel 7, session 9, Ns 5, Nr 0, offset 2 + pad.
        let bytes = [
            0x4a, 0x02, 0, 18, 0, 7, 0, 9, 0, 5, 0, 0, 0, 2, 0xee, 0xee, 0xab, 0xcd,
        ];
        let (h, payload) = Header::decode(&bytes).unwrap();
        assert_eq!(h.sequence, Some(Sequence { ns: 5, nr: 0 }));
        assert_eq!(h.offset, Some(2));
        assert_eq!(payload, &[0xab, 0xcd]);
        assert_eq!(h.len(), 16);
    }

    #[test]
    fn every_optional_field_encodes() {
        // T=0 with L, S, O and P: seven 16-bit fields before the pad (found by fuzzing).
        let h = Header {
            kind: MessageKind::Data,
            with_length: true,
            sequence: Some(Sequence { ns: 0x800a, nr: 1 }),
            offset: Some(4),
            priority: true,
            tunnel: TunnelId(7),
            session: SessionId(1),
        };
        let mut out = Vec::new();
        h.encode(&mut out, 1).unwrap();
        out.push(0xab);
        assert_eq!(
            out,
            [
                0x4b, 0x02, 0, 19, 0, 7, 0, 1, 0x80, 0x0a, 0, 1, 0, 4, 0, 0, 0, 0, 0xab
            ]
        );
        assert_eq!(Header::decode(&out).unwrap(), (h, &[0xab][..]));
    }

    #[test]
    fn malformed_headers_are_typed_errors() {
        // Version 3 (L2TPv3).
        assert_eq!(
            Header::decode(&[0xc8, 0x03, 0, 12, 0, 1, 0, 0, 0, 0, 0, 0]),
            Err(Error::UnsupportedVersion(3))
        );
        // Length larger than the datagram.
        assert!(matches!(
            Header::decode(&[0xc8, 0x02, 0, 40, 0, 1, 0, 0, 0, 0, 0, 0]),
            Err(Error::Decode(DecodeError::BadLength { .. }))
        ));
        // A control message without S.
        assert!(matches!(
            Header::decode(&[0xc0, 0x02, 0, 8, 0, 1, 0, 0]),
            Err(Error::Decode(DecodeError::Invalid { .. }))
        ));
        // Offset pad running past the end.
        assert!(matches!(
            Header::decode(&[0x02, 0x02, 0, 1, 0, 1, 0, 9]),
            Err(Error::Decode(DecodeError::Truncated { .. }))
        ));
        assert!(Header::decode(&[0x00]).is_err());
    }
}
