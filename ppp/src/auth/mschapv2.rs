//! MS-CHAPv2 (RFC 2759): the NT password hash, the NT-Response and the Authenticator
//! Response, so a backend can verify a peer from a password or a stored NT hash, and the
//! client can answer a challenge and check the server.
//!
//! Built from RustCrypto's MD4, DES and SHA-1; nothing is hand-written crypto except the
//! RFC's glue (key expansion for DES, the magic constants).

use core::fmt;

use des::Des;
use des::cipher::{Array, BlockCipherEncrypt, KeyInit};
use md4::{Digest, Md4};
use sha1::Sha1;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// An NT password hash: MD4 over the UTF-16LE password (RFC 2759 §8.3). Zeroized on
/// drop; Debug prints `[redacted]`.
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct NtHash(pub [u8; 16]);

impl fmt::Debug for NtHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NtHash([redacted])")
    }
}

impl NtHash {
    /// `NtPasswordHash(password)`.
    pub fn from_password(password: &str) -> Self {
        let mut unicode: Vec<u8> = password.encode_utf16().flat_map(u16::to_le_bytes).collect();
        let hash: [u8; 16] = Md4::digest(&unicode).into();
        unicode.zeroize();
        Self(hash)
    }

    /// `HashNtPasswordHash`: MD4 of the hash, used in the Authenticator Response.
    fn hash_hash(&self) -> [u8; 16] {
        Md4::digest(self.0).into()
    }
}

/// The 20-byte Authenticator Response the server proves itself with (RFC 2759 §8.7),
/// sent as `S=` and 40 upper-case hex digits.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct AuthenticatorResponse(pub [u8; 20]);

impl fmt::Debug for AuthenticatorResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AuthenticatorResponse({self})")
    }
}

