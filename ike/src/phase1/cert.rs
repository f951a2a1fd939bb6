//! X.509 certificates for phase-1 signature authentication (RFC 2409 §5.1, RFC 4945,
//! RFC 4754): our identities (certificate chain and private key), the trusted CAs, CRLs,
//! and the verification of a peer's chain and identity.
//!
//! Parsing uses `x509-parser`, RSA the `rsa` crate, ECDSA `p256`/`p384`/`p521`; nothing here
//! encodes DER or implements a primitive by hand.
//!
//! The IKEv1 signature (the SIG payload) is, as strongSwan computes it
//! (`SIGN_RSA_EMSA_PKCS1_NULL`, `SIGN_ECDSA_WITH_NULL` in
//! `pubkey_v1_authenticator.c`):
//! * RSA: PKCS#1 v1.5 type-1 padding over HASH_I/HASH_R itself, without a DigestInfo;
//! * ECDSA: HASH_I/HASH_R taken as the digest (no second hash), the signature r ‖ s,
//!   each padded to the curve's field length.

use core::fmt;

use rsa::traits::PublicKeyParts;
use rsa::{Pkcs1v15Sign, RsaPrivateKey, RsaPublicKey};
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};
use wire::random::SecureRandom;
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_NIST_EC_P521,
    OID_PKCS1_RSAENCRYPTION, OID_PKCS1_SHA1WITHRSA, OID_PKCS1_SHA256WITHRSA,
    OID_PKCS1_SHA384WITHRSA, OID_PKCS1_SHA512WITHRSA, OID_SIG_ECDSA_WITH_SHA256,
    OID_SIG_ECDSA_WITH_SHA384, OID_SIG_ECDSA_WITH_SHA512,
};
use x509_parser::prelude::{
    CertificateRevocationList, FromDer, GeneralName, Pem, X509Certificate, X509Name,
};
use x509_parser::x509::SubjectPublicKeyInfo;

use crate::msgs::{IdPayload, IdType};

/// Smallest RSA modulus accepted, for peers, CAs and our own keys.
pub const MIN_RSA_BITS: usize = 2048;

/// Bounds on what a peer's certificates can make us parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CertLimits {
    /// CERT payloads accepted in one message (more: the exchange fails).
    pub max_cert_payloads: usize,
    /// Largest certificate accepted, in bytes.
    pub max_cert_len: usize,
    /// Intermediate CAs allowed between the peer's certificate and a trusted CA.
    pub max_intermediates: usize,
    /// CERTREQ payloads remembered from one peer (more are ignored).
    pub max_certreqs: usize,
}

impl Default for CertLimits {
    fn default() -> Self {
        Self {
            max_cert_payloads: 8,
            max_cert_len: 8 * 1024,
            max_intermediates: 4,
            max_certreqs: 16,
        }
    }
}

/// Why a peer's certificate was refused (each becomes AUTHENTICATION-FAILED).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum CertError {
    /// The peer sent no X.509 certificate.
    NoCertificate,
    /// More CERT payloads than [`CertLimits::max_cert_payloads`].
    TooManyCertificates,
    /// A certificate larger than [`CertLimits::max_cert_len`].
    CertificateTooLarge,
    /// A certificate that does not parse (or has trailing bytes).
    Malformed,
    /// A certificate of the chain has expired.
    Expired,
    /// A certificate of the chain is not yet valid.
    NotYetValid,
    /// The chain does not lead to a configured CA.
    UnknownCa,
    /// A certificate's signature does not verify with its issuer's key.
    BadSignature,
    /// A signature or key algorithm we do not support (or an RSA key under 2048 bits).
    UnsupportedAlgorithm,
    /// More intermediates than [`CertLimits::max_intermediates`].
    ChainTooLong,
    /// A certificate of the chain is listed in a configured CRL.
    Revoked,
    /// The ID payload names someone else than the certificate.
    IdMismatch,
    /// The certificate's keyUsage allows neither digitalSignature nor nonRepudiation.
    KeyUsage,
    /// The certificate's key does not fit the negotiated authentication method.
    WrongKeyType,
    /// The SIG payload did not verify with the certificate's key.
    BadIkeSignature,
    /// No wall clock was configured, so validity cannot be checked.
    NoClock,
    /// We have no certificate and key for the negotiated method.
    NoIdentity,
}

