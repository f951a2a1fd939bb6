//! Diffie-Hellman groups of IKEv1: MODP 2, 5, 14, 15, 16 (crypto-bigint, constant time)
//! and ECP 19, 20 (RFC 5903, p256/p384). Peer values are validated: MODP 1 < y < p-1 at
//! the prime's length, ECP a point on the curve in the x ‖ y encoding.
//! [`validate_public`] does that check alone, cheaply, so the engine can refuse a bad
//! value before it generates its own (a MODP-4096 private value costs milliseconds; the
//! check, microseconds).

use std::sync::LazyLock;

use crypto_bigint::modular::{BoxedMontyForm, BoxedMontyParams};
use crypto_bigint::{BoxedUint, Odd, U1024, U1536, U2048, U3072, U4096};
use p256::elliptic_curve::sec1::ToSec1Point;
use wire::random::SecureRandom;
use zeroize::{Zeroize, Zeroizing};

use super::{CryptoError, DhPrivate, Secret, modp};
use crate::msgs::DhGroupId;

/// A supported Diffie-Hellman group.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum DhGroup {
    /// Group 2, 1024-bit MODP (legacy).
    Modp1024,
    /// Group 5, 1536-bit MODP (legacy).
    Modp1536,
    /// Group 14, 2048-bit MODP.
    Modp2048,
    /// Group 15, 3072-bit MODP.
    Modp3072,
    /// Group 16, 4096-bit MODP.
    Modp4096,
    /// Group 19, NIST P-256.
    Ecp256,
    /// Group 20, NIST P-384.
    Ecp384,
}

impl DhGroup {
    /// Every supported group.
    pub const ALL: [Self; 7] = [
        Self::Modp1024,
        Self::Modp1536,
        Self::Modp2048,
        Self::Modp3072,
        Self::Modp4096,
        Self::Ecp256,
        Self::Ecp384,
    ];

    /// The group for a wire ID, if supported.
    pub fn from_id(id: DhGroupId) -> Option<Self> {
        Some(match id {
            DhGroupId::Modp1024 => Self::Modp1024,
            DhGroupId::Modp1536 => Self::Modp1536,
            DhGroupId::Modp2048 => Self::Modp2048,
            DhGroupId::Modp3072 => Self::Modp3072,
            DhGroupId::Modp4096 => Self::Modp4096,
            DhGroupId::Ecp256 => Self::Ecp256,
            DhGroupId::Ecp384 => Self::Ecp384,
            _ => return None,
        })
    }

    /// The wire ID.
    pub fn id(self) -> DhGroupId {
        match self {
            Self::Modp1024 => DhGroupId::Modp1024,
            Self::Modp1536 => DhGroupId::Modp1536,
            Self::Modp2048 => DhGroupId::Modp2048,
            Self::Modp3072 => DhGroupId::Modp3072,
            Self::Modp4096 => DhGroupId::Modp4096,
            Self::Ecp256 => DhGroupId::Ecp256,
            Self::Ecp384 => DhGroupId::Ecp384,
        }
    }

    /// Length of a public value on the wire (the KE payload body).
    pub const fn public_len(self) -> usize {
        match self {
            Self::Modp1024 => 128,
            Self::Modp1536 => 192,
            Self::Modp2048 => 256,
            Self::Modp3072 => 384,
            Self::Modp4096 => 512,
            Self::Ecp256 => 64,
            Self::Ecp384 => 96,
        }
    }

    /// What one operation in this group (generating a private value and its public
    /// value, or computing a shared secret) costs in the units of
    /// [`crate::Limits::expensive_ops_per_second`], about 0.1 ms of CPU each; measured
    /// relative to each other with this module's implementations.
    pub const fn cost(self) -> u32 {
        match self {
            Self::Ecp256 => 1,
            Self::Modp1024 => 2,
            Self::Ecp384 => 3,
            Self::Modp1536 => 4,
            Self::Modp2048 => 6,
            Self::Modp3072 => 13,
            Self::Modp4096 => 25,
        }
    }

    /// True for the groups that are off unless `legacy` is on.
    pub const fn is_legacy(self) -> bool {
        matches!(self, Self::Modp1024 | Self::Modp1536)
    }

