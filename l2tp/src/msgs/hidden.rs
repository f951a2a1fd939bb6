//! Hidden AVP values (RFC 2661 §4.3) and tunnel authentication (§5.1.1).
//!
//! A hidden value is the subformat `original length (2) ‖ value ‖ padding`, XORed 16
//! bytes at a time with an MD5 chain: the first block's key is
//! `MD5(attribute type (2) ‖ secret ‖ random vector)`, each next block's key is
//! `MD5(secret ‖ previous ciphertext block)`. The random vector is the value of the last
//! Random Vector AVP before the hidden AVP.
//!
//! Tunnel authentication works like CHAP, with the message type as the identifier:
//! `response = MD5(message type (1) ‖ secret ‖ challenge)`.

use md5::{Digest, Md5};
use subtle::ConstantTimeEq;
use wire::DecodeError;
use zeroize::Zeroizing;

/// The shared tunnel secret (used for hidden AVPs and tunnel authentication).
///
/// Zeroized on drop; Debug never prints it.
#[derive(Clone)]
pub struct Secret(Zeroizing<Vec<u8>>);

impl Secret {
    /// A secret from its bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(Zeroizing::new(bytes.into()))
    }

    /// The secret's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl core::fmt::Debug for Secret {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

const BLOCK: usize = 16;

/// XORs `data` in place with the RFC 2661 §4.3 key stream. `decrypting` says whether
/// `data` is ciphertext (the chain then runs on the input blocks) or plaintext (on the
/// output blocks).
fn apply_stream(
    attribute: u16,
    secret: &[u8],
    random_vector: &[u8],
    data: &mut [u8],
    decrypting: bool,
) {
    let mut key: [u8; BLOCK] = Md5::new()
        .chain_update(attribute.to_be_bytes())
        .chain_update(secret)
        .chain_update(random_vector)
        .finalize()
        .into();
    for block in data.chunks_mut(BLOCK) {
        let mut cipher = [0u8; BLOCK];
        for ((b, k), c) in block.iter_mut().zip(key).zip(cipher.iter_mut()) {
            if decrypting {
                *c = *b;
                *b ^= k;
            } else {
                *b ^= k;
                *c = *b;
            }
        }
        let used = block.len();
        key = Md5::new()
            .chain_update(secret)
            .chain_update(cipher.get(..used).unwrap_or_default())
            .finalize()
            .into();
    }
}

/// Hides `value` of AVP `attribute`, appending the hidden field to `out` (no padding).
pub fn hide(
    attribute: u16,
    secret: &Secret,
    random_vector: &[u8],
    value: &[u8],
    out: &mut Vec<u8>,
) {
    let start = out.len();
    // Values come from AVPs whose length fits in 10 bits.
    let len = u16::try_from(value.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(value);
    if let Some(field) = out.get_mut(start..) {
        apply_stream(attribute, secret.as_bytes(), random_vector, field, false);
    }
}

/// Recovers the value of hidden AVP `attribute`. Fails when the recovered original
/// length does not fit (a wrong secret or a corrupt AVP, most likely).
pub fn unhide(
    attribute: u16,
    secret: &Secret,
    random_vector: &[u8],
    hidden: &[u8],
) -> Result<Zeroizing<Vec<u8>>, DecodeError> {
    let mut plain = Zeroizing::new(hidden.to_vec());
    apply_stream(
        attribute,
        secret.as_bytes(),
        random_vector,
        &mut plain,
        true,
    );
    let (len, rest) = plain.split_at_checked(2).ok_or(DecodeError::Truncated {
        what: "hidden avp original length",
        needed: 2,
        available: hidden.len(),
    })?;
    let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
    let value = rest.get(..len).ok_or(DecodeError::BadLength {
        what: "hidden avp original length",
        len,
    })?;
    Ok(Zeroizing::new(value.to_vec()))
}

/// The Challenge Response for `challenge`, sent in a message of type `message_type`
/// (2 in SCCRP, 3 in SCCCN).
pub fn challenge_response(message_type: u8, secret: &Secret, challenge: &[u8]) -> [u8; 16] {
    Md5::new()
        .chain_update([message_type])
        .chain_update(secret.as_bytes())
        .chain_update(challenge)
        .finalize()
        .into()
}

/// Checks a received Challenge Response in constant time.
pub fn verify_response(
    message_type: u8,
    secret: &Secret,
    challenge: &[u8],
    response: &[u8],
) -> bool {
    let expected = challenge_response(message_type, secret, challenge);
    expected.ct_eq(response).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Known answers computed independently with Python's hashlib from the RFC 2661 §4.3
    // description (see testdata/README.md for the script).
    const SECRET: &[u8] = b"foobar";
    const RV: [u8; 16] = *b"0123456789abcdef";

    #[test]
    fn hidden_value_known_answer_short() {
        // Assigned Tunnel ID (attribute 9) value 0x1234: subformat 0002 1234.
        let mut out = Vec::new();
        hide(9, &Secret::new(SECRET), &RV, &[0x12, 0x34], &mut out);
        assert_eq!(
            hex::encode(&out),
            include_str!("../../testdata/hidden-kat-short.hex").trim()
        );
        let back = unhide(9, &Secret::new(SECRET), &RV, &out).unwrap();
        assert_eq!(back.as_slice(), &[0x12, 0x34]);
    }

    #[test]
    fn hidden_value_known_answer_chained() {
        // A 40-byte Proxy Authen Response (attribute 33): three blocks, so the chain on
        // the previous ciphertext is exercised.
        let value: Vec<u8> = (0u8..40).collect();
        let mut out = Vec::new();
        hide(33, &Secret::new(SECRET), &RV, &value, &mut out);
        assert_eq!(
            hex::encode(&out),
            include_str!("../../testdata/hidden-kat-chained.hex").trim()
        );
        let back = unhide(33, &Secret::new(SECRET), &RV, &out).unwrap();
        assert_eq!(back.as_slice(), value.as_slice());
        // A wrong secret does not give the value back.
        assert_ne!(
            unhide(33, &Secret::new(b"other".to_vec()), &RV, &out)
                .map(|v| v.to_vec())
                .ok(),
            Some(value)
        );
    }

    #[test]
    fn challenge_response_known_answer() {
        let challenge = hex::decode("00112233445566778899aabbccddeeff").unwrap();
        let r = challenge_response(2, &Secret::new(SECRET), &challenge);
        assert_eq!(
            hex::encode(r),
            include_str!("../../testdata/challenge-kat.hex").trim()
        );
        assert!(verify_response(2, &Secret::new(SECRET), &challenge, &r));
        assert!(!verify_response(3, &Secret::new(SECRET), &challenge, &r));
    }

    #[test]
    fn truncated_hidden_field_is_an_error() {
        assert!(unhide(9, &Secret::new(SECRET), &RV, &[0x01]).is_err());
        assert!(unhide(9, &Secret::new(SECRET), &RV, &[]).is_err());
    }
}