impl CertError {
    /// A short stable name, for metrics labels and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NoCertificate => "no_certificate",
            Self::TooManyCertificates => "too_many_certificates",
            Self::CertificateTooLarge => "certificate_too_large",
            Self::Malformed => "malformed_certificate",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::UnknownCa => "unknown_ca",
            Self::BadSignature => "bad_certificate_signature",
            Self::UnsupportedAlgorithm => "unsupported_algorithm",
            Self::ChainTooLong => "chain_too_long",
            Self::Revoked => "revoked",
            Self::IdMismatch => "id_mismatch",
            Self::KeyUsage => "key_usage",
            Self::WrongKeyType => "wrong_key_type",
            Self::BadIkeSignature => "bad_signature",
            Self::NoClock => "no_clock",
            Self::NoIdentity => "no_identity",
        }
    }
}

impl fmt::Display for CertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NoCertificate => "no certificate received",
            Self::TooManyCertificates => "too many certificate payloads",
            Self::CertificateTooLarge => "certificate too large",
            Self::Malformed => "malformed certificate",
            Self::Expired => "certificate expired",
            Self::NotYetValid => "certificate not yet valid",
            Self::UnknownCa => "certificate not issued by a configured CA",
            Self::BadSignature => "certificate signature does not verify",
            Self::UnsupportedAlgorithm => "unsupported certificate algorithm or key size",
            Self::ChainTooLong => "certificate chain too long",
            Self::Revoked => "certificate revoked",
            Self::IdMismatch => "ID payload does not match the certificate",
            Self::KeyUsage => "certificate keyUsage forbids signatures",
            Self::WrongKeyType => "certificate key does not fit the authentication method",
            Self::BadIkeSignature => "signature payload does not verify",
            Self::NoClock => "no wall clock to check certificate validity",
            Self::NoIdentity => "no local certificate for this authentication method",
        })
    }
}

impl std::error::Error for CertError {}

/// A problem with configured (local) certificates, keys or CRLs.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct LoadError(pub String);

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LoadError {}

fn load_err(s: impl Into<String>) -> LoadError {
    LoadError(s.into())
}

/// The kind of key, which decides the phase-1 authentication method.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum KeyKind {
    /// RSA (method 3, RSA signatures).
    Rsa,
    /// ECDSA on P-256 (method 9).
    EcdsaP256,
    /// ECDSA on P-384 (method 10).
    EcdsaP384,
    /// ECDSA on P-521 (method 11).
    EcdsaP521,
}

impl KeyKind {
    /// True for the ECDSA kinds.
    pub fn is_ecdsa(self) -> bool {
        matches!(self, Self::EcdsaP256 | Self::EcdsaP384 | Self::EcdsaP521)
    }
}

/// Our private key (redacted in Debug, zeroized on drop by the underlying crates).
pub enum PrivateKey {
    /// RSA.
    Rsa(Box<RsaPrivateKey>),
    /// ECDSA P-256.
    P256(p256::ecdsa::SigningKey),
    /// ECDSA P-384.
    P384(p384::ecdsa::SigningKey),
    /// ECDSA P-521.
    P521(p521::ecdsa::SigningKey),
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey({:?}, [redacted])", self.kind())
    }
}

/// `SecureRandom` as the RNG the `rsa` crate blinds with.
struct Rng<'a>(&'a mut dyn SecureRandom);

impl rand_core::TryRng for Rng<'_> {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(self.0.next_u32())
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(self.0.next_u64())
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        self.0.fill(dst);
        Ok(())
    }
}

impl rand_core::TryCryptoRng for Rng<'_> {}

/// HASH_I/HASH_R as an ECDSA digest of `field` bytes: a shorter one is left-padded
/// with zeros (the same integer, as OpenSSL reads a short digest); a longer one is
/// truncated by the ECDSA crates as the standard says.
fn ecdsa_digest(hash: &[u8], field: usize) -> Vec<u8> {
    if hash.len() >= field {
        return hash.to_vec();
    }
    let mut v = vec![0; field - hash.len()];
    v.extend_from_slice(hash);
    v
}

