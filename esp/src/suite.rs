use core::fmt;

use zeroize::Zeroizing;

/// A Security Parameter Index.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Spi(pub u32);

impl fmt::Debug for Spi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Spi({:#010x})", self.0)
    }
}

impl fmt::Display for Spi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#010x}", self.0)
    }
}

/// ESP encryption transforms. NULL encryption is deliberately absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encryption {
    /// AES-CBC with a 128-bit key (RFC 3602).
    AesCbc128,
    /// AES-CBC with a 192-bit key (RFC 3602).
    AesCbc192,
    /// AES-CBC with a 256-bit key (RFC 3602).
    AesCbc256,
    /// 3DES-CBC (RFC 2451), legacy.
    TripleDesCbc,
    /// AES-GCM with a 16-byte ICV and a 128-bit key (RFC 4106).
    AesGcm16_128,
    /// AES-GCM with a 16-byte ICV and a 256-bit key (RFC 4106).
    AesGcm16_256,
}

impl Encryption {
    /// Length of the cipher key in bytes (without the GCM salt).
    pub const fn key_len(self) -> usize {
        match self {
            Self::AesCbc128 | Self::AesGcm16_128 => 16,
            Self::AesCbc192 | Self::TripleDesCbc => 24,
            Self::AesCbc256 | Self::AesGcm16_256 => 32,
        }
    }

    /// Length of the salt taken from the key material after the key (RFC 4106 §8.1).
    pub const fn salt_len(self) -> usize {
        if self.is_aead() { 4 } else { 0 }
    }

    /// True for combined-mode (AEAD) transforms, which take no separate integrity.
    pub const fn is_aead(self) -> bool {
        matches!(self, Self::AesGcm16_128 | Self::AesGcm16_256)
    }

    /// Bytes of IV carried in each packet.
    pub const fn iv_len(self) -> usize {
        match self {
            Self::TripleDesCbc | Self::AesGcm16_128 | Self::AesGcm16_256 => 8,
            Self::AesCbc128 | Self::AesCbc192 | Self::AesCbc256 => 16,
        }
    }

    /// The block size the payload is padded to (4 for GCM: ESP's own alignment).
    pub const fn block_len(self) -> usize {
        match self {
            Self::TripleDesCbc => 8,
            Self::AesCbc128 | Self::AesCbc192 | Self::AesCbc256 => 16,
            Self::AesGcm16_128 | Self::AesGcm16_256 => 4,
        }
    }
}

/// ESP integrity transforms (truncated HMACs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Integrity {
    /// None: only valid with an AEAD encryption transform.
    None,
    /// HMAC-MD5-96 (RFC 2403), legacy: only when explicitly enabled.
    HmacMd5_96,
    /// HMAC-SHA1-96 (RFC 2404).
    HmacSha1_96,
    /// HMAC-SHA2-256-128 (RFC 4868).
    HmacSha256_128,
    /// HMAC-SHA2-384-192 (RFC 4868).
    HmacSha384_192,
    /// HMAC-SHA2-512-256 (RFC 4868).
    HmacSha512_256,
}

impl Integrity {
    /// Length of the HMAC key in bytes.
    pub const fn key_len(self) -> usize {
        match self {
            Self::None => 0,
            Self::HmacMd5_96 => 16,
            Self::HmacSha1_96 => 20,
            Self::HmacSha256_128 => 32,
            Self::HmacSha384_192 => 48,
            Self::HmacSha512_256 => 64,
        }
    }

    /// Length of the (truncated) ICV in bytes.
    pub const fn icv_len(self) -> usize {
        match self {
            Self::None => 0,
            Self::HmacMd5_96 | Self::HmacSha1_96 => 12,
            Self::HmacSha256_128 => 16,
            Self::HmacSha384_192 => 24,
            Self::HmacSha512_256 => 32,
        }
    }
}

/// A valid combination of encryption and integrity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Suite {
    encryption: Encryption,
    integrity: Integrity,
}

/// An invalid suite or key material.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SuiteError {
    /// AEAD with a separate integrity transform, or a CBC cipher without one.
    InvalidCombination,
    /// Key material of the wrong length.
    KeyLength {
        /// Bytes expected ([`Suite::keymat_len`]).
        expected: usize,
        /// Bytes given.
        got: usize,
    },
    /// Key material of the right length that the cipher library refuses: a 3DES key
    /// whose three 8-byte parts are not all distinct (then it is single DES).
    KeyRejected,
}

impl fmt::Display for SuiteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidCombination => {
                f.write_str("invalid ESP suite: AEAD needs no integrity, CBC needs one")
            }
            Self::KeyLength { expected, got } => {
                write!(f, "ESP key material: expected {expected} bytes, got {got}")
            }
            Self::KeyRejected => {
                f.write_str("ESP key material refused by the cipher (3DES with repeated parts)")
            }
        }
    }
}

impl std::error::Error for SuiteError {}

