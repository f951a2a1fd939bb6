//! The client's configuration for one scenario: strongSwan's `ipsec.conf` and
//! `ipsec.secrets`, xl2tpd's `xl2tpd.conf` and pppd's options, rendered from the templates
//! in `tests/interop/client/` (placeholders `@NAME@`), plus the guest-side scripts from
//! `tests/interop/scripts/` assembled into the share's `run.sh`.

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use super::netns::{GuestLink, SERVER};
use super::share::Share;
use super::{HarnessError, Result, interop_dir};

/// How pppd authenticates to the gateway: every other method is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PppAuth {
    /// MS-CHAPv2 (RFC 2759), what Windows and most clients use.
    MsChapV2,
    /// CHAP with MD5 (RFC 1994).
    ChapMd5,
    /// PAP (RFC 1334), plaintext; the gateway must enable it.
    Pap,
}

impl PppAuth {
    /// pppd options that leave only this method.
    fn pppd_options(self) -> &'static str {
        match self {
            Self::MsChapV2 => "refuse-pap\nrefuse-chap\nrefuse-mschap\nrefuse-eap",
            Self::ChapMd5 => "refuse-pap\nrefuse-mschap\nrefuse-mschap-v2\nrefuse-eap",
            Self::Pap => "refuse-chap\nrefuse-mschap\nrefuse-mschap-v2\nrefuse-eap",
        }
    }

    /// The line pppd logs when this method succeeded.
    pub fn success_line(self) -> &'static str {
        match self {
            Self::MsChapV2 | Self::ChapMd5 => "CHAP authentication succeeded",
            Self::Pap => "PAP authentication succeeded",
        }
    }
}

/// One client's settings. [`ClientConfig::new`] gives scenario 1's (the most common
/// strongSwan L2TP client setup); change fields for the others.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The gateway's address.
    pub server: Ipv4Addr,
    /// The pre-shared key.
    pub psk: String,
    /// PPP user name.
    pub user: String,
    /// PPP password.
    pub password: String,
    /// strongSwan `ike=` proposal, e.g. `aes256-sha1-modp2048!` (`!` = only these).
    pub ike: String,
    /// strongSwan `esp=` proposal, e.g. `aes256-sha1!`.
    pub esp: String,
    /// PPP authentication method.
    pub auth: PppAuth,
    /// `ikelifetime=` (ISAKMP SA lifetime).
    pub ike_lifetime: String,
    /// `lifetime=` (ESP SA lifetime).
    pub lifetime: String,
    /// `margintime=` (rekey this long before expiry).
    pub margin: String,
    /// `rekeyfuzz=`.
    pub rekey_fuzz: String,
    /// Authenticate IKE with a certificate instead of the PSK.
    pub cert: Option<ClientCert>,
}

/// A client certificate for strongSwan (`authby=pubkey`, `leftcert=`), PEM.
#[derive(Debug, Clone)]
pub struct ClientCert {
    /// The client's certificate (`/etc/ipsec.d/certs/client.pem`).
    pub cert: String,
    /// Its key in the traditional form strongSwan's `ipsec.secrets` loads: PKCS#1
    /// (`RSA PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`).
    pub key: String,
    /// True for an ECDSA key (`: ECDSA`), false for RSA (`: RSA`).
    pub ecdsa: bool,
    /// The CAs the gateway's certificate must chain to (`/etc/ipsec.d/cacerts/`).
    pub ca: String,
}

impl ClientConfig {
    /// PSK + MS-CHAPv2, `aes256-sha1-modp2048` / ESP `aes256-sha1`, strongSwan's default
    /// lifetimes (8 h / 1 h).
    pub fn new(psk: &str, user: &str, password: &str) -> Self {
        Self {
            server: SERVER,
            psk: psk.to_owned(),
            user: user.to_owned(),
            password: password.to_owned(),
            ike: "aes256-sha1-modp2048!".to_owned(),
            esp: "aes256-sha1!".to_owned(),
            auth: PppAuth::MsChapV2,
            ike_lifetime: "8h".to_owned(),
            lifetime: "1h".to_owned(),
            margin: "9m".to_owned(),
            rekey_fuzz: "100%".to_owned(),
            cert: None,
        }
    }

