//! AES-CBC and 3DES-CBC with their key schedules, on aws-lc-rs.
//!
//! This is the block mode the CBC suites of [`crate::OutboundSa`] and
//! [`crate::InboundSa`] encrypt with. It is public so that IKE Phase 1 uses the same
//! implementation: the binary carries one AES-CBC and one 3DES.

use core::fmt;

use crate::{Encryption, SuiteError};

/// A CBC block cipher keyed once: AES-128/192/256 (AWS-LC's AES-NI assembly) or 3DES
/// (its table-driven C, through the `legacy-des` feature). Both directions are keyed;
/// aws-lc-rs wipes the key schedules on drop.
///
/// ```
/// use esp::{CbcCipher, Encryption};
/// let cipher = CbcCipher::new(Encryption::AesCbc128, &[7; 16])?;
/// let mut data = *b"two AES blocks: thirty-two bytes";
/// cipher.encrypt(&[1; 16], &mut data)?;
/// cipher.decrypt(&[1; 16], &mut data)?;
/// assert_eq!(&data, b"two AES blocks: thirty-two bytes");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct CbcCipher {
    enc: Encryption,
    keys: Box<CbcKeys>,
}

struct CbcKeys {
    enc: aws_lc_rs::cipher::EncryptingKey,
    dec: aws_lc_rs::cipher::DecryptingKey,
}

impl fmt::Debug for CbcCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CbcCipher")
            .field("algorithm", &self.enc)
            .field("keys", &"[redacted]")
            .finish()
    }
}

/// A CBC operation could not run: the IV is not one block long, or the data is not a
/// whole number of blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LengthError;

impl fmt::Display for LengthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IV or data length is not a whole number of cipher blocks")
    }
}

impl std::error::Error for LengthError {}

macro_rules! cbc_context {
    ($context:ident, $iv:expr) => {{
        use aws_lc_rs::cipher::$context;
        use aws_lc_rs::iv::FixedLength;
        let iv: &[u8] = $iv;
        match iv.len() {
            16 => $context::Iv128(FixedLength::try_from(iv).map_err(|_| LengthError)?),
            8 => $context::Iv64(FixedLength::try_from(iv).map_err(|_| LengthError)?),
            _ => return Err(LengthError),
        }
    }};
}