impl Suite {
    /// A suite, if the combination is valid (AEAD ⇔ no integrity).
    pub const fn new(encryption: Encryption, integrity: Integrity) -> Result<Self, SuiteError> {
        let aead = encryption.is_aead();
        let none = matches!(integrity, Integrity::None);
        if aead != none {
            return Err(SuiteError::InvalidCombination);
        }
        Ok(Self {
            encryption,
            integrity,
        })
    }

    /// The encryption transform.
    pub const fn encryption(&self) -> Encryption {
        self.encryption
    }

    /// The integrity transform ([`Integrity::None`] for AEAD).
    pub const fn integrity(&self) -> Integrity {
        self.integrity
    }

    /// Bytes of key material one direction needs: cipher key, then salt (AEAD), then
    /// integrity key — the order in which IKEv1 KEYMAT is consumed (RFC 2409 §5.5,
    /// RFC 4106 §8.1).
    pub const fn keymat_len(&self) -> usize {
        self.encryption.key_len() + self.encryption.salt_len() + self.integrity.key_len()
    }

    /// Length of the ICV appended to each packet.
    pub const fn icv_len(&self) -> usize {
        if self.encryption.is_aead() {
            16
        } else {
            self.integrity.icv_len()
        }
    }

    /// Bytes [`crate::OutboundSa::seal`] prepends: SPI, sequence number and IV. The
    /// caller's buffer needs at least this much headroom.
    pub const fn header_len(&self) -> usize {
        ESP_HEADER_LEN + self.encryption.iv_len()
    }

    /// Bytes [`crate::OutboundSa::seal`] appends to a payload of `payload_len` bytes:
    /// padding, pad length, next header and ICV.
    pub const fn trailer_len(&self, payload_len: usize) -> usize {
        let block = self.encryption.block_len();
        let pad = (block - (payload_len + 2) % block) % block;
        pad + 2 + self.icv_len()
    }

    /// The most [`Self::trailer_len`] can be for any payload: size tailroom with this.
    pub const fn max_trailer_len(&self) -> usize {
        self.encryption.block_len() - 1 + 2 + self.icv_len()
    }

    /// Length of the ESP packet that sealing `payload_len` bytes produces.
    pub const fn sealed_len(&self, payload_len: usize) -> usize {
        self.header_len() + payload_len + self.trailer_len(payload_len)
    }

    /// The smallest ESP packet this suite can produce (an empty payload).
    pub const fn min_packet_len(&self) -> usize {
        self.sealed_len(0)
    }

    /// Every suite this crate implements, CBC suites first (AES-128/192/256, 3DES, each
    /// with SHA-1, SHA-256, SHA-384, SHA-512, MD5), then AES-GCM-16 128 and 256.
    pub const ALL: [Self; 22] = {
        const ENC: [Encryption; 4] = [
            Encryption::AesCbc128,
            Encryption::AesCbc192,
            Encryption::AesCbc256,
            Encryption::TripleDesCbc,
        ];
        const INTEG: [Integrity; 5] = [
            Integrity::HmacSha1_96,
            Integrity::HmacSha256_128,
            Integrity::HmacSha384_192,
            Integrity::HmacSha512_256,
            Integrity::HmacMd5_96,
        ];
        let mut all = [Self {
            encryption: Encryption::AesGcm16_128,
            integrity: Integrity::None,
        }; 22];
        let mut i = 0;
        while i < 20 {
            all[i] = Self {
                encryption: ENC[i / 5],
                integrity: INTEG[i % 5],
            };
            i += 1;
        }
        all[21] = Self {
            encryption: Encryption::AesGcm16_256,
            integrity: Integrity::None,
        };
        all
    };
}

/// Length of the ESP header: SPI and sequence number.
pub const ESP_HEADER_LEN: usize = 8;

/// The largest [`Suite::header_len`] of any suite (AES-CBC: 8 + 16).
pub const MAX_HEADER_LEN: usize = 24;

/// The largest [`Suite::max_trailer_len`] of any suite (AES-CBC with HMAC-SHA2-512-256:
/// 15 padding + 2 + 32 ICV). Buffers with [`MAX_HEADER_LEN`] headroom and this much
/// tailroom fit every suite.
pub const MAX_TRAILER_LEN: usize = 49;

/// ESP mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Transport mode: the payload is an upper-layer segment (UDP 1701 for L2TP).
    Transport,
    /// Tunnel mode: the payload is an inner IP packet.
    Tunnel,
}

/// Everything needed to create one direction of an ESP SA.
#[derive(Clone)]
pub struct SaParams {
    /// The SPI (chosen by the receiving side).
    pub spi: Spi,
    /// The negotiated suite.
    pub suite: Suite,
    /// Transport or tunnel.
    pub mode: Mode,
    /// Traffic limits negotiated for the SA (RFC 2407 kilobytes); none by default.
    pub lifetime: crate::Lifetime,
    keymat: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for SaParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaParams")
            .field("spi", &self.spi)
            .field("suite", &self.suite)
            .field("mode", &self.mode)
            .field("lifetime", &self.lifetime)
            .field("keymat", &"[redacted]")
            .finish()
    }
}

