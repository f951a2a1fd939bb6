//! The ISAKMP/IKEv1 wire format: header, payload chain, typed payloads, code points.
//!
//! Decoding never panics and never allocates more than the input bounds: payload,
//! proposal, transform and attribute counts are capped.

pub mod enums;
pub mod header;
pub mod payload;
pub mod sa;
pub mod vendor;

use wire::{DecodeError, Reader, Writer};

pub use enums::*;
pub use header::{Cookie, Flags, HEADER_LEN, Header, MessageId};
pub use payload::{
    Chain, DeletePayload, IdPayload, NatOaPayload, NotifyPayload, Payload, RawPayload,
    decode_payloads, encode_chain, parse_chain,
};
pub use sa::{AttrValue, Attribute, Proposal, SaPayload, Transform};

/// Largest IKE message accepted (messages with certificates stay well below).
pub const MAX_MESSAGE_LEN: usize = 16 * 1024;

/// A whole IKEv1 message: the header and either the typed payloads (plaintext) or the
/// still-encrypted body.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Message {
    /// The header.
    pub header: Header,
    /// The body.
    pub body: Body,
}

/// The body of a [`Message`].
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Body {
    /// Plaintext payloads.
    Plain(Vec<Payload>),
    /// Ciphertext (the encryption flag was set).
    Encrypted(Vec<u8>),
}

/// Splits a datagram into its header and body, checking the header's length against
/// the datagram (bytes past the header's length are ignored, as some peers pad).
pub fn split(data: &[u8]) -> Result<(Header, &[u8]), DecodeError> {
    if data.len() > MAX_MESSAGE_LEN {
        return Err(DecodeError::BadLength {
            what: "message",
            len: data.len(),
        });
    }
    let mut r = Reader::new(data);
    let header = Header::decode(&mut r)?;
    let len = header.length as usize;
    if len > data.len() {
        return Err(DecodeError::Truncated {
            what: "message",
            needed: len,
            available: data.len(),
        });
    }
    Ok((header, data.get(HEADER_LEN..len).unwrap_or_default()))
}

impl Message {
    /// Decodes a datagram. A plaintext body must be exactly one payload chain.
    pub fn decode(data: &[u8]) -> Result<Self, DecodeError> {
        let (header, body) = split(data)?;
        if header.flags.encrypted() {
            return Ok(Self {
                header,
                body: Body::Encrypted(body.to_vec()),
            });
        }
        let chain = parse_chain(header.next_payload, body)?;
        Reader::new(body.get(chain.end..).unwrap_or_default()).finish("message")?;
        Ok(Self {
            header,
            body: Body::Plain(decode_payloads(&chain)?),
        })
    }

    /// Encodes the message; the header's length and next-payload fields are set from
    /// the body.
    pub fn encode(&self, buf: &mut Vec<u8>) {
        let start = buf.len();
        let mut header = self.header;
        if let Body::Plain(p) = &self.body {
            header.next_payload = p.first().map_or(PayloadType::None, Payload::ty);
        }
        let mut w = Writer::new(buf);
        header.encode(&mut w);
        match &self.body {
            Body::Plain(p) => encode_chain(p, &mut w),
            Body::Encrypted(c) => w.bytes(c),
        }
        header::patch_length(buf, start);
    }
}