impl PrivateKey {
    /// Reads a PEM private key: PKCS#8 (`PRIVATE KEY`, RSA or EC), PKCS#1
    /// (`RSA PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`). Encrypted keys are refused.
    pub fn from_pem(pem: &[u8]) -> Result<Self, LoadError> {
        use p256::pkcs8::DecodePrivateKey as _;
        use rsa::pkcs1::DecodeRsaPrivateKey as _;
        for item in Pem::iter_from_buffer(pem) {
            let item = item.map_err(|e| load_err(format!("bad PEM: {e}")))?;
            let der = item.contents.as_slice();
            let key = match item.label.as_str() {
                "PRIVATE KEY" => {
                    if let Ok(k) = RsaPrivateKey::from_pkcs8_der(der) {
                        Self::Rsa(Box::new(k))
                    } else if let Ok(k) = p256::SecretKey::from_pkcs8_der(der) {
                        Self::P256(k.into())
                    } else if let Ok(k) = p384::SecretKey::from_pkcs8_der(der) {
                        Self::P384(k.into())
                    } else if let Ok(k) = p521::SecretKey::from_pkcs8_der(der) {
                        Self::P521(k.into())
                    } else {
                        return Err(load_err(
                            "PKCS#8 key is neither RSA nor ECDSA P-256/P-384/P-521",
                        ));
                    }
                }
                "RSA PRIVATE KEY" => Self::Rsa(Box::new(
                    RsaPrivateKey::from_pkcs1_der(der)
                        .map_err(|e| load_err(format!("bad RSA key: {e}")))?,
                )),
                "EC PRIVATE KEY" => {
                    if let Ok(k) = p256::SecretKey::from_sec1_der(der) {
                        Self::P256(k.into())
                    } else if let Ok(k) = p384::SecretKey::from_sec1_der(der) {
                        Self::P384(k.into())
                    } else if let Ok(k) = p521::SecretKey::from_sec1_der(der) {
                        Self::P521(k.into())
                    } else {
                        return Err(load_err("EC key is not on P-256, P-384 or P-521"));
                    }
                }
                "ENCRYPTED PRIVATE KEY" => {
                    return Err(load_err("encrypted private keys are not supported"));
                }
                _ => continue,
            };
            if let Self::Rsa(k) = &key
                && k.size() * 8 < MIN_RSA_BITS
            {
                return Err(load_err(format!(
                    "RSA key under {MIN_RSA_BITS} bits is not accepted"
                )));
            }
            return Ok(key);
        }
        Err(load_err("no private key in the PEM data"))
    }

    /// The kind of key.
    pub fn kind(&self) -> KeyKind {
        match self {
            Self::Rsa(_) => KeyKind::Rsa,
            Self::P256(_) => KeyKind::EcdsaP256,
            Self::P384(_) => KeyKind::EcdsaP384,
            Self::P521(_) => KeyKind::EcdsaP521,
        }
    }

    /// The IKEv1 signature over `hash` (HASH_I or HASH_R). RSA blinding uses `rng`; the
    /// ECDSA nonce is deterministic (RFC 6979).
    pub fn sign_ike(&self, hash: &[u8], rng: &mut dyn SecureRandom) -> Result<Vec<u8>, CertError> {
        use ecdsa::signature::hazmat::PrehashSigner as _;
        match self {
            Self::Rsa(k) => k
                .sign_with_rng(&mut Rng(rng), Pkcs1v15Sign::new_unprefixed(), hash)
                .map_err(|_| CertError::UnsupportedAlgorithm),
            Self::P256(k) => {
                let sig: p256::ecdsa::Signature = k
                    .sign_prehash(&ecdsa_digest(hash, 32))
                    .map_err(|_| CertError::UnsupportedAlgorithm)?;
                Ok(sig.to_bytes().to_vec())
            }
            Self::P384(k) => {
                let sig: p384::ecdsa::Signature = k
                    .sign_prehash(&ecdsa_digest(hash, 48))
                    .map_err(|_| CertError::UnsupportedAlgorithm)?;
                Ok(sig.to_bytes().to_vec())
            }
            Self::P521(k) => {
                let sig: p521::ecdsa::Signature = k
                    .sign_prehash(&ecdsa_digest(hash, 66))
                    .map_err(|_| CertError::UnsupportedAlgorithm)?;
                Ok(sig.to_bytes().to_vec())
            }
        }
    }

    fn public(&self) -> PublicKey {
        match self {
            Self::Rsa(k) => PublicKey::Rsa(k.to_public_key()),
            Self::P256(k) => PublicKey::P256(*k.verifying_key()),
            Self::P384(k) => PublicKey::P384(*k.verifying_key()),
            Self::P521(k) => PublicKey::P521(*k.verifying_key()),
        }
    }
}

