//! Fuzzing support: a crypto provider with NO SECURITY, so a fuzzer can build messages
//! that pass every hash and decrypt to what it chose.

use wire::random::SecureRandom;

use crate::crypto::{CipherAlg, CryptoError, CryptoProvider, DhGroup, DhPrivate, HashAlg, Secret};

/// Provides NO SECURITY: PRF and hash are a fixed function of the input length, ciphers
/// are the identity, Diffie-Hellman agrees on zeros. For fuzzing only.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSecurityProvider;

/// The no-security provider.
pub static PROVIDER: NoSecurityProvider = NoSecurityProvider;

struct FakeDh {
    public: Vec<u8>,
}

impl DhPrivate for FakeDh {
    fn public(&self) -> &[u8] {
        &self.public
    }

    fn agree(&self, peer: &[u8]) -> Result<Secret, CryptoError> {
        if peer.len() != self.public.len() {
            return Err(CryptoError::InvalidPublicValue);
        }
        Ok(Secret::new(vec![0; peer.len()]))
    }
}

impl CryptoProvider for NoSecurityProvider {
    fn prf(&self, hash: HashAlg, _key: &[u8], _data: &[&[u8]]) -> Secret {
        Secret::new(vec![0x5a; hash.output_len()])
    }

    fn hash(&self, hash: HashAlg, _data: &[&[u8]]) -> Vec<u8> {
        vec![0xa5; hash.output_len()]
    }

    fn encrypt(
        &self,
        cipher: CipherAlg,
        _key: &[u8],
        _iv: &[u8],
        buf: &mut [u8],
    ) -> Result<(), CryptoError> {
        if buf.len().is_multiple_of(cipher.block_len()) {
            Ok(())
        } else {
            Err(CryptoError::BadLength)
        }
    }

    fn decrypt(
        &self,
        cipher: CipherAlg,
        _key: &[u8],
        _iv: &[u8],
        buf: &mut [u8],
    ) -> Result<(), CryptoError> {
        if buf.len().is_multiple_of(cipher.block_len()) {
            Ok(())
        } else {
            Err(CryptoError::BadLength)
        }
    }

    /// Only the length, as `FakeDh::agree` checks: the fuzzer's values need not be
    /// points on a curve.
    fn dh_check(&self, group: DhGroup, peer: &[u8]) -> Result<(), CryptoError> {
        if peer.len() == group.public_len() {
            Ok(())
        } else {
            Err(CryptoError::InvalidPublicValue)
        }
    }

    fn dh_generate(&self, group: DhGroup, _rng: &mut dyn SecureRandom) -> Box<dyn DhPrivate> {
        Box::new(FakeDh {
            public: vec![1; group.public_len()],
        })
    }
}
