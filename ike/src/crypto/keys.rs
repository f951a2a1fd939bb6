//! RFC 2409 key derivation, written against a [`CryptoProvider`].
//!
//! ```text
//! SKEYID   = prf(pre-shared-key, Ni_b | Nr_b)                       (§5.4)
//! SKEYID   = prf(Ni_b | Nr_b, g^xy)                   (signatures, §5.1)
//! SKEYID_d = prf(SKEYID, g^xy | CKY-I | CKY-R | 0)
//! SKEYID_a = prf(SKEYID, SKEYID_d | g^xy | CKY-I | CKY-R | 1)
//! SKEYID_e = prf(SKEYID, SKEYID_a | g^xy | CKY-I | CKY-R | 2)
//! Ka       = K1 | K2 | ..., K1 = prf(SKEYID_e, 0), Kn = prf(SKEYID_e, Kn-1)
//!            when SKEYID_e is shorter than the key                  (Appendix B)
//! IV       = hash(g^xi | g^xr)                                      (Appendix B)
//! IV(M-ID) = hash(last phase-1 CBC block | M-ID)
//! KEYMAT   = K1 | K2 | ..., K1 = prf(SKEYID_d, [g(qm)^xy |] protocol | SPI | Ni_b | Nr_b),
//!            Kn = prf(SKEYID_d, Kn-1 | [g(qm)^xy |] protocol | SPI | Ni_b | Nr_b)   (§5.5)
//! ```

use super::{CipherAlg, CryptoProvider, HashAlg, Secret};

/// SKEYID for pre-shared-key authentication.
pub fn skeyid_psk(
    p: &dyn CryptoProvider,
    hash: HashAlg,
    psk: &[u8],
    ni: &[u8],
    nr: &[u8],
) -> Secret {
    p.prf(hash, psk, &[ni, nr])
}

/// SKEYID for signature authentication: prf(Ni_b | Nr_b, g^xy) (RFC 2409 §5).
pub fn skeyid_sig(
    p: &dyn CryptoProvider,
    hash: HashAlg,
    ni: &[u8],
    nr: &[u8],
    gxy: &[u8],
) -> Secret {
    let key = zeroize::Zeroizing::new([ni, nr].concat());
    p.prf(hash, &key, &[gxy])
}

/// The phase-1 key set.
#[derive(Clone, Debug)]
pub struct Phase1Keys {
    /// Hash of the PRF.
    pub hash: HashAlg,
    /// Phase-1 cipher.
    pub cipher: CipherAlg,
    /// SKEYID.
    pub skeyid: Secret,
    /// SKEYID_d: phase-2 key material.
    pub skeyid_d: Secret,
    /// SKEYID_a: phase-2 and informational hashes.
    pub skeyid_a: Secret,
    /// SKEYID_e: source of the encryption key.
    pub skeyid_e: Secret,
    /// The phase-1 encryption key (SKEYID_e, expanded or truncated).
    pub enc_key: Secret,
}

impl Phase1Keys {
    /// Derives SKEYID_d/a/e and the encryption key from SKEYID.
    #[allow(clippy::too_many_arguments, reason = "the RFC's inputs, named")]
    pub fn derive(
        p: &dyn CryptoProvider,
        hash: HashAlg,
        cipher: CipherAlg,
        skeyid: Secret,
        gxy: &[u8],
        cky_i: &[u8; 8],
        cky_r: &[u8; 8],
    ) -> Self {
        let k = skeyid.as_bytes();
        let skeyid_d = p.prf(hash, k, &[gxy, cky_i, cky_r, &[0]]);
        let skeyid_a = p.prf(hash, k, &[skeyid_d.as_bytes(), gxy, cky_i, cky_r, &[1]]);
        let skeyid_e = p.prf(hash, k, &[skeyid_a.as_bytes(), gxy, cky_i, cky_r, &[2]]);
        let enc_key = expand_key(p, hash, &skeyid_e, cipher.key_len());
        Self {
            hash,
            cipher,
            skeyid,
            skeyid_d,
            skeyid_a,
            skeyid_e,
            enc_key,
        }
    }
}

/// The encryption key from SKEYID_e: truncated when long enough, otherwise expanded
/// with K1 = prf(SKEYID_e, 0), Kn = prf(SKEYID_e, Kn-1) (RFC 2409 Appendix B).
pub fn expand_key(p: &dyn CryptoProvider, hash: HashAlg, skeyid_e: &Secret, len: usize) -> Secret {
    if skeyid_e.len() >= len {
        return Secret::new(skeyid_e.as_bytes().get(..len).unwrap_or_default().to_vec());
    }
    let mut out = Vec::with_capacity(len + hash.output_len());
    let mut k = p.prf(hash, skeyid_e.as_bytes(), &[&[0]]);
    while out.len() < len {
        out.extend_from_slice(k.as_bytes());
        if k.is_empty() {
            break;
        }
        k = p.prf(hash, skeyid_e.as_bytes(), &[k.as_bytes()]);
    }
    out.truncate(len);
    Secret::new(out)
}

