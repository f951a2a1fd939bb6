//! The real provider: RustCrypto HMAC and hashes; AES-CBC and 3DES-CBC from
//! [`esp::CbcCipher`] (aws-lc-rs), the same implementation ESP encrypts with; MODP on
//! crypto-bigint (constant time) and ECP on p256/p384 ([`super::dh`]).

use esp::{CbcCipher, Encryption};
use hmac::{Hmac, KeyInit, Mac};
use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};
use wire::random::SecureRandom;

use super::{CipherAlg, CryptoError, CryptoProvider, DhGroup, DhPrivate, HashAlg, Secret};

/// The RustCrypto-backed provider.
#[derive(Debug, Clone, Copy, Default)]
pub struct RustCryptoProvider;

/// The provider the engine uses unless told otherwise.
pub static RUSTCRYPTO: RustCryptoProvider = RustCryptoProvider;

fn hmac<M: Mac + KeyInit>(key: &[u8], data: &[&[u8]]) -> Vec<u8> {
    // HMAC accepts keys of any length, so this cannot fail.
    let Ok(mut m) = <M as KeyInit>::new_from_slice(key) else {
        return Vec::new();
    };
    for d in data {
        m.update(d);
    }
    m.finalize().into_bytes().to_vec()
}

fn digest<D: Digest>(data: &[&[u8]]) -> Vec<u8> {
    let mut h = D::new();
    for d in data {
        h.update(d);
    }
    h.finalize().to_vec()
}

/// Keys the CBC cipher of Phase 1 for one message. A key the cipher refuses (a 3DES key
/// whose parts repeat or with a weak DES part: below 2⁻⁵⁰ for derived keys) is
/// [`CryptoError::KeyRejected`].
fn cbc(cipher: CipherAlg, key: &[u8], buf: &[u8]) -> Result<CbcCipher, CryptoError> {
    if !buf.len().is_multiple_of(cipher.block_len()) {
        return Err(CryptoError::BadLength);
    }
    let enc = match cipher {
        CipherAlg::TripleDes => Encryption::TripleDesCbc,
        CipherAlg::Aes128 => Encryption::AesCbc128,
        CipherAlg::Aes192 => Encryption::AesCbc192,
        CipherAlg::Aes256 => Encryption::AesCbc256,
    };
    CbcCipher::new(enc, key).map_err(|e| match e {
        esp::SuiteError::KeyRejected => CryptoError::KeyRejected,
        _ => CryptoError::BadLength,
    })
}

impl CryptoProvider for RustCryptoProvider {
    fn prf(&self, hash: HashAlg, key: &[u8], data: &[&[u8]]) -> Secret {
        Secret::new(match hash {
            HashAlg::Md5 => hmac::<Hmac<Md5>>(key, data),
            HashAlg::Sha1 => hmac::<Hmac<Sha1>>(key, data),
            HashAlg::Sha256 => hmac::<Hmac<Sha256>>(key, data),
            HashAlg::Sha384 => hmac::<Hmac<Sha384>>(key, data),
            HashAlg::Sha512 => hmac::<Hmac<Sha512>>(key, data),
        })
    }

    fn hash(&self, hash: HashAlg, data: &[&[u8]]) -> Vec<u8> {
        match hash {
            HashAlg::Md5 => digest::<Md5>(data),
            HashAlg::Sha1 => digest::<Sha1>(data),
            HashAlg::Sha256 => digest::<Sha256>(data),
            HashAlg::Sha384 => digest::<Sha384>(data),
            HashAlg::Sha512 => digest::<Sha512>(data),
        }
    }

    fn encrypt(
        &self,
        cipher: CipherAlg,
        key: &[u8],
        iv: &[u8],
        buf: &mut [u8],
    ) -> Result<(), CryptoError> {
        let done = cbc(cipher, key, buf)
            .and_then(|c| c.encrypt(iv, buf).map_err(|_| CryptoError::BadLength));
        if done.is_err() {
            // Never leave plaintext where a caller expects ciphertext.
            buf.fill(0);
        }
        done
    }

    fn decrypt(
        &self,
        cipher: CipherAlg,
        key: &[u8],
        iv: &[u8],
        buf: &mut [u8],
    ) -> Result<(), CryptoError> {
        cbc(cipher, key, buf)?
            .decrypt(iv, buf)
            .map_err(|_| CryptoError::BadLength)
    }

    fn dh_generate(&self, group: DhGroup, rng: &mut dyn SecureRandom) -> Box<dyn DhPrivate> {
        super::dh::generate(group, rng)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// NIST SP 800-38A F.2.1, F.2.3, F.2.5 (first two blocks) and the SP 800-67 3DES
    /// example, through the provider: each `CipherAlg` reaches the right cipher.
    #[test]
    fn cbc_known_answers_for_every_cipher() {
        let iv16 = hex::decode("000102030405060708090a0b0c0d0e0f").unwrap();
        let pt = hex::decode("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51")
            .unwrap();
        let cases = [
            (
                CipherAlg::Aes128,
                "2b7e151628aed2a6abf7158809cf4f3c",
                &iv16[..],
                &pt[..],
                "7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b2",
            ),
            (
                CipherAlg::Aes192,
                "8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b",
                &iv16[..],
                &pt[..],
                "4f021db243bc633d7178183a9fa071e8b4d9ada9ad7dedf4e5e738763f69145a",
            ),
            (
                CipherAlg::Aes256,
                "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4",
                &iv16[..],
                &pt[..],
                "f58c4c04d6e5f1ba779eabfb5f7bfbd69cfc4e967edb808d679f777bc6702c7d",
            ),
            (
                CipherAlg::TripleDes,
                "0123456789abcdef23456789abcdef01456789abcdef0123",
                &[0u8; 8][..],
                &b"The qufck brown fox jump"[..],
                "a826fd8ce53b855f854b649a0a3903c970d563820afe8b35",
            ),
        ];
        for (cipher, key, iv, plain, ct) in cases {
            let key = hex::decode(key).unwrap();
            let mut buf = plain.to_vec();
            RUSTCRYPTO.encrypt(cipher, &key, iv, &mut buf).unwrap();
            assert_eq!(hex::encode(&buf), ct, "{cipher:?}");
            RUSTCRYPTO.decrypt(cipher, &key, iv, &mut buf).unwrap();
            assert_eq!(buf, plain, "{cipher:?}");
        }
    }

    /// Errors, not panics: partial blocks, wrong IV and key lengths; a 3DES key the
    /// cipher refuses leaves no plaintext behind in the buffer.
    #[test]
    fn cbc_refusals() {
        let p = &RUSTCRYPTO;
        let mut buf = [7u8; 17];
        assert_eq!(
            p.encrypt(CipherAlg::Aes128, &[1; 16], &[0; 16], &mut buf),
            Err(CryptoError::BadLength)
        );
        let mut buf = [7u8; 16];
        assert_eq!(
            p.decrypt(CipherAlg::Aes128, &[1; 16], &[0; 8], &mut buf),
            Err(CryptoError::BadLength)
        );
        assert_eq!(
            p.decrypt(CipherAlg::Aes256, &[1; 16], &[0; 16], &mut buf),
            Err(CryptoError::BadLength)
        );
        let mut buf = [7u8; 16];
        assert_eq!(
            p.encrypt(CipherAlg::TripleDes, &[0x11; 24], &[0; 8], &mut buf),
            Err(CryptoError::KeyRejected)
        );
        assert_eq!(buf, [0; 16]);
    }
}
