//! Authentication: what the authenticator asks the caller ([`AuthData`]), the caller's
//! answer ([`AuthDecision`]), and the crypto a backend needs to decide ([`mschapv2`],
//! [`chap_md5`]). The session never reads a user database.

use core::fmt;

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

pub mod chap_md5;
pub mod mschapv2;
pub(crate) mod peer;
pub(crate) mod server;

pub use crate::msgs::lcp::AuthMethod;
pub use mschapv2::{AuthenticatorResponse, NtHash};

/// A password: zeroized on drop, Debug prints `[redacted]`.
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct Password(Vec<u8>);

impl Password {
    /// Wraps bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into())
    }

    /// The bytes.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl From<&str> for Password {
    fn from(s: &str) -> Self {
        Self(s.as_bytes().to_vec())
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([redacted])")
    }
}

/// What the peer sent, for the caller to verify (carried by `Event::AuthRequest`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthData {
    /// PAP: the password in the clear.
    Pap {
        /// The password the peer sent.
        password: Password,
    },
    /// CHAP-MD5: the response to verify as `MD5(id ‖ secret ‖ challenge)`.
    ChapMd5 {
        /// The CHAP identifier.
        id: u8,
        /// Our challenge.
        challenge: [u8; 16],
        /// The peer's 16-byte response.
        response: [u8; 16],
    },
    /// MS-CHAPv2: verify with [`mschapv2::verify`].
    MsChapV2 {
        /// Our 16-byte challenge.
        auth_challenge: [u8; 16],
        /// The peer's 16-byte challenge.
        peer_challenge: [u8; 16],
        /// The peer's NT-Response.
        nt_response: [u8; 24],
    },
}

impl AuthData {
    /// The method.
    pub fn method(&self) -> AuthMethod {
        match self {
            Self::Pap { .. } => AuthMethod::Pap,
            Self::ChapMd5 { .. } => AuthMethod::ChapMd5,
            Self::MsChapV2 { .. } => AuthMethod::MsChapV2,
        }
    }

    /// Decides from a clear-text password (a local users file).
    pub fn verify_password(&self, user: &str, password: &str) -> AuthDecision {
        match self {
            Self::Pap { password: given } => {
                if bool::from(given.expose().ct_eq(password.as_bytes())) {
                    AuthDecision::Accept
                } else {
                    AuthDecision::Reject
                }
            }
            Self::ChapMd5 {
                id,
                challenge,
                response,
            } => {
                if chap_md5::verify(*id, password.as_bytes(), challenge, response) {
                    AuthDecision::Accept
                } else {
                    AuthDecision::Reject
                }
            }
            Self::MsChapV2 { .. } => self.verify_nt_hash(user, &NtHash::from_password(password)),
        }
    }

    /// Decides from a stored NT hash (MS-CHAPv2 only; anything else is rejected).
    pub fn verify_nt_hash(&self, user: &str, nt_hash: &NtHash) -> AuthDecision {
        match self {
            Self::MsChapV2 {
                auth_challenge,
                peer_challenge,
                nt_response,
            } => match mschapv2::verify(
                nt_hash,
                auth_challenge,
                peer_challenge,
                user.as_bytes(),
                nt_response,
            ) {
                Some(r) => AuthDecision::AcceptMsChapV2(r),
                None => AuthDecision::Reject,
            },
            _ => AuthDecision::Reject,
        }
    }
}

/// The caller's answer to an `Event::AuthRequest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthDecision {
    /// Accept (PAP, CHAP-MD5). For MS-CHAPv2 this is treated as a rejection: the Success
    /// message must carry the Authenticator Response.
    Accept,
    /// Accept an MS-CHAPv2 peer, proving ourselves with this Authenticator Response
    /// (from [`mschapv2::verify`]).
    AcceptMsChapV2(AuthenticatorResponse),
    /// Reject.
    Reject,
}

/// The client's credentials.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The user name.
    pub user: String,
    /// The password.
    pub password: Password,
}

impl Credentials {
    /// Credentials from a user name and password.
    pub fn new(user: &str, password: &str) -> Self {
        Self {
            user: user.to_owned(),
            password: Password::from(password),
        }
    }
}
