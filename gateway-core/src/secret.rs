//! Secrets that are zeroized on drop, never printed, and compared in constant time.

use core::fmt;

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// A secret string (a PSK or a password). `Debug` and `Display` print `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wraps `s`.
    pub fn new(s: impl Into<String>) -> Self {
        Self(Zeroizing::new(s.into()))
    }

    /// The secret's bytes, for the engines that need them (PSK, CHAP).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Constant-time comparison with `other`. The length is not hidden.
    pub fn ct_eq(&self, other: &[u8]) -> bool {
        self.0.as_bytes().ct_eq(other).into()
    }

    /// A random secret of `len` characters from an unambiguous alphabet (no 0/O, 1/l/I),
    /// for the generated PSK and password printed at start.
    pub fn generate(rng: &mut dyn wire::random::SecureRandom, len: usize) -> Self {
        const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
        let mut s = String::with_capacity(len);
        let n = ALPHABET.len() as u32;
        // Rejection sampling keeps the distribution uniform.
        let limit = u32::MAX - u32::MAX % n;
        while s.len() < len {
            let v = rng.next_u32();
            if v >= limit {
                continue;
            }
            if let Some(&c) = ALPHABET.get((v % n) as usize) {
                s.push(char::from(c));
            }
        }
        Self::new(s)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Zeroizing::new(String::deserialize(d)?);
        Ok(Self::new(s.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_printed_and_compared_by_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "[redacted]");
        assert!(s.ct_eq(b"hunter2"));
        assert!(!s.ct_eq(b"hunter3"));
        assert!(!s.ct_eq(b"hunter"));
    }

    #[test]
    fn generated_secrets_use_the_alphabet_and_differ() {
        let mut rng = wire::random::DeterministicRandom::new(7);
        let a = Secret::generate(&mut rng, 20);
        let b = Secret::generate(&mut rng, 20);
        assert_eq!(a.expose().len(), 20);
        assert_ne!(a, b);
        assert!(
            a.expose()
                .chars()
                .all(|c| c.is_ascii_alphanumeric() && !"0O1lI".contains(c))
        );
    }
}
