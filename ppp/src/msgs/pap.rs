//! PAP packets (RFC 1334 §2.2): Authenticate-Request carries the peer ID and password,
//! Authenticate-Ack and -Nak a message.

use wire::{DecodeError, Reader, Writer};

/// PAP Authenticate-Request code.
pub const AUTHENTICATE_REQUEST: u8 = 1;
/// PAP Authenticate-Ack code.
pub const AUTHENTICATE_ACK: u8 = 2;
/// PAP Authenticate-Nak code.
pub const AUTHENTICATE_NAK: u8 = 3;

/// The data of an Authenticate-Request (borrowed).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct AuthenticateRequest<'a> {
    /// The peer ID (user name).
    pub peer_id: &'a [u8],
    /// The password.
    pub password: &'a [u8],
}

impl core::fmt::Debug for AuthenticateRequest<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AuthenticateRequest")
            .field("peer_id", &String::from_utf8_lossy(self.peer_id))
            .field("password", &"[redacted]")
            .finish()
    }
}

impl<'a> AuthenticateRequest<'a> {
    /// Parses the data field of an Authenticate-Request.
    pub fn decode(data: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(data);
        let n = usize::from(r.u8("pap peer-id length")?);
        let peer_id = r.take(n, "pap peer-id")?;
        let n = usize::from(r.u8("pap password length")?);
        let password = r.take(n, "pap password")?;
        Ok(Self { peer_id, password })
    }

    /// Writes the data field (each field is cut at 255 bytes).
    pub fn encode(&self, w: &mut Writer<'_>) {
        for field in [self.peer_id, self.password] {
            let field = field.get(..255).unwrap_or(field);
            w.u8(u8::try_from(field.len()).unwrap_or(u8::MAX));
            w.bytes(field);
        }
    }
}

/// Parses the message of an Authenticate-Ack or -Nak (a length-prefixed string).
pub fn decode_message(data: &[u8]) -> Result<&[u8], DecodeError> {
    let mut r = Reader::new(data);
    let n = usize::from(r.u8("pap message length")?);
    r.take(n, "pap message")
}

/// Writes an Authenticate-Ack/-Nak message.
pub fn encode_message(msg: &[u8], w: &mut Writer<'_>) {
    let msg = msg.get(..255).unwrap_or(msg);
    w.u8(u8::try_from(msg.len()).unwrap_or(u8::MAX));
    w.bytes(msg);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_round_trip_and_truncation() {
        let data = [4, b'u', b's', b'e', b'r', 2, b'p', b'w'];
        let req = AuthenticateRequest::decode(&data).unwrap();
        assert_eq!(req.peer_id, b"user");
        assert_eq!(req.password, b"pw");
        let mut out = Vec::new();
        req.encode(&mut Writer::new(&mut out));
        assert_eq!(out, data);
        assert!(AuthenticateRequest::decode(&data[..7]).is_err());
        assert!(format!("{req:?}").contains("[redacted]"));
        assert_eq!(decode_message(&[2, b'o', b'k']).unwrap(), b"ok");
        assert!(decode_message(&[3, b'o', b'k']).is_err());
    }
}