/// A public key from a certificate.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum PublicKey {
    /// RSA.
    Rsa(RsaPublicKey),
    /// ECDSA P-256.
    P256(p256::ecdsa::VerifyingKey),
    /// ECDSA P-384.
    P384(p384::ecdsa::VerifyingKey),
    /// ECDSA P-521.
    P521(p521::ecdsa::VerifyingKey),
}

impl PublicKey {
    /// The key of a SubjectPublicKeyInfo.
    fn from_spki(spki: &SubjectPublicKeyInfo<'_>) -> Result<Self, CertError> {
        use p256::pkcs8::DecodePublicKey as _;
        let alg = &spki.algorithm.algorithm;
        if *alg == OID_PKCS1_RSAENCRYPTION {
            let k =
                RsaPublicKey::from_public_key_der(spki.raw).map_err(|_| CertError::Malformed)?;
            if k.size() * 8 < MIN_RSA_BITS {
                return Err(CertError::UnsupportedAlgorithm);
            }
            return Ok(Self::Rsa(k));
        }
        if *alg == OID_KEY_TYPE_EC_PUBLIC_KEY {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .ok_or(CertError::Malformed)?;
            if curve == OID_EC_P256 {
                return p256::ecdsa::VerifyingKey::from_public_key_der(spki.raw)
                    .map(Self::P256)
                    .map_err(|_| CertError::Malformed);
            }
            if curve == OID_NIST_EC_P384 {
                return p384::ecdsa::VerifyingKey::from_public_key_der(spki.raw)
                    .map(Self::P384)
                    .map_err(|_| CertError::Malformed);
            }
            if curve == OID_NIST_EC_P521 {
                return p521::ecdsa::VerifyingKey::from_public_key_der(spki.raw)
                    .map(Self::P521)
                    .map_err(|_| CertError::Malformed);
            }
        }
        Err(CertError::UnsupportedAlgorithm)
    }

    /// The kind of key.
    pub fn kind(&self) -> KeyKind {
        match self {
            Self::Rsa(_) => KeyKind::Rsa,
            Self::P256(_) => KeyKind::EcdsaP256,
            Self::P384(_) => KeyKind::EcdsaP384,
            Self::P521(_) => KeyKind::EcdsaP521,
        }
    }

    /// Verifies an IKEv1 SIG payload over `hash` (see the module documentation).
    pub fn verify_ike(&self, hash: &[u8], sig: &[u8]) -> bool {
        use ecdsa::signature::hazmat::PrehashVerifier as _;
        match self {
            Self::Rsa(k) => k.verify(Pkcs1v15Sign::new_unprefixed(), hash, sig).is_ok(),
            Self::P256(k) => p256::ecdsa::Signature::from_slice(sig)
                .is_ok_and(|s| k.verify_prehash(&ecdsa_digest(hash, 32), &s).is_ok()),
            Self::P384(k) => p384::ecdsa::Signature::from_slice(sig)
                .is_ok_and(|s| k.verify_prehash(&ecdsa_digest(hash, 48), &s).is_ok()),
            Self::P521(k) => p521::ecdsa::Signature::from_slice(sig)
                .is_ok_and(|s| k.verify_prehash(&ecdsa_digest(hash, 66), &s).is_ok()),
        }
    }

