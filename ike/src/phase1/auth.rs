//! Phase-1 authentication. This is the one module that decides whether a peer is
//! authenticated: [`PeerAuthenticated`] can only be constructed here, and the
//! established state of an ISAKMP SA holds one: [`verify_hash`] (pre-shared keys) or
//! [`verify_signature`] (RSA and ECDSA signatures by a verified certificate).

use subtle::ConstantTimeEq;

use crate::crypto::keys::Phase1Keys;
use crate::crypto::{CryptoProvider, Secret};
use crate::error::Error;
use crate::phase1::cert::{CertError, VerifiedPeer};

/// Proof that the peer's phase-1 authentication verified.
#[derive(Debug)]
pub struct PeerAuthenticated(());

/// The inputs of HASH_I / HASH_R (RFC 2409 §5).
#[derive(Clone, Copy, Debug)]
pub struct HashInput<'a> {
    /// g^xi.
    pub gxi: &'a [u8],
    /// g^xr.
    pub gxr: &'a [u8],
    /// Initiator cookie.
    pub cky_i: &'a [u8; 8],
    /// Responder cookie.
    pub cky_r: &'a [u8; 8],
    /// The initiator's SA payload body.
    pub sai_b: &'a [u8],
}

/// HASH_I = prf(SKEYID, g^xi | g^xr | CKY-I | CKY-R | SAi_b | IDii_b).
pub fn hash_i(p: &dyn CryptoProvider, k: &Phase1Keys, h: &HashInput<'_>, idii_b: &[u8]) -> Secret {
    p.prf(
        k.hash,
        k.skeyid.as_bytes(),
        &[h.gxi, h.gxr, h.cky_i, h.cky_r, h.sai_b, idii_b],
    )
}

/// HASH_R = prf(SKEYID, g^xr | g^xi | CKY-R | CKY-I | SAi_b | IDir_b).
pub fn hash_r(p: &dyn CryptoProvider, k: &Phase1Keys, h: &HashInput<'_>, idir_b: &[u8]) -> Secret {
    p.prf(
        k.hash,
        k.skeyid.as_bytes(),
        &[h.gxr, h.gxi, h.cky_r, h.cky_i, h.sai_b, idir_b],
    )
}

/// Compares a received HASH with the expected one in constant time.
pub fn verify_hash(expected: &Secret, received: &[u8]) -> Result<PeerAuthenticated, Error> {
    if expected.len() == received.len() && bool::from(expected.as_bytes().ct_eq(received)) {
        Ok(PeerAuthenticated(()))
    } else {
        Err(Error::AuthenticationFailed)
    }
}

/// Verifies the peer's SIG payload over the expected HASH_I/HASH_R with the key of its
/// verified certificate.
pub fn verify_signature(
    peer: &VerifiedPeer,
    expected: &Secret,
    sig: &[u8],
) -> Result<PeerAuthenticated, Error> {
    if peer.key.verify_ike(expected.as_bytes(), sig) {
        Ok(PeerAuthenticated(()))
    } else {
        Err(Error::Certificate(CertError::BadIkeSignature))
    }
}

/// Constant-time comparison of phase-2 and informational hashes.
pub fn hash_matches(expected: &Secret, received: &[u8]) -> bool {
    expected.len() == received.len() && bool::from(expected.as_bytes().ct_eq(received))
}
