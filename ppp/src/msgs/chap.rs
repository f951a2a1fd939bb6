//! CHAP packets (RFC 1994 §4): Challenge and Response carry `value-size(1) value name`,
//! Success and Failure a message. MS-CHAPv2 (RFC 2759) uses the same packets with a
//! 16-byte challenge and a 49-byte response value.

use wire::{DecodeError, Reader, Writer};

/// CHAP Challenge code.
pub const CHALLENGE: u8 = 1;
/// CHAP Response code.
pub const RESPONSE: u8 = 2;
/// CHAP Success code.
pub const SUCCESS: u8 = 3;
/// CHAP Failure code.
pub const FAILURE: u8 = 4;

/// The data of a Challenge or Response (borrowed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChallengeResponse<'a> {
    /// The challenge or response value.
    pub value: &'a [u8],
    /// The sender's name.
    pub name: &'a [u8],
}

impl<'a> ChallengeResponse<'a> {
    /// Parses a Challenge or Response data field. An empty value is invalid.
    pub fn decode(data: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(data);
        let n = usize::from(r.u8("chap value-size")?);
        if n == 0 {
            return Err(DecodeError::BadLength {
                what: "chap value",
                len: 0,
            });
        }
        let value = r.take(n, "chap value")?;
        Ok(Self {
            value,
            name: r.rest(),
        })
    }

    /// Writes the data field (the value is cut at 255 bytes).
    pub fn encode(&self, w: &mut Writer<'_>) {
        let value = self.value.get(..255).unwrap_or(self.value);
        w.u8(u8::try_from(value.len()).unwrap_or(u8::MAX));
        w.bytes(value);
        w.bytes(self.name);
    }
}

/// The MS-CHAPv2 Response value (RFC 2759 §4): 49 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MsChapV2Response {
    /// The peer's 16-byte challenge.
    pub peer_challenge: [u8; 16],
    /// The 24-byte NT-Response.
    pub nt_response: [u8; 24],
    /// The flags byte (must be zero).
    pub flags: u8,
}

/// The length of an MS-CHAPv2 Response value.
pub const MSCHAPV2_RESPONSE_LEN: usize = 49;

impl MsChapV2Response {
    /// Parses a Response value; it must be exactly 49 bytes (the 8 reserved bytes are
    /// ignored, as Windows does).
    pub fn decode(value: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(value);
        let peer_challenge = *r.take_array::<16>("ms-chapv2 peer challenge")?;
        r.take(8, "ms-chapv2 reserved")?;
        let nt_response = *r.take_array::<24>("ms-chapv2 nt-response")?;
        let flags = r.u8("ms-chapv2 flags")?;
        r.finish("ms-chapv2 response")?;
        Ok(Self {
            peer_challenge,
            nt_response,
            flags,
        })
    }

    /// The 49-byte value.
    pub fn encode(&self) -> [u8; MSCHAPV2_RESPONSE_LEN] {
        let mut out = [0u8; MSCHAPV2_RESPONSE_LEN];
        out[..16].copy_from_slice(&self.peer_challenge);
        out[24..48].copy_from_slice(&self.nt_response);
        out[48] = self.flags;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pppd_response_deconstructs() {
        // softether-direct-mschapv2.pcap frame 33: pppd's CHAP Response data field.
        let data = hex::decode(
            "319881df12fc757a66b8a7fb049c39d2d7000000000000000064b59e204f3f560ce6996d3d\
             836a81ae12189494bee225e1006c636875736572",
        )
        .unwrap();
        let cr = ChallengeResponse::decode(&data).unwrap();
        assert_eq!(cr.name, b"lchuser");
        let ms = MsChapV2Response::decode(cr.value).unwrap();
        assert_eq!(
            hex::encode(ms.peer_challenge),
            "9881df12fc757a66b8a7fb049c39d2d7"
        );
        assert_eq!(
            hex::encode(ms.nt_response),
            "64b59e204f3f560ce6996d3d836a81ae12189494bee225e1"
        );
        assert_eq!(ms.flags, 0);
        assert_eq!(&ms.encode()[..], cr.value);
        let mut out = Vec::new();
        cr.encode(&mut Writer::new(&mut out));
        assert_eq!(out, data);
    }

    #[test]
    fn bad_lengths_fail() {
        assert!(ChallengeResponse::decode(&[0]).is_err());
        assert!(ChallengeResponse::decode(&[5, 1, 2]).is_err());
        assert!(MsChapV2Response::decode(&[0; 48]).is_err());
        assert!(MsChapV2Response::decode(&[0; 50]).is_err());
    }
}