    /// Verifies a certificate or CRL signature made with this (issuer) key.
    fn verify_x509(
        &self,
        alg: &x509_parser::der_parser::oid::Oid<'_>,
        tbs: &[u8],
        sig: &[u8],
    ) -> Result<(), CertError> {
        use ecdsa::signature::hazmat::PrehashVerifier as _;
        enum H {
            Sha1,
            Sha256,
            Sha384,
            Sha512,
        }
        let (rsa, h) = if *alg == OID_PKCS1_SHA1WITHRSA {
            (true, H::Sha1)
        } else if *alg == OID_PKCS1_SHA256WITHRSA {
            (true, H::Sha256)
        } else if *alg == OID_PKCS1_SHA384WITHRSA {
            (true, H::Sha384)
        } else if *alg == OID_PKCS1_SHA512WITHRSA {
            (true, H::Sha512)
        } else if *alg == OID_SIG_ECDSA_WITH_SHA256 {
            (false, H::Sha256)
        } else if *alg == OID_SIG_ECDSA_WITH_SHA384 {
            (false, H::Sha384)
        } else if *alg == OID_SIG_ECDSA_WITH_SHA512 {
            (false, H::Sha512)
        } else {
            return Err(CertError::UnsupportedAlgorithm);
        };
        let digest = match h {
            H::Sha1 => Sha1::digest(tbs).to_vec(),
            H::Sha256 => Sha256::digest(tbs).to_vec(),
            H::Sha384 => Sha384::digest(tbs).to_vec(),
            H::Sha512 => Sha512::digest(tbs).to_vec(),
        };
        let ok = match (self, rsa) {
            (Self::Rsa(k), true) => {
                let scheme = match h {
                    H::Sha1 => Pkcs1v15Sign::new::<Sha1>(),
                    H::Sha256 => Pkcs1v15Sign::new::<Sha256>(),
                    H::Sha384 => Pkcs1v15Sign::new::<Sha384>(),
                    H::Sha512 => Pkcs1v15Sign::new::<Sha512>(),
                };
                k.verify(scheme, &digest, sig).is_ok()
            }
            (Self::P256(k), false) => p256::ecdsa::Signature::from_der(sig)
                .is_ok_and(|s| k.verify_prehash(&digest, &s).is_ok()),
            (Self::P384(k), false) => p384::ecdsa::Signature::from_der(sig)
                .is_ok_and(|s| k.verify_prehash(&digest, &s).is_ok()),
            (Self::P521(k), false) => p521::ecdsa::Signature::from_der(sig)
                .is_ok_and(|s| k.verify_prehash(&digest, &s).is_ok()),
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(CertError::BadSignature)
        }
    }
}

/// Parses one DER certificate, refusing trailing bytes.
fn parse_cert(der: &[u8]) -> Result<X509Certificate<'_>, CertError> {
    match X509Certificate::from_der(der) {
        Ok(([], c)) => Ok(c),
        _ => Err(CertError::Malformed),
    }
}

fn check_time(c: &X509Certificate<'_>, unix: i64) -> Result<(), CertError> {
    let v = c.validity();
    if unix < v.not_before.timestamp() {
        return Err(CertError::NotYetValid);
    }
    if unix > v.not_after.timestamp() {
        return Err(CertError::Expired);
    }
    Ok(())
}

fn verify_signed_by(c: &X509Certificate<'_>, issuer: &PublicKey) -> Result<(), CertError> {
    issuer.verify_x509(
        &c.signature_algorithm.algorithm,
        c.tbs_certificate.as_ref(),
        &c.signature_value.data,
    )
}

/// Certificates from PEM data (every `CERTIFICATE` block, in order) as DER.
pub fn certs_from_pem(pem: &[u8]) -> Result<Vec<Vec<u8>>, LoadError> {
    let mut out = Vec::new();
    for item in Pem::iter_from_buffer(pem) {
        let item = item.map_err(|e| load_err(format!("bad PEM: {e}")))?;
        if item.label == "CERTIFICATE" || item.label == "X509 CERTIFICATE" {
            parse_cert(&item.contents)
                .map_err(|_| load_err("a CERTIFICATE block does not parse"))?;
            out.push(item.contents);
        }
    }
    if out.is_empty() {
        return Err(load_err("no CERTIFICATE in the PEM data"));
    }
    Ok(out)
}

/// Our certificate chain (end-entity first, then intermediates) and its private key.
#[derive(Debug)]
pub struct Identity {
    chain: Vec<Vec<u8>>,
    /// The issuer DN (DER) of each chain element.
    issuers: Vec<Vec<u8>>,
    subject: Vec<u8>,
    description: String,
    key: PrivateKey,
}

impl Identity {
    /// From the PEM of the certificate (followed by any intermediates) and of the key.
    /// The key must be the certificate's.
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Self, LoadError> {
        let chain = certs_from_pem(cert_pem)?;
        let key = PrivateKey::from_pem(key_pem)?;
        Self::new(chain, key)
    }