    /// The MODP prime, for MODP groups: big-endian, [`Self::public_len`] bytes.
    pub fn prime(self) -> Option<Vec<u8>> {
        Some(modp_params(self)?.modulus().as_ref().to_be_bytes().to_vec())
    }
}

/// Checks a peer's public value in `group` without any exponentiation or scalar
/// multiplication: the length of the group's encoding, then for MODP 1 < y < p-1 (a
/// comparison of big-endian bytes with the prime's hex digits, nothing allocated), for
/// ECP a point on the curve (x ‖ y, both coordinates below the field's prime).
pub fn validate_public(group: DhGroup, peer: &[u8]) -> Result<(), CryptoError> {
    if peer.len() != group.public_len() {
        return Err(CryptoError::InvalidPublicValue);
    }
    let ok = match group {
        DhGroup::Ecp256 | DhGroup::Ecp384 => on_curve(group, peer),
        DhGroup::Modp1024 => modp_in_range(modp::MODP_1024, peer),
        DhGroup::Modp1536 => modp_in_range(modp::MODP_1536, peer),
        DhGroup::Modp2048 => modp_in_range(modp::MODP_2048, peer),
        DhGroup::Modp3072 => modp_in_range(modp::MODP_3072, peer),
        DhGroup::Modp4096 => modp_in_range(modp::MODP_4096, peer),
    };
    if ok {
        Ok(())
    } else {
        Err(CryptoError::InvalidPublicValue)
    }
}

/// The SEC1 uncompressed encoding (0x04 ‖ x ‖ y) of a peer's ECP value, on the stack.
fn sec1<const N: usize>(peer: &[u8]) -> Option<[u8; N]> {
    let mut out = [0u8; N];
    let (tag, rest) = out.split_first_mut()?;
    if rest.len() != peer.len() {
        return None;
    }
    *tag = 4;
    rest.copy_from_slice(peer);
    Some(out)
}

/// True when the point x ‖ y (uncompressed, without the 0x04 tag) is on the curve.
fn on_curve(group: DhGroup, peer: &[u8]) -> bool {
    match group {
        DhGroup::Ecp256 => {
            sec1::<65>(peer).is_some_and(|b| p256::PublicKey::from_sec1_bytes(&b).is_ok())
        }
        DhGroup::Ecp384 => {
            sec1::<97>(peer).is_some_and(|b| p384::PublicKey::from_sec1_bytes(&b).is_ok())
        }
        _ => false,
    }
}

/// True when 1 < y < p - 1 for the big-endian `y` of the prime's length and the prime
/// `p_hex` (big-endian hex). Every MODP prime of IKE ends in 64 one bits, so p - 1 is p
/// with its last byte 0xfe: comparing y with p - 1 is comparing bytes.
fn modp_in_range(p_hex: &str, y: &[u8]) -> bool {
    let digit = |c: u8| match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => 0,
    };
    let hex = p_hex.as_bytes();
    if hex.len() != 2 * y.len() {
        return false;
    }
    let last = y.len() - 1;
    let mut below = core::cmp::Ordering::Equal;
    for (i, (&b, pair)) in y.iter().zip(hex.chunks_exact(2)).enumerate() {
        let mut p_minus_1 = (digit(pair[0]) << 4) | digit(pair[1]);
        if i == last {
            p_minus_1 &= 0xfe;
        }
        if below == core::cmp::Ordering::Equal {
            below = b.cmp(&p_minus_1);
        }
    }
    let above_one = y[..last].iter().any(|&b| b != 0) || y[last] > 1;
    below == core::cmp::Ordering::Less && above_one
}

/// The MODP primes, parsed at compile time (a malformed constant fails the build).
const M1024: Odd<U1024> = Odd::<U1024>::from_be_hex(modp::MODP_1024);
const M1536: Odd<U1536> = Odd::<U1536>::from_be_hex(modp::MODP_1536);
const M2048: Odd<U2048> = Odd::<U2048>::from_be_hex(modp::MODP_2048);
const M3072: Odd<U3072> = Odd::<U3072>::from_be_hex(modp::MODP_3072);
const M4096: Odd<U4096> = Odd::<U4096>::from_be_hex(modp::MODP_4096);

