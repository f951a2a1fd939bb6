//! CHAP with MD5 (RFC 1994 §4.1): `response = MD5(identifier ‖ secret ‖ challenge)`.

use md5::{Digest, Md5};
use subtle::ConstantTimeEq;

/// The response a peer holding `secret` sends to `challenge` under `id`.
pub fn response(id: u8, secret: &[u8], challenge: &[u8]) -> [u8; 16] {
    let mut h = Md5::new();
    h.update([id]);
    h.update(secret);
    h.update(challenge);
    h.finalize().into()
}

/// Constant-time check of a peer's response.
pub fn verify(id: u8, secret: &[u8], challenge: &[u8], given: &[u8; 16]) -> bool {
    response(id, secret, challenge).ct_eq(given).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_values_computed_with_python_hashlib() {
        // python3 -c "import hashlib; print(hashlib.md5(bytes([7]) + b'secret' +
        //   bytes.fromhex('00112233445566778899aabbccddeeff')).hexdigest())"
        let ch = hex::decode("00112233445566778899aabbccddeeff").unwrap();
        assert_eq!(
            hex::encode(response(7, b"secret", &ch)),
            "15c1682eb7ac3daca85d727884af20a0"
        );
        // python3 -c "import hashlib; print(hashlib.md5(bytes([0x2a]) + b'clientPass' +
        //   b'0123456789abcdef').hexdigest())"
        let r = response(0x2a, b"clientPass", b"0123456789abcdef");
        assert_eq!(hex::encode(r), "3b23897526a863ef3c415306f663f239");
        assert!(verify(0x2a, b"clientPass", b"0123456789abcdef", &r));
        assert!(!verify(0x2b, b"clientPass", b"0123456789abcdef", &r));
    }
}