    /// From DER certificates (end-entity first) and a key.
    pub fn new(chain: Vec<Vec<u8>>, key: PrivateKey) -> Result<Self, LoadError> {
        let leaf_der = chain
            .first()
            .ok_or_else(|| load_err("empty certificate chain"))?;
        let leaf = parse_cert(leaf_der).map_err(|_| load_err("certificate does not parse"))?;
        let public = PublicKey::from_spki(leaf.public_key())
            .map_err(|e| load_err(format!("certificate key: {e}")))?;
        if public != key.public() {
            return Err(load_err(
                "the private key does not belong to the certificate",
            ));
        }
        let subject = leaf.subject().as_raw().to_vec();
        let description = leaf.subject().to_string();
        let mut issuers = Vec::new();
        for der in &chain {
            let c = parse_cert(der).map_err(|_| load_err("certificate does not parse"))?;
            issuers.push(c.issuer().as_raw().to_vec());
        }
        Ok(Self {
            chain,
            issuers,
            subject,
            description,
            key,
        })
    }

    /// The kind of our key.
    pub fn kind(&self) -> KeyKind {
        self.key.kind()
    }

    /// The key.
    pub fn key(&self) -> &PrivateKey {
        &self.key
    }

    /// Our subject DN (DER), sent as ID_DER_ASN1_DN.
    pub fn subject_dn(&self) -> &[u8] {
        &self.subject
    }

    /// Our subject, readable.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The certificates to send: with CERTREQs naming CAs, the chain up to the first
    /// certificate one of them issued (the peer holds the rest); otherwise all of it.
    pub fn chain_for(&self, requested: &[Vec<u8>]) -> &[Vec<u8>] {
        let cut = self
            .issuers
            .iter()
            .position(|i| requested.iter().any(|r| r == i))
            .map_or(self.chain.len(), |p| p + 1);
        self.chain.get(..cut).unwrap_or(&self.chain)
    }
}

struct Anchor {
    subject: Vec<u8>,
    key: PublicKey,
    not_before: i64,
    not_after: i64,
}

/// The certificate side of the configuration: trusted CAs, CRLs, our identities
/// (at most one per key kind is used) and limits.
pub struct Certificates {
    anchors: Vec<Anchor>,
    crls: Vec<Vec<u8>>,
    identities: Vec<Identity>,
    /// Limits on what peers send.
    pub limits: CertLimits,
}

impl fmt::Debug for Certificates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificates")
            .field("cas", &self.anchors.len())
            .field("crls", &self.crls.len())
            .field("identities", &self.identities)
            .finish()
    }
}

impl Default for Certificates {
    fn default() -> Self {
        Self::new()
    }
}

/// What a verified peer certificate gives: its key and names. Only
/// [`Certificates::verify_peer`] makes one.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct VerifiedPeer {
    /// The end-entity certificate's key.
    pub key: PublicKey,
    /// Its subject, readable (for logs and status).
    pub subject: String,
}

impl Certificates {
    /// Nothing trusted, no identity.
    pub fn new() -> Self {
        Self {
            anchors: Vec::new(),
            crls: Vec::new(),
            identities: Vec::new(),
            limits: CertLimits::default(),
        }
    }

    /// Trusts every certificate in `pem` as a CA.
    pub fn add_ca_pem(&mut self, pem: &[u8]) -> Result<(), LoadError> {
        for der in certs_from_pem(pem)? {
            self.add_ca_der(&der)?;
        }
        Ok(())
    }

    /// Trusts one DER certificate as a CA.
    pub fn add_ca_der(&mut self, der: &[u8]) -> Result<(), LoadError> {
        let c = parse_cert(der).map_err(|_| load_err("CA certificate does not parse"))?;
        if !c.is_ca() {
            return Err(load_err(format!(
                "{} is not a CA certificate (basicConstraints CA:FALSE or absent)",
                c.subject()
            )));
        }
        let key = PublicKey::from_spki(c.public_key())
            .map_err(|e| load_err(format!("CA {}: {e}", c.subject())))?;
        self.anchors.push(Anchor {
            subject: c.subject().as_raw().to_vec(),
            key,
            not_before: c.validity().not_before.timestamp(),
            not_after: c.validity().not_after.timestamp(),
        });
        Ok(())
    }

    /// Adds a CRL (PEM `X509 CRL` blocks, or DER). Its signature is checked against the
    /// issuing CA when it is used.
    pub fn add_crl(&mut self, data: &[u8]) -> Result<(), LoadError> {
        let mut ders = Vec::new();
        if data.starts_with(b"-----") {
            for item in Pem::iter_from_buffer(data) {
                let item = item.map_err(|e| load_err(format!("bad PEM: {e}")))?;
                if item.label == "X509 CRL" {
                    ders.push(item.contents);
                }
            }
        } else {
            ders.push(data.to_vec());
        }
        if ders.is_empty() {
            return Err(load_err("no X509 CRL in the PEM data"));
        }
        for der in ders {
            match CertificateRevocationList::from_der(&der) {
                Ok(([], _)) => self.crls.push(der),
                _ => return Err(load_err("CRL does not parse")),
            }
        }
        Ok(())
    }