    /// The rendered files, as (name under the share's `etc/`, content).
    pub fn render(&self) -> Result<Vec<(&'static str, String)>> {
        let server = self.server.to_string();
        let (authby, cert_lines, key_line) = match &self.cert {
            // The gateway's ID is its certificate's DN, not its address.
            Some(c) => (
                "pubkey",
                "    leftcert=client.pem\n    rightid=%any",
                if c.ecdsa {
                    ": ECDSA client.key"
                } else {
                    ": RSA client.key"
                },
            ),
            None => ("secret", "", ""),
        };
        let vars: [(&str, &str); 15] = [
            ("AUTHBY", authby),
            ("CERT_LINES", cert_lines),
            ("KEY_LINE", key_line),
            ("SERVER", &server),
            ("PSK", &self.psk),
            ("USER", &self.user),
            ("PASSWORD", &self.password),
            ("IKE", &self.ike),
            ("ESP", &self.esp),
            ("AUTH_OPTIONS", self.auth.pppd_options()),
            ("IKE_LIFETIME", &self.ike_lifetime),
            ("LIFETIME", &self.lifetime),
            ("MARGIN", &self.margin),
            ("REKEY_FUZZ", &self.rekey_fuzz),
            ("NONE", ""),
        ];
        let mut files = Vec::new();
        for name in [
            "ipsec.conf",
            "ipsec.secrets",
            "xl2tpd.conf",
            "options.l2tpd.client",
        ] {
            let path = interop_dir(&format!("client/{name}.in"));
            let template = std::fs::read_to_string(&path)
                .map_err(|e| HarnessError(format!("{}: {e}", path.display())))?;
            files.push((name, render(&template, &vars)?));
        }
        let logging = interop_dir("client/strongswan-interop.conf");
        files.push(("strongswan-interop.conf", std::fs::read_to_string(logging)?));
        if let Some(c) = &self.cert {
            files.push(("ipsec.d/certs/client.pem", c.cert.clone()));
            files.push(("ipsec.d/private/client.key", c.key.clone()));
            files.push(("ipsec.d/cacerts/ca.pem", c.ca.clone()));
        }
        Ok(files)
    }
}