/// The Montgomery parameters of each MODP prime, computed on first use (`new_vartime`
/// is variable-time in the modulus only, which is public).
static P1024: LazyLock<BoxedMontyParams> = LazyLock::new(|| monty(M1024.into()));
static P1536: LazyLock<BoxedMontyParams> = LazyLock::new(|| monty(M1536.into()));
static P2048: LazyLock<BoxedMontyParams> = LazyLock::new(|| monty(M2048.into()));
static P3072: LazyLock<BoxedMontyParams> = LazyLock::new(|| monty(M3072.into()));
static P4096: LazyLock<BoxedMontyParams> = LazyLock::new(|| monty(M4096.into()));

fn monty(p: Odd<BoxedUint>) -> BoxedMontyParams {
    BoxedMontyParams::new_vartime(p)
}

/// The Montgomery parameters of a MODP group's prime.
fn modp_params(group: DhGroup) -> Option<&'static BoxedMontyParams> {
    Some(match group {
        DhGroup::Modp1024 => &P1024,
        DhGroup::Modp1536 => &P1536,
        DhGroup::Modp2048 => &P2048,
        DhGroup::Modp3072 => &P3072,
        DhGroup::Modp4096 => &P4096,
        DhGroup::Ecp256 | DhGroup::Ecp384 => return None,
    })
}

/// A MODP private value: the exponent x (zeroized on drop) and g^x mod p.
///
/// Both exponentiations (g^x here, y^x in [`DhPrivate::agree`]) are crypto-bigint's
/// constant-time fixed-window exponentiation in Montgomery form (almost-Montgomery
/// multiplication) over [`MODP_EXPONENT_BITS`] bits of x: the time and the memory
/// accesses depend only on that public length and the prime, never on x (the window
/// table is read whole at every step). The shared secret and the values it passes
/// through in this module are zeroized too.
///
/// The heap-backed `BoxedUint` form rather than the const-generic `Uint<LIMBS>` one: in
/// optimised builds they measured within 3 % of each other (and of num-bigint's
/// variable-time `modpow`, see docs/benchmarks.md), but the const-generic code is
/// compiled in this crate, so debug builds (the test suites) ran it 6–7× slower.
struct Modp {
    group: DhGroup,
    params: &'static BoxedMontyParams,
    x: Zeroizing<BoxedUint>,
    public: Vec<u8>,
}

impl Modp {
    fn generate(
        group: DhGroup,
        params: &'static BoxedMontyParams,
        rng: &mut dyn SecureRandom,
    ) -> Self {
        let mut xb = Zeroizing::new([0u8; MODP_EXPONENT_LEN]);
        rng.fill(&mut xb[..]);
        // Bit 8 set keeps x away from the tiny exponents (x > 255).
        if let Some(b) = xb.get_mut(MODP_EXPONENT_LEN - 2) {
            *b |= 1;
        }
        let x = Zeroizing::new(BoxedUint::from_be_slice_truncated(
            &xb[..],
            MODP_EXPONENT_BITS,
        ));
        let bits = params.bits_precision();
        let g = BoxedMontyForm::new(BoxedUint::from_be_slice_truncated(&[2], bits), params);
        let public = g
            .pow_bounded_exp(&x, MODP_EXPONENT_BITS)
            .retrieve()
            .to_be_bytes()
            .to_vec();
        Self {
            group,
            params,
            x,
            public,
        }
    }
}

impl DhPrivate for Modp {
    fn public(&self) -> &[u8] {
        &self.public
    }

    fn agree(&self, peer: &[u8]) -> Result<Secret, CryptoError> {
        validate_public(self.group, peer)?;
        let y = BoxedUint::from_be_slice(peer, self.params.bits_precision())
            .map_err(|_| CryptoError::InvalidPublicValue)?;
        let mut z =
            BoxedMontyForm::new(y, self.params).pow_bounded_exp(&self.x, MODP_EXPONENT_BITS);
        let mut zr = z.retrieve();
        let mut bytes = zr.to_be_bytes();
        let secret = Secret::new(bytes.to_vec());
        z.zeroize();
        zr.zeroize();
        bytes.zeroize();
        Ok(secret)
    }
}