    /// Adds one of our identities.
    pub fn add_identity(&mut self, id: Identity) {
        self.identities.push(id);
    }

    /// Number of trusted CAs.
    pub fn ca_count(&self) -> usize {
        self.anchors.len()
    }

    /// The DNs (DER) of the trusted CAs, for our CERTREQ payloads.
    pub fn ca_names(&self) -> impl Iterator<Item = &[u8]> {
        self.anchors.iter().map(|a| a.subject.as_slice())
    }

    /// Our identity for a key kind: the exact kind, or for ECDSA any ECDSA key.
    pub fn identity(&self, kind: KeyKind) -> Option<&Identity> {
        self.identities
            .iter()
            .find(|i| i.kind() == kind)
            .or_else(|| {
                kind.is_ecdsa()
                    .then(|| self.identities.iter().find(|i| i.kind().is_ecdsa()))
                    .flatten()
            })
    }

    /// The identities.
    pub fn identities(&self) -> &[Identity] {
        &self.identities
    }

    /// Is `c` (issued by `issuer_dn`, whose key is `issuer`) in a CRL of that issuer?
    fn revoked(&self, c: &X509Certificate<'_>, issuer: &PublicKey) -> bool {
        for der in &self.crls {
            let Ok((_, crl)) = CertificateRevocationList::from_der(der) else {
                continue;
            };
            if crl.issuer().as_raw() != c.issuer().as_raw() {
                continue;
            }
            if issuer
                .verify_x509(
                    &crl.signature_algorithm.algorithm,
                    crl.tbs_cert_list.as_ref(),
                    &crl.signature_value.data,
                )
                .is_err()
            {
                tracing::debug!(issuer = %crl.issuer(), "CRL signature does not verify; ignored");
                continue;
            }
            if crl
                .iter_revoked_certificates()
                .any(|r| r.raw_serial() == c.raw_serial())
            {
                return true;
            }
        }
        false
    }

    /// Verifies the peer's certificates (DER, as received in CERT payloads) at Unix time
    /// `unix`: a chain from the end-entity certificate through at most
    /// [`CertLimits::max_intermediates`] received intermediates to a trusted CA, every
    /// element in its validity period, correctly signed and not revoked; the end-entity
    /// certificate usable for signatures and matching `id`.
    pub fn verify_peer(
        &self,
        certs: &[&[u8]],
        id: &IdPayload,
        unix: i64,
    ) -> Result<VerifiedPeer, CertError> {
        if certs.is_empty() {
            return Err(CertError::NoCertificate);
        }
        if certs.len() > self.limits.max_cert_payloads {
            return Err(CertError::TooManyCertificates);
        }
        if certs.iter().any(|c| c.len() > self.limits.max_cert_len) {
            return Err(CertError::CertificateTooLarge);
        }
        let parsed = certs
            .iter()
            .map(|d| parse_cert(d))
            .collect::<Result<Vec<_>, _>>()?;
        // The end-entity certificate: the first that is not a CA (peers send it first).
        let leaf_at = parsed.iter().position(|c| !c.is_ca()).unwrap_or(0);
        let leaf = parsed.get(leaf_at).ok_or(CertError::NoCertificate)?;
        check_time(leaf, unix)?;
        if let Ok(Some(ku)) = leaf.key_usage()
            && !ku.value.digital_signature()
            && !ku.value.non_repudiation()
        {
            return Err(CertError::KeyUsage);
        }
        let key = PublicKey::from_spki(leaf.public_key())?;
        let mut used = vec![false; parsed.len()];
        if let Some(u) = used.get_mut(leaf_at) {
            *u = true;
        }
        let mut current = leaf;
        let mut bad_signature = false;
        for depth in 0..=self.limits.max_intermediates {
            // A trusted CA issued it?
            for a in self
                .anchors
                .iter()
                .filter(|a| a.subject == current.issuer().as_raw())
            {
                if verify_signed_by(current, &a.key).is_err() {
                    bad_signature = true;
                    continue;
                }
                if unix < a.not_before {
                    return Err(CertError::NotYetValid);
                }
                if unix > a.not_after {
                    return Err(CertError::Expired);
                }
                if self.revoked(current, &a.key) {
                    return Err(CertError::Revoked);
                }
                match_id(leaf, id)?;
                return Ok(VerifiedPeer {
                    key,
                    subject: leaf.subject().to_string(),
                });
            }
            if depth == self.limits.max_intermediates {
                return Err(CertError::ChainTooLong);
            }
            // A received intermediate issued it?
            let mut next = None;
            for (i, c) in parsed.iter().enumerate() {
                if used.get(i).copied().unwrap_or(true)
                    || c.subject().as_raw() != current.issuer().as_raw()
                    || !c.is_ca()
                {
                    continue;
                }
                if let Ok(Some(ku)) = c.key_usage()
                    && !ku.value.key_cert_sign()
                {
                    continue;
                }
                let Ok(ikey) = PublicKey::from_spki(c.public_key()) else {
                    continue;
                };
                if verify_signed_by(current, &ikey).is_err() {
                    bad_signature = true;
                    continue;
                }
                check_time(c, unix)?;
                if self.revoked(current, &ikey) {
                    return Err(CertError::Revoked);
                }
                next = Some(i);
                break;
            }
            let Some(i) = next else {
                return Err(if bad_signature {
                    CertError::BadSignature
                } else {
                    CertError::UnknownCa
                });
            };
            if let Some(u) = used.get_mut(i) {
                *u = true;
            }
            current = parsed.get(i).ok_or(CertError::UnknownCa)?;
        }
        Err(CertError::ChainTooLong)
    }
}

