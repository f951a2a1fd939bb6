//! The real provider: RustCrypto HMAC/hashes/AES/3DES-CBC, num-bigint MODP, p256/p384.

use aes::{Aes128, Aes192, Aes256};
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use des::TdesEde3;
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

fn cbc_enc<C>(key: &[u8], iv: &[u8], buf: &mut [u8]) -> Result<(), CryptoError>
where
    cbc::Encryptor<C>: KeyIvInit + BlockModeEncrypt,
    C: cbc::cipher::BlockCipherEncrypt,
{
    let e = cbc::Encryptor::<C>::new_from_slices(key, iv).map_err(|_| CryptoError::BadLength)?;
    let len = buf.len();
    e.encrypt_padded::<NoPadding>(buf, len)
        .map(|_| ())
        .map_err(|_| CryptoError::BadLength)
}

fn cbc_dec<C>(key: &[u8], iv: &[u8], buf: &mut [u8]) -> Result<(), CryptoError>
where
    cbc::Decryptor<C>: KeyIvInit + BlockModeDecrypt,
    C: cbc::cipher::BlockCipherDecrypt,
{
    let d = cbc::Decryptor::<C>::new_from_slices(key, iv).map_err(|_| CryptoError::BadLength)?;
    d.decrypt_padded::<NoPadding>(buf)
        .map(|_| ())
        .map_err(|_| CryptoError::BadLength)
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
        if !buf.len().is_multiple_of(cipher.block_len()) {
            return Err(CryptoError::BadLength);
        }
        match cipher {
            CipherAlg::TripleDes => cbc_enc::<TdesEde3>(key, iv, buf),
            CipherAlg::Aes128 => cbc_enc::<Aes128>(key, iv, buf),
            CipherAlg::Aes192 => cbc_enc::<Aes192>(key, iv, buf),
            CipherAlg::Aes256 => cbc_enc::<Aes256>(key, iv, buf),
        }
    }

    fn decrypt(
        &self,
        cipher: CipherAlg,
        key: &[u8],
        iv: &[u8],
        buf: &mut [u8],
    ) -> Result<(), CryptoError> {
        if !buf.len().is_multiple_of(cipher.block_len()) {
            return Err(CryptoError::BadLength);
        }
        match cipher {
            CipherAlg::TripleDes => cbc_dec::<TdesEde3>(key, iv, buf),
            CipherAlg::Aes128 => cbc_dec::<Aes128>(key, iv, buf),
            CipherAlg::Aes192 => cbc_dec::<Aes192>(key, iv, buf),
            CipherAlg::Aes256 => cbc_dec::<Aes256>(key, iv, buf),
        }
    }

    fn dh_generate(&self, group: DhGroup, rng: &mut dyn SecureRandom) -> Box<dyn DhPrivate> {
        super::dh::generate(group, rng)
    }
}
