//! The ISAKMP header (RFC 2408 §3.1).

use core::fmt;

use wire::{DecodeError, Reader, Writer};

use super::enums::{ExchangeType, PayloadType};

/// Length of the ISAKMP header.
pub const HEADER_LEN: usize = 28;

/// An ISAKMP cookie (8 bytes; IKEv1's SPI of the ISAKMP SA).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Cookie(pub [u8; 8]);

impl Cookie {
    /// The all-zero cookie the initiator puts as responder cookie in its first message.
    pub const ZERO: Self = Self([0; 8]);

    /// True for the all-zero cookie.
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 8]
    }
}

impl fmt::Debug for Cookie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Cookie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A message ID (0 in phase 1; random and unique per phase-2 / informational exchange).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Debug, PartialOrd, Ord)]
pub struct MessageId(pub u32);

/// ISAKMP header flags.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(pub u8);

impl Flags {
    /// The body after the header is encrypted.
    pub const ENCRYPTION: u8 = 0x01;
    /// The commit bit (RFC 2408 §3.1; answered with CONNECTED in Quick Mode).
    pub const COMMIT: u8 = 0x02;
    /// Authentication only (unused by IKE).
    pub const AUTH_ONLY: u8 = 0x04;

    /// True when the encryption bit is set.
    pub fn encrypted(self) -> bool {
        self.0 & Self::ENCRYPTION != 0
    }

    /// True when the commit bit is set.
    pub fn commit(self) -> bool {
        self.0 & Self::COMMIT != 0
    }
}

impl fmt::Debug for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Flags({:#04x})", self.0)
    }
}

/// The fixed 28-byte ISAKMP header.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Header {
    /// Initiator cookie.
    pub icookie: Cookie,
    /// Responder cookie (zero in the initiator's first message).
    pub rcookie: Cookie,
    /// Type of the first payload.
    pub next_payload: PayloadType,
    /// Major version in the high nibble, minor in the low one (0x10 for IKEv1).
    pub version: u8,
    /// Exchange type.
    pub exchange: ExchangeType,
    /// Flags.
    pub flags: Flags,
    /// Message ID.
    pub message_id: MessageId,
    /// Total length of the message including this header.
    pub length: u32,
}

impl Header {
    /// The IKEv1 version byte.
    pub const VERSION: u8 = 0x10;

    /// Reads a header. The version's major number must be 1 (IKEv2 headers are refused
    /// here, with a named error) and the length must cover at least the header.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let icookie = Cookie(*r.take_array::<8>("initiator cookie")?);
        let rcookie = Cookie(*r.take_array::<8>("responder cookie")?);
        let next_payload = PayloadType::from(r.u8("next payload")?);
        let version = r.u8("version")?;
        let exchange = ExchangeType::from(r.u8("exchange type")?);
        let flags = Flags(r.u8("flags")?);
        let message_id = MessageId(r.u32("message id")?);
        let length = r.u32("message length")?;
        if version >> 4 != 1 {
            return Err(DecodeError::Invalid {
                what: "version",
                reason: "major version is not 1",
            });
        }
        if (length as usize) < HEADER_LEN {
            return Err(DecodeError::BadLength {
                what: "message length",
                len: length as usize,
            });
        }
        Ok(Self {
            icookie,
            rcookie,
            next_payload,
            version,
            exchange,
            flags,
            message_id,
            length,
        })
    }

    /// Writes the header (the length as given; callers patch it with [`patch_length`]).
    pub fn encode(&self, w: &mut Writer<'_>) {
        w.bytes(&self.icookie.0);
        w.bytes(&self.rcookie.0);
        w.u8(self.next_payload.value());
        w.u8(self.version);
        w.u8(self.exchange.value());
        w.u8(self.flags.0);
        w.u32(self.message_id.0);
        w.u32(self.length);
    }
}

/// Writes the total length of a message that starts at `start` in `buf` into its header.
pub fn patch_length(buf: &mut [u8], start: usize) {
    let len = (buf.len() - start) as u32;
    if let Some(field) = buf.get_mut(start + 24..start + 28) {
        field.copy_from_slice(&len.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_real_main_mode_header_and_rejects_ikev2() {
        // The first 28 bytes of strongSwan's MM1 in the direct capture.
        let bytes =
            hex::decode("5a1a799f69d43e490000000000000000011002000000000000000140").unwrap();
        let h = Header::decode(&mut Reader::new(&bytes)).unwrap();
        assert_eq!(h.icookie.to_string(), "5a1a799f69d43e49");
        assert!(h.rcookie.is_zero());
        assert_eq!(h.next_payload, PayloadType::Sa);
        assert_eq!(h.exchange, ExchangeType::IdentityProtection);
        assert_eq!(h.length, 320);
        let mut out = Vec::new();
        h.encode(&mut Writer::new(&mut out));
        assert_eq!(out, bytes);

        let mut v2 = bytes.clone();
        v2[17] = 0x20;
        assert!(Header::decode(&mut Reader::new(&v2)).is_err());
        let mut short = bytes;
        short[24..28].copy_from_slice(&27u32.to_be_bytes());
        assert!(Header::decode(&mut Reader::new(&short)).is_err());
    }
}