/// Replaces every `@NAME@` in `template` with its value; a placeholder without a value is
/// an error (a typo in a template must not become a literal `@IKE@` in a config).
pub fn render(template: &str, vars: &[(&str, &str)]) -> Result<String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find('@') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let name_len = after
            .bytes()
            .take_while(|b| b.is_ascii_uppercase() || *b == b'_')
            .count();
        if name_len > 0 && after.as_bytes().get(name_len) == Some(&b'@') {
            let name = &after[..name_len];
            let value = vars
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| *v)
                .ok_or_else(|| {
                    HarnessError(format!("template placeholder @{name}@ has no value"))
                })?;
            out.push_str(value);
            rest = &after[name_len + 1..];
        } else {
            out.push('@');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Everything one guest needs in its share: the rendered client configs, `env` with its
/// addresses and the scenario's variables, the script library and the scenario script
/// (`tests/interop/scripts/<scenario>.sh`), joined by `run.sh`.
pub fn prepare_share(
    share: &Share,
    link: &GuestLink,
    config: &ClientConfig,
    scenario: &str,
    extra_env: &[(&str, String)],
) -> Result<()> {
    for (name, content) in config.render()? {
        share.write(&format!("etc/{name}"), content)?;
    }
    let mut env = String::new();
    let base = [
        ("GUEST_ADDR", link.addr.to_string()),
        ("GUEST_PREFIX", link.prefix.to_string()),
        ("GUEST_ROUTER", link.router.to_string()),
        ("SERVER", config.server.to_string()),
        ("PPP_AUTH_OK", config.auth.success_line().to_owned()),
    ];
    for (k, v) in base
        .iter()
        .map(|(k, v)| (*k, v.clone()))
        .chain(extra_env.iter().cloned())
    {
        if v.contains('\'') {
            return Err(HarnessError(format!("env value for {k} contains a quote")));
        }
        let _ = writeln!(env, "{k}='{v}'");
    }
    share.write("env", env)?;
    for (from, to) in [
        ("scripts/lib.sh", "lib.sh"),
        (&format!("scripts/{scenario}.sh") as &str, "scenario.sh"),
    ] {
        let path = interop_dir(from);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| HarnessError(format!("{}: {e}", path.display())))?;
        share.write(to, text)?;
    }
    share.write(
        "run.sh",
        "set -u\n. /ctl/env\n. /ctl/lib.sh\n. /ctl/scenario.sh\n",
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_replaces_and_refuses_unknown_placeholders() {
        let vars = [("IKE", "aes256-sha1-modp2048!"), ("USER", "alice")];
        assert_eq!(
            render("ike=@IKE@ name @USER@ a@b.c", &vars).unwrap(),
            "ike=aes256-sha1-modp2048! name alice a@b.c"
        );
        assert!(render("esp=@ESP@", &vars).is_err());
    }

    #[test]
    fn scenario_one_files_carry_the_proposals_and_credentials() {
        let files = ClientConfig::new("s3cret", "alice", "pw1")
            .render()
            .unwrap();
        let get = |n: &str| files.iter().find(|(name, _)| *name == n).unwrap().1.clone();
        assert!(get("ipsec.conf").contains("ike=aes256-sha1-modp2048!"));
        assert!(get("ipsec.conf").contains("esp=aes256-sha1!"));
        assert!(get("ipsec.conf").contains("right=198.51.100.1"));
        assert!(get("ipsec.secrets").contains("PSK \"s3cret\""));
        assert!(get("options.l2tpd.client").contains("refuse-chap\nrefuse-mschap\nrefuse-eap"));
        assert!(get("options.l2tpd.client").contains("name alice\npassword pw1"));
        for (name, text) in &files {
            assert!(
                !text.contains("@SERVER@") && !text.contains("@IKE@"),
                "{name} left a placeholder"
            );
        }
    }

    #[test]
    fn certificate_clients_use_pubkey_leftcert_and_their_key_type() {
        let plain = ClientConfig::new("s3cret", "alice", "pw1")
            .render()
            .unwrap();
        let get = |f: &[(&str, String)], n: &str| {
            f.iter()
                .find(|(name, _)| *name == n)
                .map(|(_, t)| t.clone())
        };
        assert!(get(&plain, "ipsec.conf").unwrap().contains("authby=secret"));
        assert!(!get(&plain, "ipsec.conf").unwrap().contains("leftcert"));
        assert!(get(&plain, "ipsec.d/certs/client.pem").is_none());
        let mut c = ClientConfig::new("s3cret", "alice", "pw1");
        c.cert = Some(ClientCert {
            cert: "CERT".into(),
            key: "KEY".into(),
            ecdsa: true,
            ca: "CA".into(),
        });
        let files = c.render().unwrap();
        let conf = get(&files, "ipsec.conf").unwrap();
        assert!(conf.contains("authby=pubkey") && conf.contains("leftcert=client.pem"));
        assert!(conf.contains("rightid=%any"));
        assert!(
            get(&files, "ipsec.secrets")
                .unwrap()
                .contains(": ECDSA client.key")
        );
        assert_eq!(
            get(&files, "ipsec.d/private/client.key").as_deref(),
            Some("KEY")
        );
        assert_eq!(get(&files, "ipsec.d/cacerts/ca.pem").as_deref(), Some("CA"));
    }
}
