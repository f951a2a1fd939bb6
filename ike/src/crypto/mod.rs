//! Cryptography of IKEv1, behind a small provider so a no-security provider can replace
//! it for fuzzing ([`crate::fuzzing`]).
//!
//! * [`CryptoProvider`]: PRF (HMAC), hash, CBC encryption, Diffie-Hellman.
//! * [`RustCryptoProvider`]: the real one: RustCrypto HMAC and hashes, the AES-CBC and
//!   3DES of the `esp` crate (aws-lc-rs), constant-time crypto-bigint MODP, p256/p384 ECP.
//! * [`keys`]: RFC 2409 key derivation (SKEYID, SKEYID_d/a/e, key expansion, IVs,
//!   KEYMAT) written against the provider.

pub mod dh;
pub mod keys;
mod modp;
mod rustcrypto;

use core::fmt;

use wire::random::SecureRandom;
use zeroize::Zeroizing;

pub use dh::DhGroup;
pub use rustcrypto::{RUSTCRYPTO, RustCryptoProvider};

/// Secret bytes: zeroized on drop, redacted in Debug.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<Vec<u8>>);

impl Secret {
    /// Wraps bytes.
    pub fn new(v: Vec<u8>) -> Self {
        Self(Zeroizing::new(v))
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Hash algorithms: the PRF is HMAC over the negotiated hash (IKEv1 defines no other PRF).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum HashAlg {
    /// MD5 (legacy).
    Md5,
    /// SHA-1.
    Sha1,
    /// SHA2-256.
    Sha256,
    /// SHA2-384.
    Sha384,
    /// SHA2-512.
    Sha512,
}

impl HashAlg {
    /// Output length in bytes.
    pub const fn output_len(self) -> usize {
        match self {
            Self::Md5 => 16,
            Self::Sha1 => 20,
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }
}

/// Phase-1 ciphers (CBC mode).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum CipherAlg {
    /// 3DES-CBC (legacy).
    TripleDes,
    /// AES-128-CBC.
    Aes128,
    /// AES-192-CBC.
    Aes192,
    /// AES-256-CBC.
    Aes256,
}

impl CipherAlg {
    /// Key length in bytes.
    pub const fn key_len(self) -> usize {
        match self {
            Self::Aes128 => 16,
            Self::Aes192 | Self::TripleDes => 24,
            Self::Aes256 => 32,
        }
    }

    /// Block length in bytes.
    pub const fn block_len(self) -> usize {
        match self {
            Self::TripleDes => 8,
            _ => 16,
        }
    }
}

/// A cryptographic operation failed on peer-supplied input.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum CryptoError {
    /// The peer's public value is out of range or not on the curve.
    InvalidPublicValue,
    /// Key, IV or data of the wrong length.
    BadLength,
    /// The cipher refused a key of the right length (3DES whose parts repeat, or with a
    /// weak DES part).
    KeyRejected,
}

impl fmt::Display for CryptoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidPublicValue => f.write_str("invalid Diffie-Hellman public value"),
            Self::BadLength => f.write_str("bad key, IV or data length"),
            Self::KeyRejected => f.write_str("key refused by the cipher (weak 3DES key)"),
        }
    }
}

impl std::error::Error for CryptoError {}

/// A Diffie-Hellman private value, used once.
pub trait DhPrivate: Send {
    /// Our public value, in the wire encoding of the group (MODP: padded to the prime's
    /// length; ECP: x ‖ y).
    fn public(&self) -> &[u8];

    /// The shared secret g^xy from the peer's public value (validated).
    fn agree(&self, peer: &[u8]) -> Result<Secret, CryptoError>;
}

/// The primitives IKEv1 needs. Implementations must be deterministic given the
/// randomness they are handed.
pub trait CryptoProvider: Send + Sync + fmt::Debug {
    /// HMAC with `hash` over the concatenation of `data`.
    fn prf(&self, hash: HashAlg, key: &[u8], data: &[&[u8]]) -> Secret;

    /// The plain hash over the concatenation of `data`.
    fn hash(&self, hash: HashAlg, data: &[&[u8]]) -> Vec<u8>;

    /// CBC-encrypts `buf` in place (its length a multiple of the block length).
    fn encrypt(
        &self,
        cipher: CipherAlg,
        key: &[u8],
        iv: &[u8],
        buf: &mut [u8],
    ) -> Result<(), CryptoError>;

    /// CBC-decrypts `buf` in place (its length a multiple of the block length).
    fn decrypt(
        &self,
        cipher: CipherAlg,
        key: &[u8],
        iv: &[u8],
        buf: &mut [u8],
    ) -> Result<(), CryptoError>;

    /// A fresh private value and its public value in `group`.
    fn dh_generate(&self, group: DhGroup, rng: &mut dyn SecureRandom) -> Box<dyn DhPrivate>;

    /// Checks a peer's public value in `group` cheaply, before any private value is
    /// generated for it ([`dh::validate_public`] by default).
    fn dh_check(&self, group: DhGroup, peer: &[u8]) -> Result<(), CryptoError> {
        dh::validate_public(group, peer)
    }
}