macro_rules! ecp {
    ($name:ident, $curve:ident, $len:expr) => {
        struct $name {
            secret: $curve::SecretKey,
            public: Vec<u8>,
        }

        impl $name {
            fn generate(rng: &mut dyn SecureRandom) -> Self {
                let mut bytes = Zeroizing::new([0u8; $len]);
                loop {
                    rng.fill(&mut bytes[..]);
                    if let Ok(secret) = $curve::SecretKey::from_slice(&bytes[..]) {
                        let point = secret.public_key().to_sec1_point(false);
                        let public = point.as_bytes().get(1..).unwrap_or_default().to_vec();
                        return Self { secret, public };
                    }
                }
            }
        }

        impl DhPrivate for $name {
            fn public(&self) -> &[u8] {
                &self.public
            }

            fn agree(&self, peer: &[u8]) -> Result<Secret, CryptoError> {
                if peer.len() != 2 * $len {
                    return Err(CryptoError::InvalidPublicValue);
                }
                let mut sec1 = Vec::with_capacity(1 + peer.len());
                sec1.push(4);
                sec1.extend_from_slice(peer);
                let pk = $curve::PublicKey::from_sec1_bytes(&sec1)
                    .map_err(|_| CryptoError::InvalidPublicValue)?;
                let shared = self.secret.diffie_hellman(&pk);
                Ok(Secret::new(shared.raw_secret_bytes().to_vec()))
            }
        }
    };
}

ecp!(Ecp256, p256, 32);
ecp!(Ecp384, p384, 48);

/// Bytes of MODP private exponent: 512 bits, over twice the strength of group 16.
const MODP_EXPONENT_LEN: usize = 64;
/// The exponent's length in bits: the only thing the exponentiation's timing depends on.
const MODP_EXPONENT_BITS: u32 = 512;

/// A fresh private value in `group`, from `rng`.
pub fn generate(group: DhGroup, rng: &mut dyn SecureRandom) -> Box<dyn DhPrivate> {
    match group {
        DhGroup::Ecp256 => Box::new(Ecp256::generate(rng)),
        DhGroup::Ecp384 => Box::new(Ecp384::generate(rng)),
        DhGroup::Modp1024 => Box::new(Modp::generate(group, &P1024, rng)),
        DhGroup::Modp1536 => Box::new(Modp::generate(group, &P1536, rng)),
        DhGroup::Modp2048 => Box::new(Modp::generate(group, &P2048, rng)),
        DhGroup::Modp3072 => Box::new(Modp::generate(group, &P3072, rng)),
        DhGroup::Modp4096 => Box::new(Modp::generate(group, &P4096, rng)),
    }
}