impl SaParams {
    /// Builds parameters from one direction's key material, laid out as
    /// [`Suite::keymat_len`] describes. The material is copied into zeroizing storage.
    pub fn from_keymat(
        spi: Spi,
        suite: Suite,
        mode: Mode,
        keymat: &[u8],
    ) -> Result<Self, SuiteError> {
        let expected = suite.keymat_len();
        if keymat.len() != expected {
            return Err(SuiteError::KeyLength {
                expected,
                got: keymat.len(),
            });
        }
        Ok(Self {
            spi,
            suite,
            mode,
            lifetime: crate::Lifetime::default(),
            keymat: Zeroizing::new(keymat.to_vec()),
        })
    }

    /// The same parameters with the negotiated traffic limits `lifetime`.
    pub fn with_lifetime(mut self, lifetime: crate::Lifetime) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// The cipher key.
    pub fn enc_key(&self) -> &[u8] {
        self.keymat
            .get(..self.suite.encryption.key_len())
            .unwrap_or_default()
    }

    /// The AEAD salt (empty for CBC suites).
    pub fn salt(&self) -> &[u8] {
        let k = self.suite.encryption.key_len();
        self.keymat
            .get(k..k + self.suite.encryption.salt_len())
            .unwrap_or_default()
    }

    /// The integrity key (empty for AEAD suites).
    pub fn auth_key(&self) -> &[u8] {
        let k = self.suite.encryption.key_len() + self.suite.encryption.salt_len();
        self.keymat.get(k..).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keymat_is_split_key_salt_auth() {
        let suite = Suite::new(Encryption::AesCbc128, Integrity::HmacSha1_96).unwrap();
        assert_eq!(suite.keymat_len(), 36);
        let km: Vec<u8> = (0..36).collect();
        let p = SaParams::from_keymat(Spi(1), suite, Mode::Transport, &km).unwrap();
        assert_eq!(p.enc_key(), &km[..16]);
        assert!(p.salt().is_empty());
        assert_eq!(p.auth_key(), &km[16..]);

        let gcm = Suite::new(Encryption::AesGcm16_256, Integrity::None).unwrap();
        assert_eq!(gcm.keymat_len(), 36);
        let p = SaParams::from_keymat(Spi(2), gcm, Mode::Transport, &km).unwrap();
        assert_eq!(p.enc_key(), &km[..32]);
        assert_eq!(p.salt(), &km[32..]);
        assert!(p.auth_key().is_empty());
        assert_eq!(gcm.icv_len(), 16);
        assert!(!format!("{p:?}").contains("31"), "no key bytes in Debug");
    }

    #[test]
    fn overheads_follow_rfc_4303_padding() {
        let s = Suite::new(Encryption::AesCbc128, Integrity::HmacSha1_96).unwrap();
        assert_eq!(s.header_len(), 24);
        // 1400 + 2 = 1402 -> 1408: 6 bytes of padding.
        assert_eq!(s.trailer_len(1400), 6 + 2 + 12);
        assert_eq!(s.sealed_len(1400), 24 + 1400 + 20);
        assert_eq!(s.trailer_len(14), 2 + 12);
        let g = Suite::new(Encryption::AesGcm16_128, Integrity::None).unwrap();
        assert_eq!(g.header_len(), 16);
        assert_eq!(g.trailer_len(1400), 2 + 2 + 16);
        let d = Suite::new(Encryption::TripleDesCbc, Integrity::HmacMd5_96).unwrap();
        assert_eq!(d.header_len(), 16);
        assert_eq!(d.trailer_len(6), 2 + 12);
        for s in Suite::ALL {
            assert!(Suite::new(s.encryption(), s.integrity()).is_ok(), "{s:?}");
            assert!(s.header_len() <= MAX_HEADER_LEN);
            assert!(s.max_trailer_len() <= MAX_TRAILER_LEN);
            for len in 0..64 {
                assert!(s.trailer_len(len) <= s.max_trailer_len());
                let enc = s.sealed_len(len) - s.header_len() - s.icv_len();
                assert_eq!(enc % s.encryption().block_len(), 0);
            }
        }
        let distinct: std::collections::HashSet<_> = Suite::ALL.iter().collect();
        assert_eq!(distinct.len(), 22);
    }

    #[test]
    fn invalid_suites_and_lengths_are_refused() {
        assert_eq!(
            Suite::new(Encryption::AesGcm16_128, Integrity::HmacSha1_96),
            Err(SuiteError::InvalidCombination)
        );
        assert_eq!(
            Suite::new(Encryption::AesCbc256, Integrity::None),
            Err(SuiteError::InvalidCombination)
        );
        let s = Suite::new(Encryption::TripleDesCbc, Integrity::HmacSha256_128).unwrap();
        assert_eq!(
            SaParams::from_keymat(Spi(1), s, Mode::Tunnel, &[0; 10]).unwrap_err(),
            SuiteError::KeyLength {
                expected: 56,
                got: 10
            }
        );
    }
}