impl fmt::Display for AuthenticatorResponse {
    /// `S=<40 upper-case hex digits>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("S=")?;
        for b in self.0 {
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

impl AuthenticatorResponse {
    /// Parses the `S=<40 hex>` at the start of a Success message (what follows, such as
    /// ` M=...`, is ignored).
    pub fn parse(message: &[u8]) -> Option<Self> {
        let hex = message.strip_prefix(b"S=")?.get(..40)?;
        let mut out = [0u8; 20];
        for (o, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
            let s = core::str::from_utf8(pair).ok()?;
            *o = u8::from_str_radix(s, 16).ok()?;
        }
        Some(Self(out))
    }

    /// Constant-time comparison.
    pub fn ct_eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

/// The user name as it enters the challenge hash: a `DOMAIN\` prefix is dropped, as
/// Windows and pppd do.
fn hash_user_name(user: &[u8]) -> &[u8] {
    match user.iter().rposition(|&b| b == b'\\') {
        Some(i) => user.get(i + 1..).unwrap_or_default(),
        None => user,
    }
}

/// `ChallengeHash` (RFC 2759 §8.2): the first 8 bytes of SHA-1(peer ‖ authenticator ‖
/// user).
pub fn challenge_hash(
    peer_challenge: &[u8; 16],
    auth_challenge: &[u8; 16],
    user: &[u8],
) -> [u8; 8] {
    let mut h = Sha1::new();
    h.update(peer_challenge);
    h.update(auth_challenge);
    h.update(hash_user_name(user));
    let d: [u8; 20] = h.finalize().into();
    let mut out = [0u8; 8];
    out.copy_from_slice(&d[..8]);
    out
}

/// Spreads 7 key bytes over 8 DES key bytes (the low bit of each is parity, ignored).
fn des_key(k7: &[u8]) -> [u8; 8] {
    let mut bits: u64 = 0;
    for &b in k7.iter().take(7) {
        bits = (bits << 8) | u64::from(b);
    }
    let mut out = [0u8; 8];
    for (i, o) in out.iter_mut().enumerate() {
        // 7 bits per output byte, from the top of the 56-bit value.
        let shift = 49 - 7 * i;
        *o = (((bits >> shift) & 0x7f) as u8) << 1;
    }
    out
}

fn des_encrypt(k7: &[u8], block: &[u8; 8]) -> [u8; 8] {
    let mut key = des_key(k7);
    let cipher = Des::new(&Array::from(key));
    key.zeroize();
    let mut b = Array::from(*block);
    cipher.encrypt_block(&mut b);
    b.into()
}

/// `ChallengeResponse` (RFC 2759 §8.5): DES of the 8-byte challenge under the three
/// 7-byte thirds of the zero-padded 21-byte hash.
fn challenge_response(challenge: &[u8; 8], hash: &[u8; 16]) -> [u8; 24] {
    let mut z = [0u8; 21];
    z[..16].copy_from_slice(hash);
    let mut out = [0u8; 24];
    for (i, chunk) in out.chunks_exact_mut(8).enumerate() {
        chunk.copy_from_slice(&des_encrypt(&z[7 * i..7 * i + 7], challenge));
    }
    z.zeroize();
    out
}

/// `GenerateNTResponse` (RFC 2759 §8.1): what the peer sends.
pub fn nt_response(
    nt_hash: &NtHash,
    auth_challenge: &[u8; 16],
    peer_challenge: &[u8; 16],
    user: &[u8],
) -> [u8; 24] {
    let ch = challenge_hash(peer_challenge, auth_challenge, user);
    challenge_response(&ch, &nt_hash.0)
}

const MAGIC1: &[u8; 39] = b"Magic server to client signing constant";
const MAGIC2: &[u8; 41] = b"Pad to make it do more than one iteration";

/// `GenerateAuthenticatorResponse` (RFC 2759 §8.7).
pub fn authenticator_response(
    nt_hash: &NtHash,
    nt_response: &[u8; 24],
    peer_challenge: &[u8; 16],
    auth_challenge: &[u8; 16],
    user: &[u8],
) -> AuthenticatorResponse {
    let mut hh = nt_hash.hash_hash();
    let mut h = Sha1::new();
    h.update(hh);
    h.update(nt_response);
    h.update(MAGIC1);
    let digest: [u8; 20] = h.finalize().into();
    hh.zeroize();
    let ch = challenge_hash(peer_challenge, auth_challenge, user);
    let mut h = Sha1::new();
    h.update(digest);
    h.update(ch);
    h.update(MAGIC2);
    AuthenticatorResponse(h.finalize().into())
}

/// Verifies a peer's NT-Response against the stored NT hash; on success returns the
/// Authenticator Response to send in the Success message. The comparison is constant-time.
pub fn verify(
    nt_hash: &NtHash,
    auth_challenge: &[u8; 16],
    peer_challenge: &[u8; 16],
    user: &[u8],
    response: &[u8; 24],
) -> Option<AuthenticatorResponse> {
    let expected = nt_response(nt_hash, auth_challenge, peer_challenge, user);
    if bool::from(expected.ct_eq(response)) {
        Some(authenticator_response(
            nt_hash,
            response,
            peer_challenge,
            auth_challenge,
            user,
        ))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h<const N: usize>(s: &str) -> [u8; N] {
        hex::decode(s).unwrap().try_into().unwrap()
    }

    // RFC 2759 §9.2, "Examples of DES Key Generation" and the worked example.
    const AUTH_CHALLENGE: &str = "5B5D7C7D7B3F2F3E3C2C602132262628";
    const PEER_CHALLENGE: &str = "21402324255E262A28295F2B3A337C7E";

    #[test]
    fn rfc2759_section_9_2_known_answers() {
        let hash = NtHash::from_password("clientPass");
        assert_eq!(hash.0, h::<16>("44EBBA8D5312B8D611474411F56989AE"));
        assert_eq!(
            hash.hash_hash(),
            h::<16>("41C00C584BD2D91C4017A2A12FA59F3F")
        );
        let (ac, pc) = (h::<16>(AUTH_CHALLENGE), h::<16>(PEER_CHALLENGE));
        assert_eq!(
            challenge_hash(&pc, &ac, b"User"),
            h::<8>("D02E4386BCE91226")
        );
        let nt = nt_response(&hash, &ac, &pc, b"User");
        assert_eq!(
            nt,
            h::<24>("82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF")
        );
        let ar = authenticator_response(&hash, &nt, &pc, &ac, b"User");
        assert_eq!(ar.to_string(), "S=407A5589115FD0D6209F510FE9C04566932CDA56");
        assert_eq!(verify(&hash, &ac, &pc, b"User", &nt), Some(ar));
        let mut wrong = nt;
        wrong[23] ^= 1;
        assert_eq!(verify(&hash, &ac, &pc, b"User", &wrong), None);
        assert_eq!(
            verify(&NtHash::from_password("clientPasS"), &ac, &pc, b"User", &nt),
            None
        );
        // The domain prefix does not enter the challenge hash.
        assert_eq!(verify(&hash, &ac, &pc, b"DOMAIN\\User", &nt), Some(ar));
        assert_eq!(
            AuthenticatorResponse::parse(b"S=407A5589115FD0D6209F510FE9C04566932CDA56 M=ok"),
            Some(ar)
        );
        assert_eq!(AuthenticatorResponse::parse(b"S=407A"), None);
        assert_eq!(format!("{hash:?}"), "NtHash([redacted])");
    }

    #[test]
    fn md4_nt_hash_of_known_passwords() {
        // The widely published NTLM hashes of "" and "password".
        assert_eq!(
            NtHash::from_password("").0,
            h::<16>("31d6cfe0d16ae931b73c59d7e0c089c0")
        );
        assert_eq!(
            NtHash::from_password("password").0,
            h::<16>("8846f7eaee8fb117ad06bdd830b7586c")
        );
    }
}