/// Builds a private value from a known scalar, for known-answer tests (ECP only).
#[doc(hidden)]
pub fn ecp_from_scalar(group: DhGroup, scalar: &[u8]) -> Option<Box<dyn DhPrivate>> {
    match group {
        DhGroup::Ecp256 => {
            let secret = p256::SecretKey::from_slice(scalar).ok()?;
            let public = secret
                .public_key()
                .to_sec1_point(false)
                .as_bytes()
                .get(1..)?
                .to_vec();
            Some(Box::new(Ecp256 { secret, public }))
        }
        DhGroup::Ecp384 => {
            let secret = p384::SecretKey::from_slice(scalar).ok()?;
            let public = secret
                .public_key()
                .to_sec1_point(false)
                .as_bytes()
                .get(1..)?
                .to_vec();
            Some(Box::new(Ecp384 { secret, public }))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use num_bigint::BigUint;
    use wire::random::DeterministicRandom;

    /// The prime as a num-bigint, the independent implementation these tests check
    /// crypto-bigint against.
    fn prime(g: DhGroup) -> BigUint {
        BigUint::from_bytes_be(&g.prime().unwrap())
    }

    fn pad_to(v: &BigUint, len: usize) -> Vec<u8> {
        let b = v.to_bytes_be();
        let mut out = vec![0; len.saturating_sub(b.len())];
        out.extend_from_slice(&b);
        out
    }

    fn miller_rabin(n: &BigUint, bases: &[u32]) -> bool {
        let one = BigUint::from(1u8);
        let nm1 = n - &one;
        let s = nm1.trailing_zeros().unwrap_or(0);
        let d = &nm1 >> s;
        'outer: for &a in bases {
            let mut x = BigUint::from(a).modpow(&d, n);
            if x == one || x == nm1 {
                continue;
            }
            for _ in 1..s {
                x = x.modpow(&BigUint::from(2u8), n);
                if x == nm1 {
                    continue 'outer;
                }
            }
            return false;
        }
        true
    }

    #[test]
    fn modp_primes_are_the_rfc_safe_primes() {
        for (g, bits) in [
            (DhGroup::Modp1024, 1024),
            (DhGroup::Modp1536, 1536),
            (DhGroup::Modp2048, 2048),
            (DhGroup::Modp3072, 3072),
            (DhGroup::Modp4096, 4096),
        ] {
            let p = prime(g);
            assert_eq!(p.bits(), bits);
            assert_eq!(g.public_len() * 8, bits as usize);
            // RFC 2409/3526: the top and bottom 64 bits are all ones, and the next 64
            // are the leading bits of pi (C90FDAA22168C234).
            let b = p.to_bytes_be();
            assert!(b[..8].iter().chain(&b[b.len() - 8..]).all(|&x| x == 0xff));
            assert_eq!(b[8..16], [0xc9, 0x0f, 0xda, 0xa2, 0x21, 0x68, 0xc2, 0x34]);
            // p and q = (p-1)/2 prime: any transcription error breaks this.
            let q = (&p - 1u8) >> 1;
            assert!(miller_rabin(&p, &[2, 3]), "{g:?}");
            assert!(miller_rabin(&q, &[2]), "{g:?}");
        }
    }

    #[test]
    fn modp_rejects_out_of_range_peer_values() {
        let mut rng = DeterministicRandom::new(1);
        let g = DhGroup::Modp1024;
        let p = prime(g);
        for bad in [BigUint::from(0u8), BigUint::from(1u8), &p - 1u8, p.clone()] {
            let k = generate(g, &mut rng);
            assert_eq!(
                k.agree(&pad_to(&bad, 128)).unwrap_err(),
                CryptoError::InvalidPublicValue
            );
        }
        let k = generate(g, &mut rng);
        assert!(k.agree(&[2; 127]).is_err());
    }

    #[test]
    fn validate_public_refuses_what_agree_refuses_without_computing() {
        let mut rng = DeterministicRandom::new(3);
        for g in DhGroup::ALL {
            // A genuine value passes; so does it as a shared secret.
            let a = generate(g, &mut rng);
            let b = generate(g, &mut rng);
            assert_eq!(validate_public(g, b.public()), Ok(()), "{g:?}");
            assert!(a.agree(b.public()).is_ok());
            // Wrong lengths.
            for len in [0, g.public_len() - 1, g.public_len() + 1] {
                let v = vec![2; len];
                assert!(validate_public(g, &v).is_err(), "{g:?} {len}");
            }
        }
        for g in DhGroup::ALL.into_iter().filter(|g| g.prime().is_some()) {
            let p = prime(g);
            let len = g.public_len();
            let one = BigUint::from(1u8);
            for (v, ok) in [
                (BigUint::from(0u8), false),
                (one.clone(), false),
                (BigUint::from(2u8), true),
                (&p - 2u8, true),
                (&p - 1u8, false),
                (p.clone(), false),
                ((&one << (8 * len)) - 1u8, false),
                (&p >> 1, true),
            ] {
                let bytes = pad_to(&v, len);
                assert_eq!(validate_public(g, &bytes).is_ok(), ok, "{g:?} {v:x}");
                let k = generate(g, &mut rng);
                assert_eq!(k.agree(&bytes).is_ok(), ok, "{g:?} {v:x}");
            }
        }
        for g in [DhGroup::Ecp256, DhGroup::Ecp384] {
            let k = generate(g, &mut rng);
            let mut off = k.public().to_vec();
            *off.last_mut().unwrap() ^= 1;
            assert!(validate_public(g, &off).is_err(), "{g:?}");
            assert!(validate_public(g, &vec![0; g.public_len()]).is_err());
            assert!(validate_public(g, &vec![0xff; g.public_len()]).is_err());
        }
    }

    #[test]
    fn both_sides_agree_in_every_group() {
        let mut rng = DeterministicRandom::new(7);
        for g in DhGroup::ALL {
            let a = generate(g, &mut rng);
            let b = generate(g, &mut rng);
            assert_eq!(a.public().len(), g.public_len());
            let (pa, pb) = (a.public().to_vec(), b.public().to_vec());
            let sa = a.agree(&pb).unwrap();
            let sb = b.agree(&pa).unwrap();
            assert_eq!(sa, sb, "{g:?}");
        }
    }

    #[test]
    fn ecp256_matches_rfc5903_section_8_1() {
        let i = hex::decode("C88F01F510D9AC3F70A292DAA2316DE544E9AAB8AFE84049C62A9C57862D1433")
            .unwrap();
        let r = hex::decode("C6EF9C5D78AE012A011164ACB397CE2088685D8F06BF9BE0B283AB46476BEE53")
            .unwrap();
        let gir = hex::decode("D6840F6B42F6EDAFD13116E0E12565202FEF8E9ECE7DCE03812464D04B9442DE")
            .unwrap();
        let gix = "DAD0B65394221CF9B051E1FECA5787D098DFE637FC90B9EF945D0C3772581180";
        let giy = "5271A0461CDB8252D61F1C456FA3E59AB1F45B33ACCF5F58389E0577B8990BB3";
        let a = ecp_from_scalar(DhGroup::Ecp256, &i).unwrap();
        let b = ecp_from_scalar(DhGroup::Ecp256, &r).unwrap();
        assert_eq!(hex::encode_upper(a.public()), format!("{gix}{giy}"));
        let pb = b.public().to_vec();
        assert_eq!(a.agree(&pb).unwrap().as_bytes(), gir.as_slice());
        // A point off the curve is refused.
        let mut off = pb.clone();
        off[63] ^= 1;
        let b2 = ecp_from_scalar(DhGroup::Ecp256, &r).unwrap();
        let a2 = ecp_from_scalar(DhGroup::Ecp256, &i).unwrap();
        drop(b2);
        assert_eq!(a2.agree(&off).unwrap_err(), CryptoError::InvalidPublicValue);
    }

    /// The constant-time MODP code computes what num-bigint's `modpow` computes: g^x for
    /// the exponent drawn from the same random bytes (x | 2⁸, as before the switch), and
    /// y^x for a peer's value, in every group.
    #[test]
    fn modp_matches_num_bigint_modpow() {
        for g in DhGroup::ALL.into_iter().filter(|g| g.prime().is_some()) {
            for seed in 0..3u64 {
                let k = generate(g, &mut DeterministicRandom::new(seed));
                let mut xb = [0u8; MODP_EXPONENT_LEN];
                DeterministicRandom::new(seed).fill(&mut xb);
                let x = BigUint::from_bytes_be(&xb) | (BigUint::from(1u8) << 8);
                let p = prime(g);
                let len = g.public_len();
                let public = BigUint::from(2u8).modpow(&x, &p);
                assert_eq!(k.public(), pad_to(&public, len), "{g:?} {seed}");
                let peer = generate(g, &mut DeterministicRandom::new(seed + 100));
                let y = BigUint::from_bytes_be(peer.public());
                let z = y.modpow(&x, &p);
                assert_eq!(
                    k.agree(peer.public()).unwrap().as_bytes(),
                    pad_to(&z, len),
                    "{g:?} {seed}"
                );
                // A value with leading zero bytes (y = 2) still encodes at full length.
                let small = pad_to(&BigUint::from(2u8), len);
                let z = BigUint::from(2u8).modpow(&x, &p);
                assert_eq!(k.agree(&small).unwrap().as_bytes(), pad_to(&z, len));
            }
        }
    }
}