/// Does the ID payload name the certificate's subject (ID_DER_ASN1_DN) or one of its
/// subjectAltNames (ID_FQDN: dNSName, ID_USER_FQDN: rfc822Name or the subject's
/// emailAddress, ID_IPV4_ADDR/ID_IPV6_ADDR: iPAddress)?
fn match_id(leaf: &X509Certificate<'_>, id: &IdPayload) -> Result<(), CertError> {
    let sans: Vec<GeneralName<'_>> = match leaf.subject_alternative_name() {
        Ok(Some(s)) => s.value.general_names.clone(),
        _ => Vec::new(),
    };
    let text = core::str::from_utf8(&id.data).ok();
    let ok = match id.id_type {
        IdType::DerAsn1Dn => {
            id.data == leaf.subject().as_raw()
                || matches!(X509Name::from_der(&id.data),
                    Ok((rest, n)) if rest.is_empty() && n.to_string() == leaf.subject().to_string())
        }
        IdType::Fqdn => text.is_some_and(|t| {
            sans.iter()
                .any(|g| matches!(g, GeneralName::DNSName(d) if d.eq_ignore_ascii_case(t)))
        }),
        IdType::UserFqdn => text.is_some_and(|t| {
            sans.iter()
                .any(|g| matches!(g, GeneralName::RFC822Name(d) if d.eq_ignore_ascii_case(t)))
                || leaf
                    .subject()
                    .iter_email()
                    .any(|e| e.as_str().is_ok_and(|s| s.eq_ignore_ascii_case(t)))
        }),
        IdType::Ipv4Addr | IdType::Ipv6Addr => sans
            .iter()
            .any(|g| matches!(g, GeneralName::IPAddress(a) if *a == id.data.as_slice())),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(CertError::IdMismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_ecdsa_digest_is_left_padded() {
        assert_eq!(ecdsa_digest(&[1, 2], 4), vec![0, 0, 1, 2]);
        assert_eq!(ecdsa_digest(&[1, 2, 3, 4, 5], 4), vec![1, 2, 3, 4, 5]);
    }

    #[test]
    fn chain_for_cuts_at_the_requested_ca() {
        let id = Identity {
            chain: vec![vec![1], vec![2]],
            issuers: vec![b"inter".to_vec(), b"root".to_vec()],
            subject: Vec::new(),
            description: String::new(),
            key: PrivateKey::P256(p256::ecdsa::SigningKey::from_slice(&[7; 32]).unwrap()),
        };
        assert_eq!(id.chain_for(&[]).len(), 2);
        assert_eq!(id.chain_for(&[b"inter".to_vec()]).len(), 1);
        assert_eq!(id.chain_for(&[b"root".to_vec()]).len(), 2);
        assert_eq!(id.chain_for(&[b"other".to_vec()]).len(), 2);
    }
}