/// The phase-1 initial IV: hash(g^xi | g^xr) truncated to the block length.
pub fn initial_iv(
    p: &dyn CryptoProvider,
    hash: HashAlg,
    cipher: CipherAlg,
    gxi: &[u8],
    gxr: &[u8],
) -> Vec<u8> {
    let mut h = p.hash(hash, &[gxi, gxr]);
    h.truncate(cipher.block_len());
    h
}

/// The first IV of a phase-2 or informational exchange: hash(last phase-1 block | M-ID).
pub fn phase2_iv(
    p: &dyn CryptoProvider,
    hash: HashAlg,
    cipher: CipherAlg,
    last_phase1_block: &[u8],
    message_id: u32,
) -> Vec<u8> {
    let mut h = p.hash(hash, &[last_phase1_block, &message_id.to_be_bytes()]);
    h.truncate(cipher.block_len());
    h
}

/// The inputs of one direction's KEYMAT.
#[derive(Clone, Copy, Debug)]
pub struct KeymatInput<'a> {
    /// g(qm)^xy when Quick Mode used PFS.
    pub pfs_secret: Option<&'a [u8]>,
    /// Protocol ID (3 for ESP).
    pub protocol: u8,
    /// The SPI chosen by the receiving side of this direction.
    pub spi: [u8; 4],
    /// Ni_b of the Quick Mode.
    pub ni: &'a [u8],
    /// Nr_b of the Quick Mode.
    pub nr: &'a [u8],
}

/// KEYMAT of `len` bytes (RFC 2409 §5.5, expanded as the RFC describes).
pub fn keymat(
    p: &dyn CryptoProvider,
    hash: HashAlg,
    skeyid_d: &Secret,
    input: &KeymatInput<'_>,
    len: usize,
) -> Secret {
    let g = input.pfs_secret.unwrap_or_default();
    let proto = [input.protocol];
    let tail: [&[u8]; 5] = [g, &proto, &input.spi, input.ni, input.nr];
    let mut out = Vec::with_capacity(len + hash.output_len());
    let mut k = p.prf(hash, skeyid_d.as_bytes(), &tail);
    loop {
        out.extend_from_slice(k.as_bytes());
        if out.len() >= len || k.is_empty() {
            break;
        }
        let mut data: Vec<&[u8]> = vec![k.as_bytes()];
        data.extend_from_slice(&tail);
        k = p.prf(hash, skeyid_d.as_bytes(), &data);
    }
    out.truncate(len);
    Secret::new(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::RUSTCRYPTO;

    #[test]
    fn nist_sp800_135_ikev1_psk_vector() {
        // libreswan programs/cavp/test.acvp.ikev1_psk (ACVP tcId 100, SHA-1).
        let h = |s: &str| hex::decode(s).unwrap();
        let skeyid = skeyid_psk(
            &RUSTCRYPTO,
            HashAlg::Sha1,
            &h("75"),
            &h("b9a2d0e922dc66dd"),
            &h("2130166863b5ddef"),
        );
        assert_eq!(
            skeyid.as_bytes(),
            h("62b04d112877e442fc3282fc37c076997718a0b9")
        );
        let k = Phase1Keys::derive(
            &RUSTCRYPTO,
            HashAlg::Sha1,
            CipherAlg::Aes256,
            skeyid,
            &h("739003ba2c11c982946c65e26acf661fbf8ebb78011a9fead79efa12fe3e71cc"),
            &h("83d374c30b3b5082").try_into().unwrap(),
            &h("5afc0da06c728029").try_into().unwrap(),
        );
        assert_eq!(
            k.skeyid_d.as_bytes(),
            h("369e5aad1bdb5faf6a3d929d500cdc236710a9ab")
        );
        assert_eq!(
            k.skeyid_a.as_bytes(),
            h("588e957d8d790d093b3a39f121473473af78e9bb")
        );
        assert_eq!(
            k.skeyid_e.as_bytes(),
            h("cd74b0c048219db81384d3fda8f6cda51e398a2b")
        );
        // AES-256 needs 32 bytes from a 20-byte SKEYID_e: K1 | K2 truncated.
        let k1 = RUSTCRYPTO.prf(HashAlg::Sha1, k.skeyid_e.as_bytes(), &[&[0]]);
        let k2 = RUSTCRYPTO.prf(HashAlg::Sha1, k.skeyid_e.as_bytes(), &[k1.as_bytes()]);
        assert_eq!(&k.enc_key.as_bytes()[..20], k1.as_bytes());
        assert_eq!(&k.enc_key.as_bytes()[20..], &k2.as_bytes()[..12]);
        assert_ne!(&k.enc_key.as_bytes()[..20], k.skeyid_e.as_bytes());
    }
}
