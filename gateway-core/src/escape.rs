//! Strings a peer chose (PPP user names, IKE identities), made safe for log lines.
//!
//! A user name with a newline must not forge a log line, and one with terminal escape
//! sequences must not reach an administrator's terminal. Every log line of the core
//! that shows such a string shows it through [`Escaped`] (for `tracing`:
//! `user = %Escaped(name)`), which writes it with [`str::escape_debug`]: control
//! characters (newline, carriage return, escape, ...) and quotes become Rust escapes
//! (`\n`, `\u{1b}`, `\"`), while printable text, non-ASCII letters included, stays as
//! it is.

use core::fmt;

/// A peer-chosen string, displayed escaped. See the module documentation.
#[derive(Clone, Copy)]
pub struct Escaped<'a>(pub &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.escape_debug(), f)
    }
}

impl fmt::Debug for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

/// An IKE phase-1 identity for a log line: an address as text, a name (FQDN,
/// USER_FQDN) escaped, anything else (a DER distinguished name, a key ID) as hex.
pub struct IdDisplay<'a>(pub &'a ike::msgs::IdPayload);

impl fmt::Display for IdDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(ip) = self.0.ip() {
            return write!(f, "{ip}");
        }
        match core::str::from_utf8(&self.0.data) {
            Ok(s) if !s.is_empty() => write!(f, "{}", Escaped(s)),
            _ => {
                for b in &self.0.data {
                    write!(f, "{b:02x}")?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_text_is_kept() {
        assert_eq!(
            Escaped("alice\n2026-01-01 INFO forged").to_string(),
            "alice\\n2026-01-01 INFO forged"
        );
        assert_eq!(Escaped("a\r\u{1b}[31mb").to_string(), "a\\r\\u{1b}[31mb");
        assert_eq!(Escaped("jürgen@example").to_string(), "jürgen@example");
        assert_eq!(format!("{:?}", Escaped("x\"y")), "\"x\\\"y\"");
    }

    #[test]
    fn identities_show_addresses_names_and_hex() {
        let ip = ike::msgs::IdPayload::address("192.0.2.7".parse().unwrap(), 0, 0);
        assert_eq!(IdDisplay(&ip).to_string(), "192.0.2.7");
        let mut name = ip.clone();
        name.id_type = ike::msgs::IdType::Fqdn;
        name.data = b"evil\nline".to_vec();
        assert_eq!(IdDisplay(&name).to_string(), "evil\\nline");
        name.data = vec![0xff, 0x01];
        assert_eq!(IdDisplay(&name).to_string(), "ff01");
    }
}