impl CbcCipher {
    /// Keys `enc` with `key` (both directions' schedules, once).
    ///
    /// Refuses an AEAD transform ([`SuiteError::InvalidCombination`]: it is not a CBC
    /// cipher), a key of the wrong length ([`SuiteError::KeyLength`]) and a 3DES key that
    /// aws-lc-rs refuses ([`SuiteError::KeyRejected`]: its three parts are not all
    /// distinct, or one is a weak DES key).
    pub fn new(enc: Encryption, key: &[u8]) -> Result<Self, SuiteError> {
        use aws_lc_rs::cipher::{
            AES_128, AES_192, AES_256, DecryptingKey, EncryptingKey, UnboundCipherKey,
        };
        #[allow(
            deprecated,
            reason = "3DES is deprecated in aws-lc-rs; ESP and IKE still offer it for old \
                      clients when the configuration enables it"
        )]
        let alg = match enc {
            Encryption::AesCbc128 => &AES_128,
            Encryption::AesCbc192 => &AES_192,
            Encryption::AesCbc256 => &AES_256,
            Encryption::TripleDesCbc => &aws_lc_rs::cipher::DES_EDE3_FOR_LEGACY_USE_ONLY,
            Encryption::AesGcm16_128 | Encryption::AesGcm16_256 => {
                return Err(SuiteError::InvalidCombination);
            }
        };
        if key.len() != enc.key_len() {
            return Err(SuiteError::KeyLength {
                expected: enc.key_len(),
                got: key.len(),
            });
        }
        let rejected = |_| SuiteError::KeyRejected;
        Ok(Self {
            enc,
            keys: Box::new(CbcKeys {
                enc: EncryptingKey::cbc(UnboundCipherKey::new(alg, key).map_err(rejected)?)
                    .map_err(rejected)?,
                dec: DecryptingKey::cbc(UnboundCipherKey::new(alg, key).map_err(rejected)?)
                    .map_err(rejected)?,
            }),
        })
    }

    /// Encrypts `data` (a whole number of blocks) in place, chaining from `iv` (one
    /// block).
    pub fn encrypt(&self, iv: &[u8], data: &mut [u8]) -> Result<(), LengthError> {
        let context = cbc_context!(EncryptionContext, iv);
        self.keys
            .enc
            .less_safe_encrypt(data, context)
            .map(|_| ())
            .map_err(|_| LengthError)
    }

    /// Decrypts `data` (a whole number of blocks) in place, chaining from `iv` (one
    /// block).
    pub fn decrypt(&self, iv: &[u8], data: &mut [u8]) -> Result<(), LengthError> {
        let context = cbc_context!(DecryptionContext, iv);
        self.keys
            .dec
            .decrypt(data, context)
            .map(|_| ())
            .map_err(|_| LengthError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s.replace([' ', '\n'], "")).unwrap()
    }

    /// RFC 3602 §4, cases 1–4: AES-128-CBC, checked byte for byte.
    #[test]
    fn rfc3602_aes_cbc_cases_1_to_4() {
        let cases = [
            (
                "06a9214036b8a15b512e03d534120006",
                "3dafba429d9eb430b422da802c9fac41",
                hex::encode("Single block msg"),
                "e353779c1079aeb82708942dbe77181a",
            ),
            (
                "c286696d887c9aa0611bbb3e2025a45a",
                "562e17996d093d28ddb3ba695a2e6f58",
                "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f".to_string(),
                "d296cd94c2cccf8a3a863028b5e1dc0a7586602d253cfff91b8266bea6d61ab1",
            ),
            (
                "6c3ea0477630ce21a2ce334aa746c2cd",
                "c782dc4c098c66cbd9cd27d825682c81",
                hex::encode("This is a 48-byte message (exactly 3 AES blocks)"),
                "d0a02b3836451753d493665d33f0e8862dea54cdb293abc7506939276772f8d5\
                 021c19216bad525c8579695d83ba2684",
            ),
            (
                "56e47a38c5598974bc46903dba290349",
                "8ce82eefbea0da3c44699ed7db51b7d9",
                "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf\
                 c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
                    .to_string(),
                "c30e32ffedc0774e6aff6af0869f71aa0f3af07a9a31a9c684db207eb0ef8e4e\
                 35907aa632c3ffdf868bb7b29d3d46ad83ce9f9a102ee99d49a53e87f4c3da55",
            ),
        ];
        for (i, (key, iv, pt, ct)) in cases.iter().enumerate() {
            let c = CbcCipher::new(Encryption::AesCbc128, &h(key)).unwrap();
            let mut buf = h(pt);
            c.encrypt(&h(iv), &mut buf).unwrap();
            assert_eq!(hex::encode(&buf), ct.replace(' ', ""), "case {}", i + 1);
            c.decrypt(&h(iv), &mut buf).unwrap();
            assert_eq!(buf, h(pt), "case {} decrypt", i + 1);
        }
    }

    /// 3DES-CBC: the SP 800-67 example key and plaintext ("The qufck brown fox jump"),
    /// zero IV, ciphertext as OpenSSL's des-ede3-cbc computes it.
    #[test]
    fn triple_des_cbc_vector() {
        let key = h("0123456789abcdef23456789abcdef01456789abcdef0123");
        let c = CbcCipher::new(Encryption::TripleDesCbc, &key).unwrap();
        let mut buf = b"The qufck brown fox jump".to_vec();
        c.encrypt(&[0; 8], &mut buf).unwrap();
        assert_eq!(
            hex::encode(&buf),
            "a826fd8ce53b855f854b649a0a3903c970d563820afe8b35"
        );
        c.decrypt(&[0; 8], &mut buf).unwrap();
        assert_eq!(&buf, b"The qufck brown fox jump");
        assert_eq!(c.encrypt(&[0; 8], &mut [0u8; 12]), Err(LengthError));
    }

    /// Wrong lengths are errors, never panics: IV of the other cipher's block, data not a
    /// whole number of blocks, keys of the wrong size, and GCM (not a CBC cipher).
    #[test]
    fn wrong_lengths_and_transforms_are_refused() {
        let aes = CbcCipher::new(Encryption::AesCbc256, &[3; 32]).unwrap();
        assert_eq!(aes.encrypt(&[0; 8], &mut [0u8; 16]), Err(LengthError));
        assert_eq!(aes.decrypt(&[0; 15], &mut [0u8; 16]), Err(LengthError));
        assert_eq!(aes.decrypt(&[0; 16], &mut [0u8; 17]), Err(LengthError));
        let tdes = CbcCipher::new(Encryption::TripleDesCbc, &h(TDES_KEY)).unwrap();
        assert_eq!(tdes.encrypt(&[0; 16], &mut [0u8; 16]), Err(LengthError));
        assert_eq!(
            CbcCipher::new(Encryption::AesCbc192, &[3; 16]).err(),
            Some(SuiteError::KeyLength {
                expected: 24,
                got: 16
            })
        );
        assert_eq!(
            CbcCipher::new(Encryption::AesGcm16_128, &[3; 16]).err(),
            Some(SuiteError::InvalidCombination)
        );
        // 3DES whose parts repeat is single DES: refused.
        assert_eq!(
            CbcCipher::new(Encryption::TripleDesCbc, &[0x11; 24]).err(),
            Some(SuiteError::KeyRejected)
        );
    }

    const TDES_KEY: &str = "0123456789abcdef23456789abcdef01456789abcdef0123";
}
