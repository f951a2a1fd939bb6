//! The users file: who may log in over PPP, with what secret, at which address.
//!
//! One user per line, fields separated by blanks, `#` starts a comment:
//!
//! ```text
//! # name     secret                                 [static address]
//! alice      correct-horse-battery                  10.77.0.10
//! bob        nt:8846f7eaee8fb117ad06bdd830b7586c
//! ```
//!
//! The secret is either a password (usable with PAP, CHAP-MD5 and MS-CHAPv2) or, with the
//! `nt:` prefix, the 32-hex-digit NT hash (MD4 over the UTF-16LE password), which only
//! MS-CHAPv2 can use but which keeps the password itself off the disk. Passwords cannot
//! contain blanks. The file is re-read on SIGHUP; sessions already up are kept.

use core::fmt;
use std::collections::HashMap;
use std::net::Ipv4Addr;

use md4::{Digest, Md4};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::secret::Secret;

/// An MS-CHAPv2 NT password hash: MD4 over the UTF-16LE password (RFC 2759 §8.3).
#[derive(Clone)]
pub struct NtHash(Zeroizing<[u8; 16]>);

impl NtHash {
    /// Wraps the 16 hash bytes.
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The NT hash of `password` (RFC 2759 `NtPasswordHash`).
    pub fn of_password(password: &str) -> Self {
        let mut md4 = Md4::new();
        for unit in password.encode_utf16() {
            md4.update(unit.to_le_bytes());
        }
        let mut out = Zeroizing::new([0u8; 16]);
        out.copy_from_slice(&md4.finalize());
        Self(out)
    }

    /// The hash bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl PartialEq for NtHash {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&*other.0).into()
    }
}

impl Eq for NtHash {}

impl fmt::Debug for NtHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NtHash([redacted])")
    }
}

/// What a user authenticates with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A password: PAP, CHAP-MD5 and MS-CHAPv2.
    Password(Secret),
    /// Only the NT hash: MS-CHAPv2 only.
    NtHash(NtHash),
}

/// One user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Login name, as the client sends it.
    pub name: String,
    /// The secret.
    pub credential: Credential,
    /// A fixed inner address from the pool, if any.
    pub static_ip: Option<Ipv4Addr>,
}

impl User {
    /// The NT hash MS-CHAPv2 needs (computed from the password when there is one).
    pub fn nt_hash(&self) -> NtHash {
        match &self.credential {
            Credential::Password(p) => NtHash::of_password(p.expose()),
            Credential::NtHash(h) => h.clone(),
        }
    }

    /// The cleartext password, for PAP and CHAP-MD5; `None` for NT-hash-only users.
    pub fn password(&self) -> Option<&Secret> {
        match &self.credential {
            Credential::Password(p) => Some(p),
            Credential::NtHash(_) => None,
        }
    }

    /// Checks a PAP password in constant time (in the length of the stored password).
    pub fn verify_password(&self, offered: &[u8]) -> bool {
        self.password().is_some_and(|p| p.ct_eq(offered))
    }
}

/// A malformed users file.
#[derive(Debug)]
pub enum UsersError {
    /// A line is malformed.
    Line {
        /// 1-based line number.
        line: usize,
        /// What is wrong (never contains the secret).
        reason: String,
    },
}

impl fmt::Display for UsersError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Line { line, reason } => write!(f, "users file line {line}: {reason}"),
        }
    }
}

impl std::error::Error for UsersError {}

/// The set of users, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserDb {
    users: HashMap<String, User>,
}

/// The longest user name accepted (PPP carries names in one-octet lengths).
pub const MAX_NAME_LEN: usize = 255;

impl UserDb {
    /// An empty database.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses the text of a users file. Errors name the line but never echo secrets.
    pub fn parse(text: &str) -> Result<Self, UsersError> {
        let mut db = Self::new();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let content = raw.split_once('#').map_or(raw, |(before, _)| before);
            let mut fields = content.split_whitespace();
            let Some(name) = fields.next() else { continue };
            let err = |reason: String| UsersError::Line { line, reason };
            let secret = fields
                .next()
                .ok_or_else(|| err(format!("user {name:?} has no password or nt: hash")))?;
            let static_ip = fields
                .next()
                .map(|s| {
                    s.parse::<Ipv4Addr>()
                        .map_err(|_| err(format!("{s:?} is not an IPv4 address")))
                })
                .transpose()?;
            if fields.next().is_some() {
                return Err(err(
                    "too many fields (expected: name secret [address]; passwords cannot contain blanks)"
                        .into(),
                ));
            }
            let credential = parse_secret(secret).map_err(err)?;
            let user = User {
                name: name.to_owned(),
                credential,
                static_ip,
            };
            db.insert(user).map_err(err)?;
        }
        Ok(db)
    }

    /// Adds a user; refuses a duplicate name or static address.
    pub fn insert(&mut self, user: User) -> Result<(), String> {
        validate_name(&user.name)?;
        if self.users.contains_key(&user.name) {
            return Err(format!("user {:?} is listed twice", user.name));
        }
        if let Some(ip) = user.static_ip
            && let Some(other) = self.users.values().find(|u| u.static_ip == Some(ip))
        {
            return Err(format!(
                "static address {ip} is given to both {:?} and {:?}",
                other.name, user.name
            ));
        }
        self.users.insert(user.name.clone(), user);
        Ok(())
    }

    /// Adds or replaces `user` (quick-start users from flags override the file).
    pub fn upsert(&mut self, user: User) {
        self.users.insert(user.name.clone(), user);
    }

    /// The user called `name`.
    pub fn get(&self, name: &str) -> Option<&User> {
        self.users.get(name)
    }

    /// Number of users.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// True when there are no users.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// Every static address, for the pool's reservations.
    pub fn static_addresses(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        self.users.values().filter_map(|u| u.static_ip)
    }

    /// The users, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &User> {
        self.users.values()
    }
}

fn validate_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(format!("user name must be 1 to {MAX_NAME_LEN} bytes"));
    }
    if name.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(format!(
            "user name {name:?} contains blanks or control characters"
        ));
    }
    Ok(())
}

fn parse_secret(s: &str) -> Result<Credential, String> {
    if let Some(hex_str) = s.strip_prefix("nt:") {
        let mut bytes = [0u8; 16];
        hex::decode_to_slice(hex_str, &mut bytes)
            .map_err(|_| "nt: must be followed by exactly 32 hex digits".to_owned())?;
        return Ok(Credential::NtHash(NtHash::from_bytes(bytes)));
    }
    Ok(Credential::Password(Secret::new(s)))
}

/// Parses a quick-start `NAME:PASSWORD` (from `--user` or `L2TPGW_USERS`).
pub fn parse_user_flag(s: &str) -> Result<User, String> {
    let (name, password) = s.split_once(':').ok_or_else(|| {
        format!(
            "{:?} is not NAME:PASSWORD",
            s.split(':').next().unwrap_or("")
        )
    })?;
    validate_name(name)?;
    if password.is_empty() {
        return Err(format!("user {name:?} has an empty password"));
    }
    Ok(User {
        name: name.to_owned(),
        credential: Credential::Password(Secret::new(password)),
        static_ip: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nt_hash_matches_rfc2759_section_9_2() {
        // RFC 2759 §9.2: Password "clientPass" -> PasswordHash.
        let h = NtHash::of_password("clientPass");
        assert_eq!(
            hex::encode(h.as_bytes()),
            "44ebba8d5312b8d611474411f56989ae"
        );
        // And the well-known hash of "password".
        assert_eq!(
            hex::encode(NtHash::of_password("password").as_bytes()),
            "8846f7eaee8fb117ad06bdd830b7586c"
        );
        assert_eq!(format!("{h:?}"), "NtHash([redacted])");
    }

    #[test]
    fn parses_passwords_hashes_addresses_and_comments() {
        let db = UserDb::parse(
            "# users\n\
             alice  s3cret   10.77.0.10   # static\n\
             \n\
             bob nt:8846F7EAEE8FB117AD06BDD830B7586C\n",
        )
        .unwrap();
        assert_eq!(db.len(), 2);
        let alice = db.get("alice").unwrap();
        assert_eq!(alice.static_ip, Some("10.77.0.10".parse().unwrap()));
        assert!(alice.verify_password(b"s3cret"));
        assert!(!alice.verify_password(b"s3cre"));
        assert_eq!(alice.nt_hash(), NtHash::of_password("s3cret"));
        let bob = db.get("bob").unwrap();
        assert_eq!(bob.password(), None);
        assert!(
            !bob.verify_password(b"password"),
            "NT-hash users cannot use PAP"
        );
        assert_eq!(bob.nt_hash(), NtHash::of_password("password"));
        assert_eq!(
            db.static_addresses().collect::<Vec<_>>(),
            ["10.77.0.10".parse::<Ipv4Addr>().unwrap()]
        );
    }

    #[test]
    fn errors_name_the_line_and_never_the_secret() {
        let cases = [
            ("alice\n", 1, "no password"),
            ("a x\nbob hunter2 10.77.0.300\n", 2, "not an IPv4"),
            ("bob hunter2 10.0.0.1 extra\n", 1, "too many fields"),
            ("bob nt:1234\n", 1, "32 hex digits"),
            ("bob a\nbob b\n", 2, "twice"),
            ("a x 10.0.0.5\nb y 10.0.0.5\n", 2, "static address 10.0.0.5"),
        ];
        for (text, line, needle) in cases {
            let err = UserDb::parse(text).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains(&format!("line {line}")), "{text:?}: {msg}");
            assert!(msg.contains(needle), "{text:?}: {msg}");
            assert!(!msg.contains("hunter2"), "{msg}");
        }
    }

    #[test]
    fn quick_start_user_flag() {
        let u = parse_user_flag("carol:pa:ss").unwrap();
        assert_eq!(u.name, "carol");
        assert!(u.verify_password(b"pa:ss"));
        assert!(parse_user_flag("carol").is_err());
        assert!(parse_user_flag("carol:").is_err());
        assert!(parse_user_flag(":pw").is_err());
        let err = parse_user_flag("nocolonsecret").unwrap_err();
        assert!(err.contains("NAME:PASSWORD"));
    }
}
